// SPDX-License-Identifier: MIT
// The worker's WAN slow path on a real DPDK port (net_ring, EAL with --no-huge): every kind of
// frame a WAN port can receive leaves exactly one way — answered, handed to control, or dropped
// with its named reason — and the counters say which (docs/design.md §11: every drop reason has a test).
#include <gtest/gtest.h>
#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_udp.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tests/unit/eal_env.hh"
#include "engine/worker.hh"

namespace {

using unit_eal::g_pool;
const auto* g_env = ::testing::AddGlobalTestEnvironment(new unit_eal::env("worker_test", 4095));

constexpr rte_ether_addr our_mac{{0x02, 0, 0, 0, 0, 0x01}};
constexpr rte_ether_addr peer_mac{{0x02, 0, 0, 0, 0, 0x02}};
constexpr rte_ether_addr other_mac{{0x02, 0, 0, 0, 0, 0x03}};
const rte_be32_t our_ip = RTE_BE32(RTE_IPV4(10, 0, 0, 1));
const rte_be32_t peer_ip = RTE_BE32(RTE_IPV4(10, 0, 0, 2));
const rte_be32_t other_ip = RTE_BE32(RTE_IPV4(10, 0, 0, 9));

using frame = std::vector<uint8_t>;

// resize + memcpy instead of vector::insert: GCC 12 -O3 reports a false -Warray-bounds on the
// latter (GCC PR 107852).
void append(frame& f, const frame& tail) {
    size_t n = f.size();
    f.resize(n + tail.size());
    if (!tail.empty()) {
        std::memcpy(f.data() + n, tail.data(), tail.size());
    }
}

frame eth(const rte_ether_addr& dst, const rte_ether_addr& src, uint16_t type, const frame& payload) {
    frame f(sizeof(rte_ether_hdr));
    auto* h = reinterpret_cast<rte_ether_hdr*>(f.data());
    h->dst_addr = dst;
    h->src_addr = src;
    h->ether_type = rte_cpu_to_be_16(type);
    append(f, payload);
    if (f.size() < 60) {
        f.resize(60);  // Ethernet minimum (without FCS): padding the engine must ignore
    }
    return f;
}

frame arp(uint16_t op, const rte_ether_addr& sha, rte_be32_t sip, rte_be32_t tip) {
    frame p(sizeof(rte_arp_hdr));
    auto* a = reinterpret_cast<rte_arp_hdr*>(p.data());
    a->arp_hardware = RTE_BE16(RTE_ARP_HRD_ETHER);
    a->arp_protocol = RTE_BE16(RTE_ETHER_TYPE_IPV4);
    a->arp_hlen = 6;
    a->arp_plen = 4;
    a->arp_opcode = rte_cpu_to_be_16(op);
    a->arp_data.arp_sha = sha;
    a->arp_data.arp_sip = sip;
    a->arp_data.arp_tip = tip;
    return p;
}

frame ipv4(rte_be32_t src, rte_be32_t dst, uint8_t proto, const frame& l4, uint16_t frag = 0) {
    frame p(sizeof(rte_ipv4_hdr));
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(p.data());
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + l4.size()));
    ip->packet_id = RTE_BE16(7);
    ip->fragment_offset = rte_cpu_to_be_16(frag);
    ip->time_to_live = 17;
    ip->next_proto_id = proto;
    ip->src_addr = src;
    ip->dst_addr = dst;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    append(p, l4);
    return p;
}

frame icmp(uint8_t type, uint16_t id, uint16_t seq, size_t payload_len) {
    frame p(sizeof(rte_icmp_hdr) + payload_len);
    auto* h = reinterpret_cast<rte_icmp_hdr*>(p.data());
    h->icmp_type = type;
    h->icmp_ident = rte_cpu_to_be_16(id);
    h->icmp_seq_nb = rte_cpu_to_be_16(seq);
    for (size_t i = 0; i < payload_len; ++i) {
        p[sizeof(rte_icmp_hdr) + i] = static_cast<uint8_t>(i);
    }
    h->icmp_cksum = static_cast<uint16_t>(~rte_raw_cksum(p.data(), p.size()));
    return p;
}

uint64_t drops(const engine::worker_stats& s, engine::drop_reason r) {
    return s.drops[static_cast<size_t>(r)].load();
}

