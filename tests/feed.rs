//! Black-box tests of the feed over HTTP, each run on SQLite and on PostgreSQL.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::Value;

const POWER_QUERY_ACCEPT: &str = "application/json;odata.metadata=minimal;q=1.0,application/json;odata=minimalmetadata;q=0.9,application/atomsvc+xml;q=0.8,application/atom+xml;q=0.8,application/xml;q=0.7,text/plain;q=0.7";
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const CALLS: usize = 53;

/// Calls for two tenants with overlapping keys (t2 has more), Queues for t1, and an
/// empty Chats set.
fn fixture(db: &ccfeed::store::Db, model: &ccfeed::edm::Model) {
    fill_set(db, model, TENANT, "Calls", CALLS);
    fill_set(db, model, OTHER_TENANT, "Calls", 80);
    fill_set(db, model, TENANT, "Queues", 6);
}

fn app(backend: Backend) -> Option<TestApp> {
    TestApp::start(backend, demo_settings(), fixture)
}

/// Follows nextLinks from `first`; returns every row and the number of pages.
fn pull_all(app: &TestApp, first: &str, headers: &[(&str, &str)]) -> (Vec<Value>, usize) {
    let mut rows = Vec::new();
    let mut pages = 0;
    let mut resp = app.get_with(first, headers);
    loop {
        assert_eq!(resp.status, 200, "{}", resp.text());
        let page = resp.json();
        pages += 1;
        let value = page["value"].as_array().expect("value").clone();
        match page.get("@odata.nextLink").and_then(Value::as_str) {
            Some(link) => {
                assert!(
                    !value.is_empty(),
                    "a page with a nextLink must not be empty"
                );
                rows.extend(value);
                resp = app.get_absolute(link, headers);
            }
            None => {
                rows.extend(value);
                return (rows, pages);
            }
        }
        assert!(pages < 1000, "runaway paging");
    }
}

both_backends!(service_document, |backend| {
    let Some(app) = app(backend) else { return };
    for path in ["/odata", "/odata/"] {
        let resp = app.get_with(
            path,
            &[
                ("Accept", POWER_QUERY_ACCEPT),
                ("MaxDataServiceVersion", "3.0"),
                ("OData-MaxVersion", "4.0"),
            ],
        );
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header_count("OData-Version"), 1);
        assert_eq!(resp.header("OData-Version"), Some("4.0"));
        assert!(
            resp.header("Content-Type")
                .unwrap()
                .starts_with("application/json;odata.metadata=minimal")
        );
        let doc = resp.json();
        assert_eq!(doc["@odata.context"], app.url("/odata/$metadata"));
        let sets = doc["value"].as_array().unwrap();
        assert_eq!(sets.len(), app.model.entity_sets().len());
        assert_eq!(sets.len(), 28);
        assert!(
            sets.iter()
                .all(|s| s["kind"] == "EntitySet" && s["url"] == s["name"])
        );
        assert!(sets.iter().any(|s| s["name"] == "QueueSegments"));
    }
});

both_backends!(metadata_document, |backend| {
    let Some(app) = app(backend) else { return };
    // A browser navigating here gets the table index instead (tests/docs.rs); with
    // $format=xml it gets the document too.
    for (accept, query) in [
        (POWER_QUERY_ACCEPT, ""),
        (BROWSER_ACCEPT, "?$format=xml"),
        ("application/xml", ""),
        ("*/*", ""),
    ] {
        let resp = app.get_with(&format!("/odata/$metadata{query}"), &[("Accept", accept)]);
        assert_eq!(resp.status, 200, "{accept}");
        assert!(
            resp.header("Content-Type")
                .unwrap()
                .starts_with("application/xml")
        );
        assert_eq!(resp.header_count("OData-Version"), 1);
        assert!(resp.text().contains("<EntitySet Name=\"Calls\""));
    }
    app.get_with("/odata/$metadata", &[("Accept", "image/png")])
        .odata_error(406);
    app.get("/odata/$metadata?$format=atom").odata_error(406);
});

