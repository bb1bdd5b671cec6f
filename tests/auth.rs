//! Tenant isolation and credentials, over HTTP on both backends: two tenants with
//! overlapping keys, every query path with every kind of credential returns only the
//! caller's rows; forged, wrong-role, revoked and cross-tenant credentials and
//! skiptokens are refused.

mod common;

use base64::Engine;
use ccfeed::config::Settings;
use ccfeed::edm::Model;
use ccfeed::store::tenants::{self, Role};
use ccfeed::store::{self, Db};
use common::*;
use serde_json::Value;

struct Keys {
    t1_read: String,
    t1_ingest: String,
    t1_admin: String,
    t2_read: String,
    t1_revoked: String,
}

/// Both tenants get Calls, Conversations, QueueSegments and Channels with the same
/// ids; a marker column says whose row it is. t2 has more rows than t1.
fn fixture(db: &Db, model: &Model) {
    for (tenant, calls) in [(TENANT, 7), (OTHER_TENANT, 11)] {
        let mark = move |p: &str| {
            (p == "customerFirstName" || p == "name")
                .then(|| store::Value::Text(tenant.to_uppercase()))
        };
        write(db, model, tenant, "Calls", calls, move |i, p| {
            mark(p).or_else(|| {
                (p == "channelId").then(|| store::Value::Text(format!("channels-{:04}", i % 2)))
            })
        });
        write(db, model, tenant, "Channels", 2, move |_, p| mark(p));
        write(db, model, tenant, "Conversations", calls, move |_, p| {
            mark(p)
        });
        write(
            db,
            model,
            tenant,
            "QueueSegments",
            calls,
            move |i, p| match p {
                "conversationId" => Some(store::Value::Text(format!("conversations-{:04}", i % 3))),
                "durationInSeconds" => Some(store::Value::Int(100)),
                _ => None,
            },
        );
    }
}

fn keys(db: &Db) -> Keys {
    let mut conn = db.get().expect("conn");
    let mut key = |tenant: &str, role| {
        tenants::create_key(&mut conn, tenant, role, "test")
            .expect("key")
            .1
    };
    let keys = Keys {
        t1_read: key(TENANT, Role::Read),
        t1_ingest: key(TENANT, Role::Ingest),
        t1_admin: key(TENANT, Role::Admin),
        t2_read: key(OTHER_TENANT, Role::Read),
        t1_revoked: key(TENANT, Role::Read),
    };
    assert!(tenants::revoke_key(&mut conn, &keys.t1_revoked).expect("revoke"));
    keys
}

fn start(backend: Backend) -> Option<(TestApp, Keys)> {
    // No anonymous tenant: this is a server outside demo mode.
    start_with(backend, Settings::default())
}

fn start_with(backend: Backend, settings: Settings) -> Option<(TestApp, Keys)> {
    let app = TestApp::start(backend, settings, fixture)?;
    let keys = keys(&app.db);
    Some((app, keys))
}

