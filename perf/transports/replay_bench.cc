// SPDX-License-Identifier: MIT
// Benchmarks of engine/replay.hh (docs/design.md §12, the replay check): the receive-path pair
// would_accept() + accept() per packet, on counters in order, reordered within bursts of 32
// (as RSS and multi-queue receivers deliver them), and with 10% replays. Counter `t/pkt` is the
// time per packet (SI prefix: 3.1n = 3.1 ns).
#include "engine/replay.hh"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <vector>

namespace {

constexpr size_t seq_len = 1 << 16;

/// Counter sequences, each of seq_len, continuing from `base` on every pass.
std::vector<uint64_t> make_sequence(int pattern) {
    std::vector<uint64_t> s(seq_len);
    std::mt19937_64 rng(3);
    for (size_t i = 0; i < seq_len; ++i) {
        s[i] = i;
    }
    if (pattern >= 1) {  // shuffle within bursts of 32
        for (size_t i = 0; i < seq_len; i += 32) {
            std::shuffle(s.begin() + static_cast<long>(i), s.begin() + static_cast<long>(i + 32), rng);
        }
    }
    if (pattern == 2) {  // 10% replays of a recent counter
        for (size_t i = 64; i < seq_len; ++i) {
            if (rng() % 10 == 0) {
                s[i] = s[i - 1 - rng() % 64];
            }
        }
    }
    return s;
}

void BM_replay(benchmark::State& st) {
    const auto seq = make_sequence(static_cast<int>(st.range(0)));
    engine::replay_window<> w;
    uint64_t base = 0;
    uint64_t accepted = 0;
    for (auto _ : st) {
        for (uint64_t c : seq) {
            const uint64_t ctr = base + c;
            if (w.would_accept(ctr)) {
                accepted += w.accept(ctr);
            }
        }
        base += seq_len;
        benchmark::DoNotOptimize(accepted);
    }
    const double n = static_cast<double>(st.iterations()) * seq_len;
    st.counters["t/pkt"] = benchmark::Counter(n, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    st.counters["accepted"] = static_cast<double>(accepted) / n;
}

BENCHMARK(BM_replay)->Arg(0)->ArgName("in_order");
BENCHMARK(BM_replay)->Arg(1)->ArgName("reordered32");
BENCHMARK(BM_replay)->Arg(2)->ArgName("reordered32_10pct_replays");

}  // namespace
