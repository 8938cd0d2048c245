//! [`TokenKey`]: a ready-made key for [`KeyedTokenSource`](super::KeyedTokenSource).

use std::sync::Arc;

/// Whose token, for what: a subject (user or tenant id) and every request parameter that
/// changes the token (scopes, audience, resource). Two keys are equal only when all of them
/// are, so a user's token for one resource is never sent to another; scopes compare as a set
/// (order and duplicates do not matter).
///
/// ```
/// use auth_core::TokenKey;
/// let a = TokenKey::new("alice").scopes(["read", "write"]).resource("https://api.example.com");
/// let b = TokenKey::new("alice").scopes(["write", "read", "read"]).resource("https://api.example.com");
/// assert_eq!(a, b);
/// assert_ne!(a, TokenKey::new("alice").scopes(["read", "write"]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenKey {
    subject: Arc<str>,
    scopes: Vec<String>,
    audience: Option<String>,
    resource: Option<String>,
}

impl TokenKey {
    /// The key of `subject` (a user id, a tenant id), with no scopes, audience or resource.
    pub fn new(subject: impl Into<Arc<str>>) -> Self {
        Self {
            subject: subject.into(),
            scopes: Vec::new(),
            audience: None,
            resource: None,
        }
    }

    /// The scopes the token is requested with (compared as a set).
    pub fn scopes<I, T>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let mut scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        scopes.sort_unstable();
        scopes.dedup();
        self.scopes = scopes;
        self
    }

    /// The audience the token is requested for.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The resource (RFC 8707) the token is requested for.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// The subject: a user or tenant id.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The scopes, sorted, without duplicates.
    pub fn requested_scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The audience, if any.
    pub fn requested_audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The resource, if any.
    pub fn requested_resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }
}
