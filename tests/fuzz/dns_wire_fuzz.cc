// SPDX-License-Identifier: MIT
// libFuzzer target: the dns transport's wire codec (transports/dns_wire.hh). Every input is used
// five ways:
//   1. as a query message, parsed for each of four domains (1, 13, 19 and 200 characters): an
//      accepted query has a client id 1..4095, at most max_query_payload(domain) bytes of data,
//      its question is the input's bytes after the header, and build_query() of its fields
//      makes that question again up to case (one name per payload); the answer to it fits 512
//      bytes, carries max_answer_payload() bytes (at least the floor) and parses back.
//   2. as an answer message: an accepted answer has the input's id and fewer data bytes than the
//      input has bytes.
//   3. as a payload: byte 0 picks the domain, client and nonce, bytes 1.. are the data (cut to
//      what fits): build_query -> parse_query gives the same fields, also with the name's
//      letters in a case pattern drawn from the input and with an EDNS record appended;
//      build_answer -> parse_answer gives the same data within 512 bytes.
//   4. as a packet: split at a max payload byte 0 picks, fed to a reassembler in an order (with
//      duplicates) drawn from the input: delivered exactly once, when its last chunk arrives,
//      equal to the input; nothing held afterwards.
//   5. as a chunk stream: records [len][time step][seq][index][count][len % 48 bytes] (small
//      fields, so sequences collide and counts disagree; a length byte >= 0xc0 cuts the chunk
//      short of its header) fed to a reassembler(3, 200) and a reassembler(0, 200), each beside
//      a reference model written from the contract: the same packets, counters, held bytes and
//      partial packets after every chunk; never more than max_partial * 200 bytes held, nothing
//      after every timeout.
// The replay main and libFuzzer pass exact-length buffers, so any read past the input is an ASan
// report.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/fuzz_replay.hh"
#include "transports/dns_wire.hh"

namespace {

namespace dns = transport::dns;
using bytes = std::vector<uint8_t>;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "dns_wire_fuzz: oracle violated: %s\n", what);
    std::abort();
}

void check(bool ok, const char* what) {
    if (!ok) {
        fail(what);
    }
}

const std::string long_domain = [] {
    std::string d;
    for (int i = 0; i < 3; ++i) {
        d += std::string(63, static_cast<char>('a' + i)) + ".";
    }
    return d + std::string(8, 'z');  // 3 * 64 + 8 = 200 characters
}();
const std::string_view domains[] = {"x", "t.example.org", "Dvpe-Tunnel.example", long_domain};

uint8_t lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? static_cast<uint8_t>(c + 32) : c; }

bool equal_nocase(std::span<const uint8_t> a, std::span<const uint8_t> b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](uint8_t x, uint8_t y) {
               return lower(x) == lower(y);
           });
}

// The answer side of an accepted query `q` for `d`, with data from `src`.
void check_answer_to(const dns::query& q, std::string_view d, std::span<const uint8_t> src) {
    const size_t max = dns::max_answer_payload(q);
    check(max >= dns::min_answer_payload_floor, "answer capacity below the floor");
    check(max >= dns::min_answer_payload(d), "answer capacity below min_answer_payload(domain)");
    const size_t n = std::min(max, src.size());
    const bytes a = dns::build_answer(q, src.first(n));
    check(!a.empty() && a.size() <= dns::max_udp_message, "answer not built or over 512 bytes");
    const auto r = dns::parse_answer(a);
    check(r && r->id == q.id, "answer does not parse back");
    check(std::equal(r->data.begin(), r->data.end(), src.begin(), src.begin() + static_cast<std::ptrdiff_t>(n)) &&
              r->data.size() == n,
          "answer data differs");
    check(std::equal(q.question.begin(), q.question.end(), a.begin() + dns::header_size), "question not echoed");
    if (max < src.size()) {
        check(dns::build_answer(q, src.first(max + 1)).empty(), "answer over capacity built");
    }
}

