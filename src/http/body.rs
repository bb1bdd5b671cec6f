//! The response body of a page: the first chunk is held back so a small page goes
//! out as one sized body; a larger one streams through a bounded channel, so memory
//! stays flat and a slow client slows the query down. A page is compressed as it is
//! written: by the thread that reads and encodes it, or, for a large page read from
//! PostgreSQL, by a thread of its own (reading and compressing then use both cores:
//! [`Compressing`]). A chunk
//! is [`CHUNK`] bytes of what goes on the wire: the compressor's output is gathered
//! to that size too.

use std::io;
use std::sync::Mutex;
use std::sync::mpsc;

use actix_web::http::header::{self, AcceptEncoding, ContentEncoding, Encoding};
use actix_web::{HttpMessage, HttpRequest, HttpResponseBuilder};
use bytes::Bytes;
use flate2::{Compress, FlushCompress, Status};
use tokio::sync::mpsc::{Receiver, Sender};
use tokio::sync::oneshot;

use crate::store::{Dialect, StoreError};

pub const CHUNK: usize = 64 * 1024;

pub type ChunkSender = Sender<Result<Bytes, io::Error>>;

/// Chunks in flight between the producer thread and the connection.
const CHANNEL_CHUNKS: usize = 8;

/// The capacity of a chunk's buffer: a chunk is sent once it holds [`CHUNK`] bytes, so
/// the row or deflate step that passes that mark has room without a reallocation.
const CHUNK_CAPACITY: usize = CHUNK + CHUNK / 2;

/// Buffers of chunks the connection has sent, kept for the next chunks. A chunk is
/// written on the thread that reads its page and freed on the connection's thread, and
/// glibc keeps freed memory in the arena of the thread that allocated it: without
/// reuse, the arenas of several read threads each grew to hold pages produced ahead (a
/// gzip pull of 1M Calls peaked at 31 MiB, with reuse at 27; BENCHMARKS.md, session 11).
static SPARE_BUFFERS: SpareBuffers = SpareBuffers::new(128);

/// A bounded stack of empty chunk buffers.
struct SpareBuffers {
    buffers: Mutex<Vec<Vec<u8>>>,
    /// Buffers kept at most (128 chunks of 64 KiB are the default prefetch budget of
    /// 8 MiB); more are freed.
    kept: usize,
}

impl SpareBuffers {
    const fn new(kept: usize) -> SpareBuffers {
        SpareBuffers {
            buffers: Mutex::new(Vec::new()),
            kept,
        }
    }

    /// An empty buffer for a chunk: a spare one when there is one.
    fn take(&self) -> Vec<u8> {
        self.buffers
            .lock()
            .ok()
            .and_then(|mut spare| spare.pop())
            .unwrap_or_else(|| Vec::with_capacity(CHUNK_CAPACITY))
    }

    /// Whether a buffer of `capacity` is worth keeping: not a small body (a point
    /// query) nor one a huge row grew.
    fn reusable(capacity: usize) -> bool {
        (CHUNK..=2 * CHUNK_CAPACITY).contains(&capacity)
    }

    /// A chunk's bytes; a reusable buffer comes back here when the last copy of the
    /// `Bytes` is dropped (when the connection has written it). Other bytes are plain.
    fn bytes(&'static self, chunk: Vec<u8>) -> Bytes {
        if !Self::reusable(chunk.capacity()) {
            return Bytes::from(chunk);
        }
        Bytes::from_owner(SpareOnDrop {
            buffer: chunk,
            spare: self,
        })
    }

    /// Keeps `buffer`, emptied, for a next chunk (when reusable and under the bound).
    fn give_back(&self, mut buffer: Vec<u8>) {
        if !Self::reusable(buffer.capacity()) {
            return;
        }
        buffer.clear();
        if let Ok(mut spare) = self.buffers.lock()
            && spare.len() < self.kept
        {
            spare.push(buffer);
        }
    }
}

/// The owner of a chunk's `Bytes`.
struct SpareOnDrop {
    buffer: Vec<u8>,
    spare: &'static SpareBuffers,
}

