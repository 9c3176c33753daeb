// `mailprobe validate SCENARIO [--keep-going]`: load and check a scenario file, run nothing.
// Every problem is printed as file:line:column: /json/pointer: what is wrong. Exit 0 when the
// file is good (warnings allowed), 2 when it is not, 3 on wrong usage.
#include "tools/mailprobe/commands.h"

#include "scenarios/loader.h"
#include "scenarios/plan.h"

#include <cstdio>
#include <set>

int run_validate(const std::vector<std::string>& args)
{
    std::string path;
    scenarios::load_options options;
    for (const auto& a : args) {
        if (a == "--keep-going") {
            options.keep_going = true;
        } else if (a == "--help" || a == "-h") {
            std::printf(
                "usage: mailprobe validate SCENARIO [--keep-going]\n\n"
                "Loads SCENARIO and checks it (syntax, references, topology zones, timings,\n"
                "secrets resolvable) without sending anything.\n"
                "  --keep-going  report bad probes and still accept the good ones\n\n"
                "example:\n"
                "  mailprobe validate scenarios/examples/topology-3.json\n");
            return 0;
        } else if (path.empty() && !a.empty() && a[0] != '-') {
            path = a;
        } else {
            std::fprintf(stderr, "mailprobe validate: unexpected argument '%s' (see --help)\n", a.c_str());
            return 3;
        }
    }
    if (path.empty()) {
        std::fprintf(stderr, "mailprobe validate: which scenario file? (see --help)\n");
        return 3;
    }
    auto loaded = scenarios::load(path, options);
    for (const auto& w : loaded.warnings) {
        std::fprintf(stderr, "warning: %s\n", w.to_string().c_str());
    }
    for (const auto& e : loaded.errors) {
        std::fprintf(stderr, "error: %s\n", e.to_string().c_str());
    }
    if (!loaded.ok()) {
        std::fprintf(stderr, "%s: not valid (%zu error%s)\n", path.c_str(), loaded.errors.size(),
            loaded.errors.size() == 1 ? "" : "s");
        return 2;
    }
    const auto& s = *loaded.value;
    std::set<std::string> topologies;
    for (const auto& p : s.probes) {
        topologies.insert(std::to_string(p.topology));
    }
    std::string used;
    for (const auto& t : topologies) {
        used += (used.empty() ? "" : ", ") + t;
    }
    std::printf("%s: valid: %zu probe%s for %zu tenant%s, %zu servers, %zu mailboxes; topologies %s\n", path.c_str(),
        s.probes.size(), s.probes.size() == 1 ? "" : "s", s.tenants.size(), s.tenants.size() == 1 ? "" : "s",
        s.servers.size(), s.mailboxes.size(), used.empty() ? "none" : used.c_str());
    for (const auto& skipped : loaded.skipped_probes) {
        std::printf("  skipped: %s\n", skipped.c_str());
    }
    return loaded.skipped_probes.empty() ? 0 : 1;
}
