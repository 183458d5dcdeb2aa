// SPDX-License-Identifier: MIT
// The worker lcore: polls its fixed (port, rx queue) pairs in bursts and takes each burst
// through the passes of its direction (docs/design.md §1), one source file per stage:
//   worker.cc    the loop, dispatch by port role, tx buffering, the control rings, drops
//   ingress.cc   WAN -> overlay: classify, reassemble, relay, open (one AEAD call per key run)
//   egress.cc    overlay -> WAN: route by MAC, seal (engine/seal.hh), too big, outer fragments
//   wan_host.cc  what else reaches our WAN addresses: ARP, NDP and echo answered in place,
//                ARP replies / neighbour advertisements handed to the control thread
// Every packet leaves exactly one way: sent, delivered, relayed, to control, or a counted drop
// (worker_stats::accounted()).
//
// Threads: a worker object is built on the main thread at startup (it allocates everything it
// will ever need there), then run() executes on its own pinned lcore and touches nothing but its
// own state, its tx queues, the read-only port table and its two rings. stats() may be read from
// any thread.
#pragma once

#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip_frag.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <optional>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "crypto/aead.hh"
#include "engine/flood_budget.hh"
#include "engine/rcu.hh"
#include "engine/seal.hh"
#include "engine/snapshot.hh"
#include "engine/stage_clock.hh"
#include "engine/stats.hh"
#include "engine/too_big.hh"
#include "pmd/host_tap.hh"
#include "pmd/port_role.hh"

namespace engine {

namespace limits {
inline constexpr unsigned max_ports = 16;
inline constexpr unsigned max_rxq_per_worker = 64;
inline constexpr unsigned max_port_ipv4 = 8;
inline constexpr unsigned max_port_ipv6 = 8;
inline constexpr unsigned max_burst = 256;
// Outer reassembly per worker: packets in progress (each holds up to RTE_LIBRTE_IP_FRAG_MAX_FRAG
// mbufs; control's required_mbufs() reserves them) and how long a packet may take to complete.
inline constexpr unsigned reassembly_packets = 32;
// 100 ms, not the 2 s it was: a sender's IPv4 identification wraps after 65 536 fragmented
// packets (0.33 s at 2.4 Gbit/s of full-size frames), and a lost half kept longer than that was
// joined with a later packet's half of the same id (counted auth_failed: the AEAD refuses it,
// but a good packet is lost with it). Fragments of one packet leave back to back.
inline constexpr unsigned reassembly_timeout_ms = 100;
}  // namespace limits

using pmd::port_role;  // pmd/port_role.hh

/// A WAN packet's headers and dvpe packet lie in its first segment (classify() and the WAN
/// handlers check every length against it): what other segments hold is never part of it and
/// must not be delivered, relayed or echoed with it. Cuts them off.
inline void keep_first_segment(rte_mbuf* m) noexcept {
    if (m->next != nullptr) {
        rte_pktmbuf_free(m->next);
        m->next = nullptr;
        m->nb_segs = 1;
    }
    m->pkt_len = m->data_len;
}

/// mbuf hash.usr of a routed packet a worker hands to the control thread because the LAN
/// host's MAC is unknown (queued overlay frames carry their node id, at most 4095, there).
inline constexpr uint32_t lan_resolve_mark = 0x10000;
/// mbuf hash.usr of an authenticated control message a worker hands to the control thread
/// (engine/ingress.cc control_message): this mark | the sender's node id, m->port =
/// RTE_MBUF_PORT_INVALID, at most transport::max_control_size bytes -- no WAN frame handed
/// over is that short.
inline constexpr uint32_t control_msg_mark = 0x20000;
/// Bridge: a MAC a host on our LAN used this recently is not moved to a peer (docs/site-gateways.md).
inline constexpr uint32_t mac_hold_down_s = 5;

/// What a worker knows about a port. Immutable while workers run.
struct port_ctx {
    uint16_t port_id = 0;
    port_role role = port_role::wan;
    rte_ether_addr mac{};
    uint8_t n_ipv4 = 0;
    std::array<rte_be32_t, limits::max_port_ipv4> ipv4{};  // our addresses on this port

