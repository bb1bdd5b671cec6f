//! The scheduled jobs, black-box on SQLite and PostgreSQL: the lookup refresh (what a
//! document changes, that every failure changes nothing, that readers never see half a
//! refresh), the scheduler driven by a fake clock (one run per slot and tenant, also
//! with two servers on one database, retries with backoff), the retention purge (the
//! cutoff per rule kind, dry runs, chunks, tenant isolation, a killed purge that the
//! next run finishes, readers served during a purge), and the admin endpoints and
//! command line that run them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration as StdDuration, Instant};

use ccfeed::config::Settings;
use ccfeed::edm::Model;
use ccfeed::jobs::purge::{self, Rule};
use ccfeed::jobs::refresh::{self, RefreshError, RefreshSettings, SetChanges};
use ccfeed::jobs::schedule::{Clock, Ran, ScheduleSettings, Scheduler};
use ccfeed::jobs::{self, Job};
use ccfeed::store::tenants::{self, Role, Tenant};
use ccfeed::store::{self, ColumnKind, Db, parse_instant};
use ccfeed::store::{query, stmt};
use chrono::{DateTime, Duration, Utc};
use common::*;
use diesel::{Connection, RunQueryDsl};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

fn ms(n: i64) -> Duration {
    Duration::milliseconds(n)
}

/// A PostgreSQL database that exists for one test.
struct PgGuard {
    admin_url: String,
    name: String,
}

impl Drop for PgGuard {
    fn drop(&mut self) {
        if let Ok(mut conn) = diesel::PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

/// A fresh database whose target (file path or URL) is known, so a second pool (a
/// second "server") can open it too.
struct TempDb {
    db: Db,
    target: String,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgGuard>,
}

fn pg_url(admin_url: &str, name: &str) -> String {
    let (base, q) = admin_url
        .split_once('?')
        .map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
    match q {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

fn temp_db(backend: Backend) -> Option<TempDb> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let target = dir
                .path()
                .join("jobs.db")
                .to_str()
                .expect("utf-8 path")
                .to_string();
            let db = Db::open(&target, 4).expect("open sqlite");
            Some(TempDb {
                db,
                target,
                _dir: Some(dir),
                _pg: None,
            })
        }
        Backend::Postgres => {
            let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
                eprintln!(
                    "note: skipping the PostgreSQL variant: set {POSTGRES_ENV} to an admin URL to run it"
                );
                return None;
            };
            let name = format!(
                "ccfeed_jobs_{}_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed),
                Utc::now().timestamp_subsec_nanos()
            );
            let mut admin =
                diesel::PgConnection::establish(&admin_url).expect("connect to the admin URL");
            diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                .execute(&mut admin)
                .expect("create database");
            let guard = PgGuard {
                admin_url: admin_url.clone(),
                name: name.clone(),
            };
            let target = pg_url(&admin_url, &name);
            let db = Db::open(&target, 4).expect("open postgres");
            Some(TempDb {
                db,
                target,
                _dir: None,
                _pg: Some(guard),
            })
        }
    }
}

fn add_tenant(
    db: &Db,
    id: &str,
    time_zone: &str,
    retention_days: i64,
    source: Option<&str>,
) -> Tenant {
    let mut conn = db.get().expect("conn");
    store::ensure_tenant(&mut conn, id, id, time_zone).expect("tenant");
    tenants::update_tenant(&mut conn, id, None, Some(retention_days), source).expect("update")
}

fn set_source(db: &Db, id: &str, source: &str) -> Tenant {
    let mut conn = db.get().expect("conn");
    tenants::update_tenant(&mut conn, id, None, None, Some(source)).expect("set source")
}

fn find(db: &Db, id: &str) -> Tenant {
    let mut conn = db.get().expect("conn");
    tenants::find_tenant(&mut conn, id)
        .expect("find")
        .expect("tenant exists")
}

fn key(db: &Db, tenant: &str, role: Role) -> String {
    let mut conn = db.get().expect("conn");
    tenants::create_key(&mut conn, tenant, role, "jobs test")
        .expect("key")
        .1
}

fn text_binds(args: &[&str]) -> Vec<(store::Value, ColumnKind)> {
    args.iter()
        .map(|a| (store::Value::Text(a.to_string()), ColumnKind::Text))
        .collect()
}

/// One integer from SQL with `?` placeholders bound to `args`.
fn count(db: &Db, sql: &str, args: &[&str]) -> i64 {
    let mut conn = db.get().expect("conn");
    let s = stmt(&conn, sql, text_binds(args));
    match &query(&mut conn, &s, &[ColumnKind::Int64]).expect(sql)[0][0] {
        store::Value::Int(n) => *n,
        other => panic!("{sql}: {other:?}"),
    }
}

fn job_runs(db: &Db, job: &str, tenant: &str, outcome: &str) -> i64 {
    count(
        db,
        "SELECT COUNT(*) FROM job_runs WHERE job = ? AND tenant_id = ? AND outcome = ?",
        &[job, tenant, outcome],
    )
}

fn history(db: &Db, job: Job, tenant: &str) -> Vec<jobs::JobRun> {
    let mut conn = db.get().expect("conn");
    let tenant = find(db, tenant);
    jobs::history(&mut conn, job, &tenant, 100).expect("history")
}

/// Every row of a set (of one tenant, or all), every column, in key order.
fn dump(db: &Db, model: &Model, set_name: &str, tenant: Option<&str>) -> Vec<Vec<String>> {
    let set = model.entity_set(set_name).expect("set");
    let mut conn = db.get().expect("conn");
    let columns: Vec<String> = set
        .properties
        .iter()
        .map(|p| format!("\"{}\"", p.column))
        .collect();
    let mut kinds = vec![ColumnKind::Text];
    kinds.extend(set.properties.iter().map(ColumnKind::of));
    let (filter, binds) = match tenant {
        Some(t) => ("WHERE tenant_id = ?", text_binds(&[t])),
        None => ("", Vec::new()),
    };
    let s = stmt(
        &conn,
        &format!(
            "SELECT tenant_id, {} FROM \"{}\" {filter} ORDER BY tenant_id, \"{}\"",
            columns.join(", "),
            set.table,
            set.key_property().column
        ),
        binds,
    );
    query(&mut conn, &s, &kinds)
        .expect("dump")
        .iter()
        .map(|r| r.iter().map(|v| format!("{v:?}")).collect())
        .collect()
}

/// All lookup tables, all tenants.
fn lookups(db: &Db, model: &Model) -> BTreeMap<String, Vec<Vec<String>>> {
    model
        .entity_sets()
        .iter()
        .filter(|s| s.is_lookup())
        .map(|s| (s.name.clone(), dump(db, model, &s.name, None)))
        .collect()
}

/// All tables of one tenant.
fn all_rows(db: &Db, model: &Model, tenant: &str) -> BTreeMap<String, Vec<Vec<String>>> {
    model
        .entity_sets()
        .iter()
        .map(|s| (s.name.clone(), dump(db, model, &s.name, Some(tenant))))
        .collect()
}

fn ids(db: &Db, model: &Model, set_name: &str, tenant: &str) -> BTreeSet<String> {
    let set = model.entity_set(set_name).expect("set");
    let mut conn = db.get().expect("conn");
    let s = stmt(
        &conn,
        &format!(
            "SELECT \"{}\" FROM \"{}\" WHERE tenant_id = ?",
            set.key_property().column,
            set.table
        ),
        text_binds(&[tenant]),
    );
    query(&mut conn, &s, &[ColumnKind::Text])
        .expect("ids")
        .iter()
        .map(|r| ccfeed::store::text(&r[0]))
        .collect()
}

fn opt_text(v: &store::Value) -> Option<String> {
    match v {
        store::Value::Null => None,
        store::Value::Text(s) => Some(s.clone()),
        other => panic!("not text: {other:?}"),
    }
}

fn opt_instant(v: &store::Value) -> Option<DateTime<Utc>> {
    match v {
        store::Value::Null => None,
        store::Value::Instant(t) => Some(*t),
        store::Value::Text(s) => Some(parse_instant(s).expect("instant text")),
        other => panic!("not an instant: {other:?}"),
    }
}

type AgentRow = (String, Option<String>, Option<DateTime<Utc>>);

/// A tenant's agents: id → (name, customId, deletedAt).
fn agents_of(db: &Db, tenant: &str) -> BTreeMap<String, AgentRow> {
    let mut conn = db.get().expect("conn");
    let s = stmt(
        &conn,
        "SELECT id, name, custom_id, deleted_at FROM agents WHERE tenant_id = ?",
        text_binds(&[tenant]),
    );
    let kinds = [
        ColumnKind::Text,
        ColumnKind::Text,
        ColumnKind::Text,
        ColumnKind::Instant,
    ];
    query(&mut conn, &s, &kinds)
        .expect("agents")
        .iter()
        .map(|r| {
            (
                ccfeed::store::text(&r[0]),
                (
                    ccfeed::store::text(&r[1]),
                    opt_text(&r[2]),
                    opt_instant(&r[3]),
                ),
            )
        })
        .collect()
}

fn agent(name: &str, custom: Option<&str>, deleted: Option<DateTime<Utc>>) -> AgentRow {
    (name.to_string(), custom.map(str::to_string), deleted)
}

fn changes(added: u64, changed: u64, deleted: u64, restored: u64, unchanged: u64) -> SetChanges {
    SetChanges {
        added,
        changed,
        deleted,
        restored,
        unchanged,
    }
}

fn report(sets: &[(&str, SetChanges)]) -> BTreeMap<String, SetChanges> {
    sets.iter()
        .map(|(n, c)| (n.to_string(), c.clone()))
        .collect()
}

/// Agents a{i:02} named `{prefix}{i:02}`.
fn agent_docs(prefix: &str, range: impl IntoIterator<Item = usize>) -> Vec<Value> {
    range
        .into_iter()
        .map(|i| json!({ "id": format!("a{i:02}"), "name": format!("{prefix}{i:02}") }))
        .collect()
}

fn queue_docs(range: impl IntoIterator<Item = usize>) -> Vec<Value> {
    range
        .into_iter()
        .map(|i| {
            json!({ "id": format!("q{i:02}"), "name": format!("Queue {i}"),
                    "channelId": "c1", "routingMode": "Automatic" })
        })
        .collect()
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write document");
    path.to_str().expect("utf-8 path").to_string()
}

