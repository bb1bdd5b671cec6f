//! An OpenAPI 3.0 description of the feed, generated from the model: one path per entity
//! set (collection, single entity, `/$count`), the query options the feed supports, and
//! a schema per entity type whose properties carry the model's descriptions and allowed
//! values. It is for API tools (code generators, API explorers); OData clients use
//! `$metadata`.

use serde_json::{Map, Value, json};

use crate::edm::{EdmType, EntitySet, Model};

fn property_schema(ty: EdmType) -> Value {
    match ty {
        EdmType::String => json!({ "type": "string" }),
        EdmType::Int32 => json!({ "type": "integer", "format": "int32" }),
        EdmType::Int64 => json!({ "type": "integer", "format": "int64" }),
        EdmType::Double => json!({ "type": "number", "format": "double" }),
        EdmType::Boolean => json!({ "type": "boolean" }),
        EdmType::DateTimeOffset => json!({ "type": "string", "format": "date-time" }),
    }
}

fn entity_schema(model: &Model, set: &EntitySet) -> Value {
    let mut properties = Map::new();
    for p in &set.properties {
        let mut schema = property_schema(p.ty);
        schema["description"] = json!(p.description);
        if p.nullable {
            schema["nullable"] = json!(true);
        }
        if !p.allowed_values.is_empty() {
            let mut values: Vec<Value> = p.allowed_values.iter().map(|v| json!(v)).collect();
            if p.nullable {
                values.push(Value::Null);
            }
            schema["enum"] = Value::Array(values);
        }
        properties.insert(p.name.clone(), schema);
    }
    for nav in &set.navigations {
        let target = model
            .entity_set(&nav.target_set)
            .map_or(nav.target_type.as_str(), |s| s.type_name.as_str());
        let reference = json!({ "$ref": format!("#/components/schemas/{target}") });
        let schema = if nav.collection {
            json!({ "type": "array", "items": reference, "description": nav.description })
        } else {
            // A $ref cannot carry siblings in OpenAPI 3.0; wrap it to keep the description.
            json!({ "allOf": [reference], "nullable": true, "description": nav.description })
        };
        properties.insert(nav.name.clone(), schema);
    }
    let required: Vec<&str> = set
        .properties
        .iter()
        .filter(|p| !p.nullable)
        .map(|p| p.name.as_str())
        .collect();
    json!({
        "type": "object",
        "description": set.description,
        "properties": properties,
        "required": required,
    })
}

fn parameter(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "description": description, "schema": schema })
}

fn query_parameters() -> Map<String, Value> {
    let mut p = Map::new();
    p.insert(
        "filter".into(),
        parameter(
            "$filter",
            "Only rows for which this OData expression is true, e.g. `startedAtUtc ge 2026-03-01T00:00:00Z`.",
            json!({ "type": "string" }),
        ),
    );
    p.insert(
        "select".into(),
        parameter(
            "$select",
            "Comma-separated columns to return (default: all).",
            json!({ "type": "string" }),
        ),
    );
    p.insert(
        "orderby".into(),
        parameter(
            "$orderby",
            "Comma-separated columns to sort by, each optionally followed by `asc` or `desc`.",
            json!({ "type": "string" }),
        ),
    );
    p.insert(
        "expand".into(),
        parameter(
            "$expand",
            "Navigation properties whose related rows are returned inline.",
            json!({ "type": "string" }),
        ),
    );
    p.insert(
        "top".into(),
        parameter(
            "$top",
            "At most this many rows in all (across pages).",
            json!({ "type": "integer", "minimum": 0 }),
        ),
    );
    p.insert(
        "skip".into(),
        parameter(
            "$skip",
            "Leave out this many rows first.",
            json!({ "type": "integer", "minimum": 0 }),
        ),
    );
    p.insert(
        "count".into(),
        parameter(
            "$count",
            "With `true`, the answer carries `@odata.count`, the number of matching rows.",
            json!({ "type": "boolean" }),
        ),
    );
    p.insert(
        "skiptoken".into(),
        parameter(
            "$skiptoken",
            "Where the next page starts; taken from `@odata.nextLink`, never written by hand.",
            json!({ "type": "string" }),
        ),
    );
    p
}

fn reference(kind: &str, name: &str) -> Value {
    json!({ "$ref": format!("#/components/{kind}/{name}") })
}

/// The 200 answer `ok` plus the error answers every operation can give.
fn responses_with(ok: Value) -> Value {
    let mut r = Map::new();
    r.insert("200".into(), ok);
    for (status, what) in [
        (
            "400",
            "The request is not valid; the message says which option and why.",
        ),
        ("401", "Credentials are missing or not valid."),
        ("404", "No such entity set or entity."),
        ("501", "An OData feature the feed does not support."),
    ] {
        r.insert(
            status.into(),
            json!({
                "description": what,
                "content": { "application/json": { "schema": reference("schemas", "Error") } }
            }),
        );
    }
    Value::Object(r)
}