// 1. The input as a query.
void as_query(std::span<const uint8_t> in) {
    for (const std::string_view d : domains) {
        const auto q = dns::parse_query(in, d);
        if (!q) {
            continue;
        }
        check(in.size() >= dns::header_size + q->question.size(), "question beyond the input");
        check(q->client >= 1 && q->client <= 4095, "client id out of range");
        check(q->data.size() <= dns::max_query_payload(d), "query data over max_query_payload");
        check(q->id == (in[0] << 8 | in[1]), "query id");
        check(std::equal(q->question.begin(), q->question.end(), in.begin() + dns::header_size), "question bytes");
        check(q->question.size() <= 255 + 4, "question longer than a 255-byte name");
        const bytes m = dns::build_query(q->id, d, q->client, q->nonce, q->data);
        check(!m.empty(), "an accepted query's fields do not build");
        check(equal_nocase(std::span(m).subspan(dns::header_size), q->question),
              "an accepted question is not the one its fields build");
        check_answer_to(*q, d, in);
    }
}

// 2. The input as an answer.
void as_answer(std::span<const uint8_t> in) {
    const auto a = dns::parse_answer(in);
    if (a) {
        check(a->id == (in[0] << 8 | in[1]), "answer id");
        check(a->data.size() < in.size(), "answer data larger than the message");
    }
}

// 3. The input as a payload.
void as_payload(std::span<const uint8_t> in) {
    if (in.size() < 3) {
        return;
    }
    const uint8_t c = in[0];
    const std::string_view d = domains[c & 3];
    const uint16_t client = static_cast<uint16_t>(1 + ((in[1] << 8 | in[2]) % 4095));
    const uint32_t nonce = static_cast<uint32_t>(in.size()) * 0x9e3779b9u ^ c;
    const std::span<const uint8_t> rest = in.subspan(3);
    const size_t max = dns::max_query_payload(d);
    check(max > 0, "a fuzz domain unusable");
    const std::span<const uint8_t> p = rest.first(std::min(max, rest.size()));
    bytes m = dns::build_query(static_cast<uint16_t>(c * 257), d, client, nonce, p);
    check(!m.empty() && m.size() <= dns::header_size + 255 + 4, "query not built or too long");
    if (rest.size() > max) {
        check(dns::build_query(1, d, client, nonce, rest.first(max + 1)).empty(), "query over capacity built");
    }
    auto same = [&](const std::optional<dns::query>& q) {
        return q && q->id == c * 257 && q->client == client && q->nonce == nonce && q->data.size() == p.size() &&
               std::equal(p.begin(), p.end(), q->data.begin());
    };
    const auto q = dns::parse_query(m, d);
    check(same(q), "query does not round trip");
    check_answer_to(*q, d, rest);
    // Case changed along the name as a 0x20 resolver does, then an EDNS record appended.
    for (size_t i = dns::header_size, k = 0; i + 4 < m.size(); ++i, ++k) {
        const bool letter = (m[i] >= 'a' && m[i] <= 'z');
        if (letter && (in[k % in.size()] >> (k % 8) & 1)) {
            m[i] ^= 0x20;
        }
    }
    check(same(dns::parse_query(m, d)), "query with a changed case does not parse");
    m[11] = 1;
    m.insert(m.end(), {0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0});
    check(same(dns::parse_query(m, d)), "query with an EDNS record does not parse");
}

