// SPDX-License-Identifier: MIT
// Known-answer tests of the handshake's Noise layer against public test vectors from outside this
// project: the Noise_IK_25519_ChaChaPoly_BLAKE2b entries of noise-c (tests/vector/noise-c-basic.txt)
// and of cacophony (vectors/cacophony.txt), copied unchanged into data/ with their source, commit
// and license.
//
// The vectors fix both static keys, both ephemeral keys, the prologue and six payloads. The IK
// pattern is run here on the core's own Noise code (control/session/handshake_noise.hh symmetric_state:
// protocol name padding, MixHash, MixKey/HKDF on HMAC-BLAKE2b, temp_k truncation,
// EncryptAndHash/DecryptAndHash, Split; crypto::x25519; crypto::handshake_seal with Noise's nonce)
// in both roles, and every message must come out byte for byte: messages 1 and 2 are the
// handshake, the handshake hash must match, and messages 3 to 6 are transport messages sealed
// with the two Split() keys (initiator -> responder with k1, responder -> initiator with k2, the
// nonce counting 0, 1 per direction), which checks the split.
//
// dvpe's messages wrap that Noise layer (common header, key ids, mac1/mac2, a fixed prologue
// "dvpe v1" || ids and structured payloads; docs/protocol.md), so the vectors cannot be fed to
// control::handshake::protocol itself. The last test binds the two: the real protocol core, given
// the vectors' static and ephemeral keys (through its injectable random source), must produce
// exactly the Noise bytes and session keys that the vector-checked sequence here produces with
// dvpe's prologue and payloads.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <span>
#include <string>
#include <vector>

#include "control/session/handshake.hh"
#include "control/session/handshake_noise.hh"
#include "crypto/dh.hh"
#include "crypto/handshake_aead.hh"
#include "crypto/init.hh"

#ifndef DVPE_NOISE_VECTORS
#error "DVPE_NOISE_VECTORS (the data/ directory) is set by tests/unit/control/session/meson.build"
#endif

namespace {

namespace hs = control::handshake;
using bytes = std::vector<uint8_t>;

bytes unhex(const std::string& s) {
    bytes out;
    for (size_t i = 0; i + 1 < s.size(); i += 2) {
        out.push_back(static_cast<uint8_t>(std::stoi(s.substr(i, 2), nullptr, 16)));
    }
    return out;
}

std::string hex(std::span<const uint8_t> b) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (uint8_t x : b) {
        s += d[x >> 4U];
        s += d[x & 15U];
    }
    return s;
}

std::array<uint8_t, 32> key32(const bytes& b) {
    std::array<uint8_t, 32> k{};
    EXPECT_EQ(b.size(), 32U);
    std::memcpy(k.data(), b.data(), std::min<size_t>(b.size(), 32));
    return k;
}

struct message {
    bytes payload;
    bytes ciphertext;
};

/// One vector of a data/ file: the JSON object of the source, read line by line ("key": "value").
struct noise_vector {
    std::string file;
    std::string protocol;
    std::map<std::string, bytes> field;
    std::vector<message> messages;
};

noise_vector load(const std::string& name) {
    noise_vector v;
    v.file = name;
    std::ifstream in(std::string(DVPE_NOISE_VECTORS) + "/" + name);
    EXPECT_TRUE(in.good()) << "cannot open " << name;
    const std::regex kv(R"re(^\s*"([a-z_]+)"\s*:\s*"([^"]*)"\s*,?\s*$)re");
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with("#")) {
            continue;
        }
        std::smatch m;
        if (!std::regex_match(line, m, kv)) {
            continue;
        }
        const std::string k = m[1], val = m[2];
        if (k == "name" || k == "protocol_name") {
            v.protocol = val;
        } else if (k == "payload") {
            v.messages.push_back({unhex(val), {}});
        } else if (k == "ciphertext") {
            EXPECT_FALSE(v.messages.empty());
            if (!v.messages.empty()) {
                v.messages.back().ciphertext = unhex(val);
            }
        } else if (k != "pattern" && k != "dh" && k != "cipher" && k != "hash") {
            v.field[k] = unhex(val);
        }
    }
    return v;
}

