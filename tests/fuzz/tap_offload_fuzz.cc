// SPDX-License-Identifier: MIT
// libFuzzer target: the TAP port's offload arithmetic (pmd/tap_offload.hh) on what a hostile host
// can write into the TAP. Input: 10 bytes of virtio_net_hdr (as the kernel hands it over), then
// the frame. Bit 0x40 of the header's flags (one the kernel never sets) gives the caller a room of
// a whole super-frame (max_frame) instead of 2048 bytes.
// Every buffer is on the heap and exactly as long as it must be: the frame, each segment
// (plan.hdr_len + plan.mss), the merged frame, so any access outside them is an ASan report.
// Oracles:
//   plan_gso: a plan fits the room; every segment make_segment writes is at most hdr_len + mss
//     long and a valid frame (IP length fields equal to its length, checksums_ok); the segments'
//     payloads concatenate to the super-frame's; the same input plans and cuts the same way twice.
//   coalescing the segments as host_tap::tx_burst does (parse, follows, merge_header; TCP and UDP): a run
//     stays within max_merged_segments and max_merged_ip_len; the merged header's IP length is the
//     run's; planned again with the merged vnet header, the merged frame cuts into segments
//     byte-identical to the run's.
//   a segment with one payload bit flipped never follows another (follows).
//   complete_csum (on a copy): on success only the checksum field changed; on a frame whose IP
//     header is consistent and whose csum_start/csum_offset are its TCP/UDP checksum's, the result
//     passes checksums_ok; on a refusal nothing changed.
// g++ 12 at -O3 reports false array-bounds / stringop-overflow / stringop-overread errors inside std::vector's
// reallocation of the byte vectors built below (a known GCC 12 false positive); clang does not.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#pragma GCC diagnostic ignored "-Wstringop-overread"
#endif
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "pmd/tap_offload.hh"
#include "tests/fuzz/fuzz_replay.hh"

namespace {

using namespace pmd::tap;
using bytes = std::vector<uint8_t>;

constexpr uint8_t flag_big_room = 0x40;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "tap_offload_fuzz: oracle violated: %s\n", what);
    std::abort();
}
void check(bool ok, const char* what) {
    if (!ok) {
        fail(what);
    }
}

uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

std::unique_ptr<uint8_t[]> exact(const uint8_t* p, size_t n) {
    std::unique_ptr<uint8_t[]> b(new uint8_t[n]);
    if (n != 0) {
        std::memcpy(b.get(), p, n);
    }
    return b;
}

/// The IP length fields of a frame cut or merged by the module (Ethernet, optional VLAN tag,
/// IPv4 or IPv6 without extension headers) equal its length.
bool lengths_match(const uint8_t* f, uint32_t len, uint32_t l3, bool v6) {
    if (len < l3 + (v6 ? 40u : 20u)) {
        return false;
    }
    return v6 ? rd16(f + l3 + 4) + l3 + 40 == len : rd16(f + l3 + 2) + l3 == len;
}

std::vector<bytes> plan_and_cut(const vnet_hdr& h, const uint8_t* frame, uint32_t len, uint32_t room, gso_plan& p,
                                refusal& r) {
    r = plan_gso(h, frame, len, room, p);
    if (r != refusal::none) {
        return {};
    }
    check(p.segments >= 1, "a plan without segments");
    check(static_cast<uint32_t>(p.hdr_len) + p.mss <= room, "a plan larger than the room");
    check(p.hdr_len <= len && p.l3 < p.l4 && p.l4 < p.hdr_len, "plan offsets");
    std::vector<bytes> segs;
    segs.reserve(p.segments);
    const size_t seg_room = static_cast<size_t>(p.hdr_len) + p.mss;
    for (uint32_t i = 0; i < p.segments; ++i) {
        std::unique_ptr<uint8_t[]> out(new uint8_t[seg_room]);
        const uint32_t n = make_segment(p, frame, i, out.get());
        check(n >= p.hdr_len && n <= seg_room, "segment length");
        check(lengths_match(out.get(), n, p.l3, p.v6), "segment IP length");
        check(checksums_ok(out.get(), n), "segment checksums");
        segs.emplace_back(out.get(), out.get() + n);
    }
    return segs;
}

