// SPDX-License-Identifier: MIT
// Phase 2 of the configuration (docs/config.md "Files and phases"): checks a parsed `config` before anything touches
// hardware, collecting every error rather than stopping at the first. Two parts:
//   the node table (ids, allow/deny-direct names, the local node name, protocols, every node's
//   `route` prefixes and `bridge-mac` entries), checked for every node because the file is
//   shared by all of them; and
//   the engine layout (lcores, ports and devargs, one TAP and one LAN port, WAN and LAN
//   addresses, gateways, neighbours, the (port, queue, lcore) map, mbufs, the MAC table
//   settings), checked for the local node only: other nodes' layouts
//   describe other machines. The invariants of the queue map follow l3fwd (DPDK
//   examples/l3fwd/main.c check_lcore_params / init_lcore_rx_queues).
// It also fills the two defaults that depend on the whole layout: the queue map (port i, queue 0
// -> worker i mod n) and a wan-address taken from a literal hostname. Control thread / dvpectl.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <thread>

#include "control/config/config.hh"
#include "transports/kind.hh"

namespace control {

// A worker's index is its sender lane (its AEAD nonce space and UDP source port); the control
// thread seals on transport::control_lane, so a worker with that index would reuse its nonces.
static_assert(limits::max_workers == transport::control_lane);

namespace {

std::string quote(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string at(const location& l) { return l.file + ":" + std::to_string(l.line); }

/// DPDK vdev drivers (net PMDs probed by name) that dvpe knows about, without the `net_` prefix.
constexpr std::string_view known_vdevs[] = {"af_packet", "af_xdp", "bonding", "failsafe", "memif",
                                            "null",      "pcap",   "ring",    "softnic",  "tap",
                                            "tun",       "vdev_netvsc", "vhost", "virtio_user"};
/// Drivers that cannot work without an `iface=` argument.
constexpr std::string_view needs_iface[] = {"af_packet", "af_xdp"};
/// Drivers of DPDK's drivers/net/tap (net_tap, net_tun). In DPDK 22.11 their dev_start
/// (tap_mp_req_on_rxtx) copies one fd per rx and per tx queue into a multi-process message
/// whose fd array holds RTE_MP_MAX_FD_NUM = 8, without a bounds check: more queues smash the
/// stack ("stack smashing detected") at start.
constexpr std::string_view tap_drivers[] = {"tap", "tun"};

/// The driver of a vdev DEVARGS without `net_` and the instance ("tap" for net_tap0,iface=x);
/// empty for a PCI address or anything else.
std::string_view vdev_driver(std::string_view devargs) {
    std::string_view dev = devargs.substr(0, devargs.find(','));
    if (dev.substr(0, 4) != "net_") {
        return {};
    }
    size_t end = dev.size();
    while (end > 4 && dev[end - 1] >= '0' && dev[end - 1] <= '9') {
        --end;
    }
    return dev.substr(4, end - 4);
}

std::string known_vdev_list() {
    std::string r;
    for (std::string_view v : known_vdevs) {
        r += r.empty() ? "" : ", ";
        r += "net_";
        r += v;
    }
    return r;
}

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// `DDDD:BB:DD.F` or `BB:DD.F`; returns the canonical lower-case `dddd:bb:dd.f` form.
std::optional<std::string> parse_pci(std::string_view s) {
    std::string dom = "0000";
    if (s.size() == 12) {
        if (s[4] != ':') {
            return std::nullopt;
        }
        dom = std::string(s.substr(0, 4));
        s.remove_prefix(5);
    }
    if (s.size() != 7 || s[2] != ':' || s[5] != '.' || s[6] < '0' || s[6] > '7') {
        return std::nullopt;
    }
    std::string all = dom + std::string(s.substr(0, 2)) + std::string(s.substr(3, 2));
    if (!std::all_of(all.begin(), all.end(), is_hex)) {
        return std::nullopt;
    }
    std::string r = dom + ":" + std::string(s);
    for (char& c : r) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return r;
}

/// A port on a PCI device (DEVARGS begins with its address): the kernel lost that NIC.
bool is_pci_devargs(std::string_view devargs) {
    return parse_pci(devargs.substr(0, devargs.find(','))).has_value();
}

/// Splits devargs on ',' outside `[...]` (DPDK lists like representor=[0,1]). False: unbalanced.
bool split_devargs(std::string_view s, std::vector<std::string_view>& out) {
    int depth = 0;
    size_t b = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '[') {
            ++depth;
        } else if (s[i] == ']') {
            if (--depth < 0) {
                return false;
            }
        } else if (s[i] == ',' && depth == 0) {
            out.push_back(s.substr(b, i - b));
            b = i + 1;
        }
    }
    out.push_back(s.substr(b));
    return depth == 0;
}

/// Checks DEVARGS of a `port` line. Returns the problem, or nullopt with `device` set to the
/// canonical device name (PCI address or vdev instance name) for duplicate detection.
std::optional<std::string> check_devargs(std::string_view devargs, std::string& device) {
    if (devargs.empty()) {
        return "empty devargs";
    }
    for (char c : devargs) {
        if (c == ' ' || c == '\t') {
            return "unexpected whitespace (devargs is one word: DEVICE,key=value,...)";
        }
    }
    std::vector<std::string_view> segs;
    if (!split_devargs(devargs, segs)) {
        return "unbalanced '[' ']'";
    }
    std::string_view dev = segs[0];
    if (dev.empty()) {
        return "missing device name before ','";
    }
    std::string driver;
    if (auto pci = parse_pci(dev)) {
        device = *pci;
    } else if (dev.substr(0, 4) == "net_") {
        size_t end = dev.size();
        while (end > 4 && is_digit(dev[end - 1])) {
            --end;
        }
        std::string_view drv = dev.substr(4, end - 4);
        bool drv_ok = !drv.empty() && std::all_of(drv.begin(), drv.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || is_digit(c) || c == '_';
        });
        if (!drv_ok) {
            return "bad vdev name " + quote(dev) + ": expected net_<driver><instance>, e.g. net_tap0";
        }
        if (std::find(std::begin(known_vdevs), std::end(known_vdevs), drv) == std::end(known_vdevs)) {
            return "unknown vdev driver " + quote("net_" + std::string(drv)) + " (known: " + known_vdev_list() + ")";
        }
        if (end == dev.size()) {
            return "vdev " + quote(dev) + " needs an instance number, e.g. " + quote(std::string(dev) + "0");
        }
        device = std::string(dev);
        driver = std::string(drv);
    } else if (dev.substr(0, 8) == "dvpe_tap") {
        // dvpe's own TAP port (pmd/host_tap.hh, docs/host-path.md): not a DPDK vdev.
        if (dev.size() == 8 || !std::all_of(dev.begin() + 8, dev.end(), is_digit)) {
            return "TAP port " + quote(dev) + " needs an instance number, e.g. dvpe_tap0";
        }
        device = std::string(dev);
        for (size_t i = 1; i < segs.size(); ++i) {
            std::string_view kv = segs[i];
            const size_t eq = kv.find('=');
            std::string_view k = kv.substr(0, eq);
            std::string_view v = eq == std::string_view::npos ? std::string_view{} : kv.substr(eq + 1);
            if (k == "iface") {
                if (v.empty() || v.size() > 15 || v.find('/') != std::string_view::npos) {
                    return "dvpe_tap iface=" + quote(v) + ": an interface name of 1 to 15 characters";
                }
            } else if (k == "offload" || k == "uso") {
                if (v != "on" && v != "off") {
                    return "dvpe_tap " + std::string(k) + "=" + quote(v) + ": expected on or off";
                }
            } else {
                return "dvpe_tap: unknown key " + quote(k) + " (known: iface, offload, uso)";
            }
        }
        return std::nullopt;
    } else {
        return "expected a PCI address (DDDD:BB:DD.F or BB:DD.F), a vdev name net_<driver><N> or dvpe_tap<N> "
               "before the first ','";
    }
    bool has_iface = false;
    for (size_t i = 1; i < segs.size(); ++i) {
        std::string_view kv = segs[i];
        if (kv.empty()) {
            return i + 1 == segs.size() ? std::string("trailing ','") : std::string("empty segment ',,'");
        }
        size_t eq = kv.find('=');
        if (eq == std::string_view::npos) {
            return "expected key=value after ','";
        }
        std::string_view k = kv.substr(0, eq);
        if (k.empty()) {
            return "empty key in " + quote(kv);
        }
        bool key_ok = std::all_of(k.begin(), k.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
        });
        if (!key_ok) {
            return "bad key " + quote(k) + " (letters, digits, '_' and '-')";
        }
        if (eq + 1 == kv.size()) {
            return "empty value for key " + quote(k);
        }
        has_iface = has_iface || k == "iface";
    }
    if (!driver.empty() && !has_iface &&
        std::find(std::begin(needs_iface), std::end(needs_iface), driver) != std::end(needs_iface)) {
        return "net_" + driver + " needs iface=IFNAME";
    }
    return std::nullopt;
}

