//! A Power BI refresh of every entity set, as Power Query's `OData.Feed` does it
//! (`../shared/research/powerbi-odata.md` §1.1–1.2): the service document, `$metadata`,
//! then for each table the navigator preview (`$top=1000`) and the load, following
//! every `@odata.nextLink` until there is none. Every request carries Power Query's
//! headers (User-Agent `Microsoft.Data.Mashup`, its long `Accept`, `OData-MaxVersion: 4.0`,
//! `MaxDataServiceVersion: 3.0`, `Accept-Encoding: gzip, deflate`; no `OData-Version`,
//! no page size), and every page is parsed whole into JSON values, as the mashup
//! engine parses them, so the client's cost is in the figures as a user would feel it.
//!
//! It reports, per set and in total: wall time, rows, pages, bytes on the wire, JSON
//! bytes, and with `--server-pid` the server's CPU time (utime + stime from
//! `/proc/PID/stat`) and peak RSS (`VmHWM` from `/proc/PID/status`). With
//! `--parallel 1` (the default) the peak is reset before each set (`clear_refs` 5), so
//! each set's figure is its own peak; with several tables at once the per-set CPU and
//! peak overlap and only the totals mean anything.
//!
//! Run it through `benches/powerbi_refresh.sh` (starts the server, A/B mode); directly:
//! `cargo bench --bench powerbi_refresh -- --url http://127.0.0.1:8080/odata/ [--server-pid PID]
//!  [--omit-nulls] [--rtt-ms N] [--parallel N] [--sets A,B] [--no-preview] [--json]`
//!
//! The last line is `powerbi_refresh_json: {...}` for scripts.

#[path = "../tests/common/http_client.rs"]
mod http_client;

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const USER_AGENT: &str = "Microsoft.Data.Mashup (https://go.microsoft.com/fwlink/?LinkID=304225)";
const ACCEPT: &str = "application/json;odata.metadata=minimal;q=1.0,application/json;odata=minimalmetadata;q=0.9,application/atomsvc+xml;q=0.8,application/atom+xml;q=0.8,application/xml;q=0.7,text/plain;q=0.7";

struct Options {
    root: String,
    addr: SocketAddr,
    server_pid: Option<u32>,
    omit_nulls: bool,
    rtt: Duration,
    parallel: usize,
    sets: Option<Vec<String>>,
    preview: bool,
}

#[derive(Default, Clone)]
struct Figures {
    rows: u64,
    pages: u64,
    wire: u64,
    json: u64,
    secs: f64,
}

impl Figures {
    fn add(&mut self, o: &Figures) {
        self.rows += o.rows;
        self.pages += o.pages;
        self.wire += o.wire;
        self.json += o.json;
    }
}

struct SetResult {
    name: String,
    load: Figures,
    preview: Figures,
    cpu: Option<f64>,
    hwm_kib: Option<u64>,
}

fn usage() -> String {
    "usage: powerbi_refresh --url http://127.0.0.1:PORT/odata/ [--server-pid PID] [--omit-nulls] \
     [--rtt-ms N] [--parallel N] [--sets A,B] [--no-preview]"
        .into()
}

fn parse_args() -> Result<Option<Options>, String> {
    // `cargo bench` passes `--bench`; ignore it.
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let (mut url, mut pid, mut omit, mut rtt, mut parallel, mut sets, mut preview) =
        (None, None, false, 0u64, 1usize, None, true);
    let num = |v: Option<String>, what: &str| -> Result<u64, String> {
        v.and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{what} needs a number\n{}", usage()))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--url" => url = args.next(),
            "--server-pid" => pid = Some(num(args.next(), "--server-pid")? as u32),
            "--omit-nulls" => omit = true,
            "--rtt-ms" => rtt = num(args.next(), "--rtt-ms")?,
            "--parallel" => parallel = num(args.next(), "--parallel")?.max(1) as usize,
            "--sets" => {
                sets = args
                    .next()
                    .map(|s| s.split(',').map(|x| x.trim().to_string()).collect())
            }
            "--no-preview" => preview = false,
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown option {other}\n{}", usage())),
        }
    }
    let Some(url) = url.or_else(|| std::env::var("CCFEED_BENCH_URL").ok()) else {
        println!("powerbi_refresh: no --url (or CCFEED_BENCH_URL); see benches/powerbi_refresh.sh");
        return Ok(None);
    };
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let addr: SocketAddr = host
        .parse()
        .map_err(|e| format!("{host}: {e} (use IP:port)"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("{url}: only loopback servers are measured"));
    }
    let root = format!("/{}", path.trim_end_matches('/'));
    Ok(Some(Options {
        root,
        addr,
        server_pid: pid,
        omit_nulls: omit,
        rtt: Duration::from_millis(rtt),
        parallel,
        sets,
        preview,
    }))
}

/// utime + stime of a process, seconds.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resets VmHWM to the current RSS (needs the right to write the process's clear_refs).
fn reset_hwm(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

struct Client<'o> {
    o: &'o Options,
}

