//! `$batch` over HTTP on both backends: the OData 4.0 multipart format with request
//! bodies laid out as the specification's examples (Part 1, 11.7), the 4.01 JSON
//! format, every part answered in order with its own status, authentication of the
//! batch as a whole, and the limits.

mod common;

use common::*;
use serde_json::{Value, json};

fn app(backend: Backend) -> Option<TestApp> {
    TestApp::start(backend, demo_settings(), |db, model| {
        fill_set(db, model, TENANT, "Calls", 7);
        fill_set(db, model, TENANT, "Channels", 2);
    })
}

const BOUNDARY: &str = "batch_36522ad7-fc75-4b56-8c71-56071383e77b";

/// The answers of a multipart batch response: (status, headers and body) per part.
fn answers(resp: &Response) -> Vec<(u16, String)> {
    let content_type = resp
        .header("Content-Type")
        .expect("content type")
        .to_string();
    assert!(
        content_type.starts_with("multipart/mixed"),
        "{content_type}"
    );
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("boundary")
        .trim_matches('"')
        .to_string();
    let text = resp.text();
    assert!(
        text.trim_end().ends_with(&format!("--{boundary}--")),
        "{text}"
    );
    text.split(&format!("--{boundary}"))
        .skip(1)
        .filter(|p| !p.starts_with("--"))
        .map(|part| {
            let http = part.split_once("\r\n\r\n").expect("part head").1;
            let status: u16 = http
                .strip_prefix("HTTP/1.1 ")
                .expect("status line")
                .get(..3)
                .expect("code")
                .parse()
                .expect("number");
            (status, http.to_string())
        })
        .collect()
}

fn body_of(http: &str) -> &str {
    http.split_once("\r\n\r\n")
        .expect("inner body")
        .1
        .trim_end()
}

both_backends!(multipart_batch_answers_each_part_in_order, |backend| {
    let Some(app) = app(backend) else { return };
    // Laid out as the specification's example: a query, a change set, another query.
    let body = format!(
        "--{BOUNDARY}\r\n\
         Content-Type: application/http\r\n\
         Content-Transfer-Encoding: binary\r\n\
         Content-ID: 1\r\n\
         \r\n\
         GET /odata/Calls('calls-0001') HTTP/1.1\r\n\
         Host: example.org\r\n\
         \r\n\
         \r\n\
         --{BOUNDARY}\r\n\
         Content-Type: multipart/mixed; boundary=changeset_77162fcd-b8da-41ac-a9f8-9357efbbd\r\n\
         \r\n\
         --changeset_77162fcd-b8da-41ac-a9f8-9357efbbd\r\n\
         Content-Type: application/http\r\n\
         Content-Transfer-Encoding: binary\r\n\
         Content-ID: 2\r\n\
         \r\n\
         POST Calls HTTP/1.1\r\n\
         Content-Type: application/json\r\n\
         \r\n\
         {{\"id\":\"new\"}}\r\n\
         --changeset_77162fcd-b8da-41ac-a9f8-9357efbbd--\r\n\
         \r\n\
         --{BOUNDARY}\r\n\
         Content-Type: application/http\r\n\
         Content-Transfer-Encoding: binary\r\n\
         \r\n\
         GET Calls?$select=id&$orderby=id&$top=2 HTTP/1.1\r\n\
         Accept: application/json;odata.metadata=none\r\n\
         \r\n\
         \r\n\
         --{BOUNDARY}\r\n\
         Content-Type: application/http\r\n\
         Content-Transfer-Encoding: binary\r\n\
         \r\n\
         GET Calls/$count HTTP/1.1\r\n\
         \r\n\
         \r\n\
         --{BOUNDARY}\r\n\
         Content-Type: application/http\r\n\
         Content-Transfer-Encoding: binary\r\n\
         \r\n\
         GET Nope HTTP/1.1\r\n\
         \r\n\
         \r\n\
         --{BOUNDARY}\r\n\
         Content-Type: application/http\r\n\
         Content-Transfer-Encoding: binary\r\n\
         \r\n\
         DELETE Calls('calls-0001') HTTP/1.1\r\n\
         \r\n\
         \r\n\
         --{BOUNDARY}--\r\n"
    );
    let content_type = format!("multipart/mixed; boundary={BOUNDARY}");
    let resp = app.post(
        "/odata/$batch",
        &[
            ("Content-Type", content_type.as_str()),
            ("OData-Version", "4.0"),
        ],
        body.as_bytes(),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header_count("OData-Version"), 1);
    let parts = answers(&resp);
    let statuses: Vec<u16> = parts.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, vec![200, 405, 200, 200, 404, 405]);
    let entity: Value = serde_json::from_str(body_of(&parts[0].1)).expect("json");
    assert_eq!(entity["id"], "calls-0001");
    assert!(
        parts[0]
            .1
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{}",
        parts[0].1
    );
    let page: Value = serde_json::from_str(body_of(&parts[2].1)).expect("json");
    assert_eq!(
        page,
        json!({"value": [{"id": "calls-0000"}, {"id": "calls-0001"}]})
    );
    assert_eq!(body_of(&parts[3].1), "7");
    let error: Value = serde_json::from_str(body_of(&parts[4].1)).expect("json");
    assert!(error["error"]["message"].as_str().unwrap().contains("Nope"));
    // The Content-ID of a part is echoed on its answer.
    assert!(resp.text().contains("Content-ID: 1\r\n"));
});

