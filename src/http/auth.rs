//! Who is calling: a tenant API key from HTTP Basic (the password; the user name is
//! ignored, so Power BI users can type the tenant name there), from the `api_key`
//! query parameter (Power BI's `ApiKeyName`), or from `Authorization: Bearer`.
//! Without credentials only the demo tenant of a server in demo mode is served.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::{HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;
use crate::store::tenants::{self, Role, Tenant};

/// The query parameter that may carry a key.
pub const API_KEY_PARAM: &str = "api_key";

/// Whether a decoded query parameter name is the key parameter. Authentication takes
/// the exact name; this also matches other spellings of it (`API_KEY`, `Api_Key`), so
/// whatever a client meant as a key is kept out of logs and links as well.
pub fn is_key_param(decoded_name: &str) -> bool {
    decoded_name.trim().eq_ignore_ascii_case(API_KEY_PARAM)
}

/// What an unauthenticated caller is told about a key that did not work: nothing that
/// tells a guessed or stolen key apart from a revoked or expired one.
const INVALID_KEY: &str = "invalid or revoked key";

/// The key the request presents, if any.
fn presented_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    key_in(req.headers(), req.query_string())
}

/// Who a request counts as for the per-key limits: the SHA-256 of the key it presents
/// (however it is presented), or of nothing for requests without a readable key.
pub fn caller_identity(headers: &HeaderMap, query: &str) -> [u8; 32] {
    let key = key_in(headers, query).ok().flatten().unwrap_or_default();
    KeyCache::digest(key.trim())
}

fn key_in(headers: &HeaderMap, query: &str) -> Result<Option<String>, ApiError> {
    if let Some(value) = headers.get("Authorization") {
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("the Authorization header is not readable text"))?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = STANDARD
                .decode(rest.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    ApiError::unauthorized("the Basic credentials are not valid base64")
                })?;
            let password = decoded.split_once(':').map_or("", |(_, p)| p);
            return Ok(Some(password.to_string()));
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            return Ok(Some(rest.trim().to_string()));
        }
        // Never echo the header: a key sent without a scheme would be quoted back.
        return Err(ApiError::unauthorized(
            "the Authorization header must use the Basic or Bearer scheme",
        ));
    }
    let from_query = crate::uri::decode_query_string(query)
        .ok()
        .and_then(|pairs| {
            pairs
                .into_iter()
                .find(|(n, _)| n == API_KEY_PARAM)
                .map(|(_, v)| v)
        });
    Ok(from_query)
}

/// Verified keys remembered for a short time (setting `key_cache_seconds`), so a
/// burst of small requests does not pay a database round trip and a thread hand-off
/// each for the same key. Entries are keyed by the SHA-256 of the presented secret
/// (no secret is kept in memory), hold only keys that were valid, and never outlive
/// the key's own expiry; a revoked key is therefore refused at most one TTL after
/// the revocation. A TTL of zero turns the cache off.
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], CachedKey>>,
    anonymous: Mutex<Option<(Instant, Tenant)>>,
}

struct CachedKey {
    until: Instant,
    tenant: Tenant,
    role: Role,
}

/// Most keys remembered at once; past that, expired entries are dropped, and if
/// that is not enough the cache starts over.
const KEY_CACHE_ENTRIES: usize = 4096;

impl KeyCache {
    pub fn new(ttl: Duration) -> KeyCache {
        KeyCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
            anonymous: Mutex::new(None),
        }
    }

    fn digest(key: &str) -> [u8; 32] {
        Sha256::digest(key.as_bytes()).into()
    }

    fn get(&self, digest: &[u8; 32]) -> Option<(Tenant, Role)> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        entries
            .get(digest)
            .filter(|e| e.until > Instant::now())
            .map(|e| (e.tenant.clone(), e.role))
    }

    fn put(&self, digest: [u8; 32], tenant: &Tenant, role: Role, expires: Option<DateTime<Utc>>) {
        if self.ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut ttl = self.ttl;
        if let Some(expires) = expires {
            // Never remember a key past its own expiry.
            let left = (expires - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            ttl = ttl.min(left);
        }
        if ttl.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= KEY_CACHE_ENTRIES {
            entries.retain(|_, e| e.until > now);
            if entries.len() >= KEY_CACHE_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            digest,
            CachedKey {
                until: now + ttl,
                tenant: tenant.clone(),
                role,
            },
        );
    }

    fn anonymous(&self, id: &str) -> Option<Tenant> {
        if self.ttl.is_zero() {
            return None;
        }
        let cached = self.anonymous.lock().ok()?;
        cached
            .as_ref()
            .filter(|(until, t)| *until > Instant::now() && t.id == id)
            .map(|(_, t)| t.clone())
    }

    fn put_anonymous(&self, tenant: &Tenant) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut cached) = self.anonymous.lock() {
            *cached = Some((Instant::now() + self.ttl, tenant.clone()));
        }
    }
}

