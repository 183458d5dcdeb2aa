// SPDX-License-Identifier: MIT
#include "pmd/stream_port.hh"

#include <rte_bus_vdev.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <stdexcept>

namespace pmd {

namespace {

void free_ring(rte_ring* r) noexcept {
    if (r == nullptr) {
        return;
    }
    void* m = nullptr;
    while (rte_ring_dequeue(r, &m) == 0) {
        rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    }
    rte_ring_free(r);
}

}  // namespace

stream_port open_stream_port(const std::string& name, unsigned n_queues, unsigned ring_size, rte_mempool* pool) {
    stream_port p;
    try {
        for (unsigned q = 0; q < n_queues; ++q) {
            for (int dir = 0; dir < 2; ++dir) {
                const std::string rn = name + (dir == 0 ? "_rx" : "_tx") + std::to_string(q);
                rte_ring* r = rte_ring_create(rn.c_str(), ring_size, static_cast<int>(rte_socket_id()),
                                              RING_F_SP_ENQ | RING_F_SC_DEQ);
                if (r == nullptr) {
                    throw std::runtime_error("port " + name + ": cannot create ring " + rn + ": " + rte_strerror(rte_errno));
                }
                (dir == 0 ? p.to_workers : p.from_workers).push_back(r);
            }
        }
        const int id = rte_eth_from_rings(name.c_str(), p.to_workers.data(), n_queues, p.from_workers.data(), n_queues,
                                          rte_socket_id());
        if (id < 0) {
            throw std::runtime_error("port " + name + ": rte_eth_from_rings: " + rte_strerror(rte_errno));
        }
        p.info.port_id = static_cast<uint16_t>(id);
        p.info.dev_name = "net_ring_" + name;
        p.info.driver = "net_ring";
        p.info.hotplugged = true;
        p.info.mtu = 0;
        // The ring PMD's queues are the rings given above; ethdev still wants the port
        // configured and every queue set up before it starts (the setups only point at them).
        rte_eth_conf conf{};
        int rc = rte_eth_dev_configure(p.info.port_id, static_cast<uint16_t>(n_queues), static_cast<uint16_t>(n_queues), &conf);
        for (unsigned q = 0; rc == 0 && q < n_queues; ++q) {
            rc = rte_eth_rx_queue_setup(p.info.port_id, static_cast<uint16_t>(q), 0, rte_socket_id(), nullptr, pool);
            if (rc == 0) {
                rc = rte_eth_tx_queue_setup(p.info.port_id, static_cast<uint16_t>(q), 0, rte_socket_id(), nullptr);
            }
        }
        if (rc == 0) {
            rc = rte_eth_dev_start(p.info.port_id);
        }
        if (rc != 0) {
            rte_eth_dev_close(p.info.port_id);
            rte_vdev_uninit(p.info.dev_name.c_str());
            throw std::runtime_error("port " + name + ": start: " + rte_strerror(-rc));
        }
    } catch (...) {
        for (rte_ring* r : p.to_workers) {
            free_ring(r);
        }
        for (rte_ring* r : p.from_workers) {
            free_ring(r);
        }
        throw;
    }
    return p;
}

void close_stream_port(stream_port& p) noexcept {
    if (!p.info.dev_name.empty()) {
        rte_eth_dev_stop(p.info.port_id);
        rte_eth_dev_close(p.info.port_id);
        rte_vdev_uninit(p.info.dev_name.c_str());
        p.info.dev_name.clear();
    }
    for (rte_ring* r : p.to_workers) {
        free_ring(r);
    }
    for (rte_ring* r : p.from_workers) {
        free_ring(r);
    }
    p.to_workers.clear();
    p.from_workers.clear();
}

}  // namespace pmd
