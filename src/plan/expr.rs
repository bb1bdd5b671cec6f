//! Bound expressions: the typed form of `$filter` and `$orderby` expressions. Every
//! name is resolved to a column of a known entity set, every node has an EDM type,
//! and each node knows whether it can be null, which decides how `store` compiles
//! comparisons so both backends give OData's answer.
//!
//! Null semantics (the same in SQL and in the reference evaluator):
//! - `eq`/`ne` treat null as a value: `null eq null` is true, `x eq null` is false
//!   for a non-null `x`;
//! - `gt ge lt le` are false when either side is null;
//! - arithmetic and functions return null when an argument is null;
//! - `and`/`or`/`not` follow three-valued logic (null is "unknown"), and a row is
//!   returned only when the filter is true.
//!
//! Timestamps have millisecond precision. Comparisons and arithmetic use the
//! instant (a tenant-local column stands for its UTC twin there); date parts of a
//! local column are taken from its local rendering, of a literal in its own offset.

use std::fmt;

use crate::edm::{ColumnKind, PropertyId, SetId};
use crate::value::Value;

/// An entity set in scope while an expression is bound: [`ScopeId::ROOT`] is the
/// request's set (`$it`), and each `any`/`all` variable opens the next one, innermost
/// last. Only the binder makes one, as it opens a scope; the SQL generator names its
/// table alias after it and refuses a column of a scope that is not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScopeId(usize);

impl ScopeId {
    /// The request's own set.
    pub const ROOT: ScopeId = ScopeId(0);

    /// The scope at `depth` of the binder's stack.
    pub(super) fn at(depth: usize) -> ScopeId {
        ScopeId(depth)
    }

    /// The depth in the binder's stack.
    pub(super) fn depth(self) -> usize {
        self.0
    }
}

impl fmt::Display for ScopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The EDM type of a bound expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Boolean,
    Int32,
    Int64,
    Decimal,
    Double,
    String,
    DateTimeOffset,
    Date,
    TimeOfDay,
    Duration,
}

impl Ty {
    pub fn is_numeric(self) -> bool {
        matches!(self, Ty::Int32 | Ty::Int64 | Ty::Decimal | Ty::Double)
    }

    pub fn is_integer(self) -> bool {
        matches!(self, Ty::Int32 | Ty::Int64)
    }

    pub fn name(self) -> &'static str {
        match self {
            Ty::Boolean => "Edm.Boolean",
            Ty::Int32 => "Edm.Int32",
            Ty::Int64 => "Edm.Int64",
            Ty::Decimal => "Edm.Decimal",
            Ty::Double => "Edm.Double",
            Ty::String => "Edm.String",
            Ty::DateTimeOffset => "Edm.DateTimeOffset",
            Ty::Date => "Edm.Date",
            Ty::TimeOfDay => "Edm.TimeOfDay",
            Ty::Duration => "Edm.Duration",
        }
    }

    /// The type both operands of a numeric operation are promoted to.
    pub fn promote(a: Ty, b: Ty) -> Ty {
        let rank = |t: Ty| match t {
            Ty::Int32 => 0,
            Ty::Int64 => 1,
            Ty::Decimal => 2,
            _ => 3,
        };
        if rank(a) >= rank(b) { a } else { b }
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub fn keyword(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    /// Integer division when both sides are integers, else exact division.
    Div,
    /// Always exact (4.01 `divby`).
    DivBy,
    Mod,
}

impl ArithOp {
    pub fn keyword(self) -> &'static str {
        match self {
            ArithOp::Add => "add",
            ArithOp::Sub => "sub",
            ArithOp::Mul => "mul",
            ArithOp::Div => "div",
            ArithOp::DivBy => "divby",
            ArithOp::Mod => "mod",
        }
    }
}

/// Canonical functions the feed evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Contains,
    StartsWith,
    EndsWith,
    Length,
    IndexOf,
    Substring,
    ToLower,
    ToUpper,
    Trim,
    Concat,
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    FractionalSeconds,
    Date,
    Time,
    TotalOffsetMinutes,
    Round,
    Floor,
    Ceiling,
}

