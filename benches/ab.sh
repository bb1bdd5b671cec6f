#!/usr/bin/env bash
# Two ccfeed builds on the same rows in the same minutes: the full pull (gzip, every
# nextLink) and wrk point / range at -t2 -c8, alternating A B B A A B ... so drift of a
# shared machine hits both alike.
#
# usage: benches/ab.sh BIN_A BIN_B [N] [ROUNDS]
#   BIN_A, BIN_B  ccfeed release binaries (e.g. a worktree of the base commit and this one)
#   N             rows (default 1000000): /tmp/peerdata/ccfeed_N.db as benches/compare.sh
#                 loads it (run compare.sh N once, or gen_calls.py + load_peer_calls.sh)
#   ROUNDS        default 3
# env: FULL_PULL_BIN (default: the newest target/release/deps/full_pull-*), WRK_DURATION=10,
#      WRK_WARMUP=3, OUT (run folder, default /tmp/peerdata/ab_<stamp>),
#      PULL_ONLY=1 (no wrk), PULL_ENV="K=V ..." (for the pull client, e.g.
#      CCFEED_BENCH_RTT_MS=20 for a simulated round trip before each page),
#      PG_URL=postgres://.../ccfeed_bench_N (serve that PostgreSQL database, loaded as
#      benches/compare.sh loads it, instead of the SQLite file; each round also times the
#      bare `COPY (the pull's SELECT, unpaged) TO STDOUT` text with psql into /dev/null,
#      reported as "copy" rows/s, and the pull gets the backends' CPU)
# Prints one line per run and a median per build and figure; the JSON of every run stays in OUT.
set -euo pipefail
if [[ $# -lt 2 ]]; then sed -n '2,14p' "$0"; exit 2; fi
A=$1 B=$2 N=${3:-1000000} ROUNDS=${4:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
DB=/tmp/peerdata/ccfeed_$N.db
SRC=/tmp/peerdata/calls_$N.sqlite
[[ -f $DB && -f $SRC ]] || { echo "no $DB or $SRC: run benches/compare.sh $N first" >&2; exit 1; }
PG_URL=${PG_URL:-}
TARGET=$DB PG_ARGS=()
if [[ -n $PG_URL ]]; then
  TARGET=$PG_URL PG_ARGS=(--pg-db "${PG_URL##*/}")
  # compare_tool.py lists that database's backends (for their CPU) through this URL.
  export PG_ADMIN_URL=${PG_ADMIN_URL:-$PG_URL}
  # What the pull reads, in its order, without paging: every column of calls but
  # the tenant.
  COLS=$(psql -Atq "$PG_URL" -c "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)
    FROM information_schema.columns WHERE table_name = 'calls' AND column_name <> 'tenant_id'")
  COPY_SELECT="SELECT $COLS FROM calls WHERE tenant_id = 'demo' ORDER BY started_at_utc, id"
fi
OUT=${OUT:-/tmp/peerdata/ab_$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
export FULL_PULL_BIN=${FULL_PULL_BIN:-$(ls -t "$ROOT"/target/release/deps/full_pull-* 2>/dev/null | grep -v '\.d$' | head -n1)}
[[ -x $FULL_PULL_BIN ]] || { echo "no full_pull client: cargo bench --no-run --bench full_pull" >&2; exit 1; }
export WRK_DURATION=${WRK_DURATION:-10} WRK_WARMUP=${WRK_WARMUP:-3}
TOOL="python3 $HERE/compare_tool.py"
POINT_ID=$(sqlite3 "file:$SRC?mode=ro" "SELECT id FROM calls ORDER BY id LIMIT 1 OFFSET (SELECT count(*) / 2 FROM calls)")
POINT="?\$filter=id%20eq%20'$POINT_ID'"
RANGE="?\$filter=startedAtUtc%20ge%202026-01-01T00:00:00Z%20and%20startedAtUtc%20lt%202026-01-02T00:00:00Z&\$select=id,durationInSeconds&\$top=100"
PID=
trap '[[ -n $PID ]] && kill "$PID" 2>/dev/null || true' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run() {  # LABEL BIN ROUND
  local port url
  port=$(free_port)
  CCFEED_LOG=warn "$2" serve --demo --database "$TARGET" --listen "127.0.0.1:$port" >>"$OUT/server.log" 2>&1 &
  PID=$!
  url="http://127.0.0.1:$port/odata"
  for _ in $(seq 100); do curl -sf -o /dev/null "$url/\$metadata" && break; sleep 0.2; done
  local envs=()
  for kv in ${PULL_ENV:-}; do envs+=(--env "$kv"); done
  $TOOL pull "$1" "$url/Calls" "$PID" "$OUT/pull_$1_$3.json" "${envs[@]}" "${PG_ARGS[@]}" >/dev/null
  if [[ "${PULL_ONLY:-0}" != 1 ]]; then
    $TOOL wrk "$1 point" "$url/Calls$POINT" "$PID" 2 8 "$OUT/point_$1_$3.json" | sed 's/^ *//'
    $TOOL wrk "$1 range" "$url/Calls$RANGE" "$PID" 2 8 "$OUT/range_$1_$3.json" | sed 's/^ *//'
  fi
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f'$1 pull: {r[\"rows_per_s\"]:.0f} rows/s, server CPU {r[\"server_cpu_s\"]:.2f} s, peak RSS {r[\"server_hwm_mib\"]:.1f} MiB')" "$OUT/pull_$1_$3.json"
}

copy() {  # ROUND
  local t0 t1
  t0=$(date +%s.%N)
  psql -Atq "$PG_URL" -c "\\copy ($COPY_SELECT) TO '/dev/null'"
  t1=$(date +%s.%N)
  python3 -c "import json,sys; s=float(sys.argv[2])-float(sys.argv[1]); json.dump({'seconds': s, 'rows_per_s': int(sys.argv[3])/s}, open(sys.argv[4],'w')); print(f'copy: {int(sys.argv[3])/s:.0f} rows/s ({s:.2f} s)')" "$t0" "$t1" "$N" "$OUT/copy_C_$1.json"
}

for round in $(seq "$ROUNDS"); do
  echo "== round $round"
  if [[ -n $PG_URL ]]; then copy "$round"; fi
  # A B, then B A: a machine that slows down (or speeds up) within a round hits
  # both builds alike.
  if (( round % 2 )); then
    run A "$A" "$round"; run B "$B" "$round"
  else
    run B "$B" "$round"; run A "$A" "$round"
  fi
done

python3 - "$OUT" <<'PY'
import glob, json, statistics, sys
out = sys.argv[1]
def med(pattern, key):
    vals = [json.load(open(f))[key] for f in glob.glob(f"{out}/{pattern}")]
    return statistics.median(vals) if vals else float("nan")
print(f"\nmedians ({out}):")
print("| figure | A | B | B/A |\n| --- | --- | --- | --- |")
copy = med("copy_C_*.json", "rows_per_s")
if copy == copy:
    print(f"bare COPY text: {copy:,.0f} rows/s; pull / COPY: A {med('pull_A_*.json', 'rows_per_s') / copy:.3f}, B {med('pull_B_*.json', 'rows_per_s') / copy:.3f}")
for label, pattern, key in [("full pull rows/s", "pull_{}_*.json", "rows_per_s"),
                            ("pull server CPU s", "pull_{}_*.json", "server_cpu_s"),
                            ("pull server peak RSS MiB", "pull_{}_*.json", "server_hwm_mib"),
                            ("point req/s, 8 conns", "point_{}_*.json", "req_per_s"),
                            ("point p99 ms", "point_{}_*.json", "p99_ms"),
                            ("range req/s, 8 conns", "range_{}_*.json", "req_per_s"),
                            ("range p99 ms", "range_{}_*.json", "p99_ms")]:
    a, b = med(pattern.format("A"), key), med(pattern.format("B"), key)
    if a != a and b != b:  # not measured in this run (PULL_ONLY=1)
        continue
    print(f"| {label} | {a:,.1f} | {b:,.1f} | {b / a:.3f} |")
PY
