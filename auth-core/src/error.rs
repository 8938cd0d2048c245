//! One error type for every failure, with a `kind()` for code and a `hint()` for people.
//!
//! [`AuthError`] is cheap to clone (an `Arc` inside) because a single failed token fetch is
//! handed to every caller that was waiting for it. It never holds a secret: messages are written
//! by this library, provider descriptions come from the server, and the source chain is only ever
//! a transport or parse error.

use std::{error::Error as StdError, fmt, sync::Arc, time::Duration};

use http::StatusCode;

use crate::challenge::WwwAuthenticate;

/// What went wrong, for matching in code. New kinds may be added in minor releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The token endpoint answered `invalid_request` (RFC 6749 §5.2).
    InvalidRequest,
    /// The token endpoint answered `invalid_client`: the client id, secret or client
    /// authentication method was not accepted.
    InvalidClient,
    /// The token endpoint answered `invalid_grant`: the refresh token, code, or user credentials
    /// were rejected.
    InvalidGrant,
    /// The token endpoint answered `invalid_scope`.
    InvalidScope,
    /// The token endpoint answered `invalid_target` (RFC 8707 resource indicators).
    InvalidTarget,
    /// The token endpoint answered `unauthorized_client`.
    UnauthorizedClient,
    /// The token endpoint answered `unsupported_grant_type`.
    UnsupportedGrantType,
    /// The API answered 401 Unauthorized.
    Unauthorized,
    /// The API answered 403 Forbidden.
    Forbidden,
    /// The token endpoint failed in another way (5xx, unknown error code, refused redirect).
    TokenEndpoint,
    /// The request could not be sent or the response not read (connection refused, TLS, reset).
    Transport,
    /// An operation did not finish within its deadline.
    Timeout,
    /// A response could not be understood (not JSON, missing `access_token`, bad `expires_in`).
    MalformedResponse,
    /// The token endpoint issued a token of a type other than `Bearer` (`MAC`, `DPoP`, `N_A`, …)
    /// and no header prefix was configured, so there is no known way to send it.
    UnsupportedTokenType,
    /// The configuration is invalid (bad header name, empty secret, not a URL, …).
    Config,
    /// Reading or writing a [`TokenStore`](crate::TokenStore) failed.
    Store,
    /// A request could not be prepared (for example its URI could not take a query parameter).
    Request,
}

