//! `$apply` over HTTP on both backends: aggregates with their types, groups by
//! properties, navigation paths and tenant-local days, null groups, the options that
//! act on the result, paging, and clear errors for what is not supported. Expected
//! values are computed here from the fixture, not read from the server.

mod common;

use ccfeed::edm::Model;
use ccfeed::store::{self, Db};
use common::*;
use serde_json::{Value, json};

const CALLS: usize = 12;

/// Call i: channel i mod 3, duration 10i+1 (null when i mod 4 = 0), hold count
/// i mod 3, business unit null for even i; started 37 minutes apart from
/// 2026-03-28T22:00Z, across the Budapest DST night (local midnight is 23:00Z).
fn duration(i: usize) -> Option<i64> {
    (!i.is_multiple_of(4)).then_some(10 * i as i64 + 1)
}

fn fixture(db: &Db, model: &Model) {
    write(db, model, TENANT, "Channels", 3, |i, p| {
        (p == "name").then(|| store::Value::Text(format!("channel {i}")))
    });
    write(db, model, TENANT, "Calls", CALLS, |i, p| match p {
        "channelId" => Some(store::Value::Text(format!("channels-{:04}", i % 3))),
        "durationInSeconds" => Some(duration(i).map_or(store::Value::Null, store::Value::Int)),
        "holdCount" => Some(store::Value::Int((i % 3) as i64)),
        "businessUnitId" => Some(if i % 2 == 0 {
            store::Value::Null
        } else {
            store::Value::Text("bu".into())
        }),
        _ => None,
    });
    // Another tenant's calls must not count.
    write(db, model, OTHER_TENANT, "Calls", 5, |_, _| None);
}

fn app(backend: Backend) -> Option<TestApp> {
    TestApp::start(backend, demo_settings(), fixture)
}

fn apply(app: &TestApp, query: &str) -> Value {
    let r = app.get(&format!(
        "/odata/Calls?$apply={}",
        query.replace(' ', "%20")
    ));
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    r.json()
}

both_backends!(aggregates_have_their_types, |backend| {
    let Some(app) = app(backend) else { return };
    let page = apply(
        &app,
        "aggregate($count as n,durationInSeconds with sum as total,durationInSeconds with average as mean,durationInSeconds with min as least,durationInSeconds with max as most,holdCount with countdistinct as holds,businessUnitId with countdistinct as units)",
    );
    let durations: Vec<i64> = (0..CALLS).filter_map(duration).collect();
    let total: i64 = durations.iter().sum();
    let mean = total as f64 / durations.len() as f64;
    assert_eq!(
        page["@odata.context"],
        app.url("/odata/$metadata#Calls(n,total,mean,least,most,holds,units)")
    );
    assert_eq!(
        page["value"],
        json!([{
            "n": CALLS,
            "total": total,
            "mean": mean,
            "least": durations.iter().min(),
            "most": durations.iter().max(),
            "holds": 3,
            "units": 1
        }])
    );
    // Sum of integers stays integral in JSON.
    assert!(page["value"][0]["total"].is_i64());
    // An empty input: $count 0, the others null.
    let page = apply(
        &app,
        "filter(holdCount gt 5)/aggregate($count as n,durationInSeconds with sum as total,durationInSeconds with average as mean)",
    );
    assert_eq!(
        page["value"],
        json!([{"n": 0, "total": null, "mean": null}])
    );
});

both_backends!(groups_by_properties_navigation_and_nulls, |backend| {
    let Some(app) = app(backend) else { return };
    let page = apply(
        &app,
        "groupby((Channel/name),aggregate($count as n,durationInSeconds with sum as total))",
    );
    assert_eq!(
        page["@odata.context"],
        app.url("/odata/$metadata#Calls(Channel(name),n,total)")
    );
    let expected: Vec<Value> = (0..3)
        .map(|c| {
            let calls: Vec<usize> = (0..CALLS).filter(|i| i % 3 == c).collect();
            let total: Option<i64> = calls
                .iter()
                .filter_map(|&i| duration(i))
                .reduce(|a, b| a + b);
            json!({"Channel": {"name": format!("channel {c}")}, "n": calls.len(), "total": total})
        })
        .collect();
    assert_eq!(page["value"], Value::Array(expected));
    // A nullable key: the null group comes first in ascending order.
    let page = apply(&app, "groupby((businessUnitId),aggregate($count as n))");
    assert_eq!(
        page["value"],
        json!([{"businessUnitId": null, "n": 6}, {"businessUnitId": "bu", "n": 6}])
    );
    // Grouping without aggregates lists the distinct values.
    let page = apply(&app, "groupby((holdCount))");
    assert_eq!(
        page["value"],
        json!([{"holdCount": 0}, {"holdCount": 1}, {"holdCount": 2}])
    );
});

