// SPDX-License-Identifier: MIT
// rtnetlink for the exception interface (three requests, each acknowledged with NLM_F_ACK before
// the next) and for the automatic layout's host facts (address and route dumps); kernel_if.hh.
// One socket per call. Written here because it needs no library: libnl / libmnl are not among
// the project's dependencies (README), and `ip` from a daemon would be a process per address.
#include "control/daemon/kernel_if.hh"

#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <sched.h>

#include <array>
#include <algorithm>
#include <fstream>
#include <cerrno>
#include <cstring>

namespace control {

namespace {

class nl_request {
public:
    explicit nl_request(uint16_t type, uint16_t flags) {
        hdr()->nlmsg_len = NLMSG_LENGTH(0);
        hdr()->nlmsg_type = type;
        hdr()->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
        hdr()->nlmsg_seq = 1;
    }
    nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(_buf.data()); }
    /// The family header (ifinfomsg, ifaddrmsg, rtmsg), zeroed; call once, before attributes.
    template <typename T>
    T* body() {
        auto* t = reinterpret_cast<T*>(_buf.data() + NLMSG_HDRLEN);
        std::memset(t, 0, sizeof(T));
        hdr()->nlmsg_len = NLMSG_LENGTH(sizeof(T));
        return t;
    }
    void attr(uint16_t type, const void* data, size_t len) {
        const size_t off = NLMSG_ALIGN(hdr()->nlmsg_len);
        if (off + RTA_SPACE(len) > _buf.size()) {
            _overflow = true;  // never with the attributes below; exchange() refuses to send it
            return;
        }
        auto* a = reinterpret_cast<rtattr*>(_buf.data() + off);
        a->rta_type = type;
        a->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
        std::memcpy(RTA_DATA(a), data, len);
        hdr()->nlmsg_len = static_cast<uint32_t>(off + RTA_ALIGN(a->rta_len));
    }
    /// Sends and waits for the acknowledgement: 0, or the kernel's errno.
    int exchange() {
        if (_overflow) {
            return EMSGSIZE;
        }
        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0) {
            return errno;
        }
        timeval tv{2, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        sockaddr_nl sa{};
        sa.nl_family = AF_NETLINK;
        int err = 0;
        if (sendto(fd, _buf.data(), hdr()->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
            err = errno;
        } else {
            std::array<char, 4096> in{};
            ssize_t n = recv(fd, in.data(), in.size(), 0);
            if (n < 0) {
                err = errno;
            } else {
                err = EPROTO;
                auto* h = reinterpret_cast<nlmsghdr*>(in.data());
                for (auto len = static_cast<unsigned>(n); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
                    if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr))) {
                        err = -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
                        break;
                    }
                }
            }
        }
        close(fd);
        return err;
    }

private:
    alignas(nlmsghdr) std::array<char, 512> _buf{};
    bool _overflow = false;
};

std::string failed(const std::string& what, int err) { return what + ": " + std::strerror(err); }

/// Writes value to /proc/sys/net/FAMILY/conf/IFNAME/KEY; errno or 0.
int set_sysctl(const std::string& family, const std::string& ifname, const std::string& key, const char* value) {
    const std::string path = "/proc/sys/net/" + family + "/conf/" + ifname + "/" + key;
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    int err = 0;
    if (write(fd, value, std::strlen(value)) < 0) {
        err = errno;
    }
    close(fd);
    return err;
}

/// One rtnetlink dump (type, family); calls f(header) for every message. False: it failed.
template <typename F>
bool dump(uint16_t type, uint8_t family, F&& f) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
        return false;
    }
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct {
        nlmsghdr h;
        rtgenmsg g;
    } req{};
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof(rtgenmsg));
    req.h.nlmsg_type = type;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.h.nlmsg_seq = 1;
    req.g.rtgen_family = family;
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    bool ok = sendto(fd, &req, req.h.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) >= 0;
    std::vector<char> buf(1 << 16);
    for (bool done = !ok; !done;) {
        ssize_t n = recv(fd, buf.data(), buf.size(), 0);
        if (n <= 0) {
            ok = false;
            break;
        }
        auto* h = reinterpret_cast<nlmsghdr*>(buf.data());
        for (auto len = static_cast<unsigned>(n); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_type == NLMSG_DONE) {
                done = true;
                break;
            }
            if (h->nlmsg_type == NLMSG_ERROR) {
                ok = false;
                done = true;
                break;
            }
            f(h);
        }
    }
    close(fd);
    return ok;
}

std::optional<ip_address> attr_addr(const rtattr* a, bool v6) {
    if (RTA_PAYLOAD(a) != (v6 ? 16U : 4U)) {
        return std::nullopt;
    }
    return v6 ? ip_address::from_v6(static_cast<const uint8_t*>(RTA_DATA(a)))
              : ip_address::from_v4(*static_cast<const uint32_t*>(RTA_DATA(a)));
}

}  // namespace

