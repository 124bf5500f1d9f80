//! The working-day calendar: which days count towards a deadline. Weekends are rest days
//! unless the calendar file names them as make-up working days (调休); listed public
//! holidays are rest days even on weekdays.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

/// A civil date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    pub fn parse(text: &str) -> Option<Date> {
        let mut parts = text.trim().splitn(3, '-');
        let year = parts.next()?.parse().ok()?;
        let month = parts.next()?.parse().ok()?;
        let day = parts.next()?.parse().ok()?;
        let date = Date { year, month, day };
        (Date::from_days(date.days()) == date).then_some(date)
    }

    /// Days since 1970-01-01 (the proleptic Gregorian count of days from civil).
    pub fn days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    pub fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// Monday is 0, Sunday is 6.
    pub fn weekday(self) -> u32 {
        (self.days() + 3).rem_euclid(7) as u32
    }

    pub fn next(self) -> Date {
        Date::from_days(self.days() + 1)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarFile {
    pub utc_offset_hours: i32,
    #[serde(rename = "year", default)]
    pub years: Vec<YearEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YearEntry {
    pub year: i32,
    #[serde(default)]
    pub holidays: Vec<String>,
    #[serde(default)]
    pub working_weekends: Vec<String>,
}

#[derive(Debug, Default, Clone)]
struct YearDays {
    holidays: BTreeSet<Date>,
    working_weekends: BTreeSet<Date>,
}

#[derive(Debug, Clone)]
pub struct Calendar {
    offset_ms: i64,
    years: BTreeMap<i32, YearDays>,
}

/// A deadline and whether the calendar covered every day counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// The end of the last working day, as UTC milliseconds since the epoch.
    pub at_ms: i64,
    pub last_day: Date,
    /// False when a day beyond the calendar's years was counted by weekends alone.
    pub covered: bool,
}

impl Calendar {
    /// Reads the file's entries; problems come back as `(key, message)` pairs.
    pub fn from_file(file: &CalendarFile) -> Result<Calendar, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let mut years = BTreeMap::new();
        for (i, entry) in file.years.iter().enumerate() {
            let mut days = YearDays::default();
            for (j, text) in entry.holidays.iter().enumerate() {
                match parse_range(text) {
                    Some((first, last))
                        if first <= last && first.year == entry.year && last.year == entry.year =>
                    {
                        let mut day = first;
                        while day <= last {
                            days.holidays.insert(day);
                            day = day.next();
                        }
                    }
                    _ => problems.push((
                        format!("year[{i}].holidays[{j}]"),
                        format!(
                            "{text:?} is not a date or range (YYYY-MM-DD or A..B) in {}",
                            entry.year
                        ),
                    )),
                }
            }
            for (j, text) in entry.working_weekends.iter().enumerate() {
                match Date::parse(text) {
                    Some(date) if date.year == entry.year && date.weekday() >= 5 => {
                        days.working_weekends.insert(date);
                    }
                    _ => problems.push((
                        format!("year[{i}].working_weekends[{j}]"),
                        format!("{text:?} is not a Saturday or Sunday of {}", entry.year),
                    )),
                }
            }
            years.insert(entry.year, days);
        }
        if problems.is_empty() {
            Ok(Calendar {
                offset_ms: i64::from(file.utc_offset_hours) * 3_600_000,
                years,
            })
        } else {
            Err(problems)
        }
    }

    /// Whether `date` is a working day, and whether the calendar knows its year.
    pub fn is_working(&self, date: Date) -> (bool, bool) {
        let weekend = date.weekday() >= 5;
        match self.years.get(&date.year) {
            Some(days) => {
                let working = if weekend {
                    days.working_weekends.contains(&date)
                } else {
                    !days.holidays.contains(&date)
                };
                (working, true)
            }
            None => (!weekend, false),
        }
    }

    /// The UTC instants (ms) from the local midnight that starts `date` to the next one.
    pub fn day_span(&self, date: Date) -> (i64, i64) {
        let start = date.days() * 86_400_000 - self.offset_ms;
        (start, start + 86_400_000)
    }

    /// The local date of a UTC instant.
    pub fn local_date(&self, at_ms: i64) -> Date {
        Date::from_days((at_ms + self.offset_ms).div_euclid(86_400_000))
    }

    /// The end (local midnight) of the `count`-th working day after the day of `from_ms`.
    pub fn working_days_after(&self, from_ms: i64, count: u32) -> Deadline {
        let mut day = self.local_date(from_ms);
        let mut covered = true;
        let mut counted = 0;
        while counted < count {
            day = day.next();
            let (working, known) = self.is_working(day);
            covered &= known;
            if working {
                counted += 1;
            }
        }
        let at_ms = (day.days() + 1) * 86_400_000 - self.offset_ms;
        Deadline {
            at_ms,
            last_day: day,
            covered,
        }
    }

    /// The last year the calendar lists.
    pub fn last_year(&self) -> Option<i32> {
        self.years.keys().next_back().copied()
    }
}

