// SPDX-License-Identifier: MIT
// GVPE's direct/routed rules (docs/gvpe-migration.md "router-priority", "allow-direct and deny-direct") on configs parsed from text.
#include <gtest/gtest.h>

#include "control/daemon/routing.hh"

namespace {

control::config load(const std::string& text) {
    control::load_options o;
    o.confdir = "/nonexistent";
    auto c = control::load_config_text(text, "test.conf", o);
    EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().front().str());
    return std::move(c.value());
}

const std::string base =
    "enable-udp = yes\n"
    "node = a\nhostname = 10.0.0.1\n"
    "node = b\nhostname = 10.0.0.2\n"
    "node = c\nhostname = 10.0.0.3\n"
    "node = d\nhostname = 10.0.0.4\n";

auto all = [](unsigned) { return true; };

TEST(routing, direct_by_default) {
    auto c = load(base);
    EXPECT_TRUE(control::can_reach_directly(*c.find_node("a"), *c.find_node("b")));
    EXPECT_FALSE(control::can_reach_directly(*c.find_node("a"), *c.find_node("a")));
}

TEST(routing, deny_and_allow_lists_both_ways) {
    auto c = load(base + "node = a\ndeny-direct = *\nallow-direct = c\n");
    EXPECT_FALSE(control::can_reach_directly(*c.find_node("a"), *c.find_node("b")));
    EXPECT_FALSE(control::can_reach_directly(*c.find_node("b"), *c.find_node("a")));  // checked both ways
    EXPECT_TRUE(control::can_reach_directly(*c.find_node("a"), *c.find_node("c")));
}

TEST(routing, no_common_protocol_or_address) {
    auto c = load(base + "node = b\nenable-udp = no\nenable-rawip = yes\nnode = d\nhostname = d.example\n");
    EXPECT_FALSE(control::can_reach_directly(*c.find_node("a"), *c.find_node("b")));
    EXPECT_FALSE(control::can_reach_directly(*c.find_node("a"), *c.find_node("d")));  // no IP literal
}

TEST(routing, pass1_highest_priority_that_reaches_dst_ties_to_file_order) {
    auto c = load(base + "node = a\ndeny-direct = b\nnode = c\nrouter-priority = 5\nnode = d\nrouter-priority = 5\n");
    auto r = control::find_router(c, *c.find_node("a"), *c.find_node("b"), all);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, c.find_node("c")->id);
    // c not connected: d
    auto r2 = control::find_router(c, *c.find_node("a"), *c.find_node("b"),
                                   [&](unsigned id) { return id != c.find_node("c")->id; });
    ASSERT_TRUE(r2);
    EXPECT_EQ(*r2, c.find_node("d")->id);
}

TEST(routing, priority_one_forwards_but_is_never_chosen) {
    auto c = load(base + "node = a\ndeny-direct = b\nnode = c\nrouter-priority = 1\n");
    EXPECT_FALSE(control::find_router(c, *c.find_node("a"), *c.find_node("b"), all));
}

TEST(routing, pass2_only_routers_ranked_above_us) {
    // c (prio 3) cannot reach b directly; pass 2 may still hand to it if it ranks above us.
    auto c = load(base + "node = b\ndeny-direct = *\nnode = c\nrouter-priority = 3\nnode = a\nrouter-priority = 2\n");
    auto r = control::find_router(c, *c.find_node("a"), *c.find_node("b"), all);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, c.find_node("c")->id);
    auto c2 = load(base + "node = b\ndeny-direct = *\nnode = c\nrouter-priority = 3\nnode = a\nrouter-priority = 3\n");
    EXPECT_FALSE(control::find_router(c2, *c2.find_node("a"), *c2.find_node("b"), all));  // never down or sideways
}

}  // namespace
