//! The tenant scope, and every statement outside the read path that touches a
//! tenant's rows: counts and clears, the lookup refresh's reads and soft deletes,
//! the purge's age predicates, the import's stale-row removal, the segment metrics'
//! reads, and the job bookkeeping. Callers name what they want; the tenant predicate
//! is written here, once per statement, from a [`TenantScope`].
//!
//! A `TenantScope` cannot be made from a string outside `store`: it comes from a
//! [`Tenant`](super::tenants::Tenant), and tenants only come out of `store` itself,
//! from a verified key (authentication) or from a lookup by id or name (the admin
//! endpoints, the command line and the scheduler, which name the tenant they act
//! for). So a statement can only be scoped to a tenant someone was entitled to name.

use chrono::{DateTime, Utc};

use super::raw::{query, stmt};
use super::{ColumnKind, Value};
use super::{Conn, StoreError, scalar_i64};
use crate::edm::EntitySet;

/// Values per `IN (...)` list: well under both backends' bind limits.
const IN_CHUNK: usize = 5_000;

/// The tenant a statement is confined to. See the module documentation for who may
/// make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantScope {
    id: String,
}

impl TenantScope {
    /// Only `store` makes scopes, for tenants it has read from the database.
    pub(super) fn new(id: &str) -> TenantScope {
        TenantScope { id: id.to_string() }
    }

    /// A scope for unit tests that compile plans without a database.
    #[cfg(test)]
    pub(crate) fn for_tests(id: &str) -> TenantScope {
        TenantScope::new(id)
    }

    /// Test support (feature `oracle`): a scope no tenant row stands behind, for
    /// compiling plans without a database (the fuzz pipeline).
    #[cfg(feature = "oracle")]
    pub fn unverified(id: &str) -> TenantScope {
        TenantScope::new(id)
    }

    /// The tenant's id (for messages, logs and reports; never for SQL text).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The tenant as a bind parameter: the only way its id reaches a statement.
    pub(super) fn bind(&self) -> (Value, ColumnKind) {
        (Value::Text(self.id.clone()), ColumnKind::Text)
    }
}

fn text_bind(s: &str) -> (Value, ColumnKind) {
    (Value::Text(s.to_string()), ColumnKind::Text)
}

/// `(?, ?, ...)` for `n` values.
fn marks(n: usize) -> String {
    let mut out = String::with_capacity(n * 3 + 2);
    out.push('(');
    for i in 0..n {
        out.push_str(if i == 0 { "?" } else { ", ?" });
    }
    out.push(')');
    out
}

fn all_columns(set: &EntitySet) -> (String, Vec<ColumnKind>) {
    let names: Vec<String> = set
        .properties
        .iter()
        .map(|p| format!("\"{}\"", p.column))
        .collect();
    (
        names.join(", "),
        set.properties.iter().map(ColumnKind::of).collect(),
    )
}

/// The number of the tenant's rows in `set`.
pub fn count_rows(
    conn: &mut Conn,
    scope: &TenantScope,
    set: &EntitySet,
) -> Result<i64, StoreError> {
    let s = stmt(
        conn,
        &format!("SELECT COUNT(*) FROM \"{}\" WHERE tenant_id = ?", set.table),
        vec![scope.bind()],
    );
    scalar_i64(conn, &s)
}

/// Deletes all of the tenant's rows in `set`; returns how many.
pub fn delete_all_rows(
    conn: &mut Conn,
    scope: &TenantScope,
    set: &EntitySet,
) -> Result<usize, StoreError> {
    let s = stmt(
        conn,
        &format!("DELETE FROM \"{}\" WHERE tenant_id = ?", set.table),
        vec![scope.bind()],
    );
    conn.execute(&s)
}

/// All of the tenant's rows in `set`, every property in model order.
pub fn all_rows(
    conn: &mut Conn,
    scope: &TenantScope,
    set: &EntitySet,
) -> Result<Vec<Vec<Value>>, StoreError> {
    let (columns, kinds) = all_columns(set);
    let s = stmt(
        conn,
        &format!(
            "SELECT {columns} FROM \"{}\" WHERE tenant_id = ?",
            set.table
        ),
        vec![scope.bind()],
    );
    query(conn, &s, &kinds)
}

