//! The statement time limit on SQLite, which has none of its own: every connection
//! registers a progress handler (SQLite calls it every [`CHECK_EVERY`] virtual-machine
//! instructions of any statement) that interrupts the statement once the deadline set
//! for this thread has passed. The statement then fails with `SQLITE_INTERRUPT`, and
//! [`expired`] tells the caller to answer with the time limit's error instead.
//! PostgreSQL enforces its own `statement_timeout`.
//!
//! The handler runs outside the SQL, so the compiled statements carry no condition for
//! it and a row costs nothing extra (an earlier design added a SQL function to every
//! timed read's `WHERE`, evaluated per row scanned). It only reads thread-local state,
//! which [`start`] sets on the thread that runs the statements; without a [`Guard`]
//! alive (writes, migrations, jobs) it lets every statement run.
//!
//! The same check stops a statement whose client has gone away: the request's
//! cancellation flag (set when the HTTP layer drops the request) is read at the same
//! moments as the clock. On PostgreSQL the flag set here is watched from outside the
//! statement, which is cancelled in its backend (see [`super::cancel`]).

use std::cell::{Cell, RefCell};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::sqlite::{ProgressDecision, SqliteConnection};

use super::StoreError;

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    static EXPIRED: Cell<bool> = const { Cell::new(false) };
    static CANCEL: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
    static CANCELLED: Cell<bool> = const { Cell::new(false) };
}

/// Virtual-machine instructions between two looks at the clock: a scan takes some
/// tens per row, so the handler runs once per dozens of rows and a statement stops
/// well within a millisecond of its deadline.
const CHECK_EVERY: NonZeroU32 = match NonZeroU32::new(1000) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};

pub(super) fn register(conn: &mut SqliteConnection) {
    conn.on_progress(CHECK_EVERY, progress);
}

fn progress() -> ProgressDecision {
    if in_time() {
        ProgressDecision::Continue
    } else {
        ProgressDecision::Interrupt
    }
}

/// Whether the statement running on this thread may go on; records why not.
fn in_time() -> bool {
    if EXPIRED.get() || CANCELLED.get() {
        return false;
    }
    if CANCEL.with_borrow(|c| c.as_ref().is_some_and(|flag| flag.load(Ordering::Relaxed))) {
        CANCELLED.set(true);
        return false;
    }
    if DEADLINE
        .get()
        .is_some_and(|deadline| Instant::now() >= deadline)
    {
        EXPIRED.set(true);
        return false;
    }
    true
}

/// Sets the deadline (and the request's cancellation flag) for the statements this
/// thread runs until the guard drops.
pub(super) fn start(limit: Option<Duration>, cancel: Option<Arc<AtomicBool>>) -> Guard {
    DEADLINE.set(limit.map(|l| Instant::now() + l));
    EXPIRED.set(false);
    CANCELLED.set(false);
    CANCEL.set(cancel);
    Guard
}

/// The cancellation flag of the request this thread reads for, if any.
pub(super) fn cancel_flag() -> Option<Arc<AtomicBool>> {
    CANCEL.with_borrow(|c| c.clone())
}

/// Whether the client went away while a statement ran (it was cut short).
pub(super) fn cancelled() -> bool {
    CANCELLED.get()
}

/// Whether the deadline passed while a statement ran (it was cut short).
pub(super) fn expired() -> bool {
    EXPIRED.get()
}

/// The result of statements run under [`start`]'s guard: an interrupted statement
/// fails with SQLite's "interrupted", which becomes the reason it was stopped (the
/// client went away, or the time limit passed); it never reaches a client as such.
pub(super) fn outcome<T>(
    result: Result<T, StoreError>,
    limit: Option<Duration>,
) -> Result<T, StoreError> {
    if cancelled() {
        Err(StoreError::SinkClosed)
    } else if expired() {
        Err(StoreError::Timeout(limit.unwrap_or_default().as_millis()))
    } else {
        result
    }
}

pub(super) struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        DEADLINE.set(None);
        EXPIRED.set(false);
        CANCELLED.set(false);
        CANCEL.set(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::{Connection, SimpleConnection};

    /// A statement of many millions of instructions.
    const LONG: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
                        WHERE i < 50000000) SELECT count(*) FROM n";

    fn connection() -> SqliteConnection {
        let mut conn = SqliteConnection::establish(":memory:").expect("in-memory database");
        register(&mut conn);
        conn
    }

    #[test]
    fn a_cancelled_request_stops_its_statement() {
        let mut conn = connection();
        let flag = Arc::new(AtomicBool::new(true));
        let _guard = start(None, Some(flag));
        assert!(conn.batch_execute(LONG).is_err());
        assert!(cancelled() && !expired());
    }

    #[test]
    fn the_deadline_stops_a_statement_and_the_guard_clears_it() {
        let mut conn = connection();
        {
            let _guard = start(Some(Duration::from_millis(1)), None);
            assert!(conn.batch_execute(LONG).is_err());
            assert!(expired() && !cancelled());
        }
        assert!(!expired());
        // Without a guard nothing stops a statement.
        conn.batch_execute("SELECT count(*) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) SELECT i FROM n)")
            .expect("an unlimited statement");
    }

    #[test]
    fn a_statement_within_its_time_runs_to_the_end() {
        let mut conn = connection();
        let flag = Arc::new(AtomicBool::new(false));
        let _guard = start(Some(Duration::from_secs(600)), Some(flag));
        conn.batch_execute("SELECT count(*) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) SELECT i FROM n)")
            .expect("a statement within its time");
        assert!(!expired() && !cancelled());
    }
}
