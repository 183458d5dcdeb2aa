// SPDX-License-Identifier: MIT
// engine/too_big: the ICMP / ICMPv6 "too big" answers and their rate limit, byte by byte.
#include "engine/flood_budget.hh"
#include "engine/too_big.hh"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace {

using bytes = std::vector<uint8_t>;

const uint8_t mac_a[6] = {0xfe, 0xfd, 0x80, 0x00, 0x00, 0x01};  // sender (the local node's TAP)
const uint8_t mac_b[6] = {0xfe, 0xfd, 0x80, 0x00, 0x00, 0x02};  // destination node

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// One's complement sum over [p, p+n) folded to 16 bits (0xffff when a checksum verifies).
uint32_t sum16(const uint8_t* p, size_t n, uint32_t s = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) {
        s += be16(p + i);
    }
    if (n % 2 != 0) {
        s += static_cast<uint32_t>(p[n - 1]) << 8;
    }
    while (s > 0xffff) {
        s = (s & 0xffff) + (s >> 16);
    }
    return s;
}

bytes ipv4_frame(size_t l3_len, uint8_t proto = 17, uint16_t frag = 0x4000, const uint8_t* src = nullptr,
                 const uint8_t* dst = nullptr) {
    static const uint8_t def_src[4] = {10, 88, 0, 1};
    static const uint8_t def_dst[4] = {10, 88, 0, 2};
    bytes f(14 + l3_len);
    std::memcpy(f.data(), mac_b, 6);
    std::memcpy(f.data() + 6, mac_a, 6);
    f[12] = 0x08;
    uint8_t* ip = f.data() + 14;
    ip[0] = 0x45;
    ip[2] = static_cast<uint8_t>(l3_len >> 8);
    ip[3] = static_cast<uint8_t>(l3_len);
    ip[6] = static_cast<uint8_t>(frag >> 8);
    ip[7] = static_cast<uint8_t>(frag);
    ip[8] = 64;
    ip[9] = proto;
    std::memcpy(ip + 12, src ? src : def_src, 4);
    std::memcpy(ip + 16, dst ? dst : def_dst, 4);
    for (size_t i = 20; i < l3_len; ++i) {
        ip[i] = static_cast<uint8_t>(i * 7 + 3);
    }
    return f;
}

bytes ipv6_frame(size_t l3_len, uint8_t next = 17) {
    bytes f(14 + l3_len);
    std::memcpy(f.data(), mac_b, 6);
    std::memcpy(f.data() + 6, mac_a, 6);
    f[12] = 0x86;
    f[13] = 0xdd;
    uint8_t* ip = f.data() + 14;
    ip[0] = 0x60;
    ip[4] = static_cast<uint8_t>((l3_len - 40) >> 8);
    ip[5] = static_cast<uint8_t>(l3_len - 40);
    ip[6] = next;
    ip[7] = 64;
    ip[8] = 0xfd;
    ip[23] = 1;  // fd00::1
    ip[24] = 0xfd;
    ip[39] = 2;  // fd00::2
    for (size_t i = 40; i < l3_len; ++i) {
        ip[i] = static_cast<uint8_t>(i * 5 + 1);
    }
    return f;
}

size_t answer(const bytes& f, uint16_t mtu, bytes& out) {
    out.assign(engine::too_big_max_answer, 0xee);
    size_t n = engine::build_too_big(f.data(), f.size(), mtu, out.data());
    out.resize(n);
    return n;
}

TEST(too_big, ipv4_fragmentation_needed_quotes_up_to_576_bytes) {
    bytes f = ipv4_frame(1600);
    bytes a;
    ASSERT_EQ(answer(f, 1438, a), 14u + 576u);
    EXPECT_EQ(0, std::memcmp(a.data(), mac_a, 6));
    EXPECT_EQ(0, std::memcmp(a.data() + 6, mac_b, 6));
    EXPECT_EQ(be16(a.data() + 12), 0x0800);
    const uint8_t* ip = a.data() + 14;
    EXPECT_EQ(ip[0], 0x45);
    EXPECT_EQ(be16(ip + 2), 576);
    EXPECT_EQ(ip[9], 1);
    EXPECT_EQ(sum16(ip, 20), 0xffffu);
    EXPECT_EQ(0, std::memcmp(ip + 12, f.data() + 14 + 16, 4));  // from the original destination
    EXPECT_EQ(0, std::memcmp(ip + 16, f.data() + 14 + 12, 4));  // to the original source
    const uint8_t* icmp = ip + 20;
    EXPECT_EQ(icmp[0], 3);
    EXPECT_EQ(icmp[1], 4);
    EXPECT_EQ(be16(icmp + 4), 0);
    EXPECT_EQ(be16(icmp + 6), 1438);
    EXPECT_EQ(sum16(icmp, 576 - 20), 0xffffu);
    EXPECT_EQ(0, std::memcmp(icmp + 8, f.data() + 14, 548));
}

