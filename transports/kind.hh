// SPDX-License-Identifier: MIT
// The six underlay transports and their declared sizes (docs/design.md §6 "Headroom is
// declared"): pmd/ sizes mbuf headroom from headroom(), the engine derives the overlay MTU from
// inner_l3_overhead(). GVPE semantics (reference: GVPE 3.1 "Transports"), over IPv4 and IPv6:
//   udp    Ethernet | IP | UDP (dst = receiver's udp-port, src = per sender lane) | dvpe packet
//   rawip  Ethernet | IP (protocol / next header = ip-proto, default 47)           | dvpe packet
//   icmp   Ethernet | IP | ICMP or ICMPv6 (type, code 255, checksum, identifier,  | dvpe packet
//                           sequence 0: an echo's header, so NATs map it; the type is
//                           icmp-type, or with an echo icmp-type the request or reply role
//                           of control/daemon/paths.hh icmp_for())
//   tcp    a kernel TCP connection (the slow path, control/daemon/tcp_path.hh), each dvpe packet
//          framed by its length: | 2-byte length | dvpe packet | (transports/stream.hh). Workers
//          never touch the socket: their "outer header" is the ring header (stream_meta)
//          naming the connection's endpoint, in front of the framing.
// Outer IP headers never carry options or extension headers.
//
// Threads: constants and pure functions; any thread.
#pragma once

#include "transports/wire.hh"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace transport {

enum class kind : uint8_t { udp4, udp6, rawip4, rawip6, icmp4, icmp6, tcp4, tcp6, dns4, dns6 };
inline constexpr size_t n_kinds = 10;
/// The first n_wire_kinds kinds travel on a WAN port (Ethernet framed); the others (tcp, dns)
/// on the slow path's kernel sockets.
inline constexpr size_t n_wire_kinds = 6;

inline constexpr std::array<std::string_view, n_kinds> kind_names = {
    "udp4", "udp6", "rawip4", "rawip6", "icmp4", "icmp6", "tcp4", "tcp6", "dns4", "dns6",
};

[[nodiscard]] constexpr std::string_view kind_name(kind k) noexcept { return kind_names[static_cast<size_t>(k)]; }

/// Bit of `k` in an enabled-transports mask (local_config::enabled).
[[nodiscard]] constexpr uint16_t kind_bit(kind k) noexcept { return static_cast<uint16_t>(1u << static_cast<unsigned>(k)); }
inline constexpr uint16_t all_kinds = (1u << n_kinds) - 1;

[[nodiscard]] constexpr bool is_ipv6(kind k) noexcept {
    return k == kind::udp6 || k == kind::rawip6 || k == kind::icmp6 || k == kind::tcp6 || k == kind::dns6;
}
[[nodiscard]] constexpr bool is_tcp(kind k) noexcept { return k == kind::tcp4 || k == kind::tcp6; }
[[nodiscard]] constexpr bool is_dns(kind k) noexcept { return k == kind::dns4 || k == kind::dns6; }
/// A slow-path transport: carried by the slow-path thread's kernel sockets behind a ring header
/// (transports/stream.hh), not by the WAN port.
[[nodiscard]] constexpr bool is_stream(kind k) noexcept { return is_tcp(k) || is_dns(k); }
[[nodiscard]] constexpr bool is_udp(kind k) noexcept { return k == kind::udp4 || k == kind::udp6; }
[[nodiscard]] constexpr bool is_rawip(kind k) noexcept { return k == kind::rawip4 || k == kind::rawip6; }
[[nodiscard]] constexpr bool is_icmp(kind k) noexcept { return k == kind::icmp4 || k == kind::icmp6; }

// ---- Sizes -------------------------------------------------------------------------------------

inline constexpr uint16_t ether_header_size = 14;
inline constexpr uint16_t ipv4_header_size = 20;
inline constexpr uint16_t ipv6_header_size = 40;
inline constexpr uint16_t udp_header_size = 8;
/// A TCP header without options, as the underlay carries it (overhead only: the kernel builds it).
inline constexpr uint16_t tcp_header_size = 20;
/// The tcp transport's framing: a 2-byte big-endian length in front of every dvpe packet.
inline constexpr uint16_t stream_prefix_size = 2;
/// The ring header between workers and the slow-path thread (transports/stream.hh stream_meta):
/// kind, flags, port, address, then the framing prefix. Never on a wire.
inline constexpr uint16_t stream_meta_size = 22;
/// What the dns transport adds per packet, roughly: a DNS header and question (a 512-byte
/// message carries ~180 bytes up, ~440 down; transports/dns_wire.hh). For the overhead report.
inline constexpr uint16_t dns_overhead = 12 + 4 + 4;
/// type, code, checksum, identifier, sequence: an echo message's header (RFC 792, RFC 4443),
/// also for other types. GVPE's is 4 bytes (no identifier): NATs track ICMP queries by their
/// identifier, and an echo reply passes a NAT only with its request's (docs/protocol.md).
inline constexpr uint16_t icmp_header_size = 8;

