// SPDX-License-Identifier: MIT
// The worker lcore's loop and tx: construction, the poll loop (iterate/run), dispatch of a burst
// by port role to ingress.cc or egress.cc, the control ring, tx buffering and drops; see
// worker.hh. Loop shape after DPDK's examples/l3fwd (docs/design.md §5).
#include "engine/worker.hh"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>

#include <stdexcept>

namespace engine {

namespace {

struct tx_err_ctx {
    worker_stats* stats;
};

// Called by rte_eth_tx_buffer_flush for packets the queue did not take: count and free. R:
// tx_failed, or exception_full for an exception port's queue (the kernel side is full), or
// stream_full for the ring to the tcp slow path.
template <drop_reason R>
void tx_error_cb(rte_mbuf** unsent, uint16_t count, void* userdata) {
    auto* st = static_cast<worker_stats*>(userdata);
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < count; ++i) {
        bytes += rte_pktmbuf_pkt_len(unsent[i]);
        rte_pktmbuf_free(unsent[i]);
    }
    st->drop(R, count);
    // They were counted as tx when buffered; take them back out.
    st->tx_packets.add(-static_cast<uint64_t>(count));
    st->tx_bytes.add(-bytes);
}

}  // namespace

worker::worker(const worker_setup& s) : _s(s), _sealer(static_cast<uint16_t>(s.worker_idx)) {
    if (_s.burst_size == 0 || _s.burst_size > limits::max_burst) {
        throw std::runtime_error("worker: bad burst size " + std::to_string(_s.burst_size));
    }
    if (_s.rx_queues.size() > limits::max_rxq_per_worker) {
        throw std::runtime_error("worker: too many rx queues");
    }
    if (_s.worker_idx >= transport::control_lane) {
        // Worker w seals on lane w; the control thread seals on control_lane with counters of
        // its own: a worker there would repeat AEAD nonces (config validation refuses it first).
        throw std::runtime_error("worker: worker " + std::to_string(_s.worker_idx) + " would seal on the control lane " +
                                 std::to_string(transport::control_lane) + " (at most " +
                                 std::to_string(transport::control_lane) + " workers)");
    }
    for (unsigned i = 0; i < _s.ports->n_ports; ++i) {
        uint16_t pid = _s.ports->ports[i].port_id;
        if (_s.ports->ports[i].role == port_role::stream) {
            _stream_port = pid;
        }
        auto* b = static_cast<rte_eth_dev_tx_buffer*>(
            rte_zmalloc_socket("dvpe_txb", RTE_ETH_TX_BUFFER_SIZE(_s.burst_size), RTE_CACHE_LINE_SIZE,
                               static_cast<int>(rte_lcore_to_socket_id(_s.lcore_id))));
        if (b == nullptr) {
            throw std::runtime_error("worker: cannot allocate tx buffer");
        }
        rte_eth_tx_buffer_init(b, static_cast<uint16_t>(_s.burst_size));
        rte_eth_tx_buffer_set_err_callback(
            b,
            _s.ports->ports[i].role == port_role::exception ? tx_error_cb<drop_reason::exception_full>
            : _s.ports->ports[i].role == port_role::stream  ? tx_error_cb<drop_reason::stream_full>
                                                            : tx_error_cb<drop_reason::tx_failed>,
            &_stats);
        _txb[pid] = b;
        _tap[pid] = _s.ports->ports[i].tap;
        _tx_ports.push_back(pid);
    }
    _drain_cycles = rte_get_tsc_hz() / 1000000 * _s.tx_drain_us;
    _clk.set_period(_s.stage_clock_period);
    _clk.set_hz(rte_get_tsc_hz());
    _clk.calibrate();
    _stats.clk_reading_cost.set(_clk.reading_cost());
    _too_big_limit.set_hz(rte_get_tsc_hz());
    _flood_budget.set_hz(rte_get_tsc_hz());
    _flood_budget.set_limits(_s.flood_copies_per_s, _s.flood_copies_burst);
    _icmp_limit.set_hz(rte_get_tsc_hz());
    _resolve_limit.set_hz(rte_get_tsc_hz());
    _relay_limit.set_hz(rte_get_tsc_hz());
    _relay_limit.set_limits(_s.relay_handovers_per_s, _s.relay_handovers_burst);
    _queue_copy_limit.set_hz(rte_get_tsc_hz());
    _queue_copy_limit.set_limits(_s.queue_copies_per_s, _s.queue_copies_burst);
    _exception_in_limit.set_hz(rte_get_tsc_hz());
    _exception_in_limit.set_limits(_s.exception_per_s, _s.exception_burst);
    _exception_out_limit.set_hz(rte_get_tsc_hz());
    _exception_out_limit.set_limits(_s.exception_per_s, _s.exception_burst);
    if (_s.snapshot != nullptr) {
        auto ctx = crypto::aead_context::create();
        if (!ctx) {
            throw std::runtime_error("worker: cannot create the crypto context: " + ctx.error());
        }
        _crypto.emplace(std::move(ctx.value()));
        // Outer reassembly: a small table (the WAN MTU is sized so that only peers with
        // wan-fragment, or a path that fragments, ever send fragments).
        const uint64_t max_cycles = rte_get_tsc_hz() / 1000 * limits::reassembly_timeout_ms;
        _frag_tbl = rte_ip_frag_table_create(limits::reassembly_packets / 4, 4, limits::reassembly_packets, max_cycles,
                                             static_cast<int>(rte_lcore_to_socket_id(_s.lcore_id)));
        if (_frag_tbl == nullptr) {
            throw std::runtime_error("worker: cannot create the reassembly table");
        }
        _frag_id = static_cast<uint32_t>(_s.worker_idx) << 24;
        if (_s.qsbr != nullptr) {
            _s.qsbr->register_reader(_s.worker_idx);
        }
    }
    _peer_stats = node_stats_table(limits::max_node_id + 1);
    setup_idle();
}

