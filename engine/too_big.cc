// SPDX-License-Identifier: MIT
// ICMP / ICMPv6 "too big" answers (see too_big.hh). Slow path: runs only for oversize frames.
#include "engine/too_big.hh"

#include <algorithm>
#include <cstring>

#include "transports/checksum.hh"

namespace engine {
namespace {

constexpr size_t eth_len = 14;
constexpr size_t ip4_len = 20;
constexpr size_t ip6_len = 40;
constexpr size_t icmp_len = 8;
constexpr size_t ip4_answer_max = 576;   // RFC 1812 §4.3.2.3
constexpr size_t ip6_answer_max = 1280;  // RFC 4443 §2.4(c)

uint16_t load16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

void store16(uint8_t* p, uint16_t v) noexcept {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

void store_sum(uint8_t* p, uint64_t sum) noexcept {
    const uint16_t c = transport::csum::finish(sum);
    std::memcpy(p, &c, sizeof(c));  // native order: see checksum.hh
}

bool bad_source4(const uint8_t* a) noexcept {
    return a[0] == 0 || a[0] == 127 || a[0] >= 224;  // this-network, loopback, multicast/class E/broadcast
}

bool bad_source6(const uint8_t* a) noexcept {
    static constexpr uint8_t loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static constexpr uint8_t unspecified[16] = {};
    return a[0] == 0xff || std::memcmp(a, loopback, 16) == 0 || std::memcmp(a, unspecified, 16) == 0;
}

void ethernet(const uint8_t* frame, uint8_t* out, uint16_t ethertype) noexcept {
    std::memcpy(out, frame + 6, 6);  // back to the sender
    std::memcpy(out + 6, frame, 6);  // from the MAC it wrote to
    store16(out + 12, ethertype);
}

size_t answer4(const uint8_t* frame, size_t len, const icmp_error& e, uint8_t* out) noexcept {
    const uint8_t* ip = frame + eth_len;
    const size_t avail = len - eth_len;
    if (avail < ip4_len || (ip[0] >> 4) != 4) {
        return 0;
    }
    const size_t ihl = static_cast<size_t>(ip[0] & 0x0f) * 4;
    const size_t total = load16(ip + 2);
    if (ihl < ip4_len || total < ihl || avail < ihl) {
        return 0;
    }
    if ((load16(ip + 6) & 0x1fff) != 0) {
        return 0;  // not the first fragment
    }
    if (bad_source4(ip + 12) || (ip[16] >= 224 && ip[16] < 240) ||
        (ip[16] == 255 && ip[17] == 255 && ip[18] == 255 && ip[19] == 255)) {
        return 0;
    }
    if (ip[9] == 1) {  // ICMP: answer only queries (echo, timestamp, ...), never errors
        if (avail < ihl + 1) {
            return 0;
        }
        const uint8_t type = ip[ihl];
        if (type == 3 || type == 4 || type == 5 || type == 11 || type == 12) {
            return 0;
        }
    }
    // Quote: the header and as much of the datagram as fits (what the frame really holds).
    const size_t quote = std::min({total, avail, ip4_answer_max - ip4_len - icmp_len});
    ethernet(frame, out, 0x0800);
    uint8_t* oip = out + eth_len;
    std::memset(oip, 0, ip4_len);
    oip[0] = 0x45;
    oip[1] = 0xc0;  // DSCP CS6 (network control), as routers send ICMP errors
    store16(oip + 2, static_cast<uint16_t>(ip4_len + icmp_len + quote));
    oip[8] = 64;  // TTL
    oip[9] = 1;   // ICMP
    std::memcpy(oip + 12, e.src4 != nullptr ? e.src4 : ip + 16, 4);  // from us, or where it was sent
    std::memcpy(oip + 16, ip + 12, 4);  // to its sender
    store_sum(oip + 10, transport::csum::ones_sum(oip, ip4_len));
    uint8_t* icmp = oip + ip4_len;
    icmp[0] = e.type4;
    icmp[1] = e.code4;
    icmp[2] = icmp[3] = 0;
    icmp[4] = icmp[5] = 0;
    store16(icmp + 6, e.value);
    std::memcpy(icmp + icmp_len, ip, quote);
    store_sum(icmp + 2, transport::csum::ones_sum(icmp, icmp_len + quote));
    return eth_len + ip4_len + icmp_len + quote;
}

size_t answer6(const uint8_t* frame, size_t len, const icmp_error& e, uint8_t* out) noexcept {
    const uint8_t* ip = frame + eth_len;
    const size_t avail = len - eth_len;
    if (avail < ip6_len || (ip[0] >> 4) != 6) {
        return 0;
    }
    if (bad_source6(ip + 8) || ip[24] == 0xff) {
        return 0;  // no unicast address to answer from or to
    }
    if (ip[6] == 58) {  // ICMPv6 directly after the header: errors (type < 128) get no answer
        if (avail < ip6_len + 1 || ip[ip6_len] < 128) {
            return 0;
        }
    }
    const size_t total = ip6_len + load16(ip + 4);
    const size_t quote = std::min({total, avail, ip6_answer_max - ip6_len - icmp_len});
    ethernet(frame, out, 0x86dd);
    uint8_t* oip = out + eth_len;
    std::memset(oip, 0, ip6_len);
    oip[0] = 0x60;
    store16(oip + 4, static_cast<uint16_t>(icmp_len + quote));
    oip[6] = 58;   // ICMPv6
    oip[7] = 64;   // hop limit
    std::memcpy(oip + 8, e.src6 != nullptr ? e.src6 : ip + 24, 16);
    std::memcpy(oip + 24, ip + 8, 16);
    uint8_t* icmp = oip + ip6_len;
    icmp[0] = e.type6;
    icmp[1] = e.code6;
    icmp[2] = icmp[3] = 0;
    icmp[4] = icmp[5] = 0;
    store16(icmp + 6, e.value);
    std::memcpy(icmp + icmp_len, ip, quote);
    const uint16_t c = transport::csum::icmp6_checksum(oip, icmp, icmp_len + quote);
    std::memcpy(icmp + 2, &c, sizeof(c));  // native order: see checksum.hh
    return eth_len + ip6_len + icmp_len + quote;
}

}  // namespace

size_t build_icmp_error(const uint8_t* frame, size_t len, const icmp_error& e, uint8_t* out) noexcept {
    if (len < eth_len || (frame[0] & 1) != 0) {
        return 0;  // runt, or multicast/broadcast destination
    }
    switch (load16(frame + 12)) {
    case 0x0800:
        return answer4(frame, len, e, out);
    case 0x86dd:
        return answer6(frame, len, e, out);
    default:
        return 0;
    }
}

size_t build_too_big(const uint8_t* frame, size_t len, uint16_t mtu, uint8_t* out) noexcept {
    // IPv4: destination unreachable / fragmentation needed (3/4); IPv6: packet too big (2/0).
    return build_icmp_error(frame, len, icmp_error{3, 4, 2, 0, mtu, nullptr, nullptr}, out);
}

}  // namespace engine
