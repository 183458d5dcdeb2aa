// SPDX-License-Identifier: MIT
// Mediated connections: the bookkeeping (see mediation.hh).
#include "control/daemon/mediation.hh"

#include <algorithm>

namespace control {

bool mediation::request_due(uint16_t peer, uint16_t router, uint64_t now) {
    auto [it, fresh] = _requests.try_emplace(peer);
    request_state& r = it->second;
    if (fresh || r.router != router) {
        r.router = router;
        r.next_ns = now;
        r.wait_ns = request_first_wait;
    }
    if (now < r.next_ns) {
        return false;
    }
    r.next_ns = now + r.wait_ns;
    r.wait_ns = std::min(r.wait_ns * 2, request_interval);
    return true;
}

void mediation::not_relayed(uint16_t peer) { _requests.erase(peer); }

bool mediation::introduce_allowed(uint16_t from, uint16_t target, uint64_t now, bool waited) {
    const auto key = std::make_pair(std::min(from, target), std::max(from, target));
    auto it = _introduced.find(key);
    // Per pair, and per requester (one member asking for every node would make each of them
    // send handshakes to wherever that member claims to be): a request that waited for our
    // session with its target was limited when it came.
    auto last = _requester_last.find(from);
    if ((it != _introduced.end() && now < it->second + introduce_interval) ||
        (!waited && last != _requester_last.end() && now < last->second + requester_interval)) {
        ++counters.requests_rate_limited;
        return false;
    }
    std::erase_if(_requester_last, [&](const auto& e) { return now >= e.second + requester_interval; });
    _requester_last[from] = now;
    // Old entries go (one pair at most per request, so this stays as small as the requests).
    std::erase_if(_introduced, [&](const auto& e) { return now >= e.second + introduce_interval; });
    _introduced[key] = now;
    return true;
}

mediation::request_verdict mediation::on_request(uint16_t from, uint16_t target, bool both_up, uint64_t now) {
    if (both_up) {
        return introduce_allowed(from, target, now) ? request_verdict::introduce : request_verdict::rate_limited;
    }
    if (_pending.size() >= max_pending && !_pending.contains({from, target})) {
        ++counters.requests_rate_limited;
        return request_verdict::rate_limited;
    }
    ++counters.requests_waiting;
    _pending[{from, target}] = now + pending_for;  // a repeated request refreshes it
    return request_verdict::wait;
}

bool mediation::on_info(const transport::connect_info& ci, uint16_t router, uint64_t now) {
    auto [it, fresh] = _endpoints.try_emplace(ci.node);
    endpoint_state& e = it->second;
    if (!fresh && ((e.ci == ci && now < e.until_ns) || now < e.told_ns + introduce_interval)) {
        ++counters.infos_repeated;
        return false;
    }
    e.ci = ci;
    e.router = router;
    e.until_ns = now + endpoint_for;
    e.told_ns = now;
    e.told = true;
    return true;
}

const transport::connect_info* mediation::endpoint(uint16_t peer, uint64_t now) const {
    auto it = _endpoints.find(peer);
    return it != _endpoints.end() && now < it->second.until_ns ? &it->second.ci : nullptr;
}

void mediation::direct(uint16_t peer) {
    _requests.erase(peer);
    auto it = _endpoints.find(peer);
    if (it != _endpoints.end()) {
        if (it->second.told) {
            ++counters.established;
        }
        _endpoints.erase(it);
    }
}

void mediation::forget(uint16_t peer) {
    _requests.erase(peer);
    _requester_last.erase(peer);
    _endpoints.erase(peer);
    std::erase_if(_pending, [&](const auto& e) { return e.first.first == peer || e.first.second == peer; });
}

}  // namespace control
