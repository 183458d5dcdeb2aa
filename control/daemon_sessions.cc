// SPDX-License-Identifier: MIT
// The daemon's session glue on the control thread: loads the node keys, runs the session
// manager (control/session.hh) with real time, feeds it handshake messages from the workers'
// control ring and data-plane activity from the per-peer counters, and executes its actions —
// handshake and keepalive packets through worker 0's ring, key changes published to the workers
// as a new RCU snapshot (engine/rcu.hh), node events to the log (hooks: see docs/architecture.md).
// Threads: control thread only.
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <time.h>

#include <cstring>
#include <stdexcept>

#include "control/daemon.hh"
#include "control/keys.hh"
#include "control/log.hh"
#include "control/routing.hh"
#include "crypto/hash.hh"
#include "transports/classify.hh"
#include "transports/outer.hh"
#include "transports/wire.hh"

namespace control {

static_assert(session::max_rx_keys == engine::limits::rx_keys_per_peer,
              "the session manager never holds more receive keys per peer than the data plane");

namespace {

template <class... Ts>
struct overloaded : Ts... {
    using Ts::operator()...;
};
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

// A handshake source address as the session manager sees it (opaque to it): enough to answer.
struct source_addr {
    transport::kind k;
    uint16_t port_id;
    transport::ip_address ip;
    uint16_t udp_port;
    rte_ether_addr mac;
};
constexpr size_t source_len = 1 + 2 + 16 + 1 + 2 + 6;

std::vector<uint8_t> encode(const source_addr& a) {
    std::vector<uint8_t> b(source_len);
    b[0] = static_cast<uint8_t>(a.k);
    std::memcpy(&b[1], &a.port_id, 2);
    std::memcpy(&b[3], a.ip.bytes.data(), 16);
    b[19] = a.ip.v6 ? 1 : 0;
    std::memcpy(&b[20], &a.udp_port, 2);
    std::memcpy(&b[22], a.mac.addr_bytes, 6);
    return b;
}

std::optional<source_addr> decode(std::span<const uint8_t> b) {
    if (b.size() != source_len || b[0] >= transport::n_kinds) {
        return std::nullopt;
    }
    source_addr a{};
    a.k = static_cast<transport::kind>(b[0]);
    std::memcpy(&a.port_id, &b[1], 2);
    std::memcpy(a.ip.bytes.data(), &b[3], 16);
    a.ip.v6 = b[19] != 0;
    std::memcpy(&a.udp_port, &b[20], 2);
    std::memcpy(a.mac.addr_bytes, &b[22], 6);
    return a;
}

}  // namespace

// The source port of a packet the control thread sends: the control lane's, or `fixed` (our
// udp-port) towards a udp-port 0 peer (peer_path::sport_fixed).
uint16_t daemon::ctl_sport(uint16_t fixed) const {
    return fixed != 0 ? fixed : static_cast<uint16_t>(transport::udp_lane_port_base(_base.self_id) + transport::control_lane);
}

handshake::clock_reading daemon::clock_now() const {
    timespec mono{}, wall{};
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &wall);
    return {static_cast<uint64_t>(mono.tv_sec) * 1000000000ULL + static_cast<uint64_t>(mono.tv_nsec),
            static_cast<uint64_t>(wall.tv_sec) * 1000000000ULL + static_cast<uint64_t>(wall.tv_nsec)};
}

void daemon::setup_sessions(const std::vector<std::string>& wan_ports) {
    const node_conf& self = _cfg.self_node();
    std::vector<std::string> warnings;
    auto kp = load_node_keys(_cfg, &warnings);
    for (const auto& w : warnings) {
        log::warn(w);
    }
    if (!kp) {
        throw std::runtime_error(kp.error() + " (generate keys with: dvpectl -c " + _cfg.confdir + " keygen -G)");
    }
    session::conf sc;
    sc.self.node_id = static_cast<uint16_t>(self.id);
    sc.self.static_private = crypto::secret<32>(std::span<const uint8_t, 32>(kp->priv.bytes));
    sc.self.static_public = kp->pub.bytes;
    _self_pub = kp->pub.bytes;
    sc.self.serial = handshake::make_serial(_cfg.global.serial);
    sc.self.protocols = self.protocols;
    sc.self_connect = self.connect;
    sc.self_low_power = self.low_power;
    sc.keepalive_s = _cfg.global.keepalive;
    sc.rekey_s = _cfg.global.rekey;
    _sessions = std::make_unique<session::manager>(std::move(sc));

    setup_base(wan_ports);

    const auto now = clock_now();
    session::actions acts;
    warnings.clear();
    set_peers(load_peer_public_keys(_cfg, warnings), now, acts, warnings);
    for (const auto& w : warnings) {
        log::warn(w);
    }
    update_paths();
    execute(acts);
    _snap->publish(_peers->build(_base));
}

