#!/usr/bin/env python3
"""Measurement and report helpers of benches/compare.sh (standard library only).

  compare_tool.py pull NAME URL SERVER_PID OUT.json [--env K=V ...] [--pg-db DB]
      full pull with the Rust client ($FULL_PULL_BIN), plus the server's CPU seconds
      (utime+stime from /proc/PID/stat) and peak RSS (VmHWM) around it; with --pg-db
      also the CPU of that database's PostgreSQL backends.
  compare_tool.py wrk NAME URL SERVER_PID THREADS CONNS OUT.json
      $WRK_WARMUP s unrecorded, then $WRK_DURATION s recorded `wrk --latency`;
      req/s, p50/p90/p99, non-2xx, server CPU and wrk's own CPU.
  compare_tool.py count NAME URL RUNS OUT.json
      RUNS sequential GETs of a `$count=true&$top=0` URL: median/min/max ms, count.
  compare_tool.py check URL       one GET; prints HTTP status, rows, @odata.count
  compare_tool.py agg-odata NAME URL KEY RUNS OUT.json
      RUNS sequential GETs of an `$apply` URL (quoted here): median/min/max ms and the
      groups it answered (property KEY -> property n), to check against the others.
  compare_tool.py agg-days NAME CALLS_URL FIRST_DAY END_DAY RUNS OUT.json
      what a client of a server without `compute` does for calls per UTC day: one
      `/$count` with a day filter per day in [FIRST_DAY, END_DAY); one run = all days.
  compare_tool.py agg-sql NAME sqlite|psql DATABASE SQL RUNS OUT.json
      the same GROUP BY in the sqlite3 shell (`.timer on`, "Run Time: real") or psql
      (`\timing`, "Time:"), RUNS times in one session: the database's own time.
  compare_tool.py report DIR [OTHER_SUMMARY.json]
      DIR/summary.json from DIR/*.json, a table with ratios and targets, and the
      growth against OTHER_SUMMARY (another N) when given.
Only loopback URLs are accepted.
"""
import glob
import http.client
import ipaddress
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import urllib.parse

HEADERS = {
    "Accept": "application/json;odata.metadata=minimal",
    "OData-MaxVersion": "4.0",
}
CLK = os.sysconf("SC_CLK_TCK")


def loopback(url):
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        sys.exit(f"refusing {url}: loopback only")


def proc_cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / CLK
    except (OSError, IndexError, ValueError):
        return None


