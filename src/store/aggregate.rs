//! Compiling an [`ApplyPlan`] into a dialect's SQL, as a [`CompiledQuery`] that
//! [`execute`](super::execute) runs like any page.
//!
//! Three levels, each a subquery of the next:
//! 1. `"g"`: the set's rows of the tenant that pass the filter, with each group key
//!    (`k0..`) and each aggregated expression (`v0..`) computed once per row;
//! 2. `"a"`: `GROUP BY` the key columns with the aggregates (`c0..`, groups first),
//!    grouping by plain column references, so keys that carry binds (a tenant-local
//!    `date()`) or correlated subqueries (`Queue/name`) group alike on both backends;
//! 3. the page: the result rows that pass `having`, after the keyset position, in
//!    the plan's order, with `LIMIT`/`OFFSET`.
//!
//! Both backends give the same digits: integer sums are exact 64-bit integers
//! (PostgreSQL's `numeric` sum cast back to `BIGINT`), and an average is the sum as
//! a double divided by the count, one correctly rounded division on both (neither
//! backend's own `AVG` rounds the same way as the other's).

use crate::edm::Model;
use crate::plan::apply::{ApplyPlan, Method};

use super::ColumnKind;
use super::compile::{
    ColumnPos, CompileError, CompiledQuery, ReadLayout, bind_count, keyset_predicate, order_clause,
};
use super::expr::ExprWriter;
use super::scoped::TenantScope;
use super::sql::{Builder, Dialect, quoted};

fn double(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "REAL",
        Dialect::Postgres => "DOUBLE PRECISION",
    }
}

/// Compiles `plan` for `dialect`.
pub fn compile_apply(
    model: &Model,
    scope: &TenantScope,
    plan: &ApplyPlan,
    dialect: Dialect,
) -> Result<CompiledQuery, CompileError> {
    let set = model
        .set(plan.set)
        .ok_or_else(|| CompileError(format!("no entity set #{}", plan.set)))?;
    super::compile::check_scope(scope, &plan.tenant)?;
    let mut w = ExprWriter::new(model, scope, plan.set);
    // Level 3: the page.
    let kind_of = |position: usize| -> Result<ColumnKind, CompileError> {
        plan.columns
            .get(position)
            .map(|c| c.kind)
            .ok_or_else(|| CompileError(format!("no result column #{position}")))
    };
    let mut kinds: Vec<ColumnKind> = plan
        .select
        .iter()
        .map(|&p| kind_of(p))
        .collect::<Result<_, _>>()?;
    let output = kinds.len();
    let mut page = Builder::new(dialect);
    page.push("SELECT ");
    let mut list: Vec<String> = plan
        .select
        .iter()
        .map(|p| format!("\"a\".\"c{p}\""))
        .collect();
    let mut sort_positions = Vec::new();
    for key in &plan.order {
        sort_positions.push(ColumnPos::new(kinds.len()));
        kinds.push(key.expr.read_kind());
        list.push(String::new()); // written below, as an expression
    }
    let fixed = output;
    for (i, item) in list.iter().enumerate() {
        if i > 0 {
            page.push(", ");
        }
        if i < fixed {
            page.push(item);
        } else {
            w.write(&mut page, &plan.order[i - fixed].expr)?;
        }
    }
    if list.is_empty() {
        page.push("1");
    }
    page.push(" FROM (");
    write_grouped(&mut page, &mut w, plan, set)?;
    page.push(") AS \"a\" WHERE 1 = 1");
    if let Some(having) = &plan.having {
        page.push(" AND ");
        w.write(&mut page, having)?;
    }
    if let Some(after) = &plan.after {
        keyset_predicate(&mut page, &mut w, &plan.order, after)?;
    }
    if !plan.order.is_empty() {
        order_clause(&mut page, &mut w, &plan.order)?;
    }
    limit(
        &mut page,
        plan.page_rows.map(|r| r.saturating_add(1)),
        plan.skip,
    );

    let count = if plan.count {
        let mut b = Builder::new(dialect);
        b.push("SELECT COUNT(*) FROM (SELECT 1 AS \"one\" FROM (");
        write_grouped(&mut b, &mut w, plan, set)?;
        b.push(") AS \"a\" WHERE 1 = 1");
        if let Some(having) = &plan.having {
            b.push(" AND ");
            w.write(&mut b, having)?;
        }
        if plan.inner_top.is_some() || plan.inner_skip > 0 {
            if !plan.order.is_empty() {
                order_clause(&mut b, &mut w, &plan.order)?;
            }
            limit(&mut b, plan.inner_top, plan.inner_skip);
        }
        b.push(") AS \"n\"");
        Some(b.finish())
    } else {
        None
    };
    Ok(CompiledQuery {
        page: page.finish(),
        count,
        layout: ReadLayout {
            kinds,
            output,
            sort_positions,
            expand_positions: Vec::new(),
        }
        .checked()?,
        page_rows: plan.page_rows,
        expand: Vec::new(),
        time_limit: plan.time_limit,
    })
}