void coalesce_and_recut(const std::vector<bytes>& segs, uint32_t room) {
    for (size_t i = 0; i < segs.size();) {
        l4_seg first;
        if (!first.parse(segs[i].data(), static_cast<uint32_t>(segs[i].size()))) {
            ++i;
            continue;
        }
        check(first.len <= segs[i].size() && first.hdr_len + first.payload == first.len, "parse lengths");
        l4_seg last = first, next;
        uint32_t total = first.payload;
        uint32_t ip_len = first.len - first.l3;
        size_t j = i + 1;
        while (j < segs.size() && next.parse(segs[j].data(), static_cast<uint32_t>(segs[j].size())) &&
               follows(first, last, next, static_cast<unsigned>(j - i), ip_len)) {
            total += next.payload;
            ip_len += next.payload;
            last = next;
            ++j;
        }
        check(j - i <= max_merged_segments, "run longer than max_merged_segments");
        if (j - i > 1) {
            // (A lone IPv6 segment may be longer: 40 + a payload length of up to 65535.)
            check(ip_len <= max_merged_ip_len, "run longer than max_merged_ip_len");
            const size_t merged_len = first.hdr_len + static_cast<size_t>(total);
            std::unique_ptr<uint8_t[]> m(new uint8_t[merged_len]);
            vnet_hdr h{};
            merge_header(first, last.flags, total, m.get(), h);
            size_t off = first.hdr_len;
            for (size_t k = i; k < j; ++k) {
                l4_seg s;
                check(s.parse(segs[k].data(), static_cast<uint32_t>(segs[k].size())), "a run's segment reparsed");
                std::memcpy(m.get() + off, s.frame + s.hdr_len, s.payload);
                off += s.payload;
            }
            check(off == merged_len, "merged payload");
            check(lengths_match(m.get(), static_cast<uint32_t>(merged_len), first.l3, first.v6), "merged IP length");
            check(merged_len - first.l3 == ip_len, "merged IP length vs the run's");
            check((h.flags & f_needs_csum) != 0 && h.gso_size == first.payload && h.csum_start == first.l4 &&
                      h.csum_offset == (first.udp ? 6 : 16) && h.hdr_len == first.hdr_len &&
                      (h.gso_type == gso_udp_l4) == first.udp,
                  "merged vnet header");
            gso_plan p;
            refusal r{};
            const auto again = plan_and_cut(h, m.get(), static_cast<uint32_t>(merged_len), room, p, r);
            check(r == refusal::none, "merged frame refused by plan_gso");
            check(again.size() == j - i, "merged frame cut into another count");
            for (size_t k = i; k < j; ++k) {
                check(again[k - i] == segs[k], "merged frame cut into other segments");
            }
        }
        i = j;
    }
}

