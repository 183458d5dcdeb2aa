// SPDX-License-Identifier: MIT
// The control socket server and its one-shot client (control_socket.hh, docs/control.md).
// One poll() call = one ::poll() over the listening fd and every client, then non-blocking
// accept/recv/send until EAGAIN. Per client: an input buffer cut into lines, an output buffer
// written as the socket accepts it (POLLOUT). Backpressure: while a client has more than
// output_high_water bytes of replies unread, its further requests wait (neither read nor run),
// so a client that pipelines requests and never reads cannot grow our memory without bound.
// Idle clients: every client has a progress time (accepted, a complete request answered, reply
// bytes written); one without progress for the idle timeout is closed, and a full table makes
// room for a new client by closing the idle one with the oldest progress.
#include "control/ctl/control_socket.hh"
#include "control/config/keys.hh"  // make_dirs

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>
#include <utility>
#include <variant>

namespace control {

namespace {

using nlohmann::json;

std::string errno_string(int e) { return std::strerror(e); }

/// Closes an fd on scope exit unless released.
struct fd_guard {
    int fd = -1;
    explicit fd_guard(int f) : fd(f) {}
    ~fd_guard() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    int release() { return std::exchange(fd, -1); }
};


bool fill_addr(const std::string& path, sockaddr_un& addr) {
    std::memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) {
        return false;
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    return true;
}

json error_reply(std::string message) { return json{{"ok", false}, {"error", std::move(message)}}; }

/// nlohmann's messages start with "[json.exception.parse_error.101] "; people do not need that.
std::string strip_json_prefix(const char* what) {
    std::string_view s(what);
    if (s.starts_with("[json.exception.")) {
        if (auto p = s.find("] "); p != std::string_view::npos) {
            s.remove_prefix(p + 2);
        }
    }
    return std::string(s);
}

/// Serialises a reply; invalid UTF-8 in strings (a handler's bug) is replaced, never thrown.
std::string encode(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

// ---- server setup and teardown ------------------------------------------------------------------

control_server::control_server(int fd, std::string path, uint64_t dev, uint64_t ino)
    : _listen_fd(fd), _path(std::move(path)), _dev(dev), _ino(ino) {}

result<std::unique_ptr<control_server>, std::string> control_server::open(const std::string& path,
                                                                          std::optional<unsigned> group) {
    sockaddr_un addr{};
    if (!fill_addr(path, addr)) {
        return unexpected{"control socket path '" + path + "' is empty or longer than " +
                          std::to_string(sizeof addr.sun_path - 1) + " bytes"};
    }
    if (auto slash = path.rfind('/'); slash != std::string::npos && slash > 0) {
        if (auto r = make_dirs(path.substr(0, slash), 0755); !r) {
            return unexpected{"control socket " + path + ": " + r.error()};
        }
    }

    // An existing file: ours from a crashed run (remove it) or a live daemon's (refuse).
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            return unexpected{"control socket " + path + " exists and is not a socket"};
        }
        fd_guard probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (probe.fd < 0) {
            return unexpected{"socket(): " + errno_string(errno)};
        }
        // Non-blocking connect on AF_UNIX: 0 = accepted into a live backlog, EAGAIN = live but
        // backlog full, ECONNREFUSED = nobody listens (stale file).
        if (::connect(probe.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 || errno == EAGAIN) {
            return unexpected{"control socket " + path + " is in use (is another dvped running?)"};
        }
        if (errno != ECONNREFUSED) {
            return unexpected{"cannot check control socket " + path + ": " + errno_string(errno)};
        }
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
            return unexpected{"cannot remove stale control socket " + path + ": " + errno_string(errno)};
        }
    }

