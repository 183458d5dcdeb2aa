// SPDX-License-Identifier: MIT
// transports/classify: one crafted frame per reason (table-driven, numbered), plus Ethernet
// padding, IPv4 options and a random-mutation sweep that must never read out of bounds
// (ASan) and whose ok results always lie inside the frame.
#include "frames.hh"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>

namespace transport {
namespace {

using namespace transport::test;
using frame = std::vector<uint8_t>;

uint8_t* ip_of(frame& f) { return f.data() + 14; }
void set16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

struct reason_case {
    const char* name;
    kind k;             // frame built with this kind (dvpe packet of 64 bytes)
    std::function<void(frame&, local_config&)> mutate;
    classify_reason expect;
};

const reason_case reason_cases[] = {
    // ---- ok (baseline per kind) ----
    {"udp4 ok", kind::udp4, [](frame&, local_config&) {}, classify_reason::ok},
    {"udp6 ok", kind::udp6, [](frame&, local_config&) {}, classify_reason::ok},
    {"rawip4 ok", kind::rawip4, [](frame&, local_config&) {}, classify_reason::ok},
    {"rawip6 ok", kind::rawip6, [](frame&, local_config&) {}, classify_reason::ok},
    {"icmp4 ok", kind::icmp4, [](frame&, local_config&) {}, classify_reason::ok},
    {"icmp6 ok", kind::icmp6, [](frame&, local_config&) {}, classify_reason::ok},
    // ---- bad_length ----
    {"runt below Ethernet header", kind::udp4, [](frame& f, local_config&) { f.resize(13); }, classify_reason::bad_length},
    {"IPv4 header truncated", kind::udp4, [](frame& f, local_config&) { f.resize(14 + 19); }, classify_reason::bad_length},
    {"IPv4 total length beyond frame", kind::udp4, [](frame& f, local_config&) { f.resize(f.size() - 1); },
     classify_reason::bad_length},
    {"IPv6 header truncated", kind::udp6, [](frame& f, local_config&) { f.resize(14 + 39); }, classify_reason::bad_length},
    {"IPv6 payload length beyond frame", kind::rawip6, [](frame& f, local_config&) { f.resize(f.size() - 1); },
     classify_reason::bad_length},
    {"rawip4 dvpe packet shorter than common header", kind::rawip4,
     [](frame& f, local_config&) {
         f.resize(14 + 20 + 7);
         set16(ip_of(f) + 2, 27);
         fix_ip4_checksum(f);
     },
     classify_reason::bad_length},
    {"udp6 dvpe packet shorter than common header", kind::udp6,
     [](frame& f, local_config&) {
         f.resize(14 + 40 + 8 + 7);
         set16(ip_of(f) + 4, 15);
         set16(ip_of(f) + 44, 15);
     },
     classify_reason::bad_length},
    // ---- not_ours ----
    {"ARP", kind::udp4, [](frame& f, local_config&) { set16(f.data() + 12, 0x0806); }, classify_reason::not_ours},
    {"VLAN tag", kind::udp4, [](frame& f, local_config&) { set16(f.data() + 12, 0x8100); }, classify_reason::not_ours},
    {"IPv4 to another address", kind::udp4,
     [](frame& f, local_config&) {
         ip_of(f)[19] ^= 1;
         fix_ip4_checksum(f);
     },
     classify_reason::not_ours},
    {"IPv4 without an IPv4 address", kind::rawip4, [](frame&, local_config& c) { c.has_ipv4 = false; },
     classify_reason::not_ours},
    {"IPv6 to another address", kind::udp6, [](frame& f, local_config&) { ip_of(f)[39] ^= 1; }, classify_reason::not_ours},
    {"IPv6 without an IPv6 address", kind::icmp6, [](frame&, local_config& c) { c.has_ipv6 = false; },
     classify_reason::not_ours},
    {"UDP to another port", kind::udp4, [](frame&, local_config& c) { c.udp_port = 656; }, classify_reason::not_ours},
    {"udp-port 0: a port outside our lane ports", kind::udp6,
     [](frame&, local_config& c) {
         c.udp_port = 0;
         c.udp_lane_base = port_b + 1;
     },
     classify_reason::not_ours},
    {"udp-port 0: a port below our lane ports", kind::udp4,
     [](frame&, local_config& c) {
         c.udp_port = 0;
         c.udp_lane_base = port_b - udp_lanes;
     },
     classify_reason::not_ours},
    {"ICMP echo request (a ping: code 0)", kind::icmp4, [](frame& f, local_config&) { ip_of(f)[20] = 8; ip_of(f)[21] = 0; },
     classify_reason::not_ours},
    {"ICMPv6 echo request (a ping: code 0)", kind::icmp6,
     [](frame& f, local_config&) { ip_of(f)[40] = 128; ip_of(f)[41] = 0; }, classify_reason::not_ours},
    {"ICMP echo request code 255: dvpe's other role", kind::icmp4, [](frame& f, local_config&) { ip_of(f)[20] = 8; },
     classify_reason::ok},
    {"ICMPv6 echo request code 255: dvpe's other role", kind::icmp6,
     [](frame& f, local_config&) { ip_of(f)[40] = 128; }, classify_reason::ok},
    {"ICMP echo request with a non-echo icmp-type", kind::icmp4,
     [](frame& f, local_config& c) { ip_of(f)[20] = 8; set_icmp_type(c, 13); }, classify_reason::not_ours},
    {"ICMP timestamp with icmp-type 0", kind::icmp4, [](frame& f, local_config&) { ip_of(f)[20] = 13; },
     classify_reason::not_ours},
    {"ICMPv4 type 128 with icmp-type 128", kind::icmp4, [](frame& f, local_config& c) { ip_of(f)[20] = 128; set_icmp_type(c, 128); },
     classify_reason::ok},
    {"ICMPv4 type 129 with icmp-type 128 (no echo: one type)", kind::icmp4,
     [](frame& f, local_config& c) { ip_of(f)[20] = 129; set_icmp_type(c, 128); }, classify_reason::not_ours},
    {"ICMPv6 type 129 with icmp-type 128 (no echo: one type)", kind::icmp6,
     [](frame& f, local_config& c) { ip_of(f)[40] = 129; set_icmp_type(c, 128); }, classify_reason::not_ours},
    {"ICMP type ours but icmp disabled", kind::icmp4,
     [](frame&, local_config& c) { c.enabled &= static_cast<uint8_t>(~kind_bit(kind::icmp4)); }, classify_reason::not_ours},
    {"TCP to us", kind::rawip4,
     [](frame& f, local_config&) {
         ip_of(f)[9] = 6;
         fix_ip4_checksum(f);
     },
     classify_reason::not_ours},
    {"IPv6 no next header", kind::rawip6, [](frame& f, local_config&) { ip_of(f)[6] = 59; }, classify_reason::not_ours},
    {"IPv4 fragment of a foreign protocol", kind::rawip4,
     [](frame& f, local_config&) {
         ip_of(f)[9] = 6;
         ip_of(f)[6] |= 0x20;
         fix_ip4_checksum(f);
     },
     classify_reason::not_ours},
    // ---- bad_ip_header ----
    {"IPv4 version 5", kind::udp4,
     [](frame& f, local_config&) {
         ip_of(f)[0] = 0x55;
         fix_ip4_checksum(f);
     },
     classify_reason::bad_ip_header},
    {"IPv4 IHL 4", kind::udp4, [](frame& f, local_config&) { ip_of(f)[0] = 0x44; }, classify_reason::bad_ip_header},
    {"IPv4 total length below IHL", kind::udp4,
     [](frame& f, local_config&) {
         set16(ip_of(f) + 2, 19);
         fix_ip4_checksum(f);
     },
     classify_reason::bad_ip_header},
    {"IPv4 header checksum", kind::rawip4, [](frame& f, local_config&) { ip_of(f)[11] ^= 1; }, classify_reason::bad_ip_header},
    {"IPv4 header bit flip", kind::rawip4, [](frame& f, local_config&) { ip_of(f)[8] ^= 0x10; },
     classify_reason::bad_ip_header},
    {"IPv6 version 4", kind::udp6, [](frame& f, local_config&) { ip_of(f)[0] = 0x40; }, classify_reason::bad_ip_header},
    {"IPv6 payload length 0", kind::udp6, [](frame& f, local_config&) { set16(ip_of(f) + 4, 0); },
     classify_reason::bad_ip_header},
    // ---- fragment ----
    {"IPv4 more fragments", kind::udp4,
     [](frame& f, local_config&) {
         ip_of(f)[6] |= 0x20;
         fix_ip4_checksum(f);
     },
     classify_reason::fragment},
    {"IPv4 fragment offset", kind::icmp4,
     [](frame& f, local_config&) {
         ip_of(f)[7] = 0x10;
         fix_ip4_checksum(f);
     },
     classify_reason::fragment},
    {"IPv4 last fragment of rawip", kind::rawip4,
     [](frame& f, local_config&) {
         set16(ip_of(f) + 6, 0x0100);  // DF clear, MF clear, offset 256
         fix_ip4_checksum(f);
     },
     classify_reason::fragment},
    {"IPv6 fragment header, UDP inside", kind::udp6,
     [](frame& f, local_config&) {
         ip_of(f)[6] = 44;
         ip_of(f)[40] = 17;
     },
     classify_reason::fragment},
    {"IPv6 fragment header, foreign protocol", kind::udp6,
     [](frame& f, local_config&) {
         ip_of(f)[6] = 44;
         ip_of(f)[40] = 6;
     },
     classify_reason::not_ours},
    // ---- ipv6_ext_header ----
    {"IPv6 hop-by-hop", kind::udp6, [](frame& f, local_config&) { ip_of(f)[6] = 0; }, classify_reason::ipv6_ext_header},
    {"IPv6 routing header", kind::udp6, [](frame& f, local_config&) { ip_of(f)[6] = 43; }, classify_reason::ipv6_ext_header},
    {"IPv6 destination options", kind::udp6, [](frame& f, local_config&) { ip_of(f)[6] = 60; },
     classify_reason::ipv6_ext_header},
    {"IPv6 rawip on an extension number is rawip", kind::rawip6,
     [](frame& f, local_config& c) {
         ip_of(f)[6] = 253;
         c.ip_proto = 253;
     },
     classify_reason::ok},
    // ---- bad_udp_length ----
    {"UDP length 7", kind::udp4, [](frame& f, local_config&) { set16(ip_of(f) + 24, 7); }, classify_reason::bad_udp_length},
    {"UDP length beyond IP payload", kind::udp4,
     [](frame& f, local_config&) { set16(ip_of(f) + 24, static_cast<uint16_t>(f.size() - 14 - 20 + 1)); },
     classify_reason::bad_udp_length},
    {"UDP header truncated by IP length", kind::udp4,
     [](frame& f, local_config&) {
         set16(ip_of(f) + 2, 20 + 4);
         fix_ip4_checksum(f);
     },
     classify_reason::bad_udp_length},
    {"UDP/IPv6 length beyond IP payload", kind::udp6,
     [](frame& f, local_config&) { set16(ip_of(f) + 44, static_cast<uint16_t>(f.size() - 14 - 40 + 2)); },
     classify_reason::bad_udp_length},
    // ---- bad_icmp ----
    {"ICMP code 0 (an ordinary echo reply: the host's)", kind::icmp4, [](frame& f, local_config&) { ip_of(f)[21] = 0; },
     classify_reason::not_ours},
    {"ICMPv6 code 254 (an echo reply: the host's)", kind::icmp6, [](frame& f, local_config&) { ip_of(f)[41] = 254; },
     classify_reason::not_ours},
    {"ICMP icmp-type 13, code 0", kind::icmp4,
     [](frame& f, local_config& c) { ip_of(f)[20] = 13; ip_of(f)[21] = 0; set_icmp_type(c, 13); },
     classify_reason::bad_icmp},
    {"ICMPv6 icmp-type 200, code 254", kind::icmp6,
     [](frame& f, local_config& c) { ip_of(f)[40] = 200; ip_of(f)[41] = 254; set_icmp_type(c, 200); },
     classify_reason::bad_icmp},
    // ---- disabled_transport ----
    {"udp4 disabled", kind::udp4, [](frame&, local_config& c) { c.enabled = kind_bit(kind::udp6); },
     classify_reason::disabled_transport},
    {"udp6 disabled", kind::udp6, [](frame&, local_config& c) { c.enabled = kind_bit(kind::udp4); },
     classify_reason::disabled_transport},
    {"rawip4 disabled", kind::rawip4, [](frame&, local_config& c) { c.enabled = kind_bit(kind::rawip6); },
     classify_reason::disabled_transport},
    {"rawip6 disabled", kind::rawip6, [](frame&, local_config& c) { c.enabled = 0; }, classify_reason::disabled_transport},
    // ---- shapes that are fine ----
    {"UDP datagram shorter than IP payload", kind::udp4,
     [](frame& f, local_config&) { set16(ip_of(f) + 24, static_cast<uint16_t>(f.size() - 14 - 20 - 10)); },
     classify_reason::ok},
};

// classify_fast() is a subset of classify(): a span only where classify() says ok, with the same
// offset and length; and it does find the plain IPv4 shapes (no options, kinds udp4/rawip4/icmp4).
void expect_fast_agrees(const uint8_t* f, uint32_t len, const local_config& cfg, const classify_result& r,
                        const std::string& what) {
    const dvpe_span fast = classify_fast(f, len, cfg);
    if (fast.dvpe_len != 0) {
        ASSERT_EQ(classify_reason_name(r.reason), "ok") << what;
        EXPECT_EQ(fast.dvpe_offset, r.dvpe_offset) << what;
        EXPECT_EQ(fast.dvpe_len, r.dvpe_len) << what;
    } else if (r.reason == classify_reason::ok && !is_ipv6(r.k) && len > 14 && f[14] == 0x45) {
        ADD_FAILURE() << what << ": classify() accepts an option-less IPv4 frame the fast path missed";
    }
}

TEST(classify, every_reason) {
    static_assert(sizeof(reason_cases) / sizeof(reason_cases[0]) > 40);
    bool seen[n_classify_reasons] = {};
    size_t i = 0;
    for (const reason_case& c : reason_cases) {
        ++i;
        frame f = make_frame(c.k, 64, static_cast<uint32_t>(i));
        local_config cfg = config_b();
        c.mutate(f, cfg);
        const classify_result r = classify(f.data(), static_cast<uint32_t>(f.size()), cfg);
        EXPECT_EQ(classify_reason_name(r.reason), classify_reason_name(c.expect)) << "case " << i << ": " << c.name;
        expect_fast_agrees(f.data(), static_cast<uint32_t>(f.size()), cfg, r, c.name);
        seen[static_cast<size_t>(r.reason)] = true;
        if (r.reason == classify_reason::ok || r.reason == classify_reason::bad_icmp ||
            r.reason == classify_reason::disabled_transport) {
            EXPECT_EQ(r.k, c.k) << "case " << i << ": " << c.name;
        }
    }
    for (size_t r = 0; r < n_classify_reasons; ++r) {
        EXPECT_TRUE(seen[r]) << "no case for " << classify_reason_names[r];
    }
}

TEST(classify, padding_of_short_frames_is_ignored) {
    for (kind k : {kind::rawip4, kind::icmp4, kind::udp4}) {
        frame f = make_frame(k, 8);  // 42..50 bytes: below Ethernet's 60-byte minimum
        ASSERT_LT(f.size(), 60u);
        f.resize(60, 0xee);
        const classify_result r = classify(f.data(), static_cast<uint32_t>(f.size()), config_b());
        ASSERT_EQ(r.reason, classify_reason::ok) << kind_name(k);
        EXPECT_EQ(r.dvpe_len, 8) << kind_name(k);
    }
    frame f = make_frame(kind::rawip6, 8);
    f.resize(f.size() + 30, 0xee);  // trailer after an IPv6 packet too
    const classify_result r = classify(f.data(), static_cast<uint32_t>(f.size()), config_b());
    ASSERT_EQ(r.reason, classify_reason::ok);
    EXPECT_EQ(r.dvpe_len, 8);
}

TEST(classify, ipv4_options_are_skipped) {
    const auto dvpe = random_bytes(40, 3);
    frame plain = make_frame(kind::udp4, dvpe, endpoints_a_to_b(kind::udp4));
    // Built by insertion (not memset into a resized vector: GCC 12's -Warray-bounds misreads
    // that once make_frame is inlined).
    frame f(plain.begin(), plain.begin() + 34);                   // Ethernet + IPv4 header
    f.insert(f.end(), 8, 1);                                      // 8 bytes of NOP options
    f.insert(f.end(), plain.begin() + 34, plain.end());
    ip_of(f)[0] = 0x47;
    set16(ip_of(f) + 2, static_cast<uint16_t>(f.size() - 14));
    fix_ip4_checksum(f);
    const classify_result r = classify(f.data(), static_cast<uint32_t>(f.size()), config_b());
    ASSERT_EQ(r.reason, classify_reason::ok);
    EXPECT_EQ(r.dvpe_offset, 14 + 28 + 8);
    EXPECT_EQ(r.dvpe_len, 40);
    EXPECT_EQ(std::memcmp(f.data() + r.dvpe_offset, dvpe.data(), 40), 0);
}

TEST(classify, udp_port_zero_accepts_exactly_the_lane_ports) {
    local_config cfg = config_b();
    cfg.udp_port = 0;
    cfg.udp_lane_base = udp_lane_port_base(2);
    for (unsigned port = 0; port < 65536; ++port) {
        const bool lane = port >= cfg.udp_lane_base && port < unsigned{cfg.udp_lane_base} + udp_lanes;
        ASSERT_EQ(accepts_udp_port(cfg, static_cast<uint16_t>(port)), lane) << port;
    }
    for (kind k : {kind::udp4, kind::udp6}) {
        endpoint_pair ep = endpoints_a_to_b(k);
        ep.dst_port = static_cast<uint16_t>(cfg.udp_lane_base + control_lane);
        frame f = make_frame(k, random_bytes(40, 9), ep);
        const classify_result r = classify(f.data(), static_cast<uint32_t>(f.size()), cfg);
        EXPECT_EQ(classify_reason_name(r.reason), "ok") << kind_name(k);
        expect_fast_agrees(f.data(), static_cast<uint32_t>(f.size()), cfg, r, "lane port");
        ep.dst_port = 0;  // port 0 itself is never ours
        frame g = make_frame(k, random_bytes(40, 9), ep);
        EXPECT_EQ(classify(g.data(), static_cast<uint32_t>(g.size()), cfg).reason, classify_reason::not_ours);
    }
}

TEST(classify, reason_names_are_counter_keys) {
    for (std::string_view n : classify_reason_names) {
        ASSERT_FALSE(n.empty());
        for (char ch : n) {
            EXPECT_TRUE((ch >= 'a' && ch <= 'z') || ch == '_' || (ch >= '0' && ch <= '9')) << n;
        }
    }
}

// Random byte flips and truncations of valid frames: never out of bounds (ASan), and an ok
// result always lies inside the frame and is at least a common header long.
TEST(classify, random_mutations_stay_in_bounds) {
    std::mt19937 rng(2024);
    const local_config cfg = config_b();
    size_t n_ok = 0;
    for (int iter = 0; iter < 20000; ++iter) {
        const kind k = static_cast<kind>(rng() % n_wire_kinds);
        frame f = make_frame(k, 8 + rng() % 100, rng());
        const int flips = static_cast<int>(rng() % 4);
        for (int j = 0; j < flips; ++j) {
            f[rng() % std::min<size_t>(f.size(), 70)] ^= static_cast<uint8_t>(1u << (rng() % 8));
        }
        if (rng() % 4 == 0) {
            f.resize(rng() % (f.size() + 1));
        }
        // Copy into an exactly sized heap buffer so ASan sees any overread.
        std::unique_ptr<uint8_t[]> buf(new uint8_t[f.size()]);
        if (!f.empty()) {
            std::memcpy(buf.get(), f.data(), f.size());
        }
        const classify_result r = classify(buf.get(), static_cast<uint32_t>(f.size()), cfg);
        if (f.size() > 14) {
            expect_fast_agrees(buf.get(), static_cast<uint32_t>(f.size()), cfg, r, "iteration " + std::to_string(iter));
        }
        if (r.reason == classify_reason::ok) {
            ++n_ok;
            ASSERT_GE(r.dvpe_len, sizeof(dvpe_header));
            ASSERT_LE(size_t{r.dvpe_offset} + r.dvpe_len, f.size());
        }
    }
    EXPECT_GT(n_ok, 1000u);
}

// The fast path against classify() under other node configurations: transports disabled,
// another port, ICMP type or raw IP protocol, no IPv4 address.
TEST(classify, fast_path_agrees_under_every_config) {
    std::mt19937 rng(77);
    size_t n_fast = 0;
    for (int iter = 0; iter < 20000; ++iter) {
        local_config cfg = config_b();
        cfg.enabled = static_cast<uint8_t>(rng() % 4 == 0 ? rng() & all_kinds : all_kinds);
        if (rng() % 8 == 0) {
            cfg.udp_port = static_cast<uint16_t>(cfg.udp_port + 1);
        } else if (rng() % 8 == 0) {  // udp-port 0: the frame's port 655 may be one of our lane ports
            cfg.udp_port = 0;
            cfg.udp_lane_base = static_cast<uint16_t>(port_b - rng() % 20);
        }
        if (rng() % 8 == 0) {
            set_icmp_type(cfg, static_cast<uint8_t>(rng() % 4 == 0 ? 8 : rng() % 3 == 0 ? 13 : cfg.icmp_type + 1));
        }
        if (rng() % 8 == 0) {
            cfg.ip_proto = static_cast<uint8_t>(rng() % 3 == 0 ? 17 : rng() % 3 == 0 ? 1 : cfg.ip_proto + 1);
        }
        if (rng() % 16 == 0) {
            cfg.has_ipv4 = false;
        }
        const kind k = static_cast<kind>(rng() % n_wire_kinds);
        frame f = make_frame(k, rng() % 80, rng());
        if (rng() % 2 == 0) {
            f[rng() % std::min<size_t>(f.size(), 60)] ^= static_cast<uint8_t>(1u << (rng() % 8));
        }
        if (rng() % 8 == 0) {
            f.resize(f.size() + rng() % 20, 0);  // Ethernet padding
        }
        std::unique_ptr<uint8_t[]> buf(new uint8_t[f.size()]);
        std::memcpy(buf.get(), f.data(), f.size());
        const auto len = static_cast<uint32_t>(f.size());
        const classify_result r = classify(buf.get(), len, cfg);
        expect_fast_agrees(buf.get(), len, cfg, r, "iteration " + std::to_string(iter));
        n_fast += classify_fast(buf.get(), len, cfg).dvpe_len != 0;
    }
    EXPECT_GT(n_fast, 3000u);
}

}  // namespace
}  // namespace transport
