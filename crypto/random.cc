// SPDX-License-Identifier: MIT
// crypto::random_bytes over libsodium's randombytes_buf.
#include "crypto/random.hh"

#include <sodium/randombytes.h>

#include "crypto/init.hh"

namespace crypto {

void random_bytes(std::span<uint8_t> out) noexcept {
    (void)init();
    randombytes_buf(out.data(), out.size());
}

}  // namespace crypto
