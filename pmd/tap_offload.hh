// SPDX-License-Identifier: MIT
// The offload arithmetic of dvpe's own TAP port (pmd/host_tap.hh, docs/host-path.md): what the
// kernel hands a TAP opened with IFF_VNET_HDR and TUNSETOFFLOAD, and what it accepts back.
//   rx: a virtio_net_hdr, then a frame. With gso_type TCPV4/TCPV6/UDP_L4 the frame is a
//       super-frame of up to 64 KiB: gso_plan / make_segment cut it into frames of at most
//       gso_size payload each, every one a complete frame (IPv4 id and length, IPv6 payload
//       length, TCP sequence and flags, UDP length, L3 and L4 checksums written). A frame with
//       NEEDS_CSUM only (no GSO) gets its L4 checksum completed (complete_csum).
//   tx: consecutive TCP segments of one flow (same headers, sequence numbers continuing, every
//       one but the last exactly MSS long), and consecutive UDP datagrams of one flow (same
//       headers, every one but the last of the first one's size), are written as one
//       super-frame: l4_seg::parse and follows() collect them, merge_header writes the one
//       header and the virtio_net_hdr (GSO TCPV4/6 or UDP_L4, NEEDS_CSUM).
// Not rte_gso / rte_gro: DPDK 22.11 has neither for TCP over IPv6, they work on mbuf chains
// (the rx super-frame is one flat buffer here) and the tx side needs our own virtio_net_hdr
// anyway; one small code path serves both families.
// Every byte handed to these functions is hostile (the TAP is fed by whatever the host routes or
// bridges into it): each length is checked against the buffer; a refusal is a reason, never a
// read or write outside [frame, frame + len).
// Threads: pure functions over caller-owned buffers; any thread.
#pragma once

#include <cstdint>
#include <cstring>

namespace pmd::tap {

// struct virtio_net_hdr (include/uapi/linux/virtio_net.h), little-endian fields as the kernel
// reads and writes them on x86 (the legacy header is in native byte order).
struct vnet_hdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
};
static_assert(sizeof(vnet_hdr) == 10);

inline constexpr uint8_t f_needs_csum = 1;
inline constexpr uint8_t f_data_valid = 2;
inline constexpr uint8_t gso_none = 0;
inline constexpr uint8_t gso_tcpv4 = 1;
inline constexpr uint8_t gso_tcpv6 = 4;
inline constexpr uint8_t gso_udp_l4 = 5;  // USO (kernel >= 6.2; not in Debian 12's 6.1 headers)
inline constexpr uint8_t gso_ecn = 0x80;

/// Largest super-frame a TAP read returns (64 KiB of IP packet plus an Ethernet header and
/// a VLAN tag), the rx scratch size.
inline constexpr uint32_t max_frame = 65536 + 18;
/// Coalescing bounds: IPv4's total length field, and a segment count like the kernel's GRO.
inline constexpr uint32_t max_merged_ip_len = 65535;
inline constexpr unsigned max_merged_segments = 64;

enum class refusal : uint8_t {
    none,
    short_frame,     // shorter than the headers it claims
    bad_l2,          // neither IPv4 nor IPv6 (after at most one VLAN tag)
    bad_l3,          // IP header inconsistent with the frame or the gso type
    bad_l4,          // csum_start / TCP data offset / UDP header outside the frame
    bad_gso,         // unknown gso_type, gso_size 0, or a gso frame without NEEDS_CSUM
    too_big,         // a segment (headers + gso_size) would not fit the caller's buffer
};
const char* to_string(refusal r) noexcept;

/// How a super-frame is cut (made by plan_gso, used by make_segment).
struct gso_plan {
    uint32_t frame_len = 0;   // bytes of the super-frame
    uint16_t l3 = 0;          // offset of the IP header
    uint16_t l4 = 0;          // offset of the TCP/UDP header (the vnet header's csum_start)
    uint16_t hdr_len = 0;     // l4 + TCP header (data offset) or + 8 (UDP)
    uint16_t mss = 0;         // payload bytes of every segment but the last
    bool v6 = false;
    bool udp = false;
    uint32_t segments = 0;    // ceil((frame_len - hdr_len) / mss), at least 1
};

