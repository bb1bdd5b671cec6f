#!/usr/bin/env bash
# Import throughput: conversations per second `ccfeed import` maps and writes.
#
#   benches/import.sh [N]        # N conversations per format, default 20,000
#   CCFEED_BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres benches/import.sh
#
# For each format (genesys, koreai) and backend (SQLite always; PostgreSQL when
# CCFEED_BENCH_POSTGRES holds an admin URL, in a database it creates and drops):
#   1. generates one export document of N conversations with benches/gen_exports.py
#      (deterministic; the shapes of the vendors' public examples);
#   2. creates a fresh database and tenant with the CLI;
#   3. times `ccfeed import <format> --tenant bench FILE` (one transaction), then the
#      same file again (the overlap case: every row is already there and nothing
#      changes), and prints conversations/s and rows/s for both.
#
# Needs: cargo, python3; psql for PostgreSQL. CCFEED_BENCH_KEEP=1 keeps the temporary
# directory. CCFEED_BENCH_BIN=path runs that binary instead of building one (for an A/B
# of two builds).
set -euo pipefail

N="${1:-20000}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${CCFEED_BENCH_BIN:-$ROOT/target/release/ccfeed}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ccfeed-import-bench.XXXXXX")"
PG_DBS=()

cleanup() {
    for db in "${PG_DBS[@]}"; do
        psql -q "$CCFEED_BENCH_POSTGRES" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
    if [[ "${CCFEED_BENCH_KEEP:-}" == "1" ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [[ -z "${CCFEED_BENCH_BIN:-}" ]]; then
    echo "== building ccfeed (release)"
    (cd "$ROOT" && cargo build --release --quiet --bin ccfeed)
fi

RESULTS=()
# run_one FORMAT BACKEND DATABASE
run_one() {
    local format="$1" backend="$2" database="$3" file="$WORK/$1.json"
    "$BIN" tenant create "Bench" --time-zone Europe/Budapest --database "$database" --json >/dev/null
    local args=(import "$format" --tenant bench --database "$database")
    [[ "$format" == koreai ]] && args+=(--time-zone-offset 330)
    for pass in first again; do
        local start end out
        start=$(date +%s.%N)
        out=$("$BIN" "${args[@]}" "$file" 2>&1) || { echo "$out" >&2; exit 1; }
        end=$(date +%s.%N)
        local rows
        rows=$(echo "$out" | grep -o '[A-Za-z]* [0-9]* (' | awk '{ s += $2 } END { print s + 0 }')
        echo "   $format/$backend ($pass): $out"
        awk -v l="$format/$backend/$pass" -v n="$N" -v r="$rows" -v s="$start" -v e="$end" \
            'BEGIN { t = e - s; printf "   %-24s %7.2f s  %8.0f conversations/s  %9.0f rows/s\n", l, t, n / t, r / t }'
        RESULTS+=("$(awk -v l="$format/$backend/$pass" -v n="$N" -v r="$rows" -v s="$start" -v e="$end" \
            'BEGIN { t = e - s; printf "%-24s %7.2f s  %8.0f conversations/s  %9.0f rows/s", l, t, n / t, r / t }')")
    done
}

for format in genesys koreai; do
    echo "== generating $N $format conversations"
    python3 "$ROOT/benches/gen_exports.py" "$format" "$N" "$WORK/$format.json"
    echo "   $(( $(wc -c < "$WORK/$format.json") / 1024 / 1024 )) MiB"
    run_one "$format" sqlite "$WORK/$format.db"
    if [[ -n "${CCFEED_BENCH_POSTGRES:-}" ]]; then
        db="ccfeed_import_bench_${format}_$$"
        PG_DBS+=("$db")
        psql -q "$CCFEED_BENCH_POSTGRES" -c "CREATE DATABASE \"$db\"" >/dev/null
        run_one "$format" postgres "${CCFEED_BENCH_POSTGRES%/*}/$db"
    fi
done
[[ -n "${CCFEED_BENCH_POSTGRES:-}" ]] || echo "== postgres: skipped (set CCFEED_BENCH_POSTGRES to an admin URL to run it)"

echo "== summary (N=$N conversations per format, one file, one transaction each)"
for r in "${RESULTS[@]}"; do echo "   $r"; done
