//! Private keys and certificates from PEM (or DER), for client TLS certificates and signed JWT
//! assertions alike: every problem is an [`ErrorKind::Config`](crate::ErrorKind::Config)
//! [`AuthError`] that names where the PEM came from (a [`PemSource`]) and the block, and never
//! quotes the input, which may be a private key.
//!
//! PEM is read by `rustls-pki-types` (rustls' own reader), keys by the RustCrypto `pkcs8` and
//! `sec1` crates; this module adds the messages.
//!
//! ```
//! use auth_core::pem::{self, KeyAlgorithm, KeyEncoding, PemSource, PrivateKey};
//! # fn main() -> Result<(), auth_core::AuthError> {
//! // Usually `let source = PemSource::file("client private key", path)` and
//! // `pem::private_key(source.read()?.expose_secret(), &source)?`.
//! let mut der = vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
//! der.extend([0x04, 0x22, 0x04, 0x20]);
//! der.extend([7; 32]); // an Ed25519 seed
//! let key = PrivateKey::from_pkcs8_der(&der, PemSource::named("private key DER"));
//! assert_eq!(key.encoding(), KeyEncoding::Pkcs8);
//! assert_eq!(key.algorithm()?, KeyAlgorithm::Ed25519);
//!
//! let cert = b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
//! let err = pem::private_key(cert, &PemSource::inline("client private key")).unwrap_err();
//! assert_eq!(err.kind(), auth_core::ErrorKind::Config);
//! assert!(err.to_string().contains("client private key PEM: no private key found"));
//! # Ok(()) }
//! ```

mod key;
mod source;

#[cfg(test)]
mod tests;

use rustls_pki_types::{
    CertificateDer,
    pem::{self, SectionKind},
};
use secrecy::{ExposeSecret, SecretSlice};

use crate::AuthError;

pub use key::{EcCurve, KeyAlgorithm, KeyEncoding, PrivateKey};
pub use source::PemSource;

/// A certificate read from PEM, with the number of its block for messages.
#[derive(Debug, Clone)]
pub struct PemCertificate {
    block: usize,
    der: CertificateDer<'static>,
}

impl PemCertificate {
    /// The 1-based position of its block among the input's `-----BEGIN` lines.
    pub fn block(&self) -> usize {
        self.block
    }

    /// The certificate's DER.
    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// The certificate's DER, owned.
    pub fn into_der(self) -> CertificateDer<'static> {
        self.der
    }
}

