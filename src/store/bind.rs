//! Handing a [`Statement`] to Diesel: each bind typed for its backend, and reads whose
//! prepared form the connection keeps.
//!
//! Diesel's `sql_query` is never kept in a connection's statement cache, so a read
//! would be parsed and planned again on every request. [`Prepared`] gives Diesel the
//! text in pieces with each bind between them; Diesel writes the placeholders back
//! exactly as they were (`?`, or `$1`, `$2`, … in order) and may cache the statement:
//! on SQLite the prepared statement, on PostgreSQL a named server-side statement (parse
//! and planning are about 0.25–0.5 ms of a point request there). Every statement that
//! goes to Diesel goes this way; PostgreSQL reads outside a transaction go to the wire
//! reader instead ([`super::wire`]), which takes the same binds ([`PgArg`]) and keeps
//! the same reads prepared. Only reads are kept, and only the first
//! [`CACHED_SQL_LIMIT`] distinct texts, because Diesel's cache has no eviction; in
//! practice those are the few shapes a client repeats (the page and count queries of a
//! refresh, a dashboard's filters). Writes are never kept: a multi-row upsert's text
//! changes with its row count.

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::RunQueryDsl;
use diesel::sql_types::{BigInt, Bool, Double, Integer, Nullable, Text, Timestamptz, Untyped};
use diesel::sqlite::Sqlite;

use super::sql::{Dialect, Statement};
use super::{ColumnKind, CompileError, Value, parse_instant};

/// A bind as SQLite receives it. Its columns are dynamically typed, so the column
/// kind does not matter; instants, dates and times go as their text.
pub(crate) enum SqliteArg<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    Text(&'a str),
    OwnedText(String),
}

pub(super) fn sqlite_arg(value: &Value) -> SqliteArg<'_> {
    match value {
        Value::Null => SqliteArg::Null,
        Value::Bool(v) => SqliteArg::Bool(*v),
        Value::Int(v) => SqliteArg::Int(*v),
        Value::Double(v) | Value::Duration(v) => SqliteArg::Double(*v),
        Value::Text(s) => SqliteArg::Text(s),
        other => SqliteArg::OwnedText(other.plain_text().unwrap_or_default()),
    }
}

/// A bind as PostgreSQL receives it: the SQL type follows the column it is compared
/// with or written to (a NULL keeps that column's type too).
#[derive(Debug)]
pub(crate) enum PgArg<'a> {
    Null(ColumnKind),
    Bool(bool),
    Int(i32),
    BigInt(i64),
    Double(f64),
    Text(&'a str),
    OwnedText(String),
    Instant(DateTime<Utc>),
}

pub(super) fn pg_arg(value: &Value, kind: ColumnKind) -> PgArg<'_> {
    match (value, kind) {
        (Value::Null, kind) => PgArg::Null(kind),
        (Value::Bool(v), _) => PgArg::Bool(*v),
        (Value::Int(v), ColumnKind::Int32) => match i32::try_from(*v) {
            Ok(small) => PgArg::Int(small),
            Err(_) => PgArg::BigInt(*v),
        },
        (Value::Int(v), _) => PgArg::BigInt(*v),
        (Value::Double(v) | Value::Duration(v), _) => PgArg::Double(*v),
        (Value::Text(s), ColumnKind::Instant) => match parse_instant(s) {
            Some(t) => PgArg::Instant(t),
            None => PgArg::Text(s),
        },
        (Value::Text(s), _) => PgArg::Text(s),
        (Value::Instant(t), _) => PgArg::Instant(*t),
        (other @ (Value::Local(_) | Value::Date(_) | Value::Time(_)), _) => {
            PgArg::OwnedText(other.plain_text().unwrap_or_default())
        }
    }
}

impl PgArg<'_> {
    /// The SQL type the bind is sent as.
    pub(super) fn sql_type(&self) -> tokio_postgres::types::Type {
        use tokio_postgres::types::Type;
        match self {
            PgArg::Null(ColumnKind::Boolean) | PgArg::Bool(_) => Type::BOOL,
            PgArg::Null(ColumnKind::Int32) | PgArg::Int(_) => Type::INT4,
            PgArg::Null(ColumnKind::Int64) | PgArg::BigInt(_) => Type::INT8,
            PgArg::Null(ColumnKind::Double) | PgArg::Double(_) => Type::FLOAT8,
            PgArg::Null(ColumnKind::Instant) | PgArg::Instant(_) => Type::TIMESTAMPTZ,
            PgArg::Null(ColumnKind::Text | ColumnKind::LocalText)
            | PgArg::Text(_)
            | PgArg::OwnedText(_) => Type::TEXT,
        }
    }
}

