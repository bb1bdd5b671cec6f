//! Parse and parse + bind of query options, the per-request work before any SQL
//! runs: (a) what Power BI sends for one incremental-refresh partition (a range on
//! `startedAtUtc`, an `eq` on a string, `$select` of 5 columns, `$orderby`), and
//! (b) a 999-node `$filter`, the `or` chain of 250 `eq` terms that Power Query folds
//! a list filter into. Input is the decoded (name, value) pairs the HTTP layer hands
//! to `QueryOptions::parse`.
//!
//! `cargo bench --bench parse_bind`

use std::hint::black_box;

use ccfeed::edm::Model;
use ccfeed::plan::{Limits, Planner};
use ccfeed::uri::QueryOptions;
use chrono::{DateTime, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

type Pairs = Vec<(String, String)>;

fn typical_power_bi() -> Pairs {
    vec![
        (
            "$filter".into(),
            "startedAtUtc ge 2026-03-28T00:00:00Z and startedAtUtc lt 2026-03-29T00:00:00Z \
             and conversationEndedReason eq 'Abandoned'"
                .into(),
        ),
        (
            "$select".into(),
            "id,startedAtUtc,durationInSeconds,customerId,conversationEndedReason".into(),
        ),
        ("$orderby".into(), "startedAtUtc".into()),
    ]
}

/// `id eq 'calls-0000' or id eq 'calls-0001' or ...`: 3 nodes per `eq`, 1 per `or`.
fn or_chain(terms: usize) -> Pairs {
    let chain = (0..terms)
        .map(|i| format!("id eq 'calls-{i:04}'"))
        .collect::<Vec<_>>()
        .join(" or ");
    vec![("$filter".into(), chain)]
}

fn parse(pairs: &Pairs) -> QueryOptions {
    QueryOptions::parse(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))).expect("parse")
}

fn benches(c: &mut Criterion) {
    let model = Model::load().expect("model");
    let calls = model.set_id("Calls").expect("Calls");
    let limits = Limits::default();
    let now: DateTime<Utc> = DateTime::from_timestamp(1_774_656_000, 0).expect("now");
    let chain = or_chain(250);
    let nodes = parse(&chain).filter.expect("filter").node_count();
    assert_eq!(nodes, 999);
    let inputs = [
        ("typical_power_bi", typical_power_bi()),
        ("or_chain_999_nodes", chain),
    ];

    let mut group = c.benchmark_group("parse");
    for (name, pairs) in &inputs {
        group.bench_with_input(BenchmarkId::from_parameter(name), pairs, |b, pairs| {
            b.iter(|| parse(black_box(pairs)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("parse_bind");
    for (name, pairs) in &inputs {
        group.bench_with_input(BenchmarkId::from_parameter(name), pairs, |b, pairs| {
            b.iter(|| {
                let options = parse(black_box(pairs));
                Planner {
                    now,
                    ..Planner::new(&model, &limits)
                }
                .collection(calls, "t1", &options, limits.page_size)
                .expect("bind")
            })
        });
    }
    group.finish();
}

criterion_group!(parse_bind, benches);
criterion_main!(parse_bind);