host_facts read_host_facts() {
    host_facts h;
    bool ok = true;
    auto iface = [&](unsigned idx) -> host_facts::interface* {
        char name[IF_NAMESIZE] = {};
        if (if_indextoname(idx, name) == nullptr) {
            return nullptr;
        }
        for (auto& i : h.interfaces) {
            if (i.name == name) {
                return &i;
            }
        }
        h.interfaces.push_back({name, {}});
        return &h.interfaces.back();
    };
    ok = dump(RTM_GETADDR, AF_UNSPEC, [&](const nlmsghdr* m) {
        if (m->nlmsg_type != RTM_NEWADDR) {
            return;
        }
        const auto* ifa = static_cast<const ifaddrmsg*>(NLMSG_DATA(m));
        if (ifa->ifa_scope != RT_SCOPE_UNIVERSE || (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)) {
            return;
        }
        const bool v6 = ifa->ifa_family == AF_INET6;
        std::optional<ip_address> local, address;
        uint32_t flags = ifa->ifa_flags;
        int len = static_cast<int>(IFA_PAYLOAD(m));
        for (const rtattr* a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
            if (a->rta_type == IFA_LOCAL) {
                local = attr_addr(a, v6);
            } else if (a->rta_type == IFA_ADDRESS) {
                address = attr_addr(a, v6);
            } else if (a->rta_type == IFA_FLAGS && RTA_PAYLOAD(a) == 4) {
                std::memcpy(&flags, RTA_DATA(a), 4);
            }
        }
        // Not yet or no longer the host's (tentative, failed DAD, deprecated), or rotating (IPv6
        // privacy addresses: IFA_F_TEMPORARY, the same bit as IPv4's IFA_F_SECONDARY).
        if ((flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED | IFA_F_DEPRECATED)) != 0 || (v6 && (flags & IFA_F_TEMPORARY) != 0)) {
            return;
        }
        const auto addr = local ? local : address;
        if (auto* i = iface(ifa->ifa_index); i != nullptr && addr) {
            // IPv4 primaries before secondaries (the kernel's source address first)
            auto at = (!v6 && (flags & IFA_F_SECONDARY) == 0)
                          ? std::find_if(i->addresses.begin(), i->addresses.end(),
                                         [](const host_facts::address& x) { return !x.addr.v6; })
                          : i->addresses.end();
            i->addresses.insert(at, {*addr, ifa->ifa_prefixlen});
        }
    });
    for (const uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
        uint32_t best = UINT32_MAX;
        ok = dump(RTM_GETROUTE, family, [&](const nlmsghdr* m) {
            if (m->nlmsg_type != RTM_NEWROUTE) {
                return;
            }
            const auto* rt = static_cast<const rtmsg*>(NLMSG_DATA(m));
            if (rt->rtm_dst_len != 0 || rt->rtm_table != RT_TABLE_MAIN || rt->rtm_type != RTN_UNICAST) {
                return;
            }
            const bool v6 = rt->rtm_family == AF_INET6;
            if ((rt->rtm_flags & (RTNH_F_LINKDOWN | RTNH_F_DEAD)) != 0) {
                return;
            }
            uint32_t oif = 0, metric = 0;
            std::optional<ip_address> gw;
            int len = static_cast<int>(RTM_PAYLOAD(m));
            for (const rtattr* a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
                if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) == 4) {
                    std::memcpy(&oif, RTA_DATA(a), 4);
                } else if (a->rta_type == RTA_PRIORITY && RTA_PAYLOAD(a) == 4) {
                    std::memcpy(&metric, RTA_DATA(a), 4);
                } else if (a->rta_type == RTA_GATEWAY) {
                    gw = attr_addr(a, v6);
                } else if (a->rta_type == RTA_MULTIPATH && oif == 0) {
                    // ECMP: the first next hop that is up (its interface and gateway)
                    auto nlen = static_cast<int>(RTA_PAYLOAD(a));
                    for (const auto* nh = static_cast<const rtnexthop*>(RTA_DATA(a));
                         nlen >= static_cast<int>(sizeof(rtnexthop)) && nh->rtnh_len >= sizeof(rtnexthop) &&
                         nh->rtnh_len <= nlen;
                         nlen -= RTNH_ALIGN(nh->rtnh_len), nh = RTNH_NEXT(nh)) {
                        if ((nh->rtnh_flags & (RTNH_F_LINKDOWN | RTNH_F_DEAD)) != 0) {
                            continue;
                        }
                        oif = static_cast<uint32_t>(nh->rtnh_ifindex);
                        int alen = static_cast<int>(nh->rtnh_len - sizeof(rtnexthop));
                        for (const rtattr* x = RTNH_DATA(nh); RTA_OK(x, alen); x = RTA_NEXT(x, alen)) {
                            if (x->rta_type == RTA_GATEWAY) {
                                gw = attr_addr(x, v6);
                            }
                        }
                        break;
                    }
                }
            }
            char name[IF_NAMESIZE] = {};
            if (oif == 0 || metric >= best || if_indextoname(oif, name) == nullptr) {
                return;
            }
            best = metric;
            (v6 ? h.default_if6 : h.default_if4) = name;
            (v6 ? h.gateway6 : h.gateway4) = gw;
        }) && ok;
    }
    if (!ok) {
        h.error = "cannot read the interfaces and routes from the kernel (rtnetlink)";
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        for (unsigned c = 0; c < CPU_SETSIZE; ++c) {
            if (CPU_ISSET(c, &set)) {
                h.cpus.push_back(c);
            }
        }
    }
    std::ifstream mi("/proc/meminfo");
    uint64_t free_pages = 0, page_kb = 0;
    for (std::string key; mi >> key;) {
        uint64_t v = 0;
        mi >> v;
        if (key == "HugePages_Free:") {
            free_pages = v;
        } else if (key == "Hugepagesize:") {
            page_kb = v;
        }
        mi.ignore(256, '\n');
    }
    h.hugepages = free_pages * page_kb >= 256 * 1024;
    return h;
}

