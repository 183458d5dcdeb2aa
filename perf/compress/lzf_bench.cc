// SPDX-License-Identifier: MIT
// What GVPE's `compress = yes` would cost a dvpe worker (issue 17 point 2): LZF (Debian's liblzf,
// the algorithm GVPE links) compressing and decompressing overlay payloads of the sizes and kinds
// a gateway carries, per packet, beside AES-256-GCM sealing the same bytes (perf/crypto). Payload
// kinds: `text` (HTTP headers, JSON, HTML -- what compresses), `tls` (random bytes: TLS, SSH,
// QUIC, WireGuard, already-compressed media -- most of today's traffic), `imix` (7:4:1 of 64 B,
// 576 B and 1400 B frames, tls). Counters: bytes_out/bytes_in is the compressed share (1.0 or
// more: nothing gained, the packet is sent as is). docs/performance.md "compress" has the numbers
// and the decision.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include <liblzf/lzf.h>
}

namespace {

std::vector<uint8_t> payload(const std::string& kind, size_t n, uint32_t seed) {
    std::vector<uint8_t> p(n);
    if (kind == "text") {
        static const std::string corpus =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-cache\r\n"
            "Server: nginx\r\nDate: Mon, 07 Dec 2026 05:00:00 GMT\r\n\r\n{\"peers\":[{\"id\":2,\"name\":\"beta\","
            "\"state\":\"up\",\"rx_packets\":1000,\"tx_packets\":900},{\"id\":3,\"name\":\"gamma\",\"state\":"
            "\"connecting\"}],\"ok\":true}<html><head><title>dvpe</title></head><body><p>status</p></body></html>";
        for (size_t i = 0; i < n; ++i) {
            p[i] = static_cast<uint8_t>(corpus[(i + seed) % corpus.size()]);
        }
    } else {
        std::mt19937 g(seed);
        for (auto& b : p) {
            b = static_cast<uint8_t>(g());
        }
    }
    // an IPv4 + TCP header in front, as an overlay frame carries it (compressible in both kinds)
    if (n >= 40) {
        static const uint8_t hdr[40] = {0x45, 0, 0x05, 0x78, 0x12, 0x34, 0x40, 0, 0x40, 6, 0, 0, 10, 0, 0, 1,
                                        10, 0, 0, 2, 0x1f, 0x90, 0xc3, 0x50, 0, 0, 0, 1, 0, 0, 0, 2,
                                        0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0};
        std::memcpy(p.data(), hdr, sizeof hdr);
    }
    return p;
}

void compress(benchmark::State& st, const std::string& kind, size_t size) {
    std::vector<std::vector<uint8_t>> in;
    for (uint32_t s = 0; s < 64; ++s) {
        in.push_back(payload(kind, size, s));
    }
    std::vector<uint8_t> out(size + 64);
    uint64_t bytes_in = 0, bytes_out = 0, i = 0;
    for (auto _ : st) {
        const auto& p = in[i++ % in.size()];
        // LZF returns 0 when the output would not be smaller than out's size: then sent as is
        unsigned r = lzf_compress(p.data(), static_cast<unsigned>(p.size()), out.data(), static_cast<unsigned>(p.size() - 1));
        benchmark::DoNotOptimize(r);
        bytes_in += p.size();
        bytes_out += r != 0 ? r : p.size();
    }
    st.counters["ratio"] = static_cast<double>(bytes_out) / static_cast<double>(bytes_in);
    st.SetBytesProcessed(static_cast<int64_t>(bytes_in));
    st.SetItemsProcessed(st.iterations());
}

void decompress(benchmark::State& st, const std::string& kind, size_t size) {
    std::vector<std::vector<uint8_t>> in;
    for (uint32_t s = 0; s < 64; ++s) {
        auto p = payload(kind, size, s);
        std::vector<uint8_t> c(size + 64);
        unsigned r = lzf_compress(p.data(), static_cast<unsigned>(p.size()), c.data(), static_cast<unsigned>(c.size()));
        c.resize(r);
        in.push_back(c);
    }
    std::vector<uint8_t> out(size + 64);
    uint64_t i = 0;
    for (auto _ : st) {
        const auto& c = in[i++ % in.size()];
        unsigned r = lzf_decompress(c.data(), static_cast<unsigned>(c.size()), out.data(), static_cast<unsigned>(out.size()));
        benchmark::DoNotOptimize(r);
    }
    st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * size));
    st.SetItemsProcessed(st.iterations());
}

void register_all() {
    for (const std::string kind : {"text", "tls"}) {
        for (size_t size : {64, 576, 1400}) {
            benchmark::RegisterBenchmark(("lzf_compress/" + kind + "/" + std::to_string(size)).c_str(),
                                         [kind, size](benchmark::State& s) { compress(s, kind, size); });
            benchmark::RegisterBenchmark(("lzf_decompress/" + kind + "/" + std::to_string(size)).c_str(),
                                         [kind, size](benchmark::State& s) { decompress(s, kind, size); });
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    register_all();
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
