// libFuzzer target for the scenario loader, validator and planner. The input is a scenario
// file. Invariants, trapped on violation: the load is deterministic (same diagnostics twice);
// a strict success implies a keep_going success with the same probes and nothing skipped;
// keep_going errors that leave a scenario all belong to probes; no diagnostic contains a
// secret value from the (fake) environment; locations and pointers are well formed; the plan
// of a loaded scenario resolves every probe it keeps and stays within its intervals.
#include "scenarios/loader.h"
#include "scenarios/plan.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace {

void check(bool ok)
{
    if (!ok) {
        __builtin_trap();
    }
}

constexpr std::string_view secret_value = "FUZZ-SECRET-VALUE-0123456789";

scenarios::load_options options(bool keep_going)
{
    scenarios::load_options o;
    o.keep_going = keep_going;
    o.max_errors = 20;
    // A fixed environment: every variable starting with S is set to the secret, others unset.
    o.getenv = [](const std::string& name) -> std::optional<std::string> {
        if (!name.empty() && name[0] == 'S') {
            return std::string(secret_value);
        }
        return std::nullopt;
    };
    return o;
}

std::string render(const scenarios::load_result& r)
{
    std::string out = r.ok() ? "ok\n" : "failed\n";
    for (const auto* list : {&r.errors, &r.warnings}) {
        for (const auto& d : *list) {
            std::string line = d.to_string();
            check(line.find(secret_value) == std::string::npos);
            check(d.pointer.empty() || d.pointer[0] == '/');
            check((d.line == 0) == (d.column == 0));
            out += line + '\n';
        }
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto strict = scenarios::load_string(text, "fuzz.json", options(false));
    auto again = scenarios::load_string(text, "fuzz.json", options(false));
    std::string strict_log = render(strict);
    check(strict_log == render(again));
    check(strict.ok() == strict.errors.empty());

    auto lenient = scenarios::load_string(text, "fuzz.json", options(true));
    render(lenient);
    if (strict.ok()) {
        check(lenient.ok());
        check(lenient.skipped_probes.empty());
        check(lenient.value->probes.size() == strict.value->probes.size());
    }
    if (lenient.ok()) {
        for (const auto& e : lenient.errors) {
            check(e.probe.has_value() || e.message.find("more errors not shown") != std::string::npos);
        }
        const auto& s = *lenient.value;
        auto plan = scenarios::make_plan(s);
        check(plan.errors.empty());
        std::size_t enabled = 0;
        for (const auto& p : s.probes) {
            enabled += p.enabled ? 1 : 0;
        }
        check(plan.probes.size() == enabled);
        for (const auto& p : plan.probes) {
            check(p.send_via && p.fetch && p.fetch_server && p.owner);
            check(p.send_via->protocol == scenarios::protocol_kind::smtp);
            check(p.fetch_server->protocol != scenarios::protocol_kind::smtp);
            check(p.offset.count() >= 0 && p.offset < p.spec->interval);
        }
    }
    return 0;
}
