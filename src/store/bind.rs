//! Handing a [`Statement`] to Diesel: each bind typed for its backend, and reads whose
//! prepared form the connection keeps.
//!
//! Diesel's `sql_query` is never kept in a connection's statement cache, so a read
//! would be parsed and planned again on every request. [`Prepared`] gives Diesel the
//! text in pieces with each bind between them, which Diesel may cache: on SQLite the
//! prepared statement, on PostgreSQL a named server-side statement (parse and planning
//! are about 0.25–0.5 ms of a point request there). Only the first [`CACHED_SQL_LIMIT`]
//! distinct texts are admitted, because Diesel's cache has no eviction; in practice
//! those are the few shapes a client repeats (the page and count queries of a refresh,
//! a dashboard's filters). Later texts are prepared per use, as before.

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, BoxedSqlQuery, Query, QueryFragment, QueryId, SqlQuery};
use diesel::sql_types::{BigInt, Bool, Double, Integer, Nullable, Text, Timestamptz, Untyped};
use diesel::sqlite::Sqlite;

use super::sql::{Dialect, Statement};
use super::{ColumnKind, Value, parse_instant};

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

fn sqlite_arg(value: &Value) -> SqliteArg<'_> {
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

fn pg_arg(value: &Value, kind: ColumnKind) -> PgArg<'_> {
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

/// The statement as a `sql_query` with its binds (never cached; for writes and for a
/// text [`Prepared`] cannot split).
pub(crate) fn bind_sqlite(stmt: &Statement) -> BoxedSqlQuery<'_, Sqlite, SqlQuery> {
    let mut q = diesel::sql_query(stmt.text.as_str()).into_boxed::<Sqlite>();
    for (bind, _) in &stmt.binds {
        q = match sqlite_arg(bind) {
            SqliteArg::Null => q.bind::<Nullable<Text>, Option<&str>>(None),
            SqliteArg::Bool(v) => q.bind::<Bool, _>(v),
            SqliteArg::Int(v) => q.bind::<BigInt, _>(v),
            SqliteArg::Double(v) => q.bind::<Double, _>(v),
            SqliteArg::Text(s) => q.bind::<Text, _>(s),
            SqliteArg::OwnedText(s) => q.bind::<Text, _>(s),
        };
    }
    q
}

/// The statement as a `sql_query` with its binds (never cached; for writes and for a
/// text [`Prepared`] cannot split).
pub(crate) fn bind_pg(stmt: &Statement) -> BoxedSqlQuery<'_, Pg, SqlQuery> {
    let mut q = diesel::sql_query(stmt.text.as_str()).into_boxed::<Pg>();
    for (bind, kind) in &stmt.binds {
        q = match pg_arg(bind, *kind) {
            PgArg::Null(ColumnKind::Int32) => q.bind::<Nullable<Integer>, Option<i32>>(None),
            PgArg::Null(ColumnKind::Int64) => q.bind::<Nullable<BigInt>, Option<i64>>(None),
            PgArg::Null(ColumnKind::Double) => q.bind::<Nullable<Double>, Option<f64>>(None),
            PgArg::Null(ColumnKind::Boolean) => q.bind::<Nullable<Bool>, Option<bool>>(None),
            PgArg::Null(ColumnKind::Instant) => {
                q.bind::<Nullable<Timestamptz>, Option<DateTime<Utc>>>(None)
            }
            PgArg::Null(ColumnKind::Text | ColumnKind::LocalText) => {
                q.bind::<Nullable<Text>, Option<&str>>(None)
            }
            PgArg::Bool(v) => q.bind::<Bool, _>(v),
            PgArg::Int(v) => q.bind::<Integer, _>(v),
            PgArg::BigInt(v) => q.bind::<BigInt, _>(v),
            PgArg::Double(v) => q.bind::<Double, _>(v),
            PgArg::Text(s) => q.bind::<Text, _>(s),
            PgArg::OwnedText(s) => q.bind::<Text, _>(s),
            PgArg::Instant(t) => q.bind::<Timestamptz, _>(t),
        };
    }
    q
}

/// Hashes of the SQL texts admitted to connections' statement caches.
static CACHED_SQL: Mutex<Option<HashSet<u64>>> = Mutex::new(None);
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

/// The text between a statement's placeholders: `binds + 1` pieces, or `None` when
/// the placeholders are not exactly the builder's (`?` each on SQLite, `$1`, `$2`, …
/// in order on PostgreSQL), e.g. a `?` or `$` that is not a placeholder.
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

