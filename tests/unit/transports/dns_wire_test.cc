// SPDX-License-Identifier: MIT
// transports/dns_wire.hh: base32 against RFC 4648's vectors and its refusals; the query name's
// layout and its length bound for every domain length; queries and answers round trip for
// empty, one-byte and largest payloads and stay within 512 bytes; resolver liberties (case
// changes, an EDNS record) are accepted and everything else a dvpe server or client must not
// take is refused, also each truncation; compression pointer loops end; split + reassembler in
// order, shuffled, duplicated, with a chunk missing, under eviction and with bad chunks. Every
// message handed to a parser is a heap buffer of exactly its length, so a read past its end is
// an ASan report.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "transports/dns_wire.hh"

namespace {

using namespace transport::dns;
using bytes = std::vector<uint8_t>;

bytes payload(size_t n, uint8_t start = 0x30) {
    bytes b(n);
    for (size_t i = 0; i < n; ++i) {
        b[i] = static_cast<uint8_t>(start + i * 7);
    }
    return b;
}

bytes str_bytes(std::string_view s) { return bytes(s.begin(), s.end()); }

// parse_* on an exact-length heap copy of the first `len` bytes of `m`.
std::optional<query> pq(const bytes& m, std::string_view domain, size_t len) {
    auto buf = std::make_unique<uint8_t[]>(len == 0 ? 1 : len);
    std::copy_n(m.begin(), len, buf.get());
    return parse_query(std::span<const uint8_t>(buf.get(), len), domain);
}
std::optional<query> pq(const bytes& m, std::string_view domain) { return pq(m, domain, m.size()); }

std::optional<answer> pa(const bytes& m, size_t len) {
    auto buf = std::make_unique<uint8_t[]>(len == 0 ? 1 : len);
    std::copy_n(m.begin(), len, buf.get());
    return parse_answer(std::span<const uint8_t>(buf.get(), len));
}
std::optional<answer> pa(const bytes& m) { return pa(m, m.size()); }

// A domain of exactly `n` characters (labels of up to 63 'a'..'z', the last starting with 'z').
std::string domain_of(size_t n) {
    std::string d;
    while (d.size() < n) {
        if (!d.empty()) {
            d += '.';
        }
        const size_t label = std::min<size_t>(63, n - d.size());
        for (size_t i = 0; i < label; ++i) {
            d += static_cast<char>('a' + (d.size() % 26));
        }
    }
    if (!d.empty() && d.back() == '.') {  // n - size was 0 after a dot: never, labels fill n
        d.pop_back();
    }
    return d;
}

// A message from raw parts: a header and a question of the given labels, type and class.
bytes message(uint16_t id, uint8_t f1, uint8_t f2, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar,
              const std::vector<std::string>& labels, uint16_t type = type_txt, uint16_t cls = class_in) {
    bytes m = {static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), f1, f2,
               static_cast<uint8_t>(qd >> 8), static_cast<uint8_t>(qd), static_cast<uint8_t>(an >> 8),
               static_cast<uint8_t>(an), static_cast<uint8_t>(ns >> 8), static_cast<uint8_t>(ns),
               static_cast<uint8_t>(ar >> 8), static_cast<uint8_t>(ar)};
    for (const auto& l : labels) {
        m.push_back(static_cast<uint8_t>(l.size()));
        m.insert(m.end(), l.begin(), l.end());
    }
    m.push_back(0);
    m.push_back(static_cast<uint8_t>(type >> 8));
    m.push_back(static_cast<uint8_t>(type));
    m.push_back(static_cast<uint8_t>(cls >> 8));
    m.push_back(static_cast<uint8_t>(cls));
    return m;
}

std::vector<std::string> labels_of(std::string_view name) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= name.size()) {
        const size_t dot = std::min(name.find('.', start), name.size());
        out.emplace_back(name.substr(start, dot - start));
        start = dot + 1;
    }
    return out;
}

constexpr std::string_view dom = "t.example.org";

// ---- base32 ---------------------------------------------------------------------------------------

TEST(dns_base32, rfc4648_vectors_lowercase_unpadded) {
    const std::pair<std::string_view, std::string_view> v[] = {
        {"", ""}, {"f", "my"}, {"fo", "mzxq"}, {"foo", "mzxw6"}, {"foob", "mzxw6yq"}, {"fooba", "mzxw6ytb"},
        {"foobar", "mzxw6ytboi"},
    };
    for (const auto& [plain, enc] : v) {
        const bytes p = str_bytes(plain);
        EXPECT_EQ(base32_encode(p), enc) << plain;
        EXPECT_EQ(base32_encoded_size(p.size()), enc.size());
        const auto d = base32_decode(enc);
        ASSERT_TRUE(d) << enc;
        EXPECT_EQ(*d, p);
        std::string upper(enc);
        std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) { return c >= 'a' ? c - 32 : c; });
        const auto du = base32_decode(upper);
        ASSERT_TRUE(du) << upper;
        EXPECT_EQ(*du, p);
    }
}

TEST(dns_base32, refuses_padding_foreign_characters_bad_lengths_and_trailing_bits) {
    EXPECT_FALSE(base32_decode("my======"));
    EXPECT_FALSE(base32_decode("my="));
    for (const char* s : {"m1", "m8", "m0", "m.", "m-", "m y", "mz\x80"}) {
        EXPECT_FALSE(base32_decode(s)) << s;
    }
    for (const char* s : {"m", "mzx", "mzxw6y", "mzxw6ytbo"}) {  // 1, 3, 6, 9 = 1 (mod 8)
        EXPECT_FALSE(base32_decode(s)) << s;
    }
    EXPECT_FALSE(base32_decode("mz"));     // "f" is "my": the last 2 bits must be zero
    EXPECT_FALSE(base32_decode("mzxr"));   // "fo" is "mzxq"
    EXPECT_FALSE(base32_decode("mzxw7"));  // "foo" is "mzxw6"
}

