//! The agent-segment model: which message belongs to which agent segment, and the
//! per-segment counts, first-response and response times and flags that follow from
//! that. Sources send the raw facts (who was assigned when, who wrote what when);
//! ccfeed derives the rest here, so every tenant's numbers mean the same thing and a
//! per-agent, per-queue or per-interval metric is a plain average or count of columns.
//!
//! [`compute`] is the rule book, pure and unit-tested; [`refresh`] loads the rows of
//! some conversations, runs it, and writes back the rows whose derived columns changed
//! (inside the caller's transaction, so an ingest or import commits data and metrics
//! together).
//!
//! The rules, per conversation:
//!
//! - A message belongs to the segment whose `[assignedAt, endedAt)` holds its `sentAt`
//!   (an open segment runs to +∞). At a hand-over instant the new segment wins, and if
//!   segments overlap the most recently assigned one that holds the message wins.
//! - Only the assigned agent's own messages to the customer count as agent messages: in
//!   a human segment `senderType` `agent` with the segment's `agentId` (not automated),
//!   in a bot segment `senderType` `bot` with the segment's `agentId` as `botId`.
//!   System (controller bot) notices, flow and campaign auto-replies, other people's
//!   messages (a supervisor who is not the assigned agent) and internal notes are left
//!   out of counts and response times. Customer messages are `senderType` `customer`.
//! - The first agent message is measured from `assignedAt` only when the segment began
//!   a new conversation or followed a transfer; after a takeover or a resume it is not
//!   a response at all (no first-response time, no response time).
//! - A counted agent message answers the customer when a customer message is waiting
//!   for an answer in the segment: its response time runs from the later of
//!   `assignedAt` and the oldest waiting customer message. The segment's first agent
//!   message with nothing waiting is measured from `assignedAt`; a later one with
//!   nothing waiting (agent wrote twice in a row) is not a response.
//! - The flags are null while the segment is open. "Non-responsive consumer" and
//!   "non-responsive agent" follow their names: the vendor definitions these come from
//!   (see `docs/agent-segments.md`) have the two descriptions garbled, one repeating
//!   the interactive-segment text and the other describing a silent agent, so we define
//!   them as "the agent wrote and the customer never wrote back" and "the agent never
//!   wrote".
//! - A conversation without any Messages rows keeps the message-derived values the
//!   source gave (an importer may know the first-response time without the messages);
//!   `isLastInConversation` and `durationInMilliseconds` are always computed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::edm::{EntitySet, Model, Storage};
use crate::store::scoped;
use crate::store::tenants::Tenant;
use crate::store::{Built, ColumnKind, Conn, RowBuilder, RowWriter, StoreError, Value};

/// Conversation ids bound per loading statement.
const CONVERSATION_CHUNK: usize = 500;

/// The values of a segment that come from its messages. Every field is optional so the
/// same type holds what the source gave when there are no messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageMetrics {
    pub first_agent_message_at: Option<DateTime<Utc>>,
    pub agent_message_count: Option<i64>,
    pub consumer_message_count: Option<i64>,
    pub time_to_first_response_ms: Option<i64>,
    pub response_count: Option<i64>,
    pub total_response_time_ms: Option<i64>,
    pub is_interactive: Option<bool>,
    pub is_abandoned_by_consumer: Option<bool>,
    pub has_non_responsive_consumer: Option<bool>,
    pub has_non_responsive_agent: Option<bool>,
}

/// One AgentSegments row as the computation needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub id: String,
    pub agent_id: String,
    pub user_type: String,
    pub start_reason: String,
    pub assigned_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    /// The message-derived values as stored (the source's, or an earlier computation).
    pub stored: MessageMetrics,
}

/// One Messages row as the computation needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: String,
    pub sent_at: DateTime<Utc>,
    pub sender_type: String,
    pub agent_id: Option<String>,
    pub bot_id: Option<String>,
    pub direction: String,
    pub is_automated: bool,
}

/// The derived columns of one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentResult {
    pub metrics: MessageMetrics,
    pub is_last_in_conversation: bool,
    pub duration_ms: Option<i64>,
}

/// The derived columns of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageResult {
    pub agent_segment_id: Option<String>,
    pub response_time_ms: Option<i64>,
}

