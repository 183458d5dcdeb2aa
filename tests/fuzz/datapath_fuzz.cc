// SPDX-License-Identifier: MIT
// libFuzzer target for the encrypted data path: engine::worker's ingress_burst and egress_burst
// (through worker::iterate(), on net_ring ports, datapath_env.hh) with a real snapshot, real keys
// and real mbufs, fed mixed bursts built from the input. Each input is one run of a node (two
// workers, six peers, one per transport) with a fresh snapshot and fresh replay windows (the
// workers are kept across runs, datapath_env.hh); the input is three option bytes (one
// combination of the second adds a site LAN port beside the TAP, docs/site-gateways.md: bridge
// with a small MAC table, or route with a few prefixes and one LAN neighbour; overlay frames then
// come from the TAP or the LAN, and in route mode peers seal IP packets), then operations:
//   seal       a data packet sealed as peer p would (any key slot, an unknown key id, the wrong
//              key, a bad lane, any counter, full-frame/close flags, for us or for another node),
//              on any transport, optionally truncated (outer lengths kept or rewritten), with one
//              byte flipped, or cut into a chain of segments
//   zero head  a dvpe packet whose first 8 bytes are zero (flags nibble aside)
//   replay     an earlier sealed packet again, on any transport, to either worker
//   head copy  the first 8 bytes of an earlier sealed packet, then anything
//   raw        anything in an outer header, outer IPv4/IPv6 header fields set, or a bare frame
//   fragments  an earlier or fresh sealed packet as IPv4/IPv6 outer fragments (transports/
//              fragment.hh), reordered, dropped, duplicated, spread over both workers, corrupted
//   overlay    an overlay frame for egress: to a peer, ourselves, an unknown node, broadcast,
//              multicast; full frames; IPv4/IPv6 inside (too big, inherit-tos); chains; no headroom
//   rekey      a peer's receive key slots move on, its send key changes, router on/off: publish
//   loop       what the node sealed for a peer, sent back to the node
//   handshake  a handshake-type message (to the control thread or relayed)
//   slow path  ARP, ICMP echo, ICMPv6 echo, neighbour solicitation/advertisement for the node
//   control    a frame the control thread hands a worker to send (WAN, overlay, a bad port)
//   flush      run the pending bursts now (one per worker and port; also when 256 are pending)
// Oracles (abort with a message, so libFuzzer and the replay test report it):
//   * every worker's rx_packets == accounted() after every burst (engine/stats.hh);
//   * no (key, lane, counter) delivered twice, whichever worker got the copies; every delivered
//     frame is byte for byte what the peer sealed (the plaintext carries a tag naming it);
//   * decrypted + keepalives never exceed the distinct (key, lane, counter) the peers sealed;
//   * what the node sends a peer classifies at the peer; what it sealed opens with the peer's key,
//     on the worker's own lane, never with a (key, lane, counter) used before, and is byte for
//     byte the overlay frame; relayed packets only when router, to the node in their header;
//   * what reaches the overlay untagged is a well-formed ICMP/ICMPv6 "too big" answer; with a
//     site LAN, what reaches the TAP or the LAN is a delivered frame (routed: to the neighbour's
//     MAC from the port's, one hop less, checksum right), a frame passed unchanged between them,
//     or a well-formed answer; what is sealed from a routing LAN is the packet one hop less;
//   * every mbuf is back in its pool after the run (no leak, no double free);
//   * no ASan/UBSan report (WAN frames' tailroom is poisoned: reads past a frame are caught).
// Triage: DVPE_DATAPATH_FUZZ_ONE_WORKER=1 sends everything to worker 0; DVPE_DATAPATH_FUZZ_TRACE=1
// prints each operation and each worker's counters after each burst.
#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "tests/fuzz/datapath_env.hh"
#include "tests/fuzz/fuzz_replay.hh"
#include "transports/checksum.hh"
#include "transports/fragment.hh"
#include "transports/wire.hh"

namespace {

using namespace dpfuzz;

[[noreturn]] [[gnu::format(printf, 1, 2)]] void fail(const char* fmt, ...) {
    std::va_list ap;
    va_start(ap, fmt);
    std::fprintf(stderr, "datapath_fuzz: oracle violated: ");
    std::vfprintf(stderr, fmt, ap);
    std::fprintf(stderr, "\n");
    va_end(ap);
    std::abort();
}

class reader {
public:
    reader(const uint8_t* d, size_t n) : _p(d), _n(n) {}
    [[nodiscard]] bool empty() const { return _n == 0; }
    uint8_t u8() {
        if (_n == 0) {
            return 0;
        }
        --_n;
        return *_p++;
    }
    uint16_t u16() {
        const uint16_t lo = u8();
        return static_cast<uint16_t>(lo | u8() << 8);
    }
    uint64_t u64() {
        uint64_t v = 0;
        for (int i = 0; i < 8; ++i) {
            v |= uint64_t{u8()} << (8 * i);
        }
        return v;
    }
    /// `n` bytes: a count byte k, k (at most 16) literal bytes, then a pattern seeded by one more
    /// byte: long packets from short inputs, and operations after it stay where they were.
    bytes fill(size_t n) {
        bytes b(n);
        const size_t k = std::min<size_t>(u8() % 17, n);
        for (size_t i = 0; i < k; ++i) {
            b[i] = u8();
        }
        const uint8_t seed = u8();
        for (size_t i = k; i < n; ++i) {
            b[i] = static_cast<uint8_t>(seed + i * 7);
        }
        return b;
    }

private:
    const uint8_t* _p;
    size_t _n;
};

constexpr uint8_t magic_in[4] = {0xd7, 0x5e, 0xa1, 0x3c};   // in what the peers seal
constexpr uint8_t magic_out[4] = {0xd7, 0x5e, 0xa1, 0x3d};  // in overlay frames we inject
constexpr size_t max_packets = 2048;                       // per run
// Destination of the frames the control thread asks a worker to send (op_control): not checked.
constexpr rte_ether_addr control_dst{{0x02, 0xc0, 0x00, 0x00, 0x00, 0x01}};
constexpr size_t max_ops = 512;

struct key_tuple {
    unsigned peer, gen;
    uint16_t lane;
    uint64_t ctr;
    auto operator<=>(const key_tuple&) const = default;
};

struct sealed_rec {
    bytes dvpe;       // header, ciphertext, tag
    unsigned peer;    // whose key sealed it (and who sends it)
    uint16_t lane;
};

struct expected {
    bytes frame;      // the overlay frame the node must deliver
    key_tuple t;
};

void store32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
uint32_t load32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

bool tracing() {
    static const bool v = [] {
        const char* e = std::getenv("DVPE_DATAPATH_FUZZ_TRACE");
        return e != nullptr && e[0] == '1';
    }();
    return v;
}

void trace_stats(unsigned w, const engine::worker_stats& s) {
    std::fprintf(stderr, "  worker %u: rx %llu decrypted %llu keepalives %llu encrypted %llu relayed %llu to_control %llu"
                         " arp %llu echo %llu fragments_in %llu reassembled %llu too_big_answers %llu",
                 w, static_cast<unsigned long long>(s.rx_packets.load()),
                 static_cast<unsigned long long>(s.decrypted.load()), static_cast<unsigned long long>(s.keepalives.load()),
                 static_cast<unsigned long long>(s.encrypted.load()), static_cast<unsigned long long>(s.relayed.load()),
                 static_cast<unsigned long long>(s.to_control.load()), static_cast<unsigned long long>(s.arp_replies.load()),
                 static_cast<unsigned long long>(s.icmp_echo_replies.load()),
                 static_cast<unsigned long long>(s.fragments_in.load()),
                 static_cast<unsigned long long>(s.reassembled.load()),
                 static_cast<unsigned long long>(s.too_big_answers.load()));
    for (size_t i = 0; i < engine::n_drop_reasons; ++i) {
        if (s.drops[i].load() != 0) {
            std::fprintf(stderr, " %s %llu", std::string(engine::drop_reason_names[i]).c_str(),
                         static_cast<unsigned long long>(s.drops[i].load()));
        }
    }
    std::fprintf(stderr, "\n");
}

bool one_worker() {
    static const bool v = [] {
        const char* e = std::getenv("DVPE_DATAPATH_FUZZ_ONE_WORKER");
        return e != nullptr && e[0] == '1';
    }();
    return v;
}

class run {
public:
    explicit run(const node_options& o) : n(o), _cipher(o.cipher % n_ciphers), _local(n.local()) {}