fn parse_range(text: &str) -> Option<(Date, Date)> {
    match text.split_once("..") {
        Some((first, last)) => Some((Date::parse(first)?, Date::parse(last)?)),
        None => Date::parse(text).map(|d| (d, d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../config/calendar.toml");

    fn calendar() -> Calendar {
        Calendar::from_file(&toml::from_str(SHIPPED).unwrap()).unwrap()
    }

    fn date(text: &str) -> Date {
        Date::parse(text).unwrap()
    }

    /// Noon China Standard Time on `text`, as UTC milliseconds.
    fn noon(text: &str) -> i64 {
        date(text).days() * 86_400_000 + 4 * 3_600_000
    }

    #[test]
    fn civil_dates_and_weekdays() {
        assert_eq!(date("1970-01-01").days(), 0);
        assert_eq!(
            Date::from_days(date("2026-12-03").days()),
            date("2026-12-03")
        );
        assert_eq!(date("2026-12-03").weekday(), 3, "a Thursday");
        assert_eq!(date("2024-02-29").next(), date("2024-03-01"));
        assert!(Date::parse("2026-02-30").is_none());
    }

    #[test]
    fn a_deadline_skips_the_weekend() {
        // Finished on Friday 2026-11-27: Monday, Tuesday, Wednesday.
        let deadline = calendar().working_days_after(noon("2026-11-27"), 3);
        assert_eq!(deadline.last_day, date("2026-12-02"));
        assert!(deadline.covered);
        // The end of that day in Beijing is 16:00 UTC.
        assert_eq!(
            deadline.at_ms,
            date("2026-12-02").days() * 86_400_000 + 16 * 3_600_000
        );
    }

    #[test]
    fn a_deadline_skips_public_holidays_and_counts_make_up_working_days() {
        // Finished on Wednesday 2026-09-30: the National Day holiday runs 10-01 to 10-07;
        // Thursday 10-08 and Friday 10-09 are working days, and Saturday 10-10 is a make-up
        // working day (调休).
        let deadline = calendar().working_days_after(noon("2026-09-30"), 3);
        assert_eq!(deadline.last_day, date("2026-10-10"));
    }

    #[test]
    fn a_make_up_sunday_counts_and_the_spring_festival_does_not() {
        let calendar = calendar();
        assert_eq!(calendar.is_working(date("2026-09-20")), (true, true));
        assert_eq!(calendar.is_working(date("2026-02-16")), (false, true));
        // Finished on Friday 2026-02-13: Saturday 02-14 works, then the holiday to 02-23,
        // then Tuesday 02-24 and Wednesday 02-25.
        let deadline = calendar.working_days_after(noon("2026-02-13"), 3);
        assert_eq!(deadline.last_day, date("2026-02-25"));
    }

    #[test]
    fn beyond_the_calendar_the_deadline_is_marked_as_an_estimate() {
        let deadline = calendar().working_days_after(noon("2026-12-30"), 3);
        assert_eq!(deadline.last_day, date("2027-01-04"));
        assert!(!deadline.covered);
    }

    #[test]
    fn a_weekday_named_as_working_weekend_is_refused() {
        let file: CalendarFile = toml::from_str(
            "utc_offset_hours = 8\n[[year]]\nyear = 2026\nworking_weekends = [\"2026-12-03\"]\nholidays = [\"2026-13-01\"]\n",
        )
        .unwrap();
        let problems = Calendar::from_file(&file).unwrap_err();
        assert_eq!(problems.len(), 2);
        assert!(problems[1].1.contains("not a Saturday or Sunday"));
    }
}
