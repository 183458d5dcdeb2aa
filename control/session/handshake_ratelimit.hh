// SPDX-License-Identifier: MIT
// Per-source token bucket for handshake messages (WireGuard's ratelimiter.c, in the sans-IO core
// so it is testable): each source may send `burst` messages at once and `rate_per_s` on average.
// A source is the sender's IP address, never its port (a flood rotating UDP source ports would
// otherwise get a fresh bucket per message): a 16-byte (IPv6) address counts by its /64 prefix
// as in WireGuard, since one host commonly holds a whole /64; any other length as it is. Tokens are counted in nanoseconds of credit so
// the refill is exact integer arithmetic. The table is bounded: full buckets are collected once
// per second, and a new source is refused while the table is full (a flood from many sources
// cannot grow memory). rate_per_s == 0 disables the limiter.
// Threads: control thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>

namespace control::handshake {

class rate_limiter {
public:
    rate_limiter(uint32_t rate_per_s, uint32_t burst, size_t max_sources);

    /// Takes one token from the bucket of `source_ip` (4 or 16 bytes; IPv6 by its /64).
    /// \returns false if it has none (or the table is full and the source is new).
    [[nodiscard]] bool allow(std::span<const uint8_t> source_ip, uint64_t now_ns);
    [[nodiscard]] size_t n_sources() const noexcept { return _table.size(); }

private:
    struct bucket {
        uint64_t tokens_ns;
        uint64_t last_ns;
    };
    void collect(uint64_t now_ns);

    std::unordered_map<std::string, bucket> _table;
    uint64_t _cost_ns;
    uint64_t _max_ns;
    size_t _max_sources;
    uint64_t _last_gc_ns = 0;
};

}  // namespace control::handshake
