//! Expressions (ABNF section 4, `commonExpr`): the language of `$filter`,
//! `$orderby` items and parameter alias values.
//!
//! Precedence climbing over [`BinaryOp::precedence`]; unary operators and
//! primaries are recursive descent. Every recursion goes through
//! `Cursor::nested`, so `((((...))))` ends in an error, not a stack overflow.

use super::ParseOptions;
use super::ast::{
    BinaryOp, Expr, ExprKind, LambdaKind, Literal, Segment, SegmentKind, TypeName, UnaryOp,
};
use super::cursor::{Cursor, PResult, is_ident_char};
use super::error::{UriError, UriErrorKind};
use super::literal;
use super::span::Span;

/// Parses a `$filter` value (ABNF `boolCommonExpr`; that the result is a
/// Boolean is the binder's business).
///
/// ```
/// use ccfeed::uri::filter::parse_filter;
/// let e = parse_filter("Price gt 5 and contains(Name,'milk')").unwrap();
/// assert_eq!(e.to_string(), "Price gt 5 and contains(Name,'milk')");
/// ```
pub fn parse_filter(value: &str) -> Result<Expr, UriError> {
    parse_expr("$filter", value, &ParseOptions::default())
}

/// Parses a `$filter` value with explicit limits.
pub fn parse_filter_with(value: &str, options: &ParseOptions) -> Result<Expr, UriError> {
    parse_expr("$filter", value, options)
}

/// Parses a whole value as one expression (`commonExpr`); `option` names the
/// option in errors (`$filter`, `@p`).
pub fn parse_expr(option: &str, value: &str, options: &ParseOptions) -> Result<Expr, UriError> {
    let mut c = Cursor::new(value, options);
    let result = expr(&mut c).and_then(|e| end_of_expression(&mut c).map(|()| e));
    result.map_err(|e| e.in_option(option))
}

/// After a complete expression: the input must end here.
pub(crate) fn end_of_expression(c: &mut Cursor<'_>) -> PResult<()> {
    if c.at_end() {
        return Ok(());
    }
    let start = c.pos;
    if c.bws() > 0 && c.at_end() {
        return Err(UriError::new(
            UriErrorKind::Syntax,
            "unexpected whitespace at the end",
            c.span_from(start),
        ));
    }
    c.expected("an operator or the end of the expression")
}

/// `commonExpr`
pub(crate) fn expr(c: &mut Cursor<'_>) -> PResult<Expr> {
    binary(c, 1)
}

const OPERATORS: [BinaryOp; 16] = [
    BinaryOp::Or,
    BinaryOp::And,
    BinaryOp::Eq,
    BinaryOp::Ne,
    BinaryOp::Gt,
    BinaryOp::Ge,
    BinaryOp::Lt,
    BinaryOp::Le,
    BinaryOp::Has,
    BinaryOp::In,
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::DivBy,
    BinaryOp::Div,
    BinaryOp::Mod,
];

/// `RWS op RWS` at the cursor: consumes it and returns the operator, or
/// leaves the cursor alone.
fn binary_op(c: &mut Cursor<'_>) -> Option<BinaryOp> {
    let save = c.pos;
    if c.bws() == 0 {
        return None;
    }
    for op in OPERATORS {
        if c.eat_word(op.keyword()) {
            if c.bws() > 0 {
                return Some(op);
            }
            break;
        }
    }
    c.pos = save;
    None
}

fn binary(c: &mut Cursor<'_>, min_prec: u8) -> PResult<Expr> {
    c.nested(|c| {
        let mut left = unary(c)?;
        loop {
            let save = c.pos;
            let Some(op) = binary_op(c) else { break };
            if op.precedence() < min_prec {
                c.pos = save;
                break;
            }
            let right = if op == BinaryOp::In {
                in_operand(c)?
            } else {
                binary(c, op.precedence() + 1)?
            };
            let span = left.span.union(right.span);
            left = Expr {
                kind: ExprKind::Binary {
                    op,
                    left: Box::new(left),
                    right: Box::new(right),
                },
                span,
            };
        }
        Ok(left)
    })
}

