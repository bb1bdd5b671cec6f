//! Pipelined paging: when a page goes out with an `@odata.nextLink`, the server
//! produces the next page while the client is still reading this one, so the two take
//! turns less. Power BI and Excel follow nextLinks strictly one after another; without
//! this the server idles while the client parses page k and the client waits while the
//! server produces page k+1.
//!
//! A prefetched page is the answer the same pipeline ([`super::handlers::read`]) gives
//! to the nextLink, collected into memory (whole, or in part: below). It is served only to a request for exactly
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
//! next prefetch. A prefetch reserves room for a page the size of the one just served
//! (the next page of a chain is about as large: same query, same page size, same
//! coding) from the start, so concurrent chains cannot overcommit the budget.
//!
//! A page larger than the room left (a 20,000-row page without compression is some
//! 19 MB) is produced ahead as far as the room allows and then waits, its read paused
//! on the full body channel, until its client asks for it: the part produced goes out
//! at once and the rest streams as the read goes on. Such a page holds a database
//! connection while it waits, so it holds at least a quarter of the budget: at most four
//! reads wait on their clients at a time, and each for the idle time at most. A page
//! larger than its estimate is cut where the room ends in the same way; only one whose
//! room was taken by another chain meanwhile is dropped.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::HttpResponse;
use actix_web::body::{BoxBody, MessageBody, SizedStream};
use actix_web::http::StatusCode;
use actix_web::http::header::{ContentEncoding, HeaderMap};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::ReceiverStream;

use super::body::ChunkSender;

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

/// An answer produced ahead, ready to serve: whole, or as far as its room allowed.
/// Its bytes count against the budget for as long as it exists.
pub struct ReadyPage {
    status: StatusCode,
    headers: HeaderMap,
    /// The body, or its first part when `rest` is `Streaming`.
    body: Chunks,
    rest: Rest,
    /// Given back as the body's chunks are handed to the connection.
    reserved: Reservation,
}

/// Body bytes as the producer sent them: served chunk by chunk as they came (the
/// connection copies what it sends into its write buffer, so a page handed over whole
/// would be held twice).
#[derive(Default)]
struct Chunks {
    chunks: Vec<Bytes>,
    len: usize,
}

impl Chunks {
    fn push(&mut self, chunk: Bytes) {
        self.len += chunk.len();
        self.chunks.push(chunk);
    }

    /// The chunks in order, giving `held` back to the budget as they are handed out.
    fn stream(
        self,
        held: Reservation,
    ) -> impl futures_util::Stream<Item = Result<Bytes, io::Error>> {
        let mut held = (!self.chunks.is_empty()).then_some(held);
        let mut left = self.len;
        futures_util::stream::iter(self.chunks).map(move |chunk| {
            left -= chunk.len();
            if let Some(held) = &mut held {
                held.shrink_to(left);
            }
            Ok(chunk)
        })
    }
}

/// What follows the bytes of a page produced ahead.
enum Rest {
    /// Nothing: the page is complete, and this is its nextLink.
    Done(Option<String>),
    /// The read is paused on the body channel until the page is served.
    Streaming(Tail),
}

/// The rest of a page produced in part: the chunk that did not fit, the chunks still
/// to come (see [`forward`]), and its producer's report, which comes after its last row.
struct Tail {
    first: Bytes,
    rest: mpsc::Receiver<Result<Bytes, io::Error>>,
    report: oneshot::Receiver<PageReport>,
}

