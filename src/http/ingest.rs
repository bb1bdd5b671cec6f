//! `POST /ingest/{EntitySet}` and `POST /ingest/import/{format}`: the HTTP face of
//! [`crate::ingest`]. The body streams from the connection through a bounded channel
//! into a blocking task that parses and writes it (gunzipping when `Content-Encoding:
//! gzip`), so the async workers stay free; NDJSON batches never sit in memory whole
//! (an export document for the importers is read whole, within `max_ingest_bytes`).

use std::io::Read;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;

use super::AppState;
use super::auth;
use super::error::ApiError;
use crate::ingest::import::{self, Format, ImportError, ImportOptions};
use crate::ingest::{self, IngestError, Limited};
use crate::store::tenants::Role;

/// A blocking reader over body chunks arriving on a channel.
struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// A 400 whose details list each rejected record: its message and the property or
/// source field it concerns.
fn invalid_records<'a>(
    message: String,
    problems: impl Iterator<Item = (String, Option<&'a str>)>,
) -> ApiError {
    let mut api = ApiError::new(StatusCode::BAD_REQUEST, "InvalidRecord", message);
    api.details = problems
        .map(|(message, target)| json!({ "code": "InvalidRecord", "message": message, "target": target }))
        .collect();
    api
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> ApiError {
        match e {
            IngestError::Invalid(ref errors) => invalid_records(
                e.to_string(),
                errors
                    .iter()
                    .map(|r| (r.to_string(), r.property.as_deref())),
            ),
            IngestError::NotAccepted(message) => ApiError::bad_request(message),
            IngestError::TooLarge(_) | IngestError::LineTooLong { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "TooLarge", e.to_string())
            }
            IngestError::Body(io) => {
                ApiError::bad_request(format!("the body could not be read: {io}"))
            }
            IngestError::BodyTimeout(_) => {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "BodyTimeout", e.to_string())
            }
            IngestError::Spool(io) => ApiError::internal(&io),
            IngestError::Store(store) => store.into(),
        }
    }
}

pub async fn ingest(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth::authenticate(&req, &state, Role::Ingest).await?;
    let set_name = path.into_inner();
    if state.model.entity_set(&set_name).is_none() {
        return Err(ApiError::not_found(format!(
            "there is no entity set '{set_name}' to write to"
        )));
    }
    let report = with_body(&req, &state, payload, move |body, state| {
        // The whole body is read and checked before a connection is taken.
        Ok(ingest::ingest(
            &state.db,
            &state.model,
            &tenant,
            &set_name,
            body,
            state.settings.max_line_bytes,
            &mut |_| {},
        )?)
    })
    .await?;
    tracing::info!(
        entity_set = %report.entity_set,
        inserted = report.inserted,
        updated = report.updated,
        "ingested a batch"
    );
    Ok(HttpResponse::Ok().json(report))
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> ApiError {
        match e {
            ImportError::Invalid(ref errors) => invalid_records(
                e.to_string(),
                errors
                    .iter()
                    .map(|r| (r.to_string(), Some(r.field.as_str()))),
            ),
            ImportError::Ingest(e) => e.into(),
        }
    }
}

#[derive(serde::Deserialize)]
pub struct ImportQuery {
    /// Minutes east of UTC of the export's local timestamps.
    #[serde(rename = "timeZoneOffset")]
    time_zone_offset: Option<i32>,
}

/// `POST /ingest/import/{format}`: one export document (Genesys conversation details or
/// Kore.ai call details), applied whole or not at all.
pub async fn import(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: Result<web::Query<ImportQuery>, actix_web::Error>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth::authenticate(&req, &state, Role::Ingest).await?;
    let name = path.into_inner();
    let format = Format::parse(&name).ok_or_else(|| {
        ApiError::not_found(format!(
            "there is no importer '{name}'; the formats are genesys and koreai"
        ))
    })?;
    let query = query.map_err(|_| {
        ApiError::bad_request(
            "timeZoneOffset must be a whole number of minutes east of UTC, e.g. 330 or -300",
        )
    })?;
    let options = ImportOptions {
        time_zone_offset_minutes: query.time_zone_offset,
    };
    let report = with_body(&req, &state, payload, move |body, state| {
        Ok(import::import(
            &state.db,
            &state.model,
            &tenant,
            format,
            body,
            &options,
            &mut |_, _| {},
        )?)
    })
    .await?;
    tracing::info!(
        format = report.format,
        conversations = report.conversations,
        "imported an export"
    );
    Ok(HttpResponse::Ok().json(report))
}

/// Streams the request body into `work`, which runs on a blocking thread and reads it
/// through the size limit (`max_ingest_bytes`, also after gunzip). A body that has not
/// arrived completely within `ingest_body_timeout_seconds` is refused with a 408.
async fn with_body<T: Send + 'static>(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    mut payload: web::Payload,
    work: impl FnOnce(Box<dyn Read>, &AppState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let limit = state.settings.max_ingest_bytes;
    if let Some(length) = req
        .headers()
        .get("Content-Length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && length > limit
    {
        return Err(IngestError::TooLarge(limit).into());
    }
    let gzip = match req
        .headers()
        .get("Content-Encoding")
        .and_then(|v| v.to_str().ok())
    {
        None | Some("identity") => false,
        Some(v) if v.eq_ignore_ascii_case("gzip") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedEncoding",
                format!("Content-Encoding {other} is not supported; send gzip or no encoding"),
            ));
        }
    };

    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let task_state = state.clone();
    let task = actix_web::rt::task::spawn_blocking(move || {
        let raw = Limited::new(
            ChannelReader {
                rx,
                current: Bytes::new(),
            },
            limit,
        );
        let body: Box<dyn Read> = if gzip {
            // The limit applies to the decompressed bytes too.
            Box::new(Limited::new(flate2::read::MultiGzDecoder::new(raw), limit))
        } else {
            Box::new(raw)
        };
        work(body, &task_state)
    });
    let timeout = state.settings.ingest_body_timeout;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let item = match actix_web::rt::time::timeout(left, payload.next()).await {
            Ok(Some(chunk)) => chunk.map_err(|e| std::io::Error::other(e.to_string())),
            Ok(None) => break,
            // Tell the reader, so a cut-off body is never taken for a complete one.
            Err(_) => Err(ingest::body_timed_out(timeout)),
        };
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            break; // the reader stopped (it failed or is done) or the body broke
        }
    }
    drop(tx);
    task.await.map_err(|e| ApiError::internal(&e))?
}
