//! Values crossing the store boundary: a [`Value`] goes into a query as a bind
//! parameter, a [`Cell`] comes out of a row without copying, and [`assign`] keeps an
//! owned copy of a cell (a sort key for the next page's skiptoken).

use chrono::DateTime;

use crate::value::Value;

/// Microseconds between 1970-01-01 and 2000-01-01, PostgreSQL's timestamp epoch.
pub(crate) const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

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

impl<'a> Cell<'a> {
    /// The cell of an owned value (rows held back for `$expand`).
    pub fn of(value: &'a Value) -> Cell<'a> {
        match value {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Int(i) => Cell::Int(*i),
            Value::Double(d) | Value::Duration(d) => Cell::Double(*d),
            Value::Text(s) => Cell::Text(s),
            Value::Instant(t) => Cell::InstantMicros(t.timestamp_micros()),
            // Never read from a row: local times are read as text.
            Value::Local(_) | Value::Date(_) | Value::Time(_) => Cell::Null,
        }
    }

    /// The owned value of this cell.
    pub fn to_value(self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Bool(b) => Value::Bool(b),
            Cell::Int(i) => Value::Int(i),
            Cell::Double(d) => Value::Double(d),
            Cell::Text(s) => Value::Text(s.to_string()),
            Cell::InstantMicros(m) => match DateTime::from_timestamp_micros(m) {
                Some(t) => Value::Instant(t),
                None => Value::Null,
            },
        }
    }
}

/// Overwrites `slot` with `cell`, reusing the string buffer when it can.
pub fn assign(slot: &mut Value, cell: Cell<'_>) {
    match (slot, cell) {
        (Value::Text(buf), Cell::Text(s)) => {
            buf.clear();
            buf.push_str(s);
        }
        (slot, cell) => *slot = cell.to_value(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assign_reuses_text_buffers() {
        let mut v = Value::Null;
        assign(&mut v, Cell::Text("abc"));
        assign(&mut v, Cell::Text("de"));
        assert_eq!(v, Value::Text("de".into()));
        assign(&mut v, Cell::InstantMicros(1_000_000));
        assert_eq!(v, Value::Instant(DateTime::from_timestamp(1, 0).unwrap()));
    }
}
