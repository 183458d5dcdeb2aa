// SPDX-License-Identifier: MIT
// The EAL of a unit-test binary that needs real mbufs or ports: --no-huge, no PCI, no shared
// config, one lcore, a file prefix of its own (binaries may run side by side), and one pktmbuf
// pool. Register it once per binary:
//   const auto* g_env = ::testing::AddGlobalTestEnvironment(new unit_eal::env("seal_test", 1023));
// and use unit_eal::g_pool.
#pragma once

#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "crypto/init.hh"

namespace unit_eal {

inline rte_mempool* g_pool = nullptr;

class env : public ::testing::Environment {
public:
    /// `name`: the binary's (file prefix and pool name); `mbufs`: the pool's size; `with_crypto`:
    /// also crypto::init() (AEAD backends).
    env(std::string name, unsigned mbufs, unsigned memory_mb = 128, bool with_crypto = false)
        : _name(std::move(name)), _mbufs(mbufs), _memory_mb(memory_mb), _crypto(with_crypto) {}

    void SetUp() override {
        std::vector<std::string> args{_name, "--no-huge", "-m", std::to_string(_memory_mb), "--no-pci", "--no-shconf",
                                      "-l", "0", "--file-prefix=" + _name + std::to_string(getpid()),
                                      "--log-level=*:error"};
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0);
        if (_crypto) {
            ASSERT_TRUE(crypto::init());
        }
        g_pool = rte_pktmbuf_pool_create((_name + "_pool").c_str(), _mbufs, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
        ASSERT_NE(g_pool, nullptr);
    }
    void TearDown() override { rte_eal_cleanup(); }

private:
    std::string _name;
    unsigned _mbufs;
    unsigned _memory_mb;
    bool _crypto;
};

}  // namespace unit_eal
