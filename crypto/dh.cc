// SPDX-License-Identifier: MIT
// X25519 over libsodium (crypto_scalarmult_curve25519 is X25519 of RFC 7748).
#include "crypto/dh.hh"

#include <sodium/crypto_box.h>
#include <sodium/crypto_scalarmult.h>

#include "crypto/init.hh"

namespace crypto {

static_assert(crypto_scalarmult_BYTES == x25519_key_len && crypto_scalarmult_SCALARBYTES == x25519_key_len);
static_assert(crypto_box_PUBLICKEYBYTES == x25519_key_len && crypto_box_SECRETKEYBYTES == x25519_key_len);

void x25519_keypair(std::span<uint8_t, x25519_key_len> public_key,
                    std::span<uint8_t, x25519_key_len> private_key) noexcept {
    (void)init();
    crypto_box_keypair(public_key.data(), private_key.data());  // random scalar, pk = X25519(sk, 9)
}

bool x25519_public_from_private(std::span<uint8_t, x25519_key_len> public_key,
                                std::span<const uint8_t, x25519_key_len> private_key) noexcept {
    return crypto_scalarmult_base(public_key.data(), private_key.data()) == 0;
}

bool x25519(std::span<uint8_t, x25519_key_len> shared, std::span<const uint8_t, x25519_key_len> private_key,
            std::span<const uint8_t, x25519_key_len> public_key) noexcept {
    return crypto_scalarmult(shared.data(), private_key.data(), public_key.data()) == 0;
}

}  // namespace crypto
