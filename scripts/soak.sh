#!/usr/bin/env bash
# make soak: gatewayd under load and faults; fails when an acknowledged message is lost.
#
#   scripts/soak.sh                 everything below (about 8 minutes)
#   scripts/soak.sh sqlite mysql    some parts: fuzz, sqlite, mysql, twonodes
#
# Parts:
#   fuzz      scripts/fuzz.sh, each target for SOAK_FUZZTIME (default 30s)
#   sqlite    the crash test (scripts/loadgen soak) on SQLite: HTTP and SMTP senders for
#             SOAK_SECONDS (default 60) against the real `gatewayd serve`, SIGKILLed every 3-8 s
#             and restarted, while the sink answers 451 for 10 s a third into the run. At the
#             end every acknowledged message (HTTP 200 with a MessageID, SMTP 250 after DATA)
#             must be at the sink; duplicates (at-least-once redeliveries) are counted.
#   mysql     the same on MariaDB, plus the database itself stopped (mysqladmin shutdown) for
#             5 s half way and started again. This uses a private MariaDB instance (its own data
#             directory under a temporary directory, 127.0.0.1 on a free port), never the shared
#             server on 3306 that other test runs use. Skipped, and said so, without mariadbd.
#   twonodes  TestTwoNodes (app/) with SOAK_TWONODES_MESSAGES (default 3000) messages on that
#             private instance: two gatewayd processes on one database, exactly once while both
#             live, the survivor finishing after one is SIGKILLed.
# Every process started here (gatewayd, the sink, the private MariaDB) is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
SECONDS_LOAD=${SOAK_SECONDS:-60}
parts=(fuzz sqlite mysql twonodes)
[ $# -gt 0 ] && parts=("$@")
MDB_PORT=""
MDB_DIR=""

mdb_running() { [ -n "$MDB_PORT" ] && mysqladmin -uroot -h127.0.0.1 -P"$MDB_PORT" --connect-timeout=2 ping >/dev/null 2>&1; }
mdb_stop() {
  mysqladmin -uroot -h127.0.0.1 -P"$MDB_PORT" --connect-timeout=5 shutdown >/dev/null 2>&1 || true
  for _ in $(seq 1 100); do
    [ -f "$MDB_DIR/mariadbd.pid" ] || return 0
    kill -0 "$(cat "$MDB_DIR/mariadbd.pid" 2>/dev/null)" 2>/dev/null || return 0
    sleep 0.2
  done
}
mdb_start() {
  start-stop-daemon --start --background --pidfile "$MDB_DIR/ssd.pid" --make-pidfile --exec /usr/sbin/mariadbd -- \
    --no-defaults --user=mysql --datadir="$MDB_DIR/data" --port="$MDB_PORT" --bind-address=127.0.0.1 \
    --socket="$MDB_DIR/mysqld.sock" --pid-file="$MDB_DIR/mariadbd.pid" --log-error="$MDB_DIR/error.log" \
    --innodb-buffer-pool-size=128M --skip-log-bin --max-connections=300
  for _ in $(seq 1 120); do mdb_running && return 0; sleep 0.5; done
  echo "soak: the private MariaDB did not start:"; tail -20 "$MDB_DIR/error.log"; return 1
}

# The crash test calls back into this script to stop and start the private MariaDB.
if [ "${1:-}" = --mdb-stop ] || [ "${1:-}" = --mdb-start ]; then
  MDB_DIR=$2 MDB_PORT=$3
  if [ "$1" = --mdb-stop ]; then mdb_stop; else mdb_start; fi
  exit
fi

cleanup() {
  set +e
  if [ -n "$MDB_PORT" ] && [ -f "$MDB_DIR/mariadbd.pid" ]; then
    mdb_stop
    pid=$(cat "$MDB_DIR/mariadbd.pid" 2>/dev/null) && kill "$pid" 2>/dev/null
  fi
  rm -rf "$WORK"
}
WORK=$(mktemp -d)
chmod 711 "$WORK" # the private MariaDB runs as mysql and keeps its data below
MDB_DIR=$WORK/mariadb
trap cleanup EXIT
trap 'exit 130' INT TERM

# private_mariadb: a throwaway MariaDB instance for the parts that restart the database.
private_mariadb() {
  [ -n "$MDB_PORT" ] && return 0
  if [ ! -x /usr/sbin/mariadbd ] || ! command -v mariadb-install-db >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    echo "soak: mariadbd or mariadb-install-db is missing (or not root): the MariaDB parts are skipped"
    return 1
  fi
  mkdir -p "$MDB_DIR/data"
  chown -R mysql:mysql "$MDB_DIR"
  mariadb-install-db --no-defaults --user=mysql --datadir="$MDB_DIR/data" --auth-root-authentication-method=normal \
    --skip-test-db >"$MDB_DIR/install.log" 2>&1 || { cat "$MDB_DIR/install.log"; return 1; }
  MDB_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  mdb_start
  echo "soak: private MariaDB on 127.0.0.1:$MDB_PORT"
}

$GO build -o "$WORK/gatewayd" ./cmd/gatewayd
$GO build -o "$WORK/loadgen" ./scripts/loadgen
status=0
for part in "${parts[@]}"; do
  case $part in
  fuzz)
    echo "== soak: fuzzing"
    FUZZTIME=${SOAK_FUZZTIME:-30s} scripts/fuzz.sh || status=1
    ;;
  sqlite)
    echo "== soak: crash test on SQLite"
    mkdir -p "$WORK/sqlite"
    "$WORK/loadgen" soak -gatewayd "$WORK/gatewayd" -db "sqlite://$WORK/sqlite/gatewayd.db" -work "$WORK/sqlite" \
      -d "${SECONDS_LOAD}s" || { status=1; tail -30 "$WORK/sqlite/gatewayd.log"; }
    ;;
  mysql)
    echo "== soak: crash test on MariaDB, with the database restarted under load"
    if private_mariadb; then
      mysql -uroot -h127.0.0.1 -P"$MDB_PORT" -e "CREATE DATABASE soak CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
      mkdir -p "$WORK/mysql"
      "$WORK/loadgen" soak -gatewayd "$WORK/gatewayd" -db "mysql://root@127.0.0.1:$MDB_PORT/soak" -work "$WORK/mysql" \
        -d "${SECONDS_LOAD}s" -db-stop "$0 --mdb-stop $MDB_DIR $MDB_PORT" -db-start "$0 --mdb-start $MDB_DIR $MDB_PORT" \
        || { status=1; tail -30 "$WORK/mysql/gatewayd.log"; }
    fi
    ;;
  twonodes)
    echo "== soak: two nodes on one MariaDB database"
    if private_mariadb; then
      GATEWAY_TEST_DB="mysql://root@127.0.0.1:$MDB_PORT/" TWONODES_MESSAGES=${SOAK_TWONODES_MESSAGES:-3000} \
        $GO test -count=1 -run '^TestTwoNodes$' -v -timeout 10m ./app/ 2>&1 | grep -E '^(=== RUN|--- |\s+twonodes_test|ok|FAIL|PASS)' \
        || status=1
    fi
    ;;
  *)
    echo "soak: unknown part $part (fuzz, sqlite, mysql, twonodes)"
    exit 2
    ;;
  esac
done
if [ $status = 0 ]; then echo "soak: PASS"; else echo "soak: FAIL"; fi
exit $status