/// Right side of `in`: a parenthesised list of literals (`listExpr`), or
/// any operand of relational level (an alias, a path, a JSON array).
fn in_operand(c: &mut Cursor<'_>) -> PResult<Expr> {
    let start = c.pos;
    if c.peek() == Some('(') {
        c.advance(1);
        c.bws();
        let mut items = Vec::new();
        if c.eat_char(')') {
            return Ok(Expr {
                kind: ExprKind::List(items),
                span: c.span_from(start),
            });
        }
        loop {
            let item_start = c.pos;
            match literal::literal(c)? {
                Some(l) => items.push(Expr {
                    kind: ExprKind::Literal(l),
                    span: c.span_from(item_start),
                }),
                None if items.is_empty() => {
                    // not a literal list: `x in (expr)` is a parenthesised expression
                    c.pos = start;
                    return binary(c, BinaryOp::In.precedence() + 1);
                }
                None => return c.expected("a literal in the list"),
            }
            c.bws();
            if c.eat_char(',') {
                c.bws();
                continue;
            }
            if c.eat_char(')') {
                break;
            }
            if items.len() == 1 {
                // `(1 add 2)`: a parenthesised expression after all
                c.pos = start;
                return binary(c, BinaryOp::In.precedence() + 1);
            }
            return c.expected("',' or ')' in the list");
        }
        return Ok(Expr {
            kind: ExprKind::List(items),
            span: c.span_from(start),
        });
    }
    binary(c, BinaryOp::In.precedence() + 1)
}

fn unary(c: &mut Cursor<'_>) -> PResult<Expr> {
    let start = c.pos;
    if c.peek() == Some('-') {
        let literal_follows =
            c.peek_nth(1).is_some_and(|d| d.is_ascii_digit()) || c.rest().starts_with("-INF");
        if !literal_follows {
            c.advance(1);
            c.bws();
            let operand = c.nested(unary)?;
            return Ok(Expr {
                kind: ExprKind::Unary {
                    op: UnaryOp::Neg,
                    operand: Box::new(operand),
                },
                span: c.span_from(start),
            });
        }
    }
    if c.looking_at_word("not") {
        let after = c.rest().get(3..).and_then(|r| r.chars().next());
        if after.is_some_and(|ch| ch == ' ' || ch == '\t' || ch == '(') {
            c.advance(3);
            c.bws();
            let operand = c.nested(unary)?;
            return Ok(Expr {
                kind: ExprKind::Unary {
                    op: UnaryOp::Not,
                    operand: Box::new(operand),
                },
                span: c.span_from(start),
            });
        }
    }
    primary(c)
}

fn primary(c: &mut Cursor<'_>) -> PResult<Expr> {
    let start = c.pos;
    let node = |kind, c: &Cursor<'_>| Expr {
        kind,
        span: c.span_from(start),
    };
    match c.peek() {
        None => c.expected("an expression"),
        Some('(') => c.nested(|c| {
            c.advance(1);
            c.bws();
            let inner = expr(c)?;
            c.bws();
            if !c.eat_char(')') {
                return c.expected("a closing ')'");
            }
            Ok(Expr {
                kind: inner.kind,
                span: c.span_from(start),
            })
        }),
        Some('@') => at_expr(c),
        Some('$') => dollar_expr(c),
        Some('[') => c.nested(array),
        Some('{') => c.nested(object),
        Some('"') => {
            let s = json_string(c)?;
            Ok(node(ExprKind::Literal(Literal::String(s)), c))
        }
        Some(_) => {
            if let Some(l) = literal::literal(c)? {
                return Ok(node(ExprKind::Literal(l), c));
            }
            if let Some(l) = literal::enum_literal(c)? {
                return Ok(node(ExprKind::Literal(l), c));
            }
            name_expr(c)
        }
    }
}

/// `@alias` or an annotation path `@Core.Messages/any(...)`.
fn at_expr(c: &mut Cursor<'_>) -> PResult<Expr> {
    let start = c.pos;
    c.advance(1);
    let Some((name, _)) = c.qualified_name()? else {
        return c.expected("an alias or annotation name after '@'");
    };
    let mut name = name.to_string();
    if c.peek() == Some('#') {
        c.advance(1);
        let Some((q, _)) = c.ident()? else {
            return c.expected("an annotation qualifier after '#'");
        };
        name = format!("{name}#{q}");
    }
    if name.contains(['.', '#']) || c.peek() == Some('/') {
        let seg = Segment {
            kind: SegmentKind::Annotation(name),
            span: c.span_from(start),
        };
        return path_rest(c, start, vec![seg]);
    }
    Ok(Expr {
        kind: ExprKind::Alias(name),
        span: c.span_from(start),
    })
}

/// `$it`, `$this`, `$root` (case-sensitive, as in the ABNF).
fn dollar_expr(c: &mut Cursor<'_>) -> PResult<Expr> {
    let start = c.pos;
    let kind = if c.rest().starts_with("$it") && c.eat_word("$it") {
        SegmentKind::It
    } else if c.rest().starts_with("$this") && c.eat_word("$this") {
        SegmentKind::This
    } else if c.rest().starts_with("$root") && c.eat_word("$root") {
        if c.peek() != Some('/') {
            return c.expected("'/' after $root");
        }
        SegmentKind::Root
    } else {
        return c.expected("an expression ($it, $this, $root, a name or a literal)");
    };
    let seg = Segment {
        kind,
        span: c.span_from(start),
    };
    path_rest(c, start, vec![seg])
}

