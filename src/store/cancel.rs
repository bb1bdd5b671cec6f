//! Cancelling a PostgreSQL statement whose client has gone away.
//!
//! On SQLite a read statement itself looks at the request's cancellation flag (see
//! [`super::deadline`]). A PostgreSQL statement runs in its own backend process and
//! Diesel exposes no cancel, so: the pool records each connection's backend pid when it
//! makes the connection ([`PgManager`]), as the slot's wire reader does when it opens
//! ([`super::wire`]); a read statement registers the pid it runs on and its
//! request's flag for as long as it runs ([`Canceller::watch`]); and a watcher thread,
//! which runs while statements are registered, looks at their flags every
//! [`POLL`] and sends `SELECT pg_cancel_backend(pid)` from a connection of its own (not
//! the pool's, which gone clients may have exhausted) for each one whose client is gone.
//! The statement then fails with "canceling statement due to user request", which the
//! reader turns into [`StoreError::SinkClosed`](super::StoreError::SinkClosed), and the
//! connection, idle again, goes back to the pool.
//!
//! A cancel must never hit a later statement on the same connection (another request's):
//! - nothing is sent for a pid that is not registered, and the watcher marks an entry as
//!   being sent to, under the lock, before it sends;
//! - a registration ends ([`Watched`] dropped) only after every send under way for it
//!   has returned; until then the connection is not used for anything else;
//! - `pg_cancel_backend` has signalled the backend when it returns. A backend that is
//!   already idle, reading its next command, when the signal is handled drops the cancel
//!   (PostgreSQL ignores a cancel that arrives while it reads a command: it clears it
//!   after the read, before running the command). The signal is pending before the next
//!   command is even sent, and the backend can only read that command by returning from
//!   the kernel, which runs the handler first: so the cancel ends this statement or is
//!   dropped, and never reaches the next command.
//!
//! The first cancel can land in the moment between registration and the statement
//! reaching the backend, and be dropped; the watcher sends again every [`RESEND`] while
//! the statement is still registered with its flag set.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, ManageConnection};
use diesel::sql_types::Integer;
use diesel::{Connection, RunQueryDsl};

use super::read::{RowSink, read_pg};
use super::sql::Statement;
use super::wire::{Reader, ReaderConfig};
use super::{ColumnKind, StoreError};

/// How often the watcher looks at the flags of running statements.
const POLL: Duration = Duration::from_millis(50);
/// How long after a cancel the watcher sends another to a statement still running.
const RESEND: Duration = Duration::from_millis(500);
/// How long the watcher stays without statements to watch before it ends.
const LINGER: Duration = Duration::from_secs(5);
/// How long after its last sound use a pooled connection is handed out unpinged.
const FRESH: Duration = Duration::from_secs(1);
/// How long a slot whose reader did not connect reads through libpq before trying again.
const REOPEN: Duration = Duration::from_secs(30);

/// A pooled PostgreSQL connection and the pid of its backend process, with the wire
/// reader that serves the slot's reads outside a transaction ([`super::wire`]).
pub struct PgConn {
    conn: PgConnection,
    pid: i32,
    canceller: Arc<Canceller>,
    /// When the connection last went back to the pool after a use that left it sound.
    returned: Option<Instant>,
    /// How to open the reader; `None` when reads stay on libpq.
    reader_config: Option<Arc<ReaderConfig>>,
    /// Opened on the first read outside a transaction.
    reader: Option<Box<Reader>>,
    /// When opening the reader last failed: not tried again within [`REOPEN`].
    reader_failed: Option<Instant>,
    /// Whether reads stay on `conn` because it holds state the reader does not share:
    /// an open transaction ([`Conn::transaction`](super::Conn::transaction)) or a
    /// lifted time limit ([`Conn::without_time_limit`](super::Conn::without_time_limit)).
    pinned: bool,
    /// The statement time limit every connection of the pool gets.
    statement_timeout: Option<Duration>,
}

