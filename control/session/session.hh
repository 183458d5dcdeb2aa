// SPDX-License-Identifier: MIT
// The per-peer session state machine on the control thread: connect modes, retries, keepalive,
// rekey with make-before-break, simultaneous initiations (docs/protocol.md "Sessions").
// Sans-IO like the handshake core it drives (control/session/handshake.hh): the daemon feeds it events
// (`on_*`, handshake packets, `tick(now)`) and carries out the actions it appends; it reads no
// clock and sends nothing itself.
//
//   GVPE semantics kept (docs/gvpe-migration.md "Connect modes, retries and keepalive", "Rekey"): connect = always | ondemand | never
//   | disabled; retry back-off 1,2,3,4, 2,2,3,4, 4,2,3,4, 8,... s x0.9 (x4 low-power) capped at
//   max-retry; keepalive probes every 3 s after `keepalive` s without receiving, down after
//   keepalive + 15 s; idle teardown when both ends are ondemand; rekey after `rekey` s (+10 s
//   when the peer's id is higher). Not kept: GVPE's rekey is a teardown (node-down + node-up);
//   here a rekey installs the new keys beside the old ones and fires no event.
//
// Per peer the data plane holds at most max_rx_keys receive keys by key id (current, next and
// retiring ones) and one send key. The actions say exactly when each changes; before a new key
// is installed into full slots, the least recently used key that is not current is retired, so
// the data plane never has to drop one itself and the current key is never the one that goes.
// Threads: control thread only.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "control/config/config.hh"
#include "control/session/handshake.hh"

