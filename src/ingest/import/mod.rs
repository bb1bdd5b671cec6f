//! Importers of other platforms' exports: a conversation-detail or call-detail document
//! is mapped, conversation by conversation, to records of our entity sets (JSON objects
//! with the feed's property names), which then take the ordinary ingest path: the same
//! validation, the derived local times and Conversations rows, one transaction.
//!
//! An import is a snapshot of each conversation it contains. Exports overlap (a
//! conversation touching two query windows appears in both), so every id is derived
//! from source ids, rows are upserted, and rows of an imported conversation that the new
//! export no longer contains are removed: importing the same file twice changes nothing.

pub mod genesys;
pub mod koreai;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Converter, IngestError, body_error, segments};
use crate::edm::{EntitySet, Model};
use crate::store::scoped;
use crate::store::tenants::Tenant;
use crate::store::{Conn, Db, RowWriter, StoreError};

/// The export formats ccfeed reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Genesys Cloud analytics conversation details (`{"conversations": [...]}`).
    Genesys,
    /// Kore.ai contact center call details (`{"data": [...]}`).
    Koreai,
}

impl Format {
    pub fn parse(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "genesys" => Some(Format::Genesys),
            "koreai" | "kore.ai" => Some(Format::Koreai),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Genesys => "genesys",
            Format::Koreai => "koreai",
        }
    }

    /// The document's member that holds the conversations.
    fn list_name(self) -> &'static str {
        match self {
            Format::Genesys => "conversations",
            Format::Koreai => "data",
        }
    }

    /// Entity sets this format writes (a conversation's rows in them are replaced).
    pub fn sets(self) -> &'static [&'static str] {
        match self {
            Format::Genesys => genesys::SETS,
            Format::Koreai => koreai::SETS,
        }
    }
}

/// Settings of one import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Minutes east of UTC of the source's local timestamps (Kore.ai exports carry
    /// timestamps without an offset).
    pub time_zone_offset_minutes: Option<i32>,
}

/// One row for one entity set: the object `POST /ingest/{set}` would accept.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub set: &'static str,
    pub fields: Map<String, Value>,
}

/// The rows made from one source conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedConversation {
    pub conversation_id: String,
    pub records: Vec<Record>,
}

/// Problems for text no backend can store: U+0000 (PostgreSQL text cannot hold it),
/// one per record property that has it. Importers check their records with this, so
/// what maps also passes the ingest validation.
pub(crate) fn nul_characters(conversation_id: &str, records: &[Record]) -> Vec<MapError> {
    records
        .iter()
        .flat_map(|r| {
            r.fields.iter().filter_map(move |(name, value)| {
                value
                    .as_str()
                    .filter(|s| s.contains('\0'))
                    .map(|_| MapError {
                        conversation_id: Some(conversation_id.to_string()),
                        field: format!("{}.{name}", r.set),
                        message: "must not contain the NUL character (\\u0000)".to_string(),
                    })
            })
        })
        .collect()
}

/// A source record that could not be mapped: which conversation, which field, why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MapError {
    pub conversation_id: Option<String>,
    /// Path of the source field, e.g. `participants[2].sessions[0].segments[1].segmentStart`,
    /// or the feed property when the mapped row failed validation.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for MapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.conversation_id {
            Some(id) => write!(f, "conversation '{id}': {}: {}", self.field, self.message),
            None => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

/// The conversations of one export document.
pub fn conversations(format: Format, doc: &Value) -> Result<&[Value], MapError> {
    match format {
        Format::Genesys => genesys::conversations(doc),
        Format::Koreai => koreai::conversations(doc),
    }
}

/// One source conversation as rows of our entity sets.
pub fn map_conversation(
    format: Format,
    conversation: &Value,
    options: &ImportOptions,
) -> Result<MappedConversation, Vec<MapError>> {
    match format {
        Format::Genesys => genesys::map_conversation(conversation, options),
        Format::Koreai => koreai::map_conversation(conversation, options),
    }
}

