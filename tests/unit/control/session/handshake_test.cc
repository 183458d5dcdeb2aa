// SPDX-License-Identifier: MIT
// Unit tests of the handshake protocol core (control/session/handshake.hh): a full handshake in both
// directions, a frozen transcript, every reject reason triggered by a crafted message with its
// counter asserted, the cookie flow under load, the rate limiter, key ids and the serial guard.
#include <gtest/gtest.h>

#include <cstring>

#include "control/session/cookie.hh"
#include "control/session/ephemeral.hh"
#include "control/session/handshake.hh"
#include "control/session/handshake_noise.hh"
#include "control/session/handshake_ratelimit.hh"
#include "crypto/random.hh"
#include "tests/unit/control/session/hs_test_util.hh"

namespace hs = control::handshake;
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
constexpr uint8_t key_c = 0x33;

/// The u-coordinate of a point of order 8 on Curve25519 (little endian); X25519 with it is 0.
constexpr std::array<uint8_t, 32> order8_point = {
    0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
    0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00};

/// Rewrites mac1 of a message to `receiver_pub` after the test tampered with it.
void refresh_mac1(std::vector<uint8_t>& msg, size_t mac1_off, uint8_t receiver_key_byte) {
    crypto::secret<32> k;
    hs::derive_mac1_key(k, hs_test::public_of(receiver_key_byte));
    hs::compute_mac(std::span<uint8_t>(msg).subspan(mac1_off).first<hs::mac_len>(), k.span(),
                    std::span<const uint8_t>(msg).first(mac1_off));
}

struct pair_fixture : ::testing::Test {
    hs::limits lim{};
    std::unique_ptr<hs::protocol> a, b;

    void make(hs::limits l = {}, std::string serial_a = "s1", std::string serial_b = "s1") {
        lim = l;
        a = std::make_unique<hs::protocol>(hs_test::make_identity(id_a, key_a, serial_a, 0x03), l,
                                           hs_test::seeded_rng(1));
        b = std::make_unique<hs::protocol>(hs_test::make_identity(id_b, key_b, serial_b, 0x09), l,
                                           hs_test::seeded_rng(2));
        ASSERT_TRUE(a->set_peer(id_b, hs_test::public_of(key_b)));
        ASSERT_TRUE(b->set_peer(id_a, hs_test::public_of(key_a)));
    }
    void SetUp() override { make(); }

    std::vector<uint8_t> initiation(double t) {
        auto r = a->create_initiation(id_b, at(t));
        EXPECT_TRUE(r.has_value());
        return r.has_value() ? r->bytes : std::vector<uint8_t>{};
    }

    /// Consumes at b and checks the reason and that exactly its counter moved.
    void expect_reject_b(std::span<const uint8_t> msg, reject r, double t = 0, bool load = false,
                         std::span<const uint8_t> src = src_a) {
        const uint64_t before = b->stats().rejected_of(r);
        auto c = b->consume(msg, src, at(t), load);
        EXPECT_EQ(c.what, hs::outcome::rejected);
        ASSERT_TRUE(c.reason.has_value());
        EXPECT_EQ(hs::to_string(*c.reason), hs::to_string(r));
        EXPECT_EQ(b->stats().rejected_of(r), before + 1);
        EXPECT_FALSE(c.keys.has_value());
        if (r != reject::cookie_required) {
            EXPECT_TRUE(c.reply.empty());
        }
    }
};

// ---- full handshake ---------------------------------------------------------------------------

TEST_F(pair_fixture, full_handshake_derives_matching_directional_keys) {
    auto init = a->create_initiation(id_b, at(0));
    ASSERT_TRUE(init.has_value());
    EXPECT_EQ(init->bytes.size(), 168U);
    EXPECT_TRUE(a->has_pending(id_b));

    auto r = b->consume(init->bytes, src_a, at(0.01), false);
    ASSERT_EQ(r.what, hs::outcome::responded);
    ASSERT_EQ(r.reply.size(), 108U);
    ASSERT_TRUE(r.keys.has_value());
    EXPECT_EQ(r.peer_id, id_a);

    auto c = a->consume(r.reply, src_b, at(0.02), false);
    ASSERT_EQ(c.what, hs::outcome::completed);
    ASSERT_TRUE(c.keys.has_value());
    EXPECT_TRUE(c.reply.empty());
    EXPECT_FALSE(a->has_pending(id_b));

    const hs::session_keys& ka = *c.keys;
    const hs::session_keys& kb = *r.keys;
    EXPECT_TRUE(ka.send == kb.recv);
    EXPECT_TRUE(ka.recv == kb.send);
    EXPECT_FALSE(ka.send == ka.recv);
    EXPECT_TRUE(ka.initiator);
    EXPECT_FALSE(kb.initiator);
    EXPECT_EQ(ka.peer_id, id_b);
    EXPECT_EQ(kb.peer_id, id_a);
    EXPECT_EQ(ka.recv_key_id, init->local_key_id);
    EXPECT_EQ(kb.send_key_id, ka.recv_key_id);
    EXPECT_EQ(ka.send_key_id, kb.recv_key_id);
    EXPECT_NE(ka.recv_key_id, 0);
    EXPECT_NE(kb.recv_key_id, 0);
    EXPECT_EQ(ka.peer_protocols, 0x09);
    EXPECT_EQ(kb.peer_protocols, 0x03);
    EXPECT_EQ(ka.established_ns, at(0.02).mono_ns);
    EXPECT_EQ(kb.established_ns, at(0.01).mono_ns);

    EXPECT_EQ(a->stats().sent_initiations, 1U);
    EXPECT_EQ(b->stats().received_initiations, 1U);
    EXPECT_EQ(b->stats().sent_responses, 1U);
    EXPECT_EQ(a->stats().received_responses, 1U);
    EXPECT_EQ(a->stats().completed_initiator, 1U);
    EXPECT_EQ(b->stats().completed_responder, 1U);
    EXPECT_TRUE(a->live_key_ids(id_b).contains(ka.recv_key_id));
    EXPECT_TRUE(b->live_key_ids(id_a).contains(kb.recv_key_id));
}

