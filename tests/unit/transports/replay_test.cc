// SPDX-License-Identifier: MIT
// engine/replay.hh (header-only; built here because tests/unit/engine belongs to the daemon
// build): numbered cases around the window edges and the counter limit, in the manner of
// WireGuard's selftest/counter.c; sweeps in order and in reverse; the would_accept/accept
// sequence of the receive path; and a differential test against a trivially correct model
// (std::set of accepted counters + the maximum) over random reordered sequences, for the
// default 8192-counter window and for 64/128-counter windows whose ring wraps constantly.
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

TEST(replay, differential_small_windows_wrap_the_ring) {
    for (uint32_t seed = 1; seed <= 4; ++seed) {
        differential<64>(seed, 100000);
        differential<128>(seed, 100000);
        differential<192>(seed, 50000);
    }
}

}  // namespace
}  // namespace engine