TEST(too_big, ipv4_short_packet_is_quoted_whole_and_odd_lengths_sum_right) {
    bytes f = ipv4_frame(101);
    bytes a;
    ASSERT_EQ(answer(f, 1000, a), 14u + 20 + 8 + 101);
    EXPECT_EQ(sum16(a.data() + 34, 8 + 101), 0xffffu);
    // Ethernet padding after the IP packet is not quoted.
    f.resize(f.size() + 20, 0);
    ASSERT_EQ(answer(f, 1000, a), 14u + 20 + 8 + 101);
}

TEST(too_big, ipv6_packet_too_big_within_1280) {
    bytes f = ipv6_frame(1600);
    bytes a;
    ASSERT_EQ(answer(f, 1418, a), 14u + 1280u);
    EXPECT_EQ(be16(a.data() + 12), 0x86dd);
    const uint8_t* ip = a.data() + 14;
    EXPECT_EQ(ip[0] >> 4, 6);
    EXPECT_EQ(be16(ip + 4), 1240);
    EXPECT_EQ(ip[6], 58);
    EXPECT_EQ(0, std::memcmp(ip + 8, f.data() + 14 + 24, 16));
    EXPECT_EQ(0, std::memcmp(ip + 24, f.data() + 14 + 8, 16));
    const uint8_t* icmp = ip + 40;
    EXPECT_EQ(icmp[0], 2);
    EXPECT_EQ(icmp[1], 0);
    EXPECT_EQ(be16(icmp + 6), 1418);
    // Checksum with the pseudo-header: addresses, length, next header.
    uint32_t s = sum16(ip + 8, 32);
    s = sum16(icmp, 1240, s + 1240 + 58);
    EXPECT_EQ(s, 0xffffu);
    EXPECT_EQ(0, std::memcmp(icmp + 8, f.data() + 14, 1232));
}

TEST(too_big, no_answer_where_rfcs_forbid_one) {
    bytes a;
    bytes f = ipv4_frame(1600);
    f[0] |= 1;  // multicast / broadcast destination MAC
    EXPECT_EQ(answer(f, 1400, a), 0u);
    EXPECT_EQ(answer(ipv4_frame(1600, 17, 0x2000 | 100), 1400, a), 0u);  // non-first fragment
    EXPECT_NE(answer(ipv4_frame(1600, 17, 0x2000), 1400, a), 0u);        // first fragment: answered
    bytes icmp_err = ipv4_frame(1600, 1);
    icmp_err[14 + 20] = 3;  // an ICMP error itself
    EXPECT_EQ(answer(icmp_err, 1400, a), 0u);
    bytes echo = ipv4_frame(1600, 1);
    echo[14 + 20] = 8;  // echo request: answered
    EXPECT_NE(answer(echo, 1400, a), 0u);
    const uint8_t zero[4] = {0, 0, 0, 0}, loop[4] = {127, 0, 0, 1}, mcast[4] = {224, 0, 0, 5},
                  bcast[4] = {255, 255, 255, 255};
    EXPECT_EQ(answer(ipv4_frame(1600, 17, 0x4000, zero), 1400, a), 0u);
    EXPECT_EQ(answer(ipv4_frame(1600, 17, 0x4000, loop), 1400, a), 0u);
    EXPECT_EQ(answer(ipv4_frame(1600, 17, 0x4000, mcast), 1400, a), 0u);
    EXPECT_EQ(answer(ipv4_frame(1600, 17, 0x4000, nullptr, mcast), 1400, a), 0u);
    EXPECT_EQ(answer(ipv4_frame(1600, 17, 0x4000, nullptr, bcast), 1400, a), 0u);
    bytes v6err = ipv6_frame(1600, 58);
    v6err[14 + 40] = 1;  // ICMPv6 destination unreachable
    EXPECT_EQ(answer(v6err, 1400, a), 0u);
    bytes v6echo = ipv6_frame(1600, 58);
    v6echo[14 + 40] = 128;
    EXPECT_NE(answer(v6echo, 1400, a), 0u);
    bytes v6mc = ipv6_frame(1600);
    v6mc[14 + 24] = 0xff;
    EXPECT_EQ(answer(v6mc, 1400, a), 0u);
    bytes vlan = ipv4_frame(1600);
    vlan[12] = 0x81;
    EXPECT_EQ(answer(vlan, 1400, a), 0u);
    // Truncated and malformed headers.
    bytes runt = ipv4_frame(1600);
    runt.resize(14 + 19);
    EXPECT_EQ(answer(runt, 1400, a), 0u);
    bytes badihl = ipv4_frame(1600);
    badihl[14] = 0x44;
    EXPECT_EQ(answer(badihl, 1400, a), 0u);
    bytes v4in6 = ipv6_frame(1600);
    v4in6[14] = 0x45;
    EXPECT_EQ(answer(v4in6, 1400, a), 0u);
    bytes tiny(10, 0);
    EXPECT_EQ(answer(tiny, 1400, a), 0u);
}

