//! How the store runs reads: outside a transaction, PostgreSQL reads go to the slot's
//! wire reader (`store/wire.rs`), inside one (or while a time limit is lifted) to the
//! slot's libpq connection; binds of every kind arrive and come back the same on both
//! backends.
mod common;

use ccfeed::store::{self, ColumnKind, Conn, Value};
use chrono::{TimeZone, Utc};
use common::*;

fn empty(backend: Backend) -> Option<TestApp> {
    TestApp::start(backend, demo_settings(), |_, _| {})
}

fn one_int(conn: &mut Conn, sql: &str, binds: Vec<(Value, ColumnKind)>) -> Value {
    let stmt = store::stmt(conn, sql, binds);
    let rows = store::query(conn, &stmt, &[ColumnKind::Int64]).expect("query");
    rows.first()
        .and_then(|r| r.first())
        .cloned()
        .expect("one row")
}

/// The pid of the PostgreSQL backend the read runs on.
fn backend_pid(conn: &mut Conn) -> Value {
    one_int(conn, "SELECT CAST(pg_backend_pid() AS BIGINT)", vec![])
}

both_backends!(a_read_inside_a_transaction_sees_its_own_writes, |backend| {
    let Some(app) = empty(backend) else {
        return;
    };
    let mut conn = app.db.get().expect("conn");
    let count = |c: &mut Conn| {
        one_int(
            c,
            "SELECT COUNT(*) FROM tenants WHERE id = ?",
            vec![(Value::Text("t-in-tx".into()), ColumnKind::Text)],
        )
    };
    assert_eq!(count(&mut conn), Value::Int(0));
    let seen = conn
        .transaction(|c| {
            store::ensure_tenant(c, "t-in-tx", "In a transaction", "UTC")?;
            Ok(count(c))
        })
        .expect("transaction");
    assert_eq!(
        seen,
        Value::Int(1),
        "the transaction's read missed its write"
    );
    assert_eq!(count(&mut conn), Value::Int(1), "committed, seen outside");
});

#[test]
fn postgres_reads_outside_a_transaction_have_a_connection_of_their_own() {
    let Some(app) = empty(Backend::Postgres) else {
        return;
    };
    let mut conn = app.db.get().expect("conn");
    let reader = backend_pid(&mut conn);
    assert_eq!(
        backend_pid(&mut conn),
        reader,
        "the reader is kept between reads"
    );
    let in_transaction = conn
        .transaction(|c| Ok(backend_pid(c)))
        .expect("transaction");
    assert_ne!(in_transaction, reader);
    assert_eq!(
        backend_pid(&mut conn),
        reader,
        "back on the reader after the commit"
    );
}

#[test]
fn postgres_a_reader_whose_backend_ended_is_opened_again() {
    let Some(app) = empty(Backend::Postgres) else {
        return;
    };
    let mut conn = app.db.get().expect("conn");
    let reader = backend_pid(&mut conn);
    // Ended from the slot's other connection, as a server restart or an admin would.
    let ended = conn
        .transaction(|c| {
            Ok(one_int(
                c,
                "SELECT CASE WHEN pg_terminate_backend(CAST(? AS INTEGER)) THEN 1 ELSE 0 END",
                vec![(reader.clone(), ColumnKind::Int64)],
            ))
        })
        .expect("terminate");
    assert_eq!(ended, Value::Int(1));
    // Past the second within which a connection is trusted without a check.
    std::thread::sleep(std::time::Duration::from_millis(1_200));
    let again = backend_pid(&mut conn);
    assert_ne!(again, reader, "a new reader answers the next read");
}

/// A read that takes half a second.
fn slow_read(conn: &mut Conn) -> Result<usize, store::StoreError> {
    let stmt = store::stmt(conn, "SELECT CAST(1 AS BIGINT) FROM pg_sleep(0.5)", vec![]);
    store::query(conn, &stmt, &[ColumnKind::Int64]).map(|rows| rows.len())
}

#[test]
fn postgres_work_without_a_time_limit_reads_on_libpq_and_the_limit_comes_back() {
    let Some(app) = empty(Backend::Postgres) else {
        return;
    };
    let (admin, name) = app.postgres_database().expect("a PostgreSQL test database");
    let limit = Some(std::time::Duration::from_millis(200));
    let url = pg_database_url(admin, name);
    // libpq knows this option; tokio-postgres refuses the URL, so every read is on libpq.
    let libpq_only = format!("{url}?fallback_application_name=ccfeed_test");
    for (url, has_reader) in [(url, true), (libpq_only, false)] {
        let db = store::Db::open_with(&url, 2, limit).expect("open with a time limit");
        let mut conn = db.get().expect("conn");
        let timed_out = slow_read(&mut conn).expect_err("the limit ends a slow read");
        assert!(timed_out.is_statement_timeout(), "{timed_out}");
        let reader = backend_pid(&mut conn);
        let (first, after_a_transaction, slow_rows) = conn
            .without_time_limit(|c| {
                let first = backend_pid(c);
                c.transaction(|_| Ok(()))?;
                let after = backend_pid(c);
                Ok((first, after, slow_read(c)?))
            })
            .expect("no time limit");
        assert_eq!(slow_rows, 1, "{url}");
        assert_eq!(
            after_a_transaction, first,
            "{url}: still on one connection after a transaction"
        );
        if has_reader {
            assert_ne!(first, reader, "on the connection whose limit is lifted");
        }
        assert_eq!(
            backend_pid(&mut conn),
            reader,
            "{url}: back where reads were"
        );
        let timed_out = slow_read(&mut conn).expect_err("the limit is back");
        assert!(timed_out.is_statement_timeout(), "{url}: {timed_out}");
    }
}