/// Whether a segment's first agent message is a first response (measured from the
/// assignment): only when the agent got the conversation new or by a transfer.
fn measures_first_response(start_reason: &str) -> bool {
    matches!(start_reason, "newConversation" | "transfer")
}

/// End reasons after which a silent agent or customer counts as non-responsive.
fn silence_counts_after(end_reason: Option<&str>) -> bool {
    matches!(
        end_reason,
        Some("transfer" | "agentClosed" | "systemClosed")
    )
}

/// Whether `message` is the assigned agent's own message to the customer.
fn is_assigned_agents(segment: &Segment, message: &Message) -> bool {
    if message.direction == "internal" {
        return false;
    }
    let sender = if segment.user_type == "bot" {
        (message.sender_type == "bot").then_some(&message.bot_id)
    } else {
        (message.sender_type == "agent" && !message.is_automated).then_some(&message.agent_id)
    };
    matches!(sender, Some(Some(id)) if *id == segment.agent_id)
}

fn is_customers(message: &Message) -> bool {
    message.sender_type == "customer"
}

fn millis_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_milliseconds()
}

/// The derived columns of one conversation's segments and messages, in input order.
pub fn compute(
    segments: &[Segment],
    messages: &[Message],
) -> (Vec<SegmentResult>, Vec<MessageResult>) {
    // Segments by assignment (id breaks ties), so "later" is well defined.
    let mut order: Vec<usize> = (0..segments.len()).collect();
    order.sort_by(|&a, &b| {
        (segments[a].assigned_at, &segments[a].id).cmp(&(segments[b].assigned_at, &segments[b].id))
    });
    let last = order.last().copied();

    let mut segment_results: Vec<SegmentResult> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| SegmentResult {
            metrics: s.stored.clone(),
            is_last_in_conversation: Some(i) == last,
            duration_ms: s.ended_at.map(|end| millis_between(s.assigned_at, end)),
        })
        .collect();
    let mut message_results = vec![MessageResult::default(); messages.len()];
    if messages.is_empty() {
        return (segment_results, message_results);
    }

    // Each message's segment: the latest-assigned segment whose span holds it.
    let mut by_segment: Vec<Vec<usize>> = vec![Vec::new(); segments.len()];
    let mut message_order: Vec<usize> = (0..messages.len()).collect();
    message_order.sort_by(|&a, &b| {
        (messages[a].sent_at, &messages[a].id).cmp(&(messages[b].sent_at, &messages[b].id))
    });
    for &m in &message_order {
        let sent = messages[m].sent_at;
        let holder = order.iter().rev().copied().find(|&s| {
            let seg = &segments[s];
            seg.assigned_at <= sent && seg.ended_at.is_none_or(|end| sent < end)
        });
        if let Some(s) = holder {
            by_segment[s].push(m);
            message_results[m].agent_segment_id = Some(segments[s].id.clone());
        }
    }

    for (s, segment) in segments.iter().enumerate() {
        let is_last = segment_results[s].is_last_in_conversation;
        let measures_first = measures_first_response(&segment.start_reason);
        let mut first_agent_message_at: Option<DateTime<Utc>> = None;
        let mut agent_messages = 0i64;
        let mut consumer_messages = 0i64;
        let mut customer_wrote_after_agent = false;
        // The oldest customer message of this segment the agent has not answered yet.
        let mut waiting_since: Option<DateTime<Utc>> = None;
        let mut responses = 0i64;
        let mut total_response_ms = 0i64;
        for &m in &by_segment[s] {
            let message = &messages[m];
            if is_customers(message) {
                consumer_messages += 1;
                customer_wrote_after_agent |= first_agent_message_at.is_some();
                waiting_since.get_or_insert(message.sent_at);
            } else if is_assigned_agents(segment, message) {
                agent_messages += 1;
                let is_first = first_agent_message_at.is_none();
                if is_first {
                    first_agent_message_at = Some(message.sent_at);
                }
                let measured_from = match (waiting_since, is_first) {
                    // The first message after a takeover or resume is no response.
                    (_, true) if !measures_first => None,
                    (Some(waiting), _) => Some(waiting.max(segment.assigned_at)),
                    (None, true) => Some(segment.assigned_at),
                    (None, false) => None,
                };
                if let Some(from) = measured_from {
                    let response = millis_between(from, message.sent_at);
                    responses += 1;
                    total_response_ms = total_response_ms.saturating_add(response);
                    message_results[m].response_time_ms = Some(response);
                }
                waiting_since = None;
            }
        }
        let ended = segment.ended_at.is_some();
        let silence_counts = silence_counts_after(segment.end_reason.as_deref());
        let agent_wrote = agent_messages > 0;
        segment_results[s].metrics = MessageMetrics {
            first_agent_message_at,
            agent_message_count: Some(agent_messages),
            consumer_message_count: Some(consumer_messages),
            time_to_first_response_ms: first_agent_message_at
                .filter(|_| measures_first)
                .map(|first| millis_between(segment.assigned_at, first)),
            response_count: Some(responses),
            total_response_time_ms: Some(total_response_ms),
            is_interactive: ended.then_some(customer_wrote_after_agent),
            is_abandoned_by_consumer: ended.then_some(
                is_last && segment.end_reason.as_deref() == Some("consumerClosed") && !agent_wrote,
            ),
            has_non_responsive_consumer: ended
                .then_some(silence_counts && agent_wrote && !customer_wrote_after_agent),
            has_non_responsive_agent: ended.then_some(silence_counts && !agent_wrote),
        };
    }
    (segment_results, message_results)
}

