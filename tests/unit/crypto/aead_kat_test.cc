// SPDX-License-Identifier: MIT
// Known-answer tests of every AEAD backend the CPU supports (docs/design.md §11 "known-answer"):
// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test cases 1-4 (AES-128) and
// 13-16 (AES-256); RFC 8439 §2.8.2 for ChaCha20-Poly1305. Each vector is sealed alone and in one
// burst with the others, opened again, and must fail to open with one bit flipped in the tag, the
// AAD, the ciphertext or the nonce.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "crypto/aead.hh"
#include "tests/unit/crypto/test_util.hh"

namespace crypto::test {
namespace {

struct kat {
    const char* what;
    suite cipher;
    const char* key;
    const char* nonce;
    const char* aad;
    const char* plaintext;
    const char* ciphertext;
    const char* tag;
};

constexpr const char* gcm_p64 =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657"
    "ba637b391aafd255";
constexpr const char* gcm_p60 =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657"
    "ba637b39";
constexpr const char* gcm_k = "feffe9928665731c6d6a8f9467308308";
constexpr const char* gcm_k256 = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
constexpr const char* gcm_iv = "cafebabefacedbaddecaf888";
constexpr const char* gcm_aad = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
constexpr const char* zero96 = "000000000000000000000000";
constexpr const char* zero128 = "00000000000000000000000000000000";
constexpr const char* zero256 = "0000000000000000000000000000000000000000000000000000000000000000";

const kat kats[] = {
    {"GCM TC1", suite::aes128_gcm, zero128, zero96, "", "", "", "58e2fccefa7e3061367f1d57a4e7455a"},
    {"GCM TC2", suite::aes128_gcm, zero128, zero96, "", zero128, "0388dace60b6a392f328c2b971b2fe78",
     "ab6e47d42cec13bdf53a67b21257bddf"},
    {"GCM TC3", suite::aes128_gcm, gcm_k, gcm_iv, "", gcm_p64,
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aa"
     "c973d58e091473f5985",
     "4d5c2af327cd64a62cf35abd2ba6fab4"},
    {"GCM TC4", suite::aes128_gcm, gcm_k, gcm_iv, gcm_aad, gcm_p60,
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aa"
     "c973d58e091",
     "5bc94fbc3221a5db94fae95ae7121a47"},
    {"GCM TC13", suite::aes256_gcm, zero256, zero96, "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"GCM TC14", suite::aes256_gcm, zero256, zero96, "", zero128, "cea7403d4d606b6e074ec5d3baf39d18",
     "d0d1c8a799996bf0265b98b5d48ab919"},
    {"GCM TC15", suite::aes256_gcm, gcm_k256, gcm_iv, "", gcm_p64,
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7"
     "a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"GCM TC16", suite::aes256_gcm, gcm_k256, gcm_iv, gcm_aad, gcm_p60,
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7"
     "a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
    {"RFC 8439 2.8.2", suite::chacha20_poly1305, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
     "070000004041424344454647", "50515253c0c1c2c3c4c5c6c7",
     // "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future,
     // sunscreen would be it."
     "4c616469657320616e642047656e746c656d656e206f662074686520636c617373206f66202739393a204966204920636f756c64206f66"
     "66657220796f75206f6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73637265656e20776f756c642062"
     "652069742e",
     "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b"
     "2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586ce"
     "c64b6116",
     "1ae10b594f09e26a7e902ecbd0600691"},
};

owned_packet packet_of(const kat& k) {
    owned_packet p;
    p.buf = hex(k.plaintext);
    p.aad = hex(k.aad);
    const auto n = hex(k.nonce);
    std::copy(n.begin(), n.end(), p.nonce.begin());
    return p;
}

class aead_kat : public ::testing::TestWithParam<backend_status> {
protected:
    void SetUp() override {
        if (!GetParam().available) {
            GTEST_SKIP() << name(GetParam().impl) << " cannot run on this CPU";
        }
        for (const kat& k : kats) {
            if (k.cipher == GetParam().cipher) {
                _kats.push_back(&k);
            }
        }
        if (_kats.empty()) {
            GTEST_SKIP() << "no vectors for " << name(GetParam().cipher);
        }
    }
    aead_key key_of(const kat& k) { return make_key(GetParam().cipher, GetParam().impl, hex(k.key)); }

    std::vector<const kat*> _kats;
};

TEST_P(aead_kat, seal_matches_vector_and_opens) {
    for (const kat* k : _kats) {
        SCOPED_TRACE(k->what);
        const aead_key key = key_of(*k);
        owned_packet p = packet_of(*k);
        aead_packet v = p.view();
        context().seal_burst(key, {&v, 1});
        EXPECT_EQ(to_hex(p.buf), k->ciphertext);
        EXPECT_EQ(to_hex(p.tag), k->tag);

        uint8_t ok = 7;
        EXPECT_EQ(context().open_burst(key, {&v, 1}, {&ok, 1}), 1U);
        EXPECT_EQ(ok, 1);
        EXPECT_EQ(to_hex(p.buf), std::string(k->plaintext));
    }
}

TEST_P(aead_kat, opens_vector_ciphertext) {
    for (const kat* k : _kats) {
        SCOPED_TRACE(k->what);
        const aead_key key = key_of(*k);
        owned_packet p = packet_of(*k);
        p.buf = hex(k->ciphertext);
        const auto t = hex(k->tag);
        std::copy(t.begin(), t.end(), p.tag.begin());
        aead_packet v = p.view();
        uint8_t ok = 0;
        EXPECT_EQ(context().open_burst(key, {&v, 1}, {&ok, 1}), 1U);
        EXPECT_EQ(ok, 1);
        EXPECT_EQ(to_hex(p.buf), std::string(k->plaintext));
    }
}

// Every mutation of an authentic packet must be rejected.
enum class flip { tag_first, tag_last, aad, ciphertext_first, ciphertext_last, nonce };
constexpr const char* flip_names[] = {"tag bit 0", "tag bit 127", "aad", "ciphertext first", "ciphertext last",
                                      "nonce"};

TEST_P(aead_kat, must_fail_with_flipped_bit) {
    for (const kat* k : _kats) {
        for (flip f : {flip::tag_first, flip::tag_last, flip::aad, flip::ciphertext_first, flip::ciphertext_last,
                       flip::nonce}) {
            SCOPED_TRACE(std::string(k->what) + " / " + flip_names[static_cast<int>(f)]);
            owned_packet p = packet_of(*k);
            p.buf = hex(k->ciphertext);
            const auto t = hex(k->tag);
            std::copy(t.begin(), t.end(), p.tag.begin());
            switch (f) {
            case flip::tag_first: p.tag[0] ^= 1; break;
            case flip::tag_last: p.tag[15] ^= 0x80; break;
            case flip::aad:
                if (p.aad.empty()) {
                    p.aad.push_back(0);  // adding AAD is also a change
                } else {
                    p.aad[p.aad.size() / 2] ^= 4;
                }
                break;
            case flip::ciphertext_first:
            case flip::ciphertext_last:
                if (p.buf.empty()) {
                    continue;
                }
                p.buf[f == flip::ciphertext_first ? 0 : p.buf.size() - 1] ^= 0x10;
                break;
            case flip::nonce: p.nonce[11] ^= 1; break;
            }
            const aead_key key = key_of(*k);
            aead_packet v = p.view();
            uint8_t ok = 1;
            EXPECT_EQ(context().open_burst(key, {&v, 1}, {&ok, 1}), 0U);
            EXPECT_EQ(ok, 0);
        }
    }
}

// A burst of 40 copies of the same vector (more than the usual 32): every copy must come out
// identical, and all must open.
TEST_P(aead_kat, burst_of_repeated_vectors) {
    for (const kat* k : _kats) {
        SCOPED_TRACE(k->what);
        const aead_key key = key_of(*k);
        std::vector<owned_packet> pkts(40, packet_of(*k));
        std::vector<aead_packet> views;
        for (auto& p : pkts) {
            views.push_back(p.view());
        }
        context().seal_burst(key, views);
        for (auto& p : pkts) {
            EXPECT_EQ(to_hex(p.buf), k->ciphertext);
            EXPECT_EQ(to_hex(p.tag), k->tag);
        }
        std::vector<uint8_t> ok(views.size(), 0);
        EXPECT_EQ(context().open_burst(key, views, ok), views.size());
    }
}

INSTANTIATE_TEST_SUITE_P(backends, aead_kat, ::testing::ValuesIn(all_pairs()),
                         [](const auto& info) { return param_name(info.param); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(aead_kat);

}  // namespace
}  // namespace crypto::test
