// SPDX-License-Identifier: MIT
// A minimal result<T, E> until the project moves to C++23's std::expected (docs/design.md §8).
// Holds either a value or an error; accessing the wrong side is a programming error (assert).
#pragma once

#include <cassert>
#include <utility>
#include <variant>

namespace control {

template <typename E>
struct unexpected {
    E error;
};
template <typename E>
unexpected(E) -> unexpected<E>;

template <typename T, typename E>
class [[nodiscard]] result {
public:
    result(T value) : _v(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
    result(unexpected<E> e) : _v(std::in_place_index<1>, std::move(e.error)) {}  // NOLINT

    [[nodiscard]] bool has_value() const noexcept { return _v.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & { assert(has_value()); return std::get<0>(_v); }
    const T& value() const& { assert(has_value()); return std::get<0>(_v); }
    T&& value() && { assert(has_value()); return std::get<0>(std::move(_v)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    E& error() & { assert(!has_value()); return std::get<1>(_v); }
    const E& error() const& { assert(!has_value()); return std::get<1>(_v); }

private:
    std::variant<T, E> _v;
};

}  // namespace control
