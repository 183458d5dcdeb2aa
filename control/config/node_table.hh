// SPDX-License-Identifier: MIT
// What a configuration says about the mesh, without a running daemon: the overlay MTU this node
// gets and the `config` reply of the control socket (docs/control.md "config"), which dvped
// serves and `dvpectl config` prints -- from the daemon, or from the file when none runs (as
// `gvpectrl -s`, which never asks the daemon).
// Threads: any (pure functions of the config).
#pragma once

#include <nlohmann/json.hpp>

#include "control/config/config.hh"

namespace control {

/// The largest inner L3 overhead of the transports this node can use, on the address families
/// of its WAN addresses (docs/protocol.md "Overhead").
unsigned worst_overhead(const config& cfg);

/// The overlay (TAP) MTU: the smaller of GVPE's `mtu - 66` and `mtu` minus worst_overhead()
/// (IPv6 underlay costs 20 bytes more); `mtu` itself with `wan-fragment`.
unsigned overlay_mtu(const config& cfg);

/// The `config` reply: node count, this node, MTUs, intervals, ifname, cipher, serial and the
/// node table (id, name, MAC, connect, protocols, hostname, udp-port, router priority).
nlohmann::json node_table_json(const config& cfg);

}  // namespace control