fn write_doc(dir: &Path, name: &str, doc: &Value) -> String {
    write_file(dir, name, &serde_json::to_vec(doc).expect("json"))
}

/// A tiny HTTP server: each path answers with its status and body; others 404.
fn stub_server(routes: Vec<(&'static str, u16, String)>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&head);
            let path = text.split(' ').nth(1).unwrap_or("/").to_string();
            let (status, body) = routes
                .iter()
                .find(|(p, ..)| *p == path)
                .map(|(_, s, b)| (*s, b.clone()))
                .unwrap_or((404, "no such document".into()));
            let reason = match status {
                200 => "OK",
                302 => "Found",
                404 => "Not Found",
                _ => "Internal Server Error",
            };
            // A redirect's body is where it points.
            let location = if (300..400).contains(&status) {
                format!("Location: {body}\r\n")
            } else {
                String::new()
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} {reason}\r\n{location}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// A local port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            std::str::from_utf8(&data[..end])
                .expect("size")
                .split(';')
                .next()
                .unwrap_or("")
                .trim(),
            16,
        )
        .expect("hex size");
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

/// A request with an optional Bearer key and no body.
fn request(addr: SocketAddr, method: &str, path: &str, key: Option<&str>) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(StdDuration::from_secs(60)))
        .expect("timeout");
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n{auth}\r\n"
    )
    .expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(&raw[end + 4..])
    } else {
        raw[end + 4..].to_vec()
    };
    Response {
        status,
        headers,
        body,
        wire_bytes: raw.len(),
    }
}

fn get(app: &TestApp, path: &str, key: &str) -> Response {
    app.get_with(path, &[("Authorization", &format!("Bearer {key}"))])
}

fn error_code(r: &Response) -> String {
    r.json()["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {}", r.text()))
        .to_string()
}

/// The test's clock.
#[derive(Clone)]
struct FakeClock(Arc<Mutex<DateTime<Utc>>>);

impl FakeClock {
    fn at(s: &str) -> FakeClock {
        FakeClock(Arc::new(Mutex::new(t(s))))
    }
    fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().expect("clock") = to;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock")
    }
}

fn scheduler(db: &Db, clock: &FakeClock, settings: ScheduleSettings) -> Scheduler {
    Scheduler::new(
        db.clone(),
        Arc::new(Model::load().expect("model")),
        settings,
        Arc::new(clock.clone()),
    )
}

/// What a tick ran, sorted: (job, tenant, ok).
fn ran(list: &[Ran]) -> Vec<(&'static str, String, bool)> {
    let mut out: Vec<_> = list
        .iter()
        .map(|r| (r.job.as_str(), r.tenant.clone(), r.ok))
        .collect();
    out.sort();
    out
}

