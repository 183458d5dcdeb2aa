// SPDX-License-Identifier: MIT
// Secret-handling helpers shared by every part of crypto/: secure_zero() (sodium_memzero, which the
// compiler may not elide), equal_ct() for constant-time comparison of MACs and keys, and secret<N>,
// a fixed-size byte array that wipes itself on destruction and on move (docs/design.md §6 "Secrets";
// fastd:src/crypto.h secure_memzero/secure_memequal, linux:…/wg/noise.c memzero_explicit).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include <sodium/utils.h>

namespace crypto {

/// Overwrite `n` bytes at `p` with zeros in a way the optimizer cannot remove.
inline void secure_zero(void* p, size_t n) noexcept { sodium_memzero(p, n); }

/// Constant-time equality of two equally long byte strings (time depends on the length only).
[[nodiscard]] inline bool equal_ct(std::span<const uint8_t> a, std::span<const uint8_t> b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    uint8_t acc = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        acc = static_cast<uint8_t>(acc | (a[i] ^ b[i]));
    }
    // The accumulated difference is read once, at the end; no branch depends on a single byte.
    return (((static_cast<unsigned>(acc) - 1U) >> 8U) & 1U) != 0;
}

/// Constant-time comparison of two 16-byte tags: two 64-bit XORs ORed together, no early exit.
/// Hot path (AEAD open); inline so the burst loops pay no call.
[[nodiscard]] inline bool equal_ct16(const uint8_t* a, const uint8_t* b) noexcept {
    uint64_t a0, a1, b0, b1;
    std::memcpy(&a0, a, 8);
    std::memcpy(&a1, a + 8, 8);
    std::memcpy(&b0, b, 8);
    std::memcpy(&b1, b + 8, 8);
    const uint64_t diff = (a0 ^ b0) | (a1 ^ b1);
    return ((diff | (0 - diff)) >> 63U) == 0;  // 0 iff diff == 0, computed without branching
}

/// N bytes of key material that are wiped when the object dies or is moved from.
/// Use for static/ephemeral private keys, chaining keys, session keys before expansion.
template <size_t N>
class secret {
public:
    static constexpr size_t size_bytes = N;

    secret() noexcept { _b.fill(0); }
    explicit secret(std::span<const uint8_t, N> from) noexcept { std::memcpy(_b.data(), from.data(), N); }
    secret(const secret& o) noexcept : _b(o._b) {}
    secret& operator=(const secret& o) noexcept {
        _b = o._b;
        return *this;
    }
    secret(secret&& o) noexcept : _b(o._b) { o.wipe(); }
    secret& operator=(secret&& o) noexcept {
        if (this != &o) {
            _b = o._b;
            o.wipe();
        }
        return *this;
    }
    ~secret() { wipe(); }

    void wipe() noexcept { secure_zero(_b.data(), N); }

    [[nodiscard]] std::span<uint8_t, N> span() noexcept { return std::span<uint8_t, N>(_b); }
    [[nodiscard]] std::span<const uint8_t, N> span() const noexcept { return std::span<const uint8_t, N>(_b); }
    [[nodiscard]] uint8_t* data() noexcept { return _b.data(); }
    [[nodiscard]] const uint8_t* data() const noexcept { return _b.data(); }
    [[nodiscard]] static constexpr size_t size() noexcept { return N; }

    /// Constant-time comparison (secrets are never compared with memcmp).
    [[nodiscard]] friend bool operator==(const secret& a, const secret& b) noexcept {
        return equal_ct(a.span(), b.span());
    }

private:
    std::array<uint8_t, N> _b;
};

}  // namespace crypto
