// SPDX-License-Identifier: MIT
// Handshake load generator for perf/handshake_load.py (issue 14 point 3). Talks to one dvped over
// an AF_PACKET socket on a veth (UDP over IPv4, dvpe port 655), with the real protocol core of
// control/session/ on the initiator side:
//
//   load    N identities (config node ids first..first+N-1, private keys CONFDIR/hostkeys/<prefix><id>)
//           start handshakes with the responder, at most `window` outstanding at a time, each
//           identity from its own source address 10.<net>.<id/256>.<id%256>. The initiations are
//           made before the clock starts (create_initiation, `rounds` per identity, growing
//           timestamps), so the generator's own DH does not compete with dvped for the CPU
//           during the run. A cookie reply is opened with the identity's cookie_state and the
//           same initiation is sent again with mac2 (what a legitimate peer under a flood does).
//           A response to an identity's last round is consumed by its protocol (the handshake
//           completes and is verified on the initiator side too); earlier rounds' responses are
//           checked for type, addresses and key id. An initiation unanswered for `timeout_ms` is
//           abandoned (counted) and the identity moves to its next round.
//           --live 1: the initiations are made when sent, a cookie reply goes to the protocol core
//           (cookie_stored) and a new initiation carrying mac2 follows, and every response is
//           completed by the protocol core: exactly what a dvpe initiator does, for the one
//           legitimate new peer of the flood run (--until-completed 1 ends the run there).
//   flood   initiations with a valid mac1 (the attacker knows the responder's public key) and
//           random contents, src node id `src_id` (a configured peer, so they pass the cheap
//           checks and reach mac1/mac2/the rate limiter), each from a random source IP (one
//           source MAC 02:66:00:00:00:01, the "upstream router") out of a pool of `pool` frames, sent with sendmmsg as fast as this thread can.
//           --kind garbage: the same with a wrong mac1 (rejected by the control thread after one
//           keyed hash); --kind badip: the same frames with a wrong IPv4 header checksum, which
//           the worker drops before anything reaches the control thread: the harness's own cost
//           (generator, kernel, the worker's rx) without any handshake work.
//
// Prints one JSON object on stdout at the end (and, for load, one line per second on stderr).
// Run as root (AF_PACKET). Wire bytes coming back are checked before use (lengths, types, ids).
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium/utils.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "control/session/cookie.hh"
#include "control/session/handshake.hh"
#include "crypto/dh.hh"
#include "crypto/init.hh"
#include "crypto/random.hh"

namespace {

namespace hs = control::handshake;

constexpr uint16_t dvpe_port = 655;
constexpr size_t eth_len = 14, ip_len = 20, udp_len = 8, outer_len = eth_len + ip_len + udp_len;

struct options {
    std::string mode, iface, confdir, responder = "n1", prefix = "g", serial;
    uint16_t responder_id = 1, first = 2, count = 1, src_id = 2;
    std::array<uint8_t, 6> dst_mac{};
    uint32_t dst_ip = 0;
    uint8_t net = 79;
    double seconds = 10;
    unsigned window = 32, rounds = 4, timeout_ms = 1000, pool = 4096;
    std::string kind = "mac1";     ///< flood: mac1 | garbage | badip (see run_flood)
    uint64_t until_completed = 0;  ///< load: stop after this many completed handshakes (0: run on)
    bool live = false;             ///< load: make each initiation when it is sent (see the header)
    uint8_t protocols = 0x01;
};

[[noreturn]] void die(const std::string& m) {
    std::fprintf(stderr, "handshake_load_gen: %s\n", m.c_str());
    std::exit(2);
}

uint64_t mono_ns() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}
uint64_t wall_ns() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}
hs::clock_reading now_reading() { return {mono_ns(), wall_ns()}; }

