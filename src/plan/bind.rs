//! The binder: `uri` expressions → [`Bound`] expressions. Resolves names against the
//! model (properties, navigation properties, lambda variables, parameter aliases),
//! converts literals, type-checks operators and function arguments with OData's
//! numeric promotion, and reports every problem at the span where it was written.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use super::expr::{ArithOp, Bound, CmpOp, ColumnRef, Func, Join, ScopeId, Ty};
use super::{PlanError, PlanErrorKind, property_of, set_of};
use crate::edm::{EdmType, EntitySet, Model, PropertyId, SetId, Storage};
use crate::uri::{
    Alias, BinaryOp, Expr, ExprKind, LambdaKind, Literal, Segment, SegmentKind, Span, UnaryOp,
};
use crate::value::Value;

/// An entity set in scope: the request's set (`$it`) or a lambda variable.
struct Scope {
    variable: Option<String>,
    set: SetId,
}

pub struct Binder<'a> {
    model: &'a Model,
    option: &'a str,
    aliases: &'a [Alias],
    scopes: Vec<Scope>,
    now: DateTime<Utc>,
    /// Aliases being expanded, to stop `@a=@a`.
    expanding: Vec<String>,
    /// Names in scope besides the set's properties: `compute` aliases of `$apply`
    /// (standing for their expressions) or the columns of an `$apply` result.
    names: Vec<(String, Bound)>,
    /// Whether only `names` are in scope (after aggregation, the set's properties
    /// are gone).
    names_only: bool,
}

fn ty_of(p: EdmType) -> Ty {
    match p {
        EdmType::String => Ty::String,
        EdmType::Int32 => Ty::Int32,
        EdmType::Int64 => Ty::Int64,
        EdmType::Double => Ty::Double,
        EdmType::Boolean => Ty::Boolean,
        EdmType::DateTimeOffset => Ty::DateTimeOffset,
    }
}

