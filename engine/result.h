// result<T>: a value or an engine::error, the return type of everything on the I/O path.
// libstdc++ 12 has no std::expected (C++23), so this is the small subset we use.
#pragma once

#include "engine/error.h"

#include <cassert>
#include <optional>
#include <utility>
#include <variant>

namespace engine {

template <class T>
class [[nodiscard]] result {
public:
    result(T value) : m_v(std::in_place_index<0>, std::move(value)) {}
    result(error e) : m_v(std::in_place_index<1>, std::move(e)) {}

    bool has_value() const noexcept { return m_v.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & { assert(has_value()); return std::get<0>(m_v); }
    const T& value() const& { assert(has_value()); return std::get<0>(m_v); }
    T&& value() && { assert(has_value()); return std::get<0>(std::move(m_v)); }
    T& operator*() & { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    error& err() & { assert(!has_value()); return std::get<1>(m_v); }
    const error& err() const& { assert(!has_value()); return std::get<1>(m_v); }
    error&& err() && { assert(!has_value()); return std::get<1>(std::move(m_v)); }

private:
    std::variant<T, error> m_v;
};

template <>
class [[nodiscard]] result<void> {
public:
    result() = default;
    result(error e) : m_e(std::move(e)) {}

    bool has_value() const noexcept { return !m_e; }
    explicit operator bool() const noexcept { return has_value(); }

    error& err() & { assert(m_e); return *m_e; }
    const error& err() const& { assert(m_e); return *m_e; }
    error&& err() && { assert(m_e); return std::move(*m_e); }

private:
    std::optional<error> m_e;
};

} // namespace engine
