// SPDX-License-Identifier: MIT
// control/daemon/paths.hh on configs parsed from text: peer_path equality (every field), the
// choose_paths() policy (IP literal, DNS answer, learned endpoint, udp-port 0 peers, on-link vs
// gateway next hop, routed peers through GVPE's router choice), build_path() (template, port,
// MTU, inherit-tos, the lane source-port rule), answer_path() and source_addr's encoding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "control/daemon/paths.hh"

namespace {

using control::peer_path;
using transport::kind;

control::config load(const std::string& text, std::vector<std::string> overrides = {}) {
    control::load_options o;
    o.confdir = "/nonexistent";
    o.nodename = "a";
    o.n_cpus = 4;
    o.read_includes = false;
    o.overrides = std::move(overrides);
    auto c = control::load_config_text(text, "test.conf", o);
    EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().front().str());
    return std::move(c.value());
}

// a: us, on wan0 with 10.0.0.1/24 (gateway .254) and 2001:db8::1/64 (gateway ::fe), udp-port 1655.
// b: on-link udp; c: off-link rawip; d: on-link IPv6 icmp; e: DNS name; f: no address;
// g: udp-port 0 (udp only), off-link.
const std::string base =
    "enable-udp = yes\n"
    "ip-proto = 50\n"
    "port = wan0 wan net_null0\n"
    "hugepages = no\n"
    "node = a\n"
    "hostname = 10.0.0.1\n"
    "udp-port = 1655\n"
    "enable-rawip = yes\n"
    "enable-icmp = yes\n"
    "wan-address = wan0 10.0.0.1/24\n"
    "wan-gateway = wan0 10.0.0.254\n"
    "wan-address = wan0 2001:db8::1/64\n"
    "wan-gateway = wan0 2001:db8::fe\n"
    "node = b\nhostname = 10.0.0.2\n"
    "node = c\nhostname = 192.0.2.3\nenable-rawip = yes\n"
    "node = d\nhostname = 2001:db8::4\nenable-icmp = yes\n"
    "node = e\nhostname = e.example\n"
    "node = f\n"
    "node = g\nhostname = 198.51.100.7\nudp-port = 0\n";

constexpr uint16_t wan_port_id = 7;
const rte_ether_addr port_mac{{0x02, 0, 0, 0, 0, 0x07}};

transport::ip_address ip(const char* s) {
    auto a = transport::ip_address::parse(s);
    EXPECT_TRUE(a.has_value()) << s;
    return a.value_or(transport::ip_address{});
}

// The neighbour MAC the tests resolve `hop` to: its last byte, marked.
rte_ether_addr hop_mac(const transport::ip_address& hop) {
    return {{0x0a, 0, 0, hop.v6 ? uint8_t{6} : uint8_t{4}, hop.bytes[hop.v6 ? 14 : 2], hop.bytes[hop.v6 ? 15 : 3]}};
}

bool same_mac(const rte_ether_addr& a, const rte_ether_addr& b) { return rte_is_same_ether_addr(&a, &b); }

struct harness {
    control::path_inputs in;
    std::vector<std::pair<uint16_t, transport::ip_address>> asked;  // neighbour() calls
    std::map<uint16_t, std::vector<uint8_t>> learned;
    std::set<unsigned> connected;
    std::map<uint16_t, peer_path> current;
    bool resolve = true;

    harness() {
        in.ports.push_back({"wan0", wan_port_id, 0, port_mac});
        in.learned = &learned;
        in.neighbour = [this](uint16_t port, const transport::ip_address& hop) -> std::optional<rte_ether_addr> {
            asked.emplace_back(port, hop);
            if (!resolve) {
                return std::nullopt;
            }
            return hop_mac(hop);
        };
        in.connected = [this](unsigned id) { return connected.count(id) != 0; };
        in.current = [this](uint16_t id) -> const peer_path* {
            auto it = current.find(id);
            return it == current.end() ? nullptr : &it->second;
        };
    }

    std::map<uint16_t, peer_path> run(const control::config& cfg) {
        std::map<uint16_t, peer_path> out;
        for (auto& [id, p] : control::choose_paths(cfg, in)) {
            EXPECT_TRUE(out.emplace(id, p).second) << "node " << id << " twice";
        }
        return out;
    }
};

uint16_t id_of(const control::config& c, const char* name) {
    const auto* n = c.find_node(name);
    EXPECT_NE(n, nullptr) << name;
    return n ? static_cast<uint16_t>(n->id) : 0;
}

control::source_addr udp_source(const char* addr, uint16_t sport) {
    control::source_addr s;
    s.k = transport::ip_address::parse(addr)->v6 ? kind::udp6 : kind::udp4;
    s.port_id = wan_port_id;
    s.ip = ip(addr);
    s.udp_port = sport;
    s.mac = {{0x02, 0x99, 0, 0, 0, 1}};
    return s;
}

// ---- peer_path == --------------------------------------------------------------------------------

peer_path sample_path() {
    peer_path p;
    p.kind = kind::udp4;
    p.ip = ip("192.0.2.3");
    p.udp_port = 655;
    p.ip_proto = 47;
    p.icmp_type = 0;
    p.port_id = 1;
    p.mtu = 1500;
    p.src_ip = ip("10.0.0.1");
    p.src_mac = {{0x02, 0, 0, 0, 0, 1}};
    p.next_hop_mac = rte_ether_addr{{0x02, 0, 0, 0, 0, 2}};
    p.via = 0;
    p.inherit_tos = false;
    p.sport_fixed = 0;
    return p;
}

TEST(peer_path, every_field_takes_part_in_equality) {
    const peer_path a = sample_path();
    EXPECT_TRUE(a == sample_path());
    EXPECT_FALSE(a != sample_path());
    std::vector<std::pair<const char*, void (*)(peer_path&)>> changes = {
        {"kind", [](peer_path& p) { p.kind = kind::rawip4; }},
        {"ip", [](peer_path& p) { p.ip = ip("192.0.2.4"); }},
        {"ip family", [](peer_path& p) { p.ip.v6 = true; }},
        {"udp_port", [](peer_path& p) { p.udp_port = 656; }},
        {"ip_proto", [](peer_path& p) { p.ip_proto = 50; }},
        {"icmp_type", [](peer_path& p) { p.icmp_type = 8; }},
        {"icmp_id", [](peer_path& p) { p.icmp_id = 7; }},
        {"port_id", [](peer_path& p) { p.port_id = 2; }},
        {"mtu", [](peer_path& p) { p.mtu = 1400; }},
        {"src_ip", [](peer_path& p) { p.src_ip = ip("10.0.0.9"); }},
        {"src_mac", [](peer_path& p) { p.src_mac.addr_bytes[5] = 9; }},
        {"next_hop_mac value", [](peer_path& p) { p.next_hop_mac->addr_bytes[0] = 0x0e; }},
        {"next_hop_mac presence", [](peer_path& p) { p.next_hop_mac.reset(); }},
        {"via", [](peer_path& p) { p.via = 3; }},
        {"inherit_tos", [](peer_path& p) { p.inherit_tos = true; }},
        {"sport_fixed", [](peer_path& p) { p.sport_fixed = 1655; }},
        {"stream_connect", [](peer_path& p) { p.stream_connect = true; }},
    };
    for (const auto& [what, change] : changes) {
        peer_path b = sample_path();
        change(b);
        EXPECT_FALSE(a == b) << what;
        EXPECT_TRUE(a != b) << what;
        EXPECT_FALSE(b == a) << what;
    }
    // two unresolved paths are equal
    peer_path x = sample_path();
    peer_path y = sample_path();
    x.next_hop_mac.reset();
    y.next_hop_mac.reset();
    EXPECT_TRUE(x == y);
}

