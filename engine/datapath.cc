// SPDX-License-Identifier: MIT
// The encrypted data path of a worker (DESIGN.md §1 passes; docs/protocol.md data message).
//
// Egress (overlay -> WAN), per burst:
//   1. classify each frame by destination MAC: a node MAC fe:fd:80:00:HH:LL -> that node;
//      broadcast/multicast -> one copy per peer with a session; the MACs are elided from the
//      plaintext when they are exactly (sender node, receiver node), else the full frame is sent;
//   2. prepend data header + outer header template, append the tag room, take this lane's counter;
//   3. one seal_burst per run of packets sharing a send key (grouping by peer);
//   4. finish the outer headers (lengths, checksums) and buffer for tx on the peer's port.
// Ingress (WAN -> overlay), per burst:
//   1. classify the transport (transports/classify.hh); handshakes go to the control thread,
//      packets for another node are relayed unchanged by routers, data packets are checked
//      (peer, key id, lane, replay window) and collected;
//   2. one open_burst per run of packets sharing a receive key;
//   3. accept the counter in the replay window only after the tag verified, strip the headers,
//      rebuild the MACs, deliver to the overlay port.
// Every packet leaves exactly one way (sent, delivered, relayed, to control, or a named drop).
// Threads: the owning worker lcore only.
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstring>

#include "engine/worker.hh"
#include "transports/classify.hh"
#include "transports/outer.hh"
#include "transports/wire.hh"

namespace engine {

namespace {

constexpr uint16_t mac_pair_len = 2 * RTE_ETHER_ADDR_LEN;
constexpr int ether_type_len = 2;
constexpr uint16_t hdr_len = sizeof(transport::data_header);
constexpr uint16_t tag_len = transport::aead_tag_size;

/// Node id of an overlay MAC fe:fd:80:00:HH:LL (GVPE's scheme), 0 if it is not one.
inline uint16_t node_of_mac(const rte_ether_addr& a) noexcept {
    const uint8_t* b = a.addr_bytes;
    if (b[0] != 0xfe || b[1] != 0xfd || b[2] != 0x80 || b[3] != 0x00) {
        return 0;
    }
    return static_cast<uint16_t>(b[4] << 8 | b[5]);
}

}  // namespace

// ---- egress --------------------------------------------------------------------------------

bool worker::seal_one(rte_mbuf* m, const peer_entry& p, const dataplane_snapshot& s, bool full_frame) noexcept {
    if (m->nb_segs != 1) [[unlikely]] {
        drop(m, drop_reason::bad_length);  // overlay ports deliver one segment per frame
        return false;
    }
    const auto frame_len = static_cast<uint16_t>(rte_pktmbuf_data_len(m));
    const auto payload_len = static_cast<uint16_t>(full_frame ? frame_len : frame_len - mac_pair_len);
    // The IP packet on the wire is everything after the outer Ethernet header.
    const int room = p.tx_mtu - (p.tmpl.len - transport::ether_header_size + hdr_len + tag_len);
    const bool fragment = payload_len > room;
    if (fragment && !_s.wan_fragment) [[unlikely]] {
        // The largest inner IP packet that fits: the payload also carries the ethertype (MACs
        // elided) or the whole Ethernet header.
        const int inner_mtu = room - (full_frame ? transport::ether_header_size : ether_type_len);
        answer_too_big(m, static_cast<uint16_t>(std::max(inner_mtu, 0)), s.overlay_port_id);
        drop(m, drop_reason::too_big);
        return false;
    }
    if (!full_frame) {
        rte_pktmbuf_adj(m, mac_pair_len);
    }
    auto* outer = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, static_cast<uint16_t>(hdr_len + p.tmpl.len)));
    auto* tag = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, tag_len));
    if (outer == nullptr || tag == nullptr) [[unlikely]] {
        drop(m, drop_reason::no_buffer);
        return false;
    }
    lane_state& lane = _lanes[p.node_id];
    if (lane.generation != p.tx_generation) {
        lane.generation = p.tx_generation;
        lane.counter = 0;
    }
    const uint64_t ctr = lane.counter++;
    _peer_stats[p.node_id].tx_counter.set(lane.counter);
    auto* dh = reinterpret_cast<transport::data_header*>(outer + p.tmpl.len);
    (void)transport::init_data_header(*dh, s.self_id, p.node_id, p.tx_key_id, static_cast<uint16_t>(_s.worker_idx),
                                      ctr, full_frame);
    const unsigned i = _n_seal++;
    _nonce[i] = transport::nonce(static_cast<uint16_t>(_s.worker_idx), ctr);
    _aead[i] = crypto::aead_packet{reinterpret_cast<uint8_t*>(dh) + hdr_len, payload_len, hdr_len,
                                   reinterpret_cast<const uint8_t*>(dh), _nonce[i].data(), tag};
    _seal[i] = seal_item{m, &p, outer, static_cast<uint16_t>(hdr_len + payload_len + tag_len), frame_len, fragment};
    if (_n_seal == max_items) [[unlikely]] {
        seal_flush(s);
    }
    return true;
}

