//! The one validation pass: every limit that protects the server, checked on the
//! syntax trees of a request before anything is bound, wherever an expression sits
//! (top-level `$filter` and `$orderby`, the options nested in `$expand` at any level,
//! parameter-alias values).
//!
//! Expressions are measured as they will be bound: an alias counts as the tree it
//! stands for, so `@a2=@a1 and @a1` doubles the nodes of `@a1`. Measures of aliases
//! are remembered, so a chain that would expand to millions of nodes is measured in
//! steps proportional to its text, and refused before the binder builds any of it.

use std::collections::HashMap;

use super::{Limits, PlanError};
use crate::uri::apply::{Transformation, TransformationKind};
use crate::uri::{Alias, BinaryOp, ExpandItem, Expr, ExprKind, OrderByItem, SegmentKind};

/// The nested options of one level of a request, as the validator sees them.
pub(crate) struct Level<'a> {
    pub filter: Option<&'a Expr>,
    pub orderby: Option<&'a [OrderByItem]>,
    pub expand: Option<&'a [ExpandItem]>,
    pub aliases: Vec<&'a Alias>,
    /// `$apply`, at the top level only.
    pub apply: Option<&'a [Transformation]>,
}

/// Checks every limit of `limits` on a request level and all levels below it.
/// `expand_depth` is the number of `$expand` levels above this one.
pub(crate) fn validate(
    level: &Level<'_>,
    limits: &Limits,
    expand_depth: usize,
) -> Result<(), PlanError> {
    let mut measurer = Measurer {
        aliases: &level.aliases,
        known: HashMap::new(),
        open: Vec::new(),
    };
    for alias in &level.aliases {
        let m = measurer.alias(&alias.name);
        check(&format!("@{}", alias.name), &alias.value, m, limits, false)?;
    }
    if let Some(apply) = level.apply {
        validate_apply(apply, &mut measurer, limits)?;
    }
    if let Some(filter) = level.filter {
        let m = measurer.expr(filter);
        check("$filter", filter, m, limits, true)?;
    }
    if let Some(items) = level.orderby {
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
            let m = measurer.expr(&item.expr);
            check("$orderby", &item.expr, m, limits, true)?;
        }
    }
    let Some(items) = level.expand else {
        return Ok(());
    };
    if expand_depth >= limits.max_expand_depth {
        return Err(PlanError::invalid(
            "$expand",
            items.first().map(|i| i.span),
            format!(
                "$expand is limited to {} level{} (setting max_expand_depth)",
                limits.max_expand_depth,
                if limits.max_expand_depth == 1 {
                    ""
                } else {
                    "s"
                }
            ),
        ));
    }
    for item in items {
        let nested = &item.options;
        let mut aliases: Vec<&Alias> = nested.aliases.iter().collect();
        aliases.extend(level.aliases.iter().copied());
        validate(
            &Level {
                filter: nested.filter.as_ref(),
                orderby: nested.orderby.as_deref(),
                expand: nested.expand.as_deref(),
                aliases,
                apply: None,
            },
            limits,
            expand_depth + 1,
        )?;
    }
    Ok(())
}

