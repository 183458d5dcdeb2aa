// SPDX-License-Identifier: MIT
// The control thread's view of every peer's data-plane state: the AEAD keys the session
// manager installed (current and next send keys, up to three receive keys with their replay
// windows), the path (transport, underlay endpoint, next-hop MAC; control/daemon/paths.hh) — and the one
// function that turns a peer into the engine::peer_entry the workers (a snapshot of all of them)
// and the control thread's own sealer use.
//
// Lifetime: keys and windows are shared_ptrs; each snapshot holds references to everything it
// points at, so a retired key is freed only when the last snapshot using it is freed by RCU.
// Threads: control thread only.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/config/config.hh"
#include "control/session/handshake.hh"
#include "control/daemon/paths.hh"
#include "crypto/aead.hh"
#include "engine/snapshot.hh"
#include "transports/classify.hh"
#include "transports/outer.hh"

namespace control {

class peer_table {
public:
    peer_table(crypto::aead_choice cipher, uint16_t self_id);

    /// Installs the keys of a completed handshake. `current`: send with them now.
    /// Throws std::runtime_error if the key cannot be expanded (never for valid sessions).
    void install(const handshake::session_keys& k, bool current);
    /// The next send key (installed with current = false) under recv_key_id becomes current.
    void promote(uint16_t peer, uint8_t recv_key_id);
    /// Drops the receive key `key_id` and a not-current send key of that session.
    void retire(uint16_t peer, uint8_t key_id);
    /// Forgets everything about a peer (node down).
    void clear(uint16_t peer);
    void set_path(uint16_t peer, const peer_path& p);
    /// Forgets the path (reload: the node's address, transport or direct/routed rule changed).
    void clear_path(uint16_t peer);
    /// Forgets the peer entirely (reload: the node left the configuration).
    void erase(uint16_t peer);
    [[nodiscard]] const peer_path* path(uint16_t peer) const;

    /// What the workers see of one peer (as in build()): the control thread seals with it too,
    /// on its own lane (engine/seal.hh). nullopt for an unknown peer.
    [[nodiscard]] std::optional<engine::peer_entry> entry(uint16_t peer) const;

    /// The configured peers a broadcast is for (keys known, not disabled): those without any
    /// entry yet (never connected, no path) get a queued copy too (build(): queue_flood_for),
    /// as GVPE queues a broadcast for every node and connects.
    void set_flood_members(std::vector<uint16_t> ids) { _flood_members = std::move(ids); }

    /// Builds the workers' snapshot. Peers lacking keys or a resolved path are not tx_ready.
    std::unique_ptr<engine::dataplane_snapshot> build(const engine::dataplane_snapshot& base);

    [[nodiscard]] uint8_t current_send_key_id(uint16_t peer) const;

private:
    std::vector<uint16_t> _flood_members;
    struct send_key {
        std::shared_ptr<crypto::aead_key> key;
        uint8_t key_id = 0;           // the peer's receive key id
        uint8_t our_recv_key_id = 0;  // the session it belongs to
        uint32_t generation = 0;
    };
    struct recv_key {
        std::shared_ptr<crypto::aead_key> key;
        std::shared_ptr<engine::rx_windows> windows;
        uint8_t key_id = 0;
    };
    struct peer {
        std::optional<send_key> current, next;
        std::vector<recv_key> rx;  // at most engine::limits::rx_keys_per_peer, newest last
        std::optional<peer_path> path;
        std::optional<engine::peer_entry> wire;  // path fields built from `path` (build_path)
    };

    std::shared_ptr<crypto::aead_key> make_key(const crypto::secret<32>& k);
    /// The entry of `p` (id `id`); with `owned`, what it points at is kept alive there too.
    engine::peer_entry make_entry(uint16_t id, const peer& p, std::vector<std::shared_ptr<const void>>* owned) const;

    crypto::aead_choice _cipher;
    uint16_t _self;
    uint32_t _generation = 0;
    std::map<uint16_t, peer> _peers;
};

}  // namespace control
