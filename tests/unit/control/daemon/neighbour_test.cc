// SPDX-License-Identifier: MIT
// The control thread's neighbour table: only wanted addresses are learnt, only answers to our
// own outstanding requests are taken (a spoofed reply cannot flip a resolved path), static
// entries are never overwritten, stale entries are asked again, retries and the change log line
// are rate limited.
#include <gtest/gtest.h>

#include <rte_ip.h>

#include <array>
#include <cstring>

#include "control/daemon/neighbour.hh"
#include "transports/checksum.hh"

namespace {

constexpr rte_ether_addr mac_a{{2, 0, 0, 0, 0, 0xa}};
constexpr rte_ether_addr mac_b{{2, 0, 0, 0, 0, 0xb}};
const rte_be32_t ip1 = RTE_BE32(RTE_IPV4(10, 0, 0, 1));
const rte_be32_t ip2 = RTE_BE32(RTE_IPV4(10, 0, 0, 2));

TEST(neighbour_table, learns_only_wanted_addresses) {
    control::neighbour_table t;
    EXPECT_FALSE(t.learn(0, ip1, mac_a, 100));
    EXPECT_FALSE(t.lookup(0, ip1).has_value());
    t.want(0, ip1);
    EXPECT_FALSE(t.lookup(0, ip1).has_value());  // incomplete
    ASSERT_EQ(t.due(100, 500, 100).size(), 1u);  // asked
    EXPECT_TRUE(t.learn(0, ip1, mac_a, 100));
    ASSERT_TRUE(t.lookup(0, ip1).has_value());
    rte_ether_addr got = *t.lookup(0, ip1);
    EXPECT_TRUE(rte_is_same_ether_addr(&got, &mac_a));
    EXPECT_FALSE(t.learn(0, ip1, mac_a, 200));  // unchanged
    EXPECT_FALSE(t.lookup(1, ip1).has_value());  // other port
}

TEST(neighbour_table, static_entries_win) {
    control::neighbour_table t;
    t.add_static(0, ip2, mac_a);
    EXPECT_FALSE(t.learn(0, ip2, mac_b, 1));
    rte_ether_addr got = *t.lookup(0, ip2);
    EXPECT_TRUE(rte_is_same_ether_addr(&got, &mac_a));
    EXPECT_TRUE(t.due(1000000, 10, 10).empty());  // never asked for
}

TEST(neighbour_table, due_requests_and_rate_limit) {
    control::neighbour_table t;
    t.want(0, ip1);
    ASSERT_EQ(t.due(1000, 500, 100).size(), 1u);  // incomplete: ask
    EXPECT_TRUE(t.due(1050, 500, 100).empty());    // within the retry interval
    ASSERT_EQ(t.due(1100, 500, 100).size(), 1u);  // retry
    EXPECT_EQ(t.entries()[0].requests, 2u);
    t.learn(0, ip1, mac_a, 1200);
    EXPECT_TRUE(t.due(1600, 500, 100).empty());    // reachable and fresh
    auto d = t.due(1800, 500, 100);               // older than reachable time: stale, ask again
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0]->st, control::neighbour_table::state::stale);
    EXPECT_TRUE(t.lookup(0, ip1).has_value());    // stale entries are still used
}

// A routed LAN's hosts (control/daemon/site_lan.cc): count() per port, and forget_unanswered()
// drops the hosts of that port that left `max_requests` requests unanswered -- never answered
// (incomplete) or gone since (stale) -- and nothing of other ports, answered or static entries.
TEST(neighbour_table, forget_unanswered_lan_hosts) {
    control::neighbour_table t;
    const rte_be32_t ip3 = RTE_BE32(RTE_IPV4(10, 0, 0, 3));
    t.want(1, ip1);           // a LAN host that never answers
    t.want(1, ip2);           // one that answers, then leaves
    t.add_static(1, ip3, mac_b);
    t.want(0, ip1);           // the WAN's next hop, never answering either
    EXPECT_EQ(t.count(1), 3u);
    EXPECT_EQ(t.count(0), 1u);
    EXPECT_EQ(t.count(2), 0u);
    ASSERT_EQ(t.due(100, 500, 100).size(), 3u);
    EXPECT_TRUE(t.learn(1, ip2, mac_a, 100));
    t.due(200, 500, 100);
    EXPECT_EQ(t.forget_unanswered(1, 3).n, 0u);  // ip1 asked twice so far
    t.due(300, 500, 100);                        // third request for ip1
    const auto f = t.forget_unanswered(1, 3);
    EXPECT_EQ(f.n, 1u);
    EXPECT_FALSE(f.resolved);
    EXPECT_EQ(t.count(1), 2u);
    EXPECT_EQ(t.count(0), 1u);                   // other ports untouched
    // ip2 goes stale at 700 and is asked three times without an answer: forgotten, resolved.
    for (uint64_t now : {700, 800, 900}) {
        t.due(now, 500, 100);
    }
    const auto g = t.forget_unanswered(1, 3);
    EXPECT_EQ(g.n, 1u);
    EXPECT_TRUE(g.resolved);
    EXPECT_FALSE(t.lookup(1, ip2).has_value());
    EXPECT_TRUE(t.lookup(1, ip3).has_value());   // static: kept
    // Repetition changes nothing.
    EXPECT_EQ(t.forget_unanswered(1, 3).n, 0u);
    EXPECT_EQ(t.count(1), 1u);
}

