//! Binding: syntax trees from [`crate::uri`] resolved against the [`Model`] into a
//! [`QueryPlan`], the typed, checked description of one page read. Below this module
//! no name is unchecked and no option is ambiguous.
//!
//! Sorting on a tenant-local timestamp is bound to its UTC twin: both describe the
//! same instant, and the UTC column is the one that is indexed and compares by time.

pub mod apply;
mod bind;
#[cfg(any(test, feature = "oracle"))]
pub mod eval;
mod expand;
pub mod expr;
mod skiptoken;
mod validate;

use std::fmt;

use chrono::{DateTime, Utc};

use crate::edm::{EntitySet, Model, Property, PropertyId, SetId};
use crate::uri::{Alias, OrderByItem, QueryOptions, SegmentKind, SelectItem, SelectKind, Span};
use crate::value::Value;

pub use apply::ApplyPlan;
pub use bind::Binder;
pub use expand::ExpandPlan;
pub use expr::{Bound, ColumnRef, Join, ScopeId, Ty};
pub use skiptoken::{decode_skiptoken, encode_skiptoken};

/// Query limits that protect the server; every limit error names its setting.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Rows per page when the client does not ask for fewer (`page_size`). Power Query
    /// never asks, so this sets how many round trips a refresh pays: with 20,000 a pull
    /// over a 20 ms round trip keeps about 0.95 of its speed without one, with 10,000
    /// about 0.8 (BENCHMARKS.md, session 11).
    pub page_size: u64,
    /// The most rows per page a client may ask for with `Prefer: odata.maxpagesize`
    /// (`max_page_size`).
    pub max_page_size: u64,
    /// Most `$orderby` keys (`max_orderby_keys`).
    pub max_orderby_keys: usize,
    /// Most nodes in a `$filter` tree (`max_filter_nodes`). Power Query writes a list
    /// filter as one `eq` per item joined by `or`, four nodes per item.
    pub max_filter_nodes: usize,
    /// Deepest nesting of parentheses, calls and lambdas (`max_depth`).
    pub max_depth: usize,
    /// Longest accepted URL in bytes (`max_url_length`); longer ones get 414.
    pub max_url_length: usize,
    /// Levels of `$expand` (`max_expand_depth`).
    pub max_expand_depth: usize,
    /// Most aggregates (or computed properties) in one `$apply` transformation
    /// (`max_aggregates`).
    pub max_aggregates: usize,
    /// Most grouping paths in one `groupby` (`max_group_keys`).
    pub max_group_keys: usize,
    /// Requests in one `$batch` (`max_batch_parts`).
    pub max_batch_parts: usize,
    /// Bytes of one `$batch` body (`max_batch_bytes`).
    pub max_batch_bytes: usize,
    /// Longest a read statement may run, in milliseconds (`statement_timeout_ms`);
    /// 0 for no limit.
    pub statement_timeout_ms: u64,
}

impl Limits {
    /// The statement time limit, if there is one.
    pub fn statement_timeout(&self) -> Option<std::time::Duration> {
        (self.statement_timeout_ms > 0)
            .then(|| std::time::Duration::from_millis(self.statement_timeout_ms))
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            page_size: 20_000,
            max_page_size: 50_000,
            max_orderby_keys: 8,
            max_filter_nodes: 3_000,
            max_depth: 100,
            max_url_length: 16 * 1024,
            max_expand_depth: 1,
            max_aggregates: 64,
            max_group_keys: 16,
            max_batch_parts: 100,
            max_batch_bytes: 1024 * 1024,
            statement_timeout_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    /// The sort expression (a column for plain `$orderby=prop`).
    pub expr: Bound,
    pub descending: bool,
}

impl OrderKey {
    /// The property of the request's set this key sorts by, if it is a plain column.
    pub fn column(&self) -> Option<PropertyId> {
        match &self.expr {
            Bound::Column(c, _) if c.scope == ScopeId::ROOT => Some(c.property),
            _ => None,
        }
    }
}

/// One page read of an entity set (or one entity by key), fully resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPlan {
    pub set: SetId,
    pub tenant: String,
    /// Properties written to the response, in output order.
    pub select: Vec<PropertyId>,
    /// Whether `$select` narrowed the properties (it shows in the context URL).
    pub select_explicit: bool,
    /// `$filter`, bound.
    pub filter: Option<Bound>,
    /// Sort keys as executed: `$orderby` with local timestamps mapped to their UTC
    /// twins, and the entity key appended so the order is total.
    pub order: Vec<OrderKey>,
    /// Read only the entity with this key.
    pub key: Option<String>,
    /// Read only rows related to an addressed entity (`Calls('x')/Channel`).
    pub within: Option<Within>,
    /// Keyset position: read rows strictly after these sort-key values.
    pub after: Option<Vec<Value>>,
    pub skip: u64,
    /// Rows to deliver in this page; `None` delivers all (related rows, whose `$top`
    /// applies per parent).
    pub page_rows: Option<u64>,
    /// Whether the total number of matching rows is wanted (`$count=true`, `/$count`).
    pub count: bool,
    /// `$expand`ed navigation properties, read with one query per page and property.
    pub expand: Vec<ExpandPlan>,
    /// How long the statements of this read may run (`statement_timeout_ms`).
    pub time_limit: Option<std::time::Duration>,
}

