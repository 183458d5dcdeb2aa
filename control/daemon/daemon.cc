// SPDX-License-Identifier: MIT
// dvped bring-up, control loop and teardown; see daemon.hh.
#include "control/daemon/daemon.hh"
#include "transports/control_msg.hh"
#include "control/daemon/telemetry.hh"

#include <fcntl.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <grp.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>

#include "control/daemon/kernel_if.hh"
#include "control/ctl/control_socket.hh"
#include "control/log.hh"
#include "crypto/init.hh"
#include "pmd/dp_memory.hh"
#include "transports/kind.hh"

static_assert(control::limits::reassembly_mbufs ==
                  engine::limits::reassembly_packets * RTE_LIBRTE_IP_FRAG_MAX_FRAG,
              "required_mbufs() reserves what the workers' reassembly tables can hold");

namespace control {

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};
std::atomic<bool> g_dump{false};

constexpr unsigned control_ring_size = 4096;
constexpr unsigned from_control_ring_size = 1024;

bool devargs_has_key(const std::string& devargs, const std::string& key) {
    size_t pos = 0;
    while ((pos = devargs.find(',', pos)) != std::string::npos) {
        ++pos;
        if (devargs.compare(pos, key.size() + 1, key + "=") == 0) {
            return true;
        }
    }
    return false;
}

/// The value of `key=` in devargs, or `def`.
std::string devargs_value(const std::string& devargs, const std::string& key, const std::string& def) {
    size_t pos = 0;
    while ((pos = devargs.find(',', pos)) != std::string::npos) {
        ++pos;
        if (devargs.compare(pos, key.size() + 1, key + "=") == 0) {
            const size_t b = pos + key.size() + 1;
            return devargs.substr(b, devargs.find(',', b) - b);
        }
    }
    return def;
}

bool driver_is(const std::string& devargs, std::string_view driver) {
    std::string name = pmd::devargs_name(devargs);
    if (name.compare(0, driver.size(), driver) != 0) {
        return false;
    }
    return std::all_of(name.begin() + static_cast<long>(driver.size()), name.end(),
                       [](char c) { return c >= '0' && c <= '9'; });
}

rte_ether_addr to_ether(const std::array<uint8_t, 6>& a) {
    rte_ether_addr e{};
    std::memcpy(e.addr_bytes, a.data(), 6);
    return e;
}

}  // namespace

namespace {

/// A socket that takes what the kernel delivers to it and keeps nothing (a filter that accepts
/// no packet): its presence stops the kernel's "unreachable" answers, it never fills, never counts
/// receive errors. -1 with errno on failure.
int drop_all_socket(int family, int type, int protocol, const sockaddr* addr, socklen_t addrlen) {
    int fd = socket(family, type | SOCK_CLOEXEC, protocol);
    if (fd < 0) {
        return -1;
    }
    sock_filter reject{BPF_RET | BPF_K, 0, 0, 0};
    sock_fprog prog{1, &reject};
    const int off = 0;  // an IPv6 UDP socket holds the port for IPv4 too, whatever bindv6only says
    const bool dual = family == AF_INET6 && type == SOCK_DGRAM;
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0 ||
        (dual && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) != 0) ||
        (addr != nullptr && bind(fd, addr, addrlen) != 0)) {
        const int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

}  // namespace

void daemon::hold_kernel_ports(const node_conf& self) {
    // The automatic layout's wan port shares its interface with the kernel, which gets every
    // dvpe packet as well: without a socket for them it answers each with an ICMP error.
    auto failed = [&](const std::string& what) {
        const int e = errno;
        log::warn(what + ": " + std::strerror(e) +
                  (e == EADDRINUSE ? " (another program on this host -- a gvpe? -- gets our packets too)" : "") +
                  "; the kernel may answer dvpe packets with ICMP errors");
    };
    if ((self.protocols & proto_udp) != 0 && self.udp_port != 0) {
        sockaddr_in6 a6{};
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons(self.udp_port);
        int fd = drop_all_socket(AF_INET6, SOCK_DGRAM, 0, reinterpret_cast<sockaddr*>(&a6), sizeof(a6));  // both families
        if (fd < 0 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {  // IPv6 off: IPv4 alone
            sockaddr_in a4{};
            a4.sin_family = AF_INET;
            a4.sin_port = htons(self.udp_port);
            fd = drop_all_socket(AF_INET, SOCK_DGRAM, 0, reinterpret_cast<sockaddr*>(&a4), sizeof(a4));
        }
        if (fd < 0) {
            failed("udp-port " + std::to_string(self.udp_port) + " in the kernel");
        } else {
            _placeholder_fds.push_back(fd);
        }
    }
    if ((self.protocols & proto_rawip) != 0) {
        for (const int family : {AF_INET, AF_INET6}) {
            const int fd = drop_all_socket(family, SOCK_RAW, _cfg.global.ip_proto, nullptr, 0);
            if (fd >= 0) {
                _placeholder_fds.push_back(fd);
            } else if (errno != EAFNOSUPPORT) {
                failed("ip-proto " + std::to_string(_cfg.global.ip_proto) + " in the kernel");
            }
        }
    }
}

/// A group name or number -> its gid (nullopt: no such group).
static std::optional<unsigned> group_id(const std::string& name) {
    if (!name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        // below (gid_t)-1, which chown reads as "leave it"; a longer number is no gid
        if (name.size() > 10 || std::stoull(name) >= 0xffffffffULL) {
            return std::nullopt;
        }
        return static_cast<unsigned>(std::stoull(name));
    }
    group gr{};
    group* res = nullptr;
    std::vector<char> buf(16384);
    int rc;
    while ((rc = getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &res)) == ERANGE && buf.size() < (1U << 24)) {
        buf.resize(buf.size() * 4);  // a large group's member list
    }
    if (rc != 0 || res == nullptr) {
        return std::nullopt;
    }
    return static_cast<unsigned>(gr.gr_gid);
}

