// SPDX-License-Identifier: MIT
// Worker lcore loop and the WAN slow-path answers (ARP, ICMP echo); see worker.hh.
// Loop shape after dpdk:examples/l3fwd/l3fwd_lpm.c lpm_main_loop (STYLE.md §3).
#include "engine/worker.hh"

#include "engine/neighbour.hh"

#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include <stdexcept>

#include "transports/checksum.hh"
#include "transports/fragment.hh"
#include "transports/kind.hh"

namespace engine {

namespace {

struct tx_err_ctx {
    worker_stats* stats;
};

// Called by rte_eth_tx_buffer_flush for packets the queue did not take: count and free.
void tx_error_cb(rte_mbuf** unsent, uint16_t count, void* userdata) {
    auto* st = static_cast<worker_stats*>(userdata);
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < count; ++i) {
        bytes += rte_pktmbuf_pkt_len(unsent[i]);
        rte_pktmbuf_free(unsent[i]);
    }
    st->drop(drop_reason::tx_failed, count);
    // They were counted as tx when buffered; take them back out.
    st->tx_packets.add(-static_cast<uint64_t>(count));
    st->tx_bytes.add(-bytes);
}

}  // namespace

worker::worker(const worker_setup& s) : _s(s) {
    if (_s.burst_size == 0 || _s.burst_size > limits::max_burst) {
        throw std::runtime_error("worker: bad burst size " + std::to_string(_s.burst_size));
    }
    if (_s.rx_queues.size() > limits::max_rxq_per_worker) {
        throw std::runtime_error("worker: too many rx queues");
    }
    if (_s.worker_idx >= transport::control_lane) {
        // Worker w seals on lane w; the control thread seals on control_lane with counters of
        // its own: a worker there would repeat AEAD nonces (config validation refuses it first).
        throw std::runtime_error("worker: worker " + std::to_string(_s.worker_idx) + " would seal on the control lane " +
                                 std::to_string(transport::control_lane) + " (at most " +
                                 std::to_string(transport::control_lane) + " workers)");
    }
    for (unsigned i = 0; i < _s.ports->n_ports; ++i) {
        uint16_t pid = _s.ports->ports[i].port_id;
        auto* b = static_cast<rte_eth_dev_tx_buffer*>(
            rte_zmalloc_socket("dvpe_txb", RTE_ETH_TX_BUFFER_SIZE(_s.burst_size), RTE_CACHE_LINE_SIZE,
                               static_cast<int>(rte_lcore_to_socket_id(_s.lcore_id))));
        if (b == nullptr) {
            throw std::runtime_error("worker: cannot allocate tx buffer");
        }
        rte_eth_tx_buffer_init(b, static_cast<uint16_t>(_s.burst_size));
        rte_eth_tx_buffer_set_err_callback(b, tx_error_cb, &_stats);
        _txb[pid] = b;
        _tx_ports.push_back(pid);
    }
    _drain_cycles = rte_get_tsc_hz() / 1000000 * _s.tx_drain_us;
    _too_big_limit.set_hz(rte_get_tsc_hz());
    if (_s.snapshot != nullptr) {
        auto ctx = crypto::aead_context::create();
        if (!ctx) {
            throw std::runtime_error("worker: cannot create the crypto context: " + ctx.error());
        }
        _crypto.emplace(std::move(ctx.value()));
        _lanes.resize(limits::max_node_id + 1);
        // Outer reassembly: a small table (the WAN MTU is sized so that only peers with
        // wan-fragment, or a path that fragments, ever send fragments).
        const uint64_t max_cycles = rte_get_tsc_hz() / 1000 * limits::reassembly_timeout_ms;
        _frag_tbl = rte_ip_frag_table_create(limits::reassembly_packets / 4, 4, limits::reassembly_packets, max_cycles,
                                             static_cast<int>(rte_lcore_to_socket_id(_s.lcore_id)));
        if (_frag_tbl == nullptr) {
            throw std::runtime_error("worker: cannot create the reassembly table");
        }
        _frag_id = static_cast<uint32_t>(_s.worker_idx) << 24;
        if (_s.qsbr != nullptr) {
            _s.qsbr->register_reader(_s.worker_idx);
        }
    }
    _peer_stats = std::vector<node_stats>(limits::max_node_id + 1);
}

