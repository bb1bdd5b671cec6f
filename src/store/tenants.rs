//! Tenants and their API keys: the server's own tables, read and written with plain
//! statements. Every feed row belongs to a tenant; a key belongs to one tenant and
//! has one role.
//!
//! A key is `ccf_<id>_<secret>`. Only the SHA-256 of the secret is stored, so the
//! key is shown once, at creation. The secret is 32 random bytes, so a plain hash is
//! enough (no password stretching is needed for high-entropy secrets); the hash is
//! compared in constant time. Keys are checked against the database; the server may
//! remember a verified read key for `key_cache_seconds`, so a revocation takes effect
//! within that time, without a restart.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::scoped::TenantScope;
use super::{ColumnKind, Value};
use super::{Conn, StoreError, query, stmt, text};
use crate::edm::Model;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads the feed.
    Read,
    /// Writes rows through the ingest API.
    Ingest,
    /// Runs jobs and changes tenant settings; may also read and ingest.
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "read" => Some(Role::Read),
            "ingest" => Some(Role::Ingest),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Ingest => "ingest",
            Role::Admin => "admin",
        }
    }

    /// Whether a key of this role may do what `needed` allows.
    pub fn allows(self, needed: Role) -> bool {
        self == needed || self == Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub time_zone: String,
    pub retention_days: i64,
    pub created_at_utc: String,
    /// Where the nightly lookup refresh reads the directory (a file or an HTTP(S) URL).
    pub directory_source: Option<String>,
    /// The scope of statements made for this tenant; a `Tenant` only comes out of
    /// this module, so neither does a scope (see [`super::scoped`]).
    #[serde(skip)]
    scope: TenantScope,
}

impl Tenant {
    /// The scope every statement on this tenant's rows is built from.
    pub fn scope(&self) -> &TenantScope {
        &self.scope
    }

