// SPDX-License-Identifier: MIT
// Library initialization of crypto/: initializes libsodium (CPU feature detection, the random
// generator). Every crypto/ entry point that needs it calls it itself; dvped calls it once at
// startup to fail early with a clear message.
#pragma once

namespace crypto {

/// Initializes libsodium. Idempotent and thread-safe; \returns false if libsodium cannot start.
[[nodiscard]] bool init() noexcept;

}  // namespace crypto
