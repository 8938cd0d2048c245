//! [`AccessToken`]: a token, when it expires, and the header value that carries it.

use std::{fmt, sync::Arc, time::Duration};

use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString, zeroize::Zeroizing};
use tokio::time::Instant;

use crate::{AuthError, ErrorKind, TokenBinding};

/// An access token as handed to a request: cheap to clone (one `Arc`), with the sensitive header
/// value pre-built so the hot path does no formatting and no allocation.
///
/// `expires_at` is on tokio's clock so tests can pause and advance time.
///
/// ```
/// use auth_core::AccessToken;
/// use std::time::Duration;
///
/// let token = AccessToken::builder("abc123")
///     .expires_in(Duration::from_secs(3600))
///     .scopes(["read", "write"])
///     .build()?;
/// assert_eq!(token.header_value(), "Bearer abc123");
/// assert!(token.header_value().is_sensitive());
/// assert!(!format!("{token:?}").contains("abc123"));
/// # Ok::<(), auth_core::AuthError>(())
/// ```
#[derive(Clone)]
pub struct AccessToken {
    inner: Arc<Inner>,
}

struct Inner {
    secret: SecretString,
    token_type: String,
    issued_at: Instant,
    expires_at: Option<Instant>,
    scopes: Vec<String>,
    refresh_token: Option<SecretString>,
    grant_type: Option<String>,
    header_value: HeaderValue,
    binding: Option<Arc<dyn TokenBinding>>,
}

impl AccessToken {
    /// Starts building a token with this secret value; the token type defaults to `Bearer`.
    pub fn builder(secret: impl Into<SecretString>) -> AccessTokenBuilder {
        AccessTokenBuilder {
            secret: secret.into(),
            token_type: None,
            header_prefix: None,
            expires_at: None,
            expires_in: None,
            scopes: Vec::new(),
            refresh_token: None,
            grant_type: None,
            binding: None,
        }
    }

    /// A bearer token with no expiry (the cache then applies its default lifetime).
    pub fn bearer(secret: impl Into<SecretString>) -> Result<Self, AuthError> {
        Self::builder(secret).build()
    }

    /// The token itself. Reading it is explicit so uses are easy to audit.
    pub fn secret(&self) -> &SecretString {
        &self.inner.secret
    }

    /// The token type as the provider sent it (`Bearer` when it sent none).
    pub fn token_type(&self) -> &str {
        &self.inner.token_type
    }

    /// When the token was built (tokio clock).
    pub fn issued_at(&self) -> Instant {
        self.inner.issued_at
    }

    /// When the token expires (tokio clock), if known.
    pub fn expires_at(&self) -> Option<Instant> {
        self.inner.expires_at
    }

    /// The scopes the provider granted (may be empty when it did not say).
    pub fn scopes(&self) -> &[String] {
        &self.inner.scopes
    }

    /// The OAuth `grant_type` of the request that obtained this token, when its source says
    /// (the OAuth grants do): `refresh_token` when a refresh token was redeemed for it,
    /// `client_credentials`, `authorization_code`, … otherwise.
    pub fn grant_type(&self) -> Option<&str> {
        self.inner.grant_type.as_deref()
    }

    /// Whether this token was obtained by redeeming a refresh token (`grant_type` is
    /// `refresh_token`).
    pub fn from_refresh_token(&self) -> bool {
        self.grant_type() == Some("refresh_token")
    }

    /// The refresh token that came with this access token, if any.
    pub fn refresh_token(&self) -> Option<&SecretString> {
        self.inner.refresh_token.as_ref()
    }

    /// The ready-made, sensitive value of the header that carries the token, e.g. `Bearer xyz`.
    pub fn header_value(&self) -> &HeaderValue {
        &self.inner.header_value
    }

    /// The proof of possession a sender-constrained token needs on each request (DPoP);
    /// `None` for a bearer token.
    #[inline]
    pub fn binding(&self) -> Option<&Arc<dyn TokenBinding>> {
        self.inner.binding.as_ref()
    }

    /// Whether the token is expired, or will be within `skew`, at `now`.
    pub fn expires_within(&self, skew: Duration, now: Instant) -> bool {
        match self.inner.expires_at {
            Some(at) => now + skew >= at,
            None => false,
        }
    }

    /// Whether both handles point at the same token (not merely equal values).
    pub fn same_as(&self, other: &AccessToken) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let now = Instant::now();
        f.debug_struct("AccessToken")
            .field("secret", &"[redacted]")
            .field("token_type", &self.inner.token_type)
            .field(
                "expires_in",
                &self
                    .inner
                    .expires_at
                    .map(|at| at.saturating_duration_since(now)),
            )
            .field("scopes", &self.inner.scopes)
            .field(
                "refresh_token",
                &self.inner.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("grant_type", &self.inner.grant_type)
            .field("binding", &self.inner.binding.as_ref().map(|b| b.scheme()))
            .finish()
    }
}

/// Builds an [`AccessToken`]; see [`AccessToken::builder`].
pub struct AccessTokenBuilder {
    secret: SecretString,
    token_type: Option<String>,
    header_prefix: Option<String>,
    expires_at: Option<Instant>,
    expires_in: Option<Duration>,
    scopes: Vec<String>,
    refresh_token: Option<SecretString>,
    grant_type: Option<String>,
    binding: Option<Arc<dyn TokenBinding>>,
}

