// SPDX-License-Identifier: MIT
// The encrypted data path between two workers on real DPDK ports (net_ring, EAL --no-huge):
// node 1's WAN tx ring is node 2's WAN rx ring. Frames go in on node 1's overlay and must come
// out of node 2's overlay byte for byte, for every transport over IPv4 and IPv6; replayed,
// tampered, unknown-key and misaddressed packets are dropped with their reason; broadcast
// replicates; routers relay without keys; every packet is accounted for.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tests/unit/eal_env.hh"
#include "tests/unit/engine/ring_port.hh"
#include "crypto/init.hh"
#include "engine/seal.hh"
#include "engine/worker.hh"
#include "transports/control_msg.hh"
#include "transports/stream.hh"

namespace {

using unit_eal::g_pool;
const auto* g_env = ::testing::AddGlobalTestEnvironment(new unit_eal::env("datapath_test", 8191, 256, true));

using unit_ring::frame;
using unit_ring::free_ring;
using unit_ring::inject;
using unit_ring::make_port;
using unit_ring::ring_port;
using unit_ring::take;

rte_ether_addr node_mac(uint16_t id) { return {{0xfe, 0xfd, 0x80, 0x00, uint8_t(id >> 8), uint8_t(id)}}; }
rte_ether_addr wan_mac(uint16_t id) { return {{0x02, 0, 0, 0, 0xee, uint8_t(id)}}; }
transport::ip_address wan_ip(uint16_t id, bool v6) {
    if (!v6) {
        return transport::ip_address::from_v4(RTE_BE32(RTE_IPV4(192, 0, 2, 0) + id));
    }
    uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, uint8_t(id)};
    return transport::ip_address::from_v6(a);
}

// One node: a WAN and an overlay ring port, keys towards every peer, one worker (lane `lane`).
struct node {
    uint16_t id = 0;
    ring_port wan, ovl;
    engine::port_table table{};
    rte_ring* to_ctl = nullptr;
    rte_ring* from_ctl = nullptr;
    std::unique_ptr<engine::rcu> rcu;
    std::unique_ptr<engine::published<engine::dataplane_snapshot>> snap;
    std::unique_ptr<engine::worker> w;
    std::vector<std::unique_ptr<crypto::aead_key>> keys;
    std::vector<std::unique_ptr<engine::rx_windows>> windows;

    void teardown() {
        w.reset();
        snap.reset();
        rcu.reset();
        for (auto* p : {&wan, &ovl}) {
            rte_eth_dev_stop(p->id);
            rte_eth_dev_close(p->id);
            free_ring(p->rx);
            free_ring(p->tx);
        }
        free_ring(to_ctl);
        free_ring(from_ctl);
    }
};

crypto::aead_choice cipher() {
    auto c = crypto::select_aead("aes256-gcm", "auto");
    EXPECT_TRUE(c.has_value());
    return *c;
}

// The key node `from` uses to send to node `to` (and `to` to receive from `from`).
std::array<uint8_t, 32> key_bytes(uint16_t from, uint16_t to) {
    std::array<uint8_t, 32> k{};
    for (size_t i = 0; i < k.size(); ++i) {
        k[i] = static_cast<uint8_t>(from * 31 + to * 7 + i);
    }
    return k;
}

class datapath : public ::testing::TestWithParam<transport::kind> {
public:  // helpers below the fixture use it too
    static constexpr uint16_t n_nodes = 3;

    void SetUp() override {
        static int seq = 0;
        ++seq;
        for (uint16_t id = 1; id <= n_nodes; ++id) {
            node& n = _nodes[id];
            n.id = id;
            std::string tag = "dp" + std::to_string(seq) + "n" + std::to_string(id);
            n.wan = make_port(tag + "w");
            n.ovl = make_port(tag + "o");
            n.table.index_of.fill(-1);
            // tcp: the "WAN" is the stream port to the slow path (ring headers, no Ethernet)
            n.table.ports[0] = {n.wan.id, transport::is_stream(GetParam()) ? engine::port_role::stream : engine::port_role::wan,
                                wan_mac(id), 0, {}};
            n.table.ports[1] = {n.ovl.id, engine::port_role::overlay, node_mac(id), 0, {}};
            n.table.index_of[n.wan.id] = 0;
            n.table.index_of[n.ovl.id] = 1;
            n.table.n_ports = 2;
            n.to_ctl = rte_ring_create((tag + "c").c_str(), 1024, 0, RING_F_SC_DEQ);
            n.from_ctl = rte_ring_create((tag + "f").c_str(), 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
            n.rcu = std::make_unique<engine::rcu>(1);
            n.snap = std::make_unique<engine::published<engine::dataplane_snapshot>>(*n.rcu);
            engine::worker_setup s;
            s.worker_idx = 0;
            s.rx_queues = {{n.wan.id, 0}, {n.ovl.id, 0}};
            s.ports = &n.table;
            s.tx_drain_us = 0;
            s.idle_sleep_us = 0;
            s.to_control = n.to_ctl;
            s.from_control = n.from_ctl;
            s.snapshot = n.snap.get();
            s.qsbr = n.rcu.get();
            s.pool = g_pool;
            s.cipher = cipher();
            s.wan_fragment = id == 3;  // node 3 fragments oversize packets, nodes 1 and 2 answer ICMP
            s.stage_clock_period = 1;  // every busy iteration timed (engine/stage_clock.hh)
            // Node 2 accepts into its replay windows without their locks, as dvped's only worker
            // does; nodes 1 and 3 take them, as one of several workers.
            s.shared_replay_windows = id != 2;
            if (id == 2) {
                // node 2 may flood 3 copies at once, then one a second (flood_budget test)
                s.flood_copies_per_s = 1;
                s.flood_copies_burst = 3;
                // ... and hand 3 packets to relay over to control at once, then one a second
                s.relay_handovers_per_s = 1;
                s.relay_handovers_burst = 3;
            }
            if (id == 3) {
                // node 3 queues 2 flood copies for peers without a session at once, then one a second
                s.queue_copies_per_s = 1;
                s.queue_copies_burst = 2;
            }
            n.w = std::make_unique<engine::worker>(s);
        }
        for (uint16_t id = 1; id <= n_nodes; ++id) {
            publish(id, false);
        }
    }

    void TearDown() override {
        for (uint16_t id = 1; id <= n_nodes; ++id) {
            _nodes[id].teardown();
        }
    }

    // Builds node `id`'s snapshot: sessions with every other node over the test's transport.
    void publish(uint16_t id, bool router, uint8_t rx_key_id = 5, uint8_t tos_mask = 0,
                 const std::function<void(engine::dataplane_snapshot&)>& tweak = {}) {
        node& n = _nodes[id];
        const transport::kind k = GetParam();
        const bool v6 = transport::is_ipv6(k);
        auto s = std::make_unique<engine::dataplane_snapshot>();
        s->self_id = id;
        s->self_mac = node_mac(id);
        s->has_overlay = true;
        s->overlay_port_id = n.ovl.id;
        s->router = router;
        if (v6) {
            s->local.has_ipv6 = true;
            std::memcpy(s->local.ipv6.data(), wan_ip(id, true).bytes.data(), 16);
        } else {
            s->local.has_ipv4 = true;
            s->local.ipv4 = wan_ip(id, false).v4();
        }
        s->local.udp_port = 655;
        s->local.ip_proto = 47;
        transport::set_icmp_type(s->local, 0);
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
            e.tx_key_id = 5;  // the peers' receive key id
            e.tx_generation = 1;
            n.keys.push_back(std::make_unique<crypto::aead_key>(std::move(rx.value())));
            n.windows.push_back(engine::rx_windows::create());
            e.rx[0] = {n.keys.back().get(), n.windows.back()->w.get(), rx_key_id};
            auto t = transport::build_template(k, endpoints(id, p));
            ASSERT_TRUE(t.has_value());
            e.tmpl = *t;
            e.tx_port_id = n.wan.id;
            e.tx_mtu = 1500;
            e.udp_sport_base = 40000;
            e.tos_mask = tos_mask;
            e.tx_ready = true;
            s->broadcast_to.push_back(p);
        }
        if (tweak) {
            tweak(*s);
        }
        n.snap->publish(std::move(s));
        n.w->iterate();  // the worker passes a quiescent state: the old snapshot may go
        n.rcu->poll();
    }

    transport::endpoint_pair endpoints(uint16_t from, uint16_t to) const {
        const bool v6 = transport::is_ipv6(GetParam());
        transport::endpoint_pair ep;
        ep.src_mac = wan_mac(from);
        ep.dst_mac = wan_mac(to);
        ep.src_ip = wan_ip(from, v6);
        ep.dst_ip = wan_ip(to, v6);
        ep.icmp_type = GetParam() == transport::kind::icmp6 ? transport::icmp6_type_for(0) : 0;
        ep.stream_connect = true;  // tcp: the peer's tcp-port (never roams; stream_roaming below)
        return ep;
    }

    // The dvpe packet of `w` in a fresh outer header from `from` to `to`.
    frame rewrap(const frame& w, uint16_t from, uint16_t to) const {
        const size_t hl = transport::headroom(GetParam());
        frame out(w.size());
        std::memcpy(out.data() + hl, w.data() + hl, w.size() - hl);
        auto t = transport::build_template(GetParam(), endpoints(from, to));
        EXPECT_TRUE(t.has_value());
        transport::write_outer(*t, out.data(), static_cast<uint16_t>(w.size() - hl), 40000);
        return out;
    }

    // inject() / take(): tests/unit/engine/ring_port.hh

    void run(uint16_t id) {
        for (int i = 0; i < 4; ++i) {
            _nodes[id].w->iterate();
        }
    }

