//! Kore.ai contact-center "call details" (v2) export: one record per session, with the
//! queues and agents it went through in `destinations`, mapped to the feed's
//! conversation, queue, agent and bot tables. docs/import-koreai.md is the reference for
//! every source field; this comment keeps only the reasons behind the less obvious rules.
//!
//! - Times in the export are the account's local time without an offset, so the user
//!   must tell us the offset (`ImportOptions::time_zone_offset_minutes`, minutes east of
//!   UTC). A timestamp that carries its own offset or `Z` is taken as it is. Guessing
//!   would silently shift every row by hours, so a missing offset is an error.
//! - The export has no ids for queue visits, agent assignments or bot sessions, so ids
//!   are built from the conversation id, the queue or agent id and the source's own time
//!   text (not the converted instant: re-importing with another offset then updates the
//!   rows instead of adding new ones).
//! - There is no message-level data, so no Messages rows: the first-response columns of
//!   AgentSegments come from the export, and the segments refresh keeps them.
//! - Paths in errors are relative to the record (`destinations[0].respondingAgent.assignedAt`);
//!   the record itself is named by its conversation id.

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Map, Value};

use super::{ImportOptions, MapError, MappedConversation, Record};

/// Entity sets the Kore.ai importer writes.
pub const SETS: &[&str] = &[
    "Calls",
    "Chats",
    "Emails",
    "QueueSegments",
    "BotSegments",
    "Workitems",
    "WorkitemConversationSessions",
    "AgentSegments",
    "CapturedData",
];

/// UTC offsets beyond ±18 hours do not exist.
const MAX_OFFSET_MINUTES: i32 = 18 * 60;

/// The records of a call-details response: `{"data": [...]}` (a bare array of records
/// is taken too, for exports that were already unwrapped).
pub fn conversations(doc: &Value) -> Result<&[Value], MapError> {
    let problem = |message: String| MapError {
        conversation_id: None,
        field: "data".into(),
        message,
    };
    match doc {
        Value::Array(records) => Ok(records),
        Value::Object(o) => match o.get("data") {
            Some(Value::Array(records)) => Ok(records),
            Some(other) => Err(problem(format!(
                "expected the array of call-detail records, found {}",
                kind(other)
            ))),
            None => Err(problem(
                "missing: a Kore.ai call-details response is an object with a 'data' array".into(),
            )),
        },
        other => Err(problem(format!(
            "expected a Kore.ai call-details response (an object with a 'data' array), found {}",
            kind(other)
        ))),
    }
}

/// One call-details record as rows of the feed's entity sets.
pub fn map_conversation(
    conversation: &Value,
    options: &ImportOptions,
) -> Result<MappedConversation, Vec<MapError>> {
    let Value::Object(record) = conversation else {
        return Err(vec![MapError {
            conversation_id: None,
            field: String::new(),
            message: format!(
                "expected a call-details record (a JSON object), found {}",
                kind(conversation)
            ),
        }]);
    };
    let Some(conversation_id) = text(record, "conversationId")
        .or_else(|| text(record, "sessionId"))
        .map(str::to_string)
    else {
        return Err(vec![MapError {
            conversation_id: None,
            field: "conversationId".into(),
            message: "the record has neither a conversationId nor a sessionId".into(),
        }]);
    };
    let mut cx = Cx {
        conversation_id: conversation_id.clone(),
        offset: None,
        offset_reported: false,
        errors: Vec::new(),
    };
    if let Some(minutes) = options.time_zone_offset_minutes {
        match FixedOffset::east_opt(minutes.saturating_mul(60))
            .filter(|_| (-MAX_OFFSET_MINUTES..=MAX_OFFSET_MINUTES).contains(&minutes))
        {
            Some(offset) => cx.offset = Some(offset),
            None => {
                cx.fail(
                    "timeZoneOffset",
                    format!(
                        "{minutes} is not a UTC offset in minutes (between -{MAX_OFFSET_MINUTES} and {MAX_OFFSET_MINUTES})"
                    ),
                );
                return Err(cx.errors);
            }
        }
    }
    let source = Source::read(&mut cx, record);
    if !cx.errors.is_empty() {
        return Err(cx.errors);
    }
    let records = build(&source);
    let nul = super::nul_characters(&conversation_id, &records);
    if !nul.is_empty() {
        return Err(nul);
    }
    Ok(MappedConversation {
        conversation_id,
        records,
    })
}

// ---------------------------------------------------------------------------------
// Reading the source record

/// Collects the problems of one record; every reader reports through it so that one
/// import run lists all the problems of a record at once.
struct Cx {
    conversation_id: String,
    offset: Option<FixedOffset>,
    /// The missing-offset problem is the same for every timestamp: say it once.
    offset_reported: bool,
    errors: Vec<MapError>,
}

impl Cx {
    fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(MapError {
            conversation_id: Some(self.conversation_id.clone()),
            field: field.into(),
            message: message.into(),
        });
    }

    /// An optional timestamp: absent, null or "" is None; anything else must parse.
    fn time(&mut self, value: Option<&Value>, field: &str) -> Option<Stamp> {
        match value {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => match parse_time(s, self.offset) {
                Ok(at) => Some(Stamp {
                    at,
                    text: s.trim().to_string(),
                }),
                Err(TimeProblem::NoOffset) => {
                    if !self.offset_reported {
                        self.offset_reported = true;
                        self.fail(
                            field,
                            format!(
                                "'{s}' is a local time without a UTC offset; Kore.ai exports local times, so give their offset: --time-zone-offset MIN on the command line or ?timeZoneOffset=MIN over HTTP (minutes east of UTC, e.g. 330 for India, -300 for US Eastern standard time)"
                            ),
                        );
                    }
                    None
                }
                Err(TimeProblem::Malformed) => {
                    self.fail(
                        field,
                        format!(
                            "'{s}' is not a timestamp (expected e.g. 2025-09-30T12:37:00, optionally with an offset)"
                        ),
                    );
                    None
                }
            },
            Some(other) => {
                self.fail(
                    field,
                    format!("expected a timestamp string, found {}", kind(other)),
                );
                None
            }
        }
    }

    fn required_time(&mut self, value: Option<&Value>, field: &str) -> Option<Stamp> {
        let missing = match value {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.trim().is_empty(),
            Some(_) => false,
        };
        if missing {
            self.fail(field, "is required and missing");
            return None;
        }
        self.time(value, field)
    }

    /// A count of seconds: a non-negative number (fractions are rounded) or a numeric string.
    fn seconds(&mut self, value: Option<&Value>, field: &str) -> Option<i64> {
        let n = match value {
            None | Some(Value::Null) => return None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) if s.trim().is_empty() => return None,
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(_) => None,
        };
        match n.filter(|n| n.is_finite() && *n >= 0.0 && *n < i32::MAX as f64) {
            Some(n) => Some(n.round() as i64),
            None => {
                let shown = value.map(shown).unwrap_or_default();
                self.fail(
                    field,
                    format!("expected a number of seconds, found {shown}"),
                );
                None
            }
        }
    }

    /// An object or absent; anything else is reported.
    fn object<'v>(
        &mut self,
        value: Option<&'v Value>,
        field: &str,
    ) -> Option<&'v Map<String, Value>> {
        match value {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => Some(o),
            Some(other) => {
                self.fail(field, format!("expected an object, found {}", kind(other)));
                None
            }
        }
    }

    /// An array or absent (empty); anything else is reported.
    fn array<'v>(&mut self, value: Option<&'v Value>, field: &str) -> &'v [Value] {
        match value {
            None | Some(Value::Null) => &[],
            Some(Value::Array(a)) => a,
            Some(other) => {
                self.fail(field, format!("expected an array, found {}", kind(other)));
                &[]
            }
        }
    }

    /// `later - earlier` in milliseconds; a negative span is the source contradicting
    /// itself, reported on the later field.
    fn span(
        &mut self,
        earlier: &Stamp,
        earlier_field: &str,
        later: &Stamp,
        later_field: &str,
    ) -> Option<i64> {
        let ms = (later.at - earlier.at).num_milliseconds();
        if ms < 0 {
            self.fail(
                later_field,
                format!(
                    "'{}' is before {earlier_field} '{}'",
                    later.text, earlier.text
                ),
            );
            return None;
        }
        Some(ms)
    }
}

/// A source timestamp: the instant and the text it came from (ids use the text).
#[derive(Debug, Clone)]
struct Stamp {
    at: DateTime<Utc>,
    text: String,
}

enum TimeProblem {
    NoOffset,
    Malformed,
}

/// `2025-09-30T12:37:00` (also with a space, fractions, or without seconds) in the
/// given offset; a timestamp with its own offset or `Z` keeps it.
fn parse_time(text: &str, offset: Option<FixedOffset>) -> Result<DateTime<Utc>, TimeProblem> {
    let s = text.trim();
    let in_range = |t: DateTime<Utc>| {
        (1..=9999)
            .contains(&chrono::Datelike::year(&t))
            .then_some(t)
            .ok_or(TimeProblem::Malformed)
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return in_range(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return in_range(t.with_timezone(&Utc));
        }
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(local) = NaiveDateTime::parse_from_str(s, format) {
            let offset = offset.ok_or(TimeProblem::NoOffset)?;
            return match offset.from_local_datetime(&local).single() {
                Some(t) => in_range(t.with_timezone(&Utc)),
                None => Err(TimeProblem::Malformed),
            };
        }
    }
    Err(TimeProblem::Malformed)
}

/// How a Kore.ai channel lands in the feed: the media table, the channelType there and
/// the Workitems mediaType.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Medium {
    Voice,
    Chat {
        channel_type: &'static str,
        media_type: &'static str,
    },
    Email,
}

