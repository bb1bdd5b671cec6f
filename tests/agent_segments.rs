//! The agent-segment model over HTTP, on both backends: Messages and AgentSegments go
//! in through `POST /ingest/{set}` as NDJSON, and the derived columns come out of
//! `/odata/AgentSegments` and `/odata/Messages`. One conversation per rule of the
//! vendor's agent-segment metrics (transfers, takeover, resume, excluded senders,
//! abandoned and non-responsive segments, flow auto-replies), re-ingesting, and a
//! constructed data set that reproduces every number of the vendor's documented
//! example, computed the way an analyst would: plain counts and averages of rows.

mod common;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use common::*;
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------------
// Harness: a tenant with an ingest and a read key, NDJSON in, OData rows out.

struct Env(TenantApp);

fn setup(backend: Backend) -> Option<Env> {
    TenantApp::start(backend).map(Env)
}

fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('@'))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl Env {
    /// Ingests `records` into `set` as NDJSON and returns the report.
    fn ingest(&self, set: &str, records: &[Value]) -> Value {
        let mut body = Vec::new();
        for r in records {
            body.extend_from_slice(r.to_string().as_bytes());
            body.push(b'\n');
        }
        let resp = self.0.post_ingest(&format!("/ingest/{set}"), &body);
        assert_eq!(resp.status, 200, "{}", resp.text());
        resp.json()
    }

    fn get(&self, path: &str) -> Response {
        self.0.get_read(path)
    }

    /// Every row a query returns, following next links, annotations removed.
    fn rows(&self, path: &str) -> Vec<Value> {
        self.0.rows(path)
    }

    fn count(&self, set: &str, filter: &str) -> u64 {
        self.get(&format!("/odata/{set}/$count?$filter={filter}"))
            .text()
            .trim()
            .parse()
            .expect("count")
    }

    fn segment(&self, id: &str) -> Value {
        strip(&self.get(&format!("/odata/AgentSegments('{id}')")).json())
    }

    fn message(&self, id: &str) -> Value {
        strip(&self.get(&format!("/odata/Messages('{id}')")).json())
    }

    /// One column of the rows a filter selects (nulls included).
    fn column(&self, set: &str, filter: &str, property: &str) -> Vec<Value> {
        self.rows(&format!(
            "/odata/{set}?$filter={filter}&$select={property}&$orderby=id"
        ))
        .into_iter()
        .map(|r| r[property].clone())
        .collect()
    }
}

// ---------------------------------------------------------------------------------
// Records and the rows expected back.

fn base() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

/// The instant `ms` milliseconds after `base`, as the feed writes UTC.
fn at_from(base: DateTime<Utc>, ms: i64) -> String {
    (base + TimeDelta::milliseconds(ms)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn at(ms: i64) -> String {
    at_from(base(), ms)
}

/// The tenant-local rendering of a UTC instant string.
fn local(utc: &str) -> String {
    DateTime::parse_from_rfc3339(utc)
        .expect("instant")
        .with_timezone(&chrono_tz::Europe::Budapest)
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

struct Seg<'a> {
    id: &'a str,
    conversation: &'a str,
    agent: &'a str,
    queue: &'a str,
    start: &'a str,
    assigned: i64,
    end: Option<(i64, &'a str)>,
}

/// An AgentSegments record: the facts only, plus the required isLastInConversation
/// deliberately wrong (ccfeed recomputes it).
fn segment_record(base: DateTime<Utc>, s: &Seg<'_>) -> Value {
    json!({
        "id": s.id,
        "conversationId": s.conversation,
        "agentId": s.agent,
        "userType": "human",
        "queueId": s.queue,
        "startReason": s.start,
        "assignedAtUtc": at_from(base, s.assigned),
        "endedAtUtc": s.end.map(|(t, _)| at_from(base, t)),
        "endReason": s.end.map(|(_, r)| r),
        "isLastInConversation": false,
    })
}

fn seg(s: Seg<'_>) -> Value {
    segment_record(base(), &s)
}

/// A Messages record; `who` is the agent (sender `agent`) or the bot, flow or campaign.
fn message_record(
    base: DateTime<Utc>,
    id: &str,
    conversation: &str,
    ms: i64,
    sender: &str,
    who: Option<&str>,
) -> Value {
    json!({
        "id": id,
        "conversationId": conversation,
        "mediaType": "message",
        "sentAtUtc": at_from(base, ms),
        "senderType": sender,
        "isAutomated": !matches!(sender, "agent" | "customer"),
        "agentId": if sender == "agent" { who } else { None },
        "botId": if sender == "agent" { None } else { who },
        "direction": match sender {
            "customer" => "inbound",
            "system" => "internal",
            _ => "outbound",
        },
    })
}

fn msg(id: &str, conversation: &str, ms: i64, sender: &str, who: Option<&str>) -> Value {
    message_record(base(), id, conversation, ms, sender, who)
}

/// The full row the feed should show for a segment record plus its derived columns.
fn expected_segment(record: &Value, derived: Value) -> Value {
    let mut row = object(json!({
        "queueId": null, "acceptedAtUtc": null, "endedAtUtc": null, "endReason": null,
    }));
    row.extend(object(record.clone()));
    row.extend(object(derived));
    for twin in ["assignedAt", "acceptedAt", "endedAt", "firstAgentMessageAt"] {
        let local_value = match row.get(&format!("{twin}Utc")) {
            Some(Value::String(s)) => json!(local(s)),
            _ => Value::Null,
        };
        row.insert(twin.to_string(), local_value);
    }
    Value::Object(row)
}

fn expected_message(record: &Value, segment: Option<&str>, response: Option<i64>) -> Value {
    let mut row = object(record.clone());
    let sent = row["sentAtUtc"].as_str().expect("sent").to_string();
    row.insert("sentAt".into(), json!(local(&sent)));
    row.insert("agentSegmentId".into(), json!(segment));
    row.insert("responseTimeInMilliseconds".into(), json!(response));
    Value::Object(row)
}

/// Ingests segments, then messages, as a sender would.
fn load(env: &Env, segments: &[Value], messages: &[Value]) {
    env.ingest("AgentSegments", segments);
    env.ingest("Messages", messages);
}

fn assert_segment(env: &Env, record: &Value, derived: Value) {
    let id = record["id"].as_str().expect("id");
    assert_eq!(
        env.segment(id),
        expected_segment(record, derived),
        "segment {id}"
    );
}

/// Asserts every message row: its segment and response time.
fn assert_messages(env: &Env, expected: &[(&Value, Option<&str>, Option<i64>)]) {
    for (record, segment, response) in expected {
        let id = record["id"].as_str().expect("id");
        assert_eq!(
            env.message(id),
            expected_message(record, *segment, *response),
            "message {id}"
        );
    }
}

/// Integer average the way the vendor reports it (truncated), -1 without data.
fn average(values: &[Value]) -> i64 {
    let numbers: Vec<i64> = values.iter().filter_map(Value::as_i64).collect();
    if numbers.is_empty() {
        return -1;
    }
    numbers.iter().sum::<i64>() / numbers.len() as i64
}

fn sum(values: &[Value]) -> i64 {
    values.iter().filter_map(Value::as_i64).sum()
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(super::Backend::Sqlite) })*
        }
        mod postgres {
            $(#[test] fn $name() { super::$name(super::Backend::Postgres) })*
        }
    };
}