void daemon::set_peers(const std::map<unsigned, std::array<uint8_t, 32>>& pubs, handshake::clock_reading now,
                       session::actions& acts, std::vector<std::string>& warnings) {
    for (const auto& n : _cfg.nodes) {
        auto pk = pubs.find(n.id);
        if (n.id == _cfg.self_node().id || pk == pubs.end()) {
            continue;
        }
        if (!_sessions->set_peer(session::make_peer_conf(n, pk->second), now, acts)) {
            warnings.push_back("node " + n.name + ": public key refused by the handshake");
        }
    }
}

void daemon::setup_base(const std::vector<std::string>& wan_ports) {
    const node_conf& self = _cfg.self_node();
    _peers = std::make_unique<peer_table>(_cipher, static_cast<unsigned>(self.engine.worker_lcores.size()),
                                          static_cast<uint16_t>(self.id));
    auto ctx = crypto::aead_context::create();
    if (!ctx) {
        throw std::runtime_error("cannot create the control thread's crypto context: " + ctx.error());
    }
    _ctl_crypto.emplace(std::move(ctx.value()));
    // What the workers need besides peers: who we are, where decrypted frames go, what we speak.
    _base.self_id = static_cast<uint16_t>(self.id);
    const auto mac = node_mac(self.id);
    std::copy(mac.begin(), mac.end(), _base.self_mac.addr_bytes);
    for (const auto& p : _ports) {
        if (p.conf.role == port_role::overlay && !_base.has_overlay) {
            _base.has_overlay = true;
            _base.overlay_port_id = p.info.port_id;
        }
    }
    _base.router = self.router_priority >= 1;
    for (const auto& wa : self.engine.wan_addresses) {
        if (std::find(wan_ports.begin(), wan_ports.end(), wa.port) == wan_ports.end()) {
            continue;
        }
        if (!wa.addr.v6 && !_base.local.has_ipv4) {
            _base.local.has_ipv4 = true;
            std::memcpy(&_base.local.ipv4, wa.addr.bytes.data(), 4);
        } else if (wa.addr.v6 && !_base.local.has_ipv6) {
            _base.local.has_ipv6 = true;
            _base.local.ipv6 = wa.addr.bytes;
        }
    }
    _base.local.udp_port = self.udp_port;
    _base.local.udp_lane_base = transport::udp_lane_port_base(static_cast<uint16_t>(self.id));
    _base.local.ip_proto = _cfg.global.ip_proto;
    _base.local.icmp_type = _cfg.global.icmp_type;
    _base.local.icmp6_type = transport::icmp6_type_for(_cfg.global.icmp_type);
    uint8_t enabled = 0;
    if (self.protocols & proto_udp) {
        enabled |= transport::kind_bit(transport::kind::udp4) | transport::kind_bit(transport::kind::udp6);
    }
    if (self.protocols & proto_rawip) {
        enabled |= transport::kind_bit(transport::kind::rawip4) | transport::kind_bit(transport::kind::rawip6);
    }
    if (self.protocols & proto_icmp) {
        enabled |= transport::kind_bit(transport::kind::icmp4) | transport::kind_bit(transport::kind::icmp6);
    }
    _base.local.enabled = enabled;
    _base.queue_without_session = true;

}

std::array<uint8_t, 32> benchmark_key(uint16_t from, uint16_t to) {
    const std::string label = "dvpe benchmark key " + std::to_string(from) + "->" + std::to_string(to);
    std::array<uint8_t, 32> k{};
    (void)crypto::blake2b(k, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(label.data()), label.size()));
    return k;
}

// Benchmark mode: sessions with every peer from fixed keys (key id 1 both ways), no handshake.
void daemon::install_benchmark_keys() {
    const node_conf& self = _cfg.self_node();
    for (const auto& n : _cfg.nodes) {
        if (n.id == self.id) {
            continue;
        }
        handshake::session_keys k;
        k.peer_id = static_cast<uint16_t>(n.id);
        k.send_key_id = 1;
        k.recv_key_id = 1;
        k.send = crypto::secret<32>(std::span<const uint8_t, 32>(benchmark_key(static_cast<uint16_t>(self.id), k.peer_id)));
        k.recv = crypto::secret<32>(std::span<const uint8_t, 32>(benchmark_key(k.peer_id, static_cast<uint16_t>(self.id))));
        _peers->install(k, true);
    }
    update_paths();
    _snap->publish(_peers->build(_base));
}

