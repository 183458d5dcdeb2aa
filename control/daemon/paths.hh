// SPDX-License-Identifier: MIT
// Peer paths: where each peer is on the underlay and how packets get there.
//
//   peer_path          the value a path is (transport, addresses, port, next hop, router);
//                      compares itself, so "did it change" is one `!=`.
//   choose_paths()     the policy: GVPE's direct-or-routed rules (routing.hh) applied to what
//                      the daemon knows (IP-literal hostnames, DNS answers, endpoints learned
//                      from proven handshakes, WAN ports, neighbours, sessions). Pure apart
//                      from the callbacks; the daemon applies what changed.
//   build_path()       the one builder of what a path becomes on the wire: outer-header
//                      template, port, MTU and the UDP source-port rule, for data (workers and
//                      the control lane) and handshakes alike.
//   source_addr        a handshake's source as the session manager carries it (opaque bytes
//                      to it): enough to answer, and the endpoint a responder learns.
// Threads: control thread (and tests).
#pragma once

#include <rte_ether.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "control/config/config.hh"
#include "engine/snapshot.hh"
#include "transports/kind.hh"
#include "transports/outer.hh"
#include "transports/stream.hh"

namespace control {

/// The transport dvpe uses towards a peer: the preferred one both enable (rawip > icmp > udp >
/// tcp, as GVPE), over IPv6 when the peer's address is IPv6. nullopt if they share none.
std::optional<transport::kind> choose_transport(uint8_t ours, uint8_t theirs, bool v6) noexcept;

/// Whether `port` is one of node `n`'s udp lane ports (transport::udp_lane_port_base): a node
/// with a udp-port that sends from them is of a release before "a node without a hostname sends
/// from its udp-port" (docs/protocol.md "Endpoints") and receives only at its udp-port -- it is
/// answered there, as before, so a mesh can be upgraded node by node.
bool from_lane_port(const node_conf& n, uint16_t port) noexcept;

/// The config's protocol bit (proto_udp, proto_rawip, proto_icmp, proto_tcp) of a transport kind.
uint8_t proto_of(transport::kind k) noexcept;

/// Where a peer is on the underlay.
struct peer_path {
    transport::kind kind = transport::kind::udp4;
    transport::ip_address ip;          // the peer's underlay address
    uint16_t udp_port = 655;           // the peer's udp-port (tcp: its tcp-port, or the remote
                                       // port of the connection it opened to us)
    uint8_t ip_proto = 47;             // rawip: ip-proto
    uint8_t icmp_type = 0;             // icmp: the type we send (icmp_for(); mapped for ICMPv6)
    uint16_t icmp_id = 0;              // icmp: the echo identifier we send (icmp_for())
    uint16_t port_id = 0;              // our WAN port towards it
    uint16_t mtu = 1500;               // that port's MTU
    transport::ip_address src_ip;      // our address on that port
    rte_ether_addr src_mac{};
    std::optional<rte_ether_addr> next_hop_mac;  // resolved neighbour (peer or gateway)
    uint16_t via = 0;                  // router node carrying our packets to the peer (0: direct)
    bool inherit_tos = false;          // the peer's inherit-tos: outer TOS from the inner DSCP
    bool follow_port = false;          // udp_port is where the peer's packets came from and it sends
                                       // from that one port (no hostname, a udp-port), or icmp_id
                                       // is the identifier of its echo requests: roaming follows
                                       // a port / identifier change too (peer_entry::follow_port)
    uint16_t sport_fixed = 0;          // udp to a udp-port 0 peer: every packet from our udp-port
                                       // (a NAT in front of it only maps replies to the port it
                                       // sent to); 0: one source port per lane
    bool stream_connect = false;       // tcp: the slow path may open a connection to ip:udp_port
                                       // (the peer's tcp-port); else only one it opened is used

    friend bool operator==(const peer_path& a, const peer_path& b) noexcept;
};

/// The one path builder: fills e's path fields (tmpl, tx_port_id, tx_mtu, udp_sport_base/step,
/// tos_mask) from `path`, our node id `self_id` (lane source ports). False if the next hop is
/// not resolved yet or no template can be built; e is then unchanged.
bool build_path(const peer_path& path, uint16_t self_id, engine::peer_entry& e);

/// A handshake's source (opaque bytes to the session manager; encode/decode round-trip).
struct source_addr {
    transport::kind k = transport::kind::udp4;
    uint16_t port_id = 0;
    transport::ip_address ip;
    uint16_t udp_port = 0;             // udp: the source port; icmp: the echo identifier
    rte_ether_addr mac{};
    bool icmp_request = false;         // icmp: it came as an echo request

