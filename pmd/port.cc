// SPDX-License-Identifier: MIT
// Port probing/configuration and mempool creation; see port.hh.
#include "pmd/port.hh"

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace pmd {

namespace {

[[noreturn]] void fail(const port_setup& s, const std::string& what, int err) {
    throw std::runtime_error("port " + s.name + " (" + s.devargs + "): " + what + ": " +
                             rte_strerror(err < 0 ? -err : err));
}

std::string queue_hint(const std::string& driver) {
    if (driver == "net_af_packet") {
        return " (net_af_packet creates as many queue pairs as its qpairs=N devarg says)";
    }
    if (driver == "net_tap") {
        return " (net_tap: set queues=N in its devargs)";
    }
    return "";
}

}  // namespace

bool is_pci_devargs(const std::string& devargs) {
    std::string n = devargs_name(devargs);
    // BB:DD.F or DDDD:BB:DD.F, hex digits
    size_t colons = 0, dots = 0;
    for (char c : n) {
        if (c == ':') {
            ++colons;
        } else if (c == '.') {
            ++dots;
        } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
            return false;
        }
    }
    return (colons == 1 || colons == 2) && dots == 1;
}

std::string mac_str(const rte_ether_addr& mac) {
    char buf[18];
    const uint8_t* b = mac.addr_bytes;
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
    return buf;
}

std::string devargs_name(const std::string& devargs) { return devargs.substr(0, devargs.find(',')); }

