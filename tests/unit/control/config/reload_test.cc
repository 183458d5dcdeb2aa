// SPDX-License-Identifier: MIT
// control/config/reload.hh: which differences between two configs need a restart, and how the live
// ones are reported. Configs are loaded through the real parser and validator. prepare_reload
// on a real directory: any unusable configuration or key file refuses the whole reload.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <string>
#include <vector>

#include "control/config/config.hh"
#include "control/config/keys.hh"
#include "control/config/reload.hh"

using namespace control;

namespace {

const std::string base =
    "enable-udp = yes\n"
    "mtu = 1500\n"
    "ifname = dvpe0\n"
    "port = wan0 wan net_null0\n"
    "port = tap0 overlay net_tap0\n"
    "node = a\n"
    "hostname = 10.0.0.1\n"
    "wan-address = wan0 10.0.0.1/24\n"
    "node = b\n"
    "hostname = 10.0.0.2\n"
    "wan-address = wan0 10.0.0.2/24\n";

/// base with `line` added to node a's section (the local node) or to the globals at the top.
std::string with_a(const std::string& line) {
    std::string t = base;
    t.insert(t.find("node = b"), line + "\n");
    return t;
}
std::string with_global(const std::string& from, const std::string& to) {
    std::string t = base;
    t.replace(t.find(from), from.size(), to);
    return t;
}

config load(const std::string& text) {
    load_options o;
    o.confdir = "/nonexistent-dvpe-confdir";
    o.nodename = "a";
    o.n_cpus = 4;
    auto r = load_config_text(text, "t.conf", o);
    EXPECT_TRUE(r.has_value()) << text;
    return r.has_value() ? std::move(r).value() : config{};
}

bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

std::string all(const std::vector<std::string>& v) {
    std::string r;
    for (const auto& s : v) {
        r += s + "\n";
    }
    return r;
}

}  // namespace

TEST(Reload, SameConfigChangesNothing) {
    config a = load(base), b = load(base);
    EXPECT_TRUE(restart_only_changes(a, b).empty());
    EXPECT_TRUE(live_changes(a, b).empty());
}

TEST(Reload, EngineAndPacketShapingSettingsNeedARestart) {
    config a = load(base);
    struct {
        std::string text, expect;
    } cases[] = {
        {with_global("mtu = 1500", "mtu = 1400"), "mtu: 1500 -> 1400"},
        {"cipher = chacha20-poly1305\n" + base, "cipher: aes256-gcm -> chacha20-poly1305"},
        {"ip-proto = 50\n" + base, "ip-proto: 47 -> 50"},
        {"worker-lcores = 1,2\n" + base, "worker-lcores: 1 -> 1,2"},
        {"burst-size = 64\n" + base, "burst-size: 32 -> 64"},
        {"enable-rawip = yes\n" + base, "enable-*: udp -> udp,rawip"},
        {with_a("udp-port = 700"), "udp-port: 655 -> 700"},
        {with_a("wan-fragment = yes"), "wan-fragment: no -> yes"},
        {with_a("hostname = 10.0.0.5\nwan-address = wan0 10.0.0.5/24"), "hostname: 10.0.0.1 -> 10.0.0.5"},
    };
    for (const auto& c : cases) {
        config b = load(c.text);
        auto r = restart_only_changes(a, b);
        EXPECT_TRUE(has(r, c.expect)) << c.text << "got:\n" << all(r);
    }
}

TEST(Reload, PeerAndSessionSettingsApplyLive) {
    config a = load(base);
    config b = load("serial = 2026\nkeepalive = 30\n" + base +
                    "connect = ondemand\nrouter-priority = 1\n"
                    "node = c\nhostname = 10.0.0.3\n");
    EXPECT_TRUE(restart_only_changes(a, b).empty()) << all(restart_only_changes(a, b));
    auto l = live_changes(a, b);
    EXPECT_TRUE(has(l, "serial: (none) -> 2026")) << all(l);
    EXPECT_TRUE(has(l, "keepalive: 60 -> 30")) << all(l);
    EXPECT_TRUE(has(l, "b: connect: always -> ondemand")) << all(l);
    EXPECT_TRUE(has(l, "b: router-priority: 0 -> 1")) << all(l);
    EXPECT_TRUE(has(l, "added c (id 3)")) << all(l);
    auto back = live_changes(b, a);
    EXPECT_TRUE(has(back, "removed c (id 3)")) << all(back);
}

