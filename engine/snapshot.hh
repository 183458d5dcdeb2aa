// SPDX-License-Identifier: MIT
// What the data plane knows about peers: an immutable snapshot built by the control thread and
// read by every worker without locks (engine/rcu.hh). "Exposed for the data plane" (docs/design.md §3):
// index-based, no pointers into control structures except the AEAD keys and replay windows,
// whose lifetime control guarantees until the snapshot that references them is retired.
//
// Lanes and nonces (docs/protocol.md "Lanes, nonces and replay"): worker w seals every packet it
// sends with lane w and its own counter for that (peer, send key); the control thread seals on
// transport::control_lane, which no worker may have (config validation and the worker refuse
// it), so (key, lane, counter) -- the AEAD nonce -- never repeats. The receiver keeps ONE replay
// window per (peer, receive key, sender lane), shared by all its workers: the outer headers are
// not authenticated, so a packet re-sent with another source port or address may reach any
// worker, and must meet the same window there.
// Threads: built and published by the control thread; read by workers.
#pragma once

#include <rte_ether.h>
#include <rte_spinlock.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

#include "crypto/aead.hh"
#include "engine/mac_table.hh"
#include "engine/replay.hh"
#include "engine/route_table.hh"
#include "pmd/dp_memory.hh"
#include "pmd/port_role.hh"
#include "transports/classify.hh"
#include "transports/outer.hh"

namespace engine {

namespace limits {
inline constexpr unsigned max_node_id = transport::max_node_id;
inline constexpr unsigned max_lanes = transport::udp_lanes;  // sender lanes a receiver keeps windows for
inline constexpr unsigned rx_keys_per_peer = 3;   // previous, current, next (make-before-break)
}  // namespace limits

/// 16320 counters: 255 blocks + 1 of slack = 256, so the block index is a mask, not a `% 129`
/// (docs/performance.md "Recovering the decrypt cost"); docs/protocol.md states the size.
using replay = replay_window<16320>;
static_assert((replay::n_blocks & (replay::n_blocks - 1)) == 0, "a power-of-two ring");

/// The replay window of one sender lane under one receive key. Any worker may receive the lane;
/// accept() runs under `lock` (workers take it once per run of packets from the lane, in
/// open_flush) -- unless the process has one worker (worker_setup::shared_replay_windows), the
/// only thread that touches windows then -- and would_accept() without it (replay.hh says why
/// that is safe).
struct alignas(64) lane_window {
    rte_spinlock_t lock = RTE_SPINLOCK_INITIALIZER;
    replay w;
};

/// Replay windows of one receive key, one per sender lane. Owned by control (kept alive by
/// every snapshot that points at them), written by the workers under each window's lock (or
/// by the only worker without it). In
/// per-peer state memory (pmd/dp_memory.hh: DPDK's hugepage heap in dvped).
struct rx_windows {
    struct release {
        void operator()(lane_window* w) const noexcept { pmd::dp_free(w, alignof(lane_window)); }
    };
    static_assert(std::is_trivially_destructible_v<lane_window>, "freed without destructor calls");
    std::unique_ptr<lane_window[], release> w;  // limits::max_lanes
    static std::unique_ptr<rx_windows> create() {
        auto r = std::make_unique<rx_windows>();
        void* mem = pmd::dp_zalloc(sizeof(lane_window) * limits::max_lanes, alignof(lane_window));
        if (mem == nullptr) {
            throw std::bad_alloc();
        }
        auto* lanes = static_cast<lane_window*>(mem);
        for (unsigned i = 0; i < limits::max_lanes; ++i) {
            new (&lanes[i]) lane_window{};
        }
        r->w.reset(lanes);
        return r;
    }
};

struct rx_key_slot {
    const crypto::aead_key* key = nullptr;  // null: slot empty
    lane_window* windows = nullptr;          // rx_windows::w of the key: limits::max_lanes windows
                                             // (the array itself: one dependent load fewer a lookup)
    uint8_t key_id = 0;
};

struct peer_entry {
    uint16_t node_id = 0;
    bool tx_ready = false;                   // a send key and a resolved path exist
    uint8_t tx_key_id = 0;                   // the peer's receive key id for our send key
    uint32_t tx_generation = 0;              // new for every send key: lanes restart their counter
    const crypto::aead_key* tx_key = nullptr;
    uint16_t tx_port_id = 0;                 // the WAN port towards the peer (or its router)
    uint16_t tx_mtu = 1500;                  // that port's MTU: larger sealed packets are dropped
    uint16_t udp_sport_base = 0;             // lane w uses udp_sport_base + w
    rte_ether_addr mac{};                    // the peer's overlay MAC fe:fd:80:00:HH:LL
    uint8_t tos_mask = 0;                    // inherit-tos: 0xfc (inner DSCP -> outer TOS), else 0
    uint8_t udp_sport_step = 1;              // 0 for a udp-port 0 peer: every lane sends from
                                             // udp_sport_base (our udp-port), which its NAT maps back
    bool routed = false;                     // reached through a router (tmpl goes to it): we
                                             // relay nothing to this peer (one relay hop, no loops)
    bool follow_port = false;                // udp to the port its packets come from (no hostname:
                                             // behind a NAT): roaming compares the port too
    std::array<rx_key_slot, limits::rx_keys_per_peer> rx{};
    transport::outer_template tmpl{};        // Ethernet + IP + UDP/ICMP towards the peer

