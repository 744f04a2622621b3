#!/usr/bin/env bash
# A private three-node MariaDB Galera cluster on 127.0.0.1, for tests, `make soak-cluster` and
# anyone trying gatewayd's cluster mode (docs/cluster.md). It never touches a system MariaDB:
# each node has its own data directory, socket, pid file and ports under DIR.
#
#   scripts/cluster.sh start DIR          create (first time) and start the three nodes
#   scripts/cluster.sh stop DIR           stop every node (by PID), the data stays
#   scripts/cluster.sh status DIR         one line per node: port, pid, wsrep state, cluster size
#   scripts/cluster.sh stop-node DIR N    stop node N (1-3) alone
#   scripts/cluster.sh start-node DIR N   start node N again; it rejoins (IST, or SST when needed)
#   scripts/cluster.sh ports DIR          the SQL ports, space separated
#
# Ports (each a list of three, one per node; the defaults keep off the usual 3306):
#   CLUSTER_SQL_PORTS    "3311 3312 3313"     client connections (mysql://root@127.0.0.1:3311/)
#   CLUSTER_GCOMM_PORTS  "45671 45672 45673"  group communication (wsrep)
#   CLUSTER_IST_PORTS    "45681 45682 45683"  incremental state transfer
#   CLUSTER_SST_PORTS    "45691 45692 45693"  full state transfer (rsync)
# CLUSTER_SST=rsync (default) or mariabackup. The ports a cluster was created with are kept in
# DIR/cluster.env and used by every later command on DIR.
#
# The first node is bootstrapped (--wsrep-new-cluster); a cluster stopped cleanly is
# bootstrapped again from the node Galera marks safe_to_bootstrap (the last to stop). Run as
# root, the nodes run as the mysql user and galera-4, rsync and mariadb-backup are installed
# from Debian when missing; run as another user, the nodes run as that user.
set -euo pipefail