impl AsRef<[u8]> for SpareOnDrop {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for SpareOnDrop {
    fn drop(&mut self) {
        self.spare.give_back(std::mem::take(&mut self.buffer));
    }
}

/// An empty buffer for a chunk.
fn chunk_buffer() -> Vec<u8> {
    SPARE_BUFFERS.take()
}

/// A chunk's bytes; its buffer is reused once they are sent.
fn chunk_bytes(chunk: Vec<u8>) -> Bytes {
    SPARE_BUFFERS.bytes(chunk)
}

/// The compression of one body, as negotiated from `Accept-Encoding` by
/// [`negotiated_encoding`], gathering its output into chunks. Responses carrying a
/// `Content-Encoding` are passed through untouched by actix's `Compress` middleware,
/// which would otherwise compress each small chunk on a `spawn_blocking` task of its
/// own.
///
/// The deflate state (about 300 KiB: window, hash chains, pending output) comes from a
/// pool and goes back reset when the body is done: building a fresh one zeroes all of
/// it, which was 7.5 % of the server's CPU under a load of point queries, and freeing
/// it made the allocator consolidate its heap.
pub struct BodyEncoder {
    /// Where the state goes back.
    pool: &'static Mutex<Vec<Compress>>,
    /// `Some` until the encoder is dropped and the state goes back to the pool.
    state: Option<Compress>,
    /// Compressed bytes not yet handed out.
    out: Vec<u8>,
    /// Whether the stream was completed. Only such a state goes back to the pool:
    /// zlib-rs 0.6's reset leaves a level-1 state's open-block flag of an unfinished
    /// stream set, so the next stream would lack its block header (corrupt output).
    finished: bool,
}

/// Idle deflate states kept per encoding; more than this are freed.
const POOLED_STATES: usize = 8;

static GZIP_STATES: Mutex<Vec<Compress>> = Mutex::new(Vec::new());
static DEFLATE_STATES: Mutex<Vec<Compress>> = Mutex::new(Vec::new());

/// The encodings the `Compress` middleware offers (feature `compress-gzip`), in its
/// order, so the negotiation here gives the same answer as the middleware would.
const SUPPORTED_ENCODINGS: [Encoding; 3] =
    [Encoding::identity(), Encoding::gzip(), Encoding::deflate()];

/// The content coding for a response to `req`: actix's own negotiation (q-values,
/// `identity`, `*`) over the encodings `Compress` supports. A request that accepts
/// none of them never gets here: `Compress` answers it with 406.
pub fn negotiated_encoding(req: &HttpRequest) -> ContentEncoding {
    match req.get_header::<AcceptEncoding>() {
        None => ContentEncoding::Identity,
        Some(accept) => match accept.negotiate(SUPPORTED_ENCODINGS.iter()) {
            Some(Encoding::Known(ContentEncoding::Gzip)) => ContentEncoding::Gzip,
            Some(Encoding::Known(ContentEncoding::Deflate)) => ContentEncoding::Deflate,
            _ => ContentEncoding::Identity,
        },
    }
}

/// Marks a response whose body the producer encoded itself.
pub fn encoded_headers(response: &mut HttpResponseBuilder, encoding: ContentEncoding) {
    if encoding != ContentEncoding::Identity {
        response.insert_header((header::CONTENT_ENCODING, encoding.to_header_value()));
        response.append_header((header::VARY, "accept-encoding"));
    }
}

impl BodyEncoder {
    /// An encoder for `encoding`, `None` for identity. The same compression level as
    /// `Compress` uses.
    pub fn new(encoding: ContentEncoding) -> Option<BodyEncoder> {
        let (pool, gzip) = match encoding {
            ContentEncoding::Gzip => (&GZIP_STATES, true),
            ContentEncoding::Deflate => (&DEFLATE_STATES, false),
            _ => return None,
        };
        let pooled = pool.lock().ok().and_then(|mut idle| idle.pop());
        let state = pooled.unwrap_or_else(|| {
            let level = flate2::Compression::fast();
            if gzip {
                Compress::new_gzip(level, 15)
            } else {
                Compress::new(level, true)
            }
        });
        Some(BodyEncoder {
            pool,
            state: Some(state),
            // Small at first: most answers (a point query, a short page) are a few
            // hundred bytes compressed, and freeing a buffer of 64 KiB or more makes
            // the allocator consolidate its heap. It grows as a large page needs.
            out: Vec::with_capacity(CHUNK / 16),
            finished: false,
        })
    }

