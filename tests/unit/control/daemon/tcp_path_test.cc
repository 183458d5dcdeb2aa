// SPDX-License-Identifier: MIT
// control/daemon/tcp_path.hh: a real slow-path thread over real loopback sockets (EAL --no-huge,
// the stream port's two rings created here, the test playing the worker), for the bounds of
// docs/tcp.md that the integration tests do not reach: the idle timeout (either direction keeps
// a connection), the connect back-off (1 s doubling to 60 s, per endpoint), the pause of
// accepting on EMFILE, and the http-proxy-host lookup interval (getaddrinfo is interposed below
// for one made-up name, so no DNS is needed and the lookups can be counted).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "control/daemon/tcp_path.hh"
#include "tests/unit/eal_env.hh"
#include "transports/stream.hh"

namespace {

constexpr const char* fake_proxy_name = "proxy.tcp-path-test.invalid";
std::atomic<int> g_proxy_lookups{0};
std::atomic<bool> g_proxy_lookup_fails{false};

}  // namespace

// The slow path's getaddrinfo() (it is linked in statically, so this definition is the one it
// calls): fake_proxy_name is counted and resolves to 127.0.0.1 (or fails); every other name goes
// to the C library.
extern "C" int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res) {
    using fn = int (*)(const char*, const char*, const addrinfo*, addrinfo**);
    static const fn real = reinterpret_cast<fn>(dlsym(RTLD_NEXT, "getaddrinfo"));
    if (node != nullptr && std::strcmp(node, fake_proxy_name) == 0) {
        g_proxy_lookups.fetch_add(1);
        if (g_proxy_lookup_fails.load()) {
            return EAI_NONAME;
        }
        addrinfo h{};
        h.ai_family = AF_INET;
        h.ai_socktype = SOCK_STREAM;
        h.ai_flags = AI_NUMERICHOST;
        return real("127.0.0.1", service, &h, res);
    }
    return real(node, service, hints, res);
}

namespace {

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;
using unit_eal::g_pool;
constexpr unsigned pool_size = 2047;
const auto* g_env = ::testing::AddGlobalTestEnvironment(new unit_eal::env("tcp_path_test", pool_size));

long ms_since(clk::time_point t) {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(clk::now() - t).count());
}

/// Polls `f` every 2 ms until it holds or `limit` has passed; returns its last value.
template <class F>
bool wait_until(F f, std::chrono::milliseconds limit) {
    const auto deadline = clk::now() + limit;
    while (!f()) {
        if (clk::now() >= deadline) {
            return f();
        }
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

transport::ip_address v4(const char* s) { return *transport::ip_address::parse(s); }
const transport::ip_address loopback = v4("127.0.0.1");

sockaddr_in sa(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

uint16_t local_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof(a);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

/// A TCP socket bound to 127.0.0.1 on a port of the kernel's choice; listening if asked (then
/// non-blocking), else it just holds the port: a connect to it is refused.
int bound_socket(bool listening) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (listening ? SOCK_NONBLOCK : 0), 0);
    EXPECT_GE(fd, 0);
    const sockaddr_in a = sa(0);
    EXPECT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)), 0);
    if (listening) {
        EXPECT_EQ(listen(fd, 64), 0);
    }
    return fd;
}

/// A connection to 127.0.0.1:port, connected (blocking connect), then non-blocking.
int connect_to(uint16_t port) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    const sockaddr_in a = sa(port);
    EXPECT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)), 0) << std::strerror(errno);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/// One framed packet (2-byte length + `len` bytes) onto the stream.
void send_framed(int fd, uint8_t tag, uint16_t len = 32) {
    std::vector<uint8_t> b(2 + len, tag);
    b[0] = static_cast<uint8_t>(len >> 8);
    b[1] = static_cast<uint8_t>(len);
    ASSERT_EQ(send(fd, b.data(), b.size(), MSG_NOSIGNAL), static_cast<ssize_t>(b.size())) << std::strerror(errno);
}

/// Whether the other end has closed `fd` (EOF or reset); reads and discards what came before.
bool closed_by_other_end(int fd) {
    uint8_t buf[4096];
    for (;;) {
        const ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0) {
            return true;
        }
        if (n < 0) {
            return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
        }
    }
}

