#!/usr/bin/env bash
# Installs everything mailprobe needs to build, test and benchmark on Debian 12, as root.
# Idempotent: packages already present are skipped by apt-get. Mail servers are installed
# with a policy-rc.d that forbids starting the system daemons; tests run private instances.
set -euo pipefail

packages=(
  meson ninja-build pkg-config g++ openssl
  libuv1-dev android-libboringssl-dev libfmt-dev libsimdjson-dev
  libbenchmark-dev libgtest-dev libgmock-dev googletest
  clang-16 libclang-rt-16-dev        # libFuzzer targets and the clang sanitizer build
  libetpan-dev                       # bench only: the peer IMAP parser we measure against
  python3                            # .ci/run counts the JUnit log
  python3-yaml                       # tests read deploy/'s Kubernetes and Prometheus files
  python3-jsonschema                 # tests validate scenarios/examples against the JSON Schema
  libsqlite3-dev                     # the history store (mailprobe run --store, report)
  chromium zlib1g-dev                # report tests: the HTML in headless Chromium, its PNG read
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run this script as root" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Another apt run may hold the dpkg lock for a while: wait rather than fail.
apt_opts=(-o DPkg::Lock::Timeout=600 -y -q)
apt-get "${apt_opts[@]}" update
apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}"
