// SPDX-License-Identifier: MIT
// engine::sealer (engine/seal.hh), the one data-message sealer of workers and the control
// thread, on real mbufs (EAL --no-huge, no ports): the data header equals init_data_header()'s
// bytes and the packet opens with the peer's key as the receiver builds it (engine/datapath.cc
// ingress_dvpe / open_flush); counters per (peer, lane) restart with every send key; two lanes
// never share a nonce; the MAC-elision rule; verdicts leave a refused mbuf untouched;
// inherit-tos; flush() hands runs to the sink per peer, in order. docs/protocol.md "Data
// message", "Lanes, nonces and replay".
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tests/unit/eal_env.hh"
#include "crypto/init.hh"
#include "engine/seal.hh"

namespace {

using unit_eal::g_pool;
const auto* g_env = ::testing::AddGlobalTestEnvironment(new unit_eal::env("seal_test", 1023, 128, true));

using bytes = std::vector<uint8_t>;

constexpr uint16_t self_id = 1;
constexpr uint8_t key_id = 5;

rte_ether_addr node_mac(uint16_t id) { return {{0xfe, 0xfd, 0x80, 0x00, uint8_t(id >> 8), uint8_t(id)}}; }
rte_ether_addr wan_mac(uint16_t id) { return {{0x02, 0, 0, 0, 0xee, uint8_t(id)}}; }
transport::ip_address wan_ip(uint16_t id, bool v6) {
    if (!v6) {
        return transport::ip_address::from_v4(RTE_BE32(RTE_IPV4(192, 0, 2, 0) + id));
    }
    uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, uint8_t(id)};
    return transport::ip_address::from_v6(a);
}

crypto::aead_choice cipher() {
    auto c = crypto::select_aead("aes256-gcm", "auto");
    EXPECT_TRUE(c.has_value());
    return *c;
}

std::array<uint8_t, 32> key_bytes(uint16_t to, uint32_t generation) {
    std::array<uint8_t, 32> k{};
    for (size_t i = 0; i < k.size(); ++i) {
        k[i] = static_cast<uint8_t>(self_id * 31 + to * 7 + generation * 3 + i);
    }
    return k;
}

// What the sink saw, in order.
struct event {
    enum { send, fragments, sealed } what;
    uint16_t port = 0;               // send
    std::vector<bytes> pkts;         // send: the packets' bytes; fragments: the one packet
    uint64_t wire_bytes = 0;         // send
    uint16_t node = 0;               // fragments, sealed
    unsigned n = 0;                  // send, sealed
    uint64_t frame_bytes = 0;        // sealed
};

bytes contents(const rte_mbuf* m) {
    const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
    return bytes(d, d + m->data_len);
}

struct recording_sink {
    std::vector<event> ev;
    void send(uint16_t port, rte_mbuf** pkts, unsigned n, uint64_t wire_bytes) {
        event e{event::send};
        e.port = port;
        e.n = n;
        e.wire_bytes = wire_bytes;
        for (unsigned i = 0; i < n; ++i) {
            e.pkts.push_back(contents(pkts[i]));
            rte_pktmbuf_free(pkts[i]);
        }
        ev.push_back(std::move(e));
    }
    void send_fragments(rte_mbuf* m, const engine::peer_entry& p) {
        event e{event::fragments};
        e.node = p.node_id;
        e.pkts.push_back(contents(m));
        rte_pktmbuf_free(m);
        ev.push_back(std::move(e));
    }
    /// The first event of kind `what`, or nullptr.
    const event* find(int what) const {
        for (const auto& e : ev) {
            if (e.what == what) {
                return &e;
            }
        }
        return nullptr;
    }
    void sealed(const engine::peer_entry& p, unsigned n, uint64_t frame_bytes) {
        event e{event::sealed};
        e.node = p.node_id;
        e.n = n;
        e.frame_bytes = frame_bytes;
        ev.push_back(std::move(e));
    }
    // Every packet handed to send(), in order.
    std::vector<bytes> sent() const {
        std::vector<bytes> out;
        for (const auto& e : ev) {
            if (e.what == event::send) {
                out.insert(out.end(), e.pkts.begin(), e.pkts.end());
            }
        }
        return out;
    }
};

// An overlay Ethernet frame: dst, src, IPv4 (TOS `tos`) with `ip_payload` bytes of a pattern.
bytes overlay_frame(const rte_ether_addr& dst, const rte_ether_addr& src, uint16_t ip_payload, uint8_t tos = 0,
                    bool v6 = false) {
    const uint16_t ip_hl = v6 ? 40 : 20;
    bytes f(14 + ip_hl + ip_payload);
    std::memcpy(f.data(), dst.addr_bytes, 6);
    std::memcpy(f.data() + 6, src.addr_bytes, 6);
    f[12] = v6 ? 0x86 : 0x08;
    f[13] = v6 ? 0xdd : 0x00;
    uint8_t* ip = f.data() + 14;
    if (!v6) {
        ip[0] = 0x45;
        ip[1] = tos;
        const uint16_t tl = static_cast<uint16_t>(20 + ip_payload);
        ip[2] = uint8_t(tl >> 8);
        ip[3] = uint8_t(tl);
        ip[8] = 64;
        ip[9] = 17;
    } else {
        ip[0] = static_cast<uint8_t>(0x60 | tos >> 4);
        ip[1] = static_cast<uint8_t>(tos << 4);
        ip[4] = uint8_t(ip_payload >> 8);
        ip[5] = uint8_t(ip_payload);
        ip[6] = 17;
        ip[7] = 64;
    }
    for (size_t i = 14 + ip_hl; i < f.size(); ++i) {
        f[i] = static_cast<uint8_t>(i * 13 + 1);
    }
    return f;
}

rte_mbuf* mbuf_of(const bytes& f) {
    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    EXPECT_NE(m, nullptr);
    char* d = rte_pktmbuf_append(m, static_cast<uint16_t>(f.size()));
    EXPECT_NE(d, nullptr);
    std::memcpy(d, f.data(), f.size());
    return m;
}

rte_mbuf* empty_mbuf() {
    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    EXPECT_NE(m, nullptr);
    return m;
}

// The 16 data-header bytes init_data_header() writes, with flags nibble `flags`.
bytes expected_header(uint16_t dst, uint8_t kid, uint16_t lane, uint64_t ctr, uint8_t flags) {
    transport::data_header h{};
    EXPECT_TRUE(transport::init_data_header(h, self_id, dst, kid, lane, ctr, false));
    transport::set_version_flags(h, flags);
    const auto* b = reinterpret_cast<const uint8_t*>(&h);
    return bytes(b, b + sizeof h);
}

class seal : public ::testing::Test {
protected:
    void SetUp() override {
        auto c = crypto::aead_context::create();
        ASSERT_TRUE(c.has_value());
        _ctx = std::make_unique<crypto::aead_context>(std::move(c.value()));
    }

    // A tx_ready peer `id` over transport k, its key of `generation`.
    engine::peer_entry& add_peer(uint16_t id, transport::kind k = transport::kind::udp4, uint32_t generation = 1) {
        auto& e = _peers[id];
        e = engine::peer_entry{};
        e.node_id = id;
        e.mac = node_mac(id);
        set_key(e, generation, key_id);
        const bool v6 = transport::is_ipv6(k);
        transport::endpoint_pair ep;
        ep.src_mac = wan_mac(self_id);
        ep.dst_mac = wan_mac(id);
        ep.src_ip = wan_ip(self_id, v6);
        ep.dst_ip = wan_ip(id, v6);
        ep.dst_port = 655;
        ep.icmp_type = k == transport::kind::icmp6 ? transport::icmp6_type_for(0) : 0;
        auto t = transport::build_template(k, ep);
        EXPECT_TRUE(t.has_value());
        e.tmpl = *t;
        e.tx_port_id = static_cast<uint16_t>(10 + id);
        e.tx_mtu = 1500;
        e.udp_sport_base = transport::udp_lane_port_base(self_id);
        e.udp_sport_step = 1;
        e.tx_ready = true;
        return e;
    }

    void set_key(engine::peer_entry& e, uint32_t generation, uint8_t kid) {
        auto k = crypto::aead_key::create(cipher(), key_bytes(e.node_id, generation));
        ASSERT_TRUE(k.has_value());
        _keys.push_back(std::make_unique<crypto::aead_key>(std::move(k.value())));
        e.tx_key = _keys.back().get();
        e.tx_generation = generation;
        e.tx_key_id = kid;
    }

    // Opens sealed packet `w` (outer headers of kind k) as the receiver does, with the key of
    // peer `to` and `generation` created anew from the same bytes: the plaintext, or nullopt.
    std::optional<bytes> open(const bytes& w, transport::kind k, uint16_t to, uint32_t generation = 1) {
        const size_t hl = transport::headroom(k);
        if (w.size() < hl + transport::data_overhead) {
            return std::nullopt;
        }
        bytes c = w;
        uint8_t* dh = c.data() + hl;
        const auto* h = reinterpret_cast<const transport::data_header*>(dh);
        const auto payload_len = static_cast<uint32_t>(c.size() - hl - transport::data_overhead);
        std::array<uint8_t, transport::nonce_size> nonce{};
        transport::store_nonce_from_header(nonce.data(), dh);
        EXPECT_EQ(nonce, transport::nonce(transport::lane(*h), transport::counter(*h)));
        crypto::aead_packet pk{dh + 16, payload_len, 16, dh, nonce.data(), dh + 16 + payload_len};
        auto key = crypto::aead_key::create(cipher(), key_bytes(to, generation));
        EXPECT_TRUE(key.has_value());
        uint8_t ok = 0;
        if (_ctx->open_burst(*key, std::span<crypto::aead_packet>(&pk, 1), std::span<uint8_t>(&ok, 1)) != 1 || !ok) {
            return std::nullopt;
        }
        return bytes(dh + 16, dh + 16 + payload_len);
    }

    static bytes header_of(const bytes& w, transport::kind k) {
        const size_t hl = transport::headroom(k);
        return bytes(w.begin() + static_cast<ptrdiff_t>(hl), w.begin() + static_cast<ptrdiff_t>(hl + 16));
    }
    static uint64_t counter_of(const bytes& w, transport::kind k) {
        return transport::counter(*reinterpret_cast<const transport::data_header*>(w.data() + transport::headroom(k)));
    }
    static uint16_t lane_of(const bytes& w, transport::kind k) {
        return transport::lane(*reinterpret_cast<const transport::data_header*>(w.data() + transport::headroom(k)));
    }
    static uint16_t udp_sport_of(const bytes& w) {  // udp4
        return static_cast<uint16_t>(w[34] << 8 | w[35]);
    }

    std::unique_ptr<crypto::aead_context> _ctx;
    std::map<uint16_t, engine::peer_entry> _peers;
    std::vector<std::unique_ptr<crypto::aead_key>> _keys;
};

using engine::sealer;

// ---- Keepalives on the control lane -------------------------------------------------------------

