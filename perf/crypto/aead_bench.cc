// SPDX-License-Identifier: MIT
// AEAD throughput of every runnable backend, seal and open, in bursts of 32 packets of 64, 128,
// 256, 512, 1024, 1420 and 8192 bytes, each measured twice on the same buffers: through
// crypto::aead_context ("wrapper") and as a plain loop over the library calls the backend makes
// ("raw"), so the wrapper's cost is the ratio of the two (perf/crypto/aead_ratio.py prints it).
//
// Packets look like the data plane's: a 16-byte clear header used as AAD, the payload right after
// it, the tag right after the payload, each packet in its own 64-byte aligned buffer, 12-byte
// nonces. Hot cache (32 x 8 KiB at most). Open must succeed every time, so the benchmark alternates
// between two states of each buffer (X and X ^ keystream) whose tags were both precomputed: an open
// of one state yields the other. Counters: Mpps and Gbit/s of payload.
//
// Run: taskset -c 1 build/perf/crypto/aead_bench [--benchmark_filter=...]
//      (AEAD_BENCH_SIZES=192,320 in the environment replaces the list of sizes.)
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <intel-ipsec-mb.h>
#include <sodium.h>

#include "crypto/aead.hh"
#include "crypto/aead/detail.hh"

namespace {

using crypto::aead_packet;
using crypto::backend;
using crypto::suite;

constexpr size_t burst = 32;
constexpr uint32_t aad_len = 16;
constexpr uint32_t default_sizes[] = {64, 128, 256, 512, 1024, 1420, 8192};

// AEAD_BENCH_SIZES=192,320,384 replaces the size list (used to tune the kernel-switch thresholds).
std::vector<uint32_t> sizes_to_run() {
    std::vector<uint32_t> out;
    if (const char* env = std::getenv("AEAD_BENCH_SIZES"); env != nullptr && *env != '\0') {
        for (const char* p = env; *p != '\0';) {
            char* end = nullptr;
            const unsigned long v = std::strtoul(p, &end, 10);
            if (end == p) {
                break;
            }
            out.push_back(static_cast<uint32_t>(v));
            p = *end == ',' ? end + 1 : end;
        }
    }
    if (out.empty()) {
        out.assign(std::begin(default_sizes), std::end(default_sizes));
    }
    return out;
}

struct free_deleter {
    void operator()(void* p) const noexcept { std::free(p); }
};

// 32 packets of one size; tag A after the payload, tag B in a side array (see the header).
struct bench_burst {
    std::vector<std::unique_ptr<uint8_t, free_deleter>> bufs;
    std::vector<std::array<uint8_t, 12>> nonces;
    std::vector<std::array<uint8_t, 16>> side_tags;
    std::vector<aead_packet> a;  // tag after the payload
    std::vector<aead_packet> b;  // tag in side_tags