// Where each peer is: its hostname if that is an IP literal, else the address its last
// handshake came from; then our WAN address of the same family, the next hop (on-link: the
// peer itself, else the port's gateway) and its MAC from the neighbour table.
void daemon::update_paths() {
    const node_conf& self = _cfg.self_node();
    std::vector<const node_conf*> routed;
    for (const auto& n : _cfg.nodes) {
        if (n.id == self.id) {
            continue;
        }
        if (!admits_direct(self, n) || !admits_direct(n, self)) {
            routed.push_back(&n);  // allow-direct / deny-direct: only through a router
            continue;
        }
        std::optional<ip_addr> ip = ip_addr::parse(n.hostname);
        uint16_t udp_port = n.udp_port;
        if (!ip && !n.hostname.empty()) {  // a DNS name: its last good answer (resolve_hostnames)
            auto it = _dns.find(static_cast<uint16_t>(n.id));
            if (it != _dns.end() && it->second.name == n.hostname) {
                ip = it->second.addr;
            }
        }
        if (!ip) {
            auto it = _learned_endpoint.find(static_cast<uint16_t>(n.id));
            if (it != _learned_endpoint.end()) {
                if (auto src = decode(it->second)) {
                    ip_addr a;
                    a.v6 = src->ip.v6;
                    a.bytes = src->ip.bytes;
                    ip = a;
                }
            }
        }
        if (!ip) {
            continue;
        }
        // udp-port 0: the peer connects out only; udp data goes to the port its last handshake
        // came from (a lane port of it, or the NAT's mapping of one), and not at all before.
        uint8_t theirs = n.protocols;
        uint16_t sport_fixed = 0;
        if (n.udp_port == 0) {
            std::optional<source_addr> src;
            if (auto it = _learned_endpoint.find(static_cast<uint16_t>(n.id)); it != _learned_endpoint.end()) {
                src = decode(it->second);
            }
            if (src && transport::is_udp(src->k)) {
                udp_port = src->udp_port;
                sport_fixed = self.udp_port;  // 0 when we connect out too: lanes as usual
            } else {
                theirs = static_cast<uint8_t>(theirs & ~proto_udp);
            }
        }
        auto kind = choose_transport(self.protocols, theirs, ip->v6);
        if (!kind) {
            routed.push_back(&n);  // no common transport: only through a router
            continue;
        }
        for (const auto& wa : self.engine.wan_addresses) {
            if (wa.addr.v6 != ip->v6) {
                continue;
            }
            const daemon_port* dp = nullptr;
            for (const auto& p : _ports) {
                if (p.conf.name == wa.port) {
                    dp = &p;
                }
            }
            if (dp == nullptr) {
                continue;
            }
            peer_path path;
            path.kind = *kind;
            path.ip = *ip;
            path.udp_port = udp_port;
            path.ip_proto = _cfg.global.ip_proto;
            path.icmp_type = ip->v6 ? transport::icmp6_type_for(_cfg.global.icmp_type) : _cfg.global.icmp_type;
            path.port_id = dp->info.port_id;
            path.mtu = dp->info.mtu != 0 ? dp->info.mtu : static_cast<uint16_t>(_cfg.global.mtu);
            path.src_ip = wa.addr;
            path.src_mac = dp->info.mac;
            path.inherit_tos = n.inherit_tos;
            path.sport_fixed = transport::is_udp(*kind) ? sport_fixed : 0;
            std::optional<ip_addr> hop;
            if (wa.addr.same_subnet(*ip, wa.prefix)) {
                hop = ip;
            } else {
                for (const auto& g : self.engine.wan_gateways) {
                    if (g.port == wa.port && g.addr.v6 == ip->v6) {
                        hop = g.addr;
                    }
                }
            }
            if (hop) {
                _neigh.want(dp->info.port_id, *hop);  // ARP or NDP keeps it resolved; static entries win
                if (auto mac = _neigh.lookup(dp->info.port_id, *hop)) {
                    path.next_hop_mac = *mac;
                }
            }
            const peer_path* old = _peers->path(static_cast<uint16_t>(n.id));
            bool changed = old == nullptr || old->kind != path.kind || !(old->ip == path.ip) ||
                           old->udp_port != path.udp_port || old->icmp_type != path.icmp_type ||
                           old->ip_proto != path.ip_proto || old->via != path.via || old->inherit_tos != path.inherit_tos ||
                           old->sport_fixed != path.sport_fixed ||
                           old->next_hop_mac.has_value() != path.next_hop_mac.has_value() ||
                           (path.next_hop_mac && !rte_is_same_ether_addr(&*old->next_hop_mac, &*path.next_hop_mac));
            if (changed) {
                _peers->set_path(static_cast<uint16_t>(n.id), path);
                _dirty = true;
            }
            break;
        }
    }
    // Peers we may not or cannot reach directly go through the router GVPE's rules pick among
    // the nodes we have a session with; the packets keep the peer as dvpe destination.
    auto connected = [&](unsigned id) {
        if (!_sessions) {
            return _peers->path(static_cast<uint16_t>(id)) != nullptr;
        }
        auto st = _sessions->status(static_cast<uint16_t>(id), clock_now());
        return st && st->state == session::peer_state::up;
    };
    for (const node_conf* n : routed) {
        const peer_path* old = _peers->path(static_cast<uint16_t>(n->id));
        auto r = find_router(_cfg, self, *n, connected);
        const peer_path* rp = r ? _peers->path(static_cast<uint16_t>(*r)) : nullptr;
        if (rp == nullptr || rp->via != 0) {
            continue;
        }
        peer_path p = *rp;
        p.via = static_cast<uint16_t>(*r);
        p.inherit_tos = n->inherit_tos;
        if (old == nullptr || old->via != p.via || old->inherit_tos != p.inherit_tos ||
            old->next_hop_mac.has_value() != p.next_hop_mac.has_value()) {
            log::info("node " + n->name + " is reached through router node " + std::to_string(*r));
            _peers->set_path(static_cast<uint16_t>(n->id), p);
            _dirty = true;
        }
    }
}

