// SPDX-License-Identifier: MIT
// The control socket: a UNIX stream socket speaking newline-delimited JSON (docs/control.md).
// dvped's control thread owns one control_server and calls poll() from its loop; the server never
// blocks that thread: every fd is non-blocking, each client has its own input and output buffer,
// and a client that floods, stalls or sends garbage is answered with an error or dropped, counted,
// and never affects the others. A client that completes no request (and reads no reply) for
// idle_timeout is closed, and when the table is full a new client takes the place of the idle
// client that made progress the longest time ago, so idle connections cannot lock dvpectl out.
// Commands are registered by name (add_command); the server itself
// answers `help` and unknown commands. control_request() is the matching one-shot client used by
// dvpectl and the tests.
//
// Request:  one line, a JSON object with a string "cmd" (other fields are the arguments).
// Reply:    one line, {"ok":true, ...} or {"ok":false,"error":"message"}.
// The file is created mode 0600 (root-only, like DPDK telemetry's socket). write_pid_file() writes
// dvped's pid file next to it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/result.hh"

namespace control {

/// Limits of the control socket, named constants grouped by topic (docs/control.md "The socket").
namespace control_limits {
inline constexpr size_t max_request_bytes = 64 * 1024;  ///< one request line, without its '\n'
/// Connections at once. A new one beyond this closes the idle client (no reply pending) that made
/// progress the longest time ago; only when every client has replies pending is it refused.
inline constexpr size_t max_clients = 32;
/// A client that neither completes a request nor reads reply bytes for this long is closed
/// (a partial request does not count: a client trickling bytes is closed too).
inline constexpr std::chrono::milliseconds idle_timeout{5000};
/// Replies pending for one client above which the server stops reading its requests until the
/// client has read them (backpressure; a single reply may be larger, it is never truncated).
inline constexpr size_t output_high_water = 1024 * 1024;
/// Upper bound on a reply that control_request() accepts.
inline constexpr size_t max_reply_bytes = 256 * 1024 * 1024;
inline constexpr int listen_backlog = 16;
}  // namespace control_limits

/// One request line parsed and checked as control_server does it, with no server and no socket
/// (pure: the server's parser, exposed for tests and fuzzing). `request` is the parsed JSON (null
/// when the line is not JSON); `error` is empty for an object with a string "cmd", else the
/// message the server replies with (`{"ok":false,"error":...}`, counted as a bad request).
struct parsed_request {
    nlohmann::json request;
    std::string error;
};
parsed_request parse_request(std::string_view line);

/// Counters of one control_server (read by the daemon's own `status`, and by tests).
struct control_counters {
    uint64_t clients_accepted = 0;  ///< connections accepted (including those then refused)
    uint64_t clients_dropped = 0;   ///< closed by the server: refused, oversized request, idle, evicted
    uint64_t clients_idle_closed = 0;  ///< of those: idle for control_limits::idle_timeout
    uint64_t clients_evicted = 0;      ///< of those: closed to make room for a new client
    uint64_t requests = 0;          ///< requests answered with ok:true
    uint64_t bad_requests = 0;      ///< not JSON, not an object, no string cmd, unknown cmd
    uint64_t handler_errors = 0;    ///< a handler threw; answered with ok:false
};

/// The server. Thread: one thread only (dvped's control thread); not thread-safe.
class control_server {
public:
    /// A command handler. Gets the whole request object (with "cmd") and returns the reply.
    /// An object reply gets "ok":true added unless it sets "ok" itself; any other JSON value is
    /// wrapped as {"ok":true,"result":value}. A thrown exception becomes {"ok":false,"error":what()}.
    /// Called on the thread that calls poll(); it must not block for long.
    using handler = std::function<nlohmann::json(const nlohmann::json& request)>;

    /// Creates the socket at \p path: parent directories (mode 0755) are created; a stale socket
    /// file (nobody listening) is removed; the file gets mode 0600. Fails, without touching the
    /// file, if a live server answers there ("control socket PATH is in use") or if PATH exists
    /// and is not a socket.
    /// \returns the listening server, or a message naming the path and the reason.
    /// With \p group: the file belongs to that group with mode 0660, and its members (any
    /// client whose uid is neither root nor ours) may run the read-only commands only.
    static result<std::unique_ptr<control_server>, std::string> open(const std::string& path,
                                                                     std::optional<unsigned> group = std::nullopt);