/// Every `CERTIFICATE` block in `input`, in order. Other blocks are skipped (a file holding a
/// certificate and its key works); no certificate at all is an error.
pub fn certificates(input: &[u8], source: &PemSource) -> Result<Vec<PemCertificate>, AuthError> {
    let copy = unindented(input);
    let input = copy.as_ref().map_or(input, |copy| copy.expose_secret());
    let mut certs = Vec::new();
    let mut keys = 0;
    for block in blocks(input, source) {
        let block = block?;
        match block.kind {
            Some(SectionKind::Certificate) => certs.push(PemCertificate {
                block: block.number,
                der: CertificateDer::from(block.der),
            }),
            Some(kind) if key::encoding_of(kind).is_some() => {
                drop(SecretSlice::from(block.der));
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
        return Err(source.error(format_args!(
            "no certificate found: expected a `-----BEGIN CERTIFICATE-----` block{found}"
        )));
    }
    Ok(certs)
}

/// The one private key in `input`: a `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1) or
/// `EC PRIVATE KEY` (SEC1) block. Other blocks (certificates, `EC PARAMETERS`) are skipped; none
/// or several keys, an encrypted key, or broken PEM is an error.
pub fn private_key(input: &[u8], source: &PemSource) -> Result<PrivateKey, AuthError> {
    let copy = unindented(input);
    let input = copy.as_ref().map_or(input, |copy| copy.expose_secret());
    // Legacy OpenSSL encryption adds `Proc-Type`/`DEK-Info` headers, which the PEM reader
    // would report as bad base64; PKCS#8 encryption has its own label, which it skips.
    if contains(input, b"Proc-Type: 4,ENCRYPTED")
        || contains(input, b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    {
        return Err(source.error(
            "the private key is encrypted, which is not supported: decrypt it first, for \
             example with `openssl pkey -in key.pem -out key-decrypted.pem`",
        ));
    }
    let mut keys = Vec::new();
    let mut others = Vec::new();
    for block in blocks(input, source) {
        let block = block?;
        match block.kind.and_then(key::encoding_of) {
            Some(encoding) => {
                if block.der.is_empty() {
                    return Err(source.error(format_args!(
                        "not valid PEM: block {} is empty",
                        block.number
                    )));
                }
                let der = SecretSlice::from(block.der);
                keys.push(PrivateKey::new(encoding, der, source.clone()));
            }
            None => others.push(block.label),
        }
    }
    match keys.len() {
        1 => Ok(keys.remove(0)),
        0 if others.is_empty() => {
            let not_text = match std::str::from_utf8(input) {
                Ok(_) => "",
                Err(_) => " (it is not UTF-8 text; a DER file?)",
            };
            Err(source.error(format_args!(
                "not PEM{not_text}: no private key found: expected a `PRIVATE KEY` (PKCS#8), \
                 `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC1) block"
            )))
        }
        0 => Err(source.error(no_key_among(&others))),
        n => Err(source.error(format_args!("{n} private keys found: expected exactly one"))),
    }
}

/// `input` with each line's leading and trailing blanks removed, or `None` when no line is
/// indented: PEM pasted indented into a config file still reads. The copy may hold a private
/// key, so it is zeroed on drop.
fn unindented(input: &[u8]) -> Option<SecretSlice<u8>> {
    let lines = || input.split(|&b| b == b'\n');
    if !lines().any(|line| line.first().is_some_and(u8::is_ascii_whitespace)) {
        return None;
    }
    let mut copy = Vec::with_capacity(input.len());
    for line in lines() {
        copy.extend_from_slice(line.trim_ascii());
        copy.push(b'\n');
    }
    Some(SecretSlice::from(copy))
}

/// What to say when the blocks labelled `others` hold no private key.
fn no_key_among(others: &[String]) -> String {
    if others.iter().all(|label| label == "CERTIFICATE") {
        return "no private key found, only certificates: a certificate is not its private key \
                (are the certificate and key swapped?)"
            .to_owned();
    }
    let found = others
        .iter()
        .map(|label| format!("`{label}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let advice = if others.iter().any(|label| label.contains("PUBLIC KEY")) {
        ": signing needs the private key, not the public one"
    } else {
        ""
    };
    format!(
        "no private key found, only {found}{advice} (expected `PRIVATE KEY`, `RSA PRIVATE KEY` \
         or `EC PRIVATE KEY`)"
    )
}

/// One PEM block: its number, its label, its kind when rustls-pki-types knows it, its DER.
struct Block {
    number: usize,
    label: String,
    kind: Option<SectionKind>,
    der: Vec<u8>,
}

/// Every block of `input`, numbered as a reader counts `-----BEGIN` lines; syntax errors become
/// errors that quote nothing.
fn blocks<'a>(
    input: &'a [u8],
    source: &'a PemSource,
) -> impl Iterator<Item = Result<Block, AuthError>> + 'a {
    split_before_begin(input).enumerate().map(move |(i, text)| {
        let number = i + 1;
        let label = label_of(text);
        // The reader skips labels it does not know (`EC PARAMETERS`); such a block still
        // counts, and its syntax is still checked.
        match pem::SliceIter::<(SectionKind, Vec<u8>)>::new(text).next() {
            Some(Ok((kind, der))) => Ok(Block {
                number,
                label,
                kind: Some(kind),
                der,
            }),
            Some(Err(e)) => Err(syntax_error(source, number, &e)),
            None => Ok(Block {
                number,
                label,
                kind: None,
                der: Vec::new(),
            }),
        }
    })
}

fn syntax_error(source: &PemSource, number: usize, error: &pem::Error) -> AuthError {
    // The reader's own messages can quote a line of the input: never used.
    let problem = match error {
        pem::Error::MissingSectionEnd { .. } => "has no matching `-----END …-----` line",
        pem::Error::IllegalSectionStart { .. } => "has a malformed `-----BEGIN …-----` line",
        pem::Error::Base64Decode(_) => "is not valid base64",
        pem::Error::SectionTooLarge => "is too large",
        _ => "could not be read",
    };
    source.error(format_args!("not valid PEM: block {number} {problem}"))
}

const BEGIN: &[u8] = b"-----BEGIN ";

/// `input` cut before each `-----BEGIN `, so blocks can be numbered; text before the first is
/// dropped.
fn split_before_begin(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = find(input, BEGIN).map(|at| &input[at..]);
    std::iter::from_fn(move || {
        let current = rest?;
        match find(&current[BEGIN.len()..], BEGIN) {
            Some(at) => {
                let (block, next) = current.split_at(at + BEGIN.len());
                rest = Some(next);
                Some(block)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// The label of a block's `-----BEGIN X-----` line, for messages (`X`). Labels are public
/// words, never key material.
fn label_of(block: &[u8]) -> String {
    let line = block
        .split(|&b| b == b'\n' || b == b'\r')
        .next()
        .unwrap_or_default();
    let label = line.strip_prefix(BEGIN).unwrap_or(line);
    let label = label.trim_ascii_end();
    let label = label.strip_suffix(b"-----").unwrap_or(label);
    String::from_utf8_lossy(label).chars().take(40).collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}
