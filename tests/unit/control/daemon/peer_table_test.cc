// SPDX-License-Identifier: MIT
// control/daemon/peer_table.hh build(): which peers a broadcast reaches now (broadcast_to) and
// which get a queued copy (queue_flood_for) -- including configured peers the table has no
// entry for yet (never connected, no path), as GVPE queues a broadcast for every node.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "control/daemon/peer_table.hh"

namespace {

crypto::aead_choice cipher() {
    auto c = crypto::select_aead("aes256-gcm", "auto");
    EXPECT_TRUE(c.has_value());
    return c.value();
}

bool has(const std::vector<uint16_t>& v, uint16_t id) { return std::find(v.begin(), v.end(), id) != v.end(); }

TEST(peer_table, broadcast_copies_wait_for_every_configured_peer_without_a_session) {
    control::peer_table t(cipher(), 1);
    engine::dataplane_snapshot base;
    base.self_id = 1;
    control::peer_path p;
    p.next_hop_mac = rte_ether_addr{{2, 0, 0, 0, 0, 3}};
    t.set_path(3, p);  // a path, no keys: an entry that is not tx_ready
    auto s = t.build(base);
    EXPECT_TRUE(has(s->queue_flood_for, 3));
    EXPECT_FALSE(has(s->queue_flood_for, 2)) << "not a flood member yet";
    // the daemon names the configured peers (keys known, not disabled): 2 and 4 have no entry
    t.set_flood_members({1, 2, 3, 4});
    s = t.build(base);
    EXPECT_TRUE(has(s->queue_flood_for, 2));
    EXPECT_TRUE(has(s->queue_flood_for, 3));
    EXPECT_TRUE(has(s->queue_flood_for, 4));
    EXPECT_FALSE(has(s->queue_flood_for, 1)) << "never ourselves";
    EXPECT_EQ(std::count(s->queue_flood_for.begin(), s->queue_flood_for.end(), 3), 1) << "once each";
    EXPECT_TRUE(s->broadcast_to.empty());
    ASSERT_GE(s->peers.size(), 5U) << "room for every member: workers index peers by id";
    EXPECT_FALSE(s->peers[4].tx_ready);
}

}  // namespace
