#!/bin/bash
# smoke.sh: a bounded self-check of the two loopback mail organisations that
# mailservers.sh started in RUNDIR. It drives them with swaks (SMTP) and openssl s_client
# (IMAP, POP3), always verifying certificates against the test CA and the server's name,
# and checks where each message lands by reading the Maildirs directly.
#
#   smoke.sh RUNDIR        exit 0 when every check passed; otherwise names each failure
#
# It refuses to run unbounded: every client has a timeout and every wait for a delivery a
# deadline, so a broken setup fails in seconds, not minutes. It only talks to the listeners
# named in RUNDIR/servers.env (loopback addresses, no names resolved).
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 RUNDIR" >&2; exit 2; }
rundir=$(cd "$1" && pwd) || exit 2
[ -s "$rundir/servers.env" ] || { echo "smoke.sh: no $rundir/servers.env; run mailservers.sh start first" >&2; exit 2; }
# shellcheck source=/dev/null
. "$rundir/servers.env"
command -v swaks >/dev/null || { echo "smoke.sh: swaks missing: run tests/servers/install.sh" >&2; exit 2; }

readonly delivery_timeout_s=10
logs=$rundir/smoke
rm -rf "$logs"
mkdir -p "$logs"
run_id=smoke-$(date +%s)-$$
failures=()
passed=0
started=$(date +%s%N)

fail() { failures+=("$1"); echo "FAIL: $1 (see $logs)"; }
pass() { passed=$((passed + 1)); echo "ok:   $1"; }

# var ORG FIELD -> value of ${ORG}_${FIELD} from servers.env.
var() { local n="${1^^}_$2"; echo "${!n}"; }

# swaks_send NAME ORG PORT MODE LOGIN PASSWORD TO [swaks args...]
# MODE: starttls (587), tlsc (465) or plain (25, no AUTH). Output in $logs/NAME.log.
swaks_send() {
    local name=$1 org=$2 port=$3 mode=$4 login=$5 password=$6 to=$7
    shift 7
    local args=(--server "$(var "$org" ADDRESS)" --port "$port" --helo "smoke.$(var "$org" DOMAIN)"
                --to "$to" --timeout 10 --header "Subject: $name $run_id"
                --body "smoke check $name, token $run_id-$name")
    case $mode in
        starttls) args+=(--tls --tls-verify --tls-ca-path "$MAILSERVERS_CA_FILE") ;;
        tlsc) args+=(--tlsc --tls-verify --tls-ca-path "$MAILSERVERS_CA_FILE") ;;
        plain) ;;
    esac
    if [ -n "$login" ]; then
        args+=(--from "$login" --auth PLAIN --auth-user "$login" --auth-password "$password")
    else
        args+=(--from "smoke@$(var "$org" DOMAIN)")
    fi
    timeout 20 swaks "${args[@]}" "$@" >"$logs/$name.log" 2>&1
}

# Submits as ORG's sender over 587 (STARTTLS + AUTH) or 465 (implicit TLS + AUTH).
submit() {
    local name=$1 org=$2 port=$3 to=$4
    shift 4
    local mode=starttls
    [ "$port" = 465 ] && mode=tlsc
    if swaks_send "$name" "$org" "$port" "$mode" "$(var "$org" SENDER_LOGIN)" \
            "$(var "$org" SENDER_PASSWORD)" "$to" "$@"; then
        return 0
    fi
    fail "$name: submission over $port to $to refused"
    return 1
}

# expect_reject NAME CODE: the swaks run NAME must have failed with server reply CODE.
expect_reject() {
    local name=$1 code=$2 what=$3
    # swaks marks a failed reply "<**" in clear text and "<~*" inside TLS.
    if grep -qE "^ *<(\*\*|~\*) $code" "$logs/$name.log"; then
        pass "$what"
    else
        fail "$name: expected $code ($what)"
    fi
}

# Pending deliveries: "name|maildir-folder" pairs checked after all messages were sent.
pending=()
expect_in() { pending+=("$1|$2"); }

token_in() { grep -rlsF -- "$run_id-$1" "$2/new" "$2/cur" >/dev/null 2>&1; }