    void execute(reader& r);

private:
    unsigned worker_of(uint8_t b) const { return one_worker() ? 0 : b & 1U; }
    enum port_sel : uint8_t { wan_port, tap_port, lan_port };
    void push(unsigned w, port_sel port, rte_mbuf* m);
    void push_wan(unsigned w, const bytes& frame, std::span<const uint16_t> cuts = {}, unsigned headroom_cut = 0);
    void flush();
    void collect();
    void check_delivered(const bytes& f, bool lan);
    [[nodiscard]] bool lan_mode() const { return n.options().lan != pmd::overlay_mode::host; }
    [[nodiscard]] bool route_mode() const { return n.options().lan == pmd::overlay_mode::route; }
    void check_sent(unsigned w, const bytes& f);
    static void check_answer(unsigned w, const bytes& f);
    void finish();

    bytes seal(unsigned key_peer, const crypto::aead_key& key, uint16_t src, uint16_t dst, uint8_t kid, uint16_t lane,
               uint64_t ctr, uint8_t flags, const bytes& plain);
    bytes wrap(transport::kind k, unsigned p, const bytes& dvpe, uint16_t lane) const;
    sealed_rec make_sealed(reader& r, uint8_t flags, size_t max_len);

    void op_seal(reader& r);
    void op_zero_head(reader& r);
    void op_replay(reader& r);
    void op_head_copy(reader& r);
    void op_raw(reader& r);
    void op_fragments(reader& r);
    void op_overlay(reader& r);
    void op_rekey(reader& r);
    void op_loop(reader& r);
    void op_handshake(reader& r);
    void op_slow(reader& r);
    void op_control(reader& r);

