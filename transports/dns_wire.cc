// SPDX-License-Identifier: MIT
// The dns transport's wire codec (see dns_wire.hh).
#include "transports/dns_wire.hh"

#include <algorithm>
#include <cstring>

namespace transport::dns {
namespace {

constexpr char b32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
constexpr char hex_digits[] = "0123456789abcdef";
constexpr size_t nonce_label_size = 9;   // "n" + 8 hex
constexpr size_t client_label_size = 4;  // "c" + 3 hex
// Two labels and their dots in front of the domain: ".nXXXXXXXX.cXXX." less the first dot.
constexpr size_t fixed_name_size = nonce_label_size + 1 + client_label_size + 1;
constexpr size_t max_wire_name = max_name_length + 2;  // first length byte and the root label
constexpr size_t answer_rr_fixed = 12;                 // pointer 2, type 2, class 2, ttl 4, rdlength 2
constexpr size_t max_txt_string = 255;
// Compression pointers followed per name: a name has at most 127 labels, so an honest message
// needs far fewer; a loop stops here.
constexpr unsigned max_pointer_hops = 64;

constexpr uint8_t flag_qr = 0x80;
constexpr uint8_t flag_aa = 0x04;
constexpr uint8_t flag_rd = 0x01;

[[nodiscard]] constexpr char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

// The base32 value of `c` (either case), or -1.
[[nodiscard]] constexpr int b32_value(char c) noexcept {
    c = lower(c);
    if (c >= 'a' && c <= 'z') {
        return c - 'a';
    }
    if (c >= '2' && c <= '7') {
        return c - '2' + 26;
    }
    return -1;
}

[[nodiscard]] constexpr int hex_value(char c) noexcept {
    c = lower(c);
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

[[nodiscard]] uint16_t load16(std::span<const uint8_t> m, size_t p) noexcept {
    return static_cast<uint16_t>(m[p] << 8 | m[p + 1]);
}

void put16(std::vector<uint8_t>& out, size_t v) {
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
}

// `domain` without its final dot, if it has one.
[[nodiscard]] std::string_view strip_dot(std::string_view domain) noexcept {
    if (!domain.empty() && domain.back() == '.') {
        domain.remove_suffix(1);
    }
    return domain;
}

// Characters the data of `n` bytes takes in the name: base32 plus one dot per 63-character label.
[[nodiscard]] size_t data_name_size(size_t n) noexcept {
    const size_t chars = base32_encoded_size(n);
    return chars + (chars + max_label_length - 1) / max_label_length;
}

// Reads the name at `pos` of `m`, following compression pointers. Returns the offset just after
// the name where it starts (after its first pointer, if any), or nullopt if it runs off the
// message, uses a reserved label type, is longer than 255 bytes or takes more than
// max_pointer_hops pointers. Every step either consumes name length or a hop: bounded.
[[nodiscard]] std::optional<size_t> skip_name(std::span<const uint8_t> m, size_t pos) noexcept {
    size_t p = pos;
    size_t end = 0;
    size_t wire = 0;
    unsigned hops = 0;
    for (;;) {
        if (p >= m.size()) {
            return std::nullopt;
        }
        const uint8_t l = m[p];
        if ((l & 0xc0) == 0xc0) {
            if (p + 1 >= m.size() || ++hops > max_pointer_hops) {
                return std::nullopt;
            }
            if (end == 0) {
                end = p + 2;
            }
            p = static_cast<size_t>(l & 0x3f) << 8 | m[p + 1];
            continue;
        }
        if ((l & 0xc0) != 0) {
            return std::nullopt;  // 0x40 / 0x80: extended label types (RFC 6891 deprecated them)
        }
        wire += 1 + size_t{l};
        if (wire > max_wire_name) {
            return std::nullopt;
        }
        if (l == 0) {
            return end != 0 ? end : p + 1;
        }
        p += 1 + size_t{l};
    }
}

}  // namespace

// ---- Chunks ------------------------------------------------------------------------------------

std::vector<std::vector<uint8_t>> split(uint16_t seq, std::span<const uint8_t> packet, size_t max_payload) {
    std::vector<std::vector<uint8_t>> out;
    if (max_payload <= chunk_header_size) {
        return out;
    }
    const size_t per = max_payload - chunk_header_size;
    const size_t count = packet.empty() ? 1 : (packet.size() + per - 1) / per;
    if (count > max_chunks) {
        return out;
    }
    out.reserve(count);
    for (size_t i = 0; i < count; ++i) {
        const size_t off = i * per;
        const size_t len = std::min(per, packet.size() - off);
        std::vector<uint8_t> c(chunk_header_size + len);
        write_chunk_header(c.data(), {seq, static_cast<uint8_t>(i), static_cast<uint8_t>(count)});
        if (len != 0) {
            std::memcpy(c.data() + chunk_header_size, packet.data() + off, len);
        }
        out.push_back(std::move(c));
    }
    return out;
}

reassembler::reassembler(size_t max_partial, size_t max_packet, uint64_t timeout_ms)
    // Chunk offsets are 32-bit: no packet of 255 chunks from DNS messages comes near that.
    : _max_partial(max_partial), _max_packet(std::min<size_t>(max_packet, UINT32_MAX)), _timeout_ms(timeout_ms) {
    _parts.reserve(std::min<size_t>(max_partial, 64));
}

bool reassembler::expired(uint64_t since_ms, uint64_t now_ms) const noexcept {
    // A clock that went back counts as no time passed.
    return now_ms >= since_ms && now_ms - since_ms >= _timeout_ms;
}

void reassembler::erase(size_t i) {
    _held -= _parts[i].bytes.size();
    _parts.erase(_parts.begin() + static_cast<std::ptrdiff_t>(i));
}

void reassembler::remember(uint16_t seq, uint8_t count, uint64_t now_ms) {
    _recent[_recent_next] = {seq, count, true, now_ms};
    _recent_next = (_recent_next + 1) % recent_size;
}

bool reassembler::recently_completed(uint16_t seq, uint8_t count, uint64_t now_ms) const noexcept {
    return std::any_of(_recent.begin(), _recent.end(), [&](const recent& r) {
        return r.valid && r.seq == seq && r.count == count && !expired(r.done_ms, now_ms);
    });
}

void reassembler::expire(uint64_t now_ms) {
    for (size_t i = _parts.size(); i-- > 0;) {
        if (expired(_parts[i].first_ms, now_ms)) {
            erase(i);
            ++_stats.timed_out;
        }
    }
}

std::optional<std::vector<uint8_t>> reassembler::add(std::span<const uint8_t> chunk_with_header, uint64_t now_ms) {
    expire(now_ms);
    const auto h = read_chunk_header(chunk_with_header);
    if (!h || h->count == 0 || h->index >= h->count) {
        ++_stats.bad_chunk;
        return std::nullopt;
    }
    const std::span<const uint8_t> body = chunk_with_header.subspan(chunk_header_size);
    size_t i = 0;
    while (i < _parts.size() && _parts[i].seq != h->seq) {
        ++i;
    }
    if (i < _parts.size()) {
        partial& p = _parts[i];
        if (p.count != h->count) {
            ++_stats.count_mismatch;
            return std::nullopt;
        }
        if (p.have.test(h->index)) {
            ++_stats.duplicate;
            return std::nullopt;
        }
    } else {
        if (recently_completed(h->seq, h->count, now_ms)) {
            ++_stats.duplicate;
            return std::nullopt;
        }
        if (body.size() > _max_packet) {
            ++_stats.too_large;
            return std::nullopt;
        }
        if (h->count == 1) {
            remember(h->seq, h->count, now_ms);
            return std::vector<uint8_t>(body.begin(), body.end());
        }
        if (_max_partial == 0) {
            ++_stats.evicted;  // no room for any partial packet: it is pushed out at once
            return std::nullopt;
        }
        if (_parts.size() >= _max_partial) {
            // The oldest first chunk; on a tie the one that started first (lower position).
            size_t oldest = 0;
            for (size_t k = 1; k < _parts.size(); ++k) {
                if (_parts[k].first_ms < _parts[oldest].first_ms) {
                    oldest = k;
                }
            }
            erase(oldest);
            ++_stats.evicted;
        }
        partial p;
        p.seq = h->seq;
        p.count = h->count;
        p.first_ms = now_ms;
        // Chunks of a packet usually have one size: room for all of them at once, within the bound.
        p.bytes.reserve(std::min(_max_packet, body.size() * h->count));
        _parts.push_back(std::move(p));
        i = _parts.size() - 1;
    }
    partial& p = _parts[i];
    if (p.bytes.size() + body.size() > _max_packet) {
        erase(i);
        ++_stats.too_large;
        return std::nullopt;
    }
    const size_t old = p.bytes.size();
    const size_t need = old + body.size();
    if (need > p.bytes.capacity()) {
        // Grow as a vector would, but never beyond the bound (need <= max_packet here).
        p.bytes.reserve(std::min(_max_packet, std::max(need, 2 * p.bytes.capacity())));
    }
    p.bytes.resize(need);
    if (!body.empty()) {
        std::memcpy(p.bytes.data() + old, body.data(), body.size());
    }
    p.off[h->index] = static_cast<uint32_t>(old);
    p.len[h->index] = static_cast<uint32_t>(body.size());
    p.have.set(h->index);
    ++p.have_count;
    _held += body.size();
    if (p.have_count < p.count) {
        return std::nullopt;
    }
    std::vector<uint8_t> whole(p.bytes.size());
    size_t at = 0;
    for (size_t k = 0; k < p.count; ++k) {
        if (p.len[k] != 0) {
            std::memcpy(whole.data() + at, p.bytes.data() + p.off[k], p.len[k]);
        }
        at += p.len[k];
    }
    remember(p.seq, p.count, now_ms);
    erase(i);
    return whole;
}

// ---- Base32 ------------------------------------------------------------------------------------

std::string base32_encode(std::span<const uint8_t> in) {
    std::string out;
    out.reserve(base32_encoded_size(in.size()));
    uint32_t acc = 0;
    unsigned bits = 0;
    for (const uint8_t b : in) {
        acc = (acc << 8 | b) & 0xfff;  // at most 4 + 8 bits pending
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out += b32_alphabet[(acc >> bits) & 31];
        }
    }
    if (bits != 0) {
        out += b32_alphabet[(acc << (5 - bits)) & 31];
    }
    return out;
}

std::optional<std::vector<uint8_t>> base32_decode(std::string_view in) {
    const size_t tail = in.size() % 8;
    if (tail == 1 || tail == 3 || tail == 6) {
        return std::nullopt;
    }
    std::vector<uint8_t> out;
    out.reserve(in.size() * 5 / 8);
    uint32_t acc = 0;
    unsigned bits = 0;
    for (const char c : in) {
        const int v = b32_value(c);
        if (v < 0) {
            return std::nullopt;
        }
        acc = (acc << 5 | static_cast<uint32_t>(v)) & 0x1fff;  // at most 7 + 5 bits pending
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<uint8_t>(acc >> bits));
        }
    }
    if ((acc & ((1U << bits) - 1)) != 0) {
        return std::nullopt;  // bits after the last byte: not what base32_encode() writes
    }
    return out;
}

