//! RFC 3339 timestamps as STIX writes them: one parser and one calendar for the pattern
//! language (`t'…'` literals) and for objects (`created`, `modified`, …; `stix::Timestamp` is
//! built on [`parse_with`]), so that the two cannot disagree on what a date is.
//!
//! Three stages, each with its own error: the shape (`YYYY-MM-DDThh:mm:ss[.fraction]` then `Z`
//! or, where allowed, `±hh:mm`), the field ranges (month 01–12, day 01–31, hour 00–23, minute
//! 00–59, second 00–60), and the calendar (the day exists in its month; a leap second only at
//! 23:59:60 UTC, the one place RFC 3339 puts it). The pattern grammar treats the first two as
//! syntax and the third as a semantic check; objects refuse all three alike.

use std::cmp::Ordering;

/// A timestamp's fields exactly as written.
///
/// For a `t'…'` literal these are in UTC. `fraction` holds the digits after the `.` (possibly
/// empty) so that no precision is lost. Comparison orders instants, so `…:00.5Z` equals
/// `…:00.50Z`.
#[derive(Clone, Copy, Debug)]
pub struct Timestamp<'a> {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    /// 0 to 60; 60 is a leap second, accepted only at 23:59 UTC.
    pub second: u8,
    /// The fractional-second digits, without the dot; empty when there is none.
    pub fraction: &'a str,
}

/// Why a text is not a timestamp, by stage (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampError {
    /// Not of the form `YYYY-MM-DDThh:mm:ss[.fraction]Z` (or `±hh:mm` where allowed), or more
    /// fraction digits than allowed.
    Shape,
    /// A numeric offset where only `Z` is allowed.
    NotUtc,
    /// A field outside its range (month 13, hour 24, …).
    Range,
    /// A day its month does not have.
    NoSuchDay { year: u16, month: u8, days: u8 },
    /// A leap second (`:60`) anywhere but at 23:59 UTC.
    LeapSecond,
}

/// What [`parse_with`] accepts beyond `YYYY-MM-DDThh:mm:ss[.fraction]Z`.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// A numeric offset (`+02:00`) instead of `Z`.
    pub allow_offset: bool,
    /// The most fraction digits (STIX objects: 9; pattern literals: any).
    pub max_fraction_digits: usize,
}

/// Parses the whole of `text`: its fields as written and its offset east of UTC in seconds
/// (0 for `Z`). The instant is the fields' time minus the offset.
///
/// `stix::Timestamp` parses several timestamps per object through this, so it and the
/// conversions it is followed by are `#[inline]`: the release build has no LTO, and called
/// across crates out of line they took 30% more instructions than the parser `stix` had of its
/// own, inlined 20% (callgrind, BENCHMARKS.md "Issue 12 as a whole").
#[inline]
pub fn parse_with(text: &str, rules: Rules) -> Result<(Timestamp<'_>, i32), TimestampError> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(TimestampError::Shape);
    }
    // The fourteen digits, checked as three words with the separators read as `0`: bytes
    // 0..8 (`YYYY-MM-`), 8..16 (`DDThh:mm`) and 11..19 (`hh:mm:ss`). Objects carry several
    // timestamps each, so this is on validation's hot path.
    let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    const SEP_0: u64 = 0xFF00_00FF_0000_0000;
    const SEP_1: u64 = 0x0000_FF00_00FF_0000;
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    let digits = |w: u64, sep: u64| all_digits((w & !sep) | (ZEROS & sep));
    if !(digits(word(0), SEP_0) && digits(word(8), SEP_1) && digits(word(11), SEP_1)) {
        return Err(TimestampError::Shape);
    }
    let d = |i: usize| b[i] - b'0';
    let two = |i: usize| d(i) * 10 + d(i + 1);
    let mut end = 19;
    let mut fraction = "";
    if b[end] == b'.' {
        let n = b[end + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if n == 0 || n > rules.max_fraction_digits {
            return Err(TimestampError::Shape);
        }
        fraction = &text[end + 1..end + 1 + n];
        end += 1 + n;
    }
    let offset = match offset_seconds(&b[end..])? {
        Some(_) if !rules.allow_offset => return Err(TimestampError::NotUtc),
        offset => offset.unwrap_or(0),
    };
    let ts = Timestamp {
        year: u16::from(two(0)) * 100 + u16::from(two(2)),
        month: two(5),
        day: two(8),
        hour: two(11),
        minute: two(14),
        second: two(17),
        fraction,
    };
    if !(1..=12).contains(&ts.month)
        || !(1..=31).contains(&ts.day)
        || ts.hour > 23
        || ts.minute > 59
        || ts.second > 60
    {
        return Err(TimestampError::Range);
    }
    let days = days_in_month(ts.year, ts.month);
    if ts.day > days {
        return Err(TimestampError::NoSuchDay {
            year: ts.year,
            month: ts.month,
            days,
        });
    }
    let minute_of_day = i32::from(ts.hour) * 60 + i32::from(ts.minute);
    if ts.second == 60 && (minute_of_day * 60 - offset).rem_euclid(86_400) != 86_340 {
        return Err(TimestampError::LeapSecond);
    }
    Ok((ts, offset))
}

