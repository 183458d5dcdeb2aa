// SPDX-License-Identifier: MIT
// The dvpe header on the wire (docs/protocol.md, "Common header" and "Data message"): the 8-byte
// common header every message starts with, whatever the transport, and the 16-byte data header
// that is also the AEAD's associated data. Field names are the spec's, so a reviewer can diff
// the structs against the tables. Multi-byte fields are byte arrays (alignment 1: the header
// sits right after an outer header of 28..48 bytes) read and written big-endian by accessors.
//
// Pattern of a data message:  [common 5 | key_id 1 | lane 2 | counter 8][ciphertext n][tag 16]
//                             \______________ AAD, 16 bytes ___________/
// Nonce (96 bit) = lane as u32 big-endian || counter as u64 big-endian.
//
// Threads: pure functions on caller-owned bytes; any thread.
#pragma once

#include <array>
#include <bit>
#include <cassert>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace transport {

// ---- Protocol constants (docs/protocol.md) ---------------------------------------------------

inline constexpr uint8_t protocol_version = 1;

enum class message_type : uint8_t {
    data = 1,
    handshake_initiation = 2,
    handshake_response = 3,
    cookie_reply = 4,
};

/// Node ids on the wire are 12 bits, 1..4095; 0 is invalid (GVPE used dst 0 for broadcast).
inline constexpr uint16_t min_node_id = 1;
inline constexpr uint16_t max_node_id = 4095;

/// Data message flag (low nibble of `version_flags`): the plaintext starts at the destination
/// MAC instead of the ethertype (bridged site LANs).
inline constexpr uint8_t data_flag_full_frame = 0x01;
/// Data message flag on an empty (keepalive) message: the sender is shutting down (GVPE's
/// RESET). Authenticated like any data message; receivers that predate it see a keepalive.
inline constexpr uint8_t data_flag_close = 0x02;
/// Data message flag: the plaintext is a control message between the two session ends
/// (transports/control_msg.hh: mediated connections), not a frame. Authenticated like any data
/// message; the receiving worker hands it to its control thread.
inline constexpr uint8_t data_flag_control = 0x04;

inline constexpr size_t aead_tag_size = 16;
inline constexpr size_t nonce_size = 12;

// ---- Wire structs ----------------------------------------------------------------------------

/// Common header, 8 bytes, every message.
struct dvpe_header {
    uint8_t type;              ///< message_type
    uint8_t version_flags;     ///< version in bits 7..4, type-specific flags in bits 3..0
    uint8_t srcdst;            ///< bits 7..4: src id bits 11..8; bits 3..0: dst id bits 11..8
    uint8_t src_lo;            ///< src id bits 7..0
    uint8_t dst_lo;            ///< dst id bits 7..0
    uint8_t type_specific[3];  ///< see the message type
};

/// Data message header (type 1), 16 bytes; the common header's type-specific bytes are
/// `key_id` and `lane`. This is the AAD of the data AEAD.
struct data_header {
    uint8_t type;
    uint8_t version_flags;
    uint8_t srcdst;
    uint8_t src_lo;
    uint8_t dst_lo;
    uint8_t key_id;      ///< the receiver's session key index
    uint8_t lane[2];     ///< sender lane, big-endian
    uint8_t counter[8];  ///< per (key, lane) counter, big-endian
};

static_assert(sizeof(dvpe_header) == 8 && alignof(dvpe_header) == 1);
static_assert(offsetof(dvpe_header, type) == 0 && offsetof(dvpe_header, version_flags) == 1);
static_assert(offsetof(dvpe_header, srcdst) == 2 && offsetof(dvpe_header, src_lo) == 3);
static_assert(offsetof(dvpe_header, dst_lo) == 4 && offsetof(dvpe_header, type_specific) == 5);
static_assert(sizeof(data_header) == 16 && alignof(data_header) == 1);
static_assert(offsetof(data_header, type) == 0 && offsetof(data_header, version_flags) == 1);
static_assert(offsetof(data_header, srcdst) == 2 && offsetof(data_header, src_lo) == 3);
static_assert(offsetof(data_header, dst_lo) == 4 && offsetof(data_header, key_id) == 5);
static_assert(offsetof(data_header, lane) == 6 && offsetof(data_header, counter) == 8);

/// Bytes a data message adds to its plaintext: header (AAD) + tag.
inline constexpr size_t data_overhead = sizeof(data_header) + aead_tag_size;
static_assert(data_overhead == 32);

/// Either header: both share the first five bytes.
template <typename H>
concept wire_header = std::same_as<H, dvpe_header> || std::same_as<H, data_header>;

// ---- Node ids ----------------------------------------------------------------------------------

[[nodiscard]] constexpr bool valid_node_id(uint16_t id) noexcept {
    return id >= min_node_id && id <= max_node_id;
}