TEST_F(seal, keepalive_and_close_on_the_control_lane) {
    auto& p = add_peer(2);
    sealer s(transport::control_lane);
    rte_mbuf* ka = empty_mbuf();
    rte_mbuf* cl = empty_mbuf();
    ASSERT_EQ(s.add_keepalive(ka, p, self_id, false), sealer::verdict::queued);
    ASSERT_EQ(s.add_keepalive(cl, p, self_id, true), sealer::verdict::queued);
    EXPECT_FALSE(s.empty());
    recording_sink sink;
    s.flush(*_ctx, sink);
    EXPECT_TRUE(s.empty());
    const auto k = transport::kind::udp4;
    const size_t hl = transport::headroom(k);
    // the run's counters as its headers are written, then one send of the run
    ASSERT_EQ(sink.ev.size(), 2u);
    ASSERT_EQ(sink.ev[0].what, event::sealed);
    EXPECT_EQ(sink.ev[0].node, 2);
    EXPECT_EQ(sink.ev[0].n, 2u);
    EXPECT_EQ(sink.ev[0].frame_bytes, 0u);
    ASSERT_EQ(sink.ev[1].what, event::send);
    EXPECT_EQ(sink.ev[1].port, p.tx_port_id);
    ASSERT_EQ(sink.ev[1].n, 2u);
    EXPECT_EQ(sink.ev[1].wire_bytes, 2 * (hl + 32));
    const auto pk = sink.sent();
    for (unsigned i = 0; i < 2; ++i) {
        const bool close = i == 1;
        const bytes& w = pk[i];
        ASSERT_EQ(w.size(), hl + 32) << i;
        EXPECT_EQ(header_of(w, k),
                  expected_header(2, key_id, transport::control_lane, i, close ? transport::data_flag_close : 0))
            << i;
        auto pt = open(w, k, 2);
        ASSERT_TRUE(pt.has_value()) << i;
        EXPECT_TRUE(pt->empty());
        EXPECT_EQ(udp_sport_of(w), p.udp_sport(transport::control_lane));
        EXPECT_EQ(udp_sport_of(w), transport::udp_lane_port_base(self_id) + transport::control_lane);
        // the outer headers are write_outer()'s for that source port
        bytes outer(hl + 32);
        std::memcpy(outer.data() + hl, w.data() + hl, 32);
        transport::write_outer(p.tmpl, outer.data(), 32, p.udp_sport(transport::control_lane));
        EXPECT_EQ(outer, w) << i;
    }
    // the close flag is authenticated: flipped off, the packet no longer opens
    bytes forged = pk[1];
    forged[hl + 1] = static_cast<uint8_t>(forged[hl + 1] & ~transport::data_flag_close);
    EXPECT_FALSE(open(forged, k, 2).has_value());
}

TEST_F(seal, fixed_source_port_on_every_lane) {
    // udp_sport_step 0 (a udp-port 0 peer): every lane sends from udp_sport_base.
    auto& p = add_peer(2);
    p.udp_sport_base = 655;
    p.udp_sport_step = 0;
    for (uint16_t lane : {uint16_t{0}, uint16_t{3}, transport::control_lane}) {
        sealer s(lane);
        ASSERT_EQ(s.add_keepalive(empty_mbuf(), p, self_id, false), sealer::verdict::queued);
        recording_sink sink;
        s.flush(*_ctx, sink);
        auto pk = sink.sent();
        ASSERT_EQ(pk.size(), 1u);
        EXPECT_EQ(udp_sport_of(pk[0]), 655) << lane;
        EXPECT_EQ(lane_of(pk[0], transport::kind::udp4), lane);
    }
}

// ---- Counters and nonces ------------------------------------------------------------------------

TEST_F(seal, counters_per_peer_per_lane_restart_with_a_new_send_key) {
    auto& p2 = add_peer(2);
    auto& p3 = add_peer(3);
    sealer s(0);
    recording_sink sink;
    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(s.add_keepalive(empty_mbuf(), p2, self_id, false), sealer::verdict::queued);
        ASSERT_EQ(s.add_keepalive(empty_mbuf(), p3, self_id, false), sealer::verdict::queued);
    }
    EXPECT_EQ(s.next_counter(2), 3u);
    EXPECT_EQ(s.next_counter(3), 3u);
    s.flush(*_ctx, sink);
    ASSERT_EQ(s.add_keepalive(empty_mbuf(), p2, self_id, false), sealer::verdict::queued);  // goes on: 3
    s.flush(*_ctx, sink);  // (the peer entry is immutable while queued: a snapshot)
    // a new send key for 2 (new generation, new key id): its lane starts at 0 again, 3 goes on
    set_key(p2, 2, 9);
    ASSERT_EQ(s.add_keepalive(empty_mbuf(), p2, self_id, false), sealer::verdict::queued);
    ASSERT_EQ(s.add_keepalive(empty_mbuf(), p2, self_id, false), sealer::verdict::queued);
    ASSERT_EQ(s.add_keepalive(empty_mbuf(), p3, self_id, false), sealer::verdict::queued);
    EXPECT_EQ(s.next_counter(2), 2u);
    s.flush(*_ctx, sink);
    const auto k = transport::kind::udp4;
    auto pk = sink.sent();
    ASSERT_EQ(pk.size(), 10u);
    struct want {
        uint16_t to;
        uint64_t ctr;
        uint32_t gen;
        uint8_t kid;
    };
    const want w[] = {{2, 0, 1, 5}, {3, 0, 1, 5}, {2, 1, 1, 5}, {3, 1, 1, 5}, {2, 2, 1, 5},
                      {3, 2, 1, 5}, {2, 3, 1, 5}, {2, 0, 2, 9}, {2, 1, 2, 9}, {3, 3, 1, 5}};
    for (size_t i = 0; i < pk.size(); ++i) {
        EXPECT_EQ(header_of(pk[i], k), expected_header(w[i].to, w[i].kid, 0, w[i].ctr, 0)) << i;
        EXPECT_TRUE(open(pk[i], k, w[i].to, w[i].gen).has_value()) << i;
    }
}