TEST_F(pair_fixture, both_directions_and_repeated_handshakes_get_fresh_keys) {
    std::vector<crypto::secret<32>> seen;
    for (int i = 0; i < 4; ++i) {
        hs::protocol& ini = (i % 2 == 0) ? *a : *b;
        hs::protocol& res = (i % 2 == 0) ? *b : *a;
        const uint16_t to = (i % 2 == 0) ? id_b : id_a;
        auto init = ini.create_initiation(to, at(i));
        ASSERT_TRUE(init.has_value());
        auto r = res.consume(init->bytes, src_a, at(i), false);
        ASSERT_EQ(r.what, hs::outcome::responded) << i;
        auto c = ini.consume(r.reply, src_b, at(i), false);
        ASSERT_EQ(c.what, hs::outcome::completed) << i;
        EXPECT_TRUE(c.keys->send == r.keys->recv);
        EXPECT_TRUE(c.keys->recv == r.keys->send);
        for (const auto& k : seen) {
            EXPECT_FALSE(k == c.keys->send);
        }
        seen.push_back(c.keys->send);
    }
}

// ---- frozen transcript -------------------------------------------------------------------------
// Regression vectors, NOT external KATs: computed once by this implementation with the fixed
// static keys (bytes 0x11.. / 0x22..) and the seeded random sources 1 and 2, then frozen. They
// catch any change of the wire format, of the Noise transcript or of the key schedule.

constexpr std::string_view transcript_initiation =
    "02100001020100003766b869d6c3f48a847f3dd5281304d621c2069c78522b8c4dc606470cfd006b7757c87370cc5fc0"
    "e90d82d3047bf3fc6bbe66c74fedcd68de98fe6a69f0dc060d8e32d3d8e89dfe800d8843e39c71ff48e87869756fb1e0"
    "47503e9fc8fe478a424814de2ca9c6b4c1f7ac9aa07f47e37ca2ff70a1695deb97dee4ad7a405d1aca6e50fd4404faa4"
    "855d02ea14e7a83c00000000000000000000000000000000";
constexpr std::string_view transcript_response =
    "031000020101010061ee78dcf3b792da120c981740873de55a44d990e158dc5a071f5cef4f2b194260a87452736b8758"
    "d6d90ba2c1130ef9d60c6e0b783b9b2af2b0dd47166119063ef6eae793180c93e420aa27acea41e646d6146c00000000"
    "000000000000000000000000";
constexpr std::string_view transcript_t1 = "5a283aa04f4c24273d370be2bd20d3c837ba062640fdaab41de5cc7e7b8ff102";
constexpr std::string_view transcript_t2 = "a0e56b03658cfdb684f2f018b658863702b5aef6f50d8e57893f770eba6b6a4c";

TEST_F(pair_fixture, transcript_is_frozen) {
    auto init = a->create_initiation(id_b, at(0));
    ASSERT_TRUE(init.has_value());
    auto r = b->consume(init->bytes, src_a, at(0), false);
    ASSERT_EQ(r.what, hs::outcome::responded);
    auto c = a->consume(r.reply, src_b, at(0), false);
    ASSERT_EQ(c.what, hs::outcome::completed);
    EXPECT_EQ(hs_test::hex(init->bytes), transcript_initiation);
    EXPECT_EQ(hs_test::hex(r.reply), transcript_response);
    EXPECT_EQ(hs_test::hex(c.keys->send.span()), transcript_t1);
    EXPECT_EQ(hs_test::hex(c.keys->recv.span()), transcript_t2);
}

// ---- rejects: framing --------------------------------------------------------------------------

