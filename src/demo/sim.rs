//! The simulation: contacts arrive in time order, wait for skilled agents who are
//! logged in, free and not on a break, and every row about them is written as soon as
//! it is known. Queue waits, abandonment, rejections and agent states all follow from
//! who was available when, so the tables agree with each other.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use chrono::Datelike;
use indicatif::ProgressBar;

use crate::store::{Conn, StoreError};

use super::agents::{AgentRun, Logout, Pending, PendingKind, Shift, StateRow};
use super::calendar::{Calendar, DAY, HOUR, MINUTE, SECOND, local_to_utc};
use super::campaign::Book;
use super::messages::Held;
use super::out::{Out, id, secs};
use super::rng::Rng;
use super::traffic::{Inbound, Outbound, Plan, plan_day};
use super::world::{
    BOT_STEPS, BUSINESS_UNITS, CHANNELS, CMP_RENEWAL, CMP_WINTER, Cust, GROUPS, Mg, N_CAMPAIGNS,
    QUEUES, World, staff_needed, work_hours,
};

/// What the generator keeps about a conversation until its row is written: the union
/// of the Calls, Chats and Emails columns, so one value feeds both the media table
/// and Conversations.
#[derive(Debug, Clone)]
pub(super) struct Conv {
    pub id: String,
    pub channel: usize,
    pub start: i64,
    pub end: Option<i64>,
    pub reason: Option<&'static str>,
    pub cust: Option<Cust>,
    pub channel_phone: Option<&'static str>,
    pub customer_phone: Option<String>,
    pub email: Option<String>,
    pub joined: Option<i64>,
    pub ring_s: Option<i64>,
    pub hold_count: i64,
    pub hold_ms: i64,
    pub consult: bool,
    pub outbound: bool,
    pub next: Option<String>,
    pub opening: Option<&'static str>,
    pub transfer_by: Option<&'static str>,
    pub transfer_ext: Option<&'static str>,
    pub avg_agent: Option<f64>,
    pub avg_bot: Option<f64>,
    pub avg_customer: Option<f64>,
    pub first_answer_s: Option<i64>,
    pub first_reply_s: Option<i64>,
    pub subject: Option<&'static str>,
    pub thread: Option<String>,
    /// Bot segments written so far.
    pub bots: u32,
    /// The contact continues an earlier conversation (a transfer or redirect).
    pub transferred: bool,
    /// The agent who has the conversation, for its agent segment.
    pub held: Option<Held>,
}

impl Conv {
    pub fn new(id: String, channel: usize, start: i64, cust: Option<Cust>) -> Conv {
        Conv {
            id,
            channel,
            start,
            end: None,
            reason: None,
            cust,
            channel_phone: None,
            customer_phone: None,
            email: None,
            joined: None,
            ring_s: None,
            hold_count: 0,
            hold_ms: 0,
            consult: false,
            outbound: false,
            next: None,
            opening: None,
            transfer_by: None,
            transfer_ext: None,
            avg_agent: None,
            avg_bot: None,
            avg_customer: None,
            first_answer_s: None,
            first_reply_s: None,
            subject: None,
            thread: None,
            bots: 0,
            transferred: false,
            held: None,
        }
    }

    pub fn bu(&self) -> Option<usize> {
        CHANNELS[self.channel].bu
    }
}

/// An e-mail waiting in its queue for an agent.
#[derive(Debug, Clone)]
pub(super) struct MailWait {
    pub conv: Conv,
    pub queue: usize,
    pub queued: i64,
    pub transfer: bool,
    pub subject: usize,
}

pub(super) enum EvKind {
    In(Inbound),
    Out(Outbound),
    Mail(Box<MailWait>),
}

pub(super) struct Ev {
    at: i64,
    seq: u64,
    kind: EvKind,
}

