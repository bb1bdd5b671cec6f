//! The lookup tables as they stand when the history ends (including rows deleted
//! during it), and the agents' business-unit memberships.

use crate::store::{Conn, StoreError};

use super::calendar::{Calendar, local_to_utc};
use super::out::{Out, id};
use super::world::{
    BOT_STEPS, BS_MENU_OLD, BUSINESS_UNITS, CAMPAIGNS, CH_FACEBOOK_OLD, CHANNELS, CMP_WINTER,
    GROUPS, Q_FACEBOOK_OLD, Q_LEGACY_DSL, QUEUES, World,
};

pub(super) fn write(
    out: &mut Out<'_>,
    conn: &mut Conn,
    world: &World,
    cal: &Calendar,
) -> Result<(), StoreError> {
    let refresh = |day: usize| cal.days[day.min(cal.days.len() - 1)].refresh;
    let ch = &world.changes;

    for bu in &BUSINESS_UNITS {
        out.business_units
            .text("id", bu.id)
            .text("name", bu.name)
            .opt_utc("deletedAt", None);
        out.business_units.end_row(conn)?;
    }
    for (i, c) in CHANNELS.iter().enumerate() {
        let deleted = (i == CH_FACEBOOK_OLD).then(|| refresh(ch.facebook));
        out.channels
            .text("id", c.id)
            .text("name", c.name)
            .text("channelType", c.media.channel_type())
            .opt_text("businessUnitId", c.bu.map(|b| BUSINESS_UNITS[b].id))
            .opt_utc("deletedAt", deleted);
        out.channels.end_row(conn)?;
    }
    for (i, q) in QUEUES.iter().enumerate() {
        let deleted = match i {
            Q_FACEBOOK_OLD => Some(refresh(ch.facebook)),
            Q_LEGACY_DSL => Some(refresh(ch.legacy_dsl)),
            _ => None,
        };
        out.queues
            .text("id", q.id)
            .text("name", q.name)
            .text("channelId", CHANNELS[q.channel].id)
            .text("routingMode", q.routing)
            .opt_utc("deletedAt", deleted);
        out.queues.end_row(conn)?;
    }
    for (i, b) in BOT_STEPS.iter().enumerate() {
        out.bot_steps
            .text("id", b.id)
            .text("name", b.name)
            .text("type", b.kind)
            .text("mediaGroup", b.mg.name())
            .opt_utc("deletedAt", (i == BS_MENU_OLD).then(|| refresh(ch.menu)));
        out.bot_steps.end_row(conn)?;
    }
    for (i, c) in CAMPAIGNS.iter().enumerate() {
        out.campaigns
            .text("id", c.id)
            .text("name", c.name)
            .text("campaignType", c.kind)
            .opt_utc("deletedAt", (i == CMP_WINTER).then(|| refresh(ch.winter)));
        out.campaigns.end_row(conn)?;
    }

    let mut changes = 0u64;
    let mut change =
        |out: &mut Out<'_>, conn: &mut Conn, agent: &str, bu: usize, assigned: bool, at: i64| {
            changes += 1;
            out.agent_bu_changes
                .text("id", id("abu", changes))
                .text("agentId", agent.to_string())
                .flag("assigned", assigned)
                .text("businessUnitId", BUSINESS_UNITS[bu].id)
                .text("tenantId", super::TENANT)
                .time("timestamp", at);
            out.agent_bu_changes.end_row(conn)
        };
    for a in &world.agents {
        let deleted = a.left.map(refresh);
        out.agents
            .text("id", a.id.clone())
            .text("name", a.name())
            .opt_text("customId", a.custom_id.clone())
            .opt_utc("deletedAt", deleted);
        out.agents.end_row(conn)?;
        out.users
            .text("id", a.id.clone())
            .text("name", a.name())
            .opt_text("customId", a.custom_id.clone())
            .text("emailAddress", a.email())
            .text("userType", "Agent")
            .opt_utc("deletedAt", deleted);
        out.users.end_row(conn)?;

        let bu = GROUPS[a.group].0;
        change(out, conn, &a.id, bu, true, a.hired_at)?;
        if let Some((day, group)) = a.moved {
            let at = local_to_utc(cal.days[day].date, 7 * 3600);
            change(out, conn, &a.id, bu, false, at)?;
            change(out, conn, &a.id, GROUPS[group].0, true, at + 1_000)?;
        }
        if let Some(day) = a.left {
            // Removed in the evening after the last shift.
            let last = day.saturating_sub(1);
            let at = local_to_utc(cal.days[last].date, 21 * 3600);
            let group = a.group_on(last).unwrap_or(a.group);
            change(out, conn, &a.id, GROUPS[group].0, false, at)?;
        }
    }
    for s in &world.staff {
        out.users
            .text("id", s.id.clone())
            .text("name", s.name.clone())
            .opt_text("customId", None::<String>)
            .text("emailAddress", s.email.clone())
            .text("userType", s.kind)
            .opt_utc("deletedAt", None);
        out.users.end_row(conn)?;
    }
    Ok(())
}
