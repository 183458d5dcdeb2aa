// SPDX-License-Identifier: MIT
// The AEAD for handshake messages: ChaCha20-Poly1305-IETF (RFC 8439) through libsodium, on
// contiguous spans with the tag appended (Noise's ENCRYPT/DECRYPT with CipherState ChaChaPoly).
// Not the data plane: handshakes are rare and run on the control thread; data packets go through
// aead_context (crypto/aead.hh).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace crypto {

inline constexpr size_t handshake_key_len = 32;
inline constexpr size_t handshake_nonce_len = 12;
inline constexpr size_t handshake_tag_len = 16;

/// The Noise ChaChaPoly nonce for counter n: 32 zero bits then n as 64-bit little endian.
void noise_nonce(std::span<uint8_t, handshake_nonce_len> out, uint64_t n) noexcept;

/// out = ciphertext || tag; out.size() must be plaintext.size() + 16 (out may alias plaintext).
/// \returns false on a size mismatch.
[[nodiscard]] bool handshake_seal(std::span<uint8_t> out, std::span<const uint8_t, handshake_key_len> key,
                                  std::span<const uint8_t, handshake_nonce_len> nonce,
                                  std::span<const uint8_t> ad, std::span<const uint8_t> plaintext) noexcept;

/// Verifies (constant time) and decrypts `in` = ciphertext || tag into `out`
/// (out.size() == in.size() - 16). \returns false if too short, wrong size or not authentic; `out`
/// is then left untouched.
[[nodiscard]] bool handshake_open(std::span<uint8_t> out, std::span<const uint8_t, handshake_key_len> key,
                                  std::span<const uint8_t, handshake_nonce_len> nonce,
                                  std::span<const uint8_t> ad, std::span<const uint8_t> in) noexcept;

}  // namespace crypto
