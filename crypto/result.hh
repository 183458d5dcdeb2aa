// SPDX-License-Identifier: MIT
// crypto::result<T>: a value or an error message, for the slow-path entry points of crypto/
// (suite/backend selection, key and context creation). crypto/ depends on nothing else of ours,
// so this is its own minimal copy of the project's result type (docs/design.md §8) with the error fixed
// to a human-readable std::string, the form dvped logs at startup. Hot-path functions never
// return one.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace crypto {

/// The error side of a result: construct with `crypto::failure{"message"}`.
struct failure {
    std::string message;
};

template <typename T>
class [[nodiscard]] result {
public:
    result(T value) : _v(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
    result(failure e) : _v(std::in_place_index<1>, std::move(e)) {}     // NOLINT: implicit by design

    [[nodiscard]] bool has_value() const noexcept { return _v.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & { assert(has_value()); return std::get<0>(_v); }
    const T& value() const& { assert(has_value()); return std::get<0>(_v); }
    T&& value() && { assert(has_value()); return std::get<0>(std::move(_v)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    /// The error message; only valid when !has_value().
    const std::string& error() const& { assert(!has_value()); return std::get<1>(_v).message; }

private:
    std::variant<T, failure> _v;
};

}  // namespace crypto
