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
#include <array>
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

/// First 8 bytes of a data header as ingress_dvpe() compares them: the flags nibble masked off.
constexpr uint64_t head_flags_mask =
    ~transport::detail::bytes_word(0, transport::data_flag_full_frame, 0, 0, 0, 0, 0, 0);
/// The key of an empty rx_route cache: a flag bit set, so no masked head can equal it.
constexpr uint64_t no_route_head = ~head_flags_mask;
static_assert(no_route_head != 0 && (no_route_head & head_flags_mask) == 0);

}  // namespace

// ---- egress --------------------------------------------------------------------------------

inline bool worker::seal_one(rte_mbuf* m, const peer_entry& p, const dataplane_snapshot& s, bool full_frame) noexcept {
    if (m->nb_segs != 1) [[unlikely]] {
        drop(m, drop_reason::bad_length);  // overlay ports deliver one segment per frame
        return false;
    }
    // One segment: the MAC pair comes off the front (unless the full frame is sent), the outer
    // headers and the data header go in front, the tag room behind, as one edit of data_off /
    // data_len / pkt_len (what rte_pktmbuf_adj, _prepend and _append would do one after another).
    const uint16_t frame_len = m->data_len;  // >= an Ethernet header (egress_burst)
    const unsigned strip = full_frame ? 0 : mac_pair_len;
    const auto payload_len = static_cast<uint16_t>(frame_len - strip);
    // The IP packet on the wire is everything after the outer Ethernet header.
    const int room = p.tx_mtu - (p.tmpl.len - transport::ether_header_size + hdr_len + tag_len);
    const bool fragment = payload_len > room;
    if (fragment && !_s.wan_fragment) [[unlikely]] {
        // The largest inner IP packet that fits: the payload also carries the ethertype (MACs
        // elided) or the whole Ethernet header. Decided before the mbuf is touched.
        const int inner_mtu = room - (full_frame ? transport::ether_header_size : ether_type_len);
        answer_too_big(m, static_cast<uint16_t>(std::max(inner_mtu, 0)), s.overlay_port_id);
        drop(m, drop_reason::too_big);
        return false;
    }
    const unsigned front = hdr_len + p.tmpl.len;
    const unsigned headroom = m->data_off + strip;  // after the MAC pair is gone
    if (front > headroom || tag_len > rte_pktmbuf_tailroom(m)) [[unlikely]] {
        drop(m, drop_reason::no_buffer);
        return false;
    }
    const auto data_off = static_cast<uint16_t>(headroom - front);
    const auto data_len = static_cast<uint16_t>(front + payload_len + tag_len);
    m->data_off = data_off;
    m->data_len = data_len;
    m->pkt_len = data_len;
    auto* outer = static_cast<uint8_t*>(m->buf_addr) + data_off;
    uint8_t* dh = outer + p.tmpl.len;

    lane_state& lane = _lanes[p.node_id];
    const auto lane_id = static_cast<uint16_t>(_s.worker_idx);
    if (lane.generation != p.tx_generation) {
        lane.generation = p.tx_generation;
        lane.counter = 0;
    }
    // The header's first 8 bytes change only with the send key (or our node id).
    const uint64_t head_for = uint64_t{p.tx_generation} | uint64_t{s.self_id} << 32 | uint64_t{p.tx_key_id} << 48 |
                              uint64_t{1} << 63;  // never 0, the initial head_for
    if (lane.head_for != head_for) [[unlikely]] {
        // Node ids of a snapshot are valid (control builds it); the bytes are init_data_header()'s.
        lane.head_for = head_for;
        lane.head = transport::data_header_head(s.self_id, p.node_id, p.tx_key_id, lane_id, false);
    }
    const uint64_t ctr = lane.counter++;  // node_stats::tx_counter follows in seal_flush
    constexpr uint64_t full_frame_flag = transport::detail::bytes_word(0, transport::data_flag_full_frame, 0, 0, 0, 0, 0, 0);
    transport::store_data_header(dh, lane.head | (full_frame ? full_frame_flag : 0), ctr);
    const unsigned i = _n_seal++;
    transport::store_nonce(_nonce[i].data(), lane_id, ctr);
    _aead[i] = crypto::aead_packet{dh + hdr_len, payload_len, hdr_len, dh, _nonce[i].data(), dh + hdr_len + payload_len};
    _seal[i] = seal_item{m, &p, outer, static_cast<uint16_t>(hdr_len + payload_len + tag_len), frame_len, fragment};
    if (_n_seal == max_items) [[unlikely]] {
        seal_flush(s);
    }
    return true;
}

