// SPDX-License-Identifier: MIT
// The one data-message sealer: turns overlay frames (and empty keepalive/close messages) into
// sealed dvpe packets to a peer, on one lane, with one AEAD call per run of packets to the same
// peer (docs/protocol.md "Data message", "Lanes, nonces and replay"; docs/design.md §1).
//
// Two owners, the same code: every worker has one sealer on its own lane (its index), and the
// control thread has one on transport::control_lane for keepalives, close messages and frames
// it queued while a session came up. A lane's counter per peer restarts at 0 with every new send
// key (peer_entry::tx_generation), so (key, lane, counter) -- the nonce -- never repeats as long
// as no two sealers share a lane, which config validation and the worker's constructor ensure.
//
// Use: add() per packet (it edits the mbuf and writes the data header; nothing is encrypted
// yet), then flush(sink) once per burst or whenever full(): per run of packets to one peer it
// seals them in one AEAD call, writes the outer headers (transports/outer.hh) and hands them to
// the sink, which transmits and counts (the worker's tx buffers, or the control thread's ring to
// worker 0).
// Threads: one sealer belongs to one thread (a worker lcore, or the control thread).
#pragma once

#include <rte_ether.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "crypto/aead.hh"
#include "engine/snapshot.hh"
#include "pmd/dp_memory.hh"
#include "transports/outer.hh"
#include "transports/wire.hh"

namespace engine {

/// The MAC-elision rule (docs/protocol.md "Data message"): the plaintext leaves the Ethernet
/// address pair out exactly when it is (our node MAC -> the peer's node MAC), which the receiver
/// rebuilds; any other frame (bridged MACs, broadcast, multicast) is sent whole with
/// data_flag_full_frame.
[[nodiscard]] inline bool sends_full_frame(const rte_ether_hdr& eth, const rte_ether_addr& self_mac,
                                           const rte_ether_addr& peer_mac) noexcept {
    return !rte_is_same_ether_addr(&eth.src_addr, &self_mac) || !rte_is_same_ether_addr(&eth.dst_addr, &peer_mac);
}

class sealer {
public:
    static constexpr unsigned max_items = 256;
    static constexpr uint16_t mac_pair_len = 2 * RTE_ETHER_ADDR_LEN;

    /// `lane`: a worker index, or transport::control_lane; `self_id`'s lanes are its own.
    explicit sealer(uint16_t lane) : _lane(lane), _lanes(transport::max_node_id + 1) {}
    sealer(const sealer&) = delete;
    sealer& operator=(const sealer&) = delete;

    enum class verdict : uint8_t {
        queued,      ///< prepared; sealed and handed to the sink at the next flush()
        too_big,     ///< above the peer's MTU and fragmenting is off: the caller drops it
        no_buffer,   ///< not enough head- or tailroom in the mbuf
        bad_length,  ///< a chained mbuf (overlay ports deliver one segment per frame)
    };

    /// Prepares the overlay frame m (one segment, at least an Ethernet header) for `p`, whose
    /// tx_ready the caller checked: the MAC pair comes off unless `full_frame`, data header in
    /// front, outer header room before it, tag room behind. `fragment_ok`: wan-fragment (a
    /// packet above the peer's MTU is sent as outer fragments, sink.send_fragments()).
    /// Nothing is consumed unless the verdict is `queued`.
    [[gnu::always_inline]] verdict add_frame(rte_mbuf* m, const peer_entry& p, uint16_t self_id, bool full_frame,
                                             bool fragment_ok) noexcept {
        const uint16_t frame_len = m->data_len;
        // Two calls with constants rather than one with selected values: each inlined copy of
        // add() then folds its strip and flags (3 instructions fewer per packet, callgrind).
        if (full_frame) [[unlikely]] {
            return add(m, p, self_id, 0, transport::data_flag_full_frame, frame_len, fragment_ok);
        }
        return add(m, p, self_id, mac_pair_len, 0, frame_len, fragment_ok);
    }

    /// Prepares an empty data message (a keepalive; with `close`, GVPE's RESET) in the empty
    /// mbuf m: the one send path for what carries no frame.
    verdict add_keepalive(rte_mbuf* m, const peer_entry& p, uint16_t self_id, bool close) noexcept {
        return add(m, p, self_id, 0, close ? transport::data_flag_close : uint8_t{0}, 0, false);
    }

