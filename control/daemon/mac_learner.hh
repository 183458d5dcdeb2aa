// SPDX-License-Identifier: MIT
// The bridge's MAC learner (docs/site-gateways.md "MAC table"): the control thread's side of the
// MAC table. It owns the entries -- static ones from `bridge-mac` lines and learned ones from the
// workers' learn events -- applies the limits and aging, and builds the immutable
// engine::mac_table the workers read (published in the dataplane snapshot).
// Rules:
//  - a static entry never ages, is never moved by learning (a report at another owner is counted
//    static_conflicts) and counts toward `total` but not toward its owner's `per_owner`;
//  - a new learned MAC whose owner already has `per_owner` learned entries, or when the table
//    holds `total` entries, is refused (limit_dropped): nobody else's entry is ever evicted, so a
//    peer flooding random source MACs fills only its own quota;
//  - a learned MAC reported at another owner moves there (moved), unless that owner's quota is
//    full (limit_dropped, the entry stays where it was);
//  - a learned entry unused for age_s seconds (last use: the later of its learn/move/refresh time
//    and the workers' `seen` stamp taken by harvest()) is removed (aged); age_s 0: never.
// Memory is bounded by `total` (plus the static entries if they alone exceed it) whatever is
// reported: one map node per accepted entry, nothing per refused event.
// DPDK-free. Threads: control thread only.
#pragma once

#include "engine/mac_table.hh"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

namespace control {

struct mac_learner_limits {
    size_t total = 16384;     // mac-table-size: entries, static and learned
    size_t per_owner = 4096;  // mac-limit-per-peer: learned entries per owner (peer, or 0: our LAN)
    uint32_t age_s = 300;     // mac-age: seconds; 0 never ages
};

struct mac_learner_counters {
    uint64_t learned = 0;           // new learned entries
    uint64_t aged = 0;              // learned entries removed by age()
    uint64_t moved = 0;             // learned entries moved to another owner
    uint64_t limit_dropped = 0;     // refused learns and moves, and entries dropped by a shrink
    uint64_t static_conflicts = 0;  // a static MAC reported at another owner
};

class mac_learner {
public:
    static constexpr uint16_t max_owner = 0xfff;  // owners are 12 bits in the table and events

    explicit mac_learner(mac_learner_limits l);

    /// New limits (reload). Keeps the entries; if they exceed the new limits, the newest learned
    /// entries (by learn or move) go, first per owner then for the total, counted limit_dropped.
    void set_limits(mac_learner_limits l);
    [[nodiscard]] const mac_learner_limits& limits() const noexcept { return _limits; }

    /// Replaces all static entries (bridge-mac lines) at once: (mac_key, owner). A learned entry
    /// for one of these MACs is replaced by the static one. Group MACs, keys above 48 bits and
    /// owners above max_owner are ignored; for a MAC listed twice the last line wins. If the
    /// table is then above `total`, the newest learned entries go (limit_dropped); static ones
    /// are always kept.
    void set_static(const std::vector<std::pair<uint64_t, uint16_t>>& s);

    /// One learn event from a worker (engine::learn_event_mac/owner) at coarse time now_s.
    /// True if the table changed (a new entry or a move): the next table must be published.
    /// A group MAC, a key above 48 bits or an owner above max_owner is ignored (false).
    bool learn(uint64_t mac, uint16_t owner, uint32_t now_s);

    /// Takes the workers' last-use stamps from the currently published table into the entries
    /// (the later of both).
    void harvest(const engine::mac_table& published);

    /// Removes learned entries unused for age_s (now_s - last use >= age_s). True if any went.
    bool age(uint32_t now_s);

    /// Drops every learned entry of owner (a peer removed by reload, or its session reset); not
    /// counted. True if any went.
    bool forget_owner(uint16_t owner);

    /// The table for the workers: every entry with its last use as `seen`.
    [[nodiscard]] std::unique_ptr<engine::mac_table> build() const;

    [[nodiscard]] size_t size() const noexcept { return _entries.size(); }
    [[nodiscard]] size_t static_count() const noexcept { return _static; }
    /// Learned entries of owner (static entries are not counted).
    [[nodiscard]] size_t owned_by(uint16_t owner) const noexcept {
        return owner <= max_owner ? _per_owner[owner] : 0;
    }
    [[nodiscard]] const mac_learner_counters& counters() const noexcept { return _counters; }

    struct info {
        uint64_t mac;
        uint16_t owner;
        bool is_static;
        uint32_t last_used_s;
    };
    /// Every entry, in MAC address order (for the dvpectl/status listing).
    [[nodiscard]] std::vector<info> entries() const;

private:
    struct entry {
        uint64_t seq;  // learn/move order (set_limits and set_static drop the newest first)
        uint32_t last_used;
        uint16_t owner;
        bool is_static;
    };
    void erase_learned(std::unordered_map<uint64_t, entry>::iterator it);
    void enforce_limits();

    mac_learner_limits _limits;
    std::unordered_map<uint64_t, entry> _entries;
    std::vector<uint32_t> _per_owner;  // learned entries per owner, indexed 0..max_owner
    size_t _static = 0;
    uint64_t _seq = 0;
    uint64_t _seed;  // the table's hash (engine::mac_table), drawn at random once
    mac_learner_counters _counters;
};

/// {"size","static","learned" (entries now), "learned_total","aged","moved","limit_dropped",
///  "static_conflicts" (counters), "limits":{"total","per_owner","age_s"}}.
nlohmann::json mac_learner_json(const mac_learner& l);

}  // namespace control