template <wire_header H>
[[nodiscard]] constexpr uint16_t src_id(const H& h) noexcept {
    return static_cast<uint16_t>((h.srcdst >> 4) << 8 | h.src_lo);
}

template <wire_header H>
[[nodiscard]] constexpr uint16_t dst_id(const H& h) noexcept {
    return static_cast<uint16_t>((h.srcdst & 0x0f) << 8 | h.dst_lo);
}

/// Encodes both node ids. Returns false and leaves `h` untouched if either is outside 1..4095.
template <wire_header H>
[[nodiscard]] constexpr bool set_ids(H& h, uint16_t src, uint16_t dst) noexcept {
    if (!valid_node_id(src) || !valid_node_id(dst)) [[unlikely]] {
        return false;
    }
    h.srcdst = static_cast<uint8_t>((src >> 8) << 4 | (dst >> 8));
    h.src_lo = static_cast<uint8_t>(src & 0xff);
    h.dst_lo = static_cast<uint8_t>(dst & 0xff);
    return true;
}

template <wire_header H>
[[nodiscard]] constexpr uint8_t version(const H& h) noexcept {
    return static_cast<uint8_t>(h.version_flags >> 4);
}

template <wire_header H>
[[nodiscard]] constexpr uint8_t flags(const H& h) noexcept {
    return static_cast<uint8_t>(h.version_flags & 0x0f);
}

template <wire_header H>
constexpr void set_version_flags(H& h, uint8_t flags_nibble) noexcept {
    assert(flags_nibble <= 0x0f);
    h.version_flags = static_cast<uint8_t>(protocol_version << 4 | (flags_nibble & 0x0f));
}

// ---- Data header fields ------------------------------------------------------------------------

[[nodiscard]] constexpr uint16_t lane(const data_header& h) noexcept {
    return static_cast<uint16_t>(h.lane[0] << 8 | h.lane[1]);
}

constexpr void set_lane(data_header& h, uint16_t v) noexcept {
    h.lane[0] = static_cast<uint8_t>(v >> 8);
    h.lane[1] = static_cast<uint8_t>(v);
}

namespace detail {
/// Converts between a native u64 and the native word holding its 8 big-endian bytes (either way).
[[nodiscard]] constexpr uint64_t be64_swap(uint64_t v) noexcept {
    if constexpr (std::endian::native == std::endian::little) {
        return __builtin_bswap64(v);
    } else {
        return v;
    }
}
}  // namespace detail

[[nodiscard]] constexpr uint64_t counter(const data_header& h) noexcept {
    // One load + bswap (a byte loop here is not folded at -march=corei7 and cost ~25 instructions).
    return detail::be64_swap(std::bit_cast<uint64_t>(h.counter));
}

constexpr void set_counter(data_header& h, uint64_t v) noexcept {
    const auto b = std::bit_cast<std::array<uint8_t, 8>>(detail::be64_swap(v));
    for (size_t i = 0; i < 8; ++i) {
        h.counter[i] = b[i];
    }
}

/// Fills a whole data header. Returns false (header untouched) if a node id is invalid.
[[nodiscard]] constexpr bool init_data_header(data_header& h, uint16_t src, uint16_t dst, uint8_t key_id,
                                              uint16_t lane_id, uint64_t ctr, bool full_frame = false) noexcept {
    if (!valid_node_id(src) || !valid_node_id(dst)) [[unlikely]] {
        return false;
    }
    h.type = static_cast<uint8_t>(message_type::data);
    set_version_flags(h, full_frame ? data_flag_full_frame : 0);
    (void)set_ids(h, src, dst);
    h.key_id = key_id;
    set_lane(h, lane_id);
    set_counter(h, ctr);
    return true;
}

using nonce_bytes = std::array<uint8_t, nonce_size>;

/// The 96-bit AEAD nonce of a data message: lane as u32 big-endian || counter as u64 big-endian.
[[nodiscard]] constexpr nonce_bytes nonce(uint16_t lane_id, uint64_t ctr) noexcept {
    nonce_bytes n{};
    n[2] = static_cast<uint8_t>(lane_id >> 8);
    n[3] = static_cast<uint8_t>(lane_id);
    for (int i = 11; i >= 4; --i) {
        n[static_cast<size_t>(i)] = static_cast<uint8_t>(ctr);
        ctr >>= 8;
    }
    return n;
}

// ---- Hot-path forms (engine/seal.hh, engine/ingress.cc) ------------------------------------------
// The same bytes as init_data_header() and nonce(), written as whole words: the data path
// writes a header and a nonce per packet, and byte loops there cost more than the header.