const char* const vector_files[] = {"noise-c-basic-IK_25519_ChaChaPoly_BLAKE2b.txt",
                                    "cacophony-IK_25519_ChaChaPoly_BLAKE2b.txt"};

// ---- IK on the core's primitives ------------------------------------------------------------

struct party {
    crypto::secret<32> s, e;
    std::array<uint8_t, 32> s_pub{}, e_pub{};
    hs::symmetric_state st;
};

void keypair(party& p, const bytes& s_priv, const bytes& e_priv) {
    p.s = crypto::secret<32>(std::span<const uint8_t, 32>(key32(s_priv)));
    p.e = crypto::secret<32>(std::span<const uint8_t, 32>(key32(e_priv)));
    ASSERT_TRUE(crypto::x25519_public_from_private(p.s_pub, p.s.span()));
    ASSERT_TRUE(crypto::x25519_public_from_private(p.e_pub, p.e.span()));
}

crypto::secret<32> dh(const crypto::secret<32>& priv, std::span<const uint8_t, 32> pub) {
    crypto::secret<32> out;
    EXPECT_TRUE(crypto::x25519(out.span(), priv.span(), pub));
    return out;
}

struct ik_inputs {
    bytes init_static, init_ephemeral, resp_static, resp_ephemeral;
    bytes prologue;
    bytes payload1, payload2;
};

struct ik_transcript {
    bytes msg1, msg2;                     ///< the Noise messages, as on the wire of the vectors
    bytes payload1_read, payload2_read;   ///< what the other side decrypted
    std::array<uint8_t, 32> init_static_seen{};  ///< the initiator's static key, as the responder read it
    std::array<uint8_t, 64> h_init{}, h_resp{};
    crypto::secret<32> i_k1, i_k2, r_k1, r_k2;
    bool ok = false;
};

/// Runs IK (<- s ... -> e, es, s, ss / <- e, ee, se) with both roles on symmetric_state, as
/// Noise rev 34 §5.3 and §7.4 define it: each side writes its message and the other reads it.
ik_transcript run_ik(const ik_inputs& in) {
    ik_transcript t;
    party i, r;
    keypair(i, in.init_static, in.init_ephemeral);
    keypair(r, in.resp_static, in.resp_ephemeral);

    // Initialize(protocol name), MixHash(prologue), pre-message <- s: MixHash(rs)
    i.st.initialize();
    i.st.mix_hash(in.prologue);
    i.st.mix_hash(r.s_pub);
    r.st.initialize();
    r.st.mix_hash(in.prologue);
    r.st.mix_hash(r.s_pub);

    // -> e, es, s, ss, payload (initiator writes)
    t.msg1.assign(32 + 48 + in.payload1.size() + 16, 0);
    std::span<uint8_t> m1(t.msg1);
    std::memcpy(m1.data(), i.e_pub.data(), 32);
    i.st.mix_hash(i.e_pub);                                 // e
    i.st.mix_key(dh(i.e, r.s_pub).span());                  // es
    if (!i.st.encrypt_and_hash(m1.subspan(32, 48), i.s_pub)) {  // s
        return t;
    }
    i.st.mix_key(dh(i.s, r.s_pub).span());                  // ss
    if (!i.st.encrypt_and_hash(m1.subspan(80), in.payload1)) {
        return t;
    }

    // responder reads it
    std::array<uint8_t, 32> re{}, rs{};
    std::memcpy(re.data(), m1.data(), 32);
    r.st.mix_hash(re);                                      // e
    r.st.mix_key(dh(r.s, re).span());                       // es
    if (!r.st.decrypt_and_hash(rs, m1.subspan(32, 48))) {   // s
        return t;
    }
    t.init_static_seen = rs;
    r.st.mix_key(dh(r.s, rs).span());                       // ss
    t.payload1_read.assign(in.payload1.size(), 0);
    if (!r.st.decrypt_and_hash(t.payload1_read, m1.subspan(80))) {
        return t;
    }

    // <- e, ee, se, payload (responder writes)
    t.msg2.assign(32 + in.payload2.size() + 16, 0);
    std::span<uint8_t> m2(t.msg2);
    std::memcpy(m2.data(), r.e_pub.data(), 32);
    r.st.mix_hash(r.e_pub);                                 // e
    r.st.mix_key(dh(r.e, re).span());                       // ee
    r.st.mix_key(dh(r.e, rs).span());                       // se
    if (!r.st.encrypt_and_hash(m2.subspan(32), in.payload2)) {
        return t;
    }

    // initiator reads it
    std::array<uint8_t, 32> ie{};
    std::memcpy(ie.data(), m2.data(), 32);
    i.st.mix_hash(ie);                                      // e
    i.st.mix_key(dh(i.e, ie).span());                       // ee
    i.st.mix_key(dh(i.s, ie).span());                       // se
    t.payload2_read.assign(in.payload2.size(), 0);
    if (!i.st.decrypt_and_hash(t.payload2_read, m2.subspan(32))) {
        return t;
    }

    std::memcpy(t.h_init.data(), i.st.hash().data(), 64);
    std::memcpy(t.h_resp.data(), r.st.hash().data(), 64);
    i.st.split(t.i_k1, t.i_k2);
    r.st.split(t.r_k1, t.r_k2);
    t.ok = true;
    return t;
}