port_info open_port(const port_setup& s) {
    port_info info;
    info.dev_name = devargs_name(s.devargs);
    if (!is_pci_devargs(s.devargs)) {
        int rc = rte_dev_probe(s.devargs.c_str());
        if (rc < 0) {
            fail(s, "cannot probe device (check the driver name and its arguments)", rc);
        }
        info.hotplugged = true;
    }
    uint16_t port_id = 0;
    if (int rc = rte_eth_dev_get_port_by_name(info.dev_name.c_str(), &port_id); rc != 0) {
        if (info.hotplugged) {
            rte_eal_hotplug_remove("vdev", info.dev_name.c_str());
        }
        fail(s, "no ethdev named " + info.dev_name + " after probing", rc);
    }
    info.port_id = port_id;

    rte_eth_dev_info dev_info{};
    if (int rc = rte_eth_dev_info_get(port_id, &dev_info); rc != 0) {
        fail(s, "cannot read device info", rc);
    }
    info.driver = dev_info.driver_name ? dev_info.driver_name : "";
    if (s.n_rxq > dev_info.max_rx_queues) {
        throw std::runtime_error("port " + s.name + ": driver " + info.driver + " supports " +
                                 std::to_string(dev_info.max_rx_queues) + " rx queue(s), the layout needs " +
                                 std::to_string(s.n_rxq) + queue_hint(info.driver));
    }
    if (s.n_txq > dev_info.max_tx_queues) {
        throw std::runtime_error("port " + s.name + ": driver " + info.driver + " supports " +
                                 std::to_string(dev_info.max_tx_queues) + " tx queue(s), the layout needs " +
                                 std::to_string(s.n_txq) + " (one per worker lcore)" + queue_hint(info.driver));
    }

    rte_eth_conf conf{};
    if (s.n_rxq > 1) {
        uint64_t want = RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP;
        uint64_t have = dev_info.flow_type_rss_offloads & want;
        if (have != 0) {
            conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = have;
        } else {
            info.fallbacks.push_back("no RSS: " + std::to_string(s.n_rxq) +
                                     " rx queues are filled by the driver's own distribution");
        }
    }
    if (dev_info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE) {
        conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
    }
    if (s.rx_interrupts) {
        conf.intr_conf.rxq = 1;
        if (rte_eth_dev_configure(port_id, s.n_rxq, s.n_txq, &conf) != 0) {
            conf.intr_conf.rxq = 0;
            info.fallbacks.push_back("no rx interrupts (idle-wait = interrupt sleeps on this port's workers)");
        }
    }
    if (int rc = rte_eth_dev_configure(port_id, s.n_rxq, s.n_txq, &conf); rc != 0) {
        fail(s, "cannot configure " + std::to_string(s.n_rxq) + " rx / " + std::to_string(s.n_txq) + " tx queues",
             rc);
    }
    uint16_t nb_rxd = s.rx_desc, nb_txd = s.tx_desc;
    if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &nb_rxd, &nb_txd); rc != 0) {
        fail(s, "cannot adjust descriptor counts", rc);
    }
    if (nb_rxd != s.rx_desc || nb_txd != s.tx_desc) {
        info.fallbacks.push_back("descriptors adjusted by the driver to rx " + std::to_string(nb_rxd) + " / tx " +
                                 std::to_string(nb_txd));
    }
    if (s.mtu != 0) {
        int rc = rte_eth_dev_set_mtu(port_id, s.mtu);
        if (rc == -ENOTSUP) {
            info.fallbacks.push_back("cannot set MTU " + std::to_string(s.mtu) + " (not supported by " + info.driver +
                                     "); using the device's MTU");
        } else if (rc != 0) {
            fail(s, "cannot set MTU " + std::to_string(s.mtu), rc);
        }
    }
    if (s.mac) {
        rte_ether_addr mac = *s.mac;
        int rc = rte_eth_dev_default_mac_addr_set(port_id, &mac);
        if (rc == -ENOTSUP) {
            info.fallbacks.push_back("cannot set the MAC address (not supported by " + info.driver + ")");
        } else if (rc != 0) {
            fail(s, "cannot set the MAC address", rc);
        }
    }
    int socket = rte_eth_dev_socket_id(port_id);
    if (socket < 0) {
        socket = static_cast<int>(rte_socket_id());
    }
    for (uint16_t q = 0; q < s.n_rxq; ++q) {
        if (int rc = rte_eth_rx_queue_setup(port_id, q, nb_rxd, static_cast<unsigned>(socket), nullptr, s.pool);
            rc != 0) {
            fail(s, "cannot set up rx queue " + std::to_string(q), rc);
        }
    }
    rte_eth_txconf txconf = dev_info.default_txconf;
    txconf.offloads = conf.txmode.offloads;
    for (uint16_t q = 0; q < s.n_txq; ++q) {
        if (int rc = rte_eth_tx_queue_setup(port_id, q, nb_txd, static_cast<unsigned>(socket), &txconf); rc != 0) {
            fail(s, "cannot set up tx queue " + std::to_string(q), rc);
        }
    }
    if (int rc = rte_eth_dev_start(port_id); rc != 0) {
        fail(s, "cannot start", rc);
    }
    if (s.promiscuous) {
        if (int rc = rte_eth_promiscuous_enable(port_id); rc != 0) {
            info.fallbacks.push_back("promiscuous mode unavailable");
        }
    }
    if (s.all_multicast && !s.promiscuous) {
        if (int rc = rte_eth_allmulticast_enable(port_id); rc != 0) {
            info.fallbacks.push_back("all-multicast mode unavailable (IPv6 neighbour solicitations to "
                                     "solicited-node groups may not arrive)");
        }
    }
    rte_eth_macaddr_get(port_id, &info.mac);
    rte_eth_dev_get_mtu(port_id, &info.mtu);
    return info;
}

void close_port(const port_info& p) noexcept {
    rte_eth_dev_stop(p.port_id);
    rte_eth_dev_close(p.port_id);
    if (p.hotplugged) {
        rte_eal_hotplug_remove("vdev", p.dev_name.c_str());
    }
}

rte_mempool* create_pool(const std::string& name, unsigned n_mbufs, unsigned cache, uint16_t priv_size,
                         uint16_t data_room) {
    rte_mempool* mp = rte_pktmbuf_pool_create(name.c_str(), n_mbufs, cache, priv_size, data_room,
                                              static_cast<int>(rte_socket_id()));
    if (mp == nullptr) {
        throw std::runtime_error("cannot create mempool " + name + " of " + std::to_string(n_mbufs) +
                                 " mbufs: " + rte_strerror(rte_errno) +
                                 " (raise memory-mb or hugepages, or lower mbufs / descriptors)");
    }
    return mp;
}

}  // namespace pmd
