// SPDX-License-Identifier: MIT
// Misconfigured peers (docs/protocol.md "Misconfigured peers", issue 15 point 5): the handshake
// core's refusal of a serial mismatch (an authenticated response without keys) and what it
// reports about a rejection (authenticated or not, the peer's serial, the static key it carried,
// its protocol version); the session manager's per-peer record of the last such failure (set,
// counted, cleared by a completed handshake or a config change, never planted by a message that
// only claims a peer's node id) and its rate-limited log_failure actions.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "control/session/cookie.hh"
#include "control/session/session.hh"
#include "crypto/aead.hh"
#include "tests/unit/control/session/hs_test_util.hh"

namespace hs = control::handshake;
namespace ss = control::session;
using control::connect_mode;
using hs::reject;
using hs_test::at;
using hs_test::src_a;
using hs_test::src_b;
using hs_test::src_x;

namespace {

constexpr uint16_t id_a = 1;
constexpr uint16_t id_b = 2;
constexpr uint8_t key_a = 0x11;
constexpr uint8_t key_b = 0x22;
constexpr uint8_t key_c = 0x33;  // nobody's configured key: an attacker, or a node whose keys changed

hs::limits no_rate_limit() {
    hs::limits l;
    l.rate_per_s = 0;
    return l;
}

std::unique_ptr<hs::protocol> proto(uint16_t id, uint8_t key, const std::string& serial, uint16_t peer,
                                    uint8_t peer_key, uint64_t seed) {
    auto p = std::make_unique<hs::protocol>(hs_test::make_identity(id, key, serial), no_rate_limit(),
                                            hs_test::seeded_rng(seed));
    EXPECT_TRUE(p->set_peer(peer, hs_test::public_of(peer_key)));
    return p;
}

// ---- the handshake core -------------------------------------------------------------------------

TEST(refusal, serial_mismatch_is_refused_with_an_authenticated_response_without_keys) {
    auto a = proto(id_a, key_a, "2024-01", id_b, key_b, 1);  // A's config is older
    auto b = proto(id_b, key_b, "2024-02", id_a, key_a, 2);
    auto init = a->create_initiation(id_b, at(0));
    ASSERT_TRUE(init.has_value());

    auto c = b->consume(init->bytes, src_a, at(0), false);
    EXPECT_EQ(c.what, hs::outcome::rejected);
    EXPECT_EQ(c.reason, reject::serial_mismatch);
    EXPECT_EQ(c.serial, hs::serial_order::peer_older);
    EXPECT_TRUE(c.authenticated);
    EXPECT_EQ(c.peer_serial, hs::make_serial("2024-01"));
    EXPECT_FALSE(c.keys.has_value());
    ASSERT_EQ(c.reply.size(), hs::response_layout::size);
    EXPECT_EQ(c.reply[hs::response_layout::sender_key_id], 0);  // no keys behind it
    EXPECT_EQ(c.reply[hs::response_layout::receiver_key_id], init->local_key_id);
    EXPECT_EQ(b->live_key_ids(id_a).size(), 0U);  // no key id was taken
    EXPECT_EQ(b->stats().sent_refusals, 1U);
    EXPECT_EQ(b->stats().sent_responses, 0U);

    // A learns why, from a message only B could have made.
    auto r = a->consume(c.reply, src_b, at(0.01), false);
    EXPECT_EQ(r.what, hs::outcome::rejected);
    EXPECT_EQ(r.reason, reject::serial_mismatch);
    EXPECT_EQ(r.serial, hs::serial_order::peer_newer);
    EXPECT_TRUE(r.authenticated);
    EXPECT_EQ(r.peer_serial, hs::make_serial("2024-02"));
    EXPECT_FALSE(r.keys.has_value());
    EXPECT_TRUE(r.reply.empty());
    EXPECT_TRUE(a->has_pending(id_b));  // the retry series goes on

    // The refused initiation counts against replay: a captured copy gets no second refusal.
    auto again = b->consume(init->bytes, src_x, at(1), false);
    EXPECT_EQ(again.reason, reject::replayed_initiation);
    EXPECT_TRUE(again.reply.empty());
    EXPECT_FALSE(again.authenticated);
}

std::unique_ptr<hs::protocol> proto_cipher(uint16_t id, uint8_t key, uint8_t cipher, uint16_t peer, uint8_t peer_key,
                                           uint64_t seed) {
    auto ident = hs_test::make_identity(id, key, "s");
    ident.cipher = cipher;
    auto p = std::make_unique<hs::protocol>(std::move(ident), no_rate_limit(), hs_test::seeded_rng(seed));
    EXPECT_TRUE(p->set_peer(peer, hs_test::public_of(peer_key)));
    return p;
}

TEST(refusal, a_cipher_mismatch_is_refused_both_ways_and_an_unsaid_cipher_is_not_compared) {
    const uint8_t gcm256 = hs::cipher_id(static_cast<uint8_t>(crypto::suite::aes256_gcm));
    const uint8_t chacha = hs::cipher_id(static_cast<uint8_t>(crypto::suite::chacha20_poly1305));
    auto a = proto_cipher(id_a, key_a, gcm256, id_b, key_b, 1);
    auto b = proto_cipher(id_b, key_b, chacha, id_a, key_a, 2);
    auto init = a->create_initiation(id_b, at(0));
    ASSERT_TRUE(init.has_value());
    auto c = b->consume(init->bytes, src_a, at(0), false);
    EXPECT_EQ(c.reason, reject::cipher_mismatch);
    EXPECT_TRUE(c.authenticated);
    EXPECT_EQ(c.peer_cipher, gcm256);
    EXPECT_FALSE(c.keys.has_value());
    ASSERT_EQ(c.reply.size(), hs::response_layout::size);
    EXPECT_EQ(c.reply[hs::response_layout::sender_key_id], 0);
    EXPECT_EQ(b->stats().sent_refusals, 1U);
    auto r = a->consume(c.reply, src_b, at(0.01), false);
    EXPECT_EQ(r.reason, reject::cipher_mismatch);
    EXPECT_TRUE(r.authenticated);
    EXPECT_EQ(r.peer_cipher, chacha);
    EXPECT_FALSE(r.keys.has_value());

    // A node that does not say its cipher (0: built before it was sent) is not compared.
    auto old = proto_cipher(id_a, key_a, 0, id_b, key_b, 3);
    auto b2 = proto_cipher(id_b, key_b, chacha, id_a, key_a, 4);
    auto init2 = old->create_initiation(id_b, at(0));
    auto c2 = b2->consume(init2->bytes, src_a, at(0), false);
    EXPECT_EQ(c2.what, hs::outcome::responded);
    EXPECT_EQ(old->consume(c2.reply, src_b, at(0.01), false).what, hs::outcome::completed);
    // the same cipher: connects
    auto a3 = proto_cipher(id_a, key_a, chacha, id_b, key_b, 5);
    auto b3 = proto_cipher(id_b, key_b, chacha, id_a, key_a, 6);
    auto init3 = a3->create_initiation(id_b, at(0));
    auto c3 = b3->consume(init3->bytes, src_a, at(0), false);
    EXPECT_EQ(c3.what, hs::outcome::responded);
    EXPECT_EQ(a3->consume(c3.reply, src_b, at(0.01), false).what, hs::outcome::completed);
}

TEST(refusal, a_refusal_of_a_serial_no_longer_ours_installs_nothing) {
    auto a = proto(id_a, key_a, "1", id_b, key_b, 1);
    auto b = proto(id_b, key_b, "2", id_a, key_a, 2);
    auto init = a->create_initiation(id_b, at(0));
    auto c = b->consume(init->bytes, src_a, at(0), false);
    ASSERT_EQ(c.reply.size(), hs::response_layout::size);
    a->set_serial(hs::make_serial("2"));  // A's reload crossed the refusal
    auto r = a->consume(c.reply, src_b, at(0.01), false);
    EXPECT_EQ(r.reason, reject::unexpected_response);
    EXPECT_FALSE(r.keys.has_value());
}

TEST(refusal, a_forged_refusal_does_not_open) {
    auto a = proto(id_a, key_a, "1", id_b, key_b, 1);
    auto b = proto(id_b, key_b, "2", id_a, key_a, 2);
    // C holds no configured key but sets B as its peer so it can build B's messages.
    auto c_as_b = proto(id_b, key_c, "3", id_a, key_a, 3);
    auto init = a->create_initiation(id_b, at(0));
    // C cannot open A's initiation (made for B's key): it has nothing to refuse with.
    auto c = c_as_b->consume(init->bytes, src_a, at(0), false);
    EXPECT_EQ(c.reason, reject::bad_mac1);
    EXPECT_TRUE(c.reply.empty());
    EXPECT_FALSE(c.authenticated);
}

TEST(reasons, wrong_static_key_reports_the_key_it_carried_unauthenticated) {
    auto b = proto(id_b, key_b, "1", id_a, key_a, 2);
    auto c_as_a = proto(id_a, key_c, "1", id_b, key_b, 3);  // claims A's id with its own key
    auto init = c_as_a->create_initiation(id_b, at(0));
    auto c = b->consume(init->bytes, src_x, at(0), false);
    EXPECT_EQ(c.reason, reject::wrong_static_key);
    EXPECT_EQ(c.peer_id, id_a);
    EXPECT_FALSE(c.authenticated);
    EXPECT_EQ(c.claimed_static, hs_test::public_of(key_c));
}

TEST(reasons, bad_version_names_the_claimed_src_and_its_version) {
    auto b = proto(id_b, key_b, "1", id_a, key_a, 2);
    auto a = proto(id_a, key_a, "1", id_b, key_b, 1);
    auto m = a->create_initiation(id_b, at(0))->bytes;
    m[1] = static_cast<uint8_t>(2U << 4U);
    auto c = b->consume(m, src_a, at(0), false);
    EXPECT_EQ(c.reason, reject::bad_version);
    EXPECT_EQ(c.peer_id, id_a);
    EXPECT_EQ(c.peer_version, 2);
    EXPECT_FALSE(c.authenticated);
}

TEST(reasons, decrypt_failures_say_which_aead) {
    auto b = proto(id_b, key_b, "1", id_a, key_a, 2);
    auto a = proto(id_a, key_a, "1", id_b, key_b, 1);
    auto m = a->create_initiation(id_b, at(0))->bytes;
    m[hs::initiation_layout::encrypted_payload] ^= 1U;
    // mac1 covers the payload: recompute it as a forger (who knows B's public key) can.
    crypto::secret<32> k;
    hs::derive_mac1_key(k, hs_test::public_of(key_b));
    hs::compute_mac(std::span<uint8_t>(m).subspan(hs::initiation_layout::mac1).first<hs::mac_len>(), k.span(),
                    std::span<const uint8_t>(m).first(hs::initiation_layout::mac1));
    auto c = b->consume(m, src_a, at(0), false);
    EXPECT_EQ(c.reason, reject::decrypt_failed);
    EXPECT_EQ(c.failed_aead, hs::consumed::aead::initiation_payload);
    EXPECT_FALSE(c.authenticated);
}

// ---- the session manager ------------------------------------------------------------------------

/// Node B's manager; A is its configured peer (connect = never, so B only answers). Messages
/// to it are built by bare protocol cores holding A's key (or an attacker's).
struct manager_fixture : ::testing::Test {
    std::unique_ptr<ss::manager> mb;
    void make_b(const std::string& serial) {
        ss::conf c;
        c.self = hs_test::make_identity(id_b, key_b, serial);
        c.limits = no_rate_limit();
        mb = std::make_unique<ss::manager>(std::move(c), hs_test::seeded_rng(20));
        ss::peer_conf pc;
        pc.id = id_a;
        pc.pub = hs_test::public_of(key_a);
        pc.connect = connect_mode::never;
        ss::actions out;
        ASSERT_TRUE(mb->set_peer(pc, at(0), out));
    }
    void SetUp() override { make_b("2"); }

