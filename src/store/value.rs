//! Values crossing the store boundary: [`Bind`] goes into a query as a bind parameter,
//! [`Cell`] comes out of a row without copying, [`SortValue`] is an owned cell kept for
//! the keyset position of the next page.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::edm::{EdmType, Property, Storage};

/// Microseconds between 1970-01-01 and 2000-01-01, PostgreSQL's timestamp epoch.
pub(crate) const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// How a column is read and bound: the EDM type plus how timestamps are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Int32,
    Int64,
    Double,
    Boolean,
    /// A UTC instant: TIMESTAMPTZ in PostgreSQL, fixed-width ISO text in SQLite.
    Instant,
    /// A tenant-local rendering of an instant, ISO text with offset on both backends.
    LocalText,
}

impl ColumnKind {
    pub fn of(p: &Property) -> ColumnKind {
        match (p.ty, p.storage) {
            (EdmType::String, _) => ColumnKind::Text,
            (EdmType::Int32, _) => ColumnKind::Int32,
            (EdmType::Int64, _) => ColumnKind::Int64,
            (EdmType::Double, _) => ColumnKind::Double,
            (EdmType::Boolean, _) => ColumnKind::Boolean,
            (EdmType::DateTimeOffset, Storage::LocalText) => ColumnKind::LocalText,
            (EdmType::DateTimeOffset, _) => ColumnKind::Instant,
        }
    }
}

/// A bind parameter. Never rendered into SQL text.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    Text(String),
    Instant(DateTime<Utc>),
}

/// One value of the current row, borrowed from the database driver's buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    Text(&'a str),
    /// Microseconds since the Unix epoch (PostgreSQL timestamps).
    InstantMicros(i64),
}

/// An owned copy of a sort-key cell, used to build the next page's `$skiptoken`.
#[derive(Debug, Clone, PartialEq)]
pub enum SortValue {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    Text(String),
    Instant(DateTime<Utc>),
}

impl SortValue {
    /// Overwrites `self` with `cell`, reusing the string buffer when it can.
    pub fn assign(&mut self, cell: Cell<'_>) {
        match (self, cell) {
            (SortValue::Text(buf), Cell::Text(s)) => {
                buf.clear();
                buf.push_str(s);
            }
            (slot, cell) => *slot = SortValue::from_cell(cell),
        }
    }

    fn from_cell(cell: Cell<'_>) -> SortValue {
        match cell {
            Cell::Null => SortValue::Null,
            Cell::Bool(b) => SortValue::Bool(b),
            Cell::Int(i) => SortValue::Int(i),
            Cell::Double(d) => SortValue::Double(d),
            Cell::Text(s) => SortValue::Text(s.to_string()),
            Cell::InstantMicros(m) => SortValue::Instant(
                DateTime::from_timestamp_micros(m).unwrap_or(DateTime::UNIX_EPOCH),
            ),
        }
    }

    pub fn into_bind(self) -> Bind {
        match self {
            SortValue::Null => Bind::Null,
            SortValue::Bool(b) => Bind::Bool(b),
            SortValue::Int(i) => Bind::Int(i),
            SortValue::Double(d) => Bind::Double(d),
            SortValue::Text(s) => Bind::Text(s),
            SortValue::Instant(t) => Bind::Instant(t),
        }
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
    fn sort_value_reuses_text_buffers() {
        let mut v = SortValue::Null;
        v.assign(Cell::Text("abc"));
        v.assign(Cell::Text("de"));
        assert_eq!(v, SortValue::Text("de".into()));
        v.assign(Cell::InstantMicros(1_000_000));
        assert_eq!(
            v,
            SortValue::Instant(DateTime::from_timestamp(1, 0).unwrap())
        );
    }
}
