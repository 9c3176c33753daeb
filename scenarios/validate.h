// Semantic checks of a parsed scenario: references that point nowhere, names used twice,
// impossible timing, contradictory TLS settings and the topology rules. The loader runs it;
// a scenario built in code can run it too.
//
// Topologies (outgoing server zone / fetch server zone / recipient zone; a recipient is
// internal when its domain is one of internal_domains):
//   1 internal/internal/internal     2 internal/external/external
//   3 internal/internal/external     (the outside mailbox forwards back inside; fetched there)
//   4 external/external/external     5 external/internal/internal
//   6 external/external/internal     (an inside user forwards to an outside mailbox)
// For 3 and 6 the fetched mailbox must not be the recipient, since the message only reaches
// it by forwarding; for the others a fetched mailbox other than the recipient is a warning.
#pragma once

#include "scenarios/diagnostic.h"
#include "scenarios/scenario.h"

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace scenarios {

struct validation_report {
    std::vector<diagnostic> errors;
    std::vector<diagnostic> warnings;
};

/// Checks `s`. `probe_positions[i]` is the index in the file of s.probes[i] (for pointers such
/// as /probes/7/topology when earlier probes were dropped); empty means s.probes[i] is /probes/i.
/// Problems of one probe carry diagnostic::probe; the rest fail the whole scenario.
validation_report validate(const scenario& s, std::span<const std::size_t> probe_positions = {});

/// The zones a topology requires.
struct topology_zones {
    network_zone outgoing;
    network_zone fetch;
    network_zone recipient;
    bool forwarding;            // the fetched mailbox is not the recipient
};
/// Empty for a topology outside 1-6.
std::optional<topology_zones> zones_of(int topology) noexcept;

} // namespace scenarios
