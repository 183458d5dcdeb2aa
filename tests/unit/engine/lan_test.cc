// SPDX-License-Identifier: MIT
// Site gateways (docs/site-gateways.md) on real workers and net_ring ports (EAL --no-huge): three
// nodes with keys (udp4 between them), each with a WAN port and a LAN port in bridge or route
// mode; node 1's WAN tx ring is fed to the others' WAN rx rings by the test. Bridge: learning
// from the LAN (owner 0) and from authenticated peer frames only (owner = the peer), flooding,
// unicast by the MAC table, bridge_local, bad_source_mac. Route: longest-prefix match to the
// owner, TTL / hop limit, ICMP errors from the port's address, anti-spoofing, LAN neighbours and
// unresolved hosts handed to control. Garbage on both kinds of LAN port: every packet one counted
// way out (rx_packets == accounted()).
#include <gtest/gtest.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "crypto/init.hh"
#include "engine/mac_table.hh"
#include "engine/route_table.hh"
#include "engine/worker.hh"
#include "tests/unit/eal_env.hh"
#include "tests/unit/engine/ring_port.hh"

namespace {

using unit_eal::g_pool;
using unit_ring::frame;
using unit_ring::inject;
using unit_ring::take;
const auto* g_env = ::testing::AddGlobalTestEnvironment(new unit_eal::env("lan_test", 8191, 512, true));

constexpr transport::kind wire_kind = transport::kind::udp4;
constexpr uint16_t n_nodes = 3;

rte_ether_addr node_mac(uint16_t id) { return {{0xfe, 0xfd, 0x80, 0x00, uint8_t(id >> 8), uint8_t(id)}}; }
rte_ether_addr wan_mac(uint16_t id) { return {{0x02, 0, 0, 0, 0xee, uint8_t(id)}}; }
rte_ether_addr lan_mac(uint16_t id) { return {{0x02, 0, 0, 0, 0x1a, uint8_t(id)}}; }
// Hosts on node `id`'s LAN: foreign MACs.
rte_ether_addr host_mac(uint16_t id, uint8_t h) { return {{0x02, 0x55, 0, 0, uint8_t(id), h}}; }
uint64_t key_of(const rte_ether_addr& a) { return engine::mac_key(a.addr_bytes); }

transport::ip_address wan_ip(uint16_t id) {
    return transport::ip_address::from_v4(RTE_BE32(RTE_IPV4(192, 0, 2, 0) + id));
}
// Node `id`'s site: 10.id.0.0/16 and fd0id::/48; the gateway is .1 / ::1 there.
rte_be32_t site4(uint16_t id, uint8_t host) { return RTE_BE32(RTE_IPV4(10, id, 0, host)); }
std::array<uint8_t, 16> site6(uint16_t id, uint8_t host) {
    return {0xfd, uint8_t(id), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, host};
}

crypto::aead_choice cipher() {
    auto c = crypto::select_aead("aes256-gcm", "auto");
    EXPECT_TRUE(c.has_value());
    return *c;
}

std::array<uint8_t, 32> key_bytes(uint16_t from, uint16_t to) {
    std::array<uint8_t, 32> k{};
    for (size_t i = 0; i < k.size(); ++i) {
        k[i] = static_cast<uint8_t>(from * 31 + to * 7 + i);
    }
    return k;
}

// One node: a WAN port, a LAN port (bridge or route), one worker, keys towards every peer.
struct node {
    uint16_t id = 0;
    unit_ring::ring_port wan, lan;
    engine::port_table table{};
    rte_ring* to_ctl = nullptr;
    rte_ring* from_ctl = nullptr;
    rte_ring* learn = nullptr;
    std::atomic<uint32_t> clock{1000};
    std::unique_ptr<engine::rcu> rcu;
    std::unique_ptr<engine::published<engine::dataplane_snapshot>> snap;
    std::unique_ptr<engine::worker> w;
    std::vector<std::unique_ptr<crypto::aead_key>> keys;
    std::vector<std::unique_ptr<engine::rx_windows>> windows;

