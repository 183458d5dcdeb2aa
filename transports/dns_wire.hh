// SPDX-License-Identifier: MIT
// The dns transport's wire codec (GVPE's idea, dvpe's own format): a client node that can only
// reach the world through a recursive resolver sends dvpe packets upstream inside the names of
// TXT queries for a domain whose authoritative server is another dvpe node, and receives packets
// downstream inside the TXT answers. Everything here is pure and DPDK-free; the sockets, the
// query pacing and the peer tables are the daemon's.
//
// Chunks. A dvpe packet (up to 9216 bytes) does not fit a query name (~130 bytes) or a 512-byte
// answer (~230..450 bytes), so it is cut into chunks; each chunk travels behind a 4-byte header:
//     0..1  packet sequence (big endian; the sender's own counter per peer and direction)
//     2     chunk index (0 .. count - 1)
//     3     chunk count (1 .. 255)
//
// Upstream (query). The question is a TXT/IN query for
//     <data labels>.<nonce label>.<client label>.<domain>
//   data labels   base32 (RFC 4648 alphabet, lowercase, no padding) of one chunk with its header,
//                 cut into labels of 63 characters (the last shorter); none at all for a poll, a
//                 query that only gives the server an answer to put data in.
//   nonce label   "n" + 8 lowercase hex digits: the query's own number, so no resolver cache
//                 ever answers it and the server can tell retransmissions apart.
//   client label  "c" + 3 lowercase hex digits: the client's node id (1..4095).
// Base32 rather than base64: resolvers may change the case of a name (0x20 randomisation,
// case-folding caches), so only case-insensitive characters survive. The whole name is at most
// 253 characters (255 bytes in wire form), which bounds the data: max_query_payload().
// Queries carry no EDNS record: the answers must fit 512 bytes anyway (below).
//
// Downstream (answer). The server answers each query with one TXT record: QR, AA, the query's
// RD, the question echoed byte for byte (a resolver doing 0x20 checks the case), the answer's
// name a pointer to it (0xC00C), TTL 0, the data as character-strings of at most 255 bytes. The
// whole response stays within 512 bytes, the size every resolver path passes without EDNS or
// TCP: max_answer_payload(). Any answer to a query parse_query() accepts can carry at least
// min_answer_payload_floor (228) bytes, whatever the domain.
//
// Parsers never read outside the message they are given and loop at most a bounded number of
// times (compression pointers in answers are followed with a hop limit).
//
// Threads: pure functions; a reassembler belongs to one thread.
#pragma once

#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace transport::dns {

// ---- Chunks ------------------------------------------------------------------------------------

struct chunk_header {
    uint16_t seq = 0;    ///< packet sequence
    uint8_t index = 0;   ///< this chunk, 0 .. count - 1
    uint8_t count = 0;   ///< chunks of the packet, 1 .. 255
};

inline constexpr size_t chunk_header_size = 4;
inline constexpr size_t max_chunks = 255;

/// Writes `h` to `dst` (chunk_header_size bytes).
inline void write_chunk_header(uint8_t* dst, const chunk_header& h) noexcept {
    dst[0] = static_cast<uint8_t>(h.seq >> 8);
    dst[1] = static_cast<uint8_t>(h.seq);
    dst[2] = h.index;
    dst[3] = h.count;
}

/// The header at the start of `chunk`; nullopt if it is shorter than a header. The fields are
/// not checked (the reassembler decides what it accepts).
[[nodiscard]] inline std::optional<chunk_header> read_chunk_header(std::span<const uint8_t> chunk) noexcept {
    if (chunk.size() < chunk_header_size) {
        return std::nullopt;
    }
    return chunk_header{static_cast<uint16_t>(chunk[0] << 8 | chunk[1]), chunk[2], chunk[3]};
}

/// The chunks of `packet`, each with its header (sequence `seq`), each at most `max_payload`
/// bytes with the header; all but the last one are exactly max_payload bytes. An empty packet is
/// one chunk of just a header. Empty result if max_payload <= chunk_header_size or the packet
/// would need more than 255 chunks.
[[nodiscard]] std::vector<std::vector<uint8_t>> split(uint16_t seq, std::span<const uint8_t> packet,
                                                      size_t max_payload);

/// Puts the chunks of one peer and direction back together. Bounded: at most `max_partial`
/// packets in progress (a new one evicts the oldest), each at most `max_packet` bytes (a packet
/// growing beyond it is dropped), so the chunk bytes held never exceed max_partial * max_packet;
/// a partial packet whose first chunk arrived `timeout_ms` or more ago is dropped.
///
/// Resolvers retransmit queries, so the same chunk may arrive twice, also after its packet was
/// complete: the last `recent_size` completed packets (sequence and count) are remembered for
/// timeout_ms, and a chunk of one of them is ignored as a duplicate instead of starting a packet
/// that can only time out (or, for a one-chunk packet, delivering it twice).
class reassembler {
public:
    static constexpr uint64_t default_timeout_ms = 2000;
    static constexpr size_t recent_size = 16;

