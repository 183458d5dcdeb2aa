// SPDX-License-Identifier: MIT
// dvpectl's tables from fixed `status` and `config` replies (the schemas of docs/control.md),
// rates from two samples, and tolerance of missing or mistyped fields.
#include <gtest/gtest.h>

#include "control/ctl/ctl_format.hh"
#include "tests/unit/control/ctl/control_test_util.hh"

namespace control {
namespace {

using nlohmann::json;

TEST(ctl_format, status_totals) {
    EXPECT_EQ(format_status(test::sample_status(10, 1)),
              "node alpha  id 1  mac fe:fd:80:00:00:01  up 0:00:10\n"
              "\n"
              "PORT  ROLE     DRIVER         MAC                LINK  RX PKTS  RX BYTES  TX PKTS  TX BYTES  DROPS\n"
              "wan0  wan      net_af_packet  02:00:00:00:00:01  up       1000    500000      900    450000      3\n"
              "tap0  overlay  net_tap        fe:fd:80:00:00:01  down       10      1000        0         0      0\n"
              "\n"
              "LCORE  QUEUES         RX PKTS  TX PKTS  POLLS  EMPTY%  IDLE SLEEPS\n"
              "    1  wan0/0,tap0/0     1010      900  10000   25.0%           30\n"
              "\n"
              "DROP REASON        PACKETS\n"
              "unhandled_arp            2\n"
              "unknown_ethertype        7\n");
}

TEST(ctl_format, status_rates_from_two_samples) {
    // Second sample 2 s later with every counter tripled: rates are (3-1)*x/2 = x per second.
    json a = test::sample_status(10, 1), b = test::sample_status(12, 3);
    EXPECT_EQ(format_status(b, &a),
              "node alpha  id 1  mac fe:fd:80:00:00:01  up 0:00:12  (rates over 2.0 s)\n"
              "\n"
              "PORT  ROLE     LINK  RX PPS  RX MBIT/S  TX PPS  TX MBIT/S  RX PKTS  TX PKTS  DROPS\n"
              "wan0  wan      up      1000       4.00     900       3.60     3000     2700      3\n"
              "tap0  overlay  down      10       0.01       0       0.00       30        0      0\n"
              "\n"
              "LCORE  QUEUES         RX PPS  TX PPS  EMPTY%  BUSY%  SLEEPS/S\n"
              "    1  wan0/0,tap0/0    1010     900   25.0%  25.0%        30\n"
              "\n"
              "DROP REASON        PACKETS  PER S\n"
              "unhandled_arp            6      2\n"
              "unknown_ethertype       21      7\n");
}

TEST(ctl_format, status_rates_need_time_to_pass) {
    json a = test::sample_status(10, 1);
    // Same uptime (or a restarted daemon with a smaller one): totals, no rates.
    EXPECT_EQ(format_status(a, &a), format_status(a));
    json restarted = test::sample_status(1, 1);
    EXPECT_EQ(format_status(restarted, &a), format_status(restarted));
}

TEST(ctl_format, status_rates_after_counter_reset_and_new_port) {
    json a = test::sample_status(10, 3), b = test::sample_status(11, 1);
    b["uptime_s"] = 11;  // counters went down (port re-created): the rate counts from zero
    a["ports"].erase(1);  // tap0 is new in b: rates from zero as well
    std::string s = format_status(b, &a);
    EXPECT_NE(s.find("wan0  wan      up      1000       4.00     900       3.60     1000      900      3\n"),
              std::string::npos)
        << s;
    EXPECT_NE(s.find("tap0  overlay  down      10       0.01       0       0.00       10        0      0\n"),
              std::string::npos)
        << s;
}

// The stage clocks (engine/stage_clock.hh) as cycles per timed packet: totals without a previous
// sample, the difference between two samples with one; absent while no packet was timed.
TEST(ctl_format, status_stage_clocks) {
    auto with_clocks = [](json st, uint64_t k) {
        json& w = st["workers"][0];
        w["clk_rx_packets"] = 100 * k;
        w["clk_rx_calls"] = 4 * k;
        w["clk_cycles"] = 15000 * k;
        w["clk_rx_cycles"] = 2000 * k;
        w["clk_prepare_cycles"] = 3000 * k;
        w["clk_aead_cycles"] = 6000 * k;
        w["clk_aead_calls"] = 4 * k;
        w["clk_aead_packets"] = 100 * k;
        w["clk_finish_cycles"] = 2500 * k;
        w["clk_tx_cycles"] = 1000 * k;
        w["clk_tx_calls"] = 5 * k;
        w["clk_tx_packets"] = 100 * k;
        w["clk_other_cycles"] = 500 * k;
        return st;
    };
    const std::string table =
        "stage clocks, TSC cycles per packet (sampled busy iterations; own = all but rx, aead, tx)\n"
        "LCORE  CYCLES/PKT    RX  PREPARE  AEAD  FINISH    TX  OTHER   OWN  PKTS/AEAD  PKTS/TX\n"
        "    1       150.0  20.0     30.0  60.0    25.0  10.0    5.0  60.0       25.0     20.0\n";
    const json a = with_clocks(test::sample_status(10, 1), 1), b = with_clocks(test::sample_status(12, 3), 3);
    std::string s = format_status(a);
    EXPECT_NE(s.find(table), std::string::npos) << s;
    s = format_status(b, &a);  // the difference: twice the first sample's counters, same ratios
    EXPECT_NE(s.find(table), std::string::npos) << s;
    EXPECT_EQ(format_status(test::sample_status(10, 1)).find("stage clocks"), std::string::npos);
}

TEST(ctl_format, status_site_lan) {
    json st = test::sample_status(10, 1);
    st["ports"][1]["mode"] = "bridge";
    st["lan"] = {{"mode", "bridge"},
                 {"mac_table", {{"size", 12}, {"static", 2}, {"learned", 10}, {"learned_total", 15}, {"aged", 3},
                                {"moved", 1}, {"limit_dropped", 99}, {"limits", {{"total", 16384}}}}}};
    std::string s = format_status(st);
    EXPECT_NE(s.find("tap0  bridge "), std::string::npos) << s;
    EXPECT_NE(s.find("site LAN: bridge  MAC table 12 of 16384 (static 2, learned 10)  learned 15  aged 3  moved 1  "
                     "limit-dropped 99\n"),
              std::string::npos)
        << s;
    st["lan"]["mode"] = "host";  // a TAP node's table: no "site LAN"
    s = format_status(st);
    EXPECT_NE(s.find("\nMAC table 12 of 16384 (static 2, learned 10)"), std::string::npos) << s;
    EXPECT_EQ(s.find("site LAN"), std::string::npos) << s;
    st["lan"] = {{"mode", "route"}, {"routes", 3}, {"lan_hosts", 2}, {"unresolved", 4}, {"off_link", 1}};
    s = format_status(st);
    EXPECT_NE(s.find("site LAN: route  prefixes 3  LAN hosts 2  unresolved 4  off-link 1\n"), std::string::npos) << s;
    st["lan"] = {{"mode", 7}, {"mac_table", "x"}};  // mistyped: nothing printed, nothing thrown
    EXPECT_EQ(format_status(st).find("site LAN"), std::string::npos);
}

TEST(ctl_format, status_handshake_failures) {
    // A peer whose handshakes fail gets a line with the daemon's detail (docs/control.md
    // "handshake_failure"); a healthy one and a mistyped entry get none.
    json st = test::sample_status(10, 1);
    st["peers"] = {{{"name", "beta"}, {"id", 2}, {"state", "connecting"},
                    {"handshake_failure", {{"reason", "serial_mismatch"}, {"authenticated", true},
                                           {"serial", "peer_newer"}, {"count", 3}, {"age_s", 4.5},
                                           {"detail", "handshake refused: its config serial \"2\" is newer than ours"}}}},
                   {{"name", "gamma"}, {"id", 3}, {"state", "up"}},
                   {{"name", "delta"}, {"id", 4}, {"state", "down"}, {"handshake_failure", "x"}}};
    const std::string s = format_status(st);
    EXPECT_NE(s.find("handshake failures:\n"
                     "  beta: handshake refused: its config serial \"2\" is newer than ours (3 times, last 0:00:04 ago)\n"
                     "\n"),
              std::string::npos)
        << s;
    EXPECT_EQ(s.find("  gamma:"), std::string::npos) << s;
    EXPECT_EQ(s.find("  delta:"), std::string::npos) << s;
    st["peers"][0].erase("handshake_failure");
    EXPECT_EQ(format_status(st).find("handshake failures"), std::string::npos);
}

TEST(ctl_format, status_without_anything) {
    EXPECT_EQ(format_status(json{{"ok", true}}),
              "node -  id 0  mac -  up 0:00:00\n\nno ports\n\nno workers\n\nno drops\n");
    // Mistyped fields render as blanks or zeros, never throw.
    json odd = {{"node", "alpha"},
                {"uptime_s", "long"},
                {"ports", {{{"name", 5}, {"rx_packets", -3}, {"link_up", "yes"}, {"tx_bytes", 1.5e3}}, 7}},
                {"workers", {{{"lcore", "x"}, {"queues", "wan0"}, {"polls", 0}}}},
                {"drops", {{"bad_length", "many"}, {"tx_failed", 4}}}};
    std::string s = format_status(odd);
    EXPECT_NE(s.find("-     -     -       -    down        0         0        0      1500      0\n"), std::string::npos) << s;
    EXPECT_NE(s.find("    0  -             0        0      0       -            0\n"), std::string::npos) << s;
    EXPECT_NE(s.find("tx_failed          4\n"), std::string::npos) << s;
    EXPECT_EQ(s.find("bad_length"), std::string::npos) << s;
}

TEST(ctl_format, config_table) {
    EXPECT_EQ(format_config(test::sample_config()),
              "nodes:      3\n"
              "this node:  alpha (id 1)\n"
              "mtu:        1500 (overlay mtu 1434)\n"
              "rekey:      3607 s\n"
              "keepalive:  0.5 s\n"
              "ifname:     dvpe0\n"
              "cipher:     aes256-gcm\n"
              "\n"
              "ID#  MAC                Conmode   Node             Prot       Host:Port           RPrio\n"
              "  1  fe:fd:80:00:00:01  always    alpha            udp,rawip  10.0.0.1:655            0\n"
              "  2  fe:fd:80:00:00:02  ondemand  beta             udp        [2001:db8::2]:4000      2\n"
              "  3  fe:fd:80:00:00:03  never     gamma-long-name  -          -:655                   1\n");
}

TEST(ctl_format, config_serial_and_missing_fields) {
    json c = test::sample_config();
    c["serial"] = "2024-01";
    c.erase("nodes_count");
    std::string s = format_config(c);
    EXPECT_NE(s.find("serial:     2024-01\n"), std::string::npos) << s;
    EXPECT_NE(s.find("nodes:      3\n"), std::string::npos) << s;  // counted from the table
    EXPECT_EQ(format_config(json::object()),
              "nodes:      0\nthis node:  - (id 0)\nmtu:        0 (overlay mtu 0)\nrekey:      0 s\n"
              "keepalive:  0 s\nifname:     -\ncipher:     -\n\nID#  MAC  Conmode  Node  Prot  Host:Port  RPrio\n");
}

// Issue 16 point 5: what each transport adds, and which this node speaks (node_table_json's
// transport_overhead); a malformed entry is skipped, not printed.
TEST(ctl_format, config_transport_overheads) {
    json c = test::sample_config();
    c["transport_overhead"] = json::array({
        {{"transport", "udp"}, {"ipv4", 62}, {"ipv6", 82}, {"enabled", true}},
        {{"transport", "tcp"}, {"ipv4", 76}, {"ipv6", 96}, {"enabled", false}},
        "garbage",
    });
    const std::string s = format_config(c);
    EXPECT_NE(s.find("overhead:   udp* 62/82, tcp 76/96 bytes (IPv4/IPv6; * enabled here)\n"), std::string::npos) << s;
}

TEST(ctl_format, peers_as_wg_show) {
    EXPECT_EQ(format_peers(test::sample_peers()),
              "peer: beta (id 2)\n"
              "  state: up (connect always)\n"
              "  endpoint: udp4 10.0.0.2:655\n"
              "  latest handshake: 0:01:15 ago\n"
              "  transfer: 1.50 KiB received (10 packets), 300 B sent (3 packets)\n"
              "  key: id 7, 0:01:15 old\n"
              "  handshakes: 1 initiated, 0 answered, 1 completed, 0 rekeys; 1 up, 0 down\n"
              "\n"
              "peer: gamma (id 3)\n"
              "  state: connecting, handshaking (connect ondemand)\n"
              "  endpoint: udp6 [2001:db8::3]:4000 via router beta (id 2) (next hop unresolved)\n"
              "  latest handshake: never\n"
              "  transfer: 0 B received (0 packets), 3.00 MiB sent (2200 packets)\n"
              "  dropped: 5 failed authentication, 2 replayed\n"
              "  handshakes: 4 initiated, 0 answered, 0 completed, 0 rekeys; 0 up, 0 down\n"
              "  handshakes refused: wrong_static_key 2\n"
              "  last failure: node gamma: not the key we know\n"
              "\n"
              "peer: delta (id 4)\n"
              "  state: up (connect always)\n"
              "  endpoint: icmp4 203.0.113.50 (echo replies 0, id 4)\n"
              "  roamed to: 203.0.113.50\n"
              "  latest handshake: 0:00:03 ago\n"
              "  transfer: 0 B received (0 packets), 0 B sent (0 packets)\n"
              "  key: id 1, 0:00:03 old\n"
              "  handshakes: 0 initiated, 1 answered, 1 completed, 0 rekeys; 1 up, 0 down\n"
              "\n"
              "peer: epsilon (id 5)\n"
              "  state: down (connect never)\n"
              "  endpoint: (none)\n"
              "  latest handshake: never\n"
              "  transfer: 0 B received (0 packets), 0 B sent (0 packets)\n"
              "  handshakes: 0 initiated, 0 answered, 0 completed, 0 rekeys; 0 up, 0 down\n");
    const std::string one = format_peers(test::sample_peers(), "delta");
    EXPECT_EQ(one.rfind("peer: delta (id 4)\n", 0), 0u) << one;
    EXPECT_EQ(one.find("peer: beta"), std::string::npos) << one;
    EXPECT_EQ(format_peers(test::sample_peers(), "nobody"), "");
    // garbage and other versions' replies: blanks, never an exception
    for (const json& j : {json(), json::array(), json{{"peers", 3}}, json{{"peers", {1, "x", json::array()}}},
                          json{{"peers", {{{"name", 5}, {"transport", 7}, {"via", -1}, {"handshakes_failed", {{"x", "y"}}},
                                           {"handshake_failure", 3}, {"dns", 4}, {"hostname", "h"}}}}}}) {
        EXPECT_NO_THROW((void)format_peers(j)) << j.dump();
    }
}

// status --watch: per-peer rates as tinc top shows them, the busiest first.
TEST(ctl_format, peer_rates_busiest_first) {
    auto peer = [](unsigned id, const char* name, uint64_t rxp, uint64_t rxb, uint64_t txp, uint64_t txb) {
        return json{{"id", id},          {"name", name},     {"state", "up"},     {"rx_packets", rxp},
                    {"rx_bytes", rxb},   {"tx_packets", txp}, {"tx_bytes", txb}};
    };
    const json before = {{"peers", {peer(2, "beta", 100, 100000, 100, 100000), peer(3, "gamma", 0, 0, 0, 0)}}};
    const json after = {{"peers",
                         {peer(2, "beta", 300, 350000, 200, 200000), peer(3, "gamma", 20000, 25000000, 10, 1000),
                          peer(4, "delta", 2, 200, 0, 0)}}};
    const std::string t = format_peer_rates(after, before, 2.0);
    const size_t g = t.find("gamma"), b = t.find("beta"), d = t.find("delta");
    // delta is new since the earlier sample: no rate yet ("-", not its total over dt)
    EXPECT_NE(t.find("delta  up          -          -       -          -"), std::string::npos) << t;
    ASSERT_TRUE(g != std::string::npos && b != std::string::npos && d != std::string::npos) << t;
    EXPECT_LT(g, b) << t;  // 100 Mbit/s before 1.4
    EXPECT_LT(b, d) << t;
    EXPECT_NE(t.find("10000"), std::string::npos) << t;   // gamma: 20000 packets in 2 s
    EXPECT_NE(t.find("100.00"), std::string::npos) << t;  // gamma: 25 MB in 2 s = 100 Mbit/s
    EXPECT_NE(t.find("1.00"), std::string::npos) << t;    // beta: 250 kB in 2 s = 1 Mbit/s
    // at most max_rows, then how many more; nothing for dt <= 0 or no peers; garbage: no throw
    EXPECT_NE(format_peer_rates(after, before, 2.0, 1).find("... 2 more peers"), std::string::npos);
    EXPECT_EQ(format_peer_rates(after, before, 0.0), "");
    EXPECT_EQ(format_peer_rates(json{{"peers", json::array()}}, before, 1.0), "");
    for (const json& j : {json(), json::array(), json{{"peers", 3}}, json{{"peers", {1, "x", json::array()}}}}) {
        EXPECT_NO_THROW((void)format_peer_rates(j, j, 1.0)) << j.dump();
        EXPECT_NO_THROW((void)format_peer_rates(after, j, 1.0)) << j.dump();
    }
}

TEST(ctl_format, neighbours_table) {
    const json reply = {{"ok", true},
                        {"neighbours",
                         {{{"port", "wan0"}, {"ip", "10.0.0.254"}, {"mac", "02:00:00:00:00:fe"}, {"state", "reachable"},
                           {"age_s", 12.34}, {"requests", 1}},
                          {{"port", "wan0"}, {"ip", "2001:db8::1"}, {"mac", ""}, {"state", "incomplete"},
                           {"age_s", 0.0}, {"requests", 7}}}}};
    const std::string t = format_neighbours(reply);
    EXPECT_EQ(t.substr(0, t.find('\n')).find("PORT"), 0u) << t;
    EXPECT_NE(t.find("10.0.0.254"), std::string::npos) << t;
    EXPECT_NE(t.find("02:00:00:00:00:fe  reachable"), std::string::npos) << t;
    EXPECT_NE(t.find("12.3s"), std::string::npos) << t;
    EXPECT_NE(t.find("2001:db8::1  -"), std::string::npos) << t;  // no MAC yet
    EXPECT_EQ(format_neighbours(json{{"ok", true}, {"neighbours", json::array()}}), "no neighbours\n");
    for (const json& j : {json(), json::array(), json{{"neighbours", 3}}, json{{"neighbours", {1, "x", json::array()}}}}) {
        EXPECT_NO_THROW((void)format_neighbours(j)) << j.dump();
    }
}

TEST(ctl_format, metrics_openmetrics_and_prometheus) {
    const std::string m = format_metrics(test::sample_status(12.5, 1), test::sample_peers(), "9.9.9");
    for (const char* line : {
             "# TYPE dvpe_build_info gauge\n",
             "dvpe_build_info{node=\"alpha\",version=\"9.9.9\"} 1\n",
             "dvpe_uptime_seconds{node=\"alpha\"} 12.5\n",
             "dvpe_port_link_up{node=\"alpha\",port=\"wan0\",role=\"wan\"} 1\n",
             "dvpe_port_link_up{node=\"alpha\",port=\"tap0\",role=\"overlay\"} 0\n",
             "# TYPE dvpe_port_rx_packets counter\n",
             "dvpe_port_rx_packets_total{node=\"alpha\",port=\"wan0\",role=\"wan\"} 1000\n",
             "dvpe_port_tx_errors_total{node=\"alpha\",port=\"wan0\",role=\"wan\"} 2\n",
             "dvpe_worker_busy_cycles_total{node=\"alpha\",lcore=\"1\"} 250000000\n",
             "# TYPE dvpe_worker_exception_in counter\n",
             "dvpe_worker_exception_out_total{node=\"alpha\",lcore=\"1\"} 0\n",
             "dvpe_tsc_hz{node=\"alpha\"} 1000000000\n",
             "dvpe_drops_total{node=\"alpha\",reason=\"unknown_ethertype\"} 7\n",
             "dvpe_drops_total{node=\"alpha\",reason=\"bad_length\"} 0\n",
             "dvpe_peer_up{node=\"alpha\",peer=\"beta\",id=\"2\"} 1\n",
             "dvpe_peer_up{node=\"alpha\",peer=\"gamma\",id=\"3\"} 0\n",
             "dvpe_peer_relayed{node=\"alpha\",peer=\"gamma\",id=\"3\"} 1\n",
             "dvpe_peer_rx_bytes_total{node=\"alpha\",peer=\"beta\",id=\"2\"} 1536\n",
             "dvpe_peer_tx_bytes_total{node=\"alpha\",peer=\"gamma\",id=\"3\"} 3145728\n",
             "dvpe_peer_auth_failed_total{node=\"alpha\",peer=\"gamma\",id=\"3\"} 5\n",
             "dvpe_peer_replayed_total{node=\"alpha\",peer=\"beta\",id=\"2\"} 0\n",
             "dvpe_peer_last_handshake_age_seconds{node=\"alpha\",peer=\"beta\",id=\"2\"} 75.5\n",
             "dvpe_peer_handshakes_refused_total{node=\"alpha\",peer=\"gamma\",id=\"3\",reason=\"wrong_static_key\"} 2\n",
         }) {
        EXPECT_NE(m.find(line), std::string::npos) << line << "\n" << m;
    }
    EXPECT_EQ(m.find("dvpe_peer_last_handshake_age_seconds{node=\"alpha\",peer=\"gamma\""), std::string::npos) << "never: absent";
    EXPECT_EQ(m.substr(m.size() - 6), "# EOF\n");
    EXPECT_EQ(m.find("# EOF"), m.size() - 6) << "once, at the end";
    // Prometheus text: counters' TYPE names the _total series, no EOF
    const std::string p = format_metrics(test::sample_status(12.5, 1), test::sample_peers(), "9.9.9", true);
    EXPECT_NE(p.find("# TYPE dvpe_port_rx_packets_total counter\n"), std::string::npos) << p;
    EXPECT_NE(p.find("dvpe_port_rx_packets_total{node=\"alpha\",port=\"wan0\",role=\"wan\"} 1000\n"), std::string::npos);
    EXPECT_EQ(p.find("# EOF"), std::string::npos);
    // label values are escaped; garbage replies give the families without samples, no exception
    json st = test::sample_status(1, 1);
    st["node"]["name"] = "a\"b\\c\nd";
    EXPECT_NE(format_metrics(st, json::object(), "1").find("dvpe_uptime_seconds{node=\"a\\\"b\\\\c\\nd\"} 1\n"),
              std::string::npos);
    for (const json& j : {json(), json::array(), json{{"ports", 1}, {"workers", {1, "x"}}, {"drops", {{"x", "y"}}}}}) {
        EXPECT_NO_THROW((void)format_metrics(j, j, "1")) << j.dump();
    }
}

TEST(ctl_format, bytes) {
    EXPECT_EQ(format_bytes(0), "0 B");
    EXPECT_EQ(format_bytes(1023), "1023 B");
    EXPECT_EQ(format_bytes(1024), "1.00 KiB");
    EXPECT_EQ(format_bytes(1536), "1.50 KiB");
    EXPECT_EQ(format_bytes(uint64_t{5} << 30), "5.00 GiB");
    EXPECT_EQ(format_bytes(UINT64_MAX), "16.00 EiB");
}

TEST(ctl_format, help_table) {
    json h = {{"ok", true},
              {"commands", {{{"name", "help"}, {"help", "list the commands"}}, {{"name", "status"}, {"help", "counters"}}}}};
    EXPECT_EQ(format_help(h), "COMMAND  DESCRIPTION\nhelp     list the commands\nstatus   counters\n");
}

TEST(ctl_format, small_formatters) {
    struct duration_case {
        double s;
        const char* text;
    };
    const duration_case durations[] = {
        {0, "0:00:00"}, {12.5, "0:00:12"}, {59.999, "0:00:59"}, {3600, "1:00:00"},
        {86399, "23:59:59"}, {86400, "1d 00:00:00"}, {90061, "1d 01:01:01"}, {-5, "0:00:00"},
    };
    for (const auto& d : durations) {
        EXPECT_EQ(format_duration(d.s), d.text) << d.s;
    }
    EXPECT_EQ(format_number(3607), "3607");
    EXPECT_EQ(format_number(60), "60");
    EXPECT_EQ(format_number(0.5), "0.5");
    EXPECT_EQ(format_number(2.25), "2.25");
    EXPECT_EQ(format_host_port("10.0.0.1", 655), "10.0.0.1:655");
    EXPECT_EQ(format_host_port("vpn.example.org", 1), "vpn.example.org:1");
    EXPECT_EQ(format_host_port("fe80::1", 655), "[fe80::1]:655");
    EXPECT_EQ(format_host_port("", 655), "-:655");
}

TEST(ctl_format, text_table_alignment) {
    text_table t({"A", "NUM"}, {false, true});
    t.add_row({"long-name", "1"});
    t.add_row({"x", "12345"});
    t.add_row({"short"});  // missing cells are blank
    EXPECT_EQ(t.str("  "), "  A            NUM\n  long-name      1\n  x          12345\n  short\n");
}

}  // namespace
}  // namespace control