TEST_F(pair_fixture, truncated_oversize_and_short_are_bad_length) {
    auto m = initiation(0);
    std::vector<uint8_t> trunc(m.begin(), m.end() - 1);
    expect_reject_b(trunc, reject::bad_length);
    std::vector<uint8_t> over = m;
    over.push_back(0);
    expect_reject_b(over, reject::bad_length);
    expect_reject_b(std::span<const uint8_t>(m).first(7), reject::bad_length);
    expect_reject_b(std::span<const uint8_t>(), reject::bad_length);
    // a response-sized initiation and an initiation-sized cookie reply
    std::vector<uint8_t> resp_size(m.begin(), m.begin() + 108);
    expect_reject_b(resp_size, reject::bad_length);
    std::vector<uint8_t> cr = m;
    cr[0] = 4;
    expect_reject_b(cr, reject::bad_length);
}

TEST_F(pair_fixture, bad_version_bad_type_wrong_dst_unknown_src) {
    auto m = initiation(0);
    auto v = m;
    v[1] = 0x20;
    expect_reject_b(v, reject::bad_version);
    v[1] = 0x00;
    expect_reject_b(v, reject::bad_version);
    for (uint8_t t : {0, 1, 5, 255}) {
        auto x = m;
        x[0] = t;
        expect_reject_b(x, reject::bad_type);
    }
    auto d = m;
    d[4] = 3;  // dst 3
    expect_reject_b(d, reject::wrong_dst);
    d = m;
    d[2] = static_cast<uint8_t>(d[2] | 0x01U);  // dst 0x102
    expect_reject_b(d, reject::wrong_dst);
    auto s = m;
    s[3] = 9;  // src 9
    expect_reject_b(s, reject::unknown_src);
}

TEST_F(pair_fixture, disabled_peer_is_rejected_before_mac1) {
    ASSERT_TRUE(b->set_peer(id_a, hs_test::public_of(key_a), false));
    auto m = initiation(0);
    expect_reject_b(m, reject::peer_disabled);
    auto bad = m;
    bad[100] ^= 1U;
    expect_reject_b(bad, reject::peer_disabled);
    EXPECT_FALSE(b->create_initiation(id_a, at(0)).has_value());
    ASSERT_TRUE(b->set_peer(id_a, hs_test::public_of(key_a), true));
    EXPECT_EQ(b->consume(m, src_a, at(0), false).what, hs::outcome::responded);
}

TEST_F(pair_fixture, any_flipped_bit_before_mac1_is_bad_mac1) {
    auto m = initiation(0);
    for (size_t i = 5; i < hs::initiation_layout::mac2; ++i) {  // bytes 0..4 have their own checks
        auto x = m;
        x[i] ^= 0x80U;
        expect_reject_b(x, reject::bad_mac1);
    }
    EXPECT_EQ(b->stats().rejected_of(reject::bad_mac1), hs::initiation_layout::mac2 - 5);
    // mac2 is not looked at when not under load
    auto y = m;
    y[hs::initiation_layout::mac2] ^= 1U;
    EXPECT_EQ(b->consume(y, src_a, at(0), false).what, hs::outcome::responded);
}

// ---- rejects: authentication ------------------------------------------------------------------

TEST_F(pair_fixture, wrong_static_key_is_rejected) {
    // Node C owns key 0x33 but claims to be node 1 (A): mac1 is right, the static is not A's.
    hs::protocol c(hs_test::make_identity(id_a, key_c), {}, hs_test::seeded_rng(3));
    ASSERT_TRUE(c.set_peer(id_b, hs_test::public_of(key_b)));
    auto m = c.create_initiation(id_b, at(0));
    ASSERT_TRUE(m.has_value());
    expect_reject_b(m->bytes, reject::wrong_static_key);
    EXPECT_EQ(b->stats().completed_responder, 0U);
}

TEST_F(pair_fixture, initiation_for_another_responder_key_fails_to_decrypt) {
    // A believes B's key is C's: mac1 is computed for the wrong key.
    ASSERT_TRUE(a->set_peer(id_b, hs_test::public_of(key_c)));
    auto m = initiation(0);
    expect_reject_b(m, reject::bad_mac1);
    // With mac1 fixed for B, the static does not open (es differs).
    refresh_mac1(m, hs::initiation_layout::mac1, key_b);
    expect_reject_b(m, reject::decrypt_failed);
}

TEST_F(pair_fixture, tampered_ciphertext_with_valid_mac1_is_decrypt_failed) {
    for (size_t off : {hs::initiation_layout::encrypted_static, hs::initiation_layout::encrypted_payload + 3,
                       hs::initiation_layout::mac1 - 1}) {
        auto m = initiation(off);
        m[off] ^= 1U;
        refresh_mac1(m, hs::initiation_layout::mac1, key_b);
        expect_reject_b(m, reject::decrypt_failed);
    }
    // a replaced ephemeral: es changes, the static no longer opens
    auto m = initiation(500);
    m[hs::initiation_layout::unencrypted_ephemeral] ^= 0x40U;
    refresh_mac1(m, hs::initiation_layout::mac1, key_b);
    expect_reject_b(m, reject::decrypt_failed);
}

