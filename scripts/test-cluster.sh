#!/usr/bin/env bash
# make test-cluster: TestGaleraCluster (app/cluster_test.go) on a private three-node MariaDB
# Galera cluster that the test starts with scripts/cluster.sh. Installs galera-4 and rsync
# (Debian, as root) when missing; without them it skips, or fails when CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
have_galera() { [ -f /usr/lib/galera/libgalera_smm.so ] || [ -f /usr/lib/libgalera_smm.so ] || [ -f /usr/lib64/galera-4/libgalera_smm.so ]; }
if ! have_galera || ! command -v rsync >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-cluster: installing galera-4 and rsync"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq galera-4 rsync >/dev/null
  fi
fi
if ! have_galera || [ ! -x /usr/sbin/mariadbd ]; then
  if [ "${CI:-}" = true ]; then
    echo "test-cluster: MariaDB and the Galera provider (galera-4) are required in CI" >&2
    exit 1
  fi
  echo "test-cluster: MariaDB or Galera (galera-4) is not installed: the cluster test is skipped"
  exit 0
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
GATEWAY_TEST_GALERA=1 GATEWAY_TEST_DB=sqlite go test -count=1 -timeout 10m -run '^TestGaleraCluster$' -v ./app/ >"$out" 2>&1 || status=$?
if [ $status = 0 ]; then grep -E '^(--- |\s+cluster_test|ok)' "$out"; else cat "$out"; fi
exit $status
