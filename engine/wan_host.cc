// SPDX-License-Identifier: MIT
// The WAN host answers: what arrives on a WAN port that is not a dvpe packet. ARP requests and
// neighbour solicitations for our addresses and ICMP/ICMPv6 echo to them are answered in place;
// ARP replies and neighbour advertisements go to the control thread (control/daemon/neighbour.hh owns
// the table) and, where the port has an exception interface, a copy to the kernel; everything
// else well-formed goes to the kernel through it (docs/exception-path.md) or is counted by its
// drop reason. What the kernel sends there leaves through the WAN port (exception_burst).
// Threads: the owning worker lcore only.
#include <rte_arp.h>
#include <rte_ethdev.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <cstring>

#include "engine/worker.hh"
#include "transports/checksum.hh"

namespace engine {

namespace {

// What the kernel behind an exception interface may get that is not addressed to one of the
// port's addresses: its multicast and limited broadcast (DHCP, routing protocols), and on IPv6
// its link-local address and every group. Never unicast to another address: the kernel of a VPN
// gateway forwards, and a WAN host would route into the overlay through it.
bool ipv4_for_kernel(rte_be32_t dst) noexcept {
    const uint32_t a = rte_be_to_cpu_32(dst);
    return (a >> 28) == 0xe || a == 0xffffffffU;
}
bool ipv6_for_kernel(const uint8_t* dst) noexcept {
    return dst[0] == 0xff || (dst[0] == 0xfe && (dst[1] & 0xc0) == 0x80);
}

/// Why a frame that is nobody's here is dropped: on an interface the kernel shares, it is the
/// kernel's (it got the frame as well).
drop_reason not_ours(const port_ctx& port) noexcept {
    return port.kernel_answers ? drop_reason::kernel_owned : drop_reason::not_for_us;
}

}  // namespace

// ARP (RFC 826): answer requests for our addresses in place; give replies (and gratuitous
// announcements) to the control thread, which owns the neighbour table.
void worker::handle_arp(rte_mbuf* m, const port_ctx& port) noexcept {
    if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)) [[unlikely]] {
        drop(m, drop_reason::bad_length);
        return;
    }
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
    if (arp->arp_hardware != RTE_BE16(RTE_ARP_HRD_ETHER) || arp->arp_protocol != RTE_BE16(RTE_ETHER_TYPE_IPV4) ||
        arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != 4) [[unlikely]] {
        drop(m, drop_reason::unhandled_arp);
        return;
    }
    if (arp->arp_opcode == RTE_BE16(RTE_ARP_OP_REQUEST) && port.owns_ipv4(arp->arp_data.arp_tip) &&
        !port.kernel_answers) {
        const rte_be32_t asker_ip = arp->arp_data.arp_sip;
        const rte_be32_t asked_ip = arp->arp_data.arp_tip;
        arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REPLY);
        arp->arp_data.arp_tha = arp->arp_data.arp_sha;
        arp->arp_data.arp_tip = asker_ip;
        arp->arp_data.arp_sha = port.mac;
        arp->arp_data.arp_sip = asked_ip;
        eth->dst_addr = eth->src_addr;
        eth->src_addr = port.mac;
        _stats.arp_replies.add();
        send(m, port.port_id);
        return;
    }
    if (arp->arp_opcode == RTE_BE16(RTE_ARP_OP_REPLY) ||
        (arp->arp_opcode == RTE_BE16(RTE_ARP_OP_REQUEST) && arp->arp_data.arp_sip == arp->arp_data.arp_tip)) {
        copy_to_kernel(m, port);  // the kernel resolves its own neighbours (its gateway) too
        m->hash.usr = 0;  // says "ARP/ND" to the control thread (mbufs come back with stale values)
        to_control(m);    // learn the sender's MAC (reply or gratuitous ARP)
        return;
    }
    // a request for another address: nobody's here (on a shared interface: the kernel's)
    drop(m, not_ours(port));
}

