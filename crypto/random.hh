// SPDX-License-Identifier: MIT
// Cryptographically secure random bytes for keys, ephemeral keys, cookies and handshake nonces
// (libsodium randombytes_buf: getrandom(2) seeded). Control thread; not for the hot path.
#pragma once

#include <cstdint>
#include <span>

namespace crypto {

/// Fills `out` with random bytes. Never fails once crypto::init() succeeded.
void random_bytes(std::span<uint8_t> out) noexcept;

}  // namespace crypto
