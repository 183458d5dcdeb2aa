// SPDX-License-Identifier: MIT
// route_table on DPDK's rte_lpm / rte_lpm6 (see route_table.hh).
#include "engine/route_table.hh"

#include <rte_errno.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>

namespace engine {

namespace {
std::atomic<unsigned> g_serial{0};  // rte_lpm tables need process-unique names
}

route_table::route_table(const std::vector<route>& routes) {
    for (const route& r : routes) {
        (r.prefix.v6 ? _n6 : _n4)++;
    }
    const unsigned serial = g_serial.fetch_add(1, std::memory_order_relaxed);
    if (_n4 != 0) {
        rte_lpm_config c{};
        c.max_rules = static_cast<uint32_t>(_n4);
        c.number_tbl8s = static_cast<uint32_t>(std::max<size_t>(256, _n4));  // one per prefix longer than /24
        const std::string name = "dvpe_rt4_" + std::to_string(serial);
        _v4 = rte_lpm_create(name.c_str(), SOCKET_ID_ANY, &c);
        if (_v4 == nullptr) {
            throw std::runtime_error("cannot create the IPv4 route table (" + std::to_string(_n4) + " routes): " +
                                     rte_strerror(rte_errno));
        }
    }
    if (_n6 != 0) {
        rte_lpm6_config c{};
        c.max_rules = static_cast<uint32_t>(_n6);
        // A prefix may need a tbl8 group per byte beyond the first three (13 for a /128).
        c.number_tbl8s = static_cast<uint32_t>(std::min<size_t>(std::max<size_t>(256, _n6 * 4), 1U << 16));
        const std::string name = "dvpe_rt6_" + std::to_string(serial);
        _v6 = rte_lpm6_create(name.c_str(), SOCKET_ID_ANY, &c);
        if (_v6 == nullptr) {
            if (_v4 != nullptr) {
                rte_lpm_free(_v4);
            }
            throw std::runtime_error("cannot create the IPv6 route table (" + std::to_string(_n6) + " routes): " +
                                     rte_strerror(rte_errno));
        }
    }
    for (const route& r : routes) {
        int rc;
        if (r.prefix.v6) {
            uint8_t a[16];
            std::copy(r.prefix.bytes.begin(), r.prefix.bytes.end(), a);
            rc = rte_lpm6_add(_v6, a, r.len, r.node);
        } else {
            rc = rte_lpm_add(_v4, rte_be_to_cpu_32(r.prefix.v4()), r.len, r.node);
        }
        if (rc < 0) {
            // The destructor does not run for a constructor that throws.
            if (_v4 != nullptr) {
                rte_lpm_free(_v4);
            }
            if (_v6 != nullptr) {
                rte_lpm6_free(_v6);
            }
            throw std::runtime_error("cannot add route " + r.prefix.str() + "/" + std::to_string(r.len) + ": " +
                                     rte_strerror(-rc));
        }
    }
}

route_table::~route_table() {
    if (_v4 != nullptr) {
        rte_lpm_free(_v4);
    }
    if (_v6 != nullptr) {
        rte_lpm6_free(_v6);
    }
}

void route_table::prefetch4(uint32_t be) const noexcept {
    if (_v4 != nullptr) {
        rte_prefetch0(&_v4->tbl24[rte_be_to_cpu_32(be) >> 8]);  // DIR-24-8: the /24 entry
    }
}

int route_table::lookup4(uint32_t be) const noexcept {
    uint32_t nh;
    if (_v4 == nullptr || rte_lpm_lookup(_v4, rte_be_to_cpu_32(be), &nh) != 0) {
        return none;
    }
    return static_cast<int>(nh);
}

int route_table::lookup6(const uint8_t* a) const noexcept {
    uint32_t nh;
    if (_v6 == nullptr || rte_lpm6_lookup(_v6, a, &nh) != 0) {
        return none;
    }
    return static_cast<int>(nh);
}

}  // namespace engine