/// Levels 1 and 2: the grouped result (`SELECT ... GROUP BY ...`, without the
/// parentheses around it).
fn write_grouped(
    grouped: &mut Builder,
    w: &mut ExprWriter<'_>,
    plan: &ApplyPlan,
    set: &crate::edm::EntitySet,
) -> Result<(), CompileError> {
    let dialect = grouped.dialect;
    grouped.push("SELECT ");
    let mut items: Vec<String> = Vec::new();
    for i in 0..plan.groups.len() {
        items.push(format!("\"g\".\"k{i}\" AS \"c{i}\""));
    }
    let base = plan.groups.len();
    for (i, a) in plan.aggregates.iter().enumerate() {
        let v = format!("\"g\".\"v{i}\"");
        let integer = a
            .expr
            .as_ref()
            .and_then(|e| e.ty())
            .is_some_and(|t| t.is_integer());
        let sql = match (a.method, dialect) {
            (Method::Count, _) => "COUNT(*)".to_string(),
            (Method::CountDistinct, _) => format!("COUNT(DISTINCT {v})"),
            (Method::Sum, Dialect::Postgres) if integer => format!("CAST(SUM({v}) AS BIGINT)"),
            (Method::Sum, _) => format!("SUM({v})"),
            (Method::Min, _) => format!("MIN({v})"),
            (Method::Max, _) => format!("MAX({v})"),
            (Method::Average, d) => {
                format!("CAST(SUM({v}) AS {}) / NULLIF(COUNT({v}), 0)", double(d))
            }
        };
        items.push(format!("{sql} AS \"c{}\"", base + i));
    }
    grouped.push(&items.join(", "));
    grouped.push(" FROM (SELECT ");
    let mut first = true;
    for (i, key) in plan.groups.iter().enumerate() {
        if !first {
            grouped.push(", ");
        }
        first = false;
        w.write(grouped, key)?;
        grouped.push(&format!(" AS \"k{i}\""));
    }
    for (i, a) in plan.aggregates.iter().enumerate() {
        if let Some(e) = &a.expr {
            if !first {
                grouped.push(", ");
            }
            first = false;
            w.write(grouped, e)?;
            grouped.push(&format!(" AS \"v{i}\""));
        }
    }
    if first {
        grouped.push("1 AS \"one\"");
    }
    grouped
        .push(" FROM ")
        .push(&quoted(&set.table))
        .push(" AS \"t0\" WHERE \"t0\".\"tenant_id\" = ");
    let (tenant, kind) = w.tenant.bind();
    grouped.bind(tenant, kind);
    if let Some(filter) = &plan.filter {
        grouped.push(" AND ");
        w.write(grouped, filter)?;
    }
    grouped.push(") AS \"g\"");
    if !plan.groups.is_empty() {
        let keys: Vec<String> = (0..plan.groups.len())
            .map(|i| format!("\"g\".\"k{i}\""))
            .collect();
        grouped.push(" GROUP BY ").push(&keys.join(", "));
    }

    Ok(())
}

/// ` LIMIT n OFFSET m`; an absent limit is the largest value (see `compile`).
fn limit(b: &mut Builder, rows: Option<u64>, skip: u64) {
    if rows.is_none() && skip == 0 {
        return;
    }
    b.push(" LIMIT ");
    let rows = rows.unwrap_or(u64::MAX);
    if b.dialect == Dialect::Sqlite {
        b.push("(");
        bind_count(b, rows);
        b.push(" + 0)");
    } else {
        bind_count(b, rows);
    }
    b.push(" OFFSET ");
    bind_count(b, skip);
}
