//! STIX timestamps.
//!
//! STIX 2.1 (3.2) requires RFC 3339 in UTC with a `Z` and at most nine fraction digits; the
//! compatible profile also accepts a numeric UTC offset, which it converts, because feeds send
//! them and the instant they name is unambiguous. The calendar is checked (no 30 February),
//! which a regular expression alone cannot do. The parsing and the calendar are
//! `stix_pattern::timestamp`'s, shared with pattern literals; this type holds the instant.

use std::cmp::Ordering;
use std::fmt;

use stix_pattern::timestamp::{self, civil_from_days, Rules};

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
        let rules = Rules {
            allow_offset,
            max_fraction_digits: 9,
        };
        let (written, offset) = timestamp::parse_with(s, rules).map_err(|e| match e {
            timestamp::TimestampError::Shape => TimestampError::Format,
            timestamp::TimestampError::NotUtc => TimestampError::NotUtc,
            timestamp::TimestampError::Range
            | timestamp::TimestampError::NoSuchDay { .. }
            | timestamp::TimestampError::LeapSecond => TimestampError::Calendar,
        })?;
        Ok(Timestamp {
            secs: written.unix_seconds() - i64::from(offset),
            nanos: written.nanos(),
            digits: written.fraction.len() as u8,
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