    static frame overlay_frame(const rte_ether_addr& dst, const rte_ether_addr& src, size_t payload) {
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

    uint64_t drops(uint16_t id, engine::drop_reason r) {
        return _nodes[id].w->stats().drops[static_cast<size_t>(r)].load();
    }

    void expect_accounted() {
        for (uint16_t id = 1; id <= n_nodes; ++id) {
            const auto& s = _nodes[id].w->stats();
            EXPECT_EQ(s.rx_packets.load(), s.accounted()) << "node " << id;
        }
    }

    // Seals `f` on node 1 towards node 2 and returns the packet as it appears on the wire.
    frame seal_1_to_2(const frame& f) { return seal_on(1, f); }

    // Seals `f` (addressed by its MACs) on node `from` and returns the packet on the wire.
    frame seal_on(uint16_t from, const frame& f) {
        inject(_nodes[from].ovl.rx, f);
        run(from);
        auto wire = take(_nodes[from].wan.tx);
        EXPECT_EQ(wire.size(), 1u);
        return wire.empty() ? frame{} : wire[0];
    }

    std::array<node, n_nodes + 1> _nodes;
};

TEST_P(datapath, unicast_frames_arrive_byte_for_byte) {
    for (size_t len : {0u, 1u, 46u, 200u, 1400u}) {
        frame f = overlay_frame(node_mac(2), node_mac(1), len);
        frame wire = seal_1_to_2(f);
        // MACs elided: outer + 16 header + (frame - 12) + 16 tag
        EXPECT_EQ(wire.size(), transport::headroom(GetParam()) + 16 + f.size() - 12 + 16);
        inject(_nodes[2].wan.rx, wire);
        run(2);
        auto out = take(_nodes[2].ovl.tx);
        ASSERT_EQ(out.size(), 1u) << "len " << len;
        EXPECT_EQ(out[0], f);
    }
    EXPECT_EQ(_nodes[1].w->stats().encrypted.load(), 5u);
    EXPECT_EQ(_nodes[2].w->stats().decrypted.load(), 5u);
    EXPECT_EQ(_nodes[2].w->peer_stats()[1].rx_packets.load(), 5u);
    EXPECT_EQ(_nodes[1].w->peer_stats()[2].tx_packets.load(), 5u);
    expect_accounted();
}

// The per-stage cycle counters (engine/stage_clock.hh) of one worker, as a check list: every
// stage of a full burst moved, the stages add up to clk_cycles, the calls and packets per stage.
void expect_stage_clocks(const engine::worker_stats& s, uint64_t packets, uint64_t aead_calls, uint64_t tx_packets) {
    EXPECT_EQ(s.clk_rx_packets.load(), packets);
    EXPECT_EQ(s.clk_aead_packets.load(), packets);
    EXPECT_EQ(s.clk_aead_calls.load(), aead_calls);
    EXPECT_EQ(s.clk_tx_packets.load(), tx_packets);
    EXPECT_GE(s.clk_iterations.load(), 1u);
    EXPECT_GE(s.clk_rx_calls.load(), 1u);
    EXPECT_GE(s.clk_tx_calls.load(), 1u);
    for (const auto* c : {&s.clk_rx_cycles, &s.clk_prepare_cycles, &s.clk_aead_cycles, &s.clk_finish_cycles,
                          &s.clk_tx_cycles, &s.clk_cycles}) {
        EXPECT_GT(c->load(), 0u);
    }
    EXPECT_EQ(s.clk_cycles.load(), s.clk_rx_cycles.load() + s.clk_prepare_cycles.load() + s.clk_aead_cycles.load() +
                                       s.clk_finish_cycles.load() + s.clk_tx_cycles.load() + s.clk_other_cycles.load());
    // Only the timed iterations are in clk_cycles; with every one timed, it is busy_cycles less
    // the clock's own extra TSC readings.
    EXPECT_LE(s.clk_cycles.load(), s.busy_cycles.load());
    EXPECT_GT(s.clk_reading_cost.load(), 0u);
}

TEST_P(datapath, stage_clocks_count_each_stage_of_a_burst_once) {
    // One full burst each way (32 frames: the tx buffer is flushed inside the burst, as under load).
    const frame f = overlay_frame(node_mac(2), node_mac(1), 200);
    for (int i = 0; i < 32; ++i) {
        inject(_nodes[1].ovl.rx, f);
    }
    _nodes[1].w->iterate();
    auto wire = take(_nodes[1].wan.tx);
    ASSERT_EQ(wire.size(), 32u);
    expect_stage_clocks(_nodes[1].w->stats(), 32, 1, 32);  // one peer: one AEAD call
    for (const auto& w : wire) {
        inject(_nodes[2].wan.rx, w);
    }
    _nodes[2].w->iterate();
    ASSERT_EQ(take(_nodes[2].ovl.tx).size(), 32u);
    expect_stage_clocks(_nodes[2].w->stats(), 32, 1, 32);

    // 32 frames alternating between two peers (32 runs): still one timed iteration and one AEAD
    // batch; the sealer makes one AEAD call per run or one for the batch (seal_multi), never more.
    const engine::worker_stats& s1 = _nodes[1].w->stats();
    const uint64_t iterations = s1.clk_iterations.load();
    for (int i = 0; i < 32; ++i) {
        inject(_nodes[1].ovl.rx, overlay_frame(node_mac(i % 2 == 0 ? 2 : 3), node_mac(1), 200));
    }
    _nodes[1].w->iterate();
    EXPECT_EQ(take(_nodes[1].wan.tx).size(), 32u);
    EXPECT_EQ(s1.clk_iterations.load(), iterations + 1);
    EXPECT_GE(s1.clk_aead_calls.load(), 1u + 1u);
    EXPECT_LE(s1.clk_aead_calls.load(), 1u + 32u);
    EXPECT_EQ(s1.clk_aead_packets.load(), 64u);
    expect_accounted();
}

// The outer TOS / traffic class of the sealed packet (0 when the family's byte is absent).
uint8_t outer_tos(const frame& w, transport::kind k) {
    const uint8_t* ip = w.data() + transport::ether_header_size;
    return transport::is_ipv6(k) ? static_cast<uint8_t>((ip[0] & 0x0f) << 4 | ip[1] >> 4) : ip[1];
}

TEST_P(datapath, inherit_tos_copies_the_inner_dscp_to_the_outer_header) {
    if (transport::is_stream(GetParam())) {
        GTEST_SKIP() << "tcp has no outer IP header of ours: the kernel's TCP sets its TOS";
    }
    frame ef = overlay_frame(node_mac(2), node_mac(1), 60);
    ef[15] = 0xb9;  // IPv4 TOS: DSCP 46 (EF), ECN 1
    EXPECT_EQ(outer_tos(seal_1_to_2(ef), GetParam()), 0) << "inherit-tos off: outer TOS 0";
    publish(1, false, 5, 0xfc);
    frame wire = seal_1_to_2(ef);
    EXPECT_EQ(outer_tos(wire, GetParam()), 0xb8) << "DSCP copied, ECN not";
    frame v6 = overlay_frame(node_mac(2), node_mac(1), 60);
    v6[12] = 0x86, v6[13] = 0xdd, v6[14] = 0x62, v6[15] = 0x80;  // IPv6, traffic class 0x28 (AF11)
    EXPECT_EQ(outer_tos(seal_1_to_2(v6), GetParam()), 0x28);
    // the receiver accepts it as any other packet (the IPv4 header checksum covers the TOS)
    inject(_nodes[2].wan.rx, wire);
    run(2);
    auto out = take(_nodes[2].ovl.tx);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], ef);
    expect_accounted();
}

TEST_P(datapath, frames_above_the_wan_mtu_are_counted_not_sent) {
    if (transport::is_stream(GetParam())) {
        GTEST_SKIP() << "sizes are the IP transports' (a tcp path's room is its ring header's: tcp_never_fragments)";
    }
    // 1500-byte WAN MTU: an IPv4 udp packet carries at most 1500 - 20 - 8 - 32 = 1440 plaintext
    // bytes (ethertype + L3) for the MACs-elided frame; one byte more is too big.
    const size_t max_plain = 1500 - transport::overhead(GetParam()) - transport::data_overhead;
    inject(_nodes[1].ovl.rx, overlay_frame(node_mac(2), node_mac(1), max_plain - 2));      // fits
    inject(_nodes[1].ovl.rx, overlay_frame(node_mac(2), node_mac(1), max_plain - 2 + 1));  // too big
    run(1);
    EXPECT_EQ(take(_nodes[1].wan.tx).size(), 1u);
    EXPECT_EQ(drops(1, engine::drop_reason::too_big), 1u);
    expect_accounted();
}

TEST_P(datapath, an_oversize_ipv4_packet_is_answered_with_fragmentation_needed) {
    if (transport::is_stream(GetParam())) {
        GTEST_SKIP() << "sizes are the IP transports' (a tcp path's room is its ring header's: tcp_never_fragments)";
    }
    const size_t max_plain = 1500 - transport::overhead(GetParam()) - transport::data_overhead;
    const size_t l3 = max_plain - 2 + 1;  // one byte above what fits with the MACs elided
    frame f = overlay_frame(node_mac(2), node_mac(1), l3);
    const uint8_t ip[20] = {0x45, 0, static_cast<uint8_t>(l3 >> 8), static_cast<uint8_t>(l3), 0, 0, 0x40, 0, 64, 17,
                            0, 0, 10, 88, 0, 1, 10, 88, 0, 2};
    std::memcpy(f.data() + 14, ip, sizeof(ip));
    inject(_nodes[1].ovl.rx, f);
    run(1);
    EXPECT_TRUE(take(_nodes[1].wan.tx).empty());
    EXPECT_EQ(drops(1, engine::drop_reason::too_big), 1u);
    auto back = take(_nodes[1].ovl.tx);
    ASSERT_EQ(back.size(), 1u);
    const frame& a = back[0];
    ASSERT_EQ(a.size(), 14u + 576u);
    EXPECT_EQ(0, std::memcmp(a.data(), f.data() + 6, 6));  // to the sender, from the node it wrote to
    EXPECT_EQ(0, std::memcmp(a.data() + 6, f.data(), 6));
    EXPECT_EQ(a[14 + 20], 3);
    EXPECT_EQ(a[14 + 21], 4);
    EXPECT_EQ(static_cast<size_t>(a[14 + 26] << 8 | a[14 + 27]), max_plain - 2);  // the overlay MTU
    EXPECT_EQ(_nodes[1].w->stats().too_big_answers.load(), 1u);
    expect_accounted();
}

