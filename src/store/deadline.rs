//! The statement time limit on SQLite, which has none of its own (and Diesel does not
//! expose `sqlite3_interrupt`): reads compiled with a time limit carry the condition
//! `ccfeed_in_time()`, a function every connection registers, which turns false once
//! the deadline set for this thread has passed. From then on the statement rejects
//! every row without evaluating the rest of its conditions, so it ends after a cheap
//! pass over what is left, and [`expired`] turns the answer into an error.
//! PostgreSQL enforces its own `statement_timeout` instead.
//!
//! The same check stops a statement whose client has gone away: the request's
//! cancellation flag (set when the HTTP layer drops the request) is read at the same
//! moments as the clock. On PostgreSQL the flag set here is watched from outside the
//! statement, which is cancelled in its backend (see [`super::cancel`]).

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::sql_types::Bool;
use diesel::sqlite::SqliteConnection;

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    static EXPIRED: Cell<bool> = const { Cell::new(false) };
    static CALLS: Cell<u32> = const { Cell::new(0) };
    static CANCEL: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
    static CANCELLED: Cell<bool> = const { Cell::new(false) };
}

/// Calls between two looks at the clock.
const CHECK_EVERY: u32 = 256;

pub(super) fn register(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    conn.register_noarg_sql_function::<Bool, bool, _>("ccfeed_in_time", false, in_time)
}

fn in_time() -> bool {
    if EXPIRED.get() || CANCELLED.get() {
        return false;
    }
    let calls = CALLS.get().wrapping_add(1);
    CALLS.set(calls);
    if calls % CHECK_EVERY != 0 {
        return true;
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
    CALLS.set(0);
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

/// Whether the deadline passed while a statement ran (its answer is incomplete).
pub(super) fn expired() -> bool {
    EXPIRED.get()
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

    #[test]
    fn a_cancelled_request_stops_its_statement_at_the_next_check() {
        let flag = Arc::new(AtomicBool::new(false));
        let _guard = start(None, Some(flag.clone()));
        assert!((0..1000).all(|_| in_time()));
        flag.store(true, Ordering::Relaxed);
        let stopped = (0..CHECK_EVERY).any(|_| !in_time());
        assert!(stopped && cancelled() && !expired());
    }

    #[test]
    fn the_deadline_stops_a_statement_and_the_guard_clears_it() {
        {
            let _guard = start(Some(Duration::ZERO), None);
            assert!((0..CHECK_EVERY).any(|_| !in_time()));
            assert!(expired());
        }
        assert!(!expired());
        assert!((0..1000).all(|_| in_time()));
    }
}
