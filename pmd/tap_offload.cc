// SPDX-License-Identifier: MIT
// Segmenting and coalescing for the TAP port; see tap_offload.hh.
#include "pmd/tap_offload.hh"

#include <algorithm>

namespace pmd::tap {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "checksums are summed in native (little-endian) order");

namespace {

constexpr uint16_t eth_ipv4 = 0x0800;
constexpr uint16_t eth_ipv6 = 0x86dd;
constexpr uint16_t eth_vlan = 0x8100;
constexpr uint8_t proto_tcp = 6;
constexpr uint8_t proto_udp = 17;
constexpr uint8_t tcp_fin = 0x01, tcp_syn = 0x02, tcp_rst = 0x04, tcp_psh = 0x08, tcp_ack = 0x10, tcp_urg = 0x20,
                  tcp_cwr = 0x80;

uint16_t rd16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t rd32(const uint8_t* p) noexcept {
    return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
}
void wr16(uint8_t* p, uint32_t v) noexcept {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
void wr32(uint8_t* p, uint32_t v) noexcept {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}
/// A 16-bit value as it lies in memory in network order, read natively (for native sums).
uint32_t be_native(uint32_t v) noexcept { return static_cast<uint32_t>(__builtin_bswap16(static_cast<uint16_t>(v))); }
void store_native(uint8_t* p, uint16_t v) noexcept { std::memcpy(p, &v, 2); }

/// Sum of the pseudo-header (addresses from the IP header at ip, protocol, L4 length).
uint32_t pseudo_sum(const uint8_t* ip, bool v6, uint8_t proto, uint32_t l4_len) noexcept {
    // The small terms go in as sum16's start value: added after it, they could carry out of its
    // 32-bit result (addresses of all ones sum to 0xffffffff) and lose 2^32 = 1 (mod 0xffff).
    const uint32_t small = be_native(proto) + be_native(l4_len & 0xffff) + be_native(l4_len >> 16);
    return v6 ? sum16(ip + 8, 32, small) : sum16(ip + 12, 8, small);
}

void ipv4_checksum(uint8_t* ip) noexcept {
    const uint32_t ihl = (ip[0] & 0x0fu) * 4;
    ip[10] = ip[11] = 0;
    store_native(ip + 10, static_cast<uint16_t>(~fold(sum16(ip, ihl, 0))));
}

/// Full L4 checksum of [l4, l4 + l4_len) into its field at l4 + field.
void l4_checksum(const uint8_t* ip, bool v6, uint8_t proto, uint8_t* l4, uint32_t l4_len, uint32_t field) noexcept {
    l4[field] = l4[field + 1] = 0;
    auto c = static_cast<uint16_t>(~fold(sum16(l4, l4_len, pseudo_sum(ip, v6, proto, l4_len))));
    if (c == 0 && proto == proto_udp) {
        c = 0xffff;  // 0 means "no checksum" for UDP
    }
    store_native(l4 + field, c);
}

/// Offset of the IP header and the EtherType after at most one VLAN tag; 0 if too short.
uint16_t l3_of(const uint8_t* f, uint32_t len, uint16_t& type) noexcept {
    if (len < 14) {
        return 0;
    }
    type = rd16(f + 12);
    if (type == eth_vlan) {
        if (len < 18) {
            return 0;
        }
        type = rd16(f + 16);
        return 18;
    }
    return 14;
}

}  // namespace

const char* to_string(refusal r) noexcept {
    switch (r) {
    case refusal::none: return "none";
    case refusal::short_frame: return "short_frame";
    case refusal::bad_l2: return "bad_l2";
    case refusal::bad_l3: return "bad_l3";
    case refusal::bad_l4: return "bad_l4";
    case refusal::bad_gso: return "bad_gso";
    case refusal::too_big: return "too_big";
    }
    return "?";
}

uint32_t sum16(const uint8_t* p, uint32_t n, uint32_t sum) noexcept {
    uint64_t acc = sum;
    while (n >= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        acc += w & 0xffffffffu;
        acc += w >> 32;
        p += 8;
        n -= 8;
    }
    if (n >= 4) {
        uint32_t w;
        std::memcpy(&w, p, 4);
        acc += w;
        p += 4;
        n -= 4;
    }
    if (n >= 2) {
        uint16_t w;
        std::memcpy(&w, p, 2);
        acc += w;
        p += 2;
        n -= 2;
    }
    if (n == 1) {
        acc += *p;  // the odd byte is the low (first) byte of a zero-padded word
    }
    acc = (acc & 0xffffffffu) + (acc >> 32);
    acc = (acc & 0xffffffffu) + (acc >> 32);
    return static_cast<uint32_t>(acc);
}

uint16_t fold(uint32_t sum) noexcept {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

refusal plan_gso(const vnet_hdr& h, const uint8_t* frame, uint32_t len, uint32_t max_segment,
                 gso_plan& plan) noexcept {
    const uint8_t type = h.gso_type & static_cast<uint8_t>(~gso_ecn);
    if ((type != gso_tcpv4 && type != gso_tcpv6 && type != gso_udp_l4) || h.gso_size == 0 ||
        (h.flags & f_needs_csum) == 0) {
        return refusal::bad_gso;
    }
    uint16_t et = 0;
    const uint16_t l3 = l3_of(frame, len, et);
    if (l3 == 0) {
        return refusal::short_frame;
    }
    const uint8_t proto = type == gso_udp_l4 ? proto_udp : proto_tcp;
    const uint8_t* ip = frame + l3;
    uint32_t l4 = 0;
    bool v6 = false;
    if (et == eth_ipv4 && type != gso_tcpv6) {
        if (len < l3 + 20u) {
            return refusal::short_frame;
        }
        const uint32_t ihl = (ip[0] & 0x0fu) * 4;
        if ((ip[0] >> 4) != 4 || ihl < 20 || (rd16(ip + 6) & 0x3fff) != 0 || ip[9] != proto) {
            return refusal::bad_l3;
        }
        l4 = l3 + ihl;
    } else if (et == eth_ipv6 && type != gso_tcpv4) {
        if (len < l3 + 40u) {
            return refusal::short_frame;
        }
        // No extension headers: the pseudo-header of a segment behind a routing header would
        // need its final destination (refused and counted; the kernel rarely sends them as GSO).
        if ((ip[0] >> 4) != 6 || ip[6] != proto) {
            return refusal::bad_l3;
        }
        l4 = l3 + 40u;
        v6 = true;
    } else {
        return et == eth_ipv4 || et == eth_ipv6 ? refusal::bad_l3 : refusal::bad_l2;
    }
    if (h.csum_start != l4) {
        return refusal::bad_l4;
    }
    uint32_t hdr_len = 0;
    if (proto == proto_tcp) {
        if (len < l4 + 20) {
            return refusal::short_frame;
        }
        const uint32_t doff = (frame[l4 + 12] >> 4) * 4u;
        if (doff < 20) {
            return refusal::bad_l4;
        }
        hdr_len = l4 + doff;
    } else {
        hdr_len = l4 + 8;
    }
    if (len < hdr_len) {
        return refusal::short_frame;
    }
    // The caller's room, and the 16-bit length fields of a full segment: the IPv4 total length
    // (the IPv6 payload length and the UDP length are shorter). With a room of a whole
    // super-frame, 40 + a 65500-byte gso_size would wrap the IPv4 length.
    if (hdr_len + h.gso_size > max_segment || hdr_len - (v6 ? l4 : l3) + h.gso_size > 65535u) {
        return refusal::too_big;
    }
    plan.frame_len = len;
    plan.l3 = l3;
    plan.l4 = static_cast<uint16_t>(l4);
    plan.hdr_len = static_cast<uint16_t>(hdr_len);
    plan.mss = h.gso_size;
    plan.v6 = v6;
    plan.udp = proto == proto_udp;
    const uint32_t payload = len - hdr_len;
    plan.segments = payload == 0 ? 1 : (payload + plan.mss - 1) / plan.mss;
    return refusal::none;
}

uint32_t make_segment(const gso_plan& plan, const uint8_t* frame, uint32_t index, uint8_t* out) noexcept {
    const uint32_t off = plan.hdr_len + index * static_cast<uint32_t>(plan.mss);
    const uint32_t pl = off >= plan.frame_len ? 0 : std::min<uint32_t>(plan.mss, plan.frame_len - off);
    std::memcpy(out, frame, plan.hdr_len);
    std::memcpy(out + plan.hdr_len, frame + off, pl);
    uint8_t* ip = out + plan.l3;
    uint8_t* l4 = out + plan.l4;
    const uint32_t l4_len = plan.hdr_len - plan.l4 + pl;
    if (plan.v6) {
        wr16(ip + 4, l4_len);
    } else {
        wr16(ip + 2, plan.l4 - plan.l3 + l4_len);
        wr16(ip + 4, rd16(frame + plan.l3 + 4) + index);
        ipv4_checksum(ip);
    }
    if (plan.udp) {
        wr16(l4 + 4, l4_len);
        l4_checksum(ip, plan.v6, proto_udp, l4, l4_len, 6);
    } else {
        wr32(l4 + 4, rd32(frame + plan.l4 + 4) + index * static_cast<uint32_t>(plan.mss));
        if (index + 1 < plan.segments) {
            l4[13] &= static_cast<uint8_t>(~(tcp_fin | tcp_psh));
        }
        if (index != 0) {
            l4[13] &= static_cast<uint8_t>(~tcp_cwr);
        }
        l4_checksum(ip, plan.v6, proto_tcp, l4, l4_len, 16);
    }
    return plan.hdr_len + pl;
}

refusal complete_csum(const vnet_hdr& h, uint8_t* frame, uint32_t len) noexcept {
    const uint32_t start = h.csum_start;
    const uint32_t field = start + h.csum_offset;
    if (start >= len || field + 2 > len) {
        return refusal::bad_l4;
    }
    auto c = static_cast<uint16_t>(~fold(sum16(frame + start, len - start, 0)));
    store_native(frame + field, c == 0 ? 0xffff : c);
    return refusal::none;
}

bool l4_seg::parse(const uint8_t* f, uint32_t n) noexcept {
    if (n < 14) {
        return false;
    }
    const uint16_t et = rd16(f + 12);
    l3 = 14;
    const uint8_t* ip = f + 14;
    uint32_t ip_end = 0;
    uint8_t proto = 0;
    if (et == eth_ipv4) {
        // No options, no fragment (DF alone is fine).
        if (n < 34 || ip[0] != 0x45 || (rd16(ip + 6) & 0xbfff) != 0) {
            return false;
        }
        proto = ip[9];
        ip_end = 14u + rd16(ip + 2);
        l4 = 34;
        v6 = false;
        ip_id = rd16(ip + 4);
        df = (ip[6] & 0x40) != 0;
    } else if (et == eth_ipv6) {
        if (n < 54 || (ip[0] >> 4) != 6) {
            return false;
        }
        proto = ip[6];
        ip_end = 54u + rd16(ip + 4);
        l4 = 54;
        v6 = true;
        ip_id = 0;
        df = true;  // never fragmented on the way (the id rule below is IPv4's)
    } else {
        return false;
    }
    if (proto != proto_tcp && proto != proto_udp) {
        return false;
    }
    udp = proto == proto_udp;
    if (ip_end > n || ip_end < l4 + (udp ? 8u : 20u)) {
        return false;
    }
    const uint8_t* t = f + l4;
    if (udp) {
        // The UDP length is the IP payload's (no trailing bytes a merge would lose), there is a
        // payload, and a checksum (an IPv4 datagram without one would come out with one). Unicast
        // only: group traffic (multicast routing, broadcast) must meet the kernel datagram by
        // datagram -- ipmr drops a DF packet above the MTU without looking at GSO.
        if (rd16(t + 4) != ip_end - l4 || ip_end == l4 + 8u || rd16(t + 6) == 0 || (f[0] & 1U) != 0 ||
            (v6 ? ip[24] == 0xff : ip[16] >= 224)) {
            return false;
        }
        flags = 0;
        seq = 0;
        hdr_len = static_cast<uint16_t>(l4 + 8);
    } else {
        const uint32_t doff = (t[12] >> 4) * 4u;
        if (doff < 20 || l4 + doff >= ip_end) {
            return false;  // no payload: nothing to merge
        }
        flags = t[13];
        if ((flags & (tcp_syn | tcp_fin | tcp_rst | tcp_urg)) != 0 || (flags & tcp_ack) == 0) {
            return false;
        }
        seq = rd32(t + 4);
        hdr_len = static_cast<uint16_t>(l4 + doff);
    }
    frame = f;
    len = ip_end;
    payload = ip_end - hdr_len;
    return true;
}

namespace {

/// The IPv4 header checksum and the TCP / UDP checksum of a parsed segment.
bool sums_ok(const l4_seg& s) noexcept {
    const uint8_t* ip = s.frame + s.l3;
    if (!s.v6 && fold(sum16(ip, 20, 0)) != 0xffff) {
        return false;
    }
    const uint32_t l4_len = s.len - s.l4;
    return fold(sum16(s.frame + s.l4, l4_len, pseudo_sum(ip, s.v6, s.udp ? proto_udp : proto_tcp, l4_len))) ==
           0xffff;
}

}  // namespace

bool follows(const l4_seg& first, const l4_seg& last, const l4_seg& next, unsigned count, uint32_t ip_len) noexcept {
    if (count >= max_merged_segments || next.udp != first.udp || next.v6 != first.v6 ||
        next.hdr_len != first.hdr_len || last.payload != first.payload || next.payload > first.payload ||
        ip_len + next.payload > max_merged_ip_len) {
        return false;
    }
    // IPv4 without DF: the kernel numbers the cut segments first.id + k, so they must already be
    // (as its own GRO requires): a datagram fragmented later must not share another's id.
    if (!first.v6 && (!first.df || !next.df) && static_cast<uint16_t>(next.ip_id - first.ip_id) != count) {
        return false;
    }
    if (!first.udp && ((last.flags & tcp_psh) != 0 || next.seq != last.seq + last.payload ||
                       (next.flags & static_cast<uint8_t>(~tcp_psh)) !=
                           (first.flags & static_cast<uint8_t>(~(tcp_psh | tcp_cwr))))) {
        return false;
    }
    const uint8_t* a = first.frame;
    const uint8_t* b = next.frame;
    if (std::memcmp(a, b, 14) != 0) {
        return false;
    }
    const uint8_t* ia = a + first.l3;
    const uint8_t* ib = b + next.l3;
    if (first.v6) {
        if (std::memcmp(ia, ib, 4) != 0 || std::memcmp(ia + 6, ib + 6, 34) != 0) {
            return false;
        }
    } else if (std::memcmp(ia, ib, 2) != 0 || std::memcmp(ia + 6, ib + 6, 4) != 0 ||
               std::memcmp(ia + 12, ib + 12, 8) != 0) {
        return false;
    }
    const uint8_t* ta = a + first.l4;
    const uint8_t* tb = b + next.l4;
    if (first.udp) {
        if (std::memcmp(ta, tb, 4) != 0) {  // the ports (length and checksum are per datagram)
            return false;
        }
    } else if (std::memcmp(ta, tb, 4) != 0 || std::memcmp(ta + 8, tb + 8, 5) != 0 ||
               std::memcmp(ta + 14, tb + 14, 2) != 0 ||
               std::memcmp(ta + 20, tb + 20, first.hdr_len - first.l4 - 20u) != 0) {
        // Ports, acknowledgement, data offset, window; then the options byte for byte.
        return false;
    }
    // Last (and once per run), as it reads the payload: the merged frame goes out with
    // NEEDS_CSUM, which the kernel trusts without verifying, so a segment with a wrong checksum
    // would be delivered; alone it is written as it is and the kernel drops it.
    return (count != 1 || sums_ok(first)) && sums_ok(next);
}

void merge_header(const l4_seg& first, uint8_t last_flags, uint32_t total_payload, uint8_t* out,
                  vnet_hdr& h) noexcept {
    std::memcpy(out, first.frame, first.hdr_len);
    uint8_t* ip = out + first.l3;
    uint8_t* t = out + first.l4;
    const uint32_t l4_len = first.hdr_len - first.l4 + total_payload;
    if (first.v6) {
        wr16(ip + 4, l4_len);
    } else {
        wr16(ip + 2, 20 + l4_len);
        ipv4_checksum(ip);
    }
    const uint16_t field = first.udp ? 6 : 16;
    if (first.udp) {
        wr16(t + 4, l4_len);
    } else {
        t[13] = static_cast<uint8_t>(t[13] | (last_flags & tcp_psh));
    }
    t[field] = t[field + 1] = 0;
    store_native(t + field, fold(pseudo_sum(ip, first.v6, first.udp ? proto_udp : proto_tcp, l4_len)));
    h.flags = f_needs_csum;
    h.gso_type = first.udp ? gso_udp_l4
                           : static_cast<uint8_t>((first.v6 ? gso_tcpv6 : gso_tcpv4) |
                                                  ((first.flags & tcp_cwr) != 0 ? gso_ecn : 0));
    h.hdr_len = first.hdr_len;
    h.gso_size = static_cast<uint16_t>(first.payload);
    h.csum_start = first.l4;
    h.csum_offset = field;
}

bool checksums_ok(const uint8_t* f, uint32_t len) noexcept {
    uint16_t et = 0;
    const uint16_t l3 = l3_of(f, len, et);
    if (l3 == 0) {
        return false;
    }
    const uint8_t* ip = f + l3;
    uint32_t l4 = 0, end = 0;
    uint8_t proto = 0;
    bool v6 = et == eth_ipv6;
    if (et == eth_ipv4) {
        if (len < l3 + 20u) {
            return false;
        }
        const uint32_t ihl = (ip[0] & 0x0fu) * 4;
        if (ihl < 20 || len < l3 + ihl || fold(sum16(ip, ihl, 0)) != 0xffff) {
            return false;
        }
        l4 = l3 + ihl;
        end = l3 + rd16(ip + 2);
        proto = ip[9];
    } else if (v6) {
        if (len < l3 + 40u) {
            return false;
        }
        l4 = l3 + 40u;
        end = l4 + rd16(ip + 4);
        proto = ip[6];
    } else {
        return false;
    }
    if (end > len || end < l4) {
        return false;
    }
    if (proto != proto_tcp && proto != proto_udp) {
        return true;
    }
    if (proto == proto_udp && !v6 && end >= l4 + 8 && rd16(f + l4 + 6) == 0) {
        return true;  // IPv4 UDP without a checksum
    }
    return fold(sum16(f + l4, end - l4, pseudo_sum(ip, v6, proto, end - l4))) == 0xffff;
}

}  // namespace pmd::tap
