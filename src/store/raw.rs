//! Hand-written SQL for the store's own bookkeeping (tenants, keys, jobs, imports,
//! agent-segment metrics): a statement from `?` placeholders, numbered for PostgreSQL,
//! and its rows as owned values.

use super::sql::Statement;
use super::value::{Bind, Cell, ColumnKind, SortValue};
use super::{Conn, RowSink, StoreError, stream_rows};

/// Collects rows as owned values.
struct Rows(Vec<Vec<SortValue>>, usize);

impl RowSink for Rows {
    fn begin_row(&mut self) -> Result<bool, StoreError> {
        self.0.push(vec![SortValue::Null; self.1]);
        Ok(true)
    }
    fn cell(&mut self, column: usize, cell: Cell<'_>) -> Result<(), StoreError> {
        if let Some(row) = self.0.last_mut()
            && let Some(slot) = row.get_mut(column)
        {
            slot.assign(cell);
        }
        Ok(())
    }
    fn end_row(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

pub fn query(
    conn: &mut Conn,
    stmt: &Statement,
    kinds: &[ColumnKind],
) -> Result<Vec<Vec<SortValue>>, StoreError> {
    let mut rows = Rows(Vec::new(), kinds.len());
    stream_rows(conn, stmt, kinds, &mut rows)?;
    Ok(rows.0)
}

/// An owned value as text (timestamps in the feed's UTC form).
pub fn text(v: &SortValue) -> String {
    match v {
        SortValue::Text(s) => s.clone(),
        SortValue::Instant(t) => super::format_instant(t),
        SortValue::Int(i) => i.to_string(),
        SortValue::Null => String::new(),
        SortValue::Bool(b) => b.to_string(),
        SortValue::Double(d) => d.to_string(),
    }
}

/// A statement from SQL with `?` placeholders (numbered for PostgreSQL).
pub fn stmt(conn: &Conn, sql: &str, binds: Vec<(Bind, ColumnKind)>) -> Statement {
    // `?` placeholders, numbered for PostgreSQL.
    let dialect = conn.dialect();
    let mut text = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            text.push_str(&dialect.placeholder(n));
        } else {
            text.push(ch);
        }
    }
    Statement { text, binds }
}
