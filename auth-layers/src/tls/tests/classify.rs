//! The classification on its own, on error chains shaped like hyper-util's.

use std::{error::Error as StdError, fmt, io};

use auth_core::ErrorKind;
use rustls::{AlertDescription, CertificateError};

use crate::tls::{TlsFailure, classify_transport_error};

/// Stands in for hyper-util's and hyper's wrappers: a message and a source.
#[derive(Debug)]
struct Wrapper(&'static str, Box<dyn StdError + Send + Sync>);

impl fmt::Display for Wrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl StdError for Wrapper {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.1)
    }
}

/// `client error (SendRequest)` → `io error` → `io::Error(InvalidData, rustls::Error)`, the
/// way tokio-rustls reports a TLS failure.
fn chain(tls: rustls::Error) -> Wrapper {
    let io = io::Error::new(io::ErrorKind::InvalidData, tls);
    Wrapper(
        "client error (SendRequest)",
        Box::new(Wrapper("io error", Box::new(io))),
    )
}

#[test]
fn alerts_about_certificates_mean_the_client_certificate_was_rejected() {
    for alert in [
        AlertDescription::UnknownCA,
        AlertDescription::CertificateExpired,
        AlertDescription::BadCertificate,
        AlertDescription::CertificateRevoked,
        AlertDescription::AccessDenied,
        AlertDescription::DecryptError,
    ] {
        let err = chain(rustls::Error::AlertReceived(alert));
        assert_eq!(
            TlsFailure::find(&err),
            Some(TlsFailure::ClientCertificateRejected),
            "{alert:?}"
        );
    }
    let err = chain(rustls::Error::AlertReceived(
        AlertDescription::CertificateRequired,
    ));
    assert_eq!(
        TlsFailure::find(&err),
        Some(TlsFailure::ClientCertificateRequired)
    );
    let err = chain(rustls::Error::AlertReceived(
        AlertDescription::ProtocolVersion,
    ));
    assert_eq!(TlsFailure::find(&err), Some(TlsFailure::Handshake));
}

#[test]
fn server_certificate_problems_are_told_apart() {
    for (cert, failure) in [
        (
            CertificateError::UnknownIssuer,
            TlsFailure::ServerCertificateUntrusted,
        ),
        (
            CertificateError::Expired,
            TlsFailure::ServerCertificateExpired,
        ),
        (
            CertificateError::NotValidForName,
            TlsFailure::ServerNameMismatch,
        ),
        (
            CertificateError::Revoked,
            TlsFailure::ServerCertificateInvalid,
        ),
    ] {
        let err = chain(rustls::Error::InvalidCertificate(cert.clone()));
        assert_eq!(TlsFailure::find(&err), Some(failure), "{cert:?}");
    }
}

#[test]
fn the_error_reads_as_cause_then_advice() {
    let err = chain(rustls::Error::AlertReceived(AlertDescription::UnknownCA));
    let err = classify_transport_error(&err);
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(
        err.detail(),
        Some(
            "the server did not accept the client certificate (received fatal alert: UnknownCA): \
             check it is signed by a CA the server trusts, not expired, and matches the key"
        )
    );
}

#[test]
fn a_rustls_error_found_directly_in_the_chain_counts_too() {
    let err = Wrapper(
        "tls",
        Box::new(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        )),
    );
    assert_eq!(
        TlsFailure::find(&err),
        Some(TlsFailure::ServerCertificateUntrusted)
    );
}

#[test]
fn other_failures_keep_the_whole_chain_as_detail() {
    let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused");
    let err = Wrapper(
        "client error (Connect)",
        Box::new(Wrapper("tcp connect error", Box::new(refused))),
    );
    assert_eq!(TlsFailure::find(&err), None);
    let err = classify_transport_error(&err);
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(
        err.detail(),
        Some("client error (Connect): tcp connect error: connection refused")
    );
}

#[test]
fn a_connection_closed_without_an_alert_suggests_a_rejected_certificate_cautiously() {
    let reset = io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer");
    let err = Wrapper("client error (SendRequest)", Box::new(reset));
    assert_eq!(
        TlsFailure::find(&err),
        Some(TlsFailure::ClosedWithoutAnswer)
    );
    let text = classify_transport_error(&err).to_string();
    assert!(
        text.contains(
            "the server closed the connection without answering (client error (SendRequest): \
             connection reset by peer): if it requires a client certificate, it may have \
             rejected this one"
        ),
        "{text}"
    );
}
