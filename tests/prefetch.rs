//! Pipelined paging, on both backends: pages produced ahead are the pages a fresh
//! read gives (byte for byte, gzip or not, whole or in part when larger than the
//! budget), they are used, a write between two pages is seen, a page produced for one
//! key is never served to another, and a page produced in part for a client that does
//! not come back gives its connection back.
mod common;

use ccfeed::config::{PrefetchSettings, Settings};
use ccfeed::store;
use ccfeed::store::tenants::{Role, create_key};
use common::*;

const PAGE: &str = "odata.maxpagesize=4";
/// The `Server-Timing` entry a page produced ahead carries.
const PREFETCHED: &str = "prefetch";

fn calls(db: &store::Db, model: &ccfeed::edm::Model) {
    fill_set(db, model, TENANT, "Calls", 22);
}

/// The tests of this file run one at a time: a write anywhere in the process
/// discards every page produced ahead (one server has one database; these tests
/// run several), so a fixture written by one test would hide another's prefetches.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Prefetching on, with an idle time no loaded test machine reaches.
fn with_prefetch() -> Settings {
    Settings {
        prefetch: PrefetchSettings {
            idle: std::time::Duration::from_secs(120),
            ..PrefetchSettings::default()
        },
        ..demo_settings()
    }
}

fn without_prefetch() -> Settings {
    Settings {
        prefetch: PrefetchSettings {
            memory_bytes: 0,
            ..PrefetchSettings::default()
        },
        ..demo_settings()
    }
}

/// One page as served.
struct Page {
    body: Vec<u8>,
    /// Whether it was produced ahead (in whole or in part).
    ahead: bool,
    /// Whether it came without a Content-Length: a page produced in part streams its rest.
    streamed: bool,
}

