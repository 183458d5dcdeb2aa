// SPDX-License-Identifier: MIT
// BLAKE2b, HMAC-BLAKE2b and HKDF over libsodium's crypto_generichash_blake2b (see hash.hh).
#include "crypto/hash.hh"

#include <algorithm>
#include <array>

#include "crypto/secret.hh"

namespace crypto {

static_assert(crypto_generichash_blake2b_BYTES_MAX == blake2b_len);
static_assert(crypto_generichash_blake2b_BYTES_MIN == blake2b_min_len);
static_assert(crypto_generichash_blake2b_KEYBYTES_MIN == blake2b_min_len);

bool blake2b(std::span<uint8_t> out, std::span<const uint8_t> in) noexcept {
    if (out.size() < blake2b_min_len || out.size() > blake2b_len) {
        return false;
    }
    return crypto_generichash_blake2b(out.data(), out.size(), in.data(), in.size(), nullptr, 0) == 0;
}

bool blake2b_keyed(std::span<uint8_t> out, std::span<const uint8_t> key, std::span<const uint8_t> in) noexcept {
    if (out.size() < blake2b_min_len || out.size() > blake2b_len || key.size() < blake2b_min_len ||
        key.size() > crypto_generichash_blake2b_KEYBYTES_MAX) {
        return false;
    }
    return crypto_generichash_blake2b(out.data(), out.size(), in.data(), in.size(), key.data(), key.size()) == 0;
}

blake2b_hasher::blake2b_hasher() noexcept { crypto_generichash_blake2b_init(&_st, nullptr, 0, blake2b_len); }

blake2b_hasher::~blake2b_hasher() { secure_zero(&_st, sizeof _st); }

void blake2b_hasher::update(std::span<const uint8_t> in) noexcept {
    crypto_generichash_blake2b_update(&_st, in.data(), in.size());
}

void blake2b_hasher::final(std::span<uint8_t, blake2b_len> out) noexcept {
    crypto_generichash_blake2b_final(&_st, out.data(), out.size());
    secure_zero(&_st, sizeof _st);
}

void hmac_blake2b(std::span<uint8_t, blake2b_len> out, std::span<const uint8_t> key,
                  std::span<const uint8_t> in) noexcept {
    // K0: the key zero-padded to the block size, or its hash if longer than a block (RFC 2104 §2).
    secret<blake2b_block_len> k0;
    if (key.size() > blake2b_block_len) {
        blake2b_hasher h;
        h.update(key);
        h.final(std::span<uint8_t, blake2b_len>(k0.data(), blake2b_len));
    } else {
        std::copy(key.begin(), key.end(), k0.data());
    }
    secret<blake2b_block_len> pad;
    secret<blake2b_len> inner;
    for (size_t i = 0; i < blake2b_block_len; ++i) {
        pad.data()[i] = static_cast<uint8_t>(k0.data()[i] ^ 0x36U);
    }
    {
        blake2b_hasher h;  // inner = H((K0 ^ ipad) || text)
        h.update(pad.span());
        h.update(in);
        h.final(inner.span());
    }
    for (size_t i = 0; i < blake2b_block_len; ++i) {
        pad.data()[i] = static_cast<uint8_t>(k0.data()[i] ^ 0x5cU);
    }
    blake2b_hasher h;  // out = H((K0 ^ opad) || inner)
    h.update(pad.span());
    h.update(inner.span());
    h.final(out);
}

void hkdf_extract(std::span<uint8_t, blake2b_len> prk, std::span<const uint8_t> salt,
                  std::span<const uint8_t> ikm) noexcept {
    // RFC 5869 §2.2: an absent salt is HashLen zero bytes (HMAC pads the key with zeros anyway).
    hmac_blake2b(prk, salt, ikm);
}

bool hkdf_expand(std::span<uint8_t> okm, std::span<const uint8_t, blake2b_len> prk,
                 std::span<const uint8_t> info) noexcept {
    if (okm.size() > hkdf_max_len) {
        return false;
    }
    // T(i) = HMAC(PRK, T(i-1) || info || i), T(0) empty. The message is built incrementally via
    // the HMAC's inner hash to avoid a buffer for T(i-1) || info || i.
    secret<blake2b_block_len> ipad;
    secret<blake2b_block_len> opad;
    for (size_t i = 0; i < blake2b_block_len; ++i) {
        const uint8_t k = i < blake2b_len ? prk[i] : 0;
        ipad.data()[i] = static_cast<uint8_t>(k ^ 0x36U);
        opad.data()[i] = static_cast<uint8_t>(k ^ 0x5cU);
    }
    secret<blake2b_len> t;
    secret<blake2b_len> inner;
    size_t done = 0;
    for (unsigned counter = 1; done < okm.size(); ++counter) {
        const uint8_t c = static_cast<uint8_t>(counter);
        {
            blake2b_hasher h;
            h.update(ipad.span());
            if (counter > 1) {
                h.update(t.span());
            }
            h.update(info);
            h.update(std::span<const uint8_t>(&c, 1));
            h.final(inner.span());
        }
        blake2b_hasher h;
        h.update(opad.span());
        h.update(inner.span());
        h.final(t.span());
        const size_t n = std::min(blake2b_len, okm.size() - done);
        std::copy_n(t.data(), n, okm.data() + done);
        done += n;
    }
    return true;
}

}  // namespace crypto
