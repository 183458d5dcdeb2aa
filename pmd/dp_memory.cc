// SPDX-License-Identifier: MIT
// Per-peer state memory; see dp_memory.hh.
#include "pmd/dp_memory.hh"

#include <rte_malloc.h>
#include <rte_memory.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace pmd {

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif
#else
constexpr bool sanitized = false;
#endif

std::atomic<bool> g_dpdk{false};
std::atomic<uint64_t> g_dpdk_allocs{0};
std::atomic<uint64_t> g_fallbacks{0};

// The address ranges DPDK reserved for its memory (memseg lists: the whole range is reserved at
// rte_eal_init, pages are mapped in it as the heap grows), noted when the EAL comes up: dp_free
// tells DPDK memory by its address, also after rte_eal_cleanup, when DPDK itself no longer can.
struct range {
    uintptr_t lo, hi;
};
constexpr unsigned max_ranges = 128;  // RTE_MAX_MEMSEG_LISTS
range g_ranges[max_ranges];
std::atomic<unsigned> g_n_ranges{0};

int note_list(const rte_memseg_list* msl, void* /*arg*/) {
    const unsigned n = g_n_ranges.load(std::memory_order_relaxed);
    if (n < max_ranges && msl->base_va != nullptr && msl->len != 0) {
        const auto lo = reinterpret_cast<uintptr_t>(msl->base_va);
        g_ranges[n] = range{lo, lo + msl->len};
        g_n_ranges.store(n + 1, std::memory_order_release);
    }
    return 0;
}

bool in_dpdk(const void* p) noexcept {
    const auto a = reinterpret_cast<uintptr_t>(p);
    const unsigned n = g_n_ranges.load(std::memory_order_acquire);
    for (unsigned i = 0; i < n; ++i) {
        if (a >= g_ranges[i].lo && a < g_ranges[i].hi) {
            return true;
        }
    }
    return false;
}

// Small objects (expanded keys: 2.7 KiB, key objects: 64 B) come from slabs, chunks of slots of
// one size carved from DPDK's heap, so that each size's objects lie packed together, not between
// the 34 KiB replay windows allocated with them (peer by peer: receive key, windows, send key).
// Measured: packed send keys made encrypt over 1 000 peers ~20 % faster, in node-id and in
// shuffled order (docs/performance.md "Per-peer state in hugepage memory"). A chunk is never
// given back: the slabs hold the most keys there ever were at once.
constexpr size_t slab_max = 4096;     // larger: rte_malloc each
constexpr size_t chunk_bytes = 128 << 10;
struct chunk {
    uintptr_t lo, hi;
    size_t slot;
};
std::mutex g_slab_mu;
std::map<size_t, std::vector<void*>> g_free;  // slot size -> free slots, the lowest address last
std::vector<chunk> g_chunks;

void* slab_alloc(size_t size) noexcept {
    const size_t slot = (size + 63) & ~size_t{63};
    void* p = nullptr;
    try {
        const std::lock_guard<std::mutex> lock(g_slab_mu);
        auto& fl = g_free[slot];
        if (fl.empty()) {
            const size_t n = std::max<size_t>(16, chunk_bytes / slot);
            auto* m = static_cast<uint8_t*>(rte_malloc("dvpe_peer_state", n * slot, 64));
            if (m == nullptr) {
                return nullptr;
            }
            g_chunks.push_back(chunk{reinterpret_cast<uintptr_t>(m), reinterpret_cast<uintptr_t>(m + n * slot), slot});
            fl.reserve(fl.size() + n);
            for (size_t i = n; i-- > 0;) {
                fl.push_back(m + i * slot);  // handed out in address order
            }
        }
        p = fl.back();
        fl.pop_back();
    } catch (...) {  // std::bad_alloc of the bookkeeping
        return nullptr;
    }
    std::memset(p, 0, size);
    return p;
}

/// True if p is a slab slot (then freed into its slab).
bool slab_free(void* p) noexcept {
    const auto a = reinterpret_cast<uintptr_t>(p);
    const std::lock_guard<std::mutex> lock(g_slab_mu);
    for (const chunk& c : g_chunks) {
        if (a >= c.lo && a < c.hi) {
            try {
                g_free[c.slot].push_back(p);
            } catch (...) {  // cannot note it: the slot is lost, nothing else
            }
            return true;
        }
    }
    return false;
}

}  // namespace

void* dp_zalloc(size_t size, size_t align) noexcept {
    if (size == 0 || align == 0 || (align & (align - 1)) != 0 || align > 4096) {
        return nullptr;
    }
    if (!sanitized && g_dpdk.load(std::memory_order_acquire)) {
        void* p = size <= slab_max && align <= 64 ? slab_alloc(size)
                                                  : rte_zmalloc("dvpe_peer_state", size, static_cast<unsigned>(align));
        if (p != nullptr) {
            g_dpdk_allocs.fetch_add(1, std::memory_order_relaxed);
            return p;
        }
        g_fallbacks.fetch_add(1, std::memory_order_relaxed);
    }
    void* p = ::operator new(size, std::align_val_t{align}, std::nothrow);
    if (p != nullptr) {
        std::memset(p, 0, size);
    }
    return p;
}

void dp_free(void* p, size_t align) noexcept {
    if (p == nullptr) {
        return;
    }
    // The address says where p came from, whatever the flag was when it was allocated.
    if (in_dpdk(p)) {
        if (g_dpdk.load(std::memory_order_acquire) && !slab_free(p)) {
            rte_free(p);
        }
        return;
    }
    ::operator delete(p, std::align_val_t{align});
}

void dp_memory_use_dpdk(bool on) noexcept {
    if (on && g_n_ranges.load(std::memory_order_acquire) == 0) {
        // Once: the lists of one EAL (a process brings up one). Before the flag, so that every
        // allocation dp_zalloc makes from DPDK lies in a noted range.
        rte_memseg_list_walk(note_list, nullptr);
    }
    g_dpdk.store(on && g_n_ranges.load(std::memory_order_acquire) != 0, std::memory_order_release);
}

bool dp_memory_uses_dpdk() noexcept { return !sanitized && g_dpdk.load(std::memory_order_acquire); }

dp_memory_stats dp_memory_counters() noexcept {
    return {g_dpdk_allocs.load(std::memory_order_relaxed), g_fallbacks.load(std::memory_order_relaxed)};
}

}  // namespace pmd
