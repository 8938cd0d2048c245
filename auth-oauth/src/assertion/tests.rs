//! Signing and encoding, checked with ring's verifier. RSA keys need the `openssl` command and
//! are covered by the integration tests (`tests/jwt_bearer.rs`).

use std::time::Duration;

use auth_core::{ErrorKind, ExposeSecret};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use pkcs8::{
    ObjectIdentifier, PrivateKeyInfoRef,
    der::{Decode, Encode},
};
use ring::{
    rand::SystemRandom,
    signature::{
        self, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, UnparsedPublicKey,
        VerificationAlgorithm,
    },
};
use sec1::{EcParameters, EcPrivateKey};
use serde_json::{Map, Value, json};

use super::{AssertionClaims, SigningKey};
use crate::assertion::Algorithm;

const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

fn pem(label: &str, der: &[u8]) -> String {
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        STANDARD.encode(der)
    )
}

/// A fresh EC key: (PKCS#8 DER, public point).
fn ec_key(alg: &'static EcdsaSigningAlgorithm) -> (Vec<u8>, Vec<u8>) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("key");
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("key");
    (pkcs8.as_ref().to_vec(), pair.public_key().as_ref().to_vec())
}

/// The SEC1 `ECPrivateKey` of an EC PKCS#8 key, with `curve` in `[0]` (or none).
fn sec1(pkcs8: &[u8], curve: Option<ObjectIdentifier>) -> Vec<u8> {
    let info = PrivateKeyInfoRef::from_der(pkcs8).expect("PKCS#8");
    let mut key = EcPrivateKey::from_der(info.private_key.as_bytes()).expect("ECPrivateKey");
    key.parameters = curve.map(EcParameters::NamedCurve);
    key.to_der().expect("DER")
}

/// Verifies a compact JWS; its header and claims.
fn verify(
    jws: &str,
    alg: &'static dyn VerificationAlgorithm,
    public: &[u8],
) -> (Map<String, Value>, Map<String, Value>) {
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3, "compact JWS");
    assert!(!jws.contains('='), "no padding: {jws}");
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("base64url");
    let signed = format!("{}.{}", parts[0], parts[1]);
    UnparsedPublicKey::new(alg, public)
        .verify(signed.as_bytes(), &signature)
        .expect("the signature verifies");
    let decode = |part: &str| -> Map<String, Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
    };
    (decode(parts[0]), decode(parts[1]))
}

fn claims() -> AssertionClaims {
    AssertionClaims::new("svc").audience("https://auth.example/token")
}

#[test]
fn es256_from_pkcs8_and_sec1_signs_verifiable_assertions() {
    let (pkcs8, public) = ec_key(&signature::ECDSA_P256_SHA256_FIXED_SIGNING);
    for text in [
        pem("PRIVATE KEY", &pkcs8),
        pem("EC PRIVATE KEY", &sec1(&pkcs8, Some(P256))),
    ] {
        let key = SigningKey::from_pem(&text).expect("key").with_key_id("k1");
        assert_eq!(key.algorithm(), Algorithm::Es256);
        let jws = claims().subject("svc").sign(&key).expect("signed");
        let (header, claims) = verify(
            jws.expose_secret(),
            &signature::ECDSA_P256_SHA256_FIXED,
            &public,
        );
        assert_eq!(
            Value::Object(header),
            json!({ "alg": "ES256", "typ": "JWT", "kid": "k1" })
        );
        assert_eq!(claims["iss"], "svc");
        assert_eq!(claims["sub"], "svc");
        assert_eq!(claims["aud"], "https://auth.example/token");
    }
}

#[test]
fn es384_and_ed25519_keys_pick_their_algorithm() {
    let (pkcs8, public) = ec_key(&signature::ECDSA_P384_SHA384_FIXED_SIGNING);
    let key = SigningKey::from_pkcs8_der(&pkcs8).expect("P-384");
    assert_eq!(key.algorithm(), Algorithm::Es384);
    let jws = claims().sign(&key).expect("signed");
    verify(
        jws.expose_secret(),
        &signature::ECDSA_P384_SHA384_FIXED,
        &public,
    );
    let sec1_key =
        SigningKey::from_pem(pem("EC PRIVATE KEY", &sec1(&pkcs8, Some(P384)))).expect("SEC1");
    assert_eq!(sec1_key.algorithm(), Algorithm::Es384);

    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("key");
    let public = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .expect("key")
        .public_key()
        .as_ref()
        .to_vec();
    let key = SigningKey::from_pem(pem("PRIVATE KEY", pkcs8.as_ref())).expect("Ed25519");
    assert_eq!(key.algorithm(), Algorithm::EdDsa);
    let (header, _) = verify(
        claims().sign(&key).expect("signed").expose_secret(),
        &signature::ED25519,
        &public,
    );
    assert_eq!(header["alg"], "EdDSA");
}