impl Client<'_> {
    /// One GET with Power Query's headers after the simulated round trip; the body
    /// decoded (gzip by the shared client, deflate here).
    fn get(&self, path: &str, accept: &str) -> Result<(http_client::Response, Vec<u8>), String> {
        if !self.o.rtt.is_zero() {
            std::thread::sleep(self.o.rtt);
        }
        let mut headers = vec![
            ("User-Agent", USER_AGENT),
            ("Accept", accept),
            ("MaxDataServiceVersion", "3.0"),
            ("OData-MaxVersion", "4.0"),
            ("Accept-Encoding", "gzip, deflate"),
        ];
        if self.o.omit_nulls {
            headers.push(("Prefer", "omit-values=nulls"));
        }
        let resp = http_client::raw_get(self.o.addr, path, &headers);
        if resp.status != 200 {
            return Err(format!("{path}: HTTP {} {}", resp.status, resp.text()));
        }
        let body = if resp.header("content-encoding") == Some("deflate") {
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(&resp.body[..])
                .read_to_end(&mut out)
                .map_err(|e| format!("{path}: deflate: {e}"))?;
            out
        } else {
            resp.body.clone()
        };
        Ok((resp, body))
    }

    /// The path of a link from a response to `current` (absolute, root-relative, or
    /// relative to the service root).
    fn resolve(&self, link: &str) -> Result<String, String> {
        if let Some(rest) = link.strip_prefix("http://") {
            let (host, path) = rest.split_once('/').ok_or("link without path")?;
            if host.parse::<SocketAddr>().ok() != Some(self.o.addr) && host != "localhost" {
                return Err(format!("{link}: another server"));
            }
            return Ok(format!("/{path}"));
        }
        if link.starts_with('/') {
            return Ok(link.to_string());
        }
        Ok(format!("{}/{link}", self.o.root))
    }

    /// Fetches `path` and every nextLink after it; every page parsed whole.
    fn pull(&self, path: String, f: &mut Figures) -> Result<(), String> {
        let started = Instant::now();
        let mut next = Some(path);
        while let Some(p) = next.take() {
            let (resp, body) = self.get(&p, ACCEPT)?;
            if self.o.omit_nulls && f.pages == 0 {
                let applied = resp.header("preference-applied").unwrap_or("");
                if !applied.contains("omit-values=nulls") {
                    return Err(format!("{p}: omit-values=nulls not acknowledged"));
                }
            }
            f.pages += 1;
            f.wire += resp.wire_bytes as u64;
            f.json += body.len() as u64;
            let page: Value = serde_json::from_slice(&body).map_err(|e| format!("{p}: {e}"))?;
            let rows = page
                .get("value")
                .and_then(Value::as_array)
                .ok_or_else(|| format!("{p}: no value array"))?;
            f.rows += rows.len() as u64;
            next = match page.get("@odata.nextLink").and_then(Value::as_str) {
                Some(link) => Some(self.resolve(link)?),
                None => None,
            };
        }
        f.secs = started.elapsed().as_secs_f64();
        Ok(())
    }

    fn refresh_set(&self, name: &str, measure_each: bool) -> Result<SetResult, String> {
        let pid = self.o.server_pid.map(|p| p.to_string());
        if measure_each && let Some(p) = self.o.server_pid {
            reset_hwm(p);
        }
        let cpu0 = pid.as_deref().map(cpu_seconds);
        let mut preview = Figures::default();
        if self.o.preview {
            self.pull(format!("{}/{name}?$top=1000", self.o.root), &mut preview)?;
        }
        let mut load = Figures::default();
        self.pull(format!("{}/{name}", self.o.root), &mut load)?;
        let cpu = match (pid.as_deref(), cpu0) {
            (Some(p), Some(c0)) => Some(cpu_seconds(p) - c0),
            _ => None,
        };
        Ok(SetResult {
            name: name.to_string(),
            load,
            preview,
            cpu,
            hwm_kib: self.o.server_pid.and_then(hwm_kib),
        })
    }
}

fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

