// SPDX-License-Identifier: MIT
// Per-lcore counters and the fixed list of drop reasons (docs/design.md §5 per-lcore counters, §8 drop reasons).
// Each worker writes only its own cache-aligned block; the control thread sums them when it
// answers `status`. Counters are relaxed atomics written by a single thread: on x86-64 an
// increment is a plain load/add/store, and the reader never sees a torn value.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "pmd/dp_memory.hh"

namespace engine {

/// A single-writer counter: only its owning lcore calls add(); anyone may load().
class counter {
public:
    void add(uint64_t n = 1) noexcept { _v.store(_v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    [[nodiscard]] uint64_t load() const noexcept { return _v.load(std::memory_order_relaxed); }
    void set(uint64_t v) noexcept { _v.store(v, std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> _v{0};
};

/// Why a packet was dropped. Every packet a worker receives leaves exactly one way: sent,
/// handed to the control thread, or dropped with one of these reasons.
enum class drop_reason : uint8_t {
    bad_length,          // shorter than the headers it claims
    unknown_ethertype,   // neither ARP, IPv4 nor IPv6
    not_for_us,          // unicast frame or packet for an address that is not ours
    bad_ip_header,       // IPv4 version/header length/total length/checksum wrong
    ip_fragment,         // fragment to our address of a protocol no dvpe transport uses
    unhandled_protocol,  // IP protocol to our address that nothing here speaks
    unhandled_icmp,      // ICMP to our address other than echo request
    unhandled_arp,       // ARP that is neither a request for us nor a reply
    control_ring_full,   // the control thread's ring was full
    no_session,          // overlay frame for a node without a session
    tx_failed,           // the tx queue stayed full (counted after the packet left one of the
                         // other ways: not part of accounted())
    disabled_transport,  // a dvpe transport this node does not speak (enable-*)
    bad_header,          // dvpe header: version, type, node ids, lane or size wrong
    unknown_node,        // overlay destination MAC or wire source id is no configured node
    to_self,             // overlay frame addressed to our own node MAC
    unknown_key,         // data packet for a key id we do not have (any more)
    replayed,            // counter seen before or older than the replay window
    auth_failed,         // AEAD tag did not verify
    not_router,          // packet for another node, and we do not relay (router-priority 0)
    no_route,            // packet to relay, but no session to its destination (and no queue, or
                         // the hand-overs to the control thread over their rate: relay_wait)
    no_overlay,          // decrypted frame, but this node has no overlay port
    no_buffer,           // no mbuf (broadcast copy) or no head/tailroom for the headers
    too_big,             // sealed packet would exceed the WAN MTU (overlay frame above the overlay MTU)
    bad_source_mac,      // bridge: a frame with a group (multicast) source MAC
    bridge_local,        // bridge: LAN frame to a MAC on the same LAN (no hairpin)
    no_prefix,           // route: no node owns the destination (answered: ICMP unreachable)
    own_prefix,          // route: LAN packet to a prefix of our own
    ttl_expired,         // route: hop limit would reach 0 (LAN side answered: ICMP time exceeded)
    spoofed_source,      // route: inner source not owned by the sending node
    not_routable,        // route: not IPv4/IPv6, truncated or bad IP header where routing needs one
    mac_conflict,        // bridge: a peer's frame from a MAC heard on our LAN in the last seconds,
                         // or from a static MAC of another owner (not delivered, not learned)
    lan_unresolved,      // route: LAN host unknown and the hand-overs to control over their rate
    flood_budget,        // broadcast / multicast / unknown unicast whose copies to every peer were
                         // over this worker's flood budget (engine/flood_budget.hh)
    bad_control,         // authenticated control message (data_flag_control) longer than any, or
                         // over the rate of hand-overs to the control thread (no control thread
                         // in benchmark mode)
    exception_limit,     // for the kernel's exception interface or from it, over exception-rate
                         // (docs/exception-path.md)
    exception_full,      // the exception interface's tx queue stayed full (like tx_failed: the
                         // packet had left as exception_in/out; not part of accounted())
    kernel_owned,        // not a dvpe packet, on a wan port whose interface the kernel keeps (the
                         // automatic layout, docs/config.md): the kernel got it too and answers it
    stream_full,         // the ring to the tcp slow path stayed full (like tx_failed: the packet had
                         // left as sealed or relayed; not part of accounted())
    count_
};

inline constexpr size_t n_drop_reasons = static_cast<size_t>(drop_reason::count_);

/// Names used by the control socket, dvpectl and tests (snake_case: telemetry-safe keys).
inline constexpr std::array<std::string_view, n_drop_reasons> drop_reason_names{
    "bad_length",   "unknown_ethertype", "not_for_us",        "bad_ip_header", "ip_fragment", "unhandled_protocol",
    "unhandled_icmp", "unhandled_arp",   "control_ring_full", "no_session",    "tx_failed",
    "disabled_transport", "bad_header",  "unknown_node",      "to_self",       "unknown_key", "replayed",
    "auth_failed",    "not_router",      "no_route",          "no_overlay",    "no_buffer",
    "too_big",      "bad_source_mac",    "bridge_local",      "no_prefix",     "own_prefix",
    "ttl_expired",  "spoofed_source",    "not_routable",      "mac_conflict",  "lan_unresolved",
    "flood_budget",
    "bad_control",
    "exception_limit", "exception_full", "kernel_owned", "stream_full",
};

constexpr std::string_view to_string(drop_reason r) noexcept { return drop_reason_names[static_cast<size_t>(r)]; }

/// One worker's counters. Cache-aligned so two workers never share a line.
struct alignas(64) worker_stats {
    counter rx_packets, rx_bytes;
    counter tx_packets, tx_bytes;      // handed to the port's tx queue successfully
    counter polls, empty_polls, idle_sleeps;
    counter idle_wakeups;              // idle-wait = interrupt: blocking waits that returned
    counter busy_cycles;               // TSC cycles spent in non-empty iterations
    counter arp_replies;               // ARP requests for our addresses answered
    counter icmp_echo_replies;         // ICMP echo requests to our addresses answered
    counter to_control;                // packets handed to the control thread
    counter from_control;              // packets the control thread asked us to send
    counter encrypted;                 // overlay frames sealed and sent (a broadcast counts once)
    counter decrypted;                 // data packets opened and delivered to the overlay
    counter keepalives;                // authenticated empty data packets (consumed)
    counter relayed;                   // packets for another node forwarded unchanged
    counter too_big_answers;           // ICMP/ICMPv6 "too big" sent for oversize overlay frames
                                       // (sent, not received: not part of accounted())
    counter fragmented;                // sealed packets sent as outer fragments (wan-fragment)
    counter fragments_in;              // outer fragments taken by the reassembly table
    counter reassembled;               // whole packets the table gave back (then handled as usual)
    counter switched;                  // bridge: frames passed between the TAP and the LAN of this node
    counter local_copies;              // flooded frames also copied to the TAP / LAN beside it
                                       // (sent, not received: not part of accounted())
    counter icmp_errors;               // route: ICMP unreachable / time exceeded sent to the LAN
                                       // (sent, not received: not part of accounted())
    counter learn_events;              // bridge: new or moved MACs reported to the control thread
    counter learn_ring_full;           // bridge: reports lost, the learn ring was full
    counter exception_in;              // handed to the kernel's exception interface (docs/exception-path.md)
    counter exception_out;             // from the exception interface, sent out of its WAN port
    counter exception_copies;          // ARP replies / neighbour advertisements also copied to the
                                       // kernel (sent, not received: not part of accounted())
    counter copies_lost;               // broadcast copies dropped (no mbuf, too big, no room): each is
                                       // in `drops` by its reason, but was never received, so
                                       // accounted() takes them out again
    // Per-stage cycle counters (engine/stage_clock.hh): TSC cycles of each stage of the sampled
    // busy iterations, with their calls and packets; clk_cycles is the sum of the six stages.
    counter clk_iterations;            // busy iterations timed (every stage_clock period-th)
    counter clk_cycles;                // their cycles, without the clock's own extra readings
    counter clk_rx_cycles, clk_rx_calls, clk_rx_packets;  // calls: polls that returned packets
    counter clk_prepare_cycles;        // per burst (as rx's calls and packets)
    counter clk_aead_cycles, clk_aead_calls, clk_aead_packets;  // calls: AEAD calls (one per run)
    counter clk_finish_cycles;         // per AEAD batch (as aead's packets)
    counter clk_tx_cycles, clk_tx_calls, clk_tx_packets;  // calls: tx bursts (buffer flushes)
    counter clk_other_cycles;
    counter clk_reading_cost;          // one TSC reading's cycles, taken off every interval
    counter clk_discarded;             // timed iterations left out: preempted inside (stage_clock.hh)
    std::array<counter, n_drop_reasons> drops;

    void drop(drop_reason r, uint64_t n = 1) noexcept { drops[static_cast<size_t>(r)].add(n); }

    /// Every scalar counter with its name (telemetry, and anything else that lists them all).
    struct field {
        std::string_view name;
        counter worker_stats::*member;
    };
    static constexpr std::array<field, 46> fields();

    /// Every received packet leaves exactly one way; this is the sum of those ways.
    [[nodiscard]] uint64_t accounted() const noexcept {
        // tx_failed is not a way out: the packet had already left one (sealed, answered, ...)
        // when the tx queue refused it.
        uint64_t d = 0;
        for (size_t i = 0; i < drops.size(); ++i) {
            const bool after_leaving = i == static_cast<size_t>(drop_reason::tx_failed) ||
                                       i == static_cast<size_t>(drop_reason::exception_full) ||
                                       i == static_cast<size_t>(drop_reason::stream_full);
            d += after_leaving ? 0 : drops[i].load();
        }
        // A reassembled packet is handled once more (it is in some other term); its fragments
        // are in fragments_in. Fragments that never complete stay in fragments_in only.
        return d + arp_replies.load() + icmp_echo_replies.load() + to_control.load() + encrypted.load() +
               decrypted.load() + keepalives.load() + relayed.load() + switched.load() + exception_in.load() +
               exception_out.load() + fragments_in.load() - reassembled.load() -
               copies_lost.load();
    }
};

/// Per-peer traffic of one worker, indexed by node id; control sums over workers.
constexpr std::array<worker_stats::field, 46> worker_stats::fields() {
    return {{{"rx_packets", &worker_stats::rx_packets},
             {"rx_bytes", &worker_stats::rx_bytes},
             {"tx_packets", &worker_stats::tx_packets},
             {"tx_bytes", &worker_stats::tx_bytes},
             {"polls", &worker_stats::polls},
             {"empty_polls", &worker_stats::empty_polls},
             {"idle_sleeps", &worker_stats::idle_sleeps},
             {"idle_wakeups", &worker_stats::idle_wakeups},
             {"busy_cycles", &worker_stats::busy_cycles},
             {"arp_replies", &worker_stats::arp_replies},
             {"icmp_echo_replies", &worker_stats::icmp_echo_replies},
             {"to_control", &worker_stats::to_control},
             {"from_control", &worker_stats::from_control},
             {"encrypted", &worker_stats::encrypted},
             {"decrypted", &worker_stats::decrypted},
             {"keepalives", &worker_stats::keepalives},
             {"relayed", &worker_stats::relayed},
             {"too_big_answers", &worker_stats::too_big_answers},
             {"fragmented", &worker_stats::fragmented},
             {"fragments_in", &worker_stats::fragments_in},
             {"reassembled", &worker_stats::reassembled},
             {"switched", &worker_stats::switched},
             {"local_copies", &worker_stats::local_copies},
             {"icmp_errors", &worker_stats::icmp_errors},
             {"learn_events", &worker_stats::learn_events},
             {"learn_ring_full", &worker_stats::learn_ring_full},
             {"copies_lost", &worker_stats::copies_lost},
             {"exception_in", &worker_stats::exception_in},
             {"exception_out", &worker_stats::exception_out},
             {"exception_copies", &worker_stats::exception_copies},
             {"clk_iterations", &worker_stats::clk_iterations},
             {"clk_cycles", &worker_stats::clk_cycles},
             {"clk_rx_cycles", &worker_stats::clk_rx_cycles},
             {"clk_rx_calls", &worker_stats::clk_rx_calls},
             {"clk_rx_packets", &worker_stats::clk_rx_packets},
             {"clk_prepare_cycles", &worker_stats::clk_prepare_cycles},
             {"clk_aead_cycles", &worker_stats::clk_aead_cycles},
             {"clk_aead_calls", &worker_stats::clk_aead_calls},
             {"clk_aead_packets", &worker_stats::clk_aead_packets},
             {"clk_finish_cycles", &worker_stats::clk_finish_cycles},
             {"clk_tx_cycles", &worker_stats::clk_tx_cycles},
             {"clk_tx_calls", &worker_stats::clk_tx_calls},
             {"clk_tx_packets", &worker_stats::clk_tx_packets},
             {"clk_other_cycles", &worker_stats::clk_other_cycles},
             {"clk_reading_cost", &worker_stats::clk_reading_cost},
             {"clk_discarded", &worker_stats::clk_discarded}}};
}
static_assert(sizeof(worker_stats) == (sizeof(counter) * (46 + n_drop_reasons) + 63) / 64 * 64,
              "a counter added to worker_stats belongs in worker_stats::fields() too");

/// Per worker and peer. The eight counters the data path writes fill one cache line (so a
/// packet touches one line of its peer's stats); the rare ones follow on the next.
struct alignas(64) node_stats {
    counter tx_packets, tx_bytes;      // sealed towards the node (overlay frame bytes)
    counter rx_packets, rx_bytes;      // opened from the node (overlay frame bytes)
    counter keepalives;                // authenticated empty packets from the node
    counter no_session;                // frames for the node dropped for want of a session
    counter last_rx_key_id;            // key id of the latest authenticated packet (for rekey)
    counter tx_counter;                // this worker's lane counter under the current send key
    counter closes;                    // empty packets with the close flag: the node is stopping
    // Roaming (rare; engine/ingress.cc note_source): the outer source of the latest authenticated
    // packet from the node that did not come from the address its path sends to. roam_reports is
    // a sequence count (write_roam_report() below): odd while the worker writes the fields, even
    // after, twice the number of such packets' runs; the control thread reads count, fields,
    // count again (roam_report() below).
    counter roam_reports;
    counter roam_ip_lo, roam_ip_hi;    // the source address; IPv4 in the first 4 bytes
    counter roam_meta;                 // roam_meta_v6 | roam_meta_icmp_request | transport kind << 8 |
                                       // WAN port id << 16 | UDP source port or ICMP identifier
                                       // << 32 (0 for rawip)
    // Drops of packets whose header names the node as sender (a forger can name anyone: what the
    // node's path or an attacker on it costs), beside the worker-wide drops by reason.
    counter auth_failed;               // the tag did not verify
    counter replayed;                  // the counter was seen before or is older than the window
};
static_assert(offsetof(node_stats, closes) == 64, "the hot counters in the first cache line");
static_assert(sizeof(node_stats) == 128, "two cache lines per worker and node");
/// Per-node counters of one worker, index = node id: in per-peer state memory
/// (pmd/dp_memory.hh), read by every packet of a peer.
using node_stats_table = std::vector<node_stats, pmd::dp_allocator<node_stats>>;

inline constexpr uint64_t roam_meta_v6 = 1;
inline constexpr uint64_t roam_meta_icmp_request = 2;  ///< icmp: an echo request

/// The worker that owns `ns` writes one roaming report. The count goes odd before the fields
/// change and even after, so a reader that finds the same even count before and after reading
/// them read one report whole (a seqlock; a count written only after the fields would not tell a
/// reader that the fields changed under it while the count had not moved yet).
inline void write_roam_report(node_stats& ns, uint64_t ip_lo, uint64_t ip_hi, uint64_t meta) noexcept {
    ns.roam_reports.add();  // odd: writing
    std::atomic_thread_fence(std::memory_order_release);
    ns.roam_ip_lo.set(ip_lo);
    ns.roam_ip_hi.set(ip_hi);
    ns.roam_meta.set(meta);
    std::atomic_thread_fence(std::memory_order_release);
    ns.roam_reports.add();  // even: complete
}

/// One consistent roaming report of `ns` (see node_stats): nullopt if none was ever written or
/// the worker was writing a newer one meanwhile (the next reading gets it).
struct roam_source {
    uint64_t reports = 0;              // reports written so far (roam_reports / 2) when read
    std::array<uint8_t, 16> ip{};
    bool v6 = false;
    uint8_t kind = 0;                  // transport::kind
    uint16_t port_id = 0;
    uint16_t udp_port = 0;             // udp: source port; icmp: identifier
    bool icmp_request = false;
};
[[nodiscard]] inline std::optional<roam_source> roam_report(const node_stats& ns) noexcept {
    roam_source r;
    const uint64_t seq = ns.roam_reports.load();
    if (seq == 0 || (seq & 1U) != 0) {  // none yet, or the worker is writing one
        return std::nullopt;
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    const uint64_t lo = ns.roam_ip_lo.load(), hi = ns.roam_ip_hi.load(), meta = ns.roam_meta.load();
    std::atomic_thread_fence(std::memory_order_acquire);
    if (ns.roam_reports.load() != seq) {
        return std::nullopt;
    }
    r.reports = seq / 2;
    std::memcpy(r.ip.data(), &lo, 8);
    std::memcpy(r.ip.data() + 8, &hi, 8);
    r.v6 = (meta & roam_meta_v6) != 0;
    r.kind = static_cast<uint8_t>(meta >> 8U);
    r.port_id = static_cast<uint16_t>(meta >> 16U);
    r.udp_port = static_cast<uint16_t>(meta >> 32U);
    r.icmp_request = (meta & roam_meta_icmp_request) != 0;
    return r;
}

}  // namespace engine
