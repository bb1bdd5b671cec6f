//! The raw limit of a full pull of Calls: the same rows read with the SQLite C API
//! (the bundled libsqlite3-sys ccfeed links) in an order ccfeed pages them (`compare.sh`
//! uses `time`, the order of an unfiltered pull without `$orderby`), written as the same OData JSON (the 28 properties
//! of `$metadata` in the same order, the same `@odata.context`, a `@odata.nextLink`
//! every page) by a tight loop into a counting sink. No HTTP, no threads, no
//! channel: the ceiling a server could reach on this machine. It also reports the
//! same loop with gzip (flate2 `Compression::fast()`, as actix-web compresses).
//!
//! `CCFEED_BENCH_DB=/tmp/peerdata/ccfeed_1000000.db cargo bench --bench raw_limit`
//! Environment: `CCFEED_BENCH_DB` (required), `CCFEED_BENCH_TENANT` (default `demo`),
//! `CCFEED_BENCH_PAGE` (rows per page, default 5000), `CCFEED_BENCH_RUNS` (default 3;
//! the best run is reported), `CCFEED_BENCH_GZIP` (default 1; 0 skips the gzip loop),
//! `CCFEED_BENCH_ORDER` (`key`, the default: the primary-key index
//! then a rowid lookup per row, ccfeed's order with `$orderby=id`; `rowid`: the table's
//! physical order; `time`: the `(tenant_id, started_at_utc, id)` index, ccfeed's order
//! of an unfiltered pull without `$orderby`), `CCFEED_BENCH_PRAGMA` (extra
//! SQL run after the connection's own pragmas, e.g. `PRAGMA mmap_size = 1073741824`),
//! `CCFEED_BENCH_NOMUTEX=1` (open with `SQLITE_OPEN_NOMUTEX`: no per-call mutex) —
//! what-ifs for the suggestions in benches/RESULTS-draft.md.
//! Prints a human line per variant and one `raw_limit_json: {...}` line for scripts.

use std::ffi::{CStr, CString, c_int};
use std::io::Write;
use std::time::Instant;

use libsqlite3_sys as ffi;

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Int,
    Bool,
}

/// The Calls properties in `$metadata` order: (property, column, kind). Timestamps
/// are stored as text in their final form (UTC `...Z`, local `...+hh:mm`).
const COLUMNS: &[(&str, &str, Kind)] = &[
    ("id", "id", Kind::Text),
    ("businessUnitId", "business_unit_id", Kind::Text),
    ("channelId", "channel_id", Kind::Text),
    ("channelPhoneNumber", "channel_phone_number", Kind::Text),
    ("channelType", "channel_type", Kind::Text),
    (
        "conversationEndedReason",
        "conversation_ended_reason",
        Kind::Text,
    ),
    ("customerFirstName", "customer_first_name", Kind::Text),
    ("customerId", "customer_id", Kind::Text),
    ("customerLastName", "customer_last_name", Kind::Text),
    ("customerPhoneNumber", "customer_phone_number", Kind::Text),
    ("customerJoinedAtUtc", "customer_joined_at_utc", Kind::Text),
    ("customerJoinedAt", "customer_joined_at", Kind::Text),
    ("customerRingDuration", "customer_ring_duration", Kind::Int),
    ("durationInSeconds", "duration_in_seconds", Kind::Int),
    ("startedAtUtc", "started_at_utc", Kind::Text),
    ("startedAt", "started_at", Kind::Text),
    ("endedAtUtc", "ended_at_utc", Kind::Text),
    ("endedAt", "ended_at", Kind::Text),
    ("holdCount", "hold_count", Kind::Int),
    (
        "holdDurationInSeconds",
        "hold_duration_in_seconds",
        Kind::Int,
    ),
    ("isChannelClosed", "is_channel_closed", Kind::Int),
    ("isChannelOpen", "is_channel_open", Kind::Int),
    ("isConsult", "is_consult", Kind::Bool),
    ("isOutbound", "is_outbound", Kind::Bool),
    ("nextConversationId", "next_conversation_id", Kind::Text),
    ("openingCheckResult", "opening_check_result", Kind::Text),
    ("transferInitiatedBy", "transfer_initiated_by", Kind::Text),
    (
        "transferToExternalDestinationPhoneNumber",
        "transfer_to_external_destination_phone_number",
        Kind::Text,
    ),
];

/// A sink that only counts.
#[derive(Default)]
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The same escaping as the server's JSON writer.
use ccfeed::http::json::write_str_bytes as write_str;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

struct Db(*mut ffi::sqlite3);

