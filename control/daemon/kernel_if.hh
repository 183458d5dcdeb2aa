// SPDX-License-Identifier: MIT
// The kernel's side of an exception interface (docs/exception-path.md): a WAN port's addresses
// and default routes given to the kernel interface beside it, through rtnetlink, so the host
// answers SSH, DNS and the rest at the addresses it had before DPDK took the NIC.
// Threads: the control thread at startup.
#pragma once

#include <string>
#include <vector>

#include "control/config/config.hh"

namespace control {

/// Brings `ifname` up and adds every wan-address of port `port` to it (prefix as configured, no
/// duplicate address detection: the engine answers ARP/ND for them already) and, for every
/// wan-gateway of the port, a default route through it (metric 1025, after the kernel's usual
/// defaults). Turns forwarding (IPv4, IPv6) and router advertisements off on it. Returns one
/// message per step that failed (the caller logs them; an interface without them still carries
/// what the kernel sends itself); empty: all done.
std::vector<std::string> configure_kernel_if(const std::string& ifname, const std::string& port,
                                             const std::vector<wan_address>& addrs,
                                             const std::vector<wan_gateway>& gateways);

/// What the host offers for an automatic engine layout (control/config/config.hh host_facts):
/// interfaces with global addresses and the default routes (rtnetlink dumps), the CPUs of this
/// process's affinity, free hugepages (/proc/meminfo: at least 256 MiB). What cannot be read is
/// left empty.
host_facts read_host_facts();

}  // namespace control
