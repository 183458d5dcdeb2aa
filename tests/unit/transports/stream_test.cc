// SPDX-License-Identifier: MIT
// transports/stream.hh: the ring header (write_stream_meta / read_stream_meta) as
// docs/protocol.md "tcp" lays it out and its refusals, classify_stream()'s three outcomes, and
// stream_reader against garbage, truncation, repetition, the length bounds and its memory bound
// (one partial packet plus the last chunk fed). Every buffer handed to the code under test is a
// heap buffer of exactly its length, so a read past its end is an ASan report.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "transports/stream.hh"

namespace {

using namespace transport;
using bytes = std::vector<uint8_t>;
using status = stream_reader::status;

ip_address v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    ip_address r;
    r.bytes[0] = a, r.bytes[1] = b, r.bytes[2] = c, r.bytes[3] = d;
    return r;
}

ip_address v6_doc() {  // 2001:db8::1:2
    ip_address r;
    r.v6 = true;
    r.bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2};
    return r;
}

// A ring header for `k` in front of `dvpe_len` bytes of payload (0x40, 0x41, ...).
bytes ring_frame(kind k, uint8_t flags, const ip_address& ip, uint16_t port, uint16_t dvpe_len) {
    bytes f(stream_meta_size + dvpe_len);
    write_stream_meta(f.data(), k, flags, ip, port, dvpe_len);
    for (size_t i = stream_meta_size; i < f.size(); ++i) {
        f[i] = static_cast<uint8_t>(0x40 + i);
    }
    return f;
}

// read_stream_meta on an exact-length heap copy of the first `len` bytes of `f`.
std::optional<stream_endpoint> read_exact(const bytes& f, size_t len) {
    auto buf = std::make_unique<uint8_t[]>(len == 0 ? 1 : len);
    std::copy_n(f.begin(), len, buf.get());
    return read_stream_meta(buf.get(), static_cast<uint32_t>(len));
}
std::optional<stream_endpoint> read_exact(const bytes& f) { return read_exact(f, f.size()); }

classify_result classify_exact(const bytes& f, const local_config& cfg) {
    auto buf = std::make_unique<uint8_t[]>(f.empty() ? 1 : f.size());
    std::copy(f.begin(), f.end(), buf.get());
    return classify_stream(buf.get(), static_cast<uint32_t>(f.size()), cfg);
}

// ---- ring header ------------------------------------------------------------------------------

TEST(stream_meta, layout_and_round_trip_tcp4_zeroes_the_ipv4_tail) {
    ip_address ip = v4(192, 0, 2, 7);
    std::fill(ip.bytes.begin() + 4, ip.bytes.end(), 0xee);  // garbage beyond an IPv4 address
    const bytes f = ring_frame(kind::tcp4, stream_flag_connect, ip, 0x1234, 100);
    ASSERT_EQ(f.size(), 122u);
    EXPECT_EQ(f[0], static_cast<uint8_t>(kind::tcp4));
    EXPECT_EQ(f[1], stream_flag_connect);
    EXPECT_EQ(f[2], 0x12);
    EXPECT_EQ(f[3], 0x34);
    EXPECT_EQ((bytes{f.begin() + 4, f.begin() + 8}), (bytes{192, 0, 2, 7}));
    for (size_t i = 8; i < 20; ++i) {
        EXPECT_EQ(f[i], 0) << "IPv4 tail byte " << i;
    }
    EXPECT_EQ(f[20], 0);
    EXPECT_EQ(f[21], 100);
    EXPECT_EQ(stream_prefix_offset, 20);

    const auto e = read_exact(f);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->k, kind::tcp4);
    EXPECT_EQ(e->flags, stream_flag_connect);
    EXPECT_EQ(e->port, 0x1234);
    EXPECT_EQ(e->len, 100);
    EXPECT_FALSE(e->ip.v6);
    EXPECT_EQ(e->ip, v4(192, 0, 2, 7));

    // Garbage in the tail of a tcp4 header (not written by us) is ignored and not read back.
    bytes g = f;
    std::fill(g.begin() + 8, g.begin() + 20, 0x5a);
    const auto e2 = read_exact(g);
    ASSERT_TRUE(e2.has_value());
    EXPECT_EQ(e2->ip, v4(192, 0, 2, 7));
    for (size_t i = 4; i < 16; ++i) {
        EXPECT_EQ(e2->ip.bytes[i], 0);
    }
}