// A spoofed ARP reply (or NA) for a wanted, resolved neighbour used to flip its MAC and the
// peers' path at once. Only an answer to our own request counts: the next one is at the refresh.
TEST(neighbour_table, spoofed_reply_for_a_resolved_neighbour_is_ignored) {
    control::neighbour_table t;
    t.want(0, ip1);
    ASSERT_EQ(t.due(1000, 500, 100).size(), 1u);
    EXPECT_TRUE(t.learn(0, ip1, mac_a, 1000));
    for (uint64_t now = 1010; now < 1400; now += 10) {
        EXPECT_FALSE(t.learn(0, ip1, mac_b, now));  // a flood of forged replies
    }
    rte_ether_addr got = *t.lookup(0, ip1);
    EXPECT_TRUE(rte_is_same_ether_addr(&got, &mac_a));
    EXPECT_EQ(t.entries()[0].unsolicited, 39u);
    EXPECT_EQ(t.ignored(), 39u);
    // The refresh asks again: the answer to it may move the neighbour (a real move).
    ASSERT_EQ(t.due(1600, 500, 100).size(), 1u);  // stale, asked
    EXPECT_TRUE(t.learn(0, ip1, mac_b, 1610));
    got = *t.lookup(0, ip1);
    EXPECT_TRUE(rte_is_same_ether_addr(&got, &mac_b));
}

