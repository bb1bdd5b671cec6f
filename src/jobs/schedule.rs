//! When the jobs run: each daily at a configured UTC time (refresh 00:00 and purge
//! 01:00 by default), for every tenant. A tick runs what is due; the caller sleeps
//! until [`Scheduler::next_wakeup`]. Time comes from a [`Clock`], so tests drive a
//! whole night in milliseconds.
//!
//! Each (job, tenant) daily slot is claimed in `job_slots` with a compare-and-set, so
//! it runs once whether one server or several share the database and across
//! restarts; on PostgreSQL the run also holds an advisory lock for its duration. The
//! claim is a lease: a run that never finished (a killed server) leaves its slot
//! claimed but unfinished, and once the lease runs out the next tick records the lost
//! run in the job history and runs the slot again. A
//! failed refresh is retried with exponential backoff in the server that claimed it.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveTime, Utc};

use super::{Job, purge, record_run, refresh};
use crate::edm::Model;
use crate::store::scoped::{self, SlotClaim};
use crate::store::stmt;
use crate::store::tenants::{self, Tenant};
use crate::store::{ColumnKind, Conn, Db, Dialect, StoreError, Value, scalar_i64};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    /// UTC time of the daily lookup refresh.
    pub refresh_at: NaiveTime,
    /// UTC time of the daily retention purge.
    pub purge_at: NaiveTime,
    /// Rows deleted per statement.
    pub purge_chunk: usize,
    pub refresh: refresh::RefreshSettings,
    /// First retry of a failed refresh after this long, doubling each time.
    pub retry_after: Duration,
    pub max_retries: u32,
    /// How long a claimed slot stays claimed without its run finishing; after that a
    /// run is taken to have died and the slot is run again.
    pub lease: Duration,
}

impl Default for ScheduleSettings {
    fn default() -> ScheduleSettings {
        ScheduleSettings {
            refresh_at: NaiveTime::MIN,
            purge_at: NaiveTime::from_hms_opt(1, 0, 0).unwrap_or(NaiveTime::MIN),
            purge_chunk: 5_000,
            refresh: refresh::RefreshSettings::default(),
            retry_after: Duration::minutes(2),
            max_retries: 5,
            lease: Duration::hours(2),
        }
    }
}

/// What a tick did for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    pub job: Job,
    pub tenant: String,
    pub ok: bool,
}

pub struct Scheduler {
    db: Db,
    model: Arc<Model>,
    settings: ScheduleSettings,
    clock: Arc<dyn Clock>,
    /// Failed refreshes: tenant → (attempts so far, when to try again).
    retries: HashMap<String, (u32, DateTime<Utc>)>,
}

/// The latest daily slot at `at` that is not after `now`.
pub fn slot(now: DateTime<Utc>, at: NaiveTime) -> DateTime<Utc> {
    let today = now.date_naive().and_time(at).and_utc();
    if today <= now {
        today
    } else {
        today - Duration::days(1)
    }
}

