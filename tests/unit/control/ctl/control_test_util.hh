// SPDX-License-Identifier: MIT
// Helpers shared by the control socket, keys, formatting and dvpectl tests: a temporary directory
// removed at the end, a raw UNIX-socket client driven alternately with control_server::poll() in
// the same thread, a server polled by a background thread, and fixed `status`/`config` replies.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "control/ctl/control_socket.hh"

namespace control::test {

/// mkdtemp() directory, removed recursively on destruction.
class temp_dir {
public:
    temp_dir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "dvpe-ctl-XXXXXX").string();
        char* p = ::mkdtemp(tmpl.data());
        if (p == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        _path = p;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(_path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    [[nodiscard]] const std::string& path() const { return _path; }
    [[nodiscard]] std::string operator/(const std::string& rel) const { return _path + "/" + rel; }

private:
    std::string _path;
};

/// A connected client socket (non-blocking) to \p path; -1 on failure.
inline int connect_client(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), std::min(path.size(), sizeof addr.sun_path - 1));
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/// Writes everything, polling the server in between so a full socket buffer drains.
inline void send_all(control_server& srv, int fd, std::string_view data) {
    size_t off = 0;
    for (int i = 0; off < data.size() && i < 100000; ++i) {
        ssize_t w = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += size_t(w);
        } else {
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                return;  // connection closed by the server
            }
            srv.poll(1);
        }
    }
}

/// Result of reading from a client socket while polling the server.
struct read_result {
    std::string data;   // bytes read
    bool closed = false;  // EOF or reset seen
};

/// Polls the server and reads until \p n_lines newlines arrived, the connection closed, or
/// \p timeout passed.
inline read_result read_lines(control_server& srv, int fd, size_t n_lines,
                              std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    read_result r;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[65536];
    while (std::chrono::steady_clock::now() < deadline) {
        srv.poll(1);
        for (;;) {
            ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                r.data.append(buf, size_t(n));
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                r.closed = true;
            }
            break;
        }
        if (r.closed || size_t(std::count(r.data.begin(), r.data.end(), '\n')) >= n_lines) {
            break;
        }
    }
    return r;
}

/// One request/reply on an open client socket.
inline nlohmann::json exchange(control_server& srv, int fd, const std::string& line) {
    send_all(srv, fd, line);
    auto r = read_lines(srv, fd, 1);
    auto nl = r.data.find('\n');
    if (nl == std::string::npos) {
        ADD_FAILURE() << "no reply to " << line.substr(0, 200) << " (closed=" << r.closed << ")";
        return nullptr;
    }
    return nlohmann::json::parse(r.data.substr(0, nl));
}

/// A server polled by a background thread (for blocking clients: control_request, dvpectl).
/// Only that thread touches the server until stop().
class polled_server {
public:
    explicit polled_server(std::unique_ptr<control_server> s) : _srv(std::move(s)) {
        _thread = std::thread([this] {
            while (!_stop.load()) {
                _srv->poll(10);
            }
        });
    }
    ~polled_server() { stop(); }
    void stop() {
        _stop = true;
        if (_thread.joinable()) {
            _thread.join();
        }
    }
    /// Only after stop().
    control_server& server() { return *_srv; }

private:
    std::unique_ptr<control_server> _srv;
    std::atomic<bool> _stop{false};
    std::thread _thread;
};

/// A `status` reply as docs/control.md specifies it.
inline nlohmann::json sample_status(double uptime, uint64_t scale) {
    using nlohmann::json;
    json drops = {{"bad_length", 0},      {"unknown_ethertype", 7 * scale}, {"not_for_us", 0},
                  {"bad_ip_header", 0},   {"ip_fragment", 0},              {"unhandled_protocol", 0},
                  {"unhandled_icmp", 0},  {"unhandled_arp", 2 * scale},     {"control_ring_full", 0},
                  {"no_session", 0},      {"tx_failed", 0}};
    return json{
        {"ok", true},
        {"node", {{"name", "alpha"}, {"id", 1}, {"mac", "fe:fd:80:00:00:01"}}},
        {"uptime_s", uptime},
        {"tsc_hz", 1000000000},
        {"ports",
         {{{"name", "wan0"}, {"role", "wan"}, {"port_id", 0}, {"driver", "net_af_packet"},
           {"mac", "02:00:00:00:00:01"}, {"mtu", 1500}, {"link_up", true}, {"rx_queues", 1}, {"tx_queues", 2},
           {"rx_packets", 1000 * scale}, {"rx_bytes", 500000 * scale}, {"tx_packets", 900 * scale},
           {"tx_bytes", 450000 * scale}, {"rx_missed", 1}, {"rx_nombuf", 0}, {"tx_errors", 2}},
          {{"name", "tap0"}, {"role", "overlay"}, {"port_id", 1}, {"driver", "net_tap"},
           {"mac", "fe:fd:80:00:00:01"}, {"mtu", 1434}, {"link_up", false}, {"rx_queues", 1}, {"tx_queues", 2},
           {"rx_packets", 10 * scale}, {"rx_bytes", 1000 * scale}, {"tx_packets", 0}, {"tx_bytes", 0},
           {"rx_missed", 0}, {"rx_nombuf", 0}, {"tx_errors", 0}}}},
        {"workers",
         {{{"lcore", 1},
           {"queues", {{{"port", "wan0"}, {"queue", 0}}, {{"port", "tap0"}, {"queue", 0}}}},
           {"rx_packets", 1010 * scale},
           {"rx_bytes", 501000 * scale},
           {"tx_packets", 900 * scale},
           {"tx_bytes", 450000 * scale},
           {"polls", 10000 * scale},
           {"empty_polls", 2500 * scale},
           {"idle_sleeps", 30 * scale},
           {"busy_cycles", 250000000 * scale},
           {"drops", drops}}}},
        {"drops", drops},
    };
}

