//! The Genesys Cloud conversation-details importer: the mapping checked field by field
//! (on the published blueprint samples when ../shared/samples is there, and on
//! fixtures written here), and end to end through `POST /ingest/import/genesys` on
//! both backends, reading the rows back over OData.

mod common;

use std::path::PathBuf;

use ccfeed::ingest::import::{self, Format, ImportOptions, MappedConversation};
use common::*;
use serde_json::{Map, Value, json};

/// Every set the importer writes, plus the derived Conversations.
const READ_BACK: &[&str] = &[
    "Conversations",
    "Calls",
    "Chats",
    "Emails",
    "QueueSegments",
    "BotSegments",
    "Workitems",
    "WorkitemConversationSessions",
    "AgentSegments",
    "Messages",
    "CapturedData",
];

// ---------------------------------------------------------------------------------
// The published samples (read at run time, never copied into the repository).

fn sample(name: &str) -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/samples/genesys")
        .join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).expect("sample is JSON")),
        Err(_) => {
            eprintln!("skipped: ../shared/samples absent ({})", path.display());
            None
        }
    }
}

/// Both blueprint files are single conversation objects; wrapped together they are
/// the details-query shape.
fn blueprint_export() -> Option<Value> {
    let one = sample("blueprint-conversation1.json")?;
    let two = sample("blueprint-conversation2.json")?;
    Some(json!({ "conversations": [one, two] }))
}

fn map_all(doc: &Value) -> Vec<MappedConversation> {
    import::conversations(Format::Genesys, doc)
        .expect("document shape")
        .iter()
        .map(|c| {
            import::map_conversation(Format::Genesys, c, &ImportOptions::default())
                .unwrap_or_else(|e| panic!("mapping failed: {e:?}"))
        })
        .collect()
}

fn records<'m>(m: &'m MappedConversation, set: &str) -> Vec<&'m Map<String, Value>> {
    m.records
        .iter()
        .filter(|r| r.set == set)
        .map(|r| &r.fields)
        .collect()
}

/// Asserts that `row` has exactly these properties with these values.
fn assert_fields(row: &Map<String, Value>, expected: Value) {
    let expected = expected.as_object().expect("object").clone();
    assert_eq!(row, &expected);
}