    /// Who may run a command: everyone who can connect (read), or root and our own uid (admin).
    enum class access : uint8_t { admin, read };

    /// Closes every connection and unlinks the socket file (if it is still the one we bound).
    ~control_server();
    control_server(const control_server&) = delete;
    control_server& operator=(const control_server&) = delete;

    /// Registers (or replaces) command \p name; \p help is one line shown by `help`.
    /// `help` itself is built in and cannot be replaced.
    void add_command(std::string name, std::string help, handler h, access a = access::admin);

    /// Waits up to \p timeout_ms (0: just check, -1: forever) for activity, then accepts new
    /// clients, reads, answers every complete request and writes what the sockets accept, and
    /// closes clients idle for longer than the idle timeout (the wait ends in time for that).
    /// Returns after at most one wait; handlers run inline. EINTR just returns.
    void poll(int timeout_ms);

    /// The idle timeout (default control_limits::idle_timeout); for tests and embedders.
    void set_idle_timeout(std::chrono::milliseconds t) noexcept { _idle_timeout = t; }

    /// The listening fd, for a caller that wants to include it in its own poll set.
    [[nodiscard]] int fd() const noexcept { return _listen_fd; }
    [[nodiscard]] const std::string& path() const noexcept { return _path; }
    [[nodiscard]] size_t n_clients() const noexcept { return _clients.size(); }
    [[nodiscard]] const control_counters& counters() const noexcept { return _counters; }

    /// Answers one request line as the server would (no socket involved): the reply object.
    /// Counts requests/bad_requests/handler_errors like poll(). Exposed for tests and fuzzing.
    /// \p admin false: as a client of the socket's group (read-only commands only).
    nlohmann::json dispatch_line(std::string_view line, bool admin = true);

private:
    using clock = std::chrono::steady_clock;
    struct client {
        int fd = -1;
        clock::time_point progress;  // accepted, last complete request, or last reply bytes sent
        std::string in;          // bytes read, not yet a complete request
        std::string out;         // reply bytes not yet written
        size_t out_off = 0;      // bytes of `out` already written
        bool read_closed = false;   // peer half-closed or we stopped reading: close once flushed
        bool dead = false;          // close now
        bool admin = true;          // uid root or ours (SO_PEERCRED): every command; else read ones
    };
    struct command {
        std::string help;
        handler fn;
        access level = access::admin;
    };

    control_server(int fd, std::string path, uint64_t dev, uint64_t ino);
    void accept_clients();
    client* eviction_victim();
    void close_idle(clock::time_point now);
    void read_client(client& c);
    void process_input(client& c);
    void write_client(client& c);
    void drop_client(client& c, const char* why);
    void queue_reply(client& c, const nlohmann::json& reply);
    nlohmann::json dispatch(const nlohmann::json& request, bool admin);

    int _listen_fd;
    std::string _path;
    uint64_t _dev, _ino;  // identity of the socket file we bound, so we unlink only our own
    std::vector<std::unique_ptr<client>> _clients;
    std::map<std::string, command> _commands;
    control_counters _counters;
    std::chrono::milliseconds _idle_timeout = control_limits::idle_timeout;
};

/// One request on a fresh connection: connects to \p path, sends \p req as one line, reads one
/// reply line and closes. The whole exchange is bounded by \p timeout_ms.
/// \returns the parsed reply (ok:true or ok:false alike), or a message such as
///          "cannot connect to PATH: No such file or directory".
result<nlohmann::json, std::string> control_request(const std::string& path, const nlohmann::json& req,
                                                    int timeout_ms);

/// dvped's other runtime file: writes "PID\n" to \p path without ever following a symlink there.
/// Missing parent directories are made (0755); the pid goes to a new temporary file in the same
/// directory (O_CREAT | O_EXCL | O_NOFOLLOW, mode 0644), which is then renamed over \p path, so
/// a symlink (or a stale file) planted at \p path is replaced, never written through, and
/// readers never see a half-written file. \returns an error naming the path (e.g. a directory
/// is in the way).
result<std::monostate, std::string> write_pid_file(const std::string& path, long pid);

}  // namespace control