/// Built-in functions: lowercase spelling -> canonical name.
const BUILTINS: [&str; 33] = [
    "contains",
    "startswith",
    "endswith",
    "length",
    "indexof",
    "substring",
    "tolower",
    "toupper",
    "trim",
    "concat",
    "matchesPattern",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "fractionalseconds",
    "totalseconds",
    "date",
    "time",
    "totaloffsetminutes",
    "now",
    "mindatetime",
    "maxdatetime",
    "round",
    "floor",
    "ceiling",
    "hassubset",
    "hassubsequence",
    "geo.distance",
    "geo.length",
    "geo.intersects",
];

/// The canonical name of a built-in function, if `name` is one (any case).
pub fn builtin_name(name: &str) -> Option<&'static str> {
    BUILTINS
        .iter()
        .copied()
        .find(|b| b.eq_ignore_ascii_case(name))
}

/// An expression starting with a name: a property path, a function call,
/// `cast`/`isof`, or a bound function.
fn name_expr(c: &mut Cursor<'_>) -> PResult<Expr> {
    let start = c.pos;
    let Some((name, name_span)) = c.qualified_name()? else {
        return c.expected("an expression");
    };
    if c.peek() == Some('(') {
        if name.eq_ignore_ascii_case("cast") || name.eq_ignore_ascii_case("isof") {
            return cast_isof(c, start, name.eq_ignore_ascii_case("cast"));
        }
        if name.eq_ignore_ascii_case("case") {
            return case(c, start);
        }
        if name.eq_ignore_ascii_case("any") || name.eq_ignore_ascii_case("all") {
            return Err(UriError::expected(
                "a collection path before any()/all() (write Nav/any(...))",
                Some(name),
                name_span,
            ));
        }
        if let Some(canonical) = builtin_name(name) {
            let args = c.nested(call_args)?;
            return Ok(Expr {
                kind: ExprKind::Call {
                    name: canonical.to_string(),
                    args,
                },
                span: c.span_from(start),
            });
        }
        if name.contains('.') || named_params_ahead(c) {
            let seg = function_segment(c, name, start)?;
            return path_rest(c, start, vec![seg]);
        }
        let args = c.nested(call_args)?;
        return Ok(Expr {
            kind: ExprKind::Call {
                name: name.to_string(),
                args,
            },
            span: c.span_from(start),
        });
    }
    let seg = Segment {
        kind: SegmentKind::Name(name.to_string()),
        span: name_span,
    };
    let e = path_rest(c, start, vec![seg])?;
    if let ExprKind::Path(segs) = &e.kind
        && let [only] = segs.as_slice()
        && matches!(&only.kind, SegmentKind::Name(n) if n.contains('.'))
    {
        return c.expected("'(' or '/' after a qualified name");
    }
    Ok(e)
}

/// `(` followed by `name=` or `)`: a function with named parameters.
fn named_params_ahead(c: &Cursor<'_>) -> bool {
    let rest = c
        .rest()
        .get(1..)
        .unwrap_or("")
        .trim_start_matches([' ', '\t']);
    if rest.starts_with(')') {
        return true;
    }
    let ident_len = rest
        .char_indices()
        .find(|&(_, ch)| !is_ident_char(ch))
        .map_or(rest.len(), |(i, _)| i);
    ident_len > 0
        && rest
            .get(ident_len..)
            .is_some_and(|r| r.starts_with('=') && !r.starts_with("=="))
}

/// `( [ expr *( , expr ) ] )` with optional whitespace.
fn call_args(c: &mut Cursor<'_>) -> PResult<Vec<Expr>> {
    c.advance(1);
    c.bws();
    let mut args = Vec::new();
    if c.eat_char(')') {
        return Ok(args);
    }
    loop {
        args.push(expr(c)?);
        c.bws();
        if c.eat_char(',') {
            c.bws();
            continue;
        }
        if c.eat_char(')') {
            return Ok(args);
        }
        return c.expected("',' or a closing ')'");
    }
}

/// `Name(p=expr,q=@a)` at the cursor's '(' (name already read).
fn function_segment(c: &mut Cursor<'_>, name: &str, start: usize) -> PResult<Segment> {
    c.nested(|c| {
        c.advance(1);
        c.bws();
        let mut params = Vec::new();
        if !c.eat_char(')') {
            loop {
                let Some((p, _)) = c.ident()? else {
                    return c.expected("a parameter name (name=value)");
                };
                if !c.eat_char('=') {
                    return c.expected("'=' after the parameter name");
                }
                let value = expr(c)?;
                params.push((p.to_string(), value));
                c.bws();
                if c.eat_char(',') {
                    c.bws();
                    continue;
                }
                if c.eat_char(')') {
                    break;
                }
                return c.expected("',' or a closing ')'");
            }
        }
        Ok(Segment {
            kind: SegmentKind::Function {
                name: name.to_string(),
                params,
            },
            span: c.span_from(start),
        })
    })
}

