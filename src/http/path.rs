//! Resource paths after `/odata/`: an entity set, a key (`Calls('x')`, `Calls(id='x')`,
//! or OData 4.01's key as a segment, `Calls/x`), navigation properties with optional
//! keys, then `$count`, or a primitive property with optional `$value`.
//!
//! Segments are split on `/` before percent-decoding, so a key may hold an encoded
//! slash. Which names are navigation properties, properties or keys is decided
//! against the model while walking the path.

use actix_web::http::StatusCode;
use percent_encoding::percent_decode_str;

use super::error::ApiError;
use crate::edm::{Model, PropertyId, SetId};
use crate::plan::PathNavigation;

/// What a resource path addresses.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourcePath {
    pub set: SetId,
    /// The key right after the set.
    pub key: Option<String>,
    pub navigations: Vec<PathNavigation>,
    pub target: Target,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The entities (or entity) the path leads to.
    Entities,
    /// `/$count` of a collection.
    Count,
    /// A primitive property of one entity; `raw` for `/$value`.
    Property { index: PropertyId, raw: bool },
}

fn not_implemented(message: String) -> ApiError {
    ApiError::new(StatusCode::NOT_IMPLEMENTED, "NotImplemented", message)
}

fn decode(segment: &str) -> Result<String, ApiError> {
    let decoded = percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| ApiError::bad_request("the path is not valid percent-encoded UTF-8"))?
        .into_owned();
    if decoded.contains('\0') {
        // No key holds it (PostgreSQL text cannot): the same answer on both backends.
        return Err(ApiError::bad_request(
            "the path cannot contain the character U+0000",
        ));
    }
    Ok(decoded)
}

/// `Name` or `Name(key)`.
fn split_key(segment: &str) -> Result<(&str, Option<String>), ApiError> {
    let Some((name, key)) = segment.split_once('(') else {
        return Ok((segment, None));
    };
    let key = key.strip_suffix(')').ok_or_else(|| {
        ApiError::bad_request(format!("the key of '{segment}' is missing its closing ')'"))
    })?;
    let literal = key.strip_prefix("id=").unwrap_or(key).trim();
    let inner = literal
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .filter(|s| !s.replace("''", "").contains('\''))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "keys are strings: write {name}('value'), doubling any quote inside, not {name}({key})"
            ))
        })?;
    Ok((name, Some(inner.replace("''", "'"))))
}

fn unknown_set(model: &Model, name: &str) -> ApiError {
    let hint = model
        .entity_sets()
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name))
        .map(|s| format!("; names are case-sensitive: did you mean {}?", s.name))
        .unwrap_or_default();
    ApiError::not_found(format!("there is no entity set '{name}'{hint}"))
}

