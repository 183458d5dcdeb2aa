// SPDX-License-Identifier: MIT
// dvpectl: the command-line client of dvped's control socket and the key generator, in the role
// gvpectrl has for GVPE (docs/gvpe-migration.md, docs/control.md "dvpectl"). `status` and `config` print tables for people
// (control/ctl/ctl_format.hh) or JSON for machines; `keygen` makes X25519 key pairs in GVPE's file
// layout (control/config/keys.hh); `raw` sends any request. The socket path comes from -S, else from the
// configuration (`control-socket`, `%s` = node name), else /run/dvpe/NODENAME.sock.
// Exit codes: 0 success, 1 failure (no daemon, error reply, key refused), 2 bad usage.
// docs/control.md shows every command with example output.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <dirent.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/config/config.hh"
#include "control/ctl/control_socket.hh"
#include "control/config/node_table.hh"
#include "control/ctl/ctl_format.hh"
#include "control/config/keys.hh"

namespace {

using nlohmann::json;

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;
constexpr const char* default_confdir = "/etc/dvpe";
constexpr const char* default_socket_fmt = "/run/dvpe/%s.sock";

constexpr const char* usage_text = R"(usage: dvpectl [OPTIONS] [NODENAME] COMMAND [ARGS]

Talks to a running dvped through its control socket, and generates keys.

Options (before the command):
  -c, --config DIR     configuration directory (default /etc/dvpe); read to find the
                       control socket (control-socket, %s = NODENAME) and for keygen -G
  -S, --socket PATH    control socket to use (overrides the configuration)
  -t, --timeout MS     give up on a request after MS milliseconds (default 5000)
  -v, --version        print the version and exit
  -h, --help           this text

NODENAME selects the daemon: its socket is control-socket from the configuration, or
/run/dvpe/NODENAME.sock. It may be left out when -S is given or when /run/dvpe holds
exactly one socket.

Commands:
  status [--json] [--watch [SECONDS]] [--count N]
        node, uptime, ports (link, rx/tx packets and bytes, drops), workers (queues,
        packets, polls, empty polls, idle sleeps) and non-zero drops by reason.
        --json       the reply as JSON
        --watch [S]  refresh every S seconds (default 1), showing rates (pps, Mbit/s,
                     empty polls and busy time per worker, and per peer the busiest
                     first, as tinc top) from consecutive samples; Ctrl-C stops
        --count N    stop after N samples (with --watch)
  config [--json] [--offline]
        the node table as `gvpectrl -s` prints it: ID#, MAC, connect mode, node,
        protocols, host:port (udp-port), router priority; header with node count,
        this node, MTUs, rekey and keepalive intervals, interface and cipher.
        --offline (or when no daemon answers at NODENAME's socket): from the
        configuration file, as gvpectrl -s.
  peers [PEER] [--json]
        every peer (or PEER) as `wg show` prints it: state, endpoint (transport, address,
        port or ICMP role, relaying router, roamed address), latest handshake, transfer,
        key age, handshake counters and the last failure. Exit status 1 if PEER is not
        one of the daemon's peers.
  metrics [--prometheus] [--output FILE]
        OpenMetrics text for Prometheus: build info, uptime, per port / worker / peer
        counters, drops by reason (docs/control.md "metrics"). --prometheus: the
        Prometheus text format, which node_exporter's textfile collector reads;
        --output FILE: written to FILE.tmp then renamed over FILE (a collector never
        reads half a file).
  reload [--json]
        make the daemon re-read its configuration (as SIGHUP) and print what changed, or
        why it refused (nothing changes then; exit status 1). See docs/config.md.
  reconnect [NODE]
        new handshakes with NODE (default: every peer) now (docs/protocol.md "Roaming").
        For ip-up scripts after this node's address changed (GVPE: gvpectrl -kHUP;
        dvped's SIGHUP does this too, after a reload).
  kill [SIG]
        send SIG (HUP, TERM (default), KILL, USR1, USR2, INT, ALRM or a number) to NODENAME's
        dvped, found through its pid-file, as `gvpectrl -k`. Refuses a pid file whose
        process is not a dvped (a stale file must not kill another process).
  neighbours [--json]
        the underlay neighbour table (ARP, IPv6 neighbour discovery): port, address,
        MAC, state (incomplete, reachable, stale, permanent), age, requests sent.
  commands
        the commands the daemon's control socket accepts.
  raw JSON
        send one request, e.g. '{"cmd":"status"}', and print the reply as JSON.
  keygen -g FILE
        generate one X25519 key pair: public key in FILE, private key in FILE.privkey
        (mode 0600). Refuses to overwrite a non-empty file.
  keygen -G
        generate a pair for every node of the configuration that lacks pubkey/NODE:
        public key in CONFDIR/pubkey/NODE, private key at the node's private-key path.
        Needs private-key = hostkeys/%s unless only one node lacks a key.

Key files hold one line: the 32-byte key in base64, then a newline.
Exit status: 0 success, 1 failure (daemon not reachable, error reply, key refused),
2 bad usage. See docs/control.md.
)";

/// Bad command line: message, exit code 2.
struct usage_error {
    std::string message;
};

struct options {
    std::string confdir = default_confdir;
    bool confdir_given = false;
    std::string socket;
    std::string nodename;
    int timeout_ms = 5000;
    bool version = false;  // -v: print the version and exit
    std::string command;
    std::vector<std::string> args;
};

bool is_command(const std::string& s) {
    return s == "status" || s == "config" || s == "keygen" || s == "raw" || s == "commands" || s == "reload" ||
           s == "reconnect" || s == "peers" || s == "metrics" || s == "kill" || s == "neighbours" ||
           s == "neighbors";
}

unsigned long parse_number(const std::string& what, const std::string& s, unsigned long max) {
    char* end = nullptr;
    errno = 0;
    unsigned long v = std::strtoul(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno != 0 || v > max || s[0] == '-') {
        throw usage_error{what + " needs a number up to " + std::to_string(max) + ", not '" + s + "'"};
    }
    return v;
}

/// Splits "--opt=value"; returns the value of an option that takes one, from the next argument
/// if it was not attached.
std::string option_value(const std::vector<std::string>& argv, size_t& i, const std::string& name,
                         const std::optional<std::string>& attached) {
    if (attached) {
        return *attached;
    }
    if (i + 1 >= argv.size()) {
        throw usage_error{"option " + name + " needs a value"};
    }
    return argv[++i];
}

options parse_args(const std::vector<std::string>& argv, bool& help) {
    options o;
    size_t i = 0;
    for (; i < argv.size(); ++i) {
        std::string a = argv[i];
        if (a.empty() || a[0] != '-' || a == "-") {
            break;
        }
        if (a == "--") {
            ++i;
            break;
        }
        std::optional<std::string> attached;
        if (a.starts_with("--")) {
            if (auto eq = a.find('='); eq != std::string::npos) {
                attached = a.substr(eq + 1);
                a.resize(eq);
            }
        } else if (a.size() > 2) {
            attached = a.substr(2);  // -cDIR
            a.resize(2);
        }
        if (a == "-h" || a == "--help") {
            help = true;
            return o;
        }
        if (a == "-v" || a == "--version") {
            o.version = true;
            return o;
        }
        if (a == "-c" || a == "--config") {
            o.confdir = option_value(argv, i, a, attached);
            o.confdir_given = true;
        } else if (a == "-S" || a == "--socket") {
            o.socket = option_value(argv, i, a, attached);
        } else if (a == "-t" || a == "--timeout") {
            o.timeout_ms = int(parse_number(a, option_value(argv, i, a, attached), 3600 * 1000));
        } else {
            throw usage_error{"unknown option " + argv[i]};
        }
    }
    std::vector<std::string> rest(argv.begin() + long(i), argv.end());
    if (rest.empty()) {
        throw usage_error{"no command given"};
    }
    // [NODENAME] COMMAND: a first word that is a command is the command, unless the second word is
    // a command too (a node named like a command).
    if (is_command(rest[0]) && !(rest.size() > 1 && is_command(rest[1]))) {
        o.command = rest[0];
        o.args.assign(rest.begin() + 1, rest.end());
    } else {
        o.nodename = rest[0];
        if (rest.size() < 2) {
            throw usage_error{"no command given after node name '" + rest[0] + "'"};
        }
        if (!is_command(rest[1])) {
            throw usage_error{"unknown command '" + rest[1] + "'"};
        }
        o.command = rest[1];
        o.args.assign(rest.begin() + 2, rest.end());
    }
    return o;
}

void print_diagnostics(const std::vector<control::diagnostic>& d) {
    for (const auto& x : d) {
        std::fprintf(stderr, "%s\n", x.str().c_str());
    }
}

bool config_exists(const std::string& dir) {
    struct stat st {};
    return ::stat((dir + "/gvpe.conf").c_str(), &st) == 0 || ::stat((dir + "/dvpe.conf").c_str(), &st) == 0;
}

control::load_options load_opts(const options& o, const std::string& nodename) {
    control::load_options lo;
    lo.confdir = o.confdir;
    lo.nodename = nodename;
    lo.n_cpus = control::limits::max_lcores;  // dvpectl may run elsewhere than the node's machine
    lo.check_engine = false;  // a gvpe.conf without an engine layout is the host's to complete (dvped)
    return lo;
}

/// The only *.sock in \p dir, if there is exactly one.
std::optional<std::string> single_socket_in(const std::string& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        return std::nullopt;
    }
    std::vector<std::string> found;
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n.size() > 5 && n.ends_with(".sock")) {
            found.push_back(dir + "/" + n);
        }
    }
    ::closedir(d);
    if (found.size() != 1) {
        return std::nullopt;
    }
    return found[0];
}

