// SPDX-License-Identifier: MIT
// The tcp transport's slow path (docs/tcp.md): one thread of its own that owns every kernel TCP
// socket of the node -- a listening one at `tcp-port` (none for tcp-port = 0: connect out
// only, as GVPE) and a connection per endpoint -- and moves dvpe packets between them and the
// workers through the stream port's rings (pmd/stream_port.hh):
//   workers -> sockets  a worker seals (or relays, or the control thread sends a handshake)
//                       to a peer whose path is tcp; the packet reaches the port's tx ring
//                       behind a ring header (transports/stream.hh) naming the endpoint. The
//                       thread appends the framed packet to that connection's send buffer
//                       and writes it; with the header's connect flag and no connection it
//                       opens one (through the HTTP proxy when one is configured).
//   sockets -> workers  bytes read from a connection are split into packets
//                       (transport::stream_reader); each goes into a fresh mbuf behind a ring
//                       header with the connection's remote endpoint, onto the rx ring of the
//                       connection's worker, which takes it as it takes a WAN packet (opens,
//                       relays, or hands a handshake to the control thread). A full ring is
//                       not read past: the bytes stay in the socket (TCP's flow control).
// Bounds (what a slow, stalled or hostile peer can make it hold): per connection a send buffer
// of send_buffer bytes (more is dropped, counted), one partial packet and one read chunk on
// the receiving side; at most max_connections inbound connections (and as many outbound),
// max_per_source from one address (IPv6: one /64), each closed unless it delivers a whole
// packet within silent_timeout_s;
// a connection that carries nothing either way for idle_timeout_s, or whose send buffer does not move
// for stall_timeout_s, is closed; a connect that fails backs off (1 s doubling to 60 s) before
// that endpoint is tried again, and so is an outbound connection that closes within that time
// without a whole packet. A connection whose worker's ring is full is not read (EPOLLIN off)
// until the ring has room: the bytes wait in the socket. The thread never blocks on a socket
// (all non-blocking); only a proxy named by a DNS name is looked up with getaddrinfo() on it,
// at most once a minute.
// Threads: constructed, started and stopped on the control thread; run() on its own thread;
// status() from the control thread (counters are atomics, the connection list is copied under
// a mutex once a second).
#pragma once

#include <rte_mempool.h>
#include <rte_ring.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/config/config.hh"
#include "control/daemon/dns_path.hh"
#include "transports/ip.hh"
#include "transports/stream.hh"

namespace control {

struct tcp_path_config {
    bool listen = false;           // tcp-port != 0
    uint16_t listen_port = 655;
    std::string proxy_host;        // http-proxy-host (empty: connect directly)
    uint16_t proxy_port = 0;       // http-proxy-port
    std::string proxy_auth;        // http-proxy-auth, "user:password" (never logged)
    unsigned max_connections = 256;
    unsigned max_per_source = 8;   // inbound connections from one address
    size_t send_buffer = 256 * 1024;
    unsigned idle_timeout_s = 150;
    unsigned stall_timeout_s = 15;
    unsigned connect_timeout_s = 10;
    unsigned silent_timeout_s = 10;  // an inbound connection must deliver a whole packet by then
    // A connect that fails waits backoff_first_ms before that endpoint is tried again, doubling
    // up to backoff_max_ms (settings so that tests need not wait a minute).
    unsigned backoff_first_ms = 1000;
    unsigned backoff_max_ms = 60'000;
    unsigned proxy_lookup_interval_s = 60;  // a DNS name in proxy_host is looked up at most this often
    unsigned proxy_failure_hold_ms = 5000;  // ... and after a failed lookup, again after this long
    std::optional<dns_path_config> dns;  // enable-dns: the dns transport runs on this thread too
};

/// Counters (monotonic) of the slow path, read by status.
struct tcp_path_counters {
    std::atomic<uint64_t> accepted{0}, connected{0}, refused{0}, connect_failed{0}, proxy_refused{0};
    std::atomic<uint64_t> closed_idle{0}, closed_stalled{0}, closed_bad_framing{0}, closed_by_peer{0};
    std::atomic<uint64_t> closed_silent{0};   // inbound, no whole packet within silent_timeout_s
    std::atomic<uint64_t> tx_packets{0}, tx_bytes{0}, rx_packets{0}, rx_bytes{0};
    std::atomic<uint64_t> tx_dropped_full{0}, tx_dropped_no_connection{0}, tx_dropped_bad{0};
    std::atomic<uint64_t> rx_dropped_no_buffer{0};
    std::atomic<uint64_t> buffered_bytes{0};  // bytes in the send buffers now (receive side: per connection)
    std::atomic<uint64_t> open_connections{0};
};

/// The slow path's settings from the config: the local node's tcp-port, the http-proxy-*
/// globals, the idle timeout from keepalive (a live session sends at least every keepalive
/// seconds, so a connection silent for twice that and a half minute has no session on it).
tcp_path_config tcp_config(const config& cfg);

class tcp_path {
public:
    /// `to_workers[w]` / `from_workers[w]`: the stream port's rings; `port_id`: that port (set
    /// in every mbuf handed to a worker); `pool`: where received packets' mbufs come from.
    tcp_path(tcp_path_config cfg, std::vector<rte_ring*> to_workers, std::vector<rte_ring*> from_workers,
             rte_mempool* pool, uint16_t port_id);
    ~tcp_path();
    tcp_path(const tcp_path&) = delete;
    tcp_path& operator=(const tcp_path&) = delete;

