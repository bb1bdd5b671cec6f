//! Time for the demo data: the fixed end of the history, the tenant's local days
//! (Europe/Budapest, DST-correct), opening hours and public holidays, and the
//! tenant-local text form of an instant.
//!
//! All instants are `i64` milliseconds since the Unix epoch, UTC.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Europe::Budapest;

use crate::store::StoreError;

/// The demo history ends at 2026-11-22T00:00:00Z (exclusive), whatever the date
/// today: a fixed end keeps every run byte-identical. See [`HISTORY_END`].
pub const HISTORY_END_MS: i64 = 1_795_305_600_000;
/// [`HISTORY_END_MS`] as text, for documentation and tests.
pub const HISTORY_END: &str = "2026-11-22T00:00:00Z";

pub(super) const SECOND: i64 = 1_000;
pub(super) const MINUTE: i64 = 60 * SECOND;
pub(super) const HOUR: i64 = 60 * MINUTE;
pub(super) const DAY: i64 = 24 * HOUR;

/// Hungarian public holidays of the years the demo history can reach.
const HOLIDAYS: &[(i32, u32, u32)] = &[
    (2024, 1, 1),
    (2024, 3, 15),
    (2024, 3, 29),
    (2024, 4, 1),
    (2024, 5, 1),
    (2024, 5, 20),
    (2024, 8, 20),
    (2024, 10, 23),
    (2024, 11, 1),
    (2024, 12, 25),
    (2024, 12, 26),
    (2025, 1, 1),
    (2025, 3, 15),
    (2025, 4, 18),
    (2025, 4, 21),
    (2025, 5, 1),
    (2025, 6, 9),
    (2025, 8, 20),
    (2025, 10, 23),
    (2025, 11, 1),
    (2025, 12, 25),
    (2025, 12, 26),
    (2026, 1, 1),
    (2026, 3, 15),
    (2026, 4, 3),
    (2026, 4, 6),
    (2026, 5, 1),
    (2026, 5, 25),
    (2026, 8, 20),
    (2026, 10, 23),
    (2026, 11, 1),
];

/// One local hour of a day, clipped to the history window.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    pub start: i64,
    pub end: i64,
    /// Local hour of day, 0–23.
    pub hour: u32,
}

/// One local calendar day of the history.
#[derive(Debug, Clone)]
pub(super) struct Day {
    pub date: NaiveDate,
    /// The part of the day inside the history window.
    pub start: i64,
    pub end: i64,
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u32,
    pub holiday: bool,
    /// Opening hours of the contact center (all channels share them).
    pub open: Option<(i64, i64)>,
    pub slots: Vec<Slot>,
    /// The first 00:00 UTC at or after this day's local midnight: when the nightly
    /// lookup refresh notices a change made the evening before.
    pub refresh: i64,
}

pub(super) struct Calendar {
    pub start: i64,
    pub end: i64,
    pub days: Vec<Day>,
}

impl Calendar {
    pub fn new(days: u32) -> Result<Calendar, StoreError> {
        if days == 0 {
            return Err(StoreError::Invalid(
                "the demo history needs at least one day".into(),
            ));
        }
        let end = HISTORY_END_MS;
        let start = end - i64::from(days) * DAY;
        let first = local_date(start);
        let last = local_date(end - 1);
        let mut out = Vec::new();
        let mut date = first;
        while date <= last {
            let next = date
                .succ_opt()
                .ok_or_else(|| StoreError::Invalid("date out of range".into()))?;
            let midnight = local_to_utc(date, 0);
            let next_midnight = local_to_utc(next, 0);
            let (w0, w1) = (midnight.max(start), next_midnight.min(end));
            let mut slots = Vec::with_capacity(25);
            let mut t = midnight;
            while t < next_midnight {
                let (s, e) = (t.max(w0), (t + HOUR).min(w1));
                if s < e {
                    slots.push(Slot {
                        start: s,
                        end: e,
                        hour: local_hour(t),
                    });
                }
                t += HOUR;
            }
            let weekday = date.weekday().num_days_from_monday();
            let holiday = HOLIDAYS.contains(&(date.year(), date.month(), date.day()));
            let open = match (holiday, weekday) {
                (true, _) | (false, 6) => None,
                (false, 5) => Some((local_to_utc(date, 9 * 3600), local_to_utc(date, 14 * 3600))),
                _ => Some((local_to_utc(date, 8 * 3600), local_to_utc(date, 20 * 3600))),
            };
            let refresh = midnight.div_euclid(DAY) * DAY
                + if midnight.rem_euclid(DAY) == 0 {
                    0
                } else {
                    DAY
                };
            out.push(Day {
                date,
                start: w0,
                end: w1,
                weekday,
                holiday,
                open,
                slots,
                refresh,
            });
            date = next;
        }
        Ok(Calendar {
            start,
            end,
            days: out,
        })
    }

    /// Index of the day containing `t`, if `t` is inside the history.
    pub fn day_of(&self, t: i64) -> Option<usize> {
        let i = self.days.partition_point(|d| d.end <= t);
        (i < self.days.len() && self.days[i].start <= t).then_some(i)
    }

    pub fn is_open(&self, t: i64) -> bool {
        self.day_of(t)
            .and_then(|i| self.days[i].open)
            .is_some_and(|(a, b)| a <= t && t < b)
    }

