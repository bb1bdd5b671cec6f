//! Bound expressions → SQL for SQLite and PostgreSQL, with OData's semantics on both.
//! Every value is a bind; column and table names come from the model.
//!
//! How the two backends are kept in step:
//! - text compares by code point (SQLite's BINARY collation, PostgreSQL columns
//!   declared `COLLATE "C"`), and `contains`/`startswith`/`endswith` use position
//!   functions, never `LIKE`, so case and `%`/`_` in user text are taken literally;
//! - comparisons carry explicit null guards, so `gt`/`lt` are false and `eq`/`ne`
//!   treat null as a value, even under `not`;
//! - UTC timestamps are fixed-width text in SQLite (text order = time order) and
//!   `TIMESTAMPTZ` in PostgreSQL; date parts of a UTC instant are taken in UTC,
//!   and of a tenant-local column from its local rendering;
//! - integer `div` truncates toward zero, `mod` takes the dividend's sign, division
//!   by zero is null, `round` rounds half away from zero.

use chrono::{DurationRound, TimeDelta, Timelike};

use super::compile::CompileError;
use super::scoped::TenantScope;
use super::sql::{Builder, quoted};
use super::{ColumnKind, Value};
use crate::edm::{EntitySet, Model, Property, PropertyId, SetId};
use crate::plan::expr::{ArithOp, Bound, CmpOp, Func, Join, Ty};
use crate::plan::{ColumnRef, ScopeId};
use crate::store::Dialect;

/// The SQL type used for a typed `NULL` and for casts.
fn sql_type(dialect: Dialect, ty: Ty) -> &'static str {
    match (dialect, ty) {
        (Dialect::Sqlite, Ty::Boolean | Ty::Int32 | Ty::Int64) => "INTEGER",
        (Dialect::Sqlite, Ty::Double | Ty::Decimal | Ty::Duration) => "REAL",
        (Dialect::Sqlite, _) => "TEXT",
        (Dialect::Postgres, Ty::Boolean) => "BOOLEAN",
        (Dialect::Postgres, Ty::Int32 | Ty::Int64) => "BIGINT",
        (Dialect::Postgres, Ty::Double | Ty::Decimal | Ty::Duration) => "DOUBLE PRECISION",
        (Dialect::Postgres, Ty::DateTimeOffset) => "TIMESTAMPTZ",
        (Dialect::Postgres, _) => "TEXT",
    }
}

/// Whether an expression's values never have digits below the millisecond: stored
/// timestamps, timestamp arithmetic with (millisecond) durations, and `time()`.
fn millisecond_precise(e: &Bound) -> bool {
    match e {
        Bound::Column(..) | Bound::Related { .. } => true,
        Bound::Arith {
            ty: Ty::DateTimeOffset,
            left,
            ..
        } => millisecond_precise(left),
        Bound::Call {
            func: Func::Time, ..
        } => true,
        _ => false,
    }
}

/// Bits an integer expression's magnitude can need: below 64 its arithmetic cannot
/// leave BIGINT's range, so it needs no overflow guard (the common case: `Int32`
/// columns and small constants). 64 means "could be any 64-bit value".
fn magnitude_bits(e: &Bound) -> u32 {
    match e {
        Bound::Const(Value::Int(v), _) => 64 - v.unsigned_abs().leading_zeros(),
        Bound::Column(_, Ty::Int32) | Bound::Related { ty: Ty::Int32, .. } => 31,
        Bound::Call {
            func:
                Func::Length
                | Func::IndexOf
                | Func::Year
                | Func::Month
                | Func::Day
                | Func::Hour
                | Func::Minute
                | Func::Second,
            ..
        } => 31,
        Bound::Arith {
            op, left, right, ..
        } => match op {
            ArithOp::Add | ArithOp::Sub => {
                (magnitude_bits(left).max(magnitude_bits(right)) + 1).min(64)
            }
            ArithOp::Mul => (magnitude_bits(left) + magnitude_bits(right)).min(64),
            ArithOp::Div => magnitude_bits(left),
            ArithOp::Mod => magnitude_bits(right),
            ArithOp::DivBy => 64,
        },
        Bound::Case { branches, .. } => branches
            .iter()
            .map(|(_, v)| magnitude_bits(v))
            .max()
            .unwrap_or(64),
        _ => 64,
    }
}

