#!/usr/bin/env bash
# Retention purge under load (SQLite): how fast the purge deletes, and what it does
# to the read latency of a paged feed query served at the same time.
#
#   benches/purge.sh [N]        # N expired Calls rows, default 10,000,000
#
# What it does:
#   1. builds `ccfeed` in release mode;
#   2. creates a SQLite database with the CLI (`ccfeed tenant create bench`, retention
#      395 days) plus an admin and a read key (`ccfeed key create --json`);
#   3. fills `calls` (29 columns, the widest-used statistical table) with sqlite3 and a
#      recursive CTE, all values computed in SQL: N rows started 2020-01-01 + i s
#      (expired) and FRESH (default 100,000) rows started in the last two days;
#   4. starts `ccfeed serve` on a free loopback port (config: jobs = false, so the
#      scheduler does not purge on its own at start-up);
#   5. "without": a small keep-alive HTTP client (Python, written below; C concurrent
#      connections, default 1: one client paging like a Power BI refresh) reads
#        GET /odata/Calls?$top=100&$filter=startedAtUtc gt <two days ago>
#      with the read key for WINDOW seconds (default 20) and reports p50/p90/p99;
#   6. "during": starts the purge (default: `POST /admin/purge`, i.e. purge::run with
#      chunks of 5,000 rows, each its own statement) and runs the same client for
#      exactly as long as the purge runs; prints the purge's rows/s and the latencies;
#   7. checks that every expired row is gone and every fresh one is left, stops the
#      server and deletes the work directory (CCFEED_BENCH_KEEP=1 keeps it).
#
# PURGE_VIA=cli runs `ccfeed purge --tenant bench --database FILE` instead of the
# admin endpoint. At the time of writing that command cannot delete (it keeps its
# only pooled connection while purge::run asks for another and fails after 15 s with
# "no database connection available"; see tests/jobs.rs), hence the default. Both
# paths call the same jobs::purge::run with the same chunk size.
#
# Purge throughput is measured while the readers run (the realistic case); the two
# cores of this machine are shared by the server, the purge and the client.
# Needs: cargo, sqlite3, curl, python3; about 0.5 GB of disk per million rows.
#
# Environment: CCFEED_BENCH_FRESH (fresh rows), CCFEED_BENCH_WINDOW (seconds of the
# baseline window), CCFEED_BENCH_CONNECTIONS (client connections), PURGE_VIA,
# CCFEED_BENCH_KEEP, TMPDIR (where the database goes).
set -euo pipefail

N="${1:-${CCFEED_BENCH_ROWS:-10000000}}"
FRESH="${CCFEED_BENCH_FRESH:-100000}"
WINDOW="${CCFEED_BENCH_WINDOW:-20}"
CONNS="${CCFEED_BENCH_CONNECTIONS:-1}"
PURGE_VIA="${PURGE_VIA:-admin}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/target/release/ccfeed"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ccfeed-purge-bench.XXXXXX")"
DB="$WORK/purge.db"
SERVER_PID=""
export CCFEED_LOG=error

cleanup() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ "${CCFEED_BENCH_KEEP:-}" == "1" ]]; then
        echo "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

for tool in cargo sqlite3 curl python3; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
json_field() { python3 -c "import json, sys; d = json.load(sys.stdin); print(eval('d' + sys.argv[1]))" "$1"; }

echo "== building ccfeed (release)"
(cd "$ROOT" && cargo build --release --quiet --bin ccfeed)

echo "== database: $N expired + $FRESH fresh Calls in $DB"
"$BIN" tenant create bench --time-zone UTC --retention-days 395 --database "$DB" --json >/dev/null
ADMIN_KEY=$("$BIN" key create --tenant bench --role admin --database "$DB" --json | json_field "['key']")
READ_KEY=$("$BIN" key create --tenant bench --role read --database "$DB" --json | json_field "['key']")

# Rows of calls: ids '<prefix>-%010d', started <start> + i seconds; every column set
# the way the demo data would (nulls where the model allows, now and then).
insert_calls() { # prefix start count
    local prefix="$1" start="$2" count="$3"
    cat <<SQL
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $count - 1),
r AS (SELECT i, strftime('%Y-%m-%dT%H:%M:%S', '$start', '+' || i || ' seconds') AS s,
             strftime('%Y-%m-%dT%H:%M:%S', '$start', '+' || (i + 30 + i % 600) || ' seconds') AS e
      FROM n)
