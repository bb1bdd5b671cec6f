//! The Kore.ai call-details importer: the vendor's documented example (read from
//! ../shared when it is there) mapped field by field at two time-zone offsets, and an
//! export written here imported over HTTP on both backends, read back over OData,
//! imported again unchanged (nothing changes) and as a newer snapshot (rows the export
//! no longer has are removed).

// The export fixture is one large json! literal.
#![recursion_limit = "256"]

mod common;

use std::path::Path;

use ccfeed::config::Settings;
use ccfeed::ingest::import::{self, Format, ImportError, ImportOptions, MappedConversation};
use ccfeed::store::tenants;
use chrono::{NaiveDateTime, SecondsFormat, TimeDelta};
use common::*;
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------------
// Helpers

fn options(minutes: i32) -> ImportOptions {
    ImportOptions {
        time_zone_offset_minutes: Some(minutes),
    }
}

/// The UTC text the importer must produce for a local export time at `minutes` east.
fn utc(local: &str, minutes: i64) -> String {
    let t = NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S").expect("local time");
    (t - TimeDelta::minutes(minutes))
        .and_utc()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn rows<'m>(m: &'m MappedConversation, set: &str) -> Vec<&'m Map<String, Value>> {
    m.records
        .iter()
        .filter(|r| r.set == set)
        .map(|r| &r.fields)
        .collect()
}

fn one<'m>(m: &'m MappedConversation, set: &str) -> &'m Map<String, Value> {
    let found = rows(m, set);
    assert_eq!(found.len(), 1, "{set}: {found:#?}");
    found[0]
}

/// A row's field as JSON (null when absent: the ingest path reads absent as null).
fn f(row: &Map<String, Value>, key: &str) -> Value {
    row.get(key).cloned().unwrap_or(Value::Null)
}

fn captured(m: &MappedConversation) -> Vec<(String, Value)> {
    rows(m, "CapturedData")
        .iter()
        .map(|r| {
            (
                f(r, "name").as_str().unwrap_or("").to_string(),
                f(r, "value"),
            )
        })
        .collect()
}

fn map_all(doc: &Value, minutes: i32) -> Vec<MappedConversation> {
    import::conversations(Format::Koreai, doc)
        .expect("a call-details document")
        .iter()
        .map(|c| import::map_conversation(Format::Koreai, c, &options(minutes)).expect("mapped"))
        .collect()
}

// ---------------------------------------------------------------------------------
// The vendor's documented example

fn sample() -> Option<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/samples/koreai/calldetails-v2-excerpt.json");
    match std::fs::read(&path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).expect("the sample is JSON")),
        Err(_) => {
            eprintln!("skipped: ../shared/samples absent");
            None
        }
    }
}