    ss::actions feed(std::span<const uint8_t> msg, double t, std::span<const uint8_t> src = src_a) {
        ss::actions out;
        mb->on_handshake_packet(msg, src, at(t), false, out);
        return out;
    }
    std::optional<ss::handshake_failure> failure(double t = 0) { return mb->status(id_a, at(t))->failure; }

    static std::vector<ss::log_failure> logs(const ss::actions& acts) {
        std::vector<ss::log_failure> v;
        for (const auto& a : acts) {
            if (const auto* l = std::get_if<ss::log_failure>(&a)) {
                v.push_back(*l);
            }
        }
        return v;
    }
    static const ss::send_handshake* sent(const ss::actions& acts) {
        for (const auto& a : acts) {
            if (const auto* h = std::get_if<ss::send_handshake>(&a)) {
                return h;
            }
        }
        return nullptr;
    }

    /// A completes a handshake with B (A initiates, B responds, A's first packet confirms).
    void complete_handshake(hs::protocol& a, double t) {
        auto init = a.create_initiation(id_b, at(t));
        auto acts = feed(init->bytes, t);
        const auto* resp = sent(acts);
        ASSERT_NE(resp, nullptr);
        auto c = a.consume(resp->bytes, src_b, at(t), false);
        ASSERT_EQ(c.what, hs::outcome::completed);
        ss::actions out;
        mb->on_authenticated_packet(id_a, c.keys->send_key_id, true, at(t), out);
        ASSERT_EQ(mb->status(id_a, at(t))->state, ss::peer_state::up);
    }
};

TEST_F(manager_fixture, older_peer_serial_is_recorded_logged_and_refused) {
    auto a = proto(id_a, key_a, "1", id_b, key_b, 1);
    auto acts = feed(a->create_initiation(id_b, at(0))->bytes, 0);
    auto l = logs(acts);
    ASSERT_EQ(l.size(), 1U);
    EXPECT_EQ(l[0].peer, id_a);
    EXPECT_EQ(l[0].suppressed, 0U);
    EXPECT_EQ(l[0].failure.reason, reject::serial_mismatch);
    const std::string text = ss::describe(l[0].failure, "alpha", "beta");
    EXPECT_NE(text.find("its config serial \"1\" is older than ours \"2\""), std::string::npos) << text;
    EXPECT_NE(text.find("its config is outdated"), std::string::npos) << text;
    EXPECT_EQ(text.find("unauthenticated"), std::string::npos) << text;

    const auto* refusal = sent(acts);
    ASSERT_NE(refusal, nullptr);
    EXPECT_EQ(refusal->destination, src_a);
    EXPECT_EQ(mb->status(id_a, at(0))->stats.refusals_sent, 1U);

    auto f = failure();
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->reason, reject::serial_mismatch);
    EXPECT_EQ(f->serial, hs::serial_order::peer_older);
    EXPECT_TRUE(f->authenticated);
    EXPECT_EQ(f->count, 1U);

