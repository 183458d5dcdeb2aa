// SPDX-License-Identifier: MIT
// Handshake capacity on one core (issue 14 point 3): full Noise IK handshakes through the real
// protocol core of control/session/ (handshake.hh, cookie.hh, handshake_noise.hh), and the pieces
// a handshake is made of, so a reader sees where the time goes.
//
//   full/cookie:off        initiator create_initiation -> responder consume (response) ->
//                          initiator consume (completed): both nodes on this one core.
//   full/cookie:round      the responder is under load and the initiator holds no cookie: the
//                          initiation gets a cookie reply, the initiator stores the cookie and
//                          sends a second initiation with mac2, then as above (WireGuard's
//                          worst case for a legitimate peer).
//   full/cookie:held       under load, the initiator already holds a fresh cookie: mac2 checked.
//   responder/...          one node's share: consume an initiation and answer it, N initiators
//                          (what one responder's control thread does per handshake). The
//                          initiations are made in batches outside the timed region.
//   initiator_create       create_initiation alone.
//   flood/...              what one spoofed initiation costs the responder: a bad mac1, a valid
//                          mac1 under load (cookie reply), a rate-limited source.
//   piece/...              X25519 (variable and fixed base; the ephemeral public key through
//                          Ed25519's tables, control/session/ephemeral.hh), MixHash, MixKey (HKDF), one Noise
//                          AEAD, Split, mac1, the cookie seal, the rate limiter.
//
// Counters: hs_per_s = handshakes (or messages) per second of CPU time on this thread.
// Clock: a fake clock that moves 50 ms per handshake, so one source stays inside its rate limit
// (20/s) and timestamps grow; the cookie secret rotates every 2 400 handshakes as it would.
// Random bytes come from the system source (crypto::random_bytes), as in dvped.
//
// Run: taskset -c 1 build/perf/control/handshake_bench --benchmark_repetitions=3
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "control/session/cookie.hh"
#include "control/session/ephemeral.hh"
#include "control/session/handshake.hh"
#include "control/session/handshake_noise.hh"
#include "control/session/handshake_ratelimit.hh"
#include "crypto/dh.hh"
#include "crypto/hash.hh"
#include "crypto/init.hh"
#include "crypto/random.hh"

