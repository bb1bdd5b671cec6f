//! One error type for every handler, rendered as the OData JSON error body with the
//! right status. Unexpected failures are logged with their full cause and a request
//! id; the client gets the id and a generic message, never internals.

use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::plan::{PlanError, PlanErrorKind};
use crate::store::StoreError;
use crate::uri::{UriError, UriErrorKind};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub target: Option<String>,
    pub details: Vec<serde_json::Value>,
    challenge: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            target: None,
            details: Vec::new(),
            challenge: false,
        }
    }

    pub fn with_target(mut self, target: impl Into<String>) -> ApiError {
        self.target = Some(target.into());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    pub fn not_acceptable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_ACCEPTABLE, "NotAcceptable", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError {
            challenge: true,
            ..ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
        }
    }

    /// Logs the cause under a fresh request id and returns a 500 that quotes the id.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = format!(
            "{:x}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        tracing::error!(request_id = %id, "request failed: {cause}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!(
                "the server could not complete the request; the log has details under request id {id}"
            ),
        )
    }

    pub fn body(&self) -> serde_json::Value {
        let mut error =
            json!({ "code": self.code, "message": self.message, "details": self.details });
        if let Some(target) = &self.target {
            error["target"] = json!(target);
        }
        json!({ "error": error })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        resp.insert_header((header::CONTENT_TYPE, super::negotiate::JSON_MINIMAL));
        if self.challenge {
            resp.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"ccfeed\""),
            ));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.insert_header((header::RETRY_AFTER, "5"));
        }
        resp.body(self.body().to_string())
    }
}

impl From<UriError> for ApiError {
    fn from(e: UriError) -> ApiError {
        let (status, code) = match e.kind {
            UriErrorKind::UnknownOption => (StatusCode::BAD_REQUEST, "UnknownQueryOption"),
            UriErrorKind::DuplicateOption => (StatusCode::BAD_REQUEST, "DuplicateQueryOption"),
            UriErrorKind::Encoding => (StatusCode::BAD_REQUEST, "BadEncoding"),
            UriErrorKind::TooDeep => (StatusCode::BAD_REQUEST, "TooDeep"),
            UriErrorKind::InvalidLiteral => (StatusCode::BAD_REQUEST, "InvalidLiteral"),
            _ => (StatusCode::BAD_REQUEST, "SyntaxError"),
        };
        ApiError::new(status, code, e.to_string()).with_target(e.option)
    }
}

impl From<PlanError> for ApiError {
    fn from(e: PlanError) -> ApiError {
        let (status, code) = match e.kind {
            PlanErrorKind::Invalid => (StatusCode::BAD_REQUEST, "InvalidQuery"),
            PlanErrorKind::NotImplemented => (StatusCode::NOT_IMPLEMENTED, "NotImplemented"),
            PlanErrorKind::Internal => return ApiError::internal(&e),
        };
        ApiError::new(status, code, e.to_string()).with_target(e.option)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Pool(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Busy",
                "all database connections are in use; retry shortly",
            ),
            StoreError::Busy(cause) => {
                tracing::warn!("a request waited too long for a database lock: {cause}");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Busy",
                    "the database is busy with another write; retry shortly",
                )
            }
            StoreError::Timeout(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "QueryTimeout",
                format!("{e}; narrow the filter or the time range"),
            ),
            ref e if e.is_statement_timeout() => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "QueryTimeout",
                "the statement ran longer than the time limit (setting statement_timeout_ms); narrow the filter or the time range",
            ),
            other => ApiError::internal(&other),
        }
    }
}

/// The error code for a status the handlers do not produce themselves.
fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        408 => "RequestTimeout",
        411 => "LengthRequired",
        413 => "PayloadTooLarge",
        414 => "UriTooLong",
        415 => "UnsupportedMediaType",
        417 => "ExpectationFailed",
        429 => "TooManyRequests",
        431 => "RequestHeaderFieldsTooLarge",
        503 => "Busy",
        s if s >= 500 => "InternalError",
        _ => "BadRequest",
    }
}

/// An OData error for a status, worded for errors that come from the HTTP layer
/// rather than from ccfeed's own checks (extractors, payload limits, defaults).
pub fn for_status(status: StatusCode) -> ApiError {
    let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
    ApiError::new(
        status,
        code_for(status),
        format!("the request was refused by the HTTP layer: {reason}"),
    )
}

/// The last middleware before the client: any error response that is not already an
/// OData error body (one produced by a layer other than the handlers, e.g. an
/// extractor or a payload limit) gets one, without quoting what the client sent; and
/// every 503 and 429 carries `Retry-After`.
pub async fn odata_errors(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let mut res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    if status.is_client_error() || status.is_server_error() {
        let is_odata = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_odata {
            if let Some(cause) = res.response().error() {
                tracing::debug!("{status} from the HTTP layer: {cause}");
            }
            let (req, old) = res.into_parts();
            let mut replacement = for_status(status).error_response();
            // Keep what the original said beyond its body (a challenge, an Allow list).
            for (name, value) in old.headers() {
                if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                    replacement
                        .headers_mut()
                        .insert(name.clone(), value.clone());
                }
            }
            res = actix_web::dev::ServiceResponse::new(req, replacement);
        }
        if (status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS)
            && !res.headers().contains_key(header::RETRY_AFTER)
        {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, test, web};

    use super::*;

    #[actix_web::test]
    async fn an_internal_plan_error_is_a_500() {
        let e = ApiError::from(crate::plan::PlanError::internal("no entity set #99"));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            !e.body().to_string().contains("#99"),
            "the cause stays in the log"
        );
    }

    #[actix_web::test]
    async fn errors_from_any_layer_become_odata_bodies() {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(odata_errors))
                .route(
                    "/busy",
                    web::get().to(|| async { HttpResponse::ServiceUnavailable().body("busy") }),
                )
                .route(
                    "/json",
                    web::post().to(|_: web::Json<serde_json::Value>| async { "ok" }),
                )
                .route(
                    "/own",
                    web::get().to(|| async { Err::<HttpResponse, _>(ApiError::not_found("gone")) }),
                ),
        )
        .await;
        let call = |req: test::TestRequest| {
            let app = &app;
            async move {
                let res = test::call_service(app, req.to_request()).await;
                let status = res.status();
                let headers = res.headers().clone();
                let body: serde_json::Value = test::read_body_json(res).await;
                (status, headers, body)
            }
        };
        // A plain-text 503 from a handler: OData body and Retry-After.
        let (status, headers, body) = call(test::TestRequest::get().uri("/busy")).await;
        assert_eq!(status, 503);
        assert!(headers.contains_key(header::RETRY_AFTER));
        assert_eq!(body["error"]["code"], "Busy");
        // The JSON extractor's own error, which would quote the body it could not read.
        let (status, _, body) = call(
            test::TestRequest::post()
                .uri("/json")
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload("{\"secret\": ccf_x_y"),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(body["error"]["code"], "BadRequest");
        assert!(!body.to_string().contains("ccf_x_y"), "{body}");
        // actix's default 404 for an unrouted path.
        let (status, _, body) = call(test::TestRequest::get().uri("/nowhere")).await;
        assert_eq!(status, 404);
        assert_eq!(body["error"]["code"], "NotFound");
        // The handlers' own errors pass unchanged.
        let (status, _, body) = call(test::TestRequest::get().uri("/own")).await;
        assert_eq!(status, 404);
        assert_eq!(body["error"]["message"], "gone");
    }
}