TEST_F(seal, the_same_generation_again_keeps_counting) {
    // A new snapshot with the same send key (same generation): no restart (a restart would
    // repeat nonces under that key).
    auto& p = add_peer(2, transport::kind::udp4, 7);
    sealer s(0);
    ASSERT_EQ(s.add_keepalive(empty_mbuf(), p, self_id, false), sealer::verdict::queued);
    engine::peer_entry copy = p;  // as in the next snapshot
    ASSERT_EQ(s.add_keepalive(empty_mbuf(), copy, self_id, false), sealer::verdict::queued);
    EXPECT_EQ(s.next_counter(2), 2u);
    recording_sink sink;
    s.flush(*_ctx, sink);
    auto pk = sink.sent();
    ASSERT_EQ(pk.size(), 2u);
    EXPECT_EQ(counter_of(pk[0], transport::kind::udp4), 0u);
    EXPECT_EQ(counter_of(pk[1], transport::kind::udp4), 1u);
}

TEST_F(seal, a_promoted_next_key_older_than_the_current_one_starts_at_zero) {
    // Simultaneous handshakes: a "next" key (generation 1) is installed, then a newer current
    // key (generation 2) is sent with; then the next key is promoted. It was never sent with:
    // its lane starts at 0 (refusing it as "older" would cut the session off).
    auto& p = add_peer(2);
    engine::peer_entry next = p;  // generation 1
    set_key(p, 2, 9);             // generation 2, current
    sealer s(0);
    ASSERT_EQ(s.add_keepalive(empty_mbuf(), p, self_id, false), sealer::verdict::queued);
    ASSERT_EQ(s.add_keepalive(empty_mbuf(), next, self_id, false), sealer::verdict::queued);
    recording_sink sink;
    s.flush(*_ctx, sink);
    auto pk = sink.sent();
    ASSERT_EQ(pk.size(), 2u);
    EXPECT_EQ(counter_of(pk[0], transport::kind::udp4), 0u);
    EXPECT_EQ(counter_of(pk[1], transport::kind::udp4), 0u);
    EXPECT_TRUE(open(pk[0], transport::kind::udp4, 2, 2).has_value());
    EXPECT_TRUE(open(pk[1], transport::kind::udp4, 2, 1).has_value());
}

TEST_F(seal, the_header_follows_the_key_id_and_our_node_id) {
    // The cached first 8 header bytes are rebuilt when what they hold changes, even without a
    // new generation: the key id, and our own node id (a reload).
    auto& p = add_peer(2);
    sealer s(0);
    ASSERT_EQ(s.add_keepalive(empty_mbuf(), p, self_id, false), sealer::verdict::queued);
    recording_sink sink;
    s.flush(*_ctx, sink);
    p.tx_key_id = 6;
    ASSERT_EQ(s.add_keepalive(empty_mbuf(), p, self_id, false), sealer::verdict::queued);
    s.flush(*_ctx, sink);
    ASSERT_EQ(s.add_keepalive(empty_mbuf(), p, 4, false), sealer::verdict::queued);
    s.flush(*_ctx, sink);
    auto pk = sink.sent();
    ASSERT_EQ(pk.size(), 3u);
    const auto k = transport::kind::udp4;
    EXPECT_EQ(header_of(pk[0], k), expected_header(2, 5, 0, 0, 0));
    EXPECT_EQ(header_of(pk[1], k), expected_header(2, 6, 0, 1, 0));
    transport::data_header h{};
    ASSERT_TRUE(transport::init_data_header(h, 4, 2, 6, 0, 2, false));
    EXPECT_EQ(header_of(pk[2], k), bytes(reinterpret_cast<const uint8_t*>(&h), reinterpret_cast<const uint8_t*>(&h) + 16));
}

TEST_F(seal, two_lanes_never_share_a_nonce_under_one_key) {
    auto& p = add_peer(2);
    sealer worker0(0);
    sealer control(transport::control_lane);
    recording_sink sink;
    for (int i = 0; i < 4; ++i) {
        ASSERT_EQ(worker0.add_frame(mbuf_of(overlay_frame(node_mac(2), node_mac(1), 40)), p, self_id, false, false),
                  sealer::verdict::queued);
        ASSERT_EQ(control.add_keepalive(empty_mbuf(), p, self_id, false), sealer::verdict::queued);
    }
    worker0.flush(*_ctx, sink);
    control.flush(*_ctx, sink);
    const auto k = transport::kind::udp4;
    auto pk = sink.sent();
    ASSERT_EQ(pk.size(), 8u);
    std::set<transport::nonce_bytes> nonces;
    for (size_t i = 0; i < pk.size(); ++i) {
        // it opens: the nonce used is the one the header names
        ASSERT_TRUE(open(pk[i], k, 2).has_value()) << i;
        EXPECT_EQ(lane_of(pk[i], k), i < 4 ? 0 : transport::control_lane) << i;
        EXPECT_EQ(counter_of(pk[i], k), i % 4) << i;
        nonces.insert(transport::nonce(lane_of(pk[i], k), counter_of(pk[i], k)));
    }
    EXPECT_EQ(nonces.size(), 8u);
}

// ---- MAC elision --------------------------------------------------------------------------------