// Earliest first (BinaryHeap is a max-heap), ties in insertion order.
impl Ord for Ev {
    fn cmp(&self, other: &Ev) -> Ordering {
        other.at.cmp(&self.at).then(other.seq.cmp(&self.seq))
    }
}
impl PartialOrd for Ev {
    fn partial_cmp(&self, other: &Ev) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Ev {
    fn eq(&self, other: &Ev) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}
impl Eq for Ev {}

/// Running numbers of the ids.
#[derive(Default)]
pub(super) struct Counters {
    pub call: u64,
    pub chat: u64,
    pub mail: u64,
    pub bot_segment: u64,
    pub queue_segment: u64,
    pub rejected: u64,
    pub workitem: u64,
    pub session: u64,
    pub captured: u64,
    pub collected: u64,
    pub evaluation: u64,
    pub evaluation_data: u64,
    pub state: u64,
    pub message: u64,
    pub agent_segment: u64,
}

/// A task as the Workitems table sees it.
pub(super) struct Task {
    pub agent: usize,
    pub queue: Option<usize>,
    pub media: &'static str,
    pub start: i64,
    pub lookup: Option<i64>,
    pub preview: i64,
    pub active: i64,
    pub wrap: i64,
    pub result: &'static str,
}

impl Task {
    pub fn end(&self) -> i64 {
        self.start + self.lookup.unwrap_or(0) + self.preview + self.active + self.wrap
    }
}

const SEED_SHIFTS: u64 = 0x5A1F_7000;

pub(super) struct Sim<'a, 'm> {
    pub cal: &'a Calendar,
    pub world: &'a World,
    pub out: &'a mut Out<'m>,
    pub conn: &'a mut Conn,
    pub seed: u64,
    pub rng: Rng,
    /// Draws for message timing only, so that transcripts do not change what the
    /// simulation draws for everything else.
    pub talk: Rng,
    /// Conversations with an agent segment, for the segment metrics at the end.
    pub segmented: Vec<String>,
    pub agents: Vec<AgentRun>,
    pub groups: Vec<Vec<usize>>,
    heap: BinaryHeap<Ev>,
    seq: u64,
    pub n: Counters,
    /// Per queue, when each waiting contact leaves (for the queue size limit).
    waiting: Vec<BinaryHeap<Reverse<i64>>>,
    pub book: Book,
    lookups: Vec<(i64, i64)>,
    bar: ProgressBar,
    legs: Vec<[u64; 3]>,
    /// Expected preview-campaign dials per open day, per campaign.
    dials_per_day: [f64; N_CAMPAIGNS],
}

impl<'a, 'm> Sim<'a, 'm> {
    pub fn new(
        cal: &'a Calendar,
        world: &'a World,
        out: &'a mut Out<'m>,
        conn: &'a mut Conn,
        seed: u64,
        legs: Vec<[u64; 3]>,
        bar: ProgressBar,
    ) -> Sim<'a, 'm> {
        let agents = world
            .agents
            .iter()
            .map(|a| AgentRun::new(capacity(GROUPS[a.group].1)))
            .collect();
        let calls: u64 = legs.iter().map(|l| l[0]).sum();
        let open_days = cal
            .days
            .iter()
            .filter(|d| d.open.is_some() && d.weekday < 5)
            .count()
            .max(1) as f64;
        let dials = calls as f64 * 0.07 / open_days;
        let mut dials_per_day = [0.0; N_CAMPAIGNS];
        dials_per_day[CMP_RENEWAL] = dials * 0.62;
        dials_per_day[CMP_WINTER] = dials * 0.42;
        Sim {
            cal,
            world,
            out,
            conn,
            seed,
            rng: Rng::stream(seed, 0x0051_3000),
            talk: Rng::stream(seed, 0x7A1C_3E55),
            segmented: Vec::new(),
            agents,
            groups: vec![Vec::new(); GROUPS.len()],
            heap: BinaryHeap::new(),
            seq: 0,
            n: Counters::default(),
            waiting: vec![BinaryHeap::new(); QUEUES.len()],
            book: Book::default(),
            lookups: Vec::new(),
            bar,
            legs,
            dials_per_day,
        }
    }

    pub fn push(&mut self, at: i64, kind: EvKind) {
        self.seq += 1;
        self.heap.push(Ev {
            at,
            seq: self.seq,
            kind,
        });
    }

    /// Runs the whole history, then writes what is only known at its end.
    pub fn run(&mut self) -> Result<(), StoreError> {
        for d in 0..self.cal.days.len() {
            self.start_day(d)?;
            self.seed_day(d);
            let end = self.cal.days[d].end;
            while self.heap.peek().is_some_and(|e| e.at < end) {
                if let Some(ev) = self.heap.pop() {
                    self.handle(ev)?;
                }
            }
        }
        self.end_shifts()?;
        while let Some(ev) = self.heap.pop() {
            self.handle(ev)?;
        }
        for a in 0..self.agents.len() {
            if let Some(row) = self.agents[a].take_open_logout() {
                self.state_row(a, &row)?;
            }
        }
        let book = std::mem::take(&mut self.book);
        book.write(self.out, self.conn, self.cal.end)?;
        self.bar.finish_and_clear();
        Ok(())
    }

