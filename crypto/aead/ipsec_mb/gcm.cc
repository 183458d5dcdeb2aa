// SPDX-License-Identifier: MIT
// IPsec-MB AES-128-GCM and AES-256-GCM through the direct single-call API (IMB_AES*_GCM_ENC/DEC,
// i.e. the manager's gcm*_enc/dec kernels), the fastest path measured on AVX2 CPUs: the JOB/BURST
// APIs only add per-packet cost in IPsec-MB 1.3 (docs/design.md §9, docs/crypto.md "Library facts").
//
// Backends defined here:
//   ipsec-mb       per packet, the AVX2 (gen4) or the AVX (gen2) kernel, whichever is faster for its
//                  length (gcm_use_gen2 in detail.hh); both keys precomputed at key creation (their
//                  gcm_key_data layouts differ);
//   ipsec-mb-avx512, ipsec-mb-avx2, ipsec-mb-avx, ipsec-mb-sse   one manager's kernel for every size
//                  (avx512: the VAES + VPCLMULQDQ kernel, where ipsec_mb.cc's probe lets it run).
// The kernels do not use manager state, so the burst loops call the function pointers captured in
// the key; the context's managers are not needed here.
#include "crypto/aead/detail.hh"
#include "crypto/secret.hh"
#include "crypto/suites.hh"

