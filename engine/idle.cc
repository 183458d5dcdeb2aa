// SPDX-License-Identifier: MIT
// What an idle worker does (docs/host-path.md "Idle workers"): idle-wait = sleep pauses
// idle-sleep-us and polls again; idle-wait = interrupt blocks in epoll on its rx queues'
// file descriptors -- a dvpe_tap queue's TAP fd, an ethdev queue's rx interrupt fd
// (rte_eth_dev_rx_intr_ctl_q_get_fd, as DPDK's l3fwd-power) -- and an eventfd the control
// thread signals after it queues a frame for this worker (wake()), so an idle gateway costs no
// CPU and answers its first packet without waiting out a sleep. A worker with a queue that has
// no interrupt (net_af_packet, net_pcap, net_null, ...) falls back to sleeping; it asks again
// once a second while idle (a memif queue gets its interrupt fd only once its peer connected).
#include "engine/worker.hh"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rte_ethdev.h>

namespace engine {

namespace {
constexpr int max_wait_ms = 100;  // the longest block: stop() is noticed within it
}

void worker::setup_idle() noexcept {
    if (!_s.idle_interrupt) {
        return;
    }
    teardown_idle();
    // Capacity for every queue: the once-a-second retry runs on the worker's lcore, which
    // never allocates (clear() keeps it).
    _intr_queues.reserve(_s.rx_queues.size());
    _intr_queues.clear();
    _epfd = ::epoll_create1(EPOLL_CLOEXEC);
    _wakefd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (_epfd < 0 || _wakefd < 0) {
        _idle_missing_q = -1;
        return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = ~0u;
    ::epoll_ctl(_epfd, EPOLL_CTL_ADD, _wakefd, &ev);
    for (unsigned i = 0; i < _s.rx_queues.size(); ++i) {
        const rx_queue_ref& q = _s.rx_queues[i];
        int fd = -1;
        if (q.tap != nullptr) {
            fd = q.tap->fd(q.queue_id);
        } else {
            fd = rte_eth_dev_rx_intr_ctl_q_get_fd(q.port_id, q.queue_id);
            if (fd >= 0) {
                _intr_queues.push_back(i);
            }
        }
        ev.data.u32 = i;
        if (fd < 0 || ::epoll_ctl(_epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            _idle_missing_q = static_cast<int>(i);
            _intr_queues.clear();
            return;
        }
    }
    _idle_interrupts = true;
}

void worker::teardown_idle() noexcept {
    if (_epfd >= 0) {
        ::close(_epfd);
        _epfd = -1;
    }
    if (_wakefd >= 0) {
        ::close(_wakefd);
        _wakefd = -1;
    }
}

std::string worker::idle_interrupts_missing() const {
    if (_idle_missing_q == -1) {
        return "epoll/eventfd unavailable";
    }
    if (_idle_missing_q < 0 || static_cast<unsigned>(_idle_missing_q) >= _s.rx_queues.size()) {
        return "";
    }
    const rx_queue_ref& q = _s.rx_queues[static_cast<unsigned>(_idle_missing_q)];
    return "port " + std::to_string(q.port_id) + " queue " + std::to_string(q.queue_id) +
           " has no rx interrupt yet; asked again once a second";
}

void worker::wake() noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);  // the ring enqueue before the flag read
    if (_waiting.load(std::memory_order_relaxed) && _wakefd >= 0) {
        uint64_t one = 1;
        [[maybe_unused]] ssize_t r = ::write(_wakefd, &one, sizeof one);
    }
}

void worker::idle_wait() noexcept {
    if (!_idle_interrupts && _s.idle_interrupt) {
        const uint64_t now = rte_get_tsc_cycles();
        if (now >= _idle_retry) {
            _idle_retry = now + rte_get_tsc_hz();
            setup_idle();
        }
    }
    if (!_idle_interrupts) {
        rte_delay_us_sleep(_s.idle_sleep_us);
        return;
    }
    for (unsigned i : _intr_queues) {
        const rx_queue_ref& q = _s.rx_queues[i];
        rte_eth_dev_rx_intr_enable(q.port_id, q.queue_id);
    }
    _waiting.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // the flag before the ring read (wake())
    if (rte_ring_empty(_s.from_control)) {
        epoll_event ev[8];
        const int n = ::epoll_wait(_epfd, ev, 8, max_wait_ms);
        for (int k = 0; k < n; ++k) {
            if (ev[k].data.u32 == ~0u) {
                uint64_t v;
                [[maybe_unused]] ssize_t r = ::read(_wakefd, &v, sizeof v);
            }
        }
        _stats.idle_wakeups.add();
    }
    _waiting.store(false, std::memory_order_relaxed);
    for (unsigned i : _intr_queues) {
        const rx_queue_ref& q = _s.rx_queues[i];
        rte_eth_dev_rx_intr_disable(q.port_id, q.queue_id);
    }
}

}  // namespace engine
