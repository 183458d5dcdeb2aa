// SPDX-License-Identifier: MIT
// The AEAD registry: which (suite, backend) pairs this binary contains, in preference order, and
// the resolution of config names (`cipher`, `crypto-backend`) into a runnable pair with readable
// errors. The list is fixed at compile time by crypto/suites.hh (meson options suite_*), so a suite
// left out of the build cannot be configured (the way GVPE's --enable-cipher and
// fastd:src/crypto/cipher/ciphers.c.in work).
#include <array>
#include <string>

#include "crypto/aead/detail.hh"
#include "crypto/suites.hh"

namespace crypto {
namespace detail {
namespace {

// Preference order within a suite: the AVX-512 manager where it runs (AES-GCM 1.2-2.6x the AVX2
// kernel, ChaCha20-Poly1305 1.4-2.3x the best of SSE and AVX2; docs/crypto.md), then the tuned
// IPsec-MB backend, then single-manager IPsec-MB from the newest ISA down, then libsodium.
constexpr const backend_desc* registry[] = {
#if DVPE_SUITE_AES128_GCM
    &ipsec_mb_avx512_aes128_gcm, &ipsec_mb_aes128_gcm, &ipsec_mb_avx2_aes128_gcm, &ipsec_mb_avx_aes128_gcm, &ipsec_mb_sse_aes128_gcm,
#endif
#if DVPE_SUITE_AES256_GCM
    &ipsec_mb_avx512_aes256_gcm, &ipsec_mb_aes256_gcm, &ipsec_mb_avx2_aes256_gcm, &ipsec_mb_avx_aes256_gcm, &ipsec_mb_sse_aes256_gcm,
    &libsodium_aes256_gcm,
#endif
#if DVPE_SUITE_CHACHA20_POLY1305
    &ipsec_mb_avx512_chacha20_poly1305, &ipsec_mb_chacha20_poly1305, &ipsec_mb_avx2_chacha20_poly1305, &ipsec_mb_avx_chacha20_poly1305,
    &ipsec_mb_sse_chacha20_poly1305, &libsodium_chacha20_poly1305,
#endif
#if DVPE_SUITE_NULL
    &null_null,
#endif
    nullptr,  // keeps the array non-empty when every suite is compiled out
};

constexpr std::array<std::string_view, n_suites> suite_names = {"aes128-gcm", "aes256-gcm", "chacha20-poly1305",
                                                                 "null"};
constexpr std::array<std::string_view, n_backends> backend_names = {
    "ipsec-mb", "ipsec-mb-avx2", "ipsec-mb-avx", "ipsec-mb-sse", "libsodium", "null", "ipsec-mb-avx512"};
constexpr std::array<std::string_view, n_suites> suite_options = {"suite_aes128_gcm", "suite_aes256_gcm",
                                                                   "suite_chacha20_poly1305", "suite_null"};

std::string join_backends_of(suite s) {
    std::string out = "auto";
    for (const backend_desc* d : all_backends()) {
        if (d->cipher == s) {
            out += ", ";
            out += name(d->impl);
        }
    }
    return out;
}

}  // namespace

std::span<const backend_desc* const> all_backends() noexcept {
    return {registry, std::size(registry) - 1};
}

const backend_desc* find_backend(suite s, backend b) noexcept {
    for (const backend_desc* d : all_backends()) {
        if (d->cipher == s && d->impl == b) {
            return d;
        }
    }
    return nullptr;
}

}  // namespace detail

std::string_view name(suite s) noexcept { return detail::suite_names[static_cast<size_t>(s)]; }
std::string_view name(backend b) noexcept { return detail::backend_names[static_cast<size_t>(b)]; }

std::optional<suite> parse_suite(std::string_view n) noexcept {
    for (size_t i = 0; i < n_suites; ++i) {
        if (detail::suite_names[i] == n) {
            return static_cast<suite>(i);
        }
    }
    return std::nullopt;
}

std::optional<backend> parse_backend(std::string_view n) noexcept {
    for (size_t i = 0; i < n_backends; ++i) {
        if (detail::backend_names[i] == n) {
            return static_cast<backend>(i);
        }
    }
    return std::nullopt;
}

bool compiled_in(suite s) noexcept {
    switch (s) {
    case suite::aes128_gcm: return DVPE_SUITE_AES128_GCM != 0;
    case suite::aes256_gcm: return DVPE_SUITE_AES256_GCM != 0;
    case suite::chacha20_poly1305: return DVPE_SUITE_CHACHA20_POLY1305 != 0;
    case suite::null: return DVPE_SUITE_NULL != 0;
    }
    return false;
}

bool available(suite s, backend b) noexcept {
    const detail::backend_desc* d = detail::find_backend(s, b);
    return d != nullptr && d->available();
}

std::vector<backend_status> list_backends() {
    std::vector<backend_status> out;
    for (const detail::backend_desc* d : detail::all_backends()) {
        out.push_back({d->cipher, d->impl, d->available()});
    }
    return out;
}

result<aead_choice> select_aead(std::string_view cipher, std::string_view backend_name, select_options opts) {
    const std::optional<suite> s = parse_suite(cipher);
    if (!s) {
        return failure{"unknown cipher suite '" + std::string(cipher) +
                     "' (known: aes128-gcm, aes256-gcm, chacha20-poly1305, null)"};
    }
    const auto si = static_cast<size_t>(*s);
    if (!compiled_in(*s)) {
        return failure{"cipher suite '" + std::string(cipher) + "' is not compiled into this binary (meson option " +
                     std::string(detail::suite_options[si]) + "=false)"};
    }
    if (*s == suite::null && !opts.allow_null) {
        return failure{"cipher suite 'null' provides no encryption and no authentication; it must be enabled "
                     "explicitly in the configuration"};
    }
    if (backend_name.empty() || backend_name == "auto") {
        for (const detail::backend_desc* d : detail::all_backends()) {
            if (d->cipher == *s && d->available()) {
                return aead_choice{*s, d->impl};
            }
        }
        return failure{"no crypto backend for '" + std::string(cipher) + "' can run on this CPU (compiled in: " +
                     detail::join_backends_of(*s) + ")"};
    }
    const std::optional<backend> b = parse_backend(backend_name);
    if (!b) {
        return failure{"unknown crypto backend '" + std::string(backend_name) + "' (for " + std::string(cipher) +
                     ": " + detail::join_backends_of(*s) + ")"};
    }
    const detail::backend_desc* d = detail::find_backend(*s, *b);
    if (d == nullptr) {
        return failure{"crypto backend '" + std::string(backend_name) + "' does not implement " + std::string(cipher) +
                     " (for " + std::string(cipher) + ": " + detail::join_backends_of(*s) + ")"};
    }
    if (!d->available()) {
        return failure{"crypto backend '" + std::string(backend_name) + "' for " + std::string(cipher) +
                     " cannot run on this CPU: it needs " + std::string(d->requirement)};
    }
    return aead_choice{*s, *b};
}

}  // namespace crypto
