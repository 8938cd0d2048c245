//! PEM blocks, key classification and SEC1/PKCS#1 → PKCS#8, on structures built with the
//! RustCrypto encoders (the keys need not be valid for the curve: nothing here signs).

use pkcs8::{
    AlgorithmIdentifierRef, ObjectIdentifier, PrivateKeyInfo, PrivateKeyInfoRef,
    der::{
        Decode, Encode,
        asn1::{AnyRef, BitStringRef, OctetStringRef},
    },
};
use secrecy::ExposeSecret;

use super::*;
use crate::ErrorKind;

fn pem(label: &str, body: &str) -> String {
    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
}

fn source() -> PemSource {
    PemSource::inline("test key")
}

fn oid(text: &str) -> ObjectIdentifier {
    ObjectIdentifier::new(text).expect("an OID")
}

/// A PKCS#8 `PrivateKeyInfo` for `algorithm` (with `parameters`) around `key`.
fn pkcs8(algorithm: &str, parameters: Option<AnyRef<'_>>, key: &[u8]) -> Vec<u8> {
    let info: PrivateKeyInfo<AnyRef<'_>, &OctetStringRef, BitStringRef<'_>> = PrivateKeyInfo::new(
        AlgorithmIdentifierRef {
            oid: oid(algorithm),
            parameters,
        },
        OctetStringRef::new(key).expect("octets"),
    );
    info.to_der().expect("DER")
}

/// A SEC1 `ECPrivateKey` with a 32-byte scalar, naming `curve` in `[0]` when given.
fn sec1(curve: Option<&str>) -> Vec<u8> {
    sec1::EcPrivateKey {
        private_key: &[7; 32],
        parameters: curve.map(|c| sec1::EcParameters::NamedCurve(oid(c))),
        public_key: None,
    }
    .to_der()
    .expect("DER")
}

fn key(encoding: KeyEncoding, der: &[u8]) -> PrivateKey {
    PrivateKey::new(encoding, SecretSlice::from(der.to_vec()), source())
}

fn problem(result: Result<impl std::fmt::Debug, AuthError>) -> String {
    let err = result.expect_err("must be refused");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    err.to_string()
}

#[test]
fn finds_the_key_among_other_blocks_and_names_its_encoding() {
    let text = format!(
        "comment\n{}{}",
        pem("EC PARAMETERS", "BggqhkjOPQMBBw=="),
        pem("EC PRIVATE KEY", "AQID")
    );
    let key = private_key(text.as_bytes(), &source()).expect("a key");
    assert_eq!(key.encoding(), KeyEncoding::Sec1);
    assert_eq!(key.der().secret_der(), &[1, 2, 3]);
    let key = private_key(pem("RSA PRIVATE KEY", "AQID").as_bytes(), &source()).expect("a key");
    assert_eq!(key.encoding(), KeyEncoding::Pkcs1);
    let crlf = pem("PRIVATE KEY", "AQ\r\nID").replace('\n', "\r\n");
    let key = private_key(crlf.as_bytes(), &source()).expect("crlf");
    assert_eq!(key.encoding(), KeyEncoding::Pkcs8);
    assert_eq!(
        format!("{key:?}").matches("[redacted]").count(),
        1,
        "{key:?}"
    );
}

#[test]
fn key_problems_are_named_without_quoting_the_input() {
    let secretish = "Zm9vYmFyYmF6cXV4c2VjcmV0";
    for (input, expected) in [
        (
            secretish.to_owned(),
            "test key PEM: not PEM: no private key found",
        ),
        (
            String::new(),
            "no private key found: expected a `PRIVATE KEY`",
        ),
        (pem("PUBLIC KEY", secretish), "not the public one"),
        (
            pem("CERTIFICATE", secretish),
            "no private key found, only certificates: a certificate is not its private key",
        ),
        (
            pem("CERTIFICATE", secretish),
            "are the certificate and key swapped?",
        ),
        (pem("EC PARAMETERS", secretish), "only `EC PARAMETERS`"),
        (
            pem("PRIVATE KEY", "!!!not-base64!!!"),
            "not valid PEM: block 1 is not valid base64",
        ),
        (pem("PRIVATE KEY", ""), "not valid PEM: block 1 is empty"),
        (
            format!("-----BEGIN PRIVATE KEY-----\n{secretish}\n"),
            "block 1 has no matching `-----END",
        ),
        (
            format!("-----BEGIN PRIVATE KEY\n{secretish}\n-----END PRIVATE KEY-----\n"),
            "block 1 has a malformed `-----BEGIN",
        ),
        (
            format!(
                "{}{}",
                pem("PRIVATE KEY", "AQID"),
                pem("PRIVATE KEY", "AQID")
            ),
            "2 private keys found: expected exactly one",
        ),
        (pem("ENCRYPTED PRIVATE KEY", secretish), "decrypt it first"),
        (
            format!(
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\n{secretish}\n\
                 -----END RSA PRIVATE KEY-----\n"
            ),
            "the private key is encrypted",
        ),
    ] {
        let text = problem(private_key(input.as_bytes(), &source()));
        assert!(text.contains(expected), "{text}");
        assert!(!text.contains(secretish), "{text}");
    }
    let text = problem(private_key(&[0x30, 0x82, 0xff, 0xfe], &source()));
    assert!(
        text.contains("not PEM (it is not UTF-8 text; a DER file?)"),
        "{text}"
    );
}

