//! The write path over HTTP, on both backends: `POST /ingest/{EntitySet}` with NDJSON
//! and JSON-array bodies, gzip, limits, credentials; every rejected batch leaves the
//! database exactly as it was; an upload cut off by a killed server (the real binary,
//! SIGKILLed mid-upload) is never half-committed.

mod common;

use std::io::{BufWriter, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use ccfeed::config::Settings;
use ccfeed::edm::{EdmType, Storage};
use ccfeed::store::sql::Statement;
use ccfeed::store::tenants::{self, Role};
use ccfeed::store::{self, Db};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use common::*;
use diesel::{Connection, RunQueryDsl};
use serde_json::{Map, Value, json};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

// ---------------------------------------------------------------------------------
// Records.

fn base() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-28T22:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

/// UTC at millisecond precision, as the feed shows it.
fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Europe/Budapest rendering, as the feed shows a local column.
fn budapest(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Europe::Budapest)
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// A Calls record with every non-derived property, values varied by `i`: nulls,
/// awkward text, extremes of Int32. `tag` goes into a text column so a second
/// version of the same id is told apart.
fn call(id: &str, i: usize, tag: &str) -> Map<String, Value> {
    let start = base() + TimeDelta::minutes(37 * i as i64) + TimeDelta::milliseconds(i as i64);
    let ended = (i % 4 != 1).then(|| utc(start + TimeDelta::seconds(30 + i as i64)));
    let joined = (i % 5 != 2).then(|| utc(start + TimeDelta::milliseconds(4_321)));
    obj(json!({
        "id": id,
        "businessUnitId": if i.is_multiple_of(3) { Value::Null } else { json!(format!("bu-{}", i % 2)) },
        "channelId": format!("channel-{}", i % 3),
        "channelPhoneNumber": "+3612345678",
        "channelType": "Voice",
        "conversationEndedReason": if i.is_multiple_of(5) { Value::Null } else { json!("Default") },
        "customerFirstName": format!("Zsófia \"{tag}\" O'Brien %_ {i}"),
        "customerId": format!("cust-{i}"),
        "customerLastName": if i.is_multiple_of(2) { json!("Kovács") } else { Value::Null },
        "customerPhoneNumber": format!("+36 30 {i:07}"),
        "customerJoinedAtUtc": joined,
        "customerRingDuration": (i % 7) as i64,
        "durationInSeconds": match i % 6 { 1 => i32::MAX as i64, 2 => i32::MIN as i64, _ => 30 + i as i64 },
        "startedAtUtc": utc(start),
        "endedAtUtc": ended,
        "holdCount": (i % 3) as i64,
        "holdDurationInSeconds": (i % 3 * 10) as i64,
        "isChannelClosed": if i.is_multiple_of(4) { Value::Null } else { json!((i % 2) as i64) },
        "isChannelOpen": 1,
        "isConsult": i.is_multiple_of(2),
        "isOutbound": i.is_multiple_of(3),
        "nextConversationId": Value::Null,
        "openingCheckResult": "Open",
        "transferInitiatedBy": if i.is_multiple_of(2) { Value::Null } else { json!("Agent") },
        "transferToExternalDestinationPhoneNumber": Value::Null,
    }))
}

fn chat(id: &str, i: usize) -> Map<String, Value> {
    let start = base() + TimeDelta::minutes(11 * i as i64);
    obj(json!({
        "id": id,
        "businessUnitId": "bu-1",
        "channelId": "chat-channel",
        "channelType": "Chat",
        "conversationEndedReason": "CustomerDisconnected",
        "customerFirstName": "Ádám",
        "customerId": format!("chat-cust-{i}"),
        "customerLastName": Value::Null,
        "durationInSeconds": 600 + i as i64,
        "startedAtUtc": utc(start),
        "endedAtUtc": utc(start + TimeDelta::minutes(10)),
        "isChannelClosed": 0,
        "isChannelOpen": 1,
        "nextConversationId": Value::Null,
        "openingCheckResult": "Open",
        "averageAgentAnswerSpeedInSeconds": 12.5 + i as f64,
        "averageBotAnswerSpeedInSeconds": 0.25,
        "averageCustomerAnswerSpeedInSeconds": Value::Null,
        "firstCustomerAnswerSpeedInSeconds": 7,
    }))
}

fn email(id: &str, i: usize) -> Map<String, Value> {
    let start = base() + TimeDelta::hours(5 * i as i64);
    obj(json!({
        "id": id,
        "businessUnitId": Value::Null,
        "channelId": "mail-channel",
        "channelType": "Email",
        "customerEmailAddress": format!("c{i}@example.com"),
        "durationInSeconds": 86_400,
        "startedAtUtc": utc(start),
        "endedAtUtc": Value::Null,
        "isOutbound": i % 2 == 1,
        "firstReplyTimeInSeconds": 3_600,
        "subject": "Re: \"invoice\" №42",
        "threadId": format!("thread-{i}"),
    }))
}

fn ndjson(records: &[Map<String, Value>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.extend_from_slice(serde_json::to_string(r).expect("json").as_bytes());
        out.push(b'\n');
    }
    out
}

fn array(records: &[Map<String, Value>]) -> Vec<u8> {
    serde_json::to_vec(records).expect("json")
}

/// The row the feed should show for a record: sent values, UTC timestamps at
/// millisecond precision in `Z`, local columns derived in Europe/Budapest, the
/// rest null.
fn expected_row(model: &ccfeed::edm::Model, set: &str, record: &Map<String, Value>) -> Value {
    let set = model.entity_set(set).expect("set");
    let mut row = Map::new();
    let instant = |v: &Value| -> Option<DateTime<Utc>> {
        v.as_str().map(|s| {
            let t = DateTime::parse_from_rfc3339(s)
                .expect("timestamp")
                .with_timezone(&Utc);
            t - TimeDelta::nanoseconds(t.timestamp_subsec_nanos() as i64 % 1_000_000)
        })
    };
    for p in &set.properties {
        let value = match (p.ty, p.storage) {
            (EdmType::DateTimeOffset, Storage::LocalText) => {
                let twin = &set
                    .property_at(p.utc_twin.expect("twin"))
                    .expect("twin")
                    .name;
                record
                    .get(twin)
                    .and_then(instant)
                    .map_or(Value::Null, |t| json!(budapest(t)))
            }
            (EdmType::DateTimeOffset, _) => record
                .get(&p.name)
                .and_then(instant)
                .map_or(Value::Null, |t| json!(utc(t))),
            _ => record.get(&p.name).cloned().unwrap_or(Value::Null),
        };
        row.insert(p.name.clone(), value);
    }
    Value::Object(row)
}

/// The Conversations row a Calls, Chats or Emails row implies.
fn expected_conversation(model: &ccfeed::edm::Model, source: &Value) -> Value {
    let conv = model.entity_set("Conversations").expect("set");
    Value::Object(
        conv.properties
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    source.get(&p.name).cloned().unwrap_or(Value::Null),
                )
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------------
// A server with two tenants and their keys.

struct Env {
    app: TestApp,
    a_read: String,
    a_ingest: String,
    a_admin: String,
    b_read: String,
    b_ingest: String,
}

const A: &str = "acme";
const B: &str = "beta";

fn setup(backend: Backend, settings: Settings) -> Option<Env> {
    let app = TestApp::start(backend, settings, |db, _| {
        let mut conn = db.get().expect("conn");
        tenants::create_tenant(&mut conn, "Acme", "Europe/Budapest", 30).expect("tenant A");
        tenants::create_tenant(&mut conn, "Beta", "America/New_York", 30).expect("tenant B");
    })?;
    let mut conn = app.db.get().expect("conn");
    let mut key = |t: &str, role| {
        tenants::create_key(&mut conn, t, role, "test")
            .expect("key")
            .1
    };
    let (a_read, a_ingest, a_admin) = (
        key(A, Role::Read),
        key(A, Role::Ingest),
        key(A, Role::Admin),
    );
    let (b_read, b_ingest) = (key(B, Role::Read), key(B, Role::Ingest));
    drop(conn);
    Some(Env {
        app,
        a_read,
        a_ingest,
        a_admin,
        b_read,
        b_ingest,
    })
}

impl Env {
    fn ingest(&self, set: &str, body: &[u8]) -> Response {
        self.ingest_with(set, &self.a_ingest, body, &[])
    }

    fn ingest_with(&self, set: &str, key: &str, body: &[u8], headers: &[(&str, &str)]) -> Response {
        let auth = bearer(key);
        let mut all = vec![("Authorization", auth.as_str())];
        all.extend_from_slice(headers);
        post(self.app.addr, &format!("/ingest/{set}"), &all, body)
    }

    /// Ingests and asserts 200 with this report.
    fn ingest_ok(
        &self,
        set: &str,
        body: &[u8],
        records: u64,
        inserted: u64,
        updated: u64,
    ) -> Value {
        let resp = self.ingest(set, body);
        assert_eq!(resp.status, 200, "{}", resp.text());
        let report = resp.json();
        let mut expected = json!({
            "entitySet": set, "records": records, "inserted": inserted, "updated": updated,
        });
        if matches!(set, "Calls" | "Chats" | "Emails") {
            expected["conversations"] = json!(inserted + updated);
        }
        assert_eq!(report, expected);
        report
    }

    /// Every row of a set for `key`'s tenant, by id, annotations removed.
    fn rows(&self, set: &str, key: &str) -> Vec<Value> {
        rows_at(self.app.addr, set, key)
    }

    fn row(&self, set: &str, id: &str) -> Value {
        let resp = self.app.get_with(
            &format!("/odata/{set}('{id}')"),
            &[("Authorization", &bearer(&self.a_read))],
        );
        assert_eq!(resp.status, 200, "{set}('{id}'): {}", resp.text());
        strip(resp.json())
    }

    /// Everything a batch could have touched: tenant A's rows of the written sets
    /// and every table's row count over all tenants.
    fn state(&self) -> (Vec<Vec<Value>>, Vec<i64>) {
        let rows = [
            "Calls",
            "Conversations",
            "Chats",
            "Emails",
            "AgentBusinessUnitChanges",
        ]
        .iter()
        .map(|s| self.rows(s, &self.a_read))
        .collect();
        (rows, table_counts(&self.app.db, &self.app.model))
    }
}

fn strip(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.into_iter().filter(|(k, _)| !k.starts_with('@')).collect())
        }
        other => other,
    }
}

