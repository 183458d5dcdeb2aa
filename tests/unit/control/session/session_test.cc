// SPDX-License-Identifier: MIT
// Unit tests of the session state machine (control/session/session.hh): two managers joined by a
// simulated link with a 10 ms step, and a model of the data plane that installs, promotes and
// retires keys exactly as the actions say and checks every data packet against the receiver's
// installed keys. Like the real data plane it holds at most ss::max_rx_keys receive keys per peer
// and, when an install finds them full, drops the oldest (counted: the manager must never let
// that happen). Table-driven connect-mode timelines, the retry back-off schedule, keepalive
// timeout, make-before-break rekeys without loss or events, simultaneous initiation.
#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "control/session/session.hh"
#include "tests/unit/control/session/hs_test_util.hh"

namespace hs = control::handshake;
namespace ss = control::session;
using control::connect_mode;
using ss::event_kind;

namespace {

constexpr uint64_t ms = 1'000'000ULL;
constexpr uint64_t sec = 1'000'000'000ULL;

hs::clock_reading clock_at(uint64_t mono_ns) { return {mono_ns + sec, mono_ns + 1'700'000'000ULL * sec}; }

/// One node: its manager and a model of its data plane for the single peer.
struct node_sim {
    uint16_t id;
    uint16_t peer;
    std::unique_ptr<ss::manager> m;
    std::map<uint8_t, crypto::secret<32>> recv;          ///< installed receive keys by our key id
    std::map<uint8_t, std::pair<uint8_t, crypto::secret<32>>> parked_send;  ///< next: by recv id
    std::optional<std::pair<uint8_t, crypto::secret<32>>> send;  ///< peer's key id + key
    std::vector<std::pair<uint64_t, event_kind>> events;
    std::vector<uint64_t> initiations_at;
    std::vector<uint8_t> last_initiation;
    size_t max_recv_keys = 0;
    std::deque<uint8_t> install_order;  ///< receive key ids, oldest install first
    std::set<uint8_t> backstop_dropped;  ///< keys the data plane dropped because its slots were full
    std::vector<std::vector<uint8_t>> endpoints;  ///< learn_endpoint addresses, in order
    uint64_t keepalives = 0;
    bool no_path = false;  ///< initiations cannot be sent (the daemon reports them unsent)
    bool ours_relayed = false;  ///< the daemon says our initiations go through a router
};

struct packet {
    bool handshake;
    std::vector<uint8_t> bytes;  // handshake
    uint8_t key_id = 0;          // data
    crypto::secret<32> key;
    bool keepalive = false;
};

struct sim {
    node_sim n[2];
    std::deque<std::pair<int, packet>> in_flight;  // (destination index, packet), delivered next step
    uint64_t now = 0;
    bool link_up = true;
    std::function<bool(int dst, const packet&)> lose;  ///< true: the link loses this packet
    uint64_t data_sent = 0, data_delivered = 0, data_lost = 0;

    sim(connect_mode mode_a, connect_mode mode_b, double keepalive = 60, double rekey = 3607,
        connect_mode self_a = connect_mode::always, connect_mode self_b = connect_mode::always,
        double max_retry = 3600) {
        const connect_mode modes[2] = {mode_a, mode_b};
        const connect_mode selfs[2] = {self_a, self_b};
        for (int i = 0; i < 2; ++i) {
            node_sim& x = n[i];
            x.id = static_cast<uint16_t>(i + 1);
            x.peer = static_cast<uint16_t>(2 - i);
            ss::conf c;
            c.self = hs_test::make_identity(x.id, static_cast<uint8_t>(0x11 * (i + 1)));
            c.self_connect = selfs[i];
            c.keepalive_s = keepalive;
            c.rekey_s = rekey;
            c.limits.rate_per_s = 0;
            x.m = std::make_unique<ss::manager>(std::move(c), hs_test::seeded_rng(100 + static_cast<uint64_t>(i)));
            ss::peer_conf pc;
            pc.id = x.peer;
            pc.pub = hs_test::public_of(static_cast<uint8_t>(0x11 * (2 - i)));
            // The connect mode a node applies to its peer is the peer's entry in the shared config.
            pc.connect = modes[1 - i];
            pc.max_retry_s = max_retry;
            ss::actions out;
            EXPECT_TRUE(x.m->set_peer(pc, clock_at(0), out));
            EXPECT_TRUE(out.empty());
        }
    }

    void apply(int i, ss::actions& acts) {
        node_sim& x = n[i];
        for (ss::action& a : acts) {
            if (auto* h = std::get_if<ss::send_handshake>(&a)) {
                if (h->bytes[0] == 2) {
                    x.initiations_at.push_back(now);
                    x.last_initiation = h->bytes;
                    if (x.no_path) {
                        x.m->on_initiation_unsent(x.peer);
                        continue;
                    }
                }
                if (link_up) {
                    push(1 - i, packet{true, std::move(h->bytes)});
                }
            } else if (auto* k = std::get_if<ss::install_keys>(&a)) {
                EXPECT_EQ(k->keys.peer_id, x.peer);
                const uint8_t id = k->keys.recv_key_id;
                if (!x.recv.contains(id) && x.recv.size() >= ss::max_rx_keys) {
                    // the data plane's backstop (control/daemon/peer_table.cc): the oldest key goes
                    const uint8_t oldest = x.install_order.front();
                    x.recv.erase(oldest);
                    x.parked_send.erase(oldest);
                    x.backstop_dropped.insert(oldest);
                }
                std::erase(x.install_order, id);
                x.install_order.push_back(id);
                x.recv[id] = k->keys.recv;
                if (k->role == ss::key_role::current) {
                    x.send = std::make_pair(k->keys.send_key_id, k->keys.send);
                } else {
                    x.parked_send[k->keys.recv_key_id] = std::make_pair(k->keys.send_key_id, k->keys.send);
                }
                x.max_recv_keys = std::max(x.max_recv_keys, x.recv.size());
            } else if (auto* p = std::get_if<ss::promote_keys>(&a)) {
                auto it = x.parked_send.find(p->recv_key_id);
                ASSERT_NE(it, x.parked_send.end());
                x.send = it->second;
                x.parked_send.erase(it);
            } else if (auto* r = std::get_if<ss::retire_key>(&a)) {
                EXPECT_EQ(x.recv.erase(r->key_id) + x.backstop_dropped.erase(r->key_id), 1U)
                    << "retire of a key not installed";
                std::erase(x.install_order, r->key_id);
                x.parked_send.erase(r->key_id);
                if (x.recv.empty()) {
                    x.send.reset();
                }
            } else if (std::get_if<ss::send_keepalive>(&a) != nullptr) {
                ++x.keepalives;
                send_data(i, true);
            } else if (auto* l = std::get_if<ss::learn_endpoint>(&a)) {
                EXPECT_EQ(l->peer, x.peer);
                x.endpoints.push_back(l->address);
            } else if (auto* e = std::get_if<ss::event>(&a)) {
                x.events.push_back({now, e->kind});
            }
        }
        acts.clear();
    }

    /// Puts a packet on the link towards node `dst`, unless `lose` takes it (data counts as lost).
    void push(int dst, packet p) {
        if (lose && lose(dst, p)) {
            if (!p.handshake && !p.keepalive) {
                ++data_lost;
            }
            return;
        }
        in_flight.push_back({dst, std::move(p)});
    }

    /// The data plane of node i sends one packet (data or keepalive) with its send key.
    bool send_data(int i, bool keepalive = false) {
        node_sim& x = n[i];
        if (!x.send) {
            return false;
        }
        if (!keepalive) {
            ++data_sent;
            x.m->on_data_sent(x.peer, clock_at(now));
        }
        if (link_up) {
            push(1 - i, packet{false, {}, x.send->first, x.send->second, keepalive});
        } else if (!keepalive) {
            ++data_lost;
        }
        return true;
    }

    void deliver(int i, packet& p) {
        node_sim& x = n[i];
        ss::actions out;
        if (p.handshake) {
            x.m->on_handshake_packet(p.bytes, i == 0 ? hs_test::src_b : hs_test::src_a, clock_at(now), false, out, {},
                                     x.ours_relayed);
        } else {
            auto it = x.recv.find(p.key_id);
            const bool ok = it != x.recv.end() && it->second == p.key;
            if (!p.keepalive) {
                ++(ok ? data_delivered : data_lost);
            }
            if (ok) {
                x.m->on_authenticated_packet(x.peer, p.key_id, p.keepalive, clock_at(now), out);
            }
        }
        apply(i, out);
    }

    /// One 10 ms step: deliver what was in flight, then tick both.
    void step() {
        now += 10 * ms;
        auto batch = std::move(in_flight);
        in_flight.clear();
        for (auto& [dst, p] : batch) {
            deliver(dst, p);
        }
        for (int i = 0; i < 2; ++i) {
            ss::actions out;
            n[i].m->tick(clock_at(now), out);
            apply(i, out);
        }
    }
    void run_until(uint64_t t, bool data_every_step = false) {
        while (now < t) {
            step();
            if (data_every_step) {
                send_data(0);
                send_data(1);
            }
        }
    }
    void queue(int i) {
        ss::actions out;
        n[i].m->on_packets_queued(n[i].peer, clock_at(now), out);
        apply(i, out);
    }
    ss::peer_state state(int i) const { return n[i].m->status(n[i].peer, clock_at(now))->state; }
    ss::peer_status status(int i) const { return *n[i].m->status(n[i].peer, clock_at(now)); }
    size_t count(int i, event_kind k) const {
        return static_cast<size_t>(std::count_if(n[i].events.begin(), n[i].events.end(),
                                                 [&](const auto& e) { return e.second == k; }));
    }
};

// ---- retry schedule -----------------------------------------------------------------------------

TEST(retry, gvpe_schedule_cap_and_low_power) {
    constexpr double expect[] = {0.9, 1.8, 2.7, 3.6, 1.8, 1.8, 2.7, 3.6, 3.6, 1.8, 2.7, 3.6, 7.2, 1.8, 2.7, 3.6, 14.4};
    for (uint32_t i = 0; i < std::size(expect); ++i) {
        EXPECT_NEAR(static_cast<double>(ss::retry_interval_ns(i, 3600, false)) / 1e9, expect[i], 1e-6) << i;
        EXPECT_NEAR(static_cast<double>(ss::retry_interval_ns(i, 3600, true)) / 1e9, expect[i] * 4, 1e-6) << i;
    }
    EXPECT_NEAR(static_cast<double>(ss::retry_interval_ns(100, 3600, false)) / 1e9, 3600, 1e-6);
    EXPECT_NEAR(static_cast<double>(ss::retry_interval_ns(16, 10, false)) / 1e9, 10, 1e-6);
    EXPECT_NEAR(static_cast<double>(ss::retry_interval_ns(1000000, 3600, false)) / 1e9, 3600, 1e-6);
}

TEST(retry, unreachable_peer_is_retried_on_the_schedule) {
    sim s(connect_mode::always, connect_mode::always, 60, 3607, connect_mode::always, connect_mode::always, 5);
    s.link_up = false;
    s.run_until(60 * sec);
    // 0, +0.9, +1.8, +2.7, +3.6, +1.8, +1.8, +2.7, +3.6, +3.6, then capped at max-retry 5 s
    const double gaps[] = {0.9, 1.8, 2.7, 3.6, 1.8, 1.8, 2.7, 3.6, 3.6, 1.8, 2.7, 3.6, 5, 1.8, 2.7, 3.6, 5};
    const auto& at = s.n[0].initiations_at;
    ASSERT_GE(at.size(), std::size(gaps));
    EXPECT_EQ(at[0], 10 * ms);  // first tick
    for (size_t i = 0; i < std::size(gaps); ++i) {
        const double gap = static_cast<double>(at[i + 1] - at[i]) / 1e9;
        EXPECT_NEAR(gap, gaps[i], 0.011) << "retry " << i;  // 10 ms tick granularity
    }
    EXPECT_EQ(s.state(0), ss::peer_state::connecting);
    EXPECT_EQ(s.status(0).stats.initiations_sent, at.size());
    EXPECT_TRUE(s.n[0].events.empty());
}

// ---- connect modes --------------------------------------------------------------------------------

struct mode_case {
    const char* name;
    connect_mode a_sees_b, b_sees_a;  // the peer's mode as each side configures it
    bool queue_at_a;                  // the data plane of A queues packets for B at t=1 s
    bool up;                          // both reach up within 10 s
    bool a_initiates, b_initiates;
};

constexpr mode_case mode_cases[] = {
    {"always_always", connect_mode::always, connect_mode::always, false, true, true, true},
    {"always_never", connect_mode::always, connect_mode::never, false, true, true, false},
    {"never_always", connect_mode::never, connect_mode::always, false, true, false, true},
    {"never_never", connect_mode::never, connect_mode::never, false, false, false, false},
    {"never_never_queued", connect_mode::never, connect_mode::never, true, false, false, false},
    {"ondemand_never", connect_mode::ondemand, connect_mode::never, false, false, false, false},
    {"ondemand_never_queued", connect_mode::ondemand, connect_mode::never, true, true, true, false},
    {"ondemand_ondemand_queued", connect_mode::ondemand, connect_mode::ondemand, true, true, true, false},
    {"disabled_always", connect_mode::disabled, connect_mode::always, false, false, false, true},
    {"always_disabled", connect_mode::always, connect_mode::disabled, false, false, true, false},
    {"disabled_disabled_queued", connect_mode::disabled, connect_mode::disabled, true, false, false, false},
};

TEST(connect_modes, table) {
    for (const mode_case& c : mode_cases) {
        SCOPED_TRACE(c.name);
        // sim(mode_a, mode_b): mode_a is A's own entry, which B applies to A, and vice versa.
        sim s(c.b_sees_a, c.a_sees_b);
        s.run_until(1 * sec);
        if (c.queue_at_a) {
            s.queue(0);
        }
        s.run_until(10 * sec);
        const bool up = s.state(0) == ss::peer_state::up && s.state(1) == ss::peer_state::up;
        EXPECT_EQ(up, c.up);
        EXPECT_EQ(!s.n[0].initiations_at.empty(), c.a_initiates);
        EXPECT_EQ(!s.n[1].initiations_at.empty(), c.b_initiates);
        EXPECT_EQ(s.count(0, event_kind::node_up), c.up ? 1U : 0U);
        EXPECT_EQ(s.count(1, event_kind::node_up), c.up ? 1U : 0U);
        EXPECT_EQ(s.count(0, event_kind::node_down) + s.count(1, event_kind::node_down), 0U);
        if (c.b_sees_a == connect_mode::disabled && c.a_initiates) {
            EXPECT_GT(s.status(1).stats.failed[static_cast<size_t>(hs::reject::peer_disabled)], 0U);
            EXPECT_EQ(s.status(1).stats.responses_sent, 0U);
        }
        if (up) {
            EXPECT_TRUE(s.send_data(0));
            EXPECT_TRUE(s.send_data(1));
            s.step();
            EXPECT_EQ(s.data_lost, 0U);
            EXPECT_EQ(s.data_delivered, 2U);
        }
    }
}

TEST(connect_modes, ondemand_stops_without_demand_and_retries_on_new_packets) {
    sim s(connect_mode::never, connect_mode::ondemand);  // A sees B as ondemand, B sees A as never
    s.link_up = false;
    s.queue(0);
    EXPECT_EQ(s.n[0].initiations_at.size(), 1U);
    s.queue(0);  // within 1 s: no extra attempt
    EXPECT_EQ(s.n[0].initiations_at.size(), 1U);
    s.run_until(1950 * ms);  // scheduled retries at 0.9 s and 2.7 s
    const size_t before = s.n[0].initiations_at.size();
    EXPECT_EQ(before, 2U);
    s.queue(0);  // >= 1 s after the last attempt: forced retry
    EXPECT_EQ(s.n[0].initiations_at.size(), before + 1);
    // max-ttl (60 s) after the last queued packet the demand is gone: attempts stop
    s.run_until(200 * sec);
    const size_t total = s.n[0].initiations_at.size();
    EXPECT_LT(s.n[0].initiations_at.back(), 62 * sec);
    s.run_until(400 * sec);
    EXPECT_EQ(s.n[0].initiations_at.size(), total);
    EXPECT_EQ(s.state(0), ss::peer_state::down);
}

TEST(connect_modes, both_ondemand_idle_teardown_and_reconnect_on_demand) {
    sim s(connect_mode::ondemand, connect_mode::ondemand, 10, 3607, connect_mode::ondemand, connect_mode::ondemand);
    s.queue(0);
    s.run_until(1 * sec);
    ASSERT_EQ(s.state(0), ss::peer_state::up);
    ASSERT_EQ(s.state(1), ss::peer_state::up);
    // data keeps it up
    for (int i = 0; i < 30; ++i) {
        s.send_data(0);
        s.run_until(s.now + 1 * sec);
    }
    EXPECT_EQ(s.state(0), ss::peer_state::up);
    // idle for `keepalive` (10 s): both sides tear down, fire node-down, do not reconnect
    s.run_until(s.now + 12 * sec);
    EXPECT_EQ(s.state(0), ss::peer_state::down);
    EXPECT_EQ(s.state(1), ss::peer_state::down);
    EXPECT_EQ(s.count(0, event_kind::node_down), 1U);
    EXPECT_EQ(s.count(1, event_kind::node_down), 1U);
    EXPECT_TRUE(s.n[0].recv.empty());
    EXPECT_TRUE(s.n[1].recv.empty());
    const size_t inits = s.n[0].initiations_at.size() + s.n[1].initiations_at.size();
    s.run_until(s.now + 100 * sec);
    EXPECT_EQ(s.n[0].initiations_at.size() + s.n[1].initiations_at.size(), inits);
    s.queue(1);
    s.run_until(s.now + 1 * sec);
    EXPECT_EQ(s.state(0), ss::peer_state::up);
    EXPECT_EQ(s.count(0, event_kind::node_up), 2U);
}

TEST(connect_modes, ondemand_with_always_self_keeps_the_session) {
    sim s(connect_mode::always, connect_mode::ondemand, 10);  // B is ondemand, A always
    s.run_until(120 * sec);
    EXPECT_EQ(s.state(0), ss::peer_state::up);
    EXPECT_EQ(s.state(1), ss::peer_state::up);
    EXPECT_EQ(s.count(0, event_kind::node_down) + s.count(1, event_kind::node_down), 0U);
}

// ---- keepalive ----------------------------------------------------------------------------------

TEST(keepalive, idle_link_is_probed_and_stays_up) {
    sim s(connect_mode::always, connect_mode::always, 10);
    s.run_until(300 * sec);
    EXPECT_EQ(s.state(0), ss::peer_state::up);
    EXPECT_EQ(s.state(1), ss::peer_state::up);
    EXPECT_EQ(s.count(0, event_kind::node_down) + s.count(1, event_kind::node_down), 0U);
    // probes after 10 s idle, answered: a handful per 10 s, not a storm
    const uint64_t ka = s.n[0].keepalives + s.n[1].keepalives;
    EXPECT_GT(ka, 20U);
    EXPECT_LT(ka, 120U);
}

TEST(keepalive, timeout_fires_node_down_then_always_reconnects) {
    sim s(connect_mode::always, connect_mode::always, 10);
    s.run_until(2 * sec);
    ASSERT_EQ(s.state(0), ss::peer_state::up);
    const uint64_t last_rx = s.status(0).last_received_ns;
    s.link_up = false;
    const uint64_t ka_before = s.n[0].keepalives;
    s.run_until(40 * sec);
    EXPECT_GE(s.n[0].keepalives - ka_before, 4U);  // probes every 3 s from 10 s idle
    ASSERT_EQ(s.count(0, event_kind::node_down), 1U);
    const uint64_t down_at = s.n[0].events.back().first;
    EXPECT_GE(down_at + sec, last_rx + 25 * sec);  // keepalive + 15 s
    EXPECT_LE(down_at, last_rx + 25 * sec + 20 * ms);
    EXPECT_TRUE(s.n[0].recv.empty());
    // `always`: the reconnect attempt starts in the same tick
    ASSERT_FALSE(s.n[0].initiations_at.empty());
    EXPECT_GE(s.n[0].initiations_at.back(), down_at);
    s.link_up = true;
    s.run_until(60 * sec);
    EXPECT_EQ(s.state(0), ss::peer_state::up);
    EXPECT_EQ(s.state(1), ss::peer_state::up);
    EXPECT_EQ(s.count(0, event_kind::node_up), 2U);
}

TEST(keepalive, never_peer_does_not_reconnect) {
    sim s(connect_mode::never, connect_mode::always, 10);  // A sees B as always, B sees A as never
    s.run_until(2 * sec);
    ASSERT_EQ(s.state(1), ss::peer_state::up);
    s.link_up = false;
    s.run_until(60 * sec);
    EXPECT_EQ(s.count(1, event_kind::node_down), 1U);
    EXPECT_EQ(s.state(1), ss::peer_state::down);
    EXPECT_TRUE(s.n[1].initiations_at.empty());
}

TEST(reconnect, never_peer_that_is_down_gets_no_initiations) {
    // SIGHUP / `dvpectl reconnect` runs reconnect() for every peer: a `connect = never` peer that
    // is down must not get a retry series (GVPE's HUP does not connect to C_NEVER nodes either).
    sim s(connect_mode::never, connect_mode::always, 10);  // B sees A as never
    s.link_up = false;
    s.run_until(2 * sec);
    ASSERT_EQ(s.state(1), ss::peer_state::down);
    ss::actions out;
    EXPECT_FALSE(s.n[1].m->reconnect(s.n[1].peer, clock_at(s.now), out));  // left alone, and says so
    s.apply(1, out);
    s.run_until(60 * sec);
    EXPECT_TRUE(s.n[1].initiations_at.empty());
    EXPECT_EQ(s.state(1), ss::peer_state::down);
}

TEST(reconnect, never_peer_that_is_up_is_rekeyed) {
    sim s(connect_mode::never, connect_mode::always, 10);
    s.run_until(2 * sec);
    ASSERT_EQ(s.state(1), ss::peer_state::up);
    ss::actions out;
    EXPECT_TRUE(s.n[1].m->reconnect(s.n[1].peer, clock_at(s.now), out));
    s.apply(1, out);
    EXPECT_EQ(s.n[1].initiations_at.size(), 1U);  // make-before-break
    s.run_until(4 * sec);
    EXPECT_EQ(s.state(1), ss::peer_state::up);
}

// ---- rekey: make-before-break --------------------------------------------------------------------

TEST(rekey, make_before_break_loses_nothing_and_fires_no_event) {
    sim s(connect_mode::always, connect_mode::always, 10, 30);
    s.run_until(1 * sec);
    ASSERT_EQ(s.state(0), ss::peer_state::up);
    s.run_until(300 * sec, true);  // data both ways every 10 ms
    s.step();                      // deliver the last packets
    EXPECT_EQ(s.data_lost, 0U);
    EXPECT_EQ(s.data_delivered, s.data_sent);
    EXPECT_EQ(s.count(0, event_kind::node_up), 1U);
    EXPECT_EQ(s.count(1, event_kind::node_up), 1U);
    EXPECT_EQ(s.count(0, event_kind::node_down) + s.count(1, event_kind::node_down), 0U);
    const auto a = s.status(0), b = s.status(1);
    EXPECT_GE(a.stats.rekeys, 7U);
    EXPECT_EQ(a.stats.rekeys, b.stats.rekeys);
    EXPECT_LE(a.key_age_ns, 41 * sec);
    // B (id 2) rekeys; A (id 1) waits 10 s longer (docs/gvpe-migration.md "Rekey") and so never gets to
    EXPECT_EQ(s.n[0].initiations_at.size(), 1U);
    EXPECT_GE(s.n[1].initiations_at.size(), 7U);
    // old receive keys are retired after the grace period; never more than the data plane holds
    EXPECT_LE(s.n[0].max_recv_keys, ss::max_rx_keys);
    EXPECT_LE(s.n[1].max_recv_keys, ss::max_rx_keys);
    EXPECT_TRUE(s.n[0].backstop_dropped.empty());
    EXPECT_TRUE(s.n[1].backstop_dropped.empty());
    s.run_until(s.now + 15 * sec);  // the last rekey was >= 10 s ago: only the current key is left
    EXPECT_LE(s.n[0].recv.size(), 2U);
}

TEST(rekey, counter_limit_triggers_a_rekey) {
    sim s(connect_mode::always, connect_mode::always, 10);
    s.run_until(1 * sec);
    ASSERT_EQ(s.state(0), ss::peer_state::up);
    const uint8_t old = s.status(0).current_key_id;
    ss::actions out;
    s.n[0].m->on_counter_limit(2, clock_at(s.now), out);
    ASSERT_EQ(out.size(), 1U);
    s.apply(0, out);
    s.run_until(s.now + 500 * ms, true);
    EXPECT_NE(s.status(0).current_key_id, old);
    EXPECT_EQ(s.status(0).stats.rekeys, 1U);
    EXPECT_EQ(s.data_lost, 0U);
    s.run_until(s.now + 11 * sec, true);
    EXPECT_EQ(s.n[0].recv.count(old), 0U);  // retired after the grace period
    EXPECT_EQ(s.data_lost, 0U);
}

TEST(rekey, lost_confirmation_heals_through_data_or_probe) {
    sim s(connect_mode::never, connect_mode::always, 10);  // only A initiates
    s.run_until(2 * sec);
    ASSERT_EQ(s.state(0), ss::peer_state::up);
    // Make A rekey and drop everything after the response reached A (the confirmation).
    ss::actions out;
    s.n[0].m->on_counter_limit(2, clock_at(s.now), out);
    s.apply(0, out);
    s.step();  // B consumes the initiation, responds
    s.step();  // A consumes the response: installs current, sends the confirming keepalive
    s.in_flight.clear();
    EXPECT_EQ(s.n[1].recv.size(), 2U);  // B: current + next
    // B keeps sending with its old keys, A still accepts them (retiring, grace 10 s)
    s.send_data(1);
    s.step();
    EXPECT_EQ(s.data_lost, 0U);
    // A's next data packet confirms the new keys to B
    s.send_data(0);
    s.step();
    s.send_data(1);
    s.step();
    EXPECT_EQ(s.data_lost, 0U);
    EXPECT_EQ(s.status(1).stats.rekeys, 1U);
}

TEST(rekey, lost_responses_never_drop_the_key_in_use) {
    // A rekeys; B's first three responses are lost, so B installs three next keys in a row while
    // A keeps sending with the current keys. B must never hold more receive keys than the data
    // plane can (which would drop its oldest: the current key A is using).
    sim s(connect_mode::never, connect_mode::always, 10);  // only A initiates
    s.run_until(2 * sec);
    ASSERT_EQ(s.state(0), ss::peer_state::up);
    const uint8_t b_current = s.status(1).current_key_id;
    int responses_lost = 0;
    s.lose = [&](int dst, const packet& p) {
        if (dst == 0 && p.handshake && p.bytes[0] == 3 && responses_lost < 3) {
            ++responses_lost;
            return true;
        }
        return false;
    };
    ss::actions out;
    s.n[0].m->on_counter_limit(2, clock_at(s.now), out);
    s.apply(0, out);
    s.run_until(s.now + 8 * sec, true);  // retries at +0.9, +2.7, +5.4 s; data both ways every step
    ASSERT_EQ(responses_lost, 3);
    EXPECT_EQ(s.status(0).stats.rekeys, 1U) << "the fourth response got through";
    EXPECT_EQ(s.status(1).stats.rekeys, 1U);
    EXPECT_NE(s.status(1).current_key_id, b_current);
    EXPECT_TRUE(s.n[1].backstop_dropped.empty()) << "the data plane had to drop a key";
    EXPECT_LE(s.n[1].max_recv_keys, ss::max_rx_keys);
    s.step();
    EXPECT_EQ(s.data_lost, 0U);
    EXPECT_EQ(s.data_delivered, s.data_sent);
}

TEST(rekey, lossy_handshakes_and_keepalives_never_lose_data) {
    // Both nodes rekey every 5 s over a link that loses 40 % of the handshake messages and
    // keepalives (confirmations included) but no data: whatever the order of installs, promotions
    // and retirements, every data packet meets an installed key and the data plane never runs
    // out of receive slots.
    sim s(connect_mode::always, connect_mode::always, 10, 5);
    std::mt19937 rng(7);
    s.lose = [&](int, const packet& p) { return (p.handshake || p.keepalive) && rng() % 10 < 4; };
    s.run_until(300 * sec, true);
    s.lose = nullptr;
    s.step();
    EXPECT_GE(s.status(0).stats.rekeys + s.status(1).stats.rekeys, 20U);
    for (int i = 0; i < 2; ++i) {
        EXPECT_TRUE(s.n[i].backstop_dropped.empty()) << "node " << i;
        EXPECT_LE(s.n[i].max_recv_keys, ss::max_rx_keys) << "node " << i;
    }
    EXPECT_EQ(s.data_lost, 0U);
    EXPECT_EQ(s.data_delivered, s.data_sent);
    EXPECT_EQ(s.count(0, event_kind::node_down) + s.count(1, event_kind::node_down), 0U);
}

// ---- data-plane feedback (the daemon samples each worker's per-peer counters) ------------------------

TEST(feedback, idle_multi_worker_rekey_promotes_the_new_key) {
    // B runs two workers. Worker 1 received A's traffic under the old keys long ago and nothing
    // since; A's confirmation of a rekey (a keepalive under the new keys) lands on worker 0. The
    // sample must report the new key, so that B promotes it and sends with it.
    sim s(connect_mode::never, connect_mode::always, 10);  // only A initiates
    s.run_until(2 * sec);
    ASSERT_EQ(s.state(1), ss::peer_state::up);
    const uint8_t old_key = s.status(1).current_key_id;
    ss::actions out;
    s.n[0].m->on_counter_limit(2, clock_at(s.now), out);
    s.apply(0, out);
    s.step();  // B answers and installs the next keys
    ASSERT_EQ(s.n[1].parked_send.size(), 1U);
    const uint8_t new_key = s.n[1].parked_send.begin()->first;
    s.step();  // A completes and sends its confirmation
    ASSERT_EQ(s.in_flight.size(), 1U);
    ASSERT_TRUE(s.in_flight.front().second.keepalive);
    ASSERT_EQ(s.in_flight.front().second.key_id, new_key);
    s.in_flight.clear();  // it reaches B's worker 0: B learns of it from the counters
    const ss::rx_sample before[] = {{100, 2, old_key}, {50, 3, old_key}};
    const ss::rx_sample now[] = {{100, 3, new_key}, {50, 3, old_key}};
    const auto reports = ss::rx_reports(now, before);
    ASSERT_FALSE(reports.empty());
    for (const auto& r : reports) {
        s.n[1].m->on_authenticated_packet(1, r.key_id, r.keepalive, clock_at(s.now), out);
    }
    s.apply(1, out);
    EXPECT_EQ(s.status(1).current_key_id, new_key);
    EXPECT_EQ(s.status(1).stats.rekeys, 1U);
    ASSERT_TRUE(s.n[1].send.has_value());
    s.send_data(1);
    s.step();
    EXPECT_EQ(s.data_lost, 0U);
}

TEST(feedback, rx_reports_per_worker) {
    using R = ss::rx_sample;
    // nothing moved
    const R same[] = {{5, 1, 7}, {0, 0, 0}};
    EXPECT_TRUE(ss::rx_reports(same, same).empty());
    // two workers moved under different keys: both reported; data on one, keepalives on the other
    const R a0[] = {{5, 1, 7}, {9, 0, 7}, {4, 4, 7}};
    const R a1[] = {{5, 2, 8}, {10, 0, 7}, {4, 4, 7}};
    auto r = ss::rx_reports(a1, a0);
    ASSERT_EQ(r.size(), 2U);
    EXPECT_EQ(r[0].key_id, 8);
    EXPECT_TRUE(r[0].keepalive);
    EXPECT_EQ(r[1].key_id, 7);
    EXPECT_FALSE(r[1].keepalive);
    // two workers under one key: one report, data if either had data
    const R b1[] = {{6, 1, 7}, {9, 1, 7}, {4, 4, 7}};
    r = ss::rx_reports(b1, a0);
    ASSERT_EQ(r.size(), 1U);
    EXPECT_EQ(r[0].key_id, 7);
    EXPECT_FALSE(r[0].keepalive);
    // the first sample (no previous one) reports what the counters hold
    r = ss::rx_reports(a0, {});
    ASSERT_EQ(r.size(), 1U);
    EXPECT_EQ(r[0].key_id, 7);
    // a key id that changed although the counts did not (the worker counted the packet before
    // the previous sample and set the key id after it): reported, as a keepalive
    const R c1[] = {{5, 1, 9}, {0, 0, 0}};
    r = ss::rx_reports(c1, same);
    ASSERT_EQ(r.size(), 1U);
    EXPECT_EQ(r[0].key_id, 9);
    EXPECT_TRUE(r[0].keepalive);
}

// ---- endpoints ------------------------------------------------------------------------------------------

TEST(endpoint, learnt_only_once_the_initiator_proves_it_holds_the_keys) {
    sim s(connect_mode::never, connect_mode::always, 10);  // only A initiates
    s.step();                                              // A sends its initiation
    ASSERT_EQ(s.n[0].initiations_at.size(), 1U);
    const std::vector<uint8_t> captured = s.n[0].last_initiation;
    s.step();  // B answers it: the initiation alone proves nothing (it may be a replay)
    EXPECT_EQ(s.status(1).stats.responses_sent, 1U);
    EXPECT_TRUE(s.n[1].endpoints.empty());
    s.step();  // A consumes the response (which answers its own pending initiation) and confirms
    ASSERT_EQ(s.n[0].endpoints.size(), 1U);
    EXPECT_EQ(s.n[0].endpoints[0], hs_test::src_b);
    s.step();  // B receives the confirmation under the new keys
    ASSERT_EQ(s.n[1].endpoints.size(), 1U);
    EXPECT_EQ(s.n[1].endpoints[0], hs_test::src_a);
    EXPECT_EQ(s.state(1), ss::peer_state::up);

    // B restarts (the greatest timestamp per peer lives in memory) and an attacker replays
    // A's old initiation from its own address: B answers and installs next keys, which can never
    // be confirmed, and learns nothing.
    ss::conf c;
    c.self = hs_test::make_identity(2, 0x22);
    c.keepalive_s = 10;
    c.limits.rate_per_s = 0;
    ss::manager b2(std::move(c), hs_test::seeded_rng(300));
    ss::peer_conf pc;
    pc.id = 1;
    pc.pub = hs_test::public_of(0x11);
    pc.connect = connect_mode::never;
    ss::actions out;
    ASSERT_TRUE(b2.set_peer(pc, clock_at(0), out));
    b2.on_handshake_packet(captured, hs_test::src_x, clock_at(10 * sec), false, out);
    EXPECT_EQ(b2.status(1, clock_at(10 * sec))->stats.responses_sent, 1U) << "a replay is answered after a restart";
    std::optional<uint8_t> installed;
    for (uint64_t t = 10 * sec; t < 120 * sec; t += 100 * ms) {
        b2.tick(clock_at(t), out);
    }
    bool retired = false;
    for (const auto& a : out) {
        EXPECT_EQ(std::get_if<ss::learn_endpoint>(&a), nullptr) << "endpoint learnt from a replay";
        if (const auto* k = std::get_if<ss::install_keys>(&a)) {
            installed = k->keys.recv_key_id;
        }
        if (const auto* r = std::get_if<ss::retire_key>(&a)) {
            retired = installed && r->key_id == *installed;
        }
        EXPECT_EQ(std::get_if<ss::event>(&a), nullptr);
    }
    EXPECT_TRUE(installed.has_value());
    EXPECT_TRUE(retired) << "the unconfirmed keys are retired after 90 s";
    EXPECT_EQ(b2.status(1, clock_at(120 * sec))->state, ss::peer_state::down);
}

// ---- simultaneous initiation ----------------------------------------------------------------------

TEST(simultaneous, both_initiate_lower_id_wins_and_keys_converge) {
    sim s(connect_mode::always, connect_mode::always, 10);
    s.step();  // both tick at the same time and send an initiation
    ASSERT_EQ(s.n[0].initiations_at.size(), 1U);
    ASSERT_EQ(s.n[1].initiations_at.size(), 1U);
    s.run_until(1 * sec, true);
    EXPECT_EQ(s.state(0), ss::peer_state::up);
    EXPECT_EQ(s.state(1), ss::peer_state::up);
    EXPECT_EQ(s.status(0).stats.simultaneous_dropped, 1U);  // A (id 1) ignored B's initiation
    EXPECT_EQ(s.status(1).stats.simultaneous_dropped, 0U);
    EXPECT_EQ(s.status(0).stats.responses_sent, 0U);
    EXPECT_EQ(s.status(1).stats.responses_sent, 1U);
    EXPECT_EQ(s.count(0, event_kind::node_up), 1U);
    EXPECT_EQ(s.count(1, event_kind::node_up), 1U);
    EXPECT_EQ(s.data_lost, 0U);
    EXPECT_EQ(s.n[0].recv.size(), 1U);
    EXPECT_EQ(s.n[1].recv.size(), 1U);
    // B's abandoned initiation left no key id behind
    EXPECT_EQ(s.n[1].m->protocol().live_key_ids(1).size(), 1U);
    EXPECT_EQ(s.n[0].m->protocol().live_key_ids(2).size(), 1U);
}

TEST(simultaneous, a_stale_pending_initiation_does_not_block_the_peer) {
    sim s(connect_mode::always, connect_mode::always, 10, 3607, connect_mode::always, connect_mode::always);
    s.link_up = false;
    s.run_until(20 * sec);  // both retrying, A's pending is older than 5 s at some point
    s.link_up = true;
    s.run_until(40 * sec);
    EXPECT_EQ(s.state(0), ss::peer_state::up);
    EXPECT_EQ(s.state(1), ss::peer_state::up);
    EXPECT_EQ(s.data_lost, 0U);
}

// ---- configuration ---------------------------------------------------------------------------------

TEST(config, key_change_and_disable_take_the_session_down) {
    sim s(connect_mode::always, connect_mode::always, 10);
    s.run_until(1 * sec);
    ASSERT_EQ(s.state(0), ss::peer_state::up);
    ss::peer_conf pc;
    pc.id = 2;
    pc.pub = hs_test::public_of(0x22);
    pc.connect = connect_mode::disabled;
    ss::actions out;
    ASSERT_TRUE(s.n[0].m->set_peer(pc, clock_at(s.now), out));
    s.apply(0, out);
    EXPECT_EQ(s.count(0, event_kind::node_down), 1U);
    EXPECT_TRUE(s.n[0].recv.empty());
    EXPECT_EQ(s.state(0), ss::peer_state::down);
    s.run_until(60 * sec);
    EXPECT_EQ(s.state(0), ss::peer_state::down);  // disabled: B's attempts are ignored
    EXPECT_GT(s.status(0).stats.failed[static_cast<size_t>(hs::reject::peer_disabled)], 0U);
    pc.connect = connect_mode::always;
    ASSERT_TRUE(s.n[0].m->set_peer(pc, clock_at(s.now), out));
    s.run_until(70 * sec);
    EXPECT_EQ(s.state(0), ss::peer_state::up);
    // removing the peer: node_down and every key retired
    s.n[0].m->remove_peer(2, clock_at(s.now), out);
    s.apply(0, out);
    EXPECT_TRUE(s.n[0].recv.empty());
    EXPECT_FALSE(s.n[0].m->status(2, clock_at(s.now)).has_value());
    pc.pub = {};
    EXPECT_FALSE(s.n[0].m->set_peer(pc, clock_at(s.now), out));  // low-order key refused
}

TEST(config, set_local_serial_applies_from_the_next_handshake) {
    // A reload changes the serial on A only: the running session stays, the next rekey
    // handshake meets B's old serial and is refused as serial_mismatch on both sides.
    sim s(connect_mode::always, connect_mode::always, 10, 30);
    s.run_until(1 * sec);
    ASSERT_EQ(s.state(0), ss::peer_state::up);
    s.n[0].m->set_local(hs::make_serial("2"), connect_mode::always, false, 10, 30);
    s.run_until(20 * sec, true);
    EXPECT_EQ(s.state(0), ss::peer_state::up);
    EXPECT_EQ(s.status(0).stats.failed[static_cast<size_t>(hs::reject::serial_mismatch)], 0U);
    s.run_until(90 * sec);
    EXPECT_GT(s.status(0).stats.failed[static_cast<size_t>(hs::reject::serial_mismatch)] +
                  s.status(1).stats.failed[static_cast<size_t>(hs::reject::serial_mismatch)],
              0U);
    // B gets the same serial by its own reload: they connect again
    s.n[1].m->set_local(hs::make_serial("2"), connect_mode::always, false, 10, 30);
    s.run_until(200 * sec);
    EXPECT_EQ(s.state(0), ss::peer_state::up);
    EXPECT_EQ(s.state(1), ss::peer_state::up);
}

TEST(simultaneous, an_unsent_initiation_does_not_win_the_race) {
    // A (id 1, the lower id, which wins simultaneous initiations) has no path to B (B has
    // udp-port 0 and has not connected yet): its initiations are reported unsent, so B's
    // initiation is answered at once instead of being ignored in favour of A's.
    sim s(connect_mode::always, connect_mode::always);
    s.n[0].no_path = true;
    s.run_until(1 * sec);
    EXPECT_EQ(s.state(0), ss::peer_state::up);
    EXPECT_EQ(s.state(1), ss::peer_state::up);
    EXPECT_EQ(s.status(0).stats.simultaneous_dropped, 0U);
    EXPECT_GE(s.n[0].initiations_at.size(), 1U);
}

TEST(simultaneous, a_relayed_initiation_of_ours_does_not_win_over_one_that_came_directly) {
    // A (id 1) sends its initiations through a router that cannot deliver them (it has no
    // session with B; or a NAT in front of B lets in only answers to B's own packets), while
    // B's reach A directly: the daemon says so (ours_relayed) and A answers B's at once instead
    // of waiting for its own to win. Without the flag A ignores B's for as long as its own
    // retries keep a young one pending.
    for (bool relayed : {false, true}) {
        sim s(connect_mode::always, connect_mode::always, 10);
        s.n[0].ours_relayed = relayed;
        s.lose = [](int dst, const packet& p) { return dst == 1 && p.handshake && p.bytes[0] == 2; };
        s.run_until(3 * sec);
        if (relayed) {
            EXPECT_EQ(s.state(0), ss::peer_state::up);
            EXPECT_EQ(s.state(1), ss::peer_state::up);
            EXPECT_EQ(s.status(0).stats.simultaneous_dropped, 0U);
            EXPECT_EQ(s.status(0).stats.responses_sent, 1U);
        } else {
            EXPECT_NE(s.state(1), ss::peer_state::up) << "the rule as it was: A's own lost initiation wins";
            EXPECT_GE(s.status(0).stats.simultaneous_dropped, 1U);
        }
    }
}

TEST(simultaneous, a_relayed_initiation_of_ours_that_arrives_late_still_converges) {
    // A (id 1) answers B's direct initiation because its own went through a router (ours_relayed)
    // -- and keeps its own pending: the router delivers it to B before A's response, B (the
    // higher id) abandons its own and answers A's. Had A dropped its own, both would now drop the
    // other's response (unexpected_response) and wait for retries; A completes instead.
    sim s(connect_mode::always, connect_mode::always, 10);
    s.n[0].ours_relayed = true;
    std::vector<packet> held;  // A's initiation, in the router
    s.lose = [&](int dst, const packet& p) {
        if (dst == 1 && p.handshake && p.bytes[0] == 2 && held.empty()) {
            held.push_back(p);
            return true;
        }
        return false;
    };
    s.step();  // both initiate; A's waits in the router
    ASSERT_EQ(held.size(), 1U);
    s.step();  // B's reaches A: answered, A's own still pending
    EXPECT_EQ(s.status(0).stats.responses_sent, 1U);
    s.in_flight.push_front({1, held[0]});  // the router delivers A's before A's response
    s.run_until(s.now + 200 * ms);
    EXPECT_EQ(s.state(0), ss::peer_state::up);
    EXPECT_EQ(s.state(1), ss::peer_state::up);
    EXPECT_EQ(s.status(0).stats.failed[static_cast<size_t>(hs::reject::unexpected_response)], 0U)
        << "A's initiation was still pending when B answered it";
    EXPECT_EQ(s.data_lost, 0U);
}

TEST(events, close_message_takes_the_session_down_at_once) {
    sim s(connect_mode::always, connect_mode::always);
    s.run_until(1 * sec);
    ASSERT_EQ(s.state(0), ss::peer_state::up);
    s.link_up = false;  // B stopped after its close message
    ss::actions out;
    s.n[0].m->on_peer_closed(2, clock_at(s.now), out);
    s.apply(0, out);
    EXPECT_EQ(s.state(0), ss::peer_state::down);
    EXPECT_EQ(s.count(0, event_kind::node_down), 1U);
    EXPECT_TRUE(s.n[0].recv.empty()) << "every receive key retired";
    EXPECT_EQ(s.status(0).stats.closes_received, 1U);
    s.n[0].m->on_peer_closed(2, clock_at(s.now), out);  // a second one changes nothing
    s.apply(0, out);
    EXPECT_EQ(s.status(0).stats.closes_received, 1U);
    s.link_up = true;  // B is back: `always` reconnects
    s.run_until(30 * sec);
    EXPECT_EQ(s.state(0), ss::peer_state::up);
}

TEST(config, make_peer_conf_from_node_conf) {
    control::node_conf n;
    n.id = 7;
    n.connect = connect_mode::ondemand;
    n.max_retry = 12;
    n.max_ttl = 3;
    n.low_power = true;
    const auto pc = ss::make_peer_conf(n, hs_test::public_of(0x44));
    EXPECT_EQ(pc.id, 7);
    EXPECT_EQ(pc.connect, connect_mode::ondemand);
    EXPECT_EQ(pc.max_retry_s, 12);
    EXPECT_EQ(pc.max_ttl_s, 3);
    EXPECT_TRUE(pc.low_power);
    EXPECT_EQ(ss::to_string(ss::peer_state::connecting), "connecting");
    EXPECT_EQ(ss::to_string(event_kind::node_change), "change");
}

TEST(events, endpoint_change_fires_node_change_only_when_up) {
    sim s(connect_mode::always, connect_mode::always, 10);
    ss::actions out;
    s.n[0].m->on_endpoint_changed(2, out);
    EXPECT_TRUE(out.empty());
    s.run_until(1 * sec);
    s.n[0].m->on_endpoint_changed(2, out);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(std::get<ss::event>(out[0]).kind, event_kind::node_change);
}

TEST(cookies, under_load_the_session_completes_via_cookie_reply) {
    sim s(connect_mode::never, connect_mode::always, 10);  // A initiates
    // Deliver by hand with B under load.
    s.step();
    ASSERT_EQ(s.in_flight.size(), 1U);
    auto init = std::move(s.in_flight.front().second.bytes);
    s.in_flight.clear();
    ss::actions out;
    s.n[1].m->on_handshake_packet(init, hs_test::src_a, clock_at(s.now), true, out);
    ASSERT_EQ(out.size(), 1U);
    auto& cookie = std::get<ss::send_handshake>(out[0]);
    EXPECT_EQ(cookie.bytes.size(), 64U);
    EXPECT_EQ(cookie.destination, hs_test::src_a);
    ss::actions a_out;
    s.n[0].m->on_handshake_packet(cookie.bytes, hs_test::src_b, clock_at(s.now), false, a_out);
    EXPECT_TRUE(a_out.empty());
    // the next retry (0.9 s later) carries mac2 and passes under load
    s.link_up = false;
    s.run_until(2 * sec);
    ASSERT_EQ(s.n[0].initiations_at.size(), 2U);
    out.clear();
    s.n[1].m->on_handshake_packet(s.n[0].last_initiation, hs_test::src_a, clock_at(s.now), true, out);
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(std::get<ss::send_handshake>(out[0]).bytes.size(), 108U);
    EXPECT_EQ(s.status(1).stats.failed[static_cast<size_t>(hs::reject::cookie_required)], 1U);
    EXPECT_EQ(s.status(1).stats.cookie_replies_sent, 1U);
}

}  // namespace
