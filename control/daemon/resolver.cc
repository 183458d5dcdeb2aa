// SPDX-License-Identifier: MIT
// Host name resolution on its own thread (control/daemon/resolver.hh).
#include "control/daemon/resolver.hh"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace control {

resolver::resolver() : _st(std::make_shared<state>()) { std::thread(run, _st).detach(); }

resolver::~resolver() {
    {
        std::lock_guard<std::mutex> lk(_st->mu);
        _st->stop = true;
    }
    _st->cv.notify_all();
}

void resolver::request(const std::string& name) {
    {
        std::lock_guard<std::mutex> lk(_st->mu);
        if (_st->busy == name || std::find(_st->pending.begin(), _st->pending.end(), name) != _st->pending.end()) {
            return;
        }
        _st->pending.push_back(name);
    }
    _st->cv.notify_one();
}

std::vector<resolver::answer> resolver::poll() {
    std::lock_guard<std::mutex> lk(_st->mu);
    std::vector<answer> out;
    out.swap(_st->done);
    return out;
}

resolver::answer resolver::lookup(const std::string& name) {
    answer a;
    a.name = name;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;  // one entry per address instead of one per socket type
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(name.c_str(), nullptr, &hints, &res);
    if (rc != 0) {
        a.error = gai_strerror(rc);
        return a;
    }
    for (const addrinfo* p = res; p != nullptr; p = p->ai_next) {
        ip_address ip;
        if (p->ai_family == AF_INET) {
            const auto* sa = reinterpret_cast<const sockaddr_in*>(p->ai_addr);
            std::memcpy(ip.bytes.data(), &sa->sin_addr, 4);
        } else if (p->ai_family == AF_INET6) {
            const auto* sa = reinterpret_cast<const sockaddr_in6*>(p->ai_addr);
            ip.v6 = true;
            std::memcpy(ip.bytes.data(), &sa->sin6_addr, 16);
        } else {
            continue;
        }
        if (std::find(a.addrs.begin(), a.addrs.end(), ip) == a.addrs.end()) {
            a.addrs.push_back(ip);
        }
    }
    freeaddrinfo(res);
    if (a.addrs.empty()) {
        a.error = "no IPv4 or IPv6 address";
    }
    return a;
}

void resolver::run(std::shared_ptr<state> st) {
    std::unique_lock<std::mutex> lk(st->mu);
    for (;;) {
        st->cv.wait(lk, [&] { return st->stop || !st->pending.empty(); });
        if (st->stop) {
            return;
        }
        st->busy = st->pending.front();
        st->pending.pop_front();
        const std::string name = st->busy;
        lk.unlock();
        answer a = lookup(name);
        lk.lock();
        st->busy.clear();
        st->done.push_back(std::move(a));
    }
}

}  // namespace control