// ---------------------------------------------------------------------------------
// Loading and writing back.

/// Positions of the properties this module reads or writes, looked up once by name so
/// a model without them fails with a message instead of a panic.
struct Columns<'m> {
    set: &'m EntitySet,
    by_name: HashMap<&'static str, usize>,
}

impl<'m> Columns<'m> {
    fn new(model: &'m Model, set: &str, names: &[&'static str]) -> Result<Columns<'m>, StoreError> {
        let set = model
            .entity_set(set)
            .ok_or_else(|| StoreError::Invalid(format!("the model has no entity set {set}")))?;
        let mut by_name = HashMap::new();
        for &name in names {
            let index = set.property_id(name).map(|id| id.index()).ok_or_else(|| {
                StoreError::Invalid(format!("the model's {} has no property {name}", set.name))
            })?;
            by_name.insert(name, index);
        }
        Ok(Columns { set, by_name })
    }

    fn at(&self, name: &str) -> usize {
        // Every name used below was checked in `new`.
        self.by_name.get(name).copied().unwrap_or(usize::MAX)
    }

    /// All rows of the set for these conversations, every property in model order.
    fn load(
        &self,
        conn: &mut Conn,
        tenant: &Tenant,
        conversation_ids: &[&str],
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        let conversation_column = &self.set.properties[self.at("conversationId")].column;
        scoped::rows_where_in(
            conn,
            tenant.scope(),
            self.set,
            conversation_column,
            conversation_ids,
        )
    }

    fn text(&self, row: &[Value], name: &str) -> Option<String> {
        match row.get(self.at(name)) {
            Some(Value::Text(s)) => Some(s.clone()),
            _ => None,
        }
    }

    fn int(&self, row: &[Value], name: &str) -> Option<i64> {
        match row.get(self.at(name)) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }

    fn bool(&self, row: &[Value], name: &str) -> Option<bool> {
        match row.get(self.at(name)) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// An instant column: PostgreSQL gives instants, SQLite the stored text.
    fn instant(&self, row: &[Value], name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        match row.get(self.at(name)) {
            Some(Value::Instant(t)) => Ok(Some(*t)),
            Some(Value::Text(s)) => crate::store::parse_instant(s).map(Some).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "{}.{name} holds '{s}', not an instant",
                    self.set.name
                ))
            }),
            _ => Ok(None),
        }
    }

    fn required_text(&self, row: &[Value], name: &str) -> Result<String, StoreError> {
        self.text(row, name)
            .ok_or_else(|| StoreError::Corrupt(format!("{}.{name} is missing", self.set.name)))
    }

    fn required_instant(&self, row: &[Value], name: &str) -> Result<DateTime<Utc>, StoreError> {
        self.instant(row, name)?
            .ok_or_else(|| StoreError::Corrupt(format!("{}.{name} is missing", self.set.name)))
    }

    /// The stored row as values to build it again, instants as instants on both
    /// backends.
    fn binds(&self, row: &[Value]) -> Vec<Value> {
        row.iter()
            .zip(&self.set.properties)
            .map(|(v, p)| match (v, ColumnKind::of(p)) {
                (Value::Text(s), ColumnKind::Instant) => match crate::store::parse_instant(s) {
                    Some(t) => Value::Instant(t),
                    None => Value::Text(s.clone()),
                },
                (v, _) => v.clone(),
            })
            .collect()
    }
}

