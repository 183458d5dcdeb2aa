// SPDX-License-Identifier: MIT
// crypto::init(): sodium_init() once per process.
#include "crypto/init.hh"

#include <sodium/core.h>

namespace crypto {

bool init() noexcept {
    static const bool ok = sodium_init() >= 0;  // 0 = done now, 1 = already done, -1 = failure
    return ok;
}

}  // namespace crypto
