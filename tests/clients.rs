//! What generic OData clients (generated typed clients, Python and JavaScript
//! libraries, GraphQL gateways) send and expect, over HTTP on both backends: the
//! count endpoint, CSDL JSON next to CSDL XML, capabilities, and errors from every
//! layer as OData error bodies.

mod common;

use common::*;

const POWER_QUERY_ACCEPT: &str = "application/json;odata.metadata=minimal;q=1.0,application/json;odata=minimalmetadata;q=0.9,application/atomsvc+xml;q=0.8,application/atom+xml;q=0.8,application/xml;q=0.7,text/plain;q=0.7";
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn app(backend: Backend) -> Option<TestApp> {
    TestApp::start(backend, demo_settings(), |db, model| {
        fill_set(db, model, TENANT, "Calls", 12);
    })
}

both_backends!(count_is_plain_text_whatever_the_accept, |backend| {
    let Some(app) = app(backend) else { return };
    for accept in [
        "application/json",
        "application/json;odata.metadata=minimal",
        "application/xml",
        POWER_QUERY_ACCEPT,
        BROWSER_ACCEPT,
        "*/*",
        "text/plain",
    ] {
        let resp = app.get_with("/odata/Calls/$count", &[("Accept", accept)]);
        assert_eq!(resp.status, 200, "{accept}: {}", resp.text());
        assert!(
            resp.header("Content-Type")
                .unwrap_or("")
                .starts_with("text/plain"),
            "{accept}"
        );
        assert_eq!(resp.header_count("OData-Version"), 1);
        assert_eq!(resp.text(), "12", "{accept}");
    }
    // With a filter too, as `count()` on a filtered query sends it.
    let resp = app.get_with(
        "/odata/Calls/$count?$filter=holdCount%20ge%200",
        &[("Accept", "application/json")],
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
});

both_backends!(
    metadata_as_csdl_json_when_asked_and_xml_otherwise,
    |backend| {
        let Some(app) = app(backend) else { return };
        // JSON when the client asks for JSON only.
        for (path, accept) in [
            ("/odata/$metadata?$format=json", None),
            (
                "/odata/$metadata?$format=application/json",
                Some("application/xml"),
            ),
            ("/odata/$metadata", Some("application/json")),
        ] {
            let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
            let resp = app.get_with(path, &headers);
            assert_eq!(resp.status, 200, "{path}: {}", resp.text());
            assert!(
                resp.header("Content-Type")
                    .unwrap_or("")
                    .starts_with("application/json"),
                "{path} {accept:?}"
            );
            assert_eq!(resp.header_count("OData-Version"), 1);
            let doc = resp.json();
            assert_eq!(doc["$Version"], "4.0");
            assert_eq!(doc["$EntityContainer"], "ccfeed.Feed");
            assert_eq!(doc["ccfeed"]["Feed"]["Calls"]["$Type"], "ccfeed.Call");
        }
        // XML for Power Query, browsers, `*/*`, XML and no Accept at all.
        for accept in [
            Some(POWER_QUERY_ACCEPT),
            Some("application/json;odata.metadata=minimal;q=1.0,application/xml;q=0.7"),
            Some(BROWSER_ACCEPT),
            Some("*/*"),
            Some("application/xml"),
            None,
        ] {
            let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
            let resp = app.get_with("/odata/$metadata", &headers);
            assert_eq!(resp.status, 200, "{accept:?}");
            assert!(
                resp.header("Content-Type")
                    .unwrap_or("")
                    .starts_with("application/xml"),
                "{accept:?}"
            );
            let text = resp.text();
            assert!(text.contains("<EntitySet Name=\"Calls\""));
            assert!(text.contains("Capabilities.FilterFunctions"));
        }
        app.get_with("/odata/$metadata", &[("Accept", "text/html")])
            .odata_error(406);
        app.get("/odata/$metadata?$format=atom").odata_error(406);
    }
);

// Every function and operator the capabilities list works in a `$filter`.
both_backends!(advertised_filter_functions_work, |backend| {
    let Some(app) = app(backend) else { return };
    let sample = |f: &str| -> &'static str {
        match f {
            "eq" => "holdCount eq 1",
            "ne" => "holdCount ne 1",
            "gt" => "holdCount gt 1",
            "ge" => "holdCount ge 1",
            "lt" => "holdCount lt 1",
            "le" => "holdCount le 1",
            "and" => "holdCount gt 1 and holdCount lt 5",
            "or" => "holdCount gt 1 or holdCount lt 5",
            "not" => "not (holdCount gt 1)",
            "in" => "holdCount in (1,2)",
            "add" => "holdCount add 1 gt 2",
            "sub" => "holdCount sub 1 gt 2",
            "mul" => "holdCount mul 2 gt 2",
            "div" => "holdCount div 2 gt 2",
            "mod" => "holdCount mod 2 eq 0",
            "any" => "QueueSegments/any(s:s/id ne 'x')",
            "all" => "QueueSegments/all(s:s/id ne 'x')",
            "contains" => "contains(id,'1')",
            "startswith" => "startswith(id,'c')",
            "endswith" => "endswith(id,'1')",
            "length" => "length(id) gt 2",
            "indexof" => "indexof(id,'c') eq 0",
            "substring" => "substring(id,1) ne 'x'",
            "tolower" => "tolower(id) ne 'x'",
            "toupper" => "toupper(id) ne 'x'",
            "trim" => "trim(id) ne 'x'",
            "concat" => "concat(id,'x') ne 'x'",
            "year" => "year(startedAtUtc) gt 2000",
            "month" => "month(startedAtUtc) ge 1",
            "day" => "day(startedAtUtc) ge 1",
            "hour" => "hour(startedAtUtc) ge 0",
            "minute" => "minute(startedAtUtc) ge 0",
            "second" => "second(startedAtUtc) ge 0",
            "fractionalseconds" => "fractionalseconds(startedAtUtc) ge 0",
            "date" => "date(startedAtUtc) ge 2000-01-01",
            "time" => "time(startedAtUtc) ge 00:00:00",
            "totaloffsetminutes" => "totaloffsetminutes(startedAt) ge -1000",
            "now" => "startedAtUtc lt now()",
            "mindatetime" => "startedAtUtc gt mindatetime()",
            "maxdatetime" => "startedAtUtc lt maxdatetime()",
            "round" => "round(holdCount) ge 0",
            "floor" => "floor(holdCount) ge 0",
            "ceiling" => "ceiling(holdCount) ge 0",
            other => panic!("no sample for {other}: add one"),
        }
    };
    for f in ccfeed::edm::capabilities::FILTER_FUNCTIONS {
        let filter = sample(f).replace(' ', "%20");
        let set = if filter.contains("QueueSegments/") {
            "Conversations"
        } else {
            "Calls"
        };
        let resp = app.get(&format!("/odata/{set}?$top=1&$filter={filter}"));
        assert_eq!(resp.status, 200, "{f}: {}", resp.text());
    }
});