/// `$apply`: every expression within the depth limit, all of them together within
/// `max_filter_nodes`, and at most `max_aggregates` aggregates and `max_group_keys`
/// grouping paths in each transformation. The parser has already bounded the
/// nesting of transformations (`concat`, `groupby`) by `max_depth`.
fn validate_apply(
    apply: &[Transformation],
    measurer: &mut Measurer<'_>,
    limits: &Limits,
) -> Result<(), PlanError> {
    let mut nodes = 0usize;
    let mut exprs: Vec<&Expr> = Vec::new();
    let mut pending: Vec<&Transformation> = apply.iter().collect();
    while let Some(t) = pending.pop() {
        nodes = nodes.saturating_add(1);
        match &t.kind {
            TransformationKind::Aggregate(items) => {
                if items.len() > limits.max_aggregates {
                    return Err(PlanError::invalid(
                        "$apply",
                        Some(t.span),
                        format!(
                            "{} aggregates in one transformation, the limit is {} (setting max_aggregates)",
                            items.len(),
                            limits.max_aggregates
                        ),
                    ));
                }
                exprs.extend(items.iter().filter_map(|i| i.expr.as_ref()));
            }
            TransformationKind::GroupBy { paths, then } => {
                if paths.len() > limits.max_group_keys {
                    return Err(PlanError::invalid(
                        "$apply",
                        Some(t.span),
                        format!(
                            "{} grouping paths, the limit is {} (setting max_group_keys)",
                            paths.len(),
                            limits.max_group_keys
                        ),
                    ));
                }
                exprs.extend(paths);
                pending.extend(then);
            }
            TransformationKind::Filter(e) | TransformationKind::TopCount { expr: e, .. } => {
                exprs.push(e)
            }
            TransformationKind::Compute(items) => {
                if items.len() > limits.max_aggregates {
                    return Err(PlanError::invalid(
                        "$apply",
                        Some(t.span),
                        format!(
                            "{} computed properties in one transformation, the limit is {} (setting max_aggregates)",
                            items.len(),
                            limits.max_aggregates
                        ),
                    ));
                }
                exprs.extend(items.iter().map(|i| &i.expr));
            }
            TransformationKind::OrderBy(items) => {
                if items.len() > limits.max_orderby_keys {
                    return Err(PlanError::invalid(
                        "$apply",
                        Some(t.span),
                        format!(
                            "{} sort keys given, the limit is {} (setting max_orderby_keys)",
                            items.len(),
                            limits.max_orderby_keys
                        ),
                    ));
                }
                exprs.extend(items.iter().map(|i| &i.expr));
            }
            TransformationKind::Concat(seqs) => pending.extend(seqs.iter().flatten()),
            TransformationKind::Top(_)
            | TransformationKind::Skip(_)
            | TransformationKind::Identity
            | TransformationKind::Other(_) => {}
        }
    }
    for e in exprs {
        let m = measurer.expr(e);
        check("$apply", e, m, limits, false)?;
        nodes = nodes.saturating_add(m.nodes);
    }
    if nodes > limits.max_filter_nodes {
        return Err(PlanError::invalid(
            "$apply",
            None,
            format!(
                "$apply has {nodes} nodes with its aliases expanded, more than the limit of {} (setting max_filter_nodes)",
                limits.max_filter_nodes
            ),
        ));
    }
    Ok(())
}

/// Depth and node count of an expression with its aliases expanded.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Measure {
    depth: usize,
    nodes: usize,
}

fn check(
    option: &str,
    expr: &Expr,
    m: Measure,
    limits: &Limits,
    count_nodes: bool,
) -> Result<(), PlanError> {
    if m.depth > limits.max_depth {
        return Err(PlanError::invalid(
            option,
            Some(expr.span),
            format!(
                "the expression nests {} levels deep, more than the limit of {} (setting max_depth)",
                m.depth, limits.max_depth
            ),
        ));
    }
    if count_nodes && m.nodes > limits.max_filter_nodes {
        return Err(PlanError::invalid(
            option,
            Some(expr.span),
            format!(
                "the expression has {} nodes with its aliases expanded, more than the limit of {} (setting max_filter_nodes)",
                m.nodes, limits.max_filter_nodes
            ),
        ));
    }
    Ok(())
}

struct Measurer<'a> {
    aliases: &'a [&'a Alias],
    known: HashMap<String, Measure>,
    /// Aliases being measured (a cycle is the binder's error to report).
    open: Vec<String>,
}