TEST_F(pair_fixture, low_order_ephemeral_is_rejected) {
    for (const auto& pt : {std::array<uint8_t, 32>{}, order8_point}) {
        auto m = initiation(0);
        std::memcpy(m.data() + hs::initiation_layout::unencrypted_ephemeral, pt.data(), 32);
        refresh_mac1(m, hs::initiation_layout::mac1, key_b);
        expect_reject_b(m, reject::low_order_point);
    }
    // and in a response, at the initiator
    auto m = initiation(1);
    auto r = b->consume(m, src_a, at(1), false);
    ASSERT_EQ(r.what, hs::outcome::responded);
    std::memcpy(r.reply.data() + hs::response_layout::unencrypted_ephemeral, order8_point.data(), 32);
    refresh_mac1(r.reply, hs::response_layout::mac1, key_a);
    const uint64_t before = a->stats().rejected_of(reject::low_order_point);
    auto c = a->consume(r.reply, src_b, at(1), false);
    EXPECT_EQ(c.reason, reject::low_order_point);
    EXPECT_EQ(a->stats().rejected_of(reject::low_order_point), before + 1);
    EXPECT_TRUE(a->has_pending(id_b));  // a forged response does not disturb the pending state
}

TEST_F(pair_fixture, set_peer_refuses_low_order_keys_and_bad_ids) {
    EXPECT_FALSE(a->set_peer(5, std::array<uint8_t, 32>{}));
    EXPECT_FALSE(a->set_peer(5, order8_point));
    EXPECT_FALSE(a->has_peer(5));
    EXPECT_FALSE(a->set_peer(0, hs_test::public_of(key_c)));
    EXPECT_FALSE(a->set_peer(id_a, hs_test::public_of(key_c)));
    EXPECT_FALSE(a->set_peer(4096, hs_test::public_of(key_c)));
    EXPECT_TRUE(a->set_peer(4095, hs_test::public_of(key_c)));
    EXPECT_EQ(a->create_initiation(77, at(0)).error(), hs::create_error::unknown_peer);
}

// ---- rejects: replay --------------------------------------------------------------------------

TEST_F(pair_fixture, replayed_initiation_and_stale_timestamp) {
    auto m1 = initiation(10);
    auto m2 = initiation(11);
    EXPECT_EQ(b->consume(m2, src_a, at(11), false).what, hs::outcome::responded);
    expect_reject_b(m2, reject::replayed_initiation, 12);
    expect_reject_b(m1, reject::stale_timestamp, 12);
    auto m3 = initiation(12);
    EXPECT_EQ(b->consume(m3, src_a, at(12), false).what, hs::outcome::responded);
    expect_reject_b(m2, reject::stale_timestamp, 13);
    // The wall clock counts, not the monotonic one: an initiation written with an older wall
    // clock (a node whose clock stepped back) is stale.
    auto old = a->create_initiation(id_b, {at(20).mono_ns, at(5).wall_ns});
    ASSERT_TRUE(old.has_value());
    expect_reject_b(old->bytes, reject::stale_timestamp, 20);
    // A forged initiation cannot advance the timestamp: tampered payload is rejected first.
}

TEST_F(pair_fixture, response_replayed_late_or_for_cancelled_initiation_is_unexpected) {
    auto m = initiation(0);
    auto r = b->consume(m, src_a, at(0), false);
    ASSERT_EQ(r.what, hs::outcome::responded);
    EXPECT_EQ(a->consume(r.reply, src_b, at(0), false).what, hs::outcome::completed);
    auto again = a->consume(r.reply, src_b, at(0), false);
    EXPECT_EQ(again.reason, reject::unexpected_response);

    // cancelled
    auto m2 = initiation(1);
    auto r2 = b->consume(m2, src_a, at(1), false);
    a->cancel_initiation(id_b);
    EXPECT_EQ(a->consume(r2.reply, src_b, at(1), false).reason, reject::unexpected_response);

    // superseded by a newer initiation (its key id differs)
    auto m3 = initiation(2);
    auto r3 = b->consume(m3, src_a, at(2), false);
    auto m4 = initiation(3);
    EXPECT_EQ(a->consume(r3.reply, src_b, at(3), false).reason, reject::unexpected_response);

    // too late
    auto r4 = b->consume(m4, src_a, at(3), false);
    ASSERT_EQ(r4.what, hs::outcome::responded);
    const double late = 3 + static_cast<double>(lim.pending_timeout_ns) / 1e9;
    EXPECT_EQ(a->consume(r4.reply, src_b, at(late), false).reason, reject::unexpected_response);
    EXPECT_EQ(a->stats().rejected_of(reject::unexpected_response), 4U);
}

TEST_F(pair_fixture, tampered_response_is_decrypt_failed_and_keeps_pending) {
    auto m = initiation(0);
    auto r = b->consume(m, src_a, at(0), false);
    auto bad = r.reply;
    bad[hs::response_layout::encrypted_payload + 2] ^= 1U;
    refresh_mac1(bad, hs::response_layout::mac1, key_a);
    EXPECT_EQ(a->consume(bad, src_b, at(0), false).reason, reject::decrypt_failed);
    EXPECT_EQ(a->stats().rejected_of(reject::decrypt_failed), 1U);
    EXPECT_EQ(a->consume(r.reply, src_b, at(0), false).what, hs::outcome::completed);
}

