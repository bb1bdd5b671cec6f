//! What reading rows from PostgreSQL costs the reading process, by driver: the pull's
//! SELECT (every column of `calls` but the tenant, in paging order, unpaged) read to
//! the last cell, each cell's bytes touched, nothing else done with them. The reason
//! `store/wire.rs` exists: libpq copies every value into a result of its own.
//!
//! - `diesel`: Diesel's row-by-row loading mode (libpq single-row mode), as the store
//!   reads inside a transaction;
//! - `chunked`: libpq 18's chunked-rows mode (`PQsetChunkedRowsMode`, 1,000 rows per
//!   result), which Diesel does not offer; called through `pq-sys`;
//! - `wire`: `tokio-postgres` on a current-thread runtime, one `block_on` for the
//!   statement, prepared, binary results, as the store's wire reader.
//!
//! Rounds alternate the three; per mode it prints wall time and the process's CPU
//! (utime + stime) of each round and their medians. All three connect as the URL says
//! (libpq's default `sslmode=prefer` is TLS when the server offers it, as Debian's
//! PostgreSQL does; add `?sslmode=disable` for plain TCP).
//!
//! `CCFEED_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/ccfeed_bench_1000000
//! cargo bench --bench pg_read` (a database `benches/compare.sh` or
//! `benches/load_peer_calls.sh` loaded); `CCFEED_BENCH_ROUNDS` (default 3),
//! `CCFEED_BENCH_TENANT` (default `demo`).

use std::ffi::{CStr, CString};
use std::time::Instant;

use diesel::connection::LoadConnection;
use diesel::pg::{PgConnection, PgRowByRowLoadingMode};
use diesel::row::{Field, Row};
use diesel::{Connection, RunQueryDsl};
use futures_util::TryStreamExt;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Rows read and bytes of their non-null cells.
type Read = (u64, u64);

fn diesel_rows(url: &str, sql: &str, tenant: &str) -> Read {
    let mut conn = PgConnection::establish(url).expect("connect");
    let query = diesel::sql_query(sql).bind::<diesel::sql_types::Text, _>(tenant);
    let cursor = LoadConnection::<PgRowByRowLoadingMode>::load(&mut conn, query).expect("query");
    let (mut rows, mut bytes) = (0, 0);
    for row in cursor {
        let row = row.expect("row");
        for i in 0..row.field_count() {
            if let Some(v) = row.get(i).as_ref().and_then(Field::value) {
                bytes += v.as_bytes().len() as u64;
            }
        }
        rows += 1;
    }
    let _ = diesel::sql_query("SELECT 1").execute(&mut conn);
    (rows, bytes)
}

fn chunked_rows(url: &str, sql: &str, tenant: &str) -> Read {
    let url = CString::new(url).expect("url");
    let sql = CString::new(sql).expect("sql");
    let tenant = CString::new(tenant).expect("tenant");
    let (mut rows, mut bytes) = (0, 0);
    // SAFETY: libpq's documented call sequence on one connection owned by this
    // function; every result is cleared, the connection finished, and values are
    // only read within their result's lifetime and bounds (PQntuples, PQnfields).
    unsafe {
        use pq_sys::*;
        let conn = PQconnectdb(url.as_ptr());
        assert_eq!(PQstatus(conn), ConnStatusType::CONNECTION_OK, "connect");
        let values = [tenant.as_ptr()];
        let sent = PQsendQueryParams(
            conn,
            sql.as_ptr(),
            1,
            std::ptr::null(),
            values.as_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            1,
        );
        assert_eq!(sent, 1, "send");
        assert_eq!(PQsetChunkedRowsMode(conn, 1000), 1, "chunked rows mode");
        loop {
            let result = PQgetResult(conn);
            if result.is_null() {
                break;
            }
            let status = PQresultStatus(result);
            if status != ExecStatusType::PGRES_TUPLES_CHUNK
                && status != ExecStatusType::PGRES_TUPLES_OK
            {
                let message = CStr::from_ptr(PQresultErrorMessage(result));
                panic!("{status:?}: {message:?}");
            }
            let (n, fields) = (PQntuples(result), PQnfields(result));
            for row in 0..n {
                for field in 0..fields {
                    if PQgetisnull(result, row, field) == 0 {
                        let _value = PQgetvalue(result, row, field);
                        bytes += PQgetlength(result, row, field) as u64;
                    }
                }
                rows += 1;
            }
            PQclear(result);
        }
        PQfinish(conn);
    }
    (rows, bytes)
}