    /// What a workflow's opening-hours node answers at `t`.
    pub fn opening_check(&self, t: i64) -> &'static str {
        match self.day_of(t).map(|i| &self.days[i]) {
            Some(d) if d.holiday => "Holiday",
            Some(d) if d.open.is_some_and(|(a, b)| a <= t && t < b) => "Open",
            _ => "Closed",
        }
    }

    /// Milliseconds of `[a, b)` that fall inside opening hours.
    pub fn open_ms(&self, a: i64, b: i64) -> i64 {
        let mut total = 0;
        let first = self.days.partition_point(|d| d.end <= a);
        for d in self.days.iter().skip(first) {
            if d.start >= b {
                break;
            }
            if let Some((o1, o2)) = d.open {
                total += (o2.min(b) - o1.max(a)).max(0);
            }
        }
        total
    }

    /// `t` itself when the contact center is open then, otherwise the next opening
    /// time; `None` when there is none before the end of the history.
    pub fn next_open(&self, t: i64) -> Option<i64> {
        let first = self.days.partition_point(|d| d.end <= t);
        self.days
            .iter()
            .skip(first)
            .filter_map(|d| d.open)
            .find(|&(_, close)| t < close)
            .map(|(open, _)| open.max(t))
    }
}

/// Tenant-local calendar date of an instant.
pub(super) fn local_date(ms: i64) -> NaiveDate {
    utc(ms).with_timezone(&Budapest).date_naive()
}

fn local_hour(ms: i64) -> u32 {
    utc(ms).with_timezone(&Budapest).hour()
}

pub(super) fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The instant of a tenant-local wall-clock time (`secs` after local midnight of
/// `date`). A time inside a spring-forward gap maps to the instant just after the
/// gap; an ambiguous autumn time maps to its first occurrence.
pub(super) fn local_to_utc(date: NaiveDate, secs: i64) -> i64 {
    let naive: NaiveDateTime =
        date.and_time(chrono::NaiveTime::MIN) + chrono::Duration::seconds(secs);
    match Budapest.from_local_datetime(&naive).earliest() {
        Some(t) => t.timestamp_millis(),
        None => {
            let later = naive + chrono::Duration::hours(1);
            match Budapest.from_local_datetime(&later).earliest() {
                Some(t) => t.timestamp_millis() - HOUR,
                None => naive.and_utc().timestamp_millis() - HOUR,
            }
        }
    }
}

/// Tenant-local rendering of an instant, `YYYY-MM-DDTHH:MM:SS.sss+hh:mm`, as the row
/// builder derives it.
#[cfg(test)]
pub(super) fn local_text(ms: i64) -> String {
    crate::store::local_text(&utc(ms), &Budapest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::SecondsFormat;

    #[test]
    fn history_end_constants_agree() {
        let t = DateTime::parse_from_rfc3339(HISTORY_END).unwrap();
        assert_eq!(t.timestamp_millis(), HISTORY_END_MS);
    }

    #[test]
    fn local_text_matches_chrono_across_dst_changes() {
        // 2026-03-29 01:00Z spring forward, 2026-10-25 01:00Z fall back.
        let marks = [
            1_774_746_000_000i64,
            1_792_890_000_000,
            HISTORY_END_MS,
            0,
            1_700_000_000_123,
        ];
        for mark in marks {
            for delta in (-3 * HOUR..3 * HOUR).step_by(7 * MINUTE as usize + 1_234) {
                let ms = mark + delta;
                let expected = utc(ms)
                    .with_timezone(&Budapest)
                    .to_rfc3339_opts(SecondsFormat::Millis, false);
                assert_eq!(local_text(ms), expected);
            }
        }
    }

    #[test]
    fn days_follow_local_midnights_and_dst() {
        let cal = Calendar::new(300).unwrap();
        assert_eq!(cal.days.first().unwrap().start, cal.start);
        assert_eq!(cal.days.last().unwrap().end, HISTORY_END_MS);
        for pair in cal.days.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        let spring = cal
            .days
            .iter()
            .find(|d| d.date == NaiveDate::from_ymd_opt(2026, 3, 29).unwrap())
            .unwrap();
        assert_eq!(spring.slots.len(), 23);
        assert_eq!(spring.end - spring.start, 23 * HOUR);
        let autumn = cal
            .days
            .iter()
            .find(|d| d.date == NaiveDate::from_ymd_opt(2026, 10, 25).unwrap())
            .unwrap();
        assert_eq!(autumn.slots.len(), 25);
        let holiday = cal
            .days
            .iter()
            .find(|d| d.date == NaiveDate::from_ymd_opt(2026, 10, 23).unwrap())
            .unwrap();
        assert!(holiday.holiday && holiday.open.is_none());
        let monday = cal
            .days
            .iter()
            .find(|d| d.date == NaiveDate::from_ymd_opt(2026, 11, 16).unwrap())
            .unwrap();
        let (o, c) = monday.open.unwrap();
        assert_eq!(local_text(o), "2026-11-16T08:00:00.000+01:00");
        assert_eq!(local_text(c), "2026-11-16T20:00:00.000+01:00");
        assert_eq!(cal.opening_check(o), "Open");
        assert_eq!(cal.opening_check(c), "Closed");
        assert_eq!(cal.open_ms(o - HOUR, o + HOUR), HOUR);
        assert_eq!(cal.next_open(c), Some(o + DAY));
        assert_eq!(monday.refresh % DAY, 0);
        assert!(monday.refresh > local_to_utc(monday.date, 0));
    }
}
