// SPDX-License-Identifier: MIT
// Control messages between the two ends of a session (docs/protocol.md "Control messages"):
// the plaintext of a data message with data_flag_control, sealed by the control thread on the
// control lane and handed by the receiving worker to its control thread. Two today, for
// mediated connections (GVPE's CONNECT_REQ / CONNECT_INFO, on dvpe's own wire, IPv4 and IPv6):
//
//   connect_req   4 bytes  [type 1][reserved 0][node id, u16 BE]
//                          "connect me with this node" (a node to its router)
//   connect_info 24 bytes  [type 2][kind][node id, u16 BE][udp port, u16 BE][reserved 0, 2]
//                          [address, 16: IPv4 in the first 4, the rest zero]
//                          "this node is reachable at this address, by this transport, as I see
//                          it" (a router to both ends)
//
// The size is fixed per type; anything else (another size, a reserved byte not zero, node id 0
// or above 4095, a kind we do not know, a port that does not match the kind, an address no
// peer can have) is refused by parse_control(), which the caller counts.
//
// Threads: pure functions on caller-owned bytes; any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <variant>

#include "transports/ip.hh"
#include "transports/kind.hh"
#include "transports/wire.hh"

namespace transport {

enum class control_type : uint8_t { connect_req = 1, connect_info = 2 };

inline constexpr size_t connect_req_size = 4;
inline constexpr size_t connect_info_size = 24;
/// The largest control message (the receiving worker hands over nothing longer).
inline constexpr size_t max_control_size = connect_info_size;

struct connect_req {
    uint16_t node = 0;  ///< the node the sender wants to reach
    friend bool operator==(const connect_req&, const connect_req&) = default;
};

struct connect_info {
    uint16_t node = 0;         ///< the node this is about
    kind k = kind::udp4;       ///< the transport the router reaches it by (the family: the address's)
    uint16_t udp_port = 0;     ///< udp: the port it is reached at (after NAT); else 0
    ip_address ip;             ///< its address as the router sees it (after NAT)
    friend bool operator==(const connect_info& a, const connect_info& b) noexcept {
        return a.node == b.node && a.k == b.k && a.udp_port == b.udp_port && a.ip.v6 == b.ip.v6 &&
               a.ip.bytes == b.ip.bytes;
    }
};

using control_message = std::variant<connect_req, connect_info>;

namespace detail {
[[nodiscard]] inline uint16_t get16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline void put16(uint8_t* p, uint16_t v) noexcept {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
[[nodiscard]] inline bool valid_node(uint16_t id) noexcept { return id >= min_node_id && id <= max_node_id; }
}  // namespace detail

/// An address a peer can be reached at: not unspecified, loopback, multicast or (IPv4) limited
/// broadcast / "this network". A router is authenticated but need not be trusted to point our
/// handshakes at ourselves or at a whole group.
[[nodiscard]] inline bool unicast_address(const ip_address& a) noexcept {
    const auto& b = a.bytes;
    if (!a.v6) {
        for (size_t i = 4; i < 16; ++i) {
            if (b[i] != 0) {
                return false;
            }
        }
        return b[0] != 0 && b[0] != 127 && b[0] < 224;  // 0/8, loopback, multicast and above
    }
    if (b[0] == 0xff) {
        return false;  // multicast
    }
    bool zero_head = true;  // :: and ::1 (the first 15 bytes zero)
    for (size_t i = 0; i < 15; ++i) {
        zero_head = zero_head && b[i] == 0;
    }
    return !(zero_head && (b[15] == 0 || b[15] == 1));
}

/// The control message in `b` (a data message's plaintext), or nullopt if it is none.
[[nodiscard]] inline std::optional<control_message> parse_control(std::span<const uint8_t> b) noexcept {
    if (b.empty()) {
        return std::nullopt;
    }
    const uint8_t* p = b.data();
    if (p[0] == static_cast<uint8_t>(control_type::connect_req)) {
        if (b.size() != connect_req_size || p[1] != 0 || !detail::valid_node(detail::get16(p + 2))) {
            return std::nullopt;
        }
        return connect_req{detail::get16(p + 2)};
    }
    if (p[0] != static_cast<uint8_t>(control_type::connect_info) || b.size() != connect_info_size ||
        p[1] >= n_kinds || p[6] != 0 || p[7] != 0) {
        return std::nullopt;
    }
    connect_info ci;
    ci.node = detail::get16(p + 2);
    ci.k = static_cast<kind>(p[1]);
    ci.udp_port = detail::get16(p + 4);
    ci.ip.v6 = is_ipv6(ci.k);
    std::memcpy(ci.ip.bytes.data(), p + 8, 16);
    if (!detail::valid_node(ci.node) || (is_udp(ci.k) ? ci.udp_port == 0 : ci.udp_port != 0) ||
        !unicast_address(ci.ip)) {
        return std::nullopt;
    }
    return ci;
}

/// The bytes of `m`; parse_control(encode_control(m)) == m for every message it accepts.
[[nodiscard]] inline std::array<uint8_t, max_control_size> encode_control(const control_message& m, size_t& len) noexcept {
    std::array<uint8_t, max_control_size> b{};
    if (const auto* r = std::get_if<connect_req>(&m)) {
        b[0] = static_cast<uint8_t>(control_type::connect_req);
        detail::put16(&b[2], r->node);
        len = connect_req_size;
        return b;
    }
    const auto& ci = std::get<connect_info>(m);
    b[0] = static_cast<uint8_t>(control_type::connect_info);
    b[1] = static_cast<uint8_t>(ci.k);
    detail::put16(&b[2], ci.node);
    detail::put16(&b[4], ci.udp_port);
    std::memcpy(&b[8], ci.ip.bytes.data(), ci.ip.v6 ? 16 : 4);
    len = connect_info_size;
    return b;
}

}  // namespace transport
