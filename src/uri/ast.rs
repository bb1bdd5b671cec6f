//! The syntax tree of query options: what the client wrote, untyped.
//!
//! Every node keeps the byte [`Span`] it was parsed from; spans never take
//! part in equality, so tests can build expected trees with [`Span::NONE`].
//! `Display` prints canonical option text (the round-trip contract: parse,
//! print, parse again gives an equal tree).

use super::span::{Span, eq_ignoring_span};

// ---------------------------------------------------------------- literals

/// A float compared by bit pattern, so `NaN == NaN` holds in tree equality.
#[derive(Clone, Copy, Debug)]
pub struct Float(pub f64);

impl PartialEq for Float {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

/// A calendar date in the proleptic Gregorian calendar (`2024-02-29`,
/// `-0044-03-15`; year 0 exists, as in ISO 8601 / XML Schema 1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date {
    /// Year, may be negative or have more than four digits.
    pub year: i64,
    /// 1..=12
    pub month: u8,
    /// 1..=31, valid for the month
    pub day: u8,
}

/// A time of day (`13:52`, `13:52:22.1234567`). `second` may be 60 (leap
/// second), as the ABNF allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeOfDay {
    /// 0..=23
    pub hour: u8,
    /// 0..=59
    pub minute: u8,
    /// 0..=60
    pub second: u8,
    /// Fractional seconds in nanoseconds (the ABNF allows 12 digits; digits
    /// past the ninth must be zero).
    pub nanos: u32,
}

/// A point in time with its UTC offset (`2012-09-03T13:52:22Z`,
/// `2012-09-03T14:53+02:00`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTimeOffset {
    /// The local date.
    pub date: Date,
    /// The local time.
    pub time: TimeOfDay,
    /// Offset from UTC in minutes (`Z` and `-00:00` are 0).
    pub offset_minutes: i16,
}

/// A day-time duration (`duration'P6DT23H59M59.9999S'`), kept as a sign and
/// a magnitude so that `-PT0.5S` is representable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Duration {
    /// True for `-P...`.
    pub negative: bool,
    /// Whole seconds of the magnitude (days, hours and minutes folded in).
    pub seconds: u64,
    /// Fractional part of the magnitude in nanoseconds.
    pub nanos: u32,
}

/// A primitive literal (ABNF `primitiveLiteral`).
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// `null`
    Null,
    /// `true`, `false` (any case)
    Boolean(bool),
    /// `42`, `-7`: an integer without fraction or exponent that fits `i64`.
    Integer(i64),
    /// `12.50`, or an integer too large for `i64`: the text as written
    /// (without a leading `+`), so no precision is lost.
    Decimal(String),
    /// `1.5e3`, `INF`, `-INF`, `NaN`: a number with an exponent.
    Double(Float),
    /// `'O''Neil'`: the unescaped value.
    String(String),
    /// `01234567-89ab-cdef-0123-456789abcdef`
    Guid(u128),
    /// `2012-09-03`
    Date(Date),
    /// `2012-09-03T13:52:22Z`, also the legacy `datetimeoffset'...'` form.
    DateTimeOffset(DateTimeOffset),
    /// `13:52:22`
    TimeOfDay(TimeOfDay),
    /// `duration'P1DT2H'` (or a quoted `'P1D'` where a duration rule is asked for)
    Duration(Duration),
    /// `binary'Zm9v'`: the base64url text as written.
    Binary(String),
    /// `Sales.Pattern'Yellow'`: type name and the member list as written.
    Enum {
        /// Qualified enumeration type name.
        type_name: String,
        /// Member names or numbers, comma separated, as written.
        value: String,
    },
    /// `geography'SRID=0;Point(1 2)'`, `geometry'...'`: text kept, not validated.
    Geo {
        /// `geography` (true) or `geometry` (false).
        geography: bool,
        /// The text between the quotes.
        text: String,
    },
}

// ------------------------------------------------------------- expressions

/// An expression of `$filter`, `$orderby` or a parameter alias.
///
/// The parser does no type checking and knows no model: `Price eq 'x'`
/// parses fine. The binder (`plan`) resolves names and checks types.
#[derive(Clone, Debug)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where it was written.
    pub span: Span,
}
eq_ignoring_span!(Expr { kind });

impl Expr {
    /// A node without position (for hand-built trees).
    pub fn new(kind: ExprKind) -> Self {
        Expr {
            kind,
            span: Span::NONE,
        }
    }