ik_inputs inputs_of(const noise_vector& v) {
    ik_inputs in;
    in.init_static = v.field.at("init_static");
    in.init_ephemeral = v.field.at("init_ephemeral");
    in.resp_static = v.field.at("resp_static");
    in.resp_ephemeral = v.field.at("resp_ephemeral");
    in.prologue = v.field.at("init_prologue");
    in.payload1 = v.messages.at(0).payload;
    in.payload2 = v.messages.at(1).payload;
    return in;
}

bytes seal(const crypto::secret<32>& k, uint64_t n, const bytes& plain) {
    std::array<uint8_t, crypto::handshake_nonce_len> nonce;
    crypto::noise_nonce(nonce, n);
    bytes out(plain.size() + crypto::handshake_tag_len);
    EXPECT_TRUE(crypto::handshake_seal(out, k.span(), nonce, {}, plain));
    return out;
}

std::optional<bytes> open(const crypto::secret<32>& k, uint64_t n, const bytes& ct) {
    std::array<uint8_t, crypto::handshake_nonce_len> nonce;
    crypto::noise_nonce(nonce, n);
    if (ct.size() < crypto::handshake_tag_len) {
        return std::nullopt;
    }
    bytes out(ct.size() - crypto::handshake_tag_len);
    if (!crypto::handshake_open(out, k.span(), nonce, {}, ct)) {
        return std::nullopt;
    }
    return out;
}

class noise_ik_vectors : public ::testing::TestWithParam<const char*> {
protected:
    void SetUp() override {
        ASSERT_TRUE(crypto::init());
        v = load(GetParam());
    }
    noise_vector v;
};