#[test]
fn postgres_a_url_the_reader_cannot_use_leaves_reads_on_libpq() {
    let Some(app) = empty(Backend::Postgres) else {
        return;
    };
    let (admin, name) = app.postgres_database().expect("a PostgreSQL test database");
    // libpq knows this option; tokio-postgres refuses the URL.
    let url = format!(
        "{}?fallback_application_name=ccfeed_test",
        pg_database_url(admin, name)
    );
    let db = ccfeed::store::Db::open(&url, 2).expect("open with a libpq-only option");
    let mut conn = db.get().expect("conn");
    let outside = backend_pid(&mut conn);
    let inside = conn
        .transaction(|c| Ok(backend_pid(c)))
        .expect("transaction");
    assert_eq!(outside, inside, "reads stay on the one libpq connection");
}

both_backends!(binds_of_every_kind_come_back_as_sent, |backend| {
    let Some(app) = empty(backend) else {
        return;
    };
    let mut conn = app.db.get().expect("conn");
    let instant = Utc
        .with_ymd_and_hms(2026, 12, 7, 1, 2, 3)
        .single()
        .expect("instant")
        + chrono::Duration::microseconds(456_789);
    let kinds = [
        ColumnKind::Boolean,
        ColumnKind::Int32,
        ColumnKind::Int64,
        ColumnKind::Double,
        ColumnKind::Text,
        ColumnKind::Instant,
        ColumnKind::Text,
        ColumnKind::Instant,
        ColumnKind::Int32,
    ];
    // The same text twice, its Int32 bind once past the 32-bit range (sent as a
    // 64-bit integer, so prepared with other types than the first time).
    for int32 in [5_000_000_000, 7] {
        let sent = vec![
            Value::Bool(true),
            Value::Int(int32),
            Value::Int(-3),
            Value::Double(2.5),
            Value::Text("é ✓ \"quoted\" \\ end".into()),
            Value::Instant(instant),
            Value::Null,
            Value::Null,
            Value::Null,
        ];
        let binds: Vec<(Value, ColumnKind)> = sent.iter().cloned().zip(kinds).collect();
        let stmt = store::stmt(&conn, "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?", binds);
        let rows = store::query(&mut conn, &stmt, &kinds).expect("query");
        assert_eq!(rows.len(), 1);
        let got: Vec<String> = rows[0].iter().map(store::text).collect();
        let want: Vec<String> = sent.iter().map(store::text).collect();
        assert_eq!(got, want);
        assert_eq!(rows[0][6], Value::Null);
    }
});

#[test]
fn sqlite_cells_are_read_as_the_kind_the_model_gives() {
    let Some(app) = empty(Backend::Sqlite) else {
        return;
    };
    let mut conn = app.db.get().expect("conn");
    let kinds = [
        ColumnKind::Text,
        ColumnKind::Int64,
        ColumnKind::Boolean,
        ColumnKind::Double,
        ColumnKind::Text,
        ColumnKind::Int32,
        ColumnKind::Instant,
    ];
    // Each value stored with another type than the kind, as SQLite allows, and a
    // text that is not UTF-8 (the store never writes one; a file from elsewhere may).
    let stmt = store::stmt(
        &conn,
        "SELECT 42, '7', 2, 3, CAST(X'66FF6F' AS TEXT), NULL, ''",
        vec![],
    );
    let rows = store::query(&mut conn, &stmt, &kinds).expect("query");
    assert_eq!(
        rows,
        vec![vec![
            Value::Text("42".into()),
            Value::Int(7),
            Value::Bool(true),
            Value::Double(3.0),
            Value::Text("f\u{FFFD}o".into()),
            Value::Null,
            Value::Text(String::new()),
        ]]
    );
}

both_backends!(
    a_read_that_is_not_sql_or_lacks_binds_is_an_error,
    |backend| {
        let Some(app) = empty(backend) else {
            return;
        };
        let mut conn = app.db.get().expect("conn");
        let broken = store::stmt(&conn, "SELEC 1", vec![]);
        let error = store::query(&mut conn, &broken, &[ColumnKind::Int64]).expect_err("not SQL");
        assert!(error.to_string().contains("syntax error"), "{error}");
        let missing = store::stmt(&conn, "SELECT CAST(? AS BIGINT)", vec![]);
        store::query(&mut conn, &missing, &[ColumnKind::Int64]).expect_err("a bind short");
        // The connection reads on after both.
        let fine = store::stmt(&conn, "SELECT CAST(1 AS BIGINT)", vec![]);
        let rows =
            store::query(&mut conn, &fine, &[ColumnKind::Int64]).expect("a read after errors");
        assert_eq!(rows, vec![vec![Value::Int(1)]]);
    }
);

#[test]
fn postgres_a_read_that_waits_out_the_lock_timeout_is_busy() {
    let Some(app) = empty(Backend::Postgres) else {
        return;
    };
    let mut holder = app.db.get().expect("conn");
    let store::Conn::Postgres(locking) = &mut holder else {
        panic!("not PostgreSQL");
    };
    {
        use diesel::connection::SimpleConnection;
        locking
            .batch_execute("BEGIN; LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE")
            .expect("lock");
    }
    let mut conn = app.db.get().expect("conn");
    let stmt = store::stmt(&conn, "SELECT COUNT(*) FROM tenants", vec![]);
    // Waits for the lock timeout (10 s), as a write would; a 503 the client retries.
    let error = store::query(&mut conn, &stmt, &[ColumnKind::Int64]).expect_err("lock wait");
    assert!(matches!(error, store::StoreError::Busy(_)), "{error}");
    assert!(error.to_string().contains("lock timeout"), "{error}");
    {
        use diesel::connection::SimpleConnection;
        locking.batch_execute("ROLLBACK").expect("unlock");
    }
}
