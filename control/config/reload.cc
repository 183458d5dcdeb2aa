// SPDX-License-Identifier: MIT
// Configuration reload: the comparison of two configs (control/config/reload.hh).
#include "control/config/reload.hh"

#include <sstream>
#include <utility>

namespace control {

namespace {

using setting = std::pair<std::string, std::string>;  // directive, value as text

template <class T, class F>
std::string join(const std::vector<T>& v, F f, const char* sep = ", ") {
    std::string out;
    for (const auto& x : v) {
        if (!out.empty()) {
            out += sep;
        }
        out += f(x);
    }
    return out;
}

std::string num(double d) {
    std::ostringstream o;
    o << d;
    return o.str();
}

std::string yes_no(bool b) { return b ? "yes" : "no"; }

std::string quoted(const std::string& s) { return s.empty() ? "(none)" : s; }

/// The settings of the local node and of the globals that the running engine was built from.
std::vector<setting> engine_settings(const config& c) {
    const node_conf& n = c.self_node();
    const engine_layout& e = n.engine;
    std::vector<setting> s;
    s.emplace_back("node-id", std::to_string(n.id));
    s.emplace_back("hostname", quoted(n.hostname));
    s.emplace_back("udp-port", std::to_string(n.udp_port));
    s.emplace_back("tcp-port", std::to_string(n.tcp_port));  // the slow path's listening socket
    // The dns transport's settings are the slow path's from its start (docs/dns.md).
    s.emplace_back("dns-domain", quoted(n.dns_domain));
    s.emplace_back("dns-port", std::to_string(n.dns_port));
    s.emplace_back("dns-forw-host", quoted(c.global.dns_forw_host));
    s.emplace_back("dns-forw-port", std::to_string(c.global.dns_forw_port));
    s.emplace_back("dns-send-interval", std::to_string(c.global.dns_send_interval));
    s.emplace_back("dns-max-outstanding", std::to_string(c.global.dns_max_outstanding));
    s.emplace_back("dns-timeout-factor", std::to_string(c.global.dns_timeout_factor));
    {
        std::string servers;  // the peers that serve a domain, and their clients (enable-dns)
        for (const auto& p : c.nodes) {
            if (&p != &n && (p.protocols & proto_dns) != 0) {
                servers += p.name + "=" + p.dns_domain + " ";
            }
        }
        s.emplace_back("dns peers (enable-dns, dns-domain)", servers);
    }
    s.emplace_back("enable-*", protocols_string(n.protocols));
    s.emplace_back("control-lcore", std::to_string(e.control_lcore));
    s.emplace_back("worker-lcores", join(e.worker_lcores, [](unsigned l) { return std::to_string(l); }, ","));
    s.emplace_back("port", join(e.ports, [](const port_conf& p) {
                       return p.name + " " +
                              std::string(p.role == port_role::overlay && p.mode != overlay_mode::host
                                              ? to_string(p.mode)
                                              : to_string(p.role)) +
                              " " + p.devargs;
                   }));
    s.emplace_back("wan-address", join(e.wan_addresses, [](const wan_address& w) {
                       return w.port + " " + w.addr.str() + "/" + std::to_string(w.prefix);
                   }));
    s.emplace_back("lan-address", join(e.lan_addresses, [](const wan_address& w) {
                       return w.port + " " + w.addr.str() + "/" + std::to_string(w.prefix);
                   }));
    s.emplace_back("wan-gateway", join(e.wan_gateways, [](const wan_gateway& g) { return g.port + " " + g.addr.str(); }));
    s.emplace_back("neighbour", join(e.neighbours, [](const neighbour_conf& x) {
                       return x.port + " " + x.addr.str() + " " + mac_string(x.mac);
                   }));
    s.emplace_back("exception", join(e.exceptions, [](const exception_conf& x) { return x.port + " " + x.ifname; }));
    s.emplace_back("exception-rate", std::to_string(e.exception_rate));
    s.emplace_back("capture", yes_no(e.capture));
    s.emplace_back("control-socket-group", quoted(c.global.control_socket_group));  // the socket is made at start
    s.emplace_back("automatic layout (kernel keeps the wan interface)", yes_no(e.kernel_wan));
    s.emplace_back("queue-map", join(e.queue_map, [](const queue_map_entry& q) {
                       return q.port + " " + std::to_string(q.queue) + " " + std::to_string(q.lcore);
                   }));
    s.emplace_back("burst-size", std::to_string(e.burst_size));
    s.emplace_back("rx-descriptors", std::to_string(e.rx_descriptors));
    s.emplace_back("tx-descriptors", std::to_string(e.tx_descriptors));
    s.emplace_back("mbufs", std::to_string(e.mbufs));
    s.emplace_back("mbuf-cache", std::to_string(e.mbuf_cache));
    s.emplace_back("hugepages", yes_no(e.hugepages));
    s.emplace_back("memory-mb", std::to_string(e.memory_mb));
    s.emplace_back("tx-drain-us", std::to_string(e.tx_drain_us));
    s.emplace_back("idle-sleep-us", std::to_string(e.idle_sleep_us));
    s.emplace_back("idle-polls", std::to_string(e.idle_polls));
    s.emplace_back("idle-wait", e.idle_interrupt ? "interrupt" : "sleep");
    s.emplace_back("wan-fragment", yes_no(e.wan_fragment));
    s.emplace_back("eal-args", quoted(e.eal_args));
    s.emplace_back("mac-table-size", std::to_string(e.mac_table_size));
    s.emplace_back("mac-limit-per-peer", std::to_string(e.mac_limit_per_peer));
    s.emplace_back("mac-age", std::to_string(e.mac_age_s));
    const global_conf& g = c.global;
    s.emplace_back("mtu", std::to_string(g.mtu));
    s.emplace_back("ifname", quoted(g.ifname));
    s.emplace_back("ip-proto", std::to_string(g.ip_proto));
    s.emplace_back("icmp-type", std::to_string(g.icmp_type));
    s.emplace_back("cipher", g.cipher);
    s.emplace_back("crypto-backend", g.crypto_backend);
    s.emplace_back("control-socket", c.expand_path(g.control_socket));
    s.emplace_back("pid-file", c.expand_path(g.pid_file));
    s.emplace_back("private-key", c.expand_path(g.private_key));
    return s;
}

/// A node's settings that apply live (for the peer side, or for the local node).
std::vector<setting> node_settings(const node_conf& n, bool local) {
    std::vector<setting> s;
    if (!local) {
        s.emplace_back("hostname", quoted(n.hostname));
        s.emplace_back("udp-port", std::to_string(n.udp_port));
        s.emplace_back("tcp-port", std::to_string(n.tcp_port));
        s.emplace_back("enable-*", protocols_string(n.protocols));
    }
    s.emplace_back("connect", std::string(to_string(n.connect)));
    s.emplace_back("router-priority", std::to_string(n.router_priority));
    s.emplace_back("allow-direct", join(n.allow_direct, [](const std::string& x) { return x; }));
    s.emplace_back("deny-direct", join(n.deny_direct, [](const std::string& x) { return x; }));
    s.emplace_back("max-retry", num(n.max_retry));
    s.emplace_back("max-ttl", num(n.max_ttl));
    s.emplace_back("max-queue", std::to_string(n.max_queue));
    s.emplace_back("low-power", yes_no(n.low_power));
    s.emplace_back("inherit-tos", yes_no(n.inherit_tos));
    s.emplace_back("if-up-data", quoted(n.if_up_data));
    // Site gateways: the daemon rebuilds its route tables and static MAC entries on reload.
    s.emplace_back("route", join(n.routes, [](const route_conf& r) {
                       return r.addr.str() + "/" + std::to_string(r.prefix);
                   }));
    s.emplace_back("bridge-mac", join(n.bridge_macs, [](const bridge_mac_conf& b) { return mac_string(b.mac); }));
    return s;
}

std::vector<setting> live_globals(const config& c) {
    const global_conf& g = c.global;
    return {{"serial", quoted(g.serial)},
            {"keepalive", num(g.keepalive)},
            {"rekey", num(g.rekey)},
            {"loglevel", std::string(to_string(g.loglevel))},
            {"if-up", quoted(g.if_up)},
            {"node-up", quoted(g.node_up)},
            {"node-down", quoted(g.node_down)},
            {"node-change", quoted(g.node_change)}};
}

void diff(const std::vector<setting>& a, const std::vector<setting>& b, const std::string& prefix,
          std::vector<std::string>& out) {
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
        if (a[i].second != b[i].second) {
            out.push_back(prefix + a[i].first + ": " + quoted(a[i].second) + " -> " + quoted(b[i].second));
        }
    }
}

}  // namespace