void worker::seal_flush(const dataplane_snapshot&) noexcept {
    const unsigned n = _n_seal;
    _n_seal = 0;
    // One AEAD call per run of packets that share a send key.
    for (unsigned i = 0; i < n;) {
        unsigned j = i + 1;
        while (j < n && _seal[j].p == _seal[i].p) {
            ++j;
        }
        _crypto->seal_burst(*_seal[i].p->tx_key, std::span<crypto::aead_packet>(&_aead[i], j - i));
        i = j;
    }
    const auto udp_base_lane = static_cast<uint16_t>(_s.worker_idx);
    for (unsigned i = 0; i < n; ++i) {
        const seal_item& it = _seal[i];
        transport::write_outer(it.p->tmpl, it.outer, it.dvpe_len, static_cast<uint16_t>(it.p->udp_sport_base + udp_base_lane));
        node_stats& ns = _peer_stats[it.p->node_id];
        ns.tx_packets.add();
        ns.tx_bytes.add(it.frame_len);
        if (it.fragment) [[unlikely]] {
            send_fragments(it.m, *it.p);
        } else {
            send(it.m, it.p->tx_port_id);
        }
    }
}

void worker::egress_burst(rte_mbuf** pkts, uint16_t n, const dataplane_snapshot& s) noexcept {
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        if (i + 3 < n) {
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 3], void*));
        }
        if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr)) [[unlikely]] {
            drop(m, drop_reason::bad_length);
            continue;
        }
        const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
        if (rte_is_multicast_ether_addr(&eth->dst_addr)) {
            // Broadcast/multicast: one sealed copy per peer with a session (as GVPE's N-1 unicasts).
            bool sent_any = false;
            for (uint16_t id : s.broadcast_to) {
                rte_mbuf* c = rte_pktmbuf_copy(m, _s.pool, 0, UINT32_MAX);
                if (c == nullptr) [[unlikely]] {
                    _stats.drop(drop_reason::no_buffer);  // the copy is lost, not the original
                    continue;
                }
                sent_any |= seal_one(c, s.peers[id], s, true);
            }
            if (s.broadcast_to.size() + 1 < s.peers.size()) [[unlikely]] {
                // Some peers have no session: tell the control thread there is demand (ondemand
                // peers connect on it, e.g. on the ARP request that precedes any unicast).
                for (const peer_entry& p : s.peers) {
                    if (p.node_id != 0 && !p.tx_ready) {
                        _peer_stats[p.node_id].no_session.add();
                    }
                }
            }
            if (sent_any) {
                _stats.encrypted.add();
                rte_pktmbuf_free(m);
            } else {
                drop(m, drop_reason::no_session);
            }
            continue;
        }
        const uint16_t dst = node_of_mac(eth->dst_addr);
        const peer_entry* p = s.peer(dst);
        if (p == nullptr) [[unlikely]] {
            drop(m, dst == s.self_id && dst != 0 ? drop_reason::to_self : drop_reason::unknown_node);
            continue;
        }
        if (!p->tx_ready) {
            _peer_stats[dst].no_session.add();  // tells the control thread there is demand
            if (s.queue_without_session) {
                m->hash.usr = dst;              // control queues it until the session is up
                to_control(m);
            } else {
                drop(m, drop_reason::no_session);
            }
            continue;
        }
        const bool full = !rte_is_same_ether_addr(&eth->src_addr, &s.self_mac);
        if (seal_one(m, *p, s, full)) {
            _stats.encrypted.add();
        }
    }
    if (_n_seal != 0) {
        seal_flush(s);
    }
}

