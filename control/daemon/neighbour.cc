// SPDX-License-Identifier: MIT
// ARP request construction and the control thread's neighbour table; see neighbour.hh.
#include "control/daemon/neighbour.hh"

#include <rte_arp.h>
#include <rte_ip.h>

#include <cstring>

#include "transports/checksum.hh"

namespace control {

rte_mbuf* build_arp_request(rte_mempool* pool, uint16_t port_id, const rte_ether_addr& sender_mac,
                            rte_be32_t sender_ip, rte_be32_t target_ip) noexcept {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
        return nullptr;
    }
    constexpr uint16_t len = sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr);
    auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, len));
    if (eth == nullptr) {
        rte_pktmbuf_free(m);
        return nullptr;
    }
    std::memset(&eth->dst_addr, 0xff, sizeof(eth->dst_addr));
    eth->src_addr = sender_mac;
    eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
    auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
    arp->arp_hardware = RTE_BE16(RTE_ARP_HRD_ETHER);
    arp->arp_protocol = RTE_BE16(RTE_ETHER_TYPE_IPV4);
    arp->arp_hlen = RTE_ETHER_ADDR_LEN;
    arp->arp_plen = 4;
    arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REQUEST);
    arp->arp_data.arp_sha = sender_mac;
    arp->arp_data.arp_sip = sender_ip;
    std::memset(&arp->arp_data.arp_tha, 0, sizeof(arp->arp_data.arp_tha));
    arp->arp_data.arp_tip = target_ip;
    m->port = port_id;
    return m;
}

std::optional<std::pair<rte_be32_t, rte_ether_addr>> parse_arp_sender(const rte_mbuf* m) noexcept {
    if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)) {
        return std::nullopt;
    }
    const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    if (eth->ether_type != RTE_BE16(RTE_ETHER_TYPE_ARP)) {
        return std::nullopt;
    }
    const auto* arp = reinterpret_cast<const rte_arp_hdr*>(eth + 1);
    if (rte_is_zero_ether_addr(&arp->arp_data.arp_sha) || !rte_is_unicast_ether_addr(&arp->arp_data.arp_sha)) {
        return std::nullopt;
    }
    return std::make_pair(arp->arp_data.arp_sip, arp->arp_data.arp_sha);
}

namespace {

constexpr size_t ip6_len = 40;
constexpr size_t nd_len = 24;      // type, code, checksum, flags/reserved, target
constexpr size_t lladdr_opt = 8;   // type, length (in 8-byte units), MAC

}  // namespace

rte_mbuf* build_neighbour_solicitation(rte_mempool* pool, uint16_t port_id, const rte_ether_addr& sender_mac,
                                       const uint8_t* sender_ip6, const uint8_t* target_ip6) noexcept {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
        return nullptr;
    }
    constexpr uint16_t len = sizeof(rte_ether_hdr) + ip6_len + nd_len + lladdr_opt;
    auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, len));
    if (eth == nullptr) {
        rte_pktmbuf_free(m);
        return nullptr;
    }
    std::memset(eth, 0, len);
    // Solicited-node multicast ff02::1:ffXX:XXXX and its MAC 33:33:ff:XX:XX:XX (RFC 4291 §2.7.1).
    const uint8_t mac[6] = {0x33, 0x33, 0xff, target_ip6[13], target_ip6[14], target_ip6[15]};
    std::memcpy(&eth->dst_addr, mac, 6);
    eth->src_addr = sender_mac;
    eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV6);
    auto* ip = reinterpret_cast<uint8_t*>(eth + 1);
    ip[0] = 0x60;
    ip[5] = nd_len + lladdr_opt;
    ip[6] = 58;
    ip[7] = 255;
    std::memcpy(ip + 8, sender_ip6, 16);
    const uint8_t group[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, target_ip6[13], target_ip6[14],
                               target_ip6[15]};
    std::memcpy(ip + 24, group, 16);
    uint8_t* ns = ip + ip6_len;
    ns[0] = 135;
    std::memcpy(ns + 8, target_ip6, 16);
    ns[24] = 1;  // source link-layer address
    ns[25] = 1;
    std::memcpy(ns + 26, sender_mac.addr_bytes, 6);
    const uint16_t c = transport::csum::icmp6_checksum(ip, ns, nd_len + lladdr_opt);
    std::memcpy(ns + 2, &c, 2);
    m->port = port_id;
    return m;
}

