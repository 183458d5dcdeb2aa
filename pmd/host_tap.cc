// SPDX-License-Identifier: MIT
// dvpe's TAP port; see host_tap.hh.
#include "pmd/host_tap.hh"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace pmd {

namespace {

// Kernel >= 6.2 (not in Debian 12's 6.1 uapi headers).
constexpr unsigned tun_f_uso4 = 0x20;
constexpr unsigned tun_f_uso6 = 0x40;
constexpr unsigned max_tx_iov = 2 + tap::max_merged_segments;
constexpr unsigned max_chain_iov = 16;

[[noreturn]] void fail(const host_tap_setup& s, const std::string& what, int err) {
    throw std::runtime_error("port " + s.name + " (TAP " + s.ifname + "): " + what + ": " + std::strerror(err));
}

void relaxed_add(std::atomic<uint64_t>& c, uint64_t v) noexcept {
    c.store(c.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);  // one writer
}

/// ioctl on an interface through a throw-away socket.
int if_ioctl(unsigned long req, ifreq& ifr) {
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        return -errno;
    }
    int rc = ::ioctl(s, req, &ifr) < 0 ? -errno : 0;
    ::close(s);
    return rc;
}

}  // namespace

uint16_t host_tap::pick_port_id(const std::vector<uint16_t>& taken) {
    for (int id = RTE_MAX_ETHPORTS - 1; id >= 0; --id) {
        auto pid = static_cast<uint16_t>(id);
        if (!rte_eth_dev_is_valid_port(pid) && std::find(taken.begin(), taken.end(), pid) == taken.end()) {
            return pid;
        }
    }
    throw std::runtime_error("no free port id for a TAP port (" + std::to_string(RTE_MAX_ETHPORTS) + " in use)");
}

