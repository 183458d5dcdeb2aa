// SPDX-License-Identifier: MIT
// libFuzzer target for the control socket's request handling (control/ctl/control_socket.cc) on a
// real server (a UNIX socket in a temporary directory) with a few commands registered here:
//   echo   returns the request;  throw  throws (the message from "msg");  value  returns "v"
//   (any JSON value, wrapped by the server);  refuse  sets "ok": false itself.
// The first input byte picks the mode:
//   even  the rest is one request line for control_server::dispatch_line() (no socket);
//   odd   the rest is written to a real connection in chunks of (byte 1) + 1 bytes, with a
//         half-close when bit 1 of byte 0 is set, while the server's poll() runs; what comes back
//         is read as it arrives.
// Oracles: every reply is a JSON object with a boolean "ok" and, when false, a string "error"; a
// scalar "id" of an object request is echoed; control::parse_request() (the server's pure
// parser) and dispatch_line() agree on what is refused; each dispatch_line() moves exactly one of the
// requests / bad_requests / handler_errors counters by one; over the socket, one reply per
// non-blank request line (and for a last unterminated one after a half-close), in order, and
// the server survives everything (a fresh request is answered after every input).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/ctl/control_socket.hh"
#include "tests/fuzz/fuzz_replay.hh"

namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "control_socket_fuzz: oracle violated: %s\n", what.c_str());
    std::abort();
}

struct world {
    std::string dir;
    std::unique_ptr<control::control_server> server;

    world() {
        char tmpl[] = "/tmp/dvpe-ctlfuzz-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) {
            fail("mkdtemp");
        }
        dir = tmpl;
        auto s = control::control_server::open(dir + "/ctl.sock");
        if (!s) {
            fail("open: " + s.error());
        }
        server = std::move(s.value());
        // echo may be run by a read-only client (control-socket-group); the others are admin's
        server->add_command("echo", "returns the request", [](const json& r) { return r; },
                            control::control_server::access::read);
        server->add_command("throw", "throws", [](const json& r) -> json {
            const auto m = r.find("msg");
            throw std::runtime_error(m != r.end() && m->is_string() ? m->get<std::string>() : "thrown");
        });
        server->add_command("value", "returns v", [](const json& r) { return r.value("v", json()); });
        server->add_command("refuse", "ok false", [](const json&) { return json{{"ok", false}, {"error", "no"}}; });
    }
    ~world() {
        server.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

world& the_world() {
    static world w;
    return w;
}

void check_reply(const json& reply, const json* request) {
    if (!reply.is_object()) {
        fail("reply is not an object: " + reply.dump(-1, ' ', false, json::error_handler_t::replace));
    }
    const auto ok = reply.find("ok");
    if (ok == reply.end() || !ok->is_boolean()) {
        fail("reply without a boolean ok: " + reply.dump(-1, ' ', false, json::error_handler_t::replace));
    }
    if (!ok->get<bool>()) {
        const auto e = reply.find("error");
        if (e == reply.end() || !e->is_string()) {
            fail("ok:false without an error string");
        }
    }
    if (request != nullptr && request->is_object()) {
        const auto id = request->find("id");
        if (id != request->end() && (id->is_string() || id->is_number())) {
            const auto rid = reply.find("id");
            if (rid == reply.end() || *rid != *id) {
                fail("the request's id was not echoed");
            }
        }
    }
    (void)reply.dump(-1, ' ', false, json::error_handler_t::replace);
}

uint64_t counted(const control::control_counters& c) { return c.requests + c.bad_requests + c.handler_errors; }

void direct(world& w, std::string_view line) {
    const control::control_counters c0 = w.server->counters();
    const json reply = w.server->dispatch_line(line);
    const control::control_counters& c1 = w.server->counters();
    if (counted(c1) != counted(c0) + 1) {
        fail("dispatch_line did not count the request exactly once");
    }
    // The pure parser is the server's: a line it refuses is answered with its message and
    // counted as a bad request; one it takes is dispatched (help or a command).
    const control::parsed_request p = control::parse_request(line);
    if (!p.error.empty()) {
        if (c1.bad_requests != c0.bad_requests + 1 || reply.value("error", std::string()) != p.error) {
            fail("parse_request refused the line (" + p.error + ") but the server answered otherwise");
        }
    } else if (!p.request.is_object() || !p.request.contains("cmd") || !p.request["cmd"].is_string()) {
        fail("parse_request took a line without an object and a string cmd");
    }
    check_reply(reply, &p.request);
    // The same line from a member of control-socket-group: the same reply for help, echo and
    // refused lines; an admin command is refused before it runs (its handler never sees it).
    const control::control_counters c2 = w.server->counters();
    const json ro = w.server->dispatch_line(line, false);
    const control::control_counters& c3 = w.server->counters();
    if (counted(c3) != counted(c2) + 1) {
        fail("a read-only dispatch did not count the request exactly once");
    }
    check_reply(ro, &p.request);
    if (p.error.empty()) {
        const std::string cmd = p.request["cmd"].get<std::string>();
        if (cmd == "throw" || cmd == "value" || cmd == "refuse") {
            const auto e = ro.find("error");
            if (ro.value("ok", true) || e == ro.end() || !e->is_string() ||
                e->get<std::string>().rfind("permission denied", 0) != 0 || c3.handler_errors != c2.handler_errors) {
                fail("a read-only client ran admin command " + cmd);
            }
        } else if (ro.dump() != reply.dump()) {
            fail("a read-only client got another reply than root for " + cmd);
        }
    }
}

/// Replies the server owes for `in`: non-blank complete lines, and after a half-close a last
/// unterminated line that is not blank; -1 if a line is too long (the client is dropped).
long expected_replies(std::string_view in, bool half_close) {
    long n = 0;
    size_t start = 0;
    for (;;) {
        const size_t nl = in.find('\n', start);
        std::string_view line = in.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
        if (line.size() > control::control_limits::max_request_bytes) {
            return -1;
        }
        if (nl == std::string_view::npos) {
            if (half_close && line.find_first_not_of(" \t\r") != std::string_view::npos) {
                ++n;
            }
            return n;
        }
        if (line.ends_with('\r')) {
            line.remove_suffix(1);
        }
        if (line.find_first_not_of(" \t") != std::string_view::npos) {
            ++n;
        }
        start = nl + 1;
    }
}

/// Sends `in` over a fresh connection; returns the reply lines.
std::vector<std::string> converse(world& w, std::string_view in, size_t chunk, bool half_close) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = w.server->path();
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        fail("cannot connect to the server");
    }
    std::string got;
    size_t sent = 0;
    bool shut = false, eof = false;
    int idle = 0;
    while (!eof && idle < 4) {
        bool progress = false;
        if (sent < in.size()) {
            const ssize_t k = ::send(fd, in.data() + sent, std::min(chunk, in.size() - sent), MSG_NOSIGNAL);
            if (k > 0) {
                sent += static_cast<size_t>(k);
                progress = true;
            }
        } else if (half_close && !shut) {
            ::shutdown(fd, SHUT_WR);
            shut = true;
            progress = true;
        }
        w.server->poll(0);
        char buf[65536];
        for (;;) {
            const ssize_t k = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (k > 0) {
                got.append(buf, static_cast<size_t>(k));
                progress = true;
                continue;
            }
            if (k == 0) {
                eof = true;
            }
            break;
        }
        idle = progress ? 0 : idle + 1;
    }
    ::close(fd);
    for (int i = 0; i < 4; ++i) {
        w.server->poll(0);  // the server notices the close
    }
    std::vector<std::string> lines;
    size_t start = 0;
    for (size_t nl; (nl = got.find('\n', start)) != std::string::npos; start = nl + 1) {
        lines.emplace_back(got, start, nl - start);
    }
    if (start != got.size()) {
        fail("a reply without its newline");
    }
    return lines;
}

