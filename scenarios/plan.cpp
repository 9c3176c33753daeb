// Scenario -> flat probe plan. Servers, mailboxes and tenants are copied (or moved) once each into
// shared_ptrs and shared by every probe that uses them.
//
// Refuses (as plan errors) filters that name no tenant or probe, and references that do not
// resolve; it never includes a probe it could not resolve completely.
#include "scenarios/plan.h"

#include "scenarios/name_index.h"

#include <algorithm>
#include <type_traits>
#include <unordered_set>

namespace scenarios {

namespace {

/// `item` shared: moved out of a scenario the caller gave away (non-const), else copied.
template <typename T>
std::shared_ptr<const std::remove_const_t<T>> share(T& item)
{
    if constexpr (std::is_const_v<T>) {
        return std::make_shared<const std::remove_const_t<T>>(item);
    } else {
        return std::make_shared<const T>(std::move(item));
    }
}

/// Items shared, and found by name.
template <typename T>
struct shared_items {
    name_index names;
    std::vector<std::shared_ptr<const T>> items;
};

template <typename Items>
auto share_all(Items& items)
{
    using item_type = typename std::remove_const_t<Items>::value_type;
    shared_items<item_type> out{name_index(items.size()), {}};
    out.items.reserve(items.size());
    for (auto& item : items) {
        out.items.push_back(share(item));
        out.names.insert(out.items.back()->name, out.items.size() - 1);   // views the shared copy
    }
    return out;
}

template <typename T>
std::shared_ptr<const T> lookup(const shared_items<T>& shared, std::string_view name)
{
    std::size_t at = shared.names.find(name);
    return at == name_index::npos ? nullptr : shared.items[at];
}

} // namespace

namespace {

/// FNV-1a 64 of "tenant/probe".
std::uint64_t name_hash(std::string_view tenant, std::string_view probe) noexcept
{
    std::uint64_t h = 0xcbf29ce484222325ULL;
    auto mix = [&](unsigned char c) {
        h ^= c;
        h *= 0x100000001b3ULL;
    };
    for (char c : tenant) {
        mix(static_cast<unsigned char>(c));
    }
    mix('/');
    for (char c : probe) {
        mix(static_cast<unsigned char>(c));
    }
    return h;
}

/// The splitmix64 finaliser: FNV's low bits are weak, and rendezvous scores need every bit.
std::uint64_t avalanche(std::uint64_t x) noexcept
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

} // namespace

std::chrono::milliseconds start_offset(std::string_view tenant, std::string_view probe,
    std::chrono::milliseconds interval) noexcept
{
    if (interval.count() <= 0) {
        return std::chrono::milliseconds{0};
    }
    auto h = name_hash(tenant, probe);
    return std::chrono::milliseconds(static_cast<std::int64_t>(h % static_cast<std::uint64_t>(interval.count())));
}

std::uint32_t shard_of(std::string_view tenant, std::string_view probe, std::uint32_t shards) noexcept
{
    std::uint64_t base = name_hash(tenant, probe);
    std::uint32_t best = 0;
    std::uint64_t best_score = 0;
    for (std::uint32_t i = 0; i < shards; ++i) {
        std::uint64_t score = avalanche(base ^ avalanche(i + 1));
        if (i == 0 || score > best_score) {
            best = i;
            best_score = score;
        }
    }
    return best;
}

namespace {

/// Builds the plan; from a non-const `s` it moves servers, mailboxes, tenants and probes
/// out (after reading every name it needs) instead of copying them.
template <typename Scenario>
plan build(Scenario& s, const plan_filter& filter)
{
    plan out;
    out.hmac_key = std::make_shared<const secret>(s.hmac_key);
    out.internal_domains = s.internal_domains;
    out.limits = s.defaults_block.limits;
    out.dns_ttl = s.defaults_block.dns_ttl;

    // First which probes are in and what the filters matched, while every name is in place.
    std::unordered_set<std::string_view> want_tenants(filter.tenants.begin(), filter.tenants.end());
    std::unordered_set<std::string_view> want_probes(filter.probes.begin(), filter.probes.end());
    std::unordered_set<std::string_view> seen_tenants;
    std::unordered_set<std::string_view> seen_probes;
    std::vector<bool> included(s.probes.size(), false);
    for (std::size_t i = 0; i < s.probes.size(); ++i) {
        const probe& p = s.probes[i];
        // The seen sets only serve filters: without one, 100,000 probes need no set of names.
        if (!want_tenants.empty()) {
            if (!want_tenants.contains(p.tenant)) {
                continue;
            }
            seen_tenants.insert(p.tenant);
        }
        bool named = want_probes.contains(p.name);
        if (!want_probes.empty()) {
            if (!named) {
                continue;
            }
            seen_probes.insert(p.name);
        }
        if (!p.enabled && !(named && filter.include_disabled)) {
            if (named) {
                out.errors.push_back("probe '" + p.name + "' is disabled (enabled: false)");
            }
            continue;
        }
        if (filter.shards > 1 && shard_of(p.tenant, p.name, filter.shards) != filter.shard) {
            continue;
        }
        included[i] = true;
    }
    for (const std::string& t : filter.tenants) {
        if (!seen_tenants.contains(t)) {
            out.errors.push_back(s.find_tenant(t) ? "tenant '" + t + "' has no probes"
                                                  : "tenant '" + t + "' is not defined");
        }
    }
    for (const std::string& name : filter.probes) {
        if (!seen_probes.contains(name)) {
            out.errors.push_back(s.find_probe(name) ? "probe '" + name + "' is not in the selected tenants"
                                                    : "probe '" + name + "' is not defined");
        }
    }

    auto servers = share_all(s.servers);
    auto mailboxes = share_all(s.mailboxes);
    auto tenants = share_all(s.tenants);
    out.probes.reserve(static_cast<std::size_t>(std::count(included.begin(), included.end(), true)));
    for (std::size_t i = 0; i < s.probes.size(); ++i) {
        if (!included[i]) {
            continue;
        }
        auto& p = s.probes[i];
        probe_plan pp;
        pp.owner = lookup(tenants, p.tenant);
        pp.send_via = lookup(servers, p.send_via);
        pp.fetch = lookup(mailboxes, p.fetch);
        pp.fetch_server = pp.fetch ? lookup(servers, pp.fetch->server) : nullptr;
        if (p.bounce_mailbox) {
            pp.bounce = lookup(mailboxes, *p.bounce_mailbox);
            pp.bounce_server = pp.bounce ? lookup(servers, pp.bounce->server) : nullptr;
        }
        if (!pp.owner || !pp.send_via || !pp.fetch || !pp.fetch_server ||
            (p.bounce_mailbox && (!pp.bounce || !pp.bounce_server))) {
            out.errors.push_back("probe '" + p.name + "' refers to an undefined tenant, server or mailbox");
            continue;
        }
        pp.offset = start_offset(p.tenant, p.name, p.interval);
        pp.spec = share(p);   // last: p may be moved from now
        out.probes.push_back(std::move(pp));
    }
    return out;
}

} // namespace

plan make_plan(const scenario& s, const plan_filter& filter)
{
    return build(s, filter);
}

plan make_plan(scenario&& s, const plan_filter& filter)
{
    return build(s, filter);
}

} // namespace scenarios