bool unspecified(const ip_address& a) {
    return std::all_of(a.bytes.begin(), a.bytes.begin() + (a.v6 ? 16 : 4), [](uint8_t b) { return b == 0; });
}

/// The address with every bit after the first `prefix` cleared (the network of ADDR/PREFIX).
ip_address network_of(const ip_address& a, unsigned prefix) {
    ip_address r = a;
    const unsigned width = a.v6 ? 128U : 32U;
    for (unsigned i = prefix; i < width; ++i) {
        r.bytes[i / 8] = static_cast<uint8_t>(r.bytes[i / 8] & ~(1U << (7 - i % 8)));
    }
    return r;
}

std::string prefix_text(const ip_address& a, unsigned prefix) { return a.str() + "/" + std::to_string(prefix); }

std::string cpu_text(unsigned n_cpus) {
    return "this machine has " + std::to_string(n_cpus) + (n_cpus == 1 ? " CPU (lcore 0)" : " CPUs (lcores 0-") +
           (n_cpus == 1 ? "" : std::to_string(n_cpus - 1) + ")");
}

class validator {
public:
    validator(config& cfg, const load_options& opt) : _cfg(cfg), _opt(opt) {}

    std::vector<diagnostic> run() {
        check_nodes();
        if (_cfg.nodes.empty()) {
            return std::move(_errors);
        }
        if (_opt.nodename.empty()) {
            _cfg.self = 0;  // tools: no local node, no local checks
            return std::move(_errors);
        }
        const node_conf* self = _cfg.find_node(_opt.nodename);
        if (self == nullptr) {
            std::string msg = "unknown node " + quote(_opt.nodename);
            if (_cfg.nodes.size() <= 10) {
                msg += " (configured nodes:";
                for (const node_conf& n : _cfg.nodes) {
                    msg += " " + n.name;
                }
                msg += ")";
            } else {
                msg += " (" + std::to_string(_cfg.nodes.size()) + " nodes configured)";
            }
            error({_cfg.file, 0}, msg);
            return std::move(_errors);
        }
        _cfg.self = static_cast<size_t>(self - _cfg.nodes.data());
        node_conf& local = _cfg.nodes[_cfg.self];
        check_protocols(local);
        if (_opt.check_engine) {
            check_engine(local);
        }
        return std::move(_errors);
    }

private:
    void error(const location& where, std::string msg) { _errors.push_back({where, std::move(msg)}); }
    void warn(const location& where, std::string msg) { _cfg.warnings.push_back({where, std::move(msg)}); }

