//! Admin endpoints for a tenant, with an `admin` key: run the lookup refresh or the
//! retention purge now, and read the recent runs.
//!
//! - `POST /admin/refresh-lookups` → the changes per lookup set
//! - `POST /admin/purge` (`?dryRun=true` only counts) → rows per entity set
//! - `GET /admin/jobs/{refresh|purge}` → the last 50 runs

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde_json::json;

use super::AppState;
use super::auth;
use super::error::ApiError;
use crate::jobs::{self, Job, purge, refresh};
use crate::store::tenants::Role;

pub async fn refresh_lookups(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth::authenticate(&req, &state, Role::Admin).await?;
    let task = state.clone();
    let result = web::block(move || {
        refresh::run(
            &task.db,
            &task.model,
            &tenant,
            Utc::now(),
            &task.settings.schedule.refresh,
        )
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    match result {
        Ok(report) => Ok(HttpResponse::Ok().json(json!({ "sets": report }))),
        Err(refresh::RefreshError::Store(e)) => Err(e.into()),
        Err(refresh::RefreshError::Busy) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "RefreshRunning",
            refresh::RefreshError::Busy.to_string(),
        )),
        Err(refresh::RefreshError::NoSource) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "NoDirectorySource",
            refresh::RefreshError::NoSource.to_string(),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "RefreshFailed",
            format!("{e}; nothing was changed"),
        )),
    }
}

pub async fn purge(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let tenant = auth::authenticate(&req, &state, Role::Admin).await?;
    let mut dry_run = false;
    for (name, value) in crate::uri::decode_query_string(req.query_string())? {
        if name == "dryRun" {
            dry_run = match value.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "dryRun must be true or false, not '{value}'"
                    )));
                }
            };
        }
    }
    let task = state.clone();
    let counts = web::block(move || {
        let chunk = task.settings.schedule.purge_chunk;
        if dry_run {
            let mut conn = task.db.get()?;
            purge::purge_tenant(&mut conn, &task.model, &tenant, Utc::now(), true, chunk)
        } else {
            purge::run(&task.db, &task.model, &tenant, Utc::now(), chunk)
        }
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    Ok(HttpResponse::Ok().json(json!({ "dryRun": dry_run, "rows": counts })))
}

pub async fn history(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth::authenticate(&req, &state, Role::Admin).await?;
    let job = match path.as_str() {
        "refresh" => Job::Refresh,
        "purge" => Job::Purge,
        other => {
            return Err(ApiError::not_found(format!(
                "no job '{other}'; use refresh or purge"
            )));
        }
    };
    let task = state.clone();
    let runs = web::block(move || {
        let mut conn = task.db.get()?;
        jobs::history(&mut conn, job, &tenant, 50)
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    Ok(HttpResponse::Ok().json(json!({ "runs": runs })))
}