/// `Z` (None) or `±hh:mm` (its seconds east of UTC); anything else is no timestamp's end.
fn offset_seconds(tail: &[u8]) -> Result<Option<i32>, TimestampError> {
    match tail {
        b"Z" => Ok(None),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]
            if [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()) =>
        {
            let (h, m) = (
                i32::from((h1 - b'0') * 10 + (h2 - b'0')),
                i32::from((m1 - b'0') * 10 + (m2 - b'0')),
            );
            if h > 23 || m > 59 {
                return Err(TimestampError::Shape);
            }
            let seconds = h * 3600 + m * 60;
            Ok(Some(if *sign == b'+' { seconds } else { -seconds }))
        }
        _ => Err(TimestampError::Shape),
    }
}

/// Whether all eight bytes of `w` are ASCII digits.
fn all_digits(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    // For bytes below 0x80, adding 0x50 sets a byte's high bit exactly when it is >= '0', and
    // adding 0x46 exactly when it is > '9'; no addition carries into the next byte.
    let ge0 = w.wrapping_add(ONES * 0x50);
    let gt9 = w.wrapping_add(ONES * 0x46);
    w & HIGH == 0 && ge0 & !gt9 & HIGH == HIGH
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// The days of `month` (1–12) in `year`, in the proleptic Gregorian calendar.
#[inline]
pub fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days: exact for the proleptic Gregorian
// calendar, no tables.

/// Days since 1970-01-01 of a date (month 1–12).
#[inline]
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month 1–12, day) `z` days after 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A `t'…'` literal: UTC (`Z`), any number of fraction digits.
const LITERAL: Rules = Rules {
    allow_offset: false,
    max_fraction_digits: usize::MAX,
};

/// Whether `text`, the inside of a `t'…'` literal, is a timestamp as far as the grammar says:
/// its shape and field ranges. Whether the day exists is [`Timestamp::parse_explained`]'s.
pub(crate) fn is_literal_syntax(text: &str) -> bool {
    !matches!(
        parse_with(text, LITERAL),
        Err(TimestampError::Shape | TimestampError::NotUtc | TimestampError::Range)
    )
}

impl<'a> Timestamp<'a> {
    /// Parses the text inside `t'…'`, e.g. `2016-06-01T01:30:00.123Z`, checking that the date
    /// exists. Returns `None` for anything else.
    pub fn parse(text: &'a str) -> Option<Self> {
        Self::parse_explained(text).ok()
    }

    /// Like [`Timestamp::parse`], but says what is wrong.
    pub(crate) fn parse_explained(text: &'a str) -> Result<Self, String> {
        match parse_with(text, LITERAL) {
            Ok((ts, _)) => Ok(ts),
            Err(TimestampError::NoSuchDay { year, month, days }) => Err(format!(
                "{} {year} has only {days} days",
                MONTHS[usize::from(month - 1)]
            )),
            Err(TimestampError::LeapSecond) => {
                Err("a leap second (:60) can only follow 23:59".to_owned())
            }
            Err(_) => Err("it is not of the form YYYY-MM-DDThh:mm:ss[.fraction]Z".to_owned()),
        }
    }