TEST(dns_base32, random_round_trips) {
    std::mt19937 rng(7);
    for (size_t n = 0; n < 300; ++n) {
        bytes b(n);
        for (auto& x : b) {
            x = static_cast<uint8_t>(rng());
        }
        const std::string e = base32_encode(b);
        ASSERT_EQ(e.size(), base32_encoded_size(n));
        ASSERT_TRUE(std::all_of(e.begin(), e.end(),
                                [](char c) { return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'); }));
        const auto d = base32_decode(e);
        ASSERT_TRUE(d);
        ASSERT_EQ(*d, b);
    }
}

// ---- domains and the name bound ----------------------------------------------------------------------

TEST(dns_names, valid_domain) {
    for (const char* d : {"t", "t.example.org", "T.Example.ORG.", "x-1.y_2.z", "a.b.c.d.e.f"}) {
        EXPECT_TRUE(valid_domain(d)) << d;
    }
    for (const char* d : {"", ".", "..", "a..b", ".a", "a b", "a/b", "a.b..", "ex\xe4mple.org", "a,b"}) {
        EXPECT_FALSE(valid_domain(d)) << d;
    }
    EXPECT_TRUE(valid_domain(std::string(63, 'a') + ".b"));
    EXPECT_FALSE(valid_domain(std::string(64, 'a') + ".b"));
    EXPECT_TRUE(valid_domain(domain_of(253)));
    EXPECT_FALSE(valid_domain(domain_of(254)));
}

TEST(dns_names, max_query_payload_by_domain_length) {
    EXPECT_EQ(max_query_payload(domain_of(20)), 133u);
    EXPECT_EQ(max_query_payload(domain_of(20) + "."), 133u);
    EXPECT_EQ(max_query_payload(dom), 138u);
    EXPECT_EQ(max_query_payload(domain_of(229)), 5u);  // a header and one byte
    EXPECT_EQ(max_query_payload(domain_of(230)), 0u);
    EXPECT_EQ(max_query_payload(domain_of(253)), 0u);
    EXPECT_EQ(max_query_payload(""), 0u);
    EXPECT_EQ(max_query_payload("a..b"), 0u);
    EXPECT_EQ(max_query_payload(std::string(64, 'a')), 0u);
    EXPECT_EQ(min_answer_payload(domain_of(20)), 229u);
    EXPECT_EQ(min_answer_payload(domain_of(230)), 0u);
}

// For every domain length: the largest payload makes a name of at most 253 characters, one byte
// more is refused, and the name parses back.
TEST(dns_names, bound_is_exact_for_every_domain_length) {
    size_t prev = SIZE_MAX;
    for (size_t len = 1; len <= 253; ++len) {
        const std::string d = domain_of(len);
        ASSERT_TRUE(valid_domain(d)) << len;
        const size_t max = max_query_payload(d);
        EXPECT_LE(max, prev) << len;
        prev = max;
        if (max == 0) {
            EXPECT_GE(len, 230u);
            EXPECT_TRUE(query_name(d, 1, 0, {}).empty());
            EXPECT_TRUE(build_query(1, d, 1, 0, {}).empty());
            continue;
        }
        const bytes p = payload(max);
        const std::string name = query_name(d, 4095, 0xffffffff, p);
        ASSERT_FALSE(name.empty()) << len;
        EXPECT_LE(name.size(), max_name_length) << len;
        const bytes more = payload(max + 1);
        // One more byte needs a name longer than 253: the bound is tight, not just safe.
        const std::string b = base32_encode(more);
        EXPECT_GT(b.size() + (b.size() + 62) / 63 + 15 + len, max_name_length) << len;
        EXPECT_TRUE(query_name(d, 1, 0, more).empty());
        EXPECT_TRUE(build_query(1, d, 1, 0, more).empty());
        const bytes m = build_query(9, d, 4095, 0xffffffff, p);
        ASSERT_FALSE(m.empty());
        EXPECT_LE(m.size(), header_size + 255 + 4);
        const auto q = pq(m, d);
        ASSERT_TRUE(q) << len;
        EXPECT_EQ(q->data, p);
        // The longest question of the domain leaves min_answer_payload(), at least the floor.
        EXPECT_EQ(max_answer_payload(*q), min_answer_payload(d)) << len;
        EXPECT_GE(min_answer_payload(d), min_answer_payload_floor);
    }
}

TEST(dns_names, layout) {
    EXPECT_EQ(query_name(dom, 0x123, 0xdeadbeef, {}), "ndeadbeef.c123.t.example.org");
    EXPECT_EQ(query_name("T.Example.Org.", 1, 0, {}), "n00000000.c001.t.example.org");
    EXPECT_EQ(query_name(dom, 0xfff, 1, str_bytes("foobar")), "mzxw6ytboi.n00000001.cfff.t.example.org");
    EXPECT_TRUE(query_name(dom, 0, 1, {}).empty());
    EXPECT_TRUE(query_name(dom, 4096, 1, {}).empty());
    // 40 bytes are 64 characters: a full label and one more.
    const std::string n = query_name(dom, 2, 3, payload(40));
    const auto l = labels_of(n);
    ASSERT_EQ(l.size(), 2u + 2u + 3u);
    EXPECT_EQ(l[0].size(), 63u);
    EXPECT_EQ(l[1].size(), 1u);
    EXPECT_EQ(l[2], "n00000003");
    EXPECT_EQ(l[3], "c002");
}

// ---- queries ------------------------------------------------------------------------------------------

TEST(dns_query, header_and_question_bytes) {
    const bytes m = build_query(0xbeef, dom, 0x0a5, 0x01020304, str_bytes("f"));
    const bytes want_head = {0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    ASSERT_GE(m.size(), 12u);
    EXPECT_EQ(bytes(m.begin(), m.begin() + 12), want_head);
    bytes q;
    for (const auto& l : labels_of("my.n01020304.c0a5.t.example.org")) {
        q.push_back(static_cast<uint8_t>(l.size()));
        q.insert(q.end(), l.begin(), l.end());
    }
    q.insert(q.end(), {0, 0, 16, 0, 1});
    EXPECT_EQ(bytes(m.begin() + 12, m.end()), q);
}

TEST(dns_query, round_trips_empty_one_and_max_for_several_domains) {
    for (const std::string& d : {std::string(dom), domain_of(20), domain_of(100), domain_of(200), domain_of(229),
                                 std::string("x")}) {
        const size_t max = max_query_payload(d);
        ASSERT_GT(max, 0u) << d;
        for (const size_t n : {size_t{0}, size_t{1}, max / 2, max - 1, max}) {
            const bytes p = payload(n, static_cast<uint8_t>(n));
            const uint32_t nonce = static_cast<uint32_t>(n) * 0x01010101u;
            const bytes m = build_query(static_cast<uint16_t>(n * 31), d, 77, nonce, p);
            ASSERT_FALSE(m.empty()) << d << " " << n;
            const auto q = pq(m, d);
            ASSERT_TRUE(q) << d << " " << n;
            EXPECT_EQ(q->id, static_cast<uint16_t>(n * 31));
            EXPECT_EQ(q->client, 77);
            EXPECT_EQ(q->nonce, nonce);
            EXPECT_EQ(q->data, p);
            EXPECT_TRUE(q->rd);
            EXPECT_EQ(q->question, bytes(m.begin() + 12, m.end()));
            // The domain given with a final dot or in capitals reads the same query.
            std::string upper = d + ".";
            std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) { return c >= 'a' ? c - 32 : c; });
            const auto q2 = pq(m, upper);
            ASSERT_TRUE(q2);
            EXPECT_EQ(q2->data, p);
        }
    }
}

TEST(dns_query, client_and_nonce_extremes) {
    for (const uint16_t c : {uint16_t{1}, uint16_t{0xabc}, uint16_t{4095}}) {
        for (const uint32_t n : {0u, 0x89abcdefu, 0xffffffffu}) {
            const auto q = pq(build_query(1, dom, c, n, {}), dom);
            ASSERT_TRUE(q);
            EXPECT_EQ(q->client, c);
            EXPECT_EQ(q->nonce, n);
            EXPECT_TRUE(q->data.empty());
        }
    }
}

TEST(dns_query, mixed_case_names_parse_and_the_question_keeps_its_case) {
    const bytes p = payload(100);
    const bytes m = build_query(5, dom, 0xabc, 0xabcdef01, p);
    std::mt19937 rng(3);
    for (int round = 0; round < 50; ++round) {
        bytes x = m;
        // 0x20 randomisation: flip the case of letters in the name at random.
        for (size_t i = 12; i + 4 < x.size(); ++i) {
            const char c = static_cast<char>(x[i]);
            if (((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) && (rng() & 1)) {
                x[i] ^= 0x20;
            }
        }
        const auto q = pq(x, dom);
        ASSERT_TRUE(q);
        EXPECT_EQ(q->data, p);
        EXPECT_EQ(q->client, 0xabc);
        EXPECT_EQ(q->nonce, 0xabcdef01u);
        EXPECT_EQ(q->question, bytes(x.begin() + 12, x.end()));
    }
}

TEST(dns_query, accepts_an_edns_record_and_rd_clear) {
    bytes m = build_query(5, dom, 1, 2, payload(10));
    m[11] = 1;  // ARCOUNT 1: an OPT record follows
    const bytes opt = {0, 0, 41, 0x10, 0x00, 0, 0, 0x80, 0, 0, 0};
    bytes with = m;
    with.insert(with.end(), opt.begin(), opt.end());
    const auto q = pq(with, dom);
    ASSERT_TRUE(q);
    EXPECT_EQ(q->data, payload(10));
    EXPECT_EQ(q->question, bytes(m.begin() + 12, m.end()));
    bytes nord = build_query(5, dom, 1, 2, {});
    nord[2] = 0;
    const auto q2 = pq(nord, dom);
    ASSERT_TRUE(q2);
    EXPECT_FALSE(q2->rd);
}

TEST(dns_query, refusals) {
    const bytes good = build_query(5, dom, 1, 2, payload(20));
    ASSERT_TRUE(pq(good, dom));
    const auto labels = labels_of(query_name(dom, 1, 2, payload(20)));
    auto mutated = [&](size_t at, uint8_t v) {
        bytes m = good;
        m[at] = v;
        return m;
    };
    EXPECT_FALSE(pq(good, "example.org.x"));
    EXPECT_FALSE(pq(good, "u.example.org"));
    EXPECT_FALSE(pq(good, "xt.example.org"));
    EXPECT_FALSE(pq(good, "t.example.or"));
    EXPECT_FALSE(pq(good, ""));
    EXPECT_FALSE(pq(good, "a..b"));
    EXPECT_FALSE(pq(mutated(2, 0x81), dom));                             // QR set
    EXPECT_FALSE(pq(mutated(2, 0x01 | (4 << 3)), dom));                  // opcode NOTIFY
    EXPECT_FALSE(pq(mutated(5, 2), dom));                                // QDCOUNT 2
    EXPECT_FALSE(pq(mutated(5, 0), dom));                                // QDCOUNT 0
    EXPECT_FALSE(pq(mutated(7, 1), dom));                                // ANCOUNT 1
    EXPECT_FALSE(pq(mutated(9, 1), dom));                                // NSCOUNT 1
    EXPECT_FALSE(pq(mutated(11, 2), dom));                               // ARCOUNT 2
    EXPECT_FALSE(pq(mutated(good.size() - 3, 1), dom));                  // type A
    EXPECT_FALSE(pq(mutated(good.size() - 1, 3), dom));                  // class CH
    EXPECT_FALSE(pq(mutated(good.size() - 4, 1), dom));                  // type 272
    EXPECT_FALSE(pq(message(5, 1, 0, 1, 0, 0, 0, labels, 255), dom));    // ANY
    EXPECT_TRUE(pq(message(5, 1, 0, 1, 0, 0, 0, labels), dom));
    auto with_label = [&](size_t i, std::string v) {
        auto l = labels;
        l[i] = std::move(v);
        return message(5, 1, 0, 1, 0, 0, 0, l);
    };
    // labels: [data][nonce][client][t][example][org]
    ASSERT_EQ(labels.size(), 6u);
    std::string not_b32 = labels[0];
    not_b32[0] = '1';
    EXPECT_FALSE(pq(with_label(0, not_b32), dom));                       // not base32
    EXPECT_FALSE(pq(with_label(0, labels[0] + "a"), dom));              // 33 characters: no byte count
    EXPECT_FALSE(pq(with_label(0, labels[0].substr(0, 31) + "9"), dom));
    EXPECT_FALSE(pq(with_label(2, "c000"), dom));                        // client 0
    EXPECT_FALSE(pq(with_label(2, "c1000"), dom));
    EXPECT_FALSE(pq(with_label(2, "c01"), dom));
    EXPECT_FALSE(pq(with_label(2, "c0g1"), dom));
    EXPECT_FALSE(pq(with_label(2, "x001"), dom));
    EXPECT_TRUE(pq(with_label(2, "CFFF"), dom));
    EXPECT_FALSE(pq(with_label(1, "n0000000"), dom));                    // 7 digits
    EXPECT_FALSE(pq(with_label(1, "n000000000"), dom));
    EXPECT_FALSE(pq(with_label(1, "m00000000"), dom));
    EXPECT_FALSE(pq(with_label(1, "n0000000z"), dom));
    EXPECT_TRUE(pq(with_label(1, "NABCDEF01"), dom));
    // Nonce or client missing, or nothing but the domain.
    EXPECT_FALSE(pq(message(5, 1, 0, 1, 0, 0, 0, {labels[0], labels[2], "t", "example", "org"}), dom));
    EXPECT_FALSE(pq(message(5, 1, 0, 1, 0, 0, 0, {labels[2], "t", "example", "org"}), dom));
    EXPECT_FALSE(pq(message(5, 1, 0, 1, 0, 0, 0, {"t", "example", "org"}), dom));
    EXPECT_FALSE(pq(message(5, 1, 0, 1, 0, 0, 0, {"example", "org"}), dom));
    EXPECT_FALSE(pq(message(5, 1, 0, 1, 0, 0, 0, {}), dom));
    // The data labels cut otherwise than query_name() cuts them.
    const std::string b = base32_encode(payload(60));  // 96 characters
    const auto cut_at = [&](size_t k) {
        return message(5, 1, 0, 1, 0, 0, 0, {b.substr(0, k), b.substr(k), "n00000000", "c001", "t", "example", "org"});
    };
    EXPECT_TRUE(pq(cut_at(63), dom));
    EXPECT_FALSE(pq(cut_at(48), dom));
    // A compression pointer in the question (to the domain, as a resolver might write it).
    bytes ptr = message(5, 1, 0, 1, 0, 0, 0, {"n00000000", "c001", "t", "example", "org"});
    const size_t name_end = ptr.size() - 4;
    bytes twice = ptr;
    twice.resize(name_end - 1 - 14);  // up to "c001": drop "t.example.org" and the root
    twice.insert(twice.end(), {0xc0, static_cast<uint8_t>(12 + 10 + 5), 0, 16, 0, 1});
    EXPECT_FALSE(pq(twice, dom));
}

TEST(dns_query, every_truncation_is_refused) {
    for (const size_t n : {size_t{0}, size_t{1}, max_query_payload(dom)}) {
        const bytes m = build_query(5, dom, 1, 2, payload(n));
        ASSERT_TRUE(pq(m, dom));
        for (size_t len = 0; len < m.size(); ++len) {
            EXPECT_FALSE(pq(m, dom, len)) << n << " cut at " << len;
        }
    }
}

TEST(dns_query, names_longer_than_255_bytes_are_refused) {
    // A 63-character label repeated, then nonce, client and domain: 4 * 64 + ... > 255.
    std::vector<std::string> l(4, std::string(63, 'a'));
    l.insert(l.end(), {"n00000000", "c001", "t", "example", "org"});
    EXPECT_FALSE(pq(message(5, 1, 0, 1, 0, 0, 0, l), dom));
    // Many one-character labels: no more labels than a 255-byte name holds.
    std::vector<std::string> many(200, "a");
    many.insert(many.end(), {"n00000000", "c001", "t", "example", "org"});
    EXPECT_FALSE(pq(message(5, 1, 0, 1, 0, 0, 0, many), dom));
}

// ---- answers ------------------------------------------------------------------------------------------

TEST(dns_answer, layout) {
    const auto q = pq(build_query(0x1234, dom, 1, 2, {}), dom);
    ASSERT_TRUE(q);
    const bytes a = build_answer(*q, str_bytes("hi"));
    const size_t qs = q->question.size();
    ASSERT_EQ(a.size(), 12 + qs + 12 + 3);
    const bytes head = {0x12, 0x34, 0x85, 0x00, 0, 1, 0, 1, 0, 0, 0, 0};
    EXPECT_EQ(bytes(a.begin(), a.begin() + 12), head);
    EXPECT_EQ(bytes(a.begin() + 12, a.begin() + 12 + static_cast<std::ptrdiff_t>(qs)), q->question);
    const bytes rr = {0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 0, 0, 3, 2, 'h', 'i'};
    EXPECT_EQ(bytes(a.begin() + 12 + static_cast<std::ptrdiff_t>(qs), a.end()), rr);
    query nord = *q;
    nord.rd = false;
    EXPECT_EQ(build_answer(nord, {})[2], 0x84);
    const bytes empty = build_answer(*q, {});
    EXPECT_EQ(bytes(empty.end() - 3, empty.end()), (bytes{0, 1, 0}));  // rdlength 1, one empty string
    EXPECT_TRUE(build_answer(query{}, {}).empty());
}

TEST(dns_answer, max_answer_payload_is_exact_for_every_question_size) {
    for (size_t qs = 1; qs <= 600; ++qs) {
        query q;
        q.question.assign(qs, 0);
        const size_t max = max_answer_payload(q);
        if (12 + qs + 12 + 1 > 512) {
            EXPECT_EQ(max, 0u) << qs;
            EXPECT_TRUE(build_answer(q, {}).empty());
            continue;
        }
        const bytes a = build_answer(q, payload(max));
        ASSERT_FALSE(a.empty()) << qs;
        EXPECT_LE(a.size(), 512u) << qs;
        EXPECT_TRUE(build_answer(q, payload(max + 1)).empty()) << qs;
        // max + 1 bytes with their length bytes would not fit.
        const size_t more = max + 1;
        EXPECT_GT(12 + qs + 12 + more + (more + 254) / 255, 512u) << qs;
    }
}

TEST(dns_answer, round_trips_and_stays_within_512_bytes) {
    for (const std::string& d : {std::string(dom), domain_of(20), domain_of(150), domain_of(229)}) {
        for (const size_t qn : {size_t{0}, size_t{1}, max_query_payload(d)}) {
            const auto q = pq(build_query(0x4242, d, 3, 4, payload(qn)), d);
            ASSERT_TRUE(q);
            const size_t max = max_answer_payload(*q);
            EXPECT_GE(max, min_answer_payload_floor);
            EXPECT_GE(max, min_answer_payload(d));
            for (const size_t n : {size_t{0}, size_t{1}, size_t{254}, size_t{255}, size_t{256}, max - 1, max}) {
                if (n > max) {
                    continue;
                }
                const bytes p = payload(n, 0x99);
                const bytes a = build_answer(*q, p);
                ASSERT_FALSE(a.empty()) << d << " " << qn << " " << n;
                EXPECT_LE(a.size(), 512u);
                const auto r = pa(a);
                ASSERT_TRUE(r) << d << " " << qn << " " << n;
                EXPECT_EQ(r->id, 0x4242);
                EXPECT_EQ(r->data, p);
            }
            EXPECT_TRUE(build_answer(*q, payload(max + 1)).empty());
        }
    }
}

TEST(dns_answer, every_truncation_is_refused) {
    const auto q = pq(build_query(5, dom, 1, 2, payload(3)), dom);
    ASSERT_TRUE(q);
    for (const size_t n : {size_t{0}, size_t{1}, size_t{300}, max_answer_payload(*q)}) {
        const bytes a = build_answer(*q, payload(n));
        ASSERT_TRUE(pa(a));
        for (size_t len = 0; len < a.size(); ++len) {
            EXPECT_FALSE(pa(a, len)) << n << " cut at " << len;
        }
    }
}

TEST(dns_answer, refusals) {
    const auto q = pq(build_query(5, dom, 1, 2, {}), dom);
    ASSERT_TRUE(q);
    const bytes good = build_answer(*q, str_bytes("data"));
    ASSERT_TRUE(pa(good));
    auto mutated = [&](size_t at, uint8_t v) {
        bytes m = good;
        m[at] = v;
        return m;
    };
    EXPECT_FALSE(pa(mutated(2, 0x05)));             // QR clear
    EXPECT_FALSE(pa(mutated(2, 0x85 | (2 << 3))));  // opcode STATUS
    EXPECT_FALSE(pa(mutated(3, 3)));                // NXDOMAIN
    EXPECT_FALSE(pa(mutated(3, 2)));                // SERVFAIL
    EXPECT_TRUE(pa(mutated(3, 0x80)));              // RA set: fine
    EXPECT_TRUE(pa(mutated(2, 0x87)));              // TC set, the record whole: fine
    EXPECT_FALSE(pa(mutated(5, 0)));                // QDCOUNT 0
    EXPECT_FALSE(pa(mutated(5, 2)));                // QDCOUNT 2 (the answer is read as a question)
    EXPECT_FALSE(pa(mutated(7, 0)));                // ANCOUNT 0
    const size_t rr = 12 + q->question.size();
    EXPECT_FALSE(pa(mutated(rr + 3, 1)));           // type A: no TXT record left
    EXPECT_FALSE(pa(mutated(rr + 5, 3)));           // class CH
    EXPECT_FALSE(pa(mutated(rr + 11, 6)));          // rdlength beyond the message
    EXPECT_FALSE(pa(mutated(rr + 12, 5)));          // string beyond the rdata
    EXPECT_FALSE(pa(mutated(rr + 12, 3)));          // string short of the rdata: a second string overruns
    EXPECT_FALSE(pa(mutated(rr + 1, 0xff)));        // answer name pointer beyond the message
    EXPECT_FALSE(pa(mutated(rr, 0x80)));            // reserved label type
    // rdlength 0.
    bytes zero(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(rr + 12));
    zero[rr + 11] = 0;
    EXPECT_FALSE(pa(zero));
    // Seven ANCOUNT records claimed, one present.
    EXPECT_TRUE(pa(mutated(7, 7)));  // the first TXT is taken before the missing ones matter
}

// A recursive resolver's answer: a CNAME and a TXT of class CH before ours, names compressed,
// several strings, an OPT record after.
TEST(dns_answer, skips_other_records_and_concatenates_strings) {
    bytes m = {0, 7, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 1};
    for (const auto& l : labels_of("n00000001.c001.t.example.org")) {
        m.push_back(static_cast<uint8_t>(l.size()));
        m.insert(m.end(), l.begin(), l.end());
    }
    m.insert(m.end(), {0, 0, 16, 0, 1});
    // CNAME to "x" + pointer to "example.org" at offset 12 + 10 + 5 + 2.
    m.insert(m.end(), {0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 9, 0, 4, 1, 'x', 0xc0, 12 + 10 + 5 + 2});
    // TXT class CH.
    m.insert(m.end(), {0xc0, 12, 0, 16, 0, 3, 0, 0, 0, 0, 0, 2, 1, 'z'});
    // Ours, at a name that is a pointer to the CNAME's target (a pointer to a pointer).
    const uint8_t cname_target = static_cast<uint8_t>(m.size() - 14 - 4);
    m.insert(m.end(), {0xc0, cname_target, 0, 16, 0, 1, 0, 0, 0, 0, 0, 8, 2, 'a', 'b', 0, 3, 'c', 'd', 'e'});
    m.insert(m.end(), {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0});
    const auto a = pa(m);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->id, 7);
    EXPECT_EQ(a->data, str_bytes("abcde"));
}

TEST(dns_answer, compression_pointer_loops_end) {
    // The question's name points at itself; two pointers at each other; a label and a pointer
    // back to it ("a.a.a..." grows past 255 bytes).
    EXPECT_FALSE(pa(bytes{0, 1, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0xc0, 12, 0, 16, 0, 1}));
    EXPECT_FALSE(pa(bytes{0, 1, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0xc0, 14, 0xc0, 12, 0, 16, 0, 1}));
    EXPECT_FALSE(pa(bytes{0, 1, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 'a', 0xc0, 12, 0, 16, 0, 1}));
    // A chain of pointers after the answer, the question's name its first link: a short chain
    // is a name like any other, one longer than the hop limit is refused.
    auto chained = [](size_t links) {
        bytes m = {0, 1, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0xc0, 0, 0, 16, 0, 1};
        m.insert(m.end(), {0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 0, 0, 2, 1, 'q'});
        m[13] = static_cast<uint8_t>(m.size());
        for (size_t i = 0; i < links; ++i) {
            const size_t next = m.size() + 2;
            m.insert(m.end(), {static_cast<uint8_t>(0xc0 | next >> 8), static_cast<uint8_t>(next)});
        }
        m.insert(m.end(), {1, 'a', 0});
        return m;
    };
    const auto ok = pa(chained(10));
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->data, str_bytes("q"));
    EXPECT_FALSE(pa(chained(100)));
    // The answer's name pointing at itself, after a good question.
    const auto q = pq(build_query(5, dom, 1, 2, {}), dom);
    ASSERT_TRUE(q);
    bytes a = build_answer(*q, str_bytes("x"));
    const size_t rr = 12 + q->question.size();
    a[rr] = 0xc0;
    a[rr + 1] = static_cast<uint8_t>(rr);
    EXPECT_FALSE(pa(a));
}

// ---- split + reassembler -------------------------------------------------------------------------------

TEST(dns_chunks, split_layout_and_limits) {
    const bytes p = payload(1000);
    const auto c = split(0x1234, p, 133);
    ASSERT_EQ(c.size(), 8u);  // 129 bytes each: 7 full, 97 in the last
    for (size_t i = 0; i < c.size(); ++i) {
        const auto h = read_chunk_header(c[i]);
        ASSERT_TRUE(h);
        EXPECT_EQ(h->seq, 0x1234);
        EXPECT_EQ(h->index, i);
        EXPECT_EQ(h->count, 8);
        EXPECT_EQ(c[i].size(), i + 1 < c.size() ? 133u : 4u + 1000u - 7u * 129u);
    }
    EXPECT_EQ(c[0][0], 0x12);
    EXPECT_EQ(c[0][1], 0x34);
    const auto e = split(1, {}, 10);
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(e[0], (bytes{0, 1, 0, 1}));
    EXPECT_TRUE(split(1, p, 4).empty());
    EXPECT_TRUE(split(1, p, 0).empty());
    EXPECT_EQ(split(1, payload(255), 5).size(), 255u);
    EXPECT_TRUE(split(1, payload(256), 5).empty());
    EXPECT_TRUE(split(1, payload(9216), 40).empty());  // 9216 / 36 = 256 chunks: too many
    EXPECT_EQ(split(1, payload(9216), 133).size(), 72u);
    EXPECT_FALSE(read_chunk_header(bytes{1, 2, 3}));
}

TEST(dns_chunks, in_order_delivers_at_the_last_chunk) {
    reassembler r;
    const bytes p = payload(1000);
    const auto c = split(7, p, 133);
    for (size_t i = 0; i + 1 < c.size(); ++i) {
        EXPECT_FALSE(r.add(c[i], 0));
    }
    EXPECT_EQ(r.held_bytes(), 7u * 129u);
    EXPECT_EQ(r.partial_count(), 1u);
    const auto out = r.add(c.back(), 0);
    ASSERT_TRUE(out);
    EXPECT_EQ(*out, p);
    EXPECT_EQ(r.held_bytes(), 0u);
    EXPECT_EQ(r.partial_count(), 0u);
    EXPECT_EQ(r.dropped(), 0u);
    // One chunk, and the empty packet.
    const auto one = r.add(split(8, payload(10), 100)[0], 0);
    ASSERT_TRUE(one);
    EXPECT_EQ(*one, payload(10));
    const auto none = r.add(split(9, {}, 100)[0], 0);
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
}

TEST(dns_chunks, shuffled_and_duplicated) {
    std::mt19937 rng(11);
    reassembler r;
    for (uint16_t seq = 0; seq < 200; ++seq) {
        const bytes p = payload(1 + rng() % 3000, static_cast<uint8_t>(seq));
        auto c = split(seq, p, 20 + rng() % 200);
        ASSERT_FALSE(c.empty());
        const size_t n = c.size();
        if (seq % 2) {
            const auto copy = c;
            c.insert(c.end(), copy.begin(), copy.end());
        }
        std::shuffle(c.begin(), c.end(), rng);
        int delivered = 0;
        size_t unique_seen = 0;
        std::vector<bool> seen(n);
        for (const auto& x : c) {
            const size_t idx = x[2];
            const bool first = !seen[idx];
            seen[idx] = true;
            unique_seen += first;
            const auto out = r.add(x, seq);
            if (out) {
                ++delivered;
                EXPECT_EQ(unique_seen, n) << "delivered before the last chunk";
                EXPECT_EQ(*out, p);
            }
        }
        EXPECT_EQ(delivered, 1) << seq;
        EXPECT_EQ(r.held_bytes(), 0u);
    }
    EXPECT_EQ(r.dropped(), 0u);
    EXPECT_GT(r.stats().duplicate, 0u);
}

TEST(dns_chunks, duplicates_after_completion_are_ignored) {
    reassembler r;
    const auto c = split(3, payload(300), 100);
    ASSERT_EQ(c.size(), 4u);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_FALSE(r.add(c[i], 100));
    }
    EXPECT_TRUE(r.add(c[3], 100));
    // A resolver's retransmission of a chunk: no new partial packet that could only time out.
    EXPECT_FALSE(r.add(c[1], 500));
    EXPECT_EQ(r.partial_count(), 0u);
    EXPECT_EQ(r.stats().duplicate, 1u);
    const auto single = split(4, payload(10), 100);
    EXPECT_TRUE(r.add(single[0], 600));
    EXPECT_FALSE(r.add(single[0], 700));  // a one-chunk packet is not delivered twice
    // After the timeout the sequence number is free again.
    EXPECT_TRUE(r.add(single[0], 600 + reassembler::default_timeout_ms));
    EXPECT_EQ(r.dropped(), 0u);
}

