// SPDX-License-Identifier: MIT
// The dns transport on the slow-path thread; see dns_path.hh and docs/dns.md.
#include "control/daemon/dns_path.hh"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <cerrno>
#include <cstring>

#include "control/daemon/slow_path_util.hh"
#include "control/log.hh"
#include "transports/stream.hh"

namespace control {

namespace {

constexpr unsigned queries_per_tick = 32;      // per server: then the next one's turn
constexpr unsigned datagrams_per_read = 64;
constexpr uint64_t client_forget_ms = 120'000;  // a server forgets a client silent this long
constexpr size_t answers_kept = 128;            // per client, for repeated queries (<= 64 KiB)


}  // namespace

struct dns_path::upstream {
    uint16_t server = 0;
    std::string domain;
    size_t max_payload = 0;                       // chunk header + bytes one query carries
    std::deque<std::vector<uint8_t>> chunks;      // waiting to go up
    size_t queued = 0;
    std::map<uint16_t, uint64_t> outstanding;     // query id -> sent at (ms)
    transport::dns::reassembler rx{4};
    uint64_t next_poll_ms = 0;
    uint64_t eager_until_ms = 0;                  // polls every send interval until then
    bool more = false;                            // the last answer said the server has more
    unsigned worker = 0;
};

struct dns_path::downstream {
    uint16_t client = 0;
    std::deque<std::vector<uint8_t>> chunks;      // waiting for the client's queries
    size_t queued = 0;
    transport::dns::reassembler rx{4};
    uint64_t last_ms = 0;
    unsigned worker = 0;
    // The last answers' data by query (nonce and the name, case folded): a resolver that
    // retries (or a path that duplicates) asks the same question again, and must get the same
    // chunk, not the next one -- the client takes only one answer per query, and a second
    // chunk would be lost. At most two repeats each: a spoofed stream of repeats must not make
    // the server a reflector.
    struct kept {
        std::vector<uint8_t> question;  // lower case
        std::vector<uint8_t> data;
        unsigned repeats = 0;
    };
    std::map<uint32_t, kept> answered;
    std::deque<uint32_t> answered_order;
};

dns_path_config dns_config(const config& cfg, std::string& error) {
    const node_conf& self = cfg.self_node();
    dns_path_config c;
    c.self_id = static_cast<uint16_t>(self.id);
    c.server = (self.protocols & proto_dns) != 0 && !self.dns_domain.empty();
    c.domain = self.dns_domain;
    c.listen_port = self.dns_port != 0 ? self.dns_port : 53;
    for (const auto& n : cfg.nodes) {
        if (n.id == self.id || (n.protocols & proto_dns) == 0) {
            continue;
        }
        c.clients.insert(static_cast<uint16_t>(n.id));
        if (!n.dns_domain.empty()) {
            c.servers.emplace(static_cast<uint16_t>(n.id), n.dns_domain);
        }
    }
    const global_conf& g = cfg.global;
    c.forwarder_port = g.dns_forw_port;
    if (!c.servers.empty() && !g.dns_forw_host.empty()) {
        if (auto lit = transport::ip_address::parse(g.dns_forw_host)) {
            c.forwarder = *lit;
        } else {
            addrinfo hints{};
            hints.ai_socktype = SOCK_DGRAM;
            addrinfo* res = nullptr;
            if (int rc = getaddrinfo(g.dns_forw_host.c_str(), nullptr, &hints, &res); rc == 0 && res != nullptr) {
                transport::ip_address a;
                if (res->ai_family == AF_INET) {
                    a = transport::ip_address::from_v4(reinterpret_cast<const sockaddr_in*>(res->ai_addr)->sin_addr.s_addr);
                } else {
                    a = transport::ip_address::from_v6(
                        reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(res->ai_addr)->sin6_addr));
                }
                c.forwarder = a;
                freeaddrinfo(res);
            } else {
                error = "dns-forw-host " + g.dns_forw_host + ": " + gai_strerror(rc);
            }
        }
    }
    // A domain the codec cannot carry a packet under refuses every query: say so at start.
    auto check_domain = [&](const std::string& who, const std::string& d) {
        if (!transport::dns::valid_domain(d)) {
            error = who + ": dns-domain '" + d + "' is not a domain name (labels of 1-63 letters, digits or '-')";
        } else if (transport::dns::max_query_payload(d) < 32) {
            error = who + ": dns-domain '" + d + "' is too long: a query under it carries " +
                    std::to_string(transport::dns::max_query_payload(d)) + " bytes (at least 32 needed; keep it under 150 characters)";
        }
    };
    if (c.server) {
        check_domain("node " + self.name, c.domain);
    }
    for (const auto& n : cfg.nodes) {
        if (n.id != self.id && !n.dns_domain.empty() && (n.protocols & proto_dns) != 0) {
            check_domain("node " + n.name, n.dns_domain);
        }
    }
    c.send_interval_s = std::max(0.001, g.dns_send_interval);
    c.max_outstanding = std::clamp(g.dns_max_outstanding, 1u, 4096u);  // of 65 536 query ids
    c.timeout_s = std::clamp(0.25 * g.dns_timeout_factor, 0.5, 30.0);
    return c;
}