namespace crypto::detail {
namespace {

template <imb_arch A, imb_arch B>
bool gcm_available() noexcept {
    return imb_arch_available(A) && imb_arch_available(B);
}

// Slot [0] = Small's kernel, slot [1] = Large's kernel.
template <size_t KeyBytes, imb_arch Small, imb_arch Large>
const char* gcm_expand(key_state& ks, std::span<const uint8_t> key) noexcept {
    static_assert(KeyBytes == 16 || KeyBytes == 32);
    if (key.size() != KeyBytes) {
        return "wrong key length";
    }
    constexpr imb_arch arch[2] = {Small, Large};
    for (size_t k = 0; k < 2; ++k) {
        const IMB_MGR& m = imb_reference(arch[k]);
        if constexpr (KeyBytes == 16) {
            m.gcm128_pre(key.data(), &ks.gcm_kd[k].kd);
            ks.gcm_enc[k] = m.gcm128_enc;
            ks.gcm_dec[k] = m.gcm128_dec;
        } else {
            m.gcm256_pre(key.data(), &ks.gcm_kd[k].kd);
            ks.gcm_enc[k] = m.gcm256_enc;
            ks.gcm_dec[k] = m.gcm256_dec;
        }
    }
    return nullptr;
}

// One GCM call on kernel slot [0] or [1]. The adaptive backend branches to one of two call sites
// instead of indexing the pointer arrays with the computed slot: measured on open at 512-1024 B,
// the indexed form ran 4-11 % slower than a fixed kernel, the two call sites as fast (each site's
// target is always the same, and the branch follows the burst's size mix).
template <bool Adaptive, bool Seal>
inline void gcm_call(const key_state& ks, gcm_context_data& ctx, const aead_packet& p, uint8_t* tag) noexcept {
    auto call = [&](size_t k) {
        const aes_gcm_enc_dec_t fn = Seal ? ks.gcm_enc[k] : ks.gcm_dec[k];
        fn(&ks.gcm_kd[k].kd, &ctx, p.data, p.data, p.len, p.nonce, p.aad, p.aad_len, tag, aead_tag_len);
    };
    if constexpr (Adaptive) {
        if (gcm_use_gen2(p.len)) {
            call(1);
        } else {
            call(0);
        }
    } else {
        call(0);
    }
}

template <bool Adaptive>
void gcm_seal(context_state& /*cs*/, const key_state& ks, std::span<aead_packet> pkts) noexcept {
    gcm_context_data ctx;
    for (const aead_packet& p : pkts) {
        gcm_call<Adaptive, true>(ks, ctx, p, p.tag);
    }
    secure_zero(&ctx, sizeof ctx);  // holds GHASH state and a keystream block of the last packet
}

template <bool Adaptive>
uint32_t gcm_open(context_state& /*cs*/, const key_state& ks, std::span<aead_packet> pkts, uint8_t* ok) noexcept {
    gcm_context_data ctx;
    alignas(16) uint8_t tag[aead_tag_len];
    uint32_t n_ok = 0;
    for (size_t i = 0; i < pkts.size(); ++i) {
        const aead_packet& p = pkts[i];
        gcm_call<Adaptive, false>(ks, ctx, p, tag);
        const bool good = equal_ct16(tag, p.tag);
        ok[i] = static_cast<uint8_t>(good);
        n_ok += static_cast<uint32_t>(good);
    }
    secure_zero(&ctx, sizeof ctx);
    return n_ok;
}

// A key per packet (aead_context::seal_multi / open_multi): the same kernel calls as above with
// each packet's own expanded key, one GHASH context and one wipe for the whole burst. A key of
// another backend (never mixed in practice: one cipher and backend per node) takes its own path.
template <bool Adaptive>
void gcm_seal_multi(context_state& cs, const aead_key* const* keys, std::span<aead_packet> pkts) noexcept {
    gcm_context_data ctx;
    for (size_t i = 0; i < pkts.size(); ++i) {
        const aead_key& k = *keys[i];
        if (key_access::seal(k) != &gcm_seal<Adaptive>) [[unlikely]] {
            key_access::seal(k)(cs, key_access::state(k), pkts.subspan(i, 1));
            continue;
        }
        gcm_call<Adaptive, true>(key_access::state(k), ctx, pkts[i], pkts[i].tag);
    }
    secure_zero(&ctx, sizeof ctx);
}

template <bool Adaptive>
uint32_t gcm_open_multi(context_state& cs, const aead_key* const* keys, std::span<aead_packet> pkts,
                        uint8_t* ok) noexcept {
    gcm_context_data ctx;
    alignas(16) uint8_t tag[aead_tag_len];
    uint32_t n_ok = 0;
    for (size_t i = 0; i < pkts.size(); ++i) {
        const aead_key& k = *keys[i];
        const aead_packet& p = pkts[i];
        if (key_access::open(k) != &gcm_open<Adaptive>) [[unlikely]] {
            n_ok += key_access::open(k)(cs, key_access::state(k), pkts.subspan(i, 1), ok + i);
            continue;
        }
        gcm_call<Adaptive, false>(key_access::state(k), ctx, p, tag);
        const bool good = equal_ct16(tag, p.tag);
        ok[i] = static_cast<uint8_t>(good);
        n_ok += static_cast<uint32_t>(good);
    }
    secure_zero(&ctx, sizeof ctx);
    return n_ok;
}


using enum imb_arch;

}  // namespace

#if DVPE_SUITE_AES128_GCM
const backend_desc ipsec_mb_avx512_aes128_gcm{suite::aes128_gcm, backend::ipsec_mb_avx512,
    &gcm_available<avx512, avx512>, req_avx512, &gcm_expand<16, avx512, avx512>, &gcm_seal<false>,
    &gcm_open<false>, &gcm_seal_multi<false>, &gcm_open_multi<false>, gcm_vaes_hot};
const backend_desc ipsec_mb_aes128_gcm{suite::aes128_gcm, backend::ipsec_mb, &gcm_available<avx2, avx>,
    req_avx2, &gcm_expand<16, avx2, avx>, &gcm_seal<true>, &gcm_open<true>,
    &gcm_seal_multi<true>, &gcm_open_multi<true>, gcm_hot};
const backend_desc ipsec_mb_avx2_aes128_gcm{suite::aes128_gcm, backend::ipsec_mb_avx2, &gcm_available<avx2, avx2>,
    req_avx2, &gcm_expand<16, avx2, avx2>, &gcm_seal<false>, &gcm_open<false>,
    &gcm_seal_multi<false>, &gcm_open_multi<false>, gcm_hot};
const backend_desc ipsec_mb_avx_aes128_gcm{suite::aes128_gcm, backend::ipsec_mb_avx, &gcm_available<avx, avx>,
    req_avx, &gcm_expand<16, avx, avx>, &gcm_seal<false>, &gcm_open<false>,
    &gcm_seal_multi<false>, &gcm_open_multi<false>, gcm_hot};
const backend_desc ipsec_mb_sse_aes128_gcm{suite::aes128_gcm, backend::ipsec_mb_sse, &gcm_available<sse, sse>,
    req_sse, &gcm_expand<16, sse, sse>, &gcm_seal<false>, &gcm_open<false>,
    &gcm_seal_multi<false>, &gcm_open_multi<false>, gcm_hot};
#endif

#if DVPE_SUITE_AES256_GCM
const backend_desc ipsec_mb_avx512_aes256_gcm{suite::aes256_gcm, backend::ipsec_mb_avx512,
    &gcm_available<avx512, avx512>, req_avx512, &gcm_expand<32, avx512, avx512>, &gcm_seal<false>,
    &gcm_open<false>, &gcm_seal_multi<false>, &gcm_open_multi<false>, gcm_vaes_hot};
const backend_desc ipsec_mb_aes256_gcm{suite::aes256_gcm, backend::ipsec_mb, &gcm_available<avx2, avx>,
    req_avx2, &gcm_expand<32, avx2, avx>, &gcm_seal<true>, &gcm_open<true>,
    &gcm_seal_multi<true>, &gcm_open_multi<true>, gcm_hot};
const backend_desc ipsec_mb_avx2_aes256_gcm{suite::aes256_gcm, backend::ipsec_mb_avx2, &gcm_available<avx2, avx2>,
    req_avx2, &gcm_expand<32, avx2, avx2>, &gcm_seal<false>, &gcm_open<false>,
    &gcm_seal_multi<false>, &gcm_open_multi<false>, gcm_hot};
const backend_desc ipsec_mb_avx_aes256_gcm{suite::aes256_gcm, backend::ipsec_mb_avx, &gcm_available<avx, avx>,
    req_avx, &gcm_expand<32, avx, avx>, &gcm_seal<false>, &gcm_open<false>,
    &gcm_seal_multi<false>, &gcm_open_multi<false>, gcm_hot};
const backend_desc ipsec_mb_sse_aes256_gcm{suite::aes256_gcm, backend::ipsec_mb_sse, &gcm_available<sse, sse>,
    req_sse, &gcm_expand<32, sse, sse>, &gcm_seal<false>, &gcm_open<false>,
    &gcm_seal_multi<false>, &gcm_open_multi<false>, gcm_hot};
#endif

}  // namespace crypto::detail
