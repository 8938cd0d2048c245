//! What names a token in the fleet: [`FleetKey`] (every parameter that makes a token different)
//! and [`EncryptionKey`] (the 32-byte key that seals values and keys the hashes).

use std::{collections::BTreeMap, fmt};

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD},
};
use ring::hmac;
use secrecy::{ExposeSecret, SecretBox, SecretString};

use crate::FleetError;

/// The fleet cache's key: 32 random bytes, from base64 (standard or URL-safe alphabet, padded or
/// not). It seals every value (AEAD) and keys every hash that names a Redis key, so read access
/// to Redis hands out neither tokens nor a way to test guesses of a client secret.
///
/// `Debug` never shows it.
///
/// ```
/// use auth_redis::EncryptionKey;
/// let key = EncryptionKey::generate()?;
/// let again = EncryptionKey::from_base64(key.to_base64().expose_secret())?;
/// assert_eq!(key.id(), again.id());
/// assert!(EncryptionKey::from_base64("c2hvcnQ=").is_err());
/// # use secrecy::ExposeSecret;
/// # Ok::<(), auth_redis::FleetError>(())
/// ```
pub struct EncryptionKey {
    bytes: SecretBox<[u8; 32]>,
}

impl EncryptionKey {
    /// Length of a key in bytes.
    pub const LEN: usize = 32;

    /// A fresh random key (what `tower-auth config gen-key` prints).
    pub fn generate() -> Result<Self, FleetError> {
        let mut bytes = [0u8; Self::LEN];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .map_err(|_| FleetError::config("encryption_key", "the system random source failed"))?;
        Ok(Self::from_bytes(bytes))
    }

    /// A key from its 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            bytes: SecretBox::new(Box::new(bytes)),
        }
    }

    /// A key from base64 (standard or URL-safe alphabet, with or without padding).
    pub fn from_base64(text: &str) -> Result<Self, FleetError> {
        let text = text.trim().trim_end_matches('=');
        let decoded = STANDARD_NO_PAD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text))
            .map_err(|_| FleetError::config("encryption_key", "is not base64"))?;
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            FleetError::config(
                "encryption_key",
                format!("must be 32 bytes, found {}", decoded.len()),
            )
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key in standard base64, padded.
    pub fn to_base64(&self) -> SecretString {
        base64::engine::general_purpose::STANDARD
            .encode(self.bytes.expose_secret())
            .into()
    }

    /// A short, non-secret id of this key (8 hex digits), stored beside each sealed value so a
    /// value sealed under another key is recognised and ignored.
    pub fn id(&self) -> String {
        hex(&self.derive(b"key id")[..4])
    }

    /// A 32-byte subkey for `label` (HMAC-SHA256 of the label under this key).
    pub(crate) fn derive(&self, label: &[u8]) -> [u8; 32] {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.bytes.expose_secret());
        let mut input = b"tower-auth fleet cache v1 ".to_vec();
        input.extend_from_slice(label);
        let tag = hmac::sign(&key, &input);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

/// Everything that makes one token different from another: two sources with different keys
/// never share a token. The client secret goes in only through a keyed hash, so it never reaches
/// Redis. Scopes are sorted and deduplicated; extra parameters are sorted by name.
///
/// ```
/// use auth_redis::FleetKey;
/// let a = FleetKey::builder("https://idp.example/token", "client-1")
///     .grant("client_credentials")
///     .scopes(["write", "read"])
///     .client_secret("s3cret")
///     .build();
/// let b = FleetKey::builder("https://idp.example/token", "client-1")
///     .grant("client_credentials")
///     .scopes(["read", "write"])
///     .client_secret("s3cret")
///     .build();
/// assert_eq!(a, b);
/// assert!(!format!("{a:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct FleetKey {
    fields: BTreeMap<&'static str, String>,
    scopes: Vec<String>,
    extra: BTreeMap<String, String>,
    secret: Option<SecretString>,
}

