//! Fills tenant-local timestamp columns that a migration added to tables with rows
//! already in them. SQL cannot render an instant in a tenant's IANA time zone on
//! SQLite, so a migration lists such columns in `local_time_backfill` and the server
//! fills them here when it opens the database, a chunk at a time, then removes the
//! entry. With nothing listed this is one small query.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

use super::raw::{query, stmt, text};
use super::{ColumnKind, Value};
use super::{Conn, StoreError};

/// Rows updated per transaction.
const CHUNK: i64 = 2_000;

/// The local rendering of `t` in `tz`, as the writers store it.
pub fn local_text(t: &DateTime<Utc>, tz: &Tz) -> String {
    t.with_timezone(tz)
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

impl super::Db {
    /// Fills the listed tenant-local columns of stored rows (done by [`Db::open`];
    /// public for tests that list a column themselves).
    ///
    /// [`Db::open`]: super::Db::open
    pub fn backfill_local_twins(&self) -> Result<(), StoreError> {
        run(&mut self.get()?)
    }
}

pub(super) fn run(conn: &mut Conn) -> Result<(), StoreError> {
    let s = stmt(
        conn,
        "SELECT table_name, column_name, utc_column_name FROM local_time_backfill",
        Vec::new(),
    );
    let pending = query(conn, &s, &[ColumnKind::Text; 3])?;
    if pending.is_empty() {
        return Ok(());
    }
    let s = stmt(conn, "SELECT id, time_zone FROM tenants", Vec::new());
    let tenants = query(conn, &s, &[ColumnKind::Text, ColumnKind::Text])?;
    for entry in &pending {
        let (table, column, utc_column) = (text(&entry[0]), text(&entry[1]), text(&entry[2]));
        // Only names the migration wrote reach the SQL text.
        if ![&table, &column, &utc_column]
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        {
            return Err(StoreError::Corrupt(format!(
                "local_time_backfill lists an unexpected name: {table}.{column}"
            )));
        }
        for tenant in &tenants {
            let id = text(&tenant[0]);
            let tz: Tz = text(&tenant[1]).parse().unwrap_or(chrono_tz::UTC);
            loop {
                let select = stmt(
                    conn,
                    &format!(
                        "SELECT id, \"{utc_column}\" FROM \"{table}\" WHERE tenant_id = ? \
                         AND \"{column}\" IS NULL AND \"{utc_column}\" IS NOT NULL LIMIT ?"
                    ),
                    vec![
                        (Value::Text(id.clone()), ColumnKind::Text),
                        (Value::Int(CHUNK), ColumnKind::Int64),
                    ],
                );
                let rows = query(conn, &select, &[ColumnKind::Text, ColumnKind::Instant])?;
                if rows.is_empty() {
                    break;
                }
                conn.transaction(|conn| {
                    for row in &rows {
                        let instant = match &row[1] {
                            Value::Instant(t) => Some(*t),
                            Value::Text(s) => super::parse_instant(s),
                            _ => None,
                        };
                        let Some(instant) = instant else {
                            return Err(StoreError::Corrupt(format!(
                                "{table}.{utc_column} holds a value that is not a timestamp"
                            )));
                        };
                        let update = stmt(
                            conn,
                            &format!(
                                "UPDATE \"{table}\" SET \"{column}\" = ? WHERE tenant_id = ? AND id = ?"
                            ),
                            vec![
                                (Value::Text(local_text(&instant, &tz)), ColumnKind::Text),
                                (Value::Text(id.clone()), ColumnKind::Text),
                                (Value::Text(text(&row[0])), ColumnKind::Text),
                            ],
                        );
                        conn.execute(&update)?;
                    }
                    Ok(())
                })?;
            }
        }
        let done = stmt(
            conn,
            "DELETE FROM local_time_backfill WHERE table_name = ? AND column_name = ?",
            vec![
                (Value::Text(table.clone()), ColumnKind::Text),
                (Value::Text(column.clone()), ColumnKind::Text),
            ],
        );
        conn.execute(&done)?;
        tracing::info!(
            table,
            column,
            "filled the new tenant-local column of stored rows"
        );
    }
    Ok(())
}
