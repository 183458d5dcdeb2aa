// SPDX-License-Identifier: MIT
// AEAD throughput of every runnable backend, seal and open, in bursts of 32 packets of 64, 128,
// 256, 512, 1024, 1420 and 8192 bytes, measured three ways on the same kind of buffers:
//   <op>/<suite>/<backend>/wrapper/<bytes>  through crypto::aead_context (Mpps, Gbit/s counters);
//   <op>/<suite>/<backend>/raw/<bytes>      a plain loop over the library calls the backend makes;
//   <op>/<suite>/<backend>/pair/<bytes>     both alternating on the same buffers every ~256 KiB,
//                                           each segment timed in thread CPU time: counters
//                                           wrapper_Mpps, raw_Mpps and ratio (wrapper / raw).
// The pair is what shows the wrapper's cost on a noisy shared VM: host slow phases last
// milliseconds to seconds and hit both sides of a pair alike. perf/crypto/aead_ratio.py prints
// the table with medians over repetitions.
//
// Packets look like the data plane's: a 16-byte clear header used as AAD, the payload right after
// it, the tag right after the payload, each packet in its own 64-byte aligned buffer, 12-byte
// nonces. Hot cache (32 x 8 KiB at most). Open must succeed every time, so the benchmark alternates
// between two states of each buffer (Y and Y ^ keystream) whose tags were both precomputed: an open
// of one state yields the other. Gbit/s counts payload bits.
//
// Run: taskset -c 1 build/perf/crypto/aead_bench [--benchmark_filter=...]
//      (AEAD_BENCH_SIZES=192,320 in the environment replaces the list of sizes.)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <ctime>

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



// ---- runners: one burst through the wrapper or through the raw library calls ------------------

// A runner seals or opens one burst in place. The benchmarks call it once per burst through a
// virtual call, the same single indirect call per burst the wrapper itself makes.
struct runner {
    virtual ~runner() = default;
    virtual void seal(std::vector<aead_packet>& v) = 0;
    virtual uint32_t open(std::vector<aead_packet>& v) = 0;  // returns the number authenticated
};

struct wrapper_runner final : runner {
    crypto::aead_context& ctx;
    crypto::aead_key key;
    uint8_t ok[burst * 16];
    wrapper_runner(suite s, backend b, const std::vector<uint8_t>& raw) : ctx(context()), key(make_key(s, b, raw)) {}
    void seal(std::vector<aead_packet>& v) override { ctx.seal_burst(key, v); }
    uint32_t open(std::vector<aead_packet>& v) override { return ctx.open_burst(key, v, {ok, v.size()}); }
};

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

// Which manager the backend uses for this packet size (the wrapper decides the same per packet;
// every packet of a benchmark burst has the same size, so the raw loop decides once).
imb_arch gcm_arch(backend b, uint32_t len) {
    switch (b) {
    case backend::ipsec_mb: return crypto::detail::gcm_use_gen2(len) ? imb_arch::avx : imb_arch::avx2;
    case backend::ipsec_mb_avx512: return imb_arch::avx512;
    case backend::ipsec_mb_avx2: return imb_arch::avx2;
    case backend::ipsec_mb_avx: return imb_arch::avx;
    default: return imb_arch::sse;
    }
}
imb_arch chacha_arch(backend b, uint32_t len) {
    switch (b) {
    case backend::ipsec_mb: return len >= crypto::detail::chacha_large_threshold ? imb_arch::avx2 : imb_arch::sse;
    case backend::ipsec_mb_avx512: return imb_arch::avx512;
    case backend::ipsec_mb_avx2: return imb_arch::avx2;
    case backend::ipsec_mb_avx: return imb_arch::avx;
    default: return imb_arch::sse;
    }
}

// IPsec-MB GCM: IMB_AES{128,256}_GCM_ENC/DEC on one manager; open compares with crypto_verify_16.
template <bool Aes256>
struct raw_imb_gcm final : runner {
    IMB_MGR* m;
    std::unique_ptr<gcm_key_data> kd = std::make_unique<gcm_key_data>();
    gcm_context_data gctx{};
    raw_imb_gcm(backend b, uint32_t len, const std::vector<uint8_t>& raw) : m(raw_mgrs().m[static_cast<size_t>(gcm_arch(b, len))]) {
        if constexpr (Aes256) {
            IMB_AES256_GCM_PRE(m, raw.data(), kd.get());
        } else {
            IMB_AES128_GCM_PRE(m, raw.data(), kd.get());
        }
    }
    void seal(std::vector<aead_packet>& v) override {
        for (const aead_packet& p : v) {
            if constexpr (Aes256) {
                IMB_AES256_GCM_ENC(m, kd.get(), &gctx, p.data, p.data, p.len, p.nonce, p.aad, p.aad_len, p.tag, 16);
            } else {
                IMB_AES128_GCM_ENC(m, kd.get(), &gctx, p.data, p.data, p.len, p.nonce, p.aad, p.aad_len, p.tag, 16);
            }
        }
    }
    uint32_t open(std::vector<aead_packet>& v) override {
        alignas(16) uint8_t tag[16];
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
    }
};

