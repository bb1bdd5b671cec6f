//! One JSON record → one row of binds, checked against the model: known property
//! names, the right JSON type for each EDM type, non-nullable properties present,
//! timestamps with an offset. Errors name the line (or record number) and property.

use std::fmt;

use chrono::{DateTime, DurationRound, SecondsFormat, TimeDelta, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use crate::edm::{EdmType, EntitySet, Model, Storage};
use crate::store;
use crate::store::tenants::Tenant;

use super::IngestError;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecordError {
    /// Line of an NDJSON body, or position of a record in a JSON array (1-based).
    pub line: u64,
    pub property: Option<String>,
    pub message: String,
    /// The offending value as sent (shortened), shown after the message. Kept apart so
    /// a message about someone else's document can leave it out
    /// ([`RecordError::without_values`]).
    #[serde(skip)]
    pub found: Option<String>,
}

impl RecordError {
    pub(super) fn syntax(line: u64, message: &str) -> RecordError {
        RecordError {
            line,
            property: None,
            message: format!("not valid JSON: {message}"),
            found: None,
        }
    }

    fn at(line: u64, property: &str, message: impl Into<String>) -> RecordError {
        RecordError {
            line,
            property: Some(property.to_string()),
            message: message.into(),
            found: None,
        }
    }

    fn found(mut self, value: &Value) -> RecordError {
        self.found = Some(shown(value));
        self
    }

    /// The problem in words that quote nothing from the record: no value, and a
    /// property only when the model has it. For documents fetched from elsewhere (the
    /// lookup refresh), whose errors are kept in the job history.
    pub(crate) fn without_values(&self, set: &EntitySet) -> String {
        let property = self
            .property
            .as_deref()
            .filter(|p| set.property(p).is_some());
        match property {
            Some(p) => format!("row {}: property '{p}': {}", self.line, self.message),
            None => format!("row {}: {}", self.line, self.message),
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.property {
            Some(p) => write!(f, "line {}: property '{}': {}", self.line, p, self.message)?,
            None => write!(f, "line {}: {}", self.line, self.message)?,
        }
        match &self.found {
            Some(found) => write!(f, ", found {found}"),
            None => Ok(()),
        }
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

/// A record's row and, for a conversation medium, its Conversations row.
pub(crate) type Converted = (Vec<store::Value>, Option<Vec<store::Value>>);

pub(crate) struct Converter<'m> {
    set: &'m EntitySet,
    tenant_id: String,
    tz: Tz,
    columns: Vec<usize>,
    /// For Calls, Chats and Emails: the Conversations columns and, for each, the
    /// property of this set it copies (or none: null).
    conversation: Option<(Vec<usize>, Vec<Option<usize>>)>,
}

impl<'m> Converter<'m> {
    pub(crate) fn new(
        model: &'m Model,
        set: &'m EntitySet,
        tenant: &Tenant,
    ) -> Result<Converter<'m>, IngestError> {
        let tz: Tz = tenant.time_zone.parse().map_err(|_| {
            IngestError::NotAccepted(format!(
                "the tenant's time zone '{}' is not valid",
                tenant.time_zone
            ))
        })?;
        let conversation = match (set.name.as_str(), model.entity_set("Conversations")) {
            ("Calls" | "Chats" | "Emails", Some(conv)) => {
                let columns: Vec<usize> = (0..conv.properties.len()).collect();
                let sources = conv
                    .properties
                    .iter()
                    .map(|p| set.property_index(&p.name))
                    .collect();
                Some((columns, sources))
            }
            _ => None,
        };
        Ok(Converter {
            set,
            tenant_id: tenant.id.clone(),
            tz,
            columns: (0..set.properties.len()).collect(),
            conversation,
        })
    }

    pub(crate) fn columns(&self) -> &[usize] {
        &self.columns
    }

    pub(super) fn conversation_columns(&self) -> Option<&[usize]> {
        self.conversation.as_ref().map(|(c, _)| c.as_slice())
    }

    /// The row for this set and, for a conversation medium, its Conversations row.
    pub(crate) fn convert(&self, line: u64, value: &Value) -> Result<Converted, Vec<RecordError>> {
        let Value::Object(fields) = value else {
            return Err(vec![RecordError {
                line,
                property: None,
                message: "expected a JSON object".into(),
                found: Some(shown(value)),
            }]);
        };
        let mut errors = Vec::new();
        for name in fields.keys() {
            if self.set.property(name).is_none() {
                let hint = self
                    .set
                    .property_names()
                    .find(|p| p.eq_ignore_ascii_case(name))
                    .map(|p| format!("; did you mean '{p}'?"))
                    .unwrap_or_default();
                errors.push(RecordError::at(
                    line,
                    name,
                    format!("{} has no such property{hint}", self.set.name),
                ));
            }
        }
        let mut row: Vec<store::Value> = vec![store::Value::Null; self.set.properties.len()];
        let mut instants: Vec<Option<DateTime<Utc>>> = vec![None; self.set.properties.len()];
        for (i, p) in self.set.properties.iter().enumerate() {
            if p.storage == Storage::LocalText {
                continue; // derived below
            }
            let v = fields.get(&p.name).unwrap_or(&Value::Null);
            if p.column == "tenant_id" {
                // The caller's tenant, whatever the record says (checked below).
                row[i] = store::Value::Text(self.tenant_id.clone());
                continue;
            }
            if v.is_null() {
                if !p.nullable {
                    errors.push(RecordError::at(
                        line,
                        &p.name,
                        "is required and must not be null",
                    ));
                }
                continue;
            }
            let converted = match p.ty {
                // PostgreSQL text cannot hold U+0000, so no backend takes it.
                EdmType::String => match v.as_str() {
                    Some(s) if s.contains('\0') => {
                        errors.push(RecordError::at(
                            line,
                            &p.name,
                            "must not contain the NUL character (\\u0000)",
                        ));
                        continue;
                    }
                    Some(s) => Ok(store::Value::Text(s.to_string())),
                    None => Err("expected a string"),
                },
                EdmType::Int32 => v
                    .as_i64()
                    .filter(|n| i32::try_from(*n).is_ok())
                    .map(store::Value::Int)
                    .ok_or("expected a whole number between -2147483648 and 2147483647"),
                EdmType::Int64 => v
                    .as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .map(store::Value::Int)
                    .ok_or("expected a whole number"),
                EdmType::Double => v
                    .as_f64()
                    .map(store::Value::Double)
                    .ok_or("expected a number"),
                EdmType::Boolean => v
                    .as_bool()
                    .map(store::Value::Bool)
                    .ok_or("expected true or false"),
                EdmType::DateTimeOffset => match v.as_str().and_then(parse_timestamp) {
                    Some(t) => {
                        instants[i] = Some(t);
                        Ok(store::Value::Instant(t))
                    }
                    None => Err(
                        "expected a timestamp with an offset between years 1 and 9999, e.g. 2026-03-01T08:30:00Z",
                    ),
                },
            };
            match converted {
                Ok(b) => row[i] = b,
                Err(what) => errors.push(RecordError::at(line, &p.name, what).found(v)),
            }
        }
        // Local renderings from their UTC twins, in the tenant's time zone.
        for (i, p) in self.set.properties.iter().enumerate() {
            let Some(twin) = p.utc_twin.filter(|_| p.storage == Storage::LocalText) else {
                continue;
            };
            let sent = fields.get(&p.name).filter(|v| !v.is_null());
            match instants[twin] {
                Some(t) => {
                    if let Some(v) = sent {
                        match v.as_str().and_then(parse_timestamp) {
                            Some(local) if local == t => {}
                            Some(_) => errors.push(RecordError::at(
                                line,
                                &p.name,
                                format!("is a different instant than {}; it can be left out, ccfeed derives it", self.set.properties[twin].name),
                            )),
                            None => errors.push(RecordError::at(line, &p.name, "expected a timestamp with an offset").found(v)),
                        }
                    }
                    row[i] = store::Value::Text(
                        t.with_timezone(&self.tz)
                            .to_rfc3339_opts(SecondsFormat::Millis, false),
                    );
                }
                None if sent.is_some() => errors.push(RecordError::at(
                    line,
                    &p.name,
                    format!(
                        "is derived from {}, which is missing",
                        self.set.properties[twin].name
                    ),
                )),
                None => {}
            }
        }
        // The tenant column is the caller's tenant, never the record's.
        if let Some(v) = fields.get("tenantId").filter(|v| !v.is_null())
            && self.set.property("tenantId").is_some()
            && v.as_str() != Some(self.tenant_id.as_str())
        {
            errors.push(RecordError::at(
                line,
                "tenantId",
                format!("must be your tenant '{}' or left out", self.tenant_id),
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let conversation = self.conversation.as_ref().map(|(_, sources)| {
            sources
                .iter()
                .map(|s| s.map_or(store::Value::Null, |i| row[i].clone()))
                .collect()
        });
        Ok((row, conversation))
    }
}

/// RFC 3339 with an offset, stored at millisecond precision (the model's Precision).
fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc);
    if !(1..=9999).contains(&chrono::Datelike::year(&t)) {
        return None;
    }
    t.duration_trunc(TimeDelta::milliseconds(1)).ok()
}
