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
        "  demo                 run the engine on loopback against peers it starts itself:\n"
        "                       STARTTLS with certificate verification, a wrong-name failure,\n"
        "                       200 concurrent TLS clients, a server that never greets\n"
        "  validate SCENARIO    load and check a scenario file without sending anything\n"
        "\n"
        "'mailprobe COMMAND --help' tells more about each.\n");
}

} // namespace

int main(int argc, char** argv)
{
    std::string cmd = argc > 1 ? argv[1] : "";
    std::vector<std::string> args(argv + (argc > 1 ? 2 : 1), argv + argc);
    if (cmd == "demo") {
        return run_demo();
    }
    if (cmd == "validate") {
        return run_validate(args);
    }
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 3;
}
