//! The pipeline that the `query` fuzz target and `tests/fuzz_regressions.rs` both
//! run on one input: every parser (`uri::fuzz_entry`), then, when the input parses as
//! query options, as a bare `$filter` or as a bare `$apply`, binding against the
//! model for `Calls` and `Conversations` and compilation for both dialects. Parse and bind errors are
//! fine; a plan that binds but does not compile, a panic or a stack overflow is a
//! finding.

use ccfeed::edm::{Model, SetId};
use ccfeed::plan::{Limits, Planner};
use ccfeed::store::{self, Dialect, sql};
use ccfeed::uri::{self, QueryOptions};
use chrono::{DateTime, Utc};

/// Sets the input is bound against: `Calls` (local timestamps, single-valued
/// navigation) and `Conversations` (collection navigation for lambdas and `$count`).
pub const SETS: [&str; 2] = ["Calls", "Conversations"];

/// A fixed "now", so a run is reproducible.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_774_656_000, 0).unwrap_or(DateTime::UNIX_EPOCH)
}

/// Query options from the input read as a query string: percent-decoded when it is
/// valid, otherwise split raw (invalid UTF-8 replaced), as `fuzz_entry` does.
fn as_query_options(text: &str) -> Option<QueryOptions> {
    let pairs = match uri::decode_query_string(text) {
        Ok(pairs) => pairs,
        Err(_) => text
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => (p.to_string(), String::new()),
            })
            .collect(),
    };
    QueryOptions::parse(pairs).ok()
}

/// Binds `options` against `set` and compiles the page and count statements for
/// both dialects.
fn bind_and_compile(model: &Model, set: &str, options: &QueryOptions, limits: &Limits) {
    let Some(index) = model.set_id(set) else {
        return;
    };
    let planner = Planner {
        now: now(),
        ..Planner::new(model, limits)
    };
    if options.apply.is_some() {
        apply_and_compile(model, &planner, index, options, limits);
        return;
    }
    let Ok(mut plan) = planner.collection(index, "t1", options, limits.page_size) else {
        return;
    };
    plan.count = true;
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        // The binder refuses whatever cannot be compiled: a bound plan that fails
        // here is a bug.
        let scope = store::scoped::TenantScope::unverified("t1");
        let query = match store::compile(model, &scope, &plan, dialect) {
            Ok(query) => query,
            Err(e) => panic!("a bound plan does not compile: {e}"),
        };
        check_statement(&query.page, dialect);
        let layout = &query.layout;
        assert_eq!(layout.sort_positions.len(), plan.order.len());
        assert!(
            layout
                .sort_positions
                .iter()
                .all(|&p| p.index() < layout.kinds.len())
        );
        if let Some(count) = &query.count {
            check_statement(count, dialect);
        }
    }
}

/// Binds `$apply` (with the options after it) and compiles it for both dialects.
fn apply_and_compile(
    model: &Model,
    planner: &Planner<'_>,
    index: SetId,
    options: &QueryOptions,
    limits: &Limits,
) {
    let Ok(plan) = planner.apply(index, "t1", options, limits.page_size) else {
        return;
    };
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        let scope = store::scoped::TenantScope::unverified("t1");
        let query = match store::compile_apply(model, &scope, &plan, dialect) {
            Ok(query) => query,
            Err(e) => panic!("a bound $apply does not compile: {e}"),
        };
        check_statement(&query.page, dialect);
    }
}

/// Values travel only as binds: one placeholder per bind, in order.
fn check_statement(stmt: &sql::Statement, dialect: Dialect) {
    match dialect {
        Dialect::Sqlite => assert_eq!(
            stmt.text.matches('?').count(),
            stmt.binds.len(),
            "{}",
            stmt.text
        ),
        Dialect::Postgres => {
            for n in 1..=stmt.binds.len() {
                assert!(stmt.text.contains(&format!("${n}")), "{}", stmt.text);
            }
            let next = format!("${}", stmt.binds.len() + 1);
            assert!(!stmt.text.contains(&next), "{}", stmt.text);
        }
    }
}

/// Runs the whole pipeline on one input.
pub fn run(model: &Model, data: &[u8]) {
    uri::fuzz_entry(data);
    let text = String::from_utf8_lossy(data);
    let limits = Limits::default();
    if let Some(options) = as_query_options(&text) {
        for set in SETS {
            bind_and_compile(model, set, &options, &limits);
        }
    }
    // The whole input as the value of `$filter` and of `$apply` (what a hostile
    // client controls most).
    for option in ["$filter", "$apply"] {
        if let Ok(options) = QueryOptions::parse([(option, text.as_ref())]) {
            for set in SETS {
                bind_and_compile(model, set, &options, &limits);
            }
        }
    }
}