both_backends!(local_and_utc_days, |backend| {
    let Some(app) = app(backend) else { return };
    // Local midnight in Budapest (UTC+1 on the 28th) is 23:00Z: calls 0 and 1 are on
    // the 28th locally, calls 0..3 in UTC.
    let local = apply(
        &app,
        "compute(date(startedAt) as day)/groupby((day),aggregate($count as n))",
    );
    assert_eq!(
        local["value"],
        json!([{"day": "2026-03-28", "n": 2}, {"day": "2026-03-29", "n": 10}])
    );
    let utc = apply(
        &app,
        "compute(date(startedAtUtc) as day)/groupby((day),aggregate($count as n))",
    );
    assert_eq!(
        utc["value"],
        json!([{"day": "2026-03-28", "n": 4}, {"day": "2026-03-29", "n": 8}])
    );
    // Hours, and arithmetic in compute.
    let page = apply(
        &app,
        "filter(durationInSeconds ne null)/compute(durationInSeconds div 60 as minutes)/groupby((minutes),aggregate($count as n))",
    );
    let mut expected: Vec<(i64, usize)> = Vec::new();
    for m in (0..CALLS).filter_map(duration).map(|d| d / 60) {
        match expected.iter_mut().find(|(k, _)| *k == m) {
            Some((_, n)) => *n += 1,
            None => expected.push((m, 1)),
        }
    }
    expected.sort();
    let expected: Vec<Value> = expected
        .into_iter()
        .map(|(m, n)| json!({"minutes": m, "n": n}))
        .collect();
    assert_eq!(page["value"], Value::Array(expected));
});

both_backends!(options_act_on_the_result, |backend| {
    let Some(app) = app(backend) else { return };
    let page = app
        .get(&"/odata/Calls?$apply=groupby((channelId),aggregate($count as n))&$filter=n ge 4&$orderby=channelId desc&$count=true&$top=2".replace(' ', "%20"))
        .json();
    assert_eq!(page["@odata.count"], 3);
    assert_eq!(
        page["value"],
        json!([{"channelId": "channels-0002", "n": 4}, {"channelId": "channels-0001", "n": 4}])
    );
    let page = apply(
        &app,
        "groupby((holdCount),aggregate(durationInSeconds with sum as total))/orderby(total desc)/top(1)",
    );
    let totals: Vec<i64> = (0..3)
        .map(|h| (0..CALLS).filter(|i| i % 3 == h).filter_map(duration).sum())
        .collect();
    let rows = page["value"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["total"], json!(totals.iter().max()));
    let page = apply(
        &app,
        "groupby((holdCount),aggregate($count as n))/topcount(2,holdCount)",
    );
    assert_eq!(
        page["value"],
        json!([{"holdCount": 2, "n": 4}, {"holdCount": 1, "n": 4}])
    );
    let page = app
        .get(
            &"/odata/Calls?$apply=groupby((holdCount,channelId),aggregate($count as n))&$select=n"
                .replace(' ', "%20"),
        )
        .json();
    assert_eq!(page["value"].as_array().unwrap().len(), 3);
    assert_eq!(page["value"][0], json!({"n": 4}));
});

