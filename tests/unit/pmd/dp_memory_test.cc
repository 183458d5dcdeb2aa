// SPDX-License-Identifier: MIT
// pmd/dp_memory: per-peer state from DPDK's heap once the EAL is up, the C++ heap before it, when
// DPDK has no room, and in sanitizer builds; frees by address, also after the EAL is gone; the
// crypto key hook and the replay windows on top of it.
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_memory.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "crypto/aead.hh"
#include "crypto/init.hh"
#include "engine/snapshot.hh"
#include "pmd/dp_memory.hh"

namespace {

bool in_dpdk(const void* p) { return rte_mem_virt2memseg_list(p) != nullptr; }

bool all_zero(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) {
        if (b[i] != 0) {
            return false;
        }
    }
    return true;
}

// The hook as dvped installs it, counting.
unsigned g_acquired = 0, g_released = 0;
void* counting_acquire(size_t size, size_t align) noexcept {
    ++g_acquired;
    return pmd::dp_zalloc(size, align);
}
void counting_release(void* p, size_t align) noexcept {
    ++g_released;
    pmd::dp_free(p, align);
}

// One EAL for the whole binary, brought up by the first test that needs it (the tests before it
// run without one) and kept: DPDK cannot be initialised twice in a process.
void bring_up_eal() {
    static bool up = false;
    if (up) {
        return;
    }
    std::vector<std::string> args{"dp_memory_test", "--no-huge", "-m", "64", "--no-pci", "--no-shconf", "-l", "0",
                                  "--file-prefix=dp_memory_test" + std::to_string(getpid()), "--log-level=*:error"};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0);
    pmd::dp_memory_use_dpdk(true);
    up = true;
}

TEST(DpMemory, a_before_the_eal_it_is_the_heap) {
    EXPECT_FALSE(pmd::dp_memory_uses_dpdk());
    void* p = pmd::dp_zalloc(5000, 64);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0U);
    EXPECT_TRUE(all_zero(p, 5000));
    std::memset(p, 0xab, 5000);
    pmd::dp_free(p, 64);  // operator delete (ASan checks the pairing)
    pmd::dp_free(nullptr, 64);
}

TEST(DpMemory, b_bad_requests_get_nothing) {
    EXPECT_EQ(pmd::dp_zalloc(0, 64), nullptr);
    EXPECT_EQ(pmd::dp_zalloc(64, 0), nullptr);
    EXPECT_EQ(pmd::dp_zalloc(64, 48), nullptr);    // not a power of two
    EXPECT_EQ(pmd::dp_zalloc(64, 8192), nullptr);  // above a page
}

TEST(DpMemory, c_with_the_eal_it_is_dpdks_heap) {
    bring_up_eal();
    const auto before = pmd::dp_memory_counters();
    void* p = pmd::dp_zalloc(3000, 64);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0U);
    EXPECT_TRUE(all_zero(p, 3000));
    // A sanitizer build keeps everything on the heap ASan watches.
    EXPECT_EQ(in_dpdk(p), pmd::dp_memory_uses_dpdk());
    EXPECT_EQ(pmd::dp_memory_counters().dpdk_allocs - before.dpdk_allocs, pmd::dp_memory_uses_dpdk() ? 1U : 0U);
    pmd::dp_free(p, 64);
    // Heap memory of the default (::operator new) is freed by the same call.
    void* h = ::operator new(100, std::align_val_t{64});
    EXPECT_FALSE(in_dpdk(h));
    pmd::dp_free(h, 64);
}

TEST(DpMemory, d_when_dpdk_has_no_room_the_heap_takes_it) {
    bring_up_eal();
    const auto before = pmd::dp_memory_counters();
    const size_t big = size_t{256} << 20;  // the EAL has 64 MiB
    void* p = pmd::dp_zalloc(big, 64);
    ASSERT_NE(p, nullptr);
    EXPECT_FALSE(in_dpdk(p));
    EXPECT_TRUE(all_zero(static_cast<uint8_t*>(p) + big - 4096, 4096));
    EXPECT_EQ(pmd::dp_memory_counters().heap_fallbacks - before.heap_fallbacks, pmd::dp_memory_uses_dpdk() ? 1U : 0U);
    pmd::dp_free(p, 64);
}

TEST(DpMemory, e_many_small_allocations_and_frees_in_any_order) {
    bring_up_eal();
    std::vector<void*> v;
    for (unsigned i = 0; i < 2000; ++i) {
        void* p = pmd::dp_zalloc(64 + (i % 7) * 200, 64);
        ASSERT_NE(p, nullptr);
        std::memset(p, static_cast<int>(i), 64);
        v.push_back(p);
    }
    for (unsigned i = 0; i < v.size(); i += 2) {
        pmd::dp_free(v[i], 64);
    }
    for (unsigned i = 1; i < v.size(); i += 2) {
        EXPECT_EQ(*static_cast<uint8_t*>(v[i]), static_cast<uint8_t>(i));
        pmd::dp_free(v[i], 64);
    }
}