    /// Feeds `input` to the deflate state, growing the output as it needs; with
    /// `Finish`, until the stream (and its gzip or zlib trailer) is complete.
    fn compress(&mut self, mut input: &[u8], flush: FlushCompress) -> io::Result<()> {
        let state = self
            .state
            .as_mut()
            .ok_or_else(|| io::Error::other("the compressor was already finished"))?;
        loop {
            if self.out.capacity() - self.out.len() < 1024 {
                self.out.reserve(input.len() / 4 + 4096);
            }
            let (before_in, before_out) = (state.total_in(), state.total_out());
            let status = state
                .compress_vec(input, &mut self.out, flush)
                .map_err(io::Error::other)?;
            let used = usize::try_from(state.total_in() - before_in).unwrap_or(input.len());
            input = input.get(used..).unwrap_or_default();
            if used == 0 && state.total_out() == before_out {
                // No room was enough for the next step: give it more.
                self.out.reserve(CHUNK);
            }
            if flush == FlushCompress::Finish && status == Status::StreamEnd {
                self.finished = true;
                return Ok(());
            }
            if flush != FlushCompress::Finish && input.is_empty() {
                return Ok(());
            }
        }
    }

    /// Compresses `data`; returns the compressed bytes once they fill a chunk (empty
    /// before), so the compressed stream, some five times smaller than its JSON, goes
    /// out in chunks as large as an uncompressed one: fewer sends, fewer wake-ups.
    fn write(&mut self, data: &[u8]) -> io::Result<Vec<u8>> {
        self.compress(data, FlushCompress::None)?;
        if self.out.len() < CHUNK {
            return Ok(Vec::new());
        }
        Ok(std::mem::replace(&mut self.out, chunk_buffer()))
    }

    /// The rest of the compressed stream, trailer included.
    fn finish(mut self) -> io::Result<Vec<u8>> {
        self.compress(&[], FlushCompress::Finish)?;
        Ok(std::mem::take(&mut self.out))
    }
}

impl Drop for BodyEncoder {
    fn drop(&mut self) {
        let (Some(mut state), true) = (self.state.take(), self.finished) else {
            return;
        };
        state.reset();
        if let Ok(mut idle) = self.pool.lock()
            && idle.len() < POOLED_STATES
        {
            idle.push(state);
        }
    }
}

/// Encodes a whole body at once (single entities).
pub fn encode_body(encoding: ContentEncoding, body: Vec<u8>) -> io::Result<Vec<u8>> {
    match BodyEncoder::new(encoding) {
        None => Ok(body),
        Some(mut e) => {
            let mut out = e.write(&body)?;
            out.extend_from_slice(&e.finish()?);
            Ok(out)
        }
    }
}

/// How a page starts: the whole body, when it fitted in the first chunk, or the
/// receiving end of the chunk channel.
pub enum PageStart {
    Body(Bytes),
    Stream(Receiver<Result<Bytes, io::Error>>),
}

/// Where a page goes. The first chunk is held back: a page that is complete before
/// it fills is answered as one sized body (no channel, no streaming); a larger one
/// opens the bounded channel at its first full chunk and streams, so memory stays
/// flat and a slow client slows the query down. Until then a failure can still be
/// answered with a proper error status.
pub struct PageOut {
    start: Option<oneshot::Sender<Result<PageStart, StoreError>>>,
    tx: Option<ChunkSender>,
    /// Bytes sent so far.
    sent: usize,
}

impl PageOut {
    pub fn new() -> (PageOut, oneshot::Receiver<Result<PageStart, StoreError>>) {
        let (start, started) = oneshot::channel();
        (
            PageOut {
                start: Some(start),
                tx: None,
                sent: 0,
            },
            started,
        )
    }

    /// Whether the response has started (later errors can only abort the stream).
    pub fn started(&self) -> bool {
        self.start.is_none()
    }

    fn send(&mut self, chunk: Vec<u8>) -> Result<(), StoreError> {
        if chunk.is_empty() {
            return Ok(());
        }
        if let Some(start) = self.start.take() {
            let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_CHUNKS);
            start
                .send(Ok(PageStart::Stream(rx)))
                .map_err(|_| StoreError::SinkClosed)?;
            self.tx = Some(tx);
        }
        self.sent += chunk.len();
        match &self.tx {
            Some(tx) => tx
                .blocking_send(Ok(chunk_bytes(chunk)))
                .map_err(|_| StoreError::SinkClosed),
            None => Err(StoreError::SinkClosed),
        }
    }

