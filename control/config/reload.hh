// SPDX-License-Identifier: MIT
// Configuration reload (SIGHUP, `dvpectl reload`): what changed between the running config and
// a newly loaded one. prepare_reload() reads the files (configuration and keys) and decides;
// the rest are pure functions over two validated configs. The daemon applies the result
// (control/daemon/daemon_reload.cc, docs/config.md "Reloading").
//
// A reload is all or nothing. It is refused, and nothing changes, when the new files do not
// load (configuration errors, or any key file: this node's key pair, or any other node's public
// key missing, unreadable, not a regular file, too large, truncated or garbage, a private key
// others may read), or when a setting the running engine was built from changed (restart_only_changes):
// the local node's id, its engine layout (lcores, ports, queues, mempool, addresses, lan-address,
// mac-table-size / mac-limit-per-peer / mac-age), its hostname, udp-port and protocols, and the
// globals that shape ports and packets (mtu, ifname, ip-proto, icmp-type, cipher, crypto-backend,
// control-socket, pid-file, private-key).
// Everything else applies live: nodes added, removed or changed (keys, address, protocols,
// connect mode, router priority, allow/deny-direct, queue limits, route, bridge-mac), hook
// scripts and if-up-data, serial, keepalive, rekey, loglevel, and the local router-priority /
// connect / low-power.
// Threads: any; no state (prepare_reload reads files and may take as long as that takes).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "control/config/config.hh"
#include "control/config/keys.hh"
#include "control/result.hh"

namespace control {

/// A reload that may be applied: the new configuration, every other node's public key (by id)
/// and the changes for the log and the reply (live_changes).
struct reload_plan {
    config next;
    std::map<unsigned, std::array<uint8_t, x25519_key_bytes>> peer_keys;
    std::vector<std::string> changes;
};

/// A refused reload: why ("the configuration has errors", "a key file cannot be used", "these
/// settings need a restart of dvped") and one line per problem, each naming its file (and line)
/// or setting.
struct reload_refusal {
    std::string why;
    std::vector<std::string> details;
};

/// Everything a reload checks before it touches anything: loads and validates the configuration
/// as `from` says (the same directory, node and overrides dvped started with), loads this node's
/// key pair and every other node's public key, and compares with \p running, whose node key pair
/// has the public key \p running_pub. \returns the plan, or the refusal with every reason.
result<reload_plan, reload_refusal> prepare_reload(const config& running, const load_options& from,
                                                   const std::array<uint8_t, x25519_key_bytes>& running_pub);

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
