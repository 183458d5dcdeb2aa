// SPDX-License-Identifier: MIT
// engine/replay.hh, through replay_window's public API only (would_accept, accept, reset and the
// window constants): numbered cases around the window edges and the counter limit, in the manner
// of WireGuard's selftest/counter.c; the cases RFC 6479 names (group replay_rfc6479: in order,
// out of order inside the window, duplicates, too old, a far jump that clears blocks, the ring
// wrapping around, counter 0); sweeps in order and in reverse; the would_accept/accept sequence
// of the receive path; and a differential test against a trivially correct model (std::set of
// accepted counters + the maximum) over random reordered sequences, for the default
// 8192-counter window and for 64/128-counter windows whose ring wraps constantly.
#include "engine/replay.hh"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace engine {
namespace {

/// The obvious model: a counter is accepted iff below the limit, never accepted before, and
/// not WindowBits or more behind the maximum accepted counter.
template <uint64_t W>
class replay_model {
public:
    [[nodiscard]] bool would_accept(uint64_t c) const {
        if (c >= replay_window<>::counter_limit) {
            return false;
        }
        if (_any && c + W <= _max) {
            return false;
        }
        return !_seen.contains(c);
    }
    bool accept(uint64_t c) {
        if (!would_accept(c)) {
            return false;
        }
        _seen.insert(c);
        if (!_any || c > _max) {
            _max = c;
            _any = true;
            if (_max >= W) {  // forget what the window rule rejects anyway
                _seen.erase(_seen.begin(), _seen.lower_bound(_max - W));
            }
        }
        return true;
    }

private:
    std::set<uint64_t> _seen;
    uint64_t _max = 0;
    bool _any = false;
};

constexpr uint64_t W = replay_window<>::window_size;
constexpr uint64_t L = replay_window<>::counter_limit;
static_assert(W == 8192);
static_assert(replay_window<>::n_blocks == 129);

struct replay_case {
    uint64_t counter;
    bool accept;
};

// Applied in sequence to one window. Comments give the window (accepted range) after the step.
constexpr replay_case cases[] = {
    {0, true},                  //  1  first counter is 0
    {1, true},                  //  2
    {1, false},                 //  3  duplicate
    {0, false},                 //  4  duplicate
    {W - 1, true},              //  5  M = W-1
    {W, true},                  //  6  M = W: window 1..W
    {0, false},                 //  7  0 = M - W: just out (and seen)
    {2, true},                  //  8  2 = M - W + 2: inside, new
    {W + 1, true},              //  9  M = W+1: window 2..W+1
    {1, false},                 // 10  out
    {2, false},                 // 11  duplicate at the edge
    {3, true},                  // 12  3 = M - W + 2
    {10 * W, true},             // 13  far ahead: every block cleared
    {9 * W, false},             // 14  exactly W behind: out
    {9 * W + 1, true},          // 15  W-1 behind: the oldest tracked counter
    {9 * W + 1, false},         // 16  duplicate
    {W + 1, false},             // 17  old
    {10 * W - 1, true},         // 18
    {10 * W, false},            // 19  duplicate of the maximum
    {10 * W + 64, true},        // 20  next block
    {10 * W + 63, true},        // 21  behind, previous block
    {10 * W + 63, false},       // 22
    {10 * W + 65, true},        // 23
    {10 * W + 64 - W, false},   // 24  W+1 behind
    {10 * W + 66 - W, true},    // 25  W-1 behind
    {L - 1, true},              // 26  the largest acceptable counter
    {L, false},                 // 27  limit
    {L - 1, false},             // 28  duplicate
    {L - 2, true},              // 29
    {L + 1, false},             // 30
    {~uint64_t{0}, false},      // 31
    {10 * W + 65, false},       // 32  now far too old
    {L - 1 - W, false},         // 33  exactly W behind
    {L - W, true},              // 34  W-1 behind
    {L - W, false},             // 35
    {0, false},                 // 36
};

TEST(replay, table_around_the_window_edges) {
    replay_window<> w;
    replay_model<W> m;
    int i = 0;
    for (const replay_case& c : cases) {
        ++i;
        EXPECT_EQ(m.would_accept(c.counter), c.accept) << "model disagrees with case " << i;
        EXPECT_EQ(w.would_accept(c.counter), c.accept) << "would_accept, case " << i;
        EXPECT_EQ(w.accept(c.counter), c.accept) << "accept, case " << i;
        m.accept(c.counter);
    }
}

TEST(replay, in_order_sweep) {
    replay_window<> w;
    for (uint64_t c = 0; c < 3 * W; ++c) {
        ASSERT_TRUE(w.would_accept(c)) << c;
        ASSERT_TRUE(w.accept(c)) << c;
    }
    for (uint64_t c = 0; c < 3 * W; ++c) {
        ASSERT_FALSE(w.would_accept(c)) << c;
        ASSERT_FALSE(w.accept(c)) << c;
    }
    EXPECT_EQ(w.top(), 3 * W);
}

TEST(replay, reverse_sweep_fills_exactly_the_window) {
    replay_window<> w;
    ASSERT_TRUE(w.accept(W));
    for (uint64_t c = W - 1; c >= 1; --c) {
        ASSERT_TRUE(w.accept(c)) << c;
    }
    EXPECT_FALSE(w.accept(0));  // W behind the maximum
    for (uint64_t c = 1; c <= W; ++c) {
        ASSERT_FALSE(w.would_accept(c)) << c;
    }
    EXPECT_TRUE(w.accept(W + 1));
}

TEST(replay, block_boundaries) {
    for (uint64_t start : {uint64_t{0}, uint64_t{62}, uint64_t{63}, uint64_t{64}, uint64_t{127}, W - 1, W, W + 63}) {
        replay_window<> w;
        replay_model<W> m;
        for (uint64_t c = start; c < start + 3 * 64 + 3; c += 2) {
            ASSERT_EQ(w.accept(c), m.accept(c)) << start << " " << c;
        }
        for (uint64_t c = start; c < start + 3 * 64 + 3; ++c) {
            ASSERT_EQ(w.would_accept(c), m.would_accept(c)) << start << " " << c;
        }
    }
}

TEST(replay, receive_path_sequence) {
    replay_window<> w;
    // A replay inside one burst: both copies pass the pre-check, both verify; only one is new.
    EXPECT_TRUE(w.would_accept(5));
    EXPECT_TRUE(w.would_accept(5));
    EXPECT_TRUE(w.accept(5));
    EXPECT_FALSE(w.accept(5));
    // A packet that failed authentication leaves no trace.
    EXPECT_TRUE(w.would_accept(6));
    EXPECT_TRUE(w.would_accept(6));
    // The window moved past a packet between pre-check and accept (same burst).
    EXPECT_TRUE(w.would_accept(7));
    EXPECT_TRUE(w.accept(7 + W));
    EXPECT_FALSE(w.accept(7));
}

TEST(replay, reset_forgets) {
    replay_window<> w;
    for (uint64_t c = 0; c < 1000; ++c) {
        ASSERT_TRUE(w.accept(c * 3));
    }
    w.reset();
    EXPECT_EQ(w.top(), 0u);
    for (uint64_t c = 0; c < 1000; ++c) {
        ASSERT_TRUE(w.accept(c)) << c;
    }
}

// ---- RFC 6479 ("IPsec Anti-Replay Algorithm without Bit Shifting") -----------------------------
// The window keeps the last W counters behind the highest accepted one, M; a counter c is fresh if
// c > M, or M - W < c <= M and not seen; c <= M - W is too old. The bitmap is a ring of 64-bit
// blocks plus one block of slack; moving M forward clears the blocks it enters and never shifts.

/// Checks every counter in [lo, hi): would_accept() (no state change) says what `fresh` says.
template <uint32_t Bits, typename F>
void expect_fresh(const replay_window<Bits>& w, uint64_t lo, uint64_t hi, F fresh) {
    for (uint64_t c = lo; c < hi; ++c) {
        ASSERT_EQ(w.would_accept(c), fresh(c)) << "counter " << c;
    }
}

TEST(replay_rfc6479, in_order_counters_are_each_accepted_once) {
    replay_window<> w;
    for (uint64_t c = 0; c < 2 * W + 100; ++c) {
        ASSERT_TRUE(w.accept(c)) << c;
        ASSERT_FALSE(w.would_accept(c)) << c;          // now seen
        ASSERT_TRUE(w.would_accept(c + 1)) << c;       // the next one is new
        ASSERT_FALSE(w.accept(c)) << c;                // and a second copy is refused
    }
}

TEST(replay_rfc6479, out_of_order_within_the_window) {
    replay_window<> w;
    const uint64_t m = 3 * W + 17;
    ASSERT_TRUE(w.accept(m));
    // Everything from M - W + 1 up to M - 1 is still new, in any order: odd ones descending,
    // then even ones ascending.
    for (uint64_t c = m - 1; c > m - W; c -= 2) {
        ASSERT_TRUE(w.accept(c)) << c;
    }
    for (uint64_t c = m - W + 1; c < m; ++c) {
        ASSERT_EQ(w.accept(c), (m - c) % 2 == 0) << c;
    }
    // now every counter of the window is seen
    expect_fresh(w, m - W + 1, m + 1, [](uint64_t) { return false; });
    EXPECT_TRUE(w.would_accept(m + 1));
}

TEST(replay_rfc6479, duplicates_are_refused_wherever_they_fall) {
    replay_window<> w;
    for (uint64_t c : {uint64_t{100}, uint64_t{40}, uint64_t{41}, uint64_t{99}, uint64_t{63}, uint64_t{64}}) {
        ASSERT_TRUE(w.accept(c)) << c;
    }
    for (uint64_t c : {uint64_t{100}, uint64_t{40}, uint64_t{41}, uint64_t{99}, uint64_t{63}, uint64_t{64}}) {
        EXPECT_FALSE(w.would_accept(c)) << c;
        EXPECT_FALSE(w.accept(c)) << c;
    }
    // the neighbours of the seen counters are untouched
    for (uint64_t c : {uint64_t{39}, uint64_t{42}, uint64_t{62}, uint64_t{65}, uint64_t{98}}) {
        EXPECT_TRUE(w.accept(c)) << c;
    }
}

TEST(replay_rfc6479, too_old_is_refused_even_if_never_seen) {
    replay_window<> w;
    const uint64_t m = 5 * W + 3;
    ASSERT_TRUE(w.accept(m));
    EXPECT_FALSE(w.would_accept(m - W));   // exactly W behind: out
    EXPECT_FALSE(w.accept(m - W));
    EXPECT_FALSE(w.accept(m - W - 1));
    EXPECT_FALSE(w.accept(0));
    EXPECT_TRUE(w.accept(m - W + 1));      // W - 1 behind: the oldest tracked counter
    // Moving M by one pushes that oldest counter out, and the next becomes the oldest.
    ASSERT_TRUE(w.accept(m + 1));
    EXPECT_FALSE(w.would_accept(m - W + 1));
    EXPECT_TRUE(w.would_accept(m - W + 2));
}

TEST(replay_rfc6479, far_jump_clears_the_blocks_it_passes) {
    // Fill the whole window (every bit of the ring set but the slack), then jump ahead by d: the
    // counters between the old and the new M that are inside the new window must all be new,
    // including those that share ring blocks with the old, seen ones. Jumps below, at and past a
    // block, the window and the whole ring.
    const uint64_t ring = uint64_t{replay_window<>::n_blocks} * 64;
    for (uint64_t d : {uint64_t{1}, uint64_t{63}, uint64_t{64}, uint64_t{65}, uint64_t{127}, uint64_t{128}, W - 64,
                       W - 1, W, W + 1, W + 63, W + 64, ring - 1, ring, ring + 1, 10 * W + 5}) {
        SCOPED_TRACE("jump " + std::to_string(d));
        replay_window<> w;
        const uint64_t m0 = 2 * W + 70;
        for (uint64_t c = m0 - W + 1; c <= m0; ++c) {
            ASSERT_TRUE(w.accept(c));
        }
        const uint64_t m1 = m0 + d;
        ASSERT_TRUE(w.accept(m1));
        const uint64_t lo = m1 - W + 1;  // the new window: lo .. m1
        expect_fresh(w, m1 - W - 200, m1 + 200, [&](uint64_t c) {
            if (c > m1) {
                return true;
            }
            if (c < lo || c == m1) {
                return false;
            }
            return c > m0;  // seen ones stay seen, everything the jump passed is new
        });
        // and accept() agrees: each new counter of the window once
        uint64_t n = 0;
        for (uint64_t c = lo; c < m1; ++c) {
            n += w.accept(c) ? 1 : 0;
        }
        EXPECT_EQ(n, std::min(d - 1, W - 1));
    }
}

TEST(replay_rfc6479, the_ring_wraps_around_many_times) {
    // A 64-counter window has a ring of two blocks (128 positions): it wraps every 128 counters.
    // Run in steps of 1..70 over many wraps; after each step the window must be exactly "the
    // counters accepted in the last 64, nothing older". The 8192 window does the same over a few
    // revolutions of its 129 blocks.
    auto run = [](auto& w, uint64_t window, uint64_t total) {
        std::set<uint64_t> seen;
        uint64_t m = 0;
        ASSERT_TRUE(w.accept(0));
        seen.insert(0);
        std::mt19937_64 rng(7);
        while (m < total) {
            const uint64_t step = 1 + rng() % 70;
            m += step;
            ASSERT_TRUE(w.accept(m)) << m;
            seen.insert(m);
            if (rng() % 2 == 0 && step > 2) {
                const uint64_t back = m - 1 - rng() % (step - 1);  // one late counter behind M
                ASSERT_TRUE(w.accept(back)) << back;
                seen.insert(back);
            }
            const uint64_t lo = m >= window ? m - window + 1 : 0;
            for (uint64_t c = (lo >= 130 ? lo - 130 : 0); c <= m + 2; ++c) {
                const bool fresh = c > m || (c >= lo && !seen.contains(c));
                ASSERT_EQ(w.would_accept(c), fresh) << "M " << m << " counter " << c;
            }
        }
    };
    {
        replay_window<64> w;
        static_assert(replay_window<64>::n_blocks == 2);
        run(w, 64, 50 * 128);
    }
    {
        replay_window<> w;
        run(w, W, 3 * uint64_t{replay_window<>::n_blocks} * 64);
    }
}

TEST(replay_rfc6479, counter_zero) {
    replay_window<> w;
    EXPECT_TRUE(w.would_accept(0));  // a zeroed window has not seen 0: the first counter of a key
    EXPECT_TRUE(w.accept(0));
    EXPECT_FALSE(w.would_accept(0));
    EXPECT_FALSE(w.accept(0));
    EXPECT_TRUE(w.accept(1));
    // a window that started above 0 still takes 0 while 0 is inside it ...
    replay_window<> v;
    ASSERT_TRUE(v.accept(W - 1));
    EXPECT_TRUE(v.accept(0));
    EXPECT_FALSE(v.accept(0));
    // ... and refuses it once M reaches W (0 = M - W)
    replay_window<> u;
    ASSERT_TRUE(u.accept(W));
    EXPECT_FALSE(u.would_accept(0));
    EXPECT_FALSE(u.accept(0));
    // a reset (new key) starts again from 0
    u.reset();
    EXPECT_TRUE(u.accept(0));
}

template <uint32_t Bits>
void differential(uint32_t seed, int steps) {
    replay_window<Bits> w;
    replay_model<Bits> m;
    std::mt19937_64 rng(seed);
    uint64_t base = 0;
    uint64_t n_accepted = 0;
    for (int i = 0; i < steps; ++i) {
        uint64_t c = 0;
        const uint32_t mode = static_cast<uint32_t>(rng() % 100);
        if (mode < 55) {
            c = base + rng() % 4;  // mostly in order
            base = c + 1;
        } else if (mode < 80) {
            c = base - std::min<uint64_t>(base, rng() % (Bits + Bits / 2 + 2));  // reordered, some out of the window
        } else if (mode < 90) {
            c = base - std::min<uint64_t>(base, rng() % 8);  // duplicates of recent ones
        } else if (mode < 95) {
            c = base + rng() % (4 * uint64_t{Bits});  // jump ahead
            base = c + 1;
        } else if (mode < 97) {
            c = L - 1 - rng() % (2 * uint64_t{Bits});  // near the limit
        } else if (mode < 98) {
            c = L + rng() % 4;  // at or beyond the limit
        } else {
            c = rng() % (2 * uint64_t{Bits});  // low counters
        }
        ASSERT_EQ(w.would_accept(c), m.would_accept(c)) << "step " << i << " counter " << c;
        const uint64_t probe = base - std::min<uint64_t>(base, rng() % (2 * uint64_t{Bits}));
        ASSERT_EQ(w.would_accept(probe), m.would_accept(probe)) << "step " << i << " probe " << probe;
        if (rng() % 16 == 0) {
            continue;  // failed authentication: pre-checked, never accepted
        }
        const bool got = w.accept(c);
        ASSERT_EQ(got, m.accept(c)) << "step " << i << " counter " << c;
        n_accepted += got;
        if (got && c >= L / 2) {
            base = 0;  // reached the limit: a new key starts from 0
            w.reset();
            m = replay_model<Bits>{};
        }
    }
    EXPECT_GT(n_accepted, static_cast<uint64_t>(steps) / 4);
}

TEST(replay, differential_default_window) {
    for (uint32_t seed = 1; seed <= 4; ++seed) {
        differential<8192>(seed, 100000);
    }
}

// The engine's window (engine/snapshot.hh `replay`): 255 + 1 blocks, a power-of-two ring.
TEST(replay, differential_engine_window) {
    static_assert(replay_window<16320>::n_blocks == 256);
    for (uint32_t seed = 1; seed <= 4; ++seed) {
        differential<16320>(seed, 100000);
    }
}

TEST(replay, differential_small_windows_wrap_the_ring) {
    for (uint32_t seed = 1; seed <= 4; ++seed) {
        differential<64>(seed, 100000);
        differential<128>(seed, 100000);
        differential<192>(seed, 50000);
    }
}

}  // namespace
}  // namespace engine
