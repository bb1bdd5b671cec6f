//! OData JSON written straight from database cells. No row is ever materialised as
//! a value tree: each cell is escaped into the output buffer as it arrives from the
//! store, and full buffers go to the response [`Output`] between entities.
//!
//! [`JsonWriter`] only encodes: the store decides which entities a page holds and
//! nests related entities under their parents; chunking and compression belong to
//! [`Output`].

use super::body::{CHUNK, Output};
use super::negotiate::{JsonFormat, MetadataLevel};
use crate::edm::{EdmType, Model};
use crate::plan::apply::ResultColumn;
use crate::plan::{ApplyPlan, QueryPlan, Ty};
use crate::store::{Cell, ColumnKind, ColumnPos, CompileError, EntitySink, StoreError, Value};

/// Appends `s` as a JSON string literal.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    write_str_bytes(out, s.as_bytes());
}

/// Appends UTF-8 bytes as a JSON string literal (for callers holding raw database
/// text; only ASCII control characters, quotes and backslashes are escaped).
pub fn write_str_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Eight bytes at a time past a run that needs no escape (most text).
        if let Some(word) = bytes.get(i..i + 8) {
            let mut w = [0; 8];
            w.copy_from_slice(word);
            if !needs_escape(u64::from_le_bytes(w)) {
                i += 8;
                continue;
            }
        }
        let end = (i + 8).min(bytes.len());
        while i < end {
            let b = bytes[i];
            let escape: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x00..=0x1f => b"",
                _ => {
                    i += 1;
                    continue;
                }
            };
            out.extend_from_slice(&bytes[start..i]);
            if escape.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            } else {
                out.extend_from_slice(escape);
            }
            i += 1;
            start = i;
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Whether any of the eight bytes of `w` is a quote, a backslash or below 0x20: the
/// zero-byte test of "Bit Twiddling Hacks" on `w` xor each special byte, and its
/// less-than test. Either is exact about whether such a byte exists, which is all the
/// caller asks.
fn needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_in = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    (zero_in(w ^ (ONES * u64::from(b'"'))) | zero_in(w ^ (ONES * u64::from(b'\\'))) | below_space)
        != 0
}