    /// Prepares a control message (transports/control_msg.hh; its bytes are m's data) for `p`:
    /// a data message with data_flag_control (the control thread's, on the control lane).
    verdict add_control(rte_mbuf* m, const peer_entry& p, uint16_t self_id) noexcept {
        return add(m, p, self_id, 0, transport::data_flag_control, m->data_len, false);
    }

    /// The largest inner IP packet that fits in one sealed packet to `p` (for "too big"
    /// answers): the payload also carries the ethertype (MACs elided) or the whole Ethernet
    /// header.
    [[nodiscard]] static uint16_t inner_mtu(const peer_entry& p, bool full_frame) noexcept {
        const int room = payload_room(p) - (full_frame ? transport::ether_header_size : 2);
        return static_cast<uint16_t>(std::max(room, 0));
    }

    [[nodiscard]] bool empty() const noexcept { return _n == 0; }
    [[nodiscard]] bool full() const noexcept { return _n == max_items; }
    /// A hint: starts loading the lane state add() reads for node `id` (many peers).
    void prefetch_lane(uint16_t id) const noexcept { rte_prefetch0(&_lanes[id]); }
    /// The lane's next counter towards node `id` (for the per-node tx_counter statistic).
    [[nodiscard]] uint64_t next_counter(uint16_t id) const noexcept { return _lanes[id].counter; }

    /// Seals what add() prepared and hands it to `sink`:
    ///   sink.send(port_id, pkts, n, wire_bytes)   n sealed packets, outer headers written
    ///   sink.send_fragments(m, peer)              one sealed packet above the MTU (fragment_ok)
    ///   sink.sealed(peer, n, frame_bytes)         after each run of packets to one peer: its
    ///                                             packets and overlay bytes
    ///   sink.aead_done(n, calls)                  optional: all n sealed, in `calls` AEAD calls
    /// All packets are sealed first, in one AEAD call with each packet's own key (seal_multi:
    /// with many peers a run to one peer is often a single packet, and a call per run cost more
    /// than the packet's header work), then their outer headers written per run; consecutive runs
    /// to one port leave in one sink.send() (the worker's stage clock times the two passes,
    /// engine/stage_clock.hh).
    template <class Sink>
    void flush(crypto::aead_context& ctx, Sink& sink) noexcept {
        const unsigned n = _n;
        _n = 0;
        if (n == 0) {
            return;
        }
        const unsigned runs = _runs;
        _runs = 0;
        _last_p = nullptr;
        unsigned calls = 1;
        if (runs * 4 <= n) {
            // Long runs (few peers): one call per run, without a key lookup per packet.
            calls = 0;
            for (unsigned i = 0; i < n; ++calls) {
                const item& it = _items[i];
                unsigned j = i + 1;
                while (j < n && _items[j].p == it.p) {
                    ++j;
                }
                ctx.seal_burst(*_keys[i], std::span<crypto::aead_packet>(&_aead[i], j - i));
                i = j;
            }
        } else {
            ctx.seal_multi(std::span<crypto::aead_packet>(_aead.data(), n), _keys.data());
        }
        if constexpr (requires { sink.aead_done(n, calls); }) {
            sink.aead_done(n, calls);
        }
        pending out{};
        for (unsigned i = 0; i < n;) {
            switch (_items[i].p->tmpl.k) {
            case transport::kind::udp4: i = finish_runs<transport::kind::udp4>(i, n, out, sink); break;
            case transport::kind::udp6: i = finish_runs<transport::kind::udp6>(i, n, out, sink); break;
            case transport::kind::rawip4: i = finish_runs<transport::kind::rawip4>(i, n, out, sink); break;
            case transport::kind::rawip6: i = finish_runs<transport::kind::rawip6>(i, n, out, sink); break;
            case transport::kind::icmp4: i = finish_runs<transport::kind::icmp4>(i, n, out, sink); break;
            case transport::kind::icmp6: i = finish_runs<transport::kind::icmp6>(i, n, out, sink); break;
            case transport::kind::tcp4: i = finish_runs<transport::kind::tcp4>(i, n, out, sink); break;
            case transport::kind::tcp6: i = finish_runs<transport::kind::tcp6>(i, n, out, sink); break;
            case transport::kind::dns4: i = finish_runs<transport::kind::dns4>(i, n, out, sink); break;
            case transport::kind::dns6: i = finish_runs<transport::kind::dns6>(i, n, out, sink); break;
            }
        }
        if (out.n != 0) {
            sink.send(out.port_id, _out.data(), out.n, out.wire_bytes);
        }
    }

private:
    static constexpr uint16_t hdr_len = sizeof(transport::data_header);
    static constexpr uint16_t tag_len = transport::aead_tag_size;