// One WAN port (net_ring), one overlay port (net_ring), one worker polling both.
class worker_fixture : public ::testing::Test {
protected:
    void SetUp() override {
        static int n = 0;
        ++n;
        _wan = make_port("wt_wan" + std::to_string(n), _wan_rx, _wan_tx, 1024);
        _ovl = make_port("wt_ovl" + std::to_string(n), _ovl_rx, _ovl_tx, 1024);
        _table.index_of.fill(-1);
        add_port(0, _wan, engine::port_role::wan);
        add_port(1, _ovl, engine::port_role::overlay);
        _table.ports[0].ipv4[0] = our_ip;
        _table.ports[0].n_ipv4 = 1;
        _to_ctl = rte_ring_create(("wt_toctl" + std::to_string(n)).c_str(), 4, 0, RING_F_SC_DEQ);
        _from_ctl = rte_ring_create(("wt_fromctl" + std::to_string(n)).c_str(), 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
        ASSERT_NE(_to_ctl, nullptr);
        engine::worker_setup s;
        s.lcore_id = 0;
        s.worker_idx = 0;
        s.rx_queues = {{_wan, 0}, {_ovl, 0}};
        s.ports = &_table;
        s.burst_size = 32;
        s.tx_drain_us = 0;  // flush every iteration
        s.idle_sleep_us = 0;
        s.to_control = _to_ctl;
        s.from_control = _from_ctl;
        _w = std::make_unique<engine::worker>(s);
    }

    void TearDown() override {
        _w.reset();
        for (uint16_t p : {_wan, _ovl}) {
            rte_eth_dev_stop(p);
            rte_eth_dev_close(p);
        }
        for (rte_ring* r : {_wan_rx, _wan_tx, _ovl_rx, _ovl_tx, _to_ctl, _from_ctl}) {
            void* m;
            while (rte_ring_dequeue(r, &m) == 0) {
                rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
            }
            rte_ring_free(r);
        }
    }

    uint16_t make_port(const std::string& name, rte_ring*& rx, rte_ring*& tx, unsigned tx_size) {
        rx = rte_ring_create((name + "_rx").c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
        tx = rte_ring_create((name + "_tx").c_str(), tx_size, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
        EXPECT_NE(rx, nullptr);
        EXPECT_NE(tx, nullptr);
        int id = rte_eth_from_rings(name.c_str(), &rx, 1, &tx, 1, 0);
        EXPECT_GE(id, 0);
        auto port = static_cast<uint16_t>(id);
        rte_eth_conf conf{};
        EXPECT_EQ(rte_eth_dev_configure(port, 1, 1, &conf), 0);
        EXPECT_EQ(rte_eth_rx_queue_setup(port, 0, 128, 0, nullptr, g_pool), 0);
        EXPECT_EQ(rte_eth_tx_queue_setup(port, 0, 128, 0, nullptr), 0);
        EXPECT_EQ(rte_eth_dev_start(port), 0);
        return port;
    }

    void add_port(unsigned idx, uint16_t port, engine::port_role role) {
        _table.ports[idx].port_id = port;
        _table.ports[idx].role = role;
        _table.ports[idx].mac = our_mac;
        _table.index_of[port] = static_cast<int8_t>(idx);
        _table.n_ports = static_cast<uint16_t>(idx + 1);
    }

    void inject(rte_ring* rx, const frame& f, size_t n = 1) {
        for (size_t i = 0; i < n; ++i) {
            rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
            ASSERT_NE(m, nullptr);
            std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
            ASSERT_EQ(rte_ring_enqueue(rx, m), 0);
        }
    }

    // Runs the worker until it has consumed everything injected.
    void run() {
        for (int i = 0; i < 8; ++i) {
            _w->iterate();
        }
    }

    std::vector<frame> sent(rte_ring* tx) {
        std::vector<frame> out;
        void* o;
        while (rte_ring_dequeue(tx, &o) == 0) {
            auto* m = static_cast<rte_mbuf*>(o);
            auto* d = rte_pktmbuf_mtod(m, uint8_t*);
            out.emplace_back(d, d + rte_pktmbuf_data_len(m));
            rte_pktmbuf_free(m);
        }
        return out;
    }

    uint64_t accounted() const {
        const auto& s = _w->stats();
        return s.accounted();  // no sealing here: arp + echo + to_control + drops except tx_failed
    }

    void expect_only_drop(engine::drop_reason r, uint64_t n = 1) {
        const auto& s = _w->stats();
        for (size_t i = 0; i < engine::n_drop_reasons; ++i) {
            EXPECT_EQ(s.drops[i].load(), i == static_cast<size_t>(r) ? n : 0)
                << engine::drop_reason_names[i];
        }
        EXPECT_EQ(s.rx_packets.load(), accounted());
        EXPECT_TRUE(sent(_wan_tx).empty());
    }

    uint16_t _wan = 0, _ovl = 0;
    rte_ring *_wan_rx = nullptr, *_wan_tx = nullptr, *_ovl_rx = nullptr, *_ovl_tx = nullptr;
    rte_ring *_to_ctl = nullptr, *_from_ctl = nullptr;
    engine::port_table _table{};
    std::unique_ptr<engine::worker> _w;
};

// Security review finding: with 16 workers, worker 15 sealed on lane 15, the control thread's
// lane, both with counters from 0 under the same key -- AEAD nonce reuse. A worker index that is
// the control lane (or beyond) is refused.
TEST_F(worker_fixture, a_worker_on_the_control_lane_is_refused) {
    engine::worker_setup s = _w->setup();
    s.worker_idx = transport::control_lane;
    EXPECT_THROW(engine::worker w(s), std::runtime_error);
    s.worker_idx = transport::control_lane + 1;
    EXPECT_THROW(engine::worker w(s), std::runtime_error);
    s.worker_idx = transport::control_lane - 1;  // the last lane a worker may have
    s.rx_queues.clear();
    EXPECT_NO_THROW(engine::worker w(s));
}

// ICMPv6 checksum over the pseudo-header of the IPv6 header at ip (RFC 8200 §8.1).
uint16_t icmp6_sum(const uint8_t* ip, const uint8_t* icmp, uint32_t len) {
    uint32_t sum = 0;
    auto add = [&](const uint8_t* p, uint32_t n) {
        for (uint32_t i = 0; i + 1 < n; i += 2) {
            sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
        }
        if (n % 2) {
            sum += static_cast<uint32_t>(p[n - 1] << 8);
        }
    };
    add(ip + 8, 32);
    sum += len + 58;
    add(icmp, len);
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<uint16_t>(~sum);
}

// A neighbour solicitation for `target` (14 + 40 + 24 bytes, plus a source link-layer option
// when `with_option`); from the unspecified address (DAD) when `dad`.
frame neighbour_solicitation(const uint8_t* target, bool dad, bool with_option) {
    const uint32_t plen = with_option ? 32 : 24;
    frame f(14 + 40 + plen, 0);
    const uint8_t dst_mac[6] = {0x33, 0x33, 0xff, target[13], target[14], target[15]};
    std::memcpy(f.data(), dst_mac, 6);
    std::memcpy(f.data() + 6, &peer_mac, 6);
    f[12] = 0x86, f[13] = 0xdd;
    uint8_t* ip = f.data() + 14;
    ip[0] = 0x60;
    ip[5] = static_cast<uint8_t>(plen);
    ip[6] = 58;
    ip[7] = 255;
    if (!dad) {
        const uint8_t src[16] = {0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
        std::memcpy(ip + 8, src, 16);
    }
    const uint8_t sn[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff};
    std::memcpy(ip + 24, sn, 13);
    std::memcpy(ip + 37, target + 13, 3);
    uint8_t* icmp = ip + 40;
    icmp[0] = 135;
    std::memcpy(icmp + 8, target, 16);
    if (with_option) {
        icmp[24] = 1;
        icmp[25] = 1;
        std::memcpy(icmp + 26, &peer_mac, 6);
    }
    const uint16_t c = icmp6_sum(ip, icmp, plen);
    icmp[2] = static_cast<uint8_t>(c >> 8);
    icmp[3] = static_cast<uint8_t>(c);
    return f;
}

// Security review finding: the advertisement answering an option-less solicitation (DAD sends
// none) was written 8 bytes past the frame and sent truncated (the trim to 86 bytes failed on a
// 78-byte frame). Both forms are answered with a whole 86-byte advertisement.
TEST_F(worker_fixture, neighbour_solicitations_with_and_without_options_get_whole_advertisements) {
    const uint8_t ours[16] = {0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    std::memcpy(_table.ports[0].ipv6[0].data(), ours, 16);
    _table.ports[0].n_ipv6 = 1;
    inject(_wan_rx, neighbour_solicitation(ours, true, false));
    inject(_wan_rx, neighbour_solicitation(ours, false, false));
    inject(_wan_rx, neighbour_solicitation(ours, false, true));
    run();
    auto out = sent(_wan_tx);
    ASSERT_EQ(out.size(), 3u);
    for (const frame& f : out) {
        ASSERT_EQ(f.size(), 14u + 40u + 32u);
        const uint8_t* ip = f.data() + 14;
        EXPECT_EQ(ip[4] << 8 | ip[5], 32);
        const uint8_t* icmp = ip + 40;
        EXPECT_EQ(icmp[0], 136);
        EXPECT_EQ(icmp6_sum(ip, icmp, 32), 0) << "checksum";
        EXPECT_EQ(icmp[24], 2);  // target link-layer address option
        EXPECT_EQ(icmp[25], 1);
        EXPECT_EQ(std::memcmp(icmp + 26, &our_mac, 6), 0);
        EXPECT_EQ(std::memcmp(ip + 8, ours, 16), 0);
    }
    EXPECT_EQ(_w->stats().arp_replies.load(), 3u);
    EXPECT_EQ(_w->stats().rx_packets.load(), accounted());
}

TEST_F(worker_fixture, arp_request_for_us_is_answered_in_place) {
    inject(_wan_rx, eth({{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, peer_mac, RTE_ETHER_TYPE_ARP,
                        arp(RTE_ARP_OP_REQUEST, peer_mac, peer_ip, our_ip)));
    run();
    auto out = sent(_wan_tx);
    ASSERT_EQ(out.size(), 1u);
    const auto* h = reinterpret_cast<const rte_ether_hdr*>(out[0].data());
    const auto* a = reinterpret_cast<const rte_arp_hdr*>(h + 1);
    EXPECT_TRUE(rte_is_same_ether_addr(&h->dst_addr, &peer_mac));
    EXPECT_TRUE(rte_is_same_ether_addr(&h->src_addr, &our_mac));
    EXPECT_EQ(a->arp_opcode, RTE_BE16(RTE_ARP_OP_REPLY));
    EXPECT_TRUE(rte_is_same_ether_addr(&a->arp_data.arp_sha, &our_mac));
    EXPECT_EQ(a->arp_data.arp_sip, our_ip);
    EXPECT_TRUE(rte_is_same_ether_addr(&a->arp_data.arp_tha, &peer_mac));
    EXPECT_EQ(a->arp_data.arp_tip, peer_ip);
    EXPECT_EQ(_w->stats().arp_replies.load(), 1u);
    EXPECT_EQ(_w->stats().tx_packets.load(), 1u);
    EXPECT_EQ(_w->stats().rx_packets.load(), accounted());
}

TEST_F(worker_fixture, arp_request_for_another_host_is_not_for_us) {
    inject(_wan_rx, eth({{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, peer_mac, RTE_ETHER_TYPE_ARP,
                        arp(RTE_ARP_OP_REQUEST, peer_mac, peer_ip, other_ip)));
    run();
    expect_only_drop(engine::drop_reason::not_for_us);
}

TEST_F(worker_fixture, arp_reply_goes_to_control) {
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_ARP, arp(RTE_ARP_OP_REPLY, peer_mac, peer_ip, our_ip)));
    run();
    EXPECT_EQ(_w->stats().to_control.load(), 1u);
    EXPECT_EQ(rte_ring_count(_to_ctl), 1u);
    EXPECT_EQ(_w->stats().rx_packets.load(), accounted());
}

TEST_F(worker_fixture, control_ring_full_is_counted) {
    // Ring of size 4 holds 3.
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_ARP, arp(RTE_ARP_OP_REPLY, peer_mac, peer_ip, our_ip)), 5);
    run();
    EXPECT_EQ(_w->stats().to_control.load(), 3u);
    expect_only_drop(engine::drop_reason::control_ring_full, 2);
}

TEST_F(worker_fixture, truncated_arp_is_bad_length) {
    frame f = eth(our_mac, peer_mac, RTE_ETHER_TYPE_ARP, {});
    f.resize(sizeof(rte_ether_hdr) + 10);
    inject(_wan_rx, f);
    run();
    expect_only_drop(engine::drop_reason::bad_length);
}

TEST_F(worker_fixture, non_ethernet_arp_is_unhandled) {
    frame p = arp(RTE_ARP_OP_REQUEST, peer_mac, peer_ip, our_ip);
    reinterpret_cast<rte_arp_hdr*>(p.data())->arp_hardware = RTE_BE16(6);  // IEEE 802
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_ARP, p));
    run();
    expect_only_drop(engine::drop_reason::unhandled_arp);
}

TEST_F(worker_fixture, echo_request_is_answered_and_padding_trimmed) {
    frame req = eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_ICMP, icmp(8, 0x1234, 9, 4)));
    ASSERT_EQ(req.size(), 60u);  // 14 + 20 + 8 + 4 = 46 bytes padded to 60
    inject(_wan_rx, req);
    run();
    auto out = sent(_wan_tx);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].size(), 46u);
    const auto* h = reinterpret_cast<const rte_ether_hdr*>(out[0].data());
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(h + 1);
    const auto* ic = reinterpret_cast<const rte_icmp_hdr*>(ip + 1);
    EXPECT_TRUE(rte_is_same_ether_addr(&h->dst_addr, &peer_mac));
    EXPECT_TRUE(rte_is_same_ether_addr(&h->src_addr, &our_mac));
    EXPECT_EQ(ip->src_addr, our_ip);
    EXPECT_EQ(ip->dst_addr, peer_ip);
    EXPECT_EQ(rte_ipv4_cksum(ip), 0);  // the checksum over a valid header is 0 here
    EXPECT_EQ(ic->icmp_type, RTE_IP_ICMP_ECHO_REPLY);
    EXPECT_EQ(ic->icmp_ident, RTE_BE16(0x1234));
    EXPECT_EQ(ic->icmp_seq_nb, RTE_BE16(9));
    EXPECT_EQ(static_cast<uint16_t>(~rte_raw_cksum(ic, 12)), 0);
    EXPECT_EQ(_w->stats().icmp_echo_replies.load(), 1u);
    EXPECT_EQ(_w->stats().rx_packets.load(), accounted());
}