// Hostnames that are DNS names: looked up by the resolver thread at start, then again every
// dns_refresh_up_s while the peer is up and every dns_retry_s while it is not (GVPE looked up
// before every connect attempt, blocking). A failed lookup keeps the last good address; a
// changed answer moves the path at once. The first address of a family this node has a
// wan-address for is used, in getaddrinfo's order.
void daemon::resolve_hostnames() {
    constexpr uint64_t dns_refresh_up_s = 60, dns_retry_s = 10;
    if (!_sessions) {
        return;  // benchmark mode: no peers to find
    }
    const node_conf& self = _cfg.self_node();
    bool have_v4 = false, have_v6 = false;
    for (const auto& wa : self.engine.wan_addresses) {
        (wa.addr.v6 ? have_v6 : have_v4) = true;
    }
    const uint64_t now = rte_rdtsc(), hz = rte_get_tsc_hz();
    bool moved = false;
    if (_resolver) {
        for (auto& a : _resolver->poll()) {
            for (auto& [id, d] : _dns) {
                if (d.name != a.name) {
                    continue;
                }
                ++d.lookups;
                const std::string who = "node " + std::to_string(id) + " hostname " + d.name;
                std::optional<ip_addr> pick;
                for (const auto& ip : a.addrs) {
                    if (ip.v6 ? have_v6 : have_v4) {
                        pick = ip;
                        break;
                    }
                }
                std::string err = a.error;
                if (!pick && err.empty()) {
                    err = "no address of a family this node has a wan-address for";
                }
                if (!pick) {
                    ++d.failures;
                    if (err != d.error) {
                        log::warn(who + ": " + err + (d.addr ? "; keeping " + d.addr->str() : "; not reachable yet"));
                    }
                    d.error = err;
                    continue;
                }
                d.error.clear();
                if (d.addr != pick) {
                    log::notice(who + " is " + pick->str() + (d.addr ? " (was " + d.addr->str() + ")" : ""));
                    d.addr = pick;
                    moved = true;
                }
            }
        }
    }
    // The set of names follows the configuration (reload included).
    std::map<uint16_t, dns_state> keep;
    for (const auto& n : _cfg.nodes) {
        if (n.id == self.id || n.hostname.empty() || ip_addr::parse(n.hostname)) {
            continue;
        }
        const auto id = static_cast<uint16_t>(n.id);
        auto it = _dns.find(id);
        dns_state d = it != _dns.end() && it->second.name == n.hostname ? std::move(it->second) : dns_state{};
        d.name = n.hostname;
        if (now >= d.next_tsc) {
            if (!_resolver) {
                _resolver = std::make_unique<resolver>();
            }
            _resolver->request(d.name);
            auto st = _sessions->status(id, clock_now());
            const bool up = st && st->state == session::peer_state::up;
            d.next_tsc = now + hz * (up && d.addr ? dns_refresh_up_s : dns_retry_s);
        }
        keep.emplace(id, std::move(d));
    }
    _dns.swap(keep);
    if (moved) {
        update_paths();
    }
}

