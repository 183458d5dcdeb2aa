// SPDX-License-Identifier: MIT
// IPsec-MB manager handling for crypto/: the CPU probe per ISA, allocation of initialized managers
// (one set per worker context) and the process-wide reference managers from which keys are
// expanded and GCM kernel pointers are read. Managers are created with alloc_mb_mgr(0) +
// init_mb_mgr_{avx512,avx2,avx,sse} and checked with imb_get_errno(); init_mb_mgr_auto() is never
// used. The AVX-512 manager only after three checks, because on one host init_mb_mgr_avx512()
// crashed and the VAES GCM kernel raised SIGILL although cpuid advertised AVX-512 (docs/crypto.md
// "Library facts"): IPsec-MB's CPU flags (IMB_CPUFLAGS_AVX512_T2), the OS's (XCR0 must
// enable the opmask and ZMM state, else every AVX-512 instruction faults), and a trial in a child
// process -- manager, self-test, a seal and open of AES-128/256-GCM and a ChaCha20-Poly1305 seal and open at
// several lengths against the AVX2 manager -- whose crash or mismatch leaves AVX-512 unused and the
// process running.
#include <cpuid.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string>
#include <cstring>
#include <memory>

#include "crypto/aead/detail.hh"
#include "crypto/suites.hh"

