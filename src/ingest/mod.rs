//! The write path: records for one entity set, as NDJSON (one JSON object per line)
//! or a JSON array, validated against the model and upserted by key in one
//! transaction. A batch is applied whole or not at all; retrying it changes nothing.
//!
//! What the server derives, it does not take from the sender: the tenant (from the
//! key), the tenant-local timestamps (from the UTC twin and the tenant's time zone;
//! a sent local value must denote the same instant), the Conversations rows
//! (from Calls, Chats and Emails as they arrive), and the agent-segment metrics (from
//! Messages and AgentSegments, see [`segments`]). Importers of other platforms' exports
//! ([`import`]) map their documents to records that take this same path.

pub mod import;
mod record;
pub mod segments;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};

use serde::Serialize;

use crate::edm::{EntitySet, Model};
use crate::store::tenants::Tenant;
use crate::store::{Conn, Db, RowWriter, Spool, StoreError};

pub(crate) use record::Converter;
pub use record::RecordError;

/// Rows buffered before they are written (inside the one transaction).
const FLUSH_ROWS: usize = 2_000;
/// Most record errors reported for one batch.
const MAX_ERRORS: usize = 20;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IngestReport {
    pub entity_set: String,
    pub records: u64,
    pub inserted: u64,
    pub updated: u64,
    /// Conversations rows written alongside Calls, Chats or Emails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversations: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{}", describe(.0))]
    Invalid(Vec<RecordError>),
    #[error("{0}")]
    NotAccepted(String),
    #[error("the body is larger than the limit of {0} bytes (setting max_ingest_bytes)")]
    TooLarge(u64),
    #[error(
        "line {line} is longer than the limit of {limit} bytes (setting max_line_bytes); nothing was written"
    )]
    LineTooLong { line: u64, limit: u64 },
    #[error("could not read the body: {0}")]
    Body(std::io::Error),
    #[error(
        "the body did not arrive within {} seconds (setting ingest_body_timeout_seconds); nothing was written",
        .0.as_secs()
    )]
    BodyTimeout(std::time::Duration),
    #[error("could not keep the validated rows until they are written: {0}")]
    Spool(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn describe(errors: &[RecordError]) -> String {
    match errors {
        [] => "the batch was rejected".to_string(),
        [one] => format!("{one}; nothing was written"),
        [first, rest @ ..] => format!(
            "{first} (and {} more problems); nothing was written",
            rest.len()
        ),
    }
}

/// Entity sets that cannot be written directly.
fn check_writable(set: &EntitySet) -> Result<(), IngestError> {
    if set.name == "Conversations" {
        return Err(IngestError::NotAccepted(
            "Conversations are derived from Calls, Chats and Emails; send those instead".into(),
        ));
    }
    Ok(())
}

/// A reader that fails once more than `limit` bytes have passed through it.
pub struct Limited<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Limited<R> {
    pub fn new(inner: R, limit: u64) -> Limited<R> {
        Limited {
            inner,
            left: limit,
            limit,
        }
    }
}

/// Marker inside the io::Error that [`Limited`] returns.
#[derive(Debug)]
struct TooLargeMarker(u64);

impl std::fmt::Display for TooLargeMarker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "more than {} bytes", self.0)
    }
}

impl std::error::Error for TooLargeMarker {}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(std::io::Error::other(TooLargeMarker(self.limit)));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Marker inside the io::Error a body reader gets when the body took too long.
#[derive(Debug)]
struct TimedOutMarker(std::time::Duration);

impl std::fmt::Display for TimedOutMarker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the body did not arrive within {} s", self.0.as_secs())
    }
}

impl std::error::Error for TimedOutMarker {}

/// The error a body reader is handed when the body did not arrive within `limit`.
pub fn body_timed_out(limit: std::time::Duration) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, TimedOutMarker(limit))
}

pub(crate) fn body_error(e: std::io::Error) -> IngestError {
    let inner = e.get_ref();
    if let Some(TooLargeMarker(limit)) = inner.and_then(|i| i.downcast_ref::<TooLargeMarker>()) {
        return IngestError::TooLarge(*limit);
    }
    if let Some(TimedOutMarker(limit)) = inner.and_then(|i| i.downcast_ref::<TimedOutMarker>()) {
        return IngestError::BodyTimeout(*limit);
    }
    if let Some(LineTooLongMarker(limit)) =
        inner.and_then(|i| i.downcast_ref::<LineTooLongMarker>())
    {
        return IngestError::LineTooLong {
            line: 0,
            limit: *limit,
        };
    }
    IngestError::Body(e)
}