TEST(sends_full_frame, truth_table) {
    const rte_ether_addr self = node_mac(1);
    const rte_ether_addr peer = node_mac(2);
    const rte_ether_addr bcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
    const rte_ether_addr mcast{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}};
    const rte_ether_addr bridged{{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}};
    auto full = [&](const rte_ether_addr& dst, const rte_ether_addr& src) {
        rte_ether_hdr h{};
        h.dst_addr = dst;
        h.src_addr = src;
        return engine::sends_full_frame(h, self, peer);
    };
    EXPECT_FALSE(full(peer, self));            // the one elided pair
    EXPECT_TRUE(full(peer, bridged));          // bridged source
    EXPECT_TRUE(full(bridged, self));          // bridged destination
    EXPECT_TRUE(full(bcast, self));            // broadcast
    EXPECT_TRUE(full(mcast, self));            // multicast
    EXPECT_TRUE(full(self, peer));             // the pair swapped
    EXPECT_TRUE(full(node_mac(3), self));      // another node's MAC
    EXPECT_TRUE(full(bcast, bridged));
}

TEST_F(seal, node_frames_go_elided_bridged_frames_whole) {
    auto& p = add_peer(2);
    sealer s(0);
    const bytes node_frame = overlay_frame(node_mac(2), node_mac(1), 100);
    const rte_ether_addr bridged_src{{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}};
    const bytes bridged = overlay_frame(node_mac(2), bridged_src, 100);
    const bool full0 = engine::sends_full_frame(*reinterpret_cast<const rte_ether_hdr*>(node_frame.data()),
                                                node_mac(1), p.mac);
    const bool full1 =
        engine::sends_full_frame(*reinterpret_cast<const rte_ether_hdr*>(bridged.data()), node_mac(1), p.mac);
    ASSERT_FALSE(full0);
    ASSERT_TRUE(full1);
    ASSERT_EQ(s.add_frame(mbuf_of(node_frame), p, self_id, full0, false), sealer::verdict::queued);
    ASSERT_EQ(s.add_frame(mbuf_of(bridged), p, self_id, full1, false), sealer::verdict::queued);
    recording_sink sink;
    s.flush(*_ctx, sink);
    const auto k = transport::kind::udp4;
    const size_t hl = transport::headroom(k);
    auto pk = sink.sent();
    ASSERT_EQ(pk.size(), 2u);
    // elided: no flag, the frame without its 12 MAC bytes
    EXPECT_EQ(header_of(pk[0], k), expected_header(2, key_id, 0, 0, 0));
    EXPECT_EQ(pk[0].size(), hl + 16 + node_frame.size() - 12 + 16);
    auto pt0 = open(pk[0], k, 2);
    ASSERT_TRUE(pt0.has_value());
    EXPECT_EQ(*pt0, bytes(node_frame.begin() + 12, node_frame.end()));
    // whole: the full-frame flag, every byte
    EXPECT_EQ(header_of(pk[1], k), expected_header(2, key_id, 0, 1, transport::data_flag_full_frame));
    auto pt1 = open(pk[1], k, 2);
    ASSERT_TRUE(pt1.has_value());
    EXPECT_EQ(*pt1, bridged);
    // the sink counts overlay frame bytes (the MACs included)
    const event* sealed_ev = sink.find(event::sealed);
    ASSERT_NE(sealed_ev, nullptr);
    EXPECT_EQ(sealed_ev->frame_bytes, node_frame.size() + bridged.size());
    EXPECT_EQ(sealed_ev->n, 2u);
}

// ---- Verdicts -----------------------------------------------------------------------------------

struct mbuf_shape {
    uint16_t data_off, data_len;
    uint32_t pkt_len;
    bytes data;
    explicit mbuf_shape(const rte_mbuf* m)
        : data_off(m->data_off), data_len(m->data_len), pkt_len(m->pkt_len), data(contents(m)) {}
    bool operator==(const mbuf_shape&) const = default;
};

TEST_F(seal, inner_mtu_is_the_limit_of_too_big) {
    auto& p = add_peer(2);
    p.tx_mtu = 600;
    // IP packet on the wire: 20 + 8 (udp4) + 16 + payload + 16 <= 600 -> payload <= 540
    EXPECT_EQ(sealer::inner_mtu(p, false), 538);  // the ethertype rides along
    EXPECT_EQ(sealer::inner_mtu(p, true), 526);   // the whole Ethernet header rides along
    sealer s(0);
    // an elided frame whose IP packet is exactly inner_mtu fits; one byte more does not
    rte_mbuf* fits = mbuf_of(overlay_frame(node_mac(2), node_mac(1), sealer::inner_mtu(p, false) - 20));
    rte_mbuf* over = mbuf_of(overlay_frame(node_mac(2), node_mac(1), sealer::inner_mtu(p, false) - 19));
    EXPECT_EQ(s.add_frame(fits, p, self_id, false, false), sealer::verdict::queued);
    const mbuf_shape before(over);
    EXPECT_EQ(s.add_frame(over, p, self_id, false, false), sealer::verdict::too_big);
    EXPECT_TRUE(mbuf_shape(over) == before);  // untouched
    rte_mbuf* fits_full = mbuf_of(overlay_frame(node_mac(2), node_mac(1), sealer::inner_mtu(p, true) - 20));
    rte_mbuf* over_full = mbuf_of(overlay_frame(node_mac(2), node_mac(1), sealer::inner_mtu(p, true) - 19));
    EXPECT_EQ(s.add_frame(fits_full, p, self_id, true, false), sealer::verdict::queued);
    EXPECT_EQ(s.add_frame(over_full, p, self_id, true, false), sealer::verdict::too_big);
    EXPECT_EQ(s.next_counter(2), 2u);  // refused frames take no counter
    recording_sink sink;
    s.flush(*_ctx, sink);
    auto pk = sink.sent();
    ASSERT_EQ(pk.size(), 2u);
    EXPECT_EQ(pk[0].size(), 14u + 600u);
    EXPECT_EQ(pk[1].size(), 14u + 600u);
    rte_pktmbuf_free(over);
    rte_pktmbuf_free(over_full);
}

