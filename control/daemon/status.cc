// SPDX-License-Identifier: MIT
// Control-socket replies of the daemon: `status` (node, ports, workers, drops), `config` (the
// node table, as gvpectrl -s) and `neighbours`. Schemas are documented in docs/control.md.
// Threads: control thread (called from control_server::poll). Worker counters are read with
// relaxed loads while workers run; port counters come from rte_eth_stats_get().
#include <rte_cycles.h>
#include <rte_ethdev.h>

#include <cstring>

#include "control/daemon/daemon.hh"
#include "pmd/dp_memory.hh"

namespace control {

namespace {

// "bad mac1" -> "bad_mac1": control-socket and telemetry keys are [A-Za-z0-9_].
std::string key_name(std::string_view s) {
    std::string k(s);
    for (char& c : k) {
        if (c == ' ' || c == '-') {
            c = '_';
        }
    }
    return k;
}

nlohmann::json drops_json(const std::array<uint64_t, engine::n_drop_reasons>& d) {
    nlohmann::json j = nlohmann::json::object();
    for (size_t r = 0; r < engine::n_drop_reasons; ++r) {
        j[std::string(engine::drop_reason_names[r])] = d[r];
    }
    return j;
}

}  // namespace

nlohmann::json daemon::status_json() const {
    const node_conf& self = _cfg.self_node();
    nlohmann::json j;
    j["ok"] = true;
    j["node"] = {{"name", self.name}, {"id", self.id}, {"mac", mac_string(node_mac(self.id))}};
    j["uptime_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - _started).count();
    j["tsc_hz"] = rte_get_tsc_hz();
    // Per-peer state (keys, windows) in DPDK's hugepage heap, or on the C++ heap when that had
    // no room (pmd/dp_memory.hh; docs/performance.md "Per-peer state in hugepage memory").
    const auto mem = pmd::dp_memory_counters();
    j["peer_state_memory"] = {{"dpdk", pmd::dp_memory_uses_dpdk()},
                              {"dpdk_allocs", mem.dpdk_allocs},
                              {"heap_fallbacks", mem.heap_fallbacks}};
    j["reload"] = {{"applied", _reloads_applied},
                   {"refused", _reloads_refused},
                   {"last", _last_reload.is_null() ? nlohmann::json::object() : _last_reload}};

    nlohmann::json ports = nlohmann::json::array();
    for (const auto& p : _ports) {
        rte_eth_stats st{};
        rte_eth_link link{};
        nlohmann::json tap;
        if (p.tap) {
            const auto t = p.tap->totals();
            st.ipackets = t.rx_packets;
            st.ibytes = t.rx_bytes;
            st.opackets = t.tx_packets;
            st.obytes = t.tx_bytes;
            st.rx_nombuf = t.rx_nombuf;
            st.ierrors = t.rx_dropped;
            st.oerrors = t.tx_errors;
            link.link_status = RTE_ETH_LINK_UP;
            tap = {{"ifname", p.tap->ifname()},       {"offloads", p.tap->offloads()},
                   {"rx_reads", t.rx_reads},          {"rx_superframes", t.rx_superframes},
                   {"rx_empty_reads", t.rx_empty},
                   {"tx_writes", t.tx_writes},        {"tx_merged", t.tx_merged}};
        } else {
            rte_eth_stats_get(p.info.port_id, &st);
            rte_eth_link_get_nowait(p.info.port_id, &link);
        }
        ports.push_back({{"name", p.conf.name},
                         {"role", std::string(to_string(p.conf.role))},
                         {"mode", std::string(to_string(p.conf.mode))},
                         {"port_id", p.info.port_id},
                         {"driver", p.info.driver},
                         {"mac", pmd::mac_str(p.info.mac)},
                         {"mtu", p.info.mtu},
                         {"link_up", link.link_status == RTE_ETH_LINK_UP},
                         {"rx_queues", p.n_rxq},
                         {"tx_queues", p.n_txq},
                         {"rx_packets", st.ipackets},
                         {"rx_bytes", st.ibytes},
                         {"tx_packets", st.opackets},
                         {"tx_bytes", st.obytes},
                         {"rx_missed", st.imissed},
                         {"rx_nombuf", st.rx_nombuf},
                         {"rx_errors", st.ierrors},
                         {"tx_errors", st.oerrors}});
        if (p.tap) {
            ports.back()["tap"] = tap;  // docs/host-path.md: syscalls and coalescing
        }
    }
    j["ports"] = ports;
    if (_tcp) {
        nlohmann::json t = _tcp->status();  // the slow path: tcp (docs/tcp.md), dns (docs/dns.md)
        if (t.contains("dns")) {
            j["dns"] = t["dns"];
            t.erase("dns");
        }
        if (self.protocols & proto_tcp) {
            j["tcp"] = t;
        }
    }
    if (_base.lan_mode != overlay_mode::host || _macs) {
        j["lan"] = lan_json();  // docs/site-gateways.md: MAC table or routes, LAN hosts
    }

    std::array<uint64_t, engine::n_drop_reasons> total{};
    nlohmann::json workers = nlohmann::json::array();
    for (const auto& w : _workers) {
        const engine::worker_stats& s = w->stats();
        nlohmann::json queues = nlohmann::json::array();
        for (const auto& q : w->setup().rx_queues) {
            std::string name;
            for (const auto& p : _ports) {
                if (p.info.port_id == q.port_id) {
                    name = p.conf.name;
                }
            }
            queues.push_back({{"port", name}, {"queue", q.queue_id}});
        }
        std::array<uint64_t, engine::n_drop_reasons> d{};
        for (size_t r = 0; r < engine::n_drop_reasons; ++r) {
            d[r] = s.drops[r].load();
            total[r] += d[r];
        }
        // Every counter of engine::worker_stats by its name (a new counter appears here by itself).
        nlohmann::json wj{{"lcore", w->setup().lcore_id}, {"queues", queues}};
        for (const auto& f : engine::worker_stats::fields()) {
            wj[std::string(f.name)] = (s.*f.member).load();
        }
        wj["drops"] = drops_json(d);
        workers.push_back(std::move(wj));
    }
    j["workers"] = workers;
    j["drops"] = drops_json(total);
    j["peers"] = peers_json();
    if (_sessions) {
        const auto& hc = _sessions->protocol().stats();
        nlohmann::json rej = nlohmann::json::object();
        for (size_t r = 0; r < handshake::n_reject; ++r) {
            rej[key_name(handshake::reject_names[r])] = hc.rejected[r];
        }
        j["handshake"] = {{"received_initiations", hc.received_initiations},
                          {"received_responses", hc.received_responses},
                          {"received_cookie_replies", hc.received_cookie_replies},
                          {"sent_initiations", hc.sent_initiations},
                          {"sent_responses", hc.sent_responses},
                          {"sent_cookie_replies", hc.sent_cookie_replies},
                          {"sent_refusals", hc.sent_refusals},
                          {"completed_initiator", hc.completed_initiator},
                          {"completed_responder", hc.completed_responder},
                          {"unsent", _handshakes_unsent},
                          {"dropped_over_budget", _hs_drain.dropped()},
                          {"admitted_with_mac2_over_budget", _hs_drain.admitted_proven()},
                          {"deferred_iterations", _hs_drain.deferred()},
                          {"queued_frames_sent", _queue.sent()},
                          {"queued_frames_dropped", _queue.dropped()},
                          {"rejected", rej}};
        j["roaming"] = {{"moves", _roam.moves},
                        {"from_router", _roam.from_router},
                        {"rate_limited", _roam.rate_limited},
                        {"not_up", _roam.not_up},
                        {"not_direct", _roam.not_direct},
                        {"configured", _roam.configured}};
        // Mediated connections (control/daemon/mediation.hh, docs/protocol.md).
        const mediation_counters& mc = _mediation.counters;
        j["mediation"] = {{"requests_sent", mc.requests_sent},
                          {"requests_received", mc.requests_received},
                          {"requests_refused", mc.requests_refused},
                          {"requests_waiting", mc.requests_waiting},
                          {"requests_expired", mc.requests_expired},
                          {"requests_rate_limited", mc.requests_rate_limited},
                          {"introductions", mc.introductions},
                          {"infos_received", mc.infos_received},
                          {"infos_refused", mc.infos_refused},
                          {"infos_repeated", mc.infos_repeated},
                          {"attempts", mc.attempts},
                          {"established", mc.established},
                          {"unparsed", mc.unparsed},
                          {"pending", _mediation.pending()}};
        // Frames waiting for a session, packets a router waits to relay (control/daemon/frame_queue.hh).
        auto queue_json = [](const frame_queue& q) {
            return nlohmann::json{{"waiting", q.size()},
                                  {"queued", q.queued()},
                                  {"sent", q.sent()},
                                  {"dropped", q.dropped()},
                                  {"dropped_max_queue", q.drops().max_queue},
                                  {"dropped_max_ttl", q.drops().max_ttl},
                                  {"dropped_total_limit", q.drops().total_limit},
                                  {"dropped_other", q.drops().other}};
        };
        j["queues"] = {{"frames", queue_json(_queue)}, {"relay", queue_json(_relay_queue)}};
    }
    return j;
}

nlohmann::json daemon::peers_json() const {
    nlohmann::json arr = nlohmann::json::array();
    if (!_sessions || !_peers) {
        return arr;
    }
    const auto now = clock_now();
    for (uint16_t id : _sessions->peer_ids()) {
        auto st = _sessions->status(id, now);
        if (!st) {
            continue;
        }
        const node_conf* node = _cfg.node(id);
        const std::string name = node != nullptr ? node->name : std::string();
        uint64_t rxp = 0, rxb = 0, txp = 0, txb = 0, ka = 0, authf = 0, repl = 0;
        for (const auto& w : _workers) {
            const auto& ns = w->peer_stats()[id];
            rxp += ns.rx_packets.load();
            rxb += ns.rx_bytes.load();
            txp += ns.tx_packets.load();
            txb += ns.tx_bytes.load();
            ka += ns.keepalives.load();
            authf += ns.auth_failed.load();
            repl += ns.replayed.load();
        }
        nlohmann::json failed = nlohmann::json::object();
        for (size_t r = 0; r < handshake::n_reject; ++r) {
            if (st->stats.failed[r] != 0) {
                failed[key_name(handshake::reject_names[r])] = st->stats.failed[r];
            }
        }
        const peer_path* path = _peers->path(id);
        nlohmann::json jp = {{"id", id},
                             {"name", name},
                             {"state", std::string(session::to_string(st->state))},
                             {"connect", std::string(to_string(st->connect))},
                             {"handshake_in_progress", st->handshake_in_progress},
                             {"key_id", st->current_key_id},
                             {"key_age_s", static_cast<double>(st->key_age_ns) / 1e9},
                             {"last_handshake_age_s", st->stats.last_handshake_ns
                                                          ? static_cast<double>(now.mono_ns - st->stats.last_handshake_ns) / 1e9
                                                          : -1.0},
                             {"initiations_sent", st->stats.initiations_sent},
                             {"responses_sent", st->stats.responses_sent},
                             {"cookie_replies_sent", st->stats.cookie_replies_sent},
                             {"refusals_sent", st->stats.refusals_sent},
                             {"handshakes_received", st->stats.handshakes_received},
                             {"handshakes_completed", st->stats.handshakes_completed},
                             {"handshakes_failed", failed},
                             {"rekeys", st->stats.rekeys},
                             {"ups", st->stats.ups},
                             {"closes_received", st->stats.closes_received},
                             {"downs", st->stats.downs},
                             {"rx_packets", rxp},
                             {"rx_bytes", rxb},
                             {"tx_packets", txp},
                             {"tx_bytes", txb},
                             {"keepalives_received", ka},
                             {"auth_failed", authf},
                             {"replayed", repl}};
        if (const auto& f = st->failure) {
            // The last rejection that concerns this peer's config since its last completed
            // handshake (session::handshake_failure; docs/control.md "status").
            const std::string serial = f->reason != handshake::reject::serial_mismatch ? std::string()
                                       : f->serial == handshake::serial_order::peer_newer ? "peer_newer"
                                                                                         : "peer_older";
            jp["handshake_failure"] = {
                {"reason", key_name(handshake::to_string(f->reason))},
                {"authenticated", f->authenticated},
                {"serial", serial},
                {"count", f->count},
                {"age_s", now.mono_ns >= f->last_ns ? static_cast<double>(now.mono_ns - f->last_ns) / 1e9 : 0.0},
                {"detail", session::describe(*f, name.empty() ? std::to_string(id) : name, _cfg.self_node().name)}};
        }
        if (path != nullptr) {
            jp["transport"] = std::string(transport::kind_name(path->kind));
            jp["address"] = path->ip.str();
            if (transport::is_udp(path->kind)) {
                jp["udp_port"] = path->udp_port;  // where it is sent to (after NAT: its mapping)
            }
            if (transport::is_tcp(path->kind)) {
                // Its tcp-port (we may connect there), or the connection it opened to us.
                jp["tcp_port"] = path->udp_port;
                jp["tcp_connects"] = path->stream_connect;
            }
            if (transport::is_icmp(path->kind)) {
                // The role taken (docs/protocol.md "ICMP roles"): the type and identifier sent.
                jp["icmp_type"] = path->icmp_type;
                jp["icmp_id"] = path->icmp_id;
            }
            jp["next_hop_resolved"] = path->next_hop_mac.has_value();
            jp["via"] = path->via;
        }
        if (auto r = _roamed.find(id); r != _roamed.end()) {
            if (auto src = source_addr::decode(r->second)) {
                jp["roamed_to"] = src->ip.str();  // authenticated packets came from there
            }
        }
        if (auto d = _dns.find(id); d != _dns.end()) {
            jp["hostname"] = d->second.name;
            jp["dns"] = {{"address", d->second.addr ? d->second.addr->str() : std::string()},
                         {"error", d->second.error},
                         {"lookups", d->second.lookups},
                         {"failures", d->second.failures}};
        }
        arr.push_back(jp);
    }
    return arr;
}

nlohmann::json daemon::config_json() const { return node_table_json(_cfg); }

nlohmann::json daemon::neighbours_json() const {
    nlohmann::json arr = nlohmann::json::array();
    const uint64_t hz = rte_get_tsc_hz();
    const uint64_t now = rte_rdtsc();
    for (const auto& e : _neigh.entries()) {
        static constexpr const char* states[] = {"incomplete", "reachable", "stale", "permanent"};
        std::string port;
        for (const auto& p : _ports) {
            if (p.info.port_id == e.port_id) {
                port = p.conf.name;
            }
        }
        arr.push_back({{"port", port},
                       {"ip", e.ip.str()},
                       {"mac", e.st == neighbour_table::state::incomplete ? "" : pmd::mac_str(e.mac)},
                       {"state", states[static_cast<int>(e.st)]},
                       {"age_s", e.updated_tsc ? static_cast<double>(now - e.updated_tsc) / static_cast<double>(hz) : 0.0},
                       {"requests", e.requests}});
    }
    return {{"ok", true}, {"neighbours", arr}};
}

}  // namespace control