/// For the wire reader ([`super::wire`]): each bind in the binary format of the type
/// [`PgArg::sql_type`] names, which is the type it is prepared with.
impl tokio_postgres::types::ToSql for PgArg<'_> {
    fn to_sql(
        &self,
        ty: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            PgArg::Null(_) => Ok(tokio_postgres::types::IsNull::Yes),
            PgArg::Bool(v) => v.to_sql(ty, out),
            PgArg::Int(v) => v.to_sql(ty, out),
            PgArg::BigInt(v) => v.to_sql(ty, out),
            PgArg::Double(v) => v.to_sql(ty, out),
            PgArg::Text(s) => s.to_sql(ty, out),
            PgArg::OwnedText(s) => s.to_sql(ty, out),
            PgArg::Instant(t) => t.to_sql(ty, out),
        }
    }

    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Hashes of the SQL texts admitted to connections' statement caches.
static CACHED_SQL: Mutex<Option<HashSet<u64>>> = Mutex::new(None);
const CACHED_SQL_LIMIT: usize = 64;

pub(super) fn admit_to_cache(text: &str) -> bool {
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

/// The text between a statement's placeholders: `binds + 1` pieces, or `None` when
/// the placeholders are not exactly the ones every statement builder writes (`?` each
/// on SQLite, `$1`, `$2`, … in order on PostgreSQL), e.g. a `?` or `$` that is not a
/// placeholder: a bug in the builder, reported as a [`CompileError`].
pub(crate) fn split_at_placeholders(
    text: &str,
    dialect: Dialect,
    binds: usize,
) -> Option<Vec<&str>> {
    let parts: Vec<&str> = match dialect {
        Dialect::Sqlite => text.split('?').collect(),
        Dialect::Postgres => {
            let mut parts = Vec::with_capacity(binds + 1);
            let mut rest = text;
            while let Some(at) = rest.find('$') {
                let digits = rest[at + 1..]
                    .bytes()
                    .take_while(u8::is_ascii_digit)
                    .count();
                let number: usize = rest[at + 1..at + 1 + digits].parse().ok()?;
                if number != parts.len() + 1 {
                    return None;
                }
                parts.push(&rest[..at]);
                rest = &rest[at + 1 + digits..];
            }
            parts.push(rest);
            parts
        }
    };
    (parts.len() == binds + 1).then_some(parts)
}

/// What a statement is for: a read may be kept prepared, a write is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    Read,
    Write,
}

/// A statement as Diesel takes it: the text in pieces, a bind between each two.
pub(crate) struct Prepared<'a, A> {
    parts: Vec<&'a str>,
    args: Vec<A>,
    cache: bool,
}

impl<'a, A> Prepared<'a, A> {
    fn new(
        stmt: &'a Statement,
        dialect: Dialect,
        use_: Use,
        arg: impl Fn(&'a Value, ColumnKind) -> A,
    ) -> Result<Self, CompileError> {
        let parts =
            split_at_placeholders(&stmt.text, dialect, stmt.binds.len()).ok_or_else(|| {
                CompileError(format!(
                    "the placeholders of a statement do not match its {} binds",
                    stmt.binds.len()
                ))
            })?;
        Ok(Prepared {
            parts,
            args: stmt.binds.iter().map(|(v, k)| arg(v, *k)).collect(),
            cache: use_ == Use::Read && admit_to_cache(&stmt.text),
        })
    }
}

/// `stmt` for a SQLite connection.
pub(crate) fn sqlite(
    stmt: &Statement,
    use_: Use,
) -> Result<Prepared<'_, SqliteArg<'_>>, CompileError> {
    Prepared::new(stmt, Dialect::Sqlite, use_, |v, _| sqlite_arg(v))
}

/// `stmt` for a PostgreSQL connection.
pub(crate) fn pg(stmt: &Statement, use_: Use) -> Result<Prepared<'_, PgArg<'_>>, CompileError> {
    Prepared::new(stmt, Dialect::Postgres, use_, pg_arg)
}

impl<A> QueryId for Prepared<'_, A> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<A> Query for Prepared<'_, A> {
    type SqlType = Untyped;
}

impl<A, C> RunQueryDsl<C> for Prepared<'_, A> {}

impl<DB: Backend, A: BindArg<DB>> QueryFragment<DB> for Prepared<'_, A> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if !self.cache {
            out.unsafe_to_cache_prepared();
        }
        let Some((first, rest)) = self.parts.split_first() else {
            return Ok(());
        };
        out.push_sql(first);
        for (arg, part) in self.args.iter().zip(rest) {
            arg.push(&mut out)?;
            out.push_sql(part);
        }
        Ok(())
    }
}