INSERT INTO calls (tenant_id, id, business_unit_id, channel_id, channel_phone_number,
    channel_type, conversation_ended_reason, customer_first_name, customer_id,
    customer_last_name, customer_phone_number, customer_joined_at_utc, customer_joined_at,
    customer_ring_duration, duration_in_seconds, started_at_utc, started_at, ended_at_utc,
    ended_at, hold_count, hold_duration_in_seconds, is_channel_closed, is_channel_open,
    is_consult, is_outbound, next_conversation_id, opening_check_result,
    transfer_initiated_by, transfer_to_external_destination_phone_number)
SELECT 'bench', printf('$prefix-%010d', i), 'bu-' || (i % 7), 'channel-' || (i % 40),
    '+3612' || printf('%07d', i % 9999991), 'Voice',
    CASE i % 4 WHEN 0 THEN 'Abandoned' WHEN 1 THEN 'CustomerDisconnected' ELSE NULL END,
    'First' || (i % 997), 'customer-' || (i % 250000), 'Last' || (i % 991),
    '+3630' || printf('%07d', i % 9999973), s || '.000Z', s || '.000+00:00',
    i % 40, 30 + i % 600, s || '.000Z', s || '.000+00:00', e || '.000Z', e || '.000+00:00',
    i % 3, (i % 3) * 17, i % 2, 1 - i % 2, CASE WHEN i % 50 = 0 THEN 1 ELSE 0 END, i % 2,
    CASE WHEN i % 20 = 0 THEN printf('$prefix-%010d', i + 1) END,
    CASE i % 3 WHEN 0 THEN 'Open' WHEN 1 THEN 'Closed' ELSE 'Holiday' END,
    CASE WHEN i % 20 = 0 THEN 'agent' END, NULL
FROM r;
SQL
}
FRESH_FROM=$(date -u -d '2 days ago' '+%Y-%m-%d %H:%M:%S')
FILTER_FROM=$(date -u -d "$FRESH_FROM UTC 1 second ago" '+%Y-%m-%dT%H:%M:%SZ')
t0=$(now)
{
    echo "PRAGMA synchronous = OFF; PRAGMA cache_size = -1000000; PRAGMA temp_store = MEMORY;"
    echo "BEGIN;"
    insert_calls old "2020-01-01 00:00:00" "$N"
    insert_calls fresh "$FRESH_FROM" "$FRESH"
    echo "COMMIT;"
    echo "PRAGMA wal_checkpoint(TRUNCATE);"
} | sqlite3 "$DB" >/dev/null
t1=$(now)
echo "   filled in $(secs "$t0" "$t1") s; file $(du -h "$DB" | cut -f1)"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$WORK/bench.toml" <<TOML
jobs = false
pool_size = 8
TOML
"$BIN" serve --database "$DB" --listen "127.0.0.1:$PORT" --config "$WORK/bench.toml" \
    >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
    curl -sf -o /dev/null -H "Authorization: Bearer $READ_KEY" "$BASE/odata/" && break
    sleep 0.1
done
QUERY="/odata/Calls?\$top=100&\$filter=startedAtUtc%20gt%20$FILTER_FROM"
status=$(curl -s -o "$WORK/page.json" -w '%{http_code}' -H "Authorization: Bearer $READ_KEY" "$BASE$QUERY")
[[ "$status" == 200 ]] || { echo "query failed: $status $(cat "$WORK/page.json")" >&2; exit 1; }
[[ $(json_field "['value'].__len__()" <"$WORK/page.json") == 100 ]] || { echo "expected 100 rows" >&2; exit 1; }