both_backends!(grouped_results_page_with_the_apply_kept, |backend| {
    let Some(app) = app(backend) else { return };
    let mut url = app.url("/odata/Calls?$apply=groupby((id),aggregate($count%20as%20n))");
    let mut ids: Vec<String> = Vec::new();
    for _ in 0..10 {
        let page = app
            .get_absolute(&url, &[("Prefer", "odata.maxpagesize=5")])
            .json();
        for row in page["value"].as_array().unwrap() {
            ids.push(row["id"].as_str().unwrap().to_string());
        }
        match page["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.contains("apply=groupby"), "{next}");
                url = next.to_string();
            }
            None => break,
        }
    }
    let expected: Vec<String> = (0..CALLS).map(|i| format!("calls-{i:04}")).collect();
    assert_eq!(ids, expected);
    // Groups on a tenant-local timestamp page by its stored text.
    let mut url = app.url("/odata/Calls?$apply=groupby((startedAt),aggregate($count%20as%20n))");
    let mut starts: Vec<String> = Vec::new();
    for _ in 0..10 {
        let page = app
            .get_absolute(&url, &[("Prefer", "odata.maxpagesize=5")])
            .json();
        for row in page["value"].as_array().unwrap() {
            assert_eq!(row["n"], 1);
            starts.push(row["startedAt"].as_str().unwrap().to_string());
        }
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    let model = Model::load().expect("model");
    let mut expected: Vec<String> = (0..CALLS)
        .map(|i| match fixture_value(&model, "Calls", "startedAt", i) {
            store::Value::Text(t) => t,
            other => panic!("{other:?}"),
        })
        .collect();
    expected.sort();
    assert_eq!(starts, expected);
});

both_backends!(hostile_and_unsupported_input_gets_clear_errors, |backend| {
    let Some(app) = app(backend) else { return };
    let status = |q: &str| {
        let r = app.get(&format!("/odata/Calls?$apply={}", q.replace(' ', "%20")));
        assert!(r.text().starts_with('{'), "{q}: {} {}", r.status, r.text());
        let body = r.json();
        assert!(body["error"]["message"].is_string(), "{q}: {}", r.text());
        (
            r.status,
            body["error"]["message"].as_str().unwrap_or("").to_string(),
        )
    };
    let (s, m) = status("aggregate(channelId with sum as x)");
    assert_eq!(s, 400, "{m}");
    assert!(m.contains("sum cannot be applied to Edm.String"), "{m}");
    let (s, m) = status("aggregate(holdCount with median as x)");
    assert_eq!(s, 501, "{m}");
    assert!(m.contains("median"), "{m}");
    let (s, m) = status("search(x)/aggregate($count as n)");
    assert_eq!(s, 501);
    assert!(m.contains("search"), "{m}");
    let (s, m) = status("groupby((rollup($all,channelId)),aggregate($count as n))");
    assert_eq!(s, 501);
    assert!(m.contains("rollup"), "{m}");
    let (s, _) = status("aggregate(holdCount with sum)");
    assert_eq!(s, 400);
    let (s, _) = status("groupby((nope))");
    assert_eq!(s, 400);
    let many: Vec<String> = (0..300)
        .map(|i| format!("holdCount with sum as a{i}"))
        .collect();
    let (s, m) = status(&format!("aggregate({})", many.join(",")));
    assert_eq!(s, 400);
    assert!(m.contains("max_aggregates"), "{m}");
    let deep = format!("{}identity{}", "concat(".repeat(300), ")".repeat(300));
    let (s, _) = status(&deep);
    assert_eq!(s, 400);
    let (s, _) = status("filter(holdCount gt 1)");
    assert_eq!(s, 501);
    let r = app.get("/odata/Calls/$count?$apply=aggregate($count%20as%20n)");
    assert_eq!(r.status, 501);
    // Grouping needs one value per row: a collection-valued navigation has many.
    let r = app.get(
        "/odata/Conversations?$apply=groupby((QueueSegments/queueId),aggregate($count%20as%20n))",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("is a collection"), "{}", r.text());
});

both_backends!(
    an_aggregation_over_the_time_limit_is_an_odata_error,
    |backend| {
        let mut settings = demo_settings();
        settings.limits.statement_timeout_ms = 5;
        let Some(app) = TestApp::start(backend, settings, |db, model| {
            fill_set_in_one_transaction(db, model, TENANT, "Calls", 20_000);
        }) else {
            return;
        };
        // Every row computes a long chain of string functions: far more than 5 ms in all.
        let text = slow_text(6);
        let r = app.get(
        &format!("/odata/Calls?$apply=compute(length({text}) as k)/groupby((k),aggregate($count as n))")
            .replace(' ', "%20"),
    );
        assert_eq!(r.status, 503, "{}", r.text());
        let e = r.json();
        assert_eq!(e["error"]["code"], "QueryTimeout", "{e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("statement_timeout_ms"),
            "{e}"
        );
    }
);

