//! `$apply` bound into an [`ApplyPlan`]: the rows of one set narrowed by `filter`
//! and extended by `compute`, grouped (`groupby`, or one group with `aggregate`),
//! aggregated, and then narrowed, sorted and paged as a result of its own.
//!
//! The supported pipeline has two stages. Before aggregation: `filter`, `compute`
//! and `identity`, in any order. Then one `aggregate` or `groupby` (whose nested
//! sequence may be one `aggregate`). After it: `filter`, `orderby`,
//! `topcount`/`bottomcount`, `skip`, `top`, `identity`. `$filter`, `$orderby`,
//! `$select`, `$count`, `$skip` and `$top` act on the result (Data Aggregation 3.1).
//! Any other arrangement answers 501 naming the transformation, so nothing is
//! silently evaluated in another order than written.
//!
//! Result types follow the specification: `$count` and `countdistinct` are
//! `Edm.Int64`; `sum` of integers is `Edm.Int64` (exact), of doubles `Edm.Double`;
//! `average` is `Edm.Double` (the model has no decimal columns, and a double is what
//! Power Query and Excel load without conversion); `min` and `max` keep their type.
//! Tenant-local timestamps are aggregated by instant (their UTC twin), but grouped
//! by their local rendering, so `date(startedAt)` is the tenant's calendar day.

use crate::edm::{ColumnKind, SetId};
use crate::uri::apply::{AggregateItem, Transformation, TransformationKind};
use crate::uri::{Expr, ExprKind, QueryOptions, SegmentKind, SelectKind, Span};
use crate::value::Value;

use super::bind::twin;
use super::expr::{Bound, Ty};
use super::{Binder, OrderKey, PlanError, Planner, decode_skiptoken, raw_option};

/// An aggregation method of `aggregate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `$count as alias`: the rows of the group.
    Count,
    Sum,
    Min,
    Max,
    Average,
    CountDistinct,
}

impl Method {
    fn parse(name: &str) -> Option<Method> {
        Some(match name {
            "sum" => Method::Sum,
            "min" => Method::Min,
            "max" => Method::Max,
            "average" => Method::Average,
            "countdistinct" => Method::CountDistinct,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Count => "$count",
            Method::Sum => "sum",
            Method::Min => "min",
            Method::Max => "max",
            Method::Average => "average",
            Method::CountDistinct => "countdistinct",
        }
    }
}

/// One aggregate of the result.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub method: Method,
    /// The aggregated expression over the set's rows; `None` for `$count`.
    pub expr: Option<Bound>,
}

/// A column of the result: a group key or an aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultColumn {
    /// The property name in the response; for a navigation path `Queue/name`, the
    /// navigation (`Queue`) and the property (`name`) nest as `{"Queue":{"name":..}}`.
    pub name: String,
    pub nav: Option<String>,
    pub ty: Ty,
    pub kind: ColumnKind,
    pub nullable: bool,
}

/// An `$apply` request, bound.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyPlan {
    pub set: SetId,
    pub tenant: String,
    /// Rows taken into the aggregation.
    pub filter: Option<Bound>,
    /// Group keys over the set's rows: result columns `0..groups.len()`.
    pub groups: Vec<Bound>,
    /// Aggregates: the result columns after the groups.
    pub aggregates: Vec<Aggregate>,
    pub columns: Vec<ResultColumn>,
    /// Result rows kept, over [`Bound::Output`] columns.
    pub having: Option<Bound>,
    /// Result positions written to the response, in order.
    pub select: Vec<usize>,
    pub select_explicit: bool,
    /// The result order, total: the requested keys, then every group key.
    pub order: Vec<OrderKey>,
    /// `skip`/`top` inside `$apply`, which `$count` respects.
    pub inner_skip: u64,
    pub inner_top: Option<u64>,
    pub after: Option<Vec<Value>>,
    pub skip: u64,
    pub page_rows: Option<u64>,
    /// The most rows all pages together deliver (`top` and `$top`), for the
    /// remaining `$top` of the next link.
    pub top: Option<u64>,
    pub count: bool,
    /// The statement time limit (`statement_timeout_ms`), as for every read.
    pub time_limit: Option<std::time::Duration>,
}

fn unsupported(t: &Transformation, why: &str) -> PlanError {
    PlanError::not_implemented(
        "$apply",
        Some(t.span),
        format!("the transformation '{}' {why}", t.name()),
    )
}

/// The text of a single-valued path (`channelId`, `Queue/name`), if `e` is one.
fn path_names(e: &Expr) -> Option<Vec<&str>> {
    let ExprKind::Path(segments) = &e.kind else {
        return None;
    };
    segments
        .iter()
        .map(|s| match &s.kind {
            SegmentKind::Name(n) => Some(n.as_str()),
            _ => None,
        })
        .collect()
}