#[test]
fn documented_example_field_by_field() {
    let Some(doc) = sample() else { return };
    for minutes in [0i64, 330] {
        let at = |local: &str| json!(utc(local, minutes));
        let mapped = map_all(&doc, minutes as i32);
        assert_eq!(mapped.len(), 3);

        // 1. A session the bot closed on its own: no conversationId, so the sessionId.
        let bot = &mapped[0];
        assert_eq!(bot.conversation_id, "68db745779cb8cebd651xxxx");
        assert_eq!(bot.records.len(), 4, "{:#?}", bot.records);
        let chat = one(bot, "Chats");
        assert_eq!(f(chat, "id"), "68db745779cb8cebd651xxxx");
        assert_eq!(f(chat, "channelId"), "koreai:Web/Mobile Client");
        assert_eq!(f(chat, "channelType"), "Webchat");
        assert_eq!(f(chat, "startedAtUtc"), at("2025-09-30T11:40:31"));
        assert_eq!(f(chat, "endedAtUtc"), at("2025-09-30T11:40:42"));
        assert_eq!(f(chat, "durationInSeconds"), 11);
        assert_eq!(f(chat, "conversationEndedReason"), "Default");
        assert_eq!(
            f(chat, "customerId"),
            "u-ae9c9170-7a27-5cf5-89ab-e345d9e7xxxx"
        );
        let segment = one(bot, "BotSegments");
        assert_eq!(
            f(segment, "id"),
            "68db745779cb8cebd651xxxx:bot:st-e5c6ae6b-c388-5acd-93b7-bada87a7xxxx"
        );
        assert_eq!(
            f(segment, "botStepId"),
            "st-e5c6ae6b-c388-5acd-93b7-bada87a7xxxx"
        );
        assert_eq!(f(segment, "channelId"), "koreai:Web/Mobile Client");
        assert_eq!(f(segment, "startedAtUtc"), at("2025-09-30T11:40:31"));
        assert_eq!(f(segment, "endedAtUtc"), at("2025-09-30T11:40:42"));
        assert_eq!(f(segment, "durationInSeconds"), 11);
        assert_eq!(f(segment, "result"), "Success");
        assert!(rows(bot, "Workitems").is_empty() && rows(bot, "AgentSegments").is_empty());
        let kept = captured(bot);
        assert!(kept.contains(&("smartStatus".into(), json!("CLOSED AT BOT"))));
        assert!(kept.contains(&("finalStatus".into(), json!("BotResolved"))));

        // 2. An inbound call: bot, queue, one agent with after-call work and a consult.
        let voice = &mapped[1];
        assert_eq!(
            voice.conversation_id,
            "c-b48e690-7d7c-4e72-9855-a669d688xxxx"
        );
        let call = one(voice, "Calls");
        assert_eq!(f(call, "channelId"), "koreai:Voice");
        assert_eq!(f(call, "channelType"), "Voice");
        assert_eq!(f(call, "isOutbound"), false);
        assert_eq!(f(call, "isConsult"), false);
        assert_eq!(f(call, "startedAtUtc"), at("2025-09-30T12:37:00"));
        assert_eq!(f(call, "endedAtUtc"), at("2025-09-30T12:38:06"));
        assert_eq!(f(call, "customerJoinedAtUtc"), at("2025-09-30T12:37:00"));
        assert_eq!(f(call, "durationInSeconds"), 66);
        assert_eq!(f(call, "customerPhoneNumber"), "+13213xxxxx");
        assert_eq!(f(call, "channelPhoneNumber"), "+13343xxxxx");
        assert_eq!(f(call, "conversationEndedReason"), "Default");
        assert_eq!(f(call, "holdCount"), 0);
        assert_eq!(f(call, "holdDurationInSeconds"), 0);
        assert_eq!(
            f(call, "customerId"),
            "u-4245d01e-6124-587a-85b2-939fe3cfxxxx"
        );

        let queue = one(voice, "QueueSegments");
        assert_eq!(
            f(queue, "queueId"),
            "qu-7a58cc5-0599-4609-817c-873d8384xxxx"
        );
        assert_eq!(f(queue, "conversationId"), voice.conversation_id.as_str());
        assert_eq!(f(queue, "queuedAtUtc"), at("2025-09-30T12:37:11"));
        assert_eq!(f(queue, "dequeuedAtUtc"), at("2025-09-30T12:37:16"));
        assert_eq!(f(queue, "durationInSeconds"), 5);
        assert_eq!(f(queue, "dequeuedReason"), "AgentConnected");

        let bot_part = one(voice, "BotSegments");
        assert_eq!(
            f(bot_part, "botStepId"),
            "st-e5c6ae6b-c388-5acd-93b7-bada87a7xxxx"
        );
        assert_eq!(f(bot_part, "endedAtUtc"), at("2025-09-30T12:37:11"));
        assert_eq!(f(bot_part, "durationInSeconds"), 11);
        assert_eq!(f(bot_part, "result"), "Success");
        assert_eq!(f(bot_part, "botFinishedResult"), "Pay Bill");

        let agent = "u-e3f58196-0f28-5419-9601-dc136e8dxxxx";
        let id = format!("{}:{agent}:2025-09-30T12:37:16", voice.conversation_id);
        let item = one(voice, "Workitems");
        assert_eq!(f(item, "id"), id.as_str());
        assert_eq!(f(item, "agentId"), agent);
        assert_eq!(f(item, "queueId"), "qu-7a58cc5-0599-4609-817c-873d8384xxxx");
        assert_eq!(
            f(item, "primaryConversationId"),
            voice.conversation_id.as_str()
        );
        assert_eq!(f(item, "primaryChannelId"), "koreai:Voice");
        assert_eq!(f(item, "mediaType"), "voice");
        assert_eq!(f(item, "startTimeUtc"), at("2025-09-30T12:37:16"));
        // The task ends with the after-call work.
        assert_eq!(f(item, "endTimeUtc"), at("2025-09-30T12:38:13"));
        assert_eq!(f(item, "durationInSeconds"), 57);
        assert_eq!(f(item, "previewDuration"), 4);
        assert_eq!(f(item, "activeDurationInSeconds"), 49);
        assert_eq!(f(item, "wrapUpDuration"), 4);
        assert_eq!(f(item, "result"), "Handled");
        assert_eq!(f(item, "completionCode"), "Requires Supervisor Attention");
        assert!(
            f(item, "notes")
                .as_str()
                .unwrap_or("")
                .starts_with("The customer requested to pay their bill."),
            "{item:?}"
        );

        let session = one(voice, "WorkitemConversationSessions");
        assert_eq!(f(session, "workitemId"), id.as_str());
        assert_eq!(f(session, "endedReason"), "ConversationEnded");
        assert_eq!(f(session, "holdCount"), 0);
        assert_eq!(f(session, "totalHoldDuration"), 0);

        let seg = one(voice, "AgentSegments");
        assert_eq!(f(seg, "id"), id.as_str());
        assert_eq!(f(seg, "agentId"), agent);
        assert_eq!(f(seg, "userType"), "human");
        assert_eq!(f(seg, "startReason"), "newConversation");
        assert_eq!(f(seg, "assignedAtUtc"), at("2025-09-30T12:37:16"));
        assert_eq!(f(seg, "acceptedAtUtc"), at("2025-09-30T12:37:20"));
        assert_eq!(f(seg, "firstAgentMessageAtUtc"), at("2025-09-30T12:37:20"));
        // Measured from the assignment (4 s), not from acceptance (Kore.ai's 0).
        assert_eq!(f(seg, "timeToFirstResponseInMilliseconds"), 4000);
        // The segment ends with the interaction; the wrap-up is the workitem's.
        assert_eq!(f(seg, "endedAtUtc"), at("2025-09-30T12:38:09"));
        assert_eq!(f(seg, "durationInMilliseconds"), 53_000);
        assert_eq!(f(seg, "endReason"), "agentClosed");
        assert_eq!(f(seg, "hasNonResponsiveAgent"), false);
        assert_eq!(f(seg, "isAbandonedByConsumer"), false);
        assert_eq!(f(seg, "isLastInConversation"), true);

        let kept = captured(voice);
        for expected in [
            ("ConsultingAgents", json!("+919550xxxxx")),
            (
                "metaInfo.agentTransferConfig.lastIntentName",
                json!("Pay Bill"),
            ),
            (
                "metaInfo.agentTransferConfig.lastIntentuserInput",
                json!("Can you pay my bill?"),
            ),
            ("reason", json!("Requires Supervisor Attention")),
            ("disconnectingEvent", json!("Agent Hangup")),
        ] {
            assert!(
                kept.contains(&(expected.0.to_string(), expected.1.clone())),
                "{expected:?} in {kept:?}"
            );
        }
        // The first disposition is the workitem's completion code, not captured data.
        assert!(!kept.iter().any(|(name, _)| name == "dispositions"));
        let consult = rows(voice, "CapturedData")
            .into_iter()
            .find(|r| f(r, "name") == "ConsultingAgents")
            .expect("consult");
        assert_eq!(f(consult, "timestampUtc"), at("2025-09-30T12:37:44"));

        // 3. A web chat: the queue offered it to an agent who did not respond, then the
        //    conversation was reassigned to an agent who answered.
        let chat = &mapped[2];
        assert_eq!(
            chat.conversation_id,
            "c-252425a-903a-469e-b16d-eee318e3xxxx"
        );
        let row = one(chat, "Chats");
        assert_eq!(f(row, "startedAtUtc"), at("2025-10-01T15:30:04"));
        assert_eq!(f(row, "endedAtUtc"), at("2025-10-01T15:31:01"));
        assert_eq!(f(row, "durationInSeconds"), 57);
        assert_eq!(f(row, "conversationEndedReason"), "Default");
        assert!(rows(chat, "BotSegments").is_empty());
        let queue = one(chat, "QueueSegments");
        assert_eq!(f(queue, "queuedAtUtc"), at("2025-10-01T15:30:23"));
        assert_eq!(f(queue, "dequeuedAtUtc"), at("2025-10-01T15:30:42"));
        assert_eq!(f(queue, "durationInSeconds"), 19);
        assert_eq!(f(queue, "dequeuedReason"), "AgentConnected");

        let items = rows(chat, "Workitems");
        assert_eq!(items.len(), 2);
        let (missed, handled) = (items[0], items[1]);
        let agent = "u-3ea001b4-664a-58b6-8108-b8bca375xxxx";
        for item in [missed, handled] {
            assert_eq!(f(item, "agentId"), agent);
            assert_eq!(f(item, "queueId"), "qu-577416d-3745-40e7-904c-85ba1a04xxxx");
            assert_eq!(f(item, "mediaType"), "webchat");
        }
        assert_eq!(f(missed, "result"), "Missed");
        assert_eq!(f(missed, "startTimeUtc"), at("2025-10-01T15:30:35"));
        assert_eq!(f(missed, "endTimeUtc"), at("2025-10-01T15:30:42"));
        assert_eq!(f(missed, "previewDuration"), 7);
        assert_eq!(f(missed, "activeDurationInSeconds"), 0);
        assert_eq!(f(handled, "result"), "Handled");
        assert_eq!(f(handled, "startTimeUtc"), at("2025-10-01T15:30:42"));
        assert_eq!(f(handled, "endTimeUtc"), at("2025-10-01T15:31:32"));
        assert_eq!(f(handled, "durationInSeconds"), 50);
        assert_eq!(f(handled, "previewDuration"), 3);
        assert_eq!(f(handled, "activeDurationInSeconds"), 15);
        assert_eq!(f(handled, "wrapUpDuration"), 32);
        assert_eq!(f(handled, "completionCode"), Value::Null);

        let sessions = rows(chat, "WorkitemConversationSessions");
        assert_eq!(f(sessions[0], "endedReason"), "AgentFailedToJoin");
        assert_eq!(f(sessions[1], "endedReason"), "ConversationEnded");

        let segs = rows(chat, "AgentSegments");
        assert_eq!(f(segs[0], "startReason"), "newConversation");
        assert_eq!(f(segs[0], "hasNonResponsiveAgent"), true);
        assert_eq!(f(segs[0], "isAbandonedByConsumer"), false);
        assert_eq!(f(segs[0], "endReason"), "transfer");
        assert_eq!(f(segs[0], "endedAtUtc"), at("2025-10-01T15:30:42"));
        assert_eq!(f(segs[0], "durationInMilliseconds"), 7000);
        assert_eq!(f(segs[0], "isLastInConversation"), false);
        assert_eq!(f(segs[1], "startReason"), "transfer");
        assert_eq!(f(segs[1], "acceptedAtUtc"), at("2025-10-01T15:30:45"));
        assert_eq!(f(segs[1], "endedAtUtc"), at("2025-10-01T15:31:00"));
        assert_eq!(f(segs[1], "durationInMilliseconds"), 18_000);
        assert_eq!(f(segs[1], "endReason"), "agentClosed");
        // No first response in the export: unknown, not zero.
        assert_eq!(f(segs[1], "firstAgentMessageAtUtc"), Value::Null);
        assert_eq!(f(segs[1], "timeToFirstResponseInMilliseconds"), Value::Null);
        assert_eq!(f(segs[1], "hasNonResponsiveAgent"), Value::Null);
        assert_eq!(f(segs[1], "isLastInConversation"), true);
    }
}

