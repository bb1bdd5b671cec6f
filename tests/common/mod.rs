//! Black-box test harness: a real ccfeed server on a free port, over a fresh SQLite
//! file or a fresh PostgreSQL database, filled with a small fixture written here
//! (never the demo data), and a minimal HTTP/1.1 client that shows the raw response
//! (duplicate headers, chunking and compression included).
//!
//! PostgreSQL tests run when `CCFEED_TEST_POSTGRES` holds an admin URL (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`); each test creates its own database
//! and drops it. Without the variable they print a note and return.

#![allow(dead_code)]

pub mod http_client;

// Not every test binary uses every helper.
#[allow(unused_imports)]
pub use http_client::{
    Framing, Response, parse_response, post, post_framed, raw_exchange, raw_get,
};

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ccfeed::config::Settings;
use ccfeed::edm::{EdmType, Model, Storage};
use ccfeed::http::{self, AppState};
use ccfeed::store::{self, Db, RowBatch};
use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use diesel::{Connection, RunQueryDsl};
use serde_json::Value;

pub const TENANT: &str = "t1";
pub const OTHER_TENANT: &str = "t2";
pub const POSTGRES_ENV: &str = "CCFEED_TEST_POSTGRES";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A PostgreSQL database that exists for one test.
struct TempPgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for TempPgDatabase {
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

pub struct TestApp {
    pub addr: SocketAddr,
    pub model: Arc<Model>,
    pub db: Db,
    handle: Option<actix_web::dev::ServerHandle>,
    thread: Option<std::thread::JoinHandle<()>>,
    _sqlite_dir: Option<tempfile::TempDir>,
    _pg: Option<TempPgDatabase>,
}

pub fn pg_database_url(admin_url: &str, name: &str) -> String {
    // Replace the path (database name) of the admin URL, keeping any query string.
    let (base, query) = admin_url
        .split_once('?')
        .map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

impl TestApp {
    /// Starts a server, or returns `None` (after printing why) when the backend is not
    /// available here.
    pub fn start(
        backend: Backend,
        settings: Settings,
        fill: impl FnOnce(&Db, &Model),
    ) -> Option<TestApp> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let model = Arc::new(Model::load().expect("model"));
        // Four connections unless the settings ask for fewer (tests run side by side
        // against one PostgreSQL server).
        let pool_size = settings.pool_size.min(4);
        let (db, sqlite_dir, pg) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let path = dir.path().join("feed.db");
                let db = Db::open_with(
                    path.to_str().expect("utf-8 path"),
                    pool_size,
                    settings.limits.statement_timeout(),
                )
                .expect("open sqlite");
                (db, Some(dir), None)
            }
            Backend::Postgres => {
                let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
                    eprintln!(
                        "note: skipping the PostgreSQL variant: set {POSTGRES_ENV} to an admin URL to run it"
                    );
                    return None;
                };
                let name = format!(
                    "ccfeed_test_{}_{}_{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed),
                    Utc::now().timestamp_subsec_nanos()
                );
                let mut admin = diesel::PgConnection::establish(&admin_url)
                    .expect("connect to the PostgreSQL admin URL");
                diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut admin)
                    .expect("create database");
                let guard = TempPgDatabase {
                    admin_url: admin_url.clone(),
                    name: name.clone(),
                };
                let db = Db::open_with(
                    &pg_database_url(&admin_url, &name),
                    pool_size,
                    settings.limits.statement_timeout(),
                )
                .expect("open postgres");
                (db, None, Some(guard))
            }
        };
        fill(&db, &model);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(AppState {
            model: model.clone(),
            db: db.clone(),
            settings,
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let server = http::start(state, listener).expect("start server");
                let _ = tx.send(server.handle());
                let _ = server.await;
            });
        });
        let handle = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("server started");
        Some(TestApp {
            addr,
            model,
            db,
            handle: Some(handle),
            thread: Some(thread),
            _sqlite_dir: sqlite_dir,
            _pg: pg,
        })
    }

    /// The admin URL and the name of this server's PostgreSQL database.
    pub fn postgres_database(&self) -> Option<(&str, &str)> {
        self._pg
            .as_ref()
            .map(|pg| (pg.admin_url.as_str(), pg.name.as_str()))
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    /// A POST with a Content-Length body.
    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        post(self.addr, path, headers, body)
    }

    pub fn get(&self, path_and_query: &str) -> Response {
        self.get_with(path_and_query, &[])
    }

    pub fn get_with(&self, path_and_query: &str, headers: &[(&str, &str)]) -> Response {
        raw_get(self.addr, path_and_query, headers)
    }

    /// Follows a URL the server gave us (absolute, same host).
    pub fn get_absolute(&self, url: &str, headers: &[(&str, &str)]) -> Response {
        let prefix = format!("http://{}", self.addr);
        let path = url
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("link {url} is not on {prefix}"));
        self.get_with(path, headers)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take()
            && let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        {
            rt.block_on(handle.stop(false));
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn demo_settings() -> Settings {
    Settings {
        anonymous_tenant: Some(TENANT.to_string()),
        ..Settings::default()
    }
}

pub fn base_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-28T22:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

/// A deterministic value for property `name` of fixture row `i`: nulls every fifth
/// row where allowed, awkward text (quotes, `%`, `_`, unicode) every seventh.
pub fn fixture_value(model: &Model, set: &str, name: &str, i: usize) -> store::Value {
    let set = model.entity_set(set).expect("set");
    let p = set.property(name).expect("property");
    if name == "id" {
        return store::Value::Text(format!("{}-{i:04}", set.table));
    }
    if p.nullable && i.is_multiple_of(5) {
        return store::Value::Null;
    }
    let t = base_time()
        + ChronoDuration::minutes(37 * i as i64)
        + ChronoDuration::milliseconds(i as i64);
    match (p.ty, p.storage) {
        (EdmType::DateTimeOffset, Storage::LocalText) => store::Value::Text(
            t.with_timezone(&chrono_tz::Europe::Budapest)
                .to_rfc3339_opts(SecondsFormat::Millis, false),
        ),
        (EdmType::DateTimeOffset, _) => store::Value::Instant(t),
        (EdmType::Boolean, _) => store::Value::Bool(i.is_multiple_of(2)),
        (EdmType::Int32 | EdmType::Int64, _) => store::Value::Int(((i * 7919) % 1000) as i64),
        (EdmType::Double, _) => store::Value::Double(i as f64 * 1.25),
        (EdmType::String, _) => {
            if let Some(v) = p.allowed_values.get(i % p.allowed_values.len().max(1)) {
                store::Value::Text(v.clone())
            } else if i % 7 == 3 {
                store::Value::Text(format!("O'Brien \"%_\" ünïcode {i}"))
            } else {
                store::Value::Text(format!("{name} {:03}", (i * 31) % 97))
            }
        }
    }
}

/// The tenant as the store knows it (its scope is what writers are built from).
pub fn scope(conn: &mut store::Conn, tenant: &str) -> store::tenants::Tenant {
    store::tenants::find_tenant(conn, tenant)
        .expect("find tenant")
        .expect("the tenant exists")
}

/// The ids of a page's rows, in order.
pub fn ids(page: &Value) -> Vec<String> {
    page["value"]
        .as_array()
        .expect("value array")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

/// [`fill_set`] in one transaction, which the read time limit does not bound (for
/// tests that set `statement_timeout_ms` very small).
pub fn fill_set_in_one_transaction(
    db: &Db,
    model: &Model,
    tenant: &str,
    set_name: &str,
    rows: usize,
) {
    let set = model.entity_set(set_name).expect("set");
    let mut conn = db.get().expect("conn");
    conn.transaction(|c| {
        store::ensure_tenant(c, tenant, tenant, "Europe/Budapest")?;
        let scoped = scope(c, tenant);
        let mut batch = RowBatch::new(set, scoped.scope(), (0..set.properties.len()).collect());
        for i in 0..rows {
            let row = set
                .properties
                .iter()
                .map(|p| fixture_value(model, set_name, &p.name, i))
                .collect();
            batch.push(row)?;
        }
        batch.flush(c).map(|_| ())
    })
    .expect("fixture");
}

/// `concat(id,id)` doubled `levels` times: a text expression that is slow per row.
pub fn slow_text(levels: usize) -> String {
    let mut text = "id".to_string();
    for _ in 0..levels {
        text = format!("concat({text},{text})");
    }
    text
}

/// Writes `rows` fixture rows of `set` for `tenant`.
pub fn fill_set(db: &Db, model: &Model, tenant: &str, set_name: &str, rows: usize) {
    let set = model.entity_set(set_name).expect("set");
    let mut conn = db.get().expect("conn");
    store::ensure_tenant(
        &mut conn,
        tenant,
        &format!("Tenant {tenant}"),
        "Europe/Budapest",
    )
    .expect("tenant");
    let columns: Vec<usize> = (0..set.properties.len()).collect();
    let scoped = scope(&mut conn, tenant);
    let mut batch = RowBatch::new(set, scoped.scope(), columns);
    for i in 0..rows {
        let row = set
            .properties
            .iter()
            .map(|p| fixture_value(model, set_name, &p.name, i))
            .collect();
        batch.push(row).expect("row");
    }
    batch.flush(&mut conn).expect("flush");
}

/// Writes rows of `set` for `tenant`: fixture values, with `overrides` per row and
/// property name.
pub fn write(
    db: &Db,
    model: &Model,
    tenant: &str,
    set_name: &str,
    rows: usize,
    overrides: impl Fn(usize, &str) -> Option<store::Value>,
) {
    let set = model.entity_set(set_name).expect("set");
    let mut conn = db.get().expect("conn");
    store::ensure_tenant(&mut conn, tenant, tenant, "Europe/Budapest").expect("tenant");
    let scoped = scope(&mut conn, tenant);
    let mut batch = RowBatch::new(set, scoped.scope(), (0..set.properties.len()).collect());
    for i in 0..rows {
        let row = set
            .properties
            .iter()
            .map(|p| {
                overrides(i, &p.name).unwrap_or_else(|| fixture_value(model, set_name, &p.name, i))
            })
            .collect();
        batch.push(row).expect("row");
    }
    batch.flush(&mut conn).expect("flush");
}

/// Runs a test body once per backend, as `sqlite_<name>` and `postgres_<name>`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn sqlite() {
                ($body)(Backend::Sqlite);
            }
            #[test]
            fn postgres() {
                ($body)(Backend::Postgres);
            }
        }
    };
}

