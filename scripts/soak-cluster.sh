#!/usr/bin/env bash
# make soak-cluster: three gatewayd nodes, each on its own node of a private three-node
# MariaDB Galera cluster (scripts/cluster.sh), with the next Galera node listed for failover
# (GATEWAY_DB=mysql://root@own,next/soak). HTTP and SMTP load is spread over the three, as
# fast as they answer, for SOAK_SECONDS (default 60); during the run gatewayd node1 is
# SIGKILLed (and started again 5 s later), database node 3 is stopped for 10 s and started
# again (it rejoins by IST), and gatewayd node2 is restarted (SIGTERM, start). Then the same
# load and gatewayd faults on three gatewayd sharing one private MariaDB (same InnoDB
# settings, no Galera), for the rate. Fails when an acknowledged message is lost.
#
#   SOAK_SECONDS=60 SOAK_LEASE=20s scripts/soak-cluster.sh [cluster|single]...
#
# Every process started here (gatewayd, MariaDB nodes) is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
SECONDS_LOAD=${SOAK_SECONDS:-60}
LEASE=${SOAK_LEASE:-20s}
parts=(cluster single)
[ $# -gt 0 ] && parts=("$@")
[ "$(id -u)" = 0 ] || { echo "soak-cluster: run as root (the database nodes run as the mysql user)"; exit 1; }

WORK=$(mktemp -d)
chmod 711 "$WORK"
GDIR=$WORK/galera
SDIR=$WORK/single
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
cleanup() {
  set +e
  [ -d "$GDIR" ] && scripts/cluster.sh stop "$GDIR" >/dev/null 2>&1
  if [ -f "$SDIR/run.pid" ]; then
    p=$(cat "$SDIR/run.pid"); kill -TERM "$p" 2>/dev/null
    for _ in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

$GO build -o "$WORK/gatewayd" ./cmd/gatewayd
$GO build -o "$WORK/loadgen" ./scripts/loadgen
status=0
results=()
for part in "${parts[@]}"; do
  case $part in
  cluster)
    echo "== soak-cluster: three gatewayd on a three-node Galera cluster"
    ports=()
    for _ in $(seq 1 12); do ports+=("$(free_port)"); done
    CLUSTER_SQL_PORTS="${ports[*]:0:3}" CLUSTER_GCOMM_PORTS="${ports[*]:3:3}" CLUSTER_IST_PORTS="${ports[*]:6:3}" \
      CLUSTER_SST_PORTS="${ports[*]:9:3}" scripts/cluster.sh start "$GDIR"
    p=("${ports[@]:0:3}")
    mariadb -uroot -h127.0.0.1 -P"${p[0]}" -e "CREATE DATABASE soak CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    mkdir -p "$WORK/cl"
    "$WORK/loadgen" cluster -label galera -gatewayd "$WORK/gatewayd" -work "$WORK/cl" -d "${SECONDS_LOAD}s" -lease "$LEASE" \
      -db "mysql://root@127.0.0.1:${p[0]},127.0.0.1:${p[1]}/soak" \
      -db "mysql://root@127.0.0.1:${p[1]},127.0.0.1:${p[2]}/soak" \
      -db "mysql://root@127.0.0.1:${p[2]},127.0.0.1:${p[0]}/soak" \
      -db-stop "scripts/cluster.sh stop-node $GDIR 3" -db-start "scripts/cluster.sh start-node $GDIR 3" \
      | tee "$WORK/cl.out" || { status=1; for n in 1 2 3; do echo "-- node$n log"; tail -20 "$WORK/cl/node$n/gatewayd.log"; done; }
    results+=("$(grep '^cluster-result' "$WORK/cl.out" | cut -d' ' -f2- || true)")
    scripts/cluster.sh stop "$GDIR"
    ;;
  single)
    echo "== soak-cluster: the same on one MariaDB (no Galera, no database stop)"
    mkdir -p "$SDIR/data" "$SDIR/tmp"
    chown -R mysql:mysql "$SDIR"
    mariadb-install-db --no-defaults --user=mysql --datadir="$SDIR/data" --tmpdir="$SDIR/tmp" --auth-root-authentication-method=normal \
      --skip-test-db >"$SDIR/install.log" 2>&1 || { cat "$SDIR/install.log"; exit 1; }
    port=$(free_port)
    setsid /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$SDIR/data" --port="$port" --bind-address=127.0.0.1 \
      --socket="$SDIR/mysqld.sock" --pid-file="$SDIR/mariadbd.pid" --log-error="$SDIR/error.log" --tmpdir="$SDIR/tmp" \
      --innodb-buffer-pool-size=128M --innodb-log-file-size=64M --innodb-flush-log-at-trx-commit=2 \
      --max-connections=400 --skip-name-resolve --skip-log-bin </dev/null >/dev/null 2>&1 &
    echo $! >"$SDIR/run.pid"
    for _ in $(seq 1 120); do mysqladmin -uroot -h127.0.0.1 -P"$port" --connect-timeout=2 ping >/dev/null 2>&1 && break; sleep 0.5; done
    mariadb -uroot -h127.0.0.1 -P"$port" -e "CREATE DATABASE soak CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    mkdir -p "$WORK/si"
    dsn="mysql://root@127.0.0.1:$port/soak"
    "$WORK/loadgen" cluster -label single -gatewayd "$WORK/gatewayd" -work "$WORK/si" -d "${SECONDS_LOAD}s" -lease "$LEASE" \
      -db "$dsn" -db "$dsn" -db "$dsn" | tee "$WORK/si.out" || status=1
    results+=("$(grep '^cluster-result' "$WORK/si.out" | cut -d' ' -f2- || true)")
    ;;
  *)
    echo "soak-cluster: unknown part $part (cluster, single)"
    exit 2
    ;;
  esac
done
echo "== soak-cluster: summary"
printf '%-8s %6s %9s %9s %5s %5s %9s %9s\n' run seconds acked delivered lost dups "acked/s" "deliv/s"
for r in "${results[@]}"; do
  [ -n "$r" ] || continue
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("%-8s %6.0f %9d %9d %5d %5d %9.0f %9.0f" % (r["label"], r["seconds"], r["acknowledged"], r["delivered"], r["lost"], r["duplicates"], r["ack_rate"], r["delivery_rate"]))' "$r"
done
echo "== soak-cluster: duplicates by cause (a repeat no node logged taking over after its lease ran out is one while leases hold)"
for r in "${results[@]}"; do
  [ -n "$r" ] || continue
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); [print("%-8s %5d  %s" % (r["label"], c["count"], c["cause"])) for c in r["duplicate_causes"]]' "$r"
done
if [ $status = 0 ]; then echo "soak-cluster: PASS"; else echo "soak-cluster: FAIL"; fi
exit $status
