// SPDX-License-Identifier: MIT
// What a routing gateway's workers read (docs/site-gateways.md "Routing"): which node owns an
// inner address -- longest-prefix match over every node's `route` prefixes in DPDK's rte_lpm
// (IPv4, DIR-24-8) and rte_lpm6 -- and the MACs of the hosts on our site LAN (lan_neighbours).
// Both are immutable once built: the control thread builds new ones (the routes on start-up and
// reload, the neighbours when an ARP/ND answer arrives) and publishes them in the dataplane
// snapshot, whose grace period frees the old ones (engine/rcu.hh). rte_lpm's own lookups are
// lock-free only against a writer that never runs; building a fresh table keeps that true.
// Threads: built on the control thread; lookups from any worker.
#pragma once

#include <rte_ether.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "transports/ip.hh"

struct rte_lpm;
struct rte_lpm6;

namespace engine {

class route_table {
public:
    struct route {
        transport::ip_address prefix;
        uint8_t len = 0;
        uint16_t node = 0;
    };
    /// Builds the tables (rte_lpm / rte_lpm6 on socket -1). Throws std::runtime_error naming
    /// what failed (out of memory, too many rules).
    explicit route_table(const std::vector<route>& routes);
    ~route_table();
    route_table(const route_table&) = delete;
    route_table& operator=(const route_table&) = delete;

    static constexpr int none = -1;
    /// Owner of the longest prefix holding the IPv4 address `be` (network order), or none.
    [[nodiscard]] int lookup4(uint32_t be) const noexcept;
    /// Owner of the longest prefix holding the IPv6 address at a (16 bytes), or none.
    [[nodiscard]] int lookup6(const uint8_t* a) const noexcept;
    /// Starts loading the IPv4 lookup's first level for `be` (a lookup a few packets ahead).
    void prefetch4(uint32_t be) const noexcept;
    [[nodiscard]] size_t size() const noexcept { return _n4 + _n6; }

private:
    rte_lpm* _v4 = nullptr;
    rte_lpm6* _v6 = nullptr;
    size_t _n4 = 0, _n6 = 0;
};

/// Hosts on the site LAN of a routing gateway: IP -> MAC, open addressing, immutable.
class lan_neighbours {
public:
    struct entry {
        transport::ip_address ip;
        rte_ether_addr mac;
    };
    explicit lan_neighbours(const std::vector<entry>& entries) {
        unsigned bits = 4;
        while ((size_t{1} << bits) < entries.size() * 2) {
            ++bits;
        }
        _mask = (uint32_t{1} << bits) - 1;
        _slots.assign(size_t{1} << bits, slot{});
        for (const entry& e : entries) {
            uint32_t i = home(e.ip.bytes.data(), e.ip.v6);
            while (_slots[i].used) {
                i = (i + 1) & _mask;
            }
            _slots[i] = slot{e.ip.bytes, e.ip.v6, true, e.mac};
        }
    }
    /// The MAC of IPv4 `be` / IPv6 `a`, or nullptr.
    [[nodiscard]] const rte_ether_addr* find4(uint32_t be) const noexcept {
        std::array<uint8_t, 16> k{};
        std::memcpy(k.data(), &be, 4);
        return find(k.data(), false);
    }
    [[nodiscard]] const rte_ether_addr* find6(const uint8_t* a) const noexcept { return find(a, true); }

private:
    struct slot {
        std::array<uint8_t, 16> ip{};
        bool v6 = false;
        bool used = false;
        rte_ether_addr mac{};
    };
    [[nodiscard]] const rte_ether_addr* find(const uint8_t* k, bool v6) const noexcept {
        for (uint32_t i = home(k, v6);; i = (i + 1) & _mask) {
            const slot& s = _slots[i];
            if (!s.used) {
                return nullptr;
            }
            if (s.v6 == v6 && std::memcmp(s.ip.data(), k, 16) == 0) {
                return &s.mac;
            }
        }
    }
    [[nodiscard]] uint32_t home(const uint8_t* k, bool v6) const noexcept {
        uint64_t a, b;
        std::memcpy(&a, k, 8);
        std::memcpy(&b, k + 8, 8);
        return static_cast<uint32_t>(((a ^ (b * 31) ^ v6) * 0x9e3779b97f4a7c15ULL) >> 40) & _mask;
    }
    std::vector<slot> _slots;
    uint32_t _mask = 15;
};

}  // namespace engine
