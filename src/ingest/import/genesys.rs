//! Genesys Cloud analytics conversation details → rows of the feed.
//!
//! Input is the body of the synchronous details query or one results page of an async
//! details job: `{"conversations": [...]}` (possibly with `totalHits`, `cursor`,
//! `dataAvailabilityDate`). Each conversation is a tree: participants (by `purpose`:
//! customer, acd, agent, ivr, workflow, ...) → sessions (one per medium and leg) →
//! segments (alert, interact, hold, wrapup, ...) with their times and the
//! `disconnectType` that ended them. The export documents none of this, and it lacks
//! things reports need (often the conversation end, always a readable direction), so
//! this module derives them from the segments the same way every time; the rules are
//! written down in docs/import-genesys.md.
//!
//! Ids: Genesys session ids are globally unique, so every per-session row (workitem,
//! agent segment, bot segment, message) is keyed by its session id, queue segments by
//! session id and segment position, captured values by participant or segment and
//! name. Re-importing the same conversation therefore produces the same ids.

use chrono::{DateTime, DurationRound, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value};

use super::{ImportOptions, MapError, MappedConversation, Record};

/// Entity sets a Genesys import writes; an imported conversation's rows in them are
/// replaced by the new export's.
pub const SETS: &[&str] = &[
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

/// The conversations of a document: a details-query response or an async job results
/// page (`{"conversations": [...]}`), a single conversation as the per-conversation
/// details endpoint returns it, or a bare array of conversations. Each shape is taken
/// as it comes, so nobody has to rewrap what Genesys gave them.
pub fn conversations(doc: &Value) -> Result<&[Value], MapError> {
    let fail = |message: &str| MapError {
        conversation_id: None,
        field: "conversations".to_string(),
        message: message.to_string(),
    };
    match doc {
        Value::Object(map) => match map.get("conversations") {
            Some(Value::Array(items)) => Ok(items),
            // A query with no hits answers `{"totalHits": 0}`, and the last page of a
            // job may carry only its cursor: nothing to import, not an error.
            None | Some(Value::Null) if is_results_page(map) => Ok(&[]),
            Some(_) => Err(fail(
                "expected an array of Genesys conversation details under 'conversations'",
            )),
            None if map.contains_key("conversationId") => Ok(std::slice::from_ref(doc)),
            None => Err(fail(
                "missing: expected Genesys conversation details: a details query response or job results page ({\"conversations\": [ ... ]}), one conversation, or an array of conversations",
            )),
        },
        Value::Array(items) => Ok(items),
        _ => Err(fail(
            "expected a JSON object or array of Genesys conversation details",
        )),
    }
}

fn is_results_page(map: &Map<String, Value>) -> bool {
    ["totalHits", "cursor", "dataAvailabilityDate"]
        .iter()
        .any(|k| map.contains_key(*k))
}

/// One Genesys conversation as rows of our entity sets, or every problem found in it.
pub fn map_conversation(
    conversation: &Value,
    options: &ImportOptions,
) -> Result<MappedConversation, Vec<MapError>> {
    // Genesys timestamps always carry their offset; the options have nothing to add.
    let _ = options;
    let mut ctx = Ctx {
        conversation_id: None,
        errors: Vec::new(),
    };
    let Some(conv) = parse_conversation(conversation, &mut ctx) else {
        return Err(ctx.errors);
    };
    if !ctx.errors.is_empty() {
        return Err(ctx.errors);
    }
    let records = map_parsed(&conv, &mut ctx);
    ctx.errors.extend(super::nul_characters(conv.id, &records));
    if !ctx.errors.is_empty() {
        return Err(ctx.errors);
    }
    Ok(MappedConversation {
        conversation_id: conv.id.to_string(),
        records,
    })
}

// ---------------------------------------------------------------------------------
// Parsing: the source tree with its times checked, so that mapping cannot fail on it.

struct Ctx {
    conversation_id: Option<String>,
    errors: Vec<MapError>,
}

impl Ctx {
    fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(MapError {
            conversation_id: self.conversation_id.clone(),
            field: field.into(),
            message: message.into(),
        });
    }

    /// A required, non-empty string field of `obj` (path `base` + key).
    fn required_text<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        base: &str,
        key: &str,
    ) -> Option<&'a str> {
        let found = text(obj, key);
        if found.is_none() {
            let message = match obj.get(key) {
                None | Some(Value::Null) => "is required but missing".to_string(),
                Some(v) => format!("expected a non-empty string, found {}", shown(v)),
            };
            self.error(join(base, key), message);
        }
        found
    }

    /// An optional timestamp field; present but unreadable is an error.
    fn optional_time(
        &mut self,
        obj: &Map<String, Value>,
        base: &str,
        key: &str,
    ) -> Option<DateTime<Utc>> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => {
                let parsed = v.as_str().and_then(parse_instant);
                if parsed.is_none() {
                    self.error(
                        join(base, key),
                        format!(
                            "expected an ISO 8601 timestamp with an offset, found {}",
                            shown(v)
                        ),
                    );
                }
                parsed
            }
        }
    }

    fn required_time(
        &mut self,
        obj: &Map<String, Value>,
        base: &str,
        key: &str,
    ) -> Option<DateTime<Utc>> {
        if matches!(obj.get(key), None | Some(Value::Null)) {
            self.error(join(base, key), "is required but missing");
            return None;
        }
        self.optional_time(obj, base, key)
    }
}

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
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

fn text<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// RFC 3339, tolerating an unpadded month or day ("2021-04-2T15:30:51.418Z", as in
/// some published samples), kept at millisecond precision like the feed.
fn parse_instant(raw: &str) -> Option<DateTime<Utc>> {
    let parsed = DateTime::parse_from_rfc3339(raw).ok().or_else(|| {
        let (date, rest) = raw.split_once(['T', 't'])?;
        let mut parts = date.split('-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        let digits = |s: &str, max: usize| {
            !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
        };
        if parts.next().is_some() || y.len() != 4 || !digits(y, 4) || !digits(m, 2) || !digits(d, 2)
        {
            return None;
        }
        DateTime::parse_from_rfc3339(&format!("{y}-{m:0>2}-{d:0>2}T{rest}")).ok()
    })?;
    let utc = parsed.with_timezone(&Utc);
    if !(1..=9999).contains(&chrono::Datelike::year(&utc)) {
        return None;
    }
    utc.duration_trunc(TimeDelta::milliseconds(1)).ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Inbound,
    Outbound,
}

fn direction(v: Option<&str>) -> Option<Direction> {
    match v?.to_ascii_lowercase().as_str() {
        "inbound" => Some(Direction::Inbound),
        "outbound" => Some(Direction::Outbound),
        _ => None,
    }
}

struct Segment<'a> {
    /// Position in the source array (segments are kept in time order).
    index: usize,
    path: String,
    kind: String,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    queue_id: Option<&'a str>,
    disconnect: Option<Disconnect>,
    src: &'a Map<String, Value>,
}

impl Segment<'_> {
    fn millis(&self) -> Option<i64> {
        self.end.map(|e| (e - self.start).num_milliseconds())
    }
}

struct Session<'a> {
    path: String,
    id: &'a str,
    media: String,
    direction: Option<Direction>,
    /// In time order.
    segments: Vec<Segment<'a>>,
    src: &'a Map<String, Value>,
}

impl<'a> Session<'a> {
    fn start(&self) -> Option<DateTime<Utc>> {
        self.segments.first().map(|s| s.start)
    }

    /// When the session ended: its latest segment end, or none while a segment is open.
    fn end(&self) -> Option<DateTime<Utc>> {
        if self.segments.is_empty() || self.segments.iter().any(|s| s.end.is_none()) {
            return None;
        }
        self.segments.iter().filter_map(|s| s.end).max()
    }

    fn of_kind<'s>(&'s self, kind: &'s str) -> impl Iterator<Item = &'s Segment<'a>> + 's {
        self.segments.iter().filter(move |s| s.kind == kind)
    }

    fn first_of(&self, kind: &str) -> Option<&Segment<'a>> {
        self.segments.iter().find(|s| s.kind == kind)
    }

    /// Total milliseconds of the closed segments of this kind; none when there is none.
    fn total_millis(&self, kind: &str) -> Option<i64> {
        let mut found = false;
        let total = self
            .of_kind(kind)
            .filter_map(|s| {
                found = true;
                s.millis()
            })
            .sum();
        found.then_some(total)
    }

    /// A session metric's value (milliseconds for t-metrics), the last one emitted.
    fn metric(&self, name: &str) -> Option<i64> {
        self.src
            .get("metrics")?
            .as_array()?
            .iter()
            .rev()
            .filter_map(Value::as_object)
            .find(|m| m.get("name").and_then(Value::as_str) == Some(name))?
            .get("value")?
            .as_f64()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| v.round() as i64)
    }

    fn field(&self, key: &str) -> Option<&'a str> {
        text(self.src, key)
    }
}

struct Participant<'a> {
    index: usize,
    path: String,
    purpose: String,
    src: &'a Map<String, Value>,
    sessions: Vec<Session<'a>>,
}

impl<'a> Participant<'a> {
    fn field(&self, key: &str) -> Option<&'a str> {
        text(self.src, key)
    }

    fn is(&self, purposes: &[&str]) -> bool {
        purposes.contains(&self.purpose.as_str())
    }

    fn start(&self) -> Option<DateTime<Utc>> {
        self.sessions.iter().filter_map(Session::start).min()
    }
}

struct Conversation<'a> {
    id: &'a str,
    start: DateTime<Utc>,
    declared_end: Option<DateTime<Utc>>,
    originating: Option<Direction>,
    participants: Vec<Participant<'a>>,
}

fn parse_conversation<'a>(value: &'a Value, ctx: &mut Ctx) -> Option<Conversation<'a>> {
    let Value::Object(c) = value else {
        ctx.error(
            "",
            format!("expected a conversation object, found {}", shown(value)),
        );
        return None;
    };
    let id = ctx.required_text(c, "", "conversationId");
    ctx.conversation_id = id.map(str::to_string);
    let start = ctx.required_time(c, "", "conversationStart");
    let declared_end = ctx.optional_time(c, "", "conversationEnd");
    let participants = match c.get("participants") {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, p)| parse_participant(i, p, ctx))
            .collect(),
        None | Some(Value::Null) => {
            ctx.error("participants", "is required but missing");
            Vec::new()
        }
        Some(v) => {
            ctx.error(
                "participants",
                format!("expected an array, found {}", shown(v)),
            );
            Vec::new()
        }
    };
    Some(Conversation {
        id: id?,
        start: start?,
        declared_end,
        originating: direction(text(c, "originatingDirection")),
        participants,
    })
}

fn parse_participant<'a>(index: usize, value: &'a Value, ctx: &mut Ctx) -> Option<Participant<'a>> {
    let path = format!("participants[{index}]");
    let Value::Object(p) = value else {
        ctx.error(
            path,
            format!("expected a participant object, found {}", shown(value)),
        );
        return None;
    };
    let purpose = ctx.required_text(p, &path, "purpose")?.to_ascii_lowercase();
    let sessions = match p.get("sessions") {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(j, s)| parse_session(&format!("{path}.sessions[{j}]"), s, ctx))
            .collect(),
        None | Some(Value::Null) => Vec::new(),
        Some(v) => {
            ctx.error(
                join(&path, "sessions"),
                format!("expected an array, found {}", shown(v)),
            );
            Vec::new()
        }
    };
    Some(Participant {
        index,
        path,
        purpose,
        src: p,
        sessions,
    })
}

fn parse_session<'a>(path: &str, value: &'a Value, ctx: &mut Ctx) -> Option<Session<'a>> {
    let Value::Object(s) = value else {
        ctx.error(
            path,
            format!("expected a session object, found {}", shown(value)),
        );
        return None;
    };
    let id = ctx.required_text(s, path, "sessionId");
    let media = ctx.required_text(s, path, "mediaType");
    let mut segments: Vec<Segment<'a>> = match s.get("segments") {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(k, g)| parse_segment(k, &format!("{path}.segments[{k}]"), g, ctx))
            .collect(),
        None | Some(Value::Null) => Vec::new(),
        Some(v) => {
            ctx.error(
                join(path, "segments"),
                format!("expected an array, found {}", shown(v)),
            );
            Vec::new()
        }
    };
    segments.sort_by_key(|g| g.start);
    Some(Session {
        path: path.to_string(),
        id: id?,
        media: media?.to_ascii_lowercase(),
        direction: direction(text(s, "direction")),
        segments,
        src: s,
    })
}

fn parse_segment<'a>(
    index: usize,
    path: &str,
    value: &'a Value,
    ctx: &mut Ctx,
) -> Option<Segment<'a>> {
    let Value::Object(g) = value else {
        ctx.error(
            path,
            format!("expected a segment object, found {}", shown(value)),
        );
        return None;
    };
    let start = ctx.required_time(g, path, "segmentStart");
    let end = ctx.optional_time(g, path, "segmentEnd");
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        ctx.error(join(path, "segmentEnd"), "is before segmentStart");
        return None;
    }
    Some(Segment {
        index,
        path: path.to_string(),
        kind: text(g, "segmentType")
            .unwrap_or_default()
            .to_ascii_lowercase(),
        start: start?,
        end,
        queue_id: text(g, "queueId"),
        disconnect: text(g, "disconnectType").map(Disconnect::of),
        src: g,
    })
}

// ---------------------------------------------------------------------------------
// Classification of the source's enumerations.

/// Genesys `disconnectType`, grouped by what it says about who ended a segment. The
/// type is from the point of view of the participant the segment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disconnect {
    /// client, endpoint, dndEndpoint: this participant's own side ended it.
    Own,
    /// peer: the other side ended it.
    Peer,
    /// transfer, forwardTransfer, consultTransfer, conferenceTransfer.
    Transfer,
    /// noAnswerTransfer, notAvailableTransfer, dndTransfer: routing moved an offer on.
    Unanswered,
    /// timeout, inactivity, sessionExpired.
    Timeout,
    /// error, transportFailure.
    Error,
    /// uncallable: an outbound number could not be dialled.
    Uncallable,
    /// takeover.
    Takeover,
    /// system, spam, other and anything not listed.
    System,
}

impl Disconnect {
    fn of(raw: &str) -> Disconnect {
        match raw.to_ascii_lowercase().as_str() {
            "client" | "endpoint" | "dndendpoint" => Disconnect::Own,
            "peer" => Disconnect::Peer,
            "transfer" | "forwardtransfer" | "consulttransfer" | "conferencetransfer" => {
                Disconnect::Transfer
            }
            "noanswertransfer" | "notavailabletransfer" | "dndtransfer" => Disconnect::Unanswered,
            "timeout" | "inactivity" | "sessionexpired" => Disconnect::Timeout,
            "error" | "transportfailure" => Disconnect::Error,
            "uncallable" => Disconnect::Uncallable,
            "takeover" => Disconnect::Takeover,
            _ => Disconnect::System,
        }
    }
}

/// Which of our conversation sets a conversation goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Medium {
    /// voice and callback → Calls.
    Call,
    /// chat → Chats.
    Chat,
    /// message (SMS, social and messaging apps, web messaging) → Chats too.
    Message,
    /// email → Emails.
    Email,
}

impl Medium {
    fn of(media: &str) -> Option<Medium> {
        match media {
            "voice" | "callback" => Some(Medium::Call),
            "chat" => Some(Medium::Chat),
            "message" => Some(Medium::Message),
            "email" => Some(Medium::Email),
            _ => None,
        }
    }

    fn set(self) -> &'static str {
        match self {
            Medium::Call => "Calls",
            Medium::Chat | Medium::Message => "Chats",
            Medium::Email => "Emails",
        }
    }
}

const CUSTOMER_PURPOSES: &[&str] = &["customer", "external"];
const AGENT_PURPOSES: &[&str] = &["agent", "user"];
const FLOW_PURPOSES: &[&str] = &["ivr", "botflow", "workflow"];
const CAMPAIGN_PURPOSES: &[&str] = &["campaign", "outbound"];

/// The messaging platform of a `message` session (its `messageType`), lower case.
fn message_platform(session: &Session) -> String {
    session
        .field("messageType")
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Workitems.mediaType for a session's medium.
fn workitem_media(session: &Session) -> &'static str {
    match session.media.as_str() {
        "voice" | "callback" => "voice",
        "email" => "email",
        "message" => match message_platform(session).as_str() {
            "facebook" => "messenger",
            "whatsapp" => "whatsapp",
            "instagram" => "instagram",
            // webmessaging, open, sms and platforms the feed has no value for.
            _ => "webchat",
        },
        _ => "webchat",
    }
}

/// Chats.channelType: the feed knows Webchat, Viber and Facebook only.
fn chat_channel_type(session: &Session) -> &'static str {
    if session.media == "message" && message_platform(session) == "facebook" {
        "Facebook"
    } else {
        "Webchat"
    }
}

fn strip_scheme(address: &str) -> &str {
    for scheme in ["tel:", "sip:", "mailto:"] {
        if let Some(head) = address.get(..scheme.len())
            && head.eq_ignore_ascii_case(scheme)
            && address.len() > scheme.len()
        {
            return &address[scheme.len()..];
        }
    }
    address
}

// ---------------------------------------------------------------------------------
// Mapping.

fn stamp(t: DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Milliseconds to whole seconds, to the nearest second.
fn whole_seconds(millis: i64) -> i64 {
    (millis + 500).div_euclid(1000)
}

fn between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_milliseconds()
}

struct Row {
    set: &'static str,
    fields: Map<String, Value>,
}

impl Row {
    fn new(set: &'static str, id: &str) -> Row {
        let mut fields = Map::new();
        fields.insert("id".into(), Value::String(id.to_string()));
        Row { set, fields }
    }

    fn put(&mut self, key: &str, value: impl Into<Value>) {
        self.fields.insert(key.to_string(), value.into());
    }

    /// Sets the property only when there is a value (absent means null).
    fn put_opt<T: Into<Value>>(&mut self, key: &str, value: Option<T>) {
        if let Some(v) = value {
            self.put(key, v);
        }
    }

    fn time(&mut self, key: &str, value: Option<DateTime<Utc>>) {
        if let Some(t) = value {
            self.put(key, stamp(t));
        }
    }

    fn done(self) -> Record {
        Record {
            set: self.set,
            fields: self.fields,
        }
    }
}

/// Facts about the conversation that several sets need.
struct Shape<'c, 'a> {
    conv: &'c Conversation<'a>,
    medium: Medium,
    customer: Option<&'c Participant<'a>>,
    customer_session: &'c Session<'a>,
    outbound: Option<bool>,
    channel_id: String,
    ended_at: Option<DateTime<Utc>>,
}

fn map_parsed(conv: &Conversation, ctx: &mut Ctx) -> Vec<Record> {
    let Some((customer, customer_session, medium)) = customer_session(conv) else {
        ctx.error(
            "participants",
            "no voice, callback, chat, message or email session found (the customer's session decides between Calls, Chats and Emails)",
        );
        return Vec::new();
    };
    let outbound = customer_session
        .direction
        .or(conv.originating)
        .map(|d| d == Direction::Outbound);
    let ended_at = conversation_end(conv, ctx);
    let shape = Shape {
        conv,
        medium,
        customer,
        customer_session,
        outbound,
        channel_id: channel_id(customer_session, outbound.unwrap_or(false)),
        ended_at,
    };
    let mut records = Vec::new();
    let messages = map_messages(&shape);
    records.push(map_conversation_row(&shape, &messages, ctx));
    records.extend(map_queue_segments(&shape, ctx));
    records.extend(map_bot_segments(&shape));
    records.extend(map_agents(&shape, ctx));
    records.extend(messages.into_iter().map(|m| m.row));
    records.extend(map_captured_data(&shape, ctx));
    records
}

/// The customer's first session in a conversation medium: from a `customer`
/// participant, else an `external` one, else any participant (internal calls).
fn customer_session<'c, 'a>(
    conv: &'c Conversation<'a>,
) -> Option<(Option<&'c Participant<'a>>, &'c Session<'a>, Medium)> {
    let first_in = |p: &'c Participant<'a>| {
        p.sessions
            .iter()
            .filter_map(|s| Medium::of(&s.media).map(|m| (s, m)))
            .min_by_key(|(s, _)| s.start())
    };
    for purpose in CUSTOMER_PURPOSES {
        if let Some((p, (s, m))) = conv
            .participants
            .iter()
            .filter(|p| p.purpose == *purpose)
            .find_map(|p| first_in(p).map(|found| (p, found)))
        {
            return Some((Some(p), s, m));
        }
    }
    conv.participants
        .iter()
        .filter_map(first_in)
        .min_by_key(|(s, _)| s.start())
        .map(|(s, m)| (None, s, m))
}

/// conversationEnd, or else the latest segment end once every segment has ended.
fn conversation_end(conv: &Conversation, ctx: &mut Ctx) -> Option<DateTime<Utc>> {
    let segments = || {
        conv.participants
            .iter()
            .flat_map(|p| &p.sessions)
            .flat_map(|s| &s.segments)
    };
    let end = conv.declared_end.or_else(|| {
        if segments().any(|g| g.end.is_none()) {
            None
        } else {
            segments().filter_map(|g| g.end).max()
        }
    })?;
    if end < conv.start {
        let field = if conv.declared_end.is_some() {
            "conversationEnd"
        } else {
            "participants[*].sessions[*].segments[*].segmentEnd"
        };
        ctx.error(field, "the conversation would end before conversationStart");
        return None;
    }
    Some(end)
}

/// A stable channel id from what the export says about the contact center's side of
/// the customer session: its number (voice), mailbox (email) or messaging address,
/// else the session's provider. See docs/import-genesys.md.
fn channel_id(session: &Session, outbound: bool) -> String {
    let own_address = match (session.media.as_str(), outbound) {
        ("voice" | "callback", false) => session.field("dnis"),
        ("voice" | "callback", true) => session.field("ani"),
        ("email" | "message", false) => session.field("addressTo"),
        ("email" | "message", true) => session.field("addressFrom"),
        _ => None,
    };
    let medium = match session.media.as_str() {
        "callback" => "voice".to_string(),
        "message" => match message_platform(session).as_str() {
            "" => "message".to_string(),
            platform => format!("message:{platform}"),
        },
        other => other.to_string(),
    };
    match own_address.map(strip_scheme) {
        Some(address) if session.media == "email" => {
            format!("genesys:{medium}:{}", address.to_ascii_lowercase())
        }
        Some(address) => format!("genesys:{medium}:{address}"),
        None => match session.field("provider") {
            Some(provider) => format!("genesys:{medium}:{provider}"),
            None => format!("genesys:{medium}"),
        },
    }
}

/// First and last name from a participant name that looks like a person's name.
fn split_name(name: &str) -> Option<(String, Option<String>)> {
    let looks_like_address = name.contains('@')
        || name.starts_with('+')
        || name.starts_with(|c: char| c.is_ascii_digit())
        || name.to_ascii_lowercase().starts_with("tel:")
        || name.to_ascii_lowercase().starts_with("sip:");
    if looks_like_address {
        return None;
    }
    match name.rsplit_once(char::is_whitespace) {
        Some((first, last)) if !first.trim().is_empty() && !last.is_empty() => {
            Some((first.trim().to_string(), Some(last.to_string())))
        }
        _ => Some((name.to_string(), None)),
    }
}

fn map_conversation_row(shape: &Shape, messages: &[MappedMessage], ctx: &mut Ctx) -> Record {
    let conv = shape.conv;
    let session = shape.customer_session;
    let mut row = Row::new(shape.medium.set(), conv.id);
    row.put("channelId", shape.channel_id.as_str());
    row.put("startedAtUtc", stamp(conv.start));
    row.time("endedAtUtc", shape.ended_at);
    row.put_opt(
        "durationInSeconds",
        shape
            .ended_at
            .map(|e| whole_seconds(between(conv.start, e))),
    );
    row.put_opt(
        "conversationEndedReason",
        shape.ended_at.and(ended_reason(shape)),
    );
    if let Some(customer) = shape.customer {
        if let Some((first, last)) = customer.field("participantName").and_then(split_name) {
            row.put("customerFirstName", first);
            row.put_opt("customerLastName", last);
        }
        row.put_opt("customerId", customer.field("externalContactId"));
    }
    let outbound = shape.outbound;
    if matches!(shape.medium, Medium::Call | Medium::Email) && outbound.is_none() {
        ctx.error(
            format!("{}.direction", session.path),
            "neither the customer session's direction nor originatingDirection says inbound or outbound",
        );
    }
    let outbound = outbound.unwrap_or(false);
    match shape.medium {
        Medium::Call => {
            row.put("channelType", "Voice");
            row.put("isOutbound", outbound);
            row.put("isConsult", false);
            let (customer_number, own_number) = if outbound {
                (session.field("dnis"), session.field("ani"))
            } else {
                (session.field("ani"), session.field("dnis"))
            };
            row.put_opt("customerPhoneNumber", customer_number.map(strip_scheme));
            row.put_opt("channelPhoneNumber", own_number.map(strip_scheme));
            let joined = if outbound {
                session.first_of("interact").map(|g| g.start)
            } else {
                session.start()
            };
            row.time("customerJoinedAtUtc", joined);
            let holds = agent_sessions(shape.conv).flat_map(|(_, s)| s.of_kind("hold"));
            let (count, millis) = holds.fold((0i64, 0i64), |(n, total), g| {
                (n + 1, total + g.millis().unwrap_or(0))
            });
            row.put("holdCount", count);
            row.put("holdDurationInSeconds", whole_seconds(millis));
        }
        Medium::Chat | Medium::Message => {
            row.put("channelType", chat_channel_type(session));
        }
        Medium::Email => {
            row.put("channelType", "Email");
            row.put("isOutbound", outbound);
            // Genesys keeps a whole mail thread in one conversation.
            row.put("threadId", conv.id);
            let address = if outbound {
                session.field("addressTo")
            } else {
                session.field("addressFrom")
            };
            row.put_opt("customerEmailAddress", address.map(strip_scheme));
            let subject = session
                .segments
                .iter()
                .find_map(|g| text(g.src, "subject"))
                .or_else(|| {
                    all_sessions(conv)
                        .flat_map(|(_, s)| &s.segments)
                        .find_map(|g| text(g.src, "subject"))
                });
            row.put_opt("subject", subject);
            let first_reply = messages
                .iter()
                .filter(|m| m.by_agent)
                .map(|m| m.sent_at)
                .min();
            row.put_opt(
                "firstReplyTimeInSeconds",
                first_reply.map(|t| whole_seconds(between(conv.start, t).max(0))),
            );
        }
    }
    row.done()
}

fn all_sessions<'c, 'a>(
    conv: &'c Conversation<'a>,
) -> impl Iterator<Item = (&'c Participant<'a>, &'c Session<'a>)> {
    conv.participants
        .iter()
        .flat_map(|p| p.sessions.iter().map(move |s| (p, s)))
}

fn agent_sessions<'c, 'a>(
    conv: &'c Conversation<'a>,
) -> impl Iterator<Item = (&'c Participant<'a>, &'c Session<'a>)> {
    all_sessions(conv).filter(|(p, s)| p.is(AGENT_PURPOSES) && !s.segments.is_empty())
}

/// conversationEndedReason from how the customer's part ended (the customer's last
/// segment with a disconnectType; any participant's latest one when the customer's
/// has none), within the values the set allows.
fn ended_reason(shape: &Shape) -> Option<&'static str> {
    let conv = shape.conv;
    let from_customer = shape
        .customer
        .into_iter()
        .flat_map(|p| &p.sessions)
        .flat_map(|s| &s.segments)
        .filter(|g| g.disconnect.is_some())
        .max_by_key(|g| g.end);
    let last = from_customer.or_else(|| {
        all_sessions(conv)
            .flat_map(|(_, s)| &s.segments)
            .filter(|g| g.disconnect.is_some())
            .max_by_key(|g| g.end)
    })?;
    let disconnect = last.disconnect?;
    let call = shape.medium == Medium::Call;
    Some(match disconnect {
        Disconnect::Own => match shape.medium {
            Medium::Call if abandoned_in_queue(conv) => "Abandoned",
            Medium::Email => "Default",
            _ => "CustomerDisconnected",
        },
        Disconnect::Timeout => "IdleTimeout",
        Disconnect::Transfer | Disconnect::Unanswered if call && has_external_party(shape) => {
            "TransferToExternal"
        }
        Disconnect::Error if call => "InternalError",
        Disconnect::Uncallable if call => "CustomerJoinFailed",
        _ => "Default",
    })
}

/// The customer left while queued: a queue (acd) segment ended because its peer, the
/// customer, went away, and no agent ever had the conversation.
fn abandoned_in_queue(conv: &Conversation) -> bool {
    let left_queue = all_sessions(conv)
        .filter(|(p, _)| p.purpose == "acd")
        .flat_map(|(_, s)| &s.segments)
        .any(|g| matches!(g.disconnect, Some(Disconnect::Peer | Disconnect::Own)));
    let answered = agent_sessions(conv).any(|(_, s)| s.first_of("interact").is_some());
    left_queue && !answered
}

fn has_external_party(shape: &Shape) -> bool {
    shape
        .conv
        .participants
        .iter()
        .any(|p| p.purpose == "external" && shape.customer.is_none_or(|c| c.index != p.index))
}

fn map_queue_segments(shape: &Shape, ctx: &mut Ctx) -> Vec<Record> {
    let conv = shape.conv;
    let mut rows = Vec::new();
    for (_, session) in all_sessions(conv).filter(|(p, _)| p.purpose == "acd") {
        // One row per run of consecutive segments in the same queue.
        for run in session.segments.chunk_by(|a, b| a.queue_id == b.queue_id) {
            let (Some(first), Some(last)) = (run.first(), run.last()) else {
                continue;
            };
            let Some(queue_id) = first.queue_id else {
                for g in run {
                    ctx.error(
                        format!("{}.queueId", g.path),
                        "is required for a queue (acd) segment but missing",
                    );
                }
                continue;
            };
            let open = run.iter().any(|g| g.end.is_none());
            let dequeued = if open { None } else { last.end };
            let mut row = Row::new("QueueSegments", &format!("{}:{}", session.id, first.index));
            row.put("conversationId", conv.id);
            row.put("queueId", queue_id);
            row.put("channelId", shape.channel_id.as_str());
            row.put("queuedAtUtc", stamp(first.start));
            row.time("dequeuedAtUtc", dequeued);
            row.put_opt(
                "durationInSeconds",
                dequeued.map(|d| whole_seconds(between(first.start, d))),
            );
            row.put_opt(
                "dequeuedReason",
                dequeued.and_then(|d| dequeued_reason(conv, first.start, d, last.disconnect)),
            );
            rows.push(row.done());
        }
    }
    rows
}

