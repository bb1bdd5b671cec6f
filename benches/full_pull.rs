//! Full pull of an entity set over HTTP, following every `@odata.nextLink` as Power
//! BI does (with `Accept-Encoding: gzip, deflate`), checking that the rows are unique
//! and match `$count`, and reporting rows/s, MB/s and the client's CPU time.
//!
//! It measures a running server: `benches/compare.sh N` builds ccfeed, generates the
//! data, starts ccfeed and the CAP peer and runs this against both. Directly:
//! `CCFEED_BENCH_URL=http://127.0.0.1:8080/odata/Calls cargo bench --bench full_pull`
//!
//! Any OData v4 server on loopback works: absolute, root-relative and relative
//! `@odata.nextLink`s are followed (relative ones resolve against the request URL's
//! directory, i.e. the service root, as `$metadata#Set` contexts do).
//! Environment:
//! - `CCFEED_BENCH_PREFER`: a `Prefer` header value sent with every page request
//!   (e.g. `odata.maxpagesize=50000`); none by default.
//! - `CCFEED_BENCH_ACCEPT_ENCODING`: the `Accept-Encoding` sent (default
//!   `gzip, deflate`, as Power BI sends it; `identity` or empty for none).
//! - `CCFEED_BENCH_RTT_MS`: milliseconds slept before each page request, a simulated
//!   network round trip (a WAN user): the time between the end of one page and the
//!   start of the next during which, without pipelined paging, the server idles.
//!
//! Besides the human line it prints one `full_pull_json: {...}` line for scripts.

#[path = "../tests/common/http_client.rs"]
mod http_client;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Instant;

use serde::Deserialize;

#[derive(Deserialize)]
struct Row {
    id: String,
}

#[derive(Deserialize)]
struct Page {
    value: Vec<Row>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

/// User + system CPU seconds of this process, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn split_url(url: &str) -> Result<(SocketAddr, String), String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (host, path) = rest.split_once('/').ok_or("no path")?;
    let addr = host
        .parse::<SocketAddr>()
        .map_err(|e| format!("{host}: {e} (use an IP:port)"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("{url}: only loopback servers are measured"));
    }
    Ok((addr, format!("/{path}")))
}

/// The next request (address, path) for `link`, found in the response to `current`.
fn resolve(addr: SocketAddr, current: &str, link: &str) -> Result<(SocketAddr, String), String> {
    if link.starts_with("http://") {
        return split_url(link);
    }
    if link.starts_with("https://") {
        return Err(format!("{link}: only http:// links"));
    }
    if link.starts_with('/') {
        return Ok((addr, link.to_string()));
    }
    let path = current.split('?').next().unwrap_or(current);
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    Ok((addr, format!("{dir}{link}")))
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() -> Result<(), String> {
    let Ok(url) = std::env::var("CCFEED_BENCH_URL") else {
        println!(
            "full_pull: set CCFEED_BENCH_URL (e.g. http://127.0.0.1:8080/odata/Calls); see benches/compare.sh"
        );
        return Ok(());
    };
    let encoding =
        std::env::var("CCFEED_BENCH_ACCEPT_ENCODING").unwrap_or_else(|_| "gzip, deflate".into());
    let prefer = std::env::var("CCFEED_BENCH_PREFER").unwrap_or_default();
    let rtt = std::time::Duration::from_millis(
        std::env::var("CCFEED_BENCH_RTT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    );
    let mut headers = vec![
        ("Accept", "application/json;odata.metadata=minimal"),
        ("OData-MaxVersion", "4.0"),
    ];
    if !encoding.is_empty() && encoding != "identity" {
        headers.push(("Accept-Encoding", encoding.as_str()));
    }
    if !prefer.is_empty() {
        headers.push(("Prefer", prefer.as_str()));
    }
    let (mut addr, path) = split_url(&url)?;
    let count_path = format!("{}/$count", path.split('?').next().unwrap_or(&path));
    let expected: usize = http_client::raw_get(addr, &count_path, &[])
        .text()
        .trim()
        .parse()
        .map_err(|e| format!("$count: {e}"))?;

    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let mut ids: HashSet<String> = HashSet::with_capacity(expected);
    let (mut pages, mut wire, mut json_bytes) = (0usize, 0usize, 0usize);
    let mut page_ms: Vec<f64> = Vec::new();
    let mut next = Some(path);
    while let Some(p) = next.take() {
        let page_started = Instant::now();
        if !rtt.is_zero() {
            std::thread::sleep(rtt);
        }
        let resp = http_client::raw_get(addr, &p, &headers);
        if resp.status != 200 {
            return Err(format!(
                "page {pages}: HTTP {} {}",
                resp.status,
                resp.text()
            ));
        }
        pages += 1;
        wire += resp.wire_bytes;
        json_bytes += resp.body.len();
        let page: Page =
            serde_json::from_slice(&resp.body).map_err(|e| format!("page {pages}: {e}"))?;
        for row in page.value {
            if !ids.insert(row.id) {
                return Err(format!("duplicate key on page {pages}"));
            }
        }
        page_ms.push(page_started.elapsed().as_secs_f64() * 1e3);
        next = match page.next_link {
            Some(link) => {
                let (a, p2) = resolve(addr, &p, &link)?;
                addr = a;
                Some(p2)
            }
            None => None,
        };
    }
    let secs = started.elapsed().as_secs_f64();
    let client_cpu = cpu_seconds() - cpu_before;
    if ids.len() != expected {
        return Err(format!("pulled {} rows, $count says {expected}", ids.len()));
    }
    println!(
        "full pull {url}: {} rows in {pages} pages, {secs:.2} s, {:.0} rows/s, {:.1} MB/s JSON ({:.1} MB/s on the wire, {:.0} MB gzip), client CPU {client_cpu:.2} s",
        ids.len(),
        ids.len() as f64 / secs,
        json_bytes as f64 / 1e6 / secs,
        wire as f64 / 1e6 / secs,
        wire as f64 / 1e6,
    );
    let first_ms = page_ms.first().copied().unwrap_or(0.0);
    let last_ms = page_ms.last().copied().unwrap_or(0.0);
    let mut sorted = page_ms.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "full_pull_json: {}",
        serde_json::json!({
            "url": url,
            "rows": ids.len(),
            "pages": pages,
            "secs": secs,
            "rows_per_s": ids.len() as f64 / secs,
            "json_bytes": json_bytes,
            "wire_bytes": wire,
            "json_mb_per_s": json_bytes as f64 / 1e6 / secs,
            "wire_mb_per_s": wire as f64 / 1e6 / secs,
            "client_cpu_s": client_cpu,
            "page_ms_first": first_ms,
            "page_ms_median": percentile(&sorted, 0.5),
            "page_ms_last": last_ms,
            "page_ms_max": sorted.last().copied().unwrap_or(0.0),
            "accept_encoding": encoding,
            "prefer": prefer,
            "rtt_ms": rtt.as_millis() as u64,
        })
    );
    Ok(())
}
