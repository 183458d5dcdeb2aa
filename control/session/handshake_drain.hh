// SPDX-License-Identifier: MIT
// The control thread's budget for the handshake messages it takes from the workers' ring, per
// control-loop iteration: at most `max_messages` are consumed, and none once `max_ns` have passed
// since the drain started; the rest of what waited is dropped and counted. A flood (say a full
// ring of initiations from many addresses, each passing mac1 and its rate limit, ~150 us of
// X25519 apiece: 0.6 s per ring) then costs every iteration a bounded slice, and the control
// socket, timers, keepalives and rekeys are served every iteration. While the budget runs out,
// and for `load_hold_ns` after (WireGuard holds 1 s), or when the ring is more than half full,
// the node is under load: messages without a valid mac2 get a cheap cookie reply instead of DH
// work, and senders that can receive at their address pass on their retry.
// What still waits when the budget runs out stays in the ring for the next iteration, as long as
// that is at most `max_deferred` items (a burst of legitimate initiators, more than one
// iteration's DH work, is served an iteration later instead of dropped and retried after its
// sender's timeout); beyond that the ring is drained down to it, what is taken out dropped as
// below, so a flood never fills the ring and new messages (a proven sender's) still get in.
// A message beyond the budget is not dropped blindly: if it carries a mac2 valid for its source
// (its sender answered one of our cookie replies, so it receives at that address; a spoofing
// flood cannot), it is admitted from a small second budget (`max_proven`). The proof costs two
// keyed hashes (~1 us), a zero mac2 nothing; at most `max_proof_checks` proofs are checked per
// iteration, so a flood of random mac2s costs a bounded ~2 ms too.
// Threads: control thread only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace control::handshake {

struct drain_limits {
    uint32_t max_messages = 256;            ///< handshake messages consumed per iteration
    uint64_t max_ns = 4'000'000;            ///< ... or this much time spent draining, whichever first
    uint64_t load_hold_ns = 1'000'000'000;  ///< under load this long after the budget last ran out
    uint32_t max_proven = 32;               ///< beyond the budget: admitted with a valid mac2, per iteration
    uint32_t max_proof_checks = 2048;       ///< beyond the budget: mac2 proofs checked, per iteration
    uint32_t max_proven_per_source = 2;     ///< ... of which from one source IP (IPv6: /64)
    uint32_t max_deferred = 512;            ///< beyond the budget: left in the ring for the next iteration
};

class drain_budget {
public:
    explicit drain_budget(drain_limits l = {}) noexcept : _lim(l) {}

    /// A new iteration starts draining at `now_ns` with `backlog` messages waiting in a ring of
    /// `capacity`.
    void start(uint64_t now_ns, size_t backlog, size_t capacity) noexcept;
    /// May one more handshake message be consumed at `now_ns`? false: drop it (counted).
    /// `proves()` (called only beyond the budget, at most max_proof_checks times per iteration)
    /// says whether the message carries a mac2 valid for its source.
    /// `source_ip` (4 or 16 bytes) caps what one sender gets beyond the budget: a sender that
    /// does receive at its address cannot take every proven slot of an iteration for itself.
    template <class Proof>
    [[nodiscard]] bool admit(uint64_t now_ns, Proof&& proves, std::span<const uint8_t> source_ip = {}) {
        if (within_budget(now_ns)) {
            ++_admitted;
            return true;
        }
        if (_proven < _lim.max_proven && _checked < _lim.max_proof_checks) {
            source_slot* slot = proven_slot(source_ip);
            if (slot == nullptr || slot->count < _lim.max_proven_per_source) {
                ++_checked;
                if (proves()) {
                    if (slot != nullptr) {
                        ++slot->count;
                    }
                    ++_proven;
                    ++_admitted_proven;
                    return true;
                }
            }
        }
        ++_dropped;
        return false;
    }
    [[nodiscard]] bool admit(uint64_t now_ns) noexcept {
        return admit(now_ns, [] { return false; });
    }
    /// Asked before taking each item from the ring, with `waiting` items (of any kind) still in
    /// it: true if this iteration's budget is spent and at most max_deferred wait, i.e. the
    /// caller stops here and leaves them for the next iteration (counted). Work left waiting is
    /// load, as a message beyond the budget is: cookies are demanded from now.
    [[nodiscard]] bool defer(uint64_t now_ns, size_t waiting) noexcept {
        if (waiting == 0 || waiting > _lim.max_deferred || !spent(now_ns)) {
            return false;
        }
        _overloaded = true;
        _overloaded_ns = now_ns;
        ++_deferred;
        return true;
    }
    /// Demand mac2 (answer with cookie replies) from senders without one.
    [[nodiscard]] bool under_load(uint64_t now_ns) const noexcept;
    /// Handshake messages dropped because an iteration's budget was spent.
    [[nodiscard]] uint64_t dropped() const noexcept { return _dropped; }
    /// Messages beyond an iteration's budget admitted because their mac2 proved their source.
    [[nodiscard]] uint64_t admitted_proven() const noexcept { return _admitted_proven; }
    /// Iterations that ended with their budget spent and work left in the ring (defer() true).
    [[nodiscard]] uint64_t deferred() const noexcept { return _deferred; }

private:
    /// Within this iteration's count and time? If not, the node is overloaded from now.
    [[nodiscard]] bool within_budget(uint64_t now_ns) noexcept;
    /// This iteration's count or time is used up (no side effect).
    [[nodiscard]] bool spent(uint64_t now_ns) const noexcept {
        return _admitted >= _lim.max_messages || (now_ns > _start_ns ? now_ns - _start_ns : 0) >= _lim.max_ns;
    }

    struct source_slot {
        std::array<uint8_t, 8> key{};  // IPv4 address, or an IPv6 address's /64
        uint32_t count = 0;
    };
    /// The slot of `source_ip` among this iteration's proven senders (a new one if there is
    /// room); nullptr without a source.
    source_slot* proven_slot(std::span<const uint8_t> source_ip) noexcept;
    std::array<source_slot, 64> _sources{};
    uint32_t _n_sources = 0;

    drain_limits _lim;
    uint64_t _start_ns = 0;
    uint32_t _admitted = 0;         ///< in this iteration, within the budget
    uint32_t _proven = 0;           ///< in this iteration, beyond the budget with a valid mac2
    uint32_t _checked = 0;          ///< in this iteration, proofs checked beyond the budget
    bool _ring_half_full = false;   ///< at the start of this iteration
    bool _overloaded = false;       ///< the budget ran out at least once
    uint64_t _overloaded_ns = 0;    ///< ... last at this time
    uint64_t _dropped = 0;
    uint64_t _admitted_proven = 0;
    uint64_t _deferred = 0;
};

}  // namespace control::handshake