// ---- choose_transport / choose_paths ---------------------------------------------------------------

TEST(choose_transport, rawip_over_icmp_over_udp_and_the_family) {
    using control::choose_transport;
    const uint8_t all = control::proto_udp | control::proto_rawip | control::proto_icmp;
    EXPECT_EQ(choose_transport(all, all, false), kind::rawip4);
    EXPECT_EQ(choose_transport(all, all, true), kind::rawip6);
    EXPECT_EQ(choose_transport(all, control::proto_udp | control::proto_icmp, false), kind::icmp4);
    EXPECT_EQ(choose_transport(all, control::proto_udp | control::proto_icmp, true), kind::icmp6);
    EXPECT_EQ(choose_transport(all, control::proto_udp, false), kind::udp4);
    EXPECT_EQ(choose_transport(all, control::proto_udp, true), kind::udp6);
    EXPECT_EQ(choose_transport(control::proto_udp, all, false), kind::udp4);  // both must enable it
    EXPECT_EQ(choose_transport(control::proto_rawip, control::proto_udp, false), std::nullopt);
    EXPECT_EQ(choose_transport(control::proto_tcp | control::proto_dns, all, false), std::nullopt);
}

TEST(choose_paths, ip_literals_give_direct_paths_with_kind_and_next_hop) {
    auto c = load(base);
    harness h;
    auto out = h.run(c);
    const uint16_t b = id_of(c, "b"), cc = id_of(c, "c"), d = id_of(c, "d");
    // e (DNS, unresolved), f (no address), g (udp-port 0, no learned endpoint) are left out
    EXPECT_EQ(out.size(), 3u);
    ASSERT_TRUE(out.count(b) && out.count(cc) && out.count(d));

    // b: on-link IPv4 udp, its own next hop
    peer_path want = {};
    want.kind = kind::udp4;
    want.ip = ip("10.0.0.2");
    want.udp_port = 655;
    want.ip_proto = 50;
    want.icmp_type = 0;
    want.port_id = wan_port_id;
    want.mtu = 1500;  // the port's 0: the config's mtu
    want.src_ip = ip("10.0.0.1");
    want.src_mac = port_mac;
    want.next_hop_mac = hop_mac(ip("10.0.0.2"));
    EXPECT_TRUE(out[b] == want);
    EXPECT_EQ(out[b].kind, kind::udp4);
    EXPECT_TRUE(same_mac(*out[b].next_hop_mac, hop_mac(ip("10.0.0.2"))));

    // c: off-link rawip (both enable it: preferred over udp), through the IPv4 gateway
    EXPECT_EQ(out[cc].kind, kind::rawip4);
    EXPECT_EQ(out[cc].ip, ip("192.0.2.3"));
    EXPECT_EQ(out[cc].ip_proto, 50);
    EXPECT_EQ(out[cc].src_ip, ip("10.0.0.1"));
    ASSERT_TRUE(out[cc].next_hop_mac.has_value());
    EXPECT_TRUE(same_mac(*out[cc].next_hop_mac, hop_mac(ip("10.0.0.254"))));
    EXPECT_EQ(out[cc].sport_fixed, 0);

    // d: on-link IPv6 icmp (over udp), from our IPv6 address, ICMPv6 type mapped
    EXPECT_EQ(out[d].kind, kind::icmp6);
    EXPECT_EQ(out[d].ip, ip("2001:db8::4"));
    EXPECT_EQ(out[d].src_ip, ip("2001:db8::1"));
    EXPECT_EQ(out[d].icmp_type, transport::icmp6_type_for(0));
    EXPECT_EQ(out[d].port_id, wan_port_id);
    ASSERT_TRUE(out[d].next_hop_mac.has_value());
    EXPECT_TRUE(same_mac(*out[d].next_hop_mac, hop_mac(ip("2001:db8::4"))));

    // the neighbour callback was asked for exactly these hops on our port
    std::vector<std::pair<uint16_t, transport::ip_address>> want_asked = {
        {wan_port_id, ip("10.0.0.2")}, {wan_port_id, ip("10.0.0.254")}, {wan_port_id, ip("2001:db8::4")}};
    std::sort(h.asked.begin(), h.asked.end());
    std::sort(want_asked.begin(), want_asked.end());
    EXPECT_EQ(h.asked, want_asked);
}

TEST(choose_paths, ipv6_and_icmp_kinds_port_mtu_and_inherit_tos) {
    // every kind over IPv6 and IPv4; a port MTU overrides the config's
    auto c = load(base +
                  "node = p\nhostname = 2001:db8::10\nenable-rawip = yes\nenable-icmp = yes\n"
                  "node = q\nhostname = 2001:db8:1::11\n"
                  "node = r\nhostname = 10.0.0.12\nenable-icmp = yes\ninherit-tos = yes\n");
    harness h;
    h.in.ports[0].mtu = 1400;
    auto out = h.run(c);
    EXPECT_EQ(out[id_of(c, "p")].kind, kind::rawip6);
    EXPECT_EQ(out[id_of(c, "q")].kind, kind::udp6);
    EXPECT_EQ(out[id_of(c, "r")].kind, kind::icmp4);
    EXPECT_EQ(out[id_of(c, "r")].icmp_type, 0);
    EXPECT_EQ(out[id_of(c, "r")].mtu, 1400);
    // a direct path carries the peer's own inherit-tos
    EXPECT_TRUE(out[id_of(c, "r")].inherit_tos);
    EXPECT_FALSE(out[id_of(c, "p")].inherit_tos);
    // q is off-link (2001:db8:1::/64 is not ours): the IPv6 gateway
    ASSERT_TRUE(out[id_of(c, "q")].next_hop_mac.has_value());
    EXPECT_TRUE(same_mac(*out[id_of(c, "q")].next_hop_mac, hop_mac(ip("2001:db8::fe"))));
    EXPECT_EQ(out[id_of(c, "q")].src_ip, ip("2001:db8::1"));
}

TEST(choose_paths, unresolved_next_hop_still_gives_the_path) {
    auto c = load(base);
    harness h;
    h.resolve = false;
    auto out = h.run(c);
    ASSERT_TRUE(out.count(id_of(c, "b")));
    EXPECT_FALSE(out[id_of(c, "b")].next_hop_mac.has_value());
    EXPECT_EQ(h.asked.size(), 3u);
}

TEST(choose_paths, dns_answer_for_a_dns_hostname_only) {
    auto c = load(base);
    harness h;
    const uint16_t e = id_of(c, "e"), b = id_of(c, "b");
    h.in.resolved[e] = {"e.example", ip("10.0.0.5")};
    h.in.resolved[b] = {"10.0.0.2", ip("10.0.0.99")};  // an IP literal needs no answer: ignored
    auto out = h.run(c);
    ASSERT_TRUE(out.count(e));
    EXPECT_EQ(out[e].kind, kind::udp4);
    EXPECT_EQ(out[e].ip, ip("10.0.0.5"));
    EXPECT_EQ(out[e].udp_port, 655);
    EXPECT_TRUE(same_mac(*out[e].next_hop_mac, hop_mac(ip("10.0.0.5"))));  // on-link
    EXPECT_EQ(out[b].ip, ip("10.0.0.2"));
    // the DNS answer wins over a learned endpoint
    h.learned[e] = udp_source("192.0.2.77", 40001).encode();
    out = h.run(c);
    EXPECT_EQ(out[e].ip, ip("10.0.0.5"));
}

