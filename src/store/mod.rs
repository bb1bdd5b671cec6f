//! Storage: connection pools for SQLite (embedded default) and PostgreSQL, the
//! embedded migrations, and the two steps of a read: [`compile`] turns a
//! [`QueryPlan`](crate::plan::QueryPlan) into a dialect's SQL (every value a bind
//! parameter), and [`execute`] runs it, `$expand` levels included, into a sink.
//!
//! The feed's shape is only known at run time (entity set, `$select`, `$orderby`), so
//! queries are SQL text generated from the model plus binds (`diesel::sql_query`),
//! and rows are read cell by cell (from Diesel's row API, or for PostgreSQL reads
//! outside a transaction from the wire reader, [`wire`]) and handed to a [`RowSink`]
//! without building intermediate records. Only identifiers that come from the model
//! ever appear in SQL text.
//!
//! Tenant scoping lives here and only here: every statement that reads or writes feed
//! rows is built by [`sql`] (reads), [`write`] (upserts) or [`scoped`] (everything the
//! jobs, importers and the demo need) from a [`TenantScope`], which only `store` hands
//! out. A test (`tests/architecture.rs`) fails if SQL naming the tenant column appears
//! anywhere else.
//!
//! Rows are written the same way by every writer: built and checked against the model
//! by a [`RowBuilder`] (which also derives the tenant-local times and the Conversations
//! rows) and upserted by a [`RowWriter`], which takes nothing else ([`row`]).

mod aggregate;
mod backfill;
mod bind;
mod cancel;
mod compile;
mod deadline;
mod execute;
mod expr;
mod raw;
mod read;
mod row;
pub mod scoped;
mod spool;
pub mod sql;
mod sqlite;
pub mod tenants;
mod value;
mod wire;
mod write;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{CustomizeConnection, Pool, PooledConnection};
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use crate::edm::ColumnKind;
pub use crate::value::{Value, format_instant, parse_instant};
pub use aggregate::compile_apply;
pub use cancel::{PgConn, PgManager};
pub use compile::{ColumnPos, CompileError, CompiledExpand, CompiledQuery, ReadLayout, compile};
pub use execute::{EntitySink, PageEnd, execute};
pub use raw::{query, stmt, text};
pub use read::RowSink;
pub use row::{Built, Row, RowBuilder, RowError, RowWriter, local_text, shown};
pub use scoped::TenantScope;
pub use spool::{Spool, SpoolReader};
pub use sql::Dialect;
pub use sqlite::{SqliteConn, SqliteManager};
pub use value::{Cell, assign};
pub use write::RowBatch;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Query(diesel::result::Error),
    /// The database is locked by another writer (SQLite's busy timeout ran out) or a
    /// lock or serialization conflict; the request may simply be retried.
    #[error("the database is busy: {0}")]
    Busy(String),
    #[error("no database connection available: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("could not open the database: {0}")]
    Connect(String),
    #[error("could not apply migrations: {0}")]
    Migration(String),
    #[error("the database returned a value that does not fit the model: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Compile(#[from] CompileError),
    #[error(
        "the statement ran longer than the time limit of {0} ms (setting statement_timeout_ms)"
    )]
    Timeout(u128),
    #[error("the client went away")]
    SinkClosed,
    /// An error of the wire reader ([`wire`]), shown with its causes (the crate's
    /// own text for a database's error is only "db error").
    #[error("database error: {}", with_causes(.0))]
    Wire(tokio_postgres::Error),
    #[error("{0}")]
    Invalid(String),
}

impl StoreError {
    /// Whether PostgreSQL ended the statement at its `statement_timeout`.
    pub fn is_statement_timeout(&self) -> bool {
        match self {
            StoreError::Query(diesel::result::Error::DatabaseError(_, info)) => {
                info.message().contains("statement timeout")
            }
            StoreError::Wire(e) => e
                .as_db_error()
                .is_some_and(|d| d.message().contains("statement timeout")),
            _ => false,
        }
    }
}