/// How long after leaving the queue an agent's interact segment still counts as the
/// connection that ended the wait (the two are stamped a few milliseconds apart).
const CONNECT_GRACE_MS: i64 = 5_000;

fn dequeued_reason(
    conv: &Conversation,
    queued: DateTime<Utc>,
    dequeued: DateTime<Utc>,
    disconnect: Option<Disconnect>,
) -> Option<&'static str> {
    match disconnect? {
        Disconnect::Transfer => {
            let connected = agent_sessions(conv)
                .flat_map(|(_, s)| s.of_kind("interact"))
                .any(|g| g.start >= queued && between(dequeued, g.start) <= CONNECT_GRACE_MS);
            // A transfer to another queue or a flow has no value in the model.
            connected.then_some("AgentConnected")
        }
        Disconnect::Peer | Disconnect::Own => Some("CustomerDisconnected"),
        Disconnect::Timeout => Some("QueueTimedOut"),
        _ => None,
    }
}

/// The flow's id or name, else the participant's name, else its purpose.
fn flow_label<'a>(participant: &Participant<'a>, session: &Session<'a>) -> String {
    let flow = session.src.get("flow").and_then(Value::as_object);
    flow.and_then(|f| text(f, "flowId"))
        .or_else(|| flow.and_then(|f| text(f, "flowName")))
        .or_else(|| participant.field("participantName"))
        .unwrap_or(participant.purpose.as_str())
        .to_string()
}

/// A flow session that only sends a mail or message (an auto-reply) is a message,
/// not time the customer spent in a bot.
fn is_outbound_send(session: &Session) -> bool {
    matches!(session.media.as_str(), "email" | "message")
        && session.direction == Some(Direction::Outbound)
}

fn map_bot_segments(shape: &Shape) -> Vec<Record> {
    let conv = shape.conv;
    all_sessions(conv)
        .filter(|(p, s)| p.is(FLOW_PURPOSES) && !s.segments.is_empty() && !is_outbound_send(s))
        .filter_map(|(p, s)| {
            let started = s.start()?;
            let ended = s.end();
            let mut row = Row::new("BotSegments", s.id);
            row.put("conversationId", conv.id);
            row.put("botStepId", flow_label(p, s));
            row.put("channelId", shape.channel_id.as_str());
            row.put("startedAtUtc", stamp(started));
            row.time("endedAtUtc", ended);
            row.put_opt(
                "durationInSeconds",
                ended.map(|e| whole_seconds(between(started, e))),
            );
            let last = s.segments.iter().max_by_key(|g| g.end);
            let result = ended.and(last.and_then(|g| g.disconnect)).map(|d| match d {
                Disconnect::Peer | Disconnect::Timeout => "CustomerDisconnected",
                Disconnect::Error => "Failed",
                _ => "Success",
            });
            row.put_opt("result", result);
            let flow = s.src.get("flow").and_then(Value::as_object);
            row.put_opt(
                "botFinishedResult",
                flow.and_then(|f| text(f, "exitReason")),
            );
            Some(row.done())
        })
        .collect()
}

/// An agent's outbound mail or message session next to an inbound one of the same
/// medium: the agent answering the conversation it already holds. It is a message,
/// not a second task.
fn is_reply(participant: &Participant, session: &Session) -> bool {
    is_outbound_send(session)
        && participant
            .sessions
            .iter()
            .any(|o| o.media == session.media && o.direction == Some(Direction::Inbound))
}

/// Workitems, WorkitemConversationSessions and AgentSegments: one of each per agent
/// (or user) session, reply sessions excepted.
fn map_agents(shape: &Shape, ctx: &mut Ctx) -> Vec<Record> {
    let conv = shape.conv;
    let customer_id = shape.customer.and_then(|c| c.field("externalContactId"));
    struct Assignment<'s> {
        session_id: &'s str,
        agent_id: String,
        queue_id: Option<String>,
        assigned: DateTime<Utc>,
        accepted: Option<DateTime<Utc>>,
        ended: Option<DateTime<Utc>>,
        end_reason: Option<&'static str>,
        unanswered: bool,
    }
    let mut rows = Vec::new();
    let mut assignments: Vec<Assignment> = Vec::new();
    for (participant, session) in agent_sessions(conv).filter(|(p, s)| !is_reply(p, s)) {
        let Some(agent_id) = participant.field("userId") else {
            ctx.error(
                format!("{}.userId", participant.path),
                "is required for an agent or user participant but missing",
            );
            continue;
        };
        let Some(start) = session.start() else {
            continue;
        };
        let end = session.end();
        let queue_id = session
            .first_of("alert")
            .and_then(|g| g.queue_id)
            .or_else(|| session.segments.iter().find_map(|g| g.queue_id));
        let interact = session.first_of("interact");
        // The agent's hold on the conversation: everything but the wrap-up.
        let work: Vec<&Segment> = session
            .segments
            .iter()
            .filter(|g| g.kind != "wrapup")
            .collect();
        let work_end = if work.iter().any(|g| g.end.is_none()) {
            None
        } else {
            work.iter().filter_map(|g| g.end).max()
        };
        let last_work = work.iter().copied().max_by_key(|g| g.end);
        let last_disconnect = last_work.and_then(|g| g.disconnect);
        let outbound = session.direction == Some(Direction::Outbound);

        // Workitems
        let mut item = Row::new("Workitems", session.id);
        item.put("agentId", agent_id);
        item.put_opt("queueId", queue_id);
        item.put("primaryConversationId", conv.id);
        item.put("primaryChannelId", shape.channel_id.as_str());
        item.put("mediaType", workitem_media(session));
        item.put("startTimeUtc", stamp(start));
        item.time("endTimeUtc", end);
        if let Some(end) = end {
            item.put("durationInSeconds", whole_seconds(between(start, end)));
            let preview = session
                .total_millis("alert")
                .or_else(|| session.metric("tAlert"));
            item.put("previewDuration", whole_seconds(preview.unwrap_or(0)));
            let active: i64 = work
                .iter()
                .filter(|g| g.kind != "alert")
                .filter_map(|g| g.millis())
                .sum();
            item.put("activeDurationInSeconds", whole_seconds(active));
            let wrap_up = session
                .total_millis("wrapup")
                .or_else(|| session.metric("tAcw"));
            item.put("wrapUpDuration", whole_seconds(wrap_up.unwrap_or(0)));
            let result = if interact.is_some() {
                "Handled"
            } else if outbound {
                "Cancelled"
            } else {
                match session.first_of("alert").and_then(|g| g.disconnect) {
                    Some(Disconnect::Peer) => "Abandoned",
                    Some(Disconnect::Own) => "Rejected",
                    _ => "Missed",
                }
            };
            item.put("result", result);
        }
        let wrap =
            session.segments.iter().rev().find(|g| {
                text(g.src, "wrapUpCode").is_some() || text(g.src, "wrapUpNote").is_some()
            });
        item.put_opt(
            "completionCode",
            wrap.and_then(|g| text(g.src, "wrapUpCode")),
        );
        item.put_opt("notes", wrap.and_then(|g| text(g.src, "wrapUpNote")));
        item.put_opt("customerId", customer_id);
        item.put_opt("scriptId", session.field("scriptId"));
        rows.push(item.done());

        // WorkitemConversationSessions
        let holds: Vec<&Segment> = session.of_kind("hold").collect();
        let mut held = Row::new("WorkitemConversationSessions", session.id);
        held.put("workitemId", session.id);
        held.put("conversationId", conv.id);
        held.put("holdCount", holds.len());
        held.put(
            "totalHoldDuration",
            whole_seconds(holds.iter().filter_map(|g| g.millis()).sum()),
        );
        held.put_opt(
            "lastHoldDuration",
            holds.last().and_then(|g| g.millis()).map(whole_seconds),
        );
        let ended_reason = work_end.map(|_| match (interact, last_disconnect) {
            (None, _) => "AgentFailedToJoin",
            (_, Some(Disconnect::Transfer | Disconnect::Unanswered | Disconnect::Takeover)) => {
                "Transferred"
            }
            (_, Some(Disconnect::Peer)) => "ConversationEnded",
            _ => "Default",
        });
        held.put_opt("endedReason", ended_reason);
        rows.push(held.done());

        // Only a wrap-up: no assignment to report.
        let Some(&first_work) = work.first() else {
            continue;
        };
        let assigned = session.first_of("alert").unwrap_or(first_work).start;
        let end_reason = work_end.and(last_disconnect).map(|d| match d {
            Disconnect::Transfer | Disconnect::Unanswered | Disconnect::Takeover => "transfer",
            Disconnect::Own => "agentClosed",
            Disconnect::Peer => "consumerClosed",
            _ => "systemClosed",
        });
        assignments.push(Assignment {
            session_id: session.id,
            agent_id: agent_id.to_string(),
            queue_id: queue_id.map(str::to_string),
            assigned,
            accepted: interact.map(|g| g.start),
            ended: work_end,
            end_reason,
            unanswered: interact.is_none(),
        });
    }

    // AgentSegments: the earliest assignment began the conversation's agent work;
    // every later one took it over from a queue, flow or agent.
    let first = assignments
        .iter()
        .enumerate()
        .min_by_key(|(i, a)| (a.assigned, *i))
        .map(|(i, _)| i);
    let last = assignments
        .iter()
        .enumerate()
        .max_by_key(|(i, a)| (a.assigned, *i))
        .map(|(i, _)| i);
    for (i, a) in assignments.iter().enumerate() {
        let mut row = Row::new("AgentSegments", a.session_id);
        row.put("conversationId", conv.id);
        row.put("agentId", a.agent_id.as_str());
        row.put("userType", "human");
        row.put_opt("queueId", a.queue_id.as_deref());
        let start_reason = if Some(i) == first {
            "newConversation"
        } else {
            "transfer"
        };
        row.put("startReason", start_reason);
        row.put("assignedAtUtc", stamp(a.assigned));
        row.time("acceptedAtUtc", a.accepted);
        row.time("endedAtUtc", a.ended);
        row.put_opt("endReason", a.end_reason);
        row.put_opt(
            "durationInMilliseconds",
            a.ended.map(|e| between(a.assigned, e)),
        );
        // Without message data the only thing the source says is "never answered".
        if a.ended.is_some() && a.unanswered {
            row.put("hasNonResponsiveAgent", true);
        }
        row.put("isLastInConversation", Some(i) == last);
        rows.push(row.done());
    }
    rows
}

