//! The people-facing side of the server: the pages of [`crate::docs`] under `/docs/`,
//! and the same pages at the feed's own addresses when a browser asks for them.
//!
//! A browser navigating to `/`, `/odata/`, `/odata/$metadata` or `/odata/{EntitySet}`
//! sends `Accept: text/html,...` and no query options; [`BrowserPage`] routes exactly
//! those requests here, before the OData handlers. Every other request (Power Query,
//! `*/*`, JSON or XML, anything with `$format` or another option) never matches, so OData
//! clients get byte for byte what they got before the pages existed.
//!
//! Pages authenticate like the feed: open in demo mode, otherwise the same 401 Basic
//! challenge, and row counts only for the caller's tenant.

use actix_web::guard::{Guard, GuardContext};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::auth;
use super::error::ApiError;
use super::handlers::service_root;
use super::negotiate;
use crate::docs::{self, Site};
use crate::edm::SetId;
use crate::jobs::{self, Job};
use crate::plan;
use crate::store::tenants::{Role, Tenant};
use crate::store::{self, StoreError};
use crate::uri::QueryOptions;

type State = web::Data<AppState>;

const HTML: &str = "text/html; charset=utf-8";

/// The pages load nothing from elsewhere and run no script; the browser enforces it.
const PAGE_POLICY: &str = "default-src 'self'; style-src 'unsafe-inline'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'";

/// Matches a browser's page request: HTML is its first choice and the URL has no
/// query options (a key in `api_key` aside).
pub struct BrowserPage;

impl BrowserPage {
    /// Whether a request wants a page: HTML first in `Accept`, and no query options
    /// but a key.
    pub fn matches(head: &actix_web::dev::RequestHead) -> bool {
        let accept = head
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok());
        let plain = head.uri.query().is_none_or(|q| {
            q.split('&')
                .all(|pair| pair.is_empty() || pair.split('=').next() == Some(auth::API_KEY_PARAM))
        });
        plain && negotiate::prefers_html(accept)
    }
}

impl Guard for BrowserPage {
    fn check(&self, ctx: &GuardContext<'_>) -> bool {
        BrowserPage::matches(ctx.head())
    }
}

