//! What happens to each contact: the workflow's bots, the queues, the agent, and
//! how the conversation ends, for calls, chats, e-mails and contacts agents start.

use crate::store::StoreError;

use super::calendar::{DAY, HOUR, MINUTE, SECOND};
use super::messages::{Held, Sender};
use super::out::secs;
use super::rng::mix;
use super::sim::{Conv, EvKind, MailWait, Sim, Task};
use super::traffic::{Extra, Inbound, OutKind, Outbound};
use super::world::{
    BS_ACCOUNT_NUMBER, BS_AUTO_ACK, BS_BUSINESS_WELCOME, BS_CHAT_CLOSED, BS_CHAT_GREETING,
    BS_CHAT_IDENTIFY, BS_CLOSED, BS_COLLECTIONS_NOTICE, BS_CONTRACT_NUMBER, BS_FAQ, BS_IDENTIFY,
    BS_MAIL_INTENT, BS_MATCH_ANI, BS_MENU, BS_MENU_OLD, BS_ORDER_BOT, BS_OUTAGE, BS_ROUTER_MODEL,
    BS_SENDER_LOOKUP, BS_SUPPORT_MENU, BS_SUPPORT_WELCOME as SUPPORT_WELCOME, BS_SWITCHBOARD_MENU,
    BS_TOPIC, BS_TROUBLESHOOT, BS_WELCOME, CH_BUSINESS, CH_BUSINESS_CHAT, CH_BUSINESS_MAIL,
    CH_COLLECTIONS, CH_RESIDENTIAL, CH_SUPPORT, CH_SUPPORT_CHAT, CH_SUPPORT_MAIL, CH_SWITCHBOARD,
    CH_VIBER, CH_WEBCHAT, CHANNELS, Cust, Media, Mg, Q_BILLING, Q_GENERAL, Q_INTERNET_TV,
    Q_LEGACY_DSL, Q_MOBILE, QUEUES, group_of, queue_group,
};

/// How a medium behaves in queue.
struct Params {
    /// Median and spread of how long a customer waits before giving up.
    patience_s: f64,
    patience_sigma: f64,
    /// The queue node's timeout, and the overflow queue's.
    timeout: i64,
    overflow_timeout: i64,
    /// Estimated-wait limit above which the queue refuses new contacts.
    ewt: i64,
    /// Queue size limit.
    size: usize,
    /// Seconds an agent takes to accept an offer.
    preview: (f64, f64),
    /// Chance that an offer is missed (RONA) or rejected.
    miss: f64,
    reject: f64,
    missed_after: i64,
    /// RONA break after a missed offer.
    rona: (i64, i64),
}

const VOICE: Params = Params {
    patience_s: 150.0,
    patience_sigma: 0.9,
    timeout: 10 * MINUTE,
    overflow_timeout: 20 * MINUTE,
    ewt: 20 * MINUTE,
    size: 30,
    preview: (2.0, 12.0),
    miss: 0.03,
    reject: 0.01,
    missed_after: 15 * SECOND,
    rona: (30 * SECOND, 2 * MINUTE),
};