TEST(choose_paths, a_dns_answer_for_an_earlier_hostname_is_not_used) {
    // A reload changed e's hostname: the answer for the old name must not place it (until the
    // new name resolves, the learned endpoint, else nothing).
    auto c = load(base);
    harness h;
    const uint16_t e = id_of(c, "e");
    h.in.resolved[e] = {"old.example", ip("10.0.0.5")};
    auto out = h.run(c);
    EXPECT_FALSE(out.count(e));
    h.learned[e] = udp_source("192.0.2.77", 40001).encode();
    out = h.run(c);
    ASSERT_TRUE(out.count(e));
    EXPECT_EQ(out[e].ip, ip("192.0.2.77"));
}

TEST(choose_paths, learned_endpoint_for_an_address_less_peer) {
    auto c = load(base);
    harness h;
    const uint16_t f = id_of(c, "f");
    h.learned[f] = udp_source("192.0.2.50", 31017).encode();
    auto out = h.run(c);
    ASSERT_TRUE(out.count(f));
    EXPECT_EQ(out[f].kind, kind::udp4);
    EXPECT_EQ(out[f].ip, ip("192.0.2.50"));
    // No hostname: reached where it was seen -- at the source port of its handshake (its NAT's
    // mapping of its udp-port), from our udp-port, the one pair its NAT maps back.
    EXPECT_EQ(out[f].udp_port, 31017);
    EXPECT_EQ(out[f].sport_fixed, 1655);
    EXPECT_TRUE(out[f].follow_port);  // its NAT may rebind the port: roaming follows it
    {
        engine::peer_entry e;
        ASSERT_TRUE(control::build_path(out[f], c.self_node().id, e));
        EXPECT_TRUE(e.follow_port);
    }
    // ... unless that port is one of f's lane ports: a node of an earlier release (it sends from
    // its lanes and receives only at its udp-port) is sent to at its udp-port, as before
    const uint16_t f_lane = transport::udp_lane_port_base(f) + 3;
    h.learned[f] = udp_source("192.0.2.50", f_lane).encode();
    out = h.run(c);
    EXPECT_EQ(out[f].udp_port, 655);
    EXPECT_EQ(out[f].sport_fixed, 0);
    EXPECT_FALSE(out[f].follow_port);
    EXPECT_EQ(control::answer_path(udp_source("192.0.2.50", f_lane), *c.find_node("f"), c.self_node(), c.global,
                                   transport::local_config{}, port_mac)
                  .udp_port,
              655);
    h.learned[f] = udp_source("192.0.2.50", 40017).encode();
    ASSERT_TRUE(out[f].next_hop_mac.has_value());
    EXPECT_TRUE(same_mac(*out[f].next_hop_mac, hop_mac(ip("10.0.0.254"))));  // off-link
    // garbage in the learned map is no endpoint
    h.learned[f] = {1, 2, 3};
    out = h.run(c);
    EXPECT_FALSE(out.count(f));
}

TEST(choose_paths, a_roamed_endpoint_wins_over_every_configured_address) {
    // Roaming (authenticated data from a new source): over the IP literal, the DNS answer and
    // the handshake's source alike; the peer's own udp-port stays (it has one).
    auto c = load(base);
    harness h;
    std::map<uint16_t, std::vector<uint8_t>> roamed;
    h.in.roamed = &roamed;
    const uint16_t b = id_of(c, "b"), e = id_of(c, "e"), f = id_of(c, "f");
    h.in.resolved[e] = {"e.example", ip("10.0.0.5")};
    h.learned[f] = udp_source("192.0.2.50", 40017).encode();
    auto before = h.run(c);
    EXPECT_EQ(before[b].ip, ip("10.0.0.2"));
    roamed[b] = udp_source("192.0.2.61", 50001).encode();
    roamed[e] = udp_source("192.0.2.62", 50002).encode();
    roamed[f] = udp_source("192.0.2.63", 50003).encode();
    auto out = h.run(c);
    EXPECT_EQ(out[b].ip, ip("192.0.2.61"));
    EXPECT_EQ(out[e].ip, ip("192.0.2.62"));
    EXPECT_EQ(out[f].ip, ip("192.0.2.63"));
    EXPECT_EQ(out[b].udp_port, 655);
    EXPECT_TRUE(same_mac(*out[b].next_hop_mac, hop_mac(ip("10.0.0.254"))));  // off-link now
    // forgotten (down, reconnect): back to the configured address
    roamed.clear();
    out = h.run(c);
    EXPECT_EQ(out[b].ip, ip("10.0.0.2"));
    EXPECT_EQ(out[f].ip, ip("192.0.2.50"));
    // garbage is no endpoint: the configured address stays
    roamed[b] = {9, 9};
    out = h.run(c);
    EXPECT_EQ(out[b].ip, ip("10.0.0.2"));
}

TEST(choose_paths, udp_port_zero_peer_only_after_a_learned_udp_endpoint) {
    auto c = load(base);
    harness h;
    const uint16_t g = id_of(c, "g");
    EXPECT_FALSE(h.run(c).count(g));  // no udp path before it connected out
    // a learned endpoint over rawip is no udp port
    control::source_addr raw = udp_source("198.51.100.7", 0);
    raw.k = kind::rawip4;
    h.learned[g] = raw.encode();
    EXPECT_FALSE(h.run(c).count(g));
    // its handshake came from 198.51.100.7:40123 (its NAT's mapping of a lane port)
    h.learned[g] = udp_source("198.51.100.9", 40123).encode();
    auto out = h.run(c);
    ASSERT_TRUE(out.count(g));
    EXPECT_EQ(out[g].kind, kind::udp4);
    EXPECT_EQ(out[g].ip, ip("198.51.100.7"));  // its hostname literal
    EXPECT_EQ(out[g].udp_port, 40123);         // to the learned source port
    EXPECT_EQ(out[g].sport_fixed, 1655);       // from our udp-port
    EXPECT_FALSE(out[g].follow_port);          // its lanes send from several ports
    EXPECT_TRUE(same_mac(*out[g].next_hop_mac, hop_mac(ip("10.0.0.254"))));
}

TEST(choose_paths, udp_port_zero_peer_with_rawip_and_us_without_udp_port) {
    // g also speaks rawip: rawip without a learned endpoint, and never a fixed source port
    auto c = load(base + "node = g\nenable-rawip = yes\n");
    harness h;
    const uint16_t g = id_of(c, "g");
    auto out = h.run(c);
    ASSERT_TRUE(out.count(g));
    EXPECT_EQ(out[g].kind, kind::rawip4);
    EXPECT_EQ(out[g].sport_fixed, 0);
    h.learned[g] = udp_source("198.51.100.7", 40123).encode();
    out = h.run(c);
    EXPECT_EQ(out[g].kind, kind::rawip4);
    EXPECT_EQ(out[g].sport_fixed, 0);
    // we have udp-port 0 too: lane ports, no fixed source port
    auto c0 = load(base, {"a.udp-port=0"});
    ASSERT_EQ(c0.self_node().udp_port, 0);
    harness h0;
    h0.learned[g] = udp_source("198.51.100.7", 40123).encode();
    out = h0.run(c0);
    ASSERT_TRUE(out.count(g));
    EXPECT_EQ(out[g].kind, kind::udp4);
    EXPECT_EQ(out[g].udp_port, 40123);
    EXPECT_EQ(out[g].sport_fixed, 0);
}

const std::string routed =
    "node = h\nhostname = 10.0.0.8\ninherit-tos = yes\n"
    "node = r\nhostname = 10.0.0.9\nrouter-priority = 5\n"
    "node = a\ndeny-direct = h\n";