/// The three ways to present a key.
enum Credential<'a> {
    Basic(&'a str),
    Query(&'a str),
    Bearer(&'a str),
}

fn get(app: &TestApp, path: &str, credential: &Credential<'_>) -> Response {
    match credential {
        Credential::Basic(key) => {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("t1:{key}"));
            app.get_with(path, &[("Authorization", &format!("Basic {token}"))])
        }
        Credential::Bearer(key) => {
            app.get_with(path, &[("Authorization", &format!("Bearer {key}"))])
        }
        Credential::Query(key) => {
            let sep = if path.contains('?') { '&' } else { '?' };
            app.get(&format!("{path}{sep}api_key={key}"))
        }
    }
}

fn marks(v: &Value, field: &str) -> Vec<String> {
    v["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|r| r[field].as_str().unwrap_or("?").to_string())
        .collect()
}

both_backends!(every_path_and_credential_sees_only_its_tenant, |backend| {
    let Some((app, keys)) = start(backend) else {
        return;
    };
    for credential in [
        Credential::Basic(&keys.t1_read),
        Credential::Query(&keys.t1_read),
        Credential::Bearer(&keys.t1_read),
        Credential::Bearer(&keys.t1_admin),
    ] {
        // Service root answers the credential check.
        assert_eq!(get(&app, "/odata/", &credential).status, 200);
        // Collection, $count=true, /$count.
        let page = get(&app, "/odata/Calls?$count=true", &credential).json();
        assert_eq!(page["@odata.count"], 7);
        assert!(marks(&page, "customerFirstName").iter().all(|m| m == "T1"));
        assert_eq!(get(&app, "/odata/Calls/$count", &credential).text(), "7");
        // Key lookup: calls-0009 exists only for t2.
        assert_eq!(
            get(&app, "/odata/Calls('calls-0003')", &credential).json()["customerFirstName"],
            "T1"
        );
        assert_eq!(
            get(&app, "/odata/Calls('calls-0009')", &credential).status,
            404
        );
        // nextLink continuation (the link carries no key; the credential goes again).
        let first = get(
            &app,
            "/odata/Calls?$select=id,customerFirstName&$top=7&$orderby=id",
            &credential,
        );
        assert_eq!(first.status, 200);
        let resp = match &credential {
            Credential::Query(_) | Credential::Basic(_) | Credential::Bearer(_) => {
                let mut rows = Vec::new();
                let mut path = "/odata/Calls?$select=id,customerFirstName".to_string();
                loop {
                    let r = match &credential {
                        Credential::Basic(_) | Credential::Bearer(_) => {
                            let token = match &credential {
                                Credential::Basic(k) => format!(
                                    "Basic {}",
                                    base64::engine::general_purpose::STANDARD
                                        .encode(format!("x:{k}"))
                                ),
                                Credential::Bearer(k) => format!("Bearer {k}"),
                                Credential::Query(_) => unreachable!(),
                            };
                            app.get_with(
                                &path,
                                &[
                                    ("Authorization", token.as_str()),
                                    ("Prefer", "odata.maxpagesize=3"),
                                ],
                            )
                        }
                        Credential::Query(k) => {
                            let sep = if path.contains('?') { '&' } else { '?' };
                            app.get_with(
                                &format!("{path}{sep}api_key={k}"),
                                &[("Prefer", "odata.maxpagesize=3")],
                            )
                        }
                    };
                    let body = r.json();
                    rows.extend(marks(&body, "customerFirstName"));
                    match body["@odata.nextLink"].as_str() {
                        Some(link) => {
                            assert!(
                                !link.contains("api_key"),
                                "a key must not travel in a link: {link}"
                            );
                            path = link
                                .trim_start_matches(&format!("http://{}", app.addr))
                                .to_string();
                        }
                        None => break,
                    }
                }
                rows
            }
        };
        assert_eq!(resp.len(), 7);
        assert!(resp.iter().all(|m| m == "T1"));
        // Navigation in a filter, any(), and $expand see only the caller's rows.
        let page = get(
            &app,
            "/odata/Calls?$filter=Channel/name%20eq%20'T2'",
            &credential,
        )
        .json();
        assert_eq!(page["value"].as_array().unwrap().len(), 0);
        let page = get(
            &app,
            "/odata/Calls?$filter=Channel/name%20eq%20'T1'&$count=true",
            &credential,
        )
        .json();
        assert_eq!(page["@odata.count"], 7);
        let page = get(
            &app,
            "/odata/Conversations?$filter=QueueSegments/$count%20gt%200&$select=id",
            &credential,
        )
        .json();
        assert_eq!(page["value"].as_array().unwrap().len(), 3);
        let page = get(
            &app,
            "/odata/Conversations?$select=id&$expand=QueueSegments($select=id)&$orderby=id",
            &credential,
        )
        .json();
        let sizes: Vec<usize> = page["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["QueueSegments"].as_array().unwrap().len())
            .collect();
        assert_eq!(
            sizes,
            vec![3, 2, 2, 0, 0, 0, 0],
            "only t1's 7 segments over conversations 0..2"
        );
        let page = get(
            &app,
            "/odata/Calls?$select=id&$expand=Channel($select=name)&$top=1",
            &credential,
        )
        .json();
        assert_eq!(page["value"][0]["Channel"]["name"], "T1");
    }
    // The other tenant's key sees the other tenant.
    let page = get(
        &app,
        "/odata/Calls?$count=true",
        &Credential::Bearer(&keys.t2_read),
    )
    .json();
    assert_eq!(page["@odata.count"], 11);
    assert!(marks(&page, "customerFirstName").iter().all(|m| m == "T2"));
});

both_backends!(bad_credentials_are_refused, |backend| {
    // No key cache: a revocation must show on the very next request.
    let settings = Settings {
        key_cache_seconds: 0,
        ..Settings::default()
    };
    let Some((app, keys)) = start_with(backend, settings) else {
        return;
    };
    // No credentials: 401 with a Basic challenge, on the root too.
    for path in [
        "/odata/",
        "/odata/Calls",
        "/odata/Calls/$count",
        "/odata/Calls('calls-0001')",
    ] {
        let resp = app.get(path);
        resp.odata_error(401);
        assert_eq!(
            resp.header("WWW-Authenticate"),
            Some("Basic realm=\"ccfeed\"")
        );
    }
    // Forged: unknown id, right id with a wrong secret, garbage, another scheme.
    let (id, _) = keys
        .t1_read
        .trim_start_matches("ccf_")
        .split_once('_')
        .unwrap();
    for key in [
        "ccf_nope_secret".to_string(),
        format!("ccf_{id}_wrongsecret"),
        "garbage".to_string(),
    ] {
        get(&app, "/odata/Calls", &Credential::Bearer(&key)).odata_error(401);
        get(&app, "/odata/Calls", &Credential::Basic(&key)).odata_error(401);
        get(&app, "/odata/Calls", &Credential::Query(&key)).odata_error(401);
    }
    app.get_with("/odata/Calls", &[("Authorization", "Digest abc")])
        .odata_error(401);
    // A key sent without a scheme is not quoted back.
    let resp = app.get_with("/odata/Calls", &[("Authorization", keys.t1_read.as_str())]);
    resp.odata_error(401);
    assert!(!resp.text().contains(&keys.t1_read), "{}", resp.text());
    assert!(!resp.text().contains(id), "{}", resp.text());
    app.get_with("/odata/Calls", &[("Authorization", "Basic !!!")])
        .odata_error(401);
    // Revoked: refused without a restart; the caller learns nothing about the key
    // (not when it was revoked), the same answer as for a forged one.
    let e = get(&app, "/odata/Calls", &Credential::Bearer(&keys.t1_revoked)).odata_error(401);
    assert_eq!(e["message"], "invalid or revoked key", "{e}");
    let forged = get(&app, "/odata/Calls", &Credential::Bearer("ccf_nope_secret")).odata_error(401);
    assert_eq!(forged["message"], e["message"]);
    // Expired: refused, with the reason; a key expiring later still works.
    let mut conn = app.db.get().unwrap();
    let (expired_id, expired) = {
        let (info, key) = tenants::create_key(&mut conn, TENANT, Role::Read, "expired").unwrap();
        (info.id, key)
    };
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    assert!(tenants::set_key_expiry(&mut conn, &expired_id, past).unwrap());
    let e = get(&app, "/odata/Calls", &Credential::Bearer(&expired)).odata_error(401);
    assert_eq!(e["message"], "invalid or revoked key", "{e}");
    let (later_id, later) = {
        let (info, key) = tenants::create_key(&mut conn, TENANT, Role::Read, "later").unwrap();
        (info.id, key)
    };
    let future = chrono::Utc::now() + chrono::Duration::days(1);
    assert!(tenants::set_key_expiry(&mut conn, &later_id, future).unwrap());
    assert_eq!(
        get(&app, "/odata/Calls", &Credential::Bearer(&later)).status,
        200
    );
    drop(conn);
    // Wrong role.
    let e = get(&app, "/odata/Calls", &Credential::Bearer(&keys.t1_ingest)).odata_error(403);
    assert!(e["message"].as_str().unwrap().contains("ingest"), "{e}");
    // Revoking takes effect immediately for a key that worked a moment ago.
    assert_eq!(
        get(&app, "/odata/Calls", &Credential::Bearer(&keys.t2_read)).status,
        200
    );
    let mut conn = app.db.get().unwrap();
    tenants::revoke_key(&mut conn, &keys.t2_read).unwrap();
    get(&app, "/odata/Calls", &Credential::Bearer(&keys.t2_read)).odata_error(401);
});

both_backends!(revocation_shows_within_the_key_cache_ttl, |backend| {
    let settings = Settings {
        key_cache_seconds: 1,
        ..Settings::default()
    };
    let Some((app, keys)) = start_with(backend, settings) else {
        return;
    };
    let read = Credential::Bearer(&keys.t2_read);
    assert_eq!(get(&app, "/odata/Calls", &read).status, 200);
    // A remembered key still gets its role checked, and bad keys are never remembered.
    get(&app, "/odata/Calls", &Credential::Bearer(&keys.t1_ingest)).odata_error(403);
    get(&app, "/odata/Calls", &Credential::Bearer(&keys.t1_ingest)).odata_error(403);
    let forged = format!("{}x", keys.t1_read);
    get(&app, "/odata/Calls", &Credential::Bearer(&forged)).odata_error(401);
    let mut conn = app.db.get().unwrap();
    assert!(tenants::revoke_key(&mut conn, &keys.t2_read).unwrap());
    drop(conn);
    // Within the TTL the answer may come from memory; after it, the key is refused.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let e = get(&app, "/odata/Calls", &read).odata_error(401);
    assert_eq!(e["message"], "invalid or revoked key", "{e}");
    // Revoked keys stay refused however often they are presented.
    get(&app, "/odata/Calls", &read).odata_error(401);
});

both_backends!(skiptokens_do_not_cross_tenants, |backend| {
    let Some((app, keys)) = start(backend) else {
        return;
    };
    let mut conn = app.db.get().unwrap();
    let t2 = tenants::create_key(&mut conn, OTHER_TENANT, Role::Read, "second")
        .unwrap()
        .1;
    let page = app
        .get_with(
            "/odata/Calls?$select=id",
            &[
                ("Authorization", &format!("Bearer {t2}")),
                ("Prefer", "odata.maxpagesize=2"),
            ],
        )
        .json();
    let link = page["@odata.nextLink"].as_str().unwrap();
    // The same link with t1's key: refused, not answered with t1's rows.
    let e = app
        .get_absolute(
            link,
            &[("Authorization", &format!("Bearer {}", keys.t1_read))],
        )
        .odata_error(400);
    assert_eq!(e["target"], "$skiptoken");
    assert_eq!(
        app.get_absolute(link, &[("Authorization", &format!("Bearer {t2}"))])
            .status,
        200
    );
});

both_backends!(
    encoded_key_parameter_authenticates_and_stays_out_of_links,
    |backend| {
        let Some((app, keys)) = start(backend) else {
            return;
        };
        let page = app
            .get_with(
                &format!("/odata/Calls?$select=id&api%5Fkey={}", keys.t1_read),
                &[("Prefer", "odata.maxpagesize=2")],
            )
            .json();
        let link = page["@odata.nextLink"].as_str().expect("next link");
        assert!(!link.contains(&keys.t1_read), "{link}");
        // Another spelling does not authenticate, and does not travel in links either.
        let page = app
            .get_with(
                &format!("/odata/Calls?$select=id&API_KEY=x&api_key={}", keys.t1_read),
                &[("Prefer", "odata.maxpagesize=2")],
            )
            .json();
        let link = page["@odata.nextLink"].as_str().expect("next link");
        assert!(!link.to_ascii_lowercase().contains("api_key"), "{link}");
        app.get("/odata/Calls?API_KEY=x").odata_error(401);
    }
);