// ---- Names ----------------------------------------------------------------------------------------

bool valid_domain(std::string_view domain) noexcept {
    domain = strip_dot(domain);
    if (domain.empty() || domain.size() > max_name_length) {
        return false;
    }
    size_t label = 0;
    for (const char c : domain) {
        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
            continue;
        }
        const char l = lower(c);
        if (!((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '-' || l == '_') ||
            ++label > max_label_length) {
            return false;
        }
    }
    return label != 0;
}

size_t max_query_payload(std::string_view domain) noexcept {
    if (!valid_domain(domain)) {
        return 0;
    }
    const size_t used = fixed_name_size + strip_dot(domain).size();
    if (used >= max_name_length) {
        return 0;
    }
    const size_t room = max_name_length - used;  // for the data labels and their dots
    // The data never exceeds 5/8 of the room; walk down from there (a few steps at most).
    size_t n = room * 5 / 8;
    while (n > 0 && data_name_size(n) > room) {
        --n;
    }
    return n > chunk_header_size ? n : 0;
}

std::string query_name(std::string_view domain, uint16_t client, uint32_t nonce, std::span<const uint8_t> data) {
    if (client < 1 || client > 4095 || data.size() > max_query_payload(domain)) {
        return {};
    }
    if (data.empty() && max_query_payload(domain) == 0) {
        return {};  // the domain is unusable, even for a poll
    }
    std::string name;
    name.reserve(max_name_length);
    const std::string b = base32_encode(data);
    for (size_t i = 0; i < b.size(); i += max_label_length) {
        name.append(b, i, max_label_length);
        name += '.';
    }
    name += 'n';
    for (int s = 28; s >= 0; s -= 4) {
        name += hex_digits[(nonce >> s) & 15];
    }
    name += ".c";
    for (int s = 8; s >= 0; s -= 4) {
        name += hex_digits[(client >> s) & 15];
    }
    name += '.';
    for (const char c : strip_dot(domain)) {
        name += lower(c);
    }
    return name;
}

