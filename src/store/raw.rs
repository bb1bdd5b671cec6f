//! Hand-written SQL for the store's own bookkeeping (tenants, keys, jobs, imports,
//! agent-segment metrics): a statement from `?` placeholders, numbered for PostgreSQL,
//! and its rows as owned values.

use super::sql::Statement;
use super::{Cell, ColumnKind, ColumnPos, CompileError, Value};
use super::{Conn, RowSink, StoreError, stream_rows};

/// Collects rows as owned values.
struct Rows(Vec<Vec<Value>>, usize);

impl RowSink for Rows {
    fn begin_row(&mut self) -> Result<bool, StoreError> {
        self.0.push(vec![Value::Null; self.1]);
        Ok(true)
    }
    fn cell(&mut self, column: ColumnPos, cell: Cell<'_>) -> Result<(), StoreError> {
        let slot = self
            .0
            .last_mut()
            .and_then(|row| row.get_mut(column.index()))
            .ok_or_else(|| CompileError(format!("column {column} is past the row")))?;
        super::assign(slot, cell);
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
) -> Result<Vec<Vec<Value>>, StoreError> {
    let mut rows = Rows(Vec::new(), kinds.len());
    stream_rows(conn, stmt, kinds, &mut rows)?;
    Ok(rows.0)
}

/// An owned value as text (timestamps in the feed's UTC form), empty for null.
pub fn text(v: &Value) -> String {
    v.plain_text().unwrap_or_default()
}

/// A statement from SQL with `?` placeholders (numbered for PostgreSQL).
pub fn stmt(conn: &Conn, sql: &str, binds: Vec<(Value, ColumnKind)>) -> Statement {
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
