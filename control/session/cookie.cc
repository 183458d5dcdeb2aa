// SPDX-License-Identifier: MIT
// mac1/mac2 and cookie replies (see cookie.hh).
#include "control/session/cookie.hh"

#include <cstring>

#include <sodium/crypto_aead_xchacha20poly1305.h>

#include "crypto/hash.hh"
#include "crypto/random.hh"

namespace control::handshake {

namespace {

void derive_labelled(crypto::secret<32>& out, const char (&label)[9], std::span<const uint8_t, key_len> pub) noexcept {
    std::array<uint8_t, 8 + key_len> in;
    std::memcpy(in.data(), label, 8);
    std::memcpy(in.data() + 8, pub.data(), key_len);
    (void)crypto::blake2b(out.span(), in);  // 32 bytes: a valid BLAKE2b length
}

void fill_random(const random_source& rng, std::span<uint8_t> out) noexcept {
    if (rng) {
        rng(out);
    } else {
        crypto::random_bytes(out);
    }
}

}  // namespace

void derive_mac1_key(crypto::secret<32>& out, std::span<const uint8_t, key_len> pub) noexcept {
    derive_labelled(out, "mac1----", pub);
}

void derive_cookie_key(crypto::secret<32>& out, std::span<const uint8_t, key_len> pub) noexcept {
    derive_labelled(out, "cookie--", pub);
}

void compute_mac(std::span<uint8_t, mac_len> out, std::span<const uint8_t> key, std::span<const uint8_t> msg) noexcept {
    (void)crypto::blake2b_keyed(out, key, msg);  // key 16 or 32 bytes, out 16: valid sizes
}

// ---- cookie_checker ----------------------------------------------------------------------------

cookie_checker::cookie_checker(const std::array<uint8_t, key_len>& our_public, uint64_t rotate_ns)
    : _rotate_ns(rotate_ns) {
    derive_mac1_key(_mac1_key, our_public);
    derive_cookie_key(_cookie_key, our_public);
}

bool cookie_checker::mac1_valid(std::span<const uint8_t> msg, size_t mac1_off) const noexcept {
    std::array<uint8_t, mac_len> mac;
    compute_mac(mac, _mac1_key.span(), msg.first(mac1_off));
    return crypto::equal_ct(mac, msg.subspan(mac1_off, mac_len));
}

void cookie_checker::make_cookie(std::span<uint8_t, mac_len> out, std::span<const uint8_t> source, uint64_t now_ns,
                                 const random_source& rng) noexcept {
    if (!_have_secret || now_ns - _secret_birth_ns >= _rotate_ns || now_ns < _secret_birth_ns) {
        fill_random(rng, _secret.span());
        _secret_birth_ns = now_ns;
        _have_secret = true;
    }
    compute_mac(out, _secret.span(), source);
}

bool cookie_checker::mac2_valid(std::span<const uint8_t> msg, size_t mac2_off, std::span<const uint8_t> source,
                                uint64_t now_ns, const random_source& rng) noexcept {
    crypto::secret<mac_len> cookie;
    make_cookie(cookie.span(), source, now_ns, rng);
    std::array<uint8_t, mac_len> mac;
    compute_mac(mac, cookie.span(), msg.first(mac2_off));
    return crypto::equal_ct(mac, msg.subspan(mac2_off, mac_len));
}

void cookie_checker::seal_cookie(std::span<uint8_t, cookie_box_len> out, std::span<const uint8_t, mac_len> mac1,
                                 std::span<const uint8_t> source, uint64_t now_ns, const random_source& rng) noexcept {
    crypto::secret<mac_len> cookie;
    make_cookie(cookie.span(), source, now_ns, rng);
    fill_random(rng, out.first(cookie_nonce_len));
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out.data() + cookie_nonce_len, &clen, cookie.data(), mac_len,
                                               mac1.data(), mac_len, nullptr, out.data(), _cookie_key.data());
}

// ---- cookie_state --------------------------------------------------------------------------------

void cookie_state::init(std::span<const uint8_t, key_len> peer_public) noexcept {
    derive_mac1_key(mac1_key, peer_public);
    derive_cookie_key(cookie_key, peer_public);
    reset();
}

void cookie_state::reset() noexcept {
    cookie.wipe();
    cookie_received_ns = 0;
    have_cookie = false;
    last_mac1.fill(0);
    have_last_mac1 = false;
    last_sender_key_id = 0;
}

void cookie_state::add_macs(std::span<uint8_t> msg, size_t mac1_off, uint8_t sender_key_id, uint64_t now_ns,
                            uint64_t valid_ns) noexcept {
    const size_t mac2_off = mac1_off + mac_len;
    compute_mac(msg.subspan(mac1_off).first<mac_len>(), mac1_key.span(), msg.first(mac1_off));
    std::memcpy(last_mac1.data(), msg.data() + mac1_off, mac_len);
    have_last_mac1 = true;
    last_sender_key_id = sender_key_id;
    if (have_cookie && now_ns >= cookie_received_ns && now_ns - cookie_received_ns < valid_ns) {
        compute_mac(msg.subspan(mac2_off).first<mac_len>(), cookie.span(), msg.first(mac2_off));
    } else {
        std::memset(msg.data() + mac2_off, 0, mac_len);
    }
}

bool cookie_state::consume_cookie(std::span<const uint8_t, cookie_box_len> body, uint64_t now_ns) noexcept {
    if (!have_last_mac1) {
        return false;
    }
    crypto::secret<mac_len> fresh;
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(fresh.data(), &mlen, nullptr, body.data() + cookie_nonce_len,
                                                   mac_len + tag_len, last_mac1.data(), mac_len, body.data(),
                                                   cookie_key.data()) != 0) {
        return false;
    }
    cookie = fresh;
    cookie_received_ns = now_ns;
    have_cookie = true;
    // A cookie reply answers one message: a replay of it must not refresh the cookie again.
    have_last_mac1 = false;
    return true;
}

}  // namespace control::handshake