namespace control::session {

using handshake::clock_reading;

/// Timers (named constants, docs/design.md §7).
namespace timing {
inline constexpr uint64_t s = 1'000'000'000ULL;
inline constexpr uint64_t keepalive_probe_interval_ns = 3 * s;  ///< GVPE pings every 3 s
inline constexpr uint64_t keepalive_grace_ns = 15 * s;          ///< down after keepalive + 15 s
inline constexpr uint64_t rekey_higher_peer_extra_ns = 10 * s;  ///< GVPE: +10 s if peer id > ours
inline constexpr uint64_t retire_grace_ns = 10 * s;             ///< old receive key after a switch
inline constexpr uint64_t next_confirm_timeout_ns = 90 * s;     ///< unconfirmed responder keys
inline constexpr uint64_t simultaneous_window_ns = 5 * s;       ///< see on_handshake_packet
inline constexpr uint64_t confirm_wait_ns = 5 * s;              ///< responder waits for confirmation before initiating
inline constexpr uint64_t demand_retry_min_ns = 1 * s;          ///< queued packets force a retry (x3 low-power)
inline constexpr uint64_t failure_log_interval_ns = 60 * s;     ///< one log line per peer and reject reason
inline constexpr uint64_t authenticated_failure_hold_ns = 120 * s;  ///< see handshake_failure
}  // namespace timing

/// Receive keys per peer the data plane holds (engine::limits::rx_keys_per_peer; the daemon
/// checks the two agree at compile time): current + next + retiring never exceed it.
inline constexpr size_t max_rx_keys = 3;

/// The wait before retry `attempt` (0-based) of a handshake series: GVPE's schedule.
[[nodiscard]] uint64_t retry_interval_ns(uint32_t attempt, double max_retry_s, bool low_power) noexcept;

enum class peer_state : uint8_t { down, connecting, up };
[[nodiscard]] std::string_view to_string(peer_state s) noexcept;

// ---- actions (what the daemon must do) --------------------------------------------------------

/// Send a handshake message. `destination` empty: to the peer's current endpoint (initiations);
/// otherwise the source address the answered message came from (responses, cookie replies).
struct send_handshake {
    uint16_t peer = 0;
    std::vector<uint8_t> bytes;
    std::vector<uint8_t> destination;
};
/// `next`: install the receive key now; keep the send key aside until promote_keys.
/// `current`: install the receive key and send with these keys from now on.
enum class key_role : uint8_t { next, current };
struct install_keys {
    handshake::session_keys keys;
    key_role role = key_role::next;
};
/// The keys installed as `next` under `recv_key_id` become current: send with them from now on.
struct promote_keys {
    uint16_t peer = 0;
    uint8_t recv_key_id = 0;
};
/// Remove the keys installed under `key_id` (receive and, if not current, send).
struct retire_key {
    uint16_t peer = 0;
    uint8_t key_id = 0;
};
/// Send an empty authenticated data packet with the current send key.
struct send_keepalive {
    uint16_t peer = 0;
};
/// The peer proved it holds the keys of a handshake whose message came from `address` (the
/// opaque source given to on_handshake_packet): a peer without a configured address is reached
/// there from now on.
struct learn_endpoint {
    uint16_t peer = 0;
    std::vector<uint8_t> address;
};
// ---- handshake failures of configured peers (docs/protocol.md "Misconfigured peers") -------------

/// The last handshake rejection that concerns a configured peer (a misconfiguration shows
/// here: serial, keys, protocol version, connect = disabled). Reasons that say nothing about the
/// peer's config (load, rate limits, replays, races, our own key ids) are never recorded.
/// `authenticated`: the peer itself sent it (handshake::consumed::authenticated); otherwise the
/// message merely claims the peer's node id. An unauthenticated rejection is not recorded for a
/// peer whose session is up, nor over an authenticated record younger than
/// timing::authenticated_failure_hold_ns, so a forger cannot hide a real reason or make a
/// healthy peer look broken. Cleared when a handshake with the peer completes, when its key
/// changes, and (serial reasons) when our serial changes.
struct handshake_failure {
    handshake::reject reason = handshake::reject::count_;
    bool authenticated = false;
    handshake::serial_order serial = handshake::serial_order::equal;
    std::array<uint8_t, handshake::serial_len> peer_serial{};
    std::array<uint8_t, handshake::serial_len> our_serial{};  ///< ours when it was recorded
    std::array<uint8_t, handshake::key_len> claimed_static{};
    uint8_t peer_version = 0;
    uint8_t peer_cipher = 0;  ///< cipher_mismatch: its cipher id; ours is our_cipher
    uint8_t our_cipher = 0;
    handshake::consumed::aead failed_aead = handshake::consumed::aead::none;
    uint64_t count = 1;    ///< rejections for this reason in a row (recorded ones)
    uint64_t last_ns = 0;  ///< mono time of the latest
};

/// Does a rejection for `r` concern the peer's configuration (recorded and logged per peer)?
[[nodiscard]] bool is_peer_failure(handshake::reject r) noexcept;

/// One sentence saying what failed and what to fix, e.g. "handshake refused: its serial ... is
/// newer than ours ... -- our config is outdated (GVPE: 'outdated config'); ...". `peer` and
/// `self`: node names for the text.
[[nodiscard]] std::string describe(const handshake_failure& f, std::string_view peer, std::string_view self);

/// Log one line for a peer's handshake failure (the daemon prefixes "node NAME: "). At most one
/// per peer and reason every timing::failure_log_interval_ns; `suppressed` counts the ones of that
/// peer and reason not logged since the previous line.
struct log_failure {
    uint16_t peer = 0;
    handshake_failure failure;
    uint64_t suppressed = 0;
};

enum class event_kind : uint8_t { node_up, node_down, node_change };
[[nodiscard]] std::string_view to_string(event_kind e) noexcept;
/// Run the node-up / node-down / node-change hook (docs/config.md "Hooks").
struct event {
    event_kind kind = event_kind::node_up;
    uint16_t peer = 0;
};
using action = std::variant<send_handshake, install_keys, promote_keys, retire_key, send_keepalive, learn_endpoint,
                            event, log_failure>;
using actions = std::vector<action>;

// ---- configuration ------------------------------------------------------------------------------

struct peer_conf {
    uint16_t id = 0;
    std::array<uint8_t, handshake::key_len> pub{};
    connect_mode connect = connect_mode::always;
    double max_retry_s = 3600;
    double max_ttl_s = 60;
    bool low_power = false;
};

struct conf {
    handshake::identity self;
    connect_mode self_connect = connect_mode::always;  ///< the local node's own entry (ondemand idle rule)
    bool self_low_power = false;
    double keepalive_s = 60;  ///< 0 disables probes, the keepalive timeout and the idle teardown
    double rekey_s = 3607;
    handshake::limits limits;
};

/// peer_conf of a configured node (its public key loaded by the caller, control/config/keys.hh).
[[nodiscard]] peer_conf make_peer_conf(const node_conf& n, const std::array<uint8_t, handshake::key_len>& pub);

// ---- per-peer counters (control socket) -----------------------------------------------------------

struct peer_stats {
    uint64_t initiations_sent = 0, responses_sent = 0, cookie_replies_sent = 0, keepalives_sent = 0;
    uint64_t handshakes_received = 0;  ///< messages of type 2/3/4 whose header named this peer
    uint64_t handshakes_completed = 0;
    std::array<uint64_t, handshake::n_reject> failed{};  ///< by reject reason
    uint64_t simultaneous_dropped = 0;  ///< peer initiations ignored because ours has priority
    uint64_t rekeys = 0;
    uint64_t ups = 0, downs = 0;
    uint64_t closes_received = 0;      ///< close messages (the peer stopping) that took the session down
    uint64_t refusals_sent = 0;        ///< responses without keys refusing the peer's serial
    uint64_t last_handshake_ns = 0;  ///< mono time of the last completed handshake (0: never)
};

struct peer_status {
    uint16_t id = 0;
    peer_state state = peer_state::down;
    connect_mode connect = connect_mode::always;
    bool handshake_in_progress = false;
    uint32_t attempt = 0;            ///< retries of the current handshake series
    uint8_t current_key_id = 0;      ///< 0: none
    uint64_t key_age_ns = 0;         ///< age of the current keys (0 without keys)
    uint64_t last_received_ns = 0;   ///< mono time of the last authenticated packet
    peer_stats stats;
    std::optional<handshake_failure> failure;  ///< the last one since the last completed handshake
};

// ---- data-plane feedback --------------------------------------------------------------------------

/// One worker's counters of authenticated packets from one peer (engine::node_stats), as the
/// daemon samples them.
struct rx_sample {
    uint64_t packets = 0;     ///< data packets
    uint64_t keepalives = 0;  ///< empty packets
    uint8_t key_id = 0;       ///< key id of this worker's latest authenticated packet from the peer
};
/// An authenticated packet to report with manager::on_authenticated_packet.
struct rx_report {
    uint8_t key_id = 0;
    bool keepalive = false;  ///< only keepalives arrived under it
};
/// What arrived from one peer between two samples of every worker's counters (indexed by
/// worker; a worker missing from `before` counts from zero): one report per key id of every
/// worker whose counts or key id changed, `keepalive` unless one of them counted data.
[[nodiscard]] std::vector<rx_report> rx_reports(std::span<const rx_sample> now, std::span<const rx_sample> before);

// ---- the manager ------------------------------------------------------------------------------

class manager {
public:
    /// \param rng  random source for the handshake core (nullptr: system RNG).
    explicit manager(conf c, handshake::random_source rng = nullptr);