on_both_backends!(
    transfer_to_another_agent_and_back,
    takeover_excludes_the_managers_first_message,
    resume_excludes_the_first_message_after_resuming,
    only_the_assigned_agents_own_messages_count,
    consumer_abandons_the_last_segment,
    agent_never_answers,
    consumer_never_answers,
    open_segment_has_no_flags_yet,
    without_messages_the_source_values_stay,
    ingesting_again_or_in_another_order_changes_nothing,
    liveperson_example_numbers,
);

// ---------------------------------------------------------------------------------
// One conversation per rule.

fn transfer_to_another_agent_and_back(backend: Backend) {
    let Some(env) = setup(backend) else { return };
    let c = "c-transfer";
    let s1 = seg(Seg {
        id: "s1",
        conversation: c,
        agent: "a1",
        queue: "q1",
        start: "newConversation",
        assigned: 0,
        end: Some((20_000, "transfer")),
    });
    let s2 = seg(Seg {
        id: "s2",
        conversation: c,
        agent: "a2",
        queue: "q2",
        start: "transfer",
        assigned: 20_000,
        end: Some((50_000, "transfer")),
    });
    let s3 = seg(Seg {
        id: "s3",
        conversation: c,
        agent: "a1",
        queue: "q1",
        start: "transfer",
        assigned: 50_000,
        end: Some((80_000, "agentClosed")),
    });
    let m = [
        msg("m01", c, -5_000, "customer", None),
        msg("m02", c, 0, "system", Some("controller")),
        msg("m03", c, 4_000, "agent", Some("a1")),
        msg("m04", c, 6_000, "customer", None),
        msg("m05", c, 9_000, "agent", Some("a1")),
        msg("m06", c, 10_000, "agent", Some("a1")),
        msg("m07", c, 15_000, "customer", None),
        msg("m08", c, 20_000, "system", Some("controller")),
        msg("m09", c, 26_000, "agent", Some("a2")),
        msg("m10", c, 30_000, "customer", None),
        msg("m11", c, 32_000, "customer", None),
        msg("m12", c, 40_000, "agent", Some("a2")),
        msg("m13", c, 45_000, "customer", None),
        msg("m14", c, 52_000, "agent", Some("a1")),
        msg("m15", c, 60_000, "customer", None),
        msg("m16", c, 61_500, "agent", Some("a1")),
    ];
    load(&env, &[s1.clone(), s2.clone(), s3.clone()], &m);

    assert_segment(
        &env,
        &s1,
        json!({
            "firstAgentMessageAtUtc": at(4_000), "agentMessageCount": 3, "consumerMessageCount": 2,
            "timeToFirstResponseInMilliseconds": 4_000, "responseCount": 2,
            "totalResponseTimeInMilliseconds": 7_000, "isInteractive": true,
            "isAbandonedByConsumer": false, "hasNonResponsiveConsumer": false,
            "hasNonResponsiveAgent": false, "isLastInConversation": false,
            "durationInMilliseconds": 20_000,
        }),
    );
    assert_segment(
        &env,
        &s2,
        json!({
            "firstAgentMessageAtUtc": at(26_000), "agentMessageCount": 2, "consumerMessageCount": 3,
            "timeToFirstResponseInMilliseconds": 6_000, "responseCount": 2,
            "totalResponseTimeInMilliseconds": 16_000, "isInteractive": true,
            "isAbandonedByConsumer": false, "hasNonResponsiveConsumer": false,
            "hasNonResponsiveAgent": false, "isLastInConversation": false,
            "durationInMilliseconds": 30_000,
        }),
    );
    assert_segment(
        &env,
        &s3,
        json!({
            "firstAgentMessageAtUtc": at(52_000), "agentMessageCount": 2, "consumerMessageCount": 1,
            "timeToFirstResponseInMilliseconds": 2_000, "responseCount": 2,
            "totalResponseTimeInMilliseconds": 3_500, "isInteractive": true,
            "isAbandonedByConsumer": false, "hasNonResponsiveConsumer": false,
            "hasNonResponsiveAgent": false, "isLastInConversation": true,
            "durationInMilliseconds": 30_000,
        }),
    );
    assert_messages(
        &env,
        &[
            (&m[0], None, None),
            (&m[1], Some("s1"), None),
            (&m[2], Some("s1"), Some(4_000)),
            (&m[3], Some("s1"), None),
            (&m[4], Some("s1"), Some(3_000)),
            // Agent after agent: not a response.
            (&m[5], Some("s1"), None),
            (&m[6], Some("s1"), None),
            // At the hand-over instant the new segment holds the message.
            (&m[7], Some("s2"), None),
            // m07 was a1's to answer: a2 is measured from the assignment.
            (&m[8], Some("s2"), Some(6_000)),
            (&m[9], Some("s2"), None),
            (&m[10], Some("s2"), None),
            // From the oldest waiting customer message (m10).
            (&m[11], Some("s2"), Some(10_000)),
            (&m[12], Some("s2"), None),
            (&m[13], Some("s3"), Some(2_000)),
            (&m[14], Some("s3"), None),
            (&m[15], Some("s3"), Some(1_500)),
        ],
    );

    // The metrics, as an analyst computes them from the rows.
    assert_eq!(env.count("AgentSegments", "agentId eq 'a1'"), 2);
    assert_eq!(
        env.count("AgentSegments", "conversationId eq 'c-transfer'"),
        3
    );
    let first = env.column(
        "AgentSegments",
        "agentId eq 'a1' and startReason eq 'transfer'",
        "timeToFirstResponseInMilliseconds",
    );
    assert_eq!(first, [json!(2_000)]);
    let responses = env.column(
        "Messages",
        "agentId eq 'a1' and responseTimeInMilliseconds ne null",
        "responseTimeInMilliseconds",
    );
    assert_eq!(average(&responses), (4_000 + 3_000 + 2_000 + 1_500) / 4);
    let counts = env.column("AgentSegments", "agentId eq 'a1'", "agentMessageCount");
    assert_eq!(sum(&counts), 5);
}