std::array<uint8_t, 32> read_key(const std::string& path) {
    std::ifstream f(path);
    std::string line;
    if (!f || !std::getline(f, line)) {
        die("cannot read " + path);
    }
    std::array<uint8_t, 32> k{};
    size_t len = 0;
    if (sodium_base642bin(k.data(), k.size(), line.data(), line.size(), " \r\n", &len, nullptr,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        len != 32) {
        die("bad key in " + path);
    }
    return k;
}

uint16_t ip_checksum(const uint8_t* h) {
    uint32_t s = 0;
    for (size_t i = 0; i < ip_len; i += 2) {
        s += static_cast<uint32_t>((h[i] << 8U) | h[i + 1]);
    }
    while ((s >> 16U) != 0) {
        s = (s & 0xffffU) + (s >> 16U);
    }
    return static_cast<uint16_t>(~s & 0xffffU);
}

/// Ethernet | IPv4 | UDP 655 -> 655 (checksum 0) | msg.
std::vector<uint8_t> frame(const std::array<uint8_t, 6>& dst_mac, const std::array<uint8_t, 6>& src_mac, uint32_t src_ip,
                           uint32_t dst_ip, std::span<const uint8_t> msg) {
    std::array<uint8_t, outer_len> f{};
    std::memcpy(f.data(), dst_mac.data(), 6);
    std::memcpy(f.data() + 6, src_mac.data(), 6);
    f[12] = 0x08;
    f[13] = 0x00;
    uint8_t* ip = f.data() + eth_len;
    const auto tot = static_cast<uint16_t>(ip_len + udp_len + msg.size());
    ip[0] = 0x45;
    ip[2] = static_cast<uint8_t>(tot >> 8U);
    ip[3] = static_cast<uint8_t>(tot);
    ip[6] = 0x40;  // DF
    ip[8] = 64;
    ip[9] = 17;
    for (int i = 0; i < 4; ++i) {
        ip[12 + i] = static_cast<uint8_t>(src_ip >> (24 - 8 * i));
        ip[16 + i] = static_cast<uint8_t>(dst_ip >> (24 - 8 * i));
    }
    const uint16_t c = ip_checksum(ip);
    ip[10] = static_cast<uint8_t>(c >> 8U);
    ip[11] = static_cast<uint8_t>(c);
    uint8_t* udp = ip + ip_len;
    udp[0] = udp[2] = dvpe_port >> 8U;
    udp[1] = udp[3] = dvpe_port & 0xffU;
    const auto ul = static_cast<uint16_t>(udp_len + msg.size());
    udp[4] = static_cast<uint8_t>(ul >> 8U);
    udp[5] = static_cast<uint8_t>(ul);
    std::vector<uint8_t> out(outer_len + msg.size());
    std::copy(f.begin(), f.end(), out.begin());
    std::copy(msg.begin(), msg.end(), out.begin() + static_cast<std::ptrdiff_t>(outer_len));
    return out;
}

int open_socket(const std::string& iface, bool rx) {
    const int s = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, rx ? htons(ETH_P_ALL) : 0);
    if (s < 0) {
        die("socket(AF_PACKET): " + std::string(std::strerror(errno)));
    }
    sockaddr_ll a{};
    a.sll_family = AF_PACKET;
    a.sll_protocol = rx ? htons(ETH_P_ALL) : 0;
    a.sll_ifindex = static_cast<int>(if_nametoindex(iface.c_str()));
    if (a.sll_ifindex == 0) {
        die("no interface " + iface);
    }
    if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        die("bind: " + std::string(std::strerror(errno)));
    }
    int buf = 1 << 24;
    (void)setsockopt(s, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    (void)setsockopt(s, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    return s;
}

bool send_frame(int s, const std::vector<uint8_t>& f) {
    for (int tries = 0; tries < 1000; ++tries) {
        if (send(s, f.data(), f.size(), 0) == static_cast<ssize_t>(f.size())) {
            return true;
        }
        if (errno != EAGAIN && errno != ENOBUFS) {
            return false;
        }
        usleep(10);
    }
    return false;
}

/// The dvpe message of a received frame from the responder (IPv4, UDP to port 655), or empty.
std::span<const uint8_t> dvpe_of(std::span<const uint8_t> f, uint32_t responder_ip) {
    if (f.size() < outer_len + hs::header_len || f[12] != 0x08 || f[13] != 0x00) {
        return {};
    }
    const uint8_t* ip = f.data() + eth_len;
    if ((ip[0] >> 4U) != 4 || ip[9] != 17) {
        return {};
    }
    const size_t ihl = (ip[0] & 0xfU) * 4U;
    const uint32_t src = (uint32_t{ip[12]} << 24U) | (uint32_t{ip[13]} << 16U) | (uint32_t{ip[14]} << 8U) | ip[15];
    const size_t tot = (size_t{ip[2]} << 8U) | ip[3];
    if (src != responder_ip || ihl < ip_len || tot > f.size() - eth_len || tot < ihl + udp_len + hs::header_len) {
        return {};
    }
    return f.subspan(eth_len + ihl + udp_len, tot - ihl - udp_len);
}

uint16_t msg_src(std::span<const uint8_t> m) { return static_cast<uint16_t>(((m[2] >> 4U) << 8U) | m[3]); }
uint16_t msg_dst(std::span<const uint8_t> m) { return static_cast<uint16_t>(((m[2] & 0xfU) << 8U) | m[4]); }

// ---- load --------------------------------------------------------------------------------------

struct initiator {
    uint16_t id = 0;
    uint32_t ip = 0;
    std::array<uint8_t, 6> mac{};
    std::unique_ptr<hs::protocol> proto;
    hs::cookie_state cookies;
    std::vector<std::vector<uint8_t>> rounds;  // dvpe messages, oldest first
    size_t next = 0;                           // round to send next
    bool outstanding = false;
    uint64_t sent_ns = 0;
    std::vector<uint8_t> cur;  // the frame in flight
};

int run_load(const options& o) {
    const auto rpub = read_key(o.confdir + "/pubkey/" + o.responder);
    std::vector<initiator> ids(o.count);
    const uint64_t t_gen = mono_ns();
    for (uint16_t k = 0; k < o.count; ++k) {
        initiator& in = ids[k];
        in.id = static_cast<uint16_t>(o.first + k);
        in.ip = (10U << 24U) | (uint32_t{o.net} << 16U) | (uint32_t{in.id} & 0xffffU);
        in.mac = {0x02, 0x79, 0x00, 0x00, static_cast<uint8_t>(in.id >> 8U), static_cast<uint8_t>(in.id)};
        hs::identity id;
        id.node_id = in.id;
        const auto priv = read_key(o.confdir + "/hostkeys/" + o.prefix + std::to_string(in.id));
        id.static_private = crypto::secret<32>(std::span<const uint8_t, 32>(priv));
        (void)crypto::x25519_public_from_private(id.static_public, id.static_private.span());
        id.serial = hs::make_serial(o.serial);
        id.protocols = o.protocols;
        in.proto = std::make_unique<hs::protocol>(std::move(id));
        if (!in.proto->set_peer(o.responder_id, rpub)) {
            die("responder key refused");
        }
        in.cookies.init(rpub);
    }
    for (unsigned r = 0; r < o.rounds; ++r) {
        for (auto& in : ids) {
            if (o.live) {
                in.rounds.emplace_back();  // made when sent
                continue;
            }
            auto ini = in.proto->create_initiation(o.responder_id, now_reading());
            if (!ini) {
                die("create_initiation failed");
            }
            in.rounds.push_back(std::move(ini->bytes));
        }
    }
    const double gen_s = static_cast<double>(mono_ns() - t_gen) / 1e9;
    std::fprintf(stderr, "made %zu initiations in %.1f s\n", ids.size() * o.rounds, gen_s);

    const int s = open_socket(o.iface, true);
    uint64_t sent = 0, resent_with_cookie = 0, completed = 0, verified = 0, verify_failed = 0, cookie_replies = 0,
             cookie_bad = 0, timeouts = 0, unexpected = 0;
    std::vector<double> per_second;
    uint64_t completed_at_mark = 0;
    double first_completed_s = -1;
    const auto mac_len_off = hs::initiation_layout::mac1;
    auto send_round = [&](initiator& in, bool with_cookie_retry) {
        std::vector<uint8_t> msg;
        if (o.live) {
            auto ini = in.proto->create_initiation(o.responder_id, now_reading());
            if (!ini) {
                die("create_initiation failed");
            }
            msg = std::move(ini->bytes);  // mac2 from the protocol's own cookie, if it holds one
        } else {
            msg = in.rounds[in.next];
            in.cookies.add_macs(msg, mac_len_off, msg[hs::initiation_layout::sender_key_id], mono_ns(),
                                115'000'000'000ULL);
        }
        in.cur = frame(o.dst_mac, in.mac, in.ip, o.dst_ip, msg);
        in.rounds[in.next] = std::move(msg);
        if (send_frame(s, in.cur)) {
            ++sent;
            resent_with_cookie += with_cookie_retry ? 1 : 0;
        }
        in.outstanding = true;
        in.sent_ns = mono_ns();
    };
    auto by_id = [&](uint16_t id) -> initiator* {
        if (id < o.first || id >= o.first + o.count) {
            return nullptr;
        }
        return &ids[id - o.first];
    };

    const uint64_t t0 = mono_ns();
    const auto end_ns = t0 + static_cast<uint64_t>(o.seconds * 1e9);
    uint64_t mark = t0 + 1'000'000'000ULL;
    size_t rr = 0;
    unsigned outstanding = 0;
    std::array<uint8_t, 2048> buf;
    size_t exhausted = 0;
    while (mono_ns() < end_ns) {
        // fill the window
        for (size_t scan = 0; outstanding < o.window && scan < ids.size(); ++scan) {
            initiator& in = ids[rr];
            rr = (rr + 1) % ids.size();
            if (in.outstanding || in.next >= in.rounds.size()) {
                continue;
            }
            send_round(in, false);
            ++outstanding;
        }
        // drain replies
        bool got = false;
        for (int i = 0; i < 256; ++i) {
            sockaddr_ll from{};
            socklen_t fl = sizeof from;
            const ssize_t n = recvfrom(s, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
            if (n <= 0) {
                break;
            }
            if (from.sll_pkttype == PACKET_OUTGOING) {
                continue;
            }
            got = true;
            const auto m = dvpe_of(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)), o.dst_ip);
            if (m.empty() || msg_src(m) != o.responder_id) {
                continue;
            }
            initiator* in = by_id(msg_dst(m));
            if (in == nullptr || !in->outstanding) {
                ++unexpected;
                continue;
            }
            const auto type = static_cast<hs::message_type>(m[0]);
            if (type == hs::message_type::cookie_reply && m.size() == hs::cookie_reply_layout::size) {
                ++cookie_replies;
                if (o.live) {
                    const std::array<uint8_t, 6> src{};
                    if (in->proto->consume(m, src, now_reading(), false).what == hs::outcome::cookie_stored) {
                        send_round(*in, true);
                    } else {
                        ++cookie_bad;
                    }
                } else if (in->cookies.consume_cookie(m.subspan(hs::cookie_reply_layout::nonce).first<hs::cookie_box_len>(),
                                               mono_ns())) {
                    send_round(*in, true);
                } else {
                    ++cookie_bad;
                }
                continue;
            }
            if (type != hs::message_type::handshake_response || m.size() != hs::response_layout::size ||
                m[hs::response_layout::receiver_key_id] != in->rounds[in->next][hs::initiation_layout::sender_key_id]) {
                ++unexpected;
                continue;
            }
            ++completed;
            if (o.live || in->next + 1 == in->rounds.size()) {  // the pending one: finish it for real
                const std::array<uint8_t, 6> src{};
                const auto c = in->proto->consume(m, src, now_reading(), false);
                if (c.what == hs::outcome::completed) {
                    ++verified;
                    if (first_completed_s < 0) {
                        first_completed_s = static_cast<double>(mono_ns() - t0) / 1e9;
                    }
                } else {
                    ++verify_failed;
                }
            }
            in->outstanding = false;
            ++in->next;
            --outstanding;
            if (in->next >= in->rounds.size()) {
                ++exhausted;
            }
        }
        if (o.until_completed != 0 && verified >= o.until_completed) {
            break;
        }
        // time out lost initiations
        const uint64_t t = mono_ns();
        if (!got) {
            for (auto& in : ids) {
                if (in.outstanding && t - in.sent_ns > uint64_t{o.timeout_ms} * 1'000'000ULL) {
                    in.outstanding = false;
                    ++in.next;
                    --outstanding;
                    ++timeouts;
                    if (in.next >= in.rounds.size()) {
                        ++exhausted;
                    }
                }
            }
            if (exhausted == ids.size() && outstanding == 0) {
                break;
            }
            usleep(20);
        }
        if (t >= mark) {
            per_second.push_back(static_cast<double>(completed - completed_at_mark));
            std::fprintf(stderr, "t=%.0f s completed %llu (+%.0f) cookie replies %llu timeouts %llu\n",
                         static_cast<double>(t - t0) / 1e9, static_cast<unsigned long long>(completed), per_second.back(),
                         static_cast<unsigned long long>(cookie_replies), static_cast<unsigned long long>(timeouts));
            completed_at_mark = completed;
            mark += 1'000'000'000ULL;
        }
    }
    const double el = static_cast<double>(mono_ns() - t0) / 1e9;
    std::printf("{\"mode\": \"load\", \"identities\": %u, \"rounds\": %u, \"window\": %u, \"seconds\": %.3f, "
                "\"sent\": %llu, \"resent_with_cookie\": %llu, \"completed\": %llu, \"verified\": %llu, "
                "\"verify_failed\": %llu, \"cookie_replies\": %llu, \"cookie_bad\": %llu, \"timeouts\": %llu, "
                "\"unexpected\": %llu, \"completed_per_s\": %.1f, \"pregen_s\": %.2f, \"first_completed_s\": %.3f, "
                "\"per_second\": [",
                o.count, o.rounds, o.window, el, static_cast<unsigned long long>(sent),
                static_cast<unsigned long long>(resent_with_cookie), static_cast<unsigned long long>(completed),
                static_cast<unsigned long long>(verified), static_cast<unsigned long long>(verify_failed),
                static_cast<unsigned long long>(cookie_replies), static_cast<unsigned long long>(cookie_bad),
                static_cast<unsigned long long>(timeouts), static_cast<unsigned long long>(unexpected),
                static_cast<double>(completed) / el, gen_s, first_completed_s);
    for (size_t i = 0; i < per_second.size(); ++i) {
        std::printf("%s%.0f", i ? ", " : "", per_second[i]);
    }
    std::printf("]}\n");
    close(s);
    return 0;
}

// ---- flood -------------------------------------------------------------------------------------

int run_flood(const options& o) {
    const auto rpub = read_key(o.confdir + "/pubkey/" + o.responder);
    crypto::secret<32> mac1_key;
    hs::derive_mac1_key(mac1_key, rpub);
    std::vector<std::vector<uint8_t>> pool;
    pool.reserve(o.pool);
    for (unsigned i = 0; i < o.pool; ++i) {
        std::array<uint8_t, hs::initiation_layout::size> m{};
        crypto::random_bytes(m);
        m[0] = static_cast<uint8_t>(hs::message_type::handshake_initiation);
        m[1] = static_cast<uint8_t>(hs::protocol_version << 4U);
        m[2] = static_cast<uint8_t>(((o.src_id >> 8U) << 4U) | ((o.responder_id >> 8U) & 0xfU));
        m[3] = static_cast<uint8_t>(o.src_id);
        m[4] = static_cast<uint8_t>(o.responder_id);
        m[6] = m[7] = 0;
        if (o.kind != "garbage") {
            hs::compute_mac(std::span<uint8_t>(m).subspan(hs::initiation_layout::mac1).first<hs::mac_len>(),
                            mac1_key.span(), std::span<const uint8_t>(m).first(hs::initiation_layout::mac1));
        }
        std::memset(m.data() + hs::initiation_layout::mac2, 0, hs::mac_len);
        std::array<uint8_t, 4> r;
        crypto::random_bytes(r);
        const uint32_t src_ip = (uint32_t{100U + r[0] % 100U} << 24U) | (uint32_t{r[1]} << 16U) | (uint32_t{r[2]} << 8U) |
                                (r[3] | 1U);
        // One source MAC, as from the upstream router that spoofed traffic comes through.
        const std::array<uint8_t, 6> src_mac = {0x02, 0x66, 0x00, 0x00, 0x00, 0x01};
        pool.push_back(frame(o.dst_mac, src_mac, src_ip, o.dst_ip, m));
        if (o.kind == "badip") {
            pool.back()[eth_len + 10] ^= 0xffU;  // IPv4 header checksum
        }
    }
    const int s = open_socket(o.iface, false);
    constexpr unsigned batch = 64;
    std::array<mmsghdr, batch> hdr{};
    std::array<iovec, batch> iov{};
    uint64_t sent = 0, failed = 0;
    size_t k = 0;
    const uint64_t t0 = mono_ns();
    const auto end_ns = t0 + static_cast<uint64_t>(o.seconds * 1e9);
    std::fprintf(stderr, "flooding\n");
    while (mono_ns() < end_ns) {
        for (unsigned i = 0; i < batch; ++i) {
            auto& f = pool[k];
            k = (k + 1) % pool.size();
            iov[i] = {f.data(), f.size()};
            hdr[i].msg_hdr = {};
            hdr[i].msg_hdr.msg_iov = &iov[i];
            hdr[i].msg_hdr.msg_iovlen = 1;
        }
        const int n = sendmmsg(s, hdr.data(), batch, 0);
        if (n > 0) {
            sent += static_cast<uint64_t>(n);
        } else {
            ++failed;
            usleep(5);
        }
    }
    const double el = static_cast<double>(mono_ns() - t0) / 1e9;
    std::printf("{\"mode\": \"flood\", \"kind\": \"%s\", \"seconds\": %.3f, \"sent\": %llu, \"rate_per_s\": %.0f, \"send_failures\": %llu, "
                "\"pool\": %u}\n",
                o.kind.c_str(), el, static_cast<unsigned long long>(sent), static_cast<double>(sent) / el,
                static_cast<unsigned long long>(failed), o.pool);
    close(s);
    return 0;
}

std::array<uint8_t, 6> parse_mac(const std::string& s) {
    std::array<uint8_t, 6> m{};
    unsigned v[6];
    if (std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
        die("bad MAC " + s);
    }
    for (int i = 0; i < 6; ++i) {
        m[i] = static_cast<uint8_t>(v[i]);
    }
    return m;
}

}  // namespace