#[test]
fn documented_example_needs_the_offset() {
    let Some(doc) = sample() else { return };
    let list = import::conversations(Format::Koreai, &doc).expect("document");
    let errors =
        import::map_conversation(Format::Koreai, &list[1], &ImportOptions::default()).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].conversation_id.as_deref(),
        Some("c-b48e690-7d7c-4e72-9855-a669d688xxxx")
    );
    assert_eq!(errors[0].field, "sessionStartTime");
    assert!(errors[0].message.contains("--time-zone-offset"));
}

// ---------------------------------------------------------------------------------
// An export of our own, through the server

/// Three records in the shape of the call-details API, times local (UTC+05:30):
/// an inbound call (bot, queue, agent with wrap-up and hold, two dispositions, tags),
/// a web chat (an ignored offer, then another agent), a bot-only session.
fn export() -> Value {
    json!({
        "numResults": 3,
        "data": [
            {
                "conversationId": "c-call", "sessionId": "s-call", "channel": "Voice",
                "isVoicemail": "NO", "Direction": "Inbound",
                "finalStatus": "CLOSED", "smartStatus": "CLOSED", "reason": "",
                "disconnectingEvent": "Agent Hangup", "botId": "st-app",
                "dispositions": ["Payment", "Follow-up"],
                "dispositionRemarks": ["Paid by card."],
                "metaInfo": {"caller": "+15550001", "callee": "+15550002",
                    "agentTransferConfig": {"automationBotId": "st-ivr", "lastIntentName": "Pay Bill"}},
                "sessionStartTime": "2026-05-04T14:30:00",
                "sessionEndTime": "2026-05-04T14:40:00",
                "userId": "u-cust-1",
                "destinations": [{
                    "destinationType": "QueueEntry", "queueId": "qu-pay", "queueName": "Payments",
                    "CallbackOpted": false, "EnterTime": "2026-05-04T14:30:30",
                    "respondingAgent": {
                        "agentId": "u-anna", "destinationType": "AgentSegment", "status": "Answered",
                        "assignedAt": "2026-05-04T14:31:00", "acceptedTime": "2026-05-04T14:31:04",
                        "firstResponseTime": "2026-05-04T14:31:06", "firstResponseDuration": 2,
                        "interactionEndTime": "2026-05-04T14:40:00", "interactionDuration": 536,
                        "afterCallWorkDuration": 45, "afterCallWorkEndTime": "2026-05-04T14:40:45",
                        "holdDuration": 20,
                        "ConsultingAgents": [{"agentId": "u-boss", "assignedAt": "2026-05-04T14:35:00",
                            "acceptedTime": "2026-05-04T14:35:05", "consultingEndTime": "2026-05-04T14:36:00"}],
                        "JoinedUsers": [], "agentNotes": []
                    }
                }],
                "userleveltags": [{"name": "tier", "value": "gold"}],
                "sessionleveltags": [{"name": "callerNumber", "value": "+15550001"}]
            },
            {
                "conversationId": "c-chat", "sessionId": "s-chat", "channel": "Web/Mobile Client",
                "Direction": "Inbound", "finalStatus": "CLOSED", "smartStatus": "CLOSED",
                "disconnectingEvent": "Agent Closed",
                "sessionStartTime": "2026-05-04T15:00:00", "sessionEndTime": "2026-05-04T15:20:00",
                "destinations": [{
                    "destinationType": "QueueEntry", "queueId": "qu-web",
                    "EnterTime": "2026-05-04T15:00:10",
                    "nonRespondingAgents": [{"agentId": "u-bela", "destinationType": "AgentSegment",
                        "assignedAt": "2026-05-04T15:00:20", "nonResponseEvent": "Ignored"}],
                    "respondingAgent": {"agentId": "u-cili", "status": "Answered",
                        "assignedAt": "2026-05-04T15:01:00", "acceptedTime": "2026-05-04T15:01:02",
                        "firstResponseTime": "2026-05-04T15:01:30", "firstResponseDuration": 28,
                        "interactionEndTime": "2026-05-04T15:20:00", "interactionDuration": 1138}
                }]
            },
            {
                "sessionId": "s-bot", "channel": "Web/Mobile Client",
                "sessionStartTime": "2026-05-04T16:00:00", "sessionEndTime": "2026-05-04T16:01:30",
                "botId": "st-app", "userId": "u-visitor",
                "smartStatus": "CLOSED AT BOT", "finalStatus": "BotResolved",
                "reason": "", "disconnectingEvent": "", "errorDetails": "",
                "automationBotIDs": ["st-faq"]
            }
        ]
    })
}

