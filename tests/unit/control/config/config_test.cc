// SPDX-License-Identifier: MIT
// Unit tests of the configuration (control/config/config.cc, control/config/config_validate.cc): every
// directive sets its field, the GVPE evaluation order (defaults copied at `node`, `global`,
// repeated `node`, `on`, `include`, command-line overrides), node ids, the defaults validation
// fills in, and every error path with its exact `file:line: message`. Table-driven where it
// fits (docs/design.md §11). Include tests use a private mkdtemp directory that is removed afterwards.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "control/config/config.hh"

#ifndef DVPE_SOURCE_ROOT
#define DVPE_SOURCE_ROOT "."
#endif

namespace control {
namespace {

// A valid one-node config; lines appended to it start at line 6, inside node alpha's section.
constexpr const char* base =
    "enable-udp = yes\n"                                // 1
    "node = alpha\n"                                    // 2
    "port = wan0 wan net_af_packet0,iface=veth0\n"      // 3
    "wan-address = wan0 10.0.0.1/24\n"                  // 4
    "port = tap0 overlay net_tap0\n";                   // 5

// Defaults with an engine layout before three nodes, so that each of them can be the local node.
constexpr const char* mesh =
    "enable-udp = yes\n"                                // 1
    "port = wan0 wan net_null0\n"                       // 2
    "wan-address = wan0 10.0.0.1/24\n"                  // 3
    "port = tap0 overlay net_tap0\n"                    // 4
    "node = a\n"                                        // 5
    "node = b\n"                                        // 6
    "node = c\n";                                       // 7

load_options opts(std::string nodename = "alpha", unsigned n_cpus = 4) {
    load_options o;
    o.confdir = "/nonexistent-dvpe-confdir";
    o.nodename = std::move(nodename);
    o.n_cpus = n_cpus;
    return o;
}

std::vector<std::string> strs(const std::vector<diagnostic>& v) {
    std::vector<std::string> r;
    for (const diagnostic& d : v) {
        r.push_back(d.str());
    }
    return r;
}

std::string joined(const std::vector<diagnostic>& v) {
    std::string r;
    for (const diagnostic& d : v) {
        r += d.str() + "\n";
    }
    return r;
}

/// Loads text that must be valid; fails the test with every error otherwise.
/// A host with eth0 (192.0.2.10/24, 2001:db8::10/64) carrying both default routes (the IPv6
/// one through a link-local router, as usual), CPUs 0-1, free hugepages.
host_facts test_host() {
    host_facts h;
    h.interfaces.push_back({"eth0", {{*ip_address::parse("192.0.2.10"), 24}, {*ip_address::parse("2001:db8::10"), 64}}});
    h.default_if4 = "eth0";
    h.default_if6 = "eth0";
    h.gateway4 = ip_address::parse("192.0.2.1");
    h.gateway6 = ip_address::parse("fe80::1");
    h.cpus = {0, 1};
    h.hugepages = true;
    return h;
}

config load_ok(const std::string& text, const load_options& o = opts()) {
    auto r = load_config_text(text, "t.conf", o);
    EXPECT_TRUE(r.has_value()) << (r.has_value() ? "" : joined(r.error())) << "in:\n" << text;
    return r.has_value() ? std::move(r).value() : config{};
}

/// Loads text that must be invalid; returns its errors as strings.
std::vector<std::string> load_errors(const std::string& text, const load_options& o = opts()) {
    auto r = load_config_text(text, "t.conf", o);
    EXPECT_FALSE(r.has_value()) << "expected errors for:\n" << text;
    return r.has_value() ? std::vector<std::string>{} : strs(r.error());
}

bool has_warning(const config& c, const std::string& w) {
    auto v = strs(c.warnings);
    return std::find(v.begin(), v.end(), w) != v.end();
}

/// A private directory under /tmp, removed with everything in it.
class temp_dir {
public:
    temp_dir() {
        char tmpl[] = "/tmp/dvpe-config-test-XXXXXX";
        char* p = ::mkdtemp(tmpl);
        EXPECT_NE(p, nullptr);
        _path = p != nullptr ? p : "/tmp";
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(_path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::string& path() const { return _path; }
    void write(const std::string& name, const std::string& text) const {
        std::ofstream(_path + "/" + name) << text;
    }
    load_options opts(std::string nodename = "alpha") const {
        load_options o = control::opts(std::move(nodename));
        o.confdir = _path;
        return o;
    }

private:
    std::string _path;
};

// ---------------------------------------------------------------------------------------------
// Every directive sets its field
// ---------------------------------------------------------------------------------------------

struct directive_case {
    const char* lines;  // appended to `base` (inside node alpha's section)
    std::function<bool(const config&, const node_conf&)> check;
};

const std::vector<directive_case>& directive_cases() {
    using C = const config&;
    using N = const node_conf&;
    static const std::vector<directive_case> cases = {
        // GVPE globals.
        {"loglevel = debug", [](C c, N) { return c.global.loglevel == log_level::debug && c.global.loglevel_set; }},
        {"loglevel = NOISE", [](C c, N) { return c.global.loglevel == log_level::noise; }},
        {"mtu = 1400", [](C c, N) { return c.global.mtu == 1400 && c.overlay_mtu() == 1334; }},
        {"mtu = 576", [](C c, N) { return c.global.mtu == 576; }},
        {"mtu = 9600", [](C c, N) { return c.global.mtu == 9600; }},
        {"ifname = vpn0", [](C c, N) { return c.global.ifname == "vpn0"; }},
        {"ifpersist = yes", [](C c, N) { return c.global.ifpersist; }},
        {"ip-proto = 51", [](C c, N) { return c.global.ip_proto == 51; }},
        {"icmp-type = 8", [](C c, N) { return c.global.icmp_type == 8; }},
        {"keepalive = 30", [](C c, N) { return c.global.keepalive == 30; }},
        {"rekey = 600.5", [](C c, N) { return c.global.rekey == 600.5; }},
        {"nfmark = 4294967295", [](C c, N) { return c.global.nfmark == 4294967295U; }},
        {"if-up = /etc/dvpe/if-up.%s", [](C c, N) { return c.global.if_up == "/etc/dvpe/if-up.%s"; }},
        {"node-up = node-up", [](C c, N) { return c.global.node_up == "node-up"; }},
        {"node-down = /usr/lib/dvpe/down", [](C c, N) { return c.global.node_down == "/usr/lib/dvpe/down"; }},
        {"node-change = change-%s", [](C c, N) { return c.global.node_change == "change-%s"; }},
        {"pid-file = /run/x-%s.pid", [](C c, N) { return c.global.pid_file == "/run/x-%s.pid"; }},
        {"private-key = hostkeys/%s", [](C c, N) { return c.global.private_key == "hostkeys/%s"; }},
        {"seed-device = /dev/random", [](C c, N) { return c.global.seed_device == "/dev/random"; }},
        {"seed-interval = 0", [](C c, N) { return c.global.seed_interval == 0; }},
        {"serial = 2024010100000000", [](C c, N) { return c.global.serial == "2024010100000000"; }},
        {"chroot = /var/empty", [](C c, N) { return c.global.chroot == "/var/empty"; }},
        {"chuid = 100", [](C c, N) { return c.global.chuid == "100"; }},
        {"chgid = 101", [](C c, N) { return c.global.chgid == "101"; }},
        {"chuser = nobody", [](C c, N) { return c.global.chuser == "nobody"; }},
        {"http-proxy-host = proxy", [](C c, N) { return c.global.http_proxy_host == "proxy"; }},
        {"http-proxy-port = 3128", [](C c, N) { return c.global.http_proxy_port == 3128; }},
        {"http-proxy-auth = me:pw", [](C c, N) { return c.global.http_proxy_auth == "me:pw"; }},
        {"dns-forw-host = 10.0.0.53", [](C c, N) { return c.global.dns_forw_host == "10.0.0.53"; }},
        {"dns-forw-port = 5353", [](C c, N) { return c.global.dns_forw_port == 5353; }},
        {"dns-case-preserving = no", [](C c, N) { return !c.global.dns_case_preserving; }},
        {"dns-max-outstanding = 50", [](C c, N) { return c.global.dns_max_outstanding == 50; }},
        {"dns-overlap-factor = 0.25", [](C c, N) { return c.global.dns_overlap_factor == 0.25; }},
        // Not GVPE's integer bug (docs/gvpe-migration.md "Where GVPE 3.1 differs", 4): 0.01 stays 0.01.
        {"dns-send-interval = 0.01", [](C c, N) { return c.global.dns_send_interval == 0.01; }},
        {"dns-timeout-factor = 4", [](C c, N) { return c.global.dns_timeout_factor == 4; }},
        // dvpe globals.
        {"cipher = chacha20-poly1305", [](C c, N) { return c.global.cipher == "chacha20-poly1305"; }},
        {"cipher = AES128-GCM", [](C c, N) { return c.global.cipher == "aes128-gcm"; }},
        {"cipher = null", [](C c, N) { return c.global.cipher == "null"; }},
        {"crypto-backend = libsodium", [](C c, N) { return c.global.crypto_backend == "libsodium"; }},
        {"control-socket = /tmp/%s.sock", [](C c, N) { return c.global.control_socket == "/tmp/%s.sock"; }},
        {"control-socket-group = prometheus", [](C c, N) { return c.global.control_socket_group == "prometheus"; }},
        // GVPE node-specific settings.
        {"hostname = 10.0.0.1", [](C, N n) { return n.hostname == "10.0.0.1" && n.hostname_where.line == 6; }},
        {"udp-port = 407", [](C, N n) { return n.udp_port == 407; }},
        {"udp-port = 0", [](C, N n) { return n.udp_port == 0; }},
        {"tcp-port = 443", [](C, N n) { return n.tcp_port == 443; }},
        {"dns-hostname = ns.example", [](C, N n) { return n.dns_hostname == "ns.example"; }},
        {"dns-port = 53", [](C, N n) { return n.dns_port == 53; }},
        {"dns-domain = t.example", [](C, N n) { return n.dns_domain == "t.example"; }},
        {"enable-rawip = yes", [](C, N n) { return n.protocols == (proto_udp | proto_rawip); }},
        {"enable-icmp = on", [](C, N n) { return n.protocols == (proto_udp | proto_icmp); }},
        {"enable-tcp = true", [](C, N n) { return n.protocols == (proto_udp | proto_tcp); }},
        {"enable-dns = 1", [](C, N n) { return n.protocols == (proto_udp | proto_dns); }},
        {"enable-rawip = yes\nenable-udp = no", [](C, N n) { return n.protocols == proto_rawip; }},
        {"connect = ondemand", [](C, N n) { return n.connect == connect_mode::ondemand; }},
        {"connect = never", [](C, N n) { return n.connect == connect_mode::never; }},
        {"connect = disabled", [](C, N n) { return n.connect == connect_mode::disabled; }},
        {"connect = never\nconnect = always", [](C, N n) { return n.connect == connect_mode::always; }},
        {"router-priority = 1\nconnect = never",
         [](C, N n) { return n.router_priority == 1 && n.connect == connect_mode::never; }},
        // docs/gvpe-migration.md "router-priority": >= 2 forces `always` unless disabled.
        {"router-priority = 2\nconnect = ondemand",
         [](C, N n) { return n.router_priority == 2 && n.connect == connect_mode::always; }},
        {"router-priority = 10\nconnect = disabled", [](C, N n) { return n.connect == connect_mode::disabled; }},
        {"allow-direct = *\nallow-direct = alpha",
         [](C, N n) {
             return n.allow_direct == std::vector<std::string>{"*", "alpha"} && n.allow_direct_where.size() == 2 &&
                    n.allow_direct_where[1].line == 7;
         }},
        {"deny-direct = *",
         [](C, N n) { return n.deny_direct == std::vector<std::string>{"*"} && n.deny_direct_where[0].line == 6; }},
        {"compress = no", [](C, N n) { return !n.compress; }},
        {"inherit-tos = yes", [](C, N n) { return n.inherit_tos; }},
        {"max-retry = 120", [](C, N n) { return n.max_retry == 120; }},
        {"max-ttl = 0.5", [](C, N n) { return n.max_ttl == 0.5; }},
        {"max-queue = 100", [](C, N n) { return n.max_queue == 100; }},
        {"max-queue = 0", [](C, N n) { return n.max_queue == 1; }},   // GVPE raises < 1 to 1
        {"max-queue = -5", [](C, N n) { return n.max_queue == 1; }},
        {"low-power = yes", [](C, N n) { return n.low_power; }},
        {"if-up-data = 10.1.0.1/16", [](C, N n) { return n.if_up_data == "10.1.0.1/16"; }},
        // dvpe node settings and the engine layout.
        {"node-id = 7", [](C, N n) { return n.id == 7 && n.explicit_id && n.id_where.line == 6; }},
        {"control-lcore = 2",
         [](C, N n) { return n.engine.control_lcore == 2 && n.engine.control_lcore_where.line == 6; }},
        {"worker-lcores = 1-3",
         [](C, N n) {
             return n.engine.worker_lcores == std::vector<unsigned>{1, 2, 3} && n.engine.worker_lcores_where.line == 6;
         }},
        {"worker-lcores = 3,1", [](C, N n) { return n.engine.worker_lcores == std::vector<unsigned>{3, 1}; }},
        {"worker-lcores = 1,2-3", [](C, N n) { return n.engine.worker_lcores == std::vector<unsigned>{1, 2, 3}; }},
        {"port = lan0 bridge 0000:01:00.0",
         [](C, N n) {
             const port_conf& p = n.engine.ports.at(2);
             return p.name == "lan0" && p.role == port_role::overlay && p.mode == overlay_mode::bridge &&
                    p.devargs == "0000:01:00.0" && p.where.line == 6 && n.engine.ports.at(1).mode == overlay_mode::host &&
                    n.engine.ports.at(0).mode == overlay_mode::host;
         }},
        {"port = lan0 route net_af_packet1,iface=eth1\nlan-address = lan0 10.1.0.1/24\n"
         "lan-address = lan0 2001:db8:1::1/64\nlan-address lan0 10.1.1.1",
         [](C, N n) {
             const port_conf& p = n.engine.ports.at(2);
             const auto& la = n.engine.lan_addresses;
             return p.role == port_role::overlay && p.mode == overlay_mode::route && la.size() == 3 &&
                    la[0].port == "lan0" && la[0].addr.str() == "10.1.0.1" && la[0].prefix == 24 &&
                    la[0].where.line == 7 && la[1].addr.v6 && la[1].prefix == 64 && la[2].prefix == 32 &&
                    n.engine.wan_addresses.size() == 1;
         }},
        {"port lan0 bridge net_virtio_user0,path=/dev/vhost-net,queue_size=1024,mac=02:00:00:00:00:01 # c",
         [](C, N n) {
             return n.engine.ports.at(2).devargs ==
                    "net_virtio_user0,path=/dev/vhost-net,queue_size=1024,mac=02:00:00:00:00:01";
         }},
        {"port = wan1 wan net_af_xdp0,iface=eth1,start_queue=0\nwan-address = wan1 2001:db8::2/64",
         [](C, N n) {
             const wan_address& a = n.engine.wan_addresses.at(1);
             return n.engine.ports.at(2).role == port_role::wan && a.port == "wan1" && a.addr.v6 &&
                    a.addr.str() == "2001:db8::2" && a.prefix == 64 && a.where.line == 7;
         }},
        {"wan-address = wan0 10.0.1.1",
         [](C, N n) { return n.engine.wan_addresses.at(1).prefix == 32 && n.engine.wan_addresses.at(1).addr.str() == "10.0.1.1"; }},
        {"wan-gateway = wan0 10.0.0.254",
         [](C, N n) {
             const wan_gateway& g = n.engine.wan_gateways.at(0);
             return g.port == "wan0" && g.addr.str() == "10.0.0.254" && g.where.line == 6;
         }},
        {"exception = wan0 ex0\nexception-rate = 500",
         [](C, N n) {
             const auto& x = n.engine.exceptions;
             return x.size() == 1 && x[0].port == "wan0" && x[0].ifname == "ex0" && x[0].where.line == 6 &&
                    n.engine.exception_rate == 500;
         }},
        {"neighbour = wan0 10.0.0.2 02:00:00:00:00:02",
         [](C, N n) {
             const neighbour_conf& nb = n.engine.neighbours.at(0);
             return nb.port == "wan0" && nb.addr.str() == "10.0.0.2" && mac_string(nb.mac) == "02:00:00:00:00:02";
         }},
        {"neighbor = wan0 10.0.0.3 0A-0B-0C-0D-0E-0F",
         [](C, N n) { return mac_string(n.engine.neighbours.at(0).mac) == "0a:0b:0c:0d:0e:0f"; }},
        {"worker-lcores = 1-2\nqueue-map = wan0 0 2\nqueue-map = wan0 1 1\nqueue-map = tap0 0 1",
         [](C, N n) {
             const auto& q = n.engine.queue_map;
             return q.size() == 3 && q[0].port == "wan0" && q[0].queue == 0 && q[0].lcore == 2 && q[1].queue == 1 &&
                    q[2].port == "tap0" && q[2].where.line == 9;
         }},
        {"burst-size = 64", [](C, N n) { return n.engine.burst_size == 64; }},
        {"burst-size = 1", [](C, N n) { return n.engine.burst_size == 1; }},
        {"burst-size = 256", [](C, N n) { return n.engine.burst_size == 256; }},
        {"rx-descriptors = 512", [](C, N n) { return n.engine.rx_descriptors == 512; }},
        {"rx-descriptors = 64", [](C, N n) { return n.engine.rx_descriptors == 64; }},
        {"tx-descriptors = 16384", [](C, N n) { return n.engine.tx_descriptors == 16384; }},
        {"mbufs = 100000",
         [](C, N n) { return n.engine.mbufs == 100000 && n.engine.mbufs_where.line == 6; }},
        {"mbuf-cache = 128", [](C, N n) { return n.engine.mbuf_cache == 128; }},
        {"mbuf-cache = 0", [](C, N n) { return n.engine.mbuf_cache == 0; }},
        {"hugepages = no", [](C, N n) { return !n.engine.hugepages; }},
        {"capture = yes", [](C, N n) { return n.engine.capture && n.engine.capture_where.line == 6; }},
        {"memory-mb = 256", [](C, N n) { return n.engine.memory_mb == 256; }},
        {"tx-drain-us = 50", [](C, N n) { return n.engine.tx_drain_us == 50; }},
        {"idle-sleep-us = 0", [](C, N n) { return n.engine.idle_sleep_us == 0; }},
        {"idle-polls = 10", [](C, N n) { return n.engine.idle_polls == 10; }},
        {"idle-wait = interrupt", [](C, N n) { return n.engine.idle_interrupt; }},
        {"idle-wait = interrupt\nidle-wait = sleep", [](C, N n) { return !n.engine.idle_interrupt; }},
        {"wan-fragment = yes", [](C, N n) { return n.engine.wan_fragment; }},
        {"eal-args = --no-pci --log-level=lib.eal:debug",
         [](C, N n) { return n.engine.eal_args == "--no-pci --log-level=lib.eal:debug"; }},
        {"eal-args = --no-pci\neal-args --in-memory",
         [](C, N n) { return n.engine.eal_args == "--no-pci --in-memory"; }},
        // Site gateways (docs/site-gateways.md).
        {"route = 10.1.0.0/24\nroute = 2001:db8:1::/48\nroute 10.2.0.1\nroute = 0.0.0.0/0",
         [](C, N n) {
             const auto& r = n.routes;
             return r.size() == 4 && r[0].addr.str() == "10.1.0.0" && r[0].prefix == 24 && r[0].where.line == 6 &&
                    r[1].addr.v6 && r[1].prefix == 48 && r[2].prefix == 32 && r[2].where.line == 8 &&
                    r[3].prefix == 0;
         }},
        {"bridge-mac = 02:00:00:00:00:01\nbridge-mac = 0A-0B-0C-0D-0E-0F",
         [](C, N n) {
             const auto& b = n.bridge_macs;
             return b.size() == 2 && mac_string(b[0].mac) == "02:00:00:00:00:01" && b[0].where.line == 6 &&
                    mac_string(b[1].mac) == "0a:0b:0c:0d:0e:0f" && b[1].where.line == 7;
         }},
        {"mac-table-size = 16", [](C, N n) { return n.engine.mac_table_size == 16; }},
        {"mac-table-size = 1048576", [](C, N n) { return n.engine.mac_table_size == 1048576; }},
        {"mac-limit-per-peer = 1",
         [](C, N n) { return n.engine.mac_limit_per_peer == 1 && n.engine.mac_limit_per_peer_where.line == 6; }},
        {"mac-limit-per-peer = 16384", [](C, N n) { return n.engine.mac_limit_per_peer == 16384; }},
        {"mac-age = 10", [](C, N n) { return n.engine.mac_age_s == 10; }},
        {"mac-age = 86400", [](C, N n) { return n.engine.mac_age_s == 86400; }},
    };
    return cases;
}

TEST(ConfigDirectives, EachSetsItsField) {
    for (size_t i = 0; i < directive_cases().size(); ++i) {
        const directive_case& dc = directive_cases()[i];
        SCOPED_TRACE("case " + std::to_string(i) + ": " + dc.lines);
        config c = load_ok(std::string(base) + dc.lines + "\n");
        ASSERT_EQ(c.nodes.size(), 1U);
        EXPECT_TRUE(dc.check(c, c.nodes[0]));
    }
}

TEST(ConfigDirectives, TableCoversEveryDirective) {
    std::set<std::string> tested;
    for (const directive_case& dc : directive_cases()) {
        std::istringstream in(dc.lines);
        std::string line;
        while (std::getline(in, line)) {
            tested.insert(line.substr(0, line.find_first_of(" =")));
        }
    }
    for (const directive_info& d : directives()) {
        if (d.scope != directive_scope::structural) {
            EXPECT_TRUE(tested.count(std::string(d.name)) != 0) << "no test case for " << d.name;
        }
    }
}

// A PCI wan port gets an exception interface named after it (the kernel lost that NIC); a
// virtual one does not, `off` turns the default off, an explicit one wins.
TEST(ConfigDirectives, ExceptionDefaultsForPciWanPorts) {
    auto with = [](const std::string& lines) {
        return load_ok("enable-udp = yes\nnode = alpha\nport = tap0 overlay net_tap0\n" + lines).self_node().engine.exceptions;
    };
    auto x = with("port = uplink wan 0000:01:00.0\nwan-address = uplink 10.0.0.1/24\n");
    ASSERT_EQ(x.size(), 1U);
    EXPECT_EQ(x[0].port, "uplink");
    EXPECT_EQ(x[0].ifname, "uplink");
    EXPECT_TRUE(with("port = uplink wan 01:00.0,x=1\nwan-address = uplink 10.0.0.1/24\nexception = uplink off\n").empty());
    x = with("port = uplink wan 01:00.0\nwan-address = uplink 10.0.0.1/24\nexception = uplink eth0\n");
    ASSERT_EQ(x.size(), 1U);
    EXPECT_EQ(x[0].ifname, "eth0");
    EXPECT_TRUE(with("port = wan0 wan net_af_packet0,iface=eth0\nwan-address = wan0 10.0.0.1/24\n").empty());
}

TEST(ConfigDirectives, DefaultsWithoutDirectives) {
    config c = load_ok(base);
    const node_conf& n = c.nodes[0];
    EXPECT_EQ(c.global.mtu, 1500U);
    EXPECT_EQ(c.global.cipher, "aes256-gcm");
    EXPECT_EQ(c.global.loglevel, log_level::info);
    EXPECT_FALSE(c.global.loglevel_set);
    EXPECT_EQ(n.udp_port, 655);
    EXPECT_EQ(n.connect, connect_mode::always);
    EXPECT_FALSE(n.inherit_tos);
    EXPECT_EQ(n.engine.worker_lcores, std::vector<unsigned>{1});
    EXPECT_EQ(n.engine.control_lcore, 0U);
    EXPECT_EQ(n.engine.burst_size, 32U);
    EXPECT_TRUE(n.engine.hugepages);
    EXPECT_EQ(n.engine.mac_table_size, 16384U);
    EXPECT_EQ(n.engine.mac_limit_per_peer, 4096U);
    EXPECT_EQ(n.engine.mac_age_s, 300U);
    EXPECT_TRUE(n.routes.empty());
    EXPECT_TRUE(n.bridge_macs.empty());
    EXPECT_TRUE(n.engine.lan_addresses.empty());
    EXPECT_TRUE(c.warnings.empty()) << joined(c.warnings);
}

TEST(ConfigDirectives, BooleanForms) {
    struct bool_case {
        const char* value;
        bool expected;
    };
    constexpr bool_case cases[] = {{"yes", true},  {"no", false},  {"true", true}, {"false", false},
                                   {"on", true},   {"off", false}, {"1", true},    {"0", false},
                                   {"YES", true},  {"No", false},  {"True", true}, {"OFF", false}};
    for (const bool_case& bc : cases) {
        SCOPED_TRACE(bc.value);
        config c = load_ok(std::string(base) + "inherit-tos = " + bc.value + "\n");
        EXPECT_EQ(c.nodes[0].inherit_tos, bc.expected);
        EXPECT_EQ(parse_bool(bc.value), bc.expected);
    }
    EXPECT_FALSE(parse_bool("y").has_value());
    EXPECT_FALSE(parse_bool("").has_value());
}

TEST(ConfigDirectives, IgnoredDirectivesWarnOnceWithLocation) {
    for (const directive_info& d : directives()) {
        if (d.support != directive_support::ignored) {
            continue;
        }
        SCOPED_TRACE(std::string(d.name));
        std::string line = std::string(d.name) + " = 1\n";  // a value every ignored directive accepts
        config c = load_ok(std::string(base) + line + line);
        std::string expected =
            "t.conf:6: " + std::string(d.name) + ": not supported by dvpe (" + std::string(d.note) + ") - ignored";
        EXPECT_EQ(strs(c.warnings), std::vector<std::string>{expected});
    }
}

TEST(ConfigDirectives, IgnoredDirectiveList) {
    std::vector<std::string> ignored;
    for (const directive_info& d : directives()) {
        if (d.support == directive_support::ignored) {
            ignored.emplace_back(d.name);
        }
    }
    std::vector<std::string> expected = {
        "ifpersist", "nfmark", "seed-device", "seed-interval", "chroot", "chuid", "chgid", "chuser",
        "dns-case-preserving", "dns-overlap-factor", "dns-hostname", "compress"};
    EXPECT_EQ(ignored, expected);
}

// ---------------------------------------------------------------------------------------------
// Syntax
// ---------------------------------------------------------------------------------------------

TEST(ConfigSyntax, KeyValueFormsCommentsAndBlankLines) {
    config c = load_ok(
        "# a comment\n"
        "\n"
        "   \t\n"
        "enable-udp yes\n"
        "mtu=1400\n"
        "keepalive\t=\t30\n"
        "  rekey = 100   # trailing comment\n"
        "node alpha\r\n"
        "port = wan0 wan net_null0\n"
        "wan-address = wan0 10.0.0.1/24\n");
    EXPECT_EQ(c.global.mtu, 1400U);
    EXPECT_EQ(c.global.keepalive, 30);
    EXPECT_EQ(c.global.rekey, 100);
    ASSERT_EQ(c.nodes.size(), 1U);
    EXPECT_EQ(c.nodes[0].name, "alpha");
    EXPECT_EQ(strs(c.warnings), std::vector<std::string>{"t.conf:8: node 'alpha': no overlay port: this node can only relay"});
}

TEST(ConfigSyntax, UnknownDirectiveWarns) {
    config c = load_ok(std::string(base) + "frobnicate = 3\nfrobnicate = 4\n");
    EXPECT_EQ(strs(c.warnings), (std::vector<std::string>{"t.conf:6: unknown configuration directive 'frobnicate' - ignored",
                                                          "t.conf:7: unknown configuration directive 'frobnicate' - ignored"}));
}

TEST(ConfigSyntax, ExtraTextAfterValueWarns) {
    config c = load_ok(std::string(base) + "mtu = 1400 1300\n");
    EXPECT_EQ(c.global.mtu, 1400U);
    EXPECT_EQ(strs(c.warnings), std::vector<std::string>{"t.conf:6: mtu: extra text '1300' after the value - ignored"});
}

TEST(ConfigSyntax, GlobalDirectiveInsideNodeSectionIsGlobal) {
    config c = load_ok(std::string(base) + "mtu = 1400\nnode = beta\n", opts(""));
    EXPECT_EQ(c.global.mtu, 1400U);
}

// ---------------------------------------------------------------------------------------------
// Evaluation order (docs/config.md "Evaluation model")
// ---------------------------------------------------------------------------------------------

TEST(ConfigEvaluation, NodeSectionsCopyTheDefaultsAtTheirStart) {
    config c = load_ok(
        "enable-udp = yes\n"
        "udp-port = 100\n"
        "node = a\n"
        "udp-port = 200\n"
        "node = b\n"
        "global\n"
        "udp-port = 300\n"  // a later default: does not reach a or b
        "node = c\n",
        opts(""));
    ASSERT_EQ(c.nodes.size(), 3U);
    EXPECT_EQ(c.nodes[0].udp_port, 200);
    EXPECT_EQ(c.nodes[1].udp_port, 100);
    EXPECT_EQ(c.nodes[2].udp_port, 300);
}

TEST(ConfigEvaluation, RepeatedNodeMergesIntoTheExistingSection) {
    config c = load_ok(
        "enable-udp = yes\n"
        "node = a\n"
        "udp-port = 1\n"
        "node = b\n"
        "global\n"
        "tcp-port = 9\n"
        "node = a\n"      // re-enter: no new id, no new copy of the defaults
        "router-priority = 2\n",
        opts(""));
    ASSERT_EQ(c.nodes.size(), 2U);
    EXPECT_EQ(c.nodes[0].name, "a");
    EXPECT_EQ(c.nodes[0].id, 1U);
    EXPECT_EQ(c.nodes[0].udp_port, 1);
    EXPECT_EQ(c.nodes[0].tcp_port, 655);
    EXPECT_EQ(c.nodes[0].router_priority, 2U);
    EXPECT_EQ(c.nodes[1].id, 2U);
}

TEST(ConfigEvaluation, OnNodeAndOnNotNode) {
    struct on_case {
        const char* nodename;
        unsigned mtu;
        const char* ifname;
        uint16_t b_port;
        size_t a_ports;
    };
    // `on` lines: mtu for a, ifname for everyone but a, b's udp-port when running as c, and a
    // rest-of-line directive (port) that only a gets.
    const std::string text = std::string(mesh) +
                             "on a mtu = 1000\n"
                             "on !a ifname = other\n"
                             "node = b\n"
                             "on c udp-port = 7\n"
                             "on !c udp-port = 8\n"
                             "node = a\n"
                             "on a port = lan0 bridge net_null1,size=64\n";
    constexpr on_case cases[] = {
        {"a", 1000, "", 8, 3},
        {"b", 1500, "other", 8, 2},
        {"c", 1500, "other", 7, 2},
        {"", 1500, "other", 8, 2},  // tools: `on NODE` never applies, `on !NODE` always does
    };
    for (const on_case& oc : cases) {
        SCOPED_TRACE(std::string("nodename '") + oc.nodename + "'");
        config c = load_ok(text, opts(oc.nodename));
        EXPECT_EQ(c.global.mtu, oc.mtu);
        EXPECT_EQ(c.global.ifname, oc.ifname);
        EXPECT_EQ(c.nodes[1].udp_port, oc.b_port);
        EXPECT_EQ(c.nodes[0].engine.ports.size(), oc.a_ports);
        if (oc.a_ports == 3) {
            EXPECT_EQ(c.nodes[0].engine.ports[2].devargs, "net_null1,size=64");
        }
    }
}

TEST(ConfigEvaluation, OnInDefaultsReachesEveryLaterNode) {
    const std::string text = "on b udp-port = 9\n" + std::string(mesh);
    for (const char* self : {"a", "b"}) {
        SCOPED_TRACE(self);
        config c = load_ok(text, opts(self));
        for (const node_conf& n : c.nodes) {
            EXPECT_EQ(n.udp_port, std::string(self) == "b" ? 9 : 655) << n.name;
        }
    }
}

TEST(ConfigEvaluation, OnUnknownNodeWarns) {
    config c = load_ok(std::string(base) + "on alhpa mtu = 1000\non !bteta mtu = 1200\n");
    EXPECT_EQ(c.global.mtu, 1200U);
    EXPECT_TRUE(has_warning(c, "t.conf:6: on: unknown node 'alhpa' - check the name"));
    EXPECT_TRUE(has_warning(c, "t.conf:7: on: unknown node 'bteta' - check the name"));
}

TEST(ConfigEvaluation, SelfIndexAndFindNode) {
    config c = load_ok(mesh, opts("b"));
    EXPECT_EQ(c.self, 1U);
    EXPECT_EQ(c.self_node().name, "b");
    EXPECT_EQ(c.nodename, "b");
    EXPECT_EQ(c.file, "t.conf");
    ASSERT_NE(c.find_node("c"), nullptr);
    EXPECT_EQ(c.find_node("c")->id, 3U);
    EXPECT_EQ(c.find_node("zz"), nullptr);
}

// ---------------------------------------------------------------------------------------------
// include
// ---------------------------------------------------------------------------------------------

TEST(ConfigInclude, PercentSNestedAndSectionState) {
    temp_dir d;
    d.write("node-a.conf", "udp-port = 111\ninclude inner.conf\n");
    d.write("inner.conf", "tcp-port = 222\nnode = z\n");  // the section stays z after returning
    d.write("100%.conf", "mtu = 1300\n");
    config c = load_ok(std::string(mesh) + "node = a\ninclude node-%s.conf\nrouter-priority = 3\nglobal\n"
                                           "include 100%%.conf\n",
                       d.opts("a"));
    const node_conf* a = c.find_node("a");
    const node_conf* z = c.find_node("z");
    ASSERT_NE(a, nullptr);
    ASSERT_NE(z, nullptr);
    EXPECT_EQ(a->udp_port, 111);
    EXPECT_EQ(a->tcp_port, 222);
    EXPECT_EQ(a->router_priority, 0U);
    EXPECT_EQ(z->router_priority, 3U);
    EXPECT_EQ(z->id, 4U);
    EXPECT_EQ(z->where.file, d.path() + "/inner.conf");
    EXPECT_EQ(z->where.line, 2);
    EXPECT_EQ(c.global.mtu, 1300U);
}

TEST(ConfigInclude, AbsolutePath) {
    temp_dir d;
    d.write("abs.conf", "mtu = 1280\n");
    config c = load_ok(std::string(base) + "include " + d.path() + "/abs.conf\n");
    EXPECT_EQ(c.global.mtu, 1280U);
}

TEST(ConfigInclude, ErrorsCarryTheIncludedFileAndLine) {
    temp_dir d;
    d.write("bad.conf", "\nmtu = huge\n");
    auto e = load_errors(std::string(base) + "include bad.conf\n", d.opts());
    EXPECT_EQ(e, std::vector<std::string>{d.path() + "/bad.conf:2: mtu: bad value 'huge': expected an integer in 576..9600"});
}

TEST(ConfigInclude, MissingFile) {
    temp_dir d;
    auto e = load_errors(std::string(base) + "include nope.conf\n", d.opts());
    EXPECT_EQ(e, std::vector<std::string>{"t.conf:6: include 'nope.conf': cannot read '" + d.path() +
                                          "/nope.conf': No such file or directory"});
}

TEST(ConfigInclude, Recursion) {
    temp_dir d;
    d.write("x.conf", "include y.conf\n");
    d.write("y.conf", "\ninclude x.conf\n");
    auto e = load_errors(std::string(base) + "include x.conf\n", d.opts());
    EXPECT_EQ(e, std::vector<std::string>{d.path() + "/y.conf:2: include 'x.conf': recursive include of '" +
                                          d.path() + "/x.conf'"});
}

TEST(ConfigInclude, SelfIncludeOfTheMainFile) {
    temp_dir d;
    d.write("gvpe.conf", std::string(base) + "include gvpe.conf\n");
    auto r = load_config(d.opts());
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(strs(r.error()), std::vector<std::string>{d.path() + "/gvpe.conf:6: include 'gvpe.conf': recursive include of '" +
                                                        d.path() + "/gvpe.conf'"});
}

TEST(ConfigInclude, DepthLimit) {
    // main -> f0 -> ... -> f15 is 16 levels of include (allowed); f15 -> f16 is one too many.
    for (bool too_deep : {false, true}) {
        SCOPED_TRACE(too_deep ? "17 levels" : "16 levels");
        temp_dir d;
        unsigned levels = too_deep ? limits::max_include_depth + 1 : limits::max_include_depth;
        for (unsigned i = 0; i < levels; ++i) {
            d.write("f" + std::to_string(i) + ".conf",
                    i + 1 < levels ? "include f" + std::to_string(i + 1) + ".conf\n" : "mtu = 1400\n");
        }
        auto r = load_config_text(std::string(base) + "include f0.conf\n", "t.conf", d.opts());
        if (!too_deep) {
            ASSERT_TRUE(r.has_value()) << joined(r.error());
            EXPECT_EQ(r->global.mtu, 1400U);
        } else {
            ASSERT_FALSE(r.has_value());
            EXPECT_EQ(strs(r.error()), std::vector<std::string>{d.path() + "/f15.conf:1: include 'f16.conf': includes nested too "
                                                                "deeply (at most 16 levels)"});
        }
    }
}

/// Loads opts's config (or `text` as t.conf) on another thread; a load that blocks for 5 s fails
/// the test and is unblocked by opening \p fifo for writing (its reader then sees end of file).
result<config, std::vector<diagnostic>> load_not_blocking(const std::string* text, const load_options& o,
                                                         const std::string& fifo) {
    auto fut = std::async(std::launch::async, [&] {
        return text != nullptr ? load_config_text(*text, "t.conf", o) : load_config(o);
    });
    if (fut.wait_for(std::chrono::seconds(5)) == std::future_status::timeout) {
        ADD_FAILURE() << "loading the configuration blocked on the FIFO " << fifo;
        int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (w >= 0) {
            ::close(w);
        }
    }
    return fut.get();
}

TEST(ConfigInclude, FifoNeverBlocksAndIsRefused) {
    temp_dir d;
    const std::string fifo = d.path() + "/fifo.conf";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const std::string text = std::string(base) + "include fifo.conf\n";
    auto r = load_not_blocking(&text, d.opts(), fifo);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(strs(r.error()), std::vector<std::string>{"t.conf:6: include 'fifo.conf': cannot read '" + fifo +
                                                        "': not a regular file (a FIFO)"});
    // The main file as a FIFO.
    ASSERT_EQ(::mkfifo((d.path() + "/gvpe.conf").c_str(), 0600), 0);
    r = load_not_blocking(nullptr, d.opts(), d.path() + "/gvpe.conf");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(strs(r.error()), std::vector<std::string>{d.path() + "/gvpe.conf:0: cannot read the configuration: not a "
                                                        "regular file (a FIFO)"});
}

TEST(ConfigInclude, DirectoryAndDeviceAreRefused) {
    temp_dir d;
    std::filesystem::create_directory(d.path() + "/sub");
    auto e = load_errors(std::string(base) + "include sub\ninclude /dev/zero\n", d.opts());
    EXPECT_EQ(e, (std::vector<std::string>{
                     "t.conf:6: include 'sub': cannot read '" + d.path() + "/sub': not a regular file (a directory)",
                     "t.conf:7: include '/dev/zero': cannot read '/dev/zero': not a regular file (a character device)"}));
}

TEST(ConfigInclude, SizeLimits) {
    temp_dir d;
    // Exactly 1 MiB is fine (comment lines); one byte more is refused without reading it all.
    std::string line = "# " + std::string(1021, 'x') + "\n";  // 1024 bytes
    std::string mib;
    for (size_t i = 0; i < 1024; ++i) {
        mib += line;
    }
    ASSERT_EQ(mib.size(), 1048576U);  // limits::max_config_file_bytes
    d.write("big.conf", mib);
    d.write("huge.conf", mib + "\n");
    load_ok(std::string(base) + "include big.conf\n", d.opts());
    EXPECT_EQ(load_errors(std::string(base) + "include huge.conf\n", d.opts()),
              std::vector<std::string>{"t.conf:6: include 'huge.conf': cannot read '" + d.path() +
                                       "/huge.conf': larger than 1048576 bytes, the limit for one configuration file"});
    // The main file has the same limit.
    d.write("gvpe.conf", std::string(base) + mib);
    auto r = load_config(d.opts());
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(strs(r.error()), std::vector<std::string>{d.path() + "/gvpe.conf:0: cannot read the configuration: larger "
                                                        "than 1048576 bytes, the limit for one configuration file"});
    // Every included file together: at most 4 MiB, whatever each file's size.
    std::string four;
    for (unsigned i = 0; i < 4; ++i) {
        four += "include big.conf\n";
    }
    load_ok(std::string(base) + four, d.opts());
    EXPECT_EQ(load_errors(std::string(base) + four + "include small.conf\n", d.opts()),
              std::vector<std::string>{"t.conf:10: include 'small.conf': cannot read '" + d.path() +
                                       "/small.conf': No such file or directory"});
    d.write("small.conf", "mtu = 1400\n");
    EXPECT_EQ(load_errors(std::string(base) + four + "include small.conf\n", d.opts()),
              std::vector<std::string>{"t.conf:10: include 'small.conf': cannot read '" + d.path() +
                                       "/small.conf': the configuration files together are larger than 4194304 bytes"});
}

TEST(ConfigInclude, CountLimit) {
    // An include line repeated (not nested, so the depth limit does not stop it) is followed at
    // most 256 times in one load: a small file cannot make the parser read gigabytes.
    temp_dir d;
    d.write("one.conf", "mtu = 1400\n");
    std::string many;
    const unsigned max_includes = 256;  // limits::max_includes
    for (unsigned i = 0; i < max_includes; ++i) {
        many += "include one.conf\n";
    }
    EXPECT_EQ(load_ok(std::string(base) + many, d.opts()).global.mtu, 1400U);
    EXPECT_EQ(load_errors(std::string(base) + many + "include one.conf\ninclude one.conf\n", d.opts()),
              std::vector<std::string>{"t.conf:" + std::to_string(6 + max_includes) +
                                       ": include 'one.conf': too many includes (at most 256 in one configuration)"});
}

TEST(ConfigInclude, ReadIncludesOffMakesLoadConfigTextPure) {
    temp_dir d;
    d.write("x.conf", "mtu = 1400\n");
    load_options o = d.opts();
    o.read_includes = false;
    auto r = load_config_text(std::string(base) + "include x.conf\n", "t.conf", o);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(strs(r.error()), std::vector<std::string>{"t.conf:6: include 'x.conf': not read (this load reads no files)"});
    // The path format is still checked first.
    r = load_config_text(std::string(base) + "include x%d.conf\n", "t.conf", o);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(strs(r.error()), std::vector<std::string>{
                                   "t.conf:6: include 'x%d.conf': bad path: only %s (the node name) and %% may follow a '%'"});
}

TEST(ConfigInclude, BadFormat) {
    auto e = load_errors(std::string(base) + "include x%d.conf\n");
    EXPECT_EQ(e, std::vector<std::string>{"t.conf:6: include 'x%d.conf': bad path: only %s (the node name) and %% may follow a '%'"});
}

TEST(ConfigInclude, PercentSWithoutNodeNameIsSkipped) {
    config c = load_ok(std::string(base) + "include local-%s.conf\n", opts(""));
    EXPECT_EQ(strs(c.warnings),
              std::vector<std::string>{"t.conf:6: include 'local-%s.conf': needs the local node name (%s) - skipped"});
}

// ---------------------------------------------------------------------------------------------
// load_config from a directory
// ---------------------------------------------------------------------------------------------

TEST(ConfigLoad, GvpeConfThenDvpeConfThenError) {
    temp_dir d;
    auto r = load_config(d.opts());
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(strs(r.error()), std::vector<std::string>{d.path() + "/gvpe.conf:0: cannot read the configuration: No such "
                                                        "file or directory (dvpe.conf not found either)"});
    d.write("dvpe.conf", std::string(base) + "mtu = 1400\n");
    r = load_config(d.opts());
    ASSERT_TRUE(r.has_value()) << joined(r.error());
    EXPECT_EQ(r->global.mtu, 1400U);
    EXPECT_EQ(r->file, d.path() + "/dvpe.conf");
    d.write("gvpe.conf", std::string(base) + "mtu = 1300\n");
    r = load_config(d.opts());
    ASSERT_TRUE(r.has_value()) << joined(r.error());
    EXPECT_EQ(r->global.mtu, 1300U);
    EXPECT_EQ(r->confdir, d.path());
    EXPECT_EQ(r->nodes[0].where.file, d.path() + "/gvpe.conf");
}

// ---------------------------------------------------------------------------------------------
// Command-line overrides (gvpe(8))
// ---------------------------------------------------------------------------------------------

TEST(ConfigOverrides, PlainAndPrefixed) {
    load_options o = opts("a");
    o.overrides = {"mtu=1400", "udp-port=999", "b.udp-port=5", "allow-direct=*", "c.hostname=10.9.9.9",
                   "c.node-id=9", "", "keepalive=10", "keepalive=20"};
    config c = load_ok(std::string(mesh) + "node = b\nudp-port = 1\n", o);
    EXPECT_EQ(c.global.mtu, 1400U);
    EXPECT_EQ(c.global.keepalive, 20);  // later overrides win
    EXPECT_EQ(c.nodes[0].udp_port, 999);  // an unprefixed node setting reaches every node...
    EXPECT_EQ(c.nodes[1].udp_port, 5);    // ...and a prefixed one after it wins for that node
    EXPECT_EQ(c.nodes[2].udp_port, 999);
    for (const node_conf& n : c.nodes) {
        EXPECT_EQ(n.allow_direct, std::vector<std::string>{"*"});
        EXPECT_EQ(n.allow_direct_where.at(0).file, "<cmdline>");
        EXPECT_EQ(n.allow_direct_where.at(0).line, 4);
    }
    EXPECT_EQ(c.nodes[2].hostname, "10.9.9.9");
    EXPECT_EQ(c.nodes[2].id, 9U);
}

TEST(ConfigOverrides, RestOfLineDirectiveReachesEveryNode) {
    load_options o = opts("b");
    o.overrides = {"port=lan0 bridge net_null1", "a.eal-args=--no-pci --in-memory", "on b mtu=1280"};
    config c = load_ok(mesh, o);
    for (const node_conf& n : c.nodes) {
        ASSERT_EQ(n.engine.ports.size(), 3U);
        EXPECT_EQ(n.engine.ports[2].devargs, "net_null1");
    }
    EXPECT_EQ(c.nodes[0].engine.eal_args, "--no-pci --in-memory");
    EXPECT_EQ(c.nodes[1].engine.eal_args, "");
    EXPECT_EQ(c.global.mtu, 1280U);
}

struct error_case {
    std::vector<std::string> overrides;
    std::vector<std::string> errors;
};

TEST(ConfigOverrides, Errors) {
    const error_case cases[] = {
        {{"zz.mtu=1400"}, {"<cmdline>:1: override 'zz.mtu=1400': unknown node 'zz'"}},
        {{"mtu=1400", "mtu=abc"}, {"<cmdline>:2: mtu: bad value 'abc': expected an integer in 576..9600"}},
        {{"hostname=1.2.3.4"}, {"<cmdline>:1: hostname: not allowed as a default (outside a node section)"}},
        {{"node-id=3"}, {"<cmdline>:1: node-id: only allowed inside a node section"}},
        {{"node=x"}, {"<cmdline>:1: node: not allowed in a command-line override (use NODE.DIRECTIVE=VALUE)"}},
        {{"global"}, {"<cmdline>:1: global: not allowed in a command-line override"}},
        {{"mtu"}, {"<cmdline>:1: mtu: missing value"}},
        {{"connect=sometimes"}, {"<cmdline>:1: connect: bad value 'sometimes': expected always, ondemand, never or disabled"}},
    };
    for (const error_case& ec : cases) {
        SCOPED_TRACE(ec.overrides.back());
        load_options o = opts("a");
        o.overrides = ec.overrides;
        EXPECT_EQ(load_errors(mesh, o), ec.errors);
    }
}

// ---------------------------------------------------------------------------------------------
// Node ids
// ---------------------------------------------------------------------------------------------

TEST(ConfigIds, PositionalAndExplicit) {
    config c = load_ok("enable-udp = yes\nnode = a\nnode = b\nnode-id = 10\nnode = c\n", opts(""));
    ASSERT_EQ(c.nodes.size(), 3U);
    EXPECT_EQ(c.nodes[0].id, 1U);
    EXPECT_FALSE(c.nodes[0].explicit_id);
    EXPECT_EQ(c.nodes[1].id, 10U);
    EXPECT_TRUE(c.nodes[1].explicit_id);
    EXPECT_EQ(c.nodes[2].id, 3U);  // positions do not shift around an explicit id
}

TEST(ConfigIds, LookupById) {
    config c = load_ok("enable-udp = yes\nnode = a\nnode = b\nnode-id = 10\nnode = c\n", opts(""));
    ASSERT_NE(c.node(1), nullptr);
    EXPECT_EQ(c.node(1)->name, "a");
    ASSERT_NE(c.node(10), nullptr);
    EXPECT_EQ(c.node(10)->name, "b");
    ASSERT_NE(c.node(3), nullptr);
    EXPECT_EQ(c.node(3)->name, "c");
    EXPECT_EQ(c.node(3), &c.nodes[2]) << "a pointer into nodes";
    for (unsigned missing : {0U, 2U, 4U, 9U, 11U, limits::max_node_id, limits::max_node_id + 1, 65535U, ~0U}) {
        EXPECT_EQ(c.node(missing), nullptr) << missing;
    }
    // A copy (reload replaces the config as a whole) answers from its own nodes.
    const config copy = c;
    ASSERT_NE(copy.node(10), nullptr);
    EXPECT_EQ(copy.node(10), &copy.nodes[1]);
    // Nodes edited after validation (tests, tools) are still found: the index is checked.
    c.nodes.push_back(c.nodes[0]);
    c.nodes.back().id = 42;
    c.nodes.back().name = "d";
    c.nodes.erase(c.nodes.begin());
    ASSERT_NE(c.node(42), nullptr);
    EXPECT_EQ(c.node(42)->name, "d");
    EXPECT_EQ(c.node(1), nullptr);
    ASSERT_NE(c.node(3), nullptr);
    EXPECT_EQ(c.node(3)->name, "c");
    // A config built by hand, never validated.
    config h;
    h.nodes.resize(2);
    h.nodes[0].id = 5;
    h.nodes[1].id = 6;
    EXPECT_EQ(h.node(6), &h.nodes[1]);
    EXPECT_EQ(h.node(7), nullptr);
}

TEST(ConfigIds, Errors) {
    struct id_case {
        const char* text;
        std::vector<std::string> errors;
    };
    const id_case cases[] = {
        {"enable-udp = yes\nnode = a\nnode = b\nnode-id = 1\n",
         {"t.conf:4: node 'b': id 1 is already used by node 'a' (t.conf:2)"}},
        {"enable-udp = yes\nnode = a\nnode-id = 2\nnode = b\n",
         {"t.conf:4: node 'b': id 2 is already used by node 'a' (t.conf:3)"}},
        {"enable-udp = yes\nnode = a\nnode-id = 0\n", {"t.conf:3: node-id: bad value '0': expected an integer in 1..4095"}},
        {"enable-udp = yes\nnode = a\nnode-id = 4096\n",
         {"t.conf:3: node-id: bad value '4096': expected an integer in 1..4095"}},
        {"node-id = 3\nnode = a\n", {"t.conf:1: node-id: only allowed inside a node section"}},
    };
    for (const id_case& ic : cases) {
        SCOPED_TRACE(ic.text);
        EXPECT_EQ(load_errors(ic.text, opts("")), ic.errors);
    }
}

TEST(ConfigIds, AtMost4095Nodes) {
    std::string text = "enable-udp = yes\n";
    for (unsigned i = 1; i <= limits::max_node_id; ++i) {
        text += "node = n" + std::to_string(i) + "\n";
    }
    config c = load_ok(text, opts(""));
    EXPECT_EQ(c.nodes.back().id, limits::max_node_id);
    text += "node = one-too-many\n";
    EXPECT_EQ(load_errors(text, opts("")), std::vector<std::string>{"t.conf:4097: node: too many nodes (at most 4095)"});
}

// ---------------------------------------------------------------------------------------------
// Parse errors: exact message and line
// ---------------------------------------------------------------------------------------------

struct parse_error_case {
    const char* lines;      // appended to `base`, starting at line 6
    const char* error;      // the single expected error, without "t.conf:6: "
};

TEST(ConfigErrors, BadValues) {
    const parse_error_case cases[] = {
        {"mtu", "mtu: missing value"},
        {"mtu = # comment", "mtu: missing value"},
        {"mtu = abc", "mtu: bad value 'abc': expected an integer in 576..9600"},
        {"mtu = 575", "mtu: bad value '575': expected an integer in 576..9600"},
        {"mtu = 9601", "mtu: bad value '9601': expected an integer in 576..9600"},
        {"mtu = -1", "mtu: bad value '-1': expected an integer in 576..9600"},
        {"mtu = 1500x", "mtu: bad value '1500x': expected an integer in 576..9600"},
        {"udp-port = 65536", "udp-port: bad value '65536': expected an integer in 0..65535"},
        {"ip-proto = 256", "ip-proto: bad value '256': expected an integer in 0..255"},
        {"icmp-type = x", "icmp-type: bad value 'x': expected an integer in 0..255"},
        {"router-priority = -1", "router-priority: bad value '-1': expected an integer in 0..4294967295"},
        {"keepalive = 0", "keepalive: bad value '0': expected a number > 0"},
        {"rekey = soon", "rekey: bad value 'soon': expected a number > 0"},
        {"max-retry = -1", "max-retry: bad value '-1': expected a number >= 0"},
        {"max-ttl = nan", "max-ttl: bad value 'nan': expected a number >= 0"},
        {"max-queue = x", "max-queue: bad value 'x': expected an integer <= 1000000"},
        {"enable-udp = maybe", "enable-udp: bad value 'maybe': expected yes/no, true/false, on/off or 1/0"},
        {"hugepages = y", "hugepages: bad value 'y': expected yes/no, true/false, on/off or 1/0"},
        {"wan-fragment = maybe", "wan-fragment: bad value 'maybe': expected yes/no, true/false, on/off or 1/0"},
        {"connect = sometimes", "connect: bad value 'sometimes': expected always, ondemand, never or disabled"},
        {"loglevel = loud",
         "loglevel: bad value 'loud': expected noise, trace, debug, info, notice, warn, error or critical"},
        {"serial = 12345678901234567", "serial: bad value '12345678901234567': expected at most 16 bytes"},
        {"ifname = abcdefghijklmnop",
         "ifname: bad value 'abcdefghijklmnop': expected an interface name of at most 15 characters"},
        {"cipher = des", "cipher: bad value 'des': expected aes128-gcm, aes256-gcm, chacha20-poly1305 or null"},
        {"if-up = up%d", "if-up: bad value 'up%d': expected a path where only %s (the node name) and %% follow a '%'"},
        {"control-socket = /run/x%",
         "control-socket: bad value '/run/x%': expected a path where only %s (the node name) and %% follow a '%'"},
        {"burst-size = 0", "burst-size: bad value '0': expected an integer in 1..256"},
        {"burst-size = 257", "burst-size: bad value '257': expected an integer in 1..256"},
        {"rx-descriptors = 1000", "rx-descriptors: bad value '1000': expected a power of two in 64..16384"},
        {"rx-descriptors = 32", "rx-descriptors: bad value '32': expected a power of two in 64..16384"},
        {"tx-descriptors = 32768", "tx-descriptors: bad value '32768': expected a power of two in 64..16384"},
        {"mbuf-cache = 513", "mbuf-cache: bad value '513': expected an integer in 0..512"},
        {"mbufs = many", "mbufs: bad value 'many': expected an integer in 0..4294967295"},
        {"memory-mb = x", "memory-mb: bad value 'x': expected an integer in 0..1048576"},
        {"tx-drain-us = 1000001", "tx-drain-us: bad value '1000001': expected an integer in 0..1000000"},
        {"idle-sleep-us = x", "idle-sleep-us: bad value 'x': expected an integer in 0..1000000"},
        {"idle-polls = -1", "idle-polls: bad value '-1': expected an integer in 0..4294967295"},
        {"idle-wait = poll", "idle-wait: bad value 'poll': expected sleep or interrupt"},
        {"control-lcore = 128", "control-lcore: bad value '128': expected an integer in 0..127"},
        {"worker-lcores = 1,,2",
         "worker-lcores: bad value '1,,2': expected a list of lcores and ranges like 1,2-3 (each < 128)"},
        {"worker-lcores = 1,", "worker-lcores: bad value '1,': expected a list of lcores and ranges like 1,2-3 (each < 128)"},
        {"worker-lcores = 3-1", "worker-lcores: bad value '3-1': expected a list of lcores and ranges like 1,2-3 (each < 128)"},
        {"worker-lcores = 1-128",
         "worker-lcores: bad value '1-128': expected a list of lcores and ranges like 1,2-3 (each < 128)"},
        {"worker-lcores = one", "worker-lcores: bad value 'one': expected a list of lcores and ranges like 1,2-3 (each < 128)"},
        {"port = wan1 wan",
         "port: missing arguments: expected 'port NAME wan|overlay|bridge|route DEVARGS', got 'wan1 wan'"},
        {"port = lan0 route",
         "port: missing arguments: expected 'port NAME wan|overlay|bridge|route DEVARGS', got 'lan0 route'"},
        {"port = w@n wan net_null1", "port: bad port name 'w@n': use letters, digits, '_', '-' and '.'"},
        {"port = lan0 lan net_null1", "port lan0: bad role 'lan': expected wan, overlay, bridge or route"},
        {"port = lan0 Bridge net_null1", "port lan0: bad role 'Bridge': expected wan, overlay, bridge or route"},
        {"port = lan0 host net_null1", "port lan0: bad role 'host': expected wan, overlay, bridge or route"},
        {"lan-address = lan0", "lan-address: missing arguments: expected 'lan-address PORT ADDR/PREFIX', got 'lan0'"},
        {"lan-address", "lan-address: missing value"},
        {"lan-address = lan0 10.1.0.1/24 x",
         "lan-address: too many arguments: expected 'lan-address PORT ADDR/PREFIX', got 'lan0 10.1.0.1/24 x'"},
        {"lan-address = lan0 10.1.0.1/33", "lan-address: prefix length 33 of '10.1.0.1/33' is larger than 32"},
        {"lan-address = lan0 10.1.0.1/", "lan-address: bad prefix length in '10.1.0.1/'"},
        {"lan-address = lan0 lan.example/24", "lan-address: bad address 'lan.example': expected an IPv4 or IPv6 address"},
        {"route", "route: missing value"},
        {"route = # none", "route: missing value"},
        {"route = 10.1.0.0/x", "route: bad prefix length in '10.1.0.0/x'"},
        {"route = 10.1.0.0/", "route: bad prefix length in '10.1.0.0/'"},
        {"route = 10.1.0.0/33", "route: prefix length 33 of '10.1.0.0/33' is larger than 32"},
        {"route = 2001:db8::/129", "route: prefix length 129 of '2001:db8::/129' is larger than 128"},
        {"route = 10.1.0/24", "route: bad address '10.1.0': expected an IPv4 or IPv6 address"},
        {"route = /24", "route: bad address '': expected an IPv4 or IPv6 address"},
        {"route = 10.1.0.0/-1", "route: bad prefix length in '10.1.0.0/-1'"},
        {"bridge-mac", "bridge-mac: missing value"},
        {"bridge-mac = 02:00", "bridge-mac: bad value '02:00': expected a MAC address xx:xx:xx:xx:xx:xx"},
        {"bridge-mac = 02:00:00:00:00:0g",
         "bridge-mac: bad value '02:00:00:00:00:0g': expected a MAC address xx:xx:xx:xx:xx:xx"},
        {"bridge-mac = 02:00:00:00:00:011",
         "bridge-mac: bad value '02:00:00:00:00:011': expected a MAC address xx:xx:xx:xx:xx:xx"},
        {"bridge-mac = 02.00.00.00.00.01",
         "bridge-mac: bad value '02.00.00.00.00.01': expected a MAC address xx:xx:xx:xx:xx:xx"},
        {"mac-table-size = 15", "mac-table-size: bad value '15': expected an integer in 16..1048576"},
        {"mac-table-size = 1048577", "mac-table-size: bad value '1048577': expected an integer in 16..1048576"},
        {"mac-table-size = big", "mac-table-size: bad value 'big': expected an integer in 16..1048576"},
        {"mac-table-size", "mac-table-size: missing value"},
        {"mac-limit-per-peer = 0", "mac-limit-per-peer: bad value '0': expected an integer in 1..1048576"},
        {"mac-limit-per-peer = 1048577",
         "mac-limit-per-peer: bad value '1048577': expected an integer in 1..1048576"},
        {"mac-limit-per-peer = -1", "mac-limit-per-peer: bad value '-1': expected an integer in 1..1048576"},
        {"mac-age = 9", "mac-age: bad value '9': expected an integer in 10..86400"},
        {"mac-age = 86401", "mac-age: bad value '86401': expected an integer in 10..86400"},
        {"mac-age = 5m", "mac-age: bad value '5m': expected an integer in 10..86400"},
        {"wan-address = wan0", "wan-address: missing arguments: expected 'wan-address PORT ADDR/PREFIX', got 'wan0'"},
        {"wan-address = wan0 10.0.0.2/24 x",
         "wan-address: too many arguments: expected 'wan-address PORT ADDR/PREFIX', got 'wan0 10.0.0.2/24 x'"},
        {"wan-address = wan0 10.0.0.300/24", "wan-address: bad address '10.0.0.300': expected an IPv4 or IPv6 address"},
        {"wan-address = wan0 10.0.0.2/x", "wan-address: bad prefix length in '10.0.0.2/x'"},
        {"wan-address = wan0 10.0.0.2/33", "wan-address: prefix length 33 of '10.0.0.2/33' is larger than 32"},
        {"wan-address = wan0 2001:db8::2/129", "wan-address: prefix length 129 of '2001:db8::2/129' is larger than 128"},
        {"wan-gateway = wan0", "wan-gateway: missing arguments: expected 'wan-gateway PORT ADDR', got 'wan0'"},
        {"wan-gateway = wan0 gw.example", "wan-gateway: bad address 'gw.example': expected an IPv4 or IPv6 address"},
        {"neighbour = wan0 10.0.0.2", "neighbour: missing arguments: expected 'neighbour PORT ADDR MAC', got 'wan0 10.0.0.2'"},
        {"neighbour = wan0 x 02:00:00:00:00:01", "neighbour: bad address 'x': expected an IPv4 or IPv6 address"},
        {"neighbor = wan0 10.0.0.2 02:00", "neighbor: bad MAC address '02:00': expected xx:xx:xx:xx:xx:xx"},
        {"neighbour = wan0 10.0.0.2 02:00:00:00:00:0g", "neighbour: bad MAC address '02:00:00:00:00:0g': expected xx:xx:xx:xx:xx:xx"},
        {"exception = wan0", "exception: missing arguments: expected 'exception PORT IFNAME|off', got 'wan0'"},
        {"exception = wan0 a/b", "exception: bad interface name 'a/b': at most 15 letters, digits, '_', '-' and '.' (or 'off')"},
        {"exception = wan0 ..", "exception: bad interface name '..': at most 15 letters, digits, '_', '-' and '.' (or 'off')"},
        {"exception = wan0 abcdefghijklmnop",
         "exception: bad interface name 'abcdefghijklmnop': at most 15 letters, digits, '_', '-' and '.' (or 'off')"},
        {"exception-rate = 0", "exception-rate: bad value '0': expected an integer in 1..1000000"},
        {"queue-map = wan0 0", "queue-map: missing arguments: expected 'queue-map PORT QUEUE LCORE', got 'wan0 0'"},
        {"queue-map = wan0 16 1", "queue-map: bad queue '16': expected an integer in 0..15"},
        {"queue-map = wan0 0 128", "queue-map: bad lcore '128': expected an integer in 0..127"},
        {"node-id = 4096", "node-id: bad value '4096': expected an integer in 1..4095"},
        {"on", "on: expected 'on NODE DIRECTIVE...' or 'on !NODE DIRECTIVE...'"},
        {"on alpha", "on: expected 'on NODE DIRECTIVE...' or 'on !NODE DIRECTIVE...'"},
        {"on ! mtu 1400", "on: expected 'on NODE DIRECTIVE...' or 'on !NODE DIRECTIVE...'"},
        {"on alpha # nothing", "on: expected 'on NODE DIRECTIVE...' or 'on !NODE DIRECTIVE...'"},
        {"on alpha mtu = x", "mtu: bad value 'x': expected an integer in 576..9600"},
        {"on !nobody mtu = x", "mtu: bad value 'x': expected an integer in 576..9600"},
        {"node = !x", "node: bad node name '!x': use letters, digits, '_', '-' and '.'"},
        {"node = a/b", "node: bad node name 'a/b': use letters, digits, '_', '-' and '.'"},
        {"node", "node: missing value"},
        {"include", "include: missing value"},
        {"global\nhostname = 10.0.0.9", nullptr},  // checked below: line 7
    };
    for (const parse_error_case& pc : cases) {
        if (pc.error == nullptr) {
            continue;
        }
        SCOPED_TRACE(pc.lines);
        EXPECT_EQ(load_errors(std::string(base) + pc.lines + "\n"), std::vector<std::string>{std::string("t.conf:6: ") + pc.error});
    }
}

TEST(ConfigErrors, HostnameAsDefault) {
    EXPECT_EQ(load_errors("hostname = 10.0.0.1\n" + std::string(base)),
              std::vector<std::string>{"t.conf:1: hostname: not allowed as a default (outside a node section)"});
    EXPECT_EQ(load_errors(std::string(base) + "global\nhostname = 10.0.0.9\n"),
              std::vector<std::string>{"t.conf:7: hostname: not allowed as a default (outside a node section)"});
}

TEST(ConfigErrors, AllErrorsAreReportedNotJustTheFirst) {
    auto e = load_errors(std::string(base) + "mtu = 1\nburst-size = 0\nallow-direct = ghost\n");
    EXPECT_EQ(e, (std::vector<std::string>{"t.conf:6: mtu: bad value '1': expected an integer in 576..9600",
                                           "t.conf:7: burst-size: bad value '0': expected an integer in 1..256",
                                           "t.conf:8: allow-direct: unknown node 'ghost' (expected a node name or *)"}));
}

TEST(ConfigErrors, GarbageNeverCrashes) {
    // Odd inputs and a deterministic soup of tokens: the loader must return, never crash or throw.
    const std::vector<std::string> odd = {
        "=", "==== = =", "on", "on !", "on ! !", "on a on b on c mtu 1400", std::string(100000, 'x'),
        "node = " + std::string(5000, 'n'), std::string("mtu\0= 1400", 11), "port = = = =", "port p wan ,,,",
        "wan-address = wan0 /", "wan-address = wan0 1.2.3.4/", "queue-map = wan0 - -", "worker-lcores = -",
        "worker-lcores = 1-", "include %", "include %%s", "neighbour = a b c", "#", "\t\r", "\xff\xfe"};
    for (const std::string& line : odd) {
        (void)load_config_text(std::string(base) + line + "\n", "t.conf", opts());
    }
    const char* vocab[] = {"node", "on", "!alpha", "alpha", "global", "=", "port", "wan", "overlay", "net_null0",
                           "net_tap0,iface=x", "wan0", "tap0", "10.0.0.1/24", "::1/129", "queue-map", "0", "1", "17",
                           "worker-lcores", "1-3", "hostname", "mtu", "yes", "include", "%s", "#", "wan-gateway",
                           "neighbour", "02:00:00:00:00:01", "node-id", "4095", "allow-direct", "*", "mbufs"};
    uint32_t seed = 12345;
    auto rnd = [&seed](uint32_t n) {
        seed = seed * 1103515245U + 12345U;
        return (seed >> 16) % n;
    };
    for (int round = 0; round < 300; ++round) {
        std::string text = base;
        for (uint32_t l = rnd(12); l > 0; --l) {
            for (uint32_t t = rnd(6); t > 0; --t) {
                text += vocab[rnd(sizeof vocab / sizeof vocab[0])];
                text += ' ';
            }
            text += '\n';
        }
        load_options o = opts(rnd(2) == 0 ? "alpha" : "");
        o.overrides = {std::string(vocab[rnd(sizeof vocab / sizeof vocab[0])]) + "=" + vocab[rnd(sizeof vocab / sizeof vocab[0])]};
        (void)load_config_text(text, "t.conf", o);
    }
}

// ---------------------------------------------------------------------------------------------
// Validation: the node table
// ---------------------------------------------------------------------------------------------

TEST(ConfigValidate, NoNodes) {
    EXPECT_EQ(load_errors("enable-udp = yes\n", opts("")),
              std::vector<std::string>{"t.conf:0: no nodes configured (add 'node = NAME' sections)"});
    EXPECT_EQ(load_errors("", opts("alpha")),
              std::vector<std::string>{"t.conf:0: no nodes configured (add 'node = NAME' sections)"});
}

TEST(ConfigValidate, UnknownLocalNode) {
    EXPECT_EQ(load_errors(mesh, opts("zeta")),
              std::vector<std::string>{"t.conf:0: unknown node 'zeta' (configured nodes: a b c)"});
    std::string many = "enable-udp = yes\n";
    for (int i = 0; i < 11; ++i) {
        many += "node = n" + std::to_string(i) + "\n";
    }
    EXPECT_EQ(load_errors(many, opts("zeta")),
              std::vector<std::string>{"t.conf:0: unknown node 'zeta' (11 nodes configured)"});
}

TEST(ConfigValidate, AllowDenyDirectNames) {
    EXPECT_EQ(load_errors(std::string(base) + "allow-direct = ghost\ndeny-direct = spook\nallow-direct = *\n"),
              (std::vector<std::string>{"t.conf:6: allow-direct: unknown node 'ghost' (expected a node name or *)",
                                        "t.conf:7: deny-direct: unknown node 'spook' (expected a node name or *)"}));
    // A bad default copied into several nodes is reported once, at its own line.
    EXPECT_EQ(load_errors("deny-direct = ghost\n" + std::string(mesh), opts("a")),
              std::vector<std::string>{"t.conf:1: deny-direct: unknown node 'ghost' (expected a node name or *)"});
    // Names may refer to nodes defined later in the file.
    load_ok("deny-direct = *\nallow-direct = c\n" + std::string(mesh), opts("a"));
}

TEST(ConfigValidate, Protocols) {
    std::string no_proto = std::string(base).substr(17);  // without "enable-udp = yes"
    EXPECT_EQ(load_errors(no_proto),
              std::vector<std::string>{"t.conf:1: node 'alpha': no protocols enabled (set enable-udp, enable-rawip, "
                                       "enable-icmp, enable-tcp or enable-dns = yes)"});
    // tcp alone is enough (GVPE's tcp-only nodes, Debian's example 'entrophy'), and so is dns
    load_ok("enable-tcp = yes\n" + no_proto);
    load_ok("enable-dns = yes\n" + no_proto);
    // Only the local node needs one: tools and other nodes do not.
    load_ok(no_proto, opts(""));
    load_ok(std::string(base) + "node = beta\nenable-udp = no\n");
}

// ---------------------------------------------------------------------------------------------
// Validation: the engine layout of the local node
// ---------------------------------------------------------------------------------------------

struct layout_case {
    const char* lines;                 // appended to `base`, starting at line 6
    std::vector<std::string> errors;   // full strings
    unsigned n_cpus = 4;
};

TEST(ConfigValidate, Layout) {
    const layout_case cases[] = {
        // lcores
        {"worker-lcores = 1,1", {"t.conf:6: worker-lcores: lcore 1 is listed twice"}},
        {"worker-lcores = 1-4", {"t.conf:6: worker-lcores: lcore 4 does not exist: this machine has 4 CPUs (lcores 0-3)"}},
        {"worker-lcores = 1-3", {}},
        {"", {"t.conf:2: worker-lcores: lcore 1 does not exist: this machine has 1 CPU (lcore 0)"}, 1},
        {"control-lcore = 4", {"t.conf:6: control-lcore: lcore 4 does not exist: this machine has 4 CPUs (lcores 0-3)"}},
        {"control-lcore = 3", {}},
        {"control-lcore = 1",
         {"t.conf:6: control-lcore: lcore 1 is also a worker lcore (the control thread needs its own lcore)"}},
        {"worker-lcores = 0-1",
         {"t.conf:6: control-lcore: lcore 0 is also a worker lcore (the control thread needs its own lcore)"}},
        // ports
        {"port = wan0 wan net_null1", {"t.conf:6: port wan0: duplicate port name (first defined at t.conf:3)"}},
        {"port = p1 bridge net_tap0", {"t.conf:6: port p1: device 'net_tap0' is already used by port tap0 (t.conf:5)"}},
        {"port = p1 bridge 01:00.0\nport = p2 wan 0000:01:00.0,x=1\nwan-address = p2 10.0.2.1/24",
         {"t.conf:7: port p2: device '0000:01:00.0' is already used by port p1 (t.conf:6)"}},
        // addresses
        {"wan-address = nope 10.0.0.2/24", {"t.conf:6: wan-address: unknown port 'nope'"}},
        {"wan-address = tap0 10.0.0.2/24", {"t.conf:6: wan-address: port 'tap0' is an overlay port, not a wan port"}},
        {"wan-address = wan0 0.0.0.0/24", {"t.conf:6: wan-address: 0.0.0.0 is not a usable address"}},
        {"wan-address = wan0 10.0.0.1/16", {"t.conf:6: wan-address: 10.0.0.1 is already configured (t.conf:4)"}},
        {"wan-address = wan0 2001:db8::1/64", {}},
        // gateways: both sides of the prefix
        {"wan-gateway = wan0 10.0.0.254", {}},
        {"wan-gateway = wan0 10.0.1.1",
         {"t.conf:6: wan-gateway: 10.0.1.1 is not on-link on port wan0 (addresses: 10.0.0.1/24)"}},
        {"wan-address = wan0 192.168.0.1/25\nwan-gateway = wan0 192.168.0.127", {}},
        {"wan-address = wan0 192.168.0.1/25\nwan-gateway = wan0 192.168.0.128",
         {"t.conf:7: wan-gateway: 192.168.0.128 is not on-link on port wan0 (addresses: 10.0.0.1/24, 192.168.0.1/25)"}},
        {"wan-address = wan0 2001:db8::1/64\nwan-gateway = wan0 2001:db8::ffff:1", {}},
        {"wan-address = wan0 2001:db8::1/64\nwan-gateway = wan0 2001:db8:0:1::1",
         {"t.conf:7: wan-gateway: 2001:db8:0:1::1 is not on-link on port wan0 (addresses: 2001:db8::1/64)"}},
        {"wan-gateway = wan0 2001:db8::1",
         {"t.conf:6: wan-gateway: 2001:db8::1 is not on-link on port wan0 (it has no IPv6 wan-address)"}},
        {"wan-gateway = wan0 10.0.0.1", {"t.conf:6: wan-gateway: 10.0.0.1 is an address of port wan0 itself"}},
        {"wan-gateway = wan0 10.0.0.254\nwan-gateway = wan0 10.0.0.253",
         {"t.conf:7: wan-gateway: port wan0 already has an IPv4 gateway"}},
        {"wan-gateway = nope 10.0.0.254", {"t.conf:6: wan-gateway: unknown port 'nope'"}},
        {"wan-gateway = tap0 10.0.0.254", {"t.conf:6: wan-gateway: port 'tap0' is an overlay port, not a wan port"}},
        {"capture = yes\nhugepages = no",
         {"t.conf:6: capture: needs hugepages (dpdk-dumpcap maps the daemon's memory; without hugepages it is the "
          "daemon's alone): set 'hugepages = yes' and reserve some"}},
        // exception interfaces
        {"exception = nope ex0", {"t.conf:6: exception: unknown port 'nope'"}},
        {"exception = tap0 ex0", {"t.conf:6: exception: port 'tap0' is an overlay port, not a wan port"}},
        {"exception = wan0 ex0\nexception = wan0 off", {"t.conf:7: exception: port wan0 already has one"}},
        {"exception = wan0 dvpe0\nifname = dvpe0", {"t.conf:6: exception: interface dvpe0 is already ifname's"}},
        {"exception = wan0 veth0", {"t.conf:6: exception: interface veth0 is already port wan0's"}},
        {"port = p2 wan net_null2\nport = p3 wan net_null3\nport = p4 wan net_null4\n"
         "port = p5 wan net_null5\nport = p6 wan net_null6\nport = p7 wan net_null7\n"
         "port = p8 wan net_null8\nport = p9 wan net_null9\nport = p10 wan net_null10\n"
         "port = p11 wan net_null11\nport = p12 wan net_null12\nport = p13 wan net_null13\n"
         "port = p14 wan net_null14\nport = p15 wan net_null15\nwan-address = p2 10.0.2.1/24\n"
         "wan-address = p3 10.0.3.1/24\nwan-address = p4 10.0.4.1/24\nwan-address = p5 10.0.5.1/24\n"
         "wan-address = p6 10.0.6.1/24\nwan-address = p7 10.0.7.1/24\nwan-address = p8 10.0.8.1/24\n"
         "wan-address = p9 10.0.9.1/24\nwan-address = p10 10.0.10.1/24\n"
         "wan-address = p11 10.0.11.1/24\nwan-address = p12 10.0.12.1/24\n"
         "wan-address = p13 10.0.13.1/24\nwan-address = p14 10.0.14.1/24\n"
         "wan-address = p15 10.0.15.1/24\nexception = p2 ex2",
         {"t.conf:34: exception: 16 ports and 1 exception interfaces are more than 16 ports"}},
        {"port = wan1 wan net_null1\nwan-address = wan1 10.0.1.1/24\nexception = wan0 ex0\nexception = wan1 ex0",
         {"t.conf:9: exception: interface ex0 is named twice"}},
        // neighbours
        {"neighbour = wan0 10.0.0.2 02:00:00:00:00:02\nneighbour = wan0 10.0.0.2 02:00:00:00:00:03",
         {"t.conf:7: neighbour: 10.0.0.2 on port wan0 is given twice"}},
        {"neighbour = nope 10.0.0.2 02:00:00:00:00:02", {"t.conf:6: neighbour: unknown port 'nope'"}},
        {"neighbor = tap0 10.0.0.2 02:00:00:00:00:02",
         {"t.conf:6: neighbour: port 'tap0' is an overlay port, not a wan port"}},
        // queue map
        {"queue-map = wan0 0 2\nqueue-map = tap0 0 1", {"t.conf:6: queue-map wan0 0 2: lcore 2 is not a worker lcore"}},
        {"queue-map = wan0 0 1", {"t.conf:5: port tap0: no rx queue in the queue-map (add 'queue-map = tap0 0 LCORE')"}},
        {"queue-map = wan0 0 1\nqueue-map = tap0 0 1\nqueue-map = nope 0 1", {"t.conf:8: queue-map: unknown port 'nope'"}},
        {"queue-map = wan0 0 1\nqueue-map = wan0 0 1\nqueue-map = tap0 0 1",
         {"t.conf:7: queue-map wan0 0 1: queue 0 of port wan0 is already mapped (t.conf:6)"}},
        {"queue-map = wan0 0 1\nqueue-map = wan0 2 1\nqueue-map = tap0 0 1",
         {"t.conf:3: port wan0: queue-map queues must be contiguous from 0 (queue 1 is missing)"}},
        {"queue-map = wan0 1 1\nqueue-map = tap0 0 1",
         {"t.conf:3: port wan0: queue-map queues must be contiguous from 0 (queue 0 is missing)"}},
        // mbufs: base needs 2 rx queues * 1024 + 2 ports * 1 worker * 1024 + 32 + 256 (reassembly)
        // + 2 caches * 256 = 4896
        {"mbufs = 4896", {}},
        {"mbufs = 4895",
         {"t.conf:6: mbufs: 4895 is too few for this layout: it needs at least 4896 (0 sizes the pool automatically)"}},
    };
    for (const layout_case& lc : cases) {
        SCOPED_TRACE(lc.lines);
        auto r = load_config_text(std::string(base) + lc.lines + "\n", "t.conf", opts("alpha", lc.n_cpus));
        EXPECT_EQ(r.has_value() ? std::vector<std::string>{} : strs(r.error()), lc.errors);
    }
}

TEST(ConfigValidate, QueuesPerLcore) {
    // 16 queues on lcore 1 are fine; the 17th is one too many.
    std::string lines = "worker-lcores = 1\n";
    for (unsigned q = 0; q < 9; ++q) {
        lines += "queue-map = wan0 " + std::to_string(q) + " 1\n";
    }
    for (unsigned q = 0; q < 7; ++q) {
        lines += "queue-map = tap0 " + std::to_string(q) + " 1\n";
    }
    load_ok(std::string(base) + lines);
    lines += "queue-map = wan0 9 1\n";  // line 6 + 1 + 16 = 23 (on wan0: net_tap0 has its own limit)
    EXPECT_EQ(load_errors(std::string(base) + lines),
              std::vector<std::string>{"t.conf:23: queue-map wan0 9 1: lcore 1 polls more than 16 queues"});
}

TEST(ConfigValidate, AtMost15WorkersLane15IsTheControlThreads) {
    // Worker i seals on lane i; the control thread on lane 15 (transport::control_lane). A 16th
    // worker would share lane 15's AEAD nonces with the control thread: nonce reuse.
    const std::string no_tap = "enable-udp = yes\nnode = alpha\nport = wan0 wan net_null0\n"
                               "wan-address = wan0 10.0.0.1/24\nport = lan0 overlay net_null1\n";
    config c = load_ok(no_tap + "worker-lcores = 1-15\n", opts("alpha", 64));
    EXPECT_EQ(c.self_node().engine.worker_lcores.size(), 15U);
    const std::string err =
        "worker-lcores: 16 workers, at most 15 (sender lane 15 is the control thread's: a worker there would "
        "reuse its AEAD nonces)";
    EXPECT_EQ(load_errors(no_tap + "worker-lcores = 1-16\n", opts("alpha", 64)), std::vector<std::string>{"t.conf:6: " + err});
    EXPECT_EQ(load_errors(no_tap + "worker-lcores = 1-17\n", opts("alpha", 64)),
              std::vector<std::string>{"t.conf:6: worker-lcores: 17 workers, at most 15 (sender lane 15 is the control "
                                       "thread's: a worker there would reuse its AEAD nonces)"});
    // Only the local node's layout counts: another node may list anything.
    load_ok(no_tap + "worker-lcores = 1\nnode = beta\nworker-lcores = 1-20\n", opts("alpha", 64));
}

TEST(ConfigValidate, TapQueuesFitDpdksMultiProcessMessage) {
    // DPDK 22.11 net_tap/net_tun copy one fd per rx and tx queue into an 8-fd IPC message at
    // dev_start, unchecked: 9 or more queues crash dvped at start. Each worker has a tx queue.
    const std::string tail = " queue fds in its multi-process message and crashes at start with more; use fewer "
                             "workers or rx queues on this port";
    load_ok(std::string(base) + "worker-lcores = 1-7\n", opts("alpha", 16));  // 1 rx + 7 tx
    EXPECT_EQ(load_errors(std::string(base) + "worker-lcores = 1-8\n", opts("alpha", 16)),
              std::vector<std::string>{"t.conf:5: port tap0: net_tap with 1 rx + 8 tx queues (one per worker): DPDK's "
                                       "net_tap passes at most 8" + tail});
    // rx queues from an explicit map: 5 + 4 workers = 9.
    std::string map = "worker-lcores = 1-4\nqueue-map = wan0 0 1\n";
    for (unsigned q = 0; q < 4; ++q) {
        map += "queue-map = tap0 " + std::to_string(q) + " " + std::to_string(q + 1) + "\n";
    }
    load_ok(std::string(base) + map, opts("alpha", 16));  // 4 rx + 4 tx
    EXPECT_EQ(load_errors(std::string(base) + map + "queue-map = tap0 4 1\n", opts("alpha", 16)),
              std::vector<std::string>{"t.conf:5: port tap0: net_tap with 5 rx + 4 tx queues (one per worker): DPDK's "
                                       "net_tap passes at most 8" + tail});
    // net_tun is the same driver; other drivers have no such limit.
    EXPECT_EQ(load_errors(std::string(base) + "port = tun0 bridge net_tun1,iface=x\nworker-lcores = 1-8\n",
                          opts("alpha", 16)),
              (std::vector<std::string>{
                  "t.conf:5: port tap0: net_tap with 1 rx + 8 tx queues (one per worker): DPDK's net_tap passes at most 8" +
                      tail,
                  "t.conf:6: port tun0: net_tun with 1 rx + 8 tx queues (one per worker): DPDK's net_tun passes at most 8" +
                      tail}));
    load_ok("enable-udp = yes\nnode = alpha\nport = wan0 wan net_null0\nwan-address = wan0 10.0.0.1/24\n"
            "port = lan0 overlay net_memif0\nworker-lcores = 1-15\n",
            opts("alpha", 16));
}

TEST(ConfigValidate, TooManyPorts) {
    std::string lines = "worker-lcores = 1-3\n";
    for (unsigned i = 1; i <= limits::max_ports - 2; ++i) {  // wan ports: one overlay (TAP) only
        lines += "port = p" + std::to_string(i) + " wan net_null" + std::to_string(i) + "\n";
        lines += "wan-address = p" + std::to_string(i) + " 10.0." + std::to_string(i) + ".1/24\n";
    }
    config c = load_ok(std::string(base) + lines);
    EXPECT_EQ(c.nodes[0].engine.ports.size(), limits::max_ports);
    lines += "port = p99 bridge net_null99\n";  // line 6 + 1 + 2 * 14 = 35
    EXPECT_EQ(load_errors(std::string(base) + lines),
              std::vector<std::string>{"t.conf:35: port p99: too many ports (at most 16)"});
}

TEST(ConfigValidate, IcmpWithoutHostnameWarnsAboutKeepaliveAndNatTimeouts) {
    const std::string node = "node = alpha\nport = wan0 wan net_null0\nport = tap0 overlay net_tap0\n"
                             "wan-address = wan0 10.0.0.1/24\n";
    const std::string warning =
        "t.conf:2: node 'alpha': icmp without a hostname (behind a NAT?) and keepalive 60 s: a NAT forgets ICMP "
        "mappings after 30 s of silence (Linux); keepalive = 20 keeps them";
    EXPECT_EQ(strs(load_ok("enable-icmp = yes\n" + node).warnings), std::vector<std::string>{warning});
    EXPECT_TRUE(load_ok("enable-icmp = yes\nkeepalive = 20\n" + node).warnings.empty());
    EXPECT_TRUE(load_ok("enable-udp = yes\n" + node).warnings.empty());
    EXPECT_TRUE(load_ok("enable-icmp = yes\nicmp-type = 13\n" + node).warnings.empty()) << "no echo: no NAT";
    EXPECT_TRUE(load_ok("enable-icmp = yes\n" + node + "hostname = 10.0.0.1\n").warnings.empty());
}

TEST(ConfigValidate, NoWanPortAndNoOverlayPort) {
    EXPECT_EQ(load_errors("enable-udp = yes\nnode = alpha\nport = tap0 overlay net_tap0\n"),
              std::vector<std::string>{"t.conf:2: node 'alpha': no wan port (add 'port = NAME wan DEVARGS')"});
    EXPECT_EQ(load_errors("enable-udp = yes\nnode = alpha\n"),
              std::vector<std::string>{"t.conf:2: node 'alpha': no wan port (add 'port = NAME wan DEVARGS')"});
    config c = load_ok("enable-udp = yes\nnode = alpha\nport = wan0 wan net_null0\nwan-address = wan0 10.0.0.1/24\n");
    EXPECT_EQ(strs(c.warnings), std::vector<std::string>{"t.conf:2: node 'alpha': no overlay port: this node can only relay"});
}

TEST(ConfigValidate, OnlyTheLocalLayoutIsChecked) {
    // beta's layout is broken, but it describes another machine.
    load_ok(std::string(base) + "node = beta\nport = x wan bogus\nworker-lcores = 99\n");
    EXPECT_FALSE(load_config_text(std::string(base) + "node = beta\nport = x wan bogus\n", "t.conf", opts("beta")));
}

struct devargs_case {
    const char* devargs;
    const char* problem;  // nullptr: valid
};

TEST(ConfigValidate, Devargs) {
    const devargs_case cases[] = {
        {"0000:01:00.0", nullptr},
        {"01:00.1", nullptr},
        {"0000:af:1f.7,rx_low_latency=1", nullptr},
        {"net_null1", nullptr},
        {"net_af_packet1,iface=veth1,qpairs=2", nullptr},
        {"net_af_xdp1,iface=eth1,start_queue=0", nullptr},
        {"net_vhost1,iface=/tmp/vhost.sock,queues=2", nullptr},
        {"net_memif1,role=server,socket-abstract=no", nullptr},
        {"net_ring1,nodeaction=r1:0:CREATE", nullptr},
        {"net_pcap1,rx_pcap=/tmp/in.pcap,infinite_rx=1,tx_iface=lo", nullptr},
        {"net_bonding1,mode=1,member=[0,1]", nullptr},
        {"net_virtio_user1,path=/dev/vhost-net,queue_size=1024,mac=02:00:00:00:00:01", nullptr},
        {"net_af_packet1,iface", "expected key=value after ','"},
        {"net_af_packet1,iface=", "empty value for key 'iface'"},
        {"net_af_packet1,=veth1", "empty key in '=veth1'"},
        {"net_null1,,size=64", "empty segment ',,'"},
        {"net_null1,", "trailing ','"},
        {",size=64", "missing device name before ','"},
        {"net_null1,k@y=1", "bad key 'k@y' (letters, digits, '_' and '-')"},
        {"net_null1, size=64", "unexpected whitespace (devargs is one word: DEVICE,key=value,...)"},
        {"net_ring1,x=[0,1", "unbalanced '[' ']'"},
        {"net_ring1,x=0]", "unbalanced '[' ']'"},
        {"net_foo0",
         "unknown vdev driver 'net_foo' (known: net_af_packet, net_af_xdp, net_bonding, net_failsafe, net_memif, "
         "net_null, net_pcap, net_ring, net_softnic, net_tap, net_tun, net_vdev_netvsc, net_vhost, net_virtio_user)"},
        {"net_tap", "vdev 'net_tap' needs an instance number, e.g. 'net_tap0'"},
        {"net_Tap0", "bad vdev name 'net_Tap0': expected net_<driver><instance>, e.g. net_tap0"},
        {"net_0", "bad vdev name 'net_0': expected net_<driver><instance>, e.g. net_tap0"},
        {"net_af_packet1", "net_af_packet needs iface=IFNAME"},
        // dvpe's own TAP port (pmd/host_tap.hh)
        {"dvpe_tap0", nullptr},
        {"dvpe_tap12,iface=vpn0,offload=off", nullptr},
        {"dvpe_tap0,offload=on", nullptr},
        {"dvpe_tap0,uso=off", nullptr},
        {"dvpe_tap0,offload=on,uso=on", nullptr},
        {"dvpe_tap0,uso=no", "dvpe_tap uso='no': expected on or off"},
        {"dvpe_tap", "TAP port 'dvpe_tap' needs an instance number, e.g. dvpe_tap0"},
        {"dvpe_tapx", "TAP port 'dvpe_tapx' needs an instance number, e.g. dvpe_tap0"},
        {"dvpe_tap0,offload=maybe", "dvpe_tap offload='maybe': expected on or off"},
        {"dvpe_tap0,iface=", "dvpe_tap iface='': an interface name of 1 to 15 characters"},
        {"dvpe_tap0,iface=a23456789012345x", "dvpe_tap iface='a23456789012345x': an interface name of 1 to 15 characters"},
        {"dvpe_tap0,iface=a/b", "dvpe_tap iface='a/b': an interface name of 1 to 15 characters"},
        {"dvpe_tap0,queues=2", "dvpe_tap: unknown key 'queues' (known: iface, offload, uso)"},
        {"dvpe_tap0,", "dvpe_tap: unknown key '' (known: iface, offload, uso)"},
        {"net_af_xdp1,start_queue=0", "net_af_xdp needs iface=IFNAME"},
        {"eth0",
         "expected a PCI address (DDDD:BB:DD.F or BB:DD.F), a vdev name net_<driver><N> or dvpe_tap<N> before the "
         "first ','"},
        {"0000:01:00.8",
         "expected a PCI address (DDDD:BB:DD.F or BB:DD.F), a vdev name net_<driver><N> or dvpe_tap<N> before the "
         "first ','"},
        {"000:01:00.0",
         "expected a PCI address (DDDD:BB:DD.F or BB:DD.F), a vdev name net_<driver><N> or dvpe_tap<N> before the "
         "first ','"},
        {"0000:0g:00.0",
         "expected a PCI address (DDDD:BB:DD.F or BB:DD.F), a vdev name net_<driver><N> or dvpe_tap<N> before the "
         "first ','"},
    };
    for (const devargs_case& dc : cases) {
        SCOPED_TRACE(dc.devargs);
        std::string text = std::string(base) + "port = p1 bridge " + dc.devargs + "\n";
        if (dc.problem == nullptr) {
            load_ok(text);
        } else {
            EXPECT_EQ(load_errors(text), std::vector<std::string>{std::string("t.conf:6: port p1: bad devargs '") +
                                                                  dc.devargs + "': " + dc.problem});
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Defaults filled by validation
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Site gateways (docs/site-gateways.md): LAN ports, lan-address, route, bridge-mac, mac-*
// ---------------------------------------------------------------------------------------------

TEST(ConfigSiteGateways, LanPortsAndLanAddresses) {
    const std::string tap_second = "t.conf:6: port tap1: a second overlay port (the node's TAP is port tap0, "
                                   "t.conf:5): at most one overlay port per node, besides one bridge or route port";
    const layout_case cases[] = {
        // one TAP beside one LAN port, either kind
        {"port = lan0 bridge net_af_packet1,iface=eth1", {}},
        {"port = lan0 route net_af_packet1,iface=eth1\nlan-address = lan0 10.1.0.1/24", {}},
        {"port = lan0 route net_null1\nlan-address = lan0 2001:db8:1::1/64", {}},
        // port counts
        {"port = tap1 overlay net_tap1", {tap_second}},
        {"port = lan0 bridge net_null1\nport = lan1 route net_null2\nlan-address = lan1 10.1.0.1/24",
         {"t.conf:7: port lan1: one LAN port per node: port lan0 (t.conf:6) is already a bridge port"}},
        {"port = lan0 route net_null1\nport = lan1 bridge net_null2\nlan-address = lan0 10.1.0.1/24",
         {"t.conf:7: port lan1: one LAN port per node: port lan0 (t.conf:6) is already a route port"}},
        {"port = lan0 bridge net_null1\nport = lan1 bridge net_null2",
         {"t.conf:7: port lan1: one LAN port per node: port lan0 (t.conf:6) is already a bridge port"}},
        // a route port needs a lan-address
        {"port = lan0 route net_null1",
         {"t.conf:6: port lan0: route port has no lan-address (add 'lan-address = lan0 ADDR/PREFIX': the gateway's "
          "address on the LAN)"}},
        {"port = lan0 route net_null1\nlan-address = tap0 10.1.0.1/24",
         {"t.conf:7: lan-address: port 'tap0' is an overlay port (the node's TAP), not a route port (lan-address is "
          "the gateway's address on a 'port = NAME route DEVARGS')",
          "t.conf:6: port lan0: route port has no lan-address (add 'lan-address = lan0 ADDR/PREFIX': the gateway's "
          "address on the LAN)"}},
        // lan-address on anything but a route port
        {"lan-address = wan0 10.1.0.1/24",
         {"t.conf:6: lan-address: port 'wan0' is a wan port, not a route port (lan-address is the gateway's address "
          "on a 'port = NAME route DEVARGS')"}},
        {"port = lan0 bridge net_null1\nlan-address = lan0 10.1.0.1/24",
         {"t.conf:7: lan-address: port 'lan0' is a bridge port, not a route port (lan-address is the gateway's "
          "address on a 'port = NAME route DEVARGS')"}},
        {"lan-address = nope 10.1.0.1/24", {"t.conf:6: lan-address: unknown port 'nope'"}},
        // the addresses themselves
        {"port = lan0 route net_null1\nlan-address = lan0 0.0.0.0/24",
         {"t.conf:7: lan-address: 0.0.0.0 is not a usable address"}},
        {"port = lan0 route net_null1\nlan-address = lan0 10.0.0.1/24",
         {"t.conf:7: lan-address: 10.0.0.1 is also a wan-address of port wan0 (t.conf:4)"}},
        {"port = lan0 route net_null1\nlan-address = lan0 10.1.0.1/24\nlan-address = lan0 10.1.0.1/16",
         {"t.conf:8: lan-address: 10.1.0.1 is already configured (t.conf:7)"}},
        // wan-address on a LAN port stays an error
        {"port = lan0 route net_null1\nlan-address = lan0 10.1.0.1/24\nwan-address = lan0 10.2.0.1/24",
         {"t.conf:8: wan-address: port 'lan0' is an overlay port, not a wan port"}},
        // a second TAP is found whatever stands between the two
        {"port = lan0 bridge net_null1\nport = lan1 overlay net_null2",
         {"t.conf:7: port lan1: a second overlay port (the node's TAP is port tap0, t.conf:5): at most one overlay "
          "port per node, besides one bridge or route port"}},
    };
    for (const layout_case& lc : cases) {
        SCOPED_TRACE(lc.lines);
        auto r = load_config_text(std::string(base) + lc.lines + "\n", "t.conf", opts("alpha", lc.n_cpus));
        EXPECT_EQ(r.has_value() ? std::vector<std::string>{} : strs(r.error()), lc.errors);
    }
}

TEST(ConfigSiteGateways, LanPortWithoutTapIsNoRelayOnlyNode) {
    config c = load_ok("enable-udp = yes\nnode = alpha\nport = wan0 wan net_null0\nwan-address = wan0 10.0.0.1/24\n"
                       "port = lan0 bridge net_null1\n");
    EXPECT_TRUE(c.warnings.empty()) << joined(c.warnings);
    EXPECT_EQ(c.nodes[0].engine.ports.at(1).mode, overlay_mode::bridge);
    // The queue map polls the LAN port like any other.
    EXPECT_EQ(c.nodes[0].engine.queue_map.size(), 2U);
}

TEST(ConfigSiteGateways, LanAddressesPerFamily) {
    std::string head = std::string(base) + "port = lan0 route net_null1\n";  // line 6
    std::string eight_each;
    for (int i = 1; i <= 8; ++i) {
        eight_each += "lan-address = lan0 10.1." + std::to_string(i) + ".1/24\n";
        eight_each += "lan-address = lan0 2001:db8:" + std::to_string(i) + "::1/64\n";
    }
    config c = load_ok(head + eight_each);
    EXPECT_EQ(c.nodes[0].engine.lan_addresses.size(), 16U);
    // line 7 + 16 = 23: the ninth IPv4 address
    EXPECT_EQ(load_errors(head + eight_each + "lan-address = lan0 10.1.9.1/24\n"),
              std::vector<std::string>{"t.conf:23: lan-address: port lan0 has more than 8 IPv4 addresses"});
    EXPECT_EQ(load_errors(head + eight_each + "lan-address = lan0 2001:db8:9::1/64\n"),
              std::vector<std::string>{"t.conf:23: lan-address: port lan0 has more than 8 IPv6 addresses"});
}

TEST(ConfigSiteGateways, RoutesAreCheckedOverAllNodes) {
    // Checked for every node, with or without a local node (the table is the same everywhere).
    const std::string nodes = "enable-udp = yes\nnode = a\nnode = b\n";  // lines 1-3
    struct route_case {
        const char* lines;                // appended at line 4, in node b's section
        std::vector<std::string> errors;
    };
    const route_case cases[] = {
        {"route = 10.1.0.0/24\nroute = 10.2.0.0/16\nroute = 2001:db8:1::/48\nroute = 10.1.0.0/25", {}},
        {"route = 0.0.0.0/0\nroute = ::/0\nroute = 192.0.2.7\nroute = 2001:db8::7", {}},
        {"route = 10.1.0.5/24", {"t.conf:4: route 10.1.0.5/24 has host bits set (did you mean 10.1.0.0/24?)"}},
        {"route = 10.1.0.128/24", {"t.conf:4: route 10.1.0.128/24 has host bits set (did you mean 10.1.0.0/24?)"}},
        {"route = 10.0.0.1/0", {"t.conf:4: route 10.0.0.1/0 has host bits set (did you mean 0.0.0.0/0?)"}},
        {"route = 2001:db8:1::1/48",
         {"t.conf:4: route 2001:db8:1::1/48 has host bits set (did you mean 2001:db8:1::/48?)"}},
        {"route = 2001:db8:1:ff00::/55",
         {"t.conf:4: route 2001:db8:1:ff00::/55 has host bits set (did you mean 2001:db8:1:fe00::/55?)"}},
        {"route = 10.1.0.0/24\nroute = 10.1.0.0/24",
         {"t.conf:5: route 10.1.0.0/24: listed twice for node 'b' (also at t.conf:4)"}},
        // nodes in file order: a's line is seen first, the error is at b's
        {"route = 10.1.0.0/24\nnode = a\nroute = 10.1.0.0/24",
         {"t.conf:4: route 10.1.0.0/24: owned by node 'b' and by node 'a' (t.conf:6)"}},
        {"route = 2001:db8::/32\nnode = a\nroute = 2001:0db8::/32",
         {"t.conf:4: route 2001:db8::/32: owned by node 'b' and by node 'a' (t.conf:6)"}},
        // the same network with another length is another route
        {"route = 10.1.0.0/24\nnode = a\nroute = 10.1.0.0/16", {}},
        // a default (before the first node) is copied into every later node: two owners
        {"node = c\nglobal\nroute = 10.9.0.0/16\nnode = d\nnode = e",
         {"t.conf:6: route 10.9.0.0/16: owned by node 'e' and by node 'd' (t.conf:6)"}},
    };
    for (const route_case& rc : cases) {
        SCOPED_TRACE(rc.lines);
        for (const char* self : {"", "a"}) {
            auto r = load_config_text(nodes + rc.lines + "\n", "t.conf", opts(self));
            std::vector<std::string> got = r.has_value() ? std::vector<std::string>{} : strs(r.error());
            if (*self != 0) {  // node a has no layout: drop its port errors
                got.erase(std::remove_if(got.begin(), got.end(),
                                         [](const std::string& e) { return e.find("route") == std::string::npos; }),
                          got.end());
            }
            EXPECT_EQ(got, rc.errors) << "node '" << self << "'";
        }
    }
}

TEST(ConfigSiteGateways, RouteLimits) {
    auto v4 = [](unsigned i) {
        return "route = 10." + std::to_string(i >> 16) + "." + std::to_string((i >> 8) & 255) + "." +
               std::to_string(i & 255) + "\n";
    };
    // 4096 routes in one node are fine, the 4097th is one too many.
    std::string text = "enable-udp = yes\nnode = a\n";  // routes from line 3
    for (unsigned i = 0; i < limits::max_routes_per_node; ++i) {
        text += v4(i);
    }
    config c = load_ok(text, opts(""));
    EXPECT_EQ(c.nodes[0].routes.size(), 4096U);
    EXPECT_EQ(load_errors(text + v4(4096), opts("")),
              std::vector<std::string>{"t.conf:4099: route 10.0.16.0/32: node 'a' has too many routes (at most 4096 "
                                       "per node)"});
    // 65536 in all nodes, then one more.
    std::string all = "enable-udp = yes\n";
    unsigned i = 0;
    for (unsigned n = 0; n < 16; ++n) {
        all += "node = n" + std::to_string(n) + "\n";
        for (unsigned k = 0; k < limits::max_routes_per_node; ++k) {
            all += v4(i++);
        }
    }
    config big = load_ok(all, opts(""));
    EXPECT_EQ(big.nodes.size(), 16U);
    const int last_line = 1 + 16 + 65536;
    EXPECT_EQ(load_errors(all + "node = n16\n" + v4(i), opts("")),
              std::vector<std::string>{"t.conf:" + std::to_string(last_line + 2) +
                                       ": route 10.1.0.0/32: too many routes (at most 65536 in all nodes together)"});
}

TEST(ConfigSiteGateways, BridgeMacs) {
    const std::string nodes = "enable-udp = yes\nnode = a\nnode = b\n";  // lines 1-3
    struct mac_case {
        const char* lines;  // from line 4, node b
        std::vector<std::string> errors;
    };
    const mac_case cases[] = {
        {"bridge-mac = 02:00:00:00:00:01\nbridge-mac = 00:1b:21:aa:bb:cc\nnode = a\nbridge-mac = 02:00:00:00:00:02",
         {}},
        {"bridge-mac = 01:00:5e:00:00:01",
         {"t.conf:4: bridge-mac 01:00:5e:00:00:01: a group (multicast or broadcast) address, not a station"}},
        {"bridge-mac = 33:33:00:00:00:01",
         {"t.conf:4: bridge-mac 33:33:00:00:00:01: a group (multicast or broadcast) address, not a station"}},
        {"bridge-mac = ff:ff:ff:ff:ff:ff",
         {"t.conf:4: bridge-mac ff:ff:ff:ff:ff:ff: a group (multicast or broadcast) address, not a station"}},
        {"bridge-mac = 00:00:00:00:00:00", {"t.conf:4: bridge-mac 00:00:00:00:00:00: the all-zero address is not a station"}},
        {"bridge-mac = fe:fd:80:00:00:02",
         {"t.conf:4: bridge-mac fe:fd:80:00:00:02: a node MAC (fe:fd:80:00:HH:LL): node MACs are delivered by node "
          "id, not by the MAC table"}},
        {"bridge-mac = FE:FD:80:00:12:34",
         {"t.conf:4: bridge-mac fe:fd:80:00:12:34: a node MAC (fe:fd:80:00:HH:LL): node MACs are delivered by node "
          "id, not by the MAC table"}},
        {"bridge-mac = fe:fd:80:01:00:02", {}},  // not a node MAC
        {"bridge-mac = 02:00:00:00:00:01\nbridge-mac = 02-00-00-00-00-01",
         {"t.conf:5: bridge-mac 02:00:00:00:00:01: listed twice for node 'b' (also at t.conf:4)"}},
        {"bridge-mac = 02:00:00:00:00:01\nnode = a\nbridge-mac = 02:00:00:00:00:01",
         {"t.conf:4: bridge-mac 02:00:00:00:00:01: listed for node 'b' and for node 'a' (t.conf:6)"}},
    };
    for (const mac_case& mc : cases) {
        SCOPED_TRACE(mc.lines);
        auto r = load_config_text(nodes + mc.lines + "\n", "t.conf", opts(""));
        EXPECT_EQ(r.has_value() ? std::vector<std::string>{} : strs(r.error()), mc.errors);
    }
}

TEST(ConfigSiteGateways, MacTableSettings) {
    // Node-specific: a default reaches later nodes, a node section overrides it.
    config c = load_ok("mac-age = 60\nmac-table-size = 1024\n" + std::string(base) + "mac-limit-per-peer = 100\n");
    EXPECT_EQ(c.nodes[0].engine.mac_age_s, 60U);
    EXPECT_EQ(c.nodes[0].engine.mac_table_size, 1024U);
    EXPECT_EQ(c.nodes[0].engine.mac_limit_per_peer, 100U);
    EXPECT_TRUE(c.warnings.empty()) << joined(c.warnings);
    // A per-peer limit above the table size warns (not an error), at the limit's line ...
    config w = load_ok(std::string(base) + "mac-limit-per-peer = 20000\n");
    EXPECT_EQ(strs(w.warnings), std::vector<std::string>{"t.conf:6: mac-limit-per-peer: 20000 is larger than "
                                                         "mac-table-size 16384 (the table fills first)"});
    // ... or at the node line when only the table shrank below the default limit.
    config d = load_ok(std::string(base) + "mac-table-size = 1000\n");
    EXPECT_EQ(strs(d.warnings), std::vector<std::string>{"t.conf:2: mac-limit-per-peer: 4096 is larger than "
                                                         "mac-table-size 1000 (the table fills first)"});
    // Only the local node is warned about.
    config other = load_ok(std::string(base) + "node = beta\nmac-table-size = 1000\n");
    EXPECT_TRUE(other.warnings.empty()) << joined(other.warnings);
}

TEST(ConfigDefaults, QueueMapIsRoundRobinOverWorkers) {
    config c = load_ok(std::string(base) + "worker-lcores = 2,3\nport = lan0 bridge net_null1\n");
    const auto& q = c.nodes[0].engine.queue_map;
    ASSERT_EQ(q.size(), 3U);
    EXPECT_EQ(q[0].port, "wan0");
    EXPECT_EQ(q[0].queue, 0U);
    EXPECT_EQ(q[0].lcore, 2U);
    EXPECT_EQ(q[1].port, "tap0");
    EXPECT_EQ(q[1].lcore, 3U);
    EXPECT_EQ(q[2].port, "lan0");
    EXPECT_EQ(q[2].lcore, 2U);
    EXPECT_EQ(q[2].where.line, 7);
    EXPECT_TRUE(c.warnings.empty()) << joined(c.warnings);
}

TEST(ConfigDefaults, IdleWorkerWarns) {
    config c = load_ok(std::string(base) + "worker-lcores = 1-3\n");
    EXPECT_EQ(strs(c.warnings), std::vector<std::string>{"t.conf:6: worker-lcores: lcore 3 polls no queue"});
}

TEST(ConfigDefaults, WanAddressFromLiteralHostname) {
    const std::string head = "enable-udp = yes\nnode = alpha\nport = wan0 wan net_null0\nport = tap0 overlay net_tap0\n";
    config c = load_ok(head + "hostname = 192.0.2.7\n");
    const auto& a = c.nodes[0].engine.wan_addresses;
    ASSERT_EQ(a.size(), 1U);
    EXPECT_EQ(a[0].port, "wan0");
    EXPECT_EQ(a[0].addr.str(), "192.0.2.7");
    EXPECT_EQ(a[0].prefix, 32);
    EXPECT_EQ(a[0].where.line, 5);
    config c6 = load_ok(head + "hostname = 2001:db8::7\n");
    EXPECT_EQ(c6.nodes[0].engine.wan_addresses.at(0).prefix, 128);
    // Not a literal, unspecified, or a second wan port: an error names the port.
    EXPECT_EQ(load_errors(head + "hostname = vpn.example.org\n"),
              std::vector<std::string>{"t.conf:3: port wan0: wan port has no wan-address (add 'wan-address = wan0 "
                                       "ADDR/PREFIX'; the hostname is not an IP literal to default to)"});
    EXPECT_EQ(load_errors(head + "hostname = 0.0.0.0\n"),
              std::vector<std::string>{"t.conf:3: port wan0: wan port has no wan-address (add 'wan-address = wan0 "
                                       "ADDR/PREFIX')"});
    EXPECT_EQ(load_errors(head + "hostname = 192.0.2.7\nport = wan1 wan net_null1\n"),
              std::vector<std::string>{"t.conf:6: port wan1: wan port has no wan-address (add 'wan-address = wan1 "
                                       "ADDR/PREFIX')"});
    // An explicit wan-address wins over the hostname.
    config e = load_ok(head + "hostname = 192.0.2.7\nwan-address = wan0 10.0.0.1/24\n");
    EXPECT_EQ(e.nodes[0].engine.wan_addresses.size(), 1U);
}

TEST(ConfigDefaults, RequiredMbufs) {
    engine_layout e;
    e.worker_lcores = {1, 2};
    e.ports = {port_conf{"a", port_role::wan, "net_null0", {}}, port_conf{"b", port_role::overlay, "net_tap0", {}}};
    // Default map: 2 rx queues.
    // rx rings + tx rings per port and worker + a burst per worker + reassembly per worker + caches
    EXPECT_EQ(required_mbufs(e), 2U * 1024 + 2U * 2 * 1024 + 2U * 32 + 2U * 256 + 3U * 256);
    e.queue_map = {{"a", 0, 1, {}}, {"a", 1, 2, {}}, {"b", 0, 1, {}}};
    e.rx_descriptors = 512;
    e.tx_descriptors = 256;
    e.burst_size = 64;
    e.mbuf_cache = 0;
    EXPECT_EQ(required_mbufs(e), 3U * 512 + 2U * 2 * 256 + 2U * 64 + 2U * 256);
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

TEST(ConfigHelpers, NodeMac) {
    EXPECT_EQ(mac_string(node_mac(1)), "fe:fd:80:00:00:01");
    EXPECT_EQ(mac_string(node_mac(258)), "fe:fd:80:00:01:02");
    EXPECT_EQ(mac_string(node_mac(limits::max_node_id)), "fe:fd:80:00:0f:ff");
}

TEST(ConfigHelpers, IpAddr) {
    struct ip_case {
        const char* text;
        bool ok;
        bool v6;
        const char* str;
    };
    constexpr ip_case cases[] = {
        {"10.0.0.1", true, false, "10.0.0.1"},     {"255.255.255.255", true, false, "255.255.255.255"},
        {"::1", true, true, "::1"},                {"2001:DB8:0:0::1", true, true, "2001:db8::1"},
        {"::ffff:1.2.3.4", true, true, "::ffff:1.2.3.4"}, {"10.0.0", false, false, ""},
        {"10.0.0.256", false, false, ""},          {"1.2.3.4.5", false, false, ""},
        {"", false, false, ""},                    {"fe80::1%eth0", false, false, ""},
        {"example.org", false, false, ""},         {"1::2::3", false, false, ""},
    };
    for (const ip_case& ic : cases) {
        SCOPED_TRACE(ic.text);
        auto a = ip_address::parse(ic.text);
        ASSERT_EQ(a.has_value(), ic.ok);
        if (ic.ok) {
            EXPECT_EQ(a->v6, ic.v6);
            EXPECT_EQ(a->str(), ic.str);
            EXPECT_EQ(ip_address::parse(a->str()), a);
        }
    }
    EXPECT_EQ(ip_address::parse("1.2.3.4")->bytes[3], 4);
}

TEST(ConfigHelpers, NamesAndStrings) {
    EXPECT_EQ(to_string(connect_mode::always), "always");
    EXPECT_EQ(to_string(connect_mode::ondemand), "ondemand");
    EXPECT_EQ(to_string(connect_mode::never), "never");
    EXPECT_EQ(to_string(connect_mode::disabled), "disabled");
    EXPECT_EQ(to_string(port_role::wan), "wan");
    EXPECT_EQ(to_string(port_role::overlay), "overlay");
    EXPECT_EQ(to_string(overlay_mode::host), "host");
    EXPECT_EQ(to_string(overlay_mode::bridge), "bridge");
    EXPECT_EQ(to_string(overlay_mode::route), "route");
    EXPECT_EQ(to_string(static_cast<overlay_mode>(9)), "?");
    for (log_level l : {log_level::noise, log_level::trace, log_level::debug, log_level::info, log_level::notice,
                        log_level::warn, log_level::error, log_level::critical}) {
        EXPECT_EQ(parse_log_level(to_string(l)), l);
    }
    EXPECT_EQ(to_string(log_level::warn), "warn");
    EXPECT_FALSE(parse_log_level("warning").has_value());
    EXPECT_EQ(protocols_string(0), "none");
    EXPECT_EQ(protocols_string(proto_udp | proto_icmp), "udp,icmp");
    EXPECT_EQ(protocols_string(0x1f), "udp,rawip,tcp,icmp,dns");
    diagnostic d;
    d.message = "m";
    EXPECT_EQ(d.str(), "m");
    d.where.file = "f.conf";
    d.where.line = 3;
    EXPECT_EQ(d.str(), "f.conf:3: m");
    d.where.file = "<cmdline>";
    d.where.line = 2;
    EXPECT_EQ(d.str(), "<cmdline>:2: m");
}

TEST(ConfigHelpers, ExpandPath) {
    config c;
    c.confdir = "/etc/dvpe";
    c.nodename = "alpha";
    EXPECT_EQ(c.expand_path("hostkeys/%s"), "/etc/dvpe/hostkeys/alpha");
    EXPECT_EQ(c.expand_path("/run/dvpe/%s.sock"), "/run/dvpe/alpha.sock");
    EXPECT_EQ(c.expand_path("100%%"), "/etc/dvpe/100%");
    EXPECT_EQ(c.expand_path("if-up"), "/etc/dvpe/if-up");
    config loaded = load_ok(mesh, opts("b"));
    EXPECT_EQ(loaded.expand_path(loaded.global.control_socket), "/run/dvpe/b.sock");
}

// ---------------------------------------------------------------------------------------------
// Shipped files
// ---------------------------------------------------------------------------------------------

TEST(ConfigShipped, GvpeCompatConfLoadsForEveryNode) {
    load_options o = opts("");
    o.confdir = DVPE_SOURCE_ROOT "/configs";
    std::string text;
    {
        std::ifstream in(o.confdir + "/gvpe-compat.conf");
        ASSERT_TRUE(in.good());
        std::stringstream ss;
        ss << in.rdbuf();
        text = ss.str();
    }
    o.host = test_host();  // a GVPE file: the engine layout comes from the host
    auto tools = load_config_text(text, "gvpe-compat.conf", o);
    ASSERT_TRUE(tools.has_value()) << joined(tools.error());
    ASSERT_GE(tools->nodes.size(), 4U);
    EXPECT_FALSE(tools->warnings.empty());  // the GVPE-only directives say they are ignored
    for (const diagnostic& w : tools->warnings) {
        EXPECT_NE(w.message.find("not supported by dvpe"), std::string::npos) << w.str();
    }
    for (const node_conf& n : tools->nodes) {
        SCOPED_TRACE(n.name);
        load_options on = o;
        on.nodename = n.name;
        auto r = load_config_text(text, "gvpe-compat.conf", on);
        ASSERT_TRUE(r.has_value()) << joined(r.error());
        EXPECT_EQ(r->self_node().name, n.name);
        EXPECT_FALSE(r->self_node().engine.wan_addresses.empty());
        EXPECT_FALSE(r->self_node().engine.queue_map.empty());
        EXPECT_FALSE(r->auto_layout.empty());
        EXPECT_EQ(r->self_node().engine.ports.at(0).devargs, "net_af_packet0,iface=eth0");
    }
}

// docs/config.md "Automatic engine layout": a node without `port` lines gets one from the host.
TEST(ConfigAutoLayout, FromTheHost) {
    // `more`: lines of alpha's section
    auto load = [&](const std::string& hostname, const host_facts& h, const std::string& more = "") {
        load_options o = opts("alpha");
        o.host = h;
        return load_config_text("enable-udp = yes\nifname = vpn0\nnode = alpha\nhostname = " + hostname + "\n" + more +
                                    "node = beta\n",
                                "t.conf", o);
    };
    // the default route's interface, its addresses and gateway; a link-local IPv6 gateway is not used
    auto r = load("alpha.example.net", test_host());
    ASSERT_TRUE(r.has_value()) << joined(r.error());
    const engine_layout& e = r->self_node().engine;
    ASSERT_EQ(e.ports.size(), 2U);
    EXPECT_EQ(e.ports[0].devargs, "net_af_packet0,iface=eth0");
    EXPECT_EQ(e.ports[1].devargs, "dvpe_tap0");
    EXPECT_TRUE(e.kernel_wan);
    ASSERT_EQ(e.wan_addresses.size(), 2U);
    EXPECT_EQ(e.wan_addresses[0].addr.str() + "/" + std::to_string(e.wan_addresses[0].prefix), "192.0.2.10/24");
    EXPECT_EQ(e.wan_addresses[1].addr.str(), "2001:db8::10");
    ASSERT_EQ(e.wan_gateways.size(), 1U);
    EXPECT_EQ(e.wan_gateways[0].addr.str(), "192.0.2.1");
    EXPECT_EQ(e.control_lcore, 0U);
    EXPECT_EQ(e.worker_lcores, std::vector<unsigned>{1});
    EXPECT_TRUE(e.hugepages);
    const std::string notes = [&] {
        std::string s;
        for (const auto& l : r->auto_layout) {
            s += l + "\n";
        }
        return s;
    }();
    EXPECT_NE(notes.find("the interface of the IPv4 default route"), std::string::npos) << notes;
    EXPECT_NE(notes.find("fe80::1, is link-local"), std::string::npos) << notes;
    // the interface that has the hostname's address wins over the default route's
    host_facts h = test_host();
    h.interfaces.push_back({"eth1", {{*ip_address::parse("203.0.113.5"), 28}}});
    r = load("203.0.113.5", h);
    ASSERT_TRUE(r.has_value()) << joined(r.error());
    EXPECT_EQ(r->self_node().engine.ports[0].devargs, "net_af_packet0,iface=eth1");
    ASSERT_EQ(r->self_node().engine.wan_addresses.size(), 1U);
    EXPECT_TRUE(r->self_node().engine.wan_gateways.empty());  // the default route is not eth1's
    // CPUs 4 and 5: lcores 0 and 1 mapped onto them (a CPU id is no lcore id)
    h = test_host();
    h.cpus = {4, 5};
    r = load("x", h);
    ASSERT_TRUE(r.has_value()) << joined(r.error());
    EXPECT_EQ(r->self_node().engine.eal_args, "--lcores=0@4,1@5");
    EXPECT_EQ(r->self_node().engine.control_lcore, 0U);
    // no free hugepages, but `hugepages = yes` in the config: kept
    h = test_host();
    h.hugepages = false;
    r = load("x", h, "hugepages = yes\n");
    ASSERT_TRUE(r.has_value()) << joined(r.error());
    EXPECT_TRUE(r->self_node().engine.hugepages);
    // an exception interface needs a port of its own
    r = load("x", test_host(), "exception = wan0 ex0\n");
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(joined(r.error()).find("exception: needs a 'port' line"), std::string::npos) << joined(r.error());
    // restricted to one CPU: both lcores on it; no free hugepages: without them
    h = test_host();
    h.cpus = {3};
    h.hugepages = false;
    r = load("x", h);
    ASSERT_TRUE(r.has_value()) << joined(r.error());
    EXPECT_EQ(r->self_node().engine.eal_args, "--lcores=0@3,1@3");
    EXPECT_FALSE(r->self_node().engine.hugepages);
    EXPECT_EQ(r->self_node().engine.memory_mb, 512U);
    // explicit lines win: lcores, addresses
    h = test_host();
    h.cpus = {0, 1, 2, 3};
    r = load("x", h, "worker-lcores = 2-3\nwan-address = wan0 192.0.2.77/24\n");
    ASSERT_TRUE(r.has_value()) << joined(r.error());
    EXPECT_EQ(r->self_node().engine.worker_lcores, (std::vector<unsigned>{2, 3}));
    ASSERT_EQ(r->self_node().engine.wan_addresses.size(), 1U);
    EXPECT_EQ(r->self_node().engine.wan_addresses[0].addr.str(), "192.0.2.77");
    // a layout in the config: nothing automatic
    r = load("x", test_host(), "port = wan0 wan net_null0\nwan-address = wan0 10.0.0.1/24\nport = tap0 overlay net_tap0\n");
    ASSERT_TRUE(r.has_value()) << joined(r.error());
    EXPECT_TRUE(r->auto_layout.empty());
    EXPECT_FALSE(r->self_node().engine.kernel_wan);
    // no default route and no hostname address: a clear error
    h = test_host();
    h.default_if4.clear();
    h.default_if6.clear();
    r = load("198.51.100.9", h);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(joined(r.error()).find("no interface for the wan port"), std::string::npos) << joined(r.error());
    // without host facts: the error dvped gave before
    load_options o = opts("alpha");
    auto t = load_config_text("enable-udp = yes\nnode = alpha\nnode = beta\n", "t.conf", o);
    ASSERT_FALSE(t.has_value());
    EXPECT_NE(joined(t.error()).find("no wan port"), std::string::npos) << joined(t.error());
    // tools (dvpectl) do not check the engine: the node table and paths load
    o.check_engine = false;
    t = load_config_text("enable-udp = yes\ncontrol-socket = /tmp/%s.sock\nnode = alpha\nnode = beta\n", "t.conf", o);
    ASSERT_TRUE(t.has_value()) << joined(t.error());
    EXPECT_EQ(t->expand_path(t->global.control_socket), "/tmp/alpha.sock");
    EXPECT_TRUE(t->self_node().engine.ports.empty());
}

// configs/deploy (docs/deploy.md): both gateways load without a warning, with their exception
// interface, two workers and the queue map.
TEST(ConfigShipped, DeployExampleLoadsForBothGateways) {
    load_options o = opts("");
    o.confdir = DVPE_SOURCE_ROOT "/configs/deploy";
    std::ifstream in(o.confdir + "/gvpe.conf");
    ASSERT_TRUE(in.good());
    std::stringstream ss;
    ss << in.rdbuf();
    for (const std::string name : {"fra", "ams"}) {
        SCOPED_TRACE(name);
        load_options on = o;
        on.nodename = name;
        on.n_cpus = 8;
        auto r = load_config_text(ss.str(), "gvpe.conf", on);
        ASSERT_TRUE(r.has_value()) << joined(r.error());
        EXPECT_TRUE(r->warnings.empty()) << r->warnings.front().str();
        const engine_layout& e = r->self_node().engine;
        ASSERT_EQ(e.exceptions.size(), 1U);
        EXPECT_EQ(e.exceptions[0].ifname, "uplink");
        EXPECT_EQ(e.worker_lcores, (std::vector<unsigned>{4, 5}));
        EXPECT_EQ(e.queue_map.size(), 4U);
        EXPECT_EQ(r->global.control_socket_group, "prometheus");
    }
}

// configs/site-bridge and configs/site-route (docs/site-gateways.md): every node loads, and
// each gateway has the LAN port and tables the example says.
TEST(ConfigShipped, SiteGatewayExamplesLoadForEveryNode) {
    for (const std::string dir : {"site-bridge", "site-route"}) {
        SCOPED_TRACE(dir);
        load_options o = opts("");
        o.confdir = DVPE_SOURCE_ROOT "/configs/" + dir;
        std::ifstream in(o.confdir + "/gvpe.conf");
        ASSERT_TRUE(in.good());
        std::stringstream ss;
        ss << in.rdbuf();
        const std::string text = ss.str();
        for (const std::string name : {"gw-a", "gw-b", "dc"}) {
            SCOPED_TRACE(name);
            load_options on = o;
            on.nodename = name;
            auto r = load_config_text(text, "gvpe.conf", on);
            ASSERT_TRUE(r.has_value()) << joined(r.error());
            EXPECT_TRUE(r->warnings.empty()) << r->warnings.front().str();
            const auto& ports = r->self_node().engine.ports;
            const bool lan = std::any_of(ports.begin(), ports.end(), [&](const port_conf& p) {
                return p.mode == (dir == "site-bridge" ? overlay_mode::bridge : overlay_mode::route);
            });
            EXPECT_EQ(lan, name != "dc");
            if (dir == "site-route" && name != "dc") {
                EXPECT_EQ(r->self_node().engine.lan_addresses.size(), 2U);
                EXPECT_EQ(r->self_node().routes.size(), 2U);
            }
        }
    }
}

TEST(ConfigShipped, DocsDescribeEveryDirective) {
    std::ifstream in(DVPE_SOURCE_ROOT "/docs/config.md");
    ASSERT_TRUE(in.good());
    std::stringstream ss;
    ss << in.rdbuf();
    std::string doc = ss.str();
    for (const directive_info& d : directives()) {
        EXPECT_NE(doc.find("`" + std::string(d.name)), std::string::npos) << d.name << " is not in docs/config.md";
    }
    // and in the manual page (troff escapes its hyphens)
    std::ifstream man(DVPE_SOURCE_ROOT "/man/dvpe.conf.5");
    ASSERT_TRUE(man.good());
    std::stringstream ms;
    ms << man.rdbuf();
    std::string page = ms.str();
    for (size_t p; (p = page.find("\\-")) != std::string::npos;) {
        page.replace(p, 2, "-");
    }
    for (const directive_info& d : directives()) {
        const std::string n(d.name);
        const bool found = page.find(".BR " + n + " ") != std::string::npos || page.find(" " + n + " ") != std::string::npos ||
                           page.find(".BR " + n + "\n") != std::string::npos || page.find(" " + n + "\n") != std::string::npos;
        EXPECT_TRUE(found) << n << " is not in man/dvpe.conf.5";
    }
}

}  // namespace
}  // namespace control