// Security review finding: the WAN handlers trim with lengths of the first segment, so a chained
// packet was echoed with its other segments attached. Only the first segment is answered.
TEST_F(worker_fixture, a_chained_echo_request_is_answered_from_its_first_segment) {
    frame req = eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_ICMP, icmp(8, 0x1234, 9, 4)));
    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    rte_mbuf* tail = rte_pktmbuf_alloc(g_pool);
    ASSERT_TRUE(m != nullptr && tail != nullptr);
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(req.size())), req.data(), req.size());
    std::memset(rte_pktmbuf_append(tail, 300), 0xab, 300);
    ASSERT_EQ(rte_pktmbuf_chain(m, tail), 0);
    ASSERT_EQ(rte_ring_enqueue(_wan_rx, m), 0);
    run();
    void* o = nullptr;
    ASSERT_EQ(rte_ring_dequeue(_wan_tx, &o), 0);
    auto* r = static_cast<rte_mbuf*>(o);
    EXPECT_EQ(r->nb_segs, 1u);
    EXPECT_EQ(rte_pktmbuf_pkt_len(r), 46u);
    EXPECT_EQ(rte_pktmbuf_data_len(r), 46u);
    rte_pktmbuf_free(r);
    EXPECT_EQ(_w->stats().icmp_echo_replies.load(), 1u);
    EXPECT_EQ(_w->stats().rx_packets.load(), accounted());
}

