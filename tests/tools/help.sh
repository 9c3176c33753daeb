#!/usr/bin/env bash
# Every command's --help: exit 0, the text on stdout, and an example that runs that command
# (a line under "example:" or "examples:" that calls `mailprobe COMMAND`).
# Usage: help.sh MAILPROBE
set -u
mailprobe=$1
failed=0
for command in "" demo run check validate load history report; do
  out=$("$mailprobe" $command --help 2>/dev/null)
  rc=$?
  want="mailprobe ${command:-demo}"
  example=$(awk '/^examples?:$/ {on = 1; next} on && /^$/ {on = 0} on' <<<"$out" | grep -F -- "$want")
  if [ "$rc" -ne 0 ] || [ -z "$example" ]; then
    echo "FAIL: mailprobe $command --help: exit $rc, no example calling '$want' in:"
    echo "$out"
    failed=1
  else
    echo "ok: mailprobe $command --help: $(head -1 <<<"$example" | sed 's/^ *//')"
  fi
done
exit $failed
