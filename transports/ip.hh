// SPDX-License-Identifier: MIT
// The one IP address type of dvpe: an IPv4 or IPv6 address in network byte order, used by the
// config (control), the neighbour table (control/daemon) and the outer headers and classify
// (transports). Header-only and free of DPDK, so control's DPDK-free wings (and dvpectl) use it
// without linking DPDK.
//
// Threads: a value type; parse()/str() are pure (inet_pton/inet_ntop); any thread.
#pragma once

#include <arpa/inet.h>

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace transport {

/// An IPv4 or IPv6 address in network byte order (IPv4 in bytes[0..3], the rest zero).
/// Ordered by family first (IPv4 before IPv6), then bytes: the neighbour table's key order.
struct ip_address {
    bool v6 = false;
    std::array<uint8_t, 16> bytes{};

    /// From an IPv4 address in network byte order (an rte_be32_t / in_addr_t).
    [[nodiscard]] static ip_address from_v4(uint32_t be) noexcept {
        ip_address r;
        std::memcpy(r.bytes.data(), &be, 4);
        return r;
    }
    /// From the 16 bytes at a.
    [[nodiscard]] static ip_address from_v6(const uint8_t* a) noexcept {
        ip_address r;
        std::memcpy(r.bytes.data(), a, 16);
        r.v6 = true;
        return r;
    }
    /// The IPv4 address in network byte order (meaningful when !v6).
    [[nodiscard]] uint32_t v4() const noexcept {
        uint32_t a;
        std::memcpy(&a, bytes.data(), 4);
        return a;
    }

    /// A dotted IPv4 or an IPv6 literal (no brackets, zone or prefix); nullopt for anything else.
    [[nodiscard]] static std::optional<ip_address> parse(std::string_view s) {
        if (s.empty() || s.size() >= INET6_ADDRSTRLEN) {
            return std::nullopt;
        }
        const std::string z(s);  // NUL-terminated for inet_pton (an embedded NUL fails below)
        if (z.size() != std::strlen(z.c_str())) {
            return std::nullopt;
        }
        ip_address a;
        if (z.find(':') == std::string::npos) {
            if (inet_pton(AF_INET, z.c_str(), a.bytes.data()) == 1) {
                return a;
            }
            return std::nullopt;
        }
        if (inet_pton(AF_INET6, z.c_str(), a.bytes.data()) == 1) {
            a.v6 = true;
            return a;
        }
        return std::nullopt;
    }

    /// The usual text form (inet_ntop); "?" if it cannot be formatted.
    [[nodiscard]] std::string str() const {
        char buf[INET6_ADDRSTRLEN] = {};
        if (inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf) == nullptr) {
            return "?";
        }
        return buf;
    }

    /// Same family and the first `prefix` bits equal (prefix clamped to the family's width).
    [[nodiscard]] bool same_subnet(const ip_address& o, unsigned prefix) const noexcept {
        if (v6 != o.v6) {
            return false;
        }
        const unsigned width = v6 ? 128u : 32u;
        prefix = prefix < width ? prefix : width;
        for (unsigned i = 0; i < prefix; ++i) {
            const unsigned byte = i / 8, bit = 7 - i % 8;
            if (((bytes[byte] >> bit) & 1) != ((o.bytes[byte] >> bit) & 1)) {
                return false;
            }
        }
        return true;
    }

    friend auto operator<=>(const ip_address&, const ip_address&) = default;
    friend bool operator==(const ip_address&, const ip_address&) = default;
};

}  // namespace transport