    fn handle(&mut self, ev: Ev) -> Result<(), StoreError> {
        match ev.kind {
            EvKind::In(p) => match CHANNELS[p.channel].media.group() {
                Mg::Voice => self.voice_in(p),
                Mg::Chat => self.chat_in(p),
                Mg::Email => self.mail_in(p),
            },
            EvKind::Out(o) => self.outbound(ev.at, o),
            EvKind::Mail(w) => self.mail_route(ev.at, *w),
        }
    }

    fn seed_day(&mut self, d: usize) {
        for m in [Mg::Voice, Mg::Chat, Mg::Email] {
            let legs = self.legs[d][m as usize];
            for (t, plan) in plan_day(self.cal, self.world, d, m, legs, self.seed) {
                let kind = match plan {
                    Plan::In(p) => EvKind::In(p),
                    Plan::Out(o) => EvKind::Out(o),
                };
                self.push(t, kind);
            }
        }
    }

    fn end_shifts(&mut self) -> Result<(), StoreError> {
        for a in 0..self.agents.len() {
            if self.agents[a].on_shift() {
                let rows = self.agents[a].end_shift(&mut self.lookups);
                self.write_lookups(a)?;
                for row in &rows {
                    self.state_row(a, row)?;
                }
            }
        }
        Ok(())
    }

    /// Closes yesterday's shifts, sets up today's roster and campaign uploads.
    fn start_day(&mut self, d: usize) -> Result<(), StoreError> {
        self.end_shifts()?;
        let day = self.cal.days[d].clone();
        for g in &mut self.groups {
            g.clear();
        }
        for (i, a) in self.world.agents.iter().enumerate() {
            if let Some(g) = a.group_on(d) {
                self.groups[g].push(i);
                self.agents[i].capacity = capacity(GROUPS[g].1);
            }
        }
        if day.open.is_none() {
            return Ok(());
        }
        let week = i64::from(day.date.num_days_from_ce()) / 7;
        let saturday = day.weekday == 5;
        for g in 0..GROUPS.len() {
            let members = self.groups[g].clone();
            let n = members.len();
            if n == 0 {
                continue;
            }
            // As many agents as the day's work needs, rotating through the group so
            // that everyone gets days off; early and late shifts alternate.
            let hours = work_hours(&self.legs[d], g);
            let k = staff_needed(hours, saturday).min(n);
            let offset = (d * k + g) % n;
            let working: Vec<(usize, bool)> = (0..k)
                .map(|i| {
                    (
                        members[(offset + i) % n],
                        saturday || (i as i64 + week) % 2 == 0,
                    )
                })
                .collect();
            for (a, early) in working {
                let shift = self.plan_shift(a, d, saturday, early, k == 1);
                if let Some(row) = self.agents[a].begin_shift(shift) {
                    self.state_row(a, &row)?;
                }
            }
        }
        // Preview campaign uploads: on Mondays, and whenever a campaign runs short.
        if day.weekday < 5 {
            let first_open = self.cal.days[..d]
                .iter()
                .all(|x| x.open.is_none() || x.weekday >= 5);
            for cmp in [CMP_RENEWAL, CMP_WINTER] {
                if cmp == CMP_WINTER && d >= self.world.changes.winter {
                    continue;
                }
                let per_day = self.dials_per_day[cmp];
                let short = (self.book.waiting(cmp) as f64) < per_day * 1.5;
                if day.weekday == 0 || first_open || short {
                    let count = (per_day * 5.0).ceil() as usize + 3;
                    let at =
                        local_to_utc(day.date, 7 * 3600 + 30 * 60) + self.rng.range(0, 10 * MINUTE);
                    let mut rng = Rng::stream(self.seed, 0xC0A0_0000 + (d as u64) * 8 + cmp as u64);
                    self.book.upload(cmp, count, at, &mut rng, self.world.pool);
                }
            }
        }
        Ok(())
    }

