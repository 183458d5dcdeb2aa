// SPDX-License-Identifier: MIT
// Ingress, WAN -> overlay (docs/protocol.md "Data message", "Lanes, nonces and replay";
// docs/design.md §1), per burst:
//   1. ingress_dvpe: the transport (transports/classify.hh: classify_fast, else classify_slow
//      with its drops; outer fragments go to the reassembly table, reassemble); handshakes to the
//      control thread; packets for another node relayed unchanged by routers (relay); data
//      packets checked (peer, key id, lane, replay window, with the lookups of the last header
//      cached for the run) and collected; anything not ours goes to the WAN host answers
//      (wan_host.cc);
//   2. open_flush: one AEAD call per run of packets under one receive key; the counter enters the
//      replay window only after the tag verified (the lane's window is shared by all workers,
//      under its lock); headers stripped, MACs rebuilt, delivered to the overlay port.
// Every packet leaves exactly one way (delivered, relayed, to control, or a named drop).
// Threads: the owning worker lcore only.
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "engine/worker.hh"
#include <rte_ip.h>
#include <rte_ip_frag.h>

#include "transports/classify.hh"
#include "transports/stream.hh"
#include "transports/control_msg.hh"
#include "transports/outer.hh"
#include "transports/wire.hh"

namespace engine {

namespace {

constexpr uint16_t mac_pair_len = 2 * RTE_ETHER_ADDR_LEN;
constexpr uint16_t hdr_len = sizeof(transport::data_header);

/// First 8 bytes of a data header as ingress_dvpe() compares them: the flags nibble masked off.
constexpr uint64_t head_flags_mask =
    ~transport::detail::bytes_word(0, transport::data_flag_full_frame, 0, 0, 0, 0, 0, 0);
/// The key of an empty rx_route cache: a flag bit set, so no masked head can equal it.
constexpr uint64_t no_route_head = ~head_flags_mask;
static_assert(no_route_head != 0 && (no_route_head & head_flags_mask) == 0);

}  // namespace

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
    transport::write_outer(to.tmpl, outer, dvpe_len, to.udp_sport(_s.worker_idx));
    _stats.relayed.add();
    send(m, to.tx_port_id);
}

// A packet to relay to a peer we have no direct session with (cold): the control thread queues
// it as it is (max-queue / max-ttl of the destination) and sends it when the session is up, and
// the control thread makes the session manager connect to it. A destination without any entry
// yet (no key, no path: an address-less node we have not heard from) goes there too; the
// control thread drops a node it does not know. Without a queue (benchmark mode): no_route.
void worker::relay_wait(rte_mbuf* m, const peer_entry* to, const dataplane_snapshot& s) noexcept {
    // At a bounded rate: anyone can send packets "for" any node (a router cannot check them),
    // and they share the control ring with handshakes.
    if (!s.queue_without_session || !_relay_limit.take(rte_rdtsc(), 1)) {
        drop(m, drop_reason::no_route);
        return;
    }
    if (to != nullptr) {
        _peer_stats[to->node_id].no_session.add();  // demand, as for overlay frames
    }
    to_control(m);  // the control thread tells it from a handshake by the destination id
}