die() { echo "cluster: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: $0 start|stop|status|stop-node|start-node|ports DIR [N]"
cmd=$1
DIR=$(mkdir -p "$2" && cd "$2" && pwd)
PROVIDER=""
for p in /usr/lib/galera/libgalera_smm.so /usr/lib/libgalera_smm.so /usr/lib64/galera-4/libgalera_smm.so /usr/lib/galera-4/libgalera_smm.so; do
  [ -f "$p" ] && PROVIDER=$p && break
done

if [ -f "$DIR/cluster.env" ]; then
  # shellcheck disable=SC1091
  . "$DIR/cluster.env"
else
  SQL_PORTS=(${CLUSTER_SQL_PORTS:-3311 3312 3313})
  GCOMM_PORTS=(${CLUSTER_GCOMM_PORTS:-45671 45672 45673})
  IST_PORTS=(${CLUSTER_IST_PORTS:-45681 45682 45683})
  SST_PORTS=(${CLUSTER_SST_PORTS:-45691 45692 45693})
  SST=${CLUSTER_SST:-rsync}
fi
[ ${#SQL_PORTS[@]} = 3 ] && [ ${#GCOMM_PORTS[@]} = 3 ] && [ ${#IST_PORTS[@]} = 3 ] && [ ${#SST_PORTS[@]} = 3 ] ||
  die "each CLUSTER_*_PORTS needs three ports"

save_env() {
  {
    echo "SQL_PORTS=(${SQL_PORTS[*]})"
    echo "GCOMM_PORTS=(${GCOMM_PORTS[*]})"
    echo "IST_PORTS=(${IST_PORTS[*]})"
    echo "SST_PORTS=(${SST_PORTS[*]})"
    echo "SST=$SST"
  } >"$DIR/cluster.env"
}

ndir() { echo "$DIR/node$1"; }
sqlport() { echo "${SQL_PORTS[$(($1 - 1))]}"; }
pidof_node() { cat "$(ndir "$1")/run.pid" 2>/dev/null || true; }
alive() { local p; p=$(pidof_node "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
q() { mariadb -uroot -h127.0.0.1 -P"$(sqlport "$1")" --connect-timeout=2 -N -B -e "$2" 2>/dev/null; }
wsrep() { q "$1" "SHOW GLOBAL STATUS LIKE '$2'" | awk '{print $2}'; }

install_missing() {
  local need=()
  [ -n "$PROVIDER" ] || need+=(galera-4)
  command -v rsync >/dev/null 2>&1 || need+=(rsync)
  if [ "$SST" = mariabackup ]; then command -v mariabackup >/dev/null 2>&1 || need+=(mariadb-backup); fi
  command -v mariadb-install-db >/dev/null 2>&1 || need+=(mariadb-server)
  [ ${#need[@]} = 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "cluster: installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    for p in /usr/lib/galera/libgalera_smm.so /usr/lib/libgalera_smm.so; do [ -f "$p" ] && PROVIDER=$p && break; done
  fi
  [ -n "$PROVIDER" ] || die "the Galera provider (Debian: galera-4) is not installed"
  command -v rsync >/dev/null 2>&1 || die "rsync is not installed"
}

# start_node N [bootstrap]: starts node N in the background and waits until it is Synced.
start_node() {
  local n=$1 boot=${2:-} d; d=$(ndir "$n")
  alive "$n" && return 0
  local i=$((n - 1)) addrs=() args=()
  for g in "${GCOMM_PORTS[@]}"; do addrs+=("127.0.0.1:$g"); done
  local gcomm; gcomm=$(IFS=,; echo "${addrs[*]}")
  [ "$(id -u)" = 0 ] && args+=(--user=mysql)
  [ -n "$boot" ] && args+=(--wsrep-new-cluster)
  # setsid execs mariadbd in place (a background job is no group leader): $! is its PID.
  setsid /usr/sbin/mariadbd --no-defaults "${args[@]}" \
    --datadir="$d/data" --port="${SQL_PORTS[$i]}" --bind-address=127.0.0.1 --socket="$d/mysqld.sock" \
    --pid-file="$d/mariadbd.pid" --log-error="$d/error.log" --tmpdir="$d/tmp" \
    --innodb-buffer-pool-size=128M --innodb-log-file-size=64M --innodb-flush-log-at-trx-commit=2 \
    --max-connections=400 --skip-name-resolve --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --binlog-format=ROW --default-storage-engine=InnoDB --innodb-autoinc-lock-mode=2 --skip-log-bin \
    --wsrep-on=ON --wsrep-provider="$PROVIDER" --wsrep-cluster-name=gatewayd-cluster \
    --wsrep-cluster-address="gcomm://$gcomm" --wsrep-node-name="node$n" \
    --wsrep-node-address="127.0.0.1:${GCOMM_PORTS[$i]}" --wsrep-node-incoming-address="127.0.0.1:${SQL_PORTS[$i]}" \
    --wsrep-sst-method="$SST" --wsrep-sst-receive-address="127.0.0.1:${SST_PORTS[$i]}" \
    --wsrep-provider-options="gmcast.listen_addr=tcp://127.0.0.1:${GCOMM_PORTS[$i]};ist.recv_addr=127.0.0.1:${IST_PORTS[$i]};gcache.size=256M;evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;pc.wait_prim_timeout=PT10S" \
    --wsrep-slave-threads=2 --wsrep-retry-autocommit=4 \
    </dev/null >>"$d/stdout.log" 2>&1 &
  echo $! >"$d/run.pid"
  for _ in $(seq 1 240); do
    if [ "$(wsrep "$n" wsrep_local_state_comment)" = Synced ] && [ "$(wsrep "$n" wsrep_ready)" = ON ]; then
      return 0
    fi
    alive "$n" || { tail -30 "$d/error.log" >&2; rm -f "$d/run.pid"; die "node$n exited while starting"; }
    sleep 0.5
  done
  tail -30 "$d/error.log" >&2
  die "node$n did not reach Synced within 120 s"
}

stop_node() {
  local n=$1 p; p=$(pidof_node "$n")
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || return 0
  for _ in $(seq 1 300); do
    kill -0 "$p" 2>/dev/null || { rm -f "$(ndir "$n")/run.pid"; return 0; }
    sleep 0.2
  done
  echo "cluster: node$n (pid $p) ignored SIGTERM for 60 s; killing it" >&2
  kill -KILL "$p" 2>/dev/null || true
  rm -f "$(ndir "$n")/run.pid"
}

create() {
  install_missing
  save_env
  [ "$(id -u)" = 0 ] && chmod 711 "$DIR"
  for n in 1 2 3; do mkdir -p "$(ndir "$n")/data" "$(ndir "$n")/tmp"; done
  [ "$(id -u)" = 0 ] && chown -R mysql:mysql "$DIR"/node*
  # Its own tmpdir: installs running at once (a test and a soak) collide in a shared /tmp.
  mariadb-install-db --no-defaults --datadir="$(ndir 1)/data" --tmpdir="$(ndir 1)/tmp" --auth-root-authentication-method=normal \
    --skip-test-db $([ "$(id -u)" = 0 ] && echo --user=mysql) >"$DIR/install.log" 2>&1 ||
    { cat "$DIR/install.log" >&2; die "mariadb-install-db failed"; }
  [ "$(id -u)" = 0 ] && chown -R mysql:mysql "$DIR"/node*
  touch "$DIR/created"
}

# bootstrap_node: the node to start the cluster from: one marked safe_to_bootstrap, else
# the one with the highest seqno, else node 1 (a fresh cluster).
bootstrap_node() {
  local best=1 bestseq=-2 n f s
  for n in 1 2 3; do
    f=$(ndir "$n")/data/grastate.dat
    [ -f "$f" ] || continue
    if grep -q '^safe_to_bootstrap: 1' "$f"; then echo "$n"; return; fi
    s=$(awk '/^seqno:/{print $2}' "$f")
    if [ -n "$s" ] && [ "$s" -gt "$bestseq" ]; then best=$n; bestseq=$s; fi
  done
  echo "$best"
}

case $cmd in
start)
  [ -f "$DIR/created" ] || create
  install_missing
  if alive 1 || alive 2 || alive 3; then
    for n in 1 2 3; do start_node "$n"; done
  else
    b=$(bootstrap_node)
    f=$(ndir "$b")/data/grastate.dat
    [ -f "$f" ] && sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$f"
    start_node "$b" bootstrap
    for n in 1 2 3; do [ "$n" = "$b" ] || start_node "$n"; done
  fi
  echo "cluster: 3 nodes synced on 127.0.0.1 ports ${SQL_PORTS[*]} (cluster size $(wsrep 1 wsrep_cluster_size))"
  ;;
stop)
  for n in 3 2 1; do stop_node "$n"; done
  ;;
stop-node)
  [ $# -ge 3 ] || die "stop-node DIR N"
  stop_node "$3"
  ;;
start-node)
  [ $# -ge 3 ] || die "start-node DIR N"
  start_node "$3"
  ;;
status)
  for n in 1 2 3; do
    if alive "$n"; then
      echo "node$n 127.0.0.1:$(sqlport "$n") pid $(pidof_node "$n") $(wsrep "$n" wsrep_local_state_comment) ready=$(wsrep "$n" wsrep_ready) size=$(wsrep "$n" wsrep_cluster_size)"
    else
      echo "node$n 127.0.0.1:$(sqlport "$n") stopped"
    fi
  done
  ;;
ports)
  echo "${SQL_PORTS[*]}"
  ;;
*)
  die "unknown command $cmd (start, stop, status, stop-node, start-node, ports)"
  ;;
esac
