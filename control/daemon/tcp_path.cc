// SPDX-License-Identifier: MIT
// The tcp transport's slow path; see tcp_path.hh.
#include "control/daemon/tcp_path.hh"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_mbuf.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <span>

#include "control/daemon/http_connect.hh"
#include "control/daemon/slow_path_util.hh"
#include "control/log.hh"

namespace control {

namespace {

constexpr size_t chunk_size = 64 * 1024;
constexpr unsigned reads_per_event = 4;     // then the next connection's turn
constexpr unsigned ring_burst = 64;
constexpr unsigned ring_reserve = 32;       // a connection is read only while its ring has this room
constexpr uint64_t log_every_ms = 60'000;   // per endpoint and kind of failure

uint64_t now_ms() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

std::string ep_str(const transport::ip_address& ip, uint16_t port) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(ip.v6 ? AF_INET6 : AF_INET, ip.bytes.data(), buf, sizeof(buf));
    return ip.v6 ? "[" + std::string(buf) + "]:" + std::to_string(port) : std::string(buf) + ":" + std::to_string(port);
}



void set_nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // small handshakes go at once
}

}  // namespace

struct tcp_path::conn {
    enum class state : uint8_t { connecting, proxy_reply, open };
    int fd = -1;
    endpoint_key ep;            // the remote endpoint: the peer's (the target through a proxy)
    bool outbound = false;
    bool via_proxy = false;
    state st = state::open;
    unsigned worker = 0;
    std::vector<uint8_t> out;   // framed packets not yet written
    size_t out_pos = 0;
    bool writing = false;       // EPOLLOUT registered
    bool paused = false;        // EPOLLIN off (its worker's ring is full), in _paused
    bool dirty = false;         // in _dirty
    bool got_packet = false;    // a whole packet came in on it
    transport::stream_reader in;
    std::string proxy_reply;
    uint64_t opened_ms = 0, last_rx_ms = 0, last_tx_ms = 0;
    uint64_t rx_bytes = 0, tx_bytes = 0;

    [[nodiscard]] size_t pending() const noexcept { return out.size() - out_pos; }
};

tcp_path_config tcp_config(const config& cfg) {
    const node_conf& self = cfg.self_node();
    tcp_path_config c;
    c.listen = (self.protocols & proto_tcp) != 0 && self.tcp_port != 0;
    c.listen_port = static_cast<uint16_t>(self.tcp_port);
    c.proxy_host = cfg.global.http_proxy_host;
    c.proxy_port = static_cast<uint16_t>(cfg.global.http_proxy_port);
    c.proxy_auth = cfg.global.http_proxy_auth;
    c.idle_timeout_s = std::max(60u, 2 * static_cast<unsigned>(cfg.global.keepalive) + 30);
    // Every configured peer may hold a connection each way, and some room for the unknown.
    c.max_connections = std::max<unsigned>(256, 2 * static_cast<unsigned>(cfg.nodes.size()) + 64);
    return c;
}

tcp_path::tcp_path(tcp_path_config cfg, std::vector<rte_ring*> to_workers, std::vector<rte_ring*> from_workers,
                   rte_mempool* pool, uint16_t port_id)
    : _cfg(std::move(cfg)), _to_workers(std::move(to_workers)), _from_workers(std::move(from_workers)), _pool(pool),
      _port_id(port_id) {
    _chunk.resize(chunk_size);
}

tcp_path::~tcp_path() { stop(); }

std::string tcp_path::start() {
    _epoll = epoll_create1(EPOLL_CLOEXEC);
    if (_epoll < 0) {
        return std::string("tcp: epoll_create1: ") + std::strerror(errno);
    }
    if (_cfg.listen) {
        std::string error;
        const int fd = slow_path::bind_any(SOCK_STREAM, _cfg.listen_port, "tcp-port", error);
        if (fd < 0) {
            return "tcp: " + error;
        }
        _listen_fd = fd;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        epoll_ctl(_epoll, EPOLL_CTL_ADD, fd, &ev);
    }
    if (_cfg.dns) {
        auto hand = [this](rte_mbuf* m, unsigned w) { return rte_ring_sp_enqueue(_to_workers[w % _to_workers.size()], m) == 0; };
        _dns = std::make_unique<dns_path>(*_cfg.dns, _pool, _port_id, hand, static_cast<unsigned>(_to_workers.size()));
        if (std::string e = _dns->open(_epoll); !e.empty()) {
            return e;
        }
    }
    _thread = std::thread([this] { run(); });
    return {};
}

