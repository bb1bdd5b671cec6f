//! What one caller can do to the others, over HTTP on both backends: links that follow
//! the request's Host header, and (with small limits) the per-key share of the server.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine;
use ccfeed::config::{FairShare, Settings};
use ccfeed::store::tenants::{self, Role};
use common::http_client::read_response;
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

both_backends!(
    public_url_decides_links_whatever_the_host_header,
    |backend| {
        let path = "/odata/Calls?$select=id";
        let paged = "Prefer: odata.maxpagesize=5\r\nX-Forwarded-Host: forwarded.example\r\n";
        // Without --public-url the request's headers pick the host of every link.
        let Some(app) = TestApp::start(backend, demo_settings(), fixture) else {
            return;
        };
        let page = get_as_host(&app, path, "evil.example", paged).json();
        let link = page["@odata.nextLink"].as_str().expect("next link");
        assert!(
            link.starts_with("http://forwarded.example/odata/"),
            "{link}"
        );
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
        assert!(
            link.starts_with("https://feed.example.com/odata/Calls?"),
            "{link}"
        );
        let root = get_as_host(&app, "/odata/", "evil.example", "").json();
        assert_eq!(
            root["@odata.context"],
            "https://feed.example.com/odata/$metadata"
        );
    }
);

/// Two tenants' Calls, and an admin key of t1 (it may read and ingest) and a read
/// key of t2.
fn start_with_keys(backend: Backend, fair_share: FairShare) -> Option<(TestApp, String, String)> {
    let settings = Settings {
        fair_share,
        ..Settings::default()
    };
    let app = TestApp::start(backend, settings, |db, model| {
        fill_set(db, model, TENANT, "Calls", 12);
        fill_set(db, model, OTHER_TENANT, "Calls", 7);
    })?;
    let mut conn = app.db.get().expect("conn");
    let mut key = |tenant: &str, role| {
        tenants::create_key(&mut conn, tenant, role, "test")
            .expect("key")
            .1
    };
    let (busy, other) = (key(TENANT, Role::Admin), key(OTHER_TENANT, Role::Read));
    drop(conn);
    Some((app, busy, other))
}

fn get_with_key(app: &TestApp, path: &str, key: &str) -> Response {
    app.get_with(path, &[("Authorization", &format!("Bearer {key}"))])
}

fn assert_too_many(resp: &Response, max_seconds: u64) {
    let e = resp.odata_error(429);
    assert_eq!(e["code"], "TooManyRequests");
    let retry: u64 = resp
        .header("Retry-After")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in {:?}", resp.headers));
    assert!((1..=max_seconds).contains(&retry), "Retry-After {retry}");
}

both_backends!(a_key_over_its_rate_gets_429_and_others_do_not, |backend| {
    let limits = FairShare {
        max_concurrent: 0,
        requests_per_minute: 3,
    };
    let Some((app, busy, other)) = start_with_keys(backend, limits) else {
        return;
    };
    for _ in 0..3 {
        assert_eq!(
            get_with_key(&app, "/odata/Calls/$count", &busy).text(),
            "12"
        );
    }
    // The bucket of three is empty; one refills every 20 seconds.
    assert_too_many(&get_with_key(&app, "/odata/Calls/$count", &busy), 20);
    // The same key in the query string or as a Basic password is the same caller.
    assert_too_many(&app.get(&format!("/odata/Calls/$count?api_key={busy}")), 20);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("anyone:{busy}"));
    assert_too_many(
        &app.get_with(
            "/odata/Calls/$count",
            &[("Authorization", &format!("Basic {basic}"))],
        ),
        20,
    );
    // Another tenant's key is not affected.
    assert_eq!(
        get_with_key(&app, "/odata/Calls/$count", &other).text(),
        "7"
    );
});