worker::~worker() {
    if (_frag_tbl != nullptr) {
        rte_ip_frag_free_death_row(&_death_row, 0);
        rte_ip_frag_table_destroy(_frag_tbl);
    }
    for (uint16_t pid : _tx_ports) {
        rte_free(_txb[pid]);
    }
}

void worker::drop(rte_mbuf* m, drop_reason r) noexcept {
    _stats.drop(r);
    rte_pktmbuf_free(m);
}

void worker::to_control(rte_mbuf* m) noexcept {
    if (rte_ring_mp_enqueue(_s.to_control, m) != 0) [[unlikely]] {
        drop(m, drop_reason::control_ring_full);
        return;
    }
    _stats.to_control.add();
}

void worker::flush_all() noexcept {
    commit_tx_stats();  // before the flushes: their error callback subtracts unsent packets
    for (uint16_t pid : _tx_ports) {
        rte_eth_tx_buffer_flush(pid, static_cast<uint16_t>(_s.worker_idx), _txb[pid]);
    }
}

void worker::drain_control() noexcept {
    rte_mbuf* pkts[limits::max_burst];
    unsigned n = rte_ring_sc_dequeue_burst(_s.from_control, reinterpret_cast<void**>(pkts), _s.burst_size, nullptr);
    for (unsigned i = 0; i < n; ++i) {
        uint16_t pid = pkts[i]->port;
        if (pid >= RTE_MAX_ETHPORTS || _txb[pid] == nullptr) [[unlikely]] {
            drop(pkts[i], drop_reason::tx_failed);
            continue;
        }
        _stats.from_control.add();
        send(pkts[i], pid);
    }
    commit_tx_stats();
}

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
    if (arp->arp_opcode == RTE_BE16(RTE_ARP_OP_REQUEST) && port.owns_ipv4(arp->arp_data.arp_tip)) {
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
        to_control(m);  // learn the sender's MAC (reply or gratuitous ARP)
        return;
    }
    drop(m, drop_reason::not_for_us);
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
    if (!port.owns_ipv4(ip->dst_addr)) {
        drop(m, drop_reason::not_for_us);
        return;
    }
    if (rte_ipv4_cksum(ip) != 0 && ip->hdr_checksum != 0xffff) {
        // rte_ipv4_cksum() over a header with a correct checksum yields 0 (or 0xffff).
        drop(m, drop_reason::bad_ip_header);
        return;
    }
    if ((ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0) {
        drop(m, drop_reason::ip_fragment);
        return;
    }
    if (ip->next_proto_id != IPPROTO_ICMP) {
        drop(m, drop_reason::unhandled_protocol);
        return;
    }
    uint32_t icmp_len = total - ihl;
    if (icmp_len < sizeof(rte_icmp_hdr)) [[unlikely]] {
        drop(m, drop_reason::bad_length);
        return;
    }
    auto* icmp = reinterpret_cast<rte_icmp_hdr*>(reinterpret_cast<uint8_t*>(ip) + ihl);
    if (icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || icmp->icmp_code != 0) {
        drop(m, drop_reason::unhandled_icmp);
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

void worker::answer_too_big(const rte_mbuf* m, uint16_t inner_mtu, uint16_t overlay_port) noexcept {
    if (_s.pool == nullptr || m->nb_segs != 1) [[unlikely]] {
        return;
    }
    if (!_too_big_limit.allow(rte_rdtsc())) {
        return;
    }
    rte_mbuf* a = rte_pktmbuf_alloc(_s.pool);
    if (a == nullptr) {
        return;
    }
    if (rte_pktmbuf_tailroom(a) < too_big_max_answer) [[unlikely]] {
        rte_pktmbuf_free(a);
        return;
    }
    const size_t n = build_too_big(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m), inner_mtu,
                                   rte_pktmbuf_mtod(a, uint8_t*));
    if (n == 0) {
        rte_pktmbuf_free(a);
        return;
    }
    a->data_len = static_cast<uint16_t>(n);
    a->pkt_len = static_cast<uint32_t>(n);
    _stats.too_big_answers.add();
    send(a, overlay_port);
}

void worker::send_fragments(rte_mbuf* m, const peer_entry& p) noexcept {
    const bool v6 = transport::is_ipv6(p.tmpl.k);
    const transport::fragment_plan plan = transport::plan_fragments(v6, rte_pktmbuf_data_len(m), p.tx_mtu);
    std::array<rte_mbuf*, transport::max_fragments> out{};
    if (plan.count == 0) [[unlikely]] {
        drop(m, drop_reason::too_big);
        return;
    }
    if (_s.pool == nullptr || rte_pktmbuf_alloc_bulk(_s.pool, out.data(), plan.count) != 0) [[unlikely]] {
        drop(m, drop_reason::no_buffer);
        return;
    }
    // IPv4 identifications wrap after 65536 fragmented packets of this worker; the lane bits
    // keep workers apart for IPv6. A misassembled packet cannot pass the AEAD.
    const uint32_t id = ++_frag_id;
    const auto* frame = rte_pktmbuf_mtod(m, const uint8_t*);
    for (unsigned k = 0; k < plan.count; ++k) {
        rte_mbuf* f = out[k];
        const size_t n = transport::write_fragment(frame, v6, plan, k, id, rte_pktmbuf_mtod(f, uint8_t*));
        f->data_len = static_cast<uint16_t>(n);
        f->pkt_len = static_cast<uint32_t>(n);
    }
    rte_pktmbuf_free(m);
    _stats.fragmented.add();
    for (unsigned k = 0; k < plan.count; ++k) {
        send(out[k], p.tx_port_id);
    }
}

rte_mbuf* worker::reassemble(rte_mbuf* m) noexcept {
    _stats.fragments_in.add();
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    m->l2_len = sizeof(rte_ether_hdr);
    rte_mbuf* whole = nullptr;
    const uint64_t now = rte_rdtsc();
    if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4)) {
        auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
        m->l3_len = rte_ipv4_hdr_len(ip);
        whole = rte_ipv4_frag_reassemble_packet(_frag_tbl, &_death_row, m, now, ip);
        if (whole != nullptr) {
            // The library leaves the checksum 0; classify() checks it.
            auto* wip = rte_pktmbuf_mtod_offset(whole, rte_ipv4_hdr*, whole->l2_len);
            wip->hdr_checksum = 0;
            wip->hdr_checksum = rte_ipv4_cksum(wip);
        }
    } else {
        // classify() returns `fragment` for IPv6 only with the fragment header right after the
        // IPv6 header.
        auto* ip = reinterpret_cast<rte_ipv6_hdr*>(eth + 1);
        m->l3_len = sizeof(rte_ipv6_hdr) + sizeof(rte_ipv6_fragment_ext);
        whole = rte_ipv6_frag_reassemble_packet(_frag_tbl, &_death_row, m, now, ip,
                                                reinterpret_cast<rte_ipv6_fragment_ext*>(ip + 1));
    }
    if (_death_row.cnt != 0) {
        rte_ip_frag_free_death_row(&_death_row, 0);  // bad, duplicate or timed-out fragments
    }
    if (whole == nullptr) {
        return nullptr;  // kept until the rest arrives (or freed above)
    }
    _stats.reassembled.add();
    if (whole->nb_segs > 1 && rte_pktmbuf_linearize(whole) != 0) [[unlikely]] {
        drop(whole, drop_reason::no_buffer);  // larger than one mbuf's data room
        return nullptr;
    }
    return whole;
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
        drop(m, drop_reason::not_for_us);
        return;
    }
    if (ip[6] != 58) {
        drop(m, drop_reason::unhandled_protocol);
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
        if (target < 0) {
            drop(m, drop_reason::not_for_us);
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
        to_control(m);  // neighbour advertisement: the control thread learns the target's MAC
        return;
    }
    if (type == 128 && icmp[1] == 0 && ours >= 0) {
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
    drop(m, drop_reason::unhandled_icmp);
}

void worker::process_wan(rte_mbuf* m, const port_ctx& port) noexcept {
    if (m->nb_segs != 1) [[unlikely]] {
        keep_first_segment(m);  // the handlers below answer in place, trimming to what they wrote
    }
    if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr)) [[unlikely]] {
        drop(m, drop_reason::bad_length);
        return;
    }
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    // Ours, broadcast (ARP), or IPv6 multicast 33:33:... (solicited-node groups for NDP; the
    // IPv6 handler checks the group).
    if (!rte_is_same_ether_addr(&eth->dst_addr, &port.mac) && !rte_is_broadcast_ether_addr(&eth->dst_addr) &&
        !(eth->dst_addr.addr_bytes[0] == 0x33 && eth->dst_addr.addr_bytes[1] == 0x33 &&
          eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV6))) {
        drop(m, drop_reason::not_for_us);
        return;
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
        drop(m, drop_reason::unknown_ethertype);
        return;
    }
}