    void teardown() {
        w.reset();
        snap.reset();
        rcu.reset();
        unit_ring::close_port(wan);
        unit_ring::close_port(lan);
        unit_ring::free_ring(to_ctl);
        unit_ring::free_ring(from_ctl);
        rte_ring_free(learn);  // learn events are no mbufs
    }
};

// What a LAN port is configured with in a test.
struct lan_config {
    pmd::overlay_mode mode = pmd::overlay_mode::bridge;
    std::vector<engine::mac_table::entry> macs;           // bridge
    std::vector<engine::lan_neighbours::entry> neigh;     // route
};

// Every node's routes (the control thread builds the same table on every node).
std::vector<engine::route_table::route> all_routes() {
    std::vector<engine::route_table::route> r;
    for (uint16_t id = 1; id <= n_nodes; ++id) {
        r.push_back({transport::ip_address::from_v4(site4(id, 0)), 16, id});
        r.push_back({transport::ip_address::from_v6(site6(id, 0).data()), 48, id});
    }
    return r;
}

class lan : public ::testing::Test {
protected:
    void SetUp() override {
        static int seq = 0;
        ++seq;
        for (uint16_t id = 1; id <= n_nodes; ++id) {
            node& n = _nodes[id];
            n.id = id;
            const std::string tag = "lan" + std::to_string(seq) + "n" + std::to_string(id);
            n.wan = unit_ring::make_port(tag + "w");
            n.lan = unit_ring::make_port(tag + "l");
            n.table.index_of.fill(-1);
            n.table.ports[0] = {n.wan.id, engine::port_role::wan, wan_mac(id), 0, {}};
            engine::port_ctx& l = n.table.ports[1];
            l = {n.lan.id, engine::port_role::overlay, lan_mac(id), 0, {}};
            l.n_ipv4 = 1;
            l.ipv4[0] = site4(id, 1);
            l.n_ipv6 = 1;
            l.ipv6[0] = site6(id, 1);
            n.table.index_of[n.wan.id] = 0;
            n.table.index_of[n.lan.id] = 1;
            n.table.n_ports = 2;
            n.to_ctl = rte_ring_create((tag + "c").c_str(), 1024, 0, RING_F_SC_DEQ);
            n.from_ctl = rte_ring_create((tag + "f").c_str(), 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
            n.learn = rte_ring_create((tag + "L").c_str(), 1024, 0, RING_F_SC_DEQ);  // MP/SC
            n.rcu = std::make_unique<engine::rcu>(1);
            n.snap = std::make_unique<engine::published<engine::dataplane_snapshot>>(*n.rcu);
            engine::worker_setup s;
            s.worker_idx = 0;
            s.rx_queues = {{n.wan.id, 0}, {n.lan.id, 0}};
            s.ports = &n.table;
            s.tx_drain_us = 0;
            s.idle_sleep_us = 0;
            s.to_control = n.to_ctl;
            s.from_control = n.from_ctl;
            s.learn = n.learn;
            s.snapshot = n.snap.get();
            s.qsbr = n.rcu.get();
            s.pool = g_pool;
            s.cipher = cipher();
            n.w = std::make_unique<engine::worker>(s);
        }
    }

    void TearDown() override {
        for (uint16_t id = 1; id <= n_nodes; ++id) {
            _nodes[id].teardown();
        }
        _routes.reset();
    }

    // Node `id`'s LAN port in mode c.mode and its snapshot: sessions with every other node.
    // Call before the worker runs (the port table is immutable while it does).
    void configure(uint16_t id, const lan_config& c) {
        node& n = _nodes[id];
        n.table.ports[1].mode = c.mode;
        auto s = std::make_unique<engine::dataplane_snapshot>();
        s->self_id = id;
        s->self_mac = node_mac(id);
        s->has_overlay = false;
        s->lan_mode = c.mode;
        s->lan_port_id = n.lan.id;
        s->lan_mac = lan_mac(id);
        s->clock = &n.clock;
        if (c.mode == pmd::overlay_mode::bridge) {
            auto t = std::make_shared<const engine::mac_table>(c.macs);
            s->macs = t.get();
            s->owned.push_back(t);
        } else {
            if (!_routes) {  // one table for every node (each costs rte_lpm's 64 MiB tbl24 per family)
                _routes = std::make_shared<const engine::route_table>(all_routes());
            }
            s->routes = _routes.get();
            s->owned.push_back(_routes);
            auto nb = std::make_shared<const engine::lan_neighbours>(c.neigh);
            s->lan_neigh = nb.get();
            s->owned.push_back(nb);
        }
        s->local.has_ipv4 = true;
        s->local.ipv4 = wan_ip(id).v4();
        s->local.udp_port = 655;
        s->local.ip_proto = 47;
        s->peers.resize(n_nodes + 1);
        for (uint16_t p = 1; p <= n_nodes; ++p) {
            if (p == id) {
                continue;
            }
            engine::peer_entry& e = s->peers[p];
            e.node_id = p;
            e.mac = node_mac(p);
            auto tx = crypto::aead_key::create(cipher(), key_bytes(id, p));
            auto rx = crypto::aead_key::create(cipher(), key_bytes(p, id));
            ASSERT_TRUE(tx && rx);
            n.keys.push_back(std::make_unique<crypto::aead_key>(std::move(tx.value())));
            e.tx_key = n.keys.back().get();
            e.tx_key_id = 5;
            e.tx_generation = 1;
            n.keys.push_back(std::make_unique<crypto::aead_key>(std::move(rx.value())));
            n.windows.push_back(engine::rx_windows::create());
            e.rx[0] = {n.keys.back().get(), n.windows.back()->w.get(), 5};
            transport::endpoint_pair ep;
            ep.src_mac = wan_mac(id);
            ep.dst_mac = wan_mac(p);
            ep.src_ip = wan_ip(id);
            ep.dst_ip = wan_ip(p);
            auto t = transport::build_template(wire_kind, ep);
            ASSERT_TRUE(t.has_value());
            e.tmpl = *t;
            e.tx_port_id = n.wan.id;
            e.tx_mtu = 1500;
            e.udp_sport_base = 40000;
            e.tx_ready = true;
            s->broadcast_to.push_back(p);
        }
        n.snap->publish(std::move(s));
        n.w->iterate();
        n.rcu->poll();
    }

    void bridge_all(const std::array<std::vector<engine::mac_table::entry>, n_nodes + 1>& macs = {}) {
        for (uint16_t id = 1; id <= n_nodes; ++id) {
            configure(id, {pmd::overlay_mode::bridge, macs[id], {}});
        }
    }

    void route_all(const std::array<std::vector<engine::lan_neighbours::entry>, n_nodes + 1>& neigh = {}) {
        for (uint16_t id = 1; id <= n_nodes; ++id) {
            configure(id, {pmd::overlay_mode::route, {}, neigh[id]});
        }
    }

    // Iterates node id's worker until its rx rings are empty, then a few times more.
    void run(uint16_t id) {
        node& n = _nodes[id];
        for (int i = 0; i < 1000 && (rte_ring_count(n.wan.rx) != 0 || rte_ring_count(n.lan.rx) != 0); ++i) {
            n.w->iterate();
        }
        for (int i = 0; i < 4; ++i) {
            n.w->iterate();
        }
    }

    // Node `from`'s sealed packets on the wire, each handed to the node its outer header names;
    // returns how many went to each node.
    std::array<size_t, n_nodes + 1> forward(uint16_t from) {
        std::array<size_t, n_nodes + 1> count{};
        for (const frame& f : take(_nodes[from].wan.tx)) {
            for (uint16_t to = 1; to <= n_nodes; ++to) {
                const rte_ether_addr m = wan_mac(to);
                if (f.size() >= 6 && std::memcmp(f.data(), &m, 6) == 0) {
                    inject(_nodes[to].wan.rx, f);
                    ++count[to];
                }
            }
        }
        return count;
    }

    std::vector<void*> learned(uint16_t id) {
        std::vector<void*> out;
        void* e;
        while (rte_ring_dequeue(_nodes[id].learn, &e) == 0) {
            out.push_back(e);
        }
        return out;
    }

    uint64_t drops(uint16_t id, engine::drop_reason r) {
        return _nodes[id].w->stats().drops[static_cast<size_t>(r)].load();
    }
    const engine::worker_stats& stats(uint16_t id) { return _nodes[id].w->stats(); }

    void expect_accounted() {
        for (uint16_t id = 1; id <= n_nodes; ++id) {
            const auto& s = _nodes[id].w->stats();
            EXPECT_EQ(s.rx_packets.load(), s.accounted()) << "node " << id;
        }
    }

    std::array<node, n_nodes + 1> _nodes;
    std::shared_ptr<const engine::route_table> _routes;
};

// An Ethernet frame: dst, src, an IPv4 ethertype and `payload` patterned bytes.
frame eth_frame(const rte_ether_addr& dst, const rte_ether_addr& src, size_t payload) {
    frame f(14 + payload);
    std::memcpy(f.data(), &dst, 6);
    std::memcpy(f.data() + 6, &src, 6);
    f[12] = 0x08;
    f[13] = 0x00;
    for (size_t i = 0; i < payload; ++i) {
        f[14 + i] = static_cast<uint8_t>(i * 13 + 1);
    }
    return f;
}

// A UDP/IPv4 packet from src to dst in a frame to the gateway's LAN MAC (header checksum right).
frame ipv4_frame(const rte_ether_addr& dst_mac, const rte_ether_addr& src_mac, rte_be32_t src, rte_be32_t dst,
                 uint8_t ttl, size_t payload = 32) {
    frame f(14 + 20 + payload);
    std::memcpy(f.data(), &dst_mac, 6);
    std::memcpy(f.data() + 6, &src_mac, 6);
    f[12] = 0x08;
    f[13] = 0x00;
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(f.data() + 14);
    ip->version_ihl = 0x45;
    ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(20 + payload));
    ip->packet_id = RTE_BE16(0x1234);
    ip->time_to_live = ttl;
    ip->next_proto_id = 17;
    ip->src_addr = src;
    ip->dst_addr = dst;
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    for (size_t i = 0; i < payload; ++i) {
        f[34 + i] = static_cast<uint8_t>(i * 7 + 3);
    }
    return f;
}

frame ipv6_frame(const rte_ether_addr& dst_mac, const rte_ether_addr& src_mac, const std::array<uint8_t, 16>& src,
                 const std::array<uint8_t, 16>& dst, uint8_t hops, size_t payload = 32) {
    frame f(14 + 40 + payload);
    std::memcpy(f.data(), &dst_mac, 6);
    std::memcpy(f.data() + 6, &src_mac, 6);
    f[12] = 0x86;
    f[13] = 0xdd;
    uint8_t* ip = f.data() + 14;
    ip[0] = 0x60;
    ip[4] = static_cast<uint8_t>(payload >> 8);
    ip[5] = static_cast<uint8_t>(payload);
    ip[6] = 17;
    ip[7] = hops;
    std::memcpy(ip + 8, src.data(), 16);
    std::memcpy(ip + 24, dst.data(), 16);
    for (size_t i = 0; i < payload; ++i) {
        f[54 + i] = static_cast<uint8_t>(i * 7 + 3);
    }
    return f;
}

void set_macs(frame& f, const rte_ether_addr& dst, const rte_ether_addr& src) {
    if (f.size() >= 12) {
        std::copy_n(dst.addr_bytes, 6, f.begin());
        std::copy_n(src.addr_bytes, 6, f.begin() + 6);
    }
}

// True if the IPv4 header at frame offset 14 carries a right checksum.
bool ipv4_checksum_ok(const frame& f) {
    rte_ipv4_hdr h;
    std::memcpy(&h, f.data() + 14, sizeof h);
    const uint16_t stored = h.hdr_checksum;
    h.hdr_checksum = 0;
    return rte_ipv4_cksum(&h) == stored;
}

const rte_ether_addr broadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

// ---- bridge ------------------------------------------------------------------------------------------

TEST_F(lan, bridge_unknown_source_is_learned_once_and_unknown_unicast_flooded) {
    bridge_all();
    const frame f = eth_frame(host_mac(9, 9), host_mac(1, 1), 60);  // nobody knows either MAC
    inject(_nodes[1].lan.rx, f);
    run(1);
    auto ev = learned(1);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(engine::learn_event_mac(ev[0]), key_of(host_mac(1, 1)));
    EXPECT_EQ(engine::learn_event_owner(ev[0]), 0u);
    EXPECT_EQ(stats(1).learn_events.load(), 1u);
    const auto sent = forward(1);
    EXPECT_EQ(sent[2], 1u);  // one sealed copy per peer
    EXPECT_EQ(sent[3], 1u);
    EXPECT_EQ(stats(1).encrypted.load(), 1u);
    EXPECT_TRUE(take(_nodes[1].lan.tx).empty());  // no hairpin
    // Both peers deliver the frame to their LAN, byte for byte.
    for (uint16_t to : {2, 3}) {
        run(to);
        auto out = take(_nodes[to].lan.tx);
        ASSERT_EQ(out.size(), 1u) << "node " << to;
        EXPECT_EQ(out[0], f);
        auto pev = learned(to);
        ASSERT_EQ(pev.size(), 1u);
        EXPECT_EQ(engine::learn_event_mac(pev[0]), key_of(host_mac(1, 1)));
        EXPECT_EQ(engine::learn_event_owner(pev[0]), 1u);
    }
    // The same source again within the second: not reported again.
    inject(_nodes[1].lan.rx, eth_frame(broadcast, host_mac(1, 1), 40));
    run(1);
    EXPECT_TRUE(learned(1).empty());
    EXPECT_EQ(forward(1)[2], 1u);
    expect_accounted();
}

TEST_F(lan, bridge_unicast_to_a_mac_behind_a_peer_goes_to_that_peer_only) {
    std::array<std::vector<engine::mac_table::entry>, n_nodes + 1> macs;
    macs[1] = {{key_of(host_mac(2, 7)), 2, 0}, {key_of(host_mac(1, 1)), engine::mac_table::local, 0}};
    bridge_all(macs);
    const frame f = eth_frame(host_mac(2, 7), host_mac(1, 1), 200);
    inject(_nodes[1].lan.rx, f);
    run(1);
    EXPECT_TRUE(learned(1).empty()) << "the source is in the table at our LAN";
    const auto sent = forward(1);
    EXPECT_EQ(sent[2], 1u);
    EXPECT_EQ(sent[3], 0u);
    EXPECT_TRUE(learned(2).empty()) << "nothing learned before the packet is opened";
    run(2);
    auto out = take(_nodes[2].lan.tx);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], f);  // the full frame, foreign MACs and all
    auto ev = learned(2);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(engine::learn_event_mac(ev[0]), key_of(host_mac(1, 1)));
    EXPECT_EQ(engine::learn_event_owner(ev[0]), 1u);
    EXPECT_EQ(stats(2).decrypted.load(), 1u);
    EXPECT_TRUE(take(_nodes[3].wan.rx).empty());
    expect_accounted();
}