both_backends!(
    a_key_over_its_concurrency_gets_429_and_others_do_not,
    |backend| {
        let limits = FairShare {
            max_concurrent: 1,
            requests_per_minute: 0,
        };
        let Some((app, busy, other)) = start_with_keys(backend, limits) else {
            return;
        };
        // An ingest whose body has not all arrived yet stays in progress.
        let start_slow = || {
            let mut slow = TcpStream::connect(app.addr).expect("connect");
            let head = format!(
                "POST /ingest/Calls HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {busy}\r\n\
             Content-Type: application/x-ndjson\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{{",
                app.addr
            );
            slow.write_all(head.as_bytes()).expect("write");
            slow
        };
        let answered = |stream: &TcpStream| {
            stream.set_nonblocking(true).expect("nonblocking");
            let answered = stream.peek(&mut [0u8; 1]).is_ok_and(|n| n > 0);
            stream.set_nonblocking(false).expect("blocking");
            answered
        };
        let mut slow = start_slow();
        // Wait until the server has counted it (it is on another worker thread): from then
        // on every further request of the key is refused. If a probe got in first and the
        // slow request was the one refused, it is sent again. No timing is asserted.
        let mut refused = None;
        for _ in 0..500 {
            let resp = get_with_key(&app, "/odata/Calls/$count", &busy);
            if resp.status == 429 && !answered(&slow) {
                refused = Some(resp);
                break;
            }
            if answered(&slow) {
                slow = start_slow();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_too_many(&refused.expect("the key was never refused"), 1);
        // Another tenant's key is not affected meanwhile.
        assert_eq!(
            get_with_key(&app, "/odata/Calls/$count", &other).text(),
            "7"
        );
        // Finishing the slow request gives the key its share back.
        slow.write_all(&[b' '; 999]).expect("write");
        let resp = read_response(&mut slow);
        assert_eq!(resp.status, 400, "{}", resp.text());
        let served = (0..500).any(|_| {
            if get_with_key(&app, "/odata/Calls/$count", &busy).status == 200 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
            false
        });
        assert!(served, "the key stayed refused after its request finished");
    }
);

both_backends!(the_demo_user_without_a_key_is_not_limited, |backend| {
    let settings = Settings {
        fair_share: FairShare {
            max_concurrent: 1,
            requests_per_minute: 1,
        },
        ..demo_settings()
    };
    let Some(app) = TestApp::start(backend, settings, |db, model| {
        fill_set(db, model, TENANT, "Calls", 2);
    }) else {
        return;
    };
    // One request a minute would refuse the second; the local demo user is exempt.
    for _ in 0..5 {
        assert_eq!(app.get("/odata/Calls/$count").status, 200);
    }
});

/// Backends of `database` running a statement (other than this one).
fn pg_active(admin_url: &str, database: &str) -> Vec<i32> {
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let mut conn = diesel::PgConnection::establish(admin_url).expect("admin connection");
    diesel::sql_query(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state = 'active' \
         AND pid <> pg_backend_pid()",
    )
    .bind::<diesel::sql_types::Text, _>(database)
    .load::<Pid>(&mut conn)
    .expect("pg_stat_activity")
    .into_iter()
    .map(|p| p.pid)
    .collect()
}

/// Polls `done` every 50 ms for at most `bound`; whether it came true.
fn eventually(bound: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < bound {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

both_backends!(
    a_statement_whose_client_goes_away_is_stopped_and_its_connection_reused,
    |backend| {
        const POOL: usize = 4; // TestApp's pool size
        let mut settings = demo_settings();
        // The statements below would run for minutes: their own time limit is an hour.
        settings.limits.statement_timeout_ms = 3_600_000;
        settings.limits.max_filter_nodes = 100_000;
        let Some(app) = TestApp::start(backend, settings, |db, model| {
            fill_set_in_one_transaction(db, model, TENANT, "Calls", 20_000);
        }) else {
            return;
        };
        // `@a14` is `id` doubled 14 times by nested concat (a 160 KiB text), built for
        // every row of 20,000: milliseconds a row, minutes a statement, no row matching.
        let mut query = String::from("@a1=concat(id,id)");
        for i in 2..=14 {
            query.push_str(&format!("&@a{i}=concat(@a{},@a{})", i - 1, i - 1));
        }
        query.push_str("&$filter=length(@a14)%20eq%200");
        let request = format!(
            "GET /odata/Calls?{query} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            app.addr
        );
        // One such request for every connection of the pool.
        let clients: Vec<TcpStream> = (0..POOL)
            .map(|_| {
                let mut s = TcpStream::connect(app.addr).expect("connect");
                s.write_all(request.as_bytes()).expect("write");
                s
            })
            .collect();
        let pg = app.postgres_database();
        let running = match pg {
            Some((admin, name)) => {
                let mut pids = Vec::new();
                let all_running = eventually(Duration::from_secs(60), || {
                    pids = pg_active(admin, name);
                    pids.len() == POOL
                });
                assert!(all_running, "running: {pids:?}");
                pids
            }
            None => {
                // SQLite shows no running statements; give them a moment to start
                // (they are stopped just the same if the client leaves before).
                std::thread::sleep(Duration::from_millis(500));
                Vec::new()
            }
        };
        // The clients go away.
        drop(clients);
        if let Some((admin, name)) = pg {
            let gone = eventually(Duration::from_secs(60), || {
                pg_active(admin, name).is_empty()
            });
            assert!(
                gone,
                "the statements still run a minute after their clients left"
            );
        }
        // Every connection of the pool serves the next requests: were one still
        // running its statement, a request would wait for it and fail when the pool's
        // 15 s wait ends.
        let clients: Vec<_> = (0..POOL * 2)
            .map(|_| {
                let addr = app.addr;
                std::thread::spawn(move || raw_get(addr, "/odata/Calls?$select=id&$top=3", &[]))
            })
            .collect();
        for c in clients {
            let page = c.join().expect("client").json();
            assert_eq!(page["value"].as_array().map(Vec::len), Some(3), "{page}");
        }
        // On PostgreSQL those were the same connections, not new ones.
        if let Some((admin, name)) = pg {
            use diesel::{Connection, RunQueryDsl};
            #[derive(diesel::QueryableByName)]
            struct N {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let mut conn = diesel::PgConnection::establish(admin).expect("admin connection");
            let alive = diesel::sql_query(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 \
                 AND pid = ANY($2)",
            )
            .bind::<diesel::sql_types::Text, _>(name)
            .bind::<diesel::sql_types::Array<diesel::sql_types::Integer>, _>(&running)
            .get_result::<N>(&mut conn)
            .expect("pg_stat_activity")
            .n;
            assert_eq!(alive, POOL as i64, "{running:?}");
        }
    }
);