/// Whether `fd` is at its end (the other end closed it), without taking any bytes.
bool at_eof(int fd) {
    uint8_t b;
    const ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/// Reads whole framed packets from `fd` (non-blocking) into `partial`; returns how many completed.
unsigned read_framed(int fd, std::vector<uint8_t>& partial) {
    uint8_t buf[4096];
    for (;;) {
        const ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0) {
            break;
        }
        partial.insert(partial.end(), buf, buf + n);
    }
    unsigned got = 0;
    while (partial.size() >= 2) {
        const size_t len = static_cast<size_t>(partial[0] << 8 | partial[1]);
        if (partial.size() < 2 + len) {
            break;
        }
        partial.erase(partial.begin(), partial.begin() + static_cast<std::ptrdiff_t>(2 + len));
        ++got;
    }
    return got;
}

/// Accepts what is waiting on the non-blocking listener `fd`; the new connections go to `into`.
void accept_waiting(int fd, std::vector<int>& into) {
    for (int c; (c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
        into.push_back(c);
    }
}

class tcp_path_test : public ::testing::Test {
protected:
    void SetUp() override {
        static unsigned n = 0;
        const std::string name = "tcpt" + std::to_string(n++);
        to_worker = rte_ring_create((name + "_rx").c_str(), 1024, static_cast<int>(rte_socket_id()),
                                    RING_F_SP_ENQ | RING_F_SC_DEQ);
        from_worker = rte_ring_create((name + "_tx").c_str(), 1024, static_cast<int>(rte_socket_id()),
                                      RING_F_SP_ENQ | RING_F_SC_DEQ);
        ASSERT_NE(to_worker, nullptr);
        ASSERT_NE(from_worker, nullptr);
    }

    void TearDown() override {
        if (path) {
            path->stop();
            path.reset();
        }
        for (int fd : fds) {
            close(fd);
        }
        for (rte_ring* r : {to_worker, from_worker}) {
            void* m = nullptr;
            while (r != nullptr && rte_ring_dequeue(r, &m) == 0) {
                rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
            }
            rte_ring_free(r);
        }
        EXPECT_EQ(rte_mempool_avail_count(g_pool), pool_size);  // every mbuf freed once
    }

    /// Settings with every timer but the ones under test out of the way.
    static control::tcp_path_config quiet_config() {
        control::tcp_path_config c;
        c.listen = false;
        c.idle_timeout_s = 600;
        c.stall_timeout_s = 600;
        c.connect_timeout_s = 600;
        c.silent_timeout_s = 600;
        return c;
    }

    /// Starts the slow path; with cfg.listen on a free port (listen_port is set to it).
    void start(control::tcp_path_config& cfg) {
        for (int attempt = 0; attempt < 5; ++attempt) {
            if (cfg.listen) {
                const int probe = bound_socket(false);
                cfg.listen_port = local_port(probe);
                close(probe);
            }
            path = std::make_unique<control::tcp_path>(cfg, std::vector<rte_ring*>{to_worker},
                                                       std::vector<rte_ring*>{from_worker}, g_pool, 0);
            const std::string e = path->start();
            if (e.empty()) {
                return;
            }
            path.reset();
            ASSERT_TRUE(cfg.listen) << e;  // only the port can be taken meanwhile
        }
        FAIL() << "no free port to listen on";
    }

    /// What a worker sends: a packet of `len` bytes to ip:port behind a ring header.
    void from_a_worker(const transport::ip_address& ip, uint16_t port, bool may_connect, uint16_t len = 32) {
        rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
        ASSERT_NE(m, nullptr);
        auto* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, transport::stream_meta_size + len));
        ASSERT_NE(d, nullptr);
        transport::write_stream_meta(d, transport::kind::tcp4, may_connect ? transport::stream_flag_connect : 0, ip,
                                     port, len);
        std::memset(d + transport::stream_meta_size, 0x5a, len);
        ASSERT_EQ(rte_ring_sp_enqueue(from_worker, m), 0);
    }

    /// Packets the slow path handed to the worker since the last call (freed here).
    unsigned to_the_worker() {
        unsigned n = 0;
        void* m = nullptr;
        while (rte_ring_sc_dequeue(to_worker, &m) == 0) {
            rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
            ++n;
        }
        return n;
    }

    int keep(int fd) {
        fds.push_back(fd);
        return fd;
    }

    const control::tcp_path_counters& ctr() const { return path->counters(); }

    rte_ring* to_worker = nullptr;
    rte_ring* from_worker = nullptr;
    std::unique_ptr<control::tcp_path> path;
    std::vector<int> fds;
};