// Control messages are rare (mediated connections: a few per peer and minute) and the control
// thread parses them; here only the length and the shared hand-over rate are checked, since an
// authenticated peer can still send many.
void worker::control_message(rte_mbuf* m, const open_item& it, const peer_entry& p,
                             const dataplane_snapshot& s) noexcept {
    if (it.payload_len > transport::max_control_size || m->nb_segs != 1 || !s.queue_without_session ||
        !_relay_limit.take(rte_rdtsc(), 1)) [[unlikely]] {
        drop(m, drop_reason::bad_control);
        return;
    }
    m->data_off = static_cast<uint16_t>(m->data_off + it.dvpe_offset + sizeof(transport::data_header));
    m->data_len = it.payload_len;
    m->pkt_len = it.payload_len;
    m->port = RTE_MBUF_PORT_INVALID;
    m->hash.usr = control_msg_mark | p.node_id;
    to_control(m);
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
        return {{}, false};  // no transport of ours uses them: the slow path (exception path) decides
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
    ingress_state st{{no_route_head, nullptr, nullptr, nullptr}, _n_open, _s.worker_idx, _s.benchmark_replay_off, &port};
    if (port.role == port_role::stream) [[unlikely]] {
        // From the tcp slow path: every packet is a dvpe packet or a counted drop.
        for (uint16_t i = 0; i < n; ++i) {
            ingress_dvpe<true>(pkts[i], s, st);
        }
    } else {
        // Many peers: each packet's sender state is loaded ahead in three steps, each needing
        // what the one before loaded: its peer entry prefetch_far packets ahead, its key object
        // and replay window prefetch_near ahead, its expanded key at its lookup (ingress_dvpe;
        // the AEAD reads it at the end of the burst).
        // The header offset of the last burst's packets primes the first steps of this one; the
        // packet data, which the steps peek at, is fetched one packet before the first step.
        st.prefetch = s.prefetch_peers();
        unsigned data_ahead = 3;
        if (st.prefetch) {
            data_ahead = prefetch_far + 1;
            st.dvpe_offset = _rx_dvpe_offset;
            if (st.dvpe_offset != 0) {
                for (uint16_t j = 0; j < std::min<unsigned>(n, prefetch_far); ++j) {
                    prefetch_sender(pkts[j], st, s);
                }
                for (uint16_t j = 0; j < std::min<unsigned>(n, prefetch_near); ++j) {
                    prefetch_window(pkts[j], st, s);
                }
            }
        }
        for (uint16_t i = 0; i < n; ++i) {
            if (st.prefetch && st.dvpe_offset != 0) {
                if (i + prefetch_far < n) {
                    prefetch_sender(pkts[i + prefetch_far], st, s);
                }
                if (i + prefetch_near < n) {
                    prefetch_window(pkts[i + prefetch_near], st, s);
                }
            }
            if (i + data_ahead < n) {
                rte_prefetch0(rte_pktmbuf_mtod(pkts[i + data_ahead], void*));
            }
            if (!ingress_dvpe<false>(pkts[i], s, st)) {
                process_wan(pkts[i], port);
            }
        }
    }
    _n_open = st.n_open;
    _rx_dvpe_offset = st.dvpe_offset;
    if (_n_open != 0) {
        open_flush(s);
    }
}

namespace {

/// The data header of m if it sits at `offset` (the last classified packet's: a burst's packets
/// share their transport), else nullptr. For prefetching only: nothing is checked but the length.
inline const transport::data_header* peek_header(const rte_mbuf* m, uint32_t offset) noexcept {
    if (rte_pktmbuf_data_len(m) < offset + sizeof(transport::data_header)) {
        return nullptr;
    }
    return reinterpret_cast<const transport::data_header*>(rte_pktmbuf_mtod(m, const uint8_t*) + offset);
}

/// note_source()'s common case, inline: an IPv4 packet from the address the peer's IPv4 path
/// sends to, on a path that does not follow the port. False: note_source() decides (its own
/// first test is this one, for every family).
[[gnu::always_inline]] inline bool same_source4(const rte_mbuf* m, const peer_entry& p) noexcept {
    if (p.follow_port || p.tmpl.len == 0 || transport::is_ipv6(p.tmpl.k)) {
        return false;
    }
    const auto* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, sizeof(rte_ether_hdr));
    return (ip[0] >> 4U) == 4 && std::memcmp(ip + 12, p.tmpl.bytes + sizeof(rte_ether_hdr) + 16, 4) == 0;
}

}  // namespace