namespace {

namespace hs = control::handshake;

constexpr uint64_t ms = 1'000'000;
constexpr uint64_t step_ns = 50 * ms;

hs::identity make_identity(uint16_t node_id) {
    (void)crypto::init();
    hs::identity id;
    id.node_id = node_id;
    std::array<uint8_t, 32> priv;
    crypto::x25519_keypair(id.static_public, priv);
    id.static_private = crypto::secret<32>(std::span<const uint8_t, 32>(priv));
    crypto::secure_zero(priv.data(), priv.size());
    id.serial = hs::make_serial("bench");
    id.protocols = 0x01;
    return id;
}

struct fake_clock {
    hs::clock_reading now{1'000'000'000ULL, 1'700'000'000ULL * 1'000'000'000ULL};
    hs::clock_reading step() noexcept {
        now.mono_ns += step_ns;
        now.wall_ns += step_ns;
        return now;
    }
};

// 4-byte IPv4 source + port, as the daemon passes them.
std::array<uint8_t, 6> source_of(uint32_t ip) {
    return {static_cast<uint8_t>(ip >> 24U), static_cast<uint8_t>(ip >> 16U), static_cast<uint8_t>(ip >> 8U),
            static_cast<uint8_t>(ip), 0x02, 0x8f};
}

enum class cookie_mode : int64_t { off = 0, round = 1, held = 2 };

// Two nodes, 1 (initiator) and 2 (responder).
struct node_pair {
    hs::identity ia = make_identity(1), ib = make_identity(2);
    std::unique_ptr<hs::protocol> a, b;
    explicit node_pair(hs::limits la = {}, hs::limits lb = {}) {
        const auto pa = ia.static_public, pb = ib.static_public;
        a = std::make_unique<hs::protocol>(std::move(ia), la);
        b = std::make_unique<hs::protocol>(std::move(ib), lb);
        (void)a->set_peer(2, pb);
        (void)b->set_peer(1, pa);
    }
};

void full_handshake(benchmark::State& state) {
    const auto mode = static_cast<cookie_mode>(state.range(0));
    hs::limits la;
    if (mode == cookie_mode::round) {
        la.cookie_valid_ns = 1;  // the cookie is stale at the next handshake: every one needs a round
    }
    node_pair np(la);
    fake_clock clk;
    const auto src_a = source_of(0x0a000001), src_b = source_of(0x0a000002);
    const auto ip_a = std::span<const uint8_t>(src_a).first(4), ip_b = std::span<const uint8_t>(src_b).first(4);
    const bool under_load = mode != cookie_mode::off;
    uint64_t cookie_rounds = 0;
    for (auto _ : state) {
        const auto now = clk.step();
        auto ini = np.a->create_initiation(2, now);
        if (!ini) {
            state.SkipWithError("create_initiation failed");
            break;
        }
        hs::consumed r = np.b->consume(ini->bytes, src_a, now, under_load, ip_a);
        if (r.what == hs::outcome::rejected && r.reason == hs::reject::cookie_required) {
            ++cookie_rounds;
            hs::consumed ck = np.a->consume(r.reply, src_b, now, false, ip_b);
            if (ck.what != hs::outcome::cookie_stored) {
                state.SkipWithError("cookie reply not stored");
                break;
            }
            ini = np.a->create_initiation(2, now);
            r = np.b->consume(ini->bytes, src_a, now, under_load, ip_a);
        }
        if (r.what != hs::outcome::responded) {
            state.SkipWithError("initiation not answered");
            break;
        }
        hs::consumed f = np.a->consume(r.reply, src_b, now, false, ip_b);
        if (f.what != hs::outcome::completed) {
            state.SkipWithError("response not accepted");
            break;
        }
        // The caller retires old keys; without this the 255 key ids run out.
        np.b->release_key_id(1, r.keys->recv_key_id);
        np.a->release_key_id(2, f.keys->recv_key_id);
        benchmark::DoNotOptimize(f.keys->send.data());
    }
    state.counters["hs_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["cookie_rounds_per_hs"] =
        benchmark::Counter(static_cast<double>(cookie_rounds), benchmark::Counter::kAvgIterations);
}
BENCHMARK(full_handshake)->ArgName("cookie")->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);

// One responder, `n` initiators; batches of one initiation per initiator are made outside the
// timed region, then consumed and answered.
void responder(benchmark::State& state) {
    const auto n = static_cast<uint16_t>(state.range(0));
    const auto mode = static_cast<cookie_mode>(state.range(1));
    hs::identity rid = make_identity(1);
    const auto rpub = rid.static_public;
    hs::protocol resp(std::move(rid));
    std::vector<std::unique_ptr<hs::protocol>> inits;
    std::vector<std::array<uint8_t, 6>> sources;
    for (uint16_t i = 0; i < n; ++i) {
        hs::identity id = make_identity(static_cast<uint16_t>(2 + i));
        (void)resp.set_peer(id.node_id, id.static_public);
        inits.push_back(std::make_unique<hs::protocol>(std::move(id)));
        (void)inits.back()->set_peer(1, rpub);
        sources.push_back(source_of(0x0a000100U + i));
    }
    fake_clock clk;
    const bool under_load = mode != cookie_mode::off;
    if (under_load) {  // give every initiator a cookie (mode held)
        const auto now = clk.step();
        for (uint16_t i = 0; i < n; ++i) {
            auto ini = inits[i]->create_initiation(1, now);
            auto r = resp.consume(ini->bytes, sources[i], now, true, std::span<const uint8_t>(sources[i]).first(4));
            (void)inits[i]->consume(r.reply, source_of(0x0a000001), now, false);
        }
    }
    std::vector<std::vector<uint8_t>> batch(n);
    uint64_t answered = 0;
    while (state.KeepRunningBatch(n)) {
        state.PauseTiming();
        const auto now = clk.step();
        for (uint16_t i = 0; i < n; ++i) {
            batch[i] = std::move(inits[i]->create_initiation(1, now)->bytes);
        }
        state.ResumeTiming();
        for (uint16_t i = 0; i < n; ++i) {
            hs::consumed r = resp.consume(batch[i], sources[i], now, under_load, std::span<const uint8_t>(sources[i]).first(4));
            if (r.what == hs::outcome::responded) {
                ++answered;
                resp.release_key_id(r.peer_id, r.keys->recv_key_id);
            }
            benchmark::DoNotOptimize(r.reply.data());
        }
    }
    if (answered != static_cast<uint64_t>(state.iterations())) {
        state.SkipWithError("not every initiation was answered");
    }
    state.counters["hs_per_s"] = benchmark::Counter(static_cast<double>(answered), benchmark::Counter::kIsRate);
}
BENCHMARK(responder)->ArgNames({"initiators", "cookie"})->Args({64, 0})->Args({1024, 0})->Args({64, 2})
    ->Unit(benchmark::kMicrosecond);

void initiator_create(benchmark::State& state) {
    node_pair np;
    fake_clock clk;
    for (auto _ : state) {
        auto ini = np.a->create_initiation(2, clk.step());
        benchmark::DoNotOptimize(ini->bytes.data());
    }
    state.counters["hs_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(initiator_create)->Unit(benchmark::kMicrosecond);

// What one spoofed initiation costs the responder. arg 0: random bytes (bad mac1); 1: a valid
// mac1 (the attacker knows our public key) while under load: a cookie reply; 2: valid mac1, not
// under load, a source past its rate limit.
void flood_message(benchmark::State& state) {
    const int64_t kind = state.range(0);
    node_pair np;
    fake_clock clk;
    const auto now = clk.step();
    auto ini = np.a->create_initiation(2, now);
    std::vector<uint8_t> msg = ini->bytes;
    if (kind == 0) {
        crypto::random_bytes(std::span<uint8_t>(msg).subspan(hs::header_len));
    }
    auto src = source_of(0xc6336401);
    const auto ip = std::span<const uint8_t>(src).first(4);
    if (kind == 2) {  // empty the bucket of this source
        for (int i = 0; i < 16; ++i) {
            (void)np.b->consume(msg, src, now, false, ip);
        }
    }
    uint64_t replies = 0;
    for (auto _ : state) {
        hs::consumed r = np.b->consume(msg, src, now, kind == 1, ip);
        replies += r.reply.empty() ? 0 : 1;
        benchmark::DoNotOptimize(r.reply.data());
    }
    state.counters["msg_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["replies"] = benchmark::Counter(static_cast<double>(replies), benchmark::Counter::kAvgIterations);
}
BENCHMARK(flood_message)->ArgName("kind")->Arg(0)->Arg(1)->Arg(2);

// ---- pieces ----

void piece_x25519(benchmark::State& state) {
    (void)crypto::init();
    std::array<uint8_t, 32> pub, priv, out;
    crypto::x25519_keypair(pub, priv);
    std::array<uint8_t, 32> pub2, priv2;
    crypto::x25519_keypair(pub2, priv2);
    for (auto _ : state) {
        benchmark::DoNotOptimize(crypto::x25519(out, priv, pub2));
        benchmark::ClobberMemory();
    }
    state.counters["op_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(piece_x25519);

void piece_x25519_base(benchmark::State& state) {
    (void)crypto::init();
    std::array<uint8_t, 32> pub, priv;
    crypto::random_bytes(priv);
    for (auto _ : state) {
        benchmark::DoNotOptimize(crypto::x25519_public_from_private(pub, priv));
        benchmark::ClobberMemory();
    }
    state.counters["op_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(piece_x25519_base);

// What create_initiation and the responder use for their ephemeral public key since
// control/session/ephemeral.hh (Ed25519 fixed-base tables + the birational map).
void piece_ephemeral_public(benchmark::State& state) {
    (void)crypto::init();
    std::array<uint8_t, 32> pub, priv;
    crypto::random_bytes(priv);
    for (auto _ : state) {
        benchmark::DoNotOptimize(hs::ephemeral_public_from_private(pub, priv));
        benchmark::ClobberMemory();
    }
    state.counters["op_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(piece_ephemeral_public);

void piece_random32(benchmark::State& state) {
    (void)crypto::init();
    std::array<uint8_t, 32> b;
    for (auto _ : state) {
        crypto::random_bytes(b);
        benchmark::DoNotOptimize(b.data());
    }
}
BENCHMARK(piece_random32);

void piece_mix_hash(benchmark::State& state) {
    hs::symmetric_state st;
    st.initialize();
    std::array<uint8_t, 32> data{};
    for (auto _ : state) {
        st.mix_hash(data);
        benchmark::ClobberMemory();
    }
}
BENCHMARK(piece_mix_hash);

void piece_mix_key(benchmark::State& state) {
    hs::symmetric_state st;
    st.initialize();
    std::array<uint8_t, 32> dh{};
    for (auto _ : state) {
        st.mix_key(dh);
        benchmark::ClobberMemory();
    }
}
BENCHMARK(piece_mix_key);

void piece_encrypt_and_hash(benchmark::State& state) {
    hs::symmetric_state st;
    st.initialize();
    std::array<uint8_t, 32> dh{};
    st.mix_key(dh);
    std::array<uint8_t, 32> plain{};
    std::array<uint8_t, 48> out{};
    for (auto _ : state) {
        benchmark::DoNotOptimize(st.encrypt_and_hash(out, plain));
        benchmark::ClobberMemory();
    }
}
BENCHMARK(piece_encrypt_and_hash);

void piece_split(benchmark::State& state) {
    hs::symmetric_state st;
    st.initialize();
    crypto::secret<32> k1, k2;
    for (auto _ : state) {
        st.split(k1, k2);
        benchmark::DoNotOptimize(k1.data());
    }
}
BENCHMARK(piece_split);

void piece_mac1(benchmark::State& state) {
    crypto::secret<32> key;
    std::array<uint8_t, hs::initiation_layout::mac1> msg{};
    std::array<uint8_t, hs::mac_len> mac;
    for (auto _ : state) {
        hs::compute_mac(mac, key.span(), msg);
        benchmark::DoNotOptimize(mac.data());
    }
}
BENCHMARK(piece_mac1);

void piece_seal_cookie(benchmark::State& state) {
    std::array<uint8_t, 32> pub{};
    hs::cookie_checker checker(pub, 120'000'000'000ULL);
    std::array<uint8_t, hs::cookie_box_len> out;
    std::array<uint8_t, hs::mac_len> mac1{};
    const auto src = source_of(0x0a000001);
    for (auto _ : state) {
        checker.seal_cookie(out, mac1, src, 1, nullptr);
        benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK(piece_seal_cookie);

void piece_rate_limiter(benchmark::State& state) {
    hs::rate_limiter rl(20, 5, 16384);
    uint64_t now = 1;
    uint32_t ip = 0;
    for (auto _ : state) {
        const auto src = source_of(0x0a000000U + (ip++ & 1023U));
        benchmark::DoNotOptimize(rl.allow(std::span<const uint8_t>(src).first(4), now));
        now += 1000;
    }
}
BENCHMARK(piece_rate_limiter);

}  // namespace

BENCHMARK_MAIN();