TEST_F(worker_fixture, echo_to_another_address_is_not_for_us) {
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, other_ip, IPPROTO_ICMP, icmp(8, 1, 1, 8))));
    run();
    expect_only_drop(engine::drop_reason::not_for_us);
}

TEST_F(worker_fixture, unicast_to_another_mac_is_not_for_us) {
    inject(_wan_rx, eth(other_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_ICMP, icmp(8, 1, 1, 8))));
    run();
    expect_only_drop(engine::drop_reason::not_for_us);
}

TEST_F(worker_fixture, bad_ip_checksum) {
    frame p = ipv4(peer_ip, our_ip, IPPROTO_ICMP, icmp(8, 1, 1, 8));
    p[10] ^= 0x55;
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, p));
    run();
    expect_only_drop(engine::drop_reason::bad_ip_header);
}

TEST_F(worker_fixture, ip_total_length_beyond_frame) {
    frame p = ipv4(peer_ip, our_ip, IPPROTO_ICMP, icmp(8, 1, 1, 8));
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(p.data());
    ip->total_length = RTE_BE16(1400);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, p));
    run();
    expect_only_drop(engine::drop_reason::bad_ip_header);
}

TEST_F(worker_fixture, ip_version_6_in_ipv4_ethertype) {
    frame p = ipv4(peer_ip, our_ip, IPPROTO_ICMP, icmp(8, 1, 1, 8));
    p[0] = 0x65;
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, p));
    run();
    expect_only_drop(engine::drop_reason::bad_ip_header);
}