    /// Opens the listening socket (if any) and starts the thread. Returns an error message, or
    /// an empty string.
    std::string start();
    /// Stops the thread and closes every socket. Idempotent.
    void stop();

    /// Reload: the proxy settings and timeouts of connections opened from now on (the
    /// listening port is not changed by a reload).
    void reconfigure(const tcp_path_config& cfg);

    [[nodiscard]] const tcp_path_counters& counters() const noexcept { return _ctr; }
    /// Counters and the open connections (as of the last second).
    [[nodiscard]] nlohmann::json status() const;

private:
    struct conn;
    struct endpoint_key {
        transport::ip_address ip;
        uint16_t port = 0;
        bool operator<(const endpoint_key& o) const noexcept {
            return ip.v6 != o.ip.v6 ? ip.v6 < o.ip.v6 : ip.bytes != o.ip.bytes ? ip.bytes < o.ip.bytes : port < o.port;
        }
    };
    struct backoff {
        uint64_t next_ms = 0;
        uint64_t delay_ms = 0;
        uint64_t last_log_ms = 0;
    };

    void run();
    bool drain_workers();
    void deliver(rte_mbuf* m);
    conn* open_connection(const endpoint_key& ep, uint64_t now);
    void accept_all(uint64_t now);
    void on_event(conn& c, uint32_t events, uint64_t now);
    void on_connected(conn& c, uint64_t now);
    bool read_proxy_reply(conn& c, uint64_t now);
    void read_packets(conn& c, uint64_t now);
    bool hand_to_worker(conn& c);
    void flush(conn& c, uint64_t now);
    void close_conn(conn& c, const std::string& why, std::atomic<uint64_t>* counter);
    void connect_failed(const endpoint_key& ep, const std::string& why, uint64_t now, bool proxy);
    void timers(uint64_t now);
    void publish_list(uint64_t now);
    void want_write(conn& c, bool on);
    void set_events(conn& c);
    void resume_paused();
    static void compact(conn& c);

    tcp_path_config _cfg;
    mutable std::mutex _cfg_mutex;
    tcp_path_config _next_cfg;
    std::atomic<bool> _cfg_changed{false};
    std::vector<rte_ring*> _to_workers, _from_workers;
    rte_mempool* _pool;
    uint16_t _port_id;
    int _epoll = -1;
    int _listen_fd = -1;
    std::atomic<bool> _stop{false};
    std::thread _thread;
    unsigned _next_worker = 0;
    size_t _n_inbound = 0;                           // accepted connections open now
    std::map<int, std::unique_ptr<conn>> _conns;     // by fd
    std::map<endpoint_key, int> _by_endpoint;        // remote endpoint (the target, not a proxy) -> fd
    std::map<endpoint_key, backoff> _backoff;        // endpoints whose last connect failed
    std::vector<int> _dirty;                         // connections with new bytes to send
    std::vector<int> _paused;                        // not read (EPOLLIN off): their worker's ring is full
    uint64_t _listen_paused_until = 0;               // out of file descriptors: accept later
    uint64_t _last_framing_log_ms = 0;
    // http-proxy-host looked up (a DNS name): the address, or why the lookup failed, and when
    // to look again (a failure is kept as long as an answer)
    transport::ip_address _proxy_addr;
    std::string _proxy_lookup_error;
    uint64_t _proxy_resolved_until = 0;
    std::vector<uint8_t> _chunk;                     // one read
    uint64_t _next_timer_ms = 0;
    tcp_path_counters _ctr;
    std::unique_ptr<dns_path> _dns;
    mutable std::mutex _list_mutex;
    nlohmann::json _list = nlohmann::json::array();
};

}  // namespace control
