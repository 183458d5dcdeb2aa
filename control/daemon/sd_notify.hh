// SPDX-License-Identifier: MIT
// systemd's service notification protocol (sd_notify(3), "NOTIFY_SOCKET"): one datagram of
// newline-separated VAR=VALUE lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or
// '@' for the abstract namespace). dvped (Type=notify in configs/systemd/dvped@.service) says
// READY=1 once its control socket serves, RELOADING=1 / READY=1 around a reload, STOPPING=1 on
// its way out, STATUS=... lines, and WATCHDOG=1 from the control loop at half of
// $WATCHDOG_USEC (when $WATCHDOG_PID is unset or ours): a control thread stuck anywhere stops
// the pings and systemd restarts the unit.
// Written here rather than linked from libsystemd: the protocol is a documented stable interface
// that systemd invites services to implement themselves, and it is one sendto(); the library
// would be a runtime dependency for that alone.
// Threads: control thread only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace control::sd {

class notifier {
public:
    /// From the environment: disabled without $NOTIFY_SOCKET, or when it is neither an absolute
    /// path nor '@'-abstract, or too long for sockaddr_un. $WATCHDOG_USEC: a decimal count of
    /// microseconds > 0 (else no watchdog), honoured only if $WATCHDOG_PID is unset or our pid.
    static notifier from_env();
    /// As from_env() with explicit values (nullptr = unset); `pid` is ours.
    static notifier from(const char* notify_socket, const char* watchdog_usec, const char* watchdog_pid, long pid);

    notifier() = default;
    ~notifier();
    notifier(notifier&& o) noexcept;
    notifier& operator=(notifier&& o) noexcept;
    notifier(const notifier&) = delete;
    notifier& operator=(const notifier&) = delete;

    [[nodiscard]] bool enabled() const noexcept { return !_path.empty(); }
    [[nodiscard]] uint64_t watchdog_usec() const noexcept { return _watchdog_usec; }

    /// Sends `state` (e.g. "READY=1\nSTATUS=running"); false if disabled or the send failed
    /// (nothing else happens: a service manager that went away is not our failure).
    bool send(std::string_view state) noexcept;
    /// Call from the control loop: WATCHDOG=1 when half the interval has passed since the last.
    void tick(uint64_t now_ns) noexcept;

private:
    std::string _path;  // as given; '@' already replaced by '\0'
    int _fd = -1;
    uint64_t _watchdog_usec = 0;
    uint64_t _next_ping_ns = 0;
};

}  // namespace control::sd
