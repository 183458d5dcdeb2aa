// SPDX-License-Identifier: MIT
// GVPE's direct/routed decision; see routing.hh.
#include "control/daemon/routing.hh"

#include <algorithm>

namespace control {

namespace {

bool listed(const std::vector<std::string>& l, const std::string& name) {
    return std::any_of(l.begin(), l.end(), [&](const std::string& e) { return e == "*" || e == name; });
}

}  // namespace

bool admits_direct(const node_conf& a, const node_conf& b) {
    if (listed(a.allow_direct, b.name)) {
        return true;
    }
    return !listed(a.deny_direct, b.name);
}

namespace {
// dns is left out: it is a client's link to the one node its dns-forw-host names (a server
// answers queries, it never connects out), not a way for any two nodes to meet directly.
constexpr uint8_t speakable = proto_udp | proto_rawip | proto_icmp | proto_tcp;

/// `protos` without tcp when n listens nowhere for it (tcp-port 0: it only connects out).
uint8_t without_closed_tcp(uint8_t protos, const node_conf& n) {
    return n.tcp_port == 0 ? static_cast<uint8_t>(protos & ~proto_tcp) : protos;
}
}  // namespace

uint8_t connectable_protocols(const node_conf& a, const node_conf& b) {
    if (b.hostname.empty()) {
        return 0;
    }
    uint8_t common = without_closed_tcp(a.protocols & b.protocols & speakable, b);
    if (b.udp_port == 0) {
        common &= static_cast<uint8_t>(~proto_udp);
    }
    return common;
}

bool can_reach_directly(const node_conf& a, const node_conf& b) {
    if (a.id == b.id || !admits_direct(a, b) || !admits_direct(b, a)) {
        return false;
    }
    // b connects to a: GVPE's rule asks no port of a, but a tcp-port 0 node listens nowhere, so
    // tcp alone does not let b reach it (udp keeps GVPE's rule).
    if (without_closed_tcp(a.protocols & b.protocols & speakable, a) != 0 && a.connect == connect_mode::always) {
        return true;
    }
    return connectable_protocols(a, b) != 0;
}

std::vector<const node_conf*> connected_routers(const config& cfg, const std::function<bool(unsigned)>& connected) {
    std::vector<const node_conf*> out;
    for (const auto& r : cfg.nodes) {
        if (r.router_priority > 1 && connected(r.id)) {
            out.push_back(&r);
        }
    }
    return out;
}

std::optional<unsigned> find_router(const std::vector<const node_conf*>& routers, const node_conf& self,
                                    const node_conf& dst) {
    std::optional<unsigned> best;
    unsigned best_prio = 0;
    // Pass 1: candidate routers (priority > 1) that reach dst directly.
    for (const node_conf* r : routers) {
        if (r->id == self.id || r->id == dst.id) {
            continue;
        }
        if (can_reach_directly(*r, dst) && r->router_priority > best_prio) {
            best = r->id;
            best_prio = r->router_priority;
        }
    }
    if (best) {
        return best;
    }
    // Pass 2: any connected router ranked above us (routers never hand packets down the ranking;
    // the floor is at least 1, so only the candidates of pass 1 qualify).
    const unsigned floor = std::max(self.router_priority, 1u);
    for (const node_conf* r : routers) {
        if (r->id == self.id || r->id == dst.id) {
            continue;
        }
        if (r->router_priority > floor && r->router_priority > best_prio) {
            best = r->id;
            best_prio = r->router_priority;
        }
    }
    return best;
}

std::optional<unsigned> find_router(const config& cfg, const node_conf& self, const node_conf& dst,
                                    const std::function<bool(unsigned)>& connected) {
    return find_router(connected_routers(cfg, connected), self, dst);
}

}  // namespace control
