// SPDX-License-Identifier: MIT
#include "control/config/node_table.hh"

#include <algorithm>
#include <tuple>
#include <utility>

#include "transports/kind.hh"

namespace control {

unsigned worst_overhead(const config& cfg) {
    const node_conf& self = cfg.self_node();
    bool v4 = false, v6 = false;
    for (const auto& wa : self.engine.wan_addresses) {
        (wa.addr.v6 ? v6 : v4) = true;
    }
    unsigned worst = 0;
    for (auto k : {transport::kind::udp4, transport::kind::udp6, transport::kind::rawip4, transport::kind::rawip6,
                   transport::kind::icmp4, transport::kind::icmp6}) {
        const bool fam = transport::is_ipv6(k) ? v6 : v4;
        const bool on = (transport::is_udp(k) && (self.protocols & proto_udp)) ||
                        (transport::is_rawip(k) && (self.protocols & proto_rawip)) ||
                        (transport::is_icmp(k) && (self.protocols & proto_icmp));
        if (fam && on) {
            worst = std::max<unsigned>(worst, transport::inner_l3_overhead(k));
        }
    }
    return worst;
}

unsigned overlay_mtu(const config& cfg) {
    if (cfg.self_node().engine.wan_fragment) {
        return cfg.global.mtu;  // oversize sealed packets are fragmented: a full-size overlay
    }
    return std::min(cfg.global.mtu - 66, cfg.global.mtu - worst_overhead(cfg));
}

nlohmann::json node_table_json(const config& cfg) {
    const node_conf& self = cfg.self_node();
    const global_conf& g = cfg.global;
    nlohmann::json j;
    j["ok"] = true;
    j["node"] = self.name;
    j["node_id"] = self.id;
    j["nodes_count"] = cfg.nodes.size();
    j["mtu"] = g.mtu;
    j["overlay_mtu"] = overlay_mtu(cfg);
    j["rekey"] = g.rekey;
    j["keepalive"] = g.keepalive;
    j["ifname"] = g.ifname;
    j["cipher"] = g.cipher;
    j["serial"] = g.serial;
    // What each transport adds to an overlay frame on the underlay (IP and transport headers,
    // the dvpe data header and tag, the ethertype; tcp: its header and the 2-byte framing),
    // GVPE's order, and whether this node speaks it.
    nlohmann::json over = nlohmann::json::array();
    for (auto [bit, name, k4, k6] : {std::tuple{proto_rawip, "rawip", transport::kind::rawip4, transport::kind::rawip6},
                                     std::tuple{proto_icmp, "icmp", transport::kind::icmp4, transport::kind::icmp6},
                                     std::tuple{proto_udp, "udp", transport::kind::udp4, transport::kind::udp6},
                                     std::tuple{proto_tcp, "tcp", transport::kind::tcp4, transport::kind::tcp6},
                                     std::tuple{proto_dns, "dns", transport::kind::dns4, transport::kind::dns6}}) {
        over.push_back({{"transport", name},
                        {"ipv4", transport::inner_l3_overhead(k4)},
                        {"ipv6", transport::inner_l3_overhead(k6)},
                        {"enabled", (self.protocols & bit) != 0}});
    }
    j["transport_overhead"] = over;
    nlohmann::json nodes = nlohmann::json::array();
    for (const auto& n : cfg.nodes) {
        nlohmann::json protos = nlohmann::json::array();
        for (auto [bit, name] : {std::pair{proto_udp, "udp"}, std::pair{proto_rawip, "rawip"},
                                 std::pair{proto_tcp, "tcp"}, std::pair{proto_icmp, "icmp"},
                                 std::pair{proto_dns, "dns"}}) {
            if (n.protocols & bit) {
                protos.push_back(name);
            }
        }
        nodes.push_back({{"id", n.id},
                         {"name", n.name},
                         {"mac", mac_string(node_mac(n.id))},
                         {"connect", std::string(to_string(n.connect))},
                         {"protocols", protos},
                         {"protocols_mask", n.protocols},
                         {"hostname", n.hostname},
                         {"udp_port", n.udp_port},
                         {"router_priority", n.router_priority},
                         {"self", &n == &self}});
    }
    j["nodes"] = nodes;
    return j;
}

}  // namespace control
