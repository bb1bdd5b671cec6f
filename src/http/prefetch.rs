//! Pipelined paging: when a page goes out with an `@odata.nextLink`, the server
//! produces the next page while the client is still reading this one, so the two take
//! turns less. Power BI and Excel follow nextLinks strictly one after another; without
//! this the server idles while the client parses page k and the client waits while the
//! server produces page k+1.
//!
//! A prefetched page is the answer the same pipeline ([`super::handlers::read`]) gives
//! to the nextLink, collected into memory. It is served only to a request for exactly
//! that URL, with the same credential, tenant, `Accept`, `Prefer` and content coding,
//! after that request has been authenticated like any other; once, and only while
//!
//! - it is younger than the idle time (`prefetch_idle_ms`): a client that does not come
//!   back soon has its page dropped, and
//! - no write has committed in this process since it was started
//!   ([`store::data_generation`]), so it holds what a fresh read would.
//!
//! Memory is bounded by one global budget (`prefetch_memory_mb`; 0 turns prefetching
//! off), and at most one page per chain is ahead, since only a served page starts the
//! next prefetch. A prefetch is not started unless the budget has room for a page the
//! size of the one just served (the next page of a chain is about as large: same
//! query, same page size, same coding), and that room is reserved from the start, so
//! concurrent chains cannot overcommit it either. Work is never done only to be
//! dropped: a chain whose pages do not fit (a 10,000-row page without compression is
//! some 10 MB) is simply not produced ahead. Only a page larger than its estimate that
//! no longer fits is dropped once produced.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{ContentEncoding, HeaderMap};
use bytes::Bytes;
use tokio::sync::{oneshot, watch};

use crate::store;

/// Prefetches started, and pages produced ahead and kept: process totals, for tests
/// and diagnostics (see [`counts`]).
static PREFETCHES_STARTED: AtomicU64 = AtomicU64::new(0);
static PREFETCHES_KEPT: AtomicU64 = AtomicU64::new(0);

/// (started, kept): how many prefetches this process has started, and how many of their
/// pages it kept for their request. The difference is work done for nothing (a failed
/// read, an answer other than 200, a page that did not fit, a server stopped meanwhile).
pub fn counts() -> (u64, u64) {
    (
        PREFETCHES_STARTED.load(Ordering::Relaxed),
        PREFETCHES_KEPT.load(Ordering::Relaxed),
    )
}

/// The `Server-Timing` entry of a page that was produced ahead.
pub const PREFETCH_TIMING: &str = "prefetch;desc=\"produced ahead of the request\"";

/// What a prefetched page is keyed by: everything its answer depends on.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct PageKey {
    /// The SHA-256 of the credential (see `auth::caller_identity`).
    pub caller: [u8; 32],
    pub tenant: String,
    /// Service root, path and query: the nextLink as the server wrote it.
    pub url: String,
    pub accept: Option<String>,
    pub prefer: Option<String>,
    pub encoding: ContentEncoding,
}

impl PageKey {
    pub fn new(
        caller: [u8; 32],
        tenant: &str,
        url: String,
        headers: &HeaderMap,
        encoding: ContentEncoding,
    ) -> PageKey {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        PageKey {
            caller,
            tenant: tenant.to_string(),
            url,
            accept: text("Accept"),
            prefer: text("Prefer"),
            encoding,
        }
    }
}

/// How a page ended, reported by its producer just before its last bytes go out: its
/// nextLink, if any, and the size of its body in bytes (as sent, compressed or not).
#[derive(Debug)]
pub struct PageReport {
    pub next: Option<String>,
    pub bytes: usize,
}

/// A complete answer, ready to replay. Its bytes count against the budget for as long
/// as it exists.
pub struct ReadyPage {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    /// The nextLink inside `body`, if any: serving this page starts its prefetch.
    pub next: Option<String>,
    _reserved: Reservation,
}

impl ReadyPage {
    /// The answer as produced, marked `Server-Timing: prefetch` (a standard header
    /// browsers' developer tools show; clients that do not know it ignore it).
    pub fn response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        for (name, value) in &self.headers {
            response.append_header((name.clone(), value.clone()));
        }
        response.append_header(("Server-Timing", PREFETCH_TIMING));
        response.body(self.body.clone())
    }

    /// The size of the body: the estimate of the next page's (see [`Prefetcher::begin`]).
    pub fn bytes(&self) -> usize {
        self.body.len()
    }
}

