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

TEST(routing, no_common_protocol) {
    auto c = load(base + "node = b\nenable-udp = no\nenable-rawip = yes\nnode = d\nhostname = d.example\n");
    EXPECT_FALSE(control::can_reach_directly(*c.find_node("a"), *c.find_node("b")));
    EXPECT_FALSE(control::can_reach_directly(*c.find_node("b"), *c.find_node("a")));
    EXPECT_TRUE(control::can_reach_directly(*c.find_node("a"), *c.find_node("d")));  // a DNS name is an address
}

// tcp counts as udp does (b needs a tcp-port to accept connections); dns never does. It failed
// before tcp joined the transports the rule knows: a tcp-only pair never counted as direct, so a
// router was never chosen for reaching a tcp-only node directly (pass 1).
TEST(routing, tcp_counts_dns_does_not) {
    const std::string t = "enable-tcp = yes\nnode = a\nhostname = 10.0.0.1\nnode = b\nhostname = 10.0.0.2\n"
                          "node = c\nhostname = 10.0.0.3\ntcp-port = 0\n"
                          "node = d\nenable-tcp = no\nenable-dns = yes\nhostname = 10.0.0.4\n"
                          "node = e\nenable-tcp = no\nenable-dns = yes\nhostname = 10.0.0.5\n";
    auto c = load(t);
    const auto& a = *c.find_node("a");
    EXPECT_TRUE(control::can_reach_directly(a, *c.find_node("b")));
    EXPECT_EQ(control::connectable_protocols(a, *c.find_node("b")), control::proto_tcp);
    EXPECT_EQ(control::connectable_protocols(a, *c.find_node("c")), 0);  // tcp-port 0: connects out only
    EXPECT_TRUE(control::can_reach_directly(a, *c.find_node("c")));  // c connects to a (a is `always`)
    EXPECT_FALSE(control::can_reach_directly(*c.find_node("c"), *c.find_node("c")));
    // ...but not to a node that listens nowhere: c (tcp-port 0) to f (tcp-port 0) by tcp alone
    auto f = load(t + "node = f\nhostname = 10.0.0.6\ntcp-port = 0\n");
    EXPECT_FALSE(control::can_reach_directly(*f.find_node("c"), *f.find_node("f")));
    EXPECT_FALSE(control::can_reach_directly(*c.find_node("d"), *c.find_node("e")));
    // a router with tcp to a tcp destination is a pass-1 candidate: a (priority 2) reaches b
    // directly, d (priority 3, dns only) does not (before: pass 1 found none, pass 2 took d)
    auto r = load(t + "node = a\nrouter-priority = 2\nnode = d\nrouter-priority = 3\n");
    const auto via = control::find_router(r, *r.find_node("c"), *r.find_node("b"), all);
    ASSERT_TRUE(via.has_value());
    EXPECT_EQ(*via, r.find_node("a")->id);
}

// GVPE's can_direct: a common transport and `a` is `always` (b connects to a), or b accepts
// connections (a hostname, literal or DNS; udp also needs a udp-port).
TEST(routing, address_less_destination_needs_an_always_source) {
    // e: no hostname
    const std::string t = base + "node = e\nnode = c\nconnect = ondemand\nnode = d\nconnect = never\n";
    auto c = load(t);
    const auto& a = *c.find_node("a");
    const auto& b = *c.find_node("e");
    EXPECT_TRUE(control::can_reach_directly(a, b));  // a is always: b connects to it
    EXPECT_FALSE(control::can_reach_directly(*c.find_node("c"), b));  // ondemand, b takes no connection
    EXPECT_FALSE(control::can_reach_directly(*c.find_node("d"), b));  // never, the same
    EXPECT_TRUE(control::can_reach_directly(b, *c.find_node("c")));   // c has an address
    EXPECT_EQ(control::connectable_protocols(a, b), 0);
    EXPECT_NE(control::connectable_protocols(a, *c.find_node("c")), 0);
}

TEST(routing, udp_needs_the_destinations_udp_port) {
    auto c = load(base + "node = b\nudp-port = 0\nnode = a\nconnect = ondemand\n");
    EXPECT_FALSE(control::can_reach_directly(*c.find_node("a"), *c.find_node("b")));  // udp only, port 0
    EXPECT_TRUE(control::can_reach_directly(*c.find_node("c"), *c.find_node("b")));   // c is always
    // rawip needs no port: a hostname is enough
    auto r = load("enable-rawip = yes\n" + base + "node = b\nudp-port = 0\nnode = a\nconnect = ondemand\n");
    EXPECT_TRUE(control::can_reach_directly(*r.find_node("a"), *r.find_node("b")));
    EXPECT_EQ(control::connectable_protocols(*r.find_node("a"), *r.find_node("b")), control::proto_rawip);
}

TEST(routing, always_does_not_override_deny_direct) {
    auto c = load(base + "node = e\ndeny-direct = a\n");
    EXPECT_FALSE(control::can_reach_directly(*c.find_node("a"), *c.find_node("e")));
    EXPECT_FALSE(control::can_reach_directly(*c.find_node("e"), *c.find_node("a")));
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

TEST(routing, pass1_prefers_a_lower_router_that_reaches_dst_over_a_higher_one_that_does_not) {
    // c (prio 5) may not talk to b; d (prio 2) may: pass 1 picks d. d gone: pass 2 picks c
    // (above our max(0, 1)).
    auto c = load(base + "node = a\ndeny-direct = b\nnode = b\ndeny-direct = c\n"
                         "node = c\nrouter-priority = 5\nnode = d\nrouter-priority = 2\n");
    const auto& a = *c.find_node("a");
    const auto& b = *c.find_node("b");
    auto r = control::find_router(c, a, b, all);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, c.find_node("d")->id);
    r = control::find_router(c, a, b, [&](unsigned id) { return id != c.find_node("d")->id; });
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, c.find_node("c")->id);
    EXPECT_FALSE(control::find_router(c, a, b, [](unsigned) { return false; }));  // nobody connected
}

TEST(routing, address_less_nodes_take_part_in_router_selection) {
    // r has no hostname but is `always` (priority 2): pass 1 sees it reach the address-less e
    // (e connects to it); the destination itself and we ourselves are never the router.
    auto c = load(base + "node = a\ndeny-direct = e\nnode = e\nnode = r\nrouter-priority = 2\n");
    const auto& a = *c.find_node("a");
    const auto& b = *c.find_node("e");
    auto r = control::find_router(c, a, b, all);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, c.find_node("r")->id);
    EXPECT_TRUE(control::can_reach_directly(*c.find_node("r"), b));
}

}  // namespace
