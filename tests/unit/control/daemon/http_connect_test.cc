// SPDX-License-Identifier: MIT
// control/daemon/http_connect.hh: base64 against RFC 4648's test vectors, the exact bytes of
// CONNECT requests (IPv4, IPv6 in brackets, with and without Proxy-Authorization), and
// parse_reply() on whole, split, refused, malformed and oversized reply heads. Every input is an
// exact-length heap copy, so a read past its end is an ASan report.
#include "control/daemon/http_connect.hh"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>

namespace {

using namespace control::http;
using st = reply::state;

// parse_reply on an exact-length heap copy of `s`.
reply parse(std::string_view s) {
    auto buf = std::make_unique<char[]>(s.empty() ? 1 : s.size());
    s.copy(buf.get(), s.size());
    return parse_reply(std::string_view(buf.get(), s.size()));
}

transport::ip_address addr(const char* s) {
    const auto a = transport::ip_address::parse(s);
    EXPECT_TRUE(a.has_value()) << s;
    return a.value_or(transport::ip_address{});
}

// ---- base64 -----------------------------------------------------------------------------------

TEST(http_connect, base64_rfc4648_test_vectors) {
    EXPECT_EQ(base64(""), "");
    EXPECT_EQ(base64("f"), "Zg==");
    EXPECT_EQ(base64("fo"), "Zm8=");
    EXPECT_EQ(base64("foo"), "Zm9v");
    EXPECT_EQ(base64("foob"), "Zm9vYg==");
    EXPECT_EQ(base64("fooba"), "Zm9vYmE=");
    EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
}

TEST(http_connect, base64_all_byte_values_and_the_two_last_letters) {
    EXPECT_EQ(base64(std::string("\x00\x00\x00", 3)), "AAAA");
    EXPECT_EQ(base64("\xff\xff\xff"), "////");
    EXPECT_EQ(base64("\xfb\xef\xbe"), "++++");
    EXPECT_EQ(base64("\xff"), "/w==");
    EXPECT_EQ(base64(std::string("\x00", 1)), "AA==");
    EXPECT_EQ(base64("Aladdin:open sesame"), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");  // RFC 7617's example
    for (size_t n = 0; n < 40; ++n) {
        EXPECT_EQ(base64(std::string(n, 'x')).size(), (n + 2) / 3 * 4) << n;
    }
}

// ---- connect_request --------------------------------------------------------------------------

TEST(http_connect, connect_request_ipv4) {
    EXPECT_EQ(connect_request(addr("192.0.2.10"), 655, ""),
              "CONNECT 192.0.2.10:655 HTTP/1.1\r\n"
              "Host: 192.0.2.10:655\r\n"
              "\r\n");
    EXPECT_EQ(connect_request(addr("198.51.100.1"), 65535, "user:pass"),
              "CONNECT 198.51.100.1:65535 HTTP/1.1\r\n"
              "Host: 198.51.100.1:65535\r\n"
              "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"
              "\r\n");
}

TEST(http_connect, connect_request_ipv6_in_brackets) {
    EXPECT_EQ(connect_request(addr("2001:db8::1"), 443, ""),
              "CONNECT [2001:db8::1]:443 HTTP/1.1\r\n"
              "Host: [2001:db8::1]:443\r\n"
              "\r\n");
    EXPECT_EQ(connect_request(addr("2001:db8:0:1::ff"), 8443, "Aladdin:open sesame"),
              "CONNECT [2001:db8:0:1::ff]:8443 HTTP/1.1\r\n"
              "Host: [2001:db8:0:1::ff]:8443\r\n"
              "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"
              "\r\n");
    // An IPv4-mapped address stays an IPv6 target.
    EXPECT_EQ(connect_request(addr("::ffff:192.0.2.1"), 1, ""),
              "CONNECT [::ffff:192.0.2.1]:1 HTTP/1.1\r\n"
              "Host: [::ffff:192.0.2.1]:1\r\n"
              "\r\n");
}

// ---- parse_reply ------------------------------------------------------------------------------

TEST(http_connect, reply_200_with_tunnel_bytes_after_the_head) {
    const std::string head = "HTTP/1.1 200 Connection established\r\nProxy-Agent: test/1.0\r\n\r\n";
    const std::string tunnel("\x00\x40\x01\x02\r\n\r\nHTTP/1.1 500 no\r\n\r\n", 25);
    const reply r = parse(head + tunnel);
    ASSERT_EQ(r.st, st::done) << r.error;
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.reason, "Connection established");
    EXPECT_EQ(r.head_len, head.size());
    EXPECT_TRUE(r.error.empty());
    // The head alone: the same.
    const reply h = parse(head);
    ASSERT_EQ(h.st, st::done);
    EXPECT_EQ(h.head_len, head.size());
    // HTTP/1.0, no reason, no headers.
    const reply z = parse("HTTP/1.0 200\r\n\r\nx");
    ASSERT_EQ(z.st, st::done);
    EXPECT_EQ(z.status, 200u);
    EXPECT_EQ(z.reason, "");
    EXPECT_EQ(z.head_len, 16u);
}

TEST(http_connect, reply_407_with_its_reason) {
    const std::string head =
        "HTTP/1.1 407 Proxy Authentication Required\r\n"
        "Proxy-Authenticate: Basic realm=\"proxy\"\r\n"
        "Content-Length: 0\r\n"
        "\r\n";
    const reply r = parse(head);
    ASSERT_EQ(r.st, st::done);
    EXPECT_EQ(r.status, 407u);
    EXPECT_EQ(r.reason, "Proxy Authentication Required");
    EXPECT_EQ(r.head_len, head.size());
    EXPECT_NE(refusal_hint(407).find("http-proxy-auth"), std::string_view::npos);
    EXPECT_NE(refusal_hint(403), refusal_hint(407));
    EXPECT_EQ(refusal_hint(502), refusal_hint(504));
    EXPECT_EQ(refusal_hint(999), "see the proxy's log");
    // The status range: 1xx..5xx.
    EXPECT_EQ(parse("HTTP/1.1 100 Continue\r\n\r\n").status, 100u);
    EXPECT_EQ(parse("HTTP/1.1 599 x\r\n\r\n").status, 599u);
}

TEST(http_connect, a_reply_split_across_calls_is_incomplete_until_the_blank_line) {
    const std::string full = "HTTP/1.1 200 OK\r\nVia: 1.1 proxy\r\n\r\n";
    for (size_t n = 0; n < full.size(); ++n) {
        const reply r = parse(std::string_view(full).substr(0, n));
        EXPECT_EQ(r.st, st::incomplete) << "after " << n << " bytes";
        EXPECT_TRUE(r.error.empty());
    }
    const reply r = parse(full);
    ASSERT_EQ(r.st, st::done);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.reason, "OK");
    EXPECT_EQ(r.head_len, full.size());
    // A lone LF or a CR LF CR is not the end.
    EXPECT_EQ(parse("HTTP/1.1 200 OK\n\n").st, st::incomplete);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\n\r").st, st::incomplete);
}