fn runs(items: &[(&'static str, &str)]) -> Vec<(&'static str, String, bool)> {
    let mut out: Vec<_> = items
        .iter()
        .map(|(j, t)| (*j, t.to_string(), true))
        .collect();
    out.sort();
    out
}

// ---------------------------------------------------------------------------------
// Lookup refresh
// ---------------------------------------------------------------------------------

both_backends!(refresh_adds_changes_deletes_and_restores, |backend| {
    let Some(app) = TestApp::start(backend, Settings::default(), |db, model| {
        // The other tenant has agents with the same ids; no refresh of t1 touches them.
        write(db, model, OTHER_TENANT, "Agents", 3, |i, p| match p {
            "id" => Some(store::Value::Text(format!("a{}", i + 1))),
            "deletedAt" => Some(store::Value::Null),
            _ => None,
        });
        add_tenant(db, TENANT, "UTC", 395, None);
    }) else {
        return;
    };
    let (db, model) = (&app.db, &*app.model);
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = RefreshSettings::default();
    let other_before = all_rows(db, model, OTHER_TENANT);
    let read = key(db, TENANT, Role::Read);

    // 1. A first document adds everything.
    let doc1 = json!({
        "Agents": [
            { "id": "a1", "name": "Ada", "customId": "007" },
            { "id": "a2", "name": "Bob" },
            { "id": "a3", "name": "Cy", "customId": null }
        ],
        "Queues": [ { "id": "q1", "name": "Billing", "channelId": "c1", "routingMode": "Automatic" } ]
    });
    let tenant = set_source(db, TENANT, &write_doc(dir.path(), "1.json", &doc1));
    let now1 = t("2026-03-01T00:00:00Z");
    let r1 = refresh::run(db, model, &tenant, now1, &settings).expect("first refresh");
    assert_eq!(
        r1,
        report(&[
            ("Agents", changes(3, 0, 0, 0, 0)),
            ("Queues", changes(1, 0, 0, 0, 0))
        ])
    );
    assert_eq!(
        agents_of(db, TENANT),
        BTreeMap::from([
            ("a1".into(), agent("Ada", Some("007"), None)),
            ("a2".into(), agent("Bob", None, None)),
            ("a3".into(), agent("Cy", None, None)),
        ])
    );
    let queues = dump(db, model, "Queues", Some(TENANT));
    assert_eq!(queues.len(), 1);

    // 2. One changed, one unchanged (a deletedAt in the source is ignored), one gone
    // (kept, marked deleted at the refresh time); Queues left out: untouched.
    let doc2 = json!({
        "Agents": [
            { "id": "a1", "name": "Ada Lovelace", "customId": "007" },
            { "id": "a2", "name": "Bob", "deletedAt": "2020-01-01T00:00:00Z" }
        ]
    });
    let tenant = set_source(db, TENANT, &write_doc(dir.path(), "2.json", &doc2));
    let now2 = t("2026-03-02T00:00:00Z");
    let r2 = refresh::run(db, model, &tenant, now2, &settings).expect("second refresh");
    assert_eq!(r2, report(&[("Agents", changes(0, 1, 1, 0, 1))]));
    assert_eq!(
        agents_of(db, TENANT),
        BTreeMap::from([
            ("a1".into(), agent("Ada Lovelace", Some("007"), None)),
            ("a2".into(), agent("Bob", None, None)),
            ("a3".into(), agent("Cy", None, Some(now2))),
        ])
    );
    assert_eq!(dump(db, model, "Queues", Some(TENANT)), queues);

    // The feed shows it.
    let feed = get(&app, "/odata/Agents?$orderby=id", &read);
    assert_eq!(feed.status, 200, "{}", feed.text());
    let rows = feed.json()["value"].as_array().expect("value").clone();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0]["name"], "Ada Lovelace");
    assert_eq!(rows[0]["deletedAt"], Value::Null);
    assert_eq!(rows[1]["deletedAt"], Value::Null);
    assert_eq!(
        rows[2]["deletedAt"].as_str().and_then(parse_instant),
        Some(now2),
        "{:?}",
        rows[2]
    );
    let feed = get(&app, "/odata/Queues", &read).json();
    assert_eq!(feed["value"][0]["name"], "Billing");

    // 2b. Still missing a day later: nothing to do, deletedAt keeps the first time.
    let r2b = refresh::run(db, model, &tenant, now2 + Duration::days(1), &settings)
        .expect("repeated refresh");
    assert_eq!(r2b, report(&[("Agents", changes(0, 0, 0, 0, 2))]));
    assert_eq!(agents_of(db, TENANT)["a3"], agent("Cy", None, Some(now2)));

    // 3. The dropped one comes back: restored (even though the source says deletedAt).
    let doc3 = json!({
        "Agents": [
            { "id": "a1", "name": "Ada Lovelace", "customId": "007" },
            { "id": "a2", "name": "Bob" },
            { "id": "a3", "name": "Cy", "deletedAt": "2026-03-02T00:00:00Z" }
        ]
    });
    let tenant = set_source(db, TENANT, &write_doc(dir.path(), "3.json", &doc3));
    let now3 = t("2026-03-03T00:00:00Z");
    let r3 = refresh::run(db, model, &tenant, now3, &settings).expect("third refresh");
    assert_eq!(r3, report(&[("Agents", changes(0, 0, 0, 1, 2))]));
    assert_eq!(agents_of(db, TENANT)["a3"], agent("Cy", None, None));
    let feed = get(
        &app,
        "/odata/Agents?$filter=id eq 'a3'"
            .replace(' ', "%20")
            .as_str(),
        &read,
    );
    assert_eq!(feed.json()["value"][0]["deletedAt"], Value::Null);

    // History: newest first, counts exactly as reported.
    let h = history(db, Job::Refresh, TENANT);
    assert_eq!(h.len(), 4);
    for (run, expected) in h.iter().zip([&r3, &r2b, &r2, &r1]) {
        assert_eq!(run.outcome, "ok");
        assert_eq!(run.message, "");
        assert_eq!(run.tenant_id, TENANT);
        assert_eq!(run.details, serde_json::to_value(expected).expect("json"));
    }
    assert_eq!(job_runs(db, "refresh", TENANT, "ok"), 4);

    // Sets that are not lookups (or not sets) are refused, and change nothing.
    let before = lookups(db, model);
    let mut conn = db.get().expect("conn");
    for doc in [
        &br#"{"Calls": []}"#[..],
        &br#"{"Agents": [], "Nope": []}"#[..],
    ] {
        match refresh::apply(&mut conn, model, &tenant, doc, now3, &settings) {
            Err(RefreshError::Invalid(m)) => {
                assert!(m.contains("is not a lookup entity set"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
    drop(conn);
    assert_eq!(lookups(db, model), before);
    assert_eq!(all_rows(db, model, OTHER_TENANT), other_before);
});

fn kind(e: &RefreshError) -> &'static str {
    match e {
        RefreshError::NoSource => "no source",
        RefreshError::Source(_) => "source",
        RefreshError::Invalid(_) => "invalid",
        RefreshError::Suspicious(_) => "suspicious",
        RefreshError::Store(_) => "store",
        RefreshError::Busy => "busy",
    }
}

both_backends!(
    refresh_failures_change_nothing_and_are_recorded,
    |backend| {
        let Some(tmp) = temp_db(backend) else {
            return;
        };
        let db = &tmp.db;
        let model = Model::load().expect("model");
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let settings = RefreshSettings {
            http_timeout: StdDuration::from_secs(10),
            ..RefreshSettings::default()
        };
        let now = t("2026-03-01T00:00:00Z");
        let later = t("2026-03-02T00:00:00Z");

        // Both tenants: 30 agents and 12 queues with the same ids.
        let base = json!({ "Agents": agent_docs("Agent ", 0..30), "Queues": queue_docs(0..12) });
        for id in [TENANT, OTHER_TENANT] {
            let tenant = add_tenant(db, id, "UTC", 395, Some(&write_doc(d, "base.json", &base)));
            refresh::run(db, &model, &tenant, now, &settings).expect("base refresh");
        }

        // No source at all.
        let nosrc = add_tenant(db, "nosrc", "UTC", 395, None);
        let e = refresh::run(db, &model, &nosrc, later, &settings).expect_err("no source");
        assert_eq!(kind(&e), "no source");
        assert_eq!(job_runs(db, "refresh", "nosrc", "failed"), 1);

        let with_agent = |extra: Value| {
            let mut a = agent_docs("Agent ", 0..30);
            a.push(extra);
            json!({ "Agents": a })
        };
        let more = json!({ "Agents": agent_docs("Agent ", 0..40) });
        let stub = stub_server(vec![
            ("/500", 500, "{\"error\": \"oops\"}".into()),
            ("/404", 404, "gone".into()),
            ("/more", 200, more.to_string()),
        ]);
        let file = |name: &str, doc: Value| write_doc(d, name, &doc);
        let renamed_plus = agent_docs("Renamed ", 0..35);
        let cases: Vec<(&str, String, &str, &str)> = vec![
            (
                "missing file",
                "/nonexistent/ccfeed/directory.json".into(),
                "source",
                "directory.json",
            ),
            (
                "closed port",
                format!("http://127.0.0.1:{}/directory.json", closed_port()),
                "source",
                "",
            ),
            ("HTTP 500", format!("http://{stub}/500"), "source", "500"),
            ("HTTP 404", format!("http://{stub}/404"), "source", "404"),
            (
                "invalid JSON",
                write_file(d, "bad.json", br#"{"Agents": [{"id": "a00""#),
                "invalid",
                "",
            ),
            (
                "not an object",
                file("array.json", json!([])),
                "invalid",
                "object",
            ),
            (
                "rows not an array",
                file("rows.json", json!({ "Agents": {} })),
                "invalid",
                "array",
            ),
            (
                "wrong type",
                file("type.json", with_agent(json!({ "id": "a99", "name": 5 }))),
                "invalid",
                "name",
            ),
            (
                "unknown property",
                file(
                    "unknown.json",
                    with_agent(json!({ "id": "a99", "name": "N", "nickname": "n" })),
                ),
                "invalid",
                // The unknown name is not quoted (it comes from the fetched document).
                "no such property",
            ),
            (
                "missing id",
                file("noid.json", with_agent(json!({ "name": "No id" }))),
                "invalid",
                "id",
            ),
            (
                "duplicate id",
                file(
                    "dup.json",
                    with_agent(json!({ "id": "a05", "name": "Again" })),
                ),
                "invalid",
                // Rows, not the id: nothing from the fetched document is quoted.
                "same id",
            ),
            (
                "a set that is not a lookup",
                file(
                    "calls.json",
                    json!({ "Agents": agent_docs("Renamed ", 0..30), "Calls": [] }),
                ),
                "invalid",
                "Calls",
            ),
            (
                "a suspicious snapshot",
                file("two.json", json!({ "Agents": agent_docs("Agent ", 0..2) })),
                "suspicious",
                "Agents",
            ),
            (
                "just below the fraction (14 of 30)",
                file(
                    "fourteen.json",
                    json!({ "Agents": agent_docs("Agent ", 0..14) }),
                ),
                "suspicious",
                "Agents",
            ),
            (
                // Agents alone would apply (renames, additions); Queues shrinks: all refused.
                "a suspicious second set",
                file(
                    "second.json",
                    json!({ "Agents": renamed_plus, "Queues": queue_docs(0..1) }),
                ),
                "suspicious",
                "Queues",
            ),
        ];
        for (label, source, expected, fragment) in cases {
            let tenant = set_source(db, TENANT, &source);
            let before = lookups(db, &model);
            let failed_before = job_runs(db, "refresh", TENANT, "failed");
            let e = refresh::run(db, &model, &tenant, later, &settings)
                .expect_err(&format!("{label} must fail"));
            assert_eq!(kind(&e), expected, "{label}: {e}");
            assert!(e.to_string().contains(fragment), "{label}: {e}");
            assert_eq!(
                lookups(db, &model),
                before,
                "{label} changed the lookups: {e}"
            );
            assert_eq!(
                job_runs(db, "refresh", TENANT, "failed"),
                failed_before + 1,
                "{label}"
            );
            let last = &history(db, Job::Refresh, TENANT)[0];
            assert_eq!(
                (last.outcome.as_str(), last.message.as_str()),
                ("failed", e.to_string().as_str()),
                "{label}"
            );
        }
        assert_eq!(job_runs(db, "refresh", TENANT, "ok"), 1);

        // Exactly at the fraction (15 of 30) is accepted.
        let tenant = set_source(
            db,
            TENANT,
            &file(
                "fifteen.json",
                json!({ "Agents": agent_docs("Agent ", 0..15) }),
            ),
        );
        let r = refresh::run(db, &model, &tenant, later, &settings).expect("15 of 30");
        assert_eq!(r, report(&[("Agents", changes(0, 0, 15, 0, 15))]));

        // A document listing MORE is fine (here over HTTP): 15 back, 10 new.
        let tenant = set_source(db, TENANT, &format!("http://{stub}/more"));
        let r = refresh::run(db, &model, &tenant, later, &settings).expect("more");
        assert_eq!(r, report(&[("Agents", changes(10, 0, 0, 15, 15))]));
        let active = agents_of(db, TENANT)
            .values()
            .filter(|a| a.2.is_none())
            .count();
        assert_eq!(active, 40);

        // Below guard_min_rows a set may even be emptied.
        let small = json!({ "Agents": agent_docs("Agent ", 0..9) });
        let tenant = add_tenant(db, "small", "UTC", 395, Some(&file("small.json", small)));
        refresh::run(db, &model, &tenant, now, &settings).expect("small");
        let tenant = set_source(db, "small", &file("empty.json", json!({ "Agents": [] })));
        let r = refresh::run(db, &model, &tenant, later, &settings).expect("emptied");
        assert_eq!(r, report(&[("Agents", changes(0, 0, 9, 0, 0))]));
        // ... and the other tenant never moved.
        let other = agents_of(db, OTHER_TENANT);
        assert_eq!(other.len(), 30);
        assert!(
            other
                .values()
                .all(|a| a.2.is_none() && a.0.starts_with("Agent "))
        );
    }
);

both_backends!(refresh_is_all_or_nothing_for_readers, |backend| {
    let Some(app) = TestApp::start(backend, Settings::default(), |db, _| {
        add_tenant(db, TENANT, "UTC", 395, None);
    }) else {
        return;
    };
    let (db, model) = (&app.db, &*app.model);
    let read = key(db, TENANT, Role::Read);
    let settings = RefreshSettings::default();
    let tenant = find(db, TENANT);
    let doc = |prefix: &str| {
        serde_json::to_vec(&json!({ "Agents": agent_docs(prefix, 0..40) })).expect("json")
    };
    let (a, b) = (doc("A-"), doc("B-"));
    let mut conn = db.get().expect("conn");
    refresh::apply(&mut conn, model, &tenant, &a, Utc::now(), &settings).expect("A");

    let stop = AtomicBool::new(false);
    let reads = AtomicUsize::new(0);
    let (seen, bad, refreshes) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut seen = (0, 0);
            let mut bad = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let r = get(&app, "/odata/Agents?$select=name", &read);
                if r.status != 200 {
                    bad.push(format!("status {}: {}", r.status, r.text()));
                    break;
                }
                let names: Vec<String> = r.json()["value"]
                    .as_array()
                    .expect("value")
                    .iter()
                    .map(|v| v["name"].as_str().unwrap_or("?").to_string())
                    .collect();
                let all_a = names.iter().all(|n| n.starts_with("A-"));
                let all_b = names.iter().all(|n| n.starts_with("B-"));
                if names.len() != 40 || !(all_a || all_b) {
                    bad.push(format!("{names:?}"));
                }
                if all_a {
                    seen.0 += 1;
                } else if all_b {
                    seen.1 += 1;
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
            (seen, bad)
        });
        let started = Instant::now();
        let mut n = 0;
        while n < 20
            || (reads.load(Ordering::Relaxed) < 60 && started.elapsed() < StdDuration::from_secs(8))
        {
            let doc = if n % 2 == 0 { &b } else { &a };
            let r = refresh::apply(&mut conn, model, &tenant, doc, Utc::now(), &settings)
                .expect("refresh");
            assert_eq!(r["Agents"].changed, 40);
            n += 1;
        }
        stop.store(true, Ordering::Relaxed);
        let (seen, bad) = reader.join().expect("reader");
        (seen, bad, n)
    });
    eprintln!(
        "{backend:?}: {refreshes} refreshes, reads all-A {} all-B {}",
        seen.0, seen.1
    );
    assert!(
        bad.is_empty(),
        "mixed or failed reads: {:?}",
        &bad[..bad.len().min(3)]
    );
    assert!(seen.0 + seen.1 >= 10, "too few reads: {seen:?}");
    assert!(
        seen.0 > 0 && seen.1 > 0,
        "never saw both documents: {seen:?}"
    );
});

both_backends!(refresh_from_an_export_changes_nothing, |backend| {
    let Some(tmp) = temp_db(backend) else {
        return;
    };
    let db = &tmp.db;
    let model = Model::load().expect("model");
    add_tenant(db, TENANT, "Europe/Budapest", 395, None);
    // Every lookup set, every property type, awkward text, nulls: what export writes,
    // a refresh reads back as unchanged.
    let lookup_sets: Vec<String> = model
        .entity_sets()
        .iter()
        .filter(|s| s.is_lookup())
        .map(|s| s.name.clone())
        .collect();
    for set in &lookup_sets {
        write(db, &model, TENANT, set, 12, |_, p| {
            (p == "deletedAt").then_some(store::Value::Null)
        });
    }
    let before = lookups(db, &model);
    let mut conn = db.get().expect("conn");
    let doc = refresh::export(&mut conn, &model, &find(db, TENANT)).expect("export");
    let bytes = serde_json::to_vec(&doc).expect("json");
    let tenant = find(db, TENANT);
    let r = refresh::apply(
        &mut conn,
        &model,
        &tenant,
        &bytes,
        t("2026-03-01T00:00:00Z"),
        &RefreshSettings::default(),
    )
    .expect("refresh from the export");
    let expected: BTreeMap<String, SetChanges> = lookup_sets
        .iter()
        .map(|s| (s.clone(), changes(0, 0, 0, 0, 12)))
        .collect();
    assert_eq!(r, expected);
    drop(conn);
    assert_eq!(lookups(db, &model), before);
});

// ---------------------------------------------------------------------------------
// Scheduler
// ---------------------------------------------------------------------------------

both_backends!(scheduler_runs_each_slot_once_per_tenant, |backend| {
    let Some(tmp) = temp_db(backend) else {
        return;
    };
    let db = &tmp.db;
    let dir = tempfile::tempdir().expect("tempdir");
    let src = write_doc(
        dir.path(),
        "d.json",
        &json!({ "Agents": agent_docs("Agent ", 0..3) }),
    );
    add_tenant(db, "alpha", "UTC", 395, Some(&src));
    add_tenant(db, "beta", "Europe/Budapest", 395, Some(&src));
    add_tenant(db, "nosrc", "UTC", 395, None);
    let clock = FakeClock::at("2026-03-27T23:50:00Z");
    let mut s = scheduler(db, &clock, ScheduleSettings::default());

    let refresh = runs(&[("refresh", "alpha"), ("refresh", "beta")]);
    let purge = runs(&[("purge", "alpha"), ("purge", "beta"), ("purge", "nosrc")]);
    let mut catch_up = refresh.clone();
    catch_up.extend(purge.clone());
    catch_up.sort();
    let none = Vec::new();
    // (time, what runs, next wakeup)
    let steps = [
        // The first tick on a fresh database runs the latest past slot of each job
        // (27th 00:00 and 01:00): catching up, not a second run.
        ("2026-03-27T23:50:00Z", &catch_up, "2026-03-28T00:00:00Z"),
        ("2026-03-27T23:50:00Z", &none, "2026-03-28T00:00:00Z"),
        ("2026-03-27T23:59:59.999Z", &none, "2026-03-28T00:00:00Z"),
        ("2026-03-28T00:10:00Z", &refresh, "2026-03-28T01:00:00Z"),
        ("2026-03-28T00:10:00Z", &none, "2026-03-28T01:00:00Z"),
        ("2026-03-28T00:59:59.999Z", &none, "2026-03-28T01:00:00Z"),
        ("2026-03-28T01:05:00Z", &purge, "2026-03-29T00:00:00Z"),
        ("2026-03-28T01:05:00Z", &none, "2026-03-29T00:00:00Z"),
        ("2026-03-28T23:59:00Z", &none, "2026-03-29T00:00:00Z"),
        ("2026-03-29T00:00:00Z", &refresh, "2026-03-29T01:00:00Z"),
        ("2026-03-29T00:30:00Z", &none, "2026-03-29T01:00:00Z"),
    ];
    for (at, expected, wakeup) in steps {
        clock.set(t(at));
        assert_eq!(&ran(&s.tick().expect("tick")), expected, "at {at}");
        assert_eq!(s.next_wakeup(), t(wakeup), "next wakeup after {at}");
    }
    for tenant in ["alpha", "beta"] {
        assert_eq!(job_runs(db, "refresh", tenant, "ok"), 3, "{tenant}");
    }
    for tenant in ["alpha", "beta", "nosrc"] {
        assert_eq!(job_runs(db, "purge", tenant, "ok"), 2, "{tenant}");
    }
    // A tenant without a directory source is never refreshed (not even a failed run).
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM job_runs WHERE job = 'refresh' AND tenant_id = ?",
            &["nosrc"]
        ),
        0
    );
    // A new scheduler (a restart) does not run the claimed slots again.
    let mut restarted = scheduler(db, &clock, ScheduleSettings::default());
    assert_eq!(ran(&restarted.tick().expect("tick")), none);
});

