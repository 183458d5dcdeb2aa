// SPDX-License-Identifier: MIT
// Underlay neighbour resolution (ARP, RFC 826) for WAN next hops. The table is owned by the
// control thread: workers answer ARP requests themselves but hand ARP replies to control, which
// learns them here and asks again when an entry goes stale. Static entries (`neighbour` in the
// config) never expire and are never overwritten by ARP. The data-plane issue publishes the
// resolved MACs to workers inside its per-peer header templates.
// Threads: control thread only.
#pragma once

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace engine {

/// Builds a broadcast ARP request "who has target_ip, tell sender_ip" on port_id.
/// Returns nullptr if the pool is empty.
rte_mbuf* build_arp_request(rte_mempool* pool, uint16_t port_id, const rte_ether_addr& sender_mac,
                            rte_be32_t sender_ip, rte_be32_t target_ip) noexcept;

/// Sender (IP, MAC) of an ARP reply or gratuitous ARP that a worker handed over; nullopt if
/// the frame is not one.
std::optional<std::pair<rte_be32_t, rte_ether_addr>> parse_arp_sender(const rte_mbuf* m) noexcept;

class neighbour_table {
public:
    enum class state : uint8_t { incomplete, reachable, stale, permanent };
    struct entry {
        uint16_t port_id = 0;
        rte_be32_t ip = 0;
        rte_ether_addr mac{};
        state st = state::incomplete;
        uint64_t updated_tsc = 0;
        uint64_t requested_tsc = 0;
        uint32_t requests = 0;
    };

    void add_static(uint16_t port_id, rte_be32_t ip, const rte_ether_addr& mac);
    /// Marks ip as wanted (a next hop): the control loop keeps it resolved.
    void want(uint16_t port_id, rte_be32_t ip);
    /// Learns from a reply; only wanted or already known addresses are stored (no table flooding).
    /// Returns true if the entry changed.
    bool learn(uint16_t port_id, rte_be32_t ip, const rte_ether_addr& mac, uint64_t now_tsc);
    [[nodiscard]] std::optional<rte_ether_addr> lookup(uint16_t port_id, rte_be32_t ip) const;
    /// Entries that need an ARP request now (incomplete, or reachable for longer than
    /// reachable_cycles). Updates their request time; retries at most once per retry_cycles.
    std::vector<entry*> due(uint64_t now_tsc, uint64_t reachable_cycles, uint64_t retry_cycles);
    [[nodiscard]] std::vector<entry> entries() const;

private:
    std::map<std::pair<uint16_t, rte_be32_t>, entry> _t;
};

}  // namespace engine
