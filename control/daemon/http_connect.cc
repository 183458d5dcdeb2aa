// SPDX-License-Identifier: MIT
#include "control/daemon/http_connect.hh"

#include <arpa/inet.h>

namespace control::http {

std::string base64(std::string_view in) {
    static constexpr char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const uint32_t v = static_cast<uint8_t>(in[i]) << 16 | static_cast<uint8_t>(in[i + 1]) << 8 |
                           static_cast<uint8_t>(in[i + 2]);
        out += tab[v >> 18];
        out += tab[(v >> 12) & 63];
        out += tab[(v >> 6) & 63];
        out += tab[v & 63];
    }
    if (const size_t rest = in.size() - i; rest != 0) {
        uint32_t v = static_cast<uint8_t>(in[i]) << 16;
        if (rest == 2) {
            v |= static_cast<uint8_t>(in[i + 1]) << 8;
        }
        out += tab[v >> 18];
        out += tab[(v >> 12) & 63];
        out += rest == 2 ? tab[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::string connect_request(const transport::ip_address& ip, uint16_t port, std::string_view auth) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(ip.v6 ? AF_INET6 : AF_INET, ip.bytes.data(), buf, sizeof(buf));
    const std::string target = (ip.v6 ? "[" + std::string(buf) + "]" : std::string(buf)) + ":" + std::to_string(port);
    std::string r = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
    if (!auth.empty()) {
        r += "Proxy-Authorization: Basic " + base64(auth) + "\r\n";
    }
    r += "\r\n";
    return r;
}

reply parse_reply(std::string_view bytes) {
    reply r;
    const size_t end = bytes.find("\r\n\r\n");
    if (end == std::string_view::npos || end + 4 > max_reply_head) {
        if (bytes.size() >= max_reply_head) {
            r.st = reply::state::bad;
            r.error = "no end of the reply head within " + std::to_string(max_reply_head) + " bytes";
        }
        // A status line that cannot be HTTP fails early, before the blank line.
        if (bytes.size() >= 5 && bytes.substr(0, 5) != "HTTP/") {
            r.st = reply::state::bad;
            r.error = "not an HTTP reply";
        }
        return r;
    }
    const std::string_view line = bytes.substr(0, bytes.find("\r\n"));
    // HTTP/1.x SP 3DIGIT [SP reason]
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
        line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' || line[11] < '0' || line[11] > '9' ||
        (line.size() > 12 && line[12] != ' ')) {
        r.st = reply::state::bad;
        r.error = "not an HTTP/1.x status line";
        return r;
    }
    r.st = reply::state::done;
    r.status = static_cast<unsigned>((line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0'));
    for (size_t i = 13; i < line.size() && r.reason.size() < 80; ++i) {
        const char c = line[i];
        r.reason += c >= 0x20 && c < 0x7f ? c : '?';  // a proxy's text never reaches the log raw
    }
    r.head_len = end + 4;
    return r;
}

std::string_view refusal_hint(unsigned status) noexcept {
    switch (status) {
    case 407: return "the proxy wants credentials: check http-proxy-auth (user:password)";
    case 403: return "the proxy forbids this target: allow CONNECT to the peer's address and tcp-port";
    case 405: return "the proxy does not allow CONNECT";
    case 502:
    case 503:
    case 504: return "the proxy could not reach the peer: is its tcp-port open?";
    default: return "see the proxy's log";
    }
}

}  // namespace control::http
