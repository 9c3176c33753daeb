// Name -> position, for the name tables of the validator and the planner. A scenario of
// 100,000 probes has 100,000 mailbox and probe names; std::unordered_map allocates a node
// for each and misses the cache twice per lookup, which made these tables the largest single
// cost in a profile of the load. This is one flat open-addressing array (linear probing, at
// most half full), built once and never erased from. The names are views: the strings must
// outlive the index.
#pragma once

#include <bit>
#include <cstddef>
#include <functional>
#include <string_view>
#include <vector>

namespace scenarios {

class name_index {
public:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    explicit name_index(std::size_t names = 0)
        : m_slots(std::bit_ceil(names * 2 + 2)), m_mask(m_slots.size() - 1)
    {
    }

    /// Adds `name` at `position`, or returns the position that already holds it (and adds
    /// nothing). Returns npos when the name is new. Holds at most the `names` it was made for.
    std::size_t insert(std::string_view name, std::size_t position)
    {
        std::size_t h = std::hash<std::string_view>{}(name);
        for (std::size_t i = h & m_mask;; i = (i + 1) & m_mask) {
            slot& s = m_slots[i];
            if (s.position == npos) {
                s = {h, name, position};
                return npos;
            }
            if (s.hash == h && s.name == name) {
                return s.position;
            }
        }
    }

    /// The position of `name`, or npos.
    std::size_t find(std::string_view name) const noexcept
    {
        std::size_t h = std::hash<std::string_view>{}(name);
        for (std::size_t i = h & m_mask;; i = (i + 1) & m_mask) {
            const slot& s = m_slots[i];
            if (s.position == npos) {
                return npos;
            }
            if (s.hash == h && s.name == name) {
                return s.position;
            }
        }
    }

    bool contains(std::string_view name) const noexcept { return find(name) != npos; }

private:
    struct slot {
        std::size_t hash = 0;
        std::string_view name;
        std::size_t position = npos;
    };
    std::vector<slot> m_slots;
    std::size_t m_mask;
};

} // namespace scenarios
