// SPDX-License-Identifier: MIT
// The bridge's MAC learner (control/daemon/mac_learner.hh) and the table the workers read
// (engine/mac_table.hh): learning through build(), moves, the per-owner and total limits (a flood
// of random MACs from one owner fills only its own quota), static entries, aging with the
// workers' stamps taken by harvest(), forget_owner, shrinking limits on reload; the table's
// empty and all-zero cases, full collision chains and the learn event encoding.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <random>
#include <set>
#include <vector>

#include "control/daemon/mac_learner.hh"
#include "engine/mac_table.hh"

namespace {

using control::mac_learner;
using control::mac_learner_limits;

uint64_t mac(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e, uint8_t f) {
    const std::array<uint8_t, 6> m{a, b, c, d, e, f};
    return engine::mac_key(m.data());
}

/// Locally administered unicast MAC number n.
uint64_t host(uint32_t n) {
    return mac(0x02, 0, static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16), static_cast<uint8_t>(n >> 8),
               static_cast<uint8_t>(n));
}

/// Owner of mac in the table built now, or -1.
int owner_in(const mac_learner& l, uint64_t m) {
    const auto t = l.build();
    const int slot = t->find(m);
    return slot == engine::mac_table::none ? -1 : t->owner_at(slot);
}

// ---------------------------------------------------------------------------------------------
// engine::mac_table

