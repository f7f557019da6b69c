//! STIX timestamps.
//!
//! STIX 2.1 (3.2) requires RFC 3339 in UTC with a `Z` and at most nine fraction digits; the
//! compatible profile also accepts a numeric UTC offset, which it converts, because feeds send
//! them and the instant they name is unambiguous. The calendar is checked (no 30 February),
//! which a regular expression alone cannot do.

use std::cmp::Ordering;
use std::fmt;

/// An instant with nanosecond resolution, parsed from a STIX timestamp.
///
/// Equality, hashing and order are those of the instant: `…:00Z` and `…:00.000Z` are the same
/// timestamp written with different precision (the precision only affects [`Display`]).
///
/// [`Display`]: fmt::Display
#[derive(Debug, Clone, Copy)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    secs: i64,
    nanos: u32,
    /// Fraction digits as written, so that the canonical text keeps the producer's precision
    /// (`modified` values are compared as text by some consumers).
    digits: u8,
}

/// Why a timestamp was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("must be an RFC 3339 timestamp such as 2016-05-12T08:17:27.000Z")]
    Format,
    #[error("is not a real date and time")]
    Calendar,
    #[error("must be in UTC and end with 'Z'")]
    NotUtc,
}

impl Timestamp {
    /// Parses the strict STIX form: `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.
    pub fn parse(s: &str) -> Result<Self, TimestampError> {
        Self::parse_with(s, false)
    }

    /// Parses the STIX form, or RFC 3339 with a numeric offset (`+02:00`), which is converted to
    /// UTC. Used by the compatible profile.
    pub fn parse_lenient(s: &str) -> Result<Self, TimestampError> {
        Self::parse_with(s, true)
    }

    fn parse_with(s: &str, allow_offset: bool) -> Result<Self, TimestampError> {
        let b = s.as_bytes();
        if b.len() < 20 {
            return Err(TimestampError::Format);
        }
        if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return Err(TimestampError::Format);
        }
        // The fourteen digits, checked as three words with the separators read as `0`: bytes
        // 0..8 (`YYYY-MM-`), 8..16 (`DDThh:mm`) and 11..19 (`hh:mm:ss`).
        let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        const SEP_0: u64 = 0xFF00_00FF_0000_0000;
        const SEP_1: u64 = 0x0000_FF00_00FF_0000;
        const ZEROS: u64 = 0x3030_3030_3030_3030;
        let digits = |w: u64, sep: u64| all_digits((w & !sep) | (ZEROS & sep));
        if !(digits(word(0), SEP_0) && digits(word(8), SEP_1) && digits(word(11), SEP_1)) {
            return Err(TimestampError::Format);
        }
        let d = |i: usize| u32::from(b[i] - b'0');
        let year = d(0) * 1000 + d(1) * 100 + d(2) * 10 + d(3);
        let (month, day) = (d(5) * 10 + d(6), d(8) * 10 + d(9));
        let (hour, minute, second) = (d(11) * 10 + d(12), d(14) * 10 + d(15), d(17) * 10 + d(18));
        let mut i = 19;
        let mut nanos = 0u32;
        let mut digits = 0u8;
        if b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 9 {
                    nanos = nanos * 10 + u32::from(b[i] - b'0');
                }
                i += 1;
            }
            let n = i - start;
            if n == 0 || n > 9 {
                return Err(TimestampError::Format);
            }
            digits = n as u8;
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
            nanos *= SCALE[n];
        }
        let offset_secs: i64 = match &b[i..] {
            b"Z" => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let digit = |c: u8| -> Result<i64, TimestampError> {
                    if c.is_ascii_digit() {
                        Ok(i64::from(c - b'0'))
                    } else {
                        Err(TimestampError::Format)
                    }
                };
                let (h, m) = (
                    digit(*h1)? * 10 + digit(*h2)?,
                    digit(*m1)? * 10 + digit(*m2)?,
                );
                if h > 23 || m > 59 {
                    return Err(TimestampError::Format);
                }
                if !allow_offset {
                    return Err(TimestampError::NotUtc);
                }
                let off = h * 3600 + m * 60;
                if *sign == b'+' {
                    off
                } else {
                    -off
                }
            }
            _ => return Err(TimestampError::Format),
        };
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return Err(TimestampError::Calendar);
        }
        let days = days_from_civil(i64::from(year), month, day);
        let secs =
            days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
                - offset_secs;
        Ok(Timestamp {
            secs,
            nanos,
            digits,
        })
    }

    /// The instant `secs` seconds and `nanos` nanoseconds after the epoch, written with the
    /// fewest of 3, 6 or 9 fraction digits that hold it exactly (milliseconds at least, as
    /// STIX 2.1 recommends for `created` and `modified`).
    pub fn from_unix(secs: i64, nanos: u32) -> Self {
        let nanos_norm = nanos % 1_000_000_000;
        let digits = if nanos_norm.is_multiple_of(1_000_000) {
            3
        } else if nanos_norm.is_multiple_of(1_000) {
            6
        } else {
            9
        };
        Timestamp {
            secs: secs + i64::from(nanos / 1_000_000_000),
            nanos: nanos_norm,
            digits,
        }
    }

    /// The current time, to the millisecond (STIX 2.1 recommends millisecond precision for
    /// `created` and `modified`).
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_unix(d.as_secs() as i64, d.subsec_millis() * 1_000_000)
    }

    pub fn unix_seconds(&self) -> i64 {
        self.secs
    }

    pub fn subsec_nanos(&self) -> u32 {
        self.nanos
    }

    /// Nanoseconds since the epoch; fits i64 for years 1678–2261, and saturates outside them.
    pub fn unix_nanos(&self) -> i64 {
        self.secs
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(self.nanos))
    }
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Self) -> bool {
        (self.secs, self.nanos) == (other.secs, other.nanos)
    }
}

