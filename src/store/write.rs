//! Writing rows: multi-row upserts by key, chunked to stay under each backend's bind
//! limit. The tenant column is always set from the caller's tenant, never from data.
//!
//! A [`RowBatch`] takes rows as they are; the feed's writers reach it only through
//! [`RowWriter`](super::RowWriter), which takes rows checked by the
//! [`RowBuilder`](super::RowBuilder). Test fixtures use it directly to write exactly
//! the values a test needs (`tests/architecture.rs` keeps it out of the rest of `src`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::pg::{Pg, PgConnection};
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Bool, Double, Integer, Nullable, Text, Timestamptz};
use diesel::{QueryableByName, RunQueryDsl};

use crate::edm::EntitySet;

use super::scoped::TenantScope;
use super::sql::{self, Statement};
use super::{ColumnKind, Value, parse_instant};
use super::{Conn, StoreError};

/// Binds per statement: under SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_BINDS: usize = 30_000;

/// Rows of one entity set for one tenant, waiting to be upserted.
pub struct RowBatch<'m> {
    set: &'m EntitySet,
    tenant: String,
    columns: Vec<usize>,
    kinds: Vec<ColumnKind>,
    /// Position in `columns` of a property stored in `tenant_id` (AgentBusinessUnitChanges).
    tenant_position: Option<usize>,
    /// Position of the key in `columns`, if the key is among them.
    key_position: Option<usize>,
    rows: Vec<Vec<Value>>,
    /// Pending rows by key, so a key given twice keeps only its last row.
    pending: HashMap<String, usize>,
}

