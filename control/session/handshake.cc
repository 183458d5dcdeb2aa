// SPDX-License-Identifier: MIT
// The handshake protocol core (see handshake.hh for the pattern and docs/protocol.md for the
// layouts). Every received message leaves consume() through exactly one labelled exit: a
// reject(reason) that bumps that reason's counter, or a success outcome. No exceptions, no logs.
// Pending and per-peer Noise states are copied before processing so a forged message can never
// disturb the state a genuine one needs; every copy wipes itself (crypto::secret,
// symmetric_state) on every path.
#include "control/session/handshake.hh"

#include <algorithm>
#include <bit>
#include <cstring>
#include <unordered_map>

#include "control/session/cookie.hh"
#include "control/session/ephemeral.hh"
#include "control/session/handshake_noise.hh"
#include "control/session/handshake_ratelimit.hh"
#include "crypto/dh.hh"
#include "crypto/random.hh"

namespace control::handshake {

namespace {

using transport::max_node_id;
constexpr std::string_view prologue_label = "dvpe v1";
constexpr uint64_t tai64_label = 0x400000000000000aULL;  // TAI64: 2^62 + 10 s, as WireGuard
constexpr uint64_t ns_per_s = 1'000'000'000;

size_t expected_size(message_type t) noexcept {
    switch (t) {
    case message_type::handshake_initiation:
        return initiation_layout::size;
    case message_type::handshake_response:
        return response_layout::size;
    case message_type::cookie_reply:
        return cookie_reply_layout::size;
    case message_type::data:
        break;
    }
    return 0;
}

void write_header(std::span<uint8_t> m, message_type t, uint16_t src, uint16_t dst) noexcept {
    m[0] = static_cast<uint8_t>(t);
    m[1] = static_cast<uint8_t>(protocol_version << 4U);
    m[2] = static_cast<uint8_t>((((src >> 8U) & 0xfU) << 4U) | ((dst >> 8U) & 0xfU));
    m[3] = static_cast<uint8_t>(src & 0xffU);
    m[4] = static_cast<uint8_t>(dst & 0xffU);
    m[5] = m[6] = m[7] = 0;
}

uint16_t header_src(std::span<const uint8_t> m) noexcept {
    return static_cast<uint16_t>(((m[2] >> 4U) << 8U) | m[3]);
}
uint16_t header_dst(std::span<const uint8_t> m) noexcept {
    return static_cast<uint16_t>(((m[2] & 0xfU) << 8U) | m[4]);
}

void put_be64(uint8_t* p, uint64_t v) noexcept {
    for (int i = 7; i >= 0; --i) {
        p[i] = static_cast<uint8_t>(v & 0xffU);
        v >>= 8U;
    }
}
void put_be32(uint8_t* p, uint32_t v) noexcept {
    for (int i = 3; i >= 0; --i) {
        p[i] = static_cast<uint8_t>(v & 0xffU);
        v >>= 8U;
    }
}

/// TAI64N of a Unix-epoch nanosecond time: big-endian, so memcmp orders timestamps.
std::array<uint8_t, timestamp_len> tai64n(uint64_t wall_ns) noexcept {
    std::array<uint8_t, timestamp_len> t;
    put_be64(t.data(), tai64_label + wall_ns / ns_per_s);
    put_be32(t.data() + 8, static_cast<uint32_t>(wall_ns % ns_per_s));
    return t;
}

std::array<uint8_t, prologue_label.size() + 4> make_prologue(uint16_t initiator, uint16_t responder) noexcept {
    std::array<uint8_t, prologue_label.size() + 4> p;
    std::memcpy(p.data(), prologue_label.data(), prologue_label.size());
    p[prologue_label.size() + 0] = static_cast<uint8_t>(initiator >> 8U);
    p[prologue_label.size() + 1] = static_cast<uint8_t>(initiator & 0xffU);
    p[prologue_label.size() + 2] = static_cast<uint8_t>(responder >> 8U);
    p[prologue_label.size() + 3] = static_cast<uint8_t>(responder & 0xffU);
    return p;
}

serial_order compare_serial(std::span<const uint8_t> peer, std::span<const uint8_t> ours) noexcept {
    const int c = std::memcmp(peer.data(), ours.data(), serial_len);
    return c == 0 ? serial_order::equal : (c > 0 ? serial_order::peer_newer : serial_order::peer_older);
}

}  // namespace

std::array<uint8_t, serial_len> make_serial(std::string_view s) noexcept {
    std::array<uint8_t, serial_len> out{};
    std::memcpy(out.data(), s.data(), std::min(s.size(), serial_len));
    return out;
}

std::string_view to_string(create_error e) noexcept {
    switch (e) {
    case create_error::unknown_peer:
        return "unknown peer";
    case create_error::peer_disabled:
        return "peer disabled";
    case create_error::no_key_id:
        return "no key id";
    }
    return "?";
}

size_t key_id_set::size() const noexcept {
    size_t n = 0;
    for (uint64_t w : _bits) {
        n += static_cast<size_t>(std::popcount(w));
    }
    return n;
}

std::optional<uint8_t> pick_key_id(const key_id_set& live, uint8_t last) noexcept {
    unsigned id = last;
    for (unsigned i = 0; i < 255; ++i) {
        id = id >= 255 ? 1 : id + 1;
        if (!live.contains(static_cast<uint8_t>(id))) {
            return static_cast<uint8_t>(id);
        }
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------

struct protocol::impl {
    struct pending_initiation {
        bool active = false;
        uint8_t key_id = 0;
        uint64_t created_ns = 0;
        crypto::secret<32> ephemeral_private;
        symmetric_state st;  ///< after the initiation's payload

        void clear() noexcept {
            active = false;
            key_id = 0;
            created_ns = 0;
            ephemeral_private.wipe();
            st.wipe();
        }
    };

    struct peer {
        uint16_t id = 0;
        std::array<uint8_t, key_len> pub{};
        bool accept = true;
        crypto::secret<32> ss;           ///< /* ss */ DH(s, rs), precomputed (docs/design.md §7)
        symmetric_state as_initiator;    ///< Initialize + prologue(self, peer) + MixHash(rs = peer)
        symmetric_state as_responder;    ///< Initialize + prologue(peer, self) + MixHash(rs = self)
        cookie_state cookies;
        std::array<uint8_t, timestamp_len> greatest_timestamp{};
        bool have_timestamp = false;
        key_id_set live;
        uint8_t last_key_id = 0;
        pending_initiation pending;
    };

    identity self;
    limits lim;
    random_source rng;
    cookie_checker checker;
    rate_limiter limiter;
    std::unordered_map<uint16_t, peer> peers;

    impl(identity id, limits l, random_source r)
        : self(std::move(id)),
          lim(l),
          rng(std::move(r)),
          checker(self.static_public, l.cookie_secret_rotate_ns),
          limiter(l.rate_per_s, l.burst, l.max_sources) {}

    void random(std::span<uint8_t> out) const noexcept {
        if (rng) {
            rng(out);
        } else {
            crypto::random_bytes(out);
        }
    }

    /// A fresh ephemeral key pair from `rng` (private clamped by X25519 itself). The public key
    /// through Ed25519's fixed-base tables (ephemeral.hh): half the time of the X25519 ladder.
    void make_ephemeral(crypto::secret<32>& priv, std::array<uint8_t, key_len>& pub) const noexcept {
        random(priv.span());
        (void)ephemeral_public_from_private(pub, priv.span());
    }

    peer* find(uint16_t id) noexcept {
        auto it = peers.find(id);
        return it == peers.end() ? nullptr : &it->second;
    }

    std::optional<uint8_t> take_key_id(peer& p) noexcept {
        auto id = pick_key_id(p.live, p.last_key_id);
        if (id) {
            p.live.insert(*id);
            p.last_key_id = *id;
        }
        return id;
    }

    void drop_pending(peer& p) noexcept {
        if (p.pending.active) {
            p.live.erase(p.pending.key_id);
        }
        p.pending.clear();
    }
};

protocol::protocol(identity id, limits lim, random_source rng)
    : _impl(std::make_unique<impl>(std::move(id), lim, std::move(rng))) {}

protocol::~protocol() = default;

uint16_t protocol::node_id() const noexcept { return _impl->self.node_id; }

void protocol::set_serial(const std::array<uint8_t, serial_len>& serial) noexcept { _impl->self.serial = serial; }

bool protocol::set_peer(uint16_t id, const std::array<uint8_t, key_len>& pub, bool accept) {
    impl& m = *_impl;
    if (id == 0 || id > max_node_id || id == m.self.node_id) {
        return false;
    }
    crypto::secret<32> ss;
    if (!crypto::x25519(ss.span(), m.self.static_private.span(), pub)) {
        return false;  // low-order static key: every handshake with it would be unauthenticated
    }
    auto [it, inserted] = m.peers.try_emplace(id);
    impl::peer& p = it->second;
    const bool key_changed = inserted || p.pub != pub;
    p.accept = accept;
    if (!key_changed) {
        return true;
    }
    p.id = id;
    p.pub = pub;
    p.ss = ss;
    const auto pro_i = make_prologue(m.self.node_id, id);
    p.as_initiator.initialize();
    p.as_initiator.mix_hash(pro_i);
    p.as_initiator.mix_hash(p.pub); /* <- s (pre-message: the responder's static) */
    const auto pro_r = make_prologue(id, m.self.node_id);
    p.as_responder.initialize();
    p.as_responder.mix_hash(pro_r);
    p.as_responder.mix_hash(m.self.static_public); /* <- s */
    p.cookies.init(p.pub);
    p.greatest_timestamp.fill(0);
    p.have_timestamp = false;
    m.drop_pending(p);
    return true;
}

void protocol::remove_peer(uint16_t id) noexcept { _impl->peers.erase(id); }

bool protocol::has_peer(uint16_t id) const noexcept { return _impl->peers.contains(id); }

void protocol::cancel_initiation(uint16_t peer) noexcept {
    if (impl::peer* p = _impl->find(peer)) {
        _impl->drop_pending(*p);
    }
}

bool protocol::has_pending(uint16_t peer, uint64_t* since_mono_ns) const noexcept {
    auto it = _impl->peers.find(peer);
    if (it == _impl->peers.end() || !it->second.pending.active) {
        return false;
    }
    if (since_mono_ns != nullptr) {
        *since_mono_ns = it->second.pending.created_ns;
    }
    return true;
}

void protocol::release_key_id(uint16_t peer, uint8_t key_id) noexcept {
    if (impl::peer* p = _impl->find(peer)) {
        if (!(p->pending.active && p->pending.key_id == key_id)) {
            p->live.erase(key_id);
        }
    }
}

key_id_set protocol::live_key_ids(uint16_t peer) const noexcept {
    auto it = _impl->peers.find(peer);
    return it == _impl->peers.end() ? key_id_set{} : it->second.live;
}

// ---- initiator: create the initiation --------------------------------------------------------

result<initiation, create_error> protocol::create_initiation(uint16_t peer_id, clock_reading now) {
    impl& m = *_impl;
    impl::peer* p = m.find(peer_id);
    if (p == nullptr) {
        return unexpected{create_error::unknown_peer};
    }
    if (!p->accept) {
        return unexpected{create_error::peer_disabled};
    }
    m.drop_pending(*p);
    const auto key_id = m.take_key_id(*p);
    if (!key_id) {
        return unexpected{create_error::no_key_id};
    }
    namespace L = initiation_layout;
    initiation out;
    out.local_key_id = *key_id;
    out.bytes.assign(L::size, 0);
    std::span<uint8_t> msg(out.bytes);
    write_header(msg, message_type::handshake_initiation, m.self.node_id, peer_id);
    msg[L::sender_key_id] = *key_id;

    impl::pending_initiation& pend = p->pending;
    pend.st = p->as_initiator;
    std::array<uint8_t, key_len> e_pub;
    m.make_ephemeral(pend.ephemeral_private, e_pub);
    std::memcpy(msg.data() + L::unencrypted_ephemeral, e_pub.data(), key_len);
    pend.st.mix_hash(e_pub); /* e */

    crypto::secret<32> dh;
    // The peer's key was checked in set_peer, so this DH cannot be all-zero.
    (void)crypto::x25519(dh.span(), pend.ephemeral_private.span(), p->pub);
    pend.st.mix_key(dh.span()); /* es */

    (void)pend.st.encrypt_and_hash(msg.subspan(L::encrypted_static, key_len + tag_len),
                                   m.self.static_public); /* s */
    pend.st.mix_key(p->ss.span()); /* ss */

    std::array<uint8_t, L::payload_plain_len> payload{};
    const auto ts = tai64n(now.wall_ns);
    std::memcpy(payload.data(), ts.data(), timestamp_len);
    std::memcpy(payload.data() + timestamp_len, m.self.serial.data(), serial_len);
    payload[timestamp_len + serial_len] = m.self.protocols;
    payload[timestamp_len + serial_len + 1] = m.self.flags;
    payload[timestamp_len + serial_len + 2] = m.self.cipher;
    (void)pend.st.encrypt_and_hash(msg.subspan(L::encrypted_payload, L::payload_plain_len + tag_len), payload);

    p->cookies.add_macs(msg, L::mac1, *key_id, now.mono_ns, m.lim.cookie_valid_ns);
    pend.active = true;
    pend.key_id = *key_id;
    pend.created_ns = now.mono_ns;
    ++_stats.sent_initiations;
    return out;
}

// ---- consume ----------------------------------------------------------------------------------

bool protocol::proves_source(std::span<const uint8_t> msg, std::span<const uint8_t> source,
                             clock_reading now) noexcept {
    impl& m = *_impl;
    if (msg.size() < header_len || (msg[1] >> 4U) != protocol_version) {
        return false;
    }
    const auto type = static_cast<message_type>(msg[0]);
    if (type != message_type::handshake_initiation && type != message_type::handshake_response) {
        return false;
    }
    if (msg.size() != expected_size(type) || header_dst(msg) != m.self.node_id) {
        return false;
    }
    const impl::peer* p = m.find(header_src(msg));
    if (p == nullptr || !p->accept) {
        return false;
    }
    const size_t mac2_off =
        (type == message_type::handshake_initiation ? initiation_layout::mac1 : response_layout::mac1) + mac_len;
    // A sender without a cookie sends zeros: no hash for the common case of a flood.
    const auto mac2 = msg.subspan(mac2_off, mac_len);
    if (std::all_of(mac2.begin(), mac2.end(), [](uint8_t b) { return b == 0; })) {
        return false;
    }
    return m.checker.mac2_valid(msg, mac2_off, source, now.mono_ns, m.rng);
}

consumed protocol::consume(std::span<const uint8_t> msg, std::span<const uint8_t> source, clock_reading now,
                           bool under_load, std::span<const uint8_t> source_ip) {
    impl& m = *_impl;
    consumed c;
    auto reject_with = [&](reject r) -> consumed& {
        ++_stats.rejected[static_cast<size_t>(r)];
        c.what = outcome::rejected;
        c.reason = r;
        return c;
    };

    if (msg.size() < header_len) [[unlikely]] {
        return reject_with(reject::bad_length);
    }
    if ((msg[1] >> 4U) != protocol_version) [[unlikely]] {
        // Where the src field sits in version 1; read for the per-peer report only (a later
        // version may place it elsewhere, so the claim is as weak as every unauthenticated one).
        c.peer_id = header_src(msg);
        c.peer_version = static_cast<uint8_t>(msg[1] >> 4U);
        return reject_with(reject::bad_version);
    }
    const uint8_t raw_type = msg[0];
    if (raw_type < static_cast<uint8_t>(message_type::handshake_initiation) ||
        raw_type > static_cast<uint8_t>(message_type::cookie_reply)) [[unlikely]] {
        return reject_with(reject::bad_type);
    }
    c.type = static_cast<message_type>(raw_type);
    c.peer_id = header_src(msg);
    switch (c.type) {
    case message_type::handshake_initiation:
        ++_stats.received_initiations;
        break;
    case message_type::handshake_response:
        ++_stats.received_responses;
        break;
    default:
        ++_stats.received_cookie_replies;
        break;
    }
    if (msg.size() != expected_size(c.type)) [[unlikely]] {
        return reject_with(reject::bad_length);
    }
    if (header_dst(msg) != m.self.node_id) [[unlikely]] {
        return reject_with(reject::wrong_dst);
    }
    impl::peer* p = m.find(c.peer_id);
    if (p == nullptr) [[unlikely]] {
        return reject_with(reject::unknown_src);
    }
    if (!p->accept) [[unlikely]] {
        return reject_with(reject::peer_disabled);
    }

    // ---- cookie reply (type 4): one AEAD, no mac1 ----
    if (c.type == message_type::cookie_reply) {
        namespace L = cookie_reply_layout;
        if (!p->cookies.have_last_mac1 || msg[L::receiver_key_id] != p->cookies.last_sender_key_id) [[unlikely]] {
            return reject_with(reject::unexpected_cookie);
        }
        if (!p->cookies.consume_cookie(msg.subspan(L::nonce).first<cookie_box_len>(), now.mono_ns)) [[unlikely]] {
            c.failed_aead = consumed::aead::cookie;
            return reject_with(reject::decrypt_failed);
        }
        ++_stats.cookies_stored;
        c.what = outcome::cookie_stored;
        return c;
    }

    // ---- initiation / response: mac1 first (one keyed hash), then mac2 under load ----
    const size_t mac1_off = c.type == message_type::handshake_initiation ? initiation_layout::mac1 : response_layout::mac1;
    if (!m.checker.mac1_valid(msg, mac1_off)) [[unlikely]] {
        return reject_with(reject::bad_mac1);
    }
    if (under_load && !m.checker.mac2_valid(msg, mac1_off + mac_len, source, now.mono_ns, m.rng)) {
        namespace L = cookie_reply_layout;
        c.reply.assign(L::size, 0);
        std::span<uint8_t> r(c.reply);
        write_header(r, message_type::cookie_reply, m.self.node_id, c.peer_id);
        r[L::receiver_key_id] = msg[5];  // the sender_key_id of the message answered
        m.checker.seal_cookie(r.subspan(L::nonce).first<cookie_box_len>(),
                              msg.subspan(mac1_off).first<mac_len>(), source, now.mono_ns, m.rng);
        ++_stats.sent_cookie_replies;
        return reject_with(reject::cookie_required);
    }
    if (!m.limiter.allow(source_ip.empty() ? source : source_ip, now.mono_ns)) [[unlikely]] {
        return reject_with(reject::rate_limited);
    }

    if (c.type == message_type::handshake_initiation) {
        // ---- responder: consume the initiation, create the response ----
        namespace L = initiation_layout;
        symmetric_state st = p->as_responder;
        std::array<uint8_t, key_len> re;
        std::memcpy(re.data(), msg.data() + L::unencrypted_ephemeral, key_len);
        st.mix_hash(re); /* e */
        crypto::secret<32> dh;
        if (!crypto::x25519(dh.span(), m.self.static_private.span(), re)) [[unlikely]] {
            return reject_with(reject::low_order_point);
        }
        st.mix_key(dh.span()); /* es */
        std::array<uint8_t, key_len> rs;
        if (!st.decrypt_and_hash(rs, msg.subspan(L::encrypted_static, key_len + tag_len))) [[unlikely]] {
            c.failed_aead = consumed::aead::initiation_static;
            return reject_with(reject::decrypt_failed); /* s */
        }
        if (!crypto::equal_ct(rs, p->pub)) [[unlikely]] {
            c.claimed_static = rs;  // public: for the log, so the operator can compare keys
            return reject_with(reject::wrong_static_key);
        }
        st.mix_key(p->ss.span()); /* ss */
        crypto::secret<L::payload_plain_len> payload;
        if (!st.decrypt_and_hash(payload.span(), msg.subspan(L::encrypted_payload, L::payload_plain_len + tag_len)))
            [[unlikely]] {
            c.failed_aead = consumed::aead::initiation_payload;
            return reject_with(reject::decrypt_failed);
        }
        const std::span<const uint8_t> pl = payload.span();
        if (p->have_timestamp) {
            const int cmp = std::memcmp(pl.data(), p->greatest_timestamp.data(), timestamp_len);
            if (cmp == 0) [[unlikely]] {
                return reject_with(reject::replayed_initiation);
            }
            if (cmp < 0) [[unlikely]] {
                return reject_with(reject::stale_timestamp);
            }
        }
        // Serial guard. A mismatch is refused with a response that carries our serial and no
        // keys (sender key id 0, docs/protocol.md "Refusal"): the initiator learns why from an
        // authenticated message instead of timing out.
        // The same for the data-plane cipher, when both sides say theirs (0: an older node).
        c.serial = compare_serial(pl.subspan(timestamp_len, serial_len), m.self.serial);
        c.peer_cipher = pl[timestamp_len + serial_len + 2];
        const bool cipher_differs = c.peer_cipher != 0 && m.self.cipher != 0 && c.peer_cipher != m.self.cipher;
        const bool refuse = c.serial != serial_order::equal || cipher_differs;
        std::optional<uint8_t> key_id = uint8_t{0};
        if (refuse) [[unlikely]] {
            std::memcpy(c.peer_serial.data(), pl.data() + timestamp_len, serial_len);
            c.authenticated = true;
        } else {
            key_id = m.take_key_id(*p);
            if (!key_id) [[unlikely]] {
                return reject_with(reject::no_key_id);
            }
        }

        namespace R = response_layout;
        c.reply.assign(R::size, 0);
        std::span<uint8_t> out(c.reply);
        write_header(out, message_type::handshake_response, m.self.node_id, c.peer_id);
        out[R::sender_key_id] = *key_id;
        out[R::receiver_key_id] = msg[L::sender_key_id];
        crypto::secret<32> e_priv;
        std::array<uint8_t, key_len> e_pub;
        m.make_ephemeral(e_priv, e_pub);
        std::memcpy(out.data() + R::unencrypted_ephemeral, e_pub.data(), key_len);
        st.mix_hash(e_pub); /* e */
        (void)crypto::x25519(dh.span(), e_priv.span(), re);  // re is not low order: es succeeded
        st.mix_key(dh.span()); /* ee */
        (void)crypto::x25519(dh.span(), e_priv.span(), p->pub);
        st.mix_key(dh.span()); /* se */
        std::array<uint8_t, R::payload_plain_len> rp{};
        std::memcpy(rp.data(), m.self.serial.data(), serial_len);
        rp[serial_len] = m.self.protocols;
        rp[serial_len + 1] = m.self.flags;
        rp[serial_len + 2] = m.self.cipher;
        (void)st.encrypt_and_hash(out.subspan(R::encrypted_payload, R::payload_plain_len + tag_len), rp);
        p->cookies.add_macs(out, R::mac1, *key_id, now.mono_ns, m.lim.cookie_valid_ns);
        if (refuse) [[unlikely]] {
            // The initiation was fully authenticated: it counts against replay like an accepted
            // one, so a captured copy cannot make us refuse (and log) again.
            std::memcpy(p->greatest_timestamp.data(), pl.data(), timestamp_len);
            p->have_timestamp = true;
            ++_stats.sent_refusals;
            return reject_with(c.serial != serial_order::equal ? reject::serial_mismatch : reject::cipher_mismatch);
        }

        session_keys k;
        st.split(k.recv, k.send);  // the initiator sends with k1
        k.peer_id = c.peer_id;
        k.send_key_id = msg[L::sender_key_id];
        k.recv_key_id = *key_id;
        k.initiator = false;
        k.established_ns = now.mono_ns;
        k.peer_protocols = pl[timestamp_len + serial_len];
        k.peer_flags = pl[timestamp_len + serial_len + 1];
        std::memcpy(p->greatest_timestamp.data(), pl.data(), timestamp_len);
        p->have_timestamp = true;
        c.keys = std::move(k);
        c.what = outcome::responded;
        ++_stats.sent_responses;
        ++_stats.completed_responder;
        return c;
    }

    // ---- initiator: consume the response ----
    namespace R = response_layout;
    impl::pending_initiation& pend = p->pending;
    if (!pend.active || pend.key_id != msg[R::receiver_key_id] || now.mono_ns < pend.created_ns ||
        now.mono_ns - pend.created_ns >= m.lim.pending_timeout_ns) [[unlikely]] {
        return reject_with(reject::unexpected_response);
    }
    symmetric_state st = pend.st;
    std::array<uint8_t, key_len> re;
    std::memcpy(re.data(), msg.data() + R::unencrypted_ephemeral, key_len);
    st.mix_hash(re); /* e */
    crypto::secret<32> dh;
    if (!crypto::x25519(dh.span(), pend.ephemeral_private.span(), re)) [[unlikely]] {
        return reject_with(reject::low_order_point);
    }
    st.mix_key(dh.span()); /* ee */
    (void)crypto::x25519(dh.span(), m.self.static_private.span(), re);
    st.mix_key(dh.span()); /* se */
    std::array<uint8_t, R::payload_plain_len> rp{};
    if (!st.decrypt_and_hash(rp, msg.subspan(R::encrypted_payload, R::payload_plain_len + tag_len))) [[unlikely]] {
        c.failed_aead = consumed::aead::response;
        return reject_with(reject::decrypt_failed);
    }
    // The payload opened under ee and se with our ephemeral: the responder holds the peer's
    // static key and answers this initiation. The pending initiation stays (a refusal does not
    // end the retry series; the peer's config may be fixed by the next attempt).
    c.serial = compare_serial(std::span<const uint8_t>(rp).first(serial_len), m.self.serial);
    if (c.serial != serial_order::equal) [[unlikely]] {
        std::memcpy(c.peer_serial.data(), rp.data(), serial_len);
        c.authenticated = true;
        return reject_with(reject::serial_mismatch);
    }
    c.peer_cipher = rp[serial_len + 2];
    if (c.peer_cipher != 0 && m.self.cipher != 0 && c.peer_cipher != m.self.cipher) [[unlikely]] {
        c.authenticated = true;  // opened under ee and se: the responder's own words
        return reject_with(reject::cipher_mismatch);
    }
    if (msg[R::sender_key_id] == 0) [[unlikely]] {
        // A refusal of a serial that is no longer ours (a reload crossed it): no keys to use.
        return reject_with(reject::unexpected_response);
    }
    session_keys k;
    st.split(k.send, k.recv);
    k.peer_id = c.peer_id;
    k.send_key_id = msg[R::sender_key_id];
    k.recv_key_id = pend.key_id;
    k.initiator = true;
    k.established_ns = now.mono_ns;
    k.peer_protocols = rp[serial_len];
    k.peer_flags = rp[serial_len + 1];
    pend.clear();  // the key id stays live: it now belongs to the caller's keys
    c.keys = std::move(k);
    c.what = outcome::completed;
    ++_stats.completed_initiator;
    return c;
}

}  // namespace control::handshake
