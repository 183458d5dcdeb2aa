// SPDX-License-Identifier: MIT
// X25519 public keys through Ed25519's fixed-base tables (see ephemeral.hh).
#include "control/session/ephemeral.hh"

#include <array>
#include <cstring>

#include <sodium/crypto_scalarmult_ed25519.h>

#include "crypto/dh.hh"
#include "crypto/secret.hh"

namespace control::handshake {

namespace {

// GF(2^255 - 19) in five 51-bit limbs (the ref10/donna radix); only what the map needs.
using fe = std::array<uint64_t, 5>;
using u128 = unsigned __int128;
constexpr uint64_t mask51 = (uint64_t{1} << 51U) - 1;

fe fe_from_bytes(const uint8_t* s) noexcept {  // bit 255 (the sign of x) is ignored
    uint64_t w[4];
    std::memcpy(w, s, 32);  // little endian (x86-64, the only target: docs/architecture.md)
    return {w[0] & mask51, ((w[0] >> 51U) | (w[1] << 13U)) & mask51, ((w[1] >> 38U) | (w[2] << 26U)) & mask51,
            ((w[2] >> 25U) | (w[3] << 39U)) & mask51, (w[3] >> 12U) & mask51};
}

/// Carries every limb below 2^51 (plus a tiny excess in limb 0); input limbs below 2^63.
fe fe_carry(fe h) noexcept {
    for (int pass = 0; pass < 2; ++pass) {
        for (size_t i = 0; i < 4; ++i) {
            h[i + 1] += h[i] >> 51U;
            h[i] &= mask51;
        }
        h[0] += 19 * (h[4] >> 51U);
        h[4] &= mask51;
    }
    return h;
}

fe fe_mul(const fe& f, const fe& g) noexcept {
    const uint64_t g1 = 19 * g[1], g2 = 19 * g[2], g3 = 19 * g[3], g4 = 19 * g[4];
    u128 r0 = u128{f[0]} * g[0] + u128{f[1]} * g4 + u128{f[2]} * g3 + u128{f[3]} * g2 + u128{f[4]} * g1;
    u128 r1 = u128{f[0]} * g[1] + u128{f[1]} * g[0] + u128{f[2]} * g4 + u128{f[3]} * g3 + u128{f[4]} * g2;
    u128 r2 = u128{f[0]} * g[2] + u128{f[1]} * g[1] + u128{f[2]} * g[0] + u128{f[3]} * g4 + u128{f[4]} * g3;
    u128 r3 = u128{f[0]} * g[3] + u128{f[1]} * g[2] + u128{f[2]} * g[1] + u128{f[3]} * g[0] + u128{f[4]} * g4;
    u128 r4 = u128{f[0]} * g[4] + u128{f[1]} * g[3] + u128{f[2]} * g[2] + u128{f[3]} * g[1] + u128{f[4]} * g[0];
    r1 += static_cast<uint64_t>(r0 >> 51U);
    r2 += static_cast<uint64_t>(r1 >> 51U);
    r3 += static_cast<uint64_t>(r2 >> 51U);
    r4 += static_cast<uint64_t>(r3 >> 51U);
    fe h = {static_cast<uint64_t>(r0) & mask51, static_cast<uint64_t>(r1) & mask51, static_cast<uint64_t>(r2) & mask51,
            static_cast<uint64_t>(r3) & mask51, static_cast<uint64_t>(r4) & mask51};
    h[0] += 19 * static_cast<uint64_t>(r4 >> 51U);
    h[1] += h[0] >> 51U;
    h[0] &= mask51;
    return h;
}

fe fe_sq_n(fe f, int n) noexcept {
    for (int i = 0; i < n; ++i) {
        f = fe_mul(f, f);
    }
    return f;
}

/// z^(p - 2) = z^(2^255 - 21), ref10's addition chain (254 squarings, 11 multiplications).
fe fe_invert(const fe& z) noexcept {
    const fe z2 = fe_mul(z, z);
    const fe z9 = fe_mul(fe_sq_n(z2, 2), z);
    const fe z11 = fe_mul(z9, z2);
    const fe z2_5_0 = fe_mul(fe_mul(z11, z11), z9);
    const fe z2_10_0 = fe_mul(fe_sq_n(z2_5_0, 5), z2_5_0);
    const fe z2_20_0 = fe_mul(fe_sq_n(z2_10_0, 10), z2_10_0);
    const fe z2_40_0 = fe_mul(fe_sq_n(z2_20_0, 20), z2_20_0);
    const fe z2_50_0 = fe_mul(fe_sq_n(z2_40_0, 10), z2_10_0);
    const fe z2_100_0 = fe_mul(fe_sq_n(z2_50_0, 50), z2_50_0);
    const fe z2_200_0 = fe_mul(fe_sq_n(z2_100_0, 100), z2_100_0);
    const fe z2_250_0 = fe_mul(fe_sq_n(z2_200_0, 50), z2_50_0);
    return fe_mul(fe_sq_n(z2_250_0, 5), z11);
}

/// The canonical 32-byte encoding (fully reduced mod p).
void fe_to_bytes(uint8_t* s, fe h) noexcept {
    h = fe_carry(h);
    // h < 2^255 + small now; subtract p once if h >= p: q = 1 iff h + 19 >= 2^255.
    uint64_t q = (h[0] + 19) >> 51U;
    for (size_t i = 1; i < 5; ++i) {
        q = (h[i] + q) >> 51U;
    }
    h[0] += 19 * q;
    for (size_t i = 0; i < 4; ++i) {
        h[i + 1] += h[i] >> 51U;
        h[i] &= mask51;
    }
    h[4] &= mask51;  // drops the 2^255 that the +19q made
    const uint64_t w[4] = {h[0] | (h[1] << 51U), (h[1] >> 13U) | (h[2] << 38U), (h[2] >> 26U) | (h[3] << 25U),
                           (h[3] >> 39U) | (h[4] << 12U)};
    std::memcpy(s, w, 32);
}

bool fe_is_zero(const fe& h) noexcept {
    std::array<uint8_t, 32> b;
    fe_to_bytes(b.data(), h);
    uint8_t acc = 0;
    for (uint8_t x : b) {
        acc = static_cast<uint8_t>(acc | x);
    }
    return acc == 0;
}

}  // namespace

bool ephemeral_public_from_private(std::span<uint8_t, 32> public_key, std::span<const uint8_t, 32> private_key) noexcept {
    static_assert(crypto_scalarmult_ed25519_BYTES == 32 && crypto_scalarmult_ed25519_SCALARBYTES == 32);
    std::array<uint8_t, 32> ed;
    // crypto_scalarmult_ed25519_base clamps as RFC 7748 does (clear bits 0-2 and 255, set 254).
    if (crypto_scalarmult_ed25519_base(ed.data(), private_key.data()) == 0) {
        const fe y = fe_from_bytes(ed.data());
        const fe one = {1, 0, 0, 0, 0};
        // 1 - y as 2p + 1 - y (limbs stay positive), then (1 + y) / (1 - y).
        const fe one_minus_y = fe_carry({(mask51 - 18) * 2 + 1 - y[0], mask51 * 2 - y[1], mask51 * 2 - y[2],
                                         mask51 * 2 - y[3], mask51 * 2 - y[4]});
        const fe one_plus_y = fe_carry({y[0] + one[0], y[1], y[2], y[3], y[4]});
        if (!fe_is_zero(one_minus_y)) {  // y = 1 is the identity: impossible for a clamped scalar
            fe_to_bytes(public_key.data(), fe_mul(one_plus_y, fe_invert(one_minus_y)));
            crypto::secure_zero(ed.data(), ed.size());
            return true;
        }
    }
    return crypto::x25519_public_from_private(public_key, private_key);
}

}  // namespace control::handshake
