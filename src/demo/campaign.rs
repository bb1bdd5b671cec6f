//! Campaign records: uploaded in batches for the preview campaigns, created one by
//! one for callback requests, dialled by agents during the simulation, and written
//! at the end with the status and status durations they have when the history ends.

use std::collections::VecDeque;

use crate::store::{Conn, StoreError};

use super::calendar::{DAY, HOUR};
use super::out::{Out, id, secs};
use super::rng::Rng;
use super::world::{CAMPAIGNS, Cust, N_CAMPAIGNS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    New,
    Processing,
    Rescheduled,
    Closed,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::New => "New",
            Status::Processing => "Processing",
            Status::Rescheduled => "Rescheduled",
            Status::Closed => "Closed",
        }
    }
}

pub(super) struct Record {
    pub campaign: usize,
    pub cust: Cust,
    pub created: i64,
    status: Status,
    since: i64,
    new_ms: i64,
    processing_ms: i64,
    rescheduled_ms: i64,
    ring_s: i64,
    talk_s: i64,
    pub attempts: u32,
    closed: Option<i64>,
    next_try: i64,
    /// Extra numbers: 0 none, 1 a landline, 2 a landline and a second mobile.
    pub extra_phones: u8,
    tariff: usize,
    /// Why a callback was requested (callback records only): the queue's name.
    reason: Option<&'static str>,
}

pub(super) const MAX_ATTEMPTS: u32 = 3;
const TARIFFS: [&str; 4] = ["Basic", "Plus", "Premium", "Green"];
const METERS: [&str; 3] = ["Single-rate", "Dual-rate", "Smart meter"];

#[derive(Default)]
pub(super) struct Book {
    pub records: Vec<Record>,
    /// Records of each preview campaign waiting to be dialled, oldest first.
    waiting: [VecDeque<usize>; N_CAMPAIGNS],
}

impl Book {
    pub fn waiting(&self, campaign: usize) -> usize {
        self.waiting[campaign].len()
    }

    /// A batch of records uploaded to a preview campaign at `at`.
    pub fn upload(&mut self, campaign: usize, n: usize, at: i64, rng: &mut Rng, pool: u32) {
        for k in 0..n {
            let cust = Cust::known(rng.below(u64::from(pool)) as u32 + 1);
            // Uploads take a few seconds per thousand rows.
            let created = at + (k as i64) * 7;
            let idx = self.push(campaign, cust, created, rng, None);
            self.waiting[campaign].push_back(idx);
        }
    }

    /// A record created when a caller asked to be called back.
    pub fn callback(&mut self, cust: Cust, at: i64, rng: &mut Rng, queue: &'static str) -> usize {
        self.push(super::world::CMP_CALLBACK, cust, at, rng, Some(queue))
    }

    fn push(
        &mut self,
        campaign: usize,
        cust: Cust,
        created: i64,
        rng: &mut Rng,
        reason: Option<&'static str>,
    ) -> usize {
        let extra_phones = if reason.is_some() {
            0
        } else if rng.chance(0.08) {
            2
        } else if rng.chance(0.25) {
            1
        } else {
            0
        };
        self.records.push(Record {
            campaign,
            cust,
            created,
            status: Status::New,
            since: created,
            new_ms: 0,
            processing_ms: 0,
            rescheduled_ms: 0,
            ring_s: 0,
            talk_s: 0,
            attempts: 0,
            closed: None,
            next_try: created,
            extra_phones,
            tariff: rng.index(TARIFFS.len()),
            reason,
        });
        self.records.len() - 1
    }

    /// The next record of a preview campaign that may be dialled at `t`.
    pub fn take(&mut self, campaign: usize, t: i64) -> Option<usize> {
        let queue = &mut self.waiting[campaign];
        let pos = queue
            .iter()
            .take(50)
            .position(|&r| self.records[r].next_try <= t)?;
        queue.remove(pos)
    }

    /// The number a dial attempt uses: the primary one first, then the others.
    pub fn phone(&self, r: usize) -> String {
        let rec = &self.records[r];
        match (rec.attempts, rec.extra_phones) {
            (2, 1..) => rec.cust.landline(),
            (3.., 2) => second_mobile(&rec.cust),
            _ => rec.cust.phone(),
        }
    }

    pub fn start_attempt(&mut self, r: usize, t: i64) {
        let rec = &mut self.records[r];
        let spent = (t - rec.since).max(0);
        match rec.status {
            Status::New => rec.new_ms += spent,
            Status::Rescheduled => rec.rescheduled_ms += spent,
            Status::Processing => rec.processing_ms += spent,
            Status::Closed => {}
        }
        rec.status = Status::Processing;
        rec.since = t;
        rec.attempts += 1;
    }

