//! `$expand`: each expanded navigation property becomes an [`ExpandPlan`], a plan of
//! its own over the related entity set plus how it joins to the parent row. The store
//! reads the related rows of a whole page with one query per navigation property
//! (never one per row) and the writer nests them under their parents.

use chrono::{DateTime, Utc};

use super::bind::{Binder, navigation_join};
use super::{PlanError, QueryPlan, bind_orderby, bind_select, property_of, set_of};
use crate::edm::{Model, PropertyId, SetId};
use crate::uri::{Alias, ExpandItem, ExpandKind, NestedOptions, QueryOptions, SegmentKind};

#[derive(Debug, Clone, PartialEq)]
pub struct ExpandPlan {
    /// The navigation property's name, as it appears in the response.
    pub nav: String,
    pub collection: bool,
    /// The related rows: the target set with nested `$select`, `$filter`, `$orderby`.
    pub plan: QueryPlan,
    /// The target's property that must equal the parent's `parent_property`.
    pub target_property: PropertyId,
    pub parent_property: PropertyId,
    /// Nested `$top` and `$skip`, per parent row.
    pub top: Option<u64>,
    pub skip: u64,
    /// Nested `$count=true`: write `Nav@odata.count`.
    pub count: bool,
}

impl ExpandPlan {
    /// The context URL fragment, e.g. `Channel(name,id)` or `QueueSegments(*)`;
    /// never `Nav()`, which Power Query rejects.
    pub fn context_fragment(&self, model: &Model) -> Result<String, PlanError> {
        let set = set_of(model, self.plan.set)?;
        let mut items: Vec<String> = Vec::new();
        if self.plan.select_explicit && !self.plan.select.is_empty() {
            for &id in &self.plan.select {
                items.push(property_of(set, id)?.name.clone());
            }
        } else {
            items.push("*".to_string());
        }
        for e in &self.plan.expand {
            items.push(e.context_fragment(model)?);
        }
        Ok(format!("{}({})", self.nav, items.join(",")))
    }
}

pub(super) fn bind_expand(
    model: &Model,
    set_index: SetId,
    tenant: &str,
    options: &QueryOptions,
    now: DateTime<Utc>,
) -> Result<Vec<ExpandPlan>, PlanError> {
    match &options.expand {
        None => Ok(Vec::new()),
        Some(items) => bind_items(model, set_index, tenant, items, &options.aliases, now),
    }
}

/// Binds expand items; their limits (levels, nested expressions) were validated
/// with the whole request.
fn bind_items(
    model: &Model,
    set_index: SetId,
    tenant: &str,
    items: &[ExpandItem],
    aliases: &[Alias],
    now: DateTime<Utc>,
) -> Result<Vec<ExpandPlan>, PlanError> {
    let set = set_of(model, set_index)?;
    let mut out: Vec<ExpandPlan> = Vec::new();
    for item in items {
        if item.kind != ExpandKind::Entities {
            return Err(PlanError::not_implemented(
                "$expand",
                Some(item.span),
                "expanding to $ref or $count is not supported; expand the entities",
            ));
        }
        let names: Vec<String> = match item.path.as_slice() {
            [seg] => match &seg.kind {
                SegmentKind::Star => {
                    if !item.options.is_empty() {
                        return Err(PlanError::not_implemented(
                            "$expand",
                            Some(item.span),
                            "options on $expand=* are not supported",
                        ));
                    }
                    set.navigations.iter().map(|n| n.name.clone()).collect()
                }
                SegmentKind::Name(n) => vec![n.clone()],
                _ => {
                    return Err(PlanError::invalid(
                        "$expand",
                        Some(seg.span),
                        "expected a navigation property",
                    ));
                }
            },
            _ => {
                return Err(PlanError::not_implemented(
                    "$expand",
                    Some(item.span),
                    "expand paths with more than one segment are not supported; nest $expand instead",
                ));
            }
        };
        for name in names {
            if out.iter().any(|e| e.nav == name) {
                return Err(PlanError::invalid(
                    "$expand",
                    Some(item.span),
                    format!("'{name}' is expanded twice"),
                ));
            }
            let Some(nav) = set.navigation(&name) else {
                let available: Vec<&str> =
                    set.navigations.iter().map(|n| n.name.as_str()).collect();
                return Err(PlanError::invalid(
                    "$expand",
                    Some(item.span),
                    format!(
                        "'{name}' is not a navigation property of {}; it has {}",
                        set.name,
                        available.join(", ")
                    ),
                ));
            };
            let join = navigation_join(model, set_index, &name)?.ok_or_else(|| {
                PlanError::not_implemented(
                    "$expand",
                    Some(item.span),
                    format!("'{name}' has no referential constraint to join on"),
                )
            })?;
            let [(target_property, parent_property)] = join.on.as_slice() else {
                return Err(PlanError::not_implemented(
                    "$expand",
                    Some(item.span),
                    "composite joins are not supported",
                ));
            };
            out.push(bind_one(
                model,
                tenant,
                &name,
                nav.collection,
                join.set,
                (*target_property, *parent_property),
                &item.options,
                aliases,
                now,
            )?);
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn bind_one(
    model: &Model,
    tenant: &str,
    nav: &str,
    collection: bool,
    target: SetId,
    (target_property, parent_property): (PropertyId, PropertyId),
    nested: &NestedOptions,
    outer_aliases: &[Alias],
    now: DateTime<Utc>,
) -> Result<ExpandPlan, PlanError> {
    let option = "$expand";
    if nested.levels.is_some() || nested.search.is_some() || nested.compute.is_some() {
        return Err(PlanError::not_implemented(
            option,
            None,
            format!("$levels, $search and $compute inside $expand={nav}(...) are not supported"),
        ));
    }
    if !collection
        && (nested.filter.is_some()
            || nested.orderby.is_some()
            || nested.top.is_some()
            || nested.skip.is_some()
            || nested.count.is_some())
    {
        return Err(PlanError::invalid(
            option,
            None,
            format!("'{nav}' is a single entity: only $select applies inside $expand={nav}(...)"),
        ));
    }
    let mut aliases: Vec<Alias> = nested.aliases.clone();
    aliases.extend(outer_aliases.iter().cloned());
    let target_set = set_of(model, target)?;
    let expand = match &nested.expand {
        Some(items) => bind_items(model, target, tenant, items, &aliases, now)?,
        None => Vec::new(),
    };
    let expanded: Vec<String> = expand.iter().map(|e| e.nav.clone()).collect();
    let (select, select_explicit) = bind_select(target_set, nested.select.as_ref(), &expanded)?;
    let filter = match &nested.filter {
        Some(expr) => Some(Binder::new(model, target, option, &aliases, now).bind_predicate(expr)?),
        None => None,
    };
    let order = bind_orderby(model, target, nested.orderby.as_ref(), &aliases, now)?;
    Ok(ExpandPlan {
        nav: nav.to_string(),
        collection,
        plan: QueryPlan {
            set: target,
            tenant: tenant.to_string(),
            select,
            select_explicit,
            filter,
            order,
            key: None,
            within: None,
            after: None,
            skip: 0,
            page_rows: None,
            count: false,
            expand,
            time_limit: None,
        },
        target_property,
        parent_property,
        top: nested.top,
        skip: nested.skip.unwrap_or(0),
        count: nested.count == Some(true),
    })
}