TEST(choose_paths, deny_direct_peer_goes_through_the_router) {
    auto c = load(base + routed);
    harness h;
    const uint16_t hh = id_of(c, "h"), r = id_of(c, "r");
    // no session with a router: h is left out
    auto out = h.run(c);
    EXPECT_FALSE(out.count(hh));
    ASSERT_TRUE(out.count(r));
    h.connected = {r};
    out = h.run(c);
    ASSERT_TRUE(out.count(hh));
    peer_path want = out[r];
    EXPECT_EQ(want.via, 0);
    EXPECT_FALSE(want.inherit_tos);
    want.via = r;
    want.inherit_tos = true;  // the routed peer's own inherit-tos
    EXPECT_TRUE(out[hh] == want);
    EXPECT_EQ(out[hh].ip, ip("10.0.0.9"));  // packets go to the router
    // g (udp-port 0, no learned endpoint) shares no transport with us: through the router too
    const uint16_t g = id_of(c, "g");
    ASSERT_TRUE(out.count(g));
    EXPECT_EQ(out[g].via, r);
    EXPECT_EQ(out[g].ip, ip("10.0.0.9"));
    // h's own address was never asked for
    for (const auto& [port, hop] : h.asked) {
        EXPECT_NE(hop, ip("10.0.0.8"));
    }
}

TEST(choose_paths, routed_peer_whose_router_has_no_path_is_left_out) {
    // r has no address: no path of its own
    auto c = load(base +
                  "node = h\nhostname = 10.0.0.8\n"
                  "node = r\nrouter-priority = 5\n"
                  "node = a\ndeny-direct = h\n");
    harness h;
    const uint16_t hh = id_of(c, "h"), r = id_of(c, "r");
    h.connected = {r};
    auto out = h.run(c);
    EXPECT_FALSE(out.count(r));
    EXPECT_FALSE(out.count(hh));
    // the router's current path (learned earlier) serves
    peer_path cur = sample_path();
    h.current[r] = cur;
    out = h.run(c);
    ASSERT_TRUE(out.count(hh));
    cur.via = r;
    EXPECT_TRUE(out[hh] == cur);
    // but not a path that is itself routed
    h.current[r].via = id_of(c, "b");
    out = h.run(c);
    EXPECT_FALSE(out.count(hh));
}

// Issue 15 point 1: a peer without an address (f) is routed like a deny-direct one.
const std::string two_routers =
    "node = r\nhostname = 10.0.0.9\nrouter-priority = 2\n"
    "node = s\nhostname = 10.0.0.10\nrouter-priority = 3\n";

TEST(choose_paths, address_less_peer_gets_a_routed_path_via_the_best_connected_router) {
    auto c = load(base + two_routers);
    harness h;
    const uint16_t f = id_of(c, "f"), r = id_of(c, "r"), s = id_of(c, "s");
    // no router connected: no path at all (its frames wait in the queue)
    auto out = h.run(c);
    EXPECT_FALSE(out.count(f));
    // r only
    h.connected = {r};
    out = h.run(c);
    ASSERT_TRUE(out.count(f));
    EXPECT_EQ(out[f].via, r);
    EXPECT_EQ(out[f].ip, ip("10.0.0.9"));
    // both: s ranks higher (pass 1: both are `always`, so both reach f)
    h.connected = {r, s};
    out = h.run(c);
    ASSERT_TRUE(out.count(f));
    EXPECT_EQ(out[f].via, s);
    EXPECT_EQ(out[f].ip, ip("10.0.0.10"));
    peer_path want = out[s];
    want.via = s;
    EXPECT_TRUE(out[f] == want);
    // s gone: back to r
    h.connected = {r};
    out = h.run(c);
    EXPECT_EQ(out[f].via, r);
}

TEST(choose_paths, many_address_less_peers_ask_for_each_router_once) {
    // A gateway of 1 000 roaming clients without an address: every one is routed, and which
    // routers are up is asked once per node, not once per routed peer (a session lookup each:
    // a million per path update made the control thread answer ~100 handshakes/s).
    std::string text = base + two_routers;
    for (int i = 0; i < 1000; ++i) {
        text += "node = m" + std::to_string(i) + "\n";
    }
    auto c = load(text);
    harness h;
    const uint16_t r = id_of(c, "r"), s = id_of(c, "s");
    h.connected = {r, s};
    size_t asked = 0;
    const auto inner = h.in.connected;
    h.in.connected = [&](unsigned id) {
        ++asked;
        return inner(id);
    };
    const auto out = h.run(c);
    EXPECT_LE(asked, c.nodes.size());
    size_t routed = 0;
    for (const auto& [id, p] : out) {
        routed += p.via == s;
    }
    EXPECT_GE(routed, 1001U);  // f and the thousand (and e, g), all through s (priority 3)
}

TEST(choose_paths, pass_one_prefers_the_router_that_may_reach_the_peer) {
    // s (priority 3) may not talk to f: r (priority 2) is chosen; r gone: s by pass 2.
    auto c = load(base + two_routers + "node = f\ndeny-direct = s\n");
    harness h;
    const uint16_t f = id_of(c, "f"), r = id_of(c, "r"), s = id_of(c, "s");
    h.connected = {r, s};
    auto out = h.run(c);
    ASSERT_TRUE(out.count(f));
    EXPECT_EQ(out[f].via, r);
    h.connected = {s};
    out = h.run(c);
    ASSERT_TRUE(out.count(f));
    EXPECT_EQ(out[f].via, s);
}

TEST(choose_paths, an_endpoint_learned_through_a_router_is_no_address) {
    // f's handshake was relayed by s: it came from s's address, where s is, not f.
    auto c = load(base + two_routers);
    harness h;
    const uint16_t f = id_of(c, "f"), s = id_of(c, "s");
    h.connected = {s};
    auto out = h.run(c);
    h.current[s] = out[s];
    h.learned[f] = udp_source("10.0.0.10", 4000).encode();
    out = h.run(c);
    ASSERT_TRUE(out.count(f));
    EXPECT_EQ(out[f].via, s);
    EXPECT_EQ(control::relaying_router(c, f, ip("10.0.0.10"), h.in.current), s);
    EXPECT_EQ(control::relaying_router(c, f, ip("10.0.0.77"), h.in.current), 0);
    EXPECT_EQ(control::relaying_router(c, s, ip("10.0.0.10"), h.in.current), 0);  // from s itself
    // a router's routed path is not where it is
    h.current[s].via = id_of(c, "r");
    EXPECT_EQ(control::relaying_router(c, f, ip("10.0.0.10"), h.in.current), 0);
    // its own address: direct
    h.current[s].via = 0;
    h.learned[f] = udp_source("192.0.2.50", 40017).encode();
    out = h.run(c);
    EXPECT_EQ(out[f].via, 0);
    EXPECT_EQ(out[f].ip, ip("192.0.2.50"));
}

TEST(choose_paths, an_endpoint_roamed_to_a_routers_address_is_no_address) {
    // A roamed peer's rekey handshake relayed by s moves its roamed endpoint to s's address
    // (daemon execute(learn_endpoint)): that is where s is, not the peer. A "direct" path there
    // would make s relay it a second hop (and us relay to it as if direct).
    auto c = load(base + two_routers);
    harness h;
    std::map<uint16_t, std::vector<uint8_t>> roamed;
    h.in.roamed = &roamed;
    const uint16_t b = id_of(c, "b"), f = id_of(c, "f"), s = id_of(c, "s");
    h.connected = {s};
    auto out = h.run(c);
    h.current[s] = out[s];
    roamed[f] = udp_source("10.0.0.10", 4000).encode();
    roamed[b] = udp_source("10.0.0.10", 4001).encode();
    out = h.run(c);
    ASSERT_TRUE(out.count(f));
    EXPECT_EQ(out[f].via, s);
    ASSERT_TRUE(out.count(b));
    EXPECT_EQ(out[b].via, 0);
    EXPECT_EQ(out[b].ip, ip("10.0.0.2"));  // its configured address
}

