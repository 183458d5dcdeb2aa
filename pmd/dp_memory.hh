// SPDX-License-Identifier: MIT
// Memory for per-peer state that every packet of a peer reads: expanded AEAD keys (through
// crypto::set_key_memory), their aead_key objects, replay windows. From DPDK's heap (rte_malloc:
// hugepages, as the mbufs) once dvped's EAL is up, so the state of thousands of peers sits in a
// few 2 MiB pages instead of a 4 KiB page or more each: with one packet per peer, a TLB miss per
// structure per packet was a large part of the many-peers cost (docs/performance.md "Per-peer
// state in hugepage memory"). Before the EAL (unit tests, config checks), when DPDK's heap has
// no room left, and in sanitizer builds (ASan sees only the C++ heap), the C++ heap. Objects of
// up to 4 KiB come from slabs, each size packed in chunks of its own (dp_memory.cc says why).
// DPDK's heap zeroes what it frees; slab slots are zeroed when handed out.
// Threads: any (rte_malloc is thread-safe); allocation on the control thread, never per packet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

namespace pmd {

/// `size` zeroed bytes aligned to `align` (a power of two, at most 4096), or nullptr.
[[nodiscard]] void* dp_zalloc(size_t size, size_t align) noexcept;

/// Frees memory from dp_zalloc(), or from ::operator new(size, std::align_val_t{align}) (which
/// heap it came from is told by its address). After the EAL is gone, DPDK memory is not freed
/// (it went with the EAL) -- and must not be touched either: objects in it are destroyed before
/// pmd::eal goes (control/daemon/daemon.cc teardown) or are trivially destructible. Freeing a
/// slab slot twice is not detected (the C++ heap under ASan is, where sanitizer builds put it).
void dp_free(void* p, size_t align) noexcept;

/// pmd::eal sets this after rte_eal_init and clears it before rte_eal_cleanup; tests that bring
/// up the EAL themselves may set it.
void dp_memory_use_dpdk(bool on) noexcept;

/// Whether dp_zalloc() tries DPDK's heap now (the EAL is up; never in a sanitizer build).
[[nodiscard]] bool dp_memory_uses_dpdk() noexcept;

struct dp_memory_stats {
    uint64_t dpdk_allocs = 0;     ///< allocations DPDK's heap served
    uint64_t heap_fallbacks = 0;  ///< allocations made while the EAL was up that DPDK could not serve
};
[[nodiscard]] dp_memory_stats dp_memory_counters() noexcept;

/// A std allocator over dp_zalloc/dp_free (std::allocate_shared, containers).
template <class T>
struct dp_allocator {
    using value_type = T;
    dp_allocator() noexcept = default;
    template <class U>
    dp_allocator(const dp_allocator<U>& /*other*/) noexcept {}
    T* allocate(size_t n) {
        void* p = dp_zalloc(n * sizeof(T), alignof(T) < 64 ? 64 : alignof(T));
        if (p == nullptr) {
            throw std::bad_alloc();
        }
        return static_cast<T*>(p);
    }
    void deallocate(T* p, size_t /*n*/) noexcept { dp_free(p, alignof(T) < 64 ? 64 : alignof(T)); }
    template <class U>
    bool operator==(const dp_allocator<U>& /*other*/) const noexcept {
        return true;
    }
};

}  // namespace pmd