// ---- ingress -------------------------------------------------------------------------------

void worker::relay(rte_mbuf* m, uint16_t dvpe_offset, uint16_t dvpe_len, const peer_entry& to) noexcept {
    // Strip the outer headers we received and put the ones towards `to` in front: the dvpe
    // packet itself (header, ciphertext, tag) is forwarded unchanged, without any key.
    rte_pktmbuf_adj(m, dvpe_offset);
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - dvpe_len));
    auto* outer = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, to.tmpl.len));
    if (outer == nullptr) [[unlikely]] {
        drop(m, drop_reason::no_buffer);
        return;
    }
    transport::write_outer(to.tmpl, outer, dvpe_len, static_cast<uint16_t>(to.udp_sport_base + _s.worker_idx));
    _stats.relayed.add();
    send(m, to.tx_port_id);
}

bool worker::ingress_dvpe(rte_mbuf* m, const port_ctx& port, const dataplane_snapshot& s) noexcept {
    const auto* frame = rte_pktmbuf_mtod(m, const uint8_t*);
    const uint32_t len = rte_pktmbuf_data_len(m);
    const transport::classify_result c = transport::classify(frame, len, s.local);
    switch (c.reason) {
    case transport::classify_reason::ok:
        break;
    case transport::classify_reason::not_ours:
        return false;  // ARP, echo to us, foreign traffic: the slow path decides
    case transport::classify_reason::bad_length:
    case transport::classify_reason::bad_udp_length:
        drop(m, drop_reason::bad_length);
        return true;
    case transport::classify_reason::bad_ip_header:
        drop(m, drop_reason::bad_ip_header);
        return true;
    case transport::classify_reason::fragment:
        return reassemble(m, port, s);
    case transport::classify_reason::ipv6_ext_header:
        drop(m, drop_reason::unhandled_protocol);
        return true;
    case transport::classify_reason::bad_icmp:
        drop(m, drop_reason::unhandled_icmp);
        return true;
    case transport::classify_reason::disabled_transport:
        drop(m, drop_reason::disabled_transport);
        return true;
    }
    if (c.dvpe_len < sizeof(transport::dvpe_header)) [[unlikely]] {
        drop(m, drop_reason::bad_length);
        return true;
    }
    const auto* h = reinterpret_cast<const transport::data_header*>(frame + c.dvpe_offset);
    if (transport::version(*h) != transport::protocol_version) [[unlikely]] {
        drop(m, drop_reason::bad_header);
        return true;
    }
    const uint16_t src = transport::src_id(*h);
    const uint16_t dst = transport::dst_id(*h);
    if (dst != s.self_id) {
        const peer_entry* to = s.peer(dst);
        if (!s.router) {
            drop(m, drop_reason::not_router);
        } else if (to == nullptr || !to->tx_ready) {
            drop(m, drop_reason::no_route);
        } else {
            relay(m, c.dvpe_offset, c.dvpe_len, *to);
        }
        return true;
    }
    if (h->type != static_cast<uint8_t>(transport::message_type::data)) {
        if (h->type >= static_cast<uint8_t>(transport::message_type::handshake_initiation) &&
            h->type <= static_cast<uint8_t>(transport::message_type::cookie_reply)) {
            to_control(m);  // the control thread re-classifies it for the source address
        } else {
            drop(m, drop_reason::bad_header);
        }
        return true;
    }
    if (c.dvpe_len < transport::data_overhead) [[unlikely]] {
        drop(m, drop_reason::bad_length);
        return true;
    }
    const peer_entry* p = s.peer(src);
    if (p == nullptr) [[unlikely]] {
        drop(m, drop_reason::unknown_node);
        return true;
    }
    const rx_key_slot* slot = nullptr;
    for (const rx_key_slot& k : p->rx) {
        if (k.key != nullptr && k.key_id == h->key_id) {
            slot = &k;
        }
    }
    if (slot == nullptr) [[unlikely]] {
        drop(m, drop_reason::unknown_key);
        return true;
    }
    const uint16_t lane = transport::lane(*h);
    if (lane >= limits::max_lanes) [[unlikely]] {
        drop(m, drop_reason::bad_header);
        return true;
    }
    const uint64_t ctr = transport::counter(*h);
    replay* w = &slot->windows->at(_s.worker_idx, lane);
    if (!w->would_accept(ctr) && !_s.benchmark_replay_off) {  // benchmark_replay_off: worker.hh
        drop(m, drop_reason::replayed);
        return true;
    }
    const unsigned i = _n_open++;
    const auto payload_len = static_cast<uint16_t>(c.dvpe_len - transport::data_overhead);
    auto* dh = rte_pktmbuf_mtod_offset(m, uint8_t*, c.dvpe_offset);
    _nonce[i] = transport::nonce(lane, ctr);
    _aead[i] = crypto::aead_packet{dh + hdr_len, payload_len, hdr_len, dh, _nonce[i].data(), dh + hdr_len + payload_len};
    _open[i] = open_item{m, p, slot, w, ctr, c.dvpe_offset, payload_len,
                         (transport::flags(*h) & transport::data_flag_full_frame) != 0};
    if (_n_open == max_items) [[unlikely]] {
        open_flush(s);
    }
    return true;
}