/// A read Diesel may keep prepared: the text in pieces, a bind between each two.
pub(crate) struct Prepared<'a, A> {
    parts: Vec<&'a str>,
    args: Vec<A>,
    cache: bool,
}

impl<'a> Prepared<'a, SqliteArg<'a>> {
    /// `None` when the text cannot be split (use [`bind_sqlite`]).
    pub(crate) fn sqlite(stmt: &'a Statement) -> Option<Self> {
        Some(Prepared {
            parts: split_at_placeholders(&stmt.text, Dialect::Sqlite, stmt.binds.len())?,
            args: stmt.binds.iter().map(|(v, _)| sqlite_arg(v)).collect(),
            cache: admit_to_cache(&stmt.text),
        })
    }
}

impl<'a> Prepared<'a, PgArg<'a>> {
    /// `None` when the text cannot be split (use [`bind_pg`]).
    pub(crate) fn pg(stmt: &'a Statement) -> Option<Self> {
        Some(Prepared {
            parts: split_at_placeholders(&stmt.text, Dialect::Postgres, stmt.binds.len())?,
            args: stmt.binds.iter().map(|(v, k)| pg_arg(v, *k)).collect(),
            cache: admit_to_cache(&stmt.text),
        })
    }
}

impl<A> QueryId for Prepared<'_, A> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<A> Query for Prepared<'_, A> {
    type SqlType = Untyped;
}

// NULLs are bound by reference like every other value; these live for the program.
const NULL_TEXT: Option<&str> = None;
const NULL_I32: Option<i32> = None;
const NULL_I64: Option<i64> = None;
const NULL_F64: Option<f64> = None;
const NULL_BOOL: Option<bool> = None;
const NULL_INSTANT: Option<DateTime<Utc>> = None;

impl QueryFragment<Sqlite> for Prepared<'_, SqliteArg<'_>> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> diesel::QueryResult<()> {
        if !self.cache {
            out.unsafe_to_cache_prepared();
        }
        out.push_sql(self.parts[0]);
        for (arg, part) in self.args.iter().zip(&self.parts[1..]) {
            match arg {
                SqliteArg::Null => out.push_bind_param::<Nullable<Text>, _>(&NULL_TEXT)?,
                SqliteArg::Bool(v) => out.push_bind_param::<Bool, _>(v)?,
                SqliteArg::Int(v) => out.push_bind_param::<BigInt, _>(v)?,
                SqliteArg::Double(v) => out.push_bind_param::<Double, _>(v)?,
                SqliteArg::Text(s) => out.push_bind_param::<Text, str>(*s)?,
                SqliteArg::OwnedText(s) => out.push_bind_param::<Text, String>(s)?,
            }
            out.push_sql(part);
        }
        Ok(())
    }
}

impl QueryFragment<Pg> for Prepared<'_, PgArg<'_>> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        if !self.cache {
            out.unsafe_to_cache_prepared();
        }
        out.push_sql(self.parts[0]);
        for (arg, part) in self.args.iter().zip(&self.parts[1..]) {
            match arg {
                PgArg::Null(ColumnKind::Int32) => {
                    out.push_bind_param::<Nullable<Integer>, _>(&NULL_I32)?
                }
                PgArg::Null(ColumnKind::Int64) => {
                    out.push_bind_param::<Nullable<BigInt>, _>(&NULL_I64)?
                }
                PgArg::Null(ColumnKind::Double) => {
                    out.push_bind_param::<Nullable<Double>, _>(&NULL_F64)?
                }
                PgArg::Null(ColumnKind::Boolean) => {
                    out.push_bind_param::<Nullable<Bool>, _>(&NULL_BOOL)?
                }
                PgArg::Null(ColumnKind::Instant) => {
                    out.push_bind_param::<Nullable<Timestamptz>, _>(&NULL_INSTANT)?
                }
                PgArg::Null(ColumnKind::Text | ColumnKind::LocalText) => {
                    out.push_bind_param::<Nullable<Text>, _>(&NULL_TEXT)?
                }
                PgArg::Bool(v) => out.push_bind_param::<Bool, _>(v)?,
                PgArg::Int(v) => out.push_bind_param::<Integer, _>(v)?,
                PgArg::BigInt(v) => out.push_bind_param::<BigInt, _>(v)?,
                PgArg::Double(v) => out.push_bind_param::<Double, _>(v)?,
                PgArg::Text(s) => out.push_bind_param::<Text, str>(*s)?,
                PgArg::OwnedText(s) => out.push_bind_param::<Text, String>(s)?,
                PgArg::Instant(t) => out.push_bind_param::<Timestamptz, _>(t)?,
            }
            out.push_sql(part);
        }
        Ok(())
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
