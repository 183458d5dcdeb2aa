// SPDX-License-Identifier: MIT
// The daemon's session glue on the control thread: loads the node keys, runs the session
// manager (control/session/session.hh) with real time, feeds it handshake messages from the workers'
// control ring and data-plane activity from the per-peer counters, and executes its actions —
// handshake and keepalive packets through worker 0's ring, key changes published to the workers
// as a new RCU snapshot (engine/rcu.hh), node events to the log (hooks: see docs/architecture.md).
// Threads: control thread only.
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "control/daemon/daemon.hh"
#include "control/config/keys.hh"
#include "control/log.hh"
#include "control/daemon/routing.hh"
#include "crypto/hash.hh"
#include "transports/classify.hh"
#include "transports/control_msg.hh"
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

}  // namespace

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
    sc.self.cipher = handshake::cipher_id(static_cast<uint8_t>(_cipher.cipher));  // refused if the peer's differs
    sc.self_connect = self.connect;
    sc.self_low_power = self.low_power;
    sc.keepalive_s = _cfg.global.keepalive;
    sc.rekey_s = _cfg.global.rekey;
    _sessions = std::make_unique<session::manager>(std::move(sc));

    setup_base(wan_ports);

    const auto now = clock_now();
    session::actions acts;
    warnings.clear();
    apply_peers(load_peer_public_keys(_cfg, warnings), now, acts, warnings);
    for (const auto& w : warnings) {
        log::warn(w);
    }
}

// The one sequence start-up and reload apply peers through: every node of _cfg with a key
// becomes (or is updated as) a session peer, paths follow, the session manager's actions run,
// and the workers get one new snapshot.
void daemon::apply_peers(const std::map<unsigned, std::array<uint8_t, 32>>& pubs, handshake::clock_reading now,
                         session::actions& acts, std::vector<std::string>& warnings) {
    std::vector<uint16_t> flood;
    for (const auto& n : _cfg.nodes) {
        auto pk = pubs.find(n.id);
        if (n.id == _cfg.self_node().id || pk == pubs.end()) {
            continue;
        }
        if (!_sessions->set_peer(session::make_peer_conf(n, pk->second), now, acts)) {
            warnings.push_back("node " + n.name + ": public key refused by the handshake");
        } else if (n.connect != connect_mode::disabled) {
            flood.push_back(static_cast<uint16_t>(n.id));
        }
    }
    _peers->set_flood_members(std::move(flood));
    update_paths();
    execute(acts);
    _snap->publish(_peers->build(_base));
    _dirty = false;
}

