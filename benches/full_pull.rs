//! Full pull of an entity set over HTTP, following every `@odata.nextLink` as Power
//! BI does (with `Accept-Encoding: gzip, deflate`), checking that the rows are unique
//! and match `$count`, and reporting rows/s, MB/s and the client's CPU time.
//!
//! It measures a running server: `benches/full_pull.sh` builds ccfeed, generates the
//! data, starts the server and runs this. Directly:
//! `CCFEED_BENCH_URL=http://127.0.0.1:8080/odata/Calls cargo bench --bench full_pull`

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
    Ok((addr, format!("/{path}")))
}

fn main() -> Result<(), String> {
    let Ok(url) = std::env::var("CCFEED_BENCH_URL") else {
        println!(
            "full_pull: set CCFEED_BENCH_URL (e.g. http://127.0.0.1:8080/odata/Calls); see benches/full_pull.sh"
        );
        return Ok(());
    };
    let headers = [
        ("Accept-Encoding", "gzip, deflate"),
        ("Accept", "application/json;odata.metadata=minimal"),
    ];
    let (addr, path) = split_url(&url)?;
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
    let mut next = Some(path);
    while let Some(p) = next.take() {
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
        next = match page.next_link {
            Some(link) => Some(split_url(&link)?.1),
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
    Ok(())
}
