//! The one way rows get into the feed's tables: every writer (ingest, both importers,
//! the lookup refresh, the segment metrics, the demo) builds its rows with a
//! [`RowBuilder`] and hands them to a [`RowWriter`].
//!
//! The builder checks each value against its property in the model as it is set (its
//! type, `Edm.Int32`'s range, no U+0000 in text, instants within the years 1 to 9999)
//! and, when the row is finished, that every non-nullable property has a value. A
//! string outside its property's `Validation.AllowedValues` is refused only by a builder
//! made [`RowBuilder::refusing_unlisted_values`]: the demo's, whose generator must stay
//! within them. Ingested and imported data has always been taken with other values
//! (sources spell them their own way), and refusing them would change the ingest API. It derives what no writer
//! may give differently: the tenant column (always the writer's tenant), each
//! tenant-local timestamp from its UTC twin in the tenant's time zone (a value a writer
//! sent for it must be the same instant), and, for Calls, Chats and Emails, the
//! Conversations row. The result is a [`Row`], which only the builder makes; a
//! [`RowWriter`] takes nothing else, so no writer can skip the checks.
//!
//! Writers keep what is theirs: turning their input (JSON, an export, simulated
//! events, stored rows) into values, and how they report a problem (a line number, a
//! conversation id, a failed demo run). Their problems and the builder's arrive in one
//! list, in the order the values were set.

use std::fmt;

use chrono::{DateTime, Datelike, DurationRound, Offset, SecondsFormat, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use crate::edm::{ColumnKind, EntitySet, Model, Storage};

use super::scoped::TenantScope;
use super::tenants::Tenant;
use super::write::RowBatch;
use super::{Conn, StoreError, Value};

/// A value that does not fit its property, or a row that does not fit its set.
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    /// The property, as the writer named it (it may not exist in the model).
    pub property: Option<String>,
    pub message: String,
    /// The offending value, shortened (kept apart so a message can leave it out).
    pub found: Option<String>,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.property {
            Some(p) => write!(f, "property '{p}': {}", self.message)?,
            None => f.write_str(&self.message)?,
        }
        match &self.found {
            Some(found) => write!(f, ", found {found}"),
            None => Ok(()),
        }
    }
}