void daemon::setup_base(const std::vector<std::string>& wan_ports) {
    const node_conf& self = _cfg.self_node();
    _peers = std::make_unique<peer_table>(_cipher, static_cast<uint16_t>(self.id));
    auto ctx = crypto::aead_context::create();
    if (!ctx) {
        throw std::runtime_error("cannot create the control thread's crypto context: " + ctx.error());
    }
    _ctl_crypto.emplace(std::move(ctx.value()));
    _ctl_sealer = std::make_unique<engine::sealer>(transport::control_lane);
    // What the workers need besides peers: who we are, where decrypted frames go, what we speak.
    _base.self_id = static_cast<uint16_t>(self.id);
    const auto mac = node_mac(self.id);
    std::copy(mac.begin(), mac.end(), _base.self_mac.addr_bytes);
    for (const auto& p : _ports) {
        if (p.conf.role == port_role::overlay && p.conf.mode == overlay_mode::host && !_base.has_overlay) {
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
    transport::set_icmp_type(_base.local, _cfg.global.icmp_type);
    uint16_t enabled = 0;
    if (self.protocols & proto_udp) {
        enabled |= transport::kind_bit(transport::kind::udp4) | transport::kind_bit(transport::kind::udp6);
    }
    if (self.protocols & proto_rawip) {
        enabled |= transport::kind_bit(transport::kind::rawip4) | transport::kind_bit(transport::kind::rawip6);
    }
    if (self.protocols & proto_icmp) {
        enabled |= transport::kind_bit(transport::kind::icmp4) | transport::kind_bit(transport::kind::icmp6);
    }
    if (self.protocols & proto_tcp) {
        enabled |= transport::kind_bit(transport::kind::tcp4) | transport::kind_bit(transport::kind::tcp6);
    }
    if (self.protocols & proto_dns) {
        enabled |= transport::kind_bit(transport::kind::dns4) | transport::kind_bit(transport::kind::dns6);
    }
    _base.local.enabled = enabled;
    _base.queue_without_session = true;
    setup_lan_base();
    _queue.set_total_limit(_pool->size / 4);  // waiting frames never starve the ports of buffers
    _relay_queue.set_total_limit(_pool->size / 8);

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

// What the policy (control/daemon/paths.cc's choose_paths()) needs, from the daemon's state.
path_inputs daemon::path_inputs_now() {
    path_inputs in;
    if (_stream) {
        in.tcp_port_id = _stream_port_id;
    }
    for (const auto& p : _ports) {
        in.ports.push_back({p.conf.name, p.info.port_id, p.info.mtu, p.info.mac});
    }
    for (const auto& [id, d] : _dns) {
        if (d.addr) {
            in.resolved.emplace(id, std::make_pair(d.name, *d.addr));
        }
    }
    in.learned = &_learned_endpoint;
    in.roamed = &_roamed;
    in.neighbour = [this](uint16_t port_id, const transport::ip_address& hop) -> std::optional<rte_ether_addr> {
        _neigh.want(port_id, hop);  // ARP or NDP keeps it resolved; static entries win
        return _neigh.lookup(port_id, hop);
    };
    in.connected = [this](unsigned id) {
        if (!_sessions) {
            return _peers->path(static_cast<uint16_t>(id)) != nullptr;
        }
        auto st = _sessions->status(static_cast<uint16_t>(id), clock_now());
        return st && st->state == session::peer_state::up;
    };
    in.current = [this](uint16_t id) { return _peers->path(id); };
    return in;
}

// Where each peer is and how to get there: the policy's choice is applied here (a new snapshot
// follows).
void daemon::update_paths() {
    const path_inputs in = path_inputs_now();
    const auto chosen = choose_paths(_cfg, in);
    std::vector<bool> has_path;  // by node id (a search of `chosen` per node was O(peers^2))
    for (const auto& c : chosen) {
        if (c.first >= has_path.size()) {
            has_path.resize(c.first + size_t{1});
        }
        has_path[c.first] = true;
    }
    // A routed peer whose router is gone and no other connected: no path (its frames wait in
    // the queue, max-queue / max-ttl) rather than one into a router that is not there.
    for (const auto& n : _cfg.nodes) {
        const auto id = static_cast<uint16_t>(n.id);
        const peer_path* old = _peers->path(id);
        if (old == nullptr || old->via == 0 || (id < has_path.size() && has_path[id])) {
            continue;
        }
        log::info("node " + n.name + ": no router connected, its packets wait");
        _peers->clear_path(id);
        _dirty = true;
    }
    for (const auto& [id, path] : chosen) {
        const peer_path* old = _peers->path(id);
        if (old != nullptr && *old == path) {
            continue;
        }
        if (path.via != 0 && (old == nullptr || old->via != path.via)) {
            const node_conf* n = _cfg.node(id);
            log::info("node " + (n ? n->name : std::to_string(id)) + " is reached through router node " +
                      std::to_string(path.via));
        }
        _peers->set_path(id, path);
        _dirty = true;
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
                std::optional<transport::ip_address> pick;
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
        if (n.id == self.id || n.hostname.empty() || transport::ip_address::parse(n.hostname)) {
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

bool daemon::transmit(rte_mbuf* m) {
    // The control thread has no tx queue of its own: worker 0 sends for it.
    if (rte_ring_sp_enqueue(_from_control[0], m) != 0) {
        rte_pktmbuf_free(m);
        ++_handshakes_unsent;
        return false;
    }
    if (!_workers.empty()) {
        _workers[0]->wake();  // idle-wait = interrupt: it may be blocked (engine/idle.cc)
    }
    return true;
}

// A handshake message goes where the session manager says: to the source of the message it
// answers, or along the peer's path; either way built by build_path() (control/daemon/paths.hh),
// sent from the control lane's source port.
void daemon::send_handshake(const session::send_handshake& a) {
    const auto len = static_cast<uint16_t>(a.bytes.size());
    std::optional<peer_path> path;
    if (!a.destination.empty()) {
        auto src = source_addr::decode(a.destination);
        const node_conf* n = _cfg.node(a.peer);
        if (!src || n == nullptr) {
            ++_handshakes_unsent;
            return;
        }
        for (const auto& p : _ports) {
            if (p.info.port_id == src->port_id) {
                path = answer_path(*src, *n, _cfg.self_node(), _cfg.global, _base.local, p.info.mac);
            }
        }
        // Relayed to us by a router (its address): the answer goes back through it, to the
        // router's own port, with the peer as dvpe destination.
        auto current = [this](uint16_t id) { return _peers->path(id); };
        if (const uint16_t r = relaying_router(_cfg, a.peer, *src, current); r != 0) {
            path = *_peers->path(r);
            path->via = r;
        }
    } else if (auto mp = mediated_path(a.peer, clock_now())) {
        path = *mp;  // a router told us where the peer is: try there first (hole punching)
    } else if (const peer_path* pp = _peers->path(a.peer)) {
        path = *pp;
    }
    engine::peer_entry e;
    if (!path || !build_path(*path, _base.self_id, e)) {
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
    if (a.destination.empty()) {
        _initiation_via_router[a.peer] = path->via != 0;  // for on_handshake_mbuf's ours_relayed
    }
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(e.tmpl.len + len)));
    std::memcpy(p + e.tmpl.len, a.bytes.data(), len);
    transport::write_outer(e.tmpl, p, len, e.udp_sport(transport::control_lane));
    m->port = e.tx_port_id;
    transmit(m);
}

// The control thread's end of the sealer (engine/seal.hh): worker 0's ring. The sealer keeps
// pointers to the peer entry it was given (a local copy here) until flush(): every function
// that adds to _ctl_sealer flushes it before it returns.
struct daemon::ctl_sink {
    daemon& d;
    unsigned sent = 0, lost = 0;  // handed to worker 0 / not (ring full)
    void send(uint16_t port_id, rte_mbuf* const* pkts, unsigned n, uint64_t) noexcept {
        for (unsigned i = 0; i < n; ++i) {
            pkts[i]->port = port_id;
            if (d.transmit(pkts[i])) {
                ++sent;
            } else {
                ++lost;
            }
        }
    }
    void send_fragments(rte_mbuf* m, const engine::peer_entry&) noexcept {
        rte_pktmbuf_free(m);  // never: the control lane seals with fragment_ok = false
        ++lost;
    }
    void sealed(const engine::peer_entry&, unsigned, uint64_t) noexcept {}
};

// An empty authenticated data message with the current send key through the one sealer, on
// the control thread's own lane (transport::control_lane), which no worker shares.
void daemon::send_keepalive(uint16_t peer, bool close) {
    const auto e = _peers->entry(peer);
    if (!e || !e->tx_ready) {
        return;
    }
    rte_mbuf* m = rte_pktmbuf_alloc(_pool);
    if (m == nullptr) {
        return;
    }
    if (_ctl_sealer->add_keepalive(m, *e, _base.self_id, close) != engine::sealer::verdict::queued) {
        rte_pktmbuf_free(m);
        return;
    }
    ctl_sink sink{*this};
    _ctl_sealer->flush(*_ctl_crypto, sink);
}

// A control message (transports/control_msg.hh) through the same sealer, on the control lane.
bool daemon::send_control(uint16_t peer, const transport::control_message& msg) {
    const auto e = _peers->entry(peer);
    if (!e || !e->tx_ready) {
        return false;
    }
    rte_mbuf* m = rte_pktmbuf_alloc(_pool);
    if (m == nullptr) {
        return false;
    }
    size_t len = 0;
    const auto bytes = transport::encode_control(msg, len);
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(len)));
    if (p == nullptr) {
        rte_pktmbuf_free(m);
        return false;
    }
    std::memcpy(p, bytes.data(), len);
    if (_ctl_sealer->add_control(m, *e, _base.self_id) != engine::sealer::verdict::queued) {
        rte_pktmbuf_free(m);
        return false;
    }
    ctl_sink sink{*this};
    _ctl_sealer->flush(*_ctl_crypto, sink);
    return sink.sent == 1;
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

// A frame for a peer without a session, from a worker (m->hash.usr = the peer).
void daemon::queue_frame(rte_mbuf* m) {
    const auto peer = static_cast<uint16_t>(m->hash.usr);
    const node_conf* n = _cfg.node(peer);
    if (n == nullptr || n->connect == connect_mode::disabled) {
        rte_pktmbuf_free(m);
        _queue.count_refused(1);
        return;
    }
    _queue.push(peer, m, n->max_queue,
                rte_rdtsc() + static_cast<uint64_t>(n->max_ttl * static_cast<double>(rte_get_tsc_hz())));
}

// Seals the frames queued for `peer` on the control thread's lane through the one sealer, as
// one run (the rare path; workers seal everything else). A frame that cannot be sealed (above
// the MTU, no room, chained) is dropped and counted.
void daemon::seal_queued(const engine::peer_entry& e, std::deque<rte_mbuf*> frames) {
    ctl_sink sink{*this};
    for (rte_mbuf* m : frames) {
        if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr) ||
            _ctl_sealer->add_frame(m, e, _base.self_id,
                                   engine::sends_full_frame(*rte_pktmbuf_mtod(m, const rte_ether_hdr*), _base.self_mac, e.mac),
                                   false) != engine::sealer::verdict::queued) {
            rte_pktmbuf_free(m);
            _queue.count_dropped(1);
            continue;
        }
        if (_ctl_sealer->full()) {
            _ctl_sealer->flush(*_ctl_crypto, sink);
        }
    }
    _ctl_sealer->flush(*_ctl_crypto, sink);
    _queue.count_sent(sink.sent);
    _queue.count_dropped(sink.lost);
}

// A dvpe packet for another node that a worker could not relay (engine/ingress.cc relay_wait:
// no session with it, or only through a router): kept as it is, sealed end to end by its two
// ends, without the outer headers, until we have a direct session with the destination (then
// send_relayed), at most its max-queue packets for max-ttl seconds (GVPE's vpn_queue), and the
// session manager is told there is demand (it connects). False: not such a packet.
bool daemon::queue_relay(rte_mbuf* m) {
    const auto* frame = rte_pktmbuf_mtod(m, const uint8_t*);
    const auto c = classify_mbuf(m);
    if (c.reason != transport::classify_reason::ok || c.dvpe_len < sizeof(transport::dvpe_header)) {
        return false;
    }
    const auto* h = reinterpret_cast<const transport::dvpe_header*>(frame + c.dvpe_offset);
    const uint16_t dst = transport::dst_id(*h);
    if (dst == _base.self_id) {
        return false;
    }
    const node_conf* n = _cfg.node(dst);
    if (n == nullptr) {
        rte_pktmbuf_free(m);
        _relay_queue.count_refused(1);
        return true;
    }
    engine::keep_first_segment(m);
    rte_pktmbuf_adj(m, c.dvpe_offset);
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - c.dvpe_len));
    _relay_queue.push(dst, m, n->max_queue,
                      rte_rdtsc() + static_cast<uint64_t>(n->max_ttl * static_cast<double>(rte_get_tsc_hz())));
    if (_sessions) {
        // Demand: connect to it (the worker's counter cannot, for a node without an entry).
        session::actions acts;
        _sessions->on_packets_queued(dst, clock_now(), acts);
        execute(acts);
    }
    return true;
}