fn takeover_excludes_the_managers_first_message(backend: Backend) {
    let Some(env) = setup(backend) else { return };
    let c = "c-takeover";
    let s1 = seg(Seg {
        id: "t1",
        conversation: c,
        agent: "a1",
        queue: "q1",
        start: "newConversation",
        assigned: 0,
        end: Some((30_000, "transfer")),
    });
    let s2 = seg(Seg {
        id: "t2",
        conversation: c,
        agent: "mgr",
        queue: "q1",
        start: "takeover",
        assigned: 30_000,
        end: Some((60_000, "agentClosed")),
    });
    let m = [
        msg("m1", c, 1_000, "customer", None),
        msg("m2", c, 5_000, "agent", Some("a1")),
        msg("m3", c, 8_000, "customer", None),
        msg("m4", c, 33_000, "agent", Some("mgr")),
        msg("m5", c, 40_000, "customer", None),
        msg("m6", c, 42_000, "agent", Some("mgr")),
        msg("m7", c, 50_000, "customer", None),
    ];
    load(&env, &[s1.clone(), s2.clone()], &m);
    assert_segment(
        &env,
        &s1,
        json!({
            "firstAgentMessageAtUtc": at(5_000), "agentMessageCount": 1, "consumerMessageCount": 2,
            "timeToFirstResponseInMilliseconds": 5_000, "responseCount": 1,
            "totalResponseTimeInMilliseconds": 4_000, "isInteractive": true,
            "isAbandonedByConsumer": false, "hasNonResponsiveConsumer": false,
            "hasNonResponsiveAgent": false, "isLastInConversation": false,
            "durationInMilliseconds": 30_000,
        }),
    );
    assert_segment(
        &env,
        &s2,
        json!({
            "firstAgentMessageAtUtc": at(33_000), "agentMessageCount": 2, "consumerMessageCount": 2,
            "timeToFirstResponseInMilliseconds": null, "responseCount": 1,
            "totalResponseTimeInMilliseconds": 2_000, "isInteractive": true,
            "isAbandonedByConsumer": false, "hasNonResponsiveConsumer": false,
            "hasNonResponsiveAgent": false, "isLastInConversation": true,
            "durationInMilliseconds": 30_000,
        }),
    );
    assert_messages(
        &env,
        &[
            (&m[0], Some("t1"), None),
            (&m[1], Some("t1"), Some(4_000)),
            (&m[2], Some("t1"), None),
            // The manager's first message after taking over is no response.
            (&m[3], Some("t2"), None),
            (&m[4], Some("t2"), None),
            (&m[5], Some("t2"), Some(2_000)),
            (&m[6], Some("t2"), None),
        ],
    );
    // The takeover segment is left out of first-response averages.
    let first = env.column(
        "AgentSegments",
        "timeToFirstResponseInMilliseconds ne null",
        "id",
    );
    assert_eq!(first, [json!("t1")]);
}

fn resume_excludes_the_first_message_after_resuming(backend: Backend) {
    let Some(env) = setup(backend) else { return };
    let c = "c-resume";
    let s1 = seg(Seg {
        id: "r1",
        conversation: c,
        agent: "a1",
        queue: "q1",
        start: "newConversation",
        assigned: 0,
        end: Some((20_000, "agentClosed")),
    });
    let s2 = seg(Seg {
        id: "r2",
        conversation: c,
        agent: "a1",
        queue: "q1",
        start: "resume",
        assigned: 3_600_000,
        end: Some((3_700_000, "agentClosed")),
    });
    let m = [
        msg("m1", c, 1_000, "customer", None),
        msg("m2", c, 3_000, "agent", Some("a1")),
        msg("m3", c, 5_000, "customer", None),
        // Written while the conversation was closed: in no segment.
        msg("m4", c, 3_590_000, "customer", None),
        msg("m5", c, 3_605_000, "agent", Some("a1")),
        msg("m6", c, 3_610_000, "customer", None),
        msg("m7", c, 3_613_000, "agent", Some("a1")),
        msg("m8", c, 3_620_000, "customer", None),
    ];
    load(&env, &[s1.clone(), s2.clone()], &m);
    assert_segment(
        &env,
        &s1,
        json!({
            "firstAgentMessageAtUtc": at(3_000), "agentMessageCount": 1, "consumerMessageCount": 2,
            "timeToFirstResponseInMilliseconds": 3_000, "responseCount": 1,
            "totalResponseTimeInMilliseconds": 2_000, "isInteractive": true,
            "isAbandonedByConsumer": false, "hasNonResponsiveConsumer": false,
            "hasNonResponsiveAgent": false, "isLastInConversation": false,
            "durationInMilliseconds": 20_000,
        }),
    );
    assert_segment(
        &env,
        &s2,
        json!({
            "firstAgentMessageAtUtc": at(3_605_000), "agentMessageCount": 2,
            "consumerMessageCount": 2, "timeToFirstResponseInMilliseconds": null,
            "responseCount": 1, "totalResponseTimeInMilliseconds": 3_000, "isInteractive": true,
            "isAbandonedByConsumer": false, "hasNonResponsiveConsumer": false,
            "hasNonResponsiveAgent": false, "isLastInConversation": true,
            "durationInMilliseconds": 100_000,
        }),
    );
    assert_messages(
        &env,
        &[
            (&m[0], Some("r1"), None),
            (&m[1], Some("r1"), Some(2_000)),
            (&m[2], Some("r1"), None),
            (&m[3], None, None),
            (&m[4], Some("r2"), None),
            (&m[5], Some("r2"), None),
            (&m[6], Some("r2"), Some(3_000)),
            (&m[7], Some("r2"), None),
        ],
    );
}