both_backends!(scheduler_retries_failed_refresh_with_backoff, |backend| {
    let Some(tmp) = temp_db(backend) else {
        return;
    };
    let db = &tmp.db;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("later.json");
    add_tenant(db, "flaky", "UTC", 395, path.to_str());
    let clock = FakeClock::at("2026-03-28T00:00:00Z");
    let settings = ScheduleSettings {
        retry_after: Duration::minutes(2),
        max_retries: 3,
        ..ScheduleSettings::default()
    };
    let mut s = scheduler(db, &clock, settings);
    let midnight = t("2026-03-28T00:00:00Z");
    let mut attempts = Vec::new();
    for minute in 0..60 {
        let now = midnight + Duration::minutes(minute);
        clock.set(now);
        for r in s.tick().expect("tick") {
            if r.job == Job::Refresh {
                attempts.push((minute, r.ok, s.next_wakeup() - midnight));
            }
        }
    }
    // Fails at 00:00, retried after 2, 4, 8 minutes, then gives up (max_retries = 3).
    assert_eq!(
        attempts,
        vec![
            (0, false, Duration::minutes(2)),
            (2, false, Duration::minutes(6)),
            (6, false, Duration::minutes(14)),
            (14, false, Duration::minutes(60)), // given up: next is the 01:00 purge
        ]
    );
    assert_eq!(job_runs(db, "refresh", "flaky", "failed"), 4);

    // Next night: fails at 00:00, the source appears, the first retry succeeds and
    // nothing more runs.
    let midnight = t("2026-03-29T00:00:00Z");
    let mut attempts = Vec::new();
    for minute in 0..60 {
        if minute == 1 {
            std::fs::write(
                &path,
                json!({ "Agents": agent_docs("Agent ", 0..2) }).to_string(),
            )
            .expect("write");
        }
        clock.set(midnight + Duration::minutes(minute));
        for r in s.tick().expect("tick") {
            if r.job == Job::Refresh {
                attempts.push((minute, r.ok));
            }
        }
    }
    assert_eq!(attempts, vec![(0, false), (2, true)]);
    assert_eq!(job_runs(db, "refresh", "flaky", "failed"), 5);
    assert_eq!(job_runs(db, "refresh", "flaky", "ok"), 1);
    assert_eq!(agents_of(db, "flaky").len(), 2);
});

fn forgets_retries_of_a_removed_source(backend: Backend) {
    let Some(tmp) = temp_db(backend) else {
        return;
    };
    let db = &tmp.db;
    add_tenant(db, "gone", "UTC", 395, Some("/nonexistent/ccfeed/d.json"));
    let clock = FakeClock::at("2026-03-28T00:00:00Z");
    let mut s = scheduler(db, &clock, ScheduleSettings::default());
    assert!(
        s.tick()
            .expect("tick")
            .iter()
            .any(|r| r.job == Job::Refresh && !r.ok)
    );
    assert_eq!(s.next_wakeup(), t("2026-03-28T00:02:00Z"));
    // The source is removed before the retry is due.
    set_source(db, "gone", "");
    clock.set(t("2026-03-28T00:03:00Z"));
    assert!(s.tick().expect("tick").is_empty());
    // The retry of a tenant that has no source any more must not keep the wakeup in
    // the past (the server's loop would wake every second until the next night).
    assert!(
        s.next_wakeup() > t("2026-03-28T00:03:00Z"),
        "next wakeup {} is in the past",
        s.next_wakeup()
    );
}

mod scheduler_forgets_retries_of_a_removed_source {
    use super::*;

    #[test]
    fn sqlite() {
        forgets_retries_of_a_removed_source(Backend::Sqlite);
    }

    #[test]
    fn postgres() {
        forgets_retries_of_a_removed_source(Backend::Postgres);
    }
}

both_backends!(scheduler_ignores_dst_nights, |backend| {
    let Some(tmp) = temp_db(backend) else {
        return;
    };
    let db = &tmp.db;
    let dir = tempfile::tempdir().expect("tempdir");
    let src = write_doc(
        dir.path(),
        "d.json",
        &json!({ "Agents": agent_docs("Agent ", 0..3) }),
    );
    add_tenant(db, "bud", "Europe/Budapest", 395, Some(&src));
    let clock = FakeClock::at("2026-03-28T22:00:00Z");
    let mut s = scheduler(db, &clock, ScheduleSettings::default());
    // Spring forward (29 March, 02:00 → 03:00 local = 01:00 UTC) and fall back
    // (25 October, 03:00 → 02:00 local = 01:00 UTC): one run of each job per night.
    for (from, refresh_at, purge_at) in [
        (
            "2026-03-28T22:00:00Z",
            "2026-03-29T00:00:00Z",
            "2026-03-29T01:00:00Z",
        ),
        (
            "2026-10-24T22:00:00Z",
            "2026-10-25T00:00:00Z",
            "2026-10-25T01:00:00Z",
        ),
    ] {
        clock.set(t(from));
        s.tick().expect("first tick catches up"); // the slots of the day before
        let mut seen = Vec::new();
        for step in 1..=30 {
            let now = t(from) + Duration::minutes(10 * step);
            clock.set(now);
            for r in s.tick().expect("tick") {
                assert!(r.ok);
                seen.push((r.job.as_str(), now));
            }
        }
        assert_eq!(
            seen,
            vec![("refresh", t(refresh_at)), ("purge", t(purge_at))],
            "night of {from}"
        );
    }
});

