// SPDX-License-Identifier: MIT
// Unit tests of the control thread's per-iteration budget for handshake messages
// (control/session/handshake_drain.hh): a flood costs each control-loop iteration a bounded time, the
// excess is dropped and counted, and the node demands cookies while it is overloaded.
#include <gtest/gtest.h>

#include "control/session/handshake_drain.hh"

#include <array>

namespace hs = control::handshake;

namespace {

constexpr uint64_t us = 1'000;
constexpr uint64_t ms = 1'000'000;
constexpr size_t ring = 4096;  // the daemon's control ring

struct drained {
    uint64_t admitted = 0, dropped = 0, elapsed_ns = 0;
};

/// One iteration over `backlog` waiting messages, each admitted one costing `cost_ns` of the
/// control thread's time (a dropped one costs nothing measurable).
drained drain(hs::drain_budget& b, uint64_t& now, size_t backlog, uint64_t cost_ns) {
    drained d;
    const uint64_t t0 = now;
    b.start(now, backlog, ring);
    for (size_t i = 0; i < backlog; ++i) {
        if (b.admit(now)) {
            ++d.admitted;
            now += cost_ns;
        } else {
            ++d.dropped;
        }
    }
    d.elapsed_ns = now - t0;
    return d;
}

TEST(drain_budget, a_flood_of_expensive_messages_is_cut_by_time) {
    // A full ring of initiations that pass mac1 and the rate limit (e.g. from many addresses):
    // ~150 us of X25519 each, 0.6 s for the ring; the control socket would wait that long.
    hs::drain_budget b;
    uint64_t now = 1'000 * ms;
    const auto d = drain(b, now, ring, 150 * us);
    const hs::drain_limits lim;
    EXPECT_LE(d.elapsed_ns, lim.max_ns + 150 * us) << "the iteration returns to the control socket";
    EXPECT_GE(d.admitted, 1U);
    EXPECT_EQ(d.admitted + d.dropped, ring);
    EXPECT_EQ(b.dropped(), d.dropped);
    EXPECT_TRUE(b.under_load(now));
}

TEST(drain_budget, a_flood_of_cheap_messages_is_cut_by_count) {
    hs::drain_budget b;
    uint64_t now = 1'000 * ms;
    const auto d = drain(b, now, ring, 1 * us);  // mac1 fails or a cookie reply: cheap
    EXPECT_EQ(d.admitted, hs::drain_limits{}.max_messages);
    EXPECT_EQ(b.dropped(), ring - hs::drain_limits{}.max_messages);
}

TEST(drain_budget, every_iteration_has_a_fresh_budget_and_load_fades_after_a_second) {
    hs::drain_budget b;
    uint64_t now = 1'000 * ms;
    (void)drain(b, now, ring, 150 * us);
    const uint64_t dropped = b.dropped();
    now += 10 * ms;  // the next iteration: a few messages, all consumed
    auto d = drain(b, now, 5, 150 * us);
    EXPECT_EQ(d.admitted, 5U);
    EXPECT_EQ(b.dropped(), dropped);
    EXPECT_TRUE(b.under_load(now)) << "cookies for a while after an overload";
    now += 1'100 * ms;
    d = drain(b, now, 5, 150 * us);
    EXPECT_EQ(d.admitted, 5U);
    EXPECT_FALSE(b.under_load(now));
}

TEST(drain_budget, normal_traffic_is_never_dropped_nor_under_load) {
    hs::drain_budget b;
    uint64_t now = 1'000 * ms;
    for (int i = 0; i < 100; ++i) {
        const auto d = drain(b, now, 8, 150 * us);
        EXPECT_EQ(d.admitted, 8U);
        EXPECT_FALSE(b.under_load(now));
        now += 10 * ms;
    }
    EXPECT_EQ(b.dropped(), 0U);
}

TEST(drain_budget, a_ring_more_than_half_full_is_load) {
    hs::drain_budget b;
    b.start(0, ring / 2 + 1, ring);
    EXPECT_TRUE(b.under_load(0));
    hs::drain_budget c;
    c.start(0, ring / 2, ring);
    EXPECT_FALSE(c.under_load(0));
}

TEST(drain_budget, beyond_the_budget_a_proven_sender_passes_and_a_flood_does_not) {
    // A full ring: 4 095 flood messages (no valid mac2) and one from a sender that answered our
    // cookie reply, queued last, behind the whole flood.
    hs::drain_budget b;
    uint64_t now = 1'000 * ms;
    b.start(now, ring, ring);
    size_t admitted = 0, proofs_asked = 0;
    bool proven_passed = false;
    for (size_t i = 0; i < ring; ++i) {
        const bool is_proven = i == ring - 1;
        const bool ok = b.admit(now, [&] {
            ++proofs_asked;
            return is_proven;
        });
        if (ok) {
            ++admitted;
            now += 1 * us;
            proven_passed = proven_passed || is_proven;
        }
    }
    const hs::drain_limits lim;
    EXPECT_FALSE(proven_passed) << "the proof checks ran out before the last message (bounded)";
    EXPECT_EQ(proofs_asked, lim.max_proof_checks) << "a flood of random mac2s costs a bounded number of hashes";
    EXPECT_EQ(admitted, lim.max_messages);

    // Within the proof checks' reach (the common case: the ring holds less than
    // max_messages + max_proof_checks), the proven sender passes wherever it waits.
    hs::drain_budget c;
    c.start(now, 1024, ring);
    proofs_asked = 0;
    admitted = 0;
    proven_passed = false;
    for (size_t i = 0; i < 1024; ++i) {
        const bool is_proven = i == 1000;
        if (c.admit(now, [&] {
                ++proofs_asked;
                return is_proven;
            })) {
            ++admitted;
            proven_passed = proven_passed || is_proven;
        }
    }
    EXPECT_TRUE(proven_passed);
    EXPECT_EQ(admitted, lim.max_messages + 1);
    EXPECT_EQ(proofs_asked, 1024 - lim.max_messages) << "never asked within the budget";
    EXPECT_EQ(c.admitted_proven(), 1U);
    EXPECT_EQ(c.dropped(), 1024 - lim.max_messages - 1);
    EXPECT_TRUE(c.under_load(now)) << "cookies are demanded while the budget runs out";
}

TEST(drain_budget, proven_admissions_have_their_own_bound) {
    // Senders that do receive at their addresses (a botnet) cannot take more than max_proven a
    // iteration beyond the budget; the per-source rate limit (consume()) applies after that.
    hs::drain_budget b;
    uint64_t now = 1'000 * ms;
    b.start(now, ring, ring);
    size_t admitted = 0;
    for (size_t i = 0; i < ring; ++i) {
        if (b.admit(now, [] { return true; })) {
            ++admitted;
        }
    }
    const hs::drain_limits lim;
    EXPECT_EQ(admitted, lim.max_messages + lim.max_proven);
    EXPECT_EQ(b.admitted_proven(), lim.max_proven);
    EXPECT_EQ(b.dropped(), ring - lim.max_messages - lim.max_proven);
    // the next iteration has a fresh proven budget
    b.start(now + 10 * ms, 1, ring);
    EXPECT_TRUE(b.admit(now + 10 * ms, [] { return true; }));
}

TEST(drain_budget, one_proven_sender_cannot_take_every_proven_slot) {
    // A sender that does receive at its address (it got a cookie) floods valid-mac2 messages:
    // beyond the budget it gets max_proven_per_source of the iteration's proven slots, and a
    // second proven sender queued behind its flood still passes.
    hs::drain_budget b;
    uint64_t now = 1'000 * ms;
    const hs::drain_limits lim;
    b.start(now, ring, ring);
    const std::array<uint8_t, 4> attacker{192, 0, 2, 66}, legit{198, 51, 100, 7};
    size_t admitted_attacker = 0, proofs = 0;
    for (size_t i = 0; i < lim.max_messages; ++i) {
        ASSERT_TRUE(b.admit(now, [] { return true; }, attacker));  // within the budget: anyone
    }
    for (size_t i = 0; i < 1000; ++i) {
        if (b.admit(now, [&] { ++proofs; return true; }, attacker)) {
            ++admitted_attacker;
        }
    }
    EXPECT_EQ(admitted_attacker, lim.max_proven_per_source);
    EXPECT_EQ(proofs, lim.max_proven_per_source) << "no hash spent on a source over its share";
    EXPECT_TRUE(b.admit(now, [] { return true; }, legit));
    // IPv6 senders count by their /64
    const std::array<uint8_t, 16> v6a{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1};
    std::array<uint8_t, 16> v6b = v6a;
    v6b[15] = 2;
    EXPECT_TRUE(b.admit(now, [] { return true; }, v6a));
    EXPECT_TRUE(b.admit(now, [] { return true; }, v6b));
    EXPECT_FALSE(b.admit(now, [] { return true; }, v6a)) << "the same /64";
    // a new iteration: a fresh share
    b.start(now + 10 * ms, ring, ring);
    for (size_t i = 0; i < lim.max_messages; ++i) {
        (void)b.admit(now + 10 * ms, [] { return false; });
    }
    EXPECT_TRUE(b.admit(now + 10 * ms, [] { return true; }, attacker));
}

}  // namespace

