//! Compiling a bound [`QueryPlan`] into a dialect's SQL: the page query, the
//! `$count` query and one query per expanded navigation property, each with the
//! column layout [`execute`](super::execute) needs to read it back.
//!
//! The binder rejects every request this step cannot compile, so a
//! [`CompileError`] is a server bug (answered 500), never a user's mistake. The SQL
//! text holds only identifiers from the model and placeholders; every value is a
//! bind. The tenant predicate is added here, as the first condition of every
//! `WHERE`, and nowhere else on the read path; it binds the [`TenantScope`] the
//! caller hands in (only authentication makes one), and a plan bound for another
//! tenant does not compile.

use crate::edm::{EntitySet, Model, PropertyId};
use crate::plan::{ExpandPlan, OrderKey, QueryPlan, Within};

use super::expr::ExprWriter;
use super::scoped::TenantScope;
use super::sql::{Builder, Dialect, Statement, quoted};
use super::{ColumnKind, Value};

/// A plan this module cannot turn into SQL: the binder let through something it
/// should have refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the query could not be compiled: {0}")]
pub struct CompileError(pub String);

/// A column of a compiled statement's result, by position: the index space of a
/// [`ReadLayout`]. Only the store makes one (compiling a layout, reading a row), and
/// every lookup with one is checked: a position past a row or a layout is an
/// internal error ([`CompileError`]), never a default value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ColumnPos(usize);

impl ColumnPos {
    pub(super) fn new(position: usize) -> ColumnPos {
        ColumnPos(position)
    }

    /// The position among the result's columns; for an output column, also the
    /// position among the plan's selected properties.
    pub fn index(self) -> usize {
        self.0
    }

    /// The value at this position of a row read with the layout.
    pub fn of(self, row: &[Value]) -> Result<&Value, CompileError> {
        row.get(self.0).ok_or_else(|| {
            CompileError(format!(
                "column {self} is past a row of {} columns",
                row.len()
            ))
        })
    }
}

impl std::fmt::Display for ColumnPos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where each column of a result goes: the first `output` columns are the selected
/// properties in response order; after them come sort expressions and join columns
/// that are not among the selected properties.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadLayout {
    /// Read kind of every column, output and extra.
    pub kinds: Vec<ColumnKind>,
    /// How many columns, from the first, are output.
    pub output: usize,
    /// `sort_positions[i]` is the column holding sort key `i` (the last one is the
    /// entity key).
    pub sort_positions: Vec<ColumnPos>,
    /// `expand_positions[i]` is the column holding the value expanded navigation
    /// property `i` joins on.
    pub expand_positions: Vec<ColumnPos>,
}

impl ReadLayout {
    /// Whether `column` is one of the output columns (a selected property).
    pub fn is_output(&self, column: ColumnPos) -> bool {
        column.0 < self.output
    }

    /// The column holding the value expanded navigation property `i` joins on.
    pub fn expand_position(&self, i: usize) -> Result<ColumnPos, CompileError> {
        self.expand_positions
            .get(i)
            .copied()
            .ok_or_else(|| CompileError(format!("expansion {i} has no join column")))
    }

    /// Checks that every position is inside the layout.
    pub(super) fn checked(self) -> Result<ReadLayout, CompileError> {
        let width = self.kinds.len();
        match self
            .sort_positions
            .iter()
            .chain(&self.expand_positions)
            .find(|p| p.0 >= width)
        {
            Some(p) => Err(CompileError(format!(
                "column {p} is past a layout of {width} columns"
            ))),
            None if self.output > width => Err(CompileError(format!(
                "{} output columns in a layout of {width}",
                self.output
            ))),
            None => Ok(self),
        }
    }
}

/// A plan compiled for one dialect.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledQuery {
    /// The page query (at most `page_rows + 1` rows, to see whether more follow).
    pub page: Statement,
    /// `SELECT COUNT(*)` over the same rows, when the plan asks for the total.
    pub count: Option<Statement>,
    pub layout: ReadLayout,
    /// Rows to deliver; `None` delivers all.
    pub page_rows: Option<u64>,
    pub expand: Vec<CompiledExpand>,
    /// How long its statements may run.
    pub time_limit: Option<std::time::Duration>,
}