impl FleetKey {
    /// Starts a key for tokens from `token_url` issued to `client_id`.
    pub fn builder(token_url: impl Into<String>, client_id: impl Into<String>) -> FleetKeyBuilder {
        let mut fields = BTreeMap::new();
        fields.insert("token_url", token_url.into());
        fields.insert("client_id", client_id.into());
        FleetKeyBuilder {
            key: FleetKey {
                fields,
                scopes: Vec::new(),
                extra: BTreeMap::new(),
                secret: None,
            },
        }
    }

    /// The keyed hash of every field (length-prefixed, so no two field lists encode alike).
    pub(crate) fn digest(&self, hash_key: &hmac::Key) -> String {
        let mut ctx = hmac::Context::with_key(hash_key);
        let mut put = |name: &[u8], value: &[u8]| {
            for part in [name, value] {
                ctx.update(&(part.len() as u64).to_be_bytes());
                ctx.update(part);
            }
        };
        for (name, value) in &self.fields {
            put(name.as_bytes(), value.as_bytes());
        }
        for scope in &self.scopes {
            put(b"scope", scope.as_bytes());
        }
        for (name, value) in &self.extra {
            put(b"extra", name.as_bytes());
            put(b"extra value", value.as_bytes());
        }
        if let Some(secret) = &self.secret {
            // The secret's own keyed hash, so the digest input never holds it in clear twice.
            let inner = hmac::sign(hash_key, secret.expose_secret().as_bytes());
            put(b"client_secret", inner.as_ref());
        }
        hex(&ctx.sign().as_ref()[..20])
    }
}

impl PartialEq for FleetKey {
    fn eq(&self, other: &Self) -> bool {
        self.fields == other.fields
            && self.scopes == other.scopes
            && self.extra == other.extra
            && self.secret.as_ref().map(|s| s.expose_secret().to_owned())
                == other.secret.as_ref().map(|s| s.expose_secret().to_owned())
    }
}

impl fmt::Debug for FleetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetKey")
            .field("fields", &self.fields)
            .field("scopes", &self.scopes)
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .field("client_secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Builds a [`FleetKey`]; every setter is optional.
#[derive(Debug)]
pub struct FleetKeyBuilder {
    key: FleetKey,
}

impl FleetKeyBuilder {
    fn field(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.key.fields.insert(name, value.into());
        self
    }

    /// The OAuth grant (`client_credentials`, `urn:ietf:params:oauth:grant-type:jwt-bearer`, …).
    pub fn grant(self, grant: impl Into<String>) -> Self {
        self.field("grant", grant)
    }

    /// The requested scopes, in any order.
    pub fn scopes<I, T>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.key.scopes.extend(scopes.into_iter().map(Into::into));
        self.key.scopes.sort();
        self.key.scopes.dedup();
        self
    }

    /// The `audience` parameter.
    pub fn audience(self, audience: impl Into<String>) -> Self {
        self.field("audience", audience)
    }

    /// The `resource` parameter(s) (RFC 8707), in any order.
    pub fn resources<I, T>(self, resources: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let mut all: Vec<String> = resources.into_iter().map(Into::into).collect();
        all.sort();
        all.dedup();
        self.field("resource", all.join("\n"))
    }

    /// The subject or user of a delegated grant (JWT bearer `sub`, a keyed source's key).
    pub fn subject(self, subject: impl Into<String>) -> Self {
        self.field("subject", subject)
    }

    /// Another token-shaping parameter sent to the token endpoint.
    pub fn extra(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.key.extra.insert(name.into(), value.into());
        self
    }

    /// The client secret (or anything else secret that shapes the token, such as the private
    /// key of an assertion): only its keyed hash enters the key.
    pub fn client_secret(mut self, secret: impl Into<SecretString>) -> Self {
        self.key.secret = Some(secret.into());
        self
    }

    /// The key.
    pub fn build(self) -> FleetKey {
        self.key
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}
