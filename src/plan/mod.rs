//! Binding: syntax trees from [`crate::uri`] resolved against the [`Model`] into a
//! [`QueryPlan`], the typed, checked description of one page read. Below this module
//! no name is unchecked and no option is ambiguous.
//!
//! Sorting on a tenant-local timestamp is bound to its UTC twin: both describe the
//! same instant, and the UTC column is the one that is indexed and compares by time.

mod skiptoken;

use std::fmt;

use crate::edm::{EntitySet, Model};
use crate::store::SortValue;
use crate::uri::{QueryOptions, SelectItem, Span};

pub use skiptoken::{decode_skiptoken, encode_skiptoken};

/// Query limits that protect the server; every limit error names its setting.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Rows per page when the client does not ask for fewer (`page_size`).
    pub page_size: u64,
    /// The most rows per page a client may ask for with `Prefer: odata.maxpagesize`
    /// (`max_page_size`).
    pub max_page_size: u64,
    /// Most `$orderby` keys (`max_orderby_keys`).
    pub max_orderby_keys: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            page_size: 5_000,
            max_page_size: 50_000,
            max_orderby_keys: 8,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderKey {
    /// Index of the property in its entity set.
    pub property: usize,
    pub descending: bool,
}

/// One page read of an entity set (or one entity by key), fully resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPlan {
    /// Index of the entity set in the model.
    pub set: usize,
    pub tenant: String,
    /// Properties written to the response, in output order.
    pub select: Vec<usize>,
    /// Whether `$select` narrowed the properties (it shows in the context URL).
    pub select_explicit: bool,
    /// Sort keys as executed: `$orderby` with local timestamps mapped to their UTC
    /// twins, and the entity key appended so the order is total.
    pub order: Vec<OrderKey>,
    /// Read only the entity with this key.
    pub key: Option<String>,
    /// Keyset position: read rows strictly after these sort-key values.
    pub after: Option<Vec<SortValue>>,
    pub skip: u64,
    /// Most rows to read; `None` reads all.
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanErrorKind {
    /// The request is invalid for this model: 400.
    Invalid,
    /// Valid OData that this server does not support: 501.
    NotImplemented,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanError {
    pub option: String,
    pub span: Option<Span>,
    pub kind: PlanErrorKind,
    pub message: String,
}

impl PlanError {
    pub fn invalid(option: &str, span: Option<Span>, message: impl Into<String>) -> PlanError {
        PlanError {
            option: option.to_string(),
            span,
            kind: PlanErrorKind::Invalid,
            message: message.into(),
        }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.span {
            Some(span) => write!(f, "{}: {} at {}", self.option, self.message, span),
            None => write!(f, "{}: {}", self.option, self.message),
        }
    }
}

impl std::error::Error for PlanError {}

/// The closest property names to `wanted`, for "did you mean" hints.
fn suggest(set: &EntitySet, wanted: &str) -> String {
    let lower = wanted.to_ascii_lowercase();
    let mut close: Vec<&str> = set
        .property_names()
        .filter(|n| {
            let n = n.to_ascii_lowercase();
            n == lower || n.contains(&lower) || (lower.len() > 3 && lower.contains(&n))
        })
        .take(3)
        .collect();
    if close.is_empty() {
        close = set
            .property_names()
            .filter(|n| n.chars().next() == wanted.chars().next())
            .take(3)
            .collect();
    }
    if close.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", close.join(", "))
    }
}

fn resolve(set: &EntitySet, option: &str, name: &str, span: Span) -> Result<usize, PlanError> {
    if let Some(i) = set.property_index(name) {
        return Ok(i);
    }
    if set.navigation(name).is_some() {
        return Err(PlanError {
            option: option.to_string(),
            span: Some(span),
            kind: PlanErrorKind::NotImplemented,
            message: format!("'{name}' is a navigation property; $expand is not supported yet"),
        });
    }
    Err(PlanError::invalid(
        option,
        Some(span),
        format!(
            "'{name}' is not a property of {}{}",
            set.name,
            suggest(set, name)
        ),
    ))
}

/// Binds a collection request. `page_size` is the page the response will hold; the
/// store is asked for one row more, so the caller knows whether a next page exists.
pub fn bind_collection(
    model: &Model,
    set_index: usize,
    tenant: &str,
    options: &QueryOptions,
    limits: &Limits,
) -> Result<QueryPlan, PlanError> {
    let set = &model.entity_sets()[set_index];
    let (select, select_explicit) = bind_select(set, options)?;
    let order = bind_orderby(set, options, limits)?;
    let after = match &options.skiptoken {
        Some(token) => Some(decode_skiptoken(token, set, &order)?),
        None => None,
    };
    Ok(QueryPlan {
        set: set_index,
        tenant: tenant.to_string(),
        select,
        select_explicit,
        order,
        key: None,
        after,
        // A continuation page has already skipped: the keyset position includes it.
        skip: if options.skiptoken.is_some() {
            0
        } else {
            options.skip.unwrap_or(0)
        },
        limit: None,
    })
}