    uint8_t n_ipv6 = 0;
    std::array<std::array<uint8_t, 16>, limits::max_port_ipv6> ipv6{};  // our IPv6 addresses here
    pmd::overlay_mode mode = pmd::overlay_mode::host;  // overlay ports: TAP, bridged or routed LAN
    pmd::host_tap* tap = nullptr;  // dvpe's own TAP port (pmd/host_tap.hh), not an ethdev
    // A wan port: its exception port (what the engine does not consume goes to the kernel
    // there); an exception port: its wan port. no_link: none (docs/exception-path.md).
    static constexpr uint16_t no_link = UINT16_MAX;
    uint16_t link_port = no_link;
    uint32_t max_frame = UINT32_MAX;  // a wan port with an exception: its frames' largest (MTU + 14)
    // A wan port whose interface the kernel keeps (net_af_packet on it, the kernel has its
    // addresses): the kernel answers ARP, ND and echo; the engine only learns from replies.
    bool kernel_answers = false;

    /// Index of our IPv6 address equal to a, or -1.
    [[nodiscard]] int ipv6_index(const uint8_t* a) const noexcept {
        for (unsigned i = 0; i < n_ipv6; ++i) {
            if (std::memcmp(ipv6[i].data(), a, 16) == 0) {
                return static_cast<int>(i);
            }
        }
        return -1;
    }
    /// True if a is the solicited-node multicast group of one of our IPv6 addresses.
    [[nodiscard]] bool solicited_node_of_ours(const uint8_t* a) const noexcept {
        static constexpr uint8_t prefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff};
        if (std::memcmp(a, prefix, sizeof(prefix)) != 0) {
            return false;
        }
        for (unsigned i = 0; i < n_ipv6; ++i) {
            if (std::memcmp(ipv6[i].data() + 13, a + 13, 3) == 0) {
                return true;
            }
        }
        return false;
    }

    [[nodiscard]] bool owns_ipv4(rte_be32_t a) const noexcept {
        for (unsigned i = 0; i < n_ipv4; ++i) {
            if (ipv4[i] == a) {
                return true;
            }
        }
        return false;
    }
};

/// All ports, indexed by DPDK port id (port ids are small and dense for one process).
struct port_table {
    uint16_t n_ports = 0;
    std::array<port_ctx, limits::max_ports> ports{};
    std::array<int8_t, RTE_MAX_ETHPORTS> index_of{};  // port id -> index in ports, -1 if not ours
};

struct rx_queue_ref {
    uint16_t port_id;
    uint16_t queue_id;
    pmd::host_tap* tap = nullptr;  // set: the queue is this TAP port's, not an ethdev's
};

