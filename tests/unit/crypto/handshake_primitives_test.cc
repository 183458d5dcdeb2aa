// SPDX-License-Identifier: MIT
// Tests of the handshake primitives: X25519 (RFC 7748 §5.2 and §6.1 vectors, low-order point),
// BLAKE2b (RFC 7693 Appendix A "abc"; keyed and truncated outputs checked against Python's
// hashlib), HMAC-BLAKE2b and HKDF (expected values computed independently with Python's hmac +
// hashlib.blake2b, RFC 5869 test case 1 inputs), the handshake AEAD (RFC 8439 §2.8.2), secret<N>.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "crypto/dh.hh"
#include "crypto/handshake_aead.hh"
#include "crypto/hash.hh"
#include "crypto/init.hh"
#include "crypto/random.hh"
#include "crypto/secret.hh"
#include "tests/unit/crypto/test_util.hh"

namespace crypto::test {
namespace {

template <size_t N>
std::array<uint8_t, N> arr(std::string_view h) {
    const auto v = hex(h);
    std::array<uint8_t, N> a{};
    EXPECT_EQ(v.size(), N);
    std::copy_n(v.begin(), std::min(N, v.size()), a.begin());
    return a;
}

std::vector<uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

TEST(x25519, rfc7748_section_5_2) {
    const auto scalar = arr<32>("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
    const auto u = arr<32>("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
    std::array<uint8_t, 32> out{};
    ASSERT_TRUE(x25519(out, scalar, u));
    EXPECT_EQ(to_hex(out), "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
}

TEST(x25519, rfc7748_section_6_1) {
    const auto a_priv = arr<32>("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    const auto b_priv = arr<32>("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    std::array<uint8_t, 32> a_pub{}, b_pub{}, k1{}, k2{};
    ASSERT_TRUE(x25519_public_from_private(a_pub, a_priv));
    ASSERT_TRUE(x25519_public_from_private(b_pub, b_priv));
    EXPECT_EQ(to_hex(a_pub), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    EXPECT_EQ(to_hex(b_pub), "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    ASSERT_TRUE(x25519(k1, a_priv, b_pub));
    ASSERT_TRUE(x25519(k2, b_priv, a_pub));
    EXPECT_EQ(to_hex(k1), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    EXPECT_EQ(k1, k2);
}

TEST(x25519, low_order_point_is_rejected) {
    const auto priv = arr<32>("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    std::array<uint8_t, 32> zero_point{}, out{};
    EXPECT_FALSE(x25519(out, priv, zero_point));
}

TEST(x25519, keypair_is_consistent_and_fresh) {
    std::array<uint8_t, 32> pub1{}, pub2{}, derived{};
    secret<32> priv1, priv2;
    x25519_keypair(pub1, priv1.span());
    x25519_keypair(pub2, priv2.span());
    ASSERT_TRUE(x25519_public_from_private(derived, priv1.span()));
    EXPECT_EQ(derived, pub1);
    EXPECT_NE(pub1, pub2);
    std::array<uint8_t, 32> s1{}, s2{};
    ASSERT_TRUE(x25519(s1, priv1.span(), pub2));
    ASSERT_TRUE(x25519(s2, priv2.span(), pub1));
    EXPECT_EQ(s1, s2);
}

TEST(blake2b, rfc7693_abc) {
    std::array<uint8_t, 64> out{};
    ASSERT_TRUE(blake2b(out, bytes("abc")));
    EXPECT_EQ(to_hex(out),
              "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38a"
              "a8dbf1925ab92386edd4009923");
}

TEST(blake2b, keyed_and_truncated) {
    std::vector<uint8_t> key(64), msg(255);
    for (size_t i = 0; i < key.size(); ++i) {
        key[i] = static_cast<uint8_t>(i);
    }
    for (size_t i = 0; i < msg.size(); ++i) {
        msg[i] = static_cast<uint8_t>(i);
    }
    std::array<uint8_t, 64> out{};
    ASSERT_TRUE(blake2b_keyed(out, key, msg));
    EXPECT_EQ(to_hex(out),
              "142709d62e28fcccd0af97fad0f8465b971e82201dc51070faa0372aa43e92484be1c1e73ba10906d5d1853db6a4106e0a7bf9"
              "800d373d6dee2d46d62ef2a461");
    std::array<uint8_t, 32> out32{};
    ASSERT_TRUE(blake2b_keyed(out32, std::span(key).first(16), {}));
    EXPECT_EQ(to_hex(out32), "037c7d740ea795902b5aebe210fafffff1f627f74010f8dc79c0d5b8a9fb5847");

    std::array<uint8_t, 8> too_short{};
    EXPECT_FALSE(blake2b(too_short, msg));
    EXPECT_FALSE(blake2b_keyed(out, std::span(key).first(8), msg));
}

TEST(blake2b, incremental_equals_one_shot) {
    const auto msg = bytes("The quick brown fox jumps over the lazy dog");
    std::array<uint8_t, 64> a{}, b{};
    ASSERT_TRUE(blake2b(a, msg));
    blake2b_hasher h;
    h.update(std::span(msg).first(10));
    h.update(std::span(msg).subspan(10));
    h.final(b);
    EXPECT_EQ(a, b);
}

TEST(hmac_blake2b, matches_python_hmac) {
    const auto msg = bytes("The quick brown fox jumps over the lazy dog");
    std::array<uint8_t, 64> out{};
    hmac_blake2b(out, bytes("key"), msg);
    EXPECT_EQ(to_hex(out),
              "92294f92c0dfb9b00ec9ae8bd94d7e7d8a036b885a499f149dfe2fd2199394aaaf6b8894a1730cccb2cd050f9bcf5062a38b51"
              "b0dab33207f8ef35ae2c9df51b");
    std::vector<uint8_t> long_key(200);  // longer than the 128-byte block: hashed first
    for (size_t i = 0; i < long_key.size(); ++i) {
        long_key[i] = static_cast<uint8_t>(i);
    }
    hmac_blake2b(out, long_key, msg);
    EXPECT_EQ(to_hex(out),
              "7b6d593626fdbf17325c34e2e415d85c4fe0bfa9264d3e6037b146acdd2544b0bec787e5a214533833c0e0f8386f6f3a46a156"
              "6cac5917652e8a0ad0b1bd8e99");
}

TEST(hkdf_blake2b, rfc5869_case1_inputs_match_python) {
    const auto ikm = std::vector<uint8_t>(22, 0x0b);
    const auto salt = hex("000102030405060708090a0b0c");
    const auto info = hex("f0f1f2f3f4f5f6f7f8f9");
    std::array<uint8_t, 64> prk{};
    hkdf_extract(prk, salt, ikm);
    EXPECT_EQ(to_hex(prk),
              "02fbaa4ced1e659fe2eb8ae358de5be0edc0fd4526dbc7cc68d2ab9273e1b230ab9d6860f65dc7bad92a483c0f90e019ace68b"
              "5e4fe65251666eb1e71e57a812");
    std::vector<uint8_t> okm(150);
    ASSERT_TRUE(hkdf_expand(okm, prk, info));
    EXPECT_EQ(to_hex(okm),
              "8815e1a85b5e90e6174323fdd180248887a7138af6dc5c8320fde21a60a078808267d6a41b6a938d7b30b3c3a7a0aef45b64cf"
              "11b2d32e47f46eb5494fbf2a85f051c1a1181469c1d6698dc722beeb3a0c5f973b29f43c79a34a5c303547a151c151228e70d1"
              "fe24a43f9420ef596154e06c438ca0b209bc2eb2d752a7309aa9e99a306d901607ee4a9f659ea0c3d2484acafc2c699f");
}

TEST(hkdf_blake2b, deterministic_prefix_consistent_and_info_separated) {
    std::array<uint8_t, 64> prk{};
    hkdf_extract(prk, bytes("chaining key"), bytes("dh output"));
    std::vector<uint8_t> a(96), b(96), c(96), shorter(40);
    ASSERT_TRUE(hkdf_expand(a, prk, {}));
    ASSERT_TRUE(hkdf_expand(b, prk, {}));
    ASSERT_TRUE(hkdf_expand(c, prk, bytes("other")));
    ASSERT_TRUE(hkdf_expand(shorter, prk, {}));
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
    EXPECT_TRUE(std::equal(shorter.begin(), shorter.end(), a.begin()));
    // Noise HKDF: output1 = HMAC(temp_key, 0x01), output2 = HMAC(temp_key, output1 || 0x02).
    std::array<uint8_t, 64> o1{}, o2{};
    const uint8_t one = 1;
    hmac_blake2b(o1, prk, {&one, 1});
    std::vector<uint8_t> m(o1.begin(), o1.end());
    m.push_back(2);
    hmac_blake2b(o2, prk, m);
    EXPECT_TRUE(std::equal(o1.begin(), o1.end(), a.begin()));
    EXPECT_TRUE(std::equal(o2.begin(), o2.begin() + 32, a.begin() + 64));
    std::vector<uint8_t> too_long(hkdf_max_len + 1);
    EXPECT_FALSE(hkdf_expand(too_long, prk, {}));
}

TEST(handshake_aead, rfc8439_vector_round_trip_and_tamper) {
    const auto key = arr<32>("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    const auto nonce = arr<12>("070000004041424344454647");
    const auto aad = hex("50515253c0c1c2c3c4c5c6c7");
    const auto pt = bytes(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would "
        "be it.");
    std::vector<uint8_t> ct(pt.size() + 16);
    ASSERT_TRUE(handshake_seal(ct, key, nonce, aad, pt));
    EXPECT_EQ(to_hex(std::span(ct).last(16)), "1ae10b594f09e26a7e902ecbd0600691");
    EXPECT_EQ(to_hex(std::span(ct).first(16)), "d31a8d34648e60db7b86afbc53ef7ec2");
    std::vector<uint8_t> back(pt.size());
    ASSERT_TRUE(handshake_open(back, key, nonce, aad, ct));
    EXPECT_EQ(back, pt);
    ct[20] ^= 1;
    EXPECT_FALSE(handshake_open(back, key, nonce, aad, ct));
    EXPECT_FALSE(handshake_open(back, key, nonce, aad, std::span(ct).first(10)));
    std::vector<uint8_t> wrong_size(pt.size() + 15);
    EXPECT_FALSE(handshake_seal(wrong_size, key, nonce, aad, pt));
}

TEST(handshake_aead, noise_nonce_layout) {
    std::array<uint8_t, 12> n{};
    noise_nonce(n, 0x0102030405060708ULL);
    EXPECT_EQ(to_hex(n), "000000000807060504030201");
}

TEST(random, fills_and_differs) {
    ASSERT_TRUE(init());
    std::array<uint8_t, 32> a{}, b{};
    random_bytes(a);
    random_bytes(b);
    EXPECT_NE(a, b);
}

TEST(secret, wipes_on_move_and_compares) {
    std::array<uint8_t, 4> raw = {1, 2, 3, 4};
    secret<4> a{std::span<const uint8_t, 4>(raw)};
    secret<4> b = a;
    EXPECT_TRUE(a == b);
    secret<4> c = std::move(a);
    EXPECT_TRUE(c == b);
    EXPECT_EQ(to_hex(a.span()), "00000000");  // NOLINT: reading a moved-from secret on purpose
    c.wipe();
    EXPECT_FALSE(c == b);
    EXPECT_TRUE(equal_ct16(hex("000102030405060708090a0b0c0d0e0f").data(), hex("000102030405060708090a0b0c0d0e0f").data()));
    EXPECT_FALSE(equal_ct16(hex("000102030405060708090a0b0c0d0e0f").data(), hex("000102030405060708090a0b0c0d0e8f").data()));
}

}  // namespace
}  // namespace crypto::test