impl fmt::Debug for AccessTokenBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokenBuilder")
            .field("secret", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("header_prefix", &self.header_prefix)
            .finish_non_exhaustive()
    }
}

impl AccessTokenBuilder {
    /// The token type (`Bearer`, `DPoP`, `MAC`, …). Matching is case-insensitive: `bearer`
    /// becomes the `Bearer` prefix. Defaults to `Bearer`.
    pub fn token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_type = Some(token_type.into());
        self
    }

    /// The prefix written before the token in the header; empty for the bare token.
    /// Defaults to the token type (`Bearer` for bearer tokens).
    pub fn header_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.header_prefix = Some(prefix.into());
        self
    }

    /// Expires this long after now.
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        self.expires_in = Some(lifetime);
        self
    }

    /// Expires at this instant (tokio clock).
    pub fn expires_at(mut self, at: Instant) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// The granted scopes.
    pub fn scopes<I, T>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The refresh token that came with the access token.
    pub fn refresh_token(mut self, refresh_token: impl Into<SecretString>) -> Self {
        self.refresh_token = Some(refresh_token.into());
        self
    }

    /// The OAuth `grant_type` of the request that obtained the token; see
    /// [`AccessToken::grant_type`].
    pub fn grant_type(mut self, grant_type: impl Into<String>) -> Self {
        self.grant_type = Some(grant_type.into());
        self
    }

    /// Binds the token to a key (DPoP): each request carrying it gets the binding's proof.
    pub fn binding(mut self, binding: Arc<dyn TokenBinding>) -> Self {
        self.binding = Some(binding);
        self
    }

    /// Builds the token, pre-building its header value.
    ///
    /// Fails with [`ErrorKind::Config`] when the token is empty or cannot be a header value.
    pub fn build(self) -> Result<AccessToken, AuthError> {
        let issued_at = Instant::now();
        let token_type = match self.token_type.as_deref().map(str::trim) {
            None | Some("") => "Bearer".to_owned(),
            Some(t) if t.eq_ignore_ascii_case("bearer") => "Bearer".to_owned(),
            Some(t) => t.to_owned(),
        };
        let prefix = self.header_prefix.unwrap_or_else(|| token_type.clone());
        let header_value = sensitive_header_value(&prefix, &self.secret, "access token")?;
        let expires_at = self
            .expires_at
            .or_else(|| self.expires_in.map(|d| issued_at + d));
        Ok(AccessToken {
            inner: Arc::new(Inner {
                secret: self.secret,
                token_type,
                issued_at,
                expires_at,
                scopes: self.scopes,
                refresh_token: self.refresh_token,
                grant_type: self.grant_type,
                header_value,
                binding: self.binding,
            }),
        })
    }
}

/// Builds `"{prefix} {secret}"` (or the bare secret when `prefix` is empty) as a sensitive header
/// value. `what` names the credential in the error, which never contains the secret.
pub fn sensitive_header_value(
    prefix: &str,
    secret: &SecretString,
    what: &str,
) -> Result<HeaderValue, AuthError> {
    let secret = secret.expose_secret();
    if secret.trim().is_empty() {
        return Err(AuthError::config(what, "is empty"));
    }
    // Zeroized on drop: the header value keeps its own copy, this buffer must not linger.
    let mut bytes = Zeroizing::new(Vec::with_capacity(prefix.len() + 1 + secret.len()));
    if !prefix.is_empty() {
        bytes.extend_from_slice(prefix.as_bytes());
        bytes.push(b' ');
    }
    bytes.extend_from_slice(secret.as_bytes());
    let mut value = HeaderValue::from_bytes(&bytes).map_err(|_| {
        AuthError::new(
            ErrorKind::Config,
            format!(
                "{what}: cannot be sent in a header (prefix `{}` or the value contains control \
                 characters or line breaks)",
                prefix.escape_debug()
            ),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_value_uses_the_token_type_case_insensitively() {
        let t = AccessToken::builder("x")
            .token_type("bearer")
            .build()
            .expect("valid");
        assert_eq!(t.header_value(), "Bearer x");
        assert_eq!(t.token_type(), "Bearer");
        let t = AccessToken::builder("x")
            .token_type("DPoP")
            .build()
            .expect("valid");
        assert_eq!(t.header_value(), "DPoP x");
    }

    #[test]
    fn empty_prefix_sends_the_bare_token() {
        let t = AccessToken::builder("x")
            .header_prefix("")
            .build()
            .expect("valid");
        assert_eq!(t.header_value(), "x");
    }

    #[test]
    fn empty_or_unsendable_tokens_are_config_errors() {
        let err = AccessToken::bearer("").expect_err("empty");
        assert_eq!(err.kind(), ErrorKind::Config);
        let err = AccessToken::bearer("a\r\nb").expect_err("newline");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(!err.to_string().contains("a\r\nb"));
    }

    #[tokio::test(start_paused = true)]
    async fn expiry_respects_the_skew() {
        let t = AccessToken::builder("x")
            .expires_in(Duration::from_secs(60))
            .build()
            .expect("valid");
        let now = Instant::now();
        assert!(!t.expires_within(Duration::from_secs(30), now));
        assert!(t.expires_within(Duration::from_secs(60), now));
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(t.expires_within(Duration::from_secs(30), Instant::now()));
    }
}