/// The caller's tenant and what every page shows about the server.
async fn site_for<'a>(req: &HttpRequest, state: &'a State) -> Result<(Tenant, Site<'a>), ApiError> {
    let tenant = auth::authenticate(req, state, Role::Read).await?;
    let scoped = tenant.clone();
    let task_state = state.clone();
    let last = web::block(move || -> Result<Option<String>, StoreError> {
        let mut conn = task_state.db.get()?;
        Ok(jobs::history(&mut conn, Job::Refresh, &scoped, 1)?
            .into_iter()
            .next()
            .map(|run| format!("{} ({})", run.finished_at_utc, run.outcome)))
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    let site = Site {
        model: &state.model,
        service_root: service_root(req, state),
        service_path: super::ROOT,
        tenant: tenant.name.clone(),
        demo: state.settings.anonymous_tenant.is_some(),
        refresh_at: state.settings.schedule.refresh_at,
        last_refresh: last,
    };
    Ok((tenant, site))
}

/// Row counts of the given sets for one tenant, through the feed's own `/$count` path
/// (the same plan and SQL), so the numbers are exactly what a client would get.
async fn counts(state: &State, tenant: &Tenant, sets: Vec<SetId>) -> Result<Vec<i64>, ApiError> {
    let planner = plan::Planner::new(&state.model, &state.settings.limits);
    let options = QueryOptions::default();
    let mut queries = Vec::with_capacity(sets.len());
    for set in sets {
        let plan = planner.count(set, None, &tenant.id, &options)?;
        queries.push(
            store::compile(&state.model, tenant.scope(), &plan, state.db.dialect())
                .map_err(StoreError::from)?,
        );
    }
    let task_state = state.clone();
    let counts = web::block(move || -> Result<Vec<i64>, StoreError> {
        let mut conn = task_state.db.get()?;
        queries
            .iter()
            .map(|query| store::count(&mut conn, query))
            .collect()
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    Ok(counts)
}

fn html(page: Result<String, askama::Error>) -> Result<HttpResponse, ApiError> {
    let body = page.map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok()
        .content_type(HTML)
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_POLICY))
        .body(body))
}

pub async fn landing(req: HttpRequest, state: State) -> Result<HttpResponse, ApiError> {
    let (_, site) = site_for(&req, &state).await?;
    html(docs::landing_page(&site))
}

pub async fn index(req: HttpRequest, state: State) -> Result<HttpResponse, ApiError> {
    let query = crate::uri::decode_query_string(req.query_string())?
        .into_iter()
        .find(|(name, _)| name == "q")
        .map(|(_, value)| value)
        .unwrap_or_default();
    let (tenant, site) = site_for(&req, &state).await?;
    let all = state.model.entity_sets().iter().map(|s| s.id()).collect();
    let counts: Vec<Option<i64>> = counts(&state, &tenant, all)
        .await?
        .into_iter()
        .map(Some)
        .collect();
    html(docs::index_page(&site, &counts, &query))
}

/// A table's page. At `/odata/{name}` a name that is no entity set is left to the
/// OData handler, which answers it as it always has.
pub async fn table(req: HttpRequest, state: State) -> Result<HttpResponse, ApiError> {
    let name = req.match_info().get("set").unwrap_or_default().to_string();
    table_named(req, state, name).await
}

/// The page of the set `name`, for `/docs/tables/{name}` and for a browser at
/// `/odata/{name}`.
pub async fn table_named(
    req: HttpRequest,
    state: State,
    name: String,
) -> Result<HttpResponse, ApiError> {
    let Some(set) = state.model.entity_set(&name) else {
        return Err(ApiError::not_found(format!(
            "there is no table '{name}'; the list is at /docs/tables/"
        )));
    };
    let (tenant, site) = site_for(&req, &state).await?;
    let rows = counts(&state, &tenant, vec![set.id()]).await?;
    html(docs::table_page(&site, set, rows.first().copied()))
}

pub async fn diagram(req: HttpRequest, state: State) -> Result<HttpResponse, ApiError> {
    let (_, site) = site_for(&req, &state).await?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_POLICY))
        .body(docs::diagram_svg(&state.model, &site.docs_root())))
}

pub async fn pbids(req: HttpRequest, state: State) -> Result<HttpResponse, ApiError> {
    let (_, site) = site_for(&req, &state).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"ccfeed.pbids\"",
        ))
        .body(docs::pbids(&site.feed_url())))
}

/// The OpenAPI description. Like `$metadata` it describes the model only, so it is
/// served without credentials.
pub async fn openapi(req: HttpRequest, state: State) -> HttpResponse {
    let root = service_root(&req, &state);
    HttpResponse::Ok().content_type("application/json").body(
        docs::openapi(
            &state.model,
            &root,
            state.settings.anonymous_tenant.is_some(),
        )
        .to_string(),
    )
}

/// Registers the pages: stable addresses under `/docs/`, the OpenAPI document, and the
/// browser routes in front of the feed's own. Call before the OData routes.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/docs", web::get().to(landing))
        // A scope: feed requests pass it with one prefix comparison.
        .service(
            web::scope("/docs")
                .route("/", web::get().to(landing))
                .route("/tables", web::get().to(index))
                .route("/tables/", web::get().to(index))
                .route("/tables/{set}", web::get().to(table))
                .route("/model.svg", web::get().to(diagram))
                .route("/ccfeed.pbids", web::get().to(pbids)),
        )
        .route("/odata/openapi.json", web::get().to(openapi))
        .route("/", web::get().guard(BrowserPage).to(landing))
        .route(super::ROOT, web::get().guard(BrowserPage).to(landing))
        .route("/odata/", web::get().guard(BrowserPage).to(landing))
        .route("/odata/$metadata", web::get().guard(BrowserPage).to(index));
    // `/odata/{set}` for a browser is decided in the feed's own handler, so feed
    // requests pay no extra route match (`handlers::resource`).
}
