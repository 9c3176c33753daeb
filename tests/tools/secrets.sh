#!/usr/bin/env bash
# No secret in any output: every shipped example run with --trace (text and jsonl) into a
# --store history, that history printed and reported (HTML, CSV, JSON), the Nagios plugin
# with --trace (a good and a wrong password, OAuth2 tokens from env and file), next-poll state
# files, validate, and every --help. Each test password, its SASL PLAIN and LOGIN encodings,
# the HMAC key, the OAuth2 example's tokens (static, from its command, refreshed), their
# XOAUTH2 and OAUTHBEARER encodings, its client secret and refresh token are searched for in
# all of it.
# Usage: secrets.sh MAILPROBE EXAMPLES_DIR. Exit 77 (skipped) without the servers.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh" "$@"
export MAILPROBE_HMAC_KEY=secrets-test-hmac-key-do-not-print
export WRONG_PASSWORD=wrong-password-do-not-print
out=$work/out
mkdir -p "$out"
# The OAuth2 example's secrets (scenarios/examples/oauth2.json).
export OAUTH2_EXAMPLE_TOKEN=static-token-do-not-print-0123
export OAUTH2_EXAMPLE_TOKEN_FILE=$work/command-token
export OAUTH2_EXAMPLE_CLIENT_SECRET=client-secret-do-not-print-0123
export OAUTH2_EXAMPLE_REFRESH_TOKEN_FILE=$work/refresh-token
export CHECK_TOKEN_FILE=$work/check-token
echo command-token-do-not-print-0123 > "$OAUTH2_EXAMPLE_TOKEN_FILE"
echo refresh-token-do-not-print-0123 > "$OAUTH2_EXAMPLE_REFRESH_TOKEN_FILE"
echo file-token-do-not-print-0123 > "$CHECK_TOKEN_FILE"

n=0
capture() {   # capture COMMAND...: stdout and stderr into one file of $out
  n=$((n + 1))
  "$@" > "$out/$n.txt" 2>&1
}
for f in "$examples"/*.json; do
  capture "$mailprobe" validate "$f"
  capture "$mailprobe" run "$f" --once --trace --format jsonl --store "$work/h.db"
  capture "$mailprobe" run "$f" --once --trace --store "$work/h.db"
  capture "$mailprobe" run "$f" --once --trace --state "$work/$(basename "$f").state"
done
in=(--smtp 127.0.0.10:587 --smtp-user sender@internal.test --smtp-password-env INTERNAL_SENDER_PASSWORD
    --ca-file "$MAILSERVERS_CA_FILE" --verify-name mail.internal.test --from sender@internal.test
    --to probe@internal.test --deadline 10s --poll 200ms --trace)
capture "$mailprobe" check "${in[@]}" --fetch imaps://127.0.0.10:993 --fetch-password-env INTERNAL_PROBE_PASSWORD
capture "$mailprobe" check "${in[@]}" --fetch pop3://127.0.0.10:110 --fetch-password-env WRONG_PASSWORD
tok=(--smtp 127.0.0.10:587 --smtp-user sender@internal.test --smtp-oauth2-token-env OAUTH2_EXAMPLE_TOKEN
     --ca-file "$MAILSERVERS_CA_FILE" --verify-name mail.internal.test --from sender@internal.test
     --to blackhole@internal.test --deadline 5s --poll 200ms --trace)
capture "$mailprobe" check "${tok[@]}" --fetch imaps://127.0.0.10:993 --fetch-user probe@internal.test \
  --fetch-oauth2-token-file "$CHECK_TOKEN_FILE"
capture "$mailprobe" check "${in[@]}" --to blackhole@internal.test --fetch pop3://127.0.0.10:110 \
  --fetch-user probe@internal.test --fetch-oauth2-token-file "$CHECK_TOKEN_FILE"
capture "$mailprobe" history --store "$work/h.db" --format jsonl
capture "$mailprobe" history --store "$work/h.db"
capture "$mailprobe" report --store "$work/h.db" --from 2000-01-01 --to 2100-01-01 --out "$out/report" \
  --format html,csv,json
for c in "" demo run check validate history report; do
  capture "$mailprobe" $c --help
done
cp "$work"/*.state "$out/" 2>/dev/null

# The needles: every password of the test servers, the wrong one, the HMAC key, the OAuth2
# tokens, client secret and refresh token, and the SASL encodings a transcript could leak
# them in (XOAUTH2; OAUTHBEARER for every user, server and port a probe logs in to).
python3 - "$out" <<'PY' > "$work/needles"
import base64, os, sys
secrets = {v for k, v in os.environ.items() if k.endswith("_PASSWORD") and v}
users = {k[:-len("_PASSWORD")]: v for k, v in os.environ.items() if k.endswith("_PASSWORD")}
needles = set(secrets) | {os.environ["MAILPROBE_HMAC_KEY"]}
for prefix, pw in users.items():
    login = os.environ.get(prefix + "_LOGIN")
    if login and pw:
        needles.add(base64.b64encode(f"\0{login}\0{pw}".encode()).decode())
        needles.add(base64.b64encode(pw.encode()).decode())
def read(path):
    with open(path) as f:
        return f.read().strip()
tokens = [os.environ["OAUTH2_EXAMPLE_TOKEN"], read(os.environ["OAUTH2_EXAMPLE_TOKEN_FILE"]),
          read(os.environ["CHECK_TOKEN_FILE"])]
needles |= {os.environ["OAUTH2_EXAMPLE_CLIENT_SECRET"], read(os.environ["OAUTH2_EXAMPLE_REFRESH_TOKEN_FILE"])}
b64 = lambda s: base64.b64encode(s.encode()).decode()
for t in tokens:
    needles |= {t, b64(t)}
    for user in ("sender@internal.test", "probe@internal.test", "blackhole@internal.test"):
        needles.add(b64(f"user={user}\x01auth=Bearer {t}\x01\x01"))
        for port in (587, 993, 110, 995, 143):
            needles.add(b64(f"n,a={user},\x01host=127.0.0.10\x01port={port}\x01auth=Bearer {t}\x01\x01"))
for n in sorted(needles):
    print(n)
PY
files=$(find "$out" -type f | wc -l)
[ "$files" -gt 40 ] || { echo "FAIL: only $files outputs captured"; exit 1; }
grep -q 'UID SEARCH\|STAT\|UIDL' -r "$out" || { echo "FAIL: no transcript was captured"; exit 1; }
leaks=$(grep -r -l -F -f "$work/needles" "$out")
if [ -n "$leaks" ]; then
  echo "FAIL: secrets in:"
  for f in $leaks; do
    echo "== $f"
    grep -n -F -f "$work/needles" "$f" | head -5
  done
  exit 1
fi
echo "ok: $(wc -l < "$work/needles") secrets, none in $files outputs"
