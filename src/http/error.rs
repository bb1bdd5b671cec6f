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
            StoreError::Query(diesel::result::Error::DatabaseError(_, ref info))
                if info.message().contains("statement timeout") =>
            {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "QueryTimeout",
                    "the statement ran longer than the time limit (setting statement_timeout_ms); narrow the filter or the time range",
                )
            }
            other => ApiError::internal(&other),
        }
    }
}
