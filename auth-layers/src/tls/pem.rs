//! Reading certificates and private keys from PEM, with errors that name the input and block.
//!
//! Error messages are written here, never copied from the PEM parser: its errors can quote a
//! line of the input, and the input may be a private key.

use std::{fmt, path::PathBuf};

use auth_core::AuthError;
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
    pem::{self, SectionKind},
};
use secrecy::{ExposeSecret, SecretSlice};

/// Where some PEM came from, for error messages: `client certificate file /etc/x.pem`.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    what: &'static str,
    path: Option<PathBuf>,
}

impl Origin {
    pub(crate) fn pem(what: &'static str) -> Self {
        Origin { what, path: None }
    }

    pub(crate) fn file(what: &'static str, path: impl Into<PathBuf>) -> Self {
        Origin {
            what,
            path: Some(path.into()),
        }
    }

    pub(crate) fn error(&self, problem: impl fmt::Display) -> AuthError {
        AuthError::config(self, problem)
    }

    /// Reads the file this origin names; the error names the path.
    pub(crate) fn read(&self) -> Result<Vec<u8>, AuthError> {
        let path = self.path.as_deref().unwrap_or_else(|| "".as_ref());
        std::fs::read(path).map_err(|e| self.error(format_args!("cannot read it: {e}")))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{} file {}", self.what, path.display()),
            None => write!(f, "{} PEM", self.what),
        }
    }
}

/// The encodings of a private key that rustls accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFormat {
    /// `PRIVATE KEY`: PKCS#8, any algorithm.
    Pkcs8,
    /// `RSA PRIVATE KEY`: PKCS#1.
    Pkcs1,
    /// `EC PRIVATE KEY`: SEC1.
    Sec1,
}

impl fmt::Display for KeyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyFormat::Pkcs8 => "PKCS#8",
            KeyFormat::Pkcs1 => "PKCS#1 RSA",
            KeyFormat::Sec1 => "SEC1 EC",
        })
    }
}

/// A decoded private key; the DER is zeroed when this is dropped.
pub(crate) struct PrivateKey {
    pub(crate) format: KeyFormat,
    der: SecretSlice<u8>,
}

impl PrivateKey {
    /// A borrowed view for rustls, valid while `self` lives.
    pub(crate) fn der(&self) -> PrivateKeyDer<'_> {
        let der = self.der.expose_secret();
        match self.format {
            KeyFormat::Pkcs8 => PrivatePkcs8KeyDer::from(der).into(),
            KeyFormat::Pkcs1 => PrivatePkcs1KeyDer::from(der).into(),
            KeyFormat::Sec1 => PrivateSec1KeyDer::from(der).into(),
        }
    }
}

/// A certificate and the number of its PEM block, for messages.
pub(crate) struct PemCertificate {
    pub(crate) block: usize,
    pub(crate) der: CertificateDer<'static>,
}

/// Every `CERTIFICATE` block, in order. Other blocks are skipped (a combined cert + key file
/// works); no certificate at all is an error.
pub(crate) fn certificates(
    input: &[u8],
    origin: &Origin,
) -> Result<Vec<PemCertificate>, AuthError> {
    let mut certs = Vec::new();
    let mut keys = 0;
    for section in sections(input, origin) {
        let (block, kind, der) = section?;
        match kind {
            SectionKind::Certificate => certs.push(PemCertificate {
                block,
                der: CertificateDer::from(der),
            }),
            kind if is_private_key(kind) => {
                drop(SecretSlice::from(der));
                keys += 1;
            }
            _ => {}
        }
    }
    if certs.is_empty() {
        let found = if keys > 0 {
            " (it holds only a private key: are the certificate and key swapped?)"
        } else {
            ""
        };
        return Err(origin.error(format_args!(
            "no certificate found: expected a `-----BEGIN CERTIFICATE-----` block{found}"
        )));
    }
    Ok(certs)
}

/// The one private key in `input`.
pub(crate) fn private_key(input: &[u8], origin: &Origin) -> Result<PrivateKey, AuthError> {
    // Legacy OpenSSL encryption adds `Proc-Type`/`DEK-Info` headers, which the PEM parser
    // would report as bad base64; PKCS#8 encryption uses its own label, which it skips.
    if contains(input, b"Proc-Type: 4,ENCRYPTED")
        || contains(input, b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    {
        return Err(origin.error(
            "the private key is encrypted, which is not supported: decrypt it first, for \
             example with `openssl pkey -in key.pem -out key-decrypted.pem`",
        ));
    }
    let mut keys = Vec::new();
    let mut certs = 0;
    for section in sections(input, origin) {
        let (_, kind, der) = section?;
        let format = match kind {
            SectionKind::PrivateKey => KeyFormat::Pkcs8,
            SectionKind::RsaPrivateKey => KeyFormat::Pkcs1,
            SectionKind::EcPrivateKey => KeyFormat::Sec1,
            SectionKind::Certificate => {
                certs += 1;
                continue;
            }
            _ => continue,
        };
        keys.push(PrivateKey {
            format,
            der: SecretSlice::from(der),
        });
    }
    match keys.len() {
        1 => Ok(keys.remove(0)),
        0 if certs > 0 => Err(origin.error(
            "no private key found, only certificates: are the certificate and key swapped?",
        )),
        0 => Err(origin.error(
            "no private key found: expected a `PRIVATE KEY`, `RSA PRIVATE KEY` or \
             `EC PRIVATE KEY` block",
        )),
        n => Err(origin.error(format_args!("{n} private keys found: expected exactly one"))),
    }
}

fn is_private_key(kind: SectionKind) -> bool {
    matches!(
        kind,
        SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey
    )
}

/// Every recognised block as (its 1-based position among all `-----BEGIN` lines, kind, DER);
/// unknown labels are skipped; syntax errors become errors that quote nothing.
fn sections<'a>(
    input: &'a [u8],
    origin: &'a Origin,
) -> impl Iterator<Item = Result<(usize, SectionKind, Vec<u8>), AuthError>> + 'a {
    blocks(input).enumerate().filter_map(move |(i, block)| {
        let section = pem::SliceIter::<(SectionKind, Vec<u8>)>::new(block).next()?;
        Some(match section {
            Ok((kind, der)) => Ok((i + 1, kind, der)),
            Err(e) => {
                let problem = match e {
                    pem::Error::MissingSectionEnd { .. } => {
                        "has no matching `-----END …-----` line"
                    }
                    pem::Error::IllegalSectionStart { .. } => {
                        "has a malformed `-----BEGIN …-----` line"
                    }
                    pem::Error::Base64Decode(_) => "is not valid base64",
                    pem::Error::SectionTooLarge => "is too large",
                    _ => "could not be read",
                };
                Err(origin.error(format_args!("not valid PEM: block {} {problem}", i + 1)))
            }
        })
    })
}

/// Splits PEM text before each `-----BEGIN` so blocks can be numbered as a reader counts them.
fn blocks(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut rest = find(input, BEGIN).map(|at| &input[at..]);
    std::iter::from_fn(move || {
        let current = rest?;
        let next = find(&current[BEGIN.len()..], BEGIN).map(|at| at + BEGIN.len());
        match next {
            Some(at) => {
                rest = Some(&current[at..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}
