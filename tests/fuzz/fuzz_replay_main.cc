// SPDX-License-Identifier: MIT
// A main() for libFuzzer targets on compilers without -fsanitize=fuzzer (g++): runs
// LLVMFuzzerTestOneInput over (1) every file named on the command line, and every regular file
// of every directory named (a committed corpus, in name order, or a crash reproducer), then
// (2) generated inputs: the target's dvpe_fuzz_generate() if it has one (fuzz_replay.hh), else
// `--iterations N` random inputs of up to `--max-len L` bytes (`--seed S`). With `--dump FILE`
// each input is written to FILE before it runs: after a crash FILE holds the reproducer. With
// `--save DIR` every generated input is also kept as DIR/gen-N (seeds for a libFuzzer corpus).
// Registered as a unit test, so every fuzz target's oracles and its corpus run in every CI build.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include "tests/fuzz/fuzz_replay.hh"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));
extern "C" size_t dvpe_fuzz_generate(uint64_t iterations, uint64_t seed, dvpe_fuzz_run_fn run)
    __attribute__((weak));

namespace {

const char* g_dump = nullptr;
const char* g_save = nullptr;
size_t g_saved = 0;

void run(const uint8_t* data, size_t size) {
    if (g_dump != nullptr) {
        std::ofstream(g_dump, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                        static_cast<std::streamsize>(size));
    }
    // A copy of exactly `size` bytes, as libFuzzer passes: reads past the end are caught by ASan.
    std::vector<uint8_t> in(data, data + size);
    LLVMFuzzerTestOneInput(in.data(), in.size());
}

void run_generated(const uint8_t* data, size_t size) {
    if (g_save != nullptr) {
        std::ofstream(std::string(g_save) + "/gen-" + std::to_string(g_saved++), std::ios::binary)
            .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    run(data, size);
}

bool run_file(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) {
        std::fprintf(stderr, "cannot read %s\n", p.c_str());
        return false;
    }
    std::vector<uint8_t> in(std::istreambuf_iterator<char>(f), {});
    run(in.data(), in.size());
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    uint64_t iterations = 20000;
    uint64_t seed = 1;
    size_t max_len = 260;
    std::vector<std::filesystem::path> paths;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
            iterations = std::strtoull(argv[++i], nullptr, 10);
        } else if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = std::strtoull(argv[++i], nullptr, 10);
        } else if (std::strcmp(argv[i], "--dump") == 0 && i + 1 < argc) {
            g_dump = argv[++i];
        } else if (std::strcmp(argv[i], "--save") == 0 && i + 1 < argc) {
            g_save = argv[++i];
        } else if (std::strcmp(argv[i], "--max-len") == 0 && i + 1 < argc) {
            max_len = std::strtoull(argv[++i], nullptr, 10);
        } else {
            paths.emplace_back(argv[i]);
        }
    }
    if (LLVMFuzzerInitialize != nullptr) {
        LLVMFuzzerInitialize(&argc, &argv);
    }
    const char* name = std::strrchr(argv[0], '/') != nullptr ? std::strrchr(argv[0], '/') + 1 : argv[0];
    size_t n_files = 0;
    for (const auto& p : paths) {
        std::error_code ec;
        if (std::filesystem::is_directory(p, ec)) {
            std::vector<std::filesystem::path> files;
            for (const auto& e : std::filesystem::directory_iterator(p, ec)) {
                if (e.is_regular_file()) {
                    files.push_back(e.path());
                }
            }
            std::sort(files.begin(), files.end());
            for (const auto& f : files) {
                if (!run_file(f)) {
                    return 2;
                }
                ++n_files;
            }
            continue;
        }
        if (!run_file(p)) {
            return 2;
        }
        ++n_files;
    }
    size_t n = 0;
    if (dvpe_fuzz_generate != nullptr) {
        n = dvpe_fuzz_generate(iterations, seed, run_generated);
    } else {
        uint64_t s = seed;
        std::vector<uint8_t> in;
        for (uint64_t i = 0; i < iterations; ++i) {
            in.resize(max_len == 0 ? 0 : fuzz_replay::next(s) % (max_len + 1));
            for (uint8_t& b : in) {
                b = static_cast<uint8_t>(fuzz_replay::next(s));
            }
            run_generated(in.data(), in.size());
            ++n;
        }
    }
    std::printf("%s: %zu files, %zu generated inputs, no oracle violated\n", name, n_files, n);
    return 0;
}