void tcp_path::stop() {
    _stop.store(true);
    if (_thread.joinable()) {
        _thread.join();
    }
    _dns.reset();
    for (auto& [fd, c] : _conns) {
        close(fd);
    }
    _conns.clear();
    _by_endpoint.clear();
    if (_listen_fd >= 0) {
        close(_listen_fd);
        _listen_fd = -1;
    }
    if (_epoll >= 0) {
        close(_epoll);
        _epoll = -1;
    }
}

void tcp_path::reconfigure(const tcp_path_config& cfg) {
    std::lock_guard lock(_cfg_mutex);
    _next_cfg = cfg;
    _cfg_changed.store(true);
}

nlohmann::json tcp_path::status() const {
    nlohmann::json j;
    j["accepted"] = _ctr.accepted.load();
    j["connected"] = _ctr.connected.load();
    j["refused"] = _ctr.refused.load();
    j["connect_failed"] = _ctr.connect_failed.load();
    j["proxy_refused"] = _ctr.proxy_refused.load();
    j["closed"] = {{"idle", _ctr.closed_idle.load()},
                   {"stalled", _ctr.closed_stalled.load()},
                   {"bad_framing", _ctr.closed_bad_framing.load()},
                   {"by_peer", _ctr.closed_by_peer.load()},
                   {"silent", _ctr.closed_silent.load()}};
    j["tx_packets"] = _ctr.tx_packets.load();
    j["tx_bytes"] = _ctr.tx_bytes.load();
    j["rx_packets"] = _ctr.rx_packets.load();
    j["rx_bytes"] = _ctr.rx_bytes.load();
    j["dropped"] = {{"send_buffer_full", _ctr.tx_dropped_full.load()},
                    {"no_connection", _ctr.tx_dropped_no_connection.load()},
                    {"bad_ring_header", _ctr.tx_dropped_bad.load()},
                    {"no_buffer", _ctr.rx_dropped_no_buffer.load()}};
    j["buffered_bytes"] = _ctr.buffered_bytes.load();
    j["open_connections"] = _ctr.open_connections.load();
    {
        std::lock_guard lock(_cfg_mutex);  // run() replaces _cfg under it
        j["listening"] = _listen_fd >= 0 ? nlohmann::json(_cfg.listen_port) : nlohmann::json(nullptr);
        j["proxy"] = _cfg.proxy_host.empty() ? nlohmann::json(nullptr)
                                             : nlohmann::json(_cfg.proxy_host + ":" + std::to_string(_cfg.proxy_port));
    }
    {
        std::lock_guard lock(_list_mutex);
        j["connections"] = _list;
    }
    if (_dns) {
        j["dns"] = _dns->status();  // counters (atomics) and the immutable settings only
    }
    return j;
}

void tcp_path::run() {
    std::array<epoll_event, 64> evs{};
    while (!_stop.load(std::memory_order_relaxed)) {
        if (_cfg_changed.load(std::memory_order_relaxed)) {
            std::lock_guard lock(_cfg_mutex);
            const bool listen = _cfg.listen;
            const uint16_t port = _cfg.listen_port;
            _cfg = _next_cfg;
            _cfg.listen = listen;  // the listener stays as it was opened
            _cfg.listen_port = port;
            _cfg_changed.store(false);
            _backoff.clear();      // new settings: try at once
            _proxy_resolved_until = 0;
        }
        bool busy = drain_workers();
        if (_dns) {
            busy |= _dns->tick(now_ms());
        }
        const int n = epoll_wait(_epoll, evs.data(), static_cast<int>(evs.size()), busy ? 0 : 1);
        const uint64_t now = now_ms();
        for (int i = 0; i < n; ++i) {
            const int fd = evs[i].data.fd;
            if (_dns && _dns->owns(fd)) {
                _dns->on_readable(fd, now);
                continue;
            }
            if (fd == _listen_fd) {
                accept_all(now);
                continue;
            }
            auto it = _conns.find(fd);
            if (it != _conns.end()) {
                on_event(*it->second, evs[i].events, now);
            }
        }
        resume_paused();
        if (_listen_paused_until != 0 && now >= _listen_paused_until) {
            _listen_paused_until = 0;
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.fd = _listen_fd;
            epoll_ctl(_epoll, EPOLL_CTL_MOD, _listen_fd, &ev);
        }
        for (int fd : _dirty) {
            if (auto it = _conns.find(fd); it != _conns.end()) {
                it->second->dirty = false;
                flush(*it->second, now);
            }
        }
        _dirty.clear();
        if (now >= _next_timer_ms) {
            timers(now);
            _next_timer_ms = now + 1000;
        }
    }
}