    fd_guard fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.fd < 0) {
        return unexpected{"socket(): " + errno_string(errno)};
    }
    // On Linux the socket inode's mode becomes the file's mode at bind(), so the file is never
    // reachable with a wider mode; the chmod after bind covers systems where fchmod is ignored.
    (void)::fchmod(fd.fd, 0600);
    if (::bind(fd.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        return unexpected{"cannot bind control socket " + path + ": " + errno_string(errno)};
    }
    // Mode and group by path without following a symbolic link (someone who can write the
    // directory must not get another file chmod-ed or chown-ed by us), and the path must still
    // be a socket afterwards.
    if (::fchmodat(AT_FDCWD, path.c_str(), 0600, AT_SYMLINK_NOFOLLOW) != 0 || ::lstat(path.c_str(), &st) != 0 ||
        !S_ISSOCK(st.st_mode)) {
        int e = errno != 0 ? errno : EINVAL;
        ::unlink(path.c_str());
        return unexpected{"cannot set mode of control socket " + path + ": " + errno_string(e)};
    }
    if (group && (::lchown(path.c_str(), static_cast<uid_t>(-1), static_cast<gid_t>(*group)) != 0 ||
                  ::fchmodat(AT_FDCWD, path.c_str(), 0660, AT_SYMLINK_NOFOLLOW) != 0)) {
        int e = errno;
        ::unlink(path.c_str());
        return unexpected{"cannot give control socket " + path + " to group " + std::to_string(*group) + ": " +
                          errno_string(e)};
    }
    if (::listen(fd.fd, control_limits::listen_backlog) != 0) {
        int e = errno;
        ::unlink(path.c_str());
        return unexpected{"cannot listen on control socket " + path + ": " + errno_string(e)};
    }
    return std::unique_ptr<control_server>(new control_server(fd.release(), path, st.st_dev, st.st_ino));
}

control_server::~control_server() {
    for (auto& c : _clients) {
        ::close(c->fd);
    }
    ::close(_listen_fd);
    // Unlink only the file we bound: if someone replaced it meanwhile, it is not ours to remove.
    struct stat st {};
    if (::lstat(_path.c_str(), &st) == 0 && st.st_dev == _dev && st.st_ino == _ino) {
        ::unlink(_path.c_str());
    }
}

void control_server::add_command(std::string name, std::string help, handler h, access a) {
    if (name == "help") {
        return;
    }
    _commands[std::move(name)] = command{std::move(help), std::move(h), a};
}

// ---- request dispatch ----------------------------------------------------------------------------

parsed_request parse_request(std::string_view line) {
    parsed_request p;
    try {
        p.request = json::parse(line);
    } catch (const json::exception& e) {
        p.request = nullptr;
        p.error = "invalid JSON: " + strip_json_prefix(e.what());
        return p;
    }
    if (!p.request.is_object()) {
        p.error = "request must be a JSON object like {\"cmd\":\"help\"}";
    } else if (auto cmd = p.request.find("cmd"); cmd == p.request.end() || !cmd->is_string()) {
        p.error = "request has no string \"cmd\" (try {\"cmd\":\"help\"})";
    }
    return p;
}

json control_server::dispatch_line(std::string_view line, bool admin) {
    parsed_request p = parse_request(line);
    json reply;
    if (!p.error.empty()) {
        ++_counters.bad_requests;
        reply = error_reply(std::move(p.error));
    } else {
        reply = dispatch(p.request, admin);
    }
    // Echo a scalar "id" so a client that pipelines requests can match replies.
    if (p.request.is_object()) {
        if (auto id = p.request.find("id"); id != p.request.end() && (id->is_string() || id->is_number())) {
            reply["id"] = *id;
        }
    }
    return reply;
}

json control_server::dispatch(const json& req, bool admin) {
    // parse_request() checked the shape: an object with a string "cmd".
    auto cmd = req.find("cmd");
    const auto& name = cmd->get_ref<const std::string&>();
    if (name == "help") {
        ++_counters.requests;
        json list = json::array();
        list.push_back({{"name", "help"}, {"help", "list the commands of this socket"}});
        for (const auto& [n, c] : _commands) {
            list.push_back({{"name", n}, {"help", c.help}});
        }
        return json{{"ok", true}, {"commands", std::move(list)}};
    }
    auto it = _commands.find(name);
    if (it == _commands.end()) {
        ++_counters.bad_requests;
        std::string shown = name.size() > 64 ? name.substr(0, 64) + "..." : name;
        return error_reply("unknown command '" + shown + "' (try help)");
    }
    if (!admin && it->second.level != access::read) {
        ++_counters.bad_requests;
        return error_reply("permission denied: '" + name + "' is for root and the daemon's user (members of "
                           "control-socket-group may read only)");
    }
    try {
        json r = it->second.fn(req);
        ++_counters.requests;
        if (!r.is_object()) {
            return json{{"ok", true}, {"result", std::move(r)}};
        }
        if (!r.contains("ok")) {
            r["ok"] = true;
        }
        return r;
    } catch (const std::exception& e) {
        ++_counters.handler_errors;
        return error_reply(e.what());
    } catch (...) {
        ++_counters.handler_errors;
        return error_reply("internal error in command '" + name + "'");
    }
}

// ---- connections ----------------------------------------------------------------------------------

void control_server::poll(int timeout_ms) {
    // Wake up in time to close the next client that goes idle.
    if (!_clients.empty()) {
        const auto now = clock::now();
        for (const auto& c : _clients) {
            auto left = std::chrono::ceil<std::chrono::milliseconds>(c->progress + _idle_timeout - now).count();
            left = std::max<decltype(left)>(left, 0);
            if (timeout_ms < 0 || left < timeout_ms) {
                timeout_ms = static_cast<int>(std::min<decltype(left)>(left, 1 << 30));
            }
        }
    }
    std::vector<pollfd> pfds;
    pfds.reserve(_clients.size() + 1);
    pfds.push_back(pollfd{_listen_fd, POLLIN, 0});
    for (const auto& c : _clients) {
        size_t pending = c->out.size() - c->out_off;
        short ev = 0;
        if (!c->read_closed && pending < control_limits::output_high_water) {
            ev |= POLLIN;
        }
        if (pending != 0) {
            ev |= POLLOUT;
        }
        pfds.push_back(pollfd{c->fd, ev, 0});
    }
    if (::poll(pfds.data(), pfds.size(), timeout_ms) <= 0) {
        close_idle(clock::now());  // timeout (or EINTR): only the idle clock may have run out
        std::erase_if(_clients, [](const std::unique_ptr<client>& c) {
            if (c->dead) {
                ::close(c->fd);
                return true;
            }
            return false;
        });
        return;
    }

    const size_t n_old = _clients.size();
    if (pfds[0].revents & POLLIN) {
        accept_clients();
    }
    for (size_t i = 0; i < _clients.size(); ++i) {
        client& c = *_clients[i];
        // Clients accepted just now are read optimistically (EAGAIN if nothing came yet).
        short rev = i < n_old ? pfds[i + 1].revents : short(POLLIN);
        if (c.dead) {
            continue;
        }
        if (rev & (POLLIN | POLLHUP | POLLERR)) {
            read_client(c);
        }
        if (!c.dead && c.out.size() != c.out_off) {
            write_client(c);
            // Replies drained below the high-water mark: requests held back can run now.
            if (!c.dead && c.out.size() - c.out_off < control_limits::output_high_water) {
                process_input(c);
                write_client(c);
            }
        }
        if (rev & POLLNVAL) {
            c.dead = true;
        }
        if (!c.dead && c.read_closed && c.out.size() == c.out_off) {
            c.dead = true;  // peer finished sending and has every reply: done
        }
    }
    close_idle(clock::now());
    std::erase_if(_clients, [](const std::unique_ptr<client>& c) {
        if (c->dead) {
            ::close(c->fd);
            return true;
        }
        return false;
    });
}

void control_server::accept_clients() {
    for (;;) {
        int fd = ::accept4(_listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            return;  // EAGAIN, or EMFILE/ENFILE (retried at the next poll)
        }
        ++_counters.clients_accepted;
        auto c = std::make_unique<client>();
        c->fd = fd;
        ucred cred{};
        socklen_t cl = sizeof cred;
        // Root and our own user may do everything; anyone else got in through the socket's
        // group (the file's mode keeps everybody else out) and may read.
        c->admin = ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 &&
                   (cred.uid == 0 || cred.uid == ::geteuid());
        c->progress = clock::now();
        // Read-only clients (control-socket-group) hold at most half the slots: they cannot lock
        // root out.
        if (!c->admin && std::count_if(_clients.begin(), _clients.end(), [](const auto& x) {
                             return !x->dead && !x->admin;
                         }) >= static_cast<long>(control_limits::max_clients / 2)) {
            drop_client(*c, "too many read-only clients");
            ::close(fd);
            continue;
        }
        size_t live = std::count_if(_clients.begin(), _clients.end(), [](const auto& x) { return !x->dead; });
        if (live >= control_limits::max_clients) {
            if (client* victim = eviction_victim()) {
                ++_counters.clients_evicted;
                drop_client(*victim, "closed to make room for a new client (this one was idle the longest)");
            } else {
                drop_client(*c, "too many clients");
                ::close(fd);
                continue;
            }
        }
        _clients.push_back(std::move(c));
    }
}

control_server::client* control_server::eviction_victim() {
    client* victim = nullptr;
    for (const auto& x : _clients) {
        // Idle: no reply pending (a client being answered is not idle, whatever it sent).
        if (!x->dead && x->out_off == x->out.size() && (victim == nullptr || x->progress < victim->progress)) {
            victim = x.get();
        }
    }
    return victim;
}

void control_server::close_idle(clock::time_point now) {
    for (const auto& c : _clients) {
        if (!c->dead && now - c->progress >= _idle_timeout) {
            ++_counters.clients_idle_closed;
            std::string why = "idle timeout (" + std::to_string(_idle_timeout.count()) +
                              " ms without a complete request)";
            drop_client(*c, why.c_str());
        }
    }
}

void control_server::read_client(client& c) {
    char buf[16384];
    // Bounded per call so one busy client cannot starve the others (the rest waits for poll).
    for (int round = 0; round < 16 && !c.read_closed && !c.dead; ++round) {
        if (c.out.size() - c.out_off >= control_limits::output_high_water) {
            return;
        }
        ssize_t r = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r > 0) {
            c.in.append(buf, size_t(r));
            process_input(c);
            continue;
        }
        if (r == 0) {
            c.read_closed = true;  // half-close: answer what we have, then close
            process_input(c);
            return;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            c.dead = true;
        }
        return;
    }
}