dns_path::dns_path(dns_path_config cfg, rte_mempool* pool, uint16_t port_id,
                   std::function<bool(rte_mbuf*, unsigned)> hand, unsigned n_workers)
    : _cfg(std::move(cfg)), _pool(pool), _port_id(port_id), _hand(std::move(hand)), _n_workers(std::max(1u, n_workers)) {
    _buf.resize(4096);
    // Random starts: a restarted node's first packets must not look like repeats of its last
    // ones to a peer's reassembler (it ignores chunks of the 16 packets it completed last), and
    // query ids a spoofer cannot guess in sequence (answers are only chunks of sealed packets:
    // a forged one costs a packet, it cannot inject one).
    std::random_device rd;
    _rng = (uint64_t{rd()} << 32 | rd()) | 1;
    _next_seq = static_cast<uint16_t>(rd());
    _next_nonce = rd();
    if (_cfg.server) {
        _down_chunk = transport::dns::min_answer_payload(_cfg.domain) - 1;  // the flag byte in front
    }
    unsigned w = 0;
    for (const auto& [id, domain] : _cfg.servers) {
        auto u = std::make_unique<upstream>();
        u->server = id;
        u->domain = domain;
        u->max_payload = transport::dns::max_query_payload(domain);
        u->worker = w++ % _n_workers;
        _up.emplace(id, std::move(u));
    }
}

dns_path::~dns_path() {
    for (int fd : {_server_fd, _client_fd}) {
        if (fd >= 0) {
            close(fd);
        }
    }
}

std::string dns_path::open(int epoll) {
    if (_cfg.server) {
        std::string error;
        const int fd = slow_path::bind_any(SOCK_DGRAM, _cfg.listen_port, "dns-port", error);
        if (fd < 0) {
            return "dns: " + error;
        }
        _server_fd = fd;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev);
    }
    if (_cfg.forwarder && !_up.empty()) {
        const int fd = socket(_cfg.forwarder->v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            return std::string("dns: socket: ") + std::strerror(errno);
        }
        sockaddr_storage ss{};
        const socklen_t len = slow_path::to_sockaddr(*_cfg.forwarder, _cfg.forwarder_port, ss);
        // connect(): only the resolver's answers reach this socket
        if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
            const std::string e = std::strerror(errno);
            close(fd);
            return "dns: cannot reach dns-forw-host " + _cfg.forwarder->str() + ": " + e;
        }
        _client_fd = fd;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev);
    }
    return {};
}