template <transport::kind K, bool Tos>
uint64_t worker::finish_sealed(unsigned begin, unsigned end, const peer_entry& p) noexcept {
    const auto sport = static_cast<uint16_t>(p.udp_sport_base + _s.worker_idx * p.udp_sport_step);
    uint64_t frame_bytes = 0;
    uint64_t wire_bytes = 0;
    unsigned n_out = 0;
    for (unsigned i = begin; i < end; ++i) {
        const seal_item& it = _seal[i];
        transport::write_outer<K>(p.tmpl, it.outer, it.dvpe_len, sport, Tos ? it.tos : uint8_t{0});
        frame_bytes += it.frame_len;
        if (it.fragment) [[unlikely]] {
            // wan-fragment: what is queued goes first, so the peer sees the packets in order.
            send_bulk(p.tx_port_id, _out.data(), n_out, wire_bytes);
            n_out = 0;
            wire_bytes = 0;
            send_fragments(it.m, p);
            continue;
        }
        wire_bytes += transport::headroom(K) + it.dvpe_len;
        _out[n_out++] = it.m;
    }
    send_bulk(p.tx_port_id, _out.data(), n_out, wire_bytes);
    return frame_bytes;
}

void worker::seal_flush(const dataplane_snapshot&) noexcept {
    const unsigned n = _n_seal;
    _n_seal = 0;
    // Per run of packets that share a peer (and so a send key and an outer template): one AEAD
    // call, one dispatch on the transport, one update of the peer's counters.
    for (unsigned i = 0; i < n;) {
        const peer_entry& p = *_seal[i].p;
        unsigned j = i + 1;
        while (j < n && _seal[j].p == &p) {
            ++j;
        }
        const bool tos = p.tos_mask != 0;
        if (tos) [[unlikely]] {
            // inherit-tos: the inner DSCP, read while the payload is still plaintext. The payload
            // starts with the ethertype (MACs elided) or the whole Ethernet header.
            for (unsigned x = i; x < j; ++x) {
                seal_item& it = _seal[x];
                const crypto::aead_packet& a = _aead[x];
                const bool full = a.len == it.frame_len;
                const uint8_t* frame = full ? a.data : a.data - mac_pair_len;  // the MAC bytes are not read
                it.tos = transport::inner_dscp(frame, it.frame_len) & p.tos_mask;
            }
        }
        _crypto->seal_burst(*p.tx_key, std::span<crypto::aead_packet>(&_aead[i], j - i));
        uint64_t frame_bytes = 0;
        switch (p.tmpl.k) {
        case transport::kind::udp4: frame_bytes = finish<transport::kind::udp4>(i, j, p, tos); break;
        case transport::kind::udp6: frame_bytes = finish<transport::kind::udp6>(i, j, p, tos); break;
        case transport::kind::rawip4: frame_bytes = finish<transport::kind::rawip4>(i, j, p, tos); break;
        case transport::kind::rawip6: frame_bytes = finish<transport::kind::rawip6>(i, j, p, tos); break;
        case transport::kind::icmp4: frame_bytes = finish<transport::kind::icmp4>(i, j, p, tos); break;
        case transport::kind::icmp6: frame_bytes = finish<transport::kind::icmp6>(i, j, p, tos); break;
        }
        node_stats& ns = _peer_stats[p.node_id];
        ns.tx_packets.add(j - i);
        ns.tx_bytes.add(frame_bytes);
        ns.tx_counter.set(_lanes[p.node_id].counter);
        i = j;
    }
}

