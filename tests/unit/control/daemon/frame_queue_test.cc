// SPDX-License-Identifier: MIT
// control/daemon/frame_queue.hh on real mbufs (EAL --no-huge): GVPE's max-queue (oldest dropped
// first) and max-ttl, the total limit, hand-over, and that every frame is freed exactly once
// and counted (the pool is full again at the end of every test).
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/unit/eal_env.hh"
#include "control/daemon/frame_queue.hh"

namespace {

using unit_eal::g_pool;
constexpr unsigned pool_size = 1023;
const auto* g_env = ::testing::AddGlobalTestEnvironment(new unit_eal::env("frame_queue_test", pool_size));

/// A frame whose first byte tells which one it is.
rte_mbuf* frame(uint8_t tag) {
    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    EXPECT_NE(m, nullptr);
    *reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 60)) = tag;
    return m;
}
uint8_t tag_of(rte_mbuf* m) { return *rte_pktmbuf_mtod(m, uint8_t*); }

void expect_pool_full() { EXPECT_EQ(rte_mempool_avail_count(g_pool), pool_size); }

TEST(frame_queue, keeps_max_queue_frames_dropping_the_oldest_first) {
    {
        control::frame_queue q(100);
        for (uint8_t i = 0; i < 5; ++i) {
            q.push(7, frame(i), 3, 1000);
        }
        EXPECT_EQ(q.size(), 3u);
        EXPECT_EQ(q.dropped(), 2u);
        auto ready = q.take_ready([](uint16_t peer) { return peer == 7; });
        ASSERT_EQ(ready.size(), 1u);
        auto& got = ready[0].second;
        ASSERT_EQ(got.size(), 3u);
        EXPECT_EQ(tag_of(got[0]), 2);  // 0 and 1 went first
        EXPECT_EQ(tag_of(got[2]), 4);
        for (rte_mbuf* m : got) {
            rte_pktmbuf_free(m);
        }
        q.count_sent(3);
        EXPECT_TRUE(q.empty());
        EXPECT_EQ(q.sent(), 3u);
    }
    expect_pool_full();
}

TEST(frame_queue, max_queue_zero_still_keeps_one) {
    {
        control::frame_queue q(100);
        q.push(1, frame(1), 0, 1000);
        q.push(1, frame(2), 0, 1000);
        EXPECT_EQ(q.size(), 1u);
        EXPECT_EQ(q.dropped(), 1u);
    }
    expect_pool_full();  // the destructor frees what is left
}

TEST(frame_queue, the_total_limit_refuses_new_frames_across_peers) {
    {
        control::frame_queue q(4);
        for (uint16_t peer = 1; peer <= 6; ++peer) {
            q.push(peer, frame(static_cast<uint8_t>(peer)), 10, 1000);
        }
        EXPECT_EQ(q.size(), 4u);
        EXPECT_EQ(q.dropped(), 2u);
        std::vector<uint16_t> ids;
        for (auto& [peer, frames] : q.take_ready([](uint16_t p) { return p % 2 == 0; })) {
            ids.push_back(peer);
            for (rte_mbuf* m : frames) {
                rte_pktmbuf_free(m);
            }
        }
        EXPECT_EQ(ids, (std::vector<uint16_t>{2, 4}));  // only the ready ones, in id order
        EXPECT_EQ(q.size(), 2u);
    }
    expect_pool_full();
}

TEST(frame_queue, expire_drops_what_is_due_and_forgets_empty_peers) {
    {
        control::frame_queue q(100);
        q.push(1, frame(1), 10, 100);
        q.push(1, frame(2), 10, 200);
        q.push(2, frame(3), 10, 150);
        q.expire(150);  // due at <= now
        EXPECT_EQ(q.size(), 1u);
        EXPECT_EQ(q.dropped(), 2u);
        EXPECT_EQ(q.take_ready([](uint16_t) { return false; }).size(), 0u);
        auto left = q.take_ready([](uint16_t) { return true; });
        ASSERT_EQ(left.size(), 1u);
        EXPECT_EQ(left[0].first, 1);
        q.push(1, left[0].second.front(), 10, 200);  // back, as it was
        q.expire(199);
        EXPECT_EQ(q.size(), 1u);
    }
    expect_pool_full();
}

TEST(frame_queue, drop_peer_and_take_of_an_unknown_peer) {
    {
        control::frame_queue q(100);
        q.push(3, frame(1), 10, 1000);
        q.push(3, frame(2), 10, 1000);
        q.push(4, frame(3), 10, 1000);
        q.drop_peer(3);
        q.drop_peer(9);
        EXPECT_EQ(q.dropped(), 2u);
        EXPECT_EQ(q.size(), 1u);
        EXPECT_TRUE(q.take_ready([](uint16_t p) { return p == 9; }).empty());
        q.clear();  // shutdown: freed, not counted
        EXPECT_EQ(q.dropped(), 2u);
        EXPECT_TRUE(q.empty());
        q.push(4, frame(4), 10, 1000);  // usable after clear
        EXPECT_EQ(q.size(), 1u);
    }
    expect_pool_full();
}

}  // namespace

namespace {

TEST(frame_queue, every_drop_is_counted_by_its_reason) {
    {
        control::frame_queue q(3);
        q.push(1, frame(1), 1, 100);
        q.push(1, frame(2), 1, 100);   // max-queue 1: frame 1 goes
        q.push(2, frame(3), 5, 50);
        q.push(3, frame(4), 5, 500);
        q.push(4, frame(5), 5, 500);   // total limit 3: refused
        q.expire(60);                  // frame 3
        q.drop_peer(3);                // frame 4: the caller's reason
        q.count_dropped(1);
        const auto& d = q.drops();
        EXPECT_EQ(d.max_queue, 1u);
        EXPECT_EQ(d.total_limit, 1u);
        EXPECT_EQ(d.max_ttl, 1u);
        EXPECT_EQ(d.other, 2u);
        EXPECT_EQ(q.dropped(), 5u);
        EXPECT_EQ(q.queued(), 5u);     // every push, taken or not
        EXPECT_EQ(q.size(), 1u);
        EXPECT_EQ(q.sent(), 0u);
    }
    expect_pool_full();
}

TEST(frame_queue, refused_frames_keep_queued_equal_to_sent_dropped_and_waiting) {
    control::frame_queue q;
    q.count_refused(3);  // for a node that does not exist, or is disabled
    EXPECT_EQ(q.queued(), 3U);
    EXPECT_EQ(q.dropped(), 3U);
    EXPECT_EQ(q.drops().other, 3U);
    EXPECT_EQ(q.queued(), q.sent() + q.dropped() + q.size());
}

}  // namespace