    /// The last bytes: the whole body if nothing was sent yet.
    fn finish(&mut self, last: Vec<u8>) -> Result<(), StoreError> {
        match self.start.take() {
            Some(start) => start
                .send(Ok(PageStart::Body(chunk_bytes(last))))
                .map_err(|_| StoreError::SinkClosed),
            None => self.send(last),
        }
    }

    /// Reports a failure: as the answer when nothing was sent yet, else by aborting
    /// the stream, so the client sees a broken response, never a truncated but
    /// valid-looking page.
    pub fn fail(&mut self, error: StoreError) {
        match self.start.take() {
            Some(start) => {
                let _ = start.send(Err(error));
            }
            None => {
                if let Some(tx) = &self.tx {
                    let _ = tx.blocking_send(Err(io::Error::other(error.to_string())));
                }
            }
        }
    }
}

/// Where encoded bytes go: kept in memory (a single entity, a `$batch` part), or
/// sent as a page body, compressed when negotiated.
pub enum Output {
    Collect,
    /// Encoded, compressed and sent by the thread that writes the JSON.
    Page {
        page: PageOut,
        encoder: Option<Box<BodyEncoder>>,
        /// Bytes of JSON still to write before the page goes to a compressor thread;
        /// `None` where it stays on this one (uncompressed, or on that thread).
        until_relay: Option<usize>,
    },
    /// A compressed page past [`RELAY_AFTER`] bytes of JSON: its JSON goes to a thread
    /// of its own that compresses and sends it (see [`Output::relay`]), which hands
    /// the emptied buffers back for reuse within the page. (Keeping them with the spare
    /// chunk buffers instead raised a PostgreSQL pull's peak RSS, 28.7 to 31.1 MiB.)
    Relayed {
        to: mpsc::SyncSender<Piece>,
        emptied: mpsc::Receiver<Vec<u8>>,
    },
}

/// Bytes of JSON after which a compressed page hands its compression to a thread of
/// its own. Below it (point queries, short pages) a thread hand-off would cost more
/// than it saves.
const RELAY_AFTER: usize = 4 * CHUNK;

/// JSON chunks in flight between the writer and the compressor of a relayed page.
const RELAY_CHUNKS: usize = 4;

/// What the writer of a relayed page hands its compressor.
pub enum Piece {
    Json(Vec<u8>),
    /// The last JSON, and what learns the body's size before its last bytes go out.
    End {
        last: Vec<u8>,
        size: Box<dyn FnOnce(usize) + Send>,
    },
    Fail(StoreError),
}

/// Where a large compressed page is compressed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Compressing {
    /// On the thread that reads and encodes it.
    Inline,
    /// On a thread of its own past [`RELAY_AFTER`] bytes of JSON. This pays where the
    /// reader waits between rows (PostgreSQL: 1.06-1.14x rows/s for a full pull);
    /// where it does not (SQLite) the two threads only add hand-offs (4-22 % more
    /// server CPU, no more rows/s). BENCHMARKS.md has the A/B runs.
    Apart,
}

impl Compressing {
    /// Where the pages read from `dialect`'s store are compressed: apart where the
    /// reader waits on another process between rows.
    pub fn for_reads_from(dialect: Dialect) -> Compressing {
        match dialect {
            Dialect::Postgres => Compressing::Apart,
            Dialect::Sqlite => Compressing::Inline,
        }
    }
}

impl Output {
    /// A page body for `page`, compressed as negotiated, where `compressing` says.
    pub fn page(page: PageOut, encoding: ContentEncoding, compressing: Compressing) -> Output {
        let encoder = BodyEncoder::new(encoding).map(Box::new);
        let relays = encoder.is_some() && compressing == Compressing::Apart;
        Output::Page {
            page,
            until_relay: relays.then_some(RELAY_AFTER),
            encoder,
        }
    }

