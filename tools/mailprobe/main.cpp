// mailprobe: the command line. Subcommands live in their own files (commands.h); this file
// only dispatches and prints the overview.
#include "tools/mailprobe/commands.h"

#include <cstdio>
#include <string>
#include <vector>

namespace {

void usage(std::FILE* to)
{
    std::fprintf(to,
        "usage: mailprobe COMMAND [ARGS]\n"
        "\n"
        "  demo                 start the built-in server on loopback and run the six topologies,\n"
        "                       a spam-filtered probe, a wrong password, a duplicated delivery\n"
        "                       and a bounce against it\n"
        "  run SCENARIO         run the scenario's probes (on their intervals, or --once)\n"
        "  check --smtp ... --fetch ...\n"
        "                       one probe from flags, as a Nagios/Icinga/Checkmk plugin\n"
        "  validate SCENARIO    load and check a scenario file without sending anything\n"
        "  history --store FILE the results 'run --store FILE' kept\n"
        "  report --store FILE --from DATE --to DATE --out DIR\n"
        "                       availability reports per tenant in HTML, CSV and JSON\n"
        "  load MODE TARGET     drive a server hard (SMTP, IMAP, POP3, round trips, held IMAP\n"
        "                       sessions) and report throughput, latency percentiles and errors\n"
        "\n"
        "example:\n"
        "  mailprobe demo\n"
        "\n"
        "'mailprobe COMMAND --help' tells more about each.\n");
}

} // namespace

int main(int argc, char** argv)
{
    std::string cmd = argc > 1 ? argv[1] : "";
    std::vector<std::string> args(argv + (argc > 1 ? 2 : 1), argv + argc);
    if (cmd == "demo") {
        return run_demo(args);
    }
    if (cmd == "validate") {
        return run_validate(args);
    }
    if (cmd == "run") {
        return run_run(args);
    }
    if (cmd == "check") {
        return run_check(args);
    }
    if (cmd == "history") {
        return run_history(args);
    }
    if (cmd == "report") {
        return run_report(args);
    }
    if (cmd == "load") {
        return run_load(args);
    }
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 3;
}