impl<'a> Binder<'a> {
    pub fn new(
        model: &'a Model,
        set: SetId,
        option: &'a str,
        aliases: &'a [Alias],
        now: DateTime<Utc>,
    ) -> Binder<'a> {
        Binder {
            model,
            option,
            aliases,
            scopes: vec![Scope {
                variable: None,
                set,
            }],
            now,
            expanding: Vec::new(),
            names: Vec::new(),
            names_only: false,
        }
    }

    /// Puts `names` in scope; with `only`, nothing else.
    pub fn with_names(mut self, names: Vec<(String, Bound)>, only: bool) -> Self {
        self.names = names;
        self.names_only = only;
        self
    }

    fn invalid(&self, span: Span, message: impl Into<String>) -> PlanError {
        PlanError::invalid(self.option, Some(span), message)
    }

    fn unsupported(&self, span: Span, message: impl Into<String>) -> PlanError {
        PlanError {
            option: self.option.to_string(),
            span: Some(span),
            kind: PlanErrorKind::NotImplemented,
            message: message.into(),
        }
    }

    fn set(&self, id: SetId) -> Result<&'a EntitySet, PlanError> {
        set_of(self.model, id)
    }

    /// The set scope `scope` ranges over; a scope that is not open is an internal
    /// error (the binder made the id).
    fn scope_set(&self, scope: ScopeId) -> Result<SetId, PlanError> {
        self.scopes
            .get(scope.depth())
            .map(|s| s.set)
            .ok_or_else(|| PlanError::internal(format!("lambda scope ${scope} is not open")))
    }

    /// The innermost open scope.
    fn innermost(&self) -> ScopeId {
        ScopeId::at(self.scopes.len().saturating_sub(1))
    }

    /// Binds an expression that must be Boolean (a `$filter`, a lambda predicate).
    pub fn bind_predicate(&mut self, e: &Expr) -> Result<Bound, PlanError> {
        let b = self.bind(e)?;
        match b.ty() {
            Some(Ty::Boolean) | None => Ok(b),
            Some(t) => {
                Err(self.invalid(e.span, format!("expected a Boolean expression, found {t}")))
            }
        }
    }

    pub fn bind(&mut self, e: &Expr) -> Result<Bound, PlanError> {
        match &e.kind {
            ExprKind::Literal(l) => self.literal(l, e.span),
            ExprKind::Path(segments) => self.path(segments, e.span),
            ExprKind::Alias(name) => self.alias(name, e.span),
            ExprKind::Call { name, args } => self.call(name, args, e.span),
            ExprKind::Lambda {
                path,
                kind,
                variable,
                predicate,
            } => self.lambda(
                path,
                *kind,
                variable.as_deref(),
                predicate.as_deref(),
                e.span,
            ),
            ExprKind::Unary { op, operand } => {
                let inner = self.bind(operand)?;
                match op {
                    UnaryOp::Not => match inner.ty() {
                        Some(Ty::Boolean) | None => Ok(Bound::Not(Box::new(inner))),
                        Some(t) => Err(self
                            .invalid(e.span, format!("'not' needs a Boolean operand, found {t}"))),
                    },
                    UnaryOp::Neg => match inner.ty() {
                        Some(t) if t.is_numeric() || t == Ty::Duration => {
                            let t = if t == Ty::Int32 { Ty::Int64 } else { t };
                            Ok(Bound::Neg(Box::new(inner), t))
                        }
                        None => Ok(Bound::Const(Value::Null, None)),
                        Some(t) => Err(self
                            .invalid(e.span, format!("'-' needs a number or duration, found {t}"))),
                    },
                }
            }
            ExprKind::Binary { op, left, right } => self.binary(*op, left, right, e.span),
            ExprKind::List(_) | ExprKind::Array(_) | ExprKind::Object(_) => {
                Err(self.invalid(e.span, "a list is only allowed on the right of 'in'"))
            }
            ExprKind::Cast { expr, type_name } => {
                let Some(inner) = expr else {
                    return Err(
                        self.unsupported(e.span, "cast of the current entity is not supported")
                    );
                };
                let inner = self.bind(inner)?;
                let target = edm_type_name(&type_name.name)
                    .filter(|_| !type_name.collection)
                    .ok_or_else(|| {
                        self.invalid(e.span, format!("unknown type '{}'", type_name.name))
                    })?;
                self.cast(inner, target, e.span)
            }
            ExprKind::Case(branches) => self.case(branches),
            ExprKind::IsOf { expr, type_name } => {
                let Some(inner) = expr else {
                    return Err(
                        self.unsupported(e.span, "isof on the current entity is not supported")
                    );
                };
                let inner = self.bind(inner)?;
                let target = edm_type_name(&type_name.name).ok_or_else(|| {
                    self.invalid(e.span, format!("unknown type '{}'", type_name.name))
                })?;
                // Static types are exact here: no inheritance, no open types.
                Ok(match inner.ty() {
                    None => Bound::Const(Value::Bool(false), Some(Ty::Boolean)),
                    Some(t) => Bound::Const(
                        Value::Bool(t == target && !type_name.collection),
                        Some(Ty::Boolean),
                    ),
                })
            }
        }
    }

    /// `case(...)`: Boolean conditions, and values of one type (numbers of different
    /// types are promoted, as in arithmetic; `null` fits any).
    fn case(&mut self, branches: &[(Expr, Expr)]) -> Result<Bound, PlanError> {
        let mut bound = Vec::with_capacity(branches.len());
        let mut ty: Option<Ty> = None;
        for (condition, value) in branches {
            let c = self.bind_predicate(condition)?;
            let v = self.bind(value)?;
            ty = match (ty, v.ty()) {
                (t, None) => t,
                (None, Some(t)) => Some(t),
                (Some(a), Some(b)) if a == b => Some(a),
                (Some(a), Some(b)) if a.is_numeric() && b.is_numeric() => Some(Ty::promote(a, b)),
                (Some(a), Some(b)) => {
                    return Err(self.invalid(
                        value.span,
                        format!("the values of case() must have one type, found {a} and {b}"),
                    ));
                }
            };
            bound.push((c, v));
        }
        Ok(match ty {
            Some(ty) => Bound::Case {
                branches: bound,
                ty,
            },
            None => Bound::Const(Value::Null, None),
        })
    }

    fn literal(&self, l: &Literal, span: Span) -> Result<Bound, PlanError> {
        let (c, ty) = match l {
            Literal::Null => (Value::Null, None),
            Literal::Boolean(b) => (Value::Bool(*b), Some(Ty::Boolean)),
            Literal::Integer(i) => (
                Value::Int(*i),
                Some(if i32::try_from(*i).is_ok() {
                    Ty::Int32
                } else {
                    Ty::Int64
                }),
            ),
            Literal::Decimal(text) => {
                let v: f64 = text
                    .parse()
                    .map_err(|_| self.invalid(span, format!("'{text}' is not a number")))?;
                (Value::Double(v), Some(Ty::Decimal))
            }
            Literal::Double(d) => (Value::Double(d.0), Some(Ty::Double)),
            // PostgreSQL text cannot hold U+0000, so no stored value has it: refused
            // the same way on both backends.
            Literal::String(s) if s.contains('\0') => {
                return Err(self.invalid(span, "text cannot contain the character U+0000"));
            }
            Literal::String(s) => (Value::Text(s.clone()), Some(Ty::String)),
            Literal::DateTimeOffset(v) => {
                let date = NaiveDate::from_ymd_opt(
                    v.date.year as i32,
                    v.date.month.into(),
                    v.date.day.into(),
                )
                .filter(|_| (1..=9999).contains(&v.date.year))
                .ok_or_else(|| self.invalid(span, "the date is outside years 1 to 9999"))?;
                let time = NaiveTime::from_hms_nano_opt(
                    v.time.hour.into(),
                    v.time.minute.into(),
                    u32::from(v.time.second.min(59)),
                    v.time.nanos,
                )
                .ok_or_else(|| self.invalid(span, "not a valid time of day"))?;
                let utc = date.and_time(time) - Duration::minutes(v.offset_minutes.into());
                (Value::Instant(utc.and_utc()), Some(Ty::DateTimeOffset))
            }
            Literal::Date(d) => {
                let date = NaiveDate::from_ymd_opt(d.year as i32, d.month.into(), d.day.into())
                    .filter(|_| (1..=9999).contains(&d.year))
                    .ok_or_else(|| self.invalid(span, "the date is outside years 1 to 9999"))?;
                (Value::Date(date), Some(Ty::Date))
            }
            Literal::TimeOfDay(t) => {
                let time = NaiveTime::from_hms_nano_opt(
                    t.hour.into(),
                    t.minute.into(),
                    u32::from(t.second.min(59)),
                    t.nanos,
                )
                .ok_or_else(|| self.invalid(span, "not a valid time of day"))?;
                (Value::Time(time), Some(Ty::TimeOfDay))
            }
            Literal::Duration(d) => {
                let secs = d.seconds as f64 + f64::from(d.nanos) / 1e9;
                (
                    Value::Duration(if d.negative { -secs } else { secs }),
                    Some(Ty::Duration),
                )
            }
            Literal::Guid(_) => {
                return Err(self.invalid(
                    span,
                    "GUID literals compare with Edm.Guid properties, and this feed has none: ids are strings, so quote the value ('...')",
                ));
            }
            Literal::Binary(_) | Literal::Enum { .. } | Literal::Geo { .. } => {
                return Err(self.invalid(
                    span,
                    "this kind of literal has no matching property type in this feed",
                ));
            }
        };
        Ok(Bound::Const(c, ty))
    }

    fn alias(&mut self, name: &str, span: Span) -> Result<Bound, PlanError> {
        let Some(alias) = self.aliases.iter().find(|a| a.name == name) else {
            return Err(self.invalid(
                span,
                format!("parameter alias @{name} is not defined in the query string"),
            ));
        };
        if self.expanding.iter().any(|n| n == name) {
            return Err(self.invalid(span, format!("parameter alias @{name} refers to itself")));
        }
        self.expanding.push(name.to_string());
        let bound = self.bind(&alias.value);
        self.expanding.pop();
        bound
    }

    /// The scope a path starts in, and the segments after the variable.
    fn start_scope<'s>(&self, segments: &'s [Segment]) -> (ScopeId, &'s [Segment]) {
        match segments.first().map(|s| &s.kind) {
            Some(SegmentKind::It) => (ScopeId::ROOT, &segments[1..]),
            Some(SegmentKind::Name(n)) => {
                match self
                    .scopes
                    .iter()
                    .rposition(|s| s.variable.as_deref() == Some(n.as_str()))
                {
                    Some(i) => (ScopeId::at(i), &segments[1..]),
                    None => (self.innermost(), segments),
                }
            }
            _ => (self.innermost(), segments),
        }
    }

    fn path(&mut self, segments: &[Segment], span: Span) -> Result<Bound, PlanError> {
        if let [
            Segment {
                kind: SegmentKind::Name(name),
                ..
            },
        ] = segments
            && let Some((_, bound)) = self.names.iter().find(|(n, _)| n == name)
        {
            return Ok(bound.clone());
        }
        if self.names_only {
            let known: Vec<&str> = self.names.iter().map(|(n, _)| n.as_str()).collect();
            return Err(self.invalid(
                span,
                format!(
                    "only the properties of the $apply result are in scope here: {}",
                    known.join(", ")
                ),
            ));
        }
        let (scope, rest) = self.start_scope(segments);
        let set_index = self.scope_set(scope)?;
        let set = self.set(set_index)?;
        let Some(first) = rest.first() else {
            return Err(self.unsupported(
                span,
                "a path must end in a property; comparing whole entities is not supported",
            ));
        };
        let SegmentKind::Name(name) = &first.kind else {
            return Err(self.unsupported(
                first.span,
                "this path segment is not supported in expressions",
            ));
        };
        if let Some(index) = set.property_id(name) {
            if rest.len() > 1 {
                return Err(self.invalid(
                    rest[1].span,
                    format!("'{name}' is a primitive property and has no members"),
                ));
            }
            let p = property_of(set, index)?;
            return Ok(Bound::Column(
                ColumnRef {
                    scope,
                    set: set_index,
                    property: index,
                    nullable: p.nullable,
                    utc_twin: p.utc_twin,
                },
                ty_of(p.ty),
            ));
        }
        let Some(nav) = set.navigation(name) else {
            return Err(self.invalid(first.span, unknown_property(set, name)));
        };
        let join = self.join(set_index, name, first.span)?;
        if nav.collection {
            return match rest.get(1).map(|s| &s.kind) {
                Some(SegmentKind::Count) if rest.len() == 2 => Ok(Bound::RelatedCount { from_scope: scope, join }),
                _ => Err(self.invalid(
                    first.span,
                    format!("'{name}' is a collection: use {name}/any(...), {name}/all(...) or {name}/$count"),
                )),
            };
        }
        let target = self.set(join.set)?;
        match rest.get(1) {
            Some(Segment {
                kind: SegmentKind::Name(prop),
                span: prop_span,
            }) if rest.len() == 2 => {
                let index = target
                    .property_id(prop)
                    .ok_or_else(|| self.invalid(*prop_span, unknown_property(target, prop)))?;
                let p = property_of(target, index)?;
                if p.storage == Storage::LocalText {
                    return Err(self.unsupported(*prop_span, "local timestamps of related entities are not supported; use the Utc property"));
                }
                Ok(Bound::Related {
                    from_scope: scope,
                    join,
                    property: index,
                    ty: ty_of(p.ty),
                })
            }
            Some(s) if rest.len() > 2 => Err(self.unsupported(
                s.span,
                "paths through more than one navigation are not supported",
            )),
            _ => Err(self.invalid(
                first.span,
                format!("'{name}' is an entity: name one of its properties, e.g. {name}/id"),
            )),
        }
    }

    /// How navigation `nav` of `set` joins: from the constraint on this side, or on the
    /// partner's side for a collection.
    fn join(&self, set_index: SetId, nav_name: &str, span: Span) -> Result<Join, PlanError> {
        let set = self.set(set_index)?;
        let nav = set
            .navigation(nav_name)
            .ok_or_else(|| self.invalid(span, unknown_property(set, nav_name)))?;
        let target_index = self
            .model
            .set_id(&nav.target_set)
            .ok_or_else(|| self.unsupported(span, "the navigation target is not an entity set"))?;
        let target = self.set(target_index)?;
        let pairs: Vec<(PropertyId, PropertyId)> = if !nav.constraints.is_empty() {
            // This side holds the foreign key: target.principal = this.dependent.
            nav.constraints
                .iter()
                .filter_map(|(dep, princ)| {
                    Some((target.property_id(princ)?, set.property_id(dep)?))
                })
                .collect()
        } else if let Some(partner) = nav.partner.as_deref().and_then(|p| target.navigation(p)) {
            // The target holds the foreign key back to this set.
            partner
                .constraints
                .iter()
                .filter_map(|(dep, princ)| {
                    Some((target.property_id(dep)?, set.property_id(princ)?))
                })
                .collect()
        } else {
            Vec::new()
        };
        if pairs.is_empty() {
            return Err(self.unsupported(
                span,
                format!("'{nav_name}' has no referential constraint to join on"),
            ));
        }
        Ok(Join {
            set: target_index,
            from_set: set_index,
            on: pairs,
        })
    }

    fn lambda(
        &mut self,
        path: &[Segment],
        kind: LambdaKind,
        variable: Option<&str>,
        predicate: Option<&Expr>,
        span: Span,
    ) -> Result<Bound, PlanError> {
        let (scope, rest) = self.start_scope(path);
        let [
            Segment {
                kind: SegmentKind::Name(nav_name),
                span: nav_span,
            },
        ] = rest
        else {
            return Err(self.unsupported(
                span,
                "any/all must follow one collection navigation property",
            ));
        };
        let set_index = self.scope_set(scope)?;
        let set = self.set(set_index)?;
        match set.navigation(nav_name) {
            Some(n) if n.collection => {}
            Some(_) => {
                return Err(self.invalid(
                    *nav_span,
                    format!("'{nav_name}' is single-valued; any/all need a collection"),
                ));
            }
            None => return Err(self.invalid(*nav_span, unknown_property(set, nav_name))),
        }
        let join = self.join(set_index, nav_name, *nav_span)?;
        if self.scopes.len() > 4 {
            return Err(self.unsupported(span, "any/all nested more than three deep"));
        }
        let bound_predicate = match (variable, predicate) {
            (Some(var), Some(p)) => {
                if self
                    .scopes
                    .iter()
                    .any(|s| s.variable.as_deref() == Some(var))
                {
                    return Err(self.invalid(
                        span,
                        format!("the lambda variable '{var}' is already in use"),
                    ));
                }
                if self.set(join.set)?.property_id(var).is_some() {
                    return Err(self.invalid(
                        span,
                        format!("the lambda variable '{var}' hides a property of the same name"),
                    ));
                }
                self.scopes.push(Scope {
                    variable: Some(var.to_string()),
                    set: join.set,
                });
                let bound = self.bind_predicate(p);
                self.scopes.pop();
                Some(Box::new(bound?))
            }
            _ if kind == LambdaKind::All => {
                return Err(self.invalid(span, "all(...) needs a variable and a predicate"));
            }
            _ => None,
        };
        Ok(Bound::Lambda {
            any: kind == LambdaKind::Any,
            from_scope: scope,
            scope: ScopeId::at(self.scopes.len()),
            join,
            predicate: bound_predicate,
        })
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        left: &Expr,
        right: &Expr,
        span: Span,
    ) -> Result<Bound, PlanError> {
        if op == BinaryOp::In {
            return self.bind_in(left, right, span);
        }
        if matches!(op, BinaryOp::And | BinaryOp::Or) {
            return self.logical_chain(op, left, right);
        }
        let l = self.bind(left)?;
        let r = self.bind(right)?;
        let (lt, rt) = (l.ty(), r.ty());
        match op {
            BinaryOp::And | BinaryOp::Or => {
                for (b, e) in [(&l, left), (&r, right)] {
                    if !matches!(b.ty(), Some(Ty::Boolean) | None) {
                        return Err(self.invalid(
                            e.span,
                            format!("'{}' needs Boolean operands", op.keyword()),
                        ));
                    }
                }
                Ok(if op == BinaryOp::And {
                    Bound::And(Box::new(l), Box::new(r))
                } else {
                    Bound::Or(Box::new(l), Box::new(r))
                })
            }
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Gt
            | BinaryOp::Ge
            | BinaryOp::Lt
            | BinaryOp::Le => {
                let cmp = match op {
                    BinaryOp::Eq => CmpOp::Eq,
                    BinaryOp::Ne => CmpOp::Ne,
                    BinaryOp::Gt => CmpOp::Gt,
                    BinaryOp::Ge => CmpOp::Ge,
                    BinaryOp::Lt => CmpOp::Lt,
                    _ => CmpOp::Le,
                };
                self.check_comparable(lt, rt, span)?;
                Ok(compare(cmp, l, r))
            }
            BinaryOp::Has => Err(self.invalid(
                span,
                "'has' applies to enumeration types, and this feed has none",
            )),
            BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::DivBy
            | BinaryOp::Mod => {
                let aop = match op {
                    BinaryOp::Add => ArithOp::Add,
                    BinaryOp::Sub => ArithOp::Sub,
                    BinaryOp::Mul => ArithOp::Mul,
                    BinaryOp::Div => ArithOp::Div,
                    BinaryOp::DivBy => ArithOp::DivBy,
                    _ => ArithOp::Mod,
                };
                let (lt, rt) = match (lt, rt) {
                    (Some(a), Some(b)) => (a, b),
                    // Arithmetic with null is null.
                    (a, b) => {
                        let ty = a.or(b).unwrap_or(Ty::Double);
                        return Ok(Bound::Const(
                            Value::Null,
                            Some(if ty == Ty::Int32 { Ty::Int64 } else { ty }),
                        ));
                    }
                };
                let ty = match (aop, lt, rt) {
                    (ArithOp::Mod, a, b) if a.is_integer() && b.is_integer() => Ty::Int64,
                    (ArithOp::Mod, a, b) if a.is_numeric() && b.is_numeric() => {
                        return Err(self.unsupported(span, "'mod' is supported for integers only"));
                    }
                    (ArithOp::DivBy, a, b) if a.is_numeric() && b.is_numeric() => Ty::Double,
                    (_, a, b) if a.is_numeric() && b.is_numeric() => {
                        let t = Ty::promote(a, b);
                        if t == Ty::Int32 { Ty::Int64 } else { t }
                    }
                    (ArithOp::Add | ArithOp::Sub, Ty::DateTimeOffset, Ty::Duration)
                    | (ArithOp::Add, Ty::Duration, Ty::DateTimeOffset)
                        if !matches!(
                            (&l, &r),
                            (_, Bound::Const(Value::Duration(_), _))
                                | (Bound::Const(Value::Duration(_), _), _)
                        ) =>
                    {
                        return Err(self.unsupported(
                            span,
                            "a timestamp can be shifted only by a duration literal",
                        ));
                    }
                    (ArithOp::Add | ArithOp::Sub, Ty::DateTimeOffset, Ty::Duration) => {
                        // Timestamps have millisecond precision, so their arithmetic does too.
                        if let Bound::Const(Value::Duration(secs), _) = &r
                            && ((secs * 1000.0).round() - secs * 1000.0).abs() > 1e-6
                        {
                            return Err(self.invalid(
                                right.span,
                                "durations added to timestamps must be whole milliseconds",
                            ));
                        }
                        Ty::DateTimeOffset
                    }
                    (ArithOp::Add, Ty::Duration, Ty::DateTimeOffset) => {
                        return Ok(Bound::Arith {
                            op: aop,
                            left: Box::new(twin(r)),
                            right: Box::new(l),
                            ty: Ty::DateTimeOffset,
                        });
                    }
                    (ArithOp::Sub, Ty::DateTimeOffset, Ty::DateTimeOffset) => Ty::Duration,
                    (ArithOp::Add | ArithOp::Sub, Ty::Duration, Ty::Duration) => Ty::Duration,
                    (_, a, b) => {
                        return Err(self.invalid(
                            span,
                            format!("'{}' is not defined for {a} and {b}", op.keyword()),
                        ));
                    }
                };
                let (l, r) = if ty == Ty::DateTimeOffset || ty == Ty::Duration {
                    (twin(l), twin(r))
                } else {
                    (l, r)
                };
                Ok(Bound::Arith {
                    op: aop,
                    left: Box::new(l),
                    right: Box::new(r),
                    ty,
                })
            }
            BinaryOp::In => unreachable_in(),
        }
    }

    /// `a or b or c ...` (and `and`): the operands of a whole chain, found without
    /// recursion, bound one by one and joined as a balanced tree, so a Power Query
    /// list filter of hundreds of terms nests only log(n) deep. A chain of `eq` on one
    /// column with constants becomes `in`.
    fn logical_chain(
        &mut self,
        op: BinaryOp,
        left: &Expr,
        right: &Expr,
    ) -> Result<Bound, PlanError> {
        let mut operands: Vec<&Expr> = vec![right];
        let mut spine = left;
        while let ExprKind::Binary {
            op: inner,
            left,
            right,
        } = &spine.kind
            && *inner == op
        {
            operands.push(right);
            spine = left;
        }
        operands.push(spine);
        operands.reverse();
        let mut bound = Vec::with_capacity(operands.len());
        for e in operands {
            let b = self.bind(e)?;
            if !matches!(b.ty(), Some(Ty::Boolean) | None) {
                return Err(
                    self.invalid(e.span, format!("'{}' needs Boolean operands", op.keyword()))
                );
            }
            bound.push(b);
        }
        if op == BinaryOp::Or
            && let Some(list) = same_column_equalities(&bound)
        {
            return Ok(list);
        }
        Ok(balanced(bound, op == BinaryOp::And))
    }

    fn bind_in(&mut self, left: &Expr, right: &Expr, span: Span) -> Result<Bound, PlanError> {
        let l = self.bind(left)?;
        let items: Vec<&Expr> = match &right.kind {
            ExprKind::List(items) | ExprKind::Array(items) => items.iter().collect(),
            ExprKind::Alias(_) => {
                return Err(self.unsupported(
                    right.span,
                    "'in' with a parameter alias is not supported; write the list",
                ));
            }
            _ => {
                return Err(self.invalid(
                    right.span,
                    "'in' needs a parenthesised list, e.g. ('a','b')",
                ));
            }
        };
        let mut list = Vec::with_capacity(items.len());
        for item in items {
            let b = self.bind(item)?;
            self.check_comparable(l.ty(), b.ty(), item.span)?;
            list.push(twin(b));
        }
        if list.is_empty() {
            return Err(self.invalid(span, "the list after 'in' is empty"));
        }
        Ok(Bound::In {
            expr: Box::new(twin(l)),
            list,
        })
    }

    fn check_comparable(&self, a: Option<Ty>, b: Option<Ty>, span: Span) -> Result<(), PlanError> {
        match (a, b) {
            (None, _) | (_, None) => Ok(()),
            (Some(x), Some(y)) if x == y || (x.is_numeric() && y.is_numeric()) => Ok(()),
            (Some(Ty::DateTimeOffset), Some(Ty::Date)) | (Some(Ty::Date), Some(Ty::DateTimeOffset)) => Err(self.invalid(
                span,
                "cannot compare Edm.DateTimeOffset with Edm.Date: write a full timestamp such as 2026-01-31T00:00:00Z, or compare date(property)",
            )),
            (Some(x), Some(y)) => Err(self.invalid(span, format!("cannot compare {x} with {y}"))),
        }
    }

    fn call(&mut self, name: &str, args: &[Expr], span: Span) -> Result<Bound, PlanError> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "now" => {
                return self
                    .arity(&lower, args, 0, span)
                    .map(|_| Bound::Const(Value::Instant(self.now), Some(Ty::DateTimeOffset)));
            }
            "mindatetime" => {
                self.arity(&lower, args, 0, span)?;
                let t = NaiveDate::from_ymd_opt(1, 1, 1)
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|d| d.and_utc());
                return Ok(Bound::Const(
                    t.map_or(Value::Null, Value::Instant),
                    Some(Ty::DateTimeOffset),
                ));
            }
            "maxdatetime" => {
                self.arity(&lower, args, 0, span)?;
                let t = NaiveDate::from_ymd_opt(9999, 12, 31)
                    .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 999))
                    .map(|d| d.and_utc());
                return Ok(Bound::Const(
                    t.map_or(Value::Null, Value::Instant),
                    Some(Ty::DateTimeOffset),
                ));
            }
            _ => {}
        }
        let func = match lower.as_str() {
            "contains" => Func::Contains,
            "startswith" => Func::StartsWith,
            "endswith" => Func::EndsWith,
            "length" => Func::Length,
            "indexof" => Func::IndexOf,
            "substring" => Func::Substring,
            "tolower" => Func::ToLower,
            "toupper" => Func::ToUpper,
            "trim" => Func::Trim,
            "concat" => Func::Concat,
            "year" => Func::Year,
            "month" => Func::Month,
            "day" => Func::Day,
            "hour" => Func::Hour,
            "minute" => Func::Minute,
            "second" => Func::Second,
            "fractionalseconds" => Func::FractionalSeconds,
            "date" => Func::Date,
            "time" => Func::Time,
            "totaloffsetminutes" => Func::TotalOffsetMinutes,
            "round" => Func::Round,
            "floor" => Func::Floor,
            "ceiling" => Func::Ceiling,
            "matchespattern" | "totalseconds" | "geo.distance" | "geo.length"
            | "geo.intersects" | "hassubset" | "hassubsequence" => {
                return Err(
                    self.unsupported(span, format!("the function '{name}' is not supported"))
                );
            }
            _ => return Err(self.invalid(span, format!("unknown function '{name}'"))),
        };
        if let Some(folded) = fold_literal_part(func, args) {
            return Ok(folded);
        }
        let bound: Vec<Bound> = args
            .iter()
            .map(|a| self.bind(a))
            .collect::<Result<_, _>>()?;
        let types: Vec<Option<Ty>> = bound.iter().map(Bound::ty).collect();
        let expect = |want: &[Ty], i: usize| -> Result<(), PlanError> {
            match types.get(i).copied().flatten() {
                None => Ok(()),
                Some(t) if want.contains(&t) || (want.contains(&Ty::Double) && t.is_numeric()) => {
                    Ok(())
                }
                Some(t) => Err(self.invalid(
                    args.get(i).map_or(span, |a| a.span),
                    format!(
                        "argument {} of {} must be {}, found {t}",
                        i + 1,
                        func.name(),
                        want.iter()
                            .map(|w| w.name())
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                )),
            }
        };
        let ty = match func {
            Func::Contains | Func::StartsWith | Func::EndsWith => {
                self.arity(&lower, args, 2, span)?;
                expect(&[Ty::String], 0)?;
                expect(&[Ty::String], 1)?;
                Ty::Boolean
            }
            Func::IndexOf => {
                self.arity(&lower, args, 2, span)?;
                expect(&[Ty::String], 0)?;
                expect(&[Ty::String], 1)?;
                Ty::Int32
            }
            Func::Concat => {
                self.arity(&lower, args, 2, span)?;
                expect(&[Ty::String], 0)?;
                expect(&[Ty::String], 1)?;
                Ty::String
            }
            Func::Length => {
                self.arity(&lower, args, 1, span)?;
                expect(&[Ty::String], 0)?;
                Ty::Int32
            }
            Func::ToLower | Func::ToUpper | Func::Trim => {
                self.arity(&lower, args, 1, span)?;
                expect(&[Ty::String], 0)?;
                Ty::String
            }
            Func::Substring => {
                if !(2..=3).contains(&args.len()) {
                    return Err(self.invalid(
                        span,
                        format!("substring takes 2 or 3 arguments, found {}", args.len()),
                    ));
                }
                expect(&[Ty::String], 0)?;
                expect(&[Ty::Int32, Ty::Int64], 1)?;
                if args.len() == 3 {
                    expect(&[Ty::Int32, Ty::Int64], 2)?;
                }
                Ty::String
            }
            Func::Year | Func::Month | Func::Day => {
                self.arity(&lower, args, 1, span)?;
                expect(&[Ty::DateTimeOffset, Ty::Date], 0)?;
                Ty::Int32
            }
            Func::Hour | Func::Minute | Func::Second => {
                self.arity(&lower, args, 1, span)?;
                expect(&[Ty::DateTimeOffset, Ty::TimeOfDay], 0)?;
                Ty::Int32
            }
            Func::FractionalSeconds => {
                self.arity(&lower, args, 1, span)?;
                expect(&[Ty::DateTimeOffset, Ty::TimeOfDay], 0)?;
                Ty::Decimal
            }
            Func::Date => {
                self.arity(&lower, args, 1, span)?;
                expect(&[Ty::DateTimeOffset], 0)?;
                Ty::Date
            }
            Func::Time => {
                self.arity(&lower, args, 1, span)?;
                expect(&[Ty::DateTimeOffset], 0)?;
                Ty::TimeOfDay
            }
            Func::TotalOffsetMinutes => {
                self.arity(&lower, args, 1, span)?;
                expect(&[Ty::DateTimeOffset], 0)?;
                Ty::Int32
            }
            Func::Round | Func::Floor | Func::Ceiling => {
                self.arity(&lower, args, 1, span)?;
                expect(&[Ty::Double], 0)?;
                match types[0] {
                    Some(t) if t.is_integer() => Ty::Int64,
                    Some(t) => t,
                    None => Ty::Double,
                }
            }
        };
        // Date parts of a constant or computed timestamp work on its UTC form;
        // columns keep their own rendering (local columns their local time).
        Ok(Bound::Call {
            func,
            args: bound,
            ty,
        })
    }

    fn arity(&self, name: &str, args: &[Expr], n: usize, span: Span) -> Result<(), PlanError> {
        if args.len() == n {
            Ok(())
        } else {
            Err(self.invalid(
                span,
                format!(
                    "{name} takes {n} argument{}, found {}",
                    if n == 1 { "" } else { "s" },
                    args.len()
                ),
            ))
        }
    }

    fn cast(&self, inner: Bound, target: Ty, span: Span) -> Result<Bound, PlanError> {
        match (inner.ty(), target) {
            (None, t) => Ok(Bound::Const(Value::Null, Some(t))),
            (Some(a), b) if a == b => Ok(inner),
            (Some(a), b) if a.is_numeric() && b.is_numeric() && b != Ty::Int32 => {
                Ok(Bound::Cast(Box::new(inner), b))
            }
            (Some(a), Ty::String) if a.is_integer() => Ok(Bound::Cast(Box::new(inner), Ty::String)),
            (Some(a), b) => {
                Err(self.unsupported(span, format!("cast from {a} to {b} is not supported")))
            }
        }
    }
}