// The waiting packets to relay to `e` get its outer headers (as worker::relay, on the control
// lane's source port) and go out through worker 0's ring.
void daemon::send_relayed(const engine::peer_entry& e, std::deque<rte_mbuf*> pkts) {
    for (rte_mbuf* m : pkts) {
        const auto len = static_cast<uint16_t>(rte_pktmbuf_data_len(m));
        auto* outer = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, e.tmpl.len));
        if (outer == nullptr) {
            rte_pktmbuf_free(m);
            _relay_queue.count_dropped(1);
            continue;
        }
        transport::write_outer(e.tmpl, outer, len, e.udp_sport(transport::control_lane));
        m->port = e.tx_port_id;
        if (transmit(m)) {
            _relay_queue.count_sent(1);
        } else {
            _relay_queue.count_dropped(1);
        }
    }
}

// Expired frames go (max-ttl); the frames of peers whose session is up are sent, and the
// packets to relay to peers we now reach directly with a session.
void daemon::flush_queues() {
    const uint64_t now = rte_rdtsc();
    _queue.expire(now);
    auto ready = [this](uint16_t peer) {
        const auto e = _peers->entry(peer);
        return e && e->tx_ready;
    };
    for (auto& [peer, frames] : _queue.take_ready(ready)) {
        seal_queued(*_peers->entry(peer), std::move(frames));
    }
    if (_relay_queue.empty()) {
        return;
    }
    _relay_queue.expire(now);
    auto direct = [this](uint16_t peer) {
        const auto e = _peers->entry(peer);
        return e && e->tx_ready && !e->routed;
    };
    for (auto& [peer, pkts] : _relay_queue.take_ready(direct)) {
        send_relayed(*_peers->entry(peer), std::move(pkts));
    }
}

