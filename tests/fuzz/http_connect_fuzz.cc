// SPDX-License-Identifier: MIT
// libFuzzer target: the HTTP CONNECT reply parser (control/daemon/http_connect.hh parse_reply)
// on whatever a proxy returns, as tcp_path reads it: the input and its prefixes (every one up to
// 128 bytes, then about 250 more spread over it and around the first blank line and the
// max_reply_head bound), in increasing length, each from a heap buffer of exactly its length.
// Oracles:
//   done: the head ends in the input's first CR LF CR LF, within max_reply_head; the status is
//     100..599 and the 3 digits of an "HTTP/1.<digit> " status line, followed by SP or the
//     line's end; the reason is that line's text after the code, at most 80 bytes, printable
//     ASCII with '?' for anything else; parsing just the head gives the same (the tunnel's
//     bytes after it do not matter).
//   bad: says why; incomplete: no blank line yet, fewer than max_reply_head bytes, and fewer than
//     5 bytes or beginning "HTTP/".
//   as bytes are added: done stays done with the same result, bad stays bad.
//   Also base64() of the input (its first 512 bytes) decodes back to it, and connect_request()
//   for an address, port and credentials taken from the input is one request head: CONNECT
//   line, Host, optional Proxy-Authorization, and its only blank line at its end.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "control/daemon/http_connect.hh"
#include "tests/fuzz/fuzz_replay.hh"

namespace {

using control::http::reply;
using control::http::max_reply_head;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "http_connect_fuzz: oracle violated: %s\n", what);
    std::abort();
}

void check(bool ok, const char* what) {
    if (!ok) {
        fail(what);
    }
}

constexpr std::string_view blank = "\r\n\r\n";

reply parse_exact(std::string_view s) {
    auto buf = std::make_unique<char[]>(s.empty() ? 1 : s.size());
    s.copy(buf.get(), s.size());
    return control::http::parse_reply(std::string_view(buf.get(), s.size()));
}

bool same(const reply& a, const reply& b) {
    return a.st == b.st && a.status == b.status && a.reason == b.reason && a.head_len == b.head_len;
}

