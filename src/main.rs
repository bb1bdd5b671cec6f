//! The `ccfeed` command line: `serve` runs the feed, `demo` fills a database with the
//! deterministic demo data set (at any scale, for benchmarks).

mod admin;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use ccfeed::config::{FileSettings, Settings};
use ccfeed::demo::{self, DemoOptions};
use ccfeed::edm::Model;
use ccfeed::http::{self, AppState};
use ccfeed::store::Db;

#[derive(Parser)]
#[command(
    name = "ccfeed",
    version,
    about = "Contact-center reporting data as an OData v4 feed for Power BI and Excel"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the OData feed.
    Serve(ServeArgs),
    /// Fill a database with the deterministic demo data set.
    Demo(DemoArgs),
    /// Create, list, show, change and delete tenants.
    Tenant {
        #[command(subcommand)]
        command: admin::TenantCommand,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Load a file of records (NDJSON or a JSON array, optionally .gz) into an entity set.
    Ingest(IngestArgs),
    /// Import other platforms' exports (Genesys conversation details, Kore.ai call
    /// details); each file is applied whole or not at all.
    Import(ImportArgs),
    /// Refresh lookup tables from each tenant's directory source now.
    RefreshLookups {
        /// Only this tenant (id or name); default all tenants with a source.
        #[arg(long)]
        tenant: Option<String>,
        /// Show the recent refreshes instead.
        #[arg(long)]
        history: bool,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Delete rows older than each tenant's retention now.
    Purge {
        /// Only this tenant (id or name); default all.
        #[arg(long)]
        tenant: Option<String>,
        /// Count what would be deleted, per entity set, without deleting.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        common: admin::Common,
    },
    /// Create, list and revoke tenant API keys.
    Key {
        #[command(subcommand)]
        command: admin::KeyCommand,
        #[command(flatten)]
        common: admin::Common,
    },
}

#[derive(Args)]
struct DatabaseArg {
    /// SQLite file path, or a postgres:// URL.
    #[arg(long, env = "CCFEED_DATABASE")]
    database: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CCFEED_LISTEN")]
    listen: Option<String>,
    #[command(flatten)]
    database: DatabaseArg,
    /// Fill an empty database with demo data and serve it without credentials
    /// (loopback only).
    #[arg(long, env = "CCFEED_DEMO")]
    demo: bool,
    /// TOML config file (the keys are listed in the README's configuration table).
    #[arg(long, env = "CCFEED_CONFIG")]
    config: Option<PathBuf>,
    /// The externally visible service root, e.g. https://feed.example.com/odata.
    #[arg(long, env = "CCFEED_PUBLIC_URL")]
    public_url: Option<String>,
    /// Rows per page unless the client asks for fewer.
    #[arg(long, env = "CCFEED_PAGE_SIZE")]
    page_size: Option<u64>,
    /// Seconds a verified key is remembered (default 5; 0 checks every request).
    #[arg(long, env = "CCFEED_KEY_CACHE_SECONDS")]
    key_cache_seconds: Option<u64>,
}

#[derive(Args)]
struct IngestArgs {
    #[command(flatten)]
    database: DatabaseArg,
    /// The tenant (id or name) the records belong to.
    #[arg(long)]
    tenant: String,
    /// Entity set to write, e.g. Calls.
    entity_set: String,
    /// File with one JSON record per line, or a JSON array; `.gz` files are unpacked.
    file: PathBuf,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ImportFormat {
    /// Genesys Cloud analytics conversation details ({"conversations": [...]}).
    Genesys,
    /// Kore.ai contact center call details ({"data": [...]}).
    Koreai,
}

#[derive(Args)]
struct ImportArgs {
    #[command(flatten)]
    database: DatabaseArg,
    /// Format of the export files.
    #[arg(value_enum)]
    format: ImportFormat,
    /// The tenant (id or name) the conversations belong to.
    #[arg(long)]
    tenant: String,
    /// Minutes east of UTC of the export's local timestamps (Kore.ai exports have no
    /// offset), e.g. 330 for India, -300 for US Eastern standard time.
    #[arg(long, allow_hyphen_values = true)]
    time_zone_offset: Option<i32>,
    /// Export files (JSON, optionally .gz); each is one batch.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Args)]
struct DemoArgs {
    #[command(flatten)]
    database: DatabaseArg,
    /// Number of calls to generate; chats, emails and everything else scale with it.
    #[arg(long, default_value_t = demo::DEFAULT_CALLS)]
    calls: u64,
    /// Days of history, ending at the data set's fixed end date (2026-11-22, UTC).
    #[arg(long, default_value_t = demo::DEFAULT_DAYS)]
    days: u32,
}

fn main() -> anyhow::Result<()> {
    // Logs go to stderr, so `--json` output on stdout stays machine-readable.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CCFEED_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Tenant { command, common } => admin::tenant(command, &common),
        Command::Ingest(args) => ingest_file(args),
        Command::Import(args) => import_files(args),
        Command::RefreshLookups {
            tenant,
            history,
            common,
        } => admin::refresh_lookups(tenant, history, &common),
        Command::Purge {
            tenant,
            dry_run,
            common,
        } => admin::purge(tenant, dry_run, &common),
        Command::Key { command, common } => admin::key(command, &common),
        Command::Demo(args) => {
            let database = args
                .database
                .database
                .unwrap_or_else(|| Settings::default().database);
            let db = Db::open(&database, 2)
                .with_context(|| format!("opening {}", ccfeed::store::redact_url(&database)))?;
            let model = Model::load()?;
            let stats = demo::generate(
                &db,
                &model,
                &DemoOptions {
                    calls: args.calls,
                    days: args.days,
                    progress: true,
                },
            )?;
            println!("{stats}");
            Ok(())
        }
    }
}

/// The database connection, the model and the tenant a file command writes to.
fn open_tenant(
    database: DatabaseArg,
    tenant: &str,
) -> anyhow::Result<(Model, Db, ccfeed::store::tenants::Tenant)> {
    let database = database
        .database
        .unwrap_or_else(|| Settings::default().database);
    let db = Db::open(&database, 1)
        .with_context(|| format!("opening {}", ccfeed::store::redact_url(&database)))?;
    let model = Model::load()?;
    let mut conn = db.get()?;
    let tenant = ccfeed::store::tenants::find_tenant(&mut conn, tenant)?
        .with_context(|| format!("no tenant '{tenant}'; `ccfeed tenant list` shows them"))?;
    drop(conn);
    Ok((model, db, tenant))
}

/// A file as a reader that moves a progress bar of its bytes, gunzipped when `.gz`.
fn open_with_progress(
    path: &std::path::Path,
) -> anyhow::Result<(Box<dyn std::io::Read>, indicatif::ProgressBar)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = indicatif::ProgressBar::new(size).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let reader = bar.wrap_read(file);
    let body: Box<dyn std::io::Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    Ok((body, bar))
}

fn import_files(args: ImportArgs) -> anyhow::Result<()> {
    use ccfeed::ingest::import::{self, Format, ImportError, ImportOptions};
    let (model, db, tenant) = open_tenant(args.database, &args.tenant)?;
    let format = match args.format {
        ImportFormat::Genesys => Format::Genesys,
        ImportFormat::Koreai => Format::Koreai,
    };
    let options = ImportOptions {
        time_zone_offset_minutes: args.time_zone_offset,
    };
    let mut failed = 0;
    for path in &args.files {
        let (body, bar) = open_with_progress(path)?;
        let result = import::import(
            &db,
            &model,
            &tenant,
            format,
            body,
            &options,
            &mut |done, total| {
                // After the file is read, the bar counts conversations.
                if bar.length() != Some(total) {
                    bar.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{bar:40} {pos}/{len} conversations",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    bar.set_length(total);
                }
                bar.set_position(done);
            },
        );
        bar.finish_and_clear();
        match result {
            Ok(report) => {
                let sets: Vec<String> = report
                    .sets
                    .iter()
                    .filter(|(_, c)| c.records > 0 || c.removed > 0)
                    .map(|(name, c)| {
                        let removed = if c.removed > 0 {
                            format!(", {} removed", c.removed)
                        } else {
                            String::new()
                        };
                        format!("{name} {} ({} new{removed})", c.records, c.inserted)
                    })
                    .collect();
                println!(
                    "{}: {} conversations: {}",
                    path.display(),
                    report.conversations,
                    sets.join(", ")
                );
            }
            Err(ImportError::Invalid(errors)) => {
                failed += 1;
                for e in &errors {
                    eprintln!("{}: {e}", path.display());
                }
                eprintln!(
                    "{}: {} problem(s); nothing from this file was written",
                    path.display(),
                    errors.len()
                );
            }
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e}", path.display());
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} file(s) were not imported", args.files.len());
    }
    Ok(())
}

