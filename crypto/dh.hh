// SPDX-License-Identifier: MIT
// X25519 Diffie-Hellman (RFC 7748) for the handshake (docs/design.md §9: Noise IK, static and ephemeral
// keys per node), through libsodium crypto_scalarmult / crypto_box_keypair. Private keys belong in
// crypto::secret<32> (crypto/secret.hh), which wipes itself. Control thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace crypto {

inline constexpr size_t x25519_key_len = 32;

/// Generates a fresh key pair from the system RNG.
void x25519_keypair(std::span<uint8_t, x25519_key_len> public_key,
                    std::span<uint8_t, x25519_key_len> private_key) noexcept;

/// Computes the public key of `private_key` (scalar multiplication of the base point; the scalar
/// is clamped as RFC 7748 §5 says). \returns false only if libsodium refuses.
[[nodiscard]] bool x25519_public_from_private(std::span<uint8_t, x25519_key_len> public_key,
                                              std::span<const uint8_t, x25519_key_len> private_key) noexcept;

/// shared = X25519(private_key, public_key). \returns false if the peer's public key is a
/// low-order point (the result would be all zero): the handshake must then be rejected.
[[nodiscard]] bool x25519(std::span<uint8_t, x25519_key_len> shared,
                          std::span<const uint8_t, x25519_key_len> private_key,
                          std::span<const uint8_t, x25519_key_len> public_key) noexcept;

}  // namespace crypto