    fn plan_shift(&self, a: usize, d: usize, saturday: bool, early: bool, alone: bool) -> Shift {
        let day = &self.cal.days[d];
        let mut rng = Rng::stream(
            self.seed ^ SEED_SHIFTS,
            ((a as u64) << 24) | (d as u64) | (1 << 23),
        );
        let (from, to) = match (saturday, early, alone) {
            (true, _, _) => (8 * 3600 + 50 * 60, 14 * 3600 + 5 * 60),
            (false, _, true) => (7 * 3600 + 45 * 60, 20 * 3600 + 5 * 60),
            (false, true, false) => (7 * 3600 + 45 * 60, 16 * 3600 + 15 * 60),
            (false, false, false) => (11 * 3600 + 35 * 60, 20 * 3600 + 5 * 60),
        };
        let login = local_to_utc(day.date, from) + rng.range(-8 * MINUTE, 6 * MINUTE);
        let end = local_to_utc(day.date, to) + rng.range(-2 * MINUTE, 6 * MINUTE);
        let mut pending = Vec::new();
        let brk = |at: i64, len: i64, name: Option<&'static str>| Pending {
            at,
            len,
            kind: PendingKind::Break(name),
        };
        if saturday {
            pending.push(brk(
                login + 150 * MINUTE + rng.range(-20 * MINUTE, 20 * MINUTE),
                rng.range(8, 12) * MINUTE,
                Some("Coffee"),
            ));
        } else {
            pending.push(brk(
                login + 2 * HOUR + rng.range(-20 * MINUTE, 20 * MINUTE),
                rng.range(10, 16) * MINUTE,
                Some("Coffee"),
            ));
            pending.push(brk(
                login + 255 * MINUTE + rng.range(-30 * MINUTE, 30 * MINUTE),
                rng.range(28, 36) * MINUTE,
                Some("Lunch"),
            ));
            pending.push(brk(
                login + 390 * MINUTE + rng.range(-20 * MINUTE, 20 * MINUTE),
                rng.range(10, 16) * MINUTE,
                Some("Coffee"),
            ));
            if rng.chance(0.08) {
                pending.push(brk(
                    login + rng.range(HOUR, 6 * HOUR),
                    rng.range(45, 61) * MINUTE,
                    Some("Training"),
                ));
            }
            if rng.chance(0.05) {
                pending.push(brk(
                    login + rng.range(HOUR, 6 * HOUR),
                    30 * MINUTE,
                    Some("Team meeting"),
                ));
            }
            if rng.chance(0.15) {
                pending.push(brk(
                    login + rng.range(HOUR, 7 * HOUR),
                    rng.range(5, 16) * MINUTE,
                    Some("Personal"),
                ));
            }
        }
        if rng.chance(0.1) {
            pending.push(brk(
                login + rng.range(HOUR, 4 * HOUR),
                rng.range(3 * MINUTE, 9 * MINUTE),
                None,
            ));
        }
        if rng.chance(0.2) {
            for _ in 0..rng.range(1, 3) {
                pending.push(Pending {
                    at: login + rng.range(30 * MINUTE, 4 * HOUR),
                    len: rng.range(60 * SECOND, 4 * MINUTE),
                    kind: PendingKind::Lookup,
                });
            }
        }
        if rng.chance(0.02) {
            pending.push(Pending {
                at: login + rng.range(HOUR, 4 * HOUR),
                len: rng.range(MINUTE, 4 * MINUTE),
                kind: PendingKind::Disconnect,
            });
        }
        let r = rng.f64();
        let (logout, logout_delay) = if r < 0.94 {
            (Logout::Agent, rng.range(0, 3 * MINUTE))
        } else if r < 0.98 {
            (Logout::Forced, rng.range(20 * MINUTE, 90 * MINUTE))
        } else {
            (Logout::Timeout, rng.range(MINUTE, 3 * MINUTE))
        };
        Shift {
            login,
            end,
            login_break: rng.range(20 * SECOND, 150 * SECOND),
            logout,
            logout_delay,
            pending,
        }
    }

    // ----- agents -------------------------------------------------------------------

    /// Lets agent `a` take the breaks and lookups due by `t`.
    pub fn advance(&mut self, a: usize, t: i64) -> Result<(), StoreError> {
        self.agents[a].advance(t, &mut self.lookups);
        self.write_lookups(a)
    }

    pub fn advance_group(&mut self, g: usize, t: i64) -> Result<(), StoreError> {
        for k in 0..self.groups[g].len() {
            let a = self.groups[g][k];
            self.advance(a, t)?;
        }
        Ok(())
    }

    /// The agent of group `g` who can take a task soonest at or after `t` (the
    /// longest idle one among equals), with that time.
    pub fn best(&self, g: usize, t: i64, exclude: &[usize]) -> Option<(usize, i64)> {
        let mut best: Option<(i64, i64, usize)> = None;
        for &a in &self.groups[g] {
            if exclude.contains(&a) {
                continue;
            }
            if let Some(e) = self.agents[a].available(t) {
                let key = (e, self.agents[a].last_end, a);
                if best.is_none_or(|b| key < b) {
                    best = Some(key);
                }
            }
        }
        best.map(|(e, _, a)| (a, e))
    }