void control_server::process_input(client& c) {
    size_t start = 0;
    while (!c.dead && c.out.size() - c.out_off < control_limits::output_high_water) {
        size_t nl = c.in.find('\n', start);
        if (nl == std::string::npos) {
            break;
        }
        std::string_view line(c.in.data() + start, nl - start);
        start = nl + 1;
        if (line.size() > control_limits::max_request_bytes) {
            drop_client(c, "request too long");
            return;
        }
        if (line.ends_with('\r')) {
            line.remove_suffix(1);  // tolerate CRLF from interactive tools
        }
        if (line.find_first_not_of(" \t") == std::string_view::npos) {
            continue;  // blank line
        }
        queue_reply(c, dispatch_line(line, c.admin));
        c.progress = clock::now();
    }
    c.in.erase(0, start);
    size_t first = c.in.find('\n');
    if ((first == std::string::npos ? c.in.size() : first) > control_limits::max_request_bytes) {
        drop_client(c, "request too long");
        return;
    }
    // The peer half-closed after a last request without '\n': answer it too.
    if (c.read_closed && !c.dead && first == std::string::npos && !c.in.empty() &&
        c.out.size() - c.out_off < control_limits::output_high_water) {
        std::string last = std::move(c.in);
        c.in.clear();
        if (last.find_first_not_of(" \t\r") != std::string::npos) {
            queue_reply(c, dispatch_line(last, c.admin));
            c.progress = clock::now();
        }
    }
}

