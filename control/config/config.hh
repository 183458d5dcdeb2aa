// SPDX-License-Identifier: MIT
// The configuration model: gvpe.conf syntax and evaluation order (GVPE 3.1) plus dvpe's own
// directives (cipher suite, engine layout, control socket). Three phases (docs/config.md "Files and phases"):
//   parse    -> plain structs below, every value remembers the file:line it came from;
//   validate -> every cross-reference and limit checked, no hardware touched;
//   apply    -> done by the daemon (pmd/engine setup) from a validated `config`.
// Errors never abort: load_config() returns them as `file:line: message` diagnostics.
// Threads: control thread only (and dvpectl). docs/config.md documents every directive.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/result.hh"
#include "pmd/port_role.hh"
#include "transports/ip.hh"
#include "transports/wire.hh"

namespace control {

/// Where a value came from. Command-line overrides use file "<cmdline>" and line N = the 1-based
/// index of the override; line 0 refers to a whole file (e.g. "unknown node" errors).
struct location {
    std::string file;
    int line = 0;
};

/// One warning or error, printed as `file:line: message`.
struct diagnostic {
    location where;
    std::string message;
    [[nodiscard]] std::string str() const;
};

/// Limits of the configuration, named constants grouped by topic (docs/config.md states them).
namespace limits {
inline constexpr unsigned max_node_id = transport::max_node_id;  // 12-bit ids on the wire, as GVPE
inline constexpr unsigned max_serial_len = 16;     // GVPE's serial is 16 bytes
inline constexpr unsigned max_ports = 16;
inline constexpr unsigned max_queues_per_port = 16;
/// Worker lcores: a worker's index is its sender lane, and lane 15 (transport::control_lane) is
/// the control thread's, so a 16th worker would reuse its AEAD nonces (config_validate.cc asserts).
inline constexpr unsigned max_workers = 15;
/// rx + tx queues of a net_tap / net_tun port: DPDK 22.11's net_tap copies one fd per queue into
/// a multi-process message of RTE_MP_MAX_FD_NUM (8) fds at dev_start, unchecked.
inline constexpr unsigned max_tap_queues = 8;
inline constexpr unsigned max_lcores = 128;        // RTE_MAX_LCORE in Debian's DPDK
inline constexpr unsigned max_burst = 256;
inline constexpr unsigned min_mtu = 576;
inline constexpr unsigned max_mtu = 9600;
inline constexpr unsigned max_include_depth = 16;
inline constexpr unsigned max_includes = 256;                    // include lines followed in one load
inline constexpr size_t max_config_file_bytes = 1024 * 1024;     // one file (main or included)
inline constexpr size_t max_config_total_bytes = 4 * 1024 * 1024;  // every included file together
inline constexpr unsigned max_queues_per_lcore = 16;  // rx queues one worker polls (l3fwd's cap)
inline constexpr unsigned min_descriptors = 64;       // rx-/tx-descriptors: power of two in this range
inline constexpr unsigned max_descriptors = 16384;
inline constexpr unsigned max_mbuf_cache = 512;       // RTE_MEMPOOL_CACHE_MAX_SIZE
inline constexpr unsigned max_us_setting = 1000000;   // tx-drain-us, idle-sleep-us: at most 1 s
inline constexpr unsigned reassembly_mbufs = 32 * 8;  // per worker: engine::limits::reassembly_packets
                                                       // x RTE_LIBRTE_IP_FRAG_MAX_FRAG (daemon.cc asserts)
// Site gateways (docs/site-gateways.md).
inline constexpr unsigned max_lan_addresses_per_family = 8;  // per port: engine::limits::max_port_ipv4/ipv6
inline constexpr unsigned max_routes_per_node = 4096;         // `route` lines of one node
inline constexpr unsigned max_routes = 65536;                 // `route` lines of all nodes together
inline constexpr unsigned min_mac_table_size = 16;            // mac-table-size
inline constexpr unsigned max_mac_table_size = 1048576;
inline constexpr unsigned max_mac_limit_per_peer = 1048576;   // mac-limit-per-peer (at least 1)
inline constexpr unsigned min_mac_age_s = 10;                 // mac-age, seconds
inline constexpr unsigned max_mac_age_s = 86400;
// Exception ports (docs/exception-path.md): descriptors of their rings (management traffic only)
// and the default of exception-rate (packets a second, each way, per worker).
inline constexpr unsigned exception_descriptors = 256;
/// Slots of each ring between a worker and the tcp slow path, each way (pmd/stream_port.hh).
inline constexpr unsigned stream_ring_size = 1024;
inline constexpr unsigned default_exception_rate = 10000;
inline constexpr unsigned max_exception_rate = 1000000;
}  // namespace limits

enum class connect_mode : uint8_t { always, ondemand, never, disabled };

/// GVPE's protocol bitmask, exchanged in the handshake (gvpe.md §1.3).
enum protocol_bit : uint8_t {
    proto_udp = 0x01,
    proto_rawip = 0x02,
    proto_tcp = 0x04,
    proto_icmp = 0x08,
    proto_dns = 0x10,
};

using pmd::port_role;     // pmd/port_role.hh, shared with the workers
using pmd::overlay_mode;

/// `port = NAME ROLE DEVARGS` (dvpe). DEVARGS is the rest of the line, e.g.
/// `net_af_packet0,iface=veth0` or a PCI address `0000:01:00.0`. ROLE `bridge` and `route` are
/// overlay ports with that mode (docs/site-gateways.md); `overlay` is mode host (the node's TAP).
struct port_conf {
    std::string name;
    port_role role = port_role::wan;
    std::string devargs;
    location where;
    overlay_mode mode = overlay_mode::host;  // overlay ports: host (TAP), bridge or route; wan: host
};

/// Addresses are transport::ip_address (transports/ip.hh, header-only, no DPDK).
using transport::ip_address;

/// `wan-address = PORT ADDR/PREFIX` (dvpe): an address the engine owns on a wan port.
struct wan_address {
    std::string port;
    ip_address addr;
    uint8_t prefix = 32;
    location where;
};

/// `route = PREFIX` (dvpe, node-specific): a prefix this node owns (docs/site-gateways.md).
struct route_conf {
    ip_address addr;
    uint8_t prefix = 32;
    location where;
};

/// `bridge-mac = MAC` (dvpe, node-specific): a static MAC table entry behind this node.
struct bridge_mac_conf {
    std::array<uint8_t, 6> mac{};
    location where;
};

/// `wan-gateway = PORT ADDR` (dvpe): the next hop for off-link underlay destinations.
struct wan_gateway {
    std::string port;
    ip_address addr;
    location where;
};

/// `neighbour = PORT ADDR MAC` (dvpe): a static neighbour entry (no ARP/NDP needed).
struct neighbour_conf {
    std::string port;
    ip_address addr;
    std::array<uint8_t, 6> mac{};
    location where;
};

/// `exception = PORT IFNAME|off` (dvpe): the kernel's interface beside WAN port PORT
/// (docs/exception-path.md). A PCI wan port gets one named after the port unless `off`.
struct exception_conf {
    std::string port;
    std::string ifname;  // empty: off
    location where;
    bool by_default = false;  // a PCI port's default: a failure to make it is logged, not fatal
};

/// `queue-map = PORT QUEUE LCORE` (dvpe): rx queue QUEUE of PORT is polled by worker LCORE.
struct queue_map_entry {
    std::string port;
    unsigned queue = 0;
    unsigned lcore = 0;
    location where;
};

/// dvpe's engine layout for one node (node-specific: set as a default or in a node section).
struct engine_layout {
    unsigned control_lcore = 0;                 // control-lcore = N (DPDK main lcore)
    location control_lcore_where;
    std::vector<unsigned> worker_lcores;        // worker-lcores = 1,2-3 (default: {1})
    location worker_lcores_where;
    std::vector<port_conf> ports;               // port = NAME ROLE DEVARGS (repeatable)
    std::vector<wan_address> wan_addresses;     // wan-address = PORT ADDR/PREFIX (repeatable)
    std::vector<wan_address> lan_addresses;     // lan-address = PORT ADDR/PREFIX (repeatable; route ports)
    std::vector<wan_gateway> wan_gateways;      // wan-gateway = PORT ADDR (repeatable, one per family)
    std::vector<neighbour_conf> neighbours;     // neighbour = PORT ADDR MAC (repeatable)
    std::vector<queue_map_entry> queue_map;     // queue-map = PORT QUEUE LCORE (default: see docs)
    bool kernel_wan = false;                    // the automatic layout's wan port shares its interface
                                                // and addresses with the kernel (docs/config.md)
    bool tcp = false;                           // enable-tcp: the tcp slow path's rings (set by validation)
    std::vector<exception_conf> exceptions;     // exception = PORT IFNAME|off (after validation: one
                                                // per wan port that has one, the defaults added)
    unsigned exception_rate = limits::default_exception_rate;  // exception-rate: packets/s each way
                                                               // per worker
    unsigned burst_size = 32;                   // burst-size
    unsigned rx_descriptors = 1024;             // rx-descriptors
    unsigned tx_descriptors = 1024;             // tx-descriptors
    unsigned mbufs = 0;                         // mbufs (0: sized from the layout, required_mbufs())
    location mbufs_where;
    unsigned mbuf_cache = 256;                  // mbuf-cache
    bool hugepages = true;                      // hugepages = yes|no (no: EAL --no-huge)
    bool hugepages_set = false;                 // given in the config (the automatic layout keeps it)
    bool capture = false;                       // capture = yes: dpdk-dumpcap may attach (rte_pdump;
                                                // hugepage files kept, docs/operations.md "Capture")
    location capture_where;
    unsigned memory_mb = 0;                     // memory-mb (EAL -m; 0: DPDK default / 512 without hugepages)
    unsigned tx_drain_us = 100;                 // tx-drain-us
    unsigned idle_sleep_us = 100;               // idle-sleep-us (0: never sleep, for benchmarks)
    unsigned idle_polls = 1024;                 // idle-polls: empty polls before sleeping
    bool idle_interrupt = false;                // idle-wait = interrupt (engine/idle.cc)
    bool wan_fragment = false;                  // wan-fragment = yes|no: oversize sealed packets are
                                                // sent as outer fragments (no: ICMP too big + drop)
    std::string eal_args;                       // eal-args = rest of line, appended to EAL argv
                                                // (repeated eal-args lines are joined with a space)
    // Bridge mode's MAC table (docs/site-gateways.md "MAC table").
    unsigned mac_table_size = 16384;            // mac-table-size: entries, learned and static
    unsigned mac_limit_per_peer = 4096;         // mac-limit-per-peer: learned entries per owner
    location mac_limit_per_peer_where;
    unsigned mac_age_s = 300;                   // mac-age: seconds unused before a learned entry goes
};

/// Settings that GVPE allows per node (or as defaults copied into later `node` sections).
struct node_conf {
    std::string name;
    unsigned id = 0;                  // positional (1..) unless node-id is given
    bool explicit_id = false;
    location id_where;                // the `node-id` line when explicit_id
    location where;                   // the `node` line

