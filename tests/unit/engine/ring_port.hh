// SPDX-License-Identifier: MIT
// Ring-backed ethdevs (net_ring) for the engine's unit tests: a port whose rx and tx rings the
// test writes and reads directly, and frames in and out of them as byte vectors. Needs the EAL
// and unit_eal::g_pool (tests/unit/eal_env.hh).
#pragma once

#include <gtest/gtest.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tests/unit/eal_env.hh"

namespace unit_ring {

using frame = std::vector<uint8_t>;

// A ring-backed ethdev whose rx and tx rings the test reads and writes directly.
struct ring_port {
    uint16_t id = 0;
    rte_ring* rx = nullptr;
    rte_ring* tx = nullptr;
};

inline ring_port make_port(const std::string& name) {
    ring_port p;
    p.rx = rte_ring_create((name + "r").c_str(), 2048, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    p.tx = rte_ring_create((name + "t").c_str(), 2048, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    int id = rte_eth_from_rings(name.c_str(), &p.rx, 1, &p.tx, 1, 0);
    EXPECT_GE(id, 0);
    p.id = static_cast<uint16_t>(id);
    rte_eth_conf conf{};
    EXPECT_EQ(rte_eth_dev_configure(p.id, 1, 1, &conf), 0);
    EXPECT_EQ(rte_eth_rx_queue_setup(p.id, 0, 256, 0, nullptr, unit_eal::g_pool), 0);
    EXPECT_EQ(rte_eth_tx_queue_setup(p.id, 0, 256, 0, nullptr), 0);
    EXPECT_EQ(rte_eth_dev_start(p.id), 0);
    return p;
}

/// Frees what a ring holds (mbufs), then the ring.
inline void free_ring(rte_ring* r) {
    void* m;
    while (rte_ring_dequeue(r, &m) == 0) {
        rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    }
    rte_ring_free(r);
}

inline void close_port(ring_port& p) {
    rte_eth_dev_stop(p.id);
    rte_eth_dev_close(p.id);
    free_ring(p.rx);
    free_ring(p.tx);
}

/// `f` in one mbuf onto ring r (a port's rx ring). `port`: the mbuf's port, as a real PMD's rx
/// sets it (net_ring leaves it unset).
inline void inject(rte_ring* r, const frame& f, uint16_t port = RTE_MBUF_PORT_INVALID) {
    rte_mbuf* m = rte_pktmbuf_alloc(unit_eal::g_pool);
    ASSERT_NE(m, nullptr);
    m->port = port;
    char* d = rte_pktmbuf_append(m, static_cast<uint16_t>(f.size()));
    ASSERT_NE(d, nullptr) << "frame of " << f.size() << " bytes does not fit an mbuf";
    if (!f.empty()) {
        std::memcpy(d, f.data(), f.size());
    }
    ASSERT_EQ(rte_ring_enqueue(r, m), 0);
}

/// Everything on ring r (a port's tx ring), every segment, the mbufs freed.
inline std::vector<frame> take(rte_ring* r) {
    std::vector<frame> out;
    void* o;
    while (rte_ring_dequeue(r, &o) == 0) {
        auto* m = static_cast<rte_mbuf*>(o);
        frame f(rte_pktmbuf_pkt_len(m));
        const void* d = rte_pktmbuf_read(m, 0, static_cast<uint32_t>(f.size()), f.data());
        if (d != nullptr && d != f.data()) {
            std::memcpy(f.data(), d, f.size());
        }
        out.push_back(std::move(f));
        rte_pktmbuf_free(m);
    }
    return out;
}

}  // namespace unit_ring