TEST(DpMemory, e2_small_objects_lie_packed_and_slots_come_back_zeroed) {
    bring_up_eal();
    if (!pmd::dp_memory_uses_dpdk()) {
        GTEST_SKIP() << "sanitizer build: the C++ heap";
    }
    // Objects of one size between allocations of another (as keys between windows): each size
    // packed in its own slab, in address order.
    std::vector<uint8_t*> keys;
    std::vector<void*> big;
    for (unsigned i = 0; i < 40; ++i) {
        keys.push_back(static_cast<uint8_t*>(pmd::dp_zalloc(2688, 64)));
        big.push_back(pmd::dp_zalloc(34816, 64));
        ASSERT_NE(keys.back(), nullptr);
        ASSERT_NE(big.back(), nullptr);
    }
    unsigned adjacent = 0;
    for (unsigned i = 1; i < keys.size(); ++i) {
        adjacent += keys[i] == keys[i - 1] + 2688;
    }
    EXPECT_GE(adjacent, keys.size() - 3) << "a chunk holds 48 slots: at most two chunk boundaries";
    // A freed slot is handed out again, zeroed.
    std::memset(keys[5], 0x5a, 2688);
    pmd::dp_free(keys[5], 64);
    auto* again = static_cast<uint8_t*>(pmd::dp_zalloc(2688, 64));
    EXPECT_EQ(again, keys[5]);
    EXPECT_TRUE(all_zero(again, 2688));
    for (uint8_t* k : keys) {
        pmd::dp_free(k, 64);
    }
    for (void* b : big) {
        pmd::dp_free(b, 64);
    }
    // Sizes round up to lines: 100 and 128 bytes share a slab.
    void* a = pmd::dp_zalloc(100, 64);
    void* b = pmd::dp_zalloc(128, 64);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(static_cast<uint8_t*>(b), static_cast<uint8_t*>(a) + 128);
    pmd::dp_free(a, 64);
    pmd::dp_free(b, 64);
}

TEST(DpMemory, f_keys_go_through_the_hook_and_still_work) {
    bring_up_eal();
    ASSERT_TRUE(crypto::init());
    crypto::set_key_memory({&counting_acquire, &counting_release});
    g_acquired = g_released = 0;
    const auto choice = crypto::select_aead("aes256-gcm");
    ASSERT_TRUE(choice) << choice.error();
    std::array<uint8_t, 32> raw{};
    raw[0] = 7;
    {
        auto key = crypto::aead_key::create(choice.value(), raw);
        ASSERT_TRUE(key) << key.error();
        EXPECT_EQ(g_acquired, 1U);
        auto shared = std::allocate_shared<crypto::aead_key>(pmd::dp_allocator<crypto::aead_key>{},
                                                             std::move(key.value()));
        EXPECT_EQ(in_dpdk(shared.get()), pmd::dp_memory_uses_dpdk());
        auto ctx = crypto::aead_context::create();
        ASSERT_TRUE(ctx) << ctx.error();
        // A seal and an open with the key in that memory.
        std::array<uint8_t, 64 + crypto::aead_tag_len> buf{};
        std::array<uint8_t, 8> aad{1, 2, 3, 4, 5, 6, 7, 8};
        std::array<uint8_t, crypto::aead_nonce_len> nonce{9};
        for (unsigned i = 0; i < 64; ++i) {
            buf[i] = static_cast<uint8_t>(i);
        }
        std::array<crypto::aead_packet, 1> pkt{
            crypto::aead_packet{buf.data(), 64, aad.size(), aad.data(), nonce.data(), buf.data() + 64}};
        ctx.value().seal_burst(*shared, pkt);
        EXPECT_NE(buf[1], 1);
        std::array<uint8_t, 1> ok{};
        EXPECT_EQ(ctx.value().open_burst(*shared, pkt, ok), 1U);
        EXPECT_EQ(ok[0], 1);
        EXPECT_EQ(buf[1], 1);
        EXPECT_EQ(g_released, 0U);
    }
    EXPECT_EQ(g_released, 1U);  // wiped and given back
    crypto::set_key_memory({});
    auto plain = crypto::aead_key::create(choice.value(), raw);  // the default again
    ASSERT_TRUE(plain);
    EXPECT_EQ(g_acquired, 1U);
}

TEST(DpMemory, g_replay_windows_live_there_and_start_empty) {
    bring_up_eal();
    auto w = engine::rx_windows::create();
    ASSERT_NE(w->w.get(), nullptr);
    EXPECT_EQ(in_dpdk(w->w.get()), pmd::dp_memory_uses_dpdk());
    for (unsigned l = 0; l < engine::limits::max_lanes; ++l) {
        EXPECT_EQ(w->w[l].w.top(), 0U);
        EXPECT_TRUE(w->w[l].w.accept(l));
        EXPECT_FALSE(w->w[l].w.accept(l));
    }
}

TEST(DpMemory, h_after_the_eal_is_gone_frees_do_not_touch_it) {
    bring_up_eal();
    void* d = pmd::dp_zalloc(256, 64);
    ASSERT_NE(d, nullptr);
    pmd::dp_memory_use_dpdk(false);  // what pmd::eal's destructor does before rte_eal_cleanup
    EXPECT_FALSE(pmd::dp_memory_uses_dpdk());
    pmd::dp_free(d, 64);  // DPDK memory: left to the EAL (a heap pointer: freed, ASan checks)
    void* h = pmd::dp_zalloc(256, 64);
    ASSERT_NE(h, nullptr);
    EXPECT_FALSE(in_dpdk(h));
    pmd::dp_free(h, 64);
    pmd::dp_memory_use_dpdk(true);
    // d was left alone, not put back for reuse (a slab hands the last freed slot out first).
    void* e = pmd::dp_zalloc(256, 64);
    if (pmd::dp_memory_uses_dpdk()) {  // (the C++ heap may hand d's address out again)
        EXPECT_NE(e, d);
    }
    pmd::dp_free(e, 64);
}

}  // namespace