TEST(http_connect, garbage_is_bad_early) {
    for (const std::string_view g : {"SSH-2.0-OpenSSH_9.6\r\n", "<html>", "http/1.1 200 OK", "HTTPS",
                                     "\x16\x03\x01\x02\x01"}) {
        const reply r = parse(g);
        EXPECT_EQ(r.st, st::bad) << g;
        EXPECT_FALSE(r.error.empty()) << g;
    }
    // Five bytes are enough to tell.
    EXPECT_EQ(parse("HTTPX").st, st::bad);
    EXPECT_EQ(parse("HTTP/").st, st::incomplete);
    EXPECT_EQ(parse("HTTP/2").st, st::incomplete);
}

TEST(http_connect, malformed_status_lines_are_bad) {
    for (const std::string_view l : {
             "HTTP/2 200\r\n\r\n",
             "HTTP/2.0 200 OK\r\n\r\n",
             "HTTP/1.1 200OK\r\n\r\n",
             "HTTP/1.1  200 OK\r\n\r\n",
             "HTTP/1.1 20 OK\r\n\r\n",
             "HTTP/1.1 2000\r\n\r\n",
             "HTTP/1.1 600 x\r\n\r\n",
             "HTTP/1.1 099 x\r\n\r\n",
             "HTTP/1.1 2x0 x\r\n\r\n",
             "HTTP/1.x 200 OK\r\n\r\n",
             "HTTP/1.1\t200 OK\r\n\r\n",
             "\r\n\r\n",
             "HTTP/1.1\r\n\r\n",
         }) {
        const reply r = parse(l);
        EXPECT_EQ(r.st, st::bad) << l;
        EXPECT_FALSE(r.error.empty()) << l;
        EXPECT_EQ(r.status, 0u) << l;
    }
    // Without its blank line a well-formed status line is only incomplete.
    EXPECT_EQ(parse("HTTP/1.1 200\r\n").st, st::incomplete);
}

