// SPDX-License-Identifier: MIT
// libsodium AEAD backends: ChaCha20-Poly1305-IETF (portable, any CPU) and AES-256-GCM (only where
// crypto_aead_aes256gcm_is_available(): AES-NI + PCLMULQDQ). Detached-tag calls in place; the
// AES-256-GCM key is expanded once with crypto_aead_aes256gcm_beforenm (the `_afternm` calls
// measured ~15 % faster at 64 B than a key per call, docs/crypto.md "Library facts"). libsodium
// verifies the tag (constant time) before it decrypts.
#include <cstring>

#include <sodium/core.h>
#include <sodium/crypto_aead_chacha20poly1305.h>

#include "crypto/aead/detail.hh"
#include "crypto/suites.hh"

namespace crypto::detail {
namespace {

bool sodium_ready() noexcept {
    static const bool ok = sodium_init() >= 0;  // idempotent, thread-safe
    return ok;
}

[[maybe_unused]] bool chacha_available() noexcept { return sodium_ready(); }

[[maybe_unused]] const char* chacha_expand(key_state& ks, std::span<const uint8_t> key) noexcept {
    static_assert(sizeof ks.raw_key == crypto_aead_chacha20poly1305_ietf_KEYBYTES);
    if (key.size() != sizeof ks.raw_key) {
        return "wrong key length";
    }
    std::memcpy(ks.raw_key, key.data(), sizeof ks.raw_key);
    return nullptr;
}

[[maybe_unused]] void chacha_seal(context_state& /*cs*/, const key_state& ks, std::span<aead_packet> pkts) noexcept {
    for (const aead_packet& p : pkts) {
        crypto_aead_chacha20poly1305_ietf_encrypt_detached(p.data, p.tag, nullptr, p.data, p.len, p.aad, p.aad_len,
                                                           nullptr, p.nonce, ks.raw_key);
    }
}

[[maybe_unused]] uint32_t chacha_open(context_state& /*cs*/, const key_state& ks, std::span<aead_packet> pkts,
                                      uint8_t* ok) noexcept {
    uint32_t n_ok = 0;
    for (size_t i = 0; i < pkts.size(); ++i) {
        const aead_packet& p = pkts[i];
        const bool good = crypto_aead_chacha20poly1305_ietf_decrypt_detached(p.data, nullptr, p.data, p.len, p.tag,
                                                                             p.aad, p.aad_len, p.nonce,
                                                                             ks.raw_key) == 0;
        ok[i] = static_cast<uint8_t>(good);
        n_ok += static_cast<uint32_t>(good);
    }
    return n_ok;
}

[[maybe_unused]] bool aes_available() noexcept { return sodium_ready() && crypto_aead_aes256gcm_is_available() != 0; }

[[maybe_unused]] const char* aes_expand(key_state& ks, std::span<const uint8_t> key) noexcept {
    if (key.size() != crypto_aead_aes256gcm_KEYBYTES) {
        return "wrong key length";
    }
    if (crypto_aead_aes256gcm_beforenm(&ks.sodium_aes, key.data()) != 0) {
        return "crypto_aead_aes256gcm_beforenm failed";
    }
    return nullptr;
}

[[maybe_unused]] void aes_seal(context_state& /*cs*/, const key_state& ks, std::span<aead_packet> pkts) noexcept {
    for (const aead_packet& p : pkts) {
        crypto_aead_aes256gcm_encrypt_detached_afternm(p.data, p.tag, nullptr, p.data, p.len, p.aad, p.aad_len,
                                                       nullptr, p.nonce, &ks.sodium_aes);
    }
}

[[maybe_unused]] uint32_t aes_open(context_state& /*cs*/, const key_state& ks, std::span<aead_packet> pkts,
                                   uint8_t* ok) noexcept {
    uint32_t n_ok = 0;
    for (size_t i = 0; i < pkts.size(); ++i) {
        const aead_packet& p = pkts[i];
        const bool good = crypto_aead_aes256gcm_decrypt_detached_afternm(p.data, nullptr, p.data, p.len, p.tag, p.aad,
                                                                         p.aad_len, p.nonce, &ks.sodium_aes) == 0;
        ok[i] = static_cast<uint8_t>(good);
        n_ok += static_cast<uint32_t>(good);
    }
    return n_ok;
}

}  // namespace

#if DVPE_SUITE_CHACHA20_POLY1305
const backend_desc libsodium_chacha20_poly1305{suite::chacha20_poly1305, backend::libsodium, &chacha_available,
    "libsodium", &chacha_expand, &chacha_seal, &chacha_open};
#endif
#if DVPE_SUITE_AES256_GCM
const backend_desc libsodium_aes256_gcm{suite::aes256_gcm, backend::libsodium, &aes_available,
    "AES-NI and PCLMULQDQ (crypto_aead_aes256gcm_is_available)", &aes_expand, &aes_seal, &aes_open};
#endif

}  // namespace crypto::detail
