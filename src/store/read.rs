//! Executing statements and streaming their rows, cell by cell, into a [`RowSink`].
//!
//! Cells are decoded by the column kind the model gives, straight from the driver's
//! buffer: SQLite text is passed through as `&str`, PostgreSQL values are decoded from
//! the binary wire format. PostgreSQL results are read row by row, so a large page
//! never sits in libpq's memory as a whole: reading each page as one result instead
//! doubled the server's peak RSS in a full pull and did not make it measurably faster
//! (BENCHMARKS.md, "PostgreSQL pull and point filter").

use std::sync::atomic::Ordering;

use diesel::connection::{DefaultLoadingMode, LoadConnection};
use diesel::pg::{Pg, PgConnection, PgRowByRowLoadingMode, PgValue};
use diesel::query_builder::{AstPass, BoxedSqlQuery, Query, QueryFragment, QueryId, SqlQuery};
use diesel::row::{Field, Row};
use diesel::sql_types::{BigInt, Bool, Double, Integer, Nullable, Text, Timestamptz, Untyped};
use diesel::sqlite::{Sqlite, SqliteConnection, SqliteValue};

use super::compile::ColumnPos;
use super::deadline;
use super::sql::Statement;
use super::value::PG_EPOCH_OFFSET_MICROS;
use super::{Cell, ColumnKind, Value, parse_instant};
use super::{Conn, StoreError};

/// Receives rows. `begin_row` may return `false` to stop reading early.
pub trait RowSink {
    fn begin_row(&mut self) -> Result<bool, StoreError>;
    fn cell(&mut self, column: ColumnPos, cell: Cell<'_>) -> Result<(), StoreError>;
    fn end_row(&mut self) -> Result<(), StoreError>;
}

pub(crate) fn bind_sqlite(stmt: &Statement) -> BoxedSqlQuery<'_, Sqlite, SqlQuery> {
    let mut q = diesel::sql_query(stmt.text.as_str()).into_boxed::<Sqlite>();
    for (bind, _) in &stmt.binds {
        // SQLite columns are dynamically typed, so the column kind does not matter.
        q = match bind {
            Value::Null => q.bind::<Nullable<Text>, Option<&str>>(None),
            Value::Bool(v) => q.bind::<Bool, _>(*v),
            Value::Int(v) => q.bind::<BigInt, _>(*v),
            Value::Double(v) | Value::Duration(v) => q.bind::<Double, _>(*v),
            Value::Text(s) => q.bind::<Text, _>(s.as_str()),
            other => q.bind::<Text, _>(other.plain_text().unwrap_or_default()),
        };
    }
    q
}

pub(crate) fn bind_pg(stmt: &Statement) -> BoxedSqlQuery<'_, Pg, SqlQuery> {
    let mut q = diesel::sql_query(stmt.text.as_str()).into_boxed::<Pg>();
    for (bind, kind) in &stmt.binds {
        q = match (bind, kind) {
            (Value::Null, ColumnKind::Int32) => q.bind::<Nullable<Integer>, Option<i32>>(None),
            (Value::Null, ColumnKind::Int64) => q.bind::<Nullable<BigInt>, Option<i64>>(None),
            (Value::Null, ColumnKind::Double) => q.bind::<Nullable<Double>, Option<f64>>(None),
            (Value::Null, ColumnKind::Boolean) => q.bind::<Nullable<Bool>, Option<bool>>(None),
            (Value::Null, ColumnKind::Instant) => {
                q.bind::<Nullable<Timestamptz>, Option<chrono::DateTime<chrono::Utc>>>(None)
            }
            (Value::Null, ColumnKind::Text | ColumnKind::LocalText) => {
                q.bind::<Nullable<Text>, Option<&str>>(None)
            }
            (Value::Bool(v), _) => q.bind::<Bool, _>(*v),
            (Value::Int(v), ColumnKind::Int32) => match i32::try_from(*v) {
                Ok(small) => q.bind::<Integer, _>(small),
                Err(_) => q.bind::<BigInt, _>(*v),
            },
            (Value::Int(v), _) => q.bind::<BigInt, _>(*v),
            (Value::Double(v) | Value::Duration(v), _) => q.bind::<Double, _>(*v),
            (Value::Text(s), ColumnKind::Instant) => match parse_instant(s) {
                Some(t) => q.bind::<Timestamptz, _>(t),
                None => q.bind::<Text, _>(s.as_str()),
            },
            (Value::Text(s), _) => q.bind::<Text, _>(s.as_str()),
            (Value::Instant(t), _) => q.bind::<Timestamptz, _>(*t),
            (other @ (Value::Local(_) | Value::Date(_) | Value::Time(_)), _) => {
                q.bind::<Text, _>(other.plain_text().unwrap_or_default())
            }
        };
    }
    q
}