/// Binds a single-entity request (`Calls('id')`): only `$select` and `$format` apply.
pub fn bind_entity(
    model: &Model,
    set_index: usize,
    tenant: &str,
    key: &str,
    options: &QueryOptions,
) -> Result<QueryPlan, PlanError> {
    let set = &model.entity_sets()[set_index];
    for (name, _) in &options.raw {
        if !matches!(name.as_str(), "select" | "format") {
            return Err(PlanError::invalid(
                &format!("${name}"),
                None,
                "this option does not apply to a single entity",
            ));
        }
    }
    let (select, select_explicit) = bind_select(set, options)?;
    Ok(QueryPlan {
        set: set_index,
        tenant: tenant.to_string(),
        select,
        select_explicit,
        order: vec![OrderKey {
            property: set.key,
            descending: false,
        }],
        key: Some(key.to_string()),
        after: None,
        skip: 0,
        limit: Some(1),
    })
}

fn bind_select(set: &EntitySet, options: &QueryOptions) -> Result<(Vec<usize>, bool), PlanError> {
    let Some(items) = &options.select else {
        return Ok(((0..set.properties.len()).collect(), false));
    };
    let mut out: Vec<usize> = Vec::new();
    let mut star = false;
    for item in items {
        match item {
            SelectItem::Star => star = true,
            SelectItem::Property(id) => {
                let i = resolve(set, "$select", &id.name, id.span)?;
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
    }
    if star {
        return Ok(((0..set.properties.len()).collect(), false));
    }
    Ok((out, true))
}

fn bind_orderby(
    set: &EntitySet,
    options: &QueryOptions,
    limits: &Limits,
) -> Result<Vec<OrderKey>, PlanError> {
    let mut keys: Vec<OrderKey> = Vec::new();
    if let Some(items) = &options.orderby {
        if items.len() > limits.max_orderby_keys {
            return Err(PlanError::invalid(
                "$orderby",
                None,
                format!(
                    "{} sort keys given, the limit is {} (setting max_orderby_keys)",
                    items.len(),
                    limits.max_orderby_keys
                ),
            ));
        }
        for item in items {
            let mut index = resolve(set, "$orderby", &item.property.name, item.property.span)?;
            if let Some(twin) = set.properties[index].utc_twin {
                index = twin;
            }
            // A repeated key adds nothing to the order; OData allows it, so skip it.
            if !keys.iter().any(|k| k.property == index) {
                keys.push(OrderKey {
                    property: index,
                    descending: item.descending,
                });
            }
        }
    }
    if !keys.iter().any(|k| k.property == set.key) {
        keys.push(OrderKey {
            property: set.key,
            descending: false,
        });
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::{decode_query_string, parse_query};

    fn plan(set: &str, query: &str) -> Result<QueryPlan, PlanError> {
        let model = Model::load().unwrap();
        let idx = model
            .entity_sets()
            .iter()
            .position(|s| s.name == set)
            .unwrap();
        let options = parse_query(&decode_query_string(query).unwrap()).unwrap();
        bind_collection(&model, idx, "t1", &options, &Limits::default())
    }

    #[test]
    fn default_order_is_the_key() {
        let model = Model::load().unwrap();
        let p = plan("Calls", "").unwrap();
        let calls = model.entity_set("Calls").unwrap();
        assert_eq!(
            p.order,
            vec![OrderKey {
                property: calls.key,
                descending: false
            }]
        );
        assert_eq!(p.select.len(), calls.properties.len());
        assert!(!p.select_explicit);
    }

    #[test]
    fn local_timestamps_sort_by_their_utc_twin() {
        let model = Model::load().unwrap();
        let calls = model.entity_set("Calls").unwrap();
        let p = plan("Calls", "$orderby=startedAt desc").unwrap();
        assert_eq!(
            p.order[0].property,
            calls.property_index("startedAtUtc").unwrap()
        );
        assert!(p.order[0].descending);
        assert_eq!(p.order.len(), 2);
    }

    #[test]
    fn unknown_names_are_reported_with_span_and_hint() {
        let e = plan("Calls", "$select=id,startedat").unwrap_err();
        assert_eq!(e.kind, PlanErrorKind::Invalid);
        assert!(
            e.to_string()
                .starts_with("$select: 'startedat' is not a property of Calls; did you mean"),
            "{e}"
        );
        assert_eq!(e.span.map(|s| (s.start, s.end)), Some((3, 12)));
    }
}