impl Medium {
    /// Kore.ai names channels freely ("Voice", "Web/Mobile Client", "System Mail",
    /// "telegram", custom names); the comparison ignores case and punctuation.
    fn of(channel: &str) -> Medium {
        let key: String = channel
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        let chat = |channel_type, media_type| Medium::Chat {
            channel_type,
            media_type,
        };
        if key.contains("voice")
            || matches!(
                key.as_str(),
                "ivr" | "korevg" | "audiocodes" | "phone" | "telephony" | "sip" | "pstn"
            )
        {
            Medium::Voice
        } else if key.contains("mail") {
            Medium::Email
        } else if key.contains("facebook") || key == "messenger" || key == "fbmessenger" {
            chat("Facebook", "messenger")
        } else if key.contains("viber") {
            chat("Viber", "viber")
        } else if key.contains("whatsapp") {
            // The feed's Chats know no WhatsApp channel type; Workitems do.
            chat("Webchat", "whatsapp")
        } else if key.contains("instagram") {
            chat("Webchat", "instagram")
        } else {
            chat("Webchat", "webchat")
        }
    }

    fn set(self) -> &'static str {
        match self {
            Medium::Voice => "Calls",
            Medium::Chat { .. } => "Chats",
            Medium::Email => "Emails",
        }
    }

    fn channel_type(self) -> &'static str {
        match self {
            Medium::Voice => "Voice",
            Medium::Chat { channel_type, .. } => channel_type,
            Medium::Email => "Email",
        }
    }

    fn media_type(self) -> &'static str {
        match self {
            Medium::Voice => "voice",
            Medium::Chat { media_type, .. } => media_type,
            Medium::Email => "email",
        }
    }
}

/// Who ended something, read from Kore.ai's free-text events ("Agent Hangup",
/// "Agent Closed", "System Hangup", "Customer Hangup", ...).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ender {
    Agent,
    Customer,
    Bot,
    System,
    Timeout,
    Unknown,
}

fn ender(event: Option<&str>) -> Ender {
    let Some(e) = event.map(str::to_ascii_lowercase) else {
        return Ender::Unknown;
    };
    if ["timeout", "timed out", "idle", "inactiv"]
        .iter()
        .any(|w| e.contains(w))
    {
        Ender::Timeout
    } else if e.contains("agent") || e.contains("supervisor") {
        Ender::Agent
    } else if ["customer", "user", "caller", "consumer", "abandon"]
        .iter()
        .any(|w| e.contains(w))
    {
        Ender::Customer
    } else if e.contains("bot") {
        Ender::Bot
    } else if e.contains("system") {
        Ender::System
    } else {
        Ender::Unknown
    }
}

/// One assignment of the conversation to an agent: a responding agent, a top-level
/// AgentSegment destination, or an offer the agent did not take (nonRespondingAgents).
#[derive(Debug, Clone)]
struct Assignment {
    agent_id: String,
    queue_id: Option<String>,
    assigned: Stamp,
    accepted: Option<Stamp>,
    first_response: Option<Stamp>,
    interaction_end: Option<Stamp>,
    interaction_seconds: Option<i64>,
    wrap_up_seconds: Option<i64>,
    wrap_up_end: Option<Stamp>,
    hold_seconds: Option<i64>,
    answered: bool,
    missed: bool,
    non_response_event: Option<String>,
    notes: Vec<String>,
}

/// One QueueEntry destination.
#[derive(Debug, Clone)]
struct QueueVisit {
    queue_id: String,
    entered: Option<Stamp>,
    /// assignedAt of the respondingAgent.
    answered_at: Option<Stamp>,
    callback: bool,
    callback_at: Option<Stamp>,
    /// When and how the next destination took the conversation over.
    next: Option<(Stamp, Option<&'static str>)>,
}

/// A value kept as a CapturedData row.
#[derive(Debug, Clone)]
struct Captured {
    /// Source path with indexes; it makes the row id.
    path: String,
    name: String,
    value: Option<String>,
    at: Option<DateTime<Utc>>,
}

/// The parts of a record the mapping uses, checked and converted.
struct Source {
    conversation_id: String,
    medium: Medium,
    channel_id: String,
    is_outbound: bool,
    started: Stamp,
    ended: Option<Stamp>,
    /// finalStatus or smartStatus says the conversation is still open.
    open: bool,
    final_status: Option<String>,
    smart_status: Option<String>,
    disconnecting_event: Option<String>,
    error_details: Option<String>,
    customer_id: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    customer_phone: Option<String>,
    channel_phone: Option<String>,
    automation_bot: Option<String>,
    last_intent: Option<String>,
    queues: Vec<QueueVisit>,
    /// In the order of the export; sorted by assignment time later.
    assignments: Vec<Assignment>,
    dispositions: Vec<String>,
    disposition_remarks: Vec<String>,
    captured: Vec<Captured>,
}

impl Source {
    fn read(cx: &mut Cx, r: &Map<String, Value>) -> Source {
        let conversation_id = cx.conversation_id.clone();
        let channel = text(r, "channel");
        if channel.is_none() {
            cx.fail("channel", "is required and missing");
        }
        let channel = channel.unwrap_or_default();
        let is_outbound = match text_any(r, &["Direction", "direction"]) {
            None => false,
            Some(d) if d.eq_ignore_ascii_case("inbound") => false,
            Some(d) if d.eq_ignore_ascii_case("outbound") => true,
            Some(d) => {
                cx.fail(
                    "Direction",
                    format!("'{d}' is neither Inbound nor Outbound"),
                );
                false
            }
        };
        let started = cx.required_time(r.get("sessionStartTime"), "sessionStartTime");
        let ended = cx.time(r.get("sessionEndTime"), "sessionEndTime");
        if let (Some(s), Some(e)) = (&started, &ended) {
            cx.span(s, "sessionStartTime", e, "sessionEndTime");
        }
        let final_status = text(r, "finalStatus").map(str::to_string);
        let smart_status = text(r, "smartStatus").map(str::to_string);
        let open = [&final_status, &smart_status].iter().any(|s| {
            s.as_deref()
                .is_some_and(|s| s.to_ascii_uppercase().contains("OPEN"))
        });
        let meta = cx.object(r.get("metaInfo"), "metaInfo");
        let customer = cx.object(
            r.get("customerinfo").or_else(|| r.get("customerInfo")),
            "customerinfo",
        );
        let transfer_config = match meta {
            Some(m) => cx.object(m.get("agentTransferConfig"), "metaInfo.agentTransferConfig"),
            None => None,
        };
        let meta_text = |key: &str| meta.and_then(|m| text(m, key)).map(str::to_string);
        let customer_text = |key: &str| customer.and_then(|c| text(c, key)).map(str::to_string);
        // For outbound calls caller is the contact center and callee (endUserNumber) the
        // customer; customerinfo copies caller/callee blindly, so it is only a fallback
        // for inbound calls.
        let (customer_phone, channel_phone) = if is_outbound {
            (
                meta_text("endUserNumber").or_else(|| meta_text("callee")),
                meta_text("caller").or_else(|| meta_text("dialedNumber")),
            )
        } else {
            (
                meta_text("caller").or_else(|| customer_text("CustomerPhone")),
                meta_text("callee")
                    .or_else(|| meta_text("dialedNumber"))
                    .or_else(|| customer_text("CenterPhone")),
            )
        };
        let automation_bots = cx.array(r.get("automationBotIDs"), "automationBotIDs");
        let automation_bot = automation_bots
            .first()
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| {
                transfer_config
                    .and_then(|t| text(t, "automationBotId"))
                    .map(str::to_string)
            });
        let mut source = Source {
            conversation_id,
            medium: Medium::of(channel),
            channel_id: format!("koreai:{channel}"),
            is_outbound,
            // A missing start is already an error, and errors stop the mapping before
            // any row is built; the placeholder only lets the rest be checked too.
            started: started.unwrap_or_else(|| Stamp {
                at: DateTime::<Utc>::MIN_UTC,
                text: String::new(),
            }),
            ended,
            open,
            final_status,
            smart_status,
            disconnecting_event: text(r, "disconnectingEvent").map(str::to_string),
            error_details: text(r, "errorDetails").map(str::to_string),
            customer_id: text(r, "userId").map(str::to_string),
            first_name: customer_text("CustomerFirstName").or_else(|| meta_text("firstName")),
            last_name: customer_text("CustomerLastName").or_else(|| meta_text("lastName")),
            email: customer_text("CustomerEmail").or_else(|| meta_text("emailId")),
            customer_phone,
            channel_phone,
            automation_bot,
            last_intent: transfer_config
                .and_then(|t| text(t, "lastIntentName"))
                .map(str::to_string),
            queues: Vec::new(),
            assignments: Vec::new(),
            dispositions: strings(cx, r.get("dispositions"), "dispositions"),
            disposition_remarks: strings(cx, r.get("dispositionRemarks"), "dispositionRemarks"),
            captured: Vec::new(),
        };
        source.read_destinations(cx, r);
        source.read_captured(cx, r, transfer_config, automation_bots);
        let helpers = read_helpers(cx, r);
        source.captured.extend(helpers);
        source
    }

