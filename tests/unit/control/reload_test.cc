// SPDX-License-Identifier: MIT
// control/reload.hh: which differences between two configs need a restart, and how the live
// ones are reported. Configs are loaded through the real parser and validator.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "control/config.hh"
#include "control/reload.hh"

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