TEST(Reload, SiteGatewaySettings) {
    // The LAN port, its addresses and the MAC table sizes shape the engine: restart.
    const std::string lan = "port = lan0 route net_null1\nlan-address = lan0 10.1.0.1/24";
    config a = load(with_a(lan));
    struct {
        std::string text, expect;
    } restart[] = {
        {with_a("port = lan0 bridge net_null1"), "port: wan0 wan net_null0, tap0 overlay net_tap0, lan0 route net_null1 -> "
                                                 "wan0 wan net_null0, tap0 overlay net_tap0, lan0 bridge net_null1"},
        {with_a(lan + "\nlan-address = lan0 2001:db8:1::1/64"),
         "lan-address: lan0 10.1.0.1/24 -> lan0 10.1.0.1/24, lan0 2001:db8:1::1/64"},
        {with_a(lan + "\nmac-table-size = 1024"), "mac-table-size: 16384 -> 1024"},
        {with_a(lan + "\nmac-limit-per-peer = 10"), "mac-limit-per-peer: 4096 -> 10"},
        {with_a(lan + "\nmac-age = 60"), "mac-age: 300 -> 60"},
    };
    for (const auto& c : restart) {
        config b = load(c.text);
        auto r = restart_only_changes(a, b);
        EXPECT_TRUE(has(r, c.expect)) << c.text << "got:\n" << all(r);
    }
    // Routes and static MACs of any node are rebuilt live.
    config b = load(with_a(lan + "\nroute = 10.1.0.0/24\nbridge-mac = 02:00:00:00:00:01") +
                    "route = 10.2.0.0/16\nroute = 2001:db8:2::/48\n");
    EXPECT_TRUE(restart_only_changes(a, b).empty()) << all(restart_only_changes(a, b));
    auto l = live_changes(a, b);
    EXPECT_TRUE(has(l, "a (this node): route: (none) -> 10.1.0.0/24")) << all(l);
    EXPECT_TRUE(has(l, "a (this node): bridge-mac: (none) -> 02:00:00:00:00:01")) << all(l);
    EXPECT_TRUE(has(l, "b: route: (none) -> 10.2.0.0/16, 2001:db8:2::/48")) << all(l);
}

TEST(Reload, ARenamedPositionIsARemovalAndAnAddition) {
    config a = load(base);
    std::string renamed = base;
    renamed.replace(renamed.find("node = b"), 8, "node = x");
    config b = load(renamed);
    auto l = live_changes(a, b);
    EXPECT_TRUE(has(l, "removed b (id 2)")) << all(l);
    EXPECT_TRUE(has(l, "added x (id 2)")) << all(l);
    EXPECT_TRUE(path_inputs_changed(a.nodes[1], b.nodes[1]));
}

TEST(Reload, PathInputs) {
    config a = load(base);
    config moved = load(base + "hostname = 10.0.0.9\n");
    EXPECT_TRUE(path_inputs_changed(a.nodes[1], moved.nodes[1]));
    config denied = load(base + "deny-direct = a\n");
    EXPECT_TRUE(path_inputs_changed(a.nodes[1], denied.nodes[1]));
    config prio = load(base + "router-priority = 3\n");
    EXPECT_FALSE(path_inputs_changed(a.nodes[1], prio.nodes[1]));
}

// ---- prepare_reload: every file is read and checked before anything applies ----------------------

namespace {

/// A configuration directory with base + node c, keys for a, b and c (hostkeys/%s, mode 0600).
class reload_dir {
public:
    reload_dir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "dvpe-reload-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path = tmpl;
        text = "private-key = hostkeys/%s\n" + base + "node = c\nhostname = 10.0.0.3\n";
        write("gvpe.conf", text);
        from.confdir = path;
        from.nodename = "a";
        from.n_cpus = 4;
        auto cfg = load_config(from);
        EXPECT_TRUE(cfg.has_value());
        auto g = generate_missing_keys(*cfg);
        EXPECT_TRUE(g.has_value()) << (g ? "" : g.error());
        running = std::move(cfg.value());
        auto kp = load_node_keys(running);
        EXPECT_TRUE(kp.has_value()) << (kp ? "" : kp.error());
        pub = kp->pub.bytes;
    }
    ~reload_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    void write(const std::string& rel, const std::string& content) const {
        std::filesystem::remove(path + "/" + rel);
        std::ofstream(path + "/" + rel) << content;
    }
    std::string read(const std::string& rel) const {
        std::ifstream f(path + "/" + rel);
        return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
    }
    /// prepare_reload on another thread: a reload that blocks (on a FIFO) fails the test, and
    /// the FIFO is then opened for writing so the reader sees end of file and returns.
    result<reload_plan, reload_refusal> prepare(const std::string& fifo = "") const {
        auto fut = std::async(std::launch::async, [&] { return prepare_reload(running, from, pub); });
        if (fut.wait_for(std::chrono::seconds(5)) == std::future_status::timeout) {
            ADD_FAILURE() << "the reload blocked";
            while (!fifo.empty() && fut.wait_for(std::chrono::milliseconds(100)) == std::future_status::timeout) {
                int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
                if (w >= 0) {
                    ::close(w);
                }
            }
        }
        return fut.get();
    }
    /// The reload is refused with \p why and a detail containing every one of \p words.
    void expect_refused(const std::string& why, const std::vector<std::string>& words, const std::string& fifo = "") {
        auto r = prepare(fifo);
        ASSERT_FALSE(r.has_value()) << "applied although it should be refused: " << all(r->changes);
        EXPECT_EQ(r.error().why, why);
        std::string details = all(r.error().details);
        for (const auto& w : words) {
            EXPECT_NE(details.find(w), std::string::npos) << "'" << w << "' not in:\n" << details;
        }
    }
    void expect_applies(size_t n_peer_keys = 2) {
        auto r = prepare();
        ASSERT_TRUE(r.has_value()) << r.error().why << "\n" << all(r.error().details);
        EXPECT_EQ(r->peer_keys.size(), n_peer_keys);
        EXPECT_TRUE(r->changes.empty()) << all(r->changes);
    }