/// `e` and each error it reports as its cause, joined by ": ".
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> StoreError {
        use diesel::result::{DatabaseErrorKind, Error};
        let busy = match &e {
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
            Error::DatabaseError(_, info) => {
                let m = info.message();
                m.contains("database is locked")
                    || m.contains("database table is locked")
                    || m.contains("deadlock detected")
                    || m.contains("could not obtain lock")
                    || m.contains("lock timeout")
            }
            _ => false,
        };
        if busy {
            StoreError::Busy(e.to_string())
        } else {
            StoreError::Query(e)
        }
    }
}

impl From<tokio_postgres::Error> for StoreError {
    /// As for Diesel's errors: a lock wait that ran out, a deadlock or a serialization
    /// conflict is [`StoreError::Busy`].
    fn from(e: tokio_postgres::Error) -> StoreError {
        use tokio_postgres::error::SqlState;
        let busy = e.code().is_some_and(|code| {
            [
                SqlState::LOCK_NOT_AVAILABLE,
                SqlState::T_R_DEADLOCK_DETECTED,
                SqlState::T_R_SERIALIZATION_FAILURE,
            ]
            .contains(code)
        });
        if busy {
            StoreError::Busy(with_causes(&e))
        } else {
            StoreError::Wire(e)
        }
    }
}

/// The bundled SQLite is built in multi-thread mode (`SQLITE_THREADSAFE=2`, set for
/// the build in `.cargo/config.toml`): a pooled connection is used by one thread at a
/// time, so the serialized mode's mutex around every API call (each cell read) only
/// costs time. The test below fails if a build loses the flag.
///
/// Sets the pragmas every SQLite connection needs: a busy timeout instead of an
/// immediate `SQLITE_BUSY` (first, so the other pragmas wait too), WAL so readers
/// never block the writer, `synchronous = FULL` so a committed batch survives a power
/// loss (a 200 from ingest means durable), and enforced foreign keys.
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<SqliteConn, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConn) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(
            "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             PRAGMA foreign_keys = ON; PRAGMA cache_size = -2000;",
        )
        .map_err(diesel::r2d2::Error::QueryError)?;
        deadline::register(&mut *conn);
        Ok(())
    }
}

/// The database behind the feed. Cloning shares the pool.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    /// `(table, column)` of every index on `(tenant_id, column, id)`: the time
    /// columns a filtered read can page through in index order.
    time_indexes: Arc<HashSet<(String, String)>>,
    /// Tasks running on this database in this process (see [`Db::start_exclusive`]).
    running: Arc<std::sync::Mutex<HashSet<String>>>,
}

/// A task's place among the running ones, given back when dropped.
pub struct Exclusive {
    running: Arc<std::sync::Mutex<HashSet<String>>>,
    task: String,
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.remove(&self.task);
    }
}

#[derive(Clone)]
enum DbPool {
    Sqlite(Pool<SqliteManager>),
    Postgres(Pool<PgManager>),
}

/// A connection checked out of the pool.
pub enum Conn {
    Sqlite(PooledConnection<SqliteManager>),
    Postgres(PooledConnection<PgManager>),
}

impl Db {
    /// Opens `target` (a SQLite file path, or a `postgres://` / `postgresql://` URL)
    /// and applies pending migrations.
    pub fn open(target: &str, pool_size: u32) -> Result<Db, StoreError> {
        Db::open_with(target, pool_size, None)
    }