both_backends!(collection_minimal_json, |backend| {
    let Some(app) = app(backend) else { return };
    let resp = app.get_with("/odata/Calls?$top=10", &[("Accept", POWER_QUERY_ACCEPT)]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header_count("OData-Version"), 1);
    let page = resp.json();
    assert_eq!(page["@odata.context"], app.url("/odata/$metadata#Calls"));
    let rows = page["value"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    let calls = app.model.entity_set("Calls").unwrap();
    let first = rows[1].as_object().unwrap(); // row 1 has no nulls
    for p in &calls.properties {
        let v = first
            .get(&p.name)
            .unwrap_or_else(|| panic!("{} missing", p.name));
        match p.ty {
            ccfeed::edm::EdmType::DateTimeOffset => {
                let s = v.as_str().unwrap();
                assert!(
                    chrono::DateTime::parse_from_rfc3339(s).is_ok(),
                    "{}={s}",
                    p.name
                );
            }
            ccfeed::edm::EdmType::Boolean => assert!(v.is_boolean(), "{}", p.name),
            ccfeed::edm::EdmType::Int32 | ccfeed::edm::EdmType::Int64 => {
                assert!(v.is_i64(), "{}", p.name)
            }
            ccfeed::edm::EdmType::Double => assert!(v.is_number(), "{}", p.name),
            ccfeed::edm::EdmType::String => assert!(v.is_string(), "{}", p.name),
        }
    }
    assert_eq!(first["startedAtUtc"], "2026-03-28T22:37:00.001Z");
    // The local twin is the same instant in Budapest (summer time from 29 March 2026).
    assert_eq!(first["startedAt"], "2026-03-28T23:37:00.001+01:00");
    assert!(rows[0]["endedAtUtc"].is_null());
    // Default order is the key.
    let got = ids(&page);
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(got, sorted);
});

both_backends!(select_and_context, |backend| {
    let Some(app) = app(backend) else { return };
    let page = app
        .get("/odata/Calls?$select=startedAtUtc,id&$top=3")
        .json();
    assert_eq!(
        page["@odata.context"],
        app.url("/odata/$metadata#Calls(startedAtUtc,id)")
    );
    for row in page["value"].as_array().unwrap() {
        let keys: HashSet<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, HashSet::from(["startedAtUtc", "id"]));
    }
    let star = app.get("/odata/Calls?$select=*&$top=1").json();
    assert_eq!(star["@odata.context"], app.url("/odata/$metadata#Calls"));
    let error = app
        .get("/odata/Calls?$select=id,startedat")
        .odata_error(400);
    assert_eq!(error["target"], "$select");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("'startedat' is not a property of Calls")
    );
    assert!(error["message"].as_str().unwrap().contains("did you mean"));
});

both_backends!(orderby_several_keys, |backend| {
    let Some(app) = app(backend) else { return };
    let (rows, pages) = pull_all(
        &app,
        "/odata/Calls?$orderby=endedAtUtc%20desc,holdCount%20asc&$select=id,endedAtUtc,holdCount",
        &[("Prefer", "odata.maxpagesize=7")],
    );
    assert_eq!(rows.len(), CALLS);
    assert_eq!(pages, CALLS.div_ceil(7));
    // The same order computed here: endedAtUtc descending with nulls last, then
    // holdCount ascending, then the key.
    let mut expected = rows.clone();
    expected.sort_by(|a, b| {
        let ended = |r: &Value| r["endedAtUtc"].as_str().map(str::to_string);
        let by_end = match (ended(a), ended(b)) {
            (Some(x), Some(y)) => y.cmp(&x),
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, None) => std::cmp::Ordering::Equal,
        };
        by_end
            .then(a["holdCount"].as_i64().cmp(&b["holdCount"].as_i64()))
            .then(a["id"].as_str().cmp(&b["id"].as_str()))
    });
    assert_eq!(rows, expected);
    // Ascending puts nulls first.
    let asc = app
        .get("/odata/Calls?$orderby=endedAtUtc&$top=3&$select=id,endedAtUtc")
        .json();
    assert!(asc["value"][0]["endedAtUtc"].is_null());
    // Sorting by a local timestamp orders by its instant.
    let local = app
        .get("/odata/Calls?$orderby=startedAt%20desc&$top=2&$select=id")
        .json();
    assert_eq!(ids(&local), vec!["calls-0052", "calls-0051"]);
    app.get("/odata/Calls?$orderby=nope").odata_error(400);
    app.get("/odata/Calls?$orderby=id%20sideways")
        .odata_error(400);
});

