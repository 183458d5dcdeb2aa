// SPDX-License-Identifier: MIT
// A main() for libFuzzer targets on compilers without -fsanitize=fuzzer (g++): runs
// LLVMFuzzerTestOneInput over (1) every file named on the command line (a corpus or a crash
// reproducer), then (2) a generated corpus: for every mode, the unmodified message, each single
// bit flip and truncations at every length, then `--iterations N` random inputs (`--seed S`).
// Registered as a unit test, so the fuzz target's oracles run in every CI build.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

uint64_t next(uint64_t& s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31U);
}

void run(const std::vector<uint8_t>& in) { LLVMFuzzerTestOneInput(in.data(), in.size()); }

}  // namespace

int main(int argc, char** argv) {
    uint64_t iterations = 20000;
    uint64_t seed = 1;
    size_t n_files = 0;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
            iterations = std::strtoull(argv[++i], nullptr, 10);
        } else if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = std::strtoull(argv[++i], nullptr, 10);
        } else {
            std::ifstream f(argv[i], std::ios::binary);
            if (!f) {
                std::fprintf(stderr, "cannot read %s\n", argv[i]);
                return 2;
            }
            run(std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {}));
            ++n_files;
        }
    }
    size_t n = 0;
    // Crafted: modes 1..3 (mutations of valid messages) under load and not, unchanged, each single
    // bit flip over 200 bytes (offset 0), and truncations/extensions of raw messages.
    for (uint8_t mode = 1; mode <= 3; ++mode) {
        for (uint8_t load = 0; load < 2; ++load) {
            run({mode, load, 0});
            ++n;
            for (size_t bit = 0; bit < 200 * 8; ++bit) {
                std::vector<uint8_t> in(3 + 200, 0);
                in[0] = mode;
                in[1] = load;
                in[2] = 0;
                in[3 + bit / 8] = static_cast<uint8_t>(1U << (bit % 8));
                run(in);
                ++n;
            }
        }
    }
    for (size_t len = 0; len < 200; ++len) {
        for (uint8_t type = 0; type < 6; ++type) {
            std::vector<uint8_t> in(3 + len, 0);
            in[0] = 0;
            in[1] = static_cast<uint8_t>(len & 1U);
            in[2] = 9;
            if (len > 0) in[3] = type;
            if (len > 1) in[4] = 0x10;
            if (len > 3) in[6] = 1;  // src 1
            if (len > 4) in[7] = 2;  // dst 2
            run(in);
            ++n;
        }
    }
    // Random: raw garbage and random XOR masks.
    uint64_t s = seed;
    for (uint64_t i = 0; i < iterations; ++i) {
        const size_t len = next(s) % 260;
        std::vector<uint8_t> in(len);
        for (uint8_t& b : in) {
            b = static_cast<uint8_t>(next(s));
        }
        if (len > 8 && next(s) % 2 == 0) {
            in[3] = 2 + static_cast<uint8_t>(next(s) % 3);  // a plausible type in raw mode
            in[4] = 0x10;
        }
        run(in);
        ++n;
    }
    std::printf("handshake_fuzz_replay: %zu files, %zu generated inputs, no oracle violated\n", n_files, n);
    return 0;
}
