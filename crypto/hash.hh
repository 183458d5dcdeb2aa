// SPDX-License-Identifier: MIT
// Hashing and key derivation for the handshake, all on BLAKE2b (libsodium crypto_generichash):
//   * blake2b / blake2b_hasher: plain BLAKE2b (RFC 7693), one-shot or incremental (Noise MixHash);
//   * blake2b_keyed: BLAKE2b's native keyed mode (a MAC, RFC 7693 §2.5);
//   * hmac_blake2b: HMAC (RFC 2104) with BLAKE2b-512, block 128 bytes; the HMAC that Noise's
//     HASH=BLAKE2b uses, so dvpe interoperates with other Noise implementations;
//   * hkdf_extract / hkdf_expand: HKDF (RFC 5869) on hmac_blake2b. Noise's HKDF(ck, ikm, n) is
//     hkdf_extract(prk, salt = ck, ikm) followed by hkdf_expand(out, prk, info = {}) with
//     out.size() = 64 * n: its outputs are T(1), T(2), T(3) of RFC 5869.
// Plain functions on spans; intermediate secrets are wiped. Control thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <sodium/crypto_generichash_blake2b.h>

namespace crypto {

inline constexpr size_t blake2b_len = 64;          ///< BLAKE2b-512 output, HMAC/HKDF block output
inline constexpr size_t blake2b_min_len = 16;      ///< shortest output/key libsodium accepts
inline constexpr size_t blake2b_block_len = 128;   ///< HMAC block size B
inline constexpr size_t hkdf_max_len = 255 * blake2b_len;

/// out = BLAKE2b(in) with out.size() bytes of output (16..64). \returns false on a bad size.
[[nodiscard]] bool blake2b(std::span<uint8_t> out, std::span<const uint8_t> in) noexcept;

/// out = BLAKE2b keyed with `key` (16..64 bytes) over `in`, out.size() in 16..64.
[[nodiscard]] bool blake2b_keyed(std::span<uint8_t> out, std::span<const uint8_t> key,
                                 std::span<const uint8_t> in) noexcept;

/// Incremental unkeyed BLAKE2b-512. The state is wiped on final() and on destruction.
class blake2b_hasher {
public:
    blake2b_hasher() noexcept;
    ~blake2b_hasher();
    blake2b_hasher(const blake2b_hasher&) = delete;
    blake2b_hasher& operator=(const blake2b_hasher&) = delete;

    void update(std::span<const uint8_t> in) noexcept;
    /// Writes the 64-byte digest; the hasher must not be updated afterwards.
    void final(std::span<uint8_t, blake2b_len> out) noexcept;

private:
    crypto_generichash_blake2b_state _st;
};

/// out = HMAC-BLAKE2b(key, in) (RFC 2104; a key longer than 128 bytes is hashed first).
void hmac_blake2b(std::span<uint8_t, blake2b_len> out, std::span<const uint8_t> key,
                  std::span<const uint8_t> in) noexcept;

/// HKDF-Extract (RFC 5869 §2.2): prk = HMAC-BLAKE2b(salt, ikm).
void hkdf_extract(std::span<uint8_t, blake2b_len> prk, std::span<const uint8_t> salt,
                  std::span<const uint8_t> ikm) noexcept;

/// HKDF-Expand (RFC 5869 §2.3): fills `okm` (at most hkdf_max_len bytes) from `prk` and `info`.
/// \returns false if okm is too long.
[[nodiscard]] bool hkdf_expand(std::span<uint8_t> okm, std::span<const uint8_t, blake2b_len> prk,
                               std::span<const uint8_t> info) noexcept;

}  // namespace crypto