impl Func {
    pub fn name(self) -> &'static str {
        match self {
            Func::Contains => "contains",
            Func::StartsWith => "startswith",
            Func::EndsWith => "endswith",
            Func::Length => "length",
            Func::IndexOf => "indexof",
            Func::Substring => "substring",
            Func::ToLower => "tolower",
            Func::ToUpper => "toupper",
            Func::Trim => "trim",
            Func::Concat => "concat",
            Func::Year => "year",
            Func::Month => "month",
            Func::Day => "day",
            Func::Hour => "hour",
            Func::Minute => "minute",
            Func::Second => "second",
            Func::FractionalSeconds => "fractionalseconds",
            Func::Date => "date",
            Func::Time => "time",
            Func::TotalOffsetMinutes => "totaloffsetminutes",
            Func::Round => "round",
            Func::Floor => "floor",
            Func::Ceiling => "ceiling",
        }
    }
}

/// A column of the entity set in scope `scope` (see [`ScopeId`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnRef {
    pub scope: ScopeId,
    pub set: SetId,
    pub property: PropertyId,
    pub nullable: bool,
    /// For a tenant-local timestamp (stored as text with its offset): its UTC twin,
    /// which is used wherever the instant matters.
    pub utc_twin: Option<PropertyId>,
}

/// How a child or related set joins to the current row: pairs of
/// (property of the other set, property of the current set).
#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    /// The set the navigation leads to.
    pub set: SetId,
    /// The set it starts from.
    pub from_set: SetId,
    pub on: Vec<(PropertyId, PropertyId)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    Const(Value, Option<Ty>),
    Column(ColumnRef, Ty),
    /// A property of the entity a single-valued navigation points at, or null.
    Related {
        from_scope: ScopeId,
        join: Join,
        property: PropertyId,
        ty: Ty,
    },
    /// `Nav/$count` of a collection navigation.
    RelatedCount {
        from_scope: ScopeId,
        join: Join,
    },
    Compare {
        op: CmpOp,
        left: Box<Bound>,
        right: Box<Bound>,
    },
    And(Box<Bound>, Box<Bound>),
    Or(Box<Bound>, Box<Bound>),
    Not(Box<Bound>),
    Arith {
        op: ArithOp,
        left: Box<Bound>,
        right: Box<Bound>,
        ty: Ty,
    },
    Neg(Box<Bound>, Ty),
    /// `x in (a, b, ...)`: true when `x eq` one of them.
    In {
        expr: Box<Bound>,
        list: Vec<Bound>,
    },
    Call {
        func: Func,
        args: Vec<Bound>,
        ty: Ty,
    },
    /// `Nav/any(v: predicate)` or `Nav/all(...)`; `scope` is the variable's scope.
    Lambda {
        any: bool,
        from_scope: ScopeId,
        scope: ScopeId,
        join: Join,
        predicate: Option<Box<Bound>>,
    },
    /// A numeric or string conversion.
    Cast(Box<Bound>, Ty),
    /// `case(c1:v1, c2:v2, ...)`: the value of the first true condition, else null.
    /// The values share `ty` (numbers are promoted to the widest).
    Case {
        branches: Vec<(Bound, Bound)>,
        ty: Ty,
    },
    /// Column `position` of an `$apply` result (a group key or an aggregate), for
    /// the options that act on that result.
    Output {
        position: usize,
        ty: Ty,
        nullable: bool,
    },
}

impl Bound {
    /// The type, or `None` for an untyped `null`.
    pub fn ty(&self) -> Option<Ty> {
        match self {
            Bound::Const(_, ty) => *ty,
            Bound::Column(_, ty)
            | Bound::Related { ty, .. }
            | Bound::Arith { ty, .. }
            | Bound::Neg(_, ty)
            | Bound::Call { ty, .. }
            | Bound::Cast(_, ty)
            | Bound::Case { ty, .. }
            | Bound::Output { ty, .. } => Some(*ty),
            Bound::RelatedCount { .. } => Some(Ty::Int64),
            Bound::Compare { .. }
            | Bound::And(..)
            | Bound::Or(..)
            | Bound::Not(_)
            | Bound::In { .. }
            | Bound::Lambda { .. } => Some(Ty::Boolean),
        }
    }

