//! The `ccfeed` command line, run as a user would: tenants, keys and file ingest,
//! with and without `--json`, on SQLite and (when `CCFEED_TEST_POSTGRES` is set)
//! PostgreSQL; a revoked key is checked against a running `ccfeed serve`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ccfeed::edm::Model;
use ccfeed::store::Db;
use ccfeed::store::sql::Statement;
use chrono::Utc;
use common::{POSTGRES_ENV, raw_get};
use diesel::{Connection, RunQueryDsl};
use serde_json::{Value, json};

/// A database for one test: a SQLite file, or a PostgreSQL database dropped at the end.
struct Target {
    database: String,
    dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl Target {
    fn sqlite() -> Target {
        let dir = tempfile::tempdir().expect("tempdir");
        let database = dir
            .path()
            .join("cli.db")
            .to_str()
            .expect("utf-8")
            .to_string();
        Target {
            database,
            dir,
            pg: None,
        }
    }

    /// None (after a note) without `CCFEED_TEST_POSTGRES`.
    fn postgres() -> Option<Target> {
        let Ok(admin) = std::env::var(POSTGRES_ENV) else {
            eprintln!("note: skipping the PostgreSQL variant: set {POSTGRES_ENV} to run it");
            return None;
        };
        let name = format!(
            "ccfeed_cli_{}_{}",
            std::process::id(),
            Utc::now().timestamp_subsec_nanos()
        );
        let mut conn = diesel::PgConnection::establish(&admin).expect("connect to the admin URL");
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .expect("create database");
        let (base, query) = admin
            .split_once('?')
            .map_or((admin.as_str(), None), |(b, q)| (b, Some(q)));
        let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
        let database = match query {
            Some(q) => format!("{prefix}/{name}?{q}"),
            None => format!("{prefix}/{name}"),
        };
        Some(Target {
            database,
            dir: tempfile::tempdir().expect("tempdir"),
            pg: Some((admin, name)),
        })
    }

    fn for_backend(postgres: bool) -> Option<Target> {
        if postgres {
            Target::postgres()
        } else {
            Some(Target::sqlite())
        }
    }

    fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write file");
        path
    }

    /// Runs `ccfeed ARGS --database DB`.
    fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--database", &self.database]);
        Command::new(env!("CARGO_BIN_EXE_ccfeed"))
            .args(&all)
            .env("RUST_BACKTRACE", "0")
            .env_remove("CCFEED_DATABASE")
            .env_remove("CCFEED_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("run ccfeed")
    }