// IPv4 to one of our WAN addresses: ICMP echo is answered here (RFC 792), everything else is
// counted. VPN transports (udp, rawip, icmp type) join in the data-plane issue.
void worker::handle_ipv4(rte_mbuf* m, const port_ctx& port) noexcept {
    uint32_t len = rte_pktmbuf_data_len(m);
    if (len < sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr)) [[unlikely]] {
        drop(m, drop_reason::bad_length);
        return;
    }
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    uint32_t ihl = rte_ipv4_hdr_len(ip);
    uint32_t total = rte_be_to_cpu_16(ip->total_length);
    if ((ip->version_ihl >> 4) != 4 || ihl < sizeof(rte_ipv4_hdr) || total < ihl ||
        total > len - sizeof(rte_ether_hdr)) [[unlikely]] {
        drop(m, drop_reason::bad_ip_header);
        return;
    }
    if (rte_ipv4_cksum(ip) != 0 && ip->hdr_checksum != 0xffff) {
        // rte_ipv4_cksum() over a header with a correct checksum yields 0 (or 0xffff).
        drop(m, drop_reason::bad_ip_header);
        return;
    }
    if (!port.owns_ipv4(ip->dst_addr)) {
        if (ipv4_for_kernel(ip->dst_addr)) {
            to_kernel(m, port, drop_reason::not_for_us);  // multicast, limited broadcast
        } else {
            drop(m, not_ours(port));
        }
        return;
    }
    if ((ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0) {
        to_kernel(m, port, drop_reason::ip_fragment);
        return;
    }
    if (ip->next_proto_id != IPPROTO_ICMP) {
        to_kernel(m, port, drop_reason::unhandled_protocol);  // TCP (ssh), UDP (DNS answers), ...
        return;
    }
    uint32_t icmp_len = total - ihl;
    if (icmp_len < sizeof(rte_icmp_hdr)) [[unlikely]] {
        drop(m, drop_reason::bad_length);
        return;
    }
    auto* icmp = reinterpret_cast<rte_icmp_hdr*>(reinterpret_cast<uint8_t*>(ip) + ihl);
    if (icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || icmp->icmp_code != 0) {
        to_kernel(m, port, drop_reason::unhandled_icmp);  // echo replies to the kernel's pings, errors
        return;
    }
    if (port.kernel_answers) {
        drop(m, drop_reason::kernel_owned);  // the kernel answers it
        return;
    }
    // Reply in place: swap addresses, type 0, fresh checksums.
    rte_be32_t peer = ip->src_addr;
    ip->src_addr = ip->dst_addr;
    ip->dst_addr = peer;
    ip->time_to_live = 64;
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
    icmp->icmp_cksum = 0;
    icmp->icmp_cksum = static_cast<uint16_t>(~rte_raw_cksum(icmp, icmp_len));
    eth->dst_addr = eth->src_addr;
    eth->src_addr = port.mac;
    // Trim Ethernet padding so the reply is exactly as long as the request's IP packet.
    rte_pktmbuf_trim(m, static_cast<uint16_t>(len - sizeof(rte_ether_hdr) - total));
    _stats.icmp_echo_replies.add();
    send(m, port.port_id);
}