struct worker_setup {
    unsigned lcore_id = 0;
    unsigned worker_idx = 0;             // 0..n_workers-1; also this worker's tx queue on every port
    std::vector<rx_queue_ref> rx_queues;
    const port_table* ports = nullptr;
    unsigned burst_size = 32;
    unsigned tx_drain_us = 100;
    unsigned idle_sleep_us = 100;        // 0: never sleep
    unsigned idle_polls = 1024;
    // idle-wait = interrupt (engine/idle.cc): block in epoll on the rx queues' fds instead of
    // sleeping idle_sleep_us, where every queue of this worker has one.
    bool idle_interrupt = false;
    rte_ring* to_control = nullptr;      // MP/SC, shared by all workers
    rte_ring* from_control = nullptr;    // SP/SC, this worker's; mbuf->port names the tx port
    rte_ring* learn = nullptr;           // MP/SC, shared: bridge learn events (engine/mac_table.hh)
    // The encrypted data plane (null: only the WAN slow path runs, as before sessions exist).
    const published<dataplane_snapshot>* snapshot = nullptr;
    rcu* qsbr = nullptr;                 // this worker is RCU reader `worker_idx`
    rte_mempool* pool = nullptr;         // for broadcast copies
    crypto::aead_choice cipher{};        // for this worker's crypto context
    // BENCHMARK ONLY (dvped --benchmark-static-keys, perf/dataplane_bench.py): the replay window
    // is still consulted (same cost) but its verdict is ignored, so a looped capture decrypts on
    // every pass. Never set otherwise.
    bool benchmark_replay_off = false;
    // Whether another worker may receive packets under the same replay windows (more than one
    // worker in the process): open_flush() then takes each window's lock for accept(). The
    // daemon sets false when it runs one worker (no other thread touches a window), which saves
    // a locked instruction per run of packets -- per packet when every packet has another
    // sender (docs/performance.md "Many peers").
    bool shared_replay_windows = true;
    // wan-fragment = yes: sealed packets above the WAN MTU are sent as outer fragments instead
    // of being dropped with an ICMP "too big" answer. Reassembly is always on.
    bool wan_fragment = false;
    // The flood budget (engine/flood_budget.hh): copies of broadcast / multicast / unknown
    // unicast frames to peers, per second and at most at once (tests set small ones).
    uint64_t flood_copies_per_s = flood_budget::rate;
    uint64_t flood_copies_burst = flood_budget::burst;
    // Packets to relay that wait for the destination's session (relay_wait): handed to the
    // control thread at most this many per second and at once, per worker; the rest is dropped
    // as no_route. They share the ring with handshakes, and anyone can send them (a router has
    // no keys to check them with).
    uint64_t relay_handovers_per_s = 10'000;
    uint64_t relay_handovers_burst = 1'024;
    // Copies of a flood for peers without a session, to the control thread's queue: per second
    // and at once, per worker (the same ring as handshakes).
    uint64_t queue_copies_per_s = 10'000;
    uint64_t queue_copies_burst = 1'024;
    // The exception path (docs/exception-path.md): packets to the kernel and from it, per second
    // and at once, per worker and direction.
    uint64_t exception_per_s = 10'000;
    uint64_t exception_burst = 1'024;
    // Per-stage cycle counters (engine/stage_clock.hh): every n-th busy iteration is timed
    // (1: every one, as the unit tests do; 0: none).
    unsigned stage_clock_period = stage_clock::default_period;
};

class worker {
public:
    /// Allocates tx buffers; throws std::runtime_error (startup only).
    explicit worker(const worker_setup& s);
    ~worker();
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    /// The lcore loop; returns when stop() was called. Never blocks, allocates or locks.
    int run() noexcept;
    /// One loop iteration (poll every queue once, drain the control ring, flush tx when the
    /// drain timer expired). Returns true if it did any work. run() is this in a loop; tests
    /// call it directly.
    bool iterate() noexcept;
    /// Any thread: asks run() to return after its current iteration.
    void stop() noexcept { _stop.store(true, std::memory_order_relaxed); }

    [[nodiscard]] const worker_stats& stats() const noexcept { return _stats; }
    /// Per-node counters, indexed by node id (size limits::max_node_id + 1).
    [[nodiscard]] const node_stats_table& peer_stats() const noexcept { return _peer_stats; }
    [[nodiscard]] const worker_setup& setup() const noexcept { return _s; }

    /// Any thread, after queueing a frame on from_control: wakes the worker if it is blocked
    /// waiting for rx interrupts (idle.cc).
    void wake() noexcept;
    /// True if idle waits block on interrupts; else why not (empty if not asked for).
    [[nodiscard]] bool idle_interrupts() const noexcept { return _idle_interrupts; }
    [[nodiscard]] std::string idle_interrupts_missing() const;

    /// Entry point for rte_eal_remote_launch (arg is a worker*).
    static int launch(void* arg) noexcept { return static_cast<worker*>(arg)->run(); }

private:
    // ---- idle (idle.cc) ----
    void setup_idle() noexcept;
    void teardown_idle() noexcept;
    void idle_wait() noexcept;

    // ---- loop (worker.cc) ----
    void process_burst(rte_mbuf** pkts, uint16_t n, const port_ctx& port) noexcept;