const SEGMENT_COLUMNS: &[&str] = &[
    "id",
    "conversationId",
    "agentId",
    "userType",
    "startReason",
    "assignedAtUtc",
    "endedAtUtc",
    "endReason",
    "firstAgentMessageAtUtc",
    "agentMessageCount",
    "consumerMessageCount",
    "timeToFirstResponseInMilliseconds",
    "responseCount",
    "totalResponseTimeInMilliseconds",
    "isInteractive",
    "isAbandonedByConsumer",
    "hasNonResponsiveConsumer",
    "hasNonResponsiveAgent",
    "isLastInConversation",
    "durationInMilliseconds",
];

const MESSAGE_COLUMNS: &[&str] = &[
    "id",
    "conversationId",
    "sentAtUtc",
    "senderType",
    "agentId",
    "botId",
    "direction",
    "isAutomated",
    "agentSegmentId",
    "responseTimeInMilliseconds",
];

fn segment_from(c: &Columns<'_>, row: &[Value]) -> Result<Segment, StoreError> {
    Ok(Segment {
        id: c.required_text(row, "id")?,
        agent_id: c.required_text(row, "agentId")?,
        user_type: c.required_text(row, "userType")?,
        start_reason: c.required_text(row, "startReason")?,
        assigned_at: c.required_instant(row, "assignedAtUtc")?,
        ended_at: c.instant(row, "endedAtUtc")?,
        end_reason: c.text(row, "endReason"),
        stored: MessageMetrics {
            first_agent_message_at: c.instant(row, "firstAgentMessageAtUtc")?,
            agent_message_count: c.int(row, "agentMessageCount"),
            consumer_message_count: c.int(row, "consumerMessageCount"),
            time_to_first_response_ms: c.int(row, "timeToFirstResponseInMilliseconds"),
            response_count: c.int(row, "responseCount"),
            total_response_time_ms: c.int(row, "totalResponseTimeInMilliseconds"),
            is_interactive: c.bool(row, "isInteractive"),
            is_abandoned_by_consumer: c.bool(row, "isAbandonedByConsumer"),
            has_non_responsive_consumer: c.bool(row, "hasNonResponsiveConsumer"),
            has_non_responsive_agent: c.bool(row, "hasNonResponsiveAgent"),
        },
    })
}

fn message_from(c: &Columns<'_>, row: &[Value]) -> Result<Message, StoreError> {
    Ok(Message {
        id: c.required_text(row, "id")?,
        sent_at: c.required_instant(row, "sentAtUtc")?,
        sender_type: c.required_text(row, "senderType")?,
        agent_id: c.text(row, "agentId"),
        bot_id: c.text(row, "botId"),
        direction: c.required_text(row, "direction")?,
        is_automated: c.bool(row, "isAutomated").unwrap_or(false),
    })
}

/// The stored rows of one conversation, every property in model order.
#[derive(Default)]
struct ConversationRows {
    segments: Vec<Vec<Value>>,
    messages: Vec<Vec<Value>>,
}

fn opt_int(v: Option<i64>) -> Value {
    v.map_or(Value::Null, Value::Int)
}

fn opt_bool(v: Option<bool>) -> Value {
    v.map_or(Value::Null, Value::Bool)
}