// IPv6 to one of our WAN addresses (or its solicited-node group): Neighbor Discovery
// (RFC 4861) and echo (RFC 4443) are handled here, the dvpe transports before this in
// ingress_dvpe(). Neighbour solicitations for our addresses are answered in place; neighbour
// advertisements go to the control thread's neighbour table; everything else is counted.
void worker::handle_ipv6(rte_mbuf* m, const port_ctx& port) noexcept {
    constexpr uint32_t ip6_len = 40;
    const uint32_t len = rte_pktmbuf_data_len(m);
    if (len < sizeof(rte_ether_hdr) + ip6_len) [[unlikely]] {
        drop(m, drop_reason::bad_length);
        return;
    }
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    auto* ip = reinterpret_cast<uint8_t*>(eth + 1);
    const uint32_t plen = static_cast<uint32_t>(ip[4] << 8 | ip[5]);
    if ((ip[0] >> 4) != 6) [[unlikely]] {
        drop(m, drop_reason::bad_ip_header);
        return;
    }
    if (sizeof(rte_ether_hdr) + ip6_len + plen > len) [[unlikely]] {
        drop(m, drop_reason::bad_length);
        return;
    }
    const int ours = port.ipv6_index(ip + 24);
    if (ours < 0 && !port.solicited_node_of_ours(ip + 24)) {
        if (ipv6_for_kernel(ip + 24)) {
            to_kernel(m, port, drop_reason::not_for_us);  // its link-local address, groups (RA, MLD)
        } else {
            drop(m, not_ours(port));
        }
        return;
    }
    if (ip[6] != 58) {
        to_kernel(m, port, drop_reason::unhandled_protocol);
        return;
    }
    uint8_t* icmp = ip + ip6_len;
    if (plen < 8 || transport::csum::icmp6_checksum(ip, icmp, plen) != 0) {
        drop(m, drop_reason::bad_length);  // truncated or corrupted ICMPv6
        return;
    }
    const uint8_t type = icmp[0];
    if (type == 135 && ip[7] == 255 && icmp[1] == 0 && plen >= 24) {
        // Neighbour solicitation (RFC 4861 §7.1.1 checks: hop limit 255, code 0, >= 24 bytes).
        const int target = port.ipv6_index(icmp + 8);
        static constexpr uint8_t unspecified[16] = {};
        const bool dad = std::memcmp(ip + 8, unspecified, 16) == 0;
        if (target < 0 || port.kernel_answers) {
            if (target < 0 && ipv6_for_kernel(icmp + 8)) {
                to_kernel(m, port, drop_reason::not_for_us);  // for the kernel's link-local address
            } else {
                drop(m, not_ours(port));  // another target, or ours on a shared interface (the kernel answers)
            }
            return;
        }
        // The asker's link-layer address: its option, else the frame's source.
        rte_ether_addr asker = eth->src_addr;
        for (uint32_t o = 24; o + 2 <= plen;) {
            const uint32_t olen = static_cast<uint32_t>(icmp[o + 1]) * 8;
            if (olen == 0 || o + olen > plen) {
                drop(m, drop_reason::unhandled_icmp);  // malformed options (§7.1.1)
                return;
            }
            if (icmp[o] == 1 && olen >= 8) {
                std::memcpy(asker.addr_bytes, icmp + o + 2, 6);
            }
            o += olen;
        }
        // The advertisement is 32 bytes of ICMPv6: a solicitation without options (DAD sends
        // none) is 24, so the frame grows by 8 (an mbuf from a port has the tailroom) before
        // anything past it is written; padding or options beyond 32 are cut.
        constexpr uint32_t na_frame_len = sizeof(rte_ether_hdr) + ip6_len + 32;
        if (len < na_frame_len) {
            if (rte_pktmbuf_append(m, static_cast<uint16_t>(na_frame_len - len)) == nullptr) [[unlikely]] {
                drop(m, drop_reason::no_buffer);
                return;
            }
        } else {
            rte_pktmbuf_trim(m, static_cast<uint16_t>(len - na_frame_len));
        }
        // Advertisement in place: to the asker (all-nodes for DAD), from the target address,
        // Solicited + Override, our MAC as the target link-layer address.
        static constexpr uint8_t all_nodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        std::memcpy(ip + 24, dad ? all_nodes : ip + 8, 16);
        std::memcpy(ip + 8, port.ipv6[static_cast<unsigned>(target)].data(), 16);
        ip[4] = 0;
        ip[5] = 32;
        ip[7] = 255;
        icmp[0] = 136;
        icmp[1] = 0;
        icmp[2] = icmp[3] = 0;
        icmp[4] = dad ? 0x20 : 0x60;  // S (not for DAD) + O
        icmp[5] = icmp[6] = icmp[7] = 0;
        icmp[24] = 2;
        icmp[25] = 1;
        std::memcpy(icmp + 26, port.mac.addr_bytes, 6);
        const uint16_t c = transport::csum::icmp6_checksum(ip, icmp, 32);
        std::memcpy(icmp + 2, &c, 2);
        if (dad) {
            const uint8_t mc[6] = {0x33, 0x33, 0, 0, 0, 1};
            std::memcpy(eth->dst_addr.addr_bytes, mc, 6);
        } else {
            eth->dst_addr = asker;
        }
        eth->src_addr = port.mac;
        _stats.arp_replies.add();  // address resolution answered (ARP or NDP)
        send(m, port.port_id);
        return;
    }
    if (type == 136 && ip[7] == 255) {
        copy_to_kernel(m, port);
        m->hash.usr = 0;  // says "ARP/ND" to the control thread
        to_control(m);    // neighbour advertisement: the control thread learns the target's MAC
        return;
    }
    if (type == 128 && icmp[1] == 0 && ours >= 0 && !port.kernel_answers) {
        // Echo request to our unicast address: reply in place.
        uint8_t peer[16];
        std::memcpy(peer, ip + 8, 16);
        std::memcpy(ip + 8, ip + 24, 16);
        std::memcpy(ip + 24, peer, 16);
        ip[7] = 64;
        icmp[0] = 129;
        icmp[2] = icmp[3] = 0;
        const uint16_t c = transport::csum::icmp6_checksum(ip, icmp, plen);
        std::memcpy(icmp + 2, &c, 2);
        eth->dst_addr = eth->src_addr;
        eth->src_addr = port.mac;
        rte_pktmbuf_trim(m, static_cast<uint16_t>(len - (sizeof(rte_ether_hdr) + ip6_len + plen)));
        _stats.icmp_echo_replies.add();
        send(m, port.port_id);
        return;
    }
    to_kernel(m, port, drop_reason::unhandled_icmp);
}