queue_layout compute_queue_layout(const config& cfg) {
    const engine_layout& l = cfg.self_node().engine;
    queue_layout out;
    const size_t n_ports = l.ports.size();
    const auto n_workers = static_cast<unsigned>(l.worker_lcores.size());
    out.n_rxq.assign(n_ports, 0);
    out.n_txq.assign(n_ports, static_cast<uint16_t>(n_workers));
    auto port_index = [&](const std::string& name) -> size_t {
        for (size_t i = 0; i < n_ports; ++i) {
            if (l.ports[i].name == name) {
                return i;
            }
        }
        return n_ports;
    };
    if (l.queue_map.empty()) {
        for (size_t i = 0; i < n_ports; ++i) {
            out.queues.push_back({l.ports[i].name, 0, l.worker_lcores[i % n_workers]});
        }
    } else {
        for (const auto& q : l.queue_map) {
            out.queues.push_back({q.port, q.queue, q.lcore});
        }
    }
    for (const auto& q : out.queues) {
        size_t i = port_index(q.port);
        if (i < n_ports) {
            out.n_rxq[i] = std::max<uint16_t>(out.n_rxq[i], static_cast<uint16_t>(q.queue + 1));
        }
    }
    for (size_t i = 0; i < n_ports; ++i) {
        std::string devargs = l.ports[i].devargs;
        if (out.n_rxq[i] == 0) {
            out.n_rxq[i] = 1;  // a port nobody polls still needs a queue to start; validation warned
        }
        if (driver_is(devargs, "net_af_packet")) {
            // net_af_packet ties rx and tx queues together (qpairs) and fans incoming packets out
            // over all of its sockets, so every rx queue it has must be polled.
            uint16_t pairs = std::max(out.n_rxq[i], out.n_txq[i]);
            if (pairs > 1 && !devargs_has_key(devargs, "qpairs")) {
                devargs += ",qpairs=" + std::to_string(pairs);
                out.notes.push_back("port " + l.ports[i].name + ": added qpairs=" + std::to_string(pairs));
            }
            for (uint16_t q = out.n_rxq[i]; q < pairs; ++q) {
                unsigned lcore = l.worker_lcores[q % n_workers];
                out.queues.push_back({l.ports[i].name, q, lcore});
                out.notes.push_back("port " + l.ports[i].name + ": rx queue " + std::to_string(q) +
                                    " (net_af_packet fanout) polled by lcore " + std::to_string(lcore));
            }
            out.n_rxq[i] = pairs;
        }
        if (l.ports[i].role == port_role::overlay && (driver_is(devargs, "net_tap") || driver_is(devargs, "dvpe_tap")) &&
            !devargs_has_key(devargs, "iface") && !cfg.global.ifname.empty()) {
            devargs += ",iface=" + cfg.global.ifname;
            out.notes.push_back("port " + l.ports[i].name + ": interface name " + cfg.global.ifname + " from ifname");
        }
        out.devargs.push_back(devargs);
    }
    return out;
}

unsigned bridge_mtu(const config& cfg) {
    if (cfg.self_node().engine.wan_fragment) {
        return cfg.global.mtu;
    }
    // Frames between foreign MACs carry their MAC pair inside the AEAD (12 bytes that node-MAC
    // frames elide).
    return std::min(cfg.global.mtu - 66, cfg.global.mtu - worst_overhead(cfg) - 2 * RTE_ETHER_ADDR_LEN);
}

crypto::aead_choice resolve_cipher(const config& cfg) {
    if (!crypto::init()) {
        throw std::runtime_error("cannot initialise the crypto library (libsodium)");
    }
    crypto::select_options so;
    so.allow_null = cfg.global.cipher == "null";
    auto c = crypto::select_aead(cfg.global.cipher, cfg.global.crypto_backend, so);
    if (!c) {
        throw std::runtime_error("cipher " + cfg.global.cipher + " (crypto-backend " + cfg.global.crypto_backend +
                                 "): " + c.error());
    }
    return *c;
}

daemon::daemon(config cfg, daemon_options opt)
    : _cfg(std::move(cfg)), _opt(opt), _started(std::chrono::steady_clock::now()) {
    try {
        setup();
    } catch (...) {
        teardown();
        throw;
    }
}

daemon::~daemon() { teardown(); }

void daemon::request_stop() noexcept { g_stop.store(true, std::memory_order_relaxed); }
void daemon::request_reload() noexcept { g_reload.store(true, std::memory_order_relaxed); }
void daemon::request_dump() noexcept { g_dump.store(true, std::memory_order_relaxed); }

