//! OData JSON written straight from database cells into 64 KiB chunks. No row is
//! ever materialised as a value tree: each cell is escaped into the output buffer as
//! it is read, and full chunks go to the client through a bounded channel, so memory
//! stays flat however large the page is, and a slow client slows the query down.

use std::collections::HashMap;
use std::io;

use std::io::Write;

use actix_web::http::header::{self, AcceptEncoding, ContentEncoding, Encoding};
use actix_web::{HttpMessage, HttpRequest, HttpResponseBuilder};
use bytes::Bytes;
use tokio::sync::mpsc::{Receiver, Sender};
use tokio::sync::oneshot;

use super::negotiate::{JsonFormat, MetadataLevel};
use crate::edm::{EdmType, EntitySet};
use crate::store::{Cell, ColumnKind, RowSink, StoreError, Value};

pub const CHUNK: usize = 64 * 1024;

pub type ChunkSender = Sender<Result<Bytes, io::Error>>;

/// Chunks in flight between the producer thread and the connection.
const CHANNEL_CHUNKS: usize = 8;

/// Compression done by the thread that writes the JSON, as negotiated from
/// `Accept-Encoding` by [`negotiated_encoding`]. Responses carrying a
/// `Content-Encoding` are passed through untouched by actix's `Compress` middleware,
/// which would otherwise compress each chunk on a `spawn_blocking` task of its own.
pub enum BodyEncoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Deflate(flate2::write::ZlibEncoder<Vec<u8>>),
}

/// The encodings the `Compress` middleware offers (feature `compress-gzip`), in its
/// order, so the negotiation here gives the same answer as the middleware would.
const SUPPORTED_ENCODINGS: [Encoding; 3] =
    [Encoding::identity(), Encoding::gzip(), Encoding::deflate()];

/// The content coding for a response to `req`: actix's own negotiation (q-values,
/// `identity`, `*`) over the encodings `Compress` supports. A request that accepts
/// none of them never gets here: `Compress` answers it with 406.
pub fn negotiated_encoding(req: &HttpRequest) -> ContentEncoding {
    match req.get_header::<AcceptEncoding>() {
        None => ContentEncoding::Identity,
        Some(accept) => match accept.negotiate(SUPPORTED_ENCODINGS.iter()) {
            Some(Encoding::Known(ContentEncoding::Gzip)) => ContentEncoding::Gzip,
            Some(Encoding::Known(ContentEncoding::Deflate)) => ContentEncoding::Deflate,
            _ => ContentEncoding::Identity,
        },
    }
}

/// Marks a response whose body the producer encoded itself.
pub fn encoded_headers(response: &mut HttpResponseBuilder, encoding: ContentEncoding) {
    if encoding != ContentEncoding::Identity {
        response.insert_header((header::CONTENT_ENCODING, encoding.to_header_value()));
        response.append_header((header::VARY, "accept-encoding"));
    }
}

impl BodyEncoder {
    /// The same compression level as `Compress` uses.
    pub fn new(encoding: ContentEncoding) -> Option<BodyEncoder> {
        let level = flate2::Compression::fast();
        match encoding {
            ContentEncoding::Gzip => Some(BodyEncoder::Gzip(flate2::write::GzEncoder::new(
                Vec::with_capacity(CHUNK / 4),
                level,
            ))),
            ContentEncoding::Deflate => Some(BodyEncoder::Deflate(
                flate2::write::ZlibEncoder::new(Vec::with_capacity(CHUNK / 4), level),
            )),
            _ => None,
        }
    }

    /// Compresses `data` and returns what the encoder has produced so far.
    fn write(&mut self, data: &[u8]) -> io::Result<Vec<u8>> {
        match self {
            BodyEncoder::Gzip(e) => {
                e.write_all(data)?;
                Ok(std::mem::take(e.get_mut()))
            }
            BodyEncoder::Deflate(e) => {
                e.write_all(data)?;
                Ok(std::mem::take(e.get_mut()))
            }
        }
    }

    fn finish(self) -> io::Result<Vec<u8>> {
        match self {
            BodyEncoder::Gzip(e) => e.finish(),
            BodyEncoder::Deflate(e) => e.finish(),
        }
    }
}

/// Encodes a whole body at once (single entities).
pub fn encode_body(encoding: ContentEncoding, body: Vec<u8>) -> io::Result<Vec<u8>> {
    match BodyEncoder::new(encoding) {
        None => Ok(body),
        Some(mut e) => {
            let mut out = e.write(&body)?;
            out.extend_from_slice(&e.finish()?);
            Ok(out)
        }
    }
}

/// How a page starts: the whole body, when it fitted in the first chunk, or the
/// receiving end of the chunk channel.
pub enum PageStart {
    Body(Bytes),
    Stream(Receiver<Result<Bytes, io::Error>>),
}

