#!/usr/bin/env bash
# Installs or starts what the test suite needs, and fails (never skips) when it cannot:
#   mariadb   MariaDB on 127.0.0.1:3306, root over TCP without a password (installed from
#             Debian when missing, started when not running)
#   galera    the Galera provider (galera-4) and rsync, for TestGaleraCluster's private cluster
#   chromium  Debian's chromium, for the console's browser tests
# With no argument: all three. make test runs it before any test.
set -euo pipefail
want=${*:-mariadb galera chromium}

root_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_install() {
  echo "ensure-test-deps: installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
fail() { echo "ensure-test-deps: $*" >&2; exit 1; }

reachable() { mysqladmin -uroot -h127.0.0.1 --connect-timeout=2 ping >/dev/null 2>&1; }
mariadb() {
  if ! reachable; then
    if [ ! -x /usr/sbin/mariadbd ] && root_apt; then apt_install mariadb-server; fi
    if [ -x /usr/sbin/mariadbd ]; then
      echo "ensure-test-deps: starting MariaDB"
      mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
      start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql >/dev/null 2>&1 \
        || (/usr/sbin/mariadbd --user=mysql >/dev/null 2>&1 &)
      for _ in $(seq 1 60); do reachable && break; sleep 1; done
    fi
  fi
  reachable || fail "MySQL/MariaDB at 127.0.0.1:3306 is not reachable; the MySQL half of the suite cannot run"
  # Root over TCP must work without a password (Debian's root uses unix_socket by default).
  mysql -uroot -h127.0.0.1 -e "SELECT 1" >/dev/null 2>&1 || fail "cannot log in to MariaDB as root over TCP"
}

have_galera() { [ -f /usr/lib/galera/libgalera_smm.so ] || [ -f /usr/lib/libgalera_smm.so ] || [ -f /usr/lib64/galera-4/libgalera_smm.so ]; }
galera() {
  if { ! have_galera || ! command -v rsync >/dev/null 2>&1; } && root_apt; then apt_install galera-4 rsync; fi
  have_galera && command -v rsync >/dev/null 2>&1 && [ -x /usr/sbin/mariadbd ] \
    || fail "the cluster test needs MariaDB, the Galera provider and rsync (apt-get install -y mariadb-server galera-4 rsync)"
}

chromium() {
  # type -P: this function is itself named chromium, so command -v would always find it.
  if ! type -P chromium >/dev/null 2>&1 && ! type -P chromium-browser >/dev/null 2>&1 && root_apt; then
    apt_install chromium
  fi
  type -P chromium >/dev/null 2>&1 || type -P chromium-browser >/dev/null 2>&1 \
    || fail "the console's browser tests need chromium (apt-get install -y chromium)"
}

for w in $want; do
  case $w in
    mariadb|galera|chromium) $w ;;
    *) fail "unknown dependency $w (mariadb, galera, chromium)" ;;
  esac
done
