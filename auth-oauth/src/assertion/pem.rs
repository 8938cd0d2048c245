//! Finding the one private key in PEM text. Messages are written here and never quote the
//! input: the input is a private key.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

/// How a private key is encoded, from its PEM label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyEncoding {
    /// `PRIVATE KEY`: PKCS#8, any algorithm.
    Pkcs8,
    /// `RSA PRIVATE KEY`: PKCS#1.
    Pkcs1,
    /// `EC PRIVATE KEY`: SEC1.
    Sec1,
}

impl fmt::Display for KeyEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyEncoding::Pkcs8 => "PKCS#8",
            KeyEncoding::Pkcs1 => "PKCS#1",
            KeyEncoding::Sec1 => "SEC1",
        })
    }
}

/// The private key in `input`: its encoding and DER (zeroed on drop). The error is a problem
/// sentence for the caller to prefix with where the PEM came from.
pub(super) fn private_key(input: &[u8]) -> Result<(KeyEncoding, SecretSlice<u8>), String> {
    let text = std::str::from_utf8(input)
        .map_err(|_| "not PEM text (it is not UTF-8; a DER file?)".to_owned())?;
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
    {
        return Err(
            "the private key is encrypted, which is not supported: decrypt it first, \
                    for example with `openssl pkey -in key.pem -out key-decrypted.pem`"
                .to_owned(),
        );
    }
    let mut keys = Vec::new();
    let mut others = Vec::new();
    let mut blocks = 0;
    for block in blocks_of(text) {
        blocks += 1;
        let (label, body) =
            block.map_err(|problem| format!("not valid PEM: block {blocks} {problem}"))?;
        let encoding = match label {
            "PRIVATE KEY" => KeyEncoding::Pkcs8,
            "RSA PRIVATE KEY" => KeyEncoding::Pkcs1,
            "EC PRIVATE KEY" => KeyEncoding::Sec1,
            other => {
                others.push(other.to_owned());
                continue;
            }
        };
        let der = decode_body(body)
            .map_err(|problem| format!("not valid PEM: block {blocks} {problem}"))?;
        keys.push((encoding, der));
    }
    match keys.len() {
        1 => Ok(keys.remove(0)),
        0 if blocks == 0 => Err("not PEM: expected a `-----BEGIN PRIVATE KEY-----` block \
                                 (PKCS#8), `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC1)"
            .to_owned()),
        0 => {
            let found = others
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let advice = if others.iter().any(|l| l.contains("PUBLIC KEY")) {
                ": assertions are signed with the private key, not the public one"
            } else if others.iter().any(|l| l == "CERTIFICATE") {
                ": a certificate is not its private key"
            } else {
                ""
            };
            Err(format!(
                "no private key found, only {found}{advice} (expected `PRIVATE KEY`, `RSA \
                 PRIVATE KEY` or `EC PRIVATE KEY`)"
            ))
        }
        n => Err(format!("{n} private keys found: expected exactly one")),
    }
}

/// Every `-----BEGIN X-----` … `-----END X-----` block as (label, body lines), or a problem.
/// Text outside blocks (comments, `EC PARAMETERS`' neighbours) is ignored.
fn blocks_of(text: &str) -> impl Iterator<Item = Result<(&str, Vec<&str>), &'static str>> {
    let mut lines = text.lines().map(str::trim);
    std::iter::from_fn(move || {
        let label = loop {
            let line = lines.next()?;
            if let Some(rest) = line.strip_prefix("-----BEGIN ") {
                match rest.strip_suffix("-----") {
                    Some(label) => break label,
                    None => return Some(Err("has a malformed `-----BEGIN …-----` line")),
                }
            }
        };
        let mut body = Vec::new();
        for line in lines.by_ref() {
            if let Some(rest) = line.strip_prefix("-----END ") {
                return Some(if rest.strip_suffix("-----") == Some(label) {
                    Ok((label, body))
                } else {
                    Err("ends with a `-----END …-----` line of another label")
                });
            }
            body.push(line);
        }
        Some(Err("has no matching `-----END …-----` line"))
    })
}

fn decode_body(lines: Vec<&str>) -> Result<SecretSlice<u8>, &'static str> {
    // RFC 1421 headers (`Name: value`) come before the base64; the joined base64 is key
    // material too, so it is zeroed on drop like the DER.
    let joined = SecretString::from(
        lines
            .into_iter()
            .filter(|line| !line.contains(':'))
            .collect::<String>(),
    );
    match STANDARD.decode(joined.expose_secret().as_bytes()) {
        Ok(der) if !der.is_empty() => Ok(SecretSlice::from(der)),
        Ok(_) => Err("is empty"),
        Err(_) => Err("is not valid base64"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(label: &str, body: &str) -> String {
        format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
    }

    #[test]
    fn finds_the_key_among_other_blocks_and_names_its_encoding() {
        let text = format!(
            "comment\n{}{}",
            pem("EC PARAMETERS", "BggqhkjOPQMBBw=="),
            pem("EC PRIVATE KEY", "AQID")
        );
        let (encoding, der) = private_key(text.as_bytes()).expect("a key");
        assert_eq!(encoding, KeyEncoding::Sec1);
        assert_eq!(der.expose_secret(), &[1, 2, 3]);
        let (encoding, _) = private_key(pem("RSA PRIVATE KEY", "AQID").as_bytes()).expect("a key");
        assert_eq!(encoding, KeyEncoding::Pkcs1);
        let crlf = pem("PRIVATE KEY", "AQ\r\nID").replace('\n', "\r\n");
        assert_eq!(
            private_key(crlf.as_bytes()).expect("crlf").0,
            KeyEncoding::Pkcs8
        );
    }

    #[test]
    fn problems_are_named_without_quoting_the_input() {
        let secretish = "Zm9vYmFyYmF6cXV4c2VjcmV0";
        for (input, expected) in [
            (secretish.to_owned(), "not PEM"),
            (pem("PUBLIC KEY", secretish), "not the public one"),
            (
                pem("CERTIFICATE", secretish),
                "a certificate is not its private key",
            ),
            (
                pem("PRIVATE KEY", "!!!not-base64!!!"),
                "block 1 is not valid base64",
            ),
            (
                format!("-----BEGIN PRIVATE KEY-----\n{secretish}\n"),
                "no matching `-----END",
            ),
            (
                format!(
                    "{}{}",
                    pem("PRIVATE KEY", "AQID"),
                    pem("PRIVATE KEY", "AQID")
                ),
                "2 private keys found",
            ),
            (pem("ENCRYPTED PRIVATE KEY", secretish), "decrypt it first"),
            (
                format!(
                    "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\n{secretish}\n\
                     -----END RSA PRIVATE KEY-----\n"
                ),
                "decrypt it first",
            ),
        ] {
            let problem = private_key(input.as_bytes()).expect_err(expected);
            assert!(problem.contains(expected), "{problem}");
            assert!(!problem.contains(secretish), "{problem}");
        }
        assert!(
            private_key(&[0x30, 0x82, 0xff, 0xfe])
                .expect_err("DER")
                .contains("UTF-8")
        );
    }
}
