//! Contact volumes: how many conversations each day gets, when in the day they
//! arrive, and the plan of each contact (channel, customer, and whether it leads to a
//! second conversation: a transfer, a callback, a consultation or a redirect).
//!
//! Each conversation row is a "leg". A plan that leads to a second conversation counts
//! two legs, and plans are drawn until the day's legs are used up, so the history has
//! exactly the requested number of calls, chats and e-mails (give or take the rare
//! outbound contact no agent had time for before the history ends).

use super::calendar::{Calendar, HOUR, MINUTE};
use super::rng::Rng;
use super::world::{
    CH_BUSINESS, CH_BUSINESS_CHAT, CH_BUSINESS_MAIL, CH_COLLECTIONS, CH_FACEBOOK, CH_FACEBOOK_OLD,
    CH_MAIL, CH_RESIDENTIAL, CH_SUPPORT, CH_SUPPORT_CHAT, CH_SUPPORT_MAIL, CH_SWITCHBOARD,
    CH_VIBER, CH_WEBCHAT, CHANNELS, CMP_RENEWAL, CMP_WINTER, Changes, Cust, Mg, World,
    draw_customer,
};

/// Relative arrivals per local hour of day.
const PROFILES: [[f64; 24]; 3] = [
    [
        1.0, 0.6, 0.4, 0.4, 0.5, 1.5, 4.0, 18.0, 75.0, 100.0, 98.0, 92.0, 72.0, 78.0, 88.0, 84.0,
        70.0, 52.0, 36.0, 26.0, 11.0, 7.0, 4.0, 2.0,
    ],
    [
        3.0, 2.0, 1.0, 1.0, 1.0, 2.0, 4.0, 12.0, 45.0, 70.0, 80.0, 85.0, 80.0, 80.0, 85.0, 85.0,
        80.0, 75.0, 70.0, 65.0, 55.0, 40.0, 20.0, 8.0,
    ],
    [
        10.0, 6.0, 4.0, 3.0, 3.0, 5.0, 10.0, 25.0, 60.0, 80.0, 80.0, 75.0, 65.0, 65.0, 70.0, 70.0,
        60.0, 45.0, 35.0, 30.0, 25.0, 20.0, 15.0, 12.0,
    ],
];

/// Relative volume per weekday (Monday first).
const WEEKDAYS: [[f64; 7]; 3] = [
    [1.18, 1.06, 1.0, 0.98, 0.9, 0.42, 0.22],
    [1.1, 1.04, 1.0, 1.0, 0.95, 0.6, 0.45],
    [1.15, 1.05, 1.0, 1.0, 0.95, 0.55, 0.45],
];

/// Calls and chats arrive until two hours before the end of the history, so that
/// every one of them has ended by then; e-mails arrive until the end and may still
/// be waiting.
const QUIET_END: i64 = 2 * HOUR;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Extra {
    None,
    /// An agent (or, failing that, the workflow) transfers the contact to another
    /// channel: a second conversation.
    Transfer,
    /// The caller asks for a callback while queued: an outbound call later.
    Callback,
    /// The agent consults a colleague: a consultation call.
    Consult,
    /// The switchboard menu redirects the caller to a business line.
    Redirect,
}