// What the workers (and the control thread, through worker 0) send.
bool tcp_path::drain_workers() {
    bool any = false;
    for (rte_ring* r : _from_workers) {
        std::array<rte_mbuf*, ring_burst> pkts{};
        const unsigned n = rte_ring_sc_dequeue_burst(r, reinterpret_cast<void**>(pkts.data()), ring_burst, nullptr);
        for (unsigned i = 0; i < n; ++i) {
            deliver(pkts[i]);
        }
        any |= n != 0;
    }
    return any;
}

void tcp_path::deliver(rte_mbuf* m) {
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    const auto meta = m->nb_segs == 1 ? transport::read_stream_meta(p, rte_pktmbuf_data_len(m)) : std::nullopt;
    if (meta && transport::is_dns(meta->k)) {
        if (_dns) {
            _dns->deliver(m);  // frees it
        } else {
            _ctr.tx_dropped_bad.fetch_add(1, std::memory_order_relaxed);
            rte_pktmbuf_free(m);
        }
        return;
    }
    if (!meta || meta->len < sizeof(transport::dvpe_header) || meta->len > transport::max_stream_packet) {
        _ctr.tx_dropped_bad.fetch_add(1, std::memory_order_relaxed);
        rte_pktmbuf_free(m);
        return;
    }
    const endpoint_key ep{meta->ip, meta->port};
    const uint64_t now = now_ms();
    conn* c = nullptr;
    if (auto it = _by_endpoint.find(ep); it != _by_endpoint.end()) {
        c = _conns.at(it->second).get();
    } else if ((meta->flags & transport::stream_flag_connect) != 0) {
        c = open_connection(ep, now);
    }
    const size_t n = transport::stream_prefix_size + meta->len;
    if (c == nullptr) {
        _ctr.tx_dropped_no_connection.fetch_add(1, std::memory_order_relaxed);
    } else if (c->pending() + n > _cfg.send_buffer) {
        _ctr.tx_dropped_full.fetch_add(1, std::memory_order_relaxed);
    } else {
        compact(*c);
        const uint8_t* framed = p + transport::stream_prefix_offset;
        c->out.insert(c->out.end(), framed, framed + n);
        _ctr.buffered_bytes.fetch_add(n, std::memory_order_relaxed);
        _ctr.tx_packets.fetch_add(1, std::memory_order_relaxed);
        if (!c->dirty && c->st == conn::state::open) {
            c->dirty = true;
            _dirty.push_back(c->fd);
        }
    }
    rte_pktmbuf_free(m);
}

