//! The lookup refresh: a tenant's directory source (a file or an HTTP(S) URL) holds one
//! JSON object whose keys are lookup entity sets and whose values are the current rows:
//!
//! ```json
//! { "Agents": [ { "id": "a1", "name": "Ada", "customId": "007" } ],
//!   "Queues": [ { "id": "q1", "name": "Billing", "channelId": "c1", "routingMode": "Automatic" } ] }
//! ```
//!
//! For each set in the document: rows present are upserted (a row that had been
//! marked deleted is restored), rows the document no longer lists get `deletedAt` set
//! to the refresh time and are kept (old facts still resolve their names). A set left
//! out of the document is left alone; `deletedAt` is never taken from the document.
//!
//! The document is parsed as it arrives, row by row (within `max_directory_bytes`), and
//! only the converted rows are kept; a tenant's refresh runs once at a time.
//!
//! All sets of a tenant change in one transaction, so a reader sees the lookups wholly
//! before or wholly after. A source that fails (unreachable, HTTP error, bad JSON, an
//! invalid row, or a snapshot that shrinks suspiciously) changes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{Job, record_run};
use crate::edm::{EntitySet, Model};
use crate::ingest::{Converter, IngestError, Limited};
use crate::store::scoped;
use crate::store::tenants::Tenant;
use crate::store::{self, ColumnKind, Conn, Db, Row, RowWriter, StoreError};

#[derive(Debug, Clone)]
pub struct RefreshSettings {
    /// A set that had at least this many active rows ...
    pub guard_min_rows: usize,
    /// ... is refused if the document lists fewer than this fraction of them.
    pub guard_min_fraction: f64,
    pub http_timeout: Duration,
    /// Largest directory document read (`max_directory_bytes`); larger is refused.
    pub max_document_bytes: u64,
}

