// SPDX-License-Identifier: MIT
// The port between the workers and a slow-path thread (the tcp transport, control/daemon/
// tcp_path.hh): DPDK's ring PMD (rte_eth_from_rings) over one ring pair per worker, so the
// workers poll it and send to it like any port -- rx queue w / tx queue w are worker w's --
// while the slow-path thread holds the rings' other ends (it enqueues what the workers
// receive, it dequeues what they send). Both rings of a pair are single-producer single-
// consumer. Why the ring PMD and not a port of our own: the workers' rx/tx and tx buffering
// stay the ethdev calls they are for every other port.
// Threads: opened and closed on the main thread before workers start / after they stop.
#pragma once

#include <rte_mempool.h>
#include <rte_ring.h>

#include <string>
#include <vector>

#include "pmd/port.hh"

namespace pmd {

struct stream_port {
    port_info info;
    std::vector<rte_ring*> to_workers;    // the slow path enqueues, worker w's rx queue w dequeues
    std::vector<rte_ring*> from_workers;  // worker w's tx queue w enqueues, the slow path dequeues
};

/// Creates the rings (`ring_size` slots each, a power of two) and the port `name` with
/// `n_queues` queue pairs, and starts it (`pool`: what ethdev's rx queue setup asks for; the
/// ring PMD allocates nothing). Throws std::runtime_error naming what failed.
stream_port open_stream_port(const std::string& name, unsigned n_queues, unsigned ring_size, rte_mempool* pool);

/// Stops and removes the port, frees what is left in the rings and the rings. Never throws.
void close_stream_port(stream_port& p) noexcept;

}  // namespace pmd
