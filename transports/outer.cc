// SPDX-License-Identifier: MIT
// build_template(): the control-thread half of outer encapsulation (see outer.hh). Lays out the
// Ethernet, IPv4/IPv6 and UDP/ICMP headers once per (peer, transport) and precomputes the
// checksum words that do not depend on the packet, so write_outer() only adds lengths, ports
// and the payload pass.
#include "transports/outer.hh"
#include "transports/stream.hh"

#include <rte_ip.h>
#include <rte_udp.h>

namespace transport {

static_assert(sizeof(rte_ether_hdr) == ether_header_size);
static_assert(sizeof(rte_ipv4_hdr) == ipv4_header_size);
static_assert(sizeof(rte_ipv6_hdr) == ipv6_header_size);
static_assert(sizeof(rte_udp_hdr) == udp_header_size);

std::optional<outer_template> build_template(kind k, const endpoint_pair& ep) noexcept {
    if (is_stream(k) && ep.dst_ip.v6 == is_ipv6(k)) {
        // The ring header (transports/stream.hh): the endpoint, the length left for write_outer().
        outer_template t;
        t.k = k;
        t.len = static_cast<uint8_t>(headroom(k));
        write_stream_meta(t.bytes, k, ep.stream_connect ? stream_flag_connect : 0, ep.dst_ip, ep.dst_port, 0);
        return t;
    }
    if (is_stream(k) || ep.src_ip.v6 != is_ipv6(k) || ep.dst_ip.v6 != is_ipv6(k)) {
        return std::nullopt;
    }
    outer_template t;
    t.k = k;
    t.len = static_cast<uint8_t>(headroom(k));
    t.udp6_checksum = ep.udp6_checksum;

    auto* eth = reinterpret_cast<rte_ether_hdr*>(t.bytes);
    eth->dst_addr = ep.dst_mac;
    eth->src_addr = ep.src_mac;
    eth->ether_type = rte_cpu_to_be_16(is_ipv6(k) ? RTE_ETHER_TYPE_IPV6 : RTE_ETHER_TYPE_IPV4);

    uint8_t* ip = t.bytes + ether_header_size;
    uint8_t* l4 = ip + ip_header_size(k);
    const uint8_t proto = is_udp(k) ? ipproto_udp : is_rawip(k) ? ep.ip_proto : is_ipv6(k) ? ipproto_icmpv6 : ipproto_icmp;

    if (!is_ipv6(k)) {
        auto* h = reinterpret_cast<rte_ipv4_hdr*>(ip);
        h->version_ihl = RTE_IPV4_VHL_DEF;  // version 4, IHL 5: no options
        h->type_of_service = 0;             // DSCP 0 (CS0), not ECN-capable
        h->total_length = 0;                // write_outer()
        h->packet_id = 0;                   // atomic datagram, RFC 6864 (outer.hh)
        h->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
        h->time_to_live = ep.ttl;
        h->next_proto_id = proto;
        h->hdr_checksum = 0;                // write_outer()
        h->src_addr = ep.src_ip.v4();
        h->dst_addr = ep.dst_ip.v4();
        const uint64_t s = csum::ones_sum(ip, ipv4_header_size);
        t.ip4_partial = csum::fold(s);      // folded: write_outer() adds one 16-bit word
    } else {
        auto* h = reinterpret_cast<rte_ipv6_hdr*>(ip);
        h->vtc_flow = rte_cpu_to_be_32(0x60000000u);  // traffic class 0; flow label per lane
        h->payload_len = 0;
        h->proto = proto;
        h->hop_limits = ep.ttl;
        std::memcpy(h->src_addr, ep.src_ip.bytes.data(), 16);
        std::memcpy(h->dst_addr, ep.dst_ip.bytes.data(), 16);
    }

    if (is_udp(k)) {
        auto* u = reinterpret_cast<rte_udp_hdr*>(l4);
        u->src_port = 0;  // per lane, write_outer()
        u->dst_port = rte_cpu_to_be_16(ep.dst_port);
        u->dgram_len = 0;
        u->dgram_cksum = 0;
        if (k == kind::udp6) {
            uint64_t s = csum::ipv6_pseudo_sum(ep.src_ip.bytes.data(), ep.dst_ip.bytes.data(), ipproto_udp);
            if (ep.udp6_checksum == checksum_mode::software) {
                s += u->dst_port;
            }
            t.l4_partial = csum::fold(s);
        }
    } else if (is_icmp(k)) {
        l4[0] = ep.icmp_type;
        l4[1] = icmp_code;
        l4[2] = 0;  // checksum: write_outer()
        l4[3] = 0;
        const uint16_t id_be = rte_cpu_to_be_16(ep.icmp_id);
        std::memcpy(l4 + 4, &id_be, 2);
        l4[6] = 0;  // sequence
        l4[7] = 0;
        uint64_t s = csum::ones_sum(l4, icmp_header_size);
        if (k == kind::icmp6) {
            s = csum::ipv6_pseudo_sum(ep.src_ip.bytes.data(), ep.dst_ip.bytes.data(), ipproto_icmpv6, 0, s);
        }
        t.l4_partial = csum::fold(s);
    }
    return t;
}

}  // namespace transport