tcp_path::conn* tcp_path::open_connection(const endpoint_key& ep, uint64_t now) {
    if (auto b = _backoff.find(ep); b != _backoff.end() && now < b->second.next_ms) {
        return nullptr;
    }
    if (_conns.size() - _n_inbound >= _cfg.max_connections) {
        connect_failed(ep, "too many connections out (" + std::to_string(_conns.size() - _n_inbound) + ")", now, false);
        return nullptr;
    }
    // Where the socket connects: the peer, or the proxy (resolved now: a name may move).
    transport::ip_address to = ep.ip;
    uint16_t to_port = ep.port;
    const bool proxy = !_cfg.proxy_host.empty();
    if (proxy) {
        to_port = _cfg.proxy_port;
        if (auto lit = transport::ip_address::parse(_cfg.proxy_host)) {
            to = *lit;
        } else if (now < _proxy_resolved_until) {
            // Looked up within the interval (getaddrinfo blocks this thread): its answer, or its
            // failure -- a name that does not resolve is not looked up for every endpoint and retry.
            if (!_proxy_lookup_error.empty()) {
                connect_failed(ep, _proxy_lookup_error, now, true);
                return nullptr;
            }
            to = _proxy_addr;
        } else {
            addrinfo hints{};
            hints.ai_socktype = SOCK_STREAM;
            hints.ai_flags = AI_ADDRCONFIG;
            addrinfo* res = nullptr;
            _proxy_resolved_until = now + uint64_t{_cfg.proxy_lookup_interval_s} * 1000;
            if (int rc = getaddrinfo(_cfg.proxy_host.c_str(), nullptr, &hints, &res); rc != 0 || res == nullptr) {
                // A failure is held for a few seconds only (a resolver restarting, DNS not up yet
                // at boot): enough to spare every endpoint its own blocking lookup.
                _proxy_resolved_until = now + std::min(uint64_t{_cfg.proxy_lookup_interval_s} * 1000,
                                                       uint64_t{_cfg.proxy_failure_hold_ms});
                _proxy_lookup_error = "cannot resolve http-proxy-host " + _cfg.proxy_host + ": " + gai_strerror(rc);
                connect_failed(ep, _proxy_lookup_error, now, true);
                return nullptr;
            }
            _proxy_lookup_error.clear();
            uint16_t unused = 0;
            sockaddr_storage ss{};
            std::memcpy(&ss, res->ai_addr, std::min<size_t>(res->ai_addrlen, sizeof(ss)));
            freeaddrinfo(res);
            slow_path::from_sockaddr(ss, to, unused);
            _proxy_addr = to;
        }
    }
    const int fd = socket(to.v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        connect_failed(ep, std::string("socket: ") + std::strerror(errno), now, proxy);
        return nullptr;
    }
    set_nodelay(fd);
    sockaddr_storage ss{};
    const socklen_t len = slow_path::to_sockaddr(to, to_port, ss);
    if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
        const std::string e = std::strerror(errno);
        close(fd);
        connect_failed(ep, (proxy ? "proxy " + ep_str(to, to_port) + ": " : std::string()) + e, now, proxy);
        return nullptr;
    }
    auto c = std::make_unique<conn>();
    c->fd = fd;
    c->ep = ep;
    c->outbound = true;
    c->via_proxy = proxy;
    c->st = conn::state::connecting;
    c->worker = _next_worker++ % static_cast<unsigned>(_to_workers.size());
    c->opened_ms = c->last_rx_ms = c->last_tx_ms = now;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.fd = fd;
    epoll_ctl(_epoll, EPOLL_CTL_ADD, fd, &ev);
    c->writing = true;
    conn* raw = c.get();
    _conns.emplace(fd, std::move(c));
    _by_endpoint[ep] = fd;
    _ctr.open_connections.store(_conns.size(), std::memory_order_relaxed);
    return raw;
}

void tcp_path::accept_all(uint64_t now) {
    for (int i = 0; i < 64; ++i) {
        sockaddr_storage ss{};
        socklen_t len = sizeof(ss);
        const int fd = accept4(_listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                // The connection stays in the backlog and the listener readable: without a
                // pause this loop would spin. Accept again in a second.
                epoll_event ev{};
                ev.data.fd = _listen_fd;
                epoll_ctl(_epoll, EPOLL_CTL_MOD, _listen_fd, &ev);
                _listen_paused_until = now + 1000;
                log::warn("tcp: out of file descriptors: not accepting connections for a second");
            }
            return;  // EAGAIN, or an error on that one connection
        }
        endpoint_key ep;
        if (!slow_path::from_sockaddr(ss, ep.ip, ep.port)) {
            close(fd);
            continue;
        }
        // One address, or one IPv6 /64 (a host has a whole prefix to choose from).
        unsigned from_here = 0;
        for (const auto& [f, c] : _conns) {
            from_here += !c->outbound && c->ep.ip.v6 == ep.ip.v6 &&
                         std::memcmp(c->ep.ip.bytes.data(), ep.ip.bytes.data(), ep.ip.v6 ? 8 : 4) == 0;
        }
        if (_n_inbound >= _cfg.max_connections || from_here >= _cfg.max_per_source) {
            close(fd);
            _ctr.refused.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        set_nodelay(fd);
        auto c = std::make_unique<conn>();
        c->fd = fd;
        c->ep = ep;
        c->st = conn::state::open;
        c->worker = _next_worker++ % static_cast<unsigned>(_to_workers.size());
        c->opened_ms = c->last_rx_ms = c->last_tx_ms = now;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        epoll_ctl(_epoll, EPOLL_CTL_ADD, fd, &ev);
        // The newest connection from an endpoint wins (a peer that reconnected from the same
        // port after a crash); the old one closes by its idle timeout.
        _by_endpoint[ep] = fd;
        _conns.emplace(fd, std::move(c));
        ++_n_inbound;
        _ctr.accepted.fetch_add(1, std::memory_order_relaxed);
        _ctr.open_connections.store(_conns.size(), std::memory_order_relaxed);
        log::debug("tcp: connection from " + ep_str(ep.ip, ep.port));
    }
}

