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
mod handlers;
mod ingest;
pub mod json;
pub mod negotiate;
mod path;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{Compress, DefaultHeaders, Logger};
use actix_web::{App, HttpServer, web};

pub use error::ApiError;

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
    let data = web::Data::from(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(keys.clone())
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
            .route("/odata/$metadata", web::get().to(handlers::metadata))
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
            .default_service(web::to(handlers::fallback))
    })
    // Small responses go out at once instead of waiting for the client's delayed ACK
    // (Nagle's algorithm), which otherwise adds ~40 ms to every short request.
    .on_connect(|connection, _| {
        if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
            let _ = tcp.set_nodelay(true);
        }
    })
    .workers(workers)
    .listen(listener)?
    .run();
    Ok(server)
}
