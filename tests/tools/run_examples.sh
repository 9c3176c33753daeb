#!/usr/bin/env bash
# End to end through the command line: `mailprobe run --once` on every shipped scenario
# example against the loopback Postfix + Dovecot (tools/test.sh starts them and names their
# servers.json in MAILPROBE_SERVERS_JSON). The six topology examples must be Up (exit 0);
# the junk-folder example finds its message "filed as spam in Junk": a Warning (exit 1) under
# its junk_verdict "warning", a Down at deliver (exit 2) for its strict twin; the OAuth2
# example's probes are each a Down at auth saying why. Then `mailprobe
# check` (the Nagios plugin) from flags: OK, CRITICAL for Junk and for a wrong password,
# UNKNOWN for bad usage, WARNING (exit 1) for Junk under --junk-warning, and its performance
# data never shows a warning level above the critical one. The jsonl line of a real run has
# exactly the keys and types docs/RESULTS.md documents. Last, the next-poll mode (`--once --state FILE`) of both: pending
# (UNKNOWN for the plugin) on the first call, Up on the next, a private state file, and a
# broken state file refused with its path and left as it was; and two --shard instances.
# Usage: run_examples.sh MAILPROBE EXAMPLES_DIR. Exit 77 (skipped) without the servers.
default_hmac_key=examples-test-key-0123456789
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh" "$@"
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
# The OAuth2 example against servers that take no OAuth2: each probe is a Down at auth that
# says why (see scenarios/examples/README.md).
export OAUTH2_EXAMPLE_TOKEN=example-static-token-0123 OAUTH2_EXAMPLE_TOKEN_FILE=$work/oauth2-token \
  OAUTH2_EXAMPLE_CLIENT_SECRET=example-client-secret-0123 OAUTH2_EXAMPLE_REFRESH_TOKEN_FILE=$work/oauth2-refresh
echo example-command-token-0123 > "$OAUTH2_EXAMPLE_TOKEN_FILE"
echo example-refresh-token-0123 > "$OAUTH2_EXAMPLE_REFRESH_TOKEN_FILE"
check "$examples/oauth2.json" 2 '"status":"down","stage":"auth","reason":"auth: rejected: server offers neither XOAUTH2 nor OAUTHBEARER' \
  --probe oauth2-static-token
check "$examples/oauth2.json" 2 '"status":"down","stage":"auth","reason":"auth: rejected: server offers neither AUTH=XOAUTH2 nor AUTH=OAUTHBEARER' \
  --probe oauth2-token-command
check "$examples/oauth2.json" 2 '"status":"down","stage":"auth","reason":"auth: refused: token endpoint 127.0.0.1:9: ' \
  --probe oauth2-refresh-token
# The documented jsonl contract (docs/RESULTS.md) on a real run, with --trace for transcript.
out=$("$mailprobe" run "$examples/topology-1.json" --once --format jsonl --trace 2>/dev/null)
if verdict=$(python3 - "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[1].splitlines()[0])
want = {"tenant": str, "probe": str, "topology": int, "status": str, "stage": type(None), "reason": str,
        "server_reply": str, "probe_id": str, "mode": str, "folder": str, "sent": bool, "fetch_session_kept": bool, "ms": dict, "hops": list,
        "max_clock_skew_ms": int, "tls": list, "cert_days_left": int, "warnings": list, "transcript": str}
assert set(r) == set(want), f"keys {sorted(set(r) ^ set(want))} differ"
for k, t in want.items():
    assert isinstance(r[k], t) and not (t is int and isinstance(r[k], bool)), f"{k} is {type(r[k]).__name__}"
assert set(r["ms"]) == {"smtp_connect", "smtp_tls", "smtp_auth", "smtp_transaction", "delivery", "fetch", "total"}
assert all(isinstance(v, int) for v in r["ms"].values())
assert r["hops"] and all(set(h) == {"by", "delay_ms", "skewed", "store"} for h in r["hops"]), r["hops"]
assert r["hops"][-1]["store"] and not r["hops"][0]["store"], "an IMAP fetch ends with the store hop"
assert r["tls"] and all(set(t) == {"server", "version", "cipher", "cert_not_after", "verified", "insecure"}
                        for t in r["tls"]), r["tls"]
assert r["status"] == "up" and r["mode"] == "poll" and r["folder"] == "INBOX" and r["sent"]
print(f"{len(r)} keys, {len(r['hops'])} hops")
PY
); then
  echo "ok: jsonl keys and types: $verdict"
else
  echo "FAIL: the jsonl line breaks the documented contract: $verdict"
  echo "$out"
  failed=1
fi

plugin() {   # plugin EXPECTED_EXIT PATTERN CHECK-ARGS...
  local out rc
  out=$("$mailprobe" check "${@:3}" 2>&1)
  rc=$?
  if [ "$rc" -ne "$1" ] || ! grep -q -- "$2" <<<"$out"; then
    echo "FAIL: check ${*:3}: exit $rc (want $1), output:"
    echo "$out"
    failed=1
  else
    echo "ok: check: exit $rc: ${out%%|*}"
  fi
}

