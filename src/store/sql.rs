//! SQL text generation. The text holds only identifiers taken from the model and
//! placeholders; every value travels as a bind in [`Statement::binds`].
//!
//! The two backends differ in few places, each a method on [`Dialect`]: placeholder
//! syntax, and how a transaction for writing starts.

use crate::edm::{EntitySet, Model};
use crate::plan::{ExpandPlan, PlanError, QueryPlan};

use super::expr::ExprWriter;
use super::{ColumnKind, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The n-th (1-based) bind placeholder.
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => "?".to_string(),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// SQLite takes the write lock at BEGIN IMMEDIATE, so a writer waits for another
    /// writer up front instead of failing halfway through with SQLITE_BUSY.
    pub fn begin(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }
}

/// SQL text plus its binds, each with the column kind that decides its SQL type.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub text: String,
    pub binds: Vec<(Value, ColumnKind)>,
}

pub(super) struct Builder {
    pub(super) dialect: Dialect,
    text: String,
    binds: Vec<(Value, ColumnKind)>,
}

impl Builder {
    pub(super) fn new(dialect: Dialect) -> Builder {
        Builder {
            dialect,
            text: String::with_capacity(256),
            binds: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, s: &str) -> &mut Builder {
        self.text.push_str(s);
        self
    }

    pub(super) fn bind(&mut self, value: Value, kind: ColumnKind) -> &mut Builder {
        self.binds.push((value, kind));
        let p = self.dialect.placeholder(self.binds.len());
        self.text.push_str(&p);
        self
    }

    fn finish(self) -> Statement {
        Statement {
            text: self.text,
            binds: self.binds,
        }
    }
}

pub(super) fn quoted(name: &str) -> String {
    // Names come from the model (snake_case ASCII), never from a request.
    format!("\"{name}\"")
}

/// Where each selected column goes: the first `output` columns are the selected
/// properties, written to the response in order; after them come sort expressions
/// and join columns that are not among the selected properties.
/// `sort_positions[i]` is the column holding sort key `i`, `expand_positions[i]` the
/// column holding the parent value of expanded navigation property `i`.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectLayout {
    /// Property index of each output column.
    pub columns: Vec<usize>,
    /// Read kind of every column, output and extra.
    pub kinds: Vec<ColumnKind>,
    pub output: usize,
    pub sort_positions: Vec<usize>,
    pub expand_positions: Vec<usize>,
}

/// A column read after the selected properties.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Extra {
    /// Sort key `i` of the plan.
    Sort(usize),
    /// A property of the row (a join column of an expansion).
    Property(usize),
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

