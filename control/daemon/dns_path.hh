// SPDX-License-Identifier: MIT
// The dns transport (docs/dns.md), run by the slow-path thread (control/daemon/tcp_path.hh)
// beside the tcp transport, on the same stream port: dvpe packets cut into chunks
// (transports/dns_wire.hh) and carried in DNS -- upstream in the names of TXT queries a
// client sends to its resolver (`dns-forw-host`), downstream in the TXT answers of the node
// that serves the queried domain (`dns-domain`, listening on `dns-port`). A server cannot send
// on its own: it answers each query with the next chunk for that client, and the client keeps
// queries outstanding (polls) so it can.
//
// Ring headers (transports/stream.hh) of kind dns4/dns6 name the peer by node id (the port
// field); the address is unused: the client reaches every server through its one resolver, a
// server knows its clients only by the id in their queries' names.
// Bounds: per server (client side) and per client (server side) at most queue_bytes queued and
// 4 packets in reassembly; at most max_outstanding queries in flight per server; a server
// serves only configured nodes that enable dns, at most max_clients at once.
// Threads: everything on the slow-path thread; counters are atomics for status().
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/config/config.hh"
#include "transports/dns_wire.hh"
#include "transports/ip.hh"

namespace control {

struct dns_path_config {
    uint16_t self_id = 0;
    // Server: this node serves `domain` on UDP `listen_port` (any address).
    bool server = false;
    std::string domain;
    uint16_t listen_port = 53;
    std::set<uint16_t> clients;            // node ids that may use it (enable-dns)
    // Client: queries go to the resolver; the servers' domains by node id.
    std::optional<transport::ip_address> forwarder;
    uint16_t forwarder_port = 53;
    std::map<uint16_t, std::string> servers;
    // Tuning (GVPE's names): dns-send-interval, dns-max-outstanding, dns-timeout-factor.
    double send_interval_s = 0.01;
    unsigned max_outstanding = 100;
    double timeout_s = 2.0;
    size_t queue_bytes = 64 * 1024;
    unsigned max_clients = 256;
};

/// The dns settings from the config (the forwarder resolved with getaddrinfo if it is a name:
/// call it where blocking is allowed). Errors (an unresolvable forwarder) go to `error`.
dns_path_config dns_config(const config& cfg, std::string& error);

struct dns_counters {
    std::atomic<uint64_t> queries_sent{0}, answers_received{0}, queries_timed_out{0};
    std::atomic<uint64_t> queries_received{0}, answers_sent{0}, queries_refused{0}, repeated_queries{0}, send_errors{0};
    std::atomic<uint64_t> tx_packets{0}, rx_packets{0}, tx_dropped_queue_full{0}, tx_dropped_no_peer{0};
    std::atomic<uint64_t> rx_dropped_no_buffer{0}, reassembly_dropped{0};
};

class dns_path {
public:
    /// `hand` gives a received packet (ring header + dvpe packet, in an mbuf) to a worker;
    /// false: the ring was full (the mbuf is then freed by the caller).
    dns_path(dns_path_config cfg, rte_mempool* pool, uint16_t port_id, std::function<bool(rte_mbuf*, unsigned)> hand,
             unsigned n_workers);
    ~dns_path();
    dns_path(const dns_path&) = delete;
    dns_path& operator=(const dns_path&) = delete;

    /// Opens the sockets (the server's listening one, the client's one to its resolver) and
    /// adds them to `epoll`. Returns an error message or "".
    std::string open(int epoll);
    /// Whether `fd` is one of ours.
    [[nodiscard]] bool owns(int fd) const noexcept { return fd == _server_fd || fd == _client_fd; }
    void on_readable(int fd, uint64_t now_ms);
    /// A packet from a worker (ring header of a dns kind); frees it.
    void deliver(rte_mbuf* m);
    /// Sends what is due (chunks, polls), expires queries. Returns true if it sent anything.
    bool tick(uint64_t now_ms);

    [[nodiscard]] nlohmann::json status() const;

private:
    struct upstream;    // client side, per server
    struct downstream;  // server side, per client
    void client_receive(uint64_t now_ms);
    void server_receive(uint64_t now_ms);
    void to_worker(uint16_t peer, std::span<const uint8_t> pkt, unsigned worker);
    void enqueue(std::deque<std::vector<uint8_t>>& q, size_t& queued, std::vector<std::vector<uint8_t>> chunks);

    dns_path_config _cfg;
    rte_mempool* _pool;
    uint16_t _port_id;
    std::function<bool(rte_mbuf*, unsigned)> _hand;
    unsigned _n_workers;
    int _server_fd = -1, _client_fd = -1;
    uint64_t _rng = 1;  // xorshift64 for query ids
    [[nodiscard]] uint16_t next_query_id() noexcept {
        _rng ^= _rng << 13;
        _rng ^= _rng >> 7;
        _rng ^= _rng << 17;
        return static_cast<uint16_t>(_rng >> 24);
    }
    uint32_t _next_nonce = 1;
    uint16_t _next_seq = 1;
    size_t _down_chunk = 0;  // server: downstream chunk size (what an answer to any accepted query carries)
    std::map<uint16_t, std::unique_ptr<upstream>> _up;      // by server id
    std::map<uint16_t, std::unique_ptr<downstream>> _down;  // by client id
    std::vector<uint8_t> _buf;
    dns_counters _ctr;
};

}  // namespace control
