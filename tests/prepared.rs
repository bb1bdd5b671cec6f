//! Reads a client repeats are kept prepared by the connection (`store/bind.rs`), so
//! PostgreSQL does not parse and plan them again for every request.
//!
//! In a file of its own: which texts are admitted to the statement caches is decided
//! process-wide (the first 64 distinct texts), so other tests in the same process
//! would decide whether this one's read gets in.
mod common;

use ccfeed::store::{self, ColumnKind, Conn, Value};
use common::*;

#[test]
fn postgres_keeps_a_repeated_read_prepared() {
    let Some(t) = TenantApp::start(Backend::Postgres) else {
        return;
    };
    let path = "/odata/Calls?$filter=durationInSeconds gt 7&$select=id,durationInSeconds";
    for _ in 0..8 {
        t.get_read(path);
    }
    // Hold every connection of the test pool (4) so each one's statements are counted.
    let mut conns: Vec<Conn> = (0..4).map(|_| t.app.db.get().expect("conn")).collect();
    let mut kept = 0;
    for conn in &mut conns {
        let count = store::stmt(
            conn,
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE ?",
            vec![(
                Value::Text("%duration_in_seconds%".into()),
                ColumnKind::Text,
            )],
        );
        let rows = store::query(conn, &count, &[ColumnKind::Int64]).expect("count");
        if let Some(Value::Int(n)) = rows.first().and_then(|r| r.first()) {
            kept += n;
        }
    }
    assert!(kept >= 1, "no connection keeps the repeated read prepared");
    // Kept per connection and bind types, never once per request.
    assert!(
        kept <= 4,
        "{kept} prepared copies of one read on 4 connections"
    );
}
