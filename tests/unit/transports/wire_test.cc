// SPDX-License-Identifier: MIT
// transports/wire: node ids 1..4095 encode and decode in both positions, 0 and 4096 are refused,
// byte-exact layout of the data header against docs/protocol.md, the nonce, and the
// common-header validator's cases.
#include "transports/wire.hh"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

namespace transport {
namespace {

TEST(wire, every_node_id_round_trips_as_src_and_dst) {
    for (uint16_t id = min_node_id; id <= max_node_id; ++id) {
        dvpe_header h{};
        ASSERT_TRUE(set_ids(h, id, 4095 - id + 1));
        ASSERT_EQ(src_id(h), id);
        ASSERT_EQ(dst_id(h), 4095 - id + 1);
        data_header d{};
        ASSERT_TRUE(set_ids(d, 1, id));
        ASSERT_EQ(src_id(d), 1);
        ASSERT_EQ(dst_id(d), id);
        // docs/protocol.md: srcdst high nibble = src bits 11..8, low nibble = dst bits 11..8
        ASSERT_EQ(d.srcdst, id >> 8);
        ASSERT_EQ(d.dst_lo, id & 0xff);
    }
    std::mt19937 rng(7);
    for (int i = 0; i < 100000; ++i) {
        const auto s = static_cast<uint16_t>(1 + rng() % 4095);
        const auto d = static_cast<uint16_t>(1 + rng() % 4095);
        dvpe_header h{};
        ASSERT_TRUE(set_ids(h, s, d));
        ASSERT_EQ(src_id(h), s);
        ASSERT_EQ(dst_id(h), d);
    }
}

TEST(wire, invalid_node_ids_are_refused) {
    static_assert(!valid_node_id(0) && valid_node_id(1) && valid_node_id(4095) && !valid_node_id(4096));
    for (uint16_t bad : {uint16_t{0}, uint16_t{4096}, uint16_t{0xffff}}) {
        dvpe_header h{};
        h.srcdst = 0x12;
        h.src_lo = 0x34;
        h.dst_lo = 0x56;
        EXPECT_FALSE(set_ids(h, bad, 5));
        EXPECT_FALSE(set_ids(h, 5, bad));
        EXPECT_EQ(h.srcdst, 0x12) << "untouched";
        EXPECT_EQ(h.src_lo, 0x34);
        EXPECT_EQ(h.dst_lo, 0x56);
        data_header d{};
        EXPECT_FALSE(init_data_header(d, bad, 1, 0, 0, 0));
        EXPECT_FALSE(init_data_header(d, 1, bad, 0, 0, 0));
        EXPECT_EQ(d.type, 0);
    }
}

TEST(wire, data_header_bytes_match_the_spec) {
    data_header h{};
    ASSERT_TRUE(init_data_header(h, 0x123, 0xabc, 0x42, 0xbeef, 0x0102030405060708ull, true));
    uint8_t b[16];
    std::memcpy(b, &h, 16);
    const uint8_t want[16] = {
        1,            // type data
        0x11,         // version 1, full_frame
        0x1a,         // src 11..8 = 1, dst 11..8 = 0xa
        0x23, 0xbc,   // src_lo, dst_lo
        0x42,         // key_id
        0xbe, 0xef,   // lane
        1, 2, 3, 4, 5, 6, 7, 8,  // counter
    };
    EXPECT_EQ(std::memcmp(b, want, 16), 0);
    EXPECT_EQ(lane(h), 0xbeef);
    EXPECT_EQ(counter(h), 0x0102030405060708ull);
    EXPECT_EQ(version(h), 1);
    EXPECT_EQ(flags(h), data_flag_full_frame);
    EXPECT_EQ(src_id(h), 0x123);
    EXPECT_EQ(dst_id(h), 0xabc);
    set_counter(h, ~0ull);
    EXPECT_EQ(counter(h), ~0ull);
    set_counter(h, 0);
    EXPECT_EQ(counter(h), 0u);
    set_lane(h, 0);
    EXPECT_EQ(lane(h), 0);
}

TEST(wire, nonce_is_lane_u32_then_counter_u64_big_endian) {
    const nonce_bytes n = nonce(0x1234, 0xa1a2a3a4a5a6a7a8ull);
    const nonce_bytes want = {0, 0, 0x12, 0x34, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8};
    EXPECT_EQ(n, want);
    static_assert(nonce(0, 0) == nonce_bytes{});
    // distinct (lane, counter) pairs give distinct nonces
    EXPECT_NE(nonce(1, 0), nonce(0, 1));
    EXPECT_NE(nonce(0xffff, 0), nonce(0, 0xffff));
}

// The word-wise forms of the data path write the very bytes of init_data_header() and nonce().
TEST(wire, word_stores_match_the_byte_forms) {
    const uint16_t ids[] = {1, 2, 0x0ff, 0x100, 0x123, 0xabc, 0xfff};
    const uint16_t lanes[] = {0, 1, 15, 0x00ff, 0x0100, 0xbeef, 0xffff};
    const uint64_t ctrs[] = {0, 1, 0xff, 0x0102030405060708ull, 0xa1a2a3a4a5a6a7a8ull, ~0ull};
    for (uint16_t src : ids) {
        for (uint16_t dst : ids) {
            for (uint16_t l : lanes) {
                for (uint64_t c : ctrs) {
                    for (bool full : {false, true}) {
                        const auto key_id = static_cast<uint8_t>(src ^ dst ^ l);
                        data_header want{};
                        ASSERT_TRUE(init_data_header(want, src, dst, key_id, l, c, full));
                        uint8_t got[16];
                        store_data_header(got, data_header_head(src, dst, key_id, l, full), c);
                        ASSERT_EQ(std::memcmp(got, &want, 16), 0) << src << " " << dst << " " << l << " " << c;
                        uint8_t n1[nonce_size];
                        uint8_t n2[nonce_size];
                        store_nonce(n1, l, c);
                        store_nonce_from_header(n2, got);
                        const nonce_bytes n = nonce(l, c);
                        ASSERT_EQ(std::memcmp(n1, n.data(), nonce_size), 0) << l << " " << c;
                        ASSERT_EQ(std::memcmp(n2, n.data(), nonce_size), 0) << l << " " << c;
                    }
                }
            }
        }
    }
}

TEST(wire, validate_header_cases) {
    struct vcase {
        const char* name;
        uint8_t b[16];
        size_t len;
        header_error expect;
    };
    const vcase cases[] = {
        {"data ok", {1, 0x10, 0x00, 1, 2}, 16, header_error::ok},  // 16 < 32 below: too_short
        {"data header + tag", {1, 0x10, 0x00, 1, 2}, 32, header_error::ok},
        {"handshake ok", {2, 0x10, 0x00, 1, 2}, 8, header_error::ok},
        {"cookie ok", {4, 0x10, 0xff, 0xff, 0xff}, 8, header_error::ok},
        {"7 bytes", {2, 0x10, 0x00, 1, 2}, 7, header_error::too_short},
        {"version 0", {2, 0x00, 0x00, 1, 2}, 8, header_error::bad_version},
        {"version 2", {2, 0x20, 0x00, 1, 2}, 8, header_error::bad_version},
        {"type 0", {0, 0x10, 0x00, 1, 2}, 8, header_error::unknown_type},
        {"type 5", {5, 0x10, 0x00, 1, 2}, 8, header_error::unknown_type},
        {"src 0", {2, 0x10, 0x00, 0, 2}, 8, header_error::invalid_src},
        {"src 0x100", {2, 0x10, 0x10, 0, 2}, 8, header_error::ok},
        {"dst 0", {2, 0x10, 0x00, 1, 0}, 8, header_error::invalid_dst},
        {"dst 0x100", {2, 0x10, 0x01, 1, 0}, 8, header_error::ok},
    };
    int i = 0;
    for (const vcase& c : cases) {
        ++i;
        header_error want = c.expect;
        if (c.b[0] == 1 && c.len < data_overhead) {
            want = header_error::too_short;  // a data message holds header and tag
        }
        EXPECT_EQ(header_error_names[static_cast<size_t>(validate_header(c.b, c.len))],
                  header_error_names[static_cast<size_t>(want)])
            << "case " << i << ": " << c.name;
    }
}

}  // namespace
}  // namespace transport