const CHAT: Params = Params {
    patience_s: 420.0,
    patience_sigma: 0.8,
    timeout: 30 * MINUTE,
    overflow_timeout: 30 * MINUTE,
    ewt: 45 * MINUTE,
    size: 40,
    preview: (0.3, 1.8),
    miss: 0.0,
    reject: 0.015,
    missed_after: 10 * SECOND,
    rona: (0, 0),
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leave {
    Patience,
    Callback,
    Timeout,
}

enum Routed {
    Connected {
        agent: usize,
        offer: i64,
        connect: i64,
        queue: usize,
    },
    Left {
        at: i64,
        why: Leave,
        queue: usize,
    },
    Rejected {
        at: i64,
    },
}

/// (subject, keyword the intent bot matches, keyword group); per mailbox, then the
/// subjects of mails agents write.
const SUBJECTS: [(&str, &str, &str); 18] = [
    ("Question about my invoice", "invoice", "Billing"),
    ("Meter reading", "meter", "Meter reading"),
    ("Moving house", "moving", "Moving"),
    ("Change of tariff", "tariff", "Contracts"),
    ("Direct debit mandate", "debit", "Billing"),
    ("Complaint", "complaint", "Complaints"),
    ("Copy of invoice", "invoice", "Billing"),
    ("New connection request", "connection", "Connections"),
    ("Contract extension", "contract", "Contracts"),
    ("Change of VAT number", "vat", "Master data"),
    ("Smart meter not sending data", "smart meter", "Smart meter"),
    ("Cannot log in to the app", "login", "App"),
    ("Power outage", "outage", "Outages"),
    ("Broadband router replacement", "router", "Broadband"),
    ("Your request", "", ""),
    ("Follow-up on your call", "", ""),
    ("Documents for your contract", "", ""),
    ("Payment reminder", "", ""),
];
const OUTBOUND_SUBJECTS: std::ops::Range<usize> = 14..18;

const EXTERNAL_NUMBERS: [&str; 2] = ["+3614567890", "+3617654321"];
const COLLECTION_AGENCY: &str = "+3619876543";
const ROUTERS: [&str; 5] = [
    "TP-Link Archer C6",
    "Fritz!Box 7530",
    "Huawei HG8245",
    "Zyxel VMG3625",
    "Sagemcom 5366",
];
const SEGMENTS: [&str; 3] = ["Standard", "Premium", "Vulnerable"];

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn thread_id(cust: Cust, subject: usize, at: i64) -> String {
    // One thread per customer and subject within a fortnight.
    format!(
        "thr-{:012x}",
        mix(cust.key ^ subject as u64, (at / (14 * DAY)) as u64) >> 16
    )
}

impl Sim<'_, '_> {
    fn finish(&mut self, mut c: Conv, end: i64, reason: &'static str) -> Result<(), StoreError> {
        c.end = Some(end);
        c.reason = Some(reason);
        self.conversation(&c)
    }

    /// Ends `c` at `at` with `reason` and continues the contact in a new conversation
    /// on channel `target` (a transfer or redirect).
    fn continue_in(
        &mut self,
        mut c: Conv,
        target: usize,
        at: i64,
        reason: &'static str,
        cust: Cust,
        thread: Option<(String, usize)>,
    ) -> Result<(), StoreError> {
        let next = match CHANNELS[target].media.group() {
            Mg::Voice => self.call_id(),
            Mg::Chat => self.chat_id(),
            Mg::Email => self.mail_id(),
        };
        let mut p = Inbound::new(target, at + self.rng.secs(0.5, 2.0), cust);
        p.id = Some(next.clone());
        p.transferred = true;
        p.thread = thread;
        self.push(p.arrival, EvKind::In(p));
        c.next = Some(next);
        self.finish(c, at, reason)
    }

    fn say(
        &mut self,
        c: &mut Conv,
        step: usize,
        t: i64,
        lo: f64,
        hi: f64,
    ) -> Result<i64, StoreError> {
        let len = self.rng.secs(lo, hi);
        self.bot(c, step, t, len, "Success", None, None)
    }

    /// The caller hangs up while a bot talks.
    /// How a bot step that looks the customer up ends: found by their address, created,
    /// or refused as invalid; the bot's info and output values.
    fn identify_outcome(&mut self, known: bool) -> (&'static str, &'static str) {
        if known {
            ("byEmail", "success")
        } else if self.rng.chance(0.5) {
            ("created", "success")
        } else {
            ("invalid", "invalid")
        }
    }

    fn quit(&mut self, mut c: Conv, step: usize, t: i64) -> Result<(), StoreError> {
        let len = self.rng.secs(2.0, 15.0);
        let end = self.bot(&mut c, step, t, len, "CustomerDisconnect", None, None)?;
        self.finish(c, end, "CustomerDisconnected")
    }

    fn internal_error(&mut self, mut c: Conv, step: usize, t: i64) -> Result<(), StoreError> {
        let len = self.rng.secs(1.0, 6.0);
        let end = self.bot(&mut c, step, t, len, "Failed", None, None)?;
        self.finish(c, end, "InternalError")
    }

    // ----- queues -------------------------------------------------------------------

    /// Queues the contact, with the overflow queue after a timeout or refusal.
    fn route(
        &mut self,
        c: &Conv,
        first: usize,
        q: i64,
        extra: Extra,
        p: &Params,
    ) -> Result<Routed, StoreError> {
        // Contacts planned to continue elsewhere wait as long as it takes.
        let patience_end = if extra == Extra::None {
            q + self
                .rng
                .duration(p.patience_s, p.patience_sigma, 5.0, 3600.0)
        } else {
            i64::MAX
        };
        let callback_at = (extra == Extra::Callback).then(|| q + self.rng.secs(5.0, 25.0));
        let overflow = CHANNELS[c.channel].overflow;
        let (mut queue, mut t, mut overflowed) = (first, q, false);
        loop {
            let timeout_end = t + if overflowed {
                p.overflow_timeout
            } else {
                p.timeout
            };
            let routed = self.queue_once(c, queue, t, patience_end, callback_at, timeout_end, p)?;
            match (routed, overflow.filter(|&o| !overflowed && o != queue)) {
                (
                    Routed::Left {
                        at,
                        why: Leave::Timeout,
                        ..
                    }
                    | Routed::Rejected { at },
                    Some(o),
                ) => {
                    queue = o;
                    t = at + self.rng.secs(0.5, 3.0);
                    overflowed = true;
                }
                (routed, _) => return Ok(routed),
            }
        }
    }

    /// One queue node: refused, or waiting until an agent accepts, the customer gives
    /// up or asks for a callback, or the node times out.
    #[allow(clippy::too_many_arguments)]
    fn queue_once(
        &mut self,
        c: &Conv,
        queue: usize,
        q: i64,
        patience_end: i64,
        callback_at: Option<i64>,
        timeout_end: i64,
        p: &Params,
    ) -> Result<Routed, StoreError> {
        let Some(g) = queue_group(queue) else {
            self.rejected(c, queue, q, "NoStaffedAgentLoggedIn")?;
            return Ok(Routed::Rejected { at: q });
        };
        self.advance_group(g, q)?;
        let logged: Vec<usize> = self.groups[g]
            .iter()
            .copied()
            .filter(|&a| self.agents[a].logged_in(q))
            .collect();
        let refusal = if logged.is_empty() {
            Some(if self.agents.iter().any(|a| a.logged_in(q)) {
                "NoStaffedAgentLoggedIn"
            } else {
                "NoAgentLoggedIn"
            })
        } else if self.queue_len(queue, q) >= p.size {
            Some("QueueSizeLimitReached")
        } else {
            match self.best(g, q, &[]) {
                // Everyone is away for a while (lunch, training): the queue refuses.
                Some((_, e))
                    if e - q > 10 * MINUTE
                        && logged.iter().all(|&a| self.agents[a].on_break(q)) =>
                {
                    Some("NoAvailableStaffedAgent")
                }
                Some((_, e)) if e - q <= p.ewt => None,
                _ => Some("EstimatedWaitTimeLimitReached"),
            }
        };
        if let Some(reason) = refusal {
            self.rejected(c, queue, q, reason)?;
            return Ok(Routed::Rejected { at: q });
        }
        let callback = callback_at.unwrap_or(i64::MAX);
        let first_deadline = patience_end.min(timeout_end).min(callback);
        let why = if first_deadline == callback {
            Leave::Callback
        } else if first_deadline == patience_end {
            Leave::Patience
        } else {
            Leave::Timeout
        };
        let deadline = first_deadline.max(q + SECOND);
        let media = CHANNELS[c.channel].media.task_media();
        let mut tried: Vec<usize> = Vec::new();
        let mut t = q;
        let connected = loop {
            let Some((a, e)) = self.best(g, t, &tried) else {
                break None;
            };
            if e >= deadline {
                break None;
            }
            let missed = tried.len() < 2 && self.rng.chance(p.miss);
            let refused = !missed && tried.len() < 2 && self.rng.chance(p.reject);
            let (len, result) = if missed {
                (p.missed_after, "Missed")
            } else if refused {
                (self.rng.secs(2.0, 8.0), "Rejected")
            } else {
                (self.rng.secs(p.preview.0, p.preview.1), "Handled")
            };
            if e + len > deadline {
                // The customer left (or the node timed out) during the offer.
                let result = if why == Leave::Timeout {
                    "Missed"
                } else {
                    "Abandoned"
                };
                let task = Task {
                    agent: a,
                    queue: Some(queue),
                    media,
                    start: e,
                    lookup: None,
                    preview: deadline - e,
                    active: 0,
                    wrap: 0,
                    result,
                };
                self.agents[a].commit(e, deadline);
                self.task(Some(c), &task)?;
                break None;
            }
            if result == "Handled" {
                break Some((a, e, e + len));
            }
            let task = Task {
                agent: a,
                queue: Some(queue),
                media,
                start: e,
                lookup: None,
                preview: len,
                active: 0,
                wrap: 0,
                result,
            };
            self.agents[a].commit(e, e + len);
            let wid = self.task(Some(c), &task)?;
            if missed {
                self.session(&wid, &c.id, "AgentFailedToJoin", &[])?;
                if p.rona.1 > 0 {
                    let rona = self.rng.range(p.rona.0, p.rona.1);
                    self.agents[a].rona(e + len, rona);
                }
            }
            tried.push(a);
            t = e + len;
            self.advance_group(g, t)?;
        };
        match connected {
            Some((agent, offer, connect)) => {
                self.queue_segment(c, queue, q, Some(connect), Some("AgentConnected"))?;
                self.queue_leave(queue, connect);
                Ok(Routed::Connected {
                    agent,
                    offer,
                    connect,
                    queue,
                })
            }
            None => {
                let reason = match why {
                    Leave::Patience => "CustomerDisconnected",
                    Leave::Callback => "CallbackRequested",
                    Leave::Timeout => "QueueTimedOut",
                };
                self.queue_segment(c, queue, q, Some(deadline), Some(reason))?;
                self.queue_leave(queue, deadline);
                Ok(Routed::Left {
                    at: deadline,
                    why,
                    queue,
                })
            }
        }
    }

    // ----- calls --------------------------------------------------------------------

    pub fn voice_in(&mut self, p: Inbound) -> Result<(), StoreError> {
        let ch = &CHANNELS[p.channel];
        let id = match p.id.clone() {
            Some(id) => id,
            None => self.call_id(),
        };
        let mut c = Conv::new(id, p.channel, p.arrival, Some(p.cust));
        let second = ch.phones.len() > 1 && self.rng.chance(0.3);
        c.channel_phone = ch.phones.get(usize::from(second)).copied();
        c.customer_phone = (!self.rng.chance(0.02)).then(|| p.cust.phone());
        c.joined = Some(p.arrival);
        let day = self.cal.day_of(p.arrival).unwrap_or(0);
        let changes = &self.world.changes;
        let (menu_day, dsl_day, outage) = (changes.menu, changes.legacy_dsl, changes.outage);
        let mut t = p.arrival;
        if !p.transferred {
            t = match p.channel {
                CH_RESIDENTIAL => {
                    let t = self.say(&mut c, BS_WELCOME, t, 4.0, 9.0)?;
                    let rule = if p.cust.known.is_some() {
                        "existing-customer"
                    } else {
                        "unknown-number"
                    };
                    let len = self.rng.secs(0.2, 1.2);
                    self.bot(
                        &mut c,
                        BS_MATCH_ANI,
                        t,
                        len,
                        "Success",
                        Some(rule.into()),
                        Some(rule.into()),
                    )?
                }
                CH_BUSINESS => self.say(&mut c, BS_BUSINESS_WELCOME, t, 5.0, 10.0)?,
                CH_SUPPORT => {
                    let t = self.say(&mut c, SUPPORT_WELCOME, t, 4.0, 8.0)?;
                    if day == outage {
                        self.say(&mut c, BS_OUTAGE, t, 15.0, 25.0)?
                    } else {
                        t
                    }
                }
                CH_COLLECTIONS => self.say(&mut c, BS_COLLECTIONS_NOTICE, t, 10.0, 16.0)?,
                _ => t,
            };
        }
        if ch.opening_check {
            let check = self.cal.opening_check(t);
            c.opening = Some(check);
            if check != "Open" {
                let quit = self.rng.chance(0.3);
                let len = if quit {
                    self.rng.secs(2.0, 10.0)
                } else {
                    self.rng.secs(12.0, 20.0)
                };
                let result = if quit {
                    "CustomerDisconnect"
                } else {
                    "Success"
                };
                let end = self.bot(&mut c, BS_CLOSED, t, len, result, None, None)?;
                let gap = self.rng.secs(0.2, 1.5);
                return self.finish(
                    c,
                    end + gap,
                    if quit {
                        "CustomerDisconnected"
                    } else {
                        "Default"
                    },
                );
            }
        }
        let mut queue = ch.queues.first().copied();
        if !p.transferred {
            match p.channel {
                CH_RESIDENTIAL => {
                    let step = if day < menu_day { BS_MENU_OLD } else { BS_MENU };
                    if p.quit_bot {
                        return self.quit(c, step, t);
                    }
                    if p.extra == Extra::None && self.rng.chance(0.002) {
                        return self.internal_error(c, step, t);
                    }
                    let k = self.rng.weighted(&[0.45, 0.40, 0.10, 0.05]);
                    let (digit, target) = [
                        ("1", Q_BILLING),
                        ("2", Q_GENERAL),
                        ("3", Q_GENERAL),
                        ("", Q_GENERAL),
                    ][k];
                    let (info, output, len) = if digit.is_empty() {
                        (
                            None,
                            "retry exhausted".to_string(),
                            self.rng.secs(25.0, 40.0),
                        )
                    } else {
                        (
                            Some(digit.to_string()),
                            digit.to_string(),
                            self.rng.secs(5.0, 25.0),
                        )
                    };
                    t = self.bot(&mut c, step, t, len, "Success", info, Some(output))?;
                    self.captured(
                        &c,
                        t,
                        "IvrPath",
                        (!digit.is_empty()).then(|| format!("main>{digit}")),
                    )?;
                    if self.rng.chance(0.05) {
                        self.captured(&c, t, "PreferredLanguage", Some("en".into()))?;
                    }
                    if self.rng.chance(0.5) {
                        let (info, output) = if p.cust.known.is_some() {
                            ("byPhone", "success")
                        } else {
                            ("invalid", "invalid")
                        };
                        let len = self.rng.secs(3.0, 8.0);
                        t = self.bot(
                            &mut c,
                            BS_IDENTIFY,
                            t,
                            len,
                            "Success",
                            Some(info.into()),
                            Some(output.into()),
                        )?;
                        if p.cust.known.is_some() {
                            let segment = SEGMENTS[(p.cust.key % 10).min(2) as usize];
                            self.captured(&c, t, "CustomerSegment", Some(segment.into()))?;
                        }
                    }
                    queue = Some(target);
                }
                CH_BUSINESS => {
                    if p.quit_bot {
                        return self.quit(c, BS_ACCOUNT_NUMBER, t);
                    }
                    if self.rng.chance(0.7) {
                        let ok = self.rng.chance(0.88);
                        let digits = format!("{:08}", p.cust.key % 100_000_000);
                        let len = self.rng.secs(8.0, 25.0);
                        let output = if ok { "success" } else { "retry exhausted" };
                        t = self.bot(
                            &mut c,
                            BS_ACCOUNT_NUMBER,
                            t,
                            len,
                            "Success",
                            ok.then(|| digits.clone()),
                            Some(output.into()),
                        )?;
                        if ok {
                            self.captured(&c, t, "AccountNumber", Some(digits))?;
                        }
                    }
                }
                CH_SUPPORT => {
                    if p.quit_bot {
                        return self.quit(c, BS_SUPPORT_MENU, t);
                    }
                    if p.extra == Extra::None && self.rng.chance(0.002) {
                        return self.internal_error(c, BS_SUPPORT_MENU, t);
                    }
                    let k = self.rng.weighted(&[0.6, 0.3, 0.1]);
                    let digit = ["1", "2", "3"][k];
                    let target = match k {
                        0 => Q_INTERNET_TV,
                        1 => Q_MOBILE,
                        _ if day < dsl_day => Q_LEGACY_DSL,
                        _ => Q_INTERNET_TV,
                    };
                    let len = self.rng.secs(5.0, 20.0);
                    t = self.bot(
                        &mut c,
                        BS_SUPPORT_MENU,
                        t,
                        len,
                        "Success",
                        Some(digit.into()),
                        Some(digit.into()),
                    )?;
                    self.captured(&c, t, "IvrPath", Some(format!("support>{digit}")))?;
                    queue = Some(target);
                }
                CH_COLLECTIONS => {
                    if p.quit_bot {
                        return self.quit(c, BS_CONTRACT_NUMBER, t);
                    }
                    let ok = self.rng.chance(0.8);
                    let digits = format!("{:08}", (p.cust.key >> 7) % 100_000_000);
                    let len = self.rng.secs(8.0, 30.0);
                    let output = if ok { "success" } else { "retry exhausted" };
                    t = self.bot(
                        &mut c,
                        BS_CONTRACT_NUMBER,
                        t,
                        len,
                        "Success",
                        ok.then(|| digits.clone()),
                        Some(output.into()),
                    )?;
                    if ok {
                        self.captured(&c, t, "ContractNumber", Some(format!("DE-{digits}")))?;
                    }
                }
                CH_SWITCHBOARD => {
                    if p.quit_bot {
                        return self.quit(c, BS_SWITCHBOARD_MENU, t);
                    }
                    let k = self.rng.weighted(&[0.55, 0.2, 0.2, 0.05]);
                    let (digit, target) = [
                        ("1", CH_RESIDENTIAL),
                        ("2", CH_BUSINESS),
                        ("3", CH_SUPPORT),
                        ("4", CH_COLLECTIONS),
                    ][k];
                    let len = self.rng.secs(4.0, 15.0);
                    t = self.bot(
                        &mut c,
                        BS_SWITCHBOARD_MENU,
                        t,
                        len,
                        "Success",
                        Some(digit.into()),
                        Some(digit.into()),
                    )?;
                    let at = t + self.rng.secs(0.5, 2.0);
                    if p.extra == Extra::Redirect {
                        c.transfer_by = Some("workflow");
                        return self.continue_in(c, target, at, "TransferToChannel", p.cust, None);
                    }
                    return self.finish(c, at, "Default");
                }
                _ => {}
            }
        }
        let Some(queue) = queue else {
            let end = t + self.rng.secs(1.0, 5.0);
            return self.finish(c, end, "Default");
        };
        let q = t + self.rng.secs(0.2, 1.0);
        match self.route(&c, queue, q, p.extra, &VOICE)? {
            Routed::Connected {
                agent,
                offer,
                connect,
                queue,
            } => self.voice_talk(c, agent, offer, connect, queue, p),
            Routed::Left {
                at,
                why: Leave::Callback,
                queue,
            } => {
                let end = at + self.rng.secs(4.0, 10.0);
                let record = self
                    .book
                    .callback(p.cust, at, &mut self.rng, QUEUES[queue].name);
                let when = at + self.rng.range(10 * MINUTE, 90 * MINUTE);
                let when = if self.cal.is_open(when) {
                    Some(when)
                } else {
                    self.cal.next_open(when)
                };
                if let Some(when) = when.filter(|&w| w < self.cal.end - 2 * HOUR) {
                    let o = Outbound {
                        kind: OutKind::Callback(record),
                        channel: c.channel,
                        cust: p.cust,
                        tries: 0,
                    };
                    self.push(when, EvKind::Out(o));
                }
                self.finish(c, end, "CallbackRequested")
            }
            Routed::Left {
                at,
                why: Leave::Patience,
                ..
            } => self.finish(c, at, "Abandoned"),
            Routed::Left { at, .. } | Routed::Rejected { at } => {
                if p.extra != Extra::None {
                    // The workflow sends the caller on to another line.
                    c.transfer_by = Some("workflow");
                    let at = at + self.rng.secs(3.0, 8.0);
                    return self.continue_in(
                        c,
                        ch.transfer_to,
                        at,
                        "TransferToChannel",
                        p.cust,
                        None,
                    );
                }
                if p.channel == CH_COLLECTIONS {
                    // Out of hours the collections workflow forwards to the agency.
                    c.transfer_by = Some("workflow");
                    c.transfer_ext = Some(COLLECTION_AGENCY);
                    let ok = self.rng.chance(0.85);
                    let end = at
                        + if ok {
                            self.rng.secs(6.0, 25.0)
                        } else {
                            30 * SECOND + self.rng.secs(2.0, 6.0)
                        };
                    return self.finish(
                        c,
                        end,
                        if ok {
                            "TransferToExternal"
                        } else {
                            "TransferToExternalFailed"
                        },
                    );
                }
                let quit = self.rng.chance(0.4);
                let end = at + self.rng.secs(8.0, 15.0);
                self.finish(
                    c,
                    end,
                    if quit {
                        "CustomerDisconnected"
                    } else {
                        "Default"
                    },
                )
            }
        }
    }

    fn voice_talk(
        &mut self,
        mut c: Conv,
        agent: usize,
        offer: i64,
        connect: i64,
        queue: usize,
        p: Inbound,
    ) -> Result<(), StoreError> {
        let mut talk = self.rng.duration(200.0, 0.75, 15.0, 3600.0);
        let n = self.rng.weighted(&[0.72, 0.19, 0.07, 0.02]);
        let mut holds: Vec<i64> = (0..n)
            .map(|_| self.rng.duration(40.0, 0.7, 5.0, 400.0))
            .collect();
        talk = talk.max(holds.iter().sum::<i64>() + 20 * SECOND);
        let mut consult = None;
        if p.extra == Extra::Consult {
            let at = connect + (talk as f64 * (0.25 + 0.35 * self.rng.f64())) as i64;
            let ring = self.rng.secs(3.0, 12.0);
            let len = self.rng.duration(90.0, 0.6, 20.0, 600.0);
            let mut k = Conv::new(self.call_id(), c.channel, at, None);
            k.consult = true;
            k.channel_phone = c.channel_phone;
            k.joined = Some(at + ring);
            k.ring_s = Some(secs(ring));
            k.end = Some(at + ring + len);
            k.reason = Some("Default");
            holds.push(ring + len + 3 * SECOND);
            talk += ring + len + 3 * SECOND;
            consult = Some(k);
        }
        let mut agent_end = connect + talk;
        let r = self.rng.f64();
        let transfer = matches!(p.extra, Extra::Transfer | Extra::Callback);
        let (reason, end) = if transfer {
            c.transfer_by = Some("agent");
            agent_end += self.rng.secs(3.0, 10.0);
            ("TransferToChannel", agent_end)
        } else if r < 0.018 {
            c.transfer_by = Some("agent");
            c.transfer_ext = Some(EXTERNAL_NUMBERS[self.rng.index(EXTERNAL_NUMBERS.len())]);
            if r < 0.015 {
                agent_end += self.rng.secs(5.0, 20.0);
                ("TransferToExternal", agent_end)
            } else {
                agent_end += 30 * SECOND;
                ("TransferToExternalFailed", agent_end)
            }
        } else if r < 0.023 {
            c.transfer_by = Some("agent");
            agent_end += self.rng.secs(10.0, 25.0);
            ("TransferToAgentFailed", agent_end)
        } else if r < 0.40 {
            ("CustomerDisconnected", agent_end)
        } else {
            let gap = self.rng.secs(0.2, 1.5);
            ("Default", agent_end + gap)
        };
        c.hold_count = holds.len() as i64;
        c.hold_ms = holds.iter().sum();
        let wrap = self.rng.secs(10.0, 90.0);
        let task = Task {
            agent,
            queue: Some(queue),
            media: "voice",
            start: offer,
            lookup: None,
            preview: connect - offer,
            active: agent_end - connect,
            wrap,
            result: "Handled",
        };
        self.agents[agent].commit(offer, task.end());
        let wid = self.task(Some(&c), &task)?;
        let ended = if c.transfer_by.is_some() {
            "Transferred"
        } else if reason == "CustomerDisconnected" {
            "ConversationEnded"
        } else {
            "Default"
        };
        self.session(&wid, &c.id, ended, &holds)?;
        if let Some(k) = consult {
            self.session(&wid, &k.id, "ConversationEnded", &[])?;
            self.conversation(&k)?;
        }
        if transfer {
            let target = CHANNELS[c.channel].transfer_to;
            return self.continue_in(c, target, end, reason, p.cust, None);
        }
        self.finish(c, end, reason)
    }

    // ----- chats --------------------------------------------------------------------

    pub fn chat_in(&mut self, p: Inbound) -> Result<(), StoreError> {
        let ch = &CHANNELS[p.channel];
        let web = ch.media == Media::Webchat;
        let id = match p.id.clone() {
            Some(id) => id,
            None => self.chat_id(),
        };
        let mut c = Conv::new(id, p.channel, p.arrival, Some(p.cust));
        c.transferred = p.transferred;
        let mut t = p.arrival;
        if !p.transferred {
            t = self.say(&mut c, BS_CHAT_GREETING, t, 0.3, 1.2)?;
        }
        let check = self.cal.opening_check(t);
        c.opening = Some(check);
        if check != "Open" {
            let end = self.say(&mut c, BS_CHAT_CLOSED, t, 0.3, 1.0)?;
            c.avg_bot = Some(round2(0.3 + self.rng.f64()));
            let gap = self.rng.secs(1.0, 30.0);
            return self.finish(c, end + gap, "Default");
        }
        if !p.transferred {
            let topics: &[&str] = match p.channel {
                CH_BUSINESS_CHAT => &["Invoices", "Contract change", "New connection", "Other"],
                CH_SUPPORT_CHAT => &["Internet", "TV", "Mobile", "Smart meter", "Other"],
                _ => &[
                    "Billing",
                    "Moving house",
                    "New contract",
                    "Meter reading",
                    "Other",
                ],
            };
            if p.quit_bot {
                let len = self.rng.secs(5.0, 60.0);
                let end = self.bot(&mut c, BS_TOPIC, t, len, "CustomerDisconnect", None, None)?;
                return if web {
                    self.finish(c, end, "CustomerDisconnected")
                } else {
                    self.finish(c, end + 10 * MINUTE, "IdleTimeout")
                };
            }
            let topic = topics[self.rng.index(topics.len())];
            let len = self.rng.secs(5.0, 40.0);
            t = self.bot(
                &mut c,
                BS_TOPIC,
                t,
                len,
                "Success",
                Some(topic.into()),
                Some(topic.into()),
            )?;
            self.captured(&c, t, "ChatTopic", Some(topic.into()))?;
            match p.channel {
                CH_WEBCHAT | CH_SUPPORT_CHAT => {
                    let step = if p.channel == CH_WEBCHAT {
                        BS_FAQ
                    } else {
                        BS_TROUBLESHOOT
                    };
                    if p.resolved {
                        let len = self.rng.secs(20.0, 180.0);
                        t = self.bot(
                            &mut c,
                            step,
                            t,
                            len,
                            "Success",
                            None,
                            Some("answered".into()),
                        )?;
                        c.avg_bot = Some(round2(0.4 + 2.0 * self.rng.f64()));
                        c.avg_customer = Some(round2(self.rng.lognormal(25.0, 0.5)));
                        let end = t + self.rng.secs(2.0, 30.0);
                        let reason = if web && self.rng.chance(0.5) {
                            "CustomerDisconnected"
                        } else {
                            "Default"
                        };
                        return self.finish(c, end, reason);
                    }
                    if self.rng.chance(0.6) {
                        let len = self.rng.secs(20.0, 180.0);
                        t = self.bot(
                            &mut c,
                            step,
                            t,
                            len,
                            "Success",
                            Some("exitQuestion".into()),
                            Some("No Answer".into()),
                        )?;
                    }
                    if p.channel == CH_SUPPORT_CHAT && self.rng.chance(0.5) {
                        let ok = self.rng.chance(0.8);
                        let model = ROUTERS[self.rng.index(ROUTERS.len())];
                        let len = self.rng.secs(10.0, 60.0);
                        let (info, output) = if ok {
                            (model, "success")
                        } else {
                            ("dunno", "invalid")
                        };
                        t = self.bot(
                            &mut c,
                            BS_ROUTER_MODEL,
                            t,
                            len,
                            "Success",
                            Some(info.into()),
                            Some(output.into()),
                        )?;
                        if ok {
                            self.captured(&c, t, "RouterModel", Some(model.into()))?;
                        }
                    }
                }
                CH_BUSINESS_CHAT => {
                    let failed = self.rng.chance(0.02);
                    let len = self.rng.secs(3.0, 20.0);
                    let answer = ["ORDER_FOUND", "ORDER_NOT_FOUND", "NO_ORDER_NUMBER"]
                        [self.rng.weighted(&[0.5, 0.2, 0.3])];
                    t = if failed {
                        self.bot(&mut c, BS_ORDER_BOT, t, len, "Failed", None, None)?
                    } else {
                        self.bot(
                            &mut c,
                            BS_ORDER_BOT,
                            t,
                            len,
                            "Success",
                            Some(answer.into()),
                            Some("handover".into()),
                        )?
                    };
                }
                _ => {}
            }
            if self.rng.chance(0.4) {
                let (info, output) = self.identify_outcome(p.cust.known.is_some());
                let len = self.rng.secs(2.0, 10.0);
                t = self.bot(
                    &mut c,
                    BS_CHAT_IDENTIFY,
                    t,
                    len,
                    "Success",
                    Some(info.into()),
                    Some(output.into()),
                )?;
            }
        }
        if c.bots > 0 {
            c.avg_bot = Some(round2(0.4 + 2.0 * self.rng.f64()));
        }
        let q = t + self.rng.secs(0.2, 1.0);
        match self.route(&c, ch.queues[0], q, p.extra, &CHAT)? {
            Routed::Connected {
                agent,
                offer,
                connect,
                queue,
            } => {
                self.waiting_messages(&c, q, offer)?;
                self.chat_talk(c, agent, offer, connect, queue, p, web)
            }
            Routed::Left {
                at,
                why: Leave::Patience,
                ..
            } => {
                self.waiting_messages(&c, q, at)?;
                self.finish(
                    c,
                    at,
                    if web {
                        "CustomerDisconnected"
                    } else {
                        "IdleTimeout"
                    },
                )
            }
            Routed::Left { at, .. } | Routed::Rejected { at } => {
                if p.extra != Extra::None {
                    let at = at + self.rng.secs(1.0, 3.0);
                    return self.continue_in(
                        c,
                        ch.transfer_to,
                        at,
                        "TransferredToQueue",
                        p.cust,
                        None,
                    );
                }
                let end = at + self.rng.secs(1.0, 5.0);
                self.finish(c, end, "Default")
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn chat_talk(
        &mut self,
        mut c: Conv,
        agent: usize,
        offer: i64,
        connect: i64,
        queue: usize,
        p: Inbound,
        web: bool,
    ) -> Result<(), StoreError> {
        let active = self.rng.duration(540.0, 0.6, 60.0, 3600.0);
        let agent_end = connect + active;
        c.avg_agent = Some(round2(self.rng.lognormal(22.0, 0.5)));
        c.avg_customer = Some(round2(self.rng.lognormal(35.0, 0.5)));
        let r = self.rng.f64();
        let (reason, end, ended) = if p.extra != Extra::None {
            (
                "TransferredToQueue",
                agent_end + self.rng.secs(0.5, 2.0),
                "Transferred",
            )
        } else if web && r < 0.25 {
            ("CustomerDisconnected", agent_end, "ConversationEnded")
        } else if r < 0.37 {
            ("IdleTimeout", agent_end + 5 * MINUTE, "Default")
        } else {
            ("Default", agent_end + self.rng.secs(0.2, 1.0), "Default")
        };
        let wrap = self.rng.secs(5.0, 45.0);
        let media = CHANNELS[c.channel].media.task_media();
        let task = Task {
            agent,
            queue: Some(queue),
            media,
            start: offer,
            lookup: None,
            preview: connect - offer,
            active,
            wrap,
            result: "Handled",
        };
        self.agents[agent].commit(offer, task.end());
        let wid = self.task(Some(&c), &task)?;
        self.session(&wid, &c.id, ended, &[])?;
        if !self.chat_messages(&c, agent, connect, agent_end, reason)? {
            c.avg_agent = None;
        }
        c.held = Some(Held {
            agent,
            queue: Some(queue),
            assigned: offer,
            accepted: connect,
        });
        if p.extra != Extra::None {
            let target = CHANNELS[c.channel].transfer_to;
            return self.continue_in(c, target, end, reason, p.cust, None);
        }
        self.finish(c, end, reason)
    }

    // ----- e-mail -------------------------------------------------------------------

    pub fn mail_in(&mut self, p: Inbound) -> Result<(), StoreError> {
        let ch = &CHANNELS[p.channel];
        let id = match p.id.clone() {
            Some(id) => id,
            None => self.mail_id(),
        };
        let mut c = Conv::new(id, p.channel, p.arrival, Some(p.cust));
        c.transferred = p.transferred;
        c.email = Some(p.cust.email());
        let (thread, subject) = match p.thread.clone() {
            Some(x) => x,
            None => {
                let range = match p.channel {
                    CH_BUSINESS_MAIL => 6..10,
                    CH_SUPPORT_MAIL => 10..14,
                    _ => 0..6,
                };
                let s = range.start + self.rng.index(range.len());
                (thread_id(p.cust, s, p.arrival), s)
            }
        };
        c.subject = Some(SUBJECTS[subject].0);
        c.thread = Some(thread);
        let mut t = p.arrival;
        if !p.transferred {
            self.post(&c, t, Sender::Customer)?;
            let (_, keyword, group) = SUBJECTS[subject];
            let matched = self.rng.chance(0.9);
            let place = if self.rng.chance(0.7) {
                "subject"
            } else {
                "content"
            };
            let info = matched.then(|| format!("{place}:{keyword}"));
            let output = if matched { group } else { "no match" };
            let len = self.rng.secs(0.5, 2.5);
            t = self.bot(
                &mut c,
                BS_MAIL_INTENT,
                t,
                len,
                "Success",
                info,
                Some(output.into()),
            )?;
            self.captured(&c, t, "MailIntent", matched.then(|| group.to_string()))?;
            let len = self.rng.secs(1.0, 3.0);
            t = self.bot(&mut c, BS_AUTO_ACK, t, len, "Success", None, None)?;
            let (info, output) = self.identify_outcome(p.cust.known.is_some());
            let len = self.rng.secs(0.3, 1.5);
            t = self.bot(
                &mut c,
                BS_SENDER_LOOKUP,
                t,
                len,
                "Success",
                Some(info.into()),
                Some(output.into()),
            )?;
        }
        let queued = t + self.rng.secs(0.2, 1.0);
        let w = MailWait {
            conv: c,
            queue: ch.queues[0],
            queued,
            transfer: p.extra != Extra::None,
            subject,
        };
        match self.cal.next_open(queued).filter(|&o| o < self.cal.end) {
            Some(at) => {
                self.push(at, EvKind::Mail(Box::new(w)));
                Ok(())
            }
            None => self.mail_unanswered(w),
        }
    }

    /// A mail still waiting when the history ends: open queue segment, open conversation.
    fn mail_unanswered(&mut self, w: MailWait) -> Result<(), StoreError> {
        self.mail_waiting_messages(&w.conv, w.queued, self.cal.end)?;
        self.queue_segment(&w.conv, w.queue, w.queued, None, None)?;
        self.conversation(&w.conv)
    }

    pub fn mail_route(&mut self, at: i64, w: MailWait) -> Result<(), StoreError> {
        let Some(g) = queue_group(w.queue) else {
            return self.mail_unanswered(w);
        };
        self.advance_group(g, at)?;
        let Some((agent, offer)) = self.best(g, at, &[]) else {
            let retry = at + 30 * MINUTE;
            let next = if self.cal.is_open(retry) {
                Some(retry)
            } else {
                self.cal.next_open(retry)
            };
            return match next.filter(|&n| n < self.cal.end) {
                Some(n) => {
                    self.push(n, EvKind::Mail(Box::new(w)));
                    Ok(())
                }
                None => self.mail_unanswered(w),
            };
        };
        let connect = offer + self.rng.secs(0.3, 2.0);
        self.mail_waiting_messages(&w.conv, w.queued, offer)?;
        self.queue_segment(
            &w.conv,
            w.queue,
            w.queued,
            Some(connect),
            Some("AgentConnected"),
        )?;
        let active = self.rng.duration(360.0, 0.7, 60.0, 3600.0);
        let agent_end = connect + active;
        let mut c = w.conv;
        let reply = connect + (active as f64 * (0.6 + 0.35 * self.rng.f64())) as i64;
        c.first_reply_s = Some(secs(reply - c.start));
        let wrap = self.rng.secs(0.0, 60.0);
        let task = Task {
            agent,
            queue: Some(w.queue),
            media: "email",
            start: offer,
            lookup: None,
            preview: connect - offer,
            active,
            wrap,
            result: "Handled",
        };
        self.agents[agent].commit(offer, task.end());
        let wid = self.task(Some(&c), &task)?;
        let reply = if w.transfer && self.transfer_unanswered() {
            c.first_reply_s = None;
            None
        } else {
            Some(reply)
        };
        self.mail_messages(&c, agent, connect, reply, agent_end)?;
        c.held = Some(Held {
            agent,
            queue: Some(w.queue),
            assigned: offer,
            accepted: connect,
        });
        let cust = c.cust.unwrap_or(Cust::anonymous(0));
        if w.transfer {
            self.session(&wid, &c.id, "Transferred", &[])?;
            let target = CHANNELS[c.channel].transfer_to;
            let thread = c.thread.clone().map(|t| (t, w.subject));
            let end = agent_end + self.rng.secs(0.5, 2.0);
            return self.continue_in(c, target, end, "TransferToChannel", cust, thread);
        }
        if self.rng.chance(0.02) {
            // Waiting for the customer's answer until the workflow's idle timeout.
            self.session(&wid, &c.id, "Default", &[])?;
            let end = agent_end + DAY;
            if end >= self.cal.end {
                return self.conversation(&c);
            }
            return self.finish(c, end, "IdleTimeout");
        }
        self.session(&wid, &c.id, "ConversationEnded", &[])?;
        let end = agent_end + self.rng.secs(0.2, 1.0);
        self.finish(c, end, "Default")
    }

    // ----- contacts agents start ----------------------------------------------------

    pub fn outbound(&mut self, at: i64, mut o: Outbound) -> Result<(), StoreError> {
        let ch = &CHANNELS[o.channel];
        let Some(g) = ch.bu.and_then(|b| group_of(b, ch.media.group())) else {
            return Ok(());
        };
        self.advance_group(g, at)?;
        let found = self
            .best(g, at, &[])
            .filter(|&(_, e)| e - at <= 10 * MINUTE);
        let Some((agent, start)) = found else {
            // Nobody had time: try again later (or the next working day).
            o.tries += 1;
            let retry = at + 15 * MINUTE;
            let next = if self.cal.is_open(retry) {
                Some(retry)
            } else {
                let offset = self.rng.range(15 * MINUTE, 45 * MINUTE);
                self.cal.next_open(retry).map(|n| n + offset)
            };
            if let Some(n) = next.filter(|&n| n < self.cal.end - 2 * HOUR && o.tries < 30) {
                self.push(n, EvKind::Out(o));
            }
            return Ok(());
        };
        match o.kind {
            OutKind::Campaign(_) | OutKind::AdHoc | OutKind::Callback(_) => {
                self.dial(agent, start, o)
            }
            OutKind::Email => self.compose(agent, start, o),
            OutKind::Viber => self.message(agent, start, o),
        }
    }

    /// An outbound call: campaign record, callback or ad hoc.
    fn dial(&mut self, agent: usize, mut start: i64, o: Outbound) -> Result<(), StoreError> {
        let ch = &CHANNELS[o.channel];
        let record = match o.kind {
            OutKind::Campaign(cmp) => self.book.take(cmp, start),
            OutKind::Callback(r) => Some(r),
            _ => None,
        };
        let preview_campaign = matches!(o.kind, OutKind::Campaign(_)) && record.is_some();
        if preview_campaign && self.rng.chance(0.03) {
            // The agent opens a record and closes it without dialling.
            let len = self.rng.secs(5.0, 25.0);
            let task = Task {
                agent,
                queue: None,
                media: "voice",
                start,
                lookup: None,
                preview: len,
                active: 0,
                wrap: 0,
                result: "Cancelled",
            };
            self.agents[agent].commit(start, start + len);
            self.task(None, &task)?;
            start += len + self.rng.secs(1.0, 4.0);
        }
        let cust = record.map_or(o.cust, |r| self.book.records[r].cust);
        let lookup = self.rng.secs(1.0, 4.0);
        let preview = if preview_campaign {
            self.rng.secs(5.0, 40.0)
        } else {
            self.rng.secs(2.0, 8.0)
        };
        let dial = start + lookup + preview;
        if let Some(r) = record {
            self.book.start_attempt(r, dial);
        }
        let phone = record.map_or_else(|| cust.phone(), |r| self.book.phone(r));
        let answer = match o.kind {
            OutKind::Callback(_) => 0.82,
            OutKind::Campaign(_) => 0.7,
            _ => 0.78,
        };
        let answered = self.rng.chance(answer);
        let ring = if answered {
            self.rng.secs(4.0, 25.0)
        } else {
            self.rng.secs(20.0, 45.0)
        };
        let id = self.call_id();
        let mut c = Conv::new(id, o.channel, dial, Some(cust));
        c.outbound = true;
        c.customer_phone = Some(phone);
        c.channel_phone = ch.phones.first().copied();
        c.ring_s = Some(secs(ring));
        let mut holds = Vec::new();
        let mut talk = 0;
        let (end, reason, ended) = if !answered {
            (
                dial + ring + self.rng.secs(0.2, 1.0),
                "CustomerJoinFailed",
                "ConversationEnded",
            )
        } else {
            c.joined = Some(dial + ring);
            if self.rng.chance(0.01) {
                (
                    dial + ring + self.rng.secs(3.0, 8.0),
                    "AgentJoinFailed",
                    "AgentFailedToJoin",
                )
            } else {
                talk = self.rng.duration(150.0, 0.7, 10.0, 2400.0);
                if self.rng.chance(0.1) {
                    let hold = self.rng.duration(30.0, 0.6, 5.0, 200.0);
                    holds.push(hold);
                    talk += hold;
                }
                if self.rng.chance(0.4) {
                    (
                        dial + ring + talk,
                        "CustomerDisconnected",
                        "ConversationEnded",
                    )
                } else {
                    (
                        dial + ring + talk + self.rng.secs(0.2, 1.0),
                        "Default",
                        "Default",
                    )
                }
            }
        };
        c.hold_count = holds.len() as i64;
        c.hold_ms = holds.iter().sum();
        let wrap = self.rng.secs(10.0, 60.0);
        let task = Task {
            agent,
            queue: None,
            media: "voice",
            start,
            lookup: Some(lookup),
            preview,
            active: end - dial,
            wrap,
            result: "Handled",
        };
        self.agents[agent].commit(start, task.end());
        let wid = self.task(Some(&c), &task)?;
        self.session(&wid, &c.id, ended, &holds)?;
        if let Some(r) = record {
            let reached = answered && reason != "AgentJoinFailed";
            self.book
                .finish_attempt(r, end, secs(ring), secs(talk), reached, &mut self.rng);
        }
        self.finish(c, end, reason)
    }

    /// An e-mail an agent writes.
    fn compose(&mut self, agent: usize, start: i64, o: Outbound) -> Result<(), StoreError> {
        let id = self.mail_id();
        let preview = self.rng.secs(0.3, 1.5);
        let mut c = Conv::new(id, o.channel, start + preview, Some(o.cust));
        c.outbound = true;
        c.email = Some(o.cust.email());
        let subject = OUTBOUND_SUBJECTS.start + self.rng.index(OUTBOUND_SUBJECTS.len());
        c.subject = Some(SUBJECTS[subject].0);
        c.thread = Some(thread_id(o.cust, subject, start));
        let active = self.rng.duration(300.0, 0.6, 60.0, 1800.0);
        let end = start + preview + active + self.rng.secs(0.5, 2.0);
        let wrap = self.rng.secs(0.0, 30.0);
        let task = Task {
            agent,
            queue: None,
            media: "email",
            start,
            lookup: None,
            preview,
            active,
            wrap,
            result: "Handled",
        };
        self.agents[agent].commit(start, task.end());
        let wid = self.task(Some(&c), &task)?;
        self.session(&wid, &c.id, "Default", &[])?;
        self.post(&c, c.start + active, Sender::Agent(agent))?;
        c.held = Some(Held::started_by(agent, c.start));
        self.finish(c, end, "Default")
    }

    /// A Viber message an agent sends to a customer.
    fn message(&mut self, agent: usize, start: i64, o: Outbound) -> Result<(), StoreError> {
        let id = self.chat_id();
        let preview = self.rng.secs(0.5, 1.5);
        let mut c = Conv::new(id, CH_VIBER, start + preview, Some(o.cust));
        c.opening = Some(self.cal.opening_check(c.start));
        let (agent_end, end, reason, first) = if self.rng.chance(0.75) {
            let first = self.rng.duration(240.0, 1.0, 10.0, 3000.0);
            c.first_answer_s = Some(secs(first));
            c.avg_agent = Some(round2(self.rng.lognormal(20.0, 0.5)));
            c.avg_customer = Some(round2(self.rng.lognormal(60.0, 0.6)));
            let rest = self.rng.duration(300.0, 0.6, 30.0, 1800.0);
            let agent_end = c.start + first + rest;
            let end = agent_end + self.rng.secs(0.2, 1.0);
            (agent_end, end, "Default", Some(first))
        } else {
            let agent_end = c.start + self.rng.secs(60.0, 180.0);
            (agent_end, c.start + HOUR, "IdleTimeout", None)
        };
        let wrap = self.rng.secs(5.0, 30.0);
        let task = Task {
            agent,
            queue: None,
            media: "viber",
            start,
            lookup: None,
            preview,
            active: agent_end - c.start,
            wrap,
            result: "Handled",
        };
        self.agents[agent].commit(start, task.end());
        let wid = self.task(Some(&c), &task)?;
        self.session(
            &wid,
            &c.id,
            if reason == "Default" {
                "Default"
            } else {
                "ConversationEnded"
            },
            &[],
        )?;
        self.outbound_chat_messages(&c, agent, first, agent_end)?;
        c.held = Some(Held::started_by(agent, c.start));
        self.finish(c, end, reason)
    }
}