TEST_F(seal, too_big_leaves_the_mbuf_unchanged) {
    auto& p = add_peer(2);
    p.tx_mtu = 200;
    sealer s(0);
    rte_mbuf* m = mbuf_of(overlay_frame(node_mac(2), node_mac(1), 300));
    const mbuf_shape before(m);
    EXPECT_EQ(s.add_frame(m, p, self_id, false, false), sealer::verdict::too_big);
    EXPECT_TRUE(mbuf_shape(m) == before);
    EXPECT_EQ(before.data_off, RTE_PKTMBUF_HEADROOM);
    EXPECT_TRUE(s.empty());
    EXPECT_EQ(s.next_counter(2), 0u);
    rte_pktmbuf_free(m);
}

TEST_F(seal, too_big_with_wan_fragment_goes_to_send_fragments_in_order) {
    auto& p = add_peer(2);
    p.tx_mtu = 200;
    sealer s(0);
    const bytes small = overlay_frame(node_mac(2), node_mac(1), 40);
    const bytes big = overlay_frame(node_mac(2), node_mac(1), 300);
    ASSERT_EQ(s.add_frame(mbuf_of(small), p, self_id, false, true), sealer::verdict::queued);
    ASSERT_EQ(s.add_frame(mbuf_of(big), p, self_id, false, true), sealer::verdict::queued);
    ASSERT_EQ(s.add_frame(mbuf_of(small), p, self_id, false, true), sealer::verdict::queued);
    recording_sink sink;
    s.flush(*_ctx, sink);
    // small, then the fragment-bound one, then small: the peer sees them in order
    std::vector<std::pair<int, uint64_t>> seq;  // (what, counter of each packet)
    for (const auto& e : sink.ev) {
        for (const auto& w : e.pkts) {
            seq.emplace_back(static_cast<int>(e.what), counter_of(w, transport::kind::udp4));
        }
    }
    const std::vector<std::pair<int, uint64_t>> want = {{event::send, 0}, {event::fragments, 1}, {event::send, 2}};
    EXPECT_EQ(seq, want);
    const event* sealed_ev = sink.find(event::sealed);
    ASSERT_NE(sealed_ev, nullptr);
    EXPECT_EQ(sealed_ev->n, 3u);
    EXPECT_EQ(sealed_ev->frame_bytes, 2 * small.size() + big.size());
    // the fragment-bound packet is sealed and complete (outer headers written)
    for (const auto& e : sink.ev) {
        if (e.what == event::fragments) {
            auto pt = open(e.pkts[0], transport::kind::udp4, 2);
            ASSERT_TRUE(pt.has_value());
            EXPECT_EQ(*pt, bytes(big.begin() + 12, big.end()));
        }
    }
}

TEST_F(seal, a_chained_mbuf_is_bad_length) {
    auto& p = add_peer(2);
    sealer s(0);
    rte_mbuf* m = mbuf_of(overlay_frame(node_mac(2), node_mac(1), 40));
    rte_mbuf* tail = mbuf_of(bytes(20, 0xab));
    ASSERT_EQ(rte_pktmbuf_chain(m, tail), 0);
    const mbuf_shape before(m);
    EXPECT_EQ(s.add_frame(m, p, self_id, false, false), sealer::verdict::bad_length);
    EXPECT_TRUE(mbuf_shape(m) == before);
    EXPECT_EQ(m->pkt_len, before.pkt_len);
    EXPECT_TRUE(s.empty());
    EXPECT_EQ(s.next_counter(2), 0u);
    rte_pktmbuf_free(m);
}

// An mbuf holding `f` at data offset `off`.
rte_mbuf* mbuf_at(const bytes& f, uint16_t off) {
    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    EXPECT_NE(m, nullptr);
    m->data_off = off;
    char* d = rte_pktmbuf_append(m, static_cast<uint16_t>(f.size()));
    EXPECT_NE(d, nullptr);
    std::memcpy(d, f.data(), f.size());
    return m;
}

TEST_F(seal, no_headroom_or_tailroom_is_no_buffer) {
    auto& p = add_peer(2);
    p.tx_mtu = 9000;  // the mbuf-filling frame below is not too big
    sealer s(0);
    const bytes f = overlay_frame(node_mac(2), node_mac(1), 40);
    const uint16_t front = static_cast<uint16_t>(transport::headroom(transport::kind::udp4) + 16);  // 58
    // elided: the 12 MAC bytes count as headroom
    rte_mbuf* tight = mbuf_at(f, static_cast<uint16_t>(front - 12));
    rte_mbuf* short_by_one = mbuf_at(f, static_cast<uint16_t>(front - 13));
    rte_mbuf* whole_short = mbuf_at(f, static_cast<uint16_t>(front - 1));  // sent whole: no MAC bytes to reuse
    rte_mbuf* none = mbuf_at(f, 0);
    // no tailroom for the tag
    const uint16_t buf = static_cast<uint16_t>(rte_pktmbuf_data_room_size(g_pool));
    rte_mbuf* no_tail = mbuf_at(overlay_frame(node_mac(2), node_mac(1), static_cast<uint16_t>(buf - 128 - 34 - 8)),
                                128);
    ASSERT_LT(rte_pktmbuf_tailroom(no_tail), 16u);
    std::vector<std::pair<rte_mbuf*, bool>> refused = {{short_by_one, false}, {whole_short, true}, {none, false},
                                                       {no_tail, false}};
    for (auto [m, full] : refused) {
        const mbuf_shape before(m);
        EXPECT_EQ(s.add_frame(m, p, self_id, full, false), sealer::verdict::no_buffer) << m->data_off;
        EXPECT_TRUE(mbuf_shape(m) == before) << m->data_off;
    }
    EXPECT_TRUE(s.empty());
    EXPECT_EQ(s.next_counter(2), 0u);
    EXPECT_EQ(s.add_frame(tight, p, self_id, false, false), sealer::verdict::queued);
    EXPECT_EQ(tight->data_off, 0);
    recording_sink sink;
    s.flush(*_ctx, sink);
    auto pk = sink.sent();
    ASSERT_EQ(pk.size(), 1u);
    auto pt = open(pk[0], transport::kind::udp4, 2);
    ASSERT_TRUE(pt.has_value());
    EXPECT_EQ(*pt, bytes(f.begin() + 12, f.end()));
    for (auto [m, full] : refused) {
        rte_pktmbuf_free(m);
    }
}