    /// What add() did not deliver. All but `duplicate` are drops: dropped() is their sum.
    struct counters {
        uint64_t bad_chunk = 0;       ///< chunks shorter than a header, with count 0 or index >= count
        uint64_t count_mismatch = 0;  ///< chunks whose count differs from their packet's first chunk
        uint64_t too_large = 0;       ///< packets that grew beyond max_packet
        uint64_t timed_out = 0;       ///< partial packets older than the timeout
        uint64_t evicted = 0;         ///< partial packets pushed out by a newer one (max_partial 0: not kept)
        uint64_t duplicate = 0;       ///< chunks already held or of a packet just completed (ignored)
    };

    explicit reassembler(size_t max_partial = 8, size_t max_packet = 9216, uint64_t timeout_ms = default_timeout_ms);

    /// Takes one chunk (with its header) received at `now_ms` (any monotonic clock). Returns the
    /// whole packet when this chunk was the last one missing, else nullopt (held, duplicate or
    /// dropped: see stats()). Expires old partial packets first.
    [[nodiscard]] std::optional<std::vector<uint8_t>> add(std::span<const uint8_t> chunk_with_header, uint64_t now_ms);

    /// Drops the partial packets that have timed out at `now_ms` (add() does this itself; call it
    /// to free their memory when no chunk arrives).
    void expire(uint64_t now_ms);

    /// Chunk bytes (without headers) held in partial packets.
    [[nodiscard]] size_t held_bytes() const noexcept { return _held; }
    [[nodiscard]] size_t partial_count() const noexcept { return _parts.size(); }
    [[nodiscard]] uint64_t dropped() const noexcept {
        return _stats.bad_chunk + _stats.count_mismatch + _stats.too_large + _stats.timed_out + _stats.evicted;
    }
    [[nodiscard]] const counters& stats() const noexcept { return _stats; }

private:
    struct partial {
        uint16_t seq = 0;
        uint8_t count = 0;
        uint8_t have_count = 0;
        uint64_t first_ms = 0;
        std::bitset<max_chunks> have;
        // Chunks in arrival order in `bytes`; where each one is, by index. One flat buffer
        // rather than a vector per chunk: chunk sizes may differ, and the bytes are what bounds.
        std::array<uint32_t, max_chunks> off{};
        std::array<uint32_t, max_chunks> len{};
        std::vector<uint8_t> bytes;
    };
    struct recent {
        uint16_t seq = 0;
        uint8_t count = 0;
        bool valid = false;
        uint64_t done_ms = 0;
    };

    [[nodiscard]] bool expired(uint64_t since_ms, uint64_t now_ms) const noexcept;
    void erase(size_t i);
    void remember(uint16_t seq, uint8_t count, uint64_t now_ms);
    [[nodiscard]] bool recently_completed(uint16_t seq, uint8_t count, uint64_t now_ms) const noexcept;

    size_t _max_partial;
    size_t _max_packet;
    uint64_t _timeout_ms;
    size_t _held = 0;
    std::vector<partial> _parts;
    std::array<recent, recent_size> _recent{};
    size_t _recent_next = 0;
    counters _stats;
};

// ---- Base32 (RFC 4648 section 6 alphabet, lowercase, no padding) -------------------------------

/// Characters base32_encode() makes of `n` bytes: ceil(8n / 5).
[[nodiscard]] constexpr size_t base32_encoded_size(size_t n) noexcept { return (n * 8 + 4) / 5; }

[[nodiscard]] std::string base32_encode(std::span<const uint8_t> in);

/// Decodes unpadded base32, either case. nullopt for a character outside the alphabet ('='
/// included), a length no byte count encodes to (1, 3 or 6 modulo 8), or non-zero bits after the
/// last byte: only the encoding base32_encode() makes is accepted, so a name decodes to one
/// payload and a payload encodes to one name (up to case).
[[nodiscard]] std::optional<std::vector<uint8_t>> base32_decode(std::string_view in);

// ---- Names ----------------------------------------------------------------------------------------