    /// How the expression's values are read back from a row and carried in a
    /// skiptoken.
    pub fn read_kind(&self) -> ColumnKind {
        match self.ty() {
            Some(Ty::Boolean) => ColumnKind::Boolean,
            Some(Ty::Int32 | Ty::Int64) => ColumnKind::Int64,
            Some(Ty::Double | Ty::Decimal | Ty::Duration) => ColumnKind::Double,
            Some(Ty::DateTimeOffset) => ColumnKind::Instant,
            _ => ColumnKind::Text,
        }
    }

    /// Whether the value can be null. Conservative: `true` when unsure.
    pub fn nullable(&self) -> bool {
        match self {
            Bound::Const(c, _) => *c == Value::Null,
            Bound::Column(c, _) => c.nullable,
            Bound::Related { .. } => true,
            Bound::Output { nullable, .. } => *nullable,
            Bound::RelatedCount { .. } => false,
            // Comparisons and `in` are two-valued; `any`/`all` too.
            Bound::Compare { .. } | Bound::In { .. } | Bound::Lambda { .. } => false,
            Bound::And(a, b) | Bound::Or(a, b) => a.nullable() || b.nullable(),
            Bound::Not(a) | Bound::Neg(a, _) | Bound::Cast(a, _) => a.nullable(),
            // Division by zero yields null.
            Bound::Arith {
                op, left, right, ..
            } => {
                left.nullable()
                    || right.nullable()
                    || matches!(op, ArithOp::Div | ArithOp::DivBy | ArithOp::Mod)
            }
            Bound::Call { args, .. } => args.iter().any(Bound::nullable),
            // Null when no condition holds.
            Bound::Case { .. } => true,
        }
    }
}

/// Canonical text of a bound expression, with columns as `$N.index`: used in plan
/// tests and as the `$orderby` fingerprint inside skiptokens.
impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Const(c, _) => write!(f, "{c}"),
            Bound::Column(c, _) => write!(f, "${}.{}", c.scope, c.property),
            Bound::Related {
                from_scope,
                join,
                property,
                ..
            } => {
                write!(f, "${from_scope}->{}.{property}", join.set)
            }
            Bound::RelatedCount { from_scope, join } => {
                write!(f, "${from_scope}->{}/$count", join.set)
            }
            Bound::Compare { op, left, right } => write!(f, "({left} {} {right})", op.keyword()),
            Bound::And(a, b) => write!(f, "({a} and {b})"),
            Bound::Or(a, b) => write!(f, "({a} or {b})"),
            Bound::Not(a) => write!(f, "(not {a})"),
            Bound::Arith {
                op, left, right, ..
            } => write!(f, "({left} {} {right})", op.keyword()),
            Bound::Neg(a, _) => write!(f, "(-{a})"),
            Bound::In { expr, list } => {
                write!(f, "({expr} in (")?;
                for (i, item) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("))")
            }
            Bound::Call { func, args, .. } => {
                write!(f, "{}(", func.name())?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            Bound::Lambda {
                any,
                from_scope,
                scope,
                join,
                predicate,
            } => {
                let kind = if *any { "any" } else { "all" };
                match predicate {
                    Some(p) => write!(f, "${from_scope}->{}/{kind}(${scope}: {p})", join.set),
                    None => write!(f, "${from_scope}->{}/{kind}()", join.set),
                }
            }
            Bound::Cast(a, ty) => write!(f, "cast({a},{ty})"),
            Bound::Case { branches, .. } => write_case(f, branches),
            Bound::Output { position, .. } => write!(f, "@{position}"),
        }
    }
}

/// `case(c:v,...)`, out of line so the recursive `fmt` of [`Bound`] keeps its frame.
#[inline(never)]
fn write_case(f: &mut fmt::Formatter<'_>, branches: &[(Bound, Bound)]) -> fmt::Result {
    f.write_str("case(")?;
    for (i, (c, v)) in branches.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{c}:{v}")?;
    }
    f.write_str(")")
}