/// One bind, pushed with its backend's SQL type.
pub(crate) trait BindArg<DB: Backend> {
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()>;
}

// NULLs are bound by reference like every other value; these live for the program.
const NULL_TEXT: Option<&str> = None;
const NULL_I32: Option<i32> = None;
const NULL_I64: Option<i64> = None;
const NULL_F64: Option<f64> = None;
const NULL_BOOL: Option<bool> = None;
const NULL_INSTANT: Option<DateTime<Utc>> = None;

impl BindArg<Sqlite> for SqliteArg<'_> {
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        match self {
            SqliteArg::Null => out.push_bind_param::<Nullable<Text>, _>(&NULL_TEXT),
            SqliteArg::Bool(v) => out.push_bind_param::<Bool, _>(v),
            SqliteArg::Int(v) => out.push_bind_param::<BigInt, _>(v),
            SqliteArg::Double(v) => out.push_bind_param::<Double, _>(v),
            SqliteArg::Text(s) => out.push_bind_param::<Text, str>(*s),
            SqliteArg::OwnedText(s) => out.push_bind_param::<Text, String>(s),
        }
    }
}

impl BindArg<Pg> for PgArg<'_> {
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        match self {
            PgArg::Null(ColumnKind::Int32) => {
                out.push_bind_param::<Nullable<Integer>, _>(&NULL_I32)
            }
            PgArg::Null(ColumnKind::Int64) => out.push_bind_param::<Nullable<BigInt>, _>(&NULL_I64),
            PgArg::Null(ColumnKind::Double) => {
                out.push_bind_param::<Nullable<Double>, _>(&NULL_F64)
            }
            PgArg::Null(ColumnKind::Boolean) => {
                out.push_bind_param::<Nullable<Bool>, _>(&NULL_BOOL)
            }
            PgArg::Null(ColumnKind::Instant) => {
                out.push_bind_param::<Nullable<Timestamptz>, _>(&NULL_INSTANT)
            }
            PgArg::Null(ColumnKind::Text | ColumnKind::LocalText) => {
                out.push_bind_param::<Nullable<Text>, _>(&NULL_TEXT)
            }
            PgArg::Bool(v) => out.push_bind_param::<Bool, _>(v),
            PgArg::Int(v) => out.push_bind_param::<Integer, _>(v),
            PgArg::BigInt(v) => out.push_bind_param::<BigInt, _>(v),
            PgArg::Double(v) => out.push_bind_param::<Double, _>(v),
            PgArg::Text(s) => out.push_bind_param::<Text, str>(*s),
            PgArg::OwnedText(s) => out.push_bind_param::<Text, String>(s),
            PgArg::Instant(t) => out.push_bind_param::<Timestamptz, _>(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_split_the_text_into_one_piece_more_than_binds() {
        let sqlite = "SELECT a FROM t WHERE x = ? AND y IN (?, ?)";
        assert_eq!(
            split_at_placeholders(sqlite, Dialect::Sqlite, 3),
            Some(vec!["SELECT a FROM t WHERE x = ", " AND y IN (", ", ", ")"])
        );
        let pg = "SELECT a FROM t WHERE x = $1 AND y > $2::timestamptz LIMIT $3";
        assert_eq!(
            split_at_placeholders(pg, Dialect::Postgres, 3),
            Some(vec![
                "SELECT a FROM t WHERE x = ",
                " AND y > ",
                "::timestamptz LIMIT ",
                ""
            ])
        );
        let ten: String = (1..=10).map(|n| format!("${n},")).collect();
        assert_eq!(
            split_at_placeholders(&ten, Dialect::Postgres, 10).map(|p| p.len()),
            Some(11)
        );
    }

    #[test]
    fn a_text_whose_placeholders_are_not_the_builders_is_not_split() {
        // A count that does not match the binds.
        assert_eq!(split_at_placeholders("x = ?", Dialect::Sqlite, 2), None);
        assert_eq!(split_at_placeholders("x = $1", Dialect::Postgres, 0), None);
        // Out of order, repeated, or a `$` that is not a placeholder.
        assert_eq!(split_at_placeholders("$2, $1", Dialect::Postgres, 2), None);
        assert_eq!(split_at_placeholders("$1, $1", Dialect::Postgres, 2), None);
        assert_eq!(
            split_at_placeholders("'$' || $1", Dialect::Postgres, 1),
            None
        );
        assert_eq!(split_at_placeholders("$", Dialect::Postgres, 0), None);
    }
}