    // A's side: the refusal says B is newer -- "our config is outdated", as GVPE logs it.
    auto r = a->consume(refusal->bytes, src_b, at(0), false);
    ss::handshake_failure fa;
    fa.reason = *r.reason;
    fa.authenticated = r.authenticated;
    fa.serial = r.serial;
    fa.peer_serial = r.peer_serial;
    fa.our_serial = hs::make_serial("1");
    const std::string ta = ss::describe(fa, "beta", "alpha");
    EXPECT_NE(ta.find("is newer than ours \"1\" -- our config is outdated (GVPE: 'outdated config')"), std::string::npos)
        << ta;
}

TEST_F(manager_fixture, newer_peer_serial_on_the_initiator_side) {
    // B initiates to A (B connect = always towards A here) and A, newer, refuses: B records
    // peer_newer from the authenticated refusal.
    ss::conf c;
    c.self = hs_test::make_identity(id_b, key_b, "1");
    c.limits = no_rate_limit();
    mb = std::make_unique<ss::manager>(std::move(c), hs_test::seeded_rng(21));
    ss::peer_conf pc;
    pc.id = id_a;
    pc.pub = hs_test::public_of(key_a);
    ss::actions out;
    ASSERT_TRUE(mb->set_peer(pc, at(0), out));
    mb->tick(at(0), out);
    const auto* init = sent(out);
    ASSERT_NE(init, nullptr);
    auto a = proto(id_a, key_a, "9", id_b, key_b, 1);
    auto refusal = a->consume(init->bytes, src_b, at(0), false);
    ASSERT_EQ(refusal.reply.size(), hs::response_layout::size);
    auto acts = feed(refusal.reply, 0.01);
    auto l = logs(acts);
    ASSERT_EQ(l.size(), 1U);
    EXPECT_EQ(l[0].failure.serial, hs::serial_order::peer_newer);
    auto f = failure();
    ASSERT_TRUE(f.has_value());
    EXPECT_TRUE(f->authenticated);
    EXPECT_EQ(f->serial, hs::serial_order::peer_newer);
    EXPECT_NE(ss::describe(*f, "alpha", "beta").find("our config is outdated"), std::string::npos);
    EXPECT_EQ(mb->status(id_a, at(0))->state, ss::peer_state::connecting);
}