TEST(stream_meta, layout_and_round_trip_tcp6) {
    const ip_address ip = v6_doc();
    for (const uint8_t flags : {uint8_t{0}, stream_flag_connect}) {
        const bytes f = ring_frame(kind::tcp6, flags, ip, 655, 0x0123);
        EXPECT_EQ(f[0], static_cast<uint8_t>(kind::tcp6));
        EXPECT_EQ(f[1], flags);
        EXPECT_EQ(f[2], 0x02);
        EXPECT_EQ(f[3], 0x8f);
        EXPECT_TRUE(std::equal(ip.bytes.begin(), ip.bytes.end(), f.begin() + 4));
        EXPECT_EQ(f[20], 0x01);
        EXPECT_EQ(f[21], 0x23);
        const auto e = read_exact(f);
        ASSERT_TRUE(e.has_value());
        EXPECT_EQ(e->k, kind::tcp6);
        EXPECT_EQ(e->flags, flags);
        EXPECT_EQ(e->port, 655);
        EXPECT_EQ(e->len, 0x0123);
        EXPECT_TRUE(e->ip.v6);
        EXPECT_EQ(e->ip, ip);
    }
}

TEST(stream_meta, round_trip_edge_values) {
    for (const kind k : {kind::tcp4, kind::tcp6}) {
        for (const uint16_t port : {uint16_t{0}, uint16_t{1}, uint16_t{0xffff}}) {
            for (const uint16_t len : {uint16_t{0}, uint16_t{1}, uint16_t{8}, max_stream_packet}) {
                ip_address ip = is_ipv6(k) ? v6_doc() : v4(255, 255, 255, 255);
                const bytes f = ring_frame(k, 0, ip, port, len);
                const auto e = read_exact(f);
                ASSERT_TRUE(e.has_value()) << kind_name(k) << " " << port << " " << len;
                EXPECT_EQ(e->k, k);
                EXPECT_EQ(e->port, port);
                EXPECT_EQ(e->len, len);
                EXPECT_EQ(e->ip, ip);
            }
        }
    }
}

TEST(stream_meta, refuses_input_shorter_than_a_ring_header) {
    const bytes f = ring_frame(kind::tcp6, 0, v6_doc(), 655, 0);
    ASSERT_EQ(f.size(), stream_meta_size);
    ASSERT_TRUE(read_exact(f).has_value());
    for (size_t len = 0; len < stream_meta_size; ++len) {
        EXPECT_FALSE(read_exact(f, len).has_value()) << len;
    }
}

TEST(stream_meta, refuses_kinds_other_than_tcp) {
    bytes f = ring_frame(kind::tcp4, 0, v4(10, 0, 0, 1), 655, 16);
    for (unsigned k = 0; k < 256; ++k) {
        f[0] = static_cast<uint8_t>(k);
        const bool tcp = k < n_kinds && is_stream(static_cast<kind>(k));  // tcp and dns ride the stream port
        EXPECT_EQ(read_exact(f).has_value(), tcp) << "kind byte " << k;
    }
}

TEST(stream_meta, refuses_unknown_flag_bits) {
    bytes f = ring_frame(kind::tcp4, 0, v4(10, 0, 0, 1), 655, 16);
    for (unsigned fl = 0; fl < 256; ++fl) {
        f[1] = static_cast<uint8_t>(fl);
        EXPECT_EQ(read_exact(f).has_value(), fl == 0 || fl == stream_flag_connect) << "flags " << fl;
    }
}

