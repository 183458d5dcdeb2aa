// SPDX-License-Identifier: MIT
// Mediated connections (docs/protocol.md "Mediated connections"; GVPE's CONNECT_REQ and
// CONNECT_INFO): the daemon's side of control/daemon/mediation.hh. Control messages travel in
// the sessions (transports/control_msg.hh): sealed here on the control lane, opened by a worker
// and handed over as plaintext (engine/ingress.cc control_message).
#include <rte_mbuf.h>

#include <cstring>

#include "control/daemon/daemon.hh"
#include "control/daemon/paths.hh"
#include "control/daemon/routing.hh"
#include "control/log.hh"

namespace control {

namespace {

std::string endpoint_str(const transport::connect_info& ci) {
    return std::string(transport::kind_name(ci.k)) + " " + ci.ip.str() +
           (transport::is_udp(ci.k) ? ":" + std::to_string(ci.udp_port) : std::string());
}

}  // namespace

void daemon::introduce(uint16_t a, uint16_t b) {
    const peer_path* pa = _peers->path(a);
    const peer_path* pb = _peers->path(b);
    if (pa == nullptr || pb == nullptr || pa->via != 0 || pb->via != 0 || !introducible(pa->kind) ||
        !introducible(pb->kind)) {
        // One of them is not reached directly here, or over tcp/dns (nothing to punch through).
        ++_mediation.counters.requests_refused;
        return;
    }
    auto info = [](uint16_t id, const peer_path& p) {
        transport::connect_info ci;
        ci.node = id;
        ci.k = p.kind;
        ci.udp_port = transport::is_udp(p.kind) ? p.udp_port : 0;
        ci.ip = p.ip;
        return ci;
    };
    const bool to_a = send_control(a, info(b, *pb));
    const bool to_b = send_control(b, info(a, *pa));
    if (to_a && to_b) {
        ++_mediation.counters.introductions;
    }
    const node_conf* na = _cfg.node(a);
    const node_conf* nb = _cfg.node(b);
    log::debug("introduced node " + (na ? na->name : std::to_string(a)) + " (" + endpoint_str(info(a, *pa)) +
              ") and node " + (nb ? nb->name : std::to_string(b)) + " (" + endpoint_str(info(b, *pb)) + ")" +
              (to_a && to_b ? "" : ": not sent to both"));
}

void daemon::on_control_message(rte_mbuf* m, handshake::clock_reading now, session::actions& acts) {
    const auto from = static_cast<uint16_t>(m->hash.usr & 0xffff);
    const auto msg = transport::parse_control(
        std::span<const uint8_t>(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m)));
    rte_pktmbuf_free(m);
    mediation_counters& c = _mediation.counters;
    const node_conf* sender = _cfg.node(from);
    if (!msg || sender == nullptr || !_sessions) {
        ++c.unparsed;
        return;
    }
    const node_conf& self = _cfg.self_node();
    if (const auto* req = std::get_if<transport::connect_req>(&*msg)) {
        ++c.requests_received;
        const node_conf* t = _cfg.node(req->node);
        if (self.router_priority == 0 || t == nullptr || req->node == from || req->node == self.id ||
            t->connect == connect_mode::disabled) {
            ++c.requests_refused;
            return;
        }
        switch (_mediation.on_request(from, req->node, direct_up(from, now) && direct_up(req->node, now), now.mono_ns)) {
        case mediation::request_verdict::introduce: introduce(from, req->node); break;
        case mediation::request_verdict::wait: _sessions->on_packets_queued(req->node, now, acts); break;
        case mediation::request_verdict::rate_limited: break;
        }
        return;
    }
    const auto& ci = std::get<transport::connect_info>(*msg);
    ++c.infos_received;
    const node_conf* n = _cfg.node(ci.node);
    // Only the router that relays the node to us may tell us where it is (a router of our
    // config, and the one our packets for it go through), only about a node we know no address
    // of (a configured one stays), and only where the rules let us talk to it directly.
    const peer_path* cur = n != nullptr ? _peers->path(ci.node) : nullptr;
    if (sender->router_priority == 0 || n == nullptr || ci.node == self.id || ci.node == from || cur == nullptr ||
        (cur->via != 0 && cur->via != from) || !introducible(ci.k) || !mediable(*n, ci.k)) {
        ++c.infos_refused;
        return;
    }
    if (cur->via == 0) {
        return;  // direct already (both ends asked, or the info crossed our own handshake)
    }
    if (!_mediation.on_info(ci, from, now.mono_ns)) {
        return;  // the same endpoint again (both ends asked), or a new one too soon
    }
    ++c.attempts;
    log::info("node " + n->name + ": router " + sender->name + " sees it at " + endpoint_str(ci) +
              "; handshaking there");
    // A session that is up gets a make-before-break rekey there now. A first handshake in
    // flight through the router is left to complete: its retries (if it needs any) go to the
    // told endpoint, and a rekey follows the next introduction once it is up.
    const auto st = _sessions->status(ci.node, now);
    if (st && (st->state == session::peer_state::up || !st->handshake_in_progress)) {
        _sessions->reconnect(ci.node, now, acts);
    }
}

