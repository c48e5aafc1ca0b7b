#!/usr/bin/env bash
# Installs the system services the test suite starts by itself: PostgreSQL (ledger tests) and
# OpenSSH's sshd (SFTP tests). Both come from Debian's packages; nothing is started here.
set -euo pipefail

missing=()
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then missing+=(postgresql); fi
if [ ! -x /usr/sbin/sshd ]; then missing+=(openssh-server); fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "Installing ${missing[*]} from Debian's packages (needed by the test suite)…"
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "error: ${missing[*]} missing and neither root nor sudo available; install them, or set MLC_SKIP_POSTGRES=1 / MLC_SKIP_SSHD=1" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Package scripts must not try to start services in this environment.
policy_added=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
  "${SUDO[@]}" chmod +x /usr/sbin/policy-rc.d
  policy_added=1
fi
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ "$policy_added" -eq 1 ]; then "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d; fi
echo "Installed ${missing[*]}."
