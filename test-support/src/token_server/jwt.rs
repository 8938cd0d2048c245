//! Strict checks of JWT assertions (RFC 7523) for the in-process servers, written apart from
//! auth-oauth's signer: ring verification, the server's own parsing.
//!
//! A strict server (Authlib, Keycloak) rejects what lenient ones let through, so these checks
//! do too: base64url without padding, `typ` `JWT` when present, no `crit`, no `null` claims,
//! `iss`, `aud`, `iat`, `exp` not past and not too far, a `jti` never seen before.

use std::{
    collections::HashSet,
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use pkcs8::{ObjectIdentifier, SubjectPublicKeyInfoRef, der::Decode};
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use rustls::pki_types::{SubjectPublicKeyInfoDer, pem::PemObject};
use serde_json::{Map, Value};

/// A JSON object: a JOSE header or a claims set.
type Object = Map<String, Value>;

const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Clock difference tolerated on `iat` and `exp`, in seconds.
const LEEWAY: u64 = 60;

/// A public key and the JWS algorithm assertions must be signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    alg: &'static str,
    /// ring's format: `RSAPublicKey` DER, an uncompressed EC point, or a raw Ed25519 key.
    bytes: Vec<u8>,
}

impl PublicKey {
    /// From a `PUBLIC KEY` (SubjectPublicKeyInfo) PEM, as `openssl pkey -pubout` writes it:
    /// RSA (verified as `RS256`), EC P-256 (`ES256`), EC P-384 (`ES384`) or Ed25519 (`EdDSA`).
    ///
    /// # Panics
    ///
    /// When the PEM is not such a key.
    pub fn from_spki_pem(pem: &str) -> PublicKey {
        let der =
            SubjectPublicKeyInfoDer::from_pem_slice(pem.as_bytes()).expect("a PUBLIC KEY PEM");
        let spki = SubjectPublicKeyInfoRef::from_der(der.as_ref()).expect("SubjectPublicKeyInfo");
        let bytes = spki.subject_public_key.raw_bytes().to_vec();
        let alg = match (spki.algorithm.oid, spki.algorithm.parameters_oid().ok()) {
            (RSA, _) => "RS256",
            (ED25519, _) => "EdDSA",
            (EC, Some(P256)) => "ES256",
            (EC, Some(P384)) => "ES384",
            (EC, _) => panic!("unsupported curve"),
            _ => panic!("unsupported public key type"),
        };
        PublicKey { alg, bytes }
    }

    /// A key in ring's format for `alg`: an uncompressed EC point (`ES256`, `ES384`), a raw
    /// Ed25519 key (`EdDSA`) or an `RSAPublicKey` DER (`RS*`, `PS*`).
    pub fn raw(alg: &'static str, bytes: &[u8]) -> PublicKey {
        PublicKey {
            alg,
            bytes: bytes.to_vec(),
        }
    }

    /// Expects `alg` instead (e.g. `PS256` for an RSA key).
    pub fn with_algorithm(mut self, alg: &'static str) -> PublicKey {
        self.alg = alg;
        self
    }

    /// The algorithm assertions must use.
    pub fn algorithm(&self) -> &str {
        self.alg
    }

    /// The key in ring's format: also the `subjectPublicKey` bits of a certificate for it.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn verification(&self) -> &'static dyn VerificationAlgorithm {
        match self.alg {
            "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
            "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
            "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
            "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
            "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
            "PS512" => &signature::RSA_PSS_2048_8192_SHA512,
            "ES256" => &signature::ECDSA_P256_SHA256_FIXED,
            "ES384" => &signature::ECDSA_P384_SHA384_FIXED,
            _ => &signature::ED25519,
        }
    }
}

/// An assertion that passed every check.
#[derive(Debug, Clone)]
pub struct VerifiedAssertion {
    /// `grant` (the JWT bearer grant's `assertion`) or `client` (`client_assertion`).
    pub kind: &'static str,
    /// The JOSE header.
    pub header: Map<String, Value>,
    /// The claims.
    pub claims: Map<String, Value>,
}

/// What an assertion must say besides its signature.
pub(crate) struct Expect<'a> {
    pub(crate) issuer: &'a str,
    /// `None`: any subject, but one must be there unless `subject_optional`.
    pub(crate) subject: Option<&'a str>,
    pub(crate) subject_optional: bool,
    /// `aud` must contain one of these.
    pub(crate) audiences: &'a [String],
    /// Longest accepted `exp` − now, in seconds.
    pub(crate) max_lifetime: u64,
}

/// Checks `jwt` fully; the reason it is rejected otherwise. A `jti` is remembered in `seen`
/// only once the assertion passed every other check.
pub(crate) fn verify(
    jwt: &str,
    key: &PublicKey,
    expect: &Expect<'_>,
    seen: &Mutex<HashSet<String>>,
) -> Result<(Object, Object), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts[..] else {
        return Err(format!("{} parts, expected 3", parts.len()));
    };
    let header = object(header_b64, "header")?;
    let claims = object(claims_b64, "claims")?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| "signature is not base64url without padding".to_owned())?;
    if header.get("alg").and_then(Value::as_str) != Some(key.alg) {
        return Err(format!("alg is not {}", key.alg));
    }
    if header.get("typ").is_some_and(|t| t != "JWT") {
        return Err("typ is not JWT".to_owned());
    }
    if header.contains_key("crit") {
        return Err("unsupported crit header".to_owned());
    }
    let signed = &jwt[..header_b64.len() + 1 + claims_b64.len()];
    UnparsedPublicKey::new(key.verification(), &key.bytes)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| "bad signature".to_owned())?;

    if let Some((name, _)) = claims.iter().find(|(_, v)| v.is_null()) {
        return Err(format!("claim {name} is null"));
    }
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(expect.issuer) {
        return Err("wrong iss".to_owned());
    }
    match (text("sub"), expect.subject) {
        (Some(sub), Some(expected)) if sub != expected => return Err("wrong sub".to_owned()),
        (None, _) if !expect.subject_optional || claims.contains_key("sub") => {
            return Err("no sub".to_owned());
        }
        _ => {}
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => return Err("no aud".to_owned()),
    };
    if !audiences
        .iter()
        .any(|a| expect.audiences.iter().any(|e| e == a))
    {
        return Err("wrong aud".to_owned());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let number = |name: &str| claims.get(name).and_then(Value::as_u64);
    let (Some(iat), Some(exp)) = (number("iat"), number("exp")) else {
        return Err("iat and exp must be numbers".to_owned());
    };
    if exp <= now {
        return Err("expired".to_owned());
    }
    if exp > now + expect.max_lifetime + LEEWAY || exp - iat.min(exp) > expect.max_lifetime {
        return Err("exp too far in the future".to_owned());
    }
    if iat > now + LEEWAY || iat >= exp {
        return Err("bad iat".to_owned());
    }
    let jti = text("jti").filter(|j| !j.is_empty()).ok_or("no jti")?;
    if !seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(jti.to_owned())
    {
        return Err("jti replayed".to_owned());
    }
    Ok((header, claims))
}

/// The `iss` of an assertion, read without checking anything, to find the issuer's key.
pub(crate) fn unverified_issuer(jwt: &str) -> Option<String> {
    let claims = object(jwt.split('.').nth(1)?, "claims").ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

fn object(part: &str, what: &str) -> Result<Map<String, Value>, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| format!("{what} is not base64url without padding"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(format!("{what} is not a JSON object")),
    }
}
