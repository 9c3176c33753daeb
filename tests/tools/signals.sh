#!/usr/bin/env bash
# `mailprobe run` as a daemon under signals, against the loopback Postfix + Dovecot:
#  - SIGTERM drains: no new run starts, the run in flight finishes (its real verdict, not
#    "cancelled"), the results are out, exit 0;
#  - with a short --grace the run in flight is cut: Down "cancelled", still exit 0;
#  - SIGHUP with a broken file keeps the running scenario and says what is wrong; SIGHUP with
#    a good file switches to it.
# Usage: signals.sh MAILPROBE EXAMPLES_DIR. Exit 77 (skipped) without the servers.
default_hmac_key=signals-test-key-0123456789
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh" "$@"

# scenario NAME TO INTERVAL DEADLINE POLL: topology-1.json with one probe, its timing and
# recipient changed (blackhole@ accepts and never delivers).
scenario() {
  python3 - "$examples/topology-1.json" "$@" <<'PY'
import json, sys
src, name, to, interval, deadline, poll = sys.argv[1:]
s = json.load(open(src))
s.pop("$schema", None)
s["defaults"].update({"interval": interval, "deadline": deadline, "poll": poll, "warn_latency": deadline})
p = s["probes"][0]
p.update({"name": name, "to": to})
p.pop("require_auth_results", None)
print(json.dumps(s, indent=1))
PY
}

# wait_for FILE PATTERN SECONDS: until a line matches.
wait_for() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# start FILE ARGS...: mailprobe run in the background, results in $work/out, log in $work/err.
start() {
  : > "$work/out"
  : > "$work/err"
  "$mailprobe" run "$1" --format jsonl "${@:2}" > "$work/out" 2> "$work/err" &
  pid=$!
}

# finish SECONDS: waits for the process to end by itself; its exit status in $rc.
finish() {
  local i
  for ((i = 0; i < $1 * 10; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      rc=$?
      pid=
      return 0
    fi
    sleep 0.1
  done
  rc=timeout
  return 1
}

# 1. Drain: the second run is in flight when SIGTERM comes; it ends with its own verdict.
scenario drain-probe blackhole@internal.test 5s 4s 500ms > "$work/drain.json"
start "$work/drain.json"
wait_for "$work/out" '"probe":"drain-probe"' 15 || fail "drain: no first result: $(cat "$work/err")"
sleep 2
kill -TERM "$pid"
finish 15 || fail "drain: still running 15 s after SIGTERM"
lines=$(grep -c '"probe":"drain-probe"' "$work/out")
if [ "$rc" != 0 ] || [ "$lines" != 2 ] || ! tail -n 1 "$work/out" | grep -q '"reason":"not delivered within 4 s"' \
   || ! grep -q 'draining' "$work/err"; then
  fail "drain: exit $rc, $lines results (want 0, 2, the last 'not delivered within 4 s'):"
  cat "$work/out" "$work/err"
else
  echo "ok: SIGTERM drained the run in flight, exit 0"
fi

# 2. A grace shorter than the run: the run is cut, reported, exit 0.
start "$work/drain.json" --grace 300ms --store "$work/grace.db"
wait_for "$work/out" '"probe":"drain-probe"' 15 || fail "grace: no first result"
sleep 2
kill -TERM "$pid"
finish 5 || fail "grace: still running 5 s after SIGTERM with --grace 300ms"
if [ "$rc" != 0 ] || ! tail -n 1 "$work/out" | grep -q '"status":"down".*cancelled' \
   || ! grep -q 'grace period over' "$work/err"; then
  fail "grace: exit $rc, output:"
  cat "$work/out" "$work/err"
else
  echo "ok: --grace cut the run in flight, reported as cancelled, exit 0"
fi
# The cut run is no verdict on mail flow: the history keeps the first result, not the cut one.
"$mailprobe" history --store "$work/grace.db" --format jsonl > "$work/grace-history" 2>&1
if grep -q cancelled "$work/grace-history" || ! grep -q '"probe":"drain-probe"' "$work/grace-history"; then
  fail "grace: the history holds the cut run or lost the first: $(cat "$work/grace-history")"
else
  echo "ok: the history kept the finished run and not the cut one"
fi

# 3. SIGHUP: a broken file is refused with where and what, the old probe keeps running; a good
#    file replaces it.
scenario before-reload probe@internal.test 1s 1s 200ms > "$work/live.json"
start "$work/live.json"
wait_for "$work/out" '"probe":"before-reload"' 15 || fail "reload: no first result: $(cat "$work/err")"
echo '{"version": 1, "probes": [' > "$work/live.json"
kill -HUP "$pid"
wait_for "$work/err" 'did not load; the running scenario goes on' 5 || fail "reload: a broken file was not reported"
grep -q "reload refused: error: $work/live.json" "$work/err" || fail "reload: the refusal does not name the file: $(cat "$work/err")"
before=$(grep -c '"probe":"before-reload"' "$work/out")
sleep 2.5
after=$(grep -c '"probe":"before-reload"' "$work/out")
[ "$after" -gt "$before" ] || fail "reload: the old scenario stopped after a broken reload ($before -> $after results)"
scenario after-reload probe@internal.test 1s 1s 200ms > "$work/live.json"
kill -HUP "$pid"
wait_for "$work/out" '"probe":"after-reload","topology":1,"status":"up"' 10 \
  || fail "reload: the new scenario did not run: $(cat "$work/err")"
kill -TERM "$pid"
finish 10 || fail "reload: still running after SIGTERM"
[ "$rc" = 0 ] || fail "reload: exit $rc"
[ "$failed" = 0 ] && echo "ok: SIGHUP refused a broken file and then switched to a good one"
exit $failed