/// A contact that comes in (or a leg that continues one).
#[derive(Debug, Clone)]
pub(super) struct Inbound {
    pub channel: usize,
    pub arrival: i64,
    pub cust: Cust,
    pub extra: Extra,
    /// The customer gives up while the bots talk.
    pub quit_bot: bool,
    /// A chat bot answers the question; no agent is needed.
    pub resolved: bool,
    /// Id chosen in advance (the previous leg refers to it).
    pub id: Option<String>,
    /// A leg created by a transfer: the greeting and menus are skipped.
    pub transferred: bool,
    /// E-mail legs keep the thread and subject of the mail they continue.
    pub thread: Option<(String, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OutKind {
    /// A preview campaign dial (campaign index).
    Campaign(usize),
    AdHoc,
    /// The call back of a callback record (record index).
    Callback(usize),
    Email,
    Viber,
}

/// A contact an agent starts.
#[derive(Debug, Clone)]
pub(super) struct Outbound {
    pub kind: OutKind,
    pub channel: usize,
    pub cust: Cust,
    pub tries: u32,
}

pub(super) enum Plan {
    In(Inbound),
    Out(Outbound),
}

impl Inbound {
    pub fn new(channel: usize, arrival: i64, cust: Cust) -> Inbound {
        Inbound {
            channel,
            arrival,
            cust,
            extra: Extra::None,
            quit_bot: false,
            resolved: false,
            id: None,
            transferred: false,
            thread: None,
        }
    }
}

fn day_factor(cal: &Calendar, changes: &Changes, d: usize, m: usize, seed: u64) -> f64 {
    let day = &cal.days[d];
    let mut f = WEEKDAYS[m][day.weekday as usize];
    if day.holiday && day.weekday < 5 {
        f *= 0.3;
    }
    let progress = d as f64 / cal.days.len().max(1) as f64;
    f *= 0.94 + 0.12 * progress;
    let mut rng = Rng::stream(seed, 0xDA7E_0000 + (d as u64) * 4 + m as u64);
    f *= 0.9 + 0.2 * rng.f64();
    if d == changes.outage && m < 2 {
        f *= 1.4;
    }
    f
}

/// Arrival weight of each slot of a day for a media group.
fn slot_weights(cal: &Calendar, d: usize, m: usize) -> Vec<(f64, i64, i64)> {
    let limit = if m == 2 { cal.end } else { cal.end - QUIET_END };
    cal.days[d]
        .slots
        .iter()
        .map(|s| {
            let (a, b) = (s.start, s.end.min(limit));
            let w = if b > a {
                PROFILES[m][s.hour as usize] * (b - a) as f64 / HOUR as f64
            } else {
                0.0
            };
            (w, a, b.max(a))
        })
        .collect()
}

/// The same, restricted to opening hours (for contacts agents start).
fn open_weights(cal: &Calendar, d: usize, m: usize) -> Vec<(f64, i64, i64)> {
    let Some((o1, o2)) = cal.days[d].open else {
        return Vec::new();
    };
    let limit = cal.end - QUIET_END;
    cal.days[d]
        .slots
        .iter()
        .map(|s| {
            // Agents start their own contacts from a quarter past opening.
            let (a, b) = (
                s.start.max(o1 + 15 * MINUTE),
                s.end.min(o2 - 20 * MINUTE).min(limit),
            );
            let w = if b > a {
                PROFILES[m][s.hour as usize] * (b - a) as f64 / HOUR as f64
            } else {
                0.0
            };
            (w, a, b.max(a))
        })
        .collect()
}

fn sample(rng: &mut Rng, weights: &[(f64, i64, i64)], w: &[f64]) -> i64 {
    let i = rng.weighted(w);
    let (_, a, b) = weights[i];
    rng.range(a, b)
}

/// Legs per day and media group, summing exactly to the requested totals.
pub(super) fn legs_per_day(
    cal: &Calendar,
    changes: &Changes,
    totals: [u64; 3],
    seed: u64,
) -> Vec<[u64; 3]> {
    let n = cal.days.len();
    let mut out = vec![[0u64; 3]; n];
    for m in 0..3 {
        let weights: Vec<f64> = (0..n)
            .map(|d| {
                day_factor(cal, changes, d, m, seed)
                    * slot_weights(cal, d, m).iter().map(|w| w.0).sum::<f64>()
            })
            .collect();
        let total: f64 = weights.iter().sum();
        if total <= 0.0 {
            continue;
        }
        let mut cumulative = 0.0;
        let mut given = 0u64;
        for d in 0..n {
            cumulative += weights[d];
            let upto = ((totals[m] as f64) * cumulative / total).round() as u64;
            let upto = if d + 1 == n {
                totals[m]
            } else {
                upto.min(totals[m])
            };
            out[d][m] = upto.saturating_sub(given);
            given = given.max(upto);
        }
    }
    out
}

/// Draws the plans of one day for one media group, using exactly `legs` legs.
pub(super) fn plan_day(
    cal: &Calendar,
    world: &World,
    d: usize,
    m: Mg,
    legs: u64,
    seed: u64,
) -> Vec<(i64, Plan)> {
    let mi = m as usize;
    let mut rng = Rng::stream(seed, 0x5EED_0000 + (d as u64) * 4 + mi as u64);
    let all = slot_weights(cal, d, mi);
    let all_w: Vec<f64> = all.iter().map(|w| w.0).collect();
    let open = open_weights(cal, d, mi);
    let open_w: Vec<f64> = open.iter().map(|w| w.0).collect();
    let can_start = open_w.iter().sum::<f64>() > 0.0;
    let mut plans = Vec::with_capacity(legs as usize);
    let mut left = legs;
    let outage = d == world.changes.outage;
    let facebook = if d < world.changes.facebook {
        CH_FACEBOOK_OLD
    } else {
        CH_FACEBOOK
    };
    while left > 0 {
        let (t, plan) = match m {
            Mg::Voice => {
                let kind = if can_start {
                    rng.weighted(&[0.9, 0.07, 0.03])
                } else {
                    0
                };
                if kind > 0 {
                    let t = sample(&mut rng, &open, &open_w);
                    let (kind, channel) = if kind == 1 {
                        let winter = d < world.changes.winter && rng.chance(0.4);
                        (
                            OutKind::Campaign(if winter { CMP_WINTER } else { CMP_RENEWAL }),
                            CH_RESIDENTIAL,
                        )
                    } else {
                        let ch = [CH_RESIDENTIAL, CH_BUSINESS, CH_SUPPORT, CH_COLLECTIONS]
                            [rng.weighted(&[0.5, 0.25, 0.1, 0.15])];
                        (OutKind::AdHoc, ch)
                    };
                    let cust = draw_customer(&mut rng, world.pool, 1.0);
                    (
                        t,
                        Plan::Out(Outbound {
                            kind,
                            channel,
                            cust,
                            tries: 0,
                        }),
                    )
                } else {
                    let t = sample(&mut rng, &all, &all_w);
                    let support = if outage { 0.66 } else { 0.22 };
                    let mut channel = [
                        CH_RESIDENTIAL,
                        CH_BUSINESS,
                        CH_SUPPORT,
                        CH_COLLECTIONS,
                        CH_SWITCHBOARD,
                    ][rng.weighted(&[0.40, 0.15, support, 0.08, 0.05])];
                    let cust = draw_customer(&mut rng, world.pool, 0.88);
                    let mut p = Inbound::new(channel, t, cust);
                    p.quit_bot = rng.chance(0.04);
                    let staffed = cal.is_open(t) && cal.is_open(t + 2 * MINUTE);
                    if staffed && !p.quit_bot {
                        if channel == CH_SWITCHBOARD {
                            if left < 2 {
                                channel = CH_RESIDENTIAL;
                                p.channel = channel;
                            } else {
                                p.extra = Extra::Redirect;
                            }
                        }
                        if channel != CH_SWITCHBOARD {
                            let callback = if CHANNELS[channel].callback {
                                0.035
                            } else {
                                0.0
                            };
                            p.extra = [
                                Extra::None,
                                Extra::Transfer,
                                Extra::Callback,
                                Extra::Consult,
                            ][rng.weighted(&[0.9, 0.04, callback, 0.02])];
                        }
                    }
                    if p.extra != Extra::None && left < 2 {
                        p.extra = Extra::None;
                    }
                    (t, Plan::In(p))
                }
            }
            Mg::Chat => {
                if can_start && rng.chance(0.04) {
                    let t = sample(&mut rng, &open, &open_w);
                    let cust = draw_customer(&mut rng, world.pool, 1.0);
                    (
                        t,
                        Plan::Out(Outbound {
                            kind: OutKind::Viber,
                            channel: CH_VIBER,
                            cust,
                            tries: 0,
                        }),
                    )
                } else {
                    let t = sample(&mut rng, &all, &all_w);
                    let support = if outage { 0.55 } else { 0.22 };
                    let channel = [
                        CH_WEBCHAT,
                        CH_BUSINESS_CHAT,
                        CH_SUPPORT_CHAT,
                        CH_VIBER,
                        facebook,
                    ][rng.weighted(&[0.42, 0.12, support, 0.10, 0.10])];
                    let cust = draw_customer(&mut rng, world.pool, 0.6);
                    let mut p = Inbound::new(channel, t, cust);
                    p.quit_bot = rng.chance(0.05);
                    let staffed = cal.is_open(t) && cal.is_open(t + 5 * MINUTE);
                    if staffed && !p.quit_bot {
                        p.resolved =
                            matches!(channel, CH_WEBCHAT | CH_SUPPORT_CHAT) && rng.chance(0.12);
                        if !p.resolved && left >= 2 && rng.chance(0.03) {
                            p.extra = Extra::Transfer;
                        }
                    }
                    (t, Plan::In(p))
                }
            }
            Mg::Email => {
                if can_start && rng.chance(0.03) {
                    let t = sample(&mut rng, &open, &open_w);
                    let channel = [CH_MAIL, CH_BUSINESS_MAIL, CH_SUPPORT_MAIL]
                        [rng.weighted(&[0.6, 0.25, 0.15])];
                    let cust = draw_customer(&mut rng, world.pool, 1.0);
                    (
                        t,
                        Plan::Out(Outbound {
                            kind: OutKind::Email,
                            channel,
                            cust,
                            tries: 0,
                        }),
                    )
                } else {
                    let t = sample(&mut rng, &all, &all_w);
                    let channel = [CH_MAIL, CH_BUSINESS_MAIL, CH_SUPPORT_MAIL]
                        [rng.weighted(&[0.55, 0.2, 0.22])];
                    let cust = draw_customer(&mut rng, world.pool, 0.93);
                    let mut p = Inbound::new(channel, t, cust);
                    // Mail that cannot be answered before the history ends is not transferred.
                    let answered_in_time = cal
                        .next_open(t)
                        .is_some_and(|o| o < cal.end - 2 * 24 * HOUR);
                    if answered_in_time && left >= 2 && rng.chance(0.03) {
                        p.extra = Extra::Transfer;
                    }
                    (t, Plan::In(p))
                }
            }
        };
        let used = match &plan {
            Plan::In(p) if p.extra != Extra::None => 2,
            _ => 1,
        };
        left = left.saturating_sub(used);
        plans.push((t, plan));
    }
    plans
}