TEST(choose_paths, a_dns_named_peer_is_direct_once_resolved_and_routed_before) {
    auto c = load(base + two_routers);
    harness h;
    const uint16_t e = id_of(c, "e"), r = id_of(c, "r");
    h.connected = {r};
    auto out = h.run(c);
    ASSERT_TRUE(out.count(e));
    EXPECT_EQ(out[e].via, r);  // no answer yet
    h.in.resolved[e] = {"e.example", ip("10.0.0.5")};
    out = h.run(c);
    EXPECT_EQ(out[e].via, 0);
    EXPECT_EQ(out[e].ip, ip("10.0.0.5"));
}

TEST(choose_paths, allow_direct_overrides_deny_and_both_sides_count) {
    // a: deny all but b; b: fine. c may not (a's list), d denies a itself.
    auto c = load(base + two_routers + "node = a\ndeny-direct = *\nallow-direct = b\nallow-direct = s\n"
                                       "node = d\ndeny-direct = a\n");
    harness h;
    const uint16_t b = id_of(c, "b"), cc = id_of(c, "c"), d = id_of(c, "d"), s = id_of(c, "s");
    h.connected = {s};
    auto out = h.run(c);
    EXPECT_EQ(out[b].via, 0);
    EXPECT_EQ(out[s].via, 0);
    EXPECT_EQ(out[cc].via, s);
    EXPECT_EQ(out[d].via, s);
}

// ---- build_path ------------------------------------------------------------------------------------

engine::peer_entry sentinel_entry() {
    engine::peer_entry e;
    e.node_id = 42;
    e.tx_port_id = 99;
    e.tx_mtu = 1234;
    e.tos_mask = 0x11;
    e.udp_sport_base = 4321;
    e.udp_sport_step = 3;
    e.tmpl.len = 1;
    e.tmpl.bytes[0] = 0xaa;
    return e;
}

void expect_sentinel(const engine::peer_entry& e) {
    const engine::peer_entry s = sentinel_entry();
    EXPECT_EQ(e.tx_port_id, s.tx_port_id);
    EXPECT_EQ(e.tx_mtu, s.tx_mtu);
    EXPECT_EQ(e.tos_mask, s.tos_mask);
    EXPECT_EQ(e.udp_sport_base, s.udp_sport_base);
    EXPECT_EQ(e.udp_sport_step, s.udp_sport_step);
    EXPECT_EQ(e.tmpl.len, 1);
    EXPECT_EQ(e.tmpl.bytes[0], 0xaa);
}

TEST(build_path, needs_a_resolved_next_hop) {
    peer_path p = sample_path();
    p.next_hop_mac.reset();
    engine::peer_entry e = sentinel_entry();
    EXPECT_FALSE(control::build_path(p, 1, e));
    expect_sentinel(e);
    // a family the kind cannot carry: no template, e unchanged
    p = sample_path();
    p.kind = kind::udp6;
    EXPECT_FALSE(control::build_path(p, 1, e));
    expect_sentinel(e);
}

TEST(build_path, template_port_mtu_tos_and_lane_ports) {
    const uint16_t self_id = 3;
    peer_path p = sample_path();
    p.port_id = 5;
    p.mtu = 1400;
    p.udp_port = 7777;
    engine::peer_entry e = sentinel_entry();
    ASSERT_TRUE(control::build_path(p, self_id, e));
    transport::endpoint_pair ep;
    ep.src_mac = p.src_mac;
    ep.dst_mac = *p.next_hop_mac;
    ep.src_ip = p.src_ip;
    ep.dst_ip = p.ip;
    ep.dst_port = p.udp_port;
    ep.ip_proto = p.ip_proto;
    ep.icmp_type = p.icmp_type;
    auto t = transport::build_template(p.kind, ep);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(e.tmpl.k, kind::udp4);
    ASSERT_EQ(e.tmpl.len, t->len);
    EXPECT_EQ(0, std::memcmp(e.tmpl.bytes, t->bytes, t->len));
    EXPECT_EQ(e.tmpl.ip4_partial, t->ip4_partial);
    EXPECT_EQ(e.tx_port_id, 5);
    EXPECT_EQ(e.tx_mtu, 1400);
    EXPECT_EQ(e.tos_mask, 0);
    EXPECT_EQ(e.node_id, 42);  // not a path field
    const uint16_t base_port = transport::udp_lane_port_base(self_id);
    EXPECT_EQ(e.udp_sport(0), base_port);
    EXPECT_EQ(e.udp_sport(1), base_port + 1);
    EXPECT_EQ(e.udp_sport(transport::control_lane), base_port + transport::control_lane);
    // inherit-tos
    p.inherit_tos = true;
    ASSERT_TRUE(control::build_path(p, self_id, e));
    EXPECT_EQ(e.tos_mask, 0xfc);
    // other next hop, other template
    p.next_hop_mac->addr_bytes[5] = 0x77;
    ASSERT_TRUE(control::build_path(p, self_id, e));
    EXPECT_EQ(e.tmpl.bytes[5], 0x77);  // the Ethernet destination
}

TEST(build_path, fixed_source_port_on_every_lane_for_udp_only) {
    peer_path p = sample_path();
    p.sport_fixed = 1655;
    engine::peer_entry e = sentinel_entry();
    ASSERT_TRUE(control::build_path(p, 3, e));
    EXPECT_EQ(e.udp_sport(0), 1655);
    EXPECT_EQ(e.udp_sport(1), 1655);
    EXPECT_EQ(e.udp_sport(transport::control_lane), 1655);
    // rawip has no ports: the lane rule (the flow label seed) stays per lane
    p.kind = kind::rawip4;
    ASSERT_TRUE(control::build_path(p, 3, e));
    EXPECT_EQ(e.tmpl.k, kind::rawip4);
    EXPECT_EQ(e.udp_sport(0), transport::udp_lane_port_base(3));
    EXPECT_EQ(e.udp_sport(1), transport::udp_lane_port_base(3) + 1);
    // and back to udp without a fixed port: per lane again (no leftover from before)
    p.kind = kind::udp4;
    p.sport_fixed = 0;
    ASSERT_TRUE(control::build_path(p, 3, e));
    EXPECT_EQ(e.udp_sport(1), transport::udp_lane_port_base(3) + 1);
}

// ---- answer_path -----------------------------------------------------------------------------------

transport::local_config local_of() {
    transport::local_config l;
    l.has_ipv4 = true;
    l.ipv4 = ip("10.0.0.1").v4();
    l.has_ipv6 = true;
    const auto a6 = ip("2001:db8::1");
    std::copy(a6.bytes.begin(), a6.bytes.end(), l.ipv6.begin());
    return l;
}

