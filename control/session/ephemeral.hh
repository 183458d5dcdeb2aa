// SPDX-License-Identifier: MIT
// The public key of a fresh ephemeral X25519 private key, computed faster than
// crypto_scalarmult_base (issue 14 point 3; docs/performance.md "Handshake capacity").
//
// libsodium's X25519 fixed-base multiplication runs the Montgomery ladder (as long as a
// variable-base one: 32.5 us against 35.3 us on the benchmark machine), while its Ed25519
// fixed-base multiplication uses precomputed tables (about half the time). X25519(k, 9) is the
// Montgomery u-coordinate of [clamp(k)]B on the birationally equivalent Edwards curve, so
//     u = (1 + y) / (1 - y) mod p,   y = the Edwards point's y, p = 2^255 - 19,
// with the same RFC 7748 clamping that crypto_scalarmult_ed25519_base applies. The secret
// scalar only ever goes through libsodium's constant-time table lookup; the field inversion here
// runs on y, which is as public as the key it gives (both go on the wire), so it need not be
// constant time (it is, anyway: a fixed addition chain). Any failure of the Edwards path falls
// back to crypto_scalarmult_base. tests/unit/control/session/handshake_test.cc compares it with
// crypto::x25519_public_from_private on fixed and random keys.
// Threads: any (pure function).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace control::handshake {

/// public_key = X25519(private_key, 9), as crypto::x25519_public_from_private.
/// \returns false only if libsodium refuses both ways.
[[nodiscard]] bool ephemeral_public_from_private(std::span<uint8_t, 32> public_key,
                                                 std::span<const uint8_t, 32> private_key) noexcept;

}  // namespace control::handshake