/// The OpenAPI document; `service_root` is the feed's public root (no trailing slash),
/// `anonymous` whether requests without credentials are served (demo mode).
pub fn openapi(model: &Model, service_root: &str, anonymous: bool) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let collection_params: Vec<Value> = [
        "filter",
        "select",
        "orderby",
        "expand",
        "top",
        "skip",
        "count",
        "skiptoken",
    ]
    .iter()
    .map(|p| reference("parameters", p))
    .collect();
    for set in model.entity_sets() {
        let ty = &set.type_name;
        schemas.insert(ty.clone(), entity_schema(model, set));
        schemas.insert(
            format!("{ty}Collection"),
            json!({
                "type": "object",
                "description": format!("A page of {}.", set.name),
                "properties": {
                    "@odata.context": { "type": "string" },
                    "@odata.count": { "type": "integer", "format": "int64", "description": "With $count=true: all matching rows." },
                    "@odata.nextLink": { "type": "string", "description": "The next page; absent on the last one." },
                    "value": { "type": "array", "items": reference("schemas", ty) }
                },
                "required": ["value"]
            }),
        );
        let tag = set.name.clone();
        paths.insert(
            format!("/{}", set.name),
            json!({ "get": {
                "tags": [tag],
                "summary": format!("Rows of {}", set.name),
                "description": set.description,
                "operationId": format!("list{}", set.name),
                "parameters": collection_params,
                "responses": responses_with(json!({
                    "description": "A page of rows; follow @odata.nextLink for the next one.",
                    "content": { "application/json": { "schema": reference("schemas", &format!("{ty}Collection")) } }
                }))
            }}),
        );
        paths.insert(
            format!("/{}('{{id}}')", set.name),
            json!({ "get": {
                "tags": [tag],
                "summary": format!("One row of {} by its id", set.name),
                "operationId": format!("get{ty}"),
                "parameters": [
                    { "name": "id", "in": "path", "required": true, "schema": { "type": "string" },
                      "description": "The row's id; a quote inside is written twice." },
                    reference("parameters", "select"),
                    reference("parameters", "expand")
                ],
                "responses": responses_with(json!({
                    "description": "The row.",
                    "content": { "application/json": { "schema": reference("schemas", ty) } }
                }))
            }}),
        );
        paths.insert(
            format!("/{}/$count", set.name),
            json!({ "get": {
                "tags": [tag],
                "summary": format!("Number of rows of {}", set.name),
                "operationId": format!("count{}", set.name),
                "parameters": [reference("parameters", "filter")],
                "responses": responses_with(json!({
                    "description": "The number of matching rows, as plain text.",
                    "content": { "text/plain": { "schema": { "type": "integer", "format": "int64" } } }
                }))
            }}),
        );
    }
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "properties": { "error": {
                "type": "object",
                "properties": {
                    "code": { "type": "string" },
                    "message": { "type": "string" },
                    "target": { "type": "string" },
                    "details": { "type": "array", "items": { "type": "object" } }
                },
                "required": ["code", "message"]
            }},
            "required": ["error"]
        }),
    );
    let tags: Vec<Value> = model
        .entity_sets()
        .iter()
        .map(|s| json!({ "name": s.name, "description": s.description }))
        .collect();
    let mut security = vec![
        json!({ "basic": [] }),
        json!({ "apiKey": [] }),
        json!({ "bearer": [] }),
    ];
    if anonymous {
        security.push(json!({}));
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "ccfeed OData feed",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Contact-center reporting data as an OData v4 feed. Every request sees only its own tenant's rows. Pages hold up to 20,000 rows by default; follow @odata.nextLink for the next page. The OData description of the same model is at $metadata."
        },
        "servers": [{ "url": service_root }],
        "tags": tags,
        "security": security,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": query_parameters(),
            "securitySchemes": {
                "basic": { "type": "http", "scheme": "basic", "description": "Any user name; a read key as the password." },
                "apiKey": { "type": "apiKey", "in": "query", "name": "api_key", "description": "A read key (Power BI's ApiKeyName)." },
                "bearer": { "type": "http", "scheme": "bearer", "description": "A read key as the bearer token." }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_every_set_and_property_with_its_description() {
        let model = Model::load().unwrap();
        let doc = openapi(&model, "http://h/odata", false);
        assert_eq!(doc["security"].as_array().map(Vec::len), Some(3));
        assert_eq!(
            openapi(&model, "http://h/odata", true)["security"][3],
            json!({})
        );
        assert_eq!(doc["servers"][0]["url"], "http://h/odata");
        for set in model.entity_sets() {
            assert!(doc["paths"][format!("/{}", set.name)]["get"].is_object());
            assert!(doc["paths"][format!("/{}/$count", set.name)]["get"].is_object());
            let schema = &doc["components"]["schemas"][&set.type_name];
            assert_eq!(schema["description"], json!(set.description));
            for p in &set.properties {
                assert_eq!(
                    schema["properties"][&p.name]["description"],
                    json!(p.description),
                    "{}.{}",
                    set.name,
                    p.name
                );
                for v in &p.allowed_values {
                    assert!(
                        schema["properties"][&p.name]["enum"]
                            .as_array()
                            .unwrap()
                            .contains(&json!(v))
                    );
                }
            }
        }
    }
}
