// SPDX-License-Identifier: MIT
// Test helpers for transports/: two endpoints A and B (IPv4 and IPv6), frames built through
// build_template() + write_outer(), and a deliberately naive RFC 1071 checksum (big-endian
// 16-bit words, one byte pair at a time) to check the optimised sums against.
#pragma once

#include "transports/classify.hh"
#include "transports/outer.hh"

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace transport::test {

inline constexpr rte_ether_addr mac_a{{0x02, 0, 0, 0, 0, 0x0a}};
inline constexpr rte_ether_addr mac_b{{0x02, 0, 0, 0, 0, 0x0b}};
inline constexpr uint8_t ip6_a[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a};
inline constexpr uint8_t ip6_b[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b};
inline constexpr uint16_t port_b = 655;
inline constexpr uint16_t lane_port = 40007;

inline rte_be32_t ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return rte_cpu_to_be_32(uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d);
}
inline const rte_be32_t ip4_a = ip4(10, 77, 0, 1);
inline const rte_be32_t ip4_b = ip4(10, 77, 0, 2);

/// A -> B endpoints for kind k.
inline endpoint_pair endpoints_a_to_b(kind k) {
    endpoint_pair ep;
    ep.src_mac = mac_a;
    ep.dst_mac = mac_b;
    ep.src_ip = is_ipv6(k) ? ip_address::from_v6(ip6_a) : ip_address::from_v4(ip4_a);
    ep.dst_ip = is_ipv6(k) ? ip_address::from_v6(ip6_b) : ip_address::from_v4(ip4_b);
    ep.dst_port = port_b;
    ep.ip_proto = 47;
    ep.icmp_type = is_ipv6(k) ? icmp6_type_for(0) : 0;
    return ep;
}

/// B's receive configuration, every transport enabled.
inline local_config config_b() {
    local_config c;
    c.ipv4 = ip4_b;
    c.has_ipv4 = true;
    std::memcpy(c.ipv6.data(), ip6_b, 16);
    c.has_ipv6 = true;
    c.udp_port = port_b;
    c.ip_proto = 47;
    set_icmp_type(c, 0);
    c.enabled = all_kinds;
    return c;
}

inline std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> v(n);
    for (auto& b : v) {
        b = static_cast<uint8_t>(rng());
    }
    return v;
}

/// A complete frame A -> B of kind k around `dvpe` (resize + memcpy: no vector::insert, GCC 12).
inline std::vector<uint8_t> make_frame(kind k, const std::vector<uint8_t>& dvpe, const endpoint_pair& ep,
                                       uint16_t sport = lane_port, uint8_t tos = 0) {
    const auto t = build_template(k, ep);
    std::vector<uint8_t> f;
    f.resize(headroom(k) + dvpe.size());
    if (!dvpe.empty()) {
        std::memcpy(f.data() + headroom(k), dvpe.data(), dvpe.size());
    }
    write_outer(*t, f.data(), static_cast<uint16_t>(dvpe.size()), sport, tos);
    return f;
}

inline std::vector<uint8_t> make_frame(kind k, size_t dvpe_len, uint32_t seed = 1) {
    return make_frame(k, random_bytes(dvpe_len, seed), endpoints_a_to_b(k));
}

/// RFC 1071, the obvious way: big-endian 16-bit words, odd byte padded, end-around carry.
inline uint16_t ref_sum(const uint8_t* p, size_t n, uint32_t sum = 0) {
    for (size_t i = 0; i < n; i += 2) {
        const uint32_t hi = p[i];
        const uint32_t lo = i + 1 < n ? p[i + 1] : 0;
        sum += hi << 8 | lo;
        while (sum > 0xffff) {
            sum = (sum & 0xffff) + (sum >> 16);
        }
    }
    return static_cast<uint16_t>(sum);
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1) for an upper-layer message of `len` bytes.
inline uint16_t ref_pseudo6(const uint8_t* ip6, uint32_t len, uint8_t nh) {
    uint8_t ph[40] = {};
    std::memcpy(ph, ip6 + 8, 32);
    ph[32] = static_cast<uint8_t>(len >> 24);
    ph[33] = static_cast<uint8_t>(len >> 16);
    ph[34] = static_cast<uint8_t>(len >> 8);
    ph[35] = static_cast<uint8_t>(len);
    ph[39] = nh;
    return ref_sum(ph, sizeof(ph));
}

/// Recomputes the IPv4 header checksum of a frame after a test mutated the header.
inline void fix_ip4_checksum(std::vector<uint8_t>& f) {
    uint8_t* ip = f.data() + 14;
    const size_t ihl = (ip[0] & 0x0fu) * 4u;
    ip[10] = ip[11] = 0;
    const uint16_t c = static_cast<uint16_t>(~ref_sum(ip, ihl));
    ip[10] = static_cast<uint8_t>(c >> 8);
    ip[11] = static_cast<uint8_t>(c);
}

}  // namespace transport::test
