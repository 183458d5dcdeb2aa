// SPDX-License-Identifier: MIT
// Per-source token bucket (see handshake_ratelimit.hh).
#include "control/session/handshake_ratelimit.hh"

#include <algorithm>

namespace control::handshake {

namespace {
constexpr uint64_t ns_per_s = 1'000'000'000;
constexpr uint64_t gc_interval_ns = ns_per_s;
constexpr size_t ipv6_len = 16;
constexpr size_t ipv6_prefix_len = 8;  // a /64
}  // namespace

rate_limiter::rate_limiter(uint32_t rate_per_s, uint32_t burst, size_t max_sources)
    : _cost_ns(rate_per_s == 0 ? 0 : ns_per_s / rate_per_s),
      _max_ns(_cost_ns * std::max<uint32_t>(burst, 1)),
      _max_sources(std::max<size_t>(max_sources, 1)) {}

void rate_limiter::collect(uint64_t now_ns) {
    // A bucket that has refilled completely is indistinguishable from a new one: drop it.
    std::erase_if(_table, [&](const auto& kv) {
        const bucket& b = kv.second;
        return now_ns < b.last_ns || b.tokens_ns + (now_ns - b.last_ns) >= _max_ns;
    });
    _last_gc_ns = now_ns;
}

bool rate_limiter::allow(std::span<const uint8_t> source_ip, uint64_t now_ns) {
    if (_cost_ns == 0) {
        return true;
    }
    if (now_ns - _last_gc_ns >= gc_interval_ns || now_ns < _last_gc_ns) {
        collect(now_ns);
    }
    const std::span<const uint8_t> source =
        source_ip.size() == ipv6_len ? source_ip.first(ipv6_prefix_len) : source_ip;
    std::string key(reinterpret_cast<const char*>(source.data()), source.size());
    auto it = _table.find(key);
    if (it == _table.end()) {
        if (_table.size() >= _max_sources) {
            collect(now_ns);
            if (_table.size() >= _max_sources) {
                return false;
            }
        }
        _table.emplace(std::move(key), bucket{_max_ns - _cost_ns, now_ns});
        return true;
    }
    bucket& b = it->second;
    const uint64_t elapsed = now_ns > b.last_ns ? now_ns - b.last_ns : 0;
    b.tokens_ns = std::min(_max_ns, b.tokens_ns + std::min(elapsed, _max_ns));
    b.last_ns = std::max(b.last_ns, now_ns);
    if (b.tokens_ns < _cost_ns) {
        return false;
    }
    b.tokens_ns -= _cost_ns;
    return true;
}

}  // namespace control::handshake
