// SPDX-License-Identifier: MIT
// libFuzzer target: transports::classify_fast() against transports::classify() on the same WAN
// frame (transports/classify.hh). The frame lies in a heap buffer of exactly its length, so a
// read past its end is an ASan report. Input: 4 bytes of receive configuration, then the frame.
//   byte 0  bit0/1: has IPv4/IPv6; bit2: our IPv4 address is the frame's IPv4 destination (else
//           192.0.2.2); bit3: our IPv6 address is the frame's IPv6 destination; bit4: udp-port is
//           the frame's UDP destination port (else 655); bit5: udp-port 0 (lane ports of node
//           byte 3); bits 6-7: which transports are disabled (none, one, all but one)
//   byte 1  ip-proto (the config refuses 1, 17, 58; classify must not care)
//   byte 2  icmp-type (ICMPv6: icmp6_type_for())
//   byte 3  a transport kind (for bits 6-7 of byte 0) and the node id for udp-port 0
// Oracles: whenever classify_fast() takes a frame, classify() says ok with the same offset and
// length, on udp4/rawip4/icmp4; every span either returns lies inside the frame and holds at
// least a common header; on bad_icmp/disabled_transport/ok the kind matches the IP version.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_replay.hh"
#include "transports/classify.hh"
#include "transports/wire.hh"

namespace {

[[noreturn]] void fail(const char* what, const transport::classify_result& r, const transport::dvpe_span& f) {
    std::fprintf(stderr,
                 "classify_fuzz: oracle violated: %s (classify: %s kind %u offset %u len %u; classify_fast: offset %u "
                 "len %u)\n",
                 what, std::string(transport::classify_reason_name(r.reason)).c_str(), static_cast<unsigned>(r.k),
                 r.dvpe_offset, r.dvpe_len, f.dvpe_offset, f.dvpe_len);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 4 || size - 4 > 65535) {
        return 0;
    }
    const uint8_t flags = data[0];
    const size_t len = size - 4;
    auto buf = std::make_unique<uint8_t[]>(len);  // exactly the frame: ASan sees any over-read
    if (len != 0) {
        std::memcpy(buf.get(), data + 4, len);
    }
    const uint8_t* frame = buf.get();

    transport::local_config cfg;
    cfg.has_ipv4 = flags & 0x01;
    cfg.has_ipv6 = flags & 0x02;
    cfg.ipv4 = rte_cpu_to_be_32(RTE_IPV4(192, 0, 2, 2));
    if ((flags & 0x04) && len >= 14 + 20) {
        std::memcpy(&cfg.ipv4, frame + 14 + 16, 4);
    }
    if ((flags & 0x08) && len >= 14 + 40) {
        std::memcpy(cfg.ipv6.data(), frame + 14 + 24, 16);
    }
    cfg.udp_port = 655;
    if (flags & 0x10) {
        // The destination port where a UDP header would be after an IPv4 header of this IHL, or
        // after the IPv6 header.
        const bool v6 = len >= 14 && frame[12] == 0x86 && frame[13] == 0xdd;
        const size_t l4 = 14 + (v6 ? 40 : (len > 14 ? (frame[14] & 0x0fU) * 4U : 20));
        if (len >= l4 + 4) {
            cfg.udp_port = static_cast<uint16_t>(frame[l4 + 2] << 8 | frame[l4 + 3]);
        }
    }
    const auto k = static_cast<transport::kind>(data[3] % transport::n_wire_kinds);
    if (flags & 0x20) {
        cfg.udp_port = 0;
        cfg.udp_lane_base = transport::udp_lane_port_base(static_cast<uint16_t>(1 + data[3]));
    }
    switch (flags >> 6) {
    case 1: cfg.enabled = static_cast<uint8_t>(transport::all_kinds & ~transport::kind_bit(k)); break;
    case 2: cfg.enabled = transport::kind_bit(k); break;
    case 3: cfg.enabled = 0; break;
    default: break;
    }
    cfg.ip_proto = data[1];
    transport::set_icmp_type(cfg, data[2]);

    const transport::classify_result r = transport::classify(frame, static_cast<uint32_t>(len), cfg);
    const transport::dvpe_span f = transport::classify_fast(frame, static_cast<uint32_t>(len), cfg);