    node n;
    unsigned _cipher;
    transport::local_config _local;
    std::array<std::vector<rte_mbuf*>, n_workers> _wan{}, _ovl{}, _lan{};
    size_t _packets = 0;
    std::vector<sealed_rec> _sealed;
    std::vector<expected> _expect;
    std::set<key_tuple> _valid;       // distinct tuples the peers sealed with a key the node may have
    std::set<std::pair<key_tuple, bool>> _delivered;  // (tuple, at the LAN port): a bridge floods
                                                      // a peer's multicast to the TAP and the LAN
    std::vector<bytes> _egress;       // overlay frames by id
    std::set<std::string> _passable;        // LAN modes: every frame into the TAP or the LAN (switched, copied)
    std::set<key_tuple> _we_sealed;   // (peer, our send generation, lane, counter)
    std::set<std::pair<uint32_t, unsigned>> _egress_seen;  // (frame id, peer)
    std::vector<bytes> _wire_out;     // dvpe packets the node sealed towards peers
    std::set<std::string> _ours;      // every dvpe packet the node sealed (relayed copies come back)
    std::set<bytes> _wan_in;          // every frame injected on the WAN (exception: what may reach the kernel)
    bool _wan_fragments = false;      // some were IP fragments (a reassembled packet may reach the kernel)
};

// ---- building packets ------------------------------------------------------------------------------

bytes run::seal(unsigned key_peer, const crypto::aead_key& key, uint16_t src, uint16_t dst, uint8_t kid, uint16_t lane,
                uint64_t ctr, uint8_t flags, const bytes& plain) {
    (void)key_peer;
    bytes d(transport::data_overhead + plain.size());
    transport::data_header h{};
    if (!transport::init_data_header(h, src, dst, kid, lane, ctr)) {
        fail("harness: bad node id %u -> %u", src, dst);
    }
    h.version_flags = static_cast<uint8_t>(transport::protocol_version << 4 | (flags & 0x0f));
    std::memcpy(d.data(), &h, sizeof h);
    if (!plain.empty()) {
        std::memcpy(d.data() + sizeof h, plain.data(), plain.size());
    }
    const auto nonce = transport::nonce(lane, ctr);
    crypto::aead_packet a{d.data() + sizeof h, static_cast<uint32_t>(plain.size()), sizeof h, d.data(), nonce.data(),
                          d.data() + sizeof h + plain.size()};
    world::get().ctx->seal_burst(key, std::span<crypto::aead_packet>(&a, 1));
    return d;
}

bytes run::wrap(transport::kind k, unsigned p, const bytes& dvpe, uint16_t lane) const {
    const transport::outer_template t = template_to_us(k, p, _local, lane);
    const size_t hl = transport::headroom(k);
    bytes f(hl + dvpe.size());
    if (!dvpe.empty()) {
        std::memcpy(f.data() + hl, dvpe.data(), dvpe.size());
    }
    transport::write_outer(t, f.data(), static_cast<uint16_t>(dvpe.size()),
                           static_cast<uint16_t>(transport::udp_lane_port_base(peer_ids[p]) + lane % 16));
    return f;
}

/// A data packet as peer p seals it. `flags`: bit0 full frame, bit1 close, bit2 to another node,
/// bit3 bad lane, bit7 the wrong key under a right key id. Slot 3 is a generation the node does
/// not have (unknown key id).
sealed_rec run::make_sealed(reader& r, uint8_t flags, size_t max_len) {
    const uint8_t a = r.u8();
    const unsigned p = a % n_peers;
    const unsigned slot = (a >> 3) % 4;
    const unsigned gen = std::min(n.rx_base[p] + slot, n_generations - 1);
    auto lane = static_cast<uint16_t>(r.u8() % transport::udp_lanes);
    if (flags & 0x08) {
        lane = static_cast<uint16_t>(lane + transport::udp_lanes * (1 + (a >> 5)));
    }
    const uint8_t c = r.u8();
    const uint64_t ctr = c < 0xf0 ? c : c == 0xff ? r.u64() : uint64_t{c - 0xf0U} * 1000000 + r.u16();
    const size_t len = r.u16() % (max_len + 1);
    const bool full = flags & 0x01;
    uint16_t dst = self_id;
    if (flags & 0x04) {
        dst = peer_ids[(p + 1 + (a >> 5) % (n_peers - 1)) % n_peers];
    }
    bytes plain = r.fill(len);
    const bool wrong_key = flags & 0x80;
    // Whether the node may open it: the right key, for us, on a real lane. The key generation
    // may be one the node does not have yet (slot 3): a rekey before the burst runs adds it.
    const bool valid = !wrong_key && dst == self_id && lane < transport::udp_lanes;
    const key_tuple t{p, gen, lane, ctr};
    if (valid) {
        _valid.insert(t);
    }
    // Route mode: a longer frame carries an IPv4/IPv6 packet (no input consumed, so operations
    // stay where they are) from the peer's site or another, to our site's resolved host or
    // another one, or another site, any hop limit; tagged at its end, clear of the header.
    const bool routed = route_mode() && !full && len >= 2 + 40 + 8 + 8;
    if (routed) {
        const uint8_t sel = plain[2] ^ plain[len / 2];
        const bool v6 = sel & 1;
        const uint8_t hops = (sel >> 1) % 4 == 3 ? 64 : static_cast<uint8_t>((sel >> 1) % 4);
        const uint8_t src_net = (sel & 0x10) ? static_cast<uint8_t>((sel >> 5) % 10) : static_cast<uint8_t>(p);
        const uint8_t dst_net = (sel & 0x08) ? lan_self_net : static_cast<uint8_t>((sel >> 5) % 11);
        const uint8_t dst_host = (sel & 0x04) ? 5 : 6;
        uint8_t* ip = plain.data() + 2;
        const size_t l3 = len - 2;
        if (!v6) {
            plain[0] = 0x08, plain[1] = 0x00;
            ip[0] = 0x45;
            ip[2] = static_cast<uint8_t>(l3 >> 8), ip[3] = static_cast<uint8_t>(l3);
            ip[6] = ip[7] = 0;
            ip[8] = hops;
            ip[9] = 17;
            ip[12] = 10, ip[13] = src_net;
            ip[16] = 10, ip[17] = dst_net, ip[18] = 0, ip[19] = dst_host;
            ip[10] = ip[11] = 0;
            const uint16_t c = transport::csum::finish(transport::csum::ones_sum(ip, 20));
            std::memcpy(ip + 10, &c, 2);
        } else {
            plain[0] = 0x86, plain[1] = 0xdd;
            ip[0] = 0x60;
            ip[4] = static_cast<uint8_t>((l3 - 40) >> 8), ip[5] = static_cast<uint8_t>(l3 - 40);
            ip[6] = 17;
            ip[7] = hops;
            const uint8_t s6[6] = {0xfd, 0, 0, 0, 0, src_net}, d6[6] = {0xfd, 0, 0, 0, 0, dst_net};
            std::memcpy(ip + 8, s6, 6);
            std::memcpy(ip + 24, d6, 6);
            std::memset(ip + 30, 0, 9);
            ip[39] = dst_host;
        }
    }
    // The tag: at delivered-frame offset 14 (after the rebuilt MAC pair, or inside a full frame);
    // at the end of a routed packet.
    const size_t at = routed ? len - 8 : full ? 14 : 2;
    if (valid && len >= at + 8) {
        const auto id = static_cast<uint32_t>(_expect.size());
        std::memcpy(plain.data() + at, magic_in, 4);
        store32(plain.data() + at + 4, id);
        bytes frame;
        if (!full) {
            frame.resize(12);
            const rte_ether_addr us = node_mac(self_id), them = node_mac(peer_ids[p]);
            std::memcpy(frame.data(), &us, 6);
            std::memcpy(frame.data() + 6, &them, 6);
        }
        frame.insert(frame.end(), plain.begin(), plain.end());
        _expect.push_back({std::move(frame), t});
    }
    const crypto::aead_key& key = world::get().key(_cipher, p, wrong_key ? dir::from_us : dir::to_us, gen);
    return {seal(p, key, peer_ids[p], dst, key_id(p, gen), lane, ctr, static_cast<uint8_t>(flags & 0x03), plain), p,
            lane};
}

// ---- bursts ----------------------------------------------------------------------------------------

void run::push(unsigned w, port_sel port, rte_mbuf* m) {
    if (m == nullptr) {
        return;  // did not fit an mbuf: nothing sent
    }
    auto& q = port == lan_port ? _lan[w] : port == tap_port ? _ovl[w] : _wan[w];
    q.push_back(m);
    ++_packets;
    if (q.size() == burst) {
        flush();
    }
}

void run::push_wan(unsigned w, const bytes& frame, std::span<const uint16_t> cuts, unsigned headroom_cut) {
    // Not poisoned: IP fragments (DPDK's reassembly linearizes into the tailroom) and neighbour
    // solicitations (the advertisement answering one may be longer: check_answer() checks it).
    bool poison = true;
    if (frame.size() >= 14 + 40 + 1) {
        const unsigned type = unsigned{frame[12]} << 8 | frame[13];
        poison = !((type == RTE_ETHER_TYPE_IPV4 && (((frame[20] & 0x3fU) << 8) | frame[21]) != 0) ||
                   (type == RTE_ETHER_TYPE_IPV6 && (frame[20] == 44 || (frame[20] == 58 && frame[54] == 135))));
    }
    if (n.options().exception) {
        _wan_in.insert(frame);
        _wan_fragments = _wan_fragments || !poison;
    }
    push(w, wan_port, make_mbuf(world::get().wan_pool, frame, cuts, headroom_cut, poison));
}

void run::flush() {
    for (unsigned w = 0; w < n_workers; ++w) {
        if (_wan[w].empty() && _ovl[w].empty() && _lan[w].empty()) {
            continue;
        }
        if (!n.run_burst(w, _wan[w], _ovl[w], _lan[w])) {
            fail("harness: worker %u did not take its burst", w);
        }
        _wan[w].clear();
        _ovl[w].clear();
        _lan[w].clear();
        collect();
    }
}

void run::collect() {
    world& wd = world::get();
    void* o;
    for (unsigned w = 0; w < n_workers; ++w) {
        while (rte_ring_dequeue(wd.ovl.tx[w], &o) == 0) {
            auto* m = static_cast<rte_mbuf*>(o);
            check_delivered(read_mbuf(m), false);
            rte_pktmbuf_free(m);
        }
        while (rte_ring_dequeue(wd.lan.tx[w], &o) == 0) {
            auto* m = static_cast<rte_mbuf*>(o);
            check_delivered(read_mbuf(m), true);
            rte_pktmbuf_free(m);
        }
        while (rte_ring_dequeue(wd.wan.tx[w], &o) == 0) {
            auto* m = static_cast<rte_mbuf*>(o);
            check_sent(w, read_mbuf(m));
            rte_pktmbuf_free(m);
        }
        // The kernel's share: only with an exception interface, only WAN frames for our MAC or a
        // group, byte for byte as injected (or a packet reassembled from injected fragments) --
        // never anything the engine opened, built or changed.
        while (rte_ring_dequeue(wd.exc.tx[w], &o) == 0) {
            auto* m = static_cast<rte_mbuf*>(o);
            const auto f = read_mbuf(m);
            const rte_ether_addr ours = wan_mac(self_id);
            if (!n.options().exception || f.size() < 14 ||
                (std::memcmp(f.data(), ours.addr_bytes, 6) != 0 && (f[0] & 1) == 0)) {
                fail("worker %u: a frame for the exception interface (%zu bytes) it should not have", w, f.size());
            }
            if (!_wan_in.contains(f) && !_wan_fragments) {
                fail("worker %u: a frame for the exception interface (%zu bytes) that was never injected", w, f.size());
            }
            rte_pktmbuf_free(m);
        }
        const engine::worker_stats& s = n.worker(w).stats();
        if (tracing()) {
            trace_stats(w, s);
        }
        if (s.rx_packets.load() != s.accounted()) {
            fail("worker %u: rx_packets %llu != accounted() %llu", w, static_cast<unsigned long long>(s.rx_packets.load()),
                 static_cast<unsigned long long>(s.accounted()));
        }
    }
    drain(wd.to_control);
    drain_learn();
}

/// Route mode: `got` is `want` (an Ethernet frame with IPv4/IPv6 inside) after `hops` routers:
/// equal from the ethertype on but for the TTL / hop limit, `hops` lower, and the IPv4 header
/// checksum, which must be right.
bool routed_equal(const bytes& got, const bytes& want, unsigned hops) {
    if (got.size() != want.size() || got.size() < 14 + 40) {
        return false;
    }
    bytes w = want;
    std::memcpy(w.data(), got.data(), 12);
    const unsigned type = unsigned{w[12]} << 8 | w[13];
    if (type == RTE_ETHER_TYPE_IPV4) {
        w[14 + 8] = static_cast<uint8_t>(w[14 + 8] - hops);
        w[14 + 10] = got[14 + 10];
        w[14 + 11] = got[14 + 11];
        const size_t ihl = (got[14] & 0x0fU) * 4U;
        return std::memcmp(w.data(), got.data(), got.size()) == 0 && transport::csum::fold(transport::csum::ones_sum(got.data() + 14, ihl)) == 0xffff;
    }
    if (type == RTE_ETHER_TYPE_IPV6) {
        w[14 + 7] = static_cast<uint8_t>(w[14 + 7] - hops);
        return std::memcmp(w.data(), got.data(), got.size()) == 0;
    }
    return false;
}

bool tagged_at_end(const bytes& f, const uint8_t* magic, uint32_t& id) {
    if (f.size() < 22 || std::memcmp(f.data() + f.size() - 8, magic, 4) != 0) {
        return false;
    }
    id = load32(f.data() + f.size() - 4);
    return true;
}

void run::check_delivered(const bytes& f, bool lan) {
    if (f.size() >= 6 && std::memcmp(f.data(), &control_dst, 6) == 0) {
        return;  // sent for the control thread
    }
    if (f.size() < 22) {
        return;  // a delivered frame too short to carry a tag
    }
    uint32_t end_id = 0;
    if (std::memcmp(f.data() + 14, magic_in, 4) != 0 && lan_mode()) {
        // The site LAN (bridge or route) beside the TAP: an overlay frame passed between them
        // (switched, flooded copy) byte for byte; a routed packet from a peer (tagged at its
        // end, route mode: to the LAN host's MAC from the port's, one hop less here and at the
        // sender); else an answer of the LAN port (ARP, ICMP errors, echo), well-formed.
        if (_passable.count(std::string(f.begin(), f.end())) != 0) {
            return;
        }
        if (tagged_at_end(f, magic_in, end_id) && end_id < _expect.size()) {
            const expected& e = _expect[end_id];
            bool ok = f == e.frame;
            if (!ok && lan && route_mode()) {
                ok = std::memcmp(f.data(), &lan_host_mac, 6) == 0 && std::memcmp(f.data() + 6, &lan_port_mac, 6) == 0 &&
                     routed_equal(f, e.frame, 1);
            }
            if (ok) {
                if (!_delivered.insert({e.t, lan}).second) {
                    fail("delivered twice (%s): peer %u key generation %u lane %u counter %llu", lan ? "LAN" : "TAP",
                         peer_ids[e.t.peer], e.t.gen, e.t.lane, static_cast<unsigned long long>(e.t.ctr));
                }
                return;
            }
        }
        const unsigned type = unsigned{f[12]} << 8 | f[13];
        const bool answer = type == RTE_ETHER_TYPE_ARP || (type == RTE_ETHER_TYPE_IPV4 && f[14 + 9] == 1) ||
                            (type == RTE_ETHER_TYPE_IPV6 && f.size() >= 14 + 40 + 8 && f[14 + 6] == 58);
        if (!answer) {
            fail("the %s port got a %zu-byte frame that is neither delivered, passed on nor an answer",
                 lan ? "LAN" : "TAP", f.size());
        }
        check_answer(0, f);
        return;
    }
    if (std::memcmp(f.data() + 14, magic_in, 4) != 0) {
        // Not a delivered frame (those carry the tag from 22 bytes on): an ICMP / ICMPv6 "too
        // big" answer to the overlay, which must be well-formed.
        const unsigned type = unsigned{f[12]} << 8 | f[13];
        const size_t ihl = (f[14] & 0x0fU) * 4U;
        const bool icmp4 = type == RTE_ETHER_TYPE_IPV4 && f.size() >= 14 + ihl + 8 && f[14 + 9] == 1 &&
                           f[14 + ihl] == 3 && f[14 + ihl + 1] == 4;
        const bool icmp6 = type == RTE_ETHER_TYPE_IPV6 && f.size() >= 14 + 40 + 8 && f[14 + 6] == 58 && f[14 + 40] == 2;
        if (!icmp4 && !icmp6) {
            fail("the overlay got a %zu-byte frame that is neither delivered nor a too-big answer", f.size());
        }
        check_answer(0, f);
        return;
    }
    const uint32_t id = load32(f.data() + 18);
    if (id >= _expect.size()) {
        fail("delivered a frame with a tag no peer sealed (id %u)", id);
    }
    const expected& e = _expect[id];
    if (f != e.frame) {
        fail("delivered frame %u (%zu bytes) differs from the %zu bytes peer %u sealed", id, f.size(), e.frame.size(),
             peer_ids[e.t.peer]);
    }
    if (!_delivered.insert({e.t, lan}).second) {
        fail("delivered twice: peer %u key generation %u lane %u counter %llu", peer_ids[e.t.peer], e.t.gen, e.t.lane,
             static_cast<unsigned long long>(e.t.ctr));
    }
}

/// An answer of the WAN slow path must be a well-formed packet: within the frame, checksums right.
void run::check_answer(unsigned w, const bytes& f) {
    const unsigned type = unsigned{f[12]} << 8 | f[13];
    const uint8_t* ip = f.data() + 14;
    if (type == RTE_ETHER_TYPE_ARP) {
        if (f.size() < 14 + 28) {
            fail("worker %u sent a %zu-byte ARP frame", w, f.size());
        }
    } else if (type == RTE_ETHER_TYPE_IPV4) {
        const size_t ihl = f.size() >= 14 + 20 ? (ip[0] & 0x0fU) * 4U : 0;
        const size_t total = f.size() >= 14 + 20 ? (size_t{ip[2]} << 8 | ip[3]) : 0;
        if (ihl < 20 || total < ihl || 14 + total > f.size() ||
            transport::csum::fold(transport::csum::ones_sum(ip, ihl)) != 0xffff) {
            fail("worker %u answered with a malformed IPv4 packet (%zu bytes)", w, f.size());
        }
        if (ip[9] == 1 && transport::csum::fold(transport::csum::ones_sum(ip + ihl, total - ihl)) != 0xffff) {
            fail("worker %u answered with a bad ICMP checksum", w);
        }
    } else if (type == RTE_ETHER_TYPE_IPV6) {
        const size_t plen = f.size() >= 14 + 40 ? (size_t{ip[4]} << 8 | ip[5]) : SIZE_MAX / 2;
        if (14 + 40 + plen > f.size()) {
            fail("worker %u answered with an IPv6 packet of payload length %zu in a %zu-byte frame", w, plen, f.size());
        }
        if (ip[6] == 58 && transport::csum::icmp6_checksum(ip, ip + 40, plen) != 0) {
            fail("worker %u answered with a bad ICMPv6 checksum (type %u, %zu bytes)", w, plen >= 1 ? ip[40] : 0, plen);
        }
    } else {
        fail("worker %u sent a frame of ethertype 0x%04x", w, type);
    }
}

void run::check_sent(unsigned w, const bytes& f) {
    if (f.size() >= 6 && std::memcmp(f.data(), &control_dst, 6) == 0) {
        return;  // sent for the control thread
    }
    if (f.size() < 14) {
        fail("worker %u sent a %zu-byte frame", w, f.size());
    }
    unsigned p = 0;
    for (; p < n_peers; ++p) {
        const rte_ether_addr m = wan_mac(peer_ids[p]);
        if (std::memcmp(f.data(), &m, 6) == 0) {
            break;
        }
    }
    const unsigned type = unsigned{f[12]} << 8 | f[13];
    const size_t ihl = f.size() > 14 ? (f[14] & 0x0fU) * 4U : 0;
    if (p < n_peers && ((type == RTE_ETHER_TYPE_IPV4 && f.size() >= 14 + 20 && ((f[20] & 0x3fU) << 8 | f[21]) != 0) ||
                        (type == RTE_ETHER_TYPE_IPV6 && f.size() >= 14 + 40 && f[20] == 44))) {
        return;  // wan-fragment: an outer fragment, not reassembled here
    }
    // Answers of the WAN slow path (ARP, ICMP echo, neighbour advertisement), to a peer or to
    // anyone who asked: ICMP with a code other than dvpe's 255.
    if (p == n_peers || type == RTE_ETHER_TYPE_ARP ||
        (type == RTE_ETHER_TYPE_IPV4 && f.size() >= 14 + 20 && f.size() > 14 + ihl + 1 && f[14 + 9] == 1 &&
         f[14 + ihl + 1] != transport::icmp_code) ||
        (type == RTE_ETHER_TYPE_IPV6 && f.size() > 14 + 40 + 1 && f[14 + 6] == 58 && f[14 + 40 + 1] != transport::icmp_code)) {
        check_answer(w, f);
        return;
    }
    const transport::classify_result c = transport::classify(f.data(), static_cast<uint32_t>(f.size()), peer_local(p));
    if (c.reason == transport::classify_reason::fragment) {
        return;  // wan-fragment: not reassembled here
    }
    if (c.reason != transport::classify_reason::ok) {
        fail("worker %u sent peer %u a packet it classifies as %s", w, peer_ids[p],
             std::string(transport::classify_reason_name(c.reason)).c_str());
    }
    if (c.k != static_cast<transport::kind>(p)) {
        fail("worker %u sent peer %u a packet on transport %u", w, peer_ids[p], static_cast<unsigned>(c.k));
    }
    bytes d(f.begin() + c.dvpe_offset, f.begin() + c.dvpe_offset + c.dvpe_len);
    const auto* h = reinterpret_cast<const transport::dvpe_header*>(d.data());
    if (transport::src_id(*h) != self_id || h->type != static_cast<uint8_t>(transport::message_type::data)) {
        // Relayed unchanged: only a router does that, and only to the node the header names.
        if (!n.options().router) {
            fail("worker %u is no router but relayed a packet from node %u to %u", w, transport::src_id(*h),
                 peer_ids[p]);
        }
        if (transport::dst_id(*h) != peer_ids[p]) {
            fail("worker %u relayed a packet for node %u to node %u", w, transport::dst_id(*h), peer_ids[p]);
        }
        return;
    }
    // A router relays what it gets unchanged, also packets that claim to come from us: our own
    // packets sent back to us (op_loop) and forgeries. Without router every one is ours.
    if (n.options().router && (_ours.count(std::string(d.begin(), d.end())) != 0 || d.size() < transport::data_overhead)) {
        return;
    }
    if (d.size() < transport::data_overhead) {
        fail("worker %u sealed a %zu-byte packet", w, d.size());
    }
    const auto* dh = reinterpret_cast<const transport::data_header*>(d.data());
    unsigned gen = 0;
    while (gen < n_generations && key_id(p, gen) != dh->key_id) {
        ++gen;
    }
    const uint64_t ctr = transport::counter(*dh);
    const uint16_t lane = transport::lane(*dh);
    bytes plain = d;
    const size_t len = d.size() - transport::data_overhead;
    uint8_t ok = 0;
    if (gen <= n.tx_gen[p]) {
        const auto nonce = transport::nonce(lane, ctr);
        crypto::aead_packet a{plain.data() + 16, static_cast<uint32_t>(len), 16, plain.data(), nonce.data(),
                              plain.data() + 16 + len};
        world::get().ctx->open_burst(world::get().key(_cipher, p, dir::from_us, gen),
                                     std::span<crypto::aead_packet>(&a, 1), std::span<uint8_t>(&ok, 1));
    }
    if (!ok && n.options().router) {
        return;  // a forgery from the WAN, relayed
    }
    if (gen > n.tx_gen[p]) {
        fail("worker %u sealed for node %u under key id %u, which it was never given", w, peer_ids[p], dh->key_id);
    }
    if (!ok) {
        fail("worker %u sealed a packet node %u cannot open (counter %llu)", w, peer_ids[p],
             static_cast<unsigned long long>(ctr));
    }
    if (transport::dst_id(*dh) != peer_ids[p] || lane != w) {
        fail("worker %u sealed a packet for node %u on lane %u, sent it to node %u", w, transport::dst_id(*dh), lane,
             peer_ids[p]);
    }
    if (!_we_sealed.insert({p, gen, lane, ctr}).second) {
        fail("nonce reuse: worker %u sealed counter %llu twice under one key for node %u", w,
             static_cast<unsigned long long>(ctr), peer_ids[p]);
    }
    bytes frame;
    if ((transport::flags(*dh) & transport::data_flag_full_frame) == 0) {
        frame.resize(12);
        const rte_ether_addr them = node_mac(peer_ids[p]), us = node_mac(self_id);
        std::memcpy(frame.data(), &them, 6);
        std::memcpy(frame.data() + 6, &us, 6);
    }
    frame.insert(frame.end(), plain.begin() + 16, plain.begin() + 16 + static_cast<ptrdiff_t>(len));
    if (frame.size() >= 42 && std::memcmp(frame.data() + frame.size() - 8, magic_out, 4) == 0) {
        const uint32_t id = load32(frame.data() + frame.size() - 4);
        // Route mode: a LAN packet is sealed to the prefix's owner as a node-MAC frame, one hop less.
        if (id >= _egress.size() || (_egress[id] != frame && !(route_mode() && routed_equal(frame, _egress[id], 1)))) {
            fail("worker %u sealed for node %u something other than overlay frame %u", w, peer_ids[p], id);
        }
        if (!_egress_seen.insert({id, p}).second) {
            fail("worker %u sealed overlay frame %u twice for node %u", w, id, peer_ids[p]);
        }
    }
    _ours.insert(std::string(d.begin(), d.end()));
    if (_wire_out.size() < 256) {
        _wire_out.push_back(std::move(d));
    }
}

// ---- operations ------------------------------------------------------------------------------------

void run::op_seal(reader& r) {
    const uint8_t flags = r.u8();
    sealed_rec s = make_sealed(r, flags, 1600);
    const uint8_t b = r.u8();
    const auto k = static_cast<transport::kind>(b % transport::n_wire_kinds);
    const unsigned w = worker_of(b >> 3);
    bytes frame;
    if (flags & 0x20) {  // truncated
        const uint8_t how = r.u8();
        if (how & 1) {
            bytes d = s.dvpe;
            d.resize(r.u16() % (d.size() + 1));
            frame = wrap(k, s.peer, d, s.lane);  // outer lengths say the short length
        } else {
            frame = wrap(k, s.peer, s.dvpe, s.lane);
            frame.resize(r.u16() % (frame.size() + 1));  // outer lengths say more than there is
        }
    } else {
        frame = wrap(k, s.peer, s.dvpe, s.lane);
    }
    if ((flags & 0x40) && !frame.empty()) {  // one byte changed
        const size_t at = r.u16() % frame.size();
        frame[at] = static_cast<uint8_t>(frame[at] ^ (r.u8() | 1U));
    }
    std::vector<uint16_t> cuts;
    unsigned headroom_cut = 0;
    if (flags & 0x10) {  // a chain of segments
        const uint8_t how = r.u8();
        if (how & 0x80) {
            // The whole packet in the first segment, bytes that are not part of it after (as
            // Ethernet padding, or what a scattering PMD could hand over): never delivered.
            cuts.push_back(static_cast<uint16_t>(frame.size()));
            const bytes junk = r.fill(1 + how % 64);
            frame.insert(frame.end(), junk.begin(), junk.end());
        }
        const unsigned n_cuts = how & 0x80 ? 0 : 1 + how % 3;
        for (unsigned i = 0; i < n_cuts; ++i) {
            const auto c = static_cast<uint16_t>(1 + r.u16() % std::max<size_t>(frame.size(), 1));
            if (c < frame.size() && (cuts.empty() || c > cuts.back())) {
                cuts.push_back(c);
            }
        }
        headroom_cut = r.u8() & ~1U;  // PMDs leave data_off even (Ethernet headers are 2-byte aligned)
    }
    if ((flags & 0x60) == 0) {
        _sealed.push_back(std::move(s));
    }
    push_wan(w, frame, cuts, headroom_cut);
}

void run::op_zero_head(reader& r) {
    const uint8_t b = r.u8();
    const auto k = static_cast<transport::kind>(b % transport::n_wire_kinds);
    const unsigned p = (b >> 3) % n_peers;
    const unsigned w = worker_of(r.u8());
    bytes d = r.fill(r.u16() % 256);
    if (d.size() >= 8) {
        std::memset(d.data(), 0, 8);
        d[1] = static_cast<uint8_t>(r.u8() & 0x0f);  // the flags nibble is not part of the head
    }
    push_wan(w, wrap(k, p, d, 0));
}

void run::op_replay(reader& r) {
    if (_sealed.empty()) {
        return;
    }
    const sealed_rec& s = _sealed[r.u16() % _sealed.size()];
    const uint8_t b = r.u8();
    const unsigned w = worker_of(b);
    const unsigned k = (b >> 1) % (transport::n_wire_kinds + 1);
    const auto kind = k < transport::n_wire_kinds ? static_cast<transport::kind>(k) : static_cast<transport::kind>(s.peer);
    push_wan(w, wrap(kind, s.peer, s.dvpe, static_cast<uint16_t>(s.lane + (b >> 4))));
}

void run::op_head_copy(reader& r) {
    if (_sealed.empty()) {
        return;
    }
    const sealed_rec& s = _sealed[r.u16() % _sealed.size()];
    const uint8_t b = r.u8();
    bytes d(s.dvpe.begin(), s.dvpe.begin() + 8);
    const bytes rest = r.fill(r.u16() % 128);
    d.insert(d.end(), rest.begin(), rest.end());
    push_wan(worker_of(b), wrap(static_cast<transport::kind>((b >> 1) % transport::n_wire_kinds), s.peer, d, s.lane));
}

void run::op_raw(reader& r) {
    const uint8_t b = r.u8();
    const unsigned sel = b % 8;
    const unsigned w = worker_of(b >> 3);
    const unsigned p = (b >> 4) % n_peers;
    if (sel < 6) {
        push_wan(w, wrap(static_cast<transport::kind>(sel), p, r.fill(r.u16() % 300), 0));
        return;
    }
    if (sel == 6) {  // a bare frame
        bytes f = r.fill(r.u16() % 300);
        if (f.size() >= 14) {
            const uint8_t d = r.u8();
            rte_ether_addr dst = wan_mac(self_id);
            if (d % 4 == 1) {
                std::memset(&dst, 0xff, 6);
            } else if (d % 4 == 2) {
                dst = {{0x33, 0x33, 0xff, 0x00, 0x00, static_cast<uint8_t>(self_id)}};
            }
            if (d % 4 != 3) {
                std::memcpy(f.data(), &dst, 6);
            }
            static constexpr uint16_t types[4] = {RTE_ETHER_TYPE_IPV4, RTE_ETHER_TYPE_IPV6, RTE_ETHER_TYPE_ARP, 0};
            if (types[(d >> 2) % 4] != 0) {
                f[12] = static_cast<uint8_t>(types[(d >> 2) % 4] >> 8);
                f[13] = static_cast<uint8_t>(types[(d >> 2) % 4]);
            }
        }
        push_wan(w, f);
        return;
    }
    // Outer IP header fields from the input (IPv4 checksum recomputed, so the fields count).
    const auto k = static_cast<transport::kind>(r.u8() % transport::n_wire_kinds);
    bytes f = wrap(k, p, r.fill(r.u16() % 300), 0);
    uint8_t* ip = f.data() + 14;
    if (!transport::is_ipv6(k)) {
        ip[0] = r.u8();
        const uint16_t total = r.u16(), frag = r.u16();
        ip[2] = static_cast<uint8_t>(total >> 8);
        ip[3] = static_cast<uint8_t>(total);
        ip[6] = static_cast<uint8_t>(frag >> 8);
        ip[7] = static_cast<uint8_t>(frag);
        ip[9] = r.u8();
        ip[10] = ip[11] = 0;
        const unsigned ihl = std::min<size_t>((ip[0] & 0x0fU) * 4U, f.size() - 14);
        const uint16_t c = transport::csum::finish(transport::csum::ones_sum(ip, ihl));
        std::memcpy(ip + 10, &c, 2);
    } else {
        ip[0] = r.u8();
        const uint16_t plen = r.u16();
        ip[4] = static_cast<uint8_t>(plen >> 8);
        ip[5] = static_cast<uint8_t>(plen);
        ip[6] = r.u8();
    }
    push_wan(w, f);
}

void run::op_fragments(reader& r) {
    const uint8_t b = r.u8();
    sealed_rec s;
    if ((b & 1) && !_sealed.empty()) {
        s = _sealed[r.u16() % _sealed.size()];
    } else {
        s = make_sealed(r, static_cast<uint8_t>(r.u8() & 0x01), 4000);
    }
    const auto k = static_cast<transport::kind>((b >> 1) % transport::n_wire_kinds);
    const bool v6 = transport::is_ipv6(k);
    const bytes frame = wrap(k, s.peer, s.dvpe, s.lane);
    const auto mtu = static_cast<uint16_t>(68 + r.u16() % 1500);
    const transport::fragment_plan plan = transport::plan_fragments(v6, frame.size(), mtu);
    if (plan.count == 0) {
        return;
    }
    const uint16_t id_lo = r.u16();
    const uint32_t id = id_lo | uint32_t{r.u8()} << 16;
    std::vector<bytes> frags;
    for (unsigned i = 0; i < plan.count; ++i) {
        bytes out(14 + 48 + plan.chunk + 8);
        out.resize(transport::write_fragment(frame.data(), v6, plan, i, id, out.data()));
        frags.push_back(std::move(out));
    }
    const uint8_t how = r.u8();
    if (how & 0x01) {
        std::reverse(frags.begin(), frags.end());
    }
    if (how & 0x02) {  // one lost
        frags.erase(frags.begin() + r.u8() % frags.size());
    }
    if ((how & 0x04) && !frags.empty()) {  // one twice
        const bytes dup = frags[r.u8() % frags.size()];
        frags.insert(frags.begin() + r.u8() % (frags.size() + 1), dup);
    }
    if ((how & 0x08) && !frags.empty()) {  // one byte of one fragment changed
        bytes& f = frags[r.u8() % frags.size()];
        const size_t at = r.u16() % f.size();
        f[at] = static_cast<uint8_t>(f[at] ^ (r.u8() | 1U));
    }
    const unsigned w = worker_of(how >> 4);
    for (size_t i = 0; i < frags.size(); ++i) {
        push_wan((how & 0x20) ? worker_of(static_cast<uint8_t>(w + i)) : w, frags[i]);
    }
}

void run::op_overlay(reader& r) {
    const uint8_t a = r.u8(), b = r.u8();
    const unsigned w = worker_of(b >> 5);
    rte_ether_addr dst{};
    const unsigned sel = a % 11;
    if (sel < n_peers) {
        dst = node_mac(peer_ids[sel]);
    } else if (sel == 6) {
        dst = node_mac(self_id);
    } else if (sel == 7) {
        dst = node_mac(static_cast<uint16_t>((a >> 4) == 0 ? 0 : 0x123 + (a >> 4)));
    } else if (sel == 8) {
        std::memset(&dst, 0xff, 6);
    } else if (sel == 9) {
        dst = {{0x33, 0x33, 0, 0, 0, 1}};
    } else {
        dst = {{0x02, 0x11, 0x22, 0x33, 0x44, a}};
    }
    // The site LAN: half the frames come from the LAN port; a bridge knows lan_mac_entry(0..8)
    // (behind peers, one on our LAN); a routing port takes IP packets to its MAC.
    const bool from_lan = lan_mode() && (a & 0x80);
    if (n.options().lan == pmd::overlay_mode::bridge && sel == 10) {
        dst = lan_mac_entry(static_cast<uint8_t>(a >> 3 & 0x0f));
    }
    if (route_mode() && from_lan && (sel < 8 || sel == 10)) {
        dst = lan_port_mac;
    }
    rte_ether_addr src = (b & 1) ? rte_ether_addr{{0x02, 0x99, 0, 0, 0, b}} : node_mac(self_id);
    if (from_lan && (b & 0xc1) == 0xc1) {
        src.addr_bytes[0] |= 1;  // a group source: bad_source_mac on a bridge
    }
    bytes f = r.fill(r.u16() % 1700);
    if (f.size() >= 6) {
        std::memcpy(f.data(), &dst, 6);
    }
    if (f.size() >= 12) {
        std::memcpy(f.data() + 6, &src, 6);
    }
    const unsigned type = (b >> 3) % 4;
    if (f.size() >= 14 + 40 && type < 2) {
        uint8_t* ip = f.data() + 14;
        const size_t l3 = f.size() - 14;
        f[12] = type == 0 ? 0x08 : 0x86;
        f[13] = type == 0 ? 0x00 : 0xdd;
        const uint8_t h = r.u8();  // plausible addresses and flags unless bit 7
        if (type == 0) {
            ip[0] = 0x45;
            ip[2] = static_cast<uint8_t>(l3 >> 8);
            ip[3] = static_cast<uint8_t>(l3);
            if ((h & 0x80) == 0) {
                ip[6] = (h & 1) ? 0x40 : 0;  // DF or not, first fragment
                ip[7] = 0;
                ip[9] = (h & 2) ? 1 : 17;    // ICMP (an echo request) or UDP
                if (h & 2) {
                    ip[20] = 8;
                }
                ip[12] = 10, ip[16] = 10;    // 10.x.x.x to 10.x.x.x
                if (route_mode()) {          // to a site (9: ours, 10: none), TTL 64, 1, 0 or 2
                    ip[17] = static_cast<uint8_t>((h >> 2) % 11);
                    static constexpr uint8_t ttls[4] = {64, 1, 0, 2};
                    ip[8] = ttls[(h >> 5) & 3];
                }
            }
            ip[10] = ip[11] = 0;
            const uint16_t c = transport::csum::finish(transport::csum::ones_sum(ip, 20));
            std::memcpy(ip + 10, &c, 2);
        } else {
            ip[0] = static_cast<uint8_t>(0x60 | (ip[0] & 0x0f));
            ip[4] = static_cast<uint8_t>((l3 - 40) >> 8);
            ip[5] = static_cast<uint8_t>(l3 - 40);
            if ((h & 0x80) == 0) {
                ip[6] = (h & 2) ? 58 : 17;   // ICMPv6 (an echo request) or UDP
                if ((h & 2) && l3 > 40) {    // a 54-byte frame has no byte after the header
                    ip[40] = 128;
                }
                ip[8] = 0xfd, ip[24] = 0xfd;  // unique local to unique local
                if (route_mode()) {
                    std::memset(ip + 25, 0, 4);
                    ip[29] = static_cast<uint8_t>((h >> 2) % 11);
                    static constexpr uint8_t hops[4] = {64, 1, 0, 2};
                    ip[7] = hops[(h >> 5) & 3];
                }
            }
        }
    } else if (f.size() >= 14 && type == 2) {
        f[12] = 0x08;
        f[13] = 0x06;
    }
    if (f.size() >= 42 + 8) {  // the tag at the end, clear of the IP header
        const auto id = static_cast<uint32_t>(_egress.size());
        std::memcpy(f.data() + f.size() - 8, magic_out, 4);
        store32(f.data() + f.size() - 4, id);
        _egress.push_back(f);
    }
    if (route_mode() && f.size() >= 14 + 28 && f[12] == 0x08 && f[13] == 0x00 && (f[14] & 0x0f) == 5 && f[14 + 9] == 1) {
        // ICMP with a right checksum (an echo request to our lan-address is answered)
        f[14 + 22] = f[14 + 23] = 0;
        const uint16_t c = transport::csum::finish(transport::csum::ones_sum(f.data() + 34, f.size() - 34));
        std::memcpy(f.data() + 36, &c, 2);
        if (!_egress.empty() && f.size() >= 42 + 8) {
            _egress.back() = f;
        }
    }
    if (lan_mode()) {
        _passable.insert(std::string(f.begin(), f.end()));
    }
    std::vector<uint16_t> cuts;
    if ((b & 0x02) && f.size() > 1) {
        cuts.push_back(static_cast<uint16_t>(1 + r.u16() % (f.size() - 1)));
    }
    const unsigned headroom_cut = (b & 0x04) ? r.u8() & ~1U : 0;  // even, as PMDs leave it
    push(w, from_lan ? lan_port : tap_port, make_mbuf(world::get().pool, f, cuts, headroom_cut, false));
}

void run::op_rekey(reader& r) {
    const uint8_t a = r.u8();
    const unsigned p = a % n_peers;
    if ((a & 0x08) && n.rx_base[p] + 3 < n_generations) {
        ++n.rx_base[p];
    }
    if ((a & 0x10) && n.tx_gen[p] + 1 < n_generations) {
        ++n.tx_gen[p];
    }
    if (a & 0x20) {
        n.o_mut.router = !n.o_mut.router;
    }
    n.publish();
}

void run::op_loop(reader& r) {
    const uint8_t b = r.u8();
    const unsigned count = 1 + (b >> 1) % 16;
    for (unsigned i = 0; i < count && !_wire_out.empty(); ++i) {
        const bytes& d = _wire_out[(r.u8() + i) % _wire_out.size()];
        const unsigned p = r.u8() % n_peers;
        push_wan(worker_of(b), wrap(static_cast<transport::kind>(p), p, d, 0));
    }
}

void run::op_handshake(reader& r) {
    const uint8_t b = r.u8();
    const unsigned p = (b >> 2) % n_peers;
    bytes d = r.fill(8 + r.u16() % 200);
    d[0] = static_cast<uint8_t>((b & 3) == 3 ? r.u8() : 2 + (b & 3));
    d[1] = static_cast<uint8_t>((transport::protocol_version << 4) | (r.u8() & 0x0f));
    transport::dvpe_header h{};
    std::memcpy(&h, d.data(), sizeof h);
    (void)transport::set_ids(h, peer_ids[p], (b & 0x80) ? peer_ids[(p + 1) % n_peers] : self_id);
    std::memcpy(d.data(), &h, sizeof h);
    push_wan(worker_of(b >> 5), wrap(static_cast<transport::kind>(r.u8() % transport::n_wire_kinds), p, d, 0));
}

void run::op_slow(reader& r) {
    const uint8_t b = r.u8();
    const unsigned w = worker_of(b >> 3);
    const unsigned p = (b >> 4) % n_peers;
    const rte_ether_addr us = wan_mac(self_id), them = wan_mac(peer_ids[p]);
    bytes f(14);
    std::memcpy(f.data(), &us, 6);
    std::memcpy(f.data() + 6, &them, 6);
    switch (b % 5) {
    case 0: {  // ARP request for our address (or a reply / gratuitous ARP)
        f[12] = 0x08, f[13] = 0x06;
        const rte_be32_t tip = wan_ip(self_id, false).v4(), sip = wan_ip(peer_ids[p], false).v4();
        uint8_t arp[28] = {0, 1, 8, 0, 6, 4, 0, static_cast<uint8_t>(1 + (r.u8() & 1))};
        std::memcpy(arp + 8, &them, 6);
        std::memcpy(arp + 14, &sip, 4);
        std::memcpy(arp + 24, &tip, 4);
        f.insert(f.end(), arp, arp + sizeof arp);
        f.resize(r.u8() & 1 ? 60 : f.size() - r.u8() % 8);
        break;
    }
    case 1: {  // ICMP echo request to our IPv4 address
        f[12] = 0x08, f[13] = 0x00;
        const bytes payload = r.fill(r.u8());
        const size_t total = 20 + 8 + payload.size();
        uint8_t ip[20] = {0x45, 0, static_cast<uint8_t>(total >> 8), static_cast<uint8_t>(total), 0, 0, 0x40, 0, 64, 1};
        const rte_be32_t src = wan_ip(peer_ids[p], false).v4(), dst = wan_ip(self_id, false).v4();
        std::memcpy(ip + 12, &src, 4);
        std::memcpy(ip + 16, &dst, 4);
        const uint16_t c = transport::csum::finish(transport::csum::ones_sum(ip, 20));
        std::memcpy(ip + 10, &c, 2);
        f.insert(f.end(), ip, ip + 20);
        const size_t icmp_at = f.size();
        f.insert(f.end(), {8, 0, 0, 0, 0, 1, 0, 1});
        f.insert(f.end(), payload.begin(), payload.end());
        const uint16_t ic = static_cast<uint16_t>(~rte_raw_cksum(f.data() + icmp_at, f.size() - icmp_at));
        std::memcpy(f.data() + icmp_at + 2, &ic, 2);
        if (f.size() < 60) {
            f.resize(60);
        }
        break;
    }
    default: {  // ICMPv6 to our IPv6 address: echo, neighbour solicitation / advertisement
        f[12] = 0x86, f[13] = 0xdd;
        const unsigned kind = b % 5;  // 2 echo, 3 solicitation, 4 advertisement
        bytes msg;
        const bool dad = kind == 3 && (r.u8() & 1);
        if (kind == 2) {
            msg = {128, 0, 0, 0, 0, 1, 0, 1};
            const bytes payload = r.fill(r.u8());
            msg.insert(msg.end(), payload.begin(), payload.end());
        } else {
            msg = {static_cast<uint8_t>(kind == 3 ? 135 : 136), 0, 0, 0, 0, 0, 0, 0};
            const transport::ip_address target = wan_ip(self_id, true);
            msg.insert(msg.end(), target.bytes.begin(), target.bytes.end());
            const unsigned n_opts = r.u8() % 3;  // source link-layer address options (8 bytes each)
            for (unsigned i = 0; i < n_opts && !dad; ++i) {
                msg.insert(msg.end(), {1, 1});
                msg.insert(msg.end(), them.addr_bytes, them.addr_bytes + 6);
            }
        }
        uint8_t ip[40] = {0x60, 0, 0, 0, static_cast<uint8_t>(msg.size() >> 8), static_cast<uint8_t>(msg.size()), 58,
                          255};
        if (!dad) {
            std::memcpy(ip + 8, wan_ip(peer_ids[p], true).bytes.data(), 16);
        }
        std::memcpy(ip + 24, wan_ip(self_id, true).bytes.data(), 16);
        const uint16_t c = transport::csum::icmp6_checksum(ip, msg.data(), msg.size());
        std::memcpy(msg.data() + 2, &c, 2);
        f.insert(f.end(), ip, ip + 40);
        f.insert(f.end(), msg.begin(), msg.end());
        if (f.size() < 60) {
            f.resize(60);
        }
        break;
    }
    }
    push_wan(w, f);
}

/// A frame the control thread hands worker w to send (its from_control ring), on the WAN, the
/// overlay or a port the worker does not have (dropped as tx_failed).
void run::op_control(reader& r) {
    const uint8_t b = r.u8();
    world& wd = world::get();
    bytes f = r.fill(14 + r.u8());
    std::memcpy(f.data(), &control_dst, 6);
    rte_mbuf* m = make_mbuf(wd.pool, f, {}, 0, false);
    if (m == nullptr) {
        return;
    }
    m->port = (b & 3) == 0 ? wd.wan.id : (b & 3) == 1 ? wd.ovl.id : (b & 3) == 2 ? uint16_t{200} : uint16_t{UINT16_MAX};
    const unsigned w = worker_of(b >> 2);
    if (rte_ring_enqueue(wd.from_control[w], m) != 0) {
        rte_pktmbuf_free(m);
        return;
    }
    if (!n.run_burst(w, {}, {})) {
        fail("harness: worker %u left something in its queues", w);
    }
    collect();
    if (rte_ring_count(wd.from_control[w]) != 0) {
        fail("worker %u did not drain its control ring", w);
    }
}

// ---- a run -----------------------------------------------------------------------------------------

void run::finish() {
    flush();
    uint64_t opened = 0;
    for (unsigned w = 0; w < n_workers; ++w) {
        const engine::worker_stats &now = n.worker(w).stats(), &then = n.start(w);
        opened += now.decrypted.load() - then.decrypted.load() + now.keepalives.load() - then.keepalives.load();
    }
    if (opened > _valid.size()) {
        fail("%llu packets authenticated and consumed, but the peers sealed only %zu distinct (key, lane, counter)",
             static_cast<unsigned long long>(opened), _valid.size());
    }
}

void run::execute(reader& r) {
    static constexpr const char* names[13] = {"seal", "zero head", "replay", "head copy", "raw", "fragments",
                                              "overlay", "flush", "rekey", "loop", "handshake", "slow path", "control"};
    for (size_t ops = 0; ops < max_ops && !r.empty() && _packets < max_packets; ++ops) {
        const unsigned op = r.u8() % 13;
        if (tracing()) {
            std::fprintf(stderr, "op %s (%zu packets so far)\n", names[op], _packets);
        }
        switch (op) {
        case 0: op_seal(r); break;
        case 1: op_zero_head(r); break;
        case 2: op_replay(r); break;
        case 3: op_head_copy(r); break;
        case 4: op_raw(r); break;
        case 5: op_fragments(r); break;
        case 6: op_overlay(r); break;
        case 7: flush(); break;
        case 8: op_rekey(r); break;
        case 9: op_loop(r); break;
        case 10: op_handshake(r); break;
        case 11: op_slow(r); break;
        case 12: op_control(r); break;
        }
    }
    finish();
}

node_options options_from(reader& r) {
    node_options o;
    const uint8_t a = r.u8(), b = r.u8(), c = r.u8();
    o.router = a & 0x01;
    o.queue_without_session = a & 0x02;
    o.wan_fragment = a & 0x04;
    o.has_overlay = (a & 0x08) == 0;
    o.udp_port0 = a & 0x10;
    o.icmp_type = (a & 0x20) ? 8 : 0;
    o.cipher = (a >> 6) % n_ciphers;
    o.not_ready = static_cast<uint8_t>(b & 0x3f & (b >> 2));  // usually every peer has a session
    o.tos = static_cast<uint8_t>(c & 0x3f);
    o.small_mtu = static_cast<uint8_t>((c >> 6) ? 1U << (c >> 6) : 0);
    o.sport_step0 = static_cast<uint8_t>((b & 0xc0) == 0xc0 ? 0x01 : 0);
    o.disabled = static_cast<uint8_t>((b & 0xc0) == 0x80 ? transport::kind_bit(static_cast<transport::kind>(c % 6)) : 0);
    // A site LAN port beside the TAP (docs/site-gateways.md), in a combination of b no other
    // option reads: bridge, or route with bit 2.
    if ((b & 0xc3) == 0x43) {
        o.lan = (b & 0x04) ? pmd::overlay_mode::route : pmd::overlay_mode::bridge;
        o.not_ready &= 0x3e;  // bits 0 and 2 of b are set for route: peer 0 keeps its session
    }
    o.exception = (a & 0x09) == 0x01;  // a router with an overlay (a & 0x08: none), a quarter of those
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    world& wd = world::get();
    {
        reader r(data, size);
        run one(options_from(r));
        one.execute(r);
    }
    // The node is gone: every mbuf must be back (nothing leaked, nothing freed twice).
    const unsigned avail = rte_mempool_avail_count(wd.pool), wan_avail = rte_mempool_avail_count(wd.wan_pool);
    if (avail != wd.pool_size || wan_avail != wd.wan_pool_size) {
        fail("mbufs not returned: pool %u of %u, WAN pool %u of %u", avail, wd.pool_size, wan_avail, wd.wan_pool_size);
    }
    return 0;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    (void)world::get();
    return 0;
}

// datapath_fuzz_replay: crafted runs (every transport: a sealed packet, its replay to the same
// and to the other worker, a zero-head packet first in a burst, fragments; every overlay kind),
// then random operation streams.
extern "C" size_t dvpe_fuzz_generate(uint64_t iterations, uint64_t seed, dvpe_fuzz_run_fn run_one) {
    size_t n = 0;
    const auto go = [&](const std::vector<uint8_t>& in) {
        run_one(in.data(), in.size());
        ++n;
    };
    go({});
    // Operation encodings (see the op_* functions): seal = 0 flags a lane counter len(2) fill(count,
    // seed) b; zero head = 1 b w len(2) fill flags; replay = 2 index(2) b; flush = 7;
    // fragments = 5 b flags a lane counter len(2) fill mtu(2) id(3) how; overlay = 6 a b len(2) fill.
    for (uint8_t k = 0; k < transport::n_wire_kinds; ++k) {
        for (uint8_t full = 0; full < 2; ++full) {
            // a sealed packet from peer k on transport k, flushed; replayed to worker 0 on the same
            // transport, then to worker 1 on the next: delivered once
            go({0, 0, 0, 0, full, k, 0, 7, 64, 0, 0, 0xaa, k, 7, 2, 0, 0, 12, 2, 0, 0,
                static_cast<uint8_t>(1 | 2 * ((k + 1) % 6)), 7});
        }
        go({0, 0, 0, 1, k, 0, 60, 0, 0, 0xcc, 0});                                    // zero head first in a burst
        go({0, 0, 0, 0, 0, k, 0, 9, 100, 0, 0, 1, k, 1, k, 0, 60, 0, 0, 7, 0, 7});    // a packet, then a zero head
        go({0, 0, 0, 1, k, 0, 60, 0, 0, 0xcc, 0, 0, 0, k, 0, 9, 100, 0, 0, 1, k, 7}); // a zero head, then a packet
        go({0, 0, 0, 5, static_cast<uint8_t>(2 * k), 0, k, 0, 3, 0xb0, 0x04, 0, 0x11, 0xfc, 0x01, 1, 0, 0, 0});
        go({0, 0, 0x40, 6, k, 0, 200, 0, 0, 0x42, 7});                                 // overlay frame to peer k
        go({0x04, 0, 0x40, 6, k, 0, 0xe8, 0x03, 0, 0x42, 7});                          // too big: fragments
    }
    // a chain: the whole packet in the first segment, 17 bytes after it in a second
    go({0, 0, 0, 0, 0x10, 0, 0, 5, 64, 0, 0, 0xaa, 0, 0x90, 0, 0x77, 0, 7});
    for (uint8_t sel = 6; sel < 11; ++sel) {
        go({0, 0, 0x40, 6, sel, 1, 0xe8, 0x03, 0, 0x42, 7});  // self, unknown, broadcast, multicast, other
    }
    for (uint8_t b = 0; b < 10; ++b) {
        go({0, 0, 0, 11, b, 0, 0, 16, 0, 0x33, 7});            // ARP, echo, ICMPv6 echo, NS (DAD or not), NA
    }
    for (uint8_t b = 0; b < 8; ++b) {
        go({0, 0, 0, 12, b, 0, 30, 0, 0x55});                 // control frames: WAN, overlay, bad ports
    }
    for (uint8_t h : {0, 1, 2, 3}) {                          // too big, IPv4 and IPv6, answered
        go({0, 0, 0x40, 6, 1, 0, 0xe8, 0x03, 0, 0x42, h, 7});
        go({0, 0, 0x40, 6, 1, 8, 0xe8, 0x03, 0, 0x42, h, 7});
    }
    uint64_t s = seed;
    for (uint64_t i = 0; i < iterations; ++i) {
        std::vector<uint8_t> in(fuzz_replay::next(s) % 400);
        for (uint8_t& b : in) {
            b = static_cast<uint8_t>(fuzz_replay::next(s));
        }
        go(in);
    }
    return n;
}