    std::string hostname;             // host or IP; for the local node also the bind address
    location hostname_where;
    uint16_t udp_port = 655;
    uint16_t tcp_port = 655;
    std::string dns_hostname;
    uint16_t dns_port = 0;
    std::string dns_domain;
    uint8_t protocols = 0;            // protocol_bit mask from enable-*
    connect_mode connect = connect_mode::always;
    unsigned router_priority = 0;
    std::vector<std::string> allow_direct;  // node names or "*"
    std::vector<std::string> deny_direct;
    std::vector<location> allow_direct_where;  // parallel to allow_direct
    std::vector<location> deny_direct_where;   // parallel to deny_direct
    bool compress = true;             // accepted, no effect (as GVPE 3.1)
    bool inherit_tos = false;         // GVPE's real default (gvpe.md §1.9)
    double max_retry = 3600;
    double max_ttl = 60;
    unsigned max_queue = 512;         // values < 1 raised to 1
    bool low_power = false;
    std::string if_up_data;

    std::vector<route_conf> routes;          // route = PREFIX (dvpe, repeatable)
    std::vector<bridge_mac_conf> bridge_macs;  // bridge-mac = MAC (dvpe, repeatable)

    engine_layout engine;             // dvpe
};

enum class log_level : uint8_t { noise, trace, debug, info, notice, warn, error, critical };

/// Global settings (gvpe.md §1.2) plus dvpe's globals.
struct global_conf {
    log_level loglevel = log_level::info;  // honoured (GVPE ignores it: gvpe.md §1.9)
    bool loglevel_set = false;
    unsigned mtu = 1500;
    std::string ifname;
    bool ifpersist = false;
    uint8_t ip_proto = 47;
    uint8_t icmp_type = 0;
    double keepalive = 60;
    double rekey = 3607;
    uint32_t nfmark = 0;
    std::string if_up = "if-up";
    std::string node_up, node_down, node_change;
    std::string pid_file = "/run/dvpe/%s.pid";
    std::string private_key = "hostkey";
    std::string seed_device = "/dev/urandom";
    double seed_interval = 3613;
    std::string serial;
    std::string chroot, chuid, chgid, chuser;
    std::string http_proxy_host, http_proxy_auth;
    uint16_t http_proxy_port = 0;
    std::string dns_forw_host = "127.0.0.1";
    uint16_t dns_forw_port = 53;
    bool dns_case_preserving = true;
    unsigned dns_max_outstanding = 100;
    double dns_overlap_factor = 0.5, dns_send_interval = 0.01, dns_timeout_factor = 8;

