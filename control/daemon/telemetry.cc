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
nlohmann::json g_peers = nlohmann::json::array();  // guarded by g_mu

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

// /dvpe/peer/list: the peers' node ids, as /ethdev/list gives port ids.
int cmd_peer_list(const char*, const char*, rte_tel_data* d) {
    std::lock_guard<std::mutex> lk(g_mu);
    if (!g_src) {
        return -ENODEV;
    }
    rte_tel_data_start_array(d, RTE_TEL_INT_VAL);
    for (const auto& p : g_peers) {
        if (p.is_object() && p.contains("id") && p["id"].is_number_unsigned()) {
            rte_tel_data_add_array_int(d, static_cast<int>(p["id"].get<unsigned>()));
        }
    }
    return 0;
}

// /dvpe/peer,ID: one peer's scalars (numbers, strings, booleans as 0/1); nested values are left
// out (the control socket's `peers` has them).
int cmd_peer(const char*, const char* params, rte_tel_data* d) {
    std::lock_guard<std::mutex> lk(g_mu);
    if (!g_src) {
        return -ENODEV;
    }
    if (params == nullptr || *params == '\0' || params[0] == '-') {
        return -EINVAL;
    }
    char* end = nullptr;
    const unsigned long id = std::strtoul(params, &end, 10);
    if (*end != '\0') {
        return -EINVAL;
    }
    for (const auto& p : g_peers) {
        if (!p.is_object() || !p.contains("id") || !p["id"].is_number_unsigned() || p["id"].get<unsigned long>() != id) {
            continue;
        }
        rte_tel_data_start_dict(d);
        for (const auto& [k, v] : p.items()) {
            if (k.size() >= RTE_TEL_MAX_STRING_LEN) {
                continue;
            }
            if (v.is_number_unsigned()) {
                rte_tel_data_add_dict_u64(d, k.c_str(), v.get<uint64_t>());
            } else if (v.is_number_integer()) {
                rte_tel_data_add_dict_int(d, k.c_str(), static_cast<int>(v.get<int64_t>()));
            } else if (v.is_number_float()) {
                const std::string s = std::to_string(v.get<double>());
                rte_tel_data_add_dict_string(d, k.c_str(), s.c_str());
            } else if (v.is_boolean()) {
                rte_tel_data_add_dict_u64(d, k.c_str(), v.get<bool>() ? 1 : 0);
            } else if (v.is_string() && v.get_ref<const std::string&>().size() < RTE_TEL_MAX_STRING_LEN) {
                rte_tel_data_add_dict_string(d, k.c_str(), v.get_ref<const std::string&>().c_str());
            }
        }
        return 0;
    }
    return -EINVAL;  // no such peer
}

}  // namespace

void telemetry_set_peers(nlohmann::json peers) {
    if (!peers.is_array()) {
        peers = nlohmann::json::array();
    }
    std::lock_guard<std::mutex> lk(g_mu);
    g_peers.swap(peers);  // the old list is freed after the lock, by the caller's thread
}

void telemetry_attach(telemetry_source s) {
    static const bool registered = [] {
        const bool ok = rte_telemetry_register_cmd("/dvpe/info", cmd_info, "dvpe node name, id and worker count") == 0 &&
                        rte_telemetry_register_cmd("/dvpe/stats", cmd_stats,
                                                   "dvpe counters summed over the workers. Takes no parameters") == 0 &&
                        rte_telemetry_register_cmd("/dvpe/worker", cmd_worker,
                                                   "dvpe counters of one worker. Parameters: int worker index") == 0 &&
                        rte_telemetry_register_cmd("/dvpe/lan", cmd_lan,
                                                   "dvpe site LAN: mode, MAC table, routes, LAN hosts") == 0 &&
                        rte_telemetry_register_cmd("/dvpe/peer/list", cmd_peer_list,
                                                   "dvpe peers: their node ids. Takes no parameters") == 0 &&
                        rte_telemetry_register_cmd("/dvpe/peer", cmd_peer,
                                                   "dvpe one peer: state, endpoint, traffic, handshakes. Parameters: "
                                                   "int node id") == 0;
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
    g_peers = nlohmann::json::array();
}

}  // namespace control