TEST(stream_meta, refuses_a_length_that_does_not_match_the_bytes) {
    const bytes f = ring_frame(kind::tcp6, 0, v6_doc(), 655, 100);
    ASSERT_TRUE(read_exact(f).has_value());
    EXPECT_FALSE(read_exact(f, f.size() - 1).has_value());  // one byte short
    bytes longer = f;
    longer.push_back(0);
    EXPECT_FALSE(read_exact(longer).has_value());  // one byte extra
    // A length that matches the bytes only modulo 2^16 is still a mismatch.
    bytes wrap(stream_meta_size + 65536 + 100);
    std::copy(f.begin(), f.begin() + stream_meta_size, wrap.begin());
    EXPECT_FALSE(read_exact(wrap).has_value());
    bytes zero(stream_meta_size + 65536);
    std::copy(f.begin(), f.begin() + stream_meta_size, zero.begin());
    zero[20] = zero[21] = 0;
    EXPECT_FALSE(read_exact(zero).has_value());
    // The prefix off by one either way.
    for (const int delta : {-1, 1}) {
        bytes g = f;
        g[21] = static_cast<uint8_t>(g[21] + delta);
        EXPECT_FALSE(read_exact(g).has_value()) << delta;
    }
}

// ---- classify_stream --------------------------------------------------------------------------

TEST(classify_stream, ok_with_the_endpoint_as_source) {
    const local_config cfg;
    const bytes f4 = ring_frame(kind::tcp4, stream_flag_connect, v4(198, 51, 100, 3), 4433, 64);
    const auto r4 = classify_exact(f4, cfg);
    EXPECT_EQ(r4.reason, classify_reason::ok);
    EXPECT_EQ(r4.k, kind::tcp4);
    EXPECT_EQ(r4.dvpe_offset, stream_meta_size);
    EXPECT_EQ(r4.dvpe_len, 64);
    EXPECT_EQ(r4.src_port, 4433);
    EXPECT_EQ(r4.src_ip, v4(198, 51, 100, 3));
    EXPECT_EQ(size_t{r4.dvpe_offset} + r4.dvpe_len, f4.size());

    const bytes f6 = ring_frame(kind::tcp6, 0, v6_doc(), 655, sizeof(dvpe_header));
    const auto r6 = classify_exact(f6, cfg);
    EXPECT_EQ(r6.reason, classify_reason::ok);
    EXPECT_EQ(r6.k, kind::tcp6);
    EXPECT_EQ(r6.dvpe_offset, stream_meta_size);
    EXPECT_EQ(r6.dvpe_len, sizeof(dvpe_header));
    EXPECT_EQ(r6.src_port, 655);
    EXPECT_EQ(r6.src_ip, v6_doc());
}

TEST(classify_stream, bad_length_for_a_malformed_header_or_a_short_packet) {
    const local_config cfg;
    for (uint16_t len = 0; len < sizeof(dvpe_header); ++len) {
        EXPECT_EQ(classify_exact(ring_frame(kind::tcp4, 0, v4(10, 0, 0, 1), 655, len), cfg).reason,
                  classify_reason::bad_length)
            << len;
    }
    bytes f = ring_frame(kind::tcp4, 0, v4(10, 0, 0, 1), 655, 64);
    EXPECT_EQ(classify_exact(bytes(f.begin(), f.begin() + 21), cfg).reason, classify_reason::bad_length);
    EXPECT_EQ(classify_exact(bytes(f.begin(), f.end() - 1), cfg).reason, classify_reason::bad_length);
    EXPECT_EQ(classify_exact(bytes{}, cfg).reason, classify_reason::bad_length);
    bytes udp = f;
    udp[0] = static_cast<uint8_t>(kind::udp4);
    EXPECT_EQ(classify_exact(udp, cfg).reason, classify_reason::bad_length);
    bytes flags = f;
    flags[1] = 0x80;
    EXPECT_EQ(classify_exact(flags, cfg).reason, classify_reason::bad_length);
}

