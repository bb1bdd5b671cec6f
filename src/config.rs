//! Settings, from (highest first) command-line flags, `CCFEED_*` environment
//! variables, a TOML config file, and defaults. Flags and variables are declared once
//! with clap in `main.rs`; this module merges them with the file.

use std::path::Path;

use serde::Deserialize;

use crate::plan::Limits;

/// What the config file may set. Unknown keys are an error, so a typo is not silently
/// ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub listen: Option<String>,
    pub database: Option<String>,
    pub public_url: Option<String>,
    pub page_size: Option<u64>,
    pub max_page_size: Option<u64>,
    pub max_orderby_keys: Option<usize>,
    pub max_filter_nodes: Option<usize>,
    pub max_depth: Option<usize>,
    pub max_url_length: Option<usize>,
    pub max_expand_depth: Option<usize>,
    pub max_aggregates: Option<usize>,
    pub max_group_keys: Option<usize>,
    pub statement_timeout_ms: Option<u64>,
    pub max_batch_parts: Option<usize>,
    pub max_batch_bytes: Option<usize>,
    pub max_ingest_bytes: Option<u64>,
    /// Longest NDJSON line (or JSON array element) of an ingest body.
    pub max_line_bytes: Option<u64>,
    /// Seconds an ingest or import body may take to arrive (longer: 408).
    pub ingest_body_timeout_seconds: Option<u64>,
    /// UTC time of the daily lookup refresh, `HH:MM`.
    pub refresh_at: Option<String>,
    /// UTC time of the daily retention purge, `HH:MM`.
    pub purge_at: Option<String>,
    /// Run the scheduled jobs in this server (default true).
    pub jobs: Option<bool>,
    pub pool_size: Option<u32>,
    pub workers: Option<usize>,
    /// Seconds a verified key is remembered (0: check every request in the database).
    pub key_cache_seconds: Option<u64>,
    /// Requests one key may have in progress at once (0: no limit).
    pub key_max_concurrent: Option<usize>,
    /// Requests one key may start per minute, in bursts of up to as many (0: no limit).
    pub key_requests_per_minute: Option<u32>,
    /// Rows the retention purge deletes per statement.
    pub purge_chunk: Option<usize>,
    /// Minutes a claimed daily job slot stays claimed without its run finishing.
    pub job_lease_minutes: Option<i64>,
    /// The lookup refresh refuses a snapshot that lists fewer than
    /// `refresh_guard_min_fraction` of a set's active rows, once the set has at least
    /// `refresh_guard_min_rows` of them.
    pub refresh_guard_min_rows: Option<usize>,
    pub refresh_guard_min_fraction: Option<f64>,
    /// Seconds the lookup refresh waits for an HTTP directory source.
    pub refresh_timeout_seconds: Option<u64>,
    /// Largest directory document the lookup refresh reads.
    pub max_directory_bytes: Option<u64>,
    /// Memory for pages produced ahead of the client's next request (0: off).
    pub prefetch_memory_mb: Option<u64>,
    /// Milliseconds a page produced ahead waits for its client.
    pub prefetch_idle_ms: Option<u64>,
}

impl FileSettings {
    pub fn read(path: &Path) -> anyhow::Result<FileSettings> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
    }
}

/// The resolved settings of a running server.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub database: String,
    pub demo: bool,
    /// The tenant served to requests without credentials. Only demo mode sets it (to
    /// the demo tenant, on a loopback address); there is no setting for it.
    pub anonymous_tenant: Option<String>,
    /// The externally visible service root (e.g. behind a reverse proxy), used in
    /// `@odata.context` and `@odata.nextLink`. Default: from the request's Host.
    pub public_url: Option<String>,
    pub limits: Limits,
    /// Largest ingest body, after decompression (`max_ingest_bytes`); larger: 413.
    pub max_ingest_bytes: u64,
    /// Longest NDJSON line or JSON array element of an ingest body, after gunzip
    /// (`max_line_bytes`); longer: 413, found without buffering the line.
    pub max_line_bytes: u64,
    /// How long an ingest or import body may take to arrive
    /// (`ingest_body_timeout_seconds`); it is read whole before the write starts.
    pub ingest_body_timeout: std::time::Duration,
    /// When the jobs run and how.
    pub schedule: crate::jobs::schedule::ScheduleSettings,
    /// Whether this server runs the scheduler.
    pub run_jobs: bool,
    pub pool_size: u32,
    pub workers: usize,
    /// Seconds a verified key (and the demo tenant) is remembered between requests
    /// (`key_cache_seconds`); a revoked or expired key is refused at most this long
    /// after the change. 0 checks the database on every request.
    pub key_cache_seconds: u64,
    /// The share of the server one key (one credential; all anonymous demo callers
    /// together count as one) may take: 429 with `Retry-After` beyond it.
    pub fair_share: FairShare,
    /// Pipelined paging (`prefetch_memory_mb`, `prefetch_idle_ms`).
    pub prefetch: PrefetchSettings,
}