TEST(http_connect, control_characters_in_the_reason_become_question_marks) {
    const std::string line = std::string("HTTP/1.1 403 No\x1b[31m\tway\x7f\x80\xff\x01!") + "\r\n\r\n";
    const reply r = parse(line);
    ASSERT_EQ(r.st, st::done);
    EXPECT_EQ(r.status, 403u);
    EXPECT_EQ(r.reason, "No?[31m?way????" "!");  // (split: "??!" would be a trigraph)
    for (const char c : r.reason) {
        EXPECT_TRUE(c >= 0x20 && c < 0x7f);
    }
    // A bare LF inside the status line is a control character too.
    const reply lf = parse("HTTP/1.1 502 Bad\nGateway\r\n\r\n");
    ASSERT_EQ(lf.st, st::done);
    EXPECT_EQ(lf.reason, "Bad?Gateway");
}

TEST(http_connect, the_reason_is_capped_at_80_bytes) {
    const std::string reason(200, 'r');
    for (const size_t n : {size_t{79}, size_t{80}, size_t{81}, size_t{200}}) {
        const reply r = parse("HTTP/1.1 503 " + reason.substr(0, n) + "\r\n\r\n");
        ASSERT_EQ(r.st, st::done) << n;
        EXPECT_EQ(r.reason, reason.substr(0, std::min<size_t>(n, 80))) << n;
    }
}

TEST(http_connect, no_blank_line_within_max_reply_head_is_bad) {
    std::string s = "HTTP/1.1 200 OK\r\n";
    while (s.size() < max_reply_head - 1) {
        s += "X-Padding: yes\r\n";
    }
    s.resize(max_reply_head - 1);
    EXPECT_EQ(parse(s).st, st::incomplete);
    s += 'x';
    ASSERT_EQ(s.size(), max_reply_head);
    const reply r = parse(s);
    EXPECT_EQ(r.st, st::bad);
    EXPECT_FALSE(r.error.empty());
    // A blank line after the bound does not rescue it.
    EXPECT_EQ(parse(s + "\r\n\r\n").st, st::bad);
    EXPECT_EQ(parse(s + std::string(10000, 'y')).st, st::bad);
}

TEST(http_connect, a_head_exactly_at_the_bound_is_done_one_byte_more_is_bad) {
    const std::string line = "HTTP/1.1 200 OK\r\n";
    std::string pad = "X-Pad: ";
    // line + pad + value + "\r\n\r\n" == max_reply_head
    pad += std::string(max_reply_head - line.size() - pad.size() - 4, 'p');
    const std::string head = line + pad + "\r\n\r\n";
    ASSERT_EQ(head.size(), max_reply_head);
    const reply r = parse(head + "tunnel bytes");
    ASSERT_EQ(r.st, st::done) << r.error;
    EXPECT_EQ(r.head_len, max_reply_head);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(parse(head).st, st::done);
    // Its prefixes are incomplete up to the last byte.
    EXPECT_EQ(parse(std::string_view(head).substr(0, max_reply_head - 1)).st, st::incomplete);

    const std::string over = line + pad + "p\r\n\r\n";
    ASSERT_EQ(over.size(), max_reply_head + 1);
    EXPECT_EQ(parse(over).st, st::bad);
    EXPECT_EQ(parse(std::string_view(over).substr(0, max_reply_head - 1)).st, st::incomplete);
    EXPECT_EQ(parse(std::string_view(over).substr(0, max_reply_head)).st, st::bad);
}

}  // namespace
