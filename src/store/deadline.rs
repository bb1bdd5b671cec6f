//! The statement time limit on SQLite, which has none of its own (and Diesel does not
//! expose `sqlite3_interrupt`): reads compiled with a time limit carry the condition
//! `ccfeed_in_time()`, a function every connection registers, which turns false once
//! the deadline set for this thread has passed. From then on the statement rejects
//! every row without evaluating the rest of its conditions, so it ends after a cheap
//! pass over what is left, and [`expired`] turns the answer into an error.
//! PostgreSQL enforces its own `statement_timeout` instead.

use std::cell::Cell;
use std::time::{Duration, Instant};

use diesel::sql_types::Bool;
use diesel::sqlite::SqliteConnection;

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    static EXPIRED: Cell<bool> = const { Cell::new(false) };
    static CALLS: Cell<u32> = const { Cell::new(0) };
}

/// Calls between two looks at the clock.
const CHECK_EVERY: u32 = 256;

pub(super) fn register(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    conn.register_noarg_sql_function::<Bool, bool, _>("ccfeed_in_time", false, in_time)
}

fn in_time() -> bool {
    if EXPIRED.get() {
        return false;
    }
    let Some(deadline) = DEADLINE.get() else {
        return true;
    };
    let calls = CALLS.get().wrapping_add(1);
    CALLS.set(calls);
    if calls % CHECK_EVERY == 0 && Instant::now() >= deadline {
        EXPIRED.set(true);
        return false;
    }
    true
}

/// Sets the deadline for the statements this thread runs until the guard drops.
pub(super) fn start(limit: Option<Duration>) -> Guard {
    DEADLINE.set(limit.map(|l| Instant::now() + l));
    EXPIRED.set(false);
    CALLS.set(0);
    Guard
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
    }
}
