// SPDX-License-Identifier: MIT
// Egress, overlay -> WAN (docs/protocol.md "Data message"; docs/design.md §1), per burst:
//   1. egress_burst: each frame by destination MAC -- a node MAC fe:fd:80:00:HH:LL -> that node
//      (the last frame's MAC pair and peer are cached for the next); broadcast/multicast -> one
//      copy per peer with a session; no session -> queued by the control thread or dropped;
//   2. seal_one: the sealer (engine/seal.hh) elides the MAC pair where the rule allows, puts the
//      data and outer headers in front and takes this lane's counter; a frame above the peer's
//      MTU is answered with ICMP "too big" (answer_too_big) unless wan-fragment is on;
//   3. seal_flush: one AEAD call per run of frames to one peer, outer headers written, buffered
//      for tx on the peer's port (tx_sink); wan-fragment packets leave as outer fragments
//      (send_fragments).
// Every frame leaves exactly one way (sent, queued for control, or a named drop).
// Threads: the owning worker lcore only.
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "engine/worker.hh"
#include "engine/too_big.hh"
#include "transports/fragment.hh"
#include "transports/kind.hh"
#include "transports/outer.hh"

namespace engine {

namespace {

/// Node id of an overlay MAC fe:fd:80:00:HH:LL (GVPE's scheme), 0 if it is not one.
inline uint16_t node_of_mac(const rte_ether_addr& a) noexcept {
    const uint8_t* b = a.addr_bytes;
    static constexpr uint8_t prefix[4] = {0xfe, 0xfd, 0x80, 0x00};
    uint32_t head, want;
    std::memcpy(&head, b, 4);  // one compare of the four prefix bytes (was four: 10 instructions)
    std::memcpy(&want, prefix, 4);
    if (head != want) {
        return 0;
    }
    return static_cast<uint16_t>(b[4] << 8 | b[5]);
}

/// A node MAC as the source half of a frame's first 12 bytes loaded as a 64-bit word (bytes 0-7:
/// destination and the first two source bytes) and a 32-bit word (source bytes 2-5).
struct self_src_words {
    uint64_t lo_mask = 0, lo = 0;
    uint32_t hi = 0;
    explicit self_src_words(const rte_ether_addr& mac) noexcept {
        const uint8_t* b = mac.addr_bytes;
        const uint8_t m[8] = {0, 0, 0, 0, 0, 0, 0xff, 0xff};
        const uint8_t l[8] = {0, 0, 0, 0, 0, 0, b[0], b[1]};
        std::memcpy(&lo_mask, m, 8);
        std::memcpy(&lo, l, 8);
        std::memcpy(&hi, b + 2, 4);
    }
    [[nodiscard]] bool is_source_of(uint64_t macs_lo, uint32_t macs_hi) const noexcept {
        return (macs_lo & lo_mask) == lo && macs_hi == hi;
    }
};

}  // namespace

// The worker's end of the sealer (engine/seal.hh): its tx buffers and per-node counters.
struct worker::tx_sink {
    worker& w;
    void aead_done(unsigned n, unsigned calls) noexcept { w._clk.aead_done(n, calls); }
    void send(uint16_t port_id, rte_mbuf* const* pkts, unsigned n, uint64_t wire_bytes) noexcept {
        w.send_bulk(port_id, pkts, n, wire_bytes);
    }
    void send_fragments(rte_mbuf* m, const peer_entry& p) noexcept { w.send_fragments(m, p); }
    void sealed(const peer_entry& p, unsigned n, uint64_t frame_bytes) noexcept {
        node_stats& ns = w._peer_stats[p.node_id];
        ns.tx_packets.add(n);
        ns.tx_bytes.add(frame_bytes);
        ns.tx_counter.set(w._sealer.next_counter(p.node_id));
    }
};

void worker::seal_flush() noexcept {
    tx_sink sink{*this};
    _clk.flush_begin();
    _sealer.flush(*_crypto, sink);
    _clk.flush_end();
}

void worker::local_copy(const rte_mbuf* m, uint16_t port_id) noexcept {
    rte_mbuf* c = rte_pktmbuf_copy(m, _s.pool, 0, UINT32_MAX);
    if (c == nullptr) [[unlikely]] {
        return;  // the original goes its own way; the copy was never received
    }
    _stats.local_copies.add();
    send(c, port_id);
}

bool worker::flood(rte_mbuf* m, const port_ctx& from, const dataplane_snapshot& s) noexcept {
    // The TAP and a bridged LAN beside it are one segment with the mesh: each gets a copy of
    // what the other floods (never the port it came from: no hairpin).
    if (s.lan_mode == pmd::overlay_mode::bridge && s.has_overlay) {
        if (from.mode == pmd::overlay_mode::host && from.port_id != s.lan_port_id) {
            local_copy(m, s.lan_port_id);
        } else if (from.mode == pmd::overlay_mode::bridge && s.overlay_port_id != from.port_id) {
            local_copy(m, s.overlay_port_id);
        }
    }
    const uint64_t now = rte_rdtsc();
    if (s.broadcast_to.size() + 1 < s.peers.size() && now >= _next_demand_scan) [[unlikely]] {
        // Some peers have no session: tell the control thread there is demand (ondemand
        // peers connect on it, e.g. on the ARP request that precedes any unicast). A scan of
        // every peer, so at most every 10 ms (control reads the counters every 50 ms).
        _next_demand_scan = now + rte_get_tsc_hz() / 100;
        for (const peer_entry& p : s.peers) {
            if (p.node_id != 0 && !p.tx_ready) {
                _peer_stats[p.node_id].no_session.add();
            }
        }
    }
    // Thousands of peers make one frame thousands of copies on this worker: a flood over the
    // budget is dropped whole, before any copy (engine/flood_budget.hh).
    // Copies for peers without a session go to the control ring, which handshakes share: at a
    // bounded rate of their own (whole or none per frame; without them the frame still goes to
    // the peers with a session, and those without still count demand).
    size_t queue_copies = s.queue_without_session ? s.queue_flood_for.size() : 0;
    if (queue_copies != 0 && !_queue_copy_limit.take(now, queue_copies)) [[unlikely]] {
        queue_copies = 0;
    }
    if (!_flood_budget.take(now, s.broadcast_to.size() + queue_copies)) [[unlikely]] {
        drop(m, drop_reason::flood_budget);
        return false;
    }
    // One sealed copy per peer with a session (as GVPE's N-1 unicasts). A copy that cannot be
    // sealed is counted by its drop reason and in copies_lost: it was never received, so
    // accounted() takes it out again.
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
    // A copy for each peer without a session goes to the control thread, which queues it
    // (max-queue, max-ttl) and connects: a broadcast reaches them once they are up (issue 15
    // point 3). Copies are not received packets: they are not in to_control.
    bool queued_any = false;
    for (size_t k = 0; k < queue_copies; ++k) {
        const uint16_t id = s.queue_flood_for[k];
        rte_mbuf* c = rte_pktmbuf_copy(m, _s.pool, 0, UINT32_MAX);
        if (c == nullptr) [[unlikely]] {
            _stats.drop(drop_reason::no_buffer);
            ++lost;
            continue;
        }
        c->hash.usr = id;
        _peer_stats[id].no_session.add();
        if (rte_ring_mp_enqueue(_s.to_control, c) != 0) [[unlikely]] {
            drop(c, drop_reason::control_ring_full);
            ++lost;
            continue;
        }
        queued_any = true;
    }
    if (lost != 0) [[unlikely]] {
        _stats.copies_lost.add(lost);
    }
    if (sent_any) {
        rte_pktmbuf_free(m);
    } else if (queued_any) {
        rte_pktmbuf_free(m);
        _stats.to_control.add();  // the frame's one way out: its copies wait at control
    } else {
        drop(m, drop_reason::no_session);
    }
    return sent_any;
}

const peer_entry* worker::prefetch_peer(const rte_mbuf* m, const peer_entry* last,
                                        const dataplane_snapshot& s) noexcept {
    if (rte_pktmbuf_data_len(m) < RTE_ETHER_ADDR_LEN) [[unlikely]] {
        return nullptr;
    }
    const uint16_t id = node_of_mac(*rte_pktmbuf_mtod(m, const rte_ether_addr*));
    if (id == 0 || id >= s.peers.size()) {
        return nullptr;  // broadcast, a bridged host, nobody: egress_burst's business
    }
    const peer_entry* p = &s.peers[id];
    if (p == last) {
        return p;  // its lines are on their way
    }
    rte_prefetch0(p);
    rte_prefetch0(&p->tmpl);
    rte_prefetch0(&_peer_stats[id]);
    _sealer.prefetch_lane(id);
    return p;
}

void worker::egress_burst(rte_mbuf** pkts, uint16_t n, const port_ctx& port, const dataplane_snapshot& s) noexcept {
    uint64_t encrypted = 0;
    _tx_last.p = nullptr;  // the lookup of an earlier burst may belong to an older snapshot
    _tx_last_src = ~uint64_t{0};
    _egress_port = port.port_id;
    // Bridge mode (docs/site-gateways.md): the MAC table, and whether this port is the LAN.
    const mac_table* macs = s.macs;
    const bool from_lan = macs != nullptr && port.mode == pmd::overlay_mode::bridge;
    uint16_t last_owner = 0;  // the peer the MAC table gave last (0: none yet), and its entry
    const peer_entry* last_owner_p = nullptr;
    // Our node MAC as a source, in the words a frame's MAC pair is loaded as (below): bytes 6-7
    // of the first word, and the second word.
    const self_src_words self_src(s.self_mac);
    // Many peers (from the TAP: node MACs): each frame's peer state is loaded ahead in three
    // steps, each needing what the one before loaded -- the peer entry prefetch_far frames
    // ahead, its send key object prefetch_near ahead, the key's lines (read by the AEAD at the
    // flush) now.
    const bool prefetch = !from_lan && s.prefetch_peers() && n <= limits::max_burst;
    std::array<const peer_entry*, limits::max_burst> ahead;  // [i]: frame i's peer (prefetch only)
    // The frame data, which the first step peeks at, one frame before it.
    const unsigned data_ahead = prefetch ? prefetch_far + 1 : 3;
    if (prefetch) {
        for (uint16_t i = 0; i < std::min<uint16_t>(n, prefetch_far); ++i) {
            ahead[i] = prefetch_peer(pkts[i], i != 0 ? ahead[i - 1] : nullptr, s);
        }
        for (uint16_t i = 0; i < std::min<uint16_t>(n, prefetch_near); ++i) {
            if (ahead[i] != nullptr && ahead[i]->tx_key != nullptr) {
                rte_prefetch0(ahead[i]->tx_key);  // the first frames' keys: the loop's step two skips them
            }
        }
    }
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        if (prefetch) {
            // (a frame to the same peer as the one before: nothing new to load)
            if (ahead[i] != nullptr && ahead[i]->tx_key != nullptr && (i == 0 || ahead[i] != ahead[i - 1])) {
                ahead[i]->tx_key->prefetch();
            }
            if (i + prefetch_near < n && ahead[i + prefetch_near] != nullptr &&
                ahead[i + prefetch_near] != ahead[i + prefetch_near - 1] &&
                ahead[i + prefetch_near]->tx_key != nullptr) {
                rte_prefetch0(ahead[i + prefetch_near]->tx_key);
            }
            if (i + prefetch_far < n) {
                ahead[i + prefetch_far] = prefetch_peer(pkts[i + prefetch_far], ahead[i + prefetch_far - 1], s);
            }
        }
        if (i + data_ahead < n) {
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i + data_ahead], void*));
        }
        if (from_lan && i + 2 < n && rte_pktmbuf_data_len(pkts[i + 2]) >= RTE_ETHER_ADDR_LEN) {
            // The destination's slot two frames ahead (its frame was prefetched one frame ago);
            // on the bridged LAN only, where foreign MACs are the rule (a TAP sends node MACs).
            macs->prefetch(mac_key(rte_pktmbuf_mtod(pkts[i + 2], const uint8_t*)));
        }
        if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr)) [[unlikely]] {
            drop(m, drop_reason::bad_length);
            continue;
        }
        const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
        // The MAC pair of the last unicast frame: same peer, same choice of full frame (and on
        // the LAN, a source already checked).
        uint64_t macs_lo;
        uint32_t macs_hi;
        std::memcpy(&macs_lo, eth, 8);
        std::memcpy(&macs_hi, reinterpret_cast<const uint8_t*>(eth) + 8, 4);
        if (macs_lo == _tx_last.macs_lo && macs_hi == _tx_last.macs_hi && _tx_last.p != nullptr) {
            encrypted += seal_one(m, *_tx_last.p, s, _tx_last.full_frame);
            continue;
        }
        if (from_lan) {
            // Learn the LAN side: a source the table does not place on our LAN is reported.
            const uint64_t src = mac_key(eth->src_addr.addr_bytes);
            if (src != _tx_last_src) {
                if (mac_key_is_group(src) || node_of_mac(eth->src_addr) != 0) [[unlikely]] {
                    // A group source, or a node MAC (fe:fd:80:00:HH:LL): no LAN host may speak
                    // as a node (it would be sent compact, indistinguishable from that node).
                    drop(m, drop_reason::bad_source_mac);
                    continue;
                }
                const int slot = macs->find(src);
                if (slot < 0 || macs->owner_at(slot) != mac_table::local) {
                    report_learn(src, mac_table::local);
                } else {
                    macs->touch(slot, s.now_s());
                    _tx_last_src = src;
                }
            }
        }
        if (rte_is_multicast_ether_addr(&eth->dst_addr)) {
            encrypted += flood(m, port, s);
            continue;
        }
        const uint16_t dst = node_of_mac(eth->dst_addr);
        const peer_entry* p = s.peer(dst);
        bool full = false;
        if (p == nullptr) {  // not a peer's node MAC: ours, a bridged host's, or nobody's
            if (dst != 0 && dst == s.self_id) {
                if (from_lan && s.has_overlay) {
                    _stats.switched.add();
                    send(m, s.overlay_port_id);  // from the LAN to our own TAP
                    continue;
                }
                drop(m, drop_reason::to_self);
                continue;
            }
            if (macs == nullptr || dst != 0) {
                drop(m, drop_reason::unknown_node);
                continue;
            }
            // A foreign MAC: where the table has it.
            const int slot = macs->find(mac_key(eth->dst_addr.addr_bytes));
            if (slot < 0) {
                encrypted += flood(m, port, s);  // unknown unicast
                continue;
            }
            const uint16_t owner = macs->owner_at(slot);
            if (owner == mac_table::local) {
                if (!from_lan && s.lan_mode == pmd::overlay_mode::bridge) {
                    _stats.switched.add();
                    send(m, s.lan_port_id);  // from our TAP to a host on our LAN
                    continue;
                }
                drop(m, drop_reason::bridge_local);  // the LAN delivered it already
                continue;
            }
            // Hosts behind one gateway come in runs: the last owner's entry, without the lookup.
            p = owner == last_owner ? last_owner_p : s.peer(owner);
            if (p == nullptr) [[unlikely]] {
                drop(m, drop_reason::unknown_node);
                continue;
            }
            last_owner = owner;
            last_owner_p = p;
            if (p->tx_ready) {
                // A foreign destination MAC is never the peer's node MAC: always a full frame.
                _tx_last = tx_route{macs_lo, macs_hi, p, true};
                encrypted += seal_one(m, *p, s, true);
                continue;
            }
        }
        if (!p->tx_ready) {
            _peer_stats[p->node_id].no_session.add();  // tells the control thread there is demand
            if (s.queue_without_session) {
                m->hash.usr = p->node_id;              // control queues it until the session is up
                to_control(m);
            } else {
                drop(m, drop_reason::no_session);
            }
            continue;
        }
        // sends_full_frame(*eth, s.self_mac, p->mac), with the destination half known: p is the
        // peer of node_of_mac(destination), and a peer's MAC is its node MAC (peer_table).
        full = !self_src.is_source_of(macs_lo, macs_hi);
        _tx_last = tx_route{macs_lo, macs_hi, p, full};
        encrypted += seal_one(m, *p, s, full);
    }
    if (!_sealer.empty()) {
        seal_flush();
    }
    _stats.encrypted.add(encrypted);
}