    void check_nodes() {
        if (_cfg.nodes.empty()) {
            error({_cfg.file, 0}, "no nodes configured (add 'node = NAME' sections)");
            return;
        }
        std::map<unsigned, const node_conf*> ids;
        for (const node_conf& n : _cfg.nodes) {
            auto [it, fresh] = ids.emplace(n.id, &n);
            if (!fresh) {
                const node_conf& first = *it->second;
                error(n.explicit_id ? n.id_where : n.where,
                      "node " + quote(n.name) + ": id " + std::to_string(n.id) + " is already used by node " +
                          quote(first.name) + " (" + at(first.explicit_id ? first.id_where : first.where) + ")");
            }
            check_direct_names(n.allow_direct, n.allow_direct_where, "allow-direct");
            check_direct_names(n.deny_direct, n.deny_direct_where, "deny-direct");
        }
        check_routes();
        check_bridge_macs();
    }

    /// `route` over all nodes: the prefixes make one table, the same on every node.
    void check_routes() {
        // (family, network, length) -> owner and line
        std::map<std::pair<ip_address, unsigned>, std::pair<const node_conf*, const route_conf*>> owners;
        size_t total = 0;
        for (const node_conf& n : _cfg.nodes) {
            for (size_t i = 0; i < n.routes.size(); ++i) {
                const route_conf& r = n.routes[i];
                const std::string text = prefix_text(r.addr, r.prefix);
                if (i == limits::max_routes_per_node) {
                    error(r.where, "route " + text + ": node " + quote(n.name) + " has too many routes (at most " +
                                       std::to_string(limits::max_routes_per_node) + " per node)");
                }
                if (++total == size_t{limits::max_routes} + 1) {
                    error(r.where, "route " + text + ": too many routes (at most " +
                                       std::to_string(limits::max_routes) + " in all nodes together)");
                }
                const ip_address net = network_of(r.addr, r.prefix);
                if (net != r.addr) {
                    error(r.where, "route " + text + " has host bits set (did you mean " + prefix_text(net, r.prefix) +
                                       "?)");
                    continue;
                }
                auto [it, fresh] = owners.emplace(std::make_pair(net, unsigned{r.prefix}), std::make_pair(&n, &r));
                if (!fresh) {
                    const auto& [first_node, first] = it->second;
                    error(r.where, "route " + text + ": " +
                                       (first_node == &n ? "listed twice for node " + quote(n.name) + " (also at "
                                                         : "owned by node " + quote(n.name) + " and by node " +
                                                               quote(first_node->name) + " (") +
                                       at(first->where) + ")");
                }
            }
        }
    }

    /// `bridge-mac` over all nodes: each a unicast station MAC, behind one node only.
    void check_bridge_macs() {
        std::map<std::array<uint8_t, 6>, std::pair<const node_conf*, const bridge_mac_conf*>> owners;
        constexpr std::array<uint8_t, 6> zero{};
        for (const node_conf& n : _cfg.nodes) {
            for (const bridge_mac_conf& b : n.bridge_macs) {
                const std::string what = "bridge-mac " + mac_string(b.mac) + ": ";
                if ((b.mac[0] & 1) != 0) {
                    error(b.where, what + "a group (multicast or broadcast) address, not a station");
                    continue;
                }
                if (b.mac == zero) {
                    error(b.where, what + "the all-zero address is not a station");
                    continue;
                }
                if (b.mac[0] == 0xfe && b.mac[1] == 0xfd && b.mac[2] == 0x80 && b.mac[3] == 0x00) {
                    error(b.where, what + "a node MAC (fe:fd:80:00:HH:LL): node MACs are delivered by node id, "
                                          "not by the MAC table");
                    continue;
                }
                auto [it, fresh] = owners.emplace(b.mac, std::make_pair(&n, &b));
                if (!fresh) {
                    const auto& [first_node, first] = it->second;
                    error(b.where, what +
                                       (first_node == &n ? "listed twice for node " + quote(n.name) + " (also at "
                                                         : "listed for node " + quote(n.name) + " and for node " +
                                                               quote(first_node->name) + " (") +
                                       at(first->where) + ")");
                }
            }
        }
    }

    void check_direct_names(const std::vector<std::string>& names, const std::vector<location>& where,
                            std::string_view what) {
        for (size_t i = 0; i < names.size(); ++i) {
            if (names[i] != "*" && _cfg.find_node(names[i]) == nullptr) {
                error(i < where.size() ? where[i] : location{_cfg.file, 0},
                      std::string(what) + ": unknown node " + quote(names[i]) + " (expected a node name or *)");
            }
        }
    }

    void check_protocols(const node_conf& n) {
        if (n.protocols == 0) {
            error(n.where, "node " + quote(n.name) +
                               ": no protocols enabled (set enable-udp, enable-rawip, enable-icmp, enable-tcp or enable-dns = yes)");
        }
        // A node without a hostname may sit behind a NAT; ICMP mappings there last 30 s without
        // traffic (Linux nf_conntrack_icmp_timeout; RFC 5508 asks for 60 s) and a session idles
        // `keepalive` s before it probes (docs/protocol.md "ICMP roles").
        if ((n.protocols & proto_icmp) != 0 && n.hostname.empty() && is_echo_icmp(_cfg.global.icmp_type) &&
            _cfg.global.keepalive > 25) {
            warn(n.where, "node " + quote(n.name) + ": icmp without a hostname (behind a NAT?) and keepalive " +
                              std::to_string(static_cast<int>(_cfg.global.keepalive)) +
                              " s: a NAT forgets ICMP mappings after 30 s of silence (Linux); keepalive = 20 keeps them");
        }
    }
    static bool is_echo_icmp(unsigned t) { return t == 0 || t == 8; }