    // dvpe
    std::string cipher = "aes256-gcm";     // cipher = aes128-gcm|aes256-gcm|chacha20-poly1305|null
    std::string crypto_backend = "auto";   // crypto-backend = auto|ipsec-mb|libsodium|...
    std::string control_socket = "/run/dvpe/%s.sock";
    std::string control_socket_group;  // control-socket-group: its members may read (mode 0660)
};

struct config {
    std::string confdir;
    std::string file;                 // the main config file as opened (CONFDIR/gvpe.conf)
    std::string nodename;             // load_options::nodename ("" for tools)
    global_conf global;
    std::vector<node_conf> nodes;     // file order; nodes[i].id is the wire id
    size_t self = 0;                  // index into nodes of the node we run as
    std::vector<diagnostic> warnings; // unimplemented directives etc., each once with file:line
    /// The engine layout dvpe chose for the local node (a gvpe.conf without one, docs/config.md
    /// "Automatic engine layout"), one line per choice and why; empty: the config gave it.
    std::vector<std::string> auto_layout;

    [[nodiscard]] const node_conf& self_node() const { return nodes[self]; }
    /// The overlay (TAP) MTU before the daemon's transport check: mtu - 66 as GVPE 3.1, or mtu
    /// with wan-fragment (the daemon's overlay_mtu() may lower the former for IPv6 transports).
    [[nodiscard]] unsigned overlay_mtu() const {
        return !nodes.empty() && self_node().engine.wan_fragment ? global.mtu : global.mtu - 66;
    }
    /// `%s` in a path replaced by the local node name; relative paths resolved against confdir.
    [[nodiscard]] std::string expand_path(std::string_view fmt) const;
    /// Node lookup by name (nullptr if unknown).
    [[nodiscard]] const node_conf* find_node(std::string_view name) const;
    /// Node lookup by wire id (nullptr if unknown): one load from `by_id`, which
    /// validate_config() builds (the config is replaced as a whole on reload, index included).
    /// A config assembled or edited by hand after validation is still answered right (a scan).
    [[nodiscard]] const node_conf* node(unsigned id) const;
    /// Builds `by_id` from `nodes` (validate_config() calls it last).
    void index_nodes();
    std::vector<uint16_t> by_id;      // id -> index into nodes + 1; 0: no such node
};

/// What the host offers, for a config without an engine layout (read by the daemon from the
/// kernel: control/daemon/kernel_if.hh read_host_facts(); tests make their own).
struct host_facts {
    struct address {
        ip_address addr;
        uint8_t prefix = 32;
    };
    struct interface {
        std::string name;
        std::vector<address> addresses;  // global scope only
    };
    std::vector<interface> interfaces;
    std::string default_if4, default_if6;  // the interfaces of the default routes ("" if none)
    std::optional<ip_address> gateway4, gateway6;
    std::vector<unsigned> cpus;             // the CPUs this process may run on, ascending
    bool hugepages = false;                 // enough free hugepages for the EAL
    std::string error;                      // what could not be read (said with a missing interface)
};

struct load_options {
    std::string confdir = "/etc/dvpe";
    std::string nodename;                 // may be empty for tools that need no local node
    std::vector<std::string> overrides;   // "var=value" or "node.var=value" (gvpe(8))
    unsigned n_cpus = 0;                  // for lcore validation; 0 = this machine's count
    bool read_includes = true;            // false: an `include` is an error and no file is read
                                          // (load_config_text as a pure function, e.g. fuzzing)
    /// If set, gets the warnings also when the configuration has errors (`dvped --check` shows
    /// both: a user fixing an error should see what else dvpe will not act on).
    std::vector<diagnostic>* warnings_out = nullptr;
    /// A local node without `port` lines gets a layout from these (none: it is an error).
    std::optional<host_facts> host;
    /// false: the local node's engine layout is neither completed nor checked (tools such as
    /// dvpectl need the node table and the paths only, and may run on another host).
    bool check_engine = true;
};

/// Reads CONFDIR/gvpe.conf (falling back to CONFDIR/dvpe.conf), applies overrides, validates.
/// Returns the config, or every error found (each `file:line: message`).
result<config, std::vector<diagnostic>> load_config(const load_options& opt);

/// Same, from text in memory (`include` still reads files relative to opt.confdir, unless
/// opt.read_includes is false: then this is a pure function of its arguments, e.g. for fuzzing).
result<config, std::vector<diagnostic>> load_config_text(std::string_view text, std::string_view filename,
                                                         const load_options& opt);

/// Phase 2 (config_validate.cc), run by load_config*() after parsing and overrides: checks every
/// cross-reference and limit and fills the defaults that depend on the whole layout (worker
/// queue map, wan-address from a literal hostname). Appends warnings to cfg.warnings; returns
/// every error found (empty: valid). Engine checks apply to the local node only.
std::vector<diagnostic> validate_config(config& cfg, const load_options& opt);

/// Mbufs the layout needs at least: rx descriptors of every rx queue, a tx ring per port per
/// worker, one burst per worker in flight, and a mempool cache per lcore (workers + control).
/// An empty queue map counts one rx queue per port (the default map). docs/config.md.
unsigned required_mbufs(const engine_layout& e);

/// Where a directive may appear and what dvpe does with it (for docs, tests and dvpectl).
enum class directive_scope : uint8_t { global, node, structural };
enum class directive_support : uint8_t {
    supported,    // parsed and stored; dvpe uses it (or its subsystem is on the roadmap)
    ignored,      // recognised for GVPE compatibility but has no effect: warns once with file:line
};
struct directive_info {
    std::string_view name;
    directive_scope scope;
    directive_support support;
    std::string_view note;  // for ignored directives: why
};
/// Every directive the parser recognises, GVPE's and dvpe's, in documentation order.
std::vector<directive_info> directives();

/// Parses a boolean as gvpe.conf accepts it: yes/no, true/false, on/off, 1/0 (case-insensitive).
std::optional<bool> parse_bool(std::string_view s);

/// Helpers shared with dvpectl and the daemon.
std::string_view to_string(connect_mode m);
std::string_view to_string(port_role r);
std::string_view to_string(overlay_mode m);  // "host", "bridge", "route"
std::string_view to_string(log_level l);
std::optional<log_level> parse_log_level(std::string_view s);
/// "udp,rawip"-style name list of a protocol mask, e.g. for `dvpectl config`.
std::string protocols_string(uint8_t mask);
/// Node n's overlay MAC: fe:fd:80:00:HH:LL.
std::array<uint8_t, 6> node_mac(unsigned id);
std::string mac_string(const std::array<uint8_t, 6>& mac);

}  // namespace control
