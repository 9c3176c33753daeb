#!/bin/bash
# mailservers.sh: runs two private mail "organisations" (Postfix + Dovecot each) on loopback
# for the integration tests, and writes what the tests need to know about them.
#
#   mailservers.sh start  RUNDIR   generate certs + configs under RUNDIR, (re)start both orgs,
#                                  wait until every listener answers, write servers.env/.json
#   mailservers.sh stop   RUNDIR   stop both orgs and wait until their processes are gone
#   mailservers.sh status RUNDIR   say what is running; exit 0 only when all of it is
#
# Organisations: internal (127.0.0.10, internal.test) and external (127.0.0.20, external.test).
# The design (ports, users, routes, special mailboxes, logs) is in README.md beside this file.
#
# It refuses to let mail leave the machine or to touch the network: listeners bind only the
# org's own loopback address, no DNS lookup is ever made (routes are literal addresses in
# transport_maps), and any domain other than the two test domains is rejected or bounced.
# It never uses the system instances (/etc/postfix/main.cf, /etc/dovecot); everything lives
# under RUNDIR. Kept across starts: the CA and certificates, mailboxes and queues (delete RUNDIR
# for a clean slate). Must run as root (ports below 1024, mail uid switching).
set -euo pipefail

readonly orgs=(internal external)
readonly mailbox_users=(probe sender junk probe-back probe-out)
# name:port:kind, kind = smtp|tls (implicit TLS)|imap|pop3
readonly listeners=(smtp:25:smtp submission:587:smtp submissions:465:tls
                    imap:143:imap imaps:993:tls pop3:110:pop3 pop3s:995:tls)
readonly ready_timeout_s=15

die() { echo "mailservers.sh: $*" >&2; exit 1; }

org_addr()   { case $1 in internal) echo 127.0.0.10 ;; external) echo 127.0.0.20 ;; esac; }
org_domain() { echo "$1.test"; }
org_host()   { echo "mail.$1.test"; }
other_org()  { case $1 in internal) echo external ;; external) echo internal ;; esac; }
# The forward targets name the topologies the tests drive: internal fwd@ leaves the company
# (topology 6), external fwd@ comes back in (topology 3).
fwd_target() { case $1 in internal) echo probe-out@external.test ;; external) echo probe-back@internal.test ;; esac; }
# Passwords are known to the tests through servers.env/.json; distinct per user and org so a
# mix-up of accounts fails loudly instead of passing by accident.
user_password() { echo "$2-$1-pw"; }

usage() { echo "usage: $0 start|stop|status RUNDIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
case $action in
    start) mkdir -p "$2" ;;
    stop|status) [ -d "$2" ] || { echo "mailservers.sh: nothing in $2"; [ "$action" = stop ]; exit; } ;;
    *) usage ;;
esac
rundir=$(cd "$2" && pwd)

