// SPDX-License-Identifier: MIT
// Differential tests of the AEAD backends (docs/design.md §11 "Differential"): every backend of
// a suite must produce byte-identical ciphertext and tags in place, for random sizes 0..9000 in
// bursts that mix sizes across the kernel-switch thresholds, and open what the others sealed.
// Also: a burst mixing authentic and tampered packets opens exactly the authentic ones; bursts
// longer than the IPsec-MB job queue; the null suite when compiled in.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <unistd.h>
#include <cstring>
#include <random>
#include <vector>

#include "crypto/aead.hh"
#include "crypto/aead/detail.hh"
#include "tests/unit/crypto/test_util.hh"

namespace crypto::test {
namespace {

constexpr suite real_suites[] = {suite::aes128_gcm, suite::aes256_gcm, suite::chacha20_poly1305};

std::vector<backend> runnable(suite s) {
    std::vector<backend> out;
    for (const backend_status& b : list_backends()) {
        if (b.cipher == s && b.available) {
            out.push_back(b.impl);
        }
    }
    return out;
}

// Sizes: every edge that matters (empty, partial blocks, the kernel switches at 256/384/2048 B and
// 32 B past a multiple of 128, a 1420-byte packet, jumbo) plus random ones up to 9000.
std::vector<uint32_t> test_sizes(std::mt19937& rng, size_t n_random) {
    std::vector<uint32_t> sizes = {0, 1, 15, 16, 17, 31, 32, 63, 64, 65, 127, 128, 383, 384, 415, 416, 2047, 2048,
                                   129, 255, 256, 257, 511, 512, 1023, 1420, 1500, 4096, 8192, 9000};
    std::uniform_int_distribution<uint32_t> d(0, 9000);
    for (size_t i = 0; i < n_random; ++i) {
        sizes.push_back(d(rng));
    }
    std::shuffle(sizes.begin(), sizes.end(), rng);
    return sizes;
}

void fill(std::mt19937& rng, std::span<uint8_t> b) {
    for (auto& x : b) {
        x = static_cast<uint8_t>(rng());
    }
}

class aead_cross : public ::testing::TestWithParam<suite> {};

TEST_P(aead_cross, every_backend_agrees_in_place) {
    const suite s = GetParam();
    if (!compiled_in(s)) {
        GTEST_SKIP() << name(s) << " not compiled in";
    }
    const std::vector<backend> impls = runnable(s);
    if (impls.size() < 2) {
        GTEST_SKIP() << "fewer than two runnable backends for " << name(s);
    }
    std::mt19937 rng(0xd17e + static_cast<unsigned>(s));
    const std::vector<uint32_t> sizes = test_sizes(rng, 100);

    std::vector<uint8_t> key(key_len(s));
    fill(rng, key);
    std::vector<aead_key> keys;
    for (backend b : impls) {
        keys.push_back(make_key(s, b, key));
    }

    // Reference: plaintexts; each backend seals a copy of every burst in place.
    std::vector<owned_packet> plain(sizes.size());
    std::uniform_int_distribution<size_t> aad_len(0, 40);
    for (size_t i = 0; i < sizes.size(); ++i) {
        plain[i].buf.resize(sizes[i]);
        fill(rng, plain[i].buf);
        plain[i].aad.resize(aad_len(rng));
        fill(rng, plain[i].aad);
        fill(rng, plain[i].nonce);
    }

    std::vector<std::vector<owned_packet>> sealed(impls.size(), plain);
    for (size_t bi = 0; bi < impls.size(); ++bi) {
        for (size_t off = 0; off < plain.size(); off += 32) {
            std::vector<aead_packet> v;
            for (size_t i = off; i < std::min(plain.size(), off + 32); ++i) {
                v.push_back(sealed[bi][i].view());
            }
            context().seal_burst(keys[bi], v);
        }
    }
    for (size_t bi = 1; bi < impls.size(); ++bi) {
        for (size_t i = 0; i < plain.size(); ++i) {
            SCOPED_TRACE(std::string(name(impls[bi])) + " vs " + std::string(name(impls[0])) +
                         " len=" + std::to_string(sizes[i]));
            ASSERT_EQ(sealed[bi][i].buf, sealed[0][i].buf);
            ASSERT_EQ(sealed[bi][i].tag, sealed[0][i].tag);
        }
    }
    if (plain.size() > 0 && sizes[0] > 0) {
        EXPECT_NE(sealed[0][0].buf, plain[0].buf) << "ciphertext equals plaintext";
    }

    // Every backend opens what backend 0 sealed.
    for (size_t bi = 0; bi < impls.size(); ++bi) {
        SCOPED_TRACE(std::string(name(impls[bi])) + " opens");
        std::vector<owned_packet> work = sealed[0];
        std::vector<aead_packet> v;
        for (auto& p : work) {
            v.push_back(p.view());
        }
        std::vector<uint8_t> ok(v.size(), 0);
        ASSERT_EQ(context().open_burst(keys[bi], v, ok), v.size());
        for (size_t i = 0; i < work.size(); ++i) {
            ASSERT_EQ(work[i].buf, plain[i].buf) << "len=" << sizes[i];
        }
    }
}

TEST_P(aead_cross, mixed_burst_opens_exactly_the_good_packets) {
    const suite s = GetParam();
    if (!compiled_in(s)) {
        GTEST_SKIP() << name(s) << " not compiled in";
    }
    for (backend b : runnable(s)) {
        SCOPED_TRACE(std::string(name(b)));
        std::mt19937 rng(42);
        std::vector<uint8_t> key(key_len(s));
        fill(rng, key);
        const aead_key k = make_key(s, b, key);
        std::vector<uint8_t> other_key = key;
        other_key[0] ^= 1;
        const aead_key wrong = make_key(s, b, other_key);

        constexpr size_t n = 32;
        std::vector<owned_packet> pkts(n);
        std::vector<std::vector<uint8_t>> plain(n);
        std::uniform_int_distribution<uint32_t> len(0, 1600);
        for (size_t i = 0; i < n; ++i) {
            pkts[i].buf.resize(len(rng));
            fill(rng, pkts[i].buf);
            pkts[i].aad.resize(16);
            fill(rng, pkts[i].aad);
            fill(rng, pkts[i].nonce);
            plain[i] = pkts[i].buf;
        }
        std::vector<aead_packet> v;
        for (auto& p : pkts) {
            v.push_back(p.view());
        }
        // Packets i % 3 == 1 are sealed under the wrong key; i % 3 == 2 are tampered after sealing.
        std::vector<aead_packet> good_v, wrong_v;
        for (size_t i = 0; i < n; ++i) {
            (i % 3 == 1 ? wrong_v : good_v).push_back(v[i]);
        }
        context().seal_burst(k, good_v);
        context().seal_burst(wrong, wrong_v);
        for (size_t i = 2; i < n; i += 3) {
            switch ((i / 3) % 4) {
            case 0: pkts[i].tag[i % 16] ^= 1; break;
            case 1: pkts[i].aad[3] ^= 0x40; break;
            case 2:
                if (!pkts[i].buf.empty()) {
                    pkts[i].buf[pkts[i].buf.size() / 2] ^= 2;
                } else {
                    pkts[i].tag[0] ^= 2;
                }
                break;
            case 3: pkts[i].nonce[0] ^= 0x80; break;
            }
        }
        std::vector<uint8_t> ok(n, 0xff);
        const uint32_t n_ok = context().open_burst(k, v, ok);
        uint32_t expected_ok = 0;
        for (size_t i = 0; i < n; ++i) {
            const bool good = i % 3 == 0;
            expected_ok += good ? 1 : 0;
            EXPECT_EQ(ok[i], good ? 1 : 0) << "packet " << i;
            if (good) {
                EXPECT_EQ(pkts[i].buf, plain[i]) << "packet " << i;
            }
        }
        EXPECT_EQ(n_ok, expected_ok);
    }
}

// More packets in one burst than an IPsec-MB job queue holds (the ChaCha20 job path recycles
// queue slots and their tag scratch).
TEST_P(aead_cross, burst_longer_than_job_queue) {
    const suite s = GetParam();
    if (!compiled_in(s)) {
        GTEST_SKIP() << name(s) << " not compiled in";
    }
    for (backend b : runnable(s)) {
        SCOPED_TRACE(std::string(name(b)));
        std::mt19937 rng(7);
        std::vector<uint8_t> key(key_len(s));
        fill(rng, key);
        const aead_key k = make_key(s, b, key);
        const size_t n = IMB_MAX_JOBS + 77;
        std::vector<owned_packet> pkts(n);
        std::uniform_int_distribution<uint32_t> len(0, 400);
        for (auto& p : pkts) {
            p.buf.resize(len(rng));
            fill(rng, p.buf);
            fill(rng, p.nonce);
        }
        const std::vector<owned_packet> plain = pkts;
        std::vector<aead_packet> v;
        for (auto& p : pkts) {
            v.push_back(p.view());
        }
        context().seal_burst(k, v);
        pkts[n - 1].tag[5] ^= 1;
        pkts[3].tag[5] ^= 1;
        std::vector<uint8_t> ok(n, 0);
        EXPECT_EQ(context().open_burst(k, v, ok), n - 2);
        EXPECT_EQ(ok[3], 0);
        EXPECT_EQ(ok[n - 1], 0);
        for (size_t i = 0; i < n; ++i) {
            if (i != 3 && i != n - 1) {
                ASSERT_EQ(ok[i], 1) << i;
                ASSERT_EQ(pkts[i].buf, plain[i].buf) << i;
            }
        }
    }
}

// seal_multi / open_multi (a key per packet, as the data plane seals one packet to each of many
// peers): byte-identical to seal_burst per key, for every backend; keys of two backends mixed in
// one burst (each sealed by its own); a packet opened under another packet's key fails alone.
TEST_P(aead_cross, a_key_per_packet_equals_a_burst_per_key) {
    const suite s = GetParam();
    if (!compiled_in(s)) {
        GTEST_SKIP() << name(s) << " not compiled in";
    }
    const std::vector<backend> bs = runnable(s);
    for (backend b : bs) {
        SCOPED_TRACE(std::string(name(b)));
        const backend other = bs.front() == b ? bs.back() : bs.front();  // maybe b itself
        std::mt19937 rng(11);
        constexpr size_t n_keys = 5, n = 40;
        std::vector<aead_key> keys;
        for (size_t k = 0; k < n_keys; ++k) {
            std::vector<uint8_t> key(key_len(s));
            fill(rng, key);
            keys.push_back(make_key(s, k == 3 ? other : b, key));
        }
        std::vector<owned_packet> pkts(n);
        std::vector<const aead_key*> per(n);
        std::uniform_int_distribution<uint32_t> len(0, 1600);
        for (size_t i = 0; i < n; ++i) {
            pkts[i].buf.resize(len(rng));
            fill(rng, pkts[i].buf);
            pkts[i].aad.resize(16);
            fill(rng, pkts[i].aad);
            fill(rng, pkts[i].nonce);
            per[i] = &keys[i < 10 ? i % n_keys : (i / 4) % n_keys];  // single packets, then runs of 4
        }
        std::vector<owned_packet> ref = pkts;
        const std::vector<owned_packet> plain = pkts;
        std::vector<aead_packet> v, rv;
        for (size_t i = 0; i < n; ++i) {
            v.push_back(pkts[i].view());
            rv.push_back(ref[i].view());
        }
        context().seal_multi(v, per.data());
        for (size_t i = 0; i < n; ++i) {
            context().seal_burst(*per[i], std::span<aead_packet>(&rv[i], 1));
            ASSERT_EQ(pkts[i].buf, ref[i].buf) << i;
            ASSERT_EQ(pkts[i].tag, ref[i].tag) << i;
        }
        std::vector<const aead_key*> wrong = per;
        wrong[7] = &keys[(7 % n_keys + 1) % n_keys];
        std::vector<uint8_t> ok(n, 0xff);
        EXPECT_EQ(context().open_multi(v, wrong.data(), ok), n - 1);
        for (size_t i = 0; i < n; ++i) {
            EXPECT_EQ(ok[i], i == 7 ? 0 : 1) << i;
            if (i != 7) {
                EXPECT_EQ(pkts[i].buf, plain[i].buf) << i;
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(suites, aead_cross, ::testing::ValuesIn(real_suites),
                         [](const auto& info) {
                             std::string n(name(info.param));
                             std::replace(n.begin(), n.end(), '-', '_');
                             return n;
                         });

TEST(aead_null, passes_through_when_compiled_in) {
    if (!compiled_in(suite::null)) {
        GTEST_SKIP() << "null suite not compiled in (meson option suite_null)";
    }
    auto choice = select_aead("null", "auto", {.allow_null = true});
    ASSERT_TRUE(choice) << choice.error();
    const aead_key k = make_key(suite::null, choice->impl, {});
    EXPECT_FALSE(k.authenticated());
    owned_packet p;
    p.buf = {1, 2, 3};
    p.tag.fill(0xaa);
    aead_packet v = p.view();
    context().seal_burst(k, {&v, 1});
    EXPECT_EQ(p.buf, (std::vector<uint8_t>{1, 2, 3}));
    EXPECT_EQ(p.tag, (std::array<uint8_t, 16>{}));
    uint8_t ok = 0;
    EXPECT_EQ(context().open_burst(k, {&v, 1}, {&ok, 1}), 1U);
    EXPECT_EQ(ok, 1);
}

// The VAES-AVX512 kernel's gcm_key_data keeps 48 hash-key powers; aead_key::prefetch() for it
// fetches the round keys and the lines holding HashKey^8..^1, which crypto/aead/detail.hh places in
// its slots 40..47 (found by comparing precomputations). Checked here against the AVX2 (gen4)
// layout, whose first 8 slots are those powers, on a CPU where the AVX-512 manager runs.
TEST(aead_layout, vaes_keeps_the_low_hash_powers_where_prefetch_fetches_them) {
    if (!detail::imb_arch_available(detail::imb_arch::avx512)) {
        GTEST_SKIP() << "no usable IPsec-MB AVX-512 (VAES) manager on this CPU";
    }
    ASSERT_TRUE(detail::imb_arch_available(detail::imb_arch::avx2));
    const IMB_MGR& v = detail::imb_reference(detail::imb_arch::avx512);
    const IMB_MGR& r = detail::imb_reference(detail::imb_arch::avx2);
    for (const bool k256 : {false, true}) {
        alignas(64) static gcm_key_data kv, kr;
        std::vector<uint8_t> key(k256 ? 32 : 16);
        for (size_t i = 0; i < key.size(); ++i) {
            key[i] = static_cast<uint8_t>(0x11 * i + 5);
        }
        (k256 ? v.gcm256_pre : v.gcm128_pre)(key.data(), &kv);
        (k256 ? r.gcm256_pre : r.gcm128_pre)(key.data(), &kr);
        EXPECT_EQ(0, std::memcmp(kv.expanded_keys, kr.expanded_keys, sizeof kv.expanded_keys));
        EXPECT_EQ(0, std::memcmp(kv.ghash_keys.vaes_avx512.shifted_hkey + 16 * 40,
                                 kr.ghash_keys.avx2_avx512.shifted_hkey, 16 * 8))
            << (k256 ? "aes256" : "aes128") << ": HashKey^1..^8 moved in the VAES layout";
    }
}

TEST(aead_probe, avx512_status_says_what_the_probe_found) {
    const std::string s = avx512_status();
    EXPECT_EQ(s.rfind("AVX-512 (IPsec-MB): ", 0), 0U) << s;
    if (detail::imb_arch_available(detail::imb_arch::avx512)) {
        EXPECT_NE(s.find("usable (trial passed)"), std::string::npos) << s;
    } else {
        EXPECT_NE(s.find("not used: "), std::string::npos) << s;
    }
}

TEST(aead_layout, auto_prefers_avx512_where_it_runs) {
    const bool vaes = detail::imb_arch_available(detail::imb_arch::avx512);
    for (const char* s : {"aes128-gcm", "aes256-gcm"}) {
        auto r = select_aead(s, "auto");
        ASSERT_TRUE(r) << r.error();
        EXPECT_EQ(r->impl, vaes ? backend::ipsec_mb_avx512 : backend::ipsec_mb) << s;
    }
    auto c = select_aead("chacha20-poly1305", "auto");
    ASSERT_TRUE(c) << c.error();
    EXPECT_EQ(c->impl, vaes ? backend::ipsec_mb_avx512 : backend::ipsec_mb);
}

// The AVX-512 probe's trial runs in a child: on one host the AVX-512 manager crashed and the VAES
// kernel raised SIGILL. Whatever the trial does there -- an illegal instruction, a wild write, a
// false -- the answer is "no" and this process goes on.
TEST(aead_probe, a_crash_in_the_trial_is_the_childs) {
    EXPECT_TRUE(detail::passes_in_child(+[]() noexcept { return true; }));
    EXPECT_FALSE(detail::passes_in_child(+[]() noexcept { return false; }));
    EXPECT_FALSE(detail::passes_in_child(+[]() noexcept -> bool { __builtin_trap(); }));  // ud2: SIGILL
    EXPECT_FALSE(detail::passes_in_child(+[]() noexcept {
        volatile int* p = nullptr;
        *p = 1;  // SIGSEGV
        return true;
    }));
    EXPECT_FALSE(detail::passes_in_child(+[]() noexcept { abort(); return true; }));
    // A hang ends at the alarm, also when this process ignores SIGALRM (dvped does).
    struct sigaction ign {}, old {};
    ign.sa_handler = SIG_IGN;
    sigaction(SIGALRM, &ign, &old);
    EXPECT_FALSE(detail::passes_in_child(+[]() noexcept {
        for (;;) {
            pause();
        }
        return true;
    }, 1));
    sigaction(SIGALRM, &old, nullptr);
    EXPECT_TRUE(detail::passes_in_child(+[]() noexcept { return true; }));  // and again, after them
}

}  // namespace
}  // namespace crypto::test