/// Where a page goes. The first chunk is held back: a page that is complete before
/// it fills is answered as one sized body (no channel, no streaming); a larger one
/// opens the bounded channel at its first full chunk and streams, so memory stays
/// flat and a slow client slows the query down. Until then a failure can still be
/// answered with a proper error status.
pub struct PageOut {
    start: Option<oneshot::Sender<Result<PageStart, StoreError>>>,
    tx: Option<ChunkSender>,
}

impl PageOut {
    pub fn new() -> (PageOut, oneshot::Receiver<Result<PageStart, StoreError>>) {
        let (start, started) = oneshot::channel();
        (
            PageOut {
                start: Some(start),
                tx: None,
            },
            started,
        )
    }

    /// Whether the response has started (later errors can only abort the stream).
    pub fn started(&self) -> bool {
        self.start.is_none()
    }

    fn send(&mut self, chunk: Vec<u8>) -> Result<(), StoreError> {
        if chunk.is_empty() {
            return Ok(());
        }
        if let Some(start) = self.start.take() {
            let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_CHUNKS);
            start
                .send(Ok(PageStart::Stream(rx)))
                .map_err(|_| StoreError::SinkClosed)?;
            self.tx = Some(tx);
        }
        match &self.tx {
            Some(tx) => tx
                .blocking_send(Ok(Bytes::from(chunk)))
                .map_err(|_| StoreError::SinkClosed),
            None => Err(StoreError::SinkClosed),
        }
    }

    /// The last bytes: the whole body if nothing was sent yet.
    fn finish(&mut self, last: Vec<u8>) -> Result<(), StoreError> {
        match self.start.take() {
            Some(start) => start
                .send(Ok(PageStart::Body(Bytes::from(last))))
                .map_err(|_| StoreError::SinkClosed),
            None => self.send(last),
        }
    }

    /// Reports a failure: as the answer when nothing was sent yet, else by aborting
    /// the stream, so the client sees a broken response, never a truncated but
    /// valid-looking page.
    pub fn fail(&mut self, error: StoreError) {
        match self.start.take() {
            Some(start) => {
                let _ = start.send(Err(error));
            }
            None => {
                if let Some(tx) = &self.tx {
                    let _ = tx.blocking_send(Err(io::Error::other(error.to_string())));
                }
            }
        }
    }
}

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
    page: Option<PageOut>,
    encoder: Option<BodyEncoder>,
    page_rows: u64,
    pub written: u64,
    pub has_more: bool,
    pub last_sort: Vec<Value>,
    first_property: bool,
    hold: bool,
    pub held: Vec<HeldRow>,
    /// For each selected column, the held key it fills, if any.
    key_slot: Vec<Option<usize>>,
    keys: Vec<Option<String>>,
}

impl RowWriter {
    /// A writer that collects everything in memory (single entities, expansions);
    /// [`RowWriter::streaming`] sends it to a client instead.
    pub fn new(shape: EntityShape, page_rows: u64) -> RowWriter {
        let keys = shape.sort_keys;
        RowWriter {
            shape,
            out: Vec::with_capacity(CHUNK + 4096),
            row: Vec::new(),
            page: None,
            encoder: None,
            page_rows,
            written: 0,
            has_more: false,
            last_sort: vec![Value::Null; keys],
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

    /// Sends the output to `page`, compressed by `encoder` (if any) on this thread.
    pub fn streaming(mut self, page: PageOut, encoder: Option<BodyEncoder>) -> RowWriter {
        self.page = Some(page);
        self.encoder = encoder;
        self
    }

    /// Sends what is buffered (if streaming); when collecting, keeps it.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        let Some(page) = &mut self.page else {
            return Ok(());
        };
        if self.out.is_empty() {
            return Ok(());
        }
        let chunk = match &mut self.encoder {
            Some(encoder) => {
                let compressed = encoder.write(&self.out).map_err(io_error)?;
                self.out.clear();
                compressed
            }
            None => std::mem::replace(&mut self.out, Vec::with_capacity(CHUNK + 4096)),
        };
        page.send(chunk)
    }

    /// Ends the response: sends the rest (as the whole body if it is small).
    pub fn finish(&mut self) -> Result<(), StoreError> {
        let Some(page) = &mut self.page else {
            return Ok(());
        };
        let mut last = std::mem::take(&mut self.out);
        if let Some(mut encoder) = self.encoder.take() {
            let mut compressed = encoder.write(&last).map_err(io_error)?;
            compressed.extend_from_slice(&encoder.finish().map_err(io_error)?);
            last = compressed;
        }
        page.finish(last)
    }

    /// Reports a failure to the client (see [`PageOut::fail`]).
    pub fn fail(&mut self, error: StoreError) {
        if let Some(page) = &mut self.page {
            page.fail(error);
        }
    }

    /// Whether the first chunk went out already (so the answer is streaming).
    pub fn started(&self) -> bool {
        self.page.as_ref().is_some_and(PageOut::started)
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

fn io_error(e: io::Error) -> StoreError {
    StoreError::Invalid(format!("compressing the response failed: {e}"))
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
            crate::store::assign(&mut self.last_sort[*slot], cell);
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
                    Some(Value::Text(k)) => k.replace('\'', "''"),
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