/// Parses and resolves `raw` (the path after `/odata/`, still percent-encoded).
pub fn parse(model: &Model, raw: &str) -> Result<ResourcePath, ApiError> {
    let mut segments: Vec<String> = raw
        .trim_end_matches('/')
        .split('/')
        .map(decode)
        .collect::<Result<_, _>>()?;
    if segments.is_empty() {
        segments.push(String::new());
    }
    let (set_name, key) = split_key(&segments[0])?;
    let set_index = model
        .set_id(set_name)
        .ok_or_else(|| unknown_set(model, set_name))?;
    let mut path = ResourcePath {
        set: set_index,
        key,
        navigations: Vec::new(),
        target: Target::Entities,
    };
    // Where the walk stands: the set reached and whether one entity is addressed.
    let mut current = set_index;
    let mut single = path.key.is_some();
    let mut rest = segments[1..].iter().peekable();
    while let Some(segment) = rest.next() {
        let set = model.set(current).ok_or_else(|| {
            ApiError::internal(&format!("the path walked to no entity set #{current}"))
        })?;
        let last = rest.peek().is_none();
        match segment.as_str() {
            "$count" if !single && last => {
                path.target = Target::Count;
                return Ok(path);
            }
            "$count" => {
                return Err(ApiError::bad_request("$count ends a path to a collection"));
            }
            "$ref" | "$entity" | "$value" | "$batch" | "$all" | "$crossjoin" | "$each" => {
                return Err(not_implemented(format!(
                    "'{segment}' in a resource path is not supported; address entities, a navigation property, a property or /$count"
                )));
            }
            other if other.starts_with('$') => {
                return Err(ApiError::bad_request(format!(
                    "'{other}' is not a path segment OData defines"
                )));
            }
            _ => {}
        }
        let (name, key) = split_key(segment)?;
        if let Some(nav) = set.navigation(name) {
            if single {
                path.navigations.push(PathNavigation {
                    name: name.to_string(),
                    key: key.clone(),
                });
                current = model.set_id(&nav.target_set).ok_or_else(|| {
                    not_implemented("the navigation target is not an entity set".into())
                })?;
                single = !nav.collection || key.is_some();
                continue;
            }
            return Err(ApiError::bad_request(format!(
                "'{name}' follows a collection: address one entity first, e.g. {}('key')/{name}",
                set.name
            )));
        }
        if single && key.is_none() {
            if let Some(index) = set.property_id(name) {
                let raw = match rest.next().map(String::as_str) {
                    None => false,
                    Some("$value") if rest.peek().is_none() => true,
                    Some(other) => {
                        return Err(not_implemented(format!(
                            "'{other}' after the property '{name}' is not supported; only /$value may follow"
                        )));
                    }
                };
                path.target = Target::Property { index, raw };
                return Ok(path);
            }
            return Err(ApiError::not_found(format!(
                "'{name}' is neither a property nor a navigation property of {}",
                set.name
            )));
        }
        if !single && key.is_none() && !name.contains('.') {
            // OData 4.01 key-as-segment: `Calls/call-0001` is `Calls('call-0001')`.
            match path.navigations.last_mut() {
                Some(nav) => nav.key = Some(name.to_string()),
                None => path.key = Some(name.to_string()),
            }
            single = true;
            continue;
        }
        if name.contains('.') {
            return Err(not_implemented(format!(
                "type casts in a path ('{name}') are not supported: every set has one type"
            )));
        }
        return Err(ApiError::not_found(format!(
            "'{segment}' is not a navigation property of {}",
            set.name
        )));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        Model::load().unwrap()
    }

    fn parsed(path: &str) -> Result<ResourcePath, u16> {
        parse(&model(), path).map_err(|e| e.status.as_u16())
    }

    #[test]
    fn sets_keys_and_counts() {
        let m = model();
        let calls = m.set_id("Calls").unwrap();
        let p = parsed("Calls").unwrap();
        assert_eq!((p.set, p.key, p.target), (calls, None, Target::Entities));
        assert_eq!(parsed("Calls/").unwrap().target, Target::Entities);
        assert_eq!(parsed("Calls/$count").unwrap().target, Target::Count);
        assert_eq!(parsed("Calls('a''b')").unwrap().key.as_deref(), Some("a'b"));
        assert_eq!(parsed("Calls(id='x')").unwrap().key.as_deref(), Some("x"));
        assert_eq!(
            parsed("Calls('a%2Fb')").unwrap().key.as_deref(),
            Some("a/b")
        );
        assert_eq!(
            parsed("Calls/call-1").unwrap().key.as_deref(),
            Some("call-1")
        );
        assert_eq!(parsed("Calls(12)"), Err(400));
        assert_eq!(parsed("Calls('a'b')"), Err(400));
        assert_eq!(parsed("Nope"), Err(404));
        assert_eq!(parsed("Calls('x')/$count"), Err(400));
        assert_eq!(parsed("Calls/$ref"), Err(501));
        assert_eq!(parsed("Calls/ccfeed.Call"), Err(501));
    }

    #[test]
    fn navigations_and_properties() {
        let m = model();
        let p = parsed("Calls('x')/Channel").unwrap();
        assert_eq!(p.navigations.len(), 1);
        assert_eq!(p.target, Target::Entities);
        let p = parsed("Calls/x/Channel").unwrap();
        assert_eq!(p.key.as_deref(), Some("x"));
        assert_eq!(p.navigations[0].name, "Channel");
        let p = parsed("Conversations('c')/QueueSegments/$count").unwrap();
        assert_eq!(p.target, Target::Count);
        let p = parsed("Conversations('c')/QueueSegments('q')/Queue").unwrap();
        assert_eq!(p.navigations[0].key.as_deref(), Some("q"));
        let p = parsed("Conversations('c')/QueueSegments/q/Queue").unwrap();
        assert_eq!(p.navigations[0].key.as_deref(), Some("q"));
        let calls = m.entity_set("Calls").unwrap();
        let p = parsed("Calls('x')/durationInSeconds/$value").unwrap();
        assert_eq!(
            p.target,
            Target::Property {
                index: calls.property_id("durationInSeconds").unwrap(),
                raw: true
            }
        );
        assert_eq!(parsed("Calls/Channel"), Err(400));
        assert_eq!(parsed("Calls('x')/nope"), Err(404));
        assert_eq!(parsed("Calls('x')/id/$ref"), Err(501));
    }
}
