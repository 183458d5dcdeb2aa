// SPDX-License-Identifier: MIT
// Receive side of the transports: classify() tells a worker whether a WAN frame carries a dvpe
// packet, on which transport, where the dvpe packet starts and how long it is, and who sent it;
// or why not. It reads only the frame and the node's local_config (no cross-packet state).
//
// Validation, in order; the first failure is the result:
//   Ethernet  shorter than 14 bytes -> bad_length; ethertype not IPv4/IPv6 (ARP, VLAN...) -> not_ours
//   IPv4      version != 4, IHL < 5, total length < IHL*4, header checksum wrong -> bad_ip_header;
//             frame shorter than the header or the total length -> bad_length;
//             destination not our IPv4 address -> not_ours
//   IPv6      version != 6, payload length 0 (jumbogram) -> bad_ip_header; frame shorter than
//             40 + payload length -> bad_length; destination not our IPv6 address -> not_ours
//   transport the protocol / next header selects it; for IPv4 the header checksum is verified,
//             UDP and ICMP checksums are not: the AEAD authenticates the dvpe packet, and a
//             corrupted outer header can only misdirect a packet to a drop, never into the overlay.
//   fragment  an IPv4 fragment (MF or offset) or an IPv6 fragment header right after the IPv6
//             header, for a protocol one of our enabled transports uses: the worker reassembles
//             it (wan-fragment on the sending node, or a path that fragments) and classifies the
//             whole packet again.
//   IPv6 extension headers are not parsed: dvpe's own packets never carry any, and skipping
//   hop-by-hop/routing/destination options to reach a transport would only widen what an
//   attacker can make a worker walk. A packet to us whose next header is one of them is
//   ipv6_ext_header (the caller may hand it to the exception path like not_ours).
// Ethernet padding of short frames is ignored: lengths come from the IP header.
// Everything not ours (ARP, ICMP echo, NDP, TCP to the host...) is left to the caller.
//
// Threads: workers, per packet; pure function.
#pragma once

#include "transports/kind.hh"
#include "transports/outer.hh"

#include <rte_byteorder.h>
#include <rte_ip.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace transport {

/// Why classify() did or did not find a dvpe packet. Names feed per-worker counters.
enum class classify_reason : uint8_t {
    ok,
    not_ours,            ///< not a dvpe transport packet for us: the caller's (ARP, echo, ...)
    bad_length,          ///< frame shorter than its headers or its IP length; dvpe packet < 8 bytes
    bad_ip_header,       ///< IPv4 version/IHL/total length/checksum, IPv6 version/payload length
    fragment,            ///< IPv4 MF/offset or IPv6 fragment header on a transport protocol
    ipv6_ext_header,     ///< IPv6 extension header before the transport (not parsed)
    bad_udp_length,      ///< UDP length < 8 or beyond the IP payload
    bad_icmp,            ///< a non-echo icmp-type matches, code is not 255 (an echo type with
                         ///< another code is an ordinary ping: not_ours, the host's)
    disabled_transport,  ///< a dvpe transport this node does not speak (enable-*)
};
inline constexpr size_t n_classify_reasons = 9;

inline constexpr std::array<std::string_view, n_classify_reasons> classify_reason_names = {
    "ok", "not_ours", "bad_length", "bad_ip_header", "fragment", "ipv6_ext_header",
    "bad_udp_length", "bad_icmp", "disabled_transport",
};

[[nodiscard]] constexpr std::string_view classify_reason_name(classify_reason r) noexcept {
    return classify_reason_names[static_cast<size_t>(r)];
}

/// The node's own receive configuration (built by the control thread, read by workers).
struct local_config {
    rte_be32_t ipv4 = 0;               ///< our underlay IPv4 address (if has_ipv4)
    std::array<uint8_t, 16> ipv6{};    ///< our underlay IPv6 address (if has_ipv6)
    bool has_ipv4 = false;
    bool has_ipv6 = false;
    uint16_t udp_port = 655;           ///< our `udp-port`, host order; 0: our lane ports instead
    uint16_t udp_lane_base = 0;        ///< udp_lane_port_base(our node id), for udp_port 0
    uint8_t ip_proto = 47;             ///< `ip-proto` (config must not pick 1, 17 or 58)
    uint8_t icmp_type = 0;             ///< `icmp-type` for ICMPv4
    uint8_t icmp6_type = 129;          ///< icmp6_type_for(icmp-type)
    uint8_t icmp_type_alt = 8;         ///< also accepted: icmp_partner_type(icmp_type)
    uint8_t icmp6_type_alt = 128;      ///< also accepted: icmp_partner_type(icmp6_type)
    uint16_t enabled = all_kinds;      ///< kind_bit() mask of the transports we speak
};