/// The tenant's rows in `set` whose text `column` is one of `values`, every property
/// in model order.
pub fn rows_where_in(
    conn: &mut Conn,
    scope: &TenantScope,
    set: &EntitySet,
    column: &str,
    values: &[&str],
) -> Result<Vec<Vec<Value>>, StoreError> {
    let (columns, kinds) = all_columns(set);
    let mut rows = Vec::new();
    for chunk in values.chunks(IN_CHUNK) {
        let mut binds = vec![scope.bind()];
        binds.extend(chunk.iter().map(|v| text_bind(v)));
        let s = stmt(
            conn,
            &format!(
                "SELECT {columns} FROM \"{}\" WHERE tenant_id = ? AND \"{column}\" IN {}",
                set.table,
                marks(chunk.len())
            ),
            binds,
        );
        rows.extend(query(conn, &s, &kinds)?);
    }
    Ok(rows)
}

/// The keys of the tenant's rows in `set` whose text `column` is one of `values`.
pub fn keys_where_in(
    conn: &mut Conn,
    scope: &TenantScope,
    set: &EntitySet,
    column: &str,
    values: &[&str],
) -> Result<Vec<String>, StoreError> {
    let key = &set.key_property().column;
    let mut keys = Vec::new();
    for chunk in values.chunks(IN_CHUNK) {
        let mut binds = vec![scope.bind()];
        binds.extend(chunk.iter().map(|v| text_bind(v)));
        let s = stmt(
            conn,
            &format!(
                "SELECT \"{key}\" FROM \"{}\" WHERE tenant_id = ? AND \"{column}\" IN {}",
                set.table,
                marks(chunk.len())
            ),
            binds,
        );
        keys.extend(
            query(conn, &s, &[ColumnKind::Text])?
                .iter()
                .filter_map(|row| row.first().map(super::raw::text)),
        );
    }
    Ok(keys)
}

/// Deletes the tenant's rows in `set` with these keys; returns how many.
pub fn delete_keys(
    conn: &mut Conn,
    scope: &TenantScope,
    set: &EntitySet,
    keys: &[&str],
) -> Result<usize, StoreError> {
    let key = &set.key_property().column;
    let mut deleted = 0;
    for chunk in keys.chunks(IN_CHUNK) {
        let mut binds = vec![scope.bind()];
        binds.extend(chunk.iter().map(|v| text_bind(v)));
        let s = stmt(
            conn,
            &format!(
                "DELETE FROM \"{}\" WHERE tenant_id = ? AND \"{key}\" IN {}",
                set.table,
                marks(chunk.len())
            ),
            binds,
        );
        deleted += conn.execute(&s)?;
    }
    Ok(deleted)
}

/// Sets `column` to `value` on the tenant's rows in `set` with these keys; returns
/// how many rows changed.
pub fn set_column_for_keys(
    conn: &mut Conn,
    scope: &TenantScope,
    set: &EntitySet,
    column: &str,
    value: (Value, ColumnKind),
    keys: &[&str],
) -> Result<usize, StoreError> {
    let key = &set.key_property().column;
    let mut changed = 0;
    for chunk in keys.chunks(IN_CHUNK) {
        let mut binds = vec![value.clone(), scope.bind()];
        binds.extend(chunk.iter().map(|v| text_bind(v)));
        let s = stmt(
            conn,
            &format!(
                "UPDATE \"{}\" SET \"{column}\" = ? WHERE tenant_id = ? AND \"{key}\" IN {}",
                set.table,
                marks(chunk.len())
            ),
            binds,
        );
        changed += conn.execute(&s)?;
    }
    Ok(changed)
}