    // ---- ingress (ingress.cc) ----
    /// A burst from a WAN port: dvpe packets through ingress_dvpe(), the rest to process_wan().
    void ingress_burst(rte_mbuf** pkts, uint16_t n, const port_ctx& port, const dataplane_snapshot& s) noexcept;
    struct ingress_state;
    /// True if it took the packet (collected for open_flush, relayed, to control, dropped);
    /// false: not a dvpe packet, for process_wan().
    /// Stream: from the tcp slow path's port (a ring header in front, transports/stream.hh).
    template <bool Stream>
    bool ingress_dvpe(rte_mbuf* m, const dataplane_snapshot& s, ingress_state& st) noexcept;
    /// classify() and its drops for frames classify_fast() did not take: a dvpe packet (dvpe_len
    /// != 0), or dvpe_len 0 and `dropped` false = not ours (the WAN slow path's).
    struct slow_result {
        transport::dvpe_span d;
        bool dropped;
        rte_mbuf* whole = nullptr;  // an outer fragment completed this packet (reassemble())
    };
    slow_result classify_slow(rte_mbuf* m, const uint8_t* frame, uint32_t len, const dataplane_snapshot& s) noexcept;
    /// Feeds an outer fragment for us to the reassembly table (consumes m). Returns the whole
    /// packet, one segment with a valid header, once its last fragment arrived; else nullptr.
    rte_mbuf* reassemble(rte_mbuf* m) noexcept;
    void relay(rte_mbuf* m, uint16_t dvpe_offset, uint16_t dvpe_len, const peer_entry& to) noexcept;
    void relay_wait(rte_mbuf* m, const peer_entry* to, const dataplane_snapshot& s) noexcept;
    struct open_item;
    /// An authenticated control message (data_flag_control): handed to the control thread as
    /// its plaintext alone, m->port = RTE_MBUF_PORT_INVALID and hash.usr = the sender's node id.
    void control_message(rte_mbuf* m, const open_item& it, const peer_entry& p, const dataplane_snapshot& s) noexcept;
    void open_flush(const dataplane_snapshot& s) noexcept;
    /// Roaming: the outer source of `m` (authenticated, from `p`) against the address p's path
    /// sends to; a difference is reported in ns's roam fields for the control thread. Once per run.
    static void note_source(const rte_mbuf* m, const peer_entry& p, node_stats& ns) noexcept;
    /// note_source() for a packet from the tcp slow path: a path to a connection the peer
    /// opened (no connect flag) follows it to a new one (it reconnected); a path to its
    /// tcp-port never moves (the peer may answer on a connection of its own).
    static void note_stream_source(const rte_mbuf* m, const peer_entry& p, node_stats& ns) noexcept;
    /// Many peers (dataplane_snapshot::prefetch_peers()), hints that drop and count nothing
    /// (ingress_dvpe() checks everything): for the packet m whose data header is assumed at
    /// st.dvpe_offset (a burst's packets share their transport), prefetch_sender() starts loading
    /// its sender's peer entry and stats line, prefetch_window() -- packets later, when those
    /// lines are in -- its receive key object and replay window lines; neither repeats itself for
    /// the same sender (key, lane) as the packet before.
    void prefetch_sender(const rte_mbuf* m, ingress_state& st, const dataplane_snapshot& s) noexcept;
    void prefetch_window(const rte_mbuf* m, ingress_state& st, const dataplane_snapshot& s) noexcept;
    /// How far ahead (packets) the first and the second prefetch step run (ingress and egress):
    /// a step's lines have about two packets' time (~300 cycles) to arrive from the last level
    /// cache before the next step reads them.
    static constexpr unsigned prefetch_far = 4;
    static constexpr unsigned prefetch_near = 2;
    static_assert(1 <= prefetch_near && prefetch_near < prefetch_far, "egress_burst's ahead[] indexing");
    // ---- egress (egress.cc) ----
    /// A burst from the TAP or a bridged LAN port (`port`).
    void egress_burst(rte_mbuf** pkts, uint16_t n, const port_ctx& port, const dataplane_snapshot& s) noexcept;
    /// Many peers, a hint (egress_burst): starts loading the peer entry, template line, stats
    /// line and sealer lane of the peer whose node MAC m is sent to, and returns that entry
    /// (nullptr: no node MAC of the table; the entry may be an empty slot).
    /// `last`: the entry this returned for the frame before; the same peer again is not
    /// prefetched twice.
    const peer_entry* prefetch_peer(const rte_mbuf* m, const peer_entry* last, const dataplane_snapshot& s) noexcept;
    /// Broadcast, multicast and unknown unicast: one sealed copy per peer with a session, and a
    /// copy to the TAP or bridged LAN beside `from` (flood_local). Takes m. Returns true if some
    /// peer got a copy (the frame counts as encrypted once). The copies to peers are bounded by
    /// _flood_budget: a flood that does not fit is dropped whole (flood_budget).
    bool flood(rte_mbuf* m, const port_ctx& from, const dataplane_snapshot& s) noexcept;
    /// Sends a copy of m out of port_id (counted local_copies; a failed copy is not a drop of m).
    void local_copy(const rte_mbuf* m, uint16_t port_id) noexcept;
    [[gnu::always_inline]] bool seal_one(rte_mbuf* m, const peer_entry& p, const dataplane_snapshot& s,
                                         bool full_frame) noexcept;
    /// Seals what _sealer holds and sends it (tx_sink: this worker's tx buffers and counters).
    void seal_flush() noexcept;
    struct tx_sink;
    /// ICMP/ICMPv6 "too big" toward the sender of the oversize overlay frame m (which the
    /// caller still owns and drops), out of the overlay port; rate-limited (too_big.hh).
    void answer_too_big(const rte_mbuf* m, uint16_t inner_mtu, uint16_t overlay_port) noexcept;
    /// The one way ICMP errors leave: error `e` about frame m (still the caller's) out of port_id,
    /// from MAC `from` (nullptr: the MAC the frame was sent to), if `limit` allows; counted in
    /// `sent`. Returns the answer (already buffered for tx) or nullptr.
    rte_mbuf* send_icmp_error(const rte_mbuf* m, const icmp_error& e, uint16_t port_id, const rte_ether_addr* from,
                              too_big_limiter& limit, counter& sent) noexcept;
    /// Sends the sealed packet m (outer headers written) as fragments of at most the peer's
    /// tx_mtu; consumes m.
    void send_fragments(rte_mbuf* m, const peer_entry& p) noexcept;

