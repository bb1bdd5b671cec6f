//! Executing a [`CompiledQuery`]: the `$count`, the page, and every `$expand` level,
//! delivered to an [`EntitySink`] as entities with their properties and nested
//! related entities, in response order.
//!
//! A page without `$expand` streams straight from the driver's buffer into the sink,
//! cell by cell. With `$expand`, the page's rows are held as owned values until the
//! related rows are read (one query per navigation property and level, never one
//! per row), then delivered with their related entities nested under them.
//!
//! This module decides where the page ends: it delivers at most `page_rows`
//! entities, notices whether another row follows, and returns the last row's sort
//! key for the next page's skiptoken.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::compile::{
    ColumnPos, CompileError, CompiledExpand, CompiledQuery, ReadLayout, key_list,
};
use super::deadline;
use super::read::{RowSink, scalar_i64, stream_rows};
use super::sql::Statement;
use super::value::assign;
use super::{Cell, Conn, StoreError, Value};

/// Receives the entities of a page. Properties arrive in output order (the plan's
/// `select`); `end_entity` gets the entity's key.
pub trait EntitySink {
    /// The total number of matching rows, before any entity, when `$count` asks.
    fn count(&mut self, total: i64) -> Result<(), StoreError>;
    fn begin_entity(&mut self) -> Result<(), StoreError>;
    /// Property `position` (an output column of the layout: the plan's `select`
    /// at the same index).
    fn property(&mut self, position: ColumnPos, cell: Cell<'_>) -> Result<(), StoreError>;
    /// Opens expanded navigation property `index` (of the plan's `expand` at this
    /// level); the related entities follow, then [`EntitySink::end_expanded`].
    /// `total` is the related rows' count when nested `$count` asks.
    fn begin_expanded(&mut self, index: usize, total: Option<i64>) -> Result<(), StoreError>;
    fn end_expanded(&mut self) -> Result<(), StoreError>;
    fn end_entity(&mut self, key: &Value) -> Result<(), StoreError>;
    /// Set when the client has gone away: a statement reading for it may stop.
    fn cancellation(&self) -> Option<Arc<AtomicBool>> {
        None
    }
}

/// Where a page ended.
#[derive(Debug, Clone, PartialEq)]
pub struct PageEnd {
    /// Entities delivered at the top level.
    pub rows: u64,
    /// Whether another row follows the page.
    pub more: bool,
    /// The sort key of the last delivered row (the next page starts after it).
    pub last_sort: Vec<Value>,
}

/// Parents per expansion query: the join values travel in one bind, and this keeps
/// that bind and the database's work per statement bounded.
const KEYS_PER_QUERY: usize = 20_000;

/// Runs `query` and delivers its page to `sink`.
pub fn execute(
    conn: &mut Conn,
    query: &CompiledQuery,
    sink: &mut dyn EntitySink,
) -> Result<PageEnd, StoreError> {
    let _deadline = deadline::start(query.time_limit, sink.cancellation());
    let end = read_page(conn, query, sink);
    deadline::outcome(end, query.time_limit)
}

fn read_page(
    conn: &mut Conn,
    query: &CompiledQuery,
    sink: &mut dyn EntitySink,
) -> Result<PageEnd, StoreError> {
    if let Some(count) = &query.count {
        let total = scalar_i64(conn, count)?;
        sink.count(total)?;
    }
    let layout = &query.layout;
    let mut end = PageEnd {
        rows: 0,
        more: false,
        last_sort: vec![Value::Null; layout.sort_positions.len()],
    };
    if query.expand.is_empty() {
        let mut reader = PageReader {
            sink,
            layout,
            sort_slot: slots(&layout.sort_positions, layout.kinds.len())?,
            page_rows: query.page_rows,
            end: &mut end,
        };
        stream_rows(conn, &query.page, &layout.kinds, &mut reader)?;
        return Ok(end);
    }
    let mut held = Held::new(layout.kinds.len(), query.page_rows);
    stream_rows(conn, &query.page, &layout.kinds, &mut held)?;
    end.more = held.more;
    let related = read_related(conn, &query.expand, layout, &held.rows)?;
    for row in &held.rows {
        deliver(sink, layout, &query.expand, &related, row)?;
        end.rows += 1;
    }
    if let Some(last) = held.rows.last() {
        for (slot, &position) in end.last_sort.iter_mut().zip(&layout.sort_positions) {
            *slot = position.of(last)?.clone();
        }
    }
    Ok(end)
}

/// `slots[column]` is the sort key column `column` holds, if any; a position past
/// `width` is an error.
fn slots(positions: &[ColumnPos], width: usize) -> Result<Vec<Option<usize>>, CompileError> {
    let mut out = vec![None; width];
    for (slot, &position) in positions.iter().enumerate() {
        let s = out.get_mut(position.index()).ok_or_else(|| {
            CompileError(format!(
                "sort column {position} is past a layout of {width} columns"
            ))
        })?;
        *s = Some(slot);
    }
    Ok(out)
}

/// Streams a page without `$expand` into the sink.
struct PageReader<'a> {
    sink: &'a mut dyn EntitySink,
    layout: &'a ReadLayout,
    sort_slot: Vec<Option<usize>>,
    page_rows: Option<u64>,
    end: &'a mut PageEnd,
}