void worker::to_kernel(rte_mbuf* m, const port_ctx& port, drop_reason r) noexcept {
    if (port.link_port == port_ctx::no_link) {
        drop(m, port.kernel_answers ? drop_reason::kernel_owned : r);  // shared: the kernel has it anyway
        return;
    }
    if (rte_pktmbuf_pkt_len(m) > port.max_frame) [[unlikely]] {
        // A reassembled packet above the interface's MTU: the TAP would refuse it and, with it,
        // every frame behind it in the same tx burst.
        drop(m, drop_reason::too_big);
        return;
    }
    if (!_exception_in_limit.take(rte_rdtsc(), 1)) [[unlikely]] {
        drop(m, drop_reason::exception_limit);
        return;
    }
    _stats.exception_in.add();
    send(m, port.link_port);
}

void worker::copy_to_kernel(const rte_mbuf* m, const port_ctx& port) noexcept {
    if (port.link_port == port_ctx::no_link || _s.pool == nullptr || !_exception_in_limit.take(rte_rdtsc(), 1)) {
        return;  // over the rate: the kernel asks again; the control thread still learns
    }
    rte_mbuf* c = rte_pktmbuf_copy(m, _s.pool, 0, rte_pktmbuf_data_len(m));  // the first segment: what was parsed
    if (c == nullptr) [[unlikely]] {
        return;
    }
    _stats.exception_copies.add();
    send(c, port.link_port);
}

void worker::exception_burst(rte_mbuf** pkts, uint16_t n, const port_ctx& port) noexcept {
    // The kernel's frames leave as it wrote them (its MAC is the port's); only the rate is ours.
    const uint64_t now = rte_rdtsc();
    for (uint16_t i = 0; i < n; ++i) {
        if (!_exception_out_limit.take(now, 1)) [[unlikely]] {
            drop(pkts[i], drop_reason::exception_limit);
            continue;
        }
        _stats.exception_out.add();
        send(pkts[i], port.link_port);
    }
}

