//! Turning a failed request's error chain into a readable TLS diagnosis.
//!
//! A rejected client certificate reaches the caller as something like
//! `client error (SendRequest)` → hyper's `Io` error → `io::Error(InvalidData)` →
//! `rustls::Error::AlertReceived(UnknownCA)`. [`TlsFailure::find`] walks that chain (including
//! into `io::Error`s, whose `source()` skips the error they wrap) and says what it means.

use std::{error::Error as StdError, fmt, io};

use auth_core::{AuthError, ErrorKind};
use rustls::{AlertDescription, CertificateError};

/// Why a TLS connection failed, as far as the client can tell.
///
/// With TLS 1.3 the server checks the client certificate after the client considers the
/// handshake done, so a rejected certificate usually surfaces when the response is read, not
/// when connecting; both are recognised. When the server's alert arrives before hyper has sent
/// the request (likeliest on loopback), hyper reports only that the connection closed and
/// drops the alert: that is [`TlsFailure::ClosedWithoutAnswer`], a likely cause rather than a
/// certain one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The server requires a client certificate and none was sent.
    ClientCertificateRequired,
    /// The server rejected the client certificate (unknown CA, expired, revoked, wrong key, …).
    ClientCertificateRejected,
    /// The server's certificate is not issued by a CA the client trusts.
    ServerCertificateUntrusted,
    /// The server's certificate has expired or is not yet valid.
    ServerCertificateExpired,
    /// The server's certificate is not valid for the host name (or IP address) in the URL.
    ServerNameMismatch,
    /// The server's certificate was rejected for another reason (revoked, bad encoding, …).
    ServerCertificateInvalid,
    /// The handshake failed for another reason (no common protocol version or cipher suite, …).
    Handshake,
    /// The server closed the connection without answering and without a TLS alert reaching
    /// the client; a server that rejects a client certificate can look like this.
    ClosedWithoutAnswer,
}

impl TlsFailure {
    /// Finds the TLS failure in an error and its sources, if there is one.
    pub fn find(err: &(dyn StdError + 'static)) -> Option<TlsFailure> {
        match find_rustls_error(err) {
            Some(tls) => Some(TlsFailure::of(tls)),
            None => closed_without_answer(err).then_some(TlsFailure::ClosedWithoutAnswer),
        }
    }

    /// What happened, in one phrase.
    pub fn description(self) -> &'static str {
        match self {
            TlsFailure::ClientCertificateRequired => {
                "the server requires a client certificate and none was sent"
            }
            TlsFailure::ClientCertificateRejected => {
                "the server did not accept the client certificate"
            }
            TlsFailure::ServerCertificateUntrusted => "the server's certificate is not trusted",
            TlsFailure::ServerCertificateExpired => {
                "the server's certificate has expired or is not yet valid"
            }
            TlsFailure::ServerNameMismatch => {
                "the server's certificate is not valid for the host in the URL"
            }
            TlsFailure::ServerCertificateInvalid => "the server's certificate was rejected",
            TlsFailure::Handshake => "the TLS handshake failed",
            TlsFailure::ClosedWithoutAnswer => "the server closed the connection without answering",
        }
    }

    /// What to check.
    pub fn advice(self) -> &'static str {
        match self {
            TlsFailure::ClientCertificateRequired => {
                "configure one (`ClientTls::from_pem` / `from_pem_files`) for this client"
            }
            TlsFailure::ClientCertificateRejected => {
                "check it is signed by a CA the server trusts, not expired, and matches the key"
            }
            TlsFailure::ServerCertificateUntrusted => {
                "add the CA that issued it with `add_root_pem` / `add_root_pem_file`"
            }
            TlsFailure::ServerCertificateExpired => {
                "the server must renew it; if it is recent, check this machine's clock"
            }
            TlsFailure::ServerNameMismatch => {
                "use a host name the certificate lists (its subject alternative names)"
            }
            TlsFailure::ServerCertificateInvalid => {
                "check the server's certificate chain, or the roots given to this client"
            }
            TlsFailure::Handshake => {
                "check that client and server share a TLS version and cipher suite, and whether \
                 the server requires a client certificate"
            }
            TlsFailure::ClosedWithoutAnswer => {
                "if it requires a client certificate, it may have rejected this one: check it is \
                 signed by a CA the server trusts, not expired, and matches the key; otherwise \
                 retry"
            }
        }
    }

    fn of(err: &rustls::Error) -> TlsFailure {
        match err {
            rustls::Error::AlertReceived(alert) => match alert {
                AlertDescription::CertificateRequired => TlsFailure::ClientCertificateRequired,
                AlertDescription::BadCertificate
                | AlertDescription::UnsupportedCertificate
                | AlertDescription::CertificateRevoked
                | AlertDescription::CertificateExpired
                | AlertDescription::CertificateUnknown
                | AlertDescription::UnknownCA
                | AlertDescription::AccessDenied
                | AlertDescription::DecryptError => TlsFailure::ClientCertificateRejected,
                _ => TlsFailure::Handshake,
            },
            rustls::Error::InvalidCertificate(cert) => match cert {
                CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                    TlsFailure::ServerCertificateUntrusted
                }
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => {
                    TlsFailure::ServerCertificateExpired
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => TlsFailure::ServerNameMismatch,
                _ => TlsFailure::ServerCertificateInvalid,
            },
            rustls::Error::NoCertificatesPresented => TlsFailure::ServerCertificateInvalid,
            _ => TlsFailure::Handshake,
        }
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.description(), self.advice())
    }
}

/// An [`ErrorKind::Transport`] error for a failed request (for example a hyper-util client
/// error), saying what went wrong in TLS terms when the chain holds a TLS failure.
///
/// ```text
/// the request could not be completed: the server did not accept the client certificate
/// (received fatal alert: UnknownCA): check it is signed by a CA the server trusts, not expired,
/// and matches the key; hint: …
/// ```
///
/// Otherwise the detail is the chain's messages joined by `: `. TLS and I/O errors never carry
/// key material, so the result is safe to log.
pub fn classify_transport_error(err: &(dyn StdError + 'static)) -> AuthError {
    let detail = match find_rustls_error(err) {
        Some(tls) => {
            let failure = TlsFailure::of(tls);
            format!("{} ({tls}): {}", failure.description(), failure.advice())
        }
        None if closed_without_answer(err) => {
            let failure = TlsFailure::ClosedWithoutAnswer;
            let chain = chain_text(err);
            format!("{} ({chain}): {}", failure.description(), failure.advice())
        }
        None => chain_text(err),
    };
    AuthError::new(ErrorKind::Transport, detail)
}

/// The error and its causes. `io::Error::source()` returns the wrapped error's *source*, so
/// the wrapped error itself is reached through `get_ref()`.
fn causes<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e: &&'a (dyn StdError + 'static)| {
        match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        }
    })
}

fn find_rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    causes(err).find_map(|e| e.downcast_ref::<rustls::Error>())
}

/// hyper's "connection was not ready" / incomplete message, or the socket closed under us.
fn closed_without_answer(err: &(dyn StdError + 'static)) -> bool {
    causes(err).any(|e| {
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            return hyper.is_canceled() || hyper.is_incomplete_message();
        }
        e.downcast_ref::<io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            )
        })
    })
}

fn chain_text(err: &(dyn StdError + 'static)) -> String {
    let mut text = String::new();
    for e in causes(err) {
        let message = e.to_string();
        if text.ends_with(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}
