// SPDX-License-Identifier: MIT
// Logging for the control thread and startup code (never used per packet). Messages go to
// stderr when running in the foreground (-D) and to syslog (daemon facility) otherwise, like
// GVPE. The level is set from `-l LEVEL` or the `loglevel` directive.
// Threads: any non-worker thread; each call writes one line atomically.
#pragma once

#include <syslog.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

#include "control/config/config.hh"

namespace control::log {

struct sink_state {
    std::atomic<log_level> level{log_level::info};
    std::atomic<bool> to_stderr{true};
    std::atomic<bool> to_syslog{false};
    std::atomic<bool> to_journal{false};  // stderr is systemd's journal: "<prio>" lines, once
};

inline sink_state& state() {
    static sink_state s;
    return s;
}

inline void set_level(log_level l) { state().level.store(l); }
inline void use_syslog(const std::string& ident) {
    static std::string id = ident;  // openlog keeps the pointer
    openlog(id.c_str(), LOG_PID, LOG_DAEMON);
    state().to_syslog.store(true);
}
inline void set_stderr(bool on) { state().to_stderr.store(on); }
/// stderr is the journal's stream (systemd's $JOURNAL_STREAM): every line goes there once, with
/// its syslog priority as a "<N>" prefix the journal reads (sd-daemon(3)), no timestamp (the
/// journal has its own), and not to syslog as well (which the journal would store again).
inline void set_journal(bool on) { state().to_journal.store(on); }

inline bool enabled(log_level l) { return l >= state().level.load(std::memory_order_relaxed); }

inline void write(log_level l, std::string_view msg) {
    if (!enabled(l)) {
        return;
    }
    static constexpr int prio[] = {LOG_DEBUG, LOG_DEBUG, LOG_DEBUG, LOG_INFO,
                                   LOG_NOTICE, LOG_WARNING, LOG_ERR, LOG_CRIT};
    if (state().to_journal.load()) {
        std::string line = "<" + std::to_string(prio[static_cast<int>(l)]) + ">" + std::string(msg) + "\n";
        std::fwrite(line.data(), 1, line.size(), stderr);
        return;
    }
    if (state().to_stderr.load()) {
        char ts[32];
        std::time_t t = std::time(nullptr);
        std::tm tm{};
        localtime_r(&t, &tm);
        std::strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
        std::string line = std::string(ts) + " " + std::string(to_string(l)) + ": " + std::string(msg) + "\n";
        std::fwrite(line.data(), 1, line.size(), stderr);
    }
    if (state().to_syslog.load()) {
        syslog(prio[static_cast<int>(l)], "%.*s", static_cast<int>(msg.size()), msg.data());
    }
}

inline void debug(std::string_view m) { write(log_level::debug, m); }
inline void info(std::string_view m) { write(log_level::info, m); }
inline void notice(std::string_view m) { write(log_level::notice, m); }
inline void warn(std::string_view m) { write(log_level::warn, m); }
inline void error(std::string_view m) { write(log_level::error, m); }

}  // namespace control::log
