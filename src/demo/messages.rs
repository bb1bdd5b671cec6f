//! Messages and agent segments of chats and e-mails.
//!
//! The flows decide who has a conversation when; this module turns that into the
//! messages a transcript would show (customer, bots, the e-mail flow's automatic
//! acknowledgements, agents, the odd team lead, campaign templates and the platform's
//! notices) and into one agent segment per period an agent held the conversation.
//!
//! Why it is shaped so:
//! - Message timing draws from its own random stream ([`Sim::talk`]), never from the
//!   simulation's, so adding transcripts left every other table exactly as it was.
//! - A segment is only written when its conversation is written ([`Sim::conversation`]
//!   calls [`Sim::conversation_end`]), so its end and end reason are the
//!   conversation's: one place instead of one per flow.
//! - Only the source columns are written here. The message-derived columns (counts,
//!   first agent message, response times, flags, `Messages.agentSegmentId`) are
//!   computed afterwards by `ingest::segments::refresh`, the same code that fills
//!   them for ingested and imported data.
//! - In this contact center a transfer continues in a new conversation (see
//!   `Conv::next`), so every conversation has at most one agent segment; one that
//!   continues a transferred contact starts with reason `transfer`. Takeovers and
//!   resumed conversations do not happen in the simulated flows, and the chat bots are
//!   workflow steps (BotSegments), not bots assigned like agents, so there are no
//!   `takeover`, `resume` or `bot` segments.

use crate::store::StoreError;

use super::calendar::SECOND;
use super::out::id;
use super::sim::{Conv, Sim};
use super::world::{
    BOT_STEPS, BS_AUTO_ACK, BS_CHAT_GREETING, CAMPAIGNS, CHANNELS, Media, Mg, QUEUES,
};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sender {
    Customer,
    /// A person of the contact center (index into the agents) writing to the customer.
    Agent(usize),
    /// A person's note the customer does not see, e.g. a team lead coaching the agent.
    Note(usize),
    /// A chat bot step (index into the bot steps).
    Bot(usize),
    /// A workflow step that sends messages by itself (index into the bot steps).
    Flow(usize),
    /// A campaign's template message (index into the campaigns).
    Campaign(usize),
    /// The platform's own notices.
    System,
}

/// An agent's assignment, kept on the conversation until it ends.
#[derive(Debug, Clone, Copy)]
pub(super) struct Held {
    pub agent: usize,
    pub queue: Option<usize>,
    pub assigned: i64,
    pub accepted: i64,
}

impl Held {
    /// A contact the agent starts: theirs from the moment it exists, no queue.
    pub fn started_by(agent: usize, at: i64) -> Held {
        Held {
            agent,
            queue: None,
            assigned: at,
            accepted: at,
        }
    }
}

/// How an agent segment ended, from how its conversation ended.
fn end_reason(conversation_reason: &str) -> &'static str {
    match conversation_reason {
        "TransferredToQueue" | "TransferToChannel" => "transfer",
        "CustomerDisconnected" => "consumerClosed",
        "IdleTimeout" => "systemClosed",
        _ => "agentClosed",
    }
}

fn media_type(channel: usize) -> &'static str {
    match CHANNELS[channel].media {
        Media::Webchat => "chat",
        Media::Email => "email",
        Media::Viber | Media::Facebook | Media::Voice => "message",
    }
}

impl Sim<'_, '_> {
    /// Writes one message (posts it to the conversation).
    pub fn post(&mut self, c: &Conv, at: i64, from: Sender) -> Result<(), StoreError> {
        let (sender, agent, bot, direction) = match from {
            Sender::Customer => ("customer", None, None, "inbound"),
            Sender::Agent(a) => ("agent", Some(a), None, "outbound"),
            Sender::Note(a) => ("agent", Some(a), None, "internal"),
            Sender::Bot(s) => ("bot", None, Some(BOT_STEPS[s].id), "outbound"),
            Sender::Flow(s) => ("flow", None, Some(BOT_STEPS[s].id), "outbound"),
            Sender::Campaign(k) => ("campaign", None, Some(CAMPAIGNS[k].id), "outbound"),
            Sender::System => ("system", None, None, "internal"),
        };
        let automated = !matches!(from, Sender::Customer | Sender::Agent(_) | Sender::Note(_));
        self.n.message += 1;
        let t = &mut self.out.messages;
        t.text("id", id("msg", self.n.message))
            .text("conversationId", c.id.clone())
            .text("mediaType", media_type(c.channel))
            .time("sentAt", at)
            .text("senderType", sender)
            .flag("isAutomated", automated)
            .opt_text("agentId", agent.map(|a| self.world.agents[a].id.clone()))
            .opt_text("botId", bot)
            .text("direction", direction);
        t.end_row(self.conn)
    }