impl Default for RefreshSettings {
    fn default() -> RefreshSettings {
        RefreshSettings {
            guard_min_rows: 10,
            guard_min_fraction: 0.5,
            http_timeout: Duration::from_secs(60),
            max_document_bytes: 64 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SetChanges {
    pub added: u64,
    pub changed: u64,
    pub deleted: u64,
    pub restored: u64,
    pub unchanged: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(
        "the tenant has no directory source; set one with `ccfeed tenant set T --directory-source PATH_OR_URL`"
    )]
    NoSource,
    #[error("could not read the directory source: {0}")]
    Source(String),
    #[error("the directory document is not valid: {0}")]
    Invalid(String),
    #[error("refused a suspicious snapshot: {0}")]
    Suspicious(String),
    #[error("a lookup refresh of this tenant is already running; try again when it is done")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens the document at a file path or an http(s) URL, as a reader that fails past
/// `max_document_bytes`. Redirects are not followed (the source is the URL the operator
/// set, nothing else), and no error quotes what the source sent.
pub fn open(source: &str, settings: &RefreshSettings) -> Result<Box<dyn Read>, RefreshError> {
    crate::store::tenants::validate_directory_source(source)
        .map_err(|e| RefreshError::Source(e.to_string()))?;
    let lower = source.to_ascii_lowercase();
    let raw: Box<dyn Read> = if lower.starts_with("http://") || lower.starts_with("https://") {
        let agent = ureq::AgentBuilder::new()
            .timeout(settings.http_timeout)
            .redirects(0)
            .build();
        let response = match agent.get(source).call() {
            Ok(response) => response,
            Err(ureq::Error::Status(code, _)) => {
                return Err(RefreshError::Source(format!(
                    "the server answered HTTP {code}"
                )));
            }
            Err(e) => return Err(RefreshError::Source(e.kind().to_string())),
        };
        if (300..400).contains(&response.status()) {
            return Err(RefreshError::Source(format!(
                "the server answered HTTP {} (a redirect); redirects are not followed, so set \
                 the document's final URL as the directory source",
                response.status()
            )));
        }
        Box::new(response.into_reader())
    } else {
        let path = if lower.starts_with("file://") {
            &source["file://".len()..]
        } else {
            source
        };
        Box::new(
            std::fs::File::open(path).map_err(|e| RefreshError::Source(format!("{path}: {e}")))?,
        )
    };
    Ok(Box::new(Limited::new(raw, settings.max_document_bytes)))
}

/// Reads the whole document (within `max_document_bytes`).
pub fn fetch(source: &str, settings: &RefreshSettings) -> Result<Vec<u8>, RefreshError> {
    let mut body = Vec::new();
    open(source, settings)?
        .read_to_end(&mut body)
        .map_err(|e| read_error(e, settings))?;
    Ok(body)
}

fn read_error(e: std::io::Error, settings: &RefreshSettings) -> RefreshError {
    match crate::ingest::body_error(e) {
        IngestError::TooLarge(_) => RefreshError::Source(format!(
            "the document is larger than {} bytes (setting max_directory_bytes)",
            settings.max_document_bytes
        )),
        other => RefreshError::Source(other.to_string()),
    }
}

/// The stored rows of a lookup set: id → (values as text, deleted?).
type Stored = HashMap<String, (Vec<Option<String>>, bool)>;

fn load(conn: &mut Conn, set: &EntitySet, tenant: &Tenant) -> Result<Stored, StoreError> {
    let deleted = set.property_id("deletedAt").map(|d| d.index());
    let mut out = HashMap::new();
    for row in scoped::all_rows(conn, tenant.scope(), set)? {
        let values: Vec<Option<String>> = row.iter().map(store::Value::plain_text).collect();
        let id = values[set.key.index()].clone().unwrap_or_default();
        let is_deleted = deleted.is_some_and(|d| values[d].is_some());
        out.insert(id, (values, is_deleted));
    }
    Ok(out)
}

/// The rows of each lookup set in a document, converted and checked, with the writer
/// that takes them.
type Plans<'m> = Vec<(&'m EntitySet, RowWriter<'m>, Vec<Row>)>;

/// Reads a directory document from `reader` set by set and row by row, converting
/// each row as it is parsed, so only the converted rows are kept (never the document
/// or its JSON tree). Nothing from the document is quoted in an error.
pub fn read_document<'m>(
    model: &'m Model,
    tenant: &Tenant,
    reader: impl Read,
    settings: &RefreshSettings,
) -> Result<Plans<'m>, RefreshError> {
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(reader));
    let mut plans = Vec::new();
    let mut stopped = None;
    let parsed = serde::Deserializer::deserialize_map(
        &mut de,
        DocumentVisitor {
            model,
            tenant,
            plans: &mut plans,
            stopped: &mut stopped,
        },
    )
    .and_then(|()| de.end());
    if let Some(e) = stopped {
        return Err(e);
    }
    match parsed {
        Ok(()) => Ok(plans),
        Err(e) if e.is_io() => Err(read_error(std::io::Error::from(e), settings)),
        // Syntax errors say where, not what; data errors would quote values.
        Err(e) if e.is_syntax() || e.is_eof() => Err(RefreshError::Invalid(e.to_string())),
        Err(e) => Err(RefreshError::Invalid(format!(
            "expected a JSON object of lookup sets, each an array of rows (line {}, column {})",
            e.line(),
            e.column()
        ))),
    }
}

/// The top-level object: each key a lookup set, each value its rows.
struct DocumentVisitor<'a, 'm> {
    model: &'m Model,
    tenant: &'a Tenant,
    plans: &'a mut Plans<'m>,
    stopped: &'a mut Option<RefreshError>,
}

impl<'de> serde::de::Visitor<'de> for DocumentVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object of lookup sets")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let stop = |stopped: &mut Option<RefreshError>, e: RefreshError| {
            *stopped = Some(e);
            serde::de::Error::custom("stopped")
        };
        while let Some(name) = map.next_key::<String>()? {
            // A key is named in an error only when the model knows it.
            let Some(set) = self.model.entity_set(&name).filter(|s| s.is_lookup()) else {
                let message = match self.model.entity_set(&name) {
                    Some(_) => format!("'{name}' is not a lookup entity set"),
                    None => "the document has a key that is not a lookup entity set".to_string(),
                };
                return Err(stop(self.stopped, RefreshError::Invalid(message)));
            };
            if self.plans.iter().any(|(s, _, _)| s.name == set.name) {
                return Err(stop(
                    self.stopped,
                    RefreshError::Invalid(format!("{name} appears twice in the document")),
                ));
            }
            // `deletedAt` is never taken from the source.
            let mut converter = match Converter::new(self.model, set, self.tenant) {
                Ok(c) => c.dropping("deletedAt"),
                Err(e) => return Err(stop(self.stopped, RefreshError::Invalid(e.to_string()))),
            };
            let mut rows = Vec::new();
            map.next_value_seed(RowsSeed {
                set,
                converter: &mut converter,
                rows: &mut rows,
                stopped: self.stopped,
            })?;
            self.plans
                .push((set, RowWriter::new(converter.builder()), rows));
        }
        Ok(())
    }
}