/// A resource path's navigation: the entity it starts from, then each navigation
/// property followed, optionally narrowed to one key (`Conversations('c')/QueueSegments('q')/Queue`).
#[derive(Debug, Clone, PartialEq)]
pub struct Within {
    pub set: SetId,
    pub key: String,
    /// Every navigation but the last leads to the `from_set` of the next one; the
    /// last leads to the plan's set.
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub join: Join,
    /// Only the related entity with this key (not for the last step: the plan's
    /// own `key` narrows that one).
    pub key: Option<String>,
}

/// One segment of a resource path after the entity set, as the HTTP layer parsed it.
#[derive(Debug, Clone, PartialEq)]
pub struct PathNavigation {
    pub name: String,
    pub key: Option<String>,
}

/// Where a resource path leads: the set, and the path to it when it is navigated.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub set: SetId,
    pub within: Option<Within>,
    /// The key the last segment gives (`Set('k')` or `Nav('k')`).
    pub key: Option<String>,
    /// Whether the path addresses one entity (a key, or a single-valued navigation).
    pub single: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanErrorKind {
    /// The request is invalid for this model: 400.
    Invalid,
    /// Valid OData that this server does not support: 501.
    NotImplemented,
    /// An id that does not name what it should (a set, a property, a lambda scope):
    /// a bug in the server, never the request's fault: 500.
    Internal,
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

    pub fn not_implemented(
        option: &str,
        span: Option<Span>,
        message: impl Into<String>,
    ) -> PlanError {
        PlanError {
            option: option.to_string(),
            span,
            kind: PlanErrorKind::NotImplemented,
            message: message.into(),
        }
    }
}

impl PlanError {
    /// A lookup by id that missed (see [`PlanErrorKind::Internal`]).
    pub fn internal(message: impl Into<String>) -> PlanError {
        PlanError {
            option: String::new(),
            span: None,
            kind: PlanErrorKind::Internal,
            message: message.into(),
        }
    }
}

/// The set `id` names; a miss is an internal error.
pub(crate) fn set_of(model: &Model, id: SetId) -> Result<&EntitySet, PlanError> {
    model
        .set(id)
        .ok_or_else(|| PlanError::internal(format!("there is no entity set #{id}")))
}

/// The property `id` names in `set`; a miss (an id of another set, or past the end)
/// is an internal error.
pub(crate) fn property_of(set: &EntitySet, id: PropertyId) -> Result<&Property, PlanError> {
    set.property_at(id).ok_or_else(|| {
        PlanError::internal(format!(
            "{} has no property #{id} of set #{}",
            set.name,
            id.set()
        ))
    })
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

/// Options that OData defines and this server does not implement: 501, never ignored.
const NOT_IMPLEMENTED: &[&str] = &[
    "$search",
    "$compute",
    "$deltatoken",
    "$schemaversion",
    "$id",
];

fn check_unsupported(options: &QueryOptions) -> Result<(), PlanError> {
    if let Some((name, _)) = options
        .raw
        .iter()
        .find(|(n, _)| NOT_IMPLEMENTED.contains(&n.as_str()))
    {
        return Err(PlanError::not_implemented(
            name,
            None,
            "this query option is not supported by this server",
        ));
    }
    if options.apply.is_some() {
        return Err(PlanError::not_implemented(
            "$apply",
            None,
            "$apply is supported on entity set collections only",
        ));
    }
    if options.index.is_some() {
        return Err(PlanError::not_implemented(
            "$index",
            None,
            "$index applies to collections being modified",
        ));
    }
    Ok(())
}

/// The raw text of an option kept as text by `uri` (`$skiptoken`, `$format`).
pub fn raw_option<'o>(options: &'o QueryOptions, name: &str) -> Option<&'o str> {
    options
        .raw
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

