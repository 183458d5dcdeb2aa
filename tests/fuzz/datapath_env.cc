// SPDX-License-Identifier: MIT
// The data-path fuzz target's DPDK world and node (see datapath_env.hh).
#include "tests/fuzz/datapath_env.hh"

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#include "crypto/init.hh"

#if defined(__SANITIZE_ADDRESS__)
#define DPFUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DPFUZZ_ASAN 1
#endif
#endif
#ifdef DPFUZZ_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace dpfuzz {

namespace {

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "datapath_fuzz setup: %s\n", what.c_str());
    std::abort();
}

constexpr const char* cipher_names[n_ciphers] = {"aes256-gcm", "aes128-gcm", "chacha20-poly1305"};

/// "--lcores=0@(a,b,...)": lcore 0 on every CPU this process may use, so that EAL pins nothing.
std::string lcores_arg() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::string cpus;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int c = 0; c < CPU_SETSIZE; ++c) {
            if (CPU_ISSET(c, &set)) {
                cpus += (cpus.empty() ? "" : ",") + std::to_string(c);
            }
        }
    }
    return "--lcores=0@(" + (cpus.empty() ? std::string("0") : cpus) + ")";
}

ring_port make_port(const std::string& name, rte_mempool* pool) {
    ring_port p;
    for (unsigned q = 0; q < n_workers; ++q) {
        p.rx[q] = rte_ring_create((name + "r" + std::to_string(q)).c_str(), 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
        p.tx[q] = rte_ring_create((name + "t" + std::to_string(q)).c_str(), 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (p.rx[q] == nullptr || p.tx[q] == nullptr) {
            die("cannot create the rings of " + name);
        }
    }
    const int id = rte_eth_from_rings(name.c_str(), p.rx.data(), n_workers, p.tx.data(), n_workers, 0);
    if (id < 0) {
        die("rte_eth_from_rings " + name);
    }
    p.id = static_cast<uint16_t>(id);
    rte_eth_conf conf{};
    if (rte_eth_dev_configure(p.id, n_workers, n_workers, &conf) != 0) {
        die("configure " + name);
    }
    for (uint16_t q = 0; q < n_workers; ++q) {
        if (rte_eth_rx_queue_setup(p.id, q, 1024, 0, nullptr, pool) != 0 ||
            rte_eth_tx_queue_setup(p.id, q, 1024, 0, nullptr) != 0) {
            die("queue setup " + name);
        }
    }
    if (rte_eth_dev_start(p.id) != 0) {
        die("start " + name);
    }
    return p;
}

}  // namespace

rte_ether_addr node_mac(uint16_t id) { return {{0xfe, 0xfd, 0x80, 0x00, uint8_t(id >> 8), uint8_t(id)}}; }
rte_ether_addr wan_mac(uint16_t id) { return {{0x02, 0x00, 0x00, 0xee, uint8_t(id >> 8), uint8_t(id)}}; }

transport::ip_address wan_ip(uint16_t id, bool v6) {
    if (!v6) {
        return transport::ip_address::from_v4(rte_cpu_to_be_32(RTE_IPV4(192, 0, 2, 0) + id));
    }
    uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, uint8_t(id >> 8), uint8_t(id)};
    return transport::ip_address::from_v6(a);
}

uint8_t key_id(unsigned p, unsigned gen) { return static_cast<uint8_t>(gen * 37 + p * 5 + 1); }

void drain_learn() {
    void* e;
    while (rte_ring_dequeue(world::get().learn, &e) == 0) {
    }
}

void drain(rte_ring* r) {
    void* m;
    while (rte_ring_dequeue(r, &m) == 0) {
        rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    }
}

// ---- world ----------------------------------------------------------------------------------------

world& world::get() {
    static world* w = new world();  // never destroyed: the EAL outlives every input
    return *w;
}

