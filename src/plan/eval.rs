//! The reference evaluator: a plain-Rust interpreter of [`Bound`] expressions over
//! rows held in memory, written from OData's semantics rather than from the SQL that
//! `store` generates. It is the oracle the property tests compare both backends with,
//! so it favours being obviously right over being fast.
//!
//! The rules it follows (see also the null semantics in [`super::expr`]):
//! - `eq`/`ne` treat null as a value; `gt ge lt le` are false when a side is null;
//!   comparisons are two-valued;
//! - `and`/`or`/`not` are Kleene three-valued; a row matches only when the filter is
//!   true;
//! - arithmetic and functions give null when an argument is null; division (and
//!   `mod`) by zero is null; integer `div` truncates toward zero and `mod` has the
//!   dividend's sign; `round` rounds half away from zero;
//! - text compares by code point; `contains`/`startswith`/`endswith` are literal and
//!   case-sensitive; `length`, `indexof` and `substring` count characters, 0-based,
//!   with negative starts and lengths taken as 0; `tolower`/`toupper` change ASCII
//!   letters only; `trim` removes spaces (U+0020) only;
//! - timestamps compare by instant, exactly (a stored millisecond value never equals
//!   a literal with a finer fraction); date parts of a UTC instant are in UTC, of a
//!   tenant-local value in its own offset;
//! - durations are seconds as `f64`, computed from exact nanosecond differences.

use std::cmp::Ordering;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike, Utc};

use super::expr::{ArithOp, Bound, CmpOp, Func, Ty};
pub use crate::value::Value;

/// One row of an entity set: `values[i]` is the value of property `i`.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub values: &'a [Value],
}

