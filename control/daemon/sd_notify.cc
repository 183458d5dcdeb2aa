// SPDX-License-Identifier: MIT
#include "control/daemon/sd_notify.hh"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace control::sd {

namespace {

bool parse_u64(const char* s, uint64_t& out) noexcept {
    if (s == nullptr || *s == '\0') {
        return false;
    }
    const char* end = s + std::strlen(s);
    auto [p, ec] = std::from_chars(s, end, out);
    return ec == std::errc() && p == end;
}

}  // namespace

notifier notifier::from_env() {
    return from(std::getenv("NOTIFY_SOCKET"), std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"),
                static_cast<long>(getpid()));
}

notifier notifier::from(const char* notify_socket, const char* watchdog_usec, const char* watchdog_pid, long pid) {
    notifier n;
    if (notify_socket == nullptr) {
        return n;
    }
    std::string path(notify_socket);
    if (path.size() < 2 || (path[0] != '/' && path[0] != '@') || path.size() >= sizeof(sockaddr_un::sun_path)) {
        return n;
    }
    if (path[0] == '@') {
        path[0] = '\0';
    }
    const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return n;
    }
    n._path = std::move(path);
    n._fd = fd;
    uint64_t usec = 0;
    uint64_t wpid = 0;
    const bool ours = watchdog_pid == nullptr || (parse_u64(watchdog_pid, wpid) && wpid == static_cast<uint64_t>(pid));
    // More than a year is not a watchdog interval anyone meant; it would overflow in ns too.
    if (ours && parse_u64(watchdog_usec, usec) && usec > 0 && usec <= 365ULL * 24 * 3600 * 1'000'000) {
        n._watchdog_usec = usec;
    }
    return n;
}

notifier::~notifier() {
    if (_fd >= 0) {
        close(_fd);
    }
}

notifier::notifier(notifier&& o) noexcept
    : _path(std::move(o._path)), _fd(std::exchange(o._fd, -1)), _watchdog_usec(o._watchdog_usec),
      _next_ping_ns(o._next_ping_ns) {
    o._path.clear();
}

notifier& notifier::operator=(notifier&& o) noexcept {
    if (this != &o) {
        if (_fd >= 0) {
            close(_fd);
        }
        _path = std::move(o._path);
        o._path.clear();
        _fd = std::exchange(o._fd, -1);
        _watchdog_usec = o._watchdog_usec;
        _next_ping_ns = o._next_ping_ns;
    }
    return *this;
}

bool notifier::send(std::string_view state) noexcept {
    if (!enabled()) {
        return false;
    }
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, _path.data(), _path.size());
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + _path.size());
    ssize_t r;
    do {
        r = sendto(_fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&sa), len);
    } while (r < 0 && errno == EINTR);
    return r == static_cast<ssize_t>(state.size());
}

void notifier::tick(uint64_t now_ns) noexcept {
    if (_watchdog_usec == 0 || now_ns < _next_ping_ns) {
        return;
    }
    send("WATCHDOG=1");
    _next_ping_ns = now_ns + _watchdog_usec * 1000 / 2;
}

}  // namespace control::sd
