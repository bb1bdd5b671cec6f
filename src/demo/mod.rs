//! The deterministic demo data set: a fictitious Hungarian energy retailer's contact
//! center ("Danubia Energy", tenant `demo`, time zone Europe/Budapest) with every one
//! of the feed's entity sets filled, so that `ccfeed serve --demo` shows a feed
//! Power BI can be pointed at straight away, and `ccfeed demo --calls N` produces
//! benchmark databases of any size.
//!
//! # What is in it
//!
//! - **Lookups**: 4 business units; 14 channels (voice lines with phone numbers, a
//!   switchboard without business unit, web chat, Viber, Facebook, mailboxes); 17
//!   queues; 25 bot steps; 3 campaigns; the agents (at least 40, more when the volume
//!   needs them) and as many agent users, plus supervisors and other users. Some
//!   lookup rows were deleted during the history (an old Facebook page and its queue,
//!   a support queue, the previous main menu, a campaign, two agents who left) and
//!   are still referenced by the older facts, as in a real feed.
//! - **Conversations**: `calls` calls, `calls / 2` chats and `calls / 4` e-mails over
//!   `days` days ending at [`HISTORY_END`], with business-hour peaks, quiet nights,
//!   light weekends, public holidays, a busier day during a network outage, and
//!   daylight-saving changes handled in the tenant's time zone. Each one is in its
//!   media table and in Conversations with the same id and values (derived by the
//!   store's row builder, as for ingested data).
//! - **Around each conversation**: bot segments for the IVR and chat bots, captured
//!   workflow variables, queue segments, refused enqueue attempts, workitems for the
//!   agents (missed, rejected and abandoned offers included) with their conversation
//!   sessions, collected script data and quality evaluations, transfers that point
//!   at the conversation that continued the contact, callback requests and preview
//!   campaign dials with their campaign records.
//! - **Transcripts** of chats and e-mails: who wrote each message when (customer,
//!   chat bots, the mailbox flow's automatic acknowledgements, sometimes sent while
//!   an agent has the mail, agents and the odd team lead, campaign templates,
//!   the platform's transfer and timeout notices), and one agent segment per
//!   period an agent held a chat or e-mail. Their message-derived columns are
//!   computed by the same code as for ingested data.
//! - **Agents**: in seven skill groups (voice, or chat and e-mail, per business unit);
//!   each day as many of them work as the day's volume needs, early and late shifts,
//!   rotating so that everyone gets days off; logins, breaks, lunch, the occasional
//!   lost connection and forced logout, and business-unit changes when agents join,
//!   move or leave.
//!
//! # Why it is shaped so
//!
//! The data is simulated rather than drawn table by table: contacts arrive in time
//! order and wait for an agent of the right skill group who is logged in, free and
//! not on a break. Queue times, abandonment, refusals and each agent's Busy / Idle /
//! Break states therefore follow from the same events, and the tables agree with
//! each other the way report authors expect (a workitem falls in a Busy state of its
//! agent, hold counts add up, durations match their timestamps, every local
//! timestamp is its UTC twin in Europe/Budapest time).
//!
//! The generator is deterministic: a fixed seed, its own small PRNG, and a fixed end
//! date make the same options produce byte-identical rows, so demo screenshots,
//! tests and benchmarks are reproducible. All rows are written in one transaction;
//! earlier demo rows are removed first, so a failed run leaves the tenant as it was.
//! Every value is set by property name and checked against the model
//! (`metadata/ccfeed.xml`) by the same row builder as every other writer's: names,
//! types, nullability and allowed values.

mod agents;
mod calendar;
mod campaign;
mod flows;
mod lookups;
mod messages;
mod out;
mod rng;
mod sim;
mod table;
mod traffic;
mod world;

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::edm::Model;
use crate::store::tenants::Tenant;
use crate::store::{self, Conn, Db, StoreError};

pub use calendar::{HISTORY_END, HISTORY_END_MS};

pub const TENANT: &str = "demo";
pub const DEFAULT_CALLS: u64 = 20_000;
/// Days of history of the default data set.
pub const DEFAULT_DAYS: u32 = 90;

/// The demo tenant's retention: a century. The data set has a fixed date, so with the
/// default 395 days the server's daily purge (run on its first start) deleted the
/// older agents' hiring rows, and from 2027-09 on would delete conversations too.
pub const RETENTION_DAYS: i64 = 36_525;

/// The generator's seed. Changing it changes every row.
const SEED: u64 = 0xCCFE_ED00_DE30_2026;

