// SPDX-License-Identifier: MIT
// transports/checksum.hh: the IPv6 pseudo-header sum and the ICMPv6 checksum against packets
// whose checksums were computed outside (Python, RFC 1071 by hand), against the naive reference
// of frames.hh and DPDK's rte_ipv6_phdr_cksum, and against the three copies they replaced
// (control/daemon/neighbour.cc, engine/too_big.cc, transports/outer.cc), kept below as references.
#include "frames.hh"

#include <gtest/gtest.h>

#include <rte_ip.h>

#include <array>
#include <cstring>
#include <vector>

namespace transport {
namespace {

using namespace transport::test;

// The replaced copies, verbatim but for names.
uint16_t old_neighbour_icmp6(const uint8_t* ip6, const uint8_t* msg, size_t len) {
    uint8_t pseudo[8] = {};
    pseudo[2] = static_cast<uint8_t>(len >> 8);
    pseudo[3] = static_cast<uint8_t>(len);
    pseudo[7] = 58;
    uint64_t sum = csum::ones_sum(ip6 + 8, 32);
    sum = csum::ones_sum(pseudo, sizeof(pseudo), sum);
    return csum::finish(csum::ones_sum(msg, len, sum));
}

uint64_t old_outer_pseudo_partial(const uint8_t* src, const uint8_t* dst, uint8_t next_header) {
    uint64_t sum = csum::ones_sum(src, 16);
    sum = csum::ones_sum(dst, 16, sum);
    const uint8_t nh_word[2] = {0, next_header};
    return csum::ones_sum(nh_word, 2, sum);
}

/// IPv6 header (payload length, next header 58) + the message, as the engine lays them out.
std::vector<uint8_t> ip6_packet(const std::array<uint8_t, 16>& src, const std::array<uint8_t, 16>& dst,
                                const std::vector<uint8_t>& msg) {
    std::vector<uint8_t> p(40 + msg.size());
    p[0] = 0x60;
    p[4] = static_cast<uint8_t>(msg.size() >> 8);
    p[5] = static_cast<uint8_t>(msg.size());
    p[6] = 58;
    p[7] = 255;
    std::memcpy(&p[8], src.data(), 16);
    std::memcpy(&p[24], dst.data(), 16);
    if (!msg.empty()) {
        std::memcpy(&p[40], msg.data(), msg.size());
    }
    return p;
}

constexpr std::array<uint8_t, 16> fe80_1 = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr std::array<uint8_t, 16> snm_2 = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2};

uint16_t be(uint16_t native) { return rte_be_to_cpu_16(native); }

TEST(checksum, icmp6_of_known_neighbour_solicitation) {
    // NS fe80::1 -> ff02::1:ff00:2 for target fe80::2, source link-layer address 02:00:00:00:00:01.
    std::vector<uint8_t> ns = {135, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
                               1, 1, 2, 0, 0, 0, 0, 1};
    auto p = ip6_packet(fe80_1, snm_2, ns);
    const uint16_t c = csum::icmp6_checksum(p.data(), p.data() + 40, ns.size());
    EXPECT_EQ(be(c), 0x7a97);  // computed with Python
    std::memcpy(&p[42], &c, 2);
    EXPECT_EQ(csum::icmp6_checksum(p.data(), p.data() + 40, ns.size()), 0) << "a filled-in checksum verifies";
    p[60] ^= 1;
    EXPECT_NE(csum::icmp6_checksum(p.data(), p.data() + 40, ns.size()), 0) << "a flipped bit does not";
}

TEST(checksum, icmp6_of_known_odd_length_echo) {
    const std::vector<uint8_t> echo = {128, 0, 0, 0, 0x12, 0x34, 0, 1, 'a', 'b', 'c'};
    const auto p = ip6_packet(fe80_1, snm_2, echo);
    EXPECT_EQ(be(csum::icmp6_checksum(p.data(), p.data() + 40, echo.size())), 0xac99);  // Python
}

TEST(checksum, icmp6_equals_reference_and_the_replaced_copies) {
    for (size_t n = 0; n <= 1300; n += (n < 70 ? 1 : 41)) {
        const auto rnd = random_bytes(32 + n, static_cast<uint32_t>(n) + 7);
        std::array<uint8_t, 16> s{}, d{};
        std::memcpy(s.data(), rnd.data(), 16);
        std::memcpy(d.data(), rnd.data() + 16, 16);
        auto p = ip6_packet(s, d, std::vector<uint8_t>(rnd.begin() + 32, rnd.end()));
        if (n >= 4) {
            p[42] = p[43] = 0;  // the checksum field, as a sender sees it
        }
        const uint16_t mine = csum::icmp6_checksum(p.data(), p.data() + 40, n);
        ASSERT_EQ(mine, old_neighbour_icmp6(p.data(), p.data() + 40, n)) << n;
        // too_big.cc's copy summed the same pseudo-header bytes as neighbour.cc's; the naive one:
        const uint16_t ref = static_cast<uint16_t>(~ref_sum(p.data() + 40, n, ref_pseudo6(p.data(), static_cast<uint32_t>(n), 58)));
        ASSERT_EQ(be(mine), ref) << n;
        // DPDK's pseudo-header sum (length from the header) agrees with ours.
        const auto* h = reinterpret_cast<const rte_ipv6_hdr*>(p.data());
        ASSERT_EQ(csum::fold(csum::ipv6_pseudo_sum(p.data() + 8, p.data() + 24, 58, static_cast<uint32_t>(n))),
                  rte_ipv6_phdr_cksum(h, 0))
            << n;
    }
}

TEST(checksum, pseudo_sum_without_length_equals_the_outer_template_copy) {
    const auto rnd = random_bytes(32 * 50, 3);
    for (size_t i = 0; i < 50; ++i) {
        const uint8_t* s = rnd.data() + 32 * i;
        const uint8_t* d = s + 16;
        for (const uint8_t nh : {uint8_t{17}, uint8_t{58}, uint8_t{47}, uint8_t{255}}) {
            ASSERT_EQ(csum::fold(csum::ipv6_pseudo_sum(s, d, nh)), csum::fold(old_outer_pseudo_partial(s, d, nh)));
            // with a running sum, as build_template() chains it after the ICMP type/code word
            ASSERT_EQ(csum::fold(csum::ipv6_pseudo_sum(s, d, nh, 0, 0x1234)),
                      csum::fold(old_outer_pseudo_partial(s, d, nh) + 0x1234));
        }
    }
    // Long lengths (jumbograms) carry into the upper 16 bits of the 32-bit length field.
    const uint8_t z[16] = {};
    EXPECT_EQ(be(csum::fold(csum::ipv6_pseudo_sum(z, z, 0, 0x00012345))), 0x2346);
}

}  // namespace
}  // namespace transport