/// Controller-bot notices, a flow auto-reply and a campaign message sent while the
/// agent is connected, a supervisor who is not the assigned agent, and the agent's
/// own internal note: none of them is the agent's message to the customer.
fn only_the_assigned_agents_own_messages_count(backend: Backend) {
    let Some(env) = setup(backend) else { return };
    let c = "c-excluded";
    let s1 = seg(Seg {
        id: "x1",
        conversation: c,
        agent: "a1",
        queue: "q1",
        start: "newConversation",
        assigned: 0,
        end: Some((60_000, "agentClosed")),
    });
    let email = |id: &str, ms: i64, sender: &str, who: Option<&str>| {
        let mut m = msg(id, c, ms, sender, who);
        m["mediaType"] = json!("email");
        m
    };
    let mut note = email("m06", 6_000, "agent", Some("a1"));
    note["direction"] = json!("internal");
    let m = [
        email("m01", -10_000, "customer", None),
        email("m02", 2_000, "flow", Some("inbound-ack-flow")),
        email("m03", 3_000, "campaign", Some("spring-promo")),
        email("m04", 4_000, "system", Some("controller")),
        email("m05", 5_000, "agent", Some("sup9")),
        note,
        email("m07", 10_000, "agent", Some("a1")),
        email("m08", 20_000, "customer", None),
        email("m09", 22_000, "agent", Some("sup9")),
        email("m10", 25_000, "agent", Some("a1")),
        email("m11", 30_000, "customer", None),
    ];
    load(&env, std::slice::from_ref(&s1), &m);
    assert_segment(
        &env,
        &s1,
        json!({
            "firstAgentMessageAtUtc": at(10_000), "agentMessageCount": 2, "consumerMessageCount": 2,
            "timeToFirstResponseInMilliseconds": 10_000, "responseCount": 2,
            "totalResponseTimeInMilliseconds": 15_000, "isInteractive": true,
            "isAbandonedByConsumer": false, "hasNonResponsiveConsumer": false,
            "hasNonResponsiveAgent": false, "isLastInConversation": true,
            "durationInMilliseconds": 60_000,
        }),
    );
    assert_messages(
        &env,
        &[
            (&m[0], None, None),
            (&m[1], Some("x1"), None),
            (&m[2], Some("x1"), None),
            (&m[3], Some("x1"), None),
            (&m[4], Some("x1"), None),
            (&m[5], Some("x1"), None),
            (&m[6], Some("x1"), Some(10_000)),
            (&m[7], Some("x1"), None),
            // The supervisor's reply does not answer the customer for a1.
            (&m[8], Some("x1"), None),
            (&m[9], Some("x1"), Some(5_000)),
            (&m[10], Some("x1"), None),
        ],
    );
    // The flow's auto-reply is automated and nobody's agent message (the question of
    // telling flow replies from agent replies).
    let flow = env.message("m02");
    assert_eq!(
        (&flow["senderType"], &flow["isAutomated"], &flow["agentId"]),
        (&json!("flow"), &json!(true), &Value::Null)
    );
    assert_eq!(
        env.count(
            "Messages",
            "conversationId eq 'c-excluded' and isAutomated eq true"
        ),
        3,
        "flow, campaign and system; the supervisor is a person"
    );
    assert_eq!(
        env.count(
            "Messages",
            "isAutomated eq false and senderType eq 'agent' and agentId eq 'a1' and direction eq 'outbound'"
        ),
        2
    );
}

fn consumer_abandons_the_last_segment(backend: Backend) {
    let Some(env) = setup(backend) else { return };
    let c = "c-abandon";
    let s1 = seg(Seg {
        id: "ab1",
        conversation: c,
        agent: "a1",
        queue: "q1",
        start: "newConversation",
        assigned: 0,
        end: Some((10_000, "transfer")),
    });
    let s2 = seg(Seg {
        id: "ab2",
        conversation: c,
        agent: "a2",
        queue: "q2",
        start: "transfer",
        assigned: 10_000,
        end: Some((40_000, "consumerClosed")),
    });
    let m = [
        msg("m1", c, 500, "customer", None),
        msg("m2", c, 2_000, "agent", Some("a1")),
        msg("m3", c, 4_000, "customer", None),
        msg("m4", c, 20_000, "customer", None),
        // The close notice at the end instant is after the segment.
        msg("m5", c, 40_000, "system", Some("controller")),
    ];
    load(&env, &[s1.clone(), s2.clone()], &m);
    assert_segment(
        &env,
        &s1,
        json!({
            "firstAgentMessageAtUtc": at(2_000), "agentMessageCount": 1, "consumerMessageCount": 2,
            "timeToFirstResponseInMilliseconds": 2_000, "responseCount": 1,
            "totalResponseTimeInMilliseconds": 1_500, "isInteractive": true,
            "isAbandonedByConsumer": false, "hasNonResponsiveConsumer": false,
            "hasNonResponsiveAgent": false, "isLastInConversation": false,
            "durationInMilliseconds": 10_000,
        }),
    );
    assert_segment(
        &env,
        &s2,
        json!({
            "firstAgentMessageAtUtc": null, "agentMessageCount": 0, "consumerMessageCount": 1,
            "timeToFirstResponseInMilliseconds": null, "responseCount": 0,
            "totalResponseTimeInMilliseconds": 0, "isInteractive": false,
            "isAbandonedByConsumer": true, "hasNonResponsiveConsumer": false,
            "hasNonResponsiveAgent": false, "isLastInConversation": true,
            "durationInMilliseconds": 30_000,
        }),
    );
    assert_messages(
        &env,
        &[
            (&m[0], Some("ab1"), None),
            (&m[1], Some("ab1"), Some(1_500)),
            (&m[2], Some("ab1"), None),
            (&m[3], Some("ab2"), None),
            (&m[4], None, None),
        ],
    );
    // Attributed to the last agent of the conversation.
    assert_eq!(
        env.count(
            "AgentSegments",
            "isAbandonedByConsumer eq true and agentId eq 'a2'"
        ),
        1
    );
    assert_eq!(
        env.count("AgentSegments", "isAbandonedByConsumer eq true"),
        1
    );
}

