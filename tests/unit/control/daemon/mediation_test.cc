// SPDX-License-Identifier: MIT
// control/daemon/mediation.hh: when a requester asks, when a router introduces or waits (and
// for how long), the rate limit per pair, and how long a told endpoint is used.
#include <gtest/gtest.h>

#include <algorithm>

#include "control/daemon/mediation.hh"

namespace {

using control::mediation;
constexpr uint64_t s = mediation::s;

TEST(mediation, a_relayed_peer_is_requested_at_once_then_every_interval_and_again_for_a_new_router) {
    mediation m;
    uint64_t t = 100 * s;
    EXPECT_TRUE(m.request_due(5, 2, t));
    EXPECT_FALSE(m.request_due(5, 2, t + 1 * s));
    // then after 2, 4, 8, ... s, at most request_interval apart
    uint64_t wait = mediation::request_first_wait;
    for (int i = 0; i < 8; ++i) {
        EXPECT_FALSE(m.request_due(5, 2, t + wait - 1)) << i;
        EXPECT_TRUE(m.request_due(5, 2, t + wait)) << i;
        t += wait;
        wait = std::min(wait * 2, mediation::request_interval);
    }
    EXPECT_EQ(wait, mediation::request_interval);
    EXPECT_TRUE(m.request_due(5, 3, t + 1));  // another router: at once
    EXPECT_FALSE(m.request_due(5, 3, t + 2));
    m.not_relayed(5);
    EXPECT_TRUE(m.request_due(5, 3, t + 3));  // relayed again
    EXPECT_TRUE(m.request_due(6, 3, t + 3));  // per peer
}

TEST(mediation, a_router_introduces_at_once_or_waits_for_the_target_then_expires) {
    mediation m;
    EXPECT_EQ(m.on_request(5, 6, true, 10 * s), mediation::request_verdict::introduce);
    // the same pair, from either side, within introduce_interval: not again
    EXPECT_EQ(m.on_request(6, 5, true, 11 * s), mediation::request_verdict::rate_limited);
    EXPECT_EQ(m.counters.requests_rate_limited, 1U);
    EXPECT_EQ(m.on_request(6, 5, true, 10 * s + mediation::introduce_interval),
              mediation::request_verdict::introduce);
    // no session with the target: it waits until the target is up
    EXPECT_EQ(m.on_request(5, 7, false, 20 * s), mediation::request_verdict::wait);
    bool up = false;
    auto is_up = [&](uint16_t id) { return id == 5 || (id == 7 && up); };
    EXPECT_TRUE(m.due(is_up, 21 * s).empty());
    EXPECT_EQ(m.pending(), 1U);
    up = true;
    auto d = m.due(is_up, 22 * s);
    ASSERT_EQ(d.size(), 1U);
    EXPECT_EQ(d[0], std::make_pair(uint16_t{5}, uint16_t{7}));
    EXPECT_EQ(m.pending(), 0U);
    // ... or expires after pending_for
    EXPECT_EQ(m.on_request(5, 8, false, 30 * s), mediation::request_verdict::wait);
    EXPECT_TRUE(m.due(is_up, 30 * s + mediation::pending_for).empty());
    EXPECT_EQ(m.pending(), 0U);
    EXPECT_EQ(m.counters.requests_expired, 1U);
    // forgetting a node drops its waiting requests
    EXPECT_EQ(m.on_request(5, 9, false, 40 * s), mediation::request_verdict::wait);
    m.forget(9);
    EXPECT_EQ(m.pending(), 0U);
}

TEST(mediation, one_requester_gets_one_introduction_per_requester_interval_and_waiting_is_bounded) {
    mediation m;
    // a member asking for every node in a row: the first is introduced, the rest wait their turn
    EXPECT_EQ(m.on_request(5, 6, true, 10 * s), mediation::request_verdict::introduce);
    EXPECT_EQ(m.on_request(5, 7, true, 10 * s + 1), mediation::request_verdict::rate_limited);
    EXPECT_EQ(m.on_request(8, 7, true, 10 * s + 2), mediation::request_verdict::introduce);  // another one
    EXPECT_EQ(m.on_request(5, 7, true, 10 * s + mediation::requester_interval), mediation::request_verdict::introduce);
    // waiting requests are bounded
    for (uint16_t t = 1; t <= mediation::max_pending; ++t) {
        EXPECT_EQ(m.on_request(static_cast<uint16_t>(1000 + t % 7), t, false, 20 * s), mediation::request_verdict::wait);
    }
    EXPECT_EQ(m.pending(), mediation::max_pending);
    EXPECT_EQ(m.on_request(9, 4095, false, 20 * s), mediation::request_verdict::rate_limited);
    EXPECT_EQ(m.pending(), mediation::max_pending);
}

TEST(mediation, a_told_endpoint_is_used_for_endpoint_for_and_counts_established_once_direct) {
    mediation m;
    transport::connect_info ci;
    ci.node = 6;
    ci.udp_port = 31000;
    ci.ip.bytes[0] = 203;
    EXPECT_EQ(m.endpoint(6, 1 * s), nullptr);
    EXPECT_TRUE(m.on_info(ci, 2, 1 * s));
    // the same endpoint again while fresh changes nothing (and does not extend the window); a
    // new one within introduce_interval neither
    EXPECT_FALSE(m.on_info(ci, 2, 1 * s + 500'000'000));
    auto other = ci;
    other.udp_port = 31001;
    EXPECT_FALSE(m.on_info(other, 2, 1 * s + mediation::introduce_interval - 1));
    EXPECT_EQ(m.counters.infos_repeated, 2U);
    ASSERT_NE(m.endpoint(6, 1 * s), nullptr);
    EXPECT_EQ(*m.endpoint(6, 1 * s), ci);
    EXPECT_NE(m.endpoint(6, 1 * s + mediation::endpoint_for - 1), nullptr);
    EXPECT_EQ(m.endpoint(6, 1 * s + mediation::endpoint_for), nullptr);  // then the relay again
    m.direct(6);
    EXPECT_EQ(m.counters.established, 1U);
    m.direct(6);  // still direct: not counted again
    EXPECT_EQ(m.counters.established, 1U);
    EXPECT_TRUE(m.on_info(ci, 2, 50 * s));
    EXPECT_TRUE(m.on_info(other, 2, 50 * s + mediation::introduce_interval));  // a new one, later
    EXPECT_EQ(m.endpoint(6, 50 * s + mediation::introduce_interval)->udp_port, 31001);
    m.forget(6);
    EXPECT_EQ(m.endpoint(6, 50 * s), nullptr);
}

}  // namespace

// Only datagram endpoints are introduced (a router used to tell a tcp peer's connection, port 0,
// or a dns client's all-zero address, and the receiver handshook there for nothing).
TEST(mediation, only_datagram_transports_are_introduced) {
    using transport::kind;
    for (kind k : {kind::udp4, kind::udp6, kind::rawip4, kind::rawip6, kind::icmp4, kind::icmp6}) {
        EXPECT_TRUE(control::introducible(k)) << transport::kind_name(k);
    }
    for (kind k : {kind::tcp4, kind::tcp6, kind::dns4, kind::dns6}) {
        EXPECT_FALSE(control::introducible(k)) << transport::kind_name(k);
    }
}