TEST_F(manager_fixture, log_is_rate_limited_per_peer_and_reason_with_a_suppressed_count) {
    auto a = proto(id_a, key_a, "1", id_b, key_b, 1);
    size_t lines = 0;
    for (int i = 0; i < 10; ++i) {  // one initiation every 5 s: 0..45 s
        lines += logs(feed(a->create_initiation(id_b, at(5.0 * i))->bytes, 5.0 * i)).size();
    }
    EXPECT_EQ(lines, 1U);
    EXPECT_EQ(failure(45)->count, 10U);
    // Another reason of the same peer has its own budget.
    auto c_as_a = proto(id_a, key_c, "2", id_b, key_b, 3);
    EXPECT_EQ(logs(feed(c_as_a->create_initiation(id_b, at(46))->bytes, 46, src_x)).size(), 1U);
    EXPECT_EQ(failure(46)->reason, reject::serial_mismatch);  // held: authenticated and recent
    // 60 s after the first line: the next one, with the 9 not logged.
    auto l = logs(feed(a->create_initiation(id_b, at(60))->bytes, 60));
    ASSERT_EQ(l.size(), 1U);
    EXPECT_EQ(l[0].suppressed, 9U);
    EXPECT_EQ(l[0].failure.reason, reject::serial_mismatch);
    EXPECT_EQ(logs(feed(a->create_initiation(id_b, at(61))->bytes, 61)).size(), 0U);
}