// A peer cannot take over a MAC a host on our LAN used in the last mac_hold_down_s seconds, nor
// a static one of another owner: its frame is dropped (mac_conflict), not delivered, not
// learned. Once the local host has been quiet that long, the MAC moves (a host that moved).
TEST_F(lan, bridge_peer_cannot_take_over_a_live_local_or_static_mac) {
    std::array<std::vector<engine::mac_table::entry>, n_nodes + 1> macs;
    // At node 2: host (2,7) on its own LAN, used "now" (clock 1000); (3,3) static behind node 3.
    macs[2] = {{key_of(host_mac(2, 7)), engine::mac_table::local, 1000},
               {key_of(host_mac(3, 3)), 3, 0, true},
               {key_of(host_mac(2, 9)), 1, 0}};
    macs[1] = {{key_of(host_mac(2, 9)), 2, 0}};
    bridge_all(macs);
    // Node 1's LAN host forges (2,7) and (3,3) as sources towards (2,9), behind node 2.
    for (const auto& src : {host_mac(2, 7), host_mac(3, 3)}) {
        inject(_nodes[1].lan.rx, eth_frame(host_mac(2, 9), src, 100));
    }
    run(1);
    learned(1);
    EXPECT_EQ(forward(1)[2], 2u);
    run(2);
    EXPECT_EQ(drops(2, engine::drop_reason::mac_conflict), 2u);
    EXPECT_TRUE(take(_nodes[2].lan.tx).empty());
    EXPECT_TRUE(learned(2).empty());
    // Quiet for the hold-down: (2,7) may move to node 1 now (the static one never).
    _nodes[2].clock.fetch_add(engine::mac_hold_down_s);
    for (const auto& src : {host_mac(2, 7), host_mac(3, 3)}) {
        inject(_nodes[1].lan.rx, eth_frame(host_mac(2, 9), src, 100));
    }
    run(1);
    learned(1);
    EXPECT_EQ(forward(1)[2], 2u);
    run(2);
    EXPECT_EQ(drops(2, engine::drop_reason::mac_conflict), 3u);
    EXPECT_EQ(take(_nodes[2].lan.tx).size(), 1u);
    auto ev = learned(2);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(engine::learn_event_mac(ev[0]), key_of(host_mac(2, 7)));
    EXPECT_EQ(engine::learn_event_owner(ev[0]), 1u);
    expect_accounted();
}