def proc_status(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0  # MiB
    except OSError:
        return None
    return None


def pg_backends(db):
    url = os.environ.get("PG_ADMIN_URL", "")
    if not url or not db:
        return []
    out = subprocess.run(
        ["psql", "-Atq", url, "-c",
         f"SELECT pid FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"],
        capture_output=True, text=True, timeout=30).stdout
    return [int(p) for p in out.split()]


def pg_cpu(pids):
    vals = [proc_cpu(p) for p in pids]
    return sum(v for v in vals if v is not None)


def get(url, timeout=120):
    loopback(url)
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    path = u.path + ("?" + u.query if u.query else "")
    conn.request("GET", path, headers=HEADERS)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cmd_pull(args):
    name, url, pid, out = args[:4]
    extra, pg_db = {}, None
    rest = args[4:]
    while rest:
        if rest[0] == "--env":
            k, v = rest[1].split("=", 1)
            extra[k] = v
            rest = rest[2:]
        elif rest[0] == "--pg-db":
            pg_db = rest[1]
            rest = rest[2:]
        else:
            sys.exit(f"pull: unknown argument {rest[0]}")
    loopback(url)
    env = dict(os.environ, CCFEED_BENCH_URL=url, **extra)
    backends = pg_backends(pg_db)
    rss0 = proc_status(pid, "VmRSS")
    cpu0, pg0, ccpu0 = proc_cpu(pid), pg_cpu(backends), child_cpu()
    t0 = time.time()
    p = subprocess.run([os.environ["FULL_PULL_BIN"]], env=env, capture_output=True, text=True,
                       timeout=int(os.environ.get("PULL_TIMEOUT", "1800")))
    wall = time.time() - t0
    cpu1, pg1, ccpu1 = proc_cpu(pid), pg_cpu(backends), child_cpu()
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr)
    if p.returncode != 0:
        sys.exit(f"pull {name}: client failed ({p.returncode})")
    line = next((l for l in p.stdout.splitlines() if l.startswith("full_pull_json: ")), None)
    if line is None:
        sys.exit(f"pull {name}: no full_pull_json line")
    r = json.loads(line.split(": ", 1)[1])
    r.update({
        "name": name,
        "wall_incl_count_s": wall,
        "client_process_cpu_s": ccpu1 - ccpu0,
        "server_pid": int(pid),
        "server_cpu_s": (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None,
        "server_rss_start_mib": rss0,
        "server_hwm_mib": proc_status(pid, "VmHWM"),
        "server_rss_end_mib": proc_status(pid, "VmRSS"),
        "env": extra,
    })
    if pg_db:
        r["pg_backend_cpu_s"] = pg1 - pg0
        r["pg_backends"] = len(backends)
    with open(out, "w") as f:
        json.dump(r, f, indent=1)
    print(f"   server CPU {r['server_cpu_s']:.2f} s, peak RSS {r['server_hwm_mib']:.1f} MiB"
          + (f", PostgreSQL backends CPU {r['pg_backend_cpu_s']:.2f} s" if pg_db else ""),
          flush=True)


UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(text):
    r = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    r["req_per_s"] = float(m.group(1)) if m else None
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        r[f"p{pct}_ms"] = round(float(m.group(1)) * UNIT[m.group(2)], 3) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    r["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    r["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors:(.*)", text)
    r["socket_errors"] = m.group(1).strip() if m else ""
    return r


def wrk_cmd(url, threads, conns, secs):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{secs}s", "--timeout", "10s", "--latency",
           "-H", "Accept: application/json;odata.metadata=minimal", "-H", "OData-MaxVersion: 4.0"]
    enc = os.environ.get("WRK_ENCODING", "gzip, deflate")
    if enc:
        cmd += ["-H", f"Accept-Encoding: {enc}"]
    return cmd + [url]


def cmd_wrk(args):
    name, url, pid, threads, conns, out = args
    loopback(url)
    dur = min(int(os.environ.get("WRK_DURATION", "10")), 30)
    warm = int(os.environ.get("WRK_WARMUP", "3"))
    if warm > 0:
        subprocess.run(wrk_cmd(url, threads, conns, warm), capture_output=True, timeout=warm + 30)
    cpu0, c0 = proc_cpu(pid), child_cpu()
    cmd = wrk_cmd(url, threads, conns, dur)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=dur + 30)
    cpu1, c1 = proc_cpu(pid), child_cpu()
    with open(out.replace(".json", ".txt"), "w") as f:
        f.write(" ".join(cmd) + "\n" + p.stdout + p.stderr)
    r = parse_wrk(p.stdout)
    r.update({"name": name, "url": url, "threads": int(threads), "conns": int(conns),
              "duration_s": dur, "server_cpu_s": cpu1 - cpu0, "wrk_cpu_s": c1 - c0,
              "server_rss_mib": proc_status(pid, "VmRSS"),
              "server_hwm_mib": proc_status(pid, "VmHWM")})
    with open(out, "w") as f:
        json.dump(r, f, indent=1)
    print(f"   {name}: {r['req_per_s']} req/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
          f"non-2xx {r['non_2xx']}, server CPU {r['server_cpu_s']:.1f} s, wrk CPU {r['wrk_cpu_s']:.1f} s",
          flush=True)
    if r["non_2xx"] or r["req_per_s"] is None:
        sys.exit(f"wrk {name}: failed responses")