fn result_kind(b: &Bound) -> ColumnKind {
    match b {
        // A tenant-local timestamp is text with its offset.
        Bound::Column(c, Ty::DateTimeOffset) if c.utc_twin.is_some() => ColumnKind::LocalText,
        other => other.read_kind(),
    }
}

impl Planner<'_> {
    /// [`Planner::apply`] for a resource path: `$apply` on a collection reached
    /// through a navigation (`Agents('a')/Workitems`) is not supported.
    pub fn apply_within(
        &self,
        set_index: SetId,
        through_navigation: bool,
        tenant: &str,
        options: &QueryOptions,
        page_size: u64,
    ) -> Result<ApplyPlan, PlanError> {
        if through_navigation {
            return Err(PlanError::not_implemented(
                "$apply",
                None,
                "$apply on a collection reached through a navigation property is not supported; apply it to the entity set and filter",
            ));
        }
        self.apply(set_index, tenant, options, page_size)
    }

    /// A page of the result of `$apply` on a set.
    pub fn apply(
        &self,
        set_index: SetId,
        tenant: &str,
        options: &QueryOptions,
        page_size: u64,
    ) -> Result<ApplyPlan, PlanError> {
        self.validate_limits(options)?;
        let set = self.set(set_index)?;
        let Some(apply) = options.apply.as_deref() else {
            return Err(PlanError::invalid("$apply", None, "no $apply given"));
        };
        if options.expand.is_some() {
            return Err(PlanError::not_implemented(
                "$expand",
                None,
                "$expand together with $apply is not supported",
            ));
        }
        let (model, now, aliases) = (self.model, self.now, &options.aliases[..]);
        let binder = |names: &[(String, Bound)], only: bool| {
            Binder::new(model, set_index, "$apply", aliases, now).with_names(names.to_vec(), only)
        };
        // Stage one: rows.
        let mut filter: Option<Bound> = None;
        let mut computed: Vec<(String, Bound)> = Vec::new();
        let mut steps = apply.iter();
        let aggregation = loop {
            let Some(t) = steps.next() else {
                return Err(PlanError::not_implemented(
                    "$apply",
                    None,
                    "an $apply without aggregate or groupby is not supported",
                ));
            };
            match &t.kind {
                TransformationKind::Identity => {}
                TransformationKind::Filter(e) => {
                    let b = binder(&computed, false).bind_predicate(e)?;
                    filter = Some(match filter.take() {
                        Some(f) => Bound::And(Box::new(f), Box::new(b)),
                        None => b,
                    });
                }
                TransformationKind::Compute(items) => {
                    for item in items {
                        if set.property_id(&item.alias).is_some()
                            || set.navigation(&item.alias).is_some()
                            || computed.iter().any(|(n, _)| *n == item.alias)
                        {
                            return Err(PlanError::invalid(
                                "$apply",
                                Some(item.span),
                                format!("the alias '{}' is already a property", item.alias),
                            ));
                        }
                        let b = binder(&computed, false).bind(&item.expr)?;
                        if b.ty().is_none() {
                            return Err(PlanError::invalid(
                                "$apply",
                                Some(item.span),
                                "a computed property needs a type; null has none",
                            ));
                        }
                        computed.push((item.alias.clone(), b));
                    }
                }
                TransformationKind::Aggregate(_) | TransformationKind::GroupBy { .. } => break t,
                TransformationKind::Other(_) => {
                    return Err(unsupported(t, "is not supported by this server"));
                }
                _ => {
                    return Err(unsupported(
                        t,
                        "is only supported after aggregate or groupby",
                    ));
                }
            }
        };
        // The aggregation.
        let mut groups: Vec<Bound> = Vec::new();
        let mut columns: Vec<ResultColumn> = Vec::new();
        let items: &[AggregateItem] = match &aggregation.kind {
            TransformationKind::Aggregate(items) => items,
            TransformationKind::GroupBy { paths, then } => {
                for path in paths {
                    let names = path_names(path).ok_or_else(|| {
                        PlanError::invalid(
                            "$apply",
                            Some(path.span),
                            "groupby takes property paths such as channelId or Queue/name",
                        )
                    })?;
                    let b = binder(&computed, false).bind(path)?;
                    if matches!(b, Bound::RelatedCount { .. }) {
                        return Err(PlanError::invalid(
                            "$apply",
                            Some(path.span),
                            "groupby needs single-valued paths; this is a collection",
                        ));
                    }
                    let (nav, name) = match names.as_slice() {
                        [nav, name] => (Some(nav.to_string()), name.to_string()),
                        _ => (None, names.join("/")),
                    };
                    let ty = b.ty().unwrap_or(Ty::String);
                    let column = ResultColumn {
                        name,
                        nav,
                        ty,
                        kind: result_kind(&b),
                        nullable: b.nullable(),
                    };
                    if groups.contains(&b) {
                        continue;
                    }
                    columns.push(column);
                    groups.push(b);
                }
                // Keep the properties of one navigation together: they nest in one object.
                let mut order: Vec<usize> = (0..groups.len()).collect();
                order.sort_by_key(|&i| {
                    let first = columns
                        .iter()
                        .position(|c| c.nav.is_some() && c.nav == columns[i].nav)
                        .unwrap_or(i);
                    (first, i)
                });
                groups = order.iter().map(|&i| groups[i].clone()).collect();
                columns = order.iter().map(|&i| columns[i].clone()).collect();
                match then.as_slice() {
                    [] => &[],
                    [
                        Transformation {
                            kind: TransformationKind::Aggregate(items),
                            ..
                        },
                    ] => items,
                    [t, ..] => {
                        return Err(unsupported(
                            t,
                            "inside groupby is not supported; only one aggregate is",
                        ));
                    }
                }
            }
            _ => {
                return Err(PlanError::invalid(
                    "$apply",
                    None,
                    "expected an aggregation",
                ));
            }
        };
        let mut aggregates = Vec::new();
        for item in items {
            if columns
                .iter()
                .any(|c| c.nav.is_none() && c.name == item.alias)
            {
                return Err(PlanError::invalid(
                    "$apply",
                    Some(item.span),
                    format!("the alias '{}' is used twice in the result", item.alias),
                ));
            }
            let (aggregate, ty, nullable) = bind_aggregate(item, &mut binder(&computed, false))?;
            columns.push(ResultColumn {
                name: item.alias.clone(),
                nav: None,
                ty,
                kind: match ty {
                    Ty::Int32 | Ty::Int64 => ColumnKind::Int64,
                    Ty::Double | Ty::Decimal => ColumnKind::Double,
                    Ty::DateTimeOffset => ColumnKind::Instant,
                    Ty::Boolean => ColumnKind::Boolean,
                    _ => ColumnKind::Text,
                },
                nullable,
            });
            aggregates.push(aggregate);
        }
        // Stage two: the result.
        let outputs: Vec<(String, Bound)> = columns
            .iter()
            .enumerate()
            .map(|(position, c)| {
                let name = match &c.nav {
                    Some(nav) => format!("{nav}/{}", c.name),
                    None => c.name.clone(),
                };
                // A tenant-local timestamp key is its text: it sorts, pages and
                // compares as the text it is stored as, never as an instant.
                let ty = if c.kind == ColumnKind::LocalText {
                    Ty::String
                } else {
                    c.ty
                };
                (
                    name,
                    Bound::Output {
                        position,
                        ty,
                        nullable: c.nullable,
                    },
                )
            })
            .collect();
        let result_binder = |option: &'static str| {
            Binder::new(model, set_index, option, aliases, now).with_names(outputs.clone(), true)
        };
        let mut having: Option<Bound> = None;
        let mut order: Vec<OrderKey> = Vec::new();
        let (mut inner_skip, mut inner_top): (u64, Option<u64>) = (0, None);
        let and = |having: &mut Option<Bound>, b: Bound| {
            *having = Some(match having.take() {
                Some(h) => Bound::And(Box::new(h), Box::new(b)),
                None => b,
            });
        };
        for t in steps {
            let paged = inner_skip > 0 || inner_top.is_some();
            match &t.kind {
                TransformationKind::Identity => {}
                TransformationKind::Filter(e) if !paged => {
                    let b = result_binder("$apply").bind_predicate(e)?;
                    and(&mut having, b);
                }
                TransformationKind::OrderBy(items) if !paged => {
                    order.clear();
                    for item in items {
                        order.push(OrderKey {
                            expr: result_binder("$apply").bind(&item.expr)?,
                            descending: item.direction == crate::uri::Direction::Desc,
                        });
                    }
                }
                TransformationKind::TopCount { n, expr, bottom } if !paged => {
                    order = vec![OrderKey {
                        expr: result_binder("$apply").bind(expr)?,
                        descending: !bottom,
                    }];
                    inner_top = Some(*n);
                }
                TransformationKind::Skip(n) if inner_top.is_none() => {
                    inner_skip = inner_skip.saturating_add(*n)
                }
                TransformationKind::Top(n) => {
                    inner_top = Some(inner_top.map_or(*n, |t| t.min(*n)));
                }
                TransformationKind::Other(_) => {
                    return Err(unsupported(t, "is not supported by this server"));
                }
                _ => {
                    return Err(unsupported(
                        t,
                        "is not supported at this place of the sequence",
                    ));
                }
            }
        }
        let paged = inner_skip > 0 || inner_top.is_some();
        if let Some(f) = &options.filter {
            if paged {
                return Err(PlanError::not_implemented(
                    "$filter",
                    None,
                    "$filter after an $apply with top, skip or topcount is not supported",
                ));
            }
            let b = result_binder("$filter").bind_predicate(f)?;
            and(&mut having, b);
        }
        if let Some(items) = &options.orderby {
            if paged {
                return Err(PlanError::not_implemented(
                    "$orderby",
                    None,
                    "$orderby after an $apply with top, skip or topcount is not supported",
                ));
            }
            order.clear();
            for item in items {
                order.push(OrderKey {
                    expr: result_binder("$orderby").bind(&item.expr)?,
                    descending: item.direction == crate::uri::Direction::Desc,
                });
            }
        }
        order.retain(|k| k.expr.ty().is_some());
        for (_, expr) in outputs.iter().take(groups.len()) {
            let expr = expr.clone();
            if !order.iter().any(|k| k.expr == expr) {
                order.push(OrderKey {
                    expr,
                    descending: false,
                });
            }
        }
        let (select, select_explicit) = match &options.select {
            None => ((0..columns.len()).collect(), false),
            Some(items) => {
                let mut out = Vec::new();
                let mut star = false;
                for item in items {
                    let name = match &item.kind {
                        SelectKind::Star => {
                            star = true;
                            continue;
                        }
                        SelectKind::Path { segments, .. } if segments.len() == 1 => {
                            match &segments[0].kind {
                                SegmentKind::Name(n) => n,
                                _ => "",
                            }
                        }
                        _ => "",
                    };
                    let found: Vec<usize> = columns
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| c.nav.as_deref().unwrap_or(&c.name) == name)
                        .map(|(i, _)| i)
                        .collect();
                    if found.is_empty() {
                        return Err(PlanError::invalid(
                            "$select",
                            Some(item.span),
                            "only the properties of the $apply result can be selected",
                        ));
                    }
                    for i in found {
                        if !out.contains(&i) {
                            out.push(i);
                        }
                    }
                }
                out.sort_unstable();
                if star {
                    ((0..columns.len()).collect(), false)
                } else {
                    (out, true)
                }
            }
        };
        let skiptoken = raw_option(options, "$skiptoken");
        let after = match skiptoken {
            Some(token) => Some(decode_skiptoken(token, tenant, &order)?),
            None => None,
        };
        let outer_skip = options.skip.unwrap_or(0);
        // `top` of $apply counts from its own skip; `$skip` and `$top` act after it.
        let top = match (inner_top.map(|t| t.saturating_sub(outer_skip)), options.top) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(ApplyPlan {
            set: set_index,
            tenant: tenant.to_string(),
            filter,
            groups,
            aggregates,
            columns,
            having,
            select,
            select_explicit,
            order,
            inner_skip,
            inner_top,
            after,
            skip: if skiptoken.is_some() {
                0
            } else {
                inner_skip.saturating_add(outer_skip)
            },
            page_rows: Some(top.map_or(page_size, |t| t.min(page_size))),
            top,
            count: options.count == Some(true),
            time_limit: self.limits.statement_timeout(),
        })
    }
}