/// Date parts of a timestamp literal, taken in the literal's own offset (as OData
/// defines them), before the literal is turned into a UTC instant.
fn fold_literal_part(func: Func, args: &[Expr]) -> Option<Bound> {
    let [arg] = args else { return None };
    let ExprKind::Literal(Literal::DateTimeOffset(v)) = &arg.kind else {
        return None;
    };
    let int = |n: i64| Some(Bound::Const(Value::Int(n), Some(Ty::Int32)));
    match func {
        Func::Year => int(v.date.year),
        Func::Month => int(v.date.month.into()),
        Func::Day => int(v.date.day.into()),
        Func::Hour => int(v.time.hour.into()),
        Func::Minute => int(v.time.minute.into()),
        Func::Second => int(v.time.second.into()),
        Func::TotalOffsetMinutes => int(v.offset_minutes.into()),
        Func::Date => {
            NaiveDate::from_ymd_opt(v.date.year as i32, v.date.month.into(), v.date.day.into())
                .map(|d| Bound::Const(Value::Date(d), Some(Ty::Date)))
        }
        _ => None,
    }
}

/// How navigation `nav_name` of entity set `set_index` joins to its target; `None`
/// when it has nothing to join on. An internal error (a set id that misses) stays
/// one.
pub(crate) fn navigation_join(
    model: &Model,
    set_index: SetId,
    nav_name: &str,
) -> Result<Option<Join>, PlanError> {
    let binder = Binder::new(model, set_index, "$expand", &[], Utc::now());
    match binder.join(set_index, nav_name, Span::NONE) {
        Ok(join) => Ok(Some(join)),
        Err(e) if e.kind == PlanErrorKind::Internal => Err(e),
        Err(_) => Ok(None),
    }
}