#[test]
fn blueprint_samples_map_field_by_field() {
    let Some(doc) = blueprint_export() else {
        return;
    };
    // A single conversation, as the per-conversation endpoint returns it, is read as
    // one conversation, the same as inside the wrapper.
    let single = sample("blueprint-conversation1.json").expect("present");
    let list = import::conversations(Format::Genesys, &single).expect("single conversation");
    assert_eq!(list, std::slice::from_ref(&single));

    let mapped = map_all(&doc);
    assert_eq!(mapped.len(), 2);

    // Conversation 1: web chat, queue, one agent who ends on hold; the export has
    // conversationEnd.
    let c1 = &mapped[0];
    assert_eq!(c1.conversation_id, "1bc96a39-6725-40c4-9345-db72aa67b8c6");
    let sets: Vec<&str> = c1.records.iter().map(|r| r.set).collect();
    assert_eq!(
        sets,
        [
            "Chats",
            "QueueSegments",
            "Workitems",
            "WorkitemConversationSessions",
            "AgentSegments"
        ]
    );
    assert_fields(
        records(c1, "Chats")[0],
        json!({
            "id": "1bc96a39-6725-40c4-9345-db72aa67b8c6",
            "channelId": "genesys:chat:Webchat Provider",
            "channelType": "Webchat",
            "startedAtUtc": "2021-04-01T12:27:53.386Z",
            "endedAtUtc": "2021-04-01T12:43:23.306Z",
            "durationInSeconds": 930,
            // The customer's chat session ended by a timeout.
            "conversationEndedReason": "IdleTimeout",
            "customerFirstName": "John",
            "customerLastName": "Doe"
        }),
    );
    assert_fields(
        records(c1, "QueueSegments")[0],
        json!({
            "id": "6acbee65-80be-4777-be03-8dacd07ee3f9:0",
            "conversationId": "1bc96a39-6725-40c4-9345-db72aa67b8c6",
            "queueId": "a623d83c-96d7-4baa-af1f-d46ad6700d8b",
            "channelId": "genesys:chat:Webchat Provider",
            "queuedAtUtc": "2021-04-01T12:27:53.388Z",
            "dequeuedAtUtc": "2021-04-01T12:28:04.567Z",
            "durationInSeconds": 11,
            "dequeuedReason": "AgentConnected"
        }),
    );
    // Who handled it: the agent, 11 s of alert, talk plus hold 918.737 s (the
    // session's tHandle), no wrap-up.
    assert_fields(
        records(c1, "Workitems")[0],
        json!({
            "id": "b9ea3521-176e-4916-af7d-240732fc4680",
            "agentId": "50fcd33c-f432-4726-abc9-979f3ca01555",
            "queueId": "a623d83c-96d7-4baa-af1f-d46ad6700d8b",
            "primaryConversationId": "1bc96a39-6725-40c4-9345-db72aa67b8c6",
            "primaryChannelId": "genesys:chat:Webchat Provider",
            "mediaType": "webchat",
            "startTimeUtc": "2021-04-01T12:27:53.519Z",
            "endTimeUtc": "2021-04-01T12:43:23.306Z",
            "durationInSeconds": 930,
            "previewDuration": 11,
            "activeDurationInSeconds": 919,
            "wrapUpDuration": 0,
            "result": "Handled"
        }),
    );
    assert_fields(
        records(c1, "WorkitemConversationSessions")[0],
        json!({
            "id": "b9ea3521-176e-4916-af7d-240732fc4680",
            "workitemId": "b9ea3521-176e-4916-af7d-240732fc4680",
            "conversationId": "1bc96a39-6725-40c4-9345-db72aa67b8c6",
            "holdCount": 1,
            "totalHoldDuration": 544,
            "lastHoldDuration": 544,
            "endedReason": "ConversationEnded"
        }),
    );
    assert_fields(
        records(c1, "AgentSegments")[0],
        json!({
            "id": "b9ea3521-176e-4916-af7d-240732fc4680",
            "conversationId": "1bc96a39-6725-40c4-9345-db72aa67b8c6",
            "agentId": "50fcd33c-f432-4726-abc9-979f3ca01555",
            "userType": "human",
            "queueId": "a623d83c-96d7-4baa-af1f-d46ad6700d8b",
            "startReason": "newConversation",
            "assignedAtUtc": "2021-04-01T12:27:53.519Z",
            "acceptedAtUtc": "2021-04-01T12:28:04.569Z",
            "endedAtUtc": "2021-04-01T12:43:23.306Z",
            "endReason": "consumerClosed",
            "durationInMilliseconds": 929_787,
            "isLastInConversation": true
        }),
    );

    // Conversation 2: no conversationEnd, and segment dates written without zero
    // padding ("2021-04-2T..."): the end is the agent's last segment end.
    let c2 = &mapped[1];
    assert_eq!(c2.conversation_id, "6acbee65-80be-4777-be03-8dacd07ee3f9");
    assert_fields(
        records(c2, "Chats")[0],
        json!({
            "id": "6acbee65-80be-4777-be03-8dacd07ee3f9",
            "channelId": "genesys:chat:Webchat Provider",
            "channelType": "Webchat",
            "startedAtUtc": "2021-04-02T15:30:51.418Z",
            "endedAtUtc": "2021-04-02T15:46:21.293Z",
            "durationInSeconds": 930,
            "conversationEndedReason": "IdleTimeout",
            "customerFirstName": "Jane",
            "customerLastName": "Doe"
        }),
    );
    let queue = records(c2, "QueueSegments")[0];
    assert_eq!(queue["id"], "4b01b124-4e97-46bc-b7fb-719493630129:0");
    assert_eq!(queue["queuedAtUtc"], "2021-04-02T15:30:51.422Z");
    assert_eq!(queue["dequeuedAtUtc"], "2021-04-02T15:30:57.806Z");
    assert_eq!(queue["durationInSeconds"], 6);
    assert_eq!(queue["dequeuedReason"], "AgentConnected");
    let item = records(c2, "Workitems")[0];
    assert_eq!(item["agentId"], "9f3b4669-8593-4c95-bd7d-ef92c50f5a86");
    assert_eq!(item["startTimeUtc"], "2021-04-02T15:30:51.577Z");
    assert_eq!(item["endTimeUtc"], "2021-04-02T15:46:21.293Z");
    assert_eq!(item["previewDuration"], 6);
    assert_eq!(item["activeDurationInSeconds"], 923);
    assert_eq!(item["wrapUpDuration"], 0);
    assert_eq!(item["result"], "Handled");
    assert!(!item.contains_key("completionCode"));
    let held = records(c2, "WorkitemConversationSessions")[0];
    assert_eq!(held["holdCount"], 0);
    assert_eq!(held["totalHoldDuration"], 0);
    assert!(!held.contains_key("lastHoldDuration"));
    let seg = records(c2, "AgentSegments")[0];
    assert_eq!(seg["acceptedAtUtc"], "2021-04-02T15:30:57.809Z");
    assert_eq!(seg["endReason"], "consumerClosed");
    assert_eq!(seg["durationInMilliseconds"], 929_716);
    // Chat transcripts are not in the details export: no Messages.
    assert!(mapped.iter().all(|m| records(m, "Messages").is_empty()));
    // No flows, no custom attributes.
    assert!(mapped.iter().all(|m| records(m, "BotSegments").is_empty()));
    assert!(mapped.iter().all(|m| records(m, "CapturedData").is_empty()));
}