both_backends!(full_pull_follows_next_links, |backend| {
    let Some(app) = app(backend) else { return };
    let count: usize = app.get("/odata/Calls/$count").text().parse().unwrap();
    assert_eq!(count, CALLS);
    for page_size in ["1", "7", "53", "1000"] {
        let prefer = format!("odata.maxpagesize={page_size}");
        let first = app.get_with("/odata/Calls", &[("Prefer", &prefer)]);
        assert_eq!(first.header("Preference-Applied"), Some(prefer.as_str()));
        let (rows, pages) = pull_all(&app, "/odata/Calls", &[("Prefer", &prefer)]);
        assert_eq!(rows.len(), count, "page size {page_size}");
        let unique: HashSet<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(unique.len(), count);
        // No empty trailing page, even when the count is a multiple of the page size.
        assert_eq!(pages, count.div_ceil(page_size.parse::<usize>().unwrap()));
    }
});

/// Calls whose start times repeat and do not follow the key order; every fourth
/// has no end time.
fn shuffled_times(db: &ccfeed::store::Db, model: &ccfeed::edm::Model) {
    use ccfeed::store;
    let at =
        |hours: usize| store::Value::Instant(base_time() + chrono::Duration::hours(hours as i64));
    write(db, model, TENANT, "Calls", 60, move |i, p| match p {
        "startedAtUtc" => Some(at((i * 7) % 5)),
        "endedAtUtc" if i % 4 == 0 => Some(store::Value::Null),
        "endedAtUtc" => Some(at(1 + (i * 3) % 4)),
        _ => None,
    });
}

