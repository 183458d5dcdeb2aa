// SPDX-License-Identifier: MIT
// The real data plane the data-path fuzz target drives (datapath_fuzz.cc), shared by its
// libFuzzer binary and datapath_fuzz_replay: DPDK's EAL (--no-huge --no-shconf --no-pci
// --no-telemetry), two mbuf pools, net_ring ports with one rx/tx queue pair per worker, AEAD keys
// from crypto/ for every (cipher, peer, direction, key generation), and per fuzz input a fresh
// node: a dataplane_snapshot with six peers (one per transport, udp4 .. icmp6, real outer
// templates from transports/outer.hh), an RCU and two engine::worker objects run on this thread
// through worker::iterate() (which calls ingress_burst/egress_burst exactly as dvped does).
//
// The fuzz harness plays the peers: it seals data packets with the peers' real keys (data header
// from transports/wire.hh, nonce, AEAD), wraps them in real outer headers, and opens what the node
// seals towards them.
//
// Under ASan (g++ or clang), WAN frames come from their own pool and the tailroom behind the frame
// is poisoned (each segment's), so a worker reading past a frame's end is reported even though
// DPDK's memory is not heap memory. The harness leaves out IP fragments (DPDK's reassembly
// library, not instrumented, copies them into that tailroom when it linearizes) and neighbour
// solicitations (a worker may grow one into its advertisement).
//
// Threads: one thread (the fuzzer's); EAL lcore 0 is allowed on every CPU (no pinning).
#pragma once

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "crypto/aead.hh"
#include "engine/rcu.hh"
#include "engine/snapshot.hh"
#include "engine/worker.hh"
#include "transports/classify.hh"
#include "transports/kind.hh"
#include "transports/outer.hh"

namespace dpfuzz {

using bytes = std::vector<uint8_t>;

inline constexpr unsigned n_workers = 2;
inline constexpr unsigned n_peers = 6;
inline constexpr unsigned n_ciphers = 3;        // aes256-gcm, aes128-gcm, chacha20-poly1305
inline constexpr unsigned n_generations = 8;    // key generations a run may rekey through
inline constexpr unsigned burst = engine::limits::max_burst;
inline constexpr uint16_t self_id = 2;
/// Peer node ids: both nibbles of `srcdst` in use. Peer i sends with transport kind i towards us.
inline constexpr std::array<uint16_t, n_peers> peer_ids = {1, 3, 0x0ff, 0x100, 0x2a5, 0x3fe};
inline constexpr uint16_t our_udp_port = 655;   // ours and every peer's udp-port
inline constexpr uint8_t ip_proto = 47;

rte_ether_addr node_mac(uint16_t id);           // overlay fe:fd:80:00:HH:LL
rte_ether_addr wan_mac(uint16_t id);            // underlay 02:00:00:ee:HH:LL
transport::ip_address wan_ip(uint16_t id, bool v6);
/// The receive key id a node gives key generation `gen` of the sessions with peer index `p`.
uint8_t key_id(unsigned p, unsigned gen);

enum class dir : uint8_t { to_us, from_us };

/// A ring-backed ethdev with one rx and one tx queue per worker.
struct ring_port {
    uint16_t id = 0;
    std::array<rte_ring*, n_workers> rx{};
    std::array<rte_ring*, n_workers> tx{};
};

/// Per fuzz input: how the node is configured.
struct node_options {
    bool router = false;
    bool queue_without_session = false;
    bool wan_fragment = false;
    bool has_overlay = true;
    bool udp_port0 = false;            // our udp-port 0: peers send to our lane ports
    unsigned cipher = 0;               // index into the world's ciphers
    uint8_t not_ready = 0;             // bit i: peer i has no session (tx_ready false)
    uint8_t tos = 0;                   // bit i: inherit-tos towards peer i
    uint8_t small_mtu = 0;             // bit i: tx_mtu 576 towards peer i (else 1500)
    uint8_t sport_step0 = 0;           // bit i: peer i is a udp-port 0 peer (udp_sport_step 0)
    uint8_t disabled = 0;              // kind_bit mask of transports we do not speak
    uint8_t icmp_type = 0;             // our icmp-type (0 or 8)
    // The site LAN port (docs/site-gateways.md) beside the TAP: host = none; bridge with a small
    // MAC table (lan_macs), route with the prefixes of lan_routes() and one LAN neighbour.
    pmd::overlay_mode lan = pmd::overlay_mode::host;
    // The WAN port has an exception interface (docs/exception-path.md): what the engine does not
    // consume goes there instead of being dropped.
    bool exception = false;
};

/// Site-LAN fixtures (node_options::lan). Bridge: MAC 02:11:22:33:44:0X (X < 8) lives behind
/// peer X % n_peers, 02:11:22:33:44:08 on our LAN. Route: 10.P.0.0/16 and fd00:0:P::/48 belong to
/// peer_ids[P] (P < n_peers), 10.9.0.0/16 and fd00:0:9::/48 to us; our lan-address is 10.9.0.1 /
/// fd00:0:9::1, and 10.9.0.5 / fd00:0:9::5 is the one resolved LAN host (lan_host_mac).
inline constexpr uint8_t lan_self_net = 9;
inline constexpr rte_ether_addr lan_host_mac{{0x02, 0x44, 0x44, 0x44, 0x44, 0x05}};
inline constexpr rte_ether_addr lan_port_mac{{0x02, 0x1a, 0x00, 0x00, 0x00, 0x02}};
inline rte_ether_addr lan_mac_entry(uint8_t x) { return {{0x02, 0x11, 0x22, 0x33, 0x44, x}}; }
/// The owner of 10.`net`.x.x / fd00:0:`net`::x (a node id), or 0.
inline uint16_t lan_owner(uint8_t net) { return net == lan_self_net ? self_id : net < n_peers ? peer_ids[net] : 0; }

/// Process-wide: EAL, pools, ports, keys. Built once (the first input), never torn down.
class world {
public:
    static world& get();