    fn messages(&mut self, c: &Conv, turns: &[(i64, Sender)]) -> Result<(), StoreError> {
        for &(at, from) in turns {
            self.post(c, at, from)?;
        }
        Ok(())
    }

    /// A delay of about `median_s` seconds (log-normal), at least a second.
    fn delay(&mut self, median_s: f64, lo_s: f64, hi_s: f64) -> i64 {
        self.talk.duration(median_s, 0.5, lo_s, hi_s).max(SECOND)
    }

    /// What a chat bot step or an e-mail flow step says while it runs from `start` to
    /// `end`; nothing for voice.
    pub fn step_messages(
        &mut self,
        c: &Conv,
        step: usize,
        start: i64,
        end: i64,
        result: &str,
    ) -> Result<(), StoreError> {
        let ok = result == "Success";
        let len = end - start;
        let early = start + (len / 5).clamp(1, SECOND);
        let turns: Vec<(i64, Sender)> = match (BOT_STEPS[step].mg, BOT_STEPS[step].kind) {
            (Mg::Email, _) if step == BS_AUTO_ACK && ok => vec![(end, Sender::Flow(step))],
            (Mg::Chat, "announcement") => {
                let mut turns = Vec::new();
                // In messaging apps the customer's first message opens the conversation.
                if step == BS_CHAT_GREETING && CHANNELS[c.channel].media != Media::Webchat {
                    turns.push((start, Sender::Customer));
                }
                turns.push((start + (len / 2).max(1), Sender::Bot(step)));
                turns
            }
            (Mg::Chat, "menuSelection" | "question" | "identifyCustomer") => {
                let mut turns = vec![(early, Sender::Bot(step))];
                if ok {
                    turns.push((end, Sender::Customer));
                }
                turns
            }
            (Mg::Chat, "qna") => {
                // One to three questions and answers in the step's time.
                let k = (1 + len / (70 * SECOND)).min(3);
                let slot = len / k;
                (0..k)
                    .flat_map(|i| {
                        let from = start + i * slot;
                        [
                            (from + slot / 4 + 1, Sender::Customer),
                            (from + slot * 9 / 10 + 2, Sender::Bot(step)),
                        ]
                    })
                    .collect()
            }
            (Mg::Chat, "customBot") => {
                let mut turns = vec![
                    (early, Sender::Bot(step)),
                    (start + len / 2 + 1, Sender::Customer),
                ];
                if ok {
                    turns.push((end, Sender::Bot(step)));
                }
                turns
            }
            _ => Vec::new(),
        };
        self.messages(c, &turns)
    }

    /// A chat customer waiting in the queue from `from` to `until` now and then asks
    /// whether anyone is there.
    pub fn waiting_messages(&mut self, c: &Conv, from: i64, until: i64) -> Result<(), StoreError> {
        let wait = until - from;
        if wait > 90 * SECOND && self.talk.chance(0.35) {
            let at = from + (wait as f64 * (0.3 + 0.6 * self.talk.f64())) as i64;
            self.post(c, at, Sender::Customer)?;
        }
        Ok(())
    }

    /// An e-mail customer whose mail waits long writes again; the mailbox flow
    /// acknowledges that mail too. Only for mail that came in through the flow.
    pub fn mail_waiting_messages(
        &mut self,
        c: &Conv,
        from: i64,
        until: i64,
    ) -> Result<(), StoreError> {
        let wait = until - from;
        if !c.transferred && wait > 6 * 3600 * SECOND && self.talk.chance(0.1) {
            let at = from + (wait as f64 * (0.2 + 0.6 * self.talk.f64())) as i64;
            self.follow_up(c, at)?;
        }
        Ok(())
    }