/// IP protocol numbers / IPv6 next headers the transports use.
inline constexpr uint8_t ipproto_icmp = 1;
inline constexpr uint8_t ipproto_udp = 17;
inline constexpr uint8_t ipproto_icmpv6 = 58;
/// ICMP code of every dvpe icmp packet (GVPE's).
inline constexpr uint8_t icmp_code = 255;

[[nodiscard]] constexpr uint16_t ip_header_size(kind k) noexcept {
    return is_ipv6(k) ? ipv6_header_size : ipv4_header_size;
}

[[nodiscard]] constexpr uint16_t l4_header_size(kind k) noexcept {
    return is_udp(k) ? udp_header_size : is_icmp(k) ? icmp_header_size : is_tcp(k) ? tcp_header_size + stream_prefix_size
           : is_dns(k) ? udp_header_size + dns_overhead : 0;
}

/// Outer bytes that count against the underlay (IP) MTU: IP header + UDP/ICMP header (tcp: the
/// TCP header and the framing prefix; a segment may carry several packets or part of one).
[[nodiscard]] constexpr uint16_t overhead(kind k) noexcept { return ip_header_size(k) + l4_header_size(k); }

/// Bytes written before the dvpe header, Ethernet included: what write_outer() needs in front
/// of the dvpe packet (tcp: the ring header, stream_meta_size).
[[nodiscard]] constexpr uint16_t headroom(kind k) noexcept {
    return is_stream(k) ? stream_meta_size : ether_header_size + overhead(k);
}

/// Bytes the underlay IP packet adds to the inner L3 packet (data message without full_frame:
/// outer IP + UDP/ICMP, dvpe data header, the inner ethertype, AEAD tag). Overlay MTU =
/// underlay MTU - this. GVPE's figure over IPv4 is 42/46/50 for rawip/icmp/udp.
[[nodiscard]] constexpr uint16_t inner_l3_overhead(kind k) noexcept {
    return static_cast<uint16_t>(overhead(k) + data_overhead + 2);
}

inline constexpr uint16_t max_headroom = 14 + 40 + 8;

static_assert(headroom(kind::udp4) == 42 && headroom(kind::rawip4) == 34 && headroom(kind::icmp4) == 42);
static_assert(headroom(kind::udp6) == 62 && headroom(kind::rawip6) == 54 && headroom(kind::icmp6) == 62);
static_assert(max_headroom == headroom(kind::udp6) && headroom(kind::tcp6) <= max_headroom);
static_assert(inner_l3_overhead(kind::rawip4) == 54 && inner_l3_overhead(kind::icmp4) == 62 &&
              inner_l3_overhead(kind::udp4) == 62);
static_assert(inner_l3_overhead(kind::rawip6) == 74 && inner_l3_overhead(kind::icmp6) == 82 &&
              inner_l3_overhead(kind::udp6) == 82);

/// UDP source ports of a node's sender lanes: lane w (worker w; 15 is the control thread's)
/// sends from udp_lane_port_base(node) + w, so receivers' RSS spreads the lanes. A node with
/// `udp-port = 0` (GVPE: peers cannot connect to it, it connects out) receives on these ports.
inline constexpr uint16_t udp_lanes = 16;
inline constexpr uint16_t control_lane = udp_lanes - 1;
[[nodiscard]] constexpr uint16_t udp_lane_port_base(uint16_t node_id) noexcept {
    return static_cast<uint16_t>(40000 + (node_id % 64) * udp_lanes);
}

/// ICMPv6 type to use for an `icmp-type` value: the ICMPv4 echo types map to their ICMPv6
/// counterparts (0 echo reply -> 129, 8 echo request -> 128), anything else is used as is.
/// Types below 128 are ICMPv6 *error* messages, which stateful firewalls drop as unrelated and
/// the Linux stack tries to parse as errors, so the default must not be 0 over IPv6.
[[nodiscard]] constexpr uint8_t icmp6_type_for(uint8_t icmp_type) noexcept {
    return icmp_type == 0 ? 129 : icmp_type == 8 ? 128 : icmp_type;
}

/// ICMP echo types (ICMPv4 and ICMPv6). With an echo `icmp-type` (0 or 8) dvpe sends requests
/// or replies by role (control/daemon/paths.hh icmp_for()) and receives both.
inline constexpr uint8_t icmp_echo_reply = 0;
inline constexpr uint8_t icmp_echo_request = 8;
inline constexpr uint8_t icmp6_echo_request = 128;
inline constexpr uint8_t icmp6_echo_reply = 129;
[[nodiscard]] constexpr bool is_echo_type(uint8_t icmp_type) noexcept {
    return icmp_type == icmp_echo_reply || icmp_type == icmp_echo_request;
}
/// The other ICMP type a receiver accepts beside `type` (ICMPv4 or mapped ICMPv6): an echo
/// type's counterpart, else `type` itself.
[[nodiscard]] constexpr uint8_t icmp_partner_type(uint8_t type) noexcept {
    switch (type) {
    case icmp_echo_reply: return icmp_echo_request;
    case icmp_echo_request: return icmp_echo_reply;
    case icmp6_echo_request: return icmp6_echo_reply;
    case icmp6_echo_reply: return icmp6_echo_request;
    default: return type;
    }
}

}  // namespace transport