/// The query of one expanded navigation property: all related rows of a page's
/// parents in one statement, the parents' join values in one bind.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledExpand {
    pub statement: Statement,
    /// Index in `statement.binds` of the join values (set per page by execute).
    pub keys_bind: usize,
    /// The related rows' layout; after its columns come the join value and, for
    /// nested `$count`, the total per parent.
    pub layout: ReadLayout,
    pub join_position: ColumnPos,
    pub total_position: Option<ColumnPos>,
    pub collection: bool,
    pub expand: Vec<CompiledExpand>,
}

/// Compiles `plan` for `dialect`, confined to `scope`: the tenant predicate of every
/// statement (the page, the count, each `$expand` level, each lambda and navigation
/// subquery) binds the scope's tenant, and a plan bound for another tenant is refused.
pub fn compile(
    model: &Model,
    scope: &TenantScope,
    plan: &QueryPlan,
    dialect: Dialect,
) -> Result<CompiledQuery, CompileError> {
    let set = set_of(model, plan)?;
    let (page, layout) = select(model, scope, set, plan, dialect)?;
    let count = if plan.count {
        Some(count(model, scope, set, plan, dialect)?)
    } else {
        None
    };
    let expand = plan
        .expand
        .iter()
        .map(|e| compile_expand(model, scope, e, dialect))
        .collect::<Result<_, _>>()?;
    Ok(CompiledQuery {
        page,
        count,
        layout,
        page_rows: plan.page_rows,
        expand,
        time_limit: plan.time_limit,
    })
}

fn compile_expand(
    model: &Model,
    scope: &TenantScope,
    expand: &ExpandPlan,
    dialect: Dialect,
) -> Result<CompiledExpand, CompileError> {
    let (statement, keys_bind, mut layout) = expand_select(model, scope, expand, dialect)?;
    let width = layout.kinds.len();
    layout.kinds.push(ColumnKind::Text);
    let total_position = expand.count.then(|| {
        layout.kinds.push(ColumnKind::Int64);
        ColumnPos(width + 1)
    });
    let nested = expand
        .plan
        .expand
        .iter()
        .map(|e| compile_expand(model, scope, e, dialect))
        .collect::<Result<_, _>>()?;
    Ok(CompiledExpand {
        statement,
        keys_bind,
        layout,
        join_position: ColumnPos(width),
        total_position,
        collection: expand.collection,
        expand: nested,
    })
}

fn set_of<'m>(model: &'m Model, plan: &QueryPlan) -> Result<&'m EntitySet, CompileError> {
    model
        .set(plan.set)
        .ok_or_else(|| CompileError(format!("no entity set #{}", plan.set)))
}

/// The property `id` names in `set`: an id of another set, or past the end, is an
/// error.
fn property(set: &EntitySet, id: PropertyId) -> Result<&crate::edm::Property, CompileError> {
    set.property_at(id).ok_or_else(|| {
        CompileError(format!(
            "{} has no property #{id} of set #{}",
            set.name,
            id.set()
        ))
    })
}

/// A column read after the selected properties.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Extra {
    /// Sort key `i` of the plan.
    Sort(usize),
    /// A property of the row (a join column of an expansion).
    Property(PropertyId),
}

fn extras(plan: &QueryPlan) -> Vec<Extra> {
    let mut out: Vec<Extra> = plan
        .order
        .iter()
        .enumerate()
        .filter(|(_, k)| k.column().is_none_or(|c| !plan.select.contains(&c)))
        .map(|(i, _)| Extra::Sort(i))
        .collect();
    for e in &plan.expand {
        let p = e.parent_property;
        let present = plan.select.contains(&p)
            || out.iter().any(|x| match x {
                Extra::Sort(i) => plan.order[*i].column() == Some(p),
                Extra::Property(q) => *q == p,
            });
        if !present {
            out.push(Extra::Property(p));
        }
    }
    out
}

