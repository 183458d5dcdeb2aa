// SPDX-License-Identifier: MIT
// dvpe's DPDK telemetry commands (control/daemon/telemetry.hh).
#include "control/daemon/telemetry.hh"

#include <rte_telemetry.h>

#include <cstdlib>
#include <mutex>
#include <optional>
#include <utility>

#include "control/log.hh"

namespace control {

namespace {

std::mutex g_mu;
std::optional<telemetry_source> g_src;  // guarded by g_mu

void add_sums(rte_tel_data* d, const std::vector<const engine::worker_stats*>& ws) {
    for (const auto& f : engine::worker_stats::fields()) {
        uint64_t v = 0;
        for (const auto* w : ws) {
            v += (w->*f.member).load();
        }
        rte_tel_data_add_dict_u64(d, std::string(f.name).c_str(), v);
    }
    for (size_t r = 0; r < engine::n_drop_reasons; ++r) {
        uint64_t v = 0;
        for (const auto* w : ws) {
            v += w->drops[r].load();
        }
        rte_tel_data_add_dict_u64(d, ("drop_" + std::string(engine::drop_reason_names[r])).c_str(), v);
    }
}

int cmd_info(const char*, const char*, rte_tel_data* d) {
    std::lock_guard<std::mutex> lk(g_mu);
    if (!g_src) {
        return -ENODEV;
    }
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "node", g_src->node.c_str());
    rte_tel_data_add_dict_u64(d, "node_id", g_src->node_id);
    rte_tel_data_add_dict_u64(d, "workers", g_src->workers.size());
    return 0;
}

int cmd_stats(const char*, const char*, rte_tel_data* d) {
    std::lock_guard<std::mutex> lk(g_mu);
    if (!g_src) {
        return -ENODEV;
    }
    rte_tel_data_start_dict(d);
    add_sums(d, g_src->workers);
    return 0;
}

int cmd_worker(const char*, const char* params, rte_tel_data* d) {
    std::lock_guard<std::mutex> lk(g_mu);
    if (!g_src) {
        return -ENODEV;
    }
    if (params == nullptr || *params == '\0') {
        return -EINVAL;
    }
    char* end = nullptr;
    const unsigned long n = std::strtoul(params, &end, 10);
    if (*end != '\0' || params[0] == '-' || n >= g_src->workers.size()) {
        return -EINVAL;
    }
    rte_tel_data_start_dict(d);
    add_sums(d, {g_src->workers[n]});
    return 0;
}

int cmd_lan(const char*, const char*, rte_tel_data* d) {
    std::lock_guard<std::mutex> lk(g_mu);
    if (!g_src || g_src->lan == nullptr) {
        return -ENODEV;
    }
    const lan_gauges& g = *g_src->lan;
    static constexpr const char* modes[] = {"none", "bridge", "route"};
    const uint8_t m = g.mode.load(std::memory_order_relaxed);
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "mode", modes[m < 3 ? m : 0]);
    const std::pair<const char*, const std::atomic<uint64_t>*> values[] = {
        {"mac_entries", &g.mac_entries}, {"mac_static", &g.mac_static},   {"mac_learned", &g.mac_learned},
        {"mac_aged", &g.mac_aged},       {"mac_moved", &g.mac_moved},     {"mac_limit_dropped", &g.mac_limit_dropped},
        {"routes", &g.routes},           {"lan_hosts", &g.lan_hosts},     {"unresolved", &g.unresolved}};
    for (const auto& [name, v] : values) {
        rte_tel_data_add_dict_u64(d, name, v->load(std::memory_order_relaxed));
    }
    return 0;
}

}  // namespace

void telemetry_attach(telemetry_source s) {
    static const bool registered = [] {
        const bool ok = rte_telemetry_register_cmd("/dvpe/info", cmd_info, "dvpe node name, id and worker count") == 0 &&
                        rte_telemetry_register_cmd("/dvpe/stats", cmd_stats,
                                                   "dvpe counters summed over the workers. Takes no parameters") == 0 &&
                        rte_telemetry_register_cmd("/dvpe/worker", cmd_worker,
                                                   "dvpe counters of one worker. Parameters: int worker index") == 0 &&
                        rte_telemetry_register_cmd("/dvpe/lan", cmd_lan,
                                                   "dvpe site LAN: mode, MAC table, routes, LAN hosts") == 0;
        if (!ok) {
            log::warn("DPDK telemetry: cannot register the /dvpe commands");
        }
        return ok;
    }();
    (void)registered;
    std::lock_guard<std::mutex> lk(g_mu);
    g_src = std::move(s);
}

void telemetry_detach() {
    std::lock_guard<std::mutex> lk(g_mu);
    g_src.reset();
}

}  // namespace control