/// Distinct SQL texts whose prepared statements SQLite connections keep for reuse.
/// Diesel's statement cache has no eviction, so admission is bounded process-wide:
/// the first [`CACHED_SQL_LIMIT`] distinct texts (in practice the few query shapes a
/// client repeats, e.g. the page and count queries of a refresh) are kept on every
/// connection; later ones are prepared per use, as before.
static CACHED_SQL: std::sync::Mutex<Option<std::collections::HashSet<u64>>> =
    std::sync::Mutex::new(None);
const CACHED_SQL_LIMIT: usize = 64;

fn admit_to_cache(text: &str) -> bool {
    use std::hash::{BuildHasher, BuildHasherDefault};
    let hash =
        BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(text);
    let Ok(mut set) = CACHED_SQL.lock() else {
        return false;
    };
    let set = set.get_or_insert_with(Default::default);
    if set.contains(&hash) {
        return true;
    }
    if set.len() < CACHED_SQL_LIMIT {
        set.insert(hash);
        return true;
    }
    false
}

/// A statement for SQLite whose prepared form Diesel may keep in the connection's
/// statement cache (Diesel's `sql_query` is never cached). The text is split at its
/// `?` placeholders so Diesel writes each placeholder itself as it binds; a text with
/// any other `?` is not split and not cached.
pub(crate) struct SqliteStatement<'a> {
    parts: Vec<&'a str>,
    binds: &'a [(Value, ColumnKind)],
    /// The text of every bind that SQLite receives as text but the value holds
    /// otherwise (instants, dates, times), in bind order.
    texts: Vec<String>,
    cache: bool,
}

/// SQLite binds a NULL of any type the same way.
const NULL_TEXT: Option<&str> = None;

impl<'a> SqliteStatement<'a> {
    /// `None` when the text cannot be split safely (use [`bind_sqlite`]).
    pub(crate) fn new(stmt: &'a Statement) -> Option<SqliteStatement<'a>> {
        let parts: Vec<&str> = stmt.text.split('?').collect();
        if parts.len() != stmt.binds.len() + 1 {
            return None;
        }
        let texts = stmt
            .binds
            .iter()
            .filter(|(b, _)| is_text_form(b))
            .filter_map(|(b, _)| b.plain_text())
            .collect();
        Some(SqliteStatement {
            parts,
            binds: &stmt.binds,
            texts,
            cache: admit_to_cache(&stmt.text),
        })
    }
}

impl QueryId for SqliteStatement<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for SqliteStatement<'_> {
    type SqlType = Untyped;
}

