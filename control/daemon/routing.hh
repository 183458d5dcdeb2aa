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

#include "control/config/config.hh"

namespace control {

/// `a`'s allow/deny lists admit `b` (allow wins, then deny, else allowed; "*" matches all).
bool admits_direct(const node_conf& a, const node_conf& b);

/// a and b may exchange packets directly: distinct, both admit each other, they share a
/// transport dvpe speaks (udp needs b's udp-port != 0), and b has an IP-literal hostname.
bool can_reach_directly(const node_conf& a, const node_conf& b);

/// The router `self` uses to reach `dst` (GVPE's find_router): among nodes with a session
/// (`connected`), first the highest router-priority > 1 that can reach dst directly, else the
/// highest router-priority above max(own priority, 1); ties go to the earlier node in the file.
/// nullopt: no router (packets wait for one or are dropped).
std::optional<unsigned> find_router(const config& cfg, const node_conf& self, const node_conf& dst,
                                    const std::function<bool(unsigned)>& connected);

}  // namespace control