/// Continues a member path with `/segment`s; ends at a lambda.
fn path_rest(c: &mut Cursor<'_>, start: usize, mut segments: Vec<Segment>) -> PResult<Expr> {
    while c.peek() == Some('/') {
        c.advance(1);
        let seg_start = c.pos;
        if c.looking_at_word("$count") {
            c.advance("$count".len());
            if c.peek() == Some('(') {
                return Err(UriError::new(
                    UriErrorKind::Syntax,
                    "options on $count inside expressions are not supported",
                    Span::new(c.pos, c.pos + 1),
                ));
            }
            segments.push(Segment {
                kind: SegmentKind::Count,
                span: c.span_from(seg_start),
            });
            continue;
        }
        if c.peek() == Some('@') {
            c.advance(1);
            let Some((name, _)) = c.qualified_name()? else {
                return c.expected("an annotation name after '@'");
            };
            let mut name = name.to_string();
            if c.eat_char('#') {
                let Some((q, _)) = c.ident()? else {
                    return c.expected("an annotation qualifier after '#'");
                };
                name = format!("{name}#{q}");
            }
            segments.push(Segment {
                kind: SegmentKind::Annotation(name),
                span: c.span_from(seg_start),
            });
            continue;
        }
        let Some((name, name_span)) = c.qualified_name()? else {
            return c.expected("a property name after '/'");
        };
        if c.peek() == Some('(') {
            if name.eq_ignore_ascii_case("any") || name.eq_ignore_ascii_case("all") {
                let kind = if name.eq_ignore_ascii_case("any") {
                    LambdaKind::Any
                } else {
                    LambdaKind::All
                };
                return c.nested(|c| lambda(c, start, segments, kind));
            }
            segments.push(function_segment(c, name, seg_start)?);
            continue;
        }
        segments.push(Segment {
            kind: SegmentKind::Name(name.to_string()),
            span: name_span,
        });
    }
    Ok(Expr {
        kind: ExprKind::Path(segments),
        span: c.span_from(start),
    })
}

/// `any( [ var : predicate ] )` / `all( var : predicate )` at '('.
fn lambda(c: &mut Cursor<'_>, start: usize, path: Vec<Segment>, kind: LambdaKind) -> PResult<Expr> {
    c.advance(1);
    c.bws();
    if kind == LambdaKind::Any && c.eat_char(')') {
        return Ok(Expr {
            kind: ExprKind::Lambda {
                path,
                kind,
                variable: None,
                predicate: None,
            },
            span: c.span_from(start),
        });
    }
    let Some((var, _)) = c.ident()? else {
        return c.expected("a lambda variable name (all(x:...) needs one)");
    };
    c.bws();
    if !c.eat_char(':') {
        return c.expected("':' after the lambda variable");
    }
    c.bws();
    let predicate = expr(c)?;
    c.bws();
    if !c.eat_char(')') {
        return c.expected("a closing ')'");
    }
    Ok(Expr {
        kind: ExprKind::Lambda {
            path,
            kind,
            variable: Some(var.to_string()),
            predicate: Some(Box::new(predicate)),
        },
        span: c.span_from(start),
    })
}

/// `Collection(Name)` or a (qualified) name.
fn type_name(c: &mut Cursor<'_>) -> PResult<Option<TypeName>> {
    if c.rest().starts_with("Collection(") {
        let save = c.pos;
        c.advance("Collection(".len());
        c.bws();
        if let Some((n, _)) = c.qualified_name()? {
            c.bws();
            if c.eat_char(')') {
                return Ok(Some(TypeName {
                    name: n.to_string(),
                    collection: true,
                }));
            }
        }
        c.pos = save;
        return Ok(None);
    }
    Ok(c.qualified_name()?.map(|(n, _)| TypeName {
        name: n.to_string(),
        collection: false,
    }))
}

/// `cast( [expr ,] Type )` / `isof( [expr ,] Type )` at '('.
/// `case(cond:value, cond:value, ...)` (4.01) at the cursor's '(': the value of the
/// first condition that is true, else null.
fn case(c: &mut Cursor<'_>, start: usize) -> PResult<Expr> {
    c.nested(|c| {
        c.advance(1);
        c.bws();
        let mut branches = Vec::new();
        loop {
            let condition = expr(c)?;
            c.bws();
            if !c.eat_char(':') {
                return c.expected("':' and the value for this condition");
            }
            c.bws();
            let value = expr(c)?;
            branches.push((condition, value));
            c.bws();
            if c.eat_char(',') {
                c.bws();
                continue;
            }
            if c.eat_char(')') {
                break;
            }
            return c.expected("',' or a closing ')'");
        }
        Ok(Expr {
            kind: ExprKind::Case(branches),
            span: c.span_from(start),
        })
    })
}