    /// The customer's further mail at `at` and the flow's acknowledgement of it.
    fn follow_up(&mut self, c: &Conv, at: i64) -> Result<(), StoreError> {
        let ack = at + self.talk.secs(2.0, 6.0);
        self.messages(
            c,
            &[(at, Sender::Customer), (ack, Sender::Flow(BS_AUTO_ACK))],
        )
    }

    /// Whether the agent forwards an e-mail they transfer without answering it.
    pub fn transfer_unanswered(&mut self) -> bool {
        self.talk.chance(0.6)
    }

    /// The agent's part of an e-mail: the reply at `reply` (the time the Emails row
    /// reports as first reply; none when the agent only forwarded the mail), sometimes
    /// a second mail before `agent_end`; now and then the customer writes again while
    /// the agent works on it, and the flow acknowledges that mail automatically
    /// although an agent is connected.
    pub fn mail_messages(
        &mut self,
        c: &Conv,
        agent: usize,
        connect: i64,
        reply: Option<i64>,
        agent_end: i64,
    ) -> Result<(), StoreError> {
        let answer_by = reply.unwrap_or(agent_end);
        if self.talk.chance(0.08) {
            let at =
                connect + ((answer_by - connect) as f64 * (0.2 + 0.5 * self.talk.f64())) as i64;
            self.follow_up(c, at)?;
        }
        let Some(reply) = reply else {
            return Ok(());
        };
        self.post(c, reply, Sender::Agent(agent))?;
        if agent_end - reply > 20 * SECOND && self.talk.chance(0.12) {
            let at = reply + ((agent_end - reply) as f64 * (0.3 + 0.6 * self.talk.f64())) as i64;
            self.post(c, at, Sender::Agent(agent))?;
        }
        Ok(())
    }

    /// An inbound chat once agent `agent` accepted it at `connect`: a greeting, then
    /// customer and agent take turns until `agent_end`, closing the way the
    /// conversation ends (`reason`). Returns whether the agent wrote: in some short
    /// chats the customer gives up before the agent (busy with another chat) answers.
    pub fn chat_messages(
        &mut self,
        c: &Conv,
        agent: usize,
        connect: i64,
        agent_end: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let active = agent_end - connect;
        if end_reason(reason) == "consumerClosed"
            && active < 4 * 60 * SECOND
            && self.talk.chance(0.3)
        {
            let at = connect + (active as f64 * (0.2 + 0.6 * self.talk.f64())) as i64;
            self.post(c, at, Sender::Customer)?;
            return Ok(false);
        }
        let greet = self.delay(6.0, 1.0, 60.0).min(active / 3);
        let mut turns = vec![(connect + greet.max(1), Sender::Agent(agent))];
        self.dialogue(c, agent, &mut turns, agent_end, reason);
        if turns.len() >= 4 && self.talk.chance(0.025) {
            self.team_lead(agent, &mut turns);
        }
        self.messages(c, &turns)?;
        Ok(true)
    }

    /// An agent-initiated Viber conversation from `c.start`: the agent's (or a
    /// campaign template's) first message, and when the customer answers after
    /// `first_answer` ms, a conversation until `agent_end`.
    pub fn outbound_chat_messages(
        &mut self,
        c: &Conv,
        agent: usize,
        first_answer: Option<i64>,
        agent_end: i64,
    ) -> Result<(), StoreError> {
        let opener = if self.talk.chance(0.35) {
            Sender::Campaign(super::world::CMP_RENEWAL)
        } else {
            Sender::Agent(agent)
        };
        let mut turns = vec![(c.start, opener)];
        match first_answer {
            Some(first) => {
                turns.push((c.start + first.max(SECOND), Sender::Customer));
                self.dialogue(c, agent, &mut turns, agent_end, "Default");
            }
            None => {
                // No answer: the agent adds a line, then the conversation times out.
                let at =
                    c.start + ((agent_end - c.start) as f64 * (0.2 + 0.6 * self.talk.f64())) as i64;
                if opener != Sender::Agent(agent) || self.talk.chance(0.5) {
                    turns.push((at.max(c.start + 1), Sender::Agent(agent)));
                }
            }
        }
        self.messages(c, &turns)
    }

