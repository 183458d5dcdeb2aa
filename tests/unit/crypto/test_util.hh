// SPDX-License-Identifier: MIT
// Helpers shared by the crypto/ tests: hex decoding, the list of runnable (suite, backend) pairs
// for value-parameterized tests, and a small burst builder over owned buffers.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/aead.hh"

namespace crypto::test {

std::vector<uint8_t> hex(std::string_view s);
std::string to_hex(std::span<const uint8_t> b);

/// Every compiled-in (suite, backend) pair, available or not (unavailable ones skip).
std::vector<backend_status> all_pairs();
/// Printable name for gtest parameters: "aes128_gcm__ipsec_mb_avx2".
std::string param_name(const backend_status& s);

/// One packet with owned storage; data always has capacity >= 1 so data() is never null.
struct owned_packet {
    std::vector<uint8_t> buf;  // payload (size = len, capacity >= 1)
    std::vector<uint8_t> aad;
    std::array<uint8_t, aead_nonce_len> nonce{};
    std::array<uint8_t, aead_tag_len> tag{};

    aead_packet view();
};

/// aead_context shared by a test binary (creating one allocates up to four IPsec-MB managers).
aead_context& context();

/// Creates a key or fails the test.
aead_key make_key(suite s, backend b, std::span<const uint8_t> key);

}  // namespace crypto::test