impl PgConn {
    /// Runs a read for a request whose cancellation flag is `flag` (registered with
    /// the cancel watcher while it runs): on the wire reader, unless the slot is pinned
    /// to the Diesel connection (a transaction's statements must see its own writes),
    /// or the reader cannot connect; then on the Diesel connection. The reader enters a
    /// runtime of its own, which tokio refuses on a thread already running one: every
    /// read runs on a blocking thread (`web::block`, `spawn_blocking`) or a CLI's own
    /// thread. (`Handle::try_current` cannot tell: it answers on blocking threads too.)
    pub(super) fn read(
        &mut self,
        flag: Option<Arc<AtomicBool>>,
        stmt: &Statement,
        kinds: &[ColumnKind],
        sink: &mut dyn RowSink,
    ) -> Result<u64, StoreError> {
        if flag.as_ref().is_some_and(|f| f.load(Ordering::Relaxed)) {
            return Err(StoreError::SinkClosed);
        }
        let on_reader = !self.pinned;
        if on_reader
            && self
                .reader
                .as_mut()
                .is_some_and(|reader| !reader.is_sound(FRESH))
        {
            self.reader = None;
        }
        if on_reader
            && self.reader.is_none()
            && self.reader_failed.is_none_or(|t| t.elapsed() >= REOPEN)
            && let Some(config) = &self.reader_config
        {
            match Reader::connect(config) {
                Ok(reader) => {
                    self.reader = Some(Box::new(reader));
                    self.reader_failed = None;
                }
                Err(e) => {
                    tracing::warn!(
                        "reads go through libpq for {} s: the page reader did not connect: {e}",
                        REOPEN.as_secs()
                    );
                    self.reader_failed = Some(Instant::now());
                }
            }
        }
        let (result, watched) = match self.reader.as_mut() {
            Some(reader) if on_reader => {
                let watched = flag.map(|f| Canceller::watch(&self.canceller, reader.pid(), f));
                let result = reader.stream(stmt, kinds, sink);
                if reader.is_closed() {
                    self.reader = None;
                }
                (result, watched)
            }
            _ => {
                let watched = flag.map(|f| Canceller::watch(&self.canceller, self.pid, f));
                (read_pg(&mut self.conn, stmt, kinds, sink), watched)
            }
        };
        match (result, watched) {
            (Err(_), Some(w)) if w.client_gone() => Err(StoreError::SinkClosed),
            (result, _) => result,
        }
    }

    pub(super) fn statement_timeout(&self) -> Option<Duration> {
        self.statement_timeout
    }

    /// Keeps reads on the Diesel connection (`true`) or lets them go back to the
    /// reader; returns the setting it replaces.
    pub(super) fn pin_reads(&mut self, pinned: bool) -> bool {
        std::mem::replace(&mut self.pinned, pinned)
    }
}

impl std::ops::Deref for PgConn {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PgConn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

/// Diesel's connection manager for PostgreSQL, which also reads each new
/// connection's backend pid and skips the checkout ping of a connection used within
/// [`FRESH`].
pub struct PgManager {
    inner: ConnectionManager<PgConnection>,
    canceller: Arc<Canceller>,
    reader_config: Option<Arc<ReaderConfig>>,
    statement_timeout: Option<Duration>,
}

impl PgManager {
    pub(super) fn new(target: &str, statement_timeout: Option<Duration>) -> PgManager {
        PgManager {
            inner: ConnectionManager::new(target),
            canceller: Arc::new(Canceller::new(target)),
            reader_config: ReaderConfig::new(target, statement_timeout).map(Arc::new),
            statement_timeout,
        }
    }
}

/// The settings every PostgreSQL connection of the pool gets, the Diesel
/// connection's and the reader's: the read time limit (lifted inside write
/// transactions, see [`Conn::transaction`](super::Conn::transaction)), and a lock
/// wait that gives up after as long as SQLite waits for its write lock, so a lock
/// wait ends as "busy" (a 503 the client retries) on both backends instead of hanging.
pub(super) fn session_settings(statement_timeout: Option<Duration>) -> String {
    format!(
        "SET lock_timeout = '10s'; {}",
        time_limit_setting(statement_timeout)
    )
}

/// Sets a connection's statement time limit; without one, back to the server's default.
pub(super) fn time_limit_setting(limit: Option<Duration>) -> String {
    match limit {
        Some(limit) => format!("SET statement_timeout = {}", limit.as_millis().max(1)),
        None => "RESET statement_timeout".into(),
    }
}

#[derive(diesel::QueryableByName)]
struct Pid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

impl ManageConnection for PgManager {
    type Connection = PgConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PgConn, Self::Error> {
        let mut conn = self.inner.connect()?;
        conn.batch_execute(&session_settings(self.statement_timeout))
            .map_err(diesel::r2d2::Error::QueryError)?;
        let pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result::<Pid>(&mut conn)
            .map_err(diesel::r2d2::Error::QueryError)?
            .pid;
        Ok(PgConn {
            conn,
            pid,
            canceller: self.canceller.clone(),
            returned: None,
            reader_config: self.reader_config.clone(),
            reader: None,
            reader_failed: None,
            pinned: false,
            statement_timeout: self.statement_timeout,
        })
    }