#[test]
fn certificates_are_read_in_order_and_numbered_by_block() {
    let text = format!(
        "{}{}{}",
        pem("CERTIFICATE", "AQID"),
        pem("PRIVATE KEY", "BAUG"),
        pem("CERTIFICATE", "BwgJ")
    );
    let certs = certificates(text.as_bytes(), &source()).expect("certificates");
    let read: Vec<(usize, &[u8])> = certs
        .iter()
        .map(|c| (c.block(), c.der().as_ref()))
        .collect();
    assert_eq!(read, [(1, &[1u8, 2, 3][..]), (3, &[7, 8, 9][..])]);

    let text = problem(certificates(
        pem("PRIVATE KEY", "AQID").as_bytes(),
        &source(),
    ));
    assert!(
        text.starts_with("invalid configuration: test key PEM: no certificate found"),
        "{text}"
    );
    assert!(
        text.contains("are the certificate and key swapped?"),
        "{text}"
    );
    let broken = format!(
        "{}{}",
        pem("CERTIFICATE", "AQID"),
        pem("CERTIFICATE", "@@@@")
    );
    let text = problem(certificates(broken.as_bytes(), &source()));
    assert!(
        text.contains("not valid PEM: block 2 is not valid base64"),
        "{text}"
    );
}

#[test]
fn pkcs8_keys_are_classified_by_algorithm_and_curve() {
    let null = Some(AnyRef::NULL);
    let p256 = oid("1.2.840.10045.3.1.7");
    let p384 = oid("1.3.132.0.34");
    let p521 = oid("1.3.132.0.35");
    let k256 = oid("1.3.132.0.10");
    let ec = "1.2.840.10045.2.1";
    for (der, expected) in [
        (pkcs8("1.2.840.113549.1.1.1", null, &[1]), KeyAlgorithm::Rsa),
        (
            pkcs8("1.2.840.113549.1.1.10", None, &[1]),
            KeyAlgorithm::RsaPss,
        ),
        (
            pkcs8(ec, Some(AnyRef::from(&p256)), &[1]),
            KeyAlgorithm::Ec(EcCurve::P256),
        ),
        (
            pkcs8(ec, Some(AnyRef::from(&p384)), &[1]),
            KeyAlgorithm::Ec(EcCurve::P384),
        ),
        (
            pkcs8(ec, Some(AnyRef::from(&p521)), &[1]),
            KeyAlgorithm::Ec(EcCurve::P521),
        ),
        (
            pkcs8(ec, Some(AnyRef::from(&k256)), &[1]),
            KeyAlgorithm::Ec(EcCurve::Other),
        ),
        (pkcs8("1.3.101.112", None, &[1]), KeyAlgorithm::Ed25519),
        (pkcs8("1.3.101.113", None, &[1]), KeyAlgorithm::Ed448),
        (pkcs8("1.2.840.10040.4.1", None, &[1]), KeyAlgorithm::Other),
    ] {
        let key = PrivateKey::from_pkcs8_der(&der, source());
        assert_eq!(key.algorithm().expect("classified"), expected);
        assert_eq!(key.pkcs8_der().expect("as is").expose_secret(), &der[..]);
    }
    let no_curve = PrivateKey::from_pkcs8_der(&pkcs8(ec, None, &[1]), source());
    let text = problem(no_curve.algorithm());
    assert!(
        text.contains("the PKCS#8 EC key does not name its curve"),
        "{text}"
    );
    let mut damaged = pkcs8("1.3.101.112", None, &[1; 40]);
    damaged.truncate(damaged.len() - 10);
    for der in [&damaged[..], &[0x30, 0x03, 0x02, 0x01, 0x00], &[]] {
        let text = problem(PrivateKey::from_pkcs8_der(der, source()).algorithm());
        assert!(
            text.contains("test key PEM: the PKCS#8 key is not valid DER"),
            "{text}"
        );
    }
}