TEST_P(datapath, wan_fragment_sends_outer_fragments_and_the_receiver_reassembles_them) {
    if (transport::is_stream(GetParam())) {
        GTEST_SKIP() << "no outer fragments on a stream (tcp_never_fragments below)";
    }
    // Node 3 (wan-fragment = yes) to node 2: a frame 300 bytes above what one packet carries
    // leaves as two outer fragments; node 2 reassembles them in either order.
    const size_t max_plain = 1500 - transport::overhead(GetParam()) - transport::data_overhead;
    for (bool reverse : {false, true}) {
        frame f = overlay_frame(node_mac(2), node_mac(3), max_plain - 2 + 300);
        inject(_nodes[3].ovl.rx, f);
        run(3);
        auto wire = take(_nodes[3].wan.tx);
        ASSERT_EQ(wire.size(), 2u);
        for (const frame& w : wire) {
            EXPECT_LE(w.size() - 14, 1500u);
        }
        if (reverse) {
            std::swap(wire[0], wire[1]);
        }
        inject(_nodes[2].wan.rx, wire[0]);
        run(2);
        EXPECT_TRUE(take(_nodes[2].ovl.tx).empty());  // half a packet: held
        inject(_nodes[2].wan.rx, wire[1]);
        run(2);
        auto out = take(_nodes[2].ovl.tx);
        ASSERT_EQ(out.size(), 1u) << "reverse " << reverse;
        EXPECT_EQ(out[0], f);
    }
    const auto& s3 = _nodes[3].w->stats();
    const auto& s2 = _nodes[2].w->stats();
    EXPECT_EQ(s3.fragmented.load(), 2u);
    EXPECT_EQ(s3.encrypted.load(), 2u);
    EXPECT_EQ(drops(3, engine::drop_reason::too_big), 0u);
    EXPECT_EQ(s2.fragments_in.load(), 4u);
    EXPECT_EQ(s2.reassembled.load(), 2u);
    EXPECT_EQ(s2.decrypted.load(), 2u);
    EXPECT_EQ(_nodes[2].w->peer_stats()[3].rx_packets.load(), 2u);
    expect_accounted();
}

TEST_P(datapath, a_lone_or_forged_fragment_never_reaches_the_overlay) {
    if (transport::is_stream(GetParam())) {
        GTEST_SKIP() << "the stream port carries no IP fragments";
    }
    const size_t max_plain = 1500 - transport::overhead(GetParam()) - transport::data_overhead;
    inject(_nodes[3].ovl.rx, overlay_frame(node_mac(2), node_mac(3), max_plain + 100));
    run(3);
    auto wire = take(_nodes[3].wan.tx);
    ASSERT_EQ(wire.size(), 2u);
    // The second half alone, then the first half with its ciphertext flipped: the reassembled
    // packet fails the AEAD.
    inject(_nodes[2].wan.rx, wire[1]);
    run(2);
    frame bad = wire[0];
    bad[bad.size() - 1] ^= 0x55;
    inject(_nodes[2].wan.rx, bad);
    run(2);
    EXPECT_TRUE(take(_nodes[2].ovl.tx).empty());
    EXPECT_EQ(_nodes[2].w->stats().reassembled.load(), 1u);
    EXPECT_EQ(drops(2, engine::drop_reason::auth_failed), 1u);
    expect_accounted();
}

TEST_P(datapath, foreign_macs_travel_as_full_frames) {
    rte_ether_addr lan_host{{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}};
    frame f = overlay_frame(node_mac(2), lan_host, 100);
    frame wire = seal_1_to_2(f);
    EXPECT_EQ(wire.size(), transport::headroom(GetParam()) + 16 + f.size() + 16);
    inject(_nodes[2].wan.rx, wire);
    run(2);
    auto out = take(_nodes[2].ovl.tx);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], f);
}

TEST_P(datapath, replay_is_dropped) {
    frame wire = seal_1_to_2(overlay_frame(node_mac(2), node_mac(1), 64));
    inject(_nodes[2].wan.rx, wire);
    inject(_nodes[2].wan.rx, wire);  // same burst
    run(2);
    inject(_nodes[2].wan.rx, wire);  // later burst
    run(2);
    EXPECT_EQ(take(_nodes[2].ovl.tx).size(), 1u);
    EXPECT_EQ(drops(2, engine::drop_reason::replayed), 2u);
    // counted against the node the header names too (dvpectl peers, metrics): the in-burst
    // duplicate at accept(), the later one at would_accept()
    EXPECT_EQ(_nodes[2].w->peer_stats()[1].replayed.load(), 2u);
    EXPECT_EQ(_nodes[2].w->peer_stats()[1].auth_failed.load(), 0u);
    expect_accounted();
}

TEST_P(datapath, replay_is_dropped_with_and_without_the_window_locks) {
    // Node 2 runs without the windows' locks (one worker), node 1 with them: the same verdicts,
    // a duplicate in one burst (accept) and a later copy (would_accept), and packets from two
    // senders interleaved, so each run of one sender lane ends and another begins.
    for (uint16_t to : {uint16_t{2}, uint16_t{1}}) {
        const uint16_t from = to == 2 ? 1 : 2;
        frame a = seal_on(from, overlay_frame(node_mac(to), node_mac(from), 64));
        frame b = seal_on(3, overlay_frame(node_mac(to), node_mac(3), 80));
        frame c = seal_on(from, overlay_frame(node_mac(to), node_mac(from), 96));
        const uint64_t replayed = drops(to, engine::drop_reason::replayed);
        for (const frame* f : {&a, &b, &a, &c, &b, &c}) {
            inject(_nodes[to].wan.rx, *f);
        }
        run(to);
        EXPECT_EQ(take(_nodes[to].ovl.tx).size(), 3u) << "to node " << to;
        inject(_nodes[to].wan.rx, a);
        inject(_nodes[to].wan.rx, b);
        run(to);
        EXPECT_TRUE(take(_nodes[to].ovl.tx).empty()) << "to node " << to;
        EXPECT_EQ(drops(to, engine::drop_reason::replayed) - replayed, 5u) << "to node " << to;
    }
    // The lock itself, held by this thread on the window of the sender's lane 0 (the windows
    // from node 1 at node 2, and from node 2 at node 1, are each node's first): node 2 delivers
    // without it, node 1 waits for it.
    for (uint16_t to : {uint16_t{2}, uint16_t{1}}) {
        const uint16_t from = to == 2 ? 1 : 2;
        frame f = seal_on(from, overlay_frame(node_mac(to), node_mac(from), 72));
        engine::lane_window& w = _nodes[to].windows[0]->w[0];
        rte_spinlock_lock(&w.lock);
        inject(_nodes[to].wan.rx, f);
        auto done = std::async(std::launch::async, [&] { run(to); });
        const bool finished =
            done.wait_for(to == 2 ? std::chrono::seconds(10) : std::chrono::milliseconds(300)) == std::future_status::ready;
        rte_spinlock_unlock(&w.lock);
        done.wait();
        if (to == 2) {
            EXPECT_TRUE(finished) << "node 2, the only worker, took a window lock";
        } else {
            EXPECT_FALSE(finished) << "node 1, one of several workers, did not take the window lock";
        }
        EXPECT_EQ(take(_nodes[to].ovl.tx).size(), 1u) << "to node " << to;
    }
    expect_accounted();
}

TEST_P(datapath, only_an_authenticated_packet_from_elsewhere_is_reported_for_roaming) {
    // Roaming (engine/ingress.cc note_source): node 2's path to node 1 sends to node 1's
    // address; node 1's packets arriving from node 3's address are reported -- but only once
    // the tag verified and the replay window took the counter.
    const auto& ns = _nodes[2].w->peer_stats()[1];
    frame first = seal_1_to_2(overlay_frame(node_mac(2), node_mac(1), 64));
    frame second = seal_1_to_2(overlay_frame(node_mac(2), node_mac(1), 64));
    inject(_nodes[2].wan.rx, first);
    run(2);
    EXPECT_EQ(take(_nodes[2].ovl.tx).size(), 1u);
    EXPECT_FALSE(engine::roam_report(ns).has_value()) << "from its path's address: nothing to report";

    frame moved = rewrap(second, 3, 2);
    frame forged = moved;
    forged.back() ^= 0x01;  // the tag
    inject(_nodes[2].wan.rx, forged);
    inject(_nodes[2].wan.rx, rewrap(first, 3, 2));  // replayed from elsewhere
    run(2);
    EXPECT_TRUE(take(_nodes[2].ovl.tx).empty());
    EXPECT_EQ(drops(2, engine::drop_reason::auth_failed), 1u);
    EXPECT_EQ(drops(2, engine::drop_reason::replayed), 1u);
    EXPECT_EQ(ns.auth_failed.load(), 1u);  // per peer as well
    EXPECT_EQ(ns.replayed.load(), 1u);
    EXPECT_FALSE(engine::roam_report(ns).has_value()) << "a forged or replayed packet moves nothing";

    inject(_nodes[2].wan.rx, moved, _nodes[2].wan.id);
    run(2);
    EXPECT_EQ(take(_nodes[2].ovl.tx).size(), 1u) << "delivered as before";
    if (transport::is_stream(GetParam())) {
        // The connection is the path: the slow path keeps it; nothing roams (docs/tcp.md).
        EXPECT_FALSE(engine::roam_report(ns).has_value()) << "a tcp packet is never reported for roaming";
        expect_accounted();
        return;
    }
    auto r = engine::roam_report(ns);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->reports, 1u);
    const bool v6 = transport::is_ipv6(GetParam());
    const auto want = wan_ip(3, v6);
    EXPECT_EQ(r->v6, v6);
    EXPECT_EQ(std::memcmp(r->ip.data(), want.bytes.data(), v6 ? 16 : 4), 0);
    EXPECT_EQ(r->kind, static_cast<uint8_t>(GetParam()));
    EXPECT_EQ(r->port_id, _nodes[2].wan.id);
    EXPECT_EQ(r->udp_port, transport::is_udp(GetParam()) ? 40000 : 0);
    expect_accounted();
}

