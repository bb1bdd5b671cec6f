//! The scheduled jobs: the nightly lookup refresh from each tenant's directory
//! source, and the daily retention purge. Both can also be run on demand (command
//! line and admin endpoints). Every run is recorded in `job_runs` and logged.
//!
//! They touch tables analysts are reading, so they are built to never show a
//! half-done state: a refresh is one transaction per tenant, a purge deletes in small
//! chunks that are each complete. The [`schedule`] decides when they run, from an
//! injectable clock, and claims each daily slot in the database so that one run
//! happens per slot however many servers share it.

pub mod purge;
pub mod refresh;
pub mod schedule;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::scoped::{self, JobRunRow};
use crate::store::tenants::Tenant;
use crate::store::text;
use crate::store::{Conn, StoreError, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Job {
    Refresh,
    Purge,
}

impl Job {
    pub fn as_str(self) -> &'static str {
        match self {
            Job::Refresh => "refresh",
            Job::Purge => "purge",
        }
    }
}

/// One recorded run.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobRun {
    pub job: String,
    pub tenant_id: String,
    pub started_at_utc: String,
    pub finished_at_utc: String,
    pub outcome: String,
    pub message: String,
    pub details: serde_json::Value,
}

/// Records a run in `job_runs`.
pub fn record_run(
    conn: &mut Conn,
    job: Job,
    tenant: &Tenant,
    started: DateTime<Utc>,
    finished: DateTime<Utc>,
    result: Result<&serde_json::Value, &str>,
) -> Result<(), StoreError> {
    let (outcome, message, details) = match result {
        Ok(details) => ("ok", String::new(), details.to_string()),
        Err(message) => ("failed", message.to_string(), "{}".to_string()),
    };
    scoped::insert_job_run(
        conn,
        tenant.scope(),
        &JobRunRow {
            job: job.as_str().to_string(),
            started,
            finished,
            outcome: outcome.to_string(),
            message,
            details,
        },
    )
}

/// The most recent runs of `job` for a tenant, newest first.
pub fn history(
    conn: &mut Conn,
    job: Job,
    tenant: &Tenant,
    limit: i64,
) -> Result<Vec<JobRun>, StoreError> {
    Ok(scoped::job_runs(conn, tenant.scope(), job.as_str(), limit)?
        .iter()
        .map(|r| JobRun {
            job: text(&r[0]),
            tenant_id: text(&r[1]),
            started_at_utc: text(&r[2]),
            finished_at_utc: text(&r[3]),
            outcome: text(&r[4]),
            message: text(&r[5]),
            details: match &r[6] {
                Value::Text(t) => {
                    serde_json::from_str(t.as_str()).unwrap_or(serde_json::Value::Null)
                }
                _ => serde_json::Value::Null,
            },
        })
        .collect())
}
