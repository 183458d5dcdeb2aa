// SPDX-License-Identifier: MIT
// The dvpectl binary end to end: usage errors (exit 2), an absent daemon (exit 1), every command
// against an in-process control_server answering with the fixed replies of docs/control.md,
// --watch with --count and with SIGINT, the socket path from a configuration, and keygen.
// The binary's path comes from $DVPECTL (set by meson); without it these tests are skipped.
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "control/ctl/ctl_format.hh"
#include "control/config/keys.hh"
#include "tests/unit/control/ctl/control_test_util.hh"

extern char** environ;

namespace control {
namespace {

using nlohmann::json;
using test::temp_dir;

struct child {
    pid_t pid = -1;
    int out = -1, err = -1;
};

struct outcome {
    int code = -1;
    std::string out, err;
};

const char* dvpectl_path() { return std::getenv("DVPECTL"); }

child spawn(const std::vector<std::string>& args) {
    int o[2], e[2];
    if (::pipe2(o, O_CLOEXEC) != 0 || ::pipe2(e, O_CLOEXEC) != 0) {
        throw std::runtime_error("pipe");
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, o[1], 1);
    posix_spawn_file_actions_adddup2(&fa, e[1], 2);
    std::vector<std::string> all{dvpectl_path()};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    child c;
    if (posix_spawn(&c.pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) {
        throw std::runtime_error("posix_spawn");
    }
    posix_spawn_file_actions_destroy(&fa);
    ::close(o[1]);
    ::close(e[1]);
    c.out = o[0];
    c.err = e[0];
    return c;
}

outcome finish(child c) {
    outcome r;
    pollfd p[2] = {{c.out, POLLIN, 0}, {c.err, POLLIN, 0}};
    int open = 2;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (open > 0 && std::chrono::steady_clock::now() < deadline) {
        if (::poll(p, 2, 100) <= 0) {
            continue;
        }
        for (int i = 0; i < 2; ++i) {
            if (p[i].fd >= 0 && p[i].revents != 0) {
                char buf[4096];
                ssize_t n = ::read(p[i].fd, buf, sizeof buf);
                if (n > 0) {
                    (i == 0 ? r.out : r.err).append(buf, size_t(n));
                } else {
                    ::close(p[i].fd);
                    p[i].fd = -1;
                    --open;
                }
            }
        }
    }
    if (open > 0) {
        ::kill(c.pid, SIGKILL);
    }
    int status = 0;
    ::waitpid(c.pid, &status, 0);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

outcome run(const std::vector<std::string>& args) { return finish(spawn(args)); }

#define REQUIRE_DVPECTL()                                           \
    do {                                                            \
        if (dvpectl_path() == nullptr) {                            \
            GTEST_SKIP() << "DVPECTL is not set (run through meson)"; \
        }                                                           \
    } while (0)

/// A daemon stand-in: `status` counts up (uptime +1 s and counters x(n+1) per call), `config`.
std::unique_ptr<test::polled_server> fake_daemon(const std::string& path) {
    auto r = control_server::open(path);
    if (!r) {
        throw std::runtime_error(r.error());
    }
    auto calls = std::make_shared<uint64_t>(0);
    r.value()->add_command("status", "counters", [calls](const json&) {
        ++*calls;
        return test::sample_status(10.0 + double(*calls), *calls);
    });
    r.value()->add_command("config", "node table", [](const json&) { return test::sample_config(); });
    r.value()->add_command("peers", "peer table", [](const json&) { return test::sample_peers(); });
    return std::make_unique<test::polled_server>(std::move(r.value()));
}

TEST(dvpectl, help) {
    REQUIRE_DVPECTL();
    auto r = run({"--help"});
    EXPECT_EQ(r.code, 0);
    for (const char* s : {"status [--json] [--watch [SECONDS]] [--count N]", "config [--json]", "keygen -g FILE",
                          "keygen -G", "raw JSON", "-S, --socket PATH", "-c, --config DIR"}) {
        EXPECT_NE(r.out.find(s), std::string::npos) << s;
    }
}

TEST(dvpectl, usage_errors_exit_2) {
    REQUIRE_DVPECTL();
    struct usage_case {
        std::vector<std::string> args;
        std::string message;
    };
    const usage_case cases[] = {
        /* 0 */ {{}, "no command given"},
        /* 1 */ {{"--bogus", "status"}, "unknown option --bogus"},
        /* 2 */ {{"-c"}, "option -c needs a value"},
        /* 3 */ {{"-t", "abc", "status"}, "-t needs a number up to 3600000, not 'abc'"},
        /* 4 */ {{"alpha"}, "no command given after node name 'alpha'"},
        /* 5 */ {{"alpha", "frobnicate"}, "unknown command 'frobnicate'"},
        /* 6 */ {{"-S", "x", "status", "--nope"}, "status: unknown argument '--nope'"},
        /* 7 */ {{"-S", "x", "status", "--watch=0"}, "--watch needs a number of seconds from 0.1 to 86400, not '0'"},
        /* 8 */ {{"-S", "x", "status", "--count", "0"}, "--count needs a number of at least 1"},
        /* 9 */ {{"-S", "x", "status", "--count"}, "--count needs a number"},
        /* 10 */ {{"-S", "x", "config", "--xml"}, "config: unknown argument '--xml'"},
        /* 11 */ {{"-S", "x", "raw"}, "raw needs exactly one argument"},
        /* 12 */ {{"-S", "x", "raw", "{"}, "raw: the request is not valid JSON"},
        /* 13 */ {{"keygen"}, "keygen needs either -g FILE or -G"},
        /* 14 */ {{"keygen", "-g"}, "keygen needs either -g FILE or -G"},
        /* 15 */ {{"-S", "x", "commands", "extra"}, "commands takes no arguments"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(::testing::PrintToString(c.args));
        auto r = run(c.args);
        EXPECT_EQ(r.code, 2);
        EXPECT_TRUE(r.err.starts_with("dvpectl: " + c.message)) << r.err;
        EXPECT_NE(r.err.find("Try 'dvpectl --help'"), std::string::npos);
        EXPECT_EQ(r.out, "");
    }
}

TEST(dvpectl, no_daemon_exit_1) {
    REQUIRE_DVPECTL();
    temp_dir dir;
    auto r = run({"-S", dir / "alpha.sock", "status"});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "dvpectl: cannot connect to " + (dir / "alpha.sock") +
                         ": No such file or directory (is dvped running?)\n");
}

TEST(dvpectl, status_config_commands_raw) {
    REQUIRE_DVPECTL();
    temp_dir dir;
    std::string sock = dir / "alpha.sock";
    auto d = fake_daemon(sock);

    auto st = run({"-S", sock, "status"});
    EXPECT_EQ(st.code, 0) << st.err;
    EXPECT_EQ(st.out, format_status(test::sample_status(11, 1)));

    auto js = run({"--socket=" + sock, "status", "--json"});
    EXPECT_EQ(js.code, 0) << js.err;
    EXPECT_EQ(json::parse(js.out), test::sample_status(12, 2));

    auto cf = run({"-S", sock, "config"});
    EXPECT_EQ(cf.code, 0) << cf.err;
    EXPECT_EQ(cf.out, format_config(test::sample_config()));

    auto cj = run({"-S", sock, "config", "--json"});
    EXPECT_EQ(cj.code, 0);
    EXPECT_EQ(json::parse(cj.out), test::sample_config());

    auto cmds = run({"-S", sock, "commands"});
    EXPECT_EQ(cmds.code, 0);
    EXPECT_EQ(cmds.out, "COMMAND  DESCRIPTION\nhelp     list the commands of this socket\nconfig   node table\n"
                        "peers    peer table\nstatus   counters\n");

    auto raw = run({"-S", sock, "raw", "{\"cmd\":\"config\"}"});
    EXPECT_EQ(raw.code, 0);
    EXPECT_EQ(json::parse(raw.out), test::sample_config());

    auto bad = run({"-S", sock, "raw", "{\"cmd\":\"nope\"}"});
    EXPECT_EQ(bad.code, 1);
    EXPECT_EQ(json::parse(bad.out), (json{{"ok", false}, {"error", "unknown command 'nope' (try help)"}}));
}

TEST(dvpectl, peers_all_one_json_and_unknown) {
    REQUIRE_DVPECTL();
    temp_dir dir;
    std::string sock = dir / "alpha.sock";
    auto d = fake_daemon(sock);
    auto all = run({"-S", sock, "peers"});
    EXPECT_EQ(all.code, 0) << all.err;
    EXPECT_EQ(all.out, format_peers(test::sample_peers()));
    auto one = run({"-S", sock, "peers", "gamma"});
    EXPECT_EQ(one.code, 0) << one.err;
    EXPECT_EQ(one.out, format_peers(test::sample_peers(), "gamma"));
    auto js = run({"-S", sock, "peers", "--json", "beta"});
    EXPECT_EQ(js.code, 0) << js.err;
    const json j = json::parse(js.out);
    ASSERT_EQ(j["peers"].size(), 1u);
    EXPECT_EQ(j["peers"][0], test::sample_peers()["peers"][0]);
    auto none = run({"-S", sock, "peers", "zeta"});
    EXPECT_EQ(none.code, 1);
    EXPECT_EQ(none.out, "");
    EXPECT_NE(none.err.find("no peer 'zeta'"), std::string::npos) << none.err;
    EXPECT_EQ(run({"-S", sock, "peers", "beta", "gamma"}).code, 2);
    EXPECT_EQ(run({"-S", sock, "peers", "--yaml"}).code, 2);
}

TEST(dvpectl, metrics_to_stdout_and_to_a_file) {
    REQUIRE_DVPECTL();
    temp_dir dir;
    std::string sock = dir / "alpha.sock";
    auto d = fake_daemon(sock);
    auto r = run({"-S", sock, "metrics"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, format_metrics(test::sample_status(11, 1), test::sample_peers(), DVPE_VERSION_FOR_TEST));
    const std::string file = dir / "dvpe.prom";
    auto f = run({"-S", sock, "metrics", "--prometheus", "--output", file});
    EXPECT_EQ(f.code, 0) << f.err;
    EXPECT_EQ(f.out, "");
    std::ifstream in(file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text, format_metrics(test::sample_status(12, 2), test::sample_peers(), DVPE_VERSION_FOR_TEST, true));
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
        EXPECT_EQ(e.path().filename().string().find("dvpe.prom.tmp"), std::string::npos) << "renamed: nothing left behind";
    }
    EXPECT_EQ(run({"-S", sock, "metrics", "--output", dir / "no/such/dir/x.prom"}).code, 1);
    EXPECT_EQ(run({"-S", sock, "metrics", "--output"}).code, 2);
    EXPECT_EQ(run({"-S", sock, "metrics", "--json"}).code, 2);
}

TEST(dvpectl, status_watch_count) {
    REQUIRE_DVPECTL();
    temp_dir dir;
    std::string sock = dir / "alpha.sock";
    auto d = fake_daemon(sock);
    auto r = run({"-S", sock, "status", "--watch", "0.1", "--count", "3"});
    EXPECT_EQ(r.code, 0) << r.err;
    // Not a terminal: samples separated by a blank line; the 2nd and 3rd show rates, the peers'
    // too (tinc top: the fake daemon's peers do not change, so 0 each)
    json s1 = test::sample_status(11, 1), s2 = test::sample_status(12, 2), s3 = test::sample_status(13, 3);
    const json p = test::sample_peers();
    const std::string peers = "\n" + format_peer_rates(p, p, 1.0);
    EXPECT_EQ(r.out, format_status(s1) + "\n" + format_status(s2, &s1) + peers + "\n" + format_status(s3, &s2) + peers);
    EXPECT_NE(r.out.find("(rates over 1.0 s)"), std::string::npos);
    EXPECT_NE(r.out.find("PEER     STATE       RX PPS"), std::string::npos) << r.out;
}

TEST(dvpectl, status_watch_stops_on_sigint) {
    REQUIRE_DVPECTL();
    temp_dir dir;
    std::string sock = dir / "alpha.sock";
    auto d = fake_daemon(sock);
    child c = spawn({"-S", sock, "status", "--watch", "0.1"});
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ::kill(c.pid, SIGINT);
    auto r = finish(c);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("(rates over"), std::string::npos);
}

TEST(dvpectl, kill_signals_the_dvped_of_the_pid_file_only) {
    REQUIRE_DVPECTL();
    temp_dir dir;
    {
        std::ofstream f(dir / "gvpe.conf");
        f << "enable-udp = yes\npid-file = " << dir.path() << "/%s.pid\n"
          << "port = wan0 wan net_null0\nport = tap0 overlay net_tap0\n"
          << "node = alpha\nhostname = 10.0.0.1\nwan-address = wan0 10.0.0.1/24\n";
    }
    // a process named dvped running node alpha (a script of that name: /proc/PID/comm and an
    // argument "alpha" in /proc/PID/cmdline are what is checked)
    const std::string exe = dir / "dvped";
    {
        std::ofstream f(exe);
        f << "#!/bin/sh\nwhile :; do sleep 0.1; done\n";
    }
    std::filesystem::permissions(exe, std::filesystem::perms::owner_all);
    char* argv[] = {const_cast<char*>(exe.c_str()), const_cast<char*>("alpha"), nullptr};
    pid_t pid = 0;
    ASSERT_EQ(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv, environ), 0);
    auto write_pid = [&](long p) {
        std::ofstream f(dir / "alpha.pid");
        f << p << "\n";
    };
    write_pid(pid);
    EXPECT_EQ(run({"-c", dir.path(), "alpha", "kill", "bogus"}).code, 2);
    EXPECT_EQ(run({"-c", dir.path(), "alpha", "kill", "TERM", "HUP"}).code, 2);
    EXPECT_EQ(run({"-c", dir.path(), "kill"}).code, 2) << "the node name is needed";
    // a stale pid file naming another process: nothing sent
    write_pid(::getpid());
    auto stale = run({"-c", dir.path(), "alpha", "kill", "KILL"});
    EXPECT_EQ(stale.code, 1);
    EXPECT_NE(stale.err.find("not dvped alpha: stale pid file, nothing sent"), std::string::npos) << stale.err;
    for (const char* junk : {"", "abc", "-5", "1", "99999999999"}) {
        std::ofstream(dir / "alpha.pid") << junk;
        EXPECT_EQ(run({"-c", dir.path(), "alpha", "kill"}).code, 1) << junk;
    }
    // another node's dvped (alpha's pid file left behind, beta's dvped got the pid): refused
    {
        std::ofstream f(dir / "gvpe.conf", std::ios::app);
        f << "node = beta\nhostname = 10.0.0.2\nwan-address = wan0 10.0.0.2/24\n";
    }
    write_pid(pid);
    std::filesystem::copy_file(dir / "alpha.pid", dir / "beta.pid");
    auto other = run({"-c", dir.path(), "beta", "kill"});
    EXPECT_EQ(other.code, 1);
    EXPECT_NE(other.err.find("not dvped beta"), std::string::npos) << other.err;
    // a FIFO at the pid file's path: refused at once, not read
    std::filesystem::remove(dir / "beta.pid");
    ASSERT_EQ(::mkfifo((dir / "beta.pid").c_str(), 0600), 0);
    EXPECT_EQ(run({"-c", dir.path(), "beta", "kill"}).code, 1);
    std::filesystem::remove(dir / "alpha.pid");
    auto missing = run({"-c", dir.path(), "alpha", "kill"});
    EXPECT_EQ(missing.code, 1);
    EXPECT_NE(missing.err.find("is dvped alpha running?"), std::string::npos) << missing.err;
    // the real one: sigterm (the default), as gvpectrl -k
    write_pid(pid);
    auto ok = run({"-c", dir.path(), "alpha", "kill"});
    EXPECT_EQ(ok.code, 0) << ok.err;
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
}

TEST(dvpectl, socket_path_from_config) {
    REQUIRE_DVPECTL();
    temp_dir dir;
    {
        std::ofstream f(dir / "gvpe.conf");
        f << "enable-udp = yes\ncontrol-socket = " << dir.path() << "/run/%s.sock\n"
          << "port = wan0 wan net_null0\nport = tap0 overlay net_tap0\n"
          << "node = alpha\nhostname = 10.0.0.1\nwan-address = wan0 10.0.0.1/24\n"
          << "node = beta\nhostname = 10.0.0.2\nwan-address = wan0 10.0.0.2/24\n";
    }
    auto d = fake_daemon(dir / "run/beta.sock");
    auto r = run({"-c", dir.path(), "beta", "config"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, format_config(test::sample_config()));
    // No daemon for alpha: config answers from the file (gvpectrl -s), saying so on stderr.
    auto off = run({"-c", dir.path(), "alpha", "config"});
    EXPECT_EQ(off.code, 0) << off.err;
    EXPECT_NE(off.out.find("this node:  alpha (id 1)\n"), std::string::npos) << off.out;
    EXPECT_NE(off.out.find("  2  fe:fd:80:00:00:02  always   beta   udp   10.0.0.2:655"), std::string::npos) << off.out;
    EXPECT_NE(off.err.find("the node table of the configuration in " + dir.path() + " instead"), std::string::npos)
        << off.err;
    // --offline never asks the daemon (beta has one) and needs a node name
    auto forced = run({"-c", dir.path(), "beta", "config", "--offline", "--json"});
    EXPECT_EQ(forced.code, 0) << forced.err;
    EXPECT_EQ(json::parse(forced.out)["node"], "beta");
    EXPECT_EQ(json::parse(forced.out)["nodes"].size(), 2u);
    EXPECT_EQ(run({"-c", dir.path(), "config", "--offline"}).code, 2);
    EXPECT_EQ(run({"-c", dir.path(), "gamma", "config", "--offline"}).code, 1) << "not a node of the file";
    // The other node's socket does not exist.
    auto a = run({"-c", dir.path(), "alpha", "status"});
    EXPECT_EQ(a.code, 1);
    EXPECT_EQ(a.err, "dvpectl: cannot connect to " + (dir / "run/alpha.sock") +
                         ": No such file or directory (is dvped running?)\n");
    // Without a node name: the only socket in the directory.
    auto only = run({"-c", dir.path(), "config"});
    EXPECT_EQ(only.code, 0) << only.err;
    // An unknown node is a configuration error.
    auto unknown = run({"-c", dir.path(), "gamma", "status"});
    EXPECT_EQ(unknown.code, 1);
    EXPECT_NE(unknown.err.find("unknown node 'gamma'"), std::string::npos) << unknown.err;
}

TEST(dvpectl, keygen_g) {
    REQUIRE_DVPECTL();
    temp_dir dir;
    std::string file = dir / "alpha";
    auto r = run({"keygen", "-g", file});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "public key:  " + file + "\nprivate key: " + file + ".privkey\n");
    auto priv = load_private_key(file + ".privkey");
    auto pub = load_public_key(file);
    ASSERT_TRUE(priv && pub);
    EXPECT_TRUE(check_keypair(*priv, *pub));
    auto again = run({"keygen", "-g", file});
    EXPECT_EQ(again.code, 1);
    EXPECT_EQ(again.err, "dvpectl: keygen: " + file + " already exists (refusing to overwrite a key file)\n");
}

TEST(dvpectl, keygen_G) {
    REQUIRE_DVPECTL();
    temp_dir dir;
    {
        std::ofstream f(dir / "gvpe.conf");
        f << "enable-udp = yes\nprivate-key = hostkeys/%s\nnode = alpha\nnode = beta\n";
    }
    auto r = run({"-c", dir.path(), "keygen", "-G"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "alpha: public key " + (dir / "pubkey/alpha") + ", private key " + (dir / "hostkeys/alpha") +
                         "\nbeta: public key " + (dir / "pubkey/beta") + ", private key " + (dir / "hostkeys/beta") +
                         "\n");
    auto again = run({"-c", dir.path(), "keygen", "-G"});
    EXPECT_EQ(again.code, 0);
    EXPECT_EQ(again.out, "every node has a public key; nothing generated\n");

    temp_dir dir2;
    {
        std::ofstream f(dir2 / "gvpe.conf");
        f << "enable-udp = yes\nnode = alpha\nnode = beta\n";  // private-key = hostkey (default)
    }
    auto refused = run({"-c", dir2.path(), "keygen", "-G"});
    EXPECT_EQ(refused.code, 1);
    EXPECT_NE(refused.err.find("has no %s"), std::string::npos) << refused.err;
}

}  // namespace
}  // namespace control