// ---- inherit-tos --------------------------------------------------------------------------------

TEST_F(seal, inherit_tos_copies_the_inner_dscp_to_the_outer_tos) {
    auto& tos_peer = add_peer(2);
    tos_peer.tos_mask = 0xfc;
    auto& plain_peer = add_peer(3);
    sealer s(0);
    const rte_ether_addr bridged_src{{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}};
    // DSCP 46 + ECN 1 (ECN is not copied), elided and whole, IPv4 and IPv6 inner
    ASSERT_EQ(s.add_frame(mbuf_of(overlay_frame(node_mac(2), node_mac(1), 64, 0xb9)), tos_peer, self_id, false, false),
              sealer::verdict::queued);
    ASSERT_EQ(s.add_frame(mbuf_of(overlay_frame(node_mac(2), bridged_src, 64, 0x29)), tos_peer, self_id, true, false),
              sealer::verdict::queued);
    ASSERT_EQ(s.add_frame(mbuf_of(overlay_frame(node_mac(2), node_mac(1), 64, 0x61, true)), tos_peer, self_id, false,
                          false),
              sealer::verdict::queued);
    ASSERT_EQ(s.add_frame(mbuf_of(overlay_frame(node_mac(3), node_mac(1), 64, 0xb8)), plain_peer, self_id, false,
                          false),
              sealer::verdict::queued);
    recording_sink sink;
    s.flush(*_ctx, sink);
    auto pk = sink.sent();
    ASSERT_EQ(pk.size(), 4u);
    const uint8_t want[] = {0xb8, 0x28, 0x60, 0x00};
    for (size_t i = 0; i < pk.size(); ++i) {
        const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(pk[i].data() + 14);
        EXPECT_EQ(ip->type_of_service, want[i]) << i;
        EXPECT_EQ(rte_ipv4_cksum(ip), 0) << i;  // the checksum is still valid with the TOS in it
        EXPECT_TRUE(open(pk[i], transport::kind::udp4, i < 3 ? 2 : 3).has_value()) << i;
    }
}

// ---- flush --------------------------------------------------------------------------------------

// Many peers behind one port (a gateway): a packet to each in turn is one run per packet, one
// AEAD call with each packet's own key (seal_multi) and one send for all of them, in order; each
// packet opens under its peer's key with that peer's own counter.
TEST_F(seal, one_packet_per_peer_leaves_in_one_send) {
    std::vector<engine::peer_entry*> ps;
    for (uint16_t id = 2; id <= 9; ++id) {
        ps.push_back(&add_peer(id));
        ps.back()->tx_port_id = 7;
    }
    sealer s(0);
    std::vector<bytes> frames;
    for (unsigned i = 0; i < 24; ++i) {
        const engine::peer_entry& p = *ps[i % ps.size()];
        frames.push_back(overlay_frame(node_mac(p.node_id), node_mac(1), 20 + i));
        ASSERT_EQ(s.add_frame(mbuf_of(frames.back()), p, self_id, false, false), sealer::verdict::queued);
    }
    recording_sink sink;
    s.flush(*_ctx, sink);
    ASSERT_EQ(sink.ev.size(), 25u);
    for (unsigned i = 0; i < 24; ++i) {
        ASSERT_EQ(sink.ev[i].what, event::sealed) << i;
        EXPECT_EQ(sink.ev[i].node, ps[i % ps.size()]->node_id) << i;
        EXPECT_EQ(sink.ev[i].n, 1u) << i;
    }
    ASSERT_EQ(sink.ev[24].what, event::send);
    EXPECT_EQ(sink.ev[24].port, 7);
    ASSERT_EQ(sink.ev[24].n, 24u);
    const auto pk = sink.sent();
    for (unsigned i = 0; i < 24; ++i) {
        const uint16_t to = ps[i % ps.size()]->node_id;
        auto pt = open(pk[i], transport::kind::udp4, to);
        ASSERT_TRUE(pt.has_value()) << i;
        EXPECT_EQ(*pt, bytes(frames[i].begin() + 12, frames[i].end())) << i;
        EXPECT_EQ(counter_of(pk[i], transport::kind::udp4), i / ps.size()) << i;
    }
}