// 4. The input as a packet.
void as_packet(std::span<const uint8_t> in) {
    const size_t max_payload = in.empty() ? 5 : 5 + in[0] % 250;
    const uint16_t seq = in.size() < 2 ? 0 : static_cast<uint16_t>(in[1] << 8 | in[in.size() - 1]);
    const auto chunks = dns::split(seq, in, max_payload);
    const size_t per = max_payload - dns::chunk_header_size;
    const size_t want = in.empty() ? 1 : (in.size() + per - 1) / per;
    if (want > dns::max_chunks) {
        check(chunks.empty(), "more than 255 chunks");
        return;
    }
    check(chunks.size() == want, "chunk count");
    // An order and duplicates from the input: a Fisher-Yates shuffle seeded with its bytes.
    uint64_t s = 0x444e53;
    for (const uint8_t b : in) {
        s = s * 131 + b;
    }
    std::vector<size_t> order;
    for (size_t i = 0; i < chunks.size(); ++i) {
        order.push_back(i);
        if (fuzz_replay::next(s) % 4 == 0) {
            order.push_back(i);
        }
    }
    for (size_t i = order.size(); i > 1; --i) {
        std::swap(order[i - 1], order[fuzz_replay::next(s) % i]);
    }
    dns::reassembler r(2, dns::max_chunks * 250);
    std::vector<bool> seen(chunks.size());
    size_t distinct = 0;
    int delivered = 0;
    for (const size_t i : order) {
        check(chunks[i].size() <= max_payload, "chunk over max payload");
        distinct += seen[i] ? 0 : 1;
        seen[i] = true;
        const auto out = r.add(chunks[i], 1000);
        if (out) {
            ++delivered;
            check(distinct == chunks.size(), "packet delivered before its last chunk");
            check(out->size() == in.size() && std::equal(in.begin(), in.end(), out->begin()), "packet differs");
        }
    }
    check(delivered == 1, "packet not delivered exactly once");
    check(r.held_bytes() == 0 && r.partial_count() == 0, "bytes held after the packet");
    check(r.dropped() == 0, "chunks of one packet dropped");
}

// 5. The input as a chunk stream, against a reference reassembler written from the contract
// (a map per packet, a queue of completed ones) rather than the implementation's flat buffers.
class model {
public:
    model(size_t max_partial, size_t max_packet) : _max_partial(max_partial), _max_packet(max_packet) {}

    std::optional<bytes> add(std::span<const uint8_t> c, uint64_t now) {
        const uint64_t timeout = dns::reassembler::default_timeout_ms;
        auto old = [&](uint64_t t) { return now >= t && now - t >= timeout; };
        for (size_t i = _parts.size(); i-- > 0;) {
            if (old(_parts[i].first)) {
                _parts.erase(_parts.begin() + static_cast<std::ptrdiff_t>(i));
                ++st.timed_out;
            }
        }
        if (c.size() < 4 || c[3] == 0 || c[2] >= c[3]) {
            ++st.bad_chunk;
            return std::nullopt;
        }
        const uint16_t seq = static_cast<uint16_t>(c[0] << 8 | c[1]);
        const uint8_t index = c[2];
        const uint8_t count = c[3];
        const bytes body(c.begin() + 4, c.end());
        auto it = std::find_if(_parts.begin(), _parts.end(), [&](const part& p) { return p.seq == seq; });
        if (it != _parts.end()) {
            if (it->count != count) {
                ++st.count_mismatch;
                return std::nullopt;
            }
            if (it->chunks.count(index) != 0) {
                ++st.duplicate;
                return std::nullopt;
            }
        } else {
            for (const auto& d : _done) {
                if (d.seq == seq && d.count == count && !old(d.at)) {
                    ++st.duplicate;
                    return std::nullopt;
                }
            }
            if (body.size() > _max_packet) {
                ++st.too_large;
                return std::nullopt;
            }
            if (count == 1) {
                remember(seq, count, now);
                return body;
            }
            if (_max_partial == 0) {
                ++st.evicted;
                return std::nullopt;
            }
            if (_parts.size() >= _max_partial) {
                // min_element: the first of equal ones, the one that started first.
                _parts.erase(std::min_element(_parts.begin(), _parts.end(),
                                              [](const part& a, const part& b) { return a.first < b.first; }));
                ++st.evicted;
            }
            _parts.push_back({seq, count, now, {}, 0});
            it = _parts.end() - 1;
        }
        if (it->total + body.size() > _max_packet) {
            _parts.erase(it);
            ++st.too_large;
            return std::nullopt;
        }
        it->total += body.size();
        it->chunks[index] = body;
        if (it->chunks.size() < it->count) {
            return std::nullopt;
        }
        bytes whole;
        for (const auto& [i, b] : it->chunks) {
            whole.insert(whole.end(), b.begin(), b.end());
        }
        remember(seq, count, now);
        _parts.erase(it);
        return whole;
    }