pub(super) struct ExprWriter<'a> {
    pub model: &'a Model,
    pub tenant: &'a TenantScope,
    /// Counter for subquery aliases.
    pub next_alias: usize,
    /// The scopes open where the writer is, each with the set its alias `t{scope}`
    /// ranges over: the root first, then one per enclosing `any`/`all`.
    scopes: Vec<(ScopeId, SetId)>,
}

impl<'a> ExprWriter<'a> {
    /// A writer for expressions over `root`, the set aliased `t0`.
    pub fn new(model: &'a Model, tenant: &'a TenantScope, root: SetId) -> ExprWriter<'a> {
        ExprWriter {
            model,
            tenant,
            next_alias: 0,
            scopes: vec![(ScopeId::ROOT, root)],
        }
    }

    fn set(&self, id: SetId) -> Result<&'a EntitySet, CompileError> {
        self.model
            .set(id)
            .ok_or_else(|| CompileError(format!("no entity set #{id}")))
    }

    fn property(&self, set: SetId, id: PropertyId) -> Result<&'a Property, CompileError> {
        let set = self.set(set)?;
        set.property_at(id).ok_or_else(|| {
            CompileError(format!(
                "{} has no property #{id} of set #{}",
                set.name,
                id.set()
            ))
        })
    }

    /// Checks that `scope` is open here and ranges over `set`.
    fn in_scope(&self, scope: ScopeId, set: SetId) -> Result<(), CompileError> {
        match self.scopes.iter().find(|(s, _)| *s == scope) {
            Some(&(_, open)) if open == set => Ok(()),
            Some(&(_, open)) => Err(CompileError(format!(
                "scope ${scope} ranges over set #{open}, not #{set}"
            ))),
            None => Err(CompileError(format!("scope ${scope} is not open here"))),
        }
    }

    fn column(&self, b: &mut Builder, c: &ColumnRef) -> Result<(), CompileError> {
        self.in_scope(c.scope, c.set)?;
        let p = self.property(c.set, c.property)?;
        b.push(&format!("\"t{}\".", c.scope))
            .push(&quoted(&p.column));
        Ok(())
    }

    /// Whether the expression's SQL value is timestamp text (not TIMESTAMPTZ).
    fn is_text_timestamp(&self, dialect: Dialect, e: &Bound) -> bool {
        match e {
            Bound::Column(c, _) => c.utc_twin.is_some() || dialect == Dialect::Sqlite,
            _ => dialect == Dialect::Sqlite,
        }
    }

    pub fn write(&mut self, b: &mut Builder, e: &Bound) -> Result<(), CompileError> {
        let d = b.dialect;
        match e {
            Bound::Const(c, ty) => self.constant(b, c, *ty),
            Bound::Column(c, _) => self.column(b, c)?,
            Bound::Output { position, .. } => {
                b.push(&format!("\"a\".\"c{position}\""));
            }
            Bound::Related {
                from_scope,
                join,
                property,
                ..
            } => {
                let alias = self.alias();
                let column = &self.property(join.set, *property)?.column;
                b.push("(SELECT ")
                    .push(&format!("\"{alias}\"."))
                    .push(&quoted(column));
                self.join_clause(b, &alias, *from_scope, join)?;
                b.push(")");
            }
            Bound::RelatedCount { from_scope, join } => {
                let alias = self.alias();
                b.push("(SELECT COUNT(*)");
                self.join_clause(b, &alias, *from_scope, join)?;
                b.push(")");
            }
            Bound::Compare { op, left, right } => self.compare(b, *op, left, right)?,
            Bound::And(l, r) => {
                b.push("(");
                self.write(b, l)?;
                b.push(" AND ");
                self.write(b, r)?;
                b.push(")");
            }
            Bound::Or(l, r) => {
                b.push("(");
                self.write(b, l)?;
                b.push(" OR ");
                self.write(b, r)?;
                b.push(")");
            }
            Bound::Not(inner) => {
                b.push("(NOT ");
                self.write(b, inner)?;
                b.push(")");
            }
            Bound::Arith {
                op,
                left,
                right,
                ty,
            } => self.arith(b, *op, left, right, *ty)?,
            Bound::Neg(inner, ty) if ty.is_integer() && magnitude_bits(inner) >= 64 => {
                self.checked(b, |w, b| {
                    b.push("(-");
                    w.widened(b, inner)?;
                    b.push(")");
                    Ok(())
                })?;
            }
            Bound::Neg(inner, ty) => {
                b.push("(-");
                self.numeric(b, inner, *ty)?;
                b.push(")");
            }
            Bound::In { expr, list } => self.in_list(b, expr, list)?,
            Bound::Call { func, args, ty } => self.call(b, *func, args, *ty)?,
            Bound::Lambda {
                any,
                from_scope,
                scope,
                join,
                predicate,
            } => {
                if self.scopes.iter().any(|(s, _)| s == scope) {
                    return Err(CompileError(format!("scope ${scope} is opened twice")));
                }
                let alias = format!("t{scope}");
                b.push(if *any {
                    "EXISTS (SELECT 1"
                } else {
                    "NOT EXISTS (SELECT 1"
                });
                self.join_clause(b, &alias, *from_scope, join)?;
                if let Some(p) = predicate {
                    self.scopes.push((*scope, join.set));
                    let written = if *any {
                        b.push(" AND ");
                        self.write(b, p)
                    } else {
                        b.push(" AND NOT COALESCE(");
                        self.write(b, p).map(|()| {
                            b.push(if d == Dialect::Sqlite {
                                ", 0)"
                            } else {
                                ", FALSE)"
                            });
                        })
                    };
                    self.scopes.pop();
                    written?;
                }
                b.push(")");
            }
            Bound::Case { branches, ty } => self.case(b, branches, *ty)?,
            Bound::Cast(inner, ty) => {
                b.push("CAST(");
                if d == Dialect::Postgres
                    && ty.is_integer()
                    && !inner.ty().is_some_and(Ty::is_integer)
                {
                    // PostgreSQL rounds when casting to an integer; SQLite truncates.
                    b.push("trunc(");
                    self.write(b, inner)?;
                    b.push(")");
                } else {
                    self.write(b, inner)?;
                }
                b.push(" AS ").push(sql_type(d, *ty)).push(")");
            }
        }
        Ok(())
    }

    fn alias(&mut self) -> String {
        self.next_alias += 1;
        format!("r{}", self.next_alias)
    }

    /// ` FROM target AS alias WHERE alias.tenant_id = ? AND alias.x = t{scope}.y ...`
    fn join_clause(
        &self,
        b: &mut Builder,
        alias: &str,
        from_scope: ScopeId,
        join: &Join,
    ) -> Result<(), CompileError> {
        self.in_scope(from_scope, join.from_set)?;
        let target = self.set(join.set)?;
        b.push(" FROM ").push(&quoted(&target.table)).push(&format!(
            " AS \"{alias}\" WHERE \"{alias}\".\"tenant_id\" = "
        ));
        let (tenant, kind) = self.tenant.bind();
        b.bind(tenant, kind);
        for (theirs, ours) in &join.on {
            b.push(&format!(" AND \"{alias}\"."))
                .push(&quoted(&self.property(join.set, *theirs)?.column));
            b.push(" = ");
            // The column of the scope the navigation starts from.
            b.push(&format!("\"t{from_scope}\"."))
                .push(&quoted(&self.property(join.from_set, *ours)?.column));
        }
        Ok(())
    }

    /// `(CASE WHEN c THEN v ... END)`, every value of the case's type. Its own
    /// function, so the frame of [`ExprWriter::write`], which recurses once per
    /// operator, does not grow with it.
    #[inline(never)]
    fn case(
        &mut self,
        b: &mut Builder,
        branches: &[(Bound, Bound)],
        ty: Ty,
    ) -> Result<(), CompileError> {
        b.push("(CASE");
        for (condition, value) in branches {
            b.push(" WHEN ");
            self.write(b, condition)?;
            b.push(" THEN ");
            match value {
                // A typed null, so PostgreSQL can resolve the CASE's type.
                Bound::Const(Value::Null, _) => self.constant(b, &Value::Null, Some(ty)),
                v if ty.is_numeric() => self.numeric(b, v, ty)?,
                v => self.write(b, v)?,
            }
        }
        b.push(" END)");
        Ok(())
    }

    fn constant(&self, b: &mut Builder, c: &Value, ty: Option<Ty>) {
        let d = b.dialect;
        match c {
            Value::Null => match ty {
                Some(t) => {
                    b.push("CAST(NULL AS ").push(sql_type(d, t)).push(")");
                }
                None => {
                    b.push("NULL");
                }
            },
            Value::Bool(_) => {
                b.bind(c.clone(), ColumnKind::Boolean);
            }
            Value::Int(_) => {
                b.bind(c.clone(), ColumnKind::Int64);
            }
            Value::Double(v) | Value::Duration(v) => {
                b.bind(Value::Double(*v), ColumnKind::Double);
            }
            Value::Instant(_) => {
                b.bind(c.clone(), ColumnKind::Instant);
            }
            Value::Date(v) => {
                b.bind(
                    Value::Text(v.format("%Y-%m-%d").to_string()),
                    ColumnKind::Text,
                );
            }
            Value::Time(v) => {
                b.bind(
                    Value::Text(v.format("%H:%M:%S%.3f").to_string()),
                    ColumnKind::Text,
                );
            }
            // The binder makes no local-time constants; text keeps any such one exact.
            Value::Text(_) | Value::Local(_) => {
                b.bind(
                    Value::Text(c.plain_text().unwrap_or_default()),
                    ColumnKind::Text,
                );
            }
        }
    }

    /// An operand of integer arithmetic, widened so PostgreSQL cannot overflow `INTEGER`.
    fn numeric(&mut self, b: &mut Builder, e: &Bound, result: Ty) -> Result<(), CompileError> {
        if b.dialect == Dialect::Postgres && result.is_integer() {
            b.push("CAST(");
            self.write(b, e)?;
            b.push(" AS BIGINT)");
            return Ok(());
        }
        if matches!(result, Ty::Double | Ty::Decimal) && e.ty().is_some_and(Ty::is_integer) {
            b.push("CAST(");
            self.write(b, e)?;
            let double = sql_type(b.dialect, Ty::Double);
            b.push(" AS ").push(double).push(")");
            return Ok(());
        }
        self.write(b, e)
    }

    fn compare(
        &mut self,
        b: &mut Builder,
        op: CmpOp,
        left: &Bound,
        right: &Bound,
    ) -> Result<(), CompileError> {
        // Keep a constant on the right.
        let (op, left, right) =
            if matches!(left, Bound::Const(..)) && !matches!(right, Bound::Const(..)) {
                let flipped = match op {
                    CmpOp::Gt => CmpOp::Lt,
                    CmpOp::Ge => CmpOp::Le,
                    CmpOp::Lt => CmpOp::Gt,
                    CmpOp::Le => CmpOp::Ge,
                    other => other,
                };
                (flipped, right, left)
            } else {
                (op, left, right)
            };
        let right_null = matches!(right, Bound::Const(Value::Null, _));
        let left_null = matches!(left, Bound::Const(Value::Null, _));
        if left_null || right_null {
            let other = if right_null { left } else { right };
            let both = left_null && right_null;
            match op {
                CmpOp::Eq if both => b.push("(1 = 1)"),
                CmpOp::Ne if both => b.push("(1 = 0)"),
                CmpOp::Eq => {
                    b.push("(");
                    self.write(b, other)?;
                    b.push(" IS NULL)")
                }
                CmpOp::Ne => {
                    b.push("(");
                    self.write(b, other)?;
                    b.push(" IS NOT NULL)")
                }
                _ => b.push("(1 = 0)"),
            };
            return Ok(());
        }
        // Timestamps and times of day have millisecond precision here (stored values,
        // and arithmetic with millisecond durations): a finer constant is moved to the
        // millisecond below it, with the operator adjusted so the answer is exact.
        let mut op = op;
        let mut adjusted: Option<Bound> = None;
        let floored = match right {
            Bound::Const(Value::Instant(t), ty) => t
                .duration_trunc(TimeDelta::milliseconds(1))
                .ok()
                .filter(|f| f != t)
                .map(|f| Bound::Const(Value::Instant(f), *ty)),
            Bound::Const(Value::Time(t), ty) => {
                let nanos = chrono::Timelike::nanosecond(t);
                let floor = t.with_nanosecond(nanos - nanos % 1_000_000);
                floor
                    .filter(|f| f != t)
                    .map(|f| Bound::Const(Value::Time(f), *ty))
            }
            _ => None,
        };
        if let Some(floor) = floored
            && millisecond_precise(left)
        {
            match op {
                CmpOp::Eq => {
                    b.push("(1 = 0)");
                    return Ok(());
                }
                CmpOp::Ne => {
                    // Null is a value for `ne`, and never equal to the constant.
                    b.push("(1 = 1)");
                    return Ok(());
                }
                CmpOp::Ge => op = CmpOp::Gt,
                CmpOp::Lt => op = CmpOp::Le,
                CmpOp::Gt | CmpOp::Le => {}
            }
            adjusted = Some(floor);
        }
        let right = adjusted.as_ref().unwrap_or(right);
        let (ln, rn) = (left.nullable(), right.nullable());
        let d = b.dialect;
        b.push("(");
        match op {
            CmpOp::Eq if ln && rn => {
                self.write(b, left)?;
                b.push(if d == Dialect::Sqlite {
                    " IS "
                } else {
                    " IS NOT DISTINCT FROM "
                });
                self.write(b, right)?;
            }
            CmpOp::Ne if ln && rn => {
                self.write(b, left)?;
                b.push(if d == Dialect::Sqlite {
                    " IS NOT "
                } else {
                    " IS DISTINCT FROM "
                });
                self.write(b, right)?;
            }
            CmpOp::Ne if ln || rn => {
                self.write(b, if ln { left } else { right })?;
                b.push(" IS NULL OR ");
                self.write(b, left)?;
                b.push(" <> ");
                self.write(b, right)?;
            }
            _ => {
                for (side, nullable) in [(left, ln), (right, rn)] {
                    if nullable {
                        self.write(b, side)?;
                        b.push(" IS NOT NULL AND ");
                    }
                }
                self.write(b, left)?;
                b.push(match op {
                    CmpOp::Eq => " = ",
                    CmpOp::Ne => " <> ",
                    CmpOp::Gt => " > ",
                    CmpOp::Ge => " >= ",
                    CmpOp::Lt => " < ",
                    CmpOp::Le => " <= ",
                });
                self.write(b, right)?;
            }
        }
        b.push(")");
        Ok(())
    }

    fn in_list(
        &mut self,
        b: &mut Builder,
        expr: &Bound,
        list: &[Bound],
    ) -> Result<(), CompileError> {
        let has_null = list
            .iter()
            .any(|i| matches!(i, Bound::Const(Value::Null, _)));
        let values: Vec<&Bound> = list
            .iter()
            .filter(|i| !matches!(i, Bound::Const(Value::Null, _)))
            // A sub-millisecond instant can never equal a stored timestamp.
            .filter(|i| match i {
                Bound::Const(Value::Instant(t), _) => t
                    .duration_trunc(TimeDelta::milliseconds(1))
                    .is_ok_and(|f| f == *t),
                _ => true,
            })
            .collect();
        b.push("(");
        let mut terms = 0;
        if has_null {
            self.write(b, expr)?;
            b.push(" IS NULL");
            terms += 1;
        }
        if !values.is_empty() {
            if terms > 0 {
                b.push(" OR ");
            }
            b.push("(");
            if expr.nullable() {
                self.write(b, expr)?;
                b.push(" IS NOT NULL AND ");
            }
            self.write(b, expr)?;
            b.push(" IN (");
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    b.push(", ");
                }
                self.write(b, v)?;
            }
            b.push("))");
            terms += 1;
        }
        if terms == 0 {
            b.push("1 = 0");
        }
        b.push(")");
        Ok(())
    }

    fn arith(
        &mut self,
        b: &mut Builder,
        op: ArithOp,
        left: &Bound,
        right: &Bound,
        ty: Ty,
    ) -> Result<(), CompileError> {
        let d = b.dialect;
        if ty == Ty::DateTimeOffset {
            // timestamp ± duration
            let Bound::Const(Value::Duration(secs), _) = right else {
                return Err(CompileError(
                    "a duration added to a timestamp is not a literal".into(),
                ));
            };
            let secs = if op == ArithOp::Sub { -secs } else { *secs };
            match d {
                Dialect::Sqlite => {
                    b.push("strftime('%Y-%m-%dT%H:%M:%fZ', ");
                    self.write(b, left)?;
                    b.push(", ");
                    b.bind(Value::Text(format!("{secs:+.3} seconds")), ColumnKind::Text);
                    b.push(")");
                }
                Dialect::Postgres => {
                    b.push("(");
                    self.write(b, left)?;
                    b.push(" + ");
                    b.bind(Value::Double(secs), ColumnKind::Double);
                    b.push(" * INTERVAL '1 second')");
                }
            }
            return Ok(());
        }
        if ty == Ty::Duration && left.ty() == Some(Ty::DateTimeOffset) {
            // timestamp - timestamp, in seconds
            match d {
                Dialect::Sqlite => {
                    // Both sides are whole milliseconds; rounding removes the float
                    // error of subtracting two large epoch values.
                    b.push("round(unixepoch(");
                    self.write(b, left)?;
                    b.push(", 'subsec') - unixepoch(");
                    self.write(b, right)?;
                    b.push(", 'subsec'), 3)");
                }
                Dialect::Postgres => {
                    b.push("CAST(EXTRACT(EPOCH FROM (");
                    self.write(b, left)?;
                    b.push(" - ");
                    self.write(b, right)?;
                    b.push(")) AS DOUBLE PRECISION)");
                }
            }
            return Ok(());
        }
        let integer = ty.is_integer();
        b.push("(");
        match op {
            ArithOp::Div | ArithOp::DivBy | ArithOp::Mod => {
                let exact = op == ArithOp::DivBy || !integer;
                let operand_ty = if exact { Ty::Double } else { ty };
                self.numeric(b, left, operand_ty)?;
                b.push(if op == ArithOp::Mod {
                    " % NULLIF("
                } else {
                    " / NULLIF("
                });
                self.numeric(b, right, operand_ty)?;
                b.push(", 0)");
            }
            _ => {
                let symbol = match op {
                    ArithOp::Add => " + ",
                    ArithOp::Sub => " - ",
                    _ => " * ",
                };
                let bits = match op {
                    ArithOp::Mul => magnitude_bits(left) + magnitude_bits(right),
                    _ => magnitude_bits(left).max(magnitude_bits(right)) + 1,
                };
                if integer && bits >= 64 {
                    // The result may not fit BIGINT: null then, on both backends.
                    self.checked(b, |w, b| {
                        w.widened(b, left)?;
                        b.push(symbol);
                        w.widened(b, right)
                    })?;
                } else {
                    self.numeric(b, left, ty)?;
                    b.push(symbol);
                    self.numeric(b, right, ty)?;
                }
            }
        }
        b.push(")");
        Ok(())
    }

    /// An integer operand as the wide type [`ExprWriter::checked`] computes in.
    fn widened(&mut self, b: &mut Builder, e: &Bound) -> Result<(), CompileError> {
        match b.dialect {
            Dialect::Postgres => {
                b.push("CAST(");
                self.write(b, e)?;
                b.push(" AS NUMERIC)");
                Ok(())
            }
            Dialect::Sqlite => self.write(b, e),
        }
    }

    /// Integer arithmetic whose result is null where it leaves the 64-bit range
    /// (PostgreSQL would fail the statement, SQLite would answer a float). `body`
    /// writes the arithmetic on [`ExprWriter::widened`] operands; its value is
    /// named once, so operands are evaluated once.
    fn checked(
        &mut self,
        b: &mut Builder,
        body: impl FnOnce(&mut Self, &mut Builder) -> Result<(), CompileError>,
    ) -> Result<(), CompileError> {
        match b.dialect {
            Dialect::Postgres => {
                b.push(
                    "(SELECT CASE WHEN \"v\" BETWEEN -9223372036854775808 AND 9223372036854775807 \
                     THEN CAST(\"v\" AS BIGINT) END FROM (SELECT ",
                );
                body(self, b)?;
                b.push(" AS \"v\") AS \"o\")");
            }
            Dialect::Sqlite => {
                // SQLite turns an overflowing integer result into a float.
                b.push("(SELECT CASE WHEN typeof(\"v\") = 'integer' THEN \"v\" END FROM (SELECT ");
                body(self, b)?;
                b.push(" AS \"v\"))");
            }
        }
        Ok(())
    }

    /// A date part of a timestamp, date or time of day.
    fn part(&mut self, b: &mut Builder, func: Func, arg: &Bound) -> Result<(), CompileError> {
        let d = b.dialect;
        let arg_ty = arg.ty();
        let text = arg_ty != Some(Ty::DateTimeOffset) || self.is_text_timestamp(d, arg);
        if text {
            // Offsets into YYYY-MM-DDTHH:MM:SS.sss, YYYY-MM-DD or HH:MM:SS.sss.
            let time_only = arg_ty == Some(Ty::TimeOfDay);
            let (start, len) = match (func, time_only) {
                (Func::Year, _) => (1, 4),
                (Func::Month, _) => (6, 2),
                (Func::Day, _) => (9, 2),
                (Func::Hour, false) => (12, 2),
                (Func::Minute, false) => (15, 2),
                (Func::Second, false) => (18, 2),
                (Func::FractionalSeconds, false) => (20, 4),
                (Func::Hour, true) => (1, 2),
                (Func::Minute, true) => (4, 2),
                (Func::Second, true) => (7, 2),
                (_, true) => (9, 4),
                _ => (1, 0),
            };
            if func == Func::FractionalSeconds {
                b.push("CAST(('0' || substr(");
                self.write(b, arg)?;
                b.push(&format!(
                    ", {start}, {len})) AS {})",
                    sql_type(d, Ty::Double)
                ));
            } else {
                b.push("CAST(substr(");
                self.write(b, arg)?;
                b.push(&format!(", {start}, {len}) AS {})", sql_type(d, Ty::Int64)));
            }
            return Ok(());
        }
        // A PostgreSQL TIMESTAMPTZ: parts in UTC.
        let field = match func {
            Func::Year => "YEAR",
            Func::Month => "MONTH",
            Func::Day => "DAY",
            Func::Hour => "HOUR",
            Func::Minute => "MINUTE",
            _ => "SECOND",
        };
        if func == Func::FractionalSeconds {
            b.push("CAST(MOD(CAST(EXTRACT(MICROSECONDS FROM ");
            self.write(b, arg)?;
            b.push(") AS BIGINT), 1000000) / 1000000.0 AS DOUBLE PRECISION)");
        } else {
            b.push(&format!("CAST(FLOOR(EXTRACT({field} FROM ("));
            self.write(b, arg)?;
            b.push(" AT TIME ZONE 'UTC'))) AS BIGINT)");
        }
        Ok(())
    }

    fn call(
        &mut self,
        b: &mut Builder,
        func: Func,
        args: &[Bound],
        ty: Ty,
    ) -> Result<(), CompileError> {
        let d = b.dialect;
        if args
            .iter()
            .any(|a| matches!(a, Bound::Const(Value::Null, _)))
        {
            b.push("CAST(NULL AS ").push(sql_type(d, ty)).push(")");
            return Ok(());
        }
        let sqlite = d == Dialect::Sqlite;
        let a0 = &args[0];
        match func {
            Func::Contains | Func::IndexOf => {
                b.push(if sqlite { "(instr(" } else { "(strpos(" });
                self.write(b, a0)?;
                b.push(", ");
                self.write(b, &args[1])?;
                b.push(if func == Func::Contains {
                    ") > 0)"
                } else {
                    ") - 1)"
                });
            }
            Func::StartsWith => {
                b.push(if sqlite { "(substr(" } else { "(left(" });
                self.write(b, a0)?;
                b.push(if sqlite { ", 1, length(" } else { ", length(" });
                self.write(b, &args[1])?;
                b.push(")) = ");
                self.write(b, &args[1])?;
                b.push(")");
            }
            Func::EndsWith => {
                if sqlite {
                    // substr(x, -0) is the whole string, so the empty suffix is a case of its own.
                    b.push("(CASE WHEN ");
                    self.write(b, a0)?;
                    b.push(" IS NULL OR ");
                    self.write(b, &args[1])?;
                    b.push(" IS NULL THEN NULL WHEN length(");
                    self.write(b, &args[1])?;
                    b.push(") = 0 THEN 1 ELSE substr(");
                    self.write(b, a0)?;
                    b.push(", -length(");
                    self.write(b, &args[1])?;
                    b.push(")) = ");
                    self.write(b, &args[1])?;
                    b.push(" END)");
                } else {
                    b.push("(right(");
                    self.write(b, a0)?;
                    b.push(", length(");
                    self.write(b, &args[1])?;
                    b.push(")) = ");
                    self.write(b, &args[1])?;
                    b.push(")");
                }
            }
            Func::Length => {
                b.push("length(");
                self.write(b, a0)?;
                b.push(")");
            }
            Func::Substring => {
                let clamp =
                    |w: &mut Self, b: &mut Builder, e: &Bound| -> Result<(), CompileError> {
                        // Into [0, 2^31 - 2]: PostgreSQL's substr takes 32-bit
                        // positions, and no text is that long.
                        b.push("CAST((CASE WHEN ");
                        w.write(b, e)?;
                        b.push(" < 0 THEN 0 WHEN ");
                        w.write(b, e)?;
                        b.push(" > 2147483646 THEN 2147483646 ELSE ");
                        w.write(b, e)?;
                        b.push(" END) AS INTEGER)");
                        Ok(())
                    };
                b.push("substr(");
                self.write(b, a0)?;
                b.push(", ");
                clamp(self, b, &args[1])?;
                b.push(" + 1");
                if let Some(len) = args.get(2) {
                    b.push(", ");
                    clamp(self, b, len)?;
                }
                b.push(")");
            }
            Func::ToLower | Func::ToUpper => {
                b.push(if func == Func::ToLower {
                    "lower("
                } else {
                    "upper("
                });
                self.write(b, a0)?;
                // Only ASCII letters change, on both backends.
                b.push(if sqlite { ")" } else { " COLLATE \"C\")" });
            }
            Func::Trim => {
                b.push("trim(");
                self.write(b, a0)?;
                b.push(")");
            }
            Func::Concat => {
                b.push("(");
                self.write(b, a0)?;
                b.push(" || ");
                self.write(b, &args[1])?;
                b.push(")");
            }
            Func::Year
            | Func::Month
            | Func::Day
            | Func::Hour
            | Func::Minute
            | Func::Second
            | Func::FractionalSeconds => self.part(b, func, a0)?,
            Func::Date | Func::Time => {
                if self.is_text_timestamp(d, a0) {
                    b.push("substr(");
                    self.write(b, a0)?;
                    b.push(if func == Func::Date {
                        ", 1, 10)"
                    } else {
                        ", 12, 12)"
                    });
                } else {
                    b.push("to_char((");
                    self.write(b, a0)?;
                    b.push(if func == Func::Date {
                        ") AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
                    } else {
                        ") AT TIME ZONE 'UTC', 'HH24:MI:SS.MS')"
                    });
                }
            }
            Func::TotalOffsetMinutes => {
                let local = matches!(a0, Bound::Column(c, _) if c.utc_twin.is_some());
                b.push("(CASE WHEN ");
                self.write(b, a0)?;
                if local {
                    b.push(" IS NULL THEN NULL ELSE (CASE substr(");
                    self.write(b, a0)?;
                    b.push(", 24, 1) WHEN '-' THEN -1 ELSE 1 END) * (CAST(substr(");
                    self.write(b, a0)?;
                    b.push(", 25, 2) AS INTEGER) * 60 + CAST(substr(");
                    self.write(b, a0)?;
                    b.push(", 28, 2) AS INTEGER)) END)");
                } else {
                    b.push(" IS NULL THEN NULL ELSE 0 END)");
                }
            }
            Func::Round | Func::Floor | Func::Ceiling => {
                if a0.ty().is_some_and(Ty::is_integer) {
                    return self.write(b, a0);
                }
                match (func, sqlite) {
                    (Func::Round, true) => {
                        b.push("round(");
                        self.write(b, a0)?;
                        b.push(")");
                    }
                    (Func::Round, false) => {
                        // round(numeric) rounds half away from zero; round(float8) does not.
                        b.push("CAST(round(CAST(");
                        self.write(b, a0)?;
                        b.push(" AS NUMERIC)) AS DOUBLE PRECISION)");
                    }
                    (_, false) => {
                        b.push(if func == Func::Floor {
                            "floor("
                        } else {
                            "ceil("
                        });
                        self.write(b, a0)?;
                        b.push(")");
                    }
                    (_, true) => {
                        // No math functions in the bundled SQLite: truncate and adjust.
                        let (test, step) = if func == Func::Floor {
                            (" >= 0", " - 1")
                        } else {
                            (" < 0", " + 1")
                        };
                        b.push("(CASE WHEN ");
                        self.write(b, a0)?;
                        b.push(" = CAST(");
                        self.write(b, a0)?;
                        b.push(" AS INTEGER) OR ");
                        self.write(b, a0)?;
                        b.push(test);
                        b.push(" THEN CAST(CAST(");
                        self.write(b, a0)?;
                        b.push(" AS INTEGER) AS REAL) ELSE CAST(CAST(");
                        self.write(b, a0)?;
                        b.push(" AS INTEGER)");
                        b.push(step);
                        b.push(" AS REAL) END)");
                    }
                }
            }
        }
        Ok(())
    }
}