// ---------------------------------------------------------------------------------
// Fixtures written here.

fn seg(kind: &str, start: &str, end: &str, extra: Value) -> Value {
    let mut s = json!({"segmentType": kind, "segmentStart": start, "segmentEnd": end});
    if let (Some(s), Value::Object(extra)) = (s.as_object_mut(), extra) {
        s.extend(extra);
    }
    s
}

/// An inbound call through an IVR and a queue to an agent who holds twice and wraps
/// up with a code and a note; the export lacks conversationEnd.
fn voice_call() -> Value {
    json!({
        "conversationId": "g-voice-1",
        "conversationStart": "2026-06-15T08:00:00.000Z",
        "originatingDirection": "inbound",
        "participants": [
            {"participantId": "gp-cust", "participantName": "Erik Larsen", "purpose": "customer",
             "attributes": {"reason": "billing"},
             "sessions": [{"sessionId": "gs-cust", "mediaType": "voice", "direction": "inbound",
                "ani": "tel:+4520000001", "dnis": "tel:+4580000000",
                "segments": [seg("interact", "2026-06-15T08:00:00.000Z", "2026-06-15T08:09:00.000Z", json!({"disconnectType": "endpoint"}))]}]},
            {"participantId": "gp-ivr", "purpose": "ivr",
             "sessions": [{"sessionId": "gs-ivr", "mediaType": "voice", "direction": "inbound",
                "flow": {"flowId": "flow-entry", "flowName": "Entry", "exitReason": "TRANSFER"},
                "segments": [seg("ivr", "2026-06-15T08:00:00.000Z", "2026-06-15T08:00:45.000Z", json!({"disconnectType": "transfer"}))]}]},
            {"participantId": "gp-acd", "purpose": "acd",
             "sessions": [{"sessionId": "gs-acd", "mediaType": "voice", "direction": "inbound",
                "segments": [seg("interact", "2026-06-15T08:00:45.000Z", "2026-06-15T08:01:30.000Z", json!({"queueId": "q-billing", "disconnectType": "transfer"}))]}]},
            {"participantId": "gp-agent", "userId": "agent-1", "purpose": "agent",
             "sessions": [{"sessionId": "gs-agent", "mediaType": "voice", "direction": "inbound",
                "segments": [
                    seg("alert", "2026-06-15T08:01:25.000Z", "2026-06-15T08:01:30.000Z", json!({"queueId": "q-billing"})),
                    seg("interact", "2026-06-15T08:01:30.000Z", "2026-06-15T08:04:00.000Z", json!({"queueId": "q-billing"})),
                    seg("hold", "2026-06-15T08:04:00.000Z", "2026-06-15T08:05:00.000Z", json!({"queueId": "q-billing"})),
                    seg("interact", "2026-06-15T08:05:00.000Z", "2026-06-15T08:06:00.000Z", json!({"queueId": "q-billing"})),
                    seg("hold", "2026-06-15T08:06:00.000Z", "2026-06-15T08:06:30.000Z", json!({"queueId": "q-billing"})),
                    seg("interact", "2026-06-15T08:06:30.000Z", "2026-06-15T08:09:00.000Z", json!({"queueId": "q-billing", "disconnectType": "peer"})),
                    seg("wrapup", "2026-06-15T08:09:00.000Z", "2026-06-15T08:10:00.000Z", json!({"wrapUpCode": "wc-refund", "wrapUpNote": "refund approved"}))
                ]}]}
        ]
    })
}