    /// [`Db::open`] with a time limit for every read statement (`statement_timeout_ms`):
    /// PostgreSQL's `statement_timeout` on each connection; on SQLite the reads
    /// compiled with a time limit check it (see [`deadline`]).
    pub fn open_with(
        target: &str,
        pool_size: u32,
        statement_timeout: Option<Duration>,
    ) -> Result<Db, StoreError> {
        let db = if is_postgres_url(target) {
            let manager = PgManager::new(target, statement_timeout);
            // Fail fast with the driver's own message rather than r2d2's timeout.
            PgConnection::establish(target).map_err(|e| StoreError::Connect(e.to_string()))?;
            let pool = Pool::builder()
                .max_size(pool_size)
                .connection_timeout(Duration::from_secs(15))
                .build(manager)
                .map_err(|e| StoreError::Connect(e.to_string()))?;
            DbPool::Postgres(pool)
        } else {
            let path = target.strip_prefix("sqlite://").unwrap_or(target);
            if let Some(parent) = std::path::Path::new(path).parent()
                && !parent.as_os_str().is_empty()
                && !parent.exists()
            {
                return Err(StoreError::Connect(format!(
                    "the directory of the SQLite file {path} does not exist"
                )));
            }
            let manager = SqliteManager::new(path);
            let pool = Pool::builder()
                .max_size(pool_size)
                .connection_timeout(Duration::from_secs(15))
                .connection_customizer(Box::new(SqlitePragmas))
                // Open the others on demand: opening them all at once races the first
                // connection's switch to WAL and logs spurious "database is locked".
                .min_idle(Some(1))
                .build(manager)
                .map_err(|e| StoreError::Connect(format!("{path}: {e}")))?;
            DbPool::Sqlite(pool)
        };
        let mut db = Db {
            pool: db,
            time_indexes: Arc::new(HashSet::new()),
            running: Arc::new(std::sync::Mutex::new(HashSet::new())),
        };
        let time_indexes = db.get()?.without_time_limit(|conn| {
            Db::migrate(conn)?;
            backfill::run(conn)?;
            read_time_indexes(conn)
        })?;
        db.time_indexes = Arc::new(time_indexes);
        Ok(db)
    }

    /// Marks `task` (e.g. a tenant's lookup refresh) as running on this database until
    /// the returned value is dropped; `None` when it is running already.
    pub fn start_exclusive(&self, task: &str) -> Option<Exclusive> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.insert(task.to_string()).then(|| Exclusive {
            running: self.running.clone(),
            task: task.to_string(),
        })
    }

    /// Whether `table` has an index on `(tenant_id, column, id)`.
    pub fn has_time_index(&self, table: &str, column: &str) -> bool {
        self.time_indexes
            .contains(&(table.to_string(), column.to_string()))
    }

    fn migrate(conn: &mut Conn) -> Result<(), StoreError> {
        let result = match conn {
            Conn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
            Conn::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ()),
        };
        result.map_err(|e| StoreError::Migration(e.to_string()))
    }

    pub fn get(&self) -> Result<Conn, StoreError> {
        Ok(match &self.pool {
            DbPool::Sqlite(p) => Conn::Sqlite(p.get()?),
            DbPool::Postgres(p) => Conn::Postgres(p.get()?),
        })
    }

    pub fn dialect(&self) -> Dialect {
        match self.pool {
            DbPool::Sqlite(_) => Dialect::Sqlite,
            DbPool::Postgres(_) => Dialect::Postgres,
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self.pool {
            DbPool::Sqlite(_) => "SQLite",
            DbPool::Postgres(_) => "PostgreSQL",
        }
    }
}

/// Reads the indexes on `(tenant_id, column, id)` from the database itself, so the
/// list follows the migrations without being repeated here.
fn read_time_indexes(conn: &mut Conn) -> Result<HashSet<(String, String)>, StoreError> {
    let text = match conn.dialect() {
        Dialect::Sqlite => {
            "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        }
        Dialect::Postgres => {
            "SELECT tablename::text, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        }
    };
    let stmt = sql::Statement {
        text: text.to_string(),
        binds: Vec::new(),
    };
    let rows = query(conn, &stmt, &[ColumnKind::Text, ColumnKind::Text])?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let table = raw::text(&row[0]);
            let definition = raw::text(&row[1]);
            time_index_column(&definition).map(|column| (table, column))
        })
        .collect())
}