TEST(mac_table, empty_table_finds_nothing) {
    const engine::mac_table t({});
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(t.find(0), engine::mac_table::none);
    EXPECT_EQ(t.find(host(1)), engine::mac_table::none);
    EXPECT_EQ(t.find(mac(0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), engine::mac_table::none);
    EXPECT_TRUE(t.entries().empty());
}

TEST(mac_table, all_zero_mac_is_a_key) {
    const engine::mac_table without({{host(1), 3, 10}});
    EXPECT_EQ(without.find(0), engine::mac_table::none);
    const engine::mac_table with({{0, 0, 7}, {host(1), 3, 10}});
    const int slot = with.find(0);
    ASSERT_NE(slot, engine::mac_table::none);
    EXPECT_EQ(with.owner_at(slot), 0);
    ASSERT_NE(with.find(host(1)), engine::mac_table::none);
    EXPECT_EQ(with.owner_at(with.find(host(1))), 3);
    const auto e = with.entries();
    ASSERT_EQ(e.size(), 2u);
    EXPECT_TRUE(std::any_of(e.begin(), e.end(), [](const auto& x) { return x.mac == 0 && x.owner == 0 && x.seen == 7; }));
}

TEST(mac_table, full_collision_chain_wraps_and_misses_terminate) {
    // 64 entries: 128 slots (at most half full). Home slot as the table computes it for 7 bits.
    constexpr unsigned bits = 7;
    const auto home = [](uint64_t k) { return static_cast<uint32_t>((k * 0x9e3779b97f4a7c15ULL) >> (64 - bits)) & 127; };
    std::vector<uint64_t> chain;  // all with home slot 127, the last one: the chain wraps to 0..62
    uint64_t miss = 0;            // one more with that home, not in the table
    for (uint32_t n = 0; chain.size() < 65; ++n) {
        const uint64_t k = host(n);
        if (home(k) == 127) {
            chain.push_back(k);
        }
    }
    miss = chain.back();
    chain.pop_back();
    std::vector<engine::mac_table::entry> in;
    for (size_t i = 0; i < chain.size(); ++i) {
        in.push_back({chain[i], static_cast<uint16_t>(i + 1), static_cast<uint32_t>(i)});
    }
    const engine::mac_table t(in);
    ASSERT_EQ(t.size(), 64u);
    std::set<int> slots;
    for (size_t i = 0; i < chain.size(); ++i) {
        const int s = t.find(chain[i]);
        ASSERT_NE(s, engine::mac_table::none) << i;
        EXPECT_EQ(t.owner_at(s), i + 1);
        slots.insert(s);
    }
    // One run: 127 then 0..62.
    std::set<int> expect{127};
    for (int i = 0; i <= 62; ++i) {
        expect.insert(i);
    }
    EXPECT_EQ(slots, expect);
    EXPECT_EQ(t.find(miss), engine::mac_table::none);
    EXPECT_EQ(t.find(0), engine::mac_table::none);
    for (uint32_t n = 100000; n < 101000; ++n) {  // misses anywhere terminate
        if (std::find(chain.begin(), chain.end(), host(n)) == chain.end()) {
            EXPECT_EQ(t.find(host(n)), engine::mac_table::none);
        }
    }
}

TEST(mac_table, entries_round_trip_and_touch) {
    std::mt19937_64 rng(7);
    std::vector<engine::mac_table::entry> in;
    std::set<uint64_t> seen_keys;
    while (in.size() < 1000) {
        const uint64_t k = rng() & 0xfffffffffffeULL;
        if (seen_keys.insert(k).second) {
            in.push_back({k, static_cast<uint16_t>(rng() % 4096), static_cast<uint32_t>(rng())});
        }
    }
    const engine::mac_table t(in);
    EXPECT_EQ(t.size(), in.size());
    auto out = t.entries();
    const auto by_mac = [](const auto& a, const auto& b) { return a.mac < b.mac; };
    std::sort(in.begin(), in.end(), by_mac);
    std::sort(out.begin(), out.end(), by_mac);
    ASSERT_EQ(out.size(), in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        EXPECT_EQ(out[i].mac, in[i].mac);
        EXPECT_EQ(out[i].owner, in[i].owner);
        EXPECT_EQ(out[i].seen, in[i].seen);
        const int s = t.find(in[i].mac);
        ASSERT_NE(s, engine::mac_table::none);
        EXPECT_EQ(t.owner_at(s), in[i].owner);
    }
    t.touch(t.find(in[5].mac), 12345);
    for (const auto& e : t.entries()) {
        if (e.mac == in[5].mac) {
            EXPECT_EQ(e.seen, 12345u);
        }
    }
}

TEST(mac_table, learn_event_round_trip) {
    const uint64_t bcast = mac(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    EXPECT_EQ(bcast, 0xffffffffffffULL);
    EXPECT_TRUE(engine::mac_key_is_group(bcast));
    EXPECT_FALSE(engine::mac_key_is_group(host(1)));
    EXPECT_TRUE(engine::mac_key_is_group(mac(0x01, 0x00, 0x5e, 0, 0, 1)));
    for (const uint64_t m : {uint64_t{0}, bcast, host(1), mac(0x52, 0x54, 0x00, 0x12, 0x34, 0x56)}) {
        for (const uint16_t o : {uint16_t{0}, uint16_t{1}, uint16_t{2048}, uint16_t{4095}}) {
            const void* e = engine::learn_event(m, o);
            EXPECT_NE(e, nullptr);
            EXPECT_EQ(engine::learn_event_mac(e), m);
            EXPECT_EQ(engine::learn_event_owner(e), o);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// control::mac_learner

TEST(mac_learner, learn_and_lookup_through_build) {
    mac_learner l({});
    EXPECT_EQ(l.size(), 0u);
    EXPECT_EQ(l.build()->size(), 0u);
    EXPECT_TRUE(l.learn(host(1), 7, 100));
    EXPECT_TRUE(l.learn(host(2), 0, 100));
    EXPECT_FALSE(l.learn(host(1), 7, 150));  // refresh only: nothing to publish
    EXPECT_FALSE(l.learn(mac(0x01, 0, 0x5e, 0, 0, 1), 7, 100));  // group
    EXPECT_FALSE(l.learn(0xffffffffffffULL, 7, 100));
    EXPECT_FALSE(l.learn(host(3), 4096, 100));  // owner beyond 12 bits
    EXPECT_EQ(l.size(), 2u);
    EXPECT_EQ(l.owned_by(7), 1u);
    EXPECT_EQ(l.owned_by(0), 1u);
    EXPECT_EQ(l.counters().learned, 2u);
    EXPECT_EQ(l.counters().limit_dropped, 0u);

    const auto t = l.build();
    EXPECT_EQ(t->size(), 2u);
    ASSERT_NE(t->find(host(1)), engine::mac_table::none);
    EXPECT_EQ(t->owner_at(t->find(host(1))), 7);
    EXPECT_EQ(t->owner_at(t->find(host(2))), engine::mac_table::local);
    EXPECT_EQ(t->find(host(3)), engine::mac_table::none);

    const auto e = l.entries();
    ASSERT_EQ(e.size(), 2u);
    EXPECT_EQ(e[0].mac, host(1));  // address order
    EXPECT_EQ(e[0].owner, 7);
    EXPECT_FALSE(e[0].is_static);
    EXPECT_EQ(e[0].last_used_s, 150u);  // refreshed
    EXPECT_EQ(e[1].mac, host(2));
    for (const auto& x : t->entries()) {
        if (x.mac == host(1)) {
            EXPECT_EQ(x.seen, 150u);
        }
    }
}

TEST(mac_learner, entries_in_address_order) {
    mac_learner l({});
    l.learn(mac(0x02, 0, 0, 0, 0, 0x02), 1, 1);
    l.learn(mac(0x02, 0, 0, 0, 0, 0x01), 1, 1);
    l.learn(mac(0x00, 0xff, 0, 0, 0, 0x03), 1, 1);
    l.learn(mac(0x02, 0, 0, 0, 1, 0x00), 1, 1);
    const auto e = l.entries();
    ASSERT_EQ(e.size(), 4u);
    EXPECT_EQ(e[0].mac, mac(0x00, 0xff, 0, 0, 0, 0x03));
    EXPECT_EQ(e[1].mac, mac(0x02, 0, 0, 0, 0, 0x01));
    EXPECT_EQ(e[2].mac, mac(0x02, 0, 0, 0, 0, 0x02));
    EXPECT_EQ(e[3].mac, mac(0x02, 0, 0, 0, 1, 0x00));
}

TEST(mac_learner, move_is_counted) {
    mac_learner l({});
    ASSERT_TRUE(l.learn(host(1), 3, 100));
    EXPECT_TRUE(l.learn(host(1), 4, 110));
    EXPECT_EQ(l.counters().moved, 1u);
    EXPECT_EQ(l.counters().learned, 1u);
    EXPECT_EQ(l.owned_by(3), 0u);
    EXPECT_EQ(l.owned_by(4), 1u);
    EXPECT_EQ(owner_in(l, host(1)), 4);
    EXPECT_TRUE(l.learn(host(1), 0, 120));  // to our LAN
    EXPECT_EQ(owner_in(l, host(1)), 0);
    EXPECT_EQ(l.counters().moved, 2u);
    EXPECT_EQ(l.size(), 1u);
}

TEST(mac_learner, move_to_a_full_owner_is_refused) {
    mac_learner l({.total = 100, .per_owner = 2, .age_s = 300});
    ASSERT_TRUE(l.learn(host(1), 1, 1));
    ASSERT_TRUE(l.learn(host(2), 2, 1));
    ASSERT_TRUE(l.learn(host(3), 2, 1));
    EXPECT_FALSE(l.learn(host(1), 2, 2));
    EXPECT_EQ(l.counters().limit_dropped, 1u);
    EXPECT_EQ(l.counters().moved, 0u);
    EXPECT_EQ(owner_in(l, host(1)), 1);  // stays
    EXPECT_EQ(l.owned_by(1), 1u);
    EXPECT_EQ(l.owned_by(2), 2u);
}

TEST(mac_learner, per_owner_flood_fills_only_its_quota) {
    mac_learner l({});  // 16384 total, 4096 per owner
    for (uint32_t n = 0; n < 10; ++n) {
        ASSERT_TRUE(l.learn(host(n), 1, 10));
        ASSERT_TRUE(l.learn(host(1000 + n), 0, 10));
    }
    std::mt19937_64 rng(42);
    size_t accepted = 0;
    for (int i = 0; i < 100000; ++i) {
        uint64_t k = rng() & 0xfffffffffffeULL;  // unicast
        if (k >= host(0) && k <= host(2000)) {
            k ^= 0x10000;  // never one of the fixed ones (astronomically unlikely anyway)
        }
        accepted += l.learn(k, 2, 20) ? 1 : 0;
    }
    // Once full, the flooding owner cannot steal the others' MACs either.
    for (uint32_t n = 0; n < 10; ++n) {
        EXPECT_FALSE(l.learn(host(n), 2, 30));
    }
    EXPECT_EQ(accepted, 4096u);
    EXPECT_EQ(l.owned_by(2), 4096u);
    EXPECT_EQ(l.size(), 4096u + 20);
    EXPECT_EQ(l.counters().limit_dropped, 100000u - 4096 + 10);
    EXPECT_EQ(l.counters().moved, 0u);
    const auto t = l.build();
    EXPECT_EQ(t->size(), 4096u + 20);
    for (uint32_t n = 0; n < 10; ++n) {
        ASSERT_NE(t->find(host(n)), engine::mac_table::none);
        EXPECT_EQ(t->owner_at(t->find(host(n))), 1);
        ASSERT_NE(t->find(host(1000 + n)), engine::mac_table::none);
        EXPECT_EQ(t->owner_at(t->find(host(1000 + n))), 0);
    }
    // Others still learn.
    EXPECT_TRUE(l.learn(host(5000), 3, 40));
}

TEST(mac_learner, total_cap_refuses_new_never_evicts) {
    mac_learner l({.total = 10, .per_owner = 8, .age_s = 300});
    for (uint32_t n = 0; n < 8; ++n) {
        ASSERT_TRUE(l.learn(host(n), 1, 1));
    }
    EXPECT_FALSE(l.learn(host(8), 1, 1));  // per owner
    EXPECT_TRUE(l.learn(host(100), 2, 1));
    EXPECT_TRUE(l.learn(host(101), 2, 1));
    EXPECT_FALSE(l.learn(host(102), 2, 1));  // total
    EXPECT_FALSE(l.learn(host(200), 3, 1));
    EXPECT_EQ(l.size(), 10u);
    EXPECT_EQ(l.counters().limit_dropped, 3u);
    // A move does not grow the table: allowed when full.
    EXPECT_TRUE(l.learn(host(0), 3, 2));
    EXPECT_EQ(l.size(), 10u);
    EXPECT_EQ(l.owned_by(1), 7u);
    EXPECT_EQ(l.owned_by(3), 1u);
    // Room again after an entry went.
    EXPECT_TRUE(l.forget_owner(3));
    EXPECT_TRUE(l.learn(host(200), 3, 3));
}

TEST(mac_learner, static_entries_never_move_nor_age) {
    mac_learner l({.total = 4, .per_owner = 1, .age_s = 300});
    l.set_static({{host(1), 0}, {host(2), 5}, {mac(0x01, 0, 0x5e, 0, 0, 1), 5}});  // group ignored
    EXPECT_EQ(l.size(), 2u);
    EXPECT_EQ(l.static_count(), 2u);
    EXPECT_EQ(l.owned_by(0), 0u);  // statics are outside the per-owner quota
    EXPECT_EQ(l.owned_by(5), 0u);
    EXPECT_FALSE(l.learn(host(1), 3, 10));
    EXPECT_FALSE(l.learn(host(2), 0, 10));
    EXPECT_EQ(l.counters().static_conflicts, 2u);
    EXPECT_FALSE(l.learn(host(2), 5, 10));  // at its owner: fine, no conflict
    EXPECT_EQ(l.counters().static_conflicts, 2u);
    EXPECT_EQ(owner_in(l, host(1)), 0);
    EXPECT_EQ(owner_in(l, host(2)), 5);
    // Statics count toward the total: 2 of 4 left.
    EXPECT_TRUE(l.learn(host(10), 5, 10));  // per_owner 1 of owner 5 still free
    EXPECT_TRUE(l.learn(host(11), 6, 10));
    EXPECT_FALSE(l.learn(host(12), 7, 10));
    EXPECT_TRUE(l.age(1000000));  // the learned ones age, the statics stay
    EXPECT_EQ(l.size(), 2u);
    EXPECT_EQ(owner_in(l, host(1)), 0);
    EXPECT_EQ(owner_in(l, host(2)), 5);
}

TEST(mac_learner, statics_survive_aging_learned_do_not) {
    mac_learner l({.total = 100, .per_owner = 10, .age_s = 300});
    l.set_static({{host(1), 0}});
    ASSERT_TRUE(l.learn(host(2), 3, 10));
    EXPECT_TRUE(l.age(1000000));
    EXPECT_EQ(l.size(), 1u);
    EXPECT_EQ(owner_in(l, host(1)), 0);
    EXPECT_EQ(owner_in(l, host(2)), -1);
    EXPECT_EQ(l.counters().aged, 1u);
    EXPECT_FALSE(l.age(2000000));
    EXPECT_FALSE(l.forget_owner(0));  // statics are not forgotten either
    EXPECT_EQ(l.size(), 1u);
}

TEST(mac_learner, set_static_replaces_learned_and_old_statics) {
    mac_learner l({.total = 100, .per_owner = 10, .age_s = 300});
    ASSERT_TRUE(l.learn(host(1), 3, 10));
    ASSERT_TRUE(l.learn(host(2), 3, 10));
    l.set_static({{host(1), 4}, {host(9), 0}, {host(9), 6}});  // host(9) twice: the last wins
    EXPECT_EQ(l.size(), 3u);
    EXPECT_EQ(l.static_count(), 2u);
    EXPECT_EQ(l.owned_by(3), 1u);
    EXPECT_EQ(owner_in(l, host(1)), 4);
    EXPECT_EQ(owner_in(l, host(9)), 6);
    l.set_static({});  // reload without bridge-mac lines
    EXPECT_EQ(l.size(), 1u);
    EXPECT_EQ(l.static_count(), 0u);
    EXPECT_EQ(owner_in(l, host(1)), -1);
    EXPECT_EQ(owner_in(l, host(2)), 3);
    // Now learnable again.
    EXPECT_TRUE(l.learn(host(1), 3, 20));
}

TEST(mac_learner, set_static_above_total_drops_newest_learned) {
    mac_learner l({.total = 3, .per_owner = 10, .age_s = 300});
    ASSERT_TRUE(l.learn(host(1), 1, 1));
    ASSERT_TRUE(l.learn(host(2), 1, 1));
    ASSERT_TRUE(l.learn(host(3), 1, 1));
    l.set_static({{host(100), 0}, {host(101), 0}});
    EXPECT_EQ(l.size(), 3u);
    EXPECT_EQ(owner_in(l, host(1)), 1);
    EXPECT_EQ(owner_in(l, host(2)), -1);
    EXPECT_EQ(owner_in(l, host(3)), -1);
    EXPECT_EQ(l.counters().limit_dropped, 2u);
    l.set_static({{host(100), 0}, {host(101), 0}, {host(102), 0}, {host(103), 0}});  // statics all kept
    EXPECT_EQ(l.size(), 4u);
    EXPECT_EQ(l.owned_by(1), 0u);
    EXPECT_FALSE(l.learn(host(1), 1, 2));
}

TEST(mac_learner, aging_takes_the_workers_stamps) {
    mac_learner l({.total = 100, .per_owner = 10, .age_s = 300});
    ASSERT_TRUE(l.learn(host(1), 1, 100));  // used by the workers later
    ASSERT_TRUE(l.learn(host(2), 1, 100));  // never used again
    const auto published = l.build();
    const int slot = published->find(host(1));
    ASSERT_NE(slot, engine::mac_table::none);
    published->touch(slot, 350);
    EXPECT_FALSE(l.age(399));  // host(2): 299 s unused
    l.harvest(*published);
    EXPECT_TRUE(l.age(400));  // host(2): 300 s unused
    EXPECT_EQ(l.counters().aged, 1u);
    EXPECT_EQ(owner_in(l, host(1)), 1);
    EXPECT_EQ(owner_in(l, host(2)), -1);
    EXPECT_EQ(l.owned_by(1), 1u);
    // An older stamp in a later harvest does not take the last use back.
    const auto republished = l.build();
    for (const auto& e : republished->entries()) {
        EXPECT_EQ(e.seen, 350u);
    }
    l.harvest(engine::mac_table({{host(1), 1, 120}}));
    EXPECT_EQ(l.entries().at(0).last_used_s, 350u);
    EXPECT_FALSE(l.age(649));
    EXPECT_TRUE(l.age(650));
    EXPECT_EQ(l.size(), 0u);
    EXPECT_EQ(l.owned_by(1), 0u);
    EXPECT_EQ(l.counters().aged, 2u);
}

TEST(mac_learner, refresh_by_learn_event_keeps_entry) {
    mac_learner l({.total = 100, .per_owner = 10, .age_s = 300});
    ASSERT_TRUE(l.learn(host(1), 1, 100));
    EXPECT_FALSE(l.learn(host(1), 1, 300));
    EXPECT_FALSE(l.age(599));
    EXPECT_TRUE(l.age(600));
}

TEST(mac_learner, age_zero_never_ages) {
    mac_learner l({.total = 100, .per_owner = 10, .age_s = 0});
    ASSERT_TRUE(l.learn(host(1), 1, 100));
    EXPECT_FALSE(l.age(4000000000u));
    EXPECT_EQ(l.size(), 1u);
}

TEST(mac_learner, forget_owner_drops_only_its_learned_entries) {
    mac_learner l({});
    l.set_static({{host(50), 2}});
    ASSERT_TRUE(l.learn(host(1), 2, 1));
    ASSERT_TRUE(l.learn(host(2), 2, 1));
    ASSERT_TRUE(l.learn(host(3), 3, 1));
    EXPECT_TRUE(l.forget_owner(2));
    EXPECT_FALSE(l.forget_owner(2));
    EXPECT_FALSE(l.forget_owner(9));
    EXPECT_FALSE(l.forget_owner(5000));
    EXPECT_EQ(l.owned_by(2), 0u);
    EXPECT_EQ(l.size(), 2u);
    EXPECT_EQ(owner_in(l, host(1)), -1);
    EXPECT_EQ(owner_in(l, host(3)), 3);
    EXPECT_EQ(owner_in(l, host(50)), 2);
    EXPECT_EQ(l.counters().aged, 0u);
    EXPECT_EQ(l.counters().limit_dropped, 0u);
}

TEST(mac_learner, set_limits_shrinking_drops_newest_learned) {
    mac_learner l({});
    l.set_static({{host(100), 1}});
    for (uint32_t n = 1; n <= 5; ++n) {
        ASSERT_TRUE(l.learn(host(n), 1, n));  // a1..a5
    }
    for (uint32_t n = 11; n <= 13; ++n) {
        ASSERT_TRUE(l.learn(host(n), 2, n));  // b1..b3
    }
    l.set_limits({.total = 16384, .per_owner = 3, .age_s = 300});
    EXPECT_EQ(l.counters().limit_dropped, 2u);
    EXPECT_EQ(l.owned_by(1), 3u);
    EXPECT_EQ(owner_in(l, host(4)), -1);
    EXPECT_EQ(owner_in(l, host(5)), -1);
    EXPECT_EQ(owner_in(l, host(3)), 1);
    EXPECT_EQ(l.size(), 7u);
    // Total 5 with one static: the four oldest learned stay (a1 a2 a3 b1).
    l.set_limits({.total = 5, .per_owner = 3, .age_s = 300});
    EXPECT_EQ(l.counters().limit_dropped, 4u);
    EXPECT_EQ(l.size(), 5u);
    for (const uint32_t n : {1u, 2u, 3u}) {
        EXPECT_EQ(owner_in(l, host(n)), 1) << n;
    }
    EXPECT_EQ(owner_in(l, host(11)), 2);
    EXPECT_EQ(owner_in(l, host(12)), -1);
    EXPECT_EQ(owner_in(l, host(13)), -1);
    EXPECT_EQ(owner_in(l, host(100)), 1);
    EXPECT_EQ(l.owned_by(2), 1u);
    // A moved entry counts as new at its owner: it is the first to go.
    l.set_limits({.total = 100, .per_owner = 3, .age_s = 300});
    ASSERT_TRUE(l.learn(host(1), 2, 50));
    l.set_limits({.total = 100, .per_owner = 1, .age_s = 300});
    EXPECT_EQ(owner_in(l, host(1)), -1);
    EXPECT_EQ(owner_in(l, host(11)), 2);
    EXPECT_EQ(owner_in(l, host(2)), 1);
    EXPECT_EQ(owner_in(l, host(3)), -1);
    // Growing keeps everything; the limits are reported.
    const size_t before = l.size();
    l.set_limits({.total = 1000, .per_owner = 100, .age_s = 60});
    EXPECT_EQ(l.size(), before);
    EXPECT_EQ(l.limits().age_s, 60u);
}

TEST(mac_learner, json) {
    mac_learner l({.total = 100, .per_owner = 2, .age_s = 30});
    l.set_static({{host(100), 0}});
    l.learn(host(1), 1, 1);
    l.learn(host(2), 1, 1);
    l.learn(host(3), 1, 1);   // limit_dropped
    l.learn(host(1), 2, 1);   // moved
    l.learn(host(100), 2, 1);  // static_conflicts
    l.age(1000);               // aged 2
    l.learn(host(4), 3, 1000);
    const nlohmann::json j = control::mac_learner_json(l);
    EXPECT_EQ(j["size"], 2);
    EXPECT_EQ(j["static"], 1);
    EXPECT_EQ(j["learned"], 1);
    EXPECT_EQ(j["learned_total"], 3);
    EXPECT_EQ(j["aged"], 2);
    EXPECT_EQ(j["moved"], 1);
    EXPECT_EQ(j["limit_dropped"], 1);
    EXPECT_EQ(j["static_conflicts"], 1);
    EXPECT_EQ(j["limits"]["total"], 100);
    EXPECT_EQ(j["limits"]["per_owner"], 2);
    EXPECT_EQ(j["limits"]["age_s"], 30);
    EXPECT_EQ(j.dump().find('\n'), std::string::npos);
}

}  // namespace