wait_deliveries() {
    local deadline=$(( $(date +%s) + delivery_timeout_s )) entry
    for entry in "${pending[@]}"; do
        local name=${entry%%|*} dir=${entry#*|}
        until token_in "$name" "$dir"; do
            if [ "$(date +%s)" -ge "$deadline" ]; then
                fail "$name: message not in $dir within ${delivery_timeout_s} s"
                continue 2
            fi
            sleep 0.05
        done
        pass "$name: delivered to ${dir#"$rundir"/}"
    done
}

# The message must be in DIR and in no other folder of the same Maildir.
only_in() {
    local name=$1 dir=$2 maildir=$3 other
    for other in "$maildir" "$maildir"/.*; do
        if [ ! -d "$other/new" ] || [ "$other" = "$dir" ]; then continue; fi
        if token_in "$name" "$other"; then fail "$name: also found in $other"; fi
    done
}

# tls_session NAME ORG PORT [-starttls PROTO]: feeds stdin to a verified TLS session.
tls_session() {
    local name=$1 org=$2 port=$3
    shift 3
    timeout 15 openssl s_client -connect "$(var "$org" ADDRESS):$port" -CAfile "$MAILSERVERS_CA_FILE" \
        -verify_return_error -verify_hostname "$(var "$org" HOSTNAME)" -quiet -ign_eof "$@" \
        >"$logs/$name.log" 2>&1
}

# ---------------------------------------------------------------------------- SMTP submissions
probe_i=$INTERNAL_PROBE_MAILDIR
probe_e=$EXTERNAL_PROBE_MAILDIR

submit submit-587-same-org internal 587 "$INTERNAL_PROBE_ADDRESS" && expect_in submit-587-same-org "$probe_i"
submit submit-465-same-org internal 465 "$INTERNAL_PROBE_ADDRESS" && expect_in submit-465-same-org "$probe_i"
submit submit-587-cross-org internal 587 "$EXTERNAL_PROBE_ADDRESS" && expect_in submit-587-cross-org "$probe_e"
submit submit-465-cross-org external 465 "$INTERNAL_PROBE_ADDRESS" && expect_in submit-465-cross-org "$probe_i"
# Topology 3: out to the external forwarder, back in to internal probe-back@.
submit forward-external internal 587 "$EXTERNAL_FWD_ADDRESS" && expect_in forward-external "$INTERNAL_PROBE_BACK_MAILDIR"
# Topology 6: internal forwarder sends it out to external probe-out@.
submit forward-internal internal 587 "$INTERNAL_FWD_ADDRESS" && expect_in forward-internal "$EXTERNAL_PROBE_OUT_MAILDIR"
submit junk-mailbox internal 587 "$INTERNAL_JUNK_ADDRESS" && expect_in junk-mailbox "$INTERNAL_JUNK_MAILDIR/.Junk"
submit spam-flag internal 587 "$EXTERNAL_PROBE_ADDRESS" --add-header "X-Spam-Flag: YES" \
    && expect_in spam-flag "$probe_e/.Junk"
blackhole_sent=0
submit blackhole internal 587 "$EXTERNAL_BLACKHOLE_ADDRESS" && blackhole_sent=1 && pass "blackhole: accepted at submission"
# Port 25 takes mail for the own domain without AUTH, and relays nothing.
if swaks_send port25-own-domain external 25 starttls "" "" "$EXTERNAL_PROBE_ADDRESS"; then
    expect_in port25-own-domain "$probe_e"
else
    fail "port25-own-domain: port 25 refused mail for its own domain"
fi

# ---------------------------------------------------------------------------- refusals
swaks_send unknown-user internal 587 starttls "$INTERNAL_SENDER_LOGIN" "$INTERNAL_SENDER_PASSWORD" \
    "$INTERNAL_UNKNOWN_ADDRESS"
expect_reject unknown-user 550 "unknown user rejected 550 at RCPT (submission)"
swaks_send unknown-user-25 external 25 plain "" "" "$EXTERNAL_UNKNOWN_ADDRESS"
expect_reject unknown-user-25 550 "unknown user rejected 550 at RCPT (port 25)"
swaks_send wrong-password internal 587 starttls "$INTERNAL_SENDER_LOGIN" "not-the-password" \
    "$INTERNAL_PROBE_ADDRESS"
expect_reject wrong-password 535 "wrong password rejected 535"
swaks_send relay-denied-25 internal 25 plain "" "" "$EXTERNAL_PROBE_ADDRESS"
expect_reject relay-denied-25 554 "port 25 refuses to relay to the other org"
swaks_send outside-world internal 587 starttls "$INTERNAL_SENDER_LOGIN" "$INTERNAL_SENDER_PASSWORD" \
    "someone@example.com"
# The error: transport for every other domain makes smtpd refuse at RCPT.
expect_reject outside-world 550 "submission refuses domains outside the test domains"

# ---------------------------------------------------------------------------- deliveries
wait_deliveries
only_in spam-flag "$probe_e/.Junk" "$probe_e"
only_in junk-mailbox "$INTERNAL_JUNK_MAILDIR/.Junk" "$INTERNAL_JUNK_MAILDIR"

# The blackhole message must be discarded: logged as such by the external org, in no Maildir.
if [ $blackhole_sent -eq 1 ]; then
    deadline=$(( $(date +%s) + delivery_timeout_s ))
    until grep -qE "to=<$EXTERNAL_BLACKHOLE_ADDRESS>.*relay=none.*status=sent \(blackhole mailbox\)" "$EXTERNAL_POSTFIX_LOG"; do
        if [ "$(date +%s)" -ge "$deadline" ]; then fail "blackhole: no discard logged in $EXTERNAL_POSTFIX_LOG"; break; fi
        sleep 0.05
    done
    if grep -rlsF -- "$run_id-blackhole" "$rundir/internal/mail" "$rundir/external/mail" >/dev/null; then
        fail "blackhole: message was delivered to a mailbox"
    else
        pass "blackhole: discarded, in no mailbox"
    fi
fi

# ---------------------------------------------------------------------------- IMAP and POP3
printf 'a LOGIN %s %s\r\nb LIST "" "*"\r\nc LOGOUT\r\n' "$INTERNAL_PROBE_LOGIN" "$INTERNAL_PROBE_PASSWORD" \
    | tls_session imaps-list internal "$INTERNAL_IMAPS_PORT"
if grep -q '^a OK' "$logs/imaps-list.log" && grep -qE '^\* LIST \([^)]*\\Junk[^)]*\) "/" "?Junk' "$logs/imaps-list.log" \
        && grep -q '^b OK' "$logs/imaps-list.log"; then
    pass "IMAP over 993: LOGIN and LIST shows \\Junk"
else
    fail "imaps-list: IMAP LOGIN + LIST with \\Junk over 993"
fi
printf 'a LOGIN %s %s\r\nb SELECT Junk\r\nc LOGOUT\r\n' "$EXTERNAL_PROBE_LOGIN" "$EXTERNAL_PROBE_PASSWORD" \
    | tls_session imap-starttls external "$EXTERNAL_IMAP_PORT" -starttls imap
if grep -q '^a OK' "$logs/imap-starttls.log" && grep -q '^b OK' "$logs/imap-starttls.log"; then
    pass "IMAP STARTTLS over 143: LOGIN and SELECT Junk"
else
    fail "imap-starttls: IMAP STARTTLS + LOGIN + SELECT Junk over 143"
fi
printf 'USER %s\r\nPASS %s\r\nSTAT\r\nQUIT\r\n' "$INTERNAL_PROBE_LOGIN" "$INTERNAL_PROBE_PASSWORD" \
    | tls_session pop3s-login internal "$INTERNAL_POP3S_PORT"
# Greeting, USER, PASS, STAT with at least the two same-org messages, QUIT.
if [ "$(grep -c '^+OK' "$logs/pop3s-login.log")" -ge 5 ] && grep -qE '^\+OK [1-9][0-9]* ' "$logs/pop3s-login.log"; then
    pass "POP3 over 995: login and STAT sees mail"
else
    fail "pop3s-login: POP3 login + STAT over 995"
fi
printf 'USER %s\r\nPASS %s\r\nQUIT\r\n' "$EXTERNAL_PROBE_LOGIN" "wrong" \
    | tls_session pop3-stls-wrong external "$EXTERNAL_POP3_PORT" -starttls pop3
if grep -q '^-ERR' "$logs/pop3-stls-wrong.log"; then
    pass "POP3 STLS over 110: wrong password refused"
else
    fail "pop3-stls-wrong: POP3 STLS with a wrong password was not refused"
fi

elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
echo "smoke.sh: ${#failures[@]} failed, $passed passed in ${elapsed_ms} ms (client logs in $logs)"
if [ ${#failures[@]} -gt 0 ]; then
    printf 'smoke.sh: FAILED: %s\n' "${failures[@]}" >&2
    exit 1
fi