/// A stable lock number for (job, tenant): FNV-1a.
fn lock_key(job: Job, tenant: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in job.as_str().bytes().chain([0u8]).chain(tenant.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// Claims the slot as a lease (see [`scoped::claim_job_slot`]). True when this caller
/// should run. A slot taken over from a run that never finished is recorded as a
/// failed run first, so the lost run shows in the job history.
fn claim(
    conn: &mut Conn,
    job: Job,
    tenant: &Tenant,
    slot: DateTime<Utc>,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<bool, StoreError> {
    match scoped::claim_job_slot(conn, tenant.scope(), job.as_str(), slot, now, now + lease)? {
        SlotClaim::Taken => Ok(false),
        SlotClaim::Claimed => Ok(true),
        SlotClaim::TakenOver(started) => {
            let message = format!(
                "the run that started at {} did not finish (the server stopped or lost the \
                 database); its slot is run again",
                crate::store::format_instant(&started)
            );
            tracing::warn!(job = job.as_str(), tenant = %tenant.id, "{message}");
            record_run(conn, job, tenant, started, now, Err(&message))?;
            Ok(true)
        }
    }
}

impl Scheduler {
    pub fn new(
        db: Db,
        model: Arc<Model>,
        settings: ScheduleSettings,
        clock: Arc<dyn Clock>,
    ) -> Scheduler {
        Scheduler {
            db,
            model,
            settings,
            clock,
            retries: HashMap::new(),
        }
    }

    /// Runs every job that is due now. Errors of single runs are logged and recorded;
    /// only a failure to reach the database is returned.
    pub fn tick(&mut self) -> Result<Vec<Ran>, StoreError> {
        let now = self.clock.now();
        let mut conn = self.db.get()?;
        let list = tenants::list_tenants(&mut conn)?;
        // Retries of tenants that are gone or lost their source are dropped.
        self.retries.retain(|id, _| {
            list.iter()
                .any(|t| &t.id == id && t.directory_source.is_some())
        });
        let mut ran = Vec::new();
        for tenant in &list {
            if tenant.directory_source.is_some() {
                let retry_due = self
                    .retries
                    .get(&tenant.id)
                    .is_some_and(|(_, at)| *at <= now);
                let slot = slot(now, self.settings.refresh_at);
                let lease = self.settings.lease;
                let ok = self.with_lock(&mut conn, Job::Refresh, tenant, |s, conn| {
                    if !retry_due && !claim(conn, Job::Refresh, tenant, slot, now, lease)? {
                        return Ok(None);
                    }
                    let ok =
                        refresh::run(&s.db, &s.model, tenant, now, &s.settings.refresh).is_ok();
                    // Finished, whatever the outcome: a failure is retried with backoff
                    // here, not taken over as a lost run.
                    scoped::finish_job_slot(
                        conn,
                        tenant.scope(),
                        Job::Refresh.as_str(),
                        slot,
                        s.clock.now(),
                    )?;
                    Ok(Some(ok))
                })?;
                if let Some(ok) = ok {
                    self.after_refresh(&tenant.id, ok, now);
                    ran.push(Ran {
                        job: Job::Refresh,
                        tenant: tenant.id.clone(),
                        ok,
                    });
                }
            }
            let slot = slot(now, self.settings.purge_at);
            let chunk = self.settings.purge_chunk;
            let lease = self.settings.lease;
            let ok = self.with_lock(&mut conn, Job::Purge, tenant, |s, conn| {
                if !claim(conn, Job::Purge, tenant, slot, now, lease)? {
                    return Ok(None);
                }
                let ok = purge::run(&s.db, &s.model, tenant, now, chunk).is_ok();
                scoped::finish_job_slot(
                    conn,
                    tenant.scope(),
                    Job::Purge.as_str(),
                    slot,
                    s.clock.now(),
                )?;
                Ok(Some(ok))
            })?;
            if let Some(ok) = ok {
                ran.push(Ran {
                    job: Job::Purge,
                    tenant: tenant.id.clone(),
                    ok,
                });
            }
        }
        Ok(ran)
    }

    /// Runs `f` (which claims the slot and runs the job) holding the PostgreSQL
    /// advisory lock of (job, tenant), so the claim and the run are one step among
    /// servers; if another server holds the lock, nothing is claimed and a later tick
    /// tries again. SQLite has one writer process and needs no lock.
    fn with_lock(
        &self,
        conn: &mut Conn,
        job: Job,
        tenant: &Tenant,
        f: impl FnOnce(&Self, &mut Conn) -> Result<Option<bool>, StoreError>,
    ) -> Result<Option<bool>, StoreError> {
        if conn.dialect() == Dialect::Sqlite {
            return f(self, conn);
        }
        let key = lock_key(job, &tenant.id);
        let lock = stmt(
            conn,
            "SELECT CASE WHEN pg_try_advisory_lock(?) THEN 1 ELSE 0 END",
            vec![(Value::Int(key), ColumnKind::Int64)],
        );
        if scalar_i64(conn, &lock)? != 1 {
            tracing::info!(job = job.as_str(), tenant = %tenant.id, "another server is running this job");
            return Ok(None);
        }
        let outcome = f(self, conn);
        let unlock = stmt(
            conn,
            "SELECT CASE WHEN pg_advisory_unlock(?) THEN 1 ELSE 0 END",
            vec![(Value::Int(key), ColumnKind::Int64)],
        );
        scalar_i64(conn, &unlock)?;
        outcome
    }

    fn after_refresh(&mut self, tenant: &str, ok: bool, now: DateTime<Utc>) {
        if ok {
            self.retries.remove(tenant);
            return;
        }
        let attempts = self.retries.get(tenant).map_or(0, |(a, _)| *a) + 1;
        if attempts > self.settings.max_retries {
            tracing::error!(
                tenant,
                "lookup refresh failed {attempts} times; giving up until the next night"
            );
            self.retries.remove(tenant);
            return;
        }
        let wait = self.settings.retry_after * 2i32.saturating_pow(attempts - 1);
        tracing::info!(
            tenant,
            attempts,
            "lookup refresh will be retried in {} s",
            wait.num_seconds()
        );
        self.retries
            .insert(tenant.to_string(), (attempts, now + wait));
    }

    /// When the next job may be due.
    pub fn next_wakeup(&self) -> DateTime<Utc> {
        let now = self.clock.now();
        let next_slot = |at: NaiveTime| slot(now, at) + Duration::days(1);
        let mut next = next_slot(self.settings.refresh_at).min(next_slot(self.settings.purge_at));
        for (_, at) in self.retries.values() {
            next = next.min(*at);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn slots_are_the_latest_daily_time_not_after_now() {
        let midnight = NaiveTime::MIN;
        assert_eq!(
            slot(t("2026-03-29T00:00:00Z"), midnight),
            t("2026-03-29T00:00:00Z")
        );
        assert_eq!(
            slot(t("2026-03-28T23:59:59.999Z"), midnight),
            t("2026-03-28T00:00:00Z")
        );
        let one = NaiveTime::from_hms_opt(1, 0, 0).unwrap();
        assert_eq!(
            slot(t("2026-03-29T00:30:00Z"), one),
            t("2026-03-28T01:00:00Z")
        );
        assert_ne!(lock_key(Job::Refresh, "a"), lock_key(Job::Purge, "a"));
    }
}