/// A reader that fails once more than `limit` bytes were read since `used` was last
/// reset: bounds one element of a JSON array body. The separators before an element
/// (`[`, `,`, white space) do not count, so an element is measured as its NDJSON line
/// would be.
struct PerRecord<R> {
    inner: R,
    used: std::rc::Rc<std::cell::Cell<u64>>,
    limit: u64,
}

impl<R: Read> Read for PerRecord<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut counted = &buf[..n];
        if self.used.get() == 0 {
            let separators = counted
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b',' | b'['))
                .count();
            counted = &counted[separators..];
        }
        let used = self.used.get() + counted.len() as u64;
        self.used.set(used);
        if used > self.limit {
            return Err(std::io::Error::other(LineTooLongMarker(self.limit)));
        }
        Ok(n)
    }
}

/// Marker inside the io::Error that [`PerRecord`] returns.
#[derive(Debug)]
struct LineTooLongMarker(u64);

impl std::fmt::Display for LineTooLongMarker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a record longer than {} bytes", self.0)
    }
}

impl std::error::Error for LineTooLongMarker {}

/// Hands each element of a JSON array to `each` as it is parsed; an error from `each`
/// stops the parse and waits in `stopped`.
struct ArrayVisitor<'a> {
    each: &'a mut dyn FnMut(serde_json::Value) -> Result<(), IngestError>,
    stopped: &'a mut Option<IngestError>,
}

impl<'de> serde::de::Visitor<'de> for ArrayVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of records")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<serde_json::Value>()? {
            if let Err(e) = (self.each)(value) {
                *self.stopped = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

struct Writer<'m> {
    rows: RowWriter<'m>,
    inserted: u64,
    updated: u64,
    conversation_rows: u64,
}

impl Writer<'_> {
    fn flush(&mut self, conn: &mut Conn) -> Result<(), StoreError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let existing = self.rows.count_existing(conn)? as u64;
        let pending = self.rows.len() as u64;
        self.updated += existing;
        self.inserted += pending - existing;
        self.conversation_rows += self.rows.derived_len() as u64;
        self.rows.flush(conn)
    }
}

/// A batch that was read and validated completely, waiting to be written.
pub struct ValidBatch<'m> {
    model: &'m Model,
    set: &'m EntitySet,
    tenant: Tenant,
    converter: Converter<'m>,
    spool: Spool,
    records: u64,
    /// Conversations whose segment metrics the batch changes (Messages, AgentSegments).
    touched_conversations: Option<Vec<String>>,
}