std::vector<std::string> configure_kernel_if(const std::string& ifname, const std::string& port,
                                             const std::vector<wan_address>& addrs,
                                             const std::vector<wan_gateway>& gateways) {
    std::vector<std::string> errors;
    const unsigned idx = if_nametoindex(ifname.c_str());
    if (idx == 0) {
        errors.push_back(failed("interface " + ifname, errno));
        return errors;
    }
    // The kernel of a VPN gateway forwards: nothing that came in here is forwarded (the engine
    // passes no unicast for other addresses either), and router advertisements from the WAN do
    // not configure it (the port's addresses are the config's). IPv6 may be off (ENOENT).
    if (int e = set_sysctl("ipv4", ifname, "forwarding", "0"); e != 0) {
        errors.push_back(failed("ipv4 forwarding off on " + ifname, e));
    }
    for (const char* key : {"forwarding", "accept_ra"}) {
        if (int e = set_sysctl("ipv6", ifname, key, "0"); e != 0 && e != ENOENT) {
            errors.push_back(failed(std::string("ipv6 ") + key + " off on " + ifname, e));
        }
    }
    {
        nl_request r(RTM_NEWLINK, 0);
        auto* ifi = r.body<ifinfomsg>();
        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = static_cast<int>(idx);
        ifi->ifi_flags = IFF_UP;
        ifi->ifi_change = IFF_UP;
        if (int e = r.exchange(); e != 0) {
            errors.push_back(failed("bring " + ifname + " up", e));
        }
    }
    for (const wan_address& a : addrs) {
        if (a.port != port) {
            continue;
        }
        nl_request r(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
        auto* ifa = r.body<ifaddrmsg>();
        ifa->ifa_family = a.addr.v6 ? AF_INET6 : AF_INET;
        ifa->ifa_prefixlen = a.prefix;
        ifa->ifa_index = idx;
        ifa->ifa_scope = RT_SCOPE_UNIVERSE;
        const size_t alen = a.addr.v6 ? 16 : 4;
        r.attr(IFA_LOCAL, a.addr.bytes.data(), alen);
        r.attr(IFA_ADDRESS, a.addr.bytes.data(), alen);
        const uint32_t flags = IFA_F_NODAD;
        r.attr(IFA_FLAGS, &flags, sizeof(flags));
        if (!a.addr.v6 && a.prefix < 31) {
            uint32_t bcast = 0;
            std::memcpy(&bcast, a.addr.bytes.data(), 4);
            bcast |= htonl(0xffffffffU >> a.prefix);
            r.attr(IFA_BROADCAST, &bcast, sizeof(bcast));
        }
        if (int e = r.exchange(); e != 0) {
            errors.push_back(failed("address " + a.addr.str() + "/" + std::to_string(a.prefix) + " on " + ifname, e));
        }
    }
    for (const wan_gateway& g : gateways) {
        if (g.port != port) {
            continue;
        }
        nl_request r(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        auto* rt = r.body<rtmsg>();
        rt->rtm_family = g.addr.v6 ? AF_INET6 : AF_INET;
        rt->rtm_dst_len = 0;
        rt->rtm_table = RT_TABLE_MAIN;
        rt->rtm_protocol = RTPROT_STATIC;
        rt->rtm_scope = RT_SCOPE_UNIVERSE;
        rt->rtm_type = RTN_UNICAST;
        r.attr(RTA_GATEWAY, g.addr.bytes.data(), g.addr.v6 ? 16 : 4);
        const uint32_t oif = idx;
        r.attr(RTA_OIF, &oif, sizeof(oif));
        const uint32_t metric = 1025;  // after the kernel's own defaults (IPv6: 1024, DHCP: 0..1024)
        r.attr(RTA_PRIORITY, &metric, sizeof(metric));
        if (int e = r.exchange(); e != 0) {
            errors.push_back(failed("default route via " + g.addr.str() + " on " + ifname, e));
        }
    }
    return errors;
}

}  // namespace control
