//! Timestamps as they appear in `t'…'` literals: RFC 3339 in UTC with a `Z` suffix.

use std::cmp::Ordering;

/// A validated timestamp from a `t'…'` literal.
///
/// Fields are exactly as written; `fraction` holds the digits after the `.` (possibly empty) so
/// that no precision is lost. Comparison orders instants, so `…:00.5Z` equals `…:00.50Z`.
#[derive(Clone, Copy, Debug)]
pub struct Timestamp<'a> {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    /// 0 to 60; 60 is a leap second, accepted only at 23:59.
    pub second: u8,
    /// The fractional-second digits, without the dot; empty when there is none.
    pub fraction: &'a str,
}

fn digit(b: u8) -> Option<u8> {
    b.is_ascii_digit().then(|| b - b'0')
}

fn two(bytes: &[u8], i: usize) -> Option<u8> {
    Some(digit(*bytes.get(i)?)? * 10 + digit(*bytes.get(i + 1)?)?)
}

/// The length of a timestamp at the start of `s` (up to and including its `Z`) when it matches
/// the grammar's `TimestampLiteral` body: field ranges are checked (month 01–12, day 01–31,
/// hour 00–23, minute 00–59, second 00–60), calendar validity is not.
pub(crate) fn syntax_len(s: &[u8]) -> Option<usize> {
    let year_ok = s.len() >= 20 && s[..4].iter().all(u8::is_ascii_digit);
    if !year_ok || s[4] != b'-' || s[7] != b'-' || s[10] != b'T' || s[13] != b':' {
        return None;
    }
    if s[16] != b':' {
        return None;
    }
    let month = two(s, 5)?;
    let day = two(s, 8)?;
    let hour = two(s, 11)?;
    let minute = two(s, 14)?;
    let second = two(s, 17)?;
    let ranges_ok = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour <= 23
        && minute <= 59
        && second <= 60;
    if !ranges_ok {
        return None;
    }
    let mut i = 19;
    if s.get(i) == Some(&b'.') {
        let n = s[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        i += 1 + n;
    }
    (s.get(i) == Some(&b'Z')).then_some(i + 1)
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
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

impl<'a> Timestamp<'a> {
    /// Parses the text inside `t'…'`, e.g. `2016-06-01T01:30:00.123Z`, checking that the date
    /// exists. Returns `None` for anything else.
    pub fn parse(text: &'a str) -> Option<Self> {
        Self::parse_explained(text).ok()
    }

    /// Like [`Timestamp::parse`], but says what is wrong.
    pub(crate) fn parse_explained(text: &'a str) -> Result<Self, String> {
        let s = text.as_bytes();
        if syntax_len(s) != Some(s.len()) {
            return Err("it is not of the form YYYY-MM-DDThh:mm:ss[.fraction]Z".to_owned());
        }
        let year = s[..4]
            .iter()
            .fold(0u16, |acc, &b| acc * 10 + u16::from(b - b'0'));
        // `syntax_len` has checked every digit, so these cannot fail.
        let field = |i| two(s, i).unwrap_or(0);
        let ts = Timestamp {
            year,
            month: field(5),
            day: field(8),
            hour: field(11),
            minute: field(14),
            second: field(17),
            fraction: if s.len() > 20 {
                &text[20..text.len() - 1]
            } else {
                ""
            },
        };
        let dim = days_in_month(ts.year, ts.month);
        if ts.day > dim {
            return Err(format!(
                "{} {} has only {} days",
                MONTHS[usize::from(ts.month - 1)],
                ts.year,
                dim
            ));
        }
        if ts.second == 60 && (ts.hour != 23 || ts.minute != 59) {
            return Err("a leap second (:60) can only follow 23:59".to_owned());
        }
        Ok(ts)
    }

    /// Seconds since 1970-01-01T00:00:00Z (a leap second counts as the next second's start).
    pub fn unix_seconds(&self) -> i64 {
        // Howard Hinnant's days-from-civil algorithm: exact for the proleptic Gregorian calendar.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// The fractional second in nanoseconds (digits beyond the ninth are truncated).
    pub fn nanos(&self) -> u32 {
        let mut n = 0u32;
        for i in 0..9 {
            let d = self
                .fraction
                .as_bytes()
                .get(i)
                .map_or(0, |b| u32::from(b - b'0'));
            n = n * 10 + d;
        }
        n
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
        assert_eq!(syntax_len(b"2016-01-01T00:00:00Z"), Some(20));
        assert_eq!(syntax_len(b"2016-01-01T00:00:00.123Z'"), Some(24));
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
            "2016-01-01t00:00:00Z",
            "2016/01/01T00:00:00Z",
            "not-a-timestamp",
        ] {
            assert_eq!(syntax_len(bad.as_bytes()), None, "{bad}");
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