/// The socket path, per the rules in the usage text. Errors are fatal (exit 1 or 2).
std::string resolve_socket(const options& o, int& exit_code) {
    if (!o.socket.empty()) {
        return o.socket;
    }
    std::string fmt = default_socket_fmt;
    std::string confdir;
    if (o.confdir_given || config_exists(o.confdir)) {
        auto cfg = control::load_config(load_opts(o, o.nodename));
        if (cfg) {
            fmt = cfg->global.control_socket;
            confdir = cfg->confdir;
        } else if (o.confdir_given) {
            print_diagnostics(cfg.error());
            exit_code = exit_failure;
            return {};
        } else {
            std::fprintf(stderr, "dvpectl: warning: cannot use the configuration in %s, using %s\n",
                         o.confdir.c_str(), default_socket_fmt);
        }
    }
    bool per_node = fmt.find("%s") != std::string::npos;
    if (o.nodename.empty() && per_node) {
        std::string dir = control::expand_node_path(confdir, fmt, "");
        dir = dir.substr(0, dir.rfind('/') == std::string::npos ? 0 : dir.rfind('/'));
        if (auto one = single_socket_in(dir.empty() ? "." : dir)) {
            return *one;
        }
        exit_code = exit_usage;
        std::fprintf(stderr, "dvpectl: no node name given: use 'dvpectl NODENAME %s' or -S SOCKET\n",
                     o.command.c_str());
        return {};
    }
    return control::expand_node_path(confdir, fmt, o.nodename);
}

