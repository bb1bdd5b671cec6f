//! The response body of a page: the first chunk is held back so a small page goes
//! out as one sized body; a larger one streams through a bounded channel, compressed
//! on the producer thread as it is written, so memory stays flat and a slow client
//! slows the query down. A chunk is [`CHUNK`] bytes of what goes on the wire: the
//! compressor's output is gathered to that size too.

use std::io;
use std::io::Write;

use actix_web::http::header::{self, AcceptEncoding, ContentEncoding, Encoding};
use actix_web::{HttpMessage, HttpRequest, HttpResponseBuilder};
use bytes::Bytes;
use tokio::sync::mpsc::{Receiver, Sender};
use tokio::sync::oneshot;

use crate::store::StoreError;

pub const CHUNK: usize = 64 * 1024;

pub type ChunkSender = Sender<Result<Bytes, io::Error>>;

/// Chunks in flight between the producer thread and the connection.
const CHANNEL_CHUNKS: usize = 8;

/// Compression done by the thread that writes the JSON, as negotiated from
/// `Accept-Encoding` by [`negotiated_encoding`]. Responses carrying a
/// `Content-Encoding` are passed through untouched by actix's `Compress` middleware,
/// which would otherwise compress each chunk on a `spawn_blocking` task of its own.
pub enum BodyEncoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Deflate(flate2::write::ZlibEncoder<Vec<u8>>),
}

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
    /// The same compression level as `Compress` uses.
    pub fn new(encoding: ContentEncoding) -> Option<BodyEncoder> {
        let level = flate2::Compression::fast();
        match encoding {
            // Small at first: most answers (a point query, a short page) are a few
            // hundred bytes compressed, and freeing a buffer of 64 KiB or more makes the
            // allocator consolidate its heap. A full chunk's buffer follows the first.
            ContentEncoding::Gzip => Some(BodyEncoder::Gzip(flate2::write::GzEncoder::new(
                Vec::with_capacity(CHUNK / 16),
                level,
            ))),
            ContentEncoding::Deflate => Some(BodyEncoder::Deflate(
                flate2::write::ZlibEncoder::new(Vec::with_capacity(CHUNK / 16), level),
            )),
            _ => None,
        }
    }

    /// Compresses `data`; returns the compressed bytes once they fill a chunk (empty
    /// before), so the compressed stream, some five times smaller than its JSON, goes
    /// out in chunks as large as an uncompressed one: fewer sends, fewer wake-ups.
    fn write(&mut self, data: &[u8]) -> io::Result<Vec<u8>> {
        let compressed = match self {
            BodyEncoder::Gzip(e) => {
                e.write_all(data)?;
                e.get_mut()
            }
            BodyEncoder::Deflate(e) => {
                e.write_all(data)?;
                e.get_mut()
            }
        };
        if compressed.len() < CHUNK {
            return Ok(Vec::new());
        }
        Ok(std::mem::replace(
            compressed,
            Vec::with_capacity(CHUNK + CHUNK / 2),
        ))
    }

    fn finish(self) -> io::Result<Vec<u8>> {
        match self {
            BodyEncoder::Gzip(e) => e.finish(),
            BodyEncoder::Deflate(e) => e.finish(),
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
                .blocking_send(Ok(Bytes::from(chunk)))
                .map_err(|_| StoreError::SinkClosed),
            None => Err(StoreError::SinkClosed),
        }
    }

    /// The last bytes: the whole body if nothing was sent yet.
    fn finish(&mut self, last: Vec<u8>) -> Result<(), StoreError> {
        match self.start.take() {
            Some(start) => start
                .send(Ok(PageStart::Body(Bytes::from(last))))
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
    Page {
        page: PageOut,
        encoder: Option<Box<BodyEncoder>>,
    },
}

impl Output {
    /// Sends `buffer` (if streaming), leaving it empty; when collecting, keeps it.
    pub fn flush(&mut self, buffer: &mut Vec<u8>) -> Result<(), StoreError> {
        let Output::Page { page, encoder } = self else {
            return Ok(());
        };
        if buffer.is_empty() {
            return Ok(());
        }
        let chunk = match encoder {
            Some(encoder) => {
                let compressed = encoder.write(buffer).map_err(io_error)?;
                buffer.clear();
                compressed
            }
            None => std::mem::replace(buffer, Vec::with_capacity(CHUNK + 4096)),
        };
        page.send(chunk)
    }

    /// Ends the response with `last` (the whole body if nothing was sent yet).
    pub fn finish(&mut self, last: Vec<u8>) -> Result<(), StoreError> {
        let last = self.seal(last)?;
        self.send_last(last)
    }

    /// The bytes that end the response, `last` compressed with what the encoder still
    /// holds: [`Output::send_last`] sends them.
    pub fn seal(&mut self, last: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let Output::Page { encoder, .. } = self else {
            return Ok(last);
        };
        match encoder.take() {
            Some(mut e) => {
                let mut compressed = e.write(&last).map_err(io_error)?;
                compressed.extend_from_slice(&e.finish().map_err(io_error)?);
                Ok(compressed)
            }
            None => Ok(last),
        }
    }

    /// Ends the response with the bytes [`Output::seal`] returned.
    pub fn send_last(&mut self, last: Vec<u8>) -> Result<(), StoreError> {
        match self {
            Output::Page { page, .. } => page.finish(last),
            Output::Collect => Ok(()),
        }
    }

    /// Reports a failure to the client (see [`PageOut::fail`]).
    pub fn fail(&mut self, error: StoreError) {
        if let Output::Page { page, .. } = self {
            page.fail(error);
        }
    }

    /// The bytes of the body sent so far.
    pub fn sent(&self) -> usize {
        match self {
            Output::Page { page, .. } => page.sent,
            Output::Collect => 0,
        }
    }

    /// Whether the first chunk went out already (so the answer is streaming).
    pub fn started(&self) -> bool {
        matches!(self, Output::Page { page, .. } if page.started())
    }
}

fn io_error(e: io::Error) -> StoreError {
    StoreError::Invalid(format!("compressing the response failed: {e}"))
}