void worker::prefetch_sender(const rte_mbuf* m, ingress_state& st, const dataplane_snapshot& s) noexcept {
    const transport::data_header* h = peek_header(m, st.dvpe_offset);
    if (h == nullptr) {
        return;
    }
    const uint16_t src = transport::src_id(*h);
    if (src == st.sender_ahead || src >= s.peers.size()) {
        return;  // the same sender as the packet before (its lines are on their way), or none
    }
    st.sender_ahead = src;
    const auto* p = reinterpret_cast<const uint8_t*>(&s.peers[src]);
    rte_prefetch0(p);       // node id and the first receive key slots
    rte_prefetch0(p + 64);  // the other slots
    rte_prefetch0(&_peer_stats[src]);
}

void worker::prefetch_window(const rte_mbuf* m, ingress_state& st, const dataplane_snapshot& s) noexcept {
    const transport::data_header* h = peek_header(m, st.dvpe_offset);
    if (h == nullptr) {
        return;
    }
    const uint64_t head = transport::detail::load64(reinterpret_cast<const uint8_t*>(h)) & head_flags_mask;
    if (head == st.window_ahead) {
        return;  // the same sender, key and lane as the packet before
    }
    st.window_ahead = head;
    const uint16_t src = transport::src_id(*h);
    const uint16_t lane = transport::lane(*h);
    if (src == 0 || src >= s.peers.size() || lane >= limits::max_lanes) {
        return;
    }
    const rx_key_slot* r = s.peers[src].rx_slot(h->key_id);  // its lines: prefetch_sender(), earlier
    if (r == nullptr) {
        return;
    }
    rte_prefetch0(r->key);  // read at the packet's lookup (aead_key::prefetch), then by the AEAD
    const lane_window& w = r->windows[lane];
    if (_s.shared_replay_windows) {
        rte_prefetch0(&w.lock);  // a line of its own; not read by the process's only worker
    }
    w.w.prefetch(transport::counter(*h));
}

