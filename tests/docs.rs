//! The people-facing pages over HTTP, on both backends: a browser gets HTML at the feed's
//! own addresses and under `/docs/`, every OData client gets exactly the feed's answers,
//! the pages authenticate like the feed and count only the caller's rows, the `.pbids`
//! file points at the feed, and the OpenAPI description passes a validator.

mod common;

use base64::Engine;
use ccfeed::config::Settings;
use ccfeed::store::tenants::{self, Role};
use common::*;

const BROWSER: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
const POWER_QUERY: &str = "application/json;odata.metadata=minimal;q=1.0,application/json;odata=minimalmetadata;q=0.9,application/atomsvc+xml;q=0.8,application/atom+xml;q=0.8,application/xml;q=0.7,text/plain;q=0.7";

/// `$metadata` as a server with the default settings serves it (the model file with
/// the capabilities placed in it).
fn served_metadata() -> String {
    ccfeed::edm::capabilities::Capabilities {
        max_expand_depth: ccfeed::plan::Limits::default().max_expand_depth,
    }
    .metadata_xml()
}

fn demo(backend: Backend) -> Option<TestApp> {
    TestApp::start(backend, demo_settings(), |db, model| {
        fill_set(db, model, TENANT, "Calls", 7);
        fill_set(db, model, TENANT, "Channels", 3);
        fill_set(db, model, OTHER_TENANT, "Calls", 11);
    })
}

fn is_html(resp: &Response) -> bool {
    resp.header("Content-Type")
        .is_some_and(|t| t.starts_with("text/html"))
}

/// The number shown in the index's Rows cell of `set`.
fn rows_on_index(page: &str, set: &str) -> String {
    let start = page
        .find(&format!("id=\"set-{set}\""))
        .unwrap_or_else(|| panic!("{set} is not on the index"));
    let cell = &page[start..];
    let value = &cell[cell.find("class=\"num\">").expect("rows cell") + 12..];
    value[..value.find('<').expect("cell end")].to_string()
}