    /// Number of nodes in the tree (for the binder's node-count limit).
    pub fn node_count(&self) -> usize {
        let seg = |s: &[Segment]| -> usize {
            s.iter()
                .map(|s| match &s.kind {
                    SegmentKind::Function { params, .. } => {
                        params.iter().map(|(_, e)| e.node_count()).sum::<usize>()
                    }
                    _ => 0,
                })
                .sum()
        };
        1 + match &self.kind {
            ExprKind::Literal(_) | ExprKind::Alias(_) => 0,
            ExprKind::Path(s) => seg(s),
            ExprKind::Call { args, .. } | ExprKind::List(args) | ExprKind::Array(args) => {
                args.iter().map(Expr::node_count).sum()
            }
            ExprKind::Object(members) => members.iter().map(|(_, e)| e.node_count()).sum(),
            ExprKind::Case(branches) => case_node_count(branches),
            ExprKind::Lambda {
                path, predicate, ..
            } => seg(path) + predicate.as_ref().map_or(0, |p| p.node_count()),
            ExprKind::Unary { operand, .. } => operand.node_count(),
            ExprKind::Binary { left, right, .. } => left.node_count() + right.node_count(),
            ExprKind::Cast { expr, .. } | ExprKind::IsOf { expr, .. } => {
                expr.as_ref().map_or(0, |e| e.node_count())
            }
        }
    }
}

/// Out of line, so the frame of the recursive `node_count` does not grow.
#[inline(never)]
fn case_node_count(branches: &[(Expr, Expr)]) -> usize {
    branches
        .iter()
        .map(|(c, v)| c.node_count() + v.node_count())
        .sum()
}

/// The kinds of expression.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// `42`, `'text'`, `2012-09-03`
    Literal(Literal),
    /// A member path: `Name`, `Address/City`, `$it/Name`, `d/Price` (lambda
    /// variable), `Products/$count`, `Model.Fn(x=1)/Name`.
    Path(Vec<Segment>),
    /// A parameter alias `@p` (name without `@`).
    Alias(String),
    /// A function call with positional arguments: `contains(Name,'x')`.
    /// Built-in names are stored in canonical spelling (lowercase except
    /// `matchesPattern`, whatever case the client used); others as written.
    Call {
        /// Function name.
        name: String,
        /// Arguments in order.
        args: Vec<Expr>,
    },
    /// `Nav/any(d:d/Price gt 1)`, `Nav/any()`, `Nav/all(d:...)`.
    Lambda {
        /// The collection the lambda ranges over.
        path: Vec<Segment>,
        /// `any` or `all`.
        kind: LambdaKind,
        /// The range variable (`None` only for `any()`).
        variable: Option<String>,
        /// The predicate (`None` only for `any()`).
        predicate: Option<Box<Expr>>,
    },
    /// `not x`, `-x`
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        operand: Box<Expr>,
    },
    /// `a eq b`, `a and b`, `a add b`, `a in (1,2)`, `a has Ns.E'x'`
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// The parenthesised literal list on the right of `in`: `('a','b')`.
    List(Vec<Expr>),
    /// A JSON array in an expression (4.01): `["a","b"]`, `[1,2 add 3]`.
    Array(Vec<Expr>),
    /// A JSON object in an expression (4.01): `{"Street":"Main"}`.
    Object(Vec<(String, Expr)>),
    /// `case(x gt 1:'big', true:'small')` (4.01): the value of the first condition
    /// that is true, else null.
    Case(Vec<(Expr, Expr)>),
    /// `cast(Edm.String)`, `cast(x, Model.T)`
    Cast {
        /// The expression cast (`None`: the current instance).
        expr: Option<Box<Expr>>,
        /// Target type.
        type_name: TypeName,
    },
    /// `isof(Model.T)`, `isof(x, Edm.Int32)`
    IsOf {
        /// The expression tested (`None`: the current instance).
        expr: Option<Box<Expr>>,
        /// Type tested for.
        type_name: TypeName,
    },
}

/// One segment of a member path, with its own span so the binder can point
/// at the exact unknown name.
#[derive(Clone, Debug)]
pub struct Segment {
    /// What the segment is.
    pub kind: SegmentKind,
    /// Where it was written.
    pub span: Span,
}
eq_ignoring_span!(Segment { kind });

impl Segment {
    /// A segment without position.
    pub fn new(kind: SegmentKind) -> Self {
        Segment {
            kind,
            span: Span::NONE,
        }
    }

    /// A plain name segment without position.
    pub fn name(name: &str) -> Self {
        Segment::new(SegmentKind::Name(name.to_string()))
    }
}

/// The kinds of path segment.
#[derive(Clone, Debug, PartialEq)]
pub enum SegmentKind {
    /// A property, navigation property, lambda variable or (if it contains
    /// a dot) a type cast: `Name`, `Model.VipCustomer`.
    Name(String),
    /// `$it`
    It,
    /// `$this`
    This,
    /// `$root`
    Root,
    /// `$count`
    Count,
    /// `$value` (only in `$expand`)
    Value,
    /// `*` (only in `$select`/`$expand`)
    Star,
    /// An annotation `@Core.Messages#q` (stored without `@`).
    Annotation(String),
    /// A bound function with named parameters: `Model.Fn(p=1,q=@a)`.
    Function {
        /// Function name as written (possibly qualified).
        name: String,
        /// Named parameters in order.
        params: Vec<(String, Expr)>,
    },
}