impl ErrorKind {
    /// Whether retrying the same operation later can succeed without anyone changing anything.
    ///
    /// `invalid_client`, `invalid_grant` and configuration errors cannot heal by themselves, so a
    /// cache does not retry them in a loop.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::TokenEndpoint
                | ErrorKind::Transport
                | ErrorKind::Timeout
                | ErrorKind::MalformedResponse
                | ErrorKind::Store
        )
    }

    /// Maps an RFC 6749 §5.2 / RFC 8707 error code to a kind; unknown codes become
    /// [`ErrorKind::TokenEndpoint`].
    pub fn from_oauth_code(code: &str) -> ErrorKind {
        match code {
            "invalid_request" => ErrorKind::InvalidRequest,
            "invalid_client" => ErrorKind::InvalidClient,
            "invalid_grant" => ErrorKind::InvalidGrant,
            "invalid_scope" => ErrorKind::InvalidScope,
            "invalid_target" => ErrorKind::InvalidTarget,
            "unauthorized_client" => ErrorKind::UnauthorizedClient,
            "unsupported_grant_type" => ErrorKind::UnsupportedGrantType,
            _ => ErrorKind::TokenEndpoint,
        }
    }

    /// What to check, following the troubleshooting matrix of the design.
    pub fn hint(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => {
                "a required parameter is missing or repeated: check the grant's parameters \
                 (scope, audience, resource, redirect URI) against the provider's documentation"
            }
            ErrorKind::InvalidClient => {
                "check the client id and secret, and the client authentication method \
                 (Basic header vs request body; try `auto`)"
            }
            ErrorKind::InvalidGrant => {
                "the refresh token or authorization code may be expired, revoked or already used, \
                 the user credentials may be wrong, or the redirect URI may not match the one \
                 registered"
            }
            ErrorKind::InvalidScope => {
                "a requested scope is not allowed for this client, or the scopes use the wrong \
                 separator (space vs comma)"
            }
            ErrorKind::InvalidTarget => {
                "the requested resource/audience is unknown to the provider or not allowed for \
                 this client"
            }
            ErrorKind::UnauthorizedClient => {
                "this client is not allowed to use this grant type: enable it for the client at \
                 the provider"
            }
            ErrorKind::UnsupportedGrantType => {
                "the provider does not support this grant type at this endpoint: check the token \
                 URL and the grant"
            }
            ErrorKind::Unauthorized => {
                "the credential is wrong, expired or missing, or sent in the wrong place: check \
                 header vs query parameter, the header or parameter name, and the prefix"
            }
            ErrorKind::Forbidden => {
                "the credential was accepted but lacks permission: check the granted scopes and \
                 the account's roles"
            }
            ErrorKind::TokenEndpoint => {
                "the token endpoint failed; if this is intermittent, check token expiry, refresh \
                 token rotation and clock skew"
            }
            ErrorKind::Transport => {
                "check the URL, that the server is reachable, and TLS settings (CA roots, client \
                 certificate)"
            }
            ErrorKind::Timeout => {
                "the server did not answer in time: check it is reachable and raise the timeout \
                 if it is slow"
            }
            ErrorKind::MalformedResponse => {
                "the response is not a standard token response: check the token URL, or map the \
                 field names with `key_map`"
            }
            ErrorKind::UnsupportedTokenType => {
                "only Bearer tokens are supported: have the provider issue Bearer tokens to this \
                 client, or set an explicit header prefix (`header_prefix`) to send this token \
                 anyway"
            }
            ErrorKind::Config => "fix the configuration value named above",
            ErrorKind::Store => {
                "check the token store's path, its permissions (owner-only, 0600) and free space"
            }
            ErrorKind::Request => "check the request URI",
        }
    }

    fn summary(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "the token endpoint rejected the request as invalid",
            ErrorKind::InvalidClient => "the token endpoint did not accept the client credentials",
            ErrorKind::InvalidGrant => "the token endpoint rejected the grant",
            ErrorKind::InvalidScope => "the token endpoint rejected the requested scope",
            ErrorKind::InvalidTarget => "the token endpoint rejected the requested resource",
            ErrorKind::UnauthorizedClient => "the client is not authorized for this grant type",
            ErrorKind::UnsupportedGrantType => "the token endpoint does not support this grant",
            ErrorKind::Unauthorized => "the server answered 401 Unauthorized",
            ErrorKind::Forbidden => "the server answered 403 Forbidden",
            ErrorKind::TokenEndpoint => "the token endpoint failed",
            ErrorKind::Transport => "the request could not be completed",
            ErrorKind::Timeout => "the operation timed out",
            ErrorKind::MalformedResponse => "the response could not be understood",
            ErrorKind::UnsupportedTokenType => "unsupported token type",
            ErrorKind::Config => "invalid configuration",
            ErrorKind::Store => "the token store failed",
            ErrorKind::Request => "the request could not be prepared",
        }
    }
}

/// The `error`, `error_description` and `error_uri` a provider returned (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    /// The `error` code, e.g. `invalid_client`.
    pub code: String,
    /// The human-readable `error_description`, if any.
    pub description: Option<String>,
    /// The `error_uri`, if any.
    pub uri: Option<String>,
}

/// The error type of every tower-auth operation.
///
/// `Display` is one readable sentence followed by `; hint: …`. Match on [`AuthError::kind`].
///
/// ```
/// use auth_core::{AuthError, ErrorKind};
/// use http::StatusCode;
///
/// let err = AuthError::from_oauth("invalid_client", Some("bad secret"), Some(StatusCode::UNAUTHORIZED));
/// assert_eq!(err.kind(), ErrorKind::InvalidClient);
/// assert!(err.to_string().contains("hint: check the client id and secret"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct AuthError {
    inner: Arc<Inner>,
}

struct Inner {
    kind: ErrorKind,
    detail: Option<String>,
    status: Option<StatusCode>,
    provider: Option<ProviderError>,
    challenge: Option<WwwAuthenticate>,
    retry_after: Option<Duration>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl AuthError {
    /// A new error of `kind` with a detail sentence (no secrets: it is displayed as is).
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self::build(kind, Some(detail.into()), None, None, None, None)
    }

    /// A new error of `kind` with no further detail.
    pub fn of_kind(kind: ErrorKind) -> Self {
        Self::build(kind, None, None, None, None, None)
    }

