//! What one caller can do to the others, over HTTP on both backends: links that follow
//! the request's Host header, and (with small limits) the per-key share of the server.

mod common;

use ccfeed::config::Settings;
use common::*;

fn fixture(db: &ccfeed::store::Db, model: &ccfeed::edm::Model) {
    fill_set(db, model, TENANT, "Calls", 12);
}

/// A GET with a Host header of our choosing (the test client always sends the real one).
fn get_as_host(app: &TestApp, path: &str, host: &str, extra: &str) -> Response {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
    raw_exchange(app.addr, request.as_bytes())
}

both_backends!(public_url_decides_links_whatever_the_host_header, |backend| {
    let path = "/odata/Calls?$select=id";
    let paged = "Prefer: odata.maxpagesize=5\r\nX-Forwarded-Host: forwarded.example\r\n";
    // Without --public-url the request's headers pick the host of every link.
    let Some(app) = TestApp::start(backend, demo_settings(), fixture) else {
        return;
    };
    let page = get_as_host(&app, path, "evil.example", paged).json();
    let link = page["@odata.nextLink"].as_str().expect("next link");
    assert!(link.starts_with("http://forwarded.example/odata/"), "{link}");
    drop(app);
    // With it, every link starts with the public URL.
    let settings = Settings {
        public_url: Some("https://feed.example.com/odata/".into()),
        ..demo_settings()
    };
    let Some(app) = TestApp::start(backend, settings, fixture) else {
        return;
    };
    let page = get_as_host(&app, path, "evil.example", paged).json();
    assert_eq!(
        page["@odata.context"],
        "https://feed.example.com/odata/$metadata#Calls(id)"
    );
    let link = page["@odata.nextLink"].as_str().expect("next link");
    assert!(link.starts_with("https://feed.example.com/odata/Calls?"), "{link}");
    let root = get_as_host(&app, "/odata/", "evil.example", "").json();
    assert_eq!(
        root["@odata.context"],
        "https://feed.example.com/odata/$metadata"
    );
});