both_backends!(two_schedulers_share_the_slots, |backend| {
    let Some(tmp) = temp_db(backend) else {
        return;
    };
    let db1 = tmp.db.clone();
    let db2 = Db::open(&tmp.target, 4).expect("second pool");
    let dir = tempfile::tempdir().expect("tempdir");
    let src = write_doc(
        dir.path(),
        "d.json",
        &json!({ "Agents": agent_docs("Agent ", 0..5) }),
    );
    let with_source = ["k0", "k1", "k2", "k3"];
    for k in with_source {
        add_tenant(&db1, k, "UTC", 395, Some(&src));
    }
    add_tenant(&db1, "nosrc", "UTC", 395, None);
    let all: Vec<&str> = with_source.iter().copied().chain(["nosrc"]).collect();
    let (c1, c2) = (
        FakeClock::at("2026-03-28T00:30:00Z"),
        FakeClock::at("2026-03-28T00:30:00Z"),
    );
    let mut s1 = scheduler(&db1, &c1, ScheduleSettings::default());
    let mut s2 = scheduler(&db2, &c2, ScheduleSettings::default());

    // One after the other at the same time: the second finds every slot taken.
    let first = ran(&s1.tick().expect("tick"));
    assert_eq!(first.len(), 4 + 5, "{first:?}");
    assert_eq!(ran(&s2.tick().expect("tick")), Vec::new());

    // Concurrently, from two threads, at the same fake times.
    let steps = [
        "2026-03-29T00:00:00Z",
        "2026-03-29T00:00:00Z",
        "2026-03-29T01:00:00Z",
        "2026-03-30T00:00:00Z",
        "2026-03-30T01:00:00Z",
        "2026-03-30T01:00:00.001Z",
    ];
    let barrier = Barrier::new(2);
    let mut union: Vec<(usize, &'static str, String, bool)> = std::thread::scope(|scope| {
        let handles: Vec<_> = [(&mut s1, &c1), (&mut s2, &c2)]
            .into_iter()
            .map(|(s, clock)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for (i, at) in steps.iter().enumerate() {
                        clock.set(t(at));
                        barrier.wait();
                        for r in s.tick().expect("tick") {
                            out.push((i, r.job.as_str(), r.tenant, r.ok));
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    union.sort();
    let mut expected = Vec::new();
    for (i, job, tenants) in [
        (0, "refresh", &with_source[..]),
        (0, "purge", &all[..]), // the 28th 01:00 slot, not run yet
        (2, "purge", &all[..]),
        (3, "refresh", &with_source[..]),
        (4, "purge", &all[..]),
    ] {
        for tenant in tenants {
            expected.push((i, job, tenant.to_string(), true));
        }
    }
    expected.sort();
    assert_eq!(union, expected);
    for k in with_source {
        assert_eq!(job_runs(&db1, "refresh", k, "ok"), 3, "{k}");
    }
    for k in &all {
        assert_eq!(job_runs(&db1, "purge", k, "ok"), 4, "{k}");
    }
    assert_eq!(
        count(
            &db1,
            "SELECT COUNT(*) FROM job_runs WHERE outcome <> 'ok'",
            &[]
        ),
        0
    );
});

// ---------------------------------------------------------------------------------
// Retention purge
// ---------------------------------------------------------------------------------

/// Rows of every entity set around `cutoff`: row 0 just expired, row 1 exactly at the
/// cutoff, row 2 newer (lookups: deletedAt, and a row 2 never deleted, row 3 newer).
fn fill_around_cutoff(db: &Db, model: &Model, tenant: &str, cutoff: DateTime<Utc>) {
    let at = move |i: usize| match i {
        0 => store::Value::Instant(cutoff - ms(1)),
        1 => store::Value::Instant(cutoff),
        _ => store::Value::Instant(cutoff + Duration::hours(1)),
    };
    for set in model.entity_sets() {
        match purge::rule(set).expect("rule") {
            Rule::Time(p) => write(db, model, tenant, &set.name, 3, move |i, name| {
                (name == p).then(|| at(i))
            }),
            Rule::Parent(fk, parent, _) => {
                let table = model.entity_set(parent).expect("parent").table.clone();
                write(db, model, tenant, &set.name, 3, move |i, name| {
                    (name == fk).then(|| store::Value::Text(format!("{table}-{i:04}")))
                })
            }
            Rule::Lookup => write(db, model, tenant, &set.name, 4, move |i, name| {
                (name == "deletedAt").then(|| match i {
                    2 => store::Value::Null,
                    3 => at(2),
                    i => at(i),
                })
            }),
        }
    }
}

both_backends!(purge_deletes_strictly_before_the_cutoff, |backend| {
    let Some(tmp) = temp_db(backend) else {
        return;
    };
    let db = &tmp.db;
    let model = Model::load().expect("model");
    let now = t("2026-06-01T12:00:00Z");
    let cutoff = now - Duration::days(30);
    for tenant in [TENANT, OTHER_TENANT] {
        add_tenant(db, tenant, "Europe/Budapest", 30, None);
        fill_around_cutoff(db, &model, tenant, cutoff);
    }
    // Parent-time children really are judged by their parent.
    assert_eq!(
        purge::rule(
            model
                .entity_set("WorkitemConversationSessions")
                .expect("set")
        ),
        Some(Rule::Parent("workitemId", "Workitems", "startTimeUtc"))
    );
    let expected: BTreeMap<String, u64> = model
        .entity_sets()
        .iter()
        .map(|s| (s.name.clone(), 1))
        .collect();
    let t1 = find(db, TENANT);
    let other_before = all_rows(db, &model, OTHER_TENANT);
    let before = all_rows(db, &model, TENANT);

    let mut conn = db.get().expect("conn");
    let dry = purge::purge_tenant(&mut conn, &model, &t1, now, true, 5_000).expect("dry run");
    drop(conn);
    assert_eq!(dry, expected, "dry run");
    assert_eq!(
        all_rows(db, &model, TENANT),
        before,
        "a dry run deleted rows"
    );

    let real = purge::run(db, &model, &t1, now, 5_000).expect("purge");
    assert_eq!(real, dry, "the dry run counts differ from the deletion");
    for set in model.entity_sets() {
        let keep: BTreeSet<String> = (1..if set.is_lookup() { 4 } else { 3 })
            .map(|i| format!("{}-{i:04}", set.table))
            .collect();
        assert_eq!(ids(db, &model, &set.name, TENANT), keep, "{}", set.name);
    }
    assert_eq!(all_rows(db, &model, OTHER_TENANT), other_before);
    let last = &history(db, Job::Purge, TENANT)[0];
    assert_eq!(last.outcome, "ok");
    assert_eq!(last.details, serde_json::to_value(&expected).expect("json"));

    // Nothing left to do.
    let mut conn = db.get().expect("conn");
    let again = purge::purge_tenant(&mut conn, &model, &t1, now, true, 5_000).expect("dry");
    assert!(again.is_empty(), "{again:?}");
    assert!(
        purge::run(db, &model, &t1, now, 5_000)
            .expect("purge")
            .is_empty()
    );
});

both_backends!(purge_in_small_chunks_deletes_everything, |backend| {
    let Some(tmp) = temp_db(backend) else {
        return;
    };
    let db = &tmp.db;
    let model = Model::load().expect("model");
    let now = t("2026-06-01T12:00:00Z");
    for tenant in [TENANT, OTHER_TENANT] {
        add_tenant(db, tenant, "UTC", 30, None);
        write(db, &model, tenant, "Calls", 100, move |i, p| {
            (p == "startedAtUtc").then(|| {
                store::Value::Instant(
                    now - Duration::days(30) - Duration::minutes(i as i64) - ms(1),
                )
            })
        });
    }
    let t1 = find(db, TENANT);
    let mut conn = db.get().expect("conn");
    let dry = purge::purge_tenant(&mut conn, &model, &t1, now, true, 7).expect("dry");
    drop(conn);
    let all = BTreeMap::from([("Calls".to_string(), 100u64)]);
    assert_eq!(dry, all);
    assert_eq!(purge::run(db, &model, &t1, now, 7).expect("purge"), all);
    assert_eq!(ids(db, &model, "Calls", TENANT).len(), 0);
    assert_eq!(ids(db, &model, "Calls", OTHER_TENANT).len(), 100);
    // A count that is a multiple of the chunk.
    let t2 = find(db, OTHER_TENANT);
    assert_eq!(purge::run(db, &model, &t2, now, 10).expect("purge"), all);
    assert_eq!(ids(db, &model, "Calls", OTHER_TENANT).len(), 0);
});

both_backends!(purge_uses_the_retention_of_the_next_run, |backend| {
    let Some(tmp) = temp_db(backend) else {
        return;
    };
    let db = &tmp.db;
    let model = Model::load().expect("model");
    add_tenant(db, "ret", "UTC", 30, None);
    let slot = t("2026-03-28T01:00:00Z");
    write(db, &model, "ret", "Calls", 3, move |i, p| match p {
        "id" => Some(store::Value::Text(format!("c{}", [40, 20, 5][i]))),
        "startedAtUtc" => Some(store::Value::Instant(slot - Duration::days([40, 20, 5][i]))),
        _ => None,
    });
    let clock = FakeClock::at("2026-03-28T01:00:00Z");
    let mut s = scheduler(db, &clock, ScheduleSettings::default());
    let purged = |s: &mut Scheduler| {
        s.tick()
            .expect("tick")
            .iter()
            .filter(|r| r.job == Job::Purge)
            .count()
    };
    assert_eq!(purged(&mut s), 1);
    let left = |db: &Db| ids(db, &model, "Calls", "ret");
    assert_eq!(left(db), BTreeSet::from(["c20".into(), "c5".into()]));

    let mut conn = db.get().expect("conn");
    tenants::update_tenant(&mut conn, "ret", None, Some(10), None).expect("retention");
    drop(conn);
    clock.set(t("2026-03-28T02:00:00Z"));
    assert_eq!(purged(&mut s), 0, "the slot already ran");
    assert_eq!(left(db).len(), 2);
    clock.set(t("2026-03-29T01:00:00Z"));
    assert_eq!(purged(&mut s), 1);
    assert_eq!(left(db), BTreeSet::from(["c5".into()]));
    let last = &history(db, Job::Purge, "ret")[0];
    assert_eq!(last.details, json!({ "Calls": 1 }));
});

/// Inserts `n` Calls with SQL (fast): ids `{prefix}{i}`, started `start` + i seconds.
fn sqlite_calls(db: &Db, tenant: &str, prefix: &str, n: u64, start: DateTime<Utc>) {
    let mut conn = db.get().expect("conn");
    let store::Conn::Sqlite(c) = &mut conn else {
        panic!("not SQLite")
    };
    let start = start.format("%Y-%m-%d %H:%M:%S");
    diesel::sql_query(format!(
        "INSERT INTO calls (tenant_id, id, channel_id, channel_type, started_at_utc, started_at, \
         hold_count, hold_duration_in_seconds, is_consult, is_outbound) \
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
         SELECT '{tenant}', '{prefix}' || i, 'channels-0001', 'Voice', \
           strftime('%Y-%m-%dT%H:%M:%S', '{start}', '+' || i || ' seconds') || '.000Z', \
           strftime('%Y-%m-%dT%H:%M:%S', '{start}', '+' || i || ' seconds') || '.000+00:00', \
           i % 3, i % 60, 0, i % 2 FROM n",
        last = n - 1
    ))
    .execute(&mut ***c)
    .expect("insert calls");
}

fn ccfeed(args: &[&str], database: &str, log: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ccfeed"));
    cmd.args(args)
        .args(["--database", database])
        .env_remove("CCFEED_DATABASE");
    match log {
        Some(level) => cmd.env("CCFEED_LOG", level),
        None => cmd.env_remove("CCFEED_LOG"),
    };
    cmd.output().expect("run ccfeed")
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

const KILL_EXPIRED: i64 = 400_000;
const KILL_CHILD_ENV: &str = "CCFEED_JOBS_TEST_PURGE_CHILD";

fn expired_calls(db: &Db) -> i64 {
    count(
        db,
        "SELECT COUNT(*) FROM calls WHERE tenant_id = ? AND started_at_utc < '2021-01-01'",
        &["big"],
    )
}

/// A SQLite file with `KILL_EXPIRED` expired Calls of tenant big, 1,000 recent ones,
/// and 1,000 expired ones of another tenant.
fn build_big(path: &str) {
    let db = Db::open(path, 2).expect("open");
    add_tenant(&db, "big", "UTC", 395, None);
    add_tenant(&db, "other", "UTC", 395, None);
    let built = Instant::now();
    sqlite_calls(
        &db,
        "big",
        "old-",
        KILL_EXPIRED as u64,
        t("2020-01-01T00:00:00Z"),
    );
    sqlite_calls(&db, "big", "fresh-", 1_000, Utc::now() - Duration::days(1));
    sqlite_calls(&db, "other", "old-", 1_000, t("2020-01-01T00:00:00Z"));
    eprintln!(
        "built {KILL_EXPIRED} expired calls in {:?}",
        built.elapsed()
    );
    assert_eq!(expired_calls(&db), KILL_EXPIRED);
}

/// SIGKILLs the purging child after ~200 ms, once it has deleted something; then
/// checks the file: it opens, passes the integrity check, indexes agree with the
/// table, and whole chunks (5,000 rows) are gone. Returns the expired rows left.
fn kill_midway_and_check(path: &str, mut child: std::process::Child) -> i64 {
    let db = Db::open(path, 2).expect("open");
    let started = Instant::now();
    loop {
        std::thread::sleep(StdDuration::from_millis(20));
        if let Some(status) = child.try_wait().expect("child") {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut stderr);
            }
            panic!(
                "the purge ended ({status}) after {:?}, before it could be killed; \
                 {} expired rows left; stderr: {stderr}",
                started.elapsed(),
                expired_calls(&db)
            );
        }
        if started.elapsed() >= StdDuration::from_millis(200) && expired_calls(&db) < KILL_EXPIRED {
            break;
        }
        assert!(
            started.elapsed() < StdDuration::from_secs(30),
            "no progress"
        );
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    drop(db);

    let db = Db::open(path, 2).expect("the database opens after the kill");
    let mut conn = db.get().expect("conn");
    let s = stmt(&conn, "SELECT * FROM pragma_integrity_check", Vec::new());
    let check = query(&mut conn, &s, &[ColumnKind::Text]).expect("integrity check");
    assert_eq!(ccfeed::store::text(&check[0][0]), "ok");
    drop(conn);
    let left = expired_calls(&db);
    let indexed = count(
        &db,
        "SELECT COUNT(*) FROM calls INDEXED BY ix_calls_started_at_utc_id WHERE tenant_id = ? AND started_at_utc < '2021-01-01'",
        &["big"],
    );
    let scanned = count(
        &db,
        "SELECT COUNT(*) FROM calls NOT INDEXED WHERE tenant_id = ? AND started_at_utc < '2021-01-01'",
        &["big"],
    );
    eprintln!(
        "killed after {:?}: {left} of {KILL_EXPIRED} expired calls left",
        started.elapsed()
    );
    assert!((0..KILL_EXPIRED).contains(&left), "{left}");
    assert_eq!((indexed, scanned), (left, left));
    // Every chunk (5,000 rows) is all done or not at all.
    assert_eq!(
        (KILL_EXPIRED - left) % 5_000,
        0,
        "a partial chunk: {left} left"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM job_runs", &[]),
        0,
        "the killed run recorded nothing"
    );
    left
}

fn check_finished(path: &str) {
    let db = Db::open(path, 2).expect("open");
    assert_eq!(expired_calls(&db), 0);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM calls WHERE tenant_id = ?",
            &["big"]
        ),
        1_000,
        "unexpired rows were touched"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM calls WHERE tenant_id = ?",
            &["other"]
        ),
        1_000,
        "another tenant's rows were touched"
    );
    assert_eq!(job_runs(&db, "purge", "big", "ok"), 1);
}

/// Not a test on its own: the purging child process of
/// `sqlite_purge_killed_midway_is_finished_by_the_next_run` (this test binary run
/// again with the database in an environment variable).
#[test]
fn purge_child_process() {
    let Ok(path) = std::env::var(KILL_CHILD_ENV) else {
        return;
    };
    let db = Db::open(&path, 2).expect("open");
    let model = Model::load().expect("model");
    let tenant = find(&db, "big");
    purge::run(&db, &model, &tenant, Utc::now(), 5_000).expect("purge");
}

/// The library's purge in a child process, SIGKILLed midway; the next run finishes.
#[test]
fn sqlite_purge_killed_midway_is_finished_by_the_next_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.db");
    let path = path.to_str().expect("utf-8");
    build_big(path);
    let child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "purge_child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(KILL_CHILD_ENV, path)
        .env("CCFEED_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the purging child");
    let left = kill_midway_and_check(path, child);
    let db = Db::open(path, 2).expect("open");
    let model = Model::load().expect("model");
    let started = Instant::now();
    let counts = purge::run(&db, &model, &find(&db, "big"), Utc::now(), 5_000).expect("purge");
    eprintln!(
        "the next run deleted {left} rows in {:?}",
        started.elapsed()
    );
    let expected: BTreeMap<String, u64> = if left > 0 {
        BTreeMap::from([("Calls".to_string(), left as u64)])
    } else {
        BTreeMap::new()
    };
    assert_eq!(counts, expected);
    drop(db);
    check_finished(path);
}