fn layout(set: &EntitySet, plan: &QueryPlan) -> Result<ReadLayout, CompileError> {
    let columns = &plan.select;
    let output = columns.len();
    let extras = extras(plan);
    let mut kinds: Vec<ColumnKind> = columns
        .iter()
        .map(|&c| property(set, c).map(|p| p.kind()))
        .collect::<Result<_, _>>()?;
    for x in &extras {
        kinds.push(match x {
            Extra::Sort(i) => plan.order[*i].expr.read_kind(),
            Extra::Property(p) => property(set, *p)?.kind(),
        });
    }
    // The column holding property `p`, wherever it is.
    let position_of = |p: PropertyId| -> Option<ColumnPos> {
        columns
            .iter()
            .position(|&c| c == p)
            .map(ColumnPos)
            .or_else(|| {
                extras
                    .iter()
                    .position(|x| match x {
                        Extra::Sort(i) => plan.order[*i].column() == Some(p),
                        Extra::Property(q) => *q == p,
                    })
                    .map(|i| ColumnPos(output + i))
            })
    };
    let sort_positions = plan
        .order
        .iter()
        .enumerate()
        .map(|(i, k)| {
            k.column()
                .and_then(|c| columns.iter().position(|&s| s == c))
                .or_else(|| {
                    extras
                        .iter()
                        .position(|x| *x == Extra::Sort(i))
                        .map(|e| output + e)
                })
                .map(ColumnPos)
                .ok_or_else(|| CompileError(format!("sort key {i} has no column")))
        })
        .collect::<Result<_, _>>()?;
    let expand_positions = plan
        .expand
        .iter()
        .map(|e| {
            position_of(e.parent_property)
                .ok_or_else(|| CompileError(format!("the join column of {} is not read", e.nav)))
        })
        .collect::<Result<_, _>>()?;
    ReadLayout {
        kinds,
        output,
        sort_positions,
        expand_positions,
    }
    .checked()
}

/// `SELECT` list: the selected properties, then the extras.
fn select_list(
    b: &mut Builder,
    w: &mut ExprWriter<'_>,
    set: &EntitySet,
    plan: &QueryPlan,
) -> Result<(), CompileError> {
    let mut first = true;
    for &c in &plan.select {
        if !first {
            b.push(", ");
        }
        first = false;
        b.push("\"t0\".").push(&quoted(&property(set, c)?.column));
    }
    for x in extras(plan) {
        if !first {
            b.push(", ");
        }
        first = false;
        match x {
            Extra::Sort(i) => w.write(b, &plan.order[i].expr)?,
            Extra::Property(p) => {
                b.push("\"t0\".").push(&quoted(&property(set, p)?.column));
            }
        }
    }
    if first {
        // Nothing selected: keep the SQL valid.
        b.push("1");
    }
    Ok(())
}

/// The expression writer for `plan`, after checking that the plan was bound for the
/// tenant of `scope` (its skiptoken and `now` were resolved for that tenant).
fn writer<'a>(
    model: &'a Model,
    scope: &'a TenantScope,
    plan: &QueryPlan,
) -> Result<ExprWriter<'a>, CompileError> {
    check_scope(scope, &plan.tenant)?;
    Ok(ExprWriter::new(model, scope, plan.set))
}

/// A plan carries the tenant it was bound for; compiling it for another is a bug.
pub(super) fn check_scope(scope: &TenantScope, bound_for: &str) -> Result<(), CompileError> {
    if scope.id() == bound_for {
        Ok(())
    } else {
        Err(CompileError(
            "a query plan bound for one tenant was compiled for another".into(),
        ))
    }
}

