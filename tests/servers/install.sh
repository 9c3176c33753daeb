#!/bin/bash
# install.sh: installs the Debian packages the loopback mail servers need (Postfix, Dovecot
# with IMAP/POP3/LMTP/Sieve, swaks, openssl) without ever starting the packages' own system
# daemons. Idempotent: does nothing when every package is already installed.
#
# It refuses to leave anything behind: a temporary /usr/sbin/policy-rc.d (exit 101) blocks
# daemon start-up during the install and the previous policy-rc.d (or its absence) is restored
# on exit, whatever happens. Postfix is preseeded to "No configuration" so debconf asks nothing
# and writes no system main.cf. Must run as root.
set -euo pipefail

# libnet-ssleay-perl: swaks only recommends it, but its STARTTLS and 465 need it.
packages=(postfix dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-sieve swaks
          libnet-ssleay-perl openssl)

missing=()
for p in "${packages[@]}"; do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" != installed ]; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install.sh: all mail server packages already installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: must run as root to install: ${missing[*]}" >&2
    exit 1
fi

policy=/usr/sbin/policy-rc.d
backup=""
if [ -e "$policy" ]; then
    backup=$(mktemp /usr/sbin/policy-rc.d.mailprobe.XXXXXX)
    cp -p "$policy" "$backup"
fi
restore_policy() {
    if [ -n "$backup" ]; then
        mv -f "$backup" "$policy"
    else
        rm -f "$policy"
    fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# mailprobe tests/servers/install.sh: never start system daemons\nexit 101\n' > "$policy"
chmod 755 "$policy"

echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=600 -y -q --no-install-recommends)
# Update the lists only when the packages are unknown (fresh machine), not on every run.
if ! apt-cache show "${missing[0]}" >/dev/null 2>&1; then
    apt-get -o DPkg::Lock::Timeout=600 -q update
fi
if ! apt-get "${apt_opts[@]}" install "${missing[@]}"; then
    # Stale lists (a mirror moved a version) are the usual cause: refresh once and retry.
    apt-get -o DPkg::Lock::Timeout=600 -q update
    apt-get "${apt_opts[@]}" install "${missing[@]}"
fi
echo "install.sh: installed ${missing[*]}"