namespace detail {

[[nodiscard]] inline uint64_t load64(const uint8_t* p) noexcept {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

/// `v` as the 8 bytes of a big-endian u64, as a native word to store with memcpy.
[[nodiscard]] constexpr uint64_t to_be64(uint64_t v) noexcept { return be64_swap(v); }

/// Bytes b0..b7 (b0 first in memory) as a native word to store with memcpy.
[[nodiscard]] constexpr uint64_t bytes_word(uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3, uint8_t b4, uint8_t b5,
                                            uint8_t b6, uint8_t b7) noexcept {
    const uint64_t be = uint64_t{b0} << 56 | uint64_t{b1} << 48 | uint64_t{b2} << 40 | uint64_t{b3} << 32 |
                        uint64_t{b4} << 24 | uint64_t{b5} << 16 | uint64_t{b6} << 8 | uint64_t{b7};
    return to_be64(be);
}

}  // namespace detail

/// The first 8 bytes of a data header (type .. lane) as a native word (store it with memcpy).
/// Preconditions: src and dst are valid node ids (the caller's invariant, unlike
/// init_data_header(), which checks).
[[nodiscard]] constexpr uint64_t data_header_head(uint16_t src, uint16_t dst, uint8_t key_id, uint16_t lane_id,
                                                  bool full_frame) noexcept {
    return detail::bytes_word(static_cast<uint8_t>(message_type::data),
                              static_cast<uint8_t>(protocol_version << 4 | (full_frame ? data_flag_full_frame : 0)),
                              static_cast<uint8_t>((src >> 8) << 4 | (dst >> 8)), static_cast<uint8_t>(src),
                              static_cast<uint8_t>(dst), key_id, static_cast<uint8_t>(lane_id >> 8),
                              static_cast<uint8_t>(lane_id));
}

/// Writes a whole data header at `p` as two 8-byte stores: `head` from data_header_head() and
/// the counter. Byte-identical to init_data_header() with the same fields.
inline void store_data_header(uint8_t* p, uint64_t head, uint64_t ctr) noexcept {
    const uint64_t ctr_be = detail::to_be64(ctr);
    std::memcpy(p, &head, 8);
    std::memcpy(p + 8, &ctr_be, 8);
}

/// Writes the nonce of `lane_id`/`ctr` to `out` (12 bytes) as one 4-byte and one 8-byte store;
/// equals nonce(lane_id, ctr).
inline void store_nonce(uint8_t* out, uint16_t lane_id, uint64_t ctr) noexcept {
    const uint32_t lane_be = std::endian::native == std::endian::little
                                 ? __builtin_bswap32(uint32_t{lane_id})
                                 : uint32_t{lane_id};
    const uint64_t ctr_be = detail::to_be64(ctr);
    std::memcpy(out, &lane_be, 4);
    std::memcpy(out + 4, &ctr_be, 8);
}

/// Writes the nonce of the data header at `h` to `out` (12 bytes) straight from its lane and
/// counter bytes (one 4-byte and one 8-byte copy); equals nonce(lane(h), counter(h)).
inline void store_nonce_from_header(uint8_t* out, const uint8_t* h) noexcept {
    // Bytes 4..7 of the header are dst_lo, key_id, lane[0], lane[1]: keep the lane, zero the rest.
    uint32_t w;
    std::memcpy(&w, h + 4, 4);
    w &= std::endian::native == std::endian::little ? 0xffff0000u : 0x0000ffffu;
    std::memcpy(out, &w, 4);
    std::memcpy(out + 4, h + offsetof(data_header, counter), 8);
}

// ---- Receive-side validation of the common header ------------------------------------------------

enum class header_error : uint8_t {
    ok,
    too_short,        ///< fewer bytes than the header (or the data header for type 1)
    bad_version,      ///< version nibble != protocol_version
    unknown_type,     ///< type not in message_type
    invalid_src,      ///< src id 0
    invalid_dst,      ///< dst id 0
};

inline constexpr std::array<std::string_view, 6> header_error_names = {
    "ok", "too_short", "bad_version", "unknown_type", "invalid_src", "invalid_dst",
};

/// Checks the common header of a received dvpe packet of `len` bytes at `p` (as classify()
/// returned it). A data message must also hold its whole data header and tag. Per-type exact
/// sizes of the other messages are the handshake's to check.
[[nodiscard]] inline header_error validate_header(const uint8_t* p, size_t len) noexcept {
    if (len < sizeof(dvpe_header)) [[unlikely]] {
        return header_error::too_short;
    }
    if (p[1] >> 4 != protocol_version) [[unlikely]] {
        return header_error::bad_version;
    }
    if (p[0] < static_cast<uint8_t>(message_type::data) || p[0] > static_cast<uint8_t>(message_type::cookie_reply))
        [[unlikely]] {
        return header_error::unknown_type;
    }
    if (p[0] == static_cast<uint8_t>(message_type::data) && len < data_overhead) [[unlikely]] {
        return header_error::too_short;
    }
    if (((p[2] >> 4) | p[3]) == 0) [[unlikely]] {
        return header_error::invalid_src;
    }
    if (((p[2] & 0x0f) | p[4]) == 0) [[unlikely]] {
        return header_error::invalid_dst;
    }
    return header_error::ok;
}

}  // namespace transport
