//! [`AssertionClaims`] and the compact JWS encoding of a signed assertion.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_core::{AuthError, ErrorKind, SecretString};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value, json};

use super::SigningKey;

/// Default lifetime of an assertion (`exp` − `iat`): 1 hour, the most Google accepts.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest lifetime an assertion of the JWT bearer grant may have: 24 hours. Servers cap it
/// lower (Google: 1 hour); a long-lived assertion is a long-lived credential.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Claims set from the settings and the clock; extra claims may not override them.
const REGISTERED: [&str; 7] = ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"];

/// The claims of a JWT assertion (RFC 7523 §3): `iss`, `sub`, `aud`, the lifetime, and extra
/// claims. Each signature adds a fresh `iat`, `exp` and a random 128-bit `jti`.
///
/// Assertions pass strict servers: compact JWS with base64url without padding, `typ: JWT`,
/// the key's `kid`, and no `null` claims (absent ones are left out, as are extra claims set to
/// `null`).
///
/// ```
/// use auth_oauth::assertion::AssertionClaims;
/// use std::time::Duration;
///
/// let claims = AssertionClaims::new("my-service@example.iam")
///     .subject("alice@example.com")
///     .audience("https://auth.example.com/token")
///     .lifetime(Duration::from_secs(300))
///     .claim("tenant", "acme");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AssertionClaims {
    issuer: String,
    subject: Option<String>,
    audiences: Vec<String>,
    lifetime: Duration,
    extra: Map<String, Value>,
}

impl AssertionClaims {
    /// Claims issued by `issuer` (the `iss` claim), with no subject or audience yet and the
    /// [default lifetime](DEFAULT_LIFETIME).
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            subject: None,
            audiences: Vec::new(),
            lifetime: DEFAULT_LIFETIME,
            extra: Map::new(),
        }
    }

    /// The `sub` claim: who the token is for. Left out when unset (Google service accounts
    /// without delegation); RFC 7523 servers generally want it.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Adds an `aud` value; one is sent as a string, several as an array. The grant defaults
    /// to the token endpoint's URL when none is set.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// How long each assertion is valid (`exp` − `iat`). Defaults to 1 hour; at most 24 hours
    /// for the JWT bearer grant.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Adds a claim. `null` values are left out of the assertion; the registered claims
    /// (`iss`, `sub`, `aud`, `exp`, `iat`, `nbf`, `jti`) are refused at build time.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(name.into(), value.into());
        self
    }

    /// The `iss` claim.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Whether an `aud` value is set.
    pub(crate) fn has_audience(&self) -> bool {
        !self.audiences.is_empty()
    }

    /// Whether an extra claim `name` is set.
    pub(crate) fn has_claim(&self, name: &str) -> bool {
        self.extra.contains_key(name)
    }

    /// Checks the claims: an issuer, an audience, no blank values, a lifetime from 1 second to
    /// `max`, no extra claim overriding a registered one.
    pub(crate) fn validate(&self, max: Duration) -> Result<(), AuthError> {
        if self.issuer.trim().is_empty() {
            return Err(AuthError::config("issuer", "is missing (the `iss` claim)"));
        }
        if self.subject.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err(AuthError::config("subject", "is empty (the `sub` claim)"));
        }
        if self.audiences.is_empty() {
            return Err(AuthError::config(
                "audience",
                "is missing (the `aud` claim; usually the token endpoint's URL)",
            ));
        }
        if self.audiences.iter().any(|a| a.trim().is_empty()) {
            return Err(AuthError::config("audience", "is empty (the `aud` claim)"));
        }
        if self.lifetime < Duration::from_secs(1) || self.lifetime > max {
            return Err(AuthError::config(
                "assertion lifetime",
                format!(
                    "{:?} is out of range: from 1 second to {} minutes",
                    self.lifetime,
                    max.as_secs() / 60
                ),
            ));
        }
        if let Some(name) = self.extra.keys().find(|n| REGISTERED.contains(&n.as_str())) {
            return Err(AuthError::config(
                format!("claims.{name}"),
                "is set by the assertion itself; use the dedicated setting",
            ));
        }
        if self.extra.keys().any(|n| n.is_empty()) {
            return Err(AuthError::config("claims", "a claim has an empty name"));
        }
        Ok(())
    }

    /// A signed assertion with these claims, valid from now for the lifetime, with a fresh
    /// `jti`. The assertion is a credential until it expires, hence a [`SecretString`].
    ///
    /// Fails with a config error when the claims are invalid (see [`AssertionClaims::claim`];
    /// an audience is required here).
    pub fn sign(&self, key: &SigningKey) -> Result<SecretString, AuthError> {
        self.validate(MAX_LIFETIME)?;
        self.sign_with(key, None)
    }

    /// Signs with an extra `scope` claim (the JWT bearer grant puts scopes there on request).
    /// The claims must have been validated.
    pub(crate) fn sign_with(
        &self,
        key: &SigningKey,
        scope: Option<&str>,
    ) -> Result<SecretString, AuthError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| AuthError::new(ErrorKind::Config, "the system clock is before 1970"))?
            .as_secs();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        if let Some(subject) = &self.subject {
            claims.insert("sub".into(), json!(subject));
        }
        claims.insert(
            "aud".into(),
            match self.audiences.as_slice() {
                [one] => json!(one),
                many => json!(many),
            },
        );
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + self.lifetime.as_secs()));
        claims.insert("jti".into(), json!(random_jti()?));
        if let Some(scope) = scope {
            claims.insert("scope".into(), json!(scope));
        }
        for (name, value) in &self.extra {
            if !value.is_null() {
                claims.insert(name.clone(), value.clone());
            }
        }
        encode(key, claims)
    }
}

/// Compact JWS: `base64url(header) . base64url(claims) . base64url(signature)`, no padding.
pub(crate) fn encode(
    key: &SigningKey,
    claims: Map<String, Value>,
) -> Result<SecretString, AuthError> {
    let mut header = Map::new();
    header.insert("alg".into(), json!(key.algorithm().as_str()));
    header.insert("typ".into(), json!("JWT"));
    if let Some(kid) = key.key_id() {
        header.insert("kid".into(), json!(kid));
    }
    let mut jws = URL_SAFE_NO_PAD.encode(Value::Object(header).to_string());
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(Value::Object(claims).to_string(), &mut jws);
    let signature = key.sign(jws.as_bytes())?;
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut jws);
    Ok(SecretString::from(jws))
}

/// 128 random bits, base64url: unique per assertion, so servers can reject replays.
fn random_jti() -> Result<String, AuthError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AuthError::new(ErrorKind::Config, "the system random generator failed"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}
