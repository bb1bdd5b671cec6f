//! SQLite reads through the C API, on the pooled connection Diesel opened.
//!
//! Diesel hands each cell over as a value wrapper that asks SQLite for the value and
//! its type, fetches text twice and checks its UTF-8 twice: together about a quarter
//! of the server's CPU in a full pull (profile in BENCHMARKS.md, "SQLite cells read
//! directly"). Here a read is prepared once per connection (kept when its text is
//! admitted by [`admit_to_cache`], as Diesel's cache kept it), its binds are set, and
//! each cell is read by the column kind the model gives, with one call for its type
//! and one or two for its value; text is checked for UTF-8 once.
//!
//! Writes, migrations and transactions stay with Diesel on the same connection, so a
//! read inside a transaction sees the transaction's writes, and the progress handler
//! of [`super::deadline`], which belongs to the connection, stops these statements at
//! their time limit or for a gone client as it stops Diesel's.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_int};
use std::ptr::NonNull;

use diesel::r2d2::{ConnectionManager, ManageConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use libsqlite3_sys as ffi;

use super::bind::{SqliteArg, admit_to_cache, sqlite_arg};
use super::compile::ColumnPos;
use super::read::RowSink;
use super::sql::Statement;
use super::{Cell, ColumnKind, StoreError};

/// A pooled SQLite connection with the reads it keeps prepared.
pub struct SqliteConn {
    /// Declared before `conn`, and emptied by `Drop` before it: a statement must be
    /// finalized before its connection closes.
    kept: HashMap<String, RawStatement>,
    conn: SqliteConnection,
}

impl Drop for SqliteConn {
    fn drop(&mut self) {
        self.kept.clear();
    }
}

impl std::ops::Deref for SqliteConn {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for SqliteConn {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

/// Diesel's connection manager for SQLite, handing out [`SqliteConn`]s.
pub struct SqliteManager(ConnectionManager<SqliteConnection>);

impl SqliteManager {
    pub(super) fn new(path: &str) -> SqliteManager {
        SqliteManager(ConnectionManager::new(path))
    }
}

impl ManageConnection for SqliteManager {
    type Connection = SqliteConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<SqliteConn, Self::Error> {
        Ok(SqliteConn {
            kept: HashMap::new(),
            conn: self.0.connect()?,
        })
    }

    fn is_valid(&self, conn: &mut SqliteConn) -> Result<(), Self::Error> {
        self.0.is_valid(&mut conn.conn)
    }

    fn has_broken(&self, conn: &mut SqliteConn) -> bool {
        self.0.has_broken(&mut conn.conn)
    }
}

/// A prepared statement, finalized when dropped.
struct RawStatement(NonNull<ffi::sqlite3_stmt>);

// SAFETY: a statement is only used through the `SqliteConn` that prepared it, which
// one thread at a time has (`&mut`), and the bundled SQLite runs in multi-thread mode,
// which allows a connection and its statements to move between threads.
unsafe impl Send for RawStatement {}

impl Drop for RawStatement {
    fn drop(&mut self) {
        // SAFETY: the statement was prepared by `sqlite3_prepare_v3` and is finalized
        // once, here; its connection is still open (see `SqliteConn::kept`).
        unsafe { ffi::sqlite3_finalize(self.0.as_ptr()) };
    }
}

impl SqliteConn {
    /// Runs `stmt` and feeds each row to `sink`; returns the number of rows read.
    pub(super) fn read(
        &mut self,
        stmt: &Statement,
        kinds: &[ColumnKind],
        sink: &mut dyn RowSink,
    ) -> Result<u64, StoreError> {
        // A statement that is not kept; declared first, so it is finalized after
        // `running` has reset it.
        let fresh;
        let raw = match self.kept.get(&stmt.text) {
            Some(kept) => kept.0,
            None if admit_to_cache(&stmt.text) => {
                let prepared = self.prepare(&stmt.text, true)?;
                let raw = prepared.0;
                self.kept.insert(stmt.text.clone(), prepared);
                raw
            }
            None => {
                fresh = self.prepare(&stmt.text, false)?;
                fresh.0
            }
        };
        let mut running = Running(raw);
        running.bind(stmt)?;
        // SAFETY: `raw` is a live statement of this connection.
        let columns = unsafe { ffi::sqlite3_column_count(raw.as_ptr()) };
        if usize::try_from(columns).unwrap_or(0) < kinds.len() {
            return Err(StoreError::Corrupt(format!(
                "the read returns {columns} columns, {} expected",
                kinds.len()
            )));
        }
        let mut rows = 0;
        // Holds a lossy copy of text that is not UTF-8 (never written by the store).
        let mut repaired = String::new();
        while running.step()? {
            if !sink.begin_row()? {
                break;
            }
            for (i, &kind) in kinds.iter().enumerate() {
                sink.cell(ColumnPos::new(i), running.cell(i, kind, &mut repaired)?)?;
            }
            sink.end_row()?;
            rows += 1;
        }
        Ok(rows)
    }

    /// Prepares `text`; `keep` tells SQLite the statement will be used many times.
    fn prepare(&mut self, text: &str, keep: bool) -> Result<RawStatement, StoreError> {
        let len = c_int::try_from(text.len())
            .map_err(|_| StoreError::Invalid("a statement longer than SQLite takes".into()))?;
        let flags = if keep {
            ffi::SQLITE_PREPARE_PERSISTENT
        } else {
            0
        };
        let mut out = std::ptr::null_mut();
        // SAFETY: the handle is this open connection's, `text` is valid for `len`
        // bytes (SQLite reads no further when given the length), and `out` receives
        // the statement.
        let rc = unsafe {
            let db = self.conn.with_raw_connection(|db| db);
            ffi::sqlite3_prepare_v3(
                db,
                text.as_ptr().cast::<c_char>(),
                len,
                flags,
                &mut out,
                std::ptr::null_mut(),
            )
        };
        match NonNull::new(out) {
            Some(raw) if rc == ffi::SQLITE_OK => Ok(RawStatement(raw)),
            Some(raw) => {
                let error = error_of(raw, rc);
                drop(RawStatement(raw));
                Err(error)
            }
            None if rc == ffi::SQLITE_OK => {
                Err(StoreError::Invalid("a read without a statement".into()))
            }
            None => {
                // SAFETY: as above; the message is read before any other call.
                let message = unsafe {
                    let db = self.conn.with_raw_connection(|db| db);
                    message_of(ffi::sqlite3_errmsg(db))
                };
                Err(database_error(rc, message))
            }
        }
    }
}

/// A statement being run: reset, with its binds cleared, when dropped, so a kept
/// statement is ready for the next read however this one ended.
struct Running(NonNull<ffi::sqlite3_stmt>);

impl Drop for Running {
    fn drop(&mut self) {
        // SAFETY: the statement is live (kept or `fresh`, both outlive this guard).
        unsafe {
            ffi::sqlite3_reset(self.0.as_ptr());
            ffi::sqlite3_clear_bindings(self.0.as_ptr());
        }
    }
}

impl Running {
    fn bind(&mut self, stmt: &Statement) -> Result<(), StoreError> {
        let raw = self.0.as_ptr();
        // SAFETY: `raw` is live; each call sets one parameter, numbered from 1, and
        // text is copied by SQLite (`SQLITE_TRANSIENT`), so it need not outlive the call.
        unsafe {
            let expected = ffi::sqlite3_bind_parameter_count(raw);
            if usize::try_from(expected).ok() != Some(stmt.binds.len()) {
                return Err(StoreError::Invalid(format!(
                    "a read with {expected} parameters got {} values",
                    stmt.binds.len()
                )));
            }
            for (i, (value, _)) in stmt.binds.iter().enumerate() {
                let at = c_int::try_from(i + 1).unwrap_or(c_int::MAX);
                let rc = match sqlite_arg(value) {
                    SqliteArg::Null => ffi::sqlite3_bind_null(raw, at),
                    SqliteArg::Bool(v) => ffi::sqlite3_bind_int64(raw, at, i64::from(v)),
                    SqliteArg::Int(v) => ffi::sqlite3_bind_int64(raw, at, v),
                    SqliteArg::Double(v) => ffi::sqlite3_bind_double(raw, at, v),
                    SqliteArg::Text(s) => bind_text(raw, at, s),
                    SqliteArg::OwnedText(s) => bind_text(raw, at, &s),
                };
                if rc != ffi::SQLITE_OK {
                    return Err(error_of(self.0, rc));
                }
            }
        }
        Ok(())
    }

    /// Moves to the next row: `false` once there is none.
    fn step(&mut self) -> Result<bool, StoreError> {
        // SAFETY: `self.0` is live, its parameters bound.
        match unsafe { ffi::sqlite3_step(self.0.as_ptr()) } {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => Ok(false),
            rc => Err(error_of(self.0, rc)),
        }
    }

    /// Column `i` of the current row, read as `kind`. The cell borrows the statement:
    /// it is gone before the next [`Running::step`].
    fn cell<'r>(
        &'r self,
        i: usize,
        kind: ColumnKind,
        repaired: &'r mut String,
    ) -> Result<Cell<'r>, StoreError> {
        let raw = self.0.as_ptr();
        let at = c_int::try_from(i).unwrap_or(c_int::MAX);
        // SAFETY: `raw` is live and on a row (`step` returned true), and `i` is below
        // its column count (checked in `read`). The text pointer is valid until the
        // statement steps, resets or converts this column again, none of which can
        // happen while the returned cell borrows `self`.
        unsafe {
            if ffi::sqlite3_column_type(raw, at) == ffi::SQLITE_NULL {
                return Ok(Cell::Null);
            }
            Ok(match kind {
                ColumnKind::Boolean => Cell::Bool(ffi::sqlite3_column_int64(raw, at) != 0),
                ColumnKind::Int32 | ColumnKind::Int64 => {
                    Cell::Int(ffi::sqlite3_column_int64(raw, at))
                }
                ColumnKind::Double => Cell::Double(ffi::sqlite3_column_double(raw, at)),
                ColumnKind::Text | ColumnKind::LocalText | ColumnKind::Instant => {
                    // The text first, then its length: asking for the length first
                    // could measure another form of the value.
                    let text = ffi::sqlite3_column_text(raw, at);
                    if text.is_null() {
                        return Err(error_of(self.0, ffi::SQLITE_NOMEM));
                    }
                    let len = usize::try_from(ffi::sqlite3_column_bytes(raw, at)).unwrap_or(0);
                    let bytes = std::slice::from_raw_parts(text, len);
                    match std::str::from_utf8(bytes) {
                        Ok(s) => Cell::Text(s),
                        Err(_) => {
                            *repaired = String::from_utf8_lossy(bytes).into_owned();
                            Cell::Text(repaired.as_str())
                        }
                    }
                }
            })
        }
    }
}

/// # Safety
/// `raw` must be a live statement and `at` one of its parameters.
unsafe fn bind_text(raw: *mut ffi::sqlite3_stmt, at: c_int, text: &str) -> c_int {
    let Ok(len) = c_int::try_from(text.len()) else {
        return ffi::SQLITE_TOOBIG;
    };
    // SAFETY: as the caller promises; SQLite copies `len` bytes of `text` now.
    unsafe {
        ffi::sqlite3_bind_text(
            raw,
            at,
            text.as_ptr().cast::<c_char>(),
            len,
            ffi::SQLITE_TRANSIENT(),
        )
    }
}

/// The error `rc` of a statement, with its connection's message.
fn error_of(raw: NonNull<ffi::sqlite3_stmt>, rc: c_int) -> StoreError {
    // SAFETY: a live statement's connection is open; its message is read at once.
    let message = unsafe { message_of(ffi::sqlite3_errmsg(ffi::sqlite3_db_handle(raw.as_ptr()))) };
    database_error(rc, message)
}

/// # Safety
/// `message` must be null or a NUL-terminated string.
unsafe fn message_of(message: *const c_char) -> String {
    if message.is_null() {
        return String::new();
    }
    // SAFETY: as the caller promises.
    match unsafe { CStr::from_ptr(message) }.to_string_lossy() {
        Cow::Borrowed(s) => s.to_owned(),
        Cow::Owned(s) => s,
    }
}

/// As Diesel reports a failed statement, so a busy database or an interrupted read is
/// told apart in one place ([`StoreError`]'s `From`).
fn database_error(rc: c_int, message: String) -> StoreError {
    let message = if message.is_empty() {
        format!("SQLite error {rc}")
    } else {
        message
    };
    StoreError::from(DieselError::DatabaseError(
        DatabaseErrorKind::Unknown,
        Box::new(message),
    ))
}
