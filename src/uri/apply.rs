//! `$apply` (OData Data Aggregation 4.0): a sequence of transformations separated
//! by `/`, each a name with arguments in parentheses.
//!
//! Expressions inside transformations (`filter(...)`, `compute(... as x)`, the
//! aggregated expression of `aggregate(... with sum as x)`, group paths) are the
//! same `commonExpr` as `$filter`, parsed by [`super::filter`]. A transformation
//! name the grammar defines but this parser does not model (`rollup` inside
//! `groupby`, `search`, `expand`, `nest`, ...) is kept as
//! [`TransformationKind::Other`] with its name, so the planner can answer 501
//! naming it instead of a syntax error.

use std::fmt;

use super::ParseOptions;
use super::ast::{Expr, OrderByItem};
use super::cursor::{Cursor, PResult};
use super::error::{UriError, UriErrorKind};
use super::filter::expr;
use super::options::digits_value;
use super::orderby::orderby_items;
use super::span::Span;

/// One transformation of an `$apply` sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct Transformation {
    pub kind: TransformationKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TransformationKind {
    /// `aggregate(item, ...)`
    Aggregate(Vec<AggregateItem>),
    /// `groupby((path, ...)[, sequence])`
    GroupBy {
        paths: Vec<Expr>,
        then: Vec<Transformation>,
    },
    /// `filter(boolCommonExpr)`
    Filter(Expr),
    /// `compute(expr as alias, ...)`
    Compute(Vec<ComputeItem>),
    /// `orderby(items)`
    OrderBy(Vec<OrderByItem>),
    Top(u64),
    Skip(u64),
    /// `topcount(n, expr)` or `bottomcount(n, expr)`
    TopCount {
        n: u64,
        expr: Expr,
        bottom: bool,
    },
    Identity,
    /// `concat(sequence, sequence, ...)`
    Concat(Vec<Vec<Transformation>>),
    /// A transformation this parser does not model, by name.
    Other(String),
}

/// `expr with method as alias`, or `$count as alias` (`expr` and `method` are `None`).
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateItem {
    pub expr: Option<Expr>,
    pub method: Option<String>,
    pub alias: String,
    pub span: Span,
}

/// `expr as alias` of `compute`.
#[derive(Clone, Debug, PartialEq)]
pub struct ComputeItem {
    pub expr: Expr,
    pub alias: String,
    pub span: Span,
}

impl Transformation {
    /// Nodes of the tree: every transformation, aggregate, group path and
    /// expression node counts, for the planner's limits.
    pub fn node_count(&self) -> usize {
        1 + match &self.kind {
            TransformationKind::Aggregate(items) => items
                .iter()
                .map(|i| 1 + i.expr.as_ref().map_or(0, Expr::node_count))
                .sum(),
            TransformationKind::GroupBy { paths, then } => {
                paths.iter().map(Expr::node_count).sum::<usize>()
                    + then.iter().map(Transformation::node_count).sum::<usize>()
            }
            TransformationKind::Filter(e) => e.node_count(),
            TransformationKind::Compute(items) => {
                items.iter().map(|i| 1 + i.expr.node_count()).sum()
            }
            TransformationKind::OrderBy(items) => items.iter().map(|i| i.expr.node_count()).sum(),
            TransformationKind::TopCount { expr, .. } => expr.node_count(),
            TransformationKind::Concat(seqs) => {
                seqs.iter().flatten().map(Transformation::node_count).sum()
            }
            TransformationKind::Top(_)
            | TransformationKind::Skip(_)
            | TransformationKind::Identity
            | TransformationKind::Other(_) => 0,
        }
    }