TEST_F(seal, flush_hands_runs_per_peer_in_order) {
    auto& p2 = add_peer(2);
    auto& p3 = add_peer(3);
    sealer s(1);
    const bytes f2a = overlay_frame(node_mac(2), node_mac(1), 10);
    const bytes f2b = overlay_frame(node_mac(2), node_mac(1), 20);
    const bytes f3 = overlay_frame(node_mac(3), node_mac(1), 30);
    const bytes f2c = overlay_frame(node_mac(2), node_mac(1), 40);
    ASSERT_EQ(s.add_frame(mbuf_of(f2a), p2, self_id, false, false), sealer::verdict::queued);
    ASSERT_EQ(s.add_frame(mbuf_of(f2b), p2, self_id, false, false), sealer::verdict::queued);
    ASSERT_EQ(s.add_frame(mbuf_of(f3), p3, self_id, false, false), sealer::verdict::queued);
    ASSERT_EQ(s.add_frame(mbuf_of(f2c), p2, self_id, false, false), sealer::verdict::queued);
    recording_sink sink;
    s.flush(*_ctx, sink);
    EXPECT_TRUE(s.empty());
    // Each run's counters in order; the packets of consecutive runs to one port leave in one
    // send (with many peers most runs are one packet: a send per run cost more than the
    // packet), so a send comes when the port changes and at the end. Here every peer has a port
    // of its own (10 + id).
    ASSERT_NE(p2.tx_port_id, p3.tx_port_id);
    ASSERT_EQ(sink.ev.size(), 6u);
    const size_t hl = transport::headroom(transport::kind::udp4);
    auto wire = [&](const bytes& f) { return hl + 16 + (f.size() - 12) + 16; };
    struct want {
        int what;
        uint16_t port_or_node;
        unsigned n;
        uint64_t bytes;
    };
    const want w[] = {{event::sealed, 2, 2, f2a.size() + f2b.size()},
                      {event::send, p2.tx_port_id, 2, wire(f2a) + wire(f2b)},
                      {event::sealed, 3, 1, f3.size()},
                      {event::send, p3.tx_port_id, 1, wire(f3)},
                      {event::sealed, 2, 1, f2c.size()},
                      {event::send, p2.tx_port_id, 1, wire(f2c)}};
    for (size_t i = 0; i < 6; ++i) {
        const event& e = sink.ev[i];
        ASSERT_EQ(static_cast<int>(e.what), w[i].what) << i;
        EXPECT_EQ(e.n, w[i].n) << i;
        if (e.what == event::send) {
            EXPECT_EQ(e.port, w[i].port_or_node) << i;
            EXPECT_EQ(e.wire_bytes, w[i].bytes) << i;
            uint64_t sum = 0;
            for (const auto& pk : e.pkts) {
                sum += pk.size();
            }
            EXPECT_EQ(sum, w[i].bytes) << i;
        } else {
            EXPECT_EQ(e.node, w[i].port_or_node) << i;
            EXPECT_EQ(e.frame_bytes, w[i].bytes) << i;
        }
    }
    auto pk = sink.sent();
    ASSERT_EQ(pk.size(), 4u);
    const bytes* frames[] = {&f2a, &f2b, &f3, &f2c};
    const uint16_t to[] = {2, 2, 3, 2};
    const uint64_t ctr[] = {0, 1, 0, 2};
    for (size_t i = 0; i < 4; ++i) {
        auto pt = open(pk[i], transport::kind::udp4, to[i]);
        ASSERT_TRUE(pt.has_value()) << i;
        EXPECT_EQ(*pt, bytes(frames[i]->begin() + 12, frames[i]->end())) << i;
        EXPECT_EQ(header_of(pk[i], transport::kind::udp4), expected_header(to[i], key_id, 1, ctr[i], 0)) << i;
        EXPECT_EQ(udp_sport_of(pk[i]), transport::udp_lane_port_base(self_id) + 1) << i;
    }
    // an empty flush hands nothing
    recording_sink none;
    s.flush(*_ctx, none);
    EXPECT_TRUE(none.ev.empty());
}

// ---- Every transport ----------------------------------------------------------------------------

class seal_kinds : public seal, public ::testing::WithParamInterface<transport::kind> {
protected:
    void SetUp() override { seal::SetUp(); }
};

TEST_P(seal_kinds, outer_headers_are_write_outers_and_the_packet_opens) {
    const transport::kind k = GetParam();
    auto& p = add_peer(2, k);
    p.tos_mask = 0xfc;
    sealer s(2);
    const bytes f = overlay_frame(node_mac(2), node_mac(1), 77, 0x48);
    ASSERT_EQ(s.add_frame(mbuf_of(f), p, self_id, false, false), sealer::verdict::queued);
    recording_sink sink;
    s.flush(*_ctx, sink);
    auto pk = sink.sent();
    ASSERT_EQ(pk.size(), 1u);
    const size_t hl = transport::headroom(k);
    const auto dvpe_len = static_cast<uint16_t>(16 + f.size() - 12 + 16);
    ASSERT_EQ(pk[0].size(), hl + dvpe_len);
    bytes outer(pk[0].size());
    std::memcpy(outer.data() + hl, pk[0].data() + hl, dvpe_len);
    transport::write_outer(p.tmpl, outer.data(), dvpe_len, p.udp_sport(2), 0x48);
    EXPECT_EQ(outer, pk[0]);
    auto pt = open(pk[0], k, 2);
    ASSERT_TRUE(pt.has_value());
    EXPECT_EQ(*pt, bytes(f.begin() + 12, f.end()));
}

INSTANTIATE_TEST_SUITE_P(all, seal_kinds,
                         ::testing::Values(transport::kind::udp4, transport::kind::udp6, transport::kind::rawip4,
                                           transport::kind::rawip6, transport::kind::icmp4, transport::kind::icmp6),
                         [](const auto& info) { return std::string(transport::kind_name(info.param)); });

}  // namespace