void daemon::transmit(rte_mbuf* m) {
    // The control thread has no tx queue of its own: worker 0 sends for it.
    if (rte_ring_sp_enqueue(_from_control[0], m) != 0) {
        rte_pktmbuf_free(m);
        ++_handshakes_unsent;
    }
}

void daemon::send_handshake(const session::send_handshake& a) {
    const auto len = static_cast<uint16_t>(a.bytes.size());
    std::optional<transport::outer_template> tmpl;
    uint16_t port_id = 0;
    uint16_t sport_fixed = 0;
    if (!a.destination.empty()) {
        auto src = decode(a.destination);
        if (!src) {
            ++_handshakes_unsent;
            return;
        }
        for (const auto& p : _ports) {
            if (p.info.port_id == src->port_id) {
                transport::endpoint_pair ep;
                ep.src_mac = p.info.mac;
                ep.dst_mac = src->mac;
                ep.src_ip = transport::is_ipv6(src->k) ? transport::ip_address::from_v6(
                                                             *reinterpret_cast<const uint8_t(*)[16]>(_base.local.ipv6.data()))
                                                       : transport::ip_address::from_v4(_base.local.ipv4);
                ep.dst_ip = src->ip;
                // The answer goes to the peer's configured udp-port, not to the source port:
                // senders use one source port per lane (for the receiver's RSS), and a receiver
                // only accepts its own udp-port (docs/protocol.md). A peer with udp-port 0
                // connects out only: it is answered at the source port (one of its lane
                // ports, which it accepts; through a NAT, the mapping of that port).
                ep.dst_port = 655;
                for (const auto& n : _cfg.nodes) {
                    if (n.id == a.peer) {
                        ep.dst_port = n.udp_port != 0 ? n.udp_port : src->udp_port;
                        if (n.udp_port == 0 && transport::is_udp(src->k)) {
                            sport_fixed = _cfg.self_node().udp_port;  // the port its NAT maps back
                        }
                    }
                }
                ep.ip_proto = _cfg.global.ip_proto;
                ep.icmp_type = transport::is_ipv6(src->k) ? transport::icmp6_type_for(_cfg.global.icmp_type)
                                                          : _cfg.global.icmp_type;
                tmpl = transport::build_template(src->k, ep);
                port_id = p.info.port_id;
            }
        }
    } else if (const peer_path* path = _peers->path(a.peer); path != nullptr && path->next_hop_mac) {
        transport::endpoint_pair ep;
        ep.src_mac = path->src_mac;
        ep.dst_mac = *path->next_hop_mac;
        ep.src_ip = path->src_ip;
        ep.dst_ip = path->ip;
        ep.dst_port = path->udp_port;
        ep.ip_proto = path->ip_proto;
        ep.icmp_type = path->icmp_type;
        tmpl = transport::build_template(path->kind, ep);
        port_id = path->port_id;
        sport_fixed = path->sport_fixed;
    }
    if (!tmpl) {
        ++_handshakes_unsent;  // no path yet (neighbour unresolved): the retry timer tries again
        if (a.destination.empty()) {
            _sessions->on_initiation_unsent(a.peer);  // an initiation: not pending on the wire
        }
        return;
    }
    rte_mbuf* m = rte_pktmbuf_alloc(_pool);
    if (m == nullptr) {
        ++_handshakes_unsent;
        return;
    }
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(tmpl->len + len)));
    std::memcpy(p + tmpl->len, a.bytes.data(), len);
    transport::write_outer(*tmpl, p, len, ctl_sport(sport_fixed));
    m->port = port_id;
    transmit(m);
}

