// SPDX-License-Identifier: MIT
// Unit tests of the hook-script runner (control/daemon/hooks.hh) with real processes, no mocks: scripts
// written into a temporary CONFDIR dump their environment (`env > $DVPE_HOOK_TEST_OUT/...`),
// append start/end markers, sleep, fail or hang. Covers GVPE's exact variables for if-up and
// node-up/down/change (3-node config from load_config_text), path resolution, serialisation,
// a poll() that never blocks, timeouts (SIGTERM, then SIGKILL for a script that ignores it, the
// script's children included), failures, missing scripts, queue overflow and drain at shutdown.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "control/config/config.hh"
#include "control/daemon/hooks.hh"
#include "control/log.hh"

namespace control {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

/// mkdtemp() directory, removed recursively on destruction.
class temp_dir {
public:
    temp_dir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "dvpe-hooks-XXXXXX").string();
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

void write_file(const std::string& path, const std::string& text, mode_t mode) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    {
        std::ofstream f(path, std::ios::trunc);
        f << text;
    }
    ::chmod(path.c_str(), mode);
}

/// An executable /bin/sh script at \p path.
void write_script(const std::string& path, const std::string& body) {
    write_file(path, "#!/bin/sh\n" + body + "\n", 0755);
}

std::string read_file(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

/// `env` output as NAME -> value.
std::map<std::string, std::string> read_env(const std::string& path) {
    std::map<std::string, std::string> r;
    std::istringstream in(read_file(path));
    for (std::string line; std::getline(in, line);) {
        const size_t eq = line.find('=');
        if (eq != std::string::npos) {
            r[line.substr(0, eq)] = line.substr(eq + 1);
        }
    }
    return r;
}

/// Polls like the control loop (every 5 ms) until idle or \p max; returns whether it got idle.
bool run_until_idle(hook_runner& r, std::chrono::milliseconds max = 10s) {
    const auto deadline = clock_type::now() + max;
    while (clock_type::now() < deadline) {
        r.poll();
        if (r.pending() == 0) {
            return true;
        }
        std::this_thread::sleep_for(5ms);
    }
    return false;
}

/// Three nodes a (1), b (2) and c (node-id 7); we are a. Script directives: node-up relative,
/// node-down absolute (an extra line), node-change with %s; if-up at its default "if-up".
config make_config(const std::string& confdir, const std::string& globals = "") {
    const std::string text = "enable-udp = yes\n"
                             "port = wan0 wan net_null0\n"
                             "wan-address = wan0 10.0.0.1/24\n"
                             "port = tap0 overlay net_tap0\n"
                             "ifname = dvpe0\n"
                             "mtu = 1500\n"
                             "node-up = node-up\n"
                             "node-change = hooks/%s-change\n" +
                             globals +
                             "node = a\n"
                             "if-up-data = data-a\n"
                             "node = b\n"
                             "if-up-data = data-b\n"
                             "node = c\n"
                             "node-id = 7\n";
    load_options o;
    o.confdir = confdir;
    o.nodename = "a";
    o.n_cpus = 4;
    auto r = load_config_text(text, "gvpe.conf", o);
    if (!r.has_value()) {
        std::string e;
        for (const diagnostic& x : r.error()) {
            e += x.str() + "\n";
        }
        throw std::runtime_error("config: " + e);
    }
    return std::move(r).value();
}

config make_config(const temp_dir& d, const std::string& globals = "") { return make_config(d.path(), globals); }

/// Options with short limits so that tests stay fast.
hook_options fast_opts(std::chrono::milliseconds timeout = 5s, std::chrono::milliseconds grace = 300ms,
                       size_t max_queue = hook_limits::max_queue) {
    hook_options o;
    o.timeout = timeout;
    o.kill_grace = grace;
    o.max_queue = max_queue;
    return o;
}

/// The test's own environment: DVPE_HOOK_TEST_OUT for the scripts, and an MTU that ours must
/// override. Quiet logs unless the test fails loudly anyway.
class HookRunner : public ::testing::Test {
protected:
    void SetUp() override {
        ::setenv("DVPE_HOOK_TEST_OUT", (_d / "out").c_str(), 1);
        ::setenv("MTU", "999", 1);
        std::filesystem::create_directories(_d / "out");
        log::set_level(std::getenv("DVPE_HOOK_TEST_LOG") != nullptr ? log_level::debug : log_level::critical);
    }
    void TearDown() override {
        ::unsetenv("DVPE_HOOK_TEST_OUT");
        ::unsetenv("MTU");
        log::set_level(log_level::info);
    }
    [[nodiscard]] std::string out(const std::string& f) const { return _d / ("out/" + f); }

    temp_dir _d;
};

// The variables every script gets for config make_config() as node a, ifname dvpe0, MTU 1434.
std::map<std::string, std::string> base_vars(const std::string& confdir) {
    return {
        {"CONFBASE", confdir},
        {"IFNAME", "dvpe0"},
        {"IFTYPE", "native"},
        {"IFSUBTYPE", "linux"},
        {"MTU", "1434"},
        {"NODES", "3"},
        {"NODEID", "1"},
        {"NODENAME", "a"},
        {"MAC", "fe:fd:80:00:00:01"},
        {"IFUPDATA", "data-a"},
        {"NODENAME_1", "a"},
        {"MAC_1", "fe:fd:80:00:00:01"},
        {"IFUPDATA_1", "data-a"},
        {"NODENAME_2", "b"},
        {"MAC_2", "fe:fd:80:00:00:02"},
        {"IFUPDATA_2", "data-b"},
        {"NODENAME_7", "c"},
        {"MAC_7", "fe:fd:80:00:00:07"},
        {"IFUPDATA_7", ""},
    };
}

// ---- the pure part -----------------------------------------------------------------------------

TEST(HookEnvironment, IfUpExactOrderAndValues) {
    temp_dir d;
    const config cfg = make_config(d);
    const std::vector<std::string> env = hook_environment(cfg, "dvpe0", 1434, nullptr);
    const std::vector<std::string> want = {
        "CONFBASE=" + d.path(), "IFNAME=dvpe0", "IFTYPE=native", "IFSUBTYPE=linux", "MTU=1434", "NODES=3",
        "NODEID=1", "NODENAME=a", "MAC=fe:fd:80:00:00:01", "IFUPDATA=data-a", "NODENAME_1=a",
        "MAC_1=fe:fd:80:00:00:01", "IFUPDATA_1=data-a", "NODENAME_2=b", "MAC_2=fe:fd:80:00:00:02",
        "IFUPDATA_2=data-b", "NODENAME_7=c", "MAC_7=fe:fd:80:00:00:07", "IFUPDATA_7=",
    };
    EXPECT_EQ(env, want);
}

TEST(HookEnvironment, NodeEventsTable) {
    temp_dir d;
    const config cfg = make_config(d);
    struct event_case {
        hook_event ev;
        std::vector<std::string> tail;  // what follows the 19 if-up variables
    };
    const event_case cases[] = {
        // 1: node-up over udp4
        {{hook_kind::node_up, 2, "udp/10.77.0.2:655", "10.77.0.2", 655},
         {"DESTNODE=b", "DESTID=2", "DESTSI=udp/10.77.0.2:655", "DESTIP=10.77.0.2", "DESTPORT=655", "STATE=up",
          "DVPE_TRANSPORT=udp4"}},
        // 2: node-down over rawip4 (port 0)
        {{hook_kind::node_down, 7, "rawip/10.77.0.7:0", "10.77.0.7", 0},
         {"DESTNODE=c", "DESTID=7", "DESTSI=rawip/10.77.0.7:0", "DESTIP=10.77.0.7", "DESTPORT=0", "STATE=down",
          "DVPE_TRANSPORT=rawip4"}},
        // 3: node-change over udp6
        {{hook_kind::node_change, 2, "udp/[fd00::2]:700", "fd00::2", 700},
         {"DESTNODE=b", "DESTID=2", "DESTSI=udp/[fd00::2]:700", "DESTIP=fd00::2", "DESTPORT=700",
          "STATE=change", "DVPE_TRANSPORT=udp6"}},
        // 4: an id not in the config: DESTNODE is the number; no DESTSI: no DVPE_TRANSPORT
        {{hook_kind::node_down, 99, "", "", 0},
         {"DESTNODE=99", "DESTID=99", "DESTSI=", "DESTIP=", "DESTPORT=0", "STATE=down"}},
        // 5: no known address (DESTIP empty): no DVPE_TRANSPORT either
        {{hook_kind::node_down, 2, "udp/:0", "", 0},
         {"DESTNODE=b", "DESTID=2", "DESTSI=udp/:0", "DESTIP=", "DESTPORT=0", "STATE=down"}},
        // 6: icmp over IPv6
        {{hook_kind::node_up, 7, "icmp/[fd00::7]:0", "fd00::7", 0},
         {"DESTNODE=c", "DESTID=7", "DESTSI=icmp/[fd00::7]:0", "DESTIP=fd00::7", "DESTPORT=0", "STATE=up",
          "DVPE_TRANSPORT=icmp6"}},
    };
    const std::vector<std::string> head = hook_environment(cfg, "dvpe0", 1434, nullptr);
    int i = 0;
    for (const event_case& c : cases) {
        ++i;
        std::vector<std::string> want = head;
        want.insert(want.end(), c.tail.begin(), c.tail.end());
        EXPECT_EQ(hook_environment(cfg, "dvpe0", 1434, &c.ev), want) << "case " << i;
    }
}

TEST(HookEnvironment, DestsiFormat) {
    EXPECT_EQ(hook_destsi("udp", "10.77.0.2", 655), "udp/10.77.0.2:655");
    EXPECT_EQ(hook_destsi("rawip", "10.77.0.2", 0), "rawip/10.77.0.2:0");
    EXPECT_EQ(hook_destsi("icmp", "192.0.2.1", 0), "icmp/192.0.2.1:0");
    EXPECT_EQ(hook_destsi("udp", "fd00::2", 65535), "udp/[fd00::2]:65535");
}

// Every kind names its own protocol (node events on tcp and dns paths said "icmp" before).
TEST(HookEnvironment, ProtocolOfEveryKind) {
    using transport::kind;
    const std::pair<kind, const char*> want[] = {
        {kind::udp4, "udp"},   {kind::udp6, "udp"}, {kind::rawip4, "rawip"}, {kind::rawip6, "rawip"},
        {kind::icmp4, "icmp"}, {kind::icmp6, "icmp"}, {kind::tcp4, "tcp"},   {kind::tcp6, "tcp"},
        {kind::dns4, "dns"},   {kind::dns6, "dns"}};
    static_assert(std::size(want) == transport::n_kinds);
    for (const auto& [k, name] : want) {
        EXPECT_EQ(hook_protocol(k), name) << transport::kind_name(k);
    }
    EXPECT_EQ(hook_destsi(hook_protocol(kind::tcp6), "fd00::2", 655), "tcp/[fd00::2]:655");
}

TEST(HookEnvironment, MergeKeepsBaseAndOursWin) {
    const char* base[] = {"PATH=/usr/bin:/bin", "MTU=999", "HOME=/root", "NOEQUALS", nullptr};
    const std::vector<std::string> merged = merge_environment({"MTU=1434", "IFNAME=dvpe0"}, base);
    const std::vector<std::string> want = {"PATH=/usr/bin:/bin", "HOME=/root", "NOEQUALS", "MTU=1434",
                                           "IFNAME=dvpe0"};
    EXPECT_EQ(merged, want);
    EXPECT_EQ(merge_environment({"A=1"}, nullptr), std::vector<std::string>{"A=1"});
}

TEST(HookEnvironment, KindNames) {
    EXPECT_EQ(to_string(hook_kind::if_up), "if-up");
    EXPECT_EQ(to_string(hook_kind::node_up), "node-up");
    EXPECT_EQ(to_string(hook_kind::node_down), "node-down");
    EXPECT_EQ(to_string(hook_kind::node_change), "node-change");
}

// ---- real processes ----------------------------------------------------------------------------

TEST_F(HookRunner, IfUpSeesGvpeEnvironment) {
    write_script(_d / "if-up", "env > \"$DVPE_HOOK_TEST_OUT/if-up.env\"");
    const config cfg = make_config(_d);
    hook_runner r(cfg, fast_opts());
    r.on_if_up("dvpe0", 1434);
    EXPECT_EQ(r.pending(), 1U);
    ASSERT_TRUE(run_until_idle(r));
    EXPECT_EQ(r.counters().started, 1U);
    EXPECT_EQ(r.counters().succeeded, 1U);

    auto env = read_env(out("if-up.env"));
    for (const auto& [k, v] : base_vars(_d.path())) {
        ASSERT_TRUE(env.count(k)) << k;
        EXPECT_EQ(env[k], v) << k;  // MTU: ours (1434), not the inherited 999
    }
    for (const char* k : {"DESTNODE", "DESTID", "DESTSI", "DESTIP", "DESTPORT", "STATE", "DVPE_TRANSPORT"}) {
        EXPECT_EQ(env.count(k), 0U) << k << " must not be set for if-up";
    }
    EXPECT_EQ(env["DVPE_HOOK_TEST_OUT"], _d / "out");  // the daemon's environment passes through
}

TEST_F(HookRunner, NodeEventsSeeGvpeEnvironmentAndPathsResolve) {
    // node-up relative to CONFDIR, node-down absolute (outside CONFDIR), node-change with %s.
    temp_dir elsewhere;
    const std::string dump = "env > \"$DVPE_HOOK_TEST_OUT/$STATE.env\"";
    write_script(_d / "node-up", dump);
    write_script(elsewhere / "down.sh", dump);
    write_script(_d / "hooks/a-change", dump);
    const config cfg = make_config(_d, "node-down = " + (elsewhere / "down.sh") + "\n");
    hook_runner r(cfg, fast_opts());
    r.on_if_up("dvpe0", 1434);  // no if-up script: counted missing, IFNAME/MTU still set
    r.on_node_up(2, "udp/10.77.0.2:655", "10.77.0.2", 655);
    r.on_node_down(7, "rawip/10.77.0.7:0", "10.77.0.7", 0);
    r.on_node_change(2, "udp/[fd00::2]:700", "fd00::2", 700);
    ASSERT_TRUE(run_until_idle(r));
    EXPECT_EQ(r.counters().missing, 1U);
    EXPECT_EQ(r.counters().succeeded, 3U);
    EXPECT_EQ(r.counters().failed, 0U);

    struct want_case {
        std::string state;
        std::map<std::string, std::string> dest;
    };
    const want_case cases[] = {
        {"up",
         {{"DESTNODE", "b"}, {"DESTID", "2"}, {"DESTSI", "udp/10.77.0.2:655"}, {"DESTIP", "10.77.0.2"},
          {"DESTPORT", "655"}, {"STATE", "up"}, {"DVPE_TRANSPORT", "udp4"}}},
        {"down",
         {{"DESTNODE", "c"}, {"DESTID", "7"}, {"DESTSI", "rawip/10.77.0.7:0"}, {"DESTIP", "10.77.0.7"},
          {"DESTPORT", "0"}, {"STATE", "down"}, {"DVPE_TRANSPORT", "rawip4"}}},
        {"change",
         {{"DESTNODE", "b"}, {"DESTID", "2"}, {"DESTSI", "udp/[fd00::2]:700"}, {"DESTIP", "fd00::2"},
          {"DESTPORT", "700"}, {"STATE", "change"}, {"DVPE_TRANSPORT", "udp6"}}},
    };
    for (const want_case& c : cases) {
        auto env = read_env(out(c.state + ".env"));
        ASSERT_FALSE(env.empty()) << c.state << ": script did not run";
        auto want = base_vars(_d.path());
        want.insert(c.dest.begin(), c.dest.end());
        for (const auto& [k, v] : want) {
            ASSERT_TRUE(env.count(k)) << c.state << ": " << k;
            EXPECT_EQ(env[k], v) << c.state << ": " << k;
        }
    }
}

TEST_F(HookRunner, IfnameAndMtuDefaultFromConfigBeforeIfUp) {
    write_script(_d / "node-up", "env > \"$DVPE_HOOK_TEST_OUT/up.env\"");
    const config cfg = make_config(_d);
    hook_runner r(cfg, fast_opts());
    r.on_node_up(2, "udp/10.77.0.2:655", "10.77.0.2", 655);
    ASSERT_TRUE(run_until_idle(r));
    auto env = read_env(out("up.env"));
    EXPECT_EQ(env["IFNAME"], "dvpe0");
    EXPECT_EQ(env["MTU"], std::to_string(cfg.overlay_mtu()));
}

TEST_F(HookRunner, EmptyDirectiveRunsNothing) {
    const config cfg = make_config(_d);  // node-down is not set (and the parser takes no empty value)
    hook_runner r(cfg, fast_opts());
    r.on_node_down(2, "udp/10.77.0.2:655", "10.77.0.2", 655);
    EXPECT_EQ(r.pending(), 0U);
    r.poll();
    EXPECT_EQ(r.counters().queued, 0U);
    EXPECT_EQ(r.counters().missing, 0U);
}

TEST_F(HookRunner, RunsAreSerialisedInOrder) {
    // Each run appends "start X", sleeps, appends "end X": interleaving would show start,start.
    const std::string body = "echo \"start $STATE $DESTID\" >> \"$DVPE_HOOK_TEST_OUT/log\"\n"
                             "sleep 0.1\n"
                             "echo \"end $STATE $DESTID\" >> \"$DVPE_HOOK_TEST_OUT/log\"";
    write_script(_d / "node-up", body);
    write_script(_d / "node-down", body);
    const config cfg = make_config(_d, "node-down = node-down\n");
    hook_runner r(cfg, fast_opts());
    for (unsigned i = 1; i <= 3; ++i) {
        r.on_node_up(i, "udp/10.77.0.2:655", "10.77.0.2", 655);
        r.on_node_down(i, "udp/10.77.0.2:655", "10.77.0.2", 655);
    }
    EXPECT_EQ(r.pending(), 6U);
    r.poll();
    EXPECT_TRUE(r.running());
    EXPECT_EQ(r.pending(), 6U);  // 5 queued + 1 running
    ASSERT_TRUE(run_until_idle(r));
    EXPECT_EQ(r.counters().succeeded, 6U);
    EXPECT_EQ(read_file(out("log")),
              "start up 1\nend up 1\nstart down 1\nend down 1\n"
              "start up 2\nend up 2\nstart down 2\nend down 2\n"
              "start up 3\nend up 3\nstart down 3\nend down 3\n");
}

TEST_F(HookRunner, PollNeverBlocksWhileAScriptRuns) {
    write_script(_d / "node-up", "sleep 2");
    const config cfg = make_config(_d);
    hook_runner r(cfg, fast_opts());
    r.on_node_up(2, "udp/10.77.0.2:655", "10.77.0.2", 655);
    r.on_node_up(7, "udp/10.77.0.7:655", "10.77.0.7", 655);
    // Functional bound (generous; not a performance assertion): poll() returns at once.
    for (int i = 0; i < 10; ++i) {
        const auto t0 = clock_type::now();
        r.poll();
        const auto took = clock_type::now() - t0;
        EXPECT_LT(took, 50ms) << "poll " << i;
        EXPECT_TRUE(r.running());
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(r.pending(), 2U);
    EXPECT_EQ(r.counters().started, 1U);
    // The destructor kills the running script's group; nothing is left behind.
}

TEST_F(HookRunner, TimeoutTerminatesAndCounts) {
    // The script's background child records its pid: the whole process group must go.
    write_script(_d / "node-up", "sleep 30 &\necho $! > \"$DVPE_HOOK_TEST_OUT/child.pid\"\nwait");
    write_script(_d / "node-down", "touch \"$DVPE_HOOK_TEST_OUT/next-ran\"");
    const config cfg = make_config(_d, "node-down = node-down\n");
    hook_runner r(cfg, fast_opts(200ms, 300ms));
    r.on_node_up(2, "udp/10.77.0.2:655", "10.77.0.2", 655);
    r.on_node_down(2, "udp/10.77.0.2:655", "10.77.0.2", 655);
    const auto t0 = clock_type::now();
    ASSERT_TRUE(run_until_idle(r, 5s));
    EXPECT_LT(clock_type::now() - t0, 3s);
    EXPECT_EQ(r.counters().timed_out, 1U);
    EXPECT_EQ(r.counters().failed, 0U);
    EXPECT_EQ(r.counters().succeeded, 1U);
    EXPECT_TRUE(std::filesystem::exists(out("next-ran")));

    // The background `sleep 30` was killed with its parent (gone, or a zombie awaiting init).
    const pid_t child = static_cast<pid_t>(std::stol(read_file(out("child.pid"))));
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i) {
        const std::string stat = read_file("/proc/" + std::to_string(child) + "/stat");
        const size_t paren = stat.rfind(')');
        gone = stat.empty() || (paren != std::string::npos && stat.size() > paren + 2 && stat[paren + 2] == 'Z');
        if (!gone) {
            std::this_thread::sleep_for(10ms);
        }
    }
    EXPECT_TRUE(gone) << "background child " << child << " of a timed-out hook survived";
}

TEST_F(HookRunner, TimeoutEscalatesToSigkill) {
    write_script(_d / "node-up", "trap '' TERM\nwhile :; do sleep 0.05; done");
    const config cfg = make_config(_d);
    hook_runner r(cfg, fast_opts(150ms, 200ms));
    r.on_node_up(2, "udp/10.77.0.2:655", "10.77.0.2", 655);
    const auto t0 = clock_type::now();
    ASSERT_TRUE(run_until_idle(r, 5s));
    const auto took = clock_type::now() - t0;
    EXPECT_GE(took, 350ms);  // timeout + grace: SIGTERM was ignored
    EXPECT_LT(took, 3s);
    EXPECT_EQ(r.counters().timed_out, 1U);
    EXPECT_EQ(r.counters().failed, 0U);
}

TEST_F(HookRunner, FailingScriptCountedAndNextRuns) {
    struct fail_case {
        std::string body;
    };
    const fail_case cases[] = {{"exit 3"}, {"kill -KILL $$"}, {"exit 1"}};
    write_script(_d / "node-down", "echo \"$DESTID\" >> \"$DVPE_HOOK_TEST_OUT/ran\"");
    int i = 0;
    for (const fail_case& c : cases) {
        ++i;
        std::filesystem::remove(out("ran"));
        write_script(_d / "node-up", c.body);
        const config cfg = make_config(_d, "node-down = node-down\n");
        hook_runner r(cfg, fast_opts());
        r.on_node_up(2, "udp/10.77.0.2:655", "10.77.0.2", 655);
        r.on_node_down(2, "udp/10.77.0.2:655", "10.77.0.2", 655);
        ASSERT_TRUE(run_until_idle(r)) << "case " << i;
        EXPECT_EQ(r.counters().started, 2U) << "case " << i;
        EXPECT_EQ(r.counters().failed, 1U) << "case " << i;
        EXPECT_EQ(r.counters().succeeded, 1U) << "case " << i;
        EXPECT_EQ(read_file(out("ran")), "2\n") << "case " << i;
    }
}

TEST_F(HookRunner, MissingOrNotExecutableScriptCounted) {
    // if-up at its default "if-up" does not exist; node-up is not executable; node-change is a
    // directory; node-down exists and runs anyway.
    write_file(_d / "node-up", "#!/bin/sh\ntouch \"$DVPE_HOOK_TEST_OUT/must-not-run\"\n", 0644);
    std::filesystem::create_directories(_d / "hooks/a-change");
    write_script(_d / "node-down", "touch \"$DVPE_HOOK_TEST_OUT/down-ran\"");
    const config cfg = make_config(_d, "node-down = node-down\n");
    hook_runner r(cfg, fast_opts());
    r.on_if_up("dvpe0", 1434);
    r.on_node_up(2, "udp/10.77.0.2:655", "10.77.0.2", 655);
    r.on_node_change(2, "udp/10.77.0.2:655", "10.77.0.2", 655);
    r.on_node_down(2, "udp/10.77.0.2:655", "10.77.0.2", 655);
    r.on_node_up(2, "udp/10.77.0.2:655", "10.77.0.2", 655);  // again: counted again, warned once
    ASSERT_TRUE(run_until_idle(r));
    EXPECT_EQ(r.counters().missing, 4U);
    EXPECT_EQ(r.counters().started, 1U);
    EXPECT_EQ(r.counters().succeeded, 1U);
    EXPECT_EQ(r.counters().failed, 0U);
    EXPECT_FALSE(std::filesystem::exists(out("must-not-run")));
    EXPECT_TRUE(std::filesystem::exists(out("down-ran")));

    // The script appears later (e.g. the admin fixes it): the next event runs it.
    write_script(_d / "node-up", "touch \"$DVPE_HOOK_TEST_OUT/up-ran\"");
    r.on_node_up(2, "udp/10.77.0.2:655", "10.77.0.2", 655);
    ASSERT_TRUE(run_until_idle(r));
    EXPECT_TRUE(std::filesystem::exists(out("up-ran")));
    EXPECT_EQ(r.counters().missing, 4U);
}

TEST_F(HookRunner, QueueOverflowCounted) {
    write_script(_d / "node-up", "exit 0");
    const config cfg = make_config(_d);
    hook_runner r(cfg, fast_opts(5s, 300ms, 4));
    // Limits both sides: 4 fit, the 5th..10th are dropped; after the queue drains there is room.
    for (unsigned i = 0; i < 10; ++i) {
        r.on_node_up(2, "udp/10.77.0.2:655", "10.77.0.2", 655);
        EXPECT_EQ(r.pending(), std::min(i + 1, 4U)) << "event " << i;
    }
    EXPECT_EQ(r.counters().queued, 4U);
    EXPECT_EQ(r.counters().dropped, 6U);
    // The bound is on runs waiting: once one is running there is room for exactly one more.
    r.poll();
    EXPECT_TRUE(r.running());
    r.on_node_up(2, "udp/10.77.0.2:655", "10.77.0.2", 655);
    EXPECT_EQ(r.counters().queued, 5U);
    EXPECT_EQ(r.pending(), 5U);
    r.on_node_up(2, "udp/10.77.0.2:655", "10.77.0.2", 655);
    EXPECT_EQ(r.counters().dropped, 7U);
    ASSERT_TRUE(run_until_idle(r));
    EXPECT_EQ(r.counters().succeeded, 5U);
    r.on_node_up(2, "udp/10.77.0.2:655", "10.77.0.2", 655);  // a new burst: accepted again
    EXPECT_EQ(r.counters().queued, 6U);
    ASSERT_TRUE(run_until_idle(r));
    EXPECT_EQ(r.counters().succeeded, 6U);
    EXPECT_EQ(r.counters().dropped, 7U);
}

TEST_F(HookRunner, DrainRunsEverythingQueued) {
    write_script(_d / "node-up", "echo \"$DESTID\" >> \"$DVPE_HOOK_TEST_OUT/drained\"");
    const config cfg = make_config(_d);
    hook_runner r(cfg, fast_opts());
    for (unsigned i = 1; i <= 3; ++i) {
        r.on_node_up(i, "udp/10.77.0.2:655", "10.77.0.2", 655);
    }
    r.drain(5s);
    EXPECT_EQ(r.pending(), 0U);
    EXPECT_EQ(r.counters().succeeded, 3U);
    EXPECT_EQ(r.counters().dropped, 0U);
    EXPECT_EQ(read_file(out("drained")), "1\n2\n3\n");
}

TEST_F(HookRunner, DrainGivesUpAfterMax) {
    write_script(_d / "node-up", "sleep 30");
    const config cfg = make_config(_d);
    hook_runner r(cfg, fast_opts(30s, 2s));
    for (unsigned i = 1; i <= 3; ++i) {
        r.on_node_up(i, "udp/10.77.0.2:655", "10.77.0.2", 655);
    }
    const auto t0 = clock_type::now();
    r.drain(200ms);
    const auto took = clock_type::now() - t0;
    EXPECT_GE(took, 200ms);
    EXPECT_LT(took, 2s);
    EXPECT_EQ(r.pending(), 0U);
    EXPECT_FALSE(r.running());
    EXPECT_EQ(r.counters().started, 1U);
    EXPECT_EQ(r.counters().timed_out, 1U);  // the running one, killed
    EXPECT_EQ(r.counters().dropped, 2U);    // the two still queued
}

TEST_F(HookRunner, ScriptGetsDefaultSignalsAndNoStdin) {
    // The daemon ignores SIGPIPE; the script must not inherit that (nor a blocked mask).
    ::signal(SIGPIPE, SIG_IGN);
    // grep reads its own status after exec: it has the mask the script's shell had, without
    // racing that shell (reading /proc/$$/status from a child caught the shell mid-fork with
    // every signal blocked, once under ASan timing).
    write_script(_d / "node-up",
                 "if read -r line; then echo got > \"$DVPE_HOOK_TEST_OUT/stdin\"; else echo eof > "
                 "\"$DVPE_HOOK_TEST_OUT/stdin\"; fi\n"
                 "exec grep -E '^(SigIgn|SigBlk)' /proc/self/status > \"$DVPE_HOOK_TEST_OUT/sig\"");
    const config cfg = make_config(_d);
    hook_runner r(cfg, fast_opts());
    r.on_node_up(2, "udp/10.77.0.2:655", "10.77.0.2", 655);
    ASSERT_TRUE(run_until_idle(r));
    ::signal(SIGPIPE, SIG_DFL);
    // Signals 1..31 (glibc keeps its internal real-time signals 32 and 33 as they are).
    std::istringstream in(read_file(out("sig")));
    std::map<std::string, uint64_t> masks;
    for (std::string name, hex; in >> name >> hex;) {
        masks[name] = std::stoull(hex, nullptr, 16);
    }
    ASSERT_EQ(masks.size(), 2U);
    EXPECT_EQ(masks["SigBlk:"] & 0x7fffffffULL, 0U);
    EXPECT_EQ(masks["SigIgn:"] & 0x7fffffffULL, 0U) << "SIGPIPE bit: " << (1ULL << (SIGPIPE - 1));
    EXPECT_EQ(read_file(out("stdin")), "eof\n");
}

TEST_F(HookRunner, ConfdirWithSpacesAndQuotes) {
    // A value in gvpe.conf has no spaces, but CONFDIR (-c) may: the path is one shell word.
    const std::string odd = _d / "it's a \"conf\" dir $HOME";
    write_script(odd + "/node-down", "touch \"$DVPE_HOOK_TEST_OUT/odd-ran\"");
    const config cfg = make_config(odd, "node-down = node-down\n");
    hook_runner r(cfg, fast_opts());
    r.on_node_down(2, "udp/10.77.0.2:655", "10.77.0.2", 655);
    ASSERT_TRUE(run_until_idle(r));
    EXPECT_EQ(r.counters().succeeded, 1U);
    EXPECT_TRUE(std::filesystem::exists(out("odd-ran")));
}

}  // namespace
}  // namespace control