/// The example URLs of the README's *Aggregation with `$apply`* section.
fn readme_examples() -> Vec<String> {
    let readme = include_str!("../README.md");
    let section = readme
        .split_once("### Examples")
        .and_then(|(_, rest)| rest.split_once("## Configuration"))
        .map(|(s, _)| s)
        .expect("the README has $apply examples");
    section
        .split('`')
        .filter(|s| s.starts_with("/odata/"))
        .map(str::to_string)
        .collect()
}

fn group_count<K: Ord + Clone>(keys: impl Iterator<Item = K>) -> Vec<(K, usize)> {
    let mut out: std::collections::BTreeMap<K, usize> = std::collections::BTreeMap::new();
    for k in keys {
        *out.entry(k).or_default() += 1;
    }
    out.into_iter().collect()
}

fn local_day(v: &store::Value) -> String {
    match v {
        store::Value::Text(t) => t[..10].to_string(),
        other => panic!("not local text: {other:?}"),
    }
}

fn text(v: store::Value) -> Value {
    match v {
        store::Value::Text(t) => Value::String(t),
        store::Value::Null => Value::Null,
        other => panic!("not text: {other:?}"),
    }
}

fn examples_fixture(db: &Db, model: &Model) {
    write(db, model, TENANT, "Channels", 3, |i, p| {
        (p == "name").then(|| store::Value::Text(format!("channel {i}")))
    });
    write(db, model, TENANT, "Calls", 60, |i, p| match p {
        "channelId" => Some(store::Value::Text(format!("channels-{:04}", i % 3))),
        "conversationEndedReason" => Some(store::Value::Text(
            if i % 4 == 1 { "Abandoned" } else { "Completed" }.into(),
        )),
        _ => None,
    });
    fill_set(db, model, TENANT, "Conversations", 60);
    fill_set(db, model, TENANT, "AgentStates", 60);
    write(db, model, TENANT, "AgentSegments", 60, |i, p| {
        (p == "startReason")
            .then(|| store::Value::Text(["newConversation", "transfer", "takeOver"][i % 3].into()))
    });
}