TEST_P(noise_ik_vectors, file_holds_one_complete_ik_blake2b_vector) {
    EXPECT_EQ(v.protocol, "Noise_IK_25519_ChaChaPoly_BLAKE2b");
    EXPECT_EQ(v.protocol, hs::noise_protocol_name);
    for (const char* k : {"init_static", "init_ephemeral", "init_remote_static", "resp_static", "resp_ephemeral"}) {
        ASSERT_TRUE(v.field.contains(k)) << k;
        EXPECT_EQ(v.field.at(k).size(), 32U) << k;
    }
    ASSERT_TRUE(v.field.contains("init_prologue"));
    EXPECT_EQ(v.field.at("init_prologue"), v.field.at("resp_prologue"));
    ASSERT_TRUE(v.field.contains("handshake_hash"));
    EXPECT_EQ(v.field.at("handshake_hash").size(), 64U);  // HASHLEN of BLAKE2b
    ASSERT_EQ(v.messages.size(), 6U);
    for (const auto& m : v.messages) {
        EXPECT_FALSE(m.payload.empty());
        EXPECT_FALSE(m.ciphertext.empty());
    }
    // The initiator's pre-known responder key is the public key of the responder's private key.
    std::array<uint8_t, 32> pub;
    const auto priv = key32(v.field.at("resp_static"));
    ASSERT_TRUE(crypto::x25519_public_from_private(pub, priv));
    EXPECT_EQ(hex(pub), hex(v.field.at("init_remote_static")));
}

TEST_P(noise_ik_vectors, handshake_messages_and_hash_byte_for_byte) {
    const ik_transcript t = run_ik(inputs_of(v));
    ASSERT_TRUE(t.ok);
    // message 1: e (32) || encrypted s (48) || encrypted payload; message 2: e (32) || payload
    EXPECT_EQ(hex(t.msg1), hex(v.messages[0].ciphertext));
    EXPECT_EQ(hex(t.msg2), hex(v.messages[1].ciphertext));
    EXPECT_EQ(t.payload1_read, v.messages[0].payload);
    EXPECT_EQ(t.payload2_read, v.messages[1].payload);
    std::array<uint8_t, 32> init_pub;
    ASSERT_TRUE(crypto::x25519_public_from_private(init_pub, key32(v.field.at("init_static"))));
    EXPECT_EQ(hex(t.init_static_seen), hex(init_pub));  // the responder learnt the initiator's key
    EXPECT_EQ(hex(t.h_init), hex(v.field.at("handshake_hash")));
    EXPECT_EQ(hex(t.h_resp), hex(v.field.at("handshake_hash")));
}

TEST_P(noise_ik_vectors, split_keys_seal_and_open_the_transport_messages) {
    const ik_transcript t = run_ik(inputs_of(v));
    ASSERT_TRUE(t.ok);
    // Both sides derive the same pair; k1 carries initiator -> responder, k2 the other way.
    EXPECT_TRUE(t.i_k1 == t.r_k1);
    EXPECT_TRUE(t.i_k2 == t.r_k2);
    EXPECT_FALSE(t.i_k1 == t.i_k2);
    uint64_t n_i = 0, n_r = 0;
    for (size_t idx = 2; idx < v.messages.size(); ++idx) {
        SCOPED_TRACE("message " + std::to_string(idx + 1));
        const bool from_initiator = idx % 2 == 0;  // the pattern's alternation continues
        const auto& send = from_initiator ? t.i_k1 : t.r_k2;
        const auto& recv = from_initiator ? t.r_k1 : t.i_k2;
        const uint64_t n = from_initiator ? n_i++ : n_r++;
        EXPECT_EQ(hex(seal(send, n, v.messages[idx].payload)), hex(v.messages[idx].ciphertext));
        const auto back = open(recv, n, v.messages[idx].ciphertext);
        ASSERT_TRUE(back.has_value());
        EXPECT_EQ(*back, v.messages[idx].payload);
        // the wrong direction's key or the wrong nonce does not open it
        EXPECT_FALSE(open(from_initiator ? t.i_k2 : t.i_k1, n, v.messages[idx].ciphertext).has_value());
        EXPECT_FALSE(open(recv, n + 1, v.messages[idx].ciphertext).has_value());
    }
}