// A LAN host may not speak as a node: a node-MAC source would be sealed compact (MAC pair
// elided), indistinguishable from that node's own TAP.
TEST_F(lan, bridge_node_mac_source_from_the_lan_is_dropped) {
    bridge_all();
    inject(_nodes[1].lan.rx, eth_frame(host_mac(2, 7), node_mac(1), 100));
    inject(_nodes[1].lan.rx, eth_frame(node_mac(3), node_mac(2), 100));
    run(1);
    EXPECT_EQ(drops(1, engine::drop_reason::bad_source_mac), 2u);
    EXPECT_TRUE(take(_nodes[1].wan.tx).empty());
    expect_accounted();
}

TEST_F(lan, bridge_tampered_and_replayed_packets_teach_nothing) {
    std::array<std::vector<engine::mac_table::entry>, n_nodes + 1> macs;
    macs[1] = {{key_of(host_mac(2, 7)), 2, 0}};
    bridge_all(macs);
    inject(_nodes[1].lan.rx, eth_frame(host_mac(2, 7), host_mac(1, 1), 100));
    run(1);
    learned(1);
    auto wire = take(_nodes[1].wan.tx);
    ASSERT_EQ(wire.size(), 1u);
    const size_t hl = transport::headroom(wire_kind);
    frame bad = wire[0];
    bad[hl + 20] ^= 0x01;  // a byte of the ciphertext
    inject(_nodes[2].wan.rx, bad);
    run(2);
    EXPECT_EQ(drops(2, engine::drop_reason::auth_failed), 1u);
    EXPECT_TRUE(learned(2).empty());
    EXPECT_EQ(stats(2).learn_events.load(), 0u);
    EXPECT_TRUE(take(_nodes[2].lan.tx).empty());
    // The genuine packet teaches; its replay a second later (a new report would not be
    // suppressed as a repeat) is dropped and teaches nothing.
    inject(_nodes[2].wan.rx, wire[0]);
    run(2);
    EXPECT_EQ(take(_nodes[2].lan.tx).size(), 1u);
    EXPECT_EQ(learned(2).size(), 1u);
    _nodes[2].clock.fetch_add(1);
    inject(_nodes[2].wan.rx, wire[0]);
    run(2);
    EXPECT_EQ(drops(2, engine::drop_reason::replayed), 1u);
    EXPECT_TRUE(learned(2).empty());
    EXPECT_EQ(stats(2).learn_events.load(), 1u);
    EXPECT_TRUE(take(_nodes[2].lan.tx).empty());
    expect_accounted();
}

