//! Canonical text of every node (`Display`): the round-trip contract.
//! Parentheses are printed only where precedence needs them.

use std::fmt::{self, Display, Formatter, Write};

use super::ast::*;

fn comma_separated<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_char(',')?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

fn path(f: &mut Formatter<'_>, segments: &[Segment]) -> fmt::Result {
    for (i, s) in segments.iter().enumerate() {
        if i > 0 {
            f.write_char('/')?;
        }
        write!(f, "{s}")?;
    }
    Ok(())
}

fn json_string(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for ch in s.chars() {
        match ch {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl Display for Date {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let sign = if self.year < 0 { "-" } else { "" };
        write!(
            f,
            "{sign}{:04}-{:02}-{:02}",
            self.year.unsigned_abs(),
            self.month,
            self.day
        )
    }
}

fn fraction(f: &mut Formatter<'_>, nanos: u32) -> fmt::Result {
    if nanos > 0 {
        let digits = format!("{nanos:09}");
        write!(f, ".{}", digits.trim_end_matches('0'))?;
    }
    Ok(())
}

impl Display for TimeOfDay {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}:{:02}", self.hour, self.minute, self.second)?;
        fraction(f, self.nanos)
    }
}

impl Display for DateTimeOffset {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}T{}", self.date, self.time)?;
        let off = self.offset_minutes;
        if off == 0 {
            f.write_char('Z')
        } else {
            let sign = if off < 0 { '-' } else { '+' };
            let a = off.unsigned_abs();
            write!(f, "{sign}{:02}:{:02}", a / 60, a % 60)
        }
    }
}

impl Display for Duration {
    /// The bare value, `P1DT2H3M4.5S` (no `duration'...'` around it).
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_char('-')?;
        }
        f.write_char('P')?;
        let (d, rem) = (self.seconds / 86_400, self.seconds % 86_400);
        let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
        if d > 0 {
            write!(f, "{d}D")?;
        }
        if h > 0 || m > 0 || s > 0 || self.nanos > 0 || d == 0 {
            f.write_char('T')?;
            if h > 0 {
                write!(f, "{h}H")?;
            }
            if m > 0 {
                write!(f, "{m}M")?;
            }
            if s > 0 || self.nanos > 0 || (h == 0 && m == 0) {
                write!(f, "{s}")?;
                fraction(f, self.nanos)?;
                f.write_char('S')?;
            }
        }
        Ok(())
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Boolean(b) => write!(f, "{b}"),
            Literal::Integer(i) => write!(f, "{i}"),
            Literal::Decimal(text) => f.write_str(text),
            Literal::Double(Float(v)) => {
                if v.is_nan() {
                    f.write_str("NaN")
                } else if v.is_infinite() {
                    f.write_str(if *v > 0.0 { "INF" } else { "-INF" })
                } else {
                    write!(f, "{v:e}")
                }
            }
            Literal::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Literal::Guid(g) => {
                let h = format!("{g:032x}");
                let part = |a: usize, b: usize| h.get(a..b).unwrap_or("");
                write!(
                    f,
                    "{}-{}-{}-{}-{}",
                    part(0, 8),
                    part(8, 12),
                    part(12, 16),
                    part(16, 20),
                    part(20, 32)
                )
            }
            Literal::Date(d) => write!(f, "{d}"),
            Literal::DateTimeOffset(d) => write!(f, "{d}"),
            Literal::TimeOfDay(t) => write!(f, "{t}"),
            Literal::Duration(d) => write!(f, "duration'{d}'"),
            Literal::Binary(b) => write!(f, "binary'{b}'"),
            Literal::Enum { type_name, value } => write!(f, "{type_name}'{value}'"),
            Literal::Geo { geography, text } => {
                let prefix = if *geography { "geography" } else { "geometry" };
                write!(f, "{prefix}'{text}'")
            }
        }
    }
}

impl Display for Segment {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SegmentKind::Name(n) => f.write_str(n),
            SegmentKind::It => f.write_str("$it"),
            SegmentKind::This => f.write_str("$this"),
            SegmentKind::Root => f.write_str("$root"),
            SegmentKind::Count => f.write_str("$count"),
            SegmentKind::Value => f.write_str("$value"),
            SegmentKind::Star => f.write_str("*"),
            SegmentKind::Annotation(a) => write!(f, "@{a}"),
            SegmentKind::Function { name, params } => {
                write!(f, "{name}(")?;
                for (i, (p, v)) in params.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{p}={v}")?;
                }
                f.write_char(')')
            }
        }
    }
}

impl Display for TypeName {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.collection {
            write!(f, "Collection({})", self.name)
        } else {
            f.write_str(&self.name)
        }
    }
}

impl Display for BinaryOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// Precedence of a node as an operand: binary operators have theirs,
/// everything else binds tighter than any binary operator.
fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary { op, .. } => op.precedence(),
        _ => u8::MAX,
    }
}