TEST_P(datapath, a_peer_reached_at_its_source_port_is_reported_when_only_the_port_changes) {
    if (transport::is_stream(GetParam())) {
        GTEST_SKIP() << "nothing roams on tcp (a_tcp_packet_is_never_reported_for_roaming)";
    }
    // follow_port (a peer without a hostname, reached at the port its packets come from): from
    // its path's address but another UDP source port -- a NAT that rebound the port -- is
    // reported too; without follow_port the port is not looked at (lanes send from several).
    const auto& ns = _nodes[2].w->peer_stats()[1];
    inject(_nodes[2].wan.rx, seal_1_to_2(overlay_frame(node_mac(2), node_mac(1), 64)));
    run(2);
    EXPECT_EQ(take(_nodes[2].ovl.tx).size(), 1u);
    EXPECT_FALSE(engine::roam_report(ns).has_value()) << "lane port 40000, path to 655: the port is not compared";
    publish(2, false, 5, 0, [](engine::dataplane_snapshot& s) { s.peers[1].follow_port = true; });
    inject(_nodes[2].wan.rx, seal_1_to_2(overlay_frame(node_mac(2), node_mac(1), 64)), _nodes[2].wan.id);
    run(2);
    EXPECT_EQ(take(_nodes[2].ovl.tx).size(), 1u);
    auto r = engine::roam_report(ns);
    if (!transport::is_udp(GetParam())) {
        EXPECT_FALSE(r.has_value()) << "no ports: the address alone";
    } else {
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(r->udp_port, 40000);
        const auto want = wan_ip(1, transport::is_ipv6(GetParam()));
        EXPECT_EQ(std::memcmp(r->ip.data(), want.bytes.data(), r->v6 ? 16 : 4), 0) << "the same address";
    }
    expect_accounted();
}

TEST_P(datapath, an_icmp_requester_is_reported_when_only_its_identifier_changes) {
    // An icmp path that answers a requester's echo requests (paths.hh icmp_for(), follow_port):
    // a NAT that gives the requester another identifier moves it; the report carries the
    // identifier and the request bit (the daemon answers with replies at the new identifier).
    if (!transport::is_icmp(GetParam())) {
        GTEST_SKIP() << "icmp only";
    }
    const bool v6 = transport::is_ipv6(GetParam());
    const size_t icmp = 14 + (v6 ? 40 : 20);
    const auto& ns = _nodes[2].w->peer_stats()[1];
    auto as_request = [&](frame f, uint16_t id) {
        f[icmp] = v6 ? transport::icmp6_echo_request : transport::icmp_echo_request;
        f[icmp + 4] = static_cast<uint8_t>(id >> 8);
        f[icmp + 5] = static_cast<uint8_t>(id);
        return f;  // checksums are not verified on receipt (classify.hh)
    };
    inject(_nodes[2].wan.rx, as_request(seal_1_to_2(overlay_frame(node_mac(2), node_mac(1), 64)), 0x1234));
    run(2);
    EXPECT_EQ(take(_nodes[2].ovl.tx).size(), 1u) << "a request is accepted as well as a reply";
    EXPECT_FALSE(engine::roam_report(ns).has_value()) << "without follow_port the identifier is not looked at";
    publish(2, false, 5, 0, [](engine::dataplane_snapshot& s) { s.peers[1].follow_port = true; });
    inject(_nodes[2].wan.rx, as_request(seal_1_to_2(overlay_frame(node_mac(2), node_mac(1), 64)), 0x1234));
    run(2);
    EXPECT_EQ(take(_nodes[2].ovl.tx).size(), 1u);
    auto r = engine::roam_report(ns);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->udp_port, 0x1234);
    EXPECT_TRUE(r->icmp_request);
    EXPECT_EQ(r->kind, static_cast<uint8_t>(GetParam()));
    // the identifier the path answers with (the template's, 0 here): nothing more to report
    inject(_nodes[2].wan.rx, as_request(seal_1_to_2(overlay_frame(node_mac(2), node_mac(1), 64)), 0));
    run(2);
    EXPECT_EQ(take(_nodes[2].ovl.tx).size(), 1u);
    EXPECT_EQ(engine::roam_report(ns)->reports, 1u);
    expect_accounted();
}

TEST_P(datapath, our_own_packet_coming_back_is_never_relayed) {
    // A host that answers our echo requests copies our sealed packet into its reply; a router
    // that relayed it (its destination is another node) would send it straight back there, for
    // ever. A packet with our own id as source is dropped, counted as unknown_node.
    publish(2, /*router=*/true);
    inject(_nodes[2].ovl.rx, overlay_frame(node_mac(3), node_mac(2), 64));
    run(2);
    auto w = take(_nodes[2].wan.tx);
    ASSERT_EQ(w.size(), 1u);
    inject(_nodes[2].wan.rx, rewrap(w[0], 3, 2));  // back from node 3's address
    run(2);
    EXPECT_TRUE(take(_nodes[2].wan.tx).empty());
    EXPECT_EQ(_nodes[2].w->stats().relayed.load(), 0u);
    EXPECT_EQ(drops(2, engine::drop_reason::unknown_node), 1u);
    expect_accounted();
}

TEST_P(datapath, tampering_fails_authentication) {
    const size_t hl = transport::headroom(GetParam());
    frame wire = seal_1_to_2(overlay_frame(node_mac(2), node_mac(1), 64));
    for (size_t off : {hl + 8 /* counter (AAD) */, hl + 20 /* ciphertext */, wire.size() - 1 /* tag */}) {
        frame bad = wire;
        bad[off] ^= 0x01;
        inject(_nodes[2].wan.rx, bad);
    }
    run(2);
    EXPECT_TRUE(take(_nodes[2].ovl.tx).empty());
    EXPECT_EQ(drops(2, engine::drop_reason::auth_failed), 3u);
    // The forged counter did not move the window: the genuine packet still gets through.
    inject(_nodes[2].wan.rx, wire);
    run(2);
    EXPECT_EQ(take(_nodes[2].ovl.tx).size(), 1u);
    expect_accounted();
}

// Many peers (dataplane_snapshot::prefetch_peers()): past prefetch_min_peers the worker loads
// each packet's per-peer state a few packets ahead of its use (prefetch_peer on egress,
// prefetch_sender / prefetch_window on ingress). A hint only: the same frames arrive in the same
// order and the same drops are counted, with odd frames and packets inside the prefetching
// bursts -- frames too short for a MAC or a header, an empty peer slot, a node beyond the table,
// an unknown key, a lane out of range, a truncated packet. (The stream transports, tcp and dns,
// take no ingress prefetch: their packets come from the slow path's ring.) Prefetch addresses
// are not checked by ASan; the loads the steps do make (headers, peer entries, key slots) are.
TEST_P(datapath, many_peers_prefetch_changes_nothing) {
    const auto pad = [](engine::dataplane_snapshot& s) {
        s.peers.resize(engine::dataplane_snapshot::prefetch_min_peers + 172);  // ids 4..299 empty
    };
    engine::dataplane_snapshot padded;
    pad(padded);
    ASSERT_TRUE(padded.prefetch_peers());
    for (uint16_t id = 1; id <= n_nodes; ++id) {
        publish(id, false, 5, 0, pad);
    }
    std::vector<frame> to2, to3;
    for (int i = 0; i < 12; ++i) {
        const uint16_t to = i % 2 != 0 ? 3 : 2;
        frame f = overlay_frame(node_mac(to), node_mac(1), 20 + i);
        (to == 2 ? to2 : to3).push_back(f);
        inject(_nodes[1].ovl.rx, f);
        if (i == 3) {
            inject(_nodes[1].ovl.rx, frame{0xfe, 0xfd, 0x80, 0x00, 0x00, 0x02, 0x08, 0x00});  // node 2's MAC, no header
        } else if (i == 4) {
            inject(_nodes[1].ovl.rx, frame{0xfe, 0xfd, 0x80, 0x00});  // not even a MAC
        } else if (i == 5) {
            inject(_nodes[1].ovl.rx, overlay_frame(node_mac(250), node_mac(1), 10));  // an empty slot
        } else if (i == 7) {
            inject(_nodes[1].ovl.rx, overlay_frame(node_mac(4000), node_mac(1), 10));  // beyond the table
        }
    }
    run(1);
    auto wire = take(_nodes[1].wan.tx);
    ASSERT_EQ(wire.size(), 12u);
    EXPECT_EQ(drops(1, engine::drop_reason::bad_length), 2u);
    EXPECT_EQ(drops(1, engine::drop_reason::unknown_node), 2u);

    // Node 2 gets everything in one burst: its own packets, node 3's (readdressed to node 2 on
    // the underlay: not a router, it drops them), and forged ones.
    const size_t hl = transport::headroom(GetParam());
    for (size_t i = 0; i < wire.size(); ++i) {
        inject(_nodes[2].wan.rx, i % 2 == 0 ? wire[i] : rewrap(wire[i], 1, 2));
        // The forged ones from the 6th packet of the burst on: both prefetch steps see them.
        if (i == 4) {
            frame u = wire[0];
            u[hl + 3] = 250;  // src: an empty slot of the table
            inject(_nodes[2].wan.rx, u);
        } else if (i == 6) {
            frame k = wire[0];
            k[hl + 5] = 9;  // key id
            inject(_nodes[2].wan.rx, k);
        } else if (i == 8) {
            frame l = wire[0];
            l[hl + 7] = 200;  // lane
            inject(_nodes[2].wan.rx, l);
        } else if (i == 9) {
            inject(_nodes[2].wan.rx, frame(wire[0].begin(), wire[0].begin() + static_cast<long>(hl + 12)));
        } else if (i == 10) {
            frame b = wire[0];
            b[hl + 2] = static_cast<uint8_t>(0xf0 | (b[hl + 2] & 0x0f));  // src 0xf01: beyond the table
            inject(_nodes[2].wan.rx, b);
        }
    }
    run(2);
    EXPECT_EQ(take(_nodes[2].ovl.tx), to2);
    EXPECT_EQ(drops(2, engine::drop_reason::not_router), 6u);
    EXPECT_EQ(drops(2, engine::drop_reason::unknown_node), 2u);
    EXPECT_EQ(drops(2, engine::drop_reason::unknown_key), 1u);
    EXPECT_EQ(drops(2, engine::drop_reason::bad_header), 1u);  // the lane
    for (size_t i = 1; i < wire.size(); i += 2) {
        inject(_nodes[3].wan.rx, wire[i]);
    }
    run(3);
    EXPECT_EQ(take(_nodes[3].ovl.tx), to3);
    EXPECT_EQ(_nodes[2].w->peer_stats()[1].rx_packets.load(), 6u);
    EXPECT_EQ(_nodes[1].w->peer_stats()[3].tx_packets.load(), 6u);
    expect_accounted();
}