TEST(answer_path, at_the_peers_udp_port_or_at_the_source_port) {
    auto c = load(base);
    const auto& self = c.self_node();
    const auto local = local_of();
    const rte_ether_addr pm{{0x02, 0, 0, 0, 0, 0x33}};
    // b has udp-port 655: answered there, whatever lane port it sent from
    control::source_addr src = udp_source("10.0.0.2", 40021);
    src.port_id = 4;
    peer_path p = control::answer_path(src, *c.find_node("b"), self, c.global, local, pm);
    EXPECT_EQ(p.kind, kind::udp4);
    EXPECT_EQ(p.ip, ip("10.0.0.2"));
    EXPECT_EQ(p.udp_port, 655);
    EXPECT_EQ(p.sport_fixed, 0);
    EXPECT_EQ(p.port_id, 4);
    EXPECT_EQ(p.src_ip, ip("10.0.0.1"));
    EXPECT_TRUE(same_mac(p.src_mac, pm));
    ASSERT_TRUE(p.next_hop_mac.has_value());
    EXPECT_TRUE(same_mac(*p.next_hop_mac, src.mac));
    EXPECT_EQ(p.ip_proto, 50);
    EXPECT_EQ(p.via, 0);
    // g has udp-port 0: answered at the source port, from our udp-port
    control::source_addr gsrc = udp_source("198.51.100.9", 40123);
    p = control::answer_path(gsrc, *c.find_node("g"), self, c.global, local, pm);
    EXPECT_EQ(p.udp_port, 40123);
    EXPECT_EQ(p.sport_fixed, 1655);
    EXPECT_EQ(p.ip, ip("198.51.100.9"));
    // ... and it builds into an entry whose every lane sends from there
    engine::peer_entry e;
    ASSERT_TRUE(control::build_path(p, c.self_node().id, e));
    EXPECT_EQ(e.udp_sport(0), 1655);
    EXPECT_EQ(e.udp_sport(transport::control_lane), 1655);
    // an IPv6 icmp source: our IPv6 address, the mapped ICMPv6 type, no fixed port
    control::source_addr s6 = udp_source("2001:db8::4", 0);
    s6.k = kind::icmp6;
    p = control::answer_path(s6, *c.find_node("g"), self, c.global, local, pm);
    EXPECT_EQ(p.kind, kind::icmp6);
    EXPECT_EQ(p.src_ip, ip("2001:db8::1"));
    EXPECT_EQ(p.icmp_type, transport::icmp6_type_for(0));
    EXPECT_EQ(p.sport_fixed, 0);
}

// `base` with node a (us) without a hostname: behind a NAT or without a fixed address.
std::string without_our_hostname() {
    std::string t = base;
    t.erase(t.find("hostname = 10.0.0.1\n"), std::string("hostname = 10.0.0.1\n").size());
    return t;
}

TEST(answer_path, a_peer_without_hostname_is_answered_at_its_source_port_and_we_without_one_send_from_ours) {
    auto c = load(base);
    const auto local = local_of();
    const rte_ether_addr pm{{0x02, 0, 0, 0, 0, 0x33}};
    // f (no hostname, udp-port 655) behind a NAT that mapped 655 to 31000: answered there, from
    // our udp-port -- the one port pair its NAT maps back
    peer_path p = control::answer_path(udp_source("203.0.113.9", 31000), *c.find_node("f"), c.self_node(), c.global,
                                       local, pm);
    EXPECT_EQ(p.udp_port, 31000);
    EXPECT_EQ(p.sport_fixed, 1655);
    // a source port 0 (not udp) keeps its udp-port
    control::source_addr raw = udp_source("203.0.113.9", 0);
    raw.k = kind::rawip4;
    p = control::answer_path(raw, *c.find_node("f"), c.self_node(), c.global, local, pm);
    EXPECT_EQ(p.udp_port, 655);
    EXPECT_EQ(p.sport_fixed, 0);
    // we have no hostname (behind a NAT ourselves): even b, with its own udp-port, is answered
    // from our udp-port on every lane, so our NAT keeps one mapping
    auto c2 = load(without_our_hostname());
    ASSERT_TRUE(c2.self_node().hostname.empty());
    p = control::answer_path(udp_source("10.0.0.2", 40021), *c2.find_node("b"), c2.self_node(), c2.global, local, pm);
    EXPECT_EQ(p.udp_port, 655);
    EXPECT_EQ(p.sport_fixed, 1655);
}

TEST(direct_path, we_without_hostname_send_from_our_udp_port_and_a_mediated_endpoint_is_used_as_seen) {
    auto c = load(without_our_hostname());
    harness h;
    const uint16_t b = id_of(c, "b"), f = id_of(c, "f");
    auto out = h.run(c);
    ASSERT_TRUE(out.count(b));
    EXPECT_EQ(out[b].udp_port, 655);
    EXPECT_EQ(out[b].sport_fixed, 1655);  // not one port per lane: our NAT would map each
    // f seen by a router over udp at 203.0.113.9:31000 (a mediated endpoint): udp there, although
    // rawip is preferred by both
    auto c3 = load(base + "node = f\nenable-rawip = yes\n");
    control::source_addr seen = udp_source("203.0.113.9", 31000);
    auto d = control::direct_path(c3, h.in, *c3.find_node("f"), seen.ip, seen);
    ASSERT_EQ(d.outcome, control::direct_outcome::path);
    EXPECT_EQ(d.path.kind, kind::udp4);
    EXPECT_EQ(d.path.udp_port, 31000);
    EXPECT_EQ(d.path.sport_fixed, 1655);
    // ... without an endpoint, rawip (the preferred one) at that address
    d = control::direct_path(c3, h.in, *c3.find_node("f"), seen.ip, std::nullopt);
    ASSERT_EQ(d.outcome, control::direct_outcome::path);
    EXPECT_EQ(d.path.kind, kind::rawip4);
    // no WAN address of the family: no_wan; no common transport: no_transport
    auto c4 = load(base + "node = f\nenable-udp = no\n");
    d = control::direct_path(c4, h.in, *c4.find_node("f"), seen.ip, seen);
    EXPECT_EQ(d.outcome, control::direct_outcome::no_transport);
    (void)f;
}

// ---- ICMP roles (docs/protocol.md "ICMP roles") ------------------------------------------------------

TEST(icmp_for, requests_from_a_node_without_hostname_replies_to_a_requester_without_one) {
    auto c = load(base);                     // a (us) has a hostname
    auto c2 = load(without_our_hostname());  // a (us) has none
    const auto& f = *c.find_node("f");       // no hostname
    const auto& b = *c.find_node("b");       // a hostname
    const uint16_t us = static_cast<uint16_t>(c.self_node().id);
    control::source_addr req = udp_source("203.0.113.9", 0x1234);
    req.k = kind::icmp4;
    req.icmp_request = true;
    control::source_addr rep = req;
    rep.icmp_request = false;
    control::source_addr req6 = udp_source("2001:db8::9", 0x4321);
    req6.k = kind::icmp6;
    req6.icmp_request = true;
    control::source_addr udp = udp_source("203.0.113.9", 0x1234);
    struct tc {
        const char* what;
        const control::config* cfg;
        const control::node_conf* peer;
        const control::source_addr* seen;
        uint8_t icmp_type;
        bool v6;
        uint8_t type;
        uint16_t id;
    };
    const tc cases[] = {
        {"both with hostnames: the configured type", &c, &b, nullptr, 0, false, 0, us},
        {"... icmp-type 8", &c, &b, nullptr, 8, false, 8, us},
        {"... over IPv6", &c, &b, nullptr, 0, true, 129, us},
        {"a requester without hostname: replies at its identifier", &c, &f, &req, 0, false, 0, 0x1234},
        {"... also with icmp-type 8", &c, &f, &req, 8, false, 0, 0x1234},
        {"... over IPv6", &c, &f, &req6, 0, true, 129, 0x4321},
        {"a source of the other family is not it", &c, &f, &req6, 0, false, 0, us},
        {"it sent replies: the configured type", &c, &f, &rep, 0, false, 0, us},
        {"seen over udp: the configured type", &c, &f, &udp, 8, false, 8, us},
        {"a requester with a hostname: the configured type", &c, &b, &req, 8, false, 8, us},
        {"we without hostname: requests", &c2, c2.find_node("b"), nullptr, 0, false, 8, us},
        {"... over IPv6", &c2, c2.find_node("b"), nullptr, 0, true, 128, us},
        {"... unless the peer (no hostname) sends us requests", &c2, c2.find_node("f"), &req, 0, false, 0, 0x1234},
        {"a non-echo icmp-type: always that", &c2, c2.find_node("f"), &req, 13, false, 13, us},
        {"... over IPv6 as is", &c, &b, nullptr, 200, true, 200, us},
    };
    for (const tc& x : cases) {
        const auto r = control::icmp_for(x.cfg->self_node(), *x.peer, x.seen, x.icmp_type, x.v6);
        EXPECT_EQ(int(r.type), int(x.type)) << x.what;
        EXPECT_EQ(r.id, x.id) << x.what;
    }
}

