// SPDX-License-Identifier: MIT
// transports/outer: every kind x payload size round trips through write_outer() and classify();
// the header bytes are checked field by field; every checksum is recomputed with the naive
// reference sum of frames.hh and cross-checked with DPDK's own helpers; the checksum pass
// equals the reference for every length and alignment.
// rte_ipv6_udptcp_cksum_verify() is still marked experimental in DPDK 22.11.
#define ALLOW_EXPERIMENTAL_API 1

#include "frames.hh"

#include <gtest/gtest.h>

#include <rte_ip.h>

#include <string>

namespace transport {
namespace {

using namespace transport::test;

constexpr kind all[] = {kind::udp4, kind::udp6, kind::rawip4, kind::rawip6, kind::icmp4, kind::icmp6};
constexpr size_t sizes[] = {8, 9, 16, 63, 64, 65, 511, 512, 1420, 1421, 8000};

uint16_t be16_at(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

TEST(outer, declared_sizes) {
    EXPECT_EQ(overhead(kind::rawip4), 20);
    EXPECT_EQ(overhead(kind::icmp4), 28);
    EXPECT_EQ(overhead(kind::udp4), 28);
    EXPECT_EQ(overhead(kind::rawip6), 40);
    EXPECT_EQ(overhead(kind::icmp6), 48);
    EXPECT_EQ(overhead(kind::udp6), 48);
    for (kind k : all) {
        EXPECT_EQ(headroom(k), overhead(k) + 14) << kind_name(k);
        EXPECT_LE(headroom(k), max_headroom);
        EXPECT_EQ(inner_l3_overhead(k), overhead(k) + 16 + 16 + 2);
    }
    EXPECT_EQ(icmp6_type_for(0), 129);
    EXPECT_EQ(icmp6_type_for(8), 128);
    EXPECT_EQ(icmp6_type_for(200), 200);
}

TEST(outer, family_mismatch_is_rejected) {
    for (kind k : all) {
        endpoint_pair ep = endpoints_a_to_b(k);
        EXPECT_TRUE(build_template(k, ep).has_value());
        endpoint_pair wrong_src = ep;
        wrong_src.src_ip.v6 = !wrong_src.src_ip.v6;
        EXPECT_FALSE(build_template(k, wrong_src).has_value()) << kind_name(k);
        endpoint_pair wrong_dst = ep;
        wrong_dst.dst_ip.v6 = !wrong_dst.dst_ip.v6;
        EXPECT_FALSE(build_template(k, wrong_dst).has_value()) << kind_name(k);
    }
}

// Field-by-field check of one frame, independent of classify().
void check_fields(kind k, const std::vector<uint8_t>& f, size_t dvpe_len, uint16_t sport, uint8_t ttl = 64,
                  uint8_t tos = 0) {
    SCOPED_TRACE(std::string(kind_name(k)) + " dvpe_len=" + std::to_string(dvpe_len));
    ASSERT_EQ(f.size(), headroom(k) + dvpe_len);
    EXPECT_EQ(std::memcmp(f.data(), mac_b.addr_bytes, 6), 0);
    EXPECT_EQ(std::memcmp(f.data() + 6, mac_a.addr_bytes, 6), 0);
    const uint8_t* ip = f.data() + 14;
    const uint8_t* l4 = ip + ip_header_size(k);
    const uint8_t proto = is_udp(k) ? 17 : is_rawip(k) ? 47 : is_ipv6(k) ? 58 : 1;
    const size_t l4_len = l4_header_size(k) + dvpe_len;
    if (!is_ipv6(k)) {
        EXPECT_EQ(be16_at(f.data() + 12), 0x0800);
        EXPECT_EQ(ip[0], 0x45);
        EXPECT_EQ(ip[1], tos);  // DSCP (0 unless inherit-tos), ECN 0
        EXPECT_EQ(be16_at(ip + 2), 20 + l4_len);
        EXPECT_EQ(be16_at(ip + 4), 0);       // identification
        EXPECT_EQ(be16_at(ip + 6), 0x4000);  // DF, offset 0
        EXPECT_EQ(ip[8], ttl);
        EXPECT_EQ(ip[9], proto);
        EXPECT_EQ(ref_sum(ip, 20), 0xffff) << "IPv4 header checksum";
        rte_ipv4_hdr h;
        std::memcpy(&h, ip, sizeof(h));
        const uint16_t stored = h.hdr_checksum;
        h.hdr_checksum = 0;
        EXPECT_EQ(rte_ipv4_cksum(&h), stored) << "DPDK agrees";
        EXPECT_EQ(std::memcmp(ip + 12, &ip4_a, 4), 0);
        EXPECT_EQ(std::memcmp(ip + 16, &ip4_b, 4), 0);
    } else {
        EXPECT_EQ(be16_at(f.data() + 12), 0x86dd);
        EXPECT_EQ(ip[0] >> 4, 6);  // version
        EXPECT_EQ((ip[0] & 0x0f) << 4 | ip[1] >> 4, tos);  // traffic class (0 unless inherit-tos)
        const uint32_t label = uint32_t{ip[1] & 0x0fu} << 16 | uint32_t{ip[2]} << 8 | ip[3];
        EXPECT_EQ(label, detail::flow_label(sport));
        EXPECT_EQ(be16_at(ip + 4), l4_len);
        EXPECT_EQ(ip[6], proto);
        EXPECT_EQ(ip[7], ttl);
        EXPECT_EQ(std::memcmp(ip + 8, ip6_a, 16), 0);
        EXPECT_EQ(std::memcmp(ip + 24, ip6_b, 16), 0);
    }
    if (is_udp(k)) {
        EXPECT_EQ(be16_at(l4), sport);
        EXPECT_EQ(be16_at(l4 + 2), port_b);
        EXPECT_EQ(be16_at(l4 + 4), l4_len);
        if (k == kind::udp4) {
            EXPECT_EQ(be16_at(l4 + 6), 0) << "no UDP checksum over IPv4";
        } else {
            EXPECT_NE(be16_at(l4 + 6), 0) << "UDP/IPv6 checksum is mandatory";
            EXPECT_EQ(ref_sum(l4, l4_len, ref_pseudo6(ip, static_cast<uint32_t>(l4_len), 17)), 0xffff);
            EXPECT_EQ(rte_ipv6_udptcp_cksum_verify(reinterpret_cast<const rte_ipv6_hdr*>(ip), l4), 0) << "DPDK agrees";
        }
    } else if (is_icmp(k)) {
        EXPECT_EQ(l4[0], is_ipv6(k) ? 129 : 0);
        EXPECT_EQ(l4[1], 255);
        if (k == kind::icmp4) {
            EXPECT_EQ(ref_sum(l4, l4_len), 0xffff) << "ICMP checksum";
        } else {
            EXPECT_EQ(ref_sum(l4, l4_len, ref_pseudo6(ip, static_cast<uint32_t>(l4_len), 58)), 0xffff);
            EXPECT_EQ(rte_ipv6_udptcp_cksum_verify(reinterpret_cast<const rte_ipv6_hdr*>(ip), l4), 0) << "DPDK agrees";
        }
    }
}

TEST(outer, round_trip_every_kind_and_size) {
    const local_config cfg = config_b();
    uint32_t seed = 1;
    for (kind k : all) {
        for (size_t n : sizes) {
            const auto dvpe = random_bytes(n, ++seed);
            const auto f = make_frame(k, dvpe, endpoints_a_to_b(k));
            check_fields(k, f, n, lane_port);
            const classify_result r = classify(f.data(), static_cast<uint32_t>(f.size()), cfg);
            ASSERT_EQ(r.reason, classify_reason::ok) << kind_name(k) << " " << n << " "
                                                     << classify_reason_name(r.reason);
            EXPECT_EQ(r.k, k);
            EXPECT_EQ(r.dvpe_offset, headroom(k));
            EXPECT_EQ(r.dvpe_len, n);
            EXPECT_EQ(r.src_ip, endpoints_a_to_b(k).src_ip);
            EXPECT_EQ(r.src_port, is_udp(k) ? lane_port : 0);
            EXPECT_EQ(std::memcmp(f.data() + r.dvpe_offset, dvpe.data(), n), 0);
        }
    }
}

TEST(outer, every_lane_port_and_ttl) {
    for (kind k : all) {
        endpoint_pair ep = endpoints_a_to_b(k);
        ep.ttl = 3;
        for (uint32_t sport : {0u, 1u, 655u, 32768u, 65535u}) {
            const auto f = make_frame(k, random_bytes(100, sport), ep, static_cast<uint16_t>(sport));
            check_fields(k, f, 100, static_cast<uint16_t>(sport), 3);
        }
    }
}

TEST(outer, tos_is_written_and_checksummed_for_every_kind) {
    const local_config cfg = config_b();
    for (kind k : all) {
        for (unsigned tos = 0; tos < 256; tos += 4) {  // every DSCP
            const auto f = make_frame(k, random_bytes(77, tos), endpoints_a_to_b(k), lane_port, static_cast<uint8_t>(tos));
            check_fields(k, f, 77, lane_port, 64, static_cast<uint8_t>(tos));
            EXPECT_EQ(classify(f.data(), static_cast<uint32_t>(f.size()), cfg).reason, classify_reason::ok);
        }
    }
}

TEST(outer, inner_dscp_of_ipv4_ipv6_and_others) {
    std::vector<uint8_t> f(60, 0);
    f[12] = 0x08, f[13] = 0x00, f[14] = 0x45, f[15] = 0xbb;  // IPv4, TOS DSCP 46 (EF) + ECN 3
    EXPECT_EQ(inner_dscp(f.data(), 60), 0xb8);
    EXPECT_EQ(inner_dscp(f.data(), 16), 0xb8);
    EXPECT_EQ(inner_dscp(f.data(), 15), 0) << "too short for the TOS byte";
    f[12] = 0x86, f[13] = 0xdd, f[14] = 0x62, f[15] = 0xe5;  // IPv6, traffic class 0x2e
    EXPECT_EQ(inner_dscp(f.data(), 60), 0x2c);
    f[12] = 0x81, f[13] = 0x00;  // VLAN: not looked into
    EXPECT_EQ(inner_dscp(f.data(), 60), 0);
    f[12] = 0x08, f[13] = 0x06;  // ARP
    EXPECT_EQ(inner_dscp(f.data(), 60), 0);
}

TEST(outer, udp6_zero_checksum_is_sent_as_ffff) {
    // Search payloads whose checksum field would come out as 0; RFC 768 sends 0xffff then.
    const endpoint_pair ep = endpoints_a_to_b(kind::udp6);
    std::vector<uint8_t> dvpe(16, 0);
    // Choose the last two bytes so that the whole sum becomes 0xffff (complement 0).
    auto f = make_frame(kind::udp6, dvpe, ep);
    const uint8_t* ip = f.data() + 14;
    uint16_t c = be16_at(ip + 40 + 6);  // checksum with zero payload tail
    // Adding c to the payload's last word changes the sum by c: the new complement is 0.
    dvpe[14] = static_cast<uint8_t>(c >> 8);
    dvpe[15] = static_cast<uint8_t>(c);
    f = make_frame(kind::udp6, dvpe, ep);
    EXPECT_EQ(be16_at(f.data() + 14 + 40 + 6), 0xffff);
    EXPECT_EQ(ref_sum(f.data() + 54, 24, ref_pseudo6(f.data() + 14, 24, 17)), 0xffff);
}

TEST(outer, udp6_offload_leaves_pseudo_header_sum) {
    endpoint_pair ep = endpoints_a_to_b(kind::udp6);
    ep.udp6_checksum = checksum_mode::offload;
    const auto f = make_frame(kind::udp6, random_bytes(300, 5), ep);
    const auto* ip = reinterpret_cast<const rte_ipv6_hdr*>(f.data() + 14);
    // DPDK's convention for RTE_MBUF_F_TX_UDP_CKSUM: the non-complemented pseudo-header sum.
    EXPECT_EQ(be16_at(f.data() + 54 + 6), rte_be_to_cpu_16(rte_ipv6_phdr_cksum(ip, 0)));
    EXPECT_EQ(be16_at(f.data() + 54 + 6), ref_pseudo6(f.data() + 14, 308, 17));
}

TEST(outer, runtime_dispatch_equals_template_per_kind) {
    for (kind k : all) {
        const auto t = build_template(k, endpoints_a_to_b(k));
        ASSERT_TRUE(t);
        const auto dvpe = random_bytes(77, 9);
        std::vector<uint8_t> a(headroom(k) + 77);
        std::vector<uint8_t> b(headroom(k) + 77);
        std::memcpy(a.data() + headroom(k), dvpe.data(), 77);
        std::memcpy(b.data() + headroom(k), dvpe.data(), 77);
        write_outer(*t, a.data(), 77, 1234);
        switch (k) {
        case kind::udp4: write_outer<kind::udp4>(*t, b.data(), 77, 1234); break;
        case kind::udp6: write_outer<kind::udp6>(*t, b.data(), 77, 1234); break;
        case kind::rawip4: write_outer<kind::rawip4>(*t, b.data(), 77, 1234); break;
        case kind::rawip6: write_outer<kind::rawip6>(*t, b.data(), 77, 1234); break;
        case kind::icmp4: write_outer<kind::icmp4>(*t, b.data(), 77, 1234); break;
        case kind::icmp6: write_outer<kind::icmp6>(*t, b.data(), 77, 1234); break;
        case kind::tcp4: write_outer<kind::tcp4>(*t, b.data(), 77, 1234); break;
        case kind::tcp6: write_outer<kind::tcp6>(*t, b.data(), 77, 1234); break;
        case kind::dns4: write_outer<kind::dns4>(*t, b.data(), 77, 1234); break;
        case kind::dns6: write_outer<kind::dns6>(*t, b.data(), 77, 1234); break;
        }
        EXPECT_EQ(a, b) << kind_name(k);
    }
}

TEST(checksum, ones_sum_equals_reference_for_every_length_and_alignment) {
    const auto buf = random_bytes(2200, 42);
    for (size_t off = 0; off < 8; off += 2) {  // pieces start at even offsets of the message
        for (size_t n = 0; n <= 2100; n += (n < 80 ? 1 : 37)) {
            const uint16_t mine = csum::fold(csum::ones_sum(buf.data() + off, n));
            const uint16_t ref = ref_sum(buf.data() + off, n);
            // one's complement has two zeros: 0x0000 and 0xffff are the same sum
            const auto norm = [](uint16_t v) { return v == 0xffff ? uint16_t{0} : v; };
            ASSERT_EQ(norm(rte_be_to_cpu_16(mine)), norm(ref)) << "off " << off << " n " << n;
            ASSERT_EQ(rte_raw_cksum(buf.data() + off, n), mine) << "DPDK agrees, n " << n;
        }
    }
    // All-ones data: the carries must survive long inputs.
    std::vector<uint8_t> ff(65535, 0xff);
    EXPECT_EQ(csum::fold(csum::ones_sum(ff.data(), ff.size())), rte_raw_cksum(ff.data(), ff.size()));
}

TEST(checksum, fold_edges) {
    EXPECT_EQ(csum::fold(0), 0);
    EXPECT_EQ(csum::fold(0xffff), 0xffff);
    EXPECT_EQ(csum::fold(0x10000), 1);
    EXPECT_EQ(csum::fold(0xffffffffffffffffull), 0xffff);
    EXPECT_EQ(csum::fold(0x100000000ull), 1);
    EXPECT_EQ(csum::finish(0xffff), 0);
}

}  // namespace
}  // namespace transport