# The read client: C keep-alive connections in threads; stops after SECONDS or, with
# a file name, when that file exists. Prints one JSON line.
cat >"$WORK/load.py" <<'PY'
import http.client, json, os, sys, threading, time
port, path, key, conns, until = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
stop = threading.Event()
lock = threading.Lock()
lat, errors = [], [0]
def worker():
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=120)
    while not stop.is_set():
        t = time.perf_counter()
        c.request("GET", path, headers={"Authorization": "Bearer " + key})
        r = c.getresponse()
        r.read()
        dt = (time.perf_counter() - t) * 1000
        with lock:
            lat.append(dt)
            if r.status != 200:
                errors[0] += 1
threads = [threading.Thread(target=worker) for _ in range(conns)]
start = time.perf_counter()
for t in threads:
    t.start()
if until.replace(".", "").isdigit():
    time.sleep(float(until))
else:
    while not os.path.exists(until):
        time.sleep(0.02)
stop.set()
for t in threads:
    t.join()
took = time.perf_counter() - start
lat.sort()
pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))] if lat else float("nan")
print(json.dumps({"requests": len(lat), "errors": errors[0], "seconds": round(took, 2),
                  "rps": round(len(lat) / took, 1), "p50": round(pct(50), 2),
                  "p90": round(pct(90), 2), "p99": round(pct(99), 2),
                  "max": round(lat[-1], 2) if lat else None}))
PY
load() { python3 "$WORK/load.py" "$PORT" "$QUERY" "$READ_KEY" "$CONNS" "$1"; }

echo "== warm-up (3 s)"
load 3 >/dev/null
echo "== reads without a purge ($WINDOW s, $CONNS connections)"
WITHOUT=$(load "$WINDOW")
echo "   $WITHOUT"

echo "== purge ($PURGE_VIA) with reads during it"
DONE="$WORK/purge.done"
(
    s=$(now)
    if [[ "$PURGE_VIA" == cli ]]; then
        "$BIN" purge --tenant bench --database "$DB" --json >"$WORK/purge.json" 2>"$WORK/purge.err" || true
    else
        curl -s -X POST -H "Authorization: Bearer $ADMIN_KEY" "$BASE/admin/purge" >"$WORK/purge.json" || true
    fi
    e=$(now)
    echo "$s $e" >"$WORK/purge.time"
    touch "$DONE"
) &
PURGE_PID=$!
DURING=$(load "$DONE")
wait "$PURGE_PID"
read -r ps pe <"$WORK/purge.time"
if [[ "$PURGE_VIA" == cli ]]; then
    DELETED=$(json_field "['purges'][0]['rows'].get('Calls', 0)" <"$WORK/purge.json" 2>/dev/null || echo 0)
else
    DELETED=$(json_field "['rows'].get('Calls', 0)" <"$WORK/purge.json" 2>/dev/null || echo 0)
fi
PURGE_S=$(secs "$ps" "$pe")
echo "   purge: deleted $DELETED rows in $PURGE_S s = $(python3 -c "print(round($DELETED / $PURGE_S))") rows/s"
echo "   $DURING"
[[ "$DELETED" == "$N" ]] || {
    echo "the purge deleted $DELETED rows, expected $N: $(cat "$WORK/purge.json" "$WORK/purge.err" 2>/dev/null)" >&2
    exit 1
}

left=$(sqlite3 "$DB" "SELECT COUNT(*) FROM calls WHERE tenant_id = 'bench' AND started_at_utc < '2021'")
fresh=$(sqlite3 "$DB" "SELECT COUNT(*) FROM calls WHERE tenant_id = 'bench' AND started_at_utc >= '2021'")
[[ "$left" == 0 && "$fresh" == "$FRESH" ]] || { echo "after the purge: $left expired, $fresh fresh" >&2; exit 1; }

python3 - "$N" "$PURGE_S" "$WITHOUT" "$DURING" <<'PY'
import json, sys
n, s, without, during = int(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
print(f"\nSUMMARY  {n:,} expired Calls rows, purge {s:.1f} s = {n / s:,.0f} rows/s")
print(f"{'':18}{'requests':>9}{'errors':>7}{'req/s':>8}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}{'max ms':>8}")
for name, r in (("without purge", without), ("during purge", during)):
    print(f"{name:18}{r['requests']:>9}{r['errors']:>7}{r['rps']:>8}{r['p50']:>8}{r['p90']:>8}{r['p99']:>8}{r['max']:>8}")
PY
