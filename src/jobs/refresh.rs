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
use crate::ingest::Converter;
use crate::store::tenants::Tenant;
use crate::store::{self, ColumnKind, Conn, Db, RowBatch, StoreError};
use crate::store::{query, stmt};

/// Largest directory document read.
const MAX_DOCUMENT_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct RefreshSettings {
    /// A set that had at least this many active rows ...
    pub guard_min_rows: usize,
    /// ... is refused if the document lists fewer than this fraction of them.
    pub guard_min_fraction: f64,
    pub http_timeout: Duration,
}

impl Default for RefreshSettings {
    fn default() -> RefreshSettings {
        RefreshSettings {
            guard_min_rows: 10,
            guard_min_fraction: 0.5,
            http_timeout: Duration::from_secs(60),
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
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads the document from a file path or an http(s) URL.
pub fn fetch(source: &str, settings: &RefreshSettings) -> Result<Vec<u8>, RefreshError> {
    let mut body = Vec::new();
    if source.starts_with("http://") || source.starts_with("https://") {
        let agent = ureq::AgentBuilder::new()
            .timeout(settings.http_timeout)
            .build();
        let response = agent
            .get(source)
            .call()
            .map_err(|e| RefreshError::Source(e.to_string()))?;
        response
            .into_reader()
            .take(MAX_DOCUMENT_BYTES)
            .read_to_end(&mut body)
            .map_err(|e| RefreshError::Source(e.to_string()))?;
    } else {
        let path = source.strip_prefix("file://").unwrap_or(source);
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_DOCUMENT_BYTES).read_to_end(&mut body))
            .map_err(|e| RefreshError::Source(format!("{path}: {e}")))?;
    }
    Ok(body)
}

/// The stored rows of a lookup set: id → (values as text, deleted?).
type Stored = HashMap<String, (Vec<Option<String>>, bool)>;

fn load(conn: &mut Conn, set: &EntitySet, tenant: &str) -> Result<Stored, StoreError> {
    let columns: Vec<String> = set
        .properties
        .iter()
        .map(|p| format!("\"{}\"", p.column))
        .collect();
    let kinds: Vec<ColumnKind> = set.properties.iter().map(ColumnKind::of).collect();
    let s = stmt(
        conn,
        &format!(
            "SELECT {} FROM \"{}\" WHERE tenant_id = ?",
            columns.join(", "),
            set.table
        ),
        vec![(store::Value::Text(tenant.into()), ColumnKind::Text)],
    );
    let deleted = set.property_index("deletedAt");
    let mut out = HashMap::new();
    for row in query(conn, &s, &kinds)? {
        let values: Vec<Option<String>> = row.iter().map(store::Value::plain_text).collect();
        let id = values[set.key].clone().unwrap_or_default();
        let is_deleted = deleted.is_some_and(|d| values[d].is_some());
        out.insert(id, (values, is_deleted));
    }
    Ok(out)
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
    let doc: Value =
        serde_json::from_slice(document).map_err(|e| RefreshError::Invalid(e.to_string()))?;
    let Value::Object(sets) = doc else {
        return Err(RefreshError::Invalid(
            "expected a JSON object of entity sets".into(),
        ));
    };
    // Validate everything before touching the database.
    let mut plans: Vec<(&EntitySet, Vec<Vec<store::Value>>)> = Vec::new();
    for (name, rows) in &sets {
        let set = model
            .entity_set(name)
            .filter(|s| s.is_lookup())
            .ok_or_else(|| RefreshError::Invalid(format!("'{name}' is not a lookup entity set")))?;
        let Value::Array(rows) = rows else {
            return Err(RefreshError::Invalid(format!(
                "{name}: expected an array of rows"
            )));
        };
        let converter =
            Converter::new(model, set, tenant).map_err(|e| RefreshError::Invalid(e.to_string()))?;
        let deleted_at = set.property_index("deletedAt");
        let mut seen = HashSet::new();
        let mut converted = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let (mut binds, _) = converter.convert(i as u64 + 1, row).map_err(|errors| {
                RefreshError::Invalid(format!(
                    "{name}: {}",
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                        .replace("line ", "row ")
                ))
            })?;
            if let Some(d) = deleted_at {
                binds[d] = store::Value::Null; // never taken from the source
            }
            if let Some(store::Value::Text(id)) = binds.get(set.key)
                && !seen.insert(id.clone())
            {
                return Err(RefreshError::Invalid(format!(
                    "{name}: id '{id}' appears twice"
                )));
            }
            converted.push(binds);
        }
        plans.push((set, converted));
    }

