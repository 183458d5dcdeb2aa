// SPDX-License-Identifier: MIT
// The control thread's view of every peer's data-plane state: the AEAD keys the session
// manager installed (current and next send keys, up to three receive keys with their replay
// windows), the path (transport, underlay endpoint, next-hop MAC) — and the one function that
// turns all of it into an immutable engine::dataplane_snapshot for the workers.
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

#include "control/config.hh"
#include "control/handshake.hh"
#include "crypto/aead.hh"
#include "engine/snapshot.hh"
#include "transports/classify.hh"
#include "transports/outer.hh"

namespace control {

/// The transport dvpe uses towards a peer: the preferred one both enable (rawip > icmp > udp,
/// as GVPE), over IPv6 when the peer's address is IPv6. nullopt if they share none.
std::optional<transport::kind> choose_transport(uint8_t ours, uint8_t theirs, bool v6) noexcept;

/// Where a peer is on the underlay.
struct peer_path {
    transport::kind kind = transport::kind::udp4;
    transport::ip_address ip;          // the peer's underlay address
    uint16_t udp_port = 655;           // the peer's udp-port
    uint8_t ip_proto = 47;             // rawip: ip-proto
    uint8_t icmp_type = 0;             // icmp: icmp-type (already mapped for ICMPv6)
    uint16_t port_id = 0;              // our WAN port towards it
    uint16_t mtu = 1500;               // that port's MTU
    transport::ip_address src_ip;      // our address on that port
    rte_ether_addr src_mac{};
    std::optional<rte_ether_addr> next_hop_mac;  // resolved neighbour (peer or gateway)
    uint16_t via = 0;                  // router node carrying our packets to the peer (0: direct)
    bool inherit_tos = false;          // the peer's inherit-tos: outer TOS from the inner DSCP
    uint16_t sport_fixed = 0;          // udp to a udp-port 0 peer: every packet from our udp-port
                                       // (a NAT in front of it only maps replies to the port it
                                       // sent to); 0: one source port per lane
};

class peer_table {
public:
    peer_table(crypto::aead_choice cipher, unsigned n_workers, uint16_t self_id);

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

    /// The send key the control thread itself uses for keepalives, and its own lane counter.
    struct control_send {
        const crypto::aead_key* key = nullptr;
        uint8_t key_id = 0;
        uint64_t counter = 0;
        const transport::outer_template* tmpl = nullptr;
        uint16_t port_id = 0;
        uint16_t sport_fixed = 0;  // as peer_path::sport_fixed (0: the control lane's port)
    };
    std::optional<control_send> control_sender(uint16_t peer);
    void bump_control_counter(uint16_t peer);

    /// Builds the workers' snapshot. Peers lacking keys or a resolved path are not tx_ready.
    std::unique_ptr<engine::dataplane_snapshot> build(const engine::dataplane_snapshot& base);

    [[nodiscard]] uint8_t current_send_key_id(uint16_t peer) const;

private:
    struct send_key {
        std::shared_ptr<crypto::aead_key> key;
        uint8_t key_id = 0;           // the peer's receive key id
        uint8_t our_recv_key_id = 0;  // the session it belongs to
        uint32_t generation = 0;
        uint64_t control_counter = 0;
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
        std::shared_ptr<transport::outer_template> tmpl;  // built from path
    };

    std::shared_ptr<crypto::aead_key> make_key(const crypto::secret<32>& k);

    crypto::aead_choice _cipher;
    unsigned _n_workers;
    uint16_t _self;
    uint32_t _generation = 0;
    std::map<uint16_t, peer> _peers;
};

}  // namespace control