both_backends!(readme_examples_match_the_fixture, |backend| {
    let Some(app) = TestApp::start(backend, demo_settings(), examples_fixture) else {
        return;
    };
    let model = Model::load().expect("model");
    let v = |set: &str, name: &str, i: usize| fixture_value(&model, set, name, i);
    let examples = readme_examples();
    assert_eq!(examples.len(), 4, "{examples:?}");
    let get = |url: &str| -> Vec<Value> {
        let r = app.get(&format!("{url}&$count=true").replace(' ', "%20"));
        assert_eq!(r.status, 200, "{url}: {}", r.text());
        let page = r.json();
        assert!(page.get("@odata.nextLink").is_none());
        page["value"].as_array().expect("rows").clone()
    };
    let int = |set: &str, name: &str, i: usize| match v(set, name, i) {
        store::Value::Int(d) => Some(d),
        _ => None,
    };
    let average = |values: &[i64]| {
        (!values.is_empty()).then(|| values.iter().sum::<i64>() as f64 / values.len() as f64)
    };

    // Calls per channel and local day: counts, abandoned calls, abandon rate and
    // average handle time.
    let rows = get(&examples[0]);
    let mut expected = Vec::new();
    for ((name, day), n) in group_count((0..60).map(|i| {
        (
            format!("channel {}", i % 3),
            local_day(&v("Calls", "startedAt", i)),
        )
    })) {
        let members: Vec<usize> = (0..60)
            .filter(|&i| {
                format!("channel {}", i % 3) == name
                    && local_day(&v("Calls", "startedAt", i)) == day
            })
            .collect();
        let abandoned = members.iter().filter(|&&i| i % 4 == 1).count();
        let durations: Vec<i64> = members
            .iter()
            .filter_map(|&i| int("Calls", "durationInSeconds", i))
            .collect();
        expected.push(json!({
            "Channel": {"name": name},
            "day": day,
            "calls": n,
            "abandonedCalls": abandoned,
            "abandonRate": abandoned as f64 / n as f64,
            "avgHandleSeconds": average(&durations),
        }));
    }
    assert_eq!(Value::Array(rows), Value::Array(expected));

    // Conversations per channel type and local hour.
    let rows = get(&examples[1]);
    let expected: Vec<Value> = group_count((0..60).map(|i| {
        let hour: i64 = match v("Conversations", "startedAt", i) {
            store::Value::Text(t) => t[11..13].parse().expect("hour"),
            other => panic!("{other:?}"),
        };
        (
            text(v("Conversations", "channelType", i))
                .as_str()
                .unwrap_or("")
                .to_string(),
            hour,
        )
    }))
    .into_iter()
    .map(|((t, hour), n)| json!({"channelType": t, "hour": hour, "conversations": n}))
    .collect();
    assert_eq!(Value::Array(rows), Value::Array(expected));

    // Agent state seconds per agent, state and day: the totals add up.
    let rows = get(&examples[2]);
    let total: i64 = rows
        .iter()
        .map(|r| r["seconds"].as_i64().unwrap_or(0))
        .sum();
    let changes: u64 = rows
        .iter()
        .map(|r| r["changes"].as_u64().unwrap_or(0))
        .sum();
    let expected_total: i64 = (0..60)
        .filter_map(|i| match v("AgentStates", "durationInSeconds", i) {
            store::Value::Int(d) => Some(d),
            _ => None,
        })
        .sum();
    assert_eq!((total, changes), (expected_total, 60));
    let groups = group_count((0..60).map(|i| {
        (
            text(v("AgentStates", "agentId", i)).to_string(),
            text(v("AgentStates", "state", i)).to_string(),
            local_day(&v("AgentStates", "startTime", i)),
        )
    }));
    assert_eq!(rows.len(), groups.len());

    // Agent segments per agent, queue and day: segments add up, averages per group.
    let rows = get(&examples[3]);
    let segments: u64 = rows
        .iter()
        .map(|r| r["segments"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(segments, 60);
    for row in &rows {
        let members: Vec<usize> = (0..60)
            .filter(|&i| {
                text(v("AgentSegments", "agentId", i)) == row["agentId"]
                    && text(v("AgentSegments", "queueId", i)) == row["queueId"]
                    && json!(local_day(&v("AgentSegments", "assignedAt", i))) == row["day"]
            })
            .collect();
        assert_eq!(row["segments"], json!(members.len()));
        let counts: Vec<i64> = members
            .iter()
            .filter_map(|&i| match v("AgentSegments", "agentMessageCount", i) {
                store::Value::Int(d) => Some(d),
                _ => None,
            })
            .collect();
        assert_eq!(row["avgAgentMessages"], json!(average(&counts)), "{row}");
        let flagged = |name: &str| {
            members
                .iter()
                .filter(|&&i| v("AgentSegments", name, i) == store::Value::Bool(true))
                .count()
        };
        assert_eq!(
            row["interactiveSegments"],
            json!(flagged("isInteractive")),
            "{row}"
        );
        assert_eq!(
            row["abandonedSegments"],
            json!(flagged("isAbandonedByConsumer")),
            "{row}"
        );
        assert_eq!(
            row["nonResponsiveSegments"],
            json!(flagged("hasNonResponsiveConsumer")),
            "{row}"
        );
        // The fixture's start reasons cycle newConversation, transfer, takeOver.
        let first_response = |every_third: Option<usize>| -> Vec<i64> {
            members
                .iter()
                .filter(|&&i| every_third.is_none_or(|r| i % 3 == r))
                .filter_map(|&i| int("AgentSegments", "timeToFirstResponseInMilliseconds", i))
                .collect()
        };
        assert_eq!(
            row["avgFirstResponseMs"],
            json!(average(&first_response(None))),
            "{row}"
        );
        assert_eq!(
            row["avgFirstResponseNewConversationMs"],
            json!(average(&first_response(Some(0)))),
            "{row}"
        );
        assert_eq!(
            row["avgFirstResponseAfterTransferMs"],
            json!(average(&first_response(Some(1)))),
            "{row}"
        );
    }
});