/// `any` or `all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LambdaKind {
    /// `any`
    Any,
    /// `all`
    All,
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `not`
    Not,
    /// `-`
    Neg,
}

/// Binary operators, in OData spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
    /// `has`
    Has,
    /// `in`
    In,
    /// `and`
    And,
    /// `or`
    Or,
    /// `add`
    Add,
    /// `sub`
    Sub,
    /// `mul`
    Mul,
    /// `div`
    Div,
    /// `divby`
    DivBy,
    /// `mod`
    Mod,
}

impl BinaryOp {
    /// Binding strength: higher binds tighter (Part 2, operator precedence).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::Ne => 3,
            BinaryOp::Gt
            | BinaryOp::Ge
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Has
            | BinaryOp::In => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::DivBy | BinaryOp::Mod => 6,
        }
    }

    /// The keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Has => "has",
            BinaryOp::In => "in",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::DivBy => "divby",
            BinaryOp::Mod => "mod",
        }
    }
}

/// A type name in `cast`/`isof`: `Edm.String`, `Model.Customer`, `Customer`,
/// `Collection(Edm.Int32)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeName {
    /// The (possibly qualified) name.
    pub name: String,
    /// True for `Collection(...)`.
    pub collection: bool,
}

// ----------------------------------------------------------------- options

/// Sort direction of an `$orderby` item.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    /// `asc` (the default)
    #[default]
    Asc,
    /// `desc`
    Desc,
}

/// One `$orderby` item: `Name desc`.
#[derive(Clone, Debug)]
pub struct OrderByItem {
    /// The sort key.
    pub expr: Expr,
    /// The direction (`asc` when not written).
    pub direction: Direction,
    /// Where the item was written.
    pub span: Span,
}
eq_ignoring_span!(OrderByItem { expr, direction });

/// One `$select` item.
#[derive(Clone, Debug)]
pub struct SelectItem {
    /// What is selected.
    pub kind: SelectKind,
    /// Where the item was written.
    pub span: Span,
}
eq_ignoring_span!(SelectItem { kind });

/// The kinds of `$select` item.
#[derive(Clone, Debug, PartialEq)]
pub enum SelectKind {
    /// `*`
    Star,
    /// `Model.*`: all operations of a schema (namespace kept).
    AllOperations(String),
    /// `Name`, `Address/Street`, `Nav`, `Model.Action`, `Fn(p1,p2)`,
    /// `Addresses($filter=...)`.
    Path {
        /// Names, type casts and annotations, in order.
        segments: Vec<Segment>,
        /// Parameter names of a function overload: `Fn(Location,Kind)`.
        parameters: Option<Vec<String>>,
        /// Nested options (4.01): `Addresses($top=5)`.
        options: Option<Box<NestedOptions>>,
    },
}

/// What an `$expand` item expands to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExpandKind {
    /// The related entities (the default).
    #[default]
    Entities,
    /// `Nav/$ref`: references only.
    Ref,
    /// `Nav/$count`: the count only.
    Count,
}

/// One `$expand` item: `Items($select=Name;$top=5)`.
#[derive(Clone, Debug)]
pub struct ExpandItem {
    /// Navigation path (names, type casts, `*`, annotations, `$value`).
    pub path: Vec<Segment>,
    /// Entities, `$ref` or `$count`.
    pub kind: ExpandKind,
    /// Options in parentheses.
    pub options: NestedOptions,
    /// Where the item was written.
    pub span: Span,
}
eq_ignoring_span!(ExpandItem {
    path,
    kind,
    options
});

/// `$levels` in `$expand`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Levels {
    /// `$levels=3`
    Count(u32),
    /// `$levels=max`
    Max,
}

/// A parameter alias definition `@p=value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Alias {
    /// The name without `@`.
    pub name: String,
    /// The value, parsed as an expression.
    pub value: Expr,
}

/// Options nested in `$expand`/`$select` parentheses, separated by `;`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NestedOptions {
    /// `$filter`
    pub filter: Option<Expr>,
    /// `$orderby`
    pub orderby: Option<Vec<OrderByItem>>,
    /// `$select`
    pub select: Option<Vec<SelectItem>>,
    /// `$expand`
    pub expand: Option<Vec<ExpandItem>>,
    /// `$top`
    pub top: Option<u64>,
    /// `$skip`
    pub skip: Option<u64>,
    /// `$count`
    pub count: Option<bool>,
    /// `$levels`
    pub levels: Option<Levels>,
    /// `$search`, kept as written (not parsed).
    pub search: Option<String>,
    /// `$compute`, kept as written (not parsed).
    pub compute: Option<String>,
    /// `@a=value` definitions local to this item.
    pub aliases: Vec<Alias>,
}

impl NestedOptions {
    /// True when no option is set.
    pub fn is_empty(&self) -> bool {
        *self == NestedOptions::default()
    }
}
