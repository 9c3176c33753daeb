#!/usr/bin/env bash
# Sets up this machine (Debian 12, as root), builds mailprobe and runs its demo: everything on
# loopback against peers mailprobe starts itself; no mail server needed.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
[ -f build/build.ninja ] || meson setup build --wrap-mode=nodownload
ninja -C build tools/mailprobe/mailprobe
exec build/tools/mailprobe/mailprobe demo
