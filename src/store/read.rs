//! Executing statements and streaming their rows, cell by cell, into a [`RowSink`].
//!
//! Cells are decoded by the column kind the model gives, straight from the driver's
//! buffer: SQLite text is passed through as `&str` (read through the C API,
//! [`super::sqlite`]), PostgreSQL values are decoded from the binary wire format.
//! PostgreSQL rows are streamed, so a large page never sits in
//! the driver's memory as a whole (reading each page as one libpq result doubled the
//! server's peak RSS in a full pull: BENCHMARKS.md, "PostgreSQL pull and point
//! filter"): on the wire reader ([`super::wire`]) outside a transaction, row by row
//! through libpq inside one.

use diesel::connection::LoadConnection;
use diesel::pg::{PgConnection, PgRowByRowLoadingMode};
use diesel::row::{Field, Row};

use super::bind::{self, Use};
use super::compile::ColumnPos;
use super::deadline;
use super::sql::Statement;
use super::value::PG_EPOCH_OFFSET_MICROS;
use super::{Cell, ColumnKind};
use super::{Conn, StoreError};

/// Receives rows. `begin_row` may return `false` to stop reading early.
pub trait RowSink {
    fn begin_row(&mut self) -> Result<bool, StoreError>;
    fn cell(&mut self, column: ColumnPos, cell: Cell<'_>) -> Result<(), StoreError>;
    fn end_row(&mut self) -> Result<(), StoreError>;
}

fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("expected {N} bytes, got {}", bytes.len())))
}

/// A PostgreSQL value in the binary format, decoded by the column kind the model gives.
pub(super) fn pg_cell(bytes: &[u8], kind: ColumnKind) -> Result<Cell<'_>, StoreError> {
    Ok(match kind {
        ColumnKind::Boolean => Cell::Bool(bytes.first().copied().unwrap_or(0) != 0),
        // Integers are read by width, so INTEGER and BIGINT columns both fit either kind.
        ColumnKind::Int32 | ColumnKind::Int64 => Cell::Int(match bytes.len() {
            2 => i16::from_be_bytes(fixed(bytes)?) as i64,
            4 => i32::from_be_bytes(fixed(bytes)?) as i64,
            _ => i64::from_be_bytes(fixed(bytes)?),
        }),
        ColumnKind::Double => Cell::Double(f64::from_be_bytes(fixed(bytes)?)),
        ColumnKind::Instant => {
            Cell::InstantMicros(i64::from_be_bytes(fixed(bytes)?) + PG_EPOCH_OFFSET_MICROS)
        }
        ColumnKind::Text | ColumnKind::LocalText => {
            Cell::Text(std::str::from_utf8(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        }
    })
}

/// Runs a SELECT and feeds each row to `sink`. Returns the number of rows read.
pub(crate) fn stream_rows(
    conn: &mut Conn,
    stmt: &Statement,
    kinds: &[ColumnKind],
    sink: &mut dyn RowSink,
) -> Result<u64, StoreError> {
    match conn {
        Conn::Sqlite(c) => c.read(stmt, kinds, sink),
        // Watched for a gone client, and on the wire reader outside a transaction.
        Conn::Postgres(c) => c.read(deadline::cancel_flag(), stmt, kinds, sink),
    }
}

/// Reads on the Diesel connection (inside a transaction; see [`super::wire`]), row by
/// row. Returns the number of rows read.
pub(super) fn read_pg(
    c: &mut PgConnection,
    stmt: &Statement,
    kinds: &[ColumnKind],
    sink: &mut dyn RowSink,
) -> Result<u64, StoreError> {
    let cursor = LoadConnection::<PgRowByRowLoadingMode>::load(c, bind::pg(stmt, Use::Read)?)?;
    let mut rows = 0;
    for row in cursor {
        let row = row?;
        if !sink.begin_row()? {
            break;
        }
        for (i, &kind) in kinds.iter().enumerate() {
            let field = row
                .get(i)
                .ok_or_else(|| StoreError::Corrupt(format!("column {i} missing")))?;
            let cell = match field.value() {
                None => Cell::Null,
                Some(v) => pg_cell(v.as_bytes(), kind)?,
            };
            sink.cell(ColumnPos::new(i), cell)?;
        }
        sink.end_row()?;
        rows += 1;
    }
    Ok(rows)
}

/// Collects the first cell of the first row as an integer.
struct FirstInt(Option<i64>);

impl RowSink for FirstInt {
    fn begin_row(&mut self) -> Result<bool, StoreError> {
        Ok(self.0.is_none())
    }
    fn cell(&mut self, column: ColumnPos, cell: Cell<'_>) -> Result<(), StoreError> {
        if column.index() == 0
            && let Cell::Int(v) = cell
        {
            self.0 = Some(v);
        }
        Ok(())
    }
    fn end_row(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Runs a query that returns one integer (`COUNT(*)`).
pub(crate) fn scalar_i64(conn: &mut Conn, stmt: &Statement) -> Result<i64, StoreError> {
    let mut sink = FirstInt(None);
    stream_rows(conn, stmt, &[ColumnKind::Int64], &mut sink)?;
    sink.0
        .ok_or_else(|| StoreError::Corrupt("the query returned no number".into()))
}