impl Limits {
    /// Rows per page: the client's `Prefer: odata.maxpagesize`, else `page_size`,
    /// never more than `max_page_size`.
    pub fn page_size(&self, preferred: Option<u64>) -> u64 {
        preferred.unwrap_or(self.page_size).min(self.max_page_size)
    }
}

/// Turns parsed requests into [`QueryPlan`]s: validates every limit (one pass over
/// the syntax trees, [`validate`]), then binds names and types against the model.
pub struct Planner<'a> {
    pub model: &'a Model,
    pub limits: &'a Limits,
    /// The instant `now()` means for this request.
    pub now: DateTime<Utc>,
    /// Whether a property of a set has an index on `(tenant_id, property, id)`
    /// (see [`Planner::collection`]); by default none has.
    pub time_index: &'a dyn Fn(PropertyId) -> bool,
}

impl<'a> Planner<'a> {
    pub fn new(model: &'a Model, limits: &'a Limits) -> Planner<'a> {
        Planner {
            model,
            limits,
            now: Utc::now(),
            time_index: &|_| false,
        }
    }

    pub fn with_time_index(mut self, time_index: &'a dyn Fn(PropertyId) -> bool) -> Self {
        self.time_index = time_index;
        self
    }

    fn set(&self, set_index: SetId) -> Result<&'a EntitySet, PlanError> {
        set_of(self.model, set_index)
    }

    /// Resolves `Set('key')/Nav/Nav('key')...`: each name must be a navigation
    /// property of the set reached so far, and a key may follow only a collection.
    pub fn resolve(
        &self,
        set_index: SetId,
        key: Option<String>,
        navigations: &[PathNavigation],
    ) -> Result<Resolved, PlanError> {
        let Some((first, rest)) = navigations.split_first() else {
            let single = key.is_some();
            return Ok(Resolved {
                set: set_index,
                within: None,
                key,
                single,
            });
        };
        let Some(root_key) = key else {
            return Err(PlanError::invalid(
                "",
                None,
                format!(
                    "'{}' follows a collection: address one entity first, e.g. {}('key')/{}",
                    first.name,
                    self.set(set_index)?.name,
                    first.name
                ),
            ));
        };
        let mut within = Within {
            set: set_index,
            key: root_key,
            steps: Vec::new(),
        };
        let mut current = set_index;
        let mut single = true;
        let mut last_key = None;
        for (i, segment) in std::iter::once(first).chain(rest).enumerate() {
            let set = self.set(current)?;
            let Some(nav) = set.navigation(&segment.name) else {
                let names: Vec<&str> = set.navigations.iter().map(|n| n.name.as_str()).collect();
                return Err(PlanError::invalid(
                    "",
                    None,
                    format!(
                        "'{}' is not a navigation property of {}; it has {}",
                        segment.name,
                        set.name,
                        names.join(", ")
                    ),
                ));
            };
            if i > 0 && !single {
                return Err(PlanError::invalid(
                    "",
                    None,
                    format!(
                        "'{}' follows a collection: address one entity first with a key",
                        segment.name
                    ),
                ));
            }
            if segment.key.is_some() && !nav.collection {
                return Err(PlanError::invalid(
                    "",
                    None,
                    format!("'{}' is a single entity and takes no key", segment.name),
                ));
            }
            let join =
                bind::navigation_join(self.model, current, &segment.name)?.ok_or_else(|| {
                    PlanError::not_implemented(
                        "",
                        None,
                        format!("'{}' has no referential constraint to follow", segment.name),
                    )
                })?;
            if join.on.len() != 1 {
                return Err(PlanError::not_implemented(
                    "",
                    None,
                    "navigation with a composite join is not supported",
                ));
            }
            // The previous step's key moves onto that step now that another follows.
            if let (Some(step), Some(k)) = (within.steps.last_mut(), last_key.take()) {
                step.key = Some(k);
            }
            current = join.set;
            within.steps.push(Step { join, key: None });
            single = !nav.collection || segment.key.is_some();
            last_key = segment.key.clone();
        }
        Ok(Resolved {
            set: current,
            within: Some(within),
            key: last_key,
            single,
        })
    }

    /// Checks every limit on the request, before anything is bound.
    fn validate(&self, options: &QueryOptions) -> Result<(), PlanError> {
        check_unsupported(options)?;
        self.validate_limits(options)
    }

    /// The limits of [`Planner::validate`], without refusing `$apply`.
    fn validate_limits(&self, options: &QueryOptions) -> Result<(), PlanError> {
        validate::validate(
            &validate::Level {
                filter: options.filter.as_ref(),
                orderby: options.orderby.as_deref(),
                expand: options.expand.as_deref(),
                aliases: options.aliases.iter().collect(),
                apply: options.apply.as_deref(),
            },
            self.limits,
            0,
        )
    }

    /// A page of a collection, `page_size` rows at most (`$top` may ask for fewer).
    ///
    /// Without `$orderby`, OData leaves the order to the service. When the filter
    /// bounds a property with an index on `(tenant_id, property, id)` (a comparison
    /// with a constant among its top-level `and` terms), pages are read in that
    /// index's order, `(property, id)`, so the range is read as one slice of the
    /// index instead of walking the key order and testing every row; without a
    /// filter, pages follow the first such index on a non-null time column (see
    /// [`default_time_order`]). The skiptoken then carries both values; every row is
    /// still read exactly once.
    pub fn collection(
        &self,
        set_index: SetId,
        tenant: &str,
        options: &QueryOptions,
        page_size: u64,
    ) -> Result<QueryPlan, PlanError> {
        self.collection_within(set_index, None, tenant, options, page_size)
    }

    /// [`Planner::collection`] of the entities a navigation path leads to.
    pub fn collection_within(
        &self,
        set_index: SetId,
        within: Option<Within>,
        tenant: &str,
        options: &QueryOptions,
        page_size: u64,
    ) -> Result<QueryPlan, PlanError> {
        self.validate(options)?;
        let (model, now) = (self.model, self.now);
        let set = self.set(set_index)?;
        let expand = expand::bind_expand(model, set_index, tenant, options, now)?;
        let expanded: Vec<String> = expand.iter().map(|e| e.nav.clone()).collect();
        let (select, select_explicit) = bind_select(set, options.select.as_ref(), &expanded)?;
        let filter = match &options.filter {
            Some(expr) => Some(
                Binder::new(model, set_index, "$filter", &options.aliases, now)
                    .bind_predicate(expr)?,
            ),
            None => None,
        };
        let mut order = bind_orderby(
            model,
            set_index,
            options.orderby.as_ref(),
            &options.aliases,
            now,
        )?;
        if options.orderby.is_none() {
            let key = match &filter {
                Some(f) => index_order(f, set_index, self.time_index),
                None => default_time_order(set, self.time_index),
            };
            if let Some(key) = key {
                order.insert(0, key);
            }
        }
        let skiptoken = raw_option(options, "$skiptoken");
        let after = match skiptoken {
            Some(token) => Some(decode_skiptoken(token, tenant, &order)?),
            None => None,
        };
        Ok(QueryPlan {
            set: set_index,
            tenant: tenant.to_string(),
            select,
            select_explicit,
            filter,
            order,
            key: None,
            within,
            after,
            // A continuation page has already skipped: the keyset position includes it.
            skip: if skiptoken.is_some() {
                0
            } else {
                options.skip.unwrap_or(0)
            },
            page_rows: Some(options.top.map_or(page_size, |top| top.min(page_size))),
            count: options.count == Some(true),
            expand,
            time_limit: self.limits.statement_timeout(),
        })
    }

    /// The number of matching rows of a collection (`/$count`): only `$filter`
    /// (and its aliases) applies.
    pub fn count(
        &self,
        set_index: SetId,
        within: Option<Within>,
        tenant: &str,
        options: &QueryOptions,
    ) -> Result<QueryPlan, PlanError> {
        let not_applicable = [
            options.select.is_some().then_some("$select"),
            options.expand.is_some().then_some("$expand"),
            options.orderby.is_some().then_some("$orderby"),
            options.top.is_some().then_some("$top"),
            options.skip.is_some().then_some("$skip"),
            options.count.is_some().then_some("$count"),
            raw_option(options, "$skiptoken").map(|_| "$skiptoken"),
        ];
        if let Some(option) = not_applicable.into_iter().flatten().next() {
            return Err(PlanError::invalid(
                option,
                None,
                "does not apply to /$count",
            ));
        }
        let mut plan = self.collection_within(set_index, within, tenant, options, 0)?;
        plan.count = true;
        Ok(plan)
    }

    /// A single entity by key (`Calls('id')`), or the one a navigation path leads to
    /// (`Calls('id')/Channel`): `$select` and `$expand` apply.
    pub fn entity(
        &self,
        set_index: SetId,
        within: Option<Within>,
        tenant: &str,
        key: Option<&str>,
        options: &QueryOptions,
    ) -> Result<QueryPlan, PlanError> {
        self.validate(options)?;
        let set = self.set(set_index)?;
        let extra = [
            options.filter.is_some().then_some("$filter"),
            options.orderby.is_some().then_some("$orderby"),
            options.top.is_some().then_some("$top"),
            options.skip.is_some().then_some("$skip"),
            options.count.is_some().then_some("$count"),
            raw_option(options, "$skiptoken").map(|_| "$skiptoken"),
        ];
        if let Some(name) = extra.into_iter().flatten().next() {
            return Err(PlanError::invalid(
                name,
                None,
                "this option does not apply to a single entity",
            ));
        }
        let expand = expand::bind_expand(self.model, set_index, tenant, options, self.now)?;
        let expanded: Vec<String> = expand.iter().map(|e| e.nav.clone()).collect();
        let (select, select_explicit) = bind_select(set, options.select.as_ref(), &expanded)?;
        Ok(QueryPlan {
            set: set_index,
            tenant: tenant.to_string(),
            select,
            select_explicit,
            filter: None,
            order: vec![key_order(set)],
            key: key.map(str::to_string),
            within,
            after: None,
            skip: 0,
            page_rows: Some(1),
            count: false,
            expand,
            time_limit: self.limits.statement_timeout(),
        })
    }
}

