// SPDX-License-Identifier: MIT
// QSBR-based RCU for snapshots; see rcu.hh.
#include "engine/rcu.hh"

#include <rte_malloc.h>
#include <rte_pause.h>

#include <stdexcept>
#include <string>

namespace engine {

rcu::rcu(unsigned max_readers) {
    size_t sz = rte_rcu_qsbr_get_memsize(max_readers);
    _v = static_cast<rte_rcu_qsbr*>(rte_zmalloc("dvpe_rcu", sz, RTE_CACHE_LINE_SIZE));
    if (_v == nullptr || rte_rcu_qsbr_init(_v, max_readers) != 0) {
        rte_free(_v);
        throw std::runtime_error("cannot set up RCU for " + std::to_string(max_readers) + " readers");
    }
}

rcu::~rcu() {
    for (auto& p : _pending) {
        p.free_fn();  // readers are gone by now (workers joined before the rcu is destroyed)
    }
    rte_free(_v);
}

void rcu::register_reader(unsigned id) {
    if (rte_rcu_qsbr_thread_register(_v, id) != 0) {
        throw std::runtime_error("cannot register RCU reader " + std::to_string(id));
    }
    rte_rcu_qsbr_thread_online(_v, id);
}

void rcu::retire(std::function<void()> free_fn) {
    _pending.push_back({rte_rcu_qsbr_start(_v), std::move(free_fn)});
}

size_t rcu::poll() {
    while (!_pending.empty() && rte_rcu_qsbr_check(_v, _pending.front().token, false) == 1) {
        _pending.front().free_fn();
        _pending.pop_front();
    }
    return _pending.size();
}

void rcu::drain() {
    while (poll() != 0) {
        rte_pause();
    }
}

}  // namespace engine