    // ---- site LAN (lan.cc, docs/site-gateways.md) ----
    /// Bridge: tells the control thread that mac was seen at owner (0: our LAN), at most once a
    /// second per (mac, owner) from this worker.
    void report_learn(uint64_t mac, uint16_t owner) noexcept;
    /// Every node's MAC table (a TAP-only node too: it reaches hosts behind bridge gateways):
    /// the source of the authenticated full frame eth from peer p is reported unless the table
    /// already has it there (then its last use is refreshed).
    /// False: the frame claims a MAC it may not take (static elsewhere, or live on our LAN):
    /// the caller drops it as mac_conflict.
    bool learn_from_peer(const rte_ether_hdr* eth, const peer_entry& p, const dataplane_snapshot& s) noexcept;
    /// Route: a packet for a LAN host without a known MAC to the control thread (rate-limited).
    void resolve_lan_host(rte_mbuf* m, const dataplane_snapshot& s) noexcept;
    /// A decrypted frame from peer p on a node with a LAN port: learned (bridge), routed
    /// (route), or delivered as before. Takes m; true if it was delivered (decrypted).
    bool lan_deliver(rte_mbuf* m, const peer_entry& p, const dataplane_snapshot& s, bool full_frame) noexcept;
    /// A burst from a routed LAN port: ARP/ND/echo for our lan-addresses answered (wan_host.cc),
    /// IP packets routed to the node owning the destination prefix.
    void route_burst(rte_mbuf** pkts, uint16_t n, const port_ctx& port, const dataplane_snapshot& s) noexcept;
    /// ICMP error `e` for the LAN frame m (which the caller still owns), from our lan-address.
    void answer_icmp(const rte_mbuf* m, const icmp_error& e, const port_ctx& port) noexcept;

