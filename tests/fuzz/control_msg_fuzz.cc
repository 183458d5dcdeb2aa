// SPDX-License-Identifier: MIT
// libFuzzer target: transports::parse_control() (transports/control_msg.hh), the parser of the
// plaintext a peer's control message carries. The input lies in a heap buffer of exactly its
// length, so a read past its end is an ASan report. Oracles: whatever it accepts encodes back
// to exactly the input; an accepted connect_info has a unicast address of the family its kind
// says and a port exactly when it is udp; node ids are 1..4095.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "tests/fuzz/fuzz_replay.hh"
#include "transports/control_msg.hh"

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "control_msg_fuzz: oracle violated: %s\n", what);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto buf = std::make_unique<uint8_t[]>(size == 0 ? 1 : size);
    if (size != 0) {
        std::memcpy(buf.get(), data, size);
    }
    const auto m = transport::parse_control(std::span<const uint8_t>(buf.get(), size));
    if (!m) {
        return 0;
    }
    size_t len = 0;
    const auto b = transport::encode_control(*m, len);
    if (len != size || std::memcmp(b.data(), data, size) != 0) {
        fail("accepted bytes do not encode back to themselves");
    }
    if (const auto* ci = std::get_if<transport::connect_info>(&*m)) {
        if (ci->node < 1 || ci->node > 4095 || ci->ip.v6 != transport::is_ipv6(ci->k) ||
            transport::is_udp(ci->k) != (ci->udp_port != 0) || !transport::unicast_address(ci->ip)) {
            fail("connect_info out of range");
        }
    } else if (const auto& r = std::get<transport::connect_req>(*m); r.node < 1 || r.node > 4095) {
        fail("connect_req node out of range");
    }
    return 0;
}

// Crafted: both messages valid, then each truncated, extended, repeated and with every byte
// flipped; then random inputs biased towards the two types and sizes.
extern "C" size_t dvpe_fuzz_generate(uint64_t iterations, uint64_t seed, dvpe_fuzz_run_fn run) {
    size_t n = 0;
    std::vector<std::vector<uint8_t>> good;
    for (const transport::control_message& m :
         {transport::control_message{transport::connect_req{42}},
          transport::control_message{transport::connect_info{7, transport::kind::udp4, 31000,
                                                             transport::ip_address::from_v4(0x0971'00cbU)}}}) {
        size_t len = 0;
        auto b = transport::encode_control(m, len);
        good.emplace_back(b.begin(), b.begin() + static_cast<long>(len));
    }
    for (const auto& g : good) {
        run(g.data(), g.size()), ++n;
        for (size_t k = 0; k <= g.size(); ++k) {
            run(g.data(), k), ++n;
        }
        auto twice = g;
        twice.insert(twice.end(), g.begin(), g.end());
        run(twice.data(), twice.size()), ++n;
        for (size_t i = 0; i < g.size(); ++i) {
            for (unsigned bit = 0; bit < 8; ++bit) {
                auto f = g;
                f[i] ^= static_cast<uint8_t>(1U << bit);
                run(f.data(), f.size()), ++n;
            }
        }
    }
    uint64_t s = seed;
    for (uint64_t i = 0; i < iterations; ++i) {
        const uint64_t r = fuzz_replay::next(s);
        std::vector<uint8_t> b((r & 1) ? (r & 2 ? 4 : 24) : (r >> 8) % 40);
        for (auto& x : b) {
            x = static_cast<uint8_t>(fuzz_replay::next(s));
        }
        if (!b.empty() && (r & 4)) {
            b[0] = (r & 8) ? 1 : 2;
        }
        run(b.data(), b.size()), ++n;
    }
    return n;
}