    fn read_destinations(&mut self, cx: &mut Cx, r: &Map<String, Value>) {
        let destinations = cx.array(r.get("destinations"), "destinations");
        // When each destination took the conversation, for the queue visit before it.
        let mut starts: Vec<Option<(Stamp, Option<&'static str>)>> = Vec::new();
        // A queue visit nobody answered hands its queue to a following AgentSegment
        // (e.g. a supervisor assigned the waiting conversation to an agent).
        let mut unanswered_queue: Option<String> = None;
        for (i, value) in destinations.iter().enumerate() {
            let path = format!("destinations[{i}]");
            let Some(d) = cx.object(Some(value), &path) else {
                starts.push(None);
                continue;
            };
            match text(d, "destinationType") {
                Some("QueueEntry") => {
                    let queue_id = text(d, "queueId").map(str::to_string);
                    if queue_id.is_none() {
                        cx.fail(format!("{path}.queueId"), "is required and missing");
                    }
                    let queue_id = queue_id.unwrap_or_default();
                    let entered = cx.time(d.get("EnterTime"), &format!("{path}.EnterTime"));
                    let mut first_assignment: Option<Stamp> = None;
                    for (j, n) in cx
                        .array(
                            d.get("nonRespondingAgents"),
                            &format!("{path}.nonRespondingAgents"),
                        )
                        .iter()
                        .enumerate()
                    {
                        let p = format!("{path}.nonRespondingAgents[{j}]");
                        if let Some(a) = read_assignment(cx, n, p, Some(queue_id.clone()), true) {
                            if first_assignment
                                .as_ref()
                                .is_none_or(|f| a.assigned.at < f.at)
                            {
                                first_assignment = Some(a.assigned.clone());
                            }
                            self.assignments.push(a);
                        }
                    }
                    let mut answered_at = None;
                    let responding_path = format!("{path}.respondingAgent");
                    if let Some(responder) = d.get("respondingAgent").filter(|v| !v.is_null())
                        && let Some(a) = read_assignment(
                            cx,
                            responder,
                            responding_path,
                            Some(queue_id.clone()),
                            false,
                        )
                    {
                        answered_at = Some(a.assigned.clone());
                        if first_assignment
                            .as_ref()
                            .is_none_or(|f| a.assigned.at < f.at)
                        {
                            first_assignment = Some(a.assigned.clone());
                        }
                        self.assignments.push(a);
                    }
                    let callback = d.get("CallbackOpted").is_some_and(|v| {
                        v.as_bool() == Some(true)
                            || v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
                    });
                    let callback_at = cx.time(
                        d.get("CallbackOptedTime"),
                        &format!("{path}.CallbackOptedTime"),
                    );
                    if let (Some(e), Some(a)) = (&entered, &answered_at) {
                        cx.span(
                            e,
                            "EnterTime",
                            a,
                            &format!("{path}.respondingAgent.assignedAt"),
                        );
                    }
                    unanswered_queue = answered_at.is_none().then(|| queue_id.clone());
                    starts.push(entered.clone().or(first_assignment).map(|s| (s, None)));
                    self.queues.push(QueueVisit {
                        queue_id,
                        entered,
                        answered_at,
                        callback,
                        callback_at,
                        next: None,
                    });
                }
                Some("AgentSegment") => {
                    let queue = unanswered_queue.take();
                    match read_assignment(cx, value, path, queue, false) {
                        Some(a) => {
                            starts.push(Some((a.assigned.clone(), Some("AgentConnected"))));
                            self.assignments.push(a);
                        }
                        None => starts.push(None),
                    }
                }
                // Other destination types are not documented; they are left out.
                _ => {
                    unanswered_queue = None;
                    starts.push(None);
                }
            }
        }
        // Tie each queue visit to the destination that followed it.
        let mut visit = 0;
        for (i, d) in destinations.iter().enumerate() {
            if d.get("destinationType").and_then(Value::as_str) == Some("QueueEntry")
                && d.is_object()
            {
                if let Some(q) = self.queues.get_mut(visit) {
                    q.next = starts.get(i + 1).cloned().flatten();
                }
                visit += 1;
            }
        }
    }

    fn read_captured(
        &mut self,
        cx: &mut Cx,
        r: &Map<String, Value>,
        transfer_config: Option<&Map<String, Value>>,
        automation_bots: &[Value],
    ) {
        let mut keep = |path: String, name: String, value: Option<String>| {
            self.captured.push(Captured {
                path,
                name,
                value,
                at: None,
            });
        };
        for key in [
            "finalStatus",
            "smartStatus",
            "disconnectingEvent",
            "errorDetails",
        ] {
            if let Some(v) = text(r, key) {
                keep(key.into(), key.into(), Some(v.into()));
            }
        }
        if let Some(v) = text_any(r, &["reason", "Reason"]) {
            keep("reason".into(), "reason".into(), Some(v.into()));
        }
        if text(r, "isVoicemail").is_some_and(|v| v.eq_ignore_ascii_case("yes")) {
            keep(
                "isVoicemail".into(),
                "isVoicemail".into(),
                Some("YES".into()),
            );
        }
        for key in ["csatScore", "csatFeedback"] {
            if let Some(v) = r.get(key).and_then(scalar_text) {
                keep(key.into(), key.into(), Some(v));
            }
        }
        if let Some(t) = transfer_config {
            for key in ["lastIntentName", "lastIntentuserInput"] {
                if let Some(v) = text(t, key) {
                    let path = format!("metaInfo.agentTransferConfig.{key}");
                    keep(path.clone(), path, Some(v.into()));
                }
            }
        }
        for (i, bot) in automation_bots.iter().enumerate().skip(1) {
            if let Some(v) = scalar_text(bot) {
                keep(
                    format!("automationBotIDs[{i}]"),
                    "automationBotIDs".into(),
                    Some(v),
                );
            }
        }
        for (i, skill) in cx.array(r.get("skills"), "skills").iter().enumerate() {
            let value = match skill {
                Value::Object(o) => text(o, "name")
                    .or_else(|| text(o, "id"))
                    .map(str::to_string),
                other => scalar_text(other),
            };
            if value.is_some() {
                keep(format!("skills[{i}]"), "skills".into(), value);
            }
        }
        for level in ["sessionleveltags", "userleveltags"] {
            for (i, tag) in cx.array(r.get(level), level).iter().enumerate() {
                let path = format!("{level}[{i}]");
                let Some(tag) = cx.object(Some(tag), &path) else {
                    continue;
                };
                // A tag without a name cannot be told apart from others: left out.
                if let Some(name) = text(tag, "name") {
                    keep(
                        path,
                        format!("{level}.{name}"),
                        tag.get("value").and_then(scalar_text),
                    );
                }
            }
        }
    }
}

/// Reads one agent object: a respondingAgent, nonRespondingAgents[j] (`offered_only`)
/// or a top-level AgentSegment destination.
fn read_assignment(
    cx: &mut Cx,
    value: &Value,
    path: String,
    queue_id: Option<String>,
    offered_only: bool,
) -> Option<Assignment> {
    let a = cx.object(Some(value), &path)?;
    let field = |key: &str| format!("{path}.{key}");
    let agent_id = text(a, "agentId").map(str::to_string);
    if agent_id.is_none() {
        cx.fail(field("agentId"), "is required and missing");
    }
    let assigned = cx.required_time(a.get("assignedAt"), &field("assignedAt"));
    let accepted = cx.time(a.get("acceptedTime"), &field("acceptedTime"));
    let mut first_response = cx.time(a.get("firstResponseTime"), &field("firstResponseTime"));
    let first_response_seconds = cx.seconds(
        a.get("firstResponseDuration"),
        &field("firstResponseDuration"),
    );
    let interaction_end = cx.time(a.get("interactionEndTime"), &field("interactionEndTime"));
    let interaction_seconds =
        cx.seconds(a.get("interactionDuration"), &field("interactionDuration"));
    let wrap_up_seconds = cx.seconds(
        a.get("afterCallWorkDuration"),
        &field("afterCallWorkDuration"),
    );
    let wrap_up_end = cx.time(
        a.get("afterCallWorkEndTime"),
        &field("afterCallWorkEndTime"),
    );
    let hold_seconds = cx.seconds(a.get("holdDuration"), &field("holdDuration"));
    // firstResponseDuration counts from acceptance: without the time itself, the
    // acceptance plus the duration gives it.
    if first_response.is_none()
        && let (Some(acc), Some(secs)) = (&accepted, first_response_seconds)
    {
        first_response = Some(Stamp {
            at: acc.at + chrono::TimeDelta::seconds(secs),
            text: String::new(),
        });
    }
    let non_response_event = text(a, "nonResponseEvent").map(str::to_string);
    let missed = offered_only || non_response_event.is_some();
    // Answered when the status says so; an object without a status counts as answered
    // once the agent accepted.
    let answered = !missed
        && match text(a, "status") {
            Some(status) => status.eq_ignore_ascii_case("answered"),
            None => accepted.is_some(),
        };
    let notes = strings(cx, a.get("agentNotes"), &field("agentNotes"));
    if let Some(assigned) = &assigned {
        for (later, key) in [
            (&accepted, "acceptedTime"),
            (&first_response, "firstResponseTime"),
            (&interaction_end, "interactionEndTime"),
            (&wrap_up_end, "afterCallWorkEndTime"),
        ] {
            if let Some(later) = later {
                cx.span(assigned, "assignedAt", later, &field(key));
            }
        }
    }
    Some(Assignment {
        agent_id: agent_id?,
        queue_id,
        assigned: assigned?,
        accepted,
        first_response,
        interaction_end,
        interaction_seconds,
        wrap_up_seconds,
        wrap_up_end,
        hold_seconds,
        answered,
        missed,
        non_response_event,
        notes,
    })
}

/// Consulting agents and joined users of every agent object, as CapturedData.
fn read_helpers(cx: &mut Cx, record: &Map<String, Value>) -> Vec<Captured> {
    let mut out = Vec::new();
    let destinations = match record.get("destinations") {
        Some(Value::Array(d)) => d,
        _ => return out,
    };
    for (i, d) in destinations.iter().enumerate() {
        let mut agents: Vec<(String, &Value)> = Vec::new();
        match d.get("destinationType").and_then(Value::as_str) {
            Some("QueueEntry") => {
                if let Some(r) = d.get("respondingAgent").filter(|v| v.is_object()) {
                    agents.push((format!("destinations[{i}].respondingAgent"), r));
                }
            }
            Some("AgentSegment") => agents.push((format!("destinations[{i}]"), d)),
            _ => {}
        }
        for (path, agent) in agents {
            for key in ["ConsultingAgents", "JoinedUsers"] {
                let list_path = format!("{path}.{key}");
                for (j, helper) in cx.array(agent.get(key), &list_path).iter().enumerate() {
                    let p = format!("{list_path}[{j}]");
                    let Value::Object(h) = helper else {
                        cx.fail(p, format!("expected an object, found {}", kind(helper)));
                        continue;
                    };
                    let who = text(h, "agentId")
                        .or_else(|| text(h, "userId"))
                        .or_else(|| text(h, "name"))
                        .or_else(|| text(h, "email"))
                        .map(str::to_string);
                    let at = cx
                        .time(h.get("assignedAt"), &format!("{p}.assignedAt"))
                        .or_else(|| cx.time(h.get("acceptedTime"), &format!("{p}.acceptedTime")))
                        .map(|s| s.at);
                    if who.is_some() {
                        out.push(Captured {
                            path: p,
                            name: key.to_string(),
                            value: who,
                            at,
                        });
                    }
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------
// Building the rows

fn build(s: &Source) -> Vec<Record> {
    let mut out = Vec::new();
    let id = &s.conversation_id;
    let conversation_end = s.ended.as_ref().filter(|_| !s.open);

    // Assignments in time order (the export's order breaks ties).
    let mut order: Vec<usize> = (0..s.assignments.len()).collect();
    order.sort_by_key(|&i| (s.assignments[i].assigned.at, i));
    let mut used_ids = HashSet::new();
    let assignment_ids: Vec<String> = order
        .iter()
        .map(|&i| {
            let a = &s.assignments[i];
            unique(
                &mut used_ids,
                format!("{id}:{}:{}", a.agent_id, a.assigned.text),
            )
        })
        .collect();
    // The dispositions belong to the last agent who handled the conversation.
    let closer = order.iter().rposition(|&i| s.assignments[i].answered);
    let answered_any = closer.is_some();

    // The media row (Conversations is derived from it).
    let mut media = Map::new();
    put(&mut media, "id", Some(id.clone()));
    put(&mut media, "channelId", Some(s.channel_id.clone()));
    put(&mut media, "channelType", Some(s.medium.channel_type()));
    put(
        &mut media,
        "conversationEndedReason",
        conversation_ended_reason(s, answered_any),
    );
    put(&mut media, "customerFirstName", s.first_name.clone());
    put(&mut media, "customerLastName", s.last_name.clone());
    put(&mut media, "customerId", s.customer_id.clone());
    put_time(&mut media, "startedAtUtc", Some(&s.started));
    put_time(&mut media, "endedAtUtc", conversation_end);
    put(
        &mut media,
        "durationInSeconds",
        conversation_end.map(|e| whole_seconds((e.at - s.started.at).num_milliseconds())),
    );
    match s.medium {
        Medium::Voice => {
            let holds: Vec<i64> = s
                .assignments
                .iter()
                .filter_map(|a| a.hold_seconds)
                .collect();
            put(&mut media, "customerPhoneNumber", s.customer_phone.clone());
            put(&mut media, "channelPhoneNumber", s.channel_phone.clone());
            if !s.is_outbound {
                put_time(&mut media, "customerJoinedAtUtc", Some(&s.started));
            }
            // Only the total per agent is known: each agent with hold time held at least once.
            put(
                &mut media,
                "holdCount",
                Some(holds.iter().filter(|&&h| h > 0).count() as i64),
            );
            put(
                &mut media,
                "holdDurationInSeconds",
                Some(holds.iter().sum::<i64>()),
            );
            put(&mut media, "isConsult", Some(false));
            put(&mut media, "isOutbound", Some(s.is_outbound));
        }
        Medium::Email => {
            put(&mut media, "customerEmailAddress", s.email.clone());
            put(&mut media, "isOutbound", Some(s.is_outbound));
            // No thread information in the export: every conversation is its own thread.
            put(&mut media, "threadId", Some(id.clone()));
        }
        Medium::Chat { .. } => {}
    }
    out.push(Record {
        set: s.medium.set(),
        fields: media,
    });

    // Queue visits.
    let mut queue_ids = HashSet::new();
    for q in &s.queues {
        // Without EnterTime there is no wait to measure (the vendor's own examples
        // of outbound calls routed through a queue have none): no row.
        let Some(entered) = &q.entered else {
            continue;
        };
        let (left, reason) = dequeue(s, q, conversation_end);
        // A departure taken from another destination can precede the entry in odd data;
        // the wait is then zero rather than negative.
        let left = left.map(|l| {
            if l.at < entered.at {
                entered.clone()
            } else {
                l
            }
        });
        let mut row = Map::new();
        put(
            &mut row,
            "id",
            Some(unique(
                &mut queue_ids,
                format!("{id}:{}:{}", q.queue_id, entered.text),
            )),
        );
        put(&mut row, "conversationId", Some(id.clone()));
        put(&mut row, "queueId", Some(q.queue_id.clone()));
        put(&mut row, "channelId", Some(s.channel_id.clone()));
        put_time(&mut row, "queuedAtUtc", Some(entered));
        put_time(&mut row, "dequeuedAtUtc", left.as_ref());
        put(
            &mut row,
            "durationInSeconds",
            left.as_ref()
                .map(|l| whole_seconds((l.at - entered.at).num_milliseconds())),
        );
        put(&mut row, "dequeuedReason", left.as_ref().and(reason));
        out.push(Record {
            set: "QueueSegments",
            fields: row,
        });
    }

    // The automation bot in front of the agents, or the whole of a bot-only session.
    if let Some(bot) = &s.automation_bot {
        let handover = s
            .queues
            .iter()
            .filter_map(|q| q.entered.as_ref())
            .chain(s.assignments.iter().map(|a| &a.assigned))
            .min_by_key(|t| t.at)
            .map(|t| {
                if t.at < s.started.at {
                    s.started.clone()
                } else {
                    t.clone()
                }
            });
        let (end, result) = match handover {
            // The bot passed the conversation on to a queue or an agent.
            Some(h) => (Some(h), Some("Success")),
            None => (
                conversation_end.cloned(),
                bot_result(s).filter(|_| conversation_end.is_some()),
            ),
        };
        let mut row = Map::new();
        put(&mut row, "id", Some(format!("{id}:bot:{bot}")));
        put(&mut row, "conversationId", Some(id.clone()));
        put(&mut row, "botStepId", Some(bot.clone()));
        put(&mut row, "channelId", Some(s.channel_id.clone()));
        put(&mut row, "botFinishedResult", s.last_intent.clone());
        put_time(&mut row, "startedAtUtc", Some(&s.started));
        put_time(&mut row, "endedAtUtc", end.as_ref());
        put(
            &mut row,
            "durationInSeconds",
            end.as_ref()
                .map(|e| whole_seconds((e.at - s.started.at).num_milliseconds())),
        );
        put(&mut row, "result", result);
        out.push(Record {
            set: "BotSegments",
            fields: row,
        });
    }

    // Agent assignments: one Workitem, one WorkitemConversationSession and one
    // AgentSegment each, sharing the id.
    for (rank, &i) in order.iter().enumerate() {
        let a = &s.assignments[i];
        let item_id = &assignment_ids[rank];
        let next = order.get(rank + 1).map(|&n| &s.assignments[n]);
        let is_last = rank + 1 == order.len();
        let holds_dispositions = closer == Some(rank);
        // Where the assignment ended: an answered one when the interaction did; an offer
        // when the next assignment began or, failing that, when the conversation ended.
        let segment_end: Option<Stamp> = if a.missed {
            next.map(|n| n.assigned.clone())
                .or_else(|| conversation_end.cloned())
                .filter(|e| e.at >= a.assigned.at)
        } else {
            a.interaction_end.clone()
        };
        let work_end = if a.missed {
            segment_end.clone()
        } else {
            a.wrap_up_end.clone().or_else(|| a.interaction_end.clone())
        };
        let segment_ms = segment_end
            .as_ref()
            .map(|e| (e.at - a.assigned.at).num_milliseconds());
        let work_seconds = work_end
            .as_ref()
            .map(|e| whole_seconds((e.at - a.assigned.at).num_milliseconds()));
        let transferred = !is_last && segment_end.is_some();

        let mut notes: Vec<&str> = Vec::new();
        if holds_dispositions {
            notes.extend(s.disposition_remarks.iter().map(String::as_str));
        }
        notes.extend(a.notes.iter().map(String::as_str));

        let mut item = Map::new();
        put(&mut item, "id", Some(item_id.clone()));
        put(&mut item, "agentId", Some(a.agent_id.clone()));
        put(&mut item, "queueId", a.queue_id.clone());
        put(&mut item, "primaryChannelId", Some(s.channel_id.clone()));
        put(&mut item, "primaryConversationId", Some(id.clone()));
        put(&mut item, "mediaType", Some(s.medium.media_type()));
        put_time(&mut item, "startTimeUtc", Some(&a.assigned));
        put_time(&mut item, "endTimeUtc", work_end.as_ref());
        put(&mut item, "durationInSeconds", work_seconds);
        if a.missed {
            put(&mut item, "previewDuration", work_seconds);
            put(
                &mut item,
                "activeDurationInSeconds",
                work_seconds.map(|_| 0),
            );
            put(&mut item, "wrapUpDuration", work_seconds.map(|_| 0));
        } else {
            put(
                &mut item,
                "previewDuration",
                a.accepted
                    .as_ref()
                    .map(|acc| whole_seconds((acc.at - a.assigned.at).num_milliseconds())),
            );
            put(&mut item, "activeDurationInSeconds", a.interaction_seconds);
            put(&mut item, "wrapUpDuration", a.wrap_up_seconds);
        }
        put(
            &mut item,
            "result",
            workitem_result(a, segment_end.is_some()),
        );
        put(
            &mut item,
            "completionCode",
            s.dispositions
                .first()
                .filter(|_| holds_dispositions)
                .cloned(),
        );
        put(
            &mut item,
            "notes",
            (!notes.is_empty()).then(|| notes.join("\n")),
        );
        put(&mut item, "customerId", s.customer_id.clone());
        out.push(Record {
            set: "Workitems",
            fields: item,
        });

        let mut session = Map::new();
        put(&mut session, "id", Some(item_id.clone()));
        put(&mut session, "workitemId", Some(item_id.clone()));
        put(&mut session, "conversationId", Some(id.clone()));
        let session_end = if a.missed {
            Some("AgentFailedToJoin")
        } else if segment_end.is_none() {
            None
        } else if transferred {
            Some("Transferred")
        } else if conversation_end.is_some() {
            Some("ConversationEnded")
        } else {
            Some("Default")
        };
        put(&mut session, "endedReason", session_end);
        let hold = a.hold_seconds.unwrap_or(0);
        put(&mut session, "holdCount", Some(i64::from(hold > 0)));
        put(&mut session, "totalHoldDuration", Some(hold));
        out.push(Record {
            set: "WorkitemConversationSessions",
            fields: session,
        });

        let mut segment = Map::new();
        put(&mut segment, "id", Some(item_id.clone()));
        put(&mut segment, "conversationId", Some(id.clone()));
        put(&mut segment, "agentId", Some(a.agent_id.clone()));
        put(&mut segment, "userType", Some("human"));
        put(&mut segment, "queueId", a.queue_id.clone());
        put(
            &mut segment,
            "startReason",
            Some(if rank == 0 {
                "newConversation"
            } else {
                "transfer"
            }),
        );
        put_time(&mut segment, "assignedAtUtc", Some(&a.assigned));
        put_time(&mut segment, "acceptedAtUtc", a.accepted.as_ref());
        put_time(
            &mut segment,
            "firstAgentMessageAtUtc",
            a.first_response.as_ref(),
        );
        put_time(&mut segment, "endedAtUtc", segment_end.as_ref());
        put(&mut segment, "durationInMilliseconds", segment_ms);
        let end_reason = segment_end
            .as_ref()
            .and_then(|_| segment_end_reason(s, a, transferred));
        put(&mut segment, "endReason", end_reason);
        put(
            &mut segment,
            "timeToFirstResponseInMilliseconds",
            a.first_response
                .as_ref()
                .map(|f| (f.at - a.assigned.at).num_milliseconds()),
        );
        // Without messages only two things are known: an offer the agent never took
        // (the source says so), and an ended segment in which the agent did respond.
        let (non_responsive_agent, abandoned) = if a.missed {
            match end_reason {
                Some("consumerClosed") => (Some(false), Some(true)),
                Some(_) => (Some(true), Some(false)),
                None => (Some(true), None),
            }
        } else if segment_end.is_some() && a.first_response.is_some() {
            (Some(false), Some(false))
        } else {
            (None, None)
        };
        put(&mut segment, "hasNonResponsiveAgent", non_responsive_agent);
        put(&mut segment, "isAbandonedByConsumer", abandoned);
        put(&mut segment, "isLastInConversation", Some(is_last));
        out.push(Record {
            set: "AgentSegments",
            fields: segment,
        });
    }

    // CapturedData: dispositions the workitems could not take, tags, raw statuses.
    let stamp = conversation_end.unwrap_or(&s.started).at;
    let mut captured: Vec<Captured> = s.captured.clone();
    for (i, d) in s.dispositions.iter().enumerate() {
        if i == 0 && closer.is_some() {
            continue;
        }
        captured.push(Captured {
            path: format!("dispositions[{i}]"),
            name: "dispositions".into(),
            value: Some(d.clone()),
            at: None,
        });
    }
    if closer.is_none() {
        for (i, d) in s.disposition_remarks.iter().enumerate() {
            captured.push(Captured {
                path: format!("dispositionRemarks[{i}]"),
                name: "dispositionRemarks".into(),
                value: Some(d.clone()),
                at: None,
            });
        }
    }
    let mut captured_ids = HashSet::new();
    for c in captured {
        let mut row = Map::new();
        put(
            &mut row,
            "id",
            Some(unique(&mut captured_ids, format!("{id}:{}", c.path))),
        );
        put(&mut row, "conversationId", Some(id.clone()));
        put(
            &mut row,
            "timestampUtc",
            Some(utc_text(c.at.unwrap_or(stamp))),
        );
        put(&mut row, "name", Some(c.name));
        put(&mut row, "value", c.value);
        out.push(Record {
            set: "CapturedData",
            fields: row,
        });
    }
    out
}

/// Why and when the conversation left a queue.
fn dequeue(
    s: &Source,
    q: &QueueVisit,
    conversation_end: Option<&Stamp>,
) -> (Option<Stamp>, Option<&'static str>) {
    if q.callback {
        let at = q
            .callback_at
            .clone()
            .or_else(|| q.answered_at.clone())
            .or_else(|| q.next.as_ref().map(|(t, _)| t.clone()))
            .or_else(|| conversation_end.cloned());
        return (at, Some("CallbackRequested"));
    }
    if let Some(answered) = &q.answered_at {
        return (Some(answered.clone()), Some("AgentConnected"));
    }
    if let Some((at, reason)) = &q.next {
        // Another AgentSegment took it (AgentConnected); a move to another queue has
        // no dequeuedReason in the feed.
        return (Some(at.clone()), *reason);
    }
    match conversation_end {
        Some(end) => {
            let reason = match ended_by(s) {
                Ender::Customer => Some("CustomerDisconnected"),
                Ender::Timeout => Some("QueueTimedOut"),
                _ => None,
            };
            (Some(end.clone()), reason)
        }
        None => (None, None),
    }
}

/// Who ended the conversation: disconnectingEvent, or smartStatus when it tells an
/// abandonment.
fn ended_by(s: &Source) -> Ender {
    match ender(s.disconnecting_event.as_deref()) {
        Ender::Unknown
            if s.smart_status
                .as_deref()
                .is_some_and(|st| st.to_ascii_lowercase().contains("abandon")) =>
        {
            Ender::Customer
        }
        e => e,
    }
}

/// The session ended at the bot (finalStatus BotResolved, smartStatus CLOSED AT BOT).
fn ended_at_bot(s: &Source) -> bool {
    s.final_status
        .as_deref()
        .is_some_and(|f| f.eq_ignore_ascii_case("BotResolved"))
        || s.smart_status
            .as_deref()
            .is_some_and(|st| st.to_ascii_uppercase().contains("AT BOT"))
}

/// conversationEndedReason within the AllowedValues of the medium's table; null when
/// the conversation is open or the source's statuses fit none of them.
fn conversation_ended_reason(s: &Source, answered_any: bool) -> Option<&'static str> {
    if s.open || s.ended.is_none() {
        return None;
    }
    let queued = !s.queues.is_empty();
    let callback = s.queues.iter().any(|q| q.callback) && !answered_any;
    let closed = |st: &Option<String>| {
        st.as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("CLOSED"))
    };
    let normal = ended_at_bot(s);
    match (s.medium, ended_by(s)) {
        (Medium::Voice, _) if callback => Some("CallbackRequested"),
        (Medium::Voice, Ender::Customer) if queued && !answered_any => Some("Abandoned"),
        (Medium::Voice | Medium::Chat { .. }, Ender::Customer) => Some("CustomerDisconnected"),
        (_, Ender::Timeout) => Some("IdleTimeout"),
        (_, Ender::Agent | Ender::Bot) => Some("Default"),
        (_, Ender::Unknown) if normal => Some("Default"),
        (_, Ender::Unknown)
            if s.disconnecting_event.is_none()
                && closed(&s.final_status)
                && closed(&s.smart_status) =>
        {
            Some("Default")
        }
        _ => None,
    }
}

/// BotSegments.result of a session that never reached a queue or an agent.
fn bot_result(s: &Source) -> Option<&'static str> {
    if s.error_details.is_some() {
        Some("Failed")
    } else if ended_by(s) == Ender::Customer {
        Some("CustomerDisconnect")
    } else if ended_at_bot(s) {
        Some("Success")
    } else {
        None
    }
}

/// Workitems.result: Handled for an answered assignment that ended, Rejected or
/// Abandoned when the non-response event says so, Missed for other offers.
fn workitem_result(a: &Assignment, ended: bool) -> Option<&'static str> {
    if a.missed {
        let event = a
            .non_response_event
            .as_deref()
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        return Some(if event.contains("reject") || event.contains("decline") {
            "Rejected"
        } else if ender(Some(&event)) == Ender::Customer {
            "Abandoned"
        } else {
            "Missed"
        });
    }
    (a.answered && ended).then_some("Handled")
}

/// AgentSegments.endReason of an ended segment.
fn segment_end_reason(s: &Source, a: &Assignment, transferred: bool) -> Option<&'static str> {
    if a.missed {
        let by_customer = a
            .non_response_event
            .as_deref()
            .is_some_and(|e| ender(Some(e)) == Ender::Customer);
        return Some(if by_customer && !transferred {
            "consumerClosed"
        } else {
            "transfer"
        });
    }
    if transferred {
        return Some("transfer");
    }
    match ended_by(s) {
        Ender::Agent => Some("agentClosed"),
        Ender::Customer => Some("consumerClosed"),
        Ender::System | Ender::Timeout | Ender::Bot => Some("systemClosed"),
        Ender::Unknown => None,
    }
}

// ---------------------------------------------------------------------------------
// Small helpers

/// A trimmed, non-empty string field.
fn text<'v>(o: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
    o.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The first of several spellings the export uses for one field.
fn text_any<'v>(o: &'v Map<String, Value>, keys: &[&str]) -> Option<&'v str> {
    keys.iter().find_map(|k| text(o, k))
}

