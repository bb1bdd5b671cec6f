//! `$expand` over HTTP on both backends: single-valued and collection navigation
//! properties, nested options, context URLs Power Query accepts, and tenant scoping
//! of the related rows.

mod common;

use ccfeed::edm::Model;
use ccfeed::store::{self, Db};
use common::*;
use serde_json::{Value, json};

/// 6 conversations; conversation i has i mod 3 queue segments (0, 1 or 2);
/// calls point at channels 0..3 (channel 3 does not exist); the other tenant has
/// segments for the same conversation ids.
fn fixture(db: &Db, model: &Model) {
    write(db, model, TENANT, "Channels", 3, |i, p| {
        (p == "name").then(|| store::Value::Text(format!("channel {i}")))
    });
    write(db, model, TENANT, "Conversations", 6, |_, _| None);
    write(db, model, TENANT, "Queues", 2, |i, p| {
        (p == "name").then(|| store::Value::Text(format!("queue {i}")))
    });
    write(db, model, TENANT, "Calls", 5, |i, p| {
        (p == "channelId").then(|| store::Value::Text(format!("channels-{:04}", i % 4)))
    });
    let mut n = 0;
    let mut segments: Vec<(usize, usize)> = Vec::new();
    for conv in 0..6 {
        for _ in 0..conv % 3 {
            segments.push((n, conv));
            n += 1;
        }
    }
    write(
        db,
        model,
        TENANT,
        "QueueSegments",
        segments.len(),
        |i, p| match p {
            "conversationId" => Some(store::Value::Text(format!(
                "conversations-{:04}",
                segments[i].1
            ))),
            "durationInSeconds" => Some(store::Value::Int(10 * (i as i64 + 1))),
            "queueId" => Some(store::Value::Text(format!("queues-{:04}", i % 2))),
            _ => None,
        },
    );
    write(db, model, OTHER_TENANT, "QueueSegments", 4, |_, p| {
        (p == "conversationId").then(|| store::Value::Text("conversations-0002".into()))
    });
}

fn app(backend: Backend) -> Option<TestApp> {
    TestApp::start(backend, demo_settings(), fixture)
}

both_backends!(single_valued_navigation, |backend| {
    let Some(app) = app(backend) else { return };
    let page = app
        .get("/odata/Calls?$select=id,channelId,Channel&$expand=Channel($select=name)")
        .json();
    assert_eq!(
        page["@odata.context"],
        app.url("/odata/$metadata#Calls(id,channelId,Channel(name))")
    );
    let rows = page["value"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["Channel"], json!({"name": "channel 0"}));
    assert_eq!(rows[2]["Channel"], json!({"name": "channel 2"}));
    assert_eq!(
        rows[3]["Channel"],
        Value::Null,
        "channels-0003 does not exist"
    );
    assert_eq!(rows[4]["Channel"], json!({"name": "channel 0"}));
    // Without a nested $select the whole entity comes, and the context says (*).
    let page = app.get("/odata/Calls?$expand=Channel&$top=1").json();
    assert_eq!(
        page["@odata.context"],
        app.url("/odata/$metadata#Calls(*,Channel(*))")
    );
    assert_eq!(page["value"][0]["Channel"]["id"], "channels-0000");
    assert!(page["value"][0]["startedAtUtc"].is_string());
});