inline constexpr size_t max_name_length = 253;  ///< presentation form, without the final dot
inline constexpr size_t max_label_length = 63;
inline constexpr uint16_t type_txt = 16;
inline constexpr uint16_t class_in = 1;
inline constexpr size_t header_size = 12;
inline constexpr size_t max_udp_message = 512;
/// The least max_answer_payload() of any query parse_query() accepts: its question is at most
/// 259 bytes (a 255-byte name, type, class), 512 - 12 - 259 - 12 - 1 length byte.
inline constexpr size_t min_answer_payload_floor = 228;

/// Whether `domain` can be the tunnel's domain: labels of 1..63 letters, digits, '-' or '_',
/// at most 253 characters; one final dot is allowed (and ignored everywhere).
[[nodiscard]] bool valid_domain(std::string_view domain) noexcept;

/// The most bytes (chunk header + chunk) one query for `domain` carries: the name with the nonce
/// and client labels and the data's base32 in 63-character labels stays within 253 characters.
/// 0 if the domain is invalid or leaves no room for a chunk header and one byte (longer than 229
/// characters). A 20-character domain: 133.
[[nodiscard]] size_t max_query_payload(std::string_view domain) noexcept;

/// The query name (presentation form, lowercase, the domain too, no final dot) carrying `data`;
/// empty if the domain is invalid, the client id is not 1..4095 or data.size() >
/// max_query_payload(domain).
[[nodiscard]] std::string query_name(std::string_view domain, uint16_t client, uint32_t nonce,
                                     std::span<const uint8_t> data);

// ---- Queries ----------------------------------------------------------------------------------------

/// A complete query message: header (id, RD, QDCOUNT 1), the question query_name() TXT IN; no
/// EDNS record. Empty if query_name() is (a precondition failed).
[[nodiscard]] std::vector<uint8_t> build_query(uint16_t id, std::string_view domain, uint16_t client, uint32_t nonce,
                                               std::span<const uint8_t> data);

struct query {
    uint16_t id = 0;
    uint16_t client = 0;
    uint32_t nonce = 0;
    std::vector<uint8_t> data;      ///< decoded data labels; empty for a poll
    std::vector<uint8_t> question;  ///< the question section's raw bytes (name, type, class), echoed in the answer
    bool rd = true;                 ///< the query's RD bit, copied to the answer
};

/// Reads a query for `domain` (as the server receives it from a resolver). Accepts only a
/// standard query (QR 0, opcode 0) with QDCOUNT 1, ANCOUNT 0, NSCOUNT 0 and ARCOUNT 0 or 1 (a
/// resolver's EDNS OPT record; nothing after the question is read); a question of type TXT,
/// class IN whose name has no compression pointers, ends with `domain` (any case) and has the
/// layout above, data labels cut as query_name() cuts them (63 characters each, the last one
/// shorter; hex and base32 in any case): one name per payload, so the longest question for a
/// domain is the one carrying max_query_payload() bytes. nullopt otherwise.
[[nodiscard]] std::optional<query> parse_query(std::span<const uint8_t> msg, std::string_view domain);

// ---- Answers ----------------------------------------------------------------------------------------

/// The most data bytes an answer to a query whose question section has `question_size` bytes
/// can carry within 512 bytes: 512 - 12 (header) - question - 12 (answer RR without its data) -
/// one length byte per started 255-byte character-string. 0 if at most an empty answer fits.
[[nodiscard]] size_t max_answer_payload(size_t question_size) noexcept;
[[nodiscard]] inline size_t max_answer_payload(const query& q) noexcept {
    return max_answer_payload(q.question.size());
}

/// The least max_answer_payload() over all queries for `domain` (those carrying the most data
/// have the longest question): what a server may cut downstream chunks to without knowing which
/// query will carry them. 0 if the domain is invalid. A 20-character domain: 229.
[[nodiscard]] size_t min_answer_payload(std::string_view domain) noexcept;

/// A response to `q` carrying `data` (layout above). Empty if data.size() > max_answer_payload(q),
/// the response would exceed 512 bytes anyway (an empty one after a question of 476 bytes or
/// more) or q has no question.
[[nodiscard]] std::vector<uint8_t> build_answer(const query& q, std::span<const uint8_t> data);

struct answer {
    uint16_t id = 0;
    std::vector<uint8_t> data;  ///< the first TXT record's character-strings, concatenated
};

/// Reads a response (as the client receives it from the resolver): QR 1, opcode 0, RCODE 0,
/// QDCOUNT 1 and ANCOUNT >= 1; the question is skipped, the answers are walked by their lengths
/// up to the first of type TXT and class IN, whose character-strings must fill its data exactly.
/// Names may use compression pointers (followed at most 64 hops, names at most 255 bytes).
/// Whatever follows that record is not read. nullopt otherwise.
[[nodiscard]] std::optional<answer> parse_answer(std::span<const uint8_t> msg);

}  // namespace transport::dns