    /// A tenant for unit tests that convert rows without a database.
    #[cfg(test)]
    pub(crate) fn for_tests(id: &str, time_zone: &str) -> Tenant {
        Tenant {
            id: id.into(),
            name: id.into(),
            time_zone: time_zone.into(),
            retention_days: 365,
            created_at_utc: "2026-01-01T00:00:00.000Z".into(),
            directory_source: None,
            scope: TenantScope::new(id),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub role: Role,
    pub created_at_utc: String,
    pub revoked_at_utc: Option<String>,
    /// When the key stops working, if it was given an expiry.
    pub expires_at_utc: Option<String>,
}

fn t(s: &str) -> (Value, ColumnKind) {
    (Value::Text(s.to_string()), ColumnKind::Text)
}

const TENANT_COLUMNS: &str =
    "id, name, time_zone, retention_days, created_at_utc, directory_source";
const TENANT_KINDS: [ColumnKind; 6] = [
    ColumnKind::Text,
    ColumnKind::Text,
    ColumnKind::Text,
    ColumnKind::Int64,
    ColumnKind::Instant,
    ColumnKind::Text,
];

fn tenant_from(row: &[Value]) -> Tenant {
    let id = text(&row[0]);
    Tenant {
        scope: TenantScope::new(&id),
        id,
        name: text(&row[1]),
        time_zone: text(&row[2]),
        retention_days: match row[3] {
            Value::Int(i) => i,
            _ => 0,
        },
        created_at_utc: text(&row[4]),
        directory_source: match row.get(5) {
            Some(Value::Text(s)) => Some(s.clone()),
            _ => None,
        },
    }
}

/// A tenant id from its name: lower-case letters, digits and dashes.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for ch in name.trim().chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

pub fn validate_time_zone(tz: &str) -> Result<(), StoreError> {
    tz.parse::<chrono_tz::Tz>().map(|_| ()).map_err(|_| {
        StoreError::Invalid(format!(
            "'{tz}' is not an IANA time zone name (e.g. Europe/Budapest)"
        ))
    })
}

/// Where a directory document may come from: an `http://` or `https://` URL, a
/// `file://` URL, or a plain file path. Any other scheme (`ftp://`, `gopher://`, ...)
/// is refused rather than taken for a file name.
pub fn validate_directory_source(source: &str) -> Result<(), StoreError> {
    let scheme = source
        .split_once("://")
        .map(|(scheme, _)| scheme)
        .filter(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        });
    match scheme.map(str::to_ascii_lowercase).as_deref() {
        None | Some("http" | "https" | "file") => Ok(()),
        Some(other) => Err(StoreError::Invalid(format!(
            "a directory source is an http:// or https:// URL or a file path, not a {other}:// URL"
        ))),
    }
}

pub fn create_tenant(
    conn: &mut Conn,
    name: &str,
    time_zone: &str,
    retention_days: i64,
) -> Result<Tenant, StoreError> {
    validate_time_zone(time_zone)?;
    if retention_days < 1 {
        return Err(StoreError::Invalid(
            "retention must be at least one day".into(),
        ));
    }
    let id = slug(name);
    if id.is_empty() {
        return Err(StoreError::Invalid(
            "a tenant name needs at least one letter or digit".into(),
        ));
    }
    if find_tenant(conn, &id)?.is_some() || find_tenant(conn, name)?.is_some() {
        return Err(StoreError::Invalid(format!(
            "a tenant named '{name}' (id '{id}') already exists"
        )));
    }
    let s = stmt(
        conn,
        "INSERT INTO tenants (id, name, time_zone, retention_days, created_at_utc) VALUES (?, ?, ?, ?, ?)",
        vec![
            t(&id),
            t(name),
            t(time_zone),
            (Value::Int(retention_days), ColumnKind::Int64),
            (Value::Instant(Utc::now()), ColumnKind::Instant),
        ],
    );
    conn.execute(&s)?;
    find_tenant(conn, &id)?
        .ok_or_else(|| StoreError::Invalid("the tenant vanished after creation".into()))
}

/// A tenant by id or by name.
pub fn find_tenant(conn: &mut Conn, id_or_name: &str) -> Result<Option<Tenant>, StoreError> {
    let s = stmt(
        conn,
        &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ? OR name = ? ORDER BY id"),
        vec![t(id_or_name), t(id_or_name)],
    );
    Ok(query(conn, &s, &TENANT_KINDS)?
        .first()
        .map(|r| tenant_from(r)))
}

pub fn list_tenants(conn: &mut Conn) -> Result<Vec<Tenant>, StoreError> {
    let s = stmt(
        conn,
        &format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id"),
        Vec::new(),
    );
    Ok(query(conn, &s, &TENANT_KINDS)?
        .iter()
        .map(|r| tenant_from(r))
        .collect())
}

/// Changes a tenant's settings: all of them or, if any is invalid, none.
pub fn update_tenant(
    conn: &mut Conn,
    id: &str,
    time_zone: Option<&str>,
    retention_days: Option<i64>,
    directory_source: Option<&str>,
) -> Result<Tenant, StoreError> {
    if let Some(tz) = time_zone {
        validate_time_zone(tz)?;
    }
    if let Some(source) = directory_source.filter(|s| !s.is_empty()) {
        validate_directory_source(source)?;
    }
    if retention_days.is_some_and(|days| days < 1) {
        return Err(StoreError::Invalid(
            "retention must be at least one day".into(),
        ));
    }
    if find_tenant(conn, id)?.is_none() {
        return Err(StoreError::Invalid(format!("no tenant '{id}'")));
    }
    conn.transaction(|conn| {
        if let Some(source) = directory_source {
            // An empty value removes the source.
            let value = if source.is_empty() {
                Value::Null
            } else {
                Value::Text(source.to_string())
            };
            let s = stmt(
                conn,
                "UPDATE tenants SET directory_source = ? WHERE id = ?",
                vec![(value, ColumnKind::Text), t(id)],
            );
            conn.execute(&s)?;
        }
        if let Some(tz) = time_zone {
            let s = stmt(
                conn,
                "UPDATE tenants SET time_zone = ? WHERE id = ?",
                vec![t(tz), t(id)],
            );
            conn.execute(&s)?;
        }
        if let Some(days) = retention_days {
            let s = stmt(
                conn,
                "UPDATE tenants SET retention_days = ? WHERE id = ?",
                vec![(Value::Int(days), ColumnKind::Int64), t(id)],
            );
            conn.execute(&s)?;
        }
        Ok(())
    })?;
    find_tenant(conn, id)?.ok_or_else(|| StoreError::Invalid(format!("no tenant '{id}'")))
}

/// Deletes a tenant with all its rows and keys, in one transaction. Returns the
/// number of feed rows deleted.
pub fn delete_tenant(conn: &mut Conn, model: &Model, id: &str) -> Result<usize, StoreError> {
    conn.transaction(|c| {
        let mut deleted = 0;
        for set in model.entity_sets() {
            let s = stmt(
                c,
                &format!("DELETE FROM \"{}\" WHERE tenant_id = ?", set.table),
                vec![t(id)],
            );
            deleted += c.execute(&s)?;
        }
        let s = stmt(c, "DELETE FROM api_keys WHERE tenant_id = ?", vec![t(id)]);
        c.execute(&s)?;
        let s = stmt(c, "DELETE FROM tenants WHERE id = ?", vec![t(id)]);
        if c.execute(&s)? == 0 {
            return Err(StoreError::Invalid(format!("no tenant '{id}'")));
        }
        Ok(deleted)
    })
}

fn random_text(bytes: usize) -> Result<String, StoreError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| StoreError::Invalid(format!("no randomness available: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

fn sha256_hex(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Creates a key and returns its info and the full key text (shown only now).
pub fn create_key(
    conn: &mut Conn,
    tenant_id: &str,
    role: Role,
    name: &str,
) -> Result<(KeyInfo, String), StoreError> {
    if find_tenant(conn, tenant_id)?.is_none() {
        return Err(StoreError::Invalid(format!("no tenant '{tenant_id}'")));
    }
    // Key ids use no '_' so the key splits unambiguously.
    let id = random_text(9)?.replace(['_', '-'], "x");
    let secret = random_text(32)?;
    let s = stmt(
        conn,
        "INSERT INTO api_keys (id, tenant_id, name, role, secret_sha256, created_at_utc) VALUES (?, ?, ?, ?, ?, ?)",
        vec![
            t(&id),
            t(tenant_id),
            t(name),
            t(role.as_str()),
            t(&sha256_hex(&secret)),
            (Value::Instant(Utc::now()), ColumnKind::Instant),
        ],
    );
    conn.execute(&s)?;
    let info = list_keys(conn, tenant_id)?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| StoreError::Invalid("the key vanished after creation".into()))?;
    Ok((info, format!("ccf_{id}_{secret}")))
}

const KEY_KINDS: [ColumnKind; 7] = [
    ColumnKind::Text,
    ColumnKind::Text,
    ColumnKind::Text,
    ColumnKind::Text,
    ColumnKind::Instant,
    ColumnKind::Instant,
    ColumnKind::Instant,
];

pub fn list_keys(conn: &mut Conn, tenant_id: &str) -> Result<Vec<KeyInfo>, StoreError> {
    let s = stmt(
        conn,
        "SELECT id, tenant_id, name, role, created_at_utc, revoked_at_utc, expires_at_utc FROM api_keys WHERE tenant_id = ? ORDER BY created_at_utc, id",
        vec![t(tenant_id)],
    );
    Ok(query(conn, &s, &KEY_KINDS)?
        .iter()
        .map(|r| KeyInfo {
            id: text(&r[0]),
            tenant_id: text(&r[1]),
            name: text(&r[2]),
            role: Role::parse(&text(&r[3])).unwrap_or(Role::Read),
            created_at_utc: text(&r[4]),
            revoked_at_utc: (r[5] != Value::Null).then(|| text(&r[5])),
            expires_at_utc: (r[6] != Value::Null).then(|| text(&r[6])),
        })
        .collect())
}

/// Revokes a key by id (or by the full key text). Returns whether a key changed.
pub fn revoke_key(conn: &mut Conn, key: &str) -> Result<bool, StoreError> {
    let id = split_key(key).map_or(key, |(id, _)| id);
    let s = stmt(
        conn,
        "UPDATE api_keys SET revoked_at_utc = ? WHERE id = ? AND revoked_at_utc IS NULL",
        vec![(Value::Instant(Utc::now()), ColumnKind::Instant), t(id)],
    );
    Ok(conn.execute(&s)? > 0)
}

fn split_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("ccf_")?;
    let (id, secret) = rest.split_once('_')?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

/// The tenant and role of a valid, unrevoked key; `None` for anything else.
pub fn verify_key(conn: &mut Conn, key: &str) -> Result<Option<(Tenant, Role)>, StoreError> {
    Ok(verify_key_until(conn, key)?.map(|(tenant, role, _)| (tenant, role)))
}

/// A verified key: its tenant, its role and its expiry, if it has one.
pub type VerifiedKey = (Tenant, Role, Option<DateTime<Utc>>);

/// [`verify_key`] plus the key's expiry (for callers that remember the answer for a
/// while and must not remember it past the expiry).
pub fn verify_key_until(conn: &mut Conn, key: &str) -> Result<Option<VerifiedKey>, StoreError> {
    let Some((id, secret)) = split_key(key.trim()) else {
        return Ok(None);
    };
    let s = stmt(
        conn,
        "SELECT k.secret_sha256, k.role, k.revoked_at_utc, t.id, t.name, t.time_zone, t.retention_days, t.created_at_utc \
         , t.directory_source, k.expires_at_utc FROM api_keys AS k JOIN tenants AS t ON t.id = k.tenant_id WHERE k.id = ?",
        vec![t(id)],
    );
    let kinds = [
        ColumnKind::Text,
        ColumnKind::Text,
        ColumnKind::Instant,
        ColumnKind::Text,
        ColumnKind::Text,
        ColumnKind::Text,
        ColumnKind::Int64,
        ColumnKind::Instant,
        ColumnKind::Text,
        ColumnKind::Instant,
    ];
    let rows = query(conn, &s, &kinds)?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let stored = text(&row[0]);
    let presented = sha256_hex(secret);
    let equal: bool = stored.as_bytes().ct_eq(presented.as_bytes()).into();
    if !equal || row[2] != Value::Null || instant_of(&row[9]).is_some_and(|t| t <= Utc::now()) {
        return Ok(None);
    }
    let Some(role) = Role::parse(&text(&row[1])) else {
        return Ok(None);
    };
    Ok(Some((tenant_from(&row[3..]), role, instant_of(&row[9]))))
}

fn instant_of(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Instant(t) => Some(*t),
        Value::Text(s) => super::parse_instant(s),
        _ => None,
    }
}

/// Makes a key stop working at `expires` (it is refused like a revoked one after).
pub fn set_key_expiry(
    conn: &mut Conn,
    key_id: &str,
    expires: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let s = stmt(
        conn,
        "UPDATE api_keys SET expires_at_utc = ? WHERE id = ?",
        vec![(Value::Instant(expires), ColumnKind::Instant), t(key_id)],
    );
    Ok(conn.execute(&s)? > 0)
}

/// Why a known key is refused, for clearer errors: "revoked at …" or "expired at …"
/// (`None` for a key that is unknown or not refused for either reason).
pub fn refusal(conn: &mut Conn, key: &str) -> Result<Option<String>, StoreError> {
    let Some((id, _)) = split_key(key.trim()) else {
        return Ok(None);
    };
    let s = stmt(
        conn,
        "SELECT revoked_at_utc, expires_at_utc FROM api_keys WHERE id = ?",
        vec![t(id)],
    );
    let rows = query(conn, &s, &[ColumnKind::Instant, ColumnKind::Instant])?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    if let Some(at) = instant_of(&row[0]) {
        return Ok(Some(format!("revoked at {}", super::format_instant(&at))));
    }
    Ok(instant_of(&row[1])
        .filter(|at| *at <= Utc::now())
        .map(|at| format!("expired at {}", super::format_instant(&at))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_key_splitting() {
        assert_eq!(slug("  Acme Contact Center! "), "acme-contact-center");
        assert_eq!(slug("**"), "");
        assert_eq!(split_key("ccf_abc_def_ghi"), Some(("abc", "def_ghi")));
        assert_eq!(split_key("ccf__x"), None);
        assert_eq!(split_key("Bearer x"), None);
        assert!(Role::Admin.allows(Role::Read));
        assert!(!Role::Read.allows(Role::Ingest));
    }
}