/// Reads records from `body` for `set_name`, converts and checks every one, and keeps
/// the rows in a spool: nothing touches the database. `progress` is told how many
/// records were read so far.
pub fn read_batch<'m>(
    model: &'m Model,
    tenant: &Tenant,
    set_name: &str,
    body: impl Read,
    max_line_bytes: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<ValidBatch<'m>, IngestError> {
    let set = model
        .entity_set(set_name)
        .ok_or_else(|| IngestError::NotAccepted(format!("there is no entity set '{set_name}'")))?;
    check_writable(set)?;
    let mut converter = Converter::new(model, set, tenant)?;
    let mut reader = BufReader::with_capacity(256 * 1024, body);
    // NDJSON or a JSON array, told apart by the first non-space byte.
    let first = loop {
        let buf = reader.fill_buf().map_err(body_error)?;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                reader.consume(i);
                break Some(b);
            }
            None if buf.is_empty() => break None,
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    };
    let mut spool = Spool::default();
    let mut errors: Vec<RecordError> = Vec::new();
    let mut records = 0u64;
    // Messages and AgentSegments feed the segment metrics of their conversations.
    let refreshes_segments = matches!(set.name.as_str(), "Messages" | "AgentSegments");
    let mut touched_conversations: BTreeSet<String> = BTreeSet::new();
    let mut handle = |number: u64,
                      value: serde_json::Value,
                      spool: &mut Spool,
                      errors: &mut Vec<RecordError>|
     -> Result<(), IngestError> {
        match converter.convert(number, &value) {
            Ok(built) => {
                if errors.is_empty() {
                    if refreshes_segments
                        && let Some(id) = value.get("conversationId").and_then(|v| v.as_str())
                    {
                        touched_conversations.insert(id.to_string());
                    }
                    spool.push(&built).map_err(IngestError::Spool)?;
                }
            }
            Err(mut e) => {
                let room = MAX_ERRORS.saturating_sub(errors.len());
                e.truncate(room);
                errors.extend(e);
            }
        }
        Ok(())
    };
    match first {
        None => {}
        Some(b'[') => {
            // Element by element, each within max_line_bytes, never the whole array.
            let used = std::rc::Rc::new(std::cell::Cell::new(0u64));
            let counted = PerRecord {
                inner: &mut reader,
                used: used.clone(),
                limit: max_line_bytes,
            };
            let mut de = serde_json::Deserializer::from_reader(counted);
            let mut stopped: Option<IngestError> = None;
            let visitor = ArrayVisitor {
                each: &mut |value: serde_json::Value| {
                    used.set(0);
                    records += 1;
                    let r = handle(records, value, &mut spool, &mut errors);
                    progress(records);
                    r
                },
                stopped: &mut stopped,
            };
            let parsed =
                serde::Deserializer::deserialize_seq(&mut de, visitor).and_then(|()| de.end());
            if let Some(e) = stopped {
                return Err(e);
            }
            if let Err(e) = parsed {
                if e.is_io() {
                    let mut failure = body_error(std::io::Error::from(e));
                    if let IngestError::LineTooLong { line, .. } = &mut failure {
                        *line = records + 1;
                    }
                    return Err(failure);
                }
                errors.push(RecordError::syntax(e.line() as u64, &e.to_string()));
            }
        }
        Some(_) => {
            let mut line: Vec<u8> = Vec::new();
            let mut number = 0u64;
            loop {
                line.clear();
                // At most one byte past the limit, so a line without an end is
                // refused as soon as it is too long, never buffered whole.
                let n = (&mut reader)
                    .take(max_line_bytes.saturating_add(1))
                    .read_until(b'\n', &mut line)
                    .map_err(body_error)?;
                if n == 0 {
                    break;
                }
                number += 1;
                let content = line.strip_suffix(b"\n").unwrap_or(&line);
                if content.len() as u64 > max_line_bytes {
                    return Err(IngestError::LineTooLong {
                        line: number,
                        limit: max_line_bytes,
                    });
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                records += 1;
                let parsed = std::str::from_utf8(&line)
                    .map_err(|_| RecordError::syntax(number, "the line is not valid UTF-8"))
                    .and_then(|text| {
                        serde_json::from_str::<serde_json::Value>(text)
                            .map_err(|e| RecordError::syntax(number, &e.to_string()))
                    });
                match parsed {
                    Ok(value) => handle(number, value, &mut spool, &mut errors)?,
                    Err(e) => {
                        if errors.len() < MAX_ERRORS {
                            errors.push(e);
                        }
                    }
                }
                if records.is_multiple_of(1024) {
                    progress(records);
                }
            }
            progress(records);
        }
    }
    if !errors.is_empty() {
        return Err(IngestError::Invalid(errors));
    }
    Ok(ValidBatch {
        model,
        set,
        tenant: tenant.clone(),
        converter,
        spool,
        records,
        touched_conversations: refreshes_segments
            .then(|| touched_conversations.into_iter().collect()),
    })
}

impl ValidBatch<'_> {
    /// Upserts the batch in one transaction on `conn`: all of it or nothing.
    pub fn write(self, conn: &mut Conn) -> Result<IngestReport, IngestError> {
        let ValidBatch {
            model,
            set,
            tenant,
            converter,
            spool,
            records,
            touched_conversations,
        } = self;
        debug_assert_eq!(spool.rows(), records);
        let mut writer = Writer {
            rows: RowWriter::new(converter.builder()),
            inserted: 0,
            updated: 0,
            conversation_rows: 0,
        };
        let spool_error = |e: std::io::Error| {
            StoreError::Invalid(format!("the spooled batch could not be read back: {e}"))
        };
        let mut rows = spool.reader().map_err(spool_error)?;
        conn.transaction(|conn| {
            while let Some(built) = rows.next_built().map_err(spool_error)? {
                writer.rows.push_replacing(built)?;
                if writer.rows.len() >= FLUSH_ROWS {
                    writer.flush(conn)?;
                }
            }
            writer.flush(conn)?;
            if let Some(ids) = &touched_conversations {
                segments::refresh(conn, model, &tenant, ids)?;
            }
            Ok(())
        })?;
        Ok(IngestReport {
            entity_set: set.name.clone(),
            records,
            inserted: writer.inserted,
            updated: writer.updated,
            conversations: writer
                .rows
                .derives_conversations()
                .then_some(writer.conversation_rows),
        })
    }
}

/// Reads and validates records from `body` ([`read_batch`]), then takes a connection
/// from `db` and upserts them into `set_name` for `tenant` in one transaction.
pub fn ingest(
    db: &Db,
    model: &Model,
    tenant: &Tenant,
    set_name: &str,
    body: impl Read,
    max_line_bytes: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<IngestReport, IngestError> {
    let batch = read_batch(model, tenant, set_name, body, max_line_bytes, progress)?;
    let mut conn = db.get()?;
    batch.write(&mut conn)
}
