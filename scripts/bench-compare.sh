#!/usr/bin/env bash
# make bench, last section: gatewayd against Postfix on this machine, in one run, one table.
#
#   scripts/bench-compare.sh        (make bench runs it after scripts/bench.sh's sections)
#
# The load is the one of issue 14, the same for every system in one run:
#   - SMTP: smtp-source -s 20 -l 4096 -m COMPARE_SMTP_MESSAGES (5000), a connection per
#     message, one recipient each, no AUTH (a relay credential whose AllowedNetworks is
#     127.0.0.1); SMTP accept is messages over smtp-source's run time, end-to-end is messages
#     over the time until the sink has every one;
#   - HTTP: POST /api/v1/email from 32 keep-alive clients, a 4 KiB plain body, one recipient,
#     for COMPARE_HTTP_SECONDS (30 s) or COMPARE_HTTP_SENDS (20,000), with delivery running the
#     whole time (nothing held); the ceiling is GET /healthz on the same server and clients;
#   - CPU per message: the CPU (user + system, from /proc) the system under test used from the
#     start of the load until the sink had every message, over the messages: Postfix is its
#     master and every child (reaped ones included), OpenDKIM its one process, gatewayd its
#     process; on MariaDB mysqld's CPU in the same window is shown beside it (the server on
#     MYSQL_DSN is shared: whatever else uses it in that window counts too).
# What runs (all on 127.0.0.1, high ports; everything started here is stopped on exit, by PID):
#   - a counting SMTP sink (scripts/loadgen sink) that every system delivers to; it counts the
#     messages that arrive with a DKIM-Signature;
#   - Postfix (Debian's package, installed when missing) as a private instance: its own config
#     and queue directories under a temporary directory, smtpd on 127.0.0.1 only, no DNS,
#     every message relayed to the sink. No postfix is left running and port 25 is never used;
#   - Postfix + OpenDKIM: the same instance with Debian's opendkim (installed when missing) as
#     a milter over a unix socket, signing relaxed/relaxed with a 2048-bit RSA key, which is
#     what a Postfix user who signs runs;
#   - gatewayd serve (bin/gatewayd, built by make build: BoringCrypto when cgo is there) on
#     SQLite, then on MariaDB/MySQL (a throwaway database on MYSQL_DSN, default
#     root@127.0.0.1:3306, left out when nothing listens there), DKIM-signing every message
#     (2048-bit RSA) and relaying through GATEWAY_DEFAULT_RELAY to the same sink;
#   - memory: gatewayd's RSS with COMPARE_QUEUE_SMALL (10,000) and COMPARE_QUEUE_BIG (100,000)
#     queued recipients (rows written straight into the database), the highest RSS while it
#     then delivers from that queue for COMPARE_DRAIN_SECONDS (15 s), and its peak (VmHWM).
# Each system runs once in each of COMPARE_ROUNDS (3) rounds, the order reversed every other
# round (COMPARE_SYSTEMS picks some of postfix, postfix_dkim, sqlite and mysql); the table shows the median of the rounds, each figure next to the one issue 14
# measured (gatewayd at 1587c16), and marks each of the issue's targets met or missed.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
BIN=bin/gatewayd
N_SMTP=${COMPARE_SMTP_MESSAGES:-5000}
ROUNDS=${COMPARE_ROUNDS:-3}
RATE_SECONDS=${COMPARE_RATE_SECONDS:-15}
Q_SMALL=${COMPARE_QUEUE_SMALL:-10000}
Q_BIG=${COMPARE_QUEUE_BIG:-100000}
HZ_SECONDS=${COMPARE_HEALTHZ_SECONDS:-10}
HTTP_SENDS=${COMPARE_HTTP_SENDS:-20000}
HTTP_SECONDS=${COMPARE_HTTP_SECONDS:-30}
DRAIN_SECONDS=${COMPARE_DRAIN_SECONDS:-15}
SESSIONS=20
HTTP_CLIENTS=32
MYSQL=${MYSQL_DSN:-mysql://root@127.0.0.1:3306/}
WORK=$(mktemp -d)
chmod 711 "$WORK" # postfix (mail_owner) must reach its directories below
RES=$WORK/results
PIDS=()
PF_DIR=""
OD_DIR=""
MYSQL_DB=""

cleanup() {
  set +e
  if [ -n "$PF_DIR" ] && [ -f "$PF_DIR/spool/pid/master.pid" ]; then postfix -c "$PF_DIR/conf" stop >/dev/null 2>&1; fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  exec 7>&- 2>/dev/null
  if [ -n "$MYSQL_DB" ]; then mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $MYSQL_DB" >/dev/null 2>&1; fi
  rm -rf "$WORK"
  [ -z "${OD_DIR:-}" ] || rm -rf "$OD_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "   $*"; }
put() { echo "$1=$2" >>"$RES"; }
last() { grep "^$1=" "$RES" | tail -1 | cut -d= -f2; } # this round's figure
# median KEY: the median of KEY's figures so far ("" when none).
median() { { grep "^$1=" "$RES" 2>/dev/null || true; } | cut -d= -f2 | python3 -c 'import statistics, sys
v = [float(x) for x in sys.stdin if x.strip()]
print(f"{statistics.median(v):.1f}" if v else "")'; }
now() { date +%s.%N; }
rate() { python3 -c "import sys; n,a,b=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'{n/(b-a):.1f}')" "$@"; }
jget() { python3 -c 'import json, sys
d = json.load(sys.stdin)
for k in sys.argv[1:]:
    d = d[k]
print(d)' "$@"; }

echo "== compare: gatewayd against Postfix and Postfix + OpenDKIM ($SESSIONS SMTP sessions, 4 KiB; $HTTP_CLIENTS HTTP clients; $N_SMTP SMTP messages; queue $Q_SMALL and $Q_BIG)"

# --- tools -----------------------------------------------------------------------------------
if [ "$(id -u)" != 0 ]; then
  echo "   a private Postfix instance needs root (its daemons run as the postfix user): no comparison"
  exit 0
fi
if ! command -v smtp-source >/dev/null 2>&1 || ! command -v postfix >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing postfix (smtp-source, and the MTA to compare with)"
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq postfix >/dev/null 2>&1 || true
    # Debian may start the default instance: never leave it listening on :25.
    postfix stop >/dev/null 2>&1 || true
  fi
fi
if ! command -v smtp-source >/dev/null 2>&1 || ! command -v postfix >/dev/null 2>&1; then
  echo "   postfix and smtp-source are not available: no comparison (install Debian's postfix package)"
  exit 0
fi
if ! command -v opendkim >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  say "installing opendkim (the signing Postfix)"
  DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq opendkim opendkim-tools >/dev/null 2>&1 || true
fi
make -s build GO="$GO"
$GO build -o "$WORK/loadgen" ./scripts/loadgen
LOADGEN=$WORK/loadgen

# The sink lives as long as this script: it exits when fd 7 closes.
mkfifo "$WORK/sink.fifo"
"$LOADGEN" sink -stdin <"$WORK/sink.fifo" >"$WORK/sink.out" 2>&1 &
PIDS+=($!)
exec 7>"$WORK/sink.fifo"
for _ in $(seq 1 50); do grep -q control= "$WORK/sink.out" 2>/dev/null && break; sleep 0.1; done
SINK=$(sed -n 's/^smtp=\([^ ]*\) .*/\1/p' "$WORK/sink.out")
SINKCTL=http://$(sed -n 's/.*control=\([^ ]*\)$/\1/p' "$WORK/sink.out")
[ -n "$SINK" ] || { cat "$WORK/sink.out"; exit 1; }
sink_count() { curl -fsS "$SINKCTL/stats" | jget recipients; }
sink_reset() { curl -fsS -X POST "$SINKCTL/reset"; }
sink_hold() { curl -fsS -X POST "$SINKCTL/hold?on=$1"; }
# wait_sink N SECONDS: until the sink counted N recipients; prints the time it happened.
wait_sink() {
  local deadline=$((SECONDS + $2))
  while [ "$(sink_count)" -lt "$1" ]; do
    if [ $SECONDS -ge $deadline ]; then echo "timeout"; return 0; fi
    sleep 0.05
  done
  now
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() {
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# cpu_of PID...: CPU seconds used so far by each PID and its live descendants, with what their
# reaped children used (cutime, cstime): the difference of two readings is the CPU the process
# trees used in between, children that came and went included.
cpu_of() {
  python3 - "$@" <<'PY'
import os, sys
hz = os.sysconf("SC_CLK_TCK")
stat = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            f = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stat[int(d)] = (int(f[1]), sum(int(x) for x in f[11:15]))
kids = {}
for pid, (ppid, _) in stat.items():
    kids.setdefault(ppid, []).append(pid)
total, todo, seen = 0, [int(p) for p in sys.argv[1:] if p], set()
while todo:
    p = todo.pop()
    if p in seen or p not in stat:
        continue
    seen.add(p)
    total += stat[p][1]
    todo += kids.get(p, [])
print(total / hz)
PY
}
# cpu_ms_per START END N: milliseconds of CPU per message.
cpu_ms_per() { python3 -c "import sys; a,b,n=float(sys.argv[1]),float(sys.argv[2]),int(sys.argv[3]); print(f'{(b-a)*1000/n:.2f}')" "$@"; }
# mysqld_pid: the MariaDB/MySQL server on 127.0.0.1:3306 ("" when it is not a local process).
mysqld_pid() { { pgrep -x mariadbd || pgrep -x mysqld; } 2>/dev/null | head -1; }

# smtp_run NAME PORT PID... : warm-up, then the measured smtp-source run and the end-to-end
# wait; the CPU of the PIDs' process trees over that window, per message. MYSQLD, when set, is
# measured too (NAME.db_cpu).
smtp_run() {
  local name=$1 port=$2
  shift 2
  sink_reset
  timeout 120 smtp-source -s 4 -m 200 -l 4096 -N -f sender@bench.example -t warmup@dest.test "127.0.0.1:$port"
  [ "$(wait_sink 200 120)" != timeout ] || { say "$name: warm-up mail did not arrive"; return 1; }
  sink_reset
  local t0 t1 t2 c0 c1 d0 d1
  c0=$(cpu_of "$@"); d0=$(cpu_of "${MYSQLD:-}")
  t0=$(now)
  timeout 600 smtp-source -s $SESSIONS -m "$N_SMTP" -l 4096 -N -f sender@bench.example -t rcpt@dest.test "127.0.0.1:$port"
  t1=$(now)
  t2=$(wait_sink "$N_SMTP" 600)
  c1=$(cpu_of "$@"); d1=$(cpu_of "${MYSQLD:-}")
  put "$name.smtp_accept" "$(rate "$N_SMTP" "$t0" "$t1")"
  put "$name.cpu" "$(cpu_ms_per "$c0" "$c1" "$N_SMTP")"
  [ -z "${MYSQLD:-}" ] || put "$name.db_cpu" "$(cpu_ms_per "$d0" "$d1" "$N_SMTP")"
  put "$name.signed" "$(curl -fsS "$SINKCTL/stats" | jget signed)"
  if [ "$t2" = timeout ]; then
    put "$name.e2e" "0"
    say "$name: only $(sink_count) of $N_SMTP messages reached the sink within 600 s"
  else
    put "$name.e2e" "$(rate "$N_SMTP" "$t0" "$t2")"
  fi
  say "$name: smtp accept $(rate "$N_SMTP" "$t0" "$t1") msgs/s, end-to-end $(last "$name.e2e") msgs/s, $(last "$name.cpu") ms CPU/msg, $(last "$name.signed") signed"
}

# --- Postfix ---------------------------------------------------------------------------------
PF_DIR=$WORK/postfix
PF_PORT=$(free_port)
mkdir -p "$PF_DIR/conf" "$PF_DIR/spool" "$PF_DIR/data"
chown postfix "$PF_DIR/data" 2>/dev/null || true
cat >"$PF_DIR/conf/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $PF_DIR/spool
data_directory = $PF_DIR/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.test
mydomain = bench.test
myorigin = \$myhostname
mydestination =
local_transport = error:local delivery is disabled
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
disable_dns_lookups = yes
smtp_host_lookup = native
default_transport = smtp:[127.0.0.1]:${SINK##*:}
relay_transport = smtp:[127.0.0.1]:${SINK##*:}
smtp_tls_security_level = none
smtpd_tls_security_level = none
biff = no
maillog_file_prefixes = $PF_DIR
maillog_file = $PF_DIR/maillog
CF
# Debian's services, nothing chrooted, smtpd on the loopback port only.
cat >"$PF_DIR/conf/master.cf" <<CF
127.0.0.1:$PF_PORT inet n - n - - smtpd
pickup    unix  n - n 60    1 pickup
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -     - trivial-rewrite
bounce    unix  - - n -     0 bounce
defer     unix  - - n -     0 bounce
trace     unix  - - n -     0 bounce
verify    unix  - - n -     1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -     - proxymap
proxywrite unix - - n -     1 proxymap
smtp      unix  - - n -     - smtp
relay     unix  - - n -     - smtp
showq     unix  n - n -     - showq
error     unix  - - n -     - error
retry     unix  - - n -     - error
discard   unix  - - n -     - discard
anvil     unix  - - n -     1 anvil
scache    unix  - - n -     1 scache
postlog   unix-dgram n - n - 1 postlogd
CF
cp "$PF_DIR/conf/main.cf" "$PF_DIR/conf/main.cf.base"
PF_VERSION=$(postconf -d -h mail_version 2>/dev/null || echo "?")
# postfix_run NAME: starts the instance (postfix_dkim: with OpenDKIM as its milter), measures
# it (master and every child, and OpenDKIM), stops it.
postfix_run() {
  local od=""
  cp "$PF_DIR/conf/main.cf.base" "$PF_DIR/conf/main.cf"
  if [ "$1" = postfix_dkim ]; then
    [ -n "$OD_PID" ] || return 0
    od=$OD_PID
    cat >>"$PF_DIR/conf/main.cf" <<CF
smtpd_milters = unix:$OD_DIR/opendkim.sock
non_smtpd_milters = unix:$OD_DIR/opendkim.sock
milter_default_action = tempfail
CF
  fi
  postfix -c "$PF_DIR/conf" start >/dev/null 2>&1 || { echo "   postfix did not start:"; tail "$PF_DIR/maillog" 2>/dev/null; return 1; }
  wait_port "$PF_PORT" || { echo "   postfix smtpd is not listening"; return 1; }
  local master
  master=$(tr -d ' \n' <"$PF_DIR/spool/pid/master.pid")
  smtp_run "$1" "$PF_PORT" "$master" $od
  postfix -c "$PF_DIR/conf" stop >/dev/null 2>&1 || true
  for _ in $(seq 1 50); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
}

# --- Postfix + OpenDKIM ----------------------------------------------------------------------
# Debian's opendkim in the foreground (started and stopped by its PID), signing for
# bench.example with a fresh 2048-bit key, as a milter on a unix socket in the work directory.
OD_PID=""
if command -v opendkim >/dev/null 2>&1 && command -v opendkim-genkey >/dev/null 2>&1; then
  # Not below /tmp: opendkim refuses a configuration on a path others can write to.
  OD_DIR=$(mktemp -d /run/gatewayd-bench-opendkim.XXXXXX)
  chmod 755 "$OD_DIR"
  opendkim-genkey -b 2048 -d bench.example -s bench -D "$OD_DIR"
  chown -R opendkim "$OD_DIR" 2>/dev/null || true
  chmod 600 "$OD_DIR/bench.private"
  cat >"$OD_DIR/opendkim.conf" <<CF
Syslog no
Mode s
Domain bench.example
Selector bench
KeyFile $OD_DIR/bench.private
Canonicalization relaxed/relaxed
SignatureAlgorithm rsa-sha256
InternalHosts 127.0.0.1
Socket local:$OD_DIR/opendkim.sock
UMask 000
UserID opendkim
PidFile $OD_DIR/opendkim.pid
CF
  opendkim -f -x "$OD_DIR/opendkim.conf" >"$OD_DIR/log" 2>&1 &
  OD_PID=$!
  PIDS+=($OD_PID)
  for _ in $(seq 1 50); do [ -S "$OD_DIR/opendkim.sock" ] && break; sleep 0.1; done
  if [ ! -S "$OD_DIR/opendkim.sock" ]; then
    say "opendkim did not start: $(cat "$OD_DIR/log")"
    OD_PID=""
  fi
else
  say "opendkim is not available: no Postfix + OpenDKIM figures"
fi

# --- gatewayd --------------------------------------------------------------------------------
ADMIN=compare-admin-key
api() { curl -fsS -H 'Content-Type: application/json' -d "$1" "http://$HTTP/api.php"; }
rss() { awk -v f="$2:" '$1 == f {printf "%.1f", $2/1024}' "/proc/$1/status"; }

# seed_queue DSN COUNT FIRST: COUNT more queued recipient rows (seed<FIRST..>@dest.test) of the
# newest message, written in one statement.
seed_queue() {
  [ "$2" -gt 0 ] || return 0
  python3 - "$1" "$2" "$3" <<'PY'
import subprocess, sys, time
dsn, count, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
digits = len(str(max(count - 1, 1)))
num = " + ".join(f"{10**i}*d{i}.d" for i in range(digits))
tables = ", ".join(f"(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL "
                   f"SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) d{i}" for i in range(digits))
now = int(time.time())
mysql = dsn.startswith("mysql://")
email = f"CONCAT('seed', {first} + {num}, '@dest.test')" if mysql else f"'seed' || ({first} + {num}) || '@dest.test'"
sql = (f"INSERT INTO recipients (message_id, domain_id, user_id, email, kind, state, attempts, next_attempt_at, lease_owner, "
       f"lease_expires_at, last_code, last_reply, created_at, updated_at) "
       f"SELECT m.id, m.domain_id, m.user_id, {email}, 'to', 'queued', 0, {now}, '', 0, 0, '', {now}, {now} "
       f"FROM (SELECT id, domain_id, user_id FROM messages ORDER BY id DESC LIMIT 1) m, {tables} WHERE {num} < {count}")
if mysql:
    rest = dsn[len("mysql://"):]
    cred, hostdb = rest.split("@", 1)
    user, _, pw = cred.partition(":")
    hostport, db = hostdb.split("/", 1)
    host, _, port = hostport.partition(":")
    args = ["mysql", "-u" + user, "-h" + host, "-P" + (port or "3306"), db, "-e", sql]
    if pw:
        args.insert(2, "-p" + pw)
    subprocess.run(args, check=True)
else:
    import sqlite3
    c = sqlite3.connect(dsn[len("sqlite://"):], timeout=60)
    c.execute(sql)
    c.commit()
PY
}

# gatewayd_run NAME DSN
gatewayd_run() {
  local name=$1 dsn=$2 dir=$WORK/$1
  mkdir -p "$dir"
  HTTP=127.0.0.1:$(free_port)
  local smtp_port
  smtp_port=$(free_port)
  sink_hold 0
  env GATEWAY_DB="$dsn" GATEWAY_HTTP_ADDR="$HTTP" GATEWAY_SMTP_ADDR="127.0.0.1:$smtp_port" \
    GATEWAY_ADMIN_API_KEY="$ADMIN" GATEWAY_SECRET_KEY_FILE="$dir/secret.key" GATEWAY_HOSTNAME=bench.gateway.test \
    GATEWAY_RATE_LIMIT=off GATEWAY_SMTP_RATE_LIMIT=off GATEWAY_SMTP_MAX_CONNECTIONS=1000 \
    GATEWAY_DEFAULT_RELAY="smtp://$SINK" GATEWAY_DNS_SERVER=127.0.0.1:9 GATEWAY_WORKERS=16 \
    GATEWAY_LOG_LEVEL=error "$BIN" serve >"$dir/log" 2>&1 &
  local pid=$!
  PIDS+=($pid)
  for _ in $(seq 1 200); do curl -fsS "http://$HTTP/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "http://$HTTP/healthz" >/dev/null || { cat "$dir/log"; return 1; }

  api "{\"Command\":\"user.create\",\"AdminAPIKey\":\"$ADMIN\",\"RelUserGroupID\":1,\"EmailAddress\":\"bench@bench.test\",\"Username\":\"bench\",\"Password\":\"bench-password\",\"FirstName\":\"Bench\",\"TimeZone\":\"UTC\",\"Language\":\"en\"}" >/dev/null
  local session domain key
  session=$(api '{"Command":"user.login","Username":"bench","Password":"bench-password"}' | jget SessionID)
  domain=$(api "{\"Command\":\"emailgateway.adddomain\",\"SessionID\":\"$session\",\"DomainName\":\"bench.example\"}" | jget NewSenderDomainID)
  "$BIN" domain approve --id "$domain" --db "$dsn" >/dev/null
  key=$(api "{\"Command\":\"emailgateway.addapi\",\"SessionID\":\"$session\",\"DomainID\":$domain,\"Description\":\"bench\"}" | jget APIKey APIKey)
  api "{\"Command\":\"emailgateway.addsmtp\",\"SessionID\":\"$session\",\"DomainID\":$domain,\"AllowedNetworks\":\"127.0.0.1/32\"}" >/dev/null

  MYSQLD=""
  [ "$name" != mysql ] || MYSQLD=$(mysqld_pid)
  smtp_run "$name" "$smtp_port" "$pid"

  local hz
  hz=$("$LOADGEN" http -url "http://$HTTP/healthz" -c $HTTP_CLIENTS -d "${HZ_SECONDS}s")
  put "$name.healthz" "$(echo "$hz" | jget rate)"
  put "$name.healthz_p50" "$(echo "$hz" | jget p50_ms)"
  put "$name.healthz_p99" "$(echo "$hz" | jget p99_ms)"

  # HTTP sends with delivery running (the sink takes everything as it comes): 32 clients, a
  # 4 KiB plain body, COMPARE_HTTP_SENDS sends or COMPARE_HTTP_SECONDS, whichever ends first;
  # gatewayd's CPU (and mysqld's) over the run, per accepted send.
  sink_reset
  local text
  text=$(python3 -c "print(('Your order 1234 has shipped and will arrive on Tuesday. ' * 80)[:4096])")
  local body='{"Subject":"bench {n}","ContentType":"plain","PlainContent":"'"$text"'","From":{"email":"app@bench.example","name":"Bench"},"To":[{"email":"r{n}@dest.test"}]}'
  local send sent c0 c1 d0 d1
  c0=$(cpu_of "$pid"); d0=$(cpu_of "$MYSQLD")
  send=$("$LOADGEN" http -method POST -url "http://$HTTP/api/v1/email" -c $HTTP_CLIENTS -n "$HTTP_SENDS" -d "${HTTP_SECONDS}s" \
    -expect MessageID -H "Authorization: Bearer $key" -H "Content-Type: application/json" -body "$body")
  c1=$(cpu_of "$pid"); d1=$(cpu_of "$MYSQLD")
  [ "$(echo "$send" | jget errors)" = 0 ] || say "$name: HTTP send errors: $send"
  sent=$(echo "$send" | jget ok)
  put "$name.http_cpu" "$(cpu_ms_per "$c0" "$c1" "$sent")"
  [ -z "$MYSQLD" ] || put "$name.http_db_cpu" "$(cpu_ms_per "$d0" "$d1" "$sent")"
  wait_sink "$sent" 300 >/dev/null

  # Latency at the target rate: issue 14 asks for p99 under 50 ms at the rate of its HTTP
  # target (3x Postfix's SMTP accept on SQLite, 2x on MariaDB; Postfix's median in this run so
  # far). Open loop (loadgen -rate: a request is due at its time whatever the answers before
  # it, and its latency runs from then), the same 32 clients and body, for
  # COMPARE_RATE_SECONDS (15 s), delivery running.
  local pf factor=3
  [ "$name" = sqlite ] || factor=2
  pf=$(median postfix.smtp_accept)
  if [ -n "$pf" ]; then
    local want at
    want=$(python3 -c "print(round($pf * $factor))")
    sink_reset
    at=$("$LOADGEN" http -method POST -url "http://$HTTP/api/v1/email" -c $HTTP_CLIENTS -rate "$want" -d "${RATE_SECONDS}s" \
      -start 1000000 -expect MessageID -H "Authorization: Bearer $key" -H "Content-Type: application/json" -body "$body")
    [ "$(echo "$at" | jget errors)" = 0 ] || say "$name: HTTP send errors at the target rate: $at"
    put "$name.rate_want" "$want"
    put "$name.rate_got" "$(echo "$at" | jget rate)"
    put "$name.rate_p50" "$(echo "$at" | jget p50_ms)"
    put "$name.rate_p99" "$(echo "$at" | jget p99_ms)"
    wait_sink "$(echo "$at" | jget ok)" 300 >/dev/null
    say "$name: at the target rate, $want sends/s due: $(echo "$at" | jget rate | cut -d. -f1)/s answered, p50 $(echo "$at" | jget p50_ms) ms, p99 $(echo "$at" | jget p99_ms) ms"
  fi
  sink_hold 1
  put "$name.http" "$(echo "$send" | jget rate)"
  put "$name.http_p50" "$(echo "$send" | jget p50_ms)"
  put "$name.http_p99" "$(echo "$send" | jget p99_ms)"
  say "$name: healthz $(echo "$hz" | jget rate | cut -d. -f1) req/s; HTTP sends $(echo "$send" | jget rate | cut -d. -f1)/s while delivering ($sent sent, $(last "$name.http_cpu") ms CPU each)"

  if [ "${3:-}" != memory ]; then
    sink_hold 0
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    return 0
  fi
  # The queue deepened to Q_SMALL, then Q_BIG queued recipients (rows written straight into the
  # database, copies of the last message's recipient: the HTTP path above is the acceptance
  # figure, this is about memory), RSS read with delivery held; then delivery released and RSS
  # sampled while the node works through the deep queue for COMPARE_DRAIN_SECONDS.
  seed_queue "$dsn" "$Q_SMALL" "$sent"
  sleep 2
  put "$name.rss_small" "$(rss $pid VmRSS)"
  seed_queue "$dsn" "$((Q_BIG - Q_SMALL))" "$Q_SMALL"
  sleep 2
  put "$name.rss_big" "$(rss $pid VmRSS)"
  sink_reset
  sink_hold 0
  local peak=0 r end=$((SECONDS + DRAIN_SECONDS))
  while [ $SECONDS -lt $end ]; do
    r=$(rss $pid VmRSS)
    peak=$(python3 -c "print(max($peak, $r))")
    sleep 0.5
  done
  put "$name.rss_drain" "$peak"
  put "$name.drain" "$(python3 -c "print($(sink_count) / $DRAIN_SECONDS)")"
  say "$name: RSS $(last "$name.rss_small") MiB with $Q_SMALL queued, $(last "$name.rss_big") MiB with $Q_BIG; at most $peak MiB delivering from it ($(sink_count) in ${DRAIN_SECONDS} s)"
  put "$name.hwm" "$(rss $pid VmHWM)"
  sink_hold 0
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
}

# --- the rounds ------------------------------------------------------------------------------
# COMPARE_ROUNDS rounds (3), each system once per round, the order reversed every other round
# (so no system always runs first, on a cold machine, or last); the table shows the medians.
# gatewayd's memory is measured in the first round only. Every gatewayd run starts on a new
# database.
HAVE_MYSQL=""
if (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null && command -v mysql >/dev/null 2>&1; then
  HAVE_MYSQL=1
else
  say "MariaDB/MySQL is not reachable on 127.0.0.1:3306: SQLite only"
fi
run_system() {
  local mem=""
  [ "$2" != 1 ] || mem=memory
  case $1 in
  postfix | postfix_dkim) postfix_run "$1" ;;
  sqlite) gatewayd_run sqlite "sqlite://$WORK/sqlite$2/gatewayd.db" $mem ;;
  mysql)
    [ -n "$HAVE_MYSQL" ] || return 0
    MYSQL_DB=gwcompare_$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
    mysql -uroot -h127.0.0.1 -e "CREATE DATABASE $MYSQL_DB CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    gatewayd_run mysql "${MYSQL%/}/$MYSQL_DB" $mem
    mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $MYSQL_DB" >/dev/null 2>&1 || true
    MYSQL_DB=""
    ;;
  esac
}
read -r -a SYSTEMS <<<"${COMPARE_SYSTEMS:-postfix postfix_dkim sqlite mysql}"
for round in $(seq 1 "$ROUNDS"); do
  order=("${SYSTEMS[@]}")
  if [ $((round % 2)) = 0 ]; then
    order=()
    for ((i = ${#SYSTEMS[@]} - 1; i >= 0; i--)); do order+=("${SYSTEMS[i]}"); done
  fi
  echo "-- round $round of $ROUNDS: ${order[*]}"
  for sys in "${order[@]}"; do run_system "$sys" "$round"; done
done
if [ -n "$PF_DIR" ] && [ -f "$PF_DIR/spool/pid/master.pid" ]; then postfix -c "$PF_DIR/conf" stop >/dev/null 2>&1 || true; fi
PF_DIR=""

# --- the table -------------------------------------------------------------------------------
# Issue 14's figures (gatewayd at 1587c16, the same load) are printed beside the new ones, and
# each of its targets is marked met or missed from this run's ratios.
python3 - "$RES" "$PF_VERSION" "$Q_SMALL" "$Q_BIG" <<'PY'
import sys
res, pfv, qs, qb = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
import statistics
runs = {}
for line in open(res):
    k, v = line.strip().split("=", 1)
    runs.setdefault(k, []).append(float(v))
r = {k: statistics.median(v) for k, v in runs.items()}  # the median of the rounds
cols = ["postfix", "postfix_dkim", "sqlite", "mysql"]
names = {"postfix": f"Postfix {pfv}", "postfix_dkim": "Postfix + OpenDKIM", "sqlite": "gatewayd SQLite", "mysql": "gatewayd MariaDB"}
old = {  # issue 14, measured the same way
    "smtp_accept": {"postfix": 716, "postfix_dkim": 336, "sqlite": 620, "mysql": 343},
    "e2e": {"postfix": 591, "postfix_dkim": 336, "sqlite": 593, "mysql": 342},
    "http": {"sqlite": 1255, "mysql": 400},
    "cpu": {"postfix": 2.58, "postfix_dkim": 5.01, "sqlite": 2.63, "mysql": 2.65},
}
g = lambda c, k: r.get(f"{c}.{k}")
pf_acc, pf_e2e, pd_e2e = g("postfix", "smtp_accept"), g("postfix", "e2e"), g("postfix_dkim", "e2e")
def ratio(a, b):
    return f" ({a / b:.2f}x)" if a and b else ""
def cell(c, k, fmt="{:.0f}", ref=None):
    v = g(c, k)
    o = old.get(k, {}).get(c)
    s = "-" if v is None else fmt.format(v) + (ratio(v, ref) if ref and c != "postfix" else "")
    if o is not None:
        s += " [" + fmt.format(o) + "]"
    return s
rows = [
    ("SMTP accept msg/s", [cell(c, "smtp_accept", ref=pf_acc) for c in cols]),
    ("SMTP end-to-end msg/s", [cell(c, "e2e", ref=pf_e2e) for c in cols]),
    ("HTTP sends accepted/s, delivering", ["-", "-"] + [cell(c, "http", ref=pf_acc) for c in cols[2:]]),
    ("  send latency p50 / p99, ms", ["-", "-"] + [f"{g(c,'http_p50'):.1f} / {g(c,'http_p99'):.1f}" if g(c, "http_p50") is not None else "-" for c in cols[2:]]),
    ("HTTP at the target rate: due / answered per s", ["-", "-"] + [f"{g(c,'rate_want'):.0f} / {g(c,'rate_got'):.0f}" if g(c, "rate_want") is not None else "-" for c in cols[2:]]),
    ("  send latency p50 / p99, ms", ["-", "-"] + [f"{g(c,'rate_p50'):.1f} / {g(c,'rate_p99'):.1f}" if g(c, "rate_p50") is not None else "-" for c in cols[2:]]),
    ("HTTP accepted / own /healthz ceiling", ["-", "-"] + [f"{100 * g(c,'http') / g(c,'healthz'):.1f} %" if g(c, "healthz") else "-" for c in cols[2:]]),
    ("CPU per message, ms (SMTP, end-to-end)", [cell(c, "cpu", "{:.2f}") for c in cols]),
    ("  mysqld CPU per message, ms", ["-", "-", "-", cell("mysql", "db_cpu", "{:.2f}")]),
    ("CPU per HTTP send, delivering, ms", ["-", "-"] + [cell(c, "http_cpu", "{:.2f}") for c in cols[2:]]),
    ("  mysqld CPU per HTTP send, ms", ["-", "-", "-", cell("mysql", "http_db_cpu", "{:.2f}")]),
    ("messages signed at the sink", [cell(c, "signed") for c in cols]),
    (f"RSS MiB, {qs:,} / {qb:,} queued", ["-", "-"] + [f"{g(c,'rss_small') or 0:.0f} / {g(c,'rss_big') or 0:.0f}" for c in cols[2:]]),
    ("  RSS MiB delivering from the deep queue", ["-", "-"] + [f"{g(c,'rss_drain') or 0:.0f}" for c in cols[2:]]),
]
w0 = max(len(x[0]) for x in rows) + 2
wc = [max([len(names[c])] + [len(x[1][i]) for x in rows]) + 2 for i, c in enumerate(cols)]
print()
print("   " + "".ljust(w0) + "".join(names[c].rjust(w) for c, w in zip(cols, wc)))
for label, vals in rows:
    print("   " + label.ljust(w0) + "".join(v.rjust(w) for v, w in zip(vals, wc)))
print()
print("   (ratio) against Postfix in this run (HTTP: against Postfix's SMTP accept); [issue 14's figure, gatewayd at 1587c16]")
print()
def target(label, v, want, unit="x"):
    if v is None:
        print(f"   {label:<66} -        not measured")
        return
    ok = v <= want if unit == "ms" else v >= want
    shown = f"{v:.2f} ms" if unit == "ms" else f"{v:.2f}x"
    print(f"   {label:<66} {shown:>9}  {'met' if ok else 'MISSED'}")
def rat(a, b):
    return a / b if a and b else None
print("   targets of issue 14:")
target("MariaDB: SMTP end-to-end >= 1.5x Postfix", rat(g("mysql", "e2e"), pf_e2e), 1.5)
target("MariaDB: SMTP end-to-end >= 2.5x Postfix + OpenDKIM", rat(g("mysql", "e2e"), pd_e2e), 2.5)
target("MariaDB: HTTP accepted while delivering >= 2x Postfix SMTP accept", rat(g("mysql", "http"), pf_acc), 2)
target("SQLite: SMTP accept >= 2x Postfix", rat(g("sqlite", "smtp_accept"), pf_acc), 2)
target("SQLite: SMTP end-to-end >= 1.5x Postfix", rat(g("sqlite", "e2e"), pf_e2e), 1.5)
target("SQLite: SMTP end-to-end >= 3x Postfix + OpenDKIM", rat(g("sqlite", "e2e"), pd_e2e), 3)
target("SQLite: HTTP accepted while delivering >= 3x Postfix SMTP accept", rat(g("sqlite", "http"), pf_acc), 3)
target("SQLite: CPU per delivered message, DKIM included, <= 1.3 ms", g("sqlite", "cpu"), 1.3, "ms")
# The 1.3 ms was half of Postfix's CPU per message where issue 14 measured it (2.58 ms); the
# same target as a ratio to Postfix in this run:
cpu_ratio = rat(g("sqlite", "cpu"), g("postfix", "cpu"))
if cpu_ratio is not None:
    print(f"   {'SQLite: CPU per delivered message <= 0.5x Postfix (the same, as a ratio)':<66} {cpu_ratio:>8.2f}x  {'met' if cpu_ratio <= 0.5 else 'MISSED'}")
for c in ("sqlite", "mysql"):
    a, b = g(c, "rss_small"), g(c, "rss_big")
    if a and b:
        print(f"   {names[c] + ': RSS flat, ' + f'{qs:,} to {qb:,} queued':<66} {b / a:>8.2f}x  {'met' if b / a <= 1.1 else 'MISSED'}")
    p99 = g(c, "rate_p99")
    if p99 is not None:
        print(f"   {names[c] + ': p99 HTTP send latency < 50 ms at the target rate':<66} {p99:>6.1f} ms  {'met' if p99 < 50 else 'MISSED'}")
    p99 = g(c, "http_p99")
    if p99 is not None:
        print(f"   {names[c] + ': p99 HTTP send latency < 50 ms, flat out':<66} {p99:>6.1f} ms  {'met' if p99 < 50 else 'MISSED'}")
PY