// ---- idle timeout ----

TEST_F(tcp_path_test, closes_inbound_and_outbound_connections_that_carry_nothing_for_idle_timeout) {
    auto cfg = quiet_config();
    cfg.listen = true;
    cfg.idle_timeout_s = 1;
    ASSERT_NO_FATAL_FAILURE(start(cfg));

    // Inbound: one packet in, then nothing either way.
    const int in = keep(connect_to(cfg.listen_port));
    const auto in_last = clk::now();  // before the slow path's last activity on it
    ASSERT_NO_FATAL_FAILURE(send_framed(in, 1));
    unsigned got = 0;
    ASSERT_TRUE(wait_until([&] { return (got += to_the_worker()) == 1; }, 3s));

    // Outbound: the slow path connects to our listener and sends one packet, nothing comes back.
    const int listener = keep(bound_socket(true));
    const uint16_t lport = local_port(listener);
    const auto out_last = clk::now();
    ASSERT_NO_FATAL_FAILURE(from_a_worker(loopback, lport, true));
    std::vector<int> accepted;
    ASSERT_TRUE(wait_until([&] { accept_waiting(listener, accepted); return !accepted.empty(); }, 3s));
    const int out = keep(accepted[0]);
    std::vector<uint8_t> partial;
    ASSERT_TRUE(wait_until([&] { return read_framed(out, partial) == 1; }, 3s));
    EXPECT_EQ(ctr().connected.load(), 1u);

    // Both are closed once idle for a second (the timers run once a second: by two at most).
    long in_closed = -1, out_closed = -1;
    ASSERT_TRUE(wait_until(
        [&] {
            if (in_closed < 0 && closed_by_other_end(in)) {
                in_closed = ms_since(in_last);
            }
            if (out_closed < 0 && closed_by_other_end(out)) {
                out_closed = ms_since(out_last);
            }
            return in_closed >= 0 && out_closed >= 0;
        },
        4s))
        << "idle connections not closed: closed_idle " << ctr().closed_idle.load();
    EXPECT_GE(in_closed, 990);
    EXPECT_GE(out_closed, 990);
    EXPECT_EQ(ctr().closed_idle.load(), 2u);
    EXPECT_EQ(ctr().closed_by_peer.load(), 0u);
    EXPECT_EQ(ctr().closed_stalled.load(), 0u);
    EXPECT_EQ(ctr().open_connections.load(), 0u);
}

TEST_F(tcp_path_test, a_connection_carrying_packets_either_way_is_not_idle) {
    auto cfg = quiet_config();
    cfg.listen = true;
    cfg.idle_timeout_s = 1;
    ASSERT_NO_FATAL_FAILURE(start(cfg));

    // `rx` only sends to the node, `tx` only receives from it (after one packet that makes the
    // slow path know it).
    const int rx = keep(connect_to(cfg.listen_port));
    const int tx = keep(connect_to(cfg.listen_port));
    ASSERT_NO_FATAL_FAILURE(send_framed(rx, 1));
    ASSERT_NO_FATAL_FAILURE(send_framed(tx, 2));
    unsigned got = 0;
    ASSERT_TRUE(wait_until([&] { return (got += to_the_worker()) == 2; }, 3s));
    const uint16_t tx_port = local_port(tx);

    // Three idle timeouts long, a packet each way every 200 ms.
    std::vector<uint8_t> partial;
    unsigned sent = 0, received = 0;
    const auto begin = clk::now();
    while (ms_since(begin) < 3000) {
        ASSERT_NO_FATAL_FAILURE(send_framed(rx, 3));
        ASSERT_NO_FATAL_FAILURE(from_a_worker(loopback, tx_port, false));
        ++sent;
        const auto next = clk::now() + 200ms;
        while (clk::now() < next) {
            got += to_the_worker();
            received += read_framed(tx, partial);
            std::this_thread::sleep_for(5ms);
        }
        ASSERT_FALSE(at_eof(rx)) << "closed after " << ms_since(begin) << " ms";
        ASSERT_FALSE(at_eof(tx)) << "closed after " << ms_since(begin) << " ms";
    }
    EXPECT_EQ(ctr().closed_idle.load(), 0u);
    EXPECT_TRUE(wait_until([&] { return (received += read_framed(tx, partial)) == sent; }, 500ms)) << received;
    EXPECT_TRUE(wait_until([&] { return (got += to_the_worker()) == 2 + sent; }, 500ms)) << got;

    // Then quiet: both go.
    const auto quiet = clk::now();
    ASSERT_TRUE(wait_until([&] { return closed_by_other_end(rx) && closed_by_other_end(tx); }, 4s));
    EXPECT_GE(ms_since(quiet), 700);  // the last packets went up to 200 ms before `quiet`
    EXPECT_EQ(ctr().closed_idle.load(), 2u);
}

