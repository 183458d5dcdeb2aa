// SPDX-License-Identifier: MIT
// Outer fragmentation (see fragment.hh).
#include "transports/fragment.hh"

#include <cstring>

#include "transports/checksum.hh"

namespace transport {
namespace {

constexpr size_t eth_len = 14;
constexpr size_t ip4_len = 20;
constexpr size_t ip6_len = 40;
constexpr size_t frag6_len = 8;

void store16(uint8_t* p, size_t v) noexcept {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

}  // namespace

fragment_plan plan_fragments(bool v6, size_t frame_len, uint16_t mtu) noexcept {
    const size_t hdr = v6 ? ip6_len + frag6_len : ip4_len;
    const size_t base = eth_len + (v6 ? ip6_len : ip4_len);
    if (frame_len <= base || mtu < hdr + 8) {
        return {};
    }
    const size_t payload = frame_len - base;
    const size_t chunk = (mtu - hdr) & ~size_t{7};
    const size_t count = (payload + chunk - 1) / chunk;
    if (count > max_fragments || payload > 0xffff) {
        return {};
    }
    return {static_cast<uint16_t>(count), static_cast<uint16_t>(chunk), static_cast<uint16_t>(payload)};
}

size_t write_fragment(const uint8_t* frame, bool v6, const fragment_plan& plan, unsigned k, uint32_t id,
                      uint8_t* out) noexcept {
    const size_t offset = static_cast<size_t>(k) * plan.chunk;
    const size_t len = k + 1 == plan.count ? plan.payload - offset : plan.chunk;
    const bool more = k + 1 < plan.count;
    if (!v6) {
        std::memcpy(out, frame, eth_len + ip4_len);
        uint8_t* ip = out + eth_len;
        store16(ip + 2, ip4_len + len);
        store16(ip + 4, id & 0xffff);
        store16(ip + 6, (more ? 0x2000 : 0) | (offset / 8));  // DF clear, MF, offset
        ip[10] = ip[11] = 0;
        const uint16_t c = csum::finish(csum::ones_sum(ip, ip4_len));
        std::memcpy(ip + 10, &c, sizeof(c));
        std::memcpy(ip + ip4_len, frame + eth_len + ip4_len + offset, len);
        return eth_len + ip4_len + len;
    }
    std::memcpy(out, frame, eth_len + ip6_len);
    uint8_t* ip = out + eth_len;
    const uint8_t next = frame[eth_len + 6];
    store16(ip + 4, frag6_len + len);
    ip[6] = 44;  // fragment header
    uint8_t* fh = ip + ip6_len;
    fh[0] = next;
    fh[1] = 0;
    store16(fh + 2, offset | (more ? 1 : 0));  // offset in 8-byte units << 3, M flag
    fh[4] = static_cast<uint8_t>(id >> 24);
    fh[5] = static_cast<uint8_t>(id >> 16);
    fh[6] = static_cast<uint8_t>(id >> 8);
    fh[7] = static_cast<uint8_t>(id);
    std::memcpy(fh + frag6_len, frame + eth_len + ip6_len + offset, len);
    return eth_len + ip6_len + frag6_len + len;
}

}  // namespace transport