void worker::answer_too_big(const rte_mbuf* m, uint16_t inner_mtu, uint16_t overlay_port) noexcept {
    // IPv4: destination unreachable / fragmentation needed (3/4); IPv6: packet too big (2/0).
    send_icmp_error(m, icmp_error{3, 4, 2, 0, inner_mtu, nullptr, nullptr}, overlay_port, nullptr, _too_big_limit,
                    _stats.too_big_answers);
}

rte_mbuf* worker::send_icmp_error(const rte_mbuf* m, const icmp_error& e, uint16_t port_id, const rte_ether_addr* from,
                                  too_big_limiter& limit, counter& sent) noexcept {
    if (_s.pool == nullptr || m->nb_segs != 1 || !limit.allow(rte_rdtsc())) {
        return nullptr;
    }
    rte_mbuf* a = rte_pktmbuf_alloc(_s.pool);
    if (a == nullptr) {
        return nullptr;
    }
    if (rte_pktmbuf_tailroom(a) < too_big_max_answer) [[unlikely]] {
        rte_pktmbuf_free(a);
        return nullptr;
    }
    const size_t n = build_icmp_error(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m), e,
                                      rte_pktmbuf_mtod(a, uint8_t*));
    if (n == 0) {
        rte_pktmbuf_free(a);
        return nullptr;
    }
    a->data_len = static_cast<uint16_t>(n);
    a->pkt_len = static_cast<uint32_t>(n);
    if (from != nullptr) {
        std::memcpy(rte_pktmbuf_mtod_offset(a, uint8_t*, RTE_ETHER_ADDR_LEN), from, RTE_ETHER_ADDR_LEN);
    }
    sent.add();
    send(a, port_id);
    return a;
}