    /// A local node without `port` lines (a gvpe.conf as GVPE reads it) gets the layout an
    /// operator would expect from what the host offers (docs/config.md "Automatic engine
    /// layout"); every choice is noted in cfg.auto_layout. Explicit lines win where given.
    void auto_layout(node_conf& n) {
        const host_facts& h = *_opt.host;
        engine_layout& e = n.engine;
        auto note = [&](const std::string& s) { _cfg.auto_layout.push_back(s); };
        if (!e.exceptions.empty()) {
            error(e.exceptions.front().where, "exception: needs a 'port' line for its wan port (the automatic layout "
                                              "shares the interface with the kernel, which keeps its addresses)");
            return;
        }
        const bool eal_lcores = e.eal_args.find("--lcores") != std::string::npos ||
                                e.eal_args.find("-l ") != std::string::npos || e.eal_args.starts_with("-l");
        if (e.control_lcore_where.file.empty() && e.worker_lcores_where.file.empty() && !eal_lcores) {
            // lcore ids 0 and 1, mapped onto the CPUs the process may use (a CPU id is no lcore id:
            // cpusets hand out CPU 130 as well)
            e.control_lcore = 0;
            e.worker_lcores = {1};
            if (h.cpus.size() >= 2) {
                if (h.cpus[0] != 0 || h.cpus[1] != 1) {
                    e.eal_args += std::string(e.eal_args.empty() ? "" : " ") + "--lcores=0@" + std::to_string(h.cpus[0]) +
                                  ",1@" + std::to_string(h.cpus[1]);
                }
                note("control-lcore = 0 on CPU " + std::to_string(h.cpus[0]) + ", worker-lcores = 1 on CPU " +
                     std::to_string(h.cpus[1]) + " (the first two CPUs this process may use)");
            } else {
                const unsigned cpu = h.cpus.empty() ? 0 : h.cpus[0];
                e.eal_args += std::string(e.eal_args.empty() ? "" : " ") + "--lcores=0@" + std::to_string(cpu) + ",1@" +
                              std::to_string(cpu);
                note("control-lcore = 0, worker-lcores = 1, both on CPU " + std::to_string(cpu) +
                     (h.cpus.empty() ? " (the CPU affinity could not be read)" : " (the only one this process may use)"));
            }
        }
        // The wan port: the interface that has the hostname's address, else the default route's.
        std::string ifname, why;
        if (auto ip = ip_address::parse(n.hostname)) {
            for (const auto& i : h.interfaces) {
                for (const auto& a : i.addresses) {
                    if (a.addr == *ip && ifname.empty()) {
                        ifname = i.name;
                        why = "it has the hostname's address " + ip->str();
                    }
                }
            }
        }
        if (ifname.empty() && !h.default_if4.empty()) {
            ifname = h.default_if4;
            why = "the interface of the IPv4 default route";
        }
        if (ifname.empty() && !h.default_if6.empty()) {
            ifname = h.default_if6;
            why = "the interface of the IPv6 default route";
        }
        if (ifname.empty()) {
            error(n.where, "node " + n.name + ": no engine layout in the config, and no interface for the wan port "
                           "(no default route" + std::string(n.hostname.empty() ? "" : ", and no interface has hostname " + n.hostname) +
                           (h.error.empty() ? "" : "; " + h.error) +
                           "): add 'port = wan0 wan net_af_packet0,iface=IFNAME' and 'wan-address'");
            return;
        }
        e.ports.push_back({"wan0", port_role::wan, "net_af_packet0,iface=" + ifname, n.where});
        e.kernel_wan = true;
        note("port = wan0 wan net_af_packet0,iface=" + ifname + " (" + why +
             "; net_af_packet works with every NIC and driver and leaves the kernel its interface)");
        const host_facts::interface* wi = nullptr;
        for (const auto& i : h.interfaces) {
            if (i.name == ifname) {
                wi = &i;
            }
        }
        if (e.wan_addresses.empty() && wi != nullptr) {
            unsigned n4 = 0, n6 = 0;
            for (const auto& a : wi->addresses) {
                unsigned& k = a.addr.v6 ? n6 : n4;
                if (k < limits::max_lan_addresses_per_family) {
                    ++k;
                    e.wan_addresses.push_back({"wan0", a.addr, a.prefix, n.where});
                    note("wan-address = wan0 " + a.addr.str() + "/" + std::to_string(a.prefix) + " (from " + ifname + ")");
                }
            }
        }
        if (e.wan_gateways.empty() && h.default_if4 != ifname && h.default_if6 != ifname) {
            note("no wan-gateway: the default routes are not " + ifname + "'s (peers off its subnet need "
                 "'wan-gateway = wan0 ADDR')");
        }
        if (e.wan_gateways.empty()) {
            if (h.default_if4 == ifname && h.gateway4) {
                e.wan_gateways.push_back({"wan0", *h.gateway4, n.where});
                note("wan-gateway = wan0 " + h.gateway4->str() + " (the IPv4 default route's)");
            }
            if (h.default_if6 == ifname && h.gateway6) {
                if (h.gateway6->bytes[0] == 0xfe && (h.gateway6->bytes[1] & 0xc0) == 0x80) {
                    // The engine has no link-local address to ask it from: off-link IPv6 peers
                    // need an explicit gateway (one of the router's global addresses).
                    note("no IPv6 wan-gateway: the default route's, " + h.gateway6->str() +
                         ", is link-local (give one of its global addresses: 'wan-gateway = wan0 ADDR')");
                } else {
                    e.wan_gateways.push_back({"wan0", *h.gateway6, n.where});
                    note("wan-gateway = wan0 " + h.gateway6->str() + " (the IPv6 default route's)");
                }
            }
        }
        e.ports.push_back({"tap0", port_role::overlay, "dvpe_tap0", n.where});
        note("port = tap0 overlay dvpe_tap0 (the node's TAP, named by ifname)");
        if (!h.hugepages && !e.hugepages_set) {
            e.hugepages = false;
            if (e.memory_mb == 0) {
                e.memory_mb = 512;
            }
            note("hugepages = no, memory-mb = " + std::to_string(e.memory_mb) + " (no free hugepages)");
        }
    }

