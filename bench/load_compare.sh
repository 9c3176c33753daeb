#!/usr/bin/env bash
# SMTP sends per second in one run: Postfix's smtp-source into Postfix's smtp-sink, then
# `mailprobe load smtp` into the built-in server, with the same message count, body size and
# concurrency; ROUNDS rounds alternating the two, the best of each, and our/Postfix ratio.
# Both pairs run client and server on this machine's cores; smtp-source opens one session
# per message, as `mailprobe load smtp` does.
#
# Usage: bench/load_compare.sh MAILPROBE [COUNT=20000] [SESSIONS=20] [SIZE=1024] [ROUNDS=3]
set -euo pipefail
mailprobe=$1
count=${2:-20000}
sessions=${3:-20}
size=${4:-1024}
rounds=${5:-3}
PATH=$PATH:/usr/sbin:/usr/lib/postfix/sbin
port=$((20000 + $$ % 20000))
work=$(mktemp -d)
sink=
cleanup() { [ -n "$sink" ] && kill "$sink" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# As root smtp-sink wants a user to run as.
sink_user=()
[ "$(id -u)" -eq 0 ] && sink_user=(-u nobody)
(cd "$work" && exec smtp-sink "${sink_user[@]}" "127.0.0.1:$port" 1024) &
sink=$!
sleep 0.3

best_postfix=0
best_ours=0
for round in $(seq "$rounds"); do
  start=$(date +%s%N)
  smtp-source -s "$sessions" -m "$count" -l "$size" -f sender@load.test -t load@load.test "127.0.0.1:$port"
  end=$(date +%s%N)
  postfix=$(python3 -c "print(f'{$count / (($end - $start) / 1e9):.0f}')")
  ours=$("$mailprobe" load smtp --builtin --concurrency "$sessions" --count "$count" --size "$size" --format json \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)["result"]; assert r["failed"] == 0, r; print(round(r["per_second"]))')
  echo "round $round: smtp-source -> smtp-sink $postfix/s, mailprobe load -> built-in server $ours/s"
  best_postfix=$((postfix > best_postfix ? postfix : best_postfix))
  best_ours=$((ours > best_ours ? ours : best_ours))
done
echo "best: smtp-source $best_postfix/s, mailprobe load $best_ours/s," \
  "ratio $(python3 -c "print(f'{$best_ours / $best_postfix:.2f}')")" \
  "($count messages of $size body bytes, $sessions sessions; $(uptime | sed 's/.*load average/load average/'))"