TEST_F(worker_fixture, fragment_to_us) {
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4,
                        ipv4(peer_ip, our_ip, IPPROTO_ICMP, icmp(8, 1, 1, 8), RTE_IPV4_HDR_MF_FLAG)));
    run();
    expect_only_drop(engine::drop_reason::ip_fragment);
}

TEST_F(worker_fixture, udp_to_us_is_unhandled_protocol) {
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_UDP, frame(16, 0))));
    run();
    expect_only_drop(engine::drop_reason::unhandled_protocol);
}

TEST_F(worker_fixture, icmp_timestamp_is_unhandled_icmp) {
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_ICMP, icmp(13, 1, 1, 12))));
    run();
    expect_only_drop(engine::drop_reason::unhandled_icmp);
}

TEST_F(worker_fixture, truncated_icmp_is_bad_length) {
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_ICMP, frame(4, 0))));
    run();
    expect_only_drop(engine::drop_reason::bad_length);
}

TEST_F(worker_fixture, unknown_ethertype) {
    inject(_wan_rx, eth(our_mac, peer_mac, 0x88cc, frame(30, 0)));
    run();
    expect_only_drop(engine::drop_reason::unknown_ethertype);
}

// The stage clock (engine/stage_clock.hh) times every 16th busy iteration by default; a burst
// that reaches no AEAD batch (here: drops on the WAN slow path) is rx and prepare only.
TEST_F(worker_fixture, stage_clock_times_every_16th_busy_iteration) {
    const auto& s = _w->stats();
    EXPECT_GT(s.clk_reading_cost.load(), 0u);
    for (int i = 0; i < 40; ++i) {
        inject(_wan_rx, eth(our_mac, peer_mac, 0x88cc, frame(30, 0)), 2);
        _w->iterate();  // busy: one burst of 2
        _w->iterate();  // idle: not counted towards the period
    }
    expect_only_drop(engine::drop_reason::unknown_ethertype, 80);
    EXPECT_EQ(s.clk_iterations.load(), 2u);  // busy iterations 16 and 32
    EXPECT_EQ(s.clk_rx_calls.load(), 2u);
    EXPECT_EQ(s.clk_rx_packets.load(), 4u);
    EXPECT_GT(s.clk_rx_cycles.load(), 0u);
    EXPECT_GT(s.clk_prepare_cycles.load(), 0u);
    EXPECT_EQ(s.clk_aead_cycles.load() + s.clk_aead_calls.load() + s.clk_aead_packets.load(), 0u);
    EXPECT_EQ(s.clk_finish_cycles.load(), 0u);
    EXPECT_EQ(s.clk_cycles.load(), s.clk_rx_cycles.load() + s.clk_prepare_cycles.load() + s.clk_tx_cycles.load() +
                                       s.clk_other_cycles.load());
    EXPECT_LT(s.clk_cycles.load(), s.busy_cycles.load());
}

// An iteration longer than the preemption limit (here: any, with a limit of 0) is counted as
// discarded and its stages are not; within the limit the stages add up to clk_cycles.
TEST(stage_clock, a_preempted_iteration_is_discarded) {
    engine::worker_stats st;
    engine::stage_clock c;
    c.set_period(1);
    c.calibrate();
    c.set_hz(1);  // limit 0 cycles
    c.begin(rte_rdtsc());
    c.rx_done(4);
    c.flush_begin();
    c.aead_done(4, 1);
    c.flush_end();
    c.burst_end();
    c.end(rte_rdtsc(), st);
    EXPECT_EQ(st.clk_discarded.load(), 1u);
    EXPECT_EQ(st.clk_iterations.load() + st.clk_cycles.load() + st.clk_rx_packets.load(), 0u);

    c.set_hz(rte_get_tsc_hz());
    c.begin(rte_rdtsc());
    c.rx_done(4);
    c.flush_begin();
    c.aead_done(4, 2);
    const uint64_t t0 = c.tx_begin();
    c.tx_end(t0, 4);
    c.flush_end();
    c.end(rte_rdtsc(), st);
    EXPECT_EQ(st.clk_discarded.load(), 1u);
    EXPECT_EQ(st.clk_iterations.load(), 1u);
    EXPECT_EQ(st.clk_rx_packets.load(), 4u);
    EXPECT_EQ(st.clk_aead_calls.load(), 2u);
    EXPECT_EQ(st.clk_tx_calls.load(), 1u);
    EXPECT_EQ(st.clk_cycles.load(), st.clk_rx_cycles.load() + st.clk_prepare_cycles.load() + st.clk_aead_cycles.load() +
                                        st.clk_finish_cycles.load() + st.clk_tx_cycles.load() + st.clk_other_cycles.load());
}

TEST_F(worker_fixture, runt_frame_is_bad_length) {
    inject(_wan_rx, frame(10, 0xab));
    run();
    expect_only_drop(engine::drop_reason::bad_length);
}

TEST_F(worker_fixture, overlay_frame_without_session) {
    inject(_ovl_rx, eth(peer_mac, our_mac, RTE_ETHER_TYPE_IPV4, ipv4(our_ip, peer_ip, IPPROTO_UDP, frame(16, 0))));
    run();
    expect_only_drop(engine::drop_reason::no_session);
    EXPECT_TRUE(sent(_ovl_tx).empty());
}

TEST_F(worker_fixture, control_packets_are_sent_on_their_port) {
    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    ASSERT_NE(m, nullptr);
    std::memset(rte_pktmbuf_append(m, 60), 0x11, 60);
    m->port = _wan;
    ASSERT_EQ(rte_ring_enqueue(_from_ctl, m), 0);
    run();
    EXPECT_EQ(sent(_wan_tx).size(), 1u);
    EXPECT_EQ(_w->stats().from_control.load(), 1u);
}

