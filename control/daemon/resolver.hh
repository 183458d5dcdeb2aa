// SPDX-License-Identifier: MIT
// Host name resolution off the control thread. GVPE resolves a node's `hostname` with a
// blocking gethostbyname() before every connect attempt, stalling its event loop for as long as
// DNS takes (docs/gvpe-migration.md "hostname resolution"); dvped hands names to this resolver's own thread, which
// calls getaddrinfo(3) (so /etc/hosts, nsswitch and DNS as the system has them), and polls the
// answers from the control loop without ever waiting.
// Threads: request() and poll() on one thread (the control thread); one internal thread runs the
// lookups one after another.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control/config/config.hh"

namespace control {

class resolver {
public:
    resolver();
    /// Does not wait: a lookup in progress (getaddrinfo cannot be cancelled, and DNS timeouts
    /// are long) finishes on the detached thread, which then exits.
    ~resolver();
    resolver(const resolver&) = delete;
    resolver& operator=(const resolver&) = delete;

    /// Queues a lookup of `name`; a name already waiting or in progress is not queued twice.
    void request(const std::string& name);

    struct answer {
        std::string name;
        std::vector<ip_address> addrs;  ///< in getaddrinfo's order (RFC 6724), IPv4 and IPv6; no duplicates
        std::string error;           ///< gai_strerror() when addrs is empty
    };
    /// The lookups finished since the last call. Never blocks.
    std::vector<answer> poll();

    /// One blocking lookup (what the thread runs; also for tests).
    static answer lookup(const std::string& name);

private:
    struct state {  // shared with the thread, which may outlive the resolver
        std::mutex mu;
        std::condition_variable cv;
        std::deque<std::string> pending;
        std::string busy;  // the name being looked up ("" if none)
        std::vector<answer> done;
        bool stop = false;
    };
    static void run(std::shared_ptr<state> st);

    std::shared_ptr<state> _st;
};

}  // namespace control