#[test]
fn claims_are_strict_fresh_and_never_null() {
    let (pkcs8, public) = ec_key(&signature::ECDSA_P256_SHA256_FIXED_SIGNING);
    let key = SigningKey::from_pkcs8_der(&pkcs8).expect("key");
    let claims = AssertionClaims::new("svc")
        .audience("a1")
        .audience("a2")
        .lifetime(Duration::from_secs(300))
        .claim("tenant", "acme")
        .claim("nothing", Value::Null);
    let mut jtis = std::collections::HashSet::new();
    for _ in 0..3 {
        let jws = claims.sign(&key).expect("signed");
        let (header, claims) = verify(
            jws.expose_secret(),
            &signature::ECDSA_P256_SHA256_FIXED,
            &public,
        );
        assert!(!header.contains_key("kid"), "no kid set, none sent");
        assert_eq!(claims["aud"], json!(["a1", "a2"]));
        assert_eq!(claims["tenant"], "acme");
        assert!(!claims.contains_key("nothing"), "null claims are left out");
        assert!(!claims.contains_key("sub"), "an absent subject is left out");
        assert!(claims.values().all(|v| !v.is_null()));
        let (iat, exp) = (claims["iat"].as_u64(), claims["exp"].as_u64());
        assert_eq!(exp.zip(iat).map(|(e, i)| e - i), Some(300));
        let jti = claims["jti"].as_str().expect("jti").to_owned();
        assert_eq!(URL_SAFE_NO_PAD.decode(&jti).expect("base64url").len(), 16);
        assert!(jtis.insert(jti), "every assertion has a new jti");
    }
}

#[test]
fn bad_claims_are_config_errors_naming_the_setting() {
    let (pkcs8, _) = ec_key(&signature::ECDSA_P256_SHA256_FIXED_SIGNING);
    let key = SigningKey::from_pkcs8_der(&pkcs8).expect("key");
    for (claims, expected) in [
        (AssertionClaims::new("svc"), "audience: is missing"),
        (
            AssertionClaims::new(" ").audience("a"),
            "issuer: is missing",
        ),
        (claims().subject(""), "subject: is empty"),
        (
            claims().claim("exp", 1),
            "claims.exp: is set by the assertion",
        ),
        (claims().claim("jti", "x"), "claims.jti"),
        (
            claims().lifetime(Duration::from_secs(25 * 3600)),
            "assertion lifetime",
        ),
        (claims().lifetime(Duration::ZERO), "assertion lifetime"),
    ] {
        let err = claims.sign(&key).expect_err(expected);
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains(expected), "{err}");
    }
}

#[test]
fn a_key_refuses_algorithms_of_another_key_type() {
    let (pkcs8, _) = ec_key(&signature::ECDSA_P256_SHA256_FIXED_SIGNING);
    let key = SigningKey::from_pkcs8_der(&pkcs8).expect("key");
    for alg in [
        Algorithm::Rs256,
        Algorithm::Ps256,
        Algorithm::Es384,
        Algorithm::EdDsa,
    ] {
        let err = key.clone().with_algorithm(alg).expect_err("mismatch");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.to_string().contains(&format!("{alg} needs an")),
            "{err}"
        );
        assert!(
            err.to_string().contains("the private key is EC P-256"),
            "{err}"
        );
    }
    assert!(key.with_algorithm(Algorithm::Es256).is_ok());
}

#[test]
fn unusable_keys_are_named_without_the_key() {
    let (pkcs8, _) = ec_key(&signature::ECDSA_P256_SHA256_FIXED_SIGNING);
    let scalar_b64 = STANDARD.encode(&pkcs8[36..68]);
    let mut damaged = pkcs8.clone();
    damaged.truncate(pkcs8.len() - 10);
    let no_curve = sec1(&pkcs8, None);
    for (text, expected) in [
        (pem("PRIVATE KEY", &damaged), "not valid DER"),
        (pem("EC PRIVATE KEY", &no_curve), "does not name its curve"),
        (
            pem("RSA PRIVATE KEY", &pkcs8),
            "PKCS#1 RSA private key cannot be used",
        ),
        (
            pem("PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]),
            "not valid DER",
        ),
        (pem("PUBLIC KEY", &pkcs8), "not the public one"),
    ] {
        let err = SigningKey::from_pem(&text).expect_err(expected);
        assert_eq!(err.kind(), ErrorKind::Config);
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("private key PEM"), "{shown}");
        assert!(shown.contains(expected), "{shown}");
        assert!(!shown.contains(&scalar_b64), "the key leaks: {shown}");
    }
    let err = SigningKey::from_pem_file("/nonexistent/key.pem").expect_err("missing");
    assert!(
        err.to_string()
            .contains("private key file /nonexistent/key.pem: cannot read it"),
        "{err}"
    );
}

#[test]
fn debug_names_the_key_type_but_not_the_key() {
    let (pkcs8, _) = ec_key(&signature::ECDSA_P256_SHA256_FIXED_SIGNING);
    let text = pem("PRIVATE KEY", &pkcs8);
    let key = SigningKey::from_pem(&text)
        .expect("key")
        .with_key_id("kid-1");
    let shown = format!("{key:?} {key:#?}");
    assert!(shown.contains("[redacted EC P-256 PKCS#8]"), "{shown}");
    assert!(shown.contains("kid-1"));
    let body = STANDARD.encode(&pkcs8);
    for window in body.as_bytes().chunks(16) {
        let window = std::str::from_utf8(window).expect("ascii");
        assert!(!shown.contains(window), "{shown}");
    }
}