/// The index order for a filter: the first top-level `and` term that compares an
/// indexed column of the set with a non-null constant. The key is marked not
/// nullable: the comparison already excludes nulls, and so the order needs no NULLS
/// clause that an index in default order could not serve.
fn index_order(
    filter: &Bound,
    set_index: SetId,
    time_index: &dyn Fn(PropertyId) -> bool,
) -> Option<OrderKey> {
    match filter {
        Bound::And(left, right) => index_order(left, set_index, time_index)
            .or_else(|| index_order(right, set_index, time_index)),
        Bound::Compare { op, left, right } => {
            // `ne` keeps nulls (OData: null ne 5 is true), so it cannot drop them.
            if *op == expr::CmpOp::Ne {
                return None;
            }
            let (column, constant) = match (left.as_ref(), right.as_ref()) {
                (Bound::Column(c, ty), Bound::Const(k, _)) => ((c, ty), k),
                (Bound::Const(k, _), Bound::Column(c, ty)) => ((c, ty), k),
                _ => return None,
            };
            let (c, ty) = column;
            let indexed = c.scope == ScopeId::ROOT
                && c.set == set_index
                && c.utc_twin.is_none()
                && !matches!(constant, Value::Null)
                && time_index(c.property);
            indexed.then(|| OrderKey {
                expr: Bound::Column(
                    ColumnRef {
                        nullable: false,
                        ..c.clone()
                    },
                    *ty,
                ),
                descending: false,
            })
        }
        _ => None,
    }
}