/// One request; prints the error and returns nullopt on failure (connect, timeout, ok:false).
std::optional<json> request(const std::string& path, const json& req, int timeout_ms, bool accept_error_reply = false) {
    auto r = control::control_request(path, req, timeout_ms);
    if (!r) {
        std::string msg = r.error();
        if (msg.starts_with("cannot connect to ")) {
            msg += " (is dvped running?)";
        }
        std::fprintf(stderr, "dvpectl: %s\n", msg.c_str());
        return std::nullopt;
    }
    json& reply = r.value();
    bool ok = reply.is_object() && reply.value("ok", false) == true;
    if (!ok && !accept_error_reply) {
        std::string err = reply.is_object() && reply.contains("error") && reply["error"].is_string()
                              ? reply["error"].get<std::string>()
                              : reply.dump();
        std::fprintf(stderr, "dvpectl: %s: %s\n", req.value("cmd", std::string("request")).c_str(), err.c_str());
        return std::nullopt;
    }
    return std::move(reply);
}

volatile sig_atomic_t g_interrupted = 0;

void on_sigint(int) { g_interrupted = 1; }

/// Sleeps \p seconds unless SIGINT arrives. \returns false if interrupted.
bool sleep_interruptible(double seconds) {
    timespec ts{time_t(seconds), long((seconds - double(time_t(seconds))) * 1e9)};
    while (!g_interrupted && ::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return !g_interrupted;
}

struct status_args {
    bool as_json = false;
    bool watch = false;
    double interval = 1.0;
    unsigned long count = 0;  // 0: until SIGINT
};

status_args parse_status_args(const std::vector<std::string>& args) {
    status_args s;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--json") {
            s.as_json = true;
        } else if (a == "--watch" || a.starts_with("--watch=")) {
            s.watch = true;
            std::string v;
            if (a.starts_with("--watch=")) {
                v = a.substr(8);
            } else if (i + 1 < args.size() && !args[i + 1].empty() &&
                       (std::isdigit(static_cast<unsigned char>(args[i + 1][0])) || args[i + 1][0] == '.')) {
                v = args[++i];
            }
            if (a.starts_with("--watch=") || !v.empty()) {
                char* end = nullptr;
                s.interval = std::strtod(v.c_str(), &end);
                if (v.empty() || *end != '\0' || !(s.interval >= 0.1 && s.interval <= 86400)) {
                    throw usage_error{"--watch needs a number of seconds from 0.1 to 86400, not '" + v + "'"};
                }
            }
        } else if (a == "--count" || a.starts_with("--count=")) {
            if (a == "--count" && i + 1 >= args.size()) {
                throw usage_error{"--count needs a number"};
            }
            std::string v = a.starts_with("--count=") ? a.substr(8) : args[++i];
            s.count = parse_number("--count", v, 1000000000);
            if (s.count == 0) {
                throw usage_error{"--count needs a number of at least 1"};
            }
        } else {
            throw usage_error{"status: unknown argument '" + a + "'"};
        }
    }
    if (s.count != 0) {
        s.watch = true;  // --count N alone: N samples at the default interval
    }
    if (!s.watch) {
        s.count = 1;
    }
    return s;
}