namespace {

struct looped {
    uint64_t admitted = 0, dropped = 0, deferred = 0, iterations = 0, elapsed_ns = 0;
    size_t max_left_in_ring = 0;
};

/// The daemon's loop (control/daemon/daemon.cc handle_control_packets): each iteration asks
/// defer() before taking the next item and leaves the rest in the ring; `arrive(iteration)`
/// messages join the ring before each iteration (capped by the ring); each admitted one costs
/// `cost_ns`, the loop between iterations `gap_ns`.
template <class Arrive>
looped run_loop(hs::drain_budget& b, uint64_t& now, size_t iterations, uint64_t cost_ns, uint64_t gap_ns,
                Arrive&& arrive) {
    looped r;
    size_t in_ring = 0;
    const uint64_t t0 = now;
    for (size_t it = 0; it < iterations; ++it) {
        in_ring = std::min(ring, in_ring + arrive(it));
        if (in_ring == 0) {
            now += gap_ns;
            continue;
        }
        ++r.iterations;
        size_t left = in_ring;
        b.start(now, left, ring);
        while (left != 0 && !b.defer(now, left)) {
            --left;
            --in_ring;
            if (b.admit(now)) {
                ++r.admitted;
                now += cost_ns;
            } else {
                ++r.dropped;
            }
        }
        r.max_left_in_ring = std::max(r.max_left_in_ring, in_ring);
        now += gap_ns;
    }
    r.deferred = b.deferred();
    r.elapsed_ns = now - t0;
    return r;
}

}  // namespace