impl<'a> Row<'a> {
    pub fn new(values: &'a [Value]) -> Row<'a> {
        Row { values }
    }

    /// Whether `filter` is true for this row.
    pub fn matches(&self, filter: &Bound) -> Result<bool, EvalError> {
        matches(filter, self.values)
    }

    pub fn eval(&self, e: &Bound) -> Result<Value, EvalError> {
        eval(e, self.values)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// Nodes that need other rows (navigation, `$count`, lambdas).
    #[error("the reference evaluator does not support {0}")]
    Unsupported(&'static str),
    /// A value of the wrong kind: the binder or the row does not fit the model.
    #[error("type error: {0}")]
    Type(String),
    /// Integer arithmetic outside `i64` (OData leaves the result undefined).
    #[error("integer overflow in '{0}'")]
    Overflow(&'static str),
    #[error("the row has no property {0}")]
    MissingColumn(usize),
}

fn type_error(what: &str, v: &Value) -> EvalError {
    EvalError::Type(format!("{what}: unexpected {v:?}"))
}

/// True only when `filter` evaluates to true for `row`: false and null both exclude
/// the row.
pub fn matches(filter: &Bound, row: &[Value]) -> Result<bool, EvalError> {
    match eval(filter, row)? {
        Value::Bool(b) => Ok(b),
        Value::Null => Ok(false),
        other => Err(type_error("a filter must be Boolean", &other)),
    }
}

/// The value of `e` for `row`.
pub fn eval(e: &Bound, row: &[Value]) -> Result<Value, EvalError> {
    match e {
        Bound::Const(c, _) => Ok(c.clone()),
        Bound::Column(c, _) => {
            if c.scope != super::ScopeId::ROOT {
                return Err(EvalError::Unsupported("lambda variables"));
            }
            row.get(c.property.index())
                .cloned()
                .ok_or(EvalError::MissingColumn(c.property.index()))
        }
        Bound::Related { .. } => Err(EvalError::Unsupported("navigation properties")),
        Bound::Output { position, .. } => row
            .get(*position)
            .cloned()
            .ok_or(EvalError::MissingColumn(*position)),
        Bound::RelatedCount { .. } => Err(EvalError::Unsupported("$count of a navigation")),
        Bound::Lambda { .. } => Err(EvalError::Unsupported("any/all")),
        Bound::Compare { op, left, right } => {
            let l = eval(left, row)?;
            let r = eval(right, row)?;
            compare(*op, &l, &r).map(Value::Bool)
        }
        Bound::And(a, b) => {
            let (a, b) = (truth(eval(a, row)?)?, truth(eval(b, row)?)?);
            Ok(match (a, b) {
                (Some(false), _) | (_, Some(false)) => Value::Bool(false),
                (Some(true), Some(true)) => Value::Bool(true),
                _ => Value::Null,
            })
        }
        Bound::Or(a, b) => {
            let (a, b) = (truth(eval(a, row)?)?, truth(eval(b, row)?)?);
            Ok(match (a, b) {
                (Some(true), _) | (_, Some(true)) => Value::Bool(true),
                (Some(false), Some(false)) => Value::Bool(false),
                _ => Value::Null,
            })
        }
        Bound::Not(a) => Ok(match truth(eval(a, row)?)? {
            Some(b) => Value::Bool(!b),
            None => Value::Null,
        }),
        Bound::Arith {
            op,
            left,
            right,
            ty,
        } => {
            let l = eval(left, row)?;
            let r = eval(right, row)?;
            arith(*op, l, r, *ty)
        }
        Bound::Neg(a, _) => match eval(a, row)? {
            Value::Null => Ok(Value::Null),
            Value::Int(i) => i
                .checked_neg()
                .map(Value::Int)
                .ok_or(EvalError::Overflow("-")),
            Value::Double(d) => Ok(Value::Double(-d)),
            Value::Duration(d) => Ok(Value::Duration(-d)),
            other => Err(type_error("'-' needs a number or duration", &other)),
        },
        Bound::In { expr, list } => {
            let v = eval(expr, row)?;
            for item in list {
                if compare(CmpOp::Eq, &v, &eval(item, row)?)? {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        Bound::Call { func, args, .. } => {
            let values = args
                .iter()
                .map(|a| eval(a, row))
                .collect::<Result<Vec<_>, _>>()?;
            call(*func, &values)
        }
        Bound::Cast(a, ty) => cast(eval(a, row)?, *ty),
        Bound::Case { branches, ty } => case(branches, *ty, row),
    }
}

/// The value of the first branch whose condition is true, else null.
#[inline(never)]
fn case(branches: &[(Bound, Bound)], ty: Ty, row: &[Value]) -> Result<Value, EvalError> {
    for (condition, value) in branches {
        if truth(eval(condition, row)?)? == Some(true) {
            return match eval(value, row)? {
                // An integer branch of a case typed Double reads back as one.
                Value::Int(i) if matches!(ty, Ty::Double | Ty::Decimal) => {
                    Ok(Value::Double(i as f64))
                }
                v => Ok(v),
            };
        }
    }
    Ok(Value::Null)
}

/// A Boolean as Kleene logic sees it: `None` is unknown.
fn truth(v: Value) -> Result<Option<bool>, EvalError> {
    match v {
        Value::Bool(b) => Ok(Some(b)),
        Value::Null => Ok(None),
        other => Err(type_error("expected a Boolean", &other)),
    }
}

fn instant(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Instant(t) => Some(*t),
        Value::Local(t) => Some(t.with_timezone(&Utc)),
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Double(d) => Some(*d),
        _ => None,
    }
}

/// The order of two non-null values of comparable types; `None` when unordered
/// (NaN).
fn order(l: &Value, r: &Value) -> Result<Option<Ordering>, EvalError> {
    Ok(match (l, r) {
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Int(_) | Value::Double(_), Value::Int(_) | Value::Double(_)) => {
            number(l).partial_cmp(&number(r))
        }
        // UTF-8 byte order is code point order.
        (Value::Text(a), Value::Text(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Instant(_) | Value::Local(_), Value::Instant(_) | Value::Local(_)) => {
            Some(instant(l).cmp(&instant(r)))
        }
        (Value::Date(a), Value::Date(b)) => Some(a.cmp(b)),
        (Value::Time(a), Value::Time(b)) => Some(a.cmp(b)),
        (Value::Duration(a), Value::Duration(b)) => a.partial_cmp(b),
        _ => {
            return Err(EvalError::Type(format!("cannot compare {l:?} with {r:?}")));
        }
    })
}

/// A comparison: null-aware `eq`/`ne`, `gt ge lt le` false on null. Two-valued.
pub fn compare(op: CmpOp, l: &Value, r: &Value) -> Result<bool, EvalError> {
    let (ln, rn) = (*l == Value::Null, *r == Value::Null);
    if ln || rn {
        return Ok(match op {
            CmpOp::Eq => ln && rn,
            CmpOp::Ne => !(ln && rn),
            _ => false,
        });
    }
    let ord = order(l, r)?;
    Ok(match op {
        CmpOp::Eq => ord == Some(Ordering::Equal),
        CmpOp::Ne => ord != Some(Ordering::Equal),
        CmpOp::Gt => ord == Some(Ordering::Greater),
        CmpOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        CmpOp::Lt => ord == Some(Ordering::Less),
        CmpOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
    })
}

/// A duration in seconds as an exact (nanosecond) time delta.
fn delta(secs: f64) -> Result<TimeDelta, EvalError> {
    let nanos = (secs * 1e9).round();
    if !nanos.is_finite() || nanos.abs() > 9.0e18 {
        return Err(EvalError::Overflow("duration"));
    }
    Ok(TimeDelta::nanoseconds(nanos as i64))
}

fn shift(t: &Value, secs: f64, op: ArithOp) -> Result<Value, EvalError> {
    let d = delta(secs)?;
    let d = if op == ArithOp::Sub { -d } else { d };
    Ok(match t {
        Value::Instant(t) => Value::Instant(
            t.checked_add_signed(d)
                .ok_or(EvalError::Overflow("timestamp"))?,
        ),
        Value::Local(t) => Value::Local(
            t.checked_add_signed(d)
                .ok_or(EvalError::Overflow("timestamp"))?,
        ),
        other => return Err(type_error("expected a timestamp", other)),
    })
}

fn arith(op: ArithOp, l: Value, r: Value, ty: Ty) -> Result<Value, EvalError> {
    if l == Value::Null || r == Value::Null {
        return Ok(Value::Null);
    }
    match ty {
        Ty::DateTimeOffset => match (&l, &r, op) {
            (_, Value::Duration(s), ArithOp::Add | ArithOp::Sub) => shift(&l, *s, op),
            (Value::Duration(s), _, ArithOp::Add) => shift(&r, *s, op),
            _ => Err(EvalError::Type(format!(
                "'{}' of {l:?} and {r:?}",
                op.keyword()
            ))),
        },
        Ty::Duration => match (&l, &r, op) {
            (Value::Duration(a), Value::Duration(b), ArithOp::Add) => Ok(Value::Duration(a + b)),
            (Value::Duration(a), Value::Duration(b), ArithOp::Sub) => Ok(Value::Duration(a - b)),
            (_, _, ArithOp::Sub) => match (instant(&l), instant(&r)) {
                (Some(a), Some(b)) => {
                    let d = a - b;
                    let nanos = d
                        .num_nanoseconds()
                        .ok_or(EvalError::Overflow("timestamp difference"))?;
                    Ok(Value::Duration(nanos as f64 / 1e9))
                }
                _ => Err(EvalError::Type(format!("'sub' of {l:?} and {r:?}"))),
            },
            _ => Err(EvalError::Type(format!(
                "'{}' of {l:?} and {r:?}",
                op.keyword()
            ))),
        },
        t if t.is_integer() => {
            let (Value::Int(a), Value::Int(b)) = (&l, &r) else {
                return Err(EvalError::Type(format!(
                    "integer '{}' of {l:?} and {r:?}",
                    op.keyword()
                )));
            };
            let (a, b) = (*a, *b);
            let overflow = EvalError::Overflow(op.keyword());
            match op {
                ArithOp::Add => a.checked_add(b).map(Value::Int).ok_or(overflow),
                ArithOp::Sub => a.checked_sub(b).map(Value::Int).ok_or(overflow),
                ArithOp::Mul => a.checked_mul(b).map(Value::Int).ok_or(overflow),
                // Rust's `/` truncates toward zero and `%` has the dividend's sign.
                ArithOp::Div | ArithOp::Mod if b == 0 => Ok(Value::Null),
                ArithOp::Div => a.checked_div(b).map(Value::Int).ok_or(overflow),
                ArithOp::Mod => a.checked_rem(b).map(Value::Int).ok_or(overflow),
                ArithOp::DivBy => Ok(Value::Double(a as f64 / b as f64)),
            }
        }
        _ => {
            let (Some(a), Some(b)) = (number(&l), number(&r)) else {
                return Err(EvalError::Type(format!(
                    "'{}' of {l:?} and {r:?}",
                    op.keyword()
                )));
            };
            Ok(match op {
                ArithOp::Add => Value::Double(a + b),
                ArithOp::Sub => Value::Double(a - b),
                ArithOp::Mul => Value::Double(a * b),
                ArithOp::Div | ArithOp::DivBy | ArithOp::Mod if b == 0.0 => Value::Null,
                ArithOp::Div | ArithOp::DivBy => Value::Double(a / b),
                ArithOp::Mod => Value::Double(a % b),
            })
        }
    }
}

fn text(v: &Value, func: Func) -> Result<&str, EvalError> {
    match v {
        Value::Text(s) => Ok(s),
        other => Err(type_error(func.name(), other)),
    }
}

fn int(v: &Value, func: Func) -> Result<i64, EvalError> {
    match v {
        Value::Int(i) => Ok(*i),
        other => Err(type_error(func.name(), other)),
    }
}

/// A non-negative character count or position from an integer argument.
fn clamp(i: i64) -> usize {
    usize::try_from(i.max(0)).unwrap_or(usize::MAX)
}

/// The wall-clock date and time of a timestamp: UTC for an instant, the local
/// rendering for a tenant-local value.
fn wall_clock(v: &Value, func: Func) -> Result<NaiveDateTime, EvalError> {
    match v {
        Value::Instant(t) => Ok(t.naive_utc()),
        Value::Local(t) => Ok(t.naive_local()),
        other => Err(type_error(func.name(), other)),
    }
}

fn date_of(v: &Value, func: Func) -> Result<NaiveDate, EvalError> {
    match v {
        Value::Date(d) => Ok(*d),
        _ => wall_clock(v, func).map(|t| t.date()),
    }
}

fn time_of(v: &Value, func: Func) -> Result<NaiveTime, EvalError> {
    match v {
        Value::Time(t) => Ok(*t),
        _ => wall_clock(v, func).map(|t| t.time()),
    }
}

fn call(func: Func, args: &[Value]) -> Result<Value, EvalError> {
    if args.contains(&Value::Null) {
        return Ok(Value::Null);
    }
    let arg = |i: usize| {
        args.get(i).ok_or_else(|| {
            EvalError::Type(format!("{} is missing argument {}", func.name(), i + 1))
        })
    };
    let a0 = arg(0)?;
    Ok(match func {
        Func::Contains => Value::Bool(text(a0, func)?.contains(text(arg(1)?, func)?)),
        Func::StartsWith => Value::Bool(text(a0, func)?.starts_with(text(arg(1)?, func)?)),
        Func::EndsWith => Value::Bool(text(a0, func)?.ends_with(text(arg(1)?, func)?)),
        Func::Length => Value::Int(text(a0, func)?.chars().count() as i64),
        Func::IndexOf => {
            let s = text(a0, func)?;
            Value::Int(match s.find(text(arg(1)?, func)?) {
                Some(byte) => s[..byte].chars().count() as i64,
                None => -1,
            })
        }
        Func::Substring => {
            let s = text(a0, func)?;
            let start = clamp(int(arg(1)?, func)?);
            let rest = s.chars().skip(start);
            Value::Text(match args.get(2) {
                Some(len) => rest.take(clamp(int(len, func)?)).collect(),
                None => rest.collect(),
            })
        }
        Func::ToLower => Value::Text(text(a0, func)?.to_ascii_lowercase()),
        Func::ToUpper => Value::Text(text(a0, func)?.to_ascii_uppercase()),
        Func::Trim => Value::Text(text(a0, func)?.trim_matches(' ').to_string()),
        Func::Concat => {
            let mut s = text(a0, func)?.to_string();
            s.push_str(text(arg(1)?, func)?);
            Value::Text(s)
        }
        Func::Year => Value::Int(date_of(a0, func)?.year().into()),
        Func::Month => Value::Int(date_of(a0, func)?.month().into()),
        Func::Day => Value::Int(date_of(a0, func)?.day().into()),
        Func::Hour => Value::Int(time_of(a0, func)?.hour().into()),
        Func::Minute => Value::Int(time_of(a0, func)?.minute().into()),
        Func::Second => Value::Int(time_of(a0, func)?.second().into()),
        Func::FractionalSeconds => {
            Value::Double(f64::from(time_of(a0, func)?.nanosecond() % 1_000_000_000) / 1e9)
        }
        Func::Date => Value::Date(wall_clock(a0, func)?.date()),
        Func::Time => Value::Time(wall_clock(a0, func)?.time()),
        Func::TotalOffsetMinutes => match a0 {
            Value::Local(t) => Value::Int((t.offset().local_minus_utc() / 60).into()),
            Value::Instant(_) => Value::Int(0),
            other => return Err(type_error(func.name(), other)),
        },
        Func::Round | Func::Floor | Func::Ceiling => match a0 {
            Value::Int(i) => Value::Int(*i),
            Value::Double(d) => Value::Double(match func {
                // f64::round rounds half away from zero.
                Func::Round => d.round(),
                Func::Floor => d.floor(),
                _ => d.ceil(),
            }),
            other => return Err(type_error(func.name(), other)),
        },
    })
}

fn cast(v: Value, ty: Ty) -> Result<Value, EvalError> {
    Ok(match (v, ty) {
        (Value::Null, _) => Value::Null,
        (Value::Int(i), t) if t.is_integer() => Value::Int(i),
        (Value::Double(d), t) if t.is_integer() => {
            let t = d.trunc();
            if !(-9.2e18..=9.2e18).contains(&t) {
                return Err(EvalError::Overflow("cast"));
            }
            Value::Int(t as i64)
        }
        (Value::Int(i), Ty::Double | Ty::Decimal) => Value::Double(i as f64),
        (Value::Double(d), Ty::Double | Ty::Decimal) => Value::Double(d),
        (Value::Int(i), Ty::String) => Value::Text(i.to_string()),
        (v @ Value::Text(_), Ty::String)
        | (v @ Value::Bool(_), Ty::Boolean)
        | (v @ (Value::Instant(_) | Value::Local(_)), Ty::DateTimeOffset)
        | (v @ Value::Date(_), Ty::Date)
        | (v @ Value::Time(_), Ty::TimeOfDay)
        | (v @ Value::Duration(_), Ty::Duration) => v,
        (v, t) => return Err(EvalError::Type(format!("cast of {v:?} to {t}"))),
    })
}

/// The rows of an `$apply` result, as [`super::ApplyPlan::columns`] lists them, after
/// its `having`, order, skip and top (all pages together): grouping by equal key
/// values (null is a value), then each aggregate over the group's rows. Sums of
/// integers are exact (overflow is an error, as in SQL); an average is the sum as a
/// double divided by the count; `min`/`max` use the comparison order; aggregates
/// over no values are null, except `$count` and `countdistinct`.
pub fn apply(plan: &super::ApplyPlan, rows: &[Vec<Value>]) -> Result<Vec<Vec<Value>>, EvalError> {
    use super::apply::Method;
    let mut groups: Vec<(Vec<Value>, Vec<&Vec<Value>>)> = Vec::new();
    for row in rows {
        if let Some(f) = &plan.filter
            && !matches(f, row)?
        {
            continue;
        }
        let key = plan
            .groups
            .iter()
            .map(|g| eval(g, row))
            .collect::<Result<Vec<_>, _>>()?;
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(row),
            None => groups.push((key, vec![row])),
        }
    }
    if plan.groups.is_empty() && groups.is_empty() {
        groups.push((Vec::new(), Vec::new()));
    }
    let mut out = Vec::new();
    for (key, members) in groups {
        let mut result = key;
        for a in &plan.aggregates {
            let values: Vec<Value> = match &a.expr {
                Some(e) => members
                    .iter()
                    .map(|r| eval(e, r))
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .filter(|v| !v.is_null())
                    .collect(),
                None => Vec::new(),
            };
            let integer = a
                .expr
                .as_ref()
                .and_then(Bound::ty)
                .is_some_and(Ty::is_integer);
            let sum = |values: &[Value]| -> Result<Value, EvalError> {
                if values.is_empty() {
                    return Ok(Value::Null);
                }
                if integer {
                    let mut total: i64 = 0;
                    for v in values {
                        let Value::Int(i) = v else {
                            return Err(type_error("sum", v));
                        };
                        total = total.checked_add(*i).ok_or(EvalError::Overflow("sum"))?;
                    }
                    Ok(Value::Int(total))
                } else {
                    let mut total = 0.0;
                    for v in values {
                        total += number(v).ok_or_else(|| type_error("sum", v))?;
                    }
                    Ok(Value::Double(total))
                }
            };
            result.push(match a.method {
                Method::Count => Value::Int(members.len() as i64),
                Method::CountDistinct => {
                    let mut distinct: Vec<&Value> = Vec::new();
                    for v in &values {
                        if !distinct.contains(&v) {
                            distinct.push(v);
                        }
                    }
                    Value::Int(distinct.len() as i64)
                }
                Method::Sum => sum(&values)?,
                Method::Average => match sum(&values)? {
                    Value::Null => Value::Null,
                    total => {
                        let total = number(&total).ok_or_else(|| type_error("average", &total))?;
                        Value::Double(total / values.len() as f64)
                    }
                },
                Method::Min | Method::Max => {
                    let mut best: Option<&Value> = None;
                    for v in &values {
                        best = match best {
                            None => Some(v),
                            Some(b) => {
                                let ord = order(v, b)?.unwrap_or(Ordering::Equal);
                                let better = if a.method == Method::Min {
                                    ord == Ordering::Less
                                } else {
                                    ord == Ordering::Greater
                                };
                                Some(if better { v } else { b })
                            }
                        };
                    }
                    best.cloned().unwrap_or(Value::Null)
                }
            });
        }
        if let Some(h) = &plan.having
            && !matches(h, &result)?
        {
            continue;
        }
        out.push(result);
    }
    let mut failure = None;
    out.sort_by(|a, b| {
        for key in &plan.order {
            let (x, y) = match (eval(&key.expr, a), eval(&key.expr, b)) {
                (Ok(x), Ok(y)) => (x, y),
                (Err(e), _) | (_, Err(e)) => {
                    failure = Some(e);
                    return Ordering::Equal;
                }
            };
            // Nulls first ascending, last descending.
            let ord = match (x.is_null(), y.is_null()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                _ => order(&x, &y).ok().flatten().unwrap_or(Ordering::Equal),
            };
            let ord = if key.descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let rows = out
        .into_iter()
        .skip(plan.skip.min(usize::MAX as u64) as usize);
    Ok(match plan.top {
        Some(top) => rows.take(top.min(usize::MAX as u64) as usize).collect(),
        None => rows.collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edm::Model;
    use crate::plan::{Limits, Planner};
    use crate::uri::QueryOptions;

    /// A Calls row: the named properties set, every other one null.
    fn row(model: &Model, values: &[(&str, Value)]) -> Vec<Value> {
        let calls = model.entity_set("Calls").unwrap();
        let mut row = vec![Value::Null; calls.properties.len()];
        for (name, v) in values {
            row[calls.property_id(name).unwrap().index()] = v.clone();
        }
        row
    }

    fn bind(model: &Model, filter: &str) -> Bound {
        let set = model.set_id("Calls").unwrap();
        let options = QueryOptions::parse([("$filter", filter)]).unwrap();
        Planner::new(model, &Limits::default())
            .collection(set, "t1", &options, u64::MAX)
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .filter
            .unwrap()
    }

    /// Checks `filter` against each (row, expected) pair.
    fn check(filter: &str, cases: &[(&[(&str, Value)], bool)]) {
        let model = Model::load().unwrap();
        let b = bind(&model, filter);
        for (values, want) in cases {
            let r = row(&model, values);
            assert_eq!(matches(&b, &r).unwrap(), *want, "{filter} on {values:?}");
        }
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    fn utc(s: &str) -> Value {
        Value::Instant(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
    }

    fn local(s: &str) -> Value {
        Value::Local(DateTime::parse_from_rfc3339(s).unwrap())
    }

    #[test]
    fn null_comparisons() {
        let null: &[(&str, Value)] = &[];
        let one: &[(&str, Value)] = &[
            ("customerFirstName", text("a")),
            ("durationInSeconds", Value::Int(1)),
        ];
        check("customerFirstName eq null", &[(null, true), (one, false)]);
        check("null eq customerFirstName", &[(null, true), (one, false)]);
        check("customerFirstName ne null", &[(null, false), (one, true)]);
        check("customerFirstName ne 'b'", &[(null, true), (one, true)]);
        check(
            "customerFirstName eq customerLastName",
            &[(null, true), (one, false)],
        );
        for op in ["gt", "ge", "lt", "le"] {
            check(&format!("durationInSeconds {op} 1"), &[(null, false)]);
            // Two-valued: `not` of a false comparison is true, even on null.
            check(&format!("not (durationInSeconds {op} 1)"), &[(null, true)]);
        }
        check("null eq null", &[(null, true)]);
        check(
            "customerFirstName in ('a', null)",
            &[(null, true), (one, true)],
        );
        check("customerFirstName in ('b')", &[(null, false), (one, false)]);
    }

    #[test]
    fn not_and_kleene_logic_over_null() {
        let model = Model::load().unwrap();
        let b = bind(&model, "contains(customerFirstName, 'a')");
        assert_eq!(eval(&b, &row(&model, &[])).unwrap(), Value::Null);
        let null1: &[(&str, Value)] = &[("holdCount", Value::Int(1))];
        let null2: &[(&str, Value)] = &[("holdCount", Value::Int(2))];
        check("not contains(customerFirstName, 'a')", &[(null1, false)]);
        check(
            "contains(customerFirstName, 'a') or holdCount eq 1",
            &[(null1, true), (null2, false)],
        );
        check(
            "not (contains(customerFirstName, 'a') or holdCount eq 1)",
            &[(null1, false), (null2, false)],
        );
        check(
            "contains(customerFirstName, 'a') and holdCount eq 1",
            &[(null1, false), (null2, false)],
        );
        check(
            "not (contains(customerFirstName, 'a') and holdCount eq 1)",
            &[(null1, false), (null2, true)],
        );
        let b = bind(
            &model,
            "not (contains(customerFirstName, 'a') and holdCount eq 1)",
        );
        assert_eq!(eval(&b, &row(&model, null1)).unwrap(), Value::Null);
    }

    #[test]
    fn integer_division_and_modulo_signs() {
        let h = |i: i64| vec![("holdCount", Value::Int(i))];
        let cases = |pairs: &[(i64, bool)]| -> Vec<(Vec<(&str, Value)>, bool)> {
            pairs.iter().map(|(i, b)| (h(*i), *b)).collect()
        };
        for (filter, pairs) in [
            (
                "holdCount div 2 eq -3",
                cases(&[(-7, true), (-6, true), (-5, false), (7, false)]),
            ),
            ("holdCount div 2 eq 3", cases(&[(7, true), (-7, false)])),
            ("holdCount div -2 eq -3", cases(&[(7, true)])),
            ("holdCount mod 3 eq -1", cases(&[(-7, true), (7, false)])),
            ("holdCount mod -3 eq 1", cases(&[(7, true), (-7, false)])),
            ("holdCount div 0 eq null", cases(&[(7, true), (0, true)])),
            ("holdCount mod 0 eq null", cases(&[(7, true)])),
            ("holdCount divby 2 eq -3.5", cases(&[(-7, true)])),
            ("holdCount mul 0.5 div 0 eq null", cases(&[(1, true)])),
        ] {
            let refs: Vec<(&[(&str, Value)], bool)> =
                pairs.iter().map(|(r, b)| (r.as_slice(), *b)).collect();
            check(filter, &refs);
        }
        let model = Model::load().unwrap();
        let b = bind(&model, "holdCount mul 9223372036854775807 gt 0");
        assert_eq!(
            matches(&b, &row(&model, &[("holdCount", Value::Int(2))])),
            Err(EvalError::Overflow("mul"))
        );
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        let h = |i: i64| -> Vec<(&str, Value)> { vec![("holdCount", Value::Int(i))] };
        for (filter, i) in [
            ("round(holdCount mul 0.5) eq 3", 5),
            ("round(holdCount mul 0.5) eq -3", -5),
            ("round(holdCount mul 0.5) eq 2", 3),
            ("floor(holdCount mul 0.5) eq -3", -5),
            ("ceiling(holdCount mul 0.5) eq -2", -5),
            ("ceiling(holdCount mul 0.5) eq 3", 5),
            ("round(holdCount) eq 5", 5),
            ("cast(holdCount mul 0.5, Edm.Int64) eq -2", -5),
            ("cast(holdCount, Edm.String) eq '-5'", -5),
        ] {
            check(filter, &[(&h(i), true)]);
        }
    }

    #[test]
    fn substring_indexof_and_friends() {
        let r = |s: &str| -> Vec<(&str, Value)> { vec![("channelId", text(s))] };
        for (filter, s, want) in [
            ("substring(channelId, -1) eq 'abc'", "abc", true),
            ("substring(channelId, 1) eq 'bc'", "abc", true),
            ("substring(channelId, 5) eq ''", "abc", true),
            ("substring(channelId, 1, -1) eq ''", "abc", true),
            ("substring(channelId, -2, 2) eq 'ab'", "abc", true),
            ("substring(channelId, 1, 1) eq '本'", "日本語", true),
            ("substring(channelId, 2, 9) eq 'c'", "abc", true),
            ("indexof(channelId, '') eq 0", "abc", true),
            ("indexof(channelId, '本') eq 1", "日本", true),
            ("indexof(channelId, 'x') eq -1", "abc", true),
            ("indexof(channelId, 'B') eq -1", "abc", true),
            ("length(channelId) eq 3", "日本語", true),
            ("length(channelId) eq 0", "", true),
            ("endswith(channelId, '')", "abc", true),
            ("endswith(channelId, '')", "", true),
            ("startswith(channelId, '')", "", true),
            ("contains(channelId, '')", "", true),
            ("contains(channelId, '%')", "a_b", false),
            ("contains(channelId, '_')", "a_b", true),
            ("startswith(channelId, 'A')", "abc", false),
            ("tolower(channelId) eq 'É'", "É", true),
            ("toupper(channelId) eq 'ß'", "ß", true),
            ("toupper(channelId) eq 'ÉA'", "Éa", true),
            ("trim(channelId) eq 'a b'", "  a b ", true),
            ("trim(channelId) eq '\ta'", "\ta ", true),
            ("concat(channelId, 'x') eq 'abx'", "ab", true),
            ("channelId gt 'Z'", "a", true),
            ("channelId lt 'é'", "z", true),
            ("channelId gt 'ab'", "ab ", true),
        ] {
            check(filter, &[(&r(s), want)]);
        }
        check("endswith(customerFirstName, '')", &[(&[], false)]);
        check("not endswith(customerFirstName, '')", &[(&[], false)]);
        check("concat(customerFirstName, 'x') eq null", &[(&[], true)]);
    }

    #[test]
    fn sub_millisecond_literals_against_millisecond_values() {
        let v: &[(&str, Value)] = &[("startedAtUtc", utc("2026-03-29T01:00:00.123Z"))];
        let null: &[(&str, Value)] = &[];
        for (filter, want) in [
            ("startedAtUtc eq 2026-03-29T01:00:00.1234Z", false),
            ("startedAtUtc ne 2026-03-29T01:00:00.1234Z", true),
            ("startedAtUtc ge 2026-03-29T01:00:00.1234Z", false),
            ("startedAtUtc lt 2026-03-29T01:00:00.1234Z", true),
            ("startedAtUtc le 2026-03-29T01:00:00.1229999Z", false),
            ("startedAtUtc gt 2026-03-29T01:00:00.1229999Z", true),
            ("startedAtUtc eq 2026-03-29T01:00:00.123Z", true),
            ("startedAtUtc eq 2026-03-29T01:00:00.1230000Z", true),
            ("startedAtUtc eq 2026-03-29T03:00:00.123+02:00", true),
            ("2026-03-29T01:00:00.1234Z gt startedAtUtc", true),
            ("startedAtUtc in (2026-03-29T01:00:00.1234Z)", false),
            ("startedAtUtc add duration'PT0.001S' gt startedAtUtc", true),
            (
                "startedAtUtc add duration'PT0.001S' lt 2026-03-29T01:00:00.1244Z",
                true,
            ),
        ] {
            check(filter, &[(v, want)]);
        }
        // `ne` is null-aware whatever the literal's precision.
        check("endedAtUtc ne 2026-03-29T01:00:00.1234Z", &[(null, true)]);
    }

    #[test]
    fn local_timestamps() {
        // 2025-12-31T23:30Z is already 2026 in Budapest.
        let v: &[(&str, Value)] = &[
            ("startedAtUtc", utc("2025-12-31T23:30:00.250Z")),
            ("startedAt", local("2026-01-01T00:30:00.250+01:00")),
            ("endedAtUtc", utc("2026-01-01T01:30:00.250Z")),
            ("endedAt", local("2026-01-01T02:30:00.250+01:00")),
        ];
        for (filter, want) in [
            ("year(startedAt) eq 2026", true),
            ("year(startedAtUtc) eq 2025", true),
            ("hour(startedAt) eq 0", true),
            ("hour(startedAtUtc) eq 23", true),
            ("day(startedAt) eq 1 and month(startedAt) eq 1", true),
            ("date(startedAt) eq 2026-01-01", true),
            ("date(startedAtUtc) eq 2025-12-31", true),
            ("time(startedAt) eq 00:30:00.25", true),
            ("time(startedAt) lt 00:30:00.2501", true),
            ("fractionalseconds(startedAt) eq 0.25", true),
            ("totaloffsetminutes(startedAt) eq 60", true),
            ("totaloffsetminutes(startedAtUtc) eq 0", true),
            ("startedAt eq 2025-12-31T23:30:00.25Z", true),
            ("startedAt lt endedAt", true),
            ("endedAt sub startedAt eq duration'PT2H'", true),
            ("startedAt add duration'PT2H' eq endedAt", true),
            ("startedAt in (2026-01-01T00:30:00.25+01:00)", true),
            ("customerJoinedAt eq null", true),
            ("year(customerJoinedAt) eq null", true),
        ] {
            check(filter, &[(v, want)]);
        }
    }

    #[test]
    fn unsupported_nodes_are_reported() {
        let model = Model::load().unwrap();
        let set = model.set_id("Conversations").unwrap();
        let options =
            QueryOptions::parse([("$filter", "QueueSegments/any(s:s/durationInSeconds gt 30)")])
                .unwrap();
        let plan = Planner::new(&model, &Limits::default())
            .collection(set, "t1", &options, u64::MAX)
            .unwrap();
        assert!(matches!(
            matches(&plan.filter.unwrap(), &[]),
            Err(EvalError::Unsupported(_))
        ));
    }
}
