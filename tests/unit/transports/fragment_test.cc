// SPDX-License-Identifier: MIT
// transports/fragment: outer IPv4 / IPv6 fragments of every kind, field by field; the pieces
// put back together give the original IP payload; the receiver's classify() sees each one as
// a fragment for us.
#include "transports/fragment.hh"

#include "frames.hh"

#include <gtest/gtest.h>

namespace transport {
namespace {

using namespace transport::test;

constexpr kind all[] = {kind::udp4, kind::udp6, kind::rawip4, kind::rawip6, kind::icmp4, kind::icmp6};

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

TEST(fragment, every_kind_splits_and_reassembles_to_the_original) {
    for (kind k : all) {
        const bool v6 = is_ipv6(k);
        const size_t ip_hdr = v6 ? 40 : 20;
        for (size_t dvpe_len : {1490u, 1601u, 3000u, 9000u}) {
            for (uint16_t mtu : {uint16_t{1500}, uint16_t{1280}, uint16_t{576}}) {
                const auto f = make_frame(k, dvpe_len, static_cast<uint32_t>(dvpe_len));
                const fragment_plan plan = plan_fragments(v6, f.size(), mtu);
                const size_t payload = f.size() - 14 - ip_hdr;
                const size_t chunk = (mtu - ip_hdr - (v6 ? 8 : 0)) & ~size_t{7};
                const size_t count = (payload + chunk - 1) / chunk;
                const std::string what = std::string(kind_name(k)) + " len " + std::to_string(dvpe_len) + " mtu " +
                                         std::to_string(mtu);
                if (count > max_fragments) {
                    EXPECT_EQ(plan.count, 0) << what;
                    continue;
                }
                ASSERT_EQ(plan.count, count) << what;
                std::vector<uint8_t> joined;
                for (unsigned i = 0; i < plan.count; ++i) {
                    std::vector<uint8_t> out(14 + mtu + 1, 0xee);
                    const size_t n = write_fragment(f.data(), v6, plan, i, 0x01020304u, out.data());
                    out.resize(n);
                    ASSERT_LE(n - 14, mtu) << what;
                    EXPECT_EQ(0, std::memcmp(out.data(), f.data(), 14)) << what;  // same Ethernet header
                    const uint8_t* ip = out.data() + 14;
                    const bool last = i + 1 == plan.count;
                    size_t data_at;
                    if (!v6) {
                        EXPECT_EQ(be16(ip + 2), n - 14) << what;
                        EXPECT_EQ(be16(ip + 4), 0x0304) << what;
                        EXPECT_EQ(be16(ip + 6), (last ? 0 : 0x2000) | (i * chunk / 8)) << what;  // DF clear
                        EXPECT_EQ(ref_sum(ip, 20), 0xffff) << what;
                        EXPECT_EQ(0, std::memcmp(ip + 8, f.data() + 14 + 8, 2)) << what;   // TTL, protocol
                        EXPECT_EQ(0, std::memcmp(ip + 12, f.data() + 14 + 12, 8)) << what;  // addresses
                        data_at = 20;
                    } else {
                        EXPECT_EQ(be16(ip + 4), n - 14 - 40) << what;
                        EXPECT_EQ(ip[6], 44) << what;
                        EXPECT_EQ(ip[40], f[14 + 6]) << what;  // the original next header
                        EXPECT_EQ(be16(ip + 42), (i * chunk) | (last ? 0 : 1)) << what;
                        EXPECT_EQ(0, std::memcmp(ip + 44, "\x01\x02\x03\x04", 4)) << what;
                        EXPECT_EQ(0, std::memcmp(ip + 8, f.data() + 14 + 8, 32)) << what;
                        data_at = 48;
                    }
                    if (!last) {
                        EXPECT_EQ(n - 14 - data_at, chunk) << what;
                    }
                    const size_t piece = n - 14 - data_at, at = joined.size();
                    joined.resize(at + piece);  // resize + memcpy: no vector::insert (GCC 12 -Wrestrict)
                    std::memcpy(joined.data() + at, ip + data_at, piece);
                    // What the receiving node's classify() makes of it: a fragment for us.
                    EXPECT_EQ(classify(out.data(), static_cast<uint32_t>(out.size()), config_b()).reason,
                              classify_reason::fragment)
                        << what;
                }
                ASSERT_EQ(joined.size(), payload) << what;
                EXPECT_EQ(0, std::memcmp(joined.data(), f.data() + 14 + ip_hdr, payload)) << what;
            }
        }
    }
}

TEST(fragment, plans_that_cannot_be_cut) {
    EXPECT_EQ(plan_fragments(false, 14 + 20, 1500).count, 0);          // nothing after the header
    EXPECT_EQ(plan_fragments(false, 14 + 20 + 100, 27).count, 0);      // no 8-byte chunk fits
    EXPECT_EQ(plan_fragments(true, 14 + 40 + 100, 55).count, 0);       // 40 + 8 + 8 > 55
    EXPECT_EQ(plan_fragments(false, 14 + 20 + 9 * 1480, 1500).count, 0);  // 9 fragments > max
    EXPECT_EQ(plan_fragments(false, 14 + 20 + 8 * 1480, 1500).count, 8);
    const fragment_plan p = plan_fragments(true, 14 + 40 + 1500, 1280);
    EXPECT_EQ(p.count, 2);
    EXPECT_EQ(p.chunk, 1232);
    EXPECT_EQ(p.payload, 1500);
}

}  // namespace
}  // namespace transport
