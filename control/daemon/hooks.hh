// SPDX-License-Identifier: MIT
// The hook-script runner: if-up, node-up, node-down and node-change (docs/config.md "Hooks"). Each event
// queues one run of the configured script; runs execute one at a time, in order, through
// `/bin/sh -c PATH`, with the daemon's environment plus GVPE's variables (hook_environment()).
// A run is started with posix_spawn and reaped with waitpid(WNOHANG) from poll(), so a slow,
// hanging or failing script never blocks the control thread: a hanging one gets SIGTERM after
// the timeout and SIGKILL after a grace period; failures are logged and counted, and the next
// run starts. Paths follow config::expand_path(): `%s` is the local node name, relative paths
// are relative to CONFDIR, absolute paths work for every hook (unlike GVPE's node-*, §1.9).
// Differences from GVPE (docs/config.md "Hooks"): if-up is asynchronous and optional (a
// missing if-up warns once and the daemon runs on); the script path is one shell word.
// Threads: control thread only (single-threaded object; no locks). No DPDK.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "control/config/config.hh"
#include "transports/kind.hh"

namespace control {

/// Limits and defaults of the runner (docs/design.md §7).
namespace hook_limits {
inline constexpr size_t max_queue = 1024;                        // queued runs before dropping
inline constexpr std::chrono::milliseconds timeout{30000};        // per run, then SIGTERM
inline constexpr std::chrono::milliseconds kill_grace{2000};      // SIGTERM -> SIGKILL
}  // namespace hook_limits

/// Which hook a run belongs to. Names as the directives: "if-up", "node-up", ...
enum class hook_kind : uint8_t { if_up, node_up, node_down, node_change };
[[nodiscard]] std::string_view to_string(hook_kind k) noexcept;

/// A node event as the caller saw it; becomes DESTNODE, DESTID, DESTSI, DESTIP, DESTPORT,
/// STATE and DVPE_TRANSPORT in the node-* scripts' environment.
struct hook_event {
    hook_kind kind = hook_kind::node_up;  // node_up|node_down|node_change -> STATE=up|down|change
    unsigned peer_id = 0;                 // the wire id (node_conf::id)
    std::string destsi;                   // GVPE's "proto/ip:port": "udp/10.77.0.2:655" (hook_destsi())
    std::string destip;                   // "10.77.0.2" or "fd00::2"
    uint16_t destport = 0;                // 0 for rawip and icmp
};

/// GVPE's protocol name of a transport kind for DESTSI: udp, rawip, icmp, tcp, dns.
[[nodiscard]] std::string_view hook_protocol(transport::kind k) noexcept;

/// GVPE's DESTSI string "proto/ip:port" (e.g. `udp/10.77.0.2:655`, `rawip/10.77.0.2:0`). GVPE
/// is IPv4 only; dvpe writes IPv6 addresses in brackets: `udp/[fd00::2]:655`, so `${DESTSI##*:}`
/// still yields the port. \p proto is GVPE's protocol name (hook_protocol(), no family digit).
[[nodiscard]] std::string hook_destsi(std::string_view proto, std::string_view ip, uint16_t port);

/// The variables GVPE passes to its scripts (docs/config.md "Hooks"), as "NAME=value", in this order:
/// CONFBASE IFNAME IFTYPE=native IFSUBTYPE=linux MTU NODES NODEID NODENAME MAC IFUPDATA, then for
/// every node n (n = its wire id, the 1-based position unless node-id is given) NODENAME_n MAC_n
/// IFUPDATA_n, then for a node event (\p ev non-null) DESTNODE DESTID DESTSI DESTIP DESTPORT
/// STATE and dvpe's DVPE_TRANSPORT (udp4, rawip6, ...: DESTSI's protocol plus the family of
/// DESTIP; left out when DESTSI or DESTIP is empty). Pure: does not read the process environment.
/// \param ifname the overlay interface name (IFNAME)
/// \param mtu the overlay MTU handed to the interface (MTU)
/// \param ev the node event, or nullptr for if-up
[[nodiscard]] std::vector<std::string> hook_environment(const config& cfg, std::string_view ifname, unsigned mtu,
                                                        const hook_event* ev);

/// \p vars appended to \p base (a NULL-terminated `environ`-style array), leaving out every
/// base entry whose name one of \p vars sets (ours win). Pure.
[[nodiscard]] std::vector<std::string> merge_environment(const std::vector<std::string>& vars,
                                                         const char* const* base);

struct hook_options {
    std::chrono::milliseconds timeout = hook_limits::timeout;       // 0: no timeout
    std::chrono::milliseconds kill_grace = hook_limits::kill_grace;
    size_t max_queue = hook_limits::max_queue;                       // at least 1
};

/// Monotonic counters (for the control socket and tests).
struct hook_counters {
    uint64_t queued = 0;     // runs accepted into the queue
    uint64_t started = 0;    // processes spawned
    uint64_t succeeded = 0;  // exited 0
    uint64_t failed = 0;     // non-zero exit, killed by a signal we did not send, or spawn error
    uint64_t timed_out = 0;  // killed by us after the timeout (or at the end of drain())
    uint64_t dropped = 0;    // queue full, or still queued when drain() gave up
    uint64_t missing = 0;    // script absent or not executable: not run
};

/// Runs the hook scripts of one daemon. Control thread only.
class hook_runner {
public:
    /// Copies what it needs from \p cfg (script directives, nodes, confdir). IFNAME and MTU for
    /// node events default to cfg.global.ifname and cfg.overlay_mtu() until on_if_up() is called.
    explicit hook_runner(const config& cfg, hook_options opt = {});
    /// Kills a still running script's process group (SIGKILL) and reaps it; drops the queue.
    ~hook_runner();
    hook_runner(const hook_runner&) = delete;
    hook_runner& operator=(const hook_runner&) = delete;