fn rows_at(addr: SocketAddr, set: &str, key: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut path = format!("/odata/{set}?$orderby=id");
    loop {
        let resp = raw_get(addr, &path, &[("Authorization", &bearer(key))]);
        assert_eq!(resp.status, 200, "{path}: {}", resp.text());
        let page = resp.json();
        out.extend(
            page["value"]
                .as_array()
                .expect("value")
                .iter()
                .cloned()
                .map(strip),
        );
        match page["@odata.nextLink"].as_str() {
            Some(link) => {
                path = link
                    .trim_start_matches(&format!("http://{addr}"))
                    .to_string()
            }
            None => return out,
        }
    }
}

fn count_at(addr: SocketAddr, set: &str, key: &str) -> u64 {
    let resp = raw_get(
        addr,
        &format!("/odata/{set}/$count"),
        &[("Authorization", &bearer(key))],
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.text().trim().parse().expect("count")
}

/// Row counts of every table, all tenants together, straight from the database.
fn table_counts(db: &Db, model: &ccfeed::edm::Model) -> Vec<i64> {
    let mut conn = db.get().expect("conn");
    model
        .entity_sets()
        .iter()
        .map(|s| {
            store::count_rows(
                &mut conn,
                &Statement {
                    text: format!("SELECT COUNT(*) FROM \"{}\"", s.table),
                    binds: Vec::new(),
                },
            )
            .expect("count")
        })
        .collect()
}

/// Asserts an OData error with this status whose details name `line` and
/// `property` (None: no property) in an entry whose message contains `fragment`.
fn assert_record_error(
    resp: &Response,
    status: u16,
    line: u64,
    property: Option<&str>,
    fragment: &str,
) {
    let error = resp.odata_error(status);
    let details = error["details"].as_array().expect("details");
    let prefix = format!("line {line}:");
    let found = details.iter().any(|d| {
        let message = d["message"].as_str().unwrap_or("");
        message.starts_with(&prefix)
            && message.contains(fragment)
            && d["target"] == property.map_or(Value::Null, |p| json!(p))
    });
    assert!(
        found,
        "expected a detail for {prefix} property {property:?} containing {fragment:?}: {error:#}"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap_or("")
            .contains("nothing was written"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------
// Happy path.

both_backends!(ndjson_and_array_bodies_are_written_exactly, |backend| {
    let Some(env) = setup(backend, Settings::default()) else {
        return;
    };
    let model = env.app.model.clone();
    let first: Vec<_> = (0..30)
        .map(|i| call(&format!("call-{i:03}"), i, "v1"))
        .collect();
    env.ingest_ok("Calls", &ndjson(&first), 30, 30, 0);
    let second: Vec<_> = (30..42)
        .map(|i| call(&format!("call-{i:03}"), i, "v1"))
        .collect();
    env.ingest_ok("Calls", &array(&second), 12, 12, 0);
    // CRLF line ends and blank lines are fine in NDJSON.
    let third: Vec<_> = (42..45)
        .map(|i| call(&format!("call-{i:03}"), i, "v1"))
        .collect();
    let mut crlf = Vec::new();
    for r in &third {
        crlf.extend_from_slice(serde_json::to_string(r).unwrap().as_bytes());
        crlf.extend_from_slice(b"\r\n\r\n");
    }
    env.ingest_ok("Calls", &crlf, 3, 3, 0);

    // An empty body (or only blank lines, or an empty array) writes nothing, fine.
    for empty in [&b""[..], b"\n\n  \n", b"[]"] {
        env.ingest_ok("Calls", empty, 0, 0, 0);
    }

    let sent: Vec<_> = first.iter().chain(&second).chain(&third).collect();
    let rows = env.rows("Calls", &env.a_read);
    assert_eq!(rows.len(), sent.len());
    for (row, record) in rows.iter().zip(&sent) {
        assert_eq!(row, &expected_row(&model, "Calls", record));
    }
    // Spot-check the derivation by hand, not through the helper.
    let row = env.row("Calls", "call-001");
    assert_eq!(row["startedAtUtc"], "2026-03-28T22:37:00.001Z");
    assert_eq!(row["startedAt"], "2026-03-28T23:37:00.001+01:00");
    assert_eq!(row["endedAtUtc"], Value::Null);
    assert_eq!(row["endedAt"], Value::Null);
    assert_eq!(row["durationInSeconds"], i32::MAX);
    assert_eq!(env.row("Calls", "call-002")["durationInSeconds"], i32::MIN);
    assert_eq!(
        env.row("Calls", "call-003")["customerFirstName"],
        "Zsófia \"v1\" O'Brien %_ 3"
    );

    // Conversations mirror every call, with the same values.
    let conversations = env.rows("Conversations", &env.a_read);
    assert_eq!(conversations.len(), rows.len());
    for (conv, row) in conversations.iter().zip(&rows) {
        assert_eq!(conv, &expected_conversation(&model, row));
    }
    // Nothing went to the other tenant.
    assert_eq!(count_at(env.app.addr, "Calls", &env.b_read), 0);
    assert_eq!(count_at(env.app.addr, "Conversations", &env.b_read), 0);
});

both_backends!(local_columns_follow_the_tenant_zone_across_dst, |backend| {
    let Some(env) = setup(backend, Settings::default()) else {
        return;
    };
    // (sent startedAtUtc, expected startedAtUtc, expected startedAt in Europe/Budapest)
    let cases = [
        // Spring forward: 02:00 local does not exist on 2026-03-29.
        (
            "2026-03-29T00:59:59.999Z",
            "2026-03-29T00:59:59.999Z",
            "2026-03-29T01:59:59.999+01:00",
        ),
        (
            "2026-03-29T01:00:00Z",
            "2026-03-29T01:00:00.000Z",
            "2026-03-29T03:00:00.000+02:00",
        ),
        // Fall back: 02:00-03:00 local happens twice on 2026-10-25.
        (
            "2026-10-25T00:30:00Z",
            "2026-10-25T00:30:00.000Z",
            "2026-10-25T02:30:00.000+02:00",
        ),
        (
            "2026-10-25T01:30:00Z",
            "2026-10-25T01:30:00.000Z",
            "2026-10-25T02:30:00.000+01:00",
        ),
        // Another offset in, UTC out; sub-millisecond digits are cut.
        (
            "2026-07-01T12:00:00+05:30",
            "2026-07-01T06:30:00.000Z",
            "2026-07-01T08:30:00.000+02:00",
        ),
        (
            "2026-01-15T23:30:00.1239Z",
            "2026-01-15T23:30:00.123Z",
            "2026-01-16T00:30:00.123+01:00",
        ),
    ];
    let records: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, (sent, _, _))| {
            let mut r = call(&format!("dst-{i}"), 3, "dst");
            r.insert("startedAtUtc".into(), json!(sent));
            r.insert("endedAtUtc".into(), json!(sent));
            r
        })
        .collect();
    env.ingest_ok("Calls", &ndjson(&records), 6, 6, 0);
    for (i, (_, utc_text, local)) in cases.iter().enumerate() {
        let row = env.row("Calls", &format!("dst-{i}"));
        assert_eq!(row["startedAtUtc"], *utc_text, "case {i}");
        assert_eq!(row["startedAt"], *local, "case {i}");
        assert_eq!(row["endedAt"], *local, "case {i}");
        let conv = env.row("Conversations", &format!("dst-{i}"));
        assert_eq!(conv["startedAt"], *local, "case {i}");
    }
    // The other tenant's zone (America/New_York) applies to its rows.
    let resp = env.ingest_with("Calls", &env.b_ingest, &ndjson(&records[..1]), &[]);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        rows_at(env.app.addr, "Calls", &env.b_read)[0]["startedAt"],
        "2026-03-28T20:59:59.999-04:00"
    );

    // A sent local value that denotes the same instant is accepted (in any offset);
    // the stored rendering is still the tenant's.
    let mut same = call("local-same", 3, "x");
    same.insert("startedAtUtc".into(), json!("2026-10-25T00:30:00Z"));
    same.insert("startedAt".into(), json!("2026-10-25T02:30:00+02:00"));
    let mut same_utc = call("local-same-utc", 3, "x");
    same_utc.insert("startedAtUtc".into(), json!("2026-10-25T01:30:00Z"));
    same_utc.insert("startedAt".into(), json!("2026-10-25T01:30:00.000Z"));
    env.ingest_ok("Calls", &ndjson(&[same, same_utc]), 2, 2, 0);
    assert_eq!(
        env.row("Calls", "local-same")["startedAt"],
        "2026-10-25T02:30:00.000+02:00"
    );
    assert_eq!(
        env.row("Calls", "local-same-utc")["startedAt"],
        "2026-10-25T02:30:00.000+01:00"
    );

    // An inconsistent one (the other 02:30 of that night) is refused, nothing written.
    let before = env.state();
    let mut wrong = call("local-wrong", 3, "x");
    wrong.insert("startedAtUtc".into(), json!("2026-10-25T00:30:00Z"));
    wrong.insert("startedAt".into(), json!("2026-10-25T02:30:00+01:00"));
    let ok = call("local-ok", 4, "x");
    let resp = env.ingest("Calls", &ndjson(&[ok, wrong]));
    assert_record_error(&resp, 400, 2, Some("startedAt"), "different instant");
    assert_eq!(env.state(), before);
});

both_backends!(chats_and_emails_become_conversations, |backend| {
    let Some(env) = setup(backend, Settings::default()) else {
        return;
    };
    let model = env.app.model.clone();
    let calls: Vec<_> = (0..3).map(|i| call(&format!("c-{i}"), i, "c")).collect();
    let chats: Vec<_> = (0..4).map(|i| chat(&format!("h-{i}"), i)).collect();
    let emails: Vec<_> = (0..2).map(|i| email(&format!("m-{i}"), i)).collect();
    env.ingest_ok("Calls", &ndjson(&calls), 3, 3, 0);
    env.ingest_ok("Chats", &array(&chats), 4, 4, 0);
    env.ingest_ok("Emails", &ndjson(&emails), 2, 2, 0);
    let mut sources = Vec::new();
    for (set, records) in [("Calls", &calls), ("Chats", &chats), ("Emails", &emails)] {
        let rows = env.rows(set, &env.a_read);
        assert_eq!(rows.len(), records.len(), "{set}");
        for (row, record) in rows.iter().zip(records.iter()) {
            assert_eq!(row, &expected_row(&model, set, record), "{set}");
        }
        sources.extend(rows);
    }
    sources.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let conversations = env.rows("Conversations", &env.a_read);
    assert_eq!(conversations.len(), 9);
    for (conv, source) in conversations.iter().zip(&sources) {
        assert_eq!(conv, &expected_conversation(&model, source));
    }
    assert_eq!(
        env.row("Conversations", "h-1")["averageAgentAnswerSpeedInSeconds"],
        13.5
    );
    assert_eq!(
        env.row("Conversations", "m-0")["subject"],
        "Re: \"invoice\" №42"
    );

    // Conversations cannot be written directly, in any form.
    let before = env.state();
    let conv = expected_conversation(&model, &sources[0]);
    for body in [ndjson(&[obj(conv.clone())]), b"".to_vec()] {
        let e = env.ingest("Conversations", &body).odata_error(400);
        assert!(e["message"].as_str().unwrap().contains("derived"), "{e}");
    }
    assert_eq!(env.state(), before);
});

// ---------------------------------------------------------------------------------
// Idempotency.

both_backends!(retries_and_overlaps_are_idempotent, |backend| {
    let Some(env) = setup(backend, Settings::default()) else {
        return;
    };
    let batch: Vec<_> = (0..20)
        .map(|i| call(&format!("call-{i:03}"), i, "v1"))
        .collect();
    env.ingest_ok("Calls", &ndjson(&batch), 20, 20, 0);
    let after_first = env.state();
    // The same batch again: all updates, contents identical.
    env.ingest_ok("Calls", &ndjson(&batch), 20, 0, 20);
    assert_eq!(env.state(), after_first);
    env.ingest_ok("Calls", &array(&batch), 20, 0, 20);
    assert_eq!(env.state(), after_first);

    // An overlapping batch: 10..30 with new values.
    let overlap: Vec<_> = (10..30)
        .map(|i| call(&format!("call-{i:03}"), i + 1, "v2"))
        .collect();
    env.ingest_ok("Calls", &ndjson(&overlap), 20, 10, 10);
    let rows = env.rows("Calls", &env.a_read);
    assert_eq!(rows.len(), 30);
    let model = env.app.model.clone();
    for row in &rows {
        let id = row["id"].as_str().unwrap();
        let i: usize = id.trim_start_matches("call-").parse().unwrap();
        let record = if i < 10 { &batch[i] } else { &overlap[i - 10] };
        assert_eq!(row, &expected_row(&model, "Calls", record), "{id}");
    }
    let conversations = env.rows("Conversations", &env.a_read);
    assert_eq!(conversations.len(), 30);
    for (conv, row) in conversations.iter().zip(&rows) {
        assert_eq!(conv, &expected_conversation(&model, row));
    }
    // And that one retried is a no-op too.
    let settled = env.state();
    env.ingest_ok("Calls", &ndjson(&overlap), 20, 0, 20);
    assert_eq!(env.state(), settled);
});

both_backends!(
    a_key_repeated_in_one_batch_keeps_the_last_record,
    |backend| {
        let Some(env) = setup(backend, Settings::default()) else {
            return;
        };
        let model = env.app.model.clone();
        let (x1, y, x2, x3) = (
            call("x", 1, "first"),
            call("y", 2, "y"),
            call("x", 4, "second"),
            call("x", 5, "third"),
        );
        let resp = env.ingest("Calls", &ndjson(&[x1, y.clone(), x2, x3.clone()]));
        assert_eq!(resp.status, 200, "{}", resp.text());
        let report = resp.json();
        assert_eq!(report["records"], 4);
        assert_eq!(report["inserted"], 2, "{report}");
        assert_eq!(report["updated"], 0, "{report}");
        assert_eq!(env.row("Calls", "x"), expected_row(&model, "Calls", &x3));
        assert_eq!(env.row("Calls", "y"), expected_row(&model, "Calls", &y));
        assert_eq!(
            env.row("Conversations", "x"),
            expected_conversation(&model, &expected_row(&model, "Calls", &x3))
        );
        assert_eq!(count_at(env.app.addr, "Calls", &env.a_read), 2);
        // The same in a JSON array, on rows that exist already.
        let (x4, x5) = (call("x", 7, "fourth"), call("x", 8, "fifth"));
        let resp = env.ingest("Calls", &array(&[x4, x5.clone()]));
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(env.row("Calls", "x"), expected_row(&model, "Calls", &x5));

        // Repeated far apart, across the writer's internal flushes (every 2,000 rows).
        let mut big: Vec<_> = (0..2_600)
            .map(|i| call(&format!("big-{i:05}"), i, "big"))
            .collect();
        let last = call("big-00000", 9, "last");
        big.insert(2_300, last.clone());
        let resp = env.ingest("Calls", &ndjson(&big));
        assert_eq!(resp.status, 200, "{}", resp.text());
        let report = resp.json();
        assert_eq!(report["records"], 2_601);
        assert_eq!(
            report["inserted"].as_u64().unwrap() + report["updated"].as_u64().unwrap(),
            2_601,
            "{report}"
        );
        assert_eq!(
            env.row("Calls", "big-00000"),
            expected_row(&model, "Calls", &last)
        );
        assert_eq!(
            env.row("Conversations", "big-00000"),
            expected_conversation(&model, &expected_row(&model, "Calls", &last))
        );
        assert_eq!(count_at(env.app.addr, "Calls", &env.a_read), 2 + 2_600);
        assert_eq!(
            count_at(env.app.addr, "Conversations", &env.a_read),
            2 + 2_600
        );
    }
);

// ---------------------------------------------------------------------------------
// Bad records: 4xx naming line and property, and nothing written.

type Edit = fn(&mut Map<String, Value>);

fn set(m: &mut Map<String, Value>, k: &str, v: Value) {
    m.insert(k.to_string(), v);
}

fn bad_record_cases() -> Vec<(&'static str, Edit, &'static str, &'static str)> {
    vec![
        (
            "string for Int32",
            |m| set(m, "holdCount", json!("3")),
            "holdCount",
            "whole number",
        ),
        (
            "fraction for Int32",
            |m| set(m, "holdCount", json!(1.5)),
            "holdCount",
            "whole number",
        ),
        (
            "Int32 above range",
            |m| set(m, "durationInSeconds", json!(2_147_483_648i64)),
            "durationInSeconds",
            "2147483647",
        ),
        (
            "Int32 below range",
            |m| set(m, "customerRingDuration", json!(-2_147_483_649i64)),
            "customerRingDuration",
            "-2147483648",
        ),
        (
            "number for String",
            |m| set(m, "channelId", json!(5)),
            "channelId",
            "expected a string",
        ),
        (
            "object for String",
            |m| set(m, "customerFirstName", json!({"a": 1})),
            "customerFirstName",
            "expected a string",
        ),
        (
            "string for Boolean",
            |m| set(m, "isConsult", json!("true")),
            "isConsult",
            "true or false",
        ),
        (
            "number for Boolean",
            |m| set(m, "isOutbound", json!(1)),
            "isOutbound",
            "true or false",
        ),
        (
            "timestamp without offset",
            |m| set(m, "startedAtUtc", json!("2026-03-01T08:30:00")),
            "startedAtUtc",
            "offset",
        ),
        (
            "date only",
            |m| set(m, "endedAtUtc", json!("2026-03-01")),
            "endedAtUtc",
            "offset",
        ),
        (
            "non-string timestamp",
            |m| set(m, "startedAtUtc", json!(1_772_353_800)),
            "startedAtUtc",
            "offset",
        ),
        (
            "missing key",
            |m| {
                m.remove("id");
            },
            "id",
            "required",
        ),
        ("null key", |m| set(m, "id", Value::Null), "id", "required"),
        (
            "number key",
            |m| set(m, "id", json!(17)),
            "id",
            "expected a string",
        ),
        (
            "missing non-nullable",
            |m| {
                m.remove("holdDurationInSeconds");
            },
            "holdDurationInSeconds",
            "required",
        ),
        (
            "null for non-nullable",
            |m| set(m, "isOutbound", Value::Null),
            "isOutbound",
            "required",
        ),
        (
            "unknown property",
            |m| set(m, "colour", json!("red")),
            "colour",
            "no such property",
        ),
        (
            "wrong case",
            |m| {
                let v = m.remove("channelId").unwrap();
                set(m, "ChannelId", v);
            },
            "ChannelId",
            "did you mean 'channelId'?",
        ),
        (
            "tenantId on Calls",
            |m| set(m, "tenantId", json!("acme")),
            "tenantId",
            "no such property",
        ),
        (
            "inconsistent local value",
            |m| set(m, "startedAt", json!("2020-01-01T00:00:00Z")),
            "startedAt",
            "different instant",
        ),
        (
            "local value that is not a timestamp",
            |m| set(m, "startedAt", json!(5)),
            "startedAt",
            "offset",
        ),
        (
            "local value without its UTC twin",
            |m| {
                m.remove("endedAtUtc");
                set(m, "endedAt", json!("2026-03-29T10:00:00+02:00"));
            },
            "endedAt",
            "derived from endedAtUtc",
        ),
    ]
}

both_backends!(bad_records_are_refused_and_change_nothing, |backend| {
    let Some(env) = setup(backend, Settings::default()) else {
        return;
    };
    let existing: Vec<_> = (0..10)
        .map(|i| call(&format!("old-{i}"), i, "old"))
        .collect();
    env.ingest_ok("Calls", &ndjson(&existing), 10, 10, 0);
    let before = env.state();
    // Each bad record as line 4 of an NDJSON body (after a blank line 2), among valid
    // new records and an update of an existing one; and as element 3 of an array.
    for (name, edit, property, fragment) in bad_record_cases() {
        let mut bad = call("new-bad", 7, "bad");
        edit(&mut bad);
        let good = |i: usize| call(&format!("new-{i}"), i, "new");
        let mut body = ndjson(&[good(1)]);
        body.extend_from_slice(b"\n");
        body.extend(ndjson(&[
            call("old-3", 3, "changed"),
            bad.clone(),
            good(2),
            good(3),
        ]));
        let resp = env.ingest("Calls", &body);
        assert_record_error(&resp, 400, 4, Some(property), fragment);
        assert_eq!(env.state(), before, "{name}: the database changed");

        let resp = env.ingest(
            "Calls",
            &array(&[good(1), call("old-4", 4, "changed"), bad, good(2)]),
        );
        assert_record_error(&resp, 400, 3, Some(property), fragment);
        assert_eq!(env.state(), before, "{name} (array): the database changed");
    }

    // Lines that are not records.
    let good = String::from_utf8(ndjson(&[call("new-1", 1, "n")])).unwrap();
    for (line, fragment) in [
        ("{\"id\": \"new-2\", \"channelId\": ", "not valid JSON"),
        ("{\"id\": \"new-2\"} trailing", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ("\"text\"", "expected a JSON object"),
        ("42", "expected a JSON object"),
        ("null", "expected a JSON object"),
    ] {
        let body = format!("{good}{good}{line}\n{good}");
        let resp = env.ingest("Calls", body.as_bytes());
        assert_record_error(&resp, 400, 3, None, fragment);
        assert_eq!(env.state(), before, "{line}: the database changed");
    }
    // A broken or non-record JSON array.
    let resp = env.ingest("Calls", b"[{\"id\": \"a\"},\n {\"id\": ");
    assert_eq!(resp.odata_error(400)["code"], "InvalidRecord");
    let resp = env.ingest("Calls", b"[1]");
    assert_record_error(&resp, 400, 1, None, "expected a JSON object");
    assert_eq!(env.state(), before);

    // Several problems are all listed, capped, and the message says how many more.
    let many: Vec<_> = (0..30)
        .map(|i| {
            let mut r = call(&format!("m-{i}"), i, "m");
            set(&mut r, "holdCount", json!("x"));
            r
        })
        .collect();
    let e = env.ingest("Calls", &ndjson(&many)).odata_error(400);
    let details = e["details"].as_array().unwrap();
    assert!((2..=20).contains(&details.len()), "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("more problems"),
        "{e}"
    );
    assert_eq!(env.state(), before);

    // One bad record among thousands of valid ones (past the writer's first internal
    // flush of 2,000 rows): nothing at all is written.
    let mut big: Vec<_> = (0..3_000)
        .map(|i| call(&format!("bulk-{i:05}"), i, "b"))
        .collect();
    set(&mut big[2_500], "isConsult", json!("no"));
    let resp = env.ingest("Calls", &ndjson(&big));
    assert_record_error(&resp, 400, 2_501, Some("isConsult"), "true or false");
    assert_eq!(env.state(), before);
    let resp = env.ingest("Calls", &array(&big));
    assert_record_error(&resp, 400, 2_501, Some("isConsult"), "true or false");
    assert_eq!(env.state(), before);

    // An entity set that does not exist: 404.
    let e = env.ingest("Callz", &ndjson(&existing)).odata_error(404);
    assert!(e["message"].as_str().unwrap().contains("Callz"), "{e}");
    assert_eq!(env.state(), before);
});

fn bu_change(id: &str, tenant: Option<&str>) -> Map<String, Value> {
    let mut m = obj(json!({
        "id": id,
        "agentId": "agent-1",
        "assigned": true,
        "businessUnitId": "bu-1",
        "timestampUtc": "2026-03-29T01:00:00Z",
    }));
    if let Some(t) = tenant {
        set(&mut m, "tenantId", json!(t));
    }
    m
}

both_backends!(tenant_id_in_records_is_the_callers, |backend| {
    let Some(env) = setup(backend, Settings::default()) else {
        return;
    };
    env.ingest_ok(
        "AgentBusinessUnitChanges",
        &ndjson(&[bu_change("own", Some(A))]),
        1,
        1,
        0,
    );
    let before = env.state();
    let resp = env.ingest(
        "AgentBusinessUnitChanges",
        &ndjson(&[bu_change("fine", Some(A)), bu_change("theirs", Some(B))]),
    );
    assert_record_error(
        &resp,
        400,
        2,
        Some("tenantId"),
        "must be your tenant 'acme'",
    );
    assert_eq!(env.state(), before);
    assert_eq!(
        count_at(env.app.addr, "AgentBusinessUnitChanges", &env.b_read),
        0
    );
    let rows = env.rows("AgentBusinessUnitChanges", &env.a_read);
    assert_eq!(
        rows,
        vec![json!({
            "id": "own", "agentId": "agent-1", "assigned": true, "businessUnitId": "bu-1",
            "tenantId": "acme", "timestampUtc": "2026-03-29T01:00:00.000Z",
            "timestamp": "2026-03-29T03:00:00.000+02:00",
        })]
    );
});

// The error for a foreign tenantId says "must be your tenant or left out", and the
// server forces the column anyway, so leaving it out must be accepted.
both_backends!(tenant_id_may_be_left_out, |backend| {
    let Some(env) = setup(backend, Settings::default()) else {
        return;
    };
    let resp = env.ingest(
        "AgentBusinessUnitChanges",
        &ndjson(&[bu_change("no-tenant", None)]),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        env.rows("AgentBusinessUnitChanges", &env.a_read)[0]["tenantId"],
        "acme"
    );
});

// ---------------------------------------------------------------------------------
// Limits and encodings.

both_backends!(size_limits_and_encodings, |backend| {
    const LIMIT: u64 = 64 * 1024;
    let settings = Settings {
        max_ingest_bytes: LIMIT,
        ..Settings::default()
    };
    let Some(env) = setup(backend, settings) else {
        return;
    };
    let before = env.state();
    // ~100 KB of valid records: over the limit.
    let records: Vec<_> = (0..150)
        .map(|i| call(&format!("big-{i:03}"), i, "x"))
        .collect();
    let body = ndjson(&records);
    assert!(body.len() as u64 > LIMIT && body.len() < 4 * LIMIT as usize);
    let e = env.ingest("Calls", &body).odata_error(413);
    assert!(
        e["message"].as_str().unwrap().contains("max_ingest_bytes"),
        "{e}"
    );
    assert_eq!(env.state(), before);
    // The same without a Content-Length (chunked): the limit holds while streaming.
    let auth = bearer(&env.a_ingest);
    let resp = post_framed(
        env.app.addr,
        "/ingest/Calls",
        &[("Authorization", &auth)],
        &body,
        Framing::Chunked,
    );
    resp.odata_error(413);
    assert_eq!(env.state(), before);

    // Exactly at the limit is fine (padded with blank lines), one byte more is not;
    // the same for the decompressed size of a gzip body.
    let one = ndjson(&[call("edge", 1, "e")]);
    let mut exact = one.clone();
    exact.resize(LIMIT as usize, b'\n');
    let mut over = exact.clone();
    over.push(b'\n');
    env.ingest("Calls", &over).odata_error(413);
    let gz_over = gzip(&over);
    env.ingest_with(
        "Calls",
        &env.a_ingest,
        &gz_over,
        &[("Content-Encoding", "gzip")],
    )
    .odata_error(413);
    assert_eq!(env.state(), before);
    env.ingest_ok("Calls", &exact, 1, 1, 0);
    let resp = env.ingest_with(
        "Calls",
        &env.a_ingest,
        &gzip(&exact),
        &[("Content-Encoding", "gzip")],
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["updated"], 1);
    let resp = post_framed(
        env.app.addr,
        "/ingest/Calls",
        &[("Authorization", &auth)],
        &exact,
        Framing::Chunked,
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let edge = env.rows("Calls", &env.a_read);
    assert_eq!(edge.len(), 1);
    let model = env.app.model.clone();
    assert_eq!(
        edge[0],
        expected_row(&model, "Calls", &call("edge", 1, "e"))
    );
    // Back to empty for what follows.
    let mut conn = env.app.db.get().expect("conn");
    for set in ["Calls", "Conversations"] {
        let table = &model.entity_set(set).expect("set").table;
        conn.execute(&Statement {
            text: format!("DELETE FROM \"{table}\""),
            binds: Vec::new(),
        })
        .expect("delete");
    }
    drop(conn);

    // gzip under the limit (compressed and decompressed): accepted, also chunked.
    let small: Vec<_> = (0..40)
        .map(|i| call(&format!("gz-{i:03}"), i, "gz"))
        .collect();
    let plain = ndjson(&small);
    assert!((plain.len() as u64) < LIMIT);
    let resp = env.ingest_with(
        "Calls",
        &env.a_ingest,
        &gzip(&plain),
        &[("Content-Encoding", "gzip")],
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["inserted"], 40);
    let resp = post_framed(
        env.app.addr,
        "/ingest/Calls",
        &[("Authorization", &auth), ("Content-Encoding", "GZIP")],
        &gzip(&array(&small)),
        Framing::Chunked,
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["updated"], 40);
    let rows = env.rows("Calls", &env.a_read);
    assert_eq!(rows.len(), 40);
    for (row, record) in rows.iter().zip(&small) {
        assert_eq!(row, &expected_row(&model, "Calls", record));
    }
    let before = env.state();

    // A gzip bomb: a few KB that inflate far past the limit: 413, nothing written.
    let line = String::from_utf8(ndjson(&[call("bomb", 1, "b")])).unwrap();
    let bomb = gzip(line.repeat(2_000).as_bytes());
    assert!(
        (bomb.len() as u64) < LIMIT / 4,
        "bomb is {} bytes",
        bomb.len()
    );
    let resp = env.ingest_with(
        "Calls",
        &env.a_ingest,
        &bomb,
        &[("Content-Encoding", "gzip")],
    );
    resp.odata_error(413);
    assert_eq!(env.state(), before);
    // Whitespace inflates too.
    let blank = gzip(&vec![b' '; 4 * LIMIT as usize]);
    let resp = env.ingest_with(
        "Calls",
        &env.a_ingest,
        &blank,
        &[("Content-Encoding", "gzip")],
    );
    resp.odata_error(413);
    // Not gzip at all, though labelled so: 400.
    let resp = env.ingest_with(
        "Calls",
        &env.a_ingest,
        &plain,
        &[("Content-Encoding", "gzip")],
    );
    resp.odata_error(400);
    // Unsupported encodings: 415.
    for encoding in ["br", "deflate", "compress"] {
        let e = env
            .ingest_with(
                "Calls",
                &env.a_ingest,
                &plain,
                &[("Content-Encoding", encoding)],
            )
            .odata_error(415);
        assert!(e["message"].as_str().unwrap().contains(encoding), "{e}");
    }
    assert_eq!(env.state(), before);
});

// `gzip -c a b`, `cat a.gz b.gz` and pigz write several gzip members; RFC 1952 reads
// them as one stream. Reading only the first would drop records behind a 200.
both_backends!(
    every_member_of_a_multi_member_gzip_body_is_read,
    |backend| {
        let Some(env) = setup(backend, Settings::default()) else {
            return;
        };
        let records: Vec<_> = (0..4).map(|i| call(&format!("gz-{i}"), i, "gz")).collect();
        let mut body = gzip(&ndjson(&records[..2]));
        body.extend(gzip(&ndjson(&records[2..])));
        let resp = env.ingest_with(
            "Calls",
            &env.a_ingest,
            &body,
            &[("Content-Encoding", "gzip")],
        );
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.json()["records"], 4, "{}", resp.text());
        assert_eq!(count_at(env.app.addr, "Calls", &env.a_read), 4);
    }
);

// A line that is not UTF-8 is a bad record like any other: the error names its line.
both_backends!(a_line_that_is_not_utf8_is_named, |backend| {
    let Some(env) = setup(backend, Settings::default()) else {
        return;
    };
    let before = env.state();
    let mut body = ndjson(&[call("u1", 1, "u"), call("u2", 2, "u")]);
    body.extend_from_slice(b"{\"id\": \"u3\", \"customerFirstName\": \"\xff\xfe\"}\n");
    body.extend(ndjson(&[call("u4", 4, "u")]));
    let resp = env.ingest("Calls", &body);
    assert_eq!(env.state(), before);
    assert_record_error(&resp, 400, 3, None, "UTF-8");
});

both_backends!(an_upload_cut_off_by_the_client_writes_nothing, |backend| {
    let Some(env) = setup(backend, Settings::default()) else {
        return;
    };
    let before = env.state();
    // Announce 30,000 records, send exactly the first 10,000 lines and hang up: what
    // arrived is well-formed NDJSON, only the Content-Length says it is not all.
    let records: Vec<_> = (0..30_000)
        .map(|i| call(&format!("cut-{i:05}"), i, "c"))
        .collect();
    let body = ndjson(&records);
    let third = ndjson(&records[..10_000]).len();
    {
        let mut stream = TcpStream::connect(env.app.addr).expect("connect");
        let head = format!(
            "POST /ingest/Calls HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
            env.a_ingest,
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body[..third]).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    // The next batch goes through (no transaction was left holding locks) and the
    // cut one left no trace.
    let mut ok = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let resp = env.ingest("Calls", &ndjson(&records[..5]));
        if resp.status == 200 {
            assert_eq!(resp.json()["inserted"], 5);
            ok = true;
            break;
        }
    }
    assert!(ok, "the server did not recover from the cut upload");
    let (rows, counts) = env.state();
    assert_eq!(rows[0].len(), 5);
    assert_eq!(
        counts.iter().sum::<i64>(),
        before.1.iter().sum::<i64>() + 10
    );
});

// ---------------------------------------------------------------------------------
// Credentials.

both_backends!(
    ingest_needs_an_ingest_or_admin_key_and_stays_in_its_tenant,
    |backend| {
        let Some(env) = setup(backend, Settings::default()) else {
            return;
        };
        let addr = env.app.addr;
        let body = ndjson(&[call("same-id", 1, "from A")]);
        let before = env.state();
        // No key: 401.
        post(addr, "/ingest/Calls", &[], &body).odata_error(401);
        // Garbage and revoked keys: 401.
        post(
            addr,
            "/ingest/Calls",
            &[("Authorization", "Bearer ccf_x_y")],
            &body,
        )
        .odata_error(401);
        let revoked = {
            let mut conn = env.app.db.get().unwrap();
            let k = tenants::create_key(&mut conn, A, Role::Ingest, "old")
                .unwrap()
                .1;
            assert!(tenants::revoke_key(&mut conn, &k).unwrap());
            k
        };
        let e = env
            .ingest_with("Calls", &revoked, &body, &[])
            .odata_error(401);
        assert!(e["message"].as_str().unwrap().contains("revoked"), "{e}");
        // A read key: 403, and the message names the role needed.
        let e = env
            .ingest_with("Calls", &env.a_read, &body, &[])
            .odata_error(403);
        assert!(e["message"].as_str().unwrap().contains("ingest"), "{e}");
        // Unknown entity sets answer 401 too without a key (no probing).
        post(addr, "/ingest/Nope", &[], &body).odata_error(401);
        assert_eq!(env.state(), before);

        // A's ingest key, as Bearer, as Basic password and as api_key: writes into A only.
        let resp = env.ingest_with("Calls", &env.a_ingest, &body, &[]);
        assert_eq!(resp.status, 200, "{}", resp.text());
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("acme:{}", env.a_ingest))
        );
        let resp = post(
            addr,
            "/ingest/Calls",
            &[("Authorization", &basic)],
            &ndjson(&[call("basic", 2, "from A")]),
        );
        assert_eq!(resp.status, 200, "{}", resp.text());
        let resp = post(
            addr,
            &format!("/ingest/Calls?api_key={}", env.a_ingest),
            &[],
            &ndjson(&[call("query", 3, "from A")]),
        );
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(count_at(addr, "Calls", &env.a_read), 3);
        assert_eq!(count_at(addr, "Calls", &env.b_read), 0);
        assert_eq!(count_at(addr, "Conversations", &env.b_read), 0);

        // B writes the same id: a new row for B (inserted, not updated), A's is untouched.
        let a_row = env.row("Calls", "same-id");
        let resp = env.ingest_with(
            "Calls",
            &env.b_ingest,
            &ndjson(&[call("same-id", 9, "from B")]),
            &[],
        );
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.json()["inserted"], 1);
        assert_eq!(env.row("Calls", "same-id"), a_row);
        let b_rows = rows_at(addr, "Calls", &env.b_read);
        assert_eq!(b_rows.len(), 1);
        assert_eq!(
            b_rows[0]["customerFirstName"],
            "Zsófia \"from B\" O'Brien %_ 9"
        );

        // An admin key may ingest.
        let resp = env.ingest_with(
            "Calls",
            &env.a_admin,
            &ndjson(&[call("by-admin", 4, "admin")]),
            &[],
        );
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(count_at(addr, "Calls", &env.a_read), 4);
        assert_eq!(count_at(addr, "Calls", &env.b_read), 1);
    }
);