struct MappedMessage {
    sent_at: DateTime<Utc>,
    by_agent: bool,
    row: Record,
}

/// One message per email or message session whose sender can be told: the
/// customer's inbound session, an agent's outbound one, a flow's outbound one (an
/// automatic reply, even while an agent is connected) and a campaign's outbound one.
fn map_messages(shape: &Shape) -> Vec<MappedMessage> {
    let conv = shape.conv;
    let mut out = Vec::new();
    for (participant, session) in all_sessions(conv) {
        let media = session.media.as_str();
        let Some(first) = session.start() else {
            continue;
        };
        if !matches!(media, "email" | "message") {
            continue;
        }
        let inbound = session.direction == Some(Direction::Inbound);
        let outbound = session.direction == Some(Direction::Outbound);
        let (sender, direction) = if participant.is(CUSTOMER_PURPOSES) && inbound {
            ("customer", "inbound")
        } else if participant.is(AGENT_PURPOSES) && outbound {
            ("agent", "outbound")
        } else if participant.is(&["workflow", "botflow"]) && outbound {
            ("flow", "outbound")
        } else if participant.is(CAMPAIGN_PURPOSES) && outbound {
            ("campaign", "outbound")
        } else {
            continue;
        };
        // An agent's outbound mail session is the composing of the reply: the mail
        // leaves when it ends. Everything else is sent when its session begins.
        let sent_at = if sender == "agent" && media == "email" {
            session
                .first_of("interact")
                .and_then(|g| g.end)
                .unwrap_or(first)
        } else {
            first
        };
        let mut row = Row::new("Messages", session.id);
        row.put("conversationId", conv.id);
        row.put("mediaType", media);
        row.put("sentAtUtc", stamp(sent_at));
        row.put("senderType", sender);
        row.put("isAutomated", matches!(sender, "flow" | "campaign"));
        row.put("direction", direction);
        match sender {
            "agent" => row.put_opt("agentId", participant.field("userId")),
            "flow" => row.put("botId", flow_label(participant, session)),
            "campaign" => row.put(
                "botId",
                session
                    .field("outboundCampaignId")
                    .or_else(|| participant.field("participantId"))
                    .unwrap_or(participant.purpose.as_str()),
            ),
            _ => {}
        }
        out.push(MappedMessage {
            sent_at,
            by_agent: sender == "agent",
            row: row.done(),
        });
    }
    out
}

