#!/usr/bin/env bash
# `mailprobe load` from the command line: every usage error exits 3 naming its problem, and
# short bounded runs against the built-in server (SMTP, round trips with TLS on both legs,
# IMAP, POP3, held sessions) report counts that add up: started = ok + failures by stage.
# Usage: load.sh MAILPROBE
set -u
mailprobe=$1
failed=0
fail() { echo "FAIL: $*"; failed=1; }

usage_error() {   # usage_error PATTERN ARGS...: exit 3 and PATTERN on stderr
  local pattern=$1 out rc
  shift
  out=$("$mailprobe" load "$@" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -ne 3 ] || ! grep -q -- "$pattern" <<<"$out"; then
    fail "load $*: exit $rc (want 3), stderr: $out"
  else
    echo "ok: load $* -> 3 ($pattern)"
  fi
}

"$mailprobe" load --help | grep -q -- '--rate N' || fail "load --help does not document --rate"
usage_error 'name a MODE'
usage_error "unknown mode 'smtps'" smtps --builtin
usage_error 'give a target' smtp
usage_error 'give one target' smtp --builtin --smtp 127.0.0.1:25
usage_error 'IP literal' smtp --smtp mail.example.org:25 --from a@b.test --to c@d.test
usage_error 'IP literal' smtp --smtp 127.0.0.1:0 --from a@b.test --to c@d.test
usage_error 'whole number from 1' smtp --builtin --rate 0
usage_error 'whole number from 1 to 1000000' smtp --builtin --count 1000001
usage_error 'positive duration' smtp --builtin --duration 0
usage_error 'positive duration' smtp --builtin --duration soon
usage_error 'none, starttls or implicit' smtp --builtin --smtp-tls ssl
usage_error 'text or json' smtp --builtin --format xml
usage_error "unknown option '--bogus'" smtp --builtin --bogus
usage_error 'needs a value' smtp --builtin --count
usage_error '--scenario needs --probe' smtp --scenario x.json
usage_error 'give --smtp IP:PORT, --from and --to' roundtrip --imap 127.0.0.1:143
usage_error 'needs a password' imap --smtp 127.0.0.1:25 --imap 127.0.0.1:143 --from a@b.test --to c@d.test
usage_error 'is not set' imap --smtp 127.0.0.1:25 --imap 127.0.0.1:143 --from a@b.test --to c@d.test \
  --password-env MAILPROBE_LOAD_TEST_UNSET

adds_up() {   # adds_up WANT_OK JSON [hold]: counts add up and WANT_OK operations succeeded
  python3 - "$@" <<'PY'
import json, sys
want, doc = int(sys.argv[1]), json.loads(sys.argv[2])
parts = [doc["opens"], doc["polls"]] if len(sys.argv) > 3 else [doc["result"]]
for r in parts:
    assert r["started"] == r["ok"] + sum(r["errors_by_stage"].values()), r
    assert r["failed"] == sum(r["errors_by_stage"].values()), r
    lat = r["latency_ms"]
    assert lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99_9"] <= lat["max"], lat
r = parts[-1]
assert r["ok"] >= want and r["failed"] == 0, r
PY
}

run() {   # run NAME WANT_OK ARGS...
  local name=$1 want=$2 out rc
  shift 2
  out=$("$mailprobe" load "$@" --format json 2>&1)
  rc=$?
  if [ "$rc" -ne 0 ] || ! adds_up "$want" "$out" ${hold:+hold}; then
    fail "$name: exit $rc, output: $out"
  else
    echo "ok: $name"
  fi
}

run smtp-closed 300 smtp --builtin --concurrency 8 --count 300
run smtp-open 100 smtp --builtin --rate 200 --duration 500ms
run roundtrip-tls 60 roundtrip --builtin --smtp-tls starttls --fetch-tls implicit --concurrency 4 --count 60
run roundtrip-tls-resumed 60 roundtrip --builtin --smtp-tls implicit --fetch-tls starttls --tls-resume --concurrency 4 \
  --count 60
run imap 50 imap --builtin --concurrency 4 --count 50
run pop3 30 pop3 --builtin --concurrency 1 --count 30 --fetch-tls starttls
hold=1 run imap-hold-tls 100 imap-hold --builtin --fetch-tls implicit --sessions 50 --poll 200ms --duration 500ms

# The text report names the figures.
out=$("$mailprobe" load smtp --builtin --count 20 --concurrency 2)
grep -q 'latency ms: p50 .* p90 .* p99 .* p99.9 .* max' <<<"$out" || fail "text report: $out"

exit $failed