    // --- configuration (startup and reload) ---

    /// Adds or updates a peer. A changed key or a switch to `disabled` takes the session down
    /// (node_down if it was up). \returns false for an id/key the handshake core refuses.
    [[nodiscard]] bool set_peer(const peer_conf& pc, clock_reading now, actions& out);
    void remove_peer(uint16_t id, clock_reading now, actions& out);
    /// The local node's settings a reload may change: `serial` (checked from the next handshake
    /// on), its own connect mode and low-power, the keepalive and rekey intervals (the running
    /// timers follow at the next tick).
    void set_local(const std::array<uint8_t, handshake::serial_len>& serial, connect_mode self_connect,
                   bool self_low_power, double keepalive_s, double rekey_s) noexcept;

    // --- events from the daemon ---

    /// Timers: retries, keepalive, rekey, key retirement. Call at least every 100 ms; the first
    /// call starts the `always` peers.
    void tick(clock_reading now, actions& out);
    /// A handshake message (type 2/3/4) from the workers' control ring. `source`: where it came
    /// from (opaque, answers go there); `source_ip`: the sender's IP address, which keys the
    /// rate limit (handshake::protocol::consume). `ours_relayed`: our pending initiation to the
    /// sender went through a router while this message reached us directly -- it is answered
    /// whatever the simultaneous-initiation rule says (ours may never arrive: a relay that has
    /// no session with the peer, a NAT that only lets the peer's answer through; see
    /// docs/protocol.md "Simultaneous initiation").
    void on_handshake_packet(std::span<const uint8_t> msg, std::span<const uint8_t> source, clock_reading now,
                             bool under_load, actions& out, std::span<const uint8_t> source_ip = {},
                             bool ours_relayed = false);
    /// The data plane queued packets for `peer` (no session or not up yet).
    void on_packets_queued(uint16_t peer, clock_reading now, actions& out);
    /// An authenticated data packet (or keepalive: empty plaintext) arrived under `key_id`.
    void on_authenticated_packet(uint16_t peer, uint8_t key_id, bool keepalive, clock_reading now, actions& out);
    /// The data plane sent data (not keepalives) to `peer` since the last report.
    void on_data_sent(uint16_t peer, clock_reading now) noexcept;
    /// A send counter of the current keys passed the rekey limit.
    void on_counter_limit(uint16_t peer, clock_reading now, actions& out);
    /// The initiation last emitted for `peer` could not be sent (no path, e.g. a udp-port 0
    /// peer before its first handshake): it is forgotten, so that the peer's own initiation is
    /// answered instead of losing the simultaneous-initiation race to a message that never left.
    /// The retry series goes on.
    void on_initiation_unsent(uint16_t peer) noexcept;
    /// The peer sent an authenticated close message (it is stopping, GVPE's RESET): the session
    /// goes down now (node_down) instead of after the keepalive timeout.
    void on_peer_closed(uint16_t peer, clock_reading now, actions& out);
    /// An authenticated packet came from a new source address (roaming): node_change if up.
    void on_endpoint_changed(uint16_t peer, actions& out);
    /// `dvpectl reconnect`, SIGHUP: a new handshake now, whatever the timers say (a rekey if the
    /// session is up; `disabled` peers, and `never` peers that are not up, are left alone). For
    /// ip-up scripts after our own address changed: the peer learns the new address from the
    /// handshake and the data after it. False if the peer was left alone (or is unknown).
    bool reconnect(uint16_t peer, clock_reading now, actions& out);

