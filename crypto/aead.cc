// SPDX-License-Identifier: MIT
// aead_key and aead_context construction (control thread / startup) and destruction: key
// expansion through the chosen backend into a heap key_state that is wiped with sodium_memzero when
// the key dies, and the per-worker IPsec-MB managers. The hot-path members are inline in aead.hh.
#include <new>
#include <string>
#include <type_traits>

#include <sodium/utils.h>

#include "crypto/aead.hh"
#include "crypto/aead/detail.hh"

namespace crypto {
namespace {

key_memory g_key_memory{};  // set_key_memory(): once, before keys exist

void* acquire_key_memory() noexcept {
    constexpr size_t align = alignof(detail::key_state);
    if (g_key_memory.acquire != nullptr) {
        return g_key_memory.acquire(sizeof(detail::key_state), align);
    }
    return ::operator new(sizeof(detail::key_state), std::align_val_t{align}, std::nothrow);
}

}  // namespace

void set_key_memory(key_memory m) noexcept { g_key_memory = m; }

namespace detail {

static_assert(std::is_trivially_destructible_v<key_state>, "freed without a destructor call");

void key_state_deleter::operator()(key_state* k) const noexcept {
    sodium_memzero(k, sizeof *k);
    constexpr size_t align = alignof(key_state);
    if (g_key_memory.release != nullptr) {
        g_key_memory.release(k, align);  // also takes the default's memory (aead.hh)
    } else {
        ::operator delete(k, std::align_val_t{align});
    }
}

void context_state_deleter::operator()(context_state* c) const noexcept {
    for (IMB_MGR* m : c->mgr) {
        if (m != nullptr) {
            free_mb_mgr(m);
        }
    }
    sodium_memzero(c->chacha_tag, sizeof c->chacha_tag);
    delete c;
}

void seal_multi_runs(context_state& cs, const aead_key* const* keys, std::span<aead_packet> pkts) noexcept {
    const size_t n = pkts.size();
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && keys[j] == keys[i]) {
            ++j;
        }
        key_access::seal(*keys[i])(cs, key_access::state(*keys[i]), pkts.subspan(i, j - i));
        i = j;
    }
}

uint32_t open_multi_runs(context_state& cs, const aead_key* const* keys, std::span<aead_packet> pkts,
                         uint8_t* ok) noexcept {
    const size_t n = pkts.size();
    uint32_t n_ok = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && keys[j] == keys[i]) {
            ++j;
        }
        n_ok += key_access::open(*keys[i])(cs, key_access::state(*keys[i]), pkts.subspan(i, j - i), ok + i);
        i = j;
    }
    return n_ok;
}

}  // namespace detail

result<aead_key> aead_key::create(aead_choice choice, std::span<const uint8_t> key) {
    const detail::backend_desc* d = detail::find_backend(choice.cipher, choice.impl);
    if (d == nullptr) {
        return failure{"crypto backend '" + std::string(name(choice.impl)) + "' does not implement " +
                     std::string(name(choice.cipher)) + " in this binary"};
    }
    if (!d->available()) {
        return failure{"crypto backend '" + std::string(name(choice.impl)) + "' cannot run on this CPU"};
    }
    if (choice.cipher != suite::null && key.size() != key_len(choice.cipher)) {
        return failure{std::string(name(choice.cipher)) + " needs a " + std::to_string(key_len(choice.cipher)) +
                     "-byte key, got " + std::to_string(key.size())};
    }
    void* mem = acquire_key_memory();
    std::unique_ptr<detail::key_state, detail::key_state_deleter> st(mem != nullptr ? new (mem) detail::key_state{}
                                                                                   : nullptr);
    if (!st) {
        return failure{"out of memory expanding a key"};
    }
    if (const char* err = d->expand_key(*st, key); err != nullptr) {
        return failure{std::string(name(choice.cipher)) + "/" + std::string(name(choice.impl)) + ": " + err};
    }
    return aead_key(choice.cipher, choice.impl, d->seal, d->open,
                    d->seal_multi != nullptr ? d->seal_multi : &detail::seal_multi_runs,
                    d->open_multi != nullptr ? d->open_multi : &detail::open_multi_runs, std::move(st), d->hot);
}

result<aead_context> aead_context::create() {
    std::unique_ptr<detail::context_state, detail::context_state_deleter> st(
        new (std::nothrow) detail::context_state{});
    if (!st) {
        return failure{"out of memory creating a crypto context"};
    }
    for (size_t i = 0; i < detail::n_imb_arch; ++i) {
        const auto a = static_cast<detail::imb_arch>(i);
        if (detail::imb_arch_available(a)) {
            st->mgr[i] = detail::imb_alloc(a);
            if (st->mgr[i] == nullptr) {
                return failure{"cannot allocate an IPsec-MB manager"};
            }
        }
    }
    return aead_context(std::move(st));
}

}  // namespace crypto