std::unique_ptr<host_tap> host_tap::open(const host_tap_setup& s, uint16_t port_id) {
    if (s.ifname.empty() || s.ifname.size() >= IFNAMSIZ) {
        throw std::runtime_error("port " + s.name + ": TAP interface name '" + s.ifname + "' must have 1 to " +
                                 std::to_string(IFNAMSIZ - 1) + " characters");
    }
    if (s.n_queues == 0 || s.pool == nullptr) {
        throw std::runtime_error("port " + s.name + ": TAP port needs a queue and a mempool");
    }
    std::unique_ptr<host_tap> t(new host_tap());
    t->_name = s.name;
    t->_pool = s.pool;
    t->_port_id = port_id;
    t->_offload = s.offload;
    const unsigned room = rte_pktmbuf_data_room_size(s.pool);
    if (room <= RTE_PKTMBUF_HEADROOM + 64) {
        throw std::runtime_error("port " + s.name + ": mbufs too small for a TAP port");
    }
    t->_room = static_cast<uint16_t>(room - RTE_PKTMBUF_HEADROOM);
    t->_min_gap = rte_get_tsc_hz() / 1000000;
    t->_max_gap = t->_min_gap * 16;
    unsigned offloads = 0;
    for (uint16_t q = 0; q < s.n_queues; ++q) {
        auto qu = std::make_unique<queue>();
        qu->buf = new uint8_t[t->_room + tap::max_frame];
        qu->fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (qu->fd < 0) {
            int e = errno;
            delete[] qu->buf;
            fail(s, "cannot open /dev/net/tun", e);
        }
        t->_q.push_back(std::move(qu));
        ifreq ifr{};
        std::memcpy(ifr.ifr_name, s.ifname.data(), s.ifname.size());
        ifr.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE | (s.offload ? IFF_VNET_HDR : 0));
        if (::ioctl(t->_q.back()->fd, TUNSETIFF, &ifr) < 0) {
            fail(s, "cannot attach queue " + std::to_string(q) +
                        " (TUNSETIFF; an existing interface of that name must be a multi-queue TAP)",
                 errno);
        }
        t->_ifname = ifr.ifr_name;
        if (!s.offload) {
            continue;
        }
        int hdr = sizeof(tap::vnet_hdr);
        if (::ioctl(t->_q.back()->fd, TUNSETVNETHDRSZ, &hdr) < 0) {
            fail(s, "cannot set the vnet header size (TUNSETVNETHDRSZ)", errno);
        }
        // Checksum offload and TSO; USO where the kernel knows it (>= 6.2); each refusal only
        // narrows what the kernel hands us, so fall back step by step.
        // (uso=off: the second step first.)
        const unsigned want[] = {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | (s.uso ? tun_f_uso4 | tun_f_uso6 : 0U),
                                 TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN, TUN_F_CSUM, 0};
        for (unsigned w : want) {
            if (::ioctl(t->_q.back()->fd, TUNSETOFFLOAD, static_cast<unsigned long>(w)) == 0) {
                offloads = w;
                break;
            }
        }
    }
    // UDP runs are written as UDP_L4 super-frames, which a kernel without USO refuses.
    t->_merge_udp4 = (offloads & tun_f_uso4) != 0;
    t->_merge_udp6 = (offloads & tun_f_uso6) != 0;
    if (s.offload) {
        const std::pair<unsigned, const char*> names[] = {{TUN_F_CSUM, "csum"}, {TUN_F_TSO4, "tso4"},
                                                          {TUN_F_TSO6, "tso6"}, {TUN_F_TSO_ECN, "tso_ecn"},
                                                          {tun_f_uso4, "uso4"}, {tun_f_uso6, "uso6"}};
        for (const auto& [bit, n] : names) {
            if ((offloads & bit) != 0) {
                t->_offload_names += t->_offload_names.empty() ? n : std::string(" ") + n;
            }
        }
    }
    for (uint16_t w = 0; w < std::max<uint16_t>(s.n_tx_queues, 1); ++w) {
        auto tq = std::make_unique<tx_queue>();
        tq->fd = t->_q[w % t->_q.size()]->fd;
        t->_tx.push_back(std::move(tq));
    }
    if (t->_offload_names.empty()) {
        t->_offload_names = "none";
    }
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, t->_ifname.data(), t->_ifname.size());
    if (s.mtu != 0) {
        ifr.ifr_mtu = s.mtu;
        if (int rc = if_ioctl(SIOCSIFMTU, ifr); rc != 0) {
            fail(s, "cannot set MTU " + std::to_string(s.mtu), -rc);
        }
    }
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    std::memcpy(ifr.ifr_hwaddr.sa_data, s.mac.addr_bytes, RTE_ETHER_ADDR_LEN);
    if (int rc = if_ioctl(SIOCSIFHWADDR, ifr); rc != 0) {
        fail(s, "cannot set the MAC address", -rc);
    }
    if (int rc = if_ioctl(SIOCGIFFLAGS, ifr); rc != 0) {
        fail(s, "cannot read the interface flags", -rc);
    }
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (int rc = if_ioctl(SIOCSIFFLAGS, ifr); rc != 0) {
        fail(s, "cannot bring the interface up", -rc);
    }
    return t;
}

host_tap::~host_tap() {
    for (auto& q : _q) {
        if (q->fd >= 0) {
            ::close(q->fd);
        }
        delete[] q->buf;
    }
}

uint16_t host_tap::cut_pending(queue& q, rte_mbuf** pkts, uint16_t n) noexcept {
    const auto k = static_cast<uint16_t>(std::min<uint32_t>(n, q.segments - q.next));
    if (k == 0 || rte_pktmbuf_alloc_bulk(_pool, pkts, k) != 0) {
        if (k != 0) {
            relaxed_add(q.st.rx_nombuf, 1);  // retried on the next poll
        }
        return 0;
    }
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < k; ++i) {
        rte_mbuf* m = pkts[i];
        const uint32_t len = tap::make_segment(q.plan, q.buf, q.next++, rte_pktmbuf_mtod(m, uint8_t*));
        m->data_len = static_cast<uint16_t>(len);
        m->pkt_len = len;
        m->port = _port_id;
        bytes += len;
    }
    if (q.next == q.segments) {
        q.segments = 0;
    }
    relaxed_add(q.st.rx_packets, k);
    relaxed_add(q.st.rx_bytes, bytes);
    return k;
}