both_backends!(collection_navigation_with_nested_options, |backend| {
    let Some(app) = app(backend) else { return };
    let page = app
        .get("/odata/Conversations?$select=id&$expand=QueueSegments($select=id,durationInSeconds)")
        .json();
    let rows = page["value"].as_array().unwrap();
    let counts: Vec<usize> = rows
        .iter()
        .map(|r| r["QueueSegments"].as_array().unwrap().len())
        .collect();
    assert_eq!(
        counts,
        vec![0, 1, 2, 0, 1, 2],
        "other tenant's segments must not appear"
    );
    assert_eq!(rows[2]["QueueSegments"][0]["durationInSeconds"], 20);
    let page = app
        .get("/odata/Conversations?$select=id&$expand=QueueSegments($orderby=durationInSeconds%20desc;$top=1;$count=true;$select=durationInSeconds)")
        .json();
    let row = &page["value"][2];
    assert_eq!(row["QueueSegments@odata.count"], 2);
    assert_eq!(row["QueueSegments"], json!([{"durationInSeconds": 30}]));
    let page = app
        .get("/odata/Conversations?$select=id&$expand=QueueSegments($filter=durationInSeconds%20gt%2020;$skip=0)")
        .json();
    let counts: Vec<usize> = page["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["QueueSegments"].as_array().unwrap().len())
        .collect();
    assert_eq!(counts, vec![0, 0, 1, 0, 1, 2]);
    // Paging keeps $expand on the next page.
    let (rows, pages) = {
        let mut rows = Vec::new();
        let mut pages = 0;
        let mut resp = app.get_with(
            "/odata/Conversations?$expand=QueueSegments",
            &[("Prefer", "odata.maxpagesize=4")],
        );
        loop {
            let body = resp.json();
            pages += 1;
            rows.extend(body["value"].as_array().unwrap().clone());
            match body["@odata.nextLink"].as_str() {
                Some(link) => resp = app.get_absolute(link, &[("Prefer", "odata.maxpagesize=4")]),
                None => break,
            }
        }
        (rows, pages)
    };
    assert_eq!(pages, 2);
    assert_eq!(rows[5]["QueueSegments"].as_array().unwrap().len(), 2);
});

both_backends!(single_entity_with_expand, |backend| {
    let Some(app) = app(backend) else { return };
    let entity = app.get("/odata/Conversations('conversations-0005')?$select=id&$expand=QueueSegments($select=id)").json();
    assert_eq!(
        entity["@odata.context"],
        app.url("/odata/$metadata#Conversations(id,QueueSegments(id))/$entity")
    );
    assert_eq!(entity["QueueSegments"].as_array().unwrap().len(), 2);
});

both_backends!(expand_errors, |backend| {
    let Some(app) = app(backend) else { return };
    let e = app.get("/odata/Calls?$expand=Nope").odata_error(400);
    assert!(e["message"].as_str().unwrap().contains("Channel"), "{e}");
    app.get("/odata/Calls?$expand=Channel($top=1)")
        .odata_error(400);
    app.get("/odata/Conversations?$expand=QueueSegments($expand=Queue)")
        .odata_error(400);
    app.get("/odata/Calls?$expand=Channel/$ref")
        .odata_error(501);
    app.get("/odata/Calls?$select=Channel").odata_error(400);
    app.get("/odata/Conversations?$expand=QueueSegments($filter=nope%20eq%201)")
        .odata_error(400);
});

both_backends!(nested_expand_follows_the_setting, |backend| {
    let settings = ccfeed::config::Settings {
        limits: ccfeed::plan::Limits {
            max_expand_depth: 2,
            ..Default::default()
        },
        ..demo_settings()
    };
    let Some(app) = TestApp::start(backend, settings, fixture) else {
        return;
    };
    let page = app
        .get("/odata/Conversations?$select=id&$expand=QueueSegments($select=id;$expand=Queue($select=name))")
        .json();
    assert_eq!(
        page["@odata.context"],
        app.url("/odata/$metadata#Conversations(id,QueueSegments(id,Queue(name)))")
    );
    let segments = page["value"][2]["QueueSegments"].as_array().unwrap();
    assert_eq!(segments.len(), 2);
    assert_eq!(segments[0]["Queue"], json!({"name": "queue 1"}));
    assert_eq!(segments[1]["Queue"], json!({"name": "queue 0"}));
    // Three levels exceed the setting.
    let e = app
        .get("/odata/Conversations?$expand=QueueSegments($expand=Queue($expand=Channel))")
        .odata_error(400);
    assert!(
        e["message"].as_str().unwrap().contains("max_expand_depth"),
        "{e}"
    );
});
