// SPDX-License-Identifier: MIT
// The site LAN on the control thread (docs/site-gateways.md): the bridge's MAC learner fed by the
// workers' learn ring and published as engine::mac_table; the route table built from every
// node's `route` lines; the LAN hosts' MACs for a routing gateway (resolved through the neighbour
// table, control/daemon/neighbour.hh, from our lan-address) published as engine::lan_neighbours.
// Each change reaches the workers in the next dataplane snapshot (the base's LAN fields).
// Threads: control thread only.
#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "control/daemon/daemon.hh"
#include "control/log.hh"

namespace control {

namespace {

constexpr unsigned learn_ring_size = 8192;        // events in flight from all workers
constexpr unsigned learn_per_iteration = 4096;    // events one control iteration takes at most

constexpr size_t max_lan_neighbours = 4096;       // LAN hosts a routing gateway resolves

}  // namespace

std::shared_ptr<engine::route_table> build_route_table(const config& cfg) {
    std::vector<engine::route_table::route> routes;
    for (const auto& n : cfg.nodes) {
        for (const auto& r : n.routes) {
            routes.push_back({r.addr, r.prefix, static_cast<uint16_t>(n.id)});
        }
    }
    if (routes.empty()) {
        return nullptr;
    }
    return std::make_shared<engine::route_table>(routes);
}

std::vector<std::pair<uint64_t, uint16_t>> static_macs(const config& cfg) {
    std::vector<std::pair<uint64_t, uint16_t>> out;
    const unsigned self = cfg.self_node().id;
    for (const auto& n : cfg.nodes) {
        for (const auto& b : n.bridge_macs) {
            out.emplace_back(engine::mac_key(b.mac.data()),
                             n.id == self ? engine::mac_table::local : static_cast<uint16_t>(n.id));
        }
    }
    return out;
}

void daemon::create_learn_ring() {
    // Every node but a routing gateway keeps a MAC table: a bridge for its LAN, a TAP node for
    // the hosts behind bridge gateways (frames to them are flooded until their MAC is learned).
    const auto& ports = _cfg.self_node().engine.ports;
    if (std::any_of(ports.begin(), ports.end(), [](const port_conf& p) { return p.mode == overlay_mode::route; })) {
        return;
    }
    _learn = rte_ring_create("dvpe_learn", learn_ring_size, static_cast<int>(rte_socket_id()), RING_F_SC_DEQ);
    if (_learn == nullptr) {
        throw std::runtime_error(std::string("cannot create the MAC learn ring: ") + rte_strerror(rte_errno));
    }
}

void daemon::setup_lan_base() {
    const engine_layout& l = _cfg.self_node().engine;
    _base.clock = &_lan_clock;
    for (const auto& p : _ports) {
        if (p.conf.role != port_role::overlay || p.conf.mode == overlay_mode::host) {
            continue;
        }
        _base.lan_mode = p.conf.mode;
        _base.lan_port_id = p.info.port_id;
        _base.lan_mac = p.info.mac;
    }
    if (_base.lan_mode != overlay_mode::route && _learn != nullptr) {
        _macs = std::make_unique<mac_learner>(
            mac_learner_limits{l.mac_table_size, l.mac_limit_per_peer, l.mac_age_s});
        _macs->set_static(static_macs(_cfg));
        _mac_table = _macs->build();
    }
    if (_base.lan_mode == overlay_mode::bridge) {
        log::info("bridge: MAC table of at most " + std::to_string(l.mac_table_size) + " entries, " +
                  std::to_string(l.mac_limit_per_peer) + " per peer, aged after " + std::to_string(l.mac_age_s) +
                  " s; " + std::to_string(_macs->static_count()) + " static");
    } else if (_base.lan_mode == overlay_mode::route) {
        _routes = build_route_table(_cfg);
        _lan_neigh = std::make_shared<engine::lan_neighbours>(std::vector<engine::lan_neighbours::entry>{});
        log::info("route: " + std::to_string(_routes ? _routes->size() : 0) + " prefixes");
    }
    lan_to_base();
}

void daemon::lan_to_base() {
    _base.macs = _mac_table.get();
    _base.routes = _routes.get();
    _base.lan_neigh = _lan_neigh.get();
    _base.owned.clear();
    if (_mac_table) {
        _base.owned.push_back(_mac_table);
    }
    if (_routes) {
        _base.owned.push_back(_routes);
    }
    if (_lan_neigh) {
        _base.owned.push_back(_lan_neigh);
    }
    _dirty = true;
}

void daemon::lan_gauges_update() {
    const auto set = [](std::atomic<uint64_t>& a, uint64_t v) { a.store(v, std::memory_order_relaxed); };
    _lan_gauges.mode.store(static_cast<uint8_t>(_base.lan_mode), std::memory_order_relaxed);
    if (_macs) {
        const auto& c = _macs->counters();
        set(_lan_gauges.mac_entries, _macs->size());
        set(_lan_gauges.mac_static, _macs->static_count());
        set(_lan_gauges.mac_learned, c.learned);
        set(_lan_gauges.mac_aged, c.aged);
        set(_lan_gauges.mac_moved, c.moved);
        set(_lan_gauges.mac_limit_dropped, c.limit_dropped);
    }
    set(_lan_gauges.routes, _routes ? _routes->size() : 0);
    set(_lan_gauges.lan_hosts, _lan_neigh_count);
    set(_lan_gauges.unresolved, _lan_unresolved);
}

void daemon::lan_iteration() {
    const uint64_t now_tsc = rte_rdtsc();
    const auto now_s = static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - _started).count());
    _lan_clock.store(now_s, std::memory_order_relaxed);
    if (!_macs) {
        if (now_tsc >= _next_age_tsc && _base.lan_mode != overlay_mode::host) {
            // LAN hosts that never answered (or stopped answering) three requests are
            // forgotten: a sweep for addresses that do not exist cannot fill the table for good.
            const auto f = _neigh.forget_unanswered(_base.lan_port_id, 3);
            if (f.resolved) {
                lan_neighbours_changed();
            }
            lan_gauges_update();
            _next_age_tsc = now_tsc + rte_get_tsc_hz();
        }
        return;
    }
    bool changed = false;
    void* ev[256];
    unsigned taken = 0;
    unsigned n;
    while (taken < learn_per_iteration && (n = rte_ring_sc_dequeue_burst(_learn, ev, 256, nullptr)) != 0) {
        taken += n;
        for (unsigned i = 0; i < n; ++i) {
            changed |= _macs->learn(engine::learn_event_mac(ev[i]), engine::learn_event_owner(ev[i]), now_s);
        }
    }
    if (now_tsc >= _next_age_tsc) {
        _macs->harvest(*_mac_table);
        changed |= _macs->age(now_s);
        _next_age_tsc = now_tsc + rte_get_tsc_hz();
        lan_gauges_update();
    }
    if (changed) {
        // The stamps the workers wrote since the last harvest go with the entries.
        _macs->harvest(*_mac_table);
        _mac_table = _macs->build();
        lan_to_base();
    }
}