fn agent_never_answers(backend: Backend) {
    let Some(env) = setup(backend) else { return };
    let c = "c-silent-agent";
    let s1 = seg(Seg {
        id: "na1",
        conversation: c,
        agent: "a1",
        queue: "q1",
        start: "newConversation",
        assigned: 0,
        end: Some((30_000, "transfer")),
    });
    let s2 = seg(Seg {
        id: "na2",
        conversation: c,
        agent: "a2",
        queue: "q1",
        start: "transfer",
        assigned: 30_000,
        end: Some((90_000, "systemClosed")),
    });
    let m = [
        msg("m1", c, 1_000, "customer", None),
        msg("m2", c, 31_000, "customer", None),
    ];
    load(&env, &[s1.clone(), s2.clone()], &m);
    let silent = |last: bool, duration: i64| {
        json!({
            "firstAgentMessageAtUtc": null, "agentMessageCount": 0, "consumerMessageCount": 1,
            "timeToFirstResponseInMilliseconds": null, "responseCount": 0,
            "totalResponseTimeInMilliseconds": 0, "isInteractive": false,
            "isAbandonedByConsumer": false, "hasNonResponsiveConsumer": false,
            "hasNonResponsiveAgent": true, "isLastInConversation": last,
            "durationInMilliseconds": duration,
        })
    };
    assert_segment(&env, &s1, silent(false, 30_000));
    assert_segment(&env, &s2, silent(true, 60_000));
    assert_messages(
        &env,
        &[(&m[0], Some("na1"), None), (&m[1], Some("na2"), None)],
    );
    assert_eq!(
        env.count("AgentSegments", "hasNonResponsiveAgent eq true"),
        2
    );
    assert_eq!(
        env.count("AgentSegments", "hasNonResponsiveConsumer eq true"),
        0
    );
}

fn consumer_never_answers(backend: Backend) {
    let Some(env) = setup(backend) else { return };
    let c = "c-silent-consumer";
    let s1 = seg(Seg {
        id: "nc1",
        conversation: c,
        agent: "a1",
        queue: "q1",
        start: "newConversation",
        assigned: 0,
        end: Some((120_000, "systemClosed")),
    });
    let m = [
        msg("m1", c, 1_000, "customer", None),
        msg("m2", c, 3_000, "agent", Some("a1")),
        msg("m3", c, 60_000, "agent", Some("a1")),
    ];
    load(&env, std::slice::from_ref(&s1), &m);
    assert_segment(
        &env,
        &s1,
        json!({
            "firstAgentMessageAtUtc": at(3_000), "agentMessageCount": 2, "consumerMessageCount": 1,
            "timeToFirstResponseInMilliseconds": 3_000, "responseCount": 1,
            "totalResponseTimeInMilliseconds": 2_000, "isInteractive": false,
            "isAbandonedByConsumer": false, "hasNonResponsiveConsumer": true,
            "hasNonResponsiveAgent": false, "isLastInConversation": true,
            "durationInMilliseconds": 120_000,
        }),
    );
    assert_messages(
        &env,
        &[
            (&m[0], Some("nc1"), None),
            (&m[1], Some("nc1"), Some(2_000)),
            (&m[2], Some("nc1"), None),
        ],
    );
    assert_eq!(
        env.count(
            "AgentSegments",
            "hasNonResponsiveConsumer eq true and agentId eq 'a1'"
        ),
        1
    );
}

fn open_segment_has_no_flags_yet(backend: Backend) {
    let Some(env) = setup(backend) else { return };
    let c = "c-open";
    let s1 = seg(Seg {
        id: "o1",
        conversation: c,
        agent: "a1",
        queue: "q1",
        start: "newConversation",
        assigned: 0,
        end: None,
    });
    let m = [
        msg("m1", c, 1_000, "customer", None),
        msg("m2", c, 4_000, "agent", Some("a1")),
        // Far in the future: an open segment holds every later message.
        msg("m3", c, 86_400_000, "customer", None),
    ];
    load(&env, std::slice::from_ref(&s1), &m);
    assert_segment(
        &env,
        &s1,
        json!({
            "firstAgentMessageAtUtc": at(4_000), "agentMessageCount": 1, "consumerMessageCount": 2,
            "timeToFirstResponseInMilliseconds": 4_000, "responseCount": 1,
            "totalResponseTimeInMilliseconds": 3_000, "isInteractive": null,
            "isAbandonedByConsumer": null, "hasNonResponsiveConsumer": null,
            "hasNonResponsiveAgent": null, "isLastInConversation": true,
            "durationInMilliseconds": null,
        }),
    );
    assert_messages(
        &env,
        &[
            (&m[0], Some("o1"), None),
            (&m[1], Some("o1"), Some(3_000)),
            (&m[2], Some("o1"), None),
        ],
    );
}