in=(--smtp 127.0.0.10:587 --smtp-user sender@internal.test --smtp-password-env INTERNAL_SENDER_PASSWORD
    --ca-file "$MAILSERVERS_CA_FILE" --verify-name mail.internal.test --from sender@internal.test
    --deadline 10s --poll 200ms)
# The default warn-latency (30 s) is above this deadline (10 s): no warning level in the perfdata.
plugin 0 '^MAILPROBE OK - delivered in .* ms to INBOX | delivery=[0-9.]*s;;10.000;0 ' "${in[@]}" \
  --to probe@internal.test --fetch imaps://127.0.0.10:993 --fetch-password-env INTERNAL_PROBE_PASSWORD
plugin 0 '^MAILPROBE OK - .* | delivery=[0-9.]*s;5.000;10.000;0 ' "${in[@]}" --warn-latency 5s \
  --to probe@internal.test --fetch imaps://127.0.0.10:993 --fetch-password-env INTERNAL_PROBE_PASSWORD
plugin 0 '^MAILPROBE OK' "${in[@]}" --to probe@internal.test \
  --fetch pop3://127.0.0.10:110 --fetch-password-env INTERNAL_PROBE_PASSWORD
plugin 2 '^MAILPROBE CRITICAL - deliver: filed as spam in Junk' "${in[@]}" --to junk@internal.test \
  --fetch imaps://127.0.0.10:993 --fetch-password-env INTERNAL_JUNK_PASSWORD
plugin 1 '^MAILPROBE WARNING - delivered in .* ms to Junk; filed as spam in Junk | ' "${in[@]}" --junk-warning \
  --to junk@internal.test --fetch imaps://127.0.0.10:993 --fetch-password-env INTERNAL_JUNK_PASSWORD
export WRONG_PASSWORD=not-the-password
plugin 2 '^MAILPROBE CRITICAL - auth: auth_failed' "${in[@]}" \
  --to blackhole@internal.test --fetch imaps://127.0.0.10:993 --fetch-user probe@internal.test \
  --fetch-password-env WRONG_PASSWORD
plugin 3 '^MAILPROBE UNKNOWN - --smtp, --fetch, --from and --to are required' --smtp 127.0.0.10:587

# Two instances share the one probe of topology-1: exactly one of them runs it.
shard_runs=0
for k in 0 1; do
  out=$("$mailprobe" run "$examples/topology-1.json" --once --format jsonl --shard "$k/2" 2>&1)
  rc=$?
  [ "$rc" = 0 ] || { echo "FAIL: --shard $k/2: exit $rc: $out"; failed=1; }
  if grep -q '"status":"up"' <<<"$out"; then
    shard_runs=$((shard_runs + 1))
  elif ! grep -q "shard $k/2 has no probe" <<<"$out"; then
    echo "FAIL: --shard $k/2 neither ran the probe nor said its share is empty: $out"
    failed=1
  fi
done
[ "$shard_runs" = 1 ] && echo "ok: --shard 0/2 and 1/2 ran the probe once between them" \
  || { echo "FAIL: the two shards ran the probe $shard_runs times"; failed=1; }

state_dir=$work
state=$state_dir/run.state
check "$examples/topology-3.json" 0 '"status":"pending",.*"mode":"next-poll"' --state "$state"
# The forwarding loop through the other organisation takes well under a second on loopback.
sleep 2
check "$examples/topology-3.json" 0 '"status":"up",.*"mode":"next-poll"' --state "$state"
if [ "$(stat -c %a "$state")" != 600 ] || ! grep -q '"mailprobe_state": 1' "$state"; then
  echo "FAIL: the state file is not a private mailprobe state: $(stat -c %a "$state")"
  failed=1
fi
echo '{"mailprobe_state": 1, "probes": [' > "$state_dir/broken.state"
check "$examples/topology-3.json" 3 "broken.state: not JSON" --state "$state_dir/broken.state"
if [ "$(cat "$state_dir/broken.state")" != '{"mailprobe_state": 1, "probes": [' ]; then
  echo "FAIL: a broken state file was overwritten"
  failed=1
fi
plugin 3 '^MAILPROBE UNKNOWN - sent the first message' "${in[@]}" --to probe@internal.test \
  --fetch imaps://127.0.0.10:993 --fetch-password-env INTERNAL_PROBE_PASSWORD --state "$state_dir/check.state"
sleep 1
plugin 0 '^MAILPROBE OK - seen after .* ms to INBOX' "${in[@]}" --to probe@internal.test \
  --fetch imaps://127.0.0.10:993 --fetch-password-env INTERNAL_PROBE_PASSWORD --state "$state_dir/check.state"
exit $failed
