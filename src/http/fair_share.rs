//! Fair share per key: how many requests one credential may have in progress and how
//! many it may start per minute (settings `key_max_concurrent` and
//! `key_requests_per_minute`). Beyond either the request is answered at once with 429
//! and a `Retry-After`, before it costs a database connection, so one tenant pulling
//! with a hundred connections cannot starve another's point queries.
//!
//! A request counts as in progress until its response body has been produced: the
//! permit travels with the body, so a page that streams for minutes keeps counting.
//! Callers are told apart by the key they present (see [`super::auth::caller_identity`]),
//! so a tenant's keys each get a share; requests without a key share one, except in
//! demo mode, where the keyless caller is the local user and is not limited.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::{Bytes, Data};
use actix_web::{Error, ResponseError};

use super::auth::caller_identity;
use super::error::ApiError;
use crate::config::FairShare;

/// Most callers tracked at once; beyond it, idle callers with a full bucket are dropped.
const TRACKED_CALLERS: usize = 10_000;

/// The per-key counters of one server.
pub struct FairShareLimiter {
    limits: FairShare,
    callers: Mutex<HashMap<[u8; 32], Caller>>,
}

struct Caller {
    in_progress: usize,
    /// Requests that may still start now (a token bucket of `requests_per_minute`).
    tokens: f64,
    refilled: Instant,
}

/// Why a request may not start now, and when to try again (whole seconds, at least 1).
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Concurrency { retry_after: u64 },
    Rate { retry_after: u64 },
}

/// A started request's place in its caller's count; given back when dropped.
pub struct Permit {
    limiter: Arc<FairShareLimiter>,
    caller: [u8; 32],
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Ok(mut callers) = self.limiter.callers.lock()
            && let Some(c) = callers.get_mut(&self.caller)
        {
            c.in_progress = c.in_progress.saturating_sub(1);
        }
    }
}

impl FairShareLimiter {
    pub fn new(limits: FairShare) -> FairShareLimiter {
        FairShareLimiter {
            limits,
            callers: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a request for `caller`, or says why not.
    pub fn start(self: &Arc<Self>, caller: [u8; 32]) -> Result<Option<Permit>, Refusal> {
        let FairShare {
            max_concurrent,
            requests_per_minute,
        } = self.limits;
        if max_concurrent == 0 && requests_per_minute == 0 {
            return Ok(None);
        }
        // A poisoned lock only means another request panicked while counting; the
        // counts are still usable.
        let mut callers = self.callers.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let capacity = f64::from(requests_per_minute);
        if callers.len() >= TRACKED_CALLERS {
            callers.retain(|_, c| c.in_progress > 0 || c.refill(now, capacity) < capacity);
        }
        let c = callers.entry(caller).or_insert(Caller {
            in_progress: 0,
            tokens: capacity,
            refilled: now,
        });
        if max_concurrent > 0 && c.in_progress >= max_concurrent {
            return Err(Refusal::Concurrency { retry_after: 1 });
        }
        if requests_per_minute > 0 {
            let tokens = c.refill(now, capacity);
            if tokens < 1.0 {
                let per_second = capacity / 60.0;
                let wait = ((1.0 - tokens) / per_second).ceil().max(1.0);
                return Err(Refusal::Rate {
                    retry_after: wait as u64,
                });
            }
            c.tokens = tokens - 1.0;
        }
        c.in_progress += 1;
        Ok(Some(Permit {
            limiter: self.clone(),
            caller,
        }))
    }
}

impl Caller {
    /// The bucket's level now (and remembers it).
    fn refill(&mut self, now: Instant, capacity: f64) -> f64 {
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * capacity / 60.0).min(capacity);
        self.refilled = now;
        self.tokens
    }
}

impl Refusal {
    fn into_error(self) -> (ApiError, u64) {
        let (message, retry_after) = match self {
            Refusal::Concurrency { retry_after } => (
                "this key already has as many requests in progress as it may (setting key_max_concurrent); retry when one has finished",
                retry_after,
            ),
            Refusal::Rate { retry_after } => (
                "this key has started as many requests this minute as it may (setting key_requests_per_minute); retry after the time in Retry-After",
                retry_after,
            ),
        };
        (
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", message),
            retry_after,
        )
    }
}

/// A response body that holds its request's permit until the body is done.
struct HeldBody {
    body: BoxBody,
    permit: Option<Permit>,
}

impl MessageBody for HeldBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let next = Pin::new(&mut self.body).poll_next(cx);
        if matches!(next, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.permit = None;
        }
        next
    }
}

/// The middleware: counts the request against its caller, or answers 429.
pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(limiter) = req.app_data::<Data<FairShareLimiter>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let caller = caller_identity(req.headers(), req.query_string());
    // In demo mode the keyless caller is the one person at this machine (the
    // server listens on loopback only): Power BI's parallel refresh and the
    // benchmarks must not share one key's quota.
    let demo = req
        .app_data::<Data<super::AppState>>()
        .is_some_and(|state| state.settings.anonymous_tenant.is_some());
    if demo && caller == caller_identity(&actix_web::http::header::HeaderMap::new(), "") {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    match limiter.into_inner().start(caller) {
        Ok(permit) => {
            let res = next.call(req).await?;
            Ok(res.map_body(|_, body| {
                BoxBody::new(HeldBody {
                    body: BoxBody::new(body),
                    permit,
                })
            }))
        }
        Err(refusal) => {
            let (error, retry_after) = refusal.into_error();
            let mut response = error.error_response();
            if let Ok(value) = retry_after.to_string().parse() {
                response
                    .headers_mut()
                    .insert(actix_web::http::header::RETRY_AFTER, value);
            }
            Ok(req.into_response(response))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_and_rate_are_counted_per_caller() {
        let limiter = Arc::new(FairShareLimiter::new(FairShare {
            max_concurrent: 2,
            requests_per_minute: 3,
        }));
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let first = limiter.start(a).unwrap();
        let second = limiter.start(a).unwrap();
        assert_eq!(
            limiter.start(a).err(),
            Some(Refusal::Concurrency { retry_after: 1 })
        );
        // Another caller is not affected.
        assert!(limiter.start(b).unwrap().is_some());
        drop(first);
        drop(second);
        // The bucket of three is empty now: the fourth start waits ~20 s for a token.
        let third = limiter.start(a).unwrap();
        drop(third);
        match limiter.start(a) {
            Err(Refusal::Rate { retry_after }) => assert!((1..=20).contains(&retry_after)),
            other => panic!(
                "expected a rate refusal, got {:?}",
                other.map(|p| p.is_some())
            ),
        }
        let off = Arc::new(FairShareLimiter::new(FairShare {
            max_concurrent: 0,
            requests_per_minute: 0,
        }));
        assert!(off.start(a).unwrap().is_none());
    }
}