void tcp_path::want_write(conn& c, bool on) {
    if (c.writing == on) {
        return;
    }
    c.writing = on;
    set_events(c);
}

void tcp_path::set_events(conn& c) {
    epoll_event ev{};
    ev.events = (c.paused ? 0U : static_cast<uint32_t>(EPOLLIN)) | (c.writing ? static_cast<uint32_t>(EPOLLOUT) : 0U);
    ev.data.fd = c.fd;
    epoll_ctl(_epoll, EPOLL_CTL_MOD, c.fd, &ev);
}

void tcp_path::compact(conn& c) {
    // The bytes already written go once they are half the buffer or 64 KiB: a connection that
    // is always behind (every write ends in EAGAIN) never empties its buffer, and it would
    // keep everything it ever sent.
    if (c.st == conn::state::open && c.out_pos != 0 &&
        (c.out_pos == c.out.size() || c.out_pos >= chunk_size || c.out_pos * 2 >= c.out.size())) {
        c.out.erase(c.out.begin(), c.out.begin() + static_cast<std::ptrdiff_t>(c.out_pos));
        c.out_pos = 0;
    }
}

// Connections not read because their worker's ring was full: their packets go on once it has
// room, then they are read again.
void tcp_path::resume_paused() {
    if (_paused.empty()) {
        return;
    }
    std::vector<int> still;
    for (int fd : _paused) {
        auto it = _conns.find(fd);
        if (it == _conns.end()) {
            continue;
        }
        conn& c = *it->second;
        if (!hand_to_worker(c)) {
            continue;  // closed
        }
        if (c.in.has_packet() || rte_ring_free_count(_to_workers[c.worker]) < ring_reserve) {
            still.push_back(fd);
            continue;
        }
        c.paused = false;
        set_events(c);
    }
    _paused.swap(still);
}

void tcp_path::on_event(conn& c, uint32_t events, uint64_t now) {
    if (c.st == conn::state::connecting) {
        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) {
            return;
        }
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || (events & (EPOLLERR | EPOLLHUP)) != 0) {
            const endpoint_key ep = c.ep;
            const bool proxy = c.via_proxy;
            const std::string what = proxy ? "proxy " + _cfg.proxy_host + ":" + std::to_string(_cfg.proxy_port) + ": " : "";
            close_conn(c, "", nullptr);
            connect_failed(ep, what + std::strerror(err != 0 ? err : ECONNREFUSED), now, proxy);
            return;
        }
        on_connected(c, now);
        return;
    }
    if ((events & EPOLLOUT) != 0) {
        const int fd = c.fd;  // flush() may close c
        flush(c, now);
        if (_conns.find(fd) == _conns.end()) {
            return;
        }
    }
    if (c.paused && (events & (EPOLLERR | EPOLLHUP)) != 0) {
        // Not read while paused, but a hang-up is reported anyway (level-triggered: again and
        // again): the peer is gone, what it sent last goes with it.
        close_conn(c, "closed by the peer", &_ctr.closed_by_peer);
        return;
    }
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
        if (c.st == conn::state::proxy_reply) {
            read_proxy_reply(c, now);
        } else {
            read_packets(c, now);
        }
    }
}

void tcp_path::on_connected(conn& c, uint64_t now) {
    c.last_tx_ms = now;
    if (c.via_proxy) {
        // The request goes in front of anything queued for the tunnel.
        const std::string req = http::connect_request(c.ep.ip, c.ep.port, _cfg.proxy_auth);
        std::vector<uint8_t> out(req.begin(), req.end());
        out.insert(out.end(), c.out.begin() + static_cast<std::ptrdiff_t>(c.out_pos), c.out.end());
        c.out.swap(out);
        c.out_pos = 0;
        _ctr.buffered_bytes.fetch_add(req.size(), std::memory_order_relaxed);
        c.st = conn::state::proxy_reply;
        // Only the request is written until the proxy says yes: flush() stops at its end.
        flush(c, now);
        return;
    }
    c.st = conn::state::open;
    _backoff.erase(c.ep);
    _ctr.connected.fetch_add(1, std::memory_order_relaxed);
    log::info("tcp: connected to " + ep_str(c.ep.ip, c.ep.port));
    flush(c, now);
}

