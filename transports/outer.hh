// SPDX-License-Identifier: MIT
// Outer encapsulation: per-peer header templates and the hot write_outer().
//
// The control thread builds one outer_template per (peer, transport) with build_template()
// whenever the peer's endpoint or next-hop MAC changes (docs/design.md §7: control precomputes, after VPP's
// wg_build_rewrite) and publishes it in the peer snapshot. Workers call write_outer() per packet:
// it copies the template in front of the sealed dvpe packet and fixes what depends on the packet:
// lengths, the IPv4 header checksum (incremental from the template's precomputed partial sum),
// the UDP source port (per lane), the IPv6 flow label (per lane), and the L4 checksums:
//   udp4    checksum 0 (allowed over IPv4, RFC 768; the AEAD protects the payload).
//   udp6    checksum mandatory (RFC 8200 §8.1). dvpe computes it (checksum_mode::software) or
//           leaves the pseudo-header sum for the NIC (checksum_mode::offload, when the WAN port
//           has RTE_ETH_TX_OFFLOAD_UDP_CKSUM). It never sends the RFC 6935/6936 zero checksum:
//           the exception needs per-port opt-in at every receiver (Linux drops zero-checksum
//           UDP/IPv6 unless the socket sets UDP_NO_CHECK6_RX) and middleboxes may drop it.
//   icmp4   ICMP checksum over the whole ICMP message (RFC 792), always in software.
//   icmp6   ICMPv6 checksum with the IPv6 pseudo-header (RFC 4443 §2.3), always in software.
//   rawip   no L4 checksum.
//   tcp     no Ethernet or IP header: the ring header for the slow path (transports/stream.hh),
//           whose last two bytes are the stream's framing length.
// The L4 checksum passes read the whole dvpe packet: see perf/transports for their cost.
//
// IPv4 outer headers set DF with a constant identification 0: with DF set the datagram is
// "atomic" (RFC 6864 §4), its ID is not used for reassembly, so no per-packet ID counter (and
// no cross-packet state) is needed; without DF a constant ID would let routers' fragments of
// different packets be misassembled (RFC 4963). The overlay MTU is sized from the underlay MTU
// (inner_l3_overhead()), so outer packets never need fragmenting; the config's "fragment
// outside" option builds its fragments elsewhere, with IDs.
//
// Threads: build_template() runs on the control thread; write_outer() on workers, reading an
// immutable template from a published snapshot.
#pragma once

#include "transports/checksum.hh"
#include "transports/ip.hh"
#include "transports/kind.hh"

#include <rte_byteorder.h>
#include <rte_ether.h>

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