TEST(classify_stream, disabled_transport_without_the_tcp_bits) {
    local_config cfg;
    cfg.enabled = static_cast<uint16_t>(all_kinds & ~(kind_bit(kind::tcp4) | kind_bit(kind::tcp6)));
    const bytes f4 = ring_frame(kind::tcp4, 0, v4(10, 0, 0, 1), 655, 64);
    const bytes f6 = ring_frame(kind::tcp6, 0, v6_doc(), 655, 64);
    auto r = classify_exact(f4, cfg);
    EXPECT_EQ(r.reason, classify_reason::disabled_transport);
    EXPECT_EQ(r.k, kind::tcp4);
    r = classify_exact(f6, cfg);
    EXPECT_EQ(r.reason, classify_reason::disabled_transport);
    EXPECT_EQ(r.k, kind::tcp6);

    // One family only: the other is disabled.
    cfg.enabled = kind_bit(kind::tcp4);
    EXPECT_EQ(classify_exact(f4, cfg).reason, classify_reason::ok);
    EXPECT_EQ(classify_exact(f6, cfg).reason, classify_reason::disabled_transport);
    cfg.enabled = kind_bit(kind::tcp6);
    EXPECT_EQ(classify_exact(f4, cfg).reason, classify_reason::disabled_transport);
    EXPECT_EQ(classify_exact(f6, cfg).reason, classify_reason::ok);

    // A malformed header is bad_length even when tcp is disabled.
    cfg.enabled = 0;
    EXPECT_EQ(classify_exact(ring_frame(kind::tcp4, 0, v4(10, 0, 0, 1), 655, 7), cfg).reason,
              classify_reason::bad_length);
}

// ---- stream_reader ----------------------------------------------------------------------------

// `n` payload bytes behind their 2-byte length (any n, also out of range).
bytes framed(uint16_t n, uint8_t fill_seed = 0) {
    bytes b(stream_prefix_size + size_t{n});
    b[0] = static_cast<uint8_t>(n >> 8);
    b[1] = static_cast<uint8_t>(n);
    for (size_t i = 0; i < n; ++i) {
        b[2 + i] = static_cast<uint8_t>(fill_seed + i * 7);
    }
    return b;
}

// Feeds `chunk` from an exact-length heap copy (the reader must copy it before it is freed).
void feed_exact(stream_reader& r, std::span<const uint8_t> chunk) {
    auto buf = std::make_unique<uint8_t[]>(chunk.empty() ? 1 : chunk.size());
    if (!chunk.empty()) {
        std::memcpy(buf.get(), chunk.data(), chunk.size());
    }
    r.feed(std::span<const uint8_t>(buf.get(), chunk.size()));
    std::fill_n(buf.get(), chunk.size(), uint8_t{0xdd});
}

// Drains `r`: the packets yielded, and the final status (need_more or bad_length).
status drain(stream_reader& r, std::vector<bytes>& out) {
    for (;;) {
        std::span<const uint8_t> p;
        const status st = r.next(p);
        if (st != status::packet) {
            return st;
        }
        EXPECT_GE(p.size(), sizeof(dvpe_header));
        EXPECT_LE(p.size(), max_stream_packet);
        out.emplace_back(p.begin(), p.end());
    }
}

TEST(stream_reader, empty_reader_and_empty_feed_need_more) {
    stream_reader r;
    std::span<const uint8_t> p;
    EXPECT_EQ(r.next(p), status::need_more);
    EXPECT_EQ(r.buffered(), 0u);
    r.feed({});
    EXPECT_EQ(r.next(p), status::need_more);
    EXPECT_EQ(r.buffered(), 0u);
}

TEST(stream_reader, length_bounds) {
    struct tc {
        uint16_t n;
        bool ok;
    };
    for (const auto& c : {tc{0, false}, tc{1, false}, tc{7, false}, tc{8, true}, tc{9, true},
                          tc{max_stream_packet, true}, tc{max_stream_packet + 1, false}, tc{0x8000, false},
                          tc{0xffff, false}}) {
        stream_reader r;
        const bytes b = framed(c.n, 3);
        feed_exact(r, b);
        std::span<const uint8_t> p;
        const status st = r.next(p);
        if (c.ok) {
            ASSERT_EQ(st, status::packet) << c.n;
            EXPECT_EQ(p.size(), c.n);
            EXPECT_TRUE(std::equal(p.begin(), p.end(), b.begin() + 2));
            EXPECT_EQ(r.next(p), status::need_more);
            EXPECT_EQ(r.buffered(), 0u);
        } else {
            EXPECT_EQ(st, status::bad_length) << c.n;
            EXPECT_EQ(r.next(p), status::bad_length) << c.n;
        }
    }
    // The length alone decides: a bad one is refused before its bytes arrive.
    for (const uint16_t n : {uint16_t{0}, uint16_t{7}, uint16_t{max_stream_packet + 1}}) {
        stream_reader r;
        const bytes b = framed(n);
        feed_exact(r, std::span<const uint8_t>(b.data(), 2));
        std::span<const uint8_t> p;
        EXPECT_EQ(r.next(p), status::bad_length) << n;
    }
}