int main(int argc, char** argv) {
    if (!crypto::init()) {
        die("crypto init");
    }
    if (argc < 2) {
        die("usage: handshake_load_gen load|flood --iface IF --confdir D --dst-mac M --dst-ip A [--responder NAME] "
            "[--responder-id N] [--prefix g] [--first N] [--count N] [--window W] [--rounds R] [--seconds S] "
            "[--timeout-ms T] [--net B] [--serial S] [--src-id N] [--pool N]");
    }
    options o;
    o.mode = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--iface") o.iface = v;
        else if (k == "--confdir") o.confdir = v;
        else if (k == "--responder") o.responder = v;
        else if (k == "--responder-id") o.responder_id = static_cast<uint16_t>(std::stoul(v));
        else if (k == "--prefix") o.prefix = v;
        else if (k == "--first") o.first = static_cast<uint16_t>(std::stoul(v));
        else if (k == "--count") o.count = static_cast<uint16_t>(std::stoul(v));
        else if (k == "--window") o.window = static_cast<unsigned>(std::stoul(v));
        else if (k == "--rounds") o.rounds = static_cast<unsigned>(std::stoul(v));
        else if (k == "--seconds") o.seconds = std::stod(v);
        else if (k == "--timeout-ms") o.timeout_ms = static_cast<unsigned>(std::stoul(v));
        else if (k == "--net") o.net = static_cast<uint8_t>(std::stoul(v));
        else if (k == "--serial") o.serial = v;
        else if (k == "--src-id") o.src_id = static_cast<uint16_t>(std::stoul(v));
        else if (k == "--until-completed") o.until_completed = std::stoull(v);
        else if (k == "--kind") o.kind = v;
        else if (k == "--live") o.live = v == "1";
        else if (k == "--pool") o.pool = static_cast<unsigned>(std::stoul(v));
        else if (k == "--dst-mac") o.dst_mac = parse_mac(v);
        else if (k == "--dst-ip") {
            in_addr a{};
            if (inet_pton(AF_INET, v.c_str(), &a) != 1) die("bad IPv4 " + v);
            o.dst_ip = ntohl(a.s_addr);
        } else die("unknown option " + k);
    }
    if (o.iface.empty() || o.confdir.empty() || o.dst_ip == 0 || o.count == 0 || o.pool == 0) {
        die("--iface, --confdir, --dst-ip are required");
    }
    if (o.mode == "load") {
        return run_load(o);
    }
    if (o.mode == "flood") {
        if (o.kind != "mac1" && o.kind != "garbage" && o.kind != "badip") {
            die("--kind must be mac1, garbage or badip");
        }
        return run_flood(o);
    }
    die("mode must be load or flood");
}
