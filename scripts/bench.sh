#!/usr/bin/env bash
# make bench: gatewayd's throughput figures, one section per area. Each section is a function
# bench_<area> that prints its own figures and cleans up after itself; every run is bounded.
#   scripts/bench.sh            run every section
#   scripts/bench.sh smtp       run some sections
# Sections run gatewayd (bin/gatewayd, built here) on a throwaway SQLite database in a
# temporary directory, on loopback ports; they never touch data/.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
BIN=bin/gatewayd
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

build() { $GO build -o "$BIN" ./cmd/gatewayd; }

# bench_dialects sets DIALECTS to the databases a section measures: SQLite, and MariaDB/MySQL
# when something answers on 127.0.0.1:3306 (said so when not).
bench_dialects() {
  DIALECTS=(sqlite)
  if (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; then
    DIALECTS+=(mysql)
  else
    echo "   MariaDB/MySQL is not reachable on 127.0.0.1:3306: SQLite only"
  fi
}

# go_bench_dialects OUT SECONDS PACKAGE BENCHMARK: runs one Go benchmark once (-benchtime 1x)
# on SQLite and, when reachable, on MariaDB/MySQL (MYSQL_DSN), each dialect's output in
# OUT/<dialect>.txt; on a failure it prints that output and returns 1.
go_bench_dialects() {
  local out=$1 secs=$2 pkg=$3 bench=$4 mysql=${MYSQL_DSN:-mysql://root@127.0.0.1:3306/}
  mkdir -p "$out"
  bench_dialects
  for d in "${DIALECTS[@]}"; do
    local db=sqlite
    [ "$d" = mysql ] && db=$mysql
    if ! GATEWAY_TEST_DB=$db timeout "$secs" $GO test -count=1 -run '^$' -bench "^$bench\$" -benchtime 1x \
      -timeout "$((secs / 60))m" "$pkg" >"$out/$d.txt" 2>&1; then
      cat "$out/$d.txt"
      return 1
    fi
  done
}

# start_gatewayd NAME VAR=VALUE...: runs gatewayd serve on its own database in $WORK/NAME with
# the given environment, waits for /healthz, and sets ADMIN, HTTP.
start_gatewayd() {
  local name=$1; shift
  local dir=$WORK/$name
  mkdir -p "$dir"
  HTTP=127.0.0.1:$((18000 + RANDOM % 1000))
  ADMIN=bench-admin-key
  env GATEWAY_DB="sqlite://$dir/gatewayd.db" GATEWAY_HTTP_ADDR="$HTTP" GATEWAY_ADMIN_API_KEY="$ADMIN" \
    GATEWAY_SECRET_KEY_FILE="$dir/secret.key" GATEWAY_HOSTNAME=bench.gateway.test GATEWAY_RATE_LIMIT=off \
    GATEWAY_DNS_SERVER=127.0.0.1:9 GATEWAY_WORKERS=1 GATEWAY_LOG_LEVEL=error "$@" \
    "$BIN" serve >"$dir/log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    curl -fsS "http://$HTTP/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "gatewayd did not start:"; cat "$dir/log"; return 1
}

# api JSON: posts to api.php, prints the answer.
api() { curl -fsS -H 'Content-Type: application/json' -d "$1" "http://$HTTP/api.php"; }
field() {
  python3 -c 'import json, sys
d = json.load(sys.stdin)
for k in sys.argv[1:]:
    d = d[k]
print(d)' "$@"
}

# tenant NAME DOMAIN: a user with an approved domain; sets SESSION, DOMAIN_ID.
tenant() {
  api "{\"Command\":\"user.create\",\"AdminAPIKey\":\"$ADMIN\",\"RelUserGroupID\":1,\"EmailAddress\":\"$1@bench.test\",\"Username\":\"$1\",\"Password\":\"bench-password\",\"FirstName\":\"$1\",\"TimeZone\":\"UTC\",\"Language\":\"en\"}" >/dev/null
  SESSION=$(api "{\"Command\":\"user.login\",\"Username\":\"$1\",\"Password\":\"bench-password\"}" | field SessionID)
  DOMAIN_ID=$(api "{\"Command\":\"emailgateway.adddomain\",\"SessionID\":\"$SESSION\",\"DomainName\":\"$2\"}" | field NewSenderDomainID)
  "$BIN" domain approve --id "$DOMAIN_ID" --db "$DB_URL" >/dev/null
}

# ---------------------------------------------------------------------------------------------
# smtp: messages accepted per second over SMTP (the relay, issue 5). Postfix's smtp-source
# drives it at a fixed concurrency through a credential whose AllowedNetworks is 127.0.0.1
# (smtp-source does not AUTH); each message is one recipient, about 1 kB. smtp-source comes
# from Debian's postfix package, installed here when missing (configured as "No
# configuration", so no postfix daemon is left running). Without it the Go load generator
# (BenchmarkSubmission in relay/smtpd) runs instead, and says so.
bench_smtp() {
  local sessions=${SMTP_SESSIONS:-20} count=${SMTP_MESSAGES:-5000}
  echo "== smtp: messages accepted per second, $sessions concurrent sessions"
  if ! command -v smtp-source >/dev/null 2>&1 && [ ! -x /usr/sbin/smtp-source ] && [ "$(id -u)" = 0 ] \
    && command -v apt-get >/dev/null 2>&1; then
    echo "   installing postfix for smtp-source"
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq postfix >/dev/null 2>&1 || true
    # Never leave a postfix listening on :25 behind.
    command -v postfix >/dev/null 2>&1 && postfix stop >/dev/null 2>&1 || true
  fi
  local source
  source=$(command -v smtp-source || echo /usr/sbin/smtp-source)
  if [ ! -x "$source" ]; then
    echo "   smtp-source unavailable: falling back to the Go load generator (16 sessions)"
    $GO test -run XXX -bench BenchmarkSubmission -benchtime "${count}x" ./relay/smtpd | grep -E 'Benchmark|msgs/s'
    return
  fi
  local port=$((12000 + RANDOM % 1000))
  DB_URL="sqlite://$WORK/smtp/gatewayd.db"
  start_gatewayd smtp GATEWAY_SMTP_ADDR="127.0.0.1:$port" GATEWAY_SMTP_RATE_LIMIT=off \
    GATEWAY_SMTP_MAX_CONNECTIONS=1000
  tenant smtpbench bench.example
  api "{\"Command\":\"emailgateway.addsmtp\",\"SessionID\":\"$SESSION\",\"DomainID\":$DOMAIN_ID,\"AllowedNetworks\":\"127.0.0.1/32\"}" >/dev/null
  # Warm up, then the measured run.
  timeout 60 "$source" -s 4 -m 100 -l 1024 -f sender@bench.example -t rcpt@dest.test "127.0.0.1:$port"
  local t0 t1
  t0=$(date +%s.%N)
  timeout 120 "$source" -s "$sessions" -m "$count" -l 1024 -f sender@bench.example -t rcpt@dest.test "127.0.0.1:$port"
  t1=$(date +%s.%N)
  local stored
  stored=$(python3 - "$WORK/smtp/gatewayd.db" <<'PY'
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM messages").fetchone()[0])
PY
)
  python3 -c "import sys; n,a,b,s=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]),sys.argv[4]; print(f'   smtp-source: {n} messages in {b-a:.2f} s = {n/(b-a):.0f} msgs/s accepted ({s} stored in all, with 100 warm-up)')" \
    "$count" "$t0" "$t1" "$stored"
}

# ---------------------------------------------------------------------------------------------
# send: accepted sends per second through POST /api/v1/email (issue 4) at 1, 8 and 64
# concurrent clients, on SQLite and on MariaDB/MySQL (MYSQL_DSN, default root@127.0.0.1:3306;
# left out, and said so, when nothing listens there). The reference is GET /healthz (one
# database ping) on the same server stack and clients in the same run; the ratio is sends/s
# divided by healthz req/s. These are BenchmarkSend and BenchmarkHealthz in app/ (a whole
# server behind httptest, no delivery workers), SEND_BENCHTIME (default 2s) per figure.
bench_send() {
  local benchtime=${SEND_BENCHTIME:-2s} mysql=${MYSQL_DSN:-mysql://root@127.0.0.1:3306/}
  local out=$WORK/send
  mkdir -p "$out"
  echo "== send: accepted sends per second, POST /api/v1/email (reference: GET /healthz)"
  bench_dialects
  for d in "${DIALECTS[@]}"; do
    local db=sqlite
    [ "$d" = mysql ] && db=$mysql
    if ! GATEWAY_TEST_DB=$db timeout 600 $GO test -count=1 -run '^$' -bench '^Benchmark(Send|Healthz)$' \
      -benchtime "$benchtime" ./app/ >"$out/$d.txt" 2>&1; then
      cat "$out/$d.txt"
      return 1
    fi
  done
  python3 - "$out" "${DIALECTS[@]}" <<'PY'
import re, sys
out, dialects = sys.argv[1], sys.argv[2:]
line = re.compile(r'^Benchmark(Send|Healthz)/clients=(\d+)(?:-\d+)?\s+\d+\s+[\d.]+ ns/op\s+([\d.]+) (?:sends|req)/s')
print(f"   {'database':<9} {'clients':>7} {'sends/s':>9} {'healthz/s':>10} {'ratio':>7}")
for d in dialects:
    figs = {}
    for l in open(f"{out}/{d}.txt"):
        m = line.match(l)
        if m:
            figs[(m.group(1), int(m.group(2)))] = float(m.group(3))
    for c in sorted({c for _, c in figs}):
        s, h = figs.get(("Send", c)), figs.get(("Healthz", c))
        if s is None or h is None:
            continue
        name = "MariaDB" if d == "mysql" else "SQLite"
        print(f"   {name:<9} {c:>7} {s:>9.0f} {h:>10.0f} {s/h:>7.3f}")
PY
}

# ---------------------------------------------------------------------------------------------
# events: webhook deliveries per second from the outbox to one local receiver (the
# dispatcher's per-receiver limit of 4 in flight; BENCH_WEBHOOK_EVENTS, default 20000,
# delivered events written first, then the dispatcher timed until the receiver has them
# all), and emailgateway.domainstats latency over rollups holding 1,000,000 events (a year,
# ten tags; written directly as rollups) for the default 28 days and for 365 days. These are
# BenchmarkWebhookDispatch and BenchmarkDomainStats in app/, on SQLite and on MariaDB/MySQL
# when it is reachable.
bench_events() {
  local mysql=${MYSQL_DSN:-mysql://root@127.0.0.1:3306/} out=$WORK/events
  mkdir -p "$out"
  echo "== events: webhook deliveries per second; domainstats latency over 1,000,000 events"
  bench_dialects
  for d in "${DIALECTS[@]}"; do
    local db=sqlite
    [ "$d" = mysql ] && db=$mysql
    if ! BENCH_WEBHOOK_EVENTS=${BENCH_WEBHOOK_EVENTS:-20000} GATEWAY_TEST_DB=$db timeout 600 $GO test -count=1 -run '^$' \
      -bench '^BenchmarkWebhookDispatch$' -benchtime 1x ./app/ >"$out/$d.txt" 2>&1 \
      || ! GATEWAY_TEST_DB=$db timeout 600 $GO test -count=1 -run '^$' -bench '^BenchmarkDomainStats$' \
      -benchtime 200x ./app/ >>"$out/$d.txt" 2>&1; then
      cat "$out/$d.txt"
      return 1
    fi
  done
  python3 - "$out" "${DIALECTS[@]}" <<'PY'
import re, sys
out, dialects = sys.argv[1], sys.argv[2:]
wh = re.compile(r'^BenchmarkWebhookDispatch\S*\s+\d+\s+[\d.]+ ns/op\s+([\d.]+) events\s+([\d.]+) events/s')
st = re.compile(r'^BenchmarkDomainStats/(\w+)\S*\s+\d+\s+[\d.]+ ns/op\s+([\d.]+) p50-ms\s+([\d.]+) p95-ms')
print(f"   {'database':<9} {'webhooks/s':>10} {'(events)':>9} {'stats 28d p50/p95 ms':>21} {'stats 365d p50/p95 ms':>22}")
for d in dialects:
    w, s = None, {}
    for l in open(f"{out}/{d}.txt"):
        if m := wh.match(l):
            w = (float(m.group(2)), int(float(m.group(1))))
        if m := st.match(l):
            s[m.group(1)] = f"{float(m.group(2)):.2f} / {float(m.group(3)):.2f}"
    name = "MariaDB" if d == "mysql" else "SQLite"
    print(f"   {name:<9} {w[0] if w else 0:>10.0f} {w[1] if w else 0:>9} {s.get('28d', '-'):>21} {s.get('365d', '-'):>22}")
PY
}

# ---------------------------------------------------------------------------------------------
# delivery: messages per second from acceptance to a local SMTP sink, and the memory of a node
# with a deep queue (issue 6). BenchmarkDeliveryEndToEnd (app/): 16 clients submit
# BENCH_DELIVERY_MESSAGES (default 5000) one-recipient messages through the acceptance path
# while the delivery workers DKIM-sign them and relay them to a fake SMTP server; the clock
# runs from the first submission to the last message at the sink. BenchmarkQueueDrain
# (relay/delivery/): the real gatewayd binary starts on a database already holding
# BENCH_QUEUE_MESSAGES (default 100,000) queued messages and delivers them to a counting sink
# for at most BENCH_QUEUE_SECONDS (default 120); reported: its peak RSS (VmHWM) and drain
# rate. Workers: BENCH_DELIVERY_WORKERS (default 16). SQLite, and MariaDB/MySQL when reachable.
bench_delivery() {
  local mysql=${MYSQL_DSN:-mysql://root@127.0.0.1:3306/} out=$WORK/delivery
  mkdir -p "$out"
  echo "== delivery: accept-to-sink messages/s; peak RSS draining ${BENCH_QUEUE_MESSAGES:-100000} queued messages"
  bench_dialects
  for d in "${DIALECTS[@]}"; do
    local db=sqlite
    [ "$d" = mysql ] && db=$mysql
    if ! GATEWAY_TEST_DB=$db timeout 900 $GO test -count=1 -run '^$' -bench '^BenchmarkDeliveryEndToEnd$' \
      -benchtime 1x -timeout 15m ./app/ >"$out/$d.txt" 2>&1 \
      || ! GATEWAY_TEST_DB=$db timeout 1200 $GO test -count=1 -run '^$' -bench '^BenchmarkQueueDrain$' \
      -benchtime 1x -timeout 20m ./relay/delivery/ >>"$out/$d.txt" 2>&1; then
      cat "$out/$d.txt"
      return 1
    fi
  done
  python3 - "$out" "${DIALECTS[@]}" <<'PY'
import re, sys
out, dialects = sys.argv[1], sys.argv[2:]
def metrics(line):
    return {u: float(v) for v, u in re.findall(r'([\d.]+) ([A-Za-z/-]+)', line.split('ns/op', 1)[-1])}
print(f"   {'database':<9} {'accepted/s':>10} {'delivered/s':>11} {'queued':>8} {'drained':>8} {'drain msgs/s':>12} {'peak RSS MiB':>12} {'seed s':>7}")
for d in dialects:
    e2e, drain = {}, {}
    for l in open(f"{out}/{d}.txt"):
        if l.startswith('BenchmarkDeliveryEndToEnd'):
            e2e = metrics(l)
        if l.startswith('BenchmarkQueueDrain'):
            drain = metrics(l)
    name = "MariaDB" if d == "mysql" else "SQLite"
    print(f"   {name:<9} {e2e.get('accepted/s', 0):>10.0f} {e2e.get('delivered/s', 0):>11.0f} {drain.get('queued', 0):>8.0f}"
          f" {drain.get('delivered', 0):>8.0f} {drain.get('msgs/s', 0):>12.0f} {drain.get('peak-rss-MiB', 0):>12.1f} {drain.get('seed-s', 0):>7.1f}")
PY
}

# ---------------------------------------------------------------------------------------------
# audience: subscribers imported per second through subscribers.import.post (100,000 CSV rows
# with three custom fields, batches of 1,000 multi-row inserts), per CPU-second of the process
# (steadier than wall time on a loaded machine), and the process's peak RSS.
# BenchmarkImport in app/, on SQLite and on MariaDB/MySQL when it is reachable.
bench_audience() {
  local out=$WORK/audience
  echo "== audience: subscribers imported per second (${BENCH_IMPORT_ROWS:-100000} rows, 3 custom fields)"
  BENCH_IMPORT_ROWS=${BENCH_IMPORT_ROWS:-100000} go_bench_dialects "$out" 900 ./app/ BenchmarkImport || return 1
  python3 - "$out" "${DIALECTS[@]}" <<'PY'
import re, sys
out, dialects = sys.argv[1], sys.argv[2:]
print(f"   {'database':<9} {'subscribers/s':>13} {'per CPU-s':>10} {'peak RSS MiB':>13}")
for d in dialects:
    r = {}
    for l in open(f"{out}/{d}.txt"):
        if l.startswith('BenchmarkImport'):
            r = {u: float(v) for v, u in re.findall(r'([\d.]+) (\S+)', l)}
    name = "MariaDB" if d == "mysql" else "SQLite"
    print(f"   {name:<9} {r.get('subscribers/s', 0):>13.0f} {r.get('subscribers/CPU-s', 0):>10.0f} {r.get('peak-RSS-MiB', 0):>13.1f}")
PY
}

# ---------------------------------------------------------------------------------------------
# listreports: milliseconds of each list report (lists.stats and the list.get* analytics) on a
# list of 100,000 subscribers with one list message each and their opens and clicks, and the
# process's peak RSS. BenchmarkListReports in app/, on SQLite and MariaDB/MySQL when reachable.
bench_listreports() {
  local out=$WORK/listreports
  echo "== list reports on a list of ${BENCH_REPORT_ROWS:-100000} subscribers (ms per call)"
  BENCH_REPORT_ROWS=${BENCH_REPORT_ROWS:-100000} go_bench_dialects "$out" 900 ./app/ BenchmarkListReports || return 1
  for d in "${DIALECTS[@]}"; do
    echo "   $([ "$d" = mysql ] && echo MariaDB || echo SQLite):"
    grep '^BenchmarkListReports' "$out/$d.txt" | tr '\t' '\n' | grep -E -- '-ms|MiB' | sed 's/^ */     /'
  done
}

# ---------------------------------------------------------------------------------------------
# listsend: a full-list send (GATEWAY_SENDEMAIL_FULL_LIST=true) of a personalized template to
# BENCH_LIST_SUBSCRIBERS (default 100,000) imported subscribers with one POST /api/v1/email:
# accepted recipients per second, against single-recipient sends through the same route in
# the same run (BENCH_SINGLE_SENDS, default 2,000, from 1 and from 8 clients; ratio = list
# recipients/s / single sends/s); then the queue drains to a counting SMTP sink for at most
# BENCH_DRAIN_SECONDS (default 600) with the resident set sampled every second (min, max, and
# the mean of the first and second half of the drain: flat when they match). This is
# BenchmarkListSend in app/, on SQLite and on MariaDB/MySQL when it is reachable.
bench_listsend() {
  local out=$WORK/listsend
  echo "== listsend: full-list send of ${BENCH_LIST_SUBSCRIBERS:-100000} personalized recipients; queue drain RSS"
  go_bench_dialects "$out" 2400 ./app/ BenchmarkListSend || return 1
  python3 - "$out" "${DIALECTS[@]}" <<'PY'
import re, sys
out, dialects = sys.argv[1], sys.argv[2:]
def metrics(line):
    return {u: float(v) for v, u in re.findall(r'([\d.]+) ([A-Za-z0-9/-]+)', line.split('ns/op', 1)[-1])}
print(f"   {'database':<9} {'list rcpt/s':>11} {'single/s 1c':>11} {'8c':>6} {'ratio 1c':>8} {'8c':>6} {'drained':>8} {'drain/s':>8} {'RSS MiB min/max, 1st/2nd half':>30}")
for d in dialects:
    m = {}
    for l in open(f"{out}/{d}.txt"):
        if l.startswith('BenchmarkListSend'):
            m = metrics(l)
    g = lambda k: m.get(k, 0)
    name = "MariaDB" if d == "mysql" else "SQLite"
    rss = f"{g('drain-rss-min-MiB'):.0f}/{g('drain-rss-max-MiB'):.0f}, {g('drain-rss-avg1-MiB'):.0f}/{g('drain-rss-avg2-MiB'):.0f}"
    print(f"   {name:<9} {g('list-rcpt/s'):>11.0f} {g('single-1c-rcpt/s'):>11.0f} {g('single-8c-rcpt/s'):>6.0f} {g('ratio-1c'):>8.2f}"
          f" {g('ratio-8c'):>6.2f} {g('drained'):>8.0f} {g('drain-msgs/s'):>8.0f} {rss:>30}")
PY
}

# ---------------------------------------------------------------------------------------------
sections=(send smtp events delivery audience listsend listreports)
[ $# -gt 0 ] && sections=("$@")
build
for s in "${sections[@]}"; do
  "bench_$s"
done
# Last, the comparison with Postfix (its own script: scripts/bench-compare.sh runs it alone).
[ $# -gt 0 ] || scripts/bench-compare.sh