bool tcp_path::read_proxy_reply(conn& c, uint64_t now) {
    char buf[1024];
    const ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        const endpoint_key ep = c.ep;
        close_conn(c, "", nullptr);
        connect_failed(ep, "http proxy " + _cfg.proxy_host + ":" + std::to_string(_cfg.proxy_port) +
                               " closed the connection before answering CONNECT", now, true);
        return false;
    }
    if (n < 0) {
        return true;
    }
    c.last_rx_ms = now;
    c.proxy_reply.append(buf, static_cast<size_t>(n));
    const http::reply r = http::parse_reply(c.proxy_reply);
    if (r.st == http::reply::state::incomplete) {
        return true;
    }
    const endpoint_key ep = c.ep;
    const std::string proxy = "http proxy " + _cfg.proxy_host + ":" + std::to_string(_cfg.proxy_port);
    if (r.st == http::reply::state::bad) {
        close_conn(c, "", nullptr);
        _ctr.proxy_refused.fetch_add(1, std::memory_order_relaxed);
        connect_failed(ep, proxy + ": " + r.error, now, true);
        return false;
    }
    if (r.status < 200 || r.status > 299) {
        close_conn(c, "", nullptr);
        _ctr.proxy_refused.fetch_add(1, std::memory_order_relaxed);
        connect_failed(ep, proxy + " refused CONNECT " + ep_str(ep.ip, ep.port) + ": " + std::to_string(r.status) + " " +
                               r.reason + " (" + std::string(http::refusal_hint(r.status)) + ")",
                       now, true);
        return false;
    }
    // The tunnel is up: what followed the reply head is the peer's.
    c.st = conn::state::open;
    _backoff.erase(ep);
    _ctr.connected.fetch_add(1, std::memory_order_relaxed);
    log::info("tcp: connected to " + ep_str(ep.ip, ep.port) + " through " + proxy);
    const std::string rest = c.proxy_reply.substr(r.head_len);
    c.proxy_reply.clear();
    c.proxy_reply.shrink_to_fit();
    if (!rest.empty()) {
        c.in.feed(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(rest.data()), rest.size()));
        c.rx_bytes += rest.size();
        if (!hand_to_worker(c)) {
            return false;
        }
    }
    flush(c, now);
    return true;
}