    size_t held() const {
        size_t n = 0;
        for (const auto& p : _parts) {
            n += p.total;
        }
        return n;
    }
    size_t partials() const { return _parts.size(); }

    dns::reassembler::counters st;

private:
    struct part {
        uint16_t seq;
        uint8_t count;
        uint64_t first;
        std::map<uint8_t, bytes> chunks;
        size_t total;
    };
    struct done {
        uint16_t seq;
        uint8_t count;
        uint64_t at;
    };
    void remember(uint16_t seq, uint8_t count, uint64_t now) {
        _done.push_back({seq, count, now});
        if (_done.size() > dns::reassembler::recent_size) {
            _done.pop_front();
        }
    }

    size_t _max_partial;
    size_t _max_packet;
    std::vector<part> _parts;
    std::deque<done> _done;
};

bool same_counters(const dns::reassembler::counters& a, const dns::reassembler::counters& b) {
    return a.bad_chunk == b.bad_chunk && a.count_mismatch == b.count_mismatch && a.too_large == b.too_large &&
           a.timed_out == b.timed_out && a.evicted == b.evicted && a.duplicate == b.duplicate;
}

void as_chunks(std::span<const uint8_t> in) {
    // Two sizes: a small bound that eviction, size and timeout drops reach, and no partial at all.
    for (const size_t max_partial : {size_t{3}, size_t{0}}) {
        constexpr size_t max_packet = 200;
        dns::reassembler r(max_partial, max_packet);
        model m(max_partial, max_packet);
        uint64_t now = 0;
        size_t p = 0;
        while (p + 5 <= in.size()) {
            const uint8_t len_byte = in[p];
            const size_t len = std::min<size_t>(len_byte % 48, in.size() - p - 5);
            now += in[p + 1] * 16u;
            bytes c(dns::chunk_header_size + len);
            c[0] = 0;
            c[1] = in[p + 2] & 3;
            c[2] = in[p + 3] & 7;
            c[3] = in[p + 4] & 7;
            std::copy_n(in.begin() + static_cast<std::ptrdiff_t>(p + 5), len, c.begin() + 4);
            p += 5 + len;
            // A length byte with both top bits set cuts the chunk to 0..3 bytes: shorter than a header.
            const size_t size = (len_byte & 0xc0) == 0xc0 ? len_byte % 4 : c.size();
            const std::span<const uint8_t> chunk(c.data(), size);
            const auto out = r.add(chunk, now);
            const auto want = m.add(chunk, now);
            check(out.has_value() == want.has_value(), "reassembler and model disagree on delivery");
            if (out) {
                check(*out == *want, "reassembler and model deliver other bytes");
                check(out->size() <= max_packet, "packet over max_packet");
            }
            check(same_counters(r.stats(), m.st), "reassembler and model count otherwise");
            check(r.held_bytes() == m.held() && r.partial_count() == m.partials(),
                  "reassembler and model hold otherwise");
            check(r.held_bytes() <= max_partial * max_packet, "held bytes over the bound");
            check(r.partial_count() <= max_partial, "more partial packets than allowed");
        }
        r.expire(now + dns::reassembler::default_timeout_ms);
        check(r.held_bytes() == 0 && r.partial_count() == 0, "bytes held after every timeout");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::span<const uint8_t> in(data, size);
    as_query(in);
    as_answer(in);
    as_payload(in);
    as_packet(in);
    as_chunks(in);
    return 0;
}

namespace {

using gen_rng = uint64_t;

bytes random_bytes(size_t n, gen_rng& s) {
    bytes b(n);
    for (auto& x : b) {
        x = static_cast<uint8_t>(fuzz_replay::next(s));
    }
    return b;
}

// A query of `n` random data bytes for domain `d`.
bytes a_query(std::string_view d, size_t n, gen_rng& s) {
    const size_t max = dns::max_query_payload(d);
    return dns::build_query(static_cast<uint16_t>(fuzz_replay::next(s)), d,
                            static_cast<uint16_t>(1 + fuzz_replay::next(s) % 4095),
                            static_cast<uint32_t>(fuzz_replay::next(s)), random_bytes(std::min(n, max), s));
}

// An answer with `n` random data bytes to a query of `qn` bytes for domain `d`.
bytes an_answer(std::string_view d, size_t qn, size_t n, gen_rng& s) {
    const auto q = dns::parse_query(a_query(d, qn, s), d);
    if (!q) {
        return {};
    }
    return dns::build_answer(*q, random_bytes(std::min(n, dns::max_answer_payload(*q)), s));
}

// A chunk stream (as_chunks' records) of `records` chunks. Structured: each of the four
// sequences keeps one count (5..7), chunks are long and time steps short, so packets complete,
// grow past max_packet and evict each other; else every field random.
bytes a_stream(size_t records, gen_rng& s, bool structured) {
    bytes b;
    const uint64_t counts = fuzz_replay::next(s);
    for (size_t i = 0; i < records; ++i) {
        uint64_t r = fuzz_replay::next(s);
        if (structured) {
            const uint64_t seq = r >> 16 & 3;
            const uint64_t count = 5 + (counts >> (seq * 8)) % 3;
            const uint64_t index = (r >> 24) % count;
            r = (r & ~0xffffffffffULL) | (count << 32) | (index << 24) | (seq << 16) | ((r >> 8 & 3) << 8) |
                (30 + r % 18);
        }
        const uint8_t len = static_cast<uint8_t>(r % 48);
        // Now and then with the top bits set: the same length, the chunk cut short of its header.
        const uint8_t len_byte = static_cast<uint8_t>(len | ((r >> 40) % 16 == 0 ? 0xc0 : 0));
        b.insert(b.end(), {len_byte, static_cast<uint8_t>(r >> 8 & 0x1f), static_cast<uint8_t>(r >> 16),
                           static_cast<uint8_t>(r >> 24), static_cast<uint8_t>(r >> 32)});
        const auto body = random_bytes(len, s);
        b.insert(b.end(), body.begin(), body.end());
    }
    return b;
}

}  // namespace

// Crafted: queries for every fuzz domain with empty, one-byte, half and largest payloads, each
// truncated at every length and with every header bit flipped, in capitals, with EDNS; answers of
// every size class to short and long queries, truncated and bit-flipped; compression pointer
// loops; chunk streams. Random: a third mutated queries and answers, a third chunk streams, a
// third random bytes (up to 1024).
extern "C" size_t dvpe_fuzz_generate(uint64_t iterations, uint64_t seed, dvpe_fuzz_run_fn run) {
    size_t count = 0;
    gen_rng s = seed ^ 0x444e535749ULL;
    auto go = [&](const bytes& b) { run(b.data(), b.size()), ++count; };
    for (const std::string_view d : domains) {
        const size_t max = dns::max_query_payload(d);
        for (const size_t n : {size_t{0}, size_t{1}, max / 2, max}) {
            const bytes q = a_query(d, n, s);
            go(q);
            for (size_t k = 0; k < q.size(); ++k) {
                run(q.data(), k), ++count;
            }
            for (size_t i = 0; i < dns::header_size; ++i) {
                for (unsigned bit = 0; bit < 8; ++bit) {
                    bytes g = q;
                    g[i] ^= static_cast<uint8_t>(1U << bit);
                    go(g);
                }
            }
            bytes upper = q;
            for (size_t i = dns::header_size; i < upper.size(); ++i) {
                upper[i] = upper[i] >= 'a' && upper[i] <= 'z' ? static_cast<uint8_t>(upper[i] - 32) : upper[i];
            }
            go(upper);
            bytes edns = q;
            edns[11] = 1;
            edns.insert(edns.end(), {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0});
            go(edns);
            for (const size_t an : {size_t{0}, size_t{1}, size_t{255}, size_t{256}, size_t{600}}) {
                const bytes a = an_answer(d, n, an, s);
                go(a);
                for (size_t k = 0; k < a.size(); k += 1 + a.size() / 40) {
                    run(a.data(), k), ++count;
                }
                for (size_t i = 0; i < a.size(); i += 1 + a.size() / 64) {
                    bytes g = a;
                    g[i] ^= static_cast<uint8_t>(1U << (i % 8));
                    go(g);
                }
            }
        }
    }
    go({0, 1, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0xc0, 12, 0, 16, 0, 1});
    go({0, 1, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0xc0, 14, 0xc0, 12, 0, 16, 0, 1});
    go({0, 1, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 'a', 0xc0, 12, 0, 16, 0, 1});
    for (const size_t n : {size_t{1}, size_t{10}, size_t{100}, size_t{200}}) {
        go(a_stream(n, s, false));
        go(a_stream(n, s, true));
    }
    // Data labels cut otherwise than query_name() does (a 32-character first label): refused, as
    // one name per payload is what the rebuild oracle relies on.
    for (const std::string_view d : domains) {
        const bytes p = random_bytes(std::min<size_t>(60, dns::max_query_payload(d)), s);
        const std::string name = dns::query_name(d, 1, 2, p);
        for (const size_t cut : {size_t{32}, size_t{62}}) {
            bytes m = {0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
            size_t start = 0;
            bool first = true;
            while (start <= name.size()) {
                size_t dot = std::min(name.find('.', start), name.size());
                if (first && dot - start > cut) {
                    dot = start + cut;  // an extra cut, the label's rest follows as a label of its own
                }
                m.push_back(static_cast<uint8_t>(dot - start));
                m.insert(m.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
                         name.begin() + static_cast<std::ptrdiff_t>(dot));
                start = dot + (first && dot < name.size() && name[dot] != '.' ? 0 : 1);
                first = false;
            }
            m.insert(m.end(), {0, 0, 16, 0, 1});
            go(m);
        }
    }
    for (uint64_t it = 0; it < iterations; ++it) {
        const uint64_t r = fuzz_replay::next(s);
        bytes in;
        switch (r % 3) {
        case 0: {
            const std::string_view d = domains[(r >> 8) % 4];
            const size_t qn = (r >> 16) % (dns::max_query_payload(d) + 1);
            in = (r >> 24) & 1 ? an_answer(d, qn, (r >> 32) % 500, s) : a_query(d, qn, s);
            const size_t flips = (r >> 40) % 4;
            for (size_t f = 0; f < flips && !in.empty(); ++f) {
                const uint64_t v = fuzz_replay::next(s);
                in[v % in.size()] ^= static_cast<uint8_t>(1U << ((v >> 32) % 8));
            }
            if ((r >> 48) % 8 == 0 && !in.empty()) {
                in.resize(fuzz_replay::next(s) % in.size());
            }
            break;
        }
        case 1:
            in = a_stream(1 + (r >> 8) % 120, s, (r >> 16) & 1);
            break;
        default:
            in = random_bytes((r >> 8) % 1025, s);
            break;
        }
        in.resize(std::min<size_t>(in.size(), 1024));
        go(in);
    }
    return count;
}