impl ReadyPage {
    /// The answer as produced, marked `Server-Timing: prefetch` (a standard header
    /// browsers' developer tools show; clients that do not know it ignore it), and
    /// where its nextLink and size will be reported: at once for a complete page, once
    /// the rest has been produced for a page produced in part.
    pub fn into_response(self) -> (HttpResponse, oneshot::Receiver<PageReport>) {
        let mut response = HttpResponse::build(self.status);
        for (name, value) in &self.headers {
            response.append_header((name.clone(), value.clone()));
        }
        response.append_header(("Server-Timing", PREFETCH_TIMING));
        match self.rest {
            Rest::Done(next) => {
                let (tell, report) = oneshot::channel();
                let bytes = self.body.len;
                let _ = tell.send(PageReport { next, bytes });
                let body = SizedStream::new(bytes as u64, self.body.stream(self.reserved));
                (response.body(body), report)
            }
            Rest::Streaming(Tail {
                first,
                rest,
                report,
            }) => {
                let body = self
                    .body
                    .stream(self.reserved)
                    .chain(futures_util::stream::once(async { Ok(first) }))
                    .chain(ReceiverStream::new(rest));
                (response.streaming(body), report)
            }
        }
    }
}

/// Bytes taken from the budget, given back on drop.
struct Reservation {
    bytes: usize,
    held: Arc<AtomicUsize>,
}

impl Reservation {
    /// Takes `wanted` bytes from what `budget` has left in `held`, or as many as are
    /// left if that is at least `least`.
    fn take_up_to(
        held: &Arc<AtomicUsize>,
        budget: usize,
        wanted: usize,
        least: usize,
    ) -> Option<Reservation> {
        let mut taken = 0;
        held.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
            taken = wanted.min(budget.saturating_sub(now));
            (taken >= least && taken > 0).then(|| now + taken)
        })
        .ok()?;
        Some(Reservation {
            bytes: taken,
            held: held.clone(),
        })
    }

    /// Gives back what it holds over `bytes`.
    fn shrink_to(&mut self, bytes: usize) {
        if bytes < self.bytes {
            self.held.fetch_sub(self.bytes - bytes, Ordering::Relaxed);
            self.bytes = bytes;
        }
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

/// An answer produced ahead before it is filed: see [`collect`].
pub struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Chunks,
    rest: Rest,
}

/// A filed page, taken out by the one request it is served to.
type Filed = Arc<Mutex<Option<ReadyPage>>>;