    void check_engine(node_conf& n) {
        if (n.engine.ports.empty() && _opt.host) {
            auto_layout(n);
        }
        engine_layout& e = n.engine;
        e.tcp = (n.protocols & (proto_tcp | proto_dns)) != 0;  // the slow path's rings: tcp and dns
        check_lcores(n);
        check_ports(n);
        default_wan_address(n);
        check_addresses(e);
        check_lan_addresses(e);
        check_mac_table(n);
        check_gateways(e);
        check_neighbours(e);
        check_exceptions(e);
        if (e.capture && !e.hugepages) {
            error(e.capture_where, "capture: needs hugepages (dpdk-dumpcap maps the daemon's memory; without "
                                   "hugepages it is the daemon's alone): set 'hugepages = yes' and reserve some");
        }
        check_queue_map(n);
        if (e.mbufs != 0) {
            unsigned need = required_mbufs(e);
            if (e.mbufs < need) {
                error(e.mbufs_where.file.empty() ? n.where : e.mbufs_where,
                      "mbufs: " + std::to_string(e.mbufs) + " is too few for this layout: it needs at least " +
                          std::to_string(need) + " (0 sizes the pool automatically)");
            }
        }
    }

    unsigned n_cpus() const {
        if (_opt.n_cpus != 0) {
            return _opt.n_cpus;
        }
        unsigned hc = std::thread::hardware_concurrency();
        return hc != 0 ? hc : limits::max_lcores;
    }

    void check_lcores(const node_conf& n) {
        const engine_layout& e = n.engine;
        location wl = e.worker_lcores_where.file.empty() ? n.where : e.worker_lcores_where;
        location cl = e.control_lcore_where.file.empty() ? n.where : e.control_lcore_where;
        // With `eal-args = --lcores ...` the EAL maps lcore ids to CPUs itself (several lcores may
        // share a CPU), so lcore ids are only bounded by RTE_MAX_LCORE; the EAL checks the map.
        unsigned cpus = e.eal_args.find("--lcores") != std::string::npos ? limits::max_lcores : n_cpus();
        std::set<unsigned> seen;
        for (unsigned l : e.worker_lcores) {
            if (!seen.insert(l).second) {
                error(wl, "worker-lcores: lcore " + std::to_string(l) + " is listed twice");
            } else if (l >= cpus) {
                error(wl, "worker-lcores: lcore " + std::to_string(l) + " does not exist: " + cpu_text(cpus));
            }
        }
        if (e.control_lcore >= cpus) {
            error(cl, "control-lcore: lcore " + std::to_string(e.control_lcore) + " does not exist: " + cpu_text(cpus));
        }
        if (seen.count(e.control_lcore) != 0) {
            error(e.control_lcore_where.file.empty() ? wl : cl,
                  "control-lcore: lcore " + std::to_string(e.control_lcore) +
                      " is also a worker lcore (the control thread needs its own lcore)");
        }
        if (seen.size() > limits::max_workers) {
            error(wl, "worker-lcores: " + std::to_string(seen.size()) + " workers, at most " +
                          std::to_string(limits::max_workers) + " (sender lane " +
                          std::to_string(transport::control_lane) +
                          " is the control thread's: a worker there would reuse its AEAD nonces)");
        }
    }

    void check_ports(const node_conf& n) {
        const engine_layout& e = n.engine;
        std::map<std::string, const port_conf*> names;
        std::map<std::string, const port_conf*> devices;
        bool wan = false;
        bool overlay = false;
        const port_conf* tap = nullptr;  // the overlay port in host mode (the node's TAP)
        const port_conf* lan = nullptr;  // the bridge or route port (the site LAN)
        for (size_t i = 0; i < e.ports.size(); ++i) {
            const port_conf& p = e.ports[i];
            std::string what = "port " + p.name + ": ";
            if (i == limits::max_ports) {
                error(p.where, what + "too many ports (at most " + std::to_string(limits::max_ports) + ")");
            }
            if (auto [it, fresh] = names.emplace(p.name, &p); !fresh) {
                error(p.where, what + "duplicate port name (first defined at " + at(it->second->where) + ")");
                continue;
            }
            wan = wan || p.role == port_role::wan;
            overlay = overlay || p.role == port_role::overlay;
            if (p.role == port_role::overlay && p.mode == overlay_mode::host) {
                if (tap != nullptr) {
                    error(p.where, what + "a second overlay port (the node's TAP is port " + tap->name + ", " +
                                       at(tap->where) + "): at most one overlay port per node, besides one "
                                       "bridge or route port");
                } else {
                    tap = &p;
                }
            } else if (p.role == port_role::overlay) {
                if (lan != nullptr) {
                    error(p.where, what + "one LAN port per node: port " + lan->name + " (" + at(lan->where) +
                                       ") is already a " + std::string(to_string(lan->mode)) + " port");
                } else {
                    lan = &p;
                }
            }
            std::string device;
            if (auto problem = check_devargs(p.devargs, device)) {
                error(p.where, what + "bad devargs " + quote(p.devargs) + ": " + *problem);
                continue;
            }
            if (p.role == port_role::wan && device.rfind("dvpe_tap", 0) == 0) {
                error(p.where, what + "dvpe_tap is the node's TAP interface: an overlay port, not a wan port");
                continue;
            }
            if (auto [it, fresh] = devices.emplace(device, &p); !fresh) {
                error(p.where, what + "device " + quote(device) + " is already used by port " + it->second->name +
                                   " (" + at(it->second->where) + ")");
            }
        }
        if (!wan) {
            error(n.where, "node " + quote(n.name) + ": no wan port (add 'port = NAME wan DEVARGS')");
        }
        if (!overlay && !e.ports.empty()) {
            warn(n.where, "node " + quote(n.name) + ": no overlay port: this node can only relay");
        }
    }