namespace transport {

/// How write_outer() fills the UDP/IPv6 checksum (other kinds ignore it).
enum class checksum_mode : uint8_t {
    software,  ///< full checksum computed over the payload
    offload,   ///< pseudo-header sum only; the caller sets RTE_MBUF_F_TX_UDP_CKSUM | RTE_MBUF_F_TX_IPV6
};

/// Everything the control thread knows about one direction of a peer path.
struct endpoint_pair {
    rte_ether_addr src_mac{};  ///< our WAN port's MAC
    rte_ether_addr dst_mac{};  ///< the next hop's MAC (resolved neighbour)
    ip_address src_ip;         ///< our underlay address
    ip_address dst_ip;         ///< the peer's underlay address
    uint16_t dst_port = 655;   ///< udp: the receiver's `udp-port` (host order)
    uint8_t ip_proto = 47;     ///< rawip: `ip-proto`
    uint8_t icmp_type = 0;     ///< icmp4: `icmp-type`; icmp6: use icmp6_type_for(icmp-type)
    uint16_t icmp_id = 0;      ///< icmp: the echo identifier (host order; sequence is 0)
    uint8_t ttl = 64;          ///< IPv4 TTL / IPv6 hop limit
    checksum_mode udp6_checksum = checksum_mode::software;
    bool stream_connect = false;  ///< tcp: the slow path may open a connection to dst_ip:dst_port
};

/// A precomputed outer header: `bytes[0, len)` are the Ethernet + IP (+ UDP | ICMP) headers with
/// zero lengths and checksums; the partial sums let write_outer() finish the checksums cheaply.
/// Metadata first so that a udp4 template's used bytes (12 + 42) share one cache line.
struct alignas(64) outer_template {
    uint32_t ip4_partial = 0;  ///< IPv4: sum of the IPv4 header folded to 16 bits (TOS, total length and checksum 0)
    uint32_t l4_partial = 0;   ///< udp6/icmp4/icmp6: sum of the packet-independent words, folded to 16 bits
    kind k = kind::udp4;
    uint8_t len = 0;           ///< == headroom(k)
    checksum_mode udp6_checksum = checksum_mode::software;
    uint8_t reserved = 0;
    uint8_t bytes[max_headroom]{};
};
static_assert(max_headroom == 62, "Ethernet 14 + IPv6 40 + UDP 8");
static_assert(offsetof(outer_template, bytes) + headroom(kind::udp4) <= 64, "udp4 template in one cache line");
static_assert(sizeof(outer_template) == 128);

/// Builds the template of transport `k` for `ep` (control thread). Returns nullopt if an
/// address family does not match `k`.
[[nodiscard]] std::optional<outer_template> build_template(kind k, const endpoint_pair& ep) noexcept;

// ---- Hot path ------------------------------------------------------------------------------------

namespace detail {

inline void store16(uint8_t* p, uint16_t v) noexcept { std::memcpy(p, &v, 2); }
inline void store32(uint8_t* p, uint32_t v) noexcept { std::memcpy(p, &v, 4); }

/// 20-bit IPv6 flow label of a lane (RFC 6437: a per-flow value, here per lane, so routers'
/// ECMP and receivers' RSS can spread lanes of rawip6/icmp6, which have no ports).
[[nodiscard]] constexpr uint32_t flow_label(uint16_t lane_port) noexcept {
    return (static_cast<uint32_t>(lane_port) * 0x9e3779b1u) >> 12;
}

}  // namespace detail

/// The DSCP of the IPv4 or IPv6 packet in an overlay Ethernet frame, as the upper six bits of
/// a TOS / traffic-class byte (`inherit-tos`); 0 for other ethertypes (VLAN tags included) or a
/// frame too short to hold the byte. ECN is not copied: the outer header stays Not-ECT, RFC
/// 6040's compatibility mode, so no decapsulation rule is needed.
[[nodiscard]] inline uint8_t inner_dscp(const uint8_t* frame, uint16_t len) noexcept {
    if (len < ether_header_size + 2) {
        return 0;
    }
    const unsigned type = unsigned{frame[12]} << 8 | frame[13];
    const uint8_t* ip = frame + ether_header_size;
    if (type == RTE_ETHER_TYPE_IPV4) {
        return static_cast<uint8_t>(ip[1] & 0xfc);
    }
    if (type == RTE_ETHER_TYPE_IPV6) {
        return static_cast<uint8_t>(((ip[0] & 0x0f) << 4 | ip[1] >> 4) & 0xfc);
    }
    return 0;
}

/// Writes the outer header of transport `K` at `dst` (the start of the headroom) in front of the
/// dvpe packet of `dvpe_len` bytes, which must already lie contiguous at `dst + headroom(K)`
/// (the ICMP and UDP/IPv6 checksums read it). `udp_src_port` (host order) is the sender lane's
/// port: the UDP source port for udp, and the seed of the IPv6 flow label for every IPv6 kind.
/// `tos` is the outer IPv4 TOS / IPv6 traffic class (0 unless `inherit-tos`: inner_dscp()).
/// Precondition: t.k == K, dvpe_len <= 65535 - overhead(K) (IPv4) or 65535 - l4_header_size(K).
template <kind K>
inline void write_outer(const outer_template& t, uint8_t* dst, uint16_t dvpe_len, uint16_t udp_src_port,
                        uint8_t tos = 0) noexcept {
    constexpr uint16_t hl = headroom(K);
    assert(t.k == K && t.len == hl);
    std::memcpy(dst, t.bytes, hl);
    if constexpr (is_stream(K)) {
        (void)udp_src_port;
        (void)tos;
        detail::store16(dst + stream_meta_size - stream_prefix_size, rte_cpu_to_be_16(dvpe_len));
        return;
    }
    uint8_t* const ip = dst + ether_header_size;
    uint8_t* const l4 = ip + ip_header_size(K);
    const uint8_t* const payload = dst + hl;
    const uint16_t l4_len = static_cast<uint16_t>(l4_header_size(K) + dvpe_len);
    const uint16_t l4_len_be = rte_cpu_to_be_16(l4_len);

    if constexpr (!is_ipv6(K)) {
        const uint16_t total_be = rte_cpu_to_be_16(static_cast<uint16_t>(ipv4_header_size + l4_len));
        if (tos != 0) {  // the template's is 0, and so is its share of ip4_partial
            ip[1] = tos;
        }
        detail::store16(ip + 2, total_be);
        detail::store16(ip + 10, csum::finish(uint64_t{t.ip4_partial} + total_be + rte_cpu_to_be_16(uint16_t{tos})));
    } else {
        detail::store32(ip, rte_cpu_to_be_32(0x60000000u | uint32_t{tos} << 20 | detail::flow_label(udp_src_port)));
        detail::store16(ip + 4, l4_len_be);
    }

    if constexpr (is_udp(K)) {
        const uint16_t sport_be = rte_cpu_to_be_16(udp_src_port);
        detail::store16(l4, sport_be);
        detail::store16(l4 + 4, l4_len_be);
        if constexpr (K == kind::udp6) {
            if (t.udp6_checksum == checksum_mode::software) {
                // pseudo-header (src, dst, next header) + dst port from the template; the length
                // appears twice: pseudo-header and UDP header.
                const uint64_t sum = uint64_t{t.l4_partial} + sport_be + 2u * l4_len_be;
                uint16_t c = csum::finish(csum::ones_sum(payload, dvpe_len, sum));
                detail::store16(l4 + 6, c == 0 ? uint16_t{0xffff} : c);  // RFC 768: 0 is sent as all ones
            } else {
                detail::store16(l4 + 6, csum::fold(uint64_t{t.l4_partial} + l4_len_be));
            }
        }
    } else if constexpr (K == kind::icmp4) {
        detail::store16(l4 + 2, csum::finish(csum::ones_sum(payload, dvpe_len, t.l4_partial)));
    } else if constexpr (K == kind::icmp6) {
        detail::store16(l4 + 2, csum::finish(csum::ones_sum(payload, dvpe_len, uint64_t{t.l4_partial} + l4_len_be)));
    }
}

/// Runtime dispatch on t.k; the burst loop should prefer the template per kind (one dispatch
/// per peer group, docs/design.md §5).
inline void write_outer(const outer_template& t, uint8_t* dst, uint16_t dvpe_len, uint16_t udp_src_port,
                        uint8_t tos = 0) noexcept {
    switch (t.k) {
    case kind::udp4: write_outer<kind::udp4>(t, dst, dvpe_len, udp_src_port, tos); break;
    case kind::udp6: write_outer<kind::udp6>(t, dst, dvpe_len, udp_src_port, tos); break;
    case kind::rawip4: write_outer<kind::rawip4>(t, dst, dvpe_len, udp_src_port, tos); break;
    case kind::rawip6: write_outer<kind::rawip6>(t, dst, dvpe_len, udp_src_port, tos); break;
    case kind::icmp4: write_outer<kind::icmp4>(t, dst, dvpe_len, udp_src_port, tos); break;
    case kind::icmp6: write_outer<kind::icmp6>(t, dst, dvpe_len, udp_src_port, tos); break;
    case kind::tcp4: write_outer<kind::tcp4>(t, dst, dvpe_len, udp_src_port, tos); break;
    case kind::tcp6: write_outer<kind::tcp6>(t, dst, dvpe_len, udp_src_port, tos); break;
    case kind::dns4: write_outer<kind::dns4>(t, dst, dvpe_len, udp_src_port, tos); break;
    case kind::dns6: write_outer<kind::dns6>(t, dst, dvpe_len, udp_src_port, tos); break;
    }
}

}  // namespace transport
