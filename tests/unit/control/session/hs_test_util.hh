// SPDX-License-Identifier: MIT
// Helpers shared by the handshake and session tests and the fuzz target: deterministic random
// sources (so transcripts are reproducible), node identities from fixed private keys, clocks.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "control/session/handshake.hh"
#include "crypto/dh.hh"
#include "crypto/init.hh"

namespace hs_test {

/// splitmix64 stream; shared state so copies of the random_source advance one sequence.
inline control::handshake::random_source seeded_rng(uint64_t seed) {
    auto state = std::make_shared<uint64_t>(seed);
    return [state](std::span<uint8_t> out) {
        for (uint8_t& b : out) {
            uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
            z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
            b = static_cast<uint8_t>(z ^ (z >> 31U));
        }
    };
}

/// Static private key i: bytes fill(i) (X25519 clamps it); public derived.
inline control::handshake::identity make_identity(uint16_t node_id, uint8_t key_byte, std::string serial = "s1",
                                                  uint8_t protocols = 0x01) {
    (void)crypto::init();
    control::handshake::identity id;
    id.node_id = node_id;
    std::array<uint8_t, 32> priv;
    priv.fill(key_byte);
    id.static_private = crypto::secret<32>(std::span<const uint8_t, 32>(priv));
    (void)crypto::x25519_public_from_private(id.static_public, id.static_private.span());
    id.serial = control::handshake::make_serial(serial);
    id.protocols = protocols;
    return id;
}

inline std::array<uint8_t, 32> public_of(uint8_t key_byte) {
    return make_identity(1, key_byte).static_public;
}

constexpr uint64_t s_ns = 1'000'000'000ULL;
/// A clock at `sec` seconds of uptime; the wall clock runs 1.7e9 s ahead (2023).
inline control::handshake::clock_reading at(double sec) {
    const auto mono = static_cast<uint64_t>(sec * 1e9);
    return {mono + s_ns, mono + 1'700'000'000ULL * s_ns};
}

inline std::string hex(std::span<const uint8_t> b) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (uint8_t x : b) {
        s += d[x >> 4U];
        s += d[x & 15U];
    }
    return s;
}

inline const std::vector<uint8_t> src_a = {10, 0, 0, 1, 0x02, 0x8f};
inline const std::vector<uint8_t> src_b = {10, 0, 0, 2, 0x02, 0x8f};
inline const std::vector<uint8_t> src_x = {192, 0, 2, 66, 0x30, 0x39};

}  // namespace hs_test