void worker::process_burst(rte_mbuf** pkts, uint16_t n, const port_ctx& port) noexcept {
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < n; ++i) {
        bytes += rte_pktmbuf_pkt_len(pkts[i]);
    }
    _stats.rx_packets.add(n);
    _stats.rx_bytes.add(bytes);
    if (port.role == port_role::overlay) {
        if (_snap != nullptr) {
            egress_burst(pkts, n, *_snap);
        } else {
            for (uint16_t i = 0; i < n; ++i) {
                drop(pkts[i], drop_reason::no_session);  // no data plane configured
            }
        }
        commit_tx_stats();
        return;
    }
    if (_snap != nullptr) {
        ingress_burst(pkts, n, port, *_snap);
    } else {
        for (uint16_t i = 0; i < n; ++i) {
            process_wan(pkts[i], port);
        }
    }
    commit_tx_stats();
}

bool worker::iterate() noexcept {
    // One snapshot per iteration; the quiescent state at the end releases it (engine/rcu.hh).
    _snap = _s.snapshot != nullptr ? _s.snapshot->get() : nullptr;
    rte_mbuf* pkts[limits::max_burst];
    const auto burst = static_cast<uint16_t>(_s.burst_size);
    const uint64_t start = rte_rdtsc();
    bool busy = false;
    for (const rx_queue_ref& q : _s.rx_queues) {
        uint16_t n = rte_eth_rx_burst(q.port_id, q.queue_id, pkts, burst);
        _stats.polls.add();
        if (n == 0) {
            _stats.empty_polls.add();
            continue;
        }
        busy = true;
        process_burst(pkts, n, _s.ports->ports[static_cast<unsigned>(_s.ports->index_of[q.port_id])]);
    }
    if (!rte_ring_empty(_s.from_control)) [[unlikely]] {
        drain_control();
        busy = true;
    }
    const uint64_t now = rte_rdtsc();
    if (now >= _next_flush) [[unlikely]] {
        flush_all();
        _next_flush = now + _drain_cycles;
    }
    if (busy) {
        _idle_run = 0;
        _stats.busy_cycles.add(now - start);
    } else if (_s.idle_sleep_us != 0 && ++_idle_run >= _s.idle_polls) [[unlikely]] {
        // A quiet gateway does not burn its cores, and several nodes can share a CPU.
        flush_all();
        if (_s.qsbr != nullptr) {
            _s.qsbr->offline(_s.worker_idx);  // a sleeping worker never delays the control thread
        }
        rte_delay_us_sleep(_s.idle_sleep_us);
        if (_s.qsbr != nullptr) {
            _s.qsbr->online(_s.worker_idx);
        }
        _stats.idle_sleeps.add();
    }
    if (_s.qsbr != nullptr) {
        _s.qsbr->quiescent(_s.worker_idx);
    }
    _snap = nullptr;
    return busy;
}

int worker::run() noexcept {
    _drain_cycles = rte_get_tsc_hz() / 1000000 * _s.tx_drain_us;
    _next_flush = rte_rdtsc() + _drain_cycles;
    while (!_stop.load(std::memory_order_relaxed)) {
        iterate();
    }
    flush_all();
    return 0;
}

}  // namespace engine