TEST_F(lan, bridge_frame_to_a_local_mac_is_dropped_bridge_local) {
    std::array<std::vector<engine::mac_table::entry>, n_nodes + 1> macs;
    macs[1] = {{key_of(host_mac(1, 2)), engine::mac_table::local, 0}, {key_of(host_mac(1, 1)), 0, 0}};
    bridge_all(macs);
    inject(_nodes[1].lan.rx, eth_frame(host_mac(1, 2), host_mac(1, 1), 64));
    run(1);
    EXPECT_EQ(drops(1, engine::drop_reason::bridge_local), 1u);
    EXPECT_TRUE(take(_nodes[1].wan.tx).empty());
    EXPECT_TRUE(take(_nodes[1].lan.tx).empty());
    EXPECT_TRUE(learned(1).empty());
    expect_accounted();
}

TEST_F(lan, bridge_group_source_mac_is_dropped) {
    bridge_all();
    rte_ether_addr group = host_mac(1, 1);
    group.addr_bytes[0] |= 1;
    inject(_nodes[1].lan.rx, eth_frame(broadcast, group, 64));
    inject(_nodes[1].lan.rx, eth_frame(host_mac(2, 7), broadcast, 64));
    run(1);
    EXPECT_EQ(drops(1, engine::drop_reason::bad_source_mac), 2u);
    EXPECT_TRUE(take(_nodes[1].wan.tx).empty());
    EXPECT_TRUE(learned(1).empty());
    expect_accounted();
}