impl RowSink for PageReader<'_> {
    fn begin_row(&mut self) -> Result<bool, StoreError> {
        if Some(self.end.rows) == self.page_rows {
            self.end.more = true;
            return Ok(false);
        }
        self.sink.begin_entity()?;
        Ok(true)
    }

    fn cell(&mut self, column: ColumnPos, cell: Cell<'_>) -> Result<(), StoreError> {
        let sort_slot = self
            .sort_slot
            .get(column.index())
            .ok_or_else(|| CompileError(format!("column {column} is past the layout")))?;
        if let Some(slot) = *sort_slot {
            let key = self
                .end
                .last_sort
                .get_mut(slot)
                .ok_or_else(|| CompileError(format!("no sort key {slot}")))?;
            assign(key, cell);
        }
        if self.layout.is_output(column) {
            self.sink.property(column, cell)?;
        }
        Ok(())
    }

    fn end_row(&mut self) -> Result<(), StoreError> {
        self.end.rows += 1;
        let key = self.end.last_sort.last().unwrap_or(&Value::Null);
        self.sink.end_entity(key)
    }
}

/// Rows kept as owned values (a page with `$expand`, or related rows).
struct Held {
    width: usize,
    limit: Option<u64>,
    rows: Vec<Vec<Value>>,
    more: bool,
}

impl Held {
    fn new(width: usize, limit: Option<u64>) -> Held {
        Held {
            width,
            limit,
            rows: Vec::new(),
            more: false,
        }
    }
}

impl RowSink for Held {
    fn begin_row(&mut self) -> Result<bool, StoreError> {
        if Some(self.rows.len() as u64) == self.limit {
            self.more = true;
            return Ok(false);
        }
        self.rows.push(vec![Value::Null; self.width]);
        Ok(true)
    }

    fn cell(&mut self, column: ColumnPos, cell: Cell<'_>) -> Result<(), StoreError> {
        let slot = self
            .rows
            .last_mut()
            .and_then(|r| r.get_mut(column.index()))
            .ok_or_else(|| CompileError(format!("column {column} is past the layout")))?;
        assign(slot, cell);
        Ok(())
    }

    fn end_row(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The related rows of one expanded navigation property for all parents of a level.
struct Related {
    rows: Vec<Vec<Value>>,
    /// Rows (indices into `rows`) and the per-parent total, by join value.
    by_parent: HashMap<String, (Vec<usize>, Option<i64>)>,
    /// The next level down, for nested `$expand`.
    nested: Vec<Related>,
}

fn read_related(
    conn: &mut Conn,
    expand: &[CompiledExpand],
    parent: &ReadLayout,
    parents: &[Vec<Value>],
) -> Result<Vec<Related>, StoreError> {
    let mut out = Vec::with_capacity(expand.len());
    for (i, e) in expand.iter().enumerate() {
        let position = parent.expand_position(i)?;
        let mut keys: Vec<String> = Vec::with_capacity(parents.len());
        for row in parents {
            // A null join value has no related rows.
            keys.extend(position.of(row)?.plain_text());
        }
        keys.sort_unstable();
        keys.dedup();
        let mut held = Held::new(e.layout.kinds.len(), None);
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let keys: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let mut statement: Statement = e.statement.clone();
            let bind = statement.binds.get_mut(e.keys_bind).ok_or_else(|| {
                CompileError(format!("the expansion has no bind {}", e.keys_bind))
            })?;
            bind.0 = key_list(conn.dialect(), &keys);
            stream_rows(conn, &statement, &e.layout.kinds, &mut held)?;
        }
        let mut by_parent: HashMap<String, (Vec<usize>, Option<i64>)> = HashMap::new();
        for (index, row) in held.rows.iter().enumerate() {
            let Some(join) = e.join_position.of(row)?.plain_text() else {
                continue;
            };
            let total = match e.total_position.map(|p| p.of(row)).transpose()? {
                Some(Value::Int(n)) => Some(*n),
                _ => None,
            };
            let group = by_parent.entry(join).or_default();
            group.0.push(index);
            group.1 = total;
        }
        let nested = read_related(conn, &e.expand, &e.layout, &held.rows)?;
        out.push(Related {
            rows: held.rows,
            by_parent,
            nested,
        });
    }
    Ok(out)
}

/// Delivers one held row with its related entities.
fn deliver(
    sink: &mut dyn EntitySink,
    layout: &ReadLayout,
    expand: &[CompiledExpand],
    related: &[Related],
    row: &[Value],
) -> Result<(), StoreError> {
    sink.begin_entity()?;
    for (position, value) in row.iter().take(layout.output).enumerate() {
        sink.property(ColumnPos::new(position), Cell::of(value))?;
    }
    for (i, (e, r)) in expand.iter().zip(related).enumerate() {
        let join = layout.expand_position(i)?.of(row)?.plain_text();
        let group = join.and_then(|j| r.by_parent.get(&j));
        let total = e
            .total_position
            .map(|_| group.map_or(0, |(rows, total)| total.unwrap_or(rows.len() as i64)));
        sink.begin_expanded(i, total)?;
        if let Some((rows, _)) = group {
            for &index in rows {
                if let Some(child) = r.rows.get(index) {
                    deliver(sink, &e.layout, &e.expand, &r.nested, child)?;
                }
            }
        }
        sink.end_expanded()?;
    }
    // Every entity's order ends with its key; a result without sort keys (an
    // `$apply` aggregate of all rows) has none.
    let key = match layout.sort_positions.last() {
        Some(p) => p.of(row)?,
        None => &Value::Null,
    };
    sink.end_entity(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_past_the_layout_is_an_error_not_skipped() {
        assert!(slots(&[ColumnPos::new(1)], 2).is_ok());
        assert!(slots(&[ColumnPos::new(2)], 2).is_err());
        let mut held = Held::new(2, None);
        assert_eq!(held.begin_row().ok(), Some(true));
        assert!(held.cell(ColumnPos::new(1), Cell::Int(7)).is_ok());
        assert!(held.cell(ColumnPos::new(2), Cell::Int(7)).is_err());
        assert_eq!(held.rows, vec![vec![Value::Null, Value::Int(7)]]);
    }
}