template <bool Stream>
inline bool worker::ingress_dvpe(rte_mbuf* m, const dataplane_snapshot& s, ingress_state& st) noexcept {
    auto* frame = rte_pktmbuf_mtod(m, uint8_t*);
    const uint32_t len = rte_pktmbuf_data_len(m);
    // The expected shape (IPv4 to us on one of our transports) in a few compares; everything
    // else, and every reason to drop, is classify()'s.
    transport::dvpe_span d{};
    if constexpr (!Stream) {
        d = transport::classify_fast(frame, len, s.local);
    } else {
        // From the tcp slow path: a ring header, no Ethernet (transports/stream.hh). The port
        // is set here, not trusted from the producer: note_source and the control thread's
        // classify_mbuf tell stream packets by it.
        m->port = st.port->port_id;
        const transport::classify_result c = transport::classify_stream(frame, len, s.local);
        if (c.reason != transport::classify_reason::ok) {
            drop(m, c.reason == transport::classify_reason::disabled_transport ? drop_reason::disabled_transport
                                                                                : drop_reason::bad_length);
            return true;
        }
        d = {c.dvpe_offset, c.dvpe_len};
    }
    if (!Stream && d.dvpe_len == 0) {  // (classify_stream's ok is a whole dvpe header)
        const slow_result r = classify_slow(m, frame, len, s);
        if (r.whole != nullptr) [[unlikely]] {
            // The last outer fragment of a packet: the whole packet goes through here again (it
            // is no fragment). Not a dvpe packet after all (say, UDP to another port): the WAN
            // slow path's (the kernel's, through the exception path, or counted).
            if (!ingress_dvpe<false>(r.whole, s, st)) {
                process_wan(r.whole, *st.port);
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
        if (src == s.self_id) [[unlikely]] {
            // Our own packet come back (a host that answers our echo requests copies it into
            // its reply) or a forgery: never ours to take, never relayed -- a router would send
            // it back there, and the echo would go round for ever.
            drop(m, drop_reason::unknown_node);
            return true;
        }
        if (dst != s.self_id) {
            const peer_entry* to = s.peer(dst);
            if (!s.router) {
                drop(m, drop_reason::not_router);
            } else if (to == nullptr || !to->tx_ready || to->routed) [[unlikely]] {
                relay_wait(m, to, s);
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
        const rx_key_slot* slot = p->rx_slot(h->key_id);
        if (slot == nullptr) [[unlikely]] {
            drop(m, drop_reason::unknown_key);
            return true;
        }
        const uint16_t lane = transport::lane(*h);
        if (lane >= limits::max_lanes) [[unlikely]] {
            drop(m, drop_reason::bad_header);
            return true;
        }
        st.last = rx_route{head, p, slot, &slot->windows[lane]};
        st.dvpe_offset = d.dvpe_offset;  // the prefetch steps' guess for the packets after it
        if (st.prefetch) {
            slot->key->prefetch();  // its object came in with prefetch_window()
        }
    } else if (d.dvpe_len < transport::data_overhead) [[unlikely]] {
        drop(m, drop_reason::bad_length);  // the one check above that depends on more than `head`
        return true;
    }
    const uint64_t ctr = transport::counter(*h);
    lane_window* w = st.last.window;
    if (!w->w.would_accept(ctr) && !st.replay_off) [[unlikely]] {  // benchmark_replay_off: worker.hh
        _peer_stats[st.last.p->node_id].replayed.add();
        drop(m, drop_reason::replayed);
        return true;
    }
    const unsigned i = st.n_open++;
    const auto payload_len = static_cast<uint16_t>(d.dvpe_len - transport::data_overhead);
    transport::store_nonce_from_header(_nonce[i].data(), dh);
    _aead[i] = crypto::aead_packet{dh + hdr_len, payload_len, hdr_len, dh, _nonce[i].data(), dh + hdr_len + payload_len};
    _open[i] = open_item{m, st.last.p, st.last.slot, w, ctr, d.dvpe_offset, payload_len,
                         transport::flags(*h)};
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
    const bool shared = _s.shared_replay_windows;  // else no other thread accepts into a window
    const bool has_overlay = s.has_overlay;
    const uint16_t overlay_port = s.overlay_port_id;
    const bool lan = s.lan_mode != pmd::overlay_mode::host;  // a site LAN: lan_deliver() (lan.cc)
    // The AEAD first (the aead stage of the stage clock, engine/stage_clock.hh): one call per run
    // of packets under one receive key, or, when runs are short (many peers: often a single
    // packet), one call for all packets, each under its own key (open_multi); then per run of
    // packets that share a receive key (and so a peer) the delivery and one update of the peer's
    // counters.
    _clk.flush_begin();
    // Runs of packets under one receive key (and so from one peer), found once: their ends for
    // the delivery below, each packet's key for open_multi.
    unsigned runs = 0;
    for (unsigned i = 0; i < n; ++runs) {
        const rx_key_slot* slot = _open[i].slot;
        const crypto::aead_key* key = slot->key;
        _rx_keys[i] = key;
        unsigned j = i + 1;
        while (j < n && _open[j].slot == slot) {
            _rx_keys[j++] = key;
        }
        _run_end[i] = static_cast<uint16_t>(j);
        i = j;
    }
    unsigned calls = 1;
    if (runs * 4 <= n) {
        // Long runs (few peers): one call per run, without a key lookup per packet.
        calls = runs;
        for (unsigned i = 0; i < n; i = _run_end[i]) {
            const unsigned j = _run_end[i];
            _crypto->open_burst(*_rx_keys[i], std::span<crypto::aead_packet>(&_aead[i], j - i),
                                std::span<uint8_t>(&_ok[i], j - i));
        }
    } else {
        _crypto->open_multi(std::span<crypto::aead_packet>(_aead.data(), n), _rx_keys.data(),
                            std::span<uint8_t>(_ok.data(), n));
    }
    _clk.aead_done(n, calls);
    // Frames for the overlay port, from every run, leave together at the end (in order): with
    // many peers a run is often one packet, and a send per run cost more than the packet.
    unsigned n_out = 0;
    uint64_t out_bytes = 0;
    for (unsigned i = 0; i < n;) {
        const rx_key_slot* slot = _open[i].slot;
        const unsigned j = _run_end[i];
        const peer_entry& p = *_open[i].p;
        node_stats& ns = _peer_stats[p.node_id];
        std::array<uint8_t, mac_pair_len> macs;  // the rebuilt Ethernet addresses: us, the peer
        std::memcpy(macs.data(), &s.self_mac, RTE_ETHER_ADDR_LEN);
        std::memcpy(macs.data() + RTE_ETHER_ADDR_LEN, &p.mac, RTE_ETHER_ADDR_LEN);
        uint64_t rx_packets = 0;
        uint64_t rx_bytes = 0;
        uint64_t lan_packets = 0, lan_bytes = 0;
        bool authenticated = false;
        // The window of a lane is shared by every worker that may receive it: accept() runs under
        // its lock, taken once per run of packets from one sender lane (normally the whole run)
        // and held through the run's delivery -- unless this is the process's only worker.
        lane_window* held = nullptr;
        for (; i < j; ++i) {
            open_item& it = _open[i];
            rte_mbuf* m = it.m;
            if (!_ok[i]) [[unlikely]] {
                ns.auth_failed.add();
                drop(m, drop_reason::auth_failed);
                continue;
            }
            lane_window* lw = it.window;
            if (lw != held && shared) {
                if (held != nullptr) {
                    rte_spinlock_unlock(&held->lock);
                }
                rte_spinlock_lock(&lw->lock);
                held = lw;
            }
            // Only an authenticated counter moves the window (a forged one must not).
            if (!lw->w.accept(it.counter) && !replay_off) [[unlikely]] {
                // a duplicate within this burst, or a copy another worker took first
                ns.replayed.add();
                drop(m, drop_reason::replayed);
                continue;
            }
            if (!authenticated) {
                authenticated = true;
                // Once per run, before the outer headers go.
                if (m->port != _stream_port) [[likely]] {
                    if (!same_source4(m, p)) {
                        note_source(m, p, ns);
                    }
                } else {
                    note_stream_source(m, p, ns);
                }
            }
            const bool full_frame = (it.flags & transport::data_flag_full_frame) != 0;
            if ((it.payload_len == 0) | ((it.flags & transport::data_flag_control) != 0)) [[unlikely]] {
                if (it.flags & transport::data_flag_control) {
                    control_message(m, it, p, s);
                    continue;
                }
                _stats.keepalives.add();
                ns.keepalives.add();
                if (it.flags & transport::data_flag_close) [[unlikely]] {
                    ns.closes.add();  // the control thread takes the session down (feedback)
                }
                rte_pktmbuf_free(m);
                continue;
            }
            if (!has_overlay && !lan) [[unlikely]] {
                drop(m, drop_reason::no_overlay);
                continue;
            }
            if (m->nb_segs != 1) [[unlikely]] {
                keep_first_segment(m);
            }
            // Outer headers and data header off the front, the tag off the back, the MAC pair
            // back in front: one edit of data_off / data_len / pkt_len (adj + trim + prepend).
            const unsigned macs_len = full_frame ? 0 : mac_pair_len;
            const auto frame_len = static_cast<uint16_t>(it.payload_len + macs_len);
            m->data_off = static_cast<uint16_t>(m->data_off + it.dvpe_offset + hdr_len - macs_len);
            m->data_len = frame_len;
            m->pkt_len = frame_len;
            if (!full_frame) {
                std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), macs.data(), mac_pair_len);
            } else if (it.payload_len < sizeof(rte_ether_hdr)) [[unlikely]] {
                drop(m, drop_reason::bad_length);
                continue;
            } else if (s.macs != nullptr && !lan) {
                // Foreign MACs on a TAP node: where they live (hosts behind a bridge gateway).
                const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
                if (!mac_key_is_group(mac_key(eth->src_addr.addr_bytes)) && !learn_from_peer(eth, p, s)) {
                    drop(m, drop_reason::mac_conflict);
                    continue;
                }
            }
            if (lan) [[unlikely]] {
                if (frame_len < sizeof(rte_ether_hdr)) [[unlikely]] {
                    drop(m, drop_reason::bad_length);  // a compact frame of 1 byte: no runts on a LAN
                    continue;
                }
                if (lan_deliver(m, p, s, full_frame)) {
                    ++lan_packets;
                    lan_bytes += frame_len;
                }
                continue;
            }
            ++rx_packets;
            rx_bytes += frame_len;
            _out[n_out++] = m;  // sent together after the last run, in order
        }
        if (held != nullptr) {
            rte_spinlock_unlock(&held->lock);
        }
        if (authenticated) {
            ns.last_rx_key_id.set(slot->key_id);
        }
        out_bytes += rx_bytes;
        rx_packets += lan_packets;
        rx_bytes += lan_bytes;
        ns.rx_packets.add(rx_packets);
        ns.rx_bytes.add(rx_bytes);
        decrypted += rx_packets;
    }
    if (n_out != 0) {
        send_bulk(overlay_port, _out.data(), n_out, out_bytes);
    }
    _stats.decrypted.add(decrypted);
    _clk.flush_end();
}

void worker::note_source(const rte_mbuf* m, const peer_entry& p, node_stats& ns) noexcept {
    // The outer IP header follows the Ethernet header (classify() takes nothing else); the
    // source address is at a fixed offset in both families, options and extension headers
    // after it. The path's destination is the template's.
    const auto* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, sizeof(rte_ether_hdr));
    const bool v6 = (ip[0] >> 4U) == 6;
    const uint8_t* src = ip + (v6 ? 8 : 12);
    const bool path_v6 = transport::is_ipv6(p.tmpl.k) && p.tmpl.len != 0;
    const uint8_t* dst = p.tmpl.bytes + sizeof(rte_ether_hdr) + (path_v6 ? 24 : 16);
    if (v6 == path_v6 && p.tmpl.len != 0 && std::memcmp(src, dst, v6 ? 16 : 4) == 0) [[likely]] {
        if (!p.follow_port) [[likely]] {
            return;
        }
        // A peer reached at the port it sends from (behind a NAT): a NAT that rebinds only the
        // port moves it too. The template's UDP destination port against the packet's source;
        // for icmp the echo identifier we answer with against the one the request carries.
        const size_t l4 = v6 ? sizeof(rte_ipv6_hdr) : static_cast<size_t>(ip[0] & 0xfU) * 4;
        const uint8_t* tmpl_l4 = dst + (v6 ? 16 : 4);
        const uint8_t proto = v6 ? ip[6] : ip[9];
        if (proto == IPPROTO_UDP) {
            if (std::memcmp(ip + l4, tmpl_l4 + 2, 2) == 0) {
                return;
            }
        } else if (proto != IPPROTO_ICMP && proto != IPPROTO_ICMPV6) {
            return;
        } else if (std::memcmp(ip + l4 + 4, tmpl_l4 + 4, 2) == 0) {
            return;
        }
    }
    // Elsewhere: a roaming peer, a router relaying it, or a peer without a path yet. The
    // control thread decides (control/daemon/daemon_sessions.cc on_roam_report).
    uint64_t lo = 0, hi = 0;
    std::memcpy(&lo, src, v6 ? 8 : 4);
    if (v6) {
        std::memcpy(&hi, src + 8, 8);
    }
    const uint8_t proto = v6 ? ip[6] : ip[9];
    const size_t l4 = v6 ? sizeof(rte_ipv6_hdr) : static_cast<size_t>(ip[0] & 0xfU) * 4;
    transport::kind k;
    uint16_t sport = 0;
    uint64_t icmp_request = 0;
    if (proto == IPPROTO_UDP) {
        k = v6 ? transport::kind::udp6 : transport::kind::udp4;
        sport = rte_be_to_cpu_16(*reinterpret_cast<const rte_be16_t*>(ip + l4));
    } else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
        // The identifier is where a NAT keeps the mapping (the "port" of an echo), and whether
        // it came as a request decides how we answer (control/daemon/paths.hh icmp_for()).
        k = v6 ? transport::kind::icmp6 : transport::kind::icmp4;
        sport = rte_be_to_cpu_16(*reinterpret_cast<const rte_be16_t*>(ip + l4 + 4));
        if (ip[l4] == (v6 ? transport::icmp6_echo_request : transport::icmp_echo_request)) {
            icmp_request = roam_meta_icmp_request;
        }
    } else {
        k = v6 ? transport::kind::rawip6 : transport::kind::rawip4;
    }
    write_roam_report(ns, lo, hi,
                      (v6 ? roam_meta_v6 : 0) | icmp_request | uint64_t{static_cast<uint8_t>(k)} << 8U |
                          uint64_t{m->port} << 16U |
                          uint64_t{sport} << 32U);
}

