// SPDX-License-Identifier: MIT
// IPsec-MB manager handling for crypto/: the CPU probe per ISA, allocation of initialized managers
// (one set per worker context) and the process-wide reference managers from which keys are
// expanded and GCM kernel pointers are read. Managers are created with alloc_mb_mgr(0) +
// init_mb_mgr_{avx2,avx,sse} and checked with imb_get_errno(); init_mb_mgr_auto() and the AVX-512
// managers are never used (docs/crypto.md "Library facts": init_mb_mgr_avx512() crashes, VAES-AVX512
// GCM raises SIGILL on this machine even though cpuid advertises AVX-512).
#include <array>
#include <memory>

#include "crypto/aead/detail.hh"

namespace crypto::detail {
namespace {

uint64_t required_flags(imb_arch a) noexcept {
    switch (a) {
    case imb_arch::sse: return IMB_CPUFLAGS_SSE;
    case imb_arch::avx: return IMB_CPUFLAGS_AVX;
    case imb_arch::avx2: return IMB_CPUFLAGS_AVX2;
    }
    return ~uint64_t{0};
}

struct mgr_deleter {
    void operator()(IMB_MGR* m) const noexcept { free_mb_mgr(m); }
};

// Probed once: the CPU flags must be there and a trial manager must initialize cleanly (its
// self-test included).
struct reference_managers {
    std::array<std::unique_ptr<IMB_MGR, mgr_deleter>, n_imb_arch> mgr;
    reference_managers() noexcept {
        const uint64_t cpu = imb_get_feature_flags();
        for (size_t i = 0; i < n_imb_arch; ++i) {
            const auto a = static_cast<imb_arch>(i);
            const uint64_t need = required_flags(a);
            if ((cpu & need) == need) {
                mgr[i].reset(imb_alloc(a));
            }
        }
    }
};

const reference_managers& references() noexcept {
    static const reference_managers r;  // thread-safe initialization, lives until exit
    return r;
}

}  // namespace

IMB_MGR* imb_alloc(imb_arch a) noexcept {
    IMB_MGR* m = alloc_mb_mgr(0);
    if (m == nullptr) {
        return nullptr;
    }
    switch (a) {
    case imb_arch::sse: init_mb_mgr_sse(m); break;
    case imb_arch::avx: init_mb_mgr_avx(m); break;
    case imb_arch::avx2: init_mb_mgr_avx2(m); break;
    }
    const bool self_test_ok =
        (m->features & IMB_FEATURE_SELF_TEST) == 0 || (m->features & IMB_FEATURE_SELF_TEST_PASS) != 0;
    if (imb_get_errno(m) != 0 || !self_test_ok) {
        free_mb_mgr(m);
        return nullptr;
    }
    return m;
}

bool imb_arch_available(imb_arch a) noexcept {
    return references().mgr[static_cast<size_t>(a)] != nullptr;
}

const IMB_MGR& imb_reference(imb_arch a) noexcept {
    return *references().mgr[static_cast<size_t>(a)];
}

}  // namespace crypto::detail
