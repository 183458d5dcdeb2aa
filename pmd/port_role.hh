// SPDX-License-Identifier: MIT
// What a port is for (docs/architecture.md "Ports and roles"): the underlay towards other nodes
// (wan) or the virtual Ethernet of this node or its site (overlay). One definition for the
// config (control/config/config.hh: `port = NAME ROLE DEVARGS`) and the workers (engine/worker.hh
// port_ctx). DPDK-free, so the sans-IO config code can use it.
// Threads: a plain enum; any thread.
#pragma once

#include <cstdint>

namespace pmd {

enum class port_role : uint8_t { wan, overlay };

}  // namespace pmd