    /// Payload bytes that fit in one packet to `p`: the IP packet on the wire is everything
    /// after the outer Ethernet header.
    [[nodiscard]] static int payload_room(const peer_entry& p) noexcept {
        return p.tx_mtu - (p.tmpl.len - transport::ether_header_size + hdr_len + tag_len);
    }

    [[gnu::always_inline]] verdict add(rte_mbuf* m, const peer_entry& p, uint16_t self_id, unsigned strip,
                                       uint8_t flags, uint16_t frame_len, bool fragment_ok) noexcept {
        if (m->nb_segs != 1) [[unlikely]] {
            return verdict::bad_length;
        }
        // One segment: `strip` bytes (the MAC pair) come off the front, the outer headers and
        // the data header go in front, the tag room behind, as one edit of data_off / data_len /
        // pkt_len (what rte_pktmbuf_adj, _prepend and _append would do one after another).
        const auto payload_len = static_cast<uint16_t>(m->data_len - strip);
        const bool fragment = payload_len > payload_room(p);
        // A stream (tcp) path has no outer IP header to fragment: above its bound, too big.
        if (fragment && (!fragment_ok || transport::is_stream(p.tmpl.k))) [[unlikely]] {
            return verdict::too_big;  // decided before the mbuf is touched
        }
        const unsigned front = hdr_len + p.tmpl.len;
        const unsigned headroom = m->data_off + strip;  // after the MAC pair is gone
        if (front > headroom || tag_len > rte_pktmbuf_tailroom(m)) [[unlikely]] {
            return verdict::no_buffer;
        }
        const auto data_off = static_cast<uint16_t>(headroom - front);
        const auto data_len = static_cast<uint16_t>(front + payload_len + tag_len);
        m->data_off = data_off;
        m->data_len = data_len;
        m->pkt_len = data_len;
        auto* outer = static_cast<uint8_t*>(m->buf_addr) + data_off;
        uint8_t* dh = outer + p.tmpl.len;

        lane_state& lane = _lanes[p.node_id];
        if (lane.generation != p.tx_generation) [[unlikely]] {
            // A new send key: its counters start at 0. Every installed key has a generation of
            // its own and a key is current only once (a promoted "next" key may be older than
            // the key it replaces, but was never sent with), so no counter restarts under a
            // key this lane already used.
            lane.generation = p.tx_generation;
            lane.counter = 0;
        }
        // The header's first 8 bytes change only with the send key (or our node id).
        const uint64_t head_for = uint64_t{p.tx_generation} | uint64_t{self_id} << 32 | uint64_t{p.tx_key_id} << 48 |
                                  uint64_t{1} << 63;  // never 0, the initial head_for
        if (lane.head_for != head_for) [[unlikely]] {
            // Node ids of a snapshot are valid (control builds it); the bytes are init_data_header()'s.
            lane.head_for = head_for;
            lane.head = transport::data_header_head(self_id, p.node_id, p.tx_key_id, _lane, false);
        }
        const uint64_t ctr = lane.counter++;
        transport::store_data_header(dh, lane.head | transport::detail::bytes_word(0, flags, 0, 0, 0, 0, 0, 0), ctr);
        const unsigned i = _n++;
        transport::store_nonce(_nonce[i].data(), _lane, ctr);
        _aead[i] = crypto::aead_packet{dh + hdr_len, payload_len, hdr_len, dh, _nonce[i].data(), dh + hdr_len + payload_len};
        _items[i] = item{m, &p, outer, static_cast<uint16_t>(hdr_len + payload_len + tag_len), frame_len, fragment};
        _keys[i] = p.tx_key;
        _runs += &p != _last_p;
        _last_p = &p;
        if (p.tos_mask != 0) [[unlikely]] {
            // inherit-tos: the inner DSCP, read while the payload is still plaintext. The
            // payload starts with the ethertype (MACs elided) or the whole Ethernet header.
            const uint8_t* frame = dh + hdr_len - (payload_len == frame_len ? 0 : mac_pair_len);  // MACs not read
            _items[i].tos = transport::inner_dscp(frame, frame_len) & p.tos_mask;
        }
        return verdict::queued;
    }

    /// Sealed packets collected for one sink.send(): to one port, in order.
    struct pending {
        unsigned n = 0;
        uint16_t port_id = 0;
        uint64_t wire_bytes = 0;
    };