/// Most problems reported for one rejected file.
const MAX_ERRORS: usize = 20;

/// What one import wrote to one entity set.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetCounts {
    pub records: u64,
    pub inserted: u64,
    pub updated: u64,
    /// Rows of the imported conversations that the export no longer contains.
    pub removed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub format: &'static str,
    pub conversations: u64,
    /// Per entity set, including the derived Conversations rows.
    pub sets: BTreeMap<String, SetCounts>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}", describe(.0))]
    Invalid(Vec<MapError>),
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> ImportError {
        ImportError::Ingest(IngestError::Store(e))
    }
}

fn describe(errors: &[MapError]) -> String {
    match errors {
        [] => "the export was rejected".to_string(),
        [one] => format!("{one}; nothing was written"),
        [first, rest @ ..] => format!(
            "{first} (and {} more problems); nothing was written",
            rest.len()
        ),
    }
}

/// Rows of one entity set waiting to be written, with the ids per conversation.
struct SetRows<'m> {
    set: &'m EntitySet,
    converter: Converter<'m>,
    /// The set's rows and the Conversations rows derived from them.
    rows: RowWriter<'m>,
    /// Column that ties a row to its conversation (for Calls, Chats and Emails the
    /// key itself, which is the conversation id).
    scope: Option<&'m str>,
    ids: HashMap<String, Vec<String>>,
    records: u64,
}

