// SPDX-License-Identifier: MIT
// dvpe's counters in DPDK telemetry, beside /ethdev/stats on the same socket
// (/var/run/dpdk/<file-prefix>/dpdk_telemetry.v2; dpdk-telemetry.py -f dvpe-NODE):
//   /dvpe/info       node name and id, number of workers
//   /dvpe/stats      every worker counter summed over the workers, then drops by reason
//   /dvpe/worker,N   the same for worker N (0-based, the order of worker-lcores)
//   /dvpe/lan        the site LAN (docs/site-gateways.md): mode, MAC table or routes and LAN hosts
// For operators whose DPDK tooling already speaks telemetry; the control socket (docs/control.md)
// stays the full interface (sessions, peers, config).
// Threads: the callbacks run on DPDK's telemetry thread and read only the workers' relaxed
// atomic counters; attach/detach run on the control thread and exclude the callbacks by a mutex.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/stats.hh"

namespace control {

/// The site LAN's state as the control thread last saw it (control/daemon/site_lan.cc writes,
/// the telemetry thread reads; relaxed atomics, each value on its own).
struct lan_gauges {
    std::atomic<uint64_t> mac_entries{0}, mac_static{0}, mac_learned{0}, mac_aged{0}, mac_moved{0},
        mac_limit_dropped{0}, routes{0}, lan_hosts{0}, unresolved{0};
    std::atomic<uint8_t> mode{0};  // pmd::overlay_mode: 0 host (no LAN), 1 bridge, 2 route
};

struct telemetry_source {
    std::string node;
    unsigned node_id = 0;
    std::vector<const engine::worker_stats*> workers;  // valid until telemetry_detach()
    const lan_gauges* lan = nullptr;                    // likewise
};

/// Publishes `s` (registers the commands with DPDK on first use; after rte_eal_init).
void telemetry_attach(telemetry_source s);
/// The peers as the control socket's `peers` reply gives them (an array of objects with an
/// "id"), for /dvpe/peer/list and /dvpe/peer,ID: the control thread publishes it once a second
/// (telemetry runs on DPDK's thread and must not touch the session state).
void telemetry_set_peers(nlohmann::json peers);
/// Stops publishing; returns after any callback in progress (the workers may go after this).
void telemetry_detach();

}  // namespace control