/// Bytes taken from the budget, given back on drop.
struct Reservation {
    bytes: usize,
    held: Arc<AtomicUsize>,
}

impl Reservation {
    /// Takes `bytes` from what `budget` has left in `held`, if they fit.
    fn take(held: &Arc<AtomicUsize>, budget: usize, bytes: usize) -> Option<Reservation> {
        claim(held, budget, bytes).then(|| Reservation {
            bytes,
            held: held.clone(),
        })
    }

    /// Changes the reservation to `bytes`: always when it shrinks, if they fit when it
    /// grows. `false` (unchanged) when they do not.
    fn resize(&mut self, budget: usize, bytes: usize) -> bool {
        if bytes <= self.bytes {
            self.held.fetch_sub(self.bytes - bytes, Ordering::Relaxed);
        } else if !claim(&self.held, budget, bytes - self.bytes) {
            return false;
        }
        self.bytes = bytes;
        true
    }
}

/// Adds `bytes` to `held` if the total stays within `budget`.
fn claim(held: &AtomicUsize, budget: usize, bytes: usize) -> bool {
    held.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
        now.checked_add(bytes).filter(|&total| total <= budget)
    })
    .is_ok()
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.held.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// A finished answer before it is filed: see [`collect`].
pub struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    next: Option<String>,
}

#[derive(Clone)]
enum Slot {
    Running,
    Ready(Arc<ReadyPage>),
    /// Failed, too large, or not a 200: the client's request runs afresh.
    Gone,
}

struct Entry {
    id: u64,
    generation: u64,
    started: Instant,
    slot: watch::Receiver<Slot>,
}

/// The pages produced ahead, shared by every worker.
pub struct Prefetcher {
    entries: Mutex<HashMap<PageKey, Entry>>,
    budget: usize,
    held: Arc<AtomicUsize>,
    idle: Duration,
    next_id: AtomicU64,
    /// The store's write counter ([`store::data_generation`]; tests give their own).
    generation: fn() -> u64,
}

/// The producing side of one prefetch, handed to the task that runs the read.
/// Dropping it unfinished tells a waiting request to read afresh (and frees its room).
pub struct Pending {
    key: PageKey,
    id: u64,
    slot: watch::Sender<Slot>,
    /// The room kept for the page from the start, the size of its predecessor.
    reserved: Reservation,
}