def cmd_count(args):
    name, url, runs, out = args
    times, count = [], None
    for _ in range(int(runs)):
        t = time.perf_counter()
        st, body = get(url)
        times.append((time.perf_counter() - t) * 1000)
        if st != 200:
            sys.exit(f"count {name}: HTTP {st}: {body[:300]!r}")
        count = json.loads(body).get("@odata.count")
    r = {"name": name, "url": url, "count": count, "n": len(times),
         "median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}
    with open(out, "w") as f:
        json.dump(r, f, indent=1)
    print(f"   {name}: median {r['median_ms']:.2f} ms (min {r['min_ms']:.2f}, max {r['max_ms']:.2f}), "
          f"count {count}", flush=True)


def cmd_check(args):
    (url,) = args
    st, body = get(url)
    try:
        j = json.loads(body)
    except ValueError:
        j = {}
    rows = len(j.get("value", [])) if isinstance(j, dict) else None
    print(f"HTTP {st}, {rows} rows, {len(body)} bytes, count {j.get('@odata.count')}")
    if st != 200:
        sys.exit(f"{url}: HTTP {st}: {body[:300]!r}")


# ---------------------------------------------------------------- aggregation
def agg_write(name, out, times, groups, extra=None):
    r = {"name": name, "n": len(times), "median_ms": statistics.median(times),
         "min_ms": min(times), "max_ms": max(times), "groups": groups}
    r.update(extra or {})
    with open(out, "w") as f:
        json.dump(r, f, indent=1)
    print(f"   {name}: median {r['median_ms']:.1f} ms (min {r['min_ms']:.1f}, max {r['max_ms']:.1f}), "
          f"{len(groups)} groups", flush=True)


def group_key(v):
    return "null" if v is None else str(v)


def cmd_agg_odata(args):
    name, url, key, runs, out = args
    base, _, query = url.partition("?")
    url = base + "?" + urllib.parse.quote(query, safe="$=&(),/:'@")
    times, groups = [], {}
    for _ in range(int(runs)):
        t = time.perf_counter()
        st, body = get(url)
        times.append((time.perf_counter() - t) * 1000)
        if st != 200:
            sys.exit(f"agg {name}: HTTP {st}: {body[:300]!r}")
        doc = json.loads(body)
        if "@odata.nextLink" in doc:
            sys.exit(f"agg {name}: the answer is paged; raise the page size")
        groups = {}
        for row in doc["value"]:
            groups[group_key(row.get(key))] = row.get("n")
    agg_write(name, out, times, groups, {"url": url})


def cmd_agg_days(args):
    import datetime
    name, calls, first, end, runs, out = args
    d0, d1 = datetime.date.fromisoformat(first), datetime.date.fromisoformat(end)
    days = [d0 + datetime.timedelta(i) for i in range((d1 - d0).days)]
    urls = []
    for d in days:
        f = f"startedAtUtc ge {d}T00:00:00Z and startedAtUtc lt {d + datetime.timedelta(1)}T00:00:00Z"
        urls.append((str(d), calls + "/$count?$filter=" + urllib.parse.quote(f, safe=":")))
    times, groups = [], {}
    for _ in range(int(runs)):
        t = time.perf_counter()
        for day, u in urls:
            st, body = get(u)
            if st != 200:
                sys.exit(f"agg {name}: HTTP {st}: {body[:300]!r}")
            n = int(body)
            if n:  # a GROUP BY has no empty groups
                groups[day] = n
        times.append((time.perf_counter() - t) * 1000)
    agg_write(name, out, times, groups, {"requests_per_run": len(urls)})


def cmd_agg_sql(args):
    name, kind, db, sql, runs, out = args
    runs = int(runs)
    sql = sql.strip().rstrip(";") + ";"
    if kind == "sqlite":
        script = ".timer on\n" + (sql + "\n") * runs
        cmd, pat = ["sqlite3", "-separator", "|", f"file:{db}?mode=ro"], r"^Run Time: real ([0-9.]+)"
        scale = 1000.0
    else:
        script = "\\timing on\n" + (sql + "\n") * runs
        cmd, pat = ["psql", "-X", "-q", "-A", "-t", "-F", "|", db], r"^Time: ([0-9.]+) ms"
        scale = 1.0
    p = subprocess.run(cmd, input=script, capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        sys.exit(f"agg {name}: {p.stderr[:500]}")
    times, groups = [], {}
    for line in p.stdout.splitlines():
        m = re.match(pat, line)
        if m:
            times.append(float(m.group(1)) * scale)
        elif "|" in line:
            k, v = line.split("|")[:2]
            groups[k or "null"] = int(v)
    if len(times) != runs:
        sys.exit(f"agg {name}: expected {runs} timings, got {len(times)}: {p.stdout[-500:]}")
    agg_write(name, out, times, groups)


# ---------------------------------------------------------------- report
def load(d, name):
    p = os.path.join(d, name + ".json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt(v, spec=".0f"):
    if v is None:
        return "-"
    return format(v, spec)


def growth_table(cur, other):
    """Rows (figure, small-N value, large-N value, growth) for both summaries."""
    small, large = sorted([other, cur], key=lambda s: s["n"])
    rows = []

    def g(label, path, inverse=False):
        def dig(s):
            v = s
            for k in path:
                v = v.get(k) if isinstance(v, dict) else None
            return v
        a, b = dig(small), dig(large)
        rows.append((label, a, b, ratio(b, a)))

    for srv in ("ccfeed", "cap", "cap_reliable", "ccfeed_pg"):
        g(f"full pull time, {srv} (s)", ["pull", srv, "secs"])
    for srv in ("ccfeed", "cap"):
        g(f"full pull $select time, {srv} (s)", ["pull", srv + "_select", "secs"])
    g("raw limit time (s)", ["raw_limit", "json", "secs"])
    g("raw limit+gzip time (s)", ["raw_limit", "json_gzip", "secs"])
    for srv in ("ccfeed", "cap", "ccfeed_pg"):
        g(f"peak RSS in pull, {srv} (MiB)", ["pull", srv, "server_hwm_mib"])
    for q in ("point", "range"):
        for c in ("c1", "c8"):
            for srv in ("ccfeed", "cap", "pg", "ccfeednodelay"):
                g(f"{q} {c} req/s, {srv}", ["wrk", f"{q}_{c}", srv, "req_per_s"])
    for q in ("unindexed", "indexed"):
        for srv in ("ccfeed", "cap", "pg"):
            g(f"$count {q} ms, {srv}", ["count", q, srv, "median_ms"])
    return small["n"], large["n"], rows


def cmd_report(args):
    d = args[0]
    other_path = args[1] if len(args) > 1 else None
    meta = load(d, "meta") or {}
    n = meta.get("n")
    S = {"n": n, "meta": meta, "pull": {}, "wrk": {}, "count": {}}
    S["raw_limit"] = load(d, "raw_limit")
    for p in glob.glob(os.path.join(d, "pull_*.json")):
        name = os.path.basename(p)[5:-5]
        S["pull"][name] = load(d, "pull_" + name)
    for p in glob.glob(os.path.join(d, "wrk_*.json")):
        base = os.path.basename(p)[4:-5]          # point_c1_ccfeed
        q, c, srv = base.split("_", 2)
        S["wrk"].setdefault(f"{q}_{c}", {})[srv] = load(d, "wrk_" + base)
    for p in glob.glob(os.path.join(d, "count_*.json")):
        base = os.path.basename(p)[6:-5]          # unindexed_ccfeed
        q, srv = base.split("_", 1)
        S["count"].setdefault(q, {})[srv] = load(d, "count_" + base)
    S["agg"] = {}
    for p in glob.glob(os.path.join(d, "agg_*.json")):
        base = os.path.basename(p)[4:-5]          # a_ccfeed
        q, srv = base.split("_", 1)
        S["agg"].setdefault(q, {})[srv] = load(d, "agg_" + base)
    S["pg_index_check"] = load(d, "pg_index_check")

    P = S["pull"]
    lim = (S["raw_limit"] or {}).get("json", {}).get("rows_per_s")
    limgz = (S["raw_limit"] or {}).get("json_gzip", {}).get("rows_per_s")

    def rate(k):
        return (P.get(k) or {}).get("rows_per_s")

    lines = []
    out = lines.append
    out(f"ccfeed vs CAP, N = {n:,} rows ({meta.get('date', '')}; {meta.get('machine', '')})")
    if meta.get("build"):
        out(f"ccfeed binary: {meta['build']}")
    out("")
    out(f"{'figure':46s} {'ccfeed':>12s} {'CAP':>12s} {'ccf/CAP':>8s} {'limit':>10s} {'ccf/lim':>8s}")

    def row(label, a, b, lim_v=None, spec=".0f", inv=False, noratio=False):
        if a is None and b is None and lim_v is None:
            return  # a figure this run did not measure (e.g. AGG_ONLY=1)
        r1 = None if noratio else (ratio(b, a) if inv else ratio(a, b))
        r2 = ratio(a, lim_v)
        out(f"{label:46s} {fmt(a, spec):>12s} {fmt(b, spec):>12s} {fmt(r1, '.2f'):>8s} "
            f"{fmt(lim_v, spec):>10s} {fmt(r2, '.2f'):>8s}")

    def pv(k, f):
        return (P.get(k) or {}).get(f)

    row("full pull rows/s (gzip, default paging)", rate("ccfeed"), rate("cap"), lim)
    row("  vs CAP reliablePaging (keyset)", rate("ccfeed"), rate("cap_reliable"))

    def per_cpu(k):
        r, c = pv(k, "rows"), pv(k, "server_cpu_s")
        return r / c if r and c else None

    row("  rows per server CPU second", per_cpu("ccfeed"), per_cpu("cap"),
        (S["raw_limit"] or {}).get("json", {}).get("rows", 0) / ((S["raw_limit"] or {}).get("json", {}).get("cpu_s") or 1) if S["raw_limit"] else None)
    row("  MB/s JSON", pv("ccfeed", "json_mb_per_s"), pv("cap", "json_mb_per_s"),
        (S["raw_limit"] or {}).get("json", {}).get("json_mb_per_s"), ".1f")
    row("  wall s", pv("ccfeed", "secs"), pv("cap", "secs"), None, ".2f", inv=True)
    row("  server CPU s", pv("ccfeed", "server_cpu_s"), pv("cap", "server_cpu_s"), None, ".2f", inv=True)
    row("  client CPU s", pv("ccfeed", "client_cpu_s"), pv("cap", "client_cpu_s"), None, ".2f", inv=True)
    row("  server peak RSS MiB (VmHWM)", pv("ccfeed", "server_hwm_mib"), pv("cap", "server_hwm_mib"), None, ".1f", inv=True)
    row("  pages", pv("ccfeed", "pages"), pv("cap", "pages"), None, ".0f", noratio=True)
    row("  page ms first / last (ccfeed | CAP)", pv("ccfeed", "page_ms_first"), pv("cap", "page_ms_first"), None, ".1f", noratio=True)
    row("", pv("ccfeed", "page_ms_last"), pv("cap", "page_ms_last"), None, ".1f", noratio=True)
    row("full pull rows/s, $select of CAP's 22 columns", rate("ccfeed_select"), rate("cap_select"), None)
    row("  MB/s JSON", pv("ccfeed_select", "json_mb_per_s"), pv("cap_select", "json_mb_per_s"), None, ".1f")
    row("full pull rows/s, no gzip (vs limit json)", rate("ccfeed_identity"), rate("cap"), lim)
    row("full pull rows/s, gzip (vs limit json+gzip)", rate("ccfeed"), rate("cap"), limgz)
    row("full pull rows/s, maxpagesize=50000, gzip", rate("ccfeed_maxpage"), rate("cap"), limgz)
    row("full pull rows/s, gzip, 20 ms round trip per page", rate("ccfeed_rtt20"), rate("cap"), limgz)
    row("  server peak RSS MiB", pv("ccfeed_maxpage", "server_hwm_mib"), None, None, ".1f")
    if P.get("ccfeed_pg"):
        row("PostgreSQL full pull rows/s (gzip)", rate("ccfeed_pg"), rate("cap"), lim)
        row("  server peak RSS MiB / server CPU s", pv("ccfeed_pg", "server_hwm_mib"),
            None, None, ".1f")
        row("", pv("ccfeed_pg", "server_cpu_s"), None, None, ".2f")
        row("  PostgreSQL backends CPU s", pv("ccfeed_pg", "pg_backend_cpu_s"), None, None, ".2f")
    if P.get("ccfeed_pg_identity"):
        row("PostgreSQL full pull rows/s (no gzip)", rate("ccfeed_pg_identity"), rate("cap"), lim)
    W = S["wrk"]
    for q in ("point", "range"):
        for c in ("c1", "c8"):
            w = W.get(f"{q}_{c}", {})
            a, b = w.get("ccfeed") or {}, w.get("cap") or {}
            row(f"wrk {q} {c} req/s", a.get("req_per_s"), b.get("req_per_s"))
            row(f"  p50 ms", a.get("p50_ms"), b.get("p50_ms"), None, ".2f", inv=True)
            row(f"  p99 ms", a.get("p99_ms"), b.get("p99_ms"), None, ".2f", inv=True)
            row(f"  server CPU s / wrk CPU s (ccfeed | CAP)", a.get("server_cpu_s"), b.get("server_cpu_s"), None, ".1f", noratio=True)
            row("", a.get("wrk_cpu_s"), b.get("wrk_cpu_s"), None, ".1f", noratio=True)
            if w.get("ccfeednodelay"):
                x = w["ccfeednodelay"]
                row(f"  what-if ccfeed+TCP_NODELAY req/s", x.get("req_per_s"), b.get("req_per_s"))
                row(f"    p50 / p99 ms", x.get("p50_ms"), b.get("p50_ms"), None, ".2f", inv=True)
                row("", x.get("p99_ms"), b.get("p99_ms"), None, ".2f", inv=True)
            if w.get("pg"):
                row(f"  PostgreSQL req/s, p99 ms", w["pg"].get("req_per_s"), None)
                row("", w["pg"].get("p99_ms"), None, None, ".2f")
    C = S["count"]
    for q in ("unindexed", "indexed"):
        c = C.get(q, {})
        a, b = c.get("ccfeed") or {}, c.get("cap") or {}
        row(f"$count {q} median ms (count {a.get('count')})", a.get("median_ms"), b.get("median_ms"), None, ".2f", inv=True)
        if c.get("pg"):
            row(f"  PostgreSQL median ms", c["pg"].get("median_ms"), None, None, ".2f")
    AGG_LABEL = {"a": "(a) per channel: $count, average duration",
                 "b": "(b) calls per UTC day, whole table",
                 "c": "(c) calls per UTC day, one week"}
    agg_rows = []
    for q in sorted(S["agg"]):
        g = S["agg"][q]
        ms = {k: (v or {}).get("median_ms") for k, v in g.items()}
        lim_groups = (g.get("sqlite3") or {}).get("groups")
        same = {k: (v or {}).get("groups") == lim_groups for k, v in g.items() if k in ("ccfeed", "cap")}
        pg_same = (g.get("pg") or {}).get("groups") == (g.get("psql") or {}).get("groups") if g.get("pg") else None
        agg_rows.append((q, ms, same, pg_same))
        row(f"$apply {AGG_LABEL.get(q, q)} ms", ms.get("ccfeed"), ms.get("cap"), ms.get("sqlite3"), ".1f", inv=True)
        if ms.get("pg") is not None:
            out(f"  PostgreSQL ms: ccfeed {fmt(ms.get('pg'), '.1f')}, psql {fmt(ms.get('psql'), '.1f')}, "
                f"ccfeed/psql time {fmt(ratio(ms.get('pg'), ms.get('psql')), '.2f')}")
        out(f"  same groups as sqlite3: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in same.items())
            + ("" if pg_same is None else f"; PostgreSQL ccfeed vs psql {'yes' if pg_same else 'NO'}"))
    if agg_rows:
        out("  ($apply rows: ms medians; ccf/CAP = CAP ms / ccfeed ms; 'limit' is the sqlite3 shell, and")
        out("   ccf/lim there is ccfeed ms / sqlite3 ms: the target is limit/ccfeed >= 0.8, i.e. ccf/lim <= 1.25.")
        out("   CAP 9 has no compute: for (b) and (c) its figure is one /$count per day.)")
    out("")
    out("ccf/CAP is the speed-up (for times and latencies: CAP / ccfeed); ccf/lim is ccfeed / raw limit")
    out("(raw limit json for the first rows and the no-gzip pull, json+gzip for the gzip rows).")

    # Targets
    T = []

    def target(label, value, goal, ok):
        T.append({"target": label, "value": value, "goal": goal,
                  "met": None if value is None else bool(ok)})

    # The targets of issue 15.
    r = ratio(rate("ccfeed"), rate("cap"))
    target("full pull (gzip) >= 10x CAP default paging", r, 10, r is not None and r >= 10)
    r = ratio(rate("ccfeed"), limgz)
    target("full pull (gzip) >= 0.75 of raw limit json+gzip", r, 0.75, r is not None and r >= 0.75)
    r = ratio(rate("ccfeed_identity"), lim)
    target("full pull (no gzip) >= 0.55 of raw limit json", r, 0.55, r is not None and r >= 0.55)
    r = ratio(rate("ccfeed_rtt20"), rate("ccfeed"))
    target("full pull with 20 ms round trip >= 0.9 of no delay", r, 0.9, r is not None and r >= 0.9)
    v = pv("ccfeed", "server_hwm_mib")
    target("server peak RSS <= 32 MiB in the pull", v, 32, v is not None and v <= 32)
    for q in ("point", "range"):
        a = (W.get(f"{q}_c8", {}).get("ccfeed") or {}).get("req_per_s")
        b = (W.get(f"{q}_c8", {}).get("cap") or {}).get("req_per_s")
        r = ratio(a, b)
        target(f"{q} filter req/s at 8 conns >= 10x CAP", r, 10, r is not None and r >= 10)
        x = (W.get(f"{q}_c8", {}).get("ccfeednodelay") or {}).get("req_per_s")
        if x is not None:
            r = ratio(x, b)
            target(f"  (what-if TCP_NODELAY) {q} c8 >= 10x CAP", r, 10, r is not None and r >= 10)
    a = (C.get("unindexed", {}).get("ccfeed") or {}).get("median_ms")
    b = (C.get("unindexed", {}).get("cap") or {}).get("median_ms")
    r = ratio(a, b)
    target("unindexed $count <= 1/2 of CAP (ms ratio)", r, 0.5, r is not None and r <= 0.5)
    if P.get("ccfeed_pg"):
        v = rate("ccfeed_pg")
        target("PostgreSQL full pull >= 300k rows/s", v, 300000, v is not None and v >= 300000)
    p99 = (W.get("point_c8", {}).get("pg") or {}).get("p99_ms")
    if p99 is not None:
        target("PostgreSQL point filter p99 at 8 conns <= 10 ms", p99, 10, p99 <= 10)
        v = pv("ccfeed_pg", "server_hwm_mib")
        target("PostgreSQL pull peak RSS <= 32 MiB (constant memory)", v, 32, v is not None and v <= 32)
    for q, ms, same, pg_same in agg_rows:
        r = ratio(ms.get("cap"), ms.get("ccfeed"))
        target(f"$apply ({q}) >= 5x CAP (CAP ms / ccfeed ms)", r, 5, r is not None and r >= 5)
        r = ratio(ms.get("sqlite3"), ms.get("ccfeed"))
        target(f"$apply ({q}) >= 0.8 of sqlite3 (sqlite3 ms / ccfeed ms)", r, 0.8, r is not None and r >= 0.8)
        target(f"$apply ({q}) answers equal to sqlite3's", 1.0 if all(same.values()) else 0.0, 1,
               all(same.values()) and pg_same is not False)
    ic = S.get("pg_index_check")
    if ic:
        # A stray seq scan (e.g. a startup query flushed late) is tolerated; a filter
        # without its index would show one seq scan per request.
        seq, idx = ic.get("seq_scans", 0), ic.get("idx_scans", 0)
        target("PostgreSQL point/range filters use indexes (seq/idx scans)",
               ratio(seq, idx) if idx else None, 0.01, idx > 0 and seq * 100 < idx)
    S["targets"] = T
    out("")
    out("targets at this N:")
    for t in T:
        met = {True: "met", False: "NOT met", None: "n/a"}[t["met"]]
        out(f"  {t['target']:56s} {fmt(t['value'], '.2f'):>10s}  (goal {t['goal']})  {met}")

    if other_path and os.path.exists(other_path):
        with open(other_path) as f:
            other = json.load(f)
        if other.get("n") and other["n"] != n:
            a_n, b_n, rows = growth_table(S, other)
            S["growth"] = {"from": a_n, "to": b_n, "rows": [
                {"figure": l, "small": a, "large": b, "growth": g} for l, a, b, g in rows]}
            out("")
            out(f"growth {a_n:,} -> {b_n:,} rows ({other_path}):")
            for l, a, b, g in rows:
                if a is None and b is None:
                    continue
                out(f"  {l:44s} {fmt(a, '.2f'):>10s} -> {fmt(b, '.2f'):>10s}  x{fmt(g, '.2f')}")
            g = next((g for l, a, b, g in rows if l == "full pull time, ccfeed (s)"), None)
            if b_n == 10 * a_n:  # the target is stated for 10x the rows (100k -> 1M)
                T.append({"target": f"growth {a_n}->{b_n} full pull time <= 10.5x", "value": g,
                          "goal": 10.5, "met": None if g is None else g <= 10.5})
                out(f"  target: full pull time growth <= 10.5x: {fmt(g, '.2f')} "
                    f"{'met' if g is not None and g <= 10.5 else 'NOT met'}")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(d, "table.txt"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(S, f, indent=1)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    {"pull": cmd_pull, "wrk": cmd_wrk, "count": cmd_count, "check": cmd_check,
     "agg-odata": cmd_agg_odata, "agg-days": cmd_agg_days, "agg-sql": cmd_agg_sql,
     "report": cmd_report}.get(cmd, lambda a: sys.exit(__doc__))(args)


if __name__ == "__main__":
    main()