void worker::send_fragments(rte_mbuf* m, const peer_entry& p) noexcept {
    const bool v6 = transport::is_ipv6(p.tmpl.k);
    const transport::fragment_plan plan = transport::plan_fragments(v6, rte_pktmbuf_data_len(m), p.tx_mtu);
    std::array<rte_mbuf*, transport::max_fragments> out{};
    if (plan.count == 0) [[unlikely]] {
        drop(m, drop_reason::too_big);
        return;
    }
    if (_s.pool == nullptr || rte_pktmbuf_alloc_bulk(_s.pool, out.data(), plan.count) != 0) [[unlikely]] {
        drop(m, drop_reason::no_buffer);
        return;
    }
    // IPv4 identifications wrap after 65536 fragmented packets of this worker; the lane bits
    // keep workers apart for IPv6. A misassembled packet cannot pass the AEAD.
    const uint32_t id = ++_frag_id;
    const auto* frame = rte_pktmbuf_mtod(m, const uint8_t*);
    for (unsigned k = 0; k < plan.count; ++k) {
        rte_mbuf* f = out[k];
        const size_t n = transport::write_fragment(frame, v6, plan, k, id, rte_pktmbuf_mtod(f, uint8_t*));
        f->data_len = static_cast<uint16_t>(n);
        f->pkt_len = static_cast<uint32_t>(n);
    }
    rte_pktmbuf_free(m);
    _stats.fragmented.add();
    for (unsigned k = 0; k < plan.count; ++k) {
        send(out[k], p.tx_port_id);
    }
}

}  // namespace engine