impl QueryFragment<Sqlite> for SqliteStatement<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> diesel::QueryResult<()> {
        if !self.cache {
            out.unsafe_to_cache_prepared();
        }
        let mut texts = self.texts.iter();
        for (i, part) in self.parts.iter().enumerate() {
            out.push_sql(part);
            let Some((bind, _)) = self.binds.get(i) else {
                break;
            };
            match bind {
                Value::Null => out.push_bind_param::<Nullable<Text>, _>(&NULL_TEXT)?,
                Value::Bool(v) => out.push_bind_param::<Bool, _>(v)?,
                Value::Int(v) => out.push_bind_param::<BigInt, _>(v)?,
                Value::Double(v) | Value::Duration(v) => out.push_bind_param::<Double, _>(v)?,
                Value::Text(s) => out.push_bind_param::<Text, String>(s)?,
                Value::Instant(_) | Value::Local(_) | Value::Date(_) | Value::Time(_) => {
                    match texts.next() {
                        Some(t) => out.push_bind_param::<Text, String>(t)?,
                        None => {
                            return Err(diesel::result::Error::QueryBuilderError(
                                "a bind has no text".into(),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Binds SQLite receives as text though the value is not a string.
fn is_text_form(v: &Value) -> bool {
    matches!(
        v,
        Value::Instant(_) | Value::Local(_) | Value::Date(_) | Value::Time(_)
    )
}

fn sqlite_cell<'v>(value: &'v mut SqliteValue<'_, '_, '_>, kind: ColumnKind) -> Cell<'v> {
    match kind {
        ColumnKind::Boolean => Cell::Bool(value.read_long() != 0),
        ColumnKind::Int32 | ColumnKind::Int64 => Cell::Int(value.read_long()),
        ColumnKind::Double => Cell::Double(value.read_double()),
        ColumnKind::Text | ColumnKind::LocalText | ColumnKind::Instant => {
            Cell::Text(value.read_text())
        }
    }
}

fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("expected {N} bytes, got {}", bytes.len())))
}

fn pg_cell<'v>(value: &PgValue<'v>, kind: ColumnKind) -> Result<Cell<'v>, StoreError> {
    let bytes = value.as_bytes();
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
        Conn::Sqlite(c) => read_sqlite(c, stmt, kinds, sink),
        Conn::Postgres(c) => {
            // A statement read for a request whose client may go away is watched, so
            // that it can be cancelled in its backend (see `cancel`).
            let flag = deadline::cancel_flag();
            if flag.as_ref().is_some_and(|f| f.load(Ordering::Relaxed)) {
                return Err(StoreError::SinkClosed);
            }
            let watched = flag.map(|f| c.watch(f));
            match (read_pg(c, stmt, kinds, sink), watched) {
                (Err(_), Some(w)) if w.client_gone() => Err(StoreError::SinkClosed),
                (result, _) => result,
            }
        }
    }
}

fn read_sqlite(
    c: &mut SqliteConnection,
    stmt: &Statement,
    kinds: &[ColumnKind],
    sink: &mut dyn RowSink,
) -> Result<u64, StoreError> {
    let mut rows = 0;
    let cursor = match SqliteStatement::new(stmt) {
        Some(q) => LoadConnection::<DefaultLoadingMode>::load(c, q)?,
        None => LoadConnection::<DefaultLoadingMode>::load(c, bind_sqlite(stmt))?,
    };
    for row in cursor {
        let row = row?;
        if !sink.begin_row()? {
            break;
        }
        for (i, &kind) in kinds.iter().enumerate() {
            let field = row
                .get(i)
                .ok_or_else(|| StoreError::Corrupt(format!("column {i} missing")))?;
            match field.value() {
                None => sink.cell(ColumnPos::new(i), Cell::Null)?,
                Some(mut v) => sink.cell(ColumnPos::new(i), sqlite_cell(&mut v, kind))?,
            }
        }
        sink.end_row()?;
        rows += 1;
    }
    Ok(rows)
}

fn read_pg(
    c: &mut PgConnection,
    stmt: &Statement,
    kinds: &[ColumnKind],
    sink: &mut dyn RowSink,
) -> Result<u64, StoreError> {
    let mut rows = 0;
    let cursor = LoadConnection::<PgRowByRowLoadingMode>::load(c, bind_pg(stmt))?;
    for row in cursor {
        let row = row?;
        if !sink.begin_row()? {
            break;
        }
        for (i, &kind) in kinds.iter().enumerate() {
            let field = row
                .get(i)
                .ok_or_else(|| StoreError::Corrupt(format!("column {i} missing")))?;
            match field.value() {
                None => sink.cell(ColumnPos::new(i), Cell::Null)?,
                Some(v) => sink.cell(ColumnPos::new(i), pg_cell(&v, kind)?)?,
            }
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