/// Pages produced ahead: the memory they may hold together (0 turns prefetching
/// off) and how long one waits for its client before it is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefetchSettings {
    pub memory_bytes: usize,
    pub idle: std::time::Duration,
}

impl Default for PrefetchSettings {
    fn default() -> PrefetchSettings {
        // Two gzip pages of 20,000 Calls (about 3.7 MB each), or part of one uncompressed
        // (about 19 MB, produced in part).
        PrefetchSettings {
            memory_bytes: 8 << 20,
            idle: std::time::Duration::from_secs(3),
        }
    }
}

/// Per-key limits (`key_max_concurrent`, `key_requests_per_minute`); 0 turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FairShare {
    /// Requests in progress at once, counted until the response body is sent.
    pub max_concurrent: usize,
    /// Requests started per minute: a bucket of this many that refills evenly.
    pub requests_per_minute: u32,
}

impl Default for FairShare {
    fn default() -> FairShare {
        FairShare {
            max_concurrent: 4,
            requests_per_minute: 1200,
        }
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            listen: "127.0.0.1:8080".into(),
            database: "./ccfeed.db".into(),
            demo: false,
            anonymous_tenant: None,
            public_url: None,
            limits: Limits::default(),
            max_ingest_bytes: 1 << 30,
            ingest_body_timeout: std::time::Duration::from_secs(300),
            max_line_bytes: 1 << 20,
            schedule: crate::jobs::schedule::ScheduleSettings::default(),
            run_jobs: true,
            pool_size: 8,
            workers: 2,
            key_cache_seconds: 5,
            fair_share: FairShare::default(),
            prefetch: PrefetchSettings::default(),
        }
    }
}

impl Settings {
    /// A warning for a server that builds its links from the request's `Host` header
    /// while it is reachable from other machines: behind a proxy (or facing a client
    /// that sends any `Host` or `X-Forwarded-Host` it likes) the links in responses
    /// would point wherever the request said. `public_url` fixes the links.
    pub fn public_url_warning(&self) -> Option<String> {
        let loopback = self
            .listen
            .parse::<std::net::SocketAddr>()
            .map(|a| a.ip().is_loopback())
            .unwrap_or(false);
        (!loopback && self.public_url.is_none()).then(|| {
            format!(
                "listening on {} without --public-url: links in responses (@odata.context, @odata.nextLink) \
                 are built from each request's Host and X-Forwarded-Host headers; set --public-url \
                 to the address clients use (e.g. https://feed.example.com/odata)",
                self.listen
            )
        })
    }