TEST_P(datapath, unknown_key_and_unknown_node) {
    const size_t hl = transport::headroom(GetParam());
    frame wire = seal_1_to_2(overlay_frame(node_mac(2), node_mac(1), 64));
    frame k = wire;
    k[hl + 5] = 9;  // key id
    inject(_nodes[2].wan.rx, k);
    frame u = wire;
    u[hl + 3] = 77;  // src id 77: not configured
    inject(_nodes[2].wan.rx, u);
    run(2);
    EXPECT_EQ(drops(2, engine::drop_reason::unknown_key), 1u);
    EXPECT_EQ(drops(2, engine::drop_reason::unknown_node), 1u);
    expect_accounted();
}

TEST_P(datapath, overlay_destinations) {
    inject(_nodes[1].ovl.rx, overlay_frame(node_mac(1), node_mac(1), 10));   // ourselves
    inject(_nodes[1].ovl.rx, overlay_frame(node_mac(9), node_mac(1), 10));   // no such node
    inject(_nodes[1].ovl.rx, overlay_frame({{2, 0, 0, 0, 0, 1}}, node_mac(1), 10));  // not a node MAC
    run(1);
    EXPECT_TRUE(take(_nodes[1].wan.tx).empty());
    EXPECT_EQ(drops(1, engine::drop_reason::to_self), 1u);
    EXPECT_EQ(drops(1, engine::drop_reason::unknown_node), 2u);
    expect_accounted();
}

TEST_P(datapath, broadcast_is_sealed_once_per_peer) {
    frame f = overlay_frame({{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, node_mac(1), 28);
    inject(_nodes[1].ovl.rx, f);
    run(1);
    auto wire = take(_nodes[1].wan.tx);
    ASSERT_EQ(wire.size(), 2u);  // nodes 2 and 3
    EXPECT_EQ(_nodes[1].w->stats().encrypted.load(), 1u);
    for (uint16_t to : {2, 3}) {
        // each copy is addressed to its node at the underlay
        bool delivered = false;
        for (const auto& w : wire) {
            const rte_ether_addr want = wan_mac(to);
            const auto ip = wan_ip(to, transport::is_ipv6(GetParam()));
            // tcp: the ring header names the endpoint (transports/stream.hh), not a MAC
            const bool to_it = transport::is_stream(GetParam()) ? std::memcmp(w.data() + 4, ip.bytes.data(), ip.v6 ? 16 : 4) == 0
                                                              : std::memcmp(w.data(), &want, 6) == 0;
            if (to_it) {
                inject(_nodes[to].wan.rx, w);
                run(to);
                auto out = take(_nodes[to].ovl.tx);
                ASSERT_EQ(out.size(), 1u);
                EXPECT_EQ(out[0], f);
                delivered = true;
            }
        }
        EXPECT_TRUE(delivered) << "node " << to;
    }
    expect_accounted();
}

TEST_P(datapath, routers_relay_without_keys_others_refuse) {
    // Node 1 seals for node 3; the packet is re-wrapped in an outer header towards node 2, as if
    // node 2 were node 1's router to node 3. Node 2 holds no key of the 1<->3 session.
    frame inner = overlay_frame(node_mac(3), node_mac(1), 64);
    inject(_nodes[1].ovl.rx, inner);
    run(1);
    auto w = take(_nodes[1].wan.tx);
    ASSERT_EQ(w.size(), 1u);
    frame via2 = rewrap(w[0], 1, 2);
    inject(_nodes[2].wan.rx, via2);
    run(2);
    EXPECT_EQ(drops(2, engine::drop_reason::not_router), 1u);
    publish(2, /*router=*/true);
    inject(_nodes[2].wan.rx, via2);
    run(2);
    auto relayed = take(_nodes[2].wan.tx);
    ASSERT_EQ(relayed.size(), 1u);
    EXPECT_EQ(_nodes[2].w->stats().relayed.load(), 1u);
    EXPECT_TRUE(take(_nodes[2].ovl.tx).empty());
    inject(_nodes[3].wan.rx, relayed[0]);
    run(3);
    auto out = take(_nodes[3].ovl.tx);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], inner);
    expect_accounted();
}

TEST_P(datapath, a_router_without_a_direct_session_hands_the_packet_to_control) {
    // Issue 15 point 3: node 2 relays for 1 but has no session with 3 (or reaches 3 only through
    // another router): the packet goes to the control thread unchanged (it queues it and
    // connects), with demand counted for 3; without a queue it is dropped as no_route.
    frame inner = overlay_frame(node_mac(3), node_mac(1), 64);
    inject(_nodes[1].ovl.rx, inner);
    run(1);
    auto w = take(_nodes[1].wan.tx);
    ASSERT_EQ(w.size(), 1u);
    const frame via2 = rewrap(w[0], 1, 2);
    publish(2, true, 5, 0, [](engine::dataplane_snapshot& s) { s.peers[3].tx_ready = false; });
    inject(_nodes[2].wan.rx, via2);
    run(2);
    EXPECT_EQ(drops(2, engine::drop_reason::no_route), 1u);
    EXPECT_EQ(_nodes[2].w->stats().to_control.load(), 0u);
    auto handed = [&] {
        void* obj = nullptr;
        EXPECT_EQ(rte_ring_dequeue(_nodes[2].to_ctl, &obj), 0);
        auto* m = static_cast<rte_mbuf*>(obj);
        frame got;
        if (m != nullptr) {
            got.assign(rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_mtod(m, uint8_t*) + rte_pktmbuf_data_len(m));
            rte_pktmbuf_free(m);
        }
        return got;
    };
    for (const bool routed : {false, true}) {
        publish(2, true, 5, 0, [routed](engine::dataplane_snapshot& s) {
            s.queue_without_session = true;
            if (routed) {
                s.peers[3].routed = true;  // a session, but through a router: one hop only
            } else {
                s.peers[3].tx_ready = false;
            }
        });
        const uint64_t to_ctl = _nodes[2].w->stats().to_control.load();
        const uint64_t demand = _nodes[2].w->peer_stats()[3].no_session.load();
        inject(_nodes[2].wan.rx, via2);
        run(2);
        EXPECT_TRUE(take(_nodes[2].wan.tx).empty()) << routed;
        EXPECT_EQ(_nodes[2].w->stats().relayed.load(), 0u);
        EXPECT_EQ(_nodes[2].w->stats().to_control.load(), to_ctl + 1) << routed;
        EXPECT_EQ(_nodes[2].w->peer_stats()[3].no_session.load(), demand + 1) << routed;
        EXPECT_EQ(handed(), via2) << routed;  // as it came: the control thread re-classifies it
    }
    EXPECT_EQ(drops(2, engine::drop_reason::no_route), 1u);
    // a direct session again: relayed at once
    publish(2, true, 5, 0, [](engine::dataplane_snapshot& s) { s.queue_without_session = true; });
    inject(_nodes[2].wan.rx, via2);
    run(2);
    auto relayed = take(_nodes[2].wan.tx);
    ASSERT_EQ(relayed.size(), 1u);
    inject(_nodes[3].wan.rx, relayed[0]);
    run(3);
    auto out = take(_nodes[3].ovl.tx);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], inner);
    expect_accounted();
}

TEST_P(datapath, a_broadcast_is_queued_at_control_for_peers_without_a_session) {
    // Issue 15 point 3: GVPE's N-1 unicasts reach every node; a peer without a session gets its
    // copy queued by the control thread (which connects) instead of nothing.
    publish(1, false, 5, 0, [](engine::dataplane_snapshot& s) {
        s.queue_without_session = true;
        s.peers[3].tx_ready = false;
        s.broadcast_to = {2};
        s.queue_flood_for = {3};
    });
    const rte_ether_addr bcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
    const frame f = overlay_frame(bcast, node_mac(1), 60);
    inject(_nodes[1].ovl.rx, f);
    run(1);
    EXPECT_EQ(take(_nodes[1].wan.tx).size(), 1u) << "sealed for 2";
    void* obj = nullptr;
    ASSERT_EQ(rte_ring_dequeue(_nodes[1].to_ctl, &obj), 0) << "a copy for 3 at control";
    auto* m = static_cast<rte_mbuf*>(obj);
    EXPECT_EQ(m->hash.usr, 3u);
    EXPECT_EQ(frame(rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_mtod(m, uint8_t*) + rte_pktmbuf_data_len(m)), f);
    rte_pktmbuf_free(m);
    EXPECT_NE(rte_ring_dequeue(_nodes[1].to_ctl, &obj), 0) << "one copy only";
    EXPECT_GE(_nodes[1].w->peer_stats()[3].no_session.load(), 1u) << "demand: 3 connects";
    EXPECT_EQ(_nodes[1].w->stats().to_control.load(), 0u) << "the frame went out sealed";

    // nobody has a session: the copies wait at control, and so the frame's way out is control
    publish(1, false, 5, 0, [](engine::dataplane_snapshot& s) {
        s.queue_without_session = true;
        s.peers[2].tx_ready = false;
        s.peers[3].tx_ready = false;
        s.broadcast_to = {};
        s.queue_flood_for = {2, 3};
    });
    inject(_nodes[1].ovl.rx, f);
    run(1);
    EXPECT_TRUE(take(_nodes[1].wan.tx).empty());
    void* objs[4];
    ASSERT_EQ(rte_ring_dequeue_burst(_nodes[1].to_ctl, objs, 4, nullptr), 2u);
    EXPECT_EQ(static_cast<rte_mbuf*>(objs[0])->hash.usr, 2u);
    EXPECT_EQ(static_cast<rte_mbuf*>(objs[1])->hash.usr, 3u);
    rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(objs), 2);
    EXPECT_EQ(_nodes[1].w->stats().to_control.load(), 1u);
    EXPECT_EQ(drops(1, engine::drop_reason::no_session), 0u);
    expect_accounted();
}

TEST_P(datapath, flood_copies_for_peers_without_a_session_are_rate_limited) {
    // They share the control ring with handshakes: node 3 queues 2 copies at once, then one a
    // second; a frame over that still goes to the peers with a session.
    publish(3, false, 5, 0, [](engine::dataplane_snapshot& s) {
        s.queue_without_session = true;
        s.peers[2].tx_ready = false;
        s.broadcast_to = {1};
        s.queue_flood_for = {2};
    });
    const rte_ether_addr bcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
    for (int i = 0; i < 5; ++i) {
        inject(_nodes[3].ovl.rx, overlay_frame(bcast, node_mac(3), 60 + i));
    }
    run(3);
    EXPECT_EQ(take(_nodes[3].wan.tx).size(), 5u) << "every frame sealed for 1";
    void* objs[8];
    const unsigned got = rte_ring_dequeue_burst(_nodes[3].to_ctl, objs, 8, nullptr);
    EXPECT_EQ(got, 2u);
    rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(objs), got);
    expect_accounted();
}