/// A source without message data (e.g. an importer that only knows the first
/// response time): its values stay; the segment's place and length are still derived.
fn without_messages_the_source_values_stay(backend: Backend) {
    let Some(env) = setup(backend) else { return };
    let c = "c-no-messages";
    let mut s1 = seg(Seg {
        id: "k1",
        conversation: c,
        agent: "a1",
        queue: "q1",
        start: "newConversation",
        assigned: 0,
        end: Some((30_000, "transfer")),
    });
    let source = json!({
        "firstAgentMessageAtUtc": at(4_200),
        "timeToFirstResponseInMilliseconds": 4_200,
        "hasNonResponsiveAgent": false,
        "isLastInConversation": true,
        "durationInMilliseconds": 999,
    });
    for (k, v) in object(source) {
        s1[k] = v;
    }
    let s2 = seg(Seg {
        id: "k2",
        conversation: c,
        agent: "a2",
        queue: "q1",
        start: "transfer",
        assigned: 30_000,
        end: Some((45_000, "agentClosed")),
    });
    env.ingest("AgentSegments", &[s1.clone(), s2.clone()]);
    let kept = json!({
        "firstAgentMessageAtUtc": at(4_200), "agentMessageCount": null,
        "consumerMessageCount": null, "timeToFirstResponseInMilliseconds": 4_200,
        "responseCount": null, "totalResponseTimeInMilliseconds": null, "isInteractive": null,
        "isAbandonedByConsumer": null, "hasNonResponsiveConsumer": null,
        "hasNonResponsiveAgent": false, "isLastInConversation": false,
        "durationInMilliseconds": 30_000,
    });
    assert_segment(&env, &s1, kept.clone());
    let nothing = json!({
        "firstAgentMessageAtUtc": null, "agentMessageCount": null, "consumerMessageCount": null,
        "timeToFirstResponseInMilliseconds": null, "responseCount": null,
        "totalResponseTimeInMilliseconds": null, "isInteractive": null,
        "isAbandonedByConsumer": null, "hasNonResponsiveConsumer": null,
        "hasNonResponsiveAgent": null, "isLastInConversation": true,
        "durationInMilliseconds": 15_000,
    });
    assert_segment(&env, &s2, nothing);
    // Messages of another conversation leave these rows alone.
    env.ingest(
        "Messages",
        &[msg("other", "c-elsewhere", 1_000, "customer", None)],
    );
    assert_segment(&env, &s1, kept);
}

fn ingesting_again_or_in_another_order_changes_nothing(backend: Backend) {
    let (segments, messages) = liveperson_records();
    let snapshot = |env: &Env| {
        (
            env.rows("/odata/AgentSegments?$orderby=id"),
            env.rows("/odata/Messages?$orderby=id"),
        )
    };
    let Some(env) = setup(backend) else { return };
    load(&env, &segments, &messages);
    let first = snapshot(&env);
    assert_eq!(first.0.len(), 8);
    assert_eq!(first.1.len(), messages.len());

    let again = env.ingest("Messages", &messages);
    assert_eq!(
        again,
        json!({"entitySet": "Messages", "records": messages.len(), "inserted": 0, "updated": messages.len()})
    );
    env.ingest("AgentSegments", &segments);
    assert_eq!(snapshot(&env), first);

    // Messages before segments, one conversation at a time: the same rows.
    let Some(other) = setup(backend) else { return };
    for conversation in ["lp-c1", "lp-c2", "lp-c3"] {
        let of = |records: &[Value]| -> Vec<Value> {
            records
                .iter()
                .filter(|r| r["conversationId"] == conversation)
                .cloned()
                .collect()
        };
        other.ingest("Messages", &of(&messages));
        other.ingest("AgentSegments", &of(&segments));
    }
    assert_eq!(snapshot(&other), first);
}

// ---------------------------------------------------------------------------------
// The vendor's documented example, rebuilt.

/// Start of the example's first five-minute interval (its `timestamp`).
const LP_START_MS: i64 = 1_556_798_050_118;
const LP_INTERVAL_MS: i64 = 300_000;

fn lp_base() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(LP_START_MS).expect("time")
}