fn captured_value(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Participant `attributes` (custom data set by flows or scripts) and segment
/// `properties` as name/value rows.
fn map_captured_data(shape: &Shape, ctx: &mut Ctx) -> Vec<Record> {
    let conv = shape.conv;
    let mut rows = Vec::new();
    for p in &conv.participants {
        let owner = p
            .field("participantId")
            .map_or_else(|| format!("{}:p{}", conv.id, p.index), str::to_string);
        if let Some(attributes) = p.src.get("attributes").and_then(Value::as_object) {
            let at = p.start().unwrap_or(conv.start);
            for (name, value) in attributes {
                let mut row = Row::new("CapturedData", &format!("{owner}:attr:{name}"));
                row.put("conversationId", conv.id);
                row.put("timestampUtc", stamp(at));
                row.put("name", name.as_str());
                row.put_opt("value", captured_value(value));
                rows.push(row.done());
            }
        }
        for s in &p.sessions {
            for g in &s.segments {
                let Some(properties) = g.src.get("properties").and_then(Value::as_array) else {
                    continue;
                };
                for (n, property) in properties.iter().enumerate() {
                    let path = format!("{}.properties[{n}]", g.path);
                    let Some(name) = property.as_object().and_then(|o| text(o, "property")) else {
                        ctx.error(format!("{path}.property"), "is required but missing");
                        continue;
                    };
                    let mut row =
                        Row::new("CapturedData", &format!("{}:{}:prop:{n}", s.id, g.index));
                    row.put("conversationId", conv.id);
                    row.put("timestampUtc", stamp(g.start));
                    row.put("name", name);
                    row.put_opt("value", property.get("value").and_then(captured_value));
                    rows.push(row.done());
                }
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edm::Model;
    use crate::ingest::record::Converter;
    use crate::store::tenants::Tenant;
    use serde_json::json;

    fn mapped(conv: &Value) -> MappedConversation {
        match map_conversation(conv, &ImportOptions::default()) {
            Ok(m) => {
                check_against_model(&m.records);
                m
            }
            Err(errors) => panic!("unexpected errors: {errors:?}"),
        }
    }

    /// Every record passes the ingest converter, and enumerated properties stay
    /// within their allowed values.
    fn check_against_model(records: &[Record]) {
        let model = Model::load().unwrap();
        let tenant = Tenant::for_tests("t1", "Europe/Budapest");
        for r in records {
            assert!(SETS.contains(&r.set), "{} is not in SETS", r.set);
            let set = model.entity_set(r.set).unwrap();
            let mut converter = Converter::new(&model, set, &tenant).unwrap();
            if let Err(e) = converter.convert(1, &Value::Object(r.fields.clone())) {
                panic!("{} row {:?} rejected: {e:?}", r.set, r.fields);
            }
            for (name, value) in &r.fields {
                let p = set.property(name).unwrap();
                if let (false, Some(s)) = (p.allowed_values.is_empty(), value.as_str()) {
                    assert!(
                        p.allowed_values.iter().any(|a| a == s),
                        "{}.{name} = {s} is not an allowed value",
                        r.set
                    );
                }
            }
        }
    }

    fn rows<'m>(m: &'m MappedConversation, set: &str) -> Vec<&'m Map<String, Value>> {
        m.records
            .iter()
            .filter(|r| r.set == set)
            .map(|r| &r.fields)
            .collect()
    }

    fn one<'m>(m: &'m MappedConversation, set: &str, id: &str) -> &'m Map<String, Value> {
        rows(m, set)
            .into_iter()
            .find(|f| f["id"] == id)
            .unwrap_or_else(|| panic!("no {set} row {id}"))
    }

    fn seg(kind: &str, start: &str, end: Option<&str>) -> Value {
        let mut s = json!({"segmentType": kind, "segmentStart": start});
        if let Some(end) = end {
            s["segmentEnd"] = json!(end);
        }
        s
    }

    fn with(mut v: Value, extra: Value) -> Value {
        if let (Value::Object(a), Value::Object(b)) = (&mut v, extra) {
            a.extend(b);
        }
        v
    }

    fn t(hms: &str) -> String {
        format!("2026-03-02T{hms}Z")
    }

    /// Inbound call: IVR, queue, one agent with two holds and a wrap-up.
    fn voice_call() -> Value {
        json!({
            "conversationId": "c-voice",
            "conversationStart": t("10:00:00.000"),
            "conversationEnd": t("10:07:00.000"),
            "originatingDirection": "inbound",
            "participants": [
                {
                    "participantId": "p-cust",
                    "participantName": "Anna Maria Kovacs",
                    "purpose": "customer",
                    "externalContactId": "ext-42",
                    "attributes": {"ivr.menu": "billing", "score": 3},
                    "sessions": [{
                        "sessionId": "s-cust", "mediaType": "voice", "direction": "inbound",
                        "ani": "tel:+3612345678", "dnis": "tel:+3680000000",
                        "segments": [with(seg("interact", &t("10:00:00.000"), Some(&t("10:06:30.000"))), json!({"disconnectType": "peer"}))]
                    }]
                },
                {
                    "participantId": "p-ivr", "participantName": "Main IVR", "purpose": "ivr",
                    "sessions": [{
                        "sessionId": "s-ivr", "mediaType": "voice", "direction": "inbound",
                        "flow": {"flowId": "flow-main", "flowName": "Main IVR", "flowType": "INBOUNDCALL", "exitReason": "TRANSFER"},
                        "segments": [with(seg("ivr", &t("10:00:00.100"), Some(&t("10:00:40.000"))), json!({
                            "disconnectType": "transfer",
                            "properties": [{"property": "language", "propertyType": "string", "value": "hu"}]
                        }))]
                    }]
                },
                {
                    "participantId": "p-acd", "purpose": "acd",
                    "sessions": [{
                        "sessionId": "s-acd", "mediaType": "voice", "direction": "inbound",
                        "metrics": [{"name": "tAcd", "value": 30000}],
                        "segments": [with(seg("interact", &t("10:00:40.000"), Some(&t("10:01:10.000"))), json!({"queueId": "q-billing", "disconnectType": "transfer"}))]
                    }]
                },
                {
                    "participantId": "p-agent", "userId": "u-1", "purpose": "agent",
                    "sessions": [{
                        "sessionId": "s-agent", "mediaType": "voice", "direction": "inbound",
                        "scriptId": "script-9",
                        "segments": [
                            with(seg("alert", &t("10:01:09.000"), Some(&t("10:01:10.000"))), json!({"queueId": "q-billing"})),
                            with(seg("interact", &t("10:01:10.000"), Some(&t("10:03:00.000"))), json!({"queueId": "q-billing"})),
                            seg("hold", &t("10:03:00.000"), Some(&t("10:03:45.000"))),
                            seg("interact", &t("10:03:45.000"), Some(&t("10:05:00.000"))),
                            seg("hold", &t("10:05:00.000"), Some(&t("10:05:20.000"))),
                            with(seg("interact", &t("10:05:20.000"), Some(&t("10:06:30.000"))), json!({"disconnectType": "client"})),
                            with(seg("wrapup", &t("10:06:30.000"), Some(&t("10:07:00.000"))), json!({"wrapUpCode": "wc-solved", "wrapUpNote": "refund issued"}))
                        ]
                    }]
                }
            ]
        })
    }

    #[test]
    fn voice_call_with_ivr_queue_agent_holds_and_wrap_up() {
        let m = mapped(&voice_call());
        assert_eq!(m.conversation_id, "c-voice");
        assert!(rows(&m, "Chats").is_empty() && rows(&m, "Emails").is_empty());

        let call = one(&m, "Calls", "c-voice");
        assert_eq!(call["channelId"], "genesys:voice:+3680000000");
        assert_eq!(call["channelType"], "Voice");
        assert_eq!(call["startedAtUtc"], "2026-03-02T10:00:00.000Z");
        assert_eq!(call["endedAtUtc"], "2026-03-02T10:07:00.000Z");
        assert_eq!(call["durationInSeconds"], 420);
        assert_eq!(call["isOutbound"], false);
        assert_eq!(call["isConsult"], false);
        assert_eq!(call["customerPhoneNumber"], "+3612345678");
        assert_eq!(call["channelPhoneNumber"], "+3680000000");
        assert_eq!(call["customerFirstName"], "Anna Maria");
        assert_eq!(call["customerLastName"], "Kovacs");
        assert_eq!(call["customerId"], "ext-42");
        assert_eq!(call["customerJoinedAtUtc"], "2026-03-02T10:00:00.000Z");
        assert_eq!(call["holdCount"], 2);
        assert_eq!(call["holdDurationInSeconds"], 65);
        // The agent hung up: the customer's leg ended by its peer.
        assert_eq!(call["conversationEndedReason"], "Default");

        let bot = one(&m, "BotSegments", "s-ivr");
        assert_eq!(bot["conversationId"], "c-voice");
        assert_eq!(bot["botStepId"], "flow-main");
        assert_eq!(bot["channelId"], "genesys:voice:+3680000000");
        assert_eq!(bot["startedAtUtc"], "2026-03-02T10:00:00.100Z");
        assert_eq!(bot["endedAtUtc"], "2026-03-02T10:00:40.000Z");
        assert_eq!(bot["durationInSeconds"], 40);
        assert_eq!(bot["result"], "Success");
        assert_eq!(bot["botFinishedResult"], "TRANSFER");

        let queue = one(&m, "QueueSegments", "s-acd:0");
        assert_eq!(queue["queueId"], "q-billing");
        assert_eq!(queue["queuedAtUtc"], "2026-03-02T10:00:40.000Z");
        assert_eq!(queue["dequeuedAtUtc"], "2026-03-02T10:01:10.000Z");
        assert_eq!(queue["durationInSeconds"], 30);
        assert_eq!(queue["dequeuedReason"], "AgentConnected");

        let item = one(&m, "Workitems", "s-agent");
        assert_eq!(item["agentId"], "u-1");
        assert_eq!(item["queueId"], "q-billing");
        assert_eq!(item["primaryConversationId"], "c-voice");
        assert_eq!(item["primaryChannelId"], "genesys:voice:+3680000000");
        assert_eq!(item["mediaType"], "voice");
        assert_eq!(item["startTimeUtc"], "2026-03-02T10:01:09.000Z");
        assert_eq!(item["endTimeUtc"], "2026-03-02T10:07:00.000Z");
        assert_eq!(item["durationInSeconds"], 351);
        assert_eq!(item["previewDuration"], 1);
        assert_eq!(item["activeDurationInSeconds"], 320);
        assert_eq!(item["wrapUpDuration"], 30);
        assert_eq!(item["result"], "Handled");
        assert_eq!(item["completionCode"], "wc-solved");
        assert_eq!(item["notes"], "refund issued");
        assert_eq!(item["customerId"], "ext-42");
        assert_eq!(item["scriptId"], "script-9");

        let held = one(&m, "WorkitemConversationSessions", "s-agent");
        assert_eq!(held["workitemId"], "s-agent");
        assert_eq!(held["conversationId"], "c-voice");
        assert_eq!(held["holdCount"], 2);
        assert_eq!(held["totalHoldDuration"], 65);
        assert_eq!(held["lastHoldDuration"], 20);
        assert_eq!(held["endedReason"], "Default");

        let seg = one(&m, "AgentSegments", "s-agent");
        assert_eq!(seg["agentId"], "u-1");
        assert_eq!(seg["userType"], "human");
        assert_eq!(seg["queueId"], "q-billing");
        assert_eq!(seg["startReason"], "newConversation");
        assert_eq!(seg["assignedAtUtc"], "2026-03-02T10:01:09.000Z");
        assert_eq!(seg["acceptedAtUtc"], "2026-03-02T10:01:10.000Z");
        assert_eq!(seg["endedAtUtc"], "2026-03-02T10:06:30.000Z");
        assert_eq!(seg["endReason"], "agentClosed");
        assert_eq!(seg["durationInMilliseconds"], 321_000);
        assert_eq!(seg["isLastInConversation"], true);
        assert!(!seg.contains_key("hasNonResponsiveAgent"));

        let captured = rows(&m, "CapturedData");
        assert_eq!(captured.len(), 3);
        let menu = one(&m, "CapturedData", "p-cust:attr:ivr.menu");
        assert_eq!(menu["name"], "ivr.menu");
        assert_eq!(menu["value"], "billing");
        assert_eq!(menu["timestampUtc"], "2026-03-02T10:00:00.000Z");
        assert_eq!(one(&m, "CapturedData", "p-cust:attr:score")["value"], "3");
        let language = one(&m, "CapturedData", "s-ivr:0:prop:0");
        assert_eq!(language["name"], "language");
        assert_eq!(language["value"], "hu");
        assert_eq!(language["timestampUtc"], "2026-03-02T10:00:00.100Z");

        // Voice has no message rows.
        assert!(rows(&m, "Messages").is_empty());
        // The same input gives the same rows (ids included).
        assert_eq!(mapped(&voice_call()), m);
    }

    /// Inbound email: a flow acknowledges it automatically while the agent already has
    /// it; the agent then replies.
    fn email_with_auto_reply() -> Value {
        json!({
            "conversationId": "c-mail",
            "conversationStart": t("09:00:00.000"),
            "conversationEnd": t("09:21:00.000"),
            "originatingDirection": "inbound",
            "participants": [
                {
                    "participantId": "p-cust", "participantName": "kim@example.com", "purpose": "customer",
                    "sessions": [{
                        "sessionId": "m-cust", "mediaType": "email", "direction": "inbound",
                        "addressFrom": "Kim@Example.com", "addressTo": "Support@Acme.example",
                        "segments": [with(seg("interact", &t("09:00:00.000"), Some(&t("09:21:00.000"))), json!({"subject": "Invoice question", "disconnectType": "peer"}))]
                    }]
                },
                {
                    "participantId": "p-flow", "participantName": "Inbound mail flow", "purpose": "workflow",
                    "sessions": [
                        {
                            "sessionId": "m-flow-in", "mediaType": "email", "direction": "inbound",
                            "flow": {"flowId": "flow-mail", "flowType": "INBOUNDEMAIL"},
                            "segments": [with(seg("interact", &t("09:00:00.200"), Some(&t("09:00:01.000"))), json!({"disconnectType": "transfer"}))]
                        },
                        {
                            "sessionId": "m-flow-ack", "mediaType": "email", "direction": "outbound",
                            "flow": {"flowId": "flow-ack", "flowName": "Acknowledge"},
                            "segments": [seg("interact", &t("09:05:00.000"), Some(&t("09:05:00.500")))]
                        }
                    ]
                },
                {
                    "participantId": "p-acd", "purpose": "acd",
                    "sessions": [{
                        "sessionId": "m-acd", "mediaType": "email", "direction": "inbound",
                        "segments": [with(seg("interact", &t("09:00:01.000"), Some(&t("09:00:30.000"))), json!({"queueId": "q-mail", "disconnectType": "transfer"}))]
                    }]
                },
                {
                    "participantId": "p-agent", "userId": "u-7", "purpose": "agent",
                    "sessions": [
                        {
                            "sessionId": "m-agent", "mediaType": "email", "direction": "inbound",
                            "segments": [
                                with(seg("alert", &t("09:00:29.000"), Some(&t("09:00:30.000"))), json!({"queueId": "q-mail"})),
                                with(seg("interact", &t("09:00:30.000"), Some(&t("09:20:00.000"))), json!({"queueId": "q-mail", "disconnectType": "client"})),
                                with(seg("wrapup", &t("09:20:00.000"), Some(&t("09:21:00.000"))), json!({"wrapUpCode": "wc-answered"}))
                            ]
                        },
                        {
                            "sessionId": "m-agent-reply", "mediaType": "email", "direction": "outbound",
                            "addressTo": "Kim@Example.com",
                            "segments": [with(seg("interact", &t("09:10:00.000"), Some(&t("09:15:00.000"))), json!({"disconnectType": "client"}))]
                        }
                    ]
                }
            ]
        })
    }

    #[test]
    fn email_flow_auto_reply_is_automated_even_while_an_agent_is_connected() {
        let m = mapped(&email_with_auto_reply());
        let mail = one(&m, "Emails", "c-mail");
        assert_eq!(mail["channelId"], "genesys:email:support@acme.example");
        assert_eq!(mail["channelType"], "Email");
        assert_eq!(mail["isOutbound"], false);
        assert_eq!(mail["threadId"], "c-mail");
        assert_eq!(mail["subject"], "Invoice question");
        assert_eq!(mail["customerEmailAddress"], "Kim@Example.com");
        // The flow's acknowledgement at 09:05 is not a reply; the agent's at 09:15 is.
        assert_eq!(mail["firstReplyTimeInSeconds"], 900);
        assert_eq!(mail["durationInSeconds"], 1260);
        assert_eq!(mail["conversationEndedReason"], "Default");
        // An address is not a name.
        assert!(!mail.contains_key("customerFirstName"));

        let customer = one(&m, "Messages", "m-cust");
        assert_eq!(customer["senderType"], "customer");
        assert_eq!(customer["direction"], "inbound");
        assert_eq!(customer["isAutomated"], false);
        assert_eq!(customer["mediaType"], "email");
        assert_eq!(customer["sentAtUtc"], "2026-03-02T09:00:00.000Z");

        let ack = one(&m, "Messages", "m-flow-ack");
        assert_eq!(ack["senderType"], "flow");
        assert_eq!(ack["isAutomated"], true);
        assert_eq!(ack["botId"], "flow-ack");
        assert_eq!(ack["direction"], "outbound");
        assert!(!ack.contains_key("agentId"));
        assert_eq!(ack["sentAtUtc"], "2026-03-02T09:05:00.000Z");

        let reply = one(&m, "Messages", "m-agent-reply");
        assert_eq!(reply["senderType"], "agent");
        assert_eq!(reply["isAutomated"], false);
        assert_eq!(reply["agentId"], "u-7");
        assert_eq!(reply["direction"], "outbound");
        assert_eq!(reply["sentAtUtc"], "2026-03-02T09:15:00.000Z");
        assert_eq!(rows(&m, "Messages").len(), 3);

        // The inbound flow session is bot time; the acknowledgement is not.
        let bots = rows(&m, "BotSegments");
        assert_eq!(bots.len(), 1);
        assert_eq!(bots[0]["id"], "m-flow-in");
        assert_eq!(bots[0]["botStepId"], "flow-mail");

        // The reply session is not a second task for the agent.
        let items = rows(&m, "Workitems");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["id"], "m-agent");
        assert_eq!(items[0]["mediaType"], "email");
        assert_eq!(items[0]["completionCode"], "wc-answered");
        assert_eq!(items[0]["wrapUpDuration"], 60);
        assert_eq!(rows(&m, "AgentSegments").len(), 1);
        assert_eq!(rows(&m, "WorkitemConversationSessions").len(), 1);
    }

    /// Chat: agent A takes it and transfers; agent C does not answer the offer; agent
    /// B handles it until the customer leaves.
    fn chat_transfer() -> Value {
        let acd = |sid: &str, q: &str, from: &str, to: &str| {
            json!({"participantId": format!("p-{sid}"), "purpose": "acd", "sessions": [{
                "sessionId": sid, "mediaType": "chat", "direction": "inbound",
                "segments": [with(seg("interact", &t(from), Some(&t(to))), json!({"queueId": q, "disconnectType": "transfer"}))]
            }]})
        };
        json!({
            "conversationId": "c-chat",
            "conversationStart": t("12:00:00.000"),
            "conversationEnd": t("12:20:00.000"),
            "originatingDirection": "inbound",
            "participants": [
                {
                    "participantId": "p-cust", "participantName": "Jo", "purpose": "customer",
                    "sessions": [{
                        "sessionId": "ch-cust", "mediaType": "chat", "direction": "inbound", "provider": "Webchat Provider",
                        "segments": [with(seg("interact", &t("12:00:00.000"), Some(&t("12:19:00.000"))), json!({"disconnectType": "client"}))]
                    }]
                },
                acd("ch-acd-1", "q-first", "12:00:00.010", "12:00:20.000"),
                {
                    "participantId": "p-a", "userId": "u-a", "purpose": "agent",
                    "sessions": [{
                        "sessionId": "ch-a", "mediaType": "chat", "direction": "inbound",
                        "segments": [
                            with(seg("alert", &t("12:00:19.000"), Some(&t("12:00:20.000"))), json!({"queueId": "q-first"})),
                            with(seg("interact", &t("12:00:20.000"), Some(&t("12:05:00.000"))), json!({"queueId": "q-first", "disconnectType": "transfer"})),
                            seg("wrapup", &t("12:05:00.000"), Some(&t("12:05:10.000")))
                        ]
                    }]
                },
                acd("ch-acd-2", "q-second", "12:05:00.000", "12:06:00.000"),
                {
                    "participantId": "p-c", "userId": "u-c", "purpose": "agent",
                    "sessions": [{
                        "sessionId": "ch-c", "mediaType": "chat", "direction": "inbound",
                        "segments": [with(seg("alert", &t("12:05:01.000"), Some(&t("12:05:31.000"))), json!({"queueId": "q-second", "disconnectType": "noAnswerTransfer"}))]
                    }]
                },
                {
                    "participantId": "p-b", "userId": "u-b", "purpose": "agent",
                    "sessions": [{
                        "sessionId": "ch-b", "mediaType": "chat", "direction": "inbound",
                        "segments": [
                            with(seg("alert", &t("12:05:32.000"), Some(&t("12:06:00.000"))), json!({"queueId": "q-second"})),
                            with(seg("interact", &t("12:06:00.000"), Some(&t("12:19:00.000"))), json!({"queueId": "q-second", "disconnectType": "peer"})),
                            seg("wrapup", &t("12:19:00.000"), Some(&t("12:20:00.000")))
                        ]
                    }]
                }
            ]
        })
    }

    #[test]
    fn chat_transferred_between_agents_with_a_missed_offer() {
        let m = mapped(&chat_transfer());
        let chat = one(&m, "Chats", "c-chat");
        assert_eq!(chat["channelType"], "Webchat");
        assert_eq!(chat["channelId"], "genesys:chat:Webchat Provider");
        assert_eq!(chat["conversationEndedReason"], "CustomerDisconnected");
        assert_eq!(chat["customerFirstName"], "Jo");
        assert!(!chat.contains_key("customerLastName"));
        assert!(
            !chat.contains_key("isOutbound"),
            "Chats has no direction column"
        );

        let a = one(&m, "AgentSegments", "ch-a");
        assert_eq!(a["startReason"], "newConversation");
        assert_eq!(a["endReason"], "transfer");
        assert_eq!(a["queueId"], "q-first");
        assert_eq!(a["endedAtUtc"], "2026-03-02T12:05:00.000Z");
        assert_eq!(a["isLastInConversation"], false);

        let c = one(&m, "AgentSegments", "ch-c");
        assert_eq!(c["startReason"], "transfer");
        assert!(!c.contains_key("acceptedAtUtc"));
        assert_eq!(c["endReason"], "transfer");
        assert_eq!(c["hasNonResponsiveAgent"], true);
        assert_eq!(c["durationInMilliseconds"], 30_000);
        assert_eq!(c["isLastInConversation"], false);

        let b = one(&m, "AgentSegments", "ch-b");
        assert_eq!(b["startReason"], "transfer");
        assert_eq!(b["acceptedAtUtc"], "2026-03-02T12:06:00.000Z");
        assert_eq!(b["endReason"], "consumerClosed");
        assert_eq!(b["isLastInConversation"], true);

        assert_eq!(one(&m, "Workitems", "ch-a")["result"], "Handled");
        assert_eq!(one(&m, "Workitems", "ch-a")["mediaType"], "webchat");
        assert_eq!(one(&m, "Workitems", "ch-c")["result"], "Missed");
        assert_eq!(one(&m, "Workitems", "ch-c")["activeDurationInSeconds"], 0);
        assert_eq!(one(&m, "Workitems", "ch-b")["result"], "Handled");
        assert_eq!(
            one(&m, "WorkitemConversationSessions", "ch-a")["endedReason"],
            "Transferred"
        );
        assert_eq!(
            one(&m, "WorkitemConversationSessions", "ch-c")["endedReason"],
            "AgentFailedToJoin"
        );
        assert_eq!(
            one(&m, "WorkitemConversationSessions", "ch-b")["endedReason"],
            "ConversationEnded"
        );

        assert_eq!(
            one(&m, "QueueSegments", "ch-acd-1:0")["dequeuedReason"],
            "AgentConnected"
        );
        assert_eq!(
            one(&m, "QueueSegments", "ch-acd-2:0")["dequeuedReason"],
            "AgentConnected"
        );
        // Chat transcripts are not in the export.
        assert!(rows(&m, "Messages").is_empty());
    }

    #[test]
    fn end_is_the_latest_segment_end_when_the_export_lacks_it() {
        let mut conv = chat_transfer();
        conv.as_object_mut().unwrap().remove("conversationEnd");
        let m = mapped(&conv);
        let chat = one(&m, "Chats", "c-chat");
        // Agent B's wrap-up is the last thing that ends.
        assert_eq!(chat["endedAtUtc"], "2026-03-02T12:20:00.000Z");
        assert_eq!(chat["durationInSeconds"], 1200);
    }

    #[test]
    fn an_open_segment_leaves_the_conversation_and_the_task_open() {
        let mut conv = chat_transfer();
        conv.as_object_mut().unwrap().remove("conversationEnd");
        // Agent B is still in wrap-up.
        conv["participants"][5]["sessions"][0]["segments"][2]
            .as_object_mut()
            .unwrap()
            .remove("segmentEnd");
        let m = mapped(&conv);
        let chat = one(&m, "Chats", "c-chat");
        assert!(!chat.contains_key("endedAtUtc"));
        assert!(!chat.contains_key("durationInSeconds"));
        assert!(!chat.contains_key("conversationEndedReason"));
        let b = one(&m, "Workitems", "ch-b");
        assert!(!b.contains_key("endTimeUtc"));
        assert!(!b.contains_key("result"));
        assert!(!b.contains_key("wrapUpDuration"));
        // Its hold on the conversation ended with the interaction, before the wrap-up.
        assert_eq!(
            one(&m, "AgentSegments", "ch-b")["endReason"],
            "consumerClosed"
        );
    }

    #[test]
    fn unmappable_conversations_name_the_conversation_and_the_field() {
        let mut conv = voice_call();
        conv["participants"][3]["sessions"][0]["segments"][1]
            .as_object_mut()
            .unwrap()
            .remove("segmentStart");
        conv["participants"][3]
            .as_object_mut()
            .unwrap()
            .remove("userId");
        conv["participants"][2]["sessions"][0]["segments"][0]["segmentEnd"] = json!("yesterday");
        let errors = map_conversation(&conv, &ImportOptions::default()).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "participants[2].sessions[0].segments[0].segmentEnd",
                "participants[3].sessions[0].segments[1].segmentStart",
            ],
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .all(|e| e.conversation_id.as_deref() == Some("c-voice"))
        );
        assert!(errors[1].to_string().contains("conversation 'c-voice'"));

        // Once the times are readable, the missing agent id is reported.
        let mut conv = voice_call();
        conv["participants"][3]
            .as_object_mut()
            .unwrap()
            .remove("userId");
        let errors = map_conversation(&conv, &ImportOptions::default()).unwrap_err();
        assert_eq!(errors[0].field, "participants[3].userId");

        let errors = map_conversation(
            &json!({"conversationStart": t("10:00:00.000"), "participants": []}),
            &ImportOptions::default(),
        )
        .unwrap_err();
        assert_eq!(errors[0].field, "conversationId");
        assert_eq!(errors[0].conversation_id, None);

        let no_media = json!({"conversationId": "c-x", "conversationStart": t("10:00:00.000"), "participants": [
            {"purpose": "customer", "sessions": [{"sessionId": "s", "mediaType": "cobrowse", "segments": []}]}
        ]});
        let errors = map_conversation(&no_media, &ImportOptions::default()).unwrap_err();
        assert_eq!(errors[0].field, "participants");

        let mut acd_without_queue = voice_call();
        acd_without_queue["participants"][2]["sessions"][0]["segments"][0]
            .as_object_mut()
            .unwrap()
            .remove("queueId");
        let errors = map_conversation(&acd_without_queue, &ImportOptions::default()).unwrap_err();
        assert_eq!(
            errors[0].field,
            "participants[2].sessions[0].segments[0].queueId"
        );
    }

    #[test]
    fn abandoned_in_queue_and_outbound_calls() {
        let conv = json!({
            "conversationId": "c-ab", "conversationStart": t("08:00:00.000"), "originatingDirection": "inbound",
            "participants": [
                {"purpose": "customer", "sessions": [{"sessionId": "a-c", "mediaType": "voice", "direction": "inbound", "ani": "+111", "dnis": "+222",
                    "segments": [with(seg("interact", &t("08:00:00.000"), Some(&t("08:02:00.000"))), json!({"disconnectType": "endpoint"}))]}]},
                {"purpose": "acd", "sessions": [{"sessionId": "a-q", "mediaType": "voice",
                    "segments": [with(seg("interact", &t("08:00:05.000"), Some(&t("08:02:00.000"))), json!({"queueId": "q", "disconnectType": "peer"}))]}]}
            ]
        });
        let m = mapped(&conv);
        let call = one(&m, "Calls", "c-ab");
        assert_eq!(call["conversationEndedReason"], "Abandoned");
        assert_eq!(call["endedAtUtc"], "2026-03-02T08:02:00.000Z");
        assert_eq!(call["holdCount"], 0);
        assert_eq!(
            one(&m, "QueueSegments", "a-q:0")["dequeuedReason"],
            "CustomerDisconnected"
        );

        let outbound = json!({
            "conversationId": "c-out", "conversationStart": t("08:00:00.000"), "conversationEnd": t("08:01:00.000"),
            "originatingDirection": "outbound",
            "participants": [
                {"purpose": "agent", "userId": "u-1", "sessions": [{"sessionId": "o-a", "mediaType": "voice", "direction": "outbound",
                    "segments": [with(seg("dialing", &t("08:00:00.000"), Some(&t("08:00:20.000"))), json!({"disconnectType": "client"}))]}]},
                {"purpose": "customer", "sessions": [{"sessionId": "o-c", "mediaType": "voice", "direction": "outbound", "ani": "tel:+222", "dnis": "tel:+333",
                    "segments": [with(seg("contacting", &t("08:00:01.000"), Some(&t("08:00:20.000"))), json!({"disconnectType": "uncallable"}))]}]}
            ]
        });
        let m = mapped(&outbound);
        let call = one(&m, "Calls", "c-out");
        assert_eq!(call["isOutbound"], true);
        assert_eq!(call["customerPhoneNumber"], "+333");
        assert_eq!(call["channelPhoneNumber"], "+222");
        assert_eq!(call["channelId"], "genesys:voice:+222");
        assert!(!call.contains_key("customerJoinedAtUtc"));
        assert_eq!(call["conversationEndedReason"], "CustomerJoinFailed");
        let item = one(&m, "Workitems", "o-a");
        assert_eq!(item["result"], "Cancelled");
        assert!(!item.contains_key("queueId"));
        let seg = one(&m, "AgentSegments", "o-a");
        assert_eq!(seg["assignedAtUtc"], "2026-03-02T08:00:00.000Z");
        assert_eq!(seg["endReason"], "agentClosed");
    }

    #[test]
    fn messaging_conversations_go_to_chats() {
        let conv = json!({
            "conversationId": "c-wa", "conversationStart": t("07:00:00.000"), "conversationEnd": t("07:10:00.000"),
            "participants": [
                {"purpose": "customer", "sessions": [{"sessionId": "w-c", "mediaType": "message", "messageType": "whatsapp", "direction": "inbound",
                    "addressFrom": "+4411", "addressTo": "+4499",
                    "segments": [with(seg("interact", &t("07:00:00.000"), Some(&t("07:10:00.000"))), json!({"disconnectType": "inactivity"}))]}]},
                {"purpose": "campaign", "participantId": "p-camp", "sessions": [{"sessionId": "w-camp", "mediaType": "message", "direction": "outbound",
                    "outboundCampaignId": "camp-1", "segments": [seg("interact", &t("06:59:00.000"), Some(&t("06:59:01.000")))]}]},
                {"purpose": "agent", "userId": "u-5", "sessions": [{"sessionId": "w-a", "mediaType": "message", "messageType": "whatsapp", "direction": "inbound",
                    "segments": [seg("interact", &t("07:01:00.000"), Some(&t("07:09:00.000")))]}]}
            ]
        });
        let m = mapped(&conv);
        let chat = one(&m, "Chats", "c-wa");
        assert_eq!(chat["channelId"], "genesys:message:whatsapp:+4499");
        assert_eq!(chat["channelType"], "Webchat");
        assert_eq!(chat["conversationEndedReason"], "IdleTimeout");
        assert_eq!(one(&m, "Workitems", "w-a")["mediaType"], "whatsapp");
        let campaign = one(&m, "Messages", "w-camp");
        assert_eq!(campaign["senderType"], "campaign");
        assert_eq!(campaign["isAutomated"], true);
        assert_eq!(campaign["botId"], "camp-1");
        assert_eq!(campaign["mediaType"], "message");
        assert_eq!(one(&m, "Messages", "w-c")["senderType"], "customer");
    }

    #[test]
    fn unpadded_dates_are_read() {
        assert_eq!(
            parse_instant("2021-04-2T15:30:51.418Z")
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
            Some("2021-04-02T15:30:51.418Z".to_string())
        );
        assert_eq!(
            parse_instant("2021-04-02T17:30:51.4189+02:00")
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
            Some("2021-04-02T15:30:51.418Z".to_string())
        );
        assert_eq!(parse_instant("2021-4-2"), None);
        assert_eq!(parse_instant("2021-04-02T15:30:51"), None);
    }

    #[test]
    fn document_shapes() {
        let doc = json!({"conversations": [{"conversationId": "a"}], "totalHits": 1});
        assert_eq!(conversations(&doc).unwrap().len(), 1);
        let page = json!({"conversations": [], "cursor": "abc"});
        assert_eq!(conversations(&page).unwrap().len(), 0);
        assert_eq!(conversations(&json!({"totalHits": 0})).unwrap().len(), 0);
        // A bare array of conversations and a single conversation are taken as they are.
        let bare = json!([{"conversationId": "a"}, {"conversationId": "b"}]);
        assert_eq!(conversations(&bare).unwrap().len(), 2);
        let single = json!({"conversationId": "a", "participants": []});
        assert_eq!(
            conversations(&single).unwrap(),
            std::slice::from_ref(&single)
        );
        let err = conversations(&json!({"data": []})).unwrap_err();
        assert_eq!(err.field, "conversations");
        assert!(conversations(&json!({"conversations": {}})).is_err());
        assert!(conversations(&json!("x")).is_err());
    }

    #[test]
    fn one_queue_session_that_changes_queue_gives_two_rows() {
        let mut conv = voice_call();
        conv["participants"][2]["sessions"][0]["segments"] = json!([
            with(
                seg("interact", &t("10:00:40.000"), Some(&t("10:00:50.000"))),
                json!({"queueId": "q-a"})
            ),
            with(
                seg("interact", &t("10:00:50.000"), Some(&t("10:01:10.000"))),
                json!({"queueId": "q-b", "disconnectType": "transfer"})
            )
        ]);
        let m = mapped(&conv);
        let a = one(&m, "QueueSegments", "s-acd:0");
        assert_eq!(a["queueId"], "q-a");
        assert_eq!(a["durationInSeconds"], 10);
        assert!(!a.contains_key("dequeuedReason"));
        let b = one(&m, "QueueSegments", "s-acd:1");
        assert_eq!(b["queueId"], "q-b");
        assert_eq!(b["dequeuedReason"], "AgentConnected");
    }

    #[test]
    fn addresses_lose_their_scheme_and_odd_text_is_safe() {
        assert_eq!(strip_scheme("tel:+3612345"), "+3612345");
        assert_eq!(strip_scheme("SIP:agent@pbx"), "agent@pbx");
        assert_eq!(strip_scheme("tél:+36"), "tél:+36");
        assert_eq!(strip_scheme("é"), "é");
        assert_eq!(strip_scheme("tel:"), "tel:");
        assert_eq!(
            split_name("Ádám Őz"),
            Some(("Ádám".into(), Some("Őz".into())))
        );
        assert_eq!(split_name("+36 1 234"), None);
    }

    /// Wrong types and strange values anywhere give errors or rows, never a panic.
    #[test]
    fn odd_values_never_panic() {
        let odd = [
            json!(null),
            json!(17),
            json!(-1.5e300),
            json!("ő\u{0}🙂"),
            json!([]),
            json!({}),
            json!(true),
            json!("2026-13-40T99:00:00Z"),
        ];
        let paths: &[&[&str]] = &[
            &["conversationStart"],
            &["conversationEnd"],
            &["originatingDirection"],
            &["participants"],
            &["participants", "0"],
            &["participants", "0", "purpose"],
            &["participants", "0", "participantName"],
            &["participants", "0", "attributes"],
            &["participants", "0", "sessions"],
            &["participants", "0", "sessions", "0", "ani"],
            &["participants", "0", "sessions", "0", "direction"],
            &["participants", "0", "sessions", "0", "mediaType"],
            &["participants", "1", "sessions", "0", "flow"],
            &[
                "participants",
                "1",
                "sessions",
                "0",
                "segments",
                "0",
                "properties",
            ],
            &["participants", "2", "sessions", "0", "metrics"],
            &["participants", "3", "sessions", "0", "segments"],
            &["participants", "3", "sessions", "0", "segments", "1"],
            &[
                "participants",
                "3",
                "sessions",
                "0",
                "segments",
                "1",
                "segmentType",
            ],
            &[
                "participants",
                "3",
                "sessions",
                "0",
                "segments",
                "1",
                "disconnectType",
            ],
            &[
                "participants",
                "3",
                "sessions",
                "0",
                "segments",
                "6",
                "wrapUpCode",
            ],
        ];
        for path in paths {
            for value in &odd {
                let mut conv = voice_call();
                let mut at = &mut conv;
                for key in &path[..path.len() - 1] {
                    at = match key.parse::<usize>() {
                        Ok(i) => &mut at[i],
                        Err(_) => &mut at[*key],
                    };
                }
                let last = path[path.len() - 1];
                match last.parse::<usize>() {
                    Ok(i) => at[i] = value.clone(),
                    Err(_) => at[last] = value.clone(),
                }
                // Whatever maps must also pass the ingest validation.
                if let Ok(m) = map_conversation(&conv, &ImportOptions::default()) {
                    check_against_model(&m.records);
                }
            }
        }
        for doc in &odd {
            let _ = conversations(doc);
            let _ = map_conversation(doc, &ImportOptions::default());
        }
    }
}
