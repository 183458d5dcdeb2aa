// SPDX-License-Identifier: MIT
// Frames waiting for a session; see frame_queue.hh.
#include "control/daemon/frame_queue.hh"

#include <algorithm>

namespace control {

void frame_queue::push(uint16_t peer, rte_mbuf* m, unsigned max_queue, uint64_t expires_tsc) {
    ++_queued;
    if (_total >= _total_limit) {
        rte_pktmbuf_free(m);
        ++_drops.total_limit;
        return;
    }
    auto& q = _q[peer];
    while (q.size() >= std::max(1u, max_queue)) {  // GVPE drops the oldest first
        rte_pktmbuf_free(q.front().m);
        q.pop_front();
        --_total;
        ++_drops.max_queue;
    }
    q.push_back({m, expires_tsc});
    ++_total;
}

void frame_queue::expire(uint64_t now_tsc) {
    for (auto it = _q.begin(); it != _q.end();) {
        auto& q = it->second;
        while (!q.empty() && q.front().expires_tsc <= now_tsc) {
            rte_pktmbuf_free(q.front().m);
            q.pop_front();
            --_total;
            ++_drops.max_ttl;
        }
        it = q.empty() ? _q.erase(it) : std::next(it);
    }
}

void frame_queue::drop_peer(uint16_t peer) {
    auto it = _q.find(peer);
    if (it == _q.end()) {
        return;
    }
    for (const entry& e : it->second) {
        rte_pktmbuf_free(e.m);
    }
    _drops.other += it->second.size();
    _total -= it->second.size();
    _q.erase(it);
}

void frame_queue::clear() {
    for (auto& [id, q] : _q) {
        for (const entry& e : q) {
            rte_pktmbuf_free(e.m);
        }
    }
    _q.clear();
    _total = 0;
}

}  // namespace control