TEST(dns_chunks, missing_chunk_times_out) {
    reassembler r;
    const auto c = split(1, payload(500), 100);
    ASSERT_EQ(c.size(), 6u);
    for (size_t i = 0; i + 1 < c.size(); ++i) {
        EXPECT_FALSE(r.add(c[i], 1000 + i));
    }
    EXPECT_EQ(r.held_bytes(), 5u * 96u);
    r.expire(2999);
    EXPECT_EQ(r.partial_count(), 1u);
    r.expire(3000);  // 2000 ms after the first chunk
    EXPECT_EQ(r.partial_count(), 0u);
    EXPECT_EQ(r.held_bytes(), 0u);
    EXPECT_EQ(r.stats().timed_out, 1u);
    EXPECT_EQ(r.dropped(), 1u);
    // The late chunk starts a packet of its own that cannot complete.
    EXPECT_FALSE(r.add(c.back(), 3001));
    EXPECT_EQ(r.partial_count(), 1u);
    // add() expires by itself.
    EXPECT_FALSE(r.add(split(2, payload(500), 100)[0], 6000));
    EXPECT_EQ(r.stats().timed_out, 2u);
    // A clock going back expires nothing.
    EXPECT_FALSE(r.add(split(3, payload(500), 100)[0], 10));
    EXPECT_EQ(r.partial_count(), 2u);
}

