// SPDX-License-Identifier: MIT
// Per-peer session state machine (see session.hh and docs/protocol.md "Sessions").
//
// Key lifecycle, per peer (make-before-break):
//   initiator: response consumed -> install_keys(current): send and receive with the new keys at
//              once (the response proves the responder holds them), old current -> retiring;
//              then a keepalive under the new keys confirms them to the responder.
//   responder: initiation consumed -> response sent, install_keys(next): receive with the new
//              keys at once, keep sending with the old ones (the response may be lost);
//              first packet received under the next keys -> learn_endpoint (the initiation's
//              source, proven only now) and promote_keys: send with them, old current -> retiring.
//   retiring:  receive-only for timing::retire_grace_ns, then retire_key. A rekey fires no event.
#include "control/session/session.hh"

#include "crypto/aead.hh"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "control/config/keys.hh"

namespace control::session {

namespace {

uint64_t seconds_ns(double sec) noexcept {
    if (!(sec > 0)) {
        return 0;
    }
    return static_cast<uint64_t>(std::min(sec, 1e9) * 1e9);
}

bool since(uint64_t now, uint64_t then, uint64_t interval) noexcept { return now >= then && now - then >= interval; }

/// A config serial as sent (zero padded): quoted, up to the first zero byte, other bytes
/// outside printable ASCII as \xNN.
std::string serial_text(const std::array<uint8_t, handshake::serial_len>& s) {
    std::string out = "\"";
    for (uint8_t b : s) {
        if (b == 0) {
            break;
        }
        if (b >= 0x20 && b < 0x7f && b != '"' && b != '\\') {
            out += static_cast<char>(b);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", b);
            out += buf;
        }
    }
    return out + '"';
}

}  // namespace

// ---- handshake failures of configured peers ---------------------------------------------------

bool is_peer_failure(handshake::reject r) noexcept {
    using handshake::reject;
    // Not: the length/type/dst/src checks (nothing names a configured peer), load (cookie
    // required, rate limited), attacks that need no misconfiguration (low order point, replayed
    // initiation), races (unexpected response/cookie) and our own key ids (no key id).
    return r == reject::bad_version || r == reject::peer_disabled || r == reject::bad_mac1 ||
           r == reject::decrypt_failed || r == reject::wrong_static_key || r == reject::stale_timestamp ||
           r == reject::serial_mismatch || r == reject::cipher_mismatch;
}

std::string describe(const handshake_failure& f, std::string_view peer, std::string_view self) {
    using handshake::reject;
    using aead = handshake::consumed::aead;
    const std::string p(peer), me(self);
    const std::string unauth =
        " (unauthenticated: the message only claims to come from " + p + "; it may be forged or corrupted)";
    switch (f.reason) {
    case reject::serial_mismatch:
        if (f.serial == handshake::serial_order::peer_newer) {
            return "handshake refused: its config serial " + serial_text(f.peer_serial) + " is newer than ours " +
                   serial_text(f.our_serial) +
                   " -- our config is outdated (GVPE: 'outdated config'): install the current config here and reload";
        }
        return "handshake refused: its config serial " + serial_text(f.peer_serial) + " is older than ours " +
               serial_text(f.our_serial) + " -- its config is outdated: install the current config on " + p +
               " and reload it there";
    case reject::cipher_mismatch: {
        auto suite_name = [](uint8_t id) {
            return id == 0 || id > 4 ? "cipher #" + std::to_string(id)
                                     : std::string(crypto::name(static_cast<crypto::suite>(id - 1)));
        };
        return "handshake refused: its cipher is " + suite_name(f.peer_cipher) + ", ours is " +
               suite_name(f.our_cipher) + " -- set the same `cipher` on both nodes (GVPE: both must be built with the "
               "same cipher)";
    }
    case reject::wrong_static_key: {
        std::string key = encode_key(f.claimed_static);
        while (!key.empty() && key.back() == '\n') {
            key.pop_back();
        }
        return "handshake rejected: its static key " + key + " is not the one in our config (pubkey/" + p +
               ") -- if " + p + "'s keys were regenerated, get its new public key from " + p +
               "'s operator (never from this message: anyone who knows our public key can send it) and reload" +
               unauth;
    }
    case reject::bad_mac1:
        return "handshake rejected: mac1 does not verify, so the sender did not use our public key -- " + p +
               "'s config likely holds an old or wrong public key for us (pubkey/" + me + " there): copy ours to it" +
               unauth;
    case reject::bad_version:
        return "handshake rejected: it speaks protocol version " + std::to_string(f.peer_version) + ", we speak " +
               std::to_string(handshake::protocol_version) + " -- run dvpe releases that share a protocol version" +
               unauth;
    case reject::peer_disabled:
        return "handshake ignored: " + p + " is connect = disabled in our config but sends handshakes -- change connect"
               " here or stop it from connecting" + unauth;
    case reject::decrypt_failed:
        switch (f.failed_aead) {
        case aead::initiation_payload:
            return "handshake rejected: its initiation carries the public key of " + p +
                   " but its sender does not hold the matching private key -- on " + p +
                   ", check that its private key matches pubkey/" + p + unauth;
        case aead::initiation_static:
            return "handshake rejected: its initiation does not decrypt with our static key" + unauth;
        case aead::response:
            return "handshake rejected: its response does not decrypt under our initiation" + unauth;
        case aead::cookie:
            return "handshake rejected: its cookie reply does not decrypt" + unauth;
        case aead::none:
            break;
        }
        return "handshake rejected: decrypt failed" + unauth;
    case reject::stale_timestamp:
        return "handshake rejected: its initiation's timestamp is older than one accepted from it before -- " + p +
               "'s clock stepped back? It is refused until its clock passes that time or we restart (or the message "
               "is a replay)";
    default:
        break;
    }
    return "handshake rejected: " + std::string(handshake::to_string(f.reason)) + (f.authenticated ? "" : unauth);
}

uint64_t retry_interval_ns(uint32_t attempt, double max_retry_s, bool low_power) noexcept {
    // 1,2,3,4, 2,2,3,4, 4,2,3,4, 8,2,3,4, 16,... (gvpe.md §1.5)
    const uint32_t phase = attempt % 4U;
    const double base = phase == 0 ? std::ldexp(1.0, static_cast<int>(std::min<uint32_t>(attempt / 4U, 40)))
                                   : static_cast<double>(phase + 1);
    double sec = base * 0.9 * (low_power ? 4.0 : 1.0);
    if (max_retry_s > 0) {
        sec = std::min(sec, max_retry_s);
    }
    return seconds_ns(std::max(sec, 0.1));
}

std::string_view to_string(peer_state s) noexcept {
    switch (s) {
    case peer_state::down:
        return "down";
    case peer_state::connecting:
        return "connecting";
    case peer_state::up:
        return "up";
    }
    return "?";
}

std::string_view to_string(event_kind e) noexcept {
    switch (e) {
    case event_kind::node_up:
        return "up";
    case event_kind::node_down:
        return "down";
    case event_kind::node_change:
        return "change";
    }
    return "?";
}

peer_conf make_peer_conf(const node_conf& n, const std::array<uint8_t, handshake::key_len>& pub) {
    peer_conf pc;
    pc.id = static_cast<uint16_t>(n.id);
    pc.pub = pub;
    pc.connect = n.connect;
    pc.max_retry_s = n.max_retry;
    pc.max_ttl_s = n.max_ttl;
    pc.low_power = n.low_power;
    return pc;
}

std::vector<rx_report> rx_reports(std::span<const rx_sample> now, std::span<const rx_sample> before) {
    // Per worker, never summed: a worker that received under the old keys long ago keeps that
    // key id, and must not hide the worker that just received under the new ones.
    std::vector<rx_report> out;
    for (size_t w = 0; w < now.size(); ++w) {
        const rx_sample prev = w < before.size() ? before[w] : rx_sample{};
        const rx_sample& cur = now[w];
        const bool data = cur.packets != prev.packets;
        // A changed key id counts too: a worker may count a packet before one sample and set its
        // key id after it, and that key must still be reported.
        if (!data && cur.keepalives == prev.keepalives && cur.key_id == prev.key_id) {
            continue;
        }
        if (cur.key_id == 0) {
            continue;  // counted, but no key id set yet: the next sample reports it
        }
        auto it = std::find_if(out.begin(), out.end(), [&](const rx_report& r) { return r.key_id == cur.key_id; });
        if (it == out.end()) {
            out.push_back({cur.key_id, !data});
        } else if (data) {
            it->keepalive = false;
        }
    }
    return out;
}

manager::manager(conf c, handshake::random_source rng)
    : _conf(std::move(c)), _proto(_conf.self, _conf.limits, std::move(rng)) {
    _conf.self.static_private.wipe();  // the core holds the only copy
}

manager::peer_session* manager::find(uint16_t id) noexcept {
    auto it = _peers.find(id);
    return it == _peers.end() ? nullptr : &it->second;
}

bool manager::low_power(const peer_session& p) const noexcept { return p.conf.low_power || _conf.self_low_power; }

uint64_t manager::keepalive_ns() const noexcept { return seconds_ns(_conf.keepalive_s); }

uint64_t manager::rekey_after_ns(const peer_session& p) const noexcept {
    return seconds_ns(_conf.rekey_s) + (p.conf.id > _conf.self.node_id ? timing::rekey_higher_peer_extra_ns : 0);
}

// ---- configuration ------------------------------------------------------------------------------

bool manager::set_peer(const peer_conf& pc, clock_reading now, actions& out) {
    const bool accept = pc.connect != connect_mode::disabled;
    peer_session* existing = find(pc.id);
    const bool reset = existing != nullptr && (existing->conf.pub != pc.pub || !accept);
    if (reset) {
        go_down(*existing, out);
    }
    if (!_proto.set_peer(pc.id, pc.pub, accept)) {
        if (existing != nullptr) {
            go_down(*existing, out);
            _peers.erase(pc.id);
        }
        return false;
    }
    peer_session& p = _peers[pc.id];
    if (p.conf.pub != pc.pub) {
        p.failure.reset();  // a new key: the old failure says nothing about it
    }
    p.conf = pc;
    if (!accept) {
        stop_initiating(p);
    }
    (void)now;
    return true;
}

void manager::remove_peer(uint16_t id, clock_reading now, actions& out) {
    (void)now;
    if (peer_session* p = find(id)) {
        go_down(*p, out);
        _peers.erase(id);
    }
    _proto.remove_peer(id);
}

void manager::set_local(const std::array<uint8_t, handshake::serial_len>& serial, connect_mode self_connect,
                        bool self_low_power, double keepalive_s, double rekey_s) noexcept {
    if (_conf.self.serial != serial) {
        for (auto& [id, p] : _peers) {
            if (p.failure && p.failure->reason == handshake::reject::serial_mismatch) {
                p.failure.reset();  // compared against the old serial
            }
        }
    }
    _conf.self.serial = serial;
    _proto.set_serial(serial);
    _conf.self_connect = self_connect;
    _conf.self_low_power = self_low_power;
    _conf.keepalive_s = keepalive_s;
    _conf.rekey_s = rekey_s;
}

void manager::on_initiation_unsent(uint16_t peer) noexcept { _proto.cancel_initiation(peer); }

void manager::on_peer_closed(uint16_t peer, clock_reading now, actions& out) {
    (void)now;
    if (peer_session* p = find(peer); p != nullptr && p->state != peer_state::down) {
        ++p->stats.closes_received;
        go_down(*p, out);
    }
}

// ---- building blocks ----------------------------------------------------------------------------

void manager::send_initiation(peer_session& p, clock_reading now, actions& out) {
    auto init = _proto.create_initiation(p.conf.id, now);
    // The wait grows even if nothing could be built, so a failure cannot spin.
    p.next_attempt_ns = now.mono_ns + retry_interval_ns(p.attempt, p.conf.max_retry_s, low_power(p));
    ++p.attempt;
    p.last_attempt_ns = now.mono_ns;
    if (!init) {
        return;
    }
    out.push_back(send_handshake{p.conf.id, std::move(init->bytes), {}});
    ++p.stats.initiations_sent;
    p.last_sent_ns = now.mono_ns;
}

void manager::start_initiating(peer_session& p, bool rekey, clock_reading now, actions& out) {
    p.initiating = true;
    p.rekeying = rekey;
    p.attempt = 0;
    if (p.state == peer_state::down) {
        p.state = peer_state::connecting;
    }
    send_initiation(p, now, out);
}

void manager::stop_initiating(peer_session& p) noexcept {
    _proto.cancel_initiation(p.conf.id);
    p.initiating = false;
    p.rekeying = false;
    p.attempt = 0;
}

void manager::retire(peer_session& p, uint8_t key_id, actions& out) {
    out.push_back(retire_key{p.conf.id, key_id});
    _proto.release_key_id(p.conf.id, key_id);
}

void manager::schedule_retire(peer_session& p, const key_slot& k, uint64_t at_ns) {
    p.retiring.push_back({k.recv_key_id, at_ns, std::max(k.established_ns, k.last_used_ns)});
}

size_t manager::rx_keys(const peer_session& p) noexcept {
    return (p.current.valid ? 1U : 0U) + (p.next.valid ? 1U : 0U) + p.retiring.size();
}

void manager::make_room(peer_session& p, actions& out) {
    // The data plane holds max_rx_keys receive keys; were it to find them full, it would drop its
    // oldest, which may be the current key the peer still sends with (e.g. after three lost
    // responses). Choose here instead: the retiring key that carried a packet least recently.
    while (rx_keys(p) >= max_rx_keys) {
        if (!p.retiring.empty()) {
            auto lru = std::min_element(p.retiring.begin(), p.retiring.end(),
                                        [](const retiring_key& a, const retiring_key& b) {
                                            return a.last_used_ns < b.last_used_ns;
                                        });
            retire(p, lru->recv_key_id, out);
            p.retiring.erase(lru);
        } else if (p.next.valid) {
            retire(p, p.next.recv_key_id, out);
            p.next = {};
        } else {
            break;  // only the current key: there is room (max_rx_keys > 1)
        }
    }
}

void manager::go_down(peer_session& p, actions& out) {
    for (key_slot* k : {&p.current, &p.next}) {
        if (k->valid) {
            retire(p, k->recv_key_id, out);
            *k = {};
        }
    }
    for (const retiring_key& r : p.retiring) {
        retire(p, r.recv_key_id, out);
    }
    p.retiring.clear();
    stop_initiating(p);
    if (p.state == peer_state::up) {
        out.push_back(event{event_kind::node_down, p.conf.id});
        ++p.stats.downs;
    }
    p.state = peer_state::down;
    p.last_probe_ns = 0;
}

void manager::mark_up(peer_session& p, uint64_t now_ns, actions& out) {
    p.failure.reset();  // a handshake completed: whatever failed before is fixed
    if (p.state == peer_state::up) {
        ++p.stats.rekeys;
        return;
    }
    p.state = peer_state::up;
    p.last_data_ns = now_ns;  // the ondemand idle clock starts at connection
    p.last_probe_ns = 0;
    ++p.stats.ups;
    out.push_back(event{event_kind::node_up, p.conf.id});
}

// ---- timers -------------------------------------------------------------------------------------

void manager::tick(clock_reading now, actions& out) {
    for (auto& [id, p] : _peers) {
        tick_peer(p, now, out);
    }
}

void manager::tick_peer(peer_session& p, clock_reading now, actions& out) {
    const connect_mode mode = p.conf.connect;
    if (mode == connect_mode::disabled) {
        return;
    }
    const uint64_t t = now.mono_ns;

    // Receive keys past their grace period, and responder keys never confirmed.
    while (!p.retiring.empty() && t >= p.retiring.front().retire_at_ns) {
        retire(p, p.retiring.front().recv_key_id, out);
        p.retiring.erase(p.retiring.begin());
    }
    if (p.next.valid && since(t, p.next_installed_ns, timing::next_confirm_timeout_ns)) {
        retire(p, p.next.recv_key_id, out);
        p.next = {};
        if (p.state == peer_state::connecting && !p.initiating) {
            p.state = peer_state::down;
        }
    }

    const uint64_t ka = keepalive_ns();
    if (p.state == peer_state::up) {
        if (ka != 0 && since(t, p.last_rx_ns, ka + timing::keepalive_grace_ns)) {
            go_down(p, out);  // keepalive overdue; `always` reconnects below
        } else if (ka != 0 && mode == connect_mode::ondemand && _conf.self_connect == connect_mode::ondemand &&
                   since(t, p.last_data_ns, ka)) {
            go_down(p, out);  // both ends ondemand and idle (gvpe.md §1.5)
            p.demand_until_ns = 0;
        } else {
            if (ka != 0 && since(t, p.last_rx_ns, ka) && since(t, p.last_probe_ns, timing::keepalive_probe_interval_ns)) {
                out.push_back(send_keepalive{p.conf.id});
                ++p.stats.keepalives_sent;
                p.last_probe_ns = t;
                p.last_sent_ns = t;
            }
            if (!p.initiating && since(t, p.current.established_ns, rekey_after_ns(p))) {
                start_initiating(p, true, now, out);
            }
        }
    }
    // Not up: start a series, unless the peer just initiated and we wait for its confirmation.
    const bool awaiting_confirm = p.next.valid && !since(t, p.next_installed_ns, timing::confirm_wait_ns);
    if (p.state != peer_state::up && !p.initiating && !awaiting_confirm) {
        const bool demand = mode == connect_mode::ondemand && t < p.demand_until_ns;
        if (mode == connect_mode::always || demand) {
            start_initiating(p, false, now, out);
        }
    }
    if (p.initiating && t >= p.next_attempt_ns) {
        const bool demand = mode != connect_mode::ondemand || p.rekeying || t < p.demand_until_ns;
        if (!demand) {
            stop_initiating(p);  // "no demand" (ondemand)
            if (p.state == peer_state::connecting && !p.next.valid) {
                p.state = peer_state::down;
            }
        } else {
            send_initiation(p, now, out);
        }
    }
}

// ---- events -------------------------------------------------------------------------------------

void manager::on_handshake_packet(std::span<const uint8_t> msg, std::span<const uint8_t> source, clock_reading now,
                                  bool under_load, actions& out, std::span<const uint8_t> source_ip,
                                  bool ours_relayed) {
    handshake::consumed c = _proto.consume(msg, source, now, under_load, source_ip);
    peer_session* p = find(c.peer_id);
    if (p != nullptr) {
        ++p->stats.handshakes_received;
    }
    switch (c.what) {
    case handshake::outcome::rejected:
        if (p != nullptr && c.reason) {
            ++p->stats.failed[static_cast<size_t>(*c.reason)];
            if (is_peer_failure(*c.reason)) {
                note_failure(*p, c, now.mono_ns, out);
            }
        }
        if (!c.reply.empty()) {  // a cookie reply, or a refusal of the initiator's serial
            const bool refusal = c.reason == handshake::reject::serial_mismatch;
            out.push_back(send_handshake{c.peer_id, std::move(c.reply), {source.begin(), source.end()}});
            if (p != nullptr) {
                ++(refusal ? p->stats.refusals_sent : p->stats.cookie_replies_sent);
            }
        }
        return;
    case handshake::outcome::cookie_stored:
        return;
    case handshake::outcome::responded: {
        if (p == nullptr || !c.keys) {
            if (c.keys) {
                _proto.release_key_id(c.peer_id, c.keys->recv_key_id);
            }
            return;
        }
        // Simultaneous initiation: both nodes sent an initiation before seeing the other's.
        // The one from the lower node id wins: the lower node ignores the higher node's
        // initiation while its own is young (it will complete), the higher node abandons its own
        // and answers. An old pending initiation of ours (likely lost) does not block the peer,
        // nor one that went through a router when the peer's came directly: that peer's is
        // answered, and ours stays pending -- the peer may answer it too (it is the higher id
        // if we are the lower), and then ours completes instead of both sides dropping the
        // other's response. The peer's confirmation of ours (or of our answer) ends the series.
        uint64_t pending_since = 0;
        if (p->initiating && _proto.has_pending(p->conf.id, &pending_since)) {
            if (!ours_relayed && _conf.self.node_id < p->conf.id && now.mono_ns >= pending_since &&
                now.mono_ns - pending_since < timing::simultaneous_window_ns) {
                _proto.release_key_id(p->conf.id, c.keys->recv_key_id);
                ++p->stats.simultaneous_dropped;
                return;
            }
            if (!ours_relayed) {
                stop_initiating(*p);
            }
        }
        out.push_back(send_handshake{p->conf.id, std::move(c.reply), {source.begin(), source.end()}});
        ++p->stats.responses_sent;
        ++p->stats.handshakes_completed;
        p->stats.last_handshake_ns = now.mono_ns;
        p->last_sent_ns = now.mono_ns;
        p->last_rx_ns = now.mono_ns;
        if (p->next.valid) {
            // A newer handshake supersedes an unconfirmed one; the peer may still use the older
            // keys for a moment, so they retire after the grace period.
            schedule_retire(*p, p->next, now.mono_ns + timing::retire_grace_ns);
            p->next = {};
        }
        make_room(*p, out);  // before the install: the current key stays whatever was lost
        // The source is learnt only when the initiator proves it holds these keys (its first
        // packet under them): an initiation may be a replay, e.g. after we restarted and forgot
        // the peer's greatest timestamp, and must not re-point the peer.
        p->next = {true, c.keys->recv_key_id, now.mono_ns, now.mono_ns, {source.begin(), source.end()}};
        p->next_installed_ns = now.mono_ns;
        if (p->state == peer_state::down) {
            p->state = peer_state::connecting;
        }
        out.push_back(install_keys{std::move(*c.keys), key_role::next});
        return;
    }
    case handshake::outcome::completed: {
        if (p == nullptr || !c.keys) {
            if (c.keys) {
                _proto.release_key_id(c.peer_id, c.keys->recv_key_id);
            }
            return;
        }
        const uint64_t t = now.mono_ns;
        if (p->current.valid) {
            schedule_retire(*p, p->current, t + timing::retire_grace_ns);
            p->current = {};
        }
        if (p->next.valid) {
            schedule_retire(*p, p->next, t + timing::retire_grace_ns);
            p->next = {};
        }
        make_room(*p, out);
        // A response answers our own pending initiation (its ephemeral key): it cannot be replayed.
        p->current = {true, c.keys->recv_key_id, t, t, {source.begin(), source.end()}};
        out.push_back(learn_endpoint{p->conf.id, p->current.source});
        out.push_back(install_keys{std::move(*c.keys), key_role::current});
        p->initiating = false;
        p->rekeying = false;
        p->attempt = 0;
        ++p->stats.handshakes_completed;
        p->stats.last_handshake_ns = t;
        p->last_rx_ns = t;
        mark_up(*p, t, out);
        // Confirms the keys to the responder, which sends with them only after this.
        out.push_back(send_keepalive{p->conf.id});
        ++p->stats.keepalives_sent;
        p->last_sent_ns = t;
        return;
    }
    }
}

// Records (with the precedence of handshake_failure) and logs (rate-limited) one rejection.
void manager::note_failure(peer_session& p, const handshake::consumed& c, uint64_t now_ns, actions& out) {
    handshake_failure f;
    f.reason = *c.reason;
    f.authenticated = c.authenticated;
    f.serial = c.serial;
    f.peer_serial = c.peer_serial;
    f.our_serial = _conf.self.serial;
    f.claimed_static = c.claimed_static;
    f.peer_version = c.peer_version;
    f.peer_cipher = c.peer_cipher;
    f.our_cipher = _conf.self.cipher;
    f.failed_aead = c.failed_aead;
    f.last_ns = now_ns;
    const bool held = p.failure && p.failure->authenticated && now_ns >= p.failure->last_ns &&
                      now_ns - p.failure->last_ns < timing::authenticated_failure_hold_ns;
    if (f.authenticated || (p.state != peer_state::up && !held)) {
        if (p.failure && p.failure->reason == f.reason && p.failure->authenticated == f.authenticated &&
            p.failure->serial == f.serial) {
            f.count = p.failure->count + 1;
        }
        p.failure = f;
    }
    const auto r = static_cast<size_t>(f.reason);
    if (!p.logged[r] || now_ns >= p.log_next_ns[r]) {
        out.push_back(log_failure{p.conf.id, f, p.log_suppressed[r]});
        p.logged[r] = true;
        p.log_next_ns[r] = now_ns + timing::failure_log_interval_ns;
        p.log_suppressed[r] = 0;
    } else {
        ++p.log_suppressed[r];
    }
}

void manager::on_packets_queued(uint16_t peer, clock_reading now, actions& out) {
    peer_session* p = find(peer);
    if (p == nullptr || p->conf.connect == connect_mode::disabled || p->conf.connect == connect_mode::never) {
        return;
    }
    const uint64_t t = now.mono_ns;
    p->demand_until_ns = t + seconds_ns(p->conf.max_ttl_s);
    if (p->state == peer_state::up) {
        return;
    }
    if (!p->initiating) {
        start_initiating(*p, false, now, out);
        return;
    }
    // Any new packet forces a retry, at most about once per second (x3 low-power; gvpe.md §1.5).
    const uint64_t min_gap = timing::demand_retry_min_ns * (low_power(*p) ? 3 : 1);
    if (since(t, p->last_attempt_ns, min_gap)) {
        send_initiation(*p, now, out);
    }
}

void manager::on_authenticated_packet(uint16_t peer, uint8_t key_id, bool keepalive, clock_reading now,
                                      actions& out) {
    peer_session* p = find(peer);
    if (p == nullptr || p->conf.connect == connect_mode::disabled) {
        return;
    }
    const uint64_t t = now.mono_ns;
    p->last_rx_ns = t;
    if (!keepalive) {
        p->last_data_ns = t;
    }
    for (key_slot* k : {&p->current, &p->next}) {
        if (k->valid && k->recv_key_id == key_id) {
            k->last_used_ns = t;
        }
    }
    for (retiring_key& r : p->retiring) {
        if (r.recv_key_id == key_id) {
            r.last_used_ns = t;
        }
    }
    if (p->next.valid && key_id == p->next.recv_key_id) {
        // The initiator uses the keys: it has them, so we may send with them too, and reach it
        // where its initiation came from.
        out.push_back(learn_endpoint{peer, p->next.source});
        out.push_back(promote_keys{peer, key_id});
        if (p->current.valid) {
            schedule_retire(*p, p->current, t + timing::retire_grace_ns);
        }
        p->current = p->next;
        p->next = {};
        if (p->initiating) {
            stop_initiating(*p);  // fresh keys: our own attempt is moot
        }
        mark_up(*p, t, out);
    }
    // Answer a peer's keepalive probe. The peer probes only when it heard nothing from us for
    // `keepalive` s, so: answer when we sent nothing but replies for half that, and at most one
    // reply per half probe interval. Our own probes and the initiator's confirmation count as
    // sent, so two keepalives never answer each other in a loop.
    const uint64_t ka = keepalive_ns();
    if (keepalive && p->state == peer_state::up && p->current.valid &&
        (p->last_sent_ns == 0 || since(t, p->last_sent_ns, ka / 2)) &&
        (p->last_reply_ns == 0 || since(t, p->last_reply_ns, timing::keepalive_probe_interval_ns / 2))) {
        out.push_back(send_keepalive{peer});
        ++p->stats.keepalives_sent;
        p->last_reply_ns = t;
    }
}

void manager::on_data_sent(uint16_t peer, clock_reading now) noexcept {
    if (peer_session* p = find(peer)) {
        p->last_data_ns = now.mono_ns;
        p->last_sent_ns = now.mono_ns;
    }
}

void manager::on_counter_limit(uint16_t peer, clock_reading now, actions& out) {
    peer_session* p = find(peer);
    if (p == nullptr || p->conf.connect == connect_mode::disabled || p->state != peer_state::up || p->initiating) {
        return;
    }
    start_initiating(*p, true, now, out);
}

bool manager::reconnect(uint16_t peer, clock_reading now, actions& out) {
    peer_session* p = find(peer);
    if (p == nullptr || p->conf.connect == connect_mode::disabled) {
        return false;
    }
    if (p->conf.connect == connect_mode::never && p->state != peer_state::up) {
        return false;  // it connects to us: a series started here would retry for ever (tick())
    }
    // Up: a rekey (make-before-break, no hook, no loss) from wherever we are now; otherwise a
    // fresh series of attempts from the first retry interval.
    if (p->initiating) {
        stop_initiating(*p);
    }
    start_initiating(*p, p->state == peer_state::up, now, out);
    return true;
}

void manager::on_endpoint_changed(uint16_t peer, actions& out) {
    peer_session* p = find(peer);
    if (p != nullptr && p->state == peer_state::up) {
        out.push_back(event{event_kind::node_change, peer});
    }
}

// ---- introspection ------------------------------------------------------------------------------

std::optional<peer_status> manager::status(uint16_t peer, clock_reading now) const {
    auto it = _peers.find(peer);
    if (it == _peers.end()) {
        return std::nullopt;
    }
    const peer_session& p = it->second;
    peer_status s;
    s.id = peer;
    s.state = p.state;
    s.connect = p.conf.connect;
    s.handshake_in_progress = p.initiating;
    s.attempt = p.attempt;
    s.current_key_id = p.current.valid ? p.current.recv_key_id : 0;
    s.key_age_ns = p.current.valid && now.mono_ns >= p.current.established_ns ? now.mono_ns - p.current.established_ns : 0;
    s.last_received_ns = p.last_rx_ns;
    s.stats = p.stats;
    s.failure = p.failure;
    return s;
}

std::vector<uint16_t> manager::peer_ids() const {
    std::vector<uint16_t> ids;
    ids.reserve(_peers.size());
    for (const auto& [id, p] : _peers) {
        ids.push_back(id);
    }
    return ids;
}

}  // namespace control::session
