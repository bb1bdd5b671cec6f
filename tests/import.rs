//! The import path's shared behaviour, independent of a format's mapping: routing,
//! roles, rejected documents that write nothing, the snapshot rule (an imported
//! conversation's rows that a newer export no longer has are removed, the same file
//! twice changes nothing), and the CLI. Format mappings are tested in
//! tests/import_genesys.rs and tests/import_koreai.rs.

mod common;

use common::*;
use serde_json::{Value, json};

type Env = TenantApp;

fn setup(backend: Backend) -> Option<Env> {
    TenantApp::start(backend)
}

fn import(env: &Env, format: &str, body: &[u8]) -> Response {
    env.post_ingest(&format!("/ingest/import/{format}"), body)
}

/// A Genesys voice conversation: customer, queue and the given agents one after the
/// other (each an alert then an interact segment).
fn voice(id: &str, agents: &[&str]) -> Value {
    let mut participants = vec![
        json!({"participantId": "cust", "purpose": "customer", "sessions": [{
            "mediaType": "voice", "sessionId": "s-cust", "direction": "inbound",
            "segments": [{"segmentStart": "2026-05-04T09:00:00.000Z",
                          "segmentEnd": "2026-05-04T09:30:00.000Z",
                          "segmentType": "interact", "disconnectType": "peer"}]}]}),
        json!({"participantId": "acd", "purpose": "acd", "sessions": [{
            "mediaType": "voice", "sessionId": "s-acd", "direction": "inbound",
            "segments": [{"segmentStart": "2026-05-04T09:00:00.000Z",
                          "segmentEnd": "2026-05-04T09:01:00.000Z",
                          "segmentType": "interact", "queueId": "q-1",
                          "disconnectType": "transfer"}]}]}),
    ];
    for (i, agent) in agents.iter().enumerate() {
        let start = 1 + i * 10;
        participants.push(
            json!({"participantId": format!("p-{agent}"), "purpose": "agent",
            "userId": agent, "sessions": [{
            "mediaType": "voice", "sessionId": format!("s-{agent}"), "direction": "inbound",
            "segments": [
                {"segmentStart": format!("2026-05-04T09:{start:02}:00.000Z"),
                 "segmentEnd": format!("2026-05-04T09:{start:02}:05.000Z"),
                 "segmentType": "alert", "queueId": "q-1"},
                {"segmentStart": format!("2026-05-04T09:{start:02}:05.000Z"),
                 "segmentEnd": format!("2026-05-04T09:{:02}:00.000Z", start + 9),
                 "segmentType": "interact", "queueId": "q-1",
                 "disconnectType": if i + 1 == agents.len() { "client" } else { "transfer" }}]}]}),
        );
    }
    json!({"conversationId": id, "conversationStart": "2026-05-04T09:00:00.000Z",
           "conversationEnd": "2026-05-04T09:30:00.000Z", "originatingDirection": "inbound",
           "participants": participants})
}

fn export(conversations: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "conversations": conversations })).expect("json")
}

