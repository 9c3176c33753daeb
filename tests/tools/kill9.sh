#!/usr/bin/env bash
# kill -9 in the middle of `mailprobe run`, against the loopback Postfix + Dovecot:
#  - results already written to the --store history survive, and the database opens clean;
#  - the killed run's probe message, delivered but not yet deleted, is found and deleted by
#    the next run once it is older than the deadline (and nothing else is touched);
#  - the next-poll state file is never half-written, however often a run is killed.
# Usage: kill9.sh MAILPROBE EXAMPLES_DIR. Exit 77 (skipped) without the servers.
default_hmac_key=kill9-test-key-0123456789
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh" "$@"
name="kill9-$$"
maildir=$INTERNAL_PROBE_MAILDIR

# Topology 1 to probe@internal.test. The run to be killed looks for its message in another
# mailbox (the sender's), so it is still waiting when its message lands in probe@'s; the
# normal runs fetch from probe@ under the same probe name.
scenario() {   # scenario FETCH_MAILBOX
  python3 - "$examples/topology-1.json" "$name" "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s.pop("$schema", None)
s["defaults"].update({"interval": "1m", "deadline": "6s", "poll": "1s", "warn_latency": "6s"})
p = s["probes"][0]
p.update({"name": sys.argv[2], "fetch": sys.argv[3]})
p.pop("require_auth_results", None)
p.pop("bounce_mailbox", None)
print(json.dumps(s))
PY
}
scenario int-probe > "$work/s.json"
scenario int-sender > "$work/blind.json"
ours() { grep -l "p=$name;" "$maildir"/new/* "$maildir"/cur/* 2>/dev/null | wc -l; }
# A person's message in the probe mailbox, delivered the Maildir way: it must survive. (Other
# tests deliver to this mailbox at the same time, so counting its messages would prove nothing.)
person="$maildir/new/$(date +%s).kill9-$$.person"
printf 'From: someone@internal.test\r\nSubject: not a probe %s\r\n\r\nkeep me\r\n' "$name" > "$maildir/tmp/${person##*/}"
chown --reference="$maildir/new" "$maildir/tmp/${person##*/}"
mv "$maildir/tmp/${person##*/}" "$person"
person_left() { grep -l "not a probe $name" "$maildir"/new/* "$maildir"/cur/* 2>/dev/null | wc -l; }

# 1. One good result in the history.
"$mailprobe" run "$work/s.json" --once --format jsonl --store "$work/h.db" > "$work/first" 2>&1 \
  || fail "the first run was not Up: $(cat "$work/first")"

# 2. The killed run.
"$mailprobe" run "$work/blind.json" --once --format jsonl --store "$work/h.db" > "$work/killed" 2>&1 &
pid=$!
for ((i = 0; i < 40 && $(ours) == 0; i++)); do sleep 0.1; done
[ "$(ours)" = 1 ] || fail "the killed run's message never arrived"
kill -9 "$pid"
wait "$pid" 2>/dev/null
pid=
[ "$(ours)" = 1 ] || fail "the killed run's message should still be there"
"$mailprobe" history --store "$work/h.db" --format jsonl > "$work/history" 2>&1
if ! grep -q "\"probe\":\"$name\",.*\"status\":\"up\"" "$work/history" || [ "$(wc -l < "$work/history")" != 1 ]; then
  fail "the history lost the first result: $(cat "$work/history")"
else
  echo "ok: the history kept the result written before the kill"
fi

# 3. The next run after the deadline deletes the orphan along with its own message.
sleep 6
"$mailprobe" run "$work/s.json" --once --format jsonl > "$work/after" 2>&1 || fail "the run after the kill: $(cat "$work/after")"
if [ "$(ours)" != 0 ]; then
  fail "the killed run's message was not cleaned up: $(ours) left"
else
  echo "ok: the next run deleted the killed run's message"
fi
if [ "$(person_left)" = 1 ]; then
  grep -l "not a probe $name" "$maildir"/new/* "$maildir"/cur/* 2>/dev/null | xargs rm -f
else
  fail "the person's message in the probe mailbox was touched"
fi

# 4. The state file under kill -9 at random moments: always whole, or absent.
for ((i = 0; i < 20; i++)); do
  "$mailprobe" run "$work/s.json" --once --state "$work/state" > /dev/null 2>&1 &
  pid=$!
  sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  pid=
  if [ -e "$work/state" ] && ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$work/state" 2>/dev/null; then
    fail "a kill left a broken state file: $(head -c 300 "$work/state")"
    break
  fi
done
ls "$work"/state.tmp.* > /dev/null 2>&1 && echo "note: a killed run left a temporary file (harmless; it never replaces the state)"
"$mailprobe" run "$work/s.json" --once --state "$work/state" > "$work/last" 2>&1
case $? in
  0|2) echo "ok: 20 kills, the state file always parsed and the next run used it" ;;
  *) fail "the run after the kills could not use the state: $(cat "$work/last")" ;;
esac
exit $failed
