#!/bin/sh
# mailprobe check's OAuth2 login flags: two logins for one side are UNKNOWN (exit 3) naming
# the flags, an empty token command or an unreadable or oversized token file is UNKNOWN, and
# a token command is accepted (the probe then fails at connect against a closed loopback port:
# CRITICAL, exit 2, not UNKNOWN).
# Usage: check_oauth2_flags.sh MAILPROBE
set -u
mp=$1
common="check --smtp 127.0.0.1:9 --smtp-tls none --fetch imap://127.0.0.1:9 --fetch-tls none --from probe@example.test --to probe@example.test --deadline 2s --poll 1s"
fail=0
expect() { # status, text, args...
    want=$1 text=$2
    shift 2
    out=$(timeout 20 "$mp" $common "$@")
    got=$?
    case $out in *"$text"*) ;; *) echo "FAIL: '$*' printed: $out"; fail=1 ;; esac
    [ "$got" -eq "$want" ] || { echo "FAIL: '$*' exited $got, wanted $want"; fail=1; }
}
export MP_TEST_PW=pw
expect 3 "give only one of --fetch-password-env, -password-file, -oauth2-token-env, -oauth2-token-file and -oauth2-token-command" \
    --fetch-password-env MP_TEST_PW --fetch-oauth2-token-command "/bin/echo tok"
expect 3 "give only one of --smtp-password-env" --smtp-user u --smtp-oauth2-token-env MP_TEST_PW \
    --smtp-password-env MP_TEST_PW
expect 3 "--fetch-oauth2-token-command is empty" --fetch-oauth2-token-command " "
expect 3 "environment variable MP_TEST_NO_SUCH_VAR is not set" --fetch-oauth2-token-env MP_TEST_NO_SUCH_VAR
expect 3 "give only one of --smtp-password-env" --smtp-user u --smtp-oauth2-token-file /dev/null \
    --smtp-oauth2-token-env MP_TEST_PW
expect 3 "cannot read /nonexistent/token" --fetch-oauth2-token-file /nonexistent/token
# A token file is read with a bound: /dev/zero is the wrong file, not an endless read.
expect 3 "/dev/zero is larger than 16 KiB" --fetch-oauth2-token-file /dev/zero
expect 2 "CRITICAL" --smtp-user u --smtp-oauth2-token-command "/bin/echo tok" --fetch-oauth2-token-env MP_TEST_PW
exit $fail