fn check_routing_and_rejections(backend: Backend) {
    let Some(env) = setup(backend) else { return };
    // An unknown format is a 404 naming the formats there are.
    let resp = import(&env, "zendesk", b"{}");
    let err = resp.odata_error(404);
    assert!(
        err["message"].as_str().unwrap_or("").contains("genesys"),
        "{err}"
    );
    // A read key may not import.
    let auth = format!("Bearer {}", env.read_key);
    let resp = env.app.post(
        "/ingest/import/genesys",
        &[("Authorization", auth.as_str())],
        &export(&[voice("c-1", &["u-1"])]),
    );
    assert_eq!(resp.status, 403, "{}", resp.text());
    // Broken JSON and a document of the wrong shape are 400s that write nothing.
    let err = import(&env, "genesys", b"{\"conversations\": [").odata_error(400);
    assert!(
        err["message"]
            .as_str()
            .unwrap_or("")
            .contains("not valid JSON"),
        "{err}"
    );
    import(&env, "genesys", br#"{"data": []}"#).odata_error(400);
    // The offset must be a number of minutes.
    env.app
        .post(
            "/ingest/import/koreai?timeZoneOffset=east",
            &[(
                "Authorization",
                format!("Bearer {}", env.ingest_key).as_str(),
            )],
            br#"{"data": []}"#,
        )
        .odata_error(400);
    // One unmappable conversation rejects the whole document, naming it.
    let mut broken = voice("c-bad", &["u-1"]);
    broken["conversationStart"] = json!("yesterday");
    let resp = import(&env, "genesys", &export(&[voice("c-ok", &["u-1"]), broken]));
    let err = resp.odata_error(400);
    assert!(
        err["message"].as_str().unwrap_or("").contains("c-bad"),
        "{err}"
    );
    assert!(env.all_rows("Conversations").is_empty());
    assert!(env.all_rows("Workitems").is_empty());
}

fn check_snapshots(backend: Backend) {
    let Some(env) = setup(backend) else { return };
    let first = export(&[voice("c-1", &["u-1", "u-2"]), voice("c-2", &["u-3"])]);
    let resp = import(&env, "genesys", &first);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let report = resp.json();
    assert_eq!(report["conversations"], 2, "{report}");
    assert_eq!(report["sets"]["Calls"]["inserted"], 2, "{report}");
    assert_eq!(report["sets"]["Conversations"]["inserted"], 2, "{report}");
    let sets = [
        "Conversations",
        "Calls",
        "QueueSegments",
        "Workitems",
        "AgentSegments",
    ];
    let before: Vec<Vec<Value>> = sets.iter().map(|s| env.all_rows(s)).collect();
    let agents = |rows: &[Value], conversation: &str| -> Vec<String> {
        let mut a: Vec<String> = rows
            .iter()
            .filter(|w| w["primaryConversationId"] == conversation)
            .map(|w| w["agentId"].as_str().unwrap_or("").to_string())
            .collect();
        a.sort();
        a
    };
    assert_eq!(agents(&before[3], "c-1"), ["u-1", "u-2"]);

    // The same file again changes nothing.
    let resp = import(&env, "genesys", &first);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["sets"]["Calls"]["inserted"], 0);
    let again: Vec<Vec<Value>> = sets.iter().map(|s| env.all_rows(s)).collect();
    assert_eq!(before, again);

    // A later export of c-1 in which only u-2 handled it replaces c-1's rows and leaves
    // c-2 alone; a conversation twice in one file counts once (the later copy wins).
    let later = export(&[voice("c-1", &["u-9"]), voice("c-1", &["u-2"])]);
    let resp = import(&env, "genesys", &later);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let report = resp.json();
    assert_eq!(report["conversations"], 1, "{report}");
    assert!(
        report["sets"]["Workitems"]["removed"].as_u64().unwrap_or(0) >= 1,
        "{report}"
    );
    let workitems = env.all_rows("Workitems");
    assert_eq!(agents(&workitems, "c-1"), ["u-2"]);
    assert_eq!(agents(&workitems, "c-2"), ["u-3"]);
    let segments = env.all_rows("AgentSegments");
    let c1: Vec<&Value> = segments
        .iter()
        .filter(|s| s["conversationId"] == "c-1")
        .collect();
    assert_eq!(c1.len(), 1, "{segments:?}");
    assert_eq!(c1[0]["agentId"], "u-2");

    // A newer export that files c-2 as a chat moves it: no Calls row is left behind.
    let mut chat = voice("c-2", &["u-3"]);
    for p in chat["participants"].as_array_mut().expect("participants") {
        for s in p["sessions"].as_array_mut().expect("sessions") {
            s["mediaType"] = json!("chat");
        }
    }
    let resp = import(&env, "genesys", &export(&[chat]));
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.json()["sets"]["Calls"]["removed"],
        1,
        "{}",
        resp.text()
    );
    let ids =
        |set: &str| -> Vec<Value> { env.all_rows(set).iter().map(|r| r["id"].clone()).collect() };
    assert_eq!(ids("Calls"), [json!("c-1")]);
    assert_eq!(ids("Chats"), [json!("c-2")]);
    let conversations = env.all_rows("Conversations");
    assert_eq!(conversations.len(), 2);
    assert_ne!(
        conversations[1]["channelType"],
        conversations[0]["channelType"]
    );
}