// ---- route -------------------------------------------------------------------------------------------

TEST_F(lan, route_ipv4_to_a_peer_prefix_is_sealed_and_delivered_to_the_lan_host) {
    std::array<std::vector<engine::lan_neighbours::entry>, n_nodes + 1> neigh;
    neigh[2] = {{transport::ip_address::from_v4(site4(2, 5)), host_mac(2, 5)}};
    route_all(neigh);
    const frame f = ipv4_frame(lan_mac(1), host_mac(1, 5), site4(1, 5), site4(2, 5), 64);
    inject(_nodes[1].lan.rx, f);
    run(1);
    const auto sent = forward(1);
    EXPECT_EQ(sent[2], 1u);
    EXPECT_EQ(sent[3], 0u);
    EXPECT_EQ(stats(1).encrypted.load(), 1u);
    run(2);
    auto out = take(_nodes[2].lan.tx);
    ASSERT_EQ(out.size(), 1u);
    const frame& g = out[0];
    ASSERT_EQ(g.size(), f.size());
    const rte_ether_addr host = host_mac(2, 5), port = lan_mac(2);
    EXPECT_EQ(0, std::memcmp(g.data(), &host, 6)) << "to the host's MAC (lan_neigh)";
    EXPECT_EQ(0, std::memcmp(g.data() + 6, &port, 6)) << "from the LAN port's MAC";
    EXPECT_EQ(g[14 + 8], 62) << "one hop at each gateway";
    EXPECT_TRUE(ipv4_checksum_ok(g));
    frame want = f;  // everything else unchanged
    std::memcpy(want.data(), g.data(), 12);
    want[14 + 8] = 62;
    std::memcpy(want.data() + 24, g.data() + 24, 2);
    EXPECT_EQ(g, want);
    EXPECT_EQ(stats(2).decrypted.load(), 1u);
    expect_accounted();
}

TEST_F(lan, route_no_prefix_is_answered_net_unreachable) {
    route_all();
    const frame f = ipv4_frame(lan_mac(1), host_mac(1, 5), site4(1, 5), RTE_BE32(RTE_IPV4(192, 168, 9, 9)), 64);
    inject(_nodes[1].lan.rx, f);
    run(1);
    EXPECT_EQ(drops(1, engine::drop_reason::no_prefix), 1u);
    EXPECT_TRUE(take(_nodes[1].wan.tx).empty());
    auto back = take(_nodes[1].lan.tx);
    ASSERT_EQ(back.size(), 1u);
    const frame& a = back[0];
    ASSERT_GE(a.size(), 14u + 20u + 8u);
    const rte_ether_addr host = host_mac(1, 5), port = lan_mac(1);
    EXPECT_EQ(0, std::memcmp(a.data(), &host, 6));
    EXPECT_EQ(0, std::memcmp(a.data() + 6, &port, 6));
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(a.data() + 14);
    EXPECT_EQ(ip->next_proto_id, 1);
    EXPECT_EQ(ip->src_addr, site4(1, 1)) << "from the port's address";
    EXPECT_EQ(ip->dst_addr, site4(1, 5));
    EXPECT_TRUE(ipv4_checksum_ok(a));
    EXPECT_EQ(a[34], 3);  // destination unreachable
    EXPECT_EQ(a[35], 0);  // net
    EXPECT_EQ(stats(1).icmp_errors.load(), 1u);
    expect_accounted();
}

TEST_F(lan, route_ttl_1_is_answered_time_exceeded) {
    route_all();
    inject(_nodes[1].lan.rx, ipv4_frame(lan_mac(1), host_mac(1, 5), site4(1, 5), site4(2, 5), 1));
    run(1);
    EXPECT_EQ(drops(1, engine::drop_reason::ttl_expired), 1u);
    EXPECT_TRUE(take(_nodes[1].wan.tx).empty());
    auto back = take(_nodes[1].lan.tx);
    ASSERT_EQ(back.size(), 1u);
    ASSERT_GE(back[0].size(), 14u + 20u + 8u);
    EXPECT_EQ(back[0][34], 11);
    EXPECT_EQ(back[0][35], 0);
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(back[0].data() + 14);
    EXPECT_EQ(ip->src_addr, site4(1, 1));
    EXPECT_TRUE(ipv4_checksum_ok(back[0]));
    EXPECT_EQ(stats(1).icmp_errors.load(), 1u);
    expect_accounted();
}

