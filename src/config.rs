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
            schedule: crate::jobs::schedule::ScheduleSettings::default(),
            run_jobs: true,
            pool_size: 8,
            workers: 2,
            key_cache_seconds: 5,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.limits.page_size == 0 || self.limits.max_page_size < self.limits.page_size {
            anyhow::bail!("page_size must be at least 1 and at most max_page_size");
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