// An empty authenticated data packet with the current send key, on the control thread's own
// lane (transport::control_lane) so it never shares a counter with a worker.
void daemon::send_keepalive(uint16_t peer, bool close) {
    auto cs = _peers->control_sender(peer);
    if (!cs) {
        return;
    }
    rte_mbuf* m = rte_pktmbuf_alloc(_pool);
    if (m == nullptr) {
        return;
    }
    const uint16_t dvpe_len = transport::data_overhead;
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(cs->tmpl->len + dvpe_len)));
    auto* dh = reinterpret_cast<transport::data_header*>(p + cs->tmpl->len);
    constexpr uint16_t lane = transport::control_lane;
    (void)transport::init_data_header(*dh, _base.self_id, peer, cs->key_id, lane, cs->counter, false);
    if (close) {
        transport::set_version_flags(*dh, transport::data_flag_close);  // in the AAD: authenticated
    }
    auto nonce = transport::nonce(lane, cs->counter);
    uint8_t* tag = p + cs->tmpl->len + sizeof(transport::data_header);
    crypto::aead_packet pk{tag, 0, sizeof(transport::data_header), reinterpret_cast<uint8_t*>(dh), nonce.data(), tag};
    _ctl_crypto->seal_burst(*cs->key, std::span<crypto::aead_packet>(&pk, 1));
    transport::write_outer(*cs->tmpl, p, dvpe_len, ctl_sport(cs->sport_fixed));
    _peers->bump_control_counter(peer);
    m->port = cs->port_id;
    transmit(m);
}

// At shutdown, as GVPE's RESET: every peer with a session gets an authenticated close message
// (an empty data message with data_flag_close) so it takes the session down at once instead of
// after `keepalive`; then the workers get a moment to send them before they stop.
void daemon::say_goodbye() {
    if (!_sessions || _from_control.empty()) {
        return;
    }
    const auto now = clock_now();
    unsigned n = 0;
    for (uint16_t id : _sessions->peer_ids()) {
        auto st = _sessions->status(id, now);
        if (st && st->state == session::peer_state::up) {
            send_keepalive(id, true);
            ++n;
        }
    }
    if (n == 0) {
        return;
    }
    for (int i = 0; i < 100 && rte_ring_count(_from_control[0]) != 0; ++i) {
        rte_delay_us_sleep(1000);
    }
    rte_delay_us_sleep(2000 + 2 * _cfg.self_node().engine.tx_drain_us);  // the worker's tx buffer drains
    log::info("sent a close message to " + std::to_string(n) + " peer" + (n == 1 ? "" : "s"));
}

void daemon::queue_frame(rte_mbuf* m) {
    const auto peer = static_cast<uint16_t>(m->hash.usr);
    const node_conf* n = nullptr;
    for (const auto& c : _cfg.nodes) {
        if (c.id == peer) {
            n = &c;
        }
    }
    if (n == nullptr) {
        rte_pktmbuf_free(m);
        ++_queue_dropped;
        return;
    }
    // All queues together may hold at most a quarter of the mempool, so waiting frames can
    // never starve the ports of buffers.
    size_t total = 0;
    for (const auto& [id, pq] : _queued) {
        total += pq.size();
    }
    if (total >= _pool->size / 4) {
        rte_pktmbuf_free(m);
        ++_queue_dropped;
        return;
    }
    auto& q = _queued[peer];
    while (q.size() >= std::max(1u, n->max_queue)) {  // GVPE drops the oldest first
        rte_pktmbuf_free(q.front().m);
        q.pop_front();
        ++_queue_dropped;
    }
    q.push_back({m, rte_rdtsc() + static_cast<uint64_t>(n->max_ttl * static_cast<double>(rte_get_tsc_hz()))});
}

