//! The incremental-refresh filter (`startedAtUtc ge X and startedAtUtc lt Y`, one
//! request chain per partition) must be answered from `ix_calls_started_at_utc_id`
//! (tenant_id, started_at_utc, id), not by scanning the tenant's calls. Each statement
//! is built the way the server builds it (`plan::Planner` +
//! `store::compile`) and explained with the same binds, on SQLite and PostgreSQL.

mod common;

use ccfeed::edm::Model;
use ccfeed::plan::{Limits, Planner, QueryPlan};
use ccfeed::store::{self, Conn, parse_instant, sql};
use ccfeed::uri::{QueryOptions, decode_query_string};
use common::*;
use diesel::RunQueryDsl;

const INDEX: &str = "ix_calls_started_at_utc_id";
/// Rows per tenant: fixture calls are 37 minutes apart, so about 100 days, of which
/// one day (a partition) is about 1 %.
const ROWS: usize = 4_000;
const RANGE: &str = "startedAtUtc ge 2026-04-10T00:00:00Z and startedAtUtc lt 2026-04-11T00:00:00Z";

/// The plan of `stmt`, one line per node.
fn explain(conn: &mut Conn, stmt: &sql::Statement) -> Vec<String> {
    ccfeed::store::explain(conn, stmt).expect("explain")
}

/// Binds a Calls request as the server does, with the page limit it adds.
fn plan(model: &Model, query: &str) -> QueryPlan {
    let set = model.set_id("Calls").expect("Calls");
    let options = QueryOptions::parse(decode_query_string(query).expect("decode")).expect("parse");
    let limits = Limits::default();
    Planner::new(model, &limits)
        .collection(set, TENANT, &options, limits.page_size)
        .expect("bind")
}

fn assert_uses_index(backend: Backend, what: &str, stmt: &sql::Statement, lines: &[String]) {
    let all = lines.join("\n");
    let ok = match backend {
        // e.g. `SEARCH t0 USING INDEX ix_calls_started_at_utc_id (tenant_id=? AND
        // started_at_utc>? AND started_at_utc<?)`: the range bounds the search, it
        // is not just a filter over the tenant's rows.
        Backend::Sqlite => lines.iter().any(|l| {
            l.starts_with("SEARCH")
                && l.contains(&format!("INDEX {INDEX} (tenant_id=? AND started_at_utc>"))
        }),
        // `Index [Only] Scan [Backward] using ix_... on calls t0` or `Bitmap Index
        // Scan on ix_...`,
        // with the range in its Index Cond.
        Backend::Postgres => {
            lines.iter().any(|l| {
                l.contains("Index")
                    && (l.contains(&format!("using {INDEX} "))
                        || l.contains(&format!("on {INDEX}")))
            }) && lines
                .iter()
                .any(|l| l.contains("Index Cond") && l.contains("started_at_utc >="))
        }
    };
    assert!(
        ok,
        "{what}: {INDEX} is not used\nSQL: {}\nplan:\n{all}",
        stmt.text
    );
    assert!(
        !all.contains("SCAN t0") && !all.contains("Seq Scan"),
        "{what}: a full scan\nSQL: {}\nplan:\n{all}",
        stmt.text
    );
}

both_backends!(incremental_refresh_uses_the_start_index, |backend| {
    let Some(app) = TestApp::start(backend, demo_settings(), |db, model| {
        fill_set(db, model, TENANT, "Calls", ROWS);
        fill_set(db, model, OTHER_TENANT, "Calls", ROWS);
    }) else {
        return;
    };
    let model = &app.model;
    let mut conn = app.db.get().expect("conn");
    let tenant = scope(&mut conn, TENANT);
    match &mut conn {
        Conn::Sqlite(c) => {
            let c: &mut diesel::SqliteConnection = c;
            diesel::sql_query("ANALYZE").execute(c).expect("analyze");
        }
        Conn::Postgres(c) => {
            let c: &mut diesel::PgConnection = c;
            diesel::sql_query("ANALYZE calls")
                .execute(c)
                .expect("analyze");
            // With 2 x 4,000 rows analysed, PostgreSQL 15 picks the range index on
            // its own (checked without `SET enable_seqscan = off`, which is therefore
            // not set: a seq scan here would be a finding, not noise).
        }
    }
    let encoded_range = RANGE.replace(' ', "%20");
    let local_range = encoded_range
        .replace("startedAtUtc", "startedAt")
        .replace("T00:00:00Z", "T02:00:00%2B02:00");
    let cases = [
        // What incremental refresh sends: the filter alone (sorted by the key).
        ("filter", format!("$filter={encoded_range}")),
        (
            "filter + $orderby",
            format!("$filter={encoded_range}&$orderby=startedAtUtc"),
        ),
        (
            "filter + $orderby desc + $select",
            format!(
                "$filter={encoded_range}&$orderby=startedAtUtc%20desc&$select=id,startedAtUtc,durationInSeconds,customerId,isOutbound"
            ),
        ),
        // The extra TOP 1000 query per partition of Pro workspaces.
        (
            "filter + $top",
            format!("$top=1000&$filter={encoded_range}"),
        ),
        // The same range on the tenant-local column is bound to the UTC twin.
        ("local filter", format!("$filter={local_range}")),
    ];
    for (what, query) in &cases {
        let plan = plan(model, query);
        let stmt = store::compile(model, tenant.scope(), &plan, app.db.dialect())
            .expect("select")
            .page;
        let lines = explain(&mut conn, &stmt);
        eprintln!("{backend:?} {what}:\n  {}", lines.join("\n  "));
        assert_uses_index(backend, what, &stmt, &lines);
    }
    // A continuation page: the keyset condition is added to the same range.
    for (what, query, after) in [
        (
            "next page by key",
            format!("$filter={encoded_range}"),
            vec![store::Value::Text("calls-0500".into())],
        ),
        (
            "next page by start",
            format!("$filter={encoded_range}&$orderby=startedAtUtc"),
            vec![
                store::Value::Instant(parse_instant("2026-04-10T12:00:00Z").expect("instant")),
                store::Value::Text("calls-0500".into()),
            ],
        ),
    ] {
        let mut plan = plan(model, &query);
        plan.after = Some(after);
        let stmt = store::compile(model, tenant.scope(), &plan, app.db.dialect())
            .expect("select")
            .page;
        let lines = explain(&mut conn, &stmt);
        assert_uses_index(backend, what, &stmt, &lines);
    }
    // $count=true and /$count over the partition.
    let mut plan = plan(model, &format!("$filter={encoded_range}"));
    plan.count = true;
    let stmt = store::compile(model, tenant.scope(), &plan, app.db.dialect())
        .expect("count")
        .count
        .expect("a count statement");
    let lines = explain(&mut conn, &stmt);
    assert_uses_index(backend, "count", &stmt, &lines);
});