worker::~worker() {
    teardown_idle();
    if (_frag_tbl != nullptr) {
        rte_ip_frag_free_death_row(&_death_row, 0);
        rte_ip_frag_table_destroy(_frag_tbl);
    }
    for (uint16_t pid : _tx_ports) {
        rte_free(_txb[pid]);
    }
}

void worker::drop(rte_mbuf* m, drop_reason r) noexcept {
    _stats.drop(r);
    rte_pktmbuf_free(m);
}

void worker::to_control(rte_mbuf* m) noexcept {
    if (rte_ring_mp_enqueue(_s.to_control, m) != 0) [[unlikely]] {
        drop(m, drop_reason::control_ring_full);
        return;
    }
    _stats.to_control.add();
}

void worker::flush_all() noexcept {
    commit_tx_stats();  // before the flushes: their error callback subtracts unsent packets
    for (uint16_t pid : _tx_ports) {
        flush_tx(pid, _txb[pid]);
    }
}

void worker::flush_tx_timed(uint16_t port_id, rte_eth_dev_tx_buffer* b) noexcept {
    const unsigned n = b->length;
    const uint64_t t0 = _clk.tx_begin();
    flush_tx(port_id, b);
    _clk.tx_end(t0, n);
}

void worker::drain_control() noexcept {
    rte_mbuf* pkts[limits::max_burst];
    unsigned n = rte_ring_sc_dequeue_burst(_s.from_control, reinterpret_cast<void**>(pkts), _s.burst_size, nullptr);
    for (unsigned i = 0; i < n; ++i) {
        uint16_t pid = pkts[i]->port;
        if (pid >= RTE_MAX_ETHPORTS || _txb[pid] == nullptr) [[unlikely]] {
            drop(pkts[i], drop_reason::tx_failed);
            continue;
        }
        _stats.from_control.add();
        send(pkts[i], pid);
    }
    commit_tx_stats();
}