    const port_conf* find_port(const engine_layout& e, std::string_view name) const {
        for (const port_conf& p : e.ports) {
            if (p.name == name) {
                return &p;
            }
        }
        return nullptr;
    }

    /// A reference to a port that must exist and (for addresses, gateways, neighbours) be a wan port.
    bool check_port_ref(const engine_layout& e, std::string_view port, const location& where, std::string_view what,
                        bool wan_only) {
        const port_conf* p = find_port(e, port);
        if (p == nullptr) {
            error(where, std::string(what) + ": unknown port " + quote(port));
            return false;
        }
        if (wan_only && p->role != port_role::wan) {
            error(where, std::string(what) + ": port " + quote(port) + " is an overlay port, not a wan port");
            return false;
        }
        return true;
    }

    /// lan-address: on a route port, at most limits::max_lan_addresses_per_family per family,
    /// none twice and none also a wan-address; every route port has at least one.
    void check_lan_addresses(const engine_layout& e) {
        std::map<std::string, const wan_address*> seen;
        std::map<std::pair<std::string, bool>, unsigned> per_family;
        for (const wan_address& a : e.lan_addresses) {
            const port_conf* p = find_port(e, a.port);
            if (p == nullptr) {
                error(a.where, "lan-address: unknown port " + quote(a.port));
                continue;
            }
            if (p->role != port_role::overlay || p->mode != overlay_mode::route) {
                error(a.where, "lan-address: port " + quote(a.port) + " is " +
                                   (p->role == port_role::wan ? std::string("a wan port")
                                    : p->mode == overlay_mode::host
                                        ? std::string("an overlay port (the node's TAP)")
                                        : "a " + std::string(to_string(p->mode)) + " port") +
                                   ", not a route port (lan-address is the gateway's address on a 'port = NAME "
                                   "route DEVARGS')");
                continue;
            }
            if (unspecified(a.addr)) {
                error(a.where, "lan-address: " + a.addr.str() + " is not a usable address");
                continue;
            }
            if (++per_family[{a.port, a.addr.v6}] == limits::max_lan_addresses_per_family + 1) {
                error(a.where, "lan-address: port " + a.port + " has more than " +
                                   std::to_string(limits::max_lan_addresses_per_family) + " " +
                                   (a.addr.v6 ? "IPv6" : "IPv4") + " addresses");
            }
            if (auto [it, fresh] = seen.emplace(a.addr.str(), &a); !fresh) {
                error(a.where, "lan-address: " + a.addr.str() + " is already configured (" + at(it->second->where) + ")");
                continue;
            }
            for (const wan_address& w : e.wan_addresses) {
                if (w.addr == a.addr) {
                    error(a.where, "lan-address: " + a.addr.str() + " is also a wan-address of port " + w.port + " (" +
                                       at(w.where) + ")");
                    break;
                }
            }
        }
        for (const port_conf& p : e.ports) {
            if (p.role != port_role::overlay || p.mode != overlay_mode::route) {
                continue;
            }
            bool has = std::any_of(e.lan_addresses.begin(), e.lan_addresses.end(),
                                   [&](const wan_address& a) { return a.port == p.name; });
            if (!has) {
                error(p.where, "port " + p.name + ": route port has no lan-address (add 'lan-address = " + p.name +
                                   " ADDR/PREFIX': the gateway's address on the LAN)");
            }
        }
    }

    void check_mac_table(const node_conf& n) {
        const engine_layout& e = n.engine;
        if (e.mac_limit_per_peer > e.mac_table_size) {
            warn(e.mac_limit_per_peer_where.file.empty() ? n.where : e.mac_limit_per_peer_where,
                 "mac-limit-per-peer: " + std::to_string(e.mac_limit_per_peer) + " is larger than mac-table-size " +
                     std::to_string(e.mac_table_size) + " (the table fills first)");
        }
    }

    /// A wan port without wan-address gets the local hostname if that is an IP literal
    /// (hostname/32 or /128; the first such port only). docs/config.md.
    void default_wan_address(node_conf& n) {
        engine_layout& e = n.engine;
        auto ip = ip_address::parse(n.hostname);
        bool available = ip && !unspecified(*ip) && std::none_of(e.wan_addresses.begin(), e.wan_addresses.end(),
                                                                 [&](const wan_address& a) { return a.addr == *ip; });
        for (const port_conf& p : e.ports) {
            if (p.role != port_role::wan) {
                continue;
            }
            bool has = std::any_of(e.wan_addresses.begin(), e.wan_addresses.end(),
                                   [&](const wan_address& a) { return a.port == p.name; });
            if (has) {
                continue;
            }
            if (available) {
                e.wan_addresses.push_back({p.name, *ip, static_cast<uint8_t>(ip->v6 ? 128 : 32), n.hostname_where});
                available = false;
                continue;
            }
            error(p.where, "port " + p.name + ": wan port has no wan-address (add 'wan-address = " + p.name +
                               " ADDR/PREFIX'" + (ip ? "" : "; the hostname is not an IP literal to default to") + ")");
        }
    }

