// SPDX-License-Identifier: MIT
#include "control/daemon/slow_path_util.hh"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "transports/stream.hh"

namespace control::slow_path {

socklen_t to_sockaddr(const transport::ip_address& ip, uint16_t port, sockaddr_storage& ss) {
    std::memset(&ss, 0, sizeof(ss));
    if (ip.v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        std::memcpy(&a->sin6_addr, ip.bytes.data(), 16);
        return sizeof(sockaddr_in6);
    }
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    std::memcpy(&a->sin_addr, ip.bytes.data(), 4);
    return sizeof(sockaddr_in);
}

bool from_sockaddr(const sockaddr_storage& ss, transport::ip_address& ip, uint16_t& port) {
    if (ss.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        ip = transport::ip_address::from_v4(a->sin_addr.s_addr);
        port = ntohs(a->sin_port);
        return true;
    }
    if (ss.ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            uint32_t v4;
            std::memcpy(&v4, reinterpret_cast<const uint8_t*>(&a->sin6_addr) + 12, 4);
            ip = transport::ip_address::from_v4(v4);
        } else {
            ip = transport::ip_address::from_v6(reinterpret_cast<const uint8_t*>(&a->sin6_addr));
        }
        port = ntohs(a->sin6_port);
        return true;
    }
    return false;
}

int bind_any(int type, uint16_t port, const std::string& what, std::string& error) {
    int fd = socket(AF_INET6, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const bool v6 = fd >= 0;
    if (!v6) {
        fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (fd < 0) {
        error = "cannot listen on " + what + " " + std::to_string(port) + ": socket: " + std::strerror(errno);
        return -1;
    }
    int one = 1, zero = 0;
    if (type == SOCK_STREAM) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    if (v6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    sockaddr_storage ss{};
    const socklen_t len = v6 ? to_sockaddr(transport::ip_address::from_v6(in6addr_any.s6_addr), port, ss)
                             : to_sockaddr(transport::ip_address::from_v4(htonl(INADDR_ANY)), port, ss);
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || (type == SOCK_STREAM && listen(fd, 64) != 0)) {
        error = "cannot listen on " + what + " " + std::to_string(port) + ": " + std::strerror(errno);
        close(fd);
        return -1;
    }
    return fd;
}

rte_mbuf* ring_mbuf(rte_mempool* pool, transport::kind k, const transport::ip_address& ip, uint16_t port,
                    std::span<const uint8_t> pkt, uint16_t port_id) noexcept {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    const size_t need = transport::stream_meta_size + pkt.size();
    if (m == nullptr) {
        return nullptr;
    }
    if (need > rte_pktmbuf_tailroom(m)) {
        rte_pktmbuf_free(m);
        return nullptr;
    }
    auto* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(need)));
    transport::write_stream_meta(d, k, 0, ip, port, static_cast<uint16_t>(pkt.size()));
    std::memcpy(d + transport::stream_meta_size, pkt.data(), pkt.size());
    m->port = port_id;
    return m;
}

}  // namespace control::slow_path