/// A value as an error shows it: JSON text, at most 40 characters.
pub fn shown(v: &serde_json::Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 40 {
        format!("{}...", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

fn shown_value(v: &Value) -> String {
    shown(&match v {
        Value::Text(s) => serde_json::Value::String(s.clone()),
        Value::Int(i) => serde_json::Value::from(*i),
        other => serde_json::Value::String(other.plain_text().unwrap_or_default()),
    })
}

/// A row that passed a [`RowBuilder`]: one value per property of its entity set, in
/// model order. Only the builder (and the spool that keeps built rows) makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub(super) Vec<Value>);

impl Row {
    pub fn values(&self) -> &[Value] {
        &self.0
    }
}

/// One finished row and, for a conversation medium, the Conversations row derived
/// from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    pub row: Row,
    pub conversation: Option<Row>,
}

/// Builds rows of one entity set for one tenant. See the module documentation.
pub struct RowBuilder<'m> {
    set: &'m EntitySet,
    scope: TenantScope,
    tz: Tz,
    /// The property stored in the tenant column, if the set has one.
    tenant_property: Option<usize>,
    /// For Calls, Chats and Emails: Conversations and, for each of its properties, the
    /// property of this set it copies (none: null).
    conversation: Option<(&'m EntitySet, Vec<Option<usize>>)>,
    /// Refuse strings outside their property's allowed values.
    refuse_unlisted: bool,
    values: Vec<Value>,
    filled: Vec<bool>,
    errors: Vec<RowError>,
}

impl<'m> RowBuilder<'m> {
    /// A builder for `set` and `tenant`. Fails when the tenant's time zone is not a
    /// known IANA zone, or when the model's Conversations cannot be derived from `set`
    /// (a property missing, of another type, or stricter than its source).
    pub fn new(
        model: &'m Model,
        set: &'m EntitySet,
        tenant: &Tenant,
    ) -> Result<RowBuilder<'m>, StoreError> {
        let tz: Tz = tenant.time_zone.parse().map_err(|_| {
            StoreError::Invalid(format!(
                "the tenant's time zone '{}' is not valid",
                tenant.time_zone
            ))
        })?;
        let conversation = match (set.name.as_str(), model.entity_set("Conversations")) {
            ("Calls" | "Chats" | "Emails", Some(conv)) => {
                Some((conv, conversation_sources(set, conv)?))
            }
            _ => None,
        };
        let n = set.properties.len();
        Ok(RowBuilder {
            set,
            scope: tenant.scope().clone(),
            tz,
            tenant_property: set.properties.iter().position(|p| p.column == "tenant_id"),
            conversation,
            refuse_unlisted: false,
            values: vec![Value::Null; n],
            filled: vec![false; n],
            errors: Vec::new(),
        })
    }

    /// The builder, refusing a string outside its property's allowed values.
    pub fn refusing_unlisted_values(mut self) -> RowBuilder<'m> {
        self.refuse_unlisted = true;
        self
    }

    pub fn set(&self) -> &'m EntitySet {
        self.set
    }

    /// Conversations, when rows of this set derive one.
    pub fn conversation_set(&self) -> Option<&'m EntitySet> {
        self.conversation.as_ref().map(|(c, _)| *c)
    }

    fn fail(&mut self, i: usize, message: impl Into<String>, found: Option<String>) {
        self.errors.push(RowError {
            property: Some(self.set.properties[i].name.clone()),
            message: message.into(),
            found,
        });
    }

    /// Notes that the writer has a value for `name`, which the set does not have.
    pub fn unknown_property(&mut self, name: &str) {
        let hint = self
            .set
            .property_names()
            .find(|p| p.eq_ignore_ascii_case(name))
            .map(|p| format!("; did you mean '{p}'?"))
            .unwrap_or_default();
        self.errors.push(RowError {
            property: Some(name.to_string()),
            message: format!("{} has no such property{hint}", self.set.name),
            found: None,
        });
    }

    /// Notes a problem the writer found with its value for property `i` (one it could
    /// not turn into a value, say): the property counts as given, and the row will not
    /// be finished.
    pub fn reject(&mut self, i: usize, message: impl Into<String>, found: Option<String>) {
        if i < self.set.properties.len() {
            self.filled[i] = true;
            self.fail(i, message, found);
        } else {
            self.out_of_range(i);
        }
    }

    fn out_of_range(&mut self, i: usize) {
        self.errors.push(RowError {
            property: None,
            message: format!("{} has no property number {i}", self.set.name),
            found: None,
        });
    }

    /// Sets property `i` (an index into the set's properties) and checks the value.
    ///
    /// A tenant-local timestamp is derived, not set: a value given for one (an
    /// [`Value::Instant`] or [`Value::Local`]) is only compared with its UTC twin when
    /// the row is finished. A value for the tenant column must be the writer's tenant.
    pub fn set_value(&mut self, i: usize, value: Value) {
        let set = self.set;
        let Some(p) = set.properties.get(i) else {
            self.out_of_range(i);
            return;
        };
        if std::mem::replace(&mut self.filled[i], true) {
            self.fail(i, "is set twice in one row", None);
            return;
        }
        if Some(i) == self.tenant_property {
            // Compared with the writer's tenant in `finish`, whatever its type.
            self.values[i] = value;
            return;
        }
        if value.is_null() {
            if !p.nullable && p.storage != Storage::LocalText {
                self.fail(i, "is required and must not be null", None);
            }
            return;
        }
        let checked = match (p.kind(), value) {
            (ColumnKind::Text, Value::Text(s)) => {
                if s.contains('\0') {
                    self.fail(i, "must not contain the NUL character (\\u0000)", None);
                    return;
                }
                if self.refuse_unlisted
                    && !p.allowed_values.is_empty()
                    && !p.allowed_values.contains(&s)
                {
                    let message = format!(
                        "is not one of its allowed values ({})",
                        p.allowed_values.join(", ")
                    );
                    let found = Some(shown_value(&Value::Text(s)));
                    self.fail(i, message, found);
                    return;
                }
                Value::Text(s)
            }
            (ColumnKind::Int32, Value::Int(n)) => {
                if i32::try_from(n).is_err() {
                    self.fail(
                        i,
                        "expected a whole number between -2147483648 and 2147483647",
                        Some(shown_value(&Value::Int(n))),
                    );
                    return;
                }
                Value::Int(n)
            }
            (ColumnKind::Int64, Value::Int(n)) => Value::Int(n),
            (ColumnKind::Double, Value::Double(d)) => Value::Double(d),
            (ColumnKind::Boolean, Value::Bool(b)) => Value::Bool(b),
            (ColumnKind::Instant, Value::Instant(t)) => match instant(t) {
                Some(t) => Value::Instant(t),
                None => {
                    self.fail(i, "is outside the years 1 to 9999", None);
                    return;
                }
            },
            // A local rendering the writer has: compared with the twin in `finish`.
            (ColumnKind::LocalText, Value::Instant(t)) => Value::Instant(t),
            (ColumnKind::LocalText, Value::Local(t)) => Value::Instant(t.with_timezone(&Utc)),
            (_, other) => {
                let message = format!("expected {}, not {}", expected(p.kind()), what(&other));
                self.fail(i, message, None);
                return;
            }
        };
        self.values[i] = checked;
    }

    /// Completes the row: checks that every non-nullable property has a value, derives
    /// the tenant column, the local timestamps and the Conversations row, and starts
    /// the next row. On failure every problem of the row is returned (the writer's and
    /// the builder's, in the order they were found) and the next row starts empty.
    pub fn finish(&mut self) -> Result<Built, Vec<RowError>> {
        let set = self.set;
        let n = set.properties.len();
        for i in 0..n {
            let p = &set.properties[i];
            if !self.filled[i]
                && !p.nullable
                && p.storage != Storage::LocalText
                && Some(i) != self.tenant_property
            {
                self.fail(i, "is required and must not be null", None);
            }
        }
        // Local renderings from their UTC twins, in the tenant's time zone.
        for i in 0..n {
            let p = &set.properties[i];
            let Some(twin) = p.utc_twin.filter(|_| p.storage == Storage::LocalText) else {
                continue;
            };
            // The twin is a property of this set (the model made it), so its position
            // is one of this row's.
            let twin = twin.index();
            let sent = match std::mem::replace(&mut self.values[i], Value::Null) {
                Value::Instant(t) => Some(t),
                _ => None,
            };
            let derived = match self.values[twin] {
                Value::Instant(t) => {
                    if let Some(sent) = sent
                        && instant(sent) != Some(t)
                    {
                        let message = format!(
                            "is a different instant than {}; it can be left out, ccfeed derives it",
                            self.set.properties[twin].name
                        );
                        self.fail(i, message, None);
                    }
                    Value::Text(local_text(&t, &self.tz))
                }
                _ => {
                    if sent.is_some() {
                        let message = format!(
                            "is derived from {}, which is missing",
                            self.set.properties[twin].name
                        );
                        self.fail(i, message, None);
                    }
                    Value::Null
                }
            };
            self.values[i] = derived;
        }
        if let Some(t) = self.tenant_property {
            let tenant = self.scope.id().to_string();
            if !matches!(&self.values[t], Value::Null)
                && !matches!(&self.values[t], Value::Text(s) if *s == tenant)
            {
                let message = format!("must be your tenant '{tenant}' or left out");
                self.fail(t, message, None);
            }
            self.values[t] = Value::Text(tenant);
        }
        self.filled.fill(false);
        if !self.errors.is_empty() {
            self.values.fill(Value::Null);
            return Err(std::mem::take(&mut self.errors));
        }
        let values = std::mem::replace(&mut self.values, vec![Value::Null; n]);
        let conversation = self.conversation.as_ref().map(|(_, sources)| {
            Row(sources
                .iter()
                .map(|s| s.map_or(Value::Null, |i| values[i].clone()))
                .collect())
        });
        Ok(Built {
            row: Row(values),
            conversation,
        })
    }
}