world::world() {
    std::string prefix = "--file-prefix=dvpefuzz" + std::to_string(getpid());
    std::vector<std::string> args{"datapath_fuzz", "--no-huge",     "-m",         "512",        "--no-pci",
                                  "--no-shconf",   "--no-telemetry", lcores_arg(), prefix,       "--log-level=*:error"};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
        die("rte_eal_init failed");
    }
    // --no-shconf: nothing is ever written to the runtime directory; remove it now, so runs that
    // end in a crash (or in libFuzzer's _Exit) leave nothing behind.
    std::error_code ec;
    std::filesystem::remove(rte_eal_get_runtime_dir(), ec);
    if (!crypto::init()) {
        die("crypto::init failed");
    }
    pool_size = 16383;
    wan_pool_size = 8191;
    pool = rte_pktmbuf_pool_create("dpf_pool", pool_size, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    wan_pool = rte_pktmbuf_pool_create("dpf_wan", wan_pool_size, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    if (pool == nullptr || wan_pool == nullptr) {
        die("cannot create the mbuf pools");
    }
    wan = make_port("dpfw", pool);
    ovl = make_port("dpfo", pool);
    ports.index_of.fill(-1);
    ports.ports[0] = {wan.id, engine::port_role::wan, wan_mac(self_id), 0, {}};
    ports.ports[0].n_ipv4 = 1;
    ports.ports[0].ipv4[0] = wan_ip(self_id, false).v4();
    ports.ports[0].n_ipv6 = 1;
    std::memcpy(ports.ports[0].ipv6[0].data(), wan_ip(self_id, true).bytes.data(), 16);
    ports.ports[1] = {ovl.id, engine::port_role::overlay, node_mac(self_id), 0, {}};
    lan = make_port("dpfl", pool);
    ports.ports[2] = {lan.id, engine::port_role::overlay, lan_port_mac, 0, {}};
    ports.ports[2].n_ipv4 = 1;
    ports.ports[2].ipv4[0] = rte_cpu_to_be_32(RTE_IPV4(10, lan_self_net, 0, 1));
    ports.ports[2].n_ipv6 = 1;
    ports.ports[2].ipv6[0] = {0xfd, 0, 0, 0, 0, lan_self_net, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    ports.index_of[wan.id] = 0;
    ports.index_of[ovl.id] = 1;
    ports.index_of[lan.id] = 2;
    exc = make_port("dpfx", pool);
    ports.ports[3] = {exc.id, engine::port_role::exception, wan_mac(self_id), 0, {}};
    ports.ports[3].link_port = wan.id;
    ports.index_of[exc.id] = 3;
    ports.n_ports = 4;
    to_control = rte_ring_create("dpf_ctl", 4096, 0, RING_F_SC_DEQ);
    learn = rte_ring_create("dpf_learn", 256, 0, RING_F_SC_DEQ);  // small: learn_ring_full too
    if (learn == nullptr) {
        die("cannot create the learn ring");
    }
    for (unsigned w = 0; w < n_workers; ++w) {
        from_control[w] = rte_ring_create(("dpf_from" + std::to_string(w)).c_str(), 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    }
    if (to_control == nullptr || from_control[0] == nullptr || from_control[1] == nullptr) {
        die("cannot create the control rings");
    }
    auto c = crypto::aead_context::create();
    if (!c) {
        die("aead_context::create");
    }
    ctx.emplace(std::move(c.value()));
    for (const char* name : cipher_names) {
        auto choice = crypto::select_aead(name, "auto");
        if (!choice) {
            die(std::string("select_aead ") + name);
        }
        ciphers.push_back(*choice);
        for (unsigned p = 0; p < n_peers; ++p) {
            for (unsigned d = 0; d < 2; ++d) {
                for (unsigned g = 0; g < n_generations; ++g) {
                    std::array<uint8_t, 32> k{};
                    for (size_t i = 0; i < k.size(); ++i) {
                        k[i] = static_cast<uint8_t>(ciphers.size() * 101 + p * 31 + d * 17 + g * 7 + i);
                    }
                    auto key = crypto::aead_key::create(
                        *choice, std::span<const uint8_t>(k.data(), crypto::key_len(choice->cipher)));
                    if (!key) {
                        die("aead_key::create");
                    }
                    _keys.push_back(std::make_unique<crypto::aead_key>(std::move(key.value())));
                }
            }
        }
    }
}

const crypto::aead_key& world::key(unsigned cipher, unsigned peer, dir d, unsigned gen) const {
    return *_keys[((cipher * n_peers + peer) * 2 + static_cast<unsigned>(d)) * n_generations + gen % n_generations];
}

// ---- templates ----------------------------------------------------------------------------------

transport::outer_template template_to_us(transport::kind k, unsigned p, const transport::local_config& us,
                                         uint16_t lane) {
    const bool v6 = transport::is_ipv6(k);
    transport::endpoint_pair ep;
    ep.src_mac = wan_mac(peer_ids[p]);
    ep.dst_mac = wan_mac(self_id);
    ep.src_ip = wan_ip(peer_ids[p], v6);
    ep.dst_ip = wan_ip(self_id, v6);
    ep.dst_port = us.udp_port != 0 ? us.udp_port : static_cast<uint16_t>(us.udp_lane_base + lane % transport::udp_lanes);
    ep.ip_proto = us.ip_proto;
    ep.icmp_type = v6 ? us.icmp6_type : us.icmp_type;
    auto t = transport::build_template(k, ep);
    if (!t) {
        die("build_template to us");
    }
    return *t;
}

transport::outer_template template_from_us(unsigned p, const node_options& o) {
    const auto k = static_cast<transport::kind>(p);
    const bool v6 = transport::is_ipv6(k);
    (void)o;
    transport::endpoint_pair ep;
    ep.src_mac = wan_mac(self_id);
    ep.dst_mac = wan_mac(peer_ids[p]);
    ep.src_ip = wan_ip(self_id, v6);
    ep.dst_ip = wan_ip(peer_ids[p], v6);
    ep.dst_port = our_udp_port;
    ep.ip_proto = ip_proto;
    ep.icmp_type = v6 ? transport::icmp6_type_for(0) : 0;
    auto t = transport::build_template(k, ep);
    if (!t) {
        die("build_template from us");
    }
    return *t;
}

transport::local_config peer_local(unsigned p) {
    transport::local_config c;
    c.has_ipv4 = true;
    c.ipv4 = wan_ip(peer_ids[p], false).v4();
    c.has_ipv6 = true;
    std::memcpy(c.ipv6.data(), wan_ip(peer_ids[p], true).bytes.data(), 16);
    c.udp_port = our_udp_port;
    c.udp_lane_base = transport::udp_lane_port_base(peer_ids[p]);
    c.ip_proto = ip_proto;
    transport::set_icmp_type(c, 0);
    return c;
}

// ---- mbufs -----------------------------------------------------------------------------------------

rte_mbuf* make_mbuf(rte_mempool* pool, const bytes& frame, std::span<const uint16_t> cuts, unsigned headroom_cut,
                    bool poison) {
    rte_mbuf* head = nullptr;
    size_t off = 0;
    for (size_t s = 0; s <= cuts.size(); ++s) {
        const size_t end = s < cuts.size() ? cuts[s] : frame.size();
        rte_mbuf* m = rte_pktmbuf_alloc(pool);
        if (m == nullptr) {
            rte_pktmbuf_free(head);
            return nullptr;
        }
#ifdef DPFUZZ_ASAN
        ASAN_UNPOISON_MEMORY_REGION(m->buf_addr, m->buf_len);
#endif
        if (s == 0) {
            m->data_off = static_cast<uint16_t>(m->data_off - std::min<unsigned>(headroom_cut, m->data_off));
        }
        const size_t n = end - off;
        char* d = rte_pktmbuf_append(m, static_cast<uint16_t>(n));
        if (d == nullptr || n > UINT16_MAX) {
            rte_pktmbuf_free(m);
            rte_pktmbuf_free(head);
            return nullptr;
        }
        if (n != 0) {
            std::memcpy(d, frame.data() + off, n);
        }
#ifdef DPFUZZ_ASAN
        if (poison) {
            uint8_t* tail = rte_pktmbuf_mtod(m, uint8_t*) + n;
            ASAN_POISON_MEMORY_REGION(tail, static_cast<uint8_t*>(m->buf_addr) + m->buf_len - tail);
        }
#else
        (void)poison;
#endif
        if (head == nullptr) {
            head = m;
        } else if (rte_pktmbuf_chain(head, m) != 0) {
            rte_pktmbuf_free(m);
            rte_pktmbuf_free(head);
            return nullptr;
        }
        off = end;
    }
    return head;
}

bytes read_mbuf(const rte_mbuf* m) {
    bytes out;
    for (const rte_mbuf* s = m; s != nullptr; s = s->next) {
        const auto* d = rte_pktmbuf_mtod(s, const uint8_t*);
        out.insert(out.end(), d, d + s->data_len);
    }
    return out;
}

// ---- node -----------------------------------------------------------------------------------------

namespace {

std::array<std::unique_ptr<engine_set>, 2> g_sets;  // [wan_fragment]
uint32_t g_runs = 0;

engine_set& get_set(bool wan_fragment) {
    auto& e = g_sets[wan_fragment ? 1 : 0];
    if (e) {
        return *e;
    }
    world& wd = world::get();
    e = std::make_unique<engine_set>();
    e->rcu = std::make_unique<engine::rcu>(n_workers);
    e->snap = std::make_unique<engine::published<engine::dataplane_snapshot>>(*e->rcu);
    for (unsigned w = 0; w < n_workers; ++w) {
        engine::worker_setup s;
        s.lcore_id = 0;
        s.worker_idx = w;
        s.rx_queues = {{wd.wan.id, static_cast<uint16_t>(w)}, {wd.ovl.id, static_cast<uint16_t>(w)},
                       {wd.lan.id, static_cast<uint16_t>(w)}, {wd.exc.id, static_cast<uint16_t>(w)}};
        s.ports = &wd.ports;
        s.burst_size = burst;
        s.tx_drain_us = 0;    // every iteration flushes: outputs are on the tx rings right after
        s.idle_sleep_us = 0;
        s.to_control = wd.to_control;
        s.from_control = wd.from_control[w];
        s.learn = wd.learn;
        s.snapshot = e->snap.get();
        s.qsbr = e->rcu.get();
        s.pool = wd.pool;
        s.cipher = wd.ciphers[0];  // unused by workers: the keys carry their cipher
        s.wan_fragment = wan_fragment;
        e->workers[w] = std::make_unique<engine::worker>(s);
    }
    return *e;
}

void copy_stats(engine::worker_stats& to, const engine::worker_stats& from) {
    for (const auto& f : engine::worker_stats::fields()) {
        (to.*f.member).set((from.*f.member).load());
    }
    for (size_t i = 0; i < engine::n_drop_reasons; ++i) {
        to.drops[i].set(from.drops[i].load());
    }
}

}  // namespace

node::node(const node_options& o) : o_mut(o), _o(o), _run(++g_runs) {
    _e = &get_set(_o.wan_fragment);
    for (unsigned w = 0; w < n_workers; ++w) {
        copy_stats(_start[w], _e->workers[w]->stats());
    }
    publish();
}

node::~node() {
    world& wd = world::get();
    // Retire the run's snapshot (it points at this run's windows), then drain what is left.
    _e->snap->publish(nullptr);
    bool fragments = false;
    for (unsigned w = 0; w < n_workers; ++w) {
        _e->workers[w]->iterate();
        fragments |= _e->workers[w]->stats().fragments_in.load() != _start[w].fragments_in.load();
    }
    _e->rcu->drain();
    if (fragments) {
        g_sets[_o.wan_fragment ? 1 : 0].reset();  // the reassembly table frees what it holds
    }
    for (unsigned q = 0; q < n_workers; ++q) {
        drain(wd.wan.rx[q]);
        drain(wd.wan.tx[q]);
        drain(wd.ovl.rx[q]);
        drain(wd.ovl.tx[q]);
        drain(wd.lan.rx[q]);
        drain(wd.lan.tx[q]);
        drain(wd.exc.rx[q]);
        drain(wd.exc.tx[q]);
        drain(wd.from_control[q]);
    }
    drain(wd.to_control);
    drain_learn();
}

transport::local_config node::local() const {
    transport::local_config c;
    c.has_ipv4 = true;
    c.ipv4 = wan_ip(self_id, false).v4();
    c.has_ipv6 = true;
    std::memcpy(c.ipv6.data(), wan_ip(self_id, true).bytes.data(), 16);
    c.udp_port = _o.udp_port0 ? 0 : our_udp_port;
    c.udp_lane_base = transport::udp_lane_port_base(self_id);
    c.ip_proto = ip_proto;
    transport::set_icmp_type(c, _o.icmp_type);
    c.enabled = static_cast<uint8_t>(transport::all_kinds & ~_o.disabled);
    return c;
}

engine::rx_windows* node::windows(unsigned p, unsigned gen) {
    auto& w = _windows[{p, gen}];
    if (!w) {
        w = engine::rx_windows::create();
    }
    return w.get();
}

void node::publish() {
    world& wd = world::get();
    const unsigned cipher = _o.cipher % n_ciphers;
    _o.router = o_mut.router;
    auto s = std::make_unique<engine::dataplane_snapshot>();
    s->self_id = self_id;
    s->self_mac = node_mac(self_id);
    s->has_overlay = _o.has_overlay;
    s->overlay_port_id = wd.ovl.id;
    s->router = _o.router;
    s->queue_without_session = _o.queue_without_session;
    s->local = local();
    // The site LAN (node_options::lan): the port's mode, the MAC table or routes and neighbour.
    wd.ports.ports[2].mode = _o.lan;
    wd.ports.ports[0].link_port = _o.exception ? wd.exc.id : engine::port_ctx::no_link;
    s->lan_mode = _o.lan;
    s->lan_port_id = wd.lan.id;
    s->lan_mac = lan_port_mac;
    s->clock = &_clock;
    if (_o.lan == pmd::overlay_mode::bridge) {
        std::vector<engine::mac_table::entry> macs;
        for (uint8_t x = 0; x < 8; ++x) {
            macs.push_back({engine::mac_key(lan_mac_entry(x).addr_bytes), peer_ids[x % n_peers], 0});
        }
        macs.push_back({engine::mac_key(lan_mac_entry(8).addr_bytes), engine::mac_table::local, 0});
        auto t = std::make_shared<const engine::mac_table>(macs);
        s->macs = t.get();
        s->owned.push_back(t);
    } else if (_o.lan == pmd::overlay_mode::route) {
        // One table for the process (rte_lpm and rte_lpm6 cost 64 MiB each: never per run).
        static std::shared_ptr<const engine::route_table> g_routes;
        if (!g_routes) {
            std::vector<engine::route_table::route> routes;
            for (uint8_t net = 0; net < 10; ++net) {
                if (lan_owner(net) == 0) {
                    continue;
                }
                const uint8_t a6[16] = {0xfd, 0, 0, 0, 0, net};
                routes.push_back({transport::ip_address::from_v4(rte_cpu_to_be_32(RTE_IPV4(10, net, 0, 0))), 16,
                                  lan_owner(net)});
                routes.push_back({transport::ip_address::from_v6(a6), 48, lan_owner(net)});
            }
            g_routes = std::make_shared<const engine::route_table>(routes);
        }
        s->routes = g_routes.get();
        s->owned.push_back(g_routes);
        const uint8_t h6[16] = {0xfd, 0, 0, 0, 0, lan_self_net, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
        auto nb = std::make_shared<const engine::lan_neighbours>(std::vector<engine::lan_neighbours::entry>{
            {transport::ip_address::from_v4(rte_cpu_to_be_32(RTE_IPV4(10, lan_self_net, 0, 5))), lan_host_mac},
            {transport::ip_address::from_v6(h6), lan_host_mac}});
        s->lan_neigh = nb.get();
        s->owned.push_back(nb);
    }
    s->peers.resize(peer_ids[n_peers - 1] + 1);
    static_assert(peer_ids[n_peers - 1] + 1 > engine::dataplane_snapshot::prefetch_min_peers,
                  "a table this long takes the many-peers prefetch steps (engine/ingress.cc, egress.cc): fuzzed too");
    for (unsigned p = 0; p < n_peers; ++p) {
        engine::peer_entry& e = s->peers[peer_ids[p]];
        e.node_id = peer_ids[p];
        e.mac = node_mac(peer_ids[p]);
        e.tx_ready = (_o.not_ready & (1U << p)) == 0;
        e.tx_key = &wd.key(cipher, p, dir::from_us, tx_gen[p]);
        e.tx_key_id = key_id(p, tx_gen[p]);
        e.tx_generation = _run * n_generations + tx_gen[p];  // new every run: lanes restart at 0
        for (unsigned k = 0; k < engine::limits::rx_keys_per_peer; ++k) {
            const unsigned g = rx_base[p] + k;
            if (g < n_generations) {
                e.rx[k] = {&wd.key(cipher, p, dir::to_us, g), windows(p, g)->w.get(), key_id(p, g)};
            }
        }
        e.tmpl = template_from_us(p, _o);
        e.tx_port_id = wd.wan.id;
        e.tx_mtu = (_o.small_mtu & (1U << p)) != 0 ? 576 : 1500;
        e.udp_sport_step = (_o.sport_step0 & (1U << p)) != 0 ? 0 : 1;
        e.udp_sport_base = e.udp_sport_step == 0 ? our_udp_port : transport::udp_lane_port_base(self_id);
        e.tos_mask = (_o.tos & (1U << p)) != 0 ? 0xfc : 0;
        if (e.tx_ready) {
            s->broadcast_to.push_back(peer_ids[p]);
        }
    }
    _e->snap->publish(std::move(s));
    // Every worker passes a quiescent state (an iteration on empty queues): the old snapshot goes.
    for (auto& w : _e->workers) {
        w->iterate();
    }
    _e->rcu->poll();
}

bool node::run_burst(unsigned w, std::span<rte_mbuf* const> wan, std::span<rte_mbuf* const> ovl,
                     std::span<rte_mbuf* const> lan) {
    world& wd = world::get();
    const auto put = [](rte_ring* r, std::span<rte_mbuf* const> pkts) {
        const auto n = static_cast<unsigned>(pkts.size());
        return n == 0 || rte_ring_enqueue_bulk(r, reinterpret_cast<void* const*>(pkts.data()), n, nullptr) == n;
    };
    if (wan.size() > burst || ovl.size() > burst || lan.size() > burst || !put(wd.wan.rx[w], wan) ||
        !put(wd.ovl.rx[w], ovl) || !put(wd.lan.rx[w], lan)) {
        return false;
    }
    _e->workers[w]->iterate();
    return rte_ring_count(wd.wan.rx[w]) == 0 && rte_ring_count(wd.ovl.rx[w]) == 0 && rte_ring_count(wd.lan.rx[w]) == 0;
}

}  // namespace dpfuzz
