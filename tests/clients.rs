//! What generic OData clients (generated typed clients, Python and JavaScript
//! libraries, GraphQL gateways) send and expect, over HTTP on both backends: the
//! count endpoint, CSDL JSON next to CSDL XML, capabilities, and errors from every
//! layer as OData error bodies.

mod common;

use common::http_client::read_response;
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
        // XML for Power Query, `*/*`, XML and no Accept at all. (A browser navigating
        // to it gets the documentation page instead; see tests/docs.rs.)
        for accept in [
            Some(POWER_QUERY_ACCEPT),
            Some("application/json;odata.metadata=minimal;q=1.0,application/xml;q=0.7"),
            Some("application/xml;q=0.9,*/*;q=0.8"),
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
        app.get_with("/odata/$metadata", &[("Accept", "image/png")])
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
            "case" => "case(holdCount gt 1:'many',true:'few') eq 'few'",
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

/// A `$filter` as a list filter turns into: `id eq 'calls-0001' or id eq ...`.
fn or_chain(terms: usize) -> String {
    (0..terms)
        .map(|i| format!("id%20eq%20'calls-{i:04}'"))
        .collect::<Vec<_>>()
        .join("%20or%20")
}

fn assert_odata_error_bytes(raw: &Response, status: u16, code: &str) {
    let e = raw.odata_error(status);
    assert_eq!(e["code"], code, "{e}");
}

both_backends!(over_long_heads_get_odata_errors, |backend| {
    let Some(app) = app(backend) else { return };
    let get = |target: &str, headers: &str| {
        raw_exchange(
            app.addr,
            format!("GET {target} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n")
                .as_bytes(),
        )
    };
    // A 3,000-term `or` chain: a ~75 KB URL, past what the HTTP layer can parse.
    let long = format!("/odata/Calls?$filter={}", or_chain(3000));
    assert!(long.len() > 70_000, "{}", long.len());
    let resp = get(&long, "");
    assert_odata_error_bytes(&resp, 414, "UriTooLong");
    assert!(resp.text().contains("max_url_length"), "{}", resp.text());
    // A 20 KB URL reaches ccfeed's own check (max_url_length, 16 KiB by default).
    let medium = format!("/odata/Calls?$filter={}", or_chain(700));
    assert!((16_384..65_000).contains(&medium.len()));
    assert_odata_error_bytes(&get(&medium, ""), 414, "UriTooLong");
    // More headers than the HTTP layer takes, and one header too large for it.
    let many: String = (0..120).map(|i| format!("X-Header-{i}: {i}\r\n")).collect();
    assert_odata_error_bytes(
        &get("/odata/Calls", &many),
        431,
        "RequestHeaderFieldsTooLarge",
    );
    let large = format!("X-Large: {}\r\n", "a".repeat(140_000));
    assert_odata_error_bytes(
        &get("/odata/Calls", &large),
        431,
        "RequestHeaderFieldsTooLarge",
    );
    // Not HTTP.
    let resp = raw_exchange(
        app.addr,
        b"GET /odata/Calls HTTP/1.1\r\nno colon here\r\n\r\n",
    );
    assert_odata_error_bytes(&resp, 400, "BadRequest");
    // A request the HTTP layer refuses on its own (a method it rejects, an unrouted path).
    let resp = raw_exchange(
        app.addr,
        b"POST /odata/Calls HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_odata_error_bytes(&resp, 405, "MethodNotAllowed");
});

both_backends!(
    heads_are_checked_on_every_request_of_a_connection,
    |backend| {
        let Some(app) = app(backend) else { return };
        // A request with a body, then a normal one, then one too long, on one connection.
        let long = format!("/odata/Calls?$filter={}", or_chain(3000));
        let body = b"{\"x\": 1}";
        let pipelined = format!(
            "POST /ingest/Calls HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{}\
         GET /odata/Calls/$count HTTP/1.1\r\nHost: x\r\n\r\n\
         GET {long} HTTP/1.1\r\nHost: x\r\n\r\n",
            body.len(),
            String::from_utf8_lossy(body)
        );
        let mut stream = std::net::TcpStream::connect(app.addr).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .expect("timeout");
        std::io::Write::write_all(&mut stream, pipelined.as_bytes()).expect("write");
        let mut raw = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stream, &mut raw);
        let text = String::from_utf8_lossy(&raw);
        let statuses: Vec<&str> = text.split("HTTP/1.1 ").skip(1).map(|s| &s[..3]).collect();
        // The ingest is refused for want of a key, the count answers, the long one is 414.
        assert_eq!(statuses, ["401", "200", "414"], "{text}");
        assert!(text.contains("\"UriTooLong\""), "{text}");
    }
);

both_backends!(a_head_that_does_not_arrive_in_time_gets_408, |backend| {
    let Some(app) = app(backend) else { return };
    let mut stream = std::net::TcpStream::connect(app.addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("timeout");
    // Half a head, then nothing: the server gives up after its head time limit.
    std::io::Write::write_all(&mut stream, b"GET /odata/Calls HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    let resp = read_response(&mut stream);
    assert_odata_error_bytes(&resp, 408, "RequestTimeout");
});