/// A `peers` reply (docs/control.md): beta up over udp, gamma relayed through beta with a
/// failure, delta reached over icmp with echo replies, epsilon without any path.
inline nlohmann::json sample_peers() {
    using nlohmann::json;
    return json{{"ok", true},
                {"peers",
                 {{{"id", 2}, {"name", "beta"}, {"state", "up"}, {"connect", "always"},
                   {"handshake_in_progress", false}, {"key_id", 7}, {"key_age_s", 75.5},
                   {"last_handshake_age_s", 75.5}, {"initiations_sent", 1}, {"responses_sent", 0},
                   {"handshakes_completed", 1}, {"rekeys", 0}, {"ups", 1}, {"downs", 0}, {"rx_packets", 10},
                   {"rx_bytes", 1536}, {"tx_packets", 3}, {"tx_bytes", 300}, {"handshakes_failed", json::object()},
                   {"transport", "udp4"}, {"address", "10.0.0.2"}, {"udp_port", 655}, {"next_hop_resolved", true},
                   {"via", 0}},
                  {{"id", 3}, {"name", "gamma"}, {"state", "connecting"}, {"connect", "ondemand"},
                   {"handshake_in_progress", true}, {"last_handshake_age_s", -1.0}, {"initiations_sent", 4},
                   {"rx_bytes", 0}, {"tx_bytes", 3 * 1024 * 1024}, {"tx_packets", 2200}, {"auth_failed", 5},
                   {"replayed", 2},
                   {"handshakes_failed", {{"wrong_static_key", 2}}},
                   {"handshake_failure", {{"reason", "wrong_static_key"}, {"detail", "node gamma: not the key we know"}}},
                   {"transport", "udp6"}, {"address", "2001:db8::3"}, {"udp_port", 4000}, {"next_hop_resolved", false},
                   {"via", 2}},
                  {{"id", 4}, {"name", "delta"}, {"state", "up"}, {"connect", "always"}, {"key_id", 1},
                   {"key_age_s", 3.0}, {"last_handshake_age_s", 3.0}, {"responses_sent", 1}, {"handshakes_completed", 1},
                   {"ups", 1}, {"transport", "icmp4"}, {"address", "203.0.113.50"}, {"icmp_type", 0}, {"icmp_id", 4},
                   {"next_hop_resolved", true}, {"via", 0}, {"roamed_to", "203.0.113.50"}},
                  {{"id", 5}, {"name", "epsilon"}, {"state", "down"}, {"connect", "never"}}}}};
}

/// A `config` reply as docs/control.md specifies it.
inline nlohmann::json sample_config() {
    using nlohmann::json;
    return json{
        {"ok", true},       {"node", "alpha"},    {"node_id", 1},       {"nodes_count", 3},
        {"mtu", 1500},      {"overlay_mtu", 1434}, {"rekey", 3607},      {"keepalive", 0.5},
        {"ifname", "dvpe0"}, {"cipher", "aes256-gcm"}, {"serial", ""},
        {"nodes",
         {{{"id", 1}, {"name", "alpha"}, {"mac", "fe:fd:80:00:00:01"}, {"connect", "always"},
           {"protocols", {"udp", "rawip"}}, {"protocols_mask", 3}, {"hostname", "10.0.0.1"}, {"udp_port", 655},
           {"router_priority", 0}, {"self", true}},
          {{"id", 2}, {"name", "beta"}, {"mac", "fe:fd:80:00:00:02"}, {"connect", "ondemand"},
           {"protocols", {"udp"}}, {"protocols_mask", 1}, {"hostname", "2001:db8::2"}, {"udp_port", 4000},
           {"router_priority", 2}, {"self", false}},
          {{"id", 3}, {"name", "gamma-long-name"}, {"mac", "fe:fd:80:00:00:03"}, {"connect", "never"},
           {"protocols", json::array()}, {"protocols_mask", 0}, {"hostname", ""}, {"udp_port", 655},
           {"router_priority", 1}, {"self", false}}}},
    };
}

}  // namespace control::test
