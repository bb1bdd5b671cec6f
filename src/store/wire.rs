//! PostgreSQL reads over the wire protocol itself (`tokio-postgres`), beside the
//! Diesel connection of the same pooled slot.
//!
//! libpq, under Diesel, copies every value of every row into a result of its own
//! (`PGresult`, one per row in single-row mode; libpq 18's chunked-rows mode, which
//! Diesel does not offer, saves little): reading the 1M rows of a Calls pull cost the
//! reading process 1.95 s of CPU that way, against 1.28 s with `tokio-postgres`, which
//! hands out slices of the buffer it read from the socket (2.40 against 1.84 s over
//! TLS; `benches/pg_read.rs`, BENCHMARKS.md "PostgreSQL reads over the wire protocol").
//! So a read outside a transaction goes here; statements inside a transaction, and
//! every write, stay on the Diesel connection, which is the transaction's.
//!
//! The reader is opened on the slot's first read with the same settings as the Diesel
//! connection (statement and lock time limits), records its backend pid for the
//! cancel watcher ([`super::cancel`]), keeps the prepared form of the same reads Diesel
//! would keep ([`super::bind`]), and is dropped, to be opened again, once its
//! connection is closed or, after a second unused, does not answer (as the pool checks
//! the Diesel connection), so a restarted server costs no failed request. A URL the crate cannot read (libpq accepts more options)
//! leaves every read on Diesel, with a warning at start.

use std::collections::HashMap;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::{Stream, TryStreamExt};
use postgres_openssl::MakeTlsConnector;
use tokio::runtime::Runtime;
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Client, Config, Row, RowStream};

use super::bind::{PgArg, admit_to_cache, pg_arg};
use super::cancel::session_settings;
use super::compile::ColumnPos;
use super::read::{RowSink, pg_cell};
use super::sql::Statement;
use super::{Cell, ColumnKind, StoreError};

/// How a slot's reader connects: the URL as `tokio-postgres` reads it, TLS as
/// libpq would do it, and the time limits every connection of the pool gets.
#[derive(Clone)]
pub(super) struct ReaderConfig {
    config: Config,
    tls: MakeTlsConnector,
    statement_timeout: Option<Duration>,
}

impl ReaderConfig {
    /// `None` when the crate does not understand `target` (then reads stay on libpq).
    pub(super) fn new(target: &str, statement_timeout: Option<Duration>) -> Option<ReaderConfig> {
        let mut config: Config = match target.parse() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(
                    "reads go through libpq: the page reader cannot use the database URL ({e})"
                );
                return None;
            }
        };
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(15));
        }
        Some(ReaderConfig {
            config,
            tls: tls_like_libpq()?,
            statement_timeout,
        })
    }
}

/// TLS as libpq's `sslmode=prefer` and `require` do it: encrypted, the server's
/// certificate not checked (the crate's config has no `verify-ca` or `verify-full`,
/// so a URL asking for those is refused by it and read through libpq).
fn tls_like_libpq() -> Option<MakeTlsConnector> {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
    let mut builder = match SslConnector::builder(SslMethod::tls_client()) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("reads go through libpq: no TLS for the page reader ({e})");
            return None;
        }
    };
    builder.set_verify(SslVerifyMode::NONE);
    Some(MakeTlsConnector::new(builder.build()))
}

/// A slot's connection for reads, with its backend pid and its prepared reads.
///
/// The connection is driven by a runtime of its own, on the thread that reads, entered
/// once per batch of rows that have arrived (the `postgres` crate's blocking client
/// enters its runtime once per row: about 130 ns a row in the profile).
pub(super) struct Reader {
    runtime: Runtime,
    client: Client,
    pid: i32,
    /// Prepared reads by their text, with the bind types they were prepared for.
    prepared: HashMap<String, (Vec<Type>, tokio_postgres::Statement)>,
    /// When the last statement ended.
    used: Instant,
}