fn cast_isof(c: &mut Cursor<'_>, start: usize, is_cast: bool) -> PResult<Expr> {
    c.nested(|c| {
        c.advance(1);
        c.bws();
        let save = c.pos;
        let mut operand = None;
        let mut ty = type_name(c)?;
        c.bws();
        if ty.is_none() || !c.eat_char(')') {
            c.pos = save;
            operand = Some(Box::new(expr(c)?));
            c.bws();
            if !c.eat_char(',') {
                return c.expected("',' and a type name");
            }
            c.bws();
            ty = type_name(c)?;
            if ty.is_none() {
                return c.expected("a type name (Edm.String, Namespace.Type)");
            }
            c.bws();
            if !c.eat_char(')') {
                return c.expected("a closing ')'");
            }
        }
        let Some(type_name) = ty else {
            return c.expected("a type name");
        };
        let kind = if is_cast {
            ExprKind::Cast {
                expr: operand,
                type_name,
            }
        } else {
            ExprKind::IsOf {
                expr: operand,
                type_name,
            }
        };
        Ok(Expr {
            kind,
            span: c.span_from(start),
        })
    })
}

/// A JSON string `"..."` with JSON escapes (4.01 JSON in expressions).
fn json_string(c: &mut Cursor<'_>) -> PResult<String> {
    let start = c.pos;
    c.advance(1);
    let mut out = String::new();
    let mut chars = c.rest().char_indices();
    while let Some((i, ch)) = chars.next() {
        match ch {
            '"' => {
                c.advance(i + 1);
                return Ok(out);
            }
            '\\' => match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, '/')) => out.push('/'),
                Some((_, 'b')) => out.push('\u{8}'),
                Some((_, 'f')) => out.push('\u{c}'),
                Some((_, 'n')) => out.push('\n'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, 't')) => out.push('\t'),
                Some((j, 'u')) => {
                    let hex: String = (0..4)
                        .filter_map(|_| chars.next().map(|(_, h)| h))
                        .collect();
                    match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        Some(u) if hex.len() == 4 => out.push(u),
                        _ => {
                            return Err(UriError::new(
                                UriErrorKind::Syntax,
                                "invalid \\u escape in JSON string",
                                Span::new(c.pos + j - 1, c.pos + j + 1),
                            ));
                        }
                    }
                }
                _ => {
                    return Err(UriError::new(
                        UriErrorKind::Syntax,
                        "invalid escape in JSON string",
                        Span::new(c.pos + i, c.pos + i + 1),
                    ));
                }
            },
            _ => out.push(ch),
        }
    }
    Err(UriError::new(
        UriErrorKind::Syntax,
        "unterminated JSON string: expected a closing '\"'",
        Span::new(start, start + 1),
    ))
}

/// `[ value, ... ]`
fn array(c: &mut Cursor<'_>) -> PResult<Expr> {
    let start = c.pos;
    c.advance(1);
    c.bws();
    let mut items = Vec::new();
    if !c.eat_char(']') {
        loop {
            items.push(expr(c)?);
            c.bws();
            if c.eat_char(',') {
                c.bws();
                continue;
            }
            if c.eat_char(']') {
                break;
            }
            return c.expected("',' or ']'");
        }
    }
    Ok(Expr {
        kind: ExprKind::Array(items),
        span: c.span_from(start),
    })
}