void worker::process_burst(rte_mbuf** pkts, uint16_t n, const port_ctx& port) noexcept {
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < n; ++i) {
        bytes += rte_pktmbuf_pkt_len(pkts[i]);
    }
    _stats.rx_packets.add(n);
    _stats.rx_bytes.add(bytes);
    if (port.role == port_role::overlay) {
        if (_snap != nullptr) {
            if (port.mode == pmd::overlay_mode::route) {
                route_burst(pkts, n, port, *_snap);
            } else {
                egress_burst(pkts, n, port, *_snap);
            }
        } else {
            for (uint16_t i = 0; i < n; ++i) {
                drop(pkts[i], drop_reason::no_session);  // no data plane configured
            }
        }
        commit_tx_stats();
        return;
    }
    if (port.role == port_role::exception) [[unlikely]] {
        exception_burst(pkts, n, port);
        commit_tx_stats();
        return;
    }
    if (_snap != nullptr) {
        ingress_burst(pkts, n, port, *_snap);
    } else {
        for (uint16_t i = 0; i < n; ++i) {
            if (port.role == port_role::stream) [[unlikely]] {
                drop(pkts[i], drop_reason::no_session);  // no data plane configured
            } else {
                process_wan(pkts[i], port);
            }
        }
    }
    commit_tx_stats();
}

bool worker::iterate() noexcept {
    // One snapshot per iteration; the quiescent state at the end releases it (engine/rcu.hh).
    _snap = _s.snapshot != nullptr ? _s.snapshot->get() : nullptr;
    rte_mbuf* pkts[limits::max_burst];
    const auto burst = static_cast<uint16_t>(_s.burst_size);
    const uint64_t start = rte_rdtsc();
    _clk.begin(start);
    bool busy = false;
    for (const rx_queue_ref& q : _s.rx_queues) {
        uint16_t n = q.tap != nullptr ? q.tap->rx_burst(q.queue_id, pkts, burst)
                                       : rte_eth_rx_burst(q.port_id, q.queue_id, pkts, burst);
        _stats.polls.add();
        if (n == 0) {
            _stats.empty_polls.add();
            continue;
        }
        busy = true;
        _clk.rx_done(n);
        process_burst(pkts, n, _s.ports->ports[static_cast<unsigned>(_s.ports->index_of[q.port_id])]);
        _clk.burst_end();
    }
    if (!rte_ring_empty(_s.from_control)) [[unlikely]] {
        drain_control();
        busy = true;
    }
    const uint64_t now = rte_rdtsc();
    _clk.end(now, _stats);
    if (now >= _next_flush) [[unlikely]] {
        flush_all();
        _next_flush = now + _drain_cycles;
    }
    if (busy) {
        _idle_run = 0;
        _stats.busy_cycles.add(now - start);
    } else if (_s.idle_sleep_us != 0 && ++_idle_run >= _s.idle_polls) [[unlikely]] {
        // A quiet gateway does not burn its cores, and several nodes can share a CPU.
        flush_all();
        if (_s.qsbr != nullptr) {
            _s.qsbr->offline(_s.worker_idx);  // a sleeping worker never delays the control thread
        }
        idle_wait();  // idle.cc: a pause, or a block until a queue has packets
        if (_s.qsbr != nullptr) {
            _s.qsbr->online(_s.worker_idx);
        }
        _stats.idle_sleeps.add();
    }
    if (_s.qsbr != nullptr) {
        _s.qsbr->quiescent(_s.worker_idx);
    }
    _snap = nullptr;
    return busy;
}

int worker::run() noexcept {
    _drain_cycles = rte_get_tsc_hz() / 1000000 * _s.tx_drain_us;
    _clk.calibrate();  // on the worker's own core
    _stats.clk_reading_cost.set(_clk.reading_cost());
    _next_flush = rte_rdtsc() + _drain_cycles;
    while (!_stop.load(std::memory_order_relaxed)) {
        iterate();
    }
    flush_all();
    return 0;
}

}  // namespace engine
