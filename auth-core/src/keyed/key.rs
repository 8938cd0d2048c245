//! [`TokenKey`]: a ready-made key for [`KeyedTokenSource`](super::KeyedTokenSource).

use std::{
    fmt,
    hash::{BuildHasher, Hash, Hasher, RandomState},
    sync::{Arc, LazyLock},
};

/// Whose token, for what: a subject (user or tenant id) and every request parameter that
/// changes the token (scopes, audience, resource). Two keys are equal only when all of them
/// are, so a user's token for one resource is never sent to another; scopes compare as a set
/// (order and duplicates do not matter).
///
/// Cheap to clone and to look up (one reference count; its hash is computed once, with a
/// per-process random key), since a keyed layer does both on every request.
///
/// ```
/// use auth_core::TokenKey;
/// let a = TokenKey::new("alice").scopes(["read", "write"]).resource("https://api.example.com");
/// let b = TokenKey::new("alice").scopes(["write", "read", "read"]).resource("https://api.example.com");
/// assert_eq!(a, b);
/// assert_ne!(a, TokenKey::new("alice").scopes(["read", "write"]));
/// ```
#[derive(Clone)]
pub struct TokenKey {
    inner: Arc<Parts>,
    /// The hash of `inner` with the per-process key, computed once.
    digest: u64,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Parts {
    subject: Box<str>,
    scopes: Vec<String>,
    audience: Option<String>,
    resource: Option<String>,
}

/// The per-process key of the precomputed hashes (a map hashes that value again with its own).
static HASH_KEY: LazyLock<RandomState> = LazyLock::new(RandomState::new);

impl TokenKey {
    /// The key of `subject` (a user id, a tenant id), with no scopes, audience or resource.
    pub fn new(subject: impl Into<String>) -> Self {
        Self::from_parts(Parts {
            subject: subject.into().into_boxed_str(),
            scopes: Vec::new(),
            audience: None,
            resource: None,
        })
    }

    fn from_parts(parts: Parts) -> Self {
        Self {
            digest: HASH_KEY.hash_one(&parts),
            inner: Arc::new(parts),
        }
    }

    fn with(self, change: impl FnOnce(&mut Parts)) -> Self {
        let mut parts = Arc::unwrap_or_clone(self.inner);
        change(&mut parts);
        Self::from_parts(parts)
    }

    /// The scopes the token is requested with (compared as a set).
    pub fn scopes<I, T>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let mut scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        scopes.sort_unstable();
        scopes.dedup();
        self.with(|p| p.scopes = scopes)
    }

    /// The audience the token is requested for.
    pub fn audience(self, audience: impl Into<String>) -> Self {
        let audience = audience.into();
        self.with(|p| p.audience = Some(audience))
    }

    /// The resource (RFC 8707) the token is requested for.
    pub fn resource(self, resource: impl Into<String>) -> Self {
        let resource = resource.into();
        self.with(|p| p.resource = Some(resource))
    }

    /// The subject: a user or tenant id.
    pub fn subject(&self) -> &str {
        &self.inner.subject
    }

    /// The scopes, sorted, without duplicates.
    pub fn requested_scopes(&self) -> &[String] {
        &self.inner.scopes
    }

    /// The audience, if any.
    pub fn requested_audience(&self) -> Option<&str> {
        self.inner.audience.as_deref()
    }

    /// The resource, if any.
    pub fn requested_resource(&self) -> Option<&str> {
        self.inner.resource.as_deref()
    }
}

impl PartialEq for TokenKey {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
            || (self.digest == other.digest && self.inner == other.inner)
    }
}

impl Eq for TokenKey {}

impl Hash for TokenKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.digest);
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field("subject", &self.inner.subject)
            .field("scopes", &self.inner.scopes)
            .field("audience", &self.inner.audience)
            .field("resource", &self.inner.resource)
            .finish()
    }
}