/// The same with the real binary: `ccfeed purge --tenant T --database FILE`.
#[test]
fn sqlite_cli_purge_killed_midway_is_finished_by_the_next_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.db");
    let path = path.to_str().expect("utf-8");
    build_big(path);
    let child = Command::new(env!("CARGO_BIN_EXE_ccfeed"))
        .args(["purge", "--tenant", "big", "--database", path])
        .env("CCFEED_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ccfeed purge");
    let left = kill_midway_and_check(path, child);
    let out = ccfeed(&["purge", "--tenant", "big", "--json"], path, Some("warn"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = stdout_json(&out);
    if left > 0 {
        assert_eq!(json["purges"][0]["rows"], json!({ "Calls": left }));
    }
    check_finished(path);
}

both_backends!(reads_are_served_during_a_chunked_purge, |backend| {
    let mut settings = Settings::default();
    settings.limits.page_size = 50;
    let fresh_from = Utc::now() - Duration::days(1);
    let Some(app) = TestApp::start(backend, settings, move |db, model| {
        write(db, model, TENANT, "Calls", 20_000, |i, p| {
            (p == "startedAtUtc").then(|| {
                store::Value::Instant(t("2020-01-01T00:00:00Z") + Duration::seconds(i as i64))
            })
        });
        write(db, model, TENANT, "Calls", 500, move |i, p| match p {
            "id" => Some(store::Value::Text(format!("fresh-{i:04}"))),
            "startedAtUtc" => Some(store::Value::Instant(
                fresh_from + Duration::seconds(i as i64),
            )),
            _ => None,
        });
    }) else {
        return;
    };
    let (db, model) = (&app.db, &*app.model);
    let read = key(db, TENANT, Role::Read);
    let tenant = find(db, TENANT);
    let first = "/odata/Calls?$filter=startedAtUtc%20gt%202026-01-01T00:00:00Z&$select=id";
    let purging = AtomicBool::new(true);
    let (purged, pages, bad) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let (mut pages, mut bad) = (0usize, Vec::new());
            let auth = format!("Bearer {read}");
            while purging.load(Ordering::Relaxed) {
                let mut ids = 0;
                let mut r = app.get_with(first, &[("Authorization", &auth)]);
                loop {
                    if r.status != 200 {
                        bad.push(format!("{}: {}", r.status, r.text()));
                        break;
                    }
                    pages += 1;
                    let body = r.json();
                    ids += body["value"].as_array().expect("value").len();
                    match body["@odata.nextLink"].as_str() {
                        Some(next) => r = app.get_absolute(next, &[("Authorization", &auth)]),
                        None => break,
                    }
                }
                if bad.is_empty() && ids != 500 {
                    bad.push(format!("a full pass saw {ids} rows"));
                }
            }
            (pages, bad)
        });
        std::thread::sleep(StdDuration::from_millis(50));
        let started = Instant::now();
        let purged = purge::run(db, model, &tenant, Utc::now(), 100).expect("purge");
        let took = started.elapsed();
        purging.store(false, Ordering::Relaxed);
        let (pages, bad) = reader.join().expect("reader");
        eprintln!("{backend:?}: purge took {took:?}; {pages} pages read meanwhile");
        (purged, pages, bad)
    });
    assert_eq!(purged, BTreeMap::from([("Calls".to_string(), 20_000)]));
    assert!(bad.is_empty(), "{:?}", &bad[..bad.len().min(3)]);
    assert!(pages >= 1, "no page was read during the purge");
    assert_eq!(ids(db, model, "Calls", TENANT).len(), 500);
});