bool daemon::mediable(const node_conf& n, std::optional<transport::kind> k) const {
    const node_conf& self = _cfg.self_node();
    const uint8_t common = self.protocols & n.protocols & (k ? proto_of(*k) : 0xff);
    return n.id != self.id && n.hostname.empty() && n.connect != connect_mode::disabled && admits_direct(self, n) &&
           admits_direct(n, self) && common != 0;
}

bool daemon::direct_up(uint16_t id, handshake::clock_reading now) const {
    const peer_path* p = _peers->path(id);
    const auto st = _sessions->status(id, now);
    return p != nullptr && p->via == 0 && st && st->state == session::peer_state::up;
}

std::optional<peer_path> daemon::mediated_path(uint16_t peer, handshake::clock_reading now) {
    const transport::connect_info* ci = _mediation.endpoint(peer, now.mono_ns);
    const node_conf* n = _cfg.node(peer);
    if (ci == nullptr || n == nullptr || !mediable(*n, ci->k)) {
        return std::nullopt;  // (a reload may have changed the rules since)
    }
    if (const peer_path* cur = _peers->path(peer); cur != nullptr && cur->via == 0) {
        return std::nullopt;
    }
    source_addr src;
    src.k = ci->k;
    src.ip = ci->ip;
    src.udp_port = ci->udp_port;
    auto d = direct_path(_cfg, path_inputs_now(), *n, ci->ip, src);
    if (d.outcome != direct_outcome::path) {
        return std::nullopt;
    }
    return d.path;
}

void daemon::mediation_iteration(handshake::clock_reading now) {
    const node_conf& self = _cfg.self_node();
    for (const auto& n : _cfg.nodes) {
        const auto id = static_cast<uint16_t>(n.id);
        if (n.id == self.id) {
            continue;
        }
        const peer_path* p = _peers->path(id);
        if (p == nullptr) {
            _mediation.not_relayed(id);
            continue;
        }
        if (p->via == 0) {
            _mediation.direct(id);
            continue;
        }
        // Relayed: ask the router to introduce us, if a direct connection is what GVPE would
        // make (no address known, direct allowed both ways) and there is a session or demand.
        if (!mediable(n)) {
            continue;
        }
        const auto st = _sessions->status(id, now);
        if (!st || (st->state != session::peer_state::up && !st->handshake_in_progress)) {
            continue;
        }
        if (_mediation.request_due(id, p->via, now.mono_ns) && send_control(p->via, transport::connect_req{id})) {
            ++_mediation.counters.requests_sent;
        }
    }
    if (self.router_priority == 0 || _mediation.pending() == 0) {
        return;
    }
    for (const auto& [a, b] : _mediation.due([&](uint16_t id) { return direct_up(id, now); }, now.mono_ns)) {
        introduce(a, b);
    }
}

}  // namespace control