fn check_role(tenant: Tenant, role: Role, needed: Role) -> Result<Tenant, ApiError> {
    if role.allows(needed) {
        Ok(tenant)
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("this key has the {role} role; this resource needs a {needed} key"),
        ))
    }
}

/// The tenant a request acts for, checked against the role it needs. For reads, a
/// key (or the demo tenant) verified within the last `key_cache_seconds` is answered
/// from memory, on the calling thread; anything else is checked in the database.
pub async fn authenticate(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    needed: Role,
) -> Result<Tenant, ApiError> {
    let key = presented_key(req)?;
    // Only the read path (the feed, where small requests come in bursts) uses the
    // cache: ingest and admin requests act on the tenant's current settings
    // (directory source, time zone, retention), so they always read them afresh.
    let cache = req
        .app_data::<web::Data<KeyCache>>()
        .filter(|_| needed == Role::Read)
        .cloned();
    let digest = key.as_deref().map(|k| KeyCache::digest(k.trim()));
    let anonymous = state.settings.anonymous_tenant.clone();
    if let Some(cache) = &cache {
        match (&digest, &anonymous) {
            (Some(digest), _) => {
                if let Some((tenant, role)) = cache.get(digest) {
                    return check_role(tenant, role, needed);
                }
            }
            (None, Some(id)) if needed == Role::Read => {
                if let Some(tenant) = cache.anonymous(id) {
                    return Ok(tenant);
                }
            }
            _ => {}
        }
    }
    let state = state.clone();
    let outcome = web::block(move || -> Result<Result<Tenant, ApiError>, crate::store::StoreError> {
        let mut conn = state.db.get()?;
        let Some(key) = key else {
            return Ok(match anonymous {
                Some(id) if needed == Role::Read => match tenants::find_tenant(&mut conn, &id)? {
                    Some(t) => {
                        if let Some(cache) = &cache {
                            cache.put_anonymous(&t);
                        }
                        Ok(t)
                    }
                    None => Err(ApiError::unauthorized("the demo tenant does not exist yet")),
                },
                _ => Err(ApiError::unauthorized(
                    "credentials are required: send a tenant key as the Basic password, as the api_key query parameter, or as a Bearer token",
                )),
            });
        };
        Ok(match tenants::verify_key_until(&mut conn, &key)? {
            Some((tenant, role, expires)) => {
                if let (Some(cache), Some(digest)) = (&cache, digest) {
                    cache.put(digest, &tenant, role, expires);
                }
                check_role(tenant, role, needed)
            }
            None => Err(ApiError::unauthorized(INVALID_KEY)),
        })
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    outcome.map_err(ApiError::from)?
}

/// The request line for the access log, with the value of every parameter that is
/// (or is spelled like) the key parameter hidden, however its name is encoded.
pub fn redacted_target(req: &actix_web::dev::ServiceRequest) -> String {
    redact_query(req.path(), req.query_string())
}

fn redact_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let hidden: Vec<String> = query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = percent_encoding::percent_decode_str(&name.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned();
            if is_key_param(&decoded) && !value.is_empty() {
                format!("{name}=***")
            } else {
                pair.to_string()
            }
        })
        .collect();
    format!("{path}?{}", hidden.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_the_key_parameter_is_redacted() {
        for query in [
            "api_key=ccf_a_secret",
            "api%5Fkey=ccf_a_secret",
            "api%5fkey=ccf_a_secret",
            "%61pi_key=ccf_a_secret",
            "API_KEY=ccf_a_secret",
            "Api_Key=ccf_a_secret",
        ] {
            let line = redact_query("/odata/Calls", &format!("$top=1&{query}&x=y"));
            assert!(!line.contains("secret"), "{query}: {line}");
            assert!(line.contains("$top=1") && line.ends_with("&x=y"), "{line}");
        }
        assert_eq!(redact_query("/odata/", ""), "/odata/");
        assert_eq!(redact_query("/odata/", "apikey=1"), "/odata/?apikey=1");
    }
}
