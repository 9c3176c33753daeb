#!/usr/bin/env bash
# End to end through the command line: `mailprobe run --once` on every shipped scenario
# example against the loopback Postfix + Dovecot (tools/test.sh starts them and names their
# servers.json in MAILPROBE_SERVERS_JSON). The six topology examples must be Up (exit 0);
# the junk-folder example finds its message "filed as spam in Junk": a Warning (exit 1) under
# its junk_verdict "warning", a Down at deliver (exit 2) for its strict twin.
# Usage: run_examples.sh MAILPROBE EXAMPLES_DIR. Exit 77 (skipped) without the servers.
set -u
mailprobe=$1
examples=$2
if [ -z "${MAILPROBE_SERVERS_JSON:-}" ]; then
  echo "MAILPROBE_SERVERS_JSON is not set: no test servers, skipped"
  exit 77
fi
set -a
# shellcheck disable=SC1091
. "$(dirname "$MAILPROBE_SERVERS_JSON")/servers.env"
MAILPROBE_HMAC_KEY=${MAILPROBE_HMAC_KEY:-examples-test-key-0123456789}
set +a

failed=0
check() {   # check FILE EXPECTED_EXIT PATTERN [RUN OPTIONS...]
  local out rc
  out=$("$mailprobe" run "$1" --once --format jsonl "${@:4}" 2>&1)
  rc=$?
  if [ "$rc" -ne "$2" ] || ! grep -q -- "$3" <<<"$out"; then
    echo "FAIL: $1: exit $rc (want $2), output:"
    echo "$out"
    failed=1
  else
    echo "ok: $(basename "$1"): exit $rc"
  fi
}

for n in 1 2 3 4 5 6; do
  check "$examples/topology-$n.json" 0 '"status":"up"'
done
check "$examples/junk-folder.json" 1 '"status":"warning","stage":"deliver","reason":"filed as spam in Junk"'
check "$examples/junk-folder.json" 2 '"status":"down","stage":"deliver","reason":"filed as spam in Junk"' \
  --probe lands-in-junk-strict
exit $failed
