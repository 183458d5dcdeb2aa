// SPDX-License-Identifier: MIT
// The dvped daemon: applies a validated config (phase 3 of config loading) to the machine —
// EAL, mempool, ports with their roles, pinned worker lcores, rings between workers and the
// control thread, the control socket — then runs the control loop on the main lcore until
// SIGTERM/SIGINT, and tears everything down in reverse order.
// Threads: constructed, run and destroyed on the main thread (which becomes the control thread).
#pragma once

#include <rte_ring.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/config/config.hh"
#include "control/config/node_table.hh"
#include "control/session/handshake_drain.hh"
#include "control/daemon/frame_queue.hh"
#include "control/daemon/mediation.hh"
#include "control/daemon/hooks.hh"
#include "control/daemon/mac_learner.hh"
#include "crypto/aead.hh"
#include "control/daemon/peer_table.hh"
#include "control/daemon/resolver.hh"
#include "control/daemon/sd_notify.hh"
#include "control/daemon/tcp_path.hh"
#include "control/daemon/telemetry.hh"
#include "control/session/session.hh"
#include "control/daemon/neighbour.hh"
#include "engine/mac_table.hh"
#include "engine/rcu.hh"
#include "engine/route_table.hh"
#include "engine/seal.hh"
#include "engine/worker.hh"
#include "pmd/eal.hh"
#include "pmd/port.hh"
#include "pmd/stream_port.hh"
#include "transports/classify.hh"

namespace control {

class control_server;

/// One port as the daemon set it up.
struct daemon_port {
    port_conf conf;
    pmd::port_info info;
    uint16_t n_rxq = 1;
    uint16_t n_txq = 1;
    std::unique_ptr<pmd::host_tap> tap;  // a dvpe_tap port (then info describes it; no ethdev)
    size_t link = 0;  // an exception port (conf.role exception): the index of its wan port here
};

/// The (port, queue, lcore) map after defaults and driver adjustments.
struct resolved_queue {
    std::string port;
    unsigned queue = 0;
    unsigned lcore = 0;
};

/// Computes the per-port queue counts and the final queue map for the local node: the config's
/// queue-map or its default (port i queue 0 -> worker i mod n), plus, for drivers whose rx and tx
/// queue counts are tied (net_af_packet's qpairs), the extra rx queues spread over the workers.
/// Pure function; unit-tested.
struct queue_layout {
    std::vector<resolved_queue> queues;
    std::vector<uint16_t> n_rxq;  // per port, config order
    std::vector<uint16_t> n_txq;
    std::vector<std::string> devargs;  // per port, with dvpe's additions (e.g. qpairs=N, iface=IFNAME)
    std::vector<std::string> notes;    // what was added, for the log
};
queue_layout compute_queue_layout(const config& cfg);

// overlay_mtu(): control/config/node_table.hh.

/// Resolves `cipher` and `crypto-backend` to a runnable AEAD (crypto/ registry and CPU probe).
/// Throws std::runtime_error saying why not: unknown, not compiled in, not runnable on this CPU.
/// The null suite is accepted only when named explicitly (`cipher = null`) in a build with
/// -Dsuite_null=true; the caller logs loudly when it is used.
/// A bridged LAN port's MTU: the overlay MTU, or less where frames between foreign MACs (which
/// carry their 12-byte MAC pair) would not fit the WAN path (docs/site-gateways.md "MTU").
unsigned bridge_mtu(const config& cfg);

crypto::aead_choice resolve_cipher(const config& cfg);

struct daemon_options {
    /// BENCHMARK ONLY: no handshakes; every pair of nodes uses fixed keys derived from the two
    /// node ids (anyone can compute them). Refused unless every port is net_pcap, net_null or
    /// net_ring, so it cannot run on a real network. For perf/ (docs/performance.md).
    bool benchmark_static_keys = false;
    /// How the running config was loaded (confdir, node name, command-line overrides): a reload
    /// (SIGHUP, `dvpectl reload`) reads the same. Empty nodename: reload unavailable.
    load_options reload_from;
    /// `-l LEVEL` was given: a reload keeps it instead of the config's `loglevel`.
    bool log_level_from_cli = false;
};

/// The route table of every node's `route` lines (nullptr: none). Throws std::runtime_error
/// (rte_lpm out of memory) -- a reload builds it before it commits to anything.
std::shared_ptr<engine::route_table> build_route_table(const config& cfg);
/// The static MAC entries of every node's `bridge-mac` lines: (mac_key, owner; 0 for ours).
std::vector<std::pair<uint64_t, uint16_t>> static_macs(const config& cfg);

/// The fixed session key node `from` uses to send to node `to` in benchmark mode.
std::array<uint8_t, 32> benchmark_key(uint16_t from, uint16_t to);

class daemon {
public:
    /// Applies the config. Throws std::runtime_error naming what failed (startup is fatal).
    explicit daemon(config cfg, daemon_options opt = {});
    ~daemon();
    daemon(const daemon&) = delete;
    daemon& operator=(const daemon&) = delete;

