// SPDX-License-Identifier: MIT
// mac1, mac2 and cookie replies of the handshake (docs/protocol.md "mac1, mac2 and cookies";
// WireGuard whitepaper §5.4.4 and §5.4.7, with BLAKE2b in place of BLAKE2s):
//   mac1_key(P)   = BLAKE2b-256("mac1----" || P)            P = the receiver's static public key
//   cookie_key(P) = BLAKE2b-256("cookie--" || P)
//   mac1          = BLAKE2b-128 keyed mac1_key(receiver) over the message up to mac1
//   cookie        = BLAKE2b-128 keyed R over the source address bytes, R random, new every 2 min
//   mac2          = BLAKE2b-128 keyed cookie over the message up to mac2 (zero without a cookie)
//   cookie reply  = nonce(24) || XChaCha20-Poly1305(cookie_key(sender of the reply), nonce,
//                   ad = the mac1 of the message it answers, cookie)
// mac1 proves the sender knows our public key and is checked before any DH; mac2 proves it can
// receive at its source address, and is demanded only under load. Random 192-bit nonces
// (libsodium's XChaCha20-Poly1305 directly) because the cookie key never rotates.
// Threads: control thread only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "control/session/handshake.hh"
#include "crypto/secret.hh"

namespace control::handshake {

inline constexpr size_t cookie_box_len = cookie_nonce_len + mac_len + tag_len;  // 56

/// BLAKE2b-256("mac1----" || pub).
void derive_mac1_key(crypto::secret<32>& out, std::span<const uint8_t, key_len> pub) noexcept;
/// BLAKE2b-256("cookie--" || pub).
void derive_cookie_key(crypto::secret<32>& out, std::span<const uint8_t, key_len> pub) noexcept;
/// out = BLAKE2b-128 keyed `key` over `msg`.
void compute_mac(std::span<uint8_t, mac_len> out, std::span<const uint8_t> key, std::span<const uint8_t> msg) noexcept;

/// The receiving side: checks mac1/mac2 of messages to us and seals cookies for their sources.
class cookie_checker {
public:
    cookie_checker(const std::array<uint8_t, key_len>& our_public, uint64_t rotate_ns);

    /// mac1 at msg[mac1_off, +16) against msg[0, mac1_off). Constant time. msg.size() must be
    /// at least mac1_off + 16 (the caller checked the exact size).
    [[nodiscard]] bool mac1_valid(std::span<const uint8_t> msg, size_t mac1_off) const noexcept;
    /// mac2 at msg[mac2_off, +16) against the cookie `source` would get now.
    [[nodiscard]] bool mac2_valid(std::span<const uint8_t> msg, size_t mac2_off, std::span<const uint8_t> source,
                                  uint64_t now_ns, const random_source& rng) noexcept;
    /// Writes nonce || sealed cookie for `source`, bound to `mac1` (the answered message's).
    void seal_cookie(std::span<uint8_t, cookie_box_len> out, std::span<const uint8_t, mac_len> mac1,
                     std::span<const uint8_t> source, uint64_t now_ns, const random_source& rng) noexcept;

private:
    void make_cookie(std::span<uint8_t, mac_len> out, std::span<const uint8_t> source, uint64_t now_ns,
                     const random_source& rng) noexcept;

    crypto::secret<32> _mac1_key;
    crypto::secret<32> _cookie_key;
    crypto::secret<32> _secret;
    uint64_t _secret_birth_ns = 0;
    bool _have_secret = false;
    uint64_t _rotate_ns;
};

/// The sending side, per peer: its mac1/cookie keys, the last mac1 we sent it, its cookie.
struct cookie_state {
    crypto::secret<32> mac1_key;    ///< mac1_key(peer public)
    crypto::secret<32> cookie_key;  ///< cookie_key(peer public)
    crypto::secret<mac_len> cookie;
    uint64_t cookie_received_ns = 0;
    bool have_cookie = false;
    std::array<uint8_t, mac_len> last_mac1{};
    bool have_last_mac1 = false;
    uint8_t last_sender_key_id = 0;  ///< byte 5 of the last message we sent: a cookie reply echoes it

    void init(std::span<const uint8_t, key_len> peer_public) noexcept;
    /// Forgets cookie and last mac1 (keys stay).
    void reset() noexcept;

    /// Fills mac1 (and mac2 if a cookie younger than `valid_ns` is held, zeros otherwise) of an
    /// outgoing message and remembers mac1 for a cookie reply.
    void add_macs(std::span<uint8_t> msg, size_t mac1_off, uint8_t sender_key_id, uint64_t now_ns,
                  uint64_t valid_ns) noexcept;
    /// Opens a cookie reply body (nonce || box). \returns false if it does not answer our last
    /// message or does not open; the state is then unchanged.
    [[nodiscard]] bool consume_cookie(std::span<const uint8_t, cookie_box_len> body, uint64_t now_ns) noexcept;
};

}  // namespace control::handshake