    /// The transformation's name as written in `$apply`.
    pub fn name(&self) -> &str {
        match &self.kind {
            TransformationKind::Aggregate(_) => "aggregate",
            TransformationKind::GroupBy { .. } => "groupby",
            TransformationKind::Filter(_) => "filter",
            TransformationKind::Compute(_) => "compute",
            TransformationKind::OrderBy(_) => "orderby",
            TransformationKind::Top(_) => "top",
            TransformationKind::Skip(_) => "skip",
            TransformationKind::TopCount { bottom: false, .. } => "topcount",
            TransformationKind::TopCount { bottom: true, .. } => "bottomcount",
            TransformationKind::Identity => "identity",
            TransformationKind::Concat(_) => "concat",
            TransformationKind::Other(name) => name,
        }
    }
}

/// Parses an `$apply` value.
///
/// ```
/// use ccfeed::uri::apply::parse_apply;
/// let t = parse_apply("filter(holdCount gt 0)/groupby((queueId),aggregate($count as n))").unwrap();
/// assert_eq!(t.len(), 2);
/// assert_eq!(t[1].to_string(), "groupby((queueId),aggregate($count as n))");
/// ```
pub fn parse_apply(value: &str) -> Result<Vec<Transformation>, UriError> {
    parse_apply_with(value, &ParseOptions::default())
}

/// [`parse_apply`] with explicit limits.
pub fn parse_apply_with(
    value: &str,
    options: &ParseOptions,
) -> Result<Vec<Transformation>, UriError> {
    let mut c = Cursor::new(value, options);
    let result =
        sequence(&mut c).and_then(|s| c.expect_end("'/' or the end of $apply").map(|()| s));
    result.map_err(|e| e.in_option("$apply"))
}

/// `transformation *( "/" transformation )`
fn sequence(c: &mut Cursor<'_>) -> PResult<Vec<Transformation>> {
    let mut out = vec![transformation(c)?];
    while c.eat_char('/') {
        out.push(transformation(c)?);
    }
    Ok(out)
}

fn open(c: &mut Cursor<'_>) -> PResult<()> {
    c.bws();
    if c.eat_char('(') {
        c.bws();
        Ok(())
    } else {
        c.expected("'('")
    }
}

fn close(c: &mut Cursor<'_>) -> PResult<()> {
    c.bws();
    if c.eat_char(')') {
        Ok(())
    } else {
        c.expected("')'")
    }
}

fn comma(c: &mut Cursor<'_>) -> bool {
    let save = c.pos;
    c.bws();
    if c.eat_char(',') {
        c.bws();
        true
    } else {
        c.pos = save;
        false
    }
}

/// `RWS word RWS`
fn keyword(c: &mut Cursor<'_>, word: &str) -> PResult<()> {
    let start = c.pos;
    if c.bws() > 0 && c.eat_word(word) && c.bws() > 0 {
        return Ok(());
    }
    c.pos = start;
    c.bws();
    c.expected(&format!("' {word} '"))
}

fn alias(c: &mut Cursor<'_>) -> PResult<String> {
    match c.ident()? {
        Some((name, _)) => Ok(name.to_string()),
        None => c.expected("an alias"),
    }
}

