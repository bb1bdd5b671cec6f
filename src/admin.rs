//! `ccfeed tenant ...` and `ccfeed key ...`: tenant and key administration from the
//! command line. Each command prints what the user needs next, or JSON with `--json`
//! for scripts.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use ccfeed::config::{FileSettings, Settings};
use ccfeed::edm::Model;
use ccfeed::store::Db;
use ccfeed::store::tenants::{self, Role};

#[derive(Args)]
pub struct Common {
    /// SQLite file path, or a postgres:// URL (default: the config file's, else
    /// ./ccfeed.db).
    #[arg(long, env = "CCFEED_DATABASE", global = true)]
    pub database: Option<String>,
    /// TOML config file, the same as `serve` reads: the jobs take their settings
    /// (purge_chunk, refresh_guard_*, ...) from it.
    #[arg(long, env = "CCFEED_CONFIG", global = true)]
    pub config: Option<std::path::PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Common {
    /// The settings from the config file and defaults, with `--database` on top.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(path) => FileSettings::read(path)?,
            None => FileSettings::default(),
        };
        let mut s = Settings::from_file(&file)?;
        if let Some(database) = &self.database {
            s.database = database.clone();
        }
        s.validate()?;
        Ok(s)
    }
}

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        name: String,
        /// IANA time zone for the local-time columns.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        /// Days of data to keep.
        #[arg(long, default_value_t = 395)]
        retention_days: i64,
    },
    /// List tenants.
    List,
    /// Show one tenant and its keys.
    Show { tenant: String },
    /// Change a tenant's settings.
    Set {
        tenant: String,
        #[arg(long)]
        time_zone: Option<String>,
        #[arg(long)]
        retention_days: Option<i64>,
        /// The directory document for the nightly lookup refresh: a file path or an
        /// http(s) URL; an empty value removes it.
        #[arg(long)]
        directory_source: Option<String>,
    },
    /// Delete a tenant with all its data and keys.
    Delete {
        tenant: String,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create a key; it is printed once.
    Create {
        #[arg(long)]
        tenant: String,
        /// read (the feed), ingest (the write path) or admin (jobs and settings).
        #[arg(long, default_value = "read")]
        role: String,
        /// A label, e.g. who or what uses the key.
        #[arg(long, default_value = "")]
        name: String,
        /// The key stops working after this many days (default: never).
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    /// List a tenant's keys (never their secrets).
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a key by id; it stops working at once.
    Revoke { key_id: String },
}

fn open(common: &Common) -> anyhow::Result<(Db, ccfeed::store::Conn, Settings)> {
    let settings = common.settings()?;
    // Two connections: jobs run on their own while the command holds one.
    let db = Db::open(&settings.database, 2)
        .with_context(|| format!("opening {}", ccfeed::store::redact_url(&settings.database)))?;
    let conn = db.get()?;
    Ok((db, conn, settings))
}

fn tenant_or_fail(conn: &mut ccfeed::store::Conn, name: &str) -> anyhow::Result<tenants::Tenant> {
    tenants::find_tenant(conn, name)?
        .with_context(|| format!("no tenant '{name}'; `ccfeed tenant list` shows them"))
}

pub fn tenant(command: TenantCommand, common: &Common) -> anyhow::Result<()> {
    let (_db, mut conn, _) = open(common)?;
    match command {
        TenantCommand::Create {
            name,
            time_zone,
            retention_days,
        } => {
            let t = tenants::create_tenant(&mut conn, &name, &time_zone, retention_days)?;
            if common.json {
                println!("{}", json!({ "tenant": t }));
            } else {
                println!(
                    "Created tenant '{}' (id {}), time zone {}, keeping {} days of data.",
                    t.name, t.id, t.time_zone, t.retention_days
                );
                println!(
                    "Next: ccfeed key create --tenant {} --role read   (a key for Power BI)",
                    t.id
                );
                println!(
                    "      ccfeed key create --tenant {} --role ingest (a key for sending data)",
                    t.id
                );
            }
        }
        TenantCommand::List => {
            let list = tenants::list_tenants(&mut conn)?;
            if common.json {
                println!("{}", json!({ "tenants": list }));
            } else if list.is_empty() {
                println!(
                    "No tenants yet. Create one: ccfeed tenant create NAME --time-zone Europe/Budapest"
                );
            } else {
                for t in list {
                    println!(
                        "{}\t{}\t{}\t{} days",
                        t.id, t.name, t.time_zone, t.retention_days
                    );
                }
            }
        }
        TenantCommand::Show { tenant } => {
            let t = tenant_or_fail(&mut conn, &tenant)?;
            let keys = tenants::list_keys(&mut conn, &t.id)?;
            if common.json {
                println!("{}", json!({ "tenant": t, "keys": keys }));
            } else {
                println!(
                    "id {}\nname {}\ntime zone {}\nretention {} days\ncreated {}",
                    t.id, t.name, t.time_zone, t.retention_days, t.created_at_utc
                );
                println!("{} key(s):", keys.len());
                for k in keys {
                    let state = k.revoked_at_utc.map_or_else(
                        || {
                            k.expires_at_utc
                                .as_ref()
                                .map_or("active".to_string(), |e| format!("active until {e}"))
                        },
                        |r| format!("revoked {r}"),
                    );
                    println!("  {}\t{}\t{}\t{}", k.id, k.role, k.name, state);
                }
            }
        }
        TenantCommand::Set {
            tenant,
            time_zone,
            retention_days,
            directory_source,
        } => {
            let t = tenant_or_fail(&mut conn, &tenant)?;
            if time_zone.is_none() && retention_days.is_none() && directory_source.is_none() {
                bail!(
                    "nothing to change: give --time-zone, --retention-days or --directory-source"
                );
            }
            let t = tenants::update_tenant(
                &mut conn,
                &t.id,
                time_zone.as_deref(),
                retention_days,
                directory_source.as_deref(),
            )?;
            if common.json {
                println!("{}", json!({ "tenant": t }));
            } else {
                println!(
                    "Tenant {} now uses time zone {} and keeps {} days of data.",
                    t.id, t.time_zone, t.retention_days
                );
                if time_zone.is_some() {
                    println!(
                        "Rows already stored keep their local times; new rows use the new zone."
                    );
                }
                if let Some(source) = &t.directory_source {
                    println!(
                        "Lookups are refreshed nightly from {source}; to refresh now: ccfeed refresh-lookups --tenant {}",
                        t.id
                    );
                }
            }
        }
        TenantCommand::Delete { tenant, yes } => {
            let t = tenant_or_fail(&mut conn, &tenant)?;
            if !yes {
                bail!(
                    "this deletes tenant '{}' with all its data and keys; repeat with --yes to confirm",
                    t.id
                );
            }
            let model = Model::load()?;
            let rows = tenants::delete_tenant(&mut conn, &model, &t.id)?;
            if common.json {
                println!("{}", json!({ "deleted": t.id, "rows": rows }));
            } else {
                println!("Deleted tenant {} and {} rows.", t.id, rows);
            }
        }
    }
    Ok(())
}

pub fn key(command: KeyCommand, common: &Common) -> anyhow::Result<()> {
    let (_db, mut conn, _) = open(common)?;
    match command {
        KeyCommand::Create {
            tenant,
            role,
            name,
            expires_in_days,
        } => {
            let t = tenant_or_fail(&mut conn, &tenant)?;
            let role = Role::parse(&role)
                .with_context(|| format!("unknown role '{role}': use read, ingest or admin"))?;
            if expires_in_days.is_some_and(|days| days < 1) {
                bail!("--expires-in-days must be at least 1");
            }
            let (info, key) = tenants::create_key(&mut conn, &t.id, role, &name)?;
            if let Some(days) = expires_in_days {
                tenants::set_key_expiry(
                    &mut conn,
                    &info.id,
                    chrono::Utc::now() + chrono::Duration::days(days),
                )?;
            }
            if common.json {
                println!(
                    "{}",
                    json!({ "tenant": t.id, "key_id": info.id, "role": role, "key": key })
                );
            } else {
                println!(
                    "Created a {role} key for tenant {} (key id {}). It is shown only now:\n\n  {key}\n",
                    t.id, info.id
                );
                match role {
                    Role::Read => {
                        println!(
                            "Power BI / Excel: OData feed URL http://<server>/odata/ , Basic authentication,"
                        );
                        println!(
                            "user name {} (any name works), password: the key above.",
                            t.id
                        );
                    }
                    Role::Ingest => println!(
                        "Send data: POST /ingest/<EntitySet> with 'Authorization: Bearer <key>'."
                    ),
                    Role::Admin => {
                        println!("Use it as 'Authorization: Bearer <key>' for the admin endpoints.")
                    }
                }
                println!("Revoke it with: ccfeed key revoke {}", info.id);
            }
        }
        KeyCommand::List { tenant } => {
            let t = tenant_or_fail(&mut conn, &tenant)?;
            let keys = tenants::list_keys(&mut conn, &t.id)?;
            if common.json {
                println!("{}", json!({ "tenant": t.id, "keys": keys }));
            } else {
                for k in keys {
                    let state = k.revoked_at_utc.map_or_else(
                        || {
                            k.expires_at_utc
                                .as_ref()
                                .map_or("active".to_string(), |e| format!("active until {e}"))
                        },
                        |r| format!("revoked {r}"),
                    );
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        k.id, k.role, k.name, k.created_at_utc, state
                    );
                }
            }
        }
        KeyCommand::Revoke { key_id } => {
            let changed = tenants::revoke_key(&mut conn, &key_id)?;
            if common.json {
                println!("{}", json!({ "revoked": changed, "key_id": key_id }));
            } else if changed {
                println!("Revoked key {key_id}; requests with it are refused from now on.");
            }
            if !changed {
                bail!("no active key with id {key_id}");
            }
        }
    }
    Ok(())
}