    /// Sends `buffer` (if streaming), leaving it empty; when collecting, keeps it.
    pub fn flush(&mut self, buffer: &mut Vec<u8>) -> Result<(), StoreError> {
        if buffer.is_empty() {
            return Ok(());
        }
        if matches!(
            self,
            Output::Page {
                until_relay: Some(0),
                ..
            }
        ) {
            self.relay();
        }
        match self {
            Output::Collect => Ok(()),
            Output::Relayed { to, emptied } => {
                let next = emptied
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(CHUNK + 4096));
                to.send(Piece::Json(std::mem::replace(buffer, next)))
                    .map_err(|_| StoreError::SinkClosed)
            }
            Output::Page {
                page,
                encoder,
                until_relay,
            } => {
                if let Some(left) = until_relay {
                    *left = left.saturating_sub(buffer.len());
                }
                let chunk = match encoder {
                    Some(encoder) => {
                        let compressed = encoder.write(buffer).map_err(io_error)?;
                        buffer.clear();
                        compressed
                    }
                    None => std::mem::replace(buffer, chunk_buffer()),
                };
                page.send(chunk)
            }
        }
    }

    /// Moves this page's compression and sending to a blocking thread of its own, so
    /// a large page is read and encoded on one core while it is compressed on the
    /// other: on PostgreSQL the row reader waits on the backend between rows, and
    /// deflate is a third of the work. The page stays as it is where there is no
    /// runtime to run the thread on.
    fn relay(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (to, from) = mpsc::sync_channel(RELAY_CHUNKS);
        let (give_back, emptied) = mpsc::channel();
        let mut direct = std::mem::replace(self, Output::Relayed { to, emptied });
        if let Output::Page { until_relay, .. } = &mut direct {
            *until_relay = None;
        }
        runtime.spawn_blocking(move || {
            for piece in from.iter() {
                match piece {
                    Piece::Json(mut json) => {
                        if let Err(e) = direct.flush(&mut json) {
                            if !matches!(e, StoreError::SinkClosed) {
                                direct.fail(e);
                            }
                            // Dropping `from` tells the writer.
                            return;
                        }
                        // Empty, with its capacity: no fresh allocation per chunk.
                        let _ = give_back.send(json);
                    }
                    Piece::End { last, size } => {
                        if let Err(e) = direct.end(last, size)
                            && !matches!(e, StoreError::SinkClosed)
                        {
                            direct.fail(e);
                        }
                        return;
                    }
                    Piece::Fail(e) => return direct.fail(e),
                }
            }
            // The writer went away without ending the page: the client must not
            // take what came so far for a whole page.
            direct.fail(StoreError::Invalid(
                "the page's writer stopped before its end".into(),
            ));
        });
    }

    /// Ends the response with `last` (the whole body if nothing was sent yet).
    pub fn finish(&mut self, last: Vec<u8>) -> Result<(), StoreError> {
        self.end(last, Box::new(|_| {}))
    }

    /// Ends the response with `last`; `size` learns the body's size in bytes (as
    /// sent, compressed or not) just before its last bytes go out.
    pub fn end(
        &mut self,
        last: Vec<u8>,
        size: Box<dyn FnOnce(usize) + Send>,
    ) -> Result<(), StoreError> {
        match self {
            Output::Collect => {
                size(last.len());
                Ok(())
            }
            Output::Relayed { to, .. } => to
                .send(Piece::End { last, size })
                .map_err(|_| StoreError::SinkClosed),
            Output::Page { page, encoder, .. } => {
                let last = match encoder.take() {
                    Some(mut e) => {
                        let mut compressed = e.write(&last).map_err(io_error)?;
                        compressed.extend_from_slice(&e.finish().map_err(io_error)?);
                        compressed
                    }
                    None => last,
                };
                size(page.sent + last.len());
                page.finish(last)
            }
        }
    }

    /// Reports a failure to the client (see [`PageOut::fail`]).
    pub fn fail(&mut self, error: StoreError) {
        match self {
            Output::Collect => {}
            Output::Page { page, .. } => page.fail(error),
            Output::Relayed { to, .. } => {
                let _ = to.send(Piece::Fail(error));
            }
        }
    }

    /// Whether the answer is past the point where a failure could still be its status:
    /// the first chunk went out, or the page went to its compressor (which reports a
    /// failure either way).
    pub fn started(&self) -> bool {
        match self {
            Output::Collect => false,
            Output::Page { page, .. } => page.started(),
            Output::Relayed { .. } => true,
        }
    }
}

