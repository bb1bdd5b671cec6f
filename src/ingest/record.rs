//! One JSON record → one row, through the store's [`RowBuilder`]: this module turns
//! each JSON value into a value of its property's type (the right JSON type for each
//! EDM type, timestamps with an offset), and the builder checks the rest against the
//! model and derives the tenant-local times and the Conversations row. Errors name
//! the line (or record number) and property.

use std::fmt;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::Value;

use crate::edm::{EdmType, EntitySet, Model, Storage};
use crate::store::tenants::Tenant;
use crate::store::{self, Built, RowBuilder, StoreError, shown};

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

/// A record turned into values for the [`RowBuilder`], which checks them against the
/// model and derives the rest (tenant, local times, the Conversations row).
pub(crate) struct Converter<'m> {
    builder: RowBuilder<'m>,
    /// Properties whose sent values are checked but never kept.
    dropped: Vec<usize>,
}

impl<'m> Converter<'m> {
    pub(crate) fn new(
        model: &'m Model,
        set: &'m EntitySet,
        tenant: &Tenant,
    ) -> Result<Converter<'m>, IngestError> {
        let builder = RowBuilder::new(model, set, tenant).map_err(|e| match e {
            StoreError::Invalid(message) => IngestError::NotAccepted(message),
            other => IngestError::Store(other),
        })?;
        Ok(Converter {
            builder,
            dropped: Vec::new(),
        })
    }

    /// A converter that checks a value sent for `property` but keeps null instead (the
    /// lookup refresh never takes `deletedAt` from its source).
    pub(crate) fn dropping(mut self, property: &str) -> Converter<'m> {
        if let Some(id) = self.builder.set().property_id(property) {
            self.dropped.push(id.index());
        }
        self
    }

    /// The builder, for a [`RowWriter`](crate::store::RowWriter) of its rows.
    pub(crate) fn builder(&self) -> &RowBuilder<'m> {
        &self.builder
    }

    /// The row for this set and, for a conversation medium, its Conversations row.
    pub(crate) fn convert(&mut self, line: u64, value: &Value) -> Result<Built, Vec<RecordError>> {
        let Value::Object(fields) = value else {
            return Err(vec![RecordError {
                line,
                property: None,
                message: "expected a JSON object".into(),
                found: Some(shown(value)),
            }]);
        };
        let set = self.builder.set();
        for name in fields.keys() {
            if set.property(name).is_none() {
                self.builder.unknown_property(name);
            }
        }
        for (i, p) in set.properties.iter().enumerate() {
            let v = fields.get(&p.name).unwrap_or(&Value::Null);
            if p.column == "tenant_id" {
                // Compared with the caller's tenant by the builder.
                self.builder.set_value(i, loose(v));
                continue;
            }
            if v.is_null() {
                self.builder.set_value(i, store::Value::Null);
                continue;
            }
            if p.storage == Storage::LocalText {
                match v.as_str().and_then(parse_timestamp) {
                    Some(t) => self.builder.set_value(i, store::Value::Instant(t)),
                    None => self.builder.reject(
                        i,
                        "expected a timestamp with an offset",
                        Some(shown(v)),
                    ),
                }
                continue;
            }
            match from_json(p.ty, v) {
                Ok(_) if self.dropped.contains(&i) => {
                    self.builder.set_value(i, store::Value::Null);
                }
                Ok(value) => self.builder.set_value(i, value),
                Err(what) => self.builder.reject(i, what, Some(shown(v))),
            }
        }
        self.builder.finish().map_err(|errors| {
            errors
                .into_iter()
                .map(|e| RecordError {
                    line,
                    property: e.property,
                    message: e.message,
                    found: e.found,
                })
                .collect()
        })
    }
}

/// A JSON value as the value of a property of type `ty`, or what was expected. The
/// builder checks the rest (an `Edm.Int32`'s range, allowed values, U+0000).
fn from_json(ty: EdmType, v: &Value) -> Result<store::Value, &'static str> {
    match ty {
        EdmType::String => v
            .as_str()
            .map(|s| store::Value::Text(s.to_string()))
            .ok_or("expected a string"),
        EdmType::Int32 => v
            .as_i64()
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
        EdmType::DateTimeOffset => v.as_str().and_then(parse_timestamp).map(store::Value::Instant).ok_or(
            "expected a timestamp with an offset between years 1 and 9999, e.g. 2026-03-01T08:30:00Z",
        ),
    }
}

/// Any JSON value as a value, for a comparison (the tenant column).
fn loose(v: &Value) -> store::Value {
    match v {
        Value::Null => store::Value::Null,
        Value::String(s) => store::Value::Text(s.clone()),
        Value::Bool(b) => store::Value::Bool(*b),
        other => store::Value::Text(other.to_string()),
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
