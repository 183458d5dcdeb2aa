// SPDX-License-Identifier: MIT
// Shared helpers of the crypto/ tests (see test_util.hh).
#include "tests/unit/crypto/test_util.hh"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace crypto::test {

std::vector<uint8_t> hex(std::string_view s) {
    std::vector<uint8_t> out;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    };
    int hi = -1;
    for (char c : s) {
        const int v = nibble(c);
        if (v < 0) {
            continue;  // separators
        }
        if (hi < 0) {
            hi = v;
        } else {
            out.push_back(static_cast<uint8_t>(hi << 4 | v));
            hi = -1;
        }
    }
    if (hi >= 0) {
        throw std::invalid_argument("odd hex string");
    }
    return out;
}

std::string to_hex(std::span<const uint8_t> b) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    for (uint8_t x : b) {
        s += digits[x >> 4];
        s += digits[x & 15];
    }
    return s;
}

std::vector<backend_status> all_pairs() { return list_backends(); }

std::string param_name(const backend_status& s) {
    std::string n = std::string(name(s.cipher)) + "__" + std::string(name(s.impl));
    for (char& c : n) {
        if (c == '-') {
            c = '_';
        }
    }
    return n;
}

aead_packet owned_packet::view() {
    if (buf.capacity() == 0) {
        buf.reserve(1);
    }
    return aead_packet{buf.data(), static_cast<uint32_t>(buf.size()), static_cast<uint32_t>(aad.size()),
                       aad.empty() ? nullptr : aad.data(), nonce.data(), tag.data()};
}

aead_context& context() {
    static aead_context ctx = [] {
        auto r = aead_context::create();
        if (!r) {
            std::fprintf(stderr, "aead_context::create: %s\n", r.error().c_str());
            std::abort();
        }
        return std::move(r).value();
    }();
    return ctx;
}

aead_key make_key(suite s, backend b, std::span<const uint8_t> key) {
    auto r = aead_key::create({s, b}, key);
    if (!r) {
        ADD_FAILURE() << "aead_key::create: " << r.error();
        std::abort();
    }
    return std::move(r).value();
}

}  // namespace crypto::test