impl Drop for Db {
    fn drop(&mut self) {
        unsafe { ffi::sqlite3_close(self.0) };
    }
}

fn check(db: *mut ffi::sqlite3, rc: c_int, what: &str) -> Result<(), String> {
    if rc == ffi::SQLITE_OK {
        return Ok(());
    }
    let msg = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) };
    Err(format!("{what}: {}", msg.to_string_lossy()))
}

struct Outcome {
    rows: u64,
    bytes: u64,
    out_bytes: u64,
    secs: f64,
    cpu: f64,
}

/// One pass over every row: JSON into a 64 KiB buffer, drained into `sink`.
fn pass<W: Write>(db: &Db, tenant: &str, page: u64, sink: &mut W) -> Result<(u64, u64), String> {
    let cols: Vec<String> = COLUMNS.iter().map(|c| format!("\"{}\"", c.1)).collect();
    let order = match std::env::var("CCFEED_BENCH_ORDER").as_deref() {
        Ok("rowid") => "\"calls\".rowid",
        Ok("time") => "\"tenant_id\", \"started_at_utc\", \"id\"",
        _ => "\"tenant_id\", \"id\"",
    };
    let sql = CString::new(format!(
        "SELECT {} FROM \"calls\" WHERE \"tenant_id\" = ?1 ORDER BY {order}",
        cols.join(", ")
    ))
    .map_err(|e| e.to_string())?;
    let mut stmt: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
    unsafe {
        check(
            db.0,
            ffi::sqlite3_prepare_v2(db.0, sql.as_ptr(), -1, &mut stmt, std::ptr::null_mut()),
            "prepare",
        )?;
        let t = CString::new(tenant).map_err(|e| e.to_string())?;
        check(
            db.0,
            ffi::sqlite3_bind_text(stmt, 1, t.as_ptr(), -1, ffi::SQLITE_TRANSIENT()),
            "bind",
        )?;
    }
    let keys: Vec<Vec<u8>> = COLUMNS
        .iter()
        .map(|c| {
            let mut k = Vec::new();
            write_str(&mut k, c.0.as_bytes());
            k.push(b':');
            k
        })
        .collect();
    let context =
        b"{\"@odata.context\":\"http://127.0.0.1:8080/odata/$metadata#Calls\",\"value\":[";
    // A nextLink as long as ccfeed's (base64 JSON of the last key).
    let next_prefix = b"],\"@odata.nextLink\":\"http://127.0.0.1:8080/odata/Calls?$skiptoken=";
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024 + 8192);
    let mut bytes = 0u64;
    let mut rows = 0u64;
    let mut in_page = 0u64;
    let mut last_id: Vec<u8> = Vec::new();
    out.extend_from_slice(context);
    loop {
        let rc = unsafe { ffi::sqlite3_step(stmt) };
        if rc == ffi::SQLITE_DONE {
            break;
        }
        if rc != ffi::SQLITE_ROW {
            unsafe { ffi::sqlite3_finalize(stmt) };
            return Err(format!("step: rc {rc}"));
        }
        if in_page == page {
            out.extend_from_slice(next_prefix);
            // ~ base64 of ["demo|$0.0+","<id>"]
            out.extend_from_slice(b"WyJkZW1vfCQwLjArIiwi");
            out.extend_from_slice(&last_id);
            out.extend_from_slice(b"Il0\"}");
            out.extend_from_slice(context);
            in_page = 0;
        }
        if in_page > 0 {
            out.push(b',');
        }
        out.push(b'{');
        for (i, (key, col)) in keys.iter().zip(COLUMNS).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key);
            let ci = i as c_int;
            unsafe {
                if ffi::sqlite3_column_type(stmt, ci) == ffi::SQLITE_NULL {
                    out.extend_from_slice(b"null");
                    continue;
                }
                match col.2 {
                    Kind::Text => {
                        let p = ffi::sqlite3_column_text(stmt, ci);
                        let n = ffi::sqlite3_column_bytes(stmt, ci) as usize;
                        let s = std::slice::from_raw_parts(p, n);
                        if i == 0 {
                            last_id.clear();
                            last_id.extend_from_slice(s);
                        }
                        write_str(&mut out, s);
                    }
                    Kind::Int => {
                        let v = ffi::sqlite3_column_int64(stmt, ci);
                        out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
                    }
                    Kind::Bool => {
                        let v = ffi::sqlite3_column_int64(stmt, ci);
                        out.extend_from_slice(if v != 0 { b"true" } else { b"false" });
                    }
                }
            }
        }
        out.push(b'}');
        rows += 1;
        in_page += 1;
        if out.len() >= 64 * 1024 {
            bytes += out.len() as u64;
            sink.write_all(&out).map_err(|e| e.to_string())?;
            out.clear();
        }
    }
    out.extend_from_slice(b"]}");
    bytes += out.len() as u64;
    sink.write_all(&out).map_err(|e| e.to_string())?;
    unsafe { ffi::sqlite3_finalize(stmt) };
    Ok((rows, bytes))
}