/// `WHERE t0.tenant_id = ? [AND id = ?] [AND filter] [AND keyset]`: the one place
/// the read path's tenant scope is added.
fn where_clause(
    b: &mut Builder,
    w: &mut ExprWriter<'_>,
    set: &EntitySet,
    plan: &QueryPlan,
    keyset: bool,
) -> Result<(), CompileError> {
    b.push(" WHERE \"t0\".\"tenant_id\" = ");
    let (tenant, kind) = w.tenant.bind();
    b.bind(tenant, kind);
    if let Some(key) = &plan.key {
        b.push(" AND \"t0\".")
            .push(&quoted(&set.key_property().column))
            .push(" = ");
        b.bind(Value::Text(key.clone()), ColumnKind::Text);
    }
    if let Some(within) = &plan.within {
        b.push(" AND ");
        related_to(b, w.model, w.tenant, within, within.steps.len(), "\"t0\"")?;
    }
    if let Some(filter) = &plan.filter {
        b.push(" AND ");
        w.write(b, filter)?;
    }
    if keyset && let Some(after) = &plan.after {
        keyset_predicate(b, w, &plan.order, after)?;
    }
    Ok(())
}

/// `alias` is a row reached by the first `step` navigations of `within`:
/// `alias.col IN (SELECT w.col FROM <previous set> AS w WHERE w.tenant_id = ? ...)`,
/// nested back to the addressed entity. Every level is scoped to the tenant.
fn related_to(
    b: &mut Builder,
    model: &Model,
    tenant: &TenantScope,
    within: &Within,
    step: usize,
    alias: &str,
) -> Result<(), CompileError> {
    let Some(index) = step.checked_sub(1) else {
        return Err(CompileError("a navigation path without steps".into()));
    };
    let navigation = within
        .steps
        .get(index)
        .ok_or_else(|| CompileError(format!("a navigation path without step {index}")))?;
    let [(target_property, from_property)] = navigation.join.on.as_slice() else {
        return Err(CompileError(
            "a navigation join without one column pair".into(),
        ));
    };
    let target = model
        .set(navigation.join.set)
        .ok_or_else(|| CompileError("a navigation to an unknown set".into()))?;
    let from = model
        .set(navigation.join.from_set)
        .ok_or_else(|| CompileError("a navigation from an unknown set".into()))?;
    let inner = format!("\"w{index}\"");
    b.push(alias)
        .push(".")
        .push(&quoted(&property(target, *target_property)?.column))
        .push(" IN (SELECT ")
        .push(&inner)
        .push(".")
        .push(&quoted(&property(from, *from_property)?.column))
        .push(" FROM ")
        .push(&quoted(&from.table))
        .push(" AS ")
        .push(&inner)
        .push(" WHERE ")
        .push(&inner)
        .push(".\"tenant_id\" = ");
    let (id, kind) = tenant.bind();
    b.bind(id, kind);
    let key = match index.checked_sub(1) {
        None => Some(&within.key),
        Some(previous) => within
            .steps
            .get(previous)
            .ok_or_else(|| CompileError(format!("a navigation path without step {previous}")))?
            .key
            .as_ref(),
    };
    if let Some(key) = key {
        b.push(" AND ")
            .push(&inner)
            .push(".")
            .push(&quoted(&from.key_property().column))
            .push(" = ");
        b.bind(Value::Text(key.clone()), ColumnKind::Text);
    }
    if index > 0 {
        b.push(" AND ");
        related_to(b, model, tenant, within, index, &inner)?;
    }
    b.push(")");
    Ok(())
}

