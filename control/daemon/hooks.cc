// SPDX-License-Identifier: MIT
// The hook-script runner (hooks.hh): GVPE's script environment, a bounded FIFO of runs, and one
// child at a time spawned with posix_spawn into its own process group, reaped without blocking.
// Threads: control thread only.
#include "control/daemon/hooks.hh"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

#include "control/log.hh"

extern char** environ;  // NOLINT: POSIX

namespace control {

namespace {

std::string_view state_name(hook_kind k) {
    switch (k) {
    case hook_kind::node_up:
        return "up";
    case hook_kind::node_down:
        return "down";
    case hook_kind::node_change:
        return "change";
    case hook_kind::if_up:
        break;
    }
    return "";
}

std::string var(std::string_view name, std::string_view value) {
    std::string r;
    r.reserve(name.size() + 1 + value.size());
    r += name;
    r += '=';
    r += value;
    return r;
}

/// The name part of "NAME=value" (the whole string when there is no '=').
std::string_view var_name(std::string_view entry) {
    return entry.substr(0, entry.find('='));
}

/// \p s as one single-quoted shell word: the path is a file name, never a command line.
std::string shell_quote(std::string_view s) {
    std::string r = "'";
    for (char c : s) {
        if (c == '\'') {
            r += "'\\''";
        } else {
            r += c;
        }
    }
    r += '\'';
    return r;
}

std::string errno_text(int e) { return std::strerror(e); }

}  // namespace

std::string_view to_string(hook_kind k) noexcept {
    switch (k) {
    case hook_kind::if_up:
        return "if-up";
    case hook_kind::node_up:
        return "node-up";
    case hook_kind::node_down:
        return "node-down";
    case hook_kind::node_change:
        return "node-change";
    }
    return "?";
}

std::string_view hook_protocol(transport::kind k) noexcept {
    return transport::is_udp(k)     ? "udp"
           : transport::is_rawip(k) ? "rawip"
           : transport::is_icmp(k)  ? "icmp"
           : transport::is_tcp(k)   ? "tcp"
                                    : "dns";
}

std::string hook_destsi(std::string_view proto, std::string_view ip, uint16_t port) {
    std::string r(proto);
    r += '/';
    if (ip.find(':') != std::string_view::npos) {
        r += '[';
        r += ip;
        r += ']';
    } else {
        r += ip;
    }
    r += ':';
    r += std::to_string(port);
    return r;
}

// ---------------------------------------------------------------------------------------------
// The environment (gvpe.md §1.7)
// ---------------------------------------------------------------------------------------------

std::vector<std::string> hook_environment(const config& cfg, std::string_view ifname, unsigned mtu,
                                          const hook_event* ev) {
    std::vector<std::string> env;
    env.reserve(10 + 3 * cfg.nodes.size() + (ev != nullptr ? 7 : 0));
    env.push_back(var("CONFBASE", cfg.confdir));
    env.push_back(var("IFNAME", ifname));
    env.push_back(var("IFTYPE", "native"));   // GVPE's native device type (not tincd)
    env.push_back(var("IFSUBTYPE", "linux")); // the overlay is a Linux TAP (net_tap) interface
    env.push_back(var("MTU", std::to_string(mtu)));
    env.push_back(var("NODES", std::to_string(cfg.nodes.size())));
    if (cfg.self < cfg.nodes.size()) {
        const node_conf& self = cfg.self_node();
        env.push_back(var("NODEID", std::to_string(self.id)));
        env.push_back(var("NODENAME", self.name));
        env.push_back(var("MAC", mac_string(node_mac(self.id))));
        env.push_back(var("IFUPDATA", self.if_up_data));
    }
    for (const node_conf& n : cfg.nodes) {
        const std::string ext = "_" + std::to_string(n.id);
        env.push_back(var("NODENAME" + ext, n.name));
        env.push_back(var("MAC" + ext, mac_string(node_mac(n.id))));
        env.push_back(var("IFUPDATA" + ext, n.if_up_data));
    }
    if (ev != nullptr) {
        const node_conf* dest = cfg.node(ev->peer_id);
        const std::string destnode = dest != nullptr ? dest->name : std::to_string(ev->peer_id);  // unknown id: the number
        env.push_back(var("DESTNODE", destnode));
        env.push_back(var("DESTID", std::to_string(ev->peer_id)));
        env.push_back(var("DESTSI", ev->destsi));
        env.push_back(var("DESTIP", ev->destip));
        env.push_back(var("DESTPORT", std::to_string(ev->destport)));
        env.push_back(var("STATE", state_name(ev->kind)));
        if (const size_t slash = ev->destsi.find('/');
            slash != std::string::npos && slash > 0 && !ev->destip.empty()) {
            const bool v6 = ev->destip.find(':') != std::string::npos;
            env.push_back(var("DVPE_TRANSPORT", ev->destsi.substr(0, slash) + (v6 ? "6" : "4")));
        }
    }
    return env;
}

std::vector<std::string> merge_environment(const std::vector<std::string>& vars, const char* const* base) {
    std::set<std::string_view> ours;
    for (const std::string& v : vars) {
        ours.insert(var_name(v));
    }
    std::vector<std::string> r;
    for (const char* const* p = base; p != nullptr && *p != nullptr; ++p) {
        if (ours.count(var_name(*p)) == 0) {
            r.emplace_back(*p);
        }
    }
    r.insert(r.end(), vars.begin(), vars.end());
    return r;
}

// ---------------------------------------------------------------------------------------------
// The runner
// ---------------------------------------------------------------------------------------------

hook_runner::hook_runner(const config& cfg, hook_options opt)
    : _cfg(cfg), _opt(opt), _ifname(cfg.global.ifname), _mtu(cfg.overlay_mtu()) {
    if (_opt.max_queue == 0) {
        _opt.max_queue = 1;
    }
}

hook_runner::~hook_runner() {
    if (_run) {
        signal_group(SIGKILL);
        int status = 0;
        while (!_run->reaped && ::waitpid(_run->pid, &status, 0) < 0 && errno == EINTR) {
        }
        log::warn("hooks: " + describe(_run->j) + " killed at shutdown");
        _run.reset();
    }
}

void hook_runner::reconfigure(const config& cfg) { _cfg = cfg; }

const std::string& hook_runner::directive(hook_kind k) const {
    switch (k) {
    case hook_kind::if_up:
        return _cfg.global.if_up;
    case hook_kind::node_up:
        return _cfg.global.node_up;
    case hook_kind::node_down:
        return _cfg.global.node_down;
    case hook_kind::node_change:
        break;
    }
    return _cfg.global.node_change;
}

std::string hook_runner::describe(const job& j) const {
    std::string r(to_string(j.kind));
    r += " (" + j.path + ")";
    if (j.ev) {
        const node_conf* n = _cfg.node(j.ev->peer_id);
        r += " for node " + (n != nullptr ? n->name : std::to_string(j.ev->peer_id));
    }
    return r;
}

void hook_runner::on_if_up(std::string_view ifname, unsigned mtu) {
    _ifname = ifname;
    _mtu = mtu;
    job j;
    j.kind = hook_kind::if_up;
    enqueue(std::move(j));
}

void hook_runner::on_node_up(unsigned peer_id, std::string_view destsi, std::string_view destip,
                             uint16_t destport) {
    on_node_event({hook_kind::node_up, peer_id, std::string(destsi), std::string(destip), destport});
}

void hook_runner::on_node_down(unsigned peer_id, std::string_view destsi, std::string_view destip,
                               uint16_t destport) {
    on_node_event({hook_kind::node_down, peer_id, std::string(destsi), std::string(destip), destport});
}

void hook_runner::on_node_change(unsigned peer_id, std::string_view destsi, std::string_view destip,
                                 uint16_t destport) {
    on_node_event({hook_kind::node_change, peer_id, std::string(destsi), std::string(destip), destport});
}

void hook_runner::on_node_event(const hook_event& ev) {
    if (ev.kind == hook_kind::if_up) {
        return;  // not a node event
    }
    job j;
    j.kind = ev.kind;
    j.ev = ev;
    enqueue(std::move(j));
}

void hook_runner::enqueue(job j) {
    const std::string& d = directive(j.kind);
    if (d.empty()) {
        return;  // not configured: nothing to run
    }
    j.path = _cfg.expand_path(d);
    j.ifname = _ifname;
    j.mtu = _mtu;
    if (_queue.size() >= _opt.max_queue) {
        ++_counters.dropped;
        ++_burst_drops;
        if (!_overflowing) {
            _overflowing = true;
            log::warn("hooks: queue full (" + std::to_string(_opt.max_queue) + " runs waiting), dropping " +
                      describe(j) + " and further runs until there is room");
        }
        return;
    }
    if (_overflowing) {
        log::warn("hooks: queue has room again; " + std::to_string(_burst_drops) + " runs were dropped");
        _overflowing = false;
        _burst_drops = 0;
    }
    ++_counters.queued;
    _queue.push_back(std::move(j));
}

void hook_runner::poll() {
    if (_run) {
        check_running();
    }
    // A run that cannot start (missing script, spawn error) is skipped at once: try the next.
    while (!_run && !_queue.empty()) {
        start_next();
    }
}

void hook_runner::start_next() {
    job j = std::move(_queue.front());
    _queue.pop_front();

    struct stat st {};
    if (::stat(j.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::access(j.path.c_str(), X_OK) != 0) {
        const int e = errno;
        ++_counters.missing;
        if (_warned_missing.insert(j.path).second) {
            const bool exists = ::stat(j.path.c_str(), &st) == 0;
            std::string why = !exists                 ? "does not exist"
                              : !S_ISREG(st.st_mode) ? "is not a regular file"
                                                      : "is not executable (" + errno_text(e) + ")";
            log::warn("hooks: " + describe(j) + ": script " + why + "; not run (warned once)");
        }
        return;
    }
    _warned_missing.erase(j.path);

    const std::vector<std::string> env =
        merge_environment(hook_environment(_cfg, j.ifname, j.mtu, j.ev ? &*j.ev : nullptr), environ);
    std::vector<char*> envp;
    envp.reserve(env.size() + 1);
    for (const std::string& s : env) {
        envp.push_back(const_cast<char*>(s.c_str()));  // posix_spawn's signature; not written
    }
    envp.push_back(nullptr);
    // As GVPE: /bin/sh -c. The path is quoted so a CONFDIR with spaces works, and exec'd so the
    // script is the process we spawned (no extra shell in between).
    std::string sh = "/bin/sh";
    std::string dash_c = "-c";
    std::string cmd = "exec " + shell_quote(j.path);
    char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};

    // The child: its own process group (so a timeout kills the script's children too), default
    // signal dispositions and an empty mask (the daemon ignores SIGPIPE), stdin from /dev/null,
    // and no inherited descriptors beyond stdout/stderr (control socket, DPDK/VFIO fds).
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&fa);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
#endif
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, sh.c_str(), &fa, &attr, argv, envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        ++_counters.failed;
        log::error("hooks: " + describe(j) + ": cannot start /bin/sh: " + errno_text(rc));
        return;
    }
    ++_counters.started;
    log::debug("hooks: started " + describe(j) + ", pid " + std::to_string(pid));
    running_job r;
    r.j = std::move(j);
    r.pid = pid;
    r.started = std::chrono::steady_clock::now();
    _run = std::move(r);
}

