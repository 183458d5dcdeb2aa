// SPDX-License-Identifier: MIT
// What the data plane knows about peers: an immutable snapshot built by the control thread and
// read by every worker without locks (engine/rcu.hh). "Exposed for the data-plane" (STYLE.md §1):
// index-based, no pointers into control structures except the AEAD keys and replay windows,
// whose lifetime control guarantees until the snapshot that references them is retired.
//
// Lanes (DESIGN.md §4): worker w seals every packet it sends with lane w and its own counter for
// that (peer, send key); the receiver keeps one replay window per (its worker, peer, key slot,
// sender lane). Both are single-writer: a worker only touches its own counters and windows.
// Threads: built and published by the control thread; read by workers.
#pragma once

#include <rte_ether.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "crypto/aead.hh"
#include "engine/replay.hh"
#include "transports/classify.hh"
#include "transports/outer.hh"

namespace engine {

namespace limits {
inline constexpr unsigned max_node_id = 4095;
inline constexpr unsigned max_lanes = transport::udp_lanes;  // sender lanes a receiver keeps windows for
inline constexpr unsigned rx_keys_per_peer = 3;   // previous, current, next (make-before-break)
}  // namespace limits

using replay = replay_window<8192>;

/// Replay windows of one receive key: [worker][sender lane]. Owned by control, written only
/// by the worker whose row it is.
struct rx_windows {
    unsigned n_workers = 0;
    std::unique_ptr<replay[]> w;  // n_workers * limits::max_lanes
    replay& at(unsigned worker, unsigned lane) noexcept { return w[worker * limits::max_lanes + lane]; }
    static std::unique_ptr<rx_windows> create(unsigned n_workers) {
        auto r = std::make_unique<rx_windows>();
        r->n_workers = n_workers;
        r->w = std::make_unique<replay[]>(n_workers * limits::max_lanes);
        return r;
    }
};

struct rx_key_slot {
    const crypto::aead_key* key = nullptr;  // null: slot empty
    rx_windows* windows = nullptr;
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
    std::array<rx_key_slot, limits::rx_keys_per_peer> rx{};
    transport::outer_template tmpl{};        // Ethernet + IP + UDP/ICMP towards the peer
};

struct dataplane_snapshot {
    uint16_t self_id = 0;
    rte_ether_addr self_mac{};
    bool has_overlay = false;
    uint16_t overlay_port_id = 0;            // where decrypted frames are delivered
    bool router = false;                     // router-priority >= 1: relay packets for others
    bool queue_without_session = false;      // hand frames for peers without a session to control
                                             // (max-queue/max-ttl) instead of dropping them
    transport::local_config local{};         // our underlay addresses and transports
    std::vector<peer_entry> peers;           // index = node id; [0] unused
    std::vector<uint16_t> broadcast_to;      // peers with tx_ready, for broadcast/multicast
    /// Keeps what the raw pointers above point at (keys, windows) alive as long as this
    /// snapshot: control owns them through shared_ptrs; workers never touch this.
    std::vector<std::shared_ptr<const void>> owned;

    [[nodiscard]] const peer_entry* peer(uint16_t id) const noexcept {
        return id != 0 && id < peers.size() && peers[id].node_id == id ? &peers[id] : nullptr;
    }
};

}  // namespace engine