void daemon::setup() {
    const node_conf& self = _cfg.self_node();
    const engine_layout& l = self.engine;
    if (_opt.benchmark_static_keys) {
        for (const auto& p : l.ports) {
            if (!driver_is(p.devargs, "net_pcap") && !driver_is(p.devargs, "net_null") &&
                !driver_is(p.devargs, "net_ring")) {
                throw std::runtime_error("--benchmark-static-keys refused: port " + p.name + " (" + p.devargs +
                                         ") is not net_pcap, net_null or net_ring; fixed keys never touch a network");
            }
        }
        for (int i = 0; i < 3; ++i) {
            log::warn("*** BENCHMARK MODE: fixed, public session keys, no handshakes, replay window ignored. Never use "
                      "on a network. ***");
        }
    }
    _cipher = resolve_cipher(_cfg);
    log::info("cipher " + std::string(crypto::name(_cipher.cipher)) + " with backend " +
              std::string(crypto::name(_cipher.impl)) + "; " + crypto::avx512_status());
    if (!crypto::authenticated(_cipher.cipher)) {
        for (int i = 0; i < 3; ++i) {
            log::warn("*** cipher null: traffic is neither encrypted nor authenticated. Benchmarks and trusted "
                      "links only. ***");
        }
    }
    queue_layout ql = compute_queue_layout(_cfg);
    for (const auto& n : ql.notes) {
        log::info(n);
    }

    // 1. EAL
    pmd::eal_options eo;
    eo.file_prefix = "dvpe-" + self.name;
    eo.main_lcore = l.control_lcore;
    eo.worker_lcores = l.worker_lcores;
    eo.hugepages = l.hugepages;
    eo.memory_mb = l.memory_mb;
    for (size_t i = 0; i < l.ports.size(); ++i) {
        if (pmd::is_pci_devargs(ql.devargs[i])) {
            eo.pci_allow.push_back(ql.devargs[i]);
        }
    }
    eo.extra_args = l.eal_args;
    eo.huge_unlink = !l.capture;  // dpdk-dumpcap maps the hugepage files
    eo.log_level = log::enabled(log_level::debug) ? "*:info" : "*:warning";
    _eal = std::make_unique<pmd::eal>(eo);
    // Expanded session keys in DPDK's hugepage heap with the windows and key objects
    // (pmd/dp_memory.hh); before the first key, which comes with the first handshake. Not with
    // capture: its hugepage files stay in hugetlbfs for dpdk-dumpcap to map (and after a kill),
    // and key material must not be readable there -- keys stay on the heap, which is wiped.
    if (!l.capture) {
        crypto::set_key_memory({&pmd::dp_zalloc, &pmd::dp_free});
    } else {
        _capture = std::make_unique<pmd::capture>(eo.file_prefix);
        log::notice("capture: dpdk-dumpcap --file-prefix=" + eo.file_prefix +
                    " -i PORT_DEVICE attaches (hugepage files are kept while dvped runs)");
    }

    // 2. mempool: rx rings full, tx rings full, one burst in flight and a cache per lcore, rings
    unsigned n_workers = static_cast<unsigned>(l.worker_lcores.size());
    unsigned need = 0;
    for (size_t i = 0; i < l.ports.size(); ++i) {
        need += ql.n_rxq[i] * l.rx_descriptors + ql.n_txq[i] * l.tx_descriptors;
    }
    need += (n_workers + 1) * (l.burst_size * 2 + l.mbuf_cache) + control_ring_size + n_workers * from_control_ring_size;
    need += static_cast<unsigned>(l.exceptions.size()) * 2 * n_workers * control::limits::exception_descriptors;
    unsigned n_mbufs = l.mbufs != 0 ? l.mbufs : std::max(need, 8192u);
    if (n_mbufs < need) {
        log::warn("mbufs = " + std::to_string(n_mbufs) + " is below the " + std::to_string(need) +
                  " this layout can hold in flight; expect rx drops (rx_nombuf)");
    }
    _pool = pmd::create_pool("dvpe_pool", n_mbufs, l.mbuf_cache, 0, RTE_MBUF_DEFAULT_BUF_SIZE);
    log::info("mempool: " + std::to_string(n_mbufs) + " mbufs of " + std::to_string(RTE_MBUF_DEFAULT_BUF_SIZE) +
              " bytes" + (l.hugepages ? "" : " (no hugepages)"));

    // 3. ports
    for (size_t i = 0; i < l.ports.size(); ++i) {
        const port_conf& pc = l.ports[i];
        pmd::port_setup s;
        s.name = pc.name;
        s.devargs = ql.devargs[i];
        s.n_rxq = ql.n_rxq[i];
        s.n_txq = ql.n_txq[i];
        s.rx_desc = static_cast<uint16_t>(l.rx_descriptors);
        s.tx_desc = static_cast<uint16_t>(l.tx_descriptors);
        s.pool = _pool;
        s.rx_interrupts = l.idle_interrupt;
        if (pc.role == port_role::overlay) {
            s.mtu = static_cast<uint16_t>(pc.mode == overlay_mode::bridge ? bridge_mtu(_cfg) : overlay_mtu(_cfg));
            s.mac = to_ether(node_mac(self.id));
            s.promiscuous = true;  // a bridged site LAN carries foreign MACs
        } else {
            s.all_multicast = std::any_of(l.wan_addresses.begin(), l.wan_addresses.end(),
                                          [&](const wan_address& wa) { return wa.port == pc.name && wa.addr.v6; }) ||
                              std::any_of(l.exceptions.begin(), l.exceptions.end(),
                                          [&](const exception_conf& x) { return x.port == pc.name; });  // the kernel's groups
        }
        daemon_port dp;
        dp.conf = pc;
        dp.n_rxq = s.n_rxq;
        dp.n_txq = s.n_txq;
        try {
            if (driver_is(s.devargs, "dvpe_tap")) {
                // dvpe's own TAP port (pmd/host_tap.hh): vnet headers, TSO/GRO, multi-queue.
                pmd::host_tap_setup ts;
                ts.name = pc.name;
                ts.ifname = devargs_value(s.devargs, "iface", "dvpe" + pmd::devargs_name(s.devargs).substr(8));
                ts.n_queues = s.n_rxq;
                ts.n_tx_queues = s.n_txq;
                ts.mtu = s.mtu;
                ts.mac = s.mac.value_or(rte_ether_addr{});
                ts.pool = _pool;
                ts.offload = devargs_value(s.devargs, "offload", "on") != "off";
                ts.uso = devargs_value(s.devargs, "uso", "on") != "off";
                std::vector<uint16_t> taken;
                for (const auto& o : _ports) {
                    taken.push_back(o.info.port_id);
                }
                dp.tap = pmd::host_tap::open(ts, pmd::host_tap::pick_port_id(taken));
                dp.info.port_id = dp.tap->port_id();
                dp.info.dev_name = pmd::devargs_name(s.devargs);
                dp.info.driver = "dvpe_tap";
                dp.info.mac = ts.mac;
                dp.info.mtu = ts.mtu;
                dp.info.fallbacks.push_back("TAP " + dp.tap->ifname() + ": kernel offloads " + dp.tap->offloads());
            } else {
                dp.info = pmd::open_port(s);
            }
        } catch (const std::exception& e) {
            throw std::runtime_error(pc.where.file + ":" + std::to_string(pc.where.line) + ": " + e.what());
        }
        for (const auto& f : dp.info.fallbacks) {
            log::notice("port " + pc.name + " (" + dp.info.driver + "): " + f);
        }
        log::info("port " + pc.name + ": " + std::string(to_string(pc.role)) + ", " + dp.info.driver + " port " +
                  std::to_string(dp.info.port_id) + ", mac " + pmd::mac_str(dp.info.mac) + ", mtu " +
                  std::to_string(dp.info.mtu) + ", " + std::to_string(dp.n_rxq) + " rx / " +
                  std::to_string(dp.n_txq) + " tx queues");
        _ports.push_back(std::move(dp));
    }

    open_exception_ports(ql);
    if (self.protocols & (proto_tcp | proto_dns)) {
        open_stream_port(ql);
    }
    if (l.kernel_wan) {
        hold_kernel_ports(self);
    }

    // Hook scripts: if-up once the overlay interface exists (asynchronous, serialised).
    _hooks = std::make_unique<hook_runner>(_cfg);
    for (size_t i = 0; i < l.ports.size(); ++i) {
        if (l.ports[i].role == port_role::overlay) {
            std::string dev = ql.devargs[i];
            std::string ifname = _cfg.global.ifname;
            if (auto pos = dev.find(",iface="); pos != std::string::npos) {
                ifname = dev.substr(pos + 7, dev.find(',', pos + 7) - (pos + 7));
            }
            if (_ports[i].tap) {
                ifname = _ports[i].tap->ifname();
            }
            _hooks->on_if_up(ifname, overlay_mtu(_cfg));
            break;
        }
    }

    // 4. the read-only port table the workers use
    _port_table.index_of.fill(-1);
    for (size_t i = 0; i < _ports.size(); ++i) {
        engine::port_ctx& pc = _port_table.ports[i];
        pc.port_id = _ports[i].info.port_id;
        pc.role = _ports[i].conf.role;
        pc.mode = _ports[i].conf.mode;
        pc.mac = _ports[i].info.mac;
        pc.tap = _ports[i].tap.get();
        // The automatic layout's wan port: the kernel still has the interface and its addresses
        // and answers ARP, ND and echo itself (the engine would answer twice).
        pc.kernel_answers = l.kernel_wan && pc.role == port_role::wan;
        if (pc.role == port_role::exception) {
            pc.link_port = _ports[_ports[i].link].info.port_id;
            _port_table.ports[_ports[i].link].link_port = pc.port_id;
            uint32_t mtu = _ports[i].info.mtu != 0 ? _ports[i].info.mtu : _ports[_ports[i].link].info.mtu;
            _port_table.ports[_ports[i].link].max_frame = (mtu != 0 ? mtu : 1500) + 14;
        }
        // Our addresses on the port: wan-address on WAN ports, lan-address on a routed LAN port
        // (ARP, ND and echo answered for both by the workers, engine/wan_host.cc).
        std::vector<wan_address> addrs = l.wan_addresses;
        addrs.insert(addrs.end(), l.lan_addresses.begin(), l.lan_addresses.end());
        for (const auto& wa : addrs) {
            if (wa.port == _ports[i].conf.name && !wa.addr.v6 && pc.n_ipv4 < engine::limits::max_port_ipv4) {
                pc.ipv4[pc.n_ipv4++] = wa.addr.v4();
            }
            if (wa.port == _ports[i].conf.name && wa.addr.v6 && pc.n_ipv6 < engine::limits::max_port_ipv6) {
                std::memcpy(pc.ipv6[pc.n_ipv6++].data(), wa.addr.bytes.data(), 16);
            }
        }
        _port_table.index_of[pc.port_id] = static_cast<int8_t>(i);
    }
    _port_table.n_ports = static_cast<uint16_t>(_ports.size());

    // 5. neighbours: static entries, gateways, and on-link peers
    _neigh.set_log_interval(rte_get_tsc_hz());  // a neighbour's changes: one log line a second
    auto port_id_of = [&](const std::string& name) -> int {
        for (const auto& p : _ports) {
            if (p.conf.name == name) {
                return p.info.port_id;
            }
        }
        return -1;
    };
    for (const auto& n : l.neighbours) {
        if (port_id_of(n.port) >= 0) {
            _neigh.add_static(static_cast<uint16_t>(port_id_of(n.port)), n.addr, to_ether(n.mac));
        }
    }
    for (const auto& g : l.wan_gateways) {
        if (port_id_of(g.port) >= 0) {
            _neigh.want(static_cast<uint16_t>(port_id_of(g.port)), g.addr);
        }
    }
    for (const auto& n : _cfg.nodes) {
        if (&n == &self) {
            continue;
        }
        auto ip = ip_address::parse(n.hostname);
        if (!ip) {
            continue;  // a host name: its address comes from its handshakes (update_paths)
        }
        for (const auto& wa : l.wan_addresses) {
            if (wa.addr.same_subnet(*ip, wa.prefix) && port_id_of(wa.port) >= 0) {
                _neigh.want(static_cast<uint16_t>(port_id_of(wa.port)), *ip);
                break;
            }
        }
    }

    // 6. rings and workers
    _to_control = rte_ring_create("dvpe_to_ctl", control_ring_size, static_cast<int>(rte_socket_id()),
                                  RING_F_SC_DEQ);
    if (_to_control == nullptr) {
        throw std::runtime_error(std::string("cannot create the control ring: ") + rte_strerror(rte_errno));
    }
    for (unsigned w = 0; w < n_workers; ++w) {
        std::string name = "dvpe_from_ctl" + std::to_string(w);
        rte_ring* r = rte_ring_create(name.c_str(), from_control_ring_size, static_cast<int>(rte_socket_id()),
                                      RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (r == nullptr) {
            throw std::runtime_error("cannot create ring " + name + ": " + rte_strerror(rte_errno));
        }
        _from_control.push_back(r);
    }
    create_learn_ring();  // site_lan.cc: only with a bridge port
    _rcu = std::make_unique<engine::rcu>(n_workers);
    _snap = std::make_unique<engine::published<engine::dataplane_snapshot>>(*_rcu);
    for (unsigned w = 0; w < n_workers; ++w) {
        engine::worker_setup ws;
        ws.snapshot = _snap.get();
        ws.qsbr = _rcu.get();
        ws.pool = _pool;
        ws.cipher = _cipher;
        ws.benchmark_replay_off = _opt.benchmark_static_keys;  // BENCHMARK ONLY (engine/worker.hh)
        ws.shared_replay_windows = n_workers > 1;  // one worker: no other thread accepts into a window
        ws.wan_fragment = l.wan_fragment;
        ws.lcore_id = l.worker_lcores[w];
        ws.worker_idx = w;
        ws.ports = &_port_table;
        ws.burst_size = l.burst_size;
        ws.tx_drain_us = l.tx_drain_us;
        ws.idle_sleep_us = l.idle_sleep_us;
        ws.idle_polls = l.idle_polls;
        ws.idle_interrupt = l.idle_interrupt;
        ws.to_control = _to_control;
        ws.from_control = _from_control[w];
        ws.learn = _learn;
        ws.exception_per_s = l.exception_rate;
        ws.exception_burst = std::max<uint64_t>(l.exception_rate / 10, 64);
        for (const auto& q : ql.queues) {
            if (q.lcore == ws.lcore_id) {
                int pid = port_id_of(q.port);
                if (pid >= 0) {
                    pmd::host_tap* tap = nullptr;
                    for (const auto& p : _ports) {
                        if (p.info.port_id == pid) {
                            tap = p.tap.get();
                        }
                    }
                    ws.rx_queues.push_back({static_cast<uint16_t>(pid), static_cast<uint16_t>(q.queue), tap});
                }
            }
        }
        _workers.push_back(std::make_unique<engine::worker>(ws));
    }
    // NUMA: a worker polling a port of another socket pays a cross-socket access per packet
    // (docs/deploy.md "NUMA"); said once per (port, lcore) at start.
    std::set<std::pair<uint16_t, unsigned>> numa_said;
    for (const auto& w : _workers) {
        const unsigned lcore = w->setup().lcore_id;
        const int lsock = static_cast<int>(rte_lcore_to_socket_id(lcore));
        for (const auto& q : w->setup().rx_queues) {
            if (q.tap != nullptr) {
                continue;
            }
            const int psock = rte_eth_dev_socket_id(q.port_id);
            if (psock >= 0 && lsock >= 0 && psock != lsock && numa_said.emplace(q.port_id, lcore).second) {
                std::string name;
                for (const auto& p : _ports) {
                    if (p.info.port_id == q.port_id) {
                        name = p.conf.name;
                    }
                }
                log::warn("NUMA: port " + name + " is on socket " + std::to_string(psock) + ", its worker lcore " +
                          std::to_string(lcore) + " on socket " + std::to_string(lsock) +
                          ": every packet crosses the sockets (pick worker-lcores on socket " + std::to_string(psock) +
                          ", docs/deploy.md)");
            }
        }
    }
    {
        telemetry_source ts;
        ts.node = _cfg.self_node().name;
        ts.node_id = _cfg.self_node().id;
        for (const auto& w : _workers) {
            ts.workers.push_back(&w->stats());
        }
        ts.lan = &_lan_gauges;
        telemetry_attach(std::move(ts));
    }
    for (auto& w : _workers) {
        if (int rc = rte_eal_remote_launch(engine::worker::launch, w.get(), w->setup().lcore_id); rc != 0) {
            throw std::runtime_error("cannot launch worker on lcore " + std::to_string(w->setup().lcore_id) + ": " +
                                     rte_strerror(-rc));
        }
        _workers_running = true;
    }
    for (const auto& w : _workers) {
        std::string qs;
        for (const auto& q : w->setup().rx_queues) {
            qs += " " + std::to_string(q.port_id) + "/" + std::to_string(q.queue_id);
        }
        log::info("worker lcore " + std::to_string(w->setup().lcore_id) + " polls port/queue" + qs);
        if (l.idle_interrupt && !w->idle_interrupts()) {
            log::notice("idle-wait = interrupt: worker lcore " + std::to_string(w->setup().lcore_id) +
                        " sleeps idle-sleep-us instead (" + w->idle_interrupts_missing() + ")");
        }
    }

    // 7. sessions: keys, the session manager, the first snapshot
    std::vector<std::string> wan_ports;
    for (const auto& p : l.ports) {
        if (p.role == port_role::wan) {
            wan_ports.push_back(p.name);
        }
    }
    if (_opt.benchmark_static_keys) {
        setup_base(wan_ports);
        install_benchmark_keys();
    } else {
        setup_sessions(wan_ports);
    }

    // 8. control socket
    _socket_path = _cfg.expand_path(_cfg.global.control_socket);
    std::optional<unsigned> group;
    if (const std::string& g = _cfg.global.control_socket_group; !g.empty()) {
        group = group_id(g);
        if (!group) {
            throw std::runtime_error("control-socket-group: no group '" + g + "' on this host");
        }
    }
    auto srv = control_server::open(_socket_path, group);
    if (!srv) {
        throw std::runtime_error(srv.error());
    }
    _server = std::move(srv.value());
    // Read-only commands: members of control-socket-group may run them (an exporter).
    constexpr auto read = control_server::access::read;
    _server->add_command(
        "status", "node, ports, workers and drop counters", [this](const nlohmann::json&) { return status_json(); },
        read);
    _server->add_command(
        "config", "the node table (as gvpectrl -s)", [this](const nlohmann::json&) { return config_json(); }, read);
    _server->add_command("reload", "re-read the configuration and apply it, or refuse it whole (as SIGHUP)",
                         [this](const nlohmann::json&) { return reload("control socket"); });
    _server->add_command("reconnect", "new handshakes with every peer, or {\"node\": NAME} (as SIGHUP does too)",
                         [this](const nlohmann::json& req) {
                             const auto it = req.find("node");
                             if (it != req.end() && !it->is_string()) {
                                 return nlohmann::json{{"ok", false}, {"error", "'node' must be a node name"}};
                             }
                             return reconnect(it != req.end() ? it->get<std::string>() : std::string(), "control socket");
                         });
    _server->add_command(
        "peers", "per-peer session state, handshake and traffic counters",
        [this](const nlohmann::json&) { return nlohmann::json{{"ok", true}, {"peers", peers_json()}}; }, read);
    _server->add_command(
        "neighbours", "the underlay neighbour table (ARP, NDP)", [this](const nlohmann::json&) { return neighbours_json(); },
        read);
    log::info("control socket " + _socket_path);

    // 9. pid file: a temporary file renamed over the path, never written through a symlink
    const std::string pid_path = _cfg.expand_path(_cfg.global.pid_file);
    if (auto r = write_pid_file(pid_path, getpid()); !r) {
        throw std::runtime_error(r.error());
    }
    _pid_path = pid_path;
}

void daemon::open_exception_ports(queue_layout& ql) {
    const engine_layout& l = _cfg.self_node().engine;
    const size_t n_conf = _ports.size();
    for (size_t x = 0; x < l.exceptions.size(); ++x) {
        const exception_conf& ex = l.exceptions[x];
        size_t wan = n_conf;
        for (size_t i = 0; i < n_conf; ++i) {
            if (_ports[i].conf.name == ex.port) {
                wan = i;
            }
        }
        if (wan == n_conf) {
            continue;  // validation checked the port
        }
        const daemon_port& w = _ports[wan];
        pmd::port_setup s;
        s.name = "exception " + ex.ifname;
        // net_tap with the WAN port's MAC: the kernel interface answers and sends as the NIC did.
        s.devargs = "net_tap_dvpex" + std::to_string(x) + ",iface=" + ex.ifname + ",mac=" + pmd::mac_str(w.info.mac);
        // A queue pair per worker (net_tap wants as many rx as tx queues; the kernel spreads what
        // it sends over them): worker w sends on tx queue w and polls rx queue w.
        s.n_rxq = static_cast<uint16_t>(l.worker_lcores.size());
        s.n_txq = s.n_rxq;
        s.rx_desc = static_cast<uint16_t>(control::limits::exception_descriptors);
        s.tx_desc = static_cast<uint16_t>(control::limits::exception_descriptors);
        s.pool = _pool;
        s.mtu = w.info.mtu;
        s.rx_interrupts = l.idle_interrupt;
        s.all_multicast = true;
        s.promiscuous = true;  // net_tap passes unicast for its own MAC only otherwise (the kernel's frames are to others)
        daemon_port dp;
        dp.conf.name = "exception:" + ex.port;  // ':' is in no configured port's name
        dp.conf.role = port_role::exception;
        dp.conf.devargs = s.devargs;
        dp.conf.where = ex.where;
        dp.n_rxq = s.n_rxq;
        dp.n_txq = s.n_txq;
        dp.link = wan;
        try {
            dp.info = pmd::open_port(s);
        } catch (const std::exception& e) {
            std::string msg = ex.where.file + ":" + std::to_string(ex.where.line) + ": exception " + ex.ifname + ": " + e.what();
            if (!ex.by_default) {
                throw std::runtime_error(msg);
            }
            // The default of a PCI port: the node runs without (the operator did not ask for it).
            log::error(msg + "; port " + ex.port + " runs without an exception interface (set 'exception = " + ex.port +
                       " IFNAME' or 'off')");
            continue;
        }
        for (const auto& f : dp.info.fallbacks) {
            log::info("exception " + ex.ifname + " (" + dp.info.driver + "): " + f);
        }
        for (size_t q = 0; q < l.worker_lcores.size(); ++q) {
            ql.queues.push_back({dp.conf.name, static_cast<unsigned>(q), l.worker_lcores[q]});
        }
        for (const std::string& e : configure_kernel_if(ex.ifname, ex.port, l.wan_addresses, l.wan_gateways)) {
            log::warn("exception " + ex.ifname + ": " + e);
        }
        log::info("port " + ex.port + ": exception interface " + ex.ifname + " (net_tap port " +
                  std::to_string(dp.info.port_id) + ", mac " + pmd::mac_str(dp.info.mac) + ", mtu " +
                  std::to_string(dp.info.mtu) + "), a queue pair per worker, at most " +
                  std::to_string(l.exception_rate) + " packets/s each way per worker");
        _ports.push_back(std::move(dp));
    }
}

void daemon::open_stream_port(queue_layout& ql) {
    const engine_layout& l = _cfg.self_node().engine;
    const node_conf& self = _cfg.self_node();
    const auto n = static_cast<unsigned>(l.worker_lcores.size());
    _stream = pmd::open_stream_port("dvpetcp", n, limits::stream_ring_size, _pool);
    daemon_port dp;
    dp.conf.name = "tcp:stream";  // ':' is in no configured port's name
    dp.conf.role = port_role::stream;
    dp.conf.where = self.where;
    dp.info = _stream->info;
    dp.n_rxq = static_cast<uint16_t>(n);
    dp.n_txq = static_cast<uint16_t>(n);
    for (unsigned q = 0; q < n; ++q) {
        ql.queues.push_back({dp.conf.name, q, l.worker_lcores[q]});
    }
    _stream_port_id = dp.info.port_id;
    _ports.push_back(std::move(dp));
    tcp_path_config tc = tcp_config(_cfg);
    if (self.protocols & proto_dns) {
        std::string err;
        tc.dns = dns_config(_cfg, err);
        if (!err.empty()) {
            throw std::runtime_error(_cfg.file + ": " + err);
        }
        if (tc.dns->server && tc.dns->forwarder && tc.dns->forwarder_port == tc.dns->listen_port &&
            (tc.dns->forwarder->str() == "127.0.0.1" || tc.dns->forwarder->str() == "::1")) {
            log::warn("dns: dns-forw-host " + tc.dns->forwarder->str() + ":" + std::to_string(tc.dns->forwarder_port) +
                      " is this node's own dns server: its queries to other servers' domains are refused there "
                      "(set dns-forw-host to a resolver)");
        }
        log::info(std::string("dns: ") +
                  (tc.dns->server ? "serving " + tc.dns->domain + " on dns-port " + std::to_string(tc.dns->listen_port) : "no domain of its own") +
                  (tc.dns->forwarder ? ", queries for " + std::to_string(tc.dns->servers.size()) + " server(s) to " +
                                           tc.dns->forwarder->str() + ":" + std::to_string(tc.dns->forwarder_port)
                                     : std::string()));
    }
    _tcp = std::make_unique<tcp_path>(std::move(tc), _stream->to_workers, _stream->from_workers, _pool, _stream_port_id);
    if (std::string e = _tcp->start(); !e.empty()) {
        throw std::runtime_error(self.where.file + ":" + std::to_string(self.where.line) + ": node " + self.name + ": " + e);
    }
    if ((self.protocols & proto_tcp) == 0) {
        return;
    }
    log::info(self.tcp_port != 0 ? "tcp: listening on tcp-port " + std::to_string(self.tcp_port) +
                                       (_cfg.global.http_proxy_host.empty() ? std::string()
                                                                            : ", connecting out through http proxy " +
                                                                                  _cfg.global.http_proxy_host + ":" +
                                                                                  std::to_string(_cfg.global.http_proxy_port))
                                 : std::string("tcp: tcp-port = 0, connecting out only") +
                                       (_cfg.global.http_proxy_host.empty()
                                            ? std::string()
                                            : " through http proxy " + _cfg.global.http_proxy_host + ":" +
                                                  std::to_string(_cfg.global.http_proxy_port)));
}

transport::classify_result daemon::classify_mbuf(const rte_mbuf* m) const noexcept {
    const auto* frame = rte_pktmbuf_mtod(m, const uint8_t*);
    if (m->port == _stream_port_id) {
        return transport::classify_stream(frame, rte_pktmbuf_data_len(m), _base.local);
    }
    return transport::classify(frame, rte_pktmbuf_data_len(m), _base.local);
}

void daemon::teardown() noexcept {
    telemetry_detach();
    for (int fd : _placeholder_fds) {
        close(fd);
    }
    _placeholder_fds.clear();
    for (auto& w : _workers) {
        w->stop();
    }
    if (_workers_running) {
        rte_eal_mp_wait_lcore();
        _workers_running = false;
    }
    _workers.clear();
    _capture.reset();  // with the workers stopped, before the ports and the EAL go
    if (_hooks) {
        _hooks->drain(std::chrono::milliseconds(2000));
        _hooks.reset();
    }
    _snap.reset();
    _rcu.reset();  // frees what was retired
    _sessions.reset();
    _peers.reset();
    _server.reset();
    _queue.clear();  // before the mempool goes
    _relay_queue.clear();
    auto free_ring = [](rte_ring* r) {
        if (r == nullptr) {
            return;
        }
        void* m;
        while (rte_ring_dequeue(r, &m) == 0) {
            rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
        }
        rte_ring_free(r);
    };
    free_ring(_to_control);
    _to_control = nullptr;
    if (_learn != nullptr) {
        rte_ring_free(_learn);  // learn events are plain values, not mbufs
        _learn = nullptr;
    }
    for (rte_ring* r : _from_control) {
        free_ring(r);
    }
    _from_control.clear();
    _tcp.reset();  // the workers are stopped: nothing enqueues for it any more
    for (auto& p : _ports) {
        if (p.tap) {
            p.tap.reset();  // closes its fds: the interface goes away
        } else if (p.conf.role == port_role::stream) {
            pmd::close_stream_port(*_stream);  // and the mbufs left in its rings
            _stream.reset();
        } else {
            pmd::close_port(p.info);
        }
    }
    _ports.clear();
    if (_pool != nullptr) {
        rte_mempool_free(_pool);
        _pool = nullptr;
    }
    // The site LAN's tables live in EAL memory (route_table's rte_lpm/rte_lpm6): freed before
    // the EAL is cleaned up, not in ~daemon after it (that crashed every route gateway on exit).
    _base.owned.clear();
    _base.macs = nullptr;
    _base.routes = nullptr;
    _base.lan_neigh = nullptr;
    _mac_table.reset();
    _routes.reset();
    _lan_neigh.reset();
    // Per-peer state in DPDK memory (pmd/dp_memory.hh) goes before the EAL too: the control
    // sealer's lanes, and the base snapshot's peer table.
    _ctl_sealer.reset();
    decltype(_base.peers)().swap(_base.peers);
    _eal.reset();
    if (!_pid_path.empty()) {
        unlink(_pid_path.c_str());
        _pid_path.clear();
    }
}

void daemon::handle_control_packets() {
    // At most what waits now: packets that arrive meanwhile wait for the next iteration, so a
    // flood cannot keep this loop from the control socket, timers, keepalives and rekeys.
    // Once the iteration's handshake budget is spent, up to max_deferred items stay in the ring
    // for the next iteration; handshake messages taken out beyond the budget are dropped
    // (_hs_drain counts both). One item at a time, so that none is taken out past the budget
    // while deferring: a dequeue and a clock read per item (not measured on its own; the
    // end-to-end handshake rate did not fall, docs/performance.md).
    unsigned left = rte_ring_count(_to_control);
    if (left == 0) {
        return;
    }
    _hs_drain.start(clock_now().mono_ns, left, rte_ring_get_capacity(_to_control));
    _holding_sends = true;  // one snapshot publish for the drain's handshakes (send_held)
    struct release {
        bool& holding;
        ~release() { holding = false; }  // after an exception: the next execute() sends them
    } release_sends{_holding_sends};
    void* objs[1];
    unsigned n;
    while (left != 0 && !_hs_drain.defer(clock_now().mono_ns, left) &&
           (n = rte_ring_sc_dequeue_burst(_to_control, objs, 1U, nullptr)) != 0) {
        left -= n;
        for (unsigned i = 0; i < n; ++i) {
            auto* m = static_cast<rte_mbuf*>(objs[i]);
            // What a worker hands over says what it is in hash.usr: lan_resolve_mark (a routed
            // packet for a LAN host we have no MAC for), a node id (an overlay frame waiting for
            // its session), 0 (an ARP reply or neighbour advertisement, engine/wan_host.cc). A
            // routed packet is never read as ARP/ND: its inner bytes come from the mesh. From a
            // WAN port: a dvpe packet for another node is one to relay (queue_relay), else a
            // handshake message for us.
            if (m->port == RTE_MBUF_PORT_INVALID && (m->hash.usr & ~uint32_t{0xffff}) == engine::control_msg_mark &&
                rte_pktmbuf_data_len(m) <= transport::max_control_size) {
                // An authenticated control message from a peer (engine/ingress.cc control_message).
                session::actions acts;
                on_control_message(m, clock_now(), acts);  // frees m
                execute(acts);
                continue;
            }
            const bool from_lan = _base.lan_mode != overlay_mode::host && m->port == _base.lan_port_id;
            if (from_lan && m->hash.usr == engine::lan_resolve_mark) {
                lan_resolve(m);  // frees m
                continue;
            }
            if ((_base.has_overlay && m->port == _base.overlay_port_id) || (from_lan && m->hash.usr != 0)) {
                queue_frame(m);  // an overlay frame waiting for its session; owns m now
                continue;
            }
            // Only answers to our own requests count; a change is logged at most once a second
            // per neighbour (control/daemon/neighbour.hh).
            auto note = [](const neighbour_table::learn_result& r, const std::string& ip,
                           const rte_ether_addr& mac) {
                if (r.log) {
                    log::info("neighbour " + ip + " is at " + pmd::mac_str(mac) +
                              (r.suppressed != 0 ? " (" + std::to_string(r.suppressed) + " earlier changes not logged)"
                                                 : std::string()));
                }
            };
            const bool stream = m->port == _stream_port_id;  // a ring header, not Ethernet
            if (auto sender = stream ? std::nullopt : parse_arp_sender(m)) {
                if (auto r = _neigh.learn(m->port, sender->first, sender->second, rte_rdtsc())) {
                    note(r, ip_address::from_v4(sender->first).str(), sender->second);
                    neighbour_changed(m->port);
                }
            } else if (auto target = stream ? std::nullopt : parse_neighbour_advertisement(m)) {
                if (auto r = _neigh.learn(m->port, target->first, target->second, rte_rdtsc())) {
                    note(r, target->first.str(), target->second);
                    neighbour_changed(m->port);
                }
            } else if (queue_relay(m)) {
                continue;  // a packet for another node, waiting for our session with it; owns m now
            } else if (_sessions) {
                on_handshake_mbuf(m);  // benchmark mode: handshakes are ignored
            }
            rte_pktmbuf_free(m);
        }
    }
    _holding_sends = false;
    send_held();
}

void daemon::neighbour_changed(uint16_t port_id) {
    // A LAN host's MAC is no peer's next hop: it only changes the routed LAN's host table.
    if (_base.lan_mode == overlay_mode::route && port_id == _base.lan_port_id) {
        lan_neighbours_changed();
    } else {
        update_paths();
    }
}

void daemon::resolve_neighbours() {
    const uint64_t hz = rte_get_tsc_hz();
    for (auto* e : _neigh.due(rte_rdtsc(), 60 * hz, hz)) {
        const engine::port_ctx* pc = nullptr;
        for (unsigned i = 0; i < _port_table.n_ports; ++i) {
            if (_port_table.ports[i].port_id == e->port_id) {
                pc = &_port_table.ports[i];
            }
        }
        // Ask from our first address on that port that shares the target's subnet (or the
        // first of its family): ARP for IPv4, a neighbour solicitation for IPv6.
        const ip_address& target = e->ip;
        const ip_address* src = nullptr;
        std::string port_name;
        for (const auto& p : _ports) {
            if (p.info.port_id == e->port_id) {
                port_name = p.conf.name;
            }
        }
        std::vector<wan_address> addrs = _cfg.self_node().engine.wan_addresses;
        const auto& lan = _cfg.self_node().engine.lan_addresses;
        addrs.insert(addrs.end(), lan.begin(), lan.end());
        for (const auto& wa : addrs) {
            if (wa.port == port_name && wa.addr.v6 == target.v6 &&
                (src == nullptr || (wa.addr.same_subnet(target, wa.prefix)))) {
                src = &wa.addr;
                if (wa.addr.same_subnet(target, wa.prefix)) {
                    break;
                }
            }
        }
        if (pc == nullptr || src == nullptr) {
            continue;
        }
        rte_mbuf* m = target.v6 ? build_neighbour_solicitation(_pool, e->port_id, pc->mac, src->bytes.data(),
                                                                         target.bytes.data())
                                : build_arp_request(_pool, e->port_id, pc->mac, src->v4(), e->ip.v4());
        if (m == nullptr) {
            continue;
        }
        // The control thread has no tx queue of its own: worker 0 sends for it. Requests leave
        // room in that ring for handshakes and keepalives (the rest ask again next round).
        if (rte_ring_free_count(_from_control[0]) < 64 || rte_ring_sp_enqueue(_from_control[0], m) != 0) {
            rte_pktmbuf_free(m);
        } else if (!_workers.empty()) {
            _workers[0]->wake();  // idle-wait = interrupt: it may be blocked (engine/idle.cc)
        }
    }
}

void daemon::control_iteration() {
    // The control socket's poll is the loop's only wait: none while workers have handed over
    // packets (handshakes waited up to 10 ms here: 385-529 handshakes/s end to end from a
    // thread 85 % idle, perf/handshake_load.py), else at most 2 ms.
    _server->poll(rte_ring_count(_to_control) != 0 ? 0 : 2);
    if (g_reload.exchange(false, std::memory_order_relaxed)) {
        // GVPE's HUP rebuilds every connection (ip-up scripts send it after an address
        // change); dvpe's also re-reads the config. The new handshakes are rekeys for sessions
        // that are up: no loss, no hook.
        (void)reload("SIGHUP");
        (void)reconnect(std::string(), "SIGHUP");
    }
    if (g_dump.exchange(false, std::memory_order_relaxed)) {
        dump_status();
    }
    handle_control_packets();
    lan_iteration();
    sessions_iteration();
    _hooks->poll();
    uint64_t now = rte_rdtsc();
    if (now >= _next_neigh_tsc) {
        resolve_neighbours();
        _next_neigh_tsc = now + rte_get_tsc_hz() / 4;
    }
    if (now >= _next_dns_tsc) {
        resolve_hostnames();
        _next_dns_tsc = now + rte_get_tsc_hz() / 4;
    }
    if (now >= _next_telemetry_tsc) {
        telemetry_set_peers(peers_json());  // /dvpe/peer/list, /dvpe/peer,ID
        _next_telemetry_tsc = now + rte_get_tsc_hz();
    }
    // From the loop itself: a control thread stuck anywhere stops the pings.
    _notify.tick(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count()));
}

void daemon::run() {
    log::notice("dvped " + _cfg.self_node().name + " (node id " + std::to_string(_cfg.self_node().id) + ") running");
    // The control socket serves from here on (it was bound in the constructor): ready.
    _notify.send("READY=1\nSTATUS=running as node " + _cfg.self_node().name + ", " +
                 std::to_string(_workers.size()) + " worker(s)");
    if (_notify.watchdog_usec() != 0) {
        log::info("systemd watchdog: pinging every " + std::to_string(_notify.watchdog_usec() / 2000) + " ms");
    }
    while (!g_stop.load(std::memory_order_relaxed)) {
        control_iteration();
    }
    _notify.send("STOPPING=1\nSTATUS=stopping: telling the peers");
    say_goodbye();
    log::notice("dvped " + _cfg.self_node().name + " stopping");
}

}  // namespace control
