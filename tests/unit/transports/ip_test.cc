// SPDX-License-Identifier: MIT
// transports/ip.hh: the one IP address type. Built without DPDK (this executable links gtest
// only), as control's DPDK-free wings and dvpectl use it: parse() of good and garbage text, str() round
// trips, same_subnet() at every prefix edge, the order the neighbour table relies on.
#include "transports/ip.hh"

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <string>
#include <string_view>

namespace transport {
namespace {

TEST(ip_address, parse_and_str) {
    struct c {
        std::string_view text;
        bool v6;
        std::string_view str;
    };
    for (const c& x : {c{"10.0.0.1", false, "10.0.0.1"}, c{"0.0.0.0", false, "0.0.0.0"},
                       c{"255.255.255.255", false, "255.255.255.255"}, c{"::", true, "::"}, c{"::1", true, "::1"},
                       c{"2001:DB8::A", true, "2001:db8::a"}, c{"fe80:0:0:0:0:0:0:1", true, "fe80::1"},
                       c{"::ffff:1.2.3.4", true, "::ffff:1.2.3.4"}}) {
        SCOPED_TRACE(std::string(x.text));
        const auto a = ip_address::parse(x.text);
        ASSERT_TRUE(a.has_value());
        EXPECT_EQ(a->v6, x.v6);
        EXPECT_EQ(a->str(), x.str);
        EXPECT_EQ(ip_address::parse(a->str()), a);
    }
    const auto a = ip_address::parse("192.0.2.7");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->v4(), htonl(0xc0000207u));
    for (size_t i = 4; i < 16; ++i) {
        EXPECT_EQ(a->bytes[i], 0) << i;
    }
}

TEST(ip_address, parse_rejects_garbage) {
    const std::string_view bad[] = {"", " ", "1.2.3", "1.2.3.4.5", "256.0.0.1", "10.0.0.256", "1.2.3.4 ",
                                    " 1.2.3.4", "1.2.3.4/24", "01.2.3.4x", "example.org", "1::2::3", ":::",
                                    "fe80::1%eth0", "[::1]", "::1/128", "12345::", "g::1", "1.2.3.-4",
                                    std::string_view("1.2.3.4\0junk", 12), std::string_view("\0", 1),
                                    "1:2:3:4:5:6:7:8:9",
                                    "0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:00"};
    for (const std::string_view s : bad) {
        EXPECT_FALSE(ip_address::parse(s).has_value()) << '"' << std::string(s) << '"';
    }
    std::string huge(100000, '1');
    EXPECT_FALSE(ip_address::parse(huge).has_value());
}

TEST(ip_address, from_v4_v6_and_v4) {
    const uint8_t b6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
    EXPECT_EQ(ip_address::from_v6(b6), *ip_address::parse("2001:db8::9"));
    EXPECT_EQ(ip_address::from_v4(htonl(0x0a000001u)), *ip_address::parse("10.0.0.1"));
    EXPECT_EQ(ip_address::from_v4(htonl(0x0a000001u)).str(), "10.0.0.1");
    EXPECT_EQ(ip_address::parse("10.0.0.1")->v4(), htonl(0x0a000001u));
}

TEST(ip_address, same_subnet) {
    const auto a = *ip_address::parse("192.0.2.1");
    const auto b = *ip_address::parse("192.0.2.200");
    const auto c = *ip_address::parse("192.0.3.1");
    EXPECT_TRUE(a.same_subnet(b, 24));
    EXPECT_FALSE(a.same_subnet(c, 24));
    EXPECT_TRUE(a.same_subnet(c, 23));
    EXPECT_TRUE(a.same_subnet(b, 0));
    EXPECT_FALSE(a.same_subnet(b, 25));  // .1 and .200 differ in the 25th bit
    EXPECT_TRUE(a.same_subnet(a, 32));
    EXPECT_FALSE(a.same_subnet(b, 32));
    EXPECT_FALSE(a.same_subnet(b, 1000)) << "clamped to 32";
    EXPECT_TRUE(a.same_subnet(a, 1000));

    const auto x = *ip_address::parse("2001:db8::1");
    const auto y = *ip_address::parse("2001:db8::ffff:1");
    EXPECT_TRUE(x.same_subnet(y, 64));
    EXPECT_TRUE(x.same_subnet(y, 96));
    EXPECT_FALSE(x.same_subnet(y, 97));
    EXPECT_FALSE(x.same_subnet(y, 128));
    EXPECT_TRUE(x.same_subnet(x, 128));
    EXPECT_TRUE(x.same_subnet(x, 500)) << "clamped to 128";

    // Different families never share a subnet, not even at prefix 0 or with equal bytes.
    const auto v4z = *ip_address::parse("0.0.0.0");
    const auto v6z = *ip_address::parse("::");
    EXPECT_FALSE(v4z.same_subnet(v6z, 0));
    EXPECT_FALSE(v6z.same_subnet(v4z, 0));
    EXPECT_NE(v4z, v6z);
}

TEST(ip_address, order_is_family_then_bytes) {
    const auto v4hi = *ip_address::parse("255.255.255.255");
    const auto v6lo = *ip_address::parse("::");
    EXPECT_LT(v4hi, v6lo) << "IPv4 before IPv6, as engine::neigh_ip ordered the neighbour table";
    EXPECT_LT(*ip_address::parse("10.0.0.1"), *ip_address::parse("10.0.0.2"));
    EXPECT_LT(*ip_address::parse("2001:db8::1"), *ip_address::parse("fe80::1"));
    EXPECT_EQ(*ip_address::parse("10.0.0.1") <=> *ip_address::parse("10.0.0.1"), std::strong_ordering::equal);
}

}  // namespace
}  // namespace transport