std::optional<std::pair<ip_address, rte_ether_addr>> parse_neighbour_advertisement(const rte_mbuf* m) noexcept {
    const size_t len = rte_pktmbuf_data_len(m);
    if (len < sizeof(rte_ether_hdr) + ip6_len + nd_len) {
        return std::nullopt;
    }
    const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    if (eth->ether_type != RTE_BE16(RTE_ETHER_TYPE_IPV6)) {
        return std::nullopt;
    }
    const auto* ip = reinterpret_cast<const uint8_t*>(eth + 1);
    const size_t plen = static_cast<size_t>(ip[4] << 8 | ip[5]);
    if (ip[6] != 58 || ip[7] != 255 || plen < nd_len || sizeof(rte_ether_hdr) + ip6_len + plen > len) {
        return std::nullopt;  // RFC 4861 §7.1.2: hop limit 255, ICMPv6 right after the header
    }
    const uint8_t* na = ip + ip6_len;
    if (na[0] != 136 || na[1] != 0 || transport::csum::icmp6_checksum(ip, na, plen) != 0 || (na[8] == 0xff)) {
        return std::nullopt;  // not an NA, bad checksum, or a multicast target
    }
    rte_ether_addr mac = eth->src_addr;
    for (size_t o = nd_len; o + 2 <= plen;) {
        const size_t olen = static_cast<size_t>(na[o + 1]) * 8;
        if (olen == 0 || o + olen > plen) {
            return std::nullopt;  // RFC 4861 §7.1.2: no zero-length options
        }
        if (na[o] == 2 && olen >= 8) {  // target link-layer address
            std::memcpy(mac.addr_bytes, na + o + 2, 6);
        }
        o += olen;
    }
    if (!rte_is_unicast_ether_addr(&mac) || rte_is_zero_ether_addr(&mac)) {
        return std::nullopt;
    }
    return std::make_pair(ip_address::from_v6(na + 8), mac);
}

void neighbour_table::add_static(uint16_t port_id, const ip_address& ip, const rte_ether_addr& mac) {
    entry& e = _t[{port_id, ip}];
    e.port_id = port_id;
    e.ip = ip;
    e.mac = mac;
    e.st = state::permanent;
}

void neighbour_table::want(uint16_t port_id, const ip_address& ip) {
    auto [it, inserted] = _t.try_emplace({port_id, ip});
    if (inserted) {
        it->second.port_id = port_id;
        it->second.ip = ip;
    }
}

neighbour_table::learn_result neighbour_table::learn(uint16_t port_id, const ip_address& ip, const rte_ether_addr& mac,
                                                    uint64_t now_tsc) {
    learn_result r;
    auto it = _t.find({port_id, ip});
    if (it == _t.end() || it->second.st == state::permanent) {
        ++_ignored;  // not an address we want (no table flooding), or a static entry
        return r;
    }
    entry& e = it->second;
    if (e.requests == 0) {
        ++e.unsolicited;  // nothing asked since the last answer: gratuitous, repeated or spoofed
        ++_ignored;
        return r;
    }
    r.changed = e.st == state::incomplete || !rte_is_same_ether_addr(&e.mac, &mac);
    e.mac = mac;
    e.st = state::reachable;
    e.updated_tsc = now_tsc;
    e.requests = 0;  // answered: the next answer needs the next request
    if (r.changed) {
        if (!e.logged || now_tsc - e.logged_tsc >= _log_interval) {
            r.log = true;
            r.suppressed = e.suppressed;
            e.suppressed = 0;
            e.logged = true;
            e.logged_tsc = now_tsc;
        } else {
            ++e.suppressed;
        }
    }
    return r;
}

std::optional<rte_ether_addr> neighbour_table::lookup(uint16_t port_id, const ip_address& ip) const {
    auto it = _t.find({port_id, ip});
    if (it == _t.end() || it->second.st == state::incomplete) {
        return std::nullopt;
    }
    return it->second.mac;
}

std::vector<neighbour_table::entry*> neighbour_table::due(uint64_t now_tsc, uint64_t reachable_cycles,
                                                          uint64_t retry_cycles) {
    std::vector<entry*> out;
    for (auto& [key, e] : _t) {
        if (e.st == state::permanent) {
            continue;
        }
        if (e.st == state::reachable && now_tsc - e.updated_tsc > reachable_cycles) {
            e.st = state::stale;  // keep using the MAC while asking again
        }
        if (e.st == state::reachable) {
            continue;
        }
        if (e.requests != 0 && now_tsc - e.requested_tsc < retry_cycles) {
            continue;
        }
        e.requested_tsc = now_tsc;
        ++e.requests;
        out.push_back(&e);
    }
    return out;
}

size_t neighbour_table::count(uint16_t port_id) const {
    auto it = _t.lower_bound({port_id, ip_address{}});
    size_t n = 0;
    for (; it != _t.end() && it->first.first == port_id; ++it) {
        ++n;
    }
    return n;
}

neighbour_table::forgotten neighbour_table::forget_unanswered(uint16_t port_id, uint32_t max_requests) {
    forgotten f;
    for (auto it = _t.lower_bound({port_id, ip_address{}}); it != _t.end() && it->first.first == port_id;) {
        const entry& e = it->second;
        if ((e.st == state::incomplete || e.st == state::stale) && e.requests >= max_requests) {
            f.resolved |= e.st == state::stale;
            ++f.n;
            it = _t.erase(it);
        } else {
            ++it;
        }
    }
    return f;
}

std::vector<neighbour_table::entry> neighbour_table::entries() const {
    std::vector<entry> out;
    out.reserve(_t.size());
    for (const auto& [key, e] : _t) {
        out.push_back(e);
    }
    return out;
}

}  // namespace control
