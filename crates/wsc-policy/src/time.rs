//! Points in time (`valid_until`) and lengths of time (`max_age`).

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::de::DATETIME;

/// A point in time, UTC, to the nanosecond. In TOML a date-time with an
/// offset (`2027-06-30T00:00:00Z`); in JSON the same as an RFC 3339 string.
/// Local date-times and dates alone are refused: they name no instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

impl Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix_seconds(self) -> i64 {
        self.secs
    }

    /// Nanoseconds within the second.
    pub fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    /// Parses an RFC 3339 date-time with an offset (TOML's syntax).
    pub fn parse(text: &str) -> Result<Self, String> {
        let dt: toml::value::Datetime =
            text.parse().map_err(|_| format!("\"{text}\" is not a date-time such as 2027-06-30T00:00:00Z"))?;
        let (Some(date), Some(time), Some(offset)) = (dt.date, dt.time, dt.offset) else {
            return Err(format!("\"{text}\" is not a full date-time with an offset (such as 2027-06-30T00:00:00Z)"));
        };
        let month_len = match date.month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if is_leap(i64::from(date.year)) => 29,
            2 => 28,
            _ => 0,
        };
        let (Some(second), nanos) = (time.second, time.nanosecond.unwrap_or(0)) else {
            return Err(format!("\"{text}\" has no seconds"));
        };
        if date.day == 0 || date.day > month_len || time.hour > 23 || time.minute > 59 || second > 59 {
            return Err(format!("\"{text}\" is not a valid date-time"));
        }
        let offset_minutes = match offset {
            toml::value::Offset::Z => 0,
            toml::value::Offset::Custom { minutes } => i64::from(minutes),
        };
        let days = days_from_civil(i64::from(date.year), u32::from(date.month), u32::from(date.day));
        let secs = days * 86_400 + i64::from(time.hour) * 3600 + i64::from(time.minute) * 60 + i64::from(second)
            - offset_minutes * 60;
        Ok(Timestamp { secs, nanos })
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC: `2027-06-30T00:00:00Z`, with the fraction only
    /// when there is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.secs.div_euclid(86_400));
        let s = self.secs.rem_euclid(86_400);
        write!(f, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)?;
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a date-time such as 2027-06-30T00:00:00Z")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_newtype_struct(DATETIME, V)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A length of time: a positive whole number of `s`, `m`, `h` or `d`
/// (`365d`), at most 100 years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Age {
    secs: u64,
}

const MAX_AGE_SECS: u64 = 36_500 * 86_400;

impl Age {
    /// The length in seconds.
    pub fn as_secs(self) -> u64 {
        self.secs
    }

    /// Parses `<n>s`, `<n>m`, `<n>h` or `<n>d`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("\"{text}\" is not a length of time such as 30d, 12h, 90m or 3600s");
        let last = text.chars().last().ok_or_else(bad)?;
        let digits = &text[..text.len() - last.len_utf8()];
        let unit = match last {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let secs = n.checked_mul(unit).ok_or_else(bad)?;
        if secs == 0 {
            return Err(format!("\"{text}\" is zero: a max_age must be positive"));
        }
        if secs > MAX_AGE_SECS {
            return Err(format!("\"{text}\" is longer than 100 years"));
        }
        Ok(Age { secs })
    }
}

impl fmt::Display for Age {
    /// In the largest unit that divides it: 8760h is written 365d.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, name) in [(86_400, "d"), (3600, "h"), (60, "m")] {
            if self.secs % unit == 0 {
                return write!(f, "{}{name}", self.secs / unit);
            }
        }
        write!(f, "{}s", self.secs)
    }
}

impl<'de> Deserialize<'de> for Age {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <&str>::deserialize(d)?;
        Age::parse(s).map_err(de::Error::custom)
    }
}

impl Serialize for Age {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Timestamp {
    /// The instant `secs` seconds after 1970-01-01T00:00:00Z.
    pub(crate) fn from_unix_seconds(secs: i64) -> Self {
        Timestamp { secs, nanos: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_normalize_to_utc() {
        let cases: &[(&str, Option<(i64, &str)>)] = &[
            ("1970-01-01T00:00:00Z", Some((0, "1970-01-01T00:00:00Z"))),
            ("2027-06-30T00:00:00Z", Some((1_814_313_600, "2027-06-30T00:00:00Z"))),
            ("2027-06-30T02:00:00+02:00", Some((1_814_313_600, "2027-06-30T00:00:00Z"))),
            ("2024-02-29T23:59:59.250Z", Some((1_709_251_199, "2024-02-29T23:59:59.25Z"))),
            ("1969-12-31T23:59:59Z", Some((-1, "1969-12-31T23:59:59Z"))),
            ("2023-02-29T00:00:00Z", None),
            ("2027-06-30T00:00:00", None),
            ("2027-06-30", None),
            ("00:00:00", None),
            ("tomorrow", None),
            ("", None),
        ];
        for (text, want) in cases {
            match (Timestamp::parse(text), want) {
                (Ok(t), Some((secs, shown))) => {
                    assert_eq!((t.unix_seconds(), t.to_string().as_str()), (*secs, *shown), "{text}");
                }
                (Err(_), None) => {}
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn ages_parse_and_normalize() {
        let cases: &[(&str, Option<(u64, &str)>)] = &[
            ("365d", Some((31_536_000, "365d"))),
            ("8760h", Some((31_536_000, "365d"))),
            ("90m", Some((5400, "90m"))),
            ("61s", Some((61, "61s"))),
            ("0d", None),
            ("d", None),
            ("1w", None),
            ("-1d", None),
            ("1.5d", None),
            ("36501d", None),
            ("99999999999999999999d", None),
            ("", None),
            ("5\u{e9}", None),
            ("\u{e9}d", None),
        ];
        for (text, want) in cases {
            match (Age::parse(text), want) {
                (Ok(a), Some((secs, shown))) => assert_eq!((a.as_secs(), a.to_string().as_str()), (*secs, *shown)),
                (Err(_), None) => {}
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }
}