struct Env(TenantApp);

fn setup(backend: Backend) -> Option<Env> {
    TenantApp::start(backend).map(Env)
}

impl Env {
    fn import(&self, query: &str, doc: &Value) -> Response {
        self.0.post_ingest(
            &format!("/ingest/import/koreai{query}"),
            &serde_json::to_vec(doc).expect("json"),
        )
    }

    fn import_ok(&self, doc: &Value) -> Value {
        let resp = self.import("?timeZoneOffset=330", doc);
        assert_eq!(resp.status, 200, "{}", resp.text());
        resp.json()
    }

    /// Every row of a set, ordered by id, without annotations.
    fn rows(&self, set: &str) -> Vec<Map<String, Value>> {
        self.0
            .all_rows(set)
            .into_iter()
            .filter_map(|v| match v {
                Value::Object(o) => Some(o),
                _ => None,
            })
            .collect()
    }

    fn row(&self, set: &str, id: &str) -> Map<String, Value> {
        self.rows(set)
            .into_iter()
            .find(|r| r.get("id").and_then(Value::as_str) == Some(id))
            .unwrap_or_else(|| panic!("{set} has no row '{id}'"))
    }

    fn everything(&self) -> Vec<Vec<Map<String, Value>>> {
        ALL_SETS.iter().map(|s| self.rows(s)).collect()
    }
}

