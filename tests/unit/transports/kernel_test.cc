// SPDX-License-Identifier: MIT
// Linux accepts what write_outer() builds. In a network namespace created (and deleted) by the
// test, a veth pair va <-> vb: frames of every kind are written raw into va (AF_PACKET) and the
// kernel behind vb, which owns B's addresses, must deliver them to ordinary sockets (UDP on
// udp-port, raw IP protocol 47, raw ICMP/ICMPv6) without counting a checksum error
// (/proc/net/snmp, /proc/net/snmp6). A frame with a corrupted L4 checksum is the control: it
// must raise the kernel's error counter, which shows the check is live. Skipped when not root or
// when namespaces are unavailable.
//
//   ns dvpetr<pid>:   [AF_PACKET] va  <== veth ==>  vb 10.77.0.2/24 fd00::b/64 02:00:00:00:00:0b
//                                                   sockets: udp :655, udp6 :655, raw 47 (v4, v6),
//                                                   raw icmp, raw icmpv6
#include "frames.hh"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace transport {
namespace {

using namespace transport::test;

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

/// "Group:Name" -> value from /proc/net/snmp (header line + value line per group) and
/// "Name" -> value from /proc/net/snmp6, read in the calling thread's namespace.
std::map<std::string, long> kernel_counters() {
    std::map<std::string, long> out;
    std::ifstream snmp("/proc/net/snmp");
    std::string names, values;
    while (std::getline(snmp, names) && std::getline(snmp, values)) {
        std::istringstream n(names), v(values);
        std::string group, name, value;
        n >> group;
        v >> value;
        if (!group.empty() && group.back() == ':') {
            group.pop_back();
        }
        while (n >> name && v >> value) {
            out[group + name] = std::stol(value);
        }
    }
    std::ifstream netstat("/proc/net/netstat");  // IpExt: InCsumErrors (IPv4 header checksum)
    while (std::getline(netstat, names) && std::getline(netstat, values)) {
        std::istringstream n(names), v(values);
        std::string group, name, value;
        n >> group;
        v >> value;
        if (!group.empty() && group.back() == ':') {
            group.pop_back();
        }
        while (n >> name && v >> value) {
            out[group + name] = std::stol(value);
        }
    }
    std::ifstream snmp6("/proc/net/snmp6");
    std::string name;
    long value = 0;
    while (snmp6 >> name >> value) {
        out[name] = value;
    }
    return out;
}

class kernel : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) {
            GTEST_SKIP() << "needs root for a network namespace";
        }
        _ns = "dvpetr" + std::to_string(getpid());
        if (sh("ip netns add " + _ns) != 0) {
            GTEST_SKIP() << "ip netns add failed";
        }
        _created = true;
        const std::string n = "ip -n " + _ns + " ";
        ASSERT_EQ(sh(n + "link add va type veth peer name vb"), 0);
        ASSERT_EQ(sh(n + "link set va address 02:00:00:00:00:0a"), 0);
        ASSERT_EQ(sh(n + "link set vb address 02:00:00:00:00:0b"), 0);
        ASSERT_EQ(sh(n + "addr add 10.77.0.2/24 dev vb"), 0);
        ASSERT_EQ(sh(n + "-6 addr add fd00::b/64 dev vb nodad"), 0);
        ASSERT_EQ(sh(n + "link set va up"), 0);
        ASSERT_EQ(sh(n + "link set vb up"), 0);
        ASSERT_EQ(sh(n + "link set lo up"), 0);

        _home = open("/proc/self/ns/net", O_RDONLY);
        const int target = open(("/var/run/netns/" + _ns).c_str(), O_RDONLY);
        ASSERT_GE(_home, 0);
        ASSERT_GE(target, 0);
        ASSERT_EQ(setns(target, CLONE_NEWNET), 0);
        close(target);
        _inside = true;

        _packet = socket(AF_PACKET, SOCK_RAW, 0);  // send only: protocol 0 receives nothing
        ASSERT_GE(_packet, 0);
        sockaddr_ll ll{};
        ll.sll_family = AF_PACKET;
        ll.sll_ifindex = static_cast<int>(if_nametoindex("va"));
        ASSERT_NE(ll.sll_ifindex, 0);
        ASSERT_EQ(bind(_packet, reinterpret_cast<sockaddr*>(&ll), sizeof(ll)), 0);

        sockaddr_in a4{};
        a4.sin_family = AF_INET;
        a4.sin_port = htons(port_b);
        a4.sin_addr.s_addr = ip4_b;
        _udp4 = socket(AF_INET, SOCK_DGRAM, 0);
        ASSERT_EQ(bind(_udp4, reinterpret_cast<sockaddr*>(&a4), sizeof(a4)), 0);
        sockaddr_in6 a6{};
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons(port_b);
        std::memcpy(&a6.sin6_addr, ip6_b, 16);
        _udp6 = socket(AF_INET6, SOCK_DGRAM, 0);
        ASSERT_EQ(bind(_udp6, reinterpret_cast<sockaddr*>(&a6), sizeof(a6)), 0);
        _raw4 = socket(AF_INET, SOCK_RAW, 47);
        _raw6 = socket(AF_INET6, SOCK_RAW, 47);
        _icmp4 = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
        _icmp6 = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
        ASSERT_GE(_raw4, 0);
        ASSERT_GE(_raw6, 0);
        ASSERT_GE(_icmp4, 0);
        ASSERT_GE(_icmp6, 0);
        // Only dvpe's ICMP types: the interfaces coming up send MLD reports and router
        // solicitations that a raw ICMPv6 socket would otherwise see first.
        icmp_filter f4{~(1u << 0)};  // bit set = blocked; pass type 0
        ASSERT_EQ(setsockopt(_icmp4, SOL_RAW, ICMP_FILTER, &f4, sizeof(f4)), 0);
        icmp6_filter f6;
        ICMP6_FILTER_SETBLOCKALL(&f6);
        ICMP6_FILTER_SETPASS(icmp6_type_for(0), &f6);
        ASSERT_EQ(setsockopt(_icmp6, IPPROTO_ICMPV6, ICMP6_FILTER, &f6, sizeof(f6)), 0);
    }

    void TearDown() override {
        for (int fd : {_packet, _udp4, _udp6, _raw4, _raw6, _icmp4, _icmp6}) {
            if (fd >= 0) {
                close(fd);
            }
        }
        if (_inside) {
            EXPECT_EQ(setns(_home, CLONE_NEWNET), 0);
        }
        if (_home >= 0) {
            close(_home);
        }
        if (_created) {
            sh("ip netns del " + _ns);
        }
    }

    void send_frame(const std::vector<uint8_t>& f) {
        ASSERT_EQ(send(_packet, f.data(), f.size(), 0), static_cast<ssize_t>(f.size()));
    }

    /// Next datagram on fd within 2 s (empty on timeout).
    static std::vector<uint8_t> receive(int fd) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 2000) != 1) {
            return {};
        }
        std::vector<uint8_t> buf(65536);
        const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
        buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
        return buf;
    }

    /// The socket a dvpe packet of kind k arrives on, and how many bytes of header precede it.
    std::pair<int, size_t> sink(kind k) const {
        switch (k) {
        case kind::udp4: return {_udp4, 0};
        case kind::udp6: return {_udp6, 0};
        case kind::rawip4: return {_raw4, 20};  // IPv4 raw sockets see the IP header
        case kind::rawip6: return {_raw6, 0};
        case kind::icmp4: return {_icmp4, 20 + icmp_header_size};
        case kind::icmp6: return {_icmp6, icmp_header_size};
        case kind::tcp4:
        case kind::tcp6:
        case kind::dns4:
        case kind::dns6: break;  // not WAN frames: the slow path's sockets (test_tcp, test_dns)
        }
        return {-1, 0};
    }

    std::string _ns;
    bool _created = false;
    bool _inside = false;
    int _home = -1, _packet = -1, _udp4 = -1, _udp6 = -1, _raw4 = -1, _raw6 = -1, _icmp4 = -1, _icmp6 = -1;
};