/// Sets the ICMP types `icmp-type` makes us accept (both families): it, and with an echo type
/// (0 or 8) its counterpart too (requests and replies: kind.hh icmp_partner_type()). Any other
/// value is the one type accepted in either family (128 over ICMPv4 is just 128).
inline void set_icmp_type(local_config& c, uint8_t icmp_type) noexcept {
    c.icmp_type = icmp_type;
    c.icmp6_type = icmp6_type_for(icmp_type);
    const bool echo = is_echo_type(icmp_type);
    c.icmp_type_alt = echo ? icmp_partner_type(c.icmp_type) : c.icmp_type;
    c.icmp6_type_alt = echo ? icmp_partner_type(c.icmp6_type) : c.icmp6_type;
}

/// Whether a UDP packet to `port` (host order) is for us: our `udp-port`, or with `udp-port = 0`
/// (a node that only connects out) one of our lane ports, where peers answer its handshakes
/// and send its data.
[[nodiscard]] constexpr bool accepts_udp_port(const local_config& cfg, uint16_t port) noexcept {
    return cfg.udp_port != 0 ? port == cfg.udp_port : static_cast<uint16_t>(port - cfg.udp_lane_base) < udp_lanes;
}

/// What classify() found. On ok: `k`, `dvpe_offset`/`dvpe_len` (frame-relative; the dvpe
/// packet is at least a common header long), `src_ip`, `src_port` (udp: the source port; icmp:
/// the identifier; host order; else 0), `icmp_request` (icmp: an echo request).
/// On bad_icmp and disabled_transport `k` is the transport it would have been.
struct classify_result {
    classify_reason reason = classify_reason::not_ours;
    kind k = kind::udp4;
    uint16_t dvpe_offset = 0;
    uint16_t dvpe_len = 0;
    uint16_t src_port = 0;
    bool icmp_request = false;
    ip_address src_ip;
};

namespace detail {

[[nodiscard]] inline uint16_t load16(const uint8_t* p) noexcept {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}

[[nodiscard]] inline classify_result fail(classify_reason r) noexcept {
    classify_result res;
    res.reason = r;
    return res;
}

[[nodiscard]] inline classify_result fail(classify_reason r, kind k) noexcept {
    classify_result res;
    res.reason = r;
    res.k = k;
    return res;
}

/// Transport dispatch shared by both families. `l4` = first byte after the IP header,
/// `l4_len` = bytes of IP payload (from the IP header, already checked against the frame).
template <bool V6>
[[nodiscard]] inline classify_result classify_l4(const uint8_t* frame, const uint8_t* l4, uint32_t l4_len, uint8_t proto,
                                                 const uint8_t* src, const local_config& cfg) noexcept {
    constexpr kind k_udp = V6 ? kind::udp6 : kind::udp4;
    constexpr kind k_icmp = V6 ? kind::icmp6 : kind::icmp4;
    constexpr kind k_raw = V6 ? kind::rawip6 : kind::rawip4;
    constexpr uint8_t icmp_proto = V6 ? ipproto_icmpv6 : ipproto_icmp;

    classify_result r;
    r.reason = classify_reason::ok;
    uint32_t hdr = 0;
    if (proto == ipproto_udp) {
        if (l4_len < udp_header_size) [[unlikely]] {
            return fail(classify_reason::bad_udp_length, k_udp);
        }
        if (!accepts_udp_port(cfg, rte_be_to_cpu_16(load16(l4 + 2)))) {
            return fail(classify_reason::not_ours);
        }
        if (!(cfg.enabled & kind_bit(k_udp))) [[unlikely]] {
            return fail(classify_reason::disabled_transport, k_udp);
        }
        const uint16_t ulen = rte_be_to_cpu_16(load16(l4 + 4));
        if (ulen < udp_header_size || ulen > l4_len) [[unlikely]] {
            return fail(classify_reason::bad_udp_length, k_udp);
        }
        r.k = k_udp;
        r.src_port = rte_be_to_cpu_16(load16(l4));
        hdr = udp_header_size;
        l4_len = ulen;  // bytes after the UDP length are not the datagram's
    } else if (proto == icmp_proto) {
        const uint8_t want = V6 ? cfg.icmp6_type : cfg.icmp_type;
        const uint8_t alt = V6 ? cfg.icmp6_type_alt : cfg.icmp_type_alt;
        if (l4_len < icmp_header_size || (l4[0] != want && l4[0] != alt)) {
            return fail(classify_reason::not_ours);  // too short to be ours, or another type
        }
        if (!(cfg.enabled & kind_bit(k_icmp))) {
            return fail(classify_reason::not_ours);  // a type the host may use itself (echo reply)
        }
        if (l4[1] != icmp_code) [[unlikely]] {
            // An echo type with another code is somebody's ping (to us: the engine answers it).
            const bool echo = V6 ? (l4[0] == icmp6_echo_request || l4[0] == icmp6_echo_reply) : is_echo_type(l4[0]);
            return echo ? fail(classify_reason::not_ours) : fail(classify_reason::bad_icmp, k_icmp);
        }
        r.k = k_icmp;
        r.src_port = rte_be_to_cpu_16(load16(l4 + 4));
        r.icmp_request = l4[0] == (V6 ? icmp6_echo_request : icmp_echo_request);
        hdr = icmp_header_size;
    } else if (proto == cfg.ip_proto) {
        if (!(cfg.enabled & kind_bit(k_raw))) [[unlikely]] {
            return fail(classify_reason::disabled_transport, k_raw);
        }
        r.k = k_raw;
    } else {
        return fail(classify_reason::not_ours);
    }
    if (l4_len - hdr < sizeof(dvpe_header)) [[unlikely]] {
        return fail(classify_reason::bad_length, r.k);
    }
    r.dvpe_offset = static_cast<uint16_t>(l4 + hdr - frame);
    r.dvpe_len = static_cast<uint16_t>(l4_len - hdr);
    std::memcpy(r.src_ip.bytes.data(), src, V6 ? 16 : 4);
    r.src_ip.v6 = V6;
    return r;
}

/// Whether `proto` is the IP protocol of an enabled transport (for fragments, which may lack
/// the L4 header).
template <bool V6>
[[nodiscard]] inline bool transport_proto(uint8_t proto, const local_config& cfg) noexcept {
    return (proto == ipproto_udp && (cfg.enabled & kind_bit(V6 ? kind::udp6 : kind::udp4))) ||
           (proto == (V6 ? ipproto_icmpv6 : ipproto_icmp) && (cfg.enabled & kind_bit(V6 ? kind::icmp6 : kind::icmp4))) ||
           (proto == cfg.ip_proto && (cfg.enabled & kind_bit(V6 ? kind::rawip6 : kind::rawip4)));
}

[[nodiscard]] constexpr bool ipv6_extension_header(uint8_t nh) noexcept {
    // RFC 8200 §4 and the IANA "IPv6 Extension Header Types" registry, fragment (44) aside.
    return nh == 0 || nh == 43 || nh == 50 || nh == 51 || nh == 60 || nh == 135 || nh == 139 || nh == 140 ||
           nh == 253 || nh == 254;
}

}  // namespace detail