both_backends!(range_filters_page_in_index_order, |backend| {
    let Some(app) = TestApp::start(backend, demo_settings(), shuffled_times) else {
        return;
    };
    let at = |hours: i64| {
        (base_time() + chrono::Duration::hours(hours))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let started: Vec<i64> = (0..60).map(|i| ((i * 7) % 5) as i64).collect();
    let ended: Vec<Option<i64>> = (0..60)
        .map(|i| (i % 4 != 0).then_some(1 + ((i * 3) % 4) as i64))
        .collect();
    let cases: Vec<(String, Vec<usize>, &str)> = vec![
        (
            format!("startedAtUtc ge {} and startedAtUtc lt {}", at(1), at(4)),
            (0..60).filter(|&i| (1..4).contains(&started[i])).collect(),
            "startedAtUtc",
        ),
        (
            format!("holdCount ge 0 and {} le startedAtUtc", at(2)),
            (0..60).filter(|&i| started[i] >= 2).collect(),
            "startedAtUtc",
        ),
        // A nullable column: the range leaves the nulls out.
        (
            format!("endedAtUtc gt {}", at(1)),
            (0..60)
                .filter(|&i| ended[i].is_some_and(|e| e > 1))
                .collect(),
            "endedAtUtc",
        ),
    ];
    for (filter, expected, column) in cases {
        let mut expected: Vec<String> = expected.iter().map(|i| format!("calls-{i:04}")).collect();
        expected.sort();
        for page_size in [1, 4, 7, 1000] {
            let prefer = format!("odata.maxpagesize={page_size}");
            let (rows, pages) = pull_all(
                &app,
                &format!(
                    "/odata/Calls?$filter={}&$select=id,{column}",
                    filter.replace(' ', "%20")
                ),
                &[("Prefer", &prefer)],
            );
            // Every row exactly once, in (time, id) order across pages.
            let mut got: Vec<String> = rows
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect();
            let keys: Vec<(String, String)> = rows
                .iter()
                .map(|r| {
                    (
                        r[column].as_str().unwrap().to_string(),
                        r["id"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            assert!(keys.windows(2).all(|w| w[0] < w[1]), "{filter}: {keys:?}");
            got.sort();
            assert_eq!(got, expected, "{filter}, page size {page_size}");
            assert_eq!(pages, expected.len().div_ceil(page_size).max(1));
        }
        // $top and $skip count in the same order, across pages.
        let (all, _) = pull_all(
            &app,
            &format!(
                "/odata/Calls?$filter={}&$select=id",
                filter.replace(' ', "%20")
            ),
            &[],
        );
        let (some, _) = pull_all(
            &app,
            &format!(
                "/odata/Calls?$filter={}&$select=id&$skip=3&$top=9",
                filter.replace(' ', "%20")
            ),
            &[("Prefer", "odata.maxpagesize=2")],
        );
        assert_eq!(some, all[3..12.min(all.len())], "{filter}");
    }
    // Without a filter, pages follow the first non-null indexed time column.
    for page_size in [1, 7, 1000] {
        let prefer = format!("odata.maxpagesize={page_size}");
        let (rows, _) = pull_all(
            &app,
            "/odata/Calls?$select=id,startedAtUtc",
            &[("Prefer", &prefer)],
        );
        let keys: Vec<(String, String)> = rows
            .iter()
            .map(|r| {
                (
                    r["startedAtUtc"].as_str().unwrap().to_string(),
                    r["id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(keys.len(), 60, "page size {page_size}");
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    }
});

both_backends!(top_and_skip_with_paging, |backend| {
    let Some(app) = app(backend) else { return };
    let all: Vec<String> = (0..CALLS).map(|i| format!("calls-{i:04}")).collect();
    let prefer = [("Prefer", "odata.maxpagesize=5")];
    // $top counts across pages.
    let (rows, pages) = pull_all(&app, "/odata/Calls?$top=17&$select=id", &prefer);
    assert_eq!(
        rows.iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        all[..17]
    );
    assert_eq!(pages, 4);
    // $skip is applied once; continuation pages carry on from the keyset position.
    let (rows, _) = pull_all(&app, "/odata/Calls?$skip=11&$select=id", &prefer);
    assert_eq!(
        rows.iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        all[11..]
    );
    let (rows, _) = pull_all(
        &app,
        "/odata/Calls?$skip=11&$top=9&$select=id&$count=true",
        &prefer,
    );
    assert_eq!(
        rows.iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        all[11..20]
    );
    // $top smaller than a page: no nextLink.
    let page = app.get_with("/odata/Calls?$top=3", &prefer).json();
    assert_eq!(ids(&page).len(), 3);
    assert!(page.get("@odata.nextLink").is_none());
    // $top=0 and $skip past the end: empty, no link.
    for q in ["$top=0", "$skip=1000"] {
        let page = app.get(&format!("/odata/Calls?{q}")).json();
        assert_eq!(page["value"], serde_json::json!([]));
        assert!(page.get("@odata.nextLink").is_none());
    }
});

both_backends!(count_options, |backend| {
    let Some(app) = app(backend) else { return };
    let page = app
        .get_with(
            "/odata/Calls?$count=true&$top=2",
            &[("Prefer", "odata.maxpagesize=1")],
        )
        .json();
    assert_eq!(page["@odata.count"], CALLS);
    let link = page["@odata.nextLink"].as_str().unwrap();
    assert!(
        link.contains("$count=true") && link.contains("$top=1"),
        "{link}"
    );
    let next = app.get_absolute(link, &[]).json();
    assert_eq!(next["@odata.count"], CALLS);
    let resp = app.get_with("/odata/Calls/$count", &[("Accept", POWER_QUERY_ACCEPT)]);
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("Content-Type")
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(resp.text(), CALLS.to_string());
    assert_eq!(app.get("/odata/Chats/$count").text(), "0");
    app.get("/odata/Calls/$count?$top=1").odata_error(400);
    app.get("/odata/Calls?$count=maybe").odata_error(400);
});

both_backends!(empty_set, |backend| {
    let Some(app) = app(backend) else { return };
    let page = app.get("/odata/Chats?$count=true").json();
    assert_eq!(page["value"], serde_json::json!([]));
    assert_eq!(page["@odata.count"], 0);
    assert!(page.get("@odata.nextLink").is_none());
});

both_backends!(single_entity, |backend| {
    let Some(app) = app(backend) else { return };
    let entity = app.get("/odata/Calls('calls-0003')").json();
    assert_eq!(
        entity["@odata.context"],
        app.url("/odata/$metadata#Calls/$entity")
    );
    assert_eq!(entity["id"], "calls-0003");
    let narrow = app
        .get("/odata/Calls(id='calls-0003')?$select=id,holdCount")
        .json();
    assert_eq!(
        narrow["@odata.context"],
        app.url("/odata/$metadata#Calls(id,holdCount)/$entity")
    );
    assert_eq!(narrow.as_object().unwrap().len(), 3);
    let error = app.get("/odata/Calls('calls-9999')").odata_error(404);
    assert!(error["message"].as_str().unwrap().contains("calls-9999"));
    // Another tenant's key is not visible.
    app.get("/odata/Calls('calls-0070')").odata_error(404);
    app.get("/odata/Calls('it''s')").odata_error(404);
    app.get("/odata/Calls(3)").odata_error(400);
});

both_backends!(tenant_scoping, |backend| {
    let Some(app) = app(backend) else { return };
    let (rows, _) = pull_all(
        &app,
        "/odata/Calls?$select=id",
        &[("Prefer", "odata.maxpagesize=10")],
    );
    assert_eq!(rows.len(), CALLS);
    assert!(
        rows.iter()
            .all(|r| r["id"].as_str().unwrap() < "calls-0053")
    );
    assert_eq!(app.get("/odata/Calls/$count").text(), CALLS.to_string());
    // A continuation token positioned after the last t1 row finds nothing more,
    // although the other tenant has rows after it.
    let page = app
        .get_with(
            "/odata/Calls?$select=id",
            &[("Prefer", "odata.maxpagesize=52")],
        )
        .json();
    let next = app
        .get_absolute(page["@odata.nextLink"].as_str().unwrap(), &[])
        .json();
    assert_eq!(ids(&next), vec!["calls-0052"]);
});

both_backends!(metadata_levels_and_format, |backend| {
    let Some(app) = app(backend) else { return };
    let full = app.get_with(
        "/odata/Calls?$top=1&$select=id,startedAtUtc",
        &[("Accept", "application/json;odata.metadata=full")],
    );
    assert!(
        full.header("Content-Type")
            .unwrap()
            .contains("odata.metadata=full")
    );
    let row = &full.json()["value"][0];
    assert_eq!(row["@odata.type"], "#ccfeed.Call");
    assert_eq!(row["@odata.id"], app.url("/odata/Calls('calls-0000')"));
    assert_eq!(row["startedAtUtc@odata.type"], "#DateTimeOffset");
    assert_eq!(row["id"], "calls-0000");
    let none = app
        .get("/odata/Calls?$top=1&$format=application/json;odata.metadata=none")
        .json();
    assert!(none.get("@odata.context").is_none());
    assert!(none["value"][0]["id"].is_string());
    let json = app.get("/odata/Calls?$top=1&$format=json");
    assert!(
        json.header("Content-Type")
            .unwrap()
            .starts_with("application/json;odata.metadata=minimal")
    );
    app.get("/odata/Calls?$format=atom").odata_error(406);
    app.get_with("/odata/Calls", &[("Accept", "application/atom+xml")])
        .odata_error(406);
    // A browser gets JSON for data.
    assert_eq!(
        app.get_with("/odata/Calls?$top=1", &[("Accept", BROWSER_ACCEPT)])
            .status,
        200
    );
});

both_backends!(errors_are_odata_bodies, |backend| {
    let Some(app) = app(backend) else { return };
    let e = app.get("/odata/Nope").odata_error(404);
    assert!(e["message"].as_str().unwrap().contains("Nope"));
    let e = app.get("/odata/calls").odata_error(404);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("did you mean Calls")
    );
    let e = app
        .get("/odata/Calls?$filter=holdCount%20eq%20'one'")
        .odata_error(400);
    assert_eq!(e["target"], "$filter");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("cannot compare Edm.Int32 with Edm.String"),
        "{e}"
    );
    app.get("/odata/Calls?$search=x").odata_error(501);
    app.get("/odata/Calls?$expand=Channel/$ref")
        .odata_error(501);
    app.get("/odata/Calls?$bogus=1").odata_error(400);
    app.get("/odata/Calls?$top=1&$top=2").odata_error(400);
    app.get("/odata/Calls?$top=-1").odata_error(400);
    app.get("/odata/Calls?$top=abc").odata_error(400);
    app.get("/odata/Calls?$skiptoken=garbage").odata_error(400);
    app.get("/odata/Calls?$top=%FF").odata_error(400);
    app.get("/elsewhere").odata_error(404);
    app.get_with("/odata/Calls", &[("OData-MaxVersion", "3.0")])
        .odata_error(400);
    // Custom options are ignored, and the `$` options are case-insensitive.
    let page = app.get("/odata/Calls?custom=1&other=x&$TOP=2").json();
    assert_eq!(ids(&page).len(), 2);
    // A token issued for one order is refused for another.
    let page = app
        .get_with(
            "/odata/Calls?$orderby=holdCount",
            &[("Prefer", "odata.maxpagesize=2")],
        )
        .json();
    let link = page["@odata.nextLink"]
        .as_str()
        .unwrap()
        .replace("$orderby=holdCount&", "");
    app.get_absolute(&link, &[]).odata_error(400);
});

both_backends!(gzip_when_allowed, |backend| {
    let Some(app) = app(backend) else { return };
    let resp = app.get_with("/odata/Calls", &[("Accept-Encoding", "gzip, deflate")]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("Content-Encoding"), Some("gzip"));
    assert_eq!(resp.header_count("OData-Version"), 1);
    assert_eq!(ids(&resp.json()).len(), CALLS);
    let plain = app.get("/odata/Calls");
    assert!(plain.header("Content-Encoding").is_none());
});

// A compressed page past 256 KiB of JSON is compressed on a thread of its own on
// PostgreSQL (inline on SQLite): it must come out as the same bytes as uncompressed.
both_backends!(a_large_gzip_page_is_the_identity_page, |backend| {
    let Some(app) = TestApp::start(backend, demo_settings(), |db, model| {
        fill_set_in_one_transaction(db, model, TENANT, "Calls", 800);
    }) else {
        return;
    };
    let path = "/odata/Calls?$orderby=id";
    let page = ("Prefer", "odata.maxpagesize=700");
    let plain = app.get_with(path, &[page]);
    let zipped = app.get_with(path, &[page, ("Accept-Encoding", "gzip")]);
    assert_eq!((plain.status, zipped.status), (200, 200));
    assert!(
        plain.body.len() > 300 * 1024,
        "the page must be large enough to be handed to a compressor thread: {} bytes",
        plain.body.len()
    );
    assert_eq!(zipped.header("Content-Encoding"), Some("gzip"));
    assert!(zipped.wire_bytes < plain.body.len() / 3);
    assert!(
        zipped.body == plain.body,
        "the gzip page decodes to other bytes"
    );
    assert_eq!(ids(&zipped.json()).len(), 700);
    assert!(zipped.json()["@odata.nextLink"].is_string());
});

fn inflate(body: &[u8]) -> Value {
    use std::io::Read;
    let mut text = Vec::new();
    flate2::read::ZlibDecoder::new(body)
        .read_to_end(&mut text)
        .expect("inflate");
    serde_json::from_slice(&text).expect("JSON")
}

both_backends!(encodings_are_negotiated_like_the_middleware, |backend| {
    let Some(app) = app(backend) else { return };
    // (Accept-Encoding, expected Content-Encoding) for a large (streamed, more than
    // one 64 KiB chunk) and a small (one sized body) page.
    let cases = [
        ("gzip, deflate", Some("gzip")),
        ("deflate", Some("deflate")),
        ("gzip;q=0.5, deflate;q=0.9", Some("deflate")),
        ("gzip;q=0, deflate", Some("deflate")),
        ("identity", None),
        ("br", None),
        ("*", None),
        ("gzip;q=0, deflate;q=0", None),
    ];
    for (accept, expected) in cases {
        for query in [
            "/odata/Calls",
            "/odata/Calls?$top=2",
            "/odata/Calls('calls-0003')",
        ] {
            let resp = app.get_with(query, &[("Accept-Encoding", accept)]);
            assert_eq!(resp.status, 200, "{accept} {query}");
            assert_eq!(
                resp.header("Content-Encoding"),
                expected,
                "{accept} {query}"
            );
            assert_eq!(
                resp.header_count("Content-Encoding"),
                usize::from(expected.is_some())
            );
            if expected.is_some() {
                assert!(
                    resp.header("Vary")
                        .is_some_and(|v| v.eq_ignore_ascii_case("accept-encoding")),
                    "{accept} {query}"
                );
            }
            let page = if expected == Some("deflate") {
                inflate(&resp.body)
            } else {
                resp.json()
            };
            let rows = match query {
                "/odata/Calls" => CALLS,
                "/odata/Calls?$top=2" => 2,
                _ => {
                    assert_eq!(page["id"], "calls-0003");
                    continue;
                }
            };
            assert_eq!(ids(&page).len(), rows, "{accept} {query}");
        }
    }
    // A page larger than one chunk streams; a small one is one sized body.
    let big = app.get("/odata/Calls");
    if big.body.len() > 64 * 1024 {
        assert_eq!(big.header("Transfer-Encoding"), Some("chunked"));
    } else {
        assert!(big.header("Content-Length").is_some());
    }
    let small = app.get_with("/odata/Calls?$top=2", &[("Accept-Encoding", "gzip")]);
    assert!(small.header("Content-Length").is_some());
    assert_eq!(small.header("Transfer-Encoding"), None);
    // Refusing every encoding, identity included, is answered by the middleware.
    assert_eq!(
        app.get_with("/odata/Calls", &[("Accept-Encoding", "identity;q=0, br")])
            .status,
        406
    );
});

both_backends!(every_entity_set_answers, |backend| {
    let Some(app) = TestApp::start(backend, demo_settings(), |db, model| {
        for set in model.entity_sets() {
            fill_set(db, model, TENANT, &set.name, 6);
        }
    }) else {
        return;
    };
    for set in app.model.entity_sets() {
        let (rows, _) = pull_all(
            &app,
            &format!("/odata/{}", set.name),
            &[("Prefer", "odata.maxpagesize=4")],
        );
        assert_eq!(rows.len(), 6, "{}", set.name);
        // Every property of the model comes back, with the value that was written.
        for (i, row) in rows.iter().enumerate() {
            for p in &set.properties {
                let got = &row[&p.name];
                if p.name == "tenantId" {
                    // Stored in the scoping column: always the writer's tenant.
                    assert_eq!(got, TENANT);
                    continue;
                }
                match fixture_value(&app.model, &set.name, &p.name, i) {
                    ccfeed::store::Value::Null => assert!(got.is_null(), "{}.{}", set.name, p.name),
                    ccfeed::store::Value::Text(s) => {
                        assert_eq!(got, &Value::String(s), "{}.{}", set.name, p.name)
                    }
                    ccfeed::store::Value::Int(n) => {
                        assert_eq!(got, &Value::from(n), "{}.{}", set.name, p.name)
                    }
                    ccfeed::store::Value::Bool(b) => {
                        assert_eq!(got, &Value::from(b), "{}.{}", set.name, p.name)
                    }
                    ccfeed::store::Value::Double(d) => {
                        assert_eq!(got.as_f64(), Some(d), "{}.{}", set.name, p.name)
                    }
                    ccfeed::store::Value::Instant(t) => {
                        assert_eq!(
                            got,
                            &Value::String(ccfeed::store::format_instant(&t)),
                            "{}.{}",
                            set.name,
                            p.name
                        )
                    }
                    other => panic!("fixtures hold no {other:?}"),
                }
            }
        }
        let single = app.get(&format!(
            "/odata/{}('{}')",
            set.name,
            rows[2]["id"].as_str().unwrap()
        ));
        assert_eq!(single.status, 200, "{}", set.name);
    }
});
