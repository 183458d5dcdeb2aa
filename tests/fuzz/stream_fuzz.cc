// SPDX-License-Identifier: MIT
// libFuzzer target: the tcp transport's stream framing and ring header (transports/stream.hh).
// Input: byte 0's low 4 bits are c, the number of chunk-size bytes that follow (fewer if the
// input is shorter); the rest is the TCP byte stream. Chunk-size byte v cuts a chunk of v + 1
// bytes (1..240), or for v >= 0xf0 of (v - 0xef) KiB; the sizes repeat until the stream is
// fed. c = 0 feeds the whole stream at once. Every chunk is fed from a heap buffer of exactly
// its length that is freed right after feed(), and read_stream_meta/classify_stream read exact
// heap copies, so any access outside them is an ASan report.
// Oracles:
//   stream_reader, against a reference parser of the bytes fed so far: each next() result is
//     the one the framing dictates (need_more / packet / bad_length); a packet has 8 ..
//     max_stream_packet bytes and equals the input's bytes at the reference offset; bad_length
//     is final (more calls, more bytes); buffered() is exactly the bytes fed and not yielded,
//     at most one partial packet once drained, and at most that plus the chunk just fed.
//     Fed in one piece, the stream yields the same packets.
//   read_stream_meta / classify_stream on the raw input and on the stream: a header accepted
//     is a tcp kind with known flags and a length equal to the bytes after it, and writes back
//     to the same 22 bytes (an IPv4 address's tail as zero); classify_stream's ok result lies
//     inside the input and names the header's endpoint; its reason follows the header and the
//     enabled transports (ok / bad_length / disabled_transport, nothing else).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "tests/fuzz/fuzz_replay.hh"
#include "transports/stream.hh"

namespace {

using transport::stream_reader;
using status = stream_reader::status;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "stream_fuzz: oracle violated: %s\n", what);
    std::abort();
}

void check(bool ok, const char* what) {
    if (!ok) {
        fail(what);
    }
}

size_t chunk_size(uint8_t v) { return v < 0xf0 ? size_t{v} + 1 : size_t{v - 0xefU} * 1024; }

// read_stream_meta and classify_stream on an exact heap copy of [p, p + n).
void check_meta(const uint8_t* p, size_t n) {
    auto buf = std::make_unique<uint8_t[]>(n == 0 ? 1 : n);
    std::copy_n(p, n, buf.get());
    const auto len = static_cast<uint32_t>(n);
    const auto e = transport::read_stream_meta(buf.get(), len);
    if (e) {
        check(n >= transport::stream_meta_size, "meta accepted from fewer than 22 bytes");
        check(transport::is_stream(e->k), "meta accepted a kind other than tcp or dns");
        check((e->flags & ~transport::stream_flag_connect) == 0, "meta accepted unknown flags");
        check(size_t{e->len} + transport::stream_meta_size == n, "meta length does not match the bytes");
        check(e->ip.v6 == transport::is_ipv6(e->k), "meta address family is not the kind's");
        if (!e->ip.v6) {
            for (size_t i = 4; i < 16; ++i) {
                check(e->ip.bytes[i] == 0, "meta IPv4 address with a non-zero tail");
            }
        }
        uint8_t back[transport::stream_meta_size];
        transport::write_stream_meta(back, e->k, e->flags, e->ip, e->port, e->len);
        for (size_t i = 0; i < transport::stream_meta_size; ++i) {
            const bool v4_tail = !e->ip.v6 && i >= 8 && i < 20;
            check(back[i] == (v4_tail ? 0 : buf[i]), "meta does not write back to its bytes");
        }
    } else if (n >= transport::stream_meta_size) {
        // Refused: one of the documented reasons must hold.
        const uint16_t plen = static_cast<uint16_t>(buf[20] << 8 | buf[21]);
        const bool tcp = buf[0] < transport::n_kinds && transport::is_stream(static_cast<transport::kind>(buf[0]));
        const bool flags_ok = (buf[1] & ~transport::stream_flag_connect) == 0;
        check(!(tcp && flags_ok && size_t{plen} + transport::stream_meta_size == n),
              "meta refused a well-formed header");
    }
    const uint16_t tcp4 = transport::kind_bit(transport::kind::tcp4);
    const uint16_t tcp6 = transport::kind_bit(transport::kind::tcp6);
    const uint16_t masks[] = {transport::all_kinds, tcp4, tcp6,
                              static_cast<uint16_t>(transport::all_kinds & ~(tcp4 | tcp6))};
    for (const uint16_t m : masks) {
        transport::local_config cfg;
        cfg.enabled = m;
        const auto r = transport::classify_stream(buf.get(), len, cfg);
        if (!e || e->len < sizeof(transport::dvpe_header)) {
            check(r.reason == transport::classify_reason::bad_length, "classify_stream: not bad_length");
            continue;
        }
        check(r.k == e->k, "classify_stream: kind is not the header's");
        if ((m & transport::kind_bit(e->k)) == 0) {
            check(r.reason == transport::classify_reason::disabled_transport, "classify_stream: not disabled");
            continue;
        }
        check(r.reason == transport::classify_reason::ok, "classify_stream: not ok");
        check(r.dvpe_offset == transport::stream_meta_size, "classify_stream: offset");
        check(size_t{r.dvpe_offset} + r.dvpe_len <= n, "classify_stream: dvpe packet beyond the input");
        check(r.dvpe_len == e->len && r.dvpe_len >= sizeof(transport::dvpe_header), "classify_stream: length");
        check(r.src_port == e->port && r.src_ip == e->ip, "classify_stream: source is not the header's");
    }
}

