// SPDX-License-Identifier: MIT
// The daemon's final (port, queue, lcore) layout: the default map, an explicit map,
// net_af_packet's tied queue pairs, and ifname for a TAP overlay.
#include <gtest/gtest.h>

#include "control/daemon/daemon.hh"

namespace {

control::config make_config(std::vector<control::port_conf> ports, std::vector<unsigned> workers) {
    control::config c;
    control::node_conf n;
    n.name = "alpha";
    n.id = 1;
    n.engine.worker_lcores = std::move(workers);
    n.engine.ports = std::move(ports);
    c.nodes.push_back(n);
    c.self = 0;
    return c;
}

control::port_conf port(std::string name, control::port_role role, std::string devargs) {
    control::port_conf p;
    p.name = std::move(name);
    p.role = role;
    p.devargs = std::move(devargs);
    return p;
}

TEST(queue_layout, default_map_round_robin) {
    auto c = make_config({port("wan0", control::port_role::wan, "net_null0"),
                          port("lan0", control::port_role::overlay, "net_null1"),
                          port("wan1", control::port_role::wan, "net_null2")},
                         {1, 2});
    auto l = control::compute_queue_layout(c);
    ASSERT_EQ(l.queues.size(), 3u);
    EXPECT_EQ(l.queues[0].lcore, 1u);
    EXPECT_EQ(l.queues[1].lcore, 2u);
    EXPECT_EQ(l.queues[2].lcore, 1u);
    EXPECT_EQ(l.n_rxq, (std::vector<uint16_t>{1, 1, 1}));
    EXPECT_EQ(l.n_txq, (std::vector<uint16_t>{2, 2, 2}));  // one tx queue per worker
    EXPECT_EQ(l.devargs[0], "net_null0");
}

TEST(queue_layout, explicit_map_sets_rx_queue_count) {
    auto c = make_config({port("wan0", control::port_role::wan, "net_null0")}, {1, 2});
    c.nodes[0].engine.queue_map = {{"wan0", 0, 1, {}}, {"wan0", 1, 2, {}}, {"wan0", 2, 1, {}}};
    auto l = control::compute_queue_layout(c);
    EXPECT_EQ(l.n_rxq[0], 3u);
    EXPECT_EQ(l.queues.size(), 3u);
}

TEST(queue_layout, af_packet_queue_pairs_all_polled) {
    auto c = make_config({port("wan0", control::port_role::wan, "net_af_packet0,iface=eth1")}, {1, 2, 3});
    auto l = control::compute_queue_layout(c);
    // 3 workers need 3 tx queues; af_packet ties rx to tx, so 3 rx queues, each polled.
    EXPECT_EQ(l.devargs[0], "net_af_packet0,iface=eth1,qpairs=3");
    EXPECT_EQ(l.n_rxq[0], 3u);
    ASSERT_EQ(l.queues.size(), 3u);
    EXPECT_EQ(l.queues[1].queue, 1u);
    EXPECT_EQ(l.queues[1].lcore, 2u);
    EXPECT_EQ(l.queues[2].lcore, 3u);
}

TEST(queue_layout, af_packet_single_worker_untouched) {
    auto c = make_config({port("wan0", control::port_role::wan, "net_af_packet0,iface=eth1")}, {1});
    auto l = control::compute_queue_layout(c);
    EXPECT_EQ(l.devargs[0], "net_af_packet0,iface=eth1");
    EXPECT_TRUE(l.notes.empty());
}

TEST(queue_layout, af_packet_explicit_qpairs_kept) {
    auto c = make_config({port("wan0", control::port_role::wan, "net_af_packet0,iface=eth1,qpairs=4")}, {1, 2});
    auto l = control::compute_queue_layout(c);
    EXPECT_EQ(l.devargs[0], "net_af_packet0,iface=eth1,qpairs=4");
}

TEST(queue_layout, tap_overlay_takes_ifname) {
    auto c = make_config({port("tap0", control::port_role::overlay, "net_tap0")}, {1});
    c.global.ifname = "vpn0";
    EXPECT_EQ(control::compute_queue_layout(c).devargs[0], "net_tap0,iface=vpn0");
    c.nodes[0].engine.ports[0].devargs = "net_tap0,iface=mine";
    EXPECT_EQ(control::compute_queue_layout(c).devargs[0], "net_tap0,iface=mine");
}

}  // namespace