void stream(world& w, std::string_view in, size_t chunk, bool half_close) {
    const long want = expected_replies(in, half_close);
    const std::vector<std::string> replies = converse(w, in, chunk, half_close);
    for (const std::string& r : replies) {
        json j;
        try {
            j = json::parse(r);
        } catch (const json::exception&) {
            fail("a reply that is not JSON: " + r.substr(0, 200));
        }
        check_reply(j, nullptr);
    }
    if (want >= 0 && static_cast<long>(replies.size()) != want) {
        fail("expected " + std::to_string(want) + " replies, got " + std::to_string(replies.size()));
    }
    // Still serving: a fresh client gets its answer.
    const std::vector<std::string> again = converse(w, "{\"cmd\":\"help\"}\n", 4096, true);
    if (again.size() != 1) {
        fail("the server stopped answering");
    }
    if (w.server->n_clients() != 0) {
        fail("a closed connection is still held");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    world& w = the_world();
    if (size == 0) {
        return 0;
    }
    const uint8_t mode = data[0];
    if ((mode & 1) == 0) {
        direct(w, std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
        return 0;
    }
    if (size < 2) {
        return 0;
    }
    stream(w, std::string_view(reinterpret_cast<const char*>(data + 2), size - 2), size_t{data[1]} + 1,
           (mode & 2) != 0);
    return 0;
}

// control_socket_fuzz_replay: a handful of well-formed and broken requests in both modes, then
// random ones built from JSON fragments.
extern "C" size_t dvpe_fuzz_generate(uint64_t iterations, uint64_t seed, dvpe_fuzz_run_fn run) {
    static const char* const pieces[] = {
        "{",      "}",       "[",         "]",         "\"cmd\"", ":",         ",",     "\"echo\"", "\"help\"",
        "\"throw\"", "\"value\"", "\"refuse\"", "\"id\"",  "\"v\"",   "\"msg\"",  "1",     "-1e999", "null",
        "true",   "\"\\u0000\"", "\"\\ud800\"", "\n",  "\r\n",   " ",         "\xff",  "\"x\"",   "{\"cmd\":",
    };
    size_t n = 0;
    const auto go = [&](uint8_t mode, std::string_view s) {
        std::vector<uint8_t> in = {mode, 7};
        in.insert(in.end(), s.begin(), s.end());
        run(in.data(), in.size());
        ++n;
    };
    for (uint8_t mode : {0, 1, 3}) {
        go(mode, "{\"cmd\":\"help\"}\n");
        go(mode, "{\"cmd\":\"echo\",\"id\":7}\n{\"cmd\":\"value\",\"v\":[1,2]}\r\n\n  \n{\"cmd\":\"throw\"}");
        go(mode, "{\"cmd\":\"refuse\",\"id\":\"x\"}\n{\"cmd\":42}\n[]\nnot json\n{\"cmd\":\"nope\"}\n");
        go(mode, "{\"cmd\":\"throw\",\"msg\":\"\\u00ff\"}\n{\"cmd\":\"echo\",\"id\":1.5e300}\n");
    }
    uint64_t s = seed;
    for (uint64_t i = 0; i < iterations; ++i) {
        std::string req;
        const size_t k = fuzz_replay::next(s) % 24;
        for (size_t j = 0; j < k; ++j) {
            req += pieces[fuzz_replay::next(s) % (sizeof pieces / sizeof pieces[0])];
        }
        go(static_cast<uint8_t>(fuzz_replay::next(s) % 4), req);
    }
    return n;
}
