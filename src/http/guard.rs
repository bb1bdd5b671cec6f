//! The connection guard: reads each request head before actix-http does, so that a
//! head actix-http would refuse with its own empty response (a URL over 65,534 bytes,
//! a head over 128 KiB or with more than 96 headers, a malformed request line) is
//! answered like every other error: an OData error body with one `OData-Version`.
//!
//! actix-http's limits are constants and its parse errors are answered inside its
//! dispatcher, before any service or middleware runs, so they cannot be raised or
//! wrapped from the application. Instead the guard sits between the socket and
//! actix-http: it collects each request head, checks it with the same parser
//! (`httparse`) and URI type actix-http uses, and passes acceptable heads on
//! unchanged. For a head that would fail it passes on a small stand-in request,
//! `GET /.ccfeed/refused/<status>` with `Connection: close`, which the application
//! answers with the OData error for that status, and discards the rest of what the
//! client sends. Heads pass through whole, so actix-http never sees a partial one
//! that it could misjudge; bodies pass through as they arrive.
//!
//! The guard also keeps actix-http's time limit for a request head (five seconds from
//! the connection, or from the first byte of a later request's head): a head still
//! incomplete then gets a stand-in request for a 408, with an OData body instead of
//! actix-http's empty one, and a new connection that sent nothing is closed. Idle
//! connections between requests are left to actix-http's keep-alive timer.
//!
//! Request boundaries are tracked through `Content-Length` bodies. After a chunked
//! body the guard stops checking that connection (passing everything on as it is),
//! since finding the next head would mean decoding the chunks; such a connection gets
//! actix-http's own answer to a bad head, as before.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::http::Uri;
use actix_web::rt::net::TcpStream;
use actix_web::web::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where the stand-in requests go.
pub const REFUSED_PATH: &str = "/.ccfeed/refused";

/// actix-http's own limits: the longest URI `http::Uri` accepts, the request head
/// buffer, and the number of headers.
const MAX_URI: usize = 65_534;
const MAX_HEAD: usize = 128 * 1024;
const MAX_HEADERS: usize = 96;

/// Heads are judged below actix-http's buffer limit, so actix-http never reaches it.
const HEAD_LIMIT: usize = MAX_HEAD - 8 * 1024;

/// How long a request head may take to arrive (actix-http's default).
pub const HEAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Collecting the next request head.
    Head,
    /// Passing on this many more body bytes, then a head again.
    Body(u64),
    /// No more checking on this connection.
    Through,
    /// A stand-in request was passed on; everything else the client sends is dropped.
    Refused,
}

/// A TCP stream whose incoming request heads are checked before actix-http reads them.
pub struct GuardedStream {
    inner: TcpStream,
    mode: Mode,
    /// Bytes read from the socket and not yet judged.
    input: BytesMut,
    /// Bytes judged and ready for actix-http.
    output: BytesMut,
    /// When the head being collected must be complete (unset between requests).
    head_deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether a request has been passed on yet.
    served: bool,
}

/// What to do with a complete or over-long head.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Pass on the head (this many bytes) and then a body of this many bytes (`None`
    /// for a chunked body, after which the connection is no longer checked).
    Pass { head: usize, body: Option<u64> },
    /// Wait for more bytes.
    Incomplete,
    /// Refuse with this status.
    Refuse(u16),
}

fn judge(input: &[u8]) -> Verdict {
    let line_end = input.windows(2).position(|w| w == b"\r\n");
    // A request line that does not end within the URI limit (plus room for the method
    // and version) holds a URL longer than can be accepted.
    if line_end.map_or(input.len(), |e| e) > MAX_URI + 32 {
        return Verdict::Refuse(414);
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head = match request.parse(input) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if input.len() > HEAD_LIMIT => return Verdict::Refuse(431),
        Ok(httparse::Status::Partial) => return Verdict::Incomplete,
        Err(httparse::Error::TooManyHeaders) => return Verdict::Refuse(431),
        Err(_) => return Verdict::Refuse(400),
    };
    if head > HEAD_LIMIT {
        return Verdict::Refuse(431);
    }
    let path = request.path.unwrap_or_default();
    if Uri::try_from(path).is_err() {
        return Verdict::Refuse(if path.len() > MAX_URI { 414 } else { 400 });
    }
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    if header("transfer-encoding").is_some() {
        return Verdict::Pass { head, body: None };
    }
    let body = match header("content-length") {
        // actix-http answers a bad length itself; it is not the guard's to judge, so
        // the connection is no longer checked.
        Some(v) => v.parse::<u64>().ok(),
        None => Some(0),
    };
    Verdict::Pass { head, body }
}

impl GuardedStream {
    pub fn new(inner: TcpStream) -> GuardedStream {
        GuardedStream {
            inner,
            mode: Mode::Head,
            input: BytesMut::new(),
            output: BytesMut::new(),
            head_deadline: Some(Box::pin(tokio::time::sleep(HEAD_TIMEOUT))),
            served: false,
        }
    }

