// SPDX-License-Identifier: MIT
// Tests of the AEAD registry: names, compile-time policy (crypto/suites.hh), "auto" resolution,
// and the error messages for every way a config can name something that cannot run.
#include <gtest/gtest.h>

#include "crypto/aead.hh"
#include "crypto/suites.hh"
#include "tests/unit/crypto/test_util.hh"

namespace crypto::test {
namespace {

bool contains(const std::string& s, std::string_view what) { return s.find(what) != std::string::npos; }

TEST(aead_registry, names_round_trip) {
    for (size_t i = 0; i < n_suites; ++i) {
        const auto s = static_cast<suite>(i);
        EXPECT_EQ(parse_suite(name(s)), s);
    }
    for (size_t i = 0; i < n_backends; ++i) {
        const auto b = static_cast<backend>(i);
        EXPECT_EQ(parse_backend(name(b)), b);
    }
    EXPECT_EQ(name(suite::aes256_gcm), "aes256-gcm");
    EXPECT_EQ(name(backend::ipsec_mb_avx2), "ipsec-mb-avx2");
    EXPECT_FALSE(parse_suite("AES256-GCM"));
    EXPECT_FALSE(parse_backend("auto"));
}

TEST(aead_registry, compiled_in_follows_meson_options) {
    EXPECT_EQ(compiled_in(suite::aes128_gcm), DVPE_SUITE_AES128_GCM != 0);
    EXPECT_EQ(compiled_in(suite::aes256_gcm), DVPE_SUITE_AES256_GCM != 0);
    EXPECT_EQ(compiled_in(suite::chacha20_poly1305), DVPE_SUITE_CHACHA20_POLY1305 != 0);
    EXPECT_EQ(compiled_in(suite::null), DVPE_SUITE_NULL != 0);
    for (const backend_status& b : list_backends()) {
        EXPECT_TRUE(compiled_in(b.cipher)) << name(b.cipher);
    }
}

TEST(aead_registry, list_is_consistent_with_available) {
    for (const backend_status& b : list_backends()) {
        EXPECT_EQ(b.available, available(b.cipher, b.impl)) << name(b.cipher) << "/" << name(b.impl);
    }
    EXPECT_FALSE(available(suite::aes128_gcm, backend::libsodium));  // libsodium has no AES-128-GCM
}

TEST(aead_registry, auto_picks_first_available) {
    for (suite s : {suite::aes128_gcm, suite::aes256_gcm, suite::chacha20_poly1305}) {
        if (!compiled_in(s)) {
            continue;
        }
        auto r = select_aead(name(s));
        ASSERT_TRUE(r) << r.error();
        EXPECT_EQ(r->cipher, s);
        for (const backend_status& b : list_backends()) {
            if (b.cipher == s && b.available) {
                EXPECT_EQ(r->impl, b.impl);
                break;
            }
        }
        auto empty = select_aead(name(s), "");
        ASSERT_TRUE(empty);
        EXPECT_EQ(empty->impl, r->impl);
    }
}

TEST(aead_registry, explicit_backend) {
    if (!compiled_in(suite::chacha20_poly1305)) {
        GTEST_SKIP();
    }
    auto r = select_aead("chacha20-poly1305", "libsodium");
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->impl, backend::libsodium);
}

struct error_case {
    const char* cipher;
    const char* backend;
    bool allow_null;
    const char* expect;  // substring of the error
};

TEST(aead_registry, errors_are_messages) {
    const error_case cases[] = {
        {"aes-gcm", "auto", false, "unknown cipher suite 'aes-gcm'"},
        {"", "auto", false, "unknown cipher suite ''"},
#if DVPE_SUITE_AES128_GCM
        {"aes128-gcm", "openssl", false, "unknown crypto backend 'openssl'"},
        {"aes128-gcm", "libsodium", false, "does not implement aes128-gcm"},
        {"aes128-gcm", "null", false, "does not implement aes128-gcm"},
#endif
#if !DVPE_SUITE_AES128_GCM
        {"aes128-gcm", "auto", false, "not compiled into this binary (meson option suite_aes128_gcm=false)"},
#endif
#if !DVPE_SUITE_CHACHA20_POLY1305
        {"chacha20-poly1305", "libsodium", false, "not compiled into this binary"},
#endif
#if DVPE_SUITE_NULL
        {"null", "auto", false, "must be enabled explicitly"},
        {"null", "ipsec-mb", true, "does not implement null"},
#else
        {"null", "auto", true, "not compiled into this binary (meson option suite_null=false)"},
#endif
    };
    for (const error_case& c : cases) {
        auto r = select_aead(c.cipher, c.backend, {.allow_null = c.allow_null});
        ASSERT_FALSE(r) << c.cipher << "/" << c.backend;
        EXPECT_TRUE(contains(r.error(), c.expect)) << r.error();
    }
}

TEST(aead_registry, unavailable_backend_is_an_error) {
    for (const backend_status& b : list_backends()) {
        auto r = select_aead(name(b.cipher), name(b.impl), {.allow_null = true});
        EXPECT_EQ(static_cast<bool>(r), b.available) << name(b.cipher) << "/" << name(b.impl);
        if (!r) {
            EXPECT_TRUE(contains(r.error(), "cannot run on this CPU")) << r.error();
        }
    }
}

TEST(aead_registry, key_length_is_checked) {
    for (suite s : {suite::aes128_gcm, suite::aes256_gcm, suite::chacha20_poly1305}) {
        if (!compiled_in(s)) {
            continue;
        }
        auto c = select_aead(name(s));
        ASSERT_TRUE(c);
        std::vector<uint8_t> key(key_len(s) + 1);
        auto k = aead_key::create(*c, key);
        ASSERT_FALSE(k);
        EXPECT_TRUE(contains(k.error(), "-byte key, got " + std::to_string(key.size()))) << k.error();
        key.resize(key_len(s));
        EXPECT_TRUE(aead_key::create(*c, key));
    }
}

TEST(aead_registry, key_for_pair_not_compiled_in) {
    auto k = aead_key::create({suite::aes128_gcm, backend::libsodium}, std::vector<uint8_t>(16));
    ASSERT_FALSE(k);
    EXPECT_TRUE(contains(k.error(), "does not implement")) << k.error();
}

TEST(aead_registry, keys_and_contexts_move) {
    if (!compiled_in(suite::chacha20_poly1305)) {
        GTEST_SKIP();
    }
    auto c = select_aead("chacha20-poly1305");
    ASSERT_TRUE(c);
    std::vector<uint8_t> raw(32, 9);
    aead_key a = make_key(c->cipher, c->impl, raw);
    aead_key b = std::move(a);
    EXPECT_EQ(b.cipher(), suite::chacha20_poly1305);
    EXPECT_TRUE(b.authenticated());
    auto ctx = aead_context::create();
    ASSERT_TRUE(ctx) << ctx.error();
    aead_context moved = std::move(ctx).value();
    owned_packet p;
    p.buf = {1, 2, 3, 4};
    aead_packet v = p.view();
    moved.seal_burst(b, {&v, 1});
    uint8_t ok = 0;
    EXPECT_EQ(moved.open_burst(b, {&v, 1}, {&ok, 1}), 1U);
    EXPECT_EQ(p.buf, (std::vector<uint8_t>{1, 2, 3, 4}));
}

}  // namespace
}  // namespace crypto::test