    void check_addresses(const engine_layout& e) {
        std::map<std::string, const wan_address*> seen;
        for (const wan_address& a : e.wan_addresses) {
            if (!check_port_ref(e, a.port, a.where, "wan-address", true)) {
                continue;
            }
            if (unspecified(a.addr)) {
                error(a.where, "wan-address: " + a.addr.str() + " is not a usable address");
                continue;
            }
            if (auto [it, fresh] = seen.emplace(a.addr.str(), &a); !fresh) {
                error(a.where, "wan-address: " + a.addr.str() + " is already configured (" + at(it->second->where) + ")");
            }
        }
    }

    void check_gateways(const engine_layout& e) {
        std::set<std::pair<std::string, bool>> per_family;
        for (const wan_gateway& g : e.wan_gateways) {
            if (!check_port_ref(e, g.port, g.where, "wan-gateway", true)) {
                continue;
            }
            std::string fam = g.addr.v6 ? "IPv6" : "IPv4";
            if (!per_family.emplace(g.port, g.addr.v6).second) {
                error(g.where, "wan-gateway: port " + g.port + " already has an " + fam + " gateway");
                continue;
            }
            std::string addrs;
            bool on_link = false;
            bool own = false;
            for (const wan_address& a : e.wan_addresses) {
                if (a.port != g.port || a.addr.v6 != g.addr.v6) {
                    continue;
                }
                addrs += (addrs.empty() ? "" : ", ") + a.addr.str() + "/" + std::to_string(a.prefix);
                on_link = on_link || a.addr.same_subnet(g.addr, a.prefix);
                own = own || a.addr == g.addr;
            }
            if (own) {
                error(g.where, "wan-gateway: " + g.addr.str() + " is an address of port " + g.port + " itself");
            } else if (!on_link) {
                error(g.where, "wan-gateway: " + g.addr.str() + " is not on-link on port " + g.port + " (" +
                                   (addrs.empty() ? "it has no " + fam + " wan-address" : "addresses: " + addrs) + ")");
            }
        }
    }

    /// exception = PORT IFNAME|off: a wan port, once; PCI wan ports get one by default, named
    /// after the port (a NIC the kernel lost: the gateway stays reachable, docs/exception-path.md).
    /// Afterwards e.exceptions holds one entry per port that has an exception interface.
    void check_exceptions(engine_layout& e) {
        std::vector<exception_conf> out;
        std::set<std::string> ports, names;
        for (const exception_conf& x : e.exceptions) {
            if (!check_port_ref(e, x.port, x.where, "exception", true)) {
                continue;
            }
            if (!ports.insert(x.port).second) {
                error(x.where, "exception: port " + x.port + " already has one");
                continue;
            }
            if (x.ifname.empty()) {
                continue;  // off
            }
            if (!names.insert(x.ifname).second) {
                error(x.where, "exception: interface " + x.ifname + " is named twice");
                continue;
            }
            out.push_back(x);
        }
        // Names the kernel already has from us: the overlay's (ifname, iface=) and every
        // interface a port names (net_af_packet, net_af_xdp on iface=).
        std::map<std::string, std::string> taken;
        if (!_cfg.global.ifname.empty()) {
            taken.emplace(_cfg.global.ifname, "ifname");
        }
        for (const port_conf& p : e.ports) {
            std::vector<std::string_view> segs;
            if (!split_devargs(p.devargs, segs)) {
                continue;
            }
            for (std::string_view seg : segs) {
                if (seg.substr(0, 6) == "iface=") {
                    taken.emplace(std::string(seg.substr(6)), "port " + p.name);
                }
            }
        }
        std::vector<exception_conf> kept;
        for (exception_conf& x : out) {
            if (auto it = taken.find(x.ifname); it != taken.end()) {
                error(x.where, "exception: interface " + x.ifname + " is already " + it->second + "'s");
                continue;
            }
            kept.push_back(std::move(x));
        }
        for (const port_conf& p : e.ports) {
            if (p.role == port_role::wan && is_pci_devargs(p.devargs) && !ports.contains(p.name)) {
                std::string ifname = p.name.substr(0, 15);
                if (ifname == "." || ifname == "..") {
                    continue;  // no interface can have that name (and it would be a path in /proc/sys)
                }
                if (names.contains(ifname) || taken.contains(ifname)) {
                    warn(p.where, "port " + p.name + ": no exception interface by default, the name " + ifname +
                                      " is taken (add 'exception = " + p.name + " IFNAME' or 'off')");
                    continue;
                }
                names.insert(ifname);
                kept.push_back({p.name, ifname, p.where, true});
            }
        }
        if (!kept.empty() && e.ports.size() <= limits::max_ports && e.ports.size() + kept.size() > limits::max_ports) {
            error(kept.back().where, "exception: " + std::to_string(e.ports.size()) + " ports and " +
                                         std::to_string(kept.size()) + " exception interfaces are more than " +
                                         std::to_string(limits::max_ports) + " ports");
        }
        e.exceptions = std::move(kept);
    }

    void check_neighbours(const engine_layout& e) {
        std::set<std::pair<std::string, std::string>> seen;
        for (const neighbour_conf& nb : e.neighbours) {
            if (!check_port_ref(e, nb.port, nb.where, "neighbour", true)) {
                continue;
            }
            if (!seen.emplace(nb.port, nb.addr.str()).second) {
                error(nb.where, "neighbour: " + nb.addr.str() + " on port " + nb.port + " is given twice");
            }
        }
    }