// ---- serial guard -----------------------------------------------------------------------------

TEST_F(pair_fixture, serial_mismatch_reports_which_side_is_newer) {
    make({}, "2024-01", "2024-02");  // A older than B
    auto m = initiation(0);
    auto c = b->consume(m, src_a, at(0), false);
    EXPECT_EQ(c.reason, reject::serial_mismatch);
    EXPECT_EQ(c.serial, hs::serial_order::peer_older);
    EXPECT_EQ(c.reply.size(), hs::response_layout::size);  // the refusal (misconfig_test.cc)
    EXPECT_EQ(b->stats().rejected_of(reject::serial_mismatch), 1U);

    auto m2 = b->create_initiation(id_a, at(1));
    auto c2 = a->consume(m2->bytes, src_b, at(1), false);
    EXPECT_EQ(c2.reason, reject::serial_mismatch);
    EXPECT_EQ(c2.serial, hs::serial_order::peer_newer);

    make({}, "same", "same");
    EXPECT_EQ(b->consume(initiation(2), src_a, at(2), false).what, hs::outcome::responded);
    make({}, "", "");
    EXPECT_EQ(b->consume(initiation(3), src_a, at(3), false).what, hs::outcome::responded);
}

TEST(serial, make_serial_pads_and_orders_bytewise) {
    auto s = hs::make_serial("abc");
    EXPECT_EQ(s[0], 'a');
    EXPECT_EQ(s[3], 0);
    EXPECT_EQ(s[15], 0);
    auto l = hs::make_serial("0123456789abcdefXYZ");
    EXPECT_EQ(l[15], 'f');
    EXPECT_LT(std::memcmp(hs::make_serial("1").data(), hs::make_serial("10").data(), 16), 0);
}

// ---- cookie flow under load ---------------------------------------------------------------------

TEST_F(pair_fixture, cookie_flow_under_load) {
    auto m = initiation(0);
    auto c = b->consume(m, src_a, at(0), true);
    ASSERT_EQ(c.reason, reject::cookie_required);
    ASSERT_EQ(c.reply.size(), 64U);
    EXPECT_EQ(c.reply[0], 4);
    EXPECT_EQ(c.reply[hs::cookie_reply_layout::receiver_key_id], m[hs::initiation_layout::sender_key_id]);
    EXPECT_EQ(b->stats().sent_cookie_replies, 1U);
    EXPECT_EQ(b->stats().completed_responder, 0U);

    auto s = a->consume(c.reply, src_b, at(0.1), false);
    EXPECT_EQ(s.what, hs::outcome::cookie_stored);
    EXPECT_EQ(a->stats().cookies_stored, 1U);
    // a replayed cookie reply answers nothing any more
    EXPECT_EQ(a->consume(c.reply, src_b, at(0.1), false).reason, reject::unexpected_cookie);

    auto m2 = initiation(1);  // now with mac2
    EXPECT_EQ(b->consume(m2, src_a, at(1), true).what, hs::outcome::responded);
    // the same cookie does not vouch for another source address
    auto m3 = initiation(2);
    expect_reject_b(m3, reject::cookie_required, 2, true, src_x);
    // after the responder's secret rotated (2 min), the old cookie is refused
    auto m4 = initiation(125);
    expect_reject_b(m4, reject::cookie_required, 125, true);
    // and a cookie older than cookie_valid_ns is no longer used by the initiator: mac2 is zero
    auto m5 = initiation(200);
    EXPECT_TRUE(std::all_of(m5.begin() + hs::initiation_layout::mac2, m5.end(), [](uint8_t x) { return x == 0; }));
}

TEST_F(pair_fixture, proves_source_checks_mac2_against_the_source_and_changes_nothing) {
    // Without a cookie mac2 is zero: nothing proven, no hash spent.
    auto m0 = initiation(0);
    EXPECT_FALSE(b->proves_source(m0, src_a, at(0)));
    auto c = b->consume(m0, src_a, at(0), true);
    ASSERT_EQ(c.reason, reject::cookie_required);
    ASSERT_EQ(a->consume(c.reply, src_b, at(0.1), false).what, hs::outcome::cookie_stored);
    auto m = initiation(1);  // with mac2 for src_a
    const auto before = b->stats();
    EXPECT_TRUE(b->proves_source(m, src_a, at(1)));
    EXPECT_FALSE(b->proves_source(m, src_x, at(1))) << "the cookie is bound to the source address";
    auto forged = m;
    forged[hs::initiation_layout::mac2 + 3] ^= 1U;
    EXPECT_FALSE(b->proves_source(forged, src_a, at(1)));
    for (size_t len : {size_t{0}, size_t{7}, size_t{8}, m.size() - 1}) {  // truncated
        EXPECT_FALSE(b->proves_source(std::span<const uint8_t>(m).first(len), src_a, at(1))) << len;
    }
    auto longer = m;
    longer.push_back(0);
    EXPECT_FALSE(b->proves_source(longer, src_a, at(1)));
    auto wrong_dst = m;
    wrong_dst[4] ^= 0x10U;
    EXPECT_FALSE(b->proves_source(wrong_dst, src_a, at(1)));
    auto cookie_type = m;
    cookie_type[0] = 4;
    EXPECT_FALSE(b->proves_source(cookie_type, src_a, at(1)));
    auto bad_version = m;
    bad_version[1] ^= 0x70U;
    EXPECT_FALSE(b->proves_source(bad_version, src_a, at(1)));
    EXPECT_FALSE(b->proves_source(m, src_a, at(125))) << "after the cookie secret rotated";
    const auto& after = b->stats();
    EXPECT_EQ(after.received_initiations, before.received_initiations) << "a proof counts nothing";
    EXPECT_EQ(after.sent_cookie_replies, before.sent_cookie_replies);
    EXPECT_EQ(after.completed_responder, before.completed_responder);
    // and a peer that is not configured proves nothing
    hs::protocol cc(hs_test::make_identity(3, key_c), {}, hs_test::seeded_rng(3));
    EXPECT_FALSE(cc.proves_source(m, src_a, at(1)));
}

