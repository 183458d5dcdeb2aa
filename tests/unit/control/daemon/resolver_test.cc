// SPDX-License-Identifier: MIT
// control/daemon/resolver.hh: getaddrinfo on the resolver's thread, answers by poll(). Names from
// /etc/hosts only (no network on the test machines).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "control/daemon/resolver.hh"

using namespace control;

namespace {

bool has_loopback(const std::vector<ip_address>& v) {
    const ip_address v4 = *ip_address::parse("127.0.0.1"), v6 = *ip_address::parse("::1");
    return std::find(v.begin(), v.end(), v4) != v.end() || std::find(v.begin(), v.end(), v6) != v.end();
}

}  // namespace

TEST(Resolver, BlockingLookupOfLocalhost) {
    auto a = resolver::lookup("localhost");
    EXPECT_TRUE(a.error.empty()) << a.error;
    EXPECT_TRUE(has_loopback(a.addrs));
    // no duplicates although getaddrinfo may list an address once per protocol
    for (size_t i = 0; i < a.addrs.size(); ++i) {
        for (size_t j = i + 1; j < a.addrs.size(); ++j) {
            EXPECT_FALSE(a.addrs[i] == a.addrs[j]);
        }
    }
}

TEST(Resolver, LiteralsResolveToThemselves) {
    auto a = resolver::lookup("192.0.2.7");
    ASSERT_EQ(a.addrs.size(), 1u);
    EXPECT_EQ(a.addrs[0].str(), "192.0.2.7");
    auto b = resolver::lookup("2001:db8::7");
    ASSERT_EQ(b.addrs.size(), 1u);
    EXPECT_TRUE(b.addrs[0].v6);
}

TEST(Resolver, AnswersArriveThroughPollOncePerName) {
    resolver r;
    EXPECT_TRUE(r.poll().empty());
    r.request("localhost");
    r.request("localhost");  // waiting or in progress: not queued twice
    r.request("192.0.2.9");
    std::vector<resolver::answer> got;
    for (int i = 0; i < 500 && got.size() < 2; ++i) {
        auto a = r.poll();
        got.insert(got.end(), a.begin(), a.end());
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto more = r.poll();
    got.insert(got.end(), more.begin(), more.end());
    ASSERT_LE(got.size(), 3u);  // localhost may be looked up twice only if the first finished in between
    ASSERT_GE(got.size(), 2u);
    EXPECT_TRUE(std::any_of(got.begin(), got.end(), [](auto& a) { return a.name == "localhost" && has_loopback(a.addrs); }));
    EXPECT_TRUE(std::any_of(got.begin(), got.end(), [](auto& a) { return a.name == "192.0.2.9" && a.addrs.size() == 1; }));
}

TEST(Resolver, DestructionDoesNotWait) {
    auto t0 = std::chrono::steady_clock::now();
    {
        resolver r;
        r.request("localhost");
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}