    /// The receive key slot holding key id `key_id`, or nullptr. The newest slot first; key ids
    /// are unique per peer anyway. (ingress_dvpe's lookup and prefetch_window's hint.)
    [[nodiscard]] const rx_key_slot* rx_slot(uint8_t key_id) const noexcept {
        for (unsigned k = limits::rx_keys_per_peer; k-- > 0;) {
            if (rx[k].key != nullptr && rx[k].key_id == key_id) {
                return &rx[k];
            }
        }
        return nullptr;
    }

    /// The UDP source port of everything sent to this peer on `lane` (a worker index, or
    /// transport::control_lane): the one rule for sealed, relayed and handshake packets.
    [[nodiscard]] uint16_t udp_sport(unsigned lane) const noexcept {
        return static_cast<uint16_t>(udp_sport_base + lane * udp_sport_step);
    }
};

struct dataplane_snapshot {
    uint16_t self_id = 0;
    rte_ether_addr self_mac{};
    bool has_overlay = false;
    uint16_t overlay_port_id = 0;            // the node's own TAP (host mode): where node-MAC
                                             // frames for us are delivered
    // The site LAN (docs/site-gateways.md): at most one port, bridged or routed; host: none.
    pmd::overlay_mode lan_mode = pmd::overlay_mode::host;
    uint16_t lan_port_id = 0;
    rte_ether_addr lan_mac{};                // that port's MAC (route mode: the LAN's next hop)
    const mac_table* macs = nullptr;         // bridge: MAC -> owner (kept alive by `owned`)
    const route_table* routes = nullptr;     // route: prefix -> node (kept alive by `owned`)
    const lan_neighbours* lan_neigh = nullptr;  // route: LAN host IP -> MAC (kept alive by `owned`)
    const std::atomic<uint32_t>* clock = nullptr;  // coarse seconds, control's (MAC last use)
    bool router = false;                     // router-priority >= 1: relay packets for others
    bool queue_without_session = false;      // hand frames for peers without a session to control
                                             // (max-queue/max-ttl) instead of dropping them
    transport::local_config local{};         // our underlay addresses and transports
    // index = node id; [0] unused. In per-peer state memory (pmd/dp_memory.hh), as the keys.
    std::vector<peer_entry, pmd::dp_allocator<peer_entry>> peers;
    std::vector<uint16_t> broadcast_to;      // peers with tx_ready, for broadcast/multicast
    std::vector<uint16_t> queue_flood_for;   // the others (no session yet): with
                                             // queue_without_session a flood's copy for each goes
                                             // to control, which queues it until they connect
                                             // (GVPE's N-1 unicasts reach every node)
    /// Keeps what the raw pointers above point at (keys, windows) alive as long as this
    /// snapshot: control owns them through shared_ptrs; workers never touch this.
    std::vector<std::shared_ptr<const void>> owned;

    /// The control thread's coarse seconds (0 without a clock).
    [[nodiscard]] uint32_t now_s() const noexcept {
        return clock != nullptr ? clock->load(std::memory_order_relaxed) : 0;
    }

    /// Peers beyond which each packet's per-peer state is prefetched a few packets ahead of its use
    /// (engine/egress.cc, ingress.cc): past a few hundred peers a round-robin burst's peer
    /// entries, keys and windows no longer stay in the core's caches (docs/performance.md
    /// "Many peers"); below it the prefetching would cost instructions for nothing.
    static constexpr size_t prefetch_min_peers = 128;
    [[nodiscard]] bool prefetch_peers() const noexcept { return peers.size() > prefetch_min_peers; }

    [[nodiscard]] const peer_entry* peer(uint16_t id) const noexcept {
        return id != 0 && id < peers.size() && peers[id].node_id == id ? &peers[id] : nullptr;
    }
};

}  // namespace engine
