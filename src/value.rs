//! The one owned value type of the crate (as DataFusion's `ScalarValue`): a literal or
//! alias bound by `plan`, a bind parameter in `store`'s SQL, a sort key carried in a
//! `$skiptoken`, a cell of a raw query, and a value in the reference evaluator are all
//! a [`Value`]. It sits below every other module, so they can share it without
//! depending on each other.
//!
//! Instants have one text form, [`format_instant`]: three fractional digits and `Z`,
//! so text order is time order (SQLite stores them that way, JSON shows them so).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, SecondsFormat, Utc};

/// One value. The EDM type travels beside it where it matters (a bound constant
/// carries its `Ty`, a bind its column kind), so `Edm.Decimal` literals are held as
/// doubles: the feed has no decimal columns.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    Text(String),
    /// A UTC instant.
    Instant(DateTime<Utc>),
    /// A tenant-local timestamp: an instant with the offset it was rendered in.
    Local(DateTime<FixedOffset>),
    Date(NaiveDate),
    Time(NaiveTime),
    /// Seconds, possibly fractional and negative.
    Duration(f64),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as plain text (no quotes), `None` for null: the same for a value
    /// about to be bound and for one read back, so the two compare as text.
    pub fn plain_text(&self) -> Option<String> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Double(d) | Value::Duration(d) => d.to_string(),
            Value::Text(s) => s.clone(),
            Value::Instant(t) => format_instant(t),
            Value::Local(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
            Value::Date(d) => d.to_string(),
            Value::Time(t) => t.to_string(),
        })
    }
}

/// The text form of a UTC instant used on the wire and in SQLite: always three
/// fractional digits and `Z`, so text order equals time order.
pub fn format_instant(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses the stored or wire form of an instant (any RFC 3339 offset accepted).
pub fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// OData literal syntax, as in `$filter` (used in plan tests and skiptoken
/// fingerprints, so the text of a value never changes meaning).
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Double(d) => write!(f, "{d:?}"),
            Value::Text(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Value::Instant(t) => f.write_str(&format_instant(t)),
            Value::Local(t) => f.write_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true)),
            Value::Date(d) => write!(f, "{d}"),
            Value::Time(t) => write!(f, "{t}"),
            Value::Duration(s) => write!(f, "duration'PT{s}S'"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_in_fixed_width_text() {
        let t = parse_instant("2026-01-02T03:04:05.6+01:00").unwrap();
        assert_eq!(format_instant(&t), "2026-01-02T02:04:05.600Z");
        assert_eq!(parse_instant(&format_instant(&t)), Some(t));
        assert_eq!(parse_instant("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn values_print_as_odata_literals() {
        assert_eq!(Value::Text("o'k".into()).to_string(), "'o''k'");
        assert_eq!(Value::Double(2.0).to_string(), "2.0");
        assert_eq!(Value::Null.to_string(), "null");
    }
}