void daemon::execute(session::actions& acts) {
    for (auto& a : acts) {
        std::visit(overloaded{
                       [&](session::send_handshake& x) { _held_sends.push_back(std::move(x)); },
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
                           // handshake came from (update_paths). A peer that roamed is
                           // followed to its newest proven address (data from there confirms it).
                           bool changed = false;
                           if (auto r = _roamed.find(x.peer); r != _roamed.end() && r->second != x.address) {
                               r->second = x.address;
                               changed = true;
                           }
                           auto& ep = _learned_endpoint[x.peer];
                           if (ep != x.address) {
                               ep = std::move(x.address);
                               changed = true;
                           }
                           if (changed) {
                               update_paths();
                           }
                       },
                       [&](session::log_failure& x) {
                           // At most one line per peer and reason a minute (session::log_failure).
                           const node_conf* n = _cfg.node(x.peer);
                           const std::string name = n ? n->name : std::to_string(x.peer);
                           std::string line = "node " + name + ": " +
                                              session::describe(x.failure, name, _cfg.self_node().name);
                           if (x.suppressed != 0) {
                               line += " [" + std::to_string(x.suppressed) + " more like it not logged]";
                           }
                           log::warn(line);
                       },
                       [&](session::event& x) {
                           const node_conf* n = _cfg.node(x.peer);
                           log::notice("node " + (n ? n->name : std::to_string(x.peer)) + " " +
                                       std::string(session::to_string(x.kind)));
                           std::string proto = "udp", ipstr;
                           uint16_t port = 0;
                           if (const peer_path* pp = _peers->path(x.peer)) {
                               proto = hook_protocol(pp->kind);
                               // A dns path names its peer by node id, no address (paths.cc dns_path_to).
                               if (!transport::is_dns(pp->kind)) {
                                   ipstr = pp->ip.str();
                               }
                               port = transport::is_udp(pp->kind) || transport::is_tcp(pp->kind) ? pp->udp_port : 0;
                           }
                           if (x.kind == session::event_kind::node_change) {
                               // The new address even if the path waits for its next hop's MAC.
                               if (auto r = _roamed.find(x.peer); r != _roamed.end()) {
                                   if (auto src = source_addr::decode(r->second)) {
                                       ipstr = src->ip.str();
                                   }
                               }
                           }
                           if (x.kind == session::event_kind::node_down) {
                               forget_roamed(x.peer);  // next time: where the config says
                               forget_learned(x.peer);
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
    if (!_holding_sends) {
        send_held();
    }
}

// Handshake messages go out after the workers have the keys the same actions installed: a
// response leaves only once the snapshot with its keys is published, else the initiator's
// confirmation (sent the moment the response arrives) can reach a worker that does not know the
// key yet -- dropped as unknown_key, and the responder waits for a confirmation that never comes
// (a `connect = never` peer stayed down until next_confirm_timeout_ns). handle_control_packets
// holds the sends of its whole drain: one publish for a burst of handshakes, not one each.
void daemon::send_held() {
    if (_held_sends.empty()) {
        return;
    }
    if (_dirty) {
        _snap->publish(_peers->build(_base));
        _dirty = false;
    }
    std::vector<session::send_handshake> sends;
    sends.swap(_held_sends);
    for (const auto& x : sends) {
        send_handshake(x);
    }
}

void daemon::on_handshake_mbuf(rte_mbuf* m) {
    const auto* frame = rte_pktmbuf_mtod(m, const uint8_t*);
    const auto c = classify_mbuf(m);
    if (c.reason != transport::classify_reason::ok) {
        return;
    }
    source_addr src{};
    src.k = c.k;
    src.port_id = m->port;
    src.ip = c.src_ip;
    src.udp_port = c.src_port;  // tcp: the connection's remote port
    src.icmp_request = c.icmp_request;
    if (!transport::is_stream(c.k)) {
        std::memcpy(src.mac.addr_bytes, frame + 6, 6);
    }
    const auto bytes = src.encode();
    std::span<const uint8_t> msg(frame + c.dvpe_offset, c.dvpe_len);
    const auto now = clock_now();
    // The rate limit counts per source IP (IPv6: per /64), never per port or MAC: a flood that
    // rotates its UDP source port must not get a fresh bucket per message.
    // A dns source has no address: its node id (the peer the chunks came from) is the key.
    const std::span<const uint8_t> source_ip = transport::is_dns(c.k)
                                                   ? std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&src.udp_port), 2)
                                                   : std::span<const uint8_t>(c.src_ip.bytes.data(), c.src_ip.v6 ? 16 : 4);
    // Beyond this iteration's budget only a message whose mac2 proves its source passes, a few
    // per source (control/session/handshake_drain.hh); the rest is dropped, counted
    // (status: handshake.dropped_over_budget).
    if (!_hs_drain.admit(now.mono_ns, [&] { return _sessions->proves_source(msg, bytes, now); }, source_ip)) {
        return;
    }
    // An initiation that reached us directly while our own last initiation to its sender went
    // through a router: ours may never arrive (a router without a session with it; a NAT in
    // front of it that lets in only what answers its own packets), so the peer's is answered
    // whatever the ids say (session::manager::on_handshake_packet). One we sent directly -- to a
    // mediated endpoint, say -- keeps the rule: the peer answers ours.
    bool ours_relayed = false;
    if (const auto* h = reinterpret_cast<const transport::dvpe_header*>(msg.data());
        c.dvpe_len >= sizeof(transport::dvpe_header) &&
        h->type == static_cast<uint8_t>(transport::message_type::handshake_initiation)) {
        const uint16_t from = transport::src_id(*h);
        const bool direct_here =
            relaying_router(_cfg, from, src, [this](uint16_t id) { return _peers->path(id); }) == 0;
        auto it = _initiation_via_router.find(from);
        ours_relayed = direct_here && it != _initiation_via_router.end() && it->second;
        // An echo request straight from a peer without a hostname: it may be behind a NAT,
        // which lets in only echo replies to its requests -- ours (requests too) may never
        // arrive, our answer (a reply, paths.hh icmp_for()) does. The lower id would ignore
        // it while its own is young: it answers now and keeps its own pending, as above. The
        // higher id answers anyway and abandons its own, so both ends converge on one pair
        // of keys even when both initiations get through (two such nodes without a NAT).
        const node_conf* fn = _cfg.node(from);
        if (c.icmp_request && direct_here && fn != nullptr && fn->hostname.empty() &&
            transport::is_echo_type(_cfg.global.icmp_type) && _base.self_id < from) {
            ours_relayed = true;
        }
    }
    session::actions acts;
    _sessions->on_handshake_packet(msg, bytes, now, _hs_drain.under_load(now.mono_ns), acts, source_ip,
                                   ours_relayed);
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
        // Roaming: the newest report of any worker that has one we have not seen.
        cur.roam_reports = last.roam_reports;
        cur.roam_reports.resize(_workers.size(), 0);
        std::optional<engine::roam_source> roam;
        for (size_t w = 0; w < _workers.size(); ++w) {
            if (auto r = engine::roam_report(_workers[w]->peer_stats()[id]); r && r->reports != cur.roam_reports[w]) {
                cur.roam_reports[w] = r->reports;
                roam = r;
            }
        }
        if (roam) {
            on_roam_report(id, *roam, now, acts);
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

// Roaming (docs/protocol.md "Roaming"). Workers report, once per burst run, the outer source of
// authenticated packets (tag verified, counter taken by the replay window) that did not come from
// the peer's path address; here it is decided whether the peer moved.
constexpr uint64_t roam_interval_ns = 1'000'000'000;  // at most one move per peer and second

void daemon::on_roam_report(uint16_t peer, const engine::roam_source& r, handshake::clock_reading now,
                            session::actions& acts) {
    const node_conf* n = _cfg.node(peer);
    const peer_path* cur = _peers->path(peer);
    const auto st = _sessions->status(peer, now);
    if (n == nullptr || cur == nullptr || !st || st->state != session::peer_state::up) {
        // No session or no path yet (the handshake's source places it): nothing to move.
        ++_roam.not_up;
        return;
    }
    if (!n->hostname.empty()) {
        // A configured address (IP literal or DNS name, re-resolved every minute) stays where
        // the config says: a peer may send from another address than it receives at (a port
        // forward in, SNAT out), and only the address would move -- to where nothing listens.
        ++_roam.configured;
        return;
    }
    source_addr src;
    src.k = static_cast<transport::kind>(r.kind);
    src.port_id = r.port_id;
    src.ip = r.v6 ? transport::ip_address::from_v6(r.ip.data()) : transport::ip_address{};
    if (!r.v6) {
        std::memcpy(src.ip.bytes.data(), r.ip.data(), 4);
    }
    src.udp_port = r.udp_port;
    src.icmp_request = r.icmp_request;
    // The port a path follows: udp's destination port, icmp's echo identifier (paths.hh).
    const uint16_t followed = transport::is_icmp(cur->kind) ? cur->icmp_id : cur->udp_port;
    if (src.ip == cur->ip && (!cur->follow_port || cur->via != 0 || src.udp_port == followed)) {
        return;  // an older report: the path has moved there already
    }
    // A router relaying the peer's packets to us (we reach the peer directly, it does not reach
    // us directly): the source is the router's address, not the peer's.
    if (relaying_router(_cfg, peer, src, [this](uint16_t id) { return _peers->path(id); }) != 0) {
        ++_roam.from_router;
        return;
    }
    if (auto t = _roam_moved_ns.find(peer); t != _roam_moved_ns.end() && now.mono_ns - t->second < roam_interval_ns) {
        ++_roam.rate_limited;  // the worker reports again while packets keep coming from there
        return;
    }
    // The peer's own packets from an address we do not send to: its direct path goes there --
    // also when it is routed now (an address-less peer whose handshake came through a router
    // but which reaches us directly: GVPE follows an authenticated packet's source the same
    // way; the learned endpoint of an address-less peer rests on the same proof). Unless the
    // rules keep it routed (allow/deny-direct, no common transport): then nothing moves.
    const std::string was = cur->via != 0 ? "through router node " + std::to_string(cur->via) : cur->ip.str();
    const auto prev = _roamed.find(peer);
    const bool had = prev != _roamed.end();
    std::vector<uint8_t> old = had ? prev->second : std::vector<uint8_t>{};
    _roamed[peer] = src.encode();
    update_paths();
    const peer_path* moved = _peers->path(peer);
    if (moved == nullptr || moved->via != 0 || moved->ip != src.ip) {
        if (had) {
            _roamed[peer] = std::move(old);
        } else {
            _roamed.erase(peer);
        }
        update_paths();
        ++_roam.not_direct;
        return;
    }
    _roam_moved_ns[peer] = now.mono_ns;
    ++_roam.moves;
    log::notice("node " + n->name + " moved: authenticated packets from " + std::string(transport::kind_name(src.k)) +
                " " + src.ip.str() + (transport::is_udp(src.k) ? ":" + std::to_string(src.udp_port) : std::string()) +
                ", was " + was);
    _sessions->on_endpoint_changed(peer, acts);  // node-change with the new address
}

void daemon::forget_roamed(uint16_t peer) {
    if (_roamed.erase(peer) != 0) {
        update_paths();
    }
}

void daemon::forget_learned(uint16_t peer) {
    // A peer without a hostname that went down may be where we last saw it no more, or that
    // path may be blocked: with a router in the mesh it is relayed again (and mediated afresh)
    // until its handshakes place it; without one, its last proven address is all we have.
    _mediation.forget(peer);
    const node_conf* n = _cfg.node(peer);
    if (n == nullptr || !n->hostname.empty()) {
        return;
    }
    const bool router = std::any_of(_cfg.nodes.begin(), _cfg.nodes.end(), [&](const node_conf& r) {
        return r.router_priority != 0 && r.id != n->id && r.id != _cfg.self_node().id;
    });
    if (router && _learned_endpoint.erase(peer) != 0) {
        update_paths();
    }
}

nlohmann::json daemon::reconnect(const std::string& node, const std::string& why) {
    if (!_sessions) {
        return {{"ok", false}, {"error", "no sessions (benchmark mode)"}};
    }
    std::vector<uint16_t> ids;
    if (node.empty()) {
        ids = _sessions->peer_ids();
    } else {
        const node_conf* n = nullptr;
        for (const auto& c : _cfg.nodes) {
            if (c.name == node) {
                n = &c;
            }
        }
        if (n == nullptr || n->id == _cfg.self_node().id) {
            return {{"ok", false}, {"error", "no peer named '" + node + "'"}};
        }
        ids.push_back(static_cast<uint16_t>(n->id));
    }
    const auto now = clock_now();
    session::actions acts;
    nlohmann::json done = nlohmann::json::array();
    nlohmann::json skipped = nlohmann::json::array();  // disabled, or `never` and down: left alone
    for (uint16_t id : ids) {
        // Where a peer roamed to stays: the new handshake goes there (usually it is our own
        // address that changed, and the peer learns it from this handshake and what follows).
        const bool started = _sessions->reconnect(id, now, acts);
        if (const node_conf* n = _cfg.node(id)) {
            (started ? done : skipped).push_back(n->name);
        }
    }
    execute(acts);
    log::notice("reconnect (" + why + "): " + (node.empty() ? std::string("every peer") : node));
    return {{"ok", true}, {"reconnecting", done}, {"left_alone", skipped}};
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
        mediation_iteration(now);
        _next_feedback_tsc = tsc + rte_get_tsc_hz() / 20;  // 50 ms
    }
    _sessions->tick(now, acts);
    execute(acts);
    if (_dirty) {
        _snap->publish(_peers->build(_base));
        _dirty = false;
    }
    if (!_queue.empty() || !_relay_queue.empty()) {
        flush_queues();
    }
    _rcu->poll();
}

}  // namespace control
