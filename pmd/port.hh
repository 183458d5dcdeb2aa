// SPDX-License-Identifier: MIT
// Ports and mempools: probe a device from its devargs, configure rx/tx queues, set MTU and MAC
// where the driver allows it, start it. Every port is a DPDK port, so a physical NIC,
// net_af_packet, net_tap, net_vhost, net_memif or net_pcap are the same to the engine
// (docs/design.md §2). What a driver lacks (MTU setting, MAC setting, offloads) is skipped and
// reported once in port_info::fallbacks, never fatal.
// Threads: main thread only, at startup and shutdown.
#pragma once

#include <rte_ether.h>
#include <rte_mempool.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pmd {

struct port_setup {
    std::string name;                        // the config's port name, for messages
    std::string devargs;                     // vdev devargs or a PCI address
    uint16_t n_rxq = 1;
    uint16_t n_txq = 1;
    uint16_t rx_desc = 1024;
    uint16_t tx_desc = 1024;
    rte_mempool* pool = nullptr;
    uint16_t mtu = 0;                        // 0: leave the driver's default
    std::optional<rte_ether_addr> mac;       // set as the port's MAC if given
    bool promiscuous = false;
    bool all_multicast = false;  // WAN ports: IPv6 solicited-node groups for Neighbor Discovery
    bool rx_interrupts = false;  // ask for rx queue interrupts (idle-wait = interrupt); a fallback if refused
};

struct port_info {
    uint16_t port_id = 0;
    std::string dev_name;                    // DPDK device name, e.g. net_af_packet0
    std::string driver;                      // e.g. net_af_packet
    rte_ether_addr mac{};
    uint16_t mtu = 0;
    bool hotplugged = false;                 // probed by us with rte_dev_probe: detach on close
    std::vector<std::string> fallbacks;      // what the driver lacked and what we did instead
};

/// True for a PCI address (DDDD:BB:DD.F or BB:DD.F, optionally followed by ,args).
bool is_pci_devargs(const std::string& devargs);

/// "aa:bb:cc:dd:ee:ff" (lower case, as iproute2 prints it).
std::string mac_str(const rte_ether_addr& mac);

/// Device name of a devargs string (the part before the first ',').
std::string devargs_name(const std::string& devargs);

/// Probes (vdevs are hot-plugged), configures and starts a port. Throws std::runtime_error
/// naming the port and the failing step.
port_info open_port(const port_setup& s);

/// Stops and closes a port; hot-plugged devices are removed. Never throws.
void close_port(const port_info& p) noexcept;

/// Creates the packet mempool. Throws std::runtime_error on failure.
rte_mempool* create_pool(const std::string& name, unsigned n_mbufs, unsigned cache, uint16_t priv_size,
                         uint16_t data_room);

}  // namespace pmd
