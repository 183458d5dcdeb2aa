// SPDX-License-Identifier: MIT
// The daemon's configuration reload (SIGHUP, `{"cmd":"reload"}`) and GVPE's USR1 status dump.
// What may change live and what needs a restart: control/config/reload.hh; the operator's view:
// docs/config.md "Reloading". All or nothing: the new files (configuration and every key file)
// are loaded and validated, the restart-only settings and our own key compared
// (control::prepare_reload), and only then is anything touched.
// Threads: control thread only.
#include <rte_mbuf.h>

#include <ctime>
#include <tuple>
#include <vector>

#include "control/daemon/daemon.hh"
#include "control/config/keys.hh"
#include "control/log.hh"
#include "control/config/reload.hh"

namespace control {

namespace {

std::string wall_clock() {
    char buf[32];
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/// Every node's `route` lines as (node id, address, length), for "did the routes change".
std::vector<std::tuple<unsigned, ip_address, uint8_t>> route_lines(const config& cfg) {
    std::vector<std::tuple<unsigned, ip_address, uint8_t>> v;
    for (const auto& n : cfg.nodes) {
        for (const auto& r : n.routes) {
            v.emplace_back(n.id, r.addr, r.prefix);
        }
    }
    return v;
}

}  // namespace

nlohmann::json daemon::reload(const std::string& trigger) {
    log::notice("reload (" + trigger + "): reading the configuration in " + _opt.reload_from.confdir);
    // systemd (ExecReload): reloading until READY=1 again, whatever the outcome.
    _notify.send("RELOADING=1\nSTATUS=reloading (" + trigger + ")");
    struct ready_again {
        daemon& d;
        ~ready_again() { d._notify.send("READY=1"); }  // no allocation in a destructor
    } ready{*this};
    auto refuse = [&](const std::string& why, const std::vector<std::string>& details) {
        ++_reloads_refused;
        log::error("reload refused: " + why + "; the running configuration stays");
        for (const auto& d : details) {
            log::error("  " + d);
        }
        _last_reload = {{"time", wall_clock()}, {"trigger", trigger}, {"ok", false}, {"error", why},
                        {"details", details}};
        return nlohmann::json{{"ok", false}, {"error", "reload refused: " + why}, {"details", details}};
    };
    if (_opt.reload_from.nodename.empty() || _opt.benchmark_static_keys || !_sessions) {
        return refuse("this daemon was not started from a configuration directory it can re-read", {});
    }

    // Everything is read and checked before anything changes (control/config/reload.hh).
    auto prepared = prepare_reload(_cfg, _opt.reload_from, _self_pub);
    if (!prepared) {
        return refuse(prepared.error().why, prepared.error().details);
    }
    config next = std::move(prepared->next);
    const auto pubs = std::move(prepared->peer_keys);
    std::vector<std::string> changes = std::move(prepared->changes);
    std::vector<std::string> warnings;
    // The site LAN's tables from the new `route` / `bridge-mac` lines (docs/site-gateways.md),
    // built before anything changes: a table that cannot be built refuses the reload.
    // Unchanged routes keep the table they have (rte_lpm's first level alone is 64 MiB, and the
    // old table lives until the workers' grace period ends).
    std::shared_ptr<engine::route_table> next_routes = _routes;
    if (_base.lan_mode == overlay_mode::route && route_lines(next) != route_lines(_cfg)) {
        try {
            next_routes = build_route_table(next);
        } catch (const std::exception& e) {
            return refuse("the route table cannot be built", {e.what()});
        }
    }

    // Apply. First what leaves (executed under the old config, so node-down hooks and logs
    // still know the node's name), then the new config and the new or changed peers.
    const auto now = clock_now();
    session::actions acts;
    const node_conf& self = _cfg.self_node();
    const node_conf& nself = next.self_node();
    const bool self_rules = self.allow_direct != nself.allow_direct || self.deny_direct != nself.deny_direct;
    std::vector<uint16_t> removed;
    for (const auto& n : _cfg.nodes) {
        if (n.id == self.id) {
            continue;
        }
        const auto id = static_cast<uint16_t>(n.id);
        const node_conf* now_n = same_node_in(next, n);
        const peer_path* path = _peers->path(id);
        if (now_n == nullptr || !pubs.count(n.id)) {
            _sessions->remove_peer(id, now, acts);
            removed.push_back(id);
        } else if (self_rules || path_inputs_changed(n, *now_n) || (path != nullptr && path->via != 0)) {
            _peers->clear_path(id);  // update_paths() below computes it afresh
            _roamed.erase(id);       // ... from its new configuration
            _mediation.forget(id);   // a told endpoint is for the old rules
        }
    }
    execute(acts);  // node-down hooks see the node's name and address
    for (uint16_t id : removed) {
        _peers->erase(id);
        _learned_endpoint.erase(id);
        _roamed.erase(id);
        _roam_moved_ns.erase(id);
        _mediation.forget(id);
        _initiation_via_router.erase(id);
        _queue.drop_peer(id);
        _relay_queue.drop_peer(id);
    }

    _cfg = std::move(next);
    _hooks->reconfigure(_cfg);
    if (_tcp) {
        _tcp->reconfigure(tcp_config(_cfg));  // http-proxy-*, keepalive: for connections opened from now on
    }
    if (!_opt.log_level_from_cli) {
        log::set_level(_cfg.global.loglevel);
    }
    const node_conf& s = _cfg.self_node();
    _sessions->set_local(handshake::make_serial(_cfg.global.serial), s.connect, s.low_power, _cfg.global.keepalive,
                         _cfg.global.rekey);
    _base.router = s.router_priority >= 1;
    if (_base.lan_mode == overlay_mode::route) {
        _routes = std::move(next_routes);
        lan_to_base();
    } else if (_macs) {
        _macs->harvest(*_mac_table);
        _macs->set_static(static_macs(_cfg));
        for (uint16_t id : removed) {
            _macs->forget_owner(id);  // a node that left takes its MACs with it
        }
        _mac_table = _macs->build();
        lan_to_base();
    }
    apply_peers(pubs, now, acts, warnings);

    ++_reloads_applied;
    for (const auto& w : warnings) {
        log::warn(w);
    }
    for (const auto& w : _cfg.warnings) {
        log::warn(w.str());
    }
    log::notice("reload applied: " + std::to_string(_cfg.nodes.size()) + " nodes, " + std::to_string(changes.size()) +
                " change" + (changes.size() == 1 ? "" : "s"));
    for (const auto& c : changes) {
        log::notice("  " + c);
    }
    _last_reload = {{"time", wall_clock()}, {"trigger", trigger}, {"ok", true}, {"changes", changes},
                    {"warnings", warnings}};
    return nlohmann::json{{"ok", true}, {"nodes", _cfg.nodes.size()}, {"changes", changes}, {"warnings", warnings}};
}

void daemon::dump_status() const {
    log::notice("BEGIN status dump (node " + _cfg.self_node().name + ", " + std::to_string(_cfg.nodes.size()) +
                " nodes)");
    for (const auto& p : peers_json()) {
        std::string line = "node " + p.value("name", std::string()) + " (id " + std::to_string(p.value("id", 0)) +
                           "): " + p.value("state", std::string()) + ", connect " + p.value("connect", std::string());
        if (p.contains("transport")) {
            line += ", " + p["transport"].get<std::string>();
        }
        if (p.contains("address")) {
            line += " " + p["address"].get<std::string>();
        }
        if (p.value("via", 0) != 0) {
            line += " via node " + std::to_string(p.value("via", 0));
        }
        line += ", key " + std::to_string(p.value("key_id", 0)) + " age " +
                std::to_string(static_cast<long>(p.value("key_age_s", 0.0))) + " s, rx " +
                std::to_string(p.value("rx_packets", uint64_t{0})) + " pkts / " +
                std::to_string(p.value("rx_bytes", uint64_t{0})) + " B, tx " +
                std::to_string(p.value("tx_packets", uint64_t{0})) + " pkts / " +
                std::to_string(p.value("tx_bytes", uint64_t{0})) + " B";
        log::notice(line);
    }
    log::notice("END status dump");
}

}  // namespace control