/// Tenants to run a job for: the one named, or all.
fn job_tenants(
    conn: &mut ccfeed::store::Conn,
    tenant: Option<&str>,
) -> anyhow::Result<Vec<tenants::Tenant>> {
    Ok(match tenant {
        Some(name) => vec![tenant_or_fail(conn, name)?],
        None => tenants::list_tenants(conn)?,
    })
}

pub fn refresh_lookups(
    tenant: Option<String>,
    history: bool,
    common: &Common,
) -> anyhow::Result<()> {
    use ccfeed::jobs::{self, Job, refresh};
    let (db, mut conn, settings) = open(common)?;
    let model = Model::load()?;
    let list = job_tenants(&mut conn, tenant.as_deref())?;
    if history {
        let mut all = Vec::new();
        for t in &list {
            all.extend(jobs::history(&mut conn, Job::Refresh, t, 20)?);
        }
        if common.json {
            println!("{}", json!({ "runs": all }));
        } else {
            for r in all {
                println!(
                    "{}\t{}\t{}\t{}{}",
                    r.started_at_utc, r.tenant_id, r.outcome, r.details, r.message
                );
            }
        }
        return Ok(());
    }
    drop(conn);
    let mut failed = 0;
    let mut out = Vec::new();
    for t in list
        .iter()
        .filter(|t| tenant.is_some() || t.directory_source.is_some())
    {
        match refresh::run(
            &db,
            &model,
            t,
            chrono::Utc::now(),
            &settings.schedule.refresh,
        ) {
            Ok(report) => {
                if !common.json {
                    println!("{}: refreshed", t.id);
                    for (set, c) in &report {
                        println!(
                            "  {set}: {} added, {} changed, {} deleted, {} restored, {} unchanged",
                            c.added, c.changed, c.deleted, c.restored, c.unchanged
                        );
                    }
                }
                out.push(json!({ "tenant": t.id, "ok": true, "sets": report }));
            }
            Err(e) => {
                failed += 1;
                if !common.json {
                    eprintln!("{}: {e}; nothing was changed", t.id);
                }
                out.push(json!({ "tenant": t.id, "ok": false, "error": e.to_string() }));
            }
        }
    }
    if common.json {
        println!("{}", json!({ "refreshes": out }));
    }
    if failed > 0 {
        bail!("{failed} refresh(es) failed");
    }
    Ok(())
}

pub fn purge(tenant: Option<String>, dry_run: bool, common: &Common) -> anyhow::Result<()> {
    use ccfeed::jobs::purge;
    let (db, mut conn, settings) = open(common)?;
    let chunk = settings.schedule.purge_chunk;
    let model = Model::load()?;
    let list = job_tenants(&mut conn, tenant.as_deref())?;
    let mut out = Vec::new();
    for t in &list {
        let now = chrono::Utc::now();
        let counts = if dry_run {
            purge::purge_tenant(&mut conn, &model, t, now, true, chunk)?
        } else {
            purge::run(&db, &model, t, now, chunk)?
        };
        if !common.json {
            let verb = if dry_run { "would delete" } else { "deleted" };
            let total: u64 = counts.values().sum();
            println!(
                "{}: {verb} {total} rows older than {} days",
                t.id, t.retention_days
            );
            for (set, n) in &counts {
                println!("  {set}: {n}");
            }
        }
        out.push(json!({ "tenant": t.id, "dryRun": dry_run, "rows": counts }));
    }
    if common.json {
        println!("{}", json!({ "purges": out }));
    }
    Ok(())
}