/// A number, string or boolean as text; null, "" and structures are None.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An array of strings; empty entries and the "-" placeholder are left out.
fn strings(cx: &mut Cx, value: Option<&Value>, field: &str) -> Vec<String> {
    cx.array(value, field)
        .iter()
        .filter_map(scalar_text)
        .filter(|s| s != "-")
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn shown(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 40 {
        format!("{}...", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// `base`, or `base#2`, `base#3`... when an earlier row of the record already has it.
fn unique(used: &mut HashSet<String>, base: String) -> String {
    if used.insert(base.clone()) {
        return base;
    }
    let mut n = 2;
    loop {
        let candidate = format!("{base}#{n}");
        if used.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

fn whole_seconds(ms: i64) -> i64 {
    (ms + 500).div_euclid(1000)
}

fn utc_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Sets a field when there is a value (absent fields are null to the ingest path).
fn put<T: Into<Value>>(row: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value {
        row.insert(key.to_string(), v.into());
    }
}

fn put_time(row: &mut Map<String, Value>, key: &str, value: Option<&Stamp>) {
    put(row, key, value.map(|s| utc_text(s.at)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn offset(minutes: i32) -> ImportOptions {
        ImportOptions {
            time_zone_offset_minutes: Some(minutes),
        }
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

    fn s<'m>(row: &'m Map<String, Value>, key: &str) -> Option<&'m str> {
        row.get(key).and_then(Value::as_str)
    }

    fn n(row: &Map<String, Value>, key: &str) -> Option<i64> {
        row.get(key).and_then(Value::as_i64)
    }

    fn b(row: &Map<String, Value>, key: &str) -> Option<bool> {
        row.get(key).and_then(Value::as_bool)
    }

    /// An inbound call: a bot, one queue, an agent who answers with wrap-up and a
    /// consultation, a disposition.
    fn voice() -> Value {
        json!({
            "conversationId": "c-voice-1",
            "sessionId": "s-voice-1",
            "channel": "Voice",
            "Direction": "Inbound",
            "finalStatus": "CLOSED",
            "smartStatus": "CLOSED",
            "disconnectingEvent": "Agent Hangup",
            "botId": "st-app",
            "dispositions": ["Billing", "Escalated"],
            "dispositionRemarks": ["Customer wants to pay by card."],
            "metaInfo": {
                "caller": "+15550001111",
                "callee": "+15550002222",
                "agentTransferConfig": {"automationBotId": "st-bot", "lastIntentName": "Pay Bill"}
            },
            "sessionStartTime": "2025-03-01T10:00:00",
            "sessionEndTime": "2025-03-01T10:05:00",
            "userId": "u-customer",
            "destinations": [{
                "destinationType": "QueueEntry",
                "queueId": "qu-billing",
                "EnterTime": "2025-03-01T10:00:20",
                "respondingAgent": {
                    "agentId": "u-agent-a",
                    "destinationType": "AgentSegment",
                    "status": "Answered",
                    "assignedAt": "2025-03-01T10:01:00",
                    "acceptedTime": "2025-03-01T10:01:05",
                    "firstResponseTime": "2025-03-01T10:01:07",
                    "firstResponseDuration": 2,
                    "interactionEndTime": "2025-03-01T10:05:00",
                    "interactionDuration": 235,
                    "afterCallWorkDuration": 30,
                    "afterCallWorkEndTime": "2025-03-01T10:05:30",
                    "holdDuration": 40,
                    "agentNotes": ["Asked about the invoice."],
                    "ConsultingAgents": [{"agentId": "u-expert", "assignedAt": "2025-03-01T10:02:00", "acceptedTime": "2025-03-01T10:02:03", "consultingEndTime": "2025-03-01T10:03:00"}]
                }
            }],
            "sessionleveltags": [{"name": "callerNumber", "value": "+15550001111"}],
            "userleveltags": []
        })
    }

    #[test]
    fn voice_call_with_queue_agent_and_wrap_up() {
        let m = map_conversation(&voice(), &offset(60)).unwrap();
        assert_eq!(m.conversation_id, "c-voice-1");

        let call = one(&m, "Calls");
        assert_eq!(s(call, "id"), Some("c-voice-1"));
        assert_eq!(s(call, "channelId"), Some("koreai:Voice"));
        assert_eq!(s(call, "channelType"), Some("Voice"));
        // 10:00 at UTC+01:00 is 09:00 UTC.
        assert_eq!(s(call, "startedAtUtc"), Some("2025-03-01T09:00:00.000Z"));
        assert_eq!(s(call, "endedAtUtc"), Some("2025-03-01T09:05:00.000Z"));
        assert_eq!(n(call, "durationInSeconds"), Some(300));
        assert_eq!(b(call, "isOutbound"), Some(false));
        assert_eq!(b(call, "isConsult"), Some(false));
        assert_eq!(s(call, "customerPhoneNumber"), Some("+15550001111"));
        assert_eq!(s(call, "channelPhoneNumber"), Some("+15550002222"));
        assert_eq!(
            s(call, "customerJoinedAtUtc"),
            Some("2025-03-01T09:00:00.000Z")
        );
        assert_eq!(s(call, "customerId"), Some("u-customer"));
        assert_eq!(s(call, "conversationEndedReason"), Some("Default"));
        assert_eq!(n(call, "holdCount"), Some(1));
        assert_eq!(n(call, "holdDurationInSeconds"), Some(40));

        let queue = one(&m, "QueueSegments");
        assert_eq!(s(queue, "queueId"), Some("qu-billing"));
        assert_eq!(s(queue, "queuedAtUtc"), Some("2025-03-01T09:00:20.000Z"));
        assert_eq!(s(queue, "dequeuedAtUtc"), Some("2025-03-01T09:01:00.000Z"));
        assert_eq!(n(queue, "durationInSeconds"), Some(40));
        assert_eq!(s(queue, "dequeuedReason"), Some("AgentConnected"));

        let bot = one(&m, "BotSegments");
        assert_eq!(s(bot, "botStepId"), Some("st-bot"));
        assert_eq!(s(bot, "endedAtUtc"), Some("2025-03-01T09:00:20.000Z"));
        assert_eq!(n(bot, "durationInSeconds"), Some(20));
        assert_eq!(s(bot, "result"), Some("Success"));
        assert_eq!(s(bot, "botFinishedResult"), Some("Pay Bill"));

        let item = one(&m, "Workitems");
        let id = "c-voice-1:u-agent-a:2025-03-01T10:01:00";
        assert_eq!(s(item, "id"), Some(id));
        assert_eq!(s(item, "agentId"), Some("u-agent-a"));
        assert_eq!(s(item, "queueId"), Some("qu-billing"));
        assert_eq!(s(item, "mediaType"), Some("voice"));
        assert_eq!(s(item, "primaryConversationId"), Some("c-voice-1"));
        assert_eq!(s(item, "startTimeUtc"), Some("2025-03-01T09:01:00.000Z"));
        assert_eq!(s(item, "endTimeUtc"), Some("2025-03-01T09:05:30.000Z"));
        assert_eq!(n(item, "durationInSeconds"), Some(270));
        assert_eq!(n(item, "previewDuration"), Some(5));
        assert_eq!(n(item, "activeDurationInSeconds"), Some(235));
        assert_eq!(n(item, "wrapUpDuration"), Some(30));
        assert_eq!(s(item, "result"), Some("Handled"));
        assert_eq!(s(item, "completionCode"), Some("Billing"));
        assert_eq!(
            s(item, "notes"),
            Some("Customer wants to pay by card.\nAsked about the invoice.")
        );

        let session = one(&m, "WorkitemConversationSessions");
        assert_eq!(s(session, "workitemId"), Some(id));
        assert_eq!(s(session, "endedReason"), Some("ConversationEnded"));
        assert_eq!(n(session, "totalHoldDuration"), Some(40));
        assert_eq!(n(session, "holdCount"), Some(1));

        let seg = one(&m, "AgentSegments");
        assert_eq!(s(seg, "id"), Some(id));
        assert_eq!(s(seg, "userType"), Some("human"));
        assert_eq!(s(seg, "startReason"), Some("newConversation"));
        assert_eq!(s(seg, "assignedAtUtc"), Some("2025-03-01T09:01:00.000Z"));
        assert_eq!(s(seg, "acceptedAtUtc"), Some("2025-03-01T09:01:05.000Z"));
        assert_eq!(
            s(seg, "firstAgentMessageAtUtc"),
            Some("2025-03-01T09:01:07.000Z")
        );
        // From assignment, not from acceptance as Kore.ai's firstResponseDuration.
        assert_eq!(n(seg, "timeToFirstResponseInMilliseconds"), Some(7_000));
        assert_eq!(s(seg, "endedAtUtc"), Some("2025-03-01T09:05:00.000Z"));
        assert_eq!(n(seg, "durationInMilliseconds"), Some(240_000));
        assert_eq!(s(seg, "endReason"), Some("agentClosed"));
        assert_eq!(b(seg, "hasNonResponsiveAgent"), Some(false));
        assert_eq!(b(seg, "isLastInConversation"), Some(true));

        let captured: Vec<(Option<&str>, Option<&str>)> = rows(&m, "CapturedData")
            .iter()
            .map(|r| (s(r, "name"), s(r, "value")))
            .collect();
        for expected in [
            (Some("dispositions"), Some("Escalated")),
            (Some("sessionleveltags.callerNumber"), Some("+15550001111")),
            (
                Some("metaInfo.agentTransferConfig.lastIntentName"),
                Some("Pay Bill"),
            ),
            (Some("ConsultingAgents"), Some("u-expert")),
            (Some("disconnectingEvent"), Some("Agent Hangup")),
        ] {
            assert!(captured.contains(&expected), "{expected:?} in {captured:?}");
        }
        assert!(!captured.contains(&(Some("dispositions"), Some("Billing"))));
        let consult = rows(&m, "CapturedData")
            .into_iter()
            .find(|r| s(r, "name") == Some("ConsultingAgents"))
            .unwrap();
        assert_eq!(s(consult, "timestampUtc"), Some("2025-03-01T09:02:00.000Z"));
        assert_eq!(
            s(consult, "id"),
            Some("c-voice-1:destinations[0].respondingAgent.ConsultingAgents[0]")
        );
        assert!(rows(&m, "Messages").is_empty());
    }

    #[test]
    fn chat_with_a_missed_offer_then_an_answer() {
        let chat = json!({
            "conversationId": "c-chat-1",
            "sessionId": "s-chat-1",
            "channel": "Web/Mobile Client",
            "Direction": "Inbound",
            "finalStatus": "CLOSED",
            "smartStatus": "CLOSED",
            "disconnectingEvent": "Customer Closed",
            "sessionStartTime": "2025-03-01 10:00:00",
            "sessionEndTime": "2025-03-01 10:10:00",
            "destinations": [
                {
                    "destinationType": "QueueEntry",
                    "queueId": "qu-web",
                    "EnterTime": "2025-03-01 10:00:05",
                    "nonRespondingAgents": [{
                        "agentId": "u-slow",
                        "destinationType": "AgentSegment",
                        "assignedAt": "2025-03-01 10:00:10",
                        "nonResponseEvent": "Ignored"
                    }],
                    "respondingAgent": {
                        "agentId": "u-fast",
                        "status": "Answered",
                        "assignedAt": "2025-03-01 10:00:40",
                        "acceptedTime": "2025-03-01 10:00:41",
                        "firstResponseTime": "2025-03-01 10:00:50",
                        "interactionEndTime": "2025-03-01 10:10:00",
                        "interactionDuration": 559
                    }
                }
            ]
        });
        let m = map_conversation(&chat, &offset(0)).unwrap();
        let row = one(&m, "Chats");
        assert_eq!(s(row, "channelType"), Some("Webchat"));
        assert_eq!(s(row, "channelId"), Some("koreai:Web/Mobile Client"));
        assert_eq!(
            s(row, "conversationEndedReason"),
            Some("CustomerDisconnected")
        );
        assert!(row.get("isOutbound").is_none(), "Chats have no isOutbound");
        assert!(rows(&m, "BotSegments").is_empty());

        let queue = one(&m, "QueueSegments");
        assert_eq!(s(queue, "dequeuedAtUtc"), Some("2025-03-01T10:00:40.000Z"));
        assert_eq!(s(queue, "dequeuedReason"), Some("AgentConnected"));

        let items = rows(&m, "Workitems");
        assert_eq!(items.len(), 2);
        let (missed, handled) = (items[0], items[1]);
        assert_eq!(s(missed, "agentId"), Some("u-slow"));
        assert_eq!(s(missed, "result"), Some("Missed"));
        assert_eq!(s(missed, "mediaType"), Some("webchat"));
        assert_eq!(s(missed, "endTimeUtc"), Some("2025-03-01T10:00:40.000Z"));
        assert_eq!(n(missed, "previewDuration"), Some(30));
        assert_eq!(n(missed, "activeDurationInSeconds"), Some(0));
        assert_eq!(s(handled, "agentId"), Some("u-fast"));
        assert_eq!(s(handled, "result"), Some("Handled"));
        assert_eq!(n(handled, "activeDurationInSeconds"), Some(559));
        assert!(handled.get("wrapUpDuration").is_none());

        let sessions = rows(&m, "WorkitemConversationSessions");
        assert_eq!(s(sessions[0], "endedReason"), Some("AgentFailedToJoin"));
        assert_eq!(s(sessions[1], "endedReason"), Some("ConversationEnded"));

        let segs = rows(&m, "AgentSegments");
        assert_eq!(s(segs[0], "startReason"), Some("newConversation"));
        assert_eq!(b(segs[0], "hasNonResponsiveAgent"), Some(true));
        assert_eq!(s(segs[0], "endReason"), Some("transfer"));
        assert_eq!(n(segs[0], "durationInMilliseconds"), Some(30_000));
        assert_eq!(b(segs[0], "isLastInConversation"), Some(false));
        assert!(segs[0].get("timeToFirstResponseInMilliseconds").is_none());
        assert_eq!(s(segs[1], "startReason"), Some("transfer"));
        assert_eq!(
            n(segs[1], "timeToFirstResponseInMilliseconds"),
            Some(10_000)
        );
        assert_eq!(s(segs[1], "endReason"), Some("consumerClosed"));
        assert_eq!(b(segs[1], "isLastInConversation"), Some(true));
    }

    #[test]
    fn bot_only_session() {
        let bot = json!({
            "sessionId": "s-bot-1",
            "channel": "Web/Mobile Client",
            "sessionStartTime": "2025-03-01T10:00:00",
            "sessionEndTime": "2025-03-01T10:00:42",
            "botId": "st-app",
            "userId": "u-visitor",
            "smartStatus": "CLOSED AT BOT",
            "finalStatus": "BotResolved",
            "disconnectingEvent": "",
            "automationBotIDs": ["st-faq"]
        });
        let m = map_conversation(&bot, &offset(-300)).unwrap();
        assert_eq!(m.conversation_id, "s-bot-1");
        let chat = one(&m, "Chats");
        assert_eq!(s(chat, "id"), Some("s-bot-1"));
        assert_eq!(s(chat, "startedAtUtc"), Some("2025-03-01T15:00:00.000Z"));
        assert_eq!(s(chat, "conversationEndedReason"), Some("Default"));
        let seg = one(&m, "BotSegments");
        assert_eq!(s(seg, "id"), Some("s-bot-1:bot:st-faq"));
        assert_eq!(s(seg, "conversationId"), Some("s-bot-1"));
        assert_eq!(s(seg, "botStepId"), Some("st-faq"));
        assert_eq!(s(seg, "endedAtUtc"), Some("2025-03-01T15:00:42.000Z"));
        assert_eq!(n(seg, "durationInSeconds"), Some(42));
        assert_eq!(s(seg, "result"), Some("Success"));
        for set in ["Workitems", "AgentSegments", "QueueSegments", "Calls"] {
            assert!(rows(&m, set).is_empty(), "{set}");
        }
    }

    #[test]
    fn local_time_without_offset_option_is_an_error() {
        let errors = map_conversation(&voice(), &ImportOptions::default()).unwrap_err();
        assert_eq!(errors.len(), 1, "said once per record: {errors:?}");
        assert_eq!(errors[0].conversation_id.as_deref(), Some("c-voice-1"));
        assert_eq!(errors[0].field, "sessionStartTime");
        assert!(
            errors[0].message.contains("--time-zone-offset"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn timestamps_with_their_own_offset_need_no_option() {
        let mut record = voice();
        record["sessionStartTime"] = json!("2025-03-01T08:30:00Z");
        // Only sessionStartTime carries an offset: the others still need the option.
        assert!(map_conversation(&record, &ImportOptions::default()).is_err());
        let m = map_conversation(&record, &offset(60)).unwrap();
        // The Z wins over the option for that one field.
        assert_eq!(
            s(one(&m, "Calls"), "startedAtUtc"),
            Some("2025-03-01T08:30:00.000Z")
        );
        assert_eq!(
            s(one(&m, "Calls"), "endedAtUtc"),
            Some("2025-03-01T09:05:00.000Z")
        );

        let zoned = json!({
            "sessionId": "s-z", "channel": "Voice",
            "sessionStartTime": "2025-03-01T10:00:00+05:30",
            "sessionEndTime": "2025-03-01T04:31:00Z"
        });
        let m = map_conversation(&zoned, &ImportOptions::default()).unwrap();
        assert_eq!(
            s(one(&m, "Calls"), "startedAtUtc"),
            Some("2025-03-01T04:30:00.000Z")
        );
        assert_eq!(n(one(&m, "Calls"), "durationInSeconds"), Some(60));
    }

    #[test]
    fn a_bad_timestamp_is_reported_with_its_path() {
        let mut record = voice();
        record["destinations"][0]["respondingAgent"]["assignedAt"] = json!("yesterday");
        let errors = map_conversation(&record, &offset(0)).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            errors[0].field,
            "destinations[0].respondingAgent.assignedAt"
        );
        assert_eq!(errors[0].conversation_id.as_deref(), Some("c-voice-1"));
        assert!(errors[0].message.contains("yesterday"));
    }

    #[test]
    fn required_fields_missing_are_reported_with_their_paths() {
        let mut record = voice();
        let agent = record["destinations"][0]["respondingAgent"]
            .as_object_mut()
            .unwrap();
        agent.remove("agentId");
        agent.remove("assignedAt");
        record.as_object_mut().unwrap().remove("channel");
        let errors = map_conversation(&record, &offset(0)).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "channel",
                "destinations[0].respondingAgent.agentId",
                "destinations[0].respondingAgent.assignedAt"
            ]
        );
        let no_id = json!({"channel": "Voice", "sessionStartTime": "2025-03-01T10:00:00Z"});
        let errors = map_conversation(&no_id, &offset(0)).unwrap_err();
        assert_eq!(errors[0].field, "conversationId");
    }

    #[test]
    fn contradictions_and_bad_options_are_errors() {
        let mut record = voice();
        record["sessionEndTime"] = json!("2025-03-01T09:00:00");
        let errors = map_conversation(&record, &offset(0)).unwrap_err();
        assert_eq!(errors[0].field, "sessionEndTime");
        let errors = map_conversation(&voice(), &offset(5000)).unwrap_err();
        assert_eq!(errors[0].field, "timeZoneOffset");
        let mut record = voice();
        record["destinations"][0]["respondingAgent"]["interactionDuration"] = json!("long");
        let errors = map_conversation(&record, &offset(0)).unwrap_err();
        assert_eq!(
            errors[0].field,
            "destinations[0].respondingAgent.interactionDuration"
        );
    }

    #[test]
    fn ids_do_not_depend_on_the_offset() {
        let ids = |minutes| {
            let m = map_conversation(&voice(), &offset(minutes)).unwrap();
            m.records
                .iter()
                .map(|r| (r.set, s(&r.fields, "id").unwrap_or_default().to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(0), ids(330));
        assert_eq!(
            map_conversation(&voice(), &offset(0)),
            map_conversation(&voice(), &offset(0))
        );
    }

    #[test]
    fn open_conversation_and_unanswered_queue() {
        let open = json!({
            "conversationId": "c-open", "sessionId": "s-open", "channel": "Web/Mobile Client",
            "finalStatus": "TRANSIENT_OPEN", "smartStatus": "",
            "sessionStartTime": "2025-03-01T10:00:00Z", "sessionEndTime": "2025-03-01T10:00:00Z",
            "destinations": [{"destinationType": "AgentSegment", "agentId": "u-a", "assignedAt": "2025-03-01T10:00:00Z"}]
        });
        let m = map_conversation(&open, &ImportOptions::default()).unwrap();
        let chat = one(&m, "Chats");
        assert!(chat.get("endedAtUtc").is_none());
        assert!(chat.get("conversationEndedReason").is_none());
        let item = one(&m, "Workitems");
        assert!(item.get("result").is_none() && item.get("endTimeUtc").is_none());
        let seg = one(&m, "AgentSegments");
        assert!(seg.get("endedAtUtc").is_none() && seg.get("endReason").is_none());
        assert!(seg.get("queueId").is_none());

        let abandoned = json!({
            "conversationId": "c-gone", "channel": "Voice", "Direction": "Inbound",
            "finalStatus": "CLOSED", "smartStatus": "CLOSED", "disconnectingEvent": "Customer Hangup",
            "dispositions": ["DROP-OFF"],
            "sessionStartTime": "2025-03-01T10:00:00Z", "sessionEndTime": "2025-03-01T10:03:00Z",
            "destinations": [{"destinationType": "QueueEntry", "queueId": "qu-1", "EnterTime": "2025-03-01T10:00:30Z"}]
        });
        let m = map_conversation(&abandoned, &ImportOptions::default()).unwrap();
        assert_eq!(
            s(one(&m, "Calls"), "conversationEndedReason"),
            Some("Abandoned")
        );
        let queue = one(&m, "QueueSegments");
        assert_eq!(s(queue, "dequeuedReason"), Some("CustomerDisconnected"));
        assert_eq!(n(queue, "durationInSeconds"), Some(150));
        // No agent to hold the disposition: it is kept as captured data.
        let disposition = rows(&m, "CapturedData")
            .into_iter()
            .find(|r| s(r, "name") == Some("dispositions"))
            .unwrap();
        assert_eq!(s(disposition, "value"), Some("DROP-OFF"));
        assert_eq!(
            s(disposition, "timestampUtc"),
            Some("2025-03-01T10:03:00.000Z")
        );
    }

    #[test]
    fn customer_leaves_while_the_offer_rings() {
        let record = json!({
            "conversationId": "c-left", "channel": "Web/Mobile Client",
            "finalStatus": "CLOSED", "smartStatus": "CLOSED", "disconnectingEvent": "Customer Closed",
            "sessionStartTime": "2025-03-01T10:00:00Z", "sessionEndTime": "2025-03-01T10:01:00Z",
            "destinations": [{"destinationType": "QueueEntry", "queueId": "qu-1", "EnterTime": "2025-03-01T10:00:05Z",
                "nonRespondingAgents": [{"agentId": "u-a", "assignedAt": "2025-03-01T10:00:10Z",
                    "nonResponseEvent": "Customer Disconnected"}]}]
        });
        let m = map_conversation(&record, &ImportOptions::default()).unwrap();
        let seg = one(&m, "AgentSegments");
        assert_eq!(s(seg, "endReason"), Some("consumerClosed"));
        assert_eq!(s(seg, "endedAtUtc"), Some("2025-03-01T10:01:00.000Z"));
        assert_eq!(b(seg, "isAbandonedByConsumer"), Some(true));
        assert_eq!(b(seg, "hasNonResponsiveAgent"), Some(false));
        assert_eq!(s(one(&m, "Workitems"), "result"), Some("Abandoned"));
        assert_eq!(
            s(one(&m, "Chats"), "conversationEndedReason"),
            Some("CustomerDisconnected")
        );
        let queue = one(&m, "QueueSegments");
        assert_eq!(s(queue, "dequeuedReason"), Some("CustomerDisconnected"));
    }

    #[test]
    fn outbound_call_and_transfer_to_a_second_agent() {
        let outbound = json!({
            "conversationId": "c-out", "channel": "Voice", "Direction": "Outbound",
            "finalStatus": "CLOSED", "smartStatus": "CLOSED", "disconnectingEvent": "Agent Hangup",
            "metaInfo": {"caller": "+1000", "callee": "+2000", "endUserNumber": "+2000", "dialedNumber": "+1000"},
            "customerinfo": {"CustomerPhone": "+1000", "CenterPhone": "+2000"},
            "sessionStartTime": "2025-03-01T10:00:00Z", "sessionEndTime": "2025-03-01T10:02:00Z",
            "destinations": [
                {"destinationType": "QueueEntry", "queueId": "qu-1",
                 "respondingAgent": {"agentId": "u-a", "status": "Answered", "assignedAt": "2025-03-01T10:00:00Z",
                    "acceptedTime": "2025-03-01T10:00:00Z", "interactionEndTime": "2025-03-01T10:01:00Z", "interactionDuration": 60}},
                {"destinationType": "AgentSegment", "agentId": "u-b", "status": "Answered",
                 "assignedAt": "2025-03-01T10:01:02Z", "acceptedTime": "2025-03-01T10:01:05Z",
                 "firstResponseDuration": 3,
                 "interactionEndTime": "2025-03-01T10:02:00Z", "interactionDuration": 55}
            ]
        });
        let m = map_conversation(&outbound, &ImportOptions::default()).unwrap();
        let call = one(&m, "Calls");
        assert_eq!(b(call, "isOutbound"), Some(true));
        assert_eq!(s(call, "customerPhoneNumber"), Some("+2000"));
        assert_eq!(s(call, "channelPhoneNumber"), Some("+1000"));
        assert!(call.get("customerJoinedAtUtc").is_none());
        // The queue entry has no EnterTime: no queue row, but the agent keeps the queue.
        assert!(rows(&m, "QueueSegments").is_empty());
        let segs = rows(&m, "AgentSegments");
        assert_eq!(s(segs[0], "queueId"), Some("qu-1"));
        assert_eq!(s(segs[0], "endReason"), Some("transfer"));
        assert!(segs[1].get("queueId").is_none());
        assert_eq!(s(segs[1], "startReason"), Some("transfer"));
        // First response from acceptance + firstResponseDuration, measured from assignment.
        assert_eq!(
            s(segs[1], "firstAgentMessageAtUtc"),
            Some("2025-03-01T10:01:08.000Z")
        );
        assert_eq!(n(segs[1], "timeToFirstResponseInMilliseconds"), Some(6_000));
        let sessions = rows(&m, "WorkitemConversationSessions");
        assert_eq!(s(sessions[0], "endedReason"), Some("Transferred"));
    }

    #[test]
    fn channels_map_to_media() {
        assert_eq!(Medium::of("Voice"), Medium::Voice);
        assert_eq!(Medium::of("korevg"), Medium::Voice);
        assert_eq!(Medium::of("System Mail"), Medium::Email);
        assert_eq!(Medium::of("Email"), Medium::Email);
        assert_eq!(Medium::of("Facebook Messenger").media_type(), "messenger");
        assert_eq!(Medium::of("Facebook Messenger").channel_type(), "Facebook");
        assert_eq!(Medium::of("WhatsApp").media_type(), "whatsapp");
        assert_eq!(Medium::of("WhatsApp").channel_type(), "Webchat");
        assert_eq!(Medium::of("telegram").set(), "Chats");
        assert_eq!(Medium::of("Web/Mobile Client").media_type(), "webchat");

        let email = json!({"conversationId": "c-mail", "channel": "System Mail", "Direction": "Inbound",
            "customerinfo": {"CustomerEmail": "a@example.com"},
            "sessionStartTime": "2025-03-01T10:00:00Z"});
        let m = map_conversation(&email, &ImportOptions::default()).unwrap();
        let row = one(&m, "Emails");
        assert_eq!(s(row, "threadId"), Some("c-mail"));
        assert_eq!(s(row, "customerEmailAddress"), Some("a@example.com"));
        assert_eq!(b(row, "isOutbound"), Some(false));
    }

    #[test]
    fn document_shapes() {
        let page = json!({"numResults": 1, "data": [{"sessionId": "x"}]});
        assert_eq!(conversations(&page).unwrap().len(), 1);
        assert_eq!(conversations(&json!([{}, {}])).unwrap().len(), 2);
        assert_eq!(
            conversations(&json!({"conversations": []}))
                .unwrap_err()
                .field,
            "data"
        );
        assert!(conversations(&json!({"data": {}})).is_err());
        assert!(conversations(&json!("text")).is_err());
        assert!(map_conversation(&json!(3), &ImportOptions::default()).is_err());
    }
}