// ---------------------------------------------------------------------------------
// Crash safety: the real binary, SIGKILLed mid-upload.

/// A PostgreSQL database for one test, dropped at the end.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    fn create(admin_url: &str) -> PgDatabase {
        let name = format!(
            "ccfeed_ingest_crash_{}_{}",
            std::process::id(),
            Utc::now().timestamp_subsec_nanos()
        );
        let mut admin =
            diesel::PgConnection::establish(admin_url).expect("connect to the admin URL");
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .expect("create database");
        let (base, query) = admin_url
            .split_once('?')
            .map_or((admin_url, None), |(b, q)| (b, Some(q)));
        let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
        let url = match query {
            Some(q) => format!("{prefix}/{name}?{q}"),
            None => format!("{prefix}/{name}"),
        };
        PgDatabase {
            admin_url: admin_url.to_string(),
            name,
            url,
        }
    }
}

impl Drop for PgDatabase {
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

fn ccfeed(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_ccfeed"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .env_remove("CCFEED_DATABASE")
        .env_remove("CCFEED_LOG")
        .output()
        .expect("run ccfeed");
    assert!(
        out.status.success(),
        "ccfeed {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn cli_key(database: &str, tenant: &str, role: &str) -> String {
    let out = ccfeed(&[
        "key",
        "create",
        "--tenant",
        tenant,
        "--role",
        role,
        "--json",
        "--database",
        database,
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("key JSON");
    v["key"].as_str().expect("key").to_string()
}

/// `ccfeed serve` as a child process; killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(database: &str, log: &Path, read_key: &str) -> Server {
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_ccfeed"))
            .args([
                "serve",
                "--listen",
                &addr.to_string(),
                "--database",
                database,
            ])
            .env("CCFEED_LOG", "warn")
            .env_remove("CCFEED_CONFIG")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start ccfeed serve");
        let mut server = Server { child, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = server.child.try_wait().expect("wait") {
                panic!("ccfeed serve exited early: {status}");
            }
            if TcpStream::connect(addr).is_ok()
                && raw_get(addr, "/odata/", &[("Authorization", &bearer(read_key))]).status == 200
            {
                return server;
            }
            assert!(Instant::now() < deadline, "ccfeed serve did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL (`Child::kill` on Unix), then reap.
    fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One Calls record as an NDJSON line, cheap enough for hundreds of thousands.
fn crash_line(prefix: &str, i: u64) -> String {
    let start = base() + TimeDelta::seconds(i as i64 * 7);
    let started = utc(start);
    let ended = utc(start + TimeDelta::seconds(95));
    format!(
        "{{\"id\":\"{prefix}-{i:07}\",\"businessUnitId\":\"bu-{}\",\"channelId\":\"channel-{}\",\"channelType\":\"Voice\",\"conversationEndedReason\":\"Default\",\"customerFirstName\":\"Customer {i}\",\"customerId\":\"cust-{}\",\"customerPhoneNumber\":\"+3630{i:07}\",\"durationInSeconds\":{},\"startedAtUtc\":\"{started}\",\"endedAtUtc\":\"{ended}\",\"holdCount\":{},\"holdDurationInSeconds\":{},\"isConsult\":{},\"isOutbound\":{},\"openingCheckResult\":\"Open\"}}\n",
        i % 4,
        i % 9,
        i % 5000,
        95 + i % 600,
        i % 3,
        (i % 3) * 15,
        i.is_multiple_of(11),
        i.is_multiple_of(2)
    )
}

/// Streams `rows` generated records as one POST; `sent` counts body bytes written.
/// Returns the response, or None when the connection broke first.
fn stream_batch(
    addr: SocketAddr,
    key: &str,
    prefix: &str,
    rows: u64,
    sent: &AtomicU64,
) -> Option<Response> {
    let length: usize = (0..rows).map(|i| crash_line(prefix, i).len()).sum();
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .ok()?;
    let head = format!(
        "POST /ingest/Calls HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {key}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {length}\r\n\r\n"
    );
    let mut w = BufWriter::with_capacity(256 * 1024, stream.try_clone().ok()?);
    w.write_all(head.as_bytes()).ok()?;
    for i in 0..rows {
        let line = crash_line(prefix, i);
        w.write_all(line.as_bytes()).ok()?;
        sent.fetch_add(line.len() as u64, Ordering::Relaxed);
    }
    w.flush().ok()?;
    drop(w);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    (!raw.is_empty()).then(|| parse_response(&raw))
}

fn crash_test(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let _pg;
    let database = match backend {
        Backend::Sqlite => dir
            .path()
            .join("crash.db")
            .to_str()
            .expect("utf-8")
            .to_string(),
        Backend::Postgres => {
            let Ok(admin) = std::env::var(POSTGRES_ENV) else {
                eprintln!("note: skipping the PostgreSQL variant: set {POSTGRES_ENV} to run it");
                return;
            };
            let pg = PgDatabase::create(&admin);
            let url = pg.url.clone();
            _pg = pg;
            url
        }
    };
    let log = dir.path().join("server.log");
    let out = ccfeed(&[
        "tenant",
        "create",
        "Crash Test",
        "--time-zone",
        "Europe/Budapest",
        "--json",
        "--database",
        &database,
    ]);
    let created: Value = serde_json::from_slice(&out.stdout).expect("tenant JSON");
    assert_eq!(created["tenant"]["id"], "crash-test");
    let ingest_key = cli_key(&database, "crash-test", "ingest");
    let read_key = cli_key(&database, "crash-test", "read");
    let counts = |addr: SocketAddr| {
        (
            count_at(addr, "Calls", &read_key),
            count_at(addr, "Conversations", &read_key),
        )
    };

    // 1. A 300,000-row upload, killed once ~24 MB of it went out.
    const ROWS: u64 = 300_000;
    const KILL_AFTER: u64 = 24 << 20;
    let server = Server::start(&database, &log, &read_key);
    let addr = server.addr;
    let sent = Arc::new(AtomicU64::new(0));
    let uploader = {
        let (key, sent) = (ingest_key.clone(), sent.clone());
        std::thread::spawn(move || stream_batch(addr, &key, "big", ROWS, &sent))
    };
    let deadline = Instant::now() + Duration::from_secs(40);
    while sent.load(Ordering::Relaxed) < KILL_AFTER {
        if uploader.is_finished() {
            panic!("the upload ended before the kill: {:?}", uploader.join());
        }
        assert!(
            Instant::now() < deadline,
            "only {} bytes sent in 40 s",
            sent.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Mid-upload, the rows written so far are not visible to readers.
    assert_eq!(counts(addr), (0, 0));
    // ...and the server holds no write lock and no transaction while the body is
    // still arriving: it reads and checks the whole body before it starts writing.
    match backend {
        Backend::Sqlite => {
            use diesel::connection::SimpleConnection;
            let mut conn = diesel::SqliteConnection::establish(&database).expect("open");
            conn.batch_execute("PRAGMA busy_timeout = 0")
                .expect("pragma");
            let locked = conn.batch_execute("BEGIN IMMEDIATE").is_err();
            if !locked {
                conn.batch_execute("ROLLBACK").expect("rollback");
            }
            assert!(
                !locked,
                "the server holds the write lock while the body is still arriving"
            );
        }
        Backend::Postgres => {
            let mut conn = diesel::PgConnection::establish(&database).expect("connect");
            let writing: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND backend_xid IS NOT NULL AND pid <> pg_backend_pid())",
            ))
            .get_result(&mut conn)
            .expect("pg_stat_activity");
            assert_eq!(
                writing, 0,
                "the server has a writing transaction open while the body is still arriving"
            );
        }
    }
    server.kill();
    let response = uploader.join().expect("uploader");
    let total = sent.load(Ordering::Relaxed);
    assert!(response.is_none(), "the upload finished: {response:?}");
    eprintln!("{backend:?}: killed after {total} bytes sent");
    // Restart on the same database: nothing of the batch was committed.
    let server = Server::start(&database, &log, &read_key);
    assert_eq!(counts(server.addr), (0, 0));
    let db = Db::open(&database, 1).expect("open");
    let model = ccfeed::edm::Model::load().expect("model");
    assert_eq!(table_counts(&db, &model).iter().sum::<i64>(), 0);

    // 2. A smaller batch that finishes, then a kill: every row survives.
    const SMALL: u64 = 20_000;
    let sent = AtomicU64::new(0);
    let resp = stream_batch(server.addr, &ingest_key, "small", SMALL, &sent).expect("response");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.json(),
        json!({"entitySet": "Calls", "records": SMALL, "inserted": SMALL, "updated": 0, "conversations": SMALL})
    );
    server.kill();
    let server = Server::start(&database, &log, &read_key);
    assert_eq!(counts(server.addr), (SMALL, SMALL));
    let first = raw_get(
        server.addr,
        "/odata/Calls('small-0000007')",
        &[("Authorization", &bearer(&read_key))],
    )
    .json();
    assert_eq!(first["startedAtUtc"], "2026-03-28T22:00:49.000Z");
    assert_eq!(first["startedAt"], "2026-03-28T23:00:49.000+01:00");
    server.kill();
    drop(db);
}

both_backends!(
    a_killed_server_commits_nothing_of_an_unfinished_upload,
    |backend| {
        crash_test(backend);
    }
);

// ---------------------------------------------------------------------------------
// Bounded work per request: a slow or oversized body costs its sender, not others.

/// Starts a POST of `set` announcing `announced` body bytes, sends `first` of them and
/// leaves the connection open (the body trickles, or never comes).
fn start_slow_post(
    addr: SocketAddr,
    key: &str,
    set: &str,
    announced: usize,
    first: &[u8],
) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let head = format!(
        "POST /ingest/{set} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {key}\r\nContent-Length: {announced}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(first).expect("first bytes");
    stream
}

both_backends!(
    slow_bodies_hold_neither_the_write_lock_nor_the_pool,
    |backend| {
        let Some(env) = setup(backend, Settings::default()) else {
            return;
        };
        // As many unfinished uploads as the pool has connections (4 in the tests).
        // Before the body was read first, each held a connection from its first byte,
        // and on SQLite the first one also held the write lock.
        let first = ndjson(&[call("slow-0", 0, "s")]);
        let slow: Vec<TcpStream> = (0..4)
            .map(|_| start_slow_post(env.app.addr, &env.a_ingest, "Calls", 1 << 20, &first))
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        // Another tenant's ingest and a read go through meanwhile.
        let resp = env.ingest_with("Calls", &env.b_ingest, &ndjson(&[call("b-1", 1, "b")]), &[]);
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.json()["inserted"], 1);
        let rows = env.rows("Calls", &env.b_read);
        assert_eq!(rows.len(), 1);
        drop(slow);
    }
);

both_backends!(a_body_that_does_not_arrive_in_time_gets_408, |backend| {
    let settings = Settings {
        ingest_body_timeout: Duration::from_secs(1),
        ..Settings::default()
    };
    let Some(env) = setup(backend, settings) else {
        return;
    };
    let before = env.state();
    let first = ndjson(&[call("late-0", 0, "l")]);
    let mut stream = start_slow_post(env.app.addr, &env.a_ingest, "Calls", 1 << 20, &first);
    let resp = common::http_client::read_response(&mut stream);
    let error = resp.odata_error(408);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("ingest_body_timeout_seconds")),
        "{error}"
    );
    assert_eq!(env.state(), before, "a timed-out body wrote something");
});

// A write that waits longer than the database allows for another writer's lock is
// a 503 with Retry-After (try again), never a 500.
both_backends!(
    a_lock_wait_that_runs_out_is_503_with_retry_after,
    |backend| {
        let Some(env) = setup(backend, Settings::default()) else {
            return;
        };
        env.ingest_ok("Calls", &ndjson(&[call("locked", 0, "x")]), 1, 1, 0);
        // Another writer holds the lock: SQLite's write lock, a PostgreSQL row lock.
        let mut holder = env.app.db.get().expect("conn");
        {
            use diesel::connection::SimpleConnection;
            match &mut holder {
                store::Conn::Sqlite(c) => c.batch_execute("BEGIN IMMEDIATE").expect("lock"),
                store::Conn::Postgres(c) => c
                    .batch_execute("BEGIN; UPDATE calls SET hold_count = 7 WHERE id = 'locked'")
                    .expect("lock"),
            }
        }
        let resp = env.ingest("Calls", &ndjson(&[call("locked", 1, "y")]));
        resp.odata_error(503);
        assert!(resp.header("Retry-After").is_some(), "{:?}", resp.headers);
        {
            use diesel::connection::SimpleConnection;
            match &mut holder {
                store::Conn::Sqlite(c) => c.batch_execute("ROLLBACK").expect("unlock"),
                store::Conn::Postgres(c) => c.batch_execute("ROLLBACK").expect("unlock"),
            }
        }
        drop(holder);
        env.ingest_ok("Calls", &ndjson(&[call("locked", 1, "y")]), 1, 0, 1);
    }
);

both_backends!(
    one_line_or_array_element_is_bounded_by_max_line_bytes,
    |backend| {
        const LINE: u64 = 4096;
        let settings = Settings {
            max_line_bytes: LINE,
            ..Settings::default()
        };
        let Some(env) = setup(backend, settings) else {
            return;
        };
        let before = env.state();
        let line_of = |record: &Map<String, Value>| serde_json::to_vec(record).expect("json");
        // A record padded to exactly the limit passes; one byte more is a 413 naming the
        // line and the setting.
        let padded = |id: &str, size: usize| {
            let mut record = call(id, 1, "p");
            let base = line_of(&record).len();
            let name = record["customerFirstName"]
                .as_str()
                .expect("name")
                .to_string();
            record.insert(
                "customerFirstName".into(),
                json!(format!("{name}{}", "x".repeat(size - base))),
            );
            assert_eq!(line_of(&record).len(), size);
            record
        };
        let exact = padded("exact", LINE as usize);
        let over = padded("over", LINE as usize + 1);
        let small = call("small", 2, "s");
        let body = ndjson(&[small.clone(), over.clone()]);
        let e = env.ingest("Calls", &body).odata_error(413);
        let message = e["message"].as_str().expect("message");
        assert!(
            message.contains("line 2") && message.contains("max_line_bytes"),
            "{message}"
        );
        assert_eq!(env.state(), before);
        // The same for an element of a JSON array (element 2).
        let e = env
            .ingest("Calls", &array(&[small.clone(), over.clone()]))
            .odata_error(413);
        let message = e["message"].as_str().expect("message");
        assert!(
            message.contains("line 2") && message.contains("max_line_bytes"),
            "{message}"
        );
        assert_eq!(env.state(), before);
        // A gzip bomb of one endless line (64 MiB of zeros, far under max_ingest_bytes):
        // refused by the line limit, as soon as the line is too long.
        let bomb = gzip(&vec![b'0'; 64 << 20]);
        assert!(bomb.len() < 1 << 20, "bomb is {} bytes", bomb.len());
        let e = env
            .ingest_with(
                "Calls",
                &env.a_ingest,
                &bomb,
                &[("Content-Encoding", "gzip")],
            )
            .odata_error(413);
        assert!(
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("max_line_bytes")),
            "{e}"
        );
        assert_eq!(env.state(), before);
        // At the limit is fine, and a body of many lines (or array elements) may be far
        // longer than one line.
        let many: Vec<_> = (0..60)
            .map(|i| call(&format!("many-{i:02}"), i, "m"))
            .collect();
        assert!(ndjson(&many).len() as u64 > 4 * LINE);
        env.ingest_ok("Calls", &ndjson(std::slice::from_ref(&exact)), 1, 1, 0);
        env.ingest_ok("Calls", &array(&many), 60, 60, 0);
        env.ingest_ok("Calls", &ndjson(&many), 60, 0, 60);
        env.ingest_ok("Calls", &array(&[exact]), 1, 0, 1);
    }
);