/// One set's array of rows, converted and checked as each is parsed.
struct RowsSeed<'a, 'm> {
    set: &'m EntitySet,
    converter: &'a mut Converter<'m>,
    rows: &'a mut Vec<Row>,
    stopped: &'a mut Option<RefreshError>,
}

impl<'de> serde::de::DeserializeSeed<'de> for RowsSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for RowsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let name = &self.set.name;
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut fail = |e: RefreshError| {
            *self.stopped = Some(e);
            serde::de::Error::custom("stopped")
        };
        while let Some(row) = seq.next_element::<Value>()? {
            let number = self.rows.len() + 1;
            let row = match self.converter.convert(number as u64, &row) {
                Ok(built) => built.row,
                Err(errors) => {
                    return Err(fail(RefreshError::Invalid(format!(
                        "{name}: {}",
                        errors
                            .iter()
                            .map(|e| e.without_values(self.set))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ))));
                }
            };
            if let Some(store::Value::Text(id)) = row.values().get(self.set.key.index())
                && let Some(first) = seen.insert(id.clone(), number)
            {
                return Err(fail(RefreshError::Invalid(format!(
                    "{name}: rows {first} and {number} have the same id"
                ))));
            }
            self.rows.push(row);
        }
        Ok(())
    }
}

/// Applies the document to the tenant's lookups in one transaction.
pub fn apply(
    conn: &mut Conn,
    model: &Model,
    tenant: &Tenant,
    document: &[u8],
    now: DateTime<Utc>,
    settings: &RefreshSettings,
) -> Result<BTreeMap<String, SetChanges>, RefreshError> {
    let plans = read_document(model, tenant, document, settings)?;
    write(conn, tenant, plans, now, settings)
}

/// Writes the checked rows of each set in one transaction: upserts, soft deletes,
/// restores, after the shrink guard.
fn write(
    conn: &mut Conn,
    tenant: &Tenant,
    plans: Plans<'_>,
    now: DateTime<Utc>,
    settings: &RefreshSettings,
) -> Result<BTreeMap<String, SetChanges>, RefreshError> {
    let report = conn.transaction(|conn| {
        let mut report = BTreeMap::new();
        for (set, mut writer, rows) in plans {
            let stored = load(conn, set, tenant)?;
            let active = stored.values().filter(|(_, deleted)| !deleted).count();
            if active >= settings.guard_min_rows
                && (rows.len() as f64) < active as f64 * settings.guard_min_fraction
            {
                return Err(StoreError::Invalid(format!(
                    "{}: the source lists {} rows where {} are active now (below {:.0}%)",
                    set.name,
                    rows.len(),
                    active,
                    settings.guard_min_fraction * 100.0
                )));
            }
            let deleted_at = set.property_id("deletedAt");
            let deleted_position = deleted_at.map(|d| d.index());
            let mut changes = SetChanges::default();
            let mut present = HashSet::new();
            for row in rows {
                let id =
                    store::Value::plain_text(&row.values()[set.key.index()]).unwrap_or_default();
                match stored.get(&id) {
                    None => changes.added += 1,
                    Some((values, deleted)) => {
                        let same =
                            row.values()
                                .iter()
                                .zip(values)
                                .enumerate()
                                .all(|(i, (b, v))| {
                                    Some(i) == deleted_position || store::Value::plain_text(b) == *v
                                });
                        match (*deleted, same) {
                            (true, _) => changes.restored += 1,
                            (false, true) => changes.unchanged += 1,
                            (false, false) => changes.changed += 1,
                        }
                    }
                }
                present.insert(id);
                writer.push(store::Built {
                    row,
                    conversation: None,
                })?;
            }
            writer.flush(conn)?;
            let gone: Vec<&String> = stored
                .iter()
                .filter(|(id, (_, deleted))| !deleted && !present.contains(*id))
                .map(|(id, _)| id)
                .collect();
            if let Some(column) = deleted_at
                .and_then(|d| set.property_at(d))
                .map(|p| &p.column)
            {
                let gone: Vec<&str> = gone.iter().map(|id| id.as_str()).collect();
                changes.deleted += scoped::set_column_for_keys(
                    conn,
                    tenant.scope(),
                    set,
                    column,
                    (store::Value::Instant(now), ColumnKind::Instant),
                    &gone,
                )? as u64;
            }
            report.insert(set.name.clone(), changes);
        }
        Ok(report)
    });
    report.map_err(|e| match e {
        StoreError::Invalid(message) => RefreshError::Suspicious(message),
        other => RefreshError::Store(other),
    })
}