#[derive(Clone)]
enum Slot {
    Running,
    Ready(Filed),
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
    /// page just served in the same chain), or what room is left if that is less but
    /// at least a quarter of the budget (the page is then produced in part); `None`
    /// when one is there already or there is not that much room.
    pub fn begin(&self, key: PageKey, expected: usize) -> Option<Pending> {
        if !self.enabled() {
            return None;
        }
        let mut entries = self.entries();
        if entries.contains_key(&key) {
            return None;
        }
        let wanted = expected.max(1);
        let least = wanted.min(self.budget / 4);
        let reserved = Reservation::take_up_to(&self.held, self.budget, wanted, least)?;
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
                let _ = slot.send(Slot::Ready(Arc::new(Mutex::new(Some(page)))));
            }
            None => {
                self.expire(&key, id);
                let _ = slot.send(Slot::Gone);
            }
        }
    }

    /// The answer as a page holding its bytes' reservation; `None` when it is larger
    /// than its reservation and the room it was given was taken meanwhile.
    fn keep(&self, answer: Answer, mut reserved: Reservation) -> Option<ReadyPage> {
        // A page whose read waits on its client holds a quarter of the budget at least,
        // so that no more than four reads wait at a time.
        let held = match answer.rest {
            Rest::Done(_) => answer.body.len,
            Rest::Streaming(_) => answer.body.len.max(self.budget / 4),
        };
        if !reserved.resize(self.budget, held) {
            return None;
        }
        Some(ReadyPage {
            status: answer.status,
            headers: answer.headers,
            body: answer.body,
            rest: answer.rest,
            reserved,
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
    pub async fn take(&self, key: &PageKey) -> Option<ReadyPage> {
        let entry = self.entries().remove(key)?;
        let fresh = entry.started.elapsed() <= self.idle;
        let mut slot = entry.slot;
        let filed = match &*slot.wait_for(|s| !matches!(s, Slot::Running)).await.ok()? {
            Slot::Ready(filed) => filed.clone(),
            _ => return None,
        };
        // Taken out either way: a page not served is dropped here, which also ends a
        // read waiting on its client.
        let page = filed.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        (fresh && entry.generation == (self.generation)()).then_some(page)
    }
}

/// The answer `response` gives, read up to `limit` bytes: whole, with the nextLink
/// its producer reports once the body is complete, or cut before the chunk that would
/// pass the limit, its read left waiting on the body channel. `None` for anything but
/// a 200 or a body that failed.
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
    let mut body = response.into_body();
    let mut kept = Chunks::default();
    loop {
        match next_chunk(&mut body).await {
            // The producer reports the nextLink only after its last row.
            None => {
                let next = report.await.ok()?.next;
                return Some(Answer {
                    status,
                    headers,
                    body: kept,
                    rest: Rest::Done(next),
                });
            }
            Some(Err(_)) => return None,
            Some(Ok(first)) if kept.len + first.len() > limit => {
                let (to, rest) = mpsc::channel(1);
                actix_web::rt::spawn(forward(body, to));
                return Some(Answer {
                    status,
                    headers,
                    body: kept,
                    rest: Rest::Streaming(Tail {
                        first,
                        rest,
                        report,
                    }),
                });
            }
            Some(Ok(chunk)) => kept.push(chunk),
        }
    }
}

/// Moves the rest of a body produced in part to a channel that a request on any
/// worker can read (actix bodies stay on the thread that made them). It ends when the
/// body does or when the page is dropped, which drops the body and so ends its read.
async fn forward(mut body: BoxBody, to: ChunkSender) {
    while let Some(chunk) = next_chunk(&mut body).await {
        if to
            .send(chunk.map_err(|e| io::Error::other(e.to_string())))
            .await
            .is_err()
        {
            return;
        }
    }
}

async fn next_chunk(body: &mut BoxBody) -> Option<Result<Bytes, Box<dyn std::error::Error>>> {
    futures_util::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_next(cx)).await
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
            body: Chunks {
                chunks: vec![Bytes::from(vec![b'x'; bytes])],
                len: bytes,
            },
            rest: Rest::Done(None),
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
        assert_eq!(page.body.len, 60);
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
    async fn a_page_larger_than_the_room_gets_what_is_left_if_a_quarter_of_the_budget() {
        let p = prefetcher(100);
        let whole = p
            .begin(key("a"), 101)
            .expect("larger than the budget: in part");
        assert_eq!((whole.reserved.bytes, p.room()), (100, 0));
        drop(whole);
        assert_eq!(p.room(), 100, "an abandoned prefetch frees its room");
        let first = p.begin(key("b"), 60).expect("room");
        assert_eq!(p.room(), 40, "the expected size is reserved from the start");
        let second = p.begin(key("c"), 50).expect("the room left, 40 of 50");
        assert_eq!((second.reserved.bytes, p.room()), (40, 0));
        assert!(p.begin(key("d"), 10).is_none(), "no room left");
        drop(second);
        assert_eq!(p.room(), 40);
        let third = p.begin(key("e"), 30).expect("fits");
        assert!(
            p.begin(key("f"), 50).is_none(),
            "10 left is less than a quarter of the budget"
        );
        assert!(p.begin(key("g"), 10).is_some(), "a page of 10 fits whole");
        drop((first, third));
    }

    #[actix_web::test]
    async fn a_page_keeps_what_it_holds_of_its_reservation() {
        let p = prefetcher(100);
        p.finish(p.begin(key("a"), 60).expect("room"), Some(answer(20)));
        assert_eq!(p.room(), 80, "a smaller page gives back the rest");
        p.finish(p.begin(key("b"), 10).expect("room"), Some(answer(70)));
        assert_eq!(p.room(), 10, "a larger one takes more when it fits");
        assert_eq!(p.take(&key("b")).await.map(|r| r.body.len), Some(70));
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
        assert_eq!(p.take(&key("a")).await.map(|r| r.body.len), Some(5));
    }

    #[actix_web::test]
    async fn an_abandoned_prefetch_sends_the_request_to_the_database() {
        let p = prefetcher(100);
        let pending = p.begin(key("a"), 1).expect("room");
        drop(pending);
        assert!(p.take(&key("a")).await.is_none());
    }

    /// A streamed body of ten 10-byte chunks, through a channel of one, and its
    /// producer, which reports a nextLink after the last chunk and answers how many
    /// chunks it got out.
    fn ten_chunks() -> (
        HttpResponse,
        oneshot::Receiver<PageReport>,
        actix_web::rt::task::JoinHandle<u8>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let (tell, report) = oneshot::channel();
        let producer = actix_web::rt::spawn(async move {
            for i in 0..10u8 {
                if tx.send(Ok(Bytes::from(vec![b'a' + i; 10]))).await.is_err() {
                    return i;
                }
            }
            let _ = tell.send(PageReport {
                next: Some("next".into()),
                bytes: 100,
            });
            10
        });
        let response =
            HttpResponse::Ok().streaming(tokio_stream::wrappers::ReceiverStream::new(rx));
        (response, report, producer)
    }

    #[actix_web::test]
    async fn a_page_over_its_limit_is_cut_at_a_chunk_and_the_rest_streams_when_served() {
        let p = prefetcher(100);
        let pending = p.begin(key("a"), 25).expect("room");
        let (response, report, producer) = ten_chunks();
        let answer = collect(response, report, 25).await.expect("an answer");
        assert_eq!(answer.body.len, 20, "cut before the chunk that passes 25");
        p.finish(pending, Some(answer));
        assert_eq!(p.room(), 75, "waiting, it holds a quarter of the budget");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        assert!(!producer.is_finished(), "the read waits for its client");
        let page = p.take(&key("a")).await.expect("the page produced in part");
        assert!(matches!(page.rest, Rest::Streaming(_)));
        let (response, report) = page.into_response();
        assert_eq!(p.room(), 75, "held until handed to the connection");
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .expect("the whole body");
        assert_eq!(p.room(), 100);
        let whole: Vec<u8> = (0..10u8).flat_map(|i| vec![b'a' + i; 10]).collect();
        assert_eq!(body.as_ref(), whole.as_slice());
        assert_eq!(producer.await.expect("producer"), 10);
        let report = report.await.expect("the producer's report");
        assert_eq!((report.next.as_deref(), report.bytes), (Some("next"), 100));
    }

    #[actix_web::test]
    async fn a_page_cut_and_never_served_ends_its_read_and_frees_its_room() {
        let p = prefetcher(100);
        let pending = p.begin(key("a"), 25).expect("room");
        let id = pending.id();
        let (response, report, producer) = ten_chunks();
        let answer = collect(response, report, 25).await.expect("an answer");
        p.finish(pending, Some(answer));
        p.expire(&key("a"), id);
        let sent = producer.await.expect("producer");
        assert!(sent < 10, "the read went on after its page was dropped");
        assert_eq!(p.room(), 100);
    }

    #[actix_web::test]
    async fn a_complete_page_reports_its_next_link_when_served() {
        let p = prefetcher(100);
        let pending = p.begin(key("a"), 80).expect("room");
        let (response, report, producer) = ten_chunks();
        let answer = collect(response, report, p.limit(&pending))
            .await
            .expect("an answer");
        assert_eq!(producer.await.expect("producer"), 10);
        p.finish(pending, Some(answer));
        let page = p.take(&key("a")).await.expect("the page");
        assert!(matches!(page.rest, Rest::Done(_)));
        assert_eq!(page.body.len, 100);
        let (response, report) = page.into_response();
        assert_eq!(p.room(), 0, "held until handed to the connection");
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .expect("the whole body");
        assert_eq!((body.len(), p.room()), (100, 100));
        let report = report.await.expect("a report");
        assert_eq!((report.next.as_deref(), report.bytes), (Some("next"), 100));
    }

    #[test]
    fn off_when_the_budget_is_zero() {
        assert!(prefetcher(0).begin(key("a"), 1).is_none());
    }
}