TEST_F(manager_fixture, reason_is_cleared_by_a_completed_handshake_and_by_a_serial_reload) {
    auto a = proto(id_a, key_a, "1", id_b, key_b, 1);
    (void)feed(a->create_initiation(id_b, at(0))->bytes, 0);
    ASSERT_TRUE(failure().has_value());
    // Our reload to A's serial: the record compared against the old one goes.
    mb->set_local(hs::make_serial("1"), connect_mode::always, false, 60, 3607);
    EXPECT_FALSE(failure().has_value());

    // An unauthenticated reason on a down peer is recorded (labelled) ...
    auto c_as_a = proto(id_a, key_c, "1", id_b, key_b, 3);
    (void)feed(c_as_a->create_initiation(id_b, at(1))->bytes, 1, src_x);
    auto f = failure(1);
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->reason, reject::wrong_static_key);
    EXPECT_FALSE(f->authenticated);
    const std::string text = ss::describe(*f, "alpha", "beta");
    EXPECT_NE(text.find("pubkey/alpha"), std::string::npos) << text;
    EXPECT_NE(text.find("unauthenticated"), std::string::npos) << text;
    // ... and a completed handshake clears it.
    complete_handshake(*a, 2);
    EXPECT_FALSE(failure(2).has_value());
}

TEST_F(manager_fixture, a_spoofed_src_id_cannot_plant_a_reason_for_a_healthy_peer) {
    mb->set_local(hs::make_serial("1"), connect_mode::always, false, 60, 3607);
    auto a = proto(id_a, key_a, "1", id_b, key_b, 1);
    complete_handshake(*a, 0);
    // An attacker claims A's id with its own key, with garbage, with another version.
    auto c_as_a = proto(id_a, key_c, "1", id_b, key_b, 3);
    auto acts = feed(c_as_a->create_initiation(id_b, at(1))->bytes, 1, src_x);
    EXPECT_EQ(sent(acts), nullptr);
    auto junk = a->create_initiation(id_b, at(2))->bytes;
    junk[hs::initiation_layout::mac1] ^= 1U;
    (void)feed(junk, 2, src_x);
    junk[1] = static_cast<uint8_t>(7U << 4U);
    (void)feed(junk, 3, src_x);
    auto st = mb->status(id_a, at(3));
    EXPECT_EQ(st->state, ss::peer_state::up);
    EXPECT_FALSE(st->failure.has_value());
    EXPECT_EQ(st->stats.failed[static_cast<size_t>(reject::wrong_static_key)], 1U);
    EXPECT_EQ(st->stats.failed[static_cast<size_t>(reject::bad_mac1)], 1U);
    EXPECT_EQ(st->stats.failed[static_cast<size_t>(reject::bad_version)], 1U);
}