/// One aggregate with its result type and whether it can be null.
fn bind_aggregate(
    item: &AggregateItem,
    binder: &mut Binder<'_>,
) -> Result<(Aggregate, Ty, bool), PlanError> {
    let (Some(expr), Some(method_name)) = (&item.expr, &item.method) else {
        return Ok((
            Aggregate {
                method: Method::Count,
                expr: None,
            },
            Ty::Int64,
            false,
        ));
    };
    let span: Option<Span> = Some(item.span);
    let method = Method::parse(method_name).ok_or_else(|| {
            PlanError::not_implemented(
                "$apply",
                span,
                format!(
                    "the aggregation method '{method_name}' is not supported; use sum, min, max, average or countdistinct"
                ),
            )
        })?;
    let bound = twin(binder.bind(expr)?);
    if matches!(bound, Bound::RelatedCount { .. }) {
        return Err(PlanError::invalid(
            "$apply",
            span,
            "aggregate a property of the set or of a single-valued navigation",
        ));
    }
    let ty = bound
        .ty()
        .ok_or_else(|| PlanError::invalid("$apply", span, "cannot aggregate an untyped null"))?;
    let result = match method {
        Method::Sum if ty.is_integer() => Ty::Int64,
        Method::Sum if ty.is_numeric() => ty,
        Method::Average if ty.is_numeric() => Ty::Double,
        Method::Min | Method::Max if ty != Ty::Boolean => ty,
        Method::CountDistinct => Ty::Int64,
        _ => {
            return Err(PlanError::invalid(
                "$apply",
                span,
                format!("{} cannot be applied to {ty}", method.name()),
            ));
        }
    };
    let nullable = method != Method::CountDistinct;
    Ok((
        Aggregate {
            method,
            expr: Some(bound),
        },
        result,
        nullable,
    ))
}