    // ---- WAN host answers (wan_host.cc) ----
    void process_wan(rte_mbuf* m, const port_ctx& port) noexcept;
    void handle_arp(rte_mbuf* m, const port_ctx& port) noexcept;
    void handle_ipv4(rte_mbuf* m, const port_ctx& port) noexcept;
    void handle_ipv6(rte_mbuf* m, const port_ctx& port) noexcept;
    /// What the engine does not consume from a wan port: to the kernel through the port's
    /// exception interface within exception-rate (counted exception_in, or exception_limit),
    /// or dropped as `r` when the port has none. Takes m.
    void to_kernel(rte_mbuf* m, const port_ctx& port, drop_reason r) noexcept;
    /// A copy of m for the kernel (ARP replies, neighbour advertisements, which the control
    /// thread also learns from); m stays the caller's.
    void copy_to_kernel(const rte_mbuf* m, const port_ctx& port) noexcept;
    /// A burst the kernel sent on an exception interface: out of its wan port, within the rate.
    void exception_burst(rte_mbuf** pkts, uint16_t n, const port_ctx& port) noexcept;
    /// A multi-segment frame on a wan port with an exception interface: to the kernel if its
    /// headers (in the first segment) are valid and addressed as the handlers require, else dropped.
    void kernel_chain(rte_mbuf* m, const port_ctx& port) noexcept;

    // ---- tx and drops (worker.cc, inline below) ----
    void send(rte_mbuf* m, uint16_t port_id) noexcept { send(m, port_id, rte_pktmbuf_pkt_len(m)); }
    /// Buffers `m` (of `bytes` bytes) for tx on `port_id`; the tx counters are committed once per
    /// burst (commit_tx_stats) and always before a flush, whose error callback takes unsent
    /// packets back out of them.
    void send(rte_mbuf* m, uint16_t port_id, uint32_t bytes) noexcept;
    /// send() for `n` packets to one port (`bytes` in all), copied into the tx buffer in chunks:
    /// the same flushes at the same points, without a per-packet chain through the buffer's
    /// length in memory.
    void send_bulk(uint16_t port_id, rte_mbuf* const* pkts, unsigned n, uint64_t bytes) noexcept;
    void commit_tx_stats() noexcept;
    /// rte_eth_tx_buffer_flush() for ethdevs and TAP ports (pmd/host_tap.hh) alike.
    void flush_tx(uint16_t port_id, rte_eth_dev_tx_buffer* b) noexcept;
    /// flush_tx() of a full buffer in a burst, timed as the tx stage in a timed iteration
    /// (stage_clock; the timing out of line: send_bulk stays small enough to inline).
    void timed_flush_tx(uint16_t port_id, rte_eth_dev_tx_buffer* b) noexcept;
    [[gnu::noinline]] void flush_tx_timed(uint16_t port_id, rte_eth_dev_tx_buffer* b) noexcept;
    void to_control(rte_mbuf* m) noexcept;
    void drop(rte_mbuf* m, drop_reason r) noexcept;
    void drain_control() noexcept;
    void flush_all() noexcept;

    worker_setup _s;
    worker_stats _stats;
    std::atomic<bool> _stop{false};
    // Idle waits (idle.cc).
    int _epfd = -1, _wakefd = -1;
    bool _idle_interrupts = false;
    uint64_t _idle_retry = 0;  // TSC: when to look for the missing interrupt fds again
    int _idle_missing_q = -2;  // the rx queue (index) without an interrupt fd; -1: no epoll
    std::vector<unsigned> _intr_queues;  // ethdev rx queues (index in _s.rx_queues) to arm
    std::atomic<bool> _waiting{false};
    std::array<rte_eth_dev_tx_buffer*, RTE_MAX_ETHPORTS> _txb{};
    std::array<pmd::host_tap*, RTE_MAX_ETHPORTS> _tap{};  // TAP ports by port id
    std::vector<uint16_t> _tx_ports;  // ports we hold a tx buffer for
    const dataplane_snapshot* _snap = nullptr;  // valid for one iteration (RCU)
    std::optional<crypto::aead_context> _crypto;

    node_stats_table _peer_stats;    // index = node id
    // Egress: the one sealer (engine/seal.hh) on this worker's lane.
    sealer _sealer;