TEST(too_big, limiter_allows_a_burst_then_the_rate) {
    const uint64_t hz = 1'000'000'000;
    engine::too_big_limiter l(hz);
    uint64_t t = 5'000'000'000;
    unsigned ok = 0;
    for (int i = 0; i < 200; ++i) {
        ok += l.allow(t) ? 1 : 0;
    }
    EXPECT_EQ(ok, engine::too_big_limiter::burst);
    t += hz / engine::too_big_limiter::rate;  // one token later
    EXPECT_TRUE(l.allow(t));
    EXPECT_FALSE(l.allow(t));
    t += hz;  // a quiet second refills to the burst, not beyond
    ok = 0;
    for (int i = 0; i < 200; ++i) {
        ok += l.allow(t) ? 1 : 0;
    }
    EXPECT_EQ(ok, engine::too_big_limiter::burst);
    EXPECT_FALSE(engine::too_big_limiter(0).allow(t));  // no clock: never
}

// engine/flood_budget.hh: a flood takes one token per copy, whole or not at all; the bucket
// refills at the rate up to the burst, which holds two floods to the largest mesh.
TEST(flood_budget, a_flood_fits_whole_or_is_refused_whole) {
    const uint64_t hz = 1'000'000'000;
    engine::flood_budget b(hz);
    uint64_t t = 5'000'000'000;
    EXPECT_GE(engine::flood_budget::burst, 2u * 4095u);
    EXPECT_TRUE(b.take(t, 4095));
    EXPECT_TRUE(b.take(t, 4095));
    const uint64_t left = b.tokens();
    EXPECT_LT(left, 4095u);
    EXPECT_FALSE(b.take(t, left + 1));  // refused whole: nothing taken
    EXPECT_EQ(b.tokens(), left);
    EXPECT_TRUE(b.take(t, 0));          // a flood to no peer costs nothing
    t += hz / 1000;                     // a millisecond: rate / 1000 copies more
    EXPECT_TRUE(b.take(t, left + engine::flood_budget::rate / 1000));
    EXPECT_FALSE(b.take(t, 1));
    t += 10 * hz;                       // a quiet time refills to the burst, not beyond
    EXPECT_TRUE(b.take(t, 0));
    EXPECT_EQ(b.tokens(), engine::flood_budget::burst);
    engine::flood_budget small(hz);
    small.set_limits(1000, 3);
    EXPECT_TRUE(small.take(t, 2));
    EXPECT_FALSE(small.take(t, 2));
    EXPECT_TRUE(small.take(t + hz / 1000, 2));  // one copy's time later
    EXPECT_FALSE(engine::flood_budget(0).take(t, 1));  // no clock: no copies
}

}  // namespace
