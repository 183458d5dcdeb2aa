// SPDX-License-Identifier: MIT
// Handshake AEAD (ChaCha20-Poly1305-IETF) over libsodium's combined-mode calls.
#include "crypto/handshake_aead.hh"

#include <sodium/crypto_aead_chacha20poly1305.h>

namespace crypto {

static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == handshake_key_len);
static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == handshake_nonce_len);
static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == handshake_tag_len);

void noise_nonce(std::span<uint8_t, handshake_nonce_len> out, uint64_t n) noexcept {
    for (size_t i = 0; i < 4; ++i) {
        out[i] = 0;
    }
    for (size_t i = 0; i < 8; ++i) {
        out[4 + i] = static_cast<uint8_t>(n >> (8 * i));
    }
}

bool handshake_seal(std::span<uint8_t> out, std::span<const uint8_t, handshake_key_len> key,
                    std::span<const uint8_t, handshake_nonce_len> nonce, std::span<const uint8_t> ad,
                    std::span<const uint8_t> plaintext) noexcept {
    if (out.size() != plaintext.size() + handshake_tag_len) {
        return false;
    }
    unsigned long long n = 0;
    return crypto_aead_chacha20poly1305_ietf_encrypt(out.data(), &n, plaintext.data(), plaintext.size(), ad.data(),
                                                     ad.size(), nullptr, nonce.data(), key.data()) == 0;
}

bool handshake_open(std::span<uint8_t> out, std::span<const uint8_t, handshake_key_len> key,
                    std::span<const uint8_t, handshake_nonce_len> nonce, std::span<const uint8_t> ad,
                    std::span<const uint8_t> in) noexcept {
    if (in.size() < handshake_tag_len || out.size() != in.size() - handshake_tag_len) {
        return false;
    }
    unsigned long long n = 0;
    return crypto_aead_chacha20poly1305_ietf_decrypt(out.data(), &n, nullptr, in.data(), in.size(), ad.data(),
                                                     ad.size(), nonce.data(), key.data()) == 0;
}

}  // namespace crypto