#[test]
fn sec1_keys_name_their_curve_and_wrap_as_pkcs8() {
    let der = sec1(Some("1.3.132.0.34"));
    let key = key(KeyEncoding::Sec1, &der);
    assert_eq!(
        key.algorithm().expect("P-384"),
        KeyAlgorithm::Ec(EcCurve::P384)
    );
    let wrapped = key.pkcs8_der().expect("PKCS#8");
    let info = PrivateKeyInfoRef::from_der(wrapped.expose_secret()).expect("PKCS#8");
    assert_eq!(info.algorithm.oid, oid("1.2.840.10045.2.1"));
    assert_eq!(
        info.algorithm.parameters_oid().expect("curve"),
        oid("1.3.132.0.34")
    );
    assert_eq!(
        info.private_key.as_bytes(),
        &der[..],
        "the SEC1 key inside, unchanged"
    );
    assert!(info.public_key.is_none(), "PKCS#8 v1");
    let again = PrivateKey::from_pkcs8_der(wrapped.expose_secret(), source());
    assert_eq!(
        again.algorithm().expect("P-384"),
        KeyAlgorithm::Ec(EcCurve::P384)
    );

    let no_curve = key_problem(KeyEncoding::Sec1, &sec1(None));
    assert!(
        no_curve.contains("does not name its curve (no `[0]` parameters)"),
        "{no_curve}"
    );
    let damaged = key_problem(KeyEncoding::Sec1, &der[..der.len() - 3]);
    assert!(
        damaged.contains("the SEC1 EC key is not valid DER"),
        "{damaged}"
    );
}

fn key_problem(encoding: KeyEncoding, der: &[u8]) -> String {
    let key = key(encoding, der);
    let from_algorithm = problem(key.algorithm());
    assert_eq!(problem(key.pkcs8_der()), from_algorithm);
    from_algorithm
}

#[test]
fn pkcs1_keys_are_rsa_and_wrap_as_rsa_encryption() {
    let key = key(KeyEncoding::Pkcs1, &[0x30, 0x00]);
    assert_eq!(key.algorithm().expect("RSA"), KeyAlgorithm::Rsa);
    let wrapped = key.pkcs8_der().expect("PKCS#8");
    let info = PrivateKeyInfoRef::from_der(wrapped.expose_secret()).expect("PKCS#8");
    assert_eq!(info.algorithm.oid, oid("1.2.840.113549.1.1.1"));
    assert_eq!(info.algorithm.parameters, Some(AnyRef::NULL));
    assert_eq!(info.private_key.as_bytes(), &[0x30, 0x00]);
    assert!(matches!(
        key.der(),
        rustls_pki_types::PrivateKeyDer::Pkcs1(_)
    ));
}

#[test]
fn sources_name_themselves_and_their_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("missing.pem");
    let file = PemSource::file("client certificate", &path);
    assert_eq!(file.path(), Some(path.as_path()));
    let text = problem(file.read());
    assert!(
        text.contains(&format!(
            "client certificate file {}: cannot read it",
            path.display()
        )),
        "{text}"
    );
    std::fs::write(&path, b"x").expect("write");
    assert_eq!(file.read().expect("read").expose_secret(), b"x");
    let text = problem(PemSource::inline("CA root").read());
    assert!(
        text.contains("CA root PEM: there is no file to read"),
        "{text}"
    );
    assert_eq!(PemSource::named("a: `b`").to_string(), "a: `b`");
    assert_eq!(KeyEncoding::Sec1.to_string(), "SEC1");
    assert_eq!(KeyEncoding::Sec1.with_key_type(), "SEC1 EC");
}

#[test]
fn indented_pem_reads_as_if_it_were_not() {
    // As pasted into a TOML multi-line string inside an indented table.
    let indent = |text: String| {
        text.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    let key = private_key(indent(pem("PRIVATE KEY", "AQID")).as_bytes(), &source()).expect("key");
    assert_eq!(key.der().secret_der(), &[1, 2, 3]);
    let text = indent(format!(
        "{}{}",
        pem("CERTIFICATE", "AQID"),
        pem("CERTIFICATE", "BAUG")
    ));
    let certs = certificates(text.as_bytes(), &source()).expect("certificates");
    assert_eq!(
        certs.iter().map(PemCertificate::block).collect::<Vec<_>>(),
        [1, 2]
    );
}