// ---- connect back-off ----

TEST_F(tcp_path_test, a_failed_connect_backs_off_doubling_to_the_maximum) {
    auto cfg = quiet_config();
    cfg.backoff_first_ms = 200;  // as 1 s doubling to 60 s, in less time
    cfg.backoff_max_ms = 800;
    ASSERT_NO_FATAL_FAILURE(start(cfg));
    const int closed = keep(bound_socket(false));  // bound, not listening: connects are refused
    const uint16_t port = local_port(closed);

    // A packet every 5 ms; note when a connect is tried (connect_failed goes up).
    std::vector<long> at;
    const auto t0 = clk::now();
    uint64_t seen = 0;
    while (at.size() < 7 && ms_since(t0) < 10'000) {
        ASSERT_NO_FATAL_FAILURE(from_a_worker(loopback, port, true));
        std::this_thread::sleep_for(5ms);
        if (const uint64_t f = ctr().connect_failed.load(); f != seen) {
            EXPECT_EQ(f, seen + 1) << "two connects within 5 ms";
            seen = f;
            at.push_back(ms_since(t0));
        }
    }
    ASSERT_EQ(at.size(), 7u) << "connects tried: " << seen;
    const long expected[] = {200, 400, 800, 800, 800, 800};
    for (size_t i = 0; i + 1 < at.size(); ++i) {
        const long gap = at[i + 1] - at[i];
        EXPECT_GE(gap, expected[i] - 50) << "connect " << i + 2 << " tried too early";
        EXPECT_LE(gap, expected[i] + 400) << "connect " << i + 2 << " tried too late";
    }
    EXPECT_GT(ctr().tx_dropped_no_connection.load(), 100u);  // the packets meanwhile
    EXPECT_EQ(ctr().connected.load(), 0u);

    // The back-off is the endpoint's: another one is tried at once meanwhile.
    const int closed2 = keep(bound_socket(false));
    const auto t2 = clk::now();
    ASSERT_NO_FATAL_FAILURE(from_a_worker(loopback, local_port(closed2), true));
    ASSERT_TRUE(wait_until([&] { return ctr().connect_failed.load() == seen + 1; }, 2s));
    EXPECT_LT(ms_since(t2), 400);
}