    /// Seconds since 1970-01-01T00:00:00 of the fields as written (a leap second counts as the
    /// next second's start).
    #[inline]
    pub fn unix_seconds(&self) -> i64 {
        days_from_civil(
            i64::from(self.year),
            u32::from(self.month),
            u32::from(self.day),
        ) * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// The fractional second in nanoseconds (digits beyond the ninth are truncated).
    #[inline]
    pub fn nanos(&self) -> u32 {
        const SCALE: [u32; 10] = [
            1_000_000_000,
            100_000_000,
            10_000_000,
            1_000_000,
            100_000,
            10_000,
            1_000,
            100,
            10,
            1,
        ];
        let digits = &self.fraction.as_bytes()[..self.fraction.len().min(9)];
        let n = digits
            .iter()
            .fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
        n * SCALE[digits.len()]
    }
}

impl Ord for Timestamp<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        let whole = (
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
        )
            .cmp(&(
                other.year,
                other.month,
                other.day,
                other.hour,
                other.minute,
                other.second,
            ));
        whole.then_with(|| {
            // Compare fractions digit by digit, padding the shorter with zeros, so that any
            // precision compares exactly.
            let (a, b) = (self.fraction.as_bytes(), other.fraction.as_bytes());
            (0..a.len().max(b.len()))
                .map(|i| {
                    let x = a.get(i).copied().unwrap_or(b'0');
                    let y = b.get(i).copied().unwrap_or(b'0');
                    x.cmp(&y)
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
    }
}

impl PartialOrd for Timestamp<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Timestamp<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Timestamp<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax() {
        assert!(is_literal_syntax("2016-01-01T00:00:00Z"));
        assert!(is_literal_syntax("2016-01-01T00:00:00.123456789012Z"));
        assert!(
            is_literal_syntax("2016-02-30T00:00:00Z"),
            "the calendar is not syntax"
        );
        for bad in [
            "2016-00-01T00:00:00Z",
            "2016-13-01T00:00:00Z",
            "2016-01-00T00:00:00Z",
            "2016-01-32T00:00:00Z",
            "2016-01-01T24:00:00Z",
            "2016-01-01T00:60:00Z",
            "2016-01-01T00:00:61Z",
            "2016-01-01T00:00:00.Z",
            "2016-01-01T00:00:00",
            "2016-01-01T00:00:00+01:00",
            "2016-01-01t00:00:00Z",
            "2016/01/01T00:00:00Z",
            "not-a-timestamp",
        ] {
            assert!(!is_literal_syntax(bad), "{bad}");
        }
    }

    #[test]
    fn offsets_and_leap_seconds() {
        let objects = Rules {
            allow_offset: true,
            max_fraction_digits: 9,
        };
        let (ts, offset) = parse_with("2016-12-31T23:59:60.5+00:00", objects).unwrap();
        assert_eq!((ts.second, ts.fraction, offset), (60, "5", 0));
        assert_eq!(
            parse_with("2017-01-01T01:59:60+02:00", objects).unwrap().1,
            7200
        );
        let refused = [
            (
                "2017-01-01T00:59:60+02:00",
                objects,
                TimestampError::LeapSecond,
            ),
            (
                "2016-01-01T00:00:00.1234567890Z",
                objects,
                TimestampError::Shape,
            ),
            ("2016-01-01T00:00:00+24:00", objects, TimestampError::Shape),
            ("2016-01-01T00:00:00-01:00", LITERAL, TimestampError::NotUtc),
        ];
        for (text, rules, error) in refused {
            assert_eq!(parse_with(text, rules).unwrap_err(), error, "{text}");
        }
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (1969, 12, 31), (2400, 12, 31)] {
            assert_eq!(civil_from_days(days_from_civil(y, m, d)), (y, m, d));
        }
    }

    #[test]
    fn calendar() {
        assert!(Timestamp::parse("2024-02-29T12:00:00Z").is_some());
        assert!(Timestamp::parse("2000-02-29T12:00:00Z").is_some());
        assert_eq!(
            Timestamp::parse_explained("2023-02-29T12:00:00Z").unwrap_err(),
            "February 2023 has only 28 days"
        );
        assert!(Timestamp::parse("1900-02-29T12:00:00Z").is_none());
        assert!(Timestamp::parse("2024-04-31T12:00:00Z").is_none());
        assert!(Timestamp::parse("2016-12-31T23:59:60Z").is_some());
        assert!(Timestamp::parse("2016-12-31T22:59:60Z").is_none());
    }

    #[test]
    fn ordering_and_epoch() {
        let a = Timestamp::parse("2016-06-01T01:30:00.5Z").unwrap();
        let b = Timestamp::parse("2016-06-01T01:30:00.50Z").unwrap();
        let c = Timestamp::parse("2016-06-01T01:30:00.51Z").unwrap();
        assert_eq!(a, b);
        assert!(b < c);
        assert_eq!(a.nanos(), 500_000_000);
        assert_eq!(
            Timestamp::parse("1970-01-01T00:00:00Z")
                .unwrap()
                .unix_seconds(),
            0
        );
        assert_eq!(
            Timestamp::parse("2016-06-01T01:30:00Z")
                .unwrap()
                .unix_seconds(),
            1_464_744_600
        );
        assert_eq!(
            Timestamp::parse("1969-12-31T23:59:59Z")
                .unwrap()
                .unix_seconds(),
            -1
        );
    }
}
