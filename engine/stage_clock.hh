// SPDX-License-Identifier: MIT
// Per-stage cycle counters of a worker, after VPP's `show runtime` (clocks per node): TSC cycles,
// calls and packets of each stage of a busy loop iteration (docs/performance.md "Per-stage
// cycle counters"):
//   rx       rte_eth_rx_burst (with the empty polls and loop work before a busy poll)
//   prepare  classify, lookups, replay check, headers and nonces of the AEAD batch (everything
//            from rx to the AEAD call, and a burst that reaches no AEAD at all)
//   aead     the AEAD calls of the batch (one per run of packets under one key)
//   finish   after the AEAD: outer headers / replay accept, MAC rebuild, into the tx buffer
//   tx       rte_eth_tx_buffer_flush (taken out of the stage it happens in)
//   other    the rest of the iteration: the control ring, counters, polls after the last busy one
// The stages partition the iteration: clk_cycles = the sum of the six.
//
// The clock reads the TSC at stage boundaries only, once per burst and stage (never per packet),
// and only in every `period`-th busy iteration: one rdtsc costs about 85 TSC cycles on this
// project's VM (as much as a 64 B packet's AEAD), so reading it 6 times in every burst would be
// 10 % of a 64 B packet's budget; sampled, the cost is that divided by `period` (instructions
// per packet measured in docs/performance.md). The counters are then the sampled iterations'
// own: cycles per packet of a stage = clk_<stage>_cycles / clk_rx_packets. Each interval between
// two readings also holds one reading's own cost; `reading_cost` (the smallest rdtsc-to-rdtsc
// difference, calibrated at startup) is taken off every interval, and the iteration's total is
// what it would have been without the extra readings.
// A timed iteration longer than `limit` (200 us + 4 us per packet: 40 times a 1420 B ChaCha20
// packet's cost) was not all ours: the thread was preempted inside it (a shared VM; the
// scheduler's slices are 0.75 ms and more), and the stolen time would land in whatever stage
// ran. Such an iteration is counted in clk_discarded and its stages are not: the counters are
// the cost of dvpe's work, not of its neighbours' (busy_cycles still counts it all).
// Threads: the owning worker lcore only (the counters it commits are worker_stats').
#pragma once

#include <rte_cycles.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include "engine/stats.hh"

namespace engine {

enum class stage : uint8_t { rx, prepare, aead, finish, tx, count_ };

class stage_clock {
public:
    static constexpr unsigned default_period = 16;

    /// Time every `period`-th busy iteration (1: every one; 0: none).
    void set_period(unsigned period) noexcept {
        _period = period;
        _countdown = std::max(period, 1u);
    }

    /// The smallest difference between two back-to-back TSC readings: what one reading adds to
    /// an interval.
    void calibrate() noexcept {
        uint64_t best = ~uint64_t{0};
        for (int i = 0; i < 256; ++i) {
            const uint64_t a = rte_rdtsc();
            const uint64_t b = rte_rdtsc();
            best = std::min(best, b - a);
        }
        _reading_cost = best;
    }
    [[nodiscard]] uint64_t reading_cost() const noexcept { return _reading_cost; }

    /// The TSC frequency, for the preemption limit.
    void set_hz(uint64_t hz) noexcept {
        _limit_base = hz / 5000;     // 200 us
        _limit_per_pkt = hz / 250000;  // 4 us
    }

    /// This iteration is timed (tx_begin() reads the TSC).
    [[nodiscard]] bool on() const noexcept { return _state == timed; }

    /// Iteration start; `start` is the loop's own TSC reading (busy_cycles').
    void begin(uint64_t start) noexcept {
        _start = start;
        _state = undecided;
    }

    /// A poll returned n > 0 packets: the cycles since the last boundary are rx's. The first busy
    /// poll of an iteration decides whether the iteration is timed.
    void rx_done(unsigned n) noexcept {
        if (_state == undecided) [[unlikely]] {
            _state = untimed;
            if (_period != 0 && --_countdown == 0) {
                _countdown = _period;
                start_timing();
            }
        }
        if (_state == timed) [[unlikely]] {
            lap(stage::rx);
            add(stage::rx, 1, n);
            _flushed = false;
        }
    }

    /// Stage boundaries of the AEAD batch: `prepare` ended (flush begins), `aead` ended (n
    /// packets in `calls` AEAD calls), `finish` ended (the flush is done).
    void flush_begin() noexcept {
        if (_state == timed) [[unlikely]] {
            lap(stage::prepare);
        }
    }
    void aead_done(unsigned n, unsigned calls) noexcept {
        if (_state == timed) [[unlikely]] {
            lap(stage::aead);
            add(stage::aead, calls, n);
        }
    }
    void flush_end() noexcept {
        if (_state == timed) [[unlikely]] {
            lap(stage::finish);
            _flushed = true;
        }
    }
    /// After a burst: one that reached no AEAD batch was all `prepare`.
    void burst_end() noexcept {
        if (_state == timed && !_flushed) [[unlikely]] {
            lap(stage::prepare);
        }
    }

