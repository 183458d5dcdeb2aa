// SPDX-License-Identifier: MIT
// control_server and control_request over real UNIX sockets in a temporary directory. Most tests
// drive client and server from one thread (write, poll, read); those that need a blocking client
// poll the server from a background thread. Every bad-input path checks its counter.
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <csignal>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <sstream>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "control/ctl/control_socket.hh"
#include "tests/unit/control/ctl/control_test_util.hh"

namespace control {
namespace {

using nlohmann::json;
using test::temp_dir;

/// A server at DIR/ctl.sock with a few commands: ping, echo (returns the request), big (a reply of
/// `size` bytes), boom (throws), scalar (returns a non-object), fail (returns ok:false).
struct fixture {
    temp_dir dir;
    std::string path = dir / "run/dvpe/alpha.sock";
    std::unique_ptr<control_server> srv;

    fixture() {
        auto r = control_server::open(path);
        if (!r) {
            throw std::runtime_error(r.error());
        }
        srv = std::move(r.value());
        srv->add_command("ping", "answer pong", [](const json&) { return json{{"pong", true}}; });
        srv->add_command("echo", "return the request", [](const json& req) { return json{{"request", req}}; });
        srv->add_command("big", "a large reply", [](const json& req) {
            return json{{"data", std::string(req.value("size", size_t(0)), 'x')}};
        });
        srv->add_command("boom", "throws", [](const json&) -> json { throw std::runtime_error("boom"); });
        srv->add_command("scalar", "returns 42", [](const json&) { return json(42); });
        srv->add_command("fail", "refuses", [](const json&) { return json{{"ok", false}, {"error", "nope"}}; });
    }
};

// In a forked child: nobody, in `group` only (a member of control-socket-group); exit 2 if not.
void become_member(gid_t group) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(group) != 0 || ::setuid(65534) != 0) {
        ::_exit(2);
    }
}

// In a forked child: a connection to the socket at `path`; exit 3 if refused.
int connect_or_exit(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::_exit(3);
    }
    return fd;
}

// control-socket-group: the file is the group's with mode 0660, and a client that is neither
// root nor our user (a member of the group: an exporter) may run read commands only.
TEST(control_server, a_group_member_reads_and_may_not_do_more) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root (a client of another uid)";
    }
    temp_dir dir;
    const std::string path = dir / "ctl.sock";
    ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
    constexpr gid_t group = 4242;
    auto r = control_server::open(path, group);
    ASSERT_TRUE(r.has_value()) << r.error();
    auto srv = std::move(r.value());
    srv->add_command("admin", "changes things", [](const json&) { return json{{"done", true}}; });
    srv->add_command("look", "reads", [](const json&) { return json{{"seen", true}}; }, control_server::access::read);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0660u);
    EXPECT_EQ(st.st_gid, group);
    int pipefd[2];
    ASSERT_EQ(::pipe(pipefd), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // nobody, in the socket's group only
        ::close(pipefd[0]);
        become_member(group);
        const int fd = connect_or_exit(path);
        const std::string req = "{\"cmd\":\"look\"}\n{\"cmd\":\"admin\"}\n";
        if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
            ::_exit(4);
        }
        std::string got;
        char buf[4096];
        while (std::count(got.begin(), got.end(), '\n') < 2) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0) {
                ::_exit(5);
            }
            got.append(buf, static_cast<size_t>(n));
        }
        (void)!::write(pipefd[1], got.data(), got.size());
        ::_exit(0);
    }
    ::close(pipefd[1]);
    int status = 0;
    bool done = false;
    for (int i = 0; i < 500 && !(done = ::waitpid(child, &status, WNOHANG) == child); ++i) {
        srv->poll(10);
    }
    if (!done) {  // the child hangs: fail, never block on its pipe
        ::kill(child, SIGKILL);
        ::waitpid(child, &status, 0);
        ::close(pipefd[0]);
        FAIL() << "the group member's client did not finish in 5 s";
    }
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) {
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(pipefd[0]);
    ASSERT_TRUE(WIFEXITED(status)) << status;
    ASSERT_EQ(WEXITSTATUS(status), 0);
    std::istringstream lines(out);
    std::string first, second;
    std::getline(lines, first);
    std::getline(lines, second);
    EXPECT_EQ(json::parse(first), (json{{"ok", true}, {"seen", true}}));
    const json denied = json::parse(second);
    EXPECT_EQ(denied["ok"], false);
    EXPECT_NE(denied["error"].get<std::string>().find("permission denied: 'admin'"), std::string::npos) << second;
    // the daemon's own user still may
    EXPECT_EQ(srv->dispatch_line(R"({"cmd":"admin"})"), (json{{"ok", true}, {"done", true}}));
}