void daemon::lan_resolve(rte_mbuf* m) {
    ++_lan_unresolved;
    const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    const uint32_t len = rte_pktmbuf_data_len(m);
    std::optional<ip_address> dst;
    if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4) && len >= sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr)) {
        dst = ip_address::from_v4(reinterpret_cast<const rte_ipv4_hdr*>(eth + 1)->dst_addr);
    } else if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV6) &&
               len >= sizeof(rte_ether_hdr) + sizeof(rte_ipv6_hdr)) {
        dst = ip_address::from_v6(reinterpret_cast<const rte_ipv6_hdr*>(eth + 1)->dst_addr);
    }
    rte_pktmbuf_free(m);
    if (!dst || _neigh.lookup(_base.lan_port_id, *dst)) {
        return;
    }
    // Only a host on one of our LAN subnets is asked for (a packet for an address beyond them
    // has no next hop here: counted, not resolved), and never one of our own addresses.
    bool on_link = false;
    for (const auto& la : _cfg.self_node().engine.lan_addresses) {
        if (la.addr == *dst) {
            ++_lan_off_link;
            return;
        }
        on_link = on_link || la.addr.same_subnet(*dst, la.prefix);
    }
    if (!on_link) {
        ++_lan_off_link;
        return;
    }
    if (_neigh.count(_base.lan_port_id) >= max_lan_neighbours) {
        ++_lan_off_link;  // a full table: counted like a host we cannot ask for
        return;
    }
    _neigh.want(_base.lan_port_id, *dst);
    _next_neigh_tsc = 0;  // ask now
}

void daemon::lan_neighbours_changed() {
    if (_base.lan_mode != overlay_mode::route) {
        return;
    }
    std::vector<engine::lan_neighbours::entry> hosts;
    for (const auto& e : _neigh.entries()) {
        if (e.port_id == _base.lan_port_id && e.st != neighbour_table::state::incomplete) {
            hosts.push_back({e.ip, e.mac});
        }
    }
    _lan_neigh_count = hosts.size();
    _lan_neigh = std::make_shared<engine::lan_neighbours>(hosts);
    lan_to_base();
}

nlohmann::json daemon::lan_json() const {
    nlohmann::json j;
    j["mode"] = std::string(to_string(_base.lan_mode));
    if (_macs) {
        j["mac_table"] = mac_learner_json(*_macs);
        // Learned entries per owner (node id, 0: our LAN) and the entries themselves, at most
        // max_listed of them (a table of a million entries is not a status reply).
        constexpr size_t max_listed = 4096;
        nlohmann::json by_owner = nlohmann::json::object();
        nlohmann::json listed = nlohmann::json::array();
        for (const auto& e : _macs->entries()) {
            if (!e.is_static) {
                auto& c = by_owner[std::to_string(e.owner)];
                c = (c.is_null() ? 0 : c.get<uint64_t>()) + 1;
            }
            if (listed.size() < max_listed) {
                std::array<uint8_t, 6> mac{};
                std::memcpy(mac.data(), &e.mac, mac.size());  // engine::mac_key: the bytes in memory order
                listed.push_back({{"mac", mac_string(mac)}, {"owner", e.owner}, {"static", e.is_static},
                                  {"last_used_s", e.last_used_s}});
            }
        }
        j["mac_table"]["by_owner"] = by_owner;
        j["mac_table"]["entries"] = listed;
    }
    if (_base.lan_mode == overlay_mode::route) {
        j["routes"] = _routes ? _routes->size() : 0;
        j["lan_hosts"] = _lan_neigh_count;  // what the workers' table holds
        j["unresolved"] = _lan_unresolved;
        j["off_link"] = _lan_off_link;
    }
    return j;
}

}  // namespace control