std::vector<std::string> restart_only_changes(const config& running, const config& next) {
    std::vector<std::string> out;
    diff(engine_settings(running), engine_settings(next), "", out);
    return out;
}

std::vector<std::string> live_changes(const config& running, const config& next) {
    std::vector<std::string> out;
    diff(live_globals(running), live_globals(next), "", out);
    diff(node_settings(running.self_node(), true), node_settings(next.self_node(), true),
         running.self_node().name + " (this node): ", out);
    const unsigned self = running.self_node().id;
    for (const auto& a : running.nodes) {
        if (a.id != self && same_node_in(next, a) == nullptr) {
            out.push_back("removed " + a.name + " (id " + std::to_string(a.id) + ")");
        }
    }
    for (const auto& b : next.nodes) {
        if (b.id == self) {
            continue;
        }
        if (const node_conf* a = same_node_in(running, b)) {
            diff(node_settings(*a, false), node_settings(b, false), b.name + ": ", out);
        } else {
            out.push_back("added " + b.name + " (id " + std::to_string(b.id) + ")");
        }
    }
    return out;
}

result<reload_plan, reload_refusal> prepare_reload(const config& running, const load_options& from,
                                                   const std::array<uint8_t, x25519_key_bytes>& running_pub) {
    auto loaded = load_config(from);
    if (!loaded) {
        reload_refusal r{"the configuration has errors", {}};
        for (const auto& d : loaded.error()) {
            r.details.push_back(d.str());
        }
        return unexpected{std::move(r)};
    }
    reload_plan plan;
    plan.next = std::move(loaded.value());
    // Key files next: an unusable one is not a reason to restart but to fix the file.
    reload_refusal keys{"a key file cannot be used", {}};
    auto kp = load_node_keys(plan.next);
    if (!kp) {
        keys.details.push_back(kp.error());
    }
    auto peers = load_all_peer_public_keys(plan.next);
    if (!peers) {
        keys.details.insert(keys.details.end(), peers.error().begin(), peers.error().end());
    }
    if (!keys.details.empty()) {
        return unexpected{std::move(keys)};
    }
    std::vector<std::string> restart = restart_only_changes(running, plan.next);
    if (kp->pub.bytes != running_pub) {
        restart.push_back("private key: the key pair of this node changed");
    }
    if (!restart.empty()) {
        return unexpected{reload_refusal{"these settings need a restart of dvped", std::move(restart)}};
    }
    plan.peer_keys = std::move(peers.value());
    plan.changes = live_changes(running, plan.next);
    return plan;
}

const node_conf* same_node_in(const config& in, const node_conf& n) {
    const node_conf* x = in.node(n.id);
    return x != nullptr && x->name == n.name ? x : nullptr;
}

bool path_inputs_changed(const node_conf& a, const node_conf& b) {
    return a.name != b.name || a.hostname != b.hostname || a.udp_port != b.udp_port || a.protocols != b.protocols ||
           a.allow_direct != b.allow_direct || a.deny_direct != b.deny_direct ||
           a.inherit_tos != b.inherit_tos;
}

}  // namespace control