    /// A new configuration (reload): affects runs that have not started yet.
    void reconfigure(const config& cfg);

    // ---- events: each queues one run of the configured script (an empty directive: none) ----

    /// The overlay interface is up as \p ifname with \p mtu: queue if-up. Also sets IFNAME and
    /// MTU for later node events. Call once, before any node event, after the port is started.
    void on_if_up(std::string_view ifname, unsigned mtu);
    /// A session with \p peer_id was established (not on a make-before-break rekey).
    void on_node_up(unsigned peer_id, std::string_view destsi, std::string_view destip, uint16_t destport);
    /// The session with \p peer_id was lost (keepalive timeout, reset, shutdown).
    void on_node_down(unsigned peer_id, std::string_view destsi, std::string_view destip, uint16_t destport);
    /// An authenticated packet from \p peer_id arrived from a new source address (roaming).
    void on_node_change(unsigned peer_id, std::string_view destsi, std::string_view destip, uint16_t destport);
    /// Queues \p ev's script (what the three above do).
    void on_node_event(const hook_event& ev);

    // ---- driving ----

    /// Never blocks: reaps the running script (waitpid WNOHANG), logs a failure, enforces the
    /// timeout, and starts the next queued run. Call from the control loop (every ~10 ms).
    void poll();
    /// For shutdown: polls until nothing is pending or \p max has passed (blocks, sleeping in
    /// 5 ms steps). Then kills a still running script (SIGKILL, counted timed_out) and drops
    /// what is still queued (counted dropped).
    void drain(std::chrono::milliseconds max);

    /// Runs not finished yet: queued plus the running one (0: idle).
    [[nodiscard]] size_t pending() const { return _queue.size() + (_run ? 1 : 0); }
    /// Whether a script is running now.
    [[nodiscard]] bool running() const { return _run.has_value(); }
    [[nodiscard]] const hook_counters& counters() const { return _counters; }

private:
    struct job {
        hook_kind kind = hook_kind::if_up;
        std::string path;                 // expanded
        std::string ifname;
        unsigned mtu = 0;
        std::optional<hook_event> ev;     // node events
    };
    struct running_job {
        job j;
        pid_t pid = -1;
        std::chrono::steady_clock::time_point started;
        std::chrono::steady_clock::time_point kill_at;  // valid when term_sent
        bool term_sent = false;
        bool kill_sent = false;
        bool reaped = false;  // after a timeout: the script exited, its group may linger
    };

    void enqueue(job j);
    void start_next();
    void check_running();
    void finish(int status);
    void signal_group(int sig);
    [[nodiscard]] std::string describe(const job& j) const;
    [[nodiscard]] const std::string& directive(hook_kind k) const;

    config _cfg;
    hook_options _opt;
    std::string _ifname;
    unsigned _mtu = 0;
    std::deque<job> _queue;
    std::optional<running_job> _run;
    hook_counters _counters;
    bool _overflowing = false;           // inside a burst of drops (logged once)
    uint64_t _burst_drops = 0;
    std::set<std::string> _warned_missing;  // paths warned about (once each until they appear)
};

}  // namespace control
