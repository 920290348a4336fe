#!/usr/bin/env bash
# Makes sure Postfix's smtp-sink is installed: the SMTP channel's benchmark and its test of a
# connection dropped after the final dot use it. Installs Debian's postfix package when it is
# missing and this user may (root with apt), without configuring or starting the mail service:
# only the smtp-sink program is wanted.
set -euo pipefail
if command -v smtp-sink >/dev/null || [[ -x /usr/sbin/smtp-sink ]]; then
  exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
  echo "ensure-smtp-sink: smtp-sink is not installed; install Debian's postfix package (apt-get install postfix) and run again" >&2
  exit 1
fi

echo "ensure-smtp-sink: installing Debian's postfix package for its smtp-sink program" >&2
# "No configuration" leaves Postfix without a main.cf, so it neither relays nor listens.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections

# invoke-rc.d asks /usr/sbin/policy-rc.d whether a package may start its service; exit 101 says
# no. An existing policy is put back afterwards.
policy=/usr/sbin/policy-rc.d
saved=""
if [[ -e "${policy}" ]]; then
  saved="$(mktemp)"
  cp -p "${policy}" "${saved}"
fi
restore_policy() {
  if [[ -n "${saved}" ]]; then
    mv "${saved}" "${policy}"
  else
    rm -f "${policy}"
  fi
}
trap restore_policy EXIT
printf '#!/bin/sh\nexit 101\n' > "${policy}"
chmod 755 "${policy}"

apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postfix >&2