TEST(neighbour_table, only_the_first_answer_to_a_request_counts) {
    control::neighbour_table t;
    t.want(0, ip1);
    EXPECT_FALSE(t.learn(0, ip1, mac_b, 10));  // gratuitous, before we asked anything
    EXPECT_FALSE(t.lookup(0, ip1).has_value());
    ASSERT_EQ(t.due(100, 500, 100).size(), 1u);
    EXPECT_TRUE(t.learn(0, ip1, mac_a, 110));
    EXPECT_FALSE(t.learn(0, ip1, mac_b, 111));  // a second answer (a race with a forger) is ignored
    rte_ether_addr got = *t.lookup(0, ip1);
    EXPECT_TRUE(rte_is_same_ether_addr(&got, &mac_a));
    EXPECT_EQ(t.entries()[0].unsolicited, 2u);
    // IPv6 the same way (neighbour advertisements).
    uint8_t a6[16] = {0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
    const auto v6 = transport::ip_address::from_v6(a6);
    t.want(0, v6);
    EXPECT_FALSE(t.learn(0, v6, mac_b, 120));
    ASSERT_EQ(t.due(200, 500, 100).size(), 1u);  // only the IPv6 entry is due
    EXPECT_TRUE(t.learn(0, v6, mac_a, 201));
    EXPECT_FALSE(t.learn(0, v6, mac_b, 202));
}

TEST(neighbour_table, refresh_with_the_same_mac_is_no_change) {
    control::neighbour_table t;
    t.want(0, ip1);
    ASSERT_EQ(t.due(0, 500, 100).size(), 1u);
    EXPECT_TRUE(t.learn(0, ip1, mac_a, 0));
    ASSERT_EQ(t.due(600, 500, 100).size(), 1u);  // stale: asked again
    auto r = t.learn(0, ip1, mac_a, 601);
    EXPECT_FALSE(r);  // refreshed: nothing to log, no path to recompute
    EXPECT_FALSE(r.log);
    EXPECT_TRUE(t.due(700, 500, 100).empty());  // reachable again
}

TEST(neighbour_table, change_log_is_rate_limited_per_neighbour) {
    // A neighbour that keeps moving (each move an answer to our refresh) is logged at most once
    // per interval, and the next logged line says how many changes were not.
    control::neighbour_table t;
    t.set_log_interval(1000);
    t.want(0, ip1);
    t.want(0, ip2);
    uint64_t now = 0;
    auto move = [&](rte_be32_t ip, const rte_ether_addr& mac) {
        for (auto* e : t.due(now, 5, 1)) {
            (void)e;
        }
        auto r = t.learn(0, ip, mac, now);
        now += 10;
        return r;
    };
    auto r = move(ip1, mac_a);
    EXPECT_TRUE(r.changed && r.log);
    EXPECT_EQ(r.suppressed, 0u);
    r = move(ip2, mac_a);  // another neighbour has its own budget
    EXPECT_TRUE(r.changed && r.log);
    for (int i = 0; i < 6; ++i) {
        r = move(ip1, i % 2 == 0 ? mac_b : mac_a);
        EXPECT_TRUE(r.changed) << i;
        EXPECT_FALSE(r.log) << i;
    }
    now = 1000;
    r = move(ip1, mac_b);
    EXPECT_TRUE(r.changed && r.log);
    EXPECT_EQ(r.suppressed, 6u);
    // A neighbour never logged logs its first change at once, whatever the clock says.
    control::neighbour_table u;
    u.set_log_interval(1000000);
    u.want(0, ip1);
    ASSERT_EQ(u.due(5, 5, 1).size(), 1u);
    EXPECT_TRUE(u.learn(0, ip1, mac_a, 5).log);
}

TEST(neighbour_table, ipv6_entries_are_their_own_keys) {
    control::neighbour_table t;
    uint8_t a6[16] = {0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const auto v6 = transport::ip_address::from_v6(a6);
    uint8_t a4as6[16] = {10, 0, 0, 1};
    EXPECT_FALSE(t.learn(0, v6, mac_a, 1));  // not wanted
    t.want(0, v6);
    ASSERT_EQ(t.due(2, 500, 100).size(), 1u);
    EXPECT_TRUE(t.learn(0, v6, mac_a, 2));
    EXPECT_TRUE(t.lookup(0, v6).has_value());
    EXPECT_FALSE(t.lookup(0, ip1).has_value());  // 10.0.0.1 is not fd77::1 nor its first bytes
    EXPECT_FALSE(t.lookup(0, transport::ip_address::from_v6(a4as6)).has_value());
    EXPECT_EQ(v6.str(), "fd77::1");
    EXPECT_EQ(transport::ip_address::from_v4(ip1).str(), "10.0.0.1");
}

// A neighbour advertisement in a stack mbuf (parse only reads buf_addr/data_off/data_len).
struct na_frame {
    std::array<uint8_t, 14 + 40 + 32> b{};
    rte_mbuf m{};

    na_frame() {
        const uint8_t src[16] = {0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
        const uint8_t dst[16] = {0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        std::memcpy(b.data() + 6, mac_b.addr_bytes, 6);
        b[12] = 0x86;
        b[13] = 0xdd;
        uint8_t* ip = b.data() + 14;
        ip[0] = 0x60;
        ip[5] = 32;
        ip[6] = 58;
        ip[7] = 255;
        std::memcpy(ip + 8, src, 16);
        std::memcpy(ip + 24, dst, 16);
        uint8_t* na = ip + 40;
        na[0] = 136;
        na[4] = 0x60;
        std::memcpy(na + 8, src, 16);
        na[24] = 2;
        na[25] = 1;
        std::memcpy(na + 26, mac_a.addr_bytes, 6);
        fix();
        m.buf_addr = b.data();
        m.data_off = 0;
        m.data_len = static_cast<uint16_t>(b.size());
        m.pkt_len = m.data_len;
    }
    void fix() {
        uint8_t* ip = b.data() + 14;
        ip[40 + 2] = ip[40 + 3] = 0;
        const uint16_t c = transport::csum::icmp6_checksum(ip, ip + 40, 32);
        std::memcpy(ip + 42, &c, 2);
    }
};

TEST(neighbour_discovery, advertisement_parsing) {
    na_frame f;
    auto r = control::parse_neighbour_advertisement(&f.m);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->first.str(), "fd77::2");
    EXPECT_TRUE(rte_is_same_ether_addr(&r->second, &mac_a));  // the option wins over the frame source
    {
        na_frame g;
        g.b[14 + 7] = 64;  // not from the link (RFC 4861 §7.1.2)
        g.fix();
        EXPECT_FALSE(control::parse_neighbour_advertisement(&g.m).has_value());
    }
    {
        na_frame g;
        g.b[14 + 40 + 30] ^= 1;  // corrupted: checksum fails
        EXPECT_FALSE(control::parse_neighbour_advertisement(&g.m).has_value());
    }
    {
        na_frame g;
        g.b[14 + 40 + 25] = 0;  // zero-length option
        g.fix();
        EXPECT_FALSE(control::parse_neighbour_advertisement(&g.m).has_value());
    }
    {
        na_frame g;
        g.b[14 + 40 + 8] = 0xff;  // multicast target
        g.fix();
        EXPECT_FALSE(control::parse_neighbour_advertisement(&g.m).has_value());
    }
    {
        na_frame g;
        g.b[14 + 40] = 135;  // a solicitation, not an advertisement
        g.fix();
        EXPECT_FALSE(control::parse_neighbour_advertisement(&g.m).has_value());
    }
    {
        na_frame g;
        g.m.data_len = 14 + 40 + 20;  // truncated
        EXPECT_FALSE(control::parse_neighbour_advertisement(&g.m).has_value());
    }
}

}  // namespace