    /// Contacts waiting in `queue` at `t`.
    pub fn queue_len(&mut self, queue: usize, t: i64) -> usize {
        let w = &mut self.waiting[queue];
        while w.peek().is_some_and(|Reverse(x)| *x <= t) {
            w.pop();
        }
        w.len()
    }

    pub fn queue_leave(&mut self, queue: usize, at: i64) {
        self.waiting[queue].push(Reverse(at));
    }

    fn write_lookups(&mut self, a: usize) -> Result<(), StoreError> {
        if self.lookups.is_empty() {
            return Ok(());
        }
        let lookups = std::mem::take(&mut self.lookups);
        for (start, end) in lookups {
            let task = Task {
                agent: a,
                queue: None,
                media: "lookup",
                start,
                lookup: Some(end - start),
                preview: 0,
                active: 0,
                wrap: 0,
                result: "Handled",
            };
            self.task(None, &task)?;
        }
        Ok(())
    }

    fn state_row(&mut self, a: usize, row: &StateRow) -> Result<(), StoreError> {
        self.n.state += 1;
        let t = &mut self.out.agent_states;
        t.text("id", id("as", self.n.state))
            .text("agentId", self.world.agents[a].id.clone())
            .opt_text("breakName", row.break_name)
            .opt_int("durationInSeconds", row.duration)
            .flag("isLogin", row.is_login)
            .flag("isLogout", row.is_logout)
            .opt_text("logoutReason", row.logout_reason)
            .time("startTime", row.start)
            .text("state", row.state);
        t.end_row(self.conn)
    }

    // ----- ids ----------------------------------------------------------------------

    pub fn call_id(&mut self) -> String {
        self.n.call += 1;
        format!("call-{:07}", self.n.call)
    }

    pub fn chat_id(&mut self) -> String {
        self.n.chat += 1;
        format!("chat-{:07}", self.n.chat)
    }

    pub fn mail_id(&mut self) -> String {
        self.n.mail += 1;
        format!("mail-{:07}", self.n.mail)
    }

    // ----- rows ---------------------------------------------------------------------

    /// One bot segment; returns when it ended.
    #[allow(clippy::too_many_arguments)]
    pub fn bot(
        &mut self,
        c: &mut Conv,
        step: usize,
        start: i64,
        len: i64,
        result: &'static str,
        info: Option<String>,
        output: Option<String>,
    ) -> Result<i64, StoreError> {
        let end = start + len.max(SECOND / 5);
        let bs = &BOT_STEPS[step];
        self.n.bot_segment += 1;
        c.bots += 1;
        let qna_config = match (bs.kind, step) {
            ("qna", super::world::BS_FAQ) => Some("qna-faq-2026"),
            ("qna", _) => Some("qna-troubleshooting-7"),
            _ => None,
        };
        let t = &mut self.out.bot_segments;
        t.text("id", id("bseg", self.n.bot_segment))
            .text("conversationId", c.id.clone())
            .text("botStepId", bs.id)
            .text("channelId", CHANNELS[c.channel].id)
            .opt_text("botFinishedInfo", info)
            .opt_text("botFinishedResult", output)
            .opt_text("botInfo", qna_config)
            .int("durationInSeconds", secs(end - start))
            .time("startedAt", start)
            .time("endedAt", end)
            .text("result", result);
        t.end_row(self.conn)?;
        self.step_messages(c, step, start, end, result)?;
        Ok(end)
    }

    pub fn captured(
        &mut self,
        c: &Conv,
        at: i64,
        name: &'static str,
        value: Option<String>,
    ) -> Result<(), StoreError> {
        self.n.captured += 1;
        let t = &mut self.out.captured;
        t.text("id", id("cap", self.n.captured))
            .text("conversationId", c.id.clone())
            .time("timestamp", at)
            .text("name", name)
            .opt_text("value", value);
        t.end_row(self.conn)
    }

    pub fn queue_segment(
        &mut self,
        c: &Conv,
        queue: usize,
        queued: i64,
        dequeued: Option<i64>,
        reason: Option<&'static str>,
    ) -> Result<(), StoreError> {
        self.n.queue_segment += 1;
        let t = &mut self.out.queue_segments;
        t.text("id", id("qseg", self.n.queue_segment))
            .text("conversationId", c.id.clone())
            .text("queueId", QUEUES[queue].id)
            .text("channelId", CHANNELS[c.channel].id)
            .time("queuedAt", queued)
            .opt_time("dequeuedAt", dequeued)
            .opt_int("durationInSeconds", dequeued.map(|d| secs(d - queued)))
            .opt_text("dequeuedReason", reason);
        t.end_row(self.conn)
    }