    rte_mempool* pool = nullptr;       // the workers' pool and overlay frames
    rte_mempool* wan_pool = nullptr;   // WAN frames the harness injects
    unsigned pool_size = 0, wan_pool_size = 0;
    ring_port wan, ovl;
    ring_port lan;                     // the site LAN port (ports[2]; its mode is per run)
    ring_port exc;                     // the WAN port's exception interface (ports[3]; linked per run)
    engine::port_table ports{};
    rte_ring* to_control = nullptr;
    rte_ring* learn = nullptr;         // bridge learn events (MP/SC), drained after every burst
    std::array<rte_ring*, n_workers> from_control{};
    std::vector<crypto::aead_choice> ciphers;
    std::optional<crypto::aead_context> ctx;  // the peers' side: seal towards us, open from us

    [[nodiscard]] const crypto::aead_key& key(unsigned cipher, unsigned peer, dir d, unsigned gen) const;

private:
    world();
    std::vector<std::unique_ptr<crypto::aead_key>> _keys;  // [cipher][peer][dir][gen]
};

/// The long-lived part of a node: RCU, the published snapshot pointer and two workers. Building
/// workers is most of a run's cost (crypto contexts, per-node tables), so they are kept across
/// runs, one set per wan-fragment setting, and rebuilt only after a run that fed outer
/// fragments (the reassembly table may still hold some: rebuilding frees them and keeps runs
/// independent). Per run, workers only keep their cumulative counters; their send lanes restart
/// as every run's snapshot has new send-key generations.
struct engine_set {
    std::unique_ptr<engine::rcu> rcu;
    std::unique_ptr<engine::published<engine::dataplane_snapshot>> snap;
    std::array<std::unique_ptr<engine::worker>, n_workers> workers;
};

/// One node for one fuzz input: a snapshot (fresh replay windows) on a kept engine_set. When it
/// is destroyed the snapshot is retired, the rings drained, and every mbuf is back in its pool.
class node {
public:
    explicit node(const node_options& o);
    ~node();
    node(const node&) = delete;
    node& operator=(const node&) = delete;

    /// (Re)builds and publishes the snapshot from the options, generations and windows below.
    void publish();
    /// Feeds `wan`, `ovl` and `lan` as one burst each to worker `w`'s queues of the WAN, the
    /// overlay (TAP) and the LAN port and runs one iteration of it (ingress_burst, then egress_burst). Returns false if a
    /// burst was not taken whole (a harness error).
    bool run_burst(unsigned w, std::span<rte_mbuf* const> wan, std::span<rte_mbuf* const> ovl,
                   std::span<rte_mbuf* const> lan = {});

    [[nodiscard]] const engine::worker& worker(unsigned w) const { return *_e->workers[w]; }
    /// Worker w's counters at the start of this run (they are cumulative over runs).
    [[nodiscard]] const engine::worker_stats& start(unsigned w) const { return _start[w]; }
    [[nodiscard]] const node_options& options() const { return _o; }
    [[nodiscard]] transport::local_config local() const;
    /// The newest receive generation of peer p is rx_base[p] + 2 (slots hold base .. base + 2).
    std::array<unsigned, n_peers> rx_base{};
    std::array<unsigned, n_peers> tx_gen{};  // the generation of our send key towards peer p
    node_options o_mut;                      // options the next publish() uses (router toggles)

private:
    engine::rx_windows* windows(unsigned p, unsigned gen);

    node_options _o;
    engine_set* _e = nullptr;
    std::array<engine::worker_stats, n_workers> _start;
    std::map<std::pair<unsigned, unsigned>, std::unique_ptr<engine::rx_windows>> _windows;
    uint32_t _run = 0;  // tx_generation base: new for every run
    std::atomic<uint32_t> _clock{1};  // the control thread's coarse clock (MAC last use)
};

/// The outer header template of transport `k` from peer index `p` to us (or from us to p).
transport::outer_template template_to_us(transport::kind k, unsigned p, const transport::local_config& us,
                                         uint16_t lane);
transport::outer_template template_from_us(unsigned p, const node_options& o);
/// What peer p's node would classify with: its addresses, udp-port 655, icmp-type 0.
transport::local_config peer_local(unsigned p);

/// An mbuf (chain) holding `frame`, cut at `cuts` (ascending offsets into the frame; each segment
/// gets at least one byte), the first segment starting `headroom_cut` bytes before the default
/// headroom's end. Poisons the tailroom of WAN frames under ASan (see the file comment).
/// Returns nullptr if the pool is empty or a segment does not fit.
rte_mbuf* make_mbuf(rte_mempool* pool, const bytes& frame, std::span<const uint16_t> cuts, unsigned headroom_cut,
                    bool poison);
/// The bytes of every segment of m.
bytes read_mbuf(const rte_mbuf* m);
/// Frees everything on a ring.
void drain(rte_ring* r);
/// Empties the learn ring (its events are no mbufs).
void drain_learn();

}  // namespace dpfuzz