// Members of control-socket-group hold at most half the client slots: connections beyond that
// are refused with a reason, and root still gets in (review finding: 32 silent readers locked
// root out).
TEST(control_server, group_members_cannot_take_every_slot) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root (a client of another uid)";
    }
    temp_dir dir;
    const std::string path = dir / "ctl.sock";
    ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
    constexpr gid_t group = 4243;
    auto r = control_server::open(path, group);
    ASSERT_TRUE(r.has_value()) << r.error();
    auto srv = std::move(r.value());
    srv->add_command("look", "reads", [](const json&) { return json{{"seen", true}}; }, control_server::access::read);
    int pipefd[2];
    ASSERT_EQ(::pipe(pipefd), 0);
    int go[2];  // the parent says when its own connection is in
    ASSERT_EQ(::pipe(go), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(pipefd[0]);
        ::close(go[1]);
        become_member(group);
        std::vector<int> fds;
        for (size_t i = 0; i < control_limits::max_clients; ++i) {
            fds.push_back(connect_or_exit(path));
        }
        char c;
        (void)!::read(go[0], &c, 1);  // hold them until root has been let in
        std::string report = std::to_string(fds.size()) + "\n";
        (void)!::write(pipefd[1], report.data(), report.size());
        ::_exit(0);
    }
    ::close(pipefd[1]);
    ::close(go[0]);
    for (int i = 0; i < 100; ++i) {
        srv->poll(10);  // the member's connections: accepted up to half, the rest refused
    }
    EXPECT_EQ(srv->counters().clients_accepted, control_limits::max_clients);
    EXPECT_EQ(srv->counters().clients_dropped, control_limits::max_clients / 2);
    // root connects while the member holds its half: served
    json reply;
    std::thread t([&] {
        auto rr = control_request(path, json{{"cmd", "look"}}, 2000);
        if (rr) {
            reply = *rr;
        }
    });
    for (int i = 0; i < 100 && reply.is_null(); ++i) {
        srv->poll(10);
    }
    t.join();
    EXPECT_EQ(reply, (json{{"ok", true}, {"seen", true}}));
    (void)!::write(go[1], "x", 1);
    ::close(go[1]);
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(pipefd[0]);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(control_server, socket_file_is_0600_and_dirs_are_made) {
    fixture f;
    struct stat st {};
    ASSERT_EQ(::stat(f.path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    ASSERT_EQ(::stat((f.dir / "run/dvpe").c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_GE(f.srv->fd(), 0);
    EXPECT_EQ(f.srv->path(), f.path);
}

TEST(control_server, destructor_unlinks_the_socket) {
    fixture f;
    f.srv.reset();
    struct stat st {};
    EXPECT_NE(::stat(f.path.c_str(), &st), 0);
}

TEST(control_server, help_lists_registered_commands) {
    fixture f;
    int c = test::connect_client(f.path);
    ASSERT_GE(c, 0);
    json r = test::exchange(*f.srv, c, "{\"cmd\":\"help\"}\n");
    EXPECT_EQ(r["ok"], true);
    std::vector<std::string> names;
    for (const auto& e : r["commands"]) {
        names.push_back(e["name"]);
        EXPECT_TRUE(e["help"].is_string());
    }
    EXPECT_EQ(names, (std::vector<std::string>{"help", "big", "boom", "echo", "fail", "ping", "scalar"}));
    EXPECT_EQ(f.srv->counters().requests, 1u);
    ::close(c);
}

TEST(control_server, help_cannot_be_replaced) {
    fixture f;
    f.srv->add_command("help", "mine", [](const json&) { return json{{"mine", true}}; });
    json r = f.srv->dispatch_line(R"({"cmd":"help"})");
    EXPECT_FALSE(r.contains("mine"));
    EXPECT_TRUE(r["commands"].is_array());
}

TEST(control_server, unknown_command) {
    fixture f;
    int c = test::connect_client(f.path);
    json r = test::exchange(*f.srv, c, "{\"cmd\":\"x\"}\n");
    EXPECT_EQ(r, (json{{"ok", false}, {"error", "unknown command 'x' (try help)"}}));
    EXPECT_EQ(f.srv->counters().bad_requests, 1u);
    EXPECT_EQ(f.srv->counters().requests, 0u);
    ::close(c);
}

// Numbered table of malformed requests: each is answered with ok:false, counted, and the
// connection stays usable.
TEST(control_server, bad_requests_get_errors_and_keep_the_connection) {
    struct bad_case {
        const char* line;
        const char* error_prefix;
    };
    const bad_case cases[] = {
        /* 0 */ {"not json", "invalid JSON: "},
        /* 1 */ {"{\"cmd\":", "invalid JSON: "},
        /* 2 */ {"[1,2]", "request must be a JSON object"},
        /* 3 */ {"\"status\"", "request must be a JSON object"},
        /* 4 */ {"42", "request must be a JSON object"},
        /* 5 */ {"{}", "request has no string \"cmd\""},
        /* 6 */ {"{\"cmd\":5}", "request has no string \"cmd\""},
        /* 7 */ {"{\"cmd\":null}", "request has no string \"cmd\""},
        /* 8 */ {"{\"command\":\"status\"}", "request has no string \"cmd\""},
        /* 9 */ {"{\"cmd\":\"ping\"} trailing", "invalid JSON: "},
        /* 10 */ {"{\"cmd\":\"\\ud800\"}", "invalid JSON: "},
    };
    fixture f;
    int c = test::connect_client(f.path);
    ASSERT_GE(c, 0);
    uint64_t n = 0;
    for (const auto& bc : cases) {
        SCOPED_TRACE(bc.line);
        json r = test::exchange(*f.srv, c, std::string(bc.line) + "\n");
        EXPECT_EQ(r["ok"], false);
        EXPECT_TRUE(r["error"].get<std::string>().starts_with(bc.error_prefix)) << r["error"];
        EXPECT_EQ(f.srv->counters().bad_requests, ++n);
    }
    json r = test::exchange(*f.srv, c, "{\"cmd\":\"ping\"}\n");
    EXPECT_EQ(r, (json{{"ok", true}, {"pong", true}}));
    EXPECT_EQ(f.srv->n_clients(), 1u);
    EXPECT_EQ(f.srv->counters().clients_dropped, 0u);
    ::close(c);
}

TEST(control_server, several_requests_on_one_connection_in_one_write) {
    fixture f;
    int c = test::connect_client(f.path);
    test::send_all(*f.srv, c, "{\"cmd\":\"ping\",\"id\":1}\n\n{\"cmd\":\"echo\",\"id\":\"two\"}\r\n{\"cmd\":\"x\",\"id\":3}\n");
    auto rr = test::read_lines(*f.srv, c, 3);
    std::vector<json> replies;
    size_t start = 0;
    for (size_t nl; (nl = rr.data.find('\n', start)) != std::string::npos; start = nl + 1) {
        replies.push_back(json::parse(rr.data.substr(start, nl - start)));
    }
    ASSERT_EQ(replies.size(), 3u);  // the blank line is ignored
    EXPECT_EQ(replies[0]["id"], 1);
    EXPECT_EQ(replies[0]["pong"], true);
    EXPECT_EQ(replies[1]["id"], "two");
    EXPECT_EQ(replies[1]["request"]["cmd"], "echo");
    EXPECT_EQ(replies[2]["id"], 3);
    EXPECT_EQ(replies[2]["ok"], false);
    EXPECT_EQ(f.srv->counters().requests, 2u);
    EXPECT_EQ(f.srv->counters().bad_requests, 1u);
    ::close(c);
}

TEST(control_server, request_split_over_several_writes) {
    fixture f;
    int c = test::connect_client(f.path);
    for (const char* part : {"{\"cm", "d\":\"pi", "ng\"", "}"}) {
        test::send_all(*f.srv, c, part);
        for (int i = 0; i < 5; ++i) {
            f.srv->poll(1);
        }
        EXPECT_EQ(f.srv->counters().requests, 0u);
    }
    auto rr = test::read_lines(*f.srv, c, 1, std::chrono::milliseconds(100));
    EXPECT_EQ(rr.data, "");  // no newline yet: no reply
    json r = test::exchange(*f.srv, c, "\n");
    EXPECT_EQ(r["pong"], true);
    ::close(c);
}

TEST(control_server, last_request_without_newline_before_half_close) {
    fixture f;
    int c = test::connect_client(f.path);
    test::send_all(*f.srv, c, "{\"cmd\":\"ping\"}");
    ::shutdown(c, SHUT_WR);
    auto rr = test::read_lines(*f.srv, c, 2);
    EXPECT_EQ(rr.data, "{\"ok\":true,\"pong\":true}\n");
    EXPECT_TRUE(rr.closed);
    for (int i = 0; i < 3; ++i) {
        f.srv->poll(1);
    }
    EXPECT_EQ(f.srv->n_clients(), 0u);
    ::close(c);
}

// A request line of exactly max_request_bytes is served; one byte more closes the connection.
TEST(control_server, request_size_limit_both_sides) {
    fixture f;
    auto line_of = [](size_t size) {
        std::string head = "{\"cmd\":\"ping\",\"pad\":\"";
        std::string tail = "\"}";
        return head + std::string(size - head.size() - tail.size(), 'p') + tail;
    };
    int c = test::connect_client(f.path);
    json r = test::exchange(*f.srv, c, line_of(control_limits::max_request_bytes) + "\n");
    EXPECT_EQ(r["pong"], true);
    EXPECT_EQ(f.srv->counters().clients_dropped, 0u);

    test::send_all(*f.srv, c, line_of(control_limits::max_request_bytes + 1) + "\n");
    auto rr = test::read_lines(*f.srv, c, 100);
    EXPECT_TRUE(rr.closed);
    EXPECT_EQ(f.srv->counters().clients_dropped, 1u);
    EXPECT_EQ(f.srv->n_clients(), 0u);
    ::close(c);
}

TEST(control_server, huge_request_without_newline_is_dropped) {
    fixture f;
    int c = test::connect_client(f.path);
    int other = test::connect_client(f.path);
    test::send_all(*f.srv, c, std::string(200 * 1024, 'a'));
    auto rr = test::read_lines(*f.srv, c, 100);
    EXPECT_TRUE(rr.closed);
    if (auto nl = rr.data.find('\n'); nl != std::string::npos) {
        EXPECT_EQ(json::parse(rr.data.substr(0, nl))["error"], "request too long");
    }
    EXPECT_EQ(f.srv->counters().clients_dropped, 1u);
    // The other client is unaffected.
    EXPECT_EQ(test::exchange(*f.srv, other, "{\"cmd\":\"ping\"}\n")["pong"], true);
    ::close(c);
    ::close(other);
}

// 32 idle connections used to lock every further client (dvpectl) out: now a new client takes
// the place of the idle one that made progress the longest time ago.
TEST(control_server, a_full_table_evicts_the_oldest_idle_client) {
    fixture f;
    std::vector<int> clients;
    for (size_t i = 0; i < control_limits::max_clients + 8; ++i) {
        int c = test::connect_client(f.path);
        ASSERT_GE(c, 0);
        clients.push_back(c);
        f.srv->poll(0);  // accept as we go (the listen backlog is small)
    }
    for (int i = 0; i < 5; ++i) {
        f.srv->poll(1);
    }
    EXPECT_EQ(f.srv->n_clients(), control_limits::max_clients);
    EXPECT_EQ(f.srv->counters().clients_dropped, 8u);
    EXPECT_EQ(f.srv->counters().clients_evicted, 8u);
    EXPECT_EQ(f.srv->counters().clients_accepted, control_limits::max_clients + 8);
    // The eight oldest were told why and closed.
    for (size_t i = 0; i < 8; ++i) {
        auto rr = test::read_lines(*f.srv, clients[i], 2);
        EXPECT_TRUE(rr.closed) << i;
        EXPECT_EQ(rr.data, "{\"error\":\"closed to make room for a new client (this one was idle the longest)\","
                           "\"ok\":false}\n");
    }
    // The newer ones all work. Each answered request is progress: client 8 is now the newest.
    for (size_t i = clients.size(); i-- > 8;) {
        EXPECT_EQ(test::exchange(*f.srv, clients[i], "{\"cmd\":\"ping\"}\n")["pong"], true) << i;
    }
    // dvpectl gets in at once: the client with the oldest progress (the last one, answered first
    // above) makes room.
    int late = test::connect_client(f.path);
    EXPECT_EQ(test::exchange(*f.srv, late, "{\"cmd\":\"ping\"}\n")["pong"], true);
    auto rr = test::read_lines(*f.srv, clients.back(), 2);
    EXPECT_TRUE(rr.closed);
    EXPECT_EQ(f.srv->counters().clients_evicted, 9u);
    EXPECT_EQ(test::exchange(*f.srv, clients[8], "{\"cmd\":\"ping\"}\n")["pong"], true);
    ::close(late);
    for (int c : clients) {
        ::close(c);
    }
}

TEST(control_server, clients_with_replies_pending_are_not_evicted) {
    // A client being answered is not idle: when all 32 have replies pending, a new one is refused.
    fixture f;
    std::vector<int> clients;
    for (size_t i = 0; i < control_limits::max_clients; ++i) {
        int c = test::connect_client(f.path);
        ASSERT_GE(c, 0);
        clients.push_back(c);
        f.srv->poll(0);
        test::send_all(*f.srv, c, "{\"cmd\":\"big\",\"size\":1000000}\n");  // more than a socket buffer
    }
    for (int i = 0; i < 5; ++i) {
        f.srv->poll(1);
    }
    ASSERT_EQ(f.srv->n_clients(), control_limits::max_clients);
    int late = test::connect_client(f.path);
    auto rr = test::read_lines(*f.srv, late, 1, std::chrono::milliseconds(500));
    EXPECT_TRUE(rr.closed);
    EXPECT_EQ(rr.data, "{\"error\":\"too many clients\",\"ok\":false}\n");
    EXPECT_EQ(f.srv->counters().clients_evicted, 0u);
    ::close(late);
    for (int c : clients) {
        ::close(c);
    }
}

// Real time, the default 5 s: a silent client and one that trickles a request that never
// completes are closed; a client that completes a request every second stays.
TEST(control_server, idle_clients_are_closed_after_the_idle_timeout) {
    fixture f;
    int silent = test::connect_client(f.path);
    int trickle = test::connect_client(f.path);
    int active = test::connect_client(f.path);
    ASSERT_TRUE(silent >= 0 && trickle >= 0 && active >= 0);
    const auto t0 = std::chrono::steady_clock::now();
    auto elapsed = [&] { return std::chrono::steady_clock::now() - t0; };
    std::string got_silent;
    bool silent_closed = false;
    auto last_active = t0, last_trickle = t0;
    int pongs = 0;
    while (elapsed() < std::chrono::milliseconds(6500)) {
        f.srv->poll(50);
        if (std::chrono::steady_clock::now() - last_trickle > std::chrono::milliseconds(100)) {
            (void)!::send(trickle, "{", 1, MSG_NOSIGNAL | MSG_DONTWAIT);  // never a whole request
            last_trickle = std::chrono::steady_clock::now();
        }
        if (std::chrono::steady_clock::now() - last_active > std::chrono::seconds(1)) {
            pongs += test::exchange(*f.srv, active, "{\"cmd\":\"ping\"}\n")["pong"] == true;
            last_active = std::chrono::steady_clock::now();
        }
        char buf[512];
        ssize_t n = ::recv(silent, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            got_silent.append(buf, size_t(n));
        } else if (n == 0) {
            if (!silent_closed) {
                EXPECT_GE(elapsed(), std::chrono::milliseconds(4900));
            }
            silent_closed = true;
        }
    }
    EXPECT_TRUE(silent_closed);
    EXPECT_EQ(got_silent, "{\"error\":\"idle timeout (5000 ms without a complete request)\",\"ok\":false}\n");
    auto rt = test::read_lines(*f.srv, trickle, 1, std::chrono::milliseconds(200));
    EXPECT_TRUE(rt.closed);
    EXPECT_GE(pongs, 5);
    EXPECT_EQ(test::exchange(*f.srv, active, "{\"cmd\":\"ping\"}\n")["pong"], true);
    EXPECT_EQ(f.srv->n_clients(), 1u);
    EXPECT_EQ(rt.data, "{\"error\":\"idle timeout (5000 ms without a complete request)\",\"ok\":false}\n");
    EXPECT_EQ(f.srv->counters().clients_idle_closed, 2u);
    ::close(silent);
    ::close(trickle);
    ::close(active);
}

TEST(control_server, idle_timeout_also_ends_a_poll_that_would_wait_forever) {
    fixture f;
    f.srv->set_idle_timeout(std::chrono::milliseconds(200));
    int c = test::connect_client(f.path);
    f.srv->poll(0);  // accepted
    ASSERT_EQ(f.srv->n_clients(), 1u);
    const auto t0 = std::chrono::steady_clock::now();
    f.srv->poll(-1);  // no activity: returns when the client's idle time is up
    f.srv->poll(0);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    EXPECT_EQ(f.srv->n_clients(), 0u);
    ::close(c);
}

TEST(control_server, handler_exception_becomes_error_reply) {
    fixture f;
    int c = test::connect_client(f.path);
    EXPECT_EQ(test::exchange(*f.srv, c, "{\"cmd\":\"boom\"}\n"), (json{{"ok", false}, {"error", "boom"}}));
    EXPECT_EQ(f.srv->counters().handler_errors, 1u);
    EXPECT_EQ(test::exchange(*f.srv, c, "{\"cmd\":\"ping\"}\n")["pong"], true);
    ::close(c);
}

TEST(control_server, reply_shapes) {
    fixture f;
    EXPECT_EQ(f.srv->dispatch_line(R"({"cmd":"scalar"})"), (json{{"ok", true}, {"result", 42}}));
    EXPECT_EQ(f.srv->dispatch_line(R"({"cmd":"fail"})"), (json{{"ok", false}, {"error", "nope"}}));
    EXPECT_EQ(f.srv->dispatch_line(R"({"cmd":"ping","id":[1]})"), (json{{"ok", true}, {"pong", true}}));
    EXPECT_EQ(f.srv->dispatch_line(R"({"cmd":"ping","id":7})"), (json{{"ok", true}, {"pong", true}, {"id", 7}}));
}

TEST(control_server, large_reply_is_written_in_pieces) {
    fixture f;
    int c = test::connect_client(f.path);
    const size_t size = 3 * 1024 * 1024;
    json r = test::exchange(*f.srv, c, "{\"cmd\":\"big\",\"size\":" + std::to_string(size) + "}\n");
    EXPECT_EQ(r["data"].get<std::string>().size(), size);
    ::close(c);
}

// A client that pipelines many requests and reads nothing: the server holds back once the
// replies pending for it pass the high-water mark, stays responsive to others, and delivers
// every reply in order when the client finally reads.
TEST(control_server, pipelining_client_that_does_not_read) {
    fixture f;
    int c = test::connect_client(f.path);
    int other = test::connect_client(f.path);
    const int n = 100;
    std::string reqs;
    for (int i = 0; i < n; ++i) {
        reqs += "{\"cmd\":\"big\",\"size\":100000,\"id\":" + std::to_string(i) + "}\n";
    }
    test::send_all(*f.srv, c, reqs);
    for (int i = 0; i < 50; ++i) {
        f.srv->poll(1);
    }
    EXPECT_LT(f.srv->counters().requests, uint64_t(n));  // held back
    EXPECT_EQ(test::exchange(*f.srv, other, "{\"cmd\":\"ping\"}\n")["pong"], true);
    auto rr = test::read_lines(*f.srv, c, n, std::chrono::seconds(60));  // 10 MB of replies: slow under ASan on a busy machine
    size_t start = 0;
    int next = 0;
    for (size_t nl; (nl = rr.data.find('\n', start)) != std::string::npos; start = nl + 1) {
        json r = json::parse(rr.data.substr(start, nl - start));
        EXPECT_EQ(r["id"], next);
        ++next;
    }
    EXPECT_EQ(next, n);
    ::close(c);
    ::close(other);
}

TEST(control_server, client_gone_mid_reply_is_cleaned_up) {
    fixture f;
    int c = test::connect_client(f.path);
    test::send_all(*f.srv, c, "{\"cmd\":\"big\",\"size\":5000000}\n");
    for (int i = 0; i < 5; ++i) {
        f.srv->poll(1);
    }
    ::close(c);
    for (int i = 0; i < 5; ++i) {
        f.srv->poll(1);
    }
    EXPECT_EQ(f.srv->n_clients(), 0u);
}

TEST(control_server, poll_returns_within_timeout_when_idle) {
    fixture f;
    auto t0 = std::chrono::steady_clock::now();
    f.srv->poll(50);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_GE(ms, 40);
    EXPECT_LT(ms, 1000);
}

TEST(control_server, stale_socket_file_is_replaced) {
    temp_dir dir;
    std::string path = dir / "stale.sock";
    {
        // Bound but never listening, then closed: what a crashed daemon leaves behind.
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strcpy(addr.sun_path, path.c_str());
        ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
        ::close(fd);
    }
    auto r = control_server::open(path);
    ASSERT_TRUE(r) << r.error();
    int c = test::connect_client(path);
    EXPECT_EQ(test::exchange(**r, c, "{\"cmd\":\"help\"}\n")["ok"], true);
    ::close(c);
}

TEST(control_server, live_socket_is_refused) {
    fixture f;
    auto second = control_server::open(f.path);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error(), "control socket " + f.path + " is in use (is another dvped running?)");
    // The first server still owns a working socket.
    int c = test::connect_client(f.path);
    EXPECT_EQ(test::exchange(*f.srv, c, "{\"cmd\":\"ping\"}\n")["pong"], true);
    ::close(c);
}

TEST(control_server, path_that_is_not_a_socket_is_refused) {
    temp_dir dir;
    std::string path = dir / "file";
    FILE* fp = std::fopen(path.c_str(), "w");
    std::fputs("keep me", fp);
    std::fclose(fp);
    auto r = control_server::open(path);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "control socket " + path + " exists and is not a socket");
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 7);
}

TEST(control_server, path_too_long_is_refused) {
    auto r = control_server::open("/tmp/" + std::string(200, 'x') + ".sock");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("longer than 107 bytes"), std::string::npos) << r.error();
}

