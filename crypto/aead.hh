// SPDX-License-Identifier: MIT
// The AEAD interface of crypto/: burst seal/open of packets in place, one call per burst and per
// key (docs/design.md §5: dispatch once per burst, no virtual call or allocation per packet).
//
// Contents, by execution context:
//   * startup / control thread: suite and backend names, the registry (select_aead), key creation
//     (aead_key::create, once per session and direction), context creation (one per worker);
//   * worker lcores (hot path, noexcept): aead_context::seal_burst / open_burst.
// Backends and the rules for picking one are described in docs/crypto.md; the implementations live
// in crypto/aead/<backend>/ and are listed by crypto/aead/registry.cc.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/result.hh"

namespace crypto {

// ---- suites, backends, sizes ------------------------------------------------------------------

/// Cipher suites (config: `cipher = aes128-gcm | aes256-gcm | chacha20-poly1305 | null`).
enum class suite : uint8_t { aes128_gcm, aes256_gcm, chacha20_poly1305, null };
inline constexpr size_t n_suites = 4;

/// Implementations (config: `crypto-backend = auto | ipsec-mb | ipsec-mb-avx512 | ipsec-mb-avx2 |
/// ipsec-mb-avx | ipsec-mb-sse | libsodium | null`). `ipsec_mb` is the tuned one: it switches
/// IPsec-MB kernels by packet size inside a burst; the `ipsec_mb_<isa>` ones pin a single IPsec-MB
/// manager (`ipsec_mb_avx512`: the AVX-512 manager -- VAES GCM kernel, ChaCha20-Poly1305 jobs --
/// first for `auto` where it runs). New values go at the end: the names are indexed by value.
enum class backend : uint8_t { ipsec_mb, ipsec_mb_avx2, ipsec_mb_avx, ipsec_mb_sse, libsodium, null, ipsec_mb_avx512 };
inline constexpr size_t n_backends = 7;

inline constexpr size_t aead_nonce_len = 12;  ///< 96-bit nonce for every suite
inline constexpr size_t aead_tag_len = 16;    ///< 128-bit tag for every suite (null writes zeros)
inline constexpr size_t aead_max_key_len = 32;

/// Key length in bytes of a suite (null: 0, any key is accepted and ignored).
[[nodiscard]] constexpr size_t key_len(suite s) noexcept {
    switch (s) {
    case suite::aes128_gcm: return 16;
    case suite::aes256_gcm: return 32;
    case suite::chacha20_poly1305: return 32;
    case suite::null: return 0;
    }
    return 0;
}

/// False only for `null`: no confidentiality, no authentication. dvped must log loudly when a
/// session uses a suite for which this is false.
[[nodiscard]] constexpr bool authenticated(suite s) noexcept { return s != suite::null; }

[[nodiscard]] std::string_view name(suite s) noexcept;
[[nodiscard]] std::string_view name(backend b) noexcept;
/// Parses a config name; nullopt if unknown (whether compiled in or not).
[[nodiscard]] std::optional<suite> parse_suite(std::string_view name) noexcept;
/// Parses a backend name other than "auto"; nullopt if unknown.
[[nodiscard]] std::optional<backend> parse_backend(std::string_view name) noexcept;

// ---- registry (startup, control thread) -------------------------------------------------------

/// True if the suite was compiled in (meson options suite_*, generated crypto/suites.hh).
[[nodiscard]] bool compiled_in(suite s) noexcept;

/// True if (s, b) is compiled in, implemented, and this CPU can run it (the backend's CPU probe).
/// Thread-safe; the probe runs once per process.
[[nodiscard]] bool available(suite s, backend b) noexcept;

/// One line on IPsec-MB's AVX-512 manager (the `ipsec-mb-avx512` backend): "usable (trial
/// passed)", or why it is not used (CPU flags, the OS's register state, or its trial in a child
/// process: a signal, a hang, a mismatch). Runs the probe if nothing has yet. For logs and
/// `dvped --check`.
[[nodiscard]] std::string avx512_status();

/// One row per compiled-in (suite, backend) pair, in preference order (the order "auto" tries).
struct backend_status {
    suite cipher;
    backend impl;
    bool available;
};
[[nodiscard]] std::vector<backend_status> list_backends();

/// A resolved, runnable (suite, backend) pair.
struct aead_choice {
    suite cipher;
    backend impl;
};

struct select_options {
    /// The null suite is refused unless the caller (config: an explicit opt-in) sets this.
    bool allow_null = false;
};

/// Resolves config names to a runnable pair. `backend_name` "auto" (or empty) picks the first
/// available backend of the suite in preference order. Errors are returned as readable messages:
/// unknown suite or backend, suite not compiled in, backend not implementing the suite, backend
/// not runnable on this CPU, null without opt-in. Never throws for bad input, never aborts.
[[nodiscard]] result<aead_choice> select_aead(std::string_view cipher, std::string_view backend_name = "auto",
                                              select_options opts = {});

// ---- the hot-path types -----------------------------------------------------------------------

/// One packet of a burst. Sealed and opened in place: `data[0, len)` is plaintext/ciphertext,
/// `aad[0, aad_len)` is authenticated only, `nonce` points to 12 bytes (never reused per key),
/// `tag` to 16 bytes (written by seal, checked by open). `data` must be non-null even when len == 0.
/// dvpe's data plane passes the mbuf payload, the clear header before it as AAD and the tag
/// appended after the payload.
struct aead_packet {
    uint8_t* data;
    uint32_t len;
    uint32_t aad_len;
    const uint8_t* aad;
    const uint8_t* nonce;
    uint8_t* tag;
};
static_assert(sizeof(aead_packet) == 40, "aead_packet is meant to stay 40 bytes: 32 per burst fit in 20 lines");

class aead_key;

namespace detail {
struct key_state;
struct context_state;
struct backend_desc;
using seal_fn = void (*)(context_state&, const key_state&, std::span<aead_packet>) noexcept;
using open_fn = uint32_t (*)(context_state&, const key_state&, std::span<aead_packet>, uint8_t*) noexcept;
/// Bursts whose packets each name their own key (keys[i] for pkts[i]): seal_multi / open_multi.
using seal_multi_fn = void (*)(context_state&, const aead_key* const*, std::span<aead_packet>) noexcept;
using open_multi_fn = uint32_t (*)(context_state&, const aead_key* const*, std::span<aead_packet>, uint8_t*) noexcept;
struct key_access;
struct key_state_deleter {
    void operator()(key_state* k) const noexcept;  // wipes (sodium_memzero), then frees
};
struct context_state_deleter {
    void operator()(context_state* c) const noexcept;
};
}  // namespace detail

/// Where expanded keys live (a key_state: about 2.7 KiB, 64-byte aligned, read by every seal or
/// open with the key). Process-wide: set once at startup, before the first aead_key::create()
/// and before any thread uses keys; never changed while keys made under it exist (their
/// release is the hook's of the moment). `acquire` returns zeroed memory or nullptr; `release` takes
/// what `acquire` returned and also memory of ::operator new(size, std::align_val_t{align}),
/// the default's. dvped points it at DPDK's hugepage heap (pmd/dp_memory.hh): the keys of
/// thousands of peers then share a few 2 MiB pages (docs/performance.md "Per-peer state in
/// hugepage memory").
struct key_memory {
    void* (*acquire)(size_t size, size_t align) noexcept = nullptr;  // nullptr: the C++ heap
    void (*release)(void* p, size_t align) noexcept = nullptr;
};
void set_key_memory(key_memory m) noexcept;

/// A session key expanded for one backend (AES round keys and GHASH tables, libsodium state, or
/// the raw ChaCha20 key), created once per session and direction on the control thread and then
/// read-only: any number of workers may use it concurrently. Move-only; the key material is wiped
/// with sodium_memzero when the key is destroyed. The key must outlive every burst using it
/// (control retires keys after an RCU grace period).
class aead_key {
public:
    /// Expands `key` (exactly key_len(choice.cipher) bytes) for `choice`. Errors: wrong key length,
    /// backend not available, library failure.
    [[nodiscard]] static result<aead_key> create(aead_choice choice, std::span<const uint8_t> key);

