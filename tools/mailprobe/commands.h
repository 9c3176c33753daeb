// The subcommands of the mailprobe command line, one file each. Each returns the process
// exit status.
#pragma once

#include <string>
#include <vector>

/// `mailprobe demo`
int run_demo(const std::vector<std::string>& args);

/// `mailprobe validate SCENARIO [--keep-going]`
int run_validate(const std::vector<std::string>& args);

/// `mailprobe run SCENARIO [--once] [--format text|jsonl] [--tenant T] [--probe P] ...`
int run_run(const std::vector<std::string>& args);

/// `mailprobe check --smtp HOST:PORT --fetch URL --from ADDR --to ADDR ...` (a Nagios plugin)
int run_check(const std::vector<std::string>& args);

/// `mailprobe history --store FILE [--tenant T] [--probe P] [--since TIME] [--format text|jsonl]`
int run_history(const std::vector<std::string>& args);

/// `mailprobe report --store FILE --from DATE --to DATE --out DIR [--tenant T] [--format ...]`
int run_report(const std::vector<std::string>& args);

/// `mailprobe load MODE (--builtin | --smtp IP:PORT ... | --scenario FILE --probe NAME) [options]`
int run_load(const std::vector<std::string>& args);
