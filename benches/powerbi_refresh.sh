#!/usr/bin/env bash
# A Power BI refresh of every table of a database: starts a release server on it
# (serve --demo: the demo tenant without credentials), runs the powerbi_refresh client
# (Power Query's headers and requests: service document, $metadata, a $top=1000 preview
# and every nextLink of each table, every page parsed) and prints per set and in total:
# time, rows, rows/s, wire MB, JSON MB, server CPU s and server peak RSS (VmHWM).
#
# usage: benches/powerbi_refresh.sh DB [client options]
#        benches/powerbi_refresh.sh --ab BIN_A BIN_B [--rounds R] DB [client options]
#   DB                SQLite file with demo data (ccfeed demo --database DB --calls N)
#   client options    --omit-nulls          send Prefer: omit-values=nulls (checks it is acknowledged)
#                     --rtt-ms N            sleep N ms before each request (a WAN round trip)
#                     --parallel N          tables refreshed at once (default 1; Power BI does a few)
#                     --sets A,B            only these entity sets
#                     --no-preview          no $top=1000 navigator preview before each load
#   --ab A B          two server binaries on the same DB, alternating A B A B ... (R rounds,
#                     default 3), then the median of each figure per build and B/A
# env: CCFEED_BIN (single mode; default target/release/ccfeed of this checkout),
#      POWERBI_REFRESH_BIN (the client; default the newest target/release/deps/powerbi_refresh-*,
#      built by `cargo bench --no-run --bench powerbi_refresh`), OUT (run folder for the JSON,
#      default /tmp/pbi/refresh_<stamp>)
# Example: benches/powerbi_refresh.sh /tmp/pbi/demo_calls_1000000.db --parallel 3
# The server runs its startup jobs (lookup refresh, retention purge) before the client starts.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then sed -n '2,24p' "$0"; exit 2; fi

AB=0 ROUNDS=3 A= B=
if [[ $1 == --ab ]]; then
  [[ $# -ge 4 ]] || { sed -n '2,24p' "$0"; exit 2; }
  AB=1 A=$2 B=$3; shift 3
  if [[ $1 == --rounds ]]; then ROUNDS=$2; shift 2; fi
fi
DB=$1; shift
[[ -f $DB ]] || { echo "no database $DB" >&2; exit 1; }
CLIENT=${POWERBI_REFRESH_BIN:-$(ls -t "$ROOT"/target/release/deps/powerbi_refresh-* 2>/dev/null | grep -v '\.d$' | head -n1 || true)}
[[ -x $CLIENT ]] || { echo "no client: cargo bench --no-run --bench powerbi_refresh" >&2; exit 1; }
OUT=${OUT:-/tmp/pbi/refresh_$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
PID=
trap '[[ -n $PID ]] && kill "$PID" 2>/dev/null || true' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

refresh() {  # BIN JSON_OUT [client options]: one server, one refresh
  local bin=$1 json=$2 port url; shift 2
  port=$(free_port)
  CCFEED_LOG=warn "$bin" serve --demo --database "$DB" --listen "127.0.0.1:$port" >>"$OUT/server.log" 2>&1 &
  PID=$!
  url="http://127.0.0.1:$port/odata/"
  for _ in $(seq 300); do curl -sf -o /dev/null "$url\$metadata" && break; sleep 0.2; done
  sleep 2  # let the startup jobs finish
  "$CLIENT" --url "$url" --server-pid "$PID" "$@" | tee "$json.txt"
  grep '^powerbi_refresh_json: ' "$json.txt" | sed 's/^powerbi_refresh_json: //' >"$json"
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
}

echo "$(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg) db: $DB options: $*" | tee "$OUT/run.txt"
if [[ $AB == 0 ]]; then
  BIN=${CCFEED_BIN:-$ROOT/target/release/ccfeed}
  [[ -x $BIN ]] || { echo "no server binary $BIN: cargo build --release" >&2; exit 1; }
  refresh "$BIN" "$OUT/refresh.json" "$@"
  exit 0
fi

for round in $(seq "$ROUNDS"); do
  for side in A B; do
    bin=$A; [[ $side == B ]] && bin=$B
    echo "== round $round $side ($bin)"
    refresh "$bin" "$OUT/${side}_$round.json" "$@" | tail -n 3 | sed -n 1p  # sed reads to the end: no SIGPIPE under pipefail
  done
done
echo "$(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/run.txt"
python3 - "$OUT" <<'PY'
import glob, json, statistics, sys
out = sys.argv[1]
def med(side, key):
    vals = [json.load(open(f))[key] for f in sorted(glob.glob(f"{out}/{side}_*.json"))]
    vals = [v for v in vals if v is not None]
    return (statistics.median(vals) if vals else float("nan")), vals
print(f"\nmedians ({out}):")
print("| figure | A | B | B/A | A runs | B runs |\n| --- | --- | --- | --- | --- | --- |")
for label, key, scale in [("refresh s", "secs", 1), ("rows/s", "rows_per_s", 1),
                          ("wire MB", "wire_bytes", 1e-6), ("JSON MB", "json_bytes", 1e-6),
                          ("server CPU s", "server_cpu_s", 1), ("server peak RSS MiB", "server_hwm_mib", 1)]:
    (a, av), (b, bv) = med("A", key), med("B", key)
    fmt = lambda vs: " / ".join(f"{v * scale:,.1f}" for v in vs)
    print(f"| {label} | {a * scale:,.1f} | {b * scale:,.1f} | {b / a:.3f} | {fmt(av)} | {fmt(bv)} |")
rows = {json.load(open(f))["rows"] for f in glob.glob(f"{out}/[AB]_*.json")}
print(f"rows per refresh: {sorted(rows)}")
PY