/// Classifies the received Ethernet frame [frame, frame + len). See the file comment for the
/// order of checks. Hot: workers call it per WAN packet.
[[nodiscard]] inline classify_result classify(const uint8_t* frame, uint32_t len, const local_config& cfg) noexcept {
    if (len < ether_header_size) [[unlikely]] {
        return detail::fail(classify_reason::bad_length);
    }
    const uint16_t ethertype = detail::load16(frame + 12);
    const uint8_t* ip = frame + ether_header_size;
    const uint32_t avail = len - ether_header_size;

    if (ethertype == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
        if (avail < ipv4_header_size) [[unlikely]] {
            return detail::fail(classify_reason::bad_length);
        }
        const uint32_t ihl = (ip[0] & 0x0fu) * 4u;
        const uint32_t total = rte_be_to_cpu_16(detail::load16(ip + 2));
        if ((ip[0] >> 4) != 4 || ihl < ipv4_header_size || total < ihl) [[unlikely]] {
            return detail::fail(classify_reason::bad_ip_header);
        }
        if (total > avail) [[unlikely]] {  // also covers ihl > avail
            return detail::fail(classify_reason::bad_length);
        }
        if (csum::fold(csum::ones_sum(ip, ihl)) != 0xffff) [[unlikely]] {
            return detail::fail(classify_reason::bad_ip_header);
        }
        if (!cfg.has_ipv4 || std::memcmp(ip + 16, &cfg.ipv4, 4) != 0) {
            return detail::fail(classify_reason::not_ours);
        }
        const uint8_t proto = ip[9];
        if ((detail::load16(ip + 6) & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0) {
            return detail::fail(detail::transport_proto<false>(proto, cfg) ? classify_reason::fragment
                                                                           : classify_reason::not_ours);
        }
        return detail::classify_l4<false>(frame, ip + ihl, total - ihl, proto, ip + 12, cfg);
    }
    if (ethertype == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6)) {
        if (avail < ipv6_header_size) [[unlikely]] {
            return detail::fail(classify_reason::bad_length);
        }
        const uint32_t plen = rte_be_to_cpu_16(detail::load16(ip + 4));
        if ((ip[0] >> 4) != 6 || plen == 0) [[unlikely]] {
            return detail::fail(classify_reason::bad_ip_header);
        }
        if (ipv6_header_size + plen > avail) [[unlikely]] {
            return detail::fail(classify_reason::bad_length);
        }
        if (!cfg.has_ipv6 || std::memcmp(ip + 24, cfg.ipv6.data(), 16) != 0) {
            return detail::fail(classify_reason::not_ours);
        }
        const uint8_t nh = ip[6];
        if (nh == 44) {  // fragment header: the protocol is in its first byte
            const bool ours = plen >= 8 && detail::transport_proto<true>(ip[ipv6_header_size], cfg);
            return detail::fail(ours ? classify_reason::fragment : classify_reason::not_ours);
        }
        classify_result r = detail::classify_l4<true>(frame, ip + ipv6_header_size, plen, nh, ip + 8, cfg);
        if (r.reason == classify_reason::not_ours && detail::ipv6_extension_header(nh)) [[unlikely]] {
            r.reason = classify_reason::ipv6_ext_header;
        }
        return r;
    }
    return detail::fail(classify_reason::not_ours);
}

