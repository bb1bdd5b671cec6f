//! OData JSON written straight from database cells into 64 KiB chunks. No row is
//! ever materialised as a value tree: each cell is escaped into the output buffer as
//! it is read, and full chunks go to the client through a bounded channel, so memory
//! stays flat however large the page is, and a slow client slows the query down.

use std::collections::HashMap;
use std::io;

use bytes::Bytes;
use tokio::sync::mpsc::Sender;

use super::negotiate::{JsonFormat, MetadataLevel};
use crate::edm::{EdmType, EntitySet};
use crate::store::{Cell, ColumnKind, RowSink, SortValue, StoreError};

pub const CHUNK: usize = 64 * 1024;

pub type ChunkSender = Sender<Result<Bytes, io::Error>>;

/// Appends `s` as a JSON string literal.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    write_str_bytes(out, s.as_bytes());
}

/// Appends UTF-8 bytes as a JSON string literal (for callers holding raw database
/// text; only ASCII control characters, quotes and backslashes are escaped).
pub fn write_str_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends microseconds since the Unix epoch as `"YYYY-MM-DDTHH:MM:SS.sssZ"`.
fn write_instant(out: &mut Vec<u8>, micros: i64) {
    match chrono::DateTime::from_timestamp_micros(micros) {
        Some(t) => write_str(out, &crate::store::format_instant(&t)),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_cell(out: &mut Vec<u8>, cell: Cell<'_>, quote_int: bool) {
    match cell {
        Cell::Null => out.extend_from_slice(b"null"),
        Cell::Bool(true) => out.extend_from_slice(b"true"),
        Cell::Bool(false) => out.extend_from_slice(b"false"),
        Cell::Int(i) => {
            let mut b = itoa::Buffer::new();
            if quote_int {
                out.push(b'"');
                out.extend_from_slice(b.format(i).as_bytes());
                out.push(b'"');
            } else {
                out.extend_from_slice(b.format(i).as_bytes());
            }
        }
        Cell::Double(d) if d.is_nan() => out.extend_from_slice(b"\"NaN\""),
        Cell::Double(d) if d.is_infinite() => {
            out.extend_from_slice(if d > 0.0 { b"\"INF\"" } else { b"\"-INF\"" })
        }
        Cell::Double(d) => out.extend_from_slice(ryu::Buffer::new().format_finite(d).as_bytes()),
        Cell::Text(s) => write_str(out, s),
        Cell::InstantMicros(m) => write_instant(out, m),
    }
}

/// A property as it is written: `"name":` prepared once, plus how to write values.
struct OutColumn {
    key: Vec<u8>,
    type_annotation: Option<Vec<u8>>,
    quote_int: bool,
}

/// Everything the writer needs to know about the entity set and the request.
pub struct EntityShape {
    columns: Vec<OutColumn>,
    /// For each selected column, the sort-key slot it fills, if any.
    sort_slot: Vec<Option<usize>>,
    sort_keys: usize,
    metadata: MetadataLevel,
    /// `"@odata.type":"#ns.Type"` plus the `Set(` id prefix, for full metadata.
    type_name: String,
    id_prefix: String,
    navigation_links: Vec<(String, String)>,
}

impl EntityShape {
    /// `columns` are the selected property indices (output ones first, `output` of them);
    /// `sort_positions[k]` is the column holding sort key `k`.
    pub fn new(
        set: &EntitySet,
        qualified_type: String,
        service_root: &str,
        columns: &[usize],
        output: usize,
        sort_positions: &[usize],
        format: JsonFormat,
    ) -> EntityShape {
        let full = format.metadata == MetadataLevel::Full;
        let out = columns[..output]
            .iter()
            .map(|&c| {
                let p = &set.properties[c];
                let mut key = Vec::with_capacity(p.name.len() + 3);
                write_str(&mut key, &p.name);
                key.push(b':');
                let needs_type = matches!(p.ty, EdmType::DateTimeOffset | EdmType::Int64);
                let type_annotation = (full && needs_type).then(|| {
                    let mut a = Vec::new();
                    write_str(&mut a, &format!("{}@odata.type", p.name));
                    a.push(b':');
                    write_str(&mut a, &format!("#{}", p.ty.short_name()));
                    a
                });
                OutColumn {
                    key,
                    type_annotation,
                    quote_int: format.ieee754 && ColumnKind::of(p) == ColumnKind::Int64,
                }
            })
            .collect();
        // Sort keys may live in extra columns after the selected ones.
        let width = sort_positions
            .iter()
            .map(|&p| p + 1)
            .max()
            .unwrap_or(0)
            .max(columns.len());
        let mut sort_slot = vec![None; width];
        for (k, &pos) in sort_positions.iter().enumerate() {
            sort_slot[pos] = Some(k);
        }
        EntityShape {
            columns: out,
            sort_slot,
            sort_keys: sort_positions.len(),
            metadata: format.metadata,
            type_name: format!("#{qualified_type}"),
            id_prefix: format!("{service_root}/{}(", set.name),
            navigation_links: set
                .navigations
                .iter()
                .map(|n| (format!("{}@odata.navigationLink", n.name), n.name.clone()))
                .collect(),
        }
    }
}

/// A row kept back until its expanded navigation properties are known: its JSON
/// without the closing brace, and the values it joins on.
pub struct HeldRow {
    pub json: Vec<u8>,
    pub keys: Vec<Option<String>>,
}

/// The related rows of one expanded navigation property for a whole page, grouped by
/// the value they join on.
pub struct Expansion {
    /// `,"Nav":` prepared once.
    member: Vec<u8>,
    /// `,"Nav@odata.count":` when nested `$count=true`.
    count_member: Option<Vec<u8>>,
    collection: bool,
    /// Which of the parent's held keys this navigation joins on.
    slot: usize,
    groups: HashMap<String, Group>,
}

#[derive(Default)]
struct Group {
    json: Vec<u8>,
    rows: u64,
    total: Option<i64>,
}

impl Expansion {
    pub fn new(nav: &str, collection: bool, count: bool, slot: usize) -> Expansion {
        let mut member = vec![b','];
        write_str(&mut member, nav);
        member.push(b':');
        let count_member = count.then(|| {
            let mut m = vec![b','];
            write_str(&mut m, &format!("{nav}@odata.count"));
            m.push(b':');
            m
        });
        Expansion {
            member,
            count_member,
            collection,
            slot,
            groups: HashMap::new(),
        }
    }

    /// Adds related rows read by a [`RowWriter`] in hold mode whose key 0 is the join
    /// value and key 1 (if any) the per-parent total.
    pub fn add(&mut self, rows: Vec<HeldRow>) {
        for row in rows {
            let Some(Some(key)) = row.keys.first().cloned() else {
                continue;
            };
            let group = self.groups.entry(key).or_default();
            if group.rows > 0 {
                group.json.push(b',');
            }
            group.json.extend_from_slice(&row.json);
            group.json.push(b'}');
            group.rows += 1;
            group.total = row
                .keys
                .get(1)
                .cloned()
                .flatten()
                .and_then(|t| t.parse().ok());
        }
    }

    /// Which of the held keys this navigation joins on.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Appends `,"Nav":...` (and the count) for the row whose join value is `key`.
    pub fn write(&self, out: &mut Vec<u8>, key: Option<&String>) {
        let group = key.and_then(|k| self.groups.get(k));
        if let Some(count_member) = &self.count_member {
            out.extend_from_slice(count_member);
            let total = group.map_or(0, |g| g.total.unwrap_or(g.rows as i64));
            out.extend_from_slice(itoa::Buffer::new().format(total).as_bytes());
        }
        out.extend_from_slice(&self.member);
        match (self.collection, group) {
            (true, Some(g)) => {
                out.push(b'[');
                out.extend_from_slice(&g.json);
                out.push(b']');
            }
            (true, None) => out.extend_from_slice(b"[]"),
            (false, Some(g)) => out.extend_from_slice(&g.json),
            (false, None) => out.extend_from_slice(b"null"),
        }
    }
}

/// Writes the rows of one page as the members of a JSON array: streamed straight to
/// the client, or held back (`hold`) until expanded navigation properties are read.
pub struct RowWriter {
    shape: EntityShape,
    out: Vec<u8>,
    row: Vec<u8>,
    tx: Option<ChunkSender>,
    page_rows: u64,
    pub written: u64,
    pub has_more: bool,
    pub last_sort: Vec<SortValue>,
    first_property: bool,
    hold: bool,
    pub held: Vec<HeldRow>,
    /// For each selected column, the held key it fills, if any.
    key_slot: Vec<Option<usize>>,
    keys: Vec<Option<String>>,
}

impl RowWriter {
    /// `tx` = `None` collects everything in memory (single entities).
    pub fn new(shape: EntityShape, tx: Option<ChunkSender>, page_rows: u64) -> RowWriter {
        let keys = shape.sort_keys;
        RowWriter {
            shape,
            out: Vec::with_capacity(CHUNK + 4096),
            row: Vec::new(),
            tx,
            page_rows,
            written: 0,
            has_more: false,
            last_sort: vec![SortValue::Null; keys],
            first_property: true,
            hold: false,
            held: Vec::new(),
            key_slot: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// Holds rows back instead of writing them, keeping the values of the columns at
    /// `key_positions` as text (the join values of expanded navigation properties).
    pub fn holding(mut self, key_positions: &[usize]) -> RowWriter {
        self.hold = true;
        let width = key_positions.iter().map(|&p| p + 1).max().unwrap_or(0);
        self.key_slot = vec![None; width];
        for (slot, &pos) in key_positions.iter().enumerate() {
            self.key_slot[pos] = Some(slot);
        }
        self.keys = vec![None; key_positions.len()];
        self
    }

    pub fn push_raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Sends what is buffered (if streaming) and returns the rest (if collecting).
    pub fn flush(&mut self) -> Result<(), StoreError> {
        if let Some(tx) = &self.tx
            && !self.out.is_empty()
        {
            let chunk = std::mem::replace(&mut self.out, Vec::with_capacity(CHUNK + 4096));
            tx.blocking_send(Ok(Bytes::from(chunk)))
                .map_err(|_| StoreError::SinkClosed)?;
        }
        Ok(())
    }

    pub fn into_buffer(self) -> Vec<u8> {
        self.out
    }

    /// Writes the held rows with their expanded navigation properties.
    pub fn write_held(&mut self, expansions: &[Expansion]) -> Result<(), StoreError> {
        let held = std::mem::take(&mut self.held);
        for (i, row) in held.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.out.extend_from_slice(&row.json);
            for e in expansions {
                e.write(&mut self.out, row.keys.get(e.slot).and_then(Option::as_ref));
            }
            self.out.push(b'}');
            if self.out.len() >= CHUNK {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Rows are written straight into the output, without assembling them first.
    fn direct(&self) -> bool {
        !self.hold && self.shape.metadata != MetadataLevel::Full
    }
}

fn cell_text(cell: Cell<'_>) -> Option<String> {
    match cell {
        Cell::Null => None,
        Cell::Text(s) => Some(s.to_string()),
        Cell::Int(i) => Some(i.to_string()),
        Cell::Bool(b) => Some(b.to_string()),
        Cell::Double(d) => Some(d.to_string()),
        Cell::InstantMicros(m) => Some(m.to_string()),
    }
}

impl RowSink for RowWriter {
    fn begin_row(&mut self) -> Result<bool, StoreError> {
        if self.written == self.page_rows {
            self.has_more = true;
            return Ok(false);
        }
        if self.direct() {
            if self.written > 0 {
                self.out.push(b',');
            }
            self.out.push(b'{');
        }
        self.row.clear();
        self.first_property = true;
        for k in &mut self.keys {
            *k = None;
        }
        Ok(true)
    }

    fn cell(&mut self, column: usize, cell: Cell<'_>) -> Result<(), StoreError> {
        if let Some(Some(slot)) = self.shape.sort_slot.get(column) {
            self.last_sort[*slot].assign(cell);
        }
        if let Some(Some(slot)) = self.key_slot.get(column) {
            self.keys[*slot] = cell_text(cell);
        }
        if column >= self.shape.columns.len() {
            return Ok(());
        }
        let first = std::mem::replace(&mut self.first_property, false);
        let direct = self.direct();
        let col = &self.shape.columns[column];
        let out = if direct { &mut self.out } else { &mut self.row };
        if !first {
            out.push(b',');
        }
        if let Some(a) = &col.type_annotation {
            out.extend_from_slice(a);
            out.push(b',');
        }
        out.extend_from_slice(&col.key);
        write_cell(out, cell, col.quote_int);
        Ok(())
    }

    fn end_row(&mut self) -> Result<(), StoreError> {
        if self.direct() {
            self.out.push(b'}');
        } else {
            let mut json = Vec::with_capacity(self.row.len() + 256);
            json.push(b'{');
            if self.shape.metadata == MetadataLevel::Full {
                // Control information comes before the properties, and needs the key,
                // which is the last sort key of every row.
                let key = match self.last_sort.last() {
                    Some(SortValue::Text(k)) => k.replace('\'', "''"),
                    _ => String::new(),
                };
                let id = format!("{}'{}')", self.shape.id_prefix, key);
                json.extend_from_slice(b"\"@odata.type\":");
                write_str(&mut json, &self.shape.type_name);
                json.extend_from_slice(b",\"@odata.id\":");
                write_str(&mut json, &id);
                json.extend_from_slice(b",\"@odata.editLink\":");
                write_str(&mut json, &id);
                if !self.row.is_empty() {
                    json.push(b',');
                }
                json.extend_from_slice(&self.row);
                for (annotation, nav) in &self.shape.navigation_links {
                    json.push(b',');
                    write_str(&mut json, annotation);
                    json.push(b':');
                    write_str(&mut json, &format!("{id}/{nav}"));
                }
            } else {
                json.extend_from_slice(&self.row);
            }
            if self.hold {
                self.held.push(HeldRow {
                    json,
                    keys: self.keys.clone(),
                });
            } else {
                if self.written > 0 {
                    self.out.push(b',');
                }
                self.out.extend_from_slice(&json);
                self.out.push(b'}');
            }
        }
        self.written += 1;
        if self.out.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_json() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\\c\nd\u{1}é");
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "\"a\\\"b\\\\c\\nd\\u0001é\"");
        let back: String = serde_json::from_str(&text).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn cells_are_written_as_odata_json() {
        let mut out = Vec::new();
        write_cell(&mut out, Cell::Double(f64::NAN), false);
        out.push(b' ');
        write_cell(&mut out, Cell::Double(-f64::INFINITY), false);
        out.push(b' ');
        write_cell(&mut out, Cell::Double(2.5), false);
        out.push(b' ');
        write_cell(&mut out, Cell::Int(-7), true);
        out.push(b' ');
        write_cell(&mut out, Cell::InstantMicros(1_500), false);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"NaN\" \"-INF\" 2.5 \"-7\" \"1970-01-01T00:00:00.001Z\""
        );
    }
}