    /// Runs `ccfeed ARGS --database DB` with extra environment variables; returns
    /// (success, stdout, stderr).
    fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--database", &self.database]);
        let out = Command::new(env!("CARGO_BIN_EXE_ccfeed"))
            .args(&all)
            .env("RUST_BACKTRACE", "0")
            .env_remove("CCFEED_DATABASE")
            .env_remove("CCFEED_LOG")
            .env_remove("CCFEED_CONFIG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("run ccfeed");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs and asserts success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ccfeed {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Runs with `--json`, asserts success, parses stdout (which must be only JSON).
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text}"))
    }

    /// Runs, asserts failure, returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "ccfeed {args:?} should have failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            !stderr.contains("panicked"),
            "{args:?} panicked instead of failing: {stderr}"
        );
        stderr
    }

    /// Rows per table, all tenants: (Calls, Conversations, api_keys, tenants).
    fn counts(&self) -> (i64, i64, i64, i64) {
        let db = Db::open(&self.database, 1).expect("open");
        let model = Model::load().expect("model");
        let mut conn = db.get().expect("conn");
        let mut count = |table: &str| {
            ccfeed::store::count_rows(
                &mut conn,
                &Statement {
                    text: format!("SELECT COUNT(*) FROM \"{table}\""),
                    binds: Vec::new(),
                },
            )
            .expect("count")
        };
        let calls = count(&model.entity_set("Calls").expect("Calls").table);
        let conversations = count(&model.entity_set("Conversations").expect("set").table);
        (calls, conversations, count("api_keys"), count("tenants"))
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg
            && let Ok(mut conn) = diesel::PgConnection::establish(admin)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

/// `ccfeed serve` as a child process, SIGKILLed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(target: &Target) -> Server {
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        let child = Command::new(env!("CARGO_BIN_EXE_ccfeed"))
            .args([
                "serve",
                "--listen",
                &addr.to_string(),
                "--database",
                &target.database,
            ])
            .env("CCFEED_LOG", "warn")
            // Keys are revoked below and the very next request must be refused.
            .env("CCFEED_KEY_CACHE_SECONDS", "0")
            .env_remove("CCFEED_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ccfeed serve");
        let mut server = Server { child, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            if let Some(status) = server.child.try_wait().expect("wait") {
                panic!("ccfeed serve exited: {status}");
            }
            assert!(Instant::now() < deadline, "ccfeed serve did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn get(&self, path: &str, key: &str) -> common::Response {
        raw_get(
            self.addr,
            path,
            &[("Authorization", &format!("Bearer {key}"))],
        )
    }

    fn post(&self, path: &str, key: &str, body: &[u8]) -> u16 {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {key}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("write");
        stream.write_all(body).expect("write");
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        String::from_utf8_lossy(&raw)
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn call(id: &str, started: &str) -> Value {
    json!({
        "id": id, "channelId": "channel-1", "channelType": "Voice",
        "startedAtUtc": started, "holdCount": 0, "holdDurationInSeconds": 0,
        "isConsult": false, "isOutbound": true, "customerFirstName": "Ünõ",
    })
}

fn ndjson(records: &[Value]) -> Vec<u8> {
    records
        .iter()
        .map(|r| format!("{r}\n"))
        .collect::<String>()
        .into_bytes()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

// ---------------------------------------------------------------------------------

fn tenant_lifecycle(postgres: bool) {
    let Some(t) = Target::for_backend(postgres) else {
        return;
    };
    let created = t.json(&[
        "tenant",
        "create",
        "Acme Support",
        "--time-zone",
        "Europe/Budapest",
        "--retention-days",
        "30",
    ]);
    let tenant = &created["tenant"];
    assert_eq!(tenant["id"], "acme-support");
    assert_eq!(tenant["name"], "Acme Support");
    assert_eq!(tenant["time_zone"], "Europe/Budapest");
    assert_eq!(tenant["retention_days"], 30);
    let created_at = tenant["created_at_utc"].as_str().expect("created_at_utc");
    assert!(
        chrono::DateTime::parse_from_rfc3339(created_at).is_ok(),
        "{created_at}"
    );
    // Without --json: what to do next, in words.
    let text = t.ok(&["tenant", "create", "Beta Desk"]);
    assert!(
        text.contains("Created tenant 'Beta Desk' (id beta-desk)"),
        "{text}"
    );
    assert!(text.contains("time zone UTC"), "{text}");
    assert!(
        text.contains("ccfeed key create --tenant beta-desk --role read"),
        "{text}"
    );

    // Refusals, each with a clear message and nothing created.
    let before = t.counts();
    let e = t.fails(&["tenant", "create", "Acme Support"]);
    assert!(e.contains("already exists"), "{e}");
    let e = t.fails(&["tenant", "create", "acme support!"]);
    assert!(e.contains("already exists"), "{e}");
    let e = t.fails(&[
        "tenant",
        "create",
        "Gamma",
        "--time-zone",
        "Mars/Olympus_Mons",
    ]);
    assert!(
        e.contains("'Mars/Olympus_Mons' is not an IANA time zone"),
        "{e}"
    );
    let e = t.fails(&["tenant", "create", "Gamma", "--retention-days", "0"]);
    assert!(e.contains("at least one day"), "{e}");
    let e = t.fails(&["tenant", "create", "***"]);
    assert!(e.contains("letter or digit"), "{e}");
    assert_eq!(t.counts(), before);

    // list and show.
    let list = t.json(&["tenant", "list"]);
    let ids: Vec<&str> = list["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["acme-support", "beta-desk"]);
    assert_eq!(list["tenants"][0], *tenant);
    let text = t.ok(&["tenant", "list"]);
    assert!(
        text.contains("acme-support\tAcme Support\tEurope/Budapest\t30 days"),
        "{text}"
    );
    for name in ["acme-support", "Acme Support"] {
        let shown = t.json(&["tenant", "show", name]);
        assert_eq!(shown["tenant"], *tenant);
        assert_eq!(shown["keys"], json!([]));
    }
    let e = t.fails(&["tenant", "show", "nobody"]);
    assert!(e.contains("no tenant 'nobody'"), "{e}");

    // set.
    let changed = t.json(&[
        "tenant",
        "set",
        "acme-support",
        "--time-zone",
        "America/New_York",
        "--retention-days",
        "60",
    ]);
    assert_eq!(changed["tenant"]["time_zone"], "America/New_York");
    assert_eq!(changed["tenant"]["retention_days"], 60);
    let e = t.fails(&[
        "tenant",
        "set",
        "acme-support",
        "--time-zone",
        "Europe/Budapestt",
    ]);
    assert!(e.contains("not an IANA time zone"), "{e}");
    let e = t.fails(&["tenant", "set", "acme-support", "--retention-days", "0"]);
    assert!(e.contains("at least one day"), "{e}");
    let e = t.fails(&["tenant", "set", "acme-support"]);
    assert!(e.contains("nothing to change"), "{e}");
    let shown = t.json(&["tenant", "show", "acme-support"]);
    assert_eq!(shown["tenant"]["time_zone"], "America/New_York");
    assert_eq!(shown["tenant"]["retention_days"], 60);
    t.json(&[
        "tenant",
        "set",
        "acme-support",
        "--time-zone",
        "Europe/Budapest",
    ]);

    // Data and keys for both tenants.
    let file = t.file(
        "calls.ndjson",
        &ndjson(&[
            call("a", "2026-03-29T01:00:00Z"),
            call("b", "2026-03-29T02:00:00Z"),
        ]),
    );
    let file = file.to_str().unwrap();
    t.ok(&["ingest", "--tenant", "acme-support", "Calls", file]);
    t.ok(&["ingest", "--tenant", "beta-desk", "Calls", file]);
    for tenant in ["acme-support", "beta-desk"] {
        t.json(&["key", "create", "--tenant", tenant, "--role", "read"]);
        t.json(&["key", "create", "--tenant", tenant, "--role", "ingest"]);
    }
    assert_eq!(t.counts(), (4, 4, 4, 2));

    // delete without --yes: refused, with the way forward, nothing deleted.
    let e = t.fails(&["tenant", "delete", "acme-support"]);
    assert!(e.contains("repeat with --yes"), "{e}");
    assert_eq!(t.counts(), (4, 4, 4, 2));
    // with --yes: its rows and keys go, the other tenant's stay.
    let deleted = t.json(&["tenant", "delete", "acme-support", "--yes"]);
    assert_eq!(deleted, json!({"deleted": "acme-support", "rows": 4}));
    assert_eq!(t.counts(), (2, 2, 2, 1));
    let list = t.json(&["tenant", "list"]);
    assert_eq!(list["tenants"].as_array().unwrap().len(), 1);
    assert_eq!(list["tenants"][0]["id"], "beta-desk");
    let e = t.fails(&["key", "list", "--tenant", "acme-support"]);
    assert!(e.contains("no tenant 'acme-support'"), "{e}");
    let e = t.fails(&["tenant", "delete", "acme-support", "--yes"]);
    assert!(e.contains("no tenant"), "{e}");
    // Human output of a deletion.
    let text = t.ok(&["tenant", "delete", "Beta Desk", "--yes"]);
    assert!(
        text.contains("Deleted tenant beta-desk and 4 rows."),
        "{text}"
    );
    assert_eq!(t.counts(), (0, 0, 0, 0));
    let text = t.ok(&["tenant", "list"]);
    assert!(text.contains("No tenants yet"), "{text}");
}

#[test]
fn tenant_lifecycle_sqlite() {
    tenant_lifecycle(false);
}

#[test]
fn tenant_lifecycle_postgres() {
    tenant_lifecycle(true);
}

fn keys(postgres: bool) {
    let Some(t) = Target::for_backend(postgres) else {
        return;
    };
    t.json(&[
        "tenant",
        "create",
        "Acme Support",
        "--time-zone",
        "Europe/Budapest",
    ]);
    let mut secrets = Vec::new();
    let mut ids = Vec::new();
    for role in ["read", "ingest", "admin"] {
        let k = t.json(&[
            "key",
            "create",
            "--tenant",
            "acme-support",
            "--role",
            role,
            "--name",
            &format!("{role} key"),
        ]);
        assert_eq!(k["tenant"], "acme-support");
        assert_eq!(k["role"], role);
        let id = k["key_id"].as_str().expect("key_id").to_string();
        let key = k["key"].as_str().expect("key").to_string();
        assert!(key.starts_with(&format!("ccf_{id}_")), "{key}");
        assert!(key.len() > id.len() + 40, "{key}");
        secrets.push(key);
        ids.push(id);
    }
    // Human output shows the key once, with how to use it.
    let text = t.ok(&[
        "key",
        "create",
        "--tenant",
        "Acme Support",
        "--role",
        "read",
    ]);
    assert!(text.contains("It is shown only now"), "{text}");
    let shown_key = text
        .split_whitespace()
        .find(|w| w.starts_with("ccf_"))
        .expect("a key in the output")
        .to_string();
    assert!(text.contains("OData feed URL"), "{text}");
    secrets.push(shown_key);
    // Refusals.
    let e = t.fails(&[
        "key",
        "create",
        "--tenant",
        "acme-support",
        "--role",
        "owner",
    ]);
    assert!(e.contains("unknown role 'owner'"), "{e}");
    let e = t.fails(&["key", "create", "--tenant", "nobody"]);
    assert!(e.contains("no tenant 'nobody'"), "{e}");

    // Listing never shows a secret, in any form.
    let list = t.json(&["key", "list", "--tenant", "acme-support"]);
    let keys = list["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 4);
    for (k, (id, role)) in keys.iter().zip(ids.iter().zip(["read", "ingest", "admin"])) {
        assert_eq!(k["id"], id.as_str());
        assert_eq!(k["role"], role);
        assert_eq!(k["name"], format!("{role} key"));
        assert_eq!(k["revoked_at_utc"], Value::Null);
    }
    let outputs = [
        serde_json::to_string(&list).unwrap(),
        t.ok(&["key", "list", "--tenant", "acme-support"]),
        t.ok(&["tenant", "show", "acme-support"]),
        t.ok(&["tenant", "show", "acme-support", "--json"]),
    ];
    for out in &outputs {
        for secret in &secrets {
            let (_, tail) = secret
                .strip_prefix("ccf_")
                .and_then(|k| k.split_once('_'))
                .expect("key shape");
            assert!(tail.len() >= 40, "{secret}");
            assert!(!out.contains(tail), "a secret is shown: {out}");
        }
        assert!(!out.contains("sha256") && !out.contains("secret"), "{out}");
    }

    // Against a running server: the keys work, revoked ones stop at once.
    let server = Server::start(&t);
    let (read, ingest) = (&secrets[0], &secrets[1]);
    assert_eq!(server.get("/odata/Calls", read).status, 200);
    let body = ndjson(&[call("k1", "2026-03-29T01:00:00Z")]);
    assert_eq!(server.post("/ingest/Calls", ingest, &body), 200);
    let text = t.ok(&["key", "revoke", &ids[0]]);
    assert!(text.contains(&format!("Revoked key {}", ids[0])), "{text}");
    let resp = server.get("/odata/Calls", read);
    assert_eq!(resp.status, 401);
    assert!(resp.text().contains("revoked"), "{}", resp.text());
    // Revoking by the full key text works too.
    let revoked = t.json(&["key", "revoke", ingest]);
    assert_eq!(revoked["revoked"], true);
    assert_eq!(server.post("/ingest/Calls", ingest, &body), 401);
    // The others still work.
    assert_eq!(server.get("/odata/Calls", &secrets[2]).status, 200);
    assert_eq!(server.get("/odata/Calls/$count", &secrets[3]).text(), "1");
    // Revoking again: nothing to revoke.
    let e = t.fails(&["key", "revoke", &ids[0]]);
    assert!(e.contains("no active key"), "{e}");
    let list = t.json(&["key", "list", "--tenant", "acme-support"]);
    let revoked_at: Vec<bool> = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["revoked_at_utc"].is_string())
        .collect();
    assert_eq!(revoked_at, [true, true, false, false]);
    let text = t.ok(&["tenant", "show", "acme-support"]);
    assert_eq!(text.matches("revoked ").count(), 2, "{text}");
}

#[test]
fn keys_sqlite() {
    keys(false);
}

#[test]
fn keys_postgres() {
    keys(true);
}

fn ingest_files(postgres: bool) {
    let Some(t) = Target::for_backend(postgres) else {
        return;
    };
    t.json(&[
        "tenant",
        "create",
        "Acme Support",
        "--time-zone",
        "Europe/Budapest",
    ]);
    let records = [
        call("c1", "2026-03-29T00:59:59.999Z"),
        call("c2", "2026-03-29T01:00:00Z"),
        call("c3", "2026-10-25T01:30:00+00:00"),
    ];
    let plain = t.file("calls.ndjson", &ndjson(&records));
    let plain = plain.to_str().unwrap();
    let text = t.ok(&["ingest", "--tenant", "acme-support", "Calls", plain]);
    assert_eq!(
        text.trim(),
        "Calls: 3 records, 3 inserted, 0 updated, 3 Conversations rows"
    );
    let text = t.ok(&["ingest", "--tenant", "Acme Support", "Calls", plain]);
    assert_eq!(
        text.trim(),
        "Calls: 3 records, 0 inserted, 3 updated, 3 Conversations rows"
    );
    // gzip, by the .gz name; NDJSON and a JSON array.
    let more = [
        call("c4", "2026-01-01T00:00:00Z"),
        call("c1", "2026-01-02T00:00:00Z"),
    ];
    let gz = t.file("more.ndjson.gz", &gzip(&ndjson(&more)));
    let text = t.ok(&[
        "ingest",
        "--tenant",
        "acme-support",
        "Calls",
        gz.to_str().unwrap(),
    ]);
    assert_eq!(
        text.trim(),
        "Calls: 2 records, 1 inserted, 1 updated, 2 Conversations rows"
    );
    let array = serde_json::to_vec(&[call("c5", "2026-01-01T00:00:00Z")]).unwrap();
    let gz = t.file("array.json.gz", &gzip(&array));
    let text = t.ok(&[
        "ingest",
        "--tenant",
        "acme-support",
        "Calls",
        gz.to_str().unwrap(),
    ]);
    assert_eq!(
        text.trim(),
        "Calls: 1 records, 1 inserted, 0 updated, 1 Conversations rows"
    );
    // A set without derived rows says nothing about Conversations.
    let change = json!({"id": "x", "agentId": "a", "assigned": true, "businessUnitId": "bu",
        "tenantId": "acme-support", "timestampUtc": "2026-03-29T01:00:00Z"});
    let f = t.file("changes.ndjson", &ndjson(&[change]));
    let text = t.ok(&[
        "ingest",
        "--tenant",
        "acme-support",
        "AgentBusinessUnitChanges",
        f.to_str().unwrap(),
    ]);
    assert_eq!(
        text.trim(),
        "AgentBusinessUnitChanges: 1 records, 1 inserted, 0 updated"
    );
    assert_eq!(t.counts().0, 5);

    // A bad file: every problem listed with line and property, exit non-zero, and
    // not one row written (the good lines included).
    let before = t.counts();
    let mut bad2 = call("new-2", "2026-03-29T01:00:00Z");
    bad2["holdCount"] = json!("three");
    let mut bad4 = call("new-4", "2026-03-29T01:00:00Z");
    bad4.as_object_mut().unwrap().remove("isOutbound");
    let mut body = ndjson(&[call("new-1", "2026-03-29T01:00:00Z"), bad2]);
    body.extend_from_slice(b"{\"id\": \"new-3\", broken\n");
    body.extend(ndjson(&[bad4, call("c1", "2020-01-01T00:00:00Z")]));
    let bad = t.file("bad.ndjson", &body);
    let e = t.fails(&[
        "ingest",
        "--tenant",
        "acme-support",
        "Calls",
        bad.to_str().unwrap(),
    ]);
    assert!(
        e.contains("line 2: property 'holdCount': expected a whole number"),
        "{e}"
    );
    assert!(e.contains("line 3: not valid JSON"), "{e}");
    assert!(
        e.contains("line 4: property 'isOutbound': is required"),
        "{e}"
    );
    assert!(
        e.contains("3 problem(s)") && e.contains("nothing was written"),
        "{e}"
    );
    assert!(e.contains("bad.ndjson"), "{e}");
    assert_eq!(t.counts(), before);
    // The same, gzipped.
    let badgz = t.file("bad.ndjson.gz", &gzip(&body));
    let e = t.fails(&[
        "ingest",
        "--tenant",
        "acme-support",
        "Calls",
        badgz.to_str().unwrap(),
    ]);
    assert!(e.contains("line 2: property 'holdCount'"), "{e}");
    // Other refusals.
    let e = t.fails(&[
        "ingest",
        "--tenant",
        "acme-support",
        "Calls",
        "/nonexistent/calls.ndjson",
    ]);
    assert!(e.contains("/nonexistent/calls.ndjson"), "{e}");
    let e = t.fails(&["ingest", "--tenant", "nobody", "Calls", plain]);
    assert!(e.contains("no tenant 'nobody'"), "{e}");
    let e = t.fails(&["ingest", "--tenant", "acme-support", "Callz", plain]);
    assert!(e.contains("no entity set 'Callz'"), "{e}");
    let e = t.fails(&["ingest", "--tenant", "acme-support", "Conversations", plain]);
    assert!(e.contains("derived"), "{e}");
    let corrupt = t.file("corrupt.ndjson.gz", &ndjson(&records));
    t.fails(&[
        "ingest",
        "--tenant",
        "acme-support",
        "Calls",
        corrupt.to_str().unwrap(),
    ]);
    assert_eq!(t.counts(), before);

    // What was written, as the feed shows it.
    let key = t.json(&[
        "key",
        "create",
        "--tenant",
        "acme-support",
        "--role",
        "read",
    ]);
    let key = key["key"].as_str().unwrap();
    let server = Server::start(&t);
    let row = server.get("/odata/Calls('c2')", key).json();
    assert_eq!(row["startedAtUtc"], "2026-03-29T01:00:00.000Z");
    assert_eq!(row["startedAt"], "2026-03-29T03:00:00.000+02:00");
    assert_eq!(row["customerFirstName"], "Ünõ");
    let row = server.get("/odata/Calls('c3')", key).json();
    assert_eq!(row["startedAt"], "2026-10-25T02:30:00.000+01:00");
    let row = server.get("/odata/Conversations('c1')", key).json();
    assert_eq!(row["startedAtUtc"], "2026-01-02T00:00:00.000Z");
    assert_eq!(row["startedAt"], "2026-01-02T01:00:00.000+01:00");
}

#[test]
fn ingest_files_sqlite() {
    ingest_files(false);
}

#[test]
fn ingest_files_postgres() {
    ingest_files(true);
}

#[test]
fn an_unreachable_database_is_a_clear_failure() {
    // A PostgreSQL URL nobody listens on: a clear failure, not a hang or a panic.
    let out = Command::new(env!("CARGO_BIN_EXE_ccfeed"))
        .args([
            "tenant",
            "list",
            "--database",
            "postgres://nobody@127.0.0.1:1/none",
        ])
        .env("RUST_BACKTRACE", "0")
        .env_remove("CCFEED_LOG")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("opening postgres://"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

fn a_refused_tenant_set_changes_nothing(postgres: bool) {
    let Some(t) = Target::for_backend(postgres) else {
        return;
    };
    let created = t.json(&[
        "tenant",
        "create",
        "Acme Support",
        "--time-zone",
        "Europe/Budapest",
    ]);
    // A valid zone with an invalid retention: the command fails, so neither applies.
    let e = t.fails(&[
        "tenant",
        "set",
        "acme-support",
        "--time-zone",
        "America/Chicago",
        "--retention-days",
        "0",
    ]);
    assert!(e.contains("at least one day"), "{e}");
    let shown = t.json(&["tenant", "show", "acme-support"]);
    assert_eq!(shown["tenant"], created["tenant"]);
}

#[test]
fn a_refused_tenant_set_changes_nothing_sqlite() {
    a_refused_tenant_set_changes_nothing(false);
}

#[test]
fn a_refused_tenant_set_changes_nothing_postgres() {
    a_refused_tenant_set_changes_nothing(true);
}

#[test]
fn ingest_reads_every_member_of_a_gz_file() {
    let t = Target::sqlite();
    t.json(&["tenant", "create", "Acme"]);
    // What `cat part1.gz part2.gz > all.gz` or pigz produce.
    let mut body = gzip(&ndjson(&[call("p1", "2026-03-29T01:00:00Z")]));
    body.extend(gzip(&ndjson(&[call("p2", "2026-03-29T01:00:00Z")])));
    let f = t.file("parts.ndjson.gz", &body);
    let text = t.ok(&["ingest", "--tenant", "acme", "Calls", f.to_str().unwrap()]);
    assert_eq!(
        text.trim(),
        "Calls: 2 records, 2 inserted, 0 updated, 2 Conversations rows"
    );
    assert_eq!(t.counts().0, 2);
}

/// A minimal Genesys conversation: a customer's inbound call answered by one agent.
fn genesys_call(id: &str, start: &str) -> Value {
    json!({"conversationId": id, "conversationStart": start, "originatingDirection": "inbound",
        "participants": [
            {"participantId": "p1", "purpose": "customer", "sessions": [{
                "mediaType": "voice", "sessionId": "s1", "direction": "inbound",
                "segments": [{"segmentStart": start, "segmentEnd": "2026-05-04T09:10:00.000Z",
                              "segmentType": "interact", "disconnectType": "peer"}]}]},
            {"participantId": "p2", "purpose": "agent", "userId": "u-7", "sessions": [{
                "mediaType": "voice", "sessionId": "s2", "direction": "inbound",
                "segments": [{"segmentStart": start, "segmentEnd": "2026-05-04T09:10:00.000Z",
                              "segmentType": "interact", "disconnectType": "client"}]}]}]})
}

fn import_files(postgres: bool) {
    let Some(t) = Target::for_backend(postgres) else {
        return;
    };
    t.json(&[
        "tenant",
        "create",
        "Acme Support",
        "--time-zone",
        "Europe/Budapest",
    ]);
    let good = serde_json::to_vec(&json!({"conversations": [
        genesys_call("c-1", "2026-05-04T09:00:00.000Z"),
        genesys_call("c-2", "2026-05-04T09:01:00.000Z"),
    ]}))
    .expect("json");
    let good = t.file("details.json.gz", &gzip(&good));
    let good = good.to_str().unwrap();
    let bad = t.file(
        "broken.json",
        &serde_json::to_vec(&json!({"conversations": [
            genesys_call("c-3", "not a time")
        ]}))
        .expect("json"),
    );
    let bad = bad.to_str().unwrap();
    // A broken file is reported with its conversation; the good one is still imported,
    // and the command fails overall.
    let stderr = t.fails(&["import", "genesys", "--tenant", "acme-support", bad, good]);
    assert!(stderr.contains("conversation 'c-3'"), "{stderr}");
    assert!(
        stderr.contains("1 of 2 file(s) were not imported"),
        "{stderr}"
    );
    let (calls, conversations, _, _) = t.counts();
    assert_eq!((calls, conversations), (2, 2));
    // Again: nothing new.
    let text = t.ok(&["import", "genesys", "--tenant", "acme-support", good]);
    assert!(text.contains("2 conversations"), "{text}");
    assert!(text.contains("Calls 2 (0 new)"), "{text}");
    assert_eq!(t.counts().0, 2);
    // Unknown tenant, unknown format: clear failures.
    let stderr = t.fails(&["import", "genesys", "--tenant", "nobody", good]);
    assert!(stderr.contains("no tenant 'nobody'"), "{stderr}");
    t.fails(&["import", "zendesk", "--tenant", "acme-support", good]);
}

#[test]
fn import_files_sqlite() {
    import_files(false);
}

#[test]
fn import_files_postgres() {
    import_files(true);
}

// ---------------------------------------------------------------------------------
// The command-line jobs take their settings from the same configuration as `serve`.

/// `ccfeed purge` deletes in statements of the configured `purge_chunk` (seen in its
/// debug log), from the config file named by `--config` or `CCFEED_CONFIG`.
fn purge_honours_the_configured_chunk(postgres: bool) {
    let Some(t) = Target::for_backend(postgres) else {
        return;
    };
    t.ok(&["tenant", "create", "Old Data", "--retention-days", "30"]);
    let calls: Vec<Value> = (0..5)
        .map(|i| {
            call(
                &format!("old-{i}"),
                &format!("2020-01-0{}T08:00:00Z", i + 1),
            )
        })
        .collect();
    let file = t.file("calls.ndjson", &ndjson(&calls));
    let file = file.to_str().expect("utf-8");
    let chunks_of_calls = |stderr: &str| {
        stderr
            .lines()
            .filter(|l| l.contains("purged a chunk") && l.contains("set=Calls"))
            .count()
    };
    let debug = [("CCFEED_LOG", "ccfeed=debug")];

    // Defaults: one statement takes all five.
    t.ok(&["ingest", "--tenant", "old-data", "Calls", file]);
    let (ok, _, stderr) = t.run_with_env(&["purge", "--tenant", "old-data"], &debug);
    assert!(ok, "{stderr}");
    assert_eq!(chunks_of_calls(&stderr), 1, "{stderr}");

    // purge_chunk = 2 in the config file: 2 + 2 + 1.
    let config = t.file("ccfeed.toml", b"purge_chunk = 2\n");
    let config = config.to_str().expect("utf-8");
    t.ok(&["ingest", "--tenant", "old-data", "Calls", file]);
    let (ok, stdout, stderr) = t.run_with_env(
        &["purge", "--tenant", "old-data", "--config", config],
        &debug,
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("Calls: 5"), "{stdout}");
    assert_eq!(chunks_of_calls(&stderr), 3, "{stderr}");

    // The same through the environment variable.
    t.ok(&["ingest", "--tenant", "old-data", "Calls", file]);
    let (ok, _, stderr) = t.run_with_env(
        &["purge", "--tenant", "old-data"],
        &[("CCFEED_LOG", "ccfeed=debug"), ("CCFEED_CONFIG", config)],
    );
    assert!(ok, "{stderr}");
    assert_eq!(chunks_of_calls(&stderr), 3, "{stderr}");

    // A chunk of 0 is refused before anything runs.
    let zero = t.file("zero.toml", b"purge_chunk = 0\n");
    let (ok, _, stderr) =
        t.run_with_env(&["purge", "--config", zero.to_str().expect("utf-8")], &[]);
    assert!(!ok && stderr.contains("purge_chunk"), "{stderr}");
}

#[test]
fn purge_honours_the_configured_chunk_sqlite() {
    purge_honours_the_configured_chunk(false);
}

#[test]
fn purge_honours_the_configured_chunk_postgres() {
    purge_honours_the_configured_chunk(true);
}

/// `ccfeed refresh-lookups` applies the configured shrink guard: a snapshot that
/// drops 11 of 12 agents is refused by default and accepted when the config raises
/// `refresh_guard_min_rows` above the set's size.
fn refresh_lookups_honours_the_configured_guard(postgres: bool) {
    let Some(t) = Target::for_backend(postgres) else {
        return;
    };
    t.ok(&["tenant", "create", "Lookups"]);
    let agents = |n: usize| {
        let rows: Vec<Value> = (0..n)
            .map(|i| json!({ "id": format!("a{i:02}"), "name": format!("Agent {i}") }))
            .collect();
        serde_json::to_vec(&json!({ "Agents": rows })).expect("json")
    };
    let full = t.file("full.json", &agents(12));
    t.ok(&[
        "tenant",
        "set",
        "lookups",
        "--directory-source",
        full.to_str().expect("utf-8"),
    ]);
    t.ok(&["refresh-lookups", "--tenant", "lookups"]);
    let one = t.file("one.json", &agents(1));
    t.ok(&[
        "tenant",
        "set",
        "lookups",
        "--directory-source",
        one.to_str().expect("utf-8"),
    ]);
    let stderr = t.fails(&["refresh-lookups", "--tenant", "lookups"]);
    assert!(stderr.contains("suspicious"), "{stderr}");

    let config = t.file("ccfeed.toml", b"refresh_guard_min_rows = 100\n");
    let out = t.json(&[
        "refresh-lookups",
        "--tenant",
        "lookups",
        "--config",
        config.to_str().expect("utf-8"),
    ]);
    let run = &out["refreshes"][0];
    assert_eq!(run["ok"], true, "{out}");
    assert_eq!(run["sets"]["Agents"]["deleted"], 11, "{out}");
}

#[test]
fn refresh_lookups_honours_the_configured_guard_sqlite() {
    refresh_lookups_honours_the_configured_guard(false);
}

#[test]
fn refresh_lookups_honours_the_configured_guard_postgres() {
    refresh_lookups_honours_the_configured_guard(true);
}