bool parse_json_flag(const std::string& cmd, const std::vector<std::string>& args) {
    bool as_json = false;
    for (const auto& a : args) {
        if (a != "--json") {
            throw usage_error{cmd + ": unknown argument '" + a + "'"};
        }
        as_json = true;
    }
    return as_json;
}

json parse_raw_args(const std::vector<std::string>& args) {
    if (args.size() != 1) {
        throw usage_error{"raw needs exactly one argument: a JSON request such as '{\"cmd\":\"help\"}'"};
    }
    try {
        return json::parse(args[0]);
    } catch (const json::exception& e) {
        throw usage_error{std::string("raw: the request is not valid JSON: ") + e.what()};
    }
}

int cmd_status(const options& o, const status_args& s, const std::string& path) {
    const bool as_json = s.as_json, watch = s.watch;
    const double interval = s.interval;
    const unsigned long count = s.count;
    struct sigaction sa {};
    sa.sa_handler = on_sigint;  // no SA_RESTART: interrupt the sleep
    ::sigaction(SIGINT, &sa, nullptr);
    const bool tty = ::isatty(STDOUT_FILENO) != 0;

    std::optional<json> prev, prev_peers;
    for (unsigned long n = 0; count == 0 || n < count; ++n) {
        if (n != 0 && !sleep_interruptible(interval)) {
            break;
        }
        auto cur = request(path, json{{"cmd", "status"}}, o.timeout_ms);
        if (!cur) {
            return exit_failure;
        }
        // --watch: the peers too, for their rates (tinc top); a daemon without `peers`: none
        std::optional<json> cur_peers;
        if (watch && !as_json) {
            cur_peers = request(path, json{{"cmd", "peers"}}, o.timeout_ms);
        }
        if (as_json) {
            std::cout << cur->dump(2, ' ', false, json::error_handler_t::replace) << '\n';
        } else {
            if (watch && tty) {
                std::cout << "\033[H\033[2J";
            } else if (n != 0) {
                std::cout << '\n';
            }
            std::cout << control::format_status(*cur, prev ? &*prev : nullptr);
            if (prev && prev_peers && cur_peers) {
                auto up = [](const json& j) {
                    const auto it = j.is_object() ? j.find("uptime_s") : j.end();
                    return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
                };
                const double dt = up(*cur) - up(*prev);
                const std::string t = control::format_peer_rates(*cur_peers, *prev_peers, dt);
                if (!t.empty()) {
                    std::cout << '\n' << t;
                }
            }
        }
        std::cout.flush();
        prev = std::move(cur);
        prev_peers = std::move(cur_peers);
        if (g_interrupted) {
            break;
        }
    }
    return exit_ok;
}

// The node table from the configuration file, as `gvpectrl -s` (no daemon asked).
int cmd_config_offline(const options& o, bool as_json) {
    if (o.nodename.empty()) {
        throw usage_error{"config --offline needs the node name: dvpectl NODENAME config --offline"};
    }
    auto cfg = control::load_config(load_opts(o, o.nodename));
    if (!cfg) {
        print_diagnostics(cfg.error());
        return exit_failure;
    }
    const json r = control::node_table_json(*cfg);
    std::cout << (as_json ? r.dump(2, ' ', false, json::error_handler_t::replace) + "\n" : control::format_config(r));
    return exit_ok;
}

