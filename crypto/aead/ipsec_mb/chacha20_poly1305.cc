// SPDX-License-Identifier: MIT
// IPsec-MB ChaCha20-Poly1305 through the JOB API, one submit per packet: the fastest IPsec-MB path
// measured for it (docs/crypto.md "Library facts": the direct init/update/finalize API is 1-9 %
// slower; on AVX2/SSE the jobs complete synchronously inside submit).
//
// Backends defined here:
//   ipsec-mb       the SSE manager for packets < chacha_large_threshold (fastest at 64-128 B), the
//                  AVX2 manager from there up;
//   ipsec-mb-avx512, ipsec-mb-avx2, ipsec-mb-avx, ipsec-mb-sse   one manager for every size
//                  (avx512: where ipsec_mb.cc's probe lets it run; its jobs may complete at a
//                  later submit or at the drain, which the open path's per-slot tags allow for).
// Jobs of open compute the tag into the context's scratch (one slot per job-queue slot) and the tag
// is compared in constant time when the job is returned; every job is drained before returning.
#include <cstring>

#include "crypto/aead/detail.hh"
#include "crypto/secret.hh"
#include "crypto/suites.hh"

namespace crypto::detail {
namespace {

template <imb_arch A, imb_arch B>
bool chacha_available() noexcept {
    return imb_arch_available(A) && imb_arch_available(B);
}

template <imb_arch Small, imb_arch Large>
const char* chacha_expand(key_state& ks, std::span<const uint8_t> key) noexcept {
    if (key.size() != sizeof ks.raw_key) {
        return "wrong key length";
    }
    std::memcpy(ks.raw_key, key.data(), sizeof ks.raw_key);
    ks.chacha_arch[0] = Small;
    ks.chacha_arch[1] = Large;
    return nullptr;
}

template <imb_arch Small, imb_arch Large>
inline imb_arch chacha_arch_for(uint32_t len) noexcept {
    if constexpr (Small == Large) {
        return Small;
    } else {
        return len >= chacha_large_threshold ? Large : Small;
    }
}

// Fills the next job of `m` for packet p; `tag_out` receives the tag (the packet's tag for seal,
// scratch for open). Every field the ChaCha20-Poly1305 job reads is set: jobs are recycled.
inline IMB_JOB* chacha_job(IMB_MGR* m, const key_state& ks, const aead_packet& p, IMB_CIPHER_DIRECTION dir) noexcept {
    IMB_JOB* j = IMB_GET_NEXT_JOB(m);
    j->cipher_mode = IMB_CIPHER_CHACHA20_POLY1305;
    j->hash_alg = IMB_AUTH_CHACHA20_POLY1305;
    j->cipher_direction = dir;
    j->chain_order = dir == IMB_DIR_ENCRYPT ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
    j->enc_keys = ks.raw_key;
    j->dec_keys = ks.raw_key;
    j->key_len_in_bytes = sizeof ks.raw_key;
    j->src = p.data;
    j->dst = p.data;
    j->cipher_start_src_offset_in_bytes = 0;
    j->msg_len_to_cipher_in_bytes = p.len;
    j->hash_start_src_offset_in_bytes = 0;
    j->msg_len_to_hash_in_bytes = p.len;
    j->iv = p.nonce;
    j->iv_len_in_bytes = aead_nonce_len;
    j->u.CHACHA20_POLY1305.aad = p.aad;
    j->u.CHACHA20_POLY1305.aad_len_in_bytes = p.aad_len;
    j->auth_tag_output_len_in_bytes = aead_tag_len;
    return j;
}

template <imb_arch Small, imb_arch Large>
void chacha_seal(context_state& cs, const key_state& ks, std::span<aead_packet> pkts) noexcept {
    for (const aead_packet& p : pkts) {
        IMB_MGR* m = cs.mgr[static_cast<size_t>(chacha_arch_for<Small, Large>(p.len))];
        IMB_JOB* j = chacha_job(m, ks, p, IMB_DIR_ENCRYPT);
        j->auth_tag_output = p.tag;
        IMB_SUBMIT_JOB(m);  // completes synchronously on SSE/AVX/AVX2; flushed below regardless
    }
    while (IMB_FLUSH_JOB(cs.mgr[static_cast<size_t>(Small)]) != nullptr) {
    }
    if constexpr (Small != Large) {
        while (IMB_FLUSH_JOB(cs.mgr[static_cast<size_t>(Large)]) != nullptr) {
        }
    }
}

inline uint32_t chacha_retire(IMB_JOB* j, std::span<aead_packet> pkts, uint8_t* ok) noexcept {
    const auto i = reinterpret_cast<uintptr_t>(j->user_data);
    const bool good = j->status == IMB_STATUS_COMPLETED && equal_ct16(j->auth_tag_output, pkts[i].tag);
    ok[i] = static_cast<uint8_t>(good);
    return static_cast<uint32_t>(good);
}

inline uint32_t chacha_drain(IMB_MGR* m, std::span<aead_packet> pkts, uint8_t* ok) noexcept {
    uint32_t n_ok = 0;
    for (IMB_JOB* j = IMB_FLUSH_JOB(m); j != nullptr; j = IMB_FLUSH_JOB(m)) {
        n_ok += chacha_retire(j, pkts, ok);
    }
    for (IMB_JOB* j = IMB_GET_COMPLETED_JOB(m); j != nullptr; j = IMB_GET_COMPLETED_JOB(m)) {
        n_ok += chacha_retire(j, pkts, ok);
    }
    return n_ok;
}

template <imb_arch Small, imb_arch Large>
uint32_t chacha_open(context_state& cs, const key_state& ks, std::span<aead_packet> pkts, uint8_t* ok) noexcept {
    uint32_t n_ok = 0;
    for (size_t i = 0; i < pkts.size(); ++i) {
        const aead_packet& p = pkts[i];
        const auto a = static_cast<size_t>(chacha_arch_for<Small, Large>(p.len));
        IMB_MGR* m = cs.mgr[a];
        IMB_JOB* j = chacha_job(m, ks, p, IMB_DIR_DECRYPT);
        j->auth_tag_output = cs.chacha_tag[a][j - m->jobs];
        j->user_data = reinterpret_cast<void*>(static_cast<uintptr_t>(i));
        ok[i] = 0;  // until its job is returned
        for (j = IMB_SUBMIT_JOB(m); j != nullptr; j = IMB_GET_COMPLETED_JOB(m)) {
            n_ok += chacha_retire(j, pkts, ok);
        }
    }
    n_ok += chacha_drain(cs.mgr[static_cast<size_t>(Small)], pkts, ok);
    if constexpr (Small != Large) {
        n_ok += chacha_drain(cs.mgr[static_cast<size_t>(Large)], pkts, ok);
    }
    return n_ok;
}


using enum imb_arch;

}  // namespace

#if DVPE_SUITE_CHACHA20_POLY1305
const backend_desc ipsec_mb_avx512_chacha20_poly1305{suite::chacha20_poly1305, backend::ipsec_mb_avx512,
    &chacha_available<avx512, avx512>, req_avx512, &chacha_expand<avx512, avx512>, &chacha_seal<avx512, avx512>,
    &chacha_open<avx512, avx512>};
const backend_desc ipsec_mb_chacha20_poly1305{suite::chacha20_poly1305, backend::ipsec_mb,
    &chacha_available<sse, avx2>, req_avx2, &chacha_expand<sse, avx2>, &chacha_seal<sse, avx2>,
    &chacha_open<sse, avx2>};
const backend_desc ipsec_mb_avx2_chacha20_poly1305{suite::chacha20_poly1305, backend::ipsec_mb_avx2,
    &chacha_available<avx2, avx2>, req_avx2, &chacha_expand<avx2, avx2>, &chacha_seal<avx2, avx2>,
    &chacha_open<avx2, avx2>};
const backend_desc ipsec_mb_avx_chacha20_poly1305{suite::chacha20_poly1305, backend::ipsec_mb_avx,
    &chacha_available<avx, avx>, req_avx, &chacha_expand<avx, avx>, &chacha_seal<avx, avx>,
    &chacha_open<avx, avx>};
const backend_desc ipsec_mb_sse_chacha20_poly1305{suite::chacha20_poly1305, backend::ipsec_mb_sse,
    &chacha_available<sse, sse>, req_sse, &chacha_expand<sse, sse>, &chacha_seal<sse, sse>,
    &chacha_open<sse, sse>};
#endif

}  // namespace crypto::detail