// Seals one queued overlay frame on the control thread's lane and sends it (the rare path;
// workers seal everything else). MACs are elided as the workers do.
bool daemon::seal_from_control(uint16_t peer, rte_mbuf* m) {
    auto cs = _peers->control_sender(peer);
    if (!cs || m->nb_segs != 1 || rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr)) {
        return false;
    }
    const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    const auto mac = node_mac(peer);
    rte_ether_addr peer_mac;
    std::copy(mac.begin(), mac.end(), peer_mac.addr_bytes);
    const bool full = !rte_is_same_ether_addr(&eth->src_addr, &_base.self_mac) ||
                      !rte_is_same_ether_addr(&eth->dst_addr, &peer_mac);
    if (!full) {
        rte_pktmbuf_adj(m, 2 * RTE_ETHER_ADDR_LEN);
    }
    const auto payload_len = static_cast<uint16_t>(rte_pktmbuf_data_len(m));
    auto* outer = reinterpret_cast<uint8_t*>(
        rte_pktmbuf_prepend(m, static_cast<uint16_t>(cs->tmpl->len + sizeof(transport::data_header))));
    auto* tag = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, transport::aead_tag_size));
    if (outer == nullptr || tag == nullptr) {
        return false;
    }
    auto* dh = reinterpret_cast<transport::data_header*>(outer + cs->tmpl->len);
    constexpr uint16_t lane = transport::control_lane;
    (void)transport::init_data_header(*dh, _base.self_id, peer, cs->key_id, lane, cs->counter, full);
    auto nonce = transport::nonce(lane, cs->counter);
    crypto::aead_packet pk{reinterpret_cast<uint8_t*>(dh) + sizeof(transport::data_header), payload_len,
                           sizeof(transport::data_header), reinterpret_cast<uint8_t*>(dh), nonce.data(), tag};
    _ctl_crypto->seal_burst(*cs->key, std::span<crypto::aead_packet>(&pk, 1));
    transport::write_outer(*cs->tmpl, outer,
                           static_cast<uint16_t>(sizeof(transport::data_header) + payload_len + transport::aead_tag_size),
                           ctl_sport(cs->sport_fixed));
    _peers->bump_control_counter(peer);
    m->port = cs->port_id;
    transmit(m);
    return true;
}

void daemon::flush_queues() {
    const uint64_t now = rte_rdtsc();
    for (auto it = _queued.begin(); it != _queued.end();) {
        auto& q = it->second;
        while (!q.empty() && q.front().expires_tsc <= now) {  // max-ttl
            rte_pktmbuf_free(q.front().m);
            q.pop_front();
            ++_queue_dropped;
        }
        if (_peers->control_sender(it->first)) {
            while (!q.empty()) {
                rte_mbuf* m = q.front().m;
                q.pop_front();
                if (seal_from_control(it->first, m)) {
                    ++_queue_sent;
                } else {
                    rte_pktmbuf_free(m);
                    ++_queue_dropped;
                }
            }
        }
        it = q.empty() ? _queued.erase(it) : std::next(it);
    }
}

void daemon::execute(session::actions& acts) {
    for (auto& a : acts) {
        std::visit(overloaded{
                       [&](session::send_handshake& x) { send_handshake(x); },
                       [&](session::install_keys& x) {
                           _peers->install(x.keys, x.role == session::key_role::current);
                           _dirty = true;
                       },
                       [&](session::promote_keys& x) {
                           _peers->promote(x.peer, x.recv_key_id);
                           _dirty = true;
                       },
                       [&](session::retire_key& x) {
                           _peers->retire(x.peer, x.key_id);
                           _dirty = true;
                       },
                       [&](session::send_keepalive& x) { send_keepalive(x.peer); },
                       [&](session::learn_endpoint& x) {
                           // A peer without a configured address is reached where its proven
                           // handshake came from (update_paths).
                           auto& ep = _learned_endpoint[x.peer];
                           if (ep != x.address) {
                               ep = std::move(x.address);
                               update_paths();
                           }
                       },
                       [&](session::event& x) {
                           const node_conf* n = nullptr;
                           for (const auto& c : _cfg.nodes) {
                               if (c.id == x.peer) {
                                   n = &c;
                               }
                           }
                           log::notice("node " + (n ? n->name : std::to_string(x.peer)) + " " +
                                       std::string(session::to_string(x.kind)));
                           std::string proto = "udp", ipstr;
                           uint16_t port = 0;
                           if (const peer_path* pp = _peers->path(x.peer)) {
                               proto = transport::is_udp(pp->kind) ? "udp" : transport::is_rawip(pp->kind) ? "rawip" : "icmp";
                               ip_addr ip;
                               ip.v6 = pp->ip.v6;
                               ip.bytes = pp->ip.bytes;
                               ipstr = ip.str();
                               port = transport::is_udp(pp->kind) ? pp->udp_port : 0;
                           }
                           const std::string si = ipstr.empty() ? std::string() : hook_destsi(proto, ipstr, port);
                           switch (x.kind) {
                           case session::event_kind::node_up: _hooks->on_node_up(x.peer, si, ipstr, port); break;
                           case session::event_kind::node_down: _hooks->on_node_down(x.peer, si, ipstr, port); break;
                           case session::event_kind::node_change: _hooks->on_node_change(x.peer, si, ipstr, port); break;
                           }
                       },
                   },
                   a);
    }
    acts.clear();
}