impl Pending {
    pub fn key(&self) -> &PageKey {
        &self.key
    }

    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Prefetcher {
    pub fn new(budget_bytes: usize, idle: Duration) -> Prefetcher {
        Prefetcher::with_generation(budget_bytes, idle, store::data_generation)
    }

    fn with_generation(budget_bytes: usize, idle: Duration, generation: fn() -> u64) -> Prefetcher {
        Prefetcher {
            entries: Mutex::new(HashMap::new()),
            budget: budget_bytes,
            held: Arc::new(AtomicUsize::new(0)),
            idle,
            next_id: AtomicU64::new(0),
            generation,
        }
    }

    pub fn enabled(&self) -> bool {
        self.budget > 0
    }

    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// Bytes the budget has left for one more page.
    pub fn room(&self) -> usize {
        self.budget
            .saturating_sub(self.held.load(Ordering::Relaxed))
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<PageKey, Entry>> {
        // Every change to the map is one call, so a panic cannot leave it half-updated.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a prefetch of `key`, reserving `expected` bytes for it (the size of the
    /// page just served in the same chain), unless one is there already or the budget
    /// has not that much room: a page that would not fit is not produced at all.
    pub fn begin(&self, key: PageKey, expected: usize) -> Option<Pending> {
        if !self.enabled() {
            return None;
        }
        let mut entries = self.entries();
        if entries.contains_key(&key) {
            return None;
        }
        let reserved = Reservation::take(&self.held, self.budget, expected.max(1))?;
        PREFETCHES_STARTED.fetch_add(1, Ordering::Relaxed);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (slot, receiver) = watch::channel(Slot::Running);
        entries.insert(
            key.clone(),
            Entry {
                id,
                generation: (self.generation)(),
                started: Instant::now(),
                slot: receiver,
            },
        );
        Some(Pending {
            key,
            id,
            slot,
            reserved,
        })
    }

    /// The most bytes the page of `pending` may have: its reservation and the room left.
    pub fn limit(&self, pending: &Pending) -> usize {
        pending.reserved.bytes + self.room()
    }

    /// Files the finished answer, if it fits the budget; otherwise (or with `None`)
    /// the entry is dropped and a waiting request reads afresh.
    pub fn finish(&self, pending: Pending, answer: Option<Answer>) {
        let Pending {
            key,
            id,
            slot,
            reserved,
        } = pending;
        match answer.and_then(|a| self.keep(a, reserved)) {
            // Without a receiver left (expired, or its client went away) the page is
            // dropped here and its bytes return to the budget.
            Some(page) => {
                PREFETCHES_KEPT.fetch_add(1, Ordering::Relaxed);
                let _ = slot.send(Slot::Ready(Arc::new(page)));
            }
            None => {
                self.expire(&key, id);
                let _ = slot.send(Slot::Gone);
            }
        }
    }

    /// The answer as a page holding its bytes' reservation; `None` when it is larger
    /// than its reservation and the rest does not fit.
    fn keep(&self, answer: Answer, mut reserved: Reservation) -> Option<ReadyPage> {
        if !reserved.resize(self.budget, answer.body.len()) {
            return None;
        }
        Some(ReadyPage {
            status: answer.status,
            headers: answer.headers,
            body: answer.body,
            next: answer.next,
            _reserved: reserved,
        })
    }

    /// Drops the entry `id` of `key` if it is still there (its client did not come back).
    pub fn expire(&self, key: &PageKey, id: u64) {
        let mut entries = self.entries();
        if entries.get(key).is_some_and(|e| e.id == id) {
            entries.remove(key);
        }
    }

    /// The page produced ahead for `key`, waiting for it if it is still being produced.
    /// `None` (the caller reads afresh) when there is none, it failed, it is older than
    /// the idle time, or a write committed since it started.
    pub async fn take(&self, key: &PageKey) -> Option<Arc<ReadyPage>> {
        let entry = self.entries().remove(key)?;
        let fresh = entry.started.elapsed() <= self.idle;
        let mut slot = entry.slot;
        let page = match &*slot.wait_for(|s| !matches!(s, Slot::Running)).await.ok()? {
            Slot::Ready(page) => page.clone(),
            _ => return None,
        };
        (fresh && entry.generation == (self.generation)()).then_some(page)
    }
}

/// The answer `response` gives, read whole up to `limit` bytes, with the nextLink its
/// producer reports once the body is complete; `None` for anything but a 200 or a body
/// over the limit.
pub async fn collect(
    response: HttpResponse,
    report: oneshot::Receiver<PageReport>,
    limit: usize,
) -> Option<Answer> {
    if response.status() != StatusCode::OK {
        return None;
    }
    let status = response.status();
    let headers = response.headers().clone();
    // The body first: its producer reports the nextLink only after its last row.
    let body = actix_web::body::to_bytes_limited(response.into_body(), limit)
        .await
        .ok()?
        .ok()?;
    let next = report.await.ok()?.next;
    Some(Answer {
        status,
        headers,
        body,
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(url: &str) -> PageKey {
        PageKey::new(
            [1; 32],
            "t",
            url.to_string(),
            &HeaderMap::new(),
            ContentEncoding::Identity,
        )
    }

    fn answer(bytes: usize) -> Answer {
        Answer {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from(vec![b'x'; bytes]),
            next: None,
        }
    }

    fn unchanged() -> u64 {
        0
    }

    fn prefetcher(budget: usize) -> Prefetcher {
        Prefetcher::with_generation(budget, Duration::from_secs(60), unchanged)
    }

    #[actix_web::test]
    async fn a_page_is_served_once_and_then_frees_its_budget() {
        let p = prefetcher(100);
        let pending = p.begin(key("a"), 1).expect("room");
        assert!(p.begin(key("a"), 1).is_none(), "one prefetch per URL");
        p.finish(pending, Some(answer(60)));
        assert_eq!(p.room(), 40);
        assert!(p.take(&key("b")).await.is_none(), "another URL");
        let page = p.take(&key("a")).await.expect("the prefetched page");
        assert_eq!(page.body.len(), 60);
        drop(page);
        assert_eq!(p.room(), 100);
        assert!(p.take(&key("a")).await.is_none(), "served once");
    }

    #[actix_web::test]
    async fn another_caller_or_coding_does_not_get_the_page() {
        let p = prefetcher(100);
        p.finish(p.begin(key("a"), 1).expect("room"), Some(answer(1)));
        let mut other = key("a");
        other.caller = [2; 32];
        assert!(p.take(&other).await.is_none());
        let mut gzip = key("a");
        gzip.encoding = ContentEncoding::Gzip;
        assert!(p.take(&gzip).await.is_none());
        assert!(p.take(&key("a")).await.is_some());
    }

    #[actix_web::test]
    async fn a_page_over_the_budget_is_not_kept() {
        let p = prefetcher(100);
        p.finish(p.begin(key("a"), 60).expect("room"), Some(answer(80)));
        let pending = p.begin(key("b"), 10).expect("room");
        assert_eq!(p.limit(&pending), 20);
        p.finish(pending, Some(answer(30)));
        assert!(p.take(&key("b")).await.is_none());
        assert_eq!(p.room(), 20);
    }

    #[actix_web::test]
    async fn a_prefetch_that_would_not_fit_is_not_started() {
        let p = prefetcher(100);
        assert!(p.begin(key("a"), 101).is_none(), "larger than the budget");
        let first = p.begin(key("a"), 60).expect("room");
        assert_eq!(p.room(), 40, "the expected size is reserved from the start");
        assert!(p.begin(key("b"), 50).is_none(), "larger than the room left");
        assert!(p.begin(key("b"), 40).is_some(), "the room left");
        drop(first);
        assert!(p.room() >= 60, "an abandoned prefetch frees its room");
    }

    #[actix_web::test]
    async fn a_page_keeps_what_it_holds_of_its_reservation() {
        let p = prefetcher(100);
        p.finish(p.begin(key("a"), 60).expect("room"), Some(answer(20)));
        assert_eq!(p.room(), 80, "a smaller page gives back the rest");
        p.finish(p.begin(key("b"), 10).expect("room"), Some(answer(70)));
        assert_eq!(p.room(), 10, "a larger one takes more when it fits");
        assert_eq!(p.take(&key("b")).await.map(|r| r.bytes()), Some(70));
    }

    static WRITES: AtomicU64 = AtomicU64::new(0);
    fn writes() -> u64 {
        WRITES.load(Ordering::Relaxed)
    }

    #[actix_web::test]
    async fn a_write_after_the_start_discards_the_page() {
        let p = Prefetcher::with_generation(100, Duration::from_secs(60), writes);
        let pending = p.begin(key("a"), 1).expect("room");
        WRITES.fetch_add(1, Ordering::Relaxed);
        p.finish(pending, Some(answer(10)));
        assert!(p.take(&key("a")).await.is_none());
        assert_eq!(p.room(), 100);
    }

    #[actix_web::test]
    async fn an_idle_page_is_not_served_and_an_expired_one_frees_its_budget() {
        let p = Prefetcher::with_generation(100, Duration::ZERO, unchanged);
        p.finish(p.begin(key("a"), 1).expect("room"), Some(answer(10)));
        std::thread::sleep(Duration::from_millis(2));
        assert!(
            p.take(&key("a")).await.is_none(),
            "older than the idle time"
        );
        assert_eq!(p.room(), 100);
        let pending = p.begin(key("b"), 1).expect("room");
        let id = pending.id();
        p.finish(pending, Some(answer(10)));
        p.expire(&key("b"), id);
        assert_eq!(p.room(), 100);
    }

    #[actix_web::test]
    async fn a_request_waits_for_a_page_still_running() {
        let p = Arc::new(prefetcher(100));
        let pending = p.begin(key("a"), 1).expect("room");
        let producer = p.clone();
        actix_web::rt::spawn(async move {
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
            producer.finish(pending, Some(answer(5)));
        });
        assert_eq!(p.take(&key("a")).await.map(|r| r.body.len()), Some(5));
    }

    #[actix_web::test]
    async fn an_abandoned_prefetch_sends_the_request_to_the_database() {
        let p = prefetcher(100);
        let pending = p.begin(key("a"), 1).expect("room");
        drop(pending);
        assert!(p.take(&key("a")).await.is_none());
    }

    #[test]
    fn off_when_the_budget_is_zero() {
        assert!(prefetcher(0).begin(key("a"), 1).is_none());
    }
}