TEST(drain_budget, within_the_budget_nothing_is_deferred) {
    hs::drain_budget b;
    uint64_t now = 1'000 * ms;
    b.start(now, 100, ring);
    EXPECT_FALSE(b.defer(now, 100));
    EXPECT_FALSE(b.defer(now, 1));
    EXPECT_FALSE(b.defer(now, 0));
    EXPECT_EQ(b.deferred(), 0U);
}

TEST(drain_budget, a_spent_budget_defers_at_most_max_deferred) {
    const hs::drain_limits lim;
    for (bool by_time : {false, true}) {
        SCOPED_TRACE(by_time ? "time" : "count");
        hs::drain_budget b;
        uint64_t now = 1'000 * ms;
        b.start(now, lim.max_messages + lim.max_deferred, ring);  // less than half the ring: no load yet
        if (by_time) {
            now += lim.max_ns;  // spent without a message: no overload from defer() alone
        } else {
            for (uint32_t i = 0; i < lim.max_messages; ++i) {
                ASSERT_TRUE(b.admit(now));
            }
        }
        EXPECT_FALSE(b.defer(now, lim.max_deferred + 1));  // too many: drain on (and drop)
        EXPECT_FALSE(b.defer(now, 0));
        EXPECT_FALSE(b.under_load(now));
        EXPECT_TRUE(b.defer(now, lim.max_deferred));
        EXPECT_EQ(b.deferred(), 1U);
        EXPECT_EQ(b.dropped(), 0U);
        EXPECT_TRUE(b.under_load(now)) << "work left waiting is load: cookies are demanded";
        // The next iteration has a fresh budget.
        b.start(now, lim.max_deferred, ring);
        EXPECT_FALSE(b.defer(now, lim.max_deferred));
    }
}

TEST(drain_budget, a_burst_of_initiators_is_served_late_not_dropped) {
    // 64 initiations arrive every iteration (a crowd with 64 outstanding), each ~150 us of
    // X25519: ~27 fit in one iteration's 4 ms. Without deferral 37 an iteration were dropped
    // (and retried after their senders' timeout); now the rest waits for the next iteration.
    hs::drain_budget b;
    uint64_t now = 1'000 * ms;
    size_t sent = 0;
    const auto r = run_loop(b, now, 200, 150 * us, 100 * us, [&](size_t it) {
        const size_t n = it < 100 ? 27 : 0;  // what one iteration can answer, then nothing
        sent += n;
        return n;
    });
    EXPECT_EQ(r.dropped, 0U);
    EXPECT_EQ(r.admitted, sent);
    // A burst larger than an iteration: served over the next iterations, none dropped.
    hs::drain_budget c;
    const auto burst = run_loop(c, now, 50, 150 * us, 100 * us, [](size_t it) { return it == 0 ? size_t{400} : 0; });
    EXPECT_EQ(burst.dropped, 0U);
    EXPECT_EQ(burst.admitted, 400U);
    EXPECT_GT(burst.deferred, 0U);
}

TEST(drain_budget, a_flood_still_leaves_room_in_the_ring) {
    // A full ring every iteration: each iteration ends with at most max_deferred in the ring, so
    // new messages (a proven sender's) still get in, and each iteration stays bounded in time.
    const hs::drain_limits lim;
    hs::drain_budget b;
    uint64_t now = 1'000 * ms;
    const auto r = run_loop(b, now, 100, 3 * us, 100 * us, [](size_t) { return ring; });
    EXPECT_LE(r.max_left_in_ring, lim.max_deferred);
    EXPECT_EQ(r.iterations, 100U);
    EXPECT_LE(r.admitted, 100U * lim.max_messages);
    EXPECT_GT(r.dropped, 100U * (ring - lim.max_deferred - lim.max_messages) - 1);
    EXPECT_TRUE(b.under_load(now));
}