/// Three conversations, each opened by agent 13 (skill 444) and transferred to agent 12
/// (skill 333); in the first, 12 sends it back to skill 333 twice and gets it again.
/// Per segment (first response / responses / duration, ms):
///
/// | segment | agent | start | first | responses | duration |
/// |---|---|---|---|---|---|
/// | c1 13a | 13 | new | 8000 | 8000 | 13000 |
/// | c1 12a | 12 | transfer | 1000 | 1000 | 12000 |
/// | c1 12b | 12 | transfer | 1000 | 1000 | 13000 |
/// | c1 12c | 12 | transfer | 1000 | 1000 | 14000 |
/// | c2 13b | 13 | new | 1500 | 1500 | 14000 |
/// | c2 12d | 12 | transfer | 2500 | 2500, 3000 | 11000 |
/// | c3 13c | 13 | new | 2500 | 2500 | 15000 |
/// | c3 12e | 12 | transfer | 3500 | 3500, 5000 | 15000 |
///
/// c1 lies in the first interval, c2 and c3 in the second, which also reproduces the
/// example's per-interval numbers.
fn liveperson_records() -> (Vec<Value>, Vec<Value>) {
    let mut segments = Vec::new();
    let mut messages = Vec::new();
    let mut conversation = |c: &str,
                            offset: i64,
                            segs: &[(&str, &str, &str, &str, i64, i64, &str)],
                            msgs: &[(i64, &str, Option<&str>)]| {
        let base = lp_base() + TimeDelta::milliseconds(offset);
        for &(id, agent, queue, start, assigned, ended, reason) in segs {
            segments.push(segment_record(
                base,
                &Seg {
                    id,
                    conversation: c,
                    agent,
                    queue,
                    start,
                    assigned,
                    end: Some((ended, reason)),
                },
            ));
        }
        for (i, &(ms, sender, who)) in msgs.iter().enumerate() {
            let id = format!("{c}-m{:02}", i + 1);
            messages.push(message_record(base, &id, c, ms, sender, who));
        }
    };
    conversation(
        "lp-c1",
        20_000,
        &[
            (
                "lp-13a",
                "13",
                "444",
                "newConversation",
                0,
                13_000,
                "transfer",
            ),
            (
                "lp-12a", "12", "333", "transfer", 13_000, 25_000, "transfer",
            ),
            (
                "lp-12b", "12", "333", "transfer", 27_000, 40_000, "transfer",
            ),
            (
                "lp-12c",
                "12",
                "333",
                "transfer",
                42_000,
                56_000,
                "agentClosed",
            ),
        ],
        &[
            (-3_000, "customer", None),
            (0, "system", Some("controller")),
            (8_000, "agent", Some("13")),
            (9_000, "customer", None),
            (13_000, "system", Some("controller")),
            (14_000, "agent", Some("12")),
            (16_000, "customer", None),
            (28_000, "agent", Some("12")),
            (30_000, "customer", None),
            (43_000, "agent", Some("12")),
            (45_000, "customer", None),
            (56_000, "system", Some("controller")),
        ],
    );
    conversation(
        "lp-c2",
        LP_INTERVAL_MS + 20_000,
        &[
            (
                "lp-13b",
                "13",
                "444",
                "newConversation",
                0,
                14_000,
                "transfer",
            ),
            (
                "lp-12d",
                "12",
                "333",
                "transfer",
                14_000,
                25_000,
                "agentClosed",
            ),
        ],
        &[
            (-2_000, "customer", None),
            (1_500, "agent", Some("13")),
            (4_000, "customer", None),
            (16_500, "agent", Some("12")),
            (18_000, "customer", None),
            (21_000, "agent", Some("12")),
            (22_000, "customer", None),
        ],
    );
    conversation(
        "lp-c3",
        LP_INTERVAL_MS + 100_000,
        &[
            (
                "lp-13c",
                "13",
                "444",
                "newConversation",
                0,
                15_000,
                "transfer",
            ),
            (
                "lp-12e",
                "12",
                "333",
                "transfer",
                15_000,
                30_000,
                "consumerClosed",
            ),
        ],
        &[
            (-1_000, "customer", None),
            (2_500, "agent", Some("13")),
            (5_000, "customer", None),
            (18_500, "agent", Some("12")),
            (20_000, "customer", None),
            // A supervisor chiming in is not agent 12's answer.
            (21_000, "agent", Some("77")),
            (25_000, "agent", Some("12")),
            (26_000, "customer", None),
        ],
    );
    (segments, messages)
}

/// Every metric of the example for the segments `scope` selects (an OData filter on
/// AgentSegments), computed from rows as an analyst would.
fn lp_metrics(env: &Env, scope: &str) -> Value {
    let segments = env.rows(&format!(
        "/odata/AgentSegments?$filter={scope}&$select=id,agentMessageCount,durationInMilliseconds,responseCount,totalResponseTimeInMilliseconds"
    ));
    let count = segments.len() as i64;
    let column = |name: &str| -> Vec<Value> { segments.iter().map(|r| r[name].clone()).collect() };
    let first = |extra: &str| {
        average(&env.column(
            "AgentSegments",
            &format!("{scope} and timeToFirstResponseInMilliseconds ne null{extra}"),
            "timeToFirstResponseInMilliseconds",
        ))
    };
    let flagged = |flag: &str| env.count("AgentSegments", &format!("{scope} and {flag} eq true"));
    // Averaged per response, not per segment: the sums of the segments' columns.
    let responses = sum(&column("responseCount"));
    let response_time = if responses == 0 {
        -1
    } else {
        sum(&column("totalResponseTimeInMilliseconds")) / responses
    };
    json!({
        "totalAgentConversationSegments": count,
        "avgAgentMessagesinAgentSegment": if count == 0 { -1.0 } else { sum(&column("agentMessageCount")) as f64 / count as f64 },
        "avgAgentSegmentDuration": average(&column("durationInMilliseconds")),
        "interactiveAgentSegments": flagged("isInteractive"),
        "agentSegmentsAbandonedByConsumers": flagged("isAbandonedByConsumer"),
        "agentSegmentsWithNonResponsiveConsumers": flagged("hasNonResponsiveConsumer"),
        "agentSegmentsWithNonResponsiveAgents": flagged("hasNonResponsiveAgent"),
        "avgTimetoFirstAgentMessageFromAgentAssignment": first(""),
        "avgTimetoFirstAgentMessageFromAgentAssignment_AfterTransfer": first(" and startReason eq 'transfer'"),
        "avgTimetoFirstAgentMessageFromAgentAssignment_NewConversation": first(" and startReason eq 'newConversation'"),
        "avgTimeToResponseFromAgentAssignment": response_time,
    })
}

/// Asserts every metric the expected object names (numbers compared as numbers).
fn assert_metrics(what: &str, actual: &Value, expected: &Value) {
    let expected = expected.as_object().expect("object");
    assert!(!expected.is_empty(), "{what}: nothing to compare");
    for (name, want) in expected {
        let got = &actual[name];
        let (Some(g), Some(w)) = (got.as_f64(), want.as_f64()) else {
            panic!("{what}.{name}: {got} vs {want}");
        };
        assert!(
            (g - w).abs() < 1e-9,
            "{what}.{name}: computed {g}, expected {w}"
        );
    }
}