/// An inbound email: the mail flow acknowledges it automatically while the agent
/// already has it, then the agent replies.
fn email(with_ack: bool) -> Value {
    let mut flow_sessions = vec![json!({
        "sessionId": "ge-flow", "mediaType": "email", "direction": "inbound",
        "flow": {"flowId": "flow-mail", "flowType": "INBOUNDEMAIL"},
        "segments": [seg("interact", "2026-06-15T09:00:00.000Z", "2026-06-15T09:00:02.000Z", json!({"disconnectType": "transfer"}))]
    })];
    if with_ack {
        flow_sessions.push(json!({
            "sessionId": "ge-ack", "mediaType": "email", "direction": "outbound",
            "flow": {"flowId": "flow-ack"},
            "segments": [seg("interact", "2026-06-15T09:03:00.000Z", "2026-06-15T09:03:01.000Z", json!({}))]
        }));
    }
    json!({
        "conversationId": "g-mail-1",
        "conversationStart": "2026-06-15T09:00:00.000Z",
        "conversationEnd": "2026-06-15T09:31:00.000Z",
        "originatingDirection": "inbound",
        "participants": [
            {"participantId": "ge-p-cust", "purpose": "customer",
             "sessions": [{"sessionId": "ge-cust", "mediaType": "email", "direction": "inbound",
                "addressFrom": "ana@example.org", "addressTo": "help@shop.example",
                "segments": [seg("interact", "2026-06-15T09:00:00.000Z", "2026-06-15T09:30:00.000Z", json!({"subject": "Broken parcel", "disconnectType": "peer"}))]}]},
            {"participantId": "ge-p-flow", "purpose": "workflow", "sessions": flow_sessions},
            {"participantId": "ge-p-acd", "purpose": "acd",
             "sessions": [{"sessionId": "ge-acd", "mediaType": "email", "direction": "inbound",
                "segments": [seg("interact", "2026-06-15T09:00:02.000Z", "2026-06-15T09:01:00.000Z", json!({"queueId": "q-mail", "disconnectType": "transfer"}))]}]},
            {"participantId": "ge-p-agent", "userId": "agent-2", "purpose": "agent",
             "sessions": [
                {"sessionId": "ge-agent", "mediaType": "email", "direction": "inbound",
                 "segments": [
                    seg("alert", "2026-06-15T09:00:58.000Z", "2026-06-15T09:01:00.000Z", json!({"queueId": "q-mail"})),
                    seg("interact", "2026-06-15T09:01:00.000Z", "2026-06-15T09:30:00.000Z", json!({"queueId": "q-mail", "disconnectType": "client"})),
                    seg("wrapup", "2026-06-15T09:30:00.000Z", "2026-06-15T09:31:00.000Z", json!({"wrapUpCode": "wc-replaced"}))
                 ]},
                {"sessionId": "ge-reply", "mediaType": "email", "direction": "outbound",
                 "addressTo": "ana@example.org",
                 "segments": [seg("interact", "2026-06-15T09:10:00.000Z", "2026-06-15T09:20:00.000Z", json!({"disconnectType": "client"}))]}
             ]}
        ]
    })
}