/// The order of an unfiltered read without `$orderby`: the first non-null UTC time
/// column with an index on `(tenant_id, column, id)`, if the set has one. Rows are
/// stored roughly in the order they happen, so reading in time order reads the
/// table nearly sequentially, where the key order (random ids) costs a random row
/// lookup per row.
fn default_time_order(
    set: &EntitySet,
    time_index: &dyn Fn(PropertyId) -> bool,
) -> Option<OrderKey> {
    let (property, _) = set.properties_by_id().find(|&(id, p)| {
        p.storage == crate::edm::Storage::UtcInstant && !p.nullable && time_index(id)
    })?;
    Some(OrderKey {
        expr: Bound::Column(
            ColumnRef {
                scope: ScopeId::ROOT,
                set: set.id(),
                property,
                nullable: false,
                utc_twin: None,
            },
            Ty::DateTimeOffset,
        ),
        descending: false,
    })
}

fn key_order(set: &EntitySet) -> OrderKey {
    OrderKey {
        expr: Bound::Column(
            ColumnRef {
                scope: ScopeId::ROOT,
                set: set.id(),
                property: set.key,
                nullable: false,
                utc_twin: None,
            },
            Ty::String,
        ),
        descending: false,
    }
}

fn bind_select(
    set: &EntitySet,
    select: Option<&Vec<SelectItem>>,
    expanded: &[String],
) -> Result<(Vec<PropertyId>, bool), PlanError> {
    let Some(items) = select else {
        return Ok((set.property_ids().collect(), false));
    };
    let mut out: Vec<PropertyId> = Vec::new();
    let mut star = false;
    for item in items {
        match &item.kind {
            SelectKind::Star => star = true,
            SelectKind::Path {
                segments,
                parameters: None,
                options: None,
            } if segments.len() == 1 => {
                let SegmentKind::Name(name) = &segments[0].kind else {
                    return Err(PlanError::invalid(
                        "$select",
                        Some(item.span),
                        "expected a property name",
                    ));
                };
                match set.property_id(name) {
                    Some(i) => {
                        if !out.contains(&i) {
                            out.push(i);
                        }
                    }
                    // Power Query selects the navigation it expands, and generated
                    // clients select navigation properties without expanding them: it
                    // adds no column (full metadata writes the navigation link anyway).
                    None if expanded.iter().any(|e| e == name)
                        || set.navigation(name).is_some() => {}
                    None => {
                        return Err(PlanError::invalid(
                            "$select",
                            Some(item.span),
                            bind::unknown_property(set, name),
                        ));
                    }
                }
            }
            _ => {
                return Err(PlanError::not_implemented(
                    "$select",
                    Some(item.span),
                    "only property names and * can be selected",
                ));
            }
        }
    }
    if star {
        return Ok((set.property_ids().collect(), false));
    }
    Ok((out, true))
}

