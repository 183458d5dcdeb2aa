// SPDX-License-Identifier: MIT
// ICMP "too big" answers for overlay frames that do not fit the WAN path (issue 5, point 5).
//
// dvpe is an Ethernet link: it cannot fragment an inner IP packet, so an overlay frame whose sealed
// packet would exceed the WAN MTU is dropped (counted as too_big) and, when the frame carries IPv4
// or IPv6, its sender is told the largest packet that fits, as a router on the path would:
//   IPv4: ICMP type 3 code 4 "fragmentation needed" with the next-hop MTU (RFC 1191), quoting as
//         much of the packet as keeps the answer within 576 bytes (RFC 1812 §4.3.2.3);
//   IPv6: ICMPv6 type 2 "packet too big" with the MTU (RFC 4443 §3.2), quoting as much as keeps it
//         within the IPv6 minimum MTU of 1280.
// The answer goes back out of the overlay port the frame came from, from the MAC the frame was
// sent to and from the IP address it was sent to (an Ethernet link has no address of its own; the
// kernel accepts the error from any source, and keys its path-MTU cache on the quoted destination).
//
// No answer (only the count) for: frames to multicast/broadcast MACs; IPv4 non-first fragments;
// ICMP/ICMPv6 error messages (RFC 1812 §4.3.2.7, RFC 4443 §2.4(e)); unspecified, loopback,
// multicast or broadcast source addresses; VLAN-tagged or non-IP frames; truncated headers.
// The worker rate-limits the answers (too_big_limiter).
//
// Threads: pure functions; any thread. The limiter belongs to one worker.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/flood_budget.hh"

namespace engine {

/// Largest answer build_too_big() writes: Ethernet + IPv6 minimum MTU.
inline constexpr size_t too_big_max_answer = 14 + 1280;

/// Builds the answer to the Ethernet frame [frame, frame+len) for a path that carries inner IP
/// packets of at most `mtu` bytes, into `out` (at least too_big_max_answer bytes, not overlapping
/// the frame). Returns the answer's length, or 0 if this frame gets none.
[[nodiscard]] size_t build_too_big(const uint8_t* frame, size_t len, uint16_t mtu, uint8_t* out) noexcept;

/// Any ICMP/ICMPv6 error of the kinds above, for routers (docs/site-gateways.md "Routing"):
/// types and codes per family, the 16-bit value in the last word of the ICMP header (the MTU for
/// "too big", 0 otherwise), and the source address (nullptr: the address the packet was sent to,
/// as for "too big"; a router answers from its own address on the port). The same rules for
/// which frames get no answer.
struct icmp_error {
    uint8_t type4, code4, type6, code6;
    uint16_t value;
    const uint8_t* src4;  // 4 bytes or nullptr
    const uint8_t* src6;  // 16 bytes or nullptr
};
inline constexpr icmp_error icmp_net_unreachable{3, 0, 1, 0, 0, nullptr, nullptr};  // no route
inline constexpr icmp_error icmp_time_exceeded{11, 0, 3, 0, 0, nullptr, nullptr};    // hop limit
[[nodiscard]] size_t build_icmp_error(const uint8_t* frame, size_t len, const icmp_error& e, uint8_t* out) noexcept;

/// At most `rate` answers per second and worker, bursts of `burst`: the one token bucket of
/// the engine (engine/flood_budget.hh), one token per answer.
class too_big_limiter {
public:
    static constexpr uint64_t rate = 1000;   // per second and worker (the kernel's icmp_msgs_per_sec)
    static constexpr uint64_t burst = 50;

    explicit too_big_limiter(uint64_t tsc_hz = 0) noexcept : _bucket(tsc_hz) { _bucket.set_limits(rate, burst); }
    void set_hz(uint64_t tsc_hz) noexcept { _bucket.set_hz(tsc_hz); }

    /// True if an answer may be sent at TSC time `now`.
    bool allow(uint64_t now) noexcept { return _bucket.take(now, 1); }

private:
    flood_budget _bucket;
};

}  // namespace engine
