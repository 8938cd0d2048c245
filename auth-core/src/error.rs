//! One error type for every failure, with a `kind()` for code and a `hint()` for people.
//!
//! [`AuthError`] is cheap to clone (an `Arc` inside) because a single failed token fetch is
//! handed to every caller that was waiting for it. It never holds a secret: messages are written
//! by this library, provider descriptions come from the server, and the source chain is only ever
//! a transport or parse error.

use std::{error::Error as StdError, fmt, sync::Arc, time::Duration};

use http::StatusCode;

use crate::challenge::WwwAuthenticate;

mod kind;

pub use kind::ErrorKind;

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
mod tests;