    void check_queue_map(node_conf& n) {
        engine_layout& e = n.engine;
        std::vector<unsigned> workers;
        for (unsigned l : e.worker_lcores) {
            if (std::find(workers.begin(), workers.end(), l) == workers.end()) {
                workers.push_back(l);
            }
        }
        if (workers.empty()) {
            return;
        }
        if (e.queue_map.empty()) {
            // Default: port i (in file order) gets rx queue 0, polled by worker i mod n. A duplicate
            // port name is already an error; it gets no queue of its own.
            std::set<std::string> mapped;
            for (const port_conf& p : e.ports) {
                if (mapped.insert(p.name).second) {
                    e.queue_map.push_back({p.name, 0, workers[(mapped.size() - 1) % workers.size()], p.where});
                }
            }
        }
        std::map<std::string, std::set<unsigned>> queues;  // port -> queue ids
        std::map<std::pair<std::string, unsigned>, const queue_map_entry*> seen;
        std::map<unsigned, unsigned> per_lcore;
        for (const queue_map_entry& q : e.queue_map) {
            std::string what = "queue-map " + q.port + " " + std::to_string(q.queue) + " " + std::to_string(q.lcore);
            bool port_ok = check_port_ref(e, q.port, q.where, "queue-map", false);
            if (std::find(workers.begin(), workers.end(), q.lcore) == workers.end()) {
                error(q.where, what + ": lcore " + std::to_string(q.lcore) + " is not a worker lcore");
            } else if (++per_lcore[q.lcore] == limits::max_queues_per_lcore + 1) {
                error(q.where, what + ": lcore " + std::to_string(q.lcore) + " polls more than " +
                                   std::to_string(limits::max_queues_per_lcore) + " queues");
            }
            if (!port_ok) {
                continue;
            }
            if (auto [it, fresh] = seen.emplace(std::make_pair(q.port, q.queue), &q); !fresh) {
                error(q.where, what + ": queue " + std::to_string(q.queue) + " of port " + q.port +
                                   " is already mapped (" + at(it->second->where) + ")");
                continue;
            }
            queues[q.port].insert(q.queue);
        }
        for (const port_conf& p : e.ports) {
            auto it = queues.find(p.name);
            if (it == queues.end()) {
                error(p.where, "port " + p.name + ": no rx queue in the queue-map (add 'queue-map = " + p.name +
                                   " 0 LCORE')");
                continue;
            }
            // Queue ids must be 0..k-1: the highest id is k-1 exactly when the set has k members.
            if (*it->second.rbegin() + 1 != it->second.size()) {
                unsigned missing = 0;
                while (it->second.count(missing) != 0) {
                    ++missing;
                }
                error(p.where, "port " + p.name + ": queue-map queues must be contiguous from 0 (queue " +
                                   std::to_string(missing) + " is missing)");
            }
        }
        for (unsigned l : workers) {
            if (per_lcore.find(l) == per_lcore.end()) {
                warn(e.worker_lcores_where.file.empty() ? n.where : e.worker_lcores_where,
                     "worker-lcores: lcore " + std::to_string(l) + " polls no queue");
            }
        }
        // net_tap / net_tun: every port has one tx queue per worker and as many rx queues as
        // the map gives it (at least one); together at most RTE_MP_MAX_FD_NUM (see tap_drivers).
        for (const port_conf& p : e.ports) {
            std::string_view drv = vdev_driver(p.devargs);
            if (drv.empty() || std::find(std::begin(tap_drivers), std::end(tap_drivers), drv) == std::end(tap_drivers)) {
                continue;
            }
            auto it = queues.find(p.name);
            const size_t rx = it == queues.end() || it->second.empty() ? 1 : *it->second.rbegin() + 1;
            const size_t tx = workers.size();
            if (rx + tx > limits::max_tap_queues) {
                error(p.where, "port " + p.name + ": net_" + std::string(drv) + " with " + std::to_string(rx) +
                                   " rx + " + std::to_string(tx) + " tx queues (one per worker): DPDK's net_" +
                                   std::string(drv) + " passes at most " + std::to_string(limits::max_tap_queues) +
                                   " queue fds in its multi-process message and crashes at start with more; use "
                                   "fewer workers or rx queues on this port");
            }
        }
    }

    config& _cfg;
    const load_options& _opt;
    std::vector<diagnostic> _errors;
};

}  // namespace

unsigned required_mbufs(const engine_layout& e) {
    std::set<unsigned> workers(e.worker_lcores.begin(), e.worker_lcores.end());
    uint64_t n_workers = workers.size();
    uint64_t n_rx = e.queue_map.empty() ? e.ports.size() : e.queue_map.size();
    uint64_t need = n_rx * e.rx_descriptors                       // filled rx rings
                    + e.ports.size() * n_workers * e.tx_descriptors  // a tx ring per port per worker
                    + n_workers * e.burst_size                     // one burst in flight per worker
                    + n_workers * limits::reassembly_mbufs         // outer fragments being reassembled
                    + (n_workers + 1) * e.mbuf_cache               // per-lcore caches (+ control lcore)
                    + e.exceptions.size() * 2 * n_workers * limits::exception_descriptors  // a queue pair per worker
                    + (e.tcp ? 2 * n_workers * limits::stream_ring_size : 0);  // the tcp slow path's rings
    return static_cast<unsigned>(std::min<uint64_t>(need, 0xffffffffULL));
}

std::vector<diagnostic> validate_config(config& cfg, const load_options& opt) {
    std::vector<diagnostic> errors = validator(cfg, opt).run();
    cfg.index_nodes();  // config::node(id)
    return errors;
}

}  // namespace control
