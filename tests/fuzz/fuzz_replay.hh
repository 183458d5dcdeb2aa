// SPDX-License-Identifier: MIT
// The contract between fuzz_replay_main.cc (the main() of every *_fuzz_replay executable, built
// with any compiler) and a fuzz target. A target defines LLVMFuzzerTestOneInput() (libFuzzer's
// entry point) and may define:
//   LLVMFuzzerInitialize()   libFuzzer's optional one-time setup; the replay main calls it too;
//   dvpe_fuzz_generate()     the target's own crafted inputs plus `iterations` random ones drawn
//                            from `seed`, each passed to `run`; returns how many it ran. Without
//                            it the replay main runs `iterations` random inputs of up to
//                            --max-len bytes.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {
using dvpe_fuzz_run_fn = void (*)(const uint8_t* data, size_t size);
size_t dvpe_fuzz_generate(uint64_t iterations, uint64_t seed, dvpe_fuzz_run_fn run);
}

namespace fuzz_replay {

/// splitmix64: the replay main's and the targets' deterministic random source.
inline uint64_t next(uint64_t& s) noexcept {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31U);
}

}  // namespace fuzz_replay