    // Ingress scratch of one burst (no allocation after startup, docs/design.md).
    struct open_item {
        rte_mbuf* m;
        const peer_entry* p;
        const rx_key_slot* slot;
        lane_window* window;
        uint64_t counter;
        uint16_t dvpe_offset;
        uint16_t payload_len;
        uint8_t flags;  // the header's flags nibble: data_flag_full_frame, _close, _control
    };
    static constexpr unsigned max_items = limits::max_burst;
    std::array<open_item, max_items> _open{};
    std::array<crypto::aead_packet, max_items> _aead{};
    std::array<const crypto::aead_key*, max_items> _rx_keys{};  // each item's receive key (open_multi)
    std::array<uint16_t, max_items> _run_end{};  // open_flush(): where the run starting here ends
    std::array<std::array<uint8_t, 12>, max_items> _nonce{};
    std::array<uint8_t, max_items> _ok{};
    std::array<rte_mbuf*, max_items> _out{};  // a run's packets for send_bulk()
    unsigned _n_open = 0;
    uint32_t _rx_dvpe_offset = 0;  // ingress_state::dvpe_offset at the end of the last burst (a hint)
    // Ingress state of one burst, a local of ingress_burst() (kept in registers: under
    // -fno-strict-aliasing, members would be reloaded after every store into a packet).
    // `last` holds the lookups of the last data header seen (peer, key slot, replay window),
    // keyed by its first 8 bytes without the flags; valid for one burst (one snapshot): a run of
    // packets from one sender lane under one key skips the checks and lookups after the first.
    // The empty cache's key, no_route_head, has a flag bit set: no packet's masked head can
    // equal it (a zero head once did, and skipped every check with a null window).
    struct rx_route {
        uint64_t head = 0;
        const peer_entry* p = nullptr;
        const rx_key_slot* slot = nullptr;
        lane_window* window = nullptr;
    };
    struct ingress_state {
        rx_route last;
        unsigned n_open;     // items in _open/_aead/_nonce (_n_open while open_flush runs)
        unsigned worker;     // _s.worker_idx
        bool replay_off;     // _s.benchmark_replay_off
        const port_ctx* port;  // the wan port of the burst
        uint32_t dvpe_offset = 0;  // where the last looked-up data header was (0: none yet)
        bool prefetch = false;     // many peers: prefetch_sender / prefetch_window / the key's lines
        uint16_t sender_ahead = 0;  // the sender prefetch_sender() loaded last (0: none)
        uint64_t window_ahead = ~uint64_t{0};  // the head prefetch_window() loaded last (~0: none:
                                               // a masked head has its flag bits clear)
    };
    // Egress: the last unicast frame's MAC pair (the first 12 bytes as two words) and what it
    // resolved to (a peer with a session); valid for one burst.
    struct tx_route {
        uint64_t macs_lo = 0;   // destination MAC + 2 bytes of the source MAC
        uint32_t macs_hi = 0;   // the rest of the source MAC
        const peer_entry* p = nullptr;  // null: empty
        bool full_frame = false;
    };
    tx_route _tx_last{};
    uint16_t _stream_port = RTE_MAX_ETHPORTS;  // the tcp slow path's port (port_role::stream), if any
    uint16_t _egress_port = 0;  // the overlay port of the burst being sealed (too-big answers go back there)
    uint64_t _tx_last_src = ~uint64_t{0};  // bridge: the last LAN source MAC found local (one burst)
    // Bridge: learn events reported recently, (mac | owner << 48) and the coarse second, by hash.
    std::array<uint64_t, 256> _learn_recent{};
    std::array<uint32_t, 256> _learn_when{};
    // tx packets/bytes sent since the last commit_tx_stats() (plain: only this lcore).
    uint64_t _tx_pending_packets = 0, _tx_pending_bytes = 0;
    uint64_t _drain_cycles = 0;
    uint64_t _next_flush = 0;
    unsigned _idle_run = 0;
    stage_clock _clk;  // per-stage cycle counters (sampled busy iterations)
    too_big_limiter _too_big_limit;
    flood_budget _flood_budget;      // copies of flooded frames (engine/flood_budget.hh)
    uint64_t _next_demand_scan = 0;  // TSC: flood() tells control about peers without a session
    too_big_limiter _icmp_limit;     // route: unreachable / time exceeded to the LAN
    too_big_limiter _resolve_limit;  // route: packets for unresolved LAN hosts to control
    flood_budget _relay_limit;       // packets to relay that wait for a session, to control
    flood_budget _queue_copy_limit;  // flood copies for peers without a session, to control
    flood_budget _exception_in_limit;   // to the kernel's exception interfaces
    flood_budget _exception_out_limit;  // from them
    // Outer fragments (wan-fragment; reassembly of what peers fragmented).
    rte_ip_frag_tbl* _frag_tbl = nullptr;
    rte_ip_frag_death_row _death_row{};
    uint32_t _frag_id = 0;
};

