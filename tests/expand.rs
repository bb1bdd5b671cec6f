//! `$expand` and navigation paths over HTTP on both backends: single-valued and
//! collection navigation properties, nested options, related entities addressed by
//! path (`Calls('x')/Channel`, key as segment, properties and `$value`), context URLs
//! Power Query accepts, `Prefer: omit-values=nulls`, and tenant scoping of the
//! related rows.

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

both_backends!(
    navigation_properties_can_be_selected_without_expanding,
    |backend| {
        let Some(app) = app(backend) else { return };
        // What a generated client sends: the navigation adds nothing in minimal metadata.
        let page = app.get("/odata/Calls?$select=id,Channel").json();
        let first = &page["value"][0];
        assert_eq!(first.as_object().unwrap().len(), 1, "{first}");
        assert!(first.get("Channel").is_none());
        let page = app
            .get("/odata/Calls?$select=id,Channel&$format=application/json;odata.metadata=full")
            .json();
        let link = page["value"][1]["Channel@odata.navigationLink"]
            .as_str()
            .unwrap();
        assert!(link.ends_with("Calls('calls-0001')/Channel"), "{link}");
    }
);

both_backends!(related_entities_by_path, |backend| {
    let Some(app) = app(backend) else { return };
    // Single-valued: the related entity, with its own context.
    let channel = app.get("/odata/Calls('calls-0001')/Channel").json();
    assert_eq!(channel["name"], "channel 1");
    assert_eq!(
        channel["@odata.context"],
        app.url("/odata/$metadata#Channels/$entity")
    );
    // A dangling reference is a null navigation: 204; an unknown key is 404.
    assert_eq!(app.get("/odata/Calls('calls-0003')/Channel").status, 204);
    app.get("/odata/Calls('nope')/Channel").odata_error(404);
    // Collection-valued, tenant-scoped (the other tenant has 4 rows for this id).
    let page = app
        .get("/odata/Conversations('conversations-0002')/QueueSegments")
        .json();
    assert_eq!(
        page["@odata.context"],
        app.url("/odata/$metadata#QueueSegments")
    );
    assert_eq!(
        ids(&page),
        vec!["queue_segments-0001", "queue_segments-0002"]
    );
    assert_eq!(
        app.get("/odata/Conversations('conversations-0002')/QueueSegments/$count")
            .text(),
        "2"
    );
    assert_eq!(
        app.get("/odata/Conversations('conversations-0000')/QueueSegments/$count")
            .text(),
        "0"
    );
    // Query options and server-driven paging apply to the related rows.
    let page = app
        .get("/odata/Conversations('conversations-0002')/QueueSegments?$filter=durationInSeconds%20gt%2020&$select=id")
        .json();
    assert_eq!(ids(&page), vec!["queue_segments-0002"]);
    let first = app
        .get_with(
            "/odata/Conversations('conversations-0002')/QueueSegments?$orderby=id",
            &[("Prefer", "odata.maxpagesize=1")],
        )
        .json();
    assert_eq!(ids(&first), vec!["queue_segments-0001"]);
    let next = first["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.contains("/Conversations('conversations-0002')/QueueSegments?"),
        "{next}"
    );
    let second = app
        .get_absolute(next, &[("Prefer", "odata.maxpagesize=1")])
        .json();
    assert_eq!(ids(&second), vec!["queue_segments-0002"]);
    assert!(second.get("@odata.nextLink").is_none());
    // More than one segment, keys inside the path, and key-as-segment (OData 4.01).
    let queue = app
        .get(
            "/odata/Conversations('conversations-0002')/QueueSegments('queue_segments-0002')/Queue",
        )
        .json();
    assert_eq!(queue["name"], "queue 0");
    let queue = app
        .get("/odata/Conversations/conversations-0002/QueueSegments/queue_segments-0001/Queue?$select=name")
        .json();
    assert_eq!(queue["name"], "queue 1");
    assert_eq!(
        app.get("/odata/Calls/calls-0002").json()["channelId"],
        app.get("/odata/Calls('calls-0002')").json()["channelId"]
    );
    // A key that belongs to another parent is not found through this one.
    app.get("/odata/Conversations('conversations-0001')/QueueSegments('queue_segments-0002')")
        .odata_error(404);
    // Errors say what to do instead.
    let e = app.get("/odata/Calls/Channel").odata_error(400);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("Calls('key')/Channel"),
        "{e}"
    );
    app.get("/odata/Calls('calls-0001')/Channel/$ref")
        .odata_error(501);
});

both_backends!(properties_by_path, |backend| {
    let Some(app) = app(backend) else { return };
    let value = app.get("/odata/Calls('calls-0001')/channelId").json();
    assert_eq!(value["value"], "channels-0001");
    assert_eq!(
        value["@odata.context"],
        app.url("/odata/$metadata#Calls('calls-0001')/channelId")
    );
    let raw = app.get("/odata/Calls('calls-0001')/channelId/$value");
    assert_eq!(raw.status, 200);
    assert_eq!(raw.text(), "channels-0001");
    assert!(
        raw.header("Content-Type")
            .unwrap()
            .starts_with("text/plain")
    );
    let duration = app
        .get("/odata/QueueSegments('queue_segments-0001')/durationInSeconds")
        .json();
    assert_eq!(duration["value"], 20);
    // Row 0 of the fixture holds null in its nullable columns.
    assert_eq!(app.get("/odata/Calls('calls-0000')/endedAtUtc").status, 204);
    assert_eq!(
        app.get("/odata/Calls('calls-0000')/endedAtUtc/$value")
            .status,
        204
    );
    app.get("/odata/Calls('nope')/channelId").odata_error(404);
    app.get("/odata/Calls('calls-0001')/nope").odata_error(404);
});

both_backends!(omit_values_nulls_is_honoured_and_acknowledged, |backend| {
    let Some(app) = app(backend) else { return };
    let prefer = [("Prefer", "odata.maxpagesize=2, omit-values=nulls")];
    let mut url = app.url("/odata/Calls?$orderby=id");
    let mut pages = 0;
    let mut rows = 0;
    loop {
        let resp = app.get_absolute(&url, &prefer);
        let applied = resp
            .header("Preference-Applied")
            .unwrap_or_default()
            .to_string();
        assert!(
            applied.contains("omit-values=nulls"),
            "page {pages}: {applied}"
        );
        assert!(
            applied.contains("odata.maxpagesize=2"),
            "page {pages}: {applied}"
        );
        let page = resp.json();
        for row in page["value"].as_array().unwrap() {
            assert!(
                row.as_object().unwrap().values().all(|v| !v.is_null()),
                "{row}"
            );
            rows += 1;
        }
        pages += 1;
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!((rows, pages), (5, 3));
    // Row 0 has nulls: they are left out, not written as null; without the
    // preference they are there.
    let row = app
        .get_with(
            "/odata/Calls('calls-0000')",
            &[("Prefer", "omit-values=nulls")],
        )
        .json();
    assert!(row.get("endedAtUtc").is_none(), "{row}");
    let row = app.get("/odata/Calls('calls-0000')").json();
    assert!(row["endedAtUtc"].is_null(), "{row}");
    assert!(
        app.get("/odata/Calls")
            .header("Preference-Applied")
            .is_none()
    );
});
