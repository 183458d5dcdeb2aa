// SPDX-License-Identifier: MIT
// Direct or routed: GVPE's rules for whether this node talks to a peer directly and, if not,
// which router carries the traffic (docs/gvpe-migration.md "router-priority" and
// "allow-direct and deny-direct"). Pure functions over the config; the daemon supplies which nodes
// currently have a session with us. Relays forward sealed packets unchanged (node ids are in
// the clear header), so a router holds no key of the two ends.
// Threads: control thread (and tests).
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "control/config/config.hh"

namespace control {

/// `a`'s allow/deny lists admit `b` (allow wins, then deny, else allowed; "*" matches all).
bool admits_direct(const node_conf& a, const node_conf& b);

/// GVPE's can_direct(a, b), the test router selection runs (pass 1): distinct, both admit each
/// other, and either they share a transport dvpe speaks and a's connect mode is `always` (b
/// connects to a, so a has a session with b whenever b runs), or b accepts connections on a
/// transport a speaks: b has a hostname (an IP literal or a DNS name: whether it resolves is not
/// the config's question) and, for udp, a non-zero udp-port, for tcp a non-zero tcp-port. dns
/// never counts (a client's link to its dns-forw-host, not a way for two nodes to meet).
bool can_reach_directly(const node_conf& a, const node_conf& b);

/// b accepts connections on these of a's transports (udp only with a udp-port, tcp only with a
/// tcp-port, all of them only with a hostname): GVPE's connectable_protocols() & a.protocols,
/// without dns.
uint8_t connectable_protocols(const node_conf& a, const node_conf& b);

/// The router `self` uses to reach `dst` (GVPE's find_router): among nodes with a session
/// (`connected`), first the highest router-priority > 1 that can reach dst directly, else the
/// highest router-priority above max(own priority, 1); ties go to the earlier node in the file.
/// nullopt: no router (packets wait for one or are dropped).
std::optional<unsigned> find_router(const config& cfg, const node_conf& self, const node_conf& dst,
                                    const std::function<bool(unsigned)>& connected);

/// The nodes find_router() may pick -- router-priority > 1, which both of its passes need --
/// that are `connected`, in config order: asked once per node, not once per routed peer (with
/// 1 000 address-less peers, each routed, that was a million session lookups per path update).
std::vector<const node_conf*> connected_routers(const config& cfg, const std::function<bool(unsigned)>& connected);

/// find_router() over connected_routers()'s list: the same choice.
std::optional<unsigned> find_router(const std::vector<const node_conf*>& routers, const node_conf& self,
                                    const node_conf& dst);

}  // namespace control
