// SPDX-License-Identifier: MIT
// Configuration reload (SIGHUP, `dvpectl reload`): what changed between the running config and
// a newly loaded one. Pure functions over two validated configs; the daemon applies the result
// (control/daemon.cc, docs/config.md "Reloading").
//
// A reload is all or nothing. It is refused, and nothing changes, when the new files do not
// load, or when a setting the running engine was built from changed (restart_only_changes):
// the local node's id, its engine layout (lcores, ports, queues, mempool, addresses), its
// hostname, udp-port and protocols, and the globals that shape ports and packets (mtu, ifname,
// ip-proto, icmp-type, cipher, crypto-backend, control-socket, pid-file, private-key).
// Everything else applies live: nodes added, removed or changed (keys, address, protocols,
// connect mode, router priority, allow/deny-direct, queue limits), hook scripts and if-up-data,
// serial, keepalive, rekey, loglevel, and the local router-priority / connect / low-power.
// Threads: any; no state.
#pragma once

#include <string>
#include <vector>

#include "control/config.hh"

namespace control {

/// Settings that need a restart, each as "DIRECTIVE: OLD -> NEW" (empty: the reload can apply).
std::vector<std::string> restart_only_changes(const config& running, const config& next);

/// What a reload changes about the other nodes, for the log and the reply: "added NAME (id N)",
/// "removed NAME (id N)", "NAME: DIRECTIVE OLD -> NEW", and for the globals that apply live
/// "DIRECTIVE: OLD -> NEW". Keys are compared by the daemon (files), not here.
std::vector<std::string> live_changes(const config& running, const config& next);

/// The node of `in` that stands where `n` stood: the same id and the same name (ids are
/// positional, so another name at that id is another node). nullptr if there is none.
const node_conf* same_node_in(const config& in, const node_conf& n);

/// Whether the path towards `a`'s node must be recomputed when it becomes `b` (same id): its
/// name, address, ports, protocols, direct/routed rules or inherit-tos changed.
bool path_inputs_changed(const node_conf& a, const node_conf& b);

}  // namespace control