TEST_F(lan, route_own_prefix_from_the_lan_is_dropped) {
    route_all();
    inject(_nodes[1].lan.rx, ipv4_frame(lan_mac(1), host_mac(1, 5), site4(1, 5), site4(1, 6), 64));
    run(1);
    EXPECT_EQ(drops(1, engine::drop_reason::own_prefix), 1u);
    EXPECT_TRUE(take(_nodes[1].wan.tx).empty());
    expect_accounted();
}

TEST_F(lan, route_spoofed_source_is_dropped_at_the_edge) {
    std::array<std::vector<engine::lan_neighbours::entry>, n_nodes + 1> neigh;
    neigh[2] = {{transport::ip_address::from_v4(site4(2, 5)), host_mac(2, 5)}};
    route_all(neigh);
    // A host behind node 1 claims an address of node 3's site, and one of no site at all.
    inject(_nodes[1].lan.rx, ipv4_frame(lan_mac(1), host_mac(1, 5), site4(3, 5), site4(2, 5), 64));
    inject(_nodes[1].lan.rx,
           ipv4_frame(lan_mac(1), host_mac(1, 5), RTE_BE32(RTE_IPV4(172, 16, 0, 1)), site4(2, 5), 64));
    // The sending gateway routes from its LAN only sources in its own prefixes: both dropped
    // at the edge, nothing sealed. (The receiver's check, for nodes that route nothing
    // themselves: tests/integration/test_site.py Route.test_8 from a TAP node.)
    run(1);
    EXPECT_EQ(drops(1, engine::drop_reason::spoofed_source), 2u);
    EXPECT_TRUE(take(_nodes[1].wan.tx).empty());
    expect_accounted();
}

TEST_F(lan, route_unresolved_lan_host_is_handed_to_control) {
    route_all();  // node 2 knows no LAN host
    const frame f = ipv4_frame(lan_mac(1), host_mac(1, 5), site4(1, 5), site4(2, 9), 64);
    inject(_nodes[1].lan.rx, f);
    run(1);
    EXPECT_EQ(forward(1)[2], 1u);
    run(2);
    EXPECT_TRUE(take(_nodes[2].lan.tx).empty());
    EXPECT_EQ(stats(2).to_control.load(), 1u);
    void* o = nullptr;
    ASSERT_EQ(rte_ring_dequeue(_nodes[2].to_ctl, &o), 0);
    auto* m = static_cast<rte_mbuf*>(o);
    EXPECT_EQ(m->hash.usr, engine::lan_resolve_mark);
    EXPECT_EQ(m->port, _nodes[2].lan.id);
    ASSERT_EQ(rte_pktmbuf_data_len(m), f.size());
    const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, 14);
    EXPECT_EQ(ip->dst_addr, site4(2, 9));
    rte_pktmbuf_free(m);
    expect_accounted();
}

TEST_F(lan, route_ipv6_hop_limit) {
    std::array<std::vector<engine::lan_neighbours::entry>, n_nodes + 1> neigh;
    neigh[2] = {{transport::ip_address::from_v6(site6(2, 5).data()), host_mac(2, 5)}};
    route_all(neigh);
    const frame f = ipv6_frame(lan_mac(1), host_mac(1, 5), site6(1, 5), site6(2, 5), 64);
    inject(_nodes[1].lan.rx, f);
    inject(_nodes[1].lan.rx, ipv6_frame(lan_mac(1), host_mac(1, 5), site6(1, 5), site6(2, 5), 1));
    run(1);
    EXPECT_EQ(drops(1, engine::drop_reason::ttl_expired), 1u);
    auto back = take(_nodes[1].lan.tx);
    ASSERT_EQ(back.size(), 1u);
    ASSERT_GE(back[0].size(), 14u + 40u + 8u);
    EXPECT_EQ(back[0][20], 58);     // ICMPv6
    EXPECT_EQ(back[0][54], 3);      // time exceeded
    EXPECT_EQ(0, std::memcmp(back[0].data() + 22, site6(1, 1).data(), 16)) << "from the port's address";
    EXPECT_EQ(forward(1)[2], 1u);
    run(2);
    auto out = take(_nodes[2].lan.tx);
    ASSERT_EQ(out.size(), 1u);
    frame want = f;
    set_macs(want, host_mac(2, 5), lan_mac(2));
    want[14 + 7] = 62;
    EXPECT_EQ(out[0], want);
    expect_accounted();
}

// ---- garbage -----------------------------------------------------------------------------------------

