// SPDX-License-Identifier: MIT
// control/daemon/sd_notify.hh against real AF_UNIX datagram sockets (a path and an abstract
// name), and every environment value that must not enable it or its watchdog.
#include "control/daemon/sd_notify.hh"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using control::sd::notifier;

// A bound datagram socket standing in for systemd's.
struct listener {
    int fd = -1;
    std::string name;  // as $NOTIFY_SOCKET spells it
    explicit listener(bool abstract) {
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        const std::string base = "dvpe-sdtest-" + std::to_string(getpid()) + (abstract ? "-a" : "-p");
        socklen_t len;
        if (abstract) {
            name = "@" + base;
            std::memcpy(sa.sun_path + 1, base.data(), base.size());
            len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + base.size());
        } else {
            name = "/tmp/" + base;
            unlink(name.c_str());
            std::memcpy(sa.sun_path, name.data(), name.size());
            len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
        }
        EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), len), 0) << std::strerror(errno);
    }
    ~listener() {
        close(fd);
        if (name[0] == '/') {
            unlink(name.c_str());
        }
    }
    std::string next() {
        char buf[512];
        const ssize_t n = recv(fd, buf, sizeof buf, 0);
        return n < 0 ? std::string("<none>") : std::string(buf, static_cast<size_t>(n));
    }
};

TEST(SdNotify, SendsToAPathAndToAnAbstractSocket) {
    for (bool abstract : {false, true}) {
        listener l(abstract);
        notifier n = notifier::from(l.name.c_str(), nullptr, nullptr, 1);
        ASSERT_TRUE(n.enabled()) << l.name;
        EXPECT_TRUE(n.send("READY=1\nSTATUS=running"));
        EXPECT_EQ(l.next(), "READY=1\nSTATUS=running");
        EXPECT_TRUE(n.send("STOPPING=1"));
        EXPECT_EQ(l.next(), "STOPPING=1");
        EXPECT_EQ(l.next(), "<none>");
    }
}

TEST(SdNotify, DisabledWithoutAUsableSocketName) {
    const std::string too_long = "/" + std::string(sizeof(sockaddr_un::sun_path), 'x');
    for (const char* s : {static_cast<const char*>(nullptr), "", "@", "/", "relative/path", "notify", too_long.c_str()}) {
        notifier n = notifier::from(s, "1000000", nullptr, 1);
        EXPECT_FALSE(n.enabled()) << (s ? s : "(unset)");
        EXPECT_FALSE(n.send("READY=1"));
        n.tick(1'000'000'000'000);  // nothing to send to: nothing happens
    }
}

TEST(SdNotify, NobodyListeningIsNotAFailureOfOurs) {
    notifier n = notifier::from("/tmp/dvpe-sdtest-nobody-listens-here", "1000", nullptr, 1);
    ASSERT_TRUE(n.enabled());
    EXPECT_FALSE(n.send("READY=1"));
    n.tick(1);
}

TEST(SdNotify, WatchdogOnlyForAValidIntervalAndOurPid) {
    listener l(false);
    struct c {
        const char* usec;
        const char* pid;
        uint64_t want;
    };
    for (const c& x : {c{"2000000", nullptr, 2000000}, c{"2000000", "42", 2000000}, c{"2000000", "43", 0},
                       c{"2000000", "", 0}, c{"2000000", "42x", 0}, c{"2000000", "-42", 0}, c{nullptr, nullptr, 0},
                       c{"", nullptr, 0}, c{"0", nullptr, 0}, c{"-1", nullptr, 0}, c{"1e6", nullptr, 0},
                       c{" 100", nullptr, 0}, c{"100 ", nullptr, 0}, c{"abc", nullptr, 0},
                       c{"99999999999999999999999", nullptr, 0}, c{"31536000000001", nullptr, 0},
                       c{"31536000000000", nullptr, 31536000000000}}) {
        notifier n = notifier::from(l.name.c_str(), x.usec, x.pid, 42);
        EXPECT_TRUE(n.enabled());
        EXPECT_EQ(n.watchdog_usec(), x.want) << (x.usec ? x.usec : "(unset)") << " pid " << (x.pid ? x.pid : "(unset)");
    }
}

TEST(SdNotify, WatchdogPingsAtHalfTheInterval) {
    listener l(false);
    notifier n = notifier::from(l.name.c_str(), "1000000", nullptr, 1);  // 1 s: a ping every 0.5 s
    const uint64_t t0 = 10'000'000'000;
    n.tick(t0);
    EXPECT_EQ(l.next(), "WATCHDOG=1");
    n.tick(t0 + 499'999'999);
    EXPECT_EQ(l.next(), "<none>");
    n.tick(t0 + 500'000'000);
    EXPECT_EQ(l.next(), "WATCHDOG=1");
    for (int i = 0; i < 100; ++i) {  // called every iteration: still one per half interval
        n.tick(t0 + 500'000'001 + static_cast<uint64_t>(i));
    }
    EXPECT_EQ(l.next(), "<none>");
}

TEST(SdNotify, MovedFromIsDisabledAndTheSocketFollows) {
    listener l(true);
    notifier a = notifier::from(l.name.c_str(), nullptr, nullptr, 1);
    notifier b = std::move(a);
    EXPECT_FALSE(a.enabled());  // NOLINT(bugprone-use-after-move): what a moved-from one does
    EXPECT_FALSE(a.send("READY=1"));
    EXPECT_TRUE(b.send("READY=1"));
    EXPECT_EQ(l.next(), "READY=1");
    notifier c;
    c = std::move(b);
    EXPECT_TRUE(c.send("X=1"));
    EXPECT_EQ(l.next(), "X=1");
}

}  // namespace