impl Measurer<'_> {
    fn alias(&mut self, name: &str) -> Measure {
        if let Some(m) = self.known.get(name) {
            return *m;
        }
        // Later definitions do not override earlier ones: the first one binds.
        let Some(alias) = self.aliases.iter().find(|a| a.name == name) else {
            return Measure { depth: 1, nodes: 1 };
        };
        if self.open.iter().any(|n| n == name) {
            return Measure { depth: 1, nodes: 1 };
        }
        self.open.push(name.to_string());
        let m = self.expr(&alias.value);
        self.open.pop();
        self.known.insert(name.to_string(), m);
        m
    }

    fn expr(&mut self, e: &Expr) -> Measure {
        if let ExprKind::Alias(name) = &e.kind {
            return self.alias(name);
        }
        let mut nodes: usize = 1;
        let mut depth: usize = 1;
        let mut child = |this: &mut Self, c: &Expr, same_chain: bool| {
            let m = this.expr(c);
            nodes = nodes.saturating_add(m.nodes);
            let d = if same_chain { m.depth } else { m.depth + 1 };
            depth = depth.max(d);
        };
        match &e.kind {
            ExprKind::Literal(_) | ExprKind::Alias(_) => {}
            ExprKind::Path(segments) => {
                for s in segments {
                    if let SegmentKind::Function { params, .. } = &s.kind {
                        for (_, p) in params {
                            child(self, p, false);
                        }
                    }
                }
            }
            ExprKind::Call { args, .. } | ExprKind::List(args) | ExprKind::Array(args) => {
                for a in args {
                    child(self, a, false);
                }
            }
            ExprKind::Object(members) => {
                for (_, m) in members {
                    child(self, m, false);
                }
            }
            ExprKind::Lambda {
                path, predicate, ..
            } => {
                for s in path {
                    if let SegmentKind::Function { params, .. } = &s.kind {
                        for (_, p) in params {
                            child(self, p, false);
                        }
                    }
                }
                if let Some(p) = predicate {
                    child(self, p, false);
                }
            }
            ExprKind::Unary { operand, .. } => child(self, operand, false),
            ExprKind::Binary { op, left, right } => {
                for side in [left, right] {
                    // `a and b and c` is one chain: it counts as one level, so a long
                    // list filter is not mistaken for deep nesting.
                    let target = match &side.kind {
                        ExprKind::Alias(name) => self
                            .aliases
                            .iter()
                            .find(|a| &a.name == name)
                            .map(|a| &a.value),
                        _ => Some(&**side),
                    };
                    let same_chain = matches!(op, BinaryOp::And | BinaryOp::Or)
                        && matches!(target.map(|t| &t.kind), Some(ExprKind::Binary { op: inner, .. }) if inner == op);
                    child(self, side, same_chain);
                }
            }
            ExprKind::Cast { expr, .. } | ExprKind::IsOf { expr, .. } => {
                if let Some(x) = expr {
                    child(self, x, false);
                }
            }
            ExprKind::Case(branches) => {
                for (condition, value) in branches {
                    child(self, condition, false);
                    child(self, value, false);
                }
            }
        }
        Measure { depth, nodes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::{QueryOptions, decode_query_string};

    fn level_of(query: &str, limits: &Limits) -> Result<(), PlanError> {
        let options = QueryOptions::parse(decode_query_string(query).unwrap()).unwrap();
        validate(
            &Level {
                filter: options.filter.as_ref(),
                orderby: options.orderby.as_deref(),
                expand: options.expand.as_deref(),
                aliases: options.aliases.iter().collect(),
                apply: options.apply.as_deref(),
            },
            limits,
            0,
        )
    }

    #[test]
    fn aliases_count_as_the_trees_they_stand_for() {
        let limits = Limits {
            max_filter_nodes: 100,
            ..Limits::default()
        };
        // 3 nodes doubled five times is over 100 once expanded, under it as written.
        let mut query = String::from("@a1=holdCount gt 0");
        for i in 2..=6 {
            query.push_str(&format!("&@a{i}=@a{} and @a{}", i - 1, i - 1));
        }
        query.push_str("&$filter=@a6");
        let e = level_of(&query, &limits).unwrap_err();
        assert!(e.message.contains("max_filter_nodes"), "{e}");
        assert!(level_of("@a1=holdCount gt 0&$filter=@a1 and @a1", &limits).is_ok());
    }

    #[test]
    fn nested_expand_filters_are_measured() {
        let limits = Limits {
            max_filter_nodes: 5,
            max_expand_depth: 2,
            ..Limits::default()
        };
        let e = level_of(
            "$expand=QueueSegments($filter=durationInSeconds gt 1 and durationInSeconds lt 9)",
            &limits,
        )
        .unwrap_err();
        assert_eq!(e.option, "$filter");
        assert!(
            level_of(
                "$expand=QueueSegments($filter=durationInSeconds gt 1)",
                &limits
            )
            .is_ok()
        );
    }
}