int cmd_config(const options& o, bool as_json, const std::string& path) {
    auto reply = control::control_request(path, json{{"cmd", "config"}}, o.timeout_ms);
    const auto nobody_there = [](const std::string& e) {
        return e.starts_with("cannot connect to ") &&
               (e.ends_with(std::strerror(ENOENT)) || e.ends_with(std::strerror(ECONNREFUSED)));
    };
    if (!reply && nobody_there(reply.error()) && !o.nodename.empty() && o.socket.empty() &&
        (o.confdir_given || config_exists(o.confdir))) {
        // No daemon (no socket, or nobody listening; not "permission denied"): what the file
        // says, as gvpectrl -s always does.
        std::fprintf(stderr, "dvpectl: %s; the node table of the configuration in %s instead\n",
                     reply.error().c_str(), o.confdir.c_str());
        return cmd_config_offline(o, as_json);
    }
    auto r = request(path, json{{"cmd", "config"}}, o.timeout_ms);
    if (!r) {
        return exit_failure;
    }
    std::cout << (as_json ? r->dump(2, ' ', false, json::error_handler_t::replace) + "\n" : control::format_config(*r));
    return exit_ok;
}

int cmd_peers(const options& o, bool as_json, const std::string& only, const std::string& path) {
    auto r = request(path, json{{"cmd", "peers"}}, o.timeout_ms);
    if (!r) {
        return exit_failure;
    }
    const json all = *r;  // the text names routers from the whole list
    if (!only.empty()) {
        json one = json::array();
        if (auto it = r->find("peers"); it != r->end() && it->is_array()) {
            for (const json& p : *it) {
                if (p.is_object() && p.value("name", std::string()) == only) {
                    one.push_back(p);
                }
            }
        }
        if (one.empty()) {
            std::fprintf(stderr, "dvpectl: no peer '%s'\n", only.c_str());
            return exit_failure;
        }
        (*r)["peers"] = std::move(one);
    }
    std::cout << (as_json ? r->dump(2, ' ', false, json::error_handler_t::replace) + "\n"
                          : control::format_peers(all, only));
    return exit_ok;
}