/// Recomputes the message-derived columns of AgentSegments and Messages for these
/// conversations of `tenant` and writes back the rows that changed. Runs inside the
/// caller's transaction; ids may repeat.
pub fn refresh(
    conn: &mut Conn,
    model: &Model,
    tenant: &Tenant,
    conversation_ids: &[String],
) -> Result<(), StoreError> {
    let seg = Columns::new(model, "AgentSegments", SEGMENT_COLUMNS)?;
    let msg = Columns::new(model, "Messages", MESSAGE_COLUMNS)?;
    let mut segment_builder = RowBuilder::new(model, seg.set, tenant)?;
    let mut message_builder = RowBuilder::new(model, msg.set, tenant)?;
    let unique: BTreeSet<&str> = conversation_ids.iter().map(String::as_str).collect();
    let unique: Vec<&str> = unique.into_iter().collect();

    for chunk in unique.chunks(CONVERSATION_CHUNK) {
        let mut groups: BTreeMap<String, ConversationRows> = BTreeMap::new();
        for row in seg.load(conn, tenant, chunk)? {
            let conversation = seg.required_text(&row, "conversationId")?;
            groups.entry(conversation).or_default().segments.push(row);
        }
        for row in msg.load(conn, tenant, chunk)? {
            let conversation = msg.required_text(&row, "conversationId")?;
            groups.entry(conversation).or_default().messages.push(row);
        }

        let mut segment_batch = RowWriter::new(&segment_builder);
        let mut message_batch = RowWriter::new(&message_builder);
        for ConversationRows {
            segments: segment_rows,
            messages: message_rows,
        } in groups.values()
        {
            let segments: Vec<Segment> = segment_rows
                .iter()
                .map(|r| segment_from(&seg, r))
                .collect::<Result<_, _>>()?;
            let messages: Vec<Message> = message_rows
                .iter()
                .map(|r| message_from(&msg, r))
                .collect::<Result<_, _>>()?;
            let (segment_results, message_results) = compute(&segments, &messages);

            for ((row, segment), result) in segment_rows.iter().zip(&segments).zip(&segment_results)
            {
                let stored_last = seg.bool(row, "isLastInConversation");
                let stored_duration = seg.int(row, "durationInMilliseconds");
                if result.metrics == segment.stored
                    && stored_last == Some(result.is_last_in_conversation)
                    && stored_duration == result.duration_ms
                {
                    continue;
                }
                let m = &result.metrics;
                let mut binds = seg.binds(row);
                let mut set = |name: &str, value: Value| {
                    if let Some(slot) = binds.get_mut(seg.at(name)) {
                        *slot = value;
                    }
                };
                set(
                    "firstAgentMessageAtUtc",
                    m.first_agent_message_at.map_or(Value::Null, Value::Instant),
                );
                set("agentMessageCount", opt_int(m.agent_message_count));
                set("consumerMessageCount", opt_int(m.consumer_message_count));
                set(
                    "timeToFirstResponseInMilliseconds",
                    opt_int(m.time_to_first_response_ms),
                );
                set("responseCount", opt_int(m.response_count));
                set(
                    "totalResponseTimeInMilliseconds",
                    opt_int(m.total_response_time_ms),
                );
                set("isInteractive", opt_bool(m.is_interactive));
                set(
                    "isAbandonedByConsumer",
                    opt_bool(m.is_abandoned_by_consumer),
                );
                set(
                    "hasNonResponsiveConsumer",
                    opt_bool(m.has_non_responsive_consumer),
                );
                set(
                    "hasNonResponsiveAgent",
                    opt_bool(m.has_non_responsive_agent),
                );
                set(
                    "isLastInConversation",
                    Value::Bool(result.is_last_in_conversation),
                );
                set("durationInMilliseconds", opt_int(result.duration_ms));
                segment_batch.push(rebuild(&mut segment_builder, binds)?)?;
            }

            for (row, result) in message_rows.iter().zip(&message_results) {
                if msg.text(row, "agentSegmentId") == result.agent_segment_id
                    && msg.int(row, "responseTimeInMilliseconds") == result.response_time_ms
                {
                    continue;
                }
                let mut binds = msg.binds(row);
                if let Some(slot) = binds.get_mut(msg.at("agentSegmentId")) {
                    *slot = result
                        .agent_segment_id
                        .clone()
                        .map_or(Value::Null, Value::Text);
                }
                if let Some(slot) = binds.get_mut(msg.at("responseTimeInMilliseconds")) {
                    *slot = opt_int(result.response_time_ms);
                }
                message_batch.push(rebuild(&mut message_builder, binds)?)?;
            }
        }
        segment_batch.flush(conn)?;
        message_batch.flush(conn)?;
    }
    Ok(())
}

