// SPDX-License-Identifier: MIT
// Outer fragmentation (`wan-fragment = yes`, docs/protocol.md "Oversize frames"): a sealed
// packet larger than the WAN MTU is sent as IPv4 fragments (RFC 791: DF clear, an identification
// per packet, offsets in 8-byte units) or IPv6 fragments (RFC 8200 §4.5: a fragment header after
// the IPv6 header). Only dvpe's own outer packets are split: IPv4 without options, IPv6 without
// extension headers, as write_outer() lays them out. The receiving worker reassembles them with
// DPDK's rte_ip_frag (engine/worker.cc).
//
// Hand-written rather than rte_ipv4/6_fragment_packet: those return chained mbufs (direct header
// + indirect payload segments, so an indirect pool and multi-segment tx on every WAN port), the
// IPv6 one writes identification 0 into every fragment (receivers would merge fragments of
// different packets), and the copying IPv4 variant is experimental in DPDK 22.11. This is the
// slow path for oversize frames only; copying into one flat mbuf per fragment costs nothing here.
//
// Threads: pure functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace transport {

/// How a packet is cut: `count` fragments of `chunk` payload bytes (the last one shorter).
/// count == 0: the packet cannot be cut within the limits (MTU too small, too many fragments).
struct fragment_plan {
    uint16_t count = 0;
    uint16_t chunk = 0;
    uint16_t payload = 0;  ///< bytes after the IPv4 / IPv6 header that are split
};

/// At most this many fragments per packet: DPDK's reassembly keeps up to
/// RTE_LIBRTE_IP_FRAG_MAX_FRAG (8 in Debian's DPDK 22.11) per packet.
inline constexpr unsigned max_fragments = 8;

/// Plans the fragments of the Ethernet frame of length `frame_len` carrying an outer IPv4
/// (v6 = false, 20-byte header) or IPv6 packet, for IP packets of at most `mtu` bytes.
[[nodiscard]] fragment_plan plan_fragments(bool v6, size_t frame_len, uint16_t mtu) noexcept;

/// Writes fragment `k` (0-based) of `frame` as a complete Ethernet frame into `out` (room for
/// 14 + mtu bytes, not overlapping `frame`) and returns its length. `id` is the IPv4
/// identification (low 16 bits) or the IPv6 fragment identification.
size_t write_fragment(const uint8_t* frame, bool v6, const fragment_plan& plan, unsigned k, uint32_t id,
                      uint8_t* out) noexcept;

}  // namespace transport