void worker::open_flush(const dataplane_snapshot& s) noexcept {
    const unsigned n = _n_open;
    _n_open = 0;
    for (unsigned i = 0; i < n;) {
        unsigned j = i + 1;
        while (j < n && _open[j].slot == _open[i].slot) {
            ++j;
        }
        _crypto->open_burst(*_open[i].slot->key, std::span<crypto::aead_packet>(&_aead[i], j - i),
                            std::span<uint8_t>(&_ok[i], j - i));
        i = j;
    }
    for (unsigned i = 0; i < n; ++i) {
        open_item& it = _open[i];
        rte_mbuf* m = it.m;
        if (!_ok[i]) {
            drop(m, drop_reason::auth_failed);
            continue;
        }
        // Only an authenticated counter moves the window (a forged one must not).
        if (!it.window->accept(it.counter) && !_s.benchmark_replay_off) {
            drop(m, drop_reason::replayed);  // a duplicate within this burst
            continue;
        }
        node_stats& ns = _peer_stats[it.p->node_id];
        ns.last_rx_key_id.set(it.slot->key_id);
        if (it.payload_len == 0) {
            _stats.keepalives.add();
            ns.keepalives.add();
            rte_pktmbuf_free(m);
            continue;
        }
        if (!s.has_overlay) [[unlikely]] {
            drop(m, drop_reason::no_overlay);
            continue;
        }
        rte_pktmbuf_adj(m, static_cast<uint16_t>(it.dvpe_offset + hdr_len));
        rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - it.payload_len));
        if (!it.full_frame) {
            auto* macs = reinterpret_cast<rte_ether_addr*>(rte_pktmbuf_prepend(m, mac_pair_len));
            if (macs == nullptr) [[unlikely]] {
                drop(m, drop_reason::no_buffer);
                continue;
            }
            macs[0] = s.self_mac;
            macs[1] = it.p->mac;
        } else if (it.payload_len < sizeof(rte_ether_hdr)) [[unlikely]] {
            drop(m, drop_reason::bad_length);
            continue;
        }
        ns.rx_packets.add();
        ns.rx_bytes.add(rte_pktmbuf_data_len(m));
        _stats.decrypted.add();
        send(m, s.overlay_port_id);
    }
}

}  // namespace engine