// Packets already split off go to the worker first; false: the connection was closed.
bool tcp_path::hand_to_worker(conn& c) {
    rte_ring* ring = _to_workers[c.worker];
    for (;;) {
        if (rte_ring_free_count(ring) == 0) {
            return true;  // the rest waits (in the reader, then in the socket)
        }
        std::span<const uint8_t> pkt;
        const auto st = c.in.next(pkt);
        if (st == transport::stream_reader::status::need_more) {
            return true;
        }
        if (st == transport::stream_reader::status::bad_length) {
            if (const uint64_t now = now_ms(); now - _last_framing_log_ms >= log_every_ms) {
                _last_framing_log_ms = now;  // anyone can connect and send garbage: a line a minute
                log::notice("tcp: " + ep_str(c.ep.ip, c.ep.port) + " sent a packet length out of range: closed (" +
                            "tcp.closed.bad_framing counts them)");
            }
            close_conn(c, "", &_ctr.closed_bad_framing);
            return false;
        }
        c.got_packet = true;
        rte_mbuf* m = slow_path::ring_mbuf(_pool, c.ep.ip.v6 ? transport::kind::tcp6 : transport::kind::tcp4, c.ep.ip,
                                           c.ep.port, pkt, _port_id);
        if (m == nullptr) {
            _ctr.rx_dropped_no_buffer.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        if (rte_ring_sp_enqueue(ring, m) != 0) {
            rte_pktmbuf_free(m);  // not reached: one producer, room checked above
            _ctr.rx_dropped_no_buffer.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        _ctr.rx_packets.fetch_add(1, std::memory_order_relaxed);
        _ctr.rx_bytes.fetch_add(pkt.size(), std::memory_order_relaxed);
    }
}

void tcp_path::read_packets(conn& c, uint64_t now) {
    if (!hand_to_worker(c)) {
        return;
    }
    for (unsigned r = 0; r < reads_per_event; ++r) {
        if (rte_ring_free_count(_to_workers[c.worker]) < ring_reserve || c.in.has_packet()) {
            // The worker is behind: leave the bytes in the socket (TCP's flow control) and stop
            // polling it until the ring has room (resume_paused), or epoll would spin on it.
            if (!c.paused) {
                c.paused = true;
                set_events(c);
                _paused.push_back(c.fd);
            }
            return;
        }
        const ssize_t n = recv(c.fd, _chunk.data(), _chunk.size(), 0);
        if (n == 0) {
            close_conn(c, "closed by the peer", &_ctr.closed_by_peer);
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                return;
            }
            close_conn(c, std::strerror(errno), &_ctr.closed_by_peer);
            return;
        }
        c.last_rx_ms = now;
        c.rx_bytes += static_cast<uint64_t>(n);
        c.in.feed(std::span<const uint8_t>(_chunk.data(), static_cast<size_t>(n)));
        if (!hand_to_worker(c)) {
            return;
        }
        if (static_cast<size_t>(n) < _chunk.size()) {
            return;
        }
    }
}

void tcp_path::flush(conn& c, uint64_t now) {
    if (c.st == conn::state::connecting) {
        return;
    }
    size_t limit = c.out.size();
    if (c.st == conn::state::proxy_reply) {
        // Only the CONNECT request: it is at the front, and ends at the first blank line.
        const std::string_view s(reinterpret_cast<const char*>(c.out.data()), c.out.size());
        const size_t end = s.find("\r\n\r\n");
        limit = end == std::string_view::npos ? 0 : end + 4;
        if (c.out_pos >= limit) {
            want_write(c, false);
            return;
        }
    }
    while (c.out_pos < limit) {
        const ssize_t n = send(c.fd, c.out.data() + c.out_pos, limit - c.out_pos, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                want_write(c, true);
                compact(c);
                return;
            }
            if (errno == EINTR) {
                continue;
            }
            close_conn(c, std::strerror(errno), &_ctr.closed_by_peer);
            return;
        }
        c.out_pos += static_cast<size_t>(n);
        c.tx_bytes += static_cast<uint64_t>(n);
        c.last_tx_ms = now;
        _ctr.tx_bytes.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
        _ctr.buffered_bytes.fetch_sub(static_cast<uint64_t>(n), std::memory_order_relaxed);
    }
    if (c.st == conn::state::proxy_reply) {
        // The request is out: drop it from the buffer, the tunnel's bytes wait for the reply.
        c.out.erase(c.out.begin(), c.out.begin() + static_cast<std::ptrdiff_t>(c.out_pos));
        c.out_pos = 0;
        want_write(c, false);
        return;
    }
    c.out.clear();
    c.out_pos = 0;
    if (c.out.capacity() > 4 * chunk_size) {
        c.out.shrink_to_fit();  // a burst's buffer is not kept for the connection's life
    }
    want_write(c, false);
}