fn unreachable_in() -> Result<Bound, PlanError> {
    Err(PlanError::invalid("$filter", None, "'in' needs a list"))
}

/// `x eq c1 or x eq c2 or ...` over one column and non-null constants, as `x in (...)`.
fn same_column_equalities(operands: &[Bound]) -> Option<Bound> {
    let mut column: Option<&Bound> = None;
    let mut list = Vec::with_capacity(operands.len());
    for b in operands {
        let Bound::Compare {
            op: CmpOp::Eq,
            left,
            right,
        } = b
        else {
            return None;
        };
        let (col, value) = match (left.as_ref(), right.as_ref()) {
            (c @ Bound::Column(..), v @ Bound::Const(k, _))
            | (v @ Bound::Const(k, _), c @ Bound::Column(..))
                if *k != Value::Null =>
            {
                (c, v)
            }
            _ => return None,
        };
        match column {
            None => column = Some(col),
            Some(first) if first == col => {}
            Some(_) => return None,
        }
        list.push(value.clone());
    }
    let column = column?;
    if list.len() < 2 {
        return None;
    }
    Some(Bound::In {
        expr: Box::new(column.clone()),
        list,
    })
}

/// Joins operands with `and` (or `or`) as a balanced tree.
fn balanced(mut operands: Vec<Bound>, and: bool) -> Bound {
    while operands.len() > 1 {
        let mut next = Vec::with_capacity(operands.len().div_ceil(2));
        let mut iter = operands.into_iter();
        while let Some(a) = iter.next() {
            next.push(match iter.next() {
                Some(b) if and => Bound::And(Box::new(a), Box::new(b)),
                Some(b) => Bound::Or(Box::new(a), Box::new(b)),
                None => a,
            });
        }
        operands = next;
    }
    operands
        .pop()
        .unwrap_or(Bound::Const(Value::Bool(and), Some(Ty::Boolean)))
}