    fn refuse(&mut self, status: u16) {
        tracing::debug!("refused a request head with {status}");
        self.output.extend_from_slice(
            format!(
                "GET {REFUSED_PATH}/{status} HTTP/1.1\r\nHost: refused\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        self.mode = Mode::Refused;
    }

    /// Moves judged bytes from `input` to `output` as far as the mode allows.
    fn advance(&mut self) {
        loop {
            match self.mode {
                Mode::Through => {
                    let all = self.input.split();
                    self.output.unsplit(all);
                    return;
                }
                Mode::Refused => {
                    self.input.clear();
                    return;
                }
                Mode::Body(0) => self.mode = Mode::Head,
                Mode::Body(n) => {
                    if self.input.is_empty() {
                        return;
                    }
                    let take = n.min(self.input.len() as u64);
                    let part = self.input.split_to(take as usize);
                    self.output.unsplit(part);
                    self.mode = Mode::Body(n - take);
                }
                Mode::Head => {
                    if self.input.is_empty() {
                        return;
                    }
                    match judge(&self.input) {
                        Verdict::Incomplete => {
                            // Timed only when a head arrives in pieces: most come whole
                            // in one read and never touch the timer.
                            if self.head_deadline.is_none() {
                                self.head_deadline =
                                    Some(Box::pin(tokio::time::sleep(HEAD_TIMEOUT)));
                            }
                            return;
                        }
                        Verdict::Pass { head, body } => {
                            let part = self.input.split_to(head);
                            self.output.unsplit(part);
                            self.head_deadline = None;
                            self.served = true;
                            self.mode = match body {
                                Some(n) => Mode::Body(n),
                                None => Mode::Through,
                            };
                        }
                        Verdict::Refuse(status) => self.refuse(status),
                    }
                }
            }
        }
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.output.is_empty() {
                let n = this.output.len().min(buf.remaining());
                buf.put_slice(&this.output.split_to(n));
                return Poll::Ready(Ok(()));
            }
            // A head that takes too long, also one trickling in byte by byte.
            let expired = this.mode == Mode::Head
                && this
                    .head_deadline
                    .as_mut()
                    .is_some_and(|d| d.as_mut().poll(cx).is_ready());
            if expired {
                this.head_deadline = None;
                if this.input.is_empty() && !this.served {
                    // A new connection that sent nothing in time is closed.
                    return Poll::Ready(Ok(()));
                }
                this.input.clear();
                this.refuse(408);
                continue;
            }
            // Straight into the input buffer: no zeroed scratch buffer, no copy.
            this.input.reserve(16 * 1024);
            match tokio_util::io::poll_read_buf(Pin::new(&mut this.inner), cx, &mut this.input) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => {
                    if this.mode == Mode::Refused {
                        // The stand-in request is answered and the connection closed
                        // by actix-http; an early end of input must not cut that short.
                        return Poll::Pending;
                    }
                    // End of input: hand over what is left (a partial head is then
                    // actix-http's to drop) and the end itself.
                    let rest = this.input.split();
                    this.output.unsplit(rest);
                    if this.output.is_empty() {
                        return Poll::Ready(Ok(()));
                    }
                    this.mode = Mode::Through;
                }
                Poll::Ready(Ok(_)) => this.advance(),
            }
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_judged_like_actix_http_would() {
        let get = b"GET /odata/Calls HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(
            judge(get),
            Verdict::Pass {
                head: get.len(),
                body: Some(0)
            }
        );
        assert_eq!(
            judge(b"GET /odata/Calls HTTP/1.1\r\nHo"),
            Verdict::Incomplete
        );
        let post = b"POST /ingest/Calls HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(
            judge(post),
            Verdict::Pass {
                head: post.len() - 5,
                body: Some(5)
            }
        );
        let chunked = b"POST /i HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            judge(chunked),
            Verdict::Pass {
                head: chunked.len(),
                body: None
            }
        );
        // A URL longer than a Uri can hold, even before the line ends.
        let long = format!(
            "GET /odata/Calls?$filter={} HTTP/1.1\r\n",
            "a".repeat(70_000)
        );
        assert_eq!(judge(long.as_bytes()), Verdict::Refuse(414));
        assert_eq!(judge(&long.as_bytes()[..66_000]), Verdict::Refuse(414));
        // Too many headers, or too large a head.
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X-A: 1\r\n".repeat(100));
        assert_eq!(judge(many.as_bytes()), Verdict::Refuse(431));
        let large = format!("GET / HTTP/1.1\r\nX-A: {}\r\n", "b".repeat(HEAD_LIMIT));
        assert_eq!(judge(large.as_bytes()), Verdict::Refuse(431));
        // Not HTTP at all.
        assert_eq!(
            judge(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"),
            Verdict::Refuse(400)
        );
    }
}
