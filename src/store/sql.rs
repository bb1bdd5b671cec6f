//! SQL text generation. The text holds only identifiers taken from the model and
//! placeholders; every value travels as a bind in [`Statement::binds`].
//!
//! The two backends differ in few places, each a method on [`Dialect`]: placeholder
//! syntax, and how a transaction for writing starts.

use crate::edm::EntitySet;

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
    pub(super) text: String,
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

    /// The index in [`Statement::binds`] the next bind gets.
    pub(super) fn next_bind_index(&self) -> usize {
        self.binds.len()
    }

    pub(super) fn finish(self) -> Statement {
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
        .filter(|&&c| c != set.key.index())
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