    /// The runs from `begin` on whose peers use transport K (normally all of them): outer
    /// headers, per-peer counters, packets appended to `out`. Returns where the next run of
    /// another transport starts (or end).
    template <transport::kind K, class Sink>
    unsigned finish_runs(unsigned begin, unsigned end, pending& out, Sink& sink) noexcept {
        unsigned i = begin;
        while (i < end) {
            const peer_entry& p = *_items[i].p;
            if (p.tmpl.k != K) [[unlikely]] {
                break;
            }
            unsigned j = i + 1;
            while (j < end && _items[j].p == &p) {
                ++j;
            }
            if (p.tx_port_id != out.port_id) [[unlikely]] {
                if (out.n != 0) {
                    sink.send(out.port_id, _out.data(), out.n, out.wire_bytes);
                    out.n = 0;
                    out.wire_bytes = 0;
                }
                out.port_id = p.tx_port_id;
            }
            if (p.tos_mask != 0) [[unlikely]] {
                sink.sealed(p, j - i, finish_run<K, true>(i, j, p, out, sink));
            } else if (j == i + 1 && !_items[i].fragment) {
                // A run of one packet (many peers, round-robin): no loop to set up.
                const item& it = _items[i];
                transport::write_outer<K>(p.tmpl, it.outer, it.dvpe_len, p.udp_sport(_lane), 0);
                out.wire_bytes += transport::headroom(K) + it.dvpe_len;
                _out[out.n++] = it.m;
                sink.sealed(p, 1, it.frame_len);
            } else {
                sink.sealed(p, j - i, finish_run<K, false>(i, j, p, out, sink));
            }
            i = j;
        }
        return i;
    }

    /// Outer headers of the sealed packets [begin, end) to `p` (transport K), appended to `out`
    /// in order; returns their overlay frame bytes. Tos: write each item's outer TOS
    /// (inherit-tos peers); without it the template's 0 stays and write_outer does nothing extra.
    template <transport::kind K, bool Tos, class Sink>
    [[gnu::always_inline]] uint64_t finish_run(unsigned begin, unsigned end, const peer_entry& p, pending& out,
                                               Sink& sink) noexcept {
        const uint16_t sport = p.udp_sport(_lane);
        uint64_t frame_bytes = 0;
        for (unsigned i = begin; i < end; ++i) {
            const item& it = _items[i];
            transport::write_outer<K>(p.tmpl, it.outer, it.dvpe_len, sport, Tos ? it.tos : uint8_t{0});
            frame_bytes += it.frame_len;
            if (it.fragment) [[unlikely]] {
                // What is queued goes first, so the peer sees the packets in order.
                sink.send(out.port_id, _out.data(), out.n, out.wire_bytes);
                out.n = 0;
                out.wire_bytes = 0;
                sink.send_fragments(it.m, p);
                continue;
            }
            out.wire_bytes += transport::headroom(K) + it.dvpe_len;
            _out[out.n++] = it.m;
        }
        return frame_bytes;
    }

    struct lane_state {
        uint64_t counter = 0;
        uint32_t generation = 0;
        uint64_t head_for = 0;  // (generation, our node id, key id) `head` was built for; 0: none
        uint64_t head = 0;      // data_header_head() without the flags
    };
    // In DPDK memory (pmd/dp_memory.hh), which may be gone before the vector's destructor runs.
    static_assert(std::is_trivially_destructible_v<lane_state>, "freed without destructor calls");
    struct item {
        rte_mbuf* m;
        const peer_entry* p;
        uint8_t* outer;       // start of the outer headers
        uint16_t dvpe_len;
        uint16_t frame_len;   // overlay bytes, for per-node counters (0 for a keepalive)
        bool fragment;        // above the WAN MTU: send as outer fragments
        uint8_t tos = 0;      // outer TOS / traffic class: set by flush for inherit-tos peers only
    };

    const uint16_t _lane;
    unsigned _n = 0;
    std::vector<lane_state, pmd::dp_allocator<lane_state>> _lanes;  // index = node id (pmd/dp_memory.hh)
    std::array<item, max_items> _items{};
    unsigned _runs = 0;                   // runs of packets to one peer among the items
    const peer_entry* _last_p = nullptr;  // the last item's peer
    std::array<crypto::aead_packet, max_items> _aead{};
    std::array<const crypto::aead_key*, max_items> _keys{};  // each item's send key (seal_multi)
    std::array<std::array<uint8_t, transport::nonce_size>, max_items> _nonce{};
    std::array<rte_mbuf*, max_items> _out{};  // a run's packets for sink.send()
};

}  // namespace engine