both_backends!(
    browsers_get_pages_and_odata_clients_get_the_feed,
    |backend| {
        let Some(app) = demo(backend) else {
            return;
        };
        // The browser side: pages at the feed's own addresses.
        for (path, marker) in [
            ("/", "<h1>Contact center reporting feed</h1>"),
            ("/odata", "<h1>Contact center reporting feed</h1>"),
            ("/odata/", "<h1>Contact center reporting feed</h1>"),
            ("/odata/$metadata", "<h1>Tables</h1>"),
            ("/odata/Calls", "<h1>Calls</h1>"),
            ("/docs/", "<h1>Contact center reporting feed</h1>"),
            ("/docs/tables/", "<h1>Tables</h1>"),
            ("/docs/tables/QueueSegments", "<h1>QueueSegments</h1>"),
        ] {
            let resp = app.get_with(path, &[("Accept", BROWSER)]);
            assert_eq!(resp.status, 200, "{path}: {}", resp.text());
            assert!(is_html(&resp), "{path}");
            assert!(resp.text().contains(marker), "{path}");
            assert!(
                resp.header("Content-Security-Policy")
                    .is_some_and(|p| p.contains("script-src 'none'")),
                "{path}"
            );
            assert_eq!(resp.header_count("OData-Version"), 1, "{path}");
        }
        // The landing page gives the feed URL as the server computes it for nextLinks.
        let landing = app.get_with("/odata/", &[("Accept", BROWSER)]).text();
        let feed_url = format!("http://{}/odata/", app.addr);
        assert!(landing.contains(&format!(">{feed_url}</p>")), "{landing}");

        // A browser asking for data, an entity, a count or XML still gets the feed.
        for path in [
            "/odata/Calls?$top=2",
            "/odata/Calls('calls-0001')",
            "/odata/Calls/$count",
            "/odata/$metadata?$format=xml",
            "/odata/Nope",
            "/odata/calls",
        ] {
            let browser = app.get_with(path, &[("Accept", BROWSER)]);
            let plain = app.get_with(path, &[]);
            assert!(!is_html(&browser), "{path}");
            assert_eq!(browser.status, plain.status, "{path}");
            assert_eq!(browser.body, plain.body, "{path}");
        }

        // The client side: every OData client's answer is the feed's, byte for byte
        // the same whichever of these Accept headers it sends.
        let pq = app.get_with("/odata/$metadata", &[("Accept", POWER_QUERY)]);
        assert_eq!(pq.body, served_metadata().as_bytes());
        assert_eq!(
            pq.header("Content-Type"),
            Some("application/xml;charset=utf-8")
        );
        for path in ["/odata", "/odata/", "/odata/Calls", "/odata/$metadata", "/"] {
            let reference = app.get_with(path, &[("Accept", POWER_QUERY)]);
            // $metadata is XML only (application/json gets 406, as before).
            let typed = if path == "/odata/$metadata" {
                "application/xml"
            } else {
                "application/json"
            };
            for accept in ["*/*", typed, ""] {
                let headers: &[(&str, &str)] = if accept.is_empty() {
                    &[]
                } else {
                    &[("Accept", accept)]
                };
                let resp = app.get_with(path, headers);
                assert!(!is_html(&resp), "{path} {accept}");
                assert_eq!(resp.status, reference.status, "{path} {accept}");
                assert_eq!(
                    resp.header("Content-Type"),
                    reference.header("Content-Type"),
                    "{path} {accept}"
                );
                assert_eq!(resp.body, reference.body, "{path} {accept}");
            }
        }
        assert_eq!(app.get("/").status, 302);
        assert_eq!(app.get("/").header("Location"), Some("/odata/"));
        let calls = app
            .get_with("/odata/Calls", &[("Accept", POWER_QUERY)])
            .json();
        assert_eq!(calls["value"].as_array().map(Vec::len), Some(7));
        let service = app.get_with("/odata/", &[("Accept", POWER_QUERY)]).json();
        assert_eq!(
            service["value"].as_array().map(Vec::len),
            Some(app.model.entity_sets().len())
        );
        // application/xml: $metadata as XML; data is not available as XML (406), as before.
        let xml = app.get_with("/odata/$metadata", &[("Accept", "application/xml")]);
        assert_eq!(xml.body, served_metadata().as_bytes());
        let not_xml = app.get_with("/odata/Calls", &[("Accept", "application/xml")]);
        assert_eq!(not_xml.status, 406);
        not_xml.odata_error(406);
        // application/json: $metadata as CSDL JSON.
        let json = app.get_with("/odata/$metadata", &[("Accept", "application/json")]);
        assert_eq!(json.status, 200);
        assert_eq!(json.json()["$Version"], "4.0");

        // Row counts are the caller's tenant's (t1 has 7 calls, t2 has 11).
        let index = app.get_with("/docs/tables/", &[("Accept", BROWSER)]).text();
        assert_eq!(rows_on_index(&index, "Calls"), "7");
        assert_eq!(rows_on_index(&index, "Channels"), "3");
        assert_eq!(rows_on_index(&index, "Agents"), "0");
        let table = app.get("/docs/tables/Calls").text();
        assert!(table.contains("Rows for your tenant: <strong>7</strong>"));

        // Unknown tables are OData errors, not pages.
        app.get("/docs/tables/Nope").odata_error(404);
    }
);

both_backends!(search_links_and_downloads_work, |backend| {
    let Some(app) = demo(backend) else {
        return;
    };
    // A word of a column's description finds the column.
    let results = app.get("/docs/tables/?q=payroll").text();
    assert!(
        results.contains("/docs/tables/Agents#customId"),
        "{results}"
    );
    let none = app.get("/docs/tables/?q=zzzz-no-such-word").text();
    assert!(none.contains("0 matches"));

    // Every link on the pages leads somewhere that answers 200.
    let origin = format!("http://{}", app.addr);
    let mut checked = std::collections::BTreeSet::new();
    for page in ["/docs/", "/docs/tables/", "/docs/tables/Calls"] {
        let html = app.get_with(page, &[("Accept", BROWSER)]).text();
        for link in html.split("href=\"").skip(1) {
            let link = &link[..link.find('"').expect("quoted href")];
            let link = link.replace("&amp;", "&").replace("&#38;", "&");
            let link = link.split('#').next().unwrap_or_default().to_string();
            if link.is_empty() || !checked.insert(link.clone()) {
                continue;
            }
            let path = link
                .strip_prefix(&origin)
                .unwrap_or_else(|| panic!("{page} links outside the server: {link}"));
            let resp = app.get_with(path, &[("Accept", BROWSER)]);
            assert_eq!(resp.status, 200, "{page} -> {link}: {}", resp.text());
        }
    }
    // The table page's examples include a server-side aggregate, and it ran.
    assert!(
        checked.iter().any(|l| l.contains("$apply=groupby")),
        "{checked:?}"
    );
    for set in app.model.entity_sets() {
        assert!(
            checked.contains(&format!("{origin}/docs/tables/{}", set.name)),
            "{}",
            set.name
        );
    }

    // The Power BI data source file opens the feed.
    let pbids = app.get("/docs/ccfeed.pbids");
    assert_eq!(pbids.status, 200);
    assert!(
        pbids
            .header("Content-Disposition")
            .is_some_and(|d| d.contains("ccfeed.pbids"))
    );
    let file = pbids.json();
    assert_eq!(file["version"], "0.1");
    let connection = &file["connections"][0];
    assert_eq!(connection["details"]["protocol"], "odata");
    assert_eq!(
        connection["details"]["address"]["url"],
        format!("{origin}/odata/")
    );
    assert_eq!(connection["mode"], "Import");

    let svg = app.get("/docs/model.svg");
    assert_eq!(svg.header("Content-Type"), Some("image/svg+xml"));
    assert!(svg.text().starts_with("<svg"));
});