void worker::egress_burst(rte_mbuf** pkts, uint16_t n, const dataplane_snapshot& s) noexcept {
    uint64_t encrypted = 0;
    _tx_last.p = nullptr;  // the lookup of an earlier burst may belong to an older snapshot
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
            // A copy that cannot be sealed is counted by its drop reason and in copies_lost:
            // it was never received, so accounted() takes it out again.
            bool sent_any = false;
            uint64_t lost = 0;
            for (uint16_t id : s.broadcast_to) {
                rte_mbuf* c = rte_pktmbuf_copy(m, _s.pool, 0, UINT32_MAX);
                if (c == nullptr) [[unlikely]] {
                    _stats.drop(drop_reason::no_buffer);  // the copy is lost, not the original
                    ++lost;
                    continue;
                }
                const bool sealed = seal_one(c, s.peers[id], s, true);
                sent_any |= sealed;
                lost += !sealed;
            }
            if (lost != 0) [[unlikely]] {
                _stats.copies_lost.add(lost);
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
                ++encrypted;
                rte_pktmbuf_free(m);
            } else {
                drop(m, drop_reason::no_session);
            }
            continue;
        }
        // The MAC pair of the last unicast frame: same peer, same choice of full frame.
        uint64_t macs_lo;
        uint32_t macs_hi;
        std::memcpy(&macs_lo, eth, 8);
        std::memcpy(&macs_hi, reinterpret_cast<const uint8_t*>(eth) + 8, 4);
        if (macs_lo == _tx_last.macs_lo && macs_hi == _tx_last.macs_hi && _tx_last.p != nullptr) {
            encrypted += seal_one(m, *_tx_last.p, s, _tx_last.full_frame);
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
        _tx_last = tx_route{macs_lo, macs_hi, p, full};
        encrypted += seal_one(m, *p, s, full);
    }
    if (_n_seal != 0) {
        seal_flush(s);
    }
    _stats.encrypted.add(encrypted);
}

// ---- ingress -------------------------------------------------------------------------------

void worker::relay(rte_mbuf* m, uint16_t dvpe_offset, uint16_t dvpe_len, const peer_entry& to) noexcept {
    // Strip the outer headers we received and put the ones towards `to` in front: the dvpe
    // packet itself (header, ciphertext, tag) is forwarded unchanged, without any key.
    if (m->nb_segs != 1) [[unlikely]] {
        keep_first_segment(m);
    }
    rte_pktmbuf_adj(m, dvpe_offset);
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - dvpe_len));
    auto* outer = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, to.tmpl.len));
    if (outer == nullptr) [[unlikely]] {
        drop(m, drop_reason::no_buffer);
        return;
    }
    transport::write_outer(to.tmpl, outer, dvpe_len, static_cast<uint16_t>(to.udp_sport_base + _s.worker_idx * to.udp_sport_step));
    _stats.relayed.add();
    send(m, to.tx_port_id);
}

worker::slow_result worker::classify_slow(rte_mbuf* m, const uint8_t* frame, uint32_t len,
                                         const dataplane_snapshot& s) noexcept {
    const transport::classify_result c = transport::classify(frame, len, s.local);
    drop_reason r = drop_reason::bad_header;
    switch (c.reason) {
    case transport::classify_reason::ok:
        return {{c.dvpe_offset, c.dvpe_len}, false};
    case transport::classify_reason::not_ours:
        return {{}, false};  // ARP, echo to us, foreign traffic: the slow path decides
    case transport::classify_reason::bad_length:
    case transport::classify_reason::bad_udp_length:
        r = drop_reason::bad_length;
        break;
    case transport::classify_reason::bad_ip_header:
        r = drop_reason::bad_ip_header;
        break;
    case transport::classify_reason::fragment:
        // Taken by the reassembly table; a completed packet comes back as `whole`.
        return {{}, true, reassemble(m)};
    case transport::classify_reason::ipv6_ext_header:
        r = drop_reason::unhandled_protocol;
        break;
    case transport::classify_reason::bad_icmp:
        r = drop_reason::unhandled_icmp;
        break;
    case transport::classify_reason::disabled_transport:
        r = drop_reason::disabled_transport;
        break;
    }
    drop(m, r);
    return {{}, true};
}