/// `column` of an index definition whose column list is `(tenant_id, column, id)`.
fn time_index_column(definition: &str) -> Option<String> {
    let open = definition.rfind('(')?;
    let close = open + definition[open..].find(')')?;
    let columns: Vec<&str> = definition[open + 1..close]
        .split(',')
        .map(|c| c.trim().trim_matches('"'))
        .collect();
    match columns.as_slice() {
        ["tenant_id", column, "id"] if !column.contains(' ') => Some(column.to_string()),
        _ => None,
    }
}

/// The database's plan for a statement, one line per node (`EXPLAIN QUERY PLAN` on
/// SQLite, `EXPLAIN` on PostgreSQL), run with the statement's own binds.
pub fn explain(conn: &mut Conn, stmt: &sql::Statement) -> Result<Vec<String>, StoreError> {
    let (prefix, kinds, column) = match conn.dialect() {
        Dialect::Sqlite => (
            "EXPLAIN QUERY PLAN ",
            vec![
                ColumnKind::Int64,
                ColumnKind::Int64,
                ColumnKind::Int64,
                ColumnKind::Text,
            ],
            3,
        ),
        Dialect::Postgres => ("EXPLAIN ", vec![ColumnKind::Text], 0),
    };
    let explained = sql::Statement {
        text: format!("{prefix}{}", stmt.text),
        binds: stmt.binds.clone(),
    };
    Ok(query(conn, &explained, &kinds)?
        .iter()
        .map(|row| raw::text(&row[column]))
        .collect())
}

/// A database URL with its password hidden, for logs and error messages.
pub fn redact_url(target: &str) -> String {
    match (target.find("://"), target.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match target[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &target[..scheme + 3], &target[at..]),
            None => target.to_string(),
        },
        _ => target.to_string(),
    }
}

pub fn is_postgres_url(target: &str) -> bool {
    target.starts_with("postgres://") || target.starts_with("postgresql://")
}

impl Conn {
    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs `f` inside one transaction: all of it is applied or none.
    /// A committed transaction counts as a change ([`data_generation`]).
    pub fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.execute_plain(self.dialect().begin())?;
        self.with_reads_pinned(|c| c.in_transaction(f))
    }

    /// Runs `f` with its reads on the slot's libpq connection, which holds state the
    /// wire reader does not share (PostgreSQL; see [`cancel::PgConn::read`]).
    fn with_reads_pinned<T>(&mut self, f: impl FnOnce(&mut Conn) -> T) -> T {
        let was = match self {
            Conn::Postgres(c) => c.pin_reads(true),
            Conn::Sqlite(_) => false,
        };
        let result = f(self);
        if let Conn::Postgres(c) = self {
            c.pin_reads(was);
        }
        result
    }

    /// Runs `f` with no statement time limit, for work that may take longer than a
    /// read may: migrations, backfills and the catalog read when the database opens.
    /// On PostgreSQL the limit is lifted on the slot's Diesel connection and `f`'s
    /// reads stay there (the slot's reader keeps the limit); on SQLite only reads
    /// compiled with a deadline are timed, so `f` just runs.
    pub fn without_time_limit<T>(
        &mut self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Conn::Postgres(c) = self else {
            return f(self);
        };
        let limit = c.statement_timeout();
        self.execute_plain("SET statement_timeout = 0")?;
        let result = self.with_reads_pinned(f);
        let restored = self.execute_plain(&cancel::time_limit_setting(limit));
        let value = result?;
        restored?;
        Ok(value)
    }

    fn in_transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.dialect() == Dialect::Postgres {
            // Writes are bounded by their own limits (batch sizes, lock timeouts),
            // not by the time limit meant for reads.
            self.execute_plain("SET LOCAL statement_timeout = 0")?;
        }
        match f(self) {
            Ok(v) => {
                self.execute_plain("COMMIT")?;
                note_data_changed();
                Ok(v)
            }
            Err(e) => {
                // The original error matters more than a failed rollback.
                let _ = self.execute_plain("ROLLBACK");
                Err(e)
            }
        }
    }

    fn execute_plain(&mut self, sql: &str) -> Result<(), StoreError> {
        match self {
            Conn::Sqlite(c) => c.batch_execute(sql)?,
            Conn::Postgres(c) => c.batch_execute(sql)?,
        }
        Ok(())
    }

    /// Executes a statement with binds and returns the number of affected rows; one
    /// that changed rows counts as a change ([`data_generation`]).
    pub fn execute(&mut self, stmt: &sql::Statement) -> Result<usize, StoreError> {
        let changed = match self {
            Conn::Sqlite(c) => bind::sqlite(stmt, bind::Use::Write)?.execute(&mut ***c)?,
            Conn::Postgres(c) => bind::pg(stmt, bind::Use::Write)?.execute(&mut ***c)?,
        };
        if changed > 0 {
            note_data_changed();
        }
        Ok(changed)
    }
}