    /// Around a tx burst of n packets (a tx buffer flush): its cycles are tx's, not the stage's
    /// it happens in. tx_begin() returns the reading for tx_end() (0: not timed).
    [[nodiscard]] uint64_t tx_begin() const noexcept { return _state == timed ? rte_rdtsc() : 0; }
    void tx_end(uint64_t t0, unsigned n) noexcept {
        if (t0 != 0) [[unlikely]] {
            const uint64_t d = rte_rdtsc() - t0;
            _nested += d;
            ++_nested_n;
            ++_extra;  // two readings, one of them counted with the enclosing interval
            ++_extra;
            _cycles[static_cast<unsigned>(stage::tx)] += d > _reading_cost ? d - _reading_cost : 0;
            add(stage::tx, 1, n);
        }
    }

    /// Iteration end at the loop's TSC reading `now`: a timed iteration's counters go to `st`.
    void end(uint64_t now, worker_stats& st) noexcept {
        if (_state == timed) [[unlikely]] {
            commit(now, st);
        }
        _state = untimed;  // the timer's flush_all after `now` is not timed (nor in busy_cycles)
    }

private:
    enum : uint8_t { undecided, untimed, timed };
    static constexpr unsigned n_stages = static_cast<unsigned>(stage::count_);

    void start_timing() noexcept {
        _state = timed;
        _mark = _start;
        _nested = 0;
        _nested_n = 0;
        _extra = 0;
        _cycles.fill(0);
        _calls.fill(0);
        _packets.fill(0);
    }
    void lap(stage s) noexcept {
        const uint64_t now = rte_rdtsc();
        ++_extra;
        // The interval holds one reading's cost, and each nested tx interval one more.
        const uint64_t took = now - _mark - _nested;
        const uint64_t cost = _reading_cost * (1 + _nested_n);
        _cycles[static_cast<unsigned>(s)] += took > cost ? took - cost : 0;
        _mark = now;
        _nested = 0;
        _nested_n = 0;
    }
    void add(stage s, uint64_t calls, uint64_t packets) noexcept {
        _calls[static_cast<unsigned>(s)] += calls;
        _packets[static_cast<unsigned>(s)] += packets;
    }
    void commit(uint64_t now, worker_stats& st) noexcept;

    unsigned _period = default_period;
    unsigned _countdown = default_period;
    uint8_t _state = untimed;
    bool _flushed = false;
    uint64_t _start = 0;
    uint64_t _mark = 0;          // the last boundary's reading
    uint64_t _nested = 0;        // tx cycles inside the running stage (taken out of it)
    unsigned _nested_n = 0;      // tx intervals inside the running stage
    unsigned _extra = 0;         // readings this iteration added to the loop's own two
    uint64_t _reading_cost = 0;
    uint64_t _limit_base = ~uint64_t{0} / 2;  // set_hz(); no limit before
    uint64_t _limit_per_pkt = 0;
    std::array<uint64_t, n_stages> _cycles{}, _calls{}, _packets{};
};

inline void stage_clock::commit(uint64_t now, worker_stats& st) noexcept {
    auto c = [&](stage s) { return _cycles[static_cast<unsigned>(s)]; };
    // What the iteration took without the extra readings; the remainder after the timed stages
    // is `other` (it holds the loop's own two readings, as busy_cycles does).
    const uint64_t raw = now - _start;
    if (raw > _limit_base + _limit_per_pkt * _packets[static_cast<unsigned>(stage::rx)]) [[unlikely]] {
        st.clk_discarded.add();  // preempted inside: not the cost of dvpe's work
        return;
    }
    const uint64_t extra = _reading_cost * _extra;
    const uint64_t total = raw > extra ? raw - extra : 0;
    const uint64_t timed_sum = c(stage::rx) + c(stage::prepare) + c(stage::aead) + c(stage::finish) + c(stage::tx);
    const uint64_t other = total > timed_sum ? total - timed_sum : 0;
    st.clk_iterations.add();
    st.clk_cycles.add(timed_sum + other);
    st.clk_other_cycles.add(other);
    st.clk_rx_cycles.add(c(stage::rx));
    st.clk_rx_calls.add(_calls[static_cast<unsigned>(stage::rx)]);
    st.clk_rx_packets.add(_packets[static_cast<unsigned>(stage::rx)]);
    st.clk_prepare_cycles.add(c(stage::prepare));
    st.clk_aead_cycles.add(c(stage::aead));
    st.clk_aead_calls.add(_calls[static_cast<unsigned>(stage::aead)]);
    st.clk_aead_packets.add(_packets[static_cast<unsigned>(stage::aead)]);
    st.clk_finish_cycles.add(c(stage::finish));
    st.clk_tx_cycles.add(c(stage::tx));
    st.clk_tx_calls.add(_calls[static_cast<unsigned>(stage::tx)]);
    st.clk_tx_packets.add(_packets[static_cast<unsigned>(stage::tx)]);
}

}  // namespace engine
