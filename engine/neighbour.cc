// SPDX-License-Identifier: MIT
// ARP request construction and the control thread's neighbour table; see neighbour.hh.
#include "engine/neighbour.hh"

#include <rte_arp.h>

#include <cstring>

namespace engine {

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

void neighbour_table::add_static(uint16_t port_id, rte_be32_t ip, const rte_ether_addr& mac) {
    entry& e = _t[{port_id, ip}];
    e.port_id = port_id;
    e.ip = ip;
    e.mac = mac;
    e.st = state::permanent;
}

void neighbour_table::want(uint16_t port_id, rte_be32_t ip) {
    auto [it, inserted] = _t.try_emplace({port_id, ip});
    if (inserted) {
        it->second.port_id = port_id;
        it->second.ip = ip;
    }
}

bool neighbour_table::learn(uint16_t port_id, rte_be32_t ip, const rte_ether_addr& mac, uint64_t now_tsc) {
    auto it = _t.find({port_id, ip});
    if (it == _t.end() || it->second.st == state::permanent) {
        return false;
    }
    entry& e = it->second;
    bool changed = e.st != state::reachable || !rte_is_same_ether_addr(&e.mac, &mac);
    e.mac = mac;
    e.st = state::reachable;
    e.updated_tsc = now_tsc;
    e.requests = 0;
    return changed;
}

std::optional<rte_ether_addr> neighbour_table::lookup(uint16_t port_id, rte_be32_t ip) const {
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

std::vector<neighbour_table::entry> neighbour_table::entries() const {
    std::vector<entry> out;
    out.reserve(_t.size());
    for (const auto& [key, e] : _t) {
        out.push_back(e);
    }
    return out;
}

}  // namespace engine
