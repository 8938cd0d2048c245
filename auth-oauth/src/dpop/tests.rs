use auth_core::{ExposeSecret, SecretString};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header::WWW_AUTHENTICATE};
use ring::signature::{ECDSA_P256_SHA256_FIXED, ED25519, UnparsedPublicKey};
use serde_json::Value;

use super::*;

/// The header and claims of a compact JWS, and whether its signature verifies with the JWK in
/// its own header (what a DPoP server checks first).
fn open(jwt: &str) -> (Value, Value) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    for part in &parts {
        assert!(!part.contains('='), "no padding: {part}");
    }
    let decode = |p: &str| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).expect("base64url")).expect("JSON")
    };
    let header = decode(parts[0]);
    let claims = decode(parts[1]);
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("signature");
    let signed = format!("{}.{}", parts[0], parts[1]);
    let jwk = &header["jwk"];
    let b = |name: &str| {
        URL_SAFE_NO_PAD
            .decode(jwk[name].as_str().expect("member"))
            .expect("b64")
    };
    match header["alg"].as_str() {
        Some("ES256") => {
            let mut point = vec![4u8];
            point.extend(b("x"));
            point.extend(b("y"));
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(signed.as_bytes(), &signature)
                .expect("ES256 signature verifies with the header's jwk");
        }
        Some("EdDSA") => {
            UnparsedPublicKey::new(&ED25519, b("x"))
                .verify(signed.as_bytes(), &signature)
                .expect("EdDSA signature verifies with the header's jwk");
        }
        other => panic!("unexpected alg {other:?}"),
    }
    (header, claims)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[test]
fn a_proof_has_the_rfc_9449_header_and_claims() {
    for key in [
        DpopKey::generate_es256().expect("key"),
        DpopKey::generate_ed25519().expect("key"),
    ] {
        let token = SecretString::from("the-access-token");
        let jwt = key
            .proof(
                &Method::GET,
                "https://API.example.com:443/v1/items?page=2#top",
                Some(&token),
                Some("n-1"),
            )
            .expect("proof");
        let (header, claims) = open(jwt.expose_secret());
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], key.algorithm().as_str());
        assert!(
            header["jwk"].get("d").is_none(),
            "no private member in the jwk"
        );
        assert_eq!(header["jwk"].to_string(), key.public_jwk().to_owned());
        assert_eq!(claims["htm"], "GET");
        assert_eq!(claims["htu"], "https://api.example.com/v1/items");
        assert_eq!(claims["nonce"], "n-1");
        // ath: base64url SHA-256 of the token's ASCII (RFC 9449 §4.2).
        let expected = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            b"the-access-token",
        ));
        assert_eq!(claims["ath"], expected);
        let iat = claims["iat"].as_u64().expect("iat");
        assert!(iat.abs_diff(now()) <= 2, "iat within skew: {iat}");
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(claims["jti"].as_str().expect("jti"))
                .expect("b64")
                .len(),
            16
        );
    }
}

#[test]
fn a_token_request_proof_has_no_ath_and_no_nonce_until_one_came() {
    let key = DpopKey::generate_es256().expect("key");
    let jwt = key
        .proof(&Method::POST, "http://127.0.0.1:8080/token", None, None)
        .expect("proof");
    let (_, claims) = open(jwt.expose_secret());
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], "http://127.0.0.1:8080/token");
    assert!(claims.get("ath").is_none());
    assert!(claims.get("nonce").is_none());
}

#[test]
fn every_proof_has_its_own_jti() {
    let key = DpopKey::generate_es256().expect("key");
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        let jwt = key
            .proof(&Method::GET, "https://a.example/x", None, None)
            .expect("proof");
        let (_, claims) = open(jwt.expose_secret());
        assert!(seen.insert(claims["jti"].as_str().expect("jti").to_owned()));
    }
}

