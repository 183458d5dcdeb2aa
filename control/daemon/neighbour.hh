// SPDX-License-Identifier: MIT
// Underlay neighbour resolution for WAN next hops: ARP (RFC 826) for IPv4, Neighbor Discovery
// (RFC 4861) for IPv6. The table is owned by the control thread: workers answer ARP requests and
// neighbour solicitations for our addresses themselves but hand ARP replies and neighbour
// advertisements to control, which learns them here and asks again when an entry goes stale.
// Static entries (`neighbour` in the config) never expire and are never overwritten. The
// resolved MACs reach the workers inside the per-peer header templates.
// ARP and NDP are unauthenticated, so an answer is only taken for an entry we have asked about
// since its last answer (an outstanding request: incomplete, or stale and asked again); the first
// answer to a request wins. Anything else — a gratuitous ARP, an unsolicited advertisement, a
// second answer, a spoofed reply for a resolved neighbour — is ignored and counted
// (entry::unsolicited), so it can neither flip a resolved path nor flood the log. The change log
// line is rate limited per neighbour (learn_result).
// Threads: control thread only.
#pragma once

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "transports/ip.hh"

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <optional>
#include <utility>
#include <vector>

namespace control {

using transport::ip_address;  // transports/ip.hh: the neighbour table's key

/// Builds a neighbour solicitation for target (RFC 4861 §7.2.2): to its solicited-node
/// multicast address and MAC, hop limit 255, with our link-layer address. nullptr if the pool
/// is empty.
rte_mbuf* build_neighbour_solicitation(rte_mempool* pool, uint16_t port_id, const rte_ether_addr& sender_mac,
                                       const uint8_t* sender_ip6, const uint8_t* target_ip6) noexcept;

/// Target (IPv6, MAC) of a neighbour advertisement a worker handed over (the target link-layer
/// address option, else the Ethernet source); nullopt if the frame is not a valid one.
std::optional<std::pair<ip_address, rte_ether_addr>> parse_neighbour_advertisement(const rte_mbuf* m) noexcept;

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
        ip_address ip;
        rte_ether_addr mac{};
        state st = state::incomplete;
        uint64_t updated_tsc = 0;
        uint64_t requested_tsc = 0;
        uint32_t requests = 0;       // requests since the last accepted answer (0: none outstanding)
        uint64_t unsolicited = 0;    // answers ignored: no request of ours outstanding
        uint64_t logged_tsc = 0;     // when a change of this entry was last logged
        bool logged = false;         // a change was ever logged
        uint32_t suppressed = 0;     // changes since then that were not logged
    };
    /// What learn() did. Converts to true when the entry changed (the caller recomputes paths).
    struct learn_result {
        bool changed = false;     // a new MAC, or the first answer for an incomplete entry
        bool log = false;         // log the change now: at most once per log interval per neighbour
        uint32_t suppressed = 0;  // changes of this neighbour not logged since the last logged one
        explicit operator bool() const noexcept { return changed; }
    };

    /// At most one logged change per neighbour per \p cycles (TSC); 0 (the default) logs every one.
    void set_log_interval(uint64_t cycles) noexcept { _log_interval = cycles; }

    void add_static(uint16_t port_id, const ip_address& ip, const rte_ether_addr& mac);
    /// Marks ip as wanted (a next hop): the control loop keeps it resolved.
    void want(uint16_t port_id, const ip_address& ip);
    /// Learns from an ARP reply / neighbour advertisement: only for a wanted (or known) address
    /// with a request of ours outstanding (see the top of this file); static entries never
    /// change. Anything else is ignored and counted in the entry's `unsolicited`.
    learn_result learn(uint16_t port_id, const ip_address& ip, const rte_ether_addr& mac, uint64_t now_tsc);
    [[nodiscard]] std::optional<rte_ether_addr> lookup(uint16_t port_id, const ip_address& ip) const;
    // IPv4 forms.
    void add_static(uint16_t port_id, rte_be32_t ip, const rte_ether_addr& mac) {
        add_static(port_id, ip_address::from_v4(ip), mac);
    }
    void want(uint16_t port_id, rte_be32_t ip) { want(port_id, ip_address::from_v4(ip)); }
    learn_result learn(uint16_t port_id, rte_be32_t ip, const rte_ether_addr& mac, uint64_t now_tsc) {
        return learn(port_id, ip_address::from_v4(ip), mac, now_tsc);
    }
    [[nodiscard]] std::optional<rte_ether_addr> lookup(uint16_t port_id, rte_be32_t ip) const {
        return lookup(port_id, ip_address::from_v4(ip));
    }
    /// Entries that need an ARP request now (incomplete, or reachable for longer than
    /// reachable_cycles). Updates their request time and counts the request (which makes one
    /// answer acceptable); retries at most once per retry_cycles.
    std::vector<entry*> due(uint64_t now_tsc, uint64_t reachable_cycles, uint64_t retry_cycles);
    [[nodiscard]] std::vector<entry> entries() const;
    /// Entries on port_id (site LAN hosts: control/daemon/site_lan.cc).
    [[nodiscard]] size_t count(uint16_t port_id) const;
    /// Forgets the entries of port_id that did not answer: incomplete or stale with at least
    /// `max_requests` requests since their last answer (a LAN host that never existed, or left).
    /// Only for ports whose entries are wanted on demand (a routed LAN), never the WAN's next
    /// hops. Returns how many went, and whether a resolved one (stale) was among them.
    struct forgotten {
        size_t n = 0;
        bool resolved = false;
    };
    forgotten forget_unanswered(uint16_t port_id, uint32_t max_requests);
    /// Answers ignored over the whole table (unsolicited, for an unwanted address, for a static one).
    [[nodiscard]] uint64_t ignored() const noexcept { return _ignored; }

private:
    std::map<std::pair<uint16_t, ip_address>, entry> _t;
    uint64_t _log_interval = 0;
    uint64_t _ignored = 0;
};

}  // namespace control