// ---------------------------------------------------------------------------------
// Admin endpoints and command line
// ---------------------------------------------------------------------------------

both_backends!(admin_endpoints_run_and_report_jobs, |backend| {
    let old = t("2020-01-01T00:00:00Z");
    let recent = Utc::now() - Duration::days(1);
    let Some(app) = TestApp::start(backend, Settings::default(), move |db, model| {
        for tenant in [TENANT, OTHER_TENANT] {
            write(db, model, tenant, "Calls", 8, move |i, p| {
                (p == "startedAtUtc").then(|| {
                    store::Value::Instant(if i < 5 {
                        old + Duration::minutes(i as i64)
                    } else {
                        recent
                    })
                })
            });
        }
    }) else {
        return;
    };
    let (db, model) = (&app.db, &*app.model);
    let admin = key(db, TENANT, Role::Admin);
    let read = key(db, TENANT, Role::Read);
    let other_admin = key(db, OTHER_TENANT, Role::Admin);
    let dir = tempfile::tempdir().expect("tempdir");
    let post = |path: &str, key: Option<&str>| request(app.addr, "POST", path, key);
    let get = |path: &str, key: Option<&str>| request(app.addr, "GET", path, key);

    // Refresh: role checks, no source → 409.
    assert_eq!(post("/admin/refresh-lookups", Some(&read)).status, 403);
    assert_eq!(post("/admin/refresh-lookups", None).status, 401);
    let r = post("/admin/refresh-lookups", Some(&admin));
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(error_code(&r), "NoDirectorySource");

    let src = write_doc(
        dir.path(),
        "d.json",
        &json!({ "Agents": agent_docs("Agent ", 0..2) }),
    );
    set_source(db, TENANT, &src);
    let r = post("/admin/refresh-lookups", Some(&admin));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({ "sets": { "Agents": { "added": 2, "changed": 0, "deleted": 0, "restored": 0, "unchanged": 0 } } })
    );
    set_source(db, TENANT, "/nonexistent/ccfeed.json");
    let r = post("/admin/refresh-lookups", Some(&admin));
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(error_code(&r), "RefreshFailed");
    assert_eq!(agents_of(db, TENANT).len(), 2);

    let r = get("/admin/jobs/refresh", Some(&admin));
    assert_eq!(r.status, 200, "{}", r.text());
    let runs = r.json()["runs"].as_array().expect("runs").clone();
    let outcomes: Vec<&str> = runs
        .iter()
        .map(|r| r["outcome"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(outcomes, ["failed", "ok", "failed"]);
    assert_eq!(runs[1]["details"]["Agents"]["added"], 2);
    assert_eq!(runs[1]["tenantId"], TENANT);
    assert_eq!(get("/admin/jobs/refresh", Some(&read)).status, 403);
    assert_eq!(get("/admin/jobs/nothing", Some(&admin)).status, 404);
    // Another tenant's admin sees only its own runs.
    let r = get("/admin/jobs/refresh", Some(&other_admin));
    assert_eq!(r.json()["runs"], json!([]));

    // Purge: dry run counts and keeps; the real one deletes the same rows.
    assert_eq!(post("/admin/purge", Some(&read)).status, 403);
    let r = post("/admin/purge?dryRun=true", Some(&admin));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({ "dryRun": true, "rows": { "Calls": 5 } }));
    assert_eq!(ids(db, model, "Calls", TENANT).len(), 8);
    assert_eq!(
        get("/admin/jobs/purge", Some(&admin)).json()["runs"],
        json!([])
    );
    let r = post("/admin/purge", Some(&admin));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({ "dryRun": false, "rows": { "Calls": 5 } }));
    assert_eq!(ids(db, model, "Calls", TENANT).len(), 3);
    assert_eq!(ids(db, model, "Calls", OTHER_TENANT).len(), 8);
    let runs = get("/admin/jobs/purge", Some(&admin)).json()["runs"].clone();
    assert_eq!(runs.as_array().map(Vec::len), Some(1));
    assert_eq!(runs[0]["outcome"], "ok");
    assert_eq!(runs[0]["details"], json!({ "Calls": 5 }));
});

/// A SQLite file with tenant cli: 5 expired Calls, 2 recent ones, and a directory
/// document with 2 agents. Returns (tempdir, database path, document path).
fn cli_fixture() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir
        .path()
        .join("cli.db")
        .to_str()
        .expect("utf-8")
        .to_string();
    let db = Db::open(&path, 1).expect("open");
    let model = Model::load().expect("model");
    let mut conn = db.get().expect("conn");
    tenants::create_tenant(&mut conn, "cli", "UTC", 395).expect("tenant");
    drop(conn);
    let recent = Utc::now() - Duration::days(1);
    write(&db, &model, "cli", "Calls", 7, move |i, p| {
        (p == "startedAtUtc").then(|| {
            store::Value::Instant(if i < 5 {
                t("2020-01-01T00:00:00Z")
            } else {
                recent
            })
        })
    });
    let doc = write_doc(
        dir.path(),
        "dir.json",
        &json!({ "Agents": agent_docs("Agent ", 0..2) }),
    );
    (dir, path, doc)
}