void hook_runner::signal_group(int sig) {
    // The child leads its own group (POSIX_SPAWN_SETPGROUP), which outlives it while any member
    // is left (Linux reuses no pid that is still a pgid); fall back to the pid while unreaped.
    if (::kill(-_run->pid, sig) != 0 && !_run->reaped) {
        ::kill(_run->pid, sig);
    }
}

void hook_runner::check_running() {
    if (!_run->reaped) {
        int status = 0;
        const pid_t w = ::waitpid(_run->pid, &status, WNOHANG);
        if (w == _run->pid) {
            if (!_run->term_sent) {
                finish(status);
                return;
            }
            // Timed out and the script is gone, but what it started may ignore SIGTERM: the
            // slot stays busy (runs stay serialised) until its group is empty or the grace ends.
            _run->reaped = true;
        } else if (w < 0 && errno != EINTR) {
            // ECHILD: someone else reaped it (SIGCHLD set to SIG_IGN?). The status is lost.
            ++_counters.failed;
            log::error("hooks: " + describe(_run->j) + ": exit status lost (" + errno_text(errno) +
                       "); SIGCHLD must not be ignored");
            _run.reset();
            return;
        }
    }
    // Done when the timed-out script's group is empty, or SIGKILL went out (orphans that are
    // zombies still count as members until init reaps them: do not wait for that).
    if (_run->reaped && (_run->kill_sent || ::kill(-_run->pid, 0) != 0)) {
        finish(0);
        return;
    }
    if (_opt.timeout.count() <= 0) {
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!_run->term_sent && now - _run->started >= _opt.timeout) {
        signal_group(SIGTERM);
        _run->term_sent = true;
        _run->kill_at = now + _opt.kill_grace;
        ++_counters.timed_out;
        log::warn("hooks: " + describe(_run->j) + " still running after " +
                  std::to_string(_opt.timeout.count()) + " ms; sent SIGTERM");
    } else if (_run->term_sent && !_run->kill_sent && now >= _run->kill_at) {
        signal_group(SIGKILL);
        _run->kill_sent = true;
        log::warn("hooks: " + describe(_run->j) + ": process group still alive after SIGTERM; sent SIGKILL");
        if (_run->reaped) {
            finish(0);  // only orphans were left; SIGKILL cannot be ignored
        }
    }
}