    /// Ends a dial attempt; unanswered records are rescheduled for another day until
    /// they run out of attempts.
    pub fn finish_attempt(
        &mut self,
        r: usize,
        end: i64,
        ring_s: i64,
        talk_s: i64,
        reached: bool,
        rng: &mut Rng,
    ) {
        let rec = &mut self.records[r];
        rec.processing_ms += (end - rec.since).max(0);
        rec.ring_s += ring_s;
        rec.talk_s += talk_s;
        rec.since = end;
        if reached || (rec.reason.is_none() && rec.attempts >= MAX_ATTEMPTS) {
            rec.status = Status::Closed;
            rec.closed = Some(end);
        } else {
            // Callback records wait for a retry that falls after the history ends.
            rec.status = Status::Rescheduled;
            rec.next_try = end + DAY + rng.range(-3 * HOUR, 3 * HOUR);
            if rec.reason.is_none() {
                let campaign = rec.campaign;
                self.waiting[campaign].push_back(r);
            }
        }
    }

    /// Writes CampaignRecords and their registrations, custom fields and additional
    /// phone numbers, as they stand at `end`.
    pub fn write(&self, out: &mut Out<'_>, conn: &mut Conn, end: i64) -> Result<(), StoreError> {
        let mut field_n = 0u64;
        let mut phone_n = 0u64;
        for (i, rec) in self.records.iter().enumerate() {
            let rid = id("rec", i as u64 + 1);
            let spent = (end - rec.since).max(0);
            let (mut new_ms, mut proc_ms, mut resched_ms) =
                (rec.new_ms, rec.processing_ms, rec.rescheduled_ms);
            match rec.status {
                Status::New => new_ms += spent,
                Status::Processing => proc_ms += spent,
                Status::Rescheduled => resched_ms += spent,
                Status::Closed => {}
            }
            let (first, last) = rec.cust.names();
            let campaign = CAMPAIGNS[rec.campaign].id;
            out.records
                .text("id", rid.clone())
                .text("campaignId", campaign)
                .time("createdAt", rec.created)
                .opt_time("closedAt", rec.closed)
                .text("customerFirstName", first)
                .text("customerLastName", last)
                .text("customerPhone", rec.cust.phone())
                .int("newStatusDuration", secs(new_ms))
                .int("queuedStatusDuration", secs(proc_ms))
                .int("rescheduledStatusDuration", secs(resched_ms))
                .text("status", rec.status.name())
                .int("totalCustomerRingTimeInSeconds", rec.ring_s)
                .int("totalTalkTimeInSeconds", rec.talk_s);
            out.records.end_row(conn)?;

            out.registrations
                .text("id", id("reg", i as u64 + 1))
                .text("campaignRecordId", rid.clone())
                .text("campaignId", campaign)
                .text("customerFirstName", first)
                .text("customerLastName", last)
                .text("customerPhone", rec.cust.phone())
                .time("registeredAt", rec.created);
            out.registrations.end_row(conn)?;

            let key = rec.cust.key;
            let mut fields: Vec<(&'static str, Option<String>)> = Vec::with_capacity(4);
            match rec.reason {
                Some(queue) => {
                    fields.push((
                        "callbackReason",
                        Some("Requested while waiting in queue".to_string()),
                    ));
                    fields.push(("originalQueue", Some(queue.to_string())));
                }
                None => {
                    fields.push((
                        "contractNumber",
                        Some(format!("DE-{:08}", key % 100_000_000)),
                    ));
                    fields.push(("tariff", Some(TARIFFS[rec.tariff].to_string())));
                    let meter = (key >> 33) % 4;
                    fields.push((
                        "meterType",
                        METERS.get(meter as usize).map(|m| m.to_string()),
                    ));
                    if rec.campaign == super::world::CMP_RENEWAL {
                        let month = 1 + (key >> 37) % 12;
                        fields.push(("renewalDue", Some(format!("2027-{month:02}-01"))));
                    }
                }
            }
            for (name, value) in fields {
                field_n += 1;
                out.record_fields
                    .text("id", id("rcf", field_n))
                    .text("campaignRecordId", rid.clone())
                    .text("customFieldName", name)
                    .opt_text("customFieldValue", value);
                out.record_fields.end_row(conn)?;
            }
            let mut phones = Vec::new();
            if rec.extra_phones >= 1 {
                phones.push(rec.cust.landline());
            }
            if rec.extra_phones >= 2 {
                phones.push(second_mobile(&rec.cust));
            }
            for phone in phones {
                phone_n += 1;
                out.record_phones
                    .text("id", id("rph", phone_n))
                    .text("campaignRecordId", rid.clone())
                    .text("phoneNumber", phone);
                out.record_phones.end_row(conn)?;
            }
        }
        Ok(())
    }
}

fn second_mobile(c: &Cust) -> String {
    format!("+3620{:07}", (c.key >> 12) % 10_000_000)
}