void worker::ingress_burst(rte_mbuf** pkts, uint16_t n, const port_ctx& port, const dataplane_snapshot& s) noexcept {
    // Nothing cached from an earlier burst: that may have been an older snapshot.
    ingress_state st{{no_route_head, nullptr, nullptr, nullptr}, _n_open, _s.worker_idx, _s.benchmark_replay_off};
    for (uint16_t i = 0; i < n; ++i) {
        if (i + 3 < n) {
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 3], void*));
        }
        if (!ingress_dvpe(pkts[i], s, st)) {
            process_wan(pkts[i], port);
        }
    }
    _n_open = st.n_open;
    if (_n_open != 0) {
        open_flush(s);
    }
}

inline bool worker::ingress_dvpe(rte_mbuf* m, const dataplane_snapshot& s, ingress_state& st) noexcept {
    auto* frame = rte_pktmbuf_mtod(m, uint8_t*);
    const uint32_t len = rte_pktmbuf_data_len(m);
    // The expected shape (IPv4 to us on one of our transports) in a few compares; everything
    // else, and every reason to drop, is classify()'s.
    transport::dvpe_span d = transport::classify_fast(frame, len, s.local);
    if (d.dvpe_len == 0) {
        const slow_result r = classify_slow(m, frame, len, s);
        if (r.whole != nullptr) [[unlikely]] {
            // The last outer fragment of a packet: the whole packet goes through here again (it
            // is no fragment). Not a dvpe packet after all (say, UDP to another port): counted.
            if (!ingress_dvpe(r.whole, s, st)) {
                drop(r.whole, drop_reason::not_for_us);
            }
            return true;
        }
        if (r.d.dvpe_len == 0) {
            return r.dropped;
        }
        d = r.d;
    }
    uint8_t* dh = frame + d.dvpe_offset;
    const auto* h = reinterpret_cast<const transport::data_header*>(dh);
    // The first 8 bytes without the flags nibble: type, version, node ids, key id, lane. Equal to
    // the last packet's: it passed every check below up to the lane, and the lookups are known.
    const uint64_t head = transport::detail::load64(dh) & head_flags_mask;
    if (head != st.last.head) {
        if (d.dvpe_len < sizeof(transport::dvpe_header)) [[unlikely]] {
            drop(m, drop_reason::bad_length);
            return true;
        }
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
                relay(m, d.dvpe_offset, d.dvpe_len, *to);
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
        if (d.dvpe_len < transport::data_overhead) [[unlikely]] {
            drop(m, drop_reason::bad_length);
            return true;
        }
        const peer_entry* p = s.peer(src);
        if (p == nullptr) [[unlikely]] {
            drop(m, drop_reason::unknown_node);
            return true;
        }
        // The newest slot first; the last match wins, as key ids are unique per peer anyway.
        const rx_key_slot* slot = nullptr;
        for (unsigned k = limits::rx_keys_per_peer; k-- > 0;) {
            if (p->rx[k].key != nullptr && p->rx[k].key_id == h->key_id) {
                slot = &p->rx[k];
                break;
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
        st.last = rx_route{head, p, slot, &slot->windows->at(lane)};
    } else if (d.dvpe_len < transport::data_overhead) [[unlikely]] {
        drop(m, drop_reason::bad_length);  // the one check above that depends on more than `head`
        return true;
    }
    const uint64_t ctr = transport::counter(*h);
    lane_window* w = st.last.window;
    if (!w->w.would_accept(ctr) && !st.replay_off) {  // benchmark_replay_off: worker.hh
        drop(m, drop_reason::replayed);
        return true;
    }
    const unsigned i = st.n_open++;
    const auto payload_len = static_cast<uint16_t>(d.dvpe_len - transport::data_overhead);
    transport::store_nonce_from_header(_nonce[i].data(), dh);
    _aead[i] = crypto::aead_packet{dh + hdr_len, payload_len, hdr_len, dh, _nonce[i].data(), dh + hdr_len + payload_len};
    _open[i] = open_item{m, st.last.p, st.last.slot, w, ctr, d.dvpe_offset, payload_len,
                         (transport::flags(*h) & transport::data_flag_full_frame) != 0};
    if (st.n_open == max_items) [[unlikely]] {
        _n_open = st.n_open;
        open_flush(s);
        st.n_open = 0;
    }
    return true;
}

void worker::open_flush(const dataplane_snapshot& s) noexcept {
    const unsigned n = _n_open;
    _n_open = 0;
    uint64_t decrypted = 0;
    // Loaded once: the stores into packets below may alias anything for the compiler.
    const bool replay_off = _s.benchmark_replay_off;
    const bool has_overlay = s.has_overlay;
    const uint16_t overlay_port = s.overlay_port_id;
    // Per run of packets that share a receive key (and so a peer): one AEAD call, one update of
    // the peer's counters.
    for (unsigned i = 0; i < n;) {
        const rx_key_slot* slot = _open[i].slot;
        unsigned j = i + 1;
        while (j < n && _open[j].slot == slot) {
            ++j;
        }
        _crypto->open_burst(*slot->key, std::span<crypto::aead_packet>(&_aead[i], j - i),
                            std::span<uint8_t>(&_ok[i], j - i));
        const peer_entry& p = *_open[i].p;
        node_stats& ns = _peer_stats[p.node_id];
        std::array<uint8_t, mac_pair_len> macs;  // the rebuilt Ethernet addresses: us, the peer
        std::memcpy(macs.data(), &s.self_mac, RTE_ETHER_ADDR_LEN);
        std::memcpy(macs.data() + RTE_ETHER_ADDR_LEN, &p.mac, RTE_ETHER_ADDR_LEN);
        uint64_t rx_packets = 0;
        uint64_t rx_bytes = 0;
        bool authenticated = false;
        // The window of a lane is shared by every worker that may receive it: accept() runs under
        // its lock, taken once per run of packets from one sender lane (normally the whole run)
        // and held through the run's delivery.
        lane_window* held = nullptr;
        for (; i < j; ++i) {
            open_item& it = _open[i];
            rte_mbuf* m = it.m;
            if (!_ok[i]) {
                drop(m, drop_reason::auth_failed);
                continue;
            }
            lane_window* lw = it.window;
            if (lw != held) {
                if (held != nullptr) {
                    rte_spinlock_unlock(&held->lock);
                }
                rte_spinlock_lock(&lw->lock);
                held = lw;
            }
            // Only an authenticated counter moves the window (a forged one must not).
            if (!lw->w.accept(it.counter) && !replay_off) {
                // a duplicate within this burst, or a copy another worker took first
                drop(m, drop_reason::replayed);
                continue;
            }
            authenticated = true;
            if (it.payload_len == 0) {
                _stats.keepalives.add();
                ns.keepalives.add();
                const auto* kh = rte_pktmbuf_mtod_offset(m, const transport::data_header*, it.dvpe_offset);
                if (transport::flags(*kh) & transport::data_flag_close) [[unlikely]] {
                    ns.closes.add();  // the control thread takes the session down (feedback)
                }
                rte_pktmbuf_free(m);
                continue;
            }
            if (!has_overlay) [[unlikely]] {
                drop(m, drop_reason::no_overlay);
                continue;
            }
            if (m->nb_segs != 1) [[unlikely]] {
                keep_first_segment(m);
            }
            // Outer headers and data header off the front, the tag off the back, the MAC pair
            // back in front: one edit of data_off / data_len / pkt_len (adj + trim + prepend).
            const unsigned macs_len = it.full_frame ? 0 : mac_pair_len;
            const auto frame_len = static_cast<uint16_t>(it.payload_len + macs_len);
            m->data_off = static_cast<uint16_t>(m->data_off + it.dvpe_offset + hdr_len - macs_len);
            m->data_len = frame_len;
            m->pkt_len = frame_len;
            if (!it.full_frame) {
                std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), macs.data(), mac_pair_len);
            } else if (it.payload_len < sizeof(rte_ether_hdr)) [[unlikely]] {
                drop(m, drop_reason::bad_length);
                continue;
            }
            ++rx_packets;
            rx_bytes += frame_len;
            _out[rx_packets - 1] = m;  // sent together after the run, in order
        }
        if (held != nullptr) {
            rte_spinlock_unlock(&held->lock);
        }
        if (authenticated) {
            ns.last_rx_key_id.set(slot->key_id);
        }
        send_bulk(overlay_port, _out.data(), static_cast<unsigned>(rx_packets), rx_bytes);
        ns.rx_packets.add(rx_packets);
        ns.rx_bytes.add(rx_bytes);
        decrypted += rx_packets;
    }
    _stats.decrypted.add(decrypted);
}

}  // namespace engine