    /// The defaults with the file's values applied (flags and variables go on top,
    /// in `main.rs`). Every command reads its settings this way: `serve` and the
    /// command-line jobs alike.
    pub fn from_file(file: &FileSettings) -> anyhow::Result<Settings> {
        let mut s = Settings::default();
        if let Some(v) = &file.listen {
            s.listen = v.clone();
        }
        if let Some(v) = &file.database {
            s.database = v.clone();
        }
        s.public_url = file.public_url.clone();
        if let Some(v) = file.page_size {
            s.limits.page_size = v;
        }
        if let Some(v) = file.max_page_size {
            s.limits.max_page_size = v;
        }
        if let Some(v) = file.max_orderby_keys {
            s.limits.max_orderby_keys = v;
        }
        if let Some(v) = file.max_filter_nodes {
            s.limits.max_filter_nodes = v;
        }
        if let Some(v) = file.max_depth {
            s.limits.max_depth = v;
        }
        if let Some(v) = file.max_url_length {
            s.limits.max_url_length = v;
        }
        if let Some(v) = file.max_expand_depth {
            s.limits.max_expand_depth = v;
        }
        if let Some(v) = file.statement_timeout_ms {
            s.limits.statement_timeout_ms = v;
        }
        if let Some(v) = file.max_batch_parts {
            s.limits.max_batch_parts = v;
        }
        if let Some(v) = file.max_batch_bytes {
            s.limits.max_batch_bytes = v;
        }
        if let Some(v) = file.max_aggregates {
            s.limits.max_aggregates = v;
        }
        if let Some(v) = file.max_group_keys {
            s.limits.max_group_keys = v;
        }
        if let Some(v) = file.max_ingest_bytes {
            s.max_ingest_bytes = v;
        }
        if let Some(v) = file.max_line_bytes {
            s.max_line_bytes = v;
        }
        if let Some(v) = file.ingest_body_timeout_seconds {
            s.ingest_body_timeout = std::time::Duration::from_secs(v);
        }
        if let Some(v) = &file.refresh_at {
            s.schedule.refresh_at = chrono::NaiveTime::parse_from_str(v, "%H:%M")
                .map_err(|_| anyhow::anyhow!("refresh_at '{v}' is not a time of day like 00:00"))?;
        }
        if let Some(v) = &file.purge_at {
            s.schedule.purge_at = chrono::NaiveTime::parse_from_str(v, "%H:%M")
                .map_err(|_| anyhow::anyhow!("purge_at '{v}' is not a time of day like 01:00"))?;
        }
        if let Some(v) = file.jobs {
            s.run_jobs = v;
        }
        if let Some(v) = file.pool_size {
            s.pool_size = v;
        }
        if let Some(v) = file.workers {
            s.workers = v;
        }
        if let Some(v) = file.key_cache_seconds {
            s.key_cache_seconds = v;
        }
        if let Some(v) = file.purge_chunk {
            s.schedule.purge_chunk = v;
        }
        if let Some(v) = file.job_lease_minutes {
            s.schedule.lease = chrono::Duration::try_minutes(v)
                .ok_or_else(|| anyhow::anyhow!("job_lease_minutes {v} is out of range"))?;
        }
        if let Some(v) = file.refresh_guard_min_rows {
            s.schedule.refresh.guard_min_rows = v;
        }
        if let Some(v) = file.refresh_guard_min_fraction {
            s.schedule.refresh.guard_min_fraction = v;
        }
        if let Some(v) = file.max_directory_bytes {
            s.schedule.refresh.max_document_bytes = v;
        }
        if let Some(v) = file.refresh_timeout_seconds {
            s.schedule.refresh.http_timeout = std::time::Duration::from_secs(v);
        }
        if let Some(v) = file.key_max_concurrent {
            s.fair_share.max_concurrent = v;
        }
        if let Some(v) = file.key_requests_per_minute {
            s.fair_share.requests_per_minute = v;
        }
        if let Some(v) = file.prefetch_memory_mb {
            s.prefetch.memory_bytes = usize::try_from(v)
                .ok()
                .and_then(|mb| mb.checked_mul(1 << 20))
                .ok_or_else(|| anyhow::anyhow!("prefetch_memory_mb {v} is out of range"))?;
        }
        if let Some(v) = file.prefetch_idle_ms {
            s.prefetch.idle = std::time::Duration::from_millis(v);
        }
        Ok(s)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.schedule.lease < chrono::Duration::minutes(1) {
            anyhow::bail!("job_lease_minutes must be at least 1");
        }
        if self.schedule.purge_chunk == 0 {
            anyhow::bail!("purge_chunk must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.schedule.refresh.guard_min_fraction) {
            anyhow::bail!("refresh_guard_min_fraction must be between 0 and 1");
        }
        if self.limits.page_size == 0 || self.limits.max_page_size < self.limits.page_size {
            anyhow::bail!("page_size must be at least 1 and at most max_page_size");
        }
        // The HTTP layer takes no URL longer than this (`http::Uri`'s limit).
        if self.limits.max_url_length > 65_534 {
            anyhow::bail!("max_url_length can be at most 65534 bytes");
        }
        if self.pool_size == 0 {
            anyhow::bail!("pool_size must be at least 1");
        }
        if self.demo {
            let loopback = self
                .listen
                .parse::<std::net::SocketAddr>()
                .map(|a| a.ip().is_loopback())
                .unwrap_or(false);
            if !loopback {
                anyhow::bail!(
                    "--demo serves data without credentials, so it only listens on a loopback address \
                     (e.g. 127.0.0.1:8080), not {}",
                    self.listen
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_without_public_url_only_off_loopback() {
        let mut s = Settings {
            listen: "0.0.0.0:8080".into(),
            ..Settings::default()
        };
        assert!(s.public_url_warning().unwrap().contains("--public-url"));
        s.public_url = Some("https://feed.example.com/odata".into());
        assert_eq!(s.public_url_warning(), None);
        for listen in ["127.0.0.1:8080", "[::1]:8080"] {
            let s = Settings {
                listen: listen.into(),
                ..Settings::default()
            };
            assert_eq!(s.public_url_warning(), None, "{listen}");
        }
    }
}