TEST(answer_path, icmp_answers_a_requester_without_hostname_with_replies_at_its_identifier) {
    auto c = load(base + "node = f\nenable-icmp = yes\n");
    const auto local = local_of();
    const rte_ether_addr pm{{0x02, 0, 0, 0, 0, 0x33}};
    control::source_addr src = udp_source("203.0.113.9", 0x0203);  // after f's NAT
    src.k = kind::icmp4;
    src.icmp_request = true;
    peer_path p = control::answer_path(src, *c.find_node("f"), c.self_node(), c.global, local, pm);
    EXPECT_EQ(p.kind, kind::icmp4);
    EXPECT_EQ(p.icmp_type, transport::icmp_echo_reply);
    EXPECT_EQ(p.icmp_id, 0x0203);
    // the template carries them: type 0, code 255, identifier 0x0203, sequence 0
    engine::peer_entry e;
    ASSERT_TRUE(control::build_path(p, c.self_node().id, e));
    const uint8_t* icmp = e.tmpl.bytes + 14 + 20;
    EXPECT_EQ(icmp[0], 0);
    EXPECT_EQ(icmp[1], 255);
    EXPECT_EQ(icmp[4], 0x02);
    EXPECT_EQ(icmp[5], 0x03);
    EXPECT_EQ(icmp[6] | icmp[7], 0);
    EXPECT_TRUE(p.follow_port) << "a changed identifier moves it";
    EXPECT_TRUE(e.follow_port);
    // the same peer choosing direct_path from that source: replies there too
    harness h;
    auto d = control::direct_path(c, h.in, *c.find_node("f"), src.ip, src);
    ASSERT_EQ(d.outcome, control::direct_outcome::path);
    EXPECT_EQ(d.path.kind, kind::icmp4);
    EXPECT_EQ(d.path.icmp_type, transport::icmp_echo_reply);
    EXPECT_EQ(d.path.icmp_id, 0x0203);
    EXPECT_TRUE(d.path.follow_port);
    // a peer that sends replies: the configured type, our id, nothing followed
    control::source_addr rep = src;
    rep.icmp_request = false;
    d = control::direct_path(c, h.in, *c.find_node("f"), rep.ip, rep);
    ASSERT_EQ(d.outcome, control::direct_outcome::path);
    EXPECT_EQ(d.path.icmp_type, 0);
    EXPECT_EQ(d.path.icmp_id, c.self_node().id);
    EXPECT_FALSE(d.path.follow_port);
    // udp paths carry no identifier
    d = control::direct_path(c, h.in, *c.find_node("f"), src.ip, udp_source("203.0.113.9", 31000));
    ASSERT_EQ(d.outcome, control::direct_outcome::path);
    EXPECT_EQ(d.path.kind, kind::udp4);
    EXPECT_EQ(d.path.icmp_id, 0);
}

// ---- source_addr -----------------------------------------------------------------------------------

TEST(source_addr, encode_decode_round_trip) {
    for (const char* a : {"198.51.100.9", "2001:db8::4"}) {
        control::source_addr s = udp_source(a, 40123);
        s.port_id = 0x1234;
        s.mac = {{1, 2, 3, 4, 5, 6}};
        auto d = control::source_addr::decode(s.encode());
        ASSERT_TRUE(d.has_value()) << a;
        EXPECT_EQ(d->k, s.k);
        EXPECT_EQ(d->port_id, 0x1234);
        EXPECT_EQ(d->ip, s.ip);
        EXPECT_EQ(d->ip.v6, s.ip.v6);
        EXPECT_EQ(d->udp_port, 40123);
        EXPECT_TRUE(same_mac(d->mac, s.mac));
    }
    for (unsigned k = 0; k < transport::n_kinds; ++k) {
        for (bool request : {false, true}) {
            control::source_addr s = udp_source(k % 2 ? "2001:db8::4" : "10.0.0.2", 1);
            s.k = static_cast<kind>(k);
            s.icmp_request = request;
            auto d = control::source_addr::decode(s.encode());
            ASSERT_TRUE(d.has_value()) << k;
            EXPECT_EQ(d->k, s.k);
            EXPECT_EQ(d->icmp_request, request);
            EXPECT_EQ(d->ip.v6, s.ip.v6);
        }
    }
}

TEST(source_addr, garbage_does_not_decode) {
    const auto good = udp_source("198.51.100.9", 40123).encode();
    EXPECT_FALSE(control::source_addr::decode({}).has_value());
    auto shorter = good;
    shorter.pop_back();
    EXPECT_FALSE(control::source_addr::decode(shorter).has_value());
    auto longer = good;
    longer.push_back(0);
    EXPECT_FALSE(control::source_addr::decode(longer).has_value());
    for (uint8_t k : {static_cast<uint8_t>(transport::n_kinds), uint8_t{0xff}}) {
        auto bad = good;
        bad[0] = k;
        EXPECT_FALSE(control::source_addr::decode(bad).has_value()) << int(k);
    }
    for (uint8_t flags : {uint8_t{4}, uint8_t{0x80}, uint8_t{0xff}}) {  // family/request byte: two bits
        auto bad = good;
        bad[19] = flags;
        EXPECT_FALSE(control::source_addr::decode(bad).has_value()) << int(flags);
    }
}

// ---- tcp (docs/tcp.md) -------------------------------------------------------------------------

// a enables tcp too; t: tcp only at 192.0.2.20:443; z: tcp only with tcp-port 0; u: udp and tcp.
const std::string tcp_conf = base + "node = a\nenable-tcp = yes\n"
                                    "node = t\nhostname = 192.0.2.20\nenable-udp = no\nenable-tcp = yes\ntcp-port = 443\n"
                                    "node = z\nhostname = 192.0.2.21\nenable-udp = no\nenable-tcp = yes\ntcp-port = 0\n"
                                    "node = u\nhostname = 192.0.2.22\nenable-tcp = yes\n";
constexpr uint16_t tcp_port_id = 9;

control::source_addr tcp_source(const char* addr, uint16_t sport) {
    control::source_addr s;
    s.k = transport::ip_address::parse(addr)->v6 ? kind::tcp6 : kind::tcp4;
    s.port_id = tcp_port_id;
    s.ip = ip(addr);
    s.udp_port = sport;
    return s;
}

TEST(choose_transport, tcp_comes_after_udp) {
    using control::choose_transport;
    const uint8_t all = control::proto_udp | control::proto_rawip | control::proto_icmp | control::proto_tcp;
    EXPECT_EQ(choose_transport(all, control::proto_udp | control::proto_tcp, false), kind::udp4);
    EXPECT_EQ(choose_transport(all, control::proto_tcp, false), kind::tcp4);
    EXPECT_EQ(choose_transport(all, control::proto_tcp, true), kind::tcp6);
    EXPECT_EQ(choose_transport(control::proto_udp, control::proto_tcp, false), std::nullopt);
}