/// The example's numbers (the method's documented response for agentIds=12,13 over
/// the whole timeframe): the specification of the constructed data set.
fn lp_expected() -> Value {
    json!({
        "agentsMetrics": {"metricsPerAgent": {
            "12": {
                "totalAgentConversationSegments": 5, "avgAgentMessagesinAgentSegment": 1.4,
                "avgAgentSegmentDuration": 13000, "interactiveAgentSegments": 5,
                "agentSegmentsAbandonedByConsumers": 0, "agentSegmentsWithNonResponsiveConsumers": 0,
                "agentSegmentsWithNonResponsiveAgents": 0,
                "avgTimetoFirstAgentMessageFromAgentAssignment": 1800,
                "avgTimetoFirstAgentMessageFromAgentAssignment_AfterTransfer": 1800,
                "avgTimetoFirstAgentMessageFromAgentAssignment_NewConversation": -1,
                "avgTimeToResponseFromAgentAssignment": 2428
            },
            "13": {
                "totalAgentConversationSegments": 3, "avgAgentMessagesinAgentSegment": 1,
                "avgAgentSegmentDuration": 14000, "interactiveAgentSegments": 3,
                "agentSegmentsAbandonedByConsumers": 0, "agentSegmentsWithNonResponsiveConsumers": 0,
                "agentSegmentsWithNonResponsiveAgents": 0,
                "avgTimetoFirstAgentMessageFromAgentAssignment": 4000,
                "avgTimetoFirstAgentMessageFromAgentAssignment_AfterTransfer": -1,
                "avgTimetoFirstAgentMessageFromAgentAssignment_NewConversation": 4000,
                "avgTimeToResponseFromAgentAssignment": 4000
            }
        }},
        "metricsTotal": {
            "totalAgentConversationSegments": 8, "avgAgentMessagesinAgentSegment": 1.25,
            "avgAgentSegmentDuration": 13375, "interactiveAgentSegments": 8,
            "agentSegmentsAbandonedByConsumers": 0, "agentSegmentsWithNonResponsiveConsumers": 0,
            "agentSegmentsWithNonResponsiveAgents": 0,
            "avgTimetoFirstAgentMessageFromAgentAssignment": 2625,
            "avgTimetoFirstAgentMessageFromAgentAssignment_AfterTransfer": 1800,
            "avgTimetoFirstAgentMessageFromAgentAssignment_NewConversation": 4000,
            "avgTimeToResponseFromAgentAssignment": 2900
        }
    })
}

/// The same method's documented response with five-minute intervals (the metrics it
/// lists per interval).
fn lp_expected_intervals() -> [Value; 2] {
    let metrics = |segments: i64, after_transfer: i64, new_conversation: i64, response: i64| {
        json!({
            "totalAgentConversationSegments": segments,
            "avgTimetoFirstAgentMessageFromAgentAssignment_AfterTransfer": after_transfer,
            "avgTimetoFirstAgentMessageFromAgentAssignment_NewConversation": new_conversation,
            "avgTimeToResponseFromAgentAssignment": response,
        })
    };
    [
        json!({
            "12": metrics(3, 1000, -1, 1000),
            "13": metrics(1, -1, 8000, 8000),
            "total": metrics(4, 1000, 8000, 2750),
        }),
        json!({
            "12": metrics(2, 3000, -1, 3500),
            "13": metrics(2, -1, 2000, 2000),
            "total": metrics(4, 3000, 2000, 3000),
        }),
    ]
}

fn liveperson_example_numbers(backend: Backend) {
    let Some(env) = setup(backend) else { return };
    let (segments, messages) = liveperson_records();
    load(&env, &segments, &messages);

    let fixture = lp_expected();
    let sample_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/samples/liveperson/msgagentsegments-agents-12-13.json");
    let expected_sets = match std::fs::read(&sample_path) {
        Ok(bytes) => {
            let sample: Value = serde_json::from_slice(&bytes).expect("sample is JSON");
            vec![("sample", sample), ("fixture", fixture)]
        }
        Err(_) => {
            eprintln!(
                "skipped: ../shared/samples absent (checking the built-in copy of the example's numbers only)"
            );
            vec![("fixture", fixture)]
        }
    };
    let per_agent = ["12", "13"].map(|a| (a, lp_metrics(&env, &format!("agentId eq '{a}'"))));
    let total = lp_metrics(&env, "(agentId eq '12' or agentId eq '13')");
    for (source, expected) in &expected_sets {
        for (agent, actual) in &per_agent {
            assert_metrics(
                &format!("{source} agent {agent}"),
                actual,
                &expected["agentsMetrics"]["metricsPerAgent"][*agent],
            );
        }
        assert_metrics(
            &format!("{source} total"),
            &total,
            &expected["metricsTotal"],
        );
    }

    // Per skill (queue): 12 worked only 333, 13 only 444, as in the example.
    let by_skill = [("333", "12"), ("444", "13")];
    for (queue, agent) in by_skill {
        let actual = lp_metrics(
            &env,
            &format!("queueId eq '{queue}' and agentId eq '{agent}'"),
        );
        assert_metrics(
            &format!("skill {queue} agent {agent}"),
            &actual,
            &expected_sets[0].1["agentsMetrics"]["metricsPerAgent"][agent],
        );
    }

    // Per five-minute interval, segments by assignment time.
    for (i, expected) in lp_expected_intervals().iter().enumerate() {
        let from = at_from(lp_base(), i as i64 * LP_INTERVAL_MS);
        let to = at_from(lp_base(), (i as i64 + 1) * LP_INTERVAL_MS);
        let window = format!("assignedAtUtc ge {from} and assignedAtUtc lt {to}");
        for agent in ["12", "13"] {
            let actual = lp_metrics(&env, &format!("{window} and agentId eq '{agent}'"));
            assert_metrics(
                &format!("interval {i} agent {agent}"),
                &actual,
                &expected[agent],
            );
        }
        let actual = lp_metrics(&env, &window);
        assert_metrics(&format!("interval {i} total"), &actual, &expected["total"]);
    }

    // The response average read straight off Messages agrees with the segment sums.
    for (agent, expected) in [("12", 2428), ("13", 4000)] {
        let times = env.column(
            "Messages",
            &format!("agentId eq '{agent}' and responseTimeInMilliseconds ne null"),
            "responseTimeInMilliseconds",
        );
        assert_eq!(average(&times), expected, "agent {agent}");
    }
    let all = env.column(
        "Messages",
        "responseTimeInMilliseconds ne null",
        "responseTimeInMilliseconds",
    );
    assert_eq!((all.len(), average(&all)), (10, 2900));
}