impl Eq for Timestamp {}

impl std::hash::Hash for Timestamp {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.secs, self.nanos).hash(state);
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    /// Instants compare by time only; precision does not make a timestamp later.
    fn cmp(&self, other: &Self) -> Ordering {
        (self.secs, self.nanos).cmp(&(other.secs, other.nanos))
    }
}

impl fmt::Display for Timestamp {
    /// The canonical STIX text, in UTC with the original number of fraction digits (at least
    /// milliseconds, as STIX 2.1 recommends for `created` and `modified`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )?;
        let digits = self.digits.max(3) as usize;
        let frac = format!("{:09}", self.nanos);
        write!(f, ".{}Z", &frac[..digits])
    }
}

fn is_leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
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

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days: exact for the proleptic Gregorian
// calendar, no tables.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_words_agree_with_byte_checks() {
        let good = *b"2016-05-12T08:17:27.000Z";
        assert!(Timestamp::parse(std::str::from_utf8(&good).unwrap()).is_ok());
        let digit_at = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
        for i in 0..19 {
            for c in 0u8..128 {
                let mut b = good;
                b[i] = c;
                let s = std::str::from_utf8(&b).unwrap();
                let shape_ok = if digit_at.contains(&i) {
                    c.is_ascii_digit()
                } else {
                    c == good[i]
                };
                if !shape_ok {
                    assert_eq!(Timestamp::parse(s), Err(TimestampError::Format), "{s}");
                }
            }
        }
    }
    use proptest::prelude::*;

    #[test]
    fn accepts_stix_forms() {
        let t = Timestamp::parse("2016-05-12T08:17:27.000Z").unwrap();
        assert_eq!(t.unix_seconds(), 1_463_041_047);
        assert_eq!(t.to_string(), "2016-05-12T08:17:27.000Z");
        assert_eq!(
            Timestamp::parse("2016-05-12T08:17:27Z")
                .unwrap()
                .to_string(),
            "2016-05-12T08:17:27.000Z"
        );
        assert_eq!(
            Timestamp::parse("2016-05-12T08:17:27.123456789Z")
                .unwrap()
                .to_string(),
            "2016-05-12T08:17:27.123456789Z"
        );
        assert!(Timestamp::parse("2024-02-29T00:00:00Z").is_ok());
    }

    #[test]
    fn refuses_what_is_not_a_stix_timestamp() {
        use TimestampError::*;
        for (s, e) in [
            ("2023-13-45T25:61:00Z", Calendar),
            ("2023/07/01 12:00:00", Format),
            ("07/01/2023", Format),
            ("2023-02-30T10:00:00", Format),
            ("2023-02-30T10:00:00Z", Calendar),
            ("yesterday", Format),
            ("2023-07-01T12:00:00.000+02:00x", Format),
            ("2023-07-01T12:00:00.000+02:00", NotUtc),
            ("2023-07-01T12:00:00.Z", Format),
            ("2023-07-01T12:00:00.1234567890Z", Format),
            ("2023-02-29T00:00:00Z", Calendar),
        ] {
            assert_eq!(Timestamp::parse(s), Err(e), "{s}");
        }
    }

    #[test]
    fn lenient_converts_offsets() {
        let t = Timestamp::parse_lenient("2023-07-01T12:00:00.000+02:00").unwrap();
        assert_eq!(t.to_string(), "2023-07-01T10:00:00.000Z");
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(secs in -62_135_596_800i64..253_402_300_799, nanos in 0u32..1_000_000_000) {
            let t = Timestamp { secs, nanos, digits: 9 };
            let back = Timestamp::parse(&t.to_string()).unwrap();
            prop_assert_eq!(back, t);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = Timestamp::parse_lenient(&s);
        }
    }
}