    aead_key(aead_key&&) noexcept = default;
    aead_key& operator=(aead_key&&) noexcept = default;
    aead_key(const aead_key&) = delete;
    aead_key& operator=(const aead_key&) = delete;
    ~aead_key() = default;

    [[nodiscard]] suite cipher() const noexcept { return _cipher; }
    [[nodiscard]] backend impl() const noexcept { return _impl; }
    [[nodiscard]] bool authenticated() const noexcept { return crypto::authenticated(_cipher); }

    /// Which lines of the expanded key a seal or open of a small packet reads (GCM: the kernel
    /// pointers, the round keys and the first hash-key powers; crypto/aead/detail.hh asserts
    /// both layouts): none known; the first hot_lines (gen4 and gen2 kernels); or the first
    /// front_lines and tail_lines from line vaes_tail_line (the VAES-AVX512 kernel keeps the low
    /// hash-key powers at the end of its 48). prefetch() fetches front_lines, then tail_lines
    /// from the key's tail line: front_lines for `front` (one line more than hot_lines, so both
    /// layouts take the same code), vaes_tail_line for `vaes`.
    enum class hot_layout : uint8_t { none, front, vaes };
    static constexpr unsigned hot_lines = 7;
    static constexpr unsigned front_lines = 5;
    static constexpr unsigned tail_lines = 3;
    static constexpr unsigned vaes_tail_line = 14;
    static_assert(front_lines + tail_lines >= hot_lines);

