// SPDX-License-Identifier: MIT
// HTTP CONNECT (RFC 9110 §9.3.6) for the tcp transport through a proxy, as GVPE's
// http-proxy-host / http-proxy-port / http-proxy-auth: the request a client sends, and the
// reply's status line read from whatever bytes the proxy returned. Sans-IO and DPDK-free, so
// the parser is fuzzed on its own (tests/fuzz/http_connect_fuzz.cc).
// Threads: pure functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "transports/ip.hh"

namespace control::http {

/// The largest reply head (status line and headers) a client reads before it gives up.
inline constexpr size_t max_reply_head = 8192;

/// RFC 4648 base64 with padding.
std::string base64(std::string_view in);

/// "CONNECT host:port HTTP/1.1" with a Host header and, with a non-empty `auth` ("user:pass",
/// GVPE's http-proxy-auth), basic Proxy-Authorization. IPv6 targets in brackets.
std::string connect_request(const transport::ip_address& ip, uint16_t port, std::string_view auth);

struct reply {
    enum class state : uint8_t { incomplete, done, bad };
    state st = state::incomplete;
    unsigned status = 0;       ///< done: the status code
    std::string reason;        ///< done: the reason phrase, printable ASCII only, at most 80 bytes
    size_t head_len = 0;       ///< done: bytes up to and including the blank line (what follows
                               ///< is the tunnel's)
    std::string error;         ///< bad: why, for the log
};

/// Reads the reply head at the start of `bytes` (all bytes received so far). incomplete: no
/// blank line yet within max_reply_head bytes; bad: not an HTTP/1.x status line, or no blank
/// line within max_reply_head.
reply parse_reply(std::string_view bytes);

/// What an operator should do about a refusal with `status` (a hint for the log line).
std::string_view refusal_hint(unsigned status) noexcept;

}  // namespace control::http