TEST_P(datapath, relay_handovers_to_control_are_rate_limited) {
    // Anyone can send a router packets "for" any node it has no session with (it cannot check
    // them): they reach the control thread (which queues them and connects) at a bounded rate,
    // the rest is dropped as no_route. Node 2: 3 at once, then one a second.
    frame inner = overlay_frame(node_mac(3), node_mac(1), 64);
    inject(_nodes[1].ovl.rx, inner);
    run(1);
    auto w = take(_nodes[1].wan.tx);
    ASSERT_EQ(w.size(), 1u);
    const frame via2 = rewrap(w[0], 1, 2);
    publish(2, true, 5, 0, [](engine::dataplane_snapshot& s) {
        s.queue_without_session = true;
        s.peers[3].tx_ready = false;
    });
    for (int i = 0; i < 10; ++i) {
        inject(_nodes[2].wan.rx, via2);
    }
    run(2);
    EXPECT_EQ(_nodes[2].w->stats().to_control.load(), 3u);
    EXPECT_EQ(drops(2, engine::drop_reason::no_route), 7u);
    void* objs[16];
    EXPECT_EQ(rte_ring_dequeue_burst(_nodes[2].to_ctl, objs, 16, nullptr), 3u);
    rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(objs), 3);
    expect_accounted();
}

// An empty data message sealed with node 1's key towards node 2 (a keepalive), with `flags`.
frame keepalive_1_to_2(datapath& t, const frame& model, uint64_t counter, uint8_t flags) {
    const size_t hl = transport::headroom(t.GetParam());
    frame ka(hl + 32);
    std::memcpy(ka.data(), model.data(), hl + 16);
    auto* dh = reinterpret_cast<transport::data_header*>(ka.data() + hl);
    transport::set_counter(*dh, counter);
    transport::set_version_flags(*dh, flags);
    auto key = crypto::aead_key::create(cipher(), key_bytes(1, 2));
    EXPECT_TRUE(key.has_value());
    auto ctx = crypto::aead_context::create();
    EXPECT_TRUE(ctx.has_value());
    auto n = transport::nonce(transport::lane(*dh), counter);
    crypto::aead_packet pk{ka.data() + hl + 16, 0, 16, ka.data() + hl, n.data(), ka.data() + hl + 16};
    ctx->seal_burst(*key, std::span<crypto::aead_packet>(&pk, 1));
    transport::write_outer(*transport::build_template(t.GetParam(), t.endpoints(1, 2)), ka.data(), 32, 40000);
    return ka;
}

TEST_P(datapath, keepalive_is_consumed) {
    // An empty authenticated data packet: sealed through the AEAD directly with node 1's key
    // (cutting a sealed frame's plaintext to zero bytes is not possible).
    frame wire = seal_1_to_2(overlay_frame(node_mac(2), node_mac(1), 0));
    inject(_nodes[2].wan.rx, keepalive_1_to_2(*this, wire, 1000, 0));
    run(2);
    EXPECT_TRUE(take(_nodes[2].ovl.tx).empty());
    EXPECT_EQ(_nodes[2].w->stats().keepalives.load(), 1u);
    EXPECT_EQ(_nodes[2].w->peer_stats()[1].closes.load(), 0u);
    expect_accounted();
}

TEST_P(datapath, close_message_is_counted_for_the_control_thread) {
    frame wire = seal_1_to_2(overlay_frame(node_mac(2), node_mac(1), 0));
    frame close = keepalive_1_to_2(*this, wire, 1001, transport::data_flag_close);
    inject(_nodes[2].wan.rx, close);
    run(2);
    EXPECT_EQ(_nodes[2].w->peer_stats()[1].closes.load(), 1u);
    EXPECT_EQ(_nodes[2].w->stats().keepalives.load(), 1u);
    // the flag is authenticated (header = AAD): flipped onto a plain keepalive it fails
    frame forged = keepalive_1_to_2(*this, wire, 1002, 0);
    forged[transport::headroom(GetParam()) + 1] |= transport::data_flag_close;
    inject(_nodes[2].wan.rx, forged);
    // and a replayed close is a replay
    inject(_nodes[2].wan.rx, close);
    run(2);
    EXPECT_EQ(_nodes[2].w->peer_stats()[1].closes.load(), 1u);
    EXPECT_EQ(drops(2, engine::drop_reason::auth_failed), 1u);
    EXPECT_EQ(drops(2, engine::drop_reason::replayed), 1u);
    expect_accounted();
}

// Control messages (data_flag_control, transports/control_msg.hh): what node 1's control thread
// sends, sealed by a sealer on the control lane with add_control() from node 1's snapshot entry
// for node 2, as it leaves node 1's WAN port (the sink keeps the wire bytes). One sender per test:
// its lane's counter goes on from packet to packet, as the control thread's does.
struct control_sender {
    struct sink {
        std::vector<frame> out;
        void send(uint16_t, rte_mbuf** pkts, unsigned n, uint64_t) {
            for (unsigned i = 0; i < n; ++i) {
                const auto* d = rte_pktmbuf_mtod(pkts[i], const uint8_t*);
                out.emplace_back(d, d + rte_pktmbuf_data_len(pkts[i]));
                rte_pktmbuf_free(pkts[i]);
            }
        }
        void send_fragments(rte_mbuf* m, const engine::peer_entry&) {
            ADD_FAILURE() << "a control message is never fragmented";
            rte_pktmbuf_free(m);
        }
        void sealed(const engine::peer_entry&, unsigned, uint64_t) {}
    };

    std::unique_ptr<engine::sealer> sl = std::make_unique<engine::sealer>(transport::control_lane);
    std::unique_ptr<crypto::aead_context> ctx;

    control_sender() {
        auto c = crypto::aead_context::create();
        EXPECT_TRUE(c.has_value());
        if (c) {
            ctx = std::make_unique<crypto::aead_context>(std::move(c.value()));
        }
    }

    frame seal(const node& from, uint16_t to, const frame& msg) {
        const engine::dataplane_snapshot* s = from.snap->get();
        rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
        EXPECT_NE(m, nullptr);
        if (m == nullptr || ctx == nullptr) {
            return {};
        }
        std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(msg.size())), msg.data(), msg.size());
        EXPECT_EQ(sl->add_control(m, s->peers[to], s->self_id), engine::sealer::verdict::queued);
        sink k;
        sl->flush(*ctx, k);
        EXPECT_EQ(k.out.size(), 1u);
        return k.out.empty() ? frame{} : k.out[0];
    }
};

// A connect_info (the largest control message, max_control_size bytes) about node 3.
frame a_control_message() {
    transport::connect_info ci;
    ci.node = 3;
    ci.k = transport::kind::udp4;
    ci.udp_port = 655;
    ci.ip = wan_ip(3, false);
    size_t len = 0;
    const auto b = transport::encode_control(ci, len);
    EXPECT_EQ(len, transport::max_control_size);
    return frame(b.begin(), b.begin() + static_cast<ptrdiff_t>(len));
}

// Node 2 with a control thread that takes hand-overs (queue_without_session: dvped's daemon;
// off in benchmark mode).
void with_control_queue(datapath& t) {
    t.publish(2, false, 5, 0, [](engine::dataplane_snapshot& s) { s.queue_without_session = true; });
}

// What node 2's worker handed to its control thread: each mbuf's bytes, port and hash.usr.
struct handed_over {
    frame bytes;
    uint32_t pkt_len = 0;
    uint16_t nb_segs = 0;
    uint16_t port = 0;
    uint32_t usr = 0;
};
std::vector<handed_over> take_control(rte_ring* r) {
    std::vector<handed_over> out;
    void* o;
    while (rte_ring_dequeue(r, &o) == 0) {
        auto* m = static_cast<rte_mbuf*>(o);
        const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
        out.push_back({frame(d, d + rte_pktmbuf_data_len(m)), rte_pktmbuf_pkt_len(m), m->nb_segs, m->port, m->hash.usr});
        rte_pktmbuf_free(m);
    }
    return out;
}

TEST_P(datapath, a_control_message_reaches_the_control_thread_as_its_plaintext) {
    with_control_queue(*this);
    control_sender cs;
    const frame msg = a_control_message();
    const frame wire = cs.seal(_nodes[1], 2, msg);
    ASSERT_FALSE(wire.empty());
    EXPECT_EQ(wire.size(), transport::headroom(GetParam()) + 16 + msg.size() + 16);
    const size_t hl = transport::headroom(GetParam());
    EXPECT_EQ(transport::flags(*reinterpret_cast<const transport::data_header*>(wire.data() + hl)),
              transport::data_flag_control);
    // as a PMD delivers it: port set (net_ring leaves it unset)
    inject(_nodes[2].wan.rx, wire, _nodes[2].wan.id);
    run(2);
    const auto got = take_control(_nodes[2].to_ctl);
    ASSERT_EQ(got.size(), 1u) << "handed to the control thread";
    EXPECT_EQ(got[0].bytes, msg) << "exactly the plaintext: no header, no tag";
    EXPECT_EQ(got[0].pkt_len, msg.size());
    EXPECT_EQ(got[0].nb_segs, 1u);
    EXPECT_EQ(got[0].port, RTE_MBUF_PORT_INVALID) << "not a packet from a port";
    EXPECT_EQ(got[0].usr, engine::control_msg_mark | 1u) << "the mark and the sender's node id";
    EXPECT_TRUE(take(_nodes[2].ovl.tx).empty());
    const auto& st = _nodes[2].w->stats();
    EXPECT_EQ(st.to_control.load(), 1u);
    EXPECT_EQ(st.keepalives.load(), 0u);
    EXPECT_EQ(st.decrypted.load(), 0u);
    EXPECT_EQ(_nodes[2].w->peer_stats()[1].rx_packets.load(), 0u);
    EXPECT_EQ(_nodes[2].w->peer_stats()[1].rx_bytes.load(), 0u);
    EXPECT_EQ(_nodes[2].w->peer_stats()[1].keepalives.load(), 0u);
    EXPECT_EQ(drops(2, engine::drop_reason::bad_control), 0u);
    // the shortest one (connect_req, 4 bytes) too
    size_t len = 0;
    const auto req = transport::encode_control(transport::connect_req{3}, len);
    const frame short_msg(req.begin(), req.begin() + static_cast<ptrdiff_t>(len));
    inject(_nodes[2].wan.rx, cs.seal(_nodes[1], 2, short_msg), _nodes[2].wan.id);
    run(2);
    const auto got2 = take_control(_nodes[2].to_ctl);
    ASSERT_EQ(got2.size(), 1u);
    EXPECT_EQ(got2[0].bytes, short_msg);
    EXPECT_EQ(got2[0].usr, engine::control_msg_mark | 1u);
    EXPECT_EQ(st.to_control.load(), 2u);
    expect_accounted();
}