// gvpectrl -k's signal names.
int parse_signal(const std::string& s) {
    static const std::pair<const char*, int> names[] = {{"HUP", SIGHUP},   {"TERM", SIGTERM}, {"KILL", SIGKILL},
                                                        {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"INT", SIGINT},
                                                        {"ALRM", SIGALRM}};
    std::string up;
    for (char c : s) {
        up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    if (up.rfind("SIG", 0) == 0) {
        up = up.substr(3);
    }
    for (const auto& [n, v] : names) {
        if (up == n) {
            return v;
        }
    }
    return static_cast<int>(parse_number("kill: the signal (HUP, TERM, KILL, USR1, USR2, INT, ALRM or a number)", s,
                                         64));
}

int cmd_kill(const options& o, int sig) {
    if (o.nodename.empty()) {
        throw usage_error{"kill needs the node name: dvpectl NODENAME kill [SIG]"};
    }
    std::string pid_path = "/run/dvpe/" + o.nodename + ".pid";
    if (o.confdir_given || config_exists(o.confdir)) {
        auto cfg = control::load_config(load_opts(o, o.nodename));
        if (!cfg) {
            print_diagnostics(cfg.error());
            return exit_failure;
        }
        pid_path = control::expand_node_path(cfg->confdir, cfg->global.pid_file, o.nodename);
    }
    // A regular file, read without blocking (a FIFO planted there must not hang us).
    const int pf = ::open(pid_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat pst{};
    if (pf < 0 || ::fstat(pf, &pst) != 0 || !S_ISREG(pst.st_mode)) {
        const int e = pf < 0 ? errno : EINVAL;
        if (pf >= 0) {
            ::close(pf);
        }
        std::fprintf(stderr, "dvpectl: cannot read %s: %s (is dvped %s running?)\n", pid_path.c_str(),
                     std::strerror(e), o.nodename.c_str());
        return exit_failure;
    }
    char buf[32] = {};
    const ssize_t n = ::read(pf, buf, sizeof buf - 1);
    ::close(pf);
    std::string text(buf, n > 0 ? static_cast<size_t>(n) : 0);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
        text.pop_back();
    }
    char* end = nullptr;
    errno = 0;
    const long pid = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || pid <= 1 || pid > 4194304) {
        std::fprintf(stderr, "dvpectl: %s does not hold a process id\n", pid_path.c_str());
        return exit_failure;
    }
    // Pin the process first (a pidfd: the checks below and the signal concern the same one,
    // whatever pid reuse happens meanwhile), then check it is dvped running NODENAME: a pid file
    // left behind may name an unrelated process now, or another node's dvped.
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
    auto slurp = [pid](const char* what) {
        std::string r;
        if (FILE* c = std::fopen(("/proc/" + std::to_string(pid) + "/" + what).c_str(), "r")) {
            char cb[4096];
            size_t k;
            while ((k = std::fread(cb, 1, sizeof cb, c)) > 0 && r.size() < 65536) {
                r.append(cb, k);
            }
            std::fclose(c);
        }
        return r;
    };
    std::string comm = slurp("comm");
    while (!comm.empty() && comm.back() == '\n') {
        comm.pop_back();
    }
    bool names_node = false;  // NODENAME is one of its arguments (NUL-separated in cmdline)
    const std::string cmdline = slurp("cmdline");
    for (size_t at = 0; at < cmdline.size();) {
        const size_t z = cmdline.find('\0', at);
        const std::string arg = cmdline.substr(at, z == std::string::npos ? std::string::npos : z - at);
        names_node = names_node || arg == o.nodename;
        at = z == std::string::npos ? cmdline.size() : z + 1;
    }
    if (comm != "dvped" || !names_node) {
        if (pidfd >= 0) {
            ::close(pidfd);
        }
        std::fprintf(stderr, "dvpectl: process %ld of %s is %s, not dvped %s: stale pid file, nothing sent\n", pid,
                     pid_path.c_str(), comm.empty() ? "gone" : ("'" + comm + "'").c_str(), o.nodename.c_str());
        return exit_failure;
    }
    const long rc = pidfd >= 0 ? ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0)
                               : ::kill(static_cast<pid_t>(pid), sig);  // kernels before 5.3
    const int e = errno;
    if (pidfd >= 0) {
        ::close(pidfd);
    }
    if (rc != 0) {
        std::fprintf(stderr, "dvpectl: kill %ld: %s\n", pid, std::strerror(e));
        return exit_failure;
    }
    return exit_ok;
}

struct metrics_args {
    bool prometheus = false;
    std::string output;
};

metrics_args parse_metrics_args(const std::vector<std::string>& args) {
    metrics_args m;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--prometheus") {
            m.prometheus = true;
        } else if (args[i] == "--output" && i + 1 < args.size() && !args[i + 1].empty()) {
            m.output = args[++i];
        } else {
            throw usage_error{"metrics: unknown or incomplete argument '" + args[i] + "'"};
        }
    }
    return m;
}

int cmd_metrics(const options& o, const metrics_args& m, const std::string& path) {
    auto st = request(path, json{{"cmd", "status"}}, o.timeout_ms);
    if (!st) {
        return exit_failure;
    }
    auto pe = request(path, json{{"cmd", "peers"}}, o.timeout_ms);
    if (!pe) {
        return exit_failure;
    }
    const std::string text = control::format_metrics(*st, *pe, DVPE_VERSION, m.prometheus);
    if (m.output.empty()) {
        std::cout << text;
        return exit_ok;
    }
    // A new file, never through a symlink: a textfile directory is often writable by the
    // exporter's user, who must not make root's dvpectl write elsewhere.
    const std::string tmp = m.output + ".tmp." + std::to_string(getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    int err = fd < 0 ? errno : 0;
    for (size_t done = 0; err == 0 && done < text.size();) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        err = n > 0 ? 0 : (n < 0 ? errno : EIO);
        done += n > 0 ? static_cast<size_t>(n) : 0;
    }
    if (fd >= 0 && ::close(fd) != 0 && err == 0) {
        err = errno;
    }
    if (err == 0 && std::rename(tmp.c_str(), m.output.c_str()) != 0) {
        err = errno;
    }
    if (err != 0) {
        const int e = err;
        if (fd >= 0) {
            std::remove(tmp.c_str());
        }
        std::fprintf(stderr, "dvpectl: cannot write %s: %s\n", m.output.c_str(), std::strerror(e));
        return exit_failure;
    }
    return exit_ok;
}

