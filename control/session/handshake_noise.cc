// SPDX-License-Identifier: MIT
// Noise SymmetricState for IK with BLAKE2b and ChaChaPoly (see handshake_noise.hh).
#include "control/session/handshake_noise.hh"

#include <cstring>

#include "crypto/handshake_aead.hh"

namespace control::handshake {

void noise_hkdf2(crypto::secret<64>& out1, crypto::secret<64>& out2, std::span<const uint8_t> ck,
                 std::span<const uint8_t> ikm) noexcept {
    crypto::secret<crypto::blake2b_len> prk;
    crypto::hkdf_extract(prk.span(), ck, ikm);
    crypto::secret<2 * crypto::blake2b_len> okm;
    // 128 bytes is far below hkdf_max_len: cannot fail.
    (void)crypto::hkdf_expand(okm.span(), prk.span(), {});
    std::memcpy(out1.data(), okm.data(), 64);
    std::memcpy(out2.data(), okm.data() + 64, 64);
}

void symmetric_state::initialize() noexcept {
    _h.fill(0);
    std::memcpy(_h.data(), noise_protocol_name.data(), noise_protocol_name.size());
    std::memcpy(_ck.data(), _h.data(), hash_len);
    _k.wipe();
    _n = 0;
    _has_key = false;
}

void symmetric_state::mix_hash(std::span<const uint8_t> data) noexcept {
    crypto::blake2b_hasher hs;
    hs.update(_h);
    hs.update(data);
    hs.final(std::span<uint8_t, hash_len>(_h));
}

void symmetric_state::mix_key(std::span<const uint8_t> ikm) noexcept {
    crypto::secret<64> ck, temp_k;
    noise_hkdf2(ck, temp_k, _ck.span(), ikm);
    _ck = ck;
    std::memcpy(_k.data(), temp_k.data(), 32);  // truncate temp_k to 32 bytes (HASHLEN 64)
    _n = 0;
    _has_key = true;
}

bool symmetric_state::encrypt_and_hash(std::span<uint8_t> out, std::span<const uint8_t> plain) noexcept {
    if (!_has_key || out.size() != plain.size() + crypto::handshake_tag_len) {
        return false;  // IK always has a key before its first encryption
    }
    std::array<uint8_t, crypto::handshake_nonce_len> nonce;
    crypto::noise_nonce(nonce, _n);
    if (!crypto::handshake_seal(out, _k.span(), nonce, _h, plain)) {
        return false;
    }
    ++_n;
    mix_hash(out);
    return true;
}

bool symmetric_state::decrypt_and_hash(std::span<uint8_t> out, std::span<const uint8_t> in) noexcept {
    if (!_has_key || in.size() < crypto::handshake_tag_len || out.size() != in.size() - crypto::handshake_tag_len) {
        return false;
    }
    std::array<uint8_t, crypto::handshake_nonce_len> nonce;
    crypto::noise_nonce(nonce, _n);
    if (!crypto::handshake_open(out, _k.span(), nonce, _h, in)) {
        return false;
    }
    ++_n;
    mix_hash(in);
    return true;
}

void symmetric_state::split(crypto::secret<32>& k1, crypto::secret<32>& k2) const noexcept {
    crypto::secret<64> t1, t2;
    noise_hkdf2(t1, t2, _ck.span(), {});
    std::memcpy(k1.data(), t1.data(), 32);
    std::memcpy(k2.data(), t2.data(), 32);
}

void symmetric_state::wipe() noexcept {
    _ck.wipe();
    crypto::secure_zero(_h.data(), _h.size());
    _k.wipe();
    _n = 0;
    _has_key = false;
}

}  // namespace control::handshake