TEST(choose_paths, a_tcp_peer_at_its_tcp_port_through_the_stream_port) {
    auto c = load(tcp_conf);
    harness h;
    h.in.tcp_port_id = tcp_port_id;
    auto out = h.run(c);
    const uint16_t t = id_of(c, "t"), u = id_of(c, "u"), z = id_of(c, "z");
    ASSERT_TRUE(out.count(t));
    EXPECT_EQ(out[t].kind, kind::tcp4);
    EXPECT_EQ(out[t].ip, ip("192.0.2.20"));
    EXPECT_EQ(out[t].udp_port, 443);
    EXPECT_TRUE(out[t].stream_connect);  // its configured address: we may open the connection
    EXPECT_EQ(out[t].port_id, tcp_port_id);
    EXPECT_EQ(out[t].mtu, 1500);  // the WAN's: what the receiver's mbufs hold
    ASSERT_TRUE(out.count(u));
    EXPECT_EQ(out[u].kind, kind::udp4);  // udp before tcp
    EXPECT_FALSE(out.count(z));          // tcp-port 0 and never seen: only through a router
    // without the slow path (no enable-tcp here) a tcp-only peer is not direct
    harness h2;
    EXPECT_FALSE(h2.run(c).count(t));
}

TEST(choose_paths, a_peer_seen_on_a_connection_of_its_own_is_sent_to_there) {
    auto c = load(tcp_conf);
    harness h;
    h.in.tcp_port_id = tcp_port_id;
    const uint16_t z = id_of(c, "z"), t = id_of(c, "t");
    h.learned[z] = tcp_source("192.0.2.21", 40001).encode();
    h.learned[t] = tcp_source("192.0.2.20", 40002).encode();
    auto out = h.run(c);
    ASSERT_TRUE(out.count(z));
    EXPECT_EQ(out[z].kind, kind::tcp4);
    EXPECT_EQ(out[z].udp_port, 40001);  // the connection it opened
    EXPECT_FALSE(out[z].stream_connect);  // never a connect to its ephemeral port
    ASSERT_TRUE(out.count(t));
    EXPECT_EQ(out[t].udp_port, 443);  // a peer with a hostname and a tcp-port: there
    EXPECT_TRUE(out[t].stream_connect);
}

TEST(answer_path, a_tcp_handshake_is_answered_on_its_connection) {
    auto c = load(tcp_conf);
    const auto* t = c.find_node("t");
    ASSERT_NE(t, nullptr);
    transport::local_config local;
    local.ipv4 = ip("10.0.0.1").v4();
    local.has_ipv4 = true;
    const auto p = control::answer_path(tcp_source("192.0.2.20", 40002), *t, c.self_node(), c.global, local, port_mac);
    EXPECT_EQ(p.kind, kind::tcp4);
    EXPECT_EQ(p.ip, ip("192.0.2.20"));
    EXPECT_EQ(p.udp_port, 40002);
    EXPECT_FALSE(p.stream_connect);
    EXPECT_EQ(p.port_id, tcp_port_id);
}

TEST(build_path, a_tcp_path_needs_no_neighbour_and_writes_the_ring_header) {
    peer_path p;
    p.kind = kind::tcp6;
    p.ip = ip("2001:db8::20");
    p.udp_port = 443;
    p.stream_connect = true;
    p.port_id = tcp_port_id;
    p.mtu = 1500;
    engine::peer_entry e;
    ASSERT_TRUE(control::build_path(p, 1, e));
    EXPECT_EQ(e.tx_port_id, tcp_port_id);
    EXPECT_EQ(e.tmpl.k, kind::tcp6);
    EXPECT_EQ(e.tmpl.len, transport::stream_meta_size);
    std::array<uint8_t, transport::stream_meta_size + 40> pkt{};
    transport::write_outer(e.tmpl, pkt.data(), 40, 0);
    auto m = transport::read_stream_meta(pkt.data(), static_cast<uint32_t>(pkt.size()));
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->k, kind::tcp6);
    EXPECT_EQ(m->flags, transport::stream_flag_connect);
    EXPECT_EQ(m->port, 443);
    EXPECT_EQ(m->ip, ip("2001:db8::20"));
    EXPECT_EQ(m->len, 40);
    p.ip = ip("192.0.2.20");  // the family must match the kind
    EXPECT_FALSE(control::build_path(p, 1, e));
}

// ---- dns (docs/dns.md) -------------------------------------------------------------------------

// a enables dns and queries through 192.0.2.53; s: a dns server without an address; k: a dns
// client of ours (we serve tunnel.a.test too); u2: udp and dns (udp wins).
const std::string dns_conf = base + "dns-forw-host = 192.0.2.53\n"
                                    "node = a\nenable-dns = yes\ndns-domain = tunnel.a.test\n"
                                    "node = s\nenable-udp = no\nenable-dns = yes\ndns-domain = tunnel.s.test\nrouter-priority = 2\n"
                                    "node = k\nenable-udp = no\nenable-dns = yes\n"
                                    "node = u2\nhostname = 192.0.2.30\nenable-dns = yes\ndns-domain = tunnel.u2.test\n";

TEST(choose_transport, dns_comes_last) {
    using control::choose_transport;
    const uint8_t all = control::proto_udp | control::proto_tcp | control::proto_dns;
    EXPECT_EQ(choose_transport(all, control::proto_tcp | control::proto_dns, false), kind::tcp4);
    EXPECT_EQ(choose_transport(all, control::proto_dns, false), kind::dns4);
    EXPECT_EQ(choose_transport(all, control::proto_dns, true), kind::dns4);  // no family: by node id
}

TEST(choose_paths, a_dns_server_is_reached_by_its_id_through_the_resolver) {
    auto c = load(dns_conf);
    harness h;
    h.in.tcp_port_id = tcp_port_id;
    auto out = h.run(c);
    const uint16_t sv = id_of(c, "s"), k = id_of(c, "k"), u2 = id_of(c, "u2");
    ASSERT_TRUE(out.count(sv));
    EXPECT_EQ(out[sv].kind, kind::dns4);
    EXPECT_EQ(out[sv].udp_port, sv);        // the ring header names the peer
    EXPECT_TRUE(out[sv].stream_connect);    // we send queries
    EXPECT_EQ(out[sv].port_id, tcp_port_id);
    EXPECT_FALSE(out.count(k));             // a client: only once its queries reached us
    ASSERT_TRUE(out.count(u2));
    EXPECT_EQ(out[u2].kind, kind::udp4);    // udp before dns
    harness h2;                             // no slow path: no dns
    EXPECT_FALSE(h2.run(c).count(sv));
}

TEST(choose_paths, a_dns_client_seen_in_a_query_is_answered_by_id) {
    auto c = load(dns_conf);
    harness h;
    h.in.tcp_port_id = tcp_port_id;
    const uint16_t k = id_of(c, "k");
    control::source_addr src;
    src.k = kind::dns4;
    src.port_id = tcp_port_id;
    src.udp_port = k;
    h.learned[k] = src.encode();
    auto out = h.run(c);
    ASSERT_TRUE(out.count(k));
    EXPECT_EQ(out[k].kind, kind::dns4);
    EXPECT_EQ(out[k].udp_port, k);
    EXPECT_FALSE(out[k].stream_connect);  // we answer its queries
    // a dns source has no address: no router "relayed" it, even one with a dns path
    h.current[id_of(c, "s")] = out.count(id_of(c, "s")) ? out[id_of(c, "s")] : peer_path{};
    EXPECT_EQ(control::relaying_router(c, k, transport::ip_address{}, [&](uint16_t id) -> const peer_path* {
                  auto it = h.current.find(id);
                  return it == h.current.end() ? nullptr : &it->second;
              }),
              0);
}

}  // namespace