TEST(stream_reader, a_packet_fed_one_byte_at_a_time) {
    for (const uint16_t n : {uint16_t{8}, uint16_t{100}, max_stream_packet}) {
        stream_reader r;
        const bytes b = framed(n, 9);
        std::span<const uint8_t> p;
        for (size_t i = 0; i + 1 < b.size(); ++i) {
            feed_exact(r, std::span<const uint8_t>(&b[i], 1));
            ASSERT_EQ(r.next(p), status::need_more) << n << " after " << i + 1 << " bytes";
            ASSERT_EQ(r.buffered(), i + 1);
        }
        feed_exact(r, std::span<const uint8_t>(&b.back(), 1));
        ASSERT_EQ(r.next(p), status::packet) << n;
        EXPECT_EQ(p.size(), n);
        EXPECT_TRUE(std::equal(p.begin(), p.end(), b.begin() + 2));
        EXPECT_EQ(r.next(p), status::need_more);
        EXPECT_EQ(r.buffered(), 0u);
    }
}

TEST(stream_reader, a_packet_cut_in_the_middle_needs_more_then_completes) {
    const bytes a = framed(300, 1);
    const bytes b = framed(40, 2);
    bytes both = a;
    both.insert(both.end(), b.begin(), b.end());
    for (const size_t cut : {size_t{1}, size_t{2}, size_t{3}, size_t{150}, a.size() - 1, a.size() + 1,
                             a.size() + 2, both.size() - 1}) {
        stream_reader r;
        std::vector<bytes> got;
        feed_exact(r, std::span<const uint8_t>(both.data(), cut));
        EXPECT_EQ(drain(r, got), status::need_more) << cut;
        const size_t done = got.size() == 1 ? a.size() : 0;
        EXPECT_EQ(got.size(), cut >= a.size() ? 1u : 0u) << cut;
        EXPECT_EQ(r.buffered(), cut - done) << cut;
        feed_exact(r, std::span<const uint8_t>(both.data() + cut, both.size() - cut));
        EXPECT_EQ(drain(r, got), status::need_more) << cut;
        ASSERT_EQ(got.size(), 2u) << cut;
        EXPECT_EQ(got[0], bytes(a.begin() + 2, a.end()));
        EXPECT_EQ(got[1], bytes(b.begin() + 2, b.end()));
        EXPECT_EQ(r.buffered(), 0u);
    }
}

TEST(stream_reader, a_packet_yielded_stays_valid_until_the_next_call) {
    stream_reader r;
    bytes two = framed(20, 1);
    const bytes b = framed(30, 2);
    two.insert(two.end(), b.begin(), b.end());
    feed_exact(r, two);
    std::span<const uint8_t> p1;
    ASSERT_EQ(r.next(p1), status::packet);
    const bytes copy(p1.begin(), p1.end());
    EXPECT_EQ(copy, bytes(two.begin() + 2, two.begin() + 22));
    std::span<const uint8_t> p2;
    ASSERT_EQ(r.next(p2), status::packet);
    EXPECT_EQ(bytes(p2.begin(), p2.end()), bytes(b.begin() + 2, b.end()));
}

