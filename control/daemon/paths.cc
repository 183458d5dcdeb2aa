// SPDX-License-Identifier: MIT
// Peer paths: the value type, the policy and the one builder; see paths.hh.
#include "control/daemon/paths.hh"

#include <algorithm>
#include <cstring>

#include "control/daemon/routing.hh"

namespace control {

namespace {

bool same_mac(const std::optional<rte_ether_addr>& a, const std::optional<rte_ether_addr>& b) noexcept {
    return a.has_value() == b.has_value() && (!a || rte_is_same_ether_addr(&*a, &*b));
}

constexpr size_t source_len = 1 + 2 + 16 + 1 + 2 + 6;

}  // namespace

std::optional<transport::kind> choose_transport(uint8_t ours, uint8_t theirs, bool v6) noexcept {
    const uint8_t common = ours & theirs;
    if (common & proto_rawip) {
        return v6 ? transport::kind::rawip6 : transport::kind::rawip4;
    }
    if (common & proto_icmp) {
        return v6 ? transport::kind::icmp6 : transport::kind::icmp4;
    }
    if (common & proto_udp) {
        return v6 ? transport::kind::udp6 : transport::kind::udp4;
    }
    if (common & proto_tcp) {
        return v6 ? transport::kind::tcp6 : transport::kind::tcp4;
    }
    if (common & proto_dns) {
        return transport::kind::dns4;  // no address family: through the resolver, by node id
    }
    return std::nullopt;
}

bool from_lane_port(const node_conf& n, uint16_t port) noexcept {
    const uint16_t base = transport::udp_lane_port_base(static_cast<uint16_t>(n.id));
    return port >= base && port < base + transport::udp_lanes;
}

namespace {

/// The one udp port rule (docs/protocol.md "Endpoints"): whether peer `n` is sent to at the
/// port `src` came from -- a udp-port 0 peer (it connects out only), or one without a hostname
/// (behind a NAT) unless that port is one of its lane ports (an earlier release, which receives
/// only at its udp-port) -- and then from our udp-port on every lane, and whether roaming
/// follows the port (one port: its lanes all send from its udp-port).
struct seen_port {
    bool use = false;
    bool follow = false;
};
seen_port at_seen_port(const node_conf& n, const source_addr& src) noexcept {
    seen_port r;
    r.use = transport::is_udp(src.k) && src.udp_port != 0 &&
            (n.udp_port == 0 || (n.hostname.empty() && !from_lane_port(n, src.udp_port)));
    r.follow = r.use && n.udp_port != 0;
    return r;
}

}  // namespace

icmp_header_choice icmp_for(const node_conf& self, const node_conf& peer, const source_addr* seen, uint8_t icmp_type,
                            bool v6) noexcept {
    const auto mapped = [v6](uint8_t t) { return v6 ? transport::icmp6_type_for(t) : t; };
    icmp_header_choice c{mapped(icmp_type), static_cast<uint16_t>(self.id)};
    if (!transport::is_echo_type(icmp_type)) {
        return c;
    }
    if (peer.hostname.empty() && seen != nullptr && transport::is_icmp(seen->k) && seen->icmp_request &&
        transport::is_ipv6(seen->k) == v6) {
        return {mapped(transport::icmp_echo_reply), seen->udp_port, true};
    }
    if (self.hostname.empty()) {
        c.type = mapped(transport::icmp_echo_request);
    }
    return c;
}

uint8_t proto_of(transport::kind k) noexcept {
    return transport::is_udp(k) ? proto_udp : transport::is_rawip(k) ? proto_rawip : transport::is_tcp(k) ? proto_tcp : transport::is_dns(k) ? proto_dns : proto_icmp;
}

bool operator==(const peer_path& a, const peer_path& b) noexcept {
    return a.kind == b.kind && a.ip == b.ip && a.udp_port == b.udp_port && a.ip_proto == b.ip_proto &&
           a.icmp_type == b.icmp_type && a.icmp_id == b.icmp_id && a.port_id == b.port_id && a.mtu == b.mtu && a.src_ip == b.src_ip &&
           rte_is_same_ether_addr(&a.src_mac, &b.src_mac) && same_mac(a.next_hop_mac, b.next_hop_mac) &&
           a.via == b.via && a.inherit_tos == b.inherit_tos && a.sport_fixed == b.sport_fixed &&
           a.follow_port == b.follow_port && a.stream_connect == b.stream_connect;
}

bool build_path(const peer_path& path, uint16_t self_id, engine::peer_entry& e) {
    if (!path.next_hop_mac && !transport::is_stream(path.kind)) {
        return false;  // tcp: the kernel's neighbours, not ours
    }
    transport::endpoint_pair ep;
    ep.src_mac = path.src_mac;
    ep.dst_mac = path.next_hop_mac.value_or(rte_ether_addr{});
    ep.stream_connect = path.stream_connect;
    ep.src_ip = path.src_ip;
    ep.dst_ip = path.ip;
    ep.dst_port = path.udp_port;
    ep.ip_proto = path.ip_proto;
    ep.icmp_type = path.icmp_type;
    ep.icmp_id = path.icmp_id;
    auto t = transport::build_template(path.kind, ep);
    if (!t) {
        return false;
    }
    e.tmpl = *t;
    e.tx_port_id = path.port_id;
    e.tx_mtu = path.mtu;
    e.tos_mask = path.inherit_tos ? 0xfc : 0;
    // One source port per lane (the receiver's RSS spreads lanes over its workers), or our
    // udp-port on every lane towards a udp-port 0 peer (its NAT maps back only that one).
    const bool fixed = transport::is_udp(path.kind) && path.sport_fixed != 0;
    e.udp_sport_base = fixed ? path.sport_fixed : transport::udp_lane_port_base(self_id);
    e.udp_sport_step = fixed ? 0 : 1;
    e.follow_port = (transport::is_udp(path.kind) || transport::is_icmp(path.kind)) && path.follow_port && path.via == 0;
    return true;
}

std::vector<uint8_t> source_addr::encode() const {
    std::vector<uint8_t> b(source_len);
    b[0] = static_cast<uint8_t>(k);
    std::memcpy(&b[1], &port_id, 2);
    std::memcpy(&b[3], ip.bytes.data(), 16);
    b[19] = static_cast<uint8_t>((ip.v6 ? 1 : 0) | (icmp_request ? 2 : 0));
    std::memcpy(&b[20], &udp_port, 2);
    std::memcpy(&b[22], mac.addr_bytes, 6);
    return b;
}

std::optional<source_addr> source_addr::decode(std::span<const uint8_t> b) {
    if (b.size() != source_len || b[0] >= transport::n_kinds) {
        return std::nullopt;
    }
    source_addr a{};
    a.k = static_cast<transport::kind>(b[0]);
    std::memcpy(&a.port_id, &b[1], 2);
    std::memcpy(a.ip.bytes.data(), &b[3], 16);
    if ((b[19] & ~3U) != 0) {
        return std::nullopt;
    }
    a.ip.v6 = (b[19] & 1U) != 0;
    a.icmp_request = (b[19] & 2U) != 0;
    std::memcpy(&a.udp_port, &b[20], 2);
    std::memcpy(a.mac.addr_bytes, &b[22], 6);
    return a;
}

peer_path answer_path(const source_addr& src, const node_conf& peer, const node_conf& self, const global_conf& g,
                      const transport::local_config& local, const rte_ether_addr& port_mac) {
    const bool v6 = transport::is_ipv6(src.k);
    peer_path p;
    p.kind = src.k;
    p.ip = src.ip;
    if (transport::is_stream(src.k)) {
        // Back on the connection it came in on (the slow path's, by its remote endpoint).
        p.udp_port = src.udp_port;
        p.port_id = src.port_id;
        p.src_ip = v6 ? transport::ip_address::from_v6(local.ipv6.data()) : transport::ip_address::from_v4(local.ipv4);
        return p;
    }
    // Senders use one source port per lane (for the receiver's RSS) and a receiver accepts only
    // its own udp-port, so the answer goes there. A udp-port 0 peer connects out only: it is
    // answered at the source port (one of its lane ports, or its NAT's mapping of one), from
    // our udp-port, the one its NAT maps back.
    // A peer without a hostname (behind a NAT) too: answered at the source port, from our
    // udp-port (see direct_path). A node without a hostname sends from its udp-port always.
    const seen_port at = at_seen_port(peer, src);
    p.udp_port = at.use || peer.udp_port == 0 ? src.udp_port : peer.udp_port;
    p.follow_port = at.follow;
    p.sport_fixed = transport::is_udp(src.k) && (at.use || self.hostname.empty())
                        ? static_cast<uint16_t>(self.udp_port)
                        : 0;
    p.ip_proto = g.ip_proto;
    if (transport::is_icmp(src.k)) {
        const icmp_header_choice ic = icmp_for(self, peer, &src, g.icmp_type, v6);
        p.icmp_type = ic.type;
        p.icmp_id = ic.id;
        p.follow_port = ic.at_seen_id;
    } else {
        p.icmp_type = v6 ? transport::icmp6_type_for(g.icmp_type) : g.icmp_type;
    }
    p.port_id = src.port_id;
    p.src_ip = v6 ? transport::ip_address::from_v6(local.ipv6.data()) : transport::ip_address::from_v4(local.ipv4);
    p.src_mac = port_mac;
    p.next_hop_mac = src.mac;
    return p;
}

relay_finder::relay_finder(const config& cfg, const std::function<const peer_path*(uint16_t)>& current) : _cfg(cfg) {
    for (const auto& r : cfg.nodes) {
        if (r.id == cfg.self_node().id || r.router_priority == 0) {
            continue;
        }
        const peer_path* p = current(static_cast<uint16_t>(r.id));
        if (p != nullptr && p->via == 0) {
            _direct.emplace_back(static_cast<uint16_t>(r.id), p->ip);
        }
    }
}

uint16_t relay_finder::operator()(uint16_t peer, const transport::ip_address& src_ip) const {
    if (std::all_of(src_ip.bytes.begin(), src_ip.bytes.end(), [](uint8_t b) { return b == 0; })) {
        return 0;  // a dns source (by node id, no address): no router's address
    }
    for (const auto& [id, ip] : _direct) {
        if (id != peer && ip == src_ip) {
            return id;
        }
    }
    return 0;
}

uint16_t relay_finder::operator()(uint16_t peer, const source_addr& src) const {
    if (transport::is_dns(src.k)) {
        const node_conf* r = _cfg.node(src.udp_port);
        return src.udp_port != peer && r != nullptr && r->id != _cfg.self_node().id && r->router_priority >= 1
                   ? src.udp_port
                   : 0;
    }
    return (*this)(peer, src.ip);
}

uint16_t relaying_router(const config& cfg, uint16_t peer, const transport::ip_address& src_ip,
                         const std::function<const peer_path*(uint16_t)>& current) {
    return relay_finder(cfg, current)(peer, src_ip);
}

namespace {

/// dns: we query peer `n` through our resolver (dns-forw-host, which always has a value) when
/// both enable dns and it serves a domain. Reached by node id, not by address.
bool dns_to_server(const config& cfg, const node_conf& n) {
    const node_conf& self = cfg.self_node();
    return (self.protocols & n.protocols & proto_dns) != 0 && !n.dns_domain.empty();
}

peer_path dns_path_to(const config& cfg, const path_inputs& in, const node_conf& n, bool to_server) {
    peer_path p;
    p.kind = transport::kind::dns4;
    p.udp_port = static_cast<uint16_t>(n.id);  // the ring header names the peer by id
    p.stream_connect = to_server;              // we send queries; else we answer its queries
    p.port_id = in.tcp_port_id.value_or(0);
    p.mtu = static_cast<uint16_t>(cfg.global.mtu);
    return p;
}

}  // namespace

uint16_t relaying_router(const config& cfg, uint16_t peer, const source_addr& src,
                         const std::function<const peer_path*(uint16_t)>& current) {
    return relay_finder(cfg, current)(peer, src);
}

direct_result direct_path(const config& cfg, const path_inputs& in, const node_conf& n, const transport::ip_address& ip,
                          const std::optional<source_addr>& src) {
    const node_conf& self = cfg.self_node();
    direct_result r;
    // A peer reached where it was seen (udp-port 0: it connects out only; no hostname: behind a
    // NAT or without a fixed address) gets udp data at the port its packets came from (its
    // udp-port, or a lane port of a udp-port 0 node, or the NAT's mapping of either), from our
    // udp-port on every lane: a NAT in front of it maps back only the port pair it saw. Before
    // it was seen, a udp-port 0 peer has no udp. A node without a hostname sends every udp
    // packet from its udp-port too (as GVPE's one socket), so its NAT's mappings stay one.
    uint8_t theirs = n.protocols;
    uint16_t udp_port = n.udp_port;
    uint16_t sport_fixed = self.hostname.empty() ? static_cast<uint16_t>(self.udp_port) : 0;
    bool follow_port = false;
    if (const seen_port at = src ? at_seen_port(n, *src) : seen_port{}; at.use) {
        udp_port = src->udp_port;
        sport_fixed = static_cast<uint16_t>(self.udp_port);  // 0 when we connect out too: lanes
        follow_port = at.follow;
    } else if (n.udp_port == 0) {
        theirs = static_cast<uint8_t>(theirs & ~proto_udp);
    }
    // tcp: a peer that opened a connection to us without a hostname (behind a NAT, or no fixed
    // address) or with tcp-port 0 (it connects out only) is sent to on that connection; else
    // at its tcp-port, which the slow path may connect to. Before that a tcp-port 0 peer has
    // no tcp. Without the slow path (no enable-tcp here) nothing goes by tcp.
    const bool tcp_seen = src && transport::is_tcp(src->k) && (n.tcp_port == 0 || n.hostname.empty());
    if ((n.tcp_port == 0 && !tcp_seen) || !in.tcp_port_id) {
        theirs = static_cast<uint8_t>(theirs & ~proto_tcp);
    }
    const bool dns_seen = src && transport::is_dns(src->k) && !self.dns_domain.empty();
    if ((!dns_to_server(cfg, n) && !dns_seen) || !in.tcp_port_id) {
        theirs = static_cast<uint8_t>(theirs & ~proto_dns);
    }
    // A peer without a hostname is reached by the transport it was seen on, if we both still
    // enable it (through a NAT, what got through once gets through again); else, and for a
    // configured address, by the preferred one.
    std::optional<transport::kind> kind;
    if (n.hostname.empty() && src && src->ip.v6 == ip.v6 &&
        (self.protocols & theirs & proto_of(src->k)) != 0) {
        kind = src->k;
    }
    if (!kind) {
        kind = choose_transport(self.protocols, theirs, ip.v6);
    }
    if (!kind) {
        r.outcome = direct_outcome::no_transport;
        return r;
    }
    if (transport::is_dns(*kind)) {
        r.path = dns_path_to(cfg, in, n, dns_to_server(cfg, n));
        r.outcome = direct_outcome::path;
        return r;
    }
    // Our WAN address of the same family (the first, in config order) and its port.
    for (const auto& wa : self.engine.wan_addresses) {
        if (wa.addr.v6 != ip.v6) {
            continue;
        }
        const path_inputs::wan_port* wp = nullptr;
        for (const auto& p : in.ports) {
            if (p.name == wa.port) {
                wp = &p;
            }
        }
        if (wp == nullptr) {
            continue;
        }
        peer_path& path = r.path;
        path.kind = *kind;
        path.ip = ip;
        path.udp_port = udp_port;
        path.ip_proto = cfg.global.ip_proto;
        path.icmp_type = ip.v6 ? transport::icmp6_type_for(cfg.global.icmp_type) : cfg.global.icmp_type;
        if (transport::is_icmp(*kind)) {
            const icmp_header_choice ic = icmp_for(self, n, src ? &*src : nullptr, cfg.global.icmp_type, ip.v6);
            path.icmp_type = ic.type;
            path.icmp_id = ic.id;
            path.follow_port = ic.at_seen_id;
        }
        if (transport::is_tcp(*kind)) {
            path.udp_port = tcp_seen ? src->udp_port : static_cast<uint16_t>(n.tcp_port);
            path.stream_connect = !tcp_seen;
            path.follow_port = tcp_seen;  // a reconnect from a new port moves it (roaming)
            path.port_id = *in.tcp_port_id;
            // The WAN's MTU, as for the other transports: not for the TCP segments (the kernel
            // cuts those) but because the receiver's mbufs hold a packet of that size.
            path.mtu = wp->mtu != 0 ? wp->mtu : static_cast<uint16_t>(cfg.global.mtu);
            path.src_ip = wa.addr;
            path.inherit_tos = false;
            r.outcome = direct_outcome::path;
            return r;
        }
        path.port_id = wp->port_id;
        path.mtu = wp->mtu != 0 ? wp->mtu : static_cast<uint16_t>(cfg.global.mtu);
        path.src_ip = wa.addr;
        path.src_mac = wp->mac;
        path.inherit_tos = n.inherit_tos;
        path.sport_fixed = transport::is_udp(*kind) ? sport_fixed : 0;
        path.follow_port = transport::is_udp(*kind) ? follow_port : path.follow_port;
        // The next hop: on-link, the peer itself; else the port's gateway of that family.
        std::optional<transport::ip_address> hop;
        if (wa.addr.same_subnet(ip, wa.prefix)) {
            hop = ip;
        } else {
            for (const auto& g : self.engine.wan_gateways) {
                if (g.port == wa.port && g.addr.v6 == ip.v6) {
                    hop = g.addr;
                }
            }
        }
        if (hop && in.neighbour) {
            path.next_hop_mac = in.neighbour(wp->port_id, *hop);
        }
        r.outcome = direct_outcome::path;
        return r;
    }
    r.outcome = direct_outcome::no_wan;
    return r;
}

std::vector<std::pair<uint16_t, peer_path>> choose_paths(const config& cfg, const path_inputs& in) {
    const node_conf& self = cfg.self_node();
    std::vector<std::pair<uint16_t, peer_path>> out;
    std::vector<const node_conf*> routed;
    // The routers with a direct path, listed once: asked below for every peer with an endpoint.
    const std::optional<relay_finder> relayed_by =
        in.current ? std::optional<relay_finder>(std::in_place, cfg, in.current) : std::nullopt;
    // An endpoint from `map` (learned from a handshake, or roamed to by authenticated data),
    // unless it is a router's address: a handshake (or rekey) relayed by a router comes from
    // the router, which is where the router is, not the peer (it stays routed below).
    auto endpoint_in = [&](const std::map<uint16_t, std::vector<uint8_t>>* map,
                           unsigned id) -> std::optional<source_addr> {
        if (map == nullptr) {
            return std::nullopt;
        }
        auto it = map->find(static_cast<uint16_t>(id));
        auto a = it == map->end() ? std::nullopt : source_addr::decode(it->second);
        if (a && relayed_by && (*relayed_by)(static_cast<uint16_t>(id), *a) != 0) {
            return std::nullopt;
        }
        return a;
    };
    auto learned = [&](unsigned id) { return endpoint_in(in.learned, id); };
    auto roamed = [&](unsigned id) { return endpoint_in(in.roamed, id); };
    for (const auto& n : cfg.nodes) {
        if (n.id == self.id) {
            continue;
        }
        if (!admits_direct(self, n) || !admits_direct(n, self)) {
            routed.push_back(&n);  // allow-direct / deny-direct: only through a router
            continue;
        }
        // Where it is: where its authenticated data came from if it roamed, else its hostname if
        // that is an IP literal, else the last good DNS answer for it, else where its last
        // proven handshake came from.
        const std::optional<source_addr> moved = roamed(n.id);
        std::optional<transport::ip_address> ip =
            moved ? std::optional<transport::ip_address>(moved->ip) : transport::ip_address::parse(n.hostname);
        if (!ip && !n.hostname.empty()) {
            if (auto it = in.resolved.find(static_cast<uint16_t>(n.id));
                it != in.resolved.end() && it->second.first == n.hostname) {
                ip = it->second.second;
            }
        }
        const std::optional<source_addr> src = moved ? moved : learned(n.id);
        if (!ip && src) {
            ip = src->ip;
        }
        if (!ip && in.tcp_port_id && dns_to_server(cfg, n) && !src) {
            // A dns server needs no address of ours: our resolver finds it by its domain.
            out.emplace_back(static_cast<uint16_t>(n.id), dns_path_to(cfg, in, n, true));
            continue;
        }
        if (!ip) {
            // No address (no IP literal, no DNS answer, no endpoint of its own learned): relayed
            // through the router find_router() picks, or waiting in the queue (max-queue,
            // max-ttl). Handshakes go first to an endpoint a router told us of (mediation:
            // daemon_mediation.cc, used by daemon_sessions.cc), and once one completes there the
            // peer's source is learned: `src` above, a direct path.
            routed.push_back(&n);
            continue;
        }
        switch (auto d = direct_path(cfg, in, n, *ip, src); d.outcome) {
        case direct_outcome::path: out.emplace_back(static_cast<uint16_t>(n.id), d.path); break;
        case direct_outcome::no_transport: routed.push_back(&n); break;  // only through a router
        case direct_outcome::no_wan: break;
        }
    }
    // Peers we may not or cannot reach directly go through the router GVPE's rules pick among
    // the nodes we have a session with; the packets keep the peer as dvpe destination.
    std::map<uint16_t, size_t> direct;  // node id -> index in out
    for (size_t i = 0; i < out.size(); ++i) {
        direct.emplace(out[i].first, i);
    }
    auto path_of = [&](uint16_t id) -> const peer_path* {
        if (auto it = direct.find(id); it != direct.end()) {
            return &out[it->second].second;
        }
        return in.current ? in.current(id) : nullptr;
    };
    // Which routers are up, asked once (not once per routed peer).
    const std::vector<const node_conf*> routers =
        routed.empty() || !in.connected ? std::vector<const node_conf*>{} : connected_routers(cfg, in.connected);
    for (const node_conf* n : routed) {
        auto r = find_router(routers, self, *n);
        const peer_path* rp = r ? path_of(static_cast<uint16_t>(*r)) : nullptr;
        if (rp == nullptr || rp->via != 0) {
            continue;
        }
        peer_path p = *rp;  // a copy: out may grow below
        p.via = static_cast<uint16_t>(*r);
        p.inherit_tos = n->inherit_tos;
        out.emplace_back(static_cast<uint16_t>(n->id), p);
    }
    return out;
}

}  // namespace control
