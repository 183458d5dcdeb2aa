// SPDX-License-Identifier: MIT
// See handshake_drain.hh.
#include "control/session/handshake_drain.hh"

namespace control::handshake {

void drain_budget::start(uint64_t now_ns, size_t backlog, size_t capacity) noexcept {
    _start_ns = now_ns;
    _admitted = 0;
    _proven = 0;
    _checked = 0;
    _ring_half_full = backlog > capacity / 2;
}

bool drain_budget::within_budget(uint64_t now_ns) noexcept {
    const uint64_t spent = now_ns > _start_ns ? now_ns - _start_ns : 0;
    if (_admitted >= _lim.max_messages || spent >= _lim.max_ns) {
        _overloaded = true;
        _overloaded_ns = now_ns;
        return false;
    }
    return true;
}

bool drain_budget::under_load(uint64_t now_ns) const noexcept {
    return _ring_half_full || (_overloaded && now_ns >= _overloaded_ns && now_ns - _overloaded_ns < _lim.load_hold_ns);
}

}  // namespace control::handshake