TEST(dns_chunks, the_oldest_partial_packet_is_evicted) {
    reassembler r(2, 9216);
    const auto a = split(1, payload(300, 1), 100);
    const auto b = split(2, payload(300, 2), 100);
    const auto c = split(3, payload(300, 3), 100);
    EXPECT_FALSE(r.add(a[0], 10));
    EXPECT_FALSE(r.add(b[0], 20));
    EXPECT_FALSE(r.add(a[1], 30));  // still the oldest: its first chunk came first
    EXPECT_FALSE(r.add(c[0], 40));  // evicts a
    EXPECT_EQ(r.stats().evicted, 1u);
    EXPECT_EQ(r.partial_count(), 2u);
    EXPECT_EQ(r.held_bytes(), 2u * 96u);
    for (size_t i = 1; i < b.size(); ++i) {
        const auto out = r.add(b[i], 50);
        EXPECT_EQ(out.has_value(), i + 1 == b.size());
    }
    for (size_t i = 1; i < c.size(); ++i) {
        const auto out = r.add(c[i], 50);
        if (out) {
            EXPECT_EQ(*out, payload(300, 3));
        }
        EXPECT_EQ(out.has_value(), i + 1 == c.size());
    }
    EXPECT_EQ(r.partial_count(), 0u);
    // No partial packet allowed at all: only one-chunk packets pass.
    reassembler none(0, 9216);
    EXPECT_FALSE(none.add(a[0], 0));
    EXPECT_EQ(none.held_bytes(), 0u);
    EXPECT_TRUE(none.add(split(5, payload(5), 100)[0], 0));
}