    /// Continues `turns` with customer and agent taking turns until `until`, and
    /// closes the way the segment ends: the customer leaving has the last word,
    /// otherwise the agent does (and after an idle timeout nobody answers it).
    fn dialogue(
        &mut self,
        c: &Conv,
        agent: usize,
        turns: &mut Vec<(i64, Sender)>,
        until: i64,
        reason: &str,
    ) {
        let agent_speed = c.avg_agent.unwrap_or(22.0);
        let customer_speed = c.avg_customer.unwrap_or(35.0);
        let Some(&(mut t, mut last)) = turns.last() else {
            return;
        };
        // Long conversations are cut short rather than written out to hundreds of lines.
        while turns.len() < 30 {
            let (next, median) = if last == Sender::Customer {
                (Sender::Agent(agent), agent_speed)
            } else {
                (Sender::Customer, customer_speed)
            };
            let at = t + self.delay(median, 2.0, 600.0);
            if at >= until - 2 * SECOND {
                break;
            }
            turns.push((at, next));
            t = at;
            // Either side sometimes sends two messages in a row.
            if self.talk.chance(0.15) {
                let again = t + self.delay(8.0, 2.0, 60.0);
                if again < until - 2 * SECOND {
                    turns.push((again, next));
                    t = again;
                }
            }
            last = next;
        }
        let closer = if end_reason(reason) == "consumerClosed" {
            Sender::Customer
        } else {
            Sender::Agent(agent)
        };
        if last != closer && until - t > SECOND {
            turns.push((t + (until - t) / 2 + 1, closer));
        }
    }

    /// A team lead on shift (another agent of the same skill group) writes into the
    /// agent's chat: mostly a note only the agent sees, sometimes to the customer.
    fn team_lead(&mut self, agent: usize, turns: &mut Vec<(i64, Sender)>) {
        let i = 1 + self.talk.index(turns.len() - 2);
        let at = turns[i].0 + (turns[i + 1].0 - turns[i].0) / 2;
        let lead = self
            .groups
            .iter()
            .find(|g| g.contains(&agent))
            .and_then(|g| {
                g.iter()
                    .copied()
                    .find(|&a| a != agent && self.agents[a].logged_in(at))
            });
        let Some(lead) = lead else {
            return;
        };
        if at <= turns[i].0 {
            return;
        }
        let from = if self.talk.chance(0.65) {
            Sender::Note(lead)
        } else {
            Sender::Agent(lead)
        };
        turns.insert(i + 1, (at, from));
    }

    /// What is written when a chat or e-mail ends (or stays open at the end of the
    /// history): the platform's notice of a transfer or an inactivity timeout, and the
    /// agent segment, which ends with the conversation.
    pub fn conversation_end(&mut self, c: &Conv) -> Result<(), StoreError> {
        if CHANNELS[c.channel].media.group() == Mg::Voice {
            return Ok(());
        }
        if let (Some(end), Some("TransferredToQueue" | "TransferToChannel" | "IdleTimeout")) =
            (c.end, c.reason)
        {
            self.post(c, end, Sender::System)?;
        }
        let Some(h) = c.held else {
            return Ok(());
        };
        self.n.agent_segment += 1;
        let start_reason = if c.transferred {
            "transfer"
        } else {
            "newConversation"
        };
        let t = &mut self.out.agent_segments;
        t.text("id", id("aseg", self.n.agent_segment))
            .text("conversationId", c.id.clone())
            .text("agentId", self.world.agents[h.agent].id.clone())
            .text("userType", "human")
            .opt_text("queueId", h.queue.map(|q| QUEUES[q].id))
            .text("startReason", start_reason)
            .time("assignedAt", h.assigned)
            .time("acceptedAt", h.accepted)
            .opt_time("endedAt", c.end)
            .opt_text("endReason", c.end.and(c.reason).map(end_reason))
            .opt_int("durationInMilliseconds", c.end.map(|e| e - h.assigned))
            // Transfers start a new conversation, so each has one segment at most.
            .flag("isLastInConversation", true);
        t.end_row(self.conn)?;
        self.segmented.push(c.id.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_end_the_way_their_conversation_does() {
        assert_eq!(end_reason("TransferredToQueue"), "transfer");
        assert_eq!(end_reason("TransferToChannel"), "transfer");
        assert_eq!(end_reason("CustomerDisconnected"), "consumerClosed");
        assert_eq!(end_reason("IdleTimeout"), "systemClosed");
        assert_eq!(end_reason("Default"), "agentClosed");
    }
}