    pub fn rejected(
        &mut self,
        c: &Conv,
        queue: usize,
        at: i64,
        reason: &'static str,
    ) -> Result<(), StoreError> {
        self.n.rejected += 1;
        let t = &mut self.out.rejected;
        t.text("id", id("rej", self.n.rejected))
            .text("conversationId", c.id.clone())
            .text("queueId", QUEUES[queue].id)
            .text("channelId", CHANNELS[c.channel].id)
            .time("rejectedAt", at)
            .text("rejectReason", reason);
        t.end_row(self.conn)
    }

    pub fn session(
        &mut self,
        workitem: &str,
        conv: &str,
        reason: &'static str,
        holds: &[i64],
    ) -> Result<(), StoreError> {
        self.n.session += 1;
        let t = &mut self.out.sessions;
        t.text("id", id("wcs", self.n.session))
            .text("workitemId", workitem.to_string())
            .text("conversationId", conv.to_string())
            .text("endedReason", reason)
            .int("holdCount", holds.len() as i64)
            .opt_int("lastHoldDuration", holds.last().map(|&h| secs(h)))
            .int("totalHoldDuration", holds.iter().map(|&h| secs(h)).sum());
        t.end_row(self.conn)
    }

    /// Writes a workitem (plus its collected data and, now and then, an evaluation);
    /// returns its id. The caller books the agent's time.
    pub fn task(&mut self, c: Option<&Conv>, task: &Task) -> Result<String, StoreError> {
        self.n.workitem += 1;
        let wid = id("wi", self.n.workitem);
        let handled = task.result == "Handled";
        let bu = c.and_then(Conv::bu);
        let voice = task.media == "voice";
        let script = (handled && c.is_some() && task.media != "email" && self.rng.chance(0.35))
            .then(|| SCRIPTS[bu.unwrap_or(0)]);
        let completion = if handled && c.is_some() && !self.rng.chance(0.08) {
            let codes = COMPLETION_CODES[bu.unwrap_or(0)];
            Some(codes[self.rng.index(codes.len())])
        } else {
            None
        };
        let notes = (handled && c.is_some() && self.rng.chance(0.1))
            .then(|| NOTES[self.rng.index(NOTES.len())]);
        let agent = &self.world.agents[task.agent];
        let end = task.end();
        let parts = secs(task.lookup.unwrap_or(0))
            + secs(task.preview)
            + secs(task.active)
            + secs(task.wrap);
        let duration = secs(end - task.start);
        debug_assert!((duration - parts).abs() <= 3);
        let t = &mut self.out.workitems;
        t.text("id", wid.clone())
            .text("agentId", agent.id.clone())
            .opt_text("queueId", task.queue.map(|q| QUEUES[q].id))
            .opt_text("businessUnitId", bu.map(|b| BUSINESS_UNITS[b].id))
            .opt_text("primaryChannelId", c.map(|c| CHANNELS[c.channel].id))
            .opt_text("primaryConversationId", c.map(|c| c.id.clone()))
            .text("mediaType", task.media)
            .time("startTime", task.start)
            .time("endTime", end)
            .int("durationInSeconds", duration)
            .int("previewDuration", secs(task.preview))
            .int("activeDurationInSeconds", secs(task.active))
            .int("wrapUpDuration", secs(task.wrap))
            .opt_int("lookupDuration", task.lookup.map(secs))
            .text("result", task.result)
            .opt_text("completionCode", completion)
            .opt_text("notes", notes)
            .opt_text("agentPhoneNumber", voice.then(|| agent.phone.clone()))
            .opt_text("customerId", c.and_then(|c| c.cust).and_then(|x| x.id()))
            .opt_text("scriptId", script);
        t.end_row(self.conn)?;
        if script.is_some() {
            let active_from = task.start + task.lookup.unwrap_or(0) + task.preview;
            self.collected(&wid, active_from, task.active)?;
        }
        if handled && c.is_some() && self.rng.chance(0.03) {
            self.evaluation(&wid, task.media, bu, end)?;
        }
        Ok(wid)
    }