void daemon::on_handshake_mbuf(rte_mbuf* m) {
    const auto* frame = rte_pktmbuf_mtod(m, const uint8_t*);
    const auto c = transport::classify(frame, rte_pktmbuf_data_len(m), _base.local);
    if (c.reason != transport::classify_reason::ok) {
        return;
    }
    source_addr src{};
    src.k = c.k;
    src.port_id = m->port;
    src.ip = c.src_ip;
    src.udp_port = c.src_port;
    std::memcpy(src.mac.addr_bytes, frame + 6, 6);
    const auto bytes = encode(src);
    std::span<const uint8_t> msg(frame + c.dvpe_offset, c.dvpe_len);
    const auto now = clock_now();
    if (!_hs_drain.admit(now.mono_ns)) {
        return;  // this iteration's budget is spent: dropped, counted (status: handshake.dropped_over_budget)
    }
    session::actions acts;
    // The rate limit counts per source IP (IPv6: per /64), never per port or MAC: a flood that
    // rotates its UDP source port must not get a fresh bucket per message.
    const std::span<const uint8_t> source_ip(c.src_ip.bytes.data(), c.src_ip.v6 ? 16 : 4);
    _sessions->on_handshake_packet(msg, bytes, now, _hs_drain.under_load(now.mono_ns), acts, source_ip);
    execute(acts);
}

// Data-plane activity per peer, from the workers' counters (no per-packet messages).
// A lane rekeys after 2^48 packets under one key (far below the 2^60 the replay window
// accepts, and far beyond what `rekey` seconds carry at line rate).
constexpr uint64_t counter_rekey_limit = uint64_t{1} << 48;

void daemon::feedback(handshake::clock_reading now, session::actions& acts) {
    for (uint16_t id : _sessions->peer_ids()) {
        peer_feedback cur;
        uint64_t max_counter = 0;
        cur.rx.reserve(_workers.size());
        for (const auto& w : _workers) {
            const auto& ns = w->peer_stats()[id];
            session::rx_sample r;
            r.packets = ns.rx_packets.load();
            r.keepalives = ns.keepalives.load();
            r.key_id = static_cast<uint8_t>(ns.last_rx_key_id.load());
            cur.rx.push_back(r);
            cur.tx += ns.tx_packets.load();
            cur.no_session += ns.no_session.load();
            cur.closes += ns.closes.load();
            max_counter = std::max(max_counter, ns.tx_counter.load());
        }
        peer_feedback& last = _feedback[id];
        for (const auto& r : session::rx_reports(cur.rx, last.rx)) {
            _sessions->on_authenticated_packet(id, r.key_id, r.keepalive, now, acts);
        }
        if (cur.tx != last.tx) {
            _sessions->on_data_sent(id, now);
        }
        if (cur.no_session != last.no_session) {
            _sessions->on_packets_queued(id, now, acts);
        }
        if (cur.closes != last.closes) {
            _sessions->on_peer_closed(id, now, acts);  // it is stopping: node-down now, not after keepalive
        }
        // Rekey long before a lane counter could approach the nonce space (docs/protocol.md).
        if (max_counter > counter_rekey_limit && !last.counter_limit_reported) {
            _sessions->on_counter_limit(id, now, acts);
            cur.counter_limit_reported = true;
        } else {
            cur.counter_limit_reported = max_counter > counter_rekey_limit && last.counter_limit_reported;
        }
        last = cur;
    }
}

void daemon::sessions_iteration() {
    if (!_sessions) {  // benchmark mode: paths only
        const uint64_t t = rte_rdtsc();
        if (t >= _next_feedback_tsc) {
            update_paths();
            _next_feedback_tsc = t + rte_get_tsc_hz() / 20;
        }
        if (_dirty) {
            _snap->publish(_peers->build(_base));
            _dirty = false;
        }
        _rcu->poll();
        return;
    }
    const auto now = clock_now();
    session::actions acts;
    const uint64_t tsc = rte_rdtsc();
    if (tsc >= _next_feedback_tsc) {
        feedback(now, acts);
        update_paths();
        _next_feedback_tsc = tsc + rte_get_tsc_hz() / 20;  // 50 ms
    }
    _sessions->tick(now, acts);
    execute(acts);
    if (_dirty) {
        _snap->publish(_peers->build(_base));
        _dirty = false;
    }
    if (!_queued.empty()) {
        flush_queues();
    }
    _rcu->poll();
}

}  // namespace control