inline void worker::commit_tx_stats() noexcept {
    if (_tx_pending_packets != 0) {
        _stats.tx_packets.add(_tx_pending_packets);
        _stats.tx_bytes.add(_tx_pending_bytes);
        _tx_pending_packets = 0;
        _tx_pending_bytes = 0;
    }
}

inline void worker::flush_tx(uint16_t port_id, rte_eth_dev_tx_buffer* b) noexcept {
    const auto q = static_cast<uint16_t>(_s.worker_idx);
    pmd::host_tap* tap = _tap[port_id];
    if (tap == nullptr) {
        rte_eth_tx_buffer_flush(port_id, q, b);
        return;
    }
    const uint16_t n = b->length;
    if (n == 0) {
        return;
    }
    b->length = 0;
    const uint16_t sent = tap->tx_burst(q, b->pkts, n);
    if (sent < n) [[unlikely]] {
        b->error_callback(&b->pkts[sent], static_cast<uint16_t>(n - sent), b->error_userdata);
    }
}

inline void worker::timed_flush_tx(uint16_t port_id, rte_eth_dev_tx_buffer* b) noexcept {
    if (_clk.on()) [[unlikely]] {
        flush_tx_timed(port_id, b);
        return;
    }
    flush_tx(port_id, b);
}

inline void worker::send(rte_mbuf* m, uint16_t port_id, uint32_t bytes) noexcept {
    ++_tx_pending_packets;
    _tx_pending_bytes += bytes;
    // rte_eth_tx_buffer(), with the counters committed before its flush.
    rte_eth_dev_tx_buffer* b = _txb[port_id];
    b->pkts[b->length++] = m;
    if (b->length >= b->size) {
        commit_tx_stats();
        timed_flush_tx(port_id, b);
    }
}

inline void worker::send_bulk(uint16_t port_id, rte_mbuf* const* pkts, unsigned n, uint64_t bytes) noexcept {
    _tx_pending_packets += n;
    _tx_pending_bytes += bytes;
    rte_eth_dev_tx_buffer* b = _txb[port_id];
    while (n != 0) {
        // A buffer is flushed as soon as it is full, so there is always room for one.
        const unsigned k = std::min<unsigned>(n, static_cast<unsigned>(b->size - b->length));
        std::memcpy(&b->pkts[b->length], pkts, k * sizeof(rte_mbuf*));
        b->length = static_cast<uint16_t>(b->length + k);
        pkts += k;
        n -= k;
        if (b->length >= b->size) {
            commit_tx_stats();
            timed_flush_tx(port_id, b);
        }
    }
}

// Defined here so that egress.cc and lan.cc both inline it (the per-frame step of sealing).
inline bool worker::seal_one(rte_mbuf* m, const peer_entry& p, const dataplane_snapshot& s, bool full_frame) noexcept {
    switch (_sealer.add_frame(m, p, s.self_id, full_frame, _s.wan_fragment)) {
    case sealer::verdict::queued:
        if (_sealer.full()) [[unlikely]] {
            seal_flush();
        }
        return true;
    case sealer::verdict::too_big:
        answer_too_big(m, sealer::inner_mtu(p, full_frame), _egress_port);
        drop(m, drop_reason::too_big);
        return false;
    case sealer::verdict::no_buffer:
        drop(m, drop_reason::no_buffer);
        return false;
    case sealer::verdict::bad_length:
        break;
    }
    drop(m, drop_reason::bad_length);  // overlay ports deliver one segment per frame
    return false;
}

}  // namespace engine