fn measure(db: &Db, tenant: &str, page: u64, gzip: bool) -> Result<Outcome, String> {
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let (rows, bytes, out_bytes) = if gzip {
        let mut enc =
            flate2::write::GzEncoder::new(Counter::default(), flate2::Compression::fast());
        let (rows, bytes) = pass(db, tenant, page, &mut enc)?;
        let c = enc.finish().map_err(|e| e.to_string())?;
        (rows, bytes, c.0)
    } else {
        let mut c = Counter::default();
        let (rows, bytes) = pass(db, tenant, page, &mut c)?;
        (rows, bytes, c.0)
    };
    Ok(Outcome {
        rows,
        bytes,
        out_bytes,
        secs: t0.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - cpu0,
    })
}

fn main() -> Result<(), String> {
    let Ok(path) = std::env::var("CCFEED_BENCH_DB") else {
        println!("raw_limit: set CCFEED_BENCH_DB to a ccfeed SQLite file (see benches/compare.sh)");
        return Ok(());
    };
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let tenant = env("CCFEED_BENCH_TENANT", "demo");
    let page: u64 = env("CCFEED_BENCH_PAGE", "5000")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let runs: usize = env("CCFEED_BENCH_RUNS", "3")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let gzip = env("CCFEED_BENCH_GZIP", "1") != "0";
    let cpath = CString::new(path.clone()).map_err(|e| e.to_string())?;
    let mut raw: *mut ffi::sqlite3 = std::ptr::null_mut();
    let rc = unsafe {
        ffi::sqlite3_open_v2(
            cpath.as_ptr(),
            &mut raw,
            ffi::SQLITE_OPEN_READONLY
                | if env("CCFEED_BENCH_NOMUTEX", "0") == "1" {
                    ffi::SQLITE_OPEN_NOMUTEX
                } else {
                    0
                },
            std::ptr::null(),
        )
    };
    let db = Db(raw);
    check(db.0, rc, &path)?;
    // The same page cache size as ccfeed's connections (PRAGMA cache_size = -32000).
    let pragma = CString::new("PRAGMA cache_size = -32000").unwrap();
    check(
        db.0,
        unsafe {
            ffi::sqlite3_exec(
                db.0,
                pragma.as_ptr(),
                None,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        },
        "pragma",
    )?;
    let extra = env("CCFEED_BENCH_PRAGMA", "");
    if !extra.is_empty() {
        let sql = CString::new(extra.clone()).map_err(|e| e.to_string())?;
        check(
            db.0,
            unsafe {
                ffi::sqlite3_exec(
                    db.0,
                    sql.as_ptr(),
                    None,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            },
            &extra,
        )?;
    }
    let mut report = serde_json::Map::new();
    report.insert("db".into(), path.clone().into());
    for (label, gz) in [("json", false), ("json+gzip", true)] {
        if gz && !gzip {
            continue;
        }
        let mut best: Option<Outcome> = None;
        for _ in 0..runs.max(1) {
            let o = measure(&db, &tenant, page, gz)?;
            if best.as_ref().is_none_or(|b| o.secs < b.secs) {
                best = Some(o);
            }
        }
        let o = best.unwrap();
        println!(
            "raw limit ({label}) {path}: {} rows, {:.2} s, {:.0} rows/s, {:.1} MB/s JSON, {:.0} MB out, CPU {:.2} s (best of {runs})",
            o.rows,
            o.secs,
            o.rows as f64 / o.secs,
            o.bytes as f64 / 1e6 / o.secs,
            o.out_bytes as f64 / 1e6,
            o.cpu
        );
        report.insert(
            label.replace('+', "_"),
            serde_json::json!({
                "rows": o.rows,
                "secs": o.secs,
                "rows_per_s": o.rows as f64 / o.secs,
                "json_bytes": o.bytes,
                "out_bytes": o.out_bytes,
                "json_mb_per_s": o.bytes as f64 / 1e6 / o.secs,
                "cpu_s": o.cpu,
            }),
        );
    }
    println!("raw_limit_json: {}", serde_json::Value::Object(report));
    Ok(())
}