TEST_F(tcp_path_test, the_default_back_off_is_one_second_then_two) {
    auto cfg = quiet_config();
    EXPECT_EQ(cfg.backoff_first_ms, 1000u);
    EXPECT_EQ(cfg.backoff_max_ms, 60'000u);
    ASSERT_NO_FATAL_FAILURE(start(cfg));
    const int closed = keep(bound_socket(false));
    const uint16_t port = local_port(closed);
    std::vector<long> at;
    const auto t0 = clk::now();
    uint64_t seen = 0;
    while (at.size() < 3 && ms_since(t0) < 6000) {
        ASSERT_NO_FATAL_FAILURE(from_a_worker(loopback, port, true));
        std::this_thread::sleep_for(5ms);
        if (const uint64_t f = ctr().connect_failed.load(); f != seen) {
            seen = f;
            at.push_back(ms_since(t0));
        }
    }
    ASSERT_EQ(at.size(), 3u);
    EXPECT_GE(at[1] - at[0], 950);
    EXPECT_LE(at[1] - at[0], 1400);
    EXPECT_GE(at[2] - at[1], 1950);
    EXPECT_LE(at[2] - at[1], 2400);
}

// ---- out of file descriptors ----

/// Lowers RLIMIT_NOFILE and takes every descriptor left; gives them back (and the limit) when
/// release()d or destroyed.
class fd_exhaustion {
public:
    fd_exhaustion() {
        getrlimit(RLIMIT_NOFILE, &_old);
        const int base = open("/dev/null", O_RDONLY | O_CLOEXEC);  // the lowest free descriptor
        if (base < 0) {
            return;
        }
        _held.push_back(base);
        rlimit low = _old;
        low.rlim_cur = static_cast<rlim_t>(base) + 8;
        setrlimit(RLIMIT_NOFILE, &low);
        for (int fd; _held.size() < 4096 && (fd = dup(base)) >= 0;) {
            _held.push_back(fd);
        }
        _errno = errno;
    }
    ~fd_exhaustion() { release(); }
    void release() {
        for (int fd : _held) {
            close(fd);
        }
        _held.clear();
        setrlimit(RLIMIT_NOFILE, &_old);
    }
    [[nodiscard]] bool exhausted() const { return _errno == EMFILE; }

private:
    rlimit _old{};
    std::vector<int> _held;
    int _errno = 0;
};

/// stderr (the log) into a temporary file while it lives.
class stderr_capture {
public:
    stderr_capture() {
        std::fflush(stderr);
        _file = std::tmpfile();
        _saved = dup(2);
        dup2(fileno(_file), 2);
    }
    ~stderr_capture() {
        std::fflush(stderr);
        dup2(_saved, 2);
        close(_saved);
        std::fclose(_file);
    }
    /// How often `what` has been logged so far (reads the file without opening anything).
    unsigned count(const std::string& what) const {
        std::string all;
        char buf[4096];
        for (off_t off = 0;;) {
            const ssize_t n = pread(fileno(_file), buf, sizeof(buf), off);
            if (n <= 0) {
                break;
            }
            all.append(buf, static_cast<size_t>(n));
            off += n;
        }
        unsigned k = 0;
        for (size_t p = all.find(what); p != std::string::npos; p = all.find(what, p + 1)) {
            ++k;
        }
        return k;
    }

private:
    std::FILE* _file = nullptr;
    int _saved = -1;
};

TEST_F(tcp_path_test, out_of_file_descriptors_pauses_accepting_for_a_second_then_accepts_again) {
    auto cfg = quiet_config();
    cfg.listen = true;
    ASSERT_NO_FATAL_FAILURE(start(cfg));
    const std::string warning = "out of file descriptors";
    stderr_capture log;
    const int client = keep(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_GE(client, 0);

    std::vector<long> warned;  // when the warning was logged (ms from the connect)
    clk::time_point t0;
    {
        fd_exhaustion no_fds;
        ASSERT_TRUE(no_fds.exhausted());
        // The kernel completes the connection into the listener's backlog; accept() fails.
        const sockaddr_in a = sa(cfg.listen_port);
        ASSERT_EQ(connect(client, reinterpret_cast<const sockaddr*>(&a), sizeof(a)), 0) << std::strerror(errno);
        t0 = clk::now();
        // Level-triggered, the listener stays readable: without the pause the warning would
        // come again and again. It comes once, and again a second later (the retry, still
        // without descriptors).
        ASSERT_TRUE(wait_until([&] { return log.count(warning) >= 1; }, 3s));
        warned.push_back(ms_since(t0));
        ASSERT_TRUE(wait_until([&] { return log.count(warning) >= 2; }, 3s));
        warned.push_back(ms_since(t0));
        EXPECT_EQ(log.count(warning), 2u);
        no_fds.release();
    }
    EXPECT_GE(warned[1] - warned[0], 950) << "accept() tried again within the pause";
    EXPECT_LE(warned[1] - warned[0], 1600) << "accept() not tried again after the pause";
    EXPECT_EQ(ctr().accepted.load(), 0u);

    // With descriptors again, the connection waiting in the backlog is taken after the pause,
    // and works.
    const auto freed = clk::now();
    ASSERT_TRUE(wait_until([&] { return ctr().accepted.load() == 1; }, 3s));
    EXPECT_LE(ms_since(freed), 1600);
    ASSERT_NO_FATAL_FAILURE(send_framed(client, 7));
    unsigned got = 0;
    ASSERT_TRUE(wait_until([&] { return (got += to_the_worker()) == 1; }, 3s));
    EXPECT_EQ(log.count(warning), 2u);
    EXPECT_EQ(ctr().refused.load(), 0u);
}

// ---- the http proxy's host name ----

TEST_F(tcp_path_test, the_proxy_host_name_is_looked_up_once_per_interval) {
    const int proxy = keep(bound_socket(true));  // a proxy that never answers: only its connections count
    auto cfg = quiet_config();
    cfg.proxy_host = fake_proxy_name;
    cfg.proxy_port = local_port(proxy);
    cfg.proxy_lookup_interval_s = 2;  // as once a minute, in less time
    g_proxy_lookups = 0;
    g_proxy_lookup_fails = false;
    ASSERT_NO_FATAL_FAILURE(start(cfg));

    // Five endpoints within the interval: one lookup, five connections to the proxy.
    std::vector<int> at_proxy;
    ASSERT_NO_FATAL_FAILURE(from_a_worker(v4("10.99.0.1"), 655, true));
    ASSERT_TRUE(wait_until([&] { return g_proxy_lookups.load() == 1; }, 2s));
    const auto looked_up = clk::now();
    for (int i = 2; i <= 5; ++i) {
        ASSERT_NO_FATAL_FAILURE(from_a_worker(v4(("10.99.0." + std::to_string(i)).c_str()), 655, true));
        ASSERT_TRUE(wait_until([&] { accept_waiting(proxy, at_proxy); return at_proxy.size() == static_cast<size_t>(i); }, 2s));
    }
    ASSERT_LT(ms_since(looked_up), 1800) << "too slow for the test's interval";
    EXPECT_EQ(g_proxy_lookups.load(), 1);

    // After the interval, the next connection looks it up again.
    std::this_thread::sleep_until(looked_up + 2100ms);
    ASSERT_NO_FATAL_FAILURE(from_a_worker(v4("10.99.0.6"), 655, true));
    ASSERT_TRUE(wait_until([&] { accept_waiting(proxy, at_proxy); return at_proxy.size() == 6; }, 2s));
    EXPECT_EQ(g_proxy_lookups.load(), 2);
    for (int fd : at_proxy) {
        keep(fd);  // closed after the slow path stops
    }
}

TEST_F(tcp_path_test, a_failed_proxy_host_lookup_is_not_repeated_within_the_interval) {
    // getaddrinfo() blocks the thread (up to the resolver's timeouts when DNS is down): a name
    // that does not resolve must not be looked up again for every endpoint and back-off retry.
    const int proxy = keep(bound_socket(true));
    auto cfg = quiet_config();
    cfg.proxy_host = fake_proxy_name;
    cfg.proxy_port = local_port(proxy);
    cfg.proxy_lookup_interval_s = 60;
    cfg.proxy_failure_hold_ms = 2000;  // a failure is held this long, not the whole interval
    cfg.backoff_first_ms = 100;
    g_proxy_lookups = 0;
    g_proxy_lookup_fails = true;
    ASSERT_NO_FATAL_FAILURE(start(cfg));

    ASSERT_NO_FATAL_FAILURE(from_a_worker(v4("10.99.1.1"), 655, true));
    ASSERT_TRUE(wait_until([&] { return g_proxy_lookups.load() == 1; }, 2s));
    ASSERT_TRUE(wait_until([&] { return ctr().connect_failed.load() == 1; }, 1s));
    const auto looked_up = clk::now();
    // Other endpoints, and the first one again after its back-off: all fail, none looks up.
    for (int i = 2; i <= 5; ++i) {
        ASSERT_NO_FATAL_FAILURE(from_a_worker(v4(("10.99.1." + std::to_string(i)).c_str()), 655, true));
        ASSERT_TRUE(wait_until([&] { return ctr().connect_failed.load() == static_cast<uint64_t>(i); }, 1s));
    }
    std::this_thread::sleep_until(looked_up + 300ms);
    ASSERT_NO_FATAL_FAILURE(from_a_worker(v4("10.99.1.1"), 655, true));
    ASSERT_TRUE(wait_until([&] { return ctr().connect_failed.load() == 6; }, 1s));
    ASSERT_LT(ms_since(looked_up), 1800) << "too slow for the test's interval";
    EXPECT_EQ(g_proxy_lookups.load(), 1);
    EXPECT_EQ(ctr().connected.load(), 0u);

    // After the hold (not the minute) it is looked up again, resolves, and the connection goes
    // to the proxy.
    g_proxy_lookup_fails = false;
    std::this_thread::sleep_until(looked_up + 2100ms);
    ASSERT_NO_FATAL_FAILURE(from_a_worker(v4("10.99.1.7"), 655, true));
    std::vector<int> at_proxy;
    ASSERT_TRUE(wait_until([&] { accept_waiting(proxy, at_proxy); return at_proxy.size() == 1; }, 2s));
    EXPECT_EQ(g_proxy_lookups.load(), 2);
    for (int fd : at_proxy) {
        keep(fd);  // closed after the slow path stops
    }
}

}  // namespace