TEST_P(datapath, a_replayed_control_message_is_dropped_not_handed_over) {
    with_control_queue(*this);
    control_sender cs;
    const frame wire = cs.seal(_nodes[1], 2, a_control_message());
    inject(_nodes[2].wan.rx, wire);
    inject(_nodes[2].wan.rx, wire);  // same burst
    run(2);
    inject(_nodes[2].wan.rx, wire);  // later burst
    run(2);
    EXPECT_EQ(take_control(_nodes[2].to_ctl).size(), 1u) << "the first copy only";
    EXPECT_EQ(_nodes[2].w->stats().to_control.load(), 1u);
    EXPECT_EQ(drops(2, engine::drop_reason::replayed), 2u);
    EXPECT_EQ(drops(2, engine::drop_reason::bad_control), 0u);
    expect_accounted();
}

TEST_P(datapath, a_forged_control_message_fails_authentication) {
    with_control_queue(*this);
    control_sender cs;
    const frame msg = a_control_message();
    const frame wire = cs.seal(_nodes[1], 2, msg);
    frame bad = wire;
    bad.back() ^= 0x01;  // the tag
    frame flagged = seal_1_to_2(overlay_frame(node_mac(2), node_mac(1), 22));  // a frame (24 bytes of plaintext)
    flagged[transport::headroom(GetParam()) + 1] |= transport::data_flag_control;  // the flag is AAD
    inject(_nodes[2].wan.rx, bad);
    inject(_nodes[2].wan.rx, flagged);
    run(2);
    EXPECT_TRUE(take_control(_nodes[2].to_ctl).empty());
    EXPECT_TRUE(take(_nodes[2].ovl.tx).empty());
    EXPECT_EQ(drops(2, engine::drop_reason::auth_failed), 2u);
    EXPECT_EQ(_nodes[2].w->stats().to_control.load(), 0u);
    // The forged one did not move the window: the genuine message is still handed over.
    inject(_nodes[2].wan.rx, wire);
    run(2);
    const auto got = take_control(_nodes[2].to_ctl);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].bytes, msg);
    expect_accounted();
}

TEST_P(datapath, a_control_message_longer_than_any_is_bad_control) {
    with_control_queue(*this);
    control_sender cs;
    frame longer = a_control_message();
    longer.push_back(0);  // max_control_size + 1 = 25 bytes
    inject(_nodes[2].wan.rx, cs.seal(_nodes[1], 2, longer));
    run(2);
    EXPECT_TRUE(take_control(_nodes[2].to_ctl).empty());
    EXPECT_TRUE(take(_nodes[2].ovl.tx).empty()) << "not delivered as a frame either";
    EXPECT_EQ(drops(2, engine::drop_reason::bad_control), 1u);
    EXPECT_EQ(_nodes[2].w->stats().to_control.load(), 0u);
    EXPECT_EQ(_nodes[2].w->peer_stats()[1].rx_packets.load(), 0u);
    expect_accounted();
}

TEST_P(datapath, a_control_message_without_a_control_queue_is_bad_control) {
    // queue_without_session off (benchmark mode: no control thread takes hand-overs)
    control_sender cs;
    inject(_nodes[2].wan.rx, cs.seal(_nodes[1], 2, a_control_message()));
    run(2);
    EXPECT_TRUE(take_control(_nodes[2].to_ctl).empty());
    EXPECT_TRUE(take(_nodes[2].ovl.tx).empty());
    EXPECT_EQ(drops(2, engine::drop_reason::bad_control), 1u);
    EXPECT_EQ(_nodes[2].w->stats().to_control.load(), 0u);
    EXPECT_EQ(_nodes[2].w->stats().keepalives.load(), 0u);
    expect_accounted();
}

TEST_P(datapath, control_message_handovers_share_the_relay_rate_limit) {
    // Node 2 hands 3 packets at once to control, then one a second (its relay_handovers_*): an
    // authenticated peer can still send many control messages.
    with_control_queue(*this);
    control_sender cs;
    const frame msg = a_control_message();
    for (int i = 0; i < 5; ++i) {
        inject(_nodes[2].wan.rx, cs.seal(_nodes[1], 2, msg));
    }
    run(2);
    EXPECT_EQ(take_control(_nodes[2].to_ctl).size(), 3u);
    EXPECT_EQ(drops(2, engine::drop_reason::bad_control), 2u);
    expect_accounted();
}

// Security review finding: a dvpe packet whose first 8 header bytes are zero equalled the
// empty per-burst lookup cache of ingress_burst, skipped every check and dereferenced a null
// replay window (one unauthenticated packet killed the daemon). It must be an ordinary drop,
// first in a burst and after a valid packet alike.
TEST_P(datapath, a_zero_header_is_dropped_not_trusted) {
    const size_t hl = transport::headroom(GetParam());
    frame wire = seal_1_to_2(overlay_frame(node_mac(2), node_mac(1), 64));
    ASSERT_GT(wire.size(), hl + 32);
    frame zero(wire.begin(), wire.begin() + static_cast<ptrdiff_t>(hl));  // outer headers, then zeros
    zero.resize(wire.size(), 0);
    frame zero_head = wire;
    std::fill_n(zero_head.begin() + static_cast<ptrdiff_t>(hl), 8, uint8_t{0});
    inject(_nodes[2].wan.rx, zero);       // first of its burst
    inject(_nodes[2].wan.rx, zero_head);
    inject(_nodes[2].wan.rx, wire);       // a genuine packet still gets through
    inject(_nodes[2].wan.rx, zero);       // and after it
    run(2);
    EXPECT_EQ(take(_nodes[2].ovl.tx).size(), 1u);
    EXPECT_EQ(drops(2, engine::drop_reason::bad_header), 3u);  // version 0
    expect_accounted();
}