uint16_t host_tap::rx_burst(uint16_t qi, rte_mbuf** pkts, uint16_t n) noexcept {
    queue& q = *_q[qi];
    uint16_t i = 0;
    if (q.segments != 0) {
        i = cut_pending(q, pkts, n);
        if (q.segments != 0) {
            return i;  // the burst is full, or no mbufs
        }
    }
    // An empty TAP costs a system call per poll (the dominant cost of a worker whose TAP is
    // quiet while its WAN is busy): after an empty read the next one waits 1 us, doubling up to
    // 16 us while reads stay empty; any frame resets it.
    const uint64_t now = rte_rdtsc();
    if (now < q.next_read) {
        return i;
    }
    const uint32_t hdr = _offload ? sizeof(tap::vnet_hdr) : 0;
    uint64_t packets = 0, bytes = 0;
    while (i < n) {
        rte_mbuf* m = rte_pktmbuf_alloc(_pool);
        if (m == nullptr) {
            relaxed_add(q.st.rx_nombuf, 1);  // the frame waits in the kernel's queue
            break;
        }
        uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
        tap::vnet_hdr vh{};
        iovec iov[3];
        unsigned cnt = 0;
        if (_offload) {
            iov[cnt++] = {&vh, sizeof vh};
        }
        iov[cnt++] = {data, _room};
        iov[cnt++] = {q.buf + _room, tap::max_frame};  // the rest of a super-frame (or an oversize frame)
        const ssize_t r = ::readv(q.fd, iov, static_cast<int>(cnt));
        if (r <= 0) {
            rte_pktmbuf_free(m);
            if (r < 0 && errno != EAGAIN && errno != EINTR) {
                relaxed_add(q.st.rx_dropped, 1);
            }
            if (i == 0) {
                relaxed_add(q.st.rx_empty, 1);
                q.gap = q.gap == 0 ? _min_gap : std::min(q.gap * 2, _max_gap);
                q.next_read = now + q.gap;
            }
            break;
        }
        q.gap = 0;
        relaxed_add(q.st.rx_reads, 1);
        if (static_cast<uint32_t>(r) < hdr + RTE_ETHER_HDR_LEN) {
            rte_pktmbuf_free(m);
            relaxed_add(q.st.rx_dropped, 1);
            continue;
        }
        const uint32_t len = static_cast<uint32_t>(r) - hdr;
        if (!_offload || vh.gso_type == tap::gso_none) {
            if (len > _room ||
                ((vh.flags & tap::f_needs_csum) != 0 && tap::complete_csum(vh, data, len) != tap::refusal::none)) {
                rte_pktmbuf_free(m);
                relaxed_add(q.st.rx_dropped, 1);
                continue;
            }
            m->data_len = static_cast<uint16_t>(len);
            m->pkt_len = len;
            m->port = _port_id;
            pkts[i++] = m;
            ++packets;
            bytes += len;
            continue;
        }
        // A super-frame: make it contiguous in the scratch buffer, then cut it.
        std::memcpy(q.buf, data, std::min<uint32_t>(len, _room));
        rte_pktmbuf_free(m);
        if (tap::plan_gso(vh, q.buf, len, _room, q.plan) != tap::refusal::none) {
            relaxed_add(q.st.rx_dropped, 1);
            continue;
        }
        relaxed_add(q.st.rx_superframes, 1);
        q.len = len;
        q.next = 0;
        q.segments = q.plan.segments;
        i = static_cast<uint16_t>(i + cut_pending(q, pkts + i, static_cast<uint16_t>(n - i)));
        if (q.segments != 0) {
            break;
        }
    }
    relaxed_add(q.st.rx_packets, packets);
    relaxed_add(q.st.rx_bytes, bytes);
    return i;
}