int cmd_reload(const options& o, bool as_json, const std::string& path) {
    auto r = request(path, json{{"cmd", "reload"}}, o.timeout_ms, true);
    if (!r) {
        return exit_failure;
    }
    const bool ok = r->is_object() && r->value("ok", false) == true;
    if (as_json) {
        std::cout << r->dump(2, ' ', false, json::error_handler_t::replace) << '\n';
        return ok ? exit_ok : exit_failure;
    }
    auto lines = [&](const char* key, const char* prefix, std::FILE* f) {
        if (r->contains(key) && (*r)[key].is_array()) {
            for (const auto& c : (*r)[key]) {
                if (c.is_string()) {
                    std::fprintf(f, "%s%s\n", prefix, c.get<std::string>().c_str());
                }
            }
        }
    };
    if (!ok) {
        std::fprintf(stderr, "dvpectl: %s\n", r->value("error", std::string("reload failed")).c_str());
        lines("details", "  ", stderr);
        return exit_failure;
    }
    const auto& changes = (*r)["changes"];
    std::printf("reload applied: %zu nodes, %s\n", static_cast<size_t>(r->value("nodes", 0)),
                changes.empty() ? "nothing changed" : (std::to_string(changes.size()) + " changes:").c_str());
    lines("changes", "  ", stdout);
    lines("warnings", "  warning: ", stdout);
    return exit_ok;
}

int cmd_commands(const options& o, const std::string& path) {
    auto r = request(path, json{{"cmd", "help"}}, o.timeout_ms);
    if (!r) {
        return exit_failure;
    }
    std::cout << control::format_help(*r);
    return exit_ok;
}

int cmd_raw(const options& o, const json& req, const std::string& path) {
    auto r = request(path, req, o.timeout_ms, true);
    if (!r) {
        return exit_failure;
    }
    std::cout << r->dump(2, ' ', false, json::error_handler_t::replace) << '\n';
    return r->is_object() && r->value("ok", false) == true ? exit_ok : exit_failure;
}

int cmd_keygen(const options& o) {
    if (o.args.size() == 2 && (o.args[0] == "-g" || o.args[0] == "--generate-key")) {
        const std::string& file = o.args[1];
        auto r = control::generate_keypair(file, file + ".privkey");
        if (!r) {
            std::fprintf(stderr, "dvpectl: keygen: %s\n", r.error().c_str());
            return exit_failure;
        }
        std::printf("public key:  %s\nprivate key: %s.privkey\n", file.c_str(), file.c_str());
        return exit_ok;
    }
    if (o.args.size() == 1 && (o.args[0] == "-G" || o.args[0] == "--generate-keys")) {
        auto cfg = control::load_config(load_opts(o, ""));
        if (!cfg) {
            print_diagnostics(cfg.error());
            return exit_failure;
        }
        auto r = control::generate_missing_keys(*cfg);
        if (!r) {
            std::fprintf(stderr, "dvpectl: keygen: %s\n", r.error().c_str());
            return exit_failure;
        }
        if (r->empty()) {
            std::printf("every node has a public key; nothing generated\n");
        }
        for (const auto& g : *r) {
            std::printf("%s: public key %s, private key %s\n", g.node.c_str(), g.pub_path.c_str(),
                        g.priv_path.c_str());
        }
        return exit_ok;
    }
    throw usage_error{"keygen needs either -g FILE or -G"};
}

/// A reply that says ok:true; else its error (or \p fallback) on stderr. False also when the
/// request failed (request() said why).
bool reply_ok(const std::optional<json>& r, const char* fallback) {
    if (!r) {
        return false;
    }
    if (r->is_object()) {
        const auto ok = r->find("ok");
        if (ok != r->end() && ok->is_boolean() && ok->get<bool>()) {
            return true;
        }
    }
    const auto e = r->is_object() ? r->find("error") : r->end();
    std::fprintf(stderr, "dvpectl: %s\n",
                 !r->is_object() ? "bad reply" : e != r->end() && e->is_string() ? e->get_ref<const std::string&>().c_str()
                                                                               : fallback);
    return false;
}