// ---- Queries ----------------------------------------------------------------------------------------

std::vector<uint8_t> build_query(uint16_t id, std::string_view domain, uint16_t client, uint32_t nonce,
                                 std::span<const uint8_t> data) {
    const std::string name = query_name(domain, client, nonce, data);
    if (name.empty()) {
        return {};
    }
    std::vector<uint8_t> m;
    m.reserve(header_size + name.size() + 2 + 4);
    put16(m, id);
    m.push_back(flag_rd);  // QR 0, opcode 0, RD: the resolver must recurse to the server
    m.push_back(0);
    put16(m, 1);  // QDCOUNT
    put16(m, 0);
    put16(m, 0);
    put16(m, 0);
    size_t start = 0;
    while (start <= name.size()) {
        const size_t dot = std::min(name.find('.', start), name.size());
        m.push_back(static_cast<uint8_t>(dot - start));
        m.insert(m.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
                 name.begin() + static_cast<std::ptrdiff_t>(dot));
        start = dot + 1;
    }
    m.push_back(0);
    put16(m, type_txt);
    put16(m, class_in);
    return m;
}

std::optional<query> parse_query(std::span<const uint8_t> msg, std::string_view domain) {
    if (msg.size() < header_size || max_query_payload(domain) == 0) {
        return std::nullopt;
    }
    const uint8_t f1 = msg[2];
    if ((f1 & flag_qr) != 0 || ((f1 >> 3) & 0x0f) != 0 || load16(msg, 4) != 1 || load16(msg, 6) != 0 ||
        load16(msg, 8) != 0 || load16(msg, 10) > 1) {
        return std::nullopt;
    }
    // The question's labels, as (offset, length); uncompressed, at most 255 bytes, so <= 127 labels.
    struct label {
        size_t off;
        size_t len;
    };
    std::array<label, 128> labels{};
    size_t n_labels = 0;
    size_t p = header_size;
    for (;;) {
        if (p >= msg.size()) {
            return std::nullopt;
        }
        const uint8_t l = msg[p];
        if ((l & 0xc0) != 0) {
            return std::nullopt;  // a compression pointer or a reserved label type
        }
        // The name so far with this label, plus the root label still to come.
        if (p - header_size + 1 + l + (l != 0 ? 1 : 0) > max_wire_name) {
            return std::nullopt;
        }
        if (l == 0) {
            ++p;
            break;
        }
        if (p + 1 + l > msg.size() || n_labels == labels.size()) {
            return std::nullopt;
        }
        labels[n_labels++] = {p + 1, l};
        p += 1 + size_t{l};
    }
    if (p + 4 > msg.size() || load16(msg, p) != type_txt || load16(msg, p + 2) != class_in) {
        return std::nullopt;
    }
    const size_t question_end = p + 4;
    const auto text = [&](const label& l) {
        return std::string_view(reinterpret_cast<const char*>(msg.data() + l.off), l.len);
    };

    // The domain's labels, from the right.
    const std::string_view dom = strip_dot(domain);
    size_t k = n_labels;
    size_t end = dom.size();
    for (;;) {
        const size_t dot = dom.rfind('.', end - 1);
        const size_t start = dot == std::string_view::npos ? 0 : dot + 1;
        const std::string_view want = dom.substr(start, end - start);
        if (k == 0) {
            return std::nullopt;
        }
        const std::string_view got = text(labels[--k]);
        if (got.size() != want.size() ||
            !std::equal(got.begin(), got.end(), want.begin(), [](char a, char b) { return lower(a) == lower(b); })) {
            return std::nullopt;
        }
        if (start == 0) {
            break;
        }
        end = start - 1;
    }
    if (k < 2) {
        return std::nullopt;  // no nonce and client labels
    }
    query q;
    const std::string_view client = text(labels[k - 1]);
    const std::string_view nonce = text(labels[k - 2]);
    if (client.size() != client_label_size || lower(client[0]) != 'c' || nonce.size() != nonce_label_size ||
        lower(nonce[0]) != 'n') {
        return std::nullopt;
    }
    for (size_t i = 1; i < client.size(); ++i) {
        const int v = hex_value(client[i]);
        if (v < 0) {
            return std::nullopt;
        }
        q.client = static_cast<uint16_t>(q.client << 4 | v);
    }
    if (q.client < 1 || q.client > 4095) {
        return std::nullopt;
    }
    for (size_t i = 1; i < nonce.size(); ++i) {
        const int v = hex_value(nonce[i]);
        if (v < 0) {
            return std::nullopt;
        }
        q.nonce = q.nonce << 4 | static_cast<uint32_t>(v);
    }
    // Data labels: full 63-character labels but the last (query_name()'s cut, nothing else).
    const size_t n_data = k - 2;
    std::string b32;
    b32.reserve(max_name_length);
    for (size_t i = 0; i < n_data; ++i) {
        if (i + 1 < n_data && labels[i].len != max_label_length) {
            return std::nullopt;
        }
        b32 += text(labels[i]);
    }
    auto data = base32_decode(b32);
    if (!data || data->size() > max_query_payload(domain)) {
        return std::nullopt;
    }
    q.id = load16(msg, 0);
    q.rd = (f1 & flag_rd) != 0;
    q.data = std::move(*data);
    q.question.assign(msg.begin() + header_size, msg.begin() + static_cast<std::ptrdiff_t>(question_end));
    return q;
}