    if (static_cast<size_t>(r.reason) >= transport::n_classify_reasons) {
        fail("classify reason out of range", r, f);
    }
    if (r.reason == transport::classify_reason::ok) {
        if (size_t{r.dvpe_offset} + r.dvpe_len > len || r.dvpe_len < sizeof(transport::dvpe_header) ||
            r.dvpe_offset < transport::ether_header_size + transport::ipv4_header_size) {
            fail("classify's span is not inside the frame", r, f);
        }
        const bool v6 = len >= 14 && frame[12] == 0x86;
        if (transport::is_ipv6(r.k) != v6) {
            fail("classify's kind is of the other IP version", r, f);
        }
        if (r.src_ip.v6 != v6) {
            fail("classify's source address is of the other IP version", r, f);
        }
        (void)transport::validate_header(frame + r.dvpe_offset, r.dvpe_len);
    }
    if (f.dvpe_len != 0) {
        if (size_t{f.dvpe_offset} + f.dvpe_len > len || f.dvpe_len < sizeof(transport::dvpe_header)) {
            fail("classify_fast's span is not inside the frame", r, f);
        }
        if (r.reason != transport::classify_reason::ok) {
            fail("classify_fast took a frame classify rejects", r, f);
        }
        if (r.dvpe_offset != f.dvpe_offset || r.dvpe_len != f.dvpe_len) {
            fail("classify_fast and classify disagree on the span", r, f);
        }
        if (r.k != transport::kind::udp4 && r.k != transport::kind::rawip4 && r.k != transport::kind::icmp4) {
            fail("classify_fast took a frame that is not udp4/rawip4/icmp4", r, f);
        }
    } else if (f.dvpe_offset != 0) {
        fail("classify_fast: an offset without a length", r, f);
    }
    return 0;
}

// classify_fuzz_replay: for every transport, a well-formed frame for us (built by hand here, as
// a peer would send it), each single-byte change of it in the headers, and its truncations;
// then random frames with random configurations.
extern "C" size_t dvpe_fuzz_generate(uint64_t iterations, uint64_t seed, dvpe_fuzz_run_fn run) {
    size_t n = 0;
    const auto go = [&](const std::vector<uint8_t>& in) {
        run(in.data(), in.size());
        ++n;
    };
    for (unsigned kind = 0; kind < transport::n_wire_kinds; ++kind) {
        const auto k = static_cast<transport::kind>(kind);
        transport::endpoint_pair ep;
        const bool v6 = transport::is_ipv6(k);
        const uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
        const uint8_t b6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        ep.src_ip = v6 ? transport::ip_address::from_v6(b6)
                       : transport::ip_address::from_v4(rte_cpu_to_be_32(RTE_IPV4(192, 0, 2, 1)));
        ep.dst_ip = v6 ? transport::ip_address::from_v6(a6)
                       : transport::ip_address::from_v4(rte_cpu_to_be_32(RTE_IPV4(192, 0, 2, 2)));
        ep.icmp_type = v6 ? transport::icmp6_type_for(0) : 0;
        auto t = transport::build_template(k, ep);
        if (!t) {
            std::abort();
        }
        for (size_t dvpe_len : {0, 7, 8, 32, 100}) {
            std::vector<uint8_t> frame(transport::headroom(k) + dvpe_len, 0x5a);
            transport::write_outer(*t, frame.data(), static_cast<uint16_t>(dvpe_len), 40000);
            std::vector<uint8_t> in = {0x0f, 47, 0, 0};
            in.insert(in.end(), frame.begin(), frame.end());
            go(in);
            for (size_t i = 4; i < size_t{4} + transport::headroom(k); ++i) {
                for (uint8_t x : {0x01, 0x10, 0x80, 0xff}) {
                    std::vector<uint8_t> m = in;
                    m[i] ^= x;
                    go(m);
                }
            }
            for (size_t cut = 4; cut < in.size(); ++cut) {
                go(std::vector<uint8_t>(in.begin(), in.begin() + static_cast<ptrdiff_t>(cut)));
            }
        }
    }
    uint64_t s = seed;
    for (uint64_t i = 0; i < iterations; ++i) {
        std::vector<uint8_t> in(4 + fuzz_replay::next(s) % 120);
        for (uint8_t& b : in) {
            b = static_cast<uint8_t>(fuzz_replay::next(s));
        }
        if (in.size() > 4 + 14 + 20 && (i & 1)) {  // mostly IPv4/IPv6 with a plausible first byte
            in[4 + 12] = (i & 2) ? 0x86 : 0x08;
            in[4 + 13] = (i & 2) ? 0xdd : 0x00;
            in[4 + 14] = (i & 2) ? 0x60 : 0x45;
        }
        go(in);
    }
    return n;
}
