// The connection-owned buffer the parsers read from without copying. Bytes arrive at the
// writable tail (libuv reads straight into it), parsers look at data(), and the session
// consumes what a parsed response occupied. Unconsumed bytes move to the front only when
// the tail runs out. It grows up to a hard maximum, and an idle, empty buffer gives back
// memory beyond its small initial size, so 10,000 idle connections stay cheap.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

namespace engine {

class read_buffer {
public:
    static constexpr std::size_t initial = 4096;

    explicit read_buffer(std::size_t max_size = 1 << 20) noexcept : m_max(max_size < initial ? initial : max_size) {}

    /// Unconsumed bytes. Views into it stay valid until the next consume() or prepare().
    std::string_view data() const noexcept { return {m_data.get() + m_begin, m_end - m_begin}; }
    std::size_t size() const noexcept { return m_end - m_begin; }
    bool empty() const noexcept { return m_begin == m_end; }
    std::size_t capacity() const noexcept { return m_capacity; }
    std::size_t max_size() const noexcept { return m_max; }
    void set_max_size(std::size_t n) noexcept { m_max = n < initial ? initial : n; }

    /// A writable tail of at least `want` bytes, or less (possibly empty) when the
    /// maximum size leaves no more room.
    std::span<char> prepare(std::size_t want = initial);
    void commit(std::size_t n) noexcept { m_end += n; }
    void consume(std::size_t n) noexcept;

private:
    std::unique_ptr<char[]> m_data;
    std::size_t m_capacity = 0;
    std::size_t m_begin = 0;
    std::size_t m_end = 0;
    std::size_t m_max;
};

inline std::span<char> read_buffer::prepare(std::size_t want)
{
    if (m_capacity - m_end >= want) {
        return {m_data.get() + m_end, m_capacity - m_end};
    }
    std::size_t used = size();
    if (m_begin > 0 && m_capacity - used >= want) {
        std::memmove(m_data.get(), m_data.get() + m_begin, used);
        m_begin = 0;
        m_end = used;
        return {m_data.get() + m_end, m_capacity - m_end};
    }
    std::size_t cap = m_capacity ? m_capacity : initial;
    while (cap - used < want && cap < m_max) {
        cap = cap * 2 < m_max ? cap * 2 : m_max;
    }
    if (cap != m_capacity) {
        std::unique_ptr<char[]> grown(new char[cap]);
        if (used) {
            std::memcpy(grown.get(), m_data.get() + m_begin, used);
        }
        m_data = std::move(grown);
        m_capacity = cap;
        m_begin = 0;
        m_end = used;
    } else if (m_begin > 0) {
        std::memmove(m_data.get(), m_data.get() + m_begin, used);
        m_begin = 0;
        m_end = used;
    }
    return {m_data.get() + m_end, m_capacity - m_end};
}

inline void read_buffer::consume(std::size_t n) noexcept
{
    m_begin += n < size() ? n : size();
    if (m_begin == m_end) {
        m_begin = m_end = 0;
        if (m_capacity > initial) {
            // A big response is over: do not keep its memory on an idle connection.
            m_data.reset();
            m_capacity = 0;
        }
    }
}

} // namespace engine
