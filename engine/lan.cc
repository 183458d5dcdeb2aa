// SPDX-License-Identifier: MIT
// The site LAN (docs/site-gateways.md): what a gateway does beyond node-MAC frames.
//   report_learn  bridge: a source MAC the table does not place where it was seen -> the learn
//                 ring (the control thread applies limits and publishes the next table);
//   lan_deliver   WAN -> LAN, after the tag verified and the replay window accepted the packet:
//                 bridge -- learn the source MAC at the sending peer, deliver to the LAN (node-
//                 MAC frames for us to the TAP); route -- accept an inner packet for one of our
//                 prefixes only from a source the sending node owns, decrement the hop limit,
//                 send it to the LAN host's MAC (unresolved: to the control thread, which asks);
//   route_burst   LAN -> WAN on a routed port: ARP/ND/echo for our lan-addresses answered
//                 (wan_host.cc), IP packets routed by longest prefix match to the owning node,
//                 hop limit decremented, sealed as node-MAC frames; ICMP errors (answer_icmp).
// Every packet leaves exactly one way (delivered, sealed, to control, or a named drop).
// Threads: the owning worker lcore only.
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <cstring>

#include "engine/worker.hh"

namespace engine {

namespace {

constexpr size_t eth_len = sizeof(rte_ether_hdr);
constexpr size_t ip4_len = sizeof(rte_ipv4_hdr);
constexpr size_t ip6_len = sizeof(rte_ipv6_hdr);

/// Decrements an IPv4 TTL and patches the checksum incrementally (RFC 1624 eqn. 3).
inline void ttl_decrement(rte_ipv4_hdr* ip) noexcept {
    --ip->time_to_live;
    // The TTL is the high byte of the 16-bit word it shares with the protocol: the word drops
    // by 0x0100, so the checksum rises by it (end-around carry).
    uint32_t sum = rte_be_to_cpu_16(ip->hdr_checksum) + 0x0100U;
    sum = (sum & 0xffff) + (sum >> 16);
    ip->hdr_checksum = rte_cpu_to_be_16(static_cast<uint16_t>(sum));
}

/// A plausible IPv4 header in [ip, ip + avail): version 4, IHL >= 5, total length within.
inline bool ipv4_ok(const rte_ipv4_hdr* ip, size_t avail) noexcept {
    const size_t ihl = static_cast<size_t>(ip->version_ihl & 0x0f) * 4;
    const size_t total = rte_be_to_cpu_16(ip->total_length);
    return (ip->version_ihl >> 4) == 4 && ihl >= ip4_len && total >= ihl && total <= avail && ihl <= avail;
}

inline bool ipv6_ok(const rte_ipv6_hdr* ip, size_t avail) noexcept {
    return (rte_be_to_cpu_32(ip->vtc_flow) >> 28) == 6 && ip6_len + rte_be_to_cpu_16(ip->payload_len) <= avail;
}

}  // namespace

void worker::report_learn(uint64_t mac, uint16_t owner) noexcept {
    const uint64_t ev = mac | static_cast<uint64_t>(owner) << 48;
    const unsigned h = static_cast<unsigned>((mac * 0x9e3779b97f4a7c15ULL) >> 56);
    const uint32_t now = _snap != nullptr ? _snap->now_s() : 0;
    if (_learn_recent[h] == ev && _learn_when[h] == now) {
        return;  // reported this second already: the next table will say it
    }
    if (_s.learn == nullptr || rte_ring_mp_enqueue(_s.learn, learn_event(mac, owner)) != 0) [[unlikely]] {
        _stats.learn_ring_full.add();  // not remembered: the next frame tries again
        return;
    }
    _learn_recent[h] = ev;
    _learn_when[h] = now;
    _stats.learn_events.add();
}

bool worker::learn_from_peer(const rte_ether_hdr* eth, const peer_entry& p, const dataplane_snapshot& s) noexcept {
    // Only an authenticated frame teaches where a MAC lives (callers run after the tag and the
    // replay window): its source is behind the sending peer -- unless that would take over a
    // MAC a `bridge-mac` line gives to someone else, or one a host on our own LAN used in the
    // last mac_hold_down_s seconds (a peer cannot pull a live local host's traffic to itself;
    // a host that really moved is re-learned once it has been quiet here that long).
    const uint64_t src = mac_key(eth->src_addr.addr_bytes);
    const int slot = s.macs->find(src);
    if (slot < 0) {
        report_learn(src, p.node_id);
        return true;
    }
    const uint16_t owner = s.macs->owner_at(slot);
    if (owner == p.node_id) {
        s.macs->touch(slot, s.now_s());
        return true;
    }
    if (s.macs->static_at(slot) ||
        (owner == mac_table::local && s.now_s() - s.macs->seen_at(slot) < mac_hold_down_s)) {
        return false;
    }
    report_learn(src, p.node_id);
    return true;
}

void worker::resolve_lan_host(rte_mbuf* m, const dataplane_snapshot& s) noexcept {
    // The control thread asks for the host's MAC; at a bounded rate, so a sweep of a prefix for
    // hosts that do not exist cannot flood its ring (handshakes share it).
    if (!_resolve_limit.allow(rte_rdtsc())) {
        drop(m, drop_reason::lan_unresolved);
        return;
    }
    m->port = s.lan_port_id;
    m->hash.usr = lan_resolve_mark;
    to_control(m);
}

bool worker::lan_deliver(rte_mbuf* m, const peer_entry& p, const dataplane_snapshot& s, bool full_frame) noexcept {
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    const uint32_t len = rte_pktmbuf_data_len(m);
    if (s.lan_mode == pmd::overlay_mode::bridge && s.macs != nullptr) {
        if (full_frame) {
            if (mac_key_is_group(mac_key(eth->src_addr.addr_bytes))) [[unlikely]] {
                drop(m, drop_reason::bad_source_mac);
                return false;
            }
            if (!learn_from_peer(eth, p, s)) {
                drop(m, drop_reason::mac_conflict);
                return false;
            }
        }
        if (rte_is_multicast_ether_addr(&eth->dst_addr)) {
            if (s.has_overlay) {
                local_copy(m, s.overlay_port_id);  // the TAP is on the segment too
            }
            send(m, s.lan_port_id);
            return true;
        }
        if (s.has_overlay && rte_is_same_ether_addr(&eth->dst_addr, &s.self_mac)) {
            send(m, s.overlay_port_id);
            return true;
        }
        // Never on to other peers (split horizon): the sender sent each peer its own copy.
        send(m, s.lan_port_id);
        return true;
    }
    // Route mode: an inner IP packet for one of our prefixes goes to the LAN; anything else to
    // the TAP as on any node.
    const route_table* rt = s.routes;
    const uint16_t et = eth->ether_type;
    if (rt == nullptr) {
        // No `route` line anywhere: nothing is ours to route (the TAP gets it, as below).
    } else if (et == RTE_BE16(RTE_ETHER_TYPE_IPV4) && len >= eth_len + ip4_len) {
        auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
        if (rt->lookup4(ip->dst_addr) == s.self_id) {
            if (!ipv4_ok(ip, len - eth_len)) [[unlikely]] {
                drop(m, drop_reason::not_routable);
                return false;
            }
            if (rt->lookup4(ip->src_addr) != p.node_id) {
                drop(m, drop_reason::spoofed_source);
                return false;
            }
            if (ip->time_to_live <= 1) {
                drop(m, drop_reason::ttl_expired);
                return false;
            }
            const rte_ether_addr* mac = s.lan_neigh != nullptr ? s.lan_neigh->find4(ip->dst_addr) : nullptr;
            if (mac == nullptr) {
                resolve_lan_host(m, s);
                return false;
            }
            ttl_decrement(ip);
            eth->dst_addr = *mac;
            eth->src_addr = s.lan_mac;
            send(m, s.lan_port_id);
            return true;
        }
    } else if (et == RTE_BE16(RTE_ETHER_TYPE_IPV6) && len >= eth_len + ip6_len) {
        auto* ip = reinterpret_cast<rte_ipv6_hdr*>(eth + 1);
        if (rt->lookup6(ip->dst_addr) == s.self_id) {
            if (!ipv6_ok(ip, len - eth_len)) [[unlikely]] {
                drop(m, drop_reason::not_routable);
                return false;
            }
            if (rt->lookup6(ip->src_addr) != p.node_id) {
                drop(m, drop_reason::spoofed_source);
                return false;
            }
            if (ip->hop_limits <= 1) {
                drop(m, drop_reason::ttl_expired);
                return false;
            }
            const rte_ether_addr* mac = s.lan_neigh != nullptr ? s.lan_neigh->find6(ip->dst_addr) : nullptr;
            if (mac == nullptr) {
                resolve_lan_host(m, s);
                return false;
            }
            --ip->hop_limits;
            eth->dst_addr = *mac;
            eth->src_addr = s.lan_mac;
            send(m, s.lan_port_id);
            return true;
        }
    }
    if (!s.has_overlay) {
        drop(m, drop_reason::no_overlay);
        return false;
    }
    send(m, s.overlay_port_id);
    return true;
}

void worker::answer_icmp(const rte_mbuf* m, const icmp_error& e, const port_ctx& port) noexcept {
    // From our first lan-address of the family and our port's MAC, back to the host; its own
    // budget: a LAN host cannot use up the "too big" answers (PMTU discovery).
    icmp_error from_us = e;
    from_us.src4 = port.n_ipv4 != 0 ? reinterpret_cast<const uint8_t*>(&port.ipv4[0]) : nullptr;
    from_us.src6 = port.n_ipv6 != 0 ? port.ipv6[0].data() : nullptr;
    send_icmp_error(m, from_us, port.port_id, &port.mac, _icmp_limit, _stats.icmp_errors);
}

void worker::route_burst(rte_mbuf** pkts, uint16_t n, const port_ctx& port, const dataplane_snapshot& s) noexcept {
    uint64_t encrypted = 0;
    const route_table* rt = s.routes;
    _egress_port = port.port_id;
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        if (i + 3 < n) {
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 3], void*));
        }
        if (rt != nullptr && i + 2 < n && rte_pktmbuf_data_len(pkts[i + 2]) >= eth_len + ip4_len) {
            // The route of the IPv4 packet two ahead (its frame was prefetched one packet ago).
            const auto* ah = rte_pktmbuf_mtod(pkts[i + 2], const rte_ether_hdr*);
            if (ah->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4)) {
                rt->prefetch4(reinterpret_cast<const rte_ipv4_hdr*>(ah + 1)->dst_addr);
            }
        }
        const uint32_t len = rte_pktmbuf_data_len(m);
        if (len < eth_len) [[unlikely]] {
            drop(m, drop_reason::bad_length);
            continue;
        }
        auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
        if (!rte_is_same_ether_addr(&eth->dst_addr, &port.mac)) {
            // Broadcast/multicast (ARP requests, neighbour solicitations) for the host part;
            // unicast to other MACs is none of ours (the port listens promiscuously).
            if (rte_is_multicast_ether_addr(&eth->dst_addr)) {
                process_wan(m, port);
            } else {
                drop(m, drop_reason::not_for_us);
            }
            continue;
        }
        int owner = route_table::none;
        if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4)) {
            auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
            if (len < eth_len + ip4_len || !ipv4_ok(ip, len - eth_len)) [[unlikely]] {
                drop(m, drop_reason::not_routable);
                continue;
            }
            if (port.owns_ipv4(ip->dst_addr)) {
                process_wan(m, port);  // to us: echo answered, the rest counted
                continue;
            }
            owner = rt != nullptr ? rt->lookup4(ip->dst_addr) : route_table::none;
            if (owner != route_table::none && owner != s.self_id && rt->lookup4(ip->src_addr) != s.self_id) {
                drop(m, drop_reason::spoofed_source);  // our LAN sends from our prefixes only
                continue;
            }
            if (owner != route_table::none && owner != s.self_id && ip->time_to_live > 1) {
                ttl_decrement(ip);
            } else if (owner != route_table::none && owner != s.self_id) {
                answer_icmp(m, icmp_time_exceeded, port);
                drop(m, drop_reason::ttl_expired);
                continue;
            }
        } else if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV6)) {
            auto* ip = reinterpret_cast<rte_ipv6_hdr*>(eth + 1);
            if (len < eth_len + ip6_len || !ipv6_ok(ip, len - eth_len)) [[unlikely]] {
                drop(m, drop_reason::not_routable);
                continue;
            }
            if (port.ipv6_index(ip->dst_addr) >= 0 || ip->dst_addr[0] == 0xff) {
                process_wan(m, port);  // to us (echo, neighbour discovery)
                continue;
            }
            owner = rt != nullptr ? rt->lookup6(ip->dst_addr) : route_table::none;
            if (owner != route_table::none && owner != s.self_id && rt->lookup6(ip->src_addr) != s.self_id) {
                drop(m, drop_reason::spoofed_source);
                continue;
            }
            if (owner != route_table::none && owner != s.self_id && ip->hop_limits > 1) {
                --ip->hop_limits;
            } else if (owner != route_table::none && owner != s.self_id) {
                answer_icmp(m, icmp_time_exceeded, port);
                drop(m, drop_reason::ttl_expired);
                continue;
            }
        } else {
            process_wan(m, port);  // ARP; anything else is counted there
            continue;
        }
        if (owner == route_table::none) {
            answer_icmp(m, icmp_net_unreachable, port);
            drop(m, drop_reason::no_prefix);
            continue;
        }
        if (owner == s.self_id) {
            drop(m, drop_reason::own_prefix);
            continue;
        }
        const peer_entry* p = s.peer(static_cast<uint16_t>(owner));
        if (p == nullptr) [[unlikely]] {
            drop(m, drop_reason::unknown_node);
            continue;
        }
        // A node-MAC frame to the owner: the MAC pair is elided on the wire, and rebuilt there.
        eth->dst_addr = p->mac;
        eth->src_addr = s.self_mac;
        if (!p->tx_ready) {
            _peer_stats[p->node_id].no_session.add();
            if (s.queue_without_session) {
                m->hash.usr = p->node_id;
                to_control(m);
            } else {
                drop(m, drop_reason::no_session);
            }
            continue;
        }
        encrypted += seal_one(m, *p, s, false);
    }
    if (!_sealer.empty()) {
        seal_flush();
    }
    _stats.encrypted.add(encrypted);
}

}  // namespace engine