// Random bytes never crash the dispatcher; every reply is an object with a boolean "ok".
TEST(control_server, parse_request_is_the_servers_parser_without_a_server) {
    EXPECT_EQ(parse_request(R"({"cmd":"x","id":3})").error, "");
    EXPECT_EQ(parse_request(R"({"cmd":"x","id":3})").request["id"], 3);
    EXPECT_EQ(parse_request("[1]").error, "request must be a JSON object like {\"cmd\":\"help\"}");
    EXPECT_EQ(parse_request(R"({"cmd":1})").error, "request has no string \"cmd\" (try {\"cmd\":\"help\"})");
    auto bad = parse_request("{");
    EXPECT_TRUE(bad.request.is_null());
    EXPECT_TRUE(bad.error.starts_with("invalid JSON: ")) << bad.error;
    // A 64 KiB line of nested arrays (the request size limit): parsed without recursion trouble.
    std::string deep(control_limits::max_request_bytes / 2, '[');
    deep += std::string(control_limits::max_request_bytes / 2, ']');
    EXPECT_EQ(parse_request(deep).error, "request must be a JSON object like {\"cmd\":\"help\"}");
}

TEST(control_server, dispatch_survives_random_input) {
    fixture f;
    std::mt19937 rng(12345);
    const std::string alphabet = "{}[]\":,cmdpingtrue0123456789 \\u\x01\xff";
    for (int i = 0; i < 2000; ++i) {
        std::string line(rng() % 64, ' ');
        for (auto& ch : line) {
            ch = alphabet[rng() % alphabet.size()];
        }
        json r = f.srv->dispatch_line(line);
        ASSERT_TRUE(r.is_object());
        ASSERT_TRUE(r["ok"].is_boolean());
        (void)r.dump(-1, ' ', false, json::error_handler_t::replace);
    }
}