impl Reader {
    pub(super) fn connect(config: &ReaderConfig) -> Result<Reader, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Connect(format!("no runtime for the page reader: {e}")))?;
        let (client, connection) = runtime.block_on(config.config.connect(config.tls.clone()))?;
        // Runs whenever the thread waits on this runtime. Its end is seen as a closed
        // client; the error itself reaches the statement that was running.
        runtime.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("a page reader's connection ended: {e}");
            }
        });
        let settings = session_settings(config.statement_timeout);
        runtime.block_on(client.batch_execute(&settings))?;
        let pid = runtime
            .block_on(client.query_one("SELECT pg_backend_pid()", &[]))?
            .try_get::<_, i32>(0)?;
        Ok(Reader {
            runtime,
            client,
            pid,
            prepared: HashMap::new(),
            used: Instant::now(),
        })
    }

    pub(super) fn pid(&self) -> i32 {
        self.pid
    }

    /// Whether the connection is gone (the server closed it or it broke).
    pub(super) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Whether the connection still answers: a round trip, unless it was used within
    /// `fresh` (the pool checks the Diesel connection the same way).
    pub(super) fn is_sound(&mut self, fresh: Duration) -> bool {
        if self.used.elapsed() < fresh {
            return !self.client.is_closed();
        }
        let answered = self.runtime.block_on(self.client.simple_query("")).is_ok();
        self.used = Instant::now();
        answered
    }

    /// Runs `stmt` and feeds each row to `sink`; returns the number of rows read.
    pub(super) fn stream(
        &mut self,
        stmt: &Statement,
        kinds: &[ColumnKind],
        sink: &mut dyn RowSink,
    ) -> Result<u64, StoreError> {
        let read = self.read_rows(stmt, kinds, sink);
        self.used = Instant::now();
        read
    }

    fn read_rows(
        &mut self,
        stmt: &Statement,
        kinds: &[ColumnKind],
        sink: &mut dyn RowSink,
    ) -> Result<u64, StoreError> {
        let args: Vec<PgArg<'_>> = stmt.binds.iter().map(|(v, k)| pg_arg(v, *k)).collect();
        let types: Vec<Type> = args.iter().map(PgArg::sql_type).collect();
        let Reader {
            runtime,
            client,
            prepared,
            ..
        } = self;
        let rows = runtime.block_on(async {
            let kept = match prepared.get(&stmt.text) {
                Some((t, s)) if *t == types => Some(s.clone()),
                Some(_) => None,
                None if admit_to_cache(&stmt.text) => {
                    let s = client.prepare_typed(&stmt.text, &types).await?;
                    prepared.insert(stmt.text.clone(), (types.clone(), s.clone()));
                    Some(s)
                }
                None => None,
            };
            match kept {
                Some(s) => client.query_raw(&s, args.iter()).await,
                // One round trip: parse, bind and execute of the unnamed statement.
                None => {
                    client
                        .query_typed_raw(&stmt.text, args.iter().zip(types))
                        .await
                }
            }
        })?;
        let mut rows = std::pin::pin!(rows);
        let mut batch = Vec::with_capacity(BATCH);
        let mut read = 0;
        loop {
            let more = runtime.block_on(next_batch(rows.as_mut(), &mut batch))?;
            for row in batch.drain(..) {
                if !sink.begin_row()? {
                    return Ok(read);
                }
                for (i, &kind) in kinds.iter().enumerate() {
                    let cell = match row.try_get::<_, Option<Raw<'_>>>(i)? {
                        None => Cell::Null,
                        Some(Raw(bytes)) => pg_cell(bytes, kind)?,
                    };
                    sink.cell(ColumnPos::new(i), cell)?;
                }
                sink.end_row()?;
                read += 1;
            }
            if !more {
                return Ok(read);
            }
        }
    }
}

/// The most rows taken from the connection per entry into its runtime.
const BATCH: usize = 256;

/// Waits for the next row, then takes the rows that have already arrived, up to
/// [`BATCH`]; `false` once the statement's rows are all in. The sink is fed between
/// batches, outside the runtime: it may block (a page's writer waits for the client).
async fn next_batch(
    mut rows: Pin<&mut RowStream>,
    batch: &mut Vec<Row>,
) -> Result<bool, tokio_postgres::Error> {
    match rows.as_mut().try_next().await? {
        Some(row) => batch.push(row),
        None => return Ok(false),
    }
    while batch.len() < BATCH {
        match std::future::poll_fn(|cx| Poll::Ready(rows.as_mut().poll_next(cx))).await {
            Poll::Ready(Some(row)) => batch.push(row?),
            Poll::Ready(None) => return Ok(false),
            Poll::Pending => break,
        }
    }
    Ok(true)
}

/// A value's bytes as they came (binary format); [`pg_cell`] decodes them by the
/// column kind the model gives, as on the Diesel path.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> Result<Raw<'a>, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}