void complete_oracle(const vnet_hdr& h, const uint8_t* data, uint32_t len) {
    auto c = exact(data, len);
    const refusal r = complete_csum(h, c.get(), len);
    const uint32_t field = static_cast<uint32_t>(h.csum_start) + h.csum_offset;
    if (r != refusal::none) {
        check(len == 0 || std::memcmp(c.get(), data, len) == 0, "complete_csum wrote on a refusal");
        return;
    }
    check(h.csum_start < len && field + 2 <= len, "complete_csum accepted a field outside the frame");
    for (uint32_t k = 0; k < len; ++k) {
        if ((k < field || k >= field + 2) && c[k] != data[k]) {
            fail("complete_csum wrote outside the field");
        }
    }
    // A consistent frame with csum_start/csum_offset at its L4 checksum comes out valid.
    if (len < 14) {
        return;
    }
    uint32_t l3 = 14;
    uint16_t et = rd16(data + 12);
    if (et == 0x8100 && len >= 18) {
        et = rd16(data + 16);
        l3 = 18;
    }
    uint32_t l4 = 0, end = 0;
    uint8_t proto = 0;
    if (et == 0x0800 && len >= l3 + 20) {
        const uint8_t* ip = data + l3;
        const uint32_t ihl = (ip[0] & 0x0fu) * 4;
        // The header checksum must be right already (complete_csum does not touch it).
        uint32_t s = 0;
        for (uint32_t k = 0; k + 1 < ihl && l3 + k + 1 < len; k += 2) {
            s += rd16(ip + k);
        }
        while (s >> 16 != 0) {
            s = (s & 0xffff) + (s >> 16);
        }
        if ((ip[0] >> 4) != 4 || ihl < 20 || len < l3 + ihl || s != 0xffff) {
            return;
        }
        l4 = l3 + ihl;
        end = l3 + rd16(ip + 2);
        proto = ip[9];
    } else if (et == 0x86dd && len >= l3 + 40) {
        l4 = l3 + 40;
        end = l4 + rd16(data + l3 + 4);
        proto = data[l3 + 6];
    } else {
        return;
    }
    const uint32_t want_offset = proto == 6 ? 16 : proto == 17 ? 6 : 0;
    if (want_offset == 0 || end != len || h.csum_start != l4 || h.csum_offset != want_offset ||
        (proto == 17 && len < l4 + 8)) {
        return;
    }
    // What the kernel leaves in the field: the pseudo-header sum (big-endian reference arithmetic).
    const bool v6 = et == 0x86dd;
    const uint32_t l4_len = len - l4;
    uint32_t ps = proto + (l4_len >> 16) + (l4_len & 0xffff);
    for (uint32_t k = 0; k < (v6 ? 32u : 8u); k += 2) {
        ps += rd16(data + l3 + (v6 ? 8 : 12) + k);
    }
    while (ps >> 16 != 0) {
        ps = (ps & 0xffff) + (ps >> 16);
    }
    auto d = exact(data, len);
    d[field] = static_cast<uint8_t>(ps >> 8);
    d[field + 1] = static_cast<uint8_t>(ps);
    check(complete_csum(h, d.get(), len) == refusal::none, "complete_csum refused a consistent frame");
    check(checksums_ok(d.get(), len), "completed checksum does not verify");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < sizeof(vnet_hdr) || size - sizeof(vnet_hdr) > max_frame) {
        return 0;
    }
    vnet_hdr h{};
    std::memcpy(&h, data, sizeof h);
    const auto len = static_cast<uint32_t>(size - sizeof h);
    auto frame = exact(data + sizeof h, len);  // exactly the frame: ASan sees any over-read
    const uint32_t room = (h.flags & flag_big_room) != 0 ? max_frame : 2048;

    gso_plan p;
    refusal r{};
    const auto segs = plan_and_cut(h, frame.get(), len, room, p, r);
    if (r == refusal::none) {
        bytes joined;
        for (const bytes& g : segs) {
            joined.insert(joined.end(), g.begin() + p.hdr_len, g.end());
        }
        check(joined.size() == len - p.hdr_len &&
                  std::equal(joined.begin(), joined.end(), frame.get() + p.hdr_len),
              "segment payloads do not concatenate to the super-frame's");
        gso_plan p2;
        refusal r2{};
        check(plan_and_cut(h, frame.get(), len, room, p2, r2) == segs && r2 == r, "repetition differs");
        coalesce_and_recut(segs, room);
        // A corrupt segment never joins a run (its checksum would be lost under NEEDS_CSUM).
        l4_seg a, b;
        if (segs.size() >= 2 && a.parse(segs[0].data(), static_cast<uint32_t>(segs[0].size())) &&
            b.parse(segs[1].data(), static_cast<uint32_t>(segs[1].size()))) {
            bytes bad = segs[1];
            bad[b.hdr_len + (data[0] + len) % b.payload] ^= 0x10;
            check(b.parse(bad.data(), static_cast<uint32_t>(bad.size())), "a corrupt payload no longer parses");
            check(!follows(a, a, b, 1, a.len - a.l3), "a corrupt segment follows");
        }
    } else {
        check(r != refusal::none && std::strcmp(to_string(r), "?") != 0, "refusal name");
    }

    complete_oracle(h, frame.get(), len);

    // The raw frame through the coalescer's parser, and against itself.
    l4_seg t;
    if (t.parse(frame.get(), len)) {
        check(t.len <= len && t.hdr_len + t.payload == t.len && t.payload != 0, "parse of the raw frame");
        (void)follows(t, t, t, 1, t.len - t.l3);
    }
    return 0;
}

// ---- the replay's crafted inputs ----

namespace {

void put16(bytes& f, size_t at, uint32_t v) {
    f[at] = static_cast<uint8_t>(v >> 8);
    f[at + 1] = static_cast<uint8_t>(v);
}

uint16_t fold_be(const uint8_t* p, size_t n, uint32_t s) {
    for (size_t k = 0; k < n; k += 2) {
        s += static_cast<uint32_t>(p[k]) << 8 | (k + 1 < n ? p[k + 1] : 0);
    }
    while (s >> 16 != 0) {
        s = (s & 0xffff) + (s >> 16);
    }
    return static_cast<uint16_t>(s);
}

/// Appends bytes one by one (g++ 12 -O3 sees a false stringop-overflow in vector::insert of an
/// initializer list).
void append(bytes& f, std::initializer_list<uint8_t> l) {
    for (uint8_t b : l) {
        f.push_back(b);
    }
}

/// A super-frame as the kernel writes it, with its vnet header in front.
bytes super(bool v6, bool udp, bool vlan, uint32_t payload, uint16_t mss, uint8_t tcp_flags = 0x18) {
    bytes f = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2};
    if (vlan) {
        append(f, {0x81, 0x00, 0x00, 0x07});
    }
    f.push_back(v6 ? 0x86 : 0x08);
    f.push_back(v6 ? 0xdd : 0x00);
    const size_t l3 = f.size();
    const uint8_t proto = udp ? 17 : 6;
    if (v6) {
        append(f, {0x60, 0x0a, 0xbc, 0xde, 0, 0, proto, 64, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                           0, 1, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2});
    } else {
        append(f, {0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7});
    }
    const size_t l4 = f.size();
    if (udp) {
        append(f, {0x30, 0x39, 0x01, 0xbb, 0, 0, 0, 0});
    } else {
        append(f, {0xa0, 0x00, 0x00, 0x50, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0x10, 0, 0x80, tcp_flags, 0x7f, 0xff,
                           0, 0, 0, 0, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2});
    }
    const size_t hdr_len = f.size();
    for (uint32_t k = 0; k < payload; ++k) {
        f.push_back(static_cast<uint8_t>(k * 13 + 5));
    }
    const auto l4_len = static_cast<uint32_t>(f.size() - l4);
    if (v6) {
        put16(f, l3 + 4, l4_len);
    } else {
        put16(f, l3 + 2, static_cast<uint32_t>(f.size() - l3));
        put16(f, l3 + 10, static_cast<uint16_t>(~fold_be(f.data() + l3, 20, 0)));
    }
    if (udp) {
        put16(f, l4 + 4, l4_len);
    }
    const uint32_t pseudo = fold_be(f.data() + l3 + (v6 ? 8 : 12), v6 ? 32 : 8, proto + (l4_len >> 16) + (l4_len & 0xffff));
    put16(f, l4 + (udp ? 6 : 16), pseudo);
    vnet_hdr h{};
    h.flags = f_needs_csum;
    h.gso_type = udp ? gso_udp_l4 : v6 ? gso_tcpv6 : gso_tcpv4;
    h.hdr_len = static_cast<uint16_t>(hdr_len);
    h.gso_size = mss;
    h.csum_start = static_cast<uint16_t>(l4);
    h.csum_offset = udp ? 6 : 16;
    bytes in(sizeof h);
    std::memcpy(in.data(), &h, sizeof h);
    in.insert(in.end(), f.begin(), f.end());
    return in;
}

}  // namespace

