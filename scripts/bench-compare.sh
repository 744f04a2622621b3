#!/usr/bin/env bash
# make bench, last section: gatewayd against Postfix on this machine, in one run, one table.
#
#   scripts/bench-compare.sh        (make bench runs it after scripts/bench.sh's sections)
#
# What runs (all on 127.0.0.1, high ports; everything started here is stopped on exit):
#   - a counting SMTP sink (scripts/loadgen sink) that both systems deliver to;
#   - Postfix (Debian's package, installed when missing) as a private instance: its own config
#     and queue directories under a temporary directory, smtpd on 127.0.0.1 only, no DNS,
#     every message relayed to the sink. No postfix is left running and port 25 is never used;
#   - gatewayd serve (bin/gatewayd) on SQLite, then on MariaDB/MySQL (a throwaway database on
#     MYSQL_DSN, default root@127.0.0.1:3306, left out when nothing listens there), relaying
#     through GATEWAY_DEFAULT_RELAY to the same sink.
# Figures:
#   - SMTP accept: smtp-source -s 64 -m COMPARE_SMTP_MESSAGES (default 5000) -l 1024, a
#     connection per message, one recipient each, into Postfix and into gatewayd (a relay
#     credential whose AllowedNetworks is 127.0.0.1: smtp-source does not AUTH);
#   - end-to-end: from smtp-source's start until the sink has every message;
#   - HTTP: POST /api/v1/email at 64 clients (scripts/loadgen http), one recipient each,
#     COMPARE_HTTP_SENDS (10,000) sends or COMPARE_HTTP_SECONDS (30 s), whichever ends first,
#     with p50/p99 latency; the ceiling is GET /healthz on the same server and clients
#     (COMPARE_HEALTHZ_SECONDS, 10 s). During the HTTP run the sink holds its connections (no
#     greeting), so nothing is delivered: the figure is the acceptance path alone;
#   - memory: gatewayd's RSS with COMPARE_QUEUE_SMALL (10,000) and COMPARE_QUEUE_BIG (100,000)
#     queued recipients (the HTTP sends plus rows written straight into the database: at a few
#     hundred sends/s on MariaDB, 100,000 real sends would take most of the time budget), the
#     highest RSS while it then delivers from that queue for COMPARE_DRAIN_SECONDS (15 s), and
#     its peak RSS (VmHWM) over the whole run.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
BIN=bin/gatewayd
N_SMTP=${COMPARE_SMTP_MESSAGES:-5000}
Q_SMALL=${COMPARE_QUEUE_SMALL:-10000}
Q_BIG=${COMPARE_QUEUE_BIG:-100000}
HZ_SECONDS=${COMPARE_HEALTHZ_SECONDS:-10}
HTTP_SENDS=${COMPARE_HTTP_SENDS:-10000}
HTTP_SECONDS=${COMPARE_HTTP_SECONDS:-30}
DRAIN_SECONDS=${COMPARE_DRAIN_SECONDS:-15}
SESSIONS=64
MYSQL=${MYSQL_DSN:-mysql://root@127.0.0.1:3306/}
WORK=$(mktemp -d)
chmod 711 "$WORK" # postfix (mail_owner) must reach its directories below
RES=$WORK/results
PIDS=()
PF_DIR=""
MYSQL_DB=""

cleanup() {
  set +e
  if [ -n "$PF_DIR" ] && [ -f "$PF_DIR/spool/pid/master.pid" ]; then postfix -c "$PF_DIR/conf" stop >/dev/null 2>&1; fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  exec 7>&- 2>/dev/null
  if [ -n "$MYSQL_DB" ]; then mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $MYSQL_DB" >/dev/null 2>&1; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "   $*"; }
put() { echo "$1=$2" >>"$RES"; }
now() { date +%s.%N; }
rate() { python3 -c "import sys; n,a,b=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'{n/(b-a):.1f}')" "$@"; }
jget() { python3 -c 'import json, sys
d = json.load(sys.stdin)
for k in sys.argv[1:]:
    d = d[k]
print(d)' "$@"; }

echo "== compare: gatewayd against Postfix ($SESSIONS SMTP sessions / HTTP clients; $N_SMTP SMTP messages; queue $Q_SMALL and $Q_BIG)"

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
$GO build -o "$BIN" ./cmd/gatewayd
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

# smtp_run NAME PORT: warm-up, then the measured smtp-source run and the end-to-end wait.
smtp_run() {
  local name=$1 port=$2
  sink_reset
  timeout 120 smtp-source -s 4 -m 200 -l 1024 -N -f sender@bench.example -t warmup@dest.test "127.0.0.1:$port"
  [ "$(wait_sink 200 120)" != timeout ] || { say "$name: warm-up mail did not arrive"; return 1; }
  sink_reset
  local t0 t1 t2
  t0=$(now)
  timeout 600 smtp-source -s $SESSIONS -m "$N_SMTP" -l 1024 -N -f sender@bench.example -t rcpt@dest.test "127.0.0.1:$port"
  t1=$(now)
  t2=$(wait_sink "$N_SMTP" 600)
  put "$name.smtp_accept" "$(rate "$N_SMTP" "$t0" "$t1")"
  if [ "$t2" = timeout ]; then
    put "$name.e2e" "0"
    say "$name: only $(sink_count) of $N_SMTP messages reached the sink within 600 s"
  else
    put "$name.e2e" "$(rate "$N_SMTP" "$t0" "$t2")"
  fi
  say "$name: smtp accept $(rate "$N_SMTP" "$t0" "$t1") msgs/s, end-to-end $(grep "^$name.e2e=" "$RES" | cut -d= -f2) msgs/s"
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
PF_VERSION=$(postconf -d -h mail_version 2>/dev/null || echo "?")
postfix -c "$PF_DIR/conf" start >/dev/null 2>&1 || { echo "   postfix did not start:"; cat "$PF_DIR/maillog" 2>/dev/null | tail; exit 1; }
wait_port "$PF_PORT" || { echo "   postfix smtpd is not listening"; exit 1; }
smtp_run postfix "$PF_PORT"
postfix -c "$PF_DIR/conf" stop >/dev/null 2>&1 || true
PF_DIR=""

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

  smtp_run "$name" "$smtp_port"

  local hz
  hz=$("$LOADGEN" http -url "http://$HTTP/healthz" -c $SESSIONS -d "${HZ_SECONDS}s")
  put "$name.healthz" "$(echo "$hz" | jget rate)"
  put "$name.healthz_p50" "$(echo "$hz" | jget p50_ms)"
  put "$name.healthz_p99" "$(echo "$hz" | jget p99_ms)"

  # HTTP sends with delivery held back (the sink holds its connections: nothing is delivered,
  # so this is the acceptance path alone): COMPARE_HTTP_SENDS sends, at most
  # COMPARE_HTTP_SECONDS.
  sink_hold 1
  local body='{"Subject":"bench {n}","ContentType":"plain","PlainContent":"A short transactional message, about a hundred bytes of text in the body.","From":{"email":"app@bench.example","name":"Bench"},"To":[{"email":"r{n}@dest.test"}]}'
  local send sent
  send=$("$LOADGEN" http -method POST -url "http://$HTTP/api/v1/email" -c $SESSIONS -n "$HTTP_SENDS" -d "${HTTP_SECONDS}s" \
    -expect MessageID -H "Authorization: Bearer $key" -H "Content-Type: application/json" -body "$body")
  [ "$(echo "$send" | jget errors)" = 0 ] || say "$name: HTTP send errors: $send"
  sent=$(echo "$send" | jget ok)
  put "$name.http" "$(echo "$send" | jget rate)"
  put "$name.http_p50" "$(echo "$send" | jget p50_ms)"
  put "$name.http_p99" "$(echo "$send" | jget p99_ms)"
  say "$name: healthz $(echo "$hz" | jget rate | cut -d. -f1) req/s; HTTP sends $(echo "$send" | jget rate | cut -d. -f1)/s ($sent sent)"

  # The queue deepened to Q_SMALL, then Q_BIG queued recipients (rows written straight into the
  # database, copies of the last message's recipient: the HTTP path above is the acceptance
  # figure, this is about memory), RSS read with delivery held; then delivery released and RSS
  # sampled while the node works through the deep queue for COMPARE_DRAIN_SECONDS.
  seed_queue "$dsn" "$((Q_SMALL - sent))" "$sent"
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
  say "$name: RSS $(grep "^$name.rss_small=" "$RES" | cut -d= -f2) MiB with $Q_SMALL queued, $(grep "^$name.rss_big=" "$RES" | cut -d= -f2) MiB with $Q_BIG; at most $peak MiB delivering from it ($(sink_count) in ${DRAIN_SECONDS} s)"
  put "$name.hwm" "$(rss $pid VmHWM)"
  sink_hold 0
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
}

gatewayd_run sqlite "sqlite://$WORK/sqlite/gatewayd.db"
if (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null && command -v mysql >/dev/null 2>&1; then
  MYSQL_DB=gwcompare_$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
  mysql -uroot -h127.0.0.1 -e "CREATE DATABASE $MYSQL_DB CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
  gatewayd_run mysql "${MYSQL%/}/$MYSQL_DB"
else
  say "MariaDB/MySQL is not reachable on 127.0.0.1:3306: SQLite only"
fi

# --- the table -------------------------------------------------------------------------------
python3 - "$RES" "$PF_VERSION" "$SESSIONS" "$Q_SMALL" "$Q_BIG" <<'PY'
import sys
res, pfv, sessions, qs, qb = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
r = {}
for line in open(res):
    k, v = line.strip().split("=", 1)
    r[k] = float(v)
gw = [d for d in ("sqlite", "mysql") if f"{d}.smtp_accept" in r]
names = {"sqlite": "gatewayd SQLite", "mysql": "gatewayd MariaDB"}
pf_acc, pf_e2e = r.get("postfix.smtp_accept", 0), r.get("postfix.e2e", 0)
def ratio(a, b):
    return f"{a / b:.2f}x" if b else "-"
rows = []
def row(label, pf, vals, note=""):
    rows.append((label, pf, vals, note))
row(f"SMTP accept, msgs/s ({sessions} sessions)", f"{pf_acc:.0f}",
    [f"{r[d+'.smtp_accept']:.0f} ({ratio(r[d+'.smtp_accept'], pf_acc)})" for d in gw], "target >= 1.5x Postfix")
row("end-to-end to the sink, msgs/s", f"{pf_e2e:.0f}",
    [f"{r[d+'.e2e']:.0f} ({ratio(r[d+'.e2e'], pf_e2e)})" for d in gw], "target >= 1.5x Postfix")
row(f"HTTP /api/v1/email sends/s ({sessions} clients)", "-",
    [f"{r[d+'.http']:.0f} ({ratio(r[d+'.http'], pf_acc)} Postfix SMTP)" for d in gw], "target >= 2x Postfix SMTP accept")
row("  share of the /healthz ceiling", "-", [f"{r[d+'.http'] / r[d+'.healthz']:.3f}" for d in gw])
row("  send latency p50 / p99, ms", "-", [f"{r[d+'.http_p50']:.1f} / {r[d+'.http_p99']:.1f}" for d in gw])
row(f"GET /healthz req/s ({sessions} clients, ceiling)", "-", [f"{r[d+'.healthz']:.0f}" for d in gw])
row("  healthz latency p50 / p99, ms", "-", [f"{r[d+'.healthz_p50']:.1f} / {r[d+'.healthz_p99']:.1f}" for d in gw])
row(f"RSS MiB, {qs:,} queued", "-", [f"{r.get(d+'.rss_small', 0):.0f}" for d in gw])
if qb > qs:
    row(f"RSS MiB, {qb:,} queued", "-", [f"{r.get(d+'.rss_big', 0):.0f} ({ratio(r.get(d+'.rss_big', 0), r.get(d+'.rss_small', 0))})" for d in gw], "target: flat")
row(f"  RSS MiB delivering from {qb:,} queued (max)", "-", [f"{r.get(d+'.rss_drain', 0):.0f}" for d in gw])
row("  delivered from the deep queue, msgs/s", "-", [f"{r.get(d+'.drain', 0):.0f}" for d in gw])
row("peak RSS MiB (VmHWM, whole run)", "-", [f"{r.get(d+'.hwm', 0):.0f}" for d in gw])
w0 = max(len(x[0]) for x in rows) + 2
cols = [f"Postfix {pfv}"] + [names[d] for d in gw]
wc = [max([len(cols[0])] + [len(x[1]) for x in rows]) + 2] + [max([len(names[d])] + [len(x[2][i]) for x in rows]) + 2 for i, d in enumerate(gw)]
print()
print("   " + "".ljust(w0) + "".join(c.rjust(w) for c, w in zip(cols, wc)) + "   note")
for label, pf, vals, note in rows:
    print("   " + label.ljust(w0) + pf.rjust(wc[0]) + "".join(v.rjust(w) for v, w in zip(vals, wc[1:])) + ("   " + note if note else ""))
print()
print("   ratios in parentheses: against Postfix's figure in the same run (HTTP: against Postfix's SMTP accept rate)")
PY
