// SPDX-License-Identifier: MIT
// libFuzzer target for the handshake protocol core (docs/design.md §11): arbitrary bytes into
// control::handshake::protocol::consume(), which must never crash, leak or throw, and must keep
// its result consistent. Differential where an oracle exists: the first input byte picks a mode
//   0  raw:      the rest of the input is one message (under load or not) for a node with the
//                default rate limiter; only the result invariants are checked;
//   1  initiation, 2 response, 3 cookie reply: a fresh valid message of that type is built, the
//                rest of the input is XORed into it at an offset, and the verdict is predicted:
//                unchanged (or only mac2 touched, not under load) -> accepted with keys that
//                match the other side; any byte before mac2 changed -> rejected.
// Built as a libFuzzer binary where the compiler supports -fsanitize=fuzzer (clang), and always
// as handshake_fuzz_replay (fuzz_replay_main.cc), which runs this function over the committed
// corpus and the crafted and random inputs of dvpe_fuzz_generate() below as a unit test.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "control/session/handshake.hh"
#include "tests/fuzz/fuzz_replay.hh"
#include "tests/unit/control/session/hs_test_util.hh"

namespace hs = control::handshake;

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "handshake_fuzz: oracle violated: %s\n", what);
    std::abort();
}
#define HS_FUZZ_CHECK(cond)  \
    do {                     \
        if (!(cond)) {       \
            fail(#cond);     \
        }                    \
    } while (0)

struct world {
    std::unique_ptr<hs::protocol> a, b, limited;
    uint64_t t_ns = 0;

    world() {
        hs::limits nolimit;
        nolimit.rate_per_s = 0;
        a = std::make_unique<hs::protocol>(hs_test::make_identity(1, 0x11), nolimit, hs_test::seeded_rng(1));
        b = std::make_unique<hs::protocol>(hs_test::make_identity(2, 0x22), nolimit, hs_test::seeded_rng(2));
        limited = std::make_unique<hs::protocol>(hs_test::make_identity(2, 0x22), hs::limits{}, hs_test::seeded_rng(3));
        (void)a->set_peer(2, hs_test::public_of(0x22));
        (void)b->set_peer(1, hs_test::public_of(0x11));
        (void)limited->set_peer(1, hs_test::public_of(0x11));
        (void)limited->set_peer(3, hs_test::public_of(0x33));
    }
    hs::clock_reading now() {
        t_ns += 1'000'000;  // 1 ms per step: timestamps strictly increase
        return {t_ns, 1'700'000'000'000'000'000ULL + t_ns};
    }
};

world& the_world() {
    static world w;
    return w;
}

uint64_t total_rejects(const hs::counters& c) {
    uint64_t n = 0;
    for (uint64_t x : c.rejected) {
        n += x;
    }
    return n;
}

/// Invariants of any consume() result; also returns the key id to the pool.
void check_result(hs::protocol& p, const hs::consumed& c, uint64_t rejects_before) {
    const uint64_t rejects_after = total_rejects(p.stats());
    switch (c.what) {
    case hs::outcome::rejected:
        HS_FUZZ_CHECK(c.reason.has_value());
        HS_FUZZ_CHECK(!c.keys.has_value());
        HS_FUZZ_CHECK(rejects_after == rejects_before + 1);
        // A reply on a rejection: a cookie reply, or a refusal (a response without keys) of a
        // serial or cipher mismatch (docs/protocol.md "Refusal").
        HS_FUZZ_CHECK(c.reply.empty() || (*c.reason == hs::reject::cookie_required && c.reply.size() == 64) ||
                      ((*c.reason == hs::reject::serial_mismatch || *c.reason == hs::reject::cipher_mismatch) &&
                       c.reply.size() == hs::response_layout::size));
        break;
    case hs::outcome::responded:
        HS_FUZZ_CHECK(c.keys.has_value() && c.reply.size() == hs::response_layout::size);
        HS_FUZZ_CHECK(rejects_after == rejects_before);
        p.release_key_id(c.peer_id, c.keys->recv_key_id);
        break;
    case hs::outcome::completed:
        HS_FUZZ_CHECK(c.keys.has_value() && c.reply.empty());
        HS_FUZZ_CHECK(rejects_after == rejects_before);
        p.release_key_id(c.peer_id, c.keys->recv_key_id);
        break;
    case hs::outcome::cookie_stored:
        HS_FUZZ_CHECK(!c.keys.has_value() && c.reply.empty());
        break;
    }
}

/// XORs `mask` into `msg` from `offset` on; \returns the smallest changed index (or msg.size()).
size_t apply_mask(std::vector<uint8_t>& msg, size_t offset, const uint8_t* mask, size_t n) {
    size_t first = msg.size();
    for (size_t i = 0; i < n && offset + i < msg.size(); ++i) {
        if (mask[i] != 0) {
            msg[offset + i] ^= mask[i];
            first = std::min(first, offset + i);
        }
    }
    return first;
}

void run_raw(world& w, const uint8_t* data, size_t size) {
    const bool load = size > 0 && (data[0] & 1U) != 0;
    const uint8_t src[2] = {static_cast<uint8_t>(size > 1 ? data[1] : 0), 7};
    std::span<const uint8_t> msg(data + std::min<size_t>(size, 2), size - std::min<size_t>(size, 2));
    const uint64_t before = total_rejects(w.limited->stats());
    auto c = w.limited->consume(msg, src, w.now(), load);
    check_result(*w.limited, c, before);
}

void run_mutated(world& w, int mode, const uint8_t* data, size_t size) {
    const bool load = size > 0 && (data[0] & 1U) != 0;
    const size_t offset = size > 1 ? data[1] : 0;
    const uint8_t* mask = data + std::min<size_t>(size, 2);
    const size_t n = size - std::min<size_t>(size, 2);
    const auto t = w.now();
    auto init = w.a->create_initiation(2, t);
    HS_FUZZ_CHECK(init.has_value());

    if (mode == 1) {
        std::vector<uint8_t> msg = init->bytes;
        const size_t first = apply_mask(msg, offset, mask, n);
        const uint64_t before = total_rejects(w.b->stats());
        auto c = w.b->consume(msg, hs_test::src_a, t, false);
        check_result(*w.b, c, before);
        if (first >= hs::initiation_layout::mac2) {
            HS_FUZZ_CHECK(c.what == hs::outcome::responded);
        } else {
            HS_FUZZ_CHECK(c.what == hs::outcome::rejected);
        }
        return;
    }
    if (mode == 2) {
        auto r = w.b->consume(init->bytes, hs_test::src_a, t, false);
        HS_FUZZ_CHECK(r.what == hs::outcome::responded);
        std::vector<uint8_t> msg = r.reply;
        const size_t first = apply_mask(msg, offset, mask, n);
        const uint64_t before = total_rejects(w.a->stats());
        auto c = w.a->consume(msg, hs_test::src_b, t, load);
        if (c.what == hs::outcome::completed) {
            HS_FUZZ_CHECK(c.keys->send == r.keys->recv && c.keys->recv == r.keys->send);
        }
        check_result(*w.a, c, before);
        w.b->release_key_id(1, r.keys->recv_key_id);
        if (first < hs::response_layout::mac2) {
            HS_FUZZ_CHECK(c.what == hs::outcome::rejected);
        } else if (!load) {
            HS_FUZZ_CHECK(c.what == hs::outcome::completed);
        }
        return;
    }
    // mode 3: cookie reply. A fresh source address each time, so a cookie `a` got earlier (bound
    // to another address) never makes this initiation pass.
    uint8_t src[8];
    std::memcpy(src, &w.t_ns, sizeof src);
    auto cr = w.b->consume(init->bytes, src, t, true);
    HS_FUZZ_CHECK(cr.what == hs::outcome::rejected && cr.reason == hs::reject::cookie_required);
    std::vector<uint8_t> msg = cr.reply;
    (void)apply_mask(msg, offset, mask, n);
    // The cookie reply has no mac: its reserved bytes (6, 7) and the header flag bits (byte 1,
    // bits 3..0) are not authenticated and are ignored; every other byte counts.
    bool significant = false;
    for (size_t i = 0; i < msg.size(); ++i) {
        const uint8_t diff = static_cast<uint8_t>(msg[i] ^ cr.reply[i]);
        if (diff != 0 && i != 6 && i != 7 && !(i == 1 && (diff & 0xf0U) == 0)) {
            significant = true;
        }
    }
    const uint64_t before = total_rejects(w.a->stats());
    auto c = w.a->consume(msg, hs_test::src_b, t, load);
    check_result(*w.a, c, before);
    HS_FUZZ_CHECK(significant == (c.what == hs::outcome::rejected));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    world& w = the_world();
    const int mode = size == 0 ? 0 : data[0] % 4;
    if (mode == 0) {
        run_raw(w, size == 0 ? data : data + 1, size == 0 ? 0 : size - 1);
    } else {
        run_mutated(w, mode, data + 1, size - 1);
    }
    return 0;
}

// For handshake_fuzz_replay: for every mode (mutations of valid messages) under load and not,
// the unmodified message and each single bit flip over 200 bytes (offset 0); truncations and
// extensions of raw messages; then random garbage and random XOR masks.
extern "C" size_t dvpe_fuzz_generate(uint64_t iterations, uint64_t seed, dvpe_fuzz_run_fn run) {
    size_t n = 0;
    const auto go = [&](const std::vector<uint8_t>& in) {
        run(in.data(), in.size());
        ++n;
    };
    for (uint8_t mode = 1; mode <= 3; ++mode) {
        for (uint8_t load = 0; load < 2; ++load) {
            go({mode, load, 0});
            for (size_t bit = 0; bit < 200 * 8; ++bit) {
                std::vector<uint8_t> in(3 + 200, 0);
                in[0] = mode;
                in[1] = load;
                in[2] = 0;
                in[3 + bit / 8] = static_cast<uint8_t>(1U << (bit % 8));
                go(in);
            }
        }
    }
    for (size_t len = 0; len < 200; ++len) {
        for (uint8_t type = 0; type < 6; ++type) {
            std::vector<uint8_t> in(3 + len, 0);
            in[0] = 0;
            in[1] = static_cast<uint8_t>(len & 1U);
            in[2] = 9;
            if (len > 0) in[3] = type;
            if (len > 1) in[4] = 0x10;
            if (len > 3) in[6] = 1;  // src 1
            if (len > 4) in[7] = 2;  // dst 2
            go(in);
        }
    }
    uint64_t s = seed;
    for (uint64_t i = 0; i < iterations; ++i) {
        const size_t len = fuzz_replay::next(s) % 260;
        std::vector<uint8_t> in(len);
        for (uint8_t& b : in) {
            b = static_cast<uint8_t>(fuzz_replay::next(s));
        }
        if (len > 8 && fuzz_replay::next(s) % 2 == 0) {
            in[3] = 2 + static_cast<uint8_t>(fuzz_replay::next(s) % 3);  // a plausible type in raw mode
            in[4] = 0x10;
        }
        go(in);
    }
    return n;
}
