//! One error type for every failure, with a `kind()` for code and a `hint()` for people.
//!
//! [`AuthError`] is cheap to clone (an `Arc` inside) because a single failed token fetch is
//! handed to every caller that was waiting for it. It never shows a secret: messages are written
//! by this library, the source chain is only ever a transport or parse error, and what came from
//! a server (a provider's description, a challenge, an excerpt) may echo a credential, so it is
//! redacted by value where the secrets are known ([`AuthError::redact`], applied by the token
//! endpoint, the token layer and the CLI) and by shape whenever it is shown.

use std::{error::Error as StdError, fmt, sync::Arc, time::Duration};

use http::StatusCode;

use crate::{
    challenge::WwwAuthenticate,
    redact::{self, Redactor},
};

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
    /// The gRPC status code of an error read from a gRPC response (its HTTP status is 200).
    grpc_status: Option<u32>,
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

    /// An [`ErrorKind::Unauthorized`] error from gRPC status 16 (`UNAUTHENTICATED`) or an
    /// [`ErrorKind::Forbidden`] one from 7 (`PERMISSION_DENIED`), or `None` for any other code.
    /// `message` is the server's `grpc-message`, percent-decoded: it is kept as the
    /// [`provider`](Self::provider)'s description (code `UNAUTHENTICATED` or
    /// `PERMISSION_DENIED`), and treated like a challenge's text (redacted by value with
    /// [`redact`](Self::redact), by shape and truncated when shown).
    ///
    /// ```
    /// use auth_core::{AuthError, ErrorKind};
    ///
    /// let err = AuthError::from_grpc_status(16, Some("token expired")).expect("16 is UNAUTHENTICATED");
    /// assert_eq!(err.kind(), ErrorKind::Unauthorized);
    /// assert_eq!(err.grpc_status(), Some(16));
    /// assert!(err.to_string().starts_with("the server answered gRPC status 16"));
    /// ```
    pub fn from_grpc_status(code: u32, message: Option<&str>) -> Option<Self> {
        let (kind, name) = match code {
            16 => (ErrorKind::Unauthorized, "UNAUTHENTICATED"),
            7 => (ErrorKind::Forbidden, "PERMISSION_DENIED"),
            _ => return None,
        };
        let provider = ProviderError {
            code: name.to_owned(),
            description: message.map(str::to_owned),
            uri: None,
        };
        let error = Self::build(kind, None, None, Some(provider), None, None);
        Some(error.map(|i| i.grpc_status = Some(code)))
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
                grpc_status: None,
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
                grpc_status: shared.grpc_status,
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

    /// Cuts every secret `redactor` holds out of every text of the error, by value: the detail,
    /// the provider's code, description and URI, the challenge and the source's text. Server
    /// text is kept whole until shown, so this works before any truncation.
    ///
    /// ```
    /// use auth_core::{AuthError, Redactor};
    ///
    /// let redactor = Redactor::new();
    /// redactor.add("hunter2pass");
    /// let err = AuthError::from_oauth("invalid_client", Some("secret hunter2pass is wrong"), None);
    /// let shown = err.redact(&redactor).to_string();
    /// assert!(shown.contains("secret [redacted] is wrong"));
    /// ```
    #[must_use]
    pub fn redact(self, redactor: &Redactor) -> Self {
        let changes = |text: &str| matches!(redactor.redact(text), std::borrow::Cow::Owned(_));
        let inner = &*self.inner;
        let source_text = inner.source.as_ref().map(|s| s.to_string());
        let texts = inner
            .detail
            .iter()
            .chain(inner.provider.iter().flat_map(|p| {
                std::iter::once(&p.code)
                    .chain(p.description.as_ref())
                    .chain(p.uri.as_ref())
            }))
            .chain(source_text.as_ref());
        let challenge_changes = inner.challenge.as_ref().is_some_and(|c| {
            let mut copy = c.clone();
            copy.redact(redactor);
            copy != *c
        });
        if !challenge_changes && !texts.into_iter().any(|t| changes(t)) {
            return self;
        }
        let in_place = |text: &mut String| {
            if let std::borrow::Cow::Owned(redacted) = redactor.redact(text) {
                *text = redacted;
            }
        };
        self.map(|i| {
            if let Some(detail) = &mut i.detail {
                in_place(detail);
            }
            if let Some(p) = &mut i.provider {
                in_place(&mut p.code);
                p.description.as_mut().map(in_place);
                p.uri.as_mut().map(in_place);
            }
            if let Some(c) = &mut i.challenge {
                c.redact(redactor);
            }
            if let Some(text) = source_text
                && let std::borrow::Cow::Owned(redacted) = redactor.redact(&text)
            {
                i.source = Some(redacted.into());
            }
        })
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

    /// The gRPC status code the error came with (16 or 7), if it was read from a gRPC response;
    /// see [`AuthError::from_grpc_status`].
    pub fn grpc_status(&self) -> Option<u32> {
        self.inner.grpc_status
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
        match inner.grpc_status {
            // The kind's summary names the HTTP status (401, 403), which gRPC does not use.
            Some(code) => write!(f, "the server answered gRPC status {code}")?,
            None => f.write_str(inner.kind.summary())?,
        }
        if let Some(detail) = &inner.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(p) = &inner.provider {
            write!(f, " (error `{}`", redact::shown(&p.code, MAX_CODE_CHARS))?;
            if let Some(d) = &p.description {
                write!(f, ": {}", redact::shown(d, MAX_DESCRIPTION_CHARS))?;
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

/// The most characters of a provider's error code shown.
const MAX_CODE_CHARS: usize = 64;
/// The most characters of a provider's description shown.
const MAX_DESCRIPTION_CHARS: usize = 200;

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
            .field("provider", &inner.provider.as_ref().map(ShapedProvider))
            .field("challenge", &inner.challenge)
            .field("retry_after", &inner.retry_after)
            .field("grpc_status", &inner.grpc_status)
            .field("source", &inner.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

/// A provider error's `Debug` with long token-like runs redacted (it is server text).
struct ShapedProvider<'a>(&'a ProviderError);

impl fmt::Debug for ShapedProvider<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0;
        f.debug_struct("ProviderError")
            .field("code", &redact::by_shape(&p.code))
            .field(
                "description",
                &p.description.as_deref().map(redact::by_shape),
            )
            .field("uri", &p.uri.as_deref().map(redact::by_shape))
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
