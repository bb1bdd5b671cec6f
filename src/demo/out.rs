//! One [`Table`] per entity set the generator writes (Conversations rows are derived
//! from Calls, Chats and Emails), and the small helpers every writer shares.

use crate::edm::Model;
use crate::store::tenants::Tenant;
use crate::store::{Conn, StoreError};

use super::table::Table;

/// Every entity set the generator fills.
pub(super) struct Out<'m> {
    pub agents: Table<'m>,
    pub users: Table<'m>,
    pub business_units: Table<'m>,
    pub channels: Table<'m>,
    pub queues: Table<'m>,
    pub bot_steps: Table<'m>,
    pub campaigns: Table<'m>,
    pub agent_bu_changes: Table<'m>,
    pub agent_states: Table<'m>,
    pub bot_segments: Table<'m>,
    pub calls: Table<'m>,
    pub chats: Table<'m>,
    pub emails: Table<'m>,
    pub queue_segments: Table<'m>,
    pub rejected: Table<'m>,
    pub workitems: Table<'m>,
    pub sessions: Table<'m>,
    pub captured: Table<'m>,
    pub collected: Table<'m>,
    pub evaluations: Table<'m>,
    pub evaluation_data: Table<'m>,
    pub records: Table<'m>,
    pub record_fields: Table<'m>,
    pub record_phones: Table<'m>,
    pub registrations: Table<'m>,
    pub agent_segments: Table<'m>,
    pub messages: Table<'m>,
}

impl<'m> Out<'m> {
    pub fn new(model: &'m Model, tenant: &Tenant) -> Result<Out<'m>, StoreError> {
        let t = |name: &str| Table::new(model, name, tenant);
        let out = Out {
            agents: t("Agents")?,
            users: t("Users")?,
            business_units: t("BusinessUnits")?,
            channels: t("Channels")?,
            queues: t("Queues")?,
            bot_steps: t("BotSteps")?,
            campaigns: t("Campaigns")?,
            agent_bu_changes: t("AgentBusinessUnitChanges")?,
            agent_states: t("AgentStates")?,
            bot_segments: t("BotSegments")?,
            calls: t("Calls")?,
            chats: t("Chats")?,
            emails: t("Emails")?,
            queue_segments: t("QueueSegments")?,
            rejected: t("RejectedEnqueueAttempts")?,
            workitems: t("Workitems")?,
            sessions: t("WorkitemConversationSessions")?,
            captured: t("CapturedData")?,
            collected: t("CollectedData")?,
            evaluations: t("WorkitemEvaluations")?,
            evaluation_data: t("WorkitemEvaluationData")?,
            records: t("CampaignRecords")?,
            record_fields: t("CampaignRecordCustomFields")?,
            record_phones: t("CampaignRecordAdditionalPhoneNumbers")?,
            registrations: t("CampaignRecordRegistrations")?,
            agent_segments: t("AgentSegments")?,
            messages: t("Messages")?,
        };
        // A set added to the model must get demo rows too.
        for set in model.entity_sets() {
            let filled = |t: &&Table<'m>| t.name() == set.name || t.derives() == Some(&set.name);
            if !out.tables().iter().any(filled) {
                return Err(StoreError::Invalid(format!(
                    "the demo generator does not fill the entity set {}",
                    set.name
                )));
            }
        }
        Ok(out)
    }

    fn tables(&self) -> [&Table<'m>; 27] {
        [
            &self.agents,
            &self.users,
            &self.business_units,
            &self.channels,
            &self.queues,
            &self.bot_steps,
            &self.campaigns,
            &self.agent_bu_changes,
            &self.agent_states,
            &self.bot_segments,
            &self.calls,
            &self.chats,
            &self.emails,
            &self.queue_segments,
            &self.rejected,
            &self.workitems,
            &self.sessions,
            &self.captured,
            &self.collected,
            &self.evaluations,
            &self.evaluation_data,
            &self.records,
            &self.record_fields,
            &self.record_phones,
            &self.registrations,
            &self.agent_segments,
            &self.messages,
        ]
    }

    pub fn flush(&mut self, conn: &mut Conn) -> Result<(), StoreError> {
        for t in [
            &mut self.agents,
            &mut self.users,
            &mut self.business_units,
            &mut self.channels,
            &mut self.queues,
            &mut self.bot_steps,
            &mut self.campaigns,
            &mut self.agent_bu_changes,
            &mut self.agent_states,
            &mut self.bot_segments,
            &mut self.calls,
            &mut self.chats,
            &mut self.emails,
            &mut self.queue_segments,
            &mut self.rejected,
            &mut self.workitems,
            &mut self.sessions,
            &mut self.captured,
            &mut self.collected,
            &mut self.evaluations,
            &mut self.evaluation_data,
            &mut self.records,
            &mut self.record_fields,
            &mut self.record_phones,
            &mut self.registrations,
            &mut self.agent_segments,
            &mut self.messages,
        ] {
            t.flush(conn)?;
        }
        Ok(())
    }

    /// Rows written per entity set, in the model's order.
    pub fn counts(&self, model: &Model) -> Vec<(String, u64)> {
        let tables = self.tables();
        model
            .entity_sets()
            .iter()
            .map(|set| {
                let written: u64 = tables
                    .iter()
                    .filter(|t| t.name() == set.name)
                    .map(|t| t.written())
                    .sum();
                let derived: u64 = tables
                    .iter()
                    .filter(|t| t.derives() == Some(&set.name))
                    .map(|t| t.derived())
                    .sum();
                (set.name.clone(), written + derived)
            })
            .collect()
    }
}

/// A readable surrogate id: `prefix-00000042`.
pub(super) fn id(prefix: &str, n: u64) -> String {
    format!("{prefix}-{n:08}")
}

/// Milliseconds to whole seconds, rounded to the nearest second.
pub(super) fn secs(ms: i64) -> i64 {
    (ms + 500).div_euclid(1000)
}
