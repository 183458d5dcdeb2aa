// SPDX-License-Identifier: MIT
// The bridge's MAC table as the workers read it (docs/site-gateways.md "MAC table"): an
// immutable open-addressed hash table from a MAC address to its owner -- 0 for a host on our own
// site LAN, else the node id of the peer behind which it lives -- built by the control thread
// (control/daemon/mac_learner.hh) and published inside the dataplane snapshot (engine/rcu.hh),
// like the peers. Workers never insert: what they see that the table does not say (a new source
// MAC, one that moved) they report as a learn event through a ring, and the control thread, which
// alone applies the limits and aging, publishes the next table.
//
// Why not rte_hash: lookups are the hot part (one per frame each way, two on the LAN side) and
// this table is one 8-byte slot per entry, one cache line per probe, no key store behind a
// bucket; learning is rare and batched by control, so the table need not be writable under
// readers, which is what rte_hash's lock-free mode pays for. The one mutable part is `seen`,
// the coarse time each entry was last used, which workers refresh at most once per second per
// entry and control reads for aging.
// Threads: built by the control thread; lookup()/touch() from any worker.
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace engine {

/// A MAC address as the table keys it: its six bytes in the low 48 bits (memory order).
inline uint64_t mac_key(const uint8_t* mac) noexcept {
    uint64_t k = 0;
    std::memcpy(&k, mac, 6);
    return k;
}

/// Group (multicast/broadcast) bit of a key: the lowest bit of the first byte.
inline bool mac_key_is_group(uint64_t k) noexcept { return (k & 1) != 0; }

static_assert(sizeof(void*) == 8, "learn events carry MAC and owner in a pointer's 64 bits");

/// A learn event a worker reports (through the learn ring, as the ring object's value): the MAC
/// and the owner it was seen at (0: our LAN). Bit 63 set so no event is a null pointer.
inline void* learn_event(uint64_t mac, uint16_t owner) noexcept {
    return reinterpret_cast<void*>(mac | static_cast<uint64_t>(owner & 0xfff) << 48 | uint64_t{1} << 63);
}
inline uint64_t learn_event_mac(const void* e) noexcept {
    return reinterpret_cast<uintptr_t>(e) & 0xffffffffffffULL;
}
inline uint16_t learn_event_owner(const void* e) noexcept {
    return static_cast<uint16_t>(reinterpret_cast<uintptr_t>(e) >> 48 & 0xfff);
}

class mac_table {
public:
    static constexpr uint16_t local = 0;  // owner of a MAC on our own site LAN
    static constexpr int none = -1;

    struct entry {
        uint64_t mac;
        uint16_t owner;
        uint32_t seen;  // coarse seconds (dataplane_snapshot::clock) it was last used
        bool is_static = false;  // a `bridge-mac` line: learning never moves it
    };

    /// A table of `entries` (distinct MACs, owners <= 4095), at most half full. `seed` picks the
    /// hash (multiply-shift by an odd multiplier): the control thread draws it at random, so
    /// nobody outside can choose MACs that pile up on one slot (a probe chain as long as a
    /// peer's quota would cost every lookup that crosses it).
    explicit mac_table(const std::vector<entry>& entries, uint64_t seed = 0x9e3779b97f4a7c15ULL)
        : _mult(seed | 1) {
        unsigned bits = 4;
        while ((size_t{1} << bits) < entries.size() * 2) {
            ++bits;
        }
        _shift = 64 - bits;
        _mask = (uint32_t{1} << bits) - 1;
        _slots.assign(size_t{1} << bits, 0);
        _seen = std::make_unique<std::atomic<uint32_t>[]>(size_t{1} << bits);
        for (const entry& e : entries) {
            uint32_t i = home(e.mac);
            while (_slots[i] != 0) {
                i = (i + 1) & _mask;
            }
            _slots[i] = e.mac | static_cast<uint64_t>(e.owner & 0xfff) << 48 | valid | (e.is_static ? fixed : 0);
            _seen[i].store(e.seen, std::memory_order_relaxed);
            ++_size;
        }
    }

    /// Slot index of mac, or -1.
    [[nodiscard]] int find(uint64_t mac) const noexcept {
        for (uint32_t i = home(mac);; i = (i + 1) & _mask) {
            const uint64_t s = _slots[i];
            if (s == 0) {
                return none;
            }
            if ((s & mac_bits) == mac) {
                return static_cast<int>(i);
            }
        }
    }
    /// Starts loading mac's home slot (a lookup a few frames ahead: the table is larger than L1).
    void prefetch(uint64_t mac) const noexcept { __builtin_prefetch(&_slots[home(mac)]); }
    [[nodiscard]] uint16_t owner_at(int slot) const noexcept {
        return static_cast<uint16_t>(_slots[static_cast<uint32_t>(slot)] >> 48 & 0xfff);
    }
    /// A `bridge-mac` entry (learning never moves it).
    [[nodiscard]] bool static_at(int slot) const noexcept {
        return (_slots[static_cast<uint32_t>(slot)] & fixed) != 0;
    }
    /// The coarse second the entry was last used.
    [[nodiscard]] uint32_t seen_at(int slot) const noexcept {
        return _seen[static_cast<uint32_t>(slot)].load(std::memory_order_relaxed);
    }
    /// Marks the entry used at `now` (a store only when the second changed).
    void touch(int slot, uint32_t now) const noexcept {
        std::atomic<uint32_t>& s = _seen[static_cast<uint32_t>(slot)];
        if (s.load(std::memory_order_relaxed) != now) {
            s.store(now, std::memory_order_relaxed);
        }
    }

    [[nodiscard]] size_t size() const noexcept { return _size; }
    /// Every entry with its last use (control: to carry ages into the next table).
    [[nodiscard]] std::vector<entry> entries() const {
        std::vector<entry> out;
        out.reserve(_size);
        for (uint32_t i = 0; i <= _mask; ++i) {
            if (_slots[i] != 0) {
                out.push_back({_slots[i] & mac_bits, owner_at(static_cast<int>(i)),
                               _seen[i].load(std::memory_order_relaxed), (_slots[i] & fixed) != 0});
            }
        }
        return out;
    }

private:
    static constexpr uint64_t mac_bits = 0xffffffffffffULL;
    static constexpr uint64_t valid = uint64_t{1} << 63;
    static constexpr uint64_t fixed = uint64_t{1} << 62;  // static entry
    [[nodiscard]] uint32_t home(uint64_t mac) const noexcept {
        return static_cast<uint32_t>((mac * _mult) >> _shift) & _mask;
    }
    uint64_t _mult;
    std::vector<uint64_t> _slots;
    std::unique_ptr<std::atomic<uint32_t>[]> _seen;
    unsigned _shift = 60;
    uint32_t _mask = 15;
    size_t _size = 0;
};

}  // namespace engine