TEST_F(pair_fixture, cookie_reply_checks) {
    auto m = initiation(0);
    auto c = b->consume(m, src_a, at(0), true);
    ASSERT_EQ(c.reason, reject::cookie_required);
    auto wrong_id = c.reply;
    wrong_id[hs::cookie_reply_layout::receiver_key_id] ^= 1U;
    EXPECT_EQ(a->consume(wrong_id, src_b, at(0), false).reason, reject::unexpected_cookie);
    auto tampered = c.reply;
    tampered[40] ^= 1U;
    EXPECT_EQ(a->consume(tampered, src_b, at(0), false).reason, reject::decrypt_failed);
    auto bad_nonce = c.reply;
    bad_nonce[hs::cookie_reply_layout::nonce] ^= 1U;
    EXPECT_EQ(a->consume(bad_nonce, src_b, at(0), false).reason, reject::decrypt_failed);
    // a cookie reply for an older message: the new one has another key id, and with the key id
    // forged to match, the AEAD (bound to the new mac1) does not open
    auto m2 = initiation(1);
    EXPECT_EQ(a->consume(c.reply, src_b, at(1), false).reason, reject::unexpected_cookie);
    auto forged = c.reply;
    forged[hs::cookie_reply_layout::receiver_key_id] = m2[hs::initiation_layout::sender_key_id];
    EXPECT_EQ(a->consume(forged, src_b, at(1), false).reason, reject::decrypt_failed);
    EXPECT_EQ(a->stats().rejected_of(reject::decrypt_failed), 3U);
    EXPECT_EQ(a->stats().rejected_of(reject::unexpected_cookie), 2U);
    // nothing sent to C at all: unexpected
    hs::protocol cc(hs_test::make_identity(3, key_c), {}, hs_test::seeded_rng(3));
    ASSERT_TRUE(cc.set_peer(id_b, hs_test::public_of(key_b)));
    ASSERT_TRUE(b->set_peer(3, hs_test::public_of(key_c)));
    auto to_c = c.reply;
    to_c[4] = 3;
    EXPECT_EQ(cc.consume(to_c, src_b, at(1), false).reason, reject::unexpected_cookie);
}

TEST_F(pair_fixture, responses_under_load_need_mac2_too) {
    auto m = initiation(0);
    auto r = b->consume(m, src_a, at(0), false);
    ASSERT_EQ(r.what, hs::outcome::responded);
    auto c = a->consume(r.reply, src_b, at(0), true);
    ASSERT_EQ(c.reason, reject::cookie_required);
    ASSERT_EQ(c.reply.size(), 64U);
    EXPECT_EQ(c.reply[hs::cookie_reply_layout::receiver_key_id], r.reply[hs::response_layout::sender_key_id]);
    EXPECT_EQ(b->consume(c.reply, src_a, at(0), false).what, hs::outcome::cookie_stored);
    EXPECT_TRUE(a->has_pending(id_b));
}

// ---- rate limit -------------------------------------------------------------------------------

TEST_F(pair_fixture, rate_limit_per_source) {
    hs::limits l;
    l.rate_per_s = 2;
    l.burst = 3;
    make(l);
    auto m = initiation(0);
    ASSERT_EQ(b->consume(m, src_a, at(0), false).what, hs::outcome::responded);
    // replays pass mac1 and take a token each; the 4th message within the burst is limited
    expect_reject_b(m, reject::replayed_initiation, 0);
    expect_reject_b(m, reject::replayed_initiation, 0);
    expect_reject_b(m, reject::rate_limited, 0);
    expect_reject_b(m, reject::rate_limited, 0.2);
    // another source has its own bucket
    expect_reject_b(m, reject::replayed_initiation, 0.2, false, src_x);
    // one token back after 1/rate s
    expect_reject_b(m, reject::replayed_initiation, 0.5);
    expect_reject_b(m, reject::rate_limited, 0.5);
    // garbage (bad mac1) costs no token
    auto g = m;
    g[60] ^= 1U;
    expect_reject_b(g, reject::bad_mac1, 1.0);
    EXPECT_EQ(b->consume(initiation(1.0), src_a, at(1.0), false).what, hs::outcome::responded);
    EXPECT_EQ(b->stats().rejected_of(reject::rate_limited), 3U);
}