    /// A configuration error naming the offending setting, e.g.
    /// `AuthError::config("header_name", "not a valid header name")`.
    pub fn config(path: impl fmt::Display, problem: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Config, format!("{path}: {problem}"))
    }

    /// An error from an RFC 6749 §5.2 error response.
    pub fn from_oauth(code: &str, description: Option<&str>, status: Option<StatusCode>) -> Self {
        let provider = ProviderError {
            code: code.to_owned(),
            description: description.map(str::to_owned),
            uri: None,
        };
        Self::build(
            ErrorKind::from_oauth_code(code),
            None,
            status,
            Some(provider),
            None,
            None,
        )
    }

    /// An [`ErrorKind::Unauthorized`] or [`ErrorKind::Forbidden`] error from an API response,
    /// or `None` when the status is neither 401 nor 403. The `WWW-Authenticate` header is parsed
    /// into [`AuthError::challenge`].
    pub fn from_response<B>(response: &http::Response<B>) -> Option<Self> {
        Self::from_status_and_headers(response.status(), response.headers())
    }

    /// Like [`AuthError::from_response`], from the parts.
    pub fn from_status_and_headers(status: StatusCode, headers: &http::HeaderMap) -> Option<Self> {
        let kind = match status {
            StatusCode::UNAUTHORIZED => ErrorKind::Unauthorized,
            StatusCode::FORBIDDEN => ErrorKind::Forbidden,
            _ => return None,
        };
        let challenge = WwwAuthenticate::from_headers(headers);
        Some(Self::build(kind, None, Some(status), None, challenge, None))
    }

    fn build(
        kind: ErrorKind,
        detail: Option<String>,
        status: Option<StatusCode>,
        provider: Option<ProviderError>,
        challenge: Option<WwwAuthenticate>,
        source: Option<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        AuthError {
            inner: Arc::new(Inner {
                kind,
                detail,
                status,
                provider,
                challenge,
                retry_after: None,
                source,
            }),
        }
    }

    fn map(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                kind: shared.kind,
                detail: shared.detail.clone(),
                status: shared.status,
                provider: shared.provider.clone(),
                challenge: shared.challenge.clone(),
                retry_after: shared.retry_after,
                // The source is not clonable; keep its text so nothing is lost.
                source: shared
                    .source
                    .as_ref()
                    .map(|s| Box::<dyn StdError + Send + Sync>::from(s.to_string())),
            },
        };
        f(&mut inner);
        AuthError {
            inner: Arc::new(inner),
        }
    }

    /// Attaches the HTTP status the error came with.
    pub fn with_status(self, status: StatusCode) -> Self {
        self.map(|i| i.status = Some(status))
    }

    /// Attaches (or replaces) the detail sentence.
    pub fn with_detail(self, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        self.map(|i| i.detail = Some(detail))
    }

    /// Attaches the provider's `error_uri`.
    pub fn with_provider_uri(self, uri: impl Into<String>) -> Self {
        let uri = uri.into();
        self.map(|i| {
            if let Some(p) = i.provider.as_mut() {
                p.uri = Some(uri);
            }
        })
    }

    /// Attaches how long the server asked to wait before trying again (`Retry-After` on a
    /// 429 or 503); [`CachedTokenSource`](crate::CachedTokenSource) honours it, capped.
    pub fn with_retry_after(self, delay: Duration) -> Self {
        self.map(|i| i.retry_after = Some(delay))
    }

    /// Attaches the underlying cause. It must not contain secrets.
    pub fn with_source(self, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        let source = source.into();
        self.map(|i| i.source = Some(source))
    }

    /// What went wrong, for matching.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The HTTP status the error came with, if any.
    pub fn status(&self) -> Option<StatusCode> {
        self.inner.status
    }

    /// The provider's `error` / `error_description`, if the server sent them.
    pub fn provider(&self) -> Option<&ProviderError> {
        self.inner.provider.as_ref()
    }

    /// How long the server asked to wait before trying again, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The parsed `WWW-Authenticate` challenge of a 401/403, if any.
    pub fn challenge(&self) -> Option<&WwwAuthenticate> {
        self.inner.challenge.as_ref()
    }

    /// The detail sentence, if any.
    pub fn detail(&self) -> Option<&str> {
        self.inner.detail.as_deref()
    }

    /// What to check, for people; refined by the `WWW-Authenticate` error code when there is one.
    pub fn hint(&self) -> &'static str {
        if let Some(code) = self.challenge().and_then(|c| c.error.as_deref()) {
            match code {
                "insufficient_scope" => {
                    return "the token lacks a scope this resource requires: request the scope \
                            named in the challenge, or ask for it to be granted to the client";
                }
                "invalid_token" => {
                    return "the credential was rejected as wrong, expired, revoked or meant for \
                            another audience: check its value, where it is sent (header vs query \
                            parameter, the header or parameter name, the prefix), the \
                            audience/resource parameters, and clock skew";
                }
                _ => {}
            }
        }
        self.kind().hint()
    }

    /// Whether a later retry can succeed without anything changing (see [`ErrorKind::is_transient`]).
    pub fn is_transient(&self) -> bool {
        self.kind().is_transient()
    }

    /// The one-sentence description without the hint: what `Display` prints before
    /// `; hint: …`. For callers that show the hint separately.
    pub fn message(&self) -> String {
        struct Sentence<'a>(&'a AuthError);
        impl fmt::Display for Sentence<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.write_sentence(f)
            }
        }
        Sentence(self).to_string()
    }

    fn write_sentence(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.write_str(inner.kind.summary())?;
        if let Some(detail) = &inner.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(p) = &inner.provider {
            write!(f, " (error `{}`", p.code)?;
            if let Some(d) = &p.description {
                write!(f, ": {}", scrub(d))?;
            }
            f.write_str(")")?;
        }
        if let Some(c) = &inner.challenge {
            write!(f, " ({c})")?;
        }
        if let Some(status) = inner.status {
            write!(f, " [HTTP {}]", status.as_u16())?;
        }
        if let Some(delay) = inner.retry_after {
            write!(f, " (the server asks to retry after {}s)", delay.as_secs())?;
        }
        if let Some(source) = &inner.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

/// Keeps provider-supplied text to one short printable line.
fn scrub(text: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX)
        .collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_sentence(f)?;
        write!(f, "; hint: {}", self.hint())
    }
}