    // --- introspection ---

    [[nodiscard]] std::optional<peer_status> status(uint16_t peer, clock_reading now) const;
    [[nodiscard]] std::vector<uint16_t> peer_ids() const;
    [[nodiscard]] const handshake::protocol& protocol() const noexcept { return _proto; }
    /// handshake::protocol::proves_source: the message's mac2 is valid for `source` now.
    [[nodiscard]] bool proves_source(std::span<const uint8_t> msg, std::span<const uint8_t> source,
                                     clock_reading now) noexcept {
        return _proto.proves_source(msg, source, now);
    }

private:
    struct key_slot {
        bool valid = false;
        uint8_t recv_key_id = 0;
        uint64_t established_ns = 0;
        uint64_t last_used_ns = 0;  ///< established, or the last authenticated packet under it
        std::vector<uint8_t> source;  ///< where the handshake came from (learn_endpoint)
    };
    struct retiring_key {
        uint8_t recv_key_id = 0;
        uint64_t retire_at_ns = 0;
        uint64_t last_used_ns = 0;
    };
    struct peer_session {
        peer_conf conf;
        peer_state state = peer_state::down;
        key_slot current, next;
        std::vector<retiring_key> retiring;
        uint64_t next_installed_ns = 0;
        bool initiating = false;  ///< a handshake series of ours is running
        bool rekeying = false;    ///< ... while up
        uint32_t attempt = 0;
        uint64_t next_attempt_ns = 0;
        uint64_t last_attempt_ns = 0;
        uint64_t last_rx_ns = 0;        ///< any authenticated packet or handshake from the peer
        uint64_t last_data_ns = 0;      ///< data (not keepalive) either way: ondemand idle rule
        uint64_t last_sent_ns = 0;      ///< anything but keepalive replies
        uint64_t last_reply_ns = 0;     ///< keepalive replies
        uint64_t last_probe_ns = 0;
        uint64_t demand_until_ns = 0;
        peer_stats stats;
        std::optional<handshake_failure> failure;
        std::array<uint64_t, handshake::n_reject> log_next_ns{};     ///< log_failure rate limit
        std::array<uint64_t, handshake::n_reject> log_suppressed{};
        std::array<bool, handshake::n_reject> logged{};
    };

    [[nodiscard]] bool low_power(const peer_session& p) const noexcept;
    [[nodiscard]] uint64_t rekey_after_ns(const peer_session& p) const noexcept;
    [[nodiscard]] uint64_t keepalive_ns() const noexcept;
    void start_initiating(peer_session& p, bool rekey, clock_reading now, actions& out);
    void send_initiation(peer_session& p, clock_reading now, actions& out);
    void stop_initiating(peer_session& p) noexcept;
    void retire(peer_session& p, uint8_t key_id, actions& out);
    void schedule_retire(peer_session& p, const key_slot& k, uint64_t at_ns);
    /// Retires keys until one more fits into max_rx_keys: the least recently used retiring key
    /// first, the next key only if nothing else is left; never the current key.
    void make_room(peer_session& p, actions& out);
    [[nodiscard]] static size_t rx_keys(const peer_session& p) noexcept;
    void go_down(peer_session& p, actions& out);
    void mark_up(peer_session& p, uint64_t now_ns, actions& out);
    void tick_peer(peer_session& p, clock_reading now, actions& out);
    void note_failure(peer_session& p, const handshake::consumed& c, uint64_t now_ns, actions& out);
    peer_session* find(uint16_t id) noexcept;

    conf _conf;
    handshake::protocol _proto;
    std::map<uint16_t, peer_session> _peers;
};

}  // namespace control::session
