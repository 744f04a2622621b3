#!/usr/bin/env bash
# Runs every test package that uses a database against MySQL/MariaDB (started, or installed
# from Debian, by scripts/ensure-test-deps.sh). It fails, never skips, when the server cannot
# be reached.
set -euo pipefail
cd "$(dirname "$0")/.."
dsn=${MYSQL_DSN:-mysql://root@127.0.0.1:3306/}

scripts/ensure-test-deps.sh mariadb

pkgs=$(go list -f '{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./... \
  | awk '/gatewayd\/storage\/storagetest|gatewayd\/app\/apptest/ {print $1}' | grep -v '/storagetest$\|/apptest$' || true)
if [ -z "$pkgs" ]; then
  echo "test-mysql: no package uses a database" >&2
  exit 1
fi
echo "test-mysql: $(echo "$pkgs" | wc -l) packages on $dsn"
GATEWAY_TEST_DB="$dsn" go test -count=1 -timeout 15m $pkgs