extern "C" size_t dvpe_fuzz_generate(uint64_t iterations, uint64_t seed, dvpe_fuzz_run_fn run) {
    size_t n = 0;
    const auto go = [&](const bytes& in) {
        run(in.data(), in.size());
        ++n;
    };
    std::vector<bytes> bases;
    for (bool v6 : {false, true}) {
        for (bool udp : {false, true}) {
            bases.push_back(super(v6, udp, false, 3000, 1000));
            bases.push_back(super(v6, udp, true, 1200, 400));
        }
        bases.push_back(super(v6, false, false, 2896, 1448, 0x90));  // ACK|CWR, no PSH: merges whole
        bases.push_back(super(v6, false, false, 0, 1448));
    }
    // Large ones with the room of a whole super-frame: a gso_size that would wrap the IPv4 length
    // (refused), an IPv6 segment of 40 + 65500 bytes (fine), a run that reaches max_merged_ip_len.
    for (const bytes& big : {super(false, false, false, max_frame - 66, static_cast<uint16_t>(max_frame - 66)),
                             super(true, false, false, max_frame - 86, static_cast<uint16_t>(max_frame - 86)),
                             super(false, false, false, max_frame - 66, 1448, 0x10),
                             super(true, true, false, max_frame - 62, 1000)}) {
        bytes b = big;
        b[0] |= flag_big_room;
        go(b);
    }
    for (const bytes& b : bases) {
        go(b);
        // Non-GSO: the same frame with NEEDS_CSUM only (complete_csum).
        bytes c = b;
        c[1] = gso_none;
        go(c);
        // Every header byte flipped a few ways, every truncation of the headers.
        for (size_t k = 0; k < std::min<size_t>(b.size(), 10 + 18 + 40 + 32); ++k) {
            for (uint8_t x : {0x01, 0x40, 0x80, 0xff}) {
                bytes m = b;
                m[k] ^= x;
                go(m);
            }
        }
        for (size_t cut = 0; cut < std::min<size_t>(b.size(), 200); ++cut) {
            go(bytes(b.begin(), b.begin() + static_cast<ptrdiff_t>(cut)));
        }
    }
    uint64_t s = seed;
    for (uint64_t i = 0; i < iterations; ++i) {
        bytes m = bases[fuzz_replay::next(s) % bases.size()];
        const uint64_t k = fuzz_replay::next(s);
        switch (k % 4) {
        case 0:
            m.resize(fuzz_replay::next(s) % (m.size() + 1));
            break;
        case 1:
            for (uint64_t t = 1 + fuzz_replay::next(s) % 8; t-- > 0;) {
                m[fuzz_replay::next(s) % std::min<size_t>(m.size(), 130)] ^= static_cast<uint8_t>(fuzz_replay::next(s));
            }
            break;
        case 2:
            m.resize(fuzz_replay::next(s) % 400);
            for (auto& x : m) {
                x = static_cast<uint8_t>(fuzz_replay::next(s));
            }
            break;
        default:
            for (size_t t = 0; t < 10 && t < m.size(); ++t) {
                if (fuzz_replay::next(s) % 3 == 0) {
                    m[t] = static_cast<uint8_t>(fuzz_replay::next(s));
                }
            }
        }
        go(m);
    }
    return n;
}
