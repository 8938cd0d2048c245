//! A certificate's names and expiry, read with `x509-cert`, to show in `Debug` and to refuse an
//! expired certificate before the first handshake (rustls parses certificates for the
//! handshake but does not expose their dates or names). A certificate that does not decode
//! yields `None`: callers then skip the check and leave it to the handshake.

use std::{fmt, time::SystemTime};

use x509_cert::{
    Certificate,
    der::{Decode, Tag, Tagged, asn1::ObjectIdentifier},
    name::Name,
};

/// id-at-commonName.
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// The parts of a certificate shown in `Debug` and checked before the first handshake.
#[derive(Clone)]
pub(crate) struct CertSummary {
    pub(crate) subject: Option<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) not_after: UtcTime,
}

impl CertSummary {
    /// The subject and issuer common names and the end of the validity period of a DER
    /// certificate. A `notBefore` in the future is left to the server: its clock counts.
    pub(crate) fn parse(der: &[u8]) -> Option<Self> {
        let cert = Certificate::from_der(der).ok()?;
        let tbs = cert.tbs_certificate();
        Some(CertSummary {
            subject: common_name(tbs.subject()),
            issuer: common_name(tbs.issuer()),
            not_after: UtcTime(tbs.validity().not_after.to_date_time()),
        })
    }

    /// Whether the certificate's `notAfter` is before `now`.
    pub(crate) fn is_expired_at(&self, now: SystemTime) -> bool {
        // `now` before 1970 is before every `notAfter`: x509-cert's dates start there.
        now.duration_since(SystemTime::UNIX_EPOCH)
            .is_ok_and(|now| self.not_after.0.unix_duration() < now)
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

/// The first common name in `name`, when it is a UTF-8, printable or IA5 string.
fn common_name(name: &Name) -> Option<String> {
    let value = &name.iter().find(|atv| atv.oid == COMMON_NAME)?.value;
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String => {
            Some(String::from_utf8_lossy(value.value()).into_owned())
        }
        _ => None,
    }
}

/// A UTC instant, displayed as `2030-01-31 23:59:59 UTC`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct UtcTime(x509_cert::der::DateTime);

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.0;
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minutes(),
            t.seconds()
        )
    }
}

impl fmt::Debug for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn dates_show_in_utc_and_expiry_compares_with_the_clock() {
        let leap = x509_cert::der::DateTime::new(2000, 2, 29, 0, 0, 0).expect("a date");
        assert_eq!(UtcTime(leap).to_string(), "2000-02-29 00:00:00 UTC");
        let summary = CertSummary {
            subject: None,
            issuer: Some("CA".to_owned()),
            not_after: UtcTime(leap),
        };
        let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        assert!(summary.is_expired_at(at(951_782_401)));
        assert!(!summary.is_expired_at(at(951_782_400)));
        assert!(!summary.is_expired_at(SystemTime::UNIX_EPOCH - Duration::from_secs(1)));
        assert_eq!(summary.subject_label(), "no common name");
        assert_eq!(summary.issuer_label(), "CN=CA");
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
