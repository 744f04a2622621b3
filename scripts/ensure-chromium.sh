#!/usr/bin/env bash
# Installs Debian's chromium for the console's browser tests when it is missing (as
# test-mysql.sh does for MariaDB). The tests fail, not skip, in CI when it cannot start.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: installing chromium"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "ensure-chromium: chromium is missing and cannot be installed here (apt-get install -y chromium)" >&2
fi