/// `{ "name" : value, ... }`
fn object(c: &mut Cursor<'_>) -> PResult<Expr> {
    let start = c.pos;
    c.advance(1);
    c.bws();
    let mut members = Vec::new();
    if !c.eat_char('}') {
        loop {
            if c.peek() != Some('"') {
                return c.expected("a member name in double quotes");
            }
            let name = json_string(c)?;
            c.bws();
            if !c.eat_char(':') {
                return c.expected("':' after the member name");
            }
            c.bws();
            members.push((name, expr(c)?));
            c.bws();
            if c.eat_char(',') {
                c.bws();
                continue;
            }
            if c.eat_char('}') {
                break;
            }
            return c.expected("',' or '}'");
        }
    }
    Ok(Expr {
        kind: ExprKind::Object(members),
        span: c.span_from(start),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::ast::{Float, Literal};

    fn tree(s: &str) -> Expr {
        match parse_filter(s) {
            Ok(e) => e,
            Err(e) => panic!("{s:?} failed: {e}"),
        }
    }

    /// Parses, prints the same text back, and re-parses to an equal tree.
    fn verified(s: &str) -> Expr {
        let e = tree(s);
        assert_eq!(e.to_string(), s, "canonical text of {s:?}");
        assert_eq!(tree(&e.to_string()), e);
        e
    }

    /// Parses `s`, prints `canonical`, and the canonical text re-parses equal.
    fn parses_to(s: &str, canonical: &str) {
        let e = tree(s);
        assert_eq!(e.to_string(), canonical, "canonical text of {s:?}");
        assert_eq!(tree(canonical), e);
    }

    fn err(s: &str) -> UriError {
        match parse_filter(s) {
            Ok(e) => panic!("{s:?} should fail, parsed as {e}"),
            Err(e) => e,
        }
    }

    fn p(path: &str) -> Expr {
        Expr::new(ExprKind::Path(path.split('/').map(Segment::name).collect()))
    }
    fn int(i: i64) -> Expr {
        Expr::new(ExprKind::Literal(Literal::Integer(i)))
    }
    fn bin(op: BinaryOp, l: Expr, r: Expr) -> Expr {
        Expr::new(ExprKind::Binary {
            op,
            left: Box::new(l),
            right: Box::new(r),
        })
    }
    fn un(op: UnaryOp, e: Expr) -> Expr {
        Expr::new(ExprKind::Unary {
            op,
            operand: Box::new(e),
        })
    }
    use BinaryOp::*;

    #[test]
    fn precedence() {
        assert_eq!(
            tree("a or b and c"),
            bin(Or, p("a"), bin(And, p("b"), p("c")))
        );
        assert_eq!(
            tree("a and b or c"),
            bin(Or, bin(And, p("a"), p("b")), p("c"))
        );
        assert_eq!(
            tree("1 add 2 mul 3"),
            bin(Add, int(1), bin(Mul, int(2), int(3)))
        );
        assert_eq!(
            tree("not a eq b"),
            bin(Eq, un(UnaryOp::Not, p("a")), p("b"))
        );
        assert_eq!(tree("-a add b"), bin(Add, un(UnaryOp::Neg, p("a")), p("b")));
        assert_eq!(
            tree("a gt 1 eq b lt 2"),
            bin(Eq, bin(Gt, p("a"), int(1)), bin(Lt, p("b"), int(2)))
        );
        assert_eq!(
            tree("a eq 1 and b eq 2"),
            bin(And, bin(Eq, p("a"), int(1)), bin(Eq, p("b"), int(2)))
        );
        assert_eq!(
            tree("a add 1 gt b mod 2"),
            bin(Gt, bin(Add, p("a"), int(1)), bin(Mod, p("b"), int(2)))
        );
    }

    #[test]
    fn left_associative() {
        assert_eq!(
            tree("a sub b sub c"),
            bin(Sub, bin(Sub, p("a"), p("b")), p("c"))
        );
        assert_eq!(
            tree("a div b mul c"),
            bin(Mul, bin(Div, p("a"), p("b")), p("c"))
        );
        assert_eq!(
            tree("a or b or c"),
            bin(Or, bin(Or, p("a"), p("b")), p("c"))
        );
        verified("a sub (b sub c)");
        verified("(a or b) and c");
        verified("a sub b sub c");
        parses_to("((a))", "a");
        parses_to("(a or b) or c", "a or b or c");
        parses_to("a mul (b mul c)", "a mul (b mul c)");
    }

    #[test]
    fn operators_round_trip() {
        for op in OPERATORS {
            if op == In {
                continue;
            }
            verified(&format!("a {} b", op.keyword()));
        }
        parses_to(
            "Name EQ 'Milk' AND Price LT 2.55",
            "Name eq 'Milk' and Price lt 2.55",
        );
        verified("style has Sales.Pattern'Yellow'");
        verified("Rating divby 2 eq 2.5");
    }

    #[test]
    fn unary() {
        verified("not contains(Name,'x')");
        verified("not (a eq b)");
        verified("-Price");
        verified("-(5)");
        verified("-(a add b)");
        assert_eq!(
            tree("-5"),
            Expr::new(ExprKind::Literal(Literal::Integer(-5)))
        );
        assert_eq!(tree("- 5"), un(UnaryOp::Neg, int(5)));
        parses_to("not(a)", "not a");
        parses_to("not not a", "not not a");
        verified("--a");
    }

    #[test]
    fn keywords_need_whitespace() {
        assert!(parse_filter("a eq(1)").is_err());
        assert!(parse_filter("aeq 1").is_err());
        verified("a eq b");
        parses_to("a\teq\t1", "a eq 1");
        parses_to("a  eq   1", "a eq 1");
    }

    #[test]
    fn in_operator() {
        verified("Name in ('Milk','Cheese')");
        parses_to("Name in ( 'Milk' , 'Cheese' )", "Name in ('Milk','Cheese')");
        verified("Name in ()");
        verified("Name in ('Milk')");
        verified("Name in @list");
        parses_to("Name in [\"a\",\"b\"]", "Name in ['a','b']");
        parses_to("FirstName in (FirstName)", "FirstName in FirstName");
        assert!(parse_filter("FirstName in (FirstName,LastName)").is_err());
        // `in` binds at the relational level, tighter than eq and and
        assert_eq!(
            tree("a in (1) eq true"),
            bin(
                Eq,
                bin(In, p("a"), Expr::new(ExprKind::List(vec![int(1)]))),
                Expr::new(ExprKind::Literal(Literal::Boolean(true)))
            )
        );
    }

    #[test]
    fn paths_and_aliases() {
        verified("Address/City eq 'x'");
        verified("$it/Name eq @p");
        verified("$this eq 'Hugo'");
        verified("Products/$count gt 0");
        verified("Price/@Measures.Currency eq 'EUR'");
        verified("@Core.Messages/any(m:m/severity eq 'error')");
        verified("Products/Model.ProductsByColor(color='green')/Name");
        verified("Model.Available()");
        verified("Address/Model.AddressWithLocation/Street");
        assert_eq!(tree("@p"), Expr::new(ExprKind::Alias("p".into())));
        assert!(parse_filter("Model.Available").is_err());
        assert!(parse_filter("a/").is_err());
    }

    #[test]
    fn lambdas() {
        let e = verified("Items/any(d:d/Price gt 1)");
        let ExprKind::Lambda {
            path,
            kind,
            variable,
            predicate,
        } = e.kind
        else {
            panic!("not a lambda")
        };
        assert_eq!(path, vec![Segment::name("Items")]);
        assert_eq!(kind, LambdaKind::Any);
        assert_eq!(variable.as_deref(), Some("d"));
        assert_eq!(
            *predicate.expect("predicate"),
            bin(Gt, p("d/Price"), int(1))
        );
        verified("Items/any()");
        parses_to("Items/ANY( d : d/x )", "Items/any(d:d/x)");
        verified("Items/all(d:d/x and d/y)");
        assert!(parse_filter("any()").is_err());
        assert!(parse_filter("Items/all()").is_err());
        assert!(parse_filter("Items/any(d)").is_err());
    }

    #[test]
    fn functions() {
        for f in [
            "contains(a,'x')",
            "startswith(a,'x')",
            "endswith(a,'x')",
            "length(a) eq 1",
            "indexof(a,'x') eq 1",
            "substring(a,1)",
            "substring(a,1,2)",
            "tolower(a)",
            "toupper(a)",
            "trim(a)",
            "concat(concat(a,', '),b)",
            "year(d) eq 2024",
            "month(d)",
            "day(d)",
            "hour(d)",
            "minute(d)",
            "second(d)",
            "fractionalseconds(d)",
            "date(d) eq 2024-01-01",
            "time(d) lt 12:00:00",
            "totaloffsetminutes(d)",
            "now()",
            "mindatetime()",
            "maxdatetime()",
            "round(p)",
            "floor(p)",
            "ceiling(p)",
            "geo.distance(a,b)",
            "matchesPattern(a,'^A')",
        ] {
            verified(f);
        }
        parses_to("CONTAINS(Name , 'x')", "contains(Name,'x')");
        parses_to("ToLower(Name)", "tolower(Name)");
        parses_to("MatchesPattern(a,'x')", "matchesPattern(a,'x')");
        // unknown functions still parse; the binder decides
        verified("frobnicate(a,1)");
        let ExprKind::Call { name, .. } = tree("StartsWith(a,'b')").kind else {
            panic!()
        };
        assert_eq!(name, "startswith");
    }

    #[test]
    fn case_takes_condition_value_pairs() {
        verified("case(a gt 1:'big',true:'small')");
        verified("case(a:1) eq 1");
        parses_to("CASE( a eq null : 0 , b : 1 )", "case(a eq null:0,b:1)");
        assert!(parse_filter("case()").is_err());
        assert!(parse_filter("case(a)").is_err());
        assert!(parse_filter("case(a:1,)").is_err());
        assert!(parse_filter("case(a:1 b:2)").is_err());
    }

    #[test]
    fn cast_and_isof() {
        verified("cast(Edm.String)");
        verified("cast(a,Edm.Int32) eq 1");
        verified("isof(Model.Customer)");
        verified("isof(a,Customer)");
        verified("cast(a,Collection(Edm.String))");
        parses_to("cast( a , Edm.String )", "cast(a,Edm.String)");
        assert!(parse_filter("cast()").is_err());
        assert!(parse_filter("cast(a,)").is_err());
    }

    #[test]
    fn json_values() {
        // JSON strings print as OData strings: same tree
        parses_to("[\"a\",1,true,null]", "['a',1,true,null]");
        parses_to("[\"a\\\"b\"]", "['a\"b']");
        verified("{\"a\":1,\"b\":[2,3]}");
        verified("{}");
        parses_to("[ \"a\" , 'b' ]", "['a','b']");
    }

    #[test]
    fn literals_in_expressions() {
        verified("d gt 2012-09-03T13:52:22Z");
        verified("d gt 2012-09-03T13:52:22.1234567+02:00");
        parses_to(
            "d gt datetimeoffset'2012-09-03T13:52Z'",
            "d gt 2012-09-03T13:52:00Z",
        );
        verified("d eq duration'P1DT2H'");
        verified("g eq 01234567-89ab-cdef-0123-456789abcdef");
        verified("x eq 1.5e3");
        verified("x eq INF or x eq -INF or x eq NaN");
        verified("x eq 12.50");
        assert_eq!(
            tree("x eq NaN"),
            bin(
                Eq,
                p("x"),
                Expr::new(ExprKind::Literal(Literal::Double(Float(f64::NAN))))
            )
        );
        verified("x eq binary'Zm9v'");
        verified("x eq geography'SRID=0;Point(1 2)'");
        verified("x eq 'O''Neil'");
        verified("x eq null");
        parses_to("x eq TRUE", "x eq true");
        // out of i64 range -> decimal text
        assert_eq!(
            tree("99999999999999999999"),
            Expr::new(ExprKind::Literal(Literal::Decimal(
                "99999999999999999999".into()
            )))
        );
    }

    #[test]
    fn error_messages_and_spans() {
        let e = err("(a eq 1");
        assert_eq!(
            e.to_string(),
            "$filter: expected a closing ')' at 7..7, found end of input"
        );
        // `and` needs whitespace on both sides, so here it is not an operator
        let e = err("(a eq 1 and)");
        assert_eq!(e.span, Span::new(8, 11));
        assert_eq!(
            e.to_string(),
            "$filter: expected a closing ')' at 8..11, found 'and'"
        );
        let e = err("(a eq 1 and )");
        assert_eq!(
            e.to_string(),
            "$filter: expected an expression at 12..13, found ')'"
        );
        let e = err("a eq 1 xor b");
        assert_eq!(e.span, Span::new(7, 10));
        assert_eq!(
            e.to_string(),
            "$filter: expected an operator or the end of the expression at 7..10, found 'xor'"
        );
        let e = err("d eq 2024-02-30");
        assert_eq!(e.kind, UriErrorKind::InvalidLiteral);
        assert_eq!(e.span, Span::new(5, 15));
        let e = err("Name eq 'abc");
        assert_eq!(e.span, Span::new(8, 9));
        let e = err("contains(a 'x')");
        assert_eq!(
            e.to_string(),
            "$filter: expected ',' or a closing ')' at 11..12, found '''"
        );
        let e = err("");
        assert_eq!(
            e.to_string(),
            "$filter: expected an expression at 0..0, found end of input"
        );
        let e = err("a eq 1 ");
        assert_eq!(e.span, Span::new(6, 7));
    }

    #[test]
    fn spans_of_nodes() {
        let e = tree("Name eq 'x' and Price gt 5");
        assert_eq!(e.span, Span::new(0, 26));
        let ExprKind::Binary { left, right, .. } = &e.kind else {
            panic!()
        };
        assert_eq!(left.span, Span::new(0, 11));
        assert_eq!(right.span, Span::new(16, 26));
        let e = tree("Address/City eq 1");
        let ExprKind::Binary { left, .. } = &e.kind else {
            panic!()
        };
        let ExprKind::Path(segs) = &left.kind else {
            panic!()
        };
        assert_eq!(segs[1].span, Span::new(8, 12));
    }

    #[test]
    fn depth_guard() {
        let deep = format!("{}a{}", "(".repeat(5000), ")".repeat(5000));
        assert_eq!(err(&deep).kind, UriErrorKind::TooDeep);
        let nots = format!("{}a", "not ".repeat(5000));
        assert_eq!(err(&nots).kind, UriErrorKind::TooDeep);
        let ok = format!("{}a{}", "(".repeat(20), ")".repeat(20));
        assert!(parse_filter(&ok).is_ok());
        let strict = ParseOptions::default().with_max_depth(5);
        assert_eq!(
            parse_filter_with(&ok, &strict).map_err(|e| e.kind),
            Err(UriErrorKind::TooDeep)
        );
        // long flat chains are not deep
        let chain = vec!["a eq 1"; 2000].join(" or ");
        assert!(parse_filter(&chain).is_ok());
    }

    #[test]
    fn node_count() {
        assert_eq!(tree("a eq 1").node_count(), 3);
        assert_eq!(tree("contains(a,'x') and not b").node_count(), 6);
    }
}