// ---- Answers ----------------------------------------------------------------------------------------

size_t max_answer_payload(size_t question_size) noexcept {
    const size_t fixed = header_size + question_size + answer_rr_fixed;
    if (fixed + 1 > max_udp_message) {
        return 0;
    }
    const size_t room = max_udp_message - fixed;  // data plus its length bytes
    // Each started 255-byte string costs a length byte: room = n + ceil(n / 255), n as large as can be.
    const size_t strings = (room + max_txt_string) / (max_txt_string + 1);
    return std::min(room - strings, strings * max_txt_string);
}

size_t min_answer_payload(std::string_view domain) noexcept {
    const size_t n = max_query_payload(domain);
    if (n == 0) {
        return 0;
    }
    // The longest name: data_name_size(n) + the fixed labels + the domain, as wire bytes (+ 2).
    const size_t name = data_name_size(n) + fixed_name_size + strip_dot(domain).size();
    return max_answer_payload(name + 2 + 4);
}

std::vector<uint8_t> build_answer(const query& q, std::span<const uint8_t> data) {
    const size_t strings = data.empty() ? 1 : (data.size() + max_txt_string - 1) / max_txt_string;
    const size_t rdlength = data.size() + strings;
    // The size itself, not just max_answer_payload(): an empty answer still takes a length byte.
    if (q.question.empty() || data.size() > max_answer_payload(q) ||
        header_size + q.question.size() + answer_rr_fixed + rdlength > max_udp_message) {
        return {};
    }
    std::vector<uint8_t> m;
    m.reserve(header_size + q.question.size() + answer_rr_fixed + rdlength);
    put16(m, q.id);
    m.push_back(static_cast<uint8_t>(flag_qr | flag_aa | (q.rd ? flag_rd : 0)));  // opcode 0
    m.push_back(0);  // RA 0 (an authoritative server does not recurse), RCODE 0
    put16(m, 1);     // QDCOUNT
    put16(m, 1);     // ANCOUNT
    put16(m, 0);
    put16(m, 0);
    m.insert(m.end(), q.question.begin(), q.question.end());
    m.push_back(0xc0);  // the question's name, at offset 12
    m.push_back(header_size);
    put16(m, type_txt);
    put16(m, class_in);
    put16(m, 0);  // TTL 0: nothing is cached
    put16(m, 0);
    put16(m, rdlength);
    size_t off = 0;
    for (size_t s = 0; s < strings; ++s) {
        const size_t len = std::min(max_txt_string, data.size() - off);
        m.push_back(static_cast<uint8_t>(len));
        m.insert(m.end(), data.begin() + static_cast<std::ptrdiff_t>(off),
                 data.begin() + static_cast<std::ptrdiff_t>(off + len));
        off += len;
    }
    return m;
}