both_backends!(json_batch_answers_each_request, |backend| {
    let Some(app) = app(backend) else { return };
    let body = json!({
        "requests": [
            {"id": "0", "method": "get", "url": "Channels?$select=id&$orderby=id"},
            {"id": "1", "method": "get", "url": "/odata/Calls('calls-0002')/id/$value",
             "headers": {"accept": "text/plain"}},
            {"id": "2", "method": "post", "url": "Calls", "body": {"id": "x"}},
            {"id": "3", "method": "get", "url": "Calls?$filter=bogus"}
        ]
    });
    let resp = app.post(
        "/odata/$batch",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let answer = resp.json();
    let responses = answer["responses"].as_array().unwrap();
    let summary: Vec<(String, u64)> = responses
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("0".into(), 200),
            ("1".into(), 200),
            ("2".into(), 405),
            ("3".into(), 400)
        ]
    );
    assert_eq!(
        responses[0]["body"]["value"],
        json!([{"id": "channels-0000"}, {"id": "channels-0001"}])
    );
    assert_eq!(responses[1]["body"], "calls-0002");
});

both_backends!(batch_limits_and_bad_bodies, |backend| {
    let mut settings = demo_settings();
    settings.limits.max_batch_parts = 2;
    settings.limits.max_batch_bytes = 2048;
    let Some(app) = TestApp::start(backend, settings, |db, model| {
        fill_set(db, model, TENANT, "Calls", 1);
    }) else {
        return;
    };
    let three = json!({"requests": [
        {"id": "a", "method": "get", "url": "Calls"},
        {"id": "b", "method": "get", "url": "Calls"},
        {"id": "c", "method": "get", "url": "Calls"}
    ]});
    let e = app
        .post(
            "/odata/$batch",
            &[("Content-Type", "application/json")],
            three.to_string().as_bytes(),
        )
        .odata_error(400);
    assert!(
        e["message"].as_str().unwrap().contains("max_batch_parts"),
        "{e}"
    );
    let big = format!("{{\"requests\":[],\"pad\":\"{}\"}}", "x".repeat(4096));
    let e = app
        .post(
            "/odata/$batch",
            &[("Content-Type", "application/json")],
            big.as_bytes(),
        )
        .odata_error(413);
    assert!(
        e["message"].as_str().unwrap().contains("max_batch_bytes"),
        "{e}"
    );
    app.post(
        "/odata/$batch",
        &[("Content-Type", "application/json")],
        b"{not json",
    )
    .odata_error(400);
    app.post(
        "/odata/$batch",
        &[("Content-Type", "text/plain")],
        b"GET Calls",
    )
    .odata_error(415);
    app.post(
        "/odata/$batch",
        &[("Content-Type", "multipart/mixed")],
        b"--x--",
    )
    .odata_error(400);
    // A batch inside a batch is refused as a part.
    let nested = json!({"requests": [{"id": "a", "method": "get", "url": "$batch"}]});
    let resp = app.post(
        "/odata/$batch",
        &[("Content-Type", "application/json")],
        nested.to_string().as_bytes(),
    );
    assert_eq!(resp.json()["responses"][0]["status"], 400);
});

both_backends!(batch_parts_run_as_the_batch_caller, |backend| {
    let Some(t) = TenantApp::start(backend) else {
        return;
    };
    let body = json!({"requests": [{"id": "a", "method": "get", "url": "Calls/$count"}]});
    // Without a key the whole batch is refused, as a plain request would be.
    t.app
        .post(
            "/odata/$batch",
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
        .odata_error(401);
    let auth = format!("Bearer {}", t.read_key);
    let resp = t.app.post(
        "/odata/$batch",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", auth.as_str()),
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["responses"][0]["status"], 200);
    assert_eq!(resp.json()["responses"][0]["body"], "0");
});