TEST(dns_chunks, count_mismatch_and_bad_chunks_are_dropped) {
    reassembler r;
    const auto c = split(9, payload(300), 100);  // 4 chunks
    EXPECT_FALSE(r.add(c[0], 0));
    bytes other = c[1];
    other[3] = 5;  // count 5 for a packet of 4
    EXPECT_FALSE(r.add(other, 0));
    EXPECT_EQ(r.stats().count_mismatch, 1u);
    bytes single = c[1];
    single[2] = 0;
    single[3] = 1;  // a one-chunk packet with the same sequence
    EXPECT_FALSE(r.add(single, 0));
    EXPECT_EQ(r.stats().count_mismatch, 2u);
    EXPECT_FALSE(r.add(bytes{0, 9, 0}, 0));              // shorter than a header
    EXPECT_FALSE(r.add(bytes{0, 9, 0, 0, 1}, 0));        // count 0
    EXPECT_FALSE(r.add(bytes{0, 9, 4, 4, 1}, 0));        // index == count
    EXPECT_FALSE(r.add(bytes{0, 10, 255, 255, 1}, 0));   // index > max
    EXPECT_EQ(r.stats().bad_chunk, 4u);
    EXPECT_EQ(r.dropped(), 6u);
    for (size_t i = 1; i + 1 < c.size(); ++i) {
        EXPECT_FALSE(r.add(c[i], 0));
    }
    const auto out = r.add(c.back(), 0);
    ASSERT_TRUE(out);
    EXPECT_EQ(*out, payload(300));
}

