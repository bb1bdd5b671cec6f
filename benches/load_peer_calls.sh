#!/usr/bin/env bash
# Load the rows of a peer-benchmark generator file into a ccfeed database, as the
# Calls of tenant `demo` (time zone UTC), so ccfeed and the CAP peer serve the SAME rows.
#
# usage: benches/load_peer_calls.sh SRC.sqlite DEST
#   SRC   a file written by ../shared/peers/cap/gen_calls.py N (table `calls`, camelCase
#         columns, UTC timestamps as text 'YYYY-MM-DDTHH:MM:SS.sssZ', booleans 0/1)
#   DEST  a SQLite file path (created if missing), or a postgres:// URL of an existing
#         database (ccfeed creates its schema)
# env:   CCFEED_BIN   the ccfeed binary (default: target/release/ccfeed; built if missing)
#
# SQLite: one `INSERT INTO calls (...) SELECT ...` over an ATTACHed SRC, mapping
#   camelCase -> snake_case, computing the tenant-local twins for UTC
#   (substr(x,1,23) || '+00:00') and defaults for NOT NULL columns the generator lacks;
#   rows go in SRC's physical order (start time), the same order CAP's copy keeps; then
#   ANALYZE and a WAL checkpoint.  Existing Calls of tenant demo are replaced.
# PostgreSQL: SRC is exported as NDJSON with the $metadata property names (python3,
#   /tmp/peerdata/calls_N.ndjson, cached) and loaded with
#   `ccfeed ingest --tenant demo Calls FILE` (which also derives Conversations).
# Both: the tenant `demo` is created with time zone UTC if it does not exist (an
# existing one must be UTC), and the row count is checked against SRC.
set -euo pipefail
if [[ $# -ne 2 ]]; then sed -n '2,22p' "$0"; exit 2; fi
SRC=$1
DEST=$2
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BIN=${CCFEED_BIN:-$ROOT/target/release/ccfeed}
[[ -f "$SRC" ]] || { echo "no such file: $SRC" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "sqlite3 not found: apt-get install -y sqlite3" >&2; exit 1; }
if [[ ! -x "$BIN" ]]; then (cd "$ROOT" && cargo build --release --quiet); fi
export CCFEED_LOG=${CCFEED_LOG:-warn}

src_rows=$(sqlite3 "file:$SRC?mode=ro" 'SELECT count(*) FROM calls')
t0=$(date +%s.%N)

ensure_tenant() {  # DEST
  local tz
  tz=$("$BIN" tenant list --json --database "$1" |
    python3 -c 'import json,sys; print(next((t["time_zone"] for t in json.load(sys.stdin)["tenants"] if t["id"]=="demo"), ""))')
  if [[ -z "$tz" ]]; then
    "$BIN" tenant create demo --time-zone UTC --database "$1" >/dev/null
  elif [[ "$tz" != UTC ]]; then
    echo "tenant demo in $1 has time zone $tz; this loader writes UTC local twins" >&2
    exit 1
  fi
}

case "$DEST" in
postgres://* | postgresql://*)
  command -v python3 >/dev/null || { echo "python3 not found" >&2; exit 1; }
  ensure_tenant "$DEST"
  NDJSON=/tmp/peerdata/$(basename "${SRC%.sqlite}").ndjson
  mkdir -p /tmp/peerdata
  if [[ ! -s "$NDJSON" || "$SRC" -nt "$NDJSON" ]]; then
    python3 - "$SRC" "$NDJSON.tmp" <<'PY'
import json, sqlite3, sys
src, out = sys.argv[1], sys.argv[2]
con = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
cur = con.execute("SELECT * FROM calls ORDER BY rowid")
names = [d[0] for d in cur.description]
BOOLS = {"isConsult", "isOutbound"}
SKIP = {"tenantId"}          # the tenant comes from --tenant
with open(out, "w") as f:
    for row in cur:
        rec = {}
        for k, v in zip(names, row):
            if k in SKIP or v is None:
                continue
            rec[k] = bool(v) if k in BOOLS else v
        f.write(json.dumps(rec, separators=(",", ":"), ensure_ascii=False))
        f.write("\n")
PY
    mv "$NDJSON.tmp" "$NDJSON"
  fi
  "$BIN" ingest --tenant demo Calls "$NDJSON" --database "$DEST"
  dest_rows=$(psql -Atq "$DEST" -c "SELECT count(*) FROM calls WHERE tenant_id = 'demo'")
  psql -Atq "$DEST" -c "ANALYZE calls" -c "ANALYZE conversations"
  ;;
*)
  # Any ccfeed command that opens the database creates the feed schema.
  ensure_tenant "$DEST"
  # Every NOT NULL column of our `calls` must be filled by the mapping below.
  mapped="tenant_id id business_unit_id channel_id channel_phone_number channel_type
    conversation_ended_reason customer_first_name customer_id customer_last_name
    customer_phone_number customer_joined_at_utc customer_joined_at customer_ring_duration
    duration_in_seconds started_at_utc started_at ended_at_utc ended_at hold_count
    hold_duration_in_seconds is_consult is_outbound next_conversation_id
    opening_check_result transfer_initiated_by"
  while IFS='|' read -r col notnull; do
    if [[ "$notnull" == 1 && " $(echo $mapped) " != *" $col "* ]]; then
      echo "calls.$col is NOT NULL but the loader does not fill it; extend $0" >&2
      exit 1
    fi
  done < <(sqlite3 "$DEST" "SELECT name, \"notnull\" FROM pragma_table_info('calls')")
  sqlite3 "$DEST" >/dev/null <<SQL
.bail on
PRAGMA busy_timeout = 10000;
ATTACH 'file:$SRC?mode=ro' AS src;
BEGIN;
DELETE FROM calls WHERE tenant_id = 'demo';
INSERT INTO calls (
  tenant_id, id, business_unit_id, channel_id, channel_phone_number, channel_type,
  conversation_ended_reason, customer_first_name, customer_id, customer_last_name,
  customer_phone_number, customer_joined_at_utc, customer_joined_at,
  customer_ring_duration, duration_in_seconds, started_at_utc, started_at,
  ended_at_utc, ended_at, hold_count, hold_duration_in_seconds, is_consult, is_outbound,
  next_conversation_id, opening_check_result, transfer_initiated_by)
SELECT
  'demo', id, businessUnitId, coalesce(channelId, ''), channelPhoneNumber,
  coalesce(channelType, 'Voice'),
  conversationEndedReason, customerFirstName, customerId, customerLastName,
  customerPhoneNumber, customerJoinedAtUtc, substr(customerJoinedAtUtc, 1, 23) || '+00:00',
  customerRingDuration, durationInSeconds, startedAtUtc, substr(startedAtUtc, 1, 23) || '+00:00',
  endedAtUtc, substr(endedAtUtc, 1, 23) || '+00:00', coalesce(holdCount, 0),
  coalesce(holdDurationInSeconds, 0), coalesce(isConsult, 0), coalesce(isOutbound, 0),
  nextConversationId, openingCheckResult, transferInitiatedBy
FROM src.calls ORDER BY src.calls.rowid;
COMMIT;
DETACH src;
ANALYZE;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
  dest_rows=$(sqlite3 "$DEST" "SELECT count(*) FROM calls WHERE tenant_id = 'demo'")
  ;;
esac

secs=$(echo "$(date +%s.%N) - $t0" | bc)
if [[ "$dest_rows" != "$src_rows" ]]; then
  echo "row count mismatch: $SRC has $src_rows, $DEST has $dest_rows" >&2
  exit 1
fi
printf 'loaded %s rows from %s into %s (tenant demo, UTC) in %.1f s\n' "$dest_rows" "$SRC" "$DEST" "$secs"