    let report = conn.transaction(|conn| {
        let mut report = BTreeMap::new();
        for (set, rows) in &plans {
            let stored = load(conn, set, &tenant.id)?;
            let active = stored.values().filter(|(_, deleted)| !deleted).count();
            if active >= settings.guard_min_rows && (rows.len() as f64) < active as f64 * settings.guard_min_fraction {
                return Err(StoreError::Invalid(format!(
                    "{}: the source lists {} rows where {} are active now (below {:.0}%)",
                    set.name,
                    rows.len(),
                    active,
                    settings.guard_min_fraction * 100.0
                )));
            }
            let deleted_at = set.property_index("deletedAt");
            let mut changes = SetChanges::default();
            let mut present = HashSet::new();
            let mut batch = RowBatch::new(set, &tenant.id, (0..set.properties.len()).collect());
            for row in rows {
                let id = store::Value::plain_text(&row[set.key]).unwrap_or_default();
                match stored.get(&id) {
                    None => changes.added += 1,
                    Some((values, deleted)) => {
                        let same = row
                            .iter()
                            .zip(values)
                            .enumerate()
                            .all(|(i, (b, v))| Some(i) == deleted_at || store::Value::plain_text(b) == *v);
                        match (*deleted, same) {
                            (true, _) => changes.restored += 1,
                            (false, true) => changes.unchanged += 1,
                            (false, false) => changes.changed += 1,
                        }
                    }
                }
                present.insert(id);
                batch.push(row.clone())?;
            }
            batch.flush(conn)?;
            let gone: Vec<&String> =
                stored.iter().filter(|(id, (_, deleted))| !deleted && !present.contains(*id)).map(|(id, _)| id).collect();
            if let Some(d) = deleted_at {
                let column = &set.properties[d].column;
                for chunk in gone.chunks(10_000) {
                    let marks = vec!["?"; chunk.len()].join(", ");
                    let mut binds = vec![
                        (store::Value::Instant(now), ColumnKind::Instant),
                        (store::Value::Text(tenant.id.clone()), ColumnKind::Text),
                    ];
                    binds.extend(chunk.iter().map(|id| (store::Value::Text((*id).clone()), ColumnKind::Text)));
                    let s = stmt(
                        conn,
                        &format!(
                            "UPDATE \"{}\" SET \"{column}\" = ? WHERE tenant_id = ? AND id IN ({marks})",
                            set.table
                        ),
                        binds,
                    );
                    changes.deleted += conn.execute(&s)? as u64;
                }
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
pub fn run(
    db: &Db,
    model: &Model,
    tenant: &Tenant,
    now: DateTime<Utc>,
    settings: &RefreshSettings,
) -> Result<BTreeMap<String, SetChanges>, RefreshError> {
    let started = Utc::now();
    let result = (|| {
        let source = tenant
            .directory_source
            .as_deref()
            .ok_or(RefreshError::NoSource)?;
        let document = fetch(source, settings)?;
        let mut conn = db.get()?;
        apply(&mut conn, model, tenant, &document, now, settings)
    })();
    let mut conn = db.get()?;
    match &result {
        Ok(report) => {
            let details = serde_json::to_value(report).unwrap_or(Value::Null);
            record_run(
                &mut conn,
                Job::Refresh,
                &tenant.id,
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
                &tenant.id,
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
pub fn export(conn: &mut Conn, model: &Model, tenant: &str) -> Result<Value, StoreError> {
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
