// SPDX-License-Identifier: MIT
// Overlay frames waiting for a peer's session (GVPE's max-queue / max-ttl): the workers hand a
// frame for a peer without a session to the control thread, which keeps it here until the
// session is up (then the control lane seals it, daemon_sessions.cc) or it expires. Per peer at
// most `max-queue` frames, the oldest dropped first (as GVPE); at most `max-ttl` seconds; all
// queues together at most `total_limit` frames (a quarter of the mempool), so waiting frames
// never starve the ports of buffers. Every frame that leaves is counted: sent or dropped, and a
// drop by its reason (drops()). The same class holds the packets a router waits to relay
// (sealed dvpe packets without outer headers, daemon.cc queue_relay): two instances.
// Threads: control thread only.
#pragma once

#include <rte_mbuf.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <utility>
#include <vector>

namespace control {

class frame_queue {
public:
    explicit frame_queue(size_t total_limit = 0) : _total_limit(total_limit) {}
    ~frame_queue() { clear(); }
    frame_queue(const frame_queue&) = delete;
    frame_queue& operator=(const frame_queue&) = delete;

    /// Takes `m` (owned from now on) for `peer`, to expire at `expires_tsc`; `max_queue` is the
    /// peer's limit (at least 1 is kept). Beyond the total limit the new frame is dropped.
    void push(uint16_t peer, rte_mbuf* m, unsigned max_queue, uint64_t expires_tsc);
    /// Drops every frame whose time is up.
    void expire(uint64_t now_tsc);
    /// Hands over the frames of every peer `ready` says yes to (in id order, oldest first):
    /// the caller owns them and counts each one with count_sent() or count_dropped().
    template <class Ready>
    [[nodiscard]] std::vector<std::pair<uint16_t, std::deque<rte_mbuf*>>> take_ready(Ready&& ready) {
        std::vector<std::pair<uint16_t, std::deque<rte_mbuf*>>> out;
        for (auto it = _q.begin(); it != _q.end();) {
            if (!ready(it->first)) {
                ++it;
                continue;
            }
            std::deque<rte_mbuf*> frames;
            for (const entry& e : it->second) {
                frames.push_back(e.m);
            }
            _total -= it->second.size();
            out.emplace_back(it->first, std::move(frames));
            it = _q.erase(it);
        }
        return out;
    }
    /// Drops `peer`'s frames (the node left the configuration).
    void drop_peer(uint16_t peer);
    /// Frees everything (shutdown; not counted as dropped).
    void clear();

    void set_total_limit(size_t n) { _total_limit = n; }
    /// Why frames were dropped: the peer's max-queue was full (the oldest went), max-ttl ran
    /// out, the total limit was reached (the new one went), or the caller's count_dropped()
    /// (the node left, the frame could not be sent).
    struct drop_counts {
        uint64_t max_queue = 0, max_ttl = 0, total_limit = 0, other = 0;
    };
    void count_sent(uint64_t n) { _sent += n; }
    void count_dropped(uint64_t n) { _drops.other += n; }
    /// Frames refused before push() (no such node, disabled): queued and dropped at once, so
    /// that queued() == sent() + dropped() + size() always holds.
    void count_refused(uint64_t n) {
        _queued += n;
        _drops.other += n;
    }
    [[nodiscard]] bool empty() const { return _total == 0; }
    [[nodiscard]] size_t size() const { return _total; }
    [[nodiscard]] uint64_t queued() const { return _queued; }  // ever taken by push()
    [[nodiscard]] uint64_t sent() const { return _sent; }
    [[nodiscard]] uint64_t dropped() const {
        return _drops.max_queue + _drops.max_ttl + _drops.total_limit + _drops.other;
    }
    [[nodiscard]] const drop_counts& drops() const { return _drops; }

private:
    struct entry {
        rte_mbuf* m;
        uint64_t expires_tsc;
    };
    size_t _total_limit;
    size_t _total = 0;
    uint64_t _queued = 0, _sent = 0;
    drop_counts _drops;
    std::map<uint16_t, std::deque<entry>> _q;
};

}  // namespace control