fn main() -> Result<(), String> {
    let Some(o) = parse_args()? else {
        return Ok(());
    };
    let client = Client { o: &o };
    let pid = o.server_pid.map(|p| p.to_string());
    if let Some(p) = o.server_pid {
        reset_hwm(p);
    }
    let cpu_start = pid.as_deref().map(cpu_seconds);
    let started = Instant::now();

    // 1. The service document (the navigator's table list), 2. $metadata (XML).
    let mut head = Figures::default();
    let (resp, body) = client.get(&format!("{}/", o.root), ACCEPT)?;
    head.pages += 1;
    head.wire += resp.wire_bytes as u64;
    head.json += body.len() as u64;
    let doc: Value = serde_json::from_slice(&body).map_err(|e| format!("service document: {e}"))?;
    let mut sets: Vec<String> = doc
        .get("value")
        .and_then(Value::as_array)
        .ok_or("service document without value")?
        .iter()
        .filter(|e| e.get("kind").and_then(Value::as_str).unwrap_or("EntitySet") == "EntitySet")
        .filter_map(|e| e.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    if let Some(wanted) = &o.sets {
        for w in wanted {
            if !sets.contains(w) {
                return Err(format!("{w} is not in the service document"));
            }
        }
        sets.retain(|s| wanted.contains(s));
    }
    let (resp, body) = client.get(&format!("{}/$metadata", o.root), ACCEPT)?;
    let ctype = resp.header("content-type").unwrap_or("").to_string();
    if !ctype.contains("xml") || !body.starts_with(b"<?xml") {
        return Err(format!("$metadata is not XML ({ctype})"));
    }
    head.pages += 1;
    head.wire += resp.wire_bytes as u64;
    head.json += body.len() as u64;

    // 3./4. Preview and load of each table; `parallel` tables at once.
    let queue = Mutex::new(sets.iter().cloned().collect::<VecDeque<_>>());
    let results = Mutex::new(Vec::<SetResult>::new());
    let error = Mutex::new(None::<String>);
    let measure_each = o.parallel == 1;
    std::thread::scope(|s| {
        for _ in 0..o.parallel {
            s.spawn(|| {
                loop {
                    let next = queue.lock().map(|mut q| q.pop_front()).unwrap_or(None);
                    let Some(name) = next else { break };
                    match client.refresh_set(&name, measure_each) {
                        Ok(r) => {
                            if let Ok(mut v) = results.lock() {
                                v.push(r)
                            }
                        }
                        Err(e) => {
                            if let Ok(mut slot) = error.lock() {
                                slot.get_or_insert(e);
                            }
                            if let Ok(mut q) = queue.lock() {
                                q.clear();
                            }
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = error.into_inner().unwrap_or(None) {
        return Err(e);
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = match (pid.as_deref(), cpu_start) {
        (Some(p), Some(c0)) => Some(cpu_seconds(p) - c0),
        _ => None,
    };
    let hwm = o.server_pid.and_then(hwm_kib);
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|r| sets.iter().position(|s| *s == r.name));

    let mut total = head.clone();
    let mut rows = 0u64;
    let peak_of_sets = results.iter().filter_map(|r| r.hwm_kib).max();
    println!(
        "| set | rows | pages | s | rows/s | wire MB | JSON MB | server CPU s | server peak RSS MiB |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let opt = |v: Option<f64>, show: bool| match v {
        Some(x) if show => format!("{x:.2}"),
        _ => "–".into(),
    };
    for r in &results {
        let mut all = r.load.clone();
        all.add(&r.preview);
        total.add(&all);
        rows += r.load.rows;
        let s = r.load.secs + r.preview.secs;
        println!(
            "| {} | {} | {} | {:.2} | {:.0} | {:.1} | {:.1} | {} | {} |",
            r.name,
            r.load.rows,
            all.pages,
            s,
            r.load.rows as f64 / s.max(1e-9),
            mb(all.wire),
            mb(all.json),
            opt(r.cpu, measure_each),
            opt(r.hwm_kib.map(|k| k as f64 / 1024.0), measure_each),
        );
    }
    println!(
        "| **total** ({} sets, parallel {}) | {rows} | {} | {secs:.2} | {:.0} | {:.1} | {:.1} | {} | {} |",
        results.len(),
        o.parallel,
        total.pages,
        rows as f64 / secs,
        mb(total.wire),
        mb(total.json),
        opt(cpu, true),
        opt(peak_of_sets.max(hwm).map(|k| k as f64 / 1024.0), true),
    );
    println!(
        "(rows = loaded rows, previews of $top=1000 not counted; pages, bytes and times include the previews{}; \
         service document and $metadata in the total)",
        if o.preview {
            ""
        } else {
            " (none: --no-preview)"
        }
    );
    let per_set: Vec<Value> = results
        .iter()
        .map(|r| {
            json!({
                "set": r.name, "rows": r.load.rows, "pages": r.load.pages + r.preview.pages,
                "secs": r.load.secs + r.preview.secs, "load_secs": r.load.secs,
                "wire_bytes": r.load.wire + r.preview.wire, "json_bytes": r.load.json + r.preview.json,
                "server_cpu_s": if measure_each { r.cpu } else { None },
                "server_hwm_kib": if measure_each { r.hwm_kib } else { None },
            })
        })
        .collect();
    println!(
        "powerbi_refresh_json: {}",
        json!({
            "rows": rows, "pages": total.pages, "secs": secs, "rows_per_s": rows as f64 / secs,
            "wire_bytes": total.wire, "json_bytes": total.json,
            "server_cpu_s": cpu, "server_hwm_mib": peak_of_sets.max(hwm).map(|k| k as f64 / 1024.0),
            "omit_nulls": o.omit_nulls, "rtt_ms": o.rtt.as_millis() as u64, "parallel": o.parallel,
            "preview": o.preview, "sets": per_set,
        })
    );
    Ok(())
}
