// SPDX-License-Identifier: MIT
// transports/control_msg.hh: connect_req / connect_info bytes as docs/protocol.md "Control
// messages" lays them out, round trips, and refusal of garbage, truncation, extension and every
// out-of-range field.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "transports/control_msg.hh"

namespace {

using namespace transport;

ip_address v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    ip_address r;
    r.bytes[0] = a, r.bytes[1] = b, r.bytes[2] = c, r.bytes[3] = d;
    return r;
}

std::vector<uint8_t> bytes_of(const control_message& m) {
    size_t len = 0;
    auto b = encode_control(m, len);
    return {b.begin(), b.begin() + static_cast<long>(len)};
}

TEST(control_msg, connect_req_layout_and_round_trip) {
    const auto b = bytes_of(connect_req{0x123});
    EXPECT_EQ(b, (std::vector<uint8_t>{1, 0, 0x01, 0x23}));
    auto m = parse_control(b);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(std::get<connect_req>(*m), connect_req{0x123});
}

TEST(control_msg, connect_info_layout_and_round_trip_v4_and_v6) {
    connect_info ci{7, kind::udp4, 31000, v4(203, 0, 113, 9)};
    const auto b = bytes_of(ci);
    ASSERT_EQ(b.size(), connect_info_size);
    EXPECT_EQ(b[0], 2);
    EXPECT_EQ(b[1], static_cast<uint8_t>(kind::udp4));
    EXPECT_EQ(b[2], 0);
    EXPECT_EQ(b[3], 7);
    EXPECT_EQ(b[4], 31000 >> 8);
    EXPECT_EQ(b[5], 31000 & 0xff);
    EXPECT_EQ(b[8], 203);
    EXPECT_EQ(b[11], 9);
    auto m = parse_control(b);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(std::get<connect_info>(*m), ci);

    connect_info c6{4095, kind::rawip6, 0, {}};
    c6.ip.v6 = true;
    c6.ip.bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42};
    m = parse_control(bytes_of(c6));
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(std::get<connect_info>(*m), c6);
}

TEST(control_msg, refuses_truncation_extension_and_bad_fields) {
    const auto req = bytes_of(connect_req{5});
    const auto info = bytes_of(connect_info{7, kind::udp4, 31000, v4(203, 0, 113, 9)});
    for (const auto* good : {&req, &info}) {
        for (size_t n = 0; n < good->size(); ++n) {
            EXPECT_FALSE(parse_control(std::span(good->data(), n)).has_value()) << "truncated to " << n;
        }
        auto longer = *good;
        longer.push_back(0);
        EXPECT_FALSE(parse_control(longer).has_value());
        auto twice = *good;  // repetition: two messages in one plaintext are none
        twice.insert(twice.end(), good->begin(), good->end());
        EXPECT_FALSE(parse_control(twice).has_value());
    }
    auto bad = [](std::vector<uint8_t> b, size_t at, uint8_t v) {
        b[at] = v;
        return parse_control(b).has_value();
    };
    EXPECT_FALSE(bad(req, 0, 3));              // unknown type
    EXPECT_FALSE(bad(req, 0, 0));
    EXPECT_FALSE(bad(req, 1, 1));              // reserved
    EXPECT_FALSE(bad(bytes_of(connect_req{1}), 3, 0));  // node 0
    EXPECT_FALSE(bad(req, 2, 0x10));           // node 4096 + 5
    EXPECT_FALSE(bad(info, 1, n_kinds));       // unknown kind
    EXPECT_FALSE(bad(info, 6, 1));             // reserved
    EXPECT_FALSE(bad(info, 7, 1));
    EXPECT_FALSE(bad(info, 12, 1));            // IPv4 with bytes after the address
    EXPECT_FALSE(bad(info, 3, 0));             // node 0
    // the port must match the kind: udp needs one, rawip / icmp have none
    auto no_port = info;
    no_port[4] = no_port[5] = 0;
    EXPECT_FALSE(parse_control(no_port).has_value());  // udp without a port
    auto raw = info;
    raw[1] = static_cast<uint8_t>(kind::rawip4);
    EXPECT_FALSE(parse_control(raw).has_value());  // rawip with a port
    raw[4] = raw[5] = 0;
    EXPECT_TRUE(parse_control(raw).has_value());
    // addresses no peer has: 0/8, loopback, multicast, broadcast; ::, ::1, ff00::/8
    for (uint8_t first : {0, 127, 224, 239, 255}) {
        EXPECT_FALSE(bad(info, 8, first)) << int{first};
    }
    auto six = bytes_of(connect_info{7, kind::udp6, 655, {}});
    EXPECT_FALSE(parse_control(six).has_value());  // ::
    six[23] = 1;
    EXPECT_FALSE(parse_control(six).has_value());  // ::1
    six[8] = 0xff;
    EXPECT_FALSE(parse_control(six).has_value());  // multicast
    six[8] = 0x20;
    EXPECT_TRUE(parse_control(six).has_value());
}

TEST(control_msg, random_bytes_parse_only_into_what_encodes_back_the_same) {
    std::mt19937 rng(1234);
    unsigned accepted = 0;
    for (int i = 0; i < 200000; ++i) {
        std::vector<uint8_t> b(rng() % 30);
        for (auto& x : b) {
            x = static_cast<uint8_t>(rng());
        }
        if (!b.empty() && (i & 1)) {
            b[0] = static_cast<uint8_t>(1 + (i & 2) / 2);  // a known type half the time
        }
        if (b.size() == connect_info_size && (i & 4)) {
            b[6] = b[7] = 0;
            std::fill(b.begin() + 12, b.end(), 0);
            b[1] %= n_kinds;
        }
        if (auto m = parse_control(b)) {
            ++accepted;
            EXPECT_EQ(bytes_of(*m), b);
        }
    }
    EXPECT_GT(accepted, 0U);
}

}  // namespace