// Every prefix of a valid packet and random frames into a LAN port of node 1; what node 1 seals
// goes on to the others. Nothing crashes and every packet leaves one counted way.
void feed_garbage(rte_ring* lan_rx, const frame& valid, const rte_ether_addr& port_mac) {
    for (size_t len = 0; len <= 60 && len <= valid.size(); ++len) {
        inject(lan_rx, frame(valid.begin(), valid.begin() + static_cast<ptrdiff_t>(len)));
    }
    std::mt19937 rng(20240601);
    for (int i = 0; i < 400; ++i) {
        frame f(rng() % 200);
        for (auto& b : f) {
            b = static_cast<uint8_t>(rng());
        }
        const unsigned shape = rng() % 4;
        if (shape >= 1 && f.size() >= 14) {
            std::memcpy(f.data(), &port_mac, 6);  // to the gateway: routed, not ignored
        }
        if (shape >= 2 && f.size() >= 14) {
            f[12] = shape == 2 ? 0x08 : 0x86;
            f[13] = shape == 2 ? 0x00 : 0xdd;
            if (f.size() > 14) {
                f[14] = static_cast<uint8_t>(shape == 2 ? 0x40 | (f[14] & 0x0f) : 0x60 | (f[14] & 0x0f));
            }
        }
        if (f.size() >= 12 && (rng() & 1)) {
            f[6] &= 0xfe;  // a unicast source (bridge: not dropped as bad_source_mac)
        }
        if (f.size() >= 14 + 40 && (rng() & 1)) {
            // A plausible IP header: right lengths, addresses in or near the sites, TTL 0..3, so
            // the routed paths (sealed, ICMP errors, spoofing, neighbours) run too.
            uint8_t* ip = f.data() + 14;
            const size_t l3 = f.size() - 14;
            const auto addr = [&](uint8_t* a, bool v6) {
                a[0] = v6 ? 0xfd : 10;
                a[1] = static_cast<uint8_t>(rng() % 5);
                a[v6 ? 15 : 3] = static_cast<uint8_t>(rng() % 8);
            };
            if (shape == 2) {
                ip[0] = 0x45;
                ip[2] = static_cast<uint8_t>(l3 >> 8);
                ip[3] = static_cast<uint8_t>(l3);
                ip[8] = static_cast<uint8_t>(rng() % 4);
                addr(ip + 12, false);
                addr(ip + 16, false);
                auto* h = reinterpret_cast<rte_ipv4_hdr*>(ip);
                h->hdr_checksum = 0;
                h->hdr_checksum = rte_ipv4_cksum(h);
            } else if (shape == 3) {
                ip[4] = static_cast<uint8_t>((l3 - 40) >> 8);
                ip[5] = static_cast<uint8_t>(l3 - 40);
                ip[7] = static_cast<uint8_t>(rng() % 4);
                addr(ip + 8, true);
                addr(ip + 24, true);
            }
        }
        inject(lan_rx, f);
    }
}

class lan_garbage : public lan {
protected:
    void finish() {
        run(1);
        forward(1);
        for (uint16_t id = 2; id <= n_nodes; ++id) {
            run(id);
        }
        for (uint16_t id = 1; id <= n_nodes; ++id) {
            take(_nodes[id].lan.tx);
            take(_nodes[id].wan.tx);
            learned(id);
            const auto& s = stats(id);
            EXPECT_EQ(s.accounted(), s.rx_packets.load()) << "node " << id;
        }
        EXPECT_EQ(stats(1).rx_packets.load(), 61u + 400u);
    }
};

TEST_F(lan_garbage, route_port) {
    std::array<std::vector<engine::lan_neighbours::entry>, n_nodes + 1> neigh;
    for (uint16_t id = 1; id <= n_nodes; ++id) {
        for (uint8_t h = 0; h < 8; h += 2) {  // half of the hosts resolved
            neigh[id].push_back({transport::ip_address::from_v4(site4(id, h)), host_mac(id, h)});
            neigh[id].push_back({transport::ip_address::from_v6(site6(id, h).data()), host_mac(id, h)});
        }
    }
    route_all(neigh);
    feed_garbage(_nodes[1].lan.rx, ipv4_frame(lan_mac(1), host_mac(1, 5), site4(1, 5), site4(2, 5), 64, 60),
                 lan_mac(1));
    finish();
    EXPECT_GT(drops(1, engine::drop_reason::not_routable), 0u);
    EXPECT_GT(drops(1, engine::drop_reason::bad_length), 0u);
    EXPECT_GT(stats(1).encrypted.load(), 0u);
    EXPECT_GT(stats(1).icmp_errors.load(), 0u);
}

TEST_F(lan_garbage, bridge_port) {
    std::array<std::vector<engine::mac_table::entry>, n_nodes + 1> macs;
    macs[1] = {{key_of(host_mac(2, 5)), 2, 0}};
    bridge_all(macs);
    feed_garbage(_nodes[1].lan.rx, ipv4_frame(host_mac(2, 5), host_mac(1, 5), site4(1, 5), site4(2, 5), 64, 60),
                 lan_mac(1));
    finish();
    EXPECT_GT(drops(1, engine::drop_reason::bad_length), 0u);
    EXPECT_GT(stats(2).decrypted.load(), 0u);
}

}  // namespace