int cmd_reconnect(const options& o, const std::string& path) {
    json req{{"cmd", "reconnect"}};
    if (!o.args.empty()) {
        req["node"] = o.args[0];
    }
    auto r = request(path, req, o.timeout_ms, true);
    if (!reply_ok(r, "reconnect failed")) {
        return exit_failure;
    }
    auto names = [&](const char* key) {
        std::string out;
        if (r->contains(key) && (*r)[key].is_array()) {
            for (const auto& n : (*r)[key]) {
                if (n.is_string()) {
                    out += (out.empty() ? "" : " ") + n.get<std::string>();
                }
            }
        }
        return out;
    };
    const std::string started = names("reconnecting");
    const std::string alone = names("left_alone");
    std::printf("reconnecting: %s\n", started.empty() ? "(no peers)" : started.c_str());
    if (!alone.empty()) {
        std::printf("left alone (disabled, or connect = never and down): %s\n", alone.c_str());
    }
    return exit_ok;
}

int run(const std::vector<std::string>& argv) {
    bool help = false;
    options o = parse_args(argv, help);
    if (help) {
        std::fputs(usage_text, stdout);
        return exit_ok;
    }
    if (o.version) {
        std::fputs("dvpectl " DVPE_VERSION "\n", stdout);
        return exit_ok;
    }
    if (o.command == "keygen") {
        return cmd_keygen(o);
    }
    if (o.command == "kill") {
        if (o.args.size() > 1) {
            throw usage_error{"kill takes at most one signal"};
        }
        return cmd_kill(o, o.args.empty() ? SIGTERM : parse_signal(o.args[0]));
    }
    // The command's arguments are checked before the socket is looked for (usage errors first).
    status_args st;
    bool as_json = false;
    std::string peer_name;
    metrics_args metrics;
    json raw_req;
    if (o.command == "status") {
        st = parse_status_args(o.args);
    } else if (o.command == "config") {
        std::vector<std::string> flags;
        bool offline = false;
        for (const auto& a : o.args) {
            if (a == "--offline") {
                offline = true;
            } else {
                flags.push_back(a);
            }
        }
        as_json = parse_json_flag("config", flags);
        if (offline) {
            return cmd_config_offline(o, as_json);
        }
    } else if (o.command == "metrics") {
        metrics = parse_metrics_args(o.args);
    } else if (o.command == "peers") {
        std::vector<std::string> flags;
        for (const auto& a : o.args) {
            if (a.rfind("--", 0) == 0) {
                flags.push_back(a);
            } else if (peer_name.empty()) {
                peer_name = a;
            } else {
                throw usage_error{"peers takes at most one peer name"};
            }
        }
        as_json = parse_json_flag("peers", flags);
    } else if (o.command == "reload") {
        as_json = parse_json_flag("reload", o.args);
    } else if (o.command == "neighbours" || o.command == "neighbors") {
        as_json = parse_json_flag("neighbours", o.args);
    } else if (o.command == "reconnect") {
        if (o.args.size() > 1) {
            throw usage_error{"reconnect takes at most one node name"};
        }
    } else if (o.command == "commands") {
        if (!o.args.empty()) {
            throw usage_error{"commands takes no arguments"};
        }
    } else {
        raw_req = parse_raw_args(o.args);
    }
    int code = exit_ok;
    std::string path = resolve_socket(o, code);
    if (path.empty()) {
        return code;
    }
    if (o.command == "status") {
        return cmd_status(o, st, path);
    }
    if (o.command == "config") {
        return cmd_config(o, as_json, path);
    }
    if (o.command == "commands") {
        return cmd_commands(o, path);
    }
    if (o.command == "reload") {
        return cmd_reload(o, as_json, path);
    }
    if (o.command == "peers") {
        return cmd_peers(o, as_json, peer_name, path);
    }
    if (o.command == "metrics") {
        return cmd_metrics(o, metrics, path);
    }
    if (o.command == "reconnect") {
        return cmd_reconnect(o, path);
    }
    if (o.command == "neighbours" || o.command == "neighbors") {
        auto r = request(path, json{{"cmd", "neighbours"}}, o.timeout_ms, true);
        if (!reply_ok(r, "neighbours failed")) {
            return exit_failure;
        }
        std::fputs(as_json ? (r->dump(2) + "\n").c_str() : control::format_neighbours(*r).c_str(), stdout);
        return exit_ok;
    }
    return cmd_raw(o, raw_req, path);
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    try {
        return run(args);
    } catch (const usage_error& e) {
        std::fprintf(stderr, "dvpectl: %s\nTry 'dvpectl --help' for more information.\n", e.message.c_str());
        return exit_usage;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dvpectl: %s\n", e.what());
        return exit_failure;
    }
}