    fn collected(&mut self, wid: &str, from: i64, len: i64) -> Result<(), StoreError> {
        let n = self.rng.range(2, 5) as usize;
        for (k, &(name, values)) in COLLECTED.iter().take(n).enumerate() {
            let value = values[self.rng.index(values.len())];
            let at = from + len * (k as i64 + 1) / (n as i64 + 1);
            self.n.collected += 1;
            let t = &mut self.out.collected;
            t.text("id", id("col", self.n.collected))
                .text("workitemId", wid.to_string())
                .time("createdAt", at)
                .text("name", name)
                .opt_text("value", (!value.is_empty()).then_some(value));
            t.end_row(self.conn)?;
        }
        Ok(())
    }

    /// A quality evaluation by the business unit's supervisor, a few working days
    /// after the task; still open when it would end after the history.
    fn evaluation(
        &mut self,
        wid: &str,
        media: &'static str,
        bu: Option<usize>,
        task_end: i64,
    ) -> Result<(), StoreError> {
        let later = task_end + self.rng.range(1, 6) * DAY;
        let Some(open) = self.cal.next_open(later) else {
            return Ok(());
        };
        let start = open + self.rng.range(30 * MINUTE, 4 * HOUR);
        if start >= self.cal.end {
            return Ok(());
        }
        let finish = start + self.rng.range(4 * MINUTE, 16 * MINUTE);
        let ended = (finish <= self.cal.end).then_some(finish);
        let script = match media {
            "voice" => "qa-form-voice-2026",
            "email" => "qa-form-email-2026",
            _ => "qa-form-chat-2026",
        };
        let by = self.world.supervisor(bu).id.clone();
        self.n.evaluation += 1;
        let eid = id("eval", self.n.evaluation);
        let t = &mut self.out.evaluations;
        t.text("id", eid.clone())
            .text("workitemId", wid.to_string())
            .text("scriptId", script)
            .text("createdBy", by.clone())
            .time("startedAt", start)
            .opt_time("endedAt", ended);
        t.end_row(self.conn)?;
        let items = EVALUATION_ITEMS.len() as i64;
        let mut score = 0;
        for (k, (name, values)) in EVALUATION_ITEMS.iter().enumerate() {
            let at = start + (finish - start) * (k as i64 + 1) / (items + 1);
            if at >= self.cal.end {
                break;
            }
            let value: Option<String> = match *name {
                "Total score" => Some((score * 100 / (items - 2).max(1)).clamp(0, 100).to_string()),
                "Comment" => (self.rng.chance(0.4))
                    .then(|| COMMENTS[self.rng.index(COMMENTS.len())].to_string()),
                _ => {
                    let v = values[self
                        .rng
                        .weighted(&[0.75, 0.18, 0.07][..values.len().min(3)])];
                    if v == values[0] {
                        score += 1;
                    }
                    Some(v.to_string())
                }
            };
            self.n.evaluation_data += 1;
            let t = &mut self.out.evaluation_data;
            t.text("id", id("evd", self.n.evaluation_data))
                .text("evaluationId", eid.clone())
                .text("workitemId", wid.to_string())
                .text("scriptId", script)
                .text("createdBy", by.clone())
                .time("createdAt", at)
                .text("name", *name)
                .opt_text("value", value);
            t.end_row(self.conn)?;
        }
        Ok(())
    }

    /// Writes the conversation to its media table (and so to Conversations).
    pub fn conversation(&mut self, c: &Conv) -> Result<(), StoreError> {
        let table = match CHANNELS[c.channel].media.group() {
            Mg::Voice => &mut self.out.calls,
            Mg::Chat => &mut self.out.chats,
            Mg::Email => &mut self.out.emails,
        };
        emit_conversation(table, c, self.cal);
        table.end_row(self.conn)?;
        self.conversation_end(c)?;
        self.bar.inc(1);
        Ok(())
    }
}

fn capacity(mg: Mg) -> usize {
    match mg {
        Mg::Chat => 2,
        Mg::Voice | Mg::Email => 1,
    }
}