TEST_P(noise_ik_vectors, one_changed_input_changes_the_transcript) {
    // The vectors constrain every input: a different prologue byte or ephemeral key gives other
    // bytes (so a match above is not an accident of inputs that do not matter).
    ik_inputs in = inputs_of(v);
    in.prologue.back() ^= 1U;
    ik_transcript t = run_ik(in);
    ASSERT_TRUE(t.ok);
    const std::span<const uint8_t> got(t.msg1), want(v.messages[0].ciphertext);
    EXPECT_EQ(hex(got.first(32)), hex(want.first(32)));     // the ephemeral key does not depend on it
    EXPECT_NE(hex(got.subspan(32)), hex(want.subspan(32)));  // everything encrypted does
    EXPECT_NE(hex(t.h_init), hex(v.field.at("handshake_hash")));
    in = inputs_of(v);
    in.resp_ephemeral[0] ^= 0x40U;
    t = run_ik(in);
    ASSERT_TRUE(t.ok);
    EXPECT_EQ(hex(t.msg1), hex(v.messages[0].ciphertext));
    EXPECT_NE(hex(t.msg2), hex(v.messages[1].ciphertext));
}

INSTANTIATE_TEST_SUITE_P(public_vectors, noise_ik_vectors, ::testing::ValuesIn(vector_files),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                             return std::string(p.param).starts_with("noise-c") ? std::string("noise_c")
                                                                                 : std::string("cacophony");
                         });

// ---- the protocol core follows the same sequence -----------------------------------------------

/// A random source that hands out one fixed 32-byte key (the ephemeral private key) and fails the
/// test on any other request, so the core cannot draw randomness this test does not know of.
hs::random_source fixed_ephemeral(const bytes& key) {
    auto calls = std::make_shared<int>(0);
    return [key, calls](std::span<uint8_t> out) {
        ++*calls;
        ASSERT_EQ(out.size(), 32U) << "unexpected random request";
        ASSERT_EQ(*calls, 1) << "a second ephemeral key was drawn";
        std::memcpy(out.data(), key.data(), 32);
    };
}

hs::identity identity_of(uint16_t node_id, const bytes& priv, const std::string& serial, uint8_t protocols) {
    hs::identity id;
    id.node_id = node_id;
    id.static_private = crypto::secret<32>(std::span<const uint8_t, 32>(key32(priv)));
    EXPECT_TRUE(crypto::x25519_public_from_private(id.static_public, id.static_private.span()));
    id.serial = hs::make_serial(serial);
    id.protocols = protocols;
    return id;
}