# Dovecot puts unix sockets under base_dir; sun_path holds 108 bytes, and the deepest socket
# name Dovecot uses is about 40 bytes below base_dir.
if [ ${#rundir} -gt 60 ]; then
    die "RUNDIR path too long for unix sockets (${#rundir} > 60 chars): $rundir"
fi

ca_dir=$rundir/ca
ca_cert=$ca_dir/ca.pem
pf_conf()     { echo "$rundir/$1/postfix"; }
pf_queue()    { echo "$rundir/$1/postfix-queue"; }
pf_data()     { echo "$rundir/$1/postfix-data"; }
dc_conf()     { echo "$rundir/$1/dovecot/dovecot.conf"; }
dc_base()     { echo "$rundir/$1/dovecot-run"; }
dc_pidfile()  { echo "$rundir/$1/dovecot-run/master.pid"; }
mail_root()   { echo "$rundir/$1/mail"; }
log_dir()     { echo "$rundir/$1/logs"; }
pf_log()      { echo "$rundir/$1/logs/postfix.log"; }
dc_log()      { echo "$rundir/$1/logs/dovecot.log"; }
lmtp_socket() { echo "$(dc_base "$1")/lmtp"; }
auth_socket() { echo "$(dc_base "$1")/auth-postfix"; }

# ---------------------------------------------------------------------------- certificates
make_certs() {
    mkdir -p "$ca_dir"
    if [ ! -s "$ca_cert" ] || [ ! -s "$ca_dir/ca.key" ]; then
        openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
            -keyout "$ca_dir/ca.key" -out "$ca_cert" -days 3650 -sha256 \
            -subj "/O=mailprobe tests/CN=mailprobe test CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null \
            || die "openssl failed to make the test CA"
        rm -f "$ca_dir"/*.crt
    fi
    local org
    for org in "${orgs[@]}"; do
        local crt=$ca_dir/$org.crt key=$ca_dir/$org.key
        # Regenerate when missing or close to expiry (checkend: 1 day).
        if [ -s "$crt" ] && [ -s "$key" ] && openssl x509 -checkend 86400 -noout -in "$crt" >/dev/null; then
            continue
        fi
        openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
            -keyout "$key" -out "$ca_dir/$org.csr" -subj "/O=mailprobe tests/CN=$(org_host "$org")" \
            2>/dev/null || die "openssl failed to make the $org key"
        openssl x509 -req -in "$ca_dir/$org.csr" -CA "$ca_cert" -CAkey "$ca_dir/ca.key" \
            -CAcreateserial -days 825 -sha256 -out "$crt" -extfile <(printf '%s\n' \
                "basicConstraints=critical,CA:FALSE" \
                "keyUsage=critical,digitalSignature" \
                "extendedKeyUsage=serverAuth" \
                "subjectAltName=DNS:$(org_host "$org"),IP:$(org_addr "$org")") \
            2>/dev/null || die "openssl failed to sign the $org certificate"
        rm -f "$ca_dir/$org.csr"
    done
    chmod 600 "$ca_dir"/*.key
}

# ---------------------------------------------------------------------------- postfix
write_postfix() {
    local org=$1
    local conf addr domain other
    conf=$(pf_conf "$org"); addr=$(org_addr "$org"); domain=$(org_domain "$org"); other=$(other_org "$org")
    mkdir -p "$conf" "$(pf_queue "$org")" "$(pf_data "$org")"
    chown postfix "$(pf_data "$org")"

    # Recipients accepted at RCPT for the own domain; anything else there is 550 (unknown user).
    {
        local u
        for u in "${mailbox_users[@]}"; do echo "$u@$domain OK"; done
        echo "blackhole@$domain OK"
    } > "$conf/virtual_mailboxes"
    echo "fwd@$domain $(fwd_target "$org")" > "$conf/virtual_aliases"
    # Routes: no DNS anywhere. The address key beats the domain key; '*' catches the rest so
    # nothing can ever leave the machine.
    cat > "$conf/transport" <<EOF
blackhole@$domain discard:blackhole mailbox
$domain lmtp:unix:$(lmtp_socket "$org")
$(org_domain "$other") smtp:[$(org_addr "$other")]:25
* error:5.1.2 mailprobe test servers deliver only to internal.test and external.test
EOF
    # Submission may relay to the two test domains only.
    printf '%s OK\n' internal.test external.test > "$conf/submission_domains"

    cat > "$conf/main.cf" <<EOF
# Generated by tests/servers/mailservers.sh for the $org organisation; do not edit.
compatibility_level = 3.6
queue_directory = $(pf_queue "$org")
data_directory = $(pf_data "$org")
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-$org
maillog_file = $(pf_log "$org")
maillog_file_prefixes = $rundir

myhostname = $(org_host "$org")
mydomain = $domain
myorigin = $domain
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
readme_directory = no
# Addresses are named on each master.cf listener; loopback-only keeps Postfix from binding
# anything else (lo carries only 127.0.0.1/8 as an interface address).
inet_interfaces = loopback-only
inet_protocols = ipv4
smtp_bind_address = $addr
mynetworks = $addr/32

# No DNS: no reverse lookups of clients, no MX/A lookups for next hops.
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled

virtual_mailbox_domains = $domain
virtual_mailbox_maps = texthash:$conf/virtual_mailboxes
virtual_alias_maps = texthash:$conf/virtual_aliases
virtual_transport = lmtp:unix:$(lmtp_socket "$org")
transport_maps = texthash:$conf/transport

# Port 25: anyone may send to the own domain, nobody may relay.
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions = reject_unlisted_recipient
# Submission (587, 465): authenticated users reach both test domains and nothing else.
submission_recipient_restrictions = reject_unlisted_recipient, check_recipient_access texthash:$conf/submission_domains, reject
submission_relay_restrictions = permit_sasl_authenticated, reject

smtpd_sasl_type = dovecot
smtpd_sasl_path = $(auth_socket "$org")
smtpd_sasl_auth_enable = no
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous

smtpd_tls_cert_file = $rundir/ca/$org.crt
smtpd_tls_key_file = $rundir/ca/$org.key
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtp_tls_security_level = may
smtp_tls_CAfile = $ca_cert
smtp_tls_loglevel = 1

# Tests want failures fast, not retried for days.
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
queue_run_delay = 10s
minimal_backoff_time = 10s
maximal_backoff_time = 30s
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
anvil_rate_time_unit = 60s
EOF

    local l="$addr"
    cat > "$conf/master.cf" <<EOF
# Generated by tests/servers/mailservers.sh for the $org organisation; do not edit.
# service type  private unpriv  chroot  wakeup  maxproc command + args
$l:25      inet  n       -       n       -       -       smtpd
$l:587     inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix-$org/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=\$submission_relay_restrictions
  -o smtpd_recipient_restrictions=\$submission_recipient_restrictions
$l:465     inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix-$org/submissions
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=\$submission_relay_restrictions
  -o smtpd_recipient_restrictions=\$submission_recipient_restrictions
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    : >> "$(pf_log "$org")"
    # Postfix waits ~2 s for a main.cf modified within the last second to settle.
    touch -d '-10 seconds' "$conf"/*
}

# ---------------------------------------------------------------------------- dovecot
write_dovecot() {
    local org=$1
    local ddir addr domain mroot base
    ddir=$(dirname "$(dc_conf "$org")"); addr=$(org_addr "$org"); domain=$(org_domain "$org")
    mroot=$(mail_root "$org"); base=$(dc_base "$org")
    mkdir -p "$ddir/sieve" "$mroot" "$ddir/state"
    chown mail:mail "$mroot"
    chmod 700 "$mroot"

    local u
    for u in "${mailbox_users[@]}"; do
        echo "$u@$domain:{PLAIN}$(user_password "$org" "$u")::::::"
    done > "$ddir/users"
    chmod 640 "$ddir/users"
    chgrp dovecot "$ddir/users"

    # Global spam filter, run before any user script on LMTP delivery.
    cat > "$ddir/sieve/before.sieve" <<'EOF'
# Generated by tests/servers/mailservers.sh: the organisation's spam filter.
require ["fileinto", "envelope"];
# A message the upstream filter flagged as spam goes to Junk.
if header :is "X-Spam-Flag" "YES" {
    fileinto "Junk";
    stop;
}
# junk@ is the mailbox whose mail is always judged spam.
if envelope :localpart :is "to" "junk" {
    fileinto "Junk";
    stop;
}
EOF
    # The LMTP process runs as the mail user and stores the compiled script beside it.
    chown -R mail:mail "$ddir/sieve"

    cat > "$(dc_conf "$org")" <<EOF
# Generated by tests/servers/mailservers.sh for the $org organisation; do not edit.
instance_name = dovecot-mailprobe-$org
base_dir = $base
state_dir = $ddir/state
log_path = $(dc_log "$org")
info_log_path = $(dc_log "$org")
hostname = $(org_host "$org")
postmaster_address = postmaster@$domain
protocols = imap pop3 lmtp
listen = $addr
shutdown_clients = yes

ssl = yes
ssl_cert = <$rundir/ca/$org.crt
ssl_key = <$rundir/ca/$org.key
ssl_dh = </usr/share/dovecot/dh.pem
ssl_min_protocol = TLSv1.2

# Tests cover plaintext and TLS logins alike, and wrong passwords must fail fast.
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_username_format = %Lu
auth_verbose = yes

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $ddir/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $ddir/users
  default_fields = uid=mail gid=mail home=$mroot/%n
}
first_valid_uid = 8
first_valid_gid = 8
mail_location = maildir:~/Maildir
mail_plugins =

namespace inbox {
  inbox = yes
  separator = /
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
}
lda_mailbox_autocreate = yes
lda_mailbox_autosubscribe = yes

service imap-login {
  inet_listener imap {
    port = 143
  }
  inet_listener imaps {
    port = 993
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 110
  }
  inet_listener pop3s {
    port = 995
    ssl = yes
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
protocol lmtp {
  mail_plugins = \$mail_plugins sieve
}
plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
  sieve_before = $ddir/sieve/before.sieve
}
EOF
}

# ---------------------------------------------------------------------------- process control
dc_pid() {
    local f; f=$(dc_pidfile "$1")
    [ -s "$f" ] || return 1
    local pid; pid=$(cat "$f")
    group_alive "$pid" && grep -q dovecot "/proc/$pid/comm" 2>/dev/null && echo "$pid"
}
pf_pid() {
    local f; f="$(pf_queue "$1")/pid/master.pid"
    [ -s "$f" ] || return 1
    local pid; pid=$(tr -d ' ' < "$f")
    group_alive "$pid" && echo "$pid"
}

# True while the process group led by $1 has a live (non-zombie) member. Zombies count as
# gone: their parent here may be an init that reaps slowly.
group_alive() {
    ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

# Waits (bounded) until the process groups led by the given daemon pids are gone.
wait_gone() {
    local what=$1; shift
    local p
    for _ in $(seq 1 100); do
        local alive=0
        for p in "$@"; do
            if group_alive "$p"; then alive=1; fi
        done
        [ $alive -eq 0 ] && return 0
        sleep 0.05
    done
    echo "mailservers.sh: $what still running after 5 s; killing" >&2
    for p in "$@"; do kill -9 -- "-$p" 2>/dev/null || true; done
}

# Signals every daemon of both organisations first and then waits once: Dovecot's log process
# lingers about 1 s after its master is told to stop, so waiting per org would double that.
stop_all() {
    local org pids=() pid
    for org in "${orgs[@]}"; do
        if [ -f "$(pf_conf "$org")/main.cf" ] && pid=$(pf_pid "$org"); then
            # abort sends master the same SIGTERM as stop but skips stop's 1 s polling sleep;
            # wait_gone polls finer. master leads a process group its children share.
            postfix -c "$(pf_conf "$org")" abort >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
        if pid=$(dc_pid "$org"); then
            kill "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    [ ${#pids[@]} -eq 0 ] || wait_gone "mail servers of $rundir" "${pids[@]}"
}

# Prints the reason a listener is not answering, or nothing when it answers.
probe_listener() {
    local addr=$1 port=$2 kind=$3 host=$4 line
    case $kind in
        smtp|imap|pop3)
            if ! line=$(timeout 2 bash -c "exec 3<>/dev/tcp/$addr/$port && IFS= read -r -t 2 l <&3 && echo \"\$l\"" 2>/dev/null); then
                echo "no connection or no greeting"; return
            fi
            case $kind:$line in
                smtp:220*|imap:"* OK"*|pop3:+OK*) ;;
                *) echo "unexpected greeting: ${line:-<none>}" ;;
            esac ;;
        tls)
            if ! timeout 3 openssl s_client -connect "$addr:$port" -CAfile "$ca_cert" \
                    -verify_return_error -verify_hostname "$host" -brief </dev/null >/dev/null 2>&1; then
                echo "TLS handshake with $host (test CA) failed"
            fi ;;
    esac
}

show_failure() {
    local org=$1
    echo "---- postfix -c $(pf_conf "$org") check" >&2
    postfix -c "$(pf_conf "$org")" check >&2 2>&1 || true
    echo "---- last lines of $(pf_log "$org")" >&2
    tail -n 20 "$(pf_log "$org")" >&2 2>/dev/null || true
    echo "---- last lines of $(dc_log "$org")" >&2
    tail -n 20 "$(dc_log "$org")" >&2 2>/dev/null || true
}

wait_ready() {
    local deadline=$(( $(date +%s) + ready_timeout_s )) org entry
    for org in "${orgs[@]}"; do
        for entry in "${listeners[@]}" lmtp:socket:unix auth:socket:unix; do
            local name=${entry%%:*} rest=${entry#*:}
            local port=${rest%%:*} kind=${rest#*:} why
            while :; do
                if [ "$kind" = unix ]; then
                    local s; if [ "$name" = lmtp ]; then s=$(lmtp_socket "$org"); else s=$(auth_socket "$org"); fi
                    if [ -S "$s" ]; then why=""; else why="socket $s missing"; fi
                else
                    why=$(probe_listener "$(org_addr "$org")" "$port" "$kind" "$(org_host "$org")")
                fi
                [ -z "$why" ] && break
                if [ "$(date +%s)" -ge "$deadline" ]; then
                    echo "mailservers.sh: $org $name ($(org_addr "$org"):$port) not answering after ${ready_timeout_s} s: $why" >&2
                    show_failure "$org"
                    exit 1
                fi
                sleep 0.05
            done
        done
    done
}

# Another RUNDIR's servers (or anything else) on our addresses would answer the readiness
# probes in our place, so name the conflict instead of starting next to it.
check_ports_free() {
    local org entry busy
    for org in "${orgs[@]}"; do
        for entry in "${listeners[@]}"; do
            local rest=${entry#*:}
            busy=$(ss -Hltnp "src $(org_addr "$org"):${rest%%:*}" 2>/dev/null || true)
            [ -z "$busy" ] || die "$(org_addr "$org"):${rest%%:*} is already in use (another RUNDIR still running? stop it first): $busy"
        done
    done
}

# ---------------------------------------------------------------------------- facts for tests
write_env() {
    local f=$rundir/servers.env org u
    {
        echo "# Generated by tests/servers/mailservers.sh; shell-sourceable."
        echo "MAILSERVERS_RUNDIR=$rundir"
        echo "MAILSERVERS_CA_FILE=$ca_cert"
        echo "MAILSERVERS_ORGS=\"${orgs[*]}\""
        for org in "${orgs[@]}"; do
            local P=${org^^} d; d=$(org_domain "$org")
            echo "${P}_ADDRESS=$(org_addr "$org")"
            echo "${P}_DOMAIN=$d"
            echo "${P}_HOSTNAME=$(org_host "$org")"
            local entry
            for entry in "${listeners[@]}"; do
                local name=${entry%%:*} rest=${entry#*:}
                echo "${P}_${name^^}_PORT=${rest%%:*}"
            done
            echo "${P}_POSTFIX_LOG=$(pf_log "$org")"
            echo "${P}_DOVECOT_LOG=$(dc_log "$org")"
            echo "${P}_MAIL_ROOT=$(mail_root "$org")"
            for u in "${mailbox_users[@]}"; do
                local U=${u^^}; U=${U//-/_}
                echo "${P}_${U}_ADDRESS=$u@$d"
                echo "${P}_${U}_LOGIN=$u@$d"
                echo "${P}_${U}_PASSWORD=$(user_password "$org" "$u")"
                echo "${P}_${U}_MAILDIR=$(mail_root "$org")/$u/Maildir"
            done
            echo "${P}_FWD_ADDRESS=fwd@$d"
            echo "${P}_FWD_TARGET=$(fwd_target "$org")"
            echo "${P}_BLACKHOLE_ADDRESS=blackhole@$d"
            echo "${P}_UNKNOWN_ADDRESS=nobody@$d"
        done
    } > "$f.tmp"
    mv "$f.tmp" "$f"
}

write_json() {
    local f=$rundir/servers.json org u first_org=1
    {
        printf '{\n  "rundir": "%s",\n  "ca_file": "%s",\n  "orgs": {\n' "$rundir" "$ca_cert"
        for org in "${orgs[@]}"; do
            local d; d=$(org_domain "$org")
            [ $first_org -eq 1 ] || printf ',\n'
            first_org=0
            printf '    "%s": {\n' "$org"
            printf '      "address": "%s",\n      "domain": "%s",\n      "hostname": "%s",\n' \
                "$(org_addr "$org")" "$d" "$(org_host "$org")"
            printf '      "ports": {'
            local entry sep=""
            for entry in "${listeners[@]}"; do
                local name=${entry%%:*} rest=${entry#*:}
                printf '%s"%s": %s' "$sep" "$name" "${rest%%:*}"
                sep=", "
            done
            printf '},\n'
            printf '      "logs": {"postfix": "%s", "dovecot": "%s"},\n' "$(pf_log "$org")" "$(dc_log "$org")"
            printf '      "mail_root": "%s",\n' "$(mail_root "$org")"
            printf '      "users": {\n'
            sep=""
            for u in "${mailbox_users[@]}"; do
                printf '%s        "%s": {"address": "%s@%s", "login": "%s@%s", "password": "%s", "maildir": "%s"}' \
                    "$sep" "$u" "$u" "$d" "$u" "$d" "$(user_password "$org" "$u")" "$(mail_root "$org")/$u/Maildir"
                sep=$',\n'
            done
            printf '\n      },\n'
            printf '      "forward": {"address": "fwd@%s", "target": "%s"},\n' "$d" "$(fwd_target "$org")"
            printf '      "junk": "junk@%s",\n      "blackhole": "blackhole@%s",\n      "unknown": "nobody@%s"\n' "$d" "$d" "$d"
            printf '    }'
        done
        printf '\n  }\n}\n'
    } > "$f.tmp"
    mv "$f.tmp" "$f"
}

# ---------------------------------------------------------------------------- actions
do_start() {
    [ "$(id -u)" -eq 0 ] || die "must run as root"
    if ! command -v postfix >/dev/null || ! command -v dovecot >/dev/null; then
        die "postfix/dovecot missing: run tests/servers/install.sh first"
    fi
    local org
    stop_all
    rm -f "$rundir/servers.env" "$rundir/servers.json"
    check_ports_free
    make_certs
    for org in "${orgs[@]}"; do
        mkdir -p "$(log_dir "$org")"
        write_postfix "$org"
        write_dovecot "$org"
    done
    for org in "${orgs[@]}"; do
        local out queue
        out=$(log_dir "$org")/start.out; queue=$(pf_queue "$org")
        # check creates the queue directories with the right owners; it costs about 1 s of
        # postconf runs, so it runs only when the queue is new. quick-start tells postfix start
        # to skip its own copy of the check; config errors still fail master -w below, and
        # show_failure then prints the check output.
        if [ ! -d "$queue/maildrop" ]; then
            if ! postfix -c "$(pf_conf "$org")" check >"$out" 2>&1; then
                cat "$out" >&2
                die "postfix check failed for $org"
            fi
        fi
        touch "$queue/quick-start"
        # Output goes to a file: the daemons inherit it, so a pipe would never see EOF.
        if ! dovecot -c "$(dc_conf "$org")" >"$out" 2>&1; then
            cat "$out" >&2
            show_failure "$org"
            die "dovecot failed to start for $org"
        fi
        if ! postfix -c "$(pf_conf "$org")" start >"$out" 2>&1; then
            cat "$out" >&2
            show_failure "$org"
            die "postfix failed to start for $org"
        fi
    done
    wait_ready
    write_env
    write_json
    echo "mailservers.sh: running in $rundir (facts in servers.env and servers.json)"
}

do_stop() {
    stop_all
    echo "mailservers.sh: stopped ($rundir)"
}

do_status() {
    local org ok=0
    for org in "${orgs[@]}"; do
        local p d
        if p=$(pf_pid "$org"); then p="postfix pid $p"; else p="postfix stopped"; ok=1; fi
        if d=$(dc_pid "$org"); then d="dovecot pid $d"; else d="dovecot stopped"; ok=1; fi
        echo "$org ($(org_addr "$org")): $p, $d"
    done
    return $ok
}

case $action in
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    *) usage ;;
esac