impl fmt::Debug for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("AuthError")
            .field("kind", &inner.kind)
            .field("detail", &inner.detail)
            .field("status", &inner.status)
            .field("provider", &inner.provider)
            .field("challenge", &inner.challenge)
            .field("retry_after", &inner.retry_after)
            .field("source", &inner.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

impl StdError for AuthError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_sentence_with_a_hint() {
        let err = AuthError::from_oauth(
            "invalid_scope",
            Some("scope admin not allowed"),
            Some(StatusCode::BAD_REQUEST),
        );
        assert_eq!(err.kind(), ErrorKind::InvalidScope);
        let text = err.to_string();
        assert!(text.starts_with("the token endpoint rejected the requested scope"));
        assert!(text.contains("error `invalid_scope`: scope admin not allowed"));
        assert!(text.contains("[HTTP 400]"));
        assert!(text.contains("; hint: a requested scope is not allowed"));
        assert!(!text.contains('\n'));
        assert_eq!(format!("{}; hint: {}", err.message(), err.hint()), text);
    }

    #[test]
    fn oauth_codes_map_to_kinds_and_unknown_codes_to_token_endpoint() {
        for (code, kind) in [
            ("invalid_request", ErrorKind::InvalidRequest),
            ("invalid_client", ErrorKind::InvalidClient),
            ("invalid_grant", ErrorKind::InvalidGrant),
            ("invalid_scope", ErrorKind::InvalidScope),
            ("invalid_target", ErrorKind::InvalidTarget),
            ("unauthorized_client", ErrorKind::UnauthorizedClient),
            ("unsupported_grant_type", ErrorKind::UnsupportedGrantType),
            ("slow_down", ErrorKind::TokenEndpoint),
        ] {
            assert_eq!(ErrorKind::from_oauth_code(code), kind, "{code}");
        }
    }

    #[test]
    fn non_healing_kinds_are_not_transient() {
        assert!(!ErrorKind::InvalidClient.is_transient());
        assert!(!ErrorKind::InvalidGrant.is_transient());
        assert!(!ErrorKind::Config.is_transient());
        assert!(!ErrorKind::UnsupportedTokenType.is_transient());
        assert!(ErrorKind::Transport.is_transient());
        assert!(ErrorKind::Timeout.is_transient());
    }

    #[test]
    fn response_401_carries_the_parsed_challenge_and_a_refined_hint() {
        let response = http::Response::builder()
            .status(401)
            .header(
                "www-authenticate",
                r#"Bearer realm="api", error="insufficient_scope", scope="write""#,
            )
            .body(())
            .expect("valid response");
        let err = AuthError::from_response(&response).expect("401 is an auth error");
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        let challenge = err.challenge().expect("challenge parsed");
        assert_eq!(challenge.error.as_deref(), Some("insufficient_scope"));
        assert!(err.hint().contains("lacks a scope"));
        assert!(
            AuthError::from_status_and_headers(StatusCode::OK, &http::HeaderMap::new()).is_none()
        );
    }

    #[test]
    fn long_provider_descriptions_are_scrubbed_to_one_short_line() {
        let long = format!("line1\nline2{}", "x".repeat(500));
        let err = AuthError::from_oauth("invalid_grant", Some(&long), None);
        let text = err.to_string();
        assert!(!text.contains('\n'));
        assert!(text.contains('…'));
    }

    #[test]
    fn builders_keep_every_field_when_shared() {
        let err = AuthError::new(ErrorKind::Transport, "connecting to the token endpoint")
            .with_source(std::io::Error::other("connection refused"));
        let shared = err.clone();
        let err = err.with_status(StatusCode::BAD_GATEWAY);
        assert_eq!(err.status(), Some(StatusCode::BAD_GATEWAY));
        assert!(err.to_string().contains("connection refused"));
        assert!(shared.status().is_none());
    }
}