TEST(noise_ik_core, protocol_messages_and_keys_match_the_vector_checked_sequence) {
    ASSERT_TRUE(crypto::init());
    const noise_vector v = load(vector_files[0]);
    ASSERT_EQ(v.messages.size(), 6U);
    constexpr uint16_t id_i = 0x123, id_r = 0x2;  // ids above 255 use the high nibble of srcdst
    hs::identity ii = identity_of(id_i, v.field.at("init_static"), "serial-7", 0x09);
    hs::identity ir = identity_of(id_r, v.field.at("resp_static"), "serial-7", 0x01);
    const auto pub_i = ii.static_public, pub_r = ir.static_public;
    hs::protocol init(std::move(ii), {}, fixed_ephemeral(v.field.at("init_ephemeral")));
    hs::protocol resp(std::move(ir), {}, fixed_ephemeral(v.field.at("resp_ephemeral")));
    ASSERT_TRUE(init.set_peer(id_r, pub_r));
    ASSERT_TRUE(resp.set_peer(id_i, pub_i));

    // The wall clock is written into the initiation as TAI64N (docs/protocol.md).
    const hs::clock_reading now{5'000'000'000ULL, 1'700'000'123'456'789'000ULL};
    auto created = init.create_initiation(id_r, now);
    ASSERT_TRUE(created.has_value());
    const bytes msg1 = created->bytes;
    ASSERT_EQ(msg1.size(), hs::initiation_layout::size);

    // docs/protocol.md: prologue = "dvpe v1" || initiator id (u16 BE) || responder id (u16 BE);
    // initiation payload = TAI64N (u64 BE 2^62 + 10 + s, u32 BE ns) || serial (16) || protocols
    // || flags || 2 reserved; response payload = serial || protocols || flags || 2 reserved.
    ik_inputs in;
    in.init_static = v.field.at("init_static");
    in.init_ephemeral = v.field.at("init_ephemeral");
    in.resp_static = v.field.at("resp_static");
    in.resp_ephemeral = v.field.at("resp_ephemeral");
    in.prologue = {'d', 'v', 'p', 'e', ' ', 'v', '1', 0x01, 0x23, 0x00, 0x02};
    const uint64_t secs = 0x400000000000000aULL + 1'700'000'123ULL;
    in.payload1.clear();
    for (int b = 7; b >= 0; --b) {
        in.payload1.push_back(static_cast<uint8_t>(secs >> (8 * b)));
    }
    for (uint32_t ns = 456'789'000U, b = 4; b-- > 0;) {
        in.payload1.push_back(static_cast<uint8_t>(ns >> (8 * b)));
    }
    const bytes serial = {'s', 'e', 'r', 'i', 'a', 'l', '-', '7', 0, 0, 0, 0, 0, 0, 0, 0};
    in.payload1.insert(in.payload1.end(), serial.begin(), serial.end());
    in.payload1.insert(in.payload1.end(), {0x09, 0x00, 0x00, 0x00});
    in.payload2 = serial;
    in.payload2.insert(in.payload2.end(), {0x01, 0x00, 0x00, 0x00});
    ASSERT_EQ(in.payload1.size(), hs::initiation_layout::payload_plain_len);
    ASSERT_EQ(in.payload2.size(), hs::response_layout::payload_plain_len);
    const ik_transcript t = run_ik(in);
    ASSERT_TRUE(t.ok);

    // the initiation's Noise part (e, encrypted s, encrypted payload) is the sequence's message 1
    namespace L = hs::initiation_layout;
    const std::span<const uint8_t> m1(msg1);
    EXPECT_EQ(hex(m1.subspan(L::unencrypted_ephemeral, L::mac1 - L::unencrypted_ephemeral)), hex(t.msg1));
    // and its ephemeral is the vector's (the same first 32 bytes as the vector's message 1)
    EXPECT_EQ(hex(m1.subspan(L::unencrypted_ephemeral, 32)),
              hex(std::span<const uint8_t>(v.messages[0].ciphertext).first(32)));

    const std::vector<uint8_t> src = {10, 0, 0, 1, 0x02, 0x8f};
    hs::consumed r = resp.consume(msg1, src, {now.mono_ns + 1000, now.wall_ns + 1000}, false);
    ASSERT_EQ(r.what, hs::outcome::responded) << (r.reason ? hs::to_string(*r.reason) : "");
    ASSERT_EQ(r.reply.size(), hs::response_layout::size);
    namespace R = hs::response_layout;
    const std::span<const uint8_t> m2(r.reply);
    EXPECT_EQ(hex(m2.subspan(R::unencrypted_ephemeral, R::mac1 - R::unencrypted_ephemeral)), hex(t.msg2));
    EXPECT_EQ(hex(m2.subspan(R::unencrypted_ephemeral, 32)),
              hex(std::span<const uint8_t>(v.messages[1].ciphertext).first(32)));

    hs::consumed c = init.consume(r.reply, src, {now.mono_ns + 2000, now.wall_ns + 2000}, false);
    ASSERT_EQ(c.what, hs::outcome::completed) << (c.reason ? hs::to_string(*c.reason) : "");
    ASSERT_TRUE(c.keys.has_value());
    ASSERT_TRUE(r.keys.has_value());
    // Split(): the initiator sends with k1 and receives with k2, the responder the other way.
    EXPECT_TRUE(c.keys->send == t.i_k1);
    EXPECT_TRUE(c.keys->recv == t.i_k2);
    EXPECT_TRUE(r.keys->send == t.r_k2);
    EXPECT_TRUE(r.keys->recv == t.r_k1);
    EXPECT_TRUE(c.keys->initiator);
    EXPECT_FALSE(r.keys->initiator);
}

}  // namespace