/// Fetches the tenant's source, applies it, and records the run (also a failed one).
/// A refresh of a tenant whose refresh is already running fails at once with
/// [`RefreshError::Busy`] (and is not recorded: nothing ran).
pub fn run(
    db: &Db,
    model: &Model,
    tenant: &Tenant,
    now: DateTime<Utc>,
    settings: &RefreshSettings,
) -> Result<BTreeMap<String, SetChanges>, RefreshError> {
    let Some(_running) = db.start_exclusive(&format!("refresh {}", tenant.id)) else {
        return Err(RefreshError::Busy);
    };
    let started = Utc::now();
    let result = (|| {
        let source = tenant
            .directory_source
            .as_deref()
            .ok_or(RefreshError::NoSource)?;
        // The document is read and every row checked before a connection is taken.
        let plans = read_document(model, tenant, open(source, settings)?, settings)?;
        let mut conn = db.get()?;
        write(&mut conn, tenant, plans, now, settings)
    })();
    let mut conn = db.get()?;
    match &result {
        Ok(report) => {
            let details = serde_json::to_value(report).unwrap_or(Value::Null);
            record_run(
                &mut conn,
                Job::Refresh,
                tenant,
                started,
                Utc::now(),
                Ok(&details),
            )?;
            tracing::info!(tenant = %tenant.id, ?report, "lookup refresh done");
        }
        Err(e) => {
            record_run(
                &mut conn,
                Job::Refresh,
                tenant,
                started,
                Utc::now(),
                Err(&e.to_string()),
            )?;
            tracing::warn!(tenant = %tenant.id, "lookup refresh failed, nothing changed: {e}");
        }
    }
    result
}

/// The tenant's current (not deleted) lookup rows as a directory document: what a
/// refresh from it would leave unchanged. The demo tenant's source is made this way.
pub fn export(conn: &mut Conn, model: &Model, tenant: &Tenant) -> Result<Value, StoreError> {
    let mut doc = serde_json::Map::new();
    for set in model.entity_sets().iter().filter(|s| s.is_lookup()) {
        let stored = load(conn, set, tenant)?;
        let mut ids: Vec<&String> = stored
            .iter()
            .filter(|(_, (_, deleted))| !deleted)
            .map(|(id, _)| id)
            .collect();
        ids.sort();
        let rows: Vec<Value> = ids
            .into_iter()
            .filter_map(|id| stored.get(id))
            .map(|(values, _)| {
                let mut row = serde_json::Map::new();
                for (p, v) in set.properties.iter().zip(values) {
                    if p.name == "deletedAt" {
                        continue;
                    }
                    let value = match (v, p.ty) {
                        (None, _) => Value::Null,
                        (Some(t), crate::edm::EdmType::Boolean) => Value::Bool(t == "true"),
                        (Some(t), crate::edm::EdmType::Int32 | crate::edm::EdmType::Int64) => {
                            t.parse::<i64>().map(Value::from).unwrap_or(Value::Null)
                        }
                        (Some(t), crate::edm::EdmType::Double) => t
                            .parse::<f64>()
                            .ok()
                            .and_then(serde_json::Number::from_f64)
                            .map(Value::Number)
                            .unwrap_or(Value::Null),
                        (Some(t), _) => Value::String(t.clone()),
                    };
                    row.insert(p.name.clone(), value);
                }
                Value::Object(row)
            })
            .collect();
        doc.insert(set.name.clone(), Value::Array(rows));
    }
    Ok(Value::Object(doc))
}