/// Reads one export document from `body` and, once all of it is mapped and checked,
/// takes a connection from `db` and writes its conversations for `tenant` in one
/// transaction. `progress(done, total)` is told how many conversations are
/// mapped so far.
pub fn import(
    db: &Db,
    model: &Model,
    tenant: &Tenant,
    format: Format,
    mut body: impl Read,
    options: &ImportOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ImportReport, ImportError> {
    let mut text = Vec::new();
    body.read_to_end(&mut text).map_err(body_error)?;
    let doc: Value = serde_json::from_slice(&text).map_err(|e| {
        ImportError::Invalid(vec![MapError {
            conversation_id: None,
            field: format!("line {} column {}", e.line(), e.column()),
            message: format!("not valid JSON: {e}"),
        }])
    })?;
    drop(text);
    let list = conversations(format, &doc).map_err(|e| ImportError::Invalid(vec![e]))?;
    let total = list.len() as u64;

    // Map every conversation first; a later copy of the same conversation wins.
    let mut errors: Vec<MapError> = Vec::new();
    let mut mapped: Vec<MappedConversation> = Vec::with_capacity(list.len());
    let mut position: HashMap<String, usize> = HashMap::new();
    for (n, source) in list.iter().enumerate() {
        match map_conversation(format, source, options) {
            Ok(m) => match position.get(&m.conversation_id) {
                Some(&i) => mapped[i] = m,
                None => {
                    position.insert(m.conversation_id.clone(), mapped.len());
                    mapped.push(m);
                }
            },
            Err(e) => {
                let room = MAX_ERRORS.saturating_sub(errors.len());
                errors.extend(e.into_iter().take(room).map(|mut e| {
                    // Paths from the document's root, e.g. `conversations[3].participants[0]...`.
                    e.field = match e.field.as_str() {
                        "" => format!("{}[{n}]", format.list_name()),
                        field => format!("{}[{n}].{field}", format.list_name()),
                    };
                    e
                }));
            }
        }
        if n % 256 == 0 {
            progress(n as u64, total);
        }
    }
    progress(total, total);

    // Convert every record with the ingest path's validation.
    let mut sets: Vec<SetRows<'_>> = Vec::new();
    for name in format.sets() {
        let set = model.entity_set(name).ok_or_else(|| {
            IngestError::NotAccepted(format!("the model has no entity set '{name}'"))
        })?;
        let converter = Converter::new(model, set, tenant)?;
        let rows = RowWriter::new(converter.builder());
        let scope = if rows.derives_conversations() {
            // A conversation's own row: stale when a newer export files it under
            // another medium.
            Some(set.key_property().column.as_str())
        } else {
            ["conversationId", "primaryConversationId"]
                .iter()
                .find_map(|p| set.property(p))
                .map(|p| p.column.as_str())
        };
        sets.push(SetRows {
            set,
            converter,
            rows,
            scope,
            ids: HashMap::new(),
            records: 0,
        });
    }
    for conversation in &mapped {
        for record in &conversation.records {
            let Some(rows) = sets.iter_mut().find(|s| s.set.name == record.set) else {
                errors.push(MapError {
                    conversation_id: Some(conversation.conversation_id.clone()),
                    field: record.set.to_string(),
                    message: format!("the {} importer does not write this set", format.name()),
                });
                continue;
            };
            let value = Value::Object(record.fields.clone());
            match rows.converter.convert(rows.records + 1, &value) {
                Ok(built) => {
                    rows.records += 1;
                    if let Some(Value::String(id)) = record.fields.get("id") {
                        rows.ids
                            .entry(conversation.conversation_id.clone())
                            .or_default()
                            .push(id.clone());
                    }
                    rows.rows.push_replacing(built)?;
                }
                Err(problems) => {
                    for p in problems {
                        if errors.len() < MAX_ERRORS {
                            errors.push(MapError {
                                conversation_id: Some(conversation.conversation_id.clone()),
                                field: match p.property {
                                    Some(property) => format!("{}.{property}", record.set),
                                    None => record.set.to_string(),
                                },
                                message: p.message,
                            });
                        }
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(ImportError::Invalid(errors));
    }

    let conversation_ids: Vec<String> = mapped.iter().map(|m| m.conversation_id.clone()).collect();
    let mut report = ImportReport {
        format: format.name(),
        conversations: mapped.len() as u64,
        sets: BTreeMap::new(),
    };
    // The document is read and every row checked: only now take a connection.
    let mut conn = db.get()?;
    conn.transaction(|conn| {
        for rows in &mut sets {
            let counts = report.sets.entry(rows.set.name.clone()).or_default();
            counts.records = rows.records;
            let existing = rows.rows.count_existing(conn)? as u64;
            counts.updated += existing;
            counts.inserted += rows.rows.len() as u64 - existing;
            let derived = rows.rows.derived_len() as u64;
            if derived > 0 {
                let existing = rows.rows.count_existing_derived(conn)? as u64;
                let counts = report.sets.entry("Conversations".to_string()).or_default();
                counts.records += derived;
                counts.updated += existing;
                counts.inserted += derived - existing;
            }
            rows.rows.flush(conn)?;
            if let Some(scope) = rows.scope {
                let removed = remove_stale(conn, rows, scope, tenant, &conversation_ids)?;
                report
                    .sets
                    .entry(rows.set.name.clone())
                    .or_default()
                    .removed = removed;
            }
        }
        segments::refresh(conn, model, tenant, &conversation_ids)
    })?;
    Ok(report)
}

/// Deletes rows of the imported conversations in `rows.set` whose ids the new export
/// does not contain: reads the ids there are, then deletes the difference by key.
fn remove_stale(
    conn: &mut Conn,
    rows: &SetRows<'_>,
    scope: &str,
    tenant: &Tenant,
    conversation_ids: &[String],
) -> Result<u64, StoreError> {
    let ids: Vec<&str> = conversation_ids.iter().map(String::as_str).collect();
    let found = scoped::keys_where_in(conn, tenant.scope(), rows.set, scope, &ids)?;
    let fresh: HashSet<&String> = conversation_ids
        .iter()
        .filter_map(|c| rows.ids.get(c))
        .flatten()
        .collect();
    let stale: Vec<&str> = found
        .iter()
        .filter(|id| !fresh.contains(id))
        .map(String::as_str)
        .collect();
    Ok(scoped::delete_keys(conn, tenant.scope(), rows.set, &stale)? as u64)
}