const ALL_SETS: &[&str] = &[
    "Conversations",
    "Calls",
    "Chats",
    "Emails",
    "QueueSegments",
    "BotSegments",
    "Workitems",
    "WorkitemConversationSessions",
    "AgentSegments",
    "CapturedData",
    "Messages",
];

fn check_import_over_http(backend: Backend) {
    let Some(env) = setup(backend) else { return };
    let report = env.import_ok(&export());
    assert_eq!(report["format"], "koreai", "{report}");
    assert_eq!(report["conversations"], 3, "{report}");
    let sets = &report["sets"];
    assert_eq!(sets["Calls"]["inserted"], 1, "{report}");
    assert_eq!(sets["Chats"]["inserted"], 2, "{report}");
    assert_eq!(sets["Conversations"]["inserted"], 3, "{report}");
    assert_eq!(sets["QueueSegments"]["inserted"], 2, "{report}");
    assert_eq!(sets["BotSegments"]["inserted"], 2, "{report}");
    assert_eq!(sets["Workitems"]["inserted"], 3, "{report}");
    assert_eq!(sets["AgentSegments"]["inserted"], 3, "{report}");
    assert_eq!(
        sets["WorkitemConversationSessions"]["inserted"], 3,
        "{report}"
    );

    // Times: 14:30 at UTC+05:30 is 09:00 UTC, 11:00 in Budapest (CEST).
    let call = env.row("Calls", "c-call");
    assert_eq!(call["startedAtUtc"], "2026-05-04T09:00:00.000Z");
    assert_eq!(call["startedAt"], "2026-05-04T11:00:00.000+02:00");
    assert_eq!(call["endedAtUtc"], "2026-05-04T09:10:00.000Z");
    assert_eq!(call["durationInSeconds"], 600);
    assert_eq!(call["channelId"], "koreai:Voice");
    assert_eq!(call["customerPhoneNumber"], "+15550001");
    assert_eq!(call["holdCount"], 1);
    assert_eq!(call["holdDurationInSeconds"], 20);
    assert_eq!(call["conversationEndedReason"], "Default");
    let conversation = env.row("Conversations", "c-call");
    assert_eq!(conversation["channelType"], "Voice");
    assert_eq!(conversation["isOutbound"], false);
    assert_eq!(env.row("Conversations", "s-bot")["channelType"], "Webchat");

    let queue = env.row("QueueSegments", "c-call:qu-pay:2026-05-04T14:30:30");
    assert_eq!(queue["queuedAtUtc"], "2026-05-04T09:00:30.000Z");
    assert_eq!(queue["dequeuedAtUtc"], "2026-05-04T09:01:00.000Z");
    assert_eq!(queue["durationInSeconds"], 30);
    assert_eq!(queue["dequeuedReason"], "AgentConnected");

    let anna = "c-call:u-anna:2026-05-04T14:31:00";
    let item = env.row("Workitems", anna);
    assert_eq!(item["agentId"], "u-anna");
    assert_eq!(item["queueId"], "qu-pay");
    assert_eq!(item["startTimeUtc"], "2026-05-04T09:01:00.000Z");
    assert_eq!(item["endTimeUtc"], "2026-05-04T09:10:45.000Z");
    assert_eq!(item["durationInSeconds"], 585);
    assert_eq!(item["previewDuration"], 4);
    assert_eq!(item["activeDurationInSeconds"], 536);
    assert_eq!(item["wrapUpDuration"], 45);
    assert_eq!(item["result"], "Handled");
    assert_eq!(item["completionCode"], "Payment");
    assert_eq!(item["notes"], "Paid by card.");
    let segment = env.row("AgentSegments", anna);
    assert_eq!(segment["assignedAtUtc"], "2026-05-04T09:01:00.000Z");
    assert_eq!(
        segment["firstAgentMessageAtUtc"],
        "2026-05-04T09:01:06.000Z"
    );
    assert_eq!(segment["timeToFirstResponseInMilliseconds"], 6000);
    assert_eq!(segment["endedAtUtc"], "2026-05-04T09:10:00.000Z");
    assert_eq!(segment["durationInMilliseconds"], 540_000);
    assert_eq!(segment["endReason"], "agentClosed");
    assert_eq!(segment["startReason"], "newConversation");
    assert_eq!(segment["isLastInConversation"], true);
    // Flags the source allows (the agent answered) survive the segments refresh.
    assert_eq!(segment["hasNonResponsiveAgent"], false);
    assert_eq!(segment["isAbandonedByConsumer"], false);
    assert_eq!(segment["isInteractive"], Value::Null);
    // No message data: the message counts stay unknown.
    assert_eq!(segment["agentMessageCount"], Value::Null);
    assert!(env.rows("Messages").is_empty());

    let bela = env.row("AgentSegments", "c-chat:u-bela:2026-05-04T15:00:20");
    assert_eq!(bela["hasNonResponsiveAgent"], true);
    assert_eq!(bela["endReason"], "transfer");
    assert_eq!(bela["startReason"], "newConversation");
    assert_eq!(bela["endedAtUtc"], "2026-05-04T09:31:00.000Z");
    assert_eq!(
        env.row("Workitems", "c-chat:u-bela:2026-05-04T15:00:20")["result"],
        "Missed"
    );
    let cili = env.row("AgentSegments", "c-chat:u-cili:2026-05-04T15:01:00");
    assert_eq!(cili["startReason"], "transfer");
    assert_eq!(cili["timeToFirstResponseInMilliseconds"], 30_000);

    let bot = env.row("BotSegments", "s-bot:bot:st-faq");
    assert_eq!(bot["conversationId"], "s-bot");
    assert_eq!(bot["durationInSeconds"], 90);
    assert_eq!(bot["result"], "Success");

    let captured = env.rows("CapturedData");
    let named = |name: &str| -> Vec<Value> {
        captured
            .iter()
            .filter(|r| r["name"] == name)
            .map(|r| r["value"].clone())
            .collect()
    };
    assert_eq!(named("dispositions"), [json!("Follow-up")]);
    assert_eq!(named("userleveltags.tier"), [json!("gold")]);
    assert_eq!(named("ConsultingAgents"), [json!("u-boss")]);

    // The same export again changes nothing.
    let before = env.everything();
    let report = env.import_ok(&export());
    for (name, counts) in report["sets"].as_object().expect("sets") {
        assert_eq!(counts["inserted"], 0, "{name}: {report}");
        assert_eq!(counts["removed"], 0, "{name}: {report}");
    }
    assert_eq!(before, env.everything());

    // A newer snapshot of the chat without the missed offer, and of the call without
    // the consult and the second disposition: those rows go, the rest stay.
    let mut newer = export();
    newer["data"][1]["destinations"][0]
        .as_object_mut()
        .expect("queue entry")
        .remove("nonRespondingAgents");
    newer["data"][0]["destinations"][0]["respondingAgent"]["ConsultingAgents"] = json!([]);
    newer["data"][0]["dispositions"] = json!(["Payment"]);
    let report = env.import_ok(&newer);
    assert_eq!(report["sets"]["Workitems"]["removed"], 1, "{report}");
    assert_eq!(report["sets"]["AgentSegments"]["removed"], 1, "{report}");
    assert_eq!(
        report["sets"]["WorkitemConversationSessions"]["removed"], 1,
        "{report}"
    );
    assert_eq!(report["sets"]["CapturedData"]["removed"], 2, "{report}");
    let segments = env.rows("AgentSegments");
    assert_eq!(segments.len(), 2);
    let cili = env.row("AgentSegments", "c-chat:u-cili:2026-05-04T15:01:00");
    assert_eq!(cili["startReason"], "newConversation");
    let captured = env.rows("CapturedData");
    assert!(!captured.iter().any(|r| r["name"] == "ConsultingAgents"));
    assert!(!captured.iter().any(|r| r["name"] == "dispositions"));
}