TEST_F(worker_fixture, counters_add_up_over_a_mixed_burst) {
    inject(_wan_rx, eth({{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, peer_mac, RTE_ETHER_TYPE_ARP,
                        arp(RTE_ARP_OP_REQUEST, peer_mac, peer_ip, our_ip)), 7);
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_ICMP, icmp(8, 1, 1, 56))), 11);
    inject(_wan_rx, eth(our_mac, peer_mac, 0x88cc, frame(30, 0)), 3);
    inject(_wan_rx, frame(5, 0), 2);
    run();
    const auto& s = _w->stats();
    EXPECT_EQ(s.rx_packets.load(), 23u);
    EXPECT_EQ(s.arp_replies.load(), 7u);
    EXPECT_EQ(s.icmp_echo_replies.load(), 11u);
    EXPECT_EQ(drops(s, engine::drop_reason::unknown_ethertype), 3u);
    EXPECT_EQ(drops(s, engine::drop_reason::bad_length), 2u);
    EXPECT_EQ(s.rx_packets.load(), accounted());
    EXPECT_EQ(sent(_wan_tx).size(), 18u);
    EXPECT_EQ(s.tx_packets.load(), 18u);
}

// The automatic layout's wan port (docs/config.md "Automatic engine layout"): the kernel keeps
// the interface and answers ARP, ND and echo itself; the engine only learns from replies, and
// counts what is the kernel's as kernel_owned.
TEST_F(worker_fixture, on_an_interface_the_kernel_keeps_the_kernel_answers) {
    _table.ports[0].kernel_answers = true;
    inject(_wan_rx, eth({{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, peer_mac, RTE_ETHER_TYPE_ARP,
                        arp(RTE_ARP_OP_REQUEST, peer_mac, peer_ip, our_ip)));
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_ICMP, icmp(8, 1, 1, 8))));
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_TCP, frame(20, 0))));
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, other_ip, IPPROTO_TCP, frame(20, 0))));
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_ARP, arp(RTE_ARP_OP_REPLY, peer_mac, peer_ip, our_ip)));
    run();
    EXPECT_TRUE(sent(_wan_tx).empty());  // no second answer beside the kernel's
    const auto& st = _w->stats();
    EXPECT_EQ(st.arp_replies.load(), 0u);
    EXPECT_EQ(st.icmp_echo_replies.load(), 0u);
    EXPECT_EQ(drops(st, engine::drop_reason::kernel_owned), 4u);
    EXPECT_EQ(st.to_control.load(), 1u);  // the neighbour table still learns
    EXPECT_EQ(st.rx_packets.load(), accounted());
}

using addr6 = std::array<uint8_t, 16>;
constexpr addr6 our_ip6{0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr addr6 peer_ip6{0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
constexpr addr6 other_ip6{0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
constexpr addr6 link_local6{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

frame ipv6_packet(const addr6& src, const addr6& dst, uint8_t next, const frame& l4) {
    frame p(40, 0);
    p[0] = 0x60;
    p[4] = static_cast<uint8_t>(l4.size() >> 8);
    p[5] = static_cast<uint8_t>(l4.size());
    p[6] = next;
    p[7] = 64;
    std::memcpy(p.data() + 8, src.data(), 16);
    std::memcpy(p.data() + 24, dst.data(), 16);
    append(p, l4);
    return p;
}

// The exception path (docs/exception-path.md): the WAN port linked to a third port standing for
// the kernel's interface. What the engine consumes stays the engine's; the rest goes to the
// kernel within the rate; the kernel's frames leave through the WAN port.
class exception_fixture : public worker_fixture {
protected:
    void SetUp() override {
        worker_fixture::SetUp();
        link_exception(exc_tx_ring, limit_per_s, limit_burst);
    }
    /// A third port as the WAN port's exception interface (tx ring of tx_ring entries), and the
    /// worker rebuilt with the exception rate per_s / burst.
    void link_exception(unsigned tx_ring, uint64_t per_s, uint64_t burst) {
        static int n = 0;
        ++n;
        _exc = make_port("wt_exc" + std::to_string(n), _exc_rx, _exc_tx, tx_ring);
        add_port(2, _exc, engine::port_role::exception);
        _table.ports[2].link_port = _wan;
        _table.ports[0].link_port = _exc;
        _table.ports[0].max_frame = 1514;
        _table.ports[0].n_ipv6 = 1;
        _table.ports[0].ipv6[0] = our_ip6;
        rebuild(per_s, burst);
    }
    void TearDown() override {
        _w.reset();
        rte_eth_dev_stop(_exc);
        rte_eth_dev_close(_exc);
        for (rte_ring* r : {_exc_rx, _exc_tx}) {
            void* m;
            while (rte_ring_dequeue(r, &m) == 0) {
                rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
            }
            rte_ring_free(r);
        }
        worker_fixture::TearDown();
    }
    void rebuild(uint64_t per_s, uint64_t burst) {
        engine::worker_setup s = _w->setup();
        _w.reset();
        s.rx_queues = {{_wan, 0}, {_ovl, 0}, {_exc, 0}};
        s.pool = g_pool;
        s.exception_per_s = per_s;
        s.exception_burst = burst;
        _w = std::make_unique<engine::worker>(s);
    }
    void expect_balanced() {
        const auto& st = _w->stats();
        EXPECT_EQ(st.rx_packets.load(), st.accounted());
    }
    static constexpr uint64_t limit_per_s = 1;  // a token a second: the burst is all a test gets
    static constexpr uint64_t limit_burst = 8;
    static constexpr unsigned exc_tx_ring = 1024;
    uint16_t _exc = 0;
    rte_ring *_exc_rx = nullptr, *_exc_tx = nullptr;
};

TEST_F(exception_fixture, tcp_udp_and_icmp_errors_to_us_go_to_the_kernel_unchanged) {
    const frame tcp = eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_TCP, frame(20, 0)));
    const frame udp = eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_UDP, frame(16, 0)));
    const frame reply = eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_ICMP, icmp(0, 1, 1, 8)));
    const frame frag = eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4,
                           ipv4(peer_ip, our_ip, IPPROTO_ICMP, icmp(8, 1, 1, 8), RTE_IPV4_HDR_MF_FLAG));
    const frame lldp = eth({{0x01, 0x80, 0xc2, 0, 0, 0x0e}}, peer_mac, 0x88cc, frame(30, 0));
    for (const frame& f : {tcp, udp, reply, frag, lldp}) {
        inject(_wan_rx, f);
    }
    run();
    const auto got = sent(_exc_tx);
    ASSERT_EQ(got.size(), 5u);
    EXPECT_EQ(got[0], tcp);
    EXPECT_EQ(got[1], udp);
    EXPECT_EQ(got[2], reply);
    EXPECT_EQ(got[3], frag);
    EXPECT_EQ(got[4], lldp);
    EXPECT_TRUE(sent(_wan_tx).empty());
    EXPECT_EQ(_w->stats().exception_in.load(), 5u);
    for (size_t i = 0; i < engine::n_drop_reasons; ++i) {
        EXPECT_EQ(_w->stats().drops[i].load(), 0u) << engine::drop_reason_names[i];
    }
    expect_balanced();
}