fn bind_orderby(
    model: &Model,
    set_index: SetId,
    orderby: Option<&Vec<OrderByItem>>,
    aliases: &[Alias],
    now: DateTime<Utc>,
) -> Result<Vec<OrderKey>, PlanError> {
    let set = set_of(model, set_index)?;
    let mut keys: Vec<OrderKey> = Vec::new();
    if let Some(items) = orderby {
        for item in items {
            let mut binder = Binder::new(model, set_index, "$orderby", aliases, now);
            let expr = bind::twin(binder.bind(&item.expr)?);
            if expr.ty().is_none() {
                continue; // sorting by a constant null changes nothing
            }
            // A repeated key adds nothing to the order; OData allows it, so skip it.
            if !keys.iter().any(|k| k.expr == expr) {
                keys.push(OrderKey {
                    expr,
                    descending: item.direction == crate::uri::Direction::Desc,
                });
            }
        }
    }
    if !keys.iter().any(|k| k.column() == Some(set.key)) {
        keys.push(key_order(set));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::decode_query_string;

    fn plan(set: &str, query: &str) -> Result<QueryPlan, PlanError> {
        let model = Model::load().unwrap();
        let idx = model.set_id(set).unwrap();
        let options = QueryOptions::parse(decode_query_string(query).unwrap()).unwrap();
        Planner::new(&model, &Limits::default()).collection(idx, "t1", &options, u64::MAX)
    }

    /// A model of one set, for ids that the full model has and it does not.
    const ONE_SET: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="t" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="Call">
        <Key><PropertyRef Name="id"/></Key>
        <Property Name="id" Type="Edm.String" Nullable="false"/>
      </EntityType>
      <EntityContainer Name="Feed">
        <EntitySet Name="Calls" EntityType="t.Call"/>
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>"#;

    #[test]
    fn a_set_id_the_model_does_not_have_is_an_internal_error() {
        let full = Model::load().unwrap();
        let small = Model::from_xml(ONE_SET).unwrap();
        let foreign = full.set_id("Queues").unwrap();
        assert!(small.set(foreign).is_none());
        let limits = Limits::default();
        let planner = Planner::new(&small, &limits);
        let options = QueryOptions::default();
        let e = planner.collection(foreign, "t1", &options, 10).unwrap_err();
        assert_eq!(e.kind, PlanErrorKind::Internal, "{e}");
        let e = planner
            .entity(foreign, None, "t1", Some("k"), &options)
            .unwrap_err();
        assert_eq!(e.kind, PlanErrorKind::Internal, "{e}");
        let e = planner
            .resolve(
                foreign,
                Some("k".into()),
                &[PathNavigation {
                    name: "Calls".into(),
                    key: None,
                }],
            )
            .unwrap_err();
        assert_eq!(e.kind, PlanErrorKind::Internal, "{e}");
        // The context URL of an expansion whose plan names a property of another set.
        let mut p = plan("Calls", "$expand=Channel").unwrap();
        let calls = full.entity_set("Calls").unwrap();
        let expand = &mut p.expand[0];
        assert!(expand.context_fragment(&full).is_ok());
        expand.plan.select = vec![calls.key];
        expand.plan.select_explicit = true;
        let e = expand.context_fragment(&full).unwrap_err();
        assert_eq!(e.kind, PlanErrorKind::Internal, "{e}");
    }

    #[test]
    fn case_values_share_one_type() {
        let p = plan("Calls", "$filter=case(holdCount gt 1:1,true:2.5) gt 1").unwrap();
        let filter = p.filter.expect("filter").to_string();
        assert!(filter.starts_with("(case("), "{filter}");
        let e = plan("Calls", "$filter=case(holdCount gt 1:1,true:'x') eq 1").unwrap_err();
        assert_eq!(e.kind, PlanErrorKind::Invalid);
        assert!(e.to_string().contains("one type"), "{e}");
        let e = plan("Calls", "$filter=case(holdCount:1) eq 1").unwrap_err();
        assert_eq!(
            e.kind,
            PlanErrorKind::Invalid,
            "a condition must be Boolean"
        );
    }

    #[test]
    fn default_order_is_the_key() {
        let model = Model::load().unwrap();
        let p = plan("Calls", "").unwrap();
        let calls = model.entity_set("Calls").unwrap();
        assert_eq!(p.order.len(), 1);
        assert_eq!(p.order[0].column(), Some(calls.key));
        assert_eq!(p.select.len(), calls.properties.len());
        assert!(!p.select_explicit);
    }

    #[test]
    fn local_timestamps_sort_by_their_utc_twin() {
        let model = Model::load().unwrap();
        let calls = model.entity_set("Calls").unwrap();
        let p = plan("Calls", "$orderby=startedAt desc").unwrap();
        assert_eq!(p.order[0].column(), calls.property_id("startedAtUtc"));
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

    #[test]
    fn filters_are_bound_and_type_checked() {
        let p = plan(
            "Calls",
            "$filter=holdCount gt 2 and startedAt ge 2026-01-01T00:00:00%2B01:00",
        )
        .unwrap();
        let calls = Model::load().unwrap();
        let calls = calls.entity_set("Calls").unwrap();
        let hold = calls.property_id("holdCount").unwrap();
        let started_utc = calls.property_id("startedAtUtc").unwrap();
        assert_eq!(
            p.filter.unwrap().to_string(),
            format!("(($0.{hold} gt 2) and ($0.{started_utc} ge 2025-12-31T23:00:00.000Z))")
        );
        let e = plan("Calls", "$filter=holdCount eq 'x'").unwrap_err();
        assert_eq!(
            e.to_string(),
            "$filter: cannot compare Edm.Int32 with Edm.String at 0..16"
        );
        let e = plan("Calls", "$filter=contains(holdCount,'1')").unwrap_err();
        assert!(
            e.to_string()
                .contains("argument 1 of contains must be Edm.String"),
            "{e}"
        );
        let e = plan("Calls", "$filter=length(id,id) eq 1").unwrap_err();
        assert!(
            e.to_string().contains("length takes 1 argument, found 2"),
            "{e}"
        );
        let e = plan("Calls", "$filter=duration eq 1").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("$filter: 'duration' is not a property of Calls"),
            "{e}"
        );
        assert_eq!(e.span.map(|s| (s.start, s.end)), Some((0, 8)));
        let e = plan("Calls", "$orderby=QueueSegments").unwrap_err();
        assert_eq!(e.kind, PlanErrorKind::Invalid);
        assert!(plan("Calls", "$filter=holdCount").is_err());
        assert!(
            plan(
                "Conversations",
                "$filter=QueueSegments/any(s:s/durationInSeconds gt 30)"
            )
            .is_ok()
        );
    }
}