host_tap::totals_t host_tap::totals() const noexcept {
    totals_t t{};
    auto ld = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
    for (const auto& q : _q) {
        t.rx_packets += ld(q->st.rx_packets);
        t.rx_bytes += ld(q->st.rx_bytes);
        t.rx_reads += ld(q->st.rx_reads);
        t.rx_superframes += ld(q->st.rx_superframes);
        t.rx_dropped += ld(q->st.rx_dropped);
        t.rx_nombuf += ld(q->st.rx_nombuf);
        t.rx_empty += ld(q->st.rx_empty);
    }
    for (const auto& q : _tx) {
        t.tx_packets += ld(q->st.tx_packets);
        t.tx_bytes += ld(q->st.tx_bytes);
        t.tx_writes += ld(q->st.tx_writes);
        t.tx_merged += ld(q->st.tx_merged);
        t.tx_errors += ld(q->st.tx_errors);
    }
    return t;
}

bool host_tap::write_one(int fd, rte_mbuf* m) noexcept {
    static const tap::vnet_hdr none{};
    iovec iov[1 + max_chain_iov];
    unsigned cnt = 0;
    if (_offload) {
        iov[cnt++] = {const_cast<tap::vnet_hdr*>(&none), sizeof none};
    }
    for (rte_mbuf* s = m; s != nullptr; s = s->next) {
        if (cnt == 1 + max_chain_iov) {
            return false;  // a longer chain than any dvpe builds
        }
        iov[cnt++] = {rte_pktmbuf_mtod(s, uint8_t*), s->data_len};
    }
    return ::writev(fd, iov, static_cast<int>(cnt)) >= 0;
}

uint16_t host_tap::tx_burst(uint16_t qi, rte_mbuf** pkts, uint16_t n) noexcept {
    tx_queue& q = *_tx[qi % _tx.size()];
    uint8_t hdr[128];  // a merged run's header: at most 14 + 40 + 60 bytes
    uint64_t packets = 0, bytes = 0, writes = 0, merged = 0;
    uint16_t i = 0;
    while (i < n) {
        rte_mbuf* m = pkts[i];
        tap::l4_seg first;
        if (_offload && m->nb_segs == 1 && first.parse(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len) &&
            (!first.udp || (first.v6 ? _merge_udp6 : _merge_udp4))) {
            tap::l4_seg last = first, next;
            uint32_t total = first.payload;
            uint32_t ip_len = first.len - first.l3;
            uint64_t run_bytes = m->pkt_len;
            uint16_t j = static_cast<uint16_t>(i + 1);
            while (j < n && pkts[j]->nb_segs == 1 &&
                   next.parse(rte_pktmbuf_mtod(pkts[j], const uint8_t*), pkts[j]->data_len) &&
                   tap::follows(first, last, next, j - i, ip_len)) {
                total += next.payload;
                ip_len += next.payload;
                run_bytes += pkts[j]->pkt_len;
                last = next;
                ++j;
            }
            if (j - i > 1) {
                tap::vnet_hdr vh{};
                tap::merge_header(first, last.flags, total, hdr, vh);
                iovec iov[max_tx_iov];
                unsigned cnt = 0;
                iov[cnt++] = {&vh, sizeof vh};
                iov[cnt++] = {hdr, first.hdr_len};
                for (uint16_t k = i; k < j; ++k) {
                    tap::l4_seg s;
                    s.parse(rte_pktmbuf_mtod(pkts[k], const uint8_t*), pkts[k]->data_len);
                    iov[cnt++] = {const_cast<uint8_t*>(s.frame) + s.hdr_len, s.payload};
                }
                if (::writev(q.fd, iov, static_cast<int>(cnt)) < 0) {
                    relaxed_add(q.st.tx_errors, 1);
                    break;
                }
                rte_pktmbuf_free_bulk(pkts + i, j - i);
                packets += j - i;
                merged += j - i;
                bytes += run_bytes;
                ++writes;
                i = j;
                continue;
            }
        }
        if (!write_one(q.fd, m)) {
            relaxed_add(q.st.tx_errors, 1);
            break;
        }
        packets += 1;
        bytes += m->pkt_len;
        ++writes;
        rte_pktmbuf_free(m);
        ++i;
    }
    relaxed_add(q.st.tx_packets, packets);
    relaxed_add(q.st.tx_bytes, bytes);
    relaxed_add(q.st.tx_writes, writes);
    relaxed_add(q.st.tx_merged, merged);
    return i;
}

}  // namespace pmd
