#!/usr/bin/env bash
# ccfeed against the SAP CAP OData peer on the SAME rows, in one run, pair by pair.
#
# usage: benches/compare.sh N [N2 ...]        e.g. benches/compare.sh 100000 1000000
#
# For each N (in the order given):
#   1. data   ../shared/peers/cap/gen_calls.py N -> /tmp/peerdata/calls_N.sqlite (cached),
#             loaded into /tmp/peerdata/ccfeed_N.db by benches/load_peer_calls.sh (cached
#             while newer than the source and the row count matches)
#   2. limit  benches/raw_limit.rs: the same rows read with the SQLite C API in the order
#             ccfeed pages them (RAW_ORDER, default time), written as the same JSON by a
#             tight loop into a counting sink (and with gzip)
#   3. pulls  benches/full_pull.rs (Rust client, `Accept-Encoding: gzip, deflate` as Power
#             BI sends it, every nextLink followed) against ccfeed, CAP (default offset
#             paging) and CAP with RELIABLE_PAGING=1 (keyset); then `$select` of CAP's 22
#             columns on both; then ccfeed without gzip and with Prefer maxpagesize=50000.
#             Every pull starts a fresh server, so VmHWM is the pull's peak RSS; server
#             CPU is utime+stime from /proc/PID/stat; the client's CPU is printed next to it.
#   4. wrk    point `id eq '<median id>'` and range (`startedAtUtc` one day, `$select`,
#             `$top=100`) at -t1 -c1 and -t2 -c8: WRK_WARMUP s unrecorded, WRK_DURATION s
#             recorded, p50/p99 from --latency, with Power BI's Accept-Encoding
#   5. count  `$count=true&$top=0` with `conversationEndedReason eq 'Abandoned'`
#             (unindexed) and with the range (indexed): COUNT_RUNS sequential, median
#   6. PostgreSQL (when CCFEED_BENCH_POSTGRES holds an admin URL, e.g.
#             postgres://postgres@127.0.0.1:5432/postgres): creates database
#             ccfeed_bench_N, loads it (ccfeed ingest), full pull (+ RSS, server and
#             backend CPU), wrk point/range, counts, and checks from pg_stat_user_* that
#             the filters use indexes (no seq scan); drops the database at exit.
#   7. report /tmp/peerdata/compare_<stamp>/N/{summary.json,table.txt}: every figure,
#             ccfeed/CAP and ccfeed/limit ratios, targets met or not, and the growth to
#             the previous N of the run (or, for a single N, to the newest earlier
#             summary of another N in /tmp/peerdata/compare_*/).
#
# Installs what it needs when missing: `apt-get install -y wrk sqlite3 bc`, and
# `npm install` of the CAP peer read from $CCFEED_PEERS (default ../shared/peers relative
# to the repository, i.e. /work/shared/peers); without that folder CAP is skipped with a
# note (the data must then already be in /tmp/peerdata/calls_N.sqlite).
# Builds `cargo build --release` and the two bench clients, copies the binaries into the
# run folder (so concurrent rebuilds cannot change them mid-run), and kills every
# server it started at exit. Loopback only; every step is bounded by a timeout.
#
# env: OUT (run folder), WRK_DURATION=10, WRK_WARMUP=3, WRK_ENCODING="gzip, deflate"
#      (empty: none), COUNT_RUNS=15, RAW_RUNS=3, RAW_ORDER=time, PULL_TIMEOUT=1800, SKIP_CAP=1,
#      SKIP_EXTRA_PULLS=1 (no identity/maxpagesize pulls), CCFEED_BENCH_POSTGRES,
#      PG_ONLY=1 (with CCFEED_BENCH_POSTGRES: only the PostgreSQL part),
#      PG_KEEP=1 (keep and reuse database ccfeed_bench_N),
#      AGG_ONLY=1 (only the aggregation figures), SKIP_AGG=1 (none), AGG_RUNS=7,
#      WHATIF_NODELAY=1 (also run the wrk figures against ccfeed with TCP_NODELAY set on
#      accepted sockets by benches/tcp_nodelay_shim.c via LD_PRELOAD: what
#      `HttpServer::tcp_nodelay(true)` would give; reported as "ccfeed+nodelay").
set -euo pipefail
if [[ $# -lt 1 || ! "$1" =~ ^[0-9]+$ ]]; then sed -n '2,45p' "$0"; exit 2; fi
NS=("$@")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PEERS=${CCFEED_PEERS:-$ROOT/../shared/peers}
CAPDIR=$PEERS/cap
DATA=/tmp/peerdata
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RUN=${OUT:-$DATA/compare_$STAMP}
export WRK_DURATION=${WRK_DURATION:-10} WRK_WARMUP=${WRK_WARMUP:-3}
export WRK_ENCODING=${WRK_ENCODING-gzip, deflate}
export PULL_TIMEOUT=${PULL_TIMEOUT:-1800}
COUNT_RUNS=${COUNT_RUNS:-15}
RAW_RUNS=${RAW_RUNS:-3}
# The raw limit reads in the order ccfeed pages an unfiltered pull: the
# (tenant_id, started_at_utc, id) index (`key` gives the primary-key order).
RAW_ORDER=${RAW_ORDER:-time}
PG_ADMIN=${CCFEED_BENCH_POSTGRES:-}
export PG_ADMIN_URL=$PG_ADMIN
TOOL="python3 $HERE/compare_tool.py"
mkdir -p "$RUN" "$DATA"
LOG=$RUN/run.log
exec > >(tee -a "$LOG") 2>&1

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# ------------------------------------------------------------------ cleanup
PIDS=()
PG_DBS=()
ours() {  # PID: still one of the servers this script started (ccfeed or node)?
  [[ -r /proc/$1/cmdline ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qE "$RUN/bin/ccfeed|@sap/cds/bin/serve.js"
}
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do
    if ours "$pid"; then kill "$pid" 2>/dev/null || true; fi
  done
  sleep 0.5
  for pid in "${PIDS[@]}"; do
    if ours "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
  done
  if [[ -n "$PG_ADMIN" && "${PG_KEEP:-0}" != 1 ]]; then
    for db in "${PG_DBS[@]}"; do
      timeout 60 psql -Atq "$PG_ADMIN" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" || true
    done
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop() {  # PID
  local pid=$1 p keep=()
  for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() {  # URL PID
  for _ in $(seq 1 600); do
    kill -0 "$2" 2>/dev/null || return 1
    curl -sf -o /dev/null --max-time 5 "$1" && return 0
    sleep 0.1
  done
  return 1
}

# ------------------------------------------------------------------ tools
need_apt=()
for t in wrk sqlite3 bc curl; do command -v "$t" >/dev/null || need_apt+=("$t"); done
if ((${#need_apt[@]})); then
  say "installing ${need_apt[*]}"
  timeout 600 apt-get install -y "${need_apt[@]}" >/dev/null ||
    { timeout 600 apt-get update >/dev/null && timeout 600 apt-get install -y "${need_apt[@]}" >/dev/null; }
fi
HAVE_CAP=1
if [[ "${SKIP_CAP:-0}" == 1 || "${PG_ONLY:-0}" == 1 ]]; then
  HAVE_CAP=0
elif [[ ! -d "$CAPDIR" ]]; then
  say "NOTE: $CAPDIR is absent: CAP is skipped (set CCFEED_PEERS to the peers folder)"
  HAVE_CAP=0
elif [[ ! -f "$CAPDIR/node_modules/better-sqlite3/build/Release/better_sqlite3.node" || ! -d "$CAPDIR/node_modules/@sap/cds" ]]; then
  say "npm install in $CAPDIR (the CAP peer; about 2 min, better-sqlite3 compiles)"
  (cd "$CAPDIR" && timeout 900 npm install --no-audit --no-fund >/dev/null)
fi
[[ $HAVE_CAP == 1 ]] && say "CAP peer read from $CAPDIR"

say "building: cargo build --release; cargo bench --no-run (full_pull, raw_limit)"
BUILD_NOTE="built from the working tree"
if ! (cd "$ROOT" && timeout 1800 cargo build --release --quiet); then
  # Others edit src/ concurrently: a tree that does not compile right now must not
  # stop the measurement when a binary from an earlier build exists.
  [[ -x "$ROOT/target/release/ccfeed" ]] || { say "build failed and no earlier binary"; exit 1; }
  BUILD_NOTE="BUILD FAILED; using the earlier target/release/ccfeed of $(date -u -r "$ROOT/target/release/ccfeed" '+%Y-%m-%d %H:%M:%S UTC')"
  say "WARNING: $BUILD_NOTE"
fi
EXES=$(cd "$ROOT" && timeout 1800 cargo bench --no-run --bench full_pull --bench raw_limit \
  --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(m["target"]["name"], m["executable"])')
bench_exe() {  # NAME: from cargo's answer, else the newest earlier build
  local e
  e=$(awk -v n="$1" '$1==n{print $2}' <<<"$EXES")
  if [[ -z "$e" ]]; then
    e=$(ls -t "$ROOT"/target/release/deps/"$1"-* 2>/dev/null | grep -v '\.d$' | head -1 || true)
    [[ -n "$e" ]] || { say "cannot build benches/$1.rs"; exit 1; }
    say "WARNING: benches/$1.rs did not build now; using $e"
  fi
  echo "$e"
}
mkdir -p "$RUN/bin"
cp "$ROOT/target/release/ccfeed" "$RUN/bin/ccfeed"
cp "$(bench_exe full_pull)" "$RUN/bin/full_pull"
cp "$(bench_exe raw_limit)" "$RUN/bin/raw_limit"
export BUILD_NOTE
BIN=$RUN/bin/ccfeed
export FULL_PULL_BIN=$RUN/bin/full_pull
export CCFEED_BIN=$BIN
say "binaries in $RUN/bin (ccfeed $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null)$(cd "$ROOT" && git diff --quiet -- src 2>/dev/null || echo ' + uncommitted src changes'))"

# ------------------------------------------------------------------ servers
CC_PID= CC_URL= CAP_PID= CAP_URL=
start_ccfeed() {  # DATABASE [LD_PRELOAD]
  local port
  port=$(free_port)
  LD_PRELOAD=${2:-} CCFEED_LOG=warn "$BIN" serve --demo --database "$1" --listen "127.0.0.1:$port" \
    >>"$RUN/ccfeed_server.log" 2>&1 &
  CC_PID=$!
  PIDS+=("$CC_PID")
  CC_URL="http://127.0.0.1:$port/odata"
  wait_http "$CC_URL/\$metadata" "$CC_PID" || { say "ccfeed did not start"; tail -20 "$RUN/ccfeed_server.log"; exit 1; }
}
start_cap() {  # SRC RELIABLE(0|1)
  local port
  port=$(free_port)
  RELIABLE_PAGING=$2 timeout 300 "$CAPDIR/start_cap.sh" "$1" "$port" | sed 's/^/   /'
  CAP_PID=$(cat "$DATA/cap_$port.pid")
  PIDS+=("$CAP_PID")
  CAP_URL="http://127.0.0.1:$port/odata/v4/feed"
}

# The 22 columns CAP and ccfeed share (CAP's 23 minus tenantId, which ccfeed keeps internal).
CAP_COLS=id,businessUnitId,channelId,channelPhoneNumber,channelType,conversationEndedReason,customerFirstName,customerLastName,customerId,customerPhoneNumber,customerRingDuration,durationInSeconds,startedAtUtc,endedAtUtc,customerJoinedAtUtc,holdCount,holdDurationInSeconds,isConsult,isOutbound,nextConversationId,openingCheckResult,transferInitiatedBy
RANGE="startedAtUtc%20ge%202026-01-01T00:00:00Z%20and%20startedAtUtc%20lt%202026-01-02T00:00:00Z"
UNINDEXED="conversationEndedReason%20eq%20'Abandoned'"
# The aggregation queries of issue #12 (a: per channel; b: per UTC day; c: b for one week).
AGG_RUNS=${AGG_RUNS:-7}
WEEK_FROM=2026-01-05 WEEK_TO=2026-01-12
declare -A AGG_ODATA AGG_KEY AGG_DAYS AGG_SQLITE AGG_PSQL
AGG_ODATA[a]='$apply=groupby((channelId),aggregate($count as n,durationInSeconds with average as avgDuration))'
AGG_ODATA[b]='$apply=compute(date(startedAtUtc) as day)/groupby((day),aggregate($count as n))'
AGG_ODATA[c]="\$apply=filter(startedAtUtc ge ${WEEK_FROM}T00:00:00Z and startedAtUtc lt ${WEEK_TO}T00:00:00Z)/${AGG_ODATA[b]#\$apply=}"
AGG_KEY=([a]=channelId [b]=day [c]=day)
AGG_DAYS=([b]="2025-12-01 2026-03-01" [c]="$WEEK_FROM $WEEK_TO")
AGG_SQLITE[a]="SELECT channel_id, count(*), avg(duration_in_seconds) FROM calls WHERE tenant_id = 'demo' GROUP BY channel_id"
AGG_SQLITE[b]="SELECT substr(started_at_utc, 1, 10), count(*) FROM calls WHERE tenant_id = 'demo' GROUP BY 1"
AGG_SQLITE[c]="SELECT substr(started_at_utc, 1, 10), count(*) FROM calls WHERE tenant_id = 'demo' AND started_at_utc >= '${WEEK_FROM}T00:00:00.000Z' AND started_at_utc < '${WEEK_TO}T00:00:00.000Z' GROUP BY 1"
AGG_PSQL[a]="SELECT channel_id, count(*), avg(duration_in_seconds) FROM calls WHERE tenant_id = 'demo' GROUP BY channel_id"
AGG_PSQL[b]="SELECT to_char(started_at_utc AT TIME ZONE 'UTC', 'YYYY-MM-DD'), count(*) FROM calls WHERE tenant_id = 'demo' GROUP BY 1"
AGG_PSQL[c]="SELECT to_char(started_at_utc AT TIME ZONE 'UTC', 'YYYY-MM-DD'), count(*) FROM calls WHERE tenant_id = 'demo' AND started_at_utc >= '${WEEK_FROM}T00:00:00Z' AND started_at_utc < '${WEEK_TO}T00:00:00Z' GROUP BY 1"

prev_summary=
for N in "${NS[@]}"; do
  D=$RUN/$N
  mkdir -p "$D"
  say "==================== N = $N ===================="
  SRC=$DATA/calls_$N.sqlite
  if [[ ! -f "$SRC" ]]; then
    [[ -f "$CAPDIR/gen_calls.py" ]] || { say "no $SRC and no generator in $CAPDIR"; exit 1; }
    say "generating $SRC"
    timeout 3600 python3 "$CAPDIR/gen_calls.py" "$N"
  fi
  DB=$DATA/ccfeed_$N.db
  if [[ "${PG_ONLY:-0}" != 1 ]]; then
    rows=$(sqlite3 "file:$DB?mode=ro" "SELECT count(*) FROM calls WHERE tenant_id='demo'" 2>/dev/null || echo 0)
    if [[ "$rows" != "$N" || "$SRC" -nt "$DB" ]]; then
      say "loading ccfeed SQLite $DB"
      rm -f "$DB" "$DB-wal" "$DB-shm"
      timeout 3600 "$HERE/load_peer_calls.sh" "$SRC" "$DB"
    fi
  fi
  POINT_ID=$(sqlite3 "file:$SRC?mode=ro" "SELECT id FROM calls ORDER BY id LIMIT 1 OFFSET (SELECT count(*) / 2 FROM calls)")
  POINT="id%20eq%20'$POINT_ID'"
  python3 - "$D/meta.json" "$N" "$POINT_ID" <<'PY'
import json, os, platform, subprocess, sys, time
out, n, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((int(l.split()[1]) // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
load = open("/proc/loadavg").read().split()[:3]
json.dump({"n": n, "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
           "machine": f"{os.cpu_count()} cores {cpu}, {mem} MiB, load {' '.join(load)} at start",
           "point_id": pid, "build": os.environ.get("BUILD_NOTE", ""), "wrk_encoding": os.environ.get("WRK_ENCODING", ""),
           "wrk_duration_s": int(os.environ["WRK_DURATION"]), "wrk_warmup_s": int(os.environ["WRK_WARMUP"])},
          open(out, "w"), indent=1)
PY

  if [[ "${PG_ONLY:-0}" != 1 && "${AGG_ONLY:-0}" != 1 ]]; then
    # -------------------------------------------------------------- raw limit
    say "raw limit (SQLite C API -> same JSON -> counting sink), best of $RAW_RUNS"
    CCFEED_BENCH_DB=$DB CCFEED_BENCH_RUNS=$RAW_RUNS CCFEED_BENCH_ORDER=$RAW_ORDER timeout 1800 "$RUN/bin/raw_limit" | tee "$D/raw_limit.txt"
    grep '^raw_limit_json: ' "$D/raw_limit.txt" | sed 's/^raw_limit_json: //' >"$D/raw_limit.json"

    # -------------------------------------------------------------- full pulls, pair by pair
    pull_ccfeed() {  # NAME QUERY [--env K=V ...]
      local name=$1 q=$2
      shift 2
      start_ccfeed "$DB"
      say "pull $name: $CC_URL/Calls$q"
      $TOOL pull "$name" "$CC_URL/Calls$q" "$CC_PID" "$D/pull_$name.json" "$@"
      stop "$CC_PID"
    }
    pull_cap() {  # NAME QUERY RELIABLE
      [[ $HAVE_CAP == 1 ]] || return 0
      start_cap "$SRC" "$3"
      say "pull $1: $CAP_URL/Calls$2"
      $TOOL pull "$1" "$CAP_URL/Calls$2" "$CAP_PID" "$D/pull_$1.json"
      stop "$CAP_PID"
    }
    pull_ccfeed ccfeed ""
    pull_cap cap "" 0
    pull_cap cap_reliable "" 1
    pull_ccfeed ccfeed_select "?\$select=$CAP_COLS"
    pull_cap cap_select "?\$select=$CAP_COLS" 0
    if [[ "${SKIP_EXTRA_PULLS:-0}" != 1 ]]; then
      pull_ccfeed ccfeed_identity "" --env CCFEED_BENCH_ACCEPT_ENCODING=identity
      pull_ccfeed ccfeed_maxpage "" --env CCFEED_BENCH_PREFER=odata.maxpagesize=50000
      # A WAN user: the client waits 20 ms before each page request (pipelined paging
      # should hide most of it).
      pull_ccfeed ccfeed_rtt20 "" --env CCFEED_BENCH_RTT_MS=20
    fi

    # -------------------------------------------------------------- wrk and counts
    start_ccfeed "$DB"
    if [[ $HAVE_CAP == 1 ]]; then start_cap "$SRC" 0; fi
    for q in point range; do
      if [[ $q == point ]]; then qs="?\$filter=$POINT"; else qs="?\$filter=$RANGE&\$select=id,durationInSeconds&\$top=100"; fi
      for srv in ccfeed cap; do
        [[ $srv == cap && $HAVE_CAP == 0 ]] && continue
        if [[ $srv == ccfeed ]]; then url=$CC_URL/Calls$qs; else url=$CAP_URL/Calls$qs; fi
        printf '   check %s %s: ' "$q" "$srv"; $TOOL check "$url"
      done
      for c in 1 8; do
        t=1; [[ $c == 8 ]] && t=2
        for srv in ccfeed cap; do
          [[ $srv == cap && $HAVE_CAP == 0 ]] && continue
          if [[ $srv == ccfeed ]]; then url=$CC_URL/Calls$qs; pid=$CC_PID; else url=$CAP_URL/Calls$qs; pid=$CAP_PID; fi
          say "wrk $q -t$t -c$c $srv"
          $TOOL wrk "$q c$c $srv" "$url" "$pid" "$t" "$c" "$D/wrk_${q}_c${c}_${srv}.json"
        done
      done
    done
    for q in unindexed indexed; do
      if [[ $q == unindexed ]]; then f=$UNINDEXED; else f=$RANGE; fi
      for srv in ccfeed cap; do
        [[ $srv == cap && $HAVE_CAP == 0 ]] && continue
        if [[ $srv == ccfeed ]]; then base=$CC_URL; else base=$CAP_URL; fi
        say "\$count $q $srv ($COUNT_RUNS sequential)"
        $TOOL count "$q $srv" "$base/Calls?\$count=true&\$top=0&\$filter=$f" "$COUNT_RUNS" "$D/count_${q}_${srv}.json"
      done
    done
    stop "$CC_PID"
    if [[ $HAVE_CAP == 1 ]]; then stop "$CAP_PID"; fi
    if [[ "${WHATIF_NODELAY:-0}" == 1 ]]; then
      cc -shared -fPIC -O2 -o "$RUN/bin/nodelay.so" "$HERE/tcp_nodelay_shim.c" -ldl
      start_ccfeed "$DB" "$RUN/bin/nodelay.so"
      for q in point range; do
        if [[ $q == point ]]; then qs="?\$filter=$POINT"; else qs="?\$filter=$RANGE&\$select=id,durationInSeconds&\$top=100"; fi
        for c in 1 8; do
          t=1; [[ $c == 8 ]] && t=2
          say "wrk $q -t$t -c$c ccfeed with TCP_NODELAY (what-if)"
          $TOOL wrk "$q c$c ccfeed+nodelay" "$CC_URL/Calls$qs" "$CC_PID" "$t" "$c" "$D/wrk_${q}_c${c}_ccfeednodelay.json"
        done
      done
      stop "$CC_PID"
    fi
  fi

  # ---------------------------------------------------------------- aggregation ($apply)
  # ccfeed and CAP answer the same three `$apply` requests on the same rows; the sqlite3
  # shell runs the same GROUP BY on ccfeed's database as the limit. CAP 9 has no
  # `compute`, so for calls per day its figure is what its client must do instead: one
  # filtered `/$count` per day. Every answer's groups are checked against the limit's.
  if [[ "${PG_ONLY:-0}" != 1 && "${SKIP_AGG:-0}" != 1 ]]; then
    start_ccfeed "$DB"
    if [[ $HAVE_CAP == 1 ]]; then start_cap "$SRC" 0; fi
    for q in a b c; do
      say "aggregation $q: ${AGG_ODATA[$q]}"
      $TOOL agg-odata "agg $q ccfeed" "$CC_URL/Calls?${AGG_ODATA[$q]}" "${AGG_KEY[$q]}" "$AGG_RUNS" "$D/agg_${q}_ccfeed.json"
      if [[ $HAVE_CAP == 1 ]]; then
        if [[ $q == a ]]; then
          $TOOL agg-odata "agg $q cap" "$CAP_URL/Calls?${AGG_ODATA[$q]}" "${AGG_KEY[$q]}" "$AGG_RUNS" "$D/agg_${q}_cap.json"
        else
          $TOOL agg-days "agg $q cap (/\$count per day)" "$CAP_URL/Calls" ${AGG_DAYS[$q]} "$AGG_RUNS" "$D/agg_${q}_cap.json"
        fi
      fi
      $TOOL agg-sql "agg $q sqlite3" sqlite "$DB" "${AGG_SQLITE[$q]}" "$AGG_RUNS" "$D/agg_${q}_sqlite3.json"
    done
    stop "$CC_PID"
    if [[ $HAVE_CAP == 1 ]]; then stop "$CAP_PID"; fi
  fi

  # ---------------------------------------------------------------- PostgreSQL
  if [[ -n "$PG_ADMIN" ]]; then
    PGDB=ccfeed_bench_$N
    PGURL=$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/"+sys.argv[2])))' "$PG_ADMIN" "$PGDB")
    PG_DBS+=("$PGDB")
    have=$(timeout 60 psql -Atq "$PGURL" -c "SELECT count(*) FROM calls WHERE tenant_id='demo'" 2>/dev/null || echo 0)
    if [[ "${PG_KEEP:-0}" == 1 && "$have" == "$N" ]]; then
      say "PostgreSQL: reusing $PGDB ($have rows)"
    else
      say "PostgreSQL: creating $PGDB and loading it with ccfeed ingest"
      timeout 120 psql -Atq "$PG_ADMIN" -c "DROP DATABASE IF EXISTS \"$PGDB\" WITH (FORCE)" -c "CREATE DATABASE \"$PGDB\""
      timeout 7200 "$HERE/load_peer_calls.sh" "$SRC" "$PGURL"
    fi
    start_ccfeed "$PGURL"
    stop "$CC_PID"   # the first start ran the migrations; the pull gets a fresh process
    if [[ "${AGG_ONLY:-0}" != 1 ]]; then
    start_ccfeed "$PGURL"
    say "pull ccfeed_pg: $CC_URL/Calls"
    $TOOL pull ccfeed_pg "$CC_URL/Calls" "$CC_PID" "$D/pull_ccfeed_pg.json" --pg-db "$PGDB"
    stop "$CC_PID"
    if [[ "${SKIP_EXTRA_PULLS:-0}" != 1 ]]; then
      start_ccfeed "$PGURL"
      say "pull ccfeed_pg_identity: $CC_URL/Calls (no gzip)"
      $TOOL pull ccfeed_pg_identity "$CC_URL/Calls" "$CC_PID" "$D/pull_ccfeed_pg_identity.json" \
        --env CCFEED_BENCH_ACCEPT_ENCODING=identity --pg-db "$PGDB"
      stop "$CC_PID"
    fi
    start_ccfeed "$PGURL"
    pg_scans() {
      timeout 60 psql -Atq "$PGURL" -c "SELECT pg_stat_force_next_flush()" >/dev/null 2>&1 || true
      timeout 60 psql -Atq "$PGURL" -c "SELECT coalesce(seq_scan,0) || ' ' || coalesce(idx_scan,0) FROM pg_stat_user_tables WHERE relname = 'calls'"
    }
    sleep 2.5; read -r seq0 idx0 < <(pg_scans)
    for q in point range; do
      if [[ $q == point ]]; then qs="?\$filter=$POINT"; else qs="?\$filter=$RANGE&\$select=id,durationInSeconds&\$top=100"; fi
      printf '   check %s pg: ' "$q"; $TOOL check "$CC_URL/Calls$qs"
      for c in 1 8; do
        t=1; [[ $c == 8 ]] && t=2
        say "wrk $q -t$t -c$c pg"
        $TOOL wrk "$q c$c pg" "$CC_URL/Calls$qs" "$CC_PID" "$t" "$c" "$D/wrk_${q}_c${c}_pg.json"
      done
    done
    sleep 2.5; read -r seq1 idx1 < <(pg_scans)
    printf '{"seq_scans": %d, "idx_scans": %d, "note": "pg_stat_user_tables deltas on calls over the point and range wrk runs (warm-ups included)"}\n' \
      $((seq1 - seq0)) $((idx1 - idx0)) >"$D/pg_index_check.json"
    say "PostgreSQL index check: $(cat "$D/pg_index_check.json")"
    timeout 60 psql -Atq "$PGURL" -c "SELECT indexrelname || ' ' || idx_scan FROM pg_stat_user_indexes WHERE relname = 'calls'" | sed 's/^/   /'
    for q in unindexed indexed; do
      if [[ $q == unindexed ]]; then f=$UNINDEXED; else f=$RANGE; fi
      say "\$count $q pg"
      $TOOL count "$q pg" "$CC_URL/Calls?\$count=true&\$top=0&\$filter=$f" "$COUNT_RUNS" "$D/count_${q}_pg.json"
    done
    stop "$CC_PID"
    fi
    if [[ "${SKIP_AGG:-0}" != 1 ]]; then
      start_ccfeed "$PGURL"
      timeout 600 psql -Atq "$PGURL" -c "VACUUM ANALYZE calls" >/dev/null
      for q in a b c; do
        say "aggregation $q on PostgreSQL"
        $TOOL agg-odata "agg $q ccfeed pg" "$CC_URL/Calls?${AGG_ODATA[$q]}" "${AGG_KEY[$q]}" "$AGG_RUNS" "$D/agg_${q}_pg.json"
        $TOOL agg-sql "agg $q psql" psql "$PGURL" "${AGG_PSQL[$q]}" "$AGG_RUNS" "$D/agg_${q}_psql.json"
      done
      stop "$CC_PID"
    fi
  fi

  # ---------------------------------------------------------------- report
  other=$prev_summary
  if [[ -z "$other" ]]; then
    other=$(ls -t "$DATA"/compare_*/*/summary.json 2>/dev/null |
      while read -r f; do n=$(basename "$(dirname "$f")"); [[ "$n" != "$N" ]] && { echo "$f"; break; }; done || true)
  fi
  say "report for N = $N${other:+ (growth against $other)}"
  $TOOL report "$D" ${other:+"$other"}
  prev_summary=$D/summary.json
done
say "done: $RUN"
