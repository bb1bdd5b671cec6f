//! Who is calling: a tenant API key from HTTP Basic (the password; the user name is
//! ignored, so Power BI users can type the tenant name there), from the `api_key`
//! query parameter (Power BI's `ApiKeyName`), or from `Authorization: Bearer`.
//! Without credentials only the demo tenant of a server in demo mode is served.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::AppState;
use super::error::ApiError;
use crate::store::tenants::{self, Role, Tenant};

/// The query parameter that may carry a key.
pub const API_KEY_PARAM: &str = "api_key";

/// The key the request presents, if any.
fn presented_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    if let Some(value) = req.headers().get("Authorization") {
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
        return Err(ApiError::unauthorized(format!(
            "the {scheme} scheme is not supported; use Basic or Bearer"
        )));
    }
    let from_query = crate::uri::decode_query_string(req.query_string())
        .ok()
        .and_then(|pairs| {
            pairs
                .into_iter()
                .find(|(n, _)| n == API_KEY_PARAM)
                .map(|(_, v)| v)
        });
    Ok(from_query)
}

/// The tenant a request acts for, checked against the role it needs.
pub async fn authenticate(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    needed: Role,
) -> Result<Tenant, ApiError> {
    let key = presented_key(req)?;
    let state = state.clone();
    let anonymous = state.settings.anonymous_tenant.clone();
    let outcome = web::block(move || -> Result<Result<Tenant, ApiError>, crate::store::StoreError> {
        let mut conn = state.db.get()?;
        let Some(key) = key else {
            return Ok(match anonymous {
                Some(id) if needed == Role::Read => match tenants::find_tenant(&mut conn, &id)? {
                    Some(t) => Ok(t),
                    None => Err(ApiError::unauthorized("the demo tenant does not exist yet")),
                },
                _ => Err(ApiError::unauthorized(
                    "credentials are required: send a tenant key as the Basic password, as the api_key query parameter, or as a Bearer token",
                )),
            });
        };
        Ok(match tenants::verify_key(&mut conn, &key)? {
            Some((tenant, role)) if role.allows(needed) => Ok(tenant),
            Some((_, role)) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!("this key has the {role} role; this resource needs a {needed} key"),
            )),
            None => Err(match tenants::refusal(&mut conn, &key)? {
                Some(why) => ApiError::unauthorized(format!("this key was {why}")),
                None => ApiError::unauthorized("the key is not valid"),
            }),
        })
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    outcome.map_err(ApiError::from)?
}

/// The request line for the access log, with any `api_key` value hidden.
pub fn redacted_target(req: &actix_web::dev::ServiceRequest) -> String {
    let path = req.path();
    let query = req.query_string();
    if query.is_empty() {
        return path.to_string();
    }
    let hidden: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name == API_KEY_PARAM => format!("{name}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{path}?{}", hidden.join("&"))
}