#[test]
fn sqlite_cli_refresh_lookups_and_dry_run() {
    let (_dir, path, doc) = cli_fixture();
    let path = path.as_str();
    let model = Model::load().expect("model");
    // Log lines go to stdout (see the ignored test below): only errors here.
    let quiet = Some("error");

    let out = ccfeed(
        &["tenant", "set", "cli", "--directory-source", &doc, "--json"],
        path,
        quiet,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout_json(&out)["tenant"]["directory_source"],
        doc.as_str()
    );

    let out = ccfeed(
        &["refresh-lookups", "--tenant", "cli", "--json"],
        path,
        quiet,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = stdout_json(&out);
    assert_eq!(json["refreshes"][0]["ok"], true);
    assert_eq!(json["refreshes"][0]["sets"]["Agents"]["added"], 2);

    let out = ccfeed(
        &["refresh-lookups", "--tenant", "cli", "--history", "--json"],
        path,
        quiet,
    );
    let json = stdout_json(&out);
    assert_eq!(json["runs"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["runs"][0]["outcome"], "ok");

    let out = ccfeed(
        &["purge", "--tenant", "cli", "--dry-run", "--json"],
        path,
        quiet,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout_json(&out)["purges"][0],
        json!({ "tenant": "cli", "dryRun": true, "rows": { "Calls": 5 } })
    );

    // A failing source: exit status non-zero, the error in the JSON, nothing changed.
    let out = ccfeed(
        &[
            "tenant",
            "set",
            "cli",
            "--directory-source",
            "/nonexistent/x.json",
        ],
        path,
        quiet,
    );
    assert!(out.status.success());
    let out = ccfeed(
        &["refresh-lookups", "--tenant", "cli", "--json"],
        path,
        quiet,
    );
    assert!(!out.status.success());
    assert_eq!(stdout_json(&out)["refreshes"][0]["ok"], false);
    let db = Db::open(path, 1).expect("open");
    assert_eq!(
        ids(&db, &model, "Calls", "cli").len(),
        7,
        "the dry run deleted rows"
    );
    assert_eq!(agents_of(&db, "cli").len(), 2);
    assert_eq!(job_runs(&db, "refresh", "cli", "failed"), 1);
}

#[test]
fn sqlite_cli_purge_deletes_expired_rows() {
    let (_dir, path, _) = cli_fixture();
    let model = Model::load().expect("model");
    let out = ccfeed(&["purge", "--tenant", "cli", "--json"], &path, Some("warn"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout_json(&out)["purges"][0],
        json!({ "tenant": "cli", "dryRun": false, "rows": { "Calls": 5 } })
    );
    let db = Db::open(&path, 1).expect("open");
    assert_eq!(ids(&db, &model, "Calls", "cli").len(), 2);
    assert_eq!(job_runs(&db, "purge", "cli", "ok"), 1);
}

/// `--json` output is for scripts: it must be the only thing on stdout, also at the
/// default log level.
#[test]
fn sqlite_cli_json_output_is_pure_at_the_default_log_level() {
    let (_dir, path, doc) = cli_fixture();
    let out = ccfeed(
        &["tenant", "set", "cli", "--directory-source", &doc, "--json"],
        &path,
        None,
    );
    stdout_json(&out);
    for args in [
        &["refresh-lookups", "--tenant", "cli", "--json"][..],
        &["purge", "--tenant", "cli", "--dry-run", "--json"][..],
    ] {
        let out = ccfeed(args, &path, None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout_json(&out);
    }
}

// The directory source is the URL the operator set: no redirects, no other schemes,
// and nothing the source sent is quoted back (errors, job history).
both_backends!(refresh_sources_are_checked_and_never_quoted, |backend| {
    let Some(tmp) = temp_db(backend) else {
        return;
    };
    let db = &tmp.db;
    let model = Model::load().expect("model");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let settings = RefreshSettings {
        http_timeout: StdDuration::from_secs(10),
        ..RefreshSettings::default()
    };
    let now = t("2026-03-01T00:00:00Z");
    let good = json!({ "Agents": agent_docs("Agent ", 0..3) });
    let target = stub_server(vec![("/directory.json", 200, good.to_string())]);
    let redirect = stub_server(vec![(
        "/moved",
        302,
        format!("http://{target}/directory.json"),
    )]);

    // A redirect (to another port) is not followed.
    let tenant = add_tenant(
        db,
        TENANT,
        "UTC",
        395,
        Some(&format!("http://{redirect}/moved")),
    );
    let before = lookups(db, &model);
    let e = refresh::run(db, &model, &tenant, now, &settings).expect_err("redirect");
    assert_eq!(kind(&e), "source", "{e}");
    assert!(e.to_string().contains("redirect"), "{e}");
    assert_eq!(lookups(db, &model), before);
    // The final URL itself works.
    let tenant = set_source(db, TENANT, &format!("http://{target}/directory.json"));
    let report = refresh::run(db, &model, &tenant, now, &settings).expect("direct URL");
    assert_eq!(report["Agents"].added, 3);

    // Only http, https and file paths: other schemes are refused when set, and when
    // met at fetch time (a source stored before this rule).
    for source in [
        "gopher://127.0.0.1:70/1",
        "ftp://example.com/d.json",
        "FTP://x/y.json",
    ] {
        let mut conn = db.get().expect("conn");
        let e =
            tenants::update_tenant(&mut conn, TENANT, None, None, Some(source)).expect_err(source);
        assert!(
            e.to_string().contains("http:// or https://"),
            "{source}: {e}"
        );
        let e = refresh::fetch(source, &settings).expect_err(source);
        assert_eq!(kind(&e), "source", "{source}: {e}");
        assert!(e.to_string().contains("file path"), "{source}: {e}");
    }
    let plain = write_doc(d, "plain.json", &good);
    set_source(db, TENANT, &plain);
    set_source(db, TENANT, &format!("file://{plain}"));

    // A secret anywhere in a bad document never shows in the error or the history.
    let secret = "SECRET-7f3a";
    let agents = agent_docs("Agent ", 0..3);
    let with = |extra: Value| {
        let mut a = agents.clone();
        a.push(extra);
        json!({ "Agents": a })
    };
    let error_body = stub_server(vec![("/fail", 500, format!("{{\"token\": \"{secret}\"}}"))]);
    let sources = vec![
        write_doc(
            d,
            "type.json",
            &with(json!({ "id": "a9", "name": [secret] })),
        ),
        write_doc(
            d,
            "unknown.json",
            &with(json!({ "id": "a9", "name": "n", secret: "x" })),
        ),
        write_doc(
            d,
            "time.json",
            &with(json!({ "id": "a9", "name": "n", "deletedAt": secret })),
        ),
        write_doc(
            d,
            "key.json",
            &json!({ "Agents": agents.clone(), secret: [] }),
        ),
        write_doc(d, "object.json", &with(json!(secret))),
        write_doc(
            d,
            "dup.json",
            &json!({ "Agents": [{ "id": secret, "name": "a" }, { "id": secret, "name": "b" }] }),
        ),
        write_file(
            d,
            "broken.json",
            format!("{{\"Agents\": [{{\"id\": \"{secret}\"").as_bytes(),
        ),
        format!("http://{error_body}/fail"),
    ];
    for source in sources {
        let tenant = set_source(db, TENANT, &source);
        let e = refresh::run(db, &model, &tenant, now, &settings).expect_err(&source);
        assert!(!e.to_string().contains(secret), "{source}: {e}");
        let last = &history(db, Job::Refresh, TENANT)[0];
        assert_eq!(last.outcome, "failed");
        assert!(!last.message.contains(secret), "{source}: {}", last.message);
        assert!(!last.details.to_string().contains(secret), "{source}");
    }
});

// A server killed during the night leaves its slots claimed but unfinished. Once the
// claim's lease has run out, the next tick records the lost run as failed and runs the
// slot again, so the day's refresh and purge are not lost.
both_backends!(
    a_run_that_never_finished_is_recorded_and_run_again,
    |backend| {
        let Some(tmp) = temp_db(backend) else {
            return;
        };
        let db = &tmp.db;
        let dir = tempfile::tempdir().expect("tempdir");
        let src = write_doc(
            dir.path(),
            "d.json",
            &json!({ "Agents": agent_docs("Agent ", 0..3) }),
        );
        add_tenant(db, "alpha", "UTC", 395, Some(&src));
        // What the killed server left: today's slots claimed 30 s after they began, with
        // the default two-hour lease, and never finished.
        {
            let mut conn = db.get().expect("conn");
            for (job, slot, claimed, lease) in [
                (
                    "refresh",
                    "2026-03-28T00:00:00Z",
                    "2026-03-28T00:00:30Z",
                    "2026-03-28T02:00:30Z",
                ),
                (
                    "purge",
                    "2026-03-28T01:00:00Z",
                    "2026-03-28T01:00:30Z",
                    "2026-03-28T03:00:30Z",
                ),
            ] {
                let s = stmt(
                    &conn,
                    "INSERT INTO job_slots (job, tenant_id, slot_utc, claimed_at_utc, lease_until_utc) \
                 VALUES (?, ?, ?, ?, ?)",
                    vec![
                        (store::Value::Text(job.into()), ColumnKind::Text),
                        (store::Value::Text("alpha".into()), ColumnKind::Text),
                        (store::Value::Instant(t(slot)), ColumnKind::Instant),
                        (store::Value::Instant(t(claimed)), ColumnKind::Instant),
                        (store::Value::Instant(t(lease)), ColumnKind::Instant),
                    ],
                );
                conn.execute(&s).expect("claimed slot");
            }
        }
        let none = Vec::new();
        // Within the lease the claiming run may still be alive: nothing runs.
        let clock = FakeClock::at("2026-03-28T01:30:00Z");
        let mut s = scheduler(db, &clock, ScheduleSettings::default());
        assert_eq!(ran(&s.tick().expect("tick")), none);
        // The refresh lease has run out, the purge lease not yet.
        clock.set(t("2026-03-28T02:30:00Z"));
        assert_eq!(ran(&s.tick().expect("tick")), runs(&[("refresh", "alpha")]));
        clock.set(t("2026-03-28T03:30:00Z"));
        assert_eq!(ran(&s.tick().expect("tick")), runs(&[("purge", "alpha")]));
        // Each lost run is in the history, as failed, with the time it started.
        for (job, started) in [
            (Job::Refresh, "2026-03-28T00:00:30.000Z"),
            (Job::Purge, "2026-03-28T01:00:30.000Z"),
        ] {
            let history = history(db, job, "alpha");
            assert_eq!(history.len(), 2, "{job:?}: {history:?}");
            let lost = history
                .iter()
                .find(|r| r.outcome == "failed")
                .unwrap_or_else(|| panic!("{job:?}: no failed run in {history:?}"));
            assert_eq!(lost.started_at_utc, started);
            assert!(lost.message.contains("did not finish"), "{}", lost.message);
            assert!(history.iter().any(|r| r.outcome == "ok"), "{history:?}");
        }
        // The slots are finished now: later ticks and a restarted server leave them be.
        clock.set(t("2026-03-28T09:00:00Z"));
        assert_eq!(ran(&s.tick().expect("tick")), none);
        let mut restarted = scheduler(db, &clock, ScheduleSettings::default());
        assert_eq!(ran(&restarted.tick().expect("tick")), none);
        // The next night runs as usual.
        clock.set(t("2026-03-29T01:30:00Z"));
        assert_eq!(
            ran(&restarted.tick().expect("tick")),
            runs(&[("purge", "alpha"), ("refresh", "alpha")])
        );
    }
);

// A directory document is read within max_directory_bytes, and a tenant's refresh
// runs once at a time: a second one while the first waits for its source is refused
// (409 at the admin endpoint) and changes nothing.
both_backends!(
    refresh_documents_are_bounded_and_run_once_per_tenant,
    |backend| {
        let Some(tmp) = temp_db(backend) else {
            return;
        };
        let db = &tmp.db;
        let model = Model::load().expect("model");
        let dir = tempfile::tempdir().expect("tempdir");
        let now = t("2026-03-01T00:00:00Z");
        let doc = json!({ "Agents": agent_docs("Agent ", 0..20) });
        let bytes = serde_json::to_vec(&doc).expect("json").len() as u64;
        let path = write_doc(dir.path(), "d.json", &doc);
        let tenant = add_tenant(db, TENANT, "UTC", 395, Some(&path));

        // One byte under the document's size: refused, nothing changed, recorded.
        let small = RefreshSettings {
            max_document_bytes: bytes - 1,
            ..RefreshSettings::default()
        };
        let before = lookups(db, &model);
        let e = refresh::run(db, &model, &tenant, now, &small).expect_err("too large");
        assert_eq!(kind(&e), "source", "{e}");
        assert!(e.to_string().contains("max_directory_bytes"), "{e}");
        assert_eq!(lookups(db, &model), before);
        assert_eq!(job_runs(db, "refresh", TENANT, "failed"), 1);
        // Exactly its size: read.
        let exact = RefreshSettings {
            max_document_bytes: bytes,
            ..RefreshSettings::default()
        };
        let report = refresh::run(db, &model, &tenant, now, &exact).expect("at the limit");
        assert_eq!(report["Agents"].added, 20);

        // A source that answers only when told to: the first refresh waits on it.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (asked_tx, asked_rx) = std::sync::mpsc::channel::<()>();
        let (answer_tx, answer_rx) = std::sync::mpsc::channel::<()>();
        let body = doc.to_string();
        let server = std::thread::spawn(move || {
            if let Some(Ok(mut stream)) = listener.incoming().next() {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let _ = asked_tx.send(());
                let _ = answer_rx.recv();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        let tenant = set_source(db, TENANT, &format!("http://{addr}/d.json"));
        let first = {
            let (db, tenant) = (db.clone(), tenant.clone());
            std::thread::spawn(move || {
                let model = Model::load().expect("model");
                refresh::run(&db, &model, &tenant, now, &RefreshSettings::default())
            })
        };
        asked_rx.recv().expect("the first refresh asked its source");
        let runs_before =
            job_runs(db, "refresh", TENANT, "ok") + job_runs(db, "refresh", TENANT, "failed");
        let e = refresh::run(db, &model, &tenant, now, &RefreshSettings::default())
            .expect_err("a second refresh of the tenant while one runs");
        assert_eq!(kind(&e), "busy", "{e}");
        // Another tenant is not held up.
        let other_path = write_doc(dir.path(), "other.json", &doc);
        let other = add_tenant(db, OTHER_TENANT, "UTC", 395, Some(&other_path));
        refresh::run(db, &model, &other, now, &RefreshSettings::default()).expect("other tenant");
        answer_tx.send(()).expect("release the source");
        let report = first.join().expect("first").expect("first refresh");
        assert_eq!(report["Agents"].unchanged, 20);
        server.join().expect("source thread");
        assert_eq!(
            job_runs(db, "refresh", TENANT, "ok") + job_runs(db, "refresh", TENANT, "failed"),
            runs_before + 1,
            "the refused refresh is not recorded as a run"
        );
        // Afterwards the tenant refreshes again.
        let tenant = set_source(db, TENANT, &path);
        refresh::run(db, &model, &tenant, now, &RefreshSettings::default()).expect("again");
    }
);
