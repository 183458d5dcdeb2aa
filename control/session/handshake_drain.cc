// SPDX-License-Identifier: MIT
// See handshake_drain.hh.
#include "control/session/handshake_drain.hh"

#include <algorithm>

namespace control::handshake {

void drain_budget::start(uint64_t now_ns, size_t backlog, size_t capacity) noexcept {
    _start_ns = now_ns;
    _admitted = 0;
    _proven = 0;
    _checked = 0;
    _n_sources = 0;
    _ring_half_full = backlog > capacity / 2;
}

bool drain_budget::within_budget(uint64_t now_ns) noexcept {
    if (spent(now_ns)) {
        _overloaded = true;
        _overloaded_ns = now_ns;
        return false;
    }
    return true;
}

drain_budget::source_slot* drain_budget::proven_slot(std::span<const uint8_t> source_ip) noexcept {
    if (source_ip.empty()) {
        return nullptr;
    }
    std::array<uint8_t, 8> key{};
    std::copy_n(source_ip.begin(), std::min<size_t>(source_ip.size(), key.size()), key.begin());
    for (uint32_t i = 0; i < _n_sources; ++i) {
        if (_sources[i].key == key) {
            return &_sources[i];
        }
    }
    if (_n_sources == _sources.size()) {
        return &_sources[_sources.size() - 1];  // cannot happen: max_proven <= the slots; share the last
    }
    _sources[_n_sources] = {key, 0};
    return &_sources[_n_sources++];
}

bool drain_budget::under_load(uint64_t now_ns) const noexcept {
    return _ring_half_full || (_overloaded && now_ns >= _overloaded_ns && now_ns - _overloaded_ns < _lim.load_hold_ns);
}

}  // namespace control::handshake