/// The columns of one conversation in its media table.
fn emit_conversation(t: &mut super::table::Table<'_>, c: &Conv, cal: &Calendar) {
    let ch = &CHANNELS[c.channel];
    let duration = c.end.map(|e| secs(e - c.start));
    let open = c.end.map(|e| secs(cal.open_ms(c.start, e)));
    let closed = duration.zip(open).map(|(d, o)| (d - o).max(0));
    t.text("id", c.id.clone())
        .opt_text("businessUnitId", ch.bu.map(|b| BUSINESS_UNITS[b].id))
        .text("channelId", ch.id)
        .text("channelType", ch.media.channel_type())
        .opt_text("conversationEndedReason", c.reason)
        .opt_text("customerFirstName", c.cust.and_then(|x| x.first()))
        .opt_text("customerId", c.cust.and_then(|x| x.id()))
        .opt_text("customerLastName", c.cust.and_then(|x| x.last()))
        .opt_int("durationInSeconds", duration)
        .time("startedAt", c.start)
        .opt_time("endedAt", c.end)
        .opt_text("nextConversationId", c.next.clone());
    match ch.media.group() {
        Mg::Voice => {
            t.opt_text("channelPhoneNumber", c.channel_phone)
                .opt_text("customerPhoneNumber", c.customer_phone.clone())
                .opt_time("customerJoinedAt", c.joined)
                .opt_int("customerRingDuration", c.ring_s)
                .int("holdCount", c.hold_count)
                .int("holdDurationInSeconds", secs(c.hold_ms))
                .opt_int("isChannelClosed", closed)
                .opt_int("isChannelOpen", open)
                .flag("isConsult", c.consult)
                .flag("isOutbound", c.outbound)
                .opt_text("openingCheckResult", c.opening)
                .opt_text("transferInitiatedBy", c.transfer_by)
                .opt_text("transferToExternalDestinationPhoneNumber", c.transfer_ext);
        }
        Mg::Chat => {
            t.opt_int("isChannelClosed", closed)
                .opt_int("isChannelOpen", open)
                .opt_text("openingCheckResult", c.opening)
                .opt_double("averageAgentAnswerSpeedInSeconds", c.avg_agent)
                .opt_double("averageBotAnswerSpeedInSeconds", c.avg_bot)
                .opt_double("averageCustomerAnswerSpeedInSeconds", c.avg_customer)
                .opt_int("firstCustomerAnswerSpeedInSeconds", c.first_answer_s);
        }
        Mg::Email => {
            t.opt_text("customerEmailAddress", c.email.clone())
                .opt_int("inChannelClosedDurationInSeconds", closed)
                .opt_int("inChannelOpenDurationInSeconds", open)
                .flag("isOutbound", c.outbound)
                .opt_int("firstReplyTimeInSeconds", c.first_reply_s)
                .opt_text("subject", c.subject)
                .opt_text("threadId", c.thread.clone());
        }
    }
}

const SCRIPTS: [&str; 4] = [
    "script-residential-v3",
    "script-business-v1",
    "script-support-v5",
    "script-collections-v2",
];

const COMPLETION_CODES: [&[&str]; 4] = [
    &[
        "Resolved",
        "Information provided",
        "Follow-up needed",
        "Complaint logged",
        "Contract changed",
    ],
    &["Resolved", "Quote sent", "Escalated to account manager"],
    &[
        "Resolved",
        "Technician booked",
        "Escalated to 2nd line",
        "Known outage",
    ],
    &[
        "Payment promised",
        "Instalment plan agreed",
        "Dispute",
        "Resolved",
    ],
];

const NOTES: [&str; 6] = [
    "Customer asked for a paper invoice.",
    "Called about the same issue last week.",
    "Promised a follow-up e-mail with the details.",
    "Customer unhappy with the estimated bill.",
    "Identity verified with date of birth.",
    "Sent the link to the self-service portal.",
];

const COLLECTED: [(&str, &[&str]); 4] = [
    (
        "Contact reason",
        &[
            "Billing",
            "Meter reading",
            "Moving house",
            "New contract",
            "Fault report",
            "Payment",
        ],
    ),
    (
        "Product",
        &["Electricity", "Gas", "Dual fuel", "Solar", "Broadband", ""],
    ),
    ("Customer mood", &["Positive", "Neutral", "Negative"]),
    ("Follow-up required", &["Yes", "No", ""]),
];

const EVALUATION_ITEMS: [(&str, &[&str]); 7] = [
    ("Greeting", &["Yes", "Partly", "No"]),
    ("Identification", &["Yes", "Partly", "No"]),
    ("Empathy", &["Good", "Adequate", "Poor"]),
    (
        "Resolution",
        &["Resolved", "Partly resolved", "Not resolved"],
    ),
    ("Compliance", &["Yes", "No"]),
    ("Comment", &[]),
    ("Total score", &[]),
];

const COMMENTS: [&str; 5] = [
    "Good call control.",
    "Forgot to offer the e-bill.",
    "Long hold without explanation.",
    "Excellent explanation of the tariff.",
    "Did not confirm the customer's phone number.",
];
