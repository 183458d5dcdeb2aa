// SPDX-License-Identifier: MIT
// The bridge's MAC learner: see mac_learner.hh.
#include "control/daemon/mac_learner.hh"

#include <random>

#include <algorithm>
#include <cstring>
#include <tuple>

namespace control {

namespace {

constexpr uint64_t mac_bits = 0xffffffffffffULL;

/// A key as a number in address order (first byte most significant), for sorting listings.
uint64_t address_order(uint64_t key) noexcept {
    uint8_t b[8];
    std::memcpy(b, &key, sizeof b);
    uint64_t v = 0;
    for (int i = 0; i < 6; ++i) {
        v = v << 8 | b[i];
    }
    return v;
}

}  // namespace

mac_learner::mac_learner(mac_learner_limits l)
    : _limits(l), _per_owner(size_t{max_owner} + 1, 0), _seed(std::random_device{}() * 0x100000001ULL ^ std::random_device{}()) {
    _entries.reserve(l.total);
}

void mac_learner::set_limits(mac_learner_limits l) {
    _limits = l;
    if (l.total > _entries.size()) {
        _entries.reserve(l.total);
    }
    enforce_limits();
}

void mac_learner::erase_learned(std::unordered_map<uint64_t, entry>::iterator it) {
    --_per_owner[it->second.owner];
    _entries.erase(it);
}

void mac_learner::set_static(const std::vector<std::pair<uint64_t, uint16_t>>& s) {
    // Old static entries go; one listed again keeps its last use (listing only: statics never age).
    std::unordered_map<uint64_t, uint32_t> old_used;
    for (auto it = _entries.begin(); it != _entries.end();) {
        if (it->second.is_static) {
            old_used.emplace(it->first, it->second.last_used);
            it = _entries.erase(it);
        } else {
            ++it;
        }
    }
    _static = 0;
    for (const auto& [mac, owner] : s) {
        if (mac > mac_bits || engine::mac_key_is_group(mac) || owner > max_owner) {
            continue;
        }
        auto it = _entries.find(mac);
        if (it != _entries.end() && !it->second.is_static) {
            erase_learned(it);
            it = _entries.end();
        }
        if (it != _entries.end()) {  // listed twice: the last line wins
            it->second.owner = owner;
            continue;
        }
        const auto u = old_used.find(mac);
        _entries.emplace(mac, entry{0, u != old_used.end() ? u->second : 0, owner, true});
        ++_static;
    }
    enforce_limits();
}

void mac_learner::enforce_limits() {
    const bool owner_over =
        std::any_of(_per_owner.begin(), _per_owner.end(), [&](uint32_t n) { return n > _limits.per_owner; });
    if (!owner_over && _entries.size() <= _limits.total) {
        return;
    }
    // Learned entries oldest first; keep per owner up to per_owner, then the oldest that fit the
    // total beside the static entries.
    std::vector<std::tuple<uint64_t, uint64_t, uint16_t>> learned;  // (seq, mac, owner)
    learned.reserve(_entries.size() - _static);
    for (const auto& [mac, e] : _entries) {
        if (!e.is_static) {
            learned.emplace_back(e.seq, mac, e.owner);
        }
    }
    std::sort(learned.begin(), learned.end());
    std::vector<uint32_t> kept_per_owner(size_t{max_owner} + 1, 0);
    const size_t room = _limits.total > _static ? _limits.total - _static : 0;
    size_t kept = 0;
    for (const auto& [seq, mac, owner] : learned) {
        if (kept_per_owner[owner] < _limits.per_owner && kept < room) {
            ++kept_per_owner[owner];
            ++kept;
        } else {
            erase_learned(_entries.find(mac));
            ++_counters.limit_dropped;
        }
    }
}

bool mac_learner::learn(uint64_t mac, uint16_t owner, uint32_t now_s) {
    if (mac > mac_bits || engine::mac_key_is_group(mac) || owner > max_owner) {
        return false;
    }
    const auto it = _entries.find(mac);
    if (it != _entries.end()) {
        entry& e = it->second;
        if (e.owner == owner) {  // still there: a refresh, nothing to publish
            e.last_used = std::max(e.last_used, now_s);
            return false;
        }
        if (e.is_static) {
            ++_counters.static_conflicts;
            return false;
        }
        if (_per_owner[owner] >= _limits.per_owner) {
            ++_counters.limit_dropped;
            return false;
        }
        --_per_owner[e.owner];
        ++_per_owner[owner];
        e.owner = owner;
        e.last_used = std::max(e.last_used, now_s);
        e.seq = ++_seq;
        ++_counters.moved;
        return true;
    }
    if (_per_owner[owner] >= _limits.per_owner || _entries.size() >= _limits.total) {
        ++_counters.limit_dropped;
        return false;
    }
    _entries.emplace(mac, entry{++_seq, now_s, owner, false});
    ++_per_owner[owner];
    ++_counters.learned;
    return true;
}

void mac_learner::harvest(const engine::mac_table& published) {
    for (const engine::mac_table::entry& p : published.entries()) {
        const auto it = _entries.find(p.mac);
        if (it != _entries.end()) {
            it->second.last_used = std::max(it->second.last_used, p.seen);
        }
    }
}

bool mac_learner::age(uint32_t now_s) {
    if (_limits.age_s == 0) {
        return false;
    }
    bool any = false;
    for (auto it = _entries.begin(); it != _entries.end();) {
        const entry& e = it->second;
        if (!e.is_static && now_s >= e.last_used && now_s - e.last_used >= _limits.age_s) {
            --_per_owner[e.owner];
            it = _entries.erase(it);
            ++_counters.aged;
            any = true;
        } else {
            ++it;
        }
    }
    return any;
}

bool mac_learner::forget_owner(uint16_t owner) {
    if (owner > max_owner || _per_owner[owner] == 0) {
        return false;
    }
    for (auto it = _entries.begin(); it != _entries.end();) {
        if (!it->second.is_static && it->second.owner == owner) {
            it = _entries.erase(it);
        } else {
            ++it;
        }
    }
    _per_owner[owner] = 0;
    return true;
}

std::unique_ptr<engine::mac_table> mac_learner::build() const {
    std::vector<engine::mac_table::entry> v;
    v.reserve(_entries.size());
    for (const auto& [mac, e] : _entries) {
        v.push_back({mac, e.owner, e.last_used, e.is_static});
    }
    return std::make_unique<engine::mac_table>(v, _seed);
}

std::vector<mac_learner::info> mac_learner::entries() const {
    std::vector<info> out;
    out.reserve(_entries.size());
    for (const auto& [mac, e] : _entries) {
        out.push_back({mac, e.owner, e.is_static, e.last_used});
    }
    std::sort(out.begin(), out.end(),
              [](const info& a, const info& b) { return address_order(a.mac) < address_order(b.mac); });
    return out;
}

nlohmann::json mac_learner_json(const mac_learner& l) {
    const mac_learner_counters& c = l.counters();
    const mac_learner_limits& lim = l.limits();
    return {
        {"size", l.size()},
        {"static", l.static_count()},
        {"learned", l.size() - l.static_count()},
        {"learned_total", c.learned},
        {"aged", c.aged},
        {"moved", c.moved},
        {"limit_dropped", c.limit_dropped},
        {"static_conflicts", c.static_conflicts},
        {"limits", {{"total", lim.total}, {"per_owner", lim.per_owner}, {"age_s", lim.age_s}}},
    };
}

}  // namespace control