std::optional<answer> parse_answer(std::span<const uint8_t> msg) {
    if (msg.size() < header_size) {
        return std::nullopt;
    }
    const uint8_t f1 = msg[2];
    const uint8_t f2 = msg[3];
    const uint16_t ancount = load16(msg, 6);
    if ((f1 & flag_qr) == 0 || ((f1 >> 3) & 0x0f) != 0 || (f2 & 0x0f) != 0 || load16(msg, 4) != 1 ||
        ancount == 0) {
        return std::nullopt;
    }
    // TC is not refused: a resolver truncates by whole records, and a record that parses whole is whole.
    auto p = skip_name(msg, header_size);
    if (!p || *p + 4 > msg.size()) {
        return std::nullopt;
    }
    size_t pos = *p + 4;
    // Each record takes at least 11 bytes of the message, so this ends within ancount and msg.size() / 11.
    for (uint16_t r = 0; r < ancount; ++r) {
        p = skip_name(msg, pos);
        if (!p || *p + 10 > msg.size()) {
            return std::nullopt;
        }
        const uint16_t type = load16(msg, *p);
        const uint16_t cls = load16(msg, *p + 2);
        const size_t rdlength = load16(msg, *p + 8);
        const size_t rdata = *p + 10;
        if (rdata + rdlength > msg.size()) {
            return std::nullopt;
        }
        if (type != type_txt || cls != class_in) {
            pos = rdata + rdlength;
            continue;
        }
        if (rdlength == 0) {
            return std::nullopt;  // TXT holds one or more character-strings (RFC 1035 3.3.14)
        }
        answer a;
        a.id = load16(msg, 0);
        a.data.reserve(rdlength);
        size_t s = rdata;
        while (s < rdata + rdlength) {
            const size_t len = msg[s];
            if (s + 1 + len > rdata + rdlength) {
                return std::nullopt;
            }
            a.data.insert(a.data.end(), msg.begin() + static_cast<std::ptrdiff_t>(s + 1),
                          msg.begin() + static_cast<std::ptrdiff_t>(s + 1 + len));
            s += 1 + len;
        }
        return a;
    }
    return std::nullopt;
}

}  // namespace transport::dns