#[test]
fn routing_and_rejections_sqlite() {
    check_routing_and_rejections(Backend::Sqlite);
}

#[test]
fn routing_and_rejections_postgres() {
    check_routing_and_rejections(Backend::Postgres);
}

#[test]
fn imports_are_snapshots_sqlite() {
    check_snapshots(Backend::Sqlite);
}

#[test]
fn imports_are_snapshots_postgres() {
    check_snapshots(Backend::Postgres);
}

/// Every leaf and container of `doc`, replaced one at a time by each of `odd`.
fn mutations(doc: &Value, odd: &[Value]) -> Vec<Value> {
    fn paths(v: &Value, here: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(here.clone());
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    here.push(k.clone());
                    paths(child, here, out);
                    here.pop();
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    here.push(i.to_string());
                    paths(child, here, out);
                    here.pop();
                }
            }
            _ => {}
        }
    }
    let mut all = Vec::new();
    paths(doc, &mut Vec::new(), &mut all);
    let mut out = Vec::new();
    for path in all.iter().filter(|p| !p.is_empty()) {
        for value in odd {
            let mut copy = doc.clone();
            let pointer = format!("/{}", path.join("/"));
            if let Some(slot) = copy.pointer_mut(&pointer) {
                *slot = value.clone();
                out.push(copy);
            }
        }
    }
    out
}

/// Mapping never panics, whatever a field holds: every mutation either maps or is
/// refused with errors that name the conversation's field.
#[test]
fn mapping_survives_odd_values_in_every_field() {
    use ccfeed::ingest::import::{Format, ImportOptions, map_conversation};
    let odd = [
        Value::Null,
        json!(-1),
        json!(1e308),
        json!(""),
        json!("9999-99-99T99:99:99.999Z"),
        json!("2026-05-04T09:00:00"),
        json!(true),
        json!([]),
        json!({}),
        json!("x".repeat(3000)),
    ];
    let koreai = json!({
        "conversationId": "c-k", "sessionId": "s-k", "channel": "Voice", "Direction": "Inbound",
        "sessionStartTime": "2025-09-30T12:37:00", "sessionEndTime": "2025-09-30T12:38:06",
        "disconnectingEvent": "Agent Hangup", "dispositions": ["Paid"], "dispositionRemarks": ["ok"],
        "metaInfo": {"caller": "+1", "callee": "+2"},
        "destinations": [{"destinationType": "QueueEntry", "queueId": "q", "EnterTime": "2025-09-30T12:37:11",
            "nonRespondingAgents": [{"agentId": "a0", "assignedAt": "2025-09-30T12:37:12",
                                     "nonResponseEvent": "Supervisor Reassigned"}],
            "respondingAgent": {"agentId": "a1", "destinationType": "AgentSegment", "status": "Answered",
                "assignedAt": "2025-09-30T12:37:16", "acceptedTime": "2025-09-30T12:37:20",
                "firstResponseTime": "2025-09-30T12:37:20", "interactionEndTime": "2025-09-30T12:38:09",
                "interactionDuration": 49, "afterCallWorkDuration": 4,
                "afterCallWorkEndTime": "2025-09-30T12:38:13",
                "ConsultingAgents": [{"name": "+9", "assignedAt": "2025-09-30T12:37:44"}]}}],
        "sessionleveltags": [{"name": "t", "value": "1"}]
    });
    let options = ImportOptions {
        time_zone_offset_minutes: Some(330),
    };
    let mut tried = 0;
    for (format, doc) in [
        (Format::Genesys, voice("c-g", &["u-1", "u-2"])),
        (Format::Koreai, koreai),
    ] {
        assert!(
            map_conversation(format, &doc, &options).is_ok(),
            "{format:?} fixture maps"
        );
        for mutated in mutations(&doc, &odd) {
            tried += 1;
            if let Err(errors) = map_conversation(format, &mutated, &options) {
                assert!(
                    errors
                        .iter()
                        .all(|e| !e.field.is_empty() || !e.message.is_empty()),
                    "{errors:?}"
                );
            }
        }
    }
    assert!(tried > 1000, "{tried}");
}