TEST_F(pair_fixture, rate_limit_is_per_ip_whatever_the_source_port) {
    // The default limit (20/s, burst 5) against a flood of fresh, valid initiations from one IP
    // that takes a new UDP source port for every message (the source bytes differ each time).
    make();
    const std::vector<uint8_t> ip = {192, 0, 2, 66};
    size_t responded = 0, limited = 0;
    for (unsigned i = 0; i < 200; ++i) {
        const double t = i * 0.005;  // 200 messages within 1 s
        const std::vector<uint8_t> src = {192, 0, 2, 66, static_cast<uint8_t>(0x80 + (i >> 8U)),
                                          static_cast<uint8_t>(i & 0xffU)};
        const auto c = b->consume(initiation(t), src, at(t), false, ip);
        responded += c.what == hs::outcome::responded ? 1 : 0;
        limited += c.reason == reject::rate_limited ? 1 : 0;
    }
    EXPECT_LE(responded, 5U + 20U) << "burst + 1 s of refill";
    EXPECT_EQ(responded + limited, 200U);
    // another IP has a bucket of its own
    const std::vector<uint8_t> other = {192, 0, 2, 67};
    EXPECT_EQ(b->consume(initiation(1.0), src_x, at(1.0), false, other).what, hs::outcome::responded);
}

TEST(rate_limiter, ipv6_sources_count_by_their_64_prefix) {
    hs::rate_limiter rl(1, 2, 16);  // 1/s, burst 2
    auto v6 = [](uint8_t net, uint8_t host) {
        std::vector<uint8_t> a = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, net, 0, 0, 0, 0, 0, 0, 0, host};
        return a;
    };
    EXPECT_TRUE(rl.allow(v6(1, 1), 0));
    EXPECT_TRUE(rl.allow(v6(1, 2), 0));   // same /64, another interface id: the same bucket
    EXPECT_FALSE(rl.allow(v6(1, 3), 0));
    EXPECT_TRUE(rl.allow(v6(2, 1), 0));   // another /64
    EXPECT_EQ(rl.n_sources(), 2U);
    const std::vector<uint8_t> v4 = {0x20, 0x01, 0x0d, 0xb8};  // an IPv4 address is not a prefix of one
    EXPECT_TRUE(rl.allow(v4, 0));
    EXPECT_EQ(rl.n_sources(), 3U);
}