// PostgreSQL text cannot hold U+0000: a record with it is a 400 naming its line and
// property on both backends (it was a 500 without the line on PostgreSQL).
both_backends!(
    a_nul_character_is_a_400_naming_line_and_property,
    |backend| {
        let Some(env) = setup(backend, Settings::default()) else {
            return;
        };
        let before = env.state();
        let mut bad = call("nul-1", 1, "n");
        bad.insert("customerFirstName".into(), json!("Ada\u{0}Lovelace"));
        let body = ndjson(&[call("nul-0", 0, "n"), bad.clone()]);
        let resp = env.ingest("Calls", &body);
        assert_record_error(&resp, 400, 2, Some("customerFirstName"), "NUL");
        assert_eq!(env.state(), before);
        // In a JSON array too, and in the key.
        let mut bad_key = call("nul\u{0}key", 2, "n");
        bad_key.remove("customerFirstName");
        let resp = env.ingest("Calls", &array(&[bad_key]));
        assert_record_error(&resp, 400, 1, Some("id"), "NUL");
        assert_eq!(env.state(), before);
        // The escaped text "\\u0000" (a backslash, not NUL) is an ordinary string.
        let mut fine = call("nul-2", 2, "n");
        fine.insert("customerFirstName".into(), json!("Ada\\u0000"));
        env.ingest_ok("Calls", &ndjson(&[fine]), 1, 1, 0);
    }
);

