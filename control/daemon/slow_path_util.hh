// SPDX-License-Identifier: MIT
// What the slow path's two transports share (control/daemon/tcp_path.cc, dns_path.cc): socket
// addresses from and to transport::ip_address, a dual-stack socket bound to a port on every
// address, and the mbuf a received packet goes to a worker in (ring header + dvpe packet).
// Threads: the slow-path thread (and start-up code before it runs).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdint>
#include <span>
#include <string>

#include "transports/ip.hh"
#include "transports/kind.hh"

namespace control::slow_path {

/// ip:port as a sockaddr; returns its length.
socklen_t to_sockaddr(const transport::ip_address& ip, uint16_t port, sockaddr_storage& ss);

/// A peer's address; a v4-mapped IPv6 address (a dual-stack socket's) is IPv4. False for
/// another family.
bool from_sockaddr(const sockaddr_storage& ss, transport::ip_address& ip, uint16_t& port);

/// A non-blocking socket of `type` (SOCK_STREAM listens, backlog 64) bound to `port` on every
/// address: IPv6 dual stack where the host has IPv6, else IPv4. Returns the fd, or -1 with
/// `error` set ("cannot listen on WHAT PORT: reason").
int bind_any(int type, uint16_t port, const std::string& what, std::string& error);

/// An mbuf from `pool` holding a ring header (kind `k`, the remote `ip`/`port`) and `pkt`, its
/// port set to the stream port `port_id`; null if the pool is empty or the packet does not fit.
rte_mbuf* ring_mbuf(rte_mempool* pool, transport::kind k, const transport::ip_address& ip, uint16_t port,
                    std::span<const uint8_t> pkt, uint16_t port_id) noexcept;

}  // namespace control::slow_path