fn ingest_file(args: IngestArgs) -> anyhow::Result<()> {
    let (model, db, tenant) = open_tenant(args.database, &args.tenant)?;
    let (body, bar) = open_with_progress(&args.file)?;
    let report = ccfeed::ingest::ingest(
        &db,
        &model,
        &tenant,
        &args.entity_set,
        body,
        Settings::default().max_line_bytes,
        &mut |_| {},
    );
    bar.finish_and_clear();
    let report = match report {
        Ok(r) => r,
        Err(ccfeed::ingest::IngestError::Invalid(errors)) => {
            for e in &errors {
                eprintln!("{}: {e}", args.file.display());
            }
            anyhow::bail!(
                "{} problem(s) in {}; nothing was written",
                errors.len(),
                args.file.display()
            );
        }
        Err(e) => anyhow::bail!("{}: {e}", args.file.display()),
    };
    println!(
        "{}: {} records, {} inserted, {} updated{}",
        report.entity_set,
        report.records,
        report.inserted,
        report.updated,
        report
            .conversations
            .map(|c| format!(", {c} Conversations rows"))
            .unwrap_or_default()
    );
    Ok(())
}

fn settings(args: ServeArgs) -> anyhow::Result<Settings> {
    let file = match &args.config {
        Some(path) => FileSettings::read(path)?,
        None => FileSettings::default(),
    };
    let mut s = Settings::from_file(&file)?;
    if let Some(v) = args.listen {
        s.listen = v;
    }
    if let Some(v) = args.database.database {
        s.database = v;
    }
    s.demo = args.demo;
    if let Some(v) = args.public_url {
        s.public_url = Some(v);
    }
    if let Some(v) = args.page_size {
        s.limits.page_size = v;
    }
    if let Some(v) = args.key_cache_seconds {
        s.key_cache_seconds = v;
    }
    if s.demo {
        s.anonymous_tenant = Some(demo::TENANT.to_string());
    }
    s.validate()?;
    Ok(s)
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = settings(args)?;
    let model = Arc::new(Model::load()?);
    let db = Db::open_with(
        &settings.database,
        settings.pool_size,
        settings.limits.statement_timeout(),
    )
    .with_context(|| {
        format!(
            "opening the database {}",
            ccfeed::store::redact_url(&settings.database)
        )
    })?;
    tracing::info!(backend = db.backend_name(), database = %ccfeed::store::redact_url(&settings.database), "database ready");
    if settings.demo {
        let stats = demo::ensure(&db, &model)?;
        if let Some(stats) = stats {
            tracing::info!("demo data generated: {stats}");
        }
        ensure_demo_directory(&db, &model, &settings.database)?;
        tracing::warn!(
            "demo mode: the demo tenant is served WITHOUT credentials, on {} only",
            settings.listen
        );
    }
    let listener = TcpListener::bind(&settings.listen)
        .with_context(|| format!("listening on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let feed_url = match &settings.public_url {
        Some(u) => format!("{}/", u.trim_end_matches('/')),
        None => format!("http://{addr}{}/", http::ROOT),
    };
    let state = Arc::new(AppState {
        model,
        db,
        settings,
    });
    actix_web::rt::System::new().block_on(async move {
        if state.settings.run_jobs {
            actix_web::rt::spawn(run_scheduler(state.clone()));
        }
        let server = http::start(state, listener)?;
        println!("ccfeed is serving the OData feed at {feed_url}");
        println!(
            "In Power BI: Get Data > OData feed > paste {feed_url}  (Ctrl-C stops the server)"
        );
        server.await
    })?;
    tracing::info!("stopped");
    Ok(())
}

/// The job loop: run what is due, sleep until the next slot (at most a minute, so
/// new tenants and retries are noticed), until the server stops.
async fn run_scheduler(state: Arc<AppState>) {
    use ccfeed::jobs::schedule::{Scheduler, SystemClock};
    let scheduler = Arc::new(std::sync::Mutex::new(Scheduler::new(
        state.db.clone(),
        state.model.clone(),
        state.settings.schedule.clone(),
        Arc::new(SystemClock),
    )));
    tracing::info!(
        refresh_at = %state.settings.schedule.refresh_at,
        purge_at = %state.settings.schedule.purge_at,
        "scheduler started (UTC times)"
    );
    loop {
        let s = scheduler.clone();
        let next = actix_web::web::block(move || {
            let mut guard = s
                .lock()
                .map_err(|_| "the scheduler lock is poisoned".to_string())?;
            if let Err(e) = guard.tick() {
                tracing::error!("scheduled jobs could not run: {e}");
            }
            Ok::<_, String>(guard.next_wakeup())
        })
        .await;
        let wait = match next {
            Ok(Ok(at)) => (at - chrono::Utc::now()).to_std().unwrap_or_default(),
            Ok(Err(e)) => {
                tracing::error!("{e}");
                return;
            }
            Err(e) => {
                tracing::error!("scheduler task failed: {e}");
                std::time::Duration::from_secs(60)
            }
        };
        actix_web::rt::time::sleep(wait.clamp(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(60),
        ))
        .await;
    }
}

/// Gives the demo tenant a directory source, so the nightly refresh has something to
/// read: its current lookups, written next to a SQLite database file.
fn ensure_demo_directory(db: &Db, model: &Model, database: &str) -> anyhow::Result<()> {
    use ccfeed::store::tenants;
    if ccfeed::store::is_postgres_url(database) {
        return Ok(());
    }
    let mut conn = db.get()?;
    let Some(tenant) = tenants::find_tenant(&mut conn, demo::TENANT)? else {
        return Ok(());
    };
    if tenant.directory_source.is_some() {
        return Ok(());
    }
    let path = format!("{database}.directory.json");
    let document = ccfeed::jobs::refresh::export(&mut conn, model, &tenant)?;
    std::fs::write(&path, serde_json::to_vec_pretty(&document)?)
        .with_context(|| format!("writing {path}"))?;
    tenants::update_tenant(&mut conn, &tenant.id, None, None, Some(&path))?;
    tracing::info!("the demo tenant's lookups refresh nightly from {path}");
    Ok(())
}
