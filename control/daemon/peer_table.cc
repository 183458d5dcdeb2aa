// SPDX-License-Identifier: MIT
// Peer keys, paths and snapshot building; see peer_table.hh.
#include "control/daemon/peer_table.hh"

#include "pmd/dp_memory.hh"

#include <algorithm>
#include <stdexcept>

namespace control {

peer_table::peer_table(crypto::aead_choice cipher, uint16_t self_id) : _cipher(cipher), _self(self_id) {}

std::shared_ptr<crypto::aead_key> peer_table::make_key(const crypto::secret<32>& k) {
    // The handshake yields 32 bytes per direction; a 128-bit suite uses the first 16
    // (docs/protocol.md, key derivation).
    const size_t len = crypto::key_len(_cipher.cipher);
    auto key = crypto::aead_key::create(_cipher, std::span<const uint8_t>(k.data(), len));
    if (!key) {
        throw std::runtime_error("cannot expand a session key: " + key.error());
    }
    // The key object with its expanded key (crypto::set_key_memory) in per-peer state memory.
    return std::allocate_shared<crypto::aead_key>(pmd::dp_allocator<crypto::aead_key>{}, std::move(key.value()));
}

void peer_table::install(const handshake::session_keys& k, bool current) {
    peer& p = _peers[k.peer_id];
    recv_key rk;
    rk.key = make_key(k.recv);
    rk.windows = std::shared_ptr<engine::rx_windows>(engine::rx_windows::create());
    rk.key_id = k.recv_key_id;
    std::erase_if(p.rx, [&](const recv_key& r) { return r.key_id == k.recv_key_id; });
    if (p.rx.size() >= engine::limits::rx_keys_per_peer) {
        p.rx.erase(p.rx.begin());  // the session manager retires old keys; this is a backstop
    }
    p.rx.push_back(std::move(rk));
    send_key sk;
    sk.key = make_key(k.send);
    sk.key_id = k.send_key_id;
    sk.our_recv_key_id = k.recv_key_id;
    sk.generation = ++_generation;
    if (current) {
        p.current = std::move(sk);
        if (p.next && p.next->our_recv_key_id == k.recv_key_id) {
            p.next.reset();
        }
    } else {
        p.next = std::move(sk);
    }
}

void peer_table::promote(uint16_t id, uint8_t recv_key_id) {
    auto it = _peers.find(id);
    if (it == _peers.end() || !it->second.next || it->second.next->our_recv_key_id != recv_key_id) {
        return;
    }
    it->second.current = std::move(it->second.next);
    it->second.next.reset();
}

void peer_table::retire(uint16_t id, uint8_t key_id) {
    auto it = _peers.find(id);
    if (it == _peers.end()) {
        return;
    }
    peer& p = it->second;
    std::erase_if(p.rx, [&](const recv_key& r) { return r.key_id == key_id; });
    if (p.next && p.next->our_recv_key_id == key_id) {
        p.next.reset();
    }
    if (p.current && p.current->our_recv_key_id == key_id) {
        p.current.reset();
    }
}

void peer_table::clear(uint16_t id) {
    auto it = _peers.find(id);
    if (it != _peers.end()) {
        it->second.current.reset();
        it->second.next.reset();
        it->second.rx.clear();
    }
}

void peer_table::set_path(uint16_t id, const peer_path& path) {
    peer& p = _peers[id];
    p.path = path;
    p.wire.reset();
    engine::peer_entry e;
    if (build_path(path, _self, e)) {
        p.wire = e;
    }
}

void peer_table::clear_path(uint16_t id) {
    auto it = _peers.find(id);
    if (it != _peers.end()) {
        it->second.path.reset();
        it->second.wire.reset();
    }
}

void peer_table::erase(uint16_t id) { _peers.erase(id); }

const peer_path* peer_table::path(uint16_t id) const {
    auto it = _peers.find(id);
    return it == _peers.end() || !it->second.path ? nullptr : &*it->second.path;
}

uint8_t peer_table::current_send_key_id(uint16_t id) const {
    auto it = _peers.find(id);
    return it == _peers.end() || !it->second.current ? 0 : it->second.current->our_recv_key_id;
}

engine::peer_entry peer_table::make_entry(uint16_t id, const peer& p,
                                          std::vector<std::shared_ptr<const void>>* owned) const {
    engine::peer_entry e = p.wire ? *p.wire : engine::peer_entry{};
    e.node_id = id;
    e.routed = p.path && p.path->via != 0;
    const auto mac = node_mac(id);
    std::copy(mac.begin(), mac.end(), e.mac.addr_bytes);
    size_t slot = 0;
    for (const auto& r : p.rx) {
        if (slot < e.rx.size()) {
            e.rx[slot++] = engine::rx_key_slot{r.key.get(), r.windows->w.get(), r.key_id};
            if (owned != nullptr) {
                owned->push_back(r.key);
                owned->push_back(r.windows);
            }
        }
    }
    if (p.current && p.wire) {
        e.tx_ready = true;
        e.tx_key = p.current->key.get();
        e.tx_key_id = p.current->key_id;
        e.tx_generation = p.current->generation;
        if (owned != nullptr) {
            owned->push_back(p.current->key);
        }
    }
    return e;
}

std::optional<engine::peer_entry> peer_table::entry(uint16_t id) const {
    auto it = _peers.find(id);
    if (it == _peers.end()) {
        return std::nullopt;
    }
    return make_entry(id, it->second, nullptr);
}

std::unique_ptr<engine::dataplane_snapshot> peer_table::build(const engine::dataplane_snapshot& base) {
    auto s = std::make_unique<engine::dataplane_snapshot>();
    s->self_id = base.self_id;
    s->self_mac = base.self_mac;
    s->has_overlay = base.has_overlay;
    s->overlay_port_id = base.overlay_port_id;
    s->router = base.router;
    s->queue_without_session = base.queue_without_session;
    s->local = base.local;
    s->lan_mode = base.lan_mode;
    s->lan_port_id = base.lan_port_id;
    s->lan_mac = base.lan_mac;
    s->macs = base.macs;
    s->routes = base.routes;
    s->lan_neigh = base.lan_neigh;
    s->clock = base.clock;
    s->owned = base.owned;  // the LAN tables (control/daemon/site_lan.cc)
    uint16_t max_id = 0;
    for (const auto& [id, p] : _peers) {
        max_id = std::max(max_id, id);
    }
    for (uint16_t id : _flood_members) {
        max_id = std::max(max_id, id);  // an empty entry (not tx_ready) for each
    }
    s->peers.resize(static_cast<size_t>(std::max<uint16_t>(max_id, base.self_id)) + 1);
    for (const auto& [id, p] : _peers) {
        engine::peer_entry& e = s->peers[id];
        e = make_entry(id, p, &s->owned);
        if (e.tx_ready) {
            s->broadcast_to.push_back(id);
        } else {
            s->queue_flood_for.push_back(id);
        }
    }
    for (uint16_t id : _flood_members) {
        if (id != base.self_id && !_peers.contains(id)) {
            s->queue_flood_for.push_back(id);  // no entry yet: its copy waits at control
        }
    }
    return s;
}

}  // namespace control
