// SPDX-License-Identifier: MIT
// engine/stats.hh roaming reports: the worker writes them (write_roam_report) while the control
// thread reads them (roam_report); a reading is one report whole or none, never the fields of two.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "engine/stats.hh"

namespace {

struct report {
    uint64_t lo, hi, meta;
};

// Two reports that differ in every field: an IPv4 udp source and an IPv6 rawip one.
constexpr report a{0x04030201ULL, 0, uint64_t{1} << 8U | uint64_t{0} << 16U | uint64_t{40000} << 32U};
constexpr report b{0x1111111111111111ULL, 0x2222222222222222ULL,
                   engine::roam_meta_v6 | uint64_t{3} << 8U | uint64_t{2} << 16U | uint64_t{1234} << 32U};

report fields_of(const engine::roam_source& r) {
    report x{};
    std::memcpy(&x.lo, r.ip.data(), 8);
    std::memcpy(&x.hi, r.ip.data() + 8, 8);
    x.meta = (r.v6 ? engine::roam_meta_v6 : 0) | uint64_t{r.kind} << 8U | uint64_t{r.port_id} << 16U |
             uint64_t{r.udp_port} << 32U;
    return x;
}

bool same(const report& x, const report& y) { return x.lo == y.lo && x.hi == y.hi && x.meta == y.meta; }

}  // namespace

TEST(roam_report, none_before_the_first_and_the_latest_after) {
    engine::node_stats ns;
    EXPECT_FALSE(engine::roam_report(ns).has_value());
    engine::write_roam_report(ns, a.lo, a.hi, a.meta);
    auto r = engine::roam_report(ns);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->reports, 1U);
    EXPECT_TRUE(same(fields_of(*r), a));
    engine::write_roam_report(ns, b.lo, b.hi, b.meta);
    r = engine::roam_report(ns);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->reports, 2U);
    EXPECT_TRUE(same(fields_of(*r), b));
}

TEST(roam_report, never_torn_while_the_worker_writes) {
    // A worker alternating between two sources (a peer seen from two addresses) and the control
    // thread reading meanwhile: every reading is a or b, never a's address with b's port.
    engine::node_stats ns;
    std::atomic<bool> stop{false};
    std::thread worker([&] {
        bool flip = false;
        while (!stop.load(std::memory_order_relaxed)) {
            const report& x = flip ? a : b;
            engine::write_roam_report(ns, x.lo, x.hi, x.meta);
            flip = !flip;
        }
    });
    uint64_t read = 0, torn = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    while (std::chrono::steady_clock::now() < until && torn == 0) {
        for (int i = 0; i < 1000; ++i) {
            if (auto r = engine::roam_report(ns)) {
                ++read;
                const report x = fields_of(*r);
                if (!same(x, a) && !same(x, b)) {
                    ++torn;
                }
            }
        }
    }
    stop.store(true, std::memory_order_relaxed);
    worker.join();
    EXPECT_EQ(torn, 0U) << "of " << read << " readings";
    EXPECT_GT(read, 0U);
}