fn export(conversations: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "conversations": conversations, "totalHits": conversations.len() }))
        .expect("json")
}

// ---------------------------------------------------------------------------------
// End to end.

struct Env(TenantApp);

fn setup(backend: Backend) -> Option<Env> {
    TenantApp::start(backend).map(Env)
}

impl Env {
    fn import(&self, body: &[u8]) -> Value {
        let resp = self.0.post_ingest("/ingest/import/genesys", body);
        assert_eq!(resp.status, 200, "{}", resp.text());
        resp.json()
    }

    /// Every row of a set, ordered by id, without OData annotations.
    fn rows(&self, set: &str) -> Vec<Value> {
        self.0.all_rows(set)
    }

    fn row(&self, set: &str, id: &str) -> Value {
        self.rows(set)
            .into_iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no {set} row '{id}'"))
    }

    fn everything(&self) -> Vec<Vec<Value>> {
        READ_BACK.iter().map(|s| self.rows(s)).collect()
    }
}

fn check_own_fixtures_end_to_end(backend: Backend) {
    let Some(env) = setup(backend) else { return };
    let body = export(&[voice_call(), email(true)]);
    let report = env.import(&body);
    assert_eq!(report["conversations"], 2, "{report}");
    assert_eq!(report["sets"]["Conversations"]["inserted"], 2, "{report}");
    assert_eq!(report["sets"]["Messages"]["inserted"], 3, "{report}");

    // The call: the end comes from the segments, the local twin from the tenant's zone.
    let call = env.row("Calls", "g-voice-1");
    assert_eq!(call["startedAtUtc"], "2026-06-15T08:00:00.000Z");
    assert_eq!(call["startedAt"], "2026-06-15T10:00:00.000+02:00");
    assert_eq!(call["endedAtUtc"], "2026-06-15T08:10:00.000Z");
    assert_eq!(call["durationInSeconds"], 600);
    assert_eq!(call["isOutbound"], false);
    assert_eq!(call["customerPhoneNumber"], "+4520000001");
    assert_eq!(call["channelPhoneNumber"], "+4580000000");
    assert_eq!(call["channelId"], "genesys:voice:+4580000000");
    assert_eq!(call["holdCount"], 2);
    assert_eq!(call["holdDurationInSeconds"], 90);
    assert_eq!(call["conversationEndedReason"], "CustomerDisconnected");
    assert_eq!(call["customerFirstName"], "Erik");
    assert_eq!(call["customerLastName"], "Larsen");
    let conversation = env.row("Conversations", "g-voice-1");
    assert_eq!(conversation["channelType"], "Voice");
    assert_eq!(conversation["endedAtUtc"], "2026-06-15T08:10:00.000Z");

    let bot = env.row("BotSegments", "gs-ivr");
    assert_eq!(bot["botStepId"], "flow-entry");
    assert_eq!(bot["durationInSeconds"], 45);
    assert_eq!(bot["result"], "Success");
    let queue = env.row("QueueSegments", "gs-acd:0");
    assert_eq!(queue["queueId"], "q-billing");
    assert_eq!(queue["durationInSeconds"], 45);
    assert_eq!(queue["dequeuedReason"], "AgentConnected");
    let item = env.row("Workitems", "gs-agent");
    assert_eq!(item["agentId"], "agent-1");
    assert_eq!(item["previewDuration"], 5);
    assert_eq!(item["activeDurationInSeconds"], 450);
    assert_eq!(item["wrapUpDuration"], 60);
    assert_eq!(item["durationInSeconds"], 515);
    assert_eq!(item["result"], "Handled");
    assert_eq!(item["completionCode"], "wc-refund");
    assert_eq!(item["notes"], "refund approved");
    let held = env.row("WorkitemConversationSessions", "gs-agent");
    assert_eq!(held["holdCount"], 2);
    assert_eq!(held["totalHoldDuration"], 90);
    assert_eq!(held["lastHoldDuration"], 30);
    let seg = env.row("AgentSegments", "gs-agent");
    assert_eq!(seg["assignedAtUtc"], "2026-06-15T08:01:25.000Z");
    assert_eq!(seg["acceptedAtUtc"], "2026-06-15T08:01:30.000Z");
    assert_eq!(seg["endedAtUtc"], "2026-06-15T08:09:00.000Z");
    assert_eq!(seg["endReason"], "consumerClosed");
    assert_eq!(seg["startReason"], "newConversation");
    assert_eq!(seg["userType"], "human");
    assert_eq!(seg["isLastInConversation"], true);
    let reason = env.row("CapturedData", "gp-cust:attr:reason");
    assert_eq!(reason["conversationId"], "g-voice-1");
    assert_eq!(reason["value"], "billing");

    // The email: who wrote what, human or automated.
    let mail = env.row("Emails", "g-mail-1");
    assert_eq!(mail["subject"], "Broken parcel");
    assert_eq!(mail["customerEmailAddress"], "ana@example.org");
    assert_eq!(mail["channelId"], "genesys:email:help@shop.example");
    assert_eq!(mail["firstReplyTimeInSeconds"], 1200);
    assert_eq!(mail["threadId"], "g-mail-1");
    let ack = env.row("Messages", "ge-ack");
    assert_eq!(ack["senderType"], "flow");
    assert_eq!(ack["isAutomated"], true);
    assert_eq!(ack["botId"], "flow-ack");
    assert_eq!(ack["agentId"], Value::Null);
    let reply = env.row("Messages", "ge-reply");
    assert_eq!(reply["senderType"], "agent");
    assert_eq!(reply["isAutomated"], false);
    assert_eq!(reply["agentId"], "agent-2");
    assert_eq!(reply["sentAtUtc"], "2026-06-15T09:20:00.000Z");
    // Both went out while agent-2 held the conversation.
    assert_eq!(reply["agentSegmentId"], "ge-agent");
    assert_eq!(ack["agentSegmentId"], "ge-agent");
    let customer = env.row("Messages", "ge-cust");
    assert_eq!(customer["senderType"], "customer");
    assert_eq!(customer["direction"], "inbound");
    assert_eq!(
        env.rows("Workitems").len(),
        2,
        "a reply is not a second task"
    );

    // The same export again changes nothing.
    let before = env.everything();
    let report = env.import(&body);
    assert_eq!(report["sets"]["Calls"]["inserted"], 0, "{report}");
    assert_eq!(report["sets"]["Messages"]["inserted"], 0, "{report}");
    assert_eq!(env.everything(), before);

    // A later export of the email without the acknowledgement removes its message
    // and leaves the call alone.
    let report = env.import(&export(&[email(false)]));
    assert_eq!(report["sets"]["Messages"]["removed"], 1, "{report}");
    let ids: Vec<Value> = env
        .rows("Messages")
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(ids, [json!("ge-cust"), json!("ge-reply")]);
    assert_eq!(env.rows("Calls").len(), 1);
}