TEST(dns_chunks, packets_larger_than_max_packet_are_dropped) {
    reassembler r(4, 250);
    const auto c = split(1, payload(300), 100);
    EXPECT_FALSE(r.add(c[0], 0));
    EXPECT_FALSE(r.add(c[1], 0));
    EXPECT_EQ(r.held_bytes(), 192u);
    EXPECT_FALSE(r.add(c[2], 0));  // 288 > 250
    EXPECT_EQ(r.stats().too_large, 1u);
    EXPECT_EQ(r.held_bytes(), 0u);
    EXPECT_EQ(r.partial_count(), 0u);
    EXPECT_FALSE(r.add(split(2, payload(251), 300)[0], 0));
    EXPECT_EQ(r.stats().too_large, 2u);
    const auto ok = r.add(split(3, payload(250), 300)[0], 0);
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->size(), 250u);
    // Exactly max_packet in three chunks passes; one byte more does not.
    const auto exact = split(4, payload(250), 100);
    ASSERT_EQ(exact.size(), 3u);
    EXPECT_FALSE(r.add(exact[0], 0));
    EXPECT_FALSE(r.add(exact[1], 0));
    const auto whole = r.add(exact[2], 0);
    ASSERT_TRUE(whole);
    EXPECT_EQ(*whole, payload(250));
    const auto over = split(5, payload(251), 100);
    for (const auto& c : over) {
        EXPECT_FALSE(r.add(c, 0));
    }
    EXPECT_EQ(r.stats().too_large, 3u);
    EXPECT_EQ(r.held_bytes(), 0u);
}

TEST(dns_chunks, memory_stays_bounded_under_random_chunks) {
    std::mt19937 rng(5);
    reassembler r(3, 500);
    uint64_t now = 0;
    for (int i = 0; i < 50000; ++i) {
        bytes c(4 + rng() % 120);
        for (auto& x : c) {
            x = static_cast<uint8_t>(rng());
        }
        c[0] = 0;
        c[1] = static_cast<uint8_t>(rng() % 8);
        c[2] = static_cast<uint8_t>(rng() % 10);
        c[3] = static_cast<uint8_t>(rng() % 10);
        now += rng() % 50;
        const auto out = r.add(c, now);
        if (out) {
            EXPECT_LE(out->size(), 500u);
        }
        ASSERT_LE(r.held_bytes(), 3u * 500u);
        ASSERT_LE(r.partial_count(), 3u);
    }
    EXPECT_GT(r.stats().evicted + r.stats().timed_out + r.stats().too_large, 0u);
}

}  // namespace