TEST(rate_limiter, token_bucket_sweep_and_table_bound) {
    hs::rate_limiter rl(10, 2, 4);  // 10/s, burst 2, 4 sources
    const std::vector<uint8_t> s1 = {1}, s2 = {2};
    struct step {
        double t;
        bool allow;
    };
    constexpr step steps[] = {{0, true}, {0, true}, {0, false}, {0.05, false}, {0.1, true}, {0.1, false},
                              {0.35, true}, {0.35, true}, {0.35, false}, {10, true}, {10, true}, {10, false}};
    for (size_t i = 0; i < std::size(steps); ++i) {
        EXPECT_EQ(rl.allow(s1, static_cast<uint64_t>(steps[i].t * 1e9)), steps[i].allow) << "step " << i;
    }
    EXPECT_TRUE(rl.allow(s2, 10'000'000'000));
    for (uint8_t i = 3; i < 5; ++i) {
        EXPECT_TRUE(rl.allow(std::vector<uint8_t>{i}, 10'000'000'000));
    }
    EXPECT_EQ(rl.n_sources(), 4U);
    EXPECT_FALSE(rl.allow(std::vector<uint8_t>{9}, 10'000'000'000));  // full, all buckets in use
    EXPECT_TRUE(rl.allow(std::vector<uint8_t>{9}, 12'000'000'000));   // refilled buckets were collected
    hs::rate_limiter off(0, 0, 1);
    for (int i = 0; i < 100; ++i) {
        EXPECT_TRUE(off.allow(std::vector<uint8_t>{static_cast<uint8_t>(i)}, 0));
    }
}

// ---- key ids ----------------------------------------------------------------------------------

TEST(key_ids, pick_cycles_and_skips_live_and_zero) {
    hs::key_id_set live;
    EXPECT_EQ(hs::pick_key_id(live, 0), 1);
    EXPECT_EQ(hs::pick_key_id(live, 7), 8);
    EXPECT_EQ(hs::pick_key_id(live, 255), 1);
    live.insert(8);
    live.insert(9);
    EXPECT_EQ(hs::pick_key_id(live, 7), 10);
    live.insert(1);
    EXPECT_EQ(hs::pick_key_id(live, 255), 2);
    EXPECT_EQ(live.size(), 3U);
    for (unsigned i = 1; i < 256; ++i) {
        live.insert(static_cast<uint8_t>(i));
    }
    EXPECT_FALSE(hs::pick_key_id(live, 3).has_value());
    live.erase(200);
    EXPECT_EQ(hs::pick_key_id(live, 3), 200);
}

TEST_F(pair_fixture, key_ids_are_reserved_until_released) {
    hs::limits l;
    l.rate_per_s = 0;
    make(l);
    std::vector<uint8_t> got;
    for (int i = 0; i < 255; ++i) {
        auto r = b->consume(initiation(i), src_a, at(i), false);
        ASSERT_EQ(r.what, hs::outcome::responded) << i;
        got.push_back(r.keys->recv_key_id);
    }
    std::sort(got.begin(), got.end());
    EXPECT_EQ(std::unique(got.begin(), got.end()), got.end());
    expect_reject_b(initiation(300), reject::no_key_id, 300);
    b->release_key_id(id_a, 77);
    auto r = b->consume(initiation(301), src_a, at(301), false);
    ASSERT_EQ(r.what, hs::outcome::responded);
    EXPECT_EQ(r.keys->recv_key_id, 77);
    // the initiator's pending id is released when superseded
    auto i1 = a->create_initiation(id_b, at(400));
    auto i2 = a->create_initiation(id_b, at(401));
    EXPECT_FALSE(a->live_key_ids(id_b).contains(i1->local_key_id));
    EXPECT_TRUE(a->live_key_ids(id_b).contains(i2->local_key_id));
    a->release_key_id(id_b, i2->local_key_id);  // a pending id is not released by the caller
    EXPECT_TRUE(a->live_key_ids(id_b).contains(i2->local_key_id));
}

TEST_F(pair_fixture, changed_peer_key_drops_pending_and_replay_state) {
    auto m = initiation(5);
    ASSERT_EQ(b->consume(m, src_a, at(5), false).what, hs::outcome::responded);
    ASSERT_TRUE(b->set_peer(id_a, hs_test::public_of(key_c)));
    ASSERT_TRUE(b->set_peer(id_a, hs_test::public_of(key_a)));
    // replay state was reset with the key change: an old timestamp is accepted again
    EXPECT_EQ(b->consume(initiation(1), src_a, at(6), false).what, hs::outcome::responded);
    ASSERT_TRUE(a->has_pending(id_b));
    ASSERT_TRUE(a->set_peer(id_b, hs_test::public_of(key_c)));
    EXPECT_FALSE(a->has_pending(id_b));
    a->remove_peer(id_b);
    EXPECT_FALSE(a->has_peer(id_b));
}

// ---- Noise helpers ----------------------------------------------------------------------------

TEST(noise, symmetric_state_roundtrip_and_split_directions) {
    hs::symmetric_state x, y;
    x.initialize();
    y.initialize();
    EXPECT_TRUE(std::equal(x.hash().begin(), x.hash().end(), y.hash().begin()));
    const std::array<uint8_t, 4> ikm = {1, 2, 3, 4};
    x.mix_key(ikm);
    y.mix_key(ikm);
    std::array<uint8_t, 5> plain = {9, 8, 7, 6, 5};
    std::array<uint8_t, 21> ct;
    std::array<uint8_t, 5> back;
    ASSERT_TRUE(x.encrypt_and_hash(ct, plain));
    ASSERT_TRUE(y.decrypt_and_hash(back, ct));
    EXPECT_EQ(back, plain);
    ct[0] ^= 1U;
    EXPECT_FALSE(y.decrypt_and_hash(back, ct));
    crypto::secret<32> k1, k2;
    x.split(k1, k2);
    EXPECT_FALSE(k1 == k2);
    hs::symmetric_state nokey;
    nokey.initialize();
    EXPECT_FALSE(nokey.encrypt_and_hash(ct, plain));
}

}  // namespace

// ephemeral.hh: the Ed25519-table path gives exactly X25519(k, 9) (crypto_scalarmult_base), for
// edge scalars (all zero: libsodium's Edwards path refuses it and the fallback answers; all ones;
// the clamped bits alone; 0..255 in every byte) and 20 000 random keys.
TEST(Ephemeral, PublicKeyEqualsX25519BaseMultiplication) {
    (void)crypto::init();
    auto check = [](const std::array<uint8_t, 32>& priv) {
        std::array<uint8_t, 32> want{}, got{};
        ASSERT_TRUE(crypto::x25519_public_from_private(want, priv));
        ASSERT_TRUE(hs::ephemeral_public_from_private(got, priv));
        ASSERT_EQ(hs_test::hex(got), hs_test::hex(want)) << "private " << hs_test::hex(priv);
    };
    std::array<uint8_t, 32> k{};
    check(k);
    k.fill(0xff);
    check(k);
    k.fill(0);
    k[0] = 7;
    k[31] = 0x80;
    check(k);
    for (unsigned v = 0; v < 256; ++v) {
        k.fill(static_cast<uint8_t>(v));
        check(k);
    }
    for (int i = 0; i < 20000; ++i) {
        crypto::random_bytes(k);
        check(k);
    }
}
