#!/usr/bin/env bash
# Fair share under abuse: one tenant's key runs 100 concurrent full-page pulls of Calls
# (retrying at once on 429, ignoring Retry-After), while another tenant's key sends
# point queries one after another. Reports the point queries' p50/p99 idle, then
# during the abuse with the per-key limits off and with the default limits.
#
# usage: benches/fair_share.sh [CALLS]     (demo data size, default 100000 calls)
# env:   CCFEED_BIN  the ccfeed binary (default target/release/ccfeed; built if missing)
#        POINTS      point queries per phase (default 400)
#        ABUSERS     concurrent pulls (default 100)
set -euo pipefail
CALLS=${1:-100000}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BIN=${CCFEED_BIN:-$ROOT/target/release/ccfeed}
POINTS=${POINTS:-400}
ABUSERS=${ABUSERS:-100}
if [[ ! -x "$BIN" ]]; then (cd "$ROOT" && cargo build --release --quiet); fi
export CCFEED_LOG=${CCFEED_LOG:-error}

WORK=$(mktemp -d)
SERVER=
cleanup() {
  if [[ -n "$SERVER" ]]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
DB=$WORK/feed.db

"$BIN" demo --database "$DB" --calls "$CALLS" >/dev/null
"$BIN" tenant create other --time-zone UTC --database "$DB" >/dev/null
key() { "$BIN" key create --tenant "$1" --role "$2" --json --database "$DB" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])'; }
ABUSER_KEY=$(key demo read)
OTHER_KEY=$(key other read)
OTHER_INGEST=$(key other ingest)

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start() {  # extra serve flags
  "$BIN" serve --database "$DB" --listen "127.0.0.1:$PORT" "$@" &
  SERVER=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/odata/" && return
    sleep 0.1
  done
  echo "server did not start" >&2; exit 1
}
stop() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=; }

# The other tenant gets 20 calls: copies of the demo tenant's first ones.
start
curl -s -H "Authorization: Bearer $ABUSER_KEY" "http://127.0.0.1:$PORT/odata/Calls?\$top=20" |
  python3 -c 'import json,sys
for r in json.load(sys.stdin)["value"]:
    print(json.dumps({k: v for k, v in r.items() if not k.startswith("@")}))' >"$WORK/other.ndjson"
curl -s -f -o /dev/null -H "Authorization: Bearer $OTHER_INGEST" --data-binary @"$WORK/other.ndjson" \
  "http://127.0.0.1:$PORT/ingest/Calls"
POINT_ID=$(head -1 "$WORK/other.ndjson" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
stop

# The abusers run in their own process, so their work does not slow the measuring
# client down (only the server, which is the point). Their statuses go to a file.
abuse_start() {
  python3 - "$PORT" "$ABUSER_KEY" "$ABUSERS" "$WORK/abuse.stats" <<'PY' &
import asyncio, json, sys
port, key, abusers, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
stats = {}

async def pull():
    # One hostile client: full pages of Calls, again and again, at once after a 429.
    while True:
        try:
            r, w = await asyncio.open_connection("127.0.0.1", int(port))
            while True:
                w.write((f"GET /odata/Calls?$top=5000 HTTP/1.1\r\nHost: x\r\n"
                         f"Authorization: Bearer {key}\r\n\r\n").encode())
                await w.drain()
                head = (await r.readuntil(b"\r\n\r\n")).lower()
                status = int(head.split(b" ", 2)[1])
                stats[status] = stats.get(status, 0) + 1
                if b"transfer-encoding: chunked" in head:
                    while True:
                        size = int((await r.readuntil(b"\r\n")).split(b";")[0], 16)
                        await r.readexactly(size + 2)
                        if size == 0:
                            break
                else:
                    await r.readexactly(int(head.split(b"content-length:")[1].split(b"\r\n")[0]))
                if b"connection: close" in head:
                    break
            w.close()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
            await asyncio.sleep(0.01)

async def main():
    tasks = [asyncio.create_task(pull()) for _ in range(abusers)]
    while True:
        await asyncio.sleep(0.5)
        with open(out, "w") as f:
            json.dump(stats, f)

asyncio.run(main())
PY
  ABUSE=$!
  sleep 3  # let the abuse reach its steady state
}
abuse_stop() { kill "$ABUSE"; wait "$ABUSE" 2>/dev/null || true; cat "$WORK/abuse.stats"; echo; }

measure() {  # label
  python3 - "$PORT" "$OTHER_KEY" "$POINT_ID" "$POINTS" "$1" <<'PY'
import http.client, statistics, sys, time
port, key, point, points, label = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
conn = http.client.HTTPConnection("127.0.0.1", int(port))
lat, codes = [], {}
for _ in range(points):
    t0 = time.perf_counter()
    conn.request("GET", f"/odata/Calls('{point}')", headers={"Authorization": f"Bearer {key}"})
    resp = conn.getresponse()
    resp.read()
    lat.append((time.perf_counter() - t0) * 1000)
    codes[resp.status] = codes.get(resp.status, 0) + 1
lat.sort()
p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
print(f"{label:<38} point p50 {statistics.median(lat):8.2f} ms  p99 {p99:8.2f} ms  statuses {codes}")
PY
}

echo "ccfeed fair share: $CALLS demo calls, $ABUSERS concurrent pulls of 5000-row pages, $POINTS point queries per phase"
start --key-max-concurrent 0 --key-requests-per-minute 0
measure "idle, limits off"
abuse_start
measure "abuse, limits off"
echo -n "  abuser statuses: "; abuse_stop
stop
start
measure "idle, default limits"
abuse_start
measure "abuse, default limits (4, 1200/min)"
echo -n "  abuser statuses: "; abuse_stop
stop