// The flood budget (engine/flood_budget.hh): node 2 floods to its two peers once (2 of its 3
// copies); the next broadcast would need 2 more and is dropped whole as flood_budget, no copy
// sealed, the frame accounted once.
TEST_P(datapath, a_flood_over_the_budget_is_dropped_whole) {
    frame f = overlay_frame({{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, node_mac(2), 28);
    inject(_nodes[2].ovl.rx, f);
    run(2);
    EXPECT_EQ(take(_nodes[2].wan.tx).size(), 2u);
    inject(_nodes[2].ovl.rx, f);
    run(2);
    EXPECT_EQ(take(_nodes[2].wan.tx).size(), 0u);
    const engine::worker_stats& st = _nodes[2].w->stats();
    EXPECT_EQ(st.encrypted.load(), 1u);
    EXPECT_EQ(st.drops[static_cast<size_t>(engine::drop_reason::flood_budget)].load(), 1u);
    EXPECT_EQ(st.copies_lost.load(), 0u);
    // unicast is not limited
    inject(_nodes[2].ovl.rx, overlay_frame(node_mac(1), node_mac(2), 28));
    run(2);
    EXPECT_EQ(take(_nodes[2].wan.tx).size(), 1u);
    expect_accounted();
}

// Found by the data-path fuzz target: a broadcast copy that could not be sealed (here: above the
// WAN MTU) was counted as a drop of its own beside the original, so the worker's counters held
// more ways out than packets in. Copies lost are counted apart (copies_lost), the invariant holds.
TEST_P(datapath, a_broadcast_whose_copies_are_too_big_is_accounted_once) {
    inject(_nodes[1].ovl.rx, overlay_frame({{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, node_mac(1), 1490));
    run(1);
    EXPECT_TRUE(take(_nodes[1].wan.tx).empty());
    EXPECT_EQ(drops(1, engine::drop_reason::too_big), 2u);  // one per peer's copy
    EXPECT_EQ(_nodes[1].w->stats().copies_lost.load(), 2u);
    expect_accounted();
}

// A second worker of node 2 (index 1): its own WAN and overlay ring ports (two tx queues: a worker
// sends on the queue of its index) and RCU, reading a copy of node 2's snapshot -- the same keys
// and replay windows, as dvped's workers share one snapshot.
struct second_worker {
    rte_ring* wan_rx = nullptr;
    std::array<rte_ring*, 2> wan_tx{}, ovl_tx{};
    rte_ring* ovl_rx = nullptr;
    uint16_t wan_id = 0, ovl_id = 0;
    engine::port_table table{};
    rte_ring* to_ctl = nullptr;
    rte_ring* from_ctl = nullptr;
    std::unique_ptr<engine::rcu> rcu;
    std::unique_ptr<engine::published<engine::dataplane_snapshot>> snap;
    std::unique_ptr<engine::worker> w;

    static uint16_t port(const std::string& name, rte_ring*& rx, std::array<rte_ring*, 2>& tx) {
        rx = rte_ring_create((name + "r").c_str(), 2048, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
        for (unsigned q = 0; q < 2; ++q) {
            tx[q] = rte_ring_create((name + "t" + std::to_string(q)).c_str(), 2048, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
        }
        const int id = rte_eth_from_rings(name.c_str(), &rx, 1, tx.data(), 2, 0);
        EXPECT_GE(id, 0);
        const auto pid = static_cast<uint16_t>(id);
        rte_eth_conf conf{};
        EXPECT_EQ(rte_eth_dev_configure(pid, 1, 2, &conf), 0);
        EXPECT_EQ(rte_eth_rx_queue_setup(pid, 0, 256, 0, nullptr, g_pool), 0);
        for (uint16_t q = 0; q < 2; ++q) {
            EXPECT_EQ(rte_eth_tx_queue_setup(pid, q, 256, 0, nullptr), 0);
        }
        EXPECT_EQ(rte_eth_dev_start(pid), 0);
        return pid;
    }

    second_worker(const node& n, const std::string& tag) {
        wan_id = port(tag + "w", wan_rx, wan_tx);
        ovl_id = port(tag + "o", ovl_rx, ovl_tx);
        table.index_of.fill(-1);
        table.ports[0] = {wan_id, n.table.ports[0].role, wan_mac(n.id), 0, {}};  // stream for tcp
        table.ports[1] = {ovl_id, engine::port_role::overlay, node_mac(n.id), 0, {}};
        table.index_of[wan_id] = 0;
        table.index_of[ovl_id] = 1;
        table.n_ports = 2;
        to_ctl = rte_ring_create((tag + "c").c_str(), 1024, 0, RING_F_SC_DEQ);
        from_ctl = rte_ring_create((tag + "f").c_str(), 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
        rcu = std::make_unique<engine::rcu>(2);
        snap = std::make_unique<engine::published<engine::dataplane_snapshot>>(*rcu);
        auto s = std::make_unique<engine::dataplane_snapshot>(*n.snap->get());
        s->overlay_port_id = ovl_id;
        snap->publish(std::move(s));
        engine::worker_setup ws;
        ws.worker_idx = 1;
        ws.rx_queues = {{wan_id, 0}, {ovl_id, 0}};
        ws.ports = &table;
        ws.tx_drain_us = 0;
        ws.idle_sleep_us = 0;
        ws.to_control = to_ctl;
        ws.from_control = from_ctl;
        ws.snapshot = snap.get();
        ws.qsbr = rcu.get();
        ws.pool = g_pool;
        ws.cipher = cipher();
        w = std::make_unique<engine::worker>(ws);
    }
    ~second_worker() {
        w.reset();
        snap.reset();
        rcu.reset();
        for (uint16_t id : {wan_id, ovl_id}) {
            rte_eth_dev_stop(id);
            rte_eth_dev_close(id);
        }
        for (rte_ring* r : {wan_rx, ovl_rx, wan_tx[0], wan_tx[1], ovl_tx[0], ovl_tx[1], to_ctl, from_ctl}) {
            free_ring(r);
        }
    }
    void run() {
        for (int i = 0; i < 4; ++i) {
            w->iterate();
        }
    }
    size_t delivered() { return take(ovl_tx[1]).size() + take(ovl_tx[0]).size(); }
};

// Security review finding: replay windows were kept per (receiving worker, sender lane), and
// the outer header is not authenticated, so a captured packet re-sent with another UDP source
// port (another RSS queue, another worker) was accepted again. The window is the sender
// lane's, whichever worker receives.
TEST_P(datapath, a_sealed_packet_is_delivered_once_whichever_worker_receives_it) {
    static int seq = 0;
    second_worker w2(_nodes[2], "dpw2n" + std::to_string(++seq));
    std::vector<frame> wire;
    for (int i = 0; i < 3; ++i) {
        wire.push_back(seal_1_to_2(overlay_frame(node_mac(2), node_mac(1), 64 + i)));
    }
    inject(_nodes[2].wan.rx, wire[0]);
    run(2);
    inject(w2.wan_rx, wire[0]);  // the same packet at the other worker: a replay
    inject(w2.wan_rx, wire[1]);  // a new one there: delivered
    w2.run();
    inject(_nodes[2].wan.rx, wire[1]);  // and back: a replay
    inject(_nodes[2].wan.rx, wire[2]);
    inject(w2.wan_rx, wire[2]);
    run(2);
    w2.run();
    EXPECT_EQ(take(_nodes[2].ovl.tx).size() + w2.delivered(), 3u);
    EXPECT_EQ(drops(2, engine::drop_reason::replayed) +
                  w2.w->stats().drops[static_cast<size_t>(engine::drop_reason::replayed)].load(),
              3u);
    const auto& s = w2.w->stats();
    EXPECT_EQ(s.rx_packets.load(), s.accounted());
    expect_accounted();
}

// Multi-segment packets from a WAN port: the dvpe packet must lie in the first segment, and
// what follows in other segments is not part of it (never delivered with the frame).
TEST_P(datapath, a_chained_packet_delivers_only_the_authenticated_bytes) {
    frame f = overlay_frame(node_mac(2), node_mac(1), 100);
    frame wire = seal_1_to_2(f);
    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    rte_mbuf* tail = rte_pktmbuf_alloc(g_pool);
    ASSERT_TRUE(m != nullptr && tail != nullptr);
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(wire.size())), wire.data(), wire.size());
    std::memset(rte_pktmbuf_append(tail, 700), 0xab, 700);  // trailing junk in a second segment
    ASSERT_EQ(rte_pktmbuf_chain(m, tail), 0);
    ASSERT_EQ(rte_ring_enqueue(_nodes[2].wan.rx, m), 0);
    run(2);
    auto out = take(_nodes[2].ovl.tx);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], f);
    expect_accounted();
}

// The stream port's frames come from the tcp slow path (control/daemon/tcp_path.cc), which
// reads them off sockets anyone can connect to: a malformed ring header, a length that does not
// match, a packet shorter than a dvpe header, a non-tcp kind -- each a counted drop, nothing
// delivered; a well-formed one still opens.
TEST_P(datapath, a_malformed_ring_header_from_the_slow_path_is_a_counted_drop) {
    if (!transport::is_stream(GetParam())) {
        GTEST_SKIP() << "stream ports only";
    }
    const frame good = seal_1_to_2(overlay_frame(node_mac(2), node_mac(1), 64));
    std::vector<frame> bad;
    bad.push_back(frame(good.begin(), good.begin() + 10));          // shorter than a ring header
    frame f = good;
    f[21] ^= 1;                                                     // length mismatch
    bad.push_back(f);
    f = good;
    f[0] = static_cast<uint8_t>(transport::kind::udp4);             // not a tcp kind
    bad.push_back(f);
    f = good;
    f[1] = 0x80;                                                    // unknown flag
    bad.push_back(f);
    f = frame(good.begin(), good.begin() + transport::stream_meta_size + 4);  // 4-byte "packet"
    f[20] = 0;
    f[21] = 4;
    bad.push_back(f);
    f = frame(good.begin(), good.begin() + transport::stream_meta_size);      // empty packet
    f[20] = 0;
    f[21] = 0;
    bad.push_back(f);
    for (const auto& b : bad) {
        inject(_nodes[2].wan.rx, b);
    }
    run(2);
    EXPECT_TRUE(take(_nodes[2].ovl.tx).empty());
    EXPECT_EQ(drops(2, engine::drop_reason::bad_length), bad.size());
    inject(_nodes[2].wan.rx, good);
    run(2);
    EXPECT_EQ(take(_nodes[2].ovl.tx).size(), 1u);
    expect_accounted();
}

// A tcp path never fragments (there is no outer IP header of ours): node 3 has wan-fragment,
// and a frame above its path's room is too big there, not cut into IP fragments.
TEST_P(datapath, tcp_never_fragments) {
    if (!transport::is_stream(GetParam())) {
        GTEST_SKIP() << "stream ports only";
    }
    inject(_nodes[3].ovl.rx, overlay_frame(node_mac(1), node_mac(3), 1490));
    run(3);
    EXPECT_TRUE(take(_nodes[3].wan.tx).empty());
    EXPECT_EQ(_nodes[3].w->stats().fragmented.load(), 0u);
    EXPECT_EQ(drops(3, engine::drop_reason::too_big), 1u);
    expect_accounted();
}

// A path to a connection the peer opened (no connect flag: a peer without a hostname or with
// tcp-port 0) follows the peer when its packets come on another connection (it reconnected);
// only authenticated ones count, and a path to its tcp-port never moves.
TEST_P(datapath, stream_roaming_follows_a_peer_to_its_new_connection) {
    if (!transport::is_tcp(GetParam())) {
        GTEST_SKIP() << "tcp only (a dns peer is named by its node id: nothing to follow)";
    }
    const bool v6 = transport::is_ipv6(GetParam());
    const auto from1 = [&](const frame& w, uint16_t port) {
        // as the slow path hands it over: the remote endpoint (node 1, `port`) in the ring header
        frame f = w;
        transport::write_stream_meta(f.data(), GetParam(), 0, wan_ip(1, v6), port,
                                     static_cast<uint16_t>(w.size() - transport::stream_meta_size));
        return f;
    };
    // node 2 reaches node 1 on the connection 1 opened, from port 40001
    publish(2, false, 5, 0, [&](engine::dataplane_snapshot& s) {
        transport::endpoint_pair ep = endpoints(2, 1);
        ep.stream_connect = false;
        ep.dst_port = 40001;
        s.peers[1].tmpl = *transport::build_template(GetParam(), ep);
    });
    const auto& ns = _nodes[2].w->peer_stats()[1];
    frame a = seal_1_to_2(overlay_frame(node_mac(2), node_mac(1), 64));
    frame b = seal_1_to_2(overlay_frame(node_mac(2), node_mac(1), 64));
    inject(_nodes[2].wan.rx, from1(a, 40001));
    run(2);
    EXPECT_EQ(take(_nodes[2].ovl.tx).size(), 1u);
    EXPECT_FALSE(engine::roam_report(ns).has_value()) << "on the path's connection";
    frame forged = from1(b, 40002);
    forged.back() ^= 1;
    inject(_nodes[2].wan.rx, forged);
    run(2);
    EXPECT_FALSE(engine::roam_report(ns).has_value()) << "a forged packet moves nothing";
    inject(_nodes[2].wan.rx, from1(b, 40002));
    run(2);
    EXPECT_EQ(take(_nodes[2].ovl.tx).size(), 1u);
    auto r = engine::roam_report(ns);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->kind, static_cast<uint8_t>(GetParam()));
    EXPECT_EQ(r->udp_port, 40002);
    EXPECT_EQ(r->v6, v6);
    EXPECT_EQ(std::memcmp(r->ip.data(), wan_ip(1, v6).bytes.data(), v6 ? 16 : 4), 0);
    EXPECT_EQ(r->port_id, _nodes[2].wan.id);
    expect_accounted();
}

INSTANTIATE_TEST_SUITE_P(transports, datapath,
                         ::testing::Values(transport::kind::udp4, transport::kind::rawip4, transport::kind::icmp4,
                                           transport::kind::udp6, transport::kind::rawip6, transport::kind::icmp6,
                                           transport::kind::tcp4, transport::kind::tcp6, transport::kind::dns4,
                                           transport::kind::dns6),
                         [](const auto& info) { return std::string(transport::kind_name(info.param)); });

}  // namespace