/// A stored row with new derived values, built again: checked like any written row,
/// its local times derived from their UTC twins (`firstAgentMessageAt` included).
fn rebuild(builder: &mut RowBuilder<'_>, values: Vec<Value>) -> Result<Built, StoreError> {
    let set = builder.set();
    for (i, (value, p)) in values.into_iter().zip(&set.properties).enumerate() {
        if p.storage != Storage::LocalText {
            builder.set_value(i, value);
        }
    }
    builder.finish().map_err(|errors| {
        let problems: Vec<String> = errors.iter().map(ToString::to_string).collect();
        StoreError::Corrupt(format!("{}: {}", set.name, problems.join("; ")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_767_225_600_000 + ms).unwrap()
    }

    fn segment(id: &str, agent: &str, start: &str, from: i64, to: Option<(i64, &str)>) -> Segment {
        Segment {
            id: id.into(),
            agent_id: agent.into(),
            user_type: "human".into(),
            start_reason: start.into(),
            assigned_at: at(from),
            ended_at: to.map(|(t, _)| at(t)),
            end_reason: to.map(|(_, r)| r.to_string()),
            stored: MessageMetrics::default(),
        }
    }

    fn message(id: &str, ms: i64, sender: &str, who: Option<&str>) -> Message {
        let automated = !matches!(sender, "agent" | "customer");
        Message {
            id: id.into(),
            sent_at: at(ms),
            sender_type: sender.into(),
            agent_id: who.filter(|_| sender == "agent").map(str::to_string),
            bot_id: who.filter(|_| sender != "agent").map(str::to_string),
            direction: match sender {
                "customer" => "inbound",
                "system" => "internal",
                _ => "outbound",
            }
            .into(),
            is_automated: automated,
        }
    }

    fn customer(id: &str, ms: i64) -> Message {
        message(id, ms, "customer", None)
    }

    fn agent(id: &str, ms: i64, who: &str) -> Message {
        message(id, ms, "agent", Some(who))
    }

    fn segment_ids(results: &[MessageResult]) -> Vec<Option<&str>> {
        results
            .iter()
            .map(|r| r.agent_segment_id.as_deref())
            .collect()
    }

    fn response_times(results: &[MessageResult]) -> Vec<Option<i64>> {
        results.iter().map(|r| r.response_time_ms).collect()
    }

    #[test]
    fn messages_go_to_the_segment_whose_span_holds_them() {
        let segments = [
            segment(
                "a",
                "1",
                "newConversation",
                1_000,
                Some((5_000, "transfer")),
            ),
            segment("b", "2", "transfer", 5_000, Some((9_000, "transfer"))),
            // Overlaps b: a later assignment wins where both hold the message.
            segment("c", "3", "transfer", 8_000, None),
        ];
        let messages = [
            customer("before", 500),
            customer("start", 1_000),
            customer("boundary", 5_000),
            customer("overlap", 8_500),
            customer("open", 1_000_000_000),
        ];
        let (_, results) = compute(&segments, &messages);
        assert_eq!(
            segment_ids(&results),
            [None, Some("a"), Some("b"), Some("c"), Some("c")]
        );
    }

    #[test]
    fn transfer_to_another_agent_and_back_makes_three_segments() {
        let segments = [
            segment("s1", "A", "newConversation", 0, Some((10_000, "transfer"))),
            segment("s2", "B", "transfer", 10_000, Some((20_000, "transfer"))),
            segment("s3", "A", "transfer", 20_000, Some((30_000, "agentClosed"))),
        ];
        let messages = [
            customer("m1", -2_000),
            agent("m2", 3_000, "A"),
            customer("m3", 4_000),
            agent("m4", 6_000, "A"),
            customer("m5", 8_000),
            agent("m6", 12_000, "B"),
            customer("m7", 13_000),
            agent("m8", 21_000, "A"),
            customer("m9", 22_000),
            customer("m10", 23_000),
            agent("m11", 27_000, "A"),
            agent("m12", 28_000, "A"),
        ];
        let (segs, msgs) = compute(&segments, &messages);
        let counts: Vec<_> = segs
            .iter()
            .map(|r| {
                (
                    r.metrics.agent_message_count,
                    r.metrics.consumer_message_count,
                )
            })
            .collect();
        assert_eq!(
            counts,
            [(Some(2), Some(2)), (Some(1), Some(1)), (Some(3), Some(2))]
        );
        let first: Vec<_> = segs
            .iter()
            .map(|r| r.metrics.time_to_first_response_ms)
            .collect();
        assert_eq!(first, [Some(3_000), Some(2_000), Some(1_000)]);
        assert_eq!(segs[2].metrics.first_agent_message_at, Some(at(21_000)));
        // m4 answers m3; m8 is measured from the assignment (m7 was B's to answer);
        // m11 answers the older of m9 and m10; m12 follows m11 without a customer turn.
        assert_eq!(
            response_times(&msgs),
            [
                None,
                Some(3_000),
                None,
                Some(2_000),
                None,
                Some(2_000),
                None,
                Some(1_000),
                None,
                None,
                Some(5_000),
                None
            ]
        );
        let totals: Vec<_> = segs
            .iter()
            .map(|r| (r.metrics.response_count, r.metrics.total_response_time_ms))
            .collect();
        assert_eq!(
            totals,
            [
                (Some(2), Some(5_000)),
                (Some(1), Some(2_000)),
                (Some(2), Some(6_000))
            ]
        );
        let last: Vec<_> = segs.iter().map(|r| r.is_last_in_conversation).collect();
        assert_eq!(last, [false, false, true]);
        assert!(segs.iter().all(|r| r.duration_ms == Some(10_000)));
        assert!(segs.iter().all(|r| r.metrics.is_interactive == Some(true)));
    }

    #[test]
    fn a_customer_message_waiting_at_the_first_answer_starts_the_clock() {
        let segments = [segment(
            "s",
            "A",
            "newConversation",
            0,
            Some((9_000, "agentClosed")),
        )];
        let messages = [customer("c", 1_000), agent("a", 4_000, "A")];
        let (segs, msgs) = compute(&segments, &messages);
        assert_eq!(segs[0].metrics.time_to_first_response_ms, Some(4_000));
        assert_eq!(response_times(&msgs), [None, Some(3_000)]);
        // No customer message after the agent's first: the customer went silent.
        assert_eq!(segs[0].metrics.is_interactive, Some(false));
        assert_eq!(segs[0].metrics.has_non_responsive_consumer, Some(true));
        assert_eq!(segs[0].metrics.has_non_responsive_agent, Some(false));
    }

    #[test]
    fn the_first_message_after_a_takeover_or_resume_is_no_response() {
        for reason in ["takeover", "resume"] {
            let segments = [
                segment("s1", "A", "newConversation", 0, Some((10_000, "transfer"))),
                segment("s2", "M", reason, 10_000, Some((30_000, "agentClosed"))),
            ];
            let messages = [
                customer("c1", 9_000),
                agent("m1", 12_000, "M"),
                customer("c2", 14_000),
                agent("m2", 17_000, "M"),
            ];
            let (segs, msgs) = compute(&segments, &messages);
            let m = &segs[1].metrics;
            assert_eq!(m.time_to_first_response_ms, None, "{reason}");
            assert_eq!(m.first_agent_message_at, Some(at(12_000)), "{reason}");
            assert_eq!(m.agent_message_count, Some(2), "{reason}");
            assert_eq!(
                (m.response_count, m.total_response_time_ms),
                (Some(1), Some(3_000))
            );
            assert_eq!(
                response_times(&msgs),
                [None, None, None, Some(3_000)],
                "{reason}"
            );
            // A's segment: nothing written, ended by the takeover's transfer.
            assert_eq!(segs[0].metrics.has_non_responsive_agent, Some(true));
        }
    }

    #[test]
    fn only_the_assigned_agents_own_messages_count() {
        let segments = [segment(
            "s",
            "A",
            "newConversation",
            0,
            Some((20_000, "agentClosed")),
        )];
        let mut note = agent("note", 1_500, "A");
        note.direction = "internal".into();
        let mut flagged = agent("flagged", 1_700, "A");
        flagged.is_automated = true;
        let messages = [
            customer("c1", 1_000),
            note,
            flagged,
            message("system", 1_800, "system", None),
            message("flow", 2_000, "flow", Some("ack-flow")),
            message("campaign", 2_500, "campaign", Some("promo")),
            agent("supervisor", 3_000, "S"),
            message("other-bot", 3_500, "bot", Some("A")),
            agent("answer", 5_000, "A"),
            customer("c2", 6_000),
        ];
        let (segs, msgs) = compute(&segments, &messages);
        let m = &segs[0].metrics;
        assert_eq!(m.agent_message_count, Some(1));
        assert_eq!(m.consumer_message_count, Some(2));
        assert_eq!(m.first_agent_message_at, Some(at(5_000)));
        assert_eq!(m.time_to_first_response_ms, Some(5_000));
        // The supervisor did not answer c1 for A: A's answer runs from c1.
        let mut expected = vec![None; 10];
        expected[8] = Some(4_000);
        assert_eq!(response_times(&msgs), expected);
        assert!(
            msgs.iter()
                .all(|r| r.agent_segment_id.as_deref() == Some("s"))
        );
    }

    #[test]
    fn a_bot_segment_counts_its_bots_messages() {
        let mut s = segment(
            "s",
            "helper-bot",
            "newConversation",
            0,
            Some((9_000, "transfer")),
        );
        s.user_type = "bot".into();
        let messages = [
            message("b1", 200, "bot", Some("helper-bot")),
            customer("c1", 1_000),
            message("b2", 1_300, "bot", Some("helper-bot")),
            message("other", 1_400, "bot", Some("survey-bot")),
            agent("human", 1_500, "helper-bot"),
        ];
        let (segs, msgs) = compute(&[s], &messages);
        assert_eq!(segs[0].metrics.agent_message_count, Some(2));
        assert_eq!(segs[0].metrics.time_to_first_response_ms, Some(200));
        assert_eq!(
            response_times(&msgs),
            [Some(200), None, Some(300), None, None]
        );
    }

    #[test]
    fn abandoned_and_non_responsive_segments() {
        // The customer leaves before anyone answers in the last segment.
        let segments = [
            segment("s1", "A", "newConversation", 0, Some((5_000, "transfer"))),
            segment(
                "s2",
                "B",
                "transfer",
                5_000,
                Some((9_000, "consumerClosed")),
            ),
        ];
        let messages = [
            customer("c1", 100),
            agent("a1", 1_000, "A"),
            customer("c2", 2_000),
        ];
        let (segs, _) = compute(&segments, &messages);
        assert_eq!(segs[1].metrics.is_abandoned_by_consumer, Some(true));
        assert_eq!(segs[1].metrics.has_non_responsive_agent, Some(false));
        assert_eq!(segs[0].metrics.is_abandoned_by_consumer, Some(false));
        assert_eq!(segs[0].metrics.is_interactive, Some(true));

        // The agent never writes before the system closes it.
        let segments = [segment(
            "s",
            "A",
            "newConversation",
            0,
            Some((60_000, "systemClosed")),
        )];
        let (segs, _) = compute(&segments, &[customer("c", 100)]);
        let m = &segs[0].metrics;
        assert_eq!(m.has_non_responsive_agent, Some(true));
        assert_eq!(m.is_abandoned_by_consumer, Some(false));
        assert_eq!(m.is_interactive, Some(false));
        assert_eq!(m.time_to_first_response_ms, None);
        assert_eq!(
            (m.response_count, m.total_response_time_ms),
            (Some(0), Some(0))
        );

        // An open segment has no flags yet, but counts.
        let segments = [segment("s", "A", "newConversation", 0, None)];
        let (segs, _) = compute(&segments, &[customer("c", 100), agent("a", 200, "A")]);
        let m = &segs[0].metrics;
        assert_eq!(
            (
                m.is_interactive,
                m.is_abandoned_by_consumer,
                m.has_non_responsive_consumer,
                m.has_non_responsive_agent
            ),
            (None, None, None, None)
        );
        assert_eq!(m.agent_message_count, Some(1));
        assert_eq!(segs[0].duration_ms, None);
        assert!(segs[0].is_last_in_conversation);
    }

    #[test]
    fn without_messages_the_source_values_stay() {
        let stored = MessageMetrics {
            first_agent_message_at: Some(at(4_000)),
            time_to_first_response_ms: Some(4_000),
            has_non_responsive_agent: Some(false),
            ..MessageMetrics::default()
        };
        let mut first = segment("s1", "A", "newConversation", 0, Some((10_000, "transfer")));
        first.stored = stored.clone();
        let second = segment("s2", "B", "transfer", 10_000, Some((12_500, "agentClosed")));
        let (segs, msgs) = compute(&[second, first], &[]);
        assert!(msgs.is_empty());
        assert_eq!(segs[1].metrics, stored);
        assert_eq!(segs[0].metrics, MessageMetrics::default());
        assert_eq!(
            segs.iter()
                .map(|r| (r.is_last_in_conversation, r.duration_ms))
                .collect::<Vec<_>>(),
            [(true, Some(2_500)), (false, Some(10_000))]
        );
    }
}
