// SPDX-License-Identifier: MIT
// The `null` suite: no encryption, no authentication (fastd's `null` method). Seal leaves the
// payload as it is and writes an all-zero tag; open accepts every packet. Compiled in only with
// the meson option suite_null, selectable only with select_options::allow_null, and
// crypto::authenticated(suite::null) is false so dvped can warn loudly. For benchmarks and
// trusted links only.
#include <cstring>

#include "crypto/aead/detail.hh"
#include "crypto/suites.hh"

namespace crypto::detail {
namespace {

[[maybe_unused]] bool null_available() noexcept { return true; }

[[maybe_unused]] const char* null_expand(key_state& /*ks*/, std::span<const uint8_t> /*key*/) noexcept {
    return nullptr;
}

[[maybe_unused]] void null_seal(context_state& /*cs*/, const key_state& /*ks*/, std::span<aead_packet> pkts) noexcept {
    for (const aead_packet& p : pkts) {
        std::memset(p.tag, 0, aead_tag_len);
    }
}

[[maybe_unused]] uint32_t null_open(context_state& /*cs*/, const key_state& /*ks*/, std::span<aead_packet> pkts,
                                    uint8_t* ok) noexcept {
    std::memset(ok, 1, pkts.size());
    return static_cast<uint32_t>(pkts.size());
}

}  // namespace

#if DVPE_SUITE_NULL
const backend_desc null_null{suite::null, backend::null, &null_available, "nothing", &null_expand, &null_seal,
    &null_open};
#endif

}  // namespace crypto::detail