fn check_rejections(backend: Backend) {
    let Some(env) = setup(backend) else { return };
    // Local times and no offset: a 400 that names the field and the parameter.
    let resp = env.import("", &export());
    let err = resp.odata_error(400);
    let message = err["message"].as_str().unwrap_or("");
    assert!(message.contains("c-call"), "{err}");
    assert!(message.contains("sessionStartTime"), "{err}");
    assert!(message.contains("timeZoneOffset"), "{err}");
    // A broken timestamp deep inside: its path.
    let mut broken = export();
    broken["data"][1]["destinations"][0]["respondingAgent"]["assignedAt"] = json!("soon");
    let err = env.import("?timeZoneOffset=330", &broken).odata_error(400);
    let targets: Vec<&str> = err["details"]
        .as_array()
        .map(|d| d.iter().filter_map(|e| e["target"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        targets,
        ["data[1].destinations[0].respondingAgent.assignedAt"],
        "{err}"
    );
    // Not a call-details document.
    env.import("?timeZoneOffset=0", &json!({"conversations": []}))
        .odata_error(400);
    // Nothing of any of it was written.
    for set in ALL_SETS {
        assert!(env.rows(set).is_empty(), "{set}");
    }
}

#[test]
fn import_over_http_sqlite() {
    check_import_over_http(Backend::Sqlite);
}

#[test]
fn import_over_http_postgres() {
    check_import_over_http(Backend::Postgres);
}

#[test]
fn rejections_write_nothing_sqlite() {
    check_rejections(Backend::Sqlite);
}

#[test]
fn rejections_write_nothing_postgres() {
    check_rejections(Backend::Postgres);
}

/// The library entry point the CLI uses: the same rules without HTTP.
#[test]
fn import_function_reports_the_conversation_and_path() {
    let Some(app) = TestApp::start(Backend::Sqlite, Settings::default(), |db, _| {
        let mut conn = db.get().expect("conn");
        tenants::create_tenant(&mut conn, "Acme", "Asia/Kolkata", 3650).expect("tenant");
    }) else {
        return;
    };
    let mut conn = app.db.get().expect("conn");
    let tenant = tenants::find_tenant(&mut conn, "acme")
        .expect("query")
        .expect("tenant");
    let body = serde_json::to_vec(&export()).expect("json");
    drop(conn);
    let result = import::import(
        &app.db,
        &app.model,
        &tenant,
        Format::Koreai,
        body.as_slice(),
        &ImportOptions::default(),
        &mut |_, _| {},
    );
    match result {
        Err(ImportError::Invalid(errors)) => {
            assert_eq!(errors[0].conversation_id.as_deref(), Some("c-call"));
            assert_eq!(errors[0].field, "data[0].sessionStartTime");
        }
        other => panic!("expected the missing offset to be refused, got {other:?}"),
    }
    let report = import::import(
        &app.db,
        &app.model,
        &tenant,
        Format::Koreai,
        body.as_slice(),
        &options(330),
        &mut |_, _| {},
    )
    .expect("imported");
    assert_eq!(report.conversations, 3);
    assert_eq!(report.sets["AgentSegments"].inserted, 3);
}