TEST_F(kernel, accepts_every_kind_without_checksum_errors) {
    const char* csum_counters[] = {"IpInHdrErrors", "IpExtInCsumErrors", "UdpInCsumErrors", "IcmpInCsumErrors",
                                   "Udp6InCsumErrors", "Icmp6InCsumErrors", "Ip6InHdrErrors"};
    for (kind k : {kind::udp4, kind::udp6, kind::rawip4, kind::rawip6, kind::icmp4, kind::icmp6}) {
        for (size_t n : {size_t{8}, size_t{33}, size_t{512}, size_t{1420}}) {
            SCOPED_TRACE(std::string(kind_name(k)) + " " + std::to_string(n));
            const auto before = kernel_counters();
            const auto dvpe = random_bytes(n, static_cast<uint32_t>(n) * 7 + static_cast<uint32_t>(k));
            send_frame(make_frame(k, dvpe, endpoints_a_to_b(k)));
            const auto [fd, skip] = sink(k);
            const auto got = receive(fd);
            ASSERT_EQ(got.size(), skip + n) << "not delivered";
            EXPECT_EQ(std::memcmp(got.data() + skip, dvpe.data(), n), 0);
            const auto after = kernel_counters();
            for (const char* c : csum_counters) {
                EXPECT_EQ(after.count(c) ? after.at(c) : 0, before.count(c) ? before.at(c) : 0) << c;
            }
        }
    }
}

TEST_F(kernel, corrupted_checksums_are_counted_by_the_kernel) {
    // The control experiment: the kernel does verify what the previous test says it accepted.
    struct control {
        kind k;
        size_t csum_offset;  // from the start of the frame
        const char* counter;
    };
    const control controls[] = {
        {kind::udp6, 14 + 40 + 6, "Udp6InCsumErrors"},
        {kind::icmp4, 14 + 20 + 2, "IcmpInCsumErrors"},
        {kind::icmp6, 14 + 40 + 2, "Icmp6InCsumErrors"},
        {kind::rawip4, 14 + 10, "IpExtInCsumErrors"},
    };
    for (const control& c : controls) {
        SCOPED_TRACE(std::string(kind_name(c.k)));
        const auto before = kernel_counters();
        auto f = make_frame(c.k, 100);
        f[c.csum_offset] ^= 0x5a;
        send_frame(f);
        if (c.k == kind::udp6) {
            EXPECT_TRUE(receive(_udp6).empty()) << "the kernel must drop a bad UDP/IPv6 checksum";
        } else {
            usleep(100 * 1000);
        }
        const auto after = kernel_counters();
        // Kernel 6.x counts UDP/IPv6 checksum errors found in recvmsg() under Udp, not Udp6.
        const auto total = [&](const std::map<std::string, long>& m) {
            long v = m.at(c.counter);
            if (c.k == kind::udp6) {
                v += m.at("UdpInCsumErrors");
            }
            return v;
        };
        EXPECT_EQ(total(after), total(before) + 1) << c.counter;
        if (getenv("DVPE_DEBUG")) {
            for (const auto& [k, v] : after) {
                if (before.count(k) && before.at(k) != v) {
                    fprintf(stderr, "%s %ld -> %ld\n", k.c_str(), before.at(k), v);
                }
            }
        }
    }
}

}  // namespace
}  // namespace transport