TEST_F(exception_fixture, what_the_engine_answers_stays_the_engines) {
    inject(_wan_rx, eth({{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, peer_mac, RTE_ETHER_TYPE_ARP,
                        arp(RTE_ARP_OP_REQUEST, peer_mac, peer_ip, our_ip)));
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_ICMP, icmp(8, 1, 1, 8))));
    // malformed: dropped, never the kernel's
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_ICMP, frame(4, 0))));
    inject(_wan_rx, frame(5, 0));
    // another host's unicast MAC: a NIC's filter would not pass it either
    inject(_wan_rx, eth(other_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_TCP, frame(20, 0))));
    run();
    EXPECT_EQ(sent(_wan_tx).size(), 2u);  // the ARP reply and the echo reply
    EXPECT_TRUE(sent(_exc_tx).empty());
    const auto& st = _w->stats();
    EXPECT_EQ(st.exception_in.load(), 0u);
    EXPECT_EQ(drops(st, engine::drop_reason::bad_length), 2u);
    EXPECT_EQ(drops(st, engine::drop_reason::not_for_us), 1u);
    expect_balanced();
}

// Unicast for another address never reaches the kernel: a gateway's kernel forwards, and a WAN
// host would route into the overlay through it (review finding). Its groups and link-local do.
TEST_F(exception_fixture, only_our_addresses_groups_and_link_local_reach_the_kernel) {
    const frame foreign = eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, other_ip, IPPROTO_TCP, frame(20, 0)));
    const frame mcast = eth({{0x01, 0x00, 0x5e, 0, 0, 5}}, peer_mac, RTE_ETHER_TYPE_IPV4,
                            ipv4(peer_ip, RTE_BE32(RTE_IPV4(224, 0, 0, 5)), 89, frame(20, 0)));
    const frame bcast = eth({{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, peer_mac, RTE_ETHER_TYPE_IPV4,
                            ipv4(peer_ip, RTE_BE32(0xffffffff), IPPROTO_UDP, frame(16, 0)));
    const frame ll6 = eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV6, ipv6_packet(peer_ip6, link_local6, 6, frame(20, 0)));
    const frame other6 = eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV6, ipv6_packet(peer_ip6, other_ip6, 6, frame(20, 0)));
    const frame ours6 = eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV6, ipv6_packet(peer_ip6, our_ip6, 6, frame(20, 0)));
    for (const frame& f : {foreign, mcast, bcast, ll6, other6, ours6}) {
        inject(_wan_rx, f);
    }
    run();
    const auto got = sent(_exc_tx);
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[0], mcast);
    EXPECT_EQ(got[1], bcast);
    EXPECT_EQ(got[2], ll6);
    EXPECT_EQ(got[3], ours6);
    EXPECT_EQ(drops(_w->stats(), engine::drop_reason::not_for_us), 2u);
    expect_balanced();
}

// A frame above the interface's MTU (a reassembled packet) is dropped alone: the TAP would
// refuse it and every frame behind it in the burst.
TEST_F(exception_fixture, a_frame_above_the_mtu_is_too_big_alone) {
    const frame big = eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_UDP, frame(1600, 0)));
    const frame small = eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_UDP, frame(16, 0)));
    inject(_wan_rx, big);
    inject(_wan_rx, small);
    run();
    const auto got = sent(_exc_tx);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], small);
    EXPECT_EQ(drops(_w->stats(), engine::drop_reason::too_big), 1u);
    expect_balanced();
}

