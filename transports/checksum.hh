// SPDX-License-Identifier: MIT
// Internet checksum (RFC 1071) helpers for the outer headers. The sums are taken over the bytes
// as they lie in memory (native-endian 16/32/64-bit loads): the one's complement sum is byte-order
// independent (RFC 1071 §2(B)), so a folded sum stored back with a native store is the correct
// big-endian checksum. Pieces may be summed separately and added as long as each starts at an
// even offset of the checksummed message (true for every piece here: headers of even size).
//
// ones_sum() is the payload pass of the ICMP/ICMPv6 and UDP/IPv6 checksums: 8 bytes per load into
// two 64-bit accumulators, about twice as fast as DPDK 22.11's 16-bit rte_raw_cksum loop (see
// perf/transports, "checksum" benchmarks).
//
// Threads: pure functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace transport::csum {

/// Adds the bytes [p, p+len) to `sum` as 16-bit one's complement words (unfolded; fold() it).
/// `len` may be odd: the last byte is padded with a zero byte, as RFC 1071 requires.
[[nodiscard]] inline uint64_t ones_sum(const uint8_t* p, size_t len, uint64_t sum = 0) noexcept {
    // Each 64-bit load is split into two 32-bit halves added into 64-bit accumulators: no carry
    // is lost for any length below 2^32 * 4 bytes, and 2^32 == 1 (mod 0xffff) keeps it a valid
    // one's complement sum of the 16-bit words.
    uint64_t a = sum;
    uint64_t b = 0;
    while (len >= 32) {
        uint64_t w[4];
        std::memcpy(w, p, sizeof(w));
        a += (w[0] & 0xffffffffu) + (w[1] & 0xffffffffu) + (w[2] & 0xffffffffu) + (w[3] & 0xffffffffu);
        b += (w[0] >> 32) + (w[1] >> 32) + (w[2] >> 32) + (w[3] >> 32);
        p += 32;
        len -= 32;
    }
    while (len >= 8) {
        uint64_t w;
        std::memcpy(&w, p, sizeof(w));
        a += w & 0xffffffffu;
        b += w >> 32;
        p += 8;
        len -= 8;
    }
    if (len >= 4) {
        uint32_t w;
        std::memcpy(&w, p, sizeof(w));
        a += w;
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t w;
        std::memcpy(&w, p, sizeof(w));
        a += w;
        p += 2;
        len -= 2;
    }
    if (len != 0) {
        uint16_t w = 0;
        std::memcpy(&w, p, 1);  // the byte goes first in memory: zero padding after it
        a += w;
    }
    return a + b;
}

/// Folds a 64-bit sum to 16 bits (not complemented).
[[nodiscard]] constexpr uint16_t fold(uint64_t sum) noexcept {
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffu) + (sum >> 16);
    sum = (sum & 0xffffu) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

/// The checksum field value: the complement of the folded sum.
[[nodiscard]] constexpr uint16_t finish(uint64_t sum) noexcept {
    return static_cast<uint16_t>(~fold(sum));
}

}  // namespace transport::csum
