//! The `ccfeed` command line: `serve` runs the feed, `demo` fills a database with the
//! deterministic demo data set (at any scale, for benchmarks).

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
    /// TOML config file (keys: listen, database, anonymous_tenant, public_url,
    /// page_size, max_page_size, max_orderby_keys, max_filter_nodes, max_depth,
    /// max_url_length, max_expand_depth, pool_size, workers).
    #[arg(long, env = "CCFEED_CONFIG")]
    config: Option<PathBuf>,
    /// Serve this tenant to requests without credentials (trusted networks only).
    #[arg(long, env = "CCFEED_ANONYMOUS_TENANT")]
    anonymous_tenant: Option<String>,
    /// The externally visible service root, e.g. https://feed.example.com/odata.
    #[arg(long, env = "CCFEED_PUBLIC_URL")]
    public_url: Option<String>,
    /// Rows per page unless the client asks for fewer.
    #[arg(long, env = "CCFEED_PAGE_SIZE")]
    page_size: Option<u64>,
}

#[derive(Args)]
struct DemoArgs {
    #[command(flatten)]
    database: DatabaseArg,
    /// Number of calls to generate; chats, emails and everything else scale with it.
    #[arg(long, default_value_t = demo::DEFAULT_CALLS)]
    calls: u64,
    /// Days of history, ending yesterday (UTC).
    #[arg(long, default_value_t = 90)]
    days: u32,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CCFEED_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Demo(args) => {
            let database = args
                .database
                .database
                .unwrap_or_else(|| Settings::default().database);
            let db = Db::open(&database, 2).with_context(|| format!("opening {database}"))?;
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

fn settings(args: ServeArgs) -> anyhow::Result<Settings> {
    let file = match &args.config {
        Some(path) => FileSettings::read(path)?,
        None => FileSettings::default(),
    };
    let mut s = Settings::default();
    if let Some(v) = args.listen.or(file.listen) {
        s.listen = v;
    }
    if let Some(v) = args.database.database.or(file.database) {
        s.database = v;
    }
    s.demo = args.demo;
    s.anonymous_tenant = args.anonymous_tenant.or(file.anonymous_tenant);
    s.public_url = args.public_url.or(file.public_url);
    if let Some(v) = args.page_size.or(file.page_size) {
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
    if let Some(v) = file.pool_size {
        s.pool_size = v;
    }
    if let Some(v) = file.workers {
        s.workers = v;
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
    let db = Db::open(&settings.database, settings.pool_size)
        .with_context(|| format!("opening the database {}", settings.database))?;
    tracing::info!(backend = db.backend_name(), database = %redact(&settings.database), "database ready");
    if settings.demo {
        let stats = demo::ensure(&db, &model)?;
        if let Some(stats) = stats {
            tracing::info!("demo data generated: {stats}");
        }
        tracing::warn!(
            "demo mode: the demo tenant is served WITHOUT credentials, on {} only",
            settings.listen
        );
    } else if let Some(t) = &settings.anonymous_tenant {
        tracing::warn!("tenant '{t}' is served without credentials (anonymous_tenant is set)");
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

/// Hides a password in a database URL before it is logged.
fn redact(target: &str) -> String {
    match (target.find("://"), target.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &target[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => {
                    format!("{}{}:***{}", &target[..scheme + 3], user, &target[at..])
                }
                None => target.to_string(),
            }
        }
        _ => target.to_string(),
    }
}