/// Rows strictly after `after` in the plan's order, with nulls first in ascending
/// and last in descending order (OData's rule). For keys k1..kn it is
/// `(k1 after v1) OR (k1 = v1 AND k2 after v2) OR ...`.
pub(super) fn keyset_predicate(
    b: &mut Builder,
    w: &mut ExprWriter<'_>,
    order: &[OrderKey],
    after: &[Value],
) -> Result<(), CompileError> {
    // With a non-null first key, `k1 >= v1` (or `<=`) repeats what the OR below
    // implies in a form the databases seek an index with: without it, each page
    // would scan the index from its start, making a full pull quadratic.
    if let (Some(first), Some(value)) = (order.first(), after.first())
        && order.len() > 1
        && !first.expr.nullable()
        && !value.is_null()
    {
        b.push(" AND ");
        w.write(b, &first.expr)?;
        b.push(if first.descending { " <= " } else { " >= " });
        b.bind(value.clone(), first.expr.read_kind());
    }
    b.push(" AND (");
    let mut terms = 0;
    for (i, (key, value)) in order.iter().zip(after).enumerate() {
        let is_null = value.is_null();
        if is_null && key.descending {
            continue; // nulls sort last when descending: nothing comes after one
        }
        if terms > 0 {
            b.push(" OR ");
        }
        terms += 1;
        b.push("(");
        for (prev, prev_value) in order[..i].iter().zip(after) {
            w.write(b, &prev.expr)?;
            match prev_value {
                Value::Null => b.push(" IS NULL AND "),
                v => b
                    .push(" = ")
                    .bind(v.clone(), prev.expr.read_kind())
                    .push(" AND "),
            };
        }
        let kind = key.expr.read_kind();
        let nullable = key.expr.nullable();
        w.write(b, &key.expr)?;
        match (is_null, key.descending) {
            (true, _) => {
                b.push(" IS NOT NULL");
            }
            (false, false) => {
                b.push(" > ").bind(value.clone(), kind);
            }
            (false, true) => {
                b.push(" < ").bind(value.clone(), kind);
                if nullable {
                    b.push(" OR ");
                    w.write(b, &key.expr)?;
                    b.push(" IS NULL");
                }
            }
        }
        b.push(")");
    }
    if terms == 0 {
        b.push("1 = 0");
    }
    b.push(")");
    Ok(())
}

pub(super) fn order_clause(
    b: &mut Builder,
    w: &mut ExprWriter<'_>,
    order: &[OrderKey],
) -> Result<(), CompileError> {
    b.push(" ORDER BY ");
    for (i, key) in order.iter().enumerate() {
        if i > 0 {
            b.push(", ");
        }
        w.write(b, &key.expr)?;
        match (key.descending, key.expr.nullable()) {
            (false, false) => b.push(" ASC"),
            (true, false) => b.push(" DESC"),
            (false, true) => b.push(" ASC NULLS FIRST"),
            (true, true) => b.push(" DESC NULLS LAST"),
        };
    }
    Ok(())
}

/// Binds an integer that the databases read as a row count.
pub(super) fn bind_count(b: &mut Builder, n: u64) {
    b.bind(Value::Int(n.min(i64::MAX as u64) as i64), ColumnKind::Int64);
}

/// The page query: selected columns plus any sort columns not selected.
fn select(
    model: &Model,
    scope: &TenantScope,
    set: &EntitySet,
    plan: &QueryPlan,
    dialect: Dialect,
) -> Result<(Statement, ReadLayout), CompileError> {
    let layout = layout(set, plan)?;
    let mut w = writer(model, scope, plan)?;
    let mut b = Builder::new(dialect);
    b.push("SELECT ");
    select_list(&mut b, &mut w, set, plan)?;
    b.push(" FROM ")
        .push(&quoted(&set.table))
        .push(" AS \"t0\"");
    where_clause(&mut b, &mut w, set, plan, true)?;
    order_clause(&mut b, &mut w, &plan.order)?;
    if plan.page_rows.is_some() || plan.skip > 0 {
        b.push(" LIMIT ");
        // One row more than the page shows whether another page follows. An absent
        // limit is spelled as the largest value: the two backends read negative and
        // NULL limits differently.
        let limit = plan
            .page_rows
            .map_or(u64::MAX, |rows| rows.saturating_add(1));
        if dialect == Dialect::Sqlite {
            // SQLite reads a bare `LIMIT ?` at prepare time and then marks the
            // statement to be prepared again whenever the value is rebound, which
            // defeats the statement cache; an expression is only evaluated at run time.
            b.push("(");
            bind_count(&mut b, limit);
            b.push(" + 0)");
        } else {
            bind_count(&mut b, limit);
        }
        b.push(" OFFSET ");
        bind_count(&mut b, plan.skip);
    }
    Ok((b.finish(), layout))
}