void hook_runner::finish(int status) {
    const std::string what = describe(_run->j);
    if (_run->term_sent) {
        // Counted as timed_out when the signal was sent.
        log::debug("hooks: " + what + " ended after the timeout");
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        ++_counters.succeeded;
        log::debug("hooks: " + what + " done");
    } else if (WIFEXITED(status)) {
        ++_counters.failed;
        log::warn("hooks: " + what + " exited with status " + std::to_string(WEXITSTATUS(status)));
    } else if (WIFSIGNALED(status)) {
        ++_counters.failed;
        log::warn("hooks: " + what + " killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
                  strsignal(WTERMSIG(status)) + ")");
    } else {
        ++_counters.failed;
        log::warn("hooks: " + what + " ended with wait status " + std::to_string(status));
    }
    _run.reset();
}

void hook_runner::drain(std::chrono::milliseconds max) {
    const auto deadline = std::chrono::steady_clock::now() + max;
    for (;;) {
        poll();
        if (pending() == 0 || std::chrono::steady_clock::now() >= deadline) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (pending() == 0) {
        return;
    }
    const size_t left = _queue.size();
    _counters.dropped += left;
    _queue.clear();
    if (_run) {
        signal_group(SIGKILL);
        int status = 0;
        while (!_run->reaped && ::waitpid(_run->pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (!_run->term_sent) {
            ++_counters.timed_out;
        }
        log::warn("hooks: " + describe(_run->j) + " killed at shutdown (drain took longer than " +
                  std::to_string(max.count()) + " ms)");
        _run.reset();
    }
    if (left > 0) {
        log::warn("hooks: " + std::to_string(left) + " queued runs dropped at shutdown");
    }
}

}  // namespace control