    /// The control loop; returns when stop was requested (signal or request_stop()).
    void run();
    /// Async-signal-safe.
    static void request_stop() noexcept;
    /// Async-signal-safe: the control loop reloads the configuration (SIGHUP).
    static void request_reload() noexcept;
    /// Async-signal-safe: the control loop logs a status dump (SIGUSR1, as GVPE).
    static void request_dump() noexcept;

    /// Re-reads the configuration and applies it, or refuses it whole (control/config/reload.hh,
    /// docs/config.md "Reloading"). The reply says which; `trigger` is for the log.
    nlohmann::json reload(const std::string& trigger);
    /// Logs every peer's state and counters at notice level (GVPE's USR1 dump).
    void dump_status() const;

    nlohmann::json status_json() const;
    nlohmann::json config_json() const;
    nlohmann::json neighbours_json() const;

private:
    void setup();
    /// The exception ports (docs/exception-path.md): a net_tap beside each wan port that has
    /// `exception`, with its MAC and MTU, a queue pair per worker (worker w polls rx queue w:
    /// added to ql.queues), the port's addresses and default routes in the kernel.
    void open_exception_ports(queue_layout& ql);
    /// The tcp transport (enable-tcp): the stream port between the workers and the slow-path
    /// thread (pmd/stream_port.hh; worker w polls rx queue w: added to ql.queues) and the thread
    /// itself (control/daemon/tcp_path.hh), listening at tcp-port unless it is 0.
    void open_stream_port(queue_layout& ql);
    /// Classifies a WAN frame or a packet from the tcp slow path (by the port it came from).
    [[nodiscard]] transport::classify_result classify_mbuf(const rte_mbuf* m) const noexcept;
    /// The automatic layout (kernel_wan): kernel sockets on udp-port and ip-proto that drop
    /// everything, so the kernel, which shares the wan interface, answers none of our packets.
    void hold_kernel_ports(const node_conf& self);
    void teardown() noexcept;
    void control_iteration();
    void handle_control_packets();
    void resolve_neighbours();
    /// An ARP/ND answer changed the neighbour table on port_id: WAN paths or the LAN's hosts.
    void neighbour_changed(uint16_t port_id);
    void resolve_hostnames();
    // sessions and the data plane (daemon_sessions.cc)
    void setup_sessions(const std::vector<std::string>& wan_ports);
    void setup_base(const std::vector<std::string>& wan_ports);
    void install_benchmark_keys();
    /// Every node of _cfg with a key in `pubs` becomes, or is updated as, a session peer.
    /// Start-up and reload: set_peer for every node of _cfg with a key in `pubs`, then paths,
    /// the actions, one snapshot.
    void apply_peers(const std::map<unsigned, std::array<uint8_t, 32>>& pubs, handshake::clock_reading now,
                     session::actions& acts, std::vector<std::string>& warnings);
    void sessions_iteration();
    void on_handshake_mbuf(rte_mbuf* m);
    void execute(session::actions& acts);
    void send_held();  ///< publishes pending key changes, then sends the held handshake messages
    void send_handshake(const session::send_handshake& a);
    void send_keepalive(uint16_t peer, bool close = false);
    void say_goodbye();
    /// Hands m to worker 0's ring; false (m freed, counted unsent) when the ring is full.
    bool transmit(rte_mbuf* m);
    void update_paths();
    /// What choose_paths() needs (ports, DNS answers, endpoints, neighbours, sessions).
    path_inputs path_inputs_now();
    // mediated connections (daemon_mediation.cc, docs/protocol.md "Mediated connections")
    /// A control message a worker handed over (m->hash.usr = the sender); frees m.
    void on_control_message(rte_mbuf* m, handshake::clock_reading now, session::actions& acts);
    /// Seals `msg` to `peer` on the control lane (its session must be up); false if not sent.
    bool send_control(uint16_t peer, const transport::control_message& msg);
    /// Requests for relayed peers, introductions that were waiting, direct paths noted.
    void mediation_iteration(handshake::clock_reading now);
    /// Tells `a` where `b` is and `b` where `a` is (our direct paths to them).
    void introduce(uint16_t a, uint16_t b);
    /// The path for an initiation to `peer` at the endpoint a router told us of, if fresh and
    /// the peer is not direct yet.
    std::optional<peer_path> mediated_path(uint16_t peer, handshake::clock_reading now);
    /// GVPE would connect to `n` directly if it knew where: no hostname, not disabled, direct
    /// allowed both ways, a transport in common (`k`'s, if given).
    bool mediable(const node_conf& n, std::optional<transport::kind> k = std::nullopt) const;
    /// We have a session with `id` and reach it directly (a router may introduce it).
    bool direct_up(uint16_t id, handshake::clock_reading now) const;
    void feedback(handshake::clock_reading now, session::actions& acts);
    /// Roaming: a worker saw authenticated packets of `peer` from `r` (engine/stats.hh
    /// node_stats). Moves the peer there if the rules allow (docs/protocol.md "Roaming").
    void on_roam_report(uint16_t peer, const engine::roam_source& r, handshake::clock_reading now,
                        session::actions& acts);
    /// Forgets where `peer` roamed to (down, reload): where its handshakes come from again.
    void forget_roamed(uint16_t peer);
    /// A peer without a hostname went down: its learned endpoint goes when a router could relay
    /// it (and mediation starts over).
    void forget_learned(uint16_t peer);
    /// `dvpectl reconnect [NODE]` and SIGHUP: new handshakes with one peer (by name) or all.
    nlohmann::json reconnect(const std::string& node, const std::string& why);
    handshake::clock_reading clock_now() const;
    nlohmann::json peers_json() const;

