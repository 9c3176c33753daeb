# Sourced by the command-line integration scripts of this folder, with their arguments:
#   . "$(dirname "$0")/common.sh" "$@"     # MAILPROBE EXAMPLES_DIR
# Skips (exit 77) without the test servers; otherwise exports their facts (servers.env) and
# MAILPROBE_HMAC_KEY (the caller's $default_hmac_key unless the environment has one), makes
# $work (removed at exit, with any background mailprobe in $pid), and fail() for findings.
set -u
mailprobe=$1
examples=$2
if [ -z "${MAILPROBE_SERVERS_JSON:-}" ]; then
  echo "MAILPROBE_SERVERS_JSON is not set: no test servers, skipped"
  exit 77
fi
set -a
# shellcheck disable=SC1091
. "$(dirname "$MAILPROBE_SERVERS_JSON")/servers.env"
MAILPROBE_HMAC_KEY=${MAILPROBE_HMAC_KEY:-${default_hmac_key:-cli-test-key-0123456789}}
set +a
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }
