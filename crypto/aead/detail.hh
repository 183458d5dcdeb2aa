// SPDX-License-Identifier: MIT
// Internal to crypto/ (not included outside it): the layout behind aead_key and aead_context and
// the descriptor every AEAD backend exports to the registry (crypto/aead/registry.cc), in the
// manner of fastd:src/crypto/cipher/ciphers.c.in. A backend = a CPU probe, a key expansion
// function and two burst functions; the registry copies the burst function pointers into the
// aead_key so the hot path makes one indirect call per burst.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <intel-ipsec-mb.h>
#include <sodium/crypto_aead_aes256gcm.h>

#include "crypto/aead.hh"

namespace crypto::detail {

/// IPsec-MB managers dvpe uses. avx512 is the VAES + VPCLMULQDQ AVX-512 manager, used only where
/// the OS enables the AVX-512 state and a trial run in a child process passed: on one host
/// init_mb_mgr_avx512() crashed and the VAES GCM kernels raised SIGILL although cpuid advertised
/// AVX-512 (docs/crypto.md "Library facts the code relies on").
enum class imb_arch : uint8_t { sse, avx, avx2, avx512 };
inline constexpr size_t n_imb_arch = 4;

/// Expanded key material of every backend (only the part of the selected backend is used).
/// Heap-allocated once per session, 64-byte aligned, wiped by key_state_deleter.
struct alignas(64) key_state {
    /// The kernels first, then slot 0: by gcm_key_data's layout, what a gen4 GCM call of a small
    /// packet reads lies in the first aead_key::hot_lines lines of this struct (a gen2 layout in
    /// slot 0 also reads Karatsuba keys past them), which aead_key::prefetch() brings in ahead of
    /// the call when every packet has another peer's key (docs/performance.md "Many peers").
    /// IPsec-MB GCM: [0] = the AVX2 (gen4) kernel, [1] = the AVX (gen2) one, see gcm_use_gen2().
    /// Fixed-manager backends put the same kernel in both.
    aes_gcm_enc_dec_t gcm_enc[2];
    aes_gcm_enc_dec_t gcm_dec[2];
    /// IPsec-MB ChaCha20-Poly1305: the manager below / from chacha_large_threshold.
    imb_arch chacha_arch[2];
    /// The gcm_key_data layouts differ between the gen2 (AVX/SSE) and gen4 (AVX2) kernels, so each
    /// kernel gets the key precomputed by its own manager.
    struct alignas(64) gcm_slot {
        gcm_key_data kd;  // 1008 bytes: padded so each slot starts on a cache line
    } gcm_kd[2];
    /// ChaCha20-Poly1305 key (IPsec-MB job API and libsodium take the raw key).
    alignas(16) uint8_t raw_key[32];
    /// libsodium AES-256-GCM expanded key (crypto_aead_aes256gcm_beforenm).
    crypto_aead_aes256gcm_state sodium_aes;
};
/// What a GCM call of a small packet reads from its key_state: the kernel pointers, the 15 round
/// keys (240 bytes) and the first powers of the hash key. gen4 and gen2 keep the powers from
/// HashKey^1 up right after the round keys (the first aead_key::hot_lines lines); the VAES-AVX512
/// kernel keeps 48 powers with HashKey^8..^1 in its last 128 bytes (found by comparing the two
/// precomputations of one key; tests/unit/crypto/aead_cross_test.cc `aead_layout` checks it on a
/// CPU that runs it).
inline constexpr aead_key::hot_layout gcm_hot = aead_key::hot_layout::front;
inline constexpr aead_key::hot_layout gcm_vaes_hot = aead_key::hot_layout::vaes;
static_assert(offsetof(key_state, gcm_kd) == 64, "the kernels share the first line");
static_assert(offsetof(key_state, gcm_kd) + offsetof(gcm_key_data, ghash_keys) + 128 <= 64U * aead_key::hot_lines,
              "round keys and the first hash-key powers in the hot lines");
static_assert(offsetof(key_state, gcm_kd) + offsetof(gcm_key_data, ghash_keys) <= 64U * aead_key::front_lines,
              "the round keys in the front lines");
inline constexpr size_t vaes_low_powers = offsetof(key_state, gcm_kd) + offsetof(gcm_key_data, ghash_keys) + 16 * 40;
static_assert(vaes_low_powers >= 64U * aead_key::vaes_tail_line &&
                  offsetof(key_state, gcm_kd) + sizeof(gcm_key_data) <=
                      64U * (aead_key::vaes_tail_line + aead_key::tail_lines),
              "HashKey^8..^1 of the VAES layout (its slots 40..47) in the VAES tail lines");

/// Per-worker state behind aead_context.
struct alignas(64) context_state {
    /// One manager per ISA this CPU runs (nullptr otherwise); GCM uses the kernels directly, the
    /// ChaCha20-Poly1305 job API needs the manager's job queue.
    IMB_MGR* mgr[n_imb_arch];
    /// Computed tags of in-flight ChaCha20-Poly1305 open jobs, indexed by the job's slot in its
    /// manager's queue (unique among in-flight jobs).
    alignas(64) uint8_t chacha_tag[n_imb_arch][IMB_MAX_JOBS][aead_tag_len];
};

/// What a backend exports to the registry.
struct backend_desc {
    suite cipher;
    backend impl;
    /// CPU probe: can this backend run here? Cheap after the first call.
    bool (*available)() noexcept;
    /// What the CPU or library lacks when available() is false (for the error message).
    std::string_view requirement;
    /// Fills the backend's part of `ks` from a key of key_len(cipher) bytes; nullptr on success,
    /// else a static error message.
    const char* (*expand_key)(key_state& ks, std::span<const uint8_t> key) noexcept;
    seal_fn seal;
    open_fn open;
    /// A key per packet (aead_context::seal_multi / open_multi); nullptr: the generic form
    /// (seal / open once per run of one key, seal_multi_runs / open_multi_runs).
    seal_multi_fn seal_multi = nullptr;
    open_multi_fn open_multi = nullptr;
    /// Which lines of key_state a call for a small packet reads (the aead_key::prefetch() hint);
    /// none: no hint.
    aead_key::hot_layout hot = aead_key::hot_layout::none;
};

/// What backends see of an aead_key (its functions and expanded state).
struct key_access {
    static const key_state& state(const aead_key& k) noexcept { return *k._state; }
    static seal_fn seal(const aead_key& k) noexcept { return k._seal; }
    static open_fn open(const aead_key& k) noexcept { return k._open; }
};

/// The generic seal_multi / open_multi: one call of each key's own seal / open per run of
/// packets under one key (crypto/aead.cc).
void seal_multi_runs(context_state& cs, const aead_key* const* keys, std::span<aead_packet> pkts) noexcept;
uint32_t open_multi_runs(context_state& cs, const aead_key* const* keys, std::span<aead_packet> pkts,
                         uint8_t* ok) noexcept;

/// Registry, in preference order ("auto" = first available of the suite).
std::span<const backend_desc* const> all_backends() noexcept;
/// The descriptor of (s, b) if compiled in, else nullptr.
const backend_desc* find_backend(suite s, backend b) noexcept;

/// What each IPsec-MB manager needs, for "cannot run on this CPU" errors (gcm.cc, chacha20_poly1305.cc).
inline constexpr std::string_view req_avx512 =
    "an IPsec-MB AVX-512 manager (AVX-512 F/DQ/CD/BW/VL, VAES, VPCLMULQDQ, GFNI, AVX512-IFMA, SHA-NI), "
    "enabled by the OS, whose trial run passed";
inline constexpr std::string_view req_avx2 = "an IPsec-MB AVX2 manager (AVX2, BMI2, AES-NI, PCLMULQDQ)";
inline constexpr std::string_view req_avx = "an IPsec-MB AVX manager (AVX, AES-NI, PCLMULQDQ)";
inline constexpr std::string_view req_sse = "an IPsec-MB SSE manager (SSE4.2, AES-NI, PCLMULQDQ)";

/// The IPsec-MB side (crypto/aead/ipsec_mb/ipsec_mb.cc).
bool imb_arch_available(imb_arch a) noexcept;
/// Runs trial() in a forked child (fault signals at their default actions, no core file) and
/// says whether it returned true within timeout_s seconds; a crash, a signal, a hang or a false
/// there is false here, and the caller keeps running. The child's wait status goes to status_out
/// when given. The AVX-512 probe's isolation (docs/crypto.md "Suites, backends, configuration").
bool passes_in_child(bool (*trial)() noexcept, unsigned timeout_s = 10, int* status_out = nullptr) noexcept;
/// A new, initialized manager (alloc_mb_mgr(0) + init_mb_mgr_<isa>), nullptr on failure.
IMB_MGR* imb_alloc(imb_arch a) noexcept;
/// A process-wide manager of that ISA, used only to read kernel function pointers and expand keys
/// (the direct GCM API does not touch manager state). Must be available.
const IMB_MGR& imb_reference(imb_arch a) noexcept;

// Backend descriptors (defined only when their suite is compiled in).
extern const backend_desc ipsec_mb_avx512_aes128_gcm, ipsec_mb_aes128_gcm, ipsec_mb_avx2_aes128_gcm,
    ipsec_mb_avx_aes128_gcm, ipsec_mb_sse_aes128_gcm;
extern const backend_desc ipsec_mb_avx512_aes256_gcm, ipsec_mb_aes256_gcm, ipsec_mb_avx2_aes256_gcm,
    ipsec_mb_avx_aes256_gcm, ipsec_mb_sse_aes256_gcm, libsodium_aes256_gcm;
extern const backend_desc ipsec_mb_avx512_chacha20_poly1305, ipsec_mb_chacha20_poly1305, ipsec_mb_avx2_chacha20_poly1305,
    ipsec_mb_avx_chacha20_poly1305, ipsec_mb_sse_chacha20_poly1305, libsodium_chacha20_poly1305;
extern const backend_desc null_null;

/// Kernel choice of the tuned `ipsec-mb` backend (measured with perf/crypto, numbers in
/// docs/crypto.md). AES-GCM: the AVX (gen2) kernel runs 8 blocks (128 B) per loop and is faster
/// than the AVX2 (gen4) kernel only when the tail after the last full 128 B is short (under 32 B)
/// or the packet is long enough to amortize any tail; otherwise, and below 384 B, gen4 wins.
[[nodiscard]] constexpr bool gcm_use_gen2(uint32_t len) noexcept {
    return len >= 384 && ((len & 127U) < 32 || len >= 2048);
}
/// ChaCha20-Poly1305: the SSE manager below this size (about 1.5x faster at 64-192 B), AVX2 from
/// here (even at 224-320 B, ahead from 384 B, 1.35x at 1420 B).
inline constexpr uint32_t chacha_large_threshold = 256;

}  // namespace crypto::detail