    config _cfg;
    daemon_options _opt;
    crypto::aead_choice _cipher{};
    std::chrono::steady_clock::time_point _started;
    std::unique_ptr<pmd::eal> _eal;
    rte_mempool* _pool = nullptr;
    std::vector<daemon_port> _ports;
    std::vector<int> _placeholder_fds;  // hold_kernel_ports()
    std::unique_ptr<pmd::capture> _capture;  // capture = yes
    std::optional<pmd::stream_port> _stream;  // enable-tcp: the rings to the tcp slow path
    std::unique_ptr<tcp_path> _tcp;           // enable-tcp: the slow-path thread
    uint16_t _stream_port_id = UINT16_MAX;    // _stream's port id (UINT16_MAX: none)
    uint64_t _next_telemetry_tsc = 0;   // the peers for DPDK telemetry, once a second
    engine::port_table _port_table{};
    rte_ring* _to_control = nullptr;
    std::vector<rte_ring*> _from_control;
    std::vector<std::unique_ptr<engine::worker>> _workers;
    bool _workers_running = false;
    neighbour_table _neigh;
    std::unique_ptr<control_server> _server;
    std::string _socket_path;
    std::string _pid_path;
    uint64_t _next_neigh_tsc = 0;

    // sessions and the data plane
    std::unique_ptr<engine::rcu> _rcu;
    std::unique_ptr<engine::published<engine::dataplane_snapshot>> _snap;
    engine::dataplane_snapshot _base;                 // self, overlay port, local transports
    std::unique_ptr<session::manager> _sessions;
    std::unique_ptr<peer_table> _peers;
    std::optional<crypto::aead_context> _ctl_crypto;  // keepalives sealed by the control thread
    std::unique_ptr<engine::sealer> _ctl_sealer;      // on transport::control_lane
    struct ctl_sink;
    bool _dirty = false;                              // republish the snapshot
    bool _holding_sends = false;                      // handle_control_packets: send_held at its end
    std::vector<session::send_handshake> _held_sends;  // execute(): sent after the keys are published
    struct peer_feedback {
        std::vector<session::rx_sample> rx;  // per worker: authenticated packets and their key id
        uint64_t tx = 0, no_session = 0, closes = 0;
        bool counter_limit_reported = false;
        std::vector<uint64_t> roam_reports;  // per worker: node_stats::roam_reports last seen
    };
    std::map<uint16_t, peer_feedback> _feedback;
    std::map<uint16_t, std::vector<uint8_t>> _learned_endpoint;  // from handshakes, for peers without hostname
    std::map<uint16_t, std::vector<uint8_t>> _roamed;            // roaming: wins over every address
    std::map<uint16_t, uint64_t> _roam_moved_ns;                 // last move per peer (rate limit)
    mediation _mediation;                                        // mediated connections
    std::map<uint16_t, bool> _initiation_via_router;             // our last initiation to a peer went through a router
    struct {
        uint64_t moves = 0;           // endpoints moved (node-change)
        uint64_t from_router = 0;     // reports of packets relayed to us by a router: not a move
        uint64_t rate_limited = 0;    // a second move within roam_interval_ns
        uint64_t not_up = 0;          // the peer had no session up or no path
        uint64_t not_direct = 0;      // the rules keep it routed (allow/deny-direct, transports)
        uint64_t configured = 0;      // the peer has a hostname: its configured address stays
    } _roam;
    uint64_t _next_feedback_tsc = 0;
    uint64_t _handshakes_unsent = 0;                  // no path / no buffer
    handshake::drain_budget _hs_drain;                // handshake messages per control-loop iteration
    std::unique_ptr<hook_runner> _hooks;              // if-up, node-up/down/change scripts
    sd::notifier _notify = sd::notifier::from_env();  // systemd Type=notify (sd_notify.hh)
    frame_queue _queue;                               // overlay frames waiting for a session
    frame_queue _relay_queue;                         // packets to relay waiting for a direct session
    // Peers whose hostname is a DNS name (not an IP literal): looked up off the control thread.
    struct dns_state {
        std::string name;             // the hostname looked up
        std::optional<transport::ip_address> addr;  // the address used (kept when a later lookup fails)
        std::string error;            // the last failure ("" after a success)
        uint64_t next_tsc = 0;        // next lookup
        uint64_t lookups = 0, failures = 0;
    };
    std::unique_ptr<resolver> _resolver;
    std::map<uint16_t, dns_state> _dns;
    uint64_t _next_dns_tsc = 0;
    std::array<uint8_t, 32> _self_pub{};              // our static public key (a reload may not change it)
    // Reloads: counts and the last outcome, for `status`.
    uint64_t _reloads_applied = 0, _reloads_refused = 0;
    nlohmann::json _last_reload;
    // the site LAN (site_lan.cc, docs/site-gateways.md)
    void create_learn_ring();       // before the workers: only with a bridge port
    void setup_lan_base();          // _base's LAN fields and tables (end of setup_base)
    void lan_to_base();             // the current tables into _base, republish
    void lan_iteration();           // coarse clock, learn events, aging
    void lan_resolve(rte_mbuf* m);  // a routed packet for an unresolved LAN host (frees m)
    void lan_neighbours_changed();  // an ARP/ND answer on the LAN port: republish the hosts
    nlohmann::json lan_json() const;
    rte_ring* _learn = nullptr;
    std::unique_ptr<mac_learner> _macs;
    std::shared_ptr<engine::mac_table> _mac_table;
    std::shared_ptr<engine::route_table> _routes;
    std::shared_ptr<engine::lan_neighbours> _lan_neigh;
    std::atomic<uint32_t> _lan_clock{0};  // coarse seconds since start (workers stamp MAC use)
    uint64_t _next_age_tsc = 0;
    uint64_t _lan_unresolved = 0, _lan_off_link = 0;
    size_t _lan_neigh_count = 0;  // LAN hosts in _lan_neigh
    lan_gauges _lan_gauges;  // for DPDK telemetry (/dvpe/lan)
    void lan_gauges_update();
    void queue_frame(rte_mbuf* m);
    void flush_queues();
    bool queue_relay(rte_mbuf* m);  // a packet for another node a worker could not relay
    void send_relayed(const engine::peer_entry& e, std::deque<rte_mbuf*> pkts);
    void seal_queued(const engine::peer_entry& e, std::deque<rte_mbuf*> frames);
};

}  // namespace control
