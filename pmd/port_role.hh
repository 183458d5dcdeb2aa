// SPDX-License-Identifier: MIT
// What a port is for (docs/architecture.md "Ports and roles"): the underlay towards other nodes
// (wan) or the virtual Ethernet of this node or its site (overlay). An overlay port is one of
// three kinds (docs/site-gateways.md): `host` -- the node's own TAP, frames addressed by node
// MAC fe:fd:80:00:HH:LL (GVPE's model); `bridge` -- a site LAN joined to the mesh as one Ethernet
// segment (learned MAC table); `route` -- a site LAN routed by longest prefix match of `route`
// prefixes. One definition for the config (control/config/config.hh: `port = NAME ROLE DEVARGS`,
// ROLE wan|overlay|bridge|route) and the workers (engine/worker.hh port_ctx). DPDK-free, so the
// sans-IO config code can use it.
// Threads: plain enums; any thread.
#pragma once

#include <cstdint>

namespace pmd {

/// `exception`: the kernel's interface beside a wan port (docs/exception-path.md), made by
/// the daemon from `exception = PORT IFNAME`, never by a `port` line. `stream`: the rings to
/// and from the tcp slow path (control/daemon/tcp_path.hh), made by the daemon when the node
/// enables tcp: packets behind a ring header (transports/stream.hh), not Ethernet frames.
enum class port_role : uint8_t { wan, overlay, exception, stream };

/// What an overlay port carries (wan ports: always host, unused).
enum class overlay_mode : uint8_t { host, bridge, route };

}  // namespace pmd