struct Raw<'a>(&'a [u8]);

impl<'a> tokio_postgres::types::FromSql<'a> for Raw<'a> {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Raw<'a>, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }
    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Connects as the store's reader does: TLS when the URL's `sslmode` (libpq's default
/// `prefer` included) and the server agree, the certificate not checked.
fn connect(rt: &tokio::runtime::Runtime, url: &str) -> tokio_postgres::Client {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
    let mut tls = SslConnector::builder(SslMethod::tls_client()).expect("TLS");
    tls.set_verify(SslVerifyMode::NONE);
    let tls = postgres_openssl::MakeTlsConnector::new(tls.build());
    let (client, connection) = rt
        .block_on(tokio_postgres::connect(url, tls))
        .expect("connect");
    rt.spawn(connection);
    client
}

fn wire_rows(url: &str, sql: &str, tenant: &str) -> Read {
    let rt = runtime();
    let client = connect(&rt, url);
    rt.block_on(async {
        let statement = client.prepare(sql).await.expect("prepare");
        let stream = client.query_raw(&statement, [tenant]).await.expect("query");
        let mut stream = std::pin::pin!(stream);
        let (mut rows, mut bytes) = (0, 0);
        while let Some(row) = stream.try_next().await.expect("row") {
            for i in 0..row.len() {
                if let Some(Raw(b)) = row.try_get::<_, Option<Raw<'_>>>(i).expect("cell") {
                    bytes += b.len() as u64;
                }
            }
            rows += 1;
        }
        (rows, bytes)
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let Ok(url) = std::env::var("CCFEED_BENCH_PG_URL") else {
        eprintln!(
            "pg_read: set CCFEED_BENCH_PG_URL to a database benches/load_peer_calls.sh loaded"
        );
        return;
    };
    let rounds: usize = std::env::var("CCFEED_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let tenant = std::env::var("CCFEED_BENCH_TENANT").unwrap_or_else(|_| "demo".into());
    let rt = runtime();
    let client = connect(&rt, &url);
    let columns: String = rt
        .block_on(client.query_one(
            "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) \
             FROM information_schema.columns WHERE table_name = 'calls' AND column_name <> 'tenant_id'",
            &[],
        ))
        .expect("columns")
        .get(0);
    drop(client);
    let sql =
        format!("SELECT {columns} FROM calls WHERE tenant_id = $1 ORDER BY started_at_utc, id");
    type Reader = fn(&str, &str, &str) -> Read;
    let modes: [(&str, Reader); 3] = [
        ("diesel", diesel_rows),
        ("chunked", chunked_rows),
        ("wire", wire_rows),
    ];
    let mut times: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); modes.len()];
    for round in 0..rounds {
        for k in 0..modes.len() {
            // Rotate the order each round so drift hits every mode alike.
            let i = (k + round) % modes.len();
            let (name, read) = modes[i];
            let (cpu0, t0) = (cpu_seconds(), Instant::now());
            let (rows, bytes) = read(&url, &sql, &tenant);
            let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
            println!(
                "round {} {name}: {rows} rows, {bytes} bytes, wall {wall:.2} s, CPU {cpu:.2} s",
                round + 1
            );
            times[i].0.push(wall);
            times[i].1.push(cpu);
        }
    }
    for ((name, _), (walls, cpus)) in modes.iter().zip(times) {
        println!(
            "median {name}: wall {:.2} s, CPU {:.2} s",
            median(walls),
            median(cpus)
        );
    }
}
