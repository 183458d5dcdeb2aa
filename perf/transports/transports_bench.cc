// SPDX-License-Identifier: MIT
// Benchmarks of the transports hot path (docs/design.md §12), in bursts of 32 packets as workers run
// them: write_outer() per kind x dvpe packet size (64, 512, 1420 B), the checksum payload pass
// (ours beside DPDK 22.11's rte_raw_cksum), and classify() per kind. Counter `t/pkt` is the
// time per packet (printed with an SI prefix: 12.3n = 12.3 ns), `pps` the packet rate.
// Run: build-tr/perf/transports/transports_bench --benchmark_repetitions=5
//      --benchmark_report_aggregates_only=true
#include "transports/classify.hh"
#include "transports/outer.hh"

#include <benchmark/benchmark.h>

#include <rte_ip.h>

#include <cstring>
#include <random>
#include <vector>

namespace {

using namespace transport;

constexpr size_t burst = 32;
constexpr uint8_t ip6_a[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a};
constexpr uint8_t ip6_b[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b};

endpoint_pair endpoints(kind k) {
    endpoint_pair ep;
    ep.src_mac = rte_ether_addr{{2, 0, 0, 0, 0, 0xa}};
    ep.dst_mac = rte_ether_addr{{2, 0, 0, 0, 0, 0xb}};
    ep.src_ip = is_ipv6(k) ? ip_address::from_v6(ip6_a) : ip_address::from_v4(rte_cpu_to_be_32(0x0a4d0001));
    ep.dst_ip = is_ipv6(k) ? ip_address::from_v6(ip6_b) : ip_address::from_v4(rte_cpu_to_be_32(0x0a4d0002));
    ep.icmp_type = is_ipv6(k) ? icmp6_type_for(0) : 0;
    return ep;
}

local_config config_b() {
    local_config c;
    c.ipv4 = rte_cpu_to_be_32(0x0a4d0002);
    c.has_ipv4 = true;
    std::memcpy(c.ipv6.data(), ip6_b, 16);
    c.has_ipv6 = true;
    return c;
}

/// `burst` packet buffers of 2 KiB (mbuf-like stride), payload at headroom(k), random bytes.
struct packets {
    packets() : data(burst * 2048) {
        std::mt19937 rng(1);
        for (auto& b : data) {
            b = static_cast<uint8_t>(rng());
        }
    }
    uint8_t* at(size_t i) { return data.data() + i * 2048 + 64; }  // 64 B of "headroom" slack
    std::vector<uint8_t> data;
};

void set_counters(benchmark::State& st) {
    const double n = static_cast<double>(st.iterations()) * burst;
    st.counters["t/pkt"] = benchmark::Counter(n, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    st.counters["pps"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
}

template <kind K>
void write_outer_bench(benchmark::State& st, checksum_mode mode) {
    const auto len = static_cast<uint16_t>(st.range(0));
    endpoint_pair ep = endpoints(K);
    ep.udp6_checksum = mode;
    const outer_template t = *build_template(K, ep);
    packets p;
    for (auto _ : st) {
        for (size_t i = 0; i < burst; ++i) {
            write_outer<K>(t, p.at(i), len, static_cast<uint16_t>(40000 + (i & 1)));
        }
        benchmark::ClobberMemory();
    }
    set_counters(st);
}

template <kind K>
void BM_write_outer(benchmark::State& st) {
    write_outer_bench<K>(st, checksum_mode::software);
}

void BM_write_outer_udp6_offload(benchmark::State& st) {
    write_outer_bench<kind::udp6>(st, checksum_mode::offload);
}

void BM_write_outer_runtime_dispatch_udp4(benchmark::State& st) {
    const auto len = static_cast<uint16_t>(st.range(0));
    const outer_template t = *build_template(kind::udp4, endpoints(kind::udp4));
    packets p;
    for (auto _ : st) {
        for (size_t i = 0; i < burst; ++i) {
            write_outer(t, p.at(i), len, 40000);
        }
        benchmark::ClobberMemory();
    }
    set_counters(st);
}

void BM_checksum_ones_sum(benchmark::State& st) {
    const auto len = static_cast<size_t>(st.range(0));
    packets p;
    for (auto _ : st) {
        for (size_t i = 0; i < burst; ++i) {
            benchmark::DoNotOptimize(csum::fold(csum::ones_sum(p.at(i), len)));
        }
    }
    set_counters(st);
}

void BM_checksum_rte_raw_cksum(benchmark::State& st) {
    const auto len = static_cast<size_t>(st.range(0));
    packets p;
    for (auto _ : st) {
        for (size_t i = 0; i < burst; ++i) {
            benchmark::DoNotOptimize(rte_raw_cksum(p.at(i), len));
        }
    }
    set_counters(st);
}

template <kind K>
void BM_classify(benchmark::State& st) {
    const auto len = static_cast<uint16_t>(st.range(0));
    const outer_template t = *build_template(K, endpoints(K));
    packets p;
    for (size_t i = 0; i < burst; ++i) {
        write_outer<K>(t, p.at(i), len, 40000);
    }
    const local_config cfg = config_b();
    const uint32_t frame_len = headroom(K) + len;
    for (auto _ : st) {
        for (size_t i = 0; i < burst; ++i) {
            const classify_result r = classify(p.at(i), frame_len, cfg);
            benchmark::DoNotOptimize(r);
        }
    }
    const classify_result r = classify(p.at(0), frame_len, cfg);
    if (r.reason != classify_reason::ok || r.k != K) {
        st.SkipWithError("classify did not accept the frame");
    }
    set_counters(st);
}

void sizes(benchmark::internal::Benchmark* b) {
    b->Arg(64)->Arg(512)->Arg(1420);
}

BENCHMARK_TEMPLATE(BM_write_outer, kind::udp4)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_write_outer, kind::udp6)->Apply(sizes);
BENCHMARK(BM_write_outer_udp6_offload)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_write_outer, kind::rawip4)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_write_outer, kind::rawip6)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_write_outer, kind::icmp4)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_write_outer, kind::icmp6)->Apply(sizes);
BENCHMARK(BM_write_outer_runtime_dispatch_udp4)->Apply(sizes);
BENCHMARK(BM_checksum_ones_sum)->Apply(sizes);
BENCHMARK(BM_checksum_rte_raw_cksum)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_classify, kind::udp4)->Arg(64)->Arg(1420);
BENCHMARK_TEMPLATE(BM_classify, kind::udp6)->Arg(64)->Arg(1420);
BENCHMARK_TEMPLATE(BM_classify, kind::rawip4)->Arg(64)->Arg(1420);
BENCHMARK_TEMPLATE(BM_classify, kind::rawip6)->Arg(64)->Arg(1420);
BENCHMARK_TEMPLATE(BM_classify, kind::icmp4)->Arg(64)->Arg(1420);
BENCHMARK_TEMPLATE(BM_classify, kind::icmp6)->Arg(64)->Arg(1420);

}  // namespace

BENCHMARK_MAIN();