namespace crypto::detail {
namespace {

uint64_t required_flags(imb_arch a) noexcept {
    switch (a) {
    case imb_arch::sse: return IMB_CPUFLAGS_SSE;
    case imb_arch::avx: return IMB_CPUFLAGS_AVX;
    case imb_arch::avx2: return IMB_CPUFLAGS_AVX2;
    // What init_mb_mgr_avx512() of IPsec-MB 1.3 needs to pick its VAES kernels (else it falls
    // back to AVX-512 kernels with the AVX2 key layout): AVX-512 F/DQ/CD/BW/VL, VAES, VPCLMULQDQ,
    // GFNI, AVX512-IFMA and SHA-NI.
    case imb_arch::avx512: return IMB_CPUFLAGS_AVX512_T2;
    }
    return ~uint64_t{0};
}

/// The OS saves and restores the AVX-512 registers: CPUID.1:ECX.OSXSAVE, and XCR0 with the SSE,
/// AVX, opmask, ZMM_Hi256 and Hi16_ZMM state bits (Intel SDM vol. 1, 15.2 "Detection of AVX-512").
bool os_enables_avx512() noexcept {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(1, &a, &b, &c, &d) == 0 || (c & bit_OSXSAVE) == 0) {
        return false;
    }
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    constexpr uint32_t need = 0x2 | 0x4 | 0x20 | 0x40 | 0x80;
    return (lo & need) == need;
}

/// In the child: the AVX-512 manager initializes, its GCM kernels seal and open like the AVX2
/// kernels (ciphertext and tag, 128- and 256-bit keys, lengths around the kernels' block loops,
/// the AAD lengths of the data header and around it, out of place and in place as dvpe seals), and
/// the ipsec-mb-avx512 ChaCha20-Poly1305 backend seals like ipsec-mb-avx2 and opens what it sealed
/// (the backends' own code, each on a context holding its manager).
bool avx512_matches_avx2() noexcept {
    IMB_MGR* v = imb_alloc(imb_arch::avx512);
    IMB_MGR* r = imb_alloc(imb_arch::avx2);
    if (v == nullptr || r == nullptr) {
        return false;
    }
    alignas(64) static gcm_key_data kv, kr;
    static gcm_context_data cv, cr;
    static uint8_t pt[1500], ctv[1500], ctr[1500];
    uint8_t key[32], iv[12], aad[32], tv[16], tr[16];
    for (size_t i = 0; i < sizeof pt; ++i) {
        pt[i] = static_cast<uint8_t>(i * 131 + 7);
    }
    for (size_t i = 0; i < sizeof key; ++i) {
        key[i] = static_cast<uint8_t>(i * 29 + 3);
    }
    std::memset(iv, 0x5a, sizeof iv);
    for (size_t i = 0; i < sizeof aad; ++i) {
        aad[i] = static_cast<uint8_t>(0xa5 ^ i);
    }
    bool ok = true;
    for (const bool k256 : {false, true}) {
        (k256 ? v->gcm256_pre : v->gcm128_pre)(key, &kv);
        (k256 ? r->gcm256_pre : r->gcm128_pre)(key, &kr);
        const aes_gcm_enc_dec_t enc_v = k256 ? v->gcm256_enc : v->gcm128_enc;
        const aes_gcm_enc_dec_t dec_v = k256 ? v->gcm256_dec : v->gcm128_dec;
        const aes_gcm_enc_dec_t enc_r = k256 ? r->gcm256_enc : r->gcm128_enc;
        for (const uint32_t len : {0U, 1U, 16U, 63U, 64U, 255U, 256U, 511U, 1024U, 1420U, 1500U}) {
            for (const uint64_t aad_len : {0U, 8U, 12U, 16U, 20U, 32U}) {
                for (const bool in_place : {false, true}) {
                    if (in_place) {
                        std::memcpy(ctv, pt, len);
                        std::memcpy(ctr, pt, len);
                    }
                    enc_v(&kv, &cv, ctv, in_place ? ctv : pt, len, iv, aad, aad_len, tv, sizeof tv);
                    enc_r(&kr, &cr, ctr, in_place ? ctr : pt, len, iv, aad, aad_len, tr, sizeof tr);
                    ok = ok && std::memcmp(ctv, ctr, len) == 0 && std::memcmp(tv, tr, sizeof tv) == 0;
                    dec_v(&kv, &cv, ctv, ctv, len, iv, aad, aad_len, tv, sizeof tv);
                    ok = ok && std::memcmp(ctv, pt, len) == 0 && std::memcmp(tv, tr, sizeof tv) == 0;
                }
            }
        }
    }
#if DVPE_SUITE_CHACHA20_POLY1305
    alignas(64) static key_state ks;
    static context_state cs;
    cs.mgr[static_cast<size_t>(imb_arch::avx512)] = v;
    cs.mgr[static_cast<size_t>(imb_arch::avx2)] = r;
    ok = ok && ipsec_mb_avx512_chacha20_poly1305.expand_key(ks, {key, sizeof key}) == nullptr;
    for (const uint32_t len : {0U, 1U, 63U, 64U, 255U, 256U, 1024U, 1420U, 1500U}) {
        std::memcpy(ctv, pt, len);
        std::memcpy(ctr, pt, len);
        aead_packet pv{ctv, len, 16, aad, iv, tv};
        aead_packet pr{ctr, len, 16, aad, iv, tr};
        ipsec_mb_avx512_chacha20_poly1305.seal(cs, ks, {&pv, 1});
        ipsec_mb_avx2_chacha20_poly1305.seal(cs, ks, {&pr, 1});
        ok = ok && std::memcmp(ctv, ctr, len) == 0 && std::memcmp(tv, tr, sizeof tv) == 0;
        uint8_t opened = 0;
        ok = ok && ipsec_mb_avx512_chacha20_poly1305.open(cs, ks, {&pv, 1}, &opened) == 1 && opened == 1 &&
             std::memcmp(ctv, pt, len) == 0;
    }
#endif
    return ok;
}

/// Why avx512_usable() said what it said (avx512_status()); written once, by the probe.
const char* avx512_reason = "not probed";
int avx512_child_status = 0;

/// The AVX-512 manager may be used: flags, OS state, and the trial in a child.
bool avx512_usable() noexcept {
    const uint64_t cpu = imb_get_feature_flags();
    const uint64_t need = required_flags(imb_arch::avx512);
    if ((cpu & need) != need) {
        avx512_reason = "not used: the CPU lacks what IPsec-MB's VAES kernels need (AVX-512 F/DQ/CD/BW/VL, VAES, "
                        "VPCLMULQDQ, GFNI, AVX512-IFMA, SHA-NI)";
        return false;
    }
    if (!os_enables_avx512()) {
        avx512_reason = "not used: the OS does not enable the AVX-512 register state (XCR0)";
        return false;
    }
    if (!passes_in_child(&avx512_matches_avx2, 10, &avx512_child_status)) {
        avx512_reason = "not used: its trial in a child process failed";
        return false;
    }
    avx512_reason = "usable (trial passed)";
    return true;
}

struct mgr_deleter {
    void operator()(IMB_MGR* m) const noexcept { free_mb_mgr(m); }
};

// Probed once: the CPU flags must be there and a trial manager must initialize cleanly (its
// self-test included). The AVX-512 manager on its own, at the first question about it (`auto`'s
// resolution, a context's creation, list_backends), after avx512_usable().
struct reference_managers {
    std::array<std::unique_ptr<IMB_MGR, mgr_deleter>, n_imb_arch> mgr;
    reference_managers() noexcept {
        const uint64_t cpu = imb_get_feature_flags();
        for (size_t i = 0; i < n_imb_arch; ++i) {
            const auto a = static_cast<imb_arch>(i);
            const uint64_t need = required_flags(a);
            if (a != imb_arch::avx512 && (cpu & need) == need) {
                mgr[i].reset(imb_alloc(a));
            }
        }
    }
};

const reference_managers& references() noexcept {
    static const reference_managers r;  // thread-safe initialization, lives until exit
    return r;
}

const std::unique_ptr<IMB_MGR, mgr_deleter>& avx512_reference() noexcept {
    static const std::unique_ptr<IMB_MGR, mgr_deleter> m(avx512_usable() ? imb_alloc(imb_arch::avx512) : nullptr);
    return m;
}

}  // namespace