fn layout(set: &EntitySet, plan: &QueryPlan) -> SelectLayout {
    let columns = plan.select.clone();
    let output = columns.len();
    let extras = extras(plan);
    let mut kinds: Vec<ColumnKind> = columns
        .iter()
        .map(|&c| ColumnKind::of(&set.properties[c]))
        .collect();
    kinds.extend(extras.iter().map(|x| match x {
        Extra::Sort(i) => plan.order[*i].expr.read_kind(),
        Extra::Property(p) => ColumnKind::of(&set.properties[*p]),
    }));
    // The column holding property `p`, wherever it is.
    let position_of = |p: usize| -> Option<usize> {
        columns.iter().position(|&c| c == p).or_else(|| {
            extras
                .iter()
                .position(|x| match x {
                    Extra::Sort(i) => plan.order[*i].column() == Some(p),
                    Extra::Property(q) => *q == p,
                })
                .map(|i| output + i)
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
                .unwrap_or(0)
        })
        .collect();
    let expand_positions = plan
        .expand
        .iter()
        .map(|e| position_of(e.parent_property).unwrap_or(0))
        .collect();
    SelectLayout {
        columns,
        kinds,
        output,
        sort_positions,
        expand_positions,
    }
}

/// `SELECT` list: the selected properties, then the extras.
fn select_list(
    b: &mut Builder,
    w: &mut ExprWriter<'_>,
    set: &EntitySet,
    plan: &QueryPlan,
) -> Result<(), PlanError> {
    let mut first = true;
    for &c in &plan.select {
        if !first {
            b.push(", ");
        }
        first = false;
        b.push("\"t0\".").push(&quoted(&set.properties[c].column));
    }
    for x in extras(plan) {
        if !first {
            b.push(", ");
        }
        first = false;
        match x {
            Extra::Sort(i) => w.write(b, &plan.order[i].expr)?,
            Extra::Property(p) => {
                b.push("\"t0\".").push(&quoted(&set.properties[p].column));
            }
        }
    }
    if first {
        // Nothing selected: keep the SQL valid.
        b.push("1");
    }
    Ok(())
}

fn writer<'a>(model: &'a Model, plan: &'a QueryPlan) -> ExprWriter<'a> {
    ExprWriter {
        model,
        tenant: &plan.tenant,
        next_alias: 0,
    }
}

/// `WHERE t0.tenant_id = ? [AND id = ?] [AND filter] [AND keyset]`: the one place
/// tenant scoping is added.
fn where_clause(
    b: &mut Builder,
    w: &mut ExprWriter<'_>,
    set: &EntitySet,
    plan: &QueryPlan,
) -> Result<(), PlanError> {
    b.push(" WHERE \"t0\".\"tenant_id\" = ");
    b.bind(Value::Text(plan.tenant.clone()), ColumnKind::Text);
    if let Some(key) = &plan.key {
        b.push(" AND \"t0\".")
            .push(&quoted(&set.key_property().column))
            .push(" = ");
        b.bind(Value::Text(key.clone()), ColumnKind::Text);
    }
    if let Some(filter) = &plan.filter {
        b.push(" AND ");
        w.write(b, filter)?;
    }
    if let Some(after) = &plan.after {
        keyset_predicate(b, w, plan, after)?;
    }
    Ok(())
}

/// Rows strictly after `after` in the plan's order, with nulls first in ascending
/// and last in descending order (OData's rule). For keys k1..kn it is
/// `(k1 after v1) OR (k1 = v1 AND k2 after v2) OR ...`.
fn keyset_predicate(
    b: &mut Builder,
    w: &mut ExprWriter<'_>,
    plan: &QueryPlan,
    after: &[Value],
) -> Result<(), PlanError> {
    // With a non-null first key, `k1 >= v1` (or `<=`) repeats what the OR below
    // implies in a form the databases seek an index with: without it, each page
    // would scan the index from its start, making a full pull quadratic.
    if let (Some(first), Some(value)) = (plan.order.first(), after.first())
        && plan.order.len() > 1
        && !first.expr.nullable()
        && !matches!(value, Value::Null)
    {
        b.push(" AND ");
        w.write(b, &first.expr)?;
        b.push(if first.descending { " <= " } else { " >= " });
        b.bind(value.clone(), first.expr.read_kind());
    }
    b.push(" AND (");
    let mut terms = 0;
    for (i, (key, value)) in plan.order.iter().zip(after).enumerate() {
        let is_null = matches!(value, Value::Null);
        if is_null && key.descending {
            continue; // nulls sort last when descending: nothing comes after one
        }
        if terms > 0 {
            b.push(" OR ");
        }
        terms += 1;
        b.push("(");
        for (prev, prev_value) in plan.order[..i].iter().zip(after) {
            w.write(b, &prev.expr)?;
            match prev_value.clone() {
                Value::Null => b.push(" IS NULL AND "),
                v => b.push(" = ").bind(v, prev.expr.read_kind()).push(" AND "),
            };
        }
        let kind = key.expr.read_kind();
        let v = value.clone();
        let nullable = key.expr.nullable();
        w.write(b, &key.expr)?;
        match (is_null, key.descending) {
            (true, _) => {
                b.push(" IS NOT NULL");
            }
            (false, false) => {
                b.push(" > ").bind(v, kind);
            }
            (false, true) => {
                b.push(" < ").bind(v, kind);
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

fn order_clause(
    b: &mut Builder,
    w: &mut ExprWriter<'_>,
    plan: &QueryPlan,
) -> Result<(), PlanError> {
    b.push(" ORDER BY ");
    for (i, key) in plan.order.iter().enumerate() {
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

/// The page query: selected columns plus any sort columns not selected.
pub fn select(
    model: &Model,
    plan: &QueryPlan,
    dialect: Dialect,
) -> Result<(Statement, SelectLayout), PlanError> {
    let set = &model.entity_sets()[plan.set];
    let layout = layout(set, plan);
    let mut w = writer(model, plan);
    let mut b = Builder::new(dialect);
    b.push("SELECT ");
    select_list(&mut b, &mut w, set, plan)?;
    b.push(" FROM ")
        .push(&quoted(&set.table))
        .push(" AS \"t0\"");
    where_clause(&mut b, &mut w, set, plan)?;
    order_clause(&mut b, &mut w, plan)?;
    if plan.limit.is_some() || plan.skip > 0 {
        b.push(" LIMIT ");
        // An absent limit is spelled as the largest value: the two backends read
        // negative and NULL limits differently.
        let limit = plan.limit.unwrap_or(i64::MAX as u64).min(i64::MAX as u64) as i64;
        if dialect == Dialect::Sqlite {
            // SQLite reads a bare `LIMIT ?` at prepare time and then marks the
            // statement to be prepared again whenever the value is rebound, which
            // defeats the statement cache; an expression is only evaluated at run time.
            b.push("(");
            b.bind(Value::Int(limit), ColumnKind::Int64);
            b.push(" + 0)");
        } else {
            b.bind(Value::Int(limit), ColumnKind::Int64);
        }
        b.push(" OFFSET ");
        b.bind(
            Value::Int(plan.skip.min(i64::MAX as u64) as i64),
            ColumnKind::Int64,
        );
    }
    Ok((b.finish(), layout))
}

/// `SELECT COUNT(*)` over the same rows the plan reads, ignoring paging.
pub fn count(model: &Model, plan: &QueryPlan, dialect: Dialect) -> Result<Statement, PlanError> {
    let set = &model.entity_sets()[plan.set];
    let unpaged = QueryPlan {
        after: None,
        ..plan.clone()
    };
    let mut w = writer(model, &unpaged);
    let mut b = Builder::new(dialect);
    b.push("SELECT COUNT(*) FROM ")
        .push(&quoted(&set.table))
        .push(" AS \"t0\"");
    where_clause(&mut b, &mut w, set, &unpaged)?;
    Ok(b.finish())
}

/// The related rows of an expanded navigation property for a page: one query for
/// all parent `keys`. Columns: the layout of the related plan, then the join value,
/// then (for nested `$count`) the total per parent. Nested `$top`/`$skip` apply per
/// parent through `ROW_NUMBER() OVER (PARTITION BY join value ...)`.
pub fn expand_select(
    model: &Model,
    expand: &ExpandPlan,
    keys: &[String],
    dialect: Dialect,
) -> Result<(Statement, SelectLayout), PlanError> {
    let plan = &expand.plan;
    let set = &model.entity_sets()[plan.set];
    let mut layout = layout(set, plan);
    let width = layout.kinds.len();
    let join_col = format!(
        "\"t0\".{}",
        quoted(&set.properties[expand.target_property].column)
    );
    let mut w = writer(model, plan);
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
    order_clause(&mut b, &mut w, plan)?;
    b.push(") AS \"row_number\"");
    if expand.count {
        b.push(", COUNT(*) OVER (PARTITION BY ")
            .push(&join_col)
            .push(") AS \"total\"");
    }
    b.push(" FROM ")
        .push(&quoted(&set.table))
        .push(" AS \"t0\"");
    where_clause(&mut b, &mut w, set, plan)?;
    b.push(" AND ").push(&join_col).push(" IN (");
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            b.push(", ");
        }
        b.bind(Value::Text(k.clone()), ColumnKind::Text);
    }
    b.push(")) AS \"x\" WHERE \"x\".\"row_number\" > ");
    b.bind(
        Value::Int(expand.skip.min(i64::MAX as u64) as i64),
        ColumnKind::Int64,
    );
    if let Some(top) = expand.top {
        b.push(" AND \"x\".\"row_number\" <= ");
        b.bind(
            Value::Int(expand.skip.saturating_add(top).min(i64::MAX as u64) as i64),
            ColumnKind::Int64,
        );
    }
    b.push(" ORDER BY \"x\".\"join_value\", \"x\".\"row_number\"");
    layout.kinds.push(ColumnKind::Text);
    if expand.count {
        layout.kinds.push(ColumnKind::Int64);
    }
    Ok((b.finish(), layout))
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

/// `INSERT ... ON CONFLICT (tenant_id, id) DO UPDATE` for `rows` rows of `columns`
/// (property indices). Upserting by key makes a repeated batch change nothing.
pub fn upsert(
    set: &EntitySet,
    columns: &[usize],
    tenant_in_columns: bool,
    rows: usize,
    dialect: Dialect,
) -> String {
    let mut text = format!("INSERT INTO {} (", quoted(&set.table));
    let mut names: Vec<String> = Vec::new();
    if !tenant_in_columns {
        names.push(quoted("tenant_id"));
    }
    names.extend(columns.iter().map(|&c| quoted(&set.properties[c].column)));
    text.push_str(&names.join(", "));
    text.push_str(") VALUES ");
    let per_row = names.len();
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            text.push_str(", ");
        }
        text.push('(');
        for c in 0..per_row {
            if c > 0 {
                text.push_str(", ");
            }
            n += 1;
            text.push_str(&dialect.placeholder(n));
        }
        text.push(')');
    }
    text.push_str(&upsert_conflict(set, columns));
    text
}

/// PostgreSQL: the same upsert as [`upsert`], with every column bound as one array
/// (`array_types[i]` is the SQL array type of `columns[i]`, e.g. `text[]`) and the rows
/// made by `unnest`. The text depends only on the columns, never on the row count, and
/// the tenant (when not among the columns) is `$1`.
pub fn upsert_unnest(
    set: &EntitySet,
    columns: &[usize],
    tenant_in_columns: bool,
    array_types: &[&str],
) -> String {
    let mut text = format!("INSERT INTO {} (", quoted(&set.table));
    let mut names: Vec<String> = Vec::new();
    if !tenant_in_columns {
        names.push(quoted("tenant_id"));
    }
    names.extend(columns.iter().map(|&c| quoted(&set.properties[c].column)));
    text.push_str(&names.join(", "));
    text.push_str(") SELECT ");
    let first = if tenant_in_columns {
        1
    } else {
        text.push_str("$1, ");
        2
    };
    text.push_str("* FROM unnest(");
    let arrays: Vec<String> = array_types
        .iter()
        .enumerate()
        .map(|(i, ty)| format!("${}::{ty}", first + i))
        .collect();
    text.push_str(&arrays.join(", "));
    text.push(')');
    text.push_str(&upsert_conflict(set, columns));
    text
}

/// The `ON CONFLICT` clause of an upsert by (tenant, key) that sets every non-key column.
fn upsert_conflict(set: &EntitySet, columns: &[usize]) -> String {
    let mut text = String::from(" ON CONFLICT (\"tenant_id\", ");
    text.push_str(&quoted(&set.key_property().column));
    text.push(')');
    let updates: Vec<String> = columns
        .iter()
        .filter(|&&c| c != set.key)
        .map(|&c| set.properties[c].column.as_str())
        .filter(|&col| col != "tenant_id")
        .map(|col| format!("{} = excluded.{}", quoted(col), quoted(col)))
        .collect();
    if updates.is_empty() {
        text.push_str(" DO NOTHING");
    } else {
        text.push_str(" DO UPDATE SET ");
        text.push_str(&updates.join(", "));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Bound, ColumnRef, OrderKey, Ty};

    fn calls_plan(model: &Model) -> QueryPlan {
        let set = model
            .entity_sets()
            .iter()
            .position(|s| s.name == "Calls")
            .unwrap();
        let calls = &model.entity_sets()[set];
        let ended = calls.property_index("endedAtUtc").unwrap();
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
                            scope: 0,
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
                            scope: 0,
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
            after: None,
            skip: 0,
            limit: Some(11),
            expand: Vec::new(),
        }
    }

    #[test]
    fn page_query_selects_sort_columns_and_binds_everything() {
        let model = Model::load().unwrap();
        let plan = calls_plan(&model);
        let (stmt, layout) = select(&model, &plan, Dialect::Postgres).unwrap();
        assert_eq!(
            stmt.text,
            "SELECT \"t0\".\"id\", \"t0\".\"ended_at_utc\" FROM \"calls\" AS \"t0\" WHERE \"t0\".\"tenant_id\" = $1 \
             ORDER BY \"t0\".\"ended_at_utc\" DESC NULLS LAST, \"t0\".\"id\" ASC LIMIT $2 OFFSET $3"
        );
        assert_eq!(layout.output, 1);
        assert_eq!(layout.sort_positions, vec![1, 0]);
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
        let (stmt, _) = select(&model, &plan, Dialect::Postgres).unwrap();
        assert!(
            stmt.text.contains(
                "AND ((\"t0\".\"ended_at_utc\" < $2 OR \"t0\".\"ended_at_utc\" IS NULL) OR (\"t0\".\"ended_at_utc\" = $3 AND \"t0\".\"id\" > $4))"
            ),
            "{}",
            stmt.text
        );
        assert_eq!(stmt.binds.len(), 6);
        plan.after = Some(vec![Value::Null, Value::Text("c9".into())]);
        let (stmt, _) = select(&model, &plan, Dialect::Sqlite).unwrap();
        assert!(
            stmt.text
                .contains("AND ((\"t0\".\"ended_at_utc\" IS NULL AND \"t0\".\"id\" > ?))"),
            "{}",
            stmt.text
        );
        assert_eq!(stmt.binds.len(), 4);
    }
}
