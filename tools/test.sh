#!/usr/bin/env bash
# Sets up this machine (Debian 12, as root) and runs every test mailprobe has:
#   1. in an AddressSanitizer + UndefinedBehaviorSanitizer build (which also compiles the
#      benchmarks): the unit suites, the fuzz-corpus replays, and the integration tests against
#      real Postfix + Dovecot started on loopback by tests/servers/mailservers.sh;
#   2. each libFuzzer target for a bounded time (FUZZ_SECONDS, default 30) with clang-16.
# One build, not a plain one and a sanitizer one: compiling twice took most of 30 minutes on
# two cores, and the sanitizer build finds all the plain one would and more. tools/demo.sh
# builds the plain binary.
# Ends with one line "N passed, N failed" and exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
fuzz_seconds=${FUZZ_SECONDS:-30}

step() { printf '\n=== %s\n' "$*"; }
die() { echo "test.sh: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

step "installing build and test dependencies"
tools/install-deps.sh || die "installing dependencies failed"
bash tests/servers/install.sh || die "installing Postfix and Dovecot failed"

step "building (AddressSanitizer + UndefinedBehaviorSanitizer)"
# -O1 -g1: GCC compiles our coroutines under ASan three times faster than at -O2 -g (the
# sanitizer build was most of the test run), and line tables are all a sanitizer report needs.
[ -f build-asan/build.ninja ] || meson setup build-asan --wrap-mode=nodownload \
  -Db_sanitize=address,undefined -Dbuildtype=plain -Dcpp_args='-O1 -g1' >/dev/null \
  || die "meson setup build-asan failed"
ninja -C build-asan || die "sanitizer build failed"

step "starting Postfix + Dovecot on 127.0.0.10 and 127.0.0.20"
# Dovecot's socket paths must stay short, so the servers live under /tmp, not the clone.
rundir=$(mktemp -d /tmp/mp-test.XXXXXX)
# mktemp makes it 0700; Postfix and Dovecot drop root and must reach their folders inside.
chmod 755 "$rundir"
cleanup() { bash tests/servers/mailservers.sh stop "$rundir" >/dev/null 2>&1; rm -rf "$rundir"; }
trap cleanup EXIT
bash tests/servers/mailservers.sh start "$rundir" || die "the test mail servers did not start"
export MAILPROBE_SERVERS_JSON="$rundir/servers.json"

step "running the test suites"
# A crashed test binary may leave no test case in the JUnit log, so meson's own verdict
# is counted too.
runs_failed=0
# halt_on_error makes UBSan findings fail the test instead of only printing.
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-asan --print-errorlogs --num-processes 2 || runs_failed=$((runs_failed + 1))

step "fuzzing each parser for ${fuzz_seconds} s"
fuzz_results="$root/build-fuzz/fuzz-results.txt"
if [ ! -f build-fuzz/build.ninja ]; then
  CXX=clang++-16 meson setup build-fuzz --wrap-mode=nodownload -Dfuzz=true -Dbench=false \
    -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized >/dev/null \
    || die "meson setup build-fuzz failed"
fi
: > "$fuzz_results"
for corpus in tests/fuzz/corpus/*/; do
  name=$(basename "$corpus")
  if ! ninja -C build-fuzz "tests/fuzz/$name" >/dev/null; then
    echo "$name failed to build" >> "$fuzz_results"
    continue
  fi
  # Work on a copy: findings and new inputs stay out of the repository.
  work=$(mktemp -d /tmp/mp-fuzz.XXXXXX)
  cp -r "$corpus". "$work/"
  if "build-fuzz/tests/fuzz/$name" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$root/build-fuzz/$name-" "$work" > "build-fuzz/$name.log" 2>&1; then
    echo "$name passed" >> "$fuzz_results"
  else
    echo "$name failed (see build-fuzz/$name.log and build-fuzz/$name-*)" >> "$fuzz_results"
    tail -n 30 "build-fuzz/$name.log"
  fi
  rm -rf "$work"
done
cat "$fuzz_results"

step "summary"
python3 tools/count-results.py build-asan/meson-logs/testlog.junit.xml \
  --fuzz "$fuzz_results" --runs-failed "$runs_failed"