    /// Pings a connection taken from the pool unless it came back sound within the
    /// last [`FRESH`]: under load every request would otherwise pay a second round
    /// trip (and two more process wake-ups) for the `SELECT 1`, while a connection that
    /// has sat idle, which is what a restarted server breaks, is still checked.
    fn is_valid(&self, conn: &mut PgConn) -> Result<(), Self::Error> {
        if conn.returned.is_some_and(|t| t.elapsed() < FRESH) {
            return Ok(());
        }
        self.inner.is_valid(&mut conn.conn)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        let broken = self.inner.has_broken(&mut conn.conn);
        conn.returned = (!broken).then(Instant::now);
        broken
    }
}

/// The statements running with a cancellation flag, by backend pid, and the watcher.
pub(super) struct Canceller {
    /// Where the watcher connects to send cancels.
    target: String,
    state: Mutex<State>,
    /// Signalled when a statement registers (wakes an idle watcher) and when a send
    /// ends (wakes a statement waiting to end its registration).
    changed: Condvar,
}

#[derive(Default)]
struct State {
    running: HashMap<i32, Running>,
    /// Whether a watcher thread is running.
    watcher: bool,
    /// The watcher's connection, kept between cancels.
    conn: Option<PgConnection>,
}

struct Running {
    flag: Arc<AtomicBool>,
    /// A cancel for this statement is being sent right now.
    sending: bool,
    /// When the last cancel was sent.
    sent: Option<Instant>,
}

impl Canceller {
    fn new(target: &str) -> Canceller {
        Canceller {
            target: with_connect_timeout(target),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn watch(this: &Arc<Canceller>, pid: i32, flag: Arc<AtomicBool>) -> Watched {
        let mut state = this.lock();
        state.running.insert(
            pid,
            Running {
                flag: flag.clone(),
                sending: false,
                sent: None,
            },
        );
        if !state.watcher {
            let weak = Arc::downgrade(this);
            let spawned = std::thread::Builder::new()
                .name("pg-cancel".into())
                .spawn(move || watcher(weak));
            match spawned {
                Ok(_) => state.watcher = true,
                Err(e) => tracing::warn!("cannot start the PostgreSQL cancel watcher: {e}"),
            }
        }
        drop(state);
        Watched {
            canceller: this.clone(),
            pid,
            flag,
        }
    }

    /// Sends a cancel to every registered statement whose client is gone and that has
    /// not had one within [`RESEND`]; returns whether any statement is registered.
    fn cancel_gone(&self) -> bool {
        let mut state = self.lock();
        let now = Instant::now();
        let due: Vec<i32> = state
            .running
            .iter_mut()
            .filter(|(_, r)| {
                r.flag.load(Ordering::Relaxed)
                    && !r.sending
                    && r.sent.is_none_or(|t| now.duration_since(t) >= RESEND)
            })
            .map(|(&pid, r)| {
                r.sending = true;
                pid
            })
            .collect();
        if due.is_empty() {
            return !state.running.is_empty();
        }
        let mut conn = state.conn.take();
        drop(state);
        for &pid in &due {
            if let Err(e) = self.send(&mut conn, pid) {
                tracing::warn!("cancelling the statement of backend {pid} failed: {e}");
                conn = None;
            }
        }
        let mut state = self.lock();
        state.conn = conn;
        let now = Instant::now();
        for pid in due {
            if let Some(r) = state.running.get_mut(&pid) {
                r.sending = false;
                r.sent = Some(now);
            }
        }
        self.changed.notify_all();
        !state.running.is_empty()
    }

    fn send(&self, conn: &mut Option<PgConnection>, pid: i32) -> Result<(), String> {
        if conn.is_none() {
            let mut c = PgConnection::establish(&self.target).map_err(|e| e.to_string())?;
            diesel::sql_query("SET statement_timeout = '5s'")
                .execute(&mut c)
                .map_err(|e| e.to_string())?;
            *conn = Some(c);
        }
        let Some(c) = conn.as_mut() else {
            return Err("no connection".into());
        };
        diesel::sql_query("SELECT pg_cancel_backend($1)")
            .bind::<Integer, _>(pid)
            .execute(c)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Runs while statements are registered (and [`LINGER`] after the last one), as long
/// as the pool exists.
fn watcher(canceller: Weak<Canceller>) {
    let mut idle_since: Option<Instant> = None;
    loop {
        let Some(c) = canceller.upgrade() else {
            return;
        };
        let busy = c.cancel_gone();
        let state = c.lock();
        if busy || !state.running.is_empty() {
            idle_since = None;
        } else if idle_since.is_some_and(|t| t.elapsed() >= LINGER) {
            let mut state = state;
            state.watcher = false;
            state.conn = None;
            return;
        } else {
            idle_since.get_or_insert_with(Instant::now);
        }
        let (state, _) = c
            .changed
            .wait_timeout(state, POLL)
            .unwrap_or_else(|e| e.into_inner());
        drop(state);
    }
}

/// A statement registered with the [`Canceller`]; dropping it ends the registration
/// once no cancel for it is being sent.
pub(super) struct Watched {
    canceller: Arc<Canceller>,
    pid: i32,
    flag: Arc<AtomicBool>,
}

impl Watched {
    /// Whether the statement's client has gone away (an error of the statement is
    /// then most likely the cancel's, and nobody waits for it).
    pub(super) fn client_gone(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Whether a cancel was sent to this statement.
    #[cfg(test)]
    fn cancel_sent(&self) -> bool {
        self.canceller
            .lock()
            .running
            .get(&self.pid)
            .is_some_and(|r| r.sending || r.sent.is_some())
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let mut state = self.canceller.lock();
        while state.running.get(&self.pid).is_some_and(|r| r.sending) {
            state = self
                .canceller
                .changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        state.running.remove(&self.pid);
    }
}

/// `target` with libpq's `connect_timeout`, so a cancel never waits long for a
/// connection (the statement it is meant for waits for the send to end).
fn with_connect_timeout(target: &str) -> String {
    if target.contains("connect_timeout=") {
        return target.to_string();
    }
    let separator = if target.contains('?') { '&' } else { '?' };
    format!("{target}{separator}connect_timeout=5")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connect_timeout_is_added_once() {
        assert_eq!(
            with_connect_timeout("postgres://u@h/db"),
            "postgres://u@h/db?connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?sslmode=disable"),
            "postgres://u@h/db?sslmode=disable&connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?connect_timeout=2"),
            "postgres://u@h/db?connect_timeout=2"
        );
    }

    #[test]
    fn a_statement_without_a_gone_client_gets_no_cancel() {
        // No database: the watcher would fail to connect, so nothing may be sent.
        let canceller = Arc::new(Canceller::new("postgres://nobody@127.0.0.1:1/none"));
        let flag = Arc::new(AtomicBool::new(false));
        let watched = Canceller::watch(&canceller, 42, flag);
        assert!(canceller.cancel_gone());
        assert!(!watched.cancel_sent() && !watched.client_gone());
        drop(watched);
        assert!(canceller.lock().running.is_empty());
    }
}
