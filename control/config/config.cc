// SPDX-License-Identifier: MIT
// Phase 1 of the configuration (docs/config.md "Files and phases"): the gvpe.conf parser and its evaluation model
// (docs/config.md "Evaluation model"), plus the small helpers config.hh declares. Reading order:
//   helpers (numbers, booleans, addresses) -> the directive table (one row per directive, GVPE's
//   and dvpe's) -> the parser (sections, `on`, `include`, overrides) -> load_config*(), which runs
//   parse, the command-line overrides, a short finalise step and validate_config()
//   (config_validate.cc). Nothing here throws on bad input: every problem becomes a diagnostic
//   `file:line: message`. Control thread / dvpectl only.
#include "control/config/config.hh"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <thread>
#include <utility>

namespace control {

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

std::string diagnostic::str() const {
    if (where.file.empty()) {
        return message;
    }
    return where.file + ":" + std::to_string(where.line) + ": " + message;
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }
/// GVPE's tokenizer splits on tab, space and '=' (gvpe.md §1.1).
bool is_sep(char c) { return c == ' ' || c == '\t' || c == '=' || c == '\r'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

std::string lower(std::string_view s) {
    std::string r(s);
    for (char& c : r) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return r;
}

std::string quote(std::string_view s) { return "'" + std::string(s) + "'"; }

std::optional<uint64_t> parse_u64(std::string_view s) {
    uint64_t v = 0;
    if (s.empty()) {
        return std::nullopt;
    }
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
    if (ec != std::errc{} || p != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

std::optional<double> parse_double(std::string_view s) {
    double v = 0;
    if (s.empty()) {
        return std::nullopt;
    }
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
    if (ec != std::errc{} || p != s.data() + s.size() || !(v == v)) {  // rejects NaN
        return std::nullopt;
    }
    return v;
}

std::optional<std::array<uint8_t, 6>> parse_mac(std::string_view s) {
    std::array<uint8_t, 6> mac{};
    if (s.size() != 17) {
        return std::nullopt;
    }
    for (size_t i = 0; i < 6; ++i) {
        std::string_view byte = s.substr(i * 3, 2);
        if (i < 5 && s[i * 3 + 2] != ':' && s[i * 3 + 2] != '-') {
            return std::nullopt;
        }
        unsigned v = 0;
        auto [p, ec] = std::from_chars(byte.data(), byte.data() + 2, v, 16);
        if (ec != std::errc{} || p != byte.data() + 2) {
            return std::nullopt;
        }
        mac[i] = static_cast<uint8_t>(v);
    }
    return mac;
}

/// Checks a printf-like path: only `%s` (the node name) and `%%` may follow a '%'.
bool path_format_ok(std::string_view fmt) {
    for (size_t i = 0; i < fmt.size(); ++i) {
        if (fmt[i] == '%') {
            if (i + 1 >= fmt.size() || (fmt[i + 1] != 's' && fmt[i + 1] != '%')) {
                return false;
            }
            ++i;
        }
    }
    return true;
}

std::string format_path(std::string_view fmt, std::string_view nodename) {
    std::string r;
    for (size_t i = 0; i < fmt.size(); ++i) {
        if (fmt[i] == '%' && i + 1 < fmt.size() && fmt[i + 1] == 's') {
            r += nodename;
            ++i;
        } else if (fmt[i] == '%' && i + 1 < fmt.size() && fmt[i + 1] == '%') {
            r += '%';
            ++i;
        } else {
            r += fmt[i];
        }
    }
    return r;
}

std::string join_path(std::string_view dir, std::string_view name) {
    if (!name.empty() && name.front() == '/') {
        return std::string(name);
    }
    if (dir.empty()) {
        return std::string(name);
    }
    std::string r(dir);
    if (r.back() != '/') {
        r += '/';
    }
    r += name;
    return r;
}

/// What kind of file a non-regular st_mode is, for "not a regular file (a FIFO)".
const char* file_kind(mode_t m) {
    if (S_ISDIR(m)) {
        return "a directory";
    }
    if (S_ISFIFO(m)) {
        return "a FIFO";
    }
    if (S_ISSOCK(m)) {
        return "a socket";
    }
    if (S_ISCHR(m)) {
        return "a character device";
    }
    if (S_ISBLK(m)) {
        return "a block device";
    }
    return "not a file";
}

/// Reads a whole configuration file (the main file or an include) into \p out; returns the
/// reason on failure. Symlinks are followed (configuration trees are often linked), but what is
/// opened must be a regular file: it is opened O_NONBLOCK (a FIFO or a device never blocks the
/// control thread in open or read) and checked with fstat; at most
/// limits::max_config_file_bytes are read, whatever st_size says (/proc files say 0), and at
/// most \p budget bytes, which is reduced by what was read.
std::optional<std::string> read_config_file(const std::string& path, std::string& out, size_t& budget) {
    out.clear();
    int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        return std::string(std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        return std::string(std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return std::string("not a regular file (") + file_kind(st.st_mode) + ")";
    }
    const size_t cap = std::min<size_t>(limits::max_config_file_bytes, budget);
    auto too_big = [&] {
        return cap < limits::max_config_file_bytes
                   ? "the configuration files together are larger than " +
                         std::to_string(limits::max_config_total_bytes) + " bytes"
                   : "larger than " + std::to_string(limits::max_config_file_bytes) +
                         " bytes, the limit for one configuration file";
    };
    if (st.st_size > static_cast<off_t>(cap)) {
        ::close(fd);
        return too_big();
    }
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int e = errno;
            ::close(fd);
            out.clear();
            return std::string(std::strerror(e));
        }
        if (n == 0) {
            break;
        }
        if (out.size() + static_cast<size_t>(n) > cap) {
            ::close(fd);
            out.clear();
            return too_big();
        }
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    budget -= out.size();
    return std::nullopt;
}

}  // namespace

std::optional<bool> parse_bool(std::string_view s) {
    std::string v = lower(s);
    if (v == "yes" || v == "true" || v == "on" || v == "1") {
        return true;
    }
    if (v == "no" || v == "false" || v == "off" || v == "0") {
        return false;
    }
    return std::nullopt;
}

std::string_view to_string(connect_mode m) {
    switch (m) {
    case connect_mode::always: return "always";
    case connect_mode::ondemand: return "ondemand";
    case connect_mode::never: return "never";
    case connect_mode::disabled: return "disabled";
    }
    return "?";
}

std::string_view to_string(port_role r) {
    switch (r) {
    case port_role::wan: return "wan";
    case port_role::overlay: return "overlay";
    case port_role::exception: return "exception";
    case port_role::stream: return "stream";
    }
    return "?";
}

std::string_view to_string(overlay_mode m) {
    switch (m) {
    case overlay_mode::host: return "host";
    case overlay_mode::bridge: return "bridge";
    case overlay_mode::route: return "route";
    }
    return "?";
}

namespace {
constexpr std::array<std::string_view, 8> log_level_names = {"noise", "trace", "debug", "info",
                                                             "notice", "warn", "error", "critical"};
}  // namespace

std::string_view to_string(log_level l) {
    auto i = static_cast<size_t>(l);
    return i < log_level_names.size() ? log_level_names[i] : "?";
}

std::optional<log_level> parse_log_level(std::string_view s) {
    std::string v = lower(s);
    for (size_t i = 0; i < log_level_names.size(); ++i) {
        if (v == log_level_names[i]) {
            return static_cast<log_level>(i);
        }
    }
    return std::nullopt;
}

std::string protocols_string(uint8_t mask) {
    static constexpr std::pair<uint8_t, std::string_view> names[] = {
        {proto_udp, "udp"}, {proto_rawip, "rawip"}, {proto_tcp, "tcp"}, {proto_icmp, "icmp"}, {proto_dns, "dns"}};
    std::string r;
    for (const auto& [bit, name] : names) {
        if ((mask & bit) != 0) {
            if (!r.empty()) {
                r += ',';
            }
            r += name;
        }
    }
    return r.empty() ? "none" : r;
}

std::array<uint8_t, 6> node_mac(unsigned id) {
    return {0xfe, 0xfd, 0x80, 0x00, static_cast<uint8_t>((id >> 8) & 0xff), static_cast<uint8_t>(id & 0xff)};
}

std::string mac_string(const std::array<uint8_t, 6>& mac) {
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                  mac[5]);
    return buf;
}

std::string config::expand_path(std::string_view fmt) const {
    return join_path(confdir, format_path(fmt, nodename));
}

const node_conf* config::find_node(std::string_view name) const {
    for (const node_conf& n : nodes) {
        if (n.name == name) {
            return &n;
        }
    }
    return nullptr;
}

const node_conf* config::node(unsigned id) const {
    if (id < by_id.size() && by_id[id] != 0 && by_id[id] <= nodes.size() && nodes[by_id[id] - 1u].id == id) {
        return &nodes[by_id[id] - 1u];
    }
    for (const node_conf& n : nodes) {  // no index, or nodes changed after it was built
        if (n.id == id) {
            return &n;
        }
    }
    return nullptr;
}

void config::index_nodes() {
    by_id.clear();
    for (size_t i = 0; i < nodes.size(); ++i) {
        const unsigned id = nodes[i].id;
        if (id > limits::max_node_id) {
            continue;  // invalid (an error already); node() scans for it
        }
        if (by_id.size() <= id) {
            by_id.resize(id + 1, 0);
        }
        if (by_id[id] == 0) {  // the first node with an id wins, as the scans did
            by_id[id] = static_cast<uint16_t>(i + 1);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The directive table
// ---------------------------------------------------------------------------------------------

namespace {

/// What a setter gets: the directive, its value and where it is; reports bad values.
struct setter_ctx {
    std::vector<diagnostic>& errors;
    const location& where;
    std::string_view key;
    std::string_view value;
    bool failed = false;

    void error(const std::string& msg) {
        errors.push_back({where, std::string(key) + ": " + msg});
        failed = true;
    }
    /// An error that names its subject itself (e.g. "port wan0: ...").
    void error_raw(const std::string& msg) {
        errors.push_back({where, msg});
        failed = true;
    }
    void bad_value(const std::string& expected) { error("bad value " + quote(value) + ": expected " + expected); }

    std::optional<uint64_t> uint(uint64_t lo, uint64_t hi) {
        auto v = parse_u64(value);
        if (!v || *v < lo || *v > hi) {
            bad_value("an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
            return std::nullopt;
        }
        return v;
    }
    /// A non-negative number (or positive when `positive`), as GVPE's time settings.
    std::optional<double> number(bool positive) {
        auto v = parse_double(value);
        if (!v || *v < 0 || (positive && *v == 0) || *v > 1e9) {
            bad_value(positive ? "a number > 0" : "a number >= 0");
            return std::nullopt;
        }
        return v;
    }
    std::optional<bool> boolean() {
        auto v = parse_bool(value);
        if (!v) {
            bad_value("yes/no, true/false, on/off or 1/0");
        }
        return v;
    }
    std::optional<std::string> path() {
        if (!path_format_ok(value)) {
            bad_value("a path where only %s (the node name) and %% follow a '%'");
            return std::nullopt;
        }
        return std::string(value);
    }
};

using node_fn = void (*)(setter_ctx&, node_conf&);
using global_fn = void (*)(setter_ctx&, global_conf&);

enum class value_kind : uint8_t { token, rest_of_line };

struct directive_entry {
    std::string_view name;
    directive_scope scope;
    directive_support support;
    std::string_view note;
    value_kind kind;
    node_fn on_node;
    global_fn on_global;
};

template <typename T>
using remove_cvref_t = std::remove_cv_t<std::remove_reference_t<T>>;

template <auto M, uint64_t Lo, uint64_t Hi>
void node_uint(setter_ctx& c, node_conf& n) {
    if (auto v = c.uint(Lo, Hi)) {
        n.*M = static_cast<remove_cvref_t<decltype(n.*M)>>(*v);
    }
}
template <auto M, uint64_t Lo, uint64_t Hi>
void engine_uint(setter_ctx& c, node_conf& n) {
    if (auto v = c.uint(Lo, Hi)) {
        n.engine.*M = static_cast<remove_cvref_t<decltype(n.engine.*M)>>(*v);
    }
}
template <auto M, uint64_t Lo, uint64_t Hi>
void global_uint(setter_ctx& c, global_conf& g) {
    if (auto v = c.uint(Lo, Hi)) {
        g.*M = static_cast<remove_cvref_t<decltype(g.*M)>>(*v);
    }
}
template <auto M, bool Positive>
void node_number(setter_ctx& c, node_conf& n) {
    if (auto v = c.number(Positive)) {
        n.*M = *v;
    }
}
template <auto M, bool Positive>
void global_number(setter_ctx& c, global_conf& g) {
    if (auto v = c.number(Positive)) {
        g.*M = *v;
    }
}
template <auto M>
void node_bool(setter_ctx& c, node_conf& n) {
    if (auto v = c.boolean()) {
        n.*M = *v;
    }
}
template <auto M>
void engine_bool(setter_ctx& c, node_conf& n) {
    if (auto v = c.boolean()) {
        n.engine.*M = *v;
    }
}
template <auto M>
void global_bool(setter_ctx& c, global_conf& g) {
    if (auto v = c.boolean()) {
        g.*M = *v;
    }
}
template <auto M>
void node_string(setter_ctx& c, node_conf& n) {
    n.*M = std::string(c.value);
}
template <auto M>
void global_string(setter_ctx& c, global_conf& g) {
    g.*M = std::string(c.value);
}
template <auto M>
void global_path(setter_ctx& c, global_conf& g) {
    if (auto v = c.path()) {
        g.*M = std::move(*v);
    }
}
template <uint8_t Bit>
void node_protocol(setter_ctx& c, node_conf& n) {
    if (auto v = c.boolean()) {
        n.protocols = *v ? static_cast<uint8_t>(n.protocols | Bit) : static_cast<uint8_t>(n.protocols & ~Bit);
    }
}

void set_descriptors(setter_ctx& c, unsigned& field) {
    auto v = parse_u64(c.value);
    if (!v || *v < limits::min_descriptors || *v > limits::max_descriptors || (*v & (*v - 1)) != 0) {
        c.bad_value("a power of two in " + std::to_string(limits::min_descriptors) + ".." +
                    std::to_string(limits::max_descriptors));
        return;
    }
    field = static_cast<unsigned>(*v);
}

/// Splits a rest-of-line value on whitespace.
std::vector<std::string_view> words(std::string_view s) {
    std::vector<std::string_view> r;
    size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && is_space(s[i])) {
            ++i;
        }
        size_t b = i;
        while (i < s.size() && !is_space(s[i])) {
            ++i;
        }
        if (i > b) {
            r.push_back(s.substr(b, i - b));
        }
    }
    return r;
}

bool arity(setter_ctx& c, const std::vector<std::string_view>& w, size_t n, std::string_view syntax) {
    if (w.size() != n) {
        c.error(std::string(w.size() < n ? "missing arguments" : "too many arguments") + ": expected '" +
                std::string(c.key) + " " + std::string(syntax) + "', got " + quote(c.value));
        return false;
    }
    return true;
}

bool name_ok(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '_' || ch == '-' || ch == '.';
    });
}

void set_port(setter_ctx& c, node_conf& n) {
    auto w = words(c.value);
    if (w.size() < 3) {
        c.error("missing arguments: expected 'port NAME wan|overlay|bridge|route DEVARGS', got " + quote(c.value));
        return;
    }
    if (!name_ok(w[0])) {
        c.error("bad port name " + quote(w[0]) + ": use letters, digits, '_', '-' and '.'");
        return;
    }
    port_conf p;
    p.name = std::string(w[0]);
    if (w[1] == "wan") {
        p.role = port_role::wan;
    } else if (w[1] == "overlay") {
        p.role = port_role::overlay;
    } else if (w[1] == "bridge") {
        p.role = port_role::overlay;
        p.mode = overlay_mode::bridge;
    } else if (w[1] == "route") {
        p.role = port_role::overlay;
        p.mode = overlay_mode::route;
    } else {
        c.error_raw("port " + p.name + ": bad role " + quote(w[1]) + ": expected wan, overlay, bridge or route");
        return;
    }
    // DEVARGS: everything after ROLE, verbatim (it may contain '=' and ','); validated later.
    size_t off = static_cast<size_t>(w[1].data() + w[1].size() - c.value.data());
    p.devargs = std::string(trim(c.value.substr(off)));
    p.where = c.where;
    n.engine.ports.push_back(std::move(p));
}

/// ADDR/PREFIX; the prefix defaults to the host prefix (/32, /128).
bool parse_prefix(setter_ctx& c, std::string_view s, ip_address& addr, uint8_t& prefix) {
    std::string_view a = s;
    std::optional<uint64_t> len;
    if (size_t slash = s.find('/'); slash != std::string_view::npos) {
        a = s.substr(0, slash);
        len = parse_u64(s.substr(slash + 1));
        if (!len) {
            c.error("bad prefix length in " + quote(s));
            return false;
        }
    }
    auto ip = ip_address::parse(a);
    if (!ip) {
        c.error("bad address " + quote(a) + ": expected an IPv4 or IPv6 address");
        return false;
    }
    unsigned max = ip->v6 ? 128 : 32;
    if (len && *len > max) {
        c.error("prefix length " + std::to_string(*len) + " of " + quote(s) + " is larger than " +
                std::to_string(max));
        return false;
    }
    addr = *ip;
    prefix = static_cast<uint8_t>(len ? *len : max);
    return true;
}

void set_wan_address(setter_ctx& c, node_conf& n) {
    auto w = words(c.value);
    if (!arity(c, w, 2, "PORT ADDR/PREFIX")) {
        return;
    }
    wan_address wa;
    wa.port = std::string(w[0]);
    wa.where = c.where;
    if (parse_prefix(c, w[1], wa.addr, wa.prefix)) {
        n.engine.wan_addresses.push_back(std::move(wa));
    }
}

void set_lan_address(setter_ctx& c, node_conf& n) {
    auto w = words(c.value);
    if (!arity(c, w, 2, "PORT ADDR/PREFIX")) {
        return;
    }
    wan_address la;
    la.port = std::string(w[0]);
    la.where = c.where;
    if (parse_prefix(c, w[1], la.addr, la.prefix)) {
        n.engine.lan_addresses.push_back(std::move(la));
    }
}

/// `route = PREFIX`: host bits and duplicates are checked over all nodes (config_validate.cc).
void set_route(setter_ctx& c, node_conf& n) {
    route_conf r;
    r.where = c.where;
    if (parse_prefix(c, c.value, r.addr, r.prefix)) {
        n.routes.push_back(r);
    }
}

void set_bridge_mac(setter_ctx& c, node_conf& n) {
    auto mac = parse_mac(c.value);
    if (!mac) {
        c.bad_value("a MAC address xx:xx:xx:xx:xx:xx");
        return;
    }
    n.bridge_macs.push_back({*mac, c.where});
}

void set_wan_gateway(setter_ctx& c, node_conf& n) {
    auto w = words(c.value);
    if (!arity(c, w, 2, "PORT ADDR")) {
        return;
    }
    auto ip = ip_address::parse(w[1]);
    if (!ip) {
        c.error("bad address " + quote(w[1]) + ": expected an IPv4 or IPv6 address");
        return;
    }
    n.engine.wan_gateways.push_back({std::string(w[0]), *ip, c.where});
}

/// `exception = PORT IFNAME|off`: checked against the ports in config_validate.cc.
void set_exception(setter_ctx& c, node_conf& n) {
    auto w = words(c.value);
    if (!arity(c, w, 2, "PORT IFNAME|off")) {
        return;
    }
    exception_conf x;
    x.port = std::string(w[0]);
    x.where = c.where;
    if (w[1] != "off") {
        // A kernel interface name: at most IFNAMSIZ - 1 bytes, no '/', ':' or blanks.
        // "." and ".." are no interface names (the kernel refuses them; in /proc/sys paths they
        // would be directories)
        if (w[1].size() > 15 || !name_ok(w[1]) || w[1] == "." || w[1] == "..") {
            c.error("bad interface name " + quote(w[1]) +
                    ": at most 15 letters, digits, '_', '-' and '.' (or 'off')");
            return;
        }
        x.ifname = std::string(w[1]);
    }
    n.engine.exceptions.push_back(std::move(x));
}

void set_neighbour(setter_ctx& c, node_conf& n) {
    auto w = words(c.value);
    if (!arity(c, w, 3, "PORT ADDR MAC")) {
        return;
    }
    auto ip = ip_address::parse(w[1]);
    if (!ip) {
        c.error("bad address " + quote(w[1]) + ": expected an IPv4 or IPv6 address");
        return;
    }
    auto mac = parse_mac(w[2]);
    if (!mac) {
        c.error("bad MAC address " + quote(w[2]) + ": expected xx:xx:xx:xx:xx:xx");
        return;
    }
    n.engine.neighbours.push_back({std::string(w[0]), *ip, *mac, c.where});
}

void set_queue_map(setter_ctx& c, node_conf& n) {
    auto w = words(c.value);
    if (!arity(c, w, 3, "PORT QUEUE LCORE")) {
        return;
    }
    auto q = parse_u64(w[1]);
    if (!q || *q >= limits::max_queues_per_port) {
        c.error("bad queue " + quote(w[1]) + ": expected an integer in 0.." +
                std::to_string(limits::max_queues_per_port - 1));
        return;
    }
    auto l = parse_u64(w[2]);
    if (!l || *l >= limits::max_lcores) {
        c.error("bad lcore " + quote(w[2]) + ": expected an integer in 0.." + std::to_string(limits::max_lcores - 1));
        return;
    }
    n.engine.queue_map.push_back(
        {std::string(w[0]), static_cast<unsigned>(*q), static_cast<unsigned>(*l), c.where});
}

/// `1,2-3`: comma-separated lcores and inclusive ranges. Duplicates are left to validation.
void set_worker_lcores(setter_ctx& c, node_conf& n) {
    std::vector<unsigned> r;
    std::string_view s = c.value;
    std::string expected = "a list of lcores and ranges like 1,2-3 (each < " + std::to_string(limits::max_lcores) + ")";
    while (true) {
        size_t comma = s.find(',');
        std::string_view item = s.substr(0, comma);
        size_t dash = item.find('-');
        auto lo = parse_u64(item.substr(0, dash));
        auto hi = dash == std::string_view::npos ? lo : parse_u64(item.substr(dash + 1));
        if (!lo || !hi || *lo > *hi || *hi >= limits::max_lcores) {
            c.bad_value(expected);
            return;
        }
        for (uint64_t i = *lo; i <= *hi; ++i) {
            r.push_back(static_cast<unsigned>(i));
        }
        if (comma == std::string_view::npos) {
            break;
        }
        s.remove_prefix(comma + 1);
    }
    n.engine.worker_lcores = std::move(r);
    n.engine.worker_lcores_where = c.where;
}

void set_cipher(setter_ctx& c, global_conf& g) {
    static constexpr std::string_view ciphers[] = {"aes128-gcm", "aes256-gcm", "chacha20-poly1305", "null"};
    std::string v = lower(c.value);
    if (std::find(std::begin(ciphers), std::end(ciphers), v) == std::end(ciphers)) {
        c.bad_value("aes128-gcm, aes256-gcm, chacha20-poly1305 or null");
        return;
    }
    g.cipher = v;
}

constexpr auto G = directive_scope::global;
constexpr auto N = directive_scope::node;
constexpr auto S = directive_scope::structural;
constexpr auto OK = directive_support::supported;
constexpr auto IGN = directive_support::ignored;
constexpr auto TOK = value_kind::token;
constexpr auto REST = value_kind::rest_of_line;

// Notes shared by several ignored directives.
constexpr std::string_view no_dns = "dvpe's dns transport does not use it (docs/dns.md)";
constexpr std::string_view no_privdrop = "dvped keeps its privileges (DPDK needs them)";
constexpr std::string_view no_seed = "dvpe takes randomness from getrandom(2) via libsodium";

const std::vector<directive_entry>& table() {
    static const std::vector<directive_entry> t = {
        // Structural (gvpe.md §1.1); handled by the parser itself.
        {"node", S, OK, {}, TOK, nullptr, nullptr},
        {"global", S, OK, {}, TOK, nullptr, nullptr},
        {"on", S, OK, {}, REST, nullptr, nullptr},
        {"include", S, OK, {}, TOK, nullptr, nullptr},

        // GVPE globals (gvpe.md §1.2).
        {"loglevel", G, OK, {}, TOK, nullptr,
         [](setter_ctx& c, global_conf& g) {
             if (auto l = parse_log_level(c.value)) {
                 g.loglevel = *l;
                 g.loglevel_set = true;
             } else {
                 c.bad_value("noise, trace, debug, info, notice, warn, error or critical");
             }
         }},
        {"mtu", G, OK, {}, TOK, nullptr, global_uint<&global_conf::mtu, limits::min_mtu, limits::max_mtu>},
        {"ifname", G, OK, {}, TOK, nullptr,
         [](setter_ctx& c, global_conf& g) {
             if (c.value.size() >= 16) {  // IFNAMSIZ
                 c.bad_value("an interface name of at most 15 characters");
                 return;
             }
             g.ifname = std::string(c.value);
         }},
        {"ifpersist", G, IGN,
         "the overlay TAP interface (dvpe_tap or net_tap) exists while dvped runs and goes away with it",
         TOK, nullptr, global_bool<&global_conf::ifpersist>},
        {"ip-proto", G, OK, {}, TOK, nullptr, global_uint<&global_conf::ip_proto, 0, 255>},
        {"icmp-type", G, OK, {}, TOK, nullptr, global_uint<&global_conf::icmp_type, 0, 255>},
        {"keepalive", G, OK, {}, TOK, nullptr, global_number<&global_conf::keepalive, true>},
        {"rekey", G, OK, {}, TOK, nullptr, global_number<&global_conf::rekey, true>},
        {"nfmark", G, IGN, "dvpe sends through DPDK ports, not kernel sockets", TOK, nullptr,
         global_uint<&global_conf::nfmark, 0, 0xffffffffULL>},
        {"if-up", G, OK, {}, TOK, nullptr, global_path<&global_conf::if_up>},
        {"node-up", G, OK, {}, TOK, nullptr, global_path<&global_conf::node_up>},
        {"node-down", G, OK, {}, TOK, nullptr, global_path<&global_conf::node_down>},
        {"node-change", G, OK, {}, TOK, nullptr, global_path<&global_conf::node_change>},
        {"pid-file", G, OK, {}, TOK, nullptr, global_path<&global_conf::pid_file>},
        {"private-key", G, OK, {}, TOK, nullptr, global_path<&global_conf::private_key>},
        {"seed-device", G, IGN, no_seed, TOK, nullptr, global_string<&global_conf::seed_device>},
        {"seed-interval", G, IGN, no_seed, TOK, nullptr, global_number<&global_conf::seed_interval, false>},
        {"serial", G, OK, {}, TOK, nullptr,
         [](setter_ctx& c, global_conf& g) {
             if (c.value.size() > limits::max_serial_len) {
                 c.bad_value("at most " + std::to_string(limits::max_serial_len) + " bytes");
                 return;
             }
             g.serial = std::string(c.value);
         }},
        {"chroot", G, IGN, no_privdrop, TOK, nullptr, global_string<&global_conf::chroot>},
        {"chuid", G, IGN, no_privdrop, TOK, nullptr, global_string<&global_conf::chuid>},
        {"chgid", G, IGN, no_privdrop, TOK, nullptr, global_string<&global_conf::chgid>},
        {"chuser", G, IGN, no_privdrop, TOK, nullptr, global_string<&global_conf::chuser>},
        {"http-proxy-host", G, OK, {}, TOK, nullptr, global_string<&global_conf::http_proxy_host>},
        {"http-proxy-port", G, OK, {}, TOK, nullptr, global_uint<&global_conf::http_proxy_port, 0, 65535>},
        {"http-proxy-auth", G, OK, {}, TOK, nullptr, global_string<&global_conf::http_proxy_auth>},
        {"dns-forw-host", G, OK, {}, TOK, nullptr, global_string<&global_conf::dns_forw_host>},
        {"dns-forw-port", G, OK, {}, TOK, nullptr, global_uint<&global_conf::dns_forw_port, 0, 65535>},
        {"dns-case-preserving", G, IGN, no_dns, TOK, nullptr, global_bool<&global_conf::dns_case_preserving>},
        {"dns-max-outstanding", G, OK, {}, TOK, nullptr,
         global_uint<&global_conf::dns_max_outstanding, 1, 1000000>},
        {"dns-overlap-factor", G, IGN, no_dns, TOK, nullptr, global_number<&global_conf::dns_overlap_factor, false>},
        {"dns-send-interval", G, OK, {}, TOK, nullptr, global_number<&global_conf::dns_send_interval, false>},
        {"dns-timeout-factor", G, OK, {}, TOK, nullptr, global_number<&global_conf::dns_timeout_factor, false>},

        // GVPE node-specific settings (gvpe.md §1.3).
        {"hostname", N, OK, {}, TOK,
         [](setter_ctx& c, node_conf& n) {
             n.hostname = std::string(c.value);
             n.hostname_where = c.where;
         },
         nullptr},
        {"udp-port", N, OK, {}, TOK, node_uint<&node_conf::udp_port, 0, 65535>, nullptr},
        {"tcp-port", N, OK, {}, TOK, node_uint<&node_conf::tcp_port, 0, 65535>, nullptr},
        {"dns-hostname", N, IGN, no_dns, TOK, node_string<&node_conf::dns_hostname>, nullptr},
        {"dns-port", N, OK, {}, TOK, node_uint<&node_conf::dns_port, 0, 65535>, nullptr},
        {"dns-domain", N, OK, {}, TOK, node_string<&node_conf::dns_domain>, nullptr},
        {"enable-udp", N, OK, {}, TOK, node_protocol<proto_udp>, nullptr},
        {"enable-rawip", N, OK, {}, TOK, node_protocol<proto_rawip>, nullptr},
        {"enable-icmp", N, OK, {}, TOK, node_protocol<proto_icmp>, nullptr},
        {"enable-tcp", N, OK, {}, TOK, node_protocol<proto_tcp>, nullptr},
        {"enable-dns", N, OK, {}, TOK, node_protocol<proto_dns>, nullptr},
        {"connect", N, OK, {}, TOK,
         [](setter_ctx& c, node_conf& n) {
             static constexpr connect_mode modes[] = {connect_mode::always, connect_mode::ondemand,
                                                      connect_mode::never, connect_mode::disabled};
             for (connect_mode m : modes) {
                 if (c.value == to_string(m)) {
                     n.connect = m;
                     return;
                 }
             }
             c.bad_value("always, ondemand, never or disabled");
         },
         nullptr},
        {"router-priority", N, OK, {}, TOK, node_uint<&node_conf::router_priority, 0, 0xffffffffULL>, nullptr},
        {"allow-direct", N, OK, {}, TOK,
         [](setter_ctx& c, node_conf& n) {
             n.allow_direct.emplace_back(c.value);
             n.allow_direct_where.push_back(c.where);
         },
         nullptr},
        {"deny-direct", N, OK, {}, TOK,
         [](setter_ctx& c, node_conf& n) {
             n.deny_direct.emplace_back(c.value);
             n.deny_direct_where.push_back(c.where);
         },
         nullptr},
        {"compress", N, IGN, "dvpe does not compress; GVPE 3.1 ignores it too", TOK,
         node_bool<&node_conf::compress>, nullptr},
        {"inherit-tos", N, OK, {}, TOK, node_bool<&node_conf::inherit_tos>, nullptr},
        {"max-retry", N, OK, {}, TOK, node_number<&node_conf::max_retry, false>, nullptr},
        {"max-ttl", N, OK, {}, TOK, node_number<&node_conf::max_ttl, false>, nullptr},
        {"max-queue", N, OK, {}, TOK,
         [](setter_ctx& c, node_conf& n) {
             // GVPE raises values below 1 to 1; a negative integer is accepted for that reason.
             std::string_view v = c.value;
             bool neg = !v.empty() && v.front() == '-';
             auto q = parse_u64(neg ? v.substr(1) : v);
             if (!q || *q > 1000000) {
                 c.bad_value("an integer <= 1000000");
                 return;
             }
             n.max_queue = neg || *q < 1 ? 1 : static_cast<unsigned>(*q);
         },
         nullptr},
        {"low-power", N, OK, {}, TOK, node_bool<&node_conf::low_power>, nullptr},
        {"if-up-data", N, OK, {}, TOK, node_string<&node_conf::if_up_data>, nullptr},

        // dvpe globals.
        {"cipher", G, OK, {}, TOK, nullptr, set_cipher},
        {"crypto-backend", G, OK, {}, TOK, nullptr, global_string<&global_conf::crypto_backend>},
        {"control-socket", G, OK, {}, TOK, nullptr, global_path<&global_conf::control_socket>},
        {"control-socket-group", G, OK, {}, TOK, nullptr,
         [](setter_ctx& c, global_conf& g) {
             // A group name or number (resolved at start: the host's, not the config's business).
             if (!std::all_of(c.value.begin(), c.value.end(), [](char ch) {
                     return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '_' || ch == '-' || ch == '.';
                 }) || c.value.size() > 32) {
                 c.bad_value("a group name or number");
                 return;
             }
             g.control_socket_group = std::string(c.value);
         }},

        // dvpe node-specific settings: the node id and the engine layout.
        {"node-id", N, OK, {}, TOK,
         [](setter_ctx& c, node_conf& n) {
             if (auto v = c.uint(1, limits::max_node_id)) {
                 n.id = static_cast<unsigned>(*v);
                 n.explicit_id = true;
                 n.id_where = c.where;
             }
         },
         nullptr},
        {"control-lcore", N, OK, {}, TOK,
         [](setter_ctx& c, node_conf& n) {
             if (auto v = c.uint(0, limits::max_lcores - 1)) {
                 n.engine.control_lcore = static_cast<unsigned>(*v);
                 n.engine.control_lcore_where = c.where;
             }
         },
         nullptr},
        {"worker-lcores", N, OK, {}, TOK, set_worker_lcores, nullptr},
        {"port", N, OK, {}, REST, set_port, nullptr},
        {"wan-address", N, OK, {}, REST, set_wan_address, nullptr},
        {"lan-address", N, OK, {}, REST, set_lan_address, nullptr},
        {"wan-gateway", N, OK, {}, REST, set_wan_gateway, nullptr},
        {"exception", N, OK, {}, REST, set_exception, nullptr},
        {"exception-rate", N, OK, {}, TOK,
         engine_uint<&engine_layout::exception_rate, 1, limits::max_exception_rate>, nullptr},
        {"neighbour", N, OK, {}, REST, set_neighbour, nullptr},
        {"neighbor", N, OK, {}, REST, set_neighbour, nullptr},
        {"queue-map", N, OK, {}, REST, set_queue_map, nullptr},
        {"burst-size", N, OK, {}, TOK, engine_uint<&engine_layout::burst_size, 1, limits::max_burst>, nullptr},
        {"rx-descriptors", N, OK, {}, TOK,
         [](setter_ctx& c, node_conf& n) { set_descriptors(c, n.engine.rx_descriptors); }, nullptr},
        {"tx-descriptors", N, OK, {}, TOK,
         [](setter_ctx& c, node_conf& n) { set_descriptors(c, n.engine.tx_descriptors); }, nullptr},
        {"mbufs", N, OK, {}, TOK,
         [](setter_ctx& c, node_conf& n) {
             if (auto v = c.uint(0, 0xffffffffULL)) {
                 n.engine.mbufs = static_cast<unsigned>(*v);
                 n.engine.mbufs_where = c.where;
             }
         },
         nullptr},
        {"mbuf-cache", N, OK, {}, TOK, engine_uint<&engine_layout::mbuf_cache, 0, limits::max_mbuf_cache>, nullptr},
        {"hugepages", N, OK, {}, TOK,
         [](setter_ctx& c, node_conf& n) {
             engine_bool<&engine_layout::hugepages>(c, n);
             n.engine.hugepages_set = true;
         },
         nullptr},
        {"memory-mb", N, OK, {}, TOK, engine_uint<&engine_layout::memory_mb, 0, 1048576>, nullptr},
        {"capture", N, OK, {}, TOK,
         [](setter_ctx& c, node_conf& n) {
             engine_bool<&engine_layout::capture>(c, n);
             n.engine.capture_where = c.where;
         },
         nullptr},
        {"tx-drain-us", N, OK, {}, TOK, engine_uint<&engine_layout::tx_drain_us, 0, limits::max_us_setting>,
         nullptr},
        {"idle-sleep-us", N, OK, {}, TOK, engine_uint<&engine_layout::idle_sleep_us, 0, limits::max_us_setting>,
         nullptr},
        {"idle-polls", N, OK, {}, TOK, engine_uint<&engine_layout::idle_polls, 0, 0xffffffffULL>, nullptr},
        {"idle-wait", N, OK, {}, TOK,
         [](setter_ctx& c, node_conf& n) {
             if (c.value == "sleep" || c.value == "interrupt") {
                 n.engine.idle_interrupt = c.value == "interrupt";
             } else {
                 c.bad_value("sleep or interrupt");
             }
         },
         nullptr},
        {"wan-fragment", N, OK, {}, TOK, engine_bool<&engine_layout::wan_fragment>, nullptr},
        {"eal-args", N, OK, {}, REST,
         [](setter_ctx& c, node_conf& n) {
             if (!n.engine.eal_args.empty()) {
                 n.engine.eal_args += ' ';
             }
             n.engine.eal_args += c.value;
         },
         nullptr},

        // dvpe site gateways (docs/site-gateways.md): prefixes and MACs behind every node, and
        // the local node's MAC table.
        {"route", N, OK, {}, TOK, set_route, nullptr},
        {"bridge-mac", N, OK, {}, TOK, set_bridge_mac, nullptr},
        {"mac-table-size", N, OK, {}, TOK,
         engine_uint<&engine_layout::mac_table_size, limits::min_mac_table_size, limits::max_mac_table_size>,
         nullptr},
        {"mac-limit-per-peer", N, OK, {}, TOK,
         [](setter_ctx& c, node_conf& n) {
             if (auto v = c.uint(1, limits::max_mac_limit_per_peer)) {
                 n.engine.mac_limit_per_peer = static_cast<unsigned>(*v);
                 n.engine.mac_limit_per_peer_where = c.where;
             }
         },
         nullptr},
        {"mac-age", N, OK, {}, TOK, engine_uint<&engine_layout::mac_age_s, limits::min_mac_age_s, limits::max_mac_age_s>,
         nullptr},
    };
    return t;
}

const directive_entry* find_directive(std::string_view name) {
    for (const directive_entry& d : table()) {
        if (d.name == name) {
            return &d;
        }
    }
    return nullptr;
}

// ---------------------------------------------------------------------------------------------
// The parser
// ---------------------------------------------------------------------------------------------

/// Walks a line the way GVPE's strtok("\t =") does, and hands out the rest of the line.
class line_lexer {
public:
    explicit line_lexer(std::string_view s) : _s(s) {}
    std::string_view next() {
        skip_seps();
        size_t b = _pos;
        while (_pos < _s.size() && !is_sep(_s[_pos])) {
            ++_pos;
        }
        return _s.substr(b, _pos - b);
    }
    /// The rest after the separators, with a trailing `# comment` removed.
    std::string_view rest() {
        skip_seps();
        std::string_view r = _s.substr(_pos);
        _pos = _s.size();
        for (size_t i = 0; i < r.size(); ++i) {
            if (r[i] == '#' && (i == 0 || is_space(r[i - 1]))) {
                r = r.substr(0, i);
                break;
            }
        }
        return trim(r);
    }
    /// The rest after the separators, verbatim (for `on NODE DIRECTIVE...`).
    std::string_view raw_rest() {
        skip_seps();
        std::string_view r = _s.substr(_pos);
        _pos = _s.size();
        return r;
    }

private:
    void skip_seps() {
        while (_pos < _s.size() && is_sep(_s[_pos])) {
            ++_pos;
        }
    }
    std::string_view _s;
    size_t _pos = 0;
};

struct on_reference {
    std::string name;
    location where;
};

class parser {
public:
    parser(config& cfg, const load_options& opt) : _cfg(cfg), _opt(opt) {
        _defaults.engine.worker_lcores = {1};  // documented default: one worker on lcore 1
    }

    void parse_main(std::string_view text, const std::string& file) {
        std::error_code ec;
        auto canon = std::filesystem::weakly_canonical(join_path(_opt.confdir, file), ec);
        _include_stack.push_back(ec ? file : canon.string());
        parse_text(text, file);
        _include_stack.pop_back();
    }

    void parse_overrides() {
        _in_override = true;
        for (size_t i = 0; i < _opt.overrides.size(); ++i) {
            const std::string& ov = _opt.overrides[i];
            location where{"<cmdline>", static_cast<int>(i + 1)};
            if (trim(ov).empty()) {
                continue;
            }
            // As GVPE's parse_argv: a '.' before the first separator makes a node prefix.
            size_t e = 0;
            while (e < ov.size() && ov[e] != '.' && static_cast<unsigned char>(ov[e]) > ' ' && ov[e] != '=') {
                ++e;
            }
            if (e < ov.size() && ov[e] == '.') {
                std::string name = ov.substr(0, e);
                auto it = _index.find(name);
                if (it == _index.end()) {
                    _errors.push_back({where, "override " + quote(ov) + ": unknown node " + quote(name)});
                    continue;
                }
                _section = static_cast<int>(it->second);
                _broadcast = false;
                parse_line(std::string_view(ov).substr(e + 1), where);
            } else {
                _section = -1;
                _broadcast = true;
                parse_line(ov, where);
            }
        }
        _broadcast = false;
        _in_override = false;
    }

    /// After parse and overrides: GVPE's conf_node::finalise and the `on` name check.
    void finalise() {
        for (node_conf& n : _cfg.nodes) {
            if (n.router_priority >= 2 && n.connect != connect_mode::disabled) {
                n.connect = connect_mode::always;  // gvpe.md §1.4: candidate routers are always connected
            }
        }
        for (const on_reference& r : _on_refs) {
            if (_index.find(r.name) == _index.end()) {
                warn(r.where, "on: unknown node " + quote(r.name) + " - check the name");
            }
        }
    }

    std::vector<diagnostic>& errors() { return _errors; }

private:
    node_conf& section() { return _section < 0 ? _defaults : _cfg.nodes[static_cast<size_t>(_section)]; }

    void warn(const location& where, std::string msg) { _cfg.warnings.push_back({where, std::move(msg)}); }
    void error(const location& where, std::string msg) { _errors.push_back({where, std::move(msg)}); }

    void parse_text(std::string_view text, const std::string& file) {
        int line_no = 0;
        while (!text.empty()) {
            size_t nl = text.find('\n');
            std::string_view line = text.substr(0, nl);
            text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
            ++line_no;
            parse_line(line, location{file, line_no});
        }
    }

    void parse_line(std::string_view line, const location& where) {
        line_lexer lx(line);
        std::string_view key = lx.next();
        if (key.empty() || key.front() == '#') {
            return;
        }
        if (key == "on") {
            parse_on(lx, where);
            return;
        }
        if (key == "global") {
            if (_in_override) {
                error(where, "global: not allowed in a command-line override");
                return;
            }
            _section = -1;
            return;
        }
        const directive_entry* d = find_directive(key);
        if (d == nullptr) {
            warn(where, "unknown configuration directive " + quote(key) + " - ignored");
            return;
        }
        std::string_view value;
        if (d->kind == value_kind::rest_of_line) {
            value = lx.rest();
        } else {
            value = lx.next();
            if (!value.empty() && value.front() == '#') {
                value = {};
            }
            if (std::string_view extra = lx.rest(); !value.empty() && !extra.empty()) {
                warn(where, std::string(key) + ": extra text " + quote(extra) + " after the value - ignored");
            }
        }
        if (value.empty()) {
            error(where, std::string(key) + ": missing value");
            return;
        }
        if (d->support == directive_support::ignored && _warned.insert(std::string(key)).second) {
            warn(where, std::string(key) + ": not supported by dvpe (" + std::string(d->note) + ") - ignored");
        }
        if (key == "node") {
            parse_node(value, where);
        } else if (key == "include") {
            parse_include(value, where);
        } else if (d->scope == directive_scope::global) {
            setter_ctx c{_errors, where, key, value};
            d->on_global(c, _cfg.global);
        } else {
            apply_node_setting(*d, value, where);
        }
    }

    void apply_node_setting(const directive_entry& d, std::string_view value, const location& where) {
        if (_section < 0) {
            if (d.name == "hostname") {
                error(where, "hostname: not allowed as a default (outside a node section)");
                return;
            }
            if (d.name == "node-id") {
                error(where, "node-id: only allowed inside a node section");
                return;
            }
        }
        setter_ctx c{_errors, where, d.name, value};
        if (!_broadcast) {
            d.on_node(c, section());
            return;
        }
        // An unprefixed command-line override of a node-specific setting: the defaults and every
        // node get it (docs/config.md "Command-line overrides").
        d.on_node(c, _defaults);
        for (node_conf& n : _cfg.nodes) {
            if (c.failed) {
                break;
            }
            d.on_node(c, n);
        }
    }

    void parse_on(line_lexer& lx, const location& where) {
        std::string_view name = lx.next();
        std::string_view rest = trim(lx.raw_rest());
        if (name.empty() || name == "!" || rest.empty() || rest.front() == '#') {
            error(where, "on: expected 'on NODE DIRECTIVE...' or 'on !NODE DIRECTIVE...'");
            return;
        }
        bool negate = name.front() == '!';
        std::string_view target = negate ? name.substr(1) : name;
        _on_refs.push_back({std::string(target), where});
        // With no local node (tools), `on NODE` never applies and `on !NODE` always does.
        const std::string& self = _opt.nodename;
        bool applies = self.empty() ? negate : (negate ? target != self : target == self);
        if (applies) {
            parse_line(rest, where);
        }
    }

    void parse_node(std::string_view name, const location& where) {
        if (_in_override) {
            error(where, "node: not allowed in a command-line override (use NODE.DIRECTIVE=VALUE)");
            return;
        }
        if (!name_ok(name) || name.front() == '!' || name.front() == '.') {
            error(where, "node: bad node name " + quote(name) + ": use letters, digits, '_', '-' and '.'");
            return;
        }
        std::string n(name);
        if (auto it = _index.find(n); it != _index.end()) {
            _section = static_cast<int>(it->second);  // repeated `node X` merges into X
            return;
        }
        if (_cfg.nodes.size() == limits::max_node_id) {
            error(where, "node: too many nodes (at most " + std::to_string(limits::max_node_id) + ")");
        }
        node_conf nc = _defaults;  // a node section copies the current defaults
        nc.name = n;
        nc.where = where;
        nc.id = static_cast<unsigned>(_cfg.nodes.size() + 1);
        nc.explicit_id = false;
        nc.id_where = {};
        _index.emplace(n, _cfg.nodes.size());
        _cfg.nodes.push_back(std::move(nc));
        _section = static_cast<int>(_cfg.nodes.size() - 1);
    }

    void parse_include(std::string_view fmt, const location& where) {
        std::string what = "include " + quote(fmt) + ": ";
        if (!path_format_ok(fmt)) {
            error(where, what + "bad path: only %s (the node name) and %% may follow a '%'");
            return;
        }
        if (_opt.nodename.empty() && fmt.find("%s") != std::string_view::npos) {
            warn(where, what + "needs the local node name (%s) - skipped");
            return;
        }
        std::string path = join_path(_opt.confdir, format_path(fmt, _opt.nodename));
        if (!_opt.read_includes) {
            error(where, what + "not read (this load reads no files)");
            return;
        }
        if (_include_stack.size() > limits::max_include_depth) {
            error(where, what + "includes nested too deeply (at most " + std::to_string(limits::max_include_depth) +
                             " levels)");
            return;
        }
        std::error_code ec;
        auto canon = std::filesystem::weakly_canonical(path, ec);
        std::string key = ec ? path : canon.string();
        if (std::find(_include_stack.begin(), _include_stack.end(), key) != _include_stack.end()) {
            error(where, what + "recursive include of " + quote(path));
            return;
        }
        if (++_includes > limits::max_includes) {
            if (_includes == limits::max_includes + 1) {  // once: every later include is refused too
                error(where, what + "too many includes (at most " + std::to_string(limits::max_includes) +
                                 " in one configuration)");
            }
            return;
        }
        std::string text;
        if (auto err = read_config_file(path, text, _budget)) {
            error(where, what + "cannot read " + quote(path) + ": " + *err);
            return;
        }
        _include_stack.push_back(key);
        parse_text(text, path);
        _include_stack.pop_back();
    }

    config& _cfg;
    const load_options& _opt;
    node_conf _defaults;
    int _section = -1;          // -1: the defaults ("global") section, else an index into _cfg.nodes
    bool _broadcast = false;    // an unprefixed override: node settings go to every node
    bool _in_override = false;
    std::map<std::string, size_t> _index;  // node name -> index
    std::vector<diagnostic> _errors;
    std::set<std::string> _warned;         // ignored directives already warned about
    std::vector<std::string> _include_stack;
    std::vector<on_reference> _on_refs;
    unsigned _includes = 0;                              // include directives followed so far
    size_t _budget = limits::max_config_total_bytes;     // bytes all included files may still have
};

void dedupe(std::vector<diagnostic>& v) {
    std::set<std::string> seen;
    std::vector<diagnostic> out;
    for (diagnostic& d : v) {
        if (seen.insert(d.str()).second) {
            out.push_back(std::move(d));
        }
    }
    v = std::move(out);
}

result<config, std::vector<diagnostic>> load(std::string_view text, const std::string& file,
                                             const load_options& opt) {
    config cfg;
    cfg.confdir = opt.confdir;
    cfg.file = file;
    cfg.nodename = opt.nodename;
    parser p(cfg, opt);
    p.parse_main(text, file);
    p.parse_overrides();
    p.finalise();
    std::vector<diagnostic> errors = std::move(p.errors());
    std::vector<diagnostic> verrors = validate_config(cfg, opt);
    errors.insert(errors.end(), std::make_move_iterator(verrors.begin()), std::make_move_iterator(verrors.end()));
    dedupe(errors);
    dedupe(cfg.warnings);
    if (opt.warnings_out != nullptr) {
        *opt.warnings_out = cfg.warnings;
    }
    if (!errors.empty()) {
        return unexpected{std::move(errors)};
    }
    return cfg;
}

}  // namespace

std::vector<directive_info> directives() {
    std::vector<directive_info> r;
    for (const directive_entry& d : table()) {
        r.push_back({d.name, d.scope, d.support, d.note});
    }
    return r;
}

result<config, std::vector<diagnostic>> load_config_text(std::string_view text, std::string_view filename,
                                                         const load_options& opt) {
    return load(text, std::string(filename), opt);
}

result<config, std::vector<diagnostic>> load_config(const load_options& opt) {
    std::string primary = join_path(opt.confdir, "gvpe.conf");
    std::string fallback = join_path(opt.confdir, "dvpe.conf");
    std::error_code ec;
    std::string file = !std::filesystem::exists(primary, ec) && std::filesystem::exists(fallback, ec) ? fallback
                                                                                                      : primary;
    std::string text;
    size_t budget = limits::max_config_file_bytes;  // the main file alone; includes have their own
    if (auto err = read_config_file(file, text, budget)) {
        std::string msg = "cannot read the configuration: " + *err;
        if (file == primary && !std::filesystem::exists(primary, ec)) {
            msg += " (dvpe.conf not found either)";
        }
        std::vector<diagnostic> errors;
        errors.push_back(diagnostic{location{file, 0}, std::move(msg)});
        return unexpected{std::move(errors)};
    }
    return load(text, file, opt);
}

}  // namespace control