/// `SELECT COUNT(*)` over the rows the plan reads, ignoring paging.
fn count(
    model: &Model,
    scope: &TenantScope,
    set: &EntitySet,
    plan: &QueryPlan,
    dialect: Dialect,
) -> Result<Statement, CompileError> {
    let mut w = writer(model, scope, plan)?;
    let mut b = Builder::new(dialect);
    b.push("SELECT COUNT(*) FROM ")
        .push(&quoted(&set.table))
        .push(" AS \"t0\"");
    where_clause(&mut b, &mut w, set, plan, false)?;
    Ok(b.finish())
}

/// The related rows of an expanded navigation property for a page: one query for
/// all parents, whose join values travel in one bind (a JSON array for SQLite's
/// `json_each`, a text array for PostgreSQL), so the text never changes with the
/// number of parents. Columns: the layout of the related plan, then the join value,
/// then (for nested `$count`) the total per parent. Nested `$top`/`$skip` apply per
/// parent through `ROW_NUMBER() OVER (PARTITION BY join value ...)`.
fn expand_select(
    model: &Model,
    scope: &TenantScope,
    expand: &ExpandPlan,
    dialect: Dialect,
) -> Result<(Statement, usize, ReadLayout), CompileError> {
    let plan = &expand.plan;
    let set = set_of(model, plan)?;
    let layout = layout(set, plan)?;
    let width = layout.kinds.len();
    let join_col = format!(
        "\"t0\".{}",
        quoted(&property(set, expand.target_property)?.column)
    );
    let mut w = writer(model, scope, plan)?;
    let mut b = Builder::new(dialect);
    b.push("SELECT ");
    for i in 0..width {
        b.push(&format!("\"x\".\"c{i}\", "));
    }
    b.push("\"x\".\"join_value\"");
    if expand.count {
        b.push(", \"x\".\"total\"");
    }
    b.push(" FROM (SELECT ");
    let list_start = b.text.len();
    select_list(&mut b, &mut w, set, plan)?;
    let numbered = number_columns(&b.text[list_start..], width);
    b.text.truncate(list_start);
    b.text.push_str(&numbered);
    b.push(", ").push(&join_col).push(" AS \"join_value\"");
    b.push(", ROW_NUMBER() OVER (PARTITION BY ").push(&join_col);
    order_clause(&mut b, &mut w, &plan.order)?;
    b.push(") AS \"row_number\"");
    if expand.count {
        b.push(", COUNT(*) OVER (PARTITION BY ")
            .push(&join_col)
            .push(") AS \"total\"");
    }
    b.push(" FROM ")
        .push(&quoted(&set.table))
        .push(" AS \"t0\"");
    where_clause(&mut b, &mut w, set, plan, true)?;
    b.push(" AND ").push(&join_col);
    let keys_bind = b.next_bind_index();
    match dialect {
        Dialect::Sqlite => {
            b.push(" IN (SELECT \"value\" FROM json_each(");
            b.bind(Value::Text("[]".into()), ColumnKind::Text);
            b.push("))");
        }
        Dialect::Postgres => {
            b.push(" = ANY(CAST(");
            b.bind(Value::Text("{}".into()), ColumnKind::Text);
            b.push(" AS TEXT[]))");
        }
    }
    b.push(") AS \"x\" WHERE \"x\".\"row_number\" > ");
    bind_count(&mut b, expand.skip);
    if let Some(top) = expand.top {
        b.push(" AND \"x\".\"row_number\" <= ");
        bind_count(&mut b, expand.skip.saturating_add(top));
    }
    b.push(" ORDER BY \"x\".\"join_value\", \"x\".\"row_number\"");
    Ok((b.finish(), keys_bind, layout))
}

/// The bind value carrying `keys` for [`CompiledExpand::keys_bind`].
pub(super) fn key_list(dialect: Dialect, keys: &[&str]) -> Value {
    match dialect {
        Dialect::Sqlite => Value::Text(serde_json::Value::from(keys.to_vec()).to_string()),
        Dialect::Postgres => {
            // An array literal: every element quoted, `"` and `\` escaped.
            let mut text = String::from("{");
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                text.push('"');
                for ch in key.chars() {
                    if ch == '"' || ch == '\\' {
                        text.push('\\');
                    }
                    text.push(ch);
                }
                text.push('"');
            }
            text.push('}');
            Value::Text(text)
        }
    }
}

