// SPDX-License-Identifier: MIT
// Mediated connections (docs/protocol.md "Mediated connections", GVPE's CONNECT_REQ /
// CONNECT_INFO): the bookkeeping of the three roles, without I/O, so it is unit-tested alone
// (tests/unit/control/daemon/mediation_test.cc). The daemon (control/daemon/daemon_mediation.cc) sends
// and receives the control messages (transports/control_msg.hh) and starts the handshakes.
//
//   requester  a node whose peer B has no address it knows and is relayed through router R asks
//              R to introduce them: at once, then every `request_interval` while B stays relayed
//              (after a failed direct attempt the relay simply stays).
//   router     R answers a request for B at once when it has a session with B (both ends get
//              the other's address as R sees it), else connects to B and answers when that
//              session is up, within `pending_for`; an introduction of one pair at most every
//              `introduce_interval`.
//   endpoint   A node told where B is sends its handshakes to B there for `endpoint_for` (both
//              ends at once: NAT hole punching); the data stays on the relay until a handshake
//              completes directly (then B's source is learned and the path is direct).
//
// Threads: the control thread only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "transports/control_msg.hh"

namespace control {

struct mediation_counters {
    uint64_t requests_sent = 0;          // connect_req to a router
    uint64_t requests_received = 0;      // connect_req from a peer (we are its router)
    uint64_t requests_refused = 0;       // ... not a router, unknown node, itself, us
    uint64_t requests_waiting = 0;       // ... for a node we had no session with: connecting
    uint64_t requests_expired = 0;       // ... that waited in vain (pending_for)
    uint64_t requests_rate_limited = 0;  // ... for a pair introduced less than introduce_interval ago,
                                         // or from a requester introduced less than requester_interval
                                         // ago, or beyond max_pending waiting
    uint64_t introductions = 0;          // pairs told each other's address
    uint64_t infos_received = 0;         // connect_info from a router
    uint64_t infos_refused = 0;          // ... not from the router that relays the node to us, about
                                         // us / the router / a node with a configured address, or no
                                         // direct rules
    uint64_t infos_repeated = 0;         // ... the same endpoint again, or a new one too soon
    uint64_t attempts = 0;               // direct handshakes started from an info
    uint64_t established = 0;            // peers that went from relayed to direct after an info
    uint64_t unparsed = 0;               // control messages that were none (parse_control)
};

/// Whether an endpoint on transport `k` may be introduced (told in a connect_info, or taken from
/// one): a datagram transport only (udp, rawip, icmp), where both ends sending at once opens the
/// NATs between them. A tcp endpoint of a node without a hostname is the connection it opened
/// (port 0, no one can connect there) and a dns client has no address at all.
[[nodiscard]] constexpr bool introducible(transport::kind k) noexcept { return !transport::is_stream(k); }

class mediation {
public:
    static constexpr uint64_t s = 1'000'000'000;
    static constexpr uint64_t request_first_wait = 2 * s;  // then doubled up to request_interval
    static constexpr uint64_t request_interval = 60 * s;
    static constexpr uint64_t pending_for = 30 * s;
    static constexpr uint64_t introduce_interval = 2 * s;
    static constexpr uint64_t endpoint_for = 10 * s;
    static constexpr uint64_t requester_interval = s / 2;  // introductions per requester (router)
    static constexpr size_t max_pending = 4096;             // waiting requests (router)

    // --- requester ---
    /// Peer `peer` is relayed through `router` now: true if a connect_req is due (the first at
    /// once, the next after request_first_wait, doubling up to request_interval; a new router
    /// starts over).
    [[nodiscard]] bool request_due(uint16_t peer, uint16_t router, uint64_t now);
    /// `peer` is no longer relayed (direct, or no path): its next relaying starts over.
    void not_relayed(uint16_t peer);

    // --- router ---
    /// A request from `from` for `target`; `both_up`: we have a session with both and reach both
    /// directly. introduce: tell both now; wait: it waits until both are (the caller connects to
    /// the target).
    enum class request_verdict : uint8_t { introduce, wait, rate_limited };
    [[nodiscard]] request_verdict on_request(uint16_t from, uint16_t target, bool both_up, uint64_t now);
    /// Pending requests whose two nodes are up now (`up`, asked of each): (from, target) pairs to
    /// introduce, taken out; expired ones are dropped and counted.
    template <class Up>
    std::vector<std::pair<uint16_t, uint16_t>> due(Up&& up, uint64_t now) {
        std::vector<std::pair<uint16_t, uint16_t>> out;
        for (auto it = _pending.begin(); it != _pending.end();) {
            if (now >= it->second) {
                ++counters.requests_expired;
                it = _pending.erase(it);
            } else if (up(it->first.first) && up(it->first.second)) {
                if (introduce_allowed(it->first.first, it->first.second, now, true)) {
                    out.push_back(it->first);
                }
                it = _pending.erase(it);
            } else {
                ++it;
            }
        }
        return out;
    }
    [[nodiscard]] size_t pending() const noexcept { return _pending.size(); }

    // --- endpoint ---
    /// Where a router says `ci.node` is: its handshakes go there until endpoint_for passed.
    /// False (nothing changes) if the same endpoint is still fresh, or another one was told less
    /// than introduce_interval ago: a router cannot make us start handshake after handshake.
    [[nodiscard]] bool on_info(const transport::connect_info& ci, uint16_t router, uint64_t now);
    /// The endpoint of `peer` a router told us of, while it is fresh.
    [[nodiscard]] const transport::connect_info* endpoint(uint16_t peer, uint64_t now) const;
    /// `peer`'s path became direct: if an info was the reason, counted as established.
    void direct(uint16_t peer);
    /// Forgets everything about `peer` (reload changed or removed it).
    void forget(uint16_t peer);

    mediation_counters counters;

private:
    [[nodiscard]] bool introduce_allowed(uint16_t from, uint16_t target, uint64_t now, bool waited = false);
    std::map<uint16_t, uint64_t> _requester_last;                    // router: per requester

    struct request_state {
        uint16_t router = 0;
        uint64_t next_ns = 0;
        uint64_t wait_ns = 0;  // before the next one
    };
    std::map<uint16_t, request_state> _requests;                     // requester: per relayed peer
    std::map<std::pair<uint16_t, uint16_t>, uint64_t> _pending;       // router: (from, target) -> expiry
    std::map<std::pair<uint16_t, uint16_t>, uint64_t> _introduced;    // router: (lower, higher) -> last
    struct endpoint_state {
        transport::connect_info ci;
        uint16_t router = 0;
        uint64_t until_ns = 0;
        uint64_t told_ns = 0;
        bool told = false;  // an info arrived since the last time the peer became direct
    };
    std::map<uint16_t, endpoint_state> _endpoints;                   // endpoint: per peer
};

}  // namespace control