fn check_blueprint_end_to_end(backend: Backend) {
    let Some(doc) = blueprint_export() else {
        return;
    };
    let Some(env) = setup(backend) else { return };
    let body = serde_json::to_vec(&doc).expect("json");
    let report = env.import(&body);
    assert_eq!(report["conversations"], 2, "{report}");
    assert_eq!(report["sets"]["Chats"]["inserted"], 2, "{report}");

    let chat = env.row("Chats", "6acbee65-80be-4777-be03-8dacd07ee3f9");
    assert_eq!(chat["startedAtUtc"], "2021-04-02T15:30:51.418Z");
    assert_eq!(chat["startedAt"], "2021-04-02T17:30:51.418+02:00");
    assert_eq!(chat["endedAtUtc"], "2021-04-02T15:46:21.293Z");
    assert_eq!(chat["durationInSeconds"], 930);
    let conversation = env.row("Conversations", "1bc96a39-6725-40c4-9345-db72aa67b8c6");
    assert_eq!(conversation["channelType"], "Webchat");
    assert_eq!(conversation["endedAtUtc"], "2021-04-01T12:43:23.306Z");
    assert_eq!(conversation["conversationEndedReason"], "IdleTimeout");

    let item = env.row("Workitems", "b9ea3521-176e-4916-af7d-240732fc4680");
    assert_eq!(item["agentId"], "50fcd33c-f432-4726-abc9-979f3ca01555");
    assert_eq!(item["activeDurationInSeconds"], 919);
    let seg = env.row("AgentSegments", "a97c248c-706b-4e76-86f2-94b12bfae825");
    assert_eq!(seg["acceptedAtUtc"], "2021-04-02T15:30:57.809Z");
    assert_eq!(seg["durationInMilliseconds"], 929_716);
    // No message data from Genesys chat: the message-derived metrics stay null.
    assert_eq!(seg["agentMessageCount"], Value::Null);
    assert!(env.rows("Messages").is_empty());

    let before = env.everything();
    let report = env.import(&body);
    assert_eq!(report["sets"]["Workitems"]["inserted"], 0, "{report}");
    assert_eq!(report["sets"]["Workitems"]["removed"], 0, "{report}");
    assert_eq!(env.everything(), before);
}