/// Every page of `path`, following nextLinks.
fn pages(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Vec<Page> {
    let mut out = Vec::new();
    let mut response = app.get_with(path, headers);
    loop {
        assert_eq!(response.status, 200, "{}", response.text());
        let next = response.json()["@odata.nextLink"]
            .as_str()
            .map(str::to_string);
        out.push(Page {
            body: response.body.clone(),
            ahead: response
                .header("Server-Timing")
                .is_some_and(|v| v.starts_with(PREFETCHED)),
            streamed: response.header("Content-Length").is_none(),
        });
        match next {
            Some(link) => response = app.get_absolute(&link, headers),
            None => return out,
        }
    }
}

/// A body with the server's own address (in its links) replaced, so pages of two
/// servers compare.
fn normalize(body: &[u8], app: &TestApp) -> String {
    String::from_utf8(body.to_vec())
        .expect("utf-8")
        .replace(&app.addr.to_string(), "HOST")
}

both_backends!(
    pages_produced_ahead_are_the_pages_a_fresh_read_gives,
    |backend| {
        let _serial = one_at_a_time();
        let Some(on) = TestApp::start(backend, with_prefetch(), calls) else {
            return;
        };
        let Some(off) = TestApp::start(backend, without_prefetch(), calls) else {
            return;
        };
        for encoding in ["identity", "gzip"] {
            let headers = [("Prefer", PAGE), ("Accept-Encoding", encoding)];
            let path = "/odata/Calls?$orderby=id&$select=id,durationInSeconds,startedAt";
            let with = pages(&on, path, &headers);
            let fresh = pages(&off, path, &headers);
            assert_eq!(with.len(), 6, "22 rows in pages of 4");
            // The links hold the server's own address, which differs between the two.
            let normalized = |p: &[Page], app: &TestApp| {
                p.iter()
                    .map(|page| normalize(&page.body, app))
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                normalized(&with, &on),
                normalized(&fresh, &off),
                "{encoding}"
            );
            assert!(!with[0].ahead, "the first page is never produced ahead");
            assert!(fresh.iter().all(|page| !page.ahead), "prefetching is off");
            // Each later page is registered before its predecessor's response leaves
            // the handler (these pages are whole); a request waits for a page still
            // being produced.
            let ahead = with.iter().filter(|page| page.ahead).count();
            assert_eq!(
                ahead, 5,
                "{encoding}: only {ahead} of 5 later pages were produced ahead"
            );
        }
    }
);

both_backends!(a_write_between_two_pages_is_in_the_second, |backend| {
    let _serial = one_at_a_time();
    let Some(app) = TestApp::start(backend, with_prefetch(), calls) else {
        return;
    };
    let headers = [("Prefer", PAGE)];
    let first = app.get_with("/odata/Calls?$orderby=id&$select=id", &headers);
    assert_eq!(
        ids(&first.json()),
        ["calls-0000", "calls-0001", "calls-0002", "calls-0003"]
    );
    let next = first.json()["@odata.nextLink"]
        .as_str()
        .expect("next link")
        .to_string();
    // A row that sorts into the second page, written after the first page went out
    // (while the second was being produced ahead, or after).
    write(&app.db, &app.model, TENANT, "Calls", 1, |_, name| {
        (name == "id").then(|| store::Value::Text("calls-0004a".into()))
    });
    let second = app.get_absolute(&next, &headers);
    assert_eq!(
        ids(&second.json()),
        ["calls-0004", "calls-0004a", "calls-0005", "calls-0006"]
    );
    assert!(
        !second
            .header("Server-Timing")
            .is_some_and(|v| v.starts_with(PREFETCHED)),
        "a page produced before the write must not be served"
    );
});

both_backends!(
    a_page_produced_for_one_key_is_not_served_to_another,
    |backend| {
        let _serial = one_at_a_time();
        let Some(tenant_app) = TenantApp::start(backend) else {
            return;
        };
        let app = &tenant_app.app;
        fill_set(&app.db, &app.model, TenantApp::TENANT, "Calls", 22);
        let other_key = {
            let mut conn = app.db.get().expect("conn");
            create_key(&mut conn, TenantApp::TENANT, Role::Read, "second")
                .expect("key")
                .1
        };
        let auth = |key: &str| format!("Bearer {key}");
        let (mine, theirs) = (auth(&tenant_app.read_key), auth(&other_key));
        let first = app.get_with(
            "/odata/Calls?$orderby=id&$select=id",
            &[("Prefer", PAGE), ("Authorization", mine.as_str())],
        );
        assert_eq!(first.status, 200, "{}", first.text());
        let next = first.json()["@odata.nextLink"]
            .as_str()
            .expect("next link")
            .to_string();
        let produced_ahead = |r: &http_client::Response| {
            r.header("Server-Timing")
                .is_some_and(|v| v.starts_with(PREFETCHED))
        };
        let other = app.get_absolute(
            &next,
            &[("Prefer", PAGE), ("Authorization", theirs.as_str())],
        );
        assert_eq!(other.status, 200, "{}", other.text());
        assert!(
            !produced_ahead(&other),
            "another key got the page produced ahead"
        );
        assert_eq!(
            ids(&other.json()),
            ["calls-0004", "calls-0005", "calls-0006", "calls-0007"]
        );
        // A different Prefer is a different answer, too.
        let bigger = app.get_absolute(
            &next,
            &[
                ("Prefer", "odata.maxpagesize=5"),
                ("Authorization", mine.as_str()),
            ],
        );
        assert!(
            !produced_ahead(&bigger),
            "a page for another Prefer was served"
        );
    }
);

/// Prefetches started and kept by this process since `since` (see
/// `http::prefetch_counts`; earlier tests' servers may have left some unfinished).
fn started_and_kept(since: (u64, u64)) -> (u64, u64) {
    let (started, kept) = ccfeed::http::prefetch_counts();
    (started - since.0, kept - since.1)
}

/// Waits (a bounded while) until every prefetch started since `since` has been kept;
/// the counts.
fn settled(since: (u64, u64)) -> (u64, u64) {
    for _ in 0..200 {
        let (started, kept) = started_and_kept(since);
        if started == kept {
            return (started, kept);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    started_and_kept(since)
}

both_backends!(
    a_page_larger_than_the_budget_is_produced_ahead_in_part,
    |backend| {
        let _serial = one_at_a_time();
        let fixture = |db: &store::Db, model: &ccfeed::edm::Model| {
            fill_set(db, model, TENANT, "Calls", 1500);
        };
        let path = "/odata/Calls?$orderby=id";
        let page = ("Prefer", "odata.maxpagesize=500");
        let identity = [page, ("Accept-Encoding", "identity")];
        let Some(off) = TestApp::start(backend, without_prefetch(), fixture) else {
            return;
        };
        let fresh = pages(&off, path, &identity);
        assert_eq!(fresh.len(), 3, "1,500 rows in pages of 500");
        // Half a page: the rest of each later page is produced after its request.
        let page_bytes = fresh[0].body.len();
        assert!(
            page_bytes > 4 * 64 * 1024,
            "a page of several chunks: {page_bytes}"
        );
        let settings = Settings {
            prefetch: PrefetchSettings {
                memory_bytes: page_bytes / 2,
                ..with_prefetch().prefetch
            },
            ..demo_settings()
        };
        let Some(on) = TestApp::start(backend, settings, fixture) else {
            return;
        };
        let since = ccfeed::http::prefetch_counts();
        let served = pages(&on, path, &identity);
        assert_eq!(served.len(), 3);
        for (served, fresh) in served.iter().zip(&fresh) {
            assert_eq!(normalize(&served.body, &on), normalize(&fresh.body, &off));
        }
        assert!(
            served.iter().any(|page| page.ahead && page.streamed),
            "no later page was produced ahead in part and streamed"
        );
        let (started, kept) = settled(since);
        assert!(started >= 1, "{started}");
        assert_eq!(started, kept, "a page produced ahead was dropped");
    }
);

both_backends!(
    a_page_produced_in_part_for_a_client_that_does_not_come_back_frees_its_connection,
    |backend| {
        let _serial = one_at_a_time();
        let fixture = |db: &store::Db, model: &ccfeed::edm::Model| {
            fill_set(db, model, TENANT, "Calls", 5000);
        };
        // One database connection, which the second page's read holds while it waits
        // for its client, and a budget far smaller than that page (over 1 MB, more
        // than the chunks in flight between the read and the page can hold).
        let settings = Settings {
            pool_size: 1,
            prefetch: PrefetchSettings {
                memory_bytes: 64 * 1024,
                idle: std::time::Duration::from_millis(300),
            },
            ..demo_settings()
        };
        let Some(app) = TestApp::start(backend, settings, fixture) else {
            return;
        };
        let identity = [
            ("Prefer", "odata.maxpagesize=2500"),
            ("Accept-Encoding", "identity"),
        ];
        let since = ccfeed::http::prefetch_counts();
        let first = app.get_with("/odata/Calls?$orderby=id", &identity);
        assert_eq!(first.status, 200, "{}", first.text());
        assert!(first.body.len() > 1 << 20, "{}", first.body.len());
        assert!(first.json()["@odata.nextLink"].is_string());
        let (started, _) = settled(since);
        assert_eq!(started, 1, "the second page was produced ahead");
        // The client never asks for it: after the idle time the read ends and the
        // connection serves the next request (the pool would wait 15 s for it, then fail).
        let count = app.get("/odata/Calls/$count");
        assert_eq!(count.status, 200, "{}", count.text());
        assert_eq!(count.text(), "5000");
    }
);