void worker::note_stream_source(const rte_mbuf* m, const peer_entry& p, node_stats& ns) noexcept {
    // Both ring headers (the packet's, checked by classify_stream, and the path template's)
    // read by the one parser (transports/stream.hh); once per run.
    const auto got = transport::read_stream_meta(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m));
    const auto path = transport::read_stream_meta(p.tmpl.bytes, transport::stream_meta_size);
    if (!got || !path || !transport::is_tcp(path->k) || (path->flags & transport::stream_flag_connect) != 0 ||
        (got->k == path->k && got->ip == path->ip && got->port == path->port)) [[likely]] {
        return;
    }
    uint64_t lo = 0, hi = 0;
    std::memcpy(&lo, got->ip.bytes.data(), got->ip.v6 ? 8 : 4);
    if (got->ip.v6) {
        std::memcpy(&hi, got->ip.bytes.data() + 8, 8);
    }
    write_roam_report(ns, lo, hi,
                      (got->ip.v6 ? roam_meta_v6 : 0) | uint64_t{static_cast<uint8_t>(got->k)} << 8U |
                          uint64_t{m->port} << 16U | uint64_t{got->port} << 32U);
}

rte_mbuf* worker::reassemble(rte_mbuf* m) noexcept {
    _stats.fragments_in.add();
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    m->l2_len = sizeof(rte_ether_hdr);
    rte_mbuf* whole = nullptr;
    const uint64_t now = rte_rdtsc();
    if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4)) {
        auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
        m->l3_len = rte_ipv4_hdr_len(ip);
        whole = rte_ipv4_frag_reassemble_packet(_frag_tbl, &_death_row, m, now, ip);
        if (whole != nullptr) {
            // The library leaves the checksum 0; classify() checks it.
            auto* wip = rte_pktmbuf_mtod_offset(whole, rte_ipv4_hdr*, whole->l2_len);
            wip->hdr_checksum = 0;
            wip->hdr_checksum = rte_ipv4_cksum(wip);
        }
    } else {
        // classify() returns `fragment` for IPv6 only with the fragment header right after the
        // IPv6 header.
        auto* ip = reinterpret_cast<rte_ipv6_hdr*>(eth + 1);
        m->l3_len = sizeof(rte_ipv6_hdr) + sizeof(rte_ipv6_fragment_ext);
        whole = rte_ipv6_frag_reassemble_packet(_frag_tbl, &_death_row, m, now, ip,
                                                reinterpret_cast<rte_ipv6_fragment_ext*>(ip + 1));
    }
    if (_death_row.cnt != 0) {
        rte_ip_frag_free_death_row(&_death_row, 0);  // bad, duplicate or timed-out fragments
    }
    if (whole == nullptr) {
        return nullptr;  // kept until the rest arrives (or freed above)
    }
    _stats.reassembled.add();
    if (whole->nb_segs > 1 && rte_pktmbuf_linearize(whole) != 0) [[unlikely]] {
        drop(whole, drop_reason::no_buffer);  // larger than one mbuf's data room
        return nullptr;
    }
    return whole;
}

}  // namespace engine