void check_one(std::string_view b, const reply& r) {
    switch (r.st) {
    case reply::state::done: {
        check(r.error.empty(), "done with an error");
        check(r.head_len >= blank.size() && r.head_len <= b.size(), "head_len outside the input");
        check(r.head_len <= max_reply_head, "head_len beyond max_reply_head");
        check(b.find(blank) == r.head_len - blank.size(), "head does not end at the first blank line");
        check(r.status >= 100 && r.status <= 599, "status out of 100..599");
        check(b.substr(0, 7) == "HTTP/1." && b.size() >= 12 && b[7] >= '0' && b[7] <= '9' && b[8] == ' ',
              "done without an HTTP/1.x status line");
        check(r.status == static_cast<unsigned>((b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0')),
              "status is not the line's digits");
        check(r.reason.size() <= 80, "reason longer than 80 bytes");
        const std::string_view line = b.substr(0, b.find("\r\n"));
        check(line.size() == 12 || (line.size() > 12 && line[12] == ' '),
              "status code not followed by SP or the line's end");
        const size_t want = line.size() > 13 ? std::min<size_t>(80, line.size() - 13) : 0;
        check(r.reason.size() == want, "reason is not the rest of the status line");
        for (size_t i = 0; i < r.reason.size(); ++i) {
            const char c = r.reason[i];
            check(c >= 0x20 && c < 0x7f, "reason not printable ASCII");
            const char src = line[13 + i];
            check(c == (src >= 0x20 && src < 0x7f ? src : '?'), "reason is not the line's text");
        }
        check(same(parse_exact(b.substr(0, r.head_len)), r), "the bytes after the head change the result");
        break;
    }
    case reply::state::bad:
        check(!r.error.empty(), "bad without a reason");
        check(r.status == 0 && r.head_len == 0 && r.reason.empty(), "bad with a result");
        break;
    case reply::state::incomplete:
        check(r.error.empty() && r.status == 0 && r.head_len == 0, "incomplete with a result");
        check(b.size() < max_reply_head, "incomplete at max_reply_head bytes");
        check(b.find(blank) == std::string_view::npos, "incomplete with a blank line");
        // parse_reply judges the first 5 bytes once it has them (fewer are incomplete, whatever they are).
        check(b.size() < 5 || b.substr(0, 5) == "HTTP/", "incomplete although it cannot be HTTP");
        break;
    default: fail("unknown state");
    }
}

// Standard base64 decoding of what base64() wrote; false if it is not canonical base64.
bool unbase64(std::string_view in, std::string& out) {
    if (in.size() % 4 != 0) {
        return false;
    }
    auto val = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    for (size_t i = 0; i < in.size(); i += 4) {
        const bool last = i + 4 == in.size();
        const int pad = (last && in[i + 3] == '=') ? (in[i + 2] == '=' ? 2 : 1) : 0;
        int v[4] = {};
        for (int k = 0; k < 4 - pad; ++k) {
            v[k] = val(in[i + static_cast<size_t>(k)]);
            if (v[k] < 0) {
                return false;
            }
        }
        const uint32_t w = static_cast<uint32_t>(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        out += static_cast<char>(w >> 16);
        if (pad < 2) {
            out += static_cast<char>(w >> 8);
        }
        if (pad < 1) {
            out += static_cast<char>(w);
        }
        if ((pad == 1 && (w & 0xff) != 0) || (pad == 2 && (w & 0xffff) != 0)) {
            return false;  // non-zero padding bits: not what an encoder writes
        }
    }
    return true;
}

void check_request(const uint8_t* data, size_t size) {
    if (size < 19) {
        return;
    }
    transport::ip_address ip;
    ip.v6 = (data[0] & 1) != 0;
    std::memcpy(ip.bytes.data(), data + 1, 16);
    if (!ip.v6) {
        std::fill(ip.bytes.begin() + 4, ip.bytes.end(), uint8_t{0});
    }
    const uint16_t port = static_cast<uint16_t>(data[17] << 8 | data[18]);
    const std::string_view auth(reinterpret_cast<const char*>(data) + 19, std::min<size_t>(size - 19, 200));
    const std::string req = control::http::connect_request(ip, port, auth);
    const std::string target = (ip.v6 ? "[" + ip.str() + "]" : ip.str()) + ":" + std::to_string(port);
    std::string want = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
    if (!auth.empty()) {
        want += "Proxy-Authorization: Basic " + control::http::base64(auth) + "\r\n";
    }
    want += "\r\n";
    check(req == want, "connect_request is not CONNECT, Host, Proxy-Authorization, blank line");
    check(req.find(blank) == req.size() - blank.size(), "connect_request has a blank line before its end");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);

    // Prefix lengths, increasing: all up to 128, then ~200 spread evenly, and around the first
    // blank line and the bound.
    std::vector<size_t> lens;
    for (size_t n = 0; n <= std::min<size_t>(size, 128); ++n) {
        lens.push_back(n);
    }
    if (size > 128) {
        const size_t step = std::max<size_t>(1, (size - 128) / 200);
        for (size_t n = 128; n <= size; n += step) {
            lens.push_back(n);
        }
        lens.push_back(size);
        const size_t e = in.find(blank);
        for (const size_t mid : {e == std::string_view::npos ? size : e, max_reply_head - blank.size()}) {
            for (size_t d = 0; d < 10; ++d) {
                if (mid + d <= size) {
                    lens.push_back(mid + d);
                }
            }
        }
    }
    std::sort(lens.begin(), lens.end());
    lens.erase(std::unique(lens.begin(), lens.end()), lens.end());

    reply prev;
    bool have_prev = false;
    for (const size_t n : lens) {
        const std::string_view b = in.substr(0, n);
        const reply r = parse_exact(b);
        check_one(b, r);
        if (have_prev) {
            if (prev.st == reply::state::done) {
                check(same(prev, r), "a done reply changed as bytes were added");
            }
            if (prev.st == reply::state::bad) {
                check(r.st == reply::state::bad, "a bad reply recovered as bytes were added");
            }
        }
        prev = r;
        have_prev = true;
    }

    const std::string_view raw = in.substr(0, 512);
    const std::string enc = control::http::base64(raw);
    check(enc.size() == (raw.size() + 2) / 3 * 4, "base64 length");
    std::string dec;
    check(unbase64(enc, dec) && dec == raw, "base64 does not decode back to its input");

    check_request(data, size);
    return 0;
}

namespace {

std::vector<std::string> crafted() {
    std::vector<std::string> v = {
        "HTTP/1.1 200 Connection established\r\n\r\n",
        "HTTP/1.1 200 Connection established\r\nProxy-Agent: squid\r\n\r\n" + std::string("\x00\x40\x01\x02\x03", 5),
        "HTTP/1.0 200 OK\r\n\r\nHTTP/1.1 500 x\r\n\r\n",
        "HTTP/1.1 200\r\n\r\n",
        "HTTP/1.1 200 \r\n\r\n",
        "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"p\"\r\n"
        "Content-Length: 0\r\n\r\n",
        "HTTP/1.1 403 Forbidden\r\n\r\n",
        "HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n<html>bad</html>",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 599 \x01\x1b[2J\x7f\xff\ttab\r\n\r\n",
        "HTTP/1.1 200 " + std::string(120, 'r') + "\r\n\r\n",
        "HTTP/2 200\r\n\r\n",
        "HTTP/2.0 200 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 600 x\r\n\r\n",
        "HTTP/1.1 099 x\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\n\n",
        "HTTP/1.1 200 OK\r\n\r",
        "\r\n\r\n",
        "SSH-2.0-OpenSSH_9.6\r\n",
        std::string("\x16\x03\x01\x02\x00\x01", 6),
        "",
        "H",
        "HTTP/",
    };
    // Around the bound: a head ending exactly at max_reply_head, one byte past it, none at all.
    const std::string line = "HTTP/1.1 200 OK\r\n";
    for (const size_t total : {max_reply_head - 1, max_reply_head, max_reply_head + 1}) {
        std::string h = line + "X-Pad: ";
        h += std::string(total - h.size() - blank.size(), 'p');
        h += blank;
        v.push_back(h + "tunnel");
    }
    std::string none = line;
    none += std::string(max_reply_head + 10 - none.size(), 'x');
    v.push_back(none);
    return v;
}

}  // namespace

// Crafted: the replies above, each truncated at every length (short ones) and with every byte
// replaced by CR, LF, space or a digit (short ones); random: a crafted reply mutated one to four
// times (byte replaced, inserted, deleted, region duplicated, cut), or random bytes of the
// characters status lines are made of.
extern "C" size_t dvpe_fuzz_generate(uint64_t iterations, uint64_t seed, dvpe_fuzz_run_fn run) {
    size_t count = 0;
    auto go = [&](std::string_view s) {
        run(reinterpret_cast<const uint8_t*>(s.data()), s.size());
        ++count;
    };
    const auto base = crafted();
    for (const auto& c : base) {
        go(c);
        if (c.size() > 200) {
            continue;
        }
        for (size_t k = 0; k < c.size(); ++k) {
            go(std::string_view(c).substr(0, k));
        }
        for (size_t i = 0; i < c.size(); ++i) {
            for (const char x : {'\r', '\n', ' ', '0', '9'}) {
                std::string m = c;
                m[i] = x;
                go(m);
            }
        }
    }
    static constexpr std::string_view alphabet = "HTTP/1.0 23456789\r\n\r\n:xX\x01\x7f\xff";
    uint64_t s = seed ^ 0x48545450ULL;
    for (uint64_t it = 0; it < iterations; ++it) {
        const uint64_t r = fuzz_replay::next(s);
        std::string m;
        if ((r & 7) != 0) {
            m = base[(r >> 8) % base.size()];
            if (m.size() > max_reply_head / 2 && (r & 0x30) != 0) {
                m = base[0];  // the big ones rarely: they cost a few hundred parses of 8 KiB each
            }
            const unsigned muts = 1 + static_cast<unsigned>((r >> 16) % 4);
            for (unsigned k = 0; k < muts; ++k) {
                const uint64_t q = fuzz_replay::next(s);
                const size_t at = m.empty() ? 0 : q % (m.size() + 1);
                const char ch = alphabet[(q >> 32) % alphabet.size()];
                switch ((q >> 24) % 5) {
                case 0:
                    if (at < m.size()) {
                        m[at] = ch;
                    }
                    break;
                case 1: m.insert(m.begin() + static_cast<long>(at), ch); break;
                case 2:
                    if (at < m.size()) {
                        m.erase(at, 1 + (q >> 40) % 4);
                    }
                    break;
                case 3:
                    if (at < m.size()) {
                        m.insert(at, m.substr(at, 1 + (q >> 40) % 16));
                    }
                    break;
                default: m.resize(at); break;
                }
            }
        } else {
            m.resize((r >> 8) % 120);
            for (auto& x : m) {
                x = alphabet[fuzz_replay::next(s) % alphabet.size()];
            }
        }
        go(m);
    }
    return count;
}