/// A comparison with local timestamps replaced by their UTC twins: the instant is
/// what compares.
fn compare(op: CmpOp, l: Bound, r: Bound) -> Bound {
    Bound::Compare {
        op,
        left: Box::new(twin(l)),
        right: Box::new(twin(r)),
    }
}

/// Replaces a local-time column by its UTC twin (same instant, indexed, comparable).
pub(super) fn twin(b: Bound) -> Bound {
    match b {
        Bound::Column(c, ty) => match c.utc_twin {
            Some(twin) => Bound::Column(
                ColumnRef {
                    property: twin,
                    utc_twin: None,
                    ..c
                },
                ty,
            ),
            None => Bound::Column(c, ty),
        },
        other => other,
    }
}

fn edm_type_name(name: &str) -> Option<Ty> {
    Some(match name {
        "Edm.Boolean" => Ty::Boolean,
        "Edm.Int16" | "Edm.Int32" | "Edm.Byte" | "Edm.SByte" => Ty::Int32,
        "Edm.Int64" => Ty::Int64,
        "Edm.Decimal" => Ty::Decimal,
        "Edm.Double" | "Edm.Single" => Ty::Double,
        "Edm.String" => Ty::String,
        "Edm.DateTimeOffset" => Ty::DateTimeOffset,
        "Edm.Date" => Ty::Date,
        "Edm.TimeOfDay" => Ty::TimeOfDay,
        "Edm.Duration" => Ty::Duration,
        _ => return None,
    })
}

pub(super) fn unknown_property(set: &EntitySet, name: &str) -> String {
    format!(
        "'{name}' is not a property of {}{}",
        set.name,
        super::suggest(set, name)
    )
}
