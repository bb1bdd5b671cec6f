//! `$skiptoken`: the keyset position of the next page. It holds the sort-key values
//! of the last row sent plus a fingerprint of the sort order, base64url-encoded JSON.
//! It is opaque to clients, but not secret: it only says where to continue, and every
//! read is still scoped to the caller's tenant by the store.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value as Json;

use super::{OrderKey, PlanError};
use crate::edm::ColumnKind;
use crate::value::{Value, parse_instant};

/// The tenant and the sort order the token belongs to.
fn fingerprint(tenant: &str, order: &[OrderKey]) -> String {
    let keys = order
        .iter()
        .map(|k| format!("{}{}", k.expr, if k.descending { "-" } else { "+" }))
        .collect::<Vec<_>>()
        .join(",");
    format!("{tenant}|{keys}")
}

pub fn encode_skiptoken(tenant: &str, order: &[OrderKey], values: &[Value]) -> String {
    let mut items = vec![Json::String(fingerprint(tenant, order))];
    items.extend(values.iter().map(|v| {
        match v {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::Double(d) | Value::Duration(d) => serde_json::Number::from_f64(*d)
                .map(Json::Number)
                .unwrap_or(Json::Null),
            other => match other.plain_text() {
                Some(text) => Json::String(text),
                None => Json::Null,
            },
        }
    }));
    URL_SAFE_NO_PAD.encode(Json::Array(items).to_string())
}

fn bad(reason: &str) -> PlanError {
    PlanError::invalid(
        "$skiptoken",
        None,
        format!(
            "the token is not valid for this request ({reason}); use the nextLink exactly as received"
        ),
    )
}

pub fn decode_skiptoken(
    token: &str,
    tenant: &str,
    order: &[OrderKey],
) -> Result<Vec<Value>, PlanError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad("not base64url"))?;
    let Ok(Json::Array(items)) = serde_json::from_slice::<Json>(&bytes) else {
        return Err(bad("not a token of this server"));
    };
    let mut items = items.into_iter();
    if items.next() != Some(Json::String(fingerprint(tenant, order))) {
        return Err(bad(
            "it was issued for another feed, entity set or $orderby",
        ));
    }
    let items: Vec<Json> = items.collect();
    if items.len() != order.len() {
        return Err(bad("wrong number of values"));
    }
    order
        .iter()
        .zip(items)
        .map(|(key, value)| {
            if value.is_null() {
                return if key.expr.nullable() {
                    Ok(Value::Null)
                } else {
                    Err(bad("null for a non-null key"))
                };
            }
            let parsed = match key.expr.read_kind() {
                ColumnKind::Text | ColumnKind::LocalText => value
                    .as_str()
                    .filter(|s| !s.contains('\0'))
                    .map(|s| Value::Text(s.to_string())),
                ColumnKind::Int32 | ColumnKind::Int64 => value.as_i64().map(Value::Int),
                ColumnKind::Double => value.as_f64().map(Value::Double),
                ColumnKind::Boolean => value.as_bool().map(Value::Bool),
                ColumnKind::Instant => value.as_str().and_then(parse_instant).map(Value::Instant),
            };
            parsed.ok_or_else(|| bad("a value has the wrong type"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edm::Model;
    use crate::plan::{Bound, ColumnRef, ScopeId, Ty};

    #[test]
    fn tokens_round_trip_and_reject_foreign_orders() {
        let model = Model::load().unwrap();
        let set = model.set_id("Calls").unwrap();
        let calls = model.set(set).unwrap();
        let column = |property, ty| {
            Bound::Column(
                ColumnRef {
                    scope: ScopeId::ROOT,
                    set,
                    property,
                    nullable: false,
                    utc_twin: None,
                },
                ty,
            )
        };
        let started = calls.property_id("startedAtUtc").unwrap();
        let order = vec![
            OrderKey {
                expr: column(started, Ty::DateTimeOffset),
                descending: true,
            },
            OrderKey {
                expr: column(calls.key, Ty::String),
                descending: false,
            },
        ];
        let t = parse_instant("2026-01-01T10:00:00.250Z").unwrap();
        let values = vec![Value::Instant(t), Value::Text("c-1'\"é".into())];
        let token = encode_skiptoken("t1", &order, &values);
        assert_eq!(decode_skiptoken(&token, "t1", &order).unwrap(), values);
        assert!(decode_skiptoken(&token, "t2", &order).is_err());

        let other = vec![OrderKey {
            expr: column(calls.key, Ty::String),
            descending: false,
        }];
        assert!(decode_skiptoken(&token, "t1", &other).is_err());
        assert!(decode_skiptoken("not a token!", "t1", &order).is_err());
        assert!(decode_skiptoken(&URL_SAFE_NO_PAD.encode("[1,2"), "t1", &order).is_err());
    }
}
