// SPDX-License-Identifier: MIT
// Noise's SymmetricState (Noise spec rev 34 §5.2) for Noise_IK_25519_ChaChaPoly_BLAKE2b:
// HASH = BLAKE2b-512 (HASHLEN 64, BLOCKLEN 128), HKDF on HMAC-BLAKE2b, CipherState ChaChaPoly with
// the 64-bit little-endian nonce, temp_k truncated to 32 bytes (§5.2 "If HASHLEN is 64").
// Built on crypto/hash.hh and crypto/handshake_aead.hh; only the state machine is here.
// Every secret (ck, k, HKDF outputs) lives in crypto::secret and is wiped on every path.
// Threads: control thread only (a value type; no shared state).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "crypto/hash.hh"
#include "crypto/secret.hh"

namespace control::handshake {

/// The Noise protocol name; 33 bytes, so h = name zero-padded to HASHLEN (§5.2 InitializeSymmetric).
inline constexpr std::string_view noise_protocol_name = "Noise_IK_25519_ChaChaPoly_BLAKE2b";

class symmetric_state {
public:
    static constexpr size_t hash_len = crypto::blake2b_len;  // 64

    /// InitializeSymmetric(protocol_name): h = name padded, ck = h, no key.
    void initialize() noexcept;
    /// MixHash(data): h = HASH(h || data).
    void mix_hash(std::span<const uint8_t> data) noexcept;
    /// MixKey(ikm): ck, temp_k = HKDF(ck, ikm, 2); k = temp_k[0..32); n = 0.
    void mix_key(std::span<const uint8_t> ikm) noexcept;
    /// EncryptAndHash: out = ENCRYPT(k, n++, h, plain) (out.size() == plain.size() + 16); MixHash(out).
    [[nodiscard]] bool encrypt_and_hash(std::span<uint8_t> out, std::span<const uint8_t> plain) noexcept;
    /// DecryptAndHash: out = DECRYPT(k, n++, h, in); MixHash(in). On failure the state is unchanged
    /// except that it must not be used further (the caller discards it).
    [[nodiscard]] bool decrypt_and_hash(std::span<uint8_t> out, std::span<const uint8_t> in) noexcept;
    /// Split(): k1, k2 = HKDF(ck, zerolen, 2), each truncated to 32 bytes.
    void split(crypto::secret<32>& k1, crypto::secret<32>& k2) const noexcept;

    [[nodiscard]] std::span<const uint8_t, hash_len> hash() const noexcept { return std::span<const uint8_t, hash_len>(_h); }
    /// Wipes everything (the destructor does it too).
    void wipe() noexcept;
    ~symmetric_state() { wipe(); }
    symmetric_state() = default;
    symmetric_state(const symmetric_state&) = default;
    symmetric_state& operator=(const symmetric_state&) = default;

private:
    crypto::secret<hash_len> _ck;
    std::array<uint8_t, hash_len> _h{};
    crypto::secret<32> _k;
    uint64_t _n = 0;
    bool _has_key = false;
};

/// HKDF(ck, ikm, 2) of Noise: out1 = T(1), out2 = T(2) (64 bytes each). Wipes its temporaries.
void noise_hkdf2(crypto::secret<64>& out1, crypto::secret<64>& out2, std::span<const uint8_t> ck,
                 std::span<const uint8_t> ikm) noexcept;

}  // namespace control::handshake
