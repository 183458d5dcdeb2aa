// SPDX-License-Identifier: MIT
// The control thread's neighbour table: only wanted addresses are learnt, static entries are
// never overwritten, stale entries are asked again, retries are rate limited.
#include <gtest/gtest.h>

#include <rte_ip.h>

#include "engine/neighbour.hh"

namespace {

constexpr rte_ether_addr mac_a{{2, 0, 0, 0, 0, 0xa}};
constexpr rte_ether_addr mac_b{{2, 0, 0, 0, 0, 0xb}};
const rte_be32_t ip1 = RTE_BE32(RTE_IPV4(10, 0, 0, 1));
const rte_be32_t ip2 = RTE_BE32(RTE_IPV4(10, 0, 0, 2));

TEST(neighbour_table, learns_only_wanted_addresses) {
    engine::neighbour_table t;
    EXPECT_FALSE(t.learn(0, ip1, mac_a, 100));
    EXPECT_FALSE(t.lookup(0, ip1).has_value());
    t.want(0, ip1);
    EXPECT_FALSE(t.lookup(0, ip1).has_value());  // incomplete
    EXPECT_TRUE(t.learn(0, ip1, mac_a, 100));
    ASSERT_TRUE(t.lookup(0, ip1).has_value());
    rte_ether_addr got = *t.lookup(0, ip1);
    EXPECT_TRUE(rte_is_same_ether_addr(&got, &mac_a));
    EXPECT_FALSE(t.learn(0, ip1, mac_a, 200));  // unchanged
    EXPECT_TRUE(t.learn(0, ip1, mac_b, 300));   // moved
    EXPECT_FALSE(t.lookup(1, ip1).has_value());  // other port
}

TEST(neighbour_table, static_entries_win) {
    engine::neighbour_table t;
    t.add_static(0, ip2, mac_a);
    EXPECT_FALSE(t.learn(0, ip2, mac_b, 1));
    rte_ether_addr got = *t.lookup(0, ip2);
    EXPECT_TRUE(rte_is_same_ether_addr(&got, &mac_a));
    EXPECT_TRUE(t.due(1000000, 10, 10).empty());  // never asked for
}

TEST(neighbour_table, due_requests_and_rate_limit) {
    engine::neighbour_table t;
    t.want(0, ip1);
    ASSERT_EQ(t.due(1000, 500, 100).size(), 1u);  // incomplete: ask
    EXPECT_TRUE(t.due(1050, 500, 100).empty());    // within the retry interval
    ASSERT_EQ(t.due(1100, 500, 100).size(), 1u);  // retry
    EXPECT_EQ(t.entries()[0].requests, 2u);
    t.learn(0, ip1, mac_a, 1200);
    EXPECT_TRUE(t.due(1600, 500, 100).empty());    // reachable and fresh
    auto d = t.due(1800, 500, 100);               // older than reachable time: stale, ask again
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0]->st, engine::neighbour_table::state::stale);
    EXPECT_TRUE(t.lookup(0, ip1).has_value());    // stale entries are still used
}

}  // namespace