bool passes_in_child(bool (*trial)() noexcept, unsigned timeout_s, int* status_out) noexcept {
    const pid_t pid = fork();
    if (pid < 0) {
        return false;
    }
    if (pid == 0) {
        // A fault is the child's own end: the default actions (no sanitizer or fuzzer report, no
        // crash file), no core file, and a hang ends at the alarm (dvped ignores SIGALRM).
        const rlimit no_core{0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        for (const int sig : {SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGABRT, SIGTRAP, SIGALRM}) {
            sigaction(sig, &dfl, nullptr);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        alarm(timeout_s);
        _exit(trial() ? 0 : 1);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return false;  // reaped elsewhere: unknown, so not used
        }
    }
    if (status_out != nullptr) {
        *status_out = status;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

IMB_MGR* imb_alloc(imb_arch a) noexcept {
    IMB_MGR* m = alloc_mb_mgr(0);
    if (m == nullptr) {
        return nullptr;
    }
    switch (a) {
    case imb_arch::sse: init_mb_mgr_sse(m); break;
    case imb_arch::avx: init_mb_mgr_avx(m); break;
    case imb_arch::avx2: init_mb_mgr_avx2(m); break;
    case imb_arch::avx512: init_mb_mgr_avx512(m); break;
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
    if (a == imb_arch::avx512) {
        return avx512_reference() != nullptr;
    }
    return references().mgr[static_cast<size_t>(a)] != nullptr;
}

const IMB_MGR& imb_reference(imb_arch a) noexcept {
    if (a == imb_arch::avx512) {
        return *avx512_reference();
    }
    return *references().mgr[static_cast<size_t>(a)];
}

}  // namespace crypto::detail

namespace crypto {

std::string avx512_status() {
    const bool ok = detail::imb_arch_available(detail::imb_arch::avx512);  // probes, once
    std::string s = std::string("AVX-512 (IPsec-MB): ") + detail::avx512_reason;
    if (!ok && detail::avx512_child_status != 0) {
        const int st = detail::avx512_child_status;
        if (WIFSIGNALED(st)) {
            s += WTERMSIG(st) == SIGALRM ? " (it hung)" : " (it died of signal " + std::to_string(WTERMSIG(st)) + ")";
        } else if (WIFEXITED(st)) {
            s += " (its results differed from the AVX2 manager's)";
        }
    }
    return s;
}

}  // namespace crypto