fn io_error(e: io::Error) -> StoreError {
    StoreError::Invalid(format!("compressing the response failed: {e}"))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn a_chunks_buffer_is_reused_once_every_copy_of_its_bytes_is_dropped() {
        static SPARE: SpareBuffers = SpareBuffers::new(4);
        let mut buffer = SPARE.take();
        buffer.extend(std::iter::repeat_n(b'x', CHUNK));
        let address = buffer.as_ptr();
        let bytes = SPARE.bytes(buffer);
        let copy = bytes.slice(10..20);
        drop(bytes);
        // A copy still refers to the buffer: the next chunk gets another one.
        let other = SPARE.take();
        assert_ne!(other.as_ptr(), address);
        assert_eq!(&copy[..], &[b'x'; 10][..]);
        drop(copy);
        let reused = SPARE.take();
        assert_eq!(reused.as_ptr(), address);
        assert!(reused.is_empty());
        assert!(reused.capacity() >= CHUNK_CAPACITY);
    }

    #[test]
    fn only_chunk_sized_buffers_are_kept_and_no_more_than_the_bound() {
        static SPARE: SpareBuffers = SpareBuffers::new(2);
        let spares = || SPARE.buffers.lock().expect("not poisoned").len();
        drop(SPARE.bytes(b"{\"value\":[]}".to_vec()));
        drop(SPARE.bytes(Vec::with_capacity(4 * CHUNK_CAPACITY)));
        assert_eq!(spares(), 0);
        for _ in 0..3 {
            drop(SPARE.bytes(Vec::with_capacity(CHUNK_CAPACITY)));
        }
        assert_eq!(spares(), 2);
    }

    fn decode(encoding: ContentEncoding, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match encoding {
            ContentEncoding::Gzip => flate2::read::GzDecoder::new(body).read_to_end(&mut out),
            _ => flate2::read::ZlibDecoder::new(body).read_to_end(&mut out),
        }
        .expect("a valid compressed stream");
        out
    }

    /// A body in pieces the way a page is written: chunks out as they fill, then the rest.
    fn encode_in_pieces(encoding: ContentEncoding, json: &[u8]) -> Vec<u8> {
        let mut encoder = BodyEncoder::new(encoding).expect("an encoder");
        let mut body = Vec::new();
        for piece in json.chunks(10_000) {
            body.extend(encoder.write(piece).expect("write"));
        }
        body.extend(encoder.finish().expect("finish"));
        body
    }

    #[test]
    fn bodies_decode_to_what_was_written_also_on_a_reused_state() {
        let large: Vec<u8> = (0..400_000u32)
            .flat_map(|i| format!("{{\"id\":\"{i}\",\"n\":{}}},", i % 97).into_bytes())
            .collect();
        for encoding in [ContentEncoding::Gzip, ContentEncoding::Deflate] {
            // Several bodies in turn, so the later ones run on states from the pool.
            for json in [&b"{\"value\":[]}"[..], &large, b"", &large[..777]] {
                let body = encode_in_pieces(encoding, json);
                assert_eq!(decode(encoding, &body), json, "{encoding:?}");
            }
            // A state dropped half-way (a client that went away) does not spoil the
            // next body.
            let mut abandoned = BodyEncoder::new(encoding).expect("an encoder");
            abandoned.write(&large).expect("write");
            drop(abandoned);
            let body = encode_in_pieces(encoding, b"{\"a\":1}");
            assert_eq!(decode(encoding, &body), b"{\"a\":1}");
        }
    }

    #[test]
    fn a_large_body_goes_out_in_chunks_of_at_least_a_chunk() {
        let json: Vec<u8> = (0..2_000_000u32)
            .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
            .collect();
        let mut encoder = BodyEncoder::new(ContentEncoding::Gzip).expect("an encoder");
        let mut sizes = Vec::new();
        for piece in json.chunks(CHUNK) {
            let out = encoder.write(piece).expect("write");
            if !out.is_empty() {
                sizes.push(out.len());
            }
        }
        assert!(sizes.len() > 10, "{sizes:?}");
        assert!(sizes.iter().all(|&n| n >= CHUNK), "{sizes:?}");
    }

    /// JSON as a page writes it: `pieces` buffers of a chunk each.
    fn page_json(pieces: usize) -> Vec<Vec<u8>> {
        (0..pieces)
            .map(|p| {
                (0..CHUNK / 16)
                    .flat_map(|i| format!("{{\"n\":{:09}}},", p * CHUNK + i).into_bytes())
                    .collect()
            })
            .collect()
    }

    /// Writes `pieces` on a blocking thread as a page does, then ends it or, with
    /// `fail`, reports a failure; returns whether the page was relayed and what the
    /// client received: the chunks, and whether the stream ended in an error.
    async fn write_page(
        pieces: Vec<Vec<u8>>,
        compressing: Compressing,
        fail: bool,
    ) -> (bool, Vec<u8>, bool) {
        let (page, started) = PageOut::new();
        let (size_tx, size_rx) = oneshot::channel();
        let writer = tokio::task::spawn_blocking(move || {
            let mut output = Output::page(page, ContentEncoding::Gzip, compressing);
            // As the JSON writer does: append, flush once a chunk is full.
            let mut buffer = Vec::new();
            for json in pieces {
                buffer.extend_from_slice(&json);
                output.flush(&mut buffer).expect("flush");
            }
            let relayed = matches!(output, Output::Relayed { .. });
            if fail {
                output.fail(StoreError::Invalid("a failure".into()));
            } else {
                let end = Box::new(move |n| {
                    let _ = size_tx.send(n);
                });
                buffer.push(b']');
                output.end(buffer, end).expect("end");
            }
            relayed
        });
        let mut body = Vec::new();
        let mut failed = false;
        match started.await.expect("a start").expect("no error") {
            PageStart::Body(bytes) => body.extend_from_slice(&bytes),
            PageStart::Stream(mut rx) => {
                while let Some(chunk) = rx.recv().await {
                    match chunk {
                        Ok(bytes) => body.extend_from_slice(&bytes),
                        Err(_) => failed = true,
                    }
                }
            }
        }
        let relayed = writer.await.expect("the writer");
        if !fail {
            assert_eq!(size_rx.await.expect("the size"), body.len());
        }
        (relayed, body, failed)
    }

    #[actix_web::test]
    async fn a_large_page_is_compressed_on_a_thread_of_its_own_and_arrives_whole() {
        let pieces = page_json(40);
        let mut json: Vec<u8> = pieces.concat();
        json.push(b']');
        let (relayed, body, failed) = write_page(pieces.clone(), Compressing::Apart, false).await;
        assert!(relayed && !failed);
        assert_eq!(decode(ContentEncoding::Gzip, &body), json);

        // Unless the store's reads do not gain from it.
        let (relayed, body, failed) = write_page(pieces, Compressing::Inline, false).await;
        assert!(!relayed && !failed);
        assert_eq!(decode(ContentEncoding::Gzip, &body), json);

        // A page below the hand-off size is compressed where it is written.
        let small = page_json(2);
        let mut json: Vec<u8> = small.concat();
        json.push(b']');
        let (relayed, body, failed) = write_page(small, Compressing::Apart, false).await;
        assert!(!relayed && !failed);
        assert_eq!(decode(ContentEncoding::Gzip, &body), json);
    }

    #[actix_web::test]
    async fn a_failure_after_the_hand_off_breaks_the_stream() {
        let (relayed, _, failed) = write_page(page_json(40), Compressing::Apart, true).await;
        assert!(relayed && failed);
    }

    #[actix_web::test]
    async fn a_relayed_page_learns_that_its_client_went_away() {
        let (page, started) = PageOut::new();
        let writer = tokio::task::spawn_blocking(move || {
            let mut output = Output::page(page, ContentEncoding::Gzip, Compressing::Apart);
            // JSON that compresses well, so the first chunk goes out after the hand-off.
            let mut buffer = Vec::new();
            loop {
                buffer.extend_from_slice(&page_json(1).concat());
                if let Err(e) = output.flush(&mut buffer) {
                    return (matches!(output, Output::Relayed { .. }), e);
                }
            }
        });
        match started.await.expect("a start").expect("no error") {
            PageStart::Stream(rx) => drop(rx),
            PageStart::Body(_) => panic!("a page this large streams"),
        }
        let (relayed, error) = writer.await.expect("the writer");
        assert!(relayed);
        assert!(matches!(error, StoreError::SinkClosed), "{error}");
    }

    #[test]
    fn identity_needs_no_encoder() {
        assert!(BodyEncoder::new(ContentEncoding::Identity).is_none());
    }
}