void worker::kernel_chain(rte_mbuf* m, const port_ctx& port) noexcept {
    const uint32_t len = rte_pktmbuf_data_len(m);  // the headers must lie in the first segment
    const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4)) {
        if (len < sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr)) {
            drop(m, drop_reason::bad_length);
            return;
        }
        const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(eth + 1);
        const uint32_t ihl = rte_ipv4_hdr_len(ip);
        const uint32_t total = rte_be_to_cpu_16(ip->total_length);
        // the checks of handle_ipv4, with the chain's whole length for the packet's
        if ((ip->version_ihl >> 4) != 4 || ihl < sizeof(rte_ipv4_hdr) || ihl > len - sizeof(rte_ether_hdr) ||
            total < ihl || total > rte_pktmbuf_pkt_len(m) - sizeof(rte_ether_hdr) ||
            (rte_ipv4_cksum(ip) != 0 && ip->hdr_checksum != 0xffff)) {
            drop(m, drop_reason::bad_ip_header);
            return;
        }
        if (!port.owns_ipv4(ip->dst_addr) && !ipv4_for_kernel(ip->dst_addr)) {
            drop(m, drop_reason::not_for_us);
            return;
        }
        to_kernel(m, port, drop_reason::not_for_us);
        return;
    }
    if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV6)) {
        if (len < sizeof(rte_ether_hdr) + 40) {
            drop(m, drop_reason::bad_length);
            return;
        }
        const auto* ip = reinterpret_cast<const uint8_t*>(eth + 1);
        if ((ip[0] >> 4) != 6) {
            drop(m, drop_reason::bad_ip_header);
            return;
        }
        if (sizeof(rte_ether_hdr) + 40 + (static_cast<uint32_t>(ip[4]) << 8 | ip[5]) > rte_pktmbuf_pkt_len(m)) {
            drop(m, drop_reason::bad_length);  // as handle_ipv6: the payload length past the frame
            return;
        }
        if (port.ipv6_index(ip + 24) < 0 && !ipv6_for_kernel(ip + 24)) {
            drop(m, drop_reason::not_for_us);
            return;
        }
        to_kernel(m, port, drop_reason::not_for_us);
        return;
    }
    drop(m, drop_reason::unknown_ethertype);  // ARP is never a chain
}

void worker::process_wan(rte_mbuf* m, const port_ctx& port) noexcept {
    if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr)) [[unlikely]] {
        drop(m, drop_reason::bad_length);
        return;
    }
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    const bool exception = port.link_port != port_ctx::no_link;
    // Ours, broadcast (ARP), or IPv6 multicast 33:33:... (solicited-node groups for NDP; the
    // IPv6 handler checks the group); with an exception interface every group address (the
    // kernel's multicast: routing protocols, LLDP) -- a NIC's filter passes what the kernel joined.
    if (!rte_is_same_ether_addr(&eth->dst_addr, &port.mac) && !rte_is_broadcast_ether_addr(&eth->dst_addr) &&
        !(eth->dst_addr.addr_bytes[0] == 0x33 && eth->dst_addr.addr_bytes[1] == 0x33 &&
          eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV6)) &&
        !(exception && rte_is_multicast_ether_addr(&eth->dst_addr))) {
        drop(m, drop_reason::not_for_us);
        return;
    }
    if (m->nb_segs != 1) [[unlikely]] {
        // A chain (a jumbo frame): the engine answers nothing from one; with an exception
        // interface it may be the kernel's (checked as in the handlers, from the first segment).
        if (exception) {
            kernel_chain(m, port);
            return;
        }
        keep_first_segment(m);  // the handlers below answer in place, trimming to what they wrote
    }
    switch (eth->ether_type) {
    case RTE_BE16(RTE_ETHER_TYPE_ARP):
        handle_arp(m, port);
        return;
    case RTE_BE16(RTE_ETHER_TYPE_IPV4):
        handle_ipv4(m, port);
        return;
    case RTE_BE16(RTE_ETHER_TYPE_IPV6):
        handle_ipv6(m, port);
        return;
    default:
        to_kernel(m, port, drop_reason::unknown_ethertype);
        return;
    }
}

}  // namespace engine