    std::string path, text;
    load_options from;
    config running;
    std::array<uint8_t, x25519_key_bytes> pub{};
};

}  // namespace

TEST(PrepareReload, AnUnchangedDirectoryApplies) {
    reload_dir d;
    d.expect_applies();
}

TEST(PrepareReload, AnyUnusableKeyFileRefusesTheWholeReload) {
    // Before, a peer whose key did not load was dropped with a warning and the reload said ok.
    reload_dir d;
    const std::string c = d.path + "/pubkey/c";
    const std::string good = d.read("pubkey/c");
    d.write("pubkey/c", good.substr(0, 20) + "\n");  // truncated
    d.expect_refused("a key file cannot be used", {"node c: public key file " + c, "decodes to 15 bytes"});
    d.write("pubkey/c", "-----BEGIN GARBAGE-----\n");
    d.expect_refused("a key file cannot be used", {"node c: public key file " + c, "not valid base64"});
    d.write("pubkey/c", "");
    d.expect_refused("a key file cannot be used", {"node c: public key file " + c + " is empty"});
    std::filesystem::remove(c);
    d.expect_refused("a key file cannot be used", {"node c: cannot read key file " + c + ": No such file"});
    ASSERT_EQ(::mkfifo(c.c_str(), 0644), 0);
    d.expect_refused("a key file cannot be used", {"node c: key file " + c + " is not a regular file"}, c);
    std::filesystem::remove(c);
    std::filesystem::create_symlink(c, c);  // unreadable even for root: ELOOP
    d.expect_refused("a key file cannot be used", {"node c: cannot read key file " + c + ": Too many levels"});
    std::filesystem::remove(c);
    d.write("pubkey/c", std::string(5000, 'A'));
    d.expect_refused("a key file cannot be used", {"key file " + c + " is too large to be a key"});
    d.write("pubkey/c", good);
    d.expect_applies();
    // Two bad files: both are named.
    d.write("pubkey/b", "x\n");
    d.write("pubkey/c", "y\n");
    d.expect_refused("a key file cannot be used", {"node b: public key file " + d.path + "/pubkey/b",
                                                   "node c: public key file " + c});
}

TEST(PrepareReload, OurPrivateKeyMustBeUsableAndPrivate) {
    reload_dir d;
    const std::string a = d.path + "/hostkeys/a";
    ASSERT_EQ(::chmod(a.c_str(), 0644), 0);
    d.expect_refused("a key file cannot be used",
                     {"private key file " + a + " is accessible by group or others (mode 0644); chmod 600 it"});
    ASSERT_EQ(::chmod(a.c_str(), 0600), 0);
    d.expect_applies();
    // Another valid pair for this node: a restart-only change.
    auto other = make_keypair();
    ASSERT_TRUE(other.has_value());
    std::filesystem::remove(a);
    std::filesystem::remove(d.path + "/pubkey/a");
    ASSERT_TRUE(write_private_key(a, other->priv).has_value());
    ASSERT_TRUE(write_public_key(d.path + "/pubkey/a", other->pub).has_value());
    d.expect_refused("these settings need a restart of dvped", {"private key: the key pair of this node changed"});
}

TEST(PrepareReload, FifoHugeAndUnreadableConfigurationFilesAreRefused) {
    reload_dir d;
    const std::string fifo = d.path + "/fifo.conf";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
    d.write("gvpe.conf", d.text + "include fifo.conf\n");
    d.expect_refused("the configuration has errors",
                     {"gvpe.conf:15: include 'fifo.conf': cannot read '" + fifo + "': not a regular file (a FIFO)"}, fifo);
    d.write("huge.conf", std::string(1024 * 1024 + 1, '#'));
    d.write("gvpe.conf", d.text + "include huge.conf\n");
    d.expect_refused("the configuration has errors", {"gvpe.conf:15: include 'huge.conf'", "larger than 1048576 bytes"});
    const std::string loop = d.path + "/loop.conf";
    std::filesystem::create_symlink(loop, loop);
    d.write("gvpe.conf", d.text + "include loop.conf\n");
    d.expect_refused("the configuration has errors", {"gvpe.conf:15: include 'loop.conf'", "Too many levels"});
    if (::geteuid() != 0) {  // root reads mode 000 files
        d.write("secret.conf", "mtu = 1500\n");
        ::chmod((d.path + "/secret.conf").c_str(), 0);
        d.write("gvpe.conf", d.text + "include secret.conf\n");
        d.expect_refused("the configuration has errors", {"include 'secret.conf'", "Permission denied"});
    }
    d.write("gvpe.conf", d.text);
    d.expect_applies();
}
