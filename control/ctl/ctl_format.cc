// SPDX-License-Identifier: MIT
// Text tables for dvpectl (ctl_format.hh). Every field is read through a tolerant getter, so a
// reply from another dvped version renders with blanks instead of an exception.
#include "control/ctl/ctl_format.hh"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <map>

namespace control {

namespace {

using nlohmann::json;

uint64_t get_u64(const json& j, const char* key) {
    if (!j.is_object()) {
        return 0;
    }
    auto it = j.find(key);
    if (it == j.end()) {
        return 0;
    }
    if (it->is_number_unsigned()) {
        return it->get<uint64_t>();
    }
    if (it->is_number_integer()) {
        auto v = it->get<int64_t>();
        return v < 0 ? 0 : uint64_t(v);
    }
    if (it->is_number_float()) {
        double v = it->get<double>();
        return v > 0 ? uint64_t(v) : 0;
    }
    return 0;
}

double get_double(const json& j, const char* key) {
    if (!j.is_object()) {
        return 0;
    }
    auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::string get_str(const json& j, const char* key, const char* fallback = "-") {
    if (j.is_object()) {
        if (auto it = j.find(key); it != j.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
            return it->get<std::string>();
        }
    }
    return fallback;
}

bool get_bool(const json& j, const char* key) {
    if (!j.is_object()) {
        return false;
    }
    auto it = j.find(key);
    return it != j.end() && it->is_boolean() && it->get<bool>();
}

const json& empty_array() {
    static const json empty = json::array();
    return empty;
}

const json& empty_object() {
    static const json empty = json::object();
    return empty;
}

const json& get_array(const json& j, const char* key) {
    if (j.is_object()) {
        if (auto it = j.find(key); it != j.end() && it->is_array()) {
            return *it;
        }
    }
    return empty_array();
}

const json& get_object(const json& j, const char* key) {
    if (j.is_object()) {
        if (auto it = j.find(key); it != j.end() && it->is_object()) {
            return *it;
        }
    }
    return empty_object();
}

std::string u64(uint64_t v) { return std::to_string(v); }

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string percent(uint64_t part, uint64_t whole) {
    if (whole == 0) {
        return "-";
    }
    return fixed(100.0 * double(part) / double(whole), 1) + "%";
}

/// Counter increase between two samples; a restarted daemon (counter went down) counts from 0.
uint64_t delta(uint64_t cur, uint64_t prev) { return cur >= prev ? cur - prev : cur; }

/// The element of \p arr whose \p key equals that of \p like (ports by name, workers by lcore).
const json* find_same(const json& arr, const json& like, const char* key) {
    if (!like.is_object() || !like.contains(key)) {
        return nullptr;
    }
    for (const auto& e : arr) {
        if (e.is_object() && e.contains(key) && e[key] == like[key]) {
            return &e;
        }
    }
    return nullptr;
}

std::string queues_string(const json& worker) {
    std::string s;
    for (const auto& q : get_array(worker, "queues")) {
        if (!s.empty()) {
            s += ',';
        }
        s += get_str(q, "port") + "/" + u64(get_u64(q, "queue"));
    }
    return s.empty() ? "-" : s;
}

uint64_t port_drops(const json& p) {
    return get_u64(p, "rx_missed") + get_u64(p, "rx_nombuf") + get_u64(p, "rx_errors") + get_u64(p, "tx_errors");
}

}  // namespace

// ---- text_table -----------------------------------------------------------------------------------

text_table::text_table(std::vector<std::string> header, std::vector<bool> right)
    : _header(std::move(header)), _right(std::move(right)) {
    _right.resize(_header.size(), false);
}

void text_table::add_row(std::vector<std::string> cells) {
    cells.resize(_header.size());
    _rows.push_back(std::move(cells));
}

std::string text_table::str(const std::string& indent) const {
    std::vector<size_t> width(_header.size(), 0);
    auto measure = [&](const std::vector<std::string>& row) {
        for (size_t i = 0; i < row.size(); ++i) {
            width[i] = std::max(width[i], row[i].size());
        }
    };
    measure(_header);
    for (const auto& r : _rows) {
        measure(r);
    }
    std::string out;
    auto emit = [&](const std::vector<std::string>& row) {
        std::string line = indent;
        for (size_t i = 0; i < row.size(); ++i) {
            size_t pad = width[i] - row[i].size();
            if (i != 0) {
                line += "  ";
            }
            if (_right[i]) {
                line.append(pad, ' ');
                line += row[i];
            } else {
                line += row[i];
                line.append(pad, ' ');
            }
        }
        while (!line.empty() && line.back() == ' ') {
            line.pop_back();
        }
        out += line;
        out += '\n';
    };
    emit(_header);
    for (const auto& r : _rows) {
        emit(r);
    }
    return out;
}

// ---- small formatters -----------------------------------------------------------------------------

std::string format_duration(double seconds) {
    if (!(seconds > 0)) {
        seconds = 0;
    }
    auto total = uint64_t(seconds);
    uint64_t days = total / 86400, h = total / 3600 % 24, m = total / 60 % 60, s = total % 60;
    char buf[64];
    if (days != 0) {
        std::snprintf(buf, sizeof buf, "%" PRIu64 "d %02" PRIu64 ":%02" PRIu64 ":%02" PRIu64, days, h, m, s);
    } else {
        std::snprintf(buf, sizeof buf, "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64, h, m, s);
    }
    return buf;
}

std::string format_number(double v) {
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
        return std::to_string(int64_t(v));
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

std::string format_host_port(const std::string& host, uint64_t port) {
    if (host.empty() || host == "-") {
        return "-:" + u64(port);
    }
    if (host.find(':') != std::string::npos) {
        return "[" + host + "]:" + u64(port);
    }
    return host + ":" + u64(port);
}

// ---- status ----------------------------------------------------------------------------------------

namespace {
/// A port's role as the operator names it in `port = NAME ROLE ...`: wan, overlay, bridge, route.
std::string port_role_str(const json& p) {
    const std::string mode = get_str(p, "mode");
    return mode == "bridge" || mode == "route" ? mode : get_str(p, "role");
}

/// The workers' per-stage cycle counters (engine/stage_clock.hh) as VPP's `show runtime` gives
/// clocks per node: TSC cycles per received packet of each stage (over the sampled busy
/// iterations; since the previous sample with rates), "own" = everything but rx, aead and tx,
/// and packets per AEAD call and per tx burst. Empty when no worker timed a packet.
std::string stage_clocks(const json& workers, const json& prev_workers, bool rates) {
    text_table t({"LCORE", "CYCLES/PKT", "RX", "PREPARE", "AEAD", "FINISH", "TX", "OTHER", "OWN", "PKTS/AEAD",
                  "PKTS/TX"},
                 {true, true, true, true, true, true, true, true, true, true, true});
    for (const auto& w : workers) {
        const json* q = rates ? find_same(prev_workers, w, "lcore") : nullptr;
        const json& pw = q != nullptr ? *q : empty_object();
        auto d = [&](const char* key) { return double(delta(get_u64(w, key), get_u64(pw, key))); };
        const double pkts = d("clk_rx_packets");
        if (pkts == 0) {
            continue;
        }
        auto per_pkt = [&](const char* key) { return fixed(d(key) / pkts, 1); };
        auto per_call = [&](const char* packets, const char* calls) {
            return d(calls) > 0 ? fixed(d(packets) / d(calls), 1) : std::string("-");
        };
        const double own = d("clk_cycles") - d("clk_rx_cycles") - d("clk_aead_cycles") - d("clk_tx_cycles");
        t.add_row({u64(get_u64(w, "lcore")), per_pkt("clk_cycles"), per_pkt("clk_rx_cycles"),
                   per_pkt("clk_prepare_cycles"), per_pkt("clk_aead_cycles"), per_pkt("clk_finish_cycles"),
                   per_pkt("clk_tx_cycles"), per_pkt("clk_other_cycles"), fixed(std::max(own, 0.0) / pkts, 1),
                   per_call("clk_aead_packets", "clk_aead_calls"), per_call("clk_tx_packets", "clk_tx_calls")});
    }
    if (t.n_rows() == 0) {
        return "";
    }
    return "stage clocks, TSC cycles per packet (sampled busy iterations; own = all but rx, aead, tx)\n" + t.str() +
           '\n';
}
}  // namespace

std::string format_status(const json& st, const json* previous) {
    const json& node = get_object(st, "node");
    double dt = previous != nullptr ? get_double(st, "uptime_s") - get_double(*previous, "uptime_s") : 0.0;
    const bool rates = previous != nullptr && dt > 0;
    auto rate = [&](uint64_t cur, uint64_t prev) { return double(delta(cur, prev)) / dt; };

    std::string out = "node " + get_str(node, "name") + "  id " + u64(get_u64(node, "id")) + "  mac " +
                      get_str(node, "mac") + "  up " + format_duration(get_double(st, "uptime_s"));
    if (rates) {
        out += "  (rates over " + fixed(dt, 1) + " s)";
    }
    out += "\n\n";

    // Ports.
    const json& ports = get_array(st, "ports");
    const json& prev_ports = previous != nullptr ? get_array(*previous, "ports") : empty_array();
    if (rates) {
        text_table t({"PORT", "ROLE", "LINK", "RX PPS", "RX MBIT/S", "TX PPS", "TX MBIT/S", "RX PKTS", "TX PKTS", "DROPS"},
                     {false, false, false, true, true, true, true, true, true, true});
        for (const auto& p : ports) {
            const json* q = find_same(prev_ports, p, "name");
            const json& pp = q != nullptr ? *q : empty_object();
            t.add_row({get_str(p, "name"), port_role_str(p), get_bool(p, "link_up") ? "up" : "down",
                       fixed(rate(get_u64(p, "rx_packets"), get_u64(pp, "rx_packets")), 0),
                       fixed(rate(get_u64(p, "rx_bytes"), get_u64(pp, "rx_bytes")) * 8 / 1e6, 2),
                       fixed(rate(get_u64(p, "tx_packets"), get_u64(pp, "tx_packets")), 0),
                       fixed(rate(get_u64(p, "tx_bytes"), get_u64(pp, "tx_bytes")) * 8 / 1e6, 2),
                       u64(get_u64(p, "rx_packets")), u64(get_u64(p, "tx_packets")), u64(port_drops(p))});
        }
        out += t.n_rows() != 0 ? t.str() : "no ports\n";
    } else {
        text_table t({"PORT", "ROLE", "DRIVER", "MAC", "LINK", "RX PKTS", "RX BYTES", "TX PKTS", "TX BYTES", "DROPS"},
                     {false, false, false, false, false, true, true, true, true, true});
        for (const auto& p : ports) {
            t.add_row({get_str(p, "name"), port_role_str(p), get_str(p, "driver"), get_str(p, "mac"),
                       get_bool(p, "link_up") ? "up" : "down", u64(get_u64(p, "rx_packets")),
                       u64(get_u64(p, "rx_bytes")), u64(get_u64(p, "tx_packets")), u64(get_u64(p, "tx_bytes")),
                       u64(port_drops(p))});
        }
        out += t.n_rows() != 0 ? t.str() : "no ports\n";
    }
    out += '\n';

    // The site LAN (docs/site-gateways.md), on gateways only.
    if (st.contains("lan") && st["lan"].is_object()) {
        const json& lan = st["lan"];
        const std::string mode = get_str(lan, "mode");
        if ((mode == "bridge" || mode == "host") && lan.contains("mac_table") && lan["mac_table"].is_object()) {
            const json& mt = lan["mac_table"];
            const json& lim = get_object(mt, "limits");
            // A TAP node's table holds the hosts behind bridge gateways (mode host).
            out += std::string(mode == "bridge" ? "site LAN: bridge  " : "") + "MAC table " + u64(get_u64(mt, "size")) + " of " + u64(get_u64(lim, "total")) +
                   " (static " + u64(get_u64(mt, "static")) + ", learned " + u64(get_u64(mt, "learned")) +
                   ")  learned " + u64(get_u64(mt, "learned_total")) + "  aged " + u64(get_u64(mt, "aged")) +
                   "  moved " + u64(get_u64(mt, "moved")) + "  limit-dropped " + u64(get_u64(mt, "limit_dropped")) +
                   "\n\n";
        } else if (mode == "route") {
            out += "site LAN: route  prefixes " + u64(get_u64(lan, "routes")) + "  LAN hosts " +
                   u64(get_u64(lan, "lan_hosts")) + "  unresolved " + u64(get_u64(lan, "unresolved")) + "  off-link " +
                   u64(get_u64(lan, "off_link")) + "\n\n";
        }
    }

    // Workers.
    const json& workers = get_array(st, "workers");
    const json& prev_workers = previous != nullptr ? get_array(*previous, "workers") : empty_array();
    if (rates) {
        const double tsc_hz = get_double(st, "tsc_hz");
        text_table t({"LCORE", "QUEUES", "RX PPS", "TX PPS", "EMPTY%", "BUSY%", "SLEEPS/S"},
                     {true, false, true, true, true, true, true});
        for (const auto& w : workers) {
            const json* q = find_same(prev_workers, w, "lcore");
            const json& pw = q != nullptr ? *q : empty_object();
            uint64_t polls = delta(get_u64(w, "polls"), get_u64(pw, "polls"));
            uint64_t empty = delta(get_u64(w, "empty_polls"), get_u64(pw, "empty_polls"));
            double busy = tsc_hz > 0 ? double(delta(get_u64(w, "busy_cycles"), get_u64(pw, "busy_cycles"))) /
                                           (tsc_hz * dt) * 100
                                     : -1;
            t.add_row({u64(get_u64(w, "lcore")), queues_string(w),
                       fixed(rate(get_u64(w, "rx_packets"), get_u64(pw, "rx_packets")), 0),
                       fixed(rate(get_u64(w, "tx_packets"), get_u64(pw, "tx_packets")), 0), percent(empty, polls),
                       busy < 0 ? "-" : fixed(std::min(busy, 100.0), 1) + "%",
                       fixed(rate(get_u64(w, "idle_sleeps"), get_u64(pw, "idle_sleeps")), 0)});
        }
        out += t.n_rows() != 0 ? t.str() : "no workers\n";
    } else {
        text_table t({"LCORE", "QUEUES", "RX PKTS", "TX PKTS", "POLLS", "EMPTY%", "IDLE SLEEPS"},
                     {true, false, true, true, true, true, true});
        for (const auto& w : workers) {
            t.add_row({u64(get_u64(w, "lcore")), queues_string(w), u64(get_u64(w, "rx_packets")),
                       u64(get_u64(w, "tx_packets")), u64(get_u64(w, "polls")),
                       percent(get_u64(w, "empty_polls"), get_u64(w, "polls")), u64(get_u64(w, "idle_sleeps"))});
        }
        out += t.n_rows() != 0 ? t.str() : "no workers\n";
    }
    out += '\n';
    out += stage_clocks(workers, prev_workers, rates);

    // Peers: session state, path and traffic (absent from daemons without sessions).
    const json& peers = get_array(st, "peers");
    if (!peers.empty()) {
        text_table pt({"PEER", "ID", "STATE", "VIA", "TRANSPORT", "ADDRESS", "RX PKTS", "RX BYTES", "TX PKTS", "TX BYTES",
                       "KEY AGE", "HANDSHAKES"},
                      {false, true, false, true, false, false, true, true, true, true, true, true});
        for (const auto& p : peers) {
            const double age = get_double(p, "key_age_s");
            pt.add_row({get_str(p, "name"), u64(get_u64(p, "id")), get_str(p, "state"),
                        get_u64(p, "via") != 0 ? u64(get_u64(p, "via")) : "-", get_str(p, "transport"),
                        get_str(p, "address"), u64(get_u64(p, "rx_packets")), u64(get_u64(p, "rx_bytes")),
                        u64(get_u64(p, "tx_packets")), u64(get_u64(p, "tx_bytes")),
                        age > 0 ? format_duration(age) : "-", u64(get_u64(p, "handshakes_completed"))});
        }
        out += pt.str() + '\n';
        // Why handshakes with a peer fail (the last rejection that concerns its config; cleared
        // when a handshake completes): one line per such peer, the detail says what to fix.
        std::string failures;
        for (const auto& p : peers) {
            const json& f = get_object(p, "handshake_failure");
            if (f.empty()) {
                continue;
            }
            const uint64_t n = get_u64(f, "count");
            failures += "  " + get_str(p, "name") + ": " + get_str(f, "detail") + " (" + u64(n) +
                        (n == 1 ? " time" : " times") + ", last " + format_duration(get_double(f, "age_s")) + " ago)\n";
        }
        if (!failures.empty()) {
            out += "handshake failures:\n" + failures + '\n';
        }
    }

    // Drops by reason, non-zero only (the reply lists every reason of the fixed list).
    const json& drops = get_object(st, "drops");
    const json& prev_drops = previous != nullptr ? get_object(*previous, "drops") : empty_object();
    text_table t = rates ? text_table({"DROP REASON", "PACKETS", "PER S"}, {false, true, true})
                         : text_table({"DROP REASON", "PACKETS"}, {false, true});
    for (const auto& [name, v] : drops.items()) {
        uint64_t n = get_u64(drops, name.c_str());
        if (n == 0) {
            continue;
        }
        if (rates) {
            t.add_row({name, u64(n), fixed(rate(n, get_u64(prev_drops, name.c_str())), 0)});
        } else {
            t.add_row({name, u64(n)});
        }
    }
    out += t.n_rows() != 0 ? t.str() : "no drops\n";
    return out;
}

// ---- config ----------------------------------------------------------------------------------------

std::string format_peer_rates(const json& peers, const json& previous, double dt, size_t max_rows) {
    if (!(dt > 0)) {
        return {};
    }
    struct row {
        std::string name, state;
        double rx_pps, rx_bps, tx_pps, tx_bps;  // < 0: no rate (no earlier sample, a counter went back)
    };
    std::vector<row> rows;
    const json& prev = get_array(previous, "peers");
    for (const json& p : get_array(peers, "peers")) {
        if (!p.is_object()) {
            continue;
        }
        const json* q = find_same(prev, p, "id");
        // A peer new since the last sample, or one whose counters went back (its entry was made
        // anew), has no rate over this interval: "-" rather than its lifetime total over dt.
        auto rate = [&](const char* k) {
            return q == nullptr || get_u64(p, k) < get_u64(*q, k) ? -1.0 : double(get_u64(p, k) - get_u64(*q, k)) / dt;
        };
        rows.push_back({get_str(p, "name"), get_str(p, "state"), rate("rx_packets"), rate("rx_bytes") * 8 / 1e6,
                        rate("tx_packets"), rate("tx_bytes") * 8 / 1e6});
    }
    if (rows.empty()) {
        return {};
    }
    std::stable_sort(rows.begin(), rows.end(), [](const row& a, const row& b) {
        const double x = std::max(a.rx_bps, 0.0) + std::max(a.tx_bps, 0.0),
                     y = std::max(b.rx_bps, 0.0) + std::max(b.tx_bps, 0.0);
        return x != y ? x > y : a.name < b.name;
    });
    text_table t({"PEER", "STATE", "RX PPS", "RX MBIT/S", "TX PPS", "TX MBIT/S"}, {false, false, true, true, true, true});
    for (size_t i = 0; i < rows.size() && i < max_rows; ++i) {
        const row& r = rows[i];
        auto num = [](double v, int decimals) { return v < 0 ? std::string("-") : fixed(v, decimals); };
        t.add_row({r.name, r.state, num(r.rx_pps, 0), num(r.rx_bps, 2), num(r.tx_pps, 0), num(r.tx_bps, 2)});
    }
    std::string out = t.str();
    if (rows.size() > max_rows) {
        out += "... " + std::to_string(rows.size() - max_rows) + " more peers\n";
    }
    return out;
}

std::string format_neighbours(const json& reply) {
    text_table t({"PORT", "ADDRESS", "MAC", "STATE", "AGE", "REQUESTS"}, {false, false, false, false, true, true});
    for (const json& n : get_array(reply, "neighbours")) {
        const std::string mac = get_str(n, "mac", "");
        t.add_row({get_str(n, "port"), get_str(n, "ip"), mac.empty() ? "-" : mac, get_str(n, "state"),
                   fixed(get_double(n, "age_s"), 1) + "s", u64(get_u64(n, "requests"))});
    }
    return t.n_rows() != 0 ? t.str() : "no neighbours\n";
}

std::string format_config(const json& c) {
    std::string out;
    auto line = [&](const char* key, const std::string& value) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%-11s ", key);
        out += buf;
        out += value;
        out += '\n';
    };
    const json& nodes = get_array(c, "nodes");
    line("nodes:", u64(c.contains("nodes_count") ? get_u64(c, "nodes_count") : nodes.size()));
    line("this node:", get_str(c, "node") + " (id " + u64(get_u64(c, "node_id")) + ")");
    line("mtu:", u64(get_u64(c, "mtu")) + " (overlay mtu " + u64(get_u64(c, "overlay_mtu")) + ")");
    line("rekey:", format_number(get_double(c, "rekey")) + " s");
    line("keepalive:", format_number(get_double(c, "keepalive")) + " s");
    line("ifname:", get_str(c, "ifname"));
    line("cipher:", get_str(c, "cipher"));
    if (c.contains("transport_overhead") && c["transport_overhead"].is_array()) {
        // Bytes each transport adds to an overlay frame, IPv4/IPv6; '*' marks this node's.
        std::string o;
        for (const auto& t : c["transport_overhead"]) {
            if (!t.is_object()) {
                continue;
            }
            o += (o.empty() ? "" : ", ") + get_str(t, "transport") + (t.value("enabled", false) ? "*" : "") + " " +
                 u64(get_u64(t, "ipv4")) + "/" + u64(get_u64(t, "ipv6"));
        }
        line("overhead:", o + " bytes (IPv4/IPv6; * enabled here)");
    }
    if (std::string serial = get_str(c, "serial", ""); !serial.empty()) {
        line("serial:", serial);
    }
    out += '\n';

    text_table t({"ID#", "MAC", "Conmode", "Node", "Prot", "Host:Port", "RPrio"},
                 {true, false, false, false, false, false, true});
    for (const auto& n : nodes) {
        std::string prot;
        for (const auto& p : get_array(n, "protocols")) {
            if (p.is_string()) {
                prot += (prot.empty() ? "" : ",") + p.get<std::string>();
            }
        }
        std::string name = get_str(n, "name");
        t.add_row({u64(get_u64(n, "id")), get_str(n, "mac"), get_str(n, "connect"), name, prot.empty() ? "-" : prot,
                   format_host_port(get_str(n, "hostname", ""), get_u64(n, "udp_port")),
                   u64(get_u64(n, "router_priority"))});
    }
    out += t.str();
    return out;
}

std::string format_bytes(uint64_t bytes) {
    static const char* const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        return std::to_string(bytes) + " B";
    }
    double v = static_cast<double>(bytes) / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < std::size(units)) {
        v /= 1024;
        ++u;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f %s", v, units[u]);
    return buf;
}

std::string format_peers(const json& peers, const std::string& only) {
    const json& list = get_array(peers, "peers");
    std::map<uint64_t, std::string> names;  // for "via": a router's name
    for (const json& p : list) {
        names[get_u64(p, "id")] = get_str(p, "name");
    }
    auto has = [](const json& p, const char* key) { return p.is_object() && p.contains(key); };
    std::string out;
    for (const json& p : list) {
        const std::string name = get_str(p, "name");
        if (!only.empty() && name != only) {
            continue;
        }
        if (!out.empty()) {
            out += "\n";
        }
        out += "peer: " + name + " (id " + std::to_string(get_u64(p, "id")) + ")\n";
        std::string state = get_str(p, "state");
        if (get_bool(p, "handshake_in_progress")) {
            state += ", handshaking";
        }
        out += "  state: " + state + " (connect " + get_str(p, "connect") + ")\n";
        if (has(p, "transport")) {
            std::string ep = get_str(p, "transport") + " ";
            const std::string addr = get_str(p, "address");
            ep += has(p, "udp_port") ? format_host_port(addr, get_u64(p, "udp_port")) : addr;
            if (has(p, "icmp_type")) {
                const uint64_t t = get_u64(p, "icmp_type");
                const char* role = t == 8 || t == 128 ? "echo requests" : t == 0 || t == 129 ? "echo replies" : "type";
                ep += " (" + std::string(role) + " " + std::to_string(t) + ", id " +
                      std::to_string(get_u64(p, "icmp_id")) + ")";
            }
            if (const uint64_t via = get_u64(p, "via"); via != 0) {
                auto it = names.find(via);
                ep += " via router " + (it != names.end() ? it->second : std::string("-")) + " (id " +
                      std::to_string(via) + ")";
            }
            if (has(p, "next_hop_resolved") && !get_bool(p, "next_hop_resolved")) {
                ep += " (next hop unresolved)";
            }
            out += "  endpoint: " + ep + "\n";
        } else {
            out += "  endpoint: (none)\n";
        }
        if (has(p, "roamed_to")) {
            out += "  roamed to: " + get_str(p, "roamed_to") + "\n";
        }
        if (has(p, "hostname")) {
            out += "  hostname: " + get_str(p, "hostname") + " -> " +
                   get_str(has(p, "dns") ? p["dns"] : empty_object(), "address") + "\n";
        }
        const double hs = has(p, "last_handshake_age_s") ? get_double(p, "last_handshake_age_s") : -1.0;
        out += "  latest handshake: " + (hs < 0 ? std::string("never") : format_duration(hs) + " ago") + "\n";
        out += "  transfer: " + format_bytes(get_u64(p, "rx_bytes")) + " received (" +
               std::to_string(get_u64(p, "rx_packets")) + " packets), " + format_bytes(get_u64(p, "tx_bytes")) +
               " sent (" + std::to_string(get_u64(p, "tx_packets")) + " packets)\n";
        if (get_u64(p, "auth_failed") != 0 || get_u64(p, "replayed") != 0) {
            out += "  dropped: " + std::to_string(get_u64(p, "auth_failed")) + " failed authentication, " +
                   std::to_string(get_u64(p, "replayed")) + " replayed\n";
        }
        if (get_str(p, "state") == "up") {
            out += "  key: id " + std::to_string(get_u64(p, "key_id")) + ", " +
                   format_duration(get_double(p, "key_age_s")) + " old\n";
        }
        out += "  handshakes: " + std::to_string(get_u64(p, "initiations_sent")) + " initiated, " +
               std::to_string(get_u64(p, "responses_sent")) + " answered, " +
               std::to_string(get_u64(p, "handshakes_completed")) + " completed, " +
               std::to_string(get_u64(p, "rekeys")) + " rekeys; " + std::to_string(get_u64(p, "ups")) + " up, " +
               std::to_string(get_u64(p, "downs")) + " down\n";
        if (has(p, "handshakes_failed") && p["handshakes_failed"].is_object() && !p["handshakes_failed"].empty()) {
            std::string f;
            for (const auto& [k, v] : p["handshakes_failed"].items()) {
                f += (f.empty() ? "" : ", ") + k + " " + std::to_string(get_u64(json{{"n", v}}, "n"));
            }
            out += "  handshakes refused: " + f + "\n";
        }
        if (has(p, "handshake_failure")) {
            out += "  last failure: " + get_str(p["handshake_failure"], "detail") + "\n";
        }
    }
    return out;
}

namespace {

// One metric family at a time: "# TYPE" and "# HELP" once, then its samples.
class metrics_writer {
public:
    /// `node` goes on every sample: two nodes' files on one host must not collide.
    metrics_writer(bool prometheus, std::string node) : _prometheus(prometheus), _node(std::move(node)) {}
    void family(const std::string& name, const char* type, const char* help) {
        _counter = std::string(type) == "counter";
        _name = name;
        const std::string fam = _prometheus && _counter ? name + "_total" : name;
        _out += "# TYPE " + fam + " " + type + "\n# HELP " + fam + " " + help + "\n";
    }
    void sample(const std::vector<std::pair<std::string, std::string>>& labels, const std::string& value) {
        _out += _name + (_counter ? "_total" : "") + "{node=\"" + escape(_node) + "\"";
        for (const auto& [k, v] : labels) {
            _out += "," + k + "=\"" + escape(v) + "\"";
        }
        _out += "}";
        _out += " " + value + "\n";
    }
    std::string finish() { return _prometheus ? _out : _out + "# EOF\n"; }

private:
    static std::string escape(const std::string& v) {
        std::string r;
        for (char c : v) {
            if (c == '\\' || c == '"') {
                r += '\\';
                r += c;
            } else if (c == '\n') {
                r += "\\n";
            } else {
                r += c;
            }
        }
        return r;
    }
    bool _prometheus;
    std::string _node;
    std::string _out, _name;
    bool _counter = false;
};

std::string num(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

}  // namespace

std::string format_metrics(const json& status, const json& peers, const std::string& version, bool prometheus) {
    metrics_writer w(prometheus, get_str(get_object(status, "node"), "name"));
    w.family("dvpe_build_info", "gauge", "dvpectl's version and the node it asked");
    w.sample({{"version", version}}, "1");
    w.family("dvpe_uptime_seconds", "gauge", "seconds since dvped started");
    w.sample({}, num(get_double(status, "uptime_s")));

    const json& ports = get_array(status, "ports");
    struct field {
        const char* key;
        const char* metric;
        const char* help;
    };
    const field port_fields[] = {
        {"rx_packets", "dvpe_port_rx_packets", "packets received by the port"},
        {"rx_bytes", "dvpe_port_rx_bytes", "bytes received by the port"},
        {"tx_packets", "dvpe_port_tx_packets", "packets sent by the port"},
        {"tx_bytes", "dvpe_port_tx_bytes", "bytes sent by the port"},
        {"rx_missed", "dvpe_port_rx_missed", "packets the port dropped: its receive queues were full"},
        {"rx_nombuf", "dvpe_port_rx_nombuf", "receive failures for want of mbufs"},
        {"tx_errors", "dvpe_port_tx_errors", "transmit errors"},
    };
    w.family("dvpe_port_link_up", "gauge", "1 if the port's link is up");
    for (const json& p : ports) {
        w.sample({{"port", get_str(p, "name")}, {"role", get_str(p, "role")}}, get_bool(p, "link_up") ? "1" : "0");
    }
    for (const field& f : port_fields) {
        w.family(f.metric, "counter", f.help);
        for (const json& p : ports) {
            w.sample({{"port", get_str(p, "name")}, {"role", get_str(p, "role")}}, std::to_string(get_u64(p, f.key)));
        }
    }

    const json& workers = get_array(status, "workers");
    const field worker_fields[] = {
        {"rx_packets", "dvpe_worker_rx_packets", "packets the worker received"},
        {"tx_packets", "dvpe_worker_tx_packets", "packets the worker sent"},
        {"polls", "dvpe_worker_polls", "receive polls"},
        {"empty_polls", "dvpe_worker_empty_polls", "receive polls that found nothing"},
        {"busy_cycles", "dvpe_worker_busy_cycles", "TSC cycles spent on polls that found packets"},
        {"exception_in", "dvpe_worker_exception_in", "packets handed to the kernel's exception interfaces"},
        {"exception_out", "dvpe_worker_exception_out", "packets the kernel sent through an exception interface"},
    };
    for (const field& f : worker_fields) {
        w.family(f.metric, "counter", f.help);
        for (const json& wk : workers) {
            w.sample({{"lcore", std::to_string(get_u64(wk, "lcore"))}}, std::to_string(get_u64(wk, f.key)));
        }
    }
    w.family("dvpe_tsc_hz", "gauge", "TSC frequency: busy_cycles / this = busy seconds");
    w.sample({}, std::to_string(get_u64(status, "tsc_hz")));

    w.family("dvpe_drops", "counter", "packets dropped, by reason (docs/control.md)");
    const json& drops = get_object(status, "drops");
    for (const auto& [reason, v] : drops.items()) {
        w.sample({{"reason", reason}}, std::to_string(get_u64(json{{"n", v}}, "n")));
    }

    const json& list = get_array(peers, "peers");
    auto peer_labels = [](const json& p) {
        return std::vector<std::pair<std::string, std::string>>{{"peer", get_str(p, "name")},
                                                                {"id", std::to_string(get_u64(p, "id"))}};
    };
    w.family("dvpe_peer_up", "gauge", "1 if the session with the peer is up");
    for (const json& p : list) {
        w.sample(peer_labels(p), get_str(p, "state") == "up" ? "1" : "0");
    }
    w.family("dvpe_peer_relayed", "gauge", "1 if the peer is reached through a router");
    for (const json& p : list) {
        w.sample(peer_labels(p), get_u64(p, "via") != 0 ? "1" : "0");
    }
    const field peer_fields[] = {
        {"rx_packets", "dvpe_peer_rx_packets", "packets received from the peer"},
        {"rx_bytes", "dvpe_peer_rx_bytes", "bytes received from the peer"},
        {"tx_packets", "dvpe_peer_tx_packets", "packets sent to the peer"},
        {"tx_bytes", "dvpe_peer_tx_bytes", "bytes sent to the peer"},
        {"handshakes_completed", "dvpe_peer_handshakes", "handshakes completed with the peer"},
        {"rekeys", "dvpe_peer_rekeys", "rekeys with the peer"},
        {"downs", "dvpe_peer_downs", "times the session with the peer went down"},
        {"auth_failed", "dvpe_peer_auth_failed", "packets naming the peer as sender whose tag did not verify"},
        {"replayed", "dvpe_peer_replayed", "packets naming the peer as sender refused by the replay window"},
    };
    for (const field& f : peer_fields) {
        w.family(f.metric, "counter", f.help);
        for (const json& p : list) {
            w.sample(peer_labels(p), std::to_string(get_u64(p, f.key)));
        }
    }
    w.family("dvpe_peer_last_handshake_age_seconds", "gauge", "seconds since the latest handshake (none: absent)");
    for (const json& p : list) {
        if (p.is_object() && p.contains("last_handshake_age_s") && get_double(p, "last_handshake_age_s") >= 0) {
            w.sample(peer_labels(p), num(get_double(p, "last_handshake_age_s")));
        }
    }
    w.family("dvpe_peer_handshakes_refused", "counter", "the peer's handshakes refused, by reason");
    for (const json& p : list) {
        const json& failed = get_object(p, "handshakes_failed");
        for (const auto& [reason, v] : failed.items()) {
            auto l = peer_labels(p);
            l.emplace_back("reason", reason);
            w.sample(l, std::to_string(get_u64(json{{"n", v}}, "n")));
        }
    }
    return w.finish();
}

std::string format_help(const json& help) {
    text_table t({"COMMAND", "DESCRIPTION"});
    for (const auto& c : get_array(help, "commands")) {
        t.add_row({get_str(c, "name"), get_str(c, "help", "")});
    }
    return t.str();
}

}  // namespace control
