// Turns a loaded scenario into the flat list of probe runs the scheduler works from: one entry
// per enabled probe, with its send server, fetch mailbox and fetch server resolved (shared, so
// 100,000 probes through one server hold one copy of it) and a stable start offset that
// spreads probes over their interval.
//
// Refuses nothing silently: a --tenant or --probe filter that matches nothing is reported, and
// a reference that does not resolve (a scenario that skipped validate()) is an error, not a
// crash.
#pragma once

#include "scenarios/scenario.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace scenarios {

struct probe_plan {
    std::shared_ptr<const probe> spec;
    std::shared_ptr<const tenant> owner;
    std::shared_ptr<const server> send_via;        // protocol smtp
    std::shared_ptr<const mailbox> fetch;
    std::shared_ptr<const server> fetch_server;    // protocol imap or pop3
    std::shared_ptr<const mailbox> bounce;         // null when the probe has no bounce_mailbox
    std::shared_ptr<const server> bounce_server;   // null when bounce is null
    /// When in each interval this probe starts: the same for the same tenant/probe name on
    /// every run and every machine, in [0, interval).
    std::chrono::milliseconds offset{0};
};

struct plan_filter {
    std::vector<std::string> tenants;   // empty: every tenant
    std::vector<std::string> probes;    // empty: every probe
    bool include_disabled = false;      // a probe named in `probes` is included even if disabled
    std::uint32_t shard = 0;            // this instance's share: the probes shard_of() gives
    std::uint32_t shards = 1;           // to `shard` out of `shards` (1: every probe)
};

struct plan {
    std::shared_ptr<const secret> hmac_key;
    std::vector<std::string> internal_domains;
    run_limits limits;                  // the scenario's defaults.limits
    std::chrono::milliseconds dns_ttl{60'000};
    std::vector<probe_plan> probes;     // in file order
    std::vector<std::string> errors;    // filters that matched nothing, unresolved references
};

/// Builds the plan for `s` (which should have passed validate()). Copies what it keeps, so the
/// plan does not refer to `s` afterwards.
plan make_plan(const scenario& s, const plan_filter& filter = {});
/// The same, taking `s` apart instead of copying it: for a scenario loaded only to be planned
/// (100,000 probes and their mailboxes are not copied twice).
plan make_plan(scenario&& s, const plan_filter& filter = {});

/// The stable start offset of a probe within `interval`: FNV-1a 64 of "tenant/probe" modulo
/// the interval, so it does not depend on the standard library's std::hash.
std::chrono::milliseconds start_offset(std::string_view tenant, std::string_view probe,
    std::chrono::milliseconds interval) noexcept;

/// Which of `shards` instances runs the probe (`--shard K/N`): rendezvous hashing on
/// "tenant/probe", so N instances run every probe exactly once, the same on every machine,
/// and going from N to N+1 instances moves only the probes the new one wins, about 1/(N+1).
std::uint32_t shard_of(std::string_view tenant, std::string_view probe, std::uint32_t shards) noexcept;

} // namespace scenarios