TEST_F(manager_fixture, an_authenticated_reason_is_held_against_unauthenticated_ones) {
    auto a = proto(id_a, key_a, "1", id_b, key_b, 1);
    (void)feed(a->create_initiation(id_b, at(0))->bytes, 0);
    auto c_as_a = proto(id_a, key_c, "2", id_b, key_b, 3);
    (void)feed(c_as_a->create_initiation(id_b, at(100))->bytes, 100, src_x);
    EXPECT_EQ(failure(100)->reason, reject::serial_mismatch);
    // Once the authenticated record is old, an unauthenticated one replaces it, labelled.
    (void)feed(c_as_a->create_initiation(id_b, at(121))->bytes, 121, src_x);
    auto f = failure(121);
    EXPECT_EQ(f->reason, reject::wrong_static_key);
    EXPECT_FALSE(f->authenticated);
    EXPECT_EQ(f->count, 1U);
}

TEST_F(manager_fixture, unknown_sources_and_load_reasons_leave_no_state) {
    auto stranger = proto(7, key_c, "2", id_b, key_b, 3);
    EXPECT_TRUE(logs(feed(stranger->create_initiation(id_b, at(0))->bytes, 0, src_x)).empty());
    EXPECT_FALSE(mb->status(7, at(0)).has_value());
    EXPECT_FALSE(failure().has_value());
    EXPECT_FALSE(ss::is_peer_failure(reject::cookie_required));
    EXPECT_FALSE(ss::is_peer_failure(reject::rate_limited));
    EXPECT_FALSE(ss::is_peer_failure(reject::unknown_src));
    EXPECT_FALSE(ss::is_peer_failure(reject::replayed_initiation));
    EXPECT_TRUE(ss::is_peer_failure(reject::serial_mismatch));
    EXPECT_TRUE(ss::is_peer_failure(reject::wrong_static_key));
}

TEST(describe, every_recorded_reason_names_what_to_fix) {
    ss::handshake_failure f;
    f.reason = reject::bad_version;
    f.peer_version = 3;
    EXPECT_NE(ss::describe(f, "x", "y").find("protocol version 3, we speak 1"), std::string::npos);
    f.reason = reject::bad_mac1;
    EXPECT_NE(ss::describe(f, "x", "y").find("pubkey/y there"), std::string::npos);
    f.reason = reject::peer_disabled;
    EXPECT_NE(ss::describe(f, "x", "y").find("connect = disabled"), std::string::npos);
    f.reason = reject::stale_timestamp;
    EXPECT_NE(ss::describe(f, "x", "y").find("clock stepped back"), std::string::npos);
    f.reason = reject::serial_mismatch;
    f.serial = hs::serial_order::peer_newer;
    f.peer_serial = hs::make_serial("a\"\x01");
    EXPECT_NE(ss::describe(f, "x", "y").find("\"a\\x22\\x01\""), std::string::npos) << ss::describe(f, "x", "y");
    f.reason = reject::cipher_mismatch;
    f.peer_cipher = hs::cipher_id(static_cast<uint8_t>(crypto::suite::chacha20_poly1305));
    f.our_cipher = hs::cipher_id(static_cast<uint8_t>(crypto::suite::aes256_gcm));
    EXPECT_NE(ss::describe(f, "x", "y").find("its cipher is chacha20-poly1305, ours is aes256-gcm"), std::string::npos)
        << ss::describe(f, "x", "y");
}

}  // namespace