// The pid file used to be written with std::ofstream, following a symlink planted at its path.
TEST(pid_file, a_symlink_at_the_path_is_replaced_never_followed) {
    temp_dir dir;
    const std::string victim = dir / "victim";
    {
        std::ofstream(victim) << "precious\n";
    }
    const std::string pid = dir / "run/dvpe/alpha.pid";  // parent directories are made
    ASSERT_TRUE(write_pid_file(dir / "run/dvpe/first.pid", 1).has_value());
    ASSERT_EQ(::symlink(victim.c_str(), pid.c_str()), 0);
    auto r = write_pid_file(pid, 4242);
    ASSERT_TRUE(r.has_value()) << r.error();
    std::ifstream v(victim);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(v), {}), "precious\n");
    struct stat st {};
    ASSERT_EQ(::lstat(pid.c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0644u);
    std::ifstream p(pid);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(p), {}), "4242\n");
    // A dangling symlink: its target is not created.
    const std::string dangling = dir / "run/dvpe/beta.pid";
    ASSERT_EQ(::symlink((dir / "created").c_str(), dangling.c_str()), 0);
    ASSERT_TRUE(write_pid_file(dangling, 7).has_value());
    EXPECT_NE(::access((dir / "created").c_str(), F_OK), 0);
    ASSERT_EQ(::lstat(dangling.c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    // Nothing but the pid files is left behind (no temporary files).
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir / "run/dvpe")) {
        ++n;
    }
    EXPECT_EQ(n, 3u);
}