    explicit bench_burst(uint32_t len) : nonces(burst), side_tags(burst) {
        std::mt19937 rng(len);
        const size_t cap = (aad_len + len + crypto::aead_tag_len + 63) / 64 * 64;
        for (size_t i = 0; i < burst; ++i) {
            auto* p = static_cast<uint8_t*>(std::aligned_alloc(64, cap));
            for (size_t j = 0; j < cap; ++j) {
                p[j] = static_cast<uint8_t>(rng());
            }
            for (auto& x : nonces[i]) {
                x = static_cast<uint8_t>(rng());
            }
            bufs.emplace_back(p);
            a.push_back({p + aad_len, len, aad_len, p, nonces[i].data(), p + aad_len + len});
            b.push_back({p + aad_len, len, aad_len, p, nonces[i].data(), side_tags[i].data()});
        }
    }
};

void set_counters(benchmark::State& st, uint32_t len, size_t pkts_per_iter) {
    const double n = static_cast<double>(st.iterations()) * static_cast<double>(pkts_per_iter);
    st.counters["Mpps"] = benchmark::Counter(n * 1e-6, benchmark::Counter::kIsRate);
    st.counters["Gbit/s"] = benchmark::Counter(n * len * 8e-9, benchmark::Counter::kIsRate);
}

crypto::aead_context& context() {
    static crypto::aead_context ctx = [] {
        auto r = crypto::aead_context::create();
        if (!r) {
            std::fprintf(stderr, "%s\n", r.error().c_str());
            std::exit(1);
        }
        return std::move(r).value();
    }();
    return ctx;
}

crypto::aead_key make_key(suite s, backend b, const std::vector<uint8_t>& raw) {
    auto r = crypto::aead_key::create({s, b}, raw);
    if (!r) {
        std::fprintf(stderr, "%s\n", r.error().c_str());
        std::exit(1);
    }
    return std::move(r).value();
}

// Prepares the two states: after this, a's buffers hold X with a's tags = MAC(X), and b's tags =
// MAC(X ^ keystream). Opening a turns X into X ^ keystream, then opening b turns it back.
void prepare_open(crypto::aead_context& ctx, const crypto::aead_key& k, bench_burst& bb) {
    ctx.seal_burst(k, bb.b);  // data Y -> Y^ks =: Z, b tags = MAC(Z)
    ctx.seal_burst(k, bb.a);  // data Z -> Y, a tags = MAC(Y)
    // state: data = Y with tag a valid; open a -> Z (tag b valid); open b -> Y.
}

void check_open(uint32_t n_ok, size_t expected, benchmark::State& st) {
    if (n_ok != expected) [[unlikely]] {
        st.SkipWithError("open failed: benchmark buffers out of sync");
    }
}

// ---- wrapper ---------------------------------------------------------------------------------

void bm_wrapper_seal(benchmark::State& st, suite s, backend b, uint32_t len) {
    std::vector<uint8_t> raw(crypto::key_len(s), 0x42);
    const crypto::aead_key k = make_key(s, b, raw);
    bench_burst bb(len);
    auto& ctx = context();
    for (auto _ : st) {
        ctx.seal_burst(k, bb.a);
        benchmark::ClobberMemory();
    }
    set_counters(st, len, burst);
}

void bm_wrapper_open(benchmark::State& st, suite s, backend b, uint32_t len) {
    std::vector<uint8_t> raw(crypto::key_len(s), 0x42);
    const crypto::aead_key k = make_key(s, b, raw);
    bench_burst bb(len);
    auto& ctx = context();
    prepare_open(ctx, k, bb);
    uint8_t ok[burst];
    for (auto _ : st) {
        uint32_t n = ctx.open_burst(k, bb.a, ok);
        n += ctx.open_burst(k, bb.b, ok);
        benchmark::DoNotOptimize(n);
        check_open(n, 2 * burst, st);
    }
    set_counters(st, len, 2 * burst);
}

// ---- raw library loops -------------------------------------------------------------------------

struct mgr_holder {
    IMB_MGR* m[crypto::detail::n_imb_arch] = {};
    mgr_holder() {
        for (size_t i = 0; i < crypto::detail::n_imb_arch; ++i) {
            if (crypto::detail::imb_arch_available(static_cast<crypto::detail::imb_arch>(i))) {
                m[i] = crypto::detail::imb_alloc(static_cast<crypto::detail::imb_arch>(i));
            }
        }
    }
    ~mgr_holder() {
        for (IMB_MGR* x : m) {
            if (x != nullptr) {
                free_mb_mgr(x);
            }
        }
    }
};
mgr_holder& raw_mgrs() {
    static mgr_holder h;
    return h;
}

using crypto::detail::imb_arch;

// Which manager the backend uses for this packet size (the wrapper decides the same per packet).
imb_arch gcm_arch(backend b, uint32_t len) {
    switch (b) {
    case backend::ipsec_mb: return crypto::detail::gcm_use_gen2(len) ? imb_arch::avx : imb_arch::avx2;
    case backend::ipsec_mb_avx2: return imb_arch::avx2;
    case backend::ipsec_mb_avx: return imb_arch::avx;
    default: return imb_arch::sse;
    }
}
imb_arch chacha_arch(backend b, uint32_t len) {
    switch (b) {
    case backend::ipsec_mb: return len >= crypto::detail::chacha_large_threshold ? imb_arch::avx2 : imb_arch::sse;
    case backend::ipsec_mb_avx2: return imb_arch::avx2;
    case backend::ipsec_mb_avx: return imb_arch::avx;
    default: return imb_arch::sse;
    }
}

// IPsec-MB GCM: IMB_AES{128,256}_GCM_ENC/DEC on one manager; open compares with crypto_verify_16.
template <bool Seal, bool Aes256>
void raw_imb_gcm(benchmark::State& st, backend b, uint32_t len) {
    IMB_MGR* m = raw_mgrs().m[static_cast<size_t>(gcm_arch(b, len))];
    std::vector<uint8_t> raw(Aes256 ? 32 : 16, 0x42);
    auto kd = std::make_unique<gcm_key_data>();
    if constexpr (Aes256) {
        IMB_AES256_GCM_PRE(m, raw.data(), kd.get());
    } else {
        IMB_AES128_GCM_PRE(m, raw.data(), kd.get());
    }
    bench_burst bb(len);
    gcm_context_data gctx;
    auto seal = [&](std::vector<aead_packet>& v) {
        for (const aead_packet& p : v) {
            if constexpr (Aes256) {
                IMB_AES256_GCM_ENC(m, kd.get(), &gctx, p.data, p.data, p.len, p.nonce, p.aad, p.aad_len, p.tag, 16);
            } else {
                IMB_AES128_GCM_ENC(m, kd.get(), &gctx, p.data, p.data, p.len, p.nonce, p.aad, p.aad_len, p.tag, 16);
            }
        }
    };
    if constexpr (Seal) {
        for (auto _ : st) {
            seal(bb.a);
            benchmark::ClobberMemory();
        }
        set_counters(st, len, burst);
    } else {
        seal(bb.b);
        seal(bb.a);
        alignas(16) uint8_t tag[16];
        auto open = [&](std::vector<aead_packet>& v) {
            uint32_t n = 0;
            for (const aead_packet& p : v) {
                if constexpr (Aes256) {
                    IMB_AES256_GCM_DEC(m, kd.get(), &gctx, p.data, p.data, p.len, p.nonce, p.aad, p.aad_len, tag, 16);
                } else {
                    IMB_AES128_GCM_DEC(m, kd.get(), &gctx, p.data, p.data, p.len, p.nonce, p.aad, p.aad_len, tag, 16);
                }
                n += crypto_verify_16(tag, p.tag) == 0;
            }
            return n;
        };
        for (auto _ : st) {
            uint32_t n = open(bb.a);
            n += open(bb.b);
            benchmark::DoNotOptimize(n);
            check_open(n, 2 * burst, st);
        }
        set_counters(st, len, 2 * burst);
    }
}

// IPsec-MB ChaCha20-Poly1305: one job per packet (get next, fill, submit), flush at the end.
template <bool Seal>
void raw_imb_chacha(benchmark::State& st, backend b, uint32_t len) {
    IMB_MGR* m = raw_mgrs().m[static_cast<size_t>(chacha_arch(b, len))];
    alignas(16) uint8_t key[32];
    std::memset(key, 0x42, sizeof key);
    bench_burst bb(len);
    alignas(16) uint8_t tags[IMB_MAX_JOBS][16];
    auto run = [&](std::vector<aead_packet>& v, bool enc) {
        uint32_t n = 0;
        for (const aead_packet& p : v) {
            IMB_JOB* j = IMB_GET_NEXT_JOB(m);
            j->cipher_mode = IMB_CIPHER_CHACHA20_POLY1305;
            j->hash_alg = IMB_AUTH_CHACHA20_POLY1305;
            j->cipher_direction = enc ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
            j->chain_order = enc ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
            j->enc_keys = key;
            j->dec_keys = key;
            j->key_len_in_bytes = 32;
            j->src = p.data;
            j->dst = p.data;
            j->cipher_start_src_offset_in_bytes = 0;
            j->msg_len_to_cipher_in_bytes = p.len;
            j->hash_start_src_offset_in_bytes = 0;
            j->msg_len_to_hash_in_bytes = p.len;
            j->iv = p.nonce;
            j->iv_len_in_bytes = 12;
            j->u.CHACHA20_POLY1305.aad = p.aad;
            j->u.CHACHA20_POLY1305.aad_len_in_bytes = p.aad_len;
            j->auth_tag_output = enc ? p.tag : tags[j - m->jobs];
            j->auth_tag_output_len_in_bytes = 16;
            j->user_data = const_cast<uint8_t*>(p.tag);
            for (j = IMB_SUBMIT_JOB(m); j != nullptr; j = IMB_GET_COMPLETED_JOB(m)) {
                if (!enc) {
                    n += crypto_verify_16(j->auth_tag_output, static_cast<uint8_t*>(j->user_data)) == 0;
                }
            }
        }
        for (IMB_JOB* j = IMB_FLUSH_JOB(m); j != nullptr; j = IMB_FLUSH_JOB(m)) {
            if (!enc) {
                n += crypto_verify_16(j->auth_tag_output, static_cast<uint8_t*>(j->user_data)) == 0;
            }
        }
        return n;
    };
    if constexpr (Seal) {
        for (auto _ : st) {
            run(bb.a, true);
            benchmark::ClobberMemory();
        }
        set_counters(st, len, burst);
    } else {
        run(bb.b, true);
        run(bb.a, true);
        for (auto _ : st) {
            uint32_t n = run(bb.a, false);
            n += run(bb.b, false);
            benchmark::DoNotOptimize(n);
            check_open(n, 2 * burst, st);
        }
        set_counters(st, len, 2 * burst);
    }
}

// libsodium: *_encrypt_detached / *_decrypt_detached (AES-256-GCM: the _afternm forms).
template <bool Seal, bool Aes>
void raw_sodium(benchmark::State& st, backend /*b*/, uint32_t len) {
    alignas(16) uint8_t key[32];
    std::memset(key, 0x42, sizeof key);
    auto aes = std::make_unique<crypto_aead_aes256gcm_state>();
    if constexpr (Aes) {
        crypto_aead_aes256gcm_beforenm(aes.get(), key);
    }
    bench_burst bb(len);
    auto seal = [&](std::vector<aead_packet>& v) {
        for (const aead_packet& p : v) {
            if constexpr (Aes) {
                crypto_aead_aes256gcm_encrypt_detached_afternm(p.data, p.tag, nullptr, p.data, p.len, p.aad, p.aad_len,
                                                               nullptr, p.nonce, aes.get());
            } else {
                crypto_aead_chacha20poly1305_ietf_encrypt_detached(p.data, p.tag, nullptr, p.data, p.len, p.aad,
                                                                   p.aad_len, nullptr, p.nonce, key);
            }
        }
    };
    if constexpr (Seal) {
        for (auto _ : st) {
            seal(bb.a);
            benchmark::ClobberMemory();
        }
        set_counters(st, len, burst);
    } else {
        seal(bb.b);
        seal(bb.a);
        auto open = [&](std::vector<aead_packet>& v) {
            uint32_t n = 0;
            for (const aead_packet& p : v) {
                if constexpr (Aes) {
                    n += crypto_aead_aes256gcm_decrypt_detached_afternm(p.data, nullptr, p.data, p.len, p.tag, p.aad,
                                                                        p.aad_len, p.nonce, aes.get()) == 0;
                } else {
                    n += crypto_aead_chacha20poly1305_ietf_decrypt_detached(p.data, nullptr, p.data, p.len, p.tag,
                                                                            p.aad, p.aad_len, p.nonce, key) == 0;
                }
            }
            return n;
        };
        for (auto _ : st) {
            uint32_t n = open(bb.a);
            n += open(bb.b);
            benchmark::DoNotOptimize(n);
            check_open(n, 2 * burst, st);
        }
        set_counters(st, len, 2 * burst);
    }
}

using raw_fn = void (*)(benchmark::State&, backend, uint32_t);

raw_fn raw_for(suite s, backend b, bool seal) {
    const bool imb = b == backend::ipsec_mb || b == backend::ipsec_mb_avx2 || b == backend::ipsec_mb_avx ||
                     b == backend::ipsec_mb_sse;
    switch (s) {
    case suite::aes128_gcm:
        return imb ? (seal ? &raw_imb_gcm<true, false> : &raw_imb_gcm<false, false>) : nullptr;
    case suite::aes256_gcm:
        if (imb) {
            return seal ? &raw_imb_gcm<true, true> : &raw_imb_gcm<false, true>;
        }
        return seal ? &raw_sodium<true, true> : &raw_sodium<false, true>;
    case suite::chacha20_poly1305:
        if (imb) {
            return seal ? &raw_imb_chacha<true> : &raw_imb_chacha<false>;
        }
        return seal ? &raw_sodium<true, false> : &raw_sodium<false, false>;
    case suite::null: return nullptr;
    }
    return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
    if (sodium_init() < 0) {
        return 1;
    }
    // Names: <op>/<suite>/<backend>/<wrapper|raw>/<bytes>; aead_ratio.py parses them.
    for (const crypto::backend_status& bs : crypto::list_backends()) {
        if (!bs.available) {
            continue;
        }
        const std::string base = std::string(crypto::name(bs.cipher)) + "/" + std::string(crypto::name(bs.impl));
        for (uint32_t len : sizes_to_run()) {
            for (bool seal : {true, false}) {
                const std::string op = seal ? "seal/" : "open/";
                const std::string sz = "/" + std::to_string(len);
                benchmark::RegisterBenchmark((op + base + "/wrapper" + sz).c_str(),
                                             [s = bs.cipher, b = bs.impl, len, seal](benchmark::State& st) {
                                                 seal ? bm_wrapper_seal(st, s, b, len) : bm_wrapper_open(st, s, b, len);
                                             });
                if (raw_fn f = raw_for(bs.cipher, bs.impl, seal); f != nullptr) {
                    benchmark::RegisterBenchmark((op + base + "/raw" + sz).c_str(),
                                                 [f, b = bs.impl, len](benchmark::State& st) { f(st, b, len); });
                }
            }
        }
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