    [[nodiscard]] std::vector<uint8_t> encode() const;
    static std::optional<source_addr> decode(std::span<const uint8_t> b);
};

/// The ICMP type and echo identifier we send to `peer` (docs/protocol.md "ICMP roles"). With a
/// non-echo `icmp-type`: that type, our node id. With an echo `icmp-type` (0 or 8), so that a
/// NAT lets the packets through (it maps an echo request out and only the matching reply in):
/// a peer without a hostname seen sending us echo requests (`seen`: its handshake's or roamed
/// source) gets echo replies with the identifier it used (after its NAT); else a node without a
/// hostname sends echo requests with its node id as identifier; else the configured type.
struct icmp_header_choice {
    uint8_t type = 0;         // ICMPv6 types for v6
    uint16_t id = 0;
    bool at_seen_id = false;  // the peer's identifier: roaming follows a change of it (follow_port)
};
[[nodiscard]] icmp_header_choice icmp_for(const node_conf& self, const node_conf& peer, const source_addr* seen,
                                          uint8_t icmp_type, bool v6) noexcept;

/// The path that answers a handshake at its source `src`: from our address of its family on the
/// port it came in on, to the peer's configured udp-port (a receiver accepts only its own,
/// docs/protocol.md), or for a udp-port 0 peer to the source port itself, from our udp-port.
peer_path answer_path(const source_addr& src, const node_conf& peer, const node_conf& self, const global_conf& g,
                      const transport::local_config& local, const rte_ether_addr& port_mac);

/// The router that relayed a packet (a handshake) arriving from `src_ip` on behalf of `peer`: a
/// node other than `peer` and us, with router-priority >= 1 (it forwards), whose current direct
/// path (`current`) is to that address. 0: none, the packet came from the peer itself. A peer
/// behind the same public address as a router we reach there counts as relayed by it (and is
/// then reached through it: it still arrives).
uint16_t relaying_router(const config& cfg, uint16_t peer, const transport::ip_address& src_ip,
                         const std::function<const peer_path*(uint16_t)>& current);
/// The same for a handshake's source: a dns source names the node it came from (the ring
/// header's id), so a packet of `peer`'s from another node (a router with router-priority >= 1)
/// was relayed by it; else by address as above.
uint16_t relaying_router(const config& cfg, uint16_t peer, const struct source_addr& src,
                         const std::function<const peer_path*(uint16_t)>& current);

/// relaying_router() for many questions against one state: the routers with a direct path
/// (`current`) are listed once, in config order. choose_paths() asks for every peer with a
/// learned or roamed endpoint; a scan of the whole config each time was O(peers^2) per update.
class relay_finder {
public:
    relay_finder(const config& cfg, const std::function<const peer_path*(uint16_t)>& current);
    uint16_t operator()(uint16_t peer, const transport::ip_address& src_ip) const;
    uint16_t operator()(uint16_t peer, const struct source_addr& src) const;

private:
    const config& _cfg;
    std::vector<std::pair<uint16_t, transport::ip_address>> _direct;  // router id, its path's address
};

/// What choose_paths() needs to know beyond the configuration.
struct path_inputs {
    struct wan_port {
        std::string name;
        uint16_t port_id = 0;
        uint16_t mtu = 0;  // 0: the config's mtu
        rte_ether_addr mac{};
    };
    std::vector<wan_port> ports;
    /// DNS hostnames' last good answers: node id -> (the name looked up, its address). An
    /// answer counts only while the node's hostname is still that name (a reload may change it).
    std::map<uint16_t, std::pair<std::string, transport::ip_address>> resolved;
    const std::map<uint16_t, std::vector<uint8_t>>* learned = nullptr;  // encoded source_addr
    /// Roamed endpoints (encoded source_addr): where authenticated data from the peer came from
    /// when that differed from its path (docs/protocol.md "Roaming"). They win over a configured
    /// address, a DNS answer and a handshake's source while the session lasts (the daemon
    /// forgets them when the peer goes down or is told to reconnect).
    const std::map<uint16_t, std::vector<uint8_t>>* roamed = nullptr;
    /// The MAC of next hop `hop` on port `port_id`, if resolved (the daemon also asks for it).
    std::function<std::optional<rte_ether_addr>(uint16_t port_id, const transport::ip_address& hop)> neighbour;
    /// Nodes with a session with us (router candidates).
    std::function<bool(unsigned id)> connected;
    /// The path currently in use towards `id`, or null.
    std::function<const peer_path*(uint16_t id)> current;
    /// The stream port to the tcp slow path (enable-tcp), if the daemon has one.
    std::optional<uint16_t> tcp_port_id;
};

/// The direct path to node `n` at `ip`, as choose_paths() builds it; `src`: where the peer was
/// seen (a handshake's source, a roamed or mediated endpoint), which gives the udp port of a
/// peer without a hostname or with udp-port 0. no_transport: no common transport (only through
/// a router); no_wan: no WAN address of that family here.
enum class direct_outcome : uint8_t { path, no_transport, no_wan };
struct direct_result {
    direct_outcome outcome = direct_outcome::no_wan;
    peer_path path;
};
direct_result direct_path(const config& cfg, const path_inputs& in, const node_conf& n, const transport::ip_address& ip,
                          const std::optional<source_addr>& src);

/// The policy: for every peer it can place, the path it should have now — direct (allowed both
/// ways, an address, a common transport, a WAN address of that family) or else through the
/// router GVPE's rules pick (routing.hh; a relay goes over the router's direct path only).
/// Peers it cannot place (no router connected; a direct peer without a WAN address of its
/// family) are left out: their current path, if any, stays, and their frames wait in the queue.
std::vector<std::pair<uint16_t, peer_path>> choose_paths(const config& cfg, const path_inputs& in);

}  // namespace control