struct packet_ref {
    size_t off;  // of the packet (after its length) in the stream
    size_t len;
};

// Drains `r` checking each result against the reference parser at `pos` of `s[0, fed)`.
// Returns the final status; appends the packets to `got`.
status drain(stream_reader& r, const uint8_t* s, size_t fed, size_t& pos, bool& broken, std::vector<packet_ref>& got) {
    for (;;) {
        std::span<const uint8_t> p;
        const status st = r.next(p);
        if (broken) {
            check(st == status::bad_length, "bad_length is not final");
            return st;
        }
        const size_t avail = fed - pos;
        if (avail < transport::stream_prefix_size) {
            check(st == status::need_more, "not need_more with less than a length");
            check(r.buffered() == avail, "buffered() is not the bytes not yielded");
            return st;
        }
        const size_t n = size_t{s[pos]} << 8 | s[pos + 1];
        if (n < sizeof(transport::dvpe_header) || n > transport::max_stream_packet) {
            check(st == status::bad_length, "an out-of-range length not refused");
            broken = true;
            return st;
        }
        if (avail < transport::stream_prefix_size + n) {
            check(st == status::need_more, "not need_more for a partial packet");
            check(r.buffered() == avail, "buffered() is not the bytes not yielded");
            return st;
        }
        check(st == status::packet, "a complete packet not yielded");
        check(p.size() == n, "packet length is not the framing's");
        check(p.size() >= sizeof(transport::dvpe_header) && p.size() <= transport::max_stream_packet,
              "packet length out of range");
        check(std::memcmp(p.data(), s + pos + 2, n) == 0, "packet bytes are not the input's");
        got.push_back({pos + 2, n});
        pos += 2 + n;
        check(r.buffered() == fed - pos, "buffered() is not the bytes not yielded");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    check_meta(data, size);
    const size_t c = size == 0 ? 0 : std::min<size_t>(data[0] & 0x0f, size - 1);
    const uint8_t* sizes = data + (size == 0 ? 0 : 1);
    const uint8_t* s = sizes + c;
    const size_t n = size - std::min<size_t>(size, 1 + c);
    if (c != 0) {
        check_meta(s, n);
    }

    stream_reader r;
    size_t fed = 0;
    size_t pos = 0;
    bool broken = false;
    std::vector<packet_ref> got;
    size_t k = 0;
    do {
        const size_t want = c == 0 ? n : chunk_size(sizes[k++ % c]);
        const size_t len = std::min(want, n - fed);
        const size_t before = r.buffered();
        {
            auto chunk = std::make_unique<uint8_t[]>(len == 0 ? 1 : len);
            std::copy_n(s + fed, len, chunk.get());
            r.feed(std::span<const uint8_t>(chunk.get(), len));
        }  // freed: the reader must have copied it
        fed += len;
        check(r.buffered() == before + len, "feed() did not append the chunk");
        const status st = drain(r, s, fed, pos, broken, got);
        if (st == status::need_more) {
            check(r.buffered() < transport::stream_prefix_size + size_t{transport::max_stream_packet},
                  "more than one partial packet held");
        }
    } while (fed < n);
    if (broken) {
        std::span<const uint8_t> p;
        for (int i = 0; i < 2; ++i) {
            check(r.next(p) == status::bad_length, "bad_length is not final");
        }
        const uint8_t good[10] = {0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
        r.feed(good);
        check(r.next(p) == status::bad_length, "bad_length is not final after more bytes");
    } else {
        check(pos + r.buffered() == n, "bytes lost");
    }

    // The same stream in one piece: the same packets, then the same end.
    stream_reader one;
    {
        auto all = std::make_unique<uint8_t[]>(n == 0 ? 1 : n);
        std::copy_n(s, n, all.get());
        one.feed(std::span<const uint8_t>(all.get(), n));
    }
    size_t i = 0;
    for (;;) {
        std::span<const uint8_t> p;
        const status st = one.next(p);
        if (st != status::packet) {
            check(st == (broken ? status::bad_length : status::need_more), "one piece ends otherwise");
            break;
        }
        check(i < got.size() && p.size() == got[i].len && std::memcmp(p.data(), s + got[i].off, p.size()) == 0,
              "one piece yields other packets");
        ++i;
    }
    check(i == got.size(), "one piece yields fewer packets");
    return 0;
}

namespace {

using gen_rng = uint64_t;

void put_packet(std::vector<uint8_t>& b, uint16_t n, gen_rng& s) {
    b.push_back(static_cast<uint8_t>(n >> 8));
    b.push_back(static_cast<uint8_t>(n));
    for (uint16_t i = 0; i < n; ++i) {
        b.push_back(static_cast<uint8_t>(fuzz_replay::next(s)));
    }
}

uint16_t pick_len(gen_rng& s) {
    const uint64_t r = fuzz_replay::next(s) % 100;
    if (r < 3) {
        return transport::max_stream_packet;
    }
    if (r < 8) {
        return 8;
    }
    if (r < 12) {
        return static_cast<uint16_t>(8 + fuzz_replay::next(s) % (transport::max_stream_packet - 7));
    }
    return static_cast<uint16_t>(8 + fuzz_replay::next(s) % 120);
}

// A ring header for a tcp kind, flags 0 or connect, in front of `dvpe_len` random bytes.
std::vector<uint8_t> ring_frame(bool v6, uint8_t flags, uint16_t dvpe_len, gen_rng& s) {
    std::vector<uint8_t> f(transport::stream_meta_size + size_t{dvpe_len});
    transport::ip_address ip;
    ip.v6 = v6;
    for (auto& x : ip.bytes) {
        x = static_cast<uint8_t>(fuzz_replay::next(s));
    }
    transport::write_stream_meta(f.data(), v6 ? transport::kind::tcp6 : transport::kind::tcp4, flags, ip,
                                 static_cast<uint16_t>(fuzz_replay::next(s)), dvpe_len);
    for (size_t i = transport::stream_meta_size; i < f.size(); ++i) {
        f[i] = static_cast<uint8_t>(fuzz_replay::next(s));
    }
    return f;
}

}  // namespace

// Crafted: well-formed framings (every edge length, thousands of packets) under each chunking
// scheme, then truncated, with a length corrupted, and followed by garbage; ring headers of both
// kinds with every byte flipped and every truncation. Random: half well-formed framings with
// random chunk sizes (sometimes a bad length spliced in), half random bytes.
extern "C" size_t dvpe_fuzz_generate(uint64_t iterations, uint64_t seed, dvpe_fuzz_run_fn run) {
    size_t count = 0;
    gen_rng s = seed ^ 0x5354524541ULL;
    auto with_sizes = [](std::initializer_list<uint8_t> sz, const std::vector<uint8_t>& body) {
        std::vector<uint8_t> in;
        in.push_back(static_cast<uint8_t>(sz.size()));
        // assign + insert of the body: g++ 12's -Warray-bounds misfires on an insert of an
        // initializer_list into an empty vector (a known false positive)
        in.assign(sz.begin(), sz.end());
        in.insert(in.end(), body.begin(), body.end());
        return in;
    };
    const std::initializer_list<uint8_t> schemes[] = {{}, {0}, {1}, {2, 0}, {6}, {100, 3, 0xf0}, {0xef}, {0xff},
                                                      {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}};
    std::vector<std::vector<uint8_t>> bodies;
    for (const uint16_t n : {uint16_t{0}, uint16_t{1}, uint16_t{7}, uint16_t{8}, uint16_t{9}, uint16_t{255},
                             uint16_t{256}, transport::max_stream_packet, uint16_t{transport::max_stream_packet + 1},
                             uint16_t{0xffff}}) {
        std::vector<uint8_t> b;
        put_packet(b, n, s);
        put_packet(b, 8, s);
        bodies.push_back(b);
    }
    {
        std::vector<uint8_t> b;
        for (int i = 0; i < 2000; ++i) {
            put_packet(b, static_cast<uint16_t>(8 + i % 50), s);
        }
        bodies.push_back(b);
        std::vector<uint8_t> big;
        for (int i = 0; i < 5; ++i) {
            put_packet(big, transport::max_stream_packet, s);
        }
        bodies.push_back(big);
    }
    for (const auto& b : bodies) {
        for (const auto& sc : schemes) {
            const auto in = with_sizes(sc, b);
            run(in.data(), in.size()), ++count;
        }
        const auto in = with_sizes({3}, b);
        for (const size_t cut : {size_t{1}, size_t{2}, size_t{3}, in.size() / 2, in.size() - 1}) {
            if (cut < in.size()) {
                run(in.data(), cut), ++count;
            }
        }
        auto bad = in;
        bad[2] ^= 0x80;  // the first length far out of range
        run(bad.data(), bad.size()), ++count;
        auto tail = in;
        tail.push_back(0);
        tail.push_back(3);  // a length 3 after the good packets
        tail.push_back(0xaa);
        run(tail.data(), tail.size()), ++count;
    }
    for (const bool v6 : {false, true}) {
        for (const uint8_t fl : {uint8_t{0}, transport::stream_flag_connect}) {
            for (const uint16_t n : {uint16_t{0}, uint16_t{7}, uint16_t{8}, uint16_t{64}}) {
                const auto f = ring_frame(v6, fl, n, s);
                run(f.data(), f.size()), ++count;
                for (size_t k = 0; k < f.size(); ++k) {
                    run(f.data(), k), ++count;
                }
                for (size_t i = 0; i < std::min<size_t>(f.size(), transport::stream_meta_size); ++i) {
                    for (unsigned bit = 0; bit < 8; ++bit) {
                        auto g = f;
                        g[i] ^= static_cast<uint8_t>(1U << bit);
                        run(g.data(), g.size()), ++count;
                    }
                }
                auto longer = f;
                longer.push_back(0);
                run(longer.data(), longer.size()), ++count;
            }
        }
    }
    for (uint64_t it = 0; it < iterations; ++it) {
        const uint64_t r = fuzz_replay::next(s);
        std::vector<uint8_t> in;
        if (r & 1) {
            const size_t c = (r >> 8) % 16;
            in.push_back(static_cast<uint8_t>(c | (r & 0xf0)));
            for (size_t i = 0; i < c; ++i) {
                const uint64_t v = fuzz_replay::next(s);
                in.push_back(static_cast<uint8_t>(v % 8 == 0 ? 0xf0 + v % 16 : v % 64));
            }
            const size_t packets = 1 + (r >> 16) % 12;
            for (size_t i = 0; i < packets; ++i) {
                if ((r & 2) && i == packets - 1) {
                    const uint16_t badn =
                        (r & 4) ? static_cast<uint16_t>((r >> 24) % 8)
                                : static_cast<uint16_t>(transport::max_stream_packet + 1 + (r >> 24) % 1000);
                    in.push_back(static_cast<uint8_t>(badn >> 8));
                    in.push_back(static_cast<uint8_t>(badn));
                    continue;
                }
                put_packet(in, (r & 8) ? pick_len(s) : static_cast<uint16_t>(8 + fuzz_replay::next(s) % 40), s);
            }
            if (r & 16) {
                in.resize(in.size() - std::min<size_t>(in.size() - 1, (r >> 32) % 16));
            }
        } else if (r & 2) {
            in = ring_frame((r & 4) != 0, (r & 8) ? transport::stream_flag_connect : 0,
                            static_cast<uint16_t>((r >> 8) % 80), s);
            if (r & 16) {
                in[(r >> 24) % in.size()] ^= static_cast<uint8_t>(1U << ((r >> 40) % 8));
            }
        } else {
            in.resize((r >> 8) % 300);
            for (auto& x : in) {
                x = static_cast<uint8_t>(fuzz_replay::next(s));
            }
        }
        run(in.data(), in.size()), ++count;
    }
    return count;
}