// Every UTC timestamp has its tenant-local twin (BotSegments.startedAt and endedAt were
// missing, and four more): writers derive it, and rows stored before the twin existed
// get it when the server opens the database.
both_backends!(every_utc_timestamp_has_its_local_twin, |backend| {
    let Some(env) = setup(backend, Settings::default()) else {
        return;
    };
    let model = env.app.model.clone();
    for set in model.entity_sets() {
        for p in &set.properties {
            if p.name.ends_with("Utc") && p.ty == EdmType::DateTimeOffset {
                let local = set
                    .property(&p.name[..p.name.len() - 3])
                    .unwrap_or_else(|| panic!("{}.{} has no local twin", set.name, p.name));
                assert_eq!(
                    local.storage,
                    Storage::LocalText,
                    "{}.{}",
                    set.name,
                    local.name
                );
                assert_eq!(local.nullable, p.nullable, "{}.{}", set.name, local.name);
            }
        }
    }
    let segment = json!({
        "id": "bs-1", "conversationId": "c-1", "botStepId": "step-1", "channelId": "ch-1",
        "startedAtUtc": "2026-03-29T00:59:59.500Z", "endedAtUtc": "2026-03-29T01:00:10.000Z",
    });
    let open = json!({
        "id": "bs-2", "conversationId": "c-1", "botStepId": "step-1", "channelId": "ch-1",
        "startedAtUtc": "2026-03-29T01:00:20.000Z",
    });
    env.ingest_ok("BotSegments", &ndjson(&[obj(segment), obj(open)]), 2, 2, 0);
    let expected = vec![
        (
            "bs-1",
            json!("2026-03-29T01:59:59.500+01:00"),
            json!("2026-03-29T03:00:10.000+02:00"),
        ),
        ("bs-2", json!("2026-03-29T03:00:20.000+02:00"), Value::Null),
    ];
    let check = || {
        let rows = env.rows("BotSegments", &env.a_read);
        assert_eq!(rows.len(), 2);
        for (row, (id, started, ended)) in rows.iter().zip(&expected) {
            assert_eq!(row["id"], *id);
            assert_eq!(row["startedAt"], *started, "{row}");
            assert_eq!(row["endedAt"], *ended, "{row}");
        }
    };
    check();
    // Rows from before the migration: the local columns empty, listed for the backfill.
    let mut conn = env.app.db.get().expect("conn");
    for text in [
        "UPDATE bot_segments SET started_at = NULL, ended_at = NULL",
        "INSERT INTO local_time_backfill (table_name, column_name, utc_column_name) VALUES \
         ('bot_segments', 'started_at', 'started_at_utc'), ('bot_segments', 'ended_at', 'ended_at_utc')",
    ] {
        conn.execute(&Statement {
            text: text.into(),
            binds: Vec::new(),
        })
        .expect(text);
    }
    drop(conn);
    env.app.db.backfill_local_twins().expect("backfill");
    check();
    assert_eq!(
        table_counts(&env.app.db, &model).iter().sum::<i64>(),
        2,
        "the backfill added or removed rows"
    );
});