/// A server with one tenant, "Acme" (`acme`, Europe/Budapest, retention long enough
/// for any fixture date), and an ingest key and a read key of it: the set-up of the
/// write-path suites.
pub struct TenantApp {
    pub app: TestApp,
    pub ingest_key: String,
    pub read_key: String,
}

impl TenantApp {
    pub const TENANT: &'static str = "acme";

    pub fn start(backend: Backend) -> Option<TenantApp> {
        let app = TestApp::start(backend, Settings::default(), |db, _| {
            let mut conn = db.get().expect("conn");
            ccfeed::store::tenants::create_tenant(&mut conn, "Acme", "Europe/Budapest", 36500)
                .expect("tenant");
        })?;
        let mut conn = app.db.get().expect("conn");
        let mut key = |role| {
            ccfeed::store::tenants::create_key(&mut conn, Self::TENANT, role, "test")
                .expect("key")
                .1
        };
        let ingest_key = key(ccfeed::store::tenants::Role::Ingest);
        let read_key = key(ccfeed::store::tenants::Role::Read);
        drop(conn);
        Some(TenantApp {
            app,
            ingest_key,
            read_key,
        })
    }

    /// A POST with the ingest key.
    pub fn post_ingest(&self, path: &str, body: &[u8]) -> Response {
        let auth = format!("Bearer {}", self.ingest_key);
        self.app
            .post(path, &[("Authorization", auth.as_str())], body)
    }

    /// A GET with the read key (spaces in `path` encoded); asserts a 200.
    pub fn get_read(&self, path: &str) -> Response {
        let auth = format!("Bearer {}", self.read_key);
        let resp = self.app.get_with(
            &path.replace(' ', "%20"),
            &[("Authorization", auth.as_str())],
        );
        assert_eq!(resp.status, 200, "{path}: {}", resp.text());
        resp
    }

    /// Every row a query returns, following next links, annotations removed.
    pub fn rows(&self, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut next = path.to_string();
        let origin = format!("http://{}", self.app.addr);
        loop {
            let page = self.get_read(&next).json();
            out.extend(page["value"].as_array().expect("value").iter().map(|row| {
                let mut row = row.clone();
                if let Some(o) = row.as_object_mut() {
                    o.retain(|k, _| !k.starts_with('@'));
                }
                row
            }));
            match page["@odata.nextLink"].as_str() {
                Some(link) => next = link.trim_start_matches(&origin).to_string(),
                None => return out,
            }
        }
    }

    /// Every row of a set, ordered by id.
    pub fn all_rows(&self, set: &str) -> Vec<Value> {
        self.rows(&format!("/odata/{set}?$orderby=id"))
    }
}