/// For each property of Conversations, the property of `set` it is copied from. Every
/// row the builder finishes for `set` then fits Conversations as well: each source has
/// the same type and storage, is at least as strict about null, and allows no value
/// that Conversations does not.
fn conversation_sources(
    set: &EntitySet,
    conv: &EntitySet,
) -> Result<Vec<Option<usize>>, StoreError> {
    let mismatch = |name: &str, why: &str| {
        StoreError::Invalid(format!(
            "the model's Conversations.{name} cannot be derived from {}.{name}: {why}",
            set.name
        ))
    };
    conv.properties
        .iter()
        .map(|c| match set.property_id(&c.name) {
            None if !c.nullable => Err(mismatch(&c.name, "it is missing")),
            None => Ok(None),
            Some(id) => {
                let i = id.index();
                let p = set
                    .property_at(id)
                    .ok_or_else(|| mismatch(&c.name, "the model has no such property"))?;
                if p.kind() != c.kind() {
                    return Err(mismatch(&c.name, "the types differ"));
                }
                if p.nullable && !c.nullable {
                    return Err(mismatch(&c.name, "it may be null"));
                }
                if !c.allowed_values.is_empty()
                    && (p.allowed_values.is_empty()
                        || p.allowed_values
                            .iter()
                            .any(|v| !c.allowed_values.contains(v)))
                {
                    return Err(mismatch(&c.name, "it allows other values"));
                }
                Ok(Some(i))
            }
        })
        .collect()
}