/// Counts the writes this process has made: every statement that changed rows and
/// every committed transaction (a statement inside one counts again at its commit,
/// when it becomes visible). A reader that saw the same value before and after its
/// read knows no write of this process landed in between; pipelined paging uses it
/// to drop a page produced ahead. Writes by other processes are not seen.
static DATA_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn data_generation() -> u64 {
    DATA_GENERATION.load(std::sync::atomic::Ordering::Acquire)
}

pub fn note_data_changed() {
    DATA_GENERATION.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
}

/// Tenants as the feed needs them until tenant management arrives: an id, a display
/// name and an IANA time zone for the local-time columns.
pub fn ensure_tenant(
    conn: &mut Conn,
    id: &str,
    name: &str,
    time_zone: &str,
) -> Result<(), StoreError> {
    let dialect = conn.dialect();
    let stmt = sql::Statement {
        text: format!(
            "INSERT INTO tenants (id, name, time_zone, created_at_utc) VALUES ({}, {}, {}, {}) \
             ON CONFLICT (id) DO NOTHING",
            dialect.placeholder(1),
            dialect.placeholder(2),
            dialect.placeholder(3),
            dialect.placeholder(4)
        ),
        binds: vec![
            (Value::Text(id.into()), ColumnKind::Text),
            (Value::Text(name.into()), ColumnKind::Text),
            (Value::Text(time_zone.into()), ColumnKind::Text),
            (Value::Instant(chrono::Utc::now()), ColumnKind::Instant),
        ],
    };
    conn.execute(&stmt)?;
    Ok(())
}

/// The number of rows a compiled plan matches (`/$count`): its count statement.
pub fn count(conn: &mut Conn, query: &CompiledQuery) -> Result<i64, StoreError> {
    let Some(stmt) = &query.count else {
        return Err(StoreError::Compile(CompileError(
            "the plan does not ask for a count".into(),
        )));
    };
    let _deadline = deadline::start(query.time_limit, None);
    let n = read::scalar_i64(conn, stmt);
    deadline::outcome(n, query.time_limit)
}

/// Counts one table's rows for a tenant (used by the demo loader to decide whether
/// the database is empty).
pub fn count_rows(conn: &mut Conn, table_sql: &sql::Statement) -> Result<i64, StoreError> {
    read::scalar_i64(conn, table_sql)
}

pub(crate) use read::{scalar_i64, stream_rows};

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use diesel::sql_types::Text;
    use diesel::sqlite::SqliteConnection;

    #[derive(QueryableByName)]
    struct CompileOption {
        #[diesel(sql_type = Text)]
        compile_options: String,
    }

    #[test]
    fn the_bundled_sqlite_is_built_in_multi_thread_mode() {
        let mut conn = SqliteConnection::establish(":memory:").expect("in-memory database");
        let options: Vec<CompileOption> = diesel::sql_query("PRAGMA compile_options")
            .load(&mut conn)
            .expect("compile options");
        assert!(
            options.iter().any(|o| o.compile_options == "THREADSAFE=2"),
            "{:?}",
            options
                .iter()
                .map(|o| &o.compile_options)
                .collect::<Vec<_>>()
        );
    }
}