/// Appends microseconds since the Unix epoch as `"YYYY-MM-DDTHH:MM:SS.sssZ"`, the
/// text of [`crate::value::format_instant`]. chrono does the calendar; the digits go
/// straight into `out`, since formatting through a `String` per cell was 5-7 % of a
/// PostgreSQL pull's server CPU (instants arrive there as microseconds).
fn write_instant(out: &mut Vec<u8>, micros: i64) {
    use chrono::{Datelike, Timelike};
    let Some(t) = chrono::DateTime::from_timestamp_micros(micros) else {
        return out.extend_from_slice(b"null");
    };
    let Ok(year @ 0..=9999) = u32::try_from(t.year()) else {
        // A sign and more digits: rare enough for the general path.
        return write_str(out, &crate::value::format_instant(&t));
    };
    let mut text = *b"\"0000-00-00T00:00:00.000Z\"";
    // Writes `n` into the digits that end before `end`, right to left.
    let mut put = |end: usize, mut n: u32| {
        for digit in text[..end]
            .iter_mut()
            .rev()
            .take_while(|d| d.is_ascii_digit())
        {
            *digit = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(5, year);
    put(8, t.month());
    put(11, t.day());
    put(14, t.hour());
    put(17, t.minute());
    put(20, t.second());
    put(24, t.timestamp_subsec_millis());
    out.extend_from_slice(&text);
}

pub fn write_cell(out: &mut Vec<u8>, cell: Cell<'_>, quote_int: bool) {
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
    /// Written after the value: `}` closing a nested object of an `$apply` result.
    suffix: &'static [u8],
}

/// How the entities of one set are written for one request, with the shapes of its
/// expanded navigation properties.
pub struct EntityShape {
    columns: Vec<OutColumn>,
    metadata: MetadataLevel,
    /// `#ns.Type` and the `root/Set(` id prefix, for full metadata.
    type_name: String,
    id_prefix: String,
    navigation_links: Vec<(String, String)>,
    expand: Vec<ExpandShape>,
}

struct ExpandShape {
    /// `"Nav":` prepared once.
    member: Vec<u8>,
    /// `"Nav@odata.count":` when nested `$count=true`.
    count_member: Option<Vec<u8>>,
    collection: bool,
    shape: EntityShape,
}

impl EntityShape {
    /// The shape of the entities `plan` reads (its `select`, in order), and of
    /// every level of its `$expand`.
    pub fn new(
        model: &Model,
        plan: &QueryPlan,
        service_root: &str,
        format: JsonFormat,
    ) -> Result<Self, StoreError> {
        let set = model
            .set(plan.set)
            .ok_or_else(|| CompileError(format!("no entity set #{}", plan.set)))?;
        let full = format.metadata == MetadataLevel::Full;
        let columns = plan
            .select
            .iter()
            .map(|&c| {
                set.property_at(c).ok_or_else(|| {
                    CompileError(format!(
                        "{} has no property #{c} of set #{}",
                        set.name,
                        c.set()
                    ))
                })
            })
            .map(|p| {
                let p = p?;
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
                Ok(OutColumn {
                    key,
                    type_annotation,
                    quote_int: format.ieee754 && p.kind() == ColumnKind::Int64,
                    suffix: b"",
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let expand = plan
            .expand
            .iter()
            .map(|e| {
                let mut member = Vec::new();
                write_str(&mut member, &e.nav);
                member.push(b':');
                let count_member = e.count.then(|| {
                    let mut m = Vec::new();
                    write_str(&mut m, &format!("{}@odata.count", e.nav));
                    m.push(b':');
                    m
                });
                Ok(ExpandShape {
                    member,
                    count_member,
                    collection: e.collection,
                    shape: EntityShape::new(model, &e.plan, service_root, format)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(EntityShape {
            columns,
            metadata: format.metadata,
            type_name: format!("#{}", model.qualified_type(set)),
            id_prefix: format!("{service_root}/{}(", set.name),
            navigation_links: set
                .navigations
                .iter()
                .map(|n| (format!("{}@odata.navigationLink", n.name), n.name.clone()))
                .collect(),
            expand,
        })
    }

    /// The shape of the rows of an `$apply` result: its selected columns, group
    /// keys of a navigation path nested in an object of the navigation's name
    /// (`{"Queue":{"name":...}}`). The rows are not entities of the set, so they
    /// carry no id or type, whatever the metadata level.
    pub fn for_apply(plan: &ApplyPlan, format: JsonFormat) -> Result<Self, StoreError> {
        let full = format.metadata == MetadataLevel::Full;
        let columns: Vec<&ResultColumn> = plan
            .select
            .iter()
            .map(|&p| {
                plan.columns
                    .get(p)
                    .ok_or_else(|| CompileError(format!("the $apply result has no column #{p}")))
            })
            .collect::<Result<_, _>>()?;
        let out = columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut key = Vec::with_capacity(c.name.len() + 3);
                let opens = c.nav.is_some() && (i == 0 || columns[i - 1].nav != c.nav);
                let closes =
                    c.nav.is_some() && columns.get(i + 1).is_none_or(|next| next.nav != c.nav);
                if let (true, Some(nav)) = (opens, &c.nav) {
                    write_str(&mut key, nav);
                    key.extend_from_slice(b":{");
                }
                write_str(&mut key, &c.name);
                key.push(b':');
                let annotated = matches!(
                    c.ty,
                    Ty::Int64 | Ty::DateTimeOffset | Ty::Date | Ty::Duration
                );
                let type_annotation = (full && annotated && c.nav.is_none()).then(|| {
                    let mut a = Vec::new();
                    write_str(&mut a, &format!("{}@odata.type", c.name));
                    a.push(b':');
                    write_str(&mut a, &format!("#{}", &c.ty.name()[4..]));
                    a
                });
                OutColumn {
                    key,
                    type_annotation,
                    quote_int: format.ieee754 && c.kind == ColumnKind::Int64,
                    suffix: if closes { b"}" } else { b"" },
                }
            })
            .collect();
        Ok(EntityShape {
            columns: out,
            metadata: if full {
                MetadataLevel::Minimal
            } else {
                format.metadata
            },
            type_name: String::new(),
            id_prefix: String::new(),
            navigation_links: Vec::new(),
            expand: Vec::new(),
        })
    }

    /// The shape at `path` (indices into nested `expand` lists).
    fn at(&self, path: &[usize]) -> Option<&EntityShape> {
        match path.split_first() {
            None => Some(self),
            Some((&i, rest)) => self.expand.get(i)?.shape.at(rest),
        }
    }
}

/// What is open on the writer's stack.
enum Frame {
    /// An entity being written: where its members start (for full metadata's control
    /// information), whether members precede that point, and whether any property
    /// has been written.
    Entity {
        start: usize,
        had_members: bool,
        properties: bool,
        /// Where the first expanded navigation property starts (full metadata puts
        /// the navigation links before it).
        expansions_at: Option<usize>,
    },
    /// An expanded navigation property: which one, and how many entities it holds.
    Expanded { index: usize, entities: u64 },
}

/// Whether the response is a collection (`{"value":[...]}`) or one entity.
#[derive(Clone, Copy, PartialEq)]
enum Document {
    Collection,
    Entity,
}

/// Encodes the entities a [`store::execute`](crate::store::execute) delivers as
/// OData JSON.
pub struct JsonWriter {
    shape: EntityShape,
    document: Document,
    out: Vec<u8>,
    output: Output,
    stack: Vec<Frame>,
    /// Indices of the open expansions, for the current entity's shape.
    path: Vec<usize>,
    top_level_entities: u64,
    /// Whether the collection's `"value":[` has been written.
    value_open: bool,
    /// `Prefer: omit-values=nulls`: null properties are left out.
    omit_nulls: bool,
    /// Set by the HTTP layer when the client goes away before the answer starts.
    cancellation: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl JsonWriter {
    /// A collection response: `head` is `{` plus any members before `value`
    /// (`"@odata.context":"...",`); `@odata.count` and `value` follow.
    pub fn collection(shape: EntityShape, head: &[u8], output: Output) -> JsonWriter {
        JsonWriter::new(shape, Document::Collection, head, output)
    }

    /// A single-entity response: `head` is `{` plus any members before the
    /// entity's own, without a trailing comma.
    pub fn entity(shape: EntityShape, head: &[u8], output: Output) -> JsonWriter {
        JsonWriter::new(shape, Document::Entity, head, output)
    }

    fn new(shape: EntityShape, document: Document, head: &[u8], output: Output) -> JsonWriter {
        // Grows to a chunk only for answers that need it: a point answer stays small,
        // and the allocator does not consolidate its heap on each free of a 64 KiB buffer.
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(head);
        JsonWriter {
            shape,
            document,
            out,
            output,
            stack: Vec::new(),
            path: Vec::new(),
            top_level_entities: 0,
            value_open: false,
            omit_nulls: false,
            cancellation: None,
        }
    }

    /// Lets the store stop reading when `flag` is set (the client went away).
    pub fn cancelled_by(mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Self {
        self.cancellation = Some(flag);
        self
    }

    /// Leaves null properties out (`Prefer: omit-values=nulls`).
    pub fn omitting_nulls(mut self, omit: bool) -> JsonWriter {
        self.omit_nulls = omit;
        self
    }

    fn open_value(&mut self) {
        if self.document == Document::Collection && !self.value_open {
            self.out.extend_from_slice(b"\"value\":[");
            self.value_open = true;
        }
    }

    /// Ends a collection with its `@odata.nextLink`, if any, and sends the rest.
    /// `size` learns the body's size in bytes (as sent, compressed or not) just before
    /// its last bytes go out.
    pub fn finish_collection(
        &mut self,
        next_link: Option<&str>,
        size: impl FnOnce(usize) + Send + 'static,
    ) -> Result<(), StoreError> {
        self.open_value();
        self.out.push(b']');
        if let Some(link) = next_link {
            self.out.extend_from_slice(b",\"@odata.nextLink\":");
            write_str(&mut self.out, link);
        }
        self.out.push(b'}');
        let last = std::mem::take(&mut self.out);
        self.output.end(last, Box::new(size))
    }

    /// Ends a single-entity response; `None` when there was no entity.
    pub fn finish_entity(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        if self.top_level_entities == 0 {
            return Ok(None);
        }
        let body = std::mem::take(&mut self.out);
        match self.output {
            Output::Collect => Ok(Some(body)),
            _ => {
                self.output.finish(body)?;
                Ok(Some(Vec::new()))
            }
        }
    }

    /// Reports a failure to the client (see [`Output::fail`]).
    pub fn fail(&mut self, error: StoreError) {
        self.output.fail(error);
    }

    /// Whether the response has started streaming (later errors can only abort it).
    pub fn started(&self) -> bool {
        self.output.started()
    }

    fn current_shape(&self) -> Result<&EntityShape, StoreError> {
        self.shape
            .at(&self.path)
            .ok_or_else(|| StoreError::Invalid("an expansion the plan does not have".into()))
    }

    /// The bytes of control information full metadata puts before the properties.
    fn control(shape: &EntityShape, key: &Value) -> (Vec<u8>, String) {
        let key = match key {
            Value::Text(k) => k.replace('\'', "''"),
            other => other.plain_text().unwrap_or_default(),
        };
        let id = format!("{}'{}')", shape.id_prefix, key);
        let mut control = Vec::with_capacity(id.len() * 2 + 64);
        control.extend_from_slice(b"\"@odata.type\":");
        write_str(&mut control, &shape.type_name);
        control.extend_from_slice(b",\"@odata.id\":");
        write_str(&mut control, &id);
        control.extend_from_slice(b",\"@odata.editLink\":");
        write_str(&mut control, &id);
        (control, id)
    }
}

impl EntitySink for JsonWriter {
    fn cancellation(&self) -> Option<std::sync::Arc<std::sync::atomic::AtomicBool>> {
        self.cancellation.clone()
    }

    fn count(&mut self, total: i64) -> Result<(), StoreError> {
        if self.document == Document::Collection && !self.value_open {
            self.out.extend_from_slice(b"\"@odata.count\":");
            self.out
                .extend_from_slice(itoa::Buffer::new().format(total).as_bytes());
            self.out.push(b',');
        }
        Ok(())
    }

    fn begin_entity(&mut self) -> Result<(), StoreError> {
        let had_members = match self.stack.last_mut() {
            None => {
                match self.document {
                    Document::Collection => {
                        self.open_value();
                        if self.top_level_entities > 0 {
                            self.out.push(b',');
                        }
                        self.out.push(b'{');
                        false
                    }
                    // The head already opened the object.
                    Document::Entity => self.out.len() > 1,
                }
            }
            Some(Frame::Expanded { entities, .. }) => {
                if *entities > 0 {
                    self.out.push(b',');
                }
                *entities += 1;
                self.out.push(b'{');
                false
            }
            Some(Frame::Entity { .. }) => {
                return Err(StoreError::Invalid("an entity inside an entity".into()));
            }
        };
        self.stack.push(Frame::Entity {
            start: self.out.len(),
            had_members,
            properties: false,
            expansions_at: None,
        });
        Ok(())
    }

    fn property(&mut self, position: ColumnPos, cell: Cell<'_>) -> Result<(), StoreError> {
        if self.omit_nulls && cell == Cell::Null {
            return Ok(());
        }
        let Some(Frame::Entity {
            had_members,
            properties,
            ..
        }) = self.stack.last_mut()
        else {
            return Err(StoreError::Invalid("a property outside an entity".into()));
        };
        let comma = *had_members || *properties;
        *properties = true;
        let shape = self
            .shape
            .at(&self.path)
            .ok_or_else(|| StoreError::Invalid("an expansion the plan does not have".into()))?;
        let col = shape.columns.get(position.index()).ok_or_else(|| {
            CompileError(format!(
                "output column {position} is not in the response's shape"
            ))
        })?;
        if comma {
            self.out.push(b',');
        }
        if let Some(a) = &col.type_annotation {
            self.out.extend_from_slice(a);
            self.out.push(b',');
        }
        self.out.extend_from_slice(&col.key);
        write_cell(&mut self.out, cell, col.quote_int);
        self.out.extend_from_slice(col.suffix);
        Ok(())
    }

    fn begin_expanded(&mut self, index: usize, total: Option<i64>) -> Result<(), StoreError> {
        let position = self.out.len();
        let Some(Frame::Entity {
            had_members,
            properties,
            expansions_at,
            ..
        }) = self.stack.last_mut()
        else {
            return Err(StoreError::Invalid("an expansion outside an entity".into()));
        };
        let comma = *had_members || *properties;
        *properties = true;
        expansions_at.get_or_insert(position);
        let shape = self.current_shape()?;
        let e = shape
            .expand
            .get(index)
            .ok_or_else(|| StoreError::Invalid("an expansion the plan does not have".into()))?;
        let mut bytes = Vec::with_capacity(64);
        if comma {
            bytes.push(b',');
        }
        if let (Some(member), Some(total)) = (&e.count_member, total) {
            bytes.extend_from_slice(member);
            bytes.extend_from_slice(itoa::Buffer::new().format(total).as_bytes());
            bytes.push(b',');
        }
        bytes.extend_from_slice(&e.member);
        if e.collection {
            bytes.push(b'[');
        }
        self.out.extend_from_slice(&bytes);
        self.path.push(index);
        self.stack.push(Frame::Expanded { index, entities: 0 });
        Ok(())
    }

    fn end_expanded(&mut self) -> Result<(), StoreError> {
        let Some(Frame::Expanded { index, entities }) = self.stack.pop() else {
            return Err(StoreError::Invalid("no expansion to end".into()));
        };
        self.path.pop();
        let shape = self.current_shape()?;
        let collection = shape.expand.get(index).is_some_and(|e| e.collection);
        if collection {
            self.out.push(b']');
        } else if entities == 0 {
            self.out.extend_from_slice(b"null");
        }
        Ok(())
    }

    fn end_entity(&mut self, key: &Value) -> Result<(), StoreError> {
        let Some(Frame::Entity {
            start,
            had_members,
            properties,
            expansions_at,
        }) = self.stack.pop()
        else {
            return Err(StoreError::Invalid("no entity to end".into()));
        };
        let shape = self.current_shape()?;
        if shape.metadata == MetadataLevel::Full {
            // Control information comes before the properties.
            let (control, id) = JsonWriter::control(shape, key);
            let mut insert = Vec::with_capacity(control.len() + 2);
            if had_members {
                insert.push(b',');
            }
            insert.extend_from_slice(&control);
            if !had_members && properties {
                insert.push(b',');
            }
            let mut links = Vec::new();
            for (annotation, nav) in &shape.navigation_links {
                links.push(b',');
                write_str(&mut links, annotation);
                links.push(b':');
                write_str(&mut links, &format!("{id}/{nav}"));
            }
            match expansions_at {
                Some(at) => {
                    self.out.splice(at..at, links);
                }
                None => self.out.extend_from_slice(&links),
            }
            self.out.splice(start..start, insert);
        }
        if self.stack.is_empty() {
            self.out.push(b'}');
            self.top_level_entities += 1;
            if self.out.len() >= CHUNK {
                self.output.flush(&mut self.out)?;
            }
        } else {
            self.out.push(b'}');
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::http::negotiate::{JsonFormat, MetadataLevel};
    use crate::plan::{Limits, Planner};
    use crate::store::{Dialect, scoped::TenantScope};
    use crate::uri::{QueryOptions, decode_query_string};

    const FORMAT: JsonFormat = JsonFormat {
        metadata: MetadataLevel::Minimal,
        ieee754: false,
    };

    fn calls_plan(model: &Model, query: &str) -> QueryPlan {
        let options = QueryOptions::parse(decode_query_string(query).unwrap()).unwrap();
        let calls = model.set_id("Calls").unwrap();
        Planner::new(model, &Limits::default())
            .collection(calls, "t", &options, 10)
            .unwrap()
    }

    #[test]
    fn instants_are_written_as_the_value_module_formats_them() {
        let day = 86_400_000_000i64;
        let mut samples = vec![
            0,
            -1,
            1,
            999,
            1_000,
            day - 1,
            -day,
            1_767_225_599_999_999,   // 2025-12-31T23:59:59.999999Z
            -62_167_219_200_000_000, // 0000-01-01T00:00:00Z
            -62_167_219_200_000_001, // a year before 0
            253_402_300_799_999_999, // 9999-12-31T23:59:59.999999Z
            253_402_300_800_000_000, // 10000-01-01
            i64::MAX,
            i64::MIN,
        ];
        // A spread over the years, each at an odd time of day.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push((x % 400_000_000_000_000_000) as i64 - 100_000_000_000_000_000);
        }
        for micros in samples {
            let mut written = Vec::new();
            write_instant(&mut written, micros);
            let expected = match chrono::DateTime::from_timestamp_micros(micros) {
                Some(t) => {
                    let mut quoted = Vec::new();
                    write_str(&mut quoted, &crate::value::format_instant(&t));
                    quoted
                }
                None => b"null".to_vec(),
            };
            assert_eq!(
                String::from_utf8_lossy(&written),
                String::from_utf8_lossy(&expected),
                "{micros}"
            );
        }
    }

    #[test]
    fn a_column_the_shape_does_not_have_is_an_error_not_skipped() {
        let model = Model::load().unwrap();
        let plan = calls_plan(&model, "$select=id&$orderby=endedAtUtc desc");
        let query =
            crate::store::compile(&model, &TenantScope::for_tests("t"), &plan, Dialect::Sqlite)
                .unwrap();
        // The sort column is read after the one selected property, and is no output.
        let extra = query.layout.sort_positions[0];
        assert!(!query.layout.is_output(extra));
        let shape = EntityShape::new(&model, &plan, "http://x/odata", FORMAT).unwrap();
        let mut writer = JsonWriter::collection(shape, b"{", Output::Collect);
        writer.begin_entity().unwrap();
        let selected = query.layout.sort_positions[1];
        assert!(writer.property(selected, Cell::Text("c1")).is_ok());
        assert!(writer.property(extra, Cell::Null).is_err());
    }

    #[test]
    fn a_shape_of_a_property_of_another_set_is_an_error() {
        let model = Model::load().unwrap();
        let mut plan = calls_plan(&model, "$select=id");
        assert!(EntityShape::new(&model, &plan, "http://x/odata", FORMAT).is_ok());
        plan.select = vec![model.entity_set("Queues").unwrap().key];
        assert!(EntityShape::new(&model, &plan, "http://x/odata", FORMAT).is_err());
    }

    #[test]
    fn strings_are_escaped_as_json() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\\c\nd\u{1}é");
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "\"a\\\"b\\\\c\\nd\\u0001é\"");
        let back: String = serde_json::from_str(&text).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }

    /// The escaping rule, one byte at a time.
    fn reference(text: &str) -> Vec<u8> {
        let mut out = vec![b'"'];
        for &b in text.as_bytes() {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x00..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                _ => out.push(b),
            }
        }
        out.push(b'"');
        out
    }

    #[test]
    fn every_byte_in_every_position_of_a_word_is_escaped() {
        for b in 0u8..=0x7f {
            for len in 1..20 {
                for at in 0..len {
                    let mut text = vec![b'a'; len];
                    text[at] = b;
                    text[len - 1 - at] = b;
                    let text = String::from_utf8(text).unwrap();
                    let mut out = Vec::new();
                    write_str(&mut out, &text);
                    assert_eq!(out, reference(&text), "{text:?}");
                    let back: String = serde_json::from_slice(&out).unwrap();
                    assert_eq!(back, text);
                }
            }
        }
        let text = "Kovács—ü 😀 \u{7f}\u{1f}\\\"\u{80}ÿ\u{10ffff}";
        let mut out = Vec::new();
        write_str(&mut out, text);
        assert_eq!(out, reference(text));
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