/// How the age of a row is read, for the retention purge.
#[derive(Debug, Clone, Copy)]
pub enum Age<'a> {
    /// From this timestamp column of the row.
    Column(&'a str),
    /// From the parent row the foreign-key column points at: (foreign-key column,
    /// parent set, parent's timestamp column).
    Parent(&'a str, &'a EntitySet, &'a str),
}

/// `FROM ... WHERE` selecting the tenant's rows of `set` (alias `x`) older than the
/// cutoff, and its binds.
fn older_than(
    scope: &TenantScope,
    set: &EntitySet,
    age: Age<'_>,
    cutoff: DateTime<Utc>,
) -> (String, Vec<(Value, ColumnKind)>) {
    let binds = vec![scope.bind(), (Value::Instant(cutoff), ColumnKind::Instant)];
    let from = match age {
        Age::Column(column) => format!(
            "FROM \"{}\" AS x WHERE x.tenant_id = ? AND x.\"{column}\" < ?",
            set.table
        ),
        Age::Parent(foreign_key, parent, time) => format!(
            "FROM \"{}\" AS x JOIN \"{}\" AS p ON p.tenant_id = x.tenant_id AND p.id = x.\"{foreign_key}\" \
             WHERE x.tenant_id = ? AND p.\"{time}\" < ?",
            set.table, parent.table
        ),
    };
    (from, binds)
}

/// How many of the tenant's rows in `set` are older than `cutoff`.
pub fn count_older(
    conn: &mut Conn,
    scope: &TenantScope,
    set: &EntitySet,
    age: Age<'_>,
    cutoff: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let (from, binds) = older_than(scope, set, age, cutoff);
    let s = stmt(conn, &format!("SELECT COUNT(*) {from}"), binds);
    scalar_i64(conn, &s)
}

/// Deletes at most `chunk` of the tenant's rows in `set` older than `cutoff`, in one
/// statement; returns how many.
pub fn delete_older_chunk(
    conn: &mut Conn,
    scope: &TenantScope,
    set: &EntitySet,
    age: Age<'_>,
    cutoff: DateTime<Utc>,
    chunk: usize,
) -> Result<usize, StoreError> {
    let (from, older) = older_than(scope, set, age, cutoff);
    let mut binds = vec![scope.bind()];
    binds.extend(older);
    binds.push((
        Value::Int(i64::try_from(chunk).unwrap_or(i64::MAX)),
        ColumnKind::Int64,
    ));
    let s = stmt(
        conn,
        &format!(
            "DELETE FROM \"{}\" WHERE tenant_id = ? AND id IN (SELECT x.id {from} LIMIT ?)",
            set.table
        ),
        binds,
    );
    conn.execute(&s)
}

/// One recorded job run, as `job_runs` stores it.
#[derive(Debug, Clone)]
pub struct JobRunRow {
    pub job: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub outcome: String,
    pub message: String,
    pub details: String,
}

/// Records a job run of the tenant.
pub fn insert_job_run(
    conn: &mut Conn,
    scope: &TenantScope,
    run: &JobRunRow,
) -> Result<(), StoreError> {
    let s = stmt(
        conn,
        "INSERT INTO job_runs (job, tenant_id, started_at_utc, finished_at_utc, outcome, message, details) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        vec![
            text_bind(&run.job),
            scope.bind(),
            (Value::Instant(run.started), ColumnKind::Instant),
            (Value::Instant(run.finished), ColumnKind::Instant),
            text_bind(&run.outcome),
            text_bind(&run.message),
            text_bind(&run.details),
        ],
    );
    conn.execute(&s)?;
    Ok(())
}

/// The tenant's most recent runs of `job`, newest first: (job, tenant, started,
/// finished, outcome, message, details).
pub fn job_runs(
    conn: &mut Conn,
    scope: &TenantScope,
    job: &str,
    limit: i64,
) -> Result<Vec<Vec<Value>>, StoreError> {
    let s = stmt(
        conn,
        "SELECT job, tenant_id, started_at_utc, finished_at_utc, outcome, message, details FROM job_runs \
         WHERE tenant_id = ? AND job = ? ORDER BY started_at_utc DESC, id DESC LIMIT ?",
        vec![
            scope.bind(),
            text_bind(job),
            (Value::Int(limit), ColumnKind::Int64),
        ],
    );
    query(
        conn,
        &s,
        &[
            ColumnKind::Text,
            ColumnKind::Text,
            ColumnKind::Instant,
            ColumnKind::Instant,
            ColumnKind::Text,
            ColumnKind::Text,
            ColumnKind::Text,
        ],
    )
}