    /// A hint, no effect on results: starts loading those lines of the expanded key (nothing for
    /// backends without a known layout). Reads this object, so prefetch it first when it is cold
    /// too. For bursts where every packet has another peer's key (many peers), ahead of the AEAD
    /// call. Hot path.
    void prefetch() const noexcept {
        if (_tail_offset == 0) {
            return;
        }
        const auto* s = reinterpret_cast<const char*>(_state.get());
        const char* t = s + _tail_offset;
#pragma GCC unroll 8
        for (unsigned l = 0; l < front_lines; ++l) {
            prefetch_line(s + 64 * l);
        }
#pragma GCC unroll 4
        for (unsigned l = 0; l < tail_lines; ++l) {
            prefetch_line(t + 64 * l);
        }
    }

private:
    /// prefetcht0 as a volatile asm statement, as DPDK's rte_prefetch0 is: g++ 12 -O2/-O3 deleted
    /// every __builtin_prefetch of an earlier form of prefetch() with a branch per layout (a hint
    /// the compiler need not keep), which callgrind showed as 24 instructions a packet fewer.
    static void prefetch_line(const char* p) noexcept {
#if defined(__x86_64__) || defined(__i386__)
        __asm__ volatile("prefetcht0 %0" : : "m"(*p));
#else
        __builtin_prefetch(p);
#endif
    }

    aead_key(suite s, backend b, detail::seal_fn seal, detail::open_fn open, detail::seal_multi_fn seal_multi,
             detail::open_multi_fn open_multi, std::unique_ptr<detail::key_state, detail::key_state_deleter> st,
             hot_layout hot) noexcept
        : _seal(seal), _open(open), _seal_multi(seal_multi), _open_multi(open_multi), _state(std::move(st)),
          _cipher(s), _impl(b),
          _tail_offset(static_cast<uint16_t>(64 * (hot == hot_layout::front  ? front_lines
                                                   : hot == hot_layout::vaes ? vaes_tail_line
                                                                             : 0))) {}
    friend class aead_context;
    friend struct detail::key_access;

    detail::seal_fn _seal;
    detail::open_fn _open;
    detail::seal_multi_fn _seal_multi;
    detail::open_multi_fn _open_multi;
    std::unique_ptr<detail::key_state, detail::key_state_deleter> _state;
    suite _cipher;
    backend _impl;
    uint16_t _tail_offset;  // prefetch(): bytes to its tail lines (0: no known layout; backend_desc::hot)
};

/// Per-worker crypto state: one IPsec-MB manager per usable ISA and scratch space. Created at
/// startup (allocates); not thread-safe: exactly one lcore uses a context. Move-only.
class aead_context {
public:
    /// Allocates and initializes the IPsec-MB managers this CPU can run (AVX-512 only where the
    /// probe of crypto/aead/ipsec_mb/ipsec_mb.cc passed).
    [[nodiscard]] static result<aead_context> create();

    aead_context(aead_context&&) noexcept = default;
    aead_context& operator=(aead_context&&) noexcept = default;
    aead_context(const aead_context&) = delete;
    aead_context& operator=(const aead_context&) = delete;
    ~aead_context() = default;

    /// Encrypts every packet of `pkts` in place under `key` and writes its tag. One indirect call
    /// per burst. Hot path: worker lcore owning this context.
    void seal_burst(const aead_key& key, std::span<aead_packet> pkts) noexcept {
        key._seal(*_state, *key._state, pkts);
    }

    /// Verifies and decrypts every packet of `pkts` in place under `key`. Writes ok[i] = 1 if packet
    /// i authenticated, 0 if not; \returns the number of authenticated packets. The data of a packet
    /// that failed is unspecified (it may hold unauthenticated plaintext): drop it. Tags are compared
    /// in constant time. `ok.size()` must be at least `pkts.size()`. Hot path.
    uint32_t open_burst(const aead_key& key, std::span<aead_packet> pkts, std::span<uint8_t> ok) noexcept {
        assert(ok.size() >= pkts.size());
        return key._open(*_state, *key._state, pkts, ok.data());
    }

    /// seal_burst() for a burst whose packets each have their own key: pkts[i] under *keys[i]
    /// (e.g. one packet to each of many peers). One indirect call for the whole burst, where
    /// seal_burst() per run of one key makes one per run: with many peers a run is often a
    /// single packet. Keys may differ in backend too (a key of another backend than keys[0]'s is
    /// sealed by its own). Every keys[i] non-null; pkts non-empty. Hot path.
    void seal_multi(std::span<aead_packet> pkts, const aead_key* const* keys) noexcept {
        keys[0]->_seal_multi(*_state, keys, pkts);
    }

    /// open_burst() with a key per packet, as seal_multi(): ok[i] = 1 if packet i authenticated
    /// under *keys[i]; \returns the number of authenticated packets. Hot path.
    uint32_t open_multi(std::span<aead_packet> pkts, const aead_key* const* keys, std::span<uint8_t> ok) noexcept {
        assert(ok.size() >= pkts.size());
        return keys[0]->_open_multi(*_state, keys, pkts, ok.data());
    }

private:
    explicit aead_context(std::unique_ptr<detail::context_state, detail::context_state_deleter> st) noexcept
        : _state(std::move(st)) {}

    std::unique_ptr<detail::context_state, detail::context_state_deleter> _state;
};

}  // namespace crypto
