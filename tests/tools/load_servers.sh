#!/usr/bin/env bash
# `mailprobe load` against the real Postfix + Dovecot test servers, kept small because other
# tests share them: round trips through Postfix (port 25) into Dovecot (IMAP with STARTTLS),
# POP3 fetches, and SMTP sends; every count must add up and nothing may fail.
# Last, the same round trip taken from a scenario's probe (--scenario FILE --probe NAME).
# Usage: load_servers.sh MAILPROBE EXAMPLES_DIR. Exit 77 (skipped) without the servers.
default_hmac_key=load-test-key-0123456789
# shellcheck disable=SC1091
. "$(dirname "$0")/common.sh" "$@"
common=(--smtp "$INTERNAL_ADDRESS:$INTERNAL_SMTP_PORT" --from "$INTERNAL_SENDER_ADDRESS"
  --to "$INTERNAL_PROBE_BACK_ADDRESS" --password-env INTERNAL_PROBE_BACK_PASSWORD
  --ca-file "$MAILSERVERS_CA_FILE" --verify-name "$INTERNAL_HOSTNAME" --format json)

check() {   # check NAME WANT_OK ARGS...  (with the common flags unless ARGS name a --scenario)
  local name=$1 want=$2 out rc
  shift 2
  if [[ " $* " == *" --scenario "* ]]; then
    out=$("$mailprobe" load "$@" --format json 2>&1)
  else
    out=$("$mailprobe" load "$@" "${common[@]}" 2>&1)
  fi
  rc=$?
  if [ "$rc" -ne 0 ] || ! python3 -c '
import json, sys
r = json.loads(sys.argv[2])["result"]
assert r["started"] == r["ok"] + sum(r["errors_by_stage"].values()), r
assert r["ok"] >= int(sys.argv[1]) and r["failed"] == 0, r' "$want" "$out"; then
    fail "$name: exit $rc, output: $out"
  else
    echo "ok: $name"
  fi
}

check roundtrip 20 roundtrip --imap "$INTERNAL_ADDRESS:$INTERNAL_IMAP_PORT" --fetch-tls starttls \
  --concurrency 2 --count 20
check pop3 10 pop3 --pop3 "$INTERNAL_ADDRESS:$INTERNAL_POP3S_PORT" --fetch-tls implicit --concurrency 1 --count 10
check imap 20 imap --imap "$INTERNAL_ADDRESS:$INTERNAL_IMAPS_PORT" --fetch-tls implicit --concurrency 2 --count 20
check scenario-roundtrip 10 roundtrip --scenario "$examples/topology-1.json" --probe internal-roundtrip \
  --concurrency 2 --count 10
exit $failed