fn transformation(c: &mut Cursor<'_>) -> PResult<Transformation> {
    c.nested(|c| {
        let start = c.pos;
        let Some((name, _)) = c.ident()? else {
            return c.expected("a transformation");
        };
        let kind = match name {
            "identity" => TransformationKind::Identity,
            "aggregate" => {
                open(c)?;
                let mut items = vec![aggregate_item(c)?];
                while comma(c) {
                    items.push(aggregate_item(c)?);
                }
                close(c)?;
                TransformationKind::Aggregate(items)
            }
            "groupby" => {
                c.bws();
                let arguments = c.pos;
                open(c)?;
                if !c.eat_char('(') {
                    return c.expected("'(' and the grouping properties");
                }
                c.bws();
                let mut paths = Vec::new();
                loop {
                    if c.looking_at_word("rollup") {
                        c.pos = arguments;
                        skip_balanced(c)?;
                        return Ok(Transformation {
                            kind: TransformationKind::Other("rollup".into()),
                            span: c.span_from(start),
                        });
                    }
                    paths.push(expr(c)?);
                    if !comma(c) {
                        break;
                    }
                }
                close(c)?;
                let then = if comma(c) { sequence(c)? } else { Vec::new() };
                close(c)?;
                TransformationKind::GroupBy { paths, then }
            }
            "filter" => {
                open(c)?;
                let e = expr(c)?;
                close(c)?;
                TransformationKind::Filter(e)
            }
            "compute" => {
                open(c)?;
                let mut items = vec![compute_item(c)?];
                while comma(c) {
                    items.push(compute_item(c)?);
                }
                close(c)?;
                TransformationKind::Compute(items)
            }
            "orderby" => {
                open(c)?;
                let items = orderby_items(c)?;
                close(c)?;
                TransformationKind::OrderBy(items)
            }
            "top" | "skip" => {
                open(c)?;
                let n = count_argument(c, name)?;
                close(c)?;
                if name == "top" {
                    TransformationKind::Top(n)
                } else {
                    TransformationKind::Skip(n)
                }
            }
            "topcount" | "bottomcount" => {
                open(c)?;
                let n = count_argument(c, name)?;
                if !comma(c) {
                    return c.expected("',' and the expression to rank by");
                }
                let e = expr(c)?;
                close(c)?;
                TransformationKind::TopCount {
                    n,
                    expr: e,
                    bottom: name == "bottomcount",
                }
            }
            "concat" => {
                open(c)?;
                let mut seqs = vec![sequence(c)?];
                while comma(c) {
                    seqs.push(sequence(c)?);
                }
                close(c)?;
                TransformationKind::Concat(seqs)
            }
            other => {
                // Skip the balanced argument list; the planner names it in a 501.
                let other = other.to_string();
                c.bws();
                if c.peek() == Some('(') {
                    skip_balanced(c)?;
                }
                TransformationKind::Other(other)
            }
        };
        Ok(Transformation {
            kind,
            span: c.span_from(start),
        })
    })
}

fn count_argument(c: &mut Cursor<'_>, name: &str) -> PResult<u64> {
    let start = c.pos;
    let len = c.rest().bytes().take_while(u8::is_ascii_digit).count();
    let text = c.rest().get(..len).unwrap_or("");
    let n = digits_value(name, text, start).map_err(|mut e| {
        e.option.clear();
        e
    })?;
    c.advance(len);
    Ok(n)
}

/// Skips `( ... )` with nested parentheses and quoted strings.
fn skip_balanced(c: &mut Cursor<'_>) -> PResult<()> {
    let start = c.pos;
    let mut depth = 0usize;
    let mut quoted = false;
    for (i, ch) in c.rest().char_indices() {
        match ch {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    c.advance(i + 1);
                    return Ok(());
                }
            }
            _ => {}
        }
    }
    Err(UriError::new(
        UriErrorKind::Syntax,
        "unbalanced parentheses",
        Span::new(start, c.src.len()),
    ))
}

fn aggregate_item(c: &mut Cursor<'_>) -> PResult<AggregateItem> {
    let start = c.pos;
    if c.eat_word("$count") {
        keyword(c, "as")?;
        let alias = alias(c)?;
        return Ok(AggregateItem {
            expr: None,
            method: None,
            alias,
            span: c.span_from(start),
        });
    }
    let e = expr(c)?;
    keyword(c, "with")?;
    let method = match c.qualified_name()? {
        Some((m, _)) => m.to_string(),
        None => return c.expected("an aggregation method"),
    };
    keyword(c, "as")?;
    let alias = alias(c)?;
    Ok(AggregateItem {
        expr: Some(e),
        method: Some(method),
        alias,
        span: c.span_from(start),
    })
}