void dns_path::to_worker(uint16_t peer, std::span<const uint8_t> pkt, unsigned worker) {
    rte_mbuf* m = slow_path::ring_mbuf(_pool, transport::kind::dns4, transport::ip_address{}, peer, pkt, _port_id);
    if (m == nullptr || !_hand(m, worker)) {
        if (m != nullptr) {
            rte_pktmbuf_free(m);
        }
        _ctr.rx_dropped_no_buffer.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    _ctr.rx_packets.fetch_add(1, std::memory_order_relaxed);
}

// One packet's chunks onto a queue, or none of them (a packet with a chunk missing is lost anyway).
void dns_path::enqueue(std::deque<std::vector<uint8_t>>& q, size_t& queued, std::vector<std::vector<uint8_t>> chunks) {
    size_t bytes = 0;
    for (const auto& c : chunks) {
        bytes += c.size();
    }
    if (chunks.empty() || queued + bytes > _cfg.queue_bytes) {
        _ctr.tx_dropped_queue_full.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    for (auto& c : chunks) {
        q.push_back(std::move(c));
    }
    queued += bytes;
    _ctr.tx_packets.fetch_add(1, std::memory_order_relaxed);
}

void dns_path::deliver(rte_mbuf* m) {
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    const auto meta = transport::read_stream_meta(p, rte_pktmbuf_data_len(m));
    if (!meta) {
        rte_pktmbuf_free(m);
        _ctr.tx_dropped_no_peer.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    const std::span<const uint8_t> pkt(p + transport::stream_meta_size, meta->len);
    const uint16_t peer = meta->port;
    const uint16_t seq = _next_seq++;
    // Client role where we can (the peer serves a domain and we have a resolver), else server
    // role (it is a client of ours): the chunks wait for its queries.
    if (auto u = _up.find(peer); u != _up.end() && _client_fd >= 0) {
        enqueue(u->second->chunks, u->second->queued, transport::dns::split(seq, pkt, u->second->max_payload));
    } else if (auto d = _down.find(peer); d != _down.end() && _server_fd >= 0) {
        // Downstream chunks sized so that an answer to any query we accept carries one (a
        // chunk sized for a poll's answer would wait while only full queries come).
        enqueue(d->second->chunks, d->second->queued, transport::dns::split(seq, pkt, _down_chunk));
    } else {
        _ctr.tx_dropped_no_peer.fetch_add(1, std::memory_order_relaxed);  // a client we have not heard from
    }
    rte_pktmbuf_free(m);
}

bool dns_path::tick(uint64_t now_ms) {
    if (_client_fd < 0) {
        return false;
    }
    bool sent_any = false;
    const auto timeout_ms = static_cast<uint64_t>(_cfg.timeout_s * 1000);
    const auto poll_ms = static_cast<uint64_t>(_cfg.send_interval_s * 10 * 1000);  // idle
    const auto send_ms = std::max<uint64_t>(1, static_cast<uint64_t>(_cfg.send_interval_s * 1000));
    for (auto& [id, u] : _up) {
        for (auto it = u->outstanding.begin(); it != u->outstanding.end();) {
            if (now_ms - it->second >= timeout_ms) {
                _ctr.queries_timed_out.fetch_add(1, std::memory_order_relaxed);
                it = u->outstanding.erase(it);
            } else {
                ++it;
            }
        }
        for (unsigned n = 0; n < queries_per_tick && u->outstanding.size() < _cfg.max_outstanding; ++n) {
            std::vector<uint8_t> data;
            if (!u->chunks.empty()) {
                data = std::move(u->chunks.front());
                u->chunks.pop_front();
                u->queued -= data.size();
                // What goes up is often answered (a ping, a TCP ack): poll at the send
                // interval for a second, not at the idle rate.
                u->eager_until_ms = now_ms + 1000;
            } else if (u->more || now_ms >= u->next_poll_ms) {
                u->more = false;  // a poll: the server answers with what it has for us
                u->next_poll_ms = now_ms + (now_ms < u->eager_until_ms ? send_ms : poll_ms);
            } else {
                break;
            }
            uint16_t qid = next_query_id();
            for (int tries = 0; tries < 8 && u->outstanding.count(qid) != 0; ++tries) {
                qid = next_query_id();
            }
            if (u->outstanding.count(qid) != 0) {
                break;  // (max_outstanding is at most 4096 of 65536 ids: not reached in practice)
            }
            const auto msg = transport::dns::build_query(qid, u->domain, _cfg.self_id, _next_nonce++, data);
            if (msg.empty() || send(_client_fd, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
                // The socket buffer is full or the resolver refused (ECONNREFUSED: nothing at
                // dns-forw-host): the chunk goes back to the front, tried next tick.
                _ctr.send_errors.fetch_add(1, std::memory_order_relaxed);
                if (!data.empty()) {
                    u->queued += data.size();
                    u->chunks.push_front(std::move(data));
                }
                break;
            }
            u->outstanding.emplace(qid, now_ms);
            _ctr.queries_sent.fetch_add(1, std::memory_order_relaxed);
            sent_any = true;
        }
    }
    return sent_any;
}

void dns_path::on_readable(int fd, uint64_t now_ms) {
    if (fd == _client_fd) {
        client_receive(now_ms);
    } else if (fd == _server_fd) {
        server_receive(now_ms);
    }
}

void dns_path::client_receive(uint64_t now_ms) {
    for (unsigned i = 0; i < datagrams_per_read; ++i) {
        const ssize_t n = recv(_client_fd, _buf.data(), _buf.size(), MSG_DONTWAIT);
        if (n <= 0) {
            return;
        }
        const auto a = transport::dns::parse_answer(std::span<const uint8_t>(_buf.data(), static_cast<size_t>(n)));
        if (!a) {
            continue;
        }
        upstream* u = nullptr;
        for (auto& [id, up] : _up) {
            if (auto it = up->outstanding.find(a->id); it != up->outstanding.end()) {
                up->outstanding.erase(it);
                u = up.get();
                break;
            }
        }
        if (u == nullptr) {
            continue;  // late (timed out) or not ours
        }
        _ctr.answers_received.fetch_add(1, std::memory_order_relaxed);
        if (a->data.empty()) {
            continue;
        }
        u->more = (a->data[0] & 1) != 0;
        if (a->data.size() > 1) {
            auto pkt = u->rx.add(std::span<const uint8_t>(a->data.data() + 1, a->data.size() - 1), now_ms);
            if (pkt) {
                to_worker(u->server, *pkt, u->worker);
            }
        }
    }
}

void dns_path::server_receive(uint64_t now_ms) {
    for (unsigned i = 0; i < datagrams_per_read; ++i) {
        sockaddr_storage from{};
        socklen_t from_len = sizeof(from);
        const ssize_t n = recvfrom(_server_fd, _buf.data(), _buf.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from),
                                   &from_len);
        if (n <= 0) {
            return;
        }
        const auto q = transport::dns::parse_query(std::span<const uint8_t>(_buf.data(), static_cast<size_t>(n)), _cfg.domain);
        if (!q || _cfg.clients.count(q->client) == 0) {
            _ctr.queries_refused.fetch_add(1, std::memory_order_relaxed);
            continue;  // not for our domain, malformed, or not a node that may use it
        }
        _ctr.queries_received.fetch_add(1, std::memory_order_relaxed);
        auto it = _down.find(q->client);
        if (it == _down.end()) {
            if (_down.size() >= _cfg.max_clients) {
                // The client silent longest makes room (only configured ids get here).
                auto oldest = std::min_element(_down.begin(), _down.end(),
                                               [](const auto& a, const auto& b) { return a.second->last_ms < b.second->last_ms; });
                _down.erase(oldest);
            }
            auto d = std::make_unique<downstream>();
            d->client = q->client;
            d->worker = static_cast<unsigned>(q->client % _n_workers);
            it = _down.emplace(q->client, std::move(d)).first;
        }
        downstream& d = *it->second;
        d.last_ms = now_ms;
        std::vector<uint8_t> folded = q->question;
        for (auto& ch : folded) {
            ch = static_cast<uint8_t>(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
        }
        if (auto again = d.answered.find(q->nonce); again != d.answered.end()) {
            // A repeated query: the same data, answered to this query (its id, its case);
            // nothing taken twice. Another name with a used nonce is a forgery: no answer.
            downstream::kept& k = again->second;
            if (k.question == folded && k.repeats < 2) {
                ++k.repeats;
                const auto msg = transport::dns::build_answer(*q, k.data);
                if (!msg.empty()) {
                    sendto(_server_fd, msg.data(), msg.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), from_len);
                }
            }
            _ctr.repeated_queries.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        if (!q->data.empty()) {
            if (auto pkt = d.rx.add(q->data, now_ms)) {
                to_worker(d.client, *pkt, d.worker);
            }
        }
        // The answer: a flag byte (bit 0: more is waiting: ask again) and the next chunk if it fits.
        std::vector<uint8_t> data{0};
        const size_t room = transport::dns::max_answer_payload(*q);
        if (!d.chunks.empty() && d.chunks.front().size() + 1 <= room) {
            data.insert(data.end(), d.chunks.front().begin(), d.chunks.front().end());
            d.queued -= d.chunks.front().size();
            d.chunks.pop_front();
        }
        data[0] = d.chunks.empty() ? 0 : 1;
        const auto msg = transport::dns::build_answer(*q, data);
        if (!msg.empty() &&
            sendto(_server_fd, msg.data(), msg.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), from_len) >= 0) {
            _ctr.answers_sent.fetch_add(1, std::memory_order_relaxed);
        }
        if (!msg.empty()) {
            d.answered[q->nonce] = {std::move(folded), data, 0};
            d.answered_order.push_back(q->nonce);
            if (d.answered_order.size() > answers_kept) {
                d.answered.erase(d.answered_order.front());
                d.answered_order.pop_front();
            }
        }
    }
    // Forget clients silent for two minutes (their queues with them).
    for (auto it = _down.begin(); it != _down.end();) {
        it = now_ms - it->second->last_ms >= client_forget_ms ? _down.erase(it) : std::next(it);
    }
}

nlohmann::json dns_path::status() const {
    nlohmann::json j;
    j["server"] = _server_fd >= 0 ? nlohmann::json({{"domain", _cfg.domain}, {"port", _cfg.listen_port}})
                                  : nlohmann::json(nullptr);
    j["forwarder"] = _cfg.forwarder ? nlohmann::json(_cfg.forwarder->str() + ":" + std::to_string(_cfg.forwarder_port))
                                    : nlohmann::json(nullptr);
    j["queries_sent"] = _ctr.queries_sent.load();
    j["answers_received"] = _ctr.answers_received.load();
    j["queries_timed_out"] = _ctr.queries_timed_out.load();
    j["queries_received"] = _ctr.queries_received.load();
    j["answers_sent"] = _ctr.answers_sent.load();
    j["queries_refused"] = _ctr.queries_refused.load();
    j["repeated_queries"] = _ctr.repeated_queries.load();
    j["send_errors"] = _ctr.send_errors.load();
    j["tx_packets"] = _ctr.tx_packets.load();
    j["rx_packets"] = _ctr.rx_packets.load();
    j["dropped"] = {{"queue_full", _ctr.tx_dropped_queue_full.load()},
                    {"no_peer", _ctr.tx_dropped_no_peer.load()},
                    {"no_buffer", _ctr.rx_dropped_no_buffer.load()}};
    return j;
}

}  // namespace control