pub struct DemoOptions {
    /// Calls to generate; chats are half as many, e-mails a quarter.
    pub calls: u64,
    /// Days of history, ending at [`HISTORY_END`].
    pub days: u32,
    /// Show a progress bar on the terminal.
    pub progress: bool,
}

/// What a run wrote.
#[derive(Debug, Clone)]
pub struct DemoStats {
    /// Rows per entity set, in the model's order.
    pub rows: Vec<(String, u64)>,
    pub seconds: f64,
}

impl DemoStats {
    pub fn total(&self) -> u64 {
        self.rows.iter().map(|(_, n)| n).sum()
    }

    pub fn rows_of(&self, set: &str) -> u64 {
        self.rows
            .iter()
            .find(|(s, _)| s == set)
            .map_or(0, |(_, n)| *n)
    }
}

impl fmt::Display for DemoStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sets: Vec<String> = self.rows.iter().map(|(s, n)| format!("{s} {n}")).collect();
        write!(
            f,
            "{}; {} rows in {:.1} s",
            sets.join(", "),
            self.total(),
            self.seconds
        )
    }
}

/// Replaces the demo tenant's data with a freshly generated data set.
pub fn generate(db: &Db, model: &Model, options: &DemoOptions) -> Result<DemoStats, StoreError> {
    let started = Instant::now();
    let cal = calendar::Calendar::new(options.days)?;
    let totals = [options.calls, options.calls / 2, options.calls / 4];
    let changes = world::Changes::new(&cal);
    let legs = traffic::legs_per_day(&cal, &changes, totals, SEED);
    let world = world::World::new(&cal, changes, &legs, SEED);
    let bar = if options.progress {
        let bar = ProgressBar::new(totals.iter().sum());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} generating demo data [{bar:40}] {human_pos}/{human_len} conversations ({eta} left)",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut conn = db.get()?;
    store::ensure_tenant(&mut conn, TENANT, "Demo Contact Center", "Europe/Budapest")?;
    store::tenants::update_tenant(&mut conn, TENANT, None, Some(RETENTION_DAYS), None)?;
    let tenant = demo_tenant(&mut conn)?;
    let rows = conn.transaction(|c| {
        clear_tenant(c, model, &tenant)?;
        let mut out = out::Out::new(model, &tenant)?;
        lookups::write(&mut out, c, &world, &cal)?;
        let mut sim = sim::Sim::new(&cal, &world, &mut out, c, SEED, legs.clone(), bar.clone());
        sim.run()?;
        let segmented = std::mem::take(&mut sim.segmented);
        out.flush(c)?;
        refresh_segments(c, model, &tenant, &segmented)?;
        Ok(out.counts(model))
    });
    bar.finish_and_clear();
    Ok(DemoStats {
        rows: rows?,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Generates the default data set if the demo tenant has no Calls yet; None if it already had data.
pub fn ensure(db: &Db, model: &Model) -> Result<Option<DemoStats>, StoreError> {
    let calls = model
        .entity_set("Calls")
        .ok_or_else(|| StoreError::Invalid("the model has no entity set Calls".into()))?;
    let existing = {
        let mut conn = db.get()?;
        match store::tenants::find_tenant(&mut conn, TENANT)? {
            Some(tenant) => store::scoped::count_rows(&mut conn, tenant.scope(), calls)?,
            None => 0,
        }
    };
    if existing > 0 {
        return Ok(None);
    }
    let options = DemoOptions {
        calls: DEFAULT_CALLS,
        days: DEFAULT_DAYS,
        progress: false,
    };
    generate(db, model, &options).map(Some)
}

/// The demo tenant, as the store knows it.
fn demo_tenant(conn: &mut Conn) -> Result<Tenant, StoreError> {
    store::tenants::find_tenant(conn, TENANT)?
        .ok_or_else(|| StoreError::Invalid(format!("the tenant {TENANT} does not exist")))
}

/// Fills the message-derived columns of the demo's agent segments and messages with
/// the same code that fills them for ingested data, a chunk of conversations at a time.
fn refresh_segments(
    conn: &mut Conn,
    model: &Model,
    tenant: &Tenant,
    conversations: &[String],
) -> Result<(), StoreError> {
    for chunk in conversations.chunks(500) {
        crate::ingest::segments::refresh(conn, model, tenant, chunk)?;
    }
    Ok(())
}

/// Deletes the demo tenant's rows from every feed table.
fn clear_tenant(conn: &mut Conn, model: &Model, tenant: &Tenant) -> Result<(), StoreError> {
    for set in model.entity_sets() {
        store::scoped::delete_all_rows(conn, tenant.scope(), set)?;
    }
    Ok(())
}
