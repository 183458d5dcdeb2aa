// SPDX-License-Identifier: MIT
// dvpe's own TAP port (docs/host-path.md): the overlay interface of a node, driven by the workers
// with read/write on /dev/net/tun instead of DPDK's net_tap, so that the kernel hands over and
// takes back 64 KiB TCP super-frames (IFF_VNET_HDR + TUNSETOFFLOAD: checksum offload, TSO4/6,
// USO where the kernel has it) while every frame dvpe seals stays MTU-sized:
//   rx: one readv() per frame or super-frame; a super-frame is cut into MTU-sized frames
//       (pmd/tap_offload.hh) across as many rx_burst calls as it takes.
//   tx: consecutive TCP segments of one flow in a burst leave as one writev() with a GSO header,
//       and so do consecutive UDP datagrams of one flow where the kernel took USO.
// Multi-queue (IFF_MULTI_QUEUE): one fd per rx queue; the kernel spreads flows over them. Tx
// queue w writes through fd w mod queues (a write may use any queue's fd).
// Configured as `port = NAME overlay dvpe_tap0[,iface=IFNAME][,offload=on|off][,uso=on|off]`.
//
// Port ids: the engine indexes ports by DPDK port id (arrays of RTE_MAX_ETHPORTS); a TAP port
// takes a free id from the top of that range (pick_port_id) and is never an ethdev.
// Threads: open/close on the main thread; rx queue q is used by the one worker polling it, tx
// queue w by worker w; counters are relaxed atomics any thread may read.
#pragma once

#include <rte_ether.h>
#include <rte_mbuf.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pmd/tap_offload.hh"

namespace pmd {

struct host_tap_setup {
    std::string name;        // the config's port name, for messages
    std::string ifname;      // kernel interface name (created if absent)
    uint16_t n_queues = 1;   // fds = rx queues
    uint16_t n_tx_queues = 1;  // one per worker; tx queue w writes through fd w mod n_queues
    uint16_t mtu = 0;        // 0: leave the kernel's default
    rte_ether_addr mac{};
    rte_mempool* pool = nullptr;
    bool offload = true;     // IFF_VNET_HDR offloads (off: one frame per syscall, like net_tap)
    bool uso = true;         // with offload: ask for USO4/USO6 too (UDP super-frames both ways)
};

/// Counters of one queue (rx side written by its poller, tx side by its worker; totals() sums).
struct alignas(64) host_tap_queue_stats {
    std::atomic<uint64_t> rx_packets{0}, rx_bytes{0};
    std::atomic<uint64_t> rx_reads{0};        // readv() calls that returned a frame
    std::atomic<uint64_t> rx_superframes{0};  // of them, GSO super-frames (cut into rx_packets)
    std::atomic<uint64_t> rx_dropped{0};      // refused frames (tap_offload.hh refusal), read errors
    std::atomic<uint64_t> rx_empty{0};        // readv() calls that found nothing (each a system call)
    std::atomic<uint64_t> rx_nombuf{0};       // frames lost for want of an mbuf
    std::atomic<uint64_t> tx_packets{0}, tx_bytes{0};
    std::atomic<uint64_t> tx_writes{0};       // writev() calls
    std::atomic<uint64_t> tx_merged{0};       // frames that left inside a coalesced super-frame
    std::atomic<uint64_t> tx_errors{0};       // failed writes (the frames are the caller's to count)
};

class host_tap {
public:
    /// Creates/attaches the TAP interface with one fd per queue, sets MTU and MAC, brings it up.
    /// Throws std::runtime_error naming the port and the failing step.
    static std::unique_ptr<host_tap> open(const host_tap_setup& s, uint16_t port_id);
    ~host_tap();
    host_tap(const host_tap&) = delete;
    host_tap& operator=(const host_tap&) = delete;

    /// Up to n frames from queue q (never blocks). Each is one MTU-sized frame in one segment.
    uint16_t rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept;
    /// Writes pkts in order through the fd of tx queue q; returns how many it took (it owns and
    /// frees them); the rest are the caller's (a write failed: EAGAIN or an error).
    uint16_t tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept;

    [[nodiscard]] uint16_t port_id() const noexcept { return _port_id; }
    [[nodiscard]] const std::string& ifname() const noexcept { return _ifname; }
    [[nodiscard]] uint16_t n_queues() const noexcept { return static_cast<uint16_t>(_q.size()); }
    [[nodiscard]] bool offload() const noexcept { return _offload; }
    [[nodiscard]] int fd(uint16_t q) const noexcept { return _q[q]->fd; }
    /// Sum over all queues (rx fields from the rx queues, tx fields from the tx queues).
    struct totals_t {
        uint64_t rx_packets, rx_bytes, rx_reads, rx_superframes, rx_dropped, rx_nombuf, rx_empty;
        uint64_t tx_packets, tx_bytes, tx_writes, tx_merged, tx_errors;
    };
    [[nodiscard]] totals_t totals() const noexcept;
    /// Offloads the kernel accepted, as text (e.g. "csum tso4 tso6 uso4 uso6").
    [[nodiscard]] const std::string& offloads() const noexcept { return _offload_names; }

    /// A free port id for a TAP port: the highest id below RTE_MAX_ETHPORTS that is neither an
    /// ethdev nor in `taken`; throws if none is left.
    static uint16_t pick_port_id(const std::vector<uint16_t>& taken);

private:
    struct queue {
        int fd = -1;
        uint8_t* buf = nullptr;       // rx scratch: a super-frame being cut
        uint32_t len = 0;             // its length
        uint32_t next = 0;            // next segment to cut
        uint32_t segments = 0;        // 0: nothing pending
        uint64_t next_read = 0;       // TSC: no readv() before (after empty reads, rx_burst)
        uint64_t gap = 0;             // cycles between reads while they come back empty
        tap::gso_plan plan;           // of the pending super-frame
        host_tap_queue_stats st;      // rx fields
    };
    struct tx_queue {
        int fd = -1;                  // a queue's fd (not owned)
        host_tap_queue_stats st;      // tx fields
    };
    host_tap() = default;
    uint16_t cut_pending(queue& q, rte_mbuf** pkts, uint16_t n) noexcept;
    bool write_one(int fd, rte_mbuf* m) noexcept;

    std::vector<std::unique_ptr<queue>> _q;
    std::vector<std::unique_ptr<tx_queue>> _tx;
    std::string _name, _ifname, _offload_names;
    rte_mempool* _pool = nullptr;
    uint16_t _port_id = 0;
    uint16_t _room = 0;  // data room of an mbuf past its headroom
    uint64_t _min_gap = 0, _max_gap = 0;  // TSC cycles: 1 us and 16 us
    bool _offload = true;
    bool _merge_udp4 = false, _merge_udp6 = false;  // the kernel took USO4 / USO6: UDP runs merge
};

}  // namespace pmd