/// The outcome of trying to claim a daily job slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotClaim {
    /// Someone else holds it, or its run finished: do not run.
    Taken,
    /// Claimed: run the job.
    Claimed,
    /// Claimed from a run that started at this time and never finished (its lease ran
    /// out): run the job, and record the lost run.
    TakenOver(DateTime<Utc>),
}

/// Claims the tenant's daily slot of `job` as a lease until `lease_until`: when no
/// run has claimed this slot (or a later one) yet, or when the run that claimed it did
/// not finish and its lease has run out. Each case is a compare-and-set, so of several
/// servers one wins.
pub fn claim_job_slot(
    conn: &mut Conn,
    scope: &TenantScope,
    job: &str,
    slot: DateTime<Utc>,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<SlotClaim, StoreError> {
    let instant = |t: DateTime<Utc>| (Value::Instant(t), ColumnKind::Instant);
    let s = stmt(
        conn,
        "SELECT slot_utc, claimed_at_utc, lease_until_utc, finished_at_utc FROM job_slots \
         WHERE job = ? AND tenant_id = ?",
        vec![text_bind(job), scope.bind()],
    );
    let kinds = [ColumnKind::Instant; 4];
    let current = query(conn, &s, &kinds)?;
    let as_instant = |v: &Value| match v {
        Value::Instant(t) => Some(*t),
        Value::Text(s) => super::parse_instant(s),
        _ => None,
    };
    let Some(row) = current.first() else {
        let s = stmt(
            conn,
            "INSERT INTO job_slots (job, tenant_id, slot_utc, claimed_at_utc, lease_until_utc) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (job, tenant_id) DO NOTHING",
            vec![
                text_bind(job),
                scope.bind(),
                instant(slot),
                instant(now),
                instant(lease_until),
            ],
        );
        return Ok(if conn.execute(&s)? == 1 {
            SlotClaim::Claimed
        } else {
            SlotClaim::Taken
        });
    };
    let claimed_slot = as_instant(&row[0]);
    let claimed_at = as_instant(&row[1]);
    let lease = as_instant(&row[2]);
    let finished = as_instant(&row[3]).is_some();
    let set = "UPDATE job_slots SET slot_utc = ?, claimed_at_utc = ?, lease_until_utc = ?, \
               finished_at_utc = NULL WHERE job = ? AND tenant_id = ?";
    let mut binds = vec![
        instant(slot),
        instant(now),
        instant(lease_until),
        text_bind(job),
        scope.bind(),
    ];
    let (condition, outcome) = if claimed_slot.is_none_or(|c| c < slot) {
        binds.push(instant(slot));
        (" AND slot_utc < ?", SlotClaim::Claimed)
    } else if claimed_slot == Some(slot) && !finished && lease.is_none_or(|l| l < now) {
        binds.push(instant(slot));
        binds.push(instant(now));
        (
            " AND slot_utc = ? AND finished_at_utc IS NULL \
             AND (lease_until_utc IS NULL OR lease_until_utc < ?)",
            SlotClaim::TakenOver(claimed_at.unwrap_or(slot)),
        )
    } else {
        return Ok(SlotClaim::Taken);
    };
    let s = stmt(conn, &format!("{set}{condition}"), binds);
    Ok(if conn.execute(&s)? == 1 {
        outcome
    } else {
        SlotClaim::Taken
    })
}

/// Marks the run of the tenant's `slot` of `job` finished, so its claim is never
/// taken over.
pub fn finish_job_slot(
    conn: &mut Conn,
    scope: &TenantScope,
    job: &str,
    slot: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let s = stmt(
        conn,
        "UPDATE job_slots SET finished_at_utc = ? WHERE job = ? AND tenant_id = ? AND slot_utc = ?",
        vec![
            (Value::Instant(now), ColumnKind::Instant),
            text_bind(job),
            scope.bind(),
            (Value::Instant(slot), ColumnKind::Instant),
        ],
    );
    conn.execute(&s)?;
    Ok(())
}
