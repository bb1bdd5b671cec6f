//! Agents during the simulation: their shifts, breaks and task slots, and the state
//! history (AgentStates rows) that follows from what they did.
//!
//! An agent has `capacity` task slots (one for voice and mail, two for chat). A task
//! occupies a slot from offer to the end of wrap-up. Breaks, short disconnections and
//! lookup tasks are scheduled per shift and start when the agent has finished every
//! task in hand, so tasks and breaks never overlap. The states are then derived, not
//! drawn: Busy while at least one task is open, Break during breaks, Idle in between,
//! a login break at the start and LoggedOut from the logout to the next login.

use std::collections::VecDeque;

use super::calendar::{MINUTE, SECOND};
use super::out::secs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Logout {
    Agent,
    Timeout,
    Forced,
}

impl Logout {
    fn reason(self) -> &'static str {
        match self {
            Logout::Agent => "AgentLogout",
            Logout::Timeout => "ConnectionTimeout",
            Logout::Forced => "ForceLogout",
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Shift {
    pub login: i64,
    /// Planned end: no task is offered after it; the agent logs out when done.
    pub end: i64,
    pub login_break: i64,
    pub logout: Logout,
    /// How long after the planned end (or the last task) the logout happens.
    pub logout_delay: i64,
    pub pending: Vec<Pending>,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum PendingKind {
    Break(Option<&'static str>),
    /// Connection lost: logged out for `len`, then a fresh login.
    Disconnect,
    /// A contact-lookup task.
    Lookup,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Pending {
    pub at: i64,
    pub len: i64,
    pub kind: PendingKind,
}

#[derive(Debug, Clone, Copy)]
enum BreakKind {
    Named(Option<&'static str>),
    Disconnect { relogin: i64 },
}

#[derive(Debug, Clone, Copy)]
struct Break {
    start: i64,
    end: i64,
    kind: BreakKind,
}

/// One AgentStates row before it gets an id.
#[derive(Debug, Clone)]
pub(super) struct StateRow {
    pub start: i64,
    pub state: &'static str,
    pub break_name: Option<&'static str>,
    pub is_login: bool,
    pub is_logout: bool,
    pub logout_reason: Option<&'static str>,
    /// Whole seconds until the next state; `None` while the state is current.
    pub duration: Option<i64>,
}

impl StateRow {
    fn new(start: i64, state: &'static str) -> StateRow {
        StateRow {
            start,
            state,
            break_name: None,
            is_login: false,
            is_logout: false,
            logout_reason: None,
            duration: None,
        }
    }
}

pub(super) struct AgentRun {
    pub capacity: usize,
    slots: [i64; 3],
    ready: i64,
    shift: Option<Shift>,
    pending: VecDeque<Pending>,
    busy: Vec<(i64, i64)>,
    breaks: Vec<Break>,
    /// When the agent last finished a task: the longest-idle agent gets the next one.
    pub last_end: i64,
    open_logout: Option<StateRow>,
}

impl AgentRun {
    pub fn new(capacity: usize) -> AgentRun {
        AgentRun {
            capacity: capacity.clamp(1, 3),
            slots: [0; 3],
            ready: 0,
            shift: None,
            pending: VecDeque::new(),
            busy: Vec::new(),
            breaks: Vec::new(),
            last_end: 0,
            open_logout: None,
        }
    }

    pub fn on_shift(&self) -> bool {
        self.shift.is_some()
    }

    pub fn logged_in(&self, t: i64) -> bool {
        self.shift
            .as_ref()
            .is_some_and(|s| s.login <= t && t < s.end)
    }

    /// Starts a shift; returns the previous logout's state row, now that its duration
    /// (until this login) is known.
    pub fn begin_shift(&mut self, mut shift: Shift) -> Option<StateRow> {
        let ready = shift.login + shift.login_break;
        self.slots = [ready; 3];
        self.ready = ready;
        self.busy.clear();
        self.breaks.clear();
        shift.pending.sort_by_key(|p| p.at);
        self.pending = shift.pending.drain(..).collect();
        let login = shift.login;
        self.shift = Some(shift);
        self.open_logout.take().map(|mut row| {
            row.duration = Some(secs(login - row.start));
            row
        })
    }

    fn max_slot(&self) -> i64 {
        self.slots[..self.capacity]
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// Starts every scheduled break, disconnection and lookup due by `t`, each once the
    /// agent is free. Lookup tasks that start are appended to `lookups`.
    pub fn advance(&mut self, t: i64, lookups: &mut Vec<(i64, i64)>) {
        let Some(end) = self.shift.as_ref().map(|s| s.end) else {
            return;
        };
        while let Some(p) = self.pending.front().copied() {
            if p.at > t {
                break;
            }
            self.pending.pop_front();
            let start = p.at.max(self.max_slot()).max(self.ready);
            if start + p.len > end - 5 * MINUTE {
                continue;
            }
            let stop = start + p.len;
            match p.kind {
                PendingKind::Break(name) => self.breaks.push(Break {
                    start,
                    end: stop,
                    kind: BreakKind::Named(name),
                }),
                PendingKind::Disconnect => {
                    // Logged out for most of it, then a short login break.
                    let relogin = stop - 20 * SECOND - (p.len / 10);
                    self.breaks.push(Break {
                        start,
                        end: stop,
                        kind: BreakKind::Disconnect { relogin },
                    });
                }
                PendingKind::Lookup => {
                    self.busy.push((start, stop));
                    lookups.push((start, stop));
                    self.last_end = stop;
                }
            }
            self.ready = stop;
            for s in &mut self.slots[..self.capacity] {
                *s = stop;
            }
        }
    }

    /// Earliest time at or after `t` the agent can be offered a task in this shift.
    pub fn available(&self, t: i64) -> Option<i64> {
        let s = self.shift.as_ref()?;
        if t < s.login || t >= s.end {
            return None;
        }
        let free = self.slots[..self.capacity]
            .iter()
            .copied()
            .min()
            .unwrap_or(t);
        let e = t.max(self.ready).max(free);
        (e < s.end - 2 * MINUTE).then_some(e)
    }

    /// Logged in and not working, but not ready either (on a break).
    pub fn on_break(&self, t: i64) -> bool {
        self.logged_in(t)
            && self.ready > t
            && self.slots[..self.capacity].iter().all(|&s| s <= self.ready)
    }

    /// Occupies a slot with a task from `start` to `end` (`start` must come from
    /// [`AgentRun::available`]).
    pub fn commit(&mut self, start: i64, end: i64) {
        let mut best = 0;
        for i in 1..self.capacity {
            if self.slots[i] < self.slots[best] {
                best = i;
            }
        }
        debug_assert!(
            self.slots[best] <= start && self.ready <= start,
            "task overlaps the agent's other work"
        );
        self.slots[best] = end;
        self.busy.push((start, end));
        self.last_end = self.last_end.max(end);
    }

    /// After a missed offer the platform puts the agent on a "RONA" break.
    pub fn rona(&mut self, start: i64, len: i64) {
        let end = start + len;
        self.breaks.push(Break {
            start,
            end,
            kind: BreakKind::Named(Some("RONA")),
        });
        self.ready = self.ready.max(end);
        for s in &mut self.slots[..self.capacity] {
            *s = (*s).max(end);
        }
    }

    /// Ends the shift and returns its states; the final logout stays open until the
    /// next login (or the end of the history).
    pub fn end_shift(&mut self, lookups: &mut Vec<(i64, i64)>) -> Vec<StateRow> {
        let Some(end) = self.shift.as_ref().map(|s| s.end) else {
            return Vec::new();
        };
        self.advance(end, lookups);
        let Some(shift) = self.shift.take() else {
            return Vec::new();
        };
        self.pending.clear();
        let done = shift.end.max(self.max_slot()).max(self.ready);
        let logout = done + shift.logout_delay;

        // Busy: the union of all task intervals (gaps under a second are not Idle).
        self.busy.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(self.busy.len());
        for &(s, e) in &self.busy {
            match merged.last_mut() {
                Some(last) if s <= last.1 + SECOND => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.breaks.sort_unstable_by_key(|b| b.start);

        let mut rows = Vec::with_capacity(merged.len() * 2 + self.breaks.len() * 2 + 4);
        let mut login = StateRow::new(shift.login, "Break");
        login.is_login = true;
        rows.push(login);
        let mut cursor = shift.login + shift.login_break;
        let (mut bi, mut ki) = (0, 0);
        loop {
            let next_busy = merged.get(bi).copied();
            let next_break = self.breaks.get(ki).copied();
            let take_busy = match (next_busy, next_break) {
                (None, None) => break,
                (Some(b), Some(k)) => b.0 <= k.start,
                (Some(_), None) => true,
                (None, Some(_)) => false,
            };
            let start = if take_busy {
                next_busy.map_or(cursor, |b| b.0)
            } else {
                next_break.map_or(cursor, |k| k.start)
            };
            debug_assert!(start >= cursor, "agent activities overlap");
            let start = start.max(cursor);
            if start > cursor {
                rows.push(StateRow::new(cursor, "Idle"));
            }
            if let (true, Some((_, e))) = (take_busy, next_busy) {
                rows.push(StateRow::new(start, "Busy"));
                cursor = e.max(start);
                bi += 1;
            } else if let Some(k) = next_break {
                match k.kind {
                    BreakKind::Named(name) => {
                        let mut row = StateRow::new(start, "Break");
                        row.break_name = name;
                        rows.push(row);
                    }
                    BreakKind::Disconnect { relogin } => {
                        let mut out = StateRow::new(start, "LoggedOut");
                        out.is_logout = true;
                        out.logout_reason = Some(Logout::Timeout.reason());
                        rows.push(out);
                        let mut back = StateRow::new(relogin.max(start + SECOND), "Break");
                        back.is_login = true;
                        rows.push(back);
                    }
                }
                cursor = k.end.max(start);
                ki += 1;
            }
        }
        if logout > cursor {
            rows.push(StateRow::new(cursor, "Idle"));
        }
        for i in 0..rows.len().saturating_sub(1) {
            rows[i].duration = Some(secs(rows[i + 1].start - rows[i].start));
        }
        if let Some(last) = rows.last_mut() {
            last.duration = Some(secs(logout - last.start));
        }
        let mut out = StateRow::new(logout, "LoggedOut");
        out.is_logout = true;
        out.logout_reason = Some(shift.logout.reason());
        self.open_logout = Some(out);
        rows
    }

    /// The logout row still open when the history ends (its duration stays null).
    pub fn take_open_logout(&mut self) -> Option<StateRow> {
        self.open_logout.take()
    }
}
