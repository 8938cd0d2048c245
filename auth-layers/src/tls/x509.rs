//! Just enough X.509 reading to name a certificate and check its validity period.
//!
//! rustls parses certificates for the handshake but does not expose their dates or names, and
//! a full X.509 parser would be the heaviest dependency of the `tls` feature. The fields needed
//! here sit at fixed positions in `TBSCertificate` (RFC 5280 §4.1), so a small DER walk suffices.
//! Anything unexpected yields `None`: callers then skip the check and leave it to the handshake.

use std::{fmt, time::SystemTime};

use auth_core::der::{expect, read};

/// The parts of a certificate shown in `Debug` and checked before the first handshake.
#[derive(Clone)]
pub(crate) struct CertSummary {
    pub(crate) subject: Option<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) not_after: UtcTime,
}

impl CertSummary {
    /// Reads subject and issuer common names and the validity period of a DER certificate.
    pub(crate) fn parse(der: &[u8]) -> Option<Self> {
        let (cert, _) = expect(der, SEQUENCE)?;
        let (tbs, _) = expect(cert, SEQUENCE)?;
        let (tag, _, mut rest) = read(tbs)?;
        // `version` is an optional explicit [0]; when present, the serial number follows it.
        if tag == VERSION {
            rest = skip(rest, INTEGER)?;
        }
        let rest = skip(rest, SEQUENCE)?; // signature algorithm
        let (issuer, rest) = expect(rest, SEQUENCE)?;
        let (validity, rest) = expect(rest, SEQUENCE)?;
        let (subject, _) = expect(rest, SEQUENCE)?;
        // A `notBefore` in the future is left to the server: its clock is the one that counts.
        let (_not_before, after) = time(validity)?;
        let (not_after, _) = time(after)?;
        Some(CertSummary {
            subject: common_name(subject),
            issuer: common_name(issuer),
            not_after,
        })
    }

    /// Whether the certificate's `notAfter` is before `now`.
    pub(crate) fn is_expired_at(&self, now: SystemTime) -> bool {
        let now = match now.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
        };
        self.not_after.0 < now
    }

    /// `CN=…` of the subject, or a placeholder, for messages.
    pub(crate) fn subject_label(&self) -> String {
        label(self.subject.as_deref())
    }

    /// `CN=…` of the issuer, or a placeholder, for messages.
    pub(crate) fn issuer_label(&self) -> String {
        label(self.issuer.as_deref())
    }
}

fn label(cn: Option<&str>) -> String {
    match cn {
        Some(cn) => format!("CN={cn}"),
        None => "no common name".to_owned(),
    }
}

/// A UTC instant in seconds since the Unix epoch, displayed as `2030-01-31 23:59:59 UTC`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct UtcTime(pub(crate) i64);

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

impl fmt::Debug for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const IA5_STRING: u8 = 0x16;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const VERSION: u8 = 0xa0;
/// id-at-commonName, 2.5.4.3.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

fn skip(input: &[u8], tag: u8) -> Option<&[u8]> {
    expect(input, tag).map(|(_, rest)| rest)
}

/// The first common name in a `Name` (a SEQUENCE OF RDN SETs of (type, value) pairs).
fn common_name(mut name: &[u8]) -> Option<String> {
    while !name.is_empty() {
        let (rdn, rest) = expect(name, SET)?;
        name = rest;
        let mut attrs = rdn;
        while !attrs.is_empty() {
            let (attr, rest) = expect(attrs, SEQUENCE)?;
            attrs = rest;
            let (oid, value) = expect(attr, OID)?;
            if oid == COMMON_NAME {
                let (tag, text, _) = read(value)?;
                return match tag {
                    UTF8_STRING | PRINTABLE_STRING | IA5_STRING => {
                        Some(String::from_utf8_lossy(text).into_owned())
                    }
                    _ => None,
                };
            }
        }
    }
    None
}

/// A `Time` (UTCTime `YYMMDDHHMMSSZ` or GeneralizedTime `YYYYMMDDHHMMSSZ`, RFC 5280 §4.1.2.5).
fn time(input: &[u8]) -> Option<(UtcTime, &[u8])> {
    let (tag, text, rest) = read(input)?;
    let text = text.strip_suffix(b"Z")?;
    let (year, text) = match (tag, text.len()) {
        (UTC_TIME, 12) => {
            let yy = digits(&text[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        (GENERALIZED_TIME, 14) => (digits(&text[..4])?, &text[4..]),
        _ => return None,
    };
    let month = digits(&text[0..2])?;
    let day = digits(&text[2..4])?;
    let (h, m, s) = (
        digits(&text[4..6])?,
        digits(&text[6..8])?,
        digits(&text[8..10])?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((UtcTime(days * 86_400 + h * 3600 + m * 60 + s), rest))
}

fn digits(text: &[u8]) -> Option<i64> {
    text.iter().try_fold(0i64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

// Howard Hinnant's `days_from_civil` / `civil_from_days` (proleptic Gregorian, day 0 = 1970-01-01).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip_through_days() {
        for (y, m, d) in [
            (1970, 1, 1),
            (2000, 2, 29),
            (2049, 12, 31),
            (2050, 1, 1),
            (9999, 12, 31),
        ] {
            assert_eq!(civil_from_days(days_from_civil(y, m, d)), (y, m, d));
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(UtcTime(951_782_400).to_string(), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn utc_time_years_pivot_at_1950() {
        let utc = |text: &[u8]| {
            let mut der = vec![UTC_TIME, 13];
            der.extend_from_slice(text);
            time(&der).map(|(t, _)| t.to_string())
        };
        assert_eq!(
            utc(b"491231235959Z").as_deref(),
            Some("2049-12-31 23:59:59 UTC")
        );
        assert_eq!(
            utc(b"500101000000Z").as_deref(),
            Some("1950-01-01 00:00:00 UTC")
        );
        assert_eq!(utc(b"5001010000+0Z"), None);
    }

    #[test]
    fn truncated_or_garbage_input_is_none_not_a_panic() {
        for input in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 2, 3, 4, 5],
            &[0x30, 0x05, 0x30, 0x03],
        ] {
            assert!(CertSummary::parse(input).is_none());
        }
    }
}