#[test]
fn htu_normalization() {
    let cases = [
        ("https://Example.COM/a/b?q=1#f", "https://example.com/a/b"),
        ("https://example.com:443/", "https://example.com/"),
        ("https://example.com:8443/p", "https://example.com:8443/p"),
        ("http://example.com:80/p", "http://example.com/p"),
        ("http://example.com:443/p", "http://example.com:443/p"),
        ("http://user:pw@example.com/p", "http://example.com/p"),
        ("http://[::1]:8080/p", "http://[::1]:8080/p"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com?x=1", "http://example.com/"),
    ];
    for (input, expected) in cases {
        let uri: Uri = input.parse().expect("uri");
        assert_eq!(htu(&uri).expect("htu"), expected, "{input}");
    }
    let relative: Uri = "/v1/items".parse().expect("uri");
    let err = htu(&relative).expect_err("relative");
    assert!(err.to_string().contains("absolute"), "{err}");
}

#[test]
fn nonces_are_kept_per_origin() {
    let dpop = Dpop::new(DpopKey::generate_es256().expect("key"));
    let a: Uri = "https://a.example/token".parse().expect("uri");
    let a_other_path: Uri = "https://A.example:443/api?x".parse().expect("uri");
    let b: Uri = "https://b.example/api".parse().expect("uri");
    let mut headers = HeaderMap::new();
    headers.insert(&DPOP_NONCE, HeaderValue::from_static("nonce-a"));
    assert!(dpop.remember_nonce(&a, &headers), "a new nonce");
    assert!(!dpop.remember_nonce(&a, &headers), "the same nonce again");
    assert_eq!(dpop.nonce_for(&a_other_path).as_deref(), Some("nonce-a"));
    assert_eq!(dpop.nonce_for(&b), None);
    headers.insert(&DPOP_NONCE, HeaderValue::from_static("nonce-b"));
    assert!(dpop.remember_nonce(&b, &headers));
    assert_eq!(dpop.nonce_for(&a).as_deref(), Some("nonce-a"));
    assert_eq!(dpop.nonce_for(&b).as_deref(), Some("nonce-b"));
    // The proof to a carries a's nonce.
    let value = dpop.proof_header(&Method::GET, &a, None).expect("proof");
    assert!(value.is_sensitive());
    let (_, claims) = open(value.to_str().expect("ascii"));
    assert_eq!(claims["nonce"], "nonce-a");
}

#[test]
fn the_origins_kept_are_bounded() {
    let dpop = Dpop::new(DpopKey::generate_es256().expect("key"));
    let mut headers = HeaderMap::new();
    headers.insert(&DPOP_NONCE, HeaderValue::from_static("n"));
    for i in 0..1000 {
        let uri: Uri = format!("https://h{i}.example/").parse().expect("uri");
        dpop.remember_nonce(&uri, &headers);
    }
    assert_eq!(dpop.inner.nonces.len(), 256);
    let newest: Uri = "https://h999.example/".parse().expect("uri");
    assert!(dpop.nonce_for(&newest).is_some());
    let oldest: Uri = "https://h0.example/".parse().expect("uri");
    assert!(dpop.nonce_for(&oldest).is_none());
}

#[test]
fn a_binding_answers_a_nonce_challenge_once_per_new_nonce() {
    let dpop = Dpop::new(DpopKey::generate_es256().expect("key"));
    let binding = dpop.bind(&SecretString::from("tok"));
    let uri: Uri = "https://api.example/v1".parse().expect("uri");
    let mut headers = HeaderMap::new();
    headers.insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"DPoP error="use_dpop_nonce", error_description="nonce""#),
    );
    // A challenge without a nonce: nothing to answer with.
    assert!(!binding.observe(Some(&uri), StatusCode::UNAUTHORIZED, &headers));
    headers.insert(&DPOP_NONCE, HeaderValue::from_static("fresh"));
    assert!(binding.observe(Some(&uri), StatusCode::UNAUTHORIZED, &headers));
    // The same nonce again: the proof already carried it, a resend would fail the same way.
    assert!(!binding.observe(Some(&uri), StatusCode::UNAUTHORIZED, &headers));
    // A 200 with a rotated nonce is remembered, and is no challenge.
    let mut ok = HeaderMap::new();
    ok.insert(&DPOP_NONCE, HeaderValue::from_static("rotated"));
    assert!(!binding.observe(Some(&uri), StatusCode::OK, &ok));
    assert_eq!(dpop.nonce_for(&uri).as_deref(), Some("rotated"));
    // A plain invalid_token 401 is a rejection, not a challenge.
    let mut rejected = HeaderMap::new();
    rejected.insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"DPoP error="invalid_token""#),
    );
    rejected.insert(&DPOP_NONCE, HeaderValue::from_static("another"));
    assert!(!binding.observe(Some(&uri), StatusCode::UNAUTHORIZED, &rejected));
    let (name, value) = binding.proof(&Method::GET, &uri).expect("proof");
    assert_eq!(name, "dpop");
    let (_, claims) = open(value.to_str().expect("ascii"));
    assert_eq!(claims["nonce"], "another");
    assert_eq!(binding.scheme(), "DPoP");
}

#[test]
fn keys_from_pem_and_rsa() {
    let key = DpopKey::from_pem(auth_test_support_free_p256_pem()).expect("pem");
    assert_eq!(key.algorithm().as_str(), "ES256");
    let again = DpopKey::from_pem(auth_test_support_free_p256_pem()).expect("pem");
    assert_eq!(
        key.thumbprint(),
        again.thumbprint(),
        "the same key, the same jkt"
    );
    let err = DpopKey::from_pem("not a key").expect_err("bad pem");
    assert!(!err.to_string().is_empty());
}

/// A P-256 PKCS#8 PEM made here (the test PKI lives in auth-test-support, which this crate's
/// unit tests do not depend on).
fn auth_test_support_free_p256_pem() -> String {
    static PEM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PEM.get_or_init(|| {
        let rng = ring::rand::SystemRandom::new();
        let doc = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .expect("key");
        let b64 = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
        format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n")
    })
    .clone()
}

#[test]
fn debug_shows_no_key_material() {
    let key = DpopKey::generate_es256().expect("key");
    let dpop = Dpop::new(key.clone()).required(true);
    let shown = format!("{dpop:?} {key:?}");
    assert!(shown.contains("[redacted EC P-256]"), "{shown}");
    assert!(!shown.contains(key.public_jwk()), "{shown}");
    assert!(shown.contains("required: true"), "{shown}");
}

#[test]
fn without_a_uri_the_nonce_goes_to_the_latest_proofs_origin() {
    let dpop = Dpop::new(DpopKey::generate_es256().expect("key"));
    let binding = dpop.bind(&SecretString::from("tok"));
    let uri: Uri = "https://api.example/upload".parse().expect("uri");
    let mut headers = HeaderMap::new();
    headers.insert(&DPOP_NONCE, HeaderValue::from_static("n"));
    // No proof yet: nowhere to file it.
    assert!(!binding.observe(None, StatusCode::OK, &headers));
    assert_eq!(dpop.inner.nonces.len(), 0);
    binding.proof(&Method::POST, &uri).expect("proof");
    assert!(!binding.observe(None, StatusCode::OK, &headers));
    assert_eq!(dpop.nonce_for(&uri).as_deref(), Some("n"));
}