TEST(stream_reader, garbage_ends_in_bad_length_for_ever) {
    std::mt19937_64 rng(20240611);
    for (int round = 0; round < 200; ++round) {
        stream_reader r;
        bytes sent;
        size_t pos = 0;  // where the reference parser is in `sent`
        std::vector<bytes> got;
        status st = status::need_more;
        while (st != status::bad_length) {
            ASSERT_LT(sent.size(), 1u << 22) << "random bytes never hit a bad length";
            bytes chunk(1 + rng() % 600);
            for (auto& x : chunk) {
                x = static_cast<uint8_t>(rng());
            }
            sent.insert(sent.end(), chunk.begin(), chunk.end());
            feed_exact(r, chunk);
            st = drain(r, got);
        }
        // What it yielded before giving up is exactly what the framing said, in order.
        for (const auto& g : got) {
            ASSERT_LE(pos + 2 + g.size(), sent.size());
            const size_t n = size_t{sent[pos]} << 8 | sent[pos + 1];
            ASSERT_EQ(n, g.size());
            EXPECT_TRUE(std::equal(g.begin(), g.end(), sent.begin() + static_cast<long>(pos) + 2));
            pos += 2 + n;
        }
        ASSERT_LE(pos + 2, sent.size());
        const size_t bad = size_t{sent[pos]} << 8 | sent[pos + 1];
        EXPECT_TRUE(bad < sizeof(dvpe_header) || bad > max_stream_packet) << bad;
        // Final: more calls, more bytes (even a valid packet) change nothing.
        std::span<const uint8_t> p;
        for (int i = 0; i < 3; ++i) {
            EXPECT_EQ(r.next(p), status::bad_length);
        }
        feed_exact(r, framed(8));
        EXPECT_EQ(r.next(p), status::bad_length);
        feed_exact(r, {});
        EXPECT_EQ(r.next(p), status::bad_length);
    }
}

TEST(stream_reader, thousands_of_packets_in_random_chunks_come_out_exactly_and_in_order) {
    std::mt19937_64 rng(7);
    for (int round = 0; round < 4; ++round) {
        std::vector<bytes> sent;
        bytes stream;
        for (int i = 0; i < 5000; ++i) {
            const uint64_t pick = rng() % 100;
            const uint16_t n = pick < 2   ? max_stream_packet
                               : pick < 5 ? uint16_t{8}
                               : pick < 10 ? static_cast<uint16_t>(8 + rng() % (max_stream_packet - 7))
                                           : static_cast<uint16_t>(8 + rng() % 200);
            bytes f = framed(n, static_cast<uint8_t>(i));
            f[2] = static_cast<uint8_t>(i >> 8);  // the packet's number in its first bytes
            f[3] = static_cast<uint8_t>(i);
            sent.emplace_back(f.begin() + 2, f.end());
            stream.insert(stream.end(), f.begin(), f.end());
        }
        stream_reader r;
        std::vector<bytes> got;
        size_t off = 0;
        size_t partial = 0;  // buffered() after the last drain
        const size_t max_chunk = round == 0 ? 3 : round == 1 ? 64 : round == 2 ? 4096 : 20000;
        while (off < stream.size()) {
            const size_t c = std::min<size_t>(stream.size() - off, 1 + rng() % max_chunk);
            feed_exact(r, std::span<const uint8_t>(stream.data() + off, c));
            off += c;
            ASSERT_EQ(r.buffered(), partial + c);
            ASSERT_EQ(drain(r, got), status::need_more) << "at " << off;
            partial = r.buffered();
            // At most one partial packet is held once drained.
            ASSERT_LE(partial, size_t{stream_prefix_size} + max_stream_packet - 1);
        }
        EXPECT_EQ(r.buffered(), 0u);
        ASSERT_EQ(got.size(), sent.size()) << "round " << round;
        for (size_t i = 0; i < sent.size(); ++i) {
            ASSERT_EQ(got[i], sent[i]) << "packet " << i << " round " << round;
        }
    }
}

TEST(stream_reader, buffered_is_one_partial_packet_plus_the_last_chunk) {
    // The worst case: the largest packet missing its last byte, then a large chunk.
    stream_reader r;
    const bytes big = framed(max_stream_packet, 5);
    feed_exact(r, std::span<const uint8_t>(big.data(), big.size() - 1));
    std::vector<bytes> got;
    ASSERT_EQ(drain(r, got), status::need_more);
    EXPECT_EQ(r.buffered(), big.size() - 1);
    bytes next(1);
    next[0] = big.back();
    for (int i = 0; i < 10; ++i) {
        const bytes f = framed(max_stream_packet, static_cast<uint8_t>(i));
        next.insert(next.end(), f.begin(), f.end());
    }
    next.resize(next.size() - 1);  // the last one partial again
    feed_exact(r, next);
    EXPECT_EQ(r.buffered(), big.size() - 1 + next.size());
    ASSERT_EQ(drain(r, got), status::need_more);
    EXPECT_EQ(got.size(), 10u);
    EXPECT_EQ(r.buffered(), big.size() - 1);
}

}  // namespace