void control_server::queue_reply(client& c, const json& reply) {
    if (c.out_off != 0 && c.out_off == c.out.size()) {
        c.out.clear();
        c.out_off = 0;
    }
    c.out += encode(reply);
    c.out += '\n';
}

void control_server::write_client(client& c) {
    while (c.out_off < c.out.size()) {
        ssize_t w = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            c.out_off += size_t(w);
            c.progress = clock::now();  // the client reads its replies
            continue;
        }
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        c.dead = true;  // EPIPE, ECONNRESET: the client is gone
        return;
    }
    if (c.out_off == c.out.size()) {
        c.out.clear();
        c.out_off = 0;
    } else if (c.out_off >= control_limits::output_high_water) {
        c.out.erase(0, c.out_off);  // keep the buffer from growing with what was already sent
        c.out_off = 0;
    }
}

void control_server::drop_client(client& c, const char* why) {
    ++_counters.clients_dropped;
    // Best effort: tell the client why, unless a reply is half-written (it would be garbled).
    if (c.out_off == c.out.size()) {
        std::string msg = encode(error_reply(why)) + "\n";
        (void)!::send(c.fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    c.dead = true;
}

// ---- one-shot client -------------------------------------------------------------------------------

result<json, std::string> control_request(const std::string& path, const json& req, int timeout_ms) {
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + std::chrono::milliseconds(std::max(timeout_ms, 0));
    auto remaining_ms = [&] {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        return int(std::max<long long>(left, 0));
    };

    sockaddr_un addr{};
    if (!fill_addr(path, addr)) {
        return unexpected{"control socket path '" + path + "' is empty or too long"};
    }
    fd_guard fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.fd < 0) {
        return unexpected{"socket(): " + errno_string(errno)};
    }
    if (::connect(fd.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        if (errno == EAGAIN) {
            return unexpected{"cannot connect to " + path + ": the server is busy (backlog full)"};
        }
        return unexpected{"cannot connect to " + path + ": " + errno_string(errno)};
    }

    std::string out = encode(req) + "\n";
    size_t off = 0;
    while (off < out.size()) {
        ssize_t w = ::send(fd.fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += size_t(w);
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return unexpected{"cannot send to " + path + ": " + errno_string(errno)};
        }
        pollfd p{fd.fd, POLLOUT, 0};
        int left = remaining_ms();
        if (left == 0 || ::poll(&p, 1, left) == 0) {
            return unexpected{"timeout sending request to " + path};
        }
    }

    std::string in;
    char buf[65536];
    for (;;) {
        ssize_t r = ::recv(fd.fd, buf, sizeof buf, 0);
        if (r > 0) {
            size_t old = in.size();
            in.append(buf, size_t(r));
            if (size_t nl = in.find('\n', old); nl != std::string::npos) {
                in.resize(nl);
                break;
            }
            if (in.size() > control_limits::max_reply_bytes) {
                return unexpected{"reply from " + path + " is too long"};
            }
            continue;
        }
        if (r == 0) {
            if (in.empty()) {
                return unexpected{path + " closed the connection without a reply"};
            }
            break;  // a last line without '\n'
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return unexpected{"cannot read from " + path + ": " + errno_string(errno)};
        }
        pollfd p{fd.fd, POLLIN, 0};
        int left = remaining_ms();
        if (left == 0 || ::poll(&p, 1, left) == 0) {
            return unexpected{"timeout waiting for a reply from " + path};
        }
    }
    try {
        return json::parse(in);
    } catch (const json::exception& e) {
        return unexpected{"invalid reply from " + path + ": " + strip_json_prefix(e.what())};
    }
}

// ---- pid file ----------------------------------------------------------------------------------------

result<std::monostate, std::string> write_pid_file(const std::string& path, long pid) {
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    if (slash != std::string::npos && slash > 0) {
        if (auto r = make_dirs(dir, 0755); !r) {
            return unexpected{"pid file " + path + ": " + r.error()};
        }
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        return unexpected{"pid file " + path + " is a directory"};
    }
    // A fresh name in the same directory (so rename is atomic), created exclusively: O_EXCL with
    // O_CREAT fails on any existing name, a symlink included, so nothing is ever followed.
    std::string tmp;
    int fd = -1;
    for (unsigned attempt = 0; fd < 0 && attempt < 100; ++attempt) {
        tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(attempt);
        fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) {
            return unexpected{"cannot write pid file " + path + ": " + tmp + ": " + errno_string(errno)};
        }
    }
    if (fd < 0) {
        return unexpected{"cannot write pid file " + path + ": no free temporary name"};
    }
    const std::string text = std::to_string(pid) + "\n";
    bool ok = ::fchmod(fd, 0644) == 0 && ::write(fd, text.data(), text.size()) == ssize_t(text.size());
    int e = errno;
    ok = ::close(fd) == 0 && ok;
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
        e = ok ? errno : e;
        ::unlink(tmp.c_str());
        return unexpected{"cannot write pid file " + path + ": " + errno_string(e)};
    }
    return std::monostate{};
}

}  // namespace control