/// Validates the super-frame and fills `plan`; `max_segment` is the largest frame the caller
/// can hold (its mbuf data room).
refusal plan_gso(const vnet_hdr& h, const uint8_t* frame, uint32_t len, uint32_t max_segment,
                 gso_plan& plan) noexcept;

/// Writes segment `index` (< plan.segments) of the super-frame into `out` (room for
/// plan.hdr_len + plan.mss bytes) and returns its length.
uint32_t make_segment(const gso_plan& plan, const uint8_t* frame, uint32_t index, uint8_t* out) noexcept;

/// A frame with NEEDS_CSUM and no GSO: writes the checksum the kernel left partial (the sum
/// of [csum_start, len) folded over the pseudo-header sum already in the field).
refusal complete_csum(const vnet_hdr& h, uint8_t* frame, uint32_t len) noexcept;

/// One TCP segment or UDP datagram as the tx coalescer sees it; parse() is false for anything it
/// does not merge: neither TCP nor UDP, IPv4 options or fragments, IPv6 extension headers, no
/// payload; TCP with SYN/FIN/RST/URG or without ACK; UDP whose length field is not the IP
/// payload's, without a checksum (0: merged, it would get one), or to a group (multicast or
/// broadcast MAC, IPv4 224/3 and above, IPv6 ff00::/8).
struct l4_seg {
    const uint8_t* frame = nullptr;
    uint32_t len = 0;
    uint16_t l3 = 0, l4 = 0, hdr_len = 0;
    uint32_t payload = 0;
    uint32_t seq = 0;  // TCP, host order
    uint8_t flags = 0;  // TCP
    uint16_t ip_id = 0;  // IPv4
    bool df = false;     // IPv4 DF (IPv6: true)
    bool v6 = false;
    bool udp = false;
    bool parse(const uint8_t* f, uint32_t n) noexcept;
};

/// True if `next` continues the run that starts with `first` and last ended with `last`: the
/// same protocol and family; the same Ethernet and IP headers but the length, IPv4 id and
/// checksum; every segment but the last as long as the first; IPv4 without DF: ids counting up
/// from the first's by one (the kernel renumbers them so); total within the bounds; the IPv4
/// header and L4 checksums of `next` right, and of `first` when `count` is 1 (the merged frame's
/// NEEDS_CSUM makes the kernel trust it unverified). TCP: the same TCP header but the sequence
/// number, flags as the first's (PSH, CWR aside) and checksum, the sequence continuing, `last`
/// without PSH. UDP: the same ports. `count` (1 on the first call of a run) and `ip_len`
/// describe the run so far.
bool follows(const l4_seg& first, const l4_seg& last, const l4_seg& next, unsigned count, uint32_t ip_len) noexcept;

/// The header of the merged run (first.hdr_len bytes into `out`, lengths for `total_payload`,
/// IPv4 checksum, L4 checksum = pseudo-header sum as NEEDS_CSUM wants it; TCP: PSH from the last
/// segment if it had it) and its vnet header (GSO TCPV4/TCPV6, or UDP_L4 for UDP: the caller
/// writes UDP runs only to a TAP that accepted USO, i.e. a kernel >= 6.2).
void merge_header(const l4_seg& first, uint8_t last_flags, uint32_t total_payload, uint8_t* out,
                  vnet_hdr& h) noexcept;

/// Internet checksum helpers (one's-complement sums in native byte order, as rte_raw_cksum).
uint32_t sum16(const uint8_t* p, uint32_t n, uint32_t sum) noexcept;
uint16_t fold(uint32_t sum) noexcept;
/// Verifies a frame's IPv4 header checksum and TCP/UDP checksum (tests, fuzz checks).
bool checksums_ok(const uint8_t* frame, uint32_t len) noexcept;

}  // namespace pmd::tap