/// An instant within the model's range (years 1 to 9999) at its precision
/// (milliseconds).
fn instant(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if !(1..=9999).contains(&t.year()) {
        return None;
    }
    t.duration_trunc(TimeDelta::milliseconds(1)).ok()
}

fn expected(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Text => "a string",
        ColumnKind::Int32 | ColumnKind::Int64 => "a whole number",
        ColumnKind::Double => "a number",
        ColumnKind::Boolean => "true or false",
        ColumnKind::Instant | ColumnKind::LocalText => "a timestamp",
    }
}

fn what(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "true or false",
        Value::Int(_) => "a whole number",
        Value::Double(_) | Value::Duration(_) => "a number",
        Value::Text(_) => "a string",
        Value::Instant(_) | Value::Local(_) => "a timestamp",
        Value::Date(_) => "a date",
        Value::Time(_) => "a time of day",
    }
}

/// The tenant-local text of an instant, `YYYY-MM-DDTHH:MM:SS.sss+hh:mm`: the same text as
/// `t.with_timezone(tz).to_rfc3339_opts(SecondsFormat::Millis, false)`, built without
/// chrono's formatter (it runs once per local column of every row written) where the
/// offset is whole minutes and the year has four digits, and by chrono otherwise.
pub fn local_text(t: &DateTime<Utc>, tz: &Tz) -> String {
    let offset = tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    let seconds = offset.local_minus_utc();
    let local = t.naive_utc() + TimeDelta::seconds(i64::from(seconds));
    if seconds % 60 != 0 || !(0..=9999).contains(&local.year()) {
        return t
            .with_timezone(tz)
            .to_rfc3339_opts(SecondsFormat::Millis, false);
    }
    use chrono::Timelike;
    let mut s = String::with_capacity(29);
    push_digits(&mut s, local.year() as u32, 4);
    s.push('-');
    push_digits(&mut s, local.month(), 2);
    s.push('-');
    push_digits(&mut s, local.day(), 2);
    s.push('T');
    push_digits(&mut s, local.hour(), 2);
    s.push(':');
    push_digits(&mut s, local.minute(), 2);
    s.push(':');
    push_digits(&mut s, local.second(), 2);
    s.push('.');
    push_digits(&mut s, t.timestamp_subsec_millis().min(999), 3);
    s.push(if seconds < 0 { '-' } else { '+' });
    let off = seconds.unsigned_abs();
    push_digits(&mut s, off / 3600, 2);
    s.push(':');
    push_digits(&mut s, off % 3600 / 60, 2);
    s
}

fn push_digits(s: &mut String, v: u32, width: u32) {
    let mut div = 10u32.pow(width - 1);
    while div > 0 {
        s.push(char::from(b'0' + (v / div % 10) as u8));
        div /= 10;
    }
}