/// Where classify_fast() found the dvpe packet; dvpe_len == 0: not the fast shape.
struct dvpe_span {
    uint16_t dvpe_offset = 0;
    uint16_t dvpe_len = 0;
};

/// The common case of classify() with a handful of compares: an IPv4 packet without options
/// to our address, not a fragment, on udp4 (our port), rawip4 or icmp4, with a well-formed
/// length and header checksum. Returns the dvpe packet's offset and length exactly as classify()
/// would (`reason == ok`, same `dvpe_offset`/`dvpe_len`), or dvpe_len 0 for every other frame,
/// which the caller then hands to classify() for the full checks and the reason. Never returns a
/// span for a frame classify() would not accept (tests/unit/transports/classify_test.cc checks
/// both against each other). Does not report the source address (the data path does not need
/// it). Hot: workers call it per WAN packet.
[[nodiscard]] inline dvpe_span classify_fast(const uint8_t* frame, uint32_t len, const local_config& cfg) noexcept {
    constexpr uint32_t l3 = ether_header_size;
    constexpr uint32_t l4 = ether_header_size + ipv4_header_size;
    if (len < l4 + sizeof(dvpe_header) || detail::load16(frame + 12) != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
        frame[l3] != 0x45 || !cfg.has_ipv4) {
        return {};
    }
    const uint8_t* ip = frame + l3;
    uint32_t dst;
    std::memcpy(&dst, ip + 16, 4);
    const uint32_t total = rte_be_to_cpu_16(detail::load16(ip + 2));
    if (dst != cfg.ipv4 || total > len - l3 ||
        (detail::load16(ip + 6) & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0) {
        return {};
    }
    // Header checksum: the same sum as csum::ones_sum(ip, 20), as five 32-bit words.
    const auto w = [ip](unsigned k) noexcept {
        uint32_t v;
        std::memcpy(&v, ip + 4 * k, 4);
        return uint64_t{v};
    };
    // fold(sum) == 0xffff exactly when sum is a non-zero multiple of 0xffff (folding keeps the
    // value mod 0xffff and maps a non-zero sum into 1..0xffff); sum > 0 as ip[0] == 0x45. The
    // modulo is a multiply, a shorter dependency chain than the four folding steps.
    const uint64_t sum = (w(0) + w(1)) + (w(2) + w(3)) + w(4);
    if (sum % 0xffff != 0) {
        return {};
    }
    if (total < ipv4_header_size) {
        return {};
    }
    const uint32_t l4_len = total - ipv4_header_size;
    const uint8_t proto = ip[9];
    const uint8_t* l4p = frame + l4;
    if (proto == ipproto_udp) {
        if (l4_len < udp_header_size || !accepts_udp_port(cfg, rte_be_to_cpu_16(detail::load16(l4p + 2))) ||
            !(cfg.enabled & kind_bit(kind::udp4))) {
            return {};
        }
        const uint32_t ulen = rte_be_to_cpu_16(detail::load16(l4p + 4));
        if (ulen > l4_len || ulen < udp_header_size + sizeof(dvpe_header)) {
            return {};
        }
        return {static_cast<uint16_t>(l4 + udp_header_size), static_cast<uint16_t>(ulen - udp_header_size)};
    }
    if (proto == ipproto_icmp) {
        if (l4_len < icmp_header_size + sizeof(dvpe_header) || (l4p[0] != cfg.icmp_type && l4p[0] != cfg.icmp_type_alt) ||
            l4p[1] != icmp_code ||
            !(cfg.enabled & kind_bit(kind::icmp4))) {
            return {};
        }
        return {static_cast<uint16_t>(l4 + icmp_header_size), static_cast<uint16_t>(l4_len - icmp_header_size)};
    }
    if (proto == cfg.ip_proto) {
        if (l4_len < sizeof(dvpe_header) || !(cfg.enabled & kind_bit(kind::rawip4))) {
            return {};
        }
        return {static_cast<uint16_t>(l4), static_cast<uint16_t>(l4_len)};
    }
    return {};
}

}  // namespace transport