// IPsec-MB ChaCha20-Poly1305: one job per packet (get next, fill, submit), flush at the end.
struct raw_imb_chacha final : runner {
    IMB_MGR* m;
    alignas(16) uint8_t key[32];
    alignas(16) uint8_t tags[IMB_MAX_JOBS][16];
    raw_imb_chacha(backend b, uint32_t len, const std::vector<uint8_t>& raw) : m(raw_mgrs().m[static_cast<size_t>(chacha_arch(b, len))]) {
        std::memcpy(key, raw.data(), sizeof key);
    }
    uint32_t run(std::vector<aead_packet>& v, bool enc) {
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
            j->user_data = p.tag;
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
    }
    void seal(std::vector<aead_packet>& v) override { run(v, true); }
    uint32_t open(std::vector<aead_packet>& v) override { return run(v, false); }
};

// libsodium: *_encrypt_detached / *_decrypt_detached (AES-256-GCM: the _afternm forms).
template <bool Aes>
struct raw_sodium final : runner {
    alignas(16) uint8_t key[32];
    std::unique_ptr<crypto_aead_aes256gcm_state> aes = std::make_unique<crypto_aead_aes256gcm_state>();
    explicit raw_sodium(const std::vector<uint8_t>& raw) {
        std::memcpy(key, raw.data(), sizeof key);
        if constexpr (Aes) {
            crypto_aead_aes256gcm_beforenm(aes.get(), key);
        }
    }
    void seal(std::vector<aead_packet>& v) override {
        for (const aead_packet& p : v) {
            if constexpr (Aes) {
                crypto_aead_aes256gcm_encrypt_detached_afternm(p.data, p.tag, nullptr, p.data, p.len, p.aad, p.aad_len,
                                                               nullptr, p.nonce, aes.get());
            } else {
                crypto_aead_chacha20poly1305_ietf_encrypt_detached(p.data, p.tag, nullptr, p.data, p.len, p.aad,
                                                                   p.aad_len, nullptr, p.nonce, key);
            }
        }
    }
    uint32_t open(std::vector<aead_packet>& v) override {
        uint32_t n = 0;
        for (const aead_packet& p : v) {
            if constexpr (Aes) {
                n += crypto_aead_aes256gcm_decrypt_detached_afternm(p.data, nullptr, p.data, p.len, p.tag, p.aad,
                                                                    p.aad_len, p.nonce, aes.get()) == 0;
            } else {
                n += crypto_aead_chacha20poly1305_ietf_decrypt_detached(p.data, nullptr, p.data, p.len, p.tag, p.aad,
                                                                        p.aad_len, p.nonce, key) == 0;
            }
        }
        return n;
    }
};

std::vector<uint8_t> bench_key(suite s) { return std::vector<uint8_t>(crypto::key_len(s), 0x42); }

std::unique_ptr<runner> make_raw(suite s, backend b, uint32_t len) {
    const bool imb = b == backend::ipsec_mb || b == backend::ipsec_mb_avx512 || b == backend::ipsec_mb_avx2 || b == backend::ipsec_mb_avx ||
                     b == backend::ipsec_mb_sse;
    const std::vector<uint8_t> k = bench_key(s);
    switch (s) {
    case suite::aes128_gcm:
        return imb ? std::make_unique<raw_imb_gcm<false>>(b, len, k) : nullptr;
    case suite::aes256_gcm:
        if (imb) {
            return std::make_unique<raw_imb_gcm<true>>(b, len, k);
        }
        return std::make_unique<raw_sodium<true>>(k);
    case suite::chacha20_poly1305:
        if (imb) {
            return std::make_unique<raw_imb_chacha>(b, len, k);
        }
        return std::make_unique<raw_sodium<false>>(k);
    case suite::null: return nullptr;
    }
    return nullptr;
}

std::unique_ptr<runner> make_wrapper(suite s, backend b) {
    return std::make_unique<wrapper_runner>(s, b, bench_key(s));
}

// Prepares the two states for open: afterwards a's buffers hold Y with a's tags = MAC(Y) and b's
// tags = MAC(Y ^ keystream). Opening a turns Y into Y ^ keystream; opening b turns it back.
void prepare_open(runner& r, bench_burst& bb) {
    r.seal(bb.b);  // data Y -> Y^ks =: Z, b tags = MAC(Z)
    r.seal(bb.a);  // data Z -> Y, a tags = MAC(Y)
}