TEST(pid_file, errors_name_the_path) {
    temp_dir dir;
    ::mkdir((dir / "adir").c_str(), 0755);
    auto r = write_pid_file(dir / "adir", 1);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), "pid file " + (dir / "adir") + " is a directory");
    {
        std::ofstream(dir / "file") << "x";
    }
    r = write_pid_file(dir / "file/x.pid", 1);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), "pid file " + (dir / "file/x.pid") + ": " + (dir / "file") + " is not a directory");
}

TEST(control_request, round_trip_and_errors) {
    fixture f;
    std::string path = f.path;
    test::polled_server ps(std::move(f.srv));
    auto r = control_request(path, json{{"cmd", "ping"}}, 2000);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(*r, (json{{"ok", true}, {"pong", true}}));

    auto big = control_request(path, json{{"cmd", "big"}, {"size", 2000000}}, 5000);
    ASSERT_TRUE(big) << big.error();
    EXPECT_EQ((*big)["data"].get<std::string>().size(), 2000000u);

    auto err = control_request(path, json{{"cmd", "nope"}}, 2000);
    ASSERT_TRUE(err);
    EXPECT_EQ((*err)["ok"], false);
    ps.stop();
    EXPECT_EQ(ps.server().counters().requests, 2u);
    EXPECT_EQ(ps.server().counters().bad_requests, 1u);

    auto missing = control_request(f.dir / "none.sock", json{{"cmd", "ping"}}, 500);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error(), "cannot connect to " + (f.dir / "none.sock") + ": No such file or directory");
}

TEST(control_request, times_out_when_nobody_answers) {
    fixture f;  // never polled: the connection sits in the backlog
    auto t0 = std::chrono::steady_clock::now();
    auto r = control_request(f.path, json{{"cmd", "ping"}}, 200);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "timeout waiting for a reply from " + f.path);
    EXPECT_GE(ms, 150);
    EXPECT_LT(ms, 2000);
}

}  // namespace
}  // namespace control