/// Adds `AS "c0"`, `AS "c1"`, ... to the items of a SELECT list written by
/// [`select_list`], splitting at top-level commas only (binds are placeholders, so
/// no quoted text can contain a comma or parenthesis).
fn number_columns(list: &str, width: usize) -> String {
    let mut out = String::with_capacity(list.len() + width * 8);
    let mut depth = 0i32;
    let mut column = 0;
    let mut start = 0;
    for (i, ch) in list.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push_str(&list[start..i]);
                out.push_str(&format!(" AS \"c{column}\","));
                column += 1;
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push_str(&list[start..]);
    out.push_str(&format!(" AS \"c{column}\""));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::expr::CmpOp;
    use crate::plan::{Bound, ColumnRef, Limits, Planner, ScopeId, Ty};
    use crate::uri::{QueryOptions, decode_query_string};

    fn calls_plan(model: &Model) -> QueryPlan {
        let set = model.set_id("Calls").unwrap();
        let calls = model.set(set).unwrap();
        let ended = calls.property_id("endedAtUtc").unwrap();
        QueryPlan {
            set,
            tenant: "t".into(),
            select: vec![calls.key],
            select_explicit: true,
            filter: None,
            order: vec![
                OrderKey {
                    expr: Bound::Column(
                        ColumnRef {
                            scope: ScopeId::ROOT,
                            set,
                            property: ended,
                            nullable: true,
                            utc_twin: None,
                        },
                        Ty::DateTimeOffset,
                    ),
                    descending: true,
                },
                OrderKey {
                    expr: Bound::Column(
                        ColumnRef {
                            scope: ScopeId::ROOT,
                            set,
                            property: calls.key,
                            nullable: false,
                            utc_twin: None,
                        },
                        Ty::String,
                    ),
                    descending: false,
                },
            ],
            key: None,
            within: None,
            after: None,
            skip: 0,
            page_rows: Some(10),
            count: false,
            expand: Vec::new(),
            time_limit: None,
        }
    }

    #[test]
    fn a_property_of_another_set_does_not_compile() {
        let model = Model::load().unwrap();
        let calls = model.entity_set("Calls").unwrap();
        let queues = model.entity_set("Queues").unwrap();
        let scope = TenantScope::for_tests("t");
        let mut plan = calls_plan(&model);
        plan.select = vec![queues.key];
        let e = compile(&model, &scope, &plan, Dialect::Sqlite).unwrap_err();
        assert!(e.0.contains("has no property"), "{e}");
        // In a filter, where the expression writer writes the column.
        let mut plan = calls_plan(&model);
        plan.filter = Some(Bound::Compare {
            op: CmpOp::Eq,
            left: Box::new(Bound::Column(
                ColumnRef {
                    scope: ScopeId::ROOT,
                    set: calls.id(),
                    property: queues.key,
                    nullable: false,
                    utc_twin: None,
                },
                Ty::String,
            )),
            right: Box::new(Bound::Const(Value::Text("x".into()), Some(Ty::String))),
        });
        let e = compile(&model, &scope, &plan, Dialect::Postgres).unwrap_err();
        assert!(e.0.contains("has no property"), "{e}");
    }

    #[test]
    fn a_column_of_a_lambda_variable_outside_its_lambda_does_not_compile() {
        let model = Model::load().unwrap();
        let conversations = model.set_id("Conversations").unwrap();
        let query = "$filter=QueueSegments/any(s:s/durationInSeconds gt 30)";
        let options = QueryOptions::parse(decode_query_string(query).unwrap()).unwrap();
        let limits = Limits::default();
        let plan = Planner::new(&model, &limits)
            .collection(conversations, "t", &options, 10)
            .unwrap();
        let scope = TenantScope::for_tests("t");
        assert!(compile(&model, &scope, &plan, Dialect::Sqlite).is_ok());
        let Some(Bound::Lambda {
            predicate: Some(predicate),
            ..
        }) = &plan.filter
        else {
            panic!("{:?}", plan.filter);
        };
        // The variable's comparison, moved out of the `any` that opens its scope.
        let mut outside = plan.clone();
        outside.filter = Some(predicate.as_ref().clone());
        let e = compile(&model, &scope, &outside, Dialect::Sqlite).unwrap_err();
        assert!(e.0.contains("is not open"), "{e}");
    }

    #[test]
    fn positions_past_a_layout_or_a_row_are_errors() {
        let layout = |output, sort| ReadLayout {
            kinds: vec![ColumnKind::Text, ColumnKind::Int64],
            output,
            sort_positions: vec![ColumnPos(sort)],
            expand_positions: Vec::new(),
        };
        assert!(layout(1, 1).checked().is_ok());
        assert!(layout(1, 2).checked().is_err());
        assert!(layout(3, 0).checked().is_err());
        assert!(layout(1, 0).expand_position(0).is_err());
        let row = [Value::Int(3)];
        assert_eq!(ColumnPos(0).of(&row), Ok(&Value::Int(3)));
        assert!(ColumnPos(1).of(&row).is_err());
    }

    #[test]
    fn a_plan_bound_for_another_tenant_does_not_compile() {
        let model = Model::load().unwrap();
        let plan = calls_plan(&model);
        assert!(compile(&model, &TenantScope::for_tests("u"), &plan, Dialect::Sqlite).is_err());
        assert!(compile(&model, &TenantScope::for_tests("t"), &plan, Dialect::Sqlite).is_ok());
    }

    #[test]
    fn page_query_selects_sort_columns_and_binds_everything() {
        let model = Model::load().unwrap();
        let plan = calls_plan(&model);
        let query = compile(
            &model,
            &TenantScope::for_tests("t"),
            &plan,
            Dialect::Postgres,
        )
        .unwrap();
        let (stmt, layout) = (query.page, query.layout);
        assert_eq!(
            stmt.text,
            "SELECT \"t0\".\"id\", \"t0\".\"ended_at_utc\" FROM \"calls\" AS \"t0\" WHERE \"t0\".\"tenant_id\" = $1 \
             ORDER BY \"t0\".\"ended_at_utc\" DESC NULLS LAST, \"t0\".\"id\" ASC LIMIT $2 OFFSET $3"
        );
        assert_eq!(layout.output, 1);
        assert_eq!(layout.sort_positions, vec![ColumnPos(1), ColumnPos(0)]);
        assert_eq!(stmt.binds.len(), 3);
    }

    #[test]
    fn keyset_predicate_handles_values_and_nulls() {
        let model = Model::load().unwrap();
        let mut plan = calls_plan(&model);
        plan.after = Some(vec![
            Value::Text("2026-01-01T00:00:00.000Z".into()),
            Value::Text("c9".into()),
        ]);
        let stmt = compile(
            &model,
            &TenantScope::for_tests("t"),
            &plan,
            Dialect::Postgres,
        )
        .unwrap()
        .page;
        assert!(
            stmt.text.contains(
                "AND ((\"t0\".\"ended_at_utc\" < $2 OR \"t0\".\"ended_at_utc\" IS NULL) OR (\"t0\".\"ended_at_utc\" = $3 AND \"t0\".\"id\" > $4))"
            ),
            "{}",
            stmt.text
        );
        assert_eq!(stmt.binds.len(), 6);
        plan.after = Some(vec![Value::Null, Value::Text("c9".into())]);
        let stmt = compile(&model, &TenantScope::for_tests("t"), &plan, Dialect::Sqlite)
            .unwrap()
            .page;
        assert!(
            stmt.text
                .contains("AND ((\"t0\".\"ended_at_utc\" IS NULL AND \"t0\".\"id\" > ?))"),
            "{}",
            stmt.text
        );
        assert_eq!(stmt.binds.len(), 4);
    }
}
