//! The actix-web application: routes under `/odata`, content negotiation, the
//! `OData-Version` header on every response, gzip when the client allows it, and
//! streaming of pages from a blocking database task through a bounded channel.
//!
//! Handlers are thin: they turn the request into a [`crate::plan::QueryPlan`] and
//! hand it to the store on a blocking thread, so a long page never stalls the async
//! workers serving other requests.

mod admin;
mod auth;
mod batch;
pub mod body;
mod docs;
mod error;
mod fair_share;
mod guard;
mod handlers;
mod ingest;
pub mod json;
mod metadata;
pub mod negotiate;
mod path;
mod prefetch;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_service::{IntoServiceFactory, ServiceFactoryExt, map_config};
use actix_web::dev::{AppConfig, Server, fn_service};
use actix_web::http::StatusCode;
use actix_web::middleware::{Compress, DefaultHeaders, Logger, from_fn};
use actix_web::{App, web};

pub use error::ApiError;
pub use prefetch::counts as prefetch_counts;

use crate::config::Settings;
use crate::edm::Model;
use crate::store::Db;

/// What every handler shares.
pub struct AppState {
    pub model: Arc<Model>,
    pub db: Db,
    pub settings: Settings,
}

/// Path of the service root.
pub const ROOT: &str = "/odata";

/// Builds the server on an already bound listener (port 0 in tests) and starts it.
pub fn start(state: Arc<AppState>, listener: TcpListener) -> std::io::Result<Server> {
    let workers = state.settings.workers.max(1);
    let keys = web::Data::new(auth::KeyCache::new(std::time::Duration::from_secs(
        state.settings.key_cache_seconds,
    )));
    let metadata = web::Data::new(
        metadata::MetadataDocuments::new(crate::edm::capabilities::Capabilities {
            max_expand_depth: state.settings.limits.max_expand_depth,
        })
        .map_err(std::io::Error::other)?,
    );
    let prefetcher = web::Data::new(prefetch::Prefetcher::new(
        state.settings.prefetch.memory_bytes,
        state.settings.prefetch.idle,
    ));
    let fair_share = web::Data::new(fair_share::FairShareLimiter::new(state.settings.fair_share));
    let data = web::Data::from(state);
    let addr = listener.local_addr()?;
    let app = move || {
        App::new()
            .app_data(data.clone())
            .app_data(keys.clone())
            .app_data(metadata.clone())
            .app_data(fair_share.clone())
            .app_data(prefetcher.clone())
            .wrap(from_fn(fair_share::limit))
            .wrap(from_fn(error::odata_errors))
            .wrap(Compress::default())
            .wrap(DefaultHeaders::new().add(("OData-Version", "4.0")))
            .wrap(
                Logger::new("%{target}xi %s %b bytes %T s")
                    .custom_request_replace("target", |req| {
                        format!("{} {}", req.method(), auth::redacted_target(req))
                    })
                    .log_target("ccfeed::http"),
            )
            // People's pages first: their browser routes answer only browsers.
            .configure(docs::routes)
            .route("/", web::get().to(handlers::home))
            .route(ROOT, web::get().to(handlers::service_document))
            .route("/odata/", web::get().to(handlers::service_document))
            .route("/odata/$metadata", web::get().to(metadata::metadata))
            .route("/odata/$batch", web::post().to(batch::batch))
            .route("/odata/{resource:.*}", web::get().to(handlers::resource))
            .route("/ingest/import/{format}", web::post().to(ingest::import))
            .route("/ingest/{entity_set}", web::post().to(ingest::ingest))
            .route(
                "/admin/refresh-lookups",
                web::post().to(admin::refresh_lookups),
            )
            .route("/admin/purge", web::post().to(admin::purge))
            .route("/admin/jobs/{job}", web::get().to(admin::history))
            .route(
                &format!("{}/{{status}}", guard::REFUSED_PATH),
                web::get().to(refused),
            )
            .default_service(web::to(handlers::fallback))
    };
    // What actix-web's HttpServer does, with the connection guard between the socket
    // and the HTTP/1.1 dispatcher (see `guard`).
    let server = actix_server::Server::build()
        .workers(workers)
        .listen("ccfeed", listener, move || {
            let http = actix_http::HttpService::build()
                // The guard times request heads (answering 408 with an OData body);
                // actix-http's own timer would answer an empty one first.
                .client_request_timeout(Duration::ZERO)
                .client_disconnect_timeout(Duration::from_secs(1))
                // A client that closes its side is gone (no feed client half-closes
                // and then waits for an answer): the request is dropped at once, which
                // stops its statement (`store::deadline`, `store::cancel`).
                .h1_allow_half_closed(false)
                .local_addr(addr)
                .finish(map_config(app().into_factory(), |_| AppConfig::default()));
            fn_service(|io: actix_web::rt::net::TcpStream| async move {
                // Small responses go out at once instead of waiting for the client's
                // delayed ACK (Nagle's algorithm), which otherwise adds ~40 ms to
                // every short request.
                let _ = io.set_nodelay(true);
                let peer = io.peer_addr().ok();
                Ok::<_, actix_http::error::DispatchError>((
                    guard::GuardedStream::new(io),
                    actix_http::Protocol::Http1,
                    peer,
                ))
            })
            .and_then(http)
        })?
        .run();
    Ok(server)
}

/// Answers the stand-in request the connection guard passes on for a request head
/// that could not be taken.
async fn refused(status: web::Path<u16>, state: web::Data<AppState>) -> Result<String, ApiError> {
    let max_url = state.settings.limits.max_url_length;
    Err(match *status {
        414 => ApiError::new(
            StatusCode::URI_TOO_LONG,
            "UriTooLong",
            format!(
                "the URL is longer than this server accepts (at most {max_url} bytes, setting max_url_length)"
            ),
        ),
        408 => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeout",
            format!(
                "the request head did not arrive within {} seconds",
                guard::HEAD_TIMEOUT.as_secs()
            ),
        ),
        431 => ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "RequestHeaderFieldsTooLarge",
            "the request headers are larger than this server accepts (at most 96 headers and 120 KiB)",
        ),
        _ => ApiError::bad_request("the request is not well-formed HTTP/1.1"),
    })
}
