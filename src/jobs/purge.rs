//! The retention purge: every statistical row older than its tenant's retention, by a
//! documented event-time column per entity set ([`rule`]), is deleted; lookup rows are
//! deleted only when they were marked deleted longer ago than the retention.
//!
//! Rows go in chunks of a few thousand, each chunk one short statement that commits on
//! its own: readers are served between chunks, and a crash leaves every chunk either
//! done or not, so the next run simply finishes the work. A row exactly at the cutoff
//! (now minus the retention) is kept; older ones go.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::{Job, record_run};
use crate::edm::{EntitySet, Model};
use crate::store::scoped::{self, Age};
use crate::store::tenants::Tenant;
use crate::store::{Conn, Db, StoreError};

/// How the age of a row is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// By this UTC timestamp property of the row.
    Time(&'static str),
    /// By the time of the parent row it belongs to: (foreign key, parent set,
    /// parent's time property). Children go before their parents.
    Parent(&'static str, &'static str, &'static str),
    /// A lookup: by `deletedAt`; rows never deleted stay.
    Lookup,
}

/// The event-time column of each entity set (the column the retention is judged by).
pub fn rule(set: &EntitySet) -> Option<Rule> {
    if set.is_lookup() {
        return Some(Rule::Lookup);
    }
    Some(match set.name.as_str() {
        "AgentBusinessUnitChanges" | "CapturedData" => Rule::Time("timestampUtc"),
        "AgentStates" | "Workitems" => Rule::Time("startTimeUtc"),
        "BotSegments" | "Calls" | "Chats" | "Emails" | "Conversations" | "WorkitemEvaluations" => {
            Rule::Time("startedAtUtc")
        }
        "CampaignRecordRegistrations" => Rule::Time("registeredAtUtc"),
        "CampaignRecords" | "CollectedData" | "WorkitemEvaluationData" => {
            Rule::Time("createdAtUtc")
        }
        "QueueSegments" => Rule::Time("queuedAtUtc"),
        "AgentSegments" => Rule::Time("assignedAtUtc"),
        "Messages" => Rule::Time("sentAtUtc"),
        "RejectedEnqueueAttempts" => Rule::Time("rejectedAtUtc"),
        "WorkitemConversationSessions" => Rule::Parent("workitemId", "Workitems", "startTimeUtc"),
        "CampaignRecordAdditionalPhoneNumbers" | "CampaignRecordCustomFields" => {
            Rule::Parent("campaignRecordId", "CampaignRecords", "createdAtUtc")
        }
        _ => return None,
    })
}

fn column<'m>(set: &'m EntitySet, property: &str) -> Result<&'m str, StoreError> {
    set.property(property)
        .map(|p| p.column.as_str())
        .ok_or_else(|| StoreError::Invalid(format!("{}.{property} is not in the model", set.name)))
}

/// How the age of `set`'s rows is read, from its [`rule`].
fn age<'m>(model: &'m Model, set: &'m EntitySet) -> Result<Age<'m>, StoreError> {
    Ok(match rule(set) {
        Some(Rule::Time(p)) => Age::Column(column(set, p)?),
        Some(Rule::Lookup) => Age::Column(column(set, "deletedAt")?),
        Some(Rule::Parent(fk, parent, time)) => {
            let parent = model
                .entity_set(parent)
                .ok_or_else(|| StoreError::Invalid(format!("no entity set {parent}")))?;
            Age::Parent(column(set, fk)?, parent, column(parent, time)?)
        }
        None => {
            return Err(StoreError::Invalid(format!(
                "{} has no retention rule",
                set.name
            )));
        }
    })
}

/// Entity sets in purge order: children before their parents.
fn order(model: &Model) -> Vec<&EntitySet> {
    let mut sets: Vec<&EntitySet> = model.entity_sets().iter().collect();
    sets.sort_by_key(|s| match rule(s) {
        Some(Rule::Parent(..)) => 0,
        Some(Rule::Time(_)) => 1,
        _ => 2,
    });
    sets
}

/// Deletes (or, with `dry_run`, counts) the tenant's expired rows. Returns the count
/// per entity set.
pub fn purge_tenant(
    conn: &mut Conn,
    model: &Model,
    tenant: &Tenant,
    now: DateTime<Utc>,
    dry_run: bool,
    chunk: usize,
) -> Result<BTreeMap<String, u64>, StoreError> {
    let cutoff = now - Duration::days(tenant.retention_days);
    let mut counts = BTreeMap::new();
    let scope = tenant.scope();
    for set in order(model) {
        let age = age(model, set)?;
        let n = if dry_run {
            scoped::count_older(conn, scope, set, age, cutoff)? as u64
        } else {
            let mut total = 0u64;
            loop {
                let deleted =
                    scoped::delete_older_chunk(conn, scope, set, age, cutoff, chunk)? as u64;
                tracing::debug!(tenant = %tenant.id, set = %set.name, deleted, "purged a chunk");
                total += deleted;
                if deleted < chunk as u64 {
                    break;
                }
            }
            total
        };
        if n > 0 {
            counts.insert(set.name.clone(), n);
        }
    }
    Ok(counts)
}

/// Purges and records the run.
pub fn run(
    db: &Db,
    model: &Model,
    tenant: &Tenant,
    now: DateTime<Utc>,
    chunk: usize,
) -> Result<BTreeMap<String, u64>, StoreError> {
    let started = Utc::now();
    let mut conn = db.get()?;
    let result = purge_tenant(&mut conn, model, tenant, now, false, chunk);
    match &result {
        Ok(counts) => {
            let details = serde_json::to_value(counts).unwrap_or(serde_json::Value::Null);
            record_run(
                &mut conn,
                Job::Purge,
                tenant,
                started,
                Utc::now(),
                Ok(&details),
            )?;
            tracing::info!(tenant = %tenant.id, ?counts, "retention purge done");
        }
        Err(e) => {
            record_run(
                &mut conn,
                Job::Purge,
                tenant,
                started,
                Utc::now(),
                Err(&e.to_string()),
            )?;
            tracing::warn!(tenant = %tenant.id, "retention purge failed; the next run continues it: {e}");
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_set_has_a_retention_rule() {
        let model = Model::load().unwrap();
        for set in model.entity_sets() {
            let r = rule(set).unwrap_or_else(|| panic!("{} has no rule", set.name));
            match r {
                Rule::Time(p) => assert!(set.property(p).is_some(), "{}.{p}", set.name),
                Rule::Parent(fk, parent, time) => {
                    assert!(set.property(fk).is_some());
                    assert!(
                        model
                            .entity_set(parent)
                            .and_then(|p| p.property(time))
                            .is_some()
                    );
                }
                Rule::Lookup => assert!(set.property("deletedAt").is_some()),
            }
        }
    }
}