/// Built rows of one entity set for one tenant, waiting for their upsert, with the
/// Conversations rows derived from them. Takes only [`Built`] rows of the builder it
/// was made for.
pub struct RowWriter<'m> {
    main: RowBatch<'m>,
    conversations: Option<RowBatch<'m>>,
}

impl<'m> RowWriter<'m> {
    pub fn new(builder: &RowBuilder<'m>) -> RowWriter<'m> {
        RowWriter {
            main: RowBatch::all_columns(builder.set, &builder.scope),
            conversations: builder
                .conversation_set()
                .map(|c| RowBatch::all_columns(c, &builder.scope)),
        }
    }

    /// Queues a row (and its Conversations row).
    pub fn push(&mut self, built: Built) -> Result<(), StoreError> {
        self.main.push(built.row.0)?;
        if let (Some(batch), Some(c)) = (&mut self.conversations, built.conversation) {
            batch.push(c.0)?;
        }
        Ok(())
    }

    /// Like [`RowWriter::push`], but a row whose key is already pending replaces that
    /// row (the later record wins, as an upsert would).
    pub fn push_replacing(&mut self, built: Built) -> Result<(), StoreError> {
        self.main.push_replacing(built.row.0)?;
        if let (Some(batch), Some(c)) = (&mut self.conversations, built.conversation) {
            batch.push_replacing(c.0)?;
        }
        Ok(())
    }

    /// Whether rows of this set derive Conversations rows.
    pub fn derives_conversations(&self) -> bool {
        self.conversations.is_some()
    }

    /// Pending rows of the set.
    pub fn len(&self) -> usize {
        self.main.len()
    }

    pub fn is_empty(&self) -> bool {
        self.main.is_empty()
    }

    /// Pending derived Conversations rows.
    pub fn derived_len(&self) -> usize {
        self.conversations.as_ref().map_or(0, RowBatch::len)
    }

    /// How many pending rows of the set already exist (and will be updated).
    pub fn count_existing(&self, conn: &mut Conn) -> Result<usize, StoreError> {
        self.main.count_existing(conn)
    }

    /// How many pending Conversations rows already exist.
    pub fn count_existing_derived(&self, conn: &mut Conn) -> Result<usize, StoreError> {
        match &self.conversations {
            Some(c) => c.count_existing(conn),
            None => Ok(0),
        }
    }

    /// Upserts and clears the pending rows, the set's first.
    pub fn flush(&mut self, conn: &mut Conn) -> Result<(), StoreError> {
        self.main.flush(conn)?;
        if let Some(c) = &mut self.conversations {
            c.flush(conn)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        Model::load().unwrap()
    }

    fn at(s: &str) -> Value {
        Value::Instant(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
    }

    #[test]
    fn local_text_matches_chrono_in_every_kind_of_zone() {
        let zones = [
            "Europe/Budapest",
            "Asia/Kolkata",
            "America/St_Johns",
            "Pacific/Chatham",
            "America/Los_Angeles",
            "UTC",
            "Africa/Monrovia", // an offset with seconds before 1972
        ];
        let marks = [
            0i64,
            1_774_746_000_000,
            1_792_890_000_000,
            -2_000_000_000_000,
            -62_135_596_800_000, // 0001-01-01
            253_402_300_799_999, // 9999-12-31T23:59:59.999Z
        ];
        for zone in zones {
            let tz: Tz = zone.parse().unwrap();
            for mark in marks {
                for delta in (-3 * 3_600_000i64..3 * 3_600_000).step_by(7 * 60_000 + 1_234) {
                    let Some(t) = DateTime::from_timestamp_millis(mark + delta) else {
                        continue;
                    };
                    let expected = t
                        .with_timezone(&tz)
                        .to_rfc3339_opts(SecondsFormat::Millis, false);
                    assert_eq!(local_text(&t, &tz), expected, "{zone} {t}");
                }
            }
        }
    }

    #[test]
    fn a_finished_row_has_its_tenant_local_times_and_conversation() {
        let model = model();
        let calls = model.entity_set("Calls").unwrap();
        let tenant = Tenant::for_tests("t1", "Europe/Budapest");
        let mut b = RowBuilder::new(&model, calls, &tenant).unwrap();
        let i = |n: &str| calls.property_id(n).unwrap().index();
        b.set_value(i("id"), Value::Text("c1".into()));
        b.set_value(i("startedAtUtc"), at("2026-03-29T00:30:00.1234Z"));
        b.set_value(i("startedAt"), at("2026-03-29T01:30:00.123+01:00"));
        b.set_value(i("channelType"), Value::Text("Voice".into()));
        b.set_value(i("channelId"), Value::Text("ch-1".into()));
        b.set_value(i("holdCount"), Value::Int(0));
        b.set_value(i("holdDurationInSeconds"), Value::Int(0));
        b.set_value(i("isConsult"), Value::Bool(false));
        b.set_value(i("isOutbound"), Value::Bool(true));
        let built = match b.finish() {
            Ok(built) => built,
            Err(e) => panic!("{e:?}"),
        };
        let row = built.row.values();
        assert_eq!(row[i("startedAtUtc")], at("2026-03-29T00:30:00.123Z"));
        assert_eq!(
            row[i("startedAt")],
            Value::Text("2026-03-29T01:30:00.123+01:00".into())
        );
        let conv = model.entity_set("Conversations").unwrap();
        let c = built.conversation.unwrap();
        for (k, p) in conv.properties.iter().enumerate() {
            let expected = calls
                .property_id(&p.name)
                .map_or(Value::Null, |j| row[j.index()].clone());
            assert_eq!(c.values()[k], expected, "Conversations.{}", p.name);
        }
    }

    #[test]
    fn every_problem_of_a_row_is_reported_and_the_next_row_starts_empty() {
        let model = model();
        let queues = model.entity_set("Queues").unwrap();
        let tenant = Tenant::for_tests("t1", "Europe/Budapest");
        let mut b = RowBuilder::new(&model, queues, &tenant)
            .unwrap()
            .refusing_unlisted_values();
        let i = |n: &str| queues.property_id(n).unwrap().index();
        b.unknown_property("Name");
        b.reject(i("id"), "expected a string", Some("1".into()));
        b.set_value(i("id"), Value::Int(1));
        b.set_value(i("routingMode"), Value::Text("Random".into()));
        b.set_value(i("routingMode"), Value::Text("Manual".into()));
        b.set_value(i("channelId"), Value::Text("a\0b".into()));
        let errors = b.finish().unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "property 'Name': Queues has no such property; did you mean 'name'?",
                "property 'id': expected a string, found 1",
                "property 'id': is set twice in one row",
                "property 'routingMode': is not one of its allowed values (Automatic, Manual), found \"Random\"",
                "property 'routingMode': is set twice in one row",
                "property 'channelId': must not contain the NUL character (\\u0000)",
                "property 'name': is required and must not be null",
            ]
        );
        b.set_value(i("id"), Value::Text("q1".into()));
        b.set_value(i("name"), Value::Text("Billing".into()));
        b.set_value(i("channelId"), Value::Text("c1".into()));
        b.set_value(i("routingMode"), Value::Text("Manual".into()));
        assert!(b.finish().is_ok());
    }

    #[test]
    fn a_model_whose_conversations_do_not_follow_the_media_is_refused() {
        let xml = crate::edm::METADATA_XML.replacen(
            "<Property Name=\"channelType\" Type=\"Edm.String\" Nullable=\"false\">",
            "<Property Name=\"channelType\" Type=\"Edm.Int32\" Nullable=\"false\">",
            1,
        );
        assert_ne!(xml, crate::edm::METADATA_XML);
        let model = Model::from_xml(&xml).unwrap();
        let tenant = Tenant::for_tests("t1", "Europe/Budapest");
        let mut refused = 0;
        for name in ["Calls", "Chats", "Emails"] {
            let set = model.entity_set(name).unwrap();
            refused += usize::from(RowBuilder::new(&model, set, &tenant).is_err());
        }
        assert!(refused >= 1);
    }
}
