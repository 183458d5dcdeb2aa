// SPDX-License-Identifier: MIT
// The tcp transport's two formats (docs/protocol.md "tcp"):
//
//   On the TCP stream (between nodes): every dvpe packet (handshake or data, unchanged) behind
//   a 2-byte big-endian length, back to back: | len | dvpe packet | len | dvpe packet | ...
//   A length below a dvpe header (8) or above max_stream_packet closes the connection: the
//   stream has lost its framing and nothing after it can be trusted to start a packet.
//
//   On the rings between the workers and the slow-path thread (control/daemon/tcp_path.hh), in
//   front of the framing, in place of the Ethernet/IP headers of the other transports:
//     0      kind (tcp4 | tcp6)
//     1      flags: stream_flag_connect -- the slow path may open a connection to this endpoint
//            (a node's configured address and tcp-port); without it only an existing one is used
//     2..3   the remote TCP port (big endian)
//     4..19  the remote address (IPv4: the first 4 bytes, the rest 0)
//     20..21 the framing prefix: the dvpe packet's length (big endian)
//   From a worker (tx): the endpoint to send to, written by write_outer() from the peer's
//   template. To a worker (rx): the endpoint the packet came from (the connection's peer
//   address, not a proxy's), which classify_stream() turns into a classify_result as
//   classify() does for WAN frames. The framing prefix is the stream's, so bytes [20, 22 + len)
//   go to the socket as they are.
//
// Threads: pure functions and a per-connection reader; any thread.
#pragma once

#include "transports/classify.hh"
#include "transports/kind.hh"
#include "transports/wire.hh"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace transport {

inline constexpr uint8_t stream_flag_connect = 0x01;
inline constexpr uint16_t stream_prefix_offset = stream_meta_size - stream_prefix_size;
/// The largest dvpe packet a stream carries (a 9000-byte jumbo overlay frame sealed, with room);
/// the slow path refuses larger ones from workers and closes a stream announcing one.
inline constexpr uint16_t max_stream_packet = 9216;

/// Writes a ring header for `k` (a tcp kind) to `dst` (stream_meta_size bytes).
inline void write_stream_meta(uint8_t* dst, kind k, uint8_t flags, const ip_address& ip, uint16_t port,
                              uint16_t dvpe_len) noexcept {
    dst[0] = static_cast<uint8_t>(k);
    dst[1] = flags;
    dst[2] = static_cast<uint8_t>(port >> 8);
    dst[3] = static_cast<uint8_t>(port);
    std::memcpy(dst + 4, ip.bytes.data(), 16);
    if (!ip.v6) {
        std::memset(dst + 8, 0, 12);
    }
    dst[20] = static_cast<uint8_t>(dvpe_len >> 8);
    dst[21] = static_cast<uint8_t>(dvpe_len);
}

/// A ring header read back.
struct stream_endpoint {
    kind k = kind::tcp4;
    uint8_t flags = 0;
    uint16_t port = 0;
    ip_address ip;
    uint16_t len = 0;  ///< the framing prefix
};

/// Reads the ring header at the start of `frame` (`len` bytes in all). nullopt: shorter than a
/// ring header, not a tcp kind, unknown flags, or a length that does not match the bytes.
[[nodiscard]] inline std::optional<stream_endpoint> read_stream_meta(const uint8_t* frame, uint32_t len) noexcept {
    if (len < stream_meta_size || !is_stream(static_cast<kind>(frame[0])) || frame[0] >= n_kinds ||
        (frame[1] & ~stream_flag_connect) != 0) {
        return std::nullopt;
    }
    stream_endpoint e;
    e.k = static_cast<kind>(frame[0]);
    e.flags = frame[1];
    e.port = static_cast<uint16_t>(frame[2] << 8 | frame[3]);
    e.ip.v6 = is_ipv6(e.k);
    std::memcpy(e.ip.bytes.data(), frame + 4, 16);
    if (!e.ip.v6) {
        std::memset(e.ip.bytes.data() + 4, 0, 12);
    }
    e.len = static_cast<uint16_t>(frame[20] << 8 | frame[21]);
    if (e.len != len - stream_meta_size) {
        return std::nullopt;
    }
    return e;
}