#[test]
fn own_fixtures_end_to_end_sqlite() {
    check_own_fixtures_end_to_end(Backend::Sqlite);
}

#[test]
fn own_fixtures_end_to_end_postgres() {
    check_own_fixtures_end_to_end(Backend::Postgres);
}

#[test]
fn blueprint_samples_end_to_end_sqlite() {
    check_blueprint_end_to_end(Backend::Sqlite);
}

#[test]
fn blueprint_samples_end_to_end_postgres() {
    check_blueprint_end_to_end(Backend::Postgres);
}

#[test]
fn unmappable_export_writes_nothing_and_names_the_field() {
    let Some(env) = setup(Backend::Sqlite) else {
        return;
    };
    let mut broken = voice_call();
    broken["participants"][3]["sessions"][0]["segments"][1]
        .as_object_mut()
        .expect("segment")
        .remove("segmentStart");
    let auth = format!("Bearer {}", env.0.ingest_key);
    let resp = env.0.app.post(
        "/ingest/import/genesys",
        &[("Authorization", auth.as_str())],
        &export(&[email(true), broken]),
    );
    let err = resp.odata_error(400);
    let message = err["message"].as_str().unwrap_or("");
    assert!(message.contains("g-voice-1"), "{err}");
    assert!(
        message.contains("participants[3].sessions[0].segments[1].segmentStart"),
        "{err}"
    );
    assert!(env.rows("Conversations").is_empty());
    assert!(env.rows("Messages").is_empty());
}

/// The per-conversation details endpoint answers one conversation object, and people
/// also save a plain array of them: both import as they are.
fn check_single_conversation_and_bare_array(backend: Backend) {
    let Some(env) = setup(backend) else { return };
    let single = serde_json::to_vec(&voice_call()).expect("json");
    let report = env.import(&single);
    assert_eq!(report["conversations"], 1, "{report}");
    assert_eq!(env.row("Calls", "g-voice-1")["holdCount"], 2);
    let bare = serde_json::to_vec(&json!([email(true), voice_call()])).expect("json");
    let report = env.import(&bare);
    assert_eq!(report["conversations"], 2, "{report}");
    assert_eq!(report["sets"]["Calls"]["inserted"], 0, "{report}");
    assert_eq!(env.row("Emails", "g-mail-1")["subject"], "Broken parcel");
}

#[test]
fn single_conversation_and_bare_array_sqlite() {
    check_single_conversation_and_bare_array(Backend::Sqlite);
}

#[test]
fn single_conversation_and_bare_array_postgres() {
    check_single_conversation_and_bare_array(Backend::Postgres);
}