// A chained (jumbo) frame: the whole chain to the kernel when its first segment's headers are
// ours; never answered by the engine.
TEST_F(exception_fixture, a_chain_for_us_goes_to_the_kernel_whole) {
    _table.ports[0].max_frame = 9014;
    const frame f = eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_ICMP, icmp(8, 1, 1, 3000)));
    const frame foreign = eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, other_ip, IPPROTO_UDP, frame(3000, 0)));
    for (const frame* x : {&f, &foreign}) {
        rte_mbuf* head = rte_pktmbuf_alloc(g_pool);
        rte_mbuf* tail = rte_pktmbuf_alloc(g_pool);
        ASSERT_TRUE(head != nullptr && tail != nullptr);
        const size_t cut = 1000;
        std::memcpy(rte_pktmbuf_append(head, cut), x->data(), cut);
        std::memcpy(rte_pktmbuf_append(tail, static_cast<uint16_t>(x->size() - cut)), x->data() + cut, x->size() - cut);
        ASSERT_EQ(rte_pktmbuf_chain(head, tail), 0);
        ASSERT_EQ(rte_ring_enqueue(_wan_rx, head), 0);
    }
    run();
    void* o = nullptr;
    ASSERT_EQ(rte_ring_dequeue(_exc_tx, &o), 0);
    auto* m = static_cast<rte_mbuf*>(o);
    EXPECT_EQ(m->nb_segs, 2);
    EXPECT_EQ(rte_pktmbuf_pkt_len(m), f.size());
    rte_pktmbuf_free(m);
    EXPECT_TRUE(sent(_exc_tx).empty());
    EXPECT_TRUE(sent(_wan_tx).empty());  // no echo reply from a chain
    EXPECT_EQ(drops(_w->stats(), engine::drop_reason::not_for_us), 1u);
    expect_balanced();
}

TEST_F(exception_fixture, arp_replies_reach_control_and_a_copy_the_kernel) {
    const frame rep = eth(our_mac, peer_mac, RTE_ETHER_TYPE_ARP, arp(RTE_ARP_OP_REPLY, peer_mac, peer_ip, our_ip));
    const frame other = eth({{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, peer_mac, RTE_ETHER_TYPE_ARP,
                            arp(RTE_ARP_OP_REQUEST, peer_mac, peer_ip, other_ip));
    inject(_wan_rx, rep);
    inject(_wan_rx, other);
    run();
    const auto got = sent(_exc_tx);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], rep);  // a request for another address is nobody's here: not_for_us
    void* m = nullptr;
    ASSERT_EQ(rte_ring_dequeue(_to_ctl, &m), 0);
    rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    const auto& st = _w->stats();
    EXPECT_EQ(st.to_control.load(), 1u);
    EXPECT_EQ(st.exception_copies.load(), 1u);
    EXPECT_EQ(st.exception_in.load(), 0u);
    EXPECT_EQ(drops(st, engine::drop_reason::not_for_us), 1u);
    expect_balanced();
}

TEST_F(exception_fixture, the_kernels_frames_leave_through_the_wan_port) {
    const frame syn = eth(peer_mac, our_mac, RTE_ETHER_TYPE_IPV4, ipv4(our_ip, peer_ip, IPPROTO_TCP, frame(20, 0)));
    const frame ask = eth({{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, our_mac, RTE_ETHER_TYPE_ARP,
                          arp(RTE_ARP_OP_REQUEST, our_mac, our_ip, peer_ip));
    inject(_exc_rx, syn);
    inject(_exc_rx, ask);
    run();
    const auto got = sent(_wan_tx);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0], syn);
    EXPECT_EQ(got[1], ask);
    EXPECT_TRUE(sent(_exc_tx).empty());
    EXPECT_EQ(_w->stats().exception_out.load(), 2u);
    expect_balanced();
}

TEST_F(exception_fixture, over_the_rate_each_way_is_exception_limit) {
    const frame tcp = eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_TCP, frame(20, 0)));
    const frame out = eth(peer_mac, our_mac, RTE_ETHER_TYPE_IPV4, ipv4(our_ip, peer_ip, IPPROTO_TCP, frame(20, 0)));
    inject(_wan_rx, tcp, 20);
    inject(_exc_rx, out, 20);
    // ARP replies over the rate still reach the control thread (only the kernel's copy is lost)
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_ARP, arp(RTE_ARP_OP_REPLY, peer_mac, peer_ip, our_ip)));
    run();
    EXPECT_EQ(sent(_exc_tx).size(), limit_burst);
    EXPECT_EQ(sent(_wan_tx).size(), limit_burst);
    const auto& st = _w->stats();
    EXPECT_EQ(drops(st, engine::drop_reason::exception_limit), 2 * (20 - limit_burst));
    EXPECT_EQ(st.to_control.load(), 1u);
    EXPECT_EQ(st.exception_copies.load(), 0u);
    expect_balanced();
    void* m = nullptr;
    ASSERT_EQ(rte_ring_dequeue(_to_ctl, &m), 0);
    rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
}

// A kernel side that does not read (a full tx queue) is exception_full, after exception_in.
class exception_full_fixture : public exception_fixture {
protected:
    void SetUp() override {
        worker_fixture::SetUp();
        link_exception(4, 1'000'000, 1'000);  // a tx ring of 4 holds 3
    }
};

TEST_F(exception_full_fixture, a_full_kernel_side_is_exception_full) {
    inject(_wan_rx, eth(our_mac, peer_mac, RTE_ETHER_TYPE_IPV4, ipv4(peer_ip, our_ip, IPPROTO_TCP, frame(20, 0))), 10);
    run();
    EXPECT_EQ(sent(_exc_tx).size(), 3u);
    const auto& st = _w->stats();
    EXPECT_EQ(st.exception_in.load(), 10u);
    EXPECT_EQ(drops(st, engine::drop_reason::exception_full), 7u);
    EXPECT_EQ(drops(st, engine::drop_reason::tx_failed), 0u);
    EXPECT_EQ(st.tx_packets.load(), 3u);
    expect_balanced();
}

}  // namespace
