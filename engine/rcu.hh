// SPDX-License-Identifier: MIT
// Read-copy-update between the control thread (single writer) and the workers (readers), on
// DPDK's QSBR (rte_rcu_qsbr.h; docs/design.md §4: configuration changes publish immutable snapshots).
//
// Workers read the current snapshot through an atomic pointer and report a quiescent state
// once per loop iteration (they hold no snapshot reference across iterations). They go offline
// while sleeping idle, so a quiet worker never delays the writer. The control thread publishes
// a new snapshot by swapping the pointer and retires the old one: it is freed once every online
// worker has reported a quiescent state after the swap. Retiring never blocks: poll() frees what
// is safe, called from the control loop.
//
// Threads: register_reader() at startup (main thread); quiescent()/online()/offline() on the
// reader's own lcore; publish()/retire()/poll() on the control thread only.
#pragma once

#include <rte_rcu_qsbr.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>

namespace engine {

class rcu {
public:
    /// Throws std::runtime_error if the QSBR variable cannot be allocated (startup only).
    explicit rcu(unsigned max_readers);
    ~rcu();
    rcu(const rcu&) = delete;
    rcu& operator=(const rcu&) = delete;

    /// Startup: reader `id` (0..max_readers-1, the worker index) takes part; it starts online.
    void register_reader(unsigned id);

    // ---- reader side (worker lcore `id`) --------------------------------------------------
    void quiescent(unsigned id) noexcept { rte_rcu_qsbr_quiescent(_v, id); }
    void offline(unsigned id) noexcept { rte_rcu_qsbr_thread_offline(_v, id); }
    void online(unsigned id) noexcept { rte_rcu_qsbr_thread_online(_v, id); }

    // ---- writer side (control thread) -----------------------------------------------------
    /// Runs `free_fn` once every reader has passed a quiescent state after this call.
    void retire(std::function<void()> free_fn);
    /// Frees what has become safe; returns how many retirements are still pending.
    size_t poll();
    /// Waits (spinning, bounded by the readers' iteration time) until everything retired so
    /// far is freed. For shutdown and tests.
    void drain();

private:
    struct pending {
        uint64_t token;
        std::function<void()> free_fn;
    };
    rte_rcu_qsbr* _v = nullptr;
    std::deque<pending> _pending;
};

/// An immutable T published by the control thread and read by workers (see rcu above).
template <typename T>
class published {
public:
    explicit published(rcu& r) : _rcu(r) {}
    ~published() { delete _cur.load(std::memory_order_relaxed); }
    published(const published&) = delete;
    published& operator=(const published&) = delete;

    /// Reader: the current version; valid until the reader's next quiescent().
    [[nodiscard]] const T* get() const noexcept { return _cur.load(std::memory_order_acquire); }

    /// Writer: installs `next`; the previous version is freed after a grace period.
    void publish(std::unique_ptr<T> next) {
        const T* old = _cur.exchange(next.release(), std::memory_order_acq_rel);
        if (old != nullptr) {
            _rcu.retire([old] { delete old; });
        }
    }

private:
    rcu& _rcu;
    std::atomic<const T*> _cur{nullptr};
};

}  // namespace engine
