// SPDX-License-Identifier: MIT
// The bound on flooding (docs/performance.md "Many peers", docs/architecture.md): a broadcast,
// multicast or unknown-unicast frame from the overlay is one sealed copy per peer with a session
// (GVPE's N-1 unicasts), so on a gateway with thousands of peers one frame is thousands of copies
// on one worker. Each worker has a token bucket of copies: a flood that does not fit in what is
// left is dropped whole (drop reason flood_budget), never sent to a part of the peers; the burst
// always holds one flood to the largest possible mesh, so a single broadcast (an ARP request)
// never meets the limit, only a sustained stream of them.
// The class is the engine's one token bucket: the relay hand-overs to the control thread
// (worker::relay_wait) and the ICMP answers (too_big_limiter) use it with their own limits.
// Threads: one worker lcore (each worker has its own).
#pragma once

#include <cstdint>

#include "transports/wire.hh"

namespace engine {

class flood_budget {
public:
    /// Copies per second and worker: 200 000 copies is about 50 floods a second to 4 000 peers,
    /// roughly a twentieth of one worker's sealing capacity at 64 B (docs/performance.md).
    static constexpr uint64_t rate = 200'000;
    /// Two floods to a mesh of the largest size (4095 nodes).
    static constexpr uint64_t burst = 2 * (transport::max_node_id + 1);

    explicit flood_budget(uint64_t tsc_hz = 0) noexcept : _hz(tsc_hz) {}
    void set_hz(uint64_t tsc_hz) noexcept { _hz = tsc_hz; }
    /// Other limits than the defaults (tests; worker_setup); the bucket starts full.
    void set_limits(uint64_t copies_per_s, uint64_t burst_copies) noexcept {
        _rate = copies_per_s;
        _burst = burst_copies;
        _tokens = burst_copies;
    }

    /// True if `copies` copies may be made at TSC time `now` (and takes them); false: none taken.
    bool take(uint64_t now, uint64_t copies) noexcept {
        if (_hz == 0) {
            return copies == 0;
        }
        const uint64_t per_token = _rate == 0 ? 0 : _hz / _rate;
        if (_tokens < _burst) {
            const uint64_t gained = per_token == 0 ? _burst : (now - _last) / per_token;
            if (gained > 0) {
                _tokens = gained >= _burst - _tokens ? _burst : _tokens + gained;
                _last = _tokens == _burst ? now : _last + gained * per_token;
            }
        } else {
            _last = now;
        }
        if (copies > _tokens) {
            return false;
        }
        _tokens -= copies;
        return true;
    }

    [[nodiscard]] uint64_t tokens() const noexcept { return _tokens; }

private:
    uint64_t _hz;
    uint64_t _rate = rate;
    uint64_t _burst = burst;
    uint64_t _tokens = burst;
    uint64_t _last = 0;
};

}  // namespace engine
