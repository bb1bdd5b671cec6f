#!/usr/bin/env bash
# Ingest throughput: how many Calls rows per second `POST /ingest/Calls` writes.
#
#   benches/ingest.sh [N]                  # N rows, default 1,000,000
#   CCFEED_BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres benches/ingest.sh
#
# What it does, per backend (SQLite always; PostgreSQL when CCFEED_BENCH_POSTGRES holds
# an admin URL, in a database it creates and drops):
#   1. builds `ccfeed` in release mode (once);
#   2. generates N deterministic Calls records as one NDJSON file (awk; every row has a
#      unique id and ~16 properties, timestamps spread over February 2026);
#   3. creates a fresh database, a tenant (Europe/Budapest) and an ingest key with the
#      CLI (`ccfeed tenant create`, `ccfeed key create --json`);
#   4. starts `ccfeed serve` on a free loopback port and POSTs the file in ONE request
#      with curl (`--data-binary @file`): one transaction of N upserts, plus N derived
#      Conversations rows;
#   5. checks the response says N inserted, prints wall time and rows/s (the time
#      includes the upload over loopback; the file is read into curl's memory first,
#      outside the timing), stops the server, and removes everything it made.
#
# Needs: cargo, curl, awk; psql for PostgreSQL. Warns when one backend takes longer than
# five minutes (then run it again with a smaller N). Set CCFEED_BENCH_KEEP=1 to keep the
# temporary directory (data file, databases, server logs). CCFEED_BENCH_BIN=path runs that
# binary instead of building one (for an A/B of two builds).
set -euo pipefail

N="${1:-${CCFEED_BENCH_ROWS:-1000000}}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${CCFEED_BENCH_BIN:-$ROOT/target/release/ccfeed}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ccfeed-ingest-bench.XXXXXX")"
SERVER_PID=""
PG_DB=""

cleanup() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n "$PG_DB" ]]; then
        psql -q "$CCFEED_BENCH_POSTGRES" -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    if [[ "${CCFEED_BENCH_KEEP:-}" == "1" ]]; then
        echo "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

if [[ -z "${CCFEED_BENCH_BIN:-}" ]]; then
    echo "== building ccfeed (release)"
    (cd "$ROOT" && cargo build --release --quiet --bin ccfeed)
fi

DATA="$WORK/calls.ndjson"
echo "== generating $N Calls rows"
awk -v n="$N" 'BEGIN {
    for (i = 0; i < n; i++) {
        s = (i * 2) % (28 * 86400);
        d = 1 + int(s / 86400); h = int(s / 3600) % 24; m = int(s / 60) % 60; sec = s % 60;
        dur = 30 + (i * 7919) % 900;
        e = s + dur;
        ed = 1 + int(e / 86400); eh = int(e / 3600) % 24; em = int(e / 60) % 60; es = e % 60;
        if (ed > 28) { ed = 28; eh = 23; em = 59; es = 59 }
        printf "{\"id\":\"call-%08d\",\"businessUnitId\":\"bu-%d\",\"channelId\":\"channel-%02d\",\"channelType\":\"Voice\",\"conversationEndedReason\":\"Default\",\"customerFirstName\":\"Customer\",\"customerId\":\"cust-%06d\",\"customerPhoneNumber\":\"+3630%07d\",\"durationInSeconds\":%d,\"startedAtUtc\":\"2026-02-%02dT%02d:%02d:%02d.%03dZ\",\"endedAtUtc\":\"2026-02-%02dT%02d:%02d:%02d.000Z\",\"holdCount\":%d,\"holdDurationInSeconds\":%d,\"isConsult\":%s,\"isOutbound\":%s,\"openingCheckResult\":\"Open\"}\n",
            i, i % 4, i % 17, i % 250000, i % 10000000, dur, d, h, m, sec, i % 1000, ed, eh, em, es,
            i % 3, (i % 3) * 20, (i % 11 == 0) ? "true" : "false", (i % 2 == 0) ? "true" : "false";
    }
}' > "$DATA"
BYTES=$(wc -c < "$DATA")
echo "   $(( BYTES / 1024 / 1024 )) MiB"

# run_one LABEL DATABASE
run_one() {
    local label="$1" database="$2" log="$WORK/server-$1.log"
    "$BIN" tenant create "Bench" --time-zone Europe/Budapest --database "$database" --json >/dev/null
    local key
    key=$("$BIN" key create --tenant bench --role ingest --database "$database" --json |
        sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
    [[ -n "$key" ]] || { echo "no key" >&2; exit 1; }
    CCFEED_LOG=warn "$BIN" serve --listen 127.0.0.1:0 --database "$database" >"$log" 2>&1 &
    SERVER_PID=$!
    local url=""
    for _ in $(seq 1 300); do
        url=$(sed -n 's/.*serving the OData feed at \(http:\/\/[^/]*\)\/odata\/.*/\1/p' "$log" | head -1)
        [[ -n "$url" ]] && break
        sleep 0.1
    done
    [[ -n "$url" ]] || { echo "the server did not start:" >&2; cat "$log" >&2; exit 1; }

    echo "== $label: POST $N rows to $url/ingest/Calls"
    local out status seconds
    out=$(curl -sS -o "$WORK/response-$label.json" -w '%{http_code} %{time_total}' \
        -H "Authorization: Bearer $key" -H 'Content-Type: application/x-ndjson' -H 'Expect:' \
        --data-binary @"$DATA" "$url/ingest/Calls")
    status=${out% *}
    seconds=${out#* }
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    if [[ "$status" != 200 ]] || ! grep -q "\"inserted\":$N," "$WORK/response-$label.json"; then
        echo "   FAILED: HTTP $status $(cat "$WORK/response-$label.json")" >&2
        exit 1
    fi
    echo "   $(cat "$WORK/response-$label.json")"
    awk -v l="$label" -v n="$N" -v s="$seconds" -v b="$BYTES" \
        'BEGIN { printf "   %s: %d rows in %.1f s = %.0f rows/s (%.1f MiB/s)\n", l, n, s, n / s, b / s / 1048576 }'
    if awk -v s="$seconds" 'BEGIN { exit !(s > 300) }'; then
        echo "   WARNING: $label took more than 5 minutes; use a smaller N (benches/ingest.sh 200000)" >&2
    fi
    RESULTS+=("$label $seconds")
}

RESULTS=()
run_one sqlite "$WORK/bench.db"
if [[ -n "${CCFEED_BENCH_POSTGRES:-}" ]]; then
    PG_DB="ccfeed_ingest_bench_$$"
    psql -q "$CCFEED_BENCH_POSTGRES" -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
    run_one postgres "${CCFEED_BENCH_POSTGRES%/*}/$PG_DB"
else
    echo "== postgres: skipped (set CCFEED_BENCH_POSTGRES to an admin URL to run it)"
fi

echo "== summary (N=$N, $(( BYTES / 1024 / 1024 )) MiB NDJSON, one request each)"
for r in "${RESULTS[@]}"; do
    awk -v l="${r% *}" -v s="${r#* }" -v n="$N" 'BEGIN { printf "   %-9s %8.1f s  %9.0f rows/s\n", l, s, n / s }'
done