both_backends!(pages_authenticate_like_the_feed, |backend| {
    let Some(app) = TestApp::start(backend, Settings::default(), |db, model| {
        fill_set(db, model, TENANT, "Calls", 7);
        fill_set(db, model, OTHER_TENANT, "Calls", 11);
    }) else {
        return;
    };
    let (t1, t2) = {
        let mut conn = app.db.get().expect("conn");
        (
            tenants::create_key(&mut conn, TENANT, Role::Read, "test")
                .expect("key")
                .1,
            tenants::create_key(&mut conn, OTHER_TENANT, Role::Read, "test")
                .expect("key")
                .1,
        )
    };
    for path in [
        "/",
        "/odata/",
        "/odata/$metadata",
        "/odata/Calls",
        "/docs/",
        "/docs/tables/",
        "/docs/tables/Calls",
        "/docs/model.svg",
        "/docs/ccfeed.pbids",
    ] {
        let resp = app.get_with(path, &[("Accept", BROWSER)]);
        assert_eq!(resp.status, 401, "{path}");
        assert_eq!(
            resp.header("WWW-Authenticate"),
            Some("Basic realm=\"ccfeed\""),
            "{path}"
        );
        resp.odata_error(401);
    }
    // The same challenge the feed gives.
    let feed = app.get("/odata/");
    assert_eq!(feed.status, 401);
    assert_eq!(
        feed.header("WWW-Authenticate"),
        Some("Basic realm=\"ccfeed\"")
    );

    let basic = |key: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("someone:{key}"))
        )
    };
    for (key, calls) in [(&t1, "7"), (&t2, "11")] {
        let auth = basic(key);
        let index = app.get_with(
            "/odata/$metadata",
            &[("Accept", BROWSER), ("Authorization", &auth)],
        );
        assert_eq!(index.status, 200);
        assert_eq!(rows_on_index(&index.text(), "Calls"), calls);
        let table = app
            .get_with("/docs/tables/Calls", &[("Authorization", &auth)])
            .text();
        assert!(table.contains(&format!("Rows for your tenant: <strong>{calls}</strong>")));
    }
    // A read key in api_key works too, and a wrong key is refused.
    let with_query = app.get_with(
        &format!("/odata/Calls?api_key={t1}"),
        &[("Accept", BROWSER)],
    );
    assert_eq!(with_query.status, 200);
    assert!(is_html(&with_query));
    let wrong = app.get_with("/docs/tables/", &[("Authorization", &basic("not-a-key"))]);
    assert_eq!(wrong.status, 401);
    // The OpenAPI description, like $metadata, describes the model only.
    assert_eq!(app.get("/odata/openapi.json").status, 200);
});

/// Validates `/odata/openapi.json` with the `openapi-spec-validator` Python package
/// (`pip install openapi-spec-validator`); skips with a note where it is missing.
#[test]
fn the_openapi_description_is_valid() {
    let Some(app) = demo(Backend::Sqlite) else {
        return;
    };
    let resp = app.get("/odata/openapi.json");
    assert_eq!(resp.status, 200);
    let doc = resp.json();
    assert_eq!(
        doc["servers"][0]["url"],
        format!("http://{}/odata", app.addr)
    );
    let available = std::process::Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        eprintln!(
            "note: skipping the OpenAPI validation: python3 with openapi-spec-validator is not installed (pip install openapi-spec-validator)"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, &resp.body).expect("write");
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&path)
        .output()
        .expect("run the validator");
    assert!(
        out.status.success(),
        "openapi-spec-validator rejected the description:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