fn compute_item(c: &mut Cursor<'_>) -> PResult<ComputeItem> {
    let start = c.pos;
    let e = expr(c)?;
    keyword(c, "as")?;
    let alias = alias(c)?;
    Ok(ComputeItem {
        expr: e,
        alias,
        span: c.span_from(start),
    })
}

fn list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T], sep: &str) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl fmt::Display for AggregateItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.expr, &self.method) {
            (Some(e), Some(m)) => write!(f, "{e} with {m} as {}", self.alias),
            _ => write!(f, "$count as {}", self.alias),
        }
    }
}

impl fmt::Display for ComputeItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} as {}", self.expr, self.alias)
    }
}

impl fmt::Display for Transformation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TransformationKind::Aggregate(items) => {
                f.write_str("aggregate(")?;
                list(f, items, ",")?;
                f.write_str(")")
            }
            TransformationKind::GroupBy { paths, then } => {
                f.write_str("groupby((")?;
                list(f, paths, ",")?;
                f.write_str(")")?;
                if !then.is_empty() {
                    f.write_str(",")?;
                    list(f, then, "/")?;
                }
                f.write_str(")")
            }
            TransformationKind::Filter(e) => write!(f, "filter({e})"),
            TransformationKind::Compute(items) => {
                f.write_str("compute(")?;
                list(f, items, ",")?;
                f.write_str(")")
            }
            TransformationKind::OrderBy(items) => {
                f.write_str("orderby(")?;
                list(f, items, ",")?;
                f.write_str(")")
            }
            TransformationKind::Top(n) => write!(f, "top({n})"),
            TransformationKind::Skip(n) => write!(f, "skip({n})"),
            TransformationKind::TopCount { n, expr, .. } => {
                write!(f, "{}({n},{expr})", self.name())
            }
            TransformationKind::Identity => f.write_str("identity"),
            TransformationKind::Concat(seqs) => {
                f.write_str("concat(")?;
                for (i, s) in seqs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    list(f, s, "/")?;
                }
                f.write_str(")")
            }
            TransformationKind::Other(name) => write!(f, "{name}(...)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(s: &str) {
        let t = parse_apply(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let text = t
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("/");
        assert_eq!(text, s);
    }

    #[test]
    fn sequences_parse_and_print() {
        roundtrip("aggregate($count as n)");
        roundtrip("aggregate(durationInSeconds with sum as total,holdCount with max as most)");
        roundtrip("groupby((Queue/name,channelId),aggregate($count as n))");
        roundtrip("filter(holdCount gt 0)/groupby((queueId))");
        roundtrip(
            "compute(year(startedAt) as y,durationInSeconds div 60 as minutes)/groupby((y),aggregate(minutes with average as m))",
        );
        roundtrip(
            "groupby((a),aggregate($count as n)/filter(n gt 2))/orderby(n desc)/top(5)/skip(1)",
        );
        roundtrip("topcount(3,n)");
        roundtrip("identity");
    }

    #[test]
    fn unknown_transformations_are_kept_by_name() {
        let t = parse_apply("search(foo)").unwrap();
        assert_eq!(t[0].kind, TransformationKind::Other("search".into()));
        let t = parse_apply("groupby((rollup($all,a)),aggregate($count as n))").unwrap();
        assert_eq!(t[0].kind, TransformationKind::Other("rollup".into()));
    }

    #[test]
    fn errors_point_into_the_value() {
        let e = parse_apply("aggregate(x with sum)").unwrap_err();
        assert_eq!(e.option, "$apply");
        assert!(parse_apply("aggregate(").is_err());
        assert!(parse_apply("groupby(a)").is_err());
        assert!(parse_apply("top(-1)").is_err());
        assert!(parse_apply("filter(a eq 1)/").is_err());
        assert!(parse_apply("").is_err());
        let deep = format!("{}identity{}", "concat(".repeat(200), ")".repeat(200));
        assert_eq!(parse_apply(&deep).unwrap_err().kind, UriErrorKind::TooDeep);
    }
}