impl<'m> RowBatch<'m> {
    /// A batch of every property of `set`, in model order.
    pub(super) fn all_columns(set: &'m EntitySet, tenant: &TenantScope) -> RowBatch<'m> {
        RowBatch::new(set, tenant, (0..set.properties.len()).collect())
    }

    /// `columns` are property indices; every pushed row has one value per column.
    pub fn new(set: &'m EntitySet, tenant: &TenantScope, columns: Vec<usize>) -> RowBatch<'m> {
        let kinds = columns
            .iter()
            .map(|&c| ColumnKind::of(&set.properties[c]))
            .collect();
        let tenant_position = columns
            .iter()
            .position(|&c| set.properties[c].column == "tenant_id");
        let key_position = columns.iter().position(|&c| c == set.key.index());
        RowBatch {
            set,
            tenant: tenant.id().to_string(),
            columns,
            kinds,
            tenant_position,
            key_position,
            rows: Vec::new(),
            pending: HashMap::new(),
        }
    }

    pub fn push(&mut self, mut row: Vec<Value>) -> Result<(), StoreError> {
        if row.len() != self.columns.len() {
            return Err(StoreError::Invalid(format!(
                "{}: a row has {} values for {} columns",
                self.set.name,
                row.len(),
                self.columns.len()
            )));
        }
        if let Some(p) = self.tenant_position {
            row[p] = Value::Text(self.tenant.clone());
        }
        self.rows.push(row);
        Ok(())
    }

    /// Like [`RowBatch::push`], but a row whose key is already pending replaces that
    /// row (the later record wins, as an upsert would). Returns whether it replaced one.
    pub fn push_replacing(&mut self, row: Vec<Value>) -> Result<bool, StoreError> {
        let key = match (
            self.key_position,
            self.key_position.and_then(|p| row.get(p)),
        ) {
            (Some(_), Some(Value::Text(k))) => Some(k.clone()),
            _ => None,
        };
        if let Some(k) = &key
            && let Some(&index) = self.pending.get(k)
        {
            let mut row = row;
            if let Some(p) = self.tenant_position {
                row[p] = Value::Text(self.tenant.clone());
            }
            self.rows[index] = row;
            return Ok(true);
        }
        self.push(row)?;
        if let Some(k) = key {
            self.pending.insert(k, self.rows.len() - 1);
        }
        Ok(false)
    }

    /// How many pending rows already exist in the database (and will be updated).
    pub fn count_existing(&self, conn: &mut Conn) -> Result<usize, StoreError> {
        let Some(key_position) = self.key_position else {
            return Ok(0);
        };
        if let Conn::Postgres(pg) = conn
            && let Some(keys) = self
                .rows
                .iter()
                .map(|r| match r.get(key_position) {
                    Some(Value::Text(k)) => Some(k.as_str()),
                    _ => None,
                })
                .collect::<Option<Vec<&str>>>()
        {
            return self.count_existing_pg(pg, keys);
        }
        let dialect = conn.dialect();
        let mut existing = 0;
        let keys: Vec<&Value> = self
            .rows
            .iter()
            .filter_map(|r| r.get(key_position))
            .collect();
        for chunk in keys.chunks(MAX_BINDS - 1) {
            let mut text = format!(
                "SELECT COUNT(*) FROM \"{}\" WHERE \"tenant_id\" = {} AND \"{}\" IN (",
                self.set.table,
                dialect.placeholder(1),
                self.set.key_property().column
            );
            let mut binds = vec![(Value::Text(self.tenant.clone()), ColumnKind::Text)];
            for (i, k) in chunk.iter().enumerate() {
                if i > 0 {
                    text.push_str(", ");
                }
                binds.push(((*k).clone(), ColumnKind::Text));
                text.push_str(&dialect.placeholder(binds.len()));
            }
            text.push(')');
            existing += super::scalar_i64(conn, &Statement { text, binds })? as usize;
        }
        Ok(existing)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Upserts and clears the pending rows; returns how many were written.
    pub fn flush(&mut self, conn: &mut Conn) -> Result<usize, StoreError> {
        if self.rows.is_empty() {
            return Ok(0);
        }
        if let Conn::Postgres(pg) = conn
            && let Some(arrays) = pg_arrays(&self.rows, &self.kinds)
        {
            let written = self.flush_pg(pg, arrays)?;
            self.rows.clear();
            self.pending.clear();
            return Ok(written);
        }
        let dialect = conn.dialect();
        let per_row = self.columns.len() + usize::from(self.tenant_position.is_none());
        let rows_per_statement = (MAX_BINDS / per_row.max(1)).max(1);
        let mut written = 0;
        let rows = std::mem::take(&mut self.rows);
        self.pending.clear();
        let mut full_text: Option<String> = None;
        for chunk in rows.chunks(rows_per_statement) {
            let text = if chunk.len() == rows_per_statement {
                full_text
                    .get_or_insert_with(|| {
                        sql::upsert(
                            self.set,
                            &self.columns,
                            self.tenant_position.is_some(),
                            chunk.len(),
                            dialect,
                        )
                    })
                    .clone()
            } else {
                sql::upsert(
                    self.set,
                    &self.columns,
                    self.tenant_position.is_some(),
                    chunk.len(),
                    dialect,
                )
            };
            let mut binds = Vec::with_capacity(chunk.len() * per_row);
            for row in chunk {
                if self.tenant_position.is_none() {
                    binds.push((Value::Text(self.tenant.clone()), ColumnKind::Text));
                }
                binds.extend(row.iter().cloned().zip(self.kinds.iter().copied()));
            }
            written += conn.execute(&Statement { text, binds })?;
        }
        Ok(written)
    }
}

/// One column of the pending rows as a PostgreSQL array.
enum PgArray<'a> {
    Text(Vec<Option<&'a str>>),
    Int32(Vec<Option<i32>>),
    Int64(Vec<Option<i64>>),
    Double(Vec<Option<f64>>),
    Boolean(Vec<Option<bool>>),
    Instant(Vec<Option<DateTime<Utc>>>),
}

impl PgArray<'_> {
    fn sql_type(&self) -> &'static str {
        match self {
            PgArray::Text(_) => "text[]",
            PgArray::Int32(_) => "int4[]",
            PgArray::Int64(_) => "int8[]",
            PgArray::Double(_) => "float8[]",
            PgArray::Boolean(_) => "bool[]",
            PgArray::Instant(_) => "timestamptz[]",
        }
    }
}

/// The rows as one array per column, or `None` when some value does not have its
/// column's type (then the caller binds row by row, as before, and lets PostgreSQL
/// convert or reject it).
fn pg_arrays<'a>(rows: &'a [Vec<Value>], kinds: &[ColumnKind]) -> Option<Vec<PgArray<'a>>> {
    fn column<'a, T>(
        rows: &'a [Vec<Value>],
        c: usize,
        value: impl Fn(&'a Value) -> Option<T>,
    ) -> Option<Vec<Option<T>>> {
        rows.iter()
            .map(|row| match row.get(c)? {
                Value::Null => Some(None),
                b => value(b).map(Some),
            })
            .collect()
    }
    kinds
        .iter()
        .enumerate()
        .map(|(c, kind)| {
            Some(match kind {
                ColumnKind::Text | ColumnKind::LocalText => {
                    PgArray::Text(column(rows, c, |b| match b {
                        Value::Text(s) => Some(s.as_str()),
                        _ => None,
                    })?)
                }
                ColumnKind::Int32 => PgArray::Int32(column(rows, c, |b| match b {
                    Value::Int(v) => i32::try_from(*v).ok(),
                    _ => None,
                })?),
                ColumnKind::Int64 => PgArray::Int64(column(rows, c, |b| match b {
                    Value::Int(v) => Some(*v),
                    _ => None,
                })?),
                ColumnKind::Double => PgArray::Double(column(rows, c, |b| match b {
                    Value::Double(v) => Some(*v),
                    _ => None,
                })?),
                ColumnKind::Boolean => PgArray::Boolean(column(rows, c, |b| match b {
                    Value::Bool(v) => Some(*v),
                    _ => None,
                })?),
                ColumnKind::Instant => PgArray::Instant(column(rows, c, |b| match b {
                    Value::Instant(t) => Some(*t),
                    Value::Text(s) => parse_instant(s),
                    _ => None,
                })?),
            })
        })
        .collect()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl RowBatch<'_> {
    /// PostgreSQL: one `INSERT ... SELECT * FROM unnest(...)` for all pending rows, with
    /// a text that depends only on the columns. (Multi-row `VALUES` with tens of
    /// thousands of placeholders spent most of the flush parsing and planning.)
    fn flush_pg(
        &self,
        pg: &mut PgConnection,
        arrays: Vec<PgArray<'_>>,
    ) -> Result<usize, StoreError> {
        let types: Vec<&str> = arrays.iter().map(PgArray::sql_type).collect();
        let text = sql::upsert_unnest(
            self.set,
            &self.columns,
            self.tenant_position.is_some(),
            &types,
        );
        let mut q: BoxedSqlQuery<'_, Pg, SqlQuery> = diesel::sql_query(text).into_boxed();
        if self.tenant_position.is_none() {
            q = q.bind::<Text, _>(self.tenant.as_str());
        }
        for array in arrays {
            q = match array {
                PgArray::Text(v) => q.bind::<Array<Nullable<Text>>, _>(v),
                PgArray::Int32(v) => q.bind::<Array<Nullable<Integer>>, _>(v),
                PgArray::Int64(v) => q.bind::<Array<Nullable<BigInt>>, _>(v),
                PgArray::Double(v) => q.bind::<Array<Nullable<Double>>, _>(v),
                PgArray::Boolean(v) => q.bind::<Array<Nullable<Bool>>, _>(v),
                PgArray::Instant(v) => q.bind::<Array<Nullable<Timestamptz>>, _>(v),
            };
        }
        let changed = q.execute(pg)?;
        if changed > 0 {
            super::note_data_changed();
        }
        Ok(changed)
    }

    /// PostgreSQL: how many of `keys` exist, probing the primary key once per key. (An
    /// `IN (...)` list on a table filled in the same transaction, without statistics,
    /// was planned as a scan of all the tenant's rows, so it slowed as the batch grew.)
    fn count_existing_pg(
        &self,
        pg: &mut PgConnection,
        keys: Vec<&str>,
    ) -> Result<usize, StoreError> {
        let text = format!(
            "SELECT COUNT(*) AS n FROM unnest($2::text[]) AS k(key) \
             WHERE (SELECT true FROM \"{}\" AS t WHERE t.\"tenant_id\" = $1 AND t.\"{}\" = k.key)",
            self.set.table,
            self.set.key_property().column
        );
        let count: Count = diesel::sql_query(text)
            .bind::<Text, _>(self.tenant.as_str())
            .bind::<Array<Text>, _>(keys)
            .get_result(pg)?;
        usize::try_from(count.n)
            .map_err(|_| StoreError::Corrupt("COUNT(*) returned a negative number".into()))
    }
}
