#!/usr/bin/env bash
# Runs every test package that uses a database against MySQL/MariaDB. Starts a local MariaDB
# when one is installed but not running, and installs it (Debian) when CI=true and it is
# missing. It fails, never skips, when the server cannot be reached.
set -euo pipefail
cd "$(dirname "$0")/.."
dsn=${MYSQL_DSN:-mysql://root@127.0.0.1:3306/}

reachable() { mysqladmin -uroot -h127.0.0.1 --connect-timeout=2 ping >/dev/null 2>&1; }

if ! reachable; then
  if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "test-mysql: installing mariadb-server"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
    fi
  fi
  if [ -x /usr/sbin/mariadbd ]; then
    echo "test-mysql: starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql >/dev/null 2>&1 \
      || (/usr/sbin/mariadbd --user=mysql >/dev/null 2>&1 &)
    for _ in $(seq 1 60); do reachable && break; sleep 1; done
  fi
fi
if ! reachable; then
  echo "test-mysql: MySQL/MariaDB at 127.0.0.1:3306 is not reachable; the MySQL half of the suite cannot run" >&2
  exit 1
fi
# Root over TCP must work without a password (Debian's root uses unix_socket by default).
mysql -uroot -h127.0.0.1 -e "SELECT 1" >/dev/null 2>&1 || {
  echo "test-mysql: cannot log in as root over TCP" >&2; exit 1; }

pkgs=$(go list -f '{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./... \
  | awk '/gatewayd\/storage\/storagetest|gatewayd\/app\/apptest/ {print $1}' | grep -v '/storagetest$\|/apptest$' || true)
if [ -z "$pkgs" ]; then
  echo "test-mysql: no package uses a database" >&2
  exit 1
fi
echo "test-mysql: $(echo "$pkgs" | wc -l) packages on $dsn"
GATEWAY_TEST_DB="$dsn" go test -count=1 -timeout 15m $pkgs
