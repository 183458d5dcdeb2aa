// SPDX-License-Identifier: MIT
// Anti-replay window for data message counters, one per (peer, lane, receive key): the bitmap
// scheme of RFC 6479. The bitmap is a ring of 64-bit blocks; it holds WindowBits counters behind
// the highest accepted one plus one block of slack, so moving the window forward only clears
// whole blocks (at most n_blocks of them, usually none or one) and never shifts bits.
//
// Sequence on the receive path (the window must only learn counters whose tag verified):
//   1. before decryption   would_accept(counter)  -> false: drop "replayed counter", skip the AEAD
//   2. AEAD open           fails: drop "auth failed", the window is untouched
//   3. after verification  accept(counter)        -> false: drop "replayed counter"
// Step 3 checks again because a burst can carry the same counter twice (a replay inside one
// burst: both copies pass step 1 and verify) or a packet so old that others of the same burst
// moved the window past it. Step 1 only spares the AEAD work on replays.
//
// Counter semantics, with M the highest accepted counter: a counter c is accepted iff it is
// below counter_limit, not accepted before, and c > M - WindowBits (so the WindowBits counters
// M - WindowBits + 1 .. M are tracked; anything ahead of M is new). Counters start at 0.
// Internally bit positions are c + 1 so that position 0 of the zeroed ring means "nothing yet"
// (as WireGuard's counter.c).
//
// Threads: one writer at a time (accept/reset), serialised by the caller: a receive key's window
// for a sender lane is shared by every worker that may receive that lane (engine/snapshot.hh
// lane_window holds it with its lock, which a process with one worker does not need). would_accept() may run concurrently with a writer: every
// word is read and written with relaxed atomic accesses (plain moves on x86), the top with
// release/acquire, so a reader that sees a new top also sees the blocks cleared for it. A racing
// would_accept() can only answer "accept" for a counter that accept() will then refuse, or
// "refuse" for one that fell out of the window: it is a filter, accept() is the verdict.
#pragma once

#include <cstdint>
#include <cstring>

namespace engine {

template <uint32_t WindowBits = 8192>
class alignas(64) replay_window {
    static_assert(WindowBits >= 64 && WindowBits % 64 == 0, "window in whole 64-bit blocks");

public:
    static constexpr uint32_t block_bits = 64;
    static constexpr uint32_t n_blocks = WindowBits / block_bits + 1;  ///< one block of slack (RFC 6479 §2)
    static constexpr uint64_t window_size = WindowBits;
    /// Counters at or above this are never accepted: docs/protocol.md rekeys a session long
    /// before 2^60, and the limit keeps c + 1 and c + WindowBits free of overflow.
    static constexpr uint64_t counter_limit = uint64_t{1} << 60;

    /// Whether `counter` would be accepted now (step 1; no state change).
    [[nodiscard]] bool would_accept(uint64_t counter) const noexcept {
        if (counter >= counter_limit) [[unlikely]] {
            return false;
        }
        const uint64_t pos = counter + 1;
        const uint64_t top = __atomic_load_n(&_top, __ATOMIC_ACQUIRE);
        if (pos > top) {
            return true;
        }
        if (counter + window_size < top) [[unlikely]] {
            return false;  // older than the window
        }
        return (__atomic_load_n(&_ring[block_of(pos)], __ATOMIC_RELAXED) & bit_of(pos)) == 0;
    }

    /// Records `counter` after its tag verified (step 3). Returns false, and changes nothing,
    /// if it is a replay or has fallen out of the window since would_accept().
    [[nodiscard]] bool accept(uint64_t counter) noexcept {
        if (counter >= counter_limit) [[unlikely]] {
            return false;
        }
        const uint64_t pos = counter + 1;
        if (pos > _top) {
            // Clear the blocks between the current top's block and the new one (exclusive,
            // inclusive); more than n_blocks ahead, every block is stale.
            const uint64_t cur = _top / block_bits;
            const uint64_t diff = pos / block_bits - cur;
            const uint64_t n = diff < n_blocks ? diff : n_blocks;
            for (uint64_t i = 1; i <= n; ++i) {
                __atomic_store_n(&_ring[(cur + i) % n_blocks], uint64_t{0}, __ATOMIC_RELAXED);
            }
            __atomic_store_n(&_top, pos, __ATOMIC_RELEASE);
        } else if (counter + window_size < _top) [[unlikely]] {
            return false;
        }
        // Plain reads: accept() is the only writer (its caller serialises it); readers racing
        // with it only read too. Its stores are atomic for them.
        uint64_t* block = &_ring[block_of(pos)];
        const uint64_t bit = bit_of(pos);
        const uint64_t old = *block;
        if (old & bit) [[unlikely]] {
            return false;
        }
        __atomic_store_n(block, old | bit, __ATOMIC_RELAXED);
        return true;
    }

    /// Forgets every counter (new key).
    void reset() noexcept {
        for (auto& b : _ring) {
            __atomic_store_n(&b, uint64_t{0}, __ATOMIC_RELAXED);
        }
        __atomic_store_n(&_top, uint64_t{0}, __ATOMIC_RELEASE);
    }

    /// A hint, no effect: starts loading the lines would_accept(counter) and accept(counter) read
    /// (the top and the counter's block). Hot path, many peers (engine/ingress.cc).
    void prefetch(uint64_t counter) const noexcept {
        __builtin_prefetch(&_top);
        __builtin_prefetch(&_ring[block_of(counter + 1)]);
    }

    /// Highest accepted counter + 1; 0 when nothing was accepted.
    [[nodiscard]] uint64_t top() const noexcept { return __atomic_load_n(&_top, __ATOMIC_ACQUIRE); }

private:
    static constexpr uint64_t block_of(uint64_t pos) noexcept { return (pos / block_bits) % n_blocks; }
    static constexpr uint64_t bit_of(uint64_t pos) noexcept { return uint64_t{1} << (pos % block_bits); }

    uint64_t _top = 0;              // highest accepted position (counter + 1)
    uint64_t _ring[n_blocks] = {};  // bit (pos % 64) of block (pos / 64) % n_blocks
};

static_assert(replay_window<>::window_size >= 8192, "docs/protocol.md: at least 8192 packets");
static_assert(sizeof(replay_window<>) == (8 + 8 * replay_window<>::n_blocks + 63) / 64 * 64,
              "8 + 129 * 8 bytes, rounded up to whole cache lines: 1088");

}  // namespace engine