// One unit of work: seal = one burst; open = open a then open b (2 bursts, state restored).
inline size_t unit(runner& r, bench_burst& bb, bool seal, benchmark::State& st) {
    if (seal) {
        r.seal(bb.a);
        benchmark::ClobberMemory();
        return burst;
    }
    uint32_t n = r.open(bb.a);
    n += r.open(bb.b);
    benchmark::DoNotOptimize(n);
    if (n != 2 * burst) [[unlikely]] {
        st.SkipWithError("open failed: benchmark buffers out of sync");
    }
    return 2 * burst;
}

// Standalone: one runner, Google Benchmark's own timing.
void bm_single(benchmark::State& st, runner& r, uint32_t len, bool seal) {
    bench_burst bb(len);
    if (!seal) {
        prepare_open(r, bb);
    }
    size_t pkts = 0;
    for (auto _ : st) {
        pkts = unit(r, bb, seal, st);
    }
    set_counters(st, len, pkts);
}

// Thread CPU time in ns. Unlike the TSC (wall time) it excludes the time the host takes the vCPU
// away (steal), which on this VM is large and random; Google Benchmark's rate counters use the
// same clock.
inline uint64_t thread_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

// Paired: wrapper and raw alternate on the same buffers, each segment (~256 KiB of payload, so the
// clock read costs well under 1 %) timed in thread CPU time, so slow phases of the host (they last
// milliseconds to seconds here) hit both sides of a pair alike; the `ratio` counter is wrapper
// throughput / raw throughput from the same run. The order within a pair alternates to cancel any
// effect of going first.
void bm_pair(benchmark::State& st, runner& w, runner& r, uint32_t len, bool seal) {
    const int units_per_segment = std::max(1, static_cast<int>(262144 / (burst * len)));
    bench_burst bb(len);
    if (!seal) {
        prepare_open(w, bb);
    }
    uint64_t ns_w = 0, ns_r = 0;
    size_t pkts = 0;
    bool wrapper_first = true;
    auto segment = [&](runner& x) {
        const uint64_t t0 = thread_ns();
        for (int i = 0; i < units_per_segment; ++i) {
            unit(x, bb, seal, st);
        }
        return thread_ns() - t0;
    };
    for (auto _ : st) {
        if (wrapper_first) {
            ns_w += segment(w);
            ns_r += segment(r);
        } else {
            ns_r += segment(r);
            ns_w += segment(w);
        }
        wrapper_first = !wrapper_first;
        pkts += (seal ? burst : 2 * burst) * static_cast<size_t>(units_per_segment);
    }
    const double pk = static_cast<double>(pkts);
    st.counters["wrapper_Mpps"] = pk / static_cast<double>(ns_w) * 1e3;
    st.counters["raw_Mpps"] = pk / static_cast<double>(ns_r) * 1e3;
    st.counters["ratio"] = static_cast<double>(ns_r) / static_cast<double>(ns_w);
}

}  // namespace

int main(int argc, char** argv) {
    if (sodium_init() < 0) {
        return 1;
    }
    // Names: <op>/<suite>/<backend>/<wrapper|raw|pair>/<bytes>; aead_ratio.py parses them.
    // Runners live until exit (keys, managers and buffers are set up once, not per repetition).
    static std::vector<std::unique_ptr<runner>> runners;
    for (const crypto::backend_status& bs : crypto::list_backends()) {
        if (!bs.available) {
            continue;
        }
        const std::string base = std::string(crypto::name(bs.cipher)) + "/" + std::string(crypto::name(bs.impl));
        for (uint32_t len : sizes_to_run()) {
            runner* w = runners.emplace_back(make_wrapper(bs.cipher, bs.impl)).get();
            runner* r = runners.emplace_back(make_raw(bs.cipher, bs.impl, len)).get();
            for (bool seal : {true, false}) {
                const std::string op = seal ? "seal/" : "open/";
                const std::string sz = "/" + std::to_string(len);
                benchmark::RegisterBenchmark((op + base + "/wrapper" + sz).c_str(),
                                             [w, len, seal](benchmark::State& st) { bm_single(st, *w, len, seal); });
                if (r != nullptr) {
                    benchmark::RegisterBenchmark((op + base + "/raw" + sz).c_str(),
                                                 [r, len, seal](benchmark::State& st) { bm_single(st, *r, len, seal); });
                    benchmark::RegisterBenchmark((op + base + "/pair" + sz).c_str(),
                                                 [w, r, len, seal](benchmark::State& st) { bm_pair(st, *w, *r, len, seal); });
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