void tcp_path::close_conn(conn& c, const std::string& why, std::atomic<uint64_t>* counter) {
    if (!why.empty()) {
        // Inbound ones at debug level: anyone can open and close them.
        const std::string line = "tcp: connection " + std::string(c.outbound ? "to " : "from ") +
                                 ep_str(c.ep.ip, c.ep.port) + " closed: " + why;
        if (c.outbound) {
            log::info(line);
        } else {
            log::debug(line);
        }
    }
    if (c.outbound && c.st == conn::state::open && !c.got_packet) {
        // Opened, then closed before a whole packet came back (a peer at its connection limit,
        // or not a dvpe node): the next packet must not reconnect at once.
        backoff& b = _backoff[c.ep];
        const uint64_t now = now_ms();
        b.delay_ms = b.delay_ms == 0 ? uint64_t{_cfg.backoff_first_ms} : std::min(b.delay_ms * 2, uint64_t{_cfg.backoff_max_ms});
        b.next_ms = now + b.delay_ms;
    }
    if (!c.outbound) {
        --_n_inbound;
    }
    if (counter != nullptr) {
        counter->fetch_add(1, std::memory_order_relaxed);
    }
    _ctr.buffered_bytes.fetch_sub(c.pending(), std::memory_order_relaxed);
    epoll_ctl(_epoll, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
    if (auto it = _by_endpoint.find(c.ep); it != _by_endpoint.end() && it->second == c.fd) {
        _by_endpoint.erase(it);
    }
    const int fd = c.fd;
    _conns.erase(fd);  // c is gone
    _ctr.open_connections.store(_conns.size(), std::memory_order_relaxed);
}

void tcp_path::connect_failed(const endpoint_key& ep, const std::string& why, uint64_t now, bool proxy) {
    _ctr.connect_failed.fetch_add(1, std::memory_order_relaxed);
    backoff& b = _backoff[ep];
    b.delay_ms = b.delay_ms == 0 ? uint64_t{_cfg.backoff_first_ms} : std::min(b.delay_ms * 2, uint64_t{_cfg.backoff_max_ms});
    b.next_ms = now + b.delay_ms;
    if (b.last_log_ms == 0 || now - b.last_log_ms >= log_every_ms) {
        b.last_log_ms = now;
        const std::string msg = "tcp: cannot connect to " + ep_str(ep.ip, ep.port) + ": " + why + "; next try in " +
                                std::to_string(b.delay_ms / 1000) + " s";
        if (proxy) {
            log::error(msg);
        } else {
            log::notice(msg);
        }
    }
}

void tcp_path::timers(uint64_t now) {
    std::vector<int> idle, stalled, slow_connect, silent;
    for (const auto& [fd, c] : _conns) {
        if (!c->outbound && !c->got_packet && now - c->opened_ms >= uint64_t{_cfg.silent_timeout_s} * 1000) {
            silent.push_back(fd);  // connected, but no whole packet: it holds a slot for nothing
        } else if (c->st != conn::state::open) {
            if (now - c->opened_ms >= uint64_t{_cfg.connect_timeout_s} * 1000) {
                slow_connect.push_back(fd);
            }
        } else if (now - std::max(c->last_rx_ms, c->last_tx_ms) >= uint64_t{_cfg.idle_timeout_s} * 1000) {
            // Nothing either way (a peer may send back on a connection of its own: one that
            // only carries our packets is not idle).
            idle.push_back(fd);
        } else if (c->pending() != 0 && now - c->last_tx_ms >= uint64_t{_cfg.stall_timeout_s} * 1000) {
            stalled.push_back(fd);
        }
    }
    for (int fd : idle) {
        close_conn(*_conns.at(fd), "idle for " + std::to_string(_cfg.idle_timeout_s) + " s",
                   &_ctr.closed_idle);
    }
    for (int fd : stalled) {
        close_conn(*_conns.at(fd), "the peer has not read for " + std::to_string(_cfg.stall_timeout_s) + " s",
                   &_ctr.closed_stalled);
    }
    for (int fd : silent) {
        close_conn(*_conns.at(fd), "no packet within " + std::to_string(_cfg.silent_timeout_s) + " s",
                   &_ctr.closed_silent);
    }
    for (int fd : slow_connect) {
        conn& c = *_conns.at(fd);
        const endpoint_key ep = c.ep;
        const bool proxy = c.via_proxy;
        close_conn(c, "", nullptr);
        connect_failed(ep, std::string(proxy ? "no answer from the http proxy" : "no answer") + " within " +
                               std::to_string(_cfg.connect_timeout_s) + " s",
                       now, proxy);
    }
    for (auto it = _backoff.begin(); it != _backoff.end();) {
        it = now >= it->second.next_ms + _cfg.backoff_max_ms ? _backoff.erase(it) : std::next(it);
    }
    publish_list(now);
}

void tcp_path::publish_list(uint64_t now) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [fd, c] : _conns) {
        list.push_back({{"endpoint", ep_str(c->ep.ip, c->ep.port)},
                        {"direction", c->outbound ? "out" : "in"},
                        {"state", c->st == conn::state::open ? "open"
                                  : c->st == conn::state::connecting ? "connecting"
                                                                      : "proxy"},
                        {"via_proxy", c->via_proxy},
                        {"age_s", (now - c->opened_ms) / 1000},
                        {"rx_bytes", c->rx_bytes},
                        {"tx_bytes", c->tx_bytes},
                        {"send_buffer", c->pending()},
                        {"receive_buffer", c->in.buffered()},
                        {"worker", c->worker}});
    }
    std::lock_guard lock(_list_mutex);
    _list = std::move(list);
}

}  // namespace control