/// classify() for a packet the slow path handed to a worker: ok with the dvpe packet after the
/// ring header and the connection's remote endpoint as source; bad_length for a malformed ring
/// header or a dvpe packet shorter than a header; disabled_transport if we do not speak tcp.
[[nodiscard]] inline classify_result classify_stream(const uint8_t* frame, uint32_t len,
                                                     const local_config& cfg) noexcept {
    classify_result r;
    const auto e = read_stream_meta(frame, len);
    if (!e || e->len < sizeof(dvpe_header)) {
        r.reason = classify_reason::bad_length;
        return r;
    }
    r.k = e->k;
    if ((cfg.enabled & kind_bit(e->k)) == 0) {
        r.reason = classify_reason::disabled_transport;
        return r;
    }
    r.reason = classify_reason::ok;
    r.dvpe_offset = stream_meta_size;
    r.dvpe_len = e->len;
    r.src_port = e->port;
    r.src_ip = e->ip;
    return r;
}

/// Splits one connection's byte stream into dvpe packets. feed() takes what recv() returned;
/// next() yields each complete packet (valid until the next call of either). Holds at most one
/// partial packet: its memory is bounded by max_stream_packet + 2.
class stream_reader {
public:
    enum class status : uint8_t { need_more, packet, bad_length };

    stream_reader() { _buf.reserve(4096); }

    /// Appends received bytes. Call next() until need_more before feeding again, so the buffer
    /// never holds more than one packet's worth beyond what was just fed.
    void feed(std::span<const uint8_t> bytes) {
        compact();
        // resize + memcpy, not insert(): g++ 12 warns (-Warray-bounds) about the inlined range
        // insert, a known false positive.
        const size_t old = _buf.size();
        _buf.resize(old + bytes.size());
        if (!bytes.empty()) {
            std::memcpy(_buf.data() + old, bytes.data(), bytes.size());
        }
    }

    /// The next complete packet in `out`, or why not. bad_length is final: the stream is broken.
    status next(std::span<const uint8_t>& out) noexcept {
        if (_broken) {
            return status::bad_length;
        }
        const size_t avail = _buf.size() - _pos;
        if (avail < stream_prefix_size) {
            return status::need_more;
        }
        const uint16_t n = static_cast<uint16_t>(_buf[_pos] << 8 | _buf[_pos + 1]);
        if (n < sizeof(dvpe_header) || n > max_stream_packet) {
            _broken = true;
            return status::bad_length;
        }
        if (avail < size_t{stream_prefix_size} + n) {
            return status::need_more;
        }
        out = std::span<const uint8_t>(_buf.data() + _pos + stream_prefix_size, n);
        _pos += stream_prefix_size + n;
        return status::packet;
    }

    /// Bytes held (received, not yet yielded).
    [[nodiscard]] size_t buffered() const noexcept { return _buf.size() - _pos; }

    /// Whether next() would yield a packet (or bad_length) without more bytes.
    [[nodiscard]] bool has_packet() const noexcept {
        const size_t avail = _buf.size() - _pos;
        if (_broken) {
            return true;
        }
        if (avail < stream_prefix_size) {
            return false;
        }
        const uint16_t n = static_cast<uint16_t>(_buf[_pos] << 8 | _buf[_pos + 1]);
        return n < sizeof(dvpe_header) || n > max_stream_packet || avail >= size_t{stream_prefix_size} + n;
    }

private:
    void compact() {
        if (_pos == 0) {
            return;
        }
        _buf.erase(_buf.begin(), _buf.begin() + static_cast<std::ptrdiff_t>(_pos));
        _pos = 0;
    }

    std::vector<uint8_t> _buf;
    size_t _pos = 0;
    bool _broken = false;
};

}  // namespace transport