fn operand(f: &mut Formatter<'_>, e: &Expr, parens: bool) -> fmt::Result {
    if parens {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Literal(l) => write!(f, "{l}"),
            ExprKind::Path(segments) => path(f, segments),
            ExprKind::Alias(a) => write!(f, "@{a}"),
            ExprKind::Call { name, args } => {
                write!(f, "{name}(")?;
                comma_separated(f, args)?;
                f.write_char(')')
            }
            ExprKind::Lambda {
                path: p,
                kind,
                variable,
                predicate,
            } => {
                path(f, p)?;
                f.write_str(match kind {
                    LambdaKind::Any => "/any(",
                    LambdaKind::All => "/all(",
                })?;
                if let (Some(v), Some(pred)) = (variable, predicate) {
                    write!(f, "{v}:{pred}")?;
                }
                f.write_char(')')
            }
            ExprKind::Unary { op, operand: o } => {
                let parens = matches!(o.kind, ExprKind::Binary { .. })
                    || (*op == UnaryOp::Neg && matches!(o.kind, ExprKind::Literal(_)));
                f.write_str(match op {
                    UnaryOp::Not => "not ",
                    UnaryOp::Neg => "-",
                })?;
                operand(f, o, parens)
            }
            ExprKind::Binary { op, left, right } => {
                let p = op.precedence();
                operand(f, left, prec(left) < p)?;
                write!(f, " {op} ")?;
                operand(f, right, prec(right) <= p)
            }
            ExprKind::List(items) => {
                f.write_char('(')?;
                comma_separated(f, items)?;
                f.write_char(')')
            }
            ExprKind::Array(items) => {
                f.write_char('[')?;
                comma_separated(f, items)?;
                f.write_char(']')
            }
            ExprKind::Object(members) => {
                f.write_char('{')?;
                for (i, (name, value)) in members.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    json_string(f, name)?;
                    write!(f, ":{value}")?;
                }
                f.write_char('}')
            }
            ExprKind::Case(branches) => write_case(f, branches),
            ExprKind::Cast { expr, type_name } | ExprKind::IsOf { expr, type_name } => {
                let name = if matches!(self.kind, ExprKind::Cast { .. }) {
                    "cast"
                } else {
                    "isof"
                };
                match expr {
                    Some(e) => write!(f, "{name}({e},{type_name})"),
                    None => write!(f, "{name}({type_name})"),
                }
            }
        }
    }
}

/// `case(c:v,...)`, out of line: `Expr`'s `fmt` recurses once per operator, and its
/// frame must not grow with every arm.
#[inline(never)]
fn write_case(f: &mut Formatter<'_>, branches: &[(Expr, Expr)]) -> fmt::Result {
    f.write_str("case(")?;
    for (i, (condition, value)) in branches.iter().enumerate() {
        if i > 0 {
            f.write_char(',')?;
        }
        write!(f, "{condition}:{value}")?;
    }
    f.write_char(')')
}

impl Display for OrderByItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        if self.direction == Direction::Desc {
            f.write_str(" desc")?;
        }
        Ok(())
    }
}

impl Display for SelectItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SelectKind::Star => f.write_char('*'),
            SelectKind::AllOperations(ns) => write!(f, "{ns}.*"),
            SelectKind::Path {
                segments,
                parameters,
                options,
            } => {
                path(f, segments)?;
                if let Some(params) = parameters {
                    write!(f, "({})", params.join(","))?;
                }
                if let Some(o) = options {
                    write!(f, "({o})")?;
                }
                Ok(())
            }
        }
    }
}

impl Display for ExpandItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        path(f, &self.path)?;
        match self.kind {
            ExpandKind::Entities => {}
            ExpandKind::Ref => f.write_str("/$ref")?,
            ExpandKind::Count => f.write_str("/$count")?,
        }
        if !self.options.is_empty() {
            write!(f, "({})", self.options)?;
        }
        Ok(())
    }
}

impl Display for Levels {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Levels::Count(n) => write!(f, "{n}"),
            Levels::Max => f.write_str("max"),
        }
    }
}

/// Writes `name=value` pairs joined by `sep`.
pub(crate) struct OptionWriter<'f, 'a> {
    f: &'f mut Formatter<'a>,
    sep: char,
    first: bool,
}

impl<'f, 'a> OptionWriter<'f, 'a> {
    pub(crate) fn new(f: &'f mut Formatter<'a>, sep: char) -> Self {
        OptionWriter {
            f,
            sep,
            first: true,
        }
    }

    pub(crate) fn opt(&mut self, name: &str, value: Option<&dyn Display>) -> fmt::Result {
        if let Some(v) = value {
            if !self.first {
                self.f.write_char(self.sep)?;
            }
            self.first = false;
            write!(self.f, "{name}={v}")?;
        }
        Ok(())
    }

    pub(crate) fn list<T: Display>(&mut self, name: &str, items: Option<&Vec<T>>) -> fmt::Result {
        if let Some(items) = items {
            let text = items
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",");
            self.opt(name, Some(&text))?;
        }
        Ok(())
    }
}

impl Display for NestedOptions {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut w = OptionWriter::new(f, ';');
        w.opt("$filter", self.filter.as_ref().map(|e| e as &dyn Display))?;
        w.opt("$search", self.search.as_ref().map(|e| e as &dyn Display))?;
        w.list("$orderby", self.orderby.as_ref())?;
        w.opt("$skip", self.skip.as_ref().map(|e| e as &dyn Display))?;
        w.opt("$top", self.top.as_ref().map(|e| e as &dyn Display))?;
        w.opt("$count", self.count.as_ref().map(|e| e as &dyn Display))?;
        w.list("$select", self.select.as_ref())?;
        w.list("$expand", self.expand.as_ref())?;
        w.opt("$levels", self.levels.as_ref().map(|e| e as &dyn Display))?;
        w.opt("$compute", self.compute.as_ref().map(|e| e as &dyn Display))?;
        for a in &self.aliases {
            w.opt(&format!("@{}", a.name), Some(&a.value))?;
        }
        Ok(())
    }
}
