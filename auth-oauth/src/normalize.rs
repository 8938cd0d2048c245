//! Token-response normalization: whatever the provider sent, a [`TokenResponse`] or a typed
//! [`AuthError`].
//!
//! [`normalize`] is a pure function of the status, the `Content-Type` and the body, so it is
//! tested (and fuzzed) without a server. It accepts:
//!
//! | the provider sends | we do |
//! |---|---|
//! | RFC 6749 JSON | read it |
//! | an `application/x-www-form-urlencoded` body (or a form body labelled `text/plain`) | read it like JSON whose values are strings |
//! | renamed or nested fields (`accessToken`, `data.token`) | find them with a [`KeyMap`] |
//! | `expires_in` as a number or a numeric string (`"3600"`, `3600.5`) | seconds, fractions dropped |
//! | `expires_in` zero or negative | treated as unknown: the cache applies its default lifetime (some providers send `0` for "does not expire"; treating it as "already expired" would refetch on every request) |
//! | `expires_in` above [`MAX_EXPIRES_IN`] (one year) | capped at one year |
//! | no `token_type` (missing, `null` or empty), or `bearer` in any case | `Bearer` |
//! | another `token_type` (`MAC`, `DPoP`, `N_A`, …) | kept as [`TokenResponse::token_type`]; turning it into a token ([`TokenResponse::to_access_token`]) fails with [`ErrorKind::UnsupportedTokenType`] unless a header prefix was configured, which then wins |
//! | `scope` as a space- or comma-separated string, or an array | a list |
//! | an `error` field, whatever the status (even 200) | the error (RFC 6749 §5.2 codes become typed kinds) |
//! | a non-2xx status without an `error` field | [`ErrorKind::TokenEndpoint`] ([`ErrorKind::InvalidClient`] for a 401) with a scrubbed excerpt |
//! | a body that is neither JSON nor a form (an HTML page) | [`ErrorKind::MalformedResponse`] with the status and a scrubbed excerpt ([`ErrorKind::TokenEndpoint`] for a 5xx: the server failed); a binary body (an image) is described by its content type and size instead of an excerpt |
//! | JSON labelled with another content type (`text/html`, `text/plain`) | read it: providers mislabel JSON, and only the body decides |
//!
//! Error messages never contain a token: [`normalize_with`] first cuts the secrets a
//! [`Redactor`] holds (what the request sent) out of every text the server wrote, by value, and
//! before any of it is cut to length; then excerpts redact the values of secret-looking fields
//! and long token-like strings.
//!
//! ```
//! use auth_oauth::normalize::{KeyMap, normalize};
//! use http::StatusCode;
//! use std::time::Duration;
//!
//! let body = br#"{"data": {"token": "abc", "expiresIn": "3600"}}"#;
//! let map = KeyMap::default().access_token("data.token")?.expires_in("data.expiresIn")?;
//! let response = normalize(StatusCode::OK, Some("application/json"), body, &map)?;
//! assert_eq!(response.token_type(), "Bearer");
//! assert_eq!(response.expires_in(), Some(Duration::from_secs(3600)));
//!
//! let err = normalize(StatusCode::OK, Some("application/json"),
//!     br#"{"error": "invalid_grant"}"#, &KeyMap::default()).unwrap_err();
//! assert_eq!(err.kind(), auth_core::ErrorKind::InvalidGrant);
//! # Ok::<(), auth_core::AuthError>(())
//! ```

use std::{fmt, sync::Arc, time::Duration};

use auth_core::{
    AccessToken, AuthError, ErrorKind, ExposeSecret, Redactor, SecretString, TokenBinding,
};
use http::StatusCode;
use serde_json::{Map, Value};

mod key_map;
pub(crate) mod scrub;

pub use key_map::{KEY_MAP_FIELDS, KeyMap, KeyPath};

/// The longest lifetime taken from `expires_in`: one year. Larger values are capped (they are
/// usually a unit mistake, and an unbounded value could overflow the clock).
pub const MAX_EXPIRES_IN: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The longest error code kept from a provider; longer codes are cut.
const MAX_CODE_LEN: usize = 64;

/// The longest error description kept from a provider; longer ones are cut.
const MAX_DESCRIPTION_LEN: usize = 300;

/// A successful token response, normalized. Its `Debug` never shows the tokens.
#[derive(Clone)]
pub struct TokenResponse {
    access_token: SecretString,
    token_type: String,
    expires_in: Option<Duration>,
    refresh_token: Option<SecretString>,
    scopes: Option<Vec<String>>,
    /// The `grant_type` of the request answered, when the endpoint sent one.
    grant_type: Option<String>,
    /// The OpenID Connect `id_token`, if one came (a string field of that name).
    id_token: Option<SecretString>,
    /// The key a `DPoP` token is bound to, set by a DPoP token endpoint.
    binding: Option<Arc<dyn TokenBinding>>,
    /// RFC 8693 §2.2.1 `issued_token_type`, if one came (a token exchange's answer).
    issued_token_type: Option<String>,
}

impl TokenResponse {
    /// The access token.
    pub fn access_token(&self) -> &SecretString {
        &self.access_token
    }

    /// The token type: `Bearer` when the provider sent none or sent `bearer` in any case,
    /// otherwise what the provider sent (trimmed).
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// The lifetime, if the provider sent a positive one (capped at [`MAX_EXPIRES_IN`]).
    pub fn expires_in(&self) -> Option<Duration> {
        self.expires_in
    }

    /// The refresh token, if one came.
    pub fn refresh_token(&self) -> Option<&SecretString> {
        self.refresh_token.as_ref()
    }

    /// The granted scopes, if the provider listed them.
    pub fn scopes(&self) -> Option<&[String]> {
        self.scopes.as_deref()
    }

    /// The OpenID Connect `id_token` (a JWT), if the provider sent one.
    pub fn id_token(&self) -> Option<&SecretString> {
        self.id_token.as_ref()
    }

    /// The `issued_token_type` of a token exchange's answer (RFC 8693 §2.2.1), e.g.
    /// `urn:ietf:params:oauth:token-type:access_token`, if the provider sent one.
    pub fn issued_token_type(&self) -> Option<&str> {
        self.issued_token_type.as_deref()
    }

    /// Builds the [`AccessToken`] handed to requests. `header_prefix` is the prefix the user
    /// configured (`None`: the token type's, `Bearer`); `requested_scopes` stand in when the
    /// provider did not list the granted ones (RFC 6749 §5.1: then they are the requested ones).
    ///
    /// Only Bearer tokens can be sent without configuration: another token type fails with
    /// [`ErrorKind::UnsupportedTokenType`] when `header_prefix` is `None`. With a configured
    /// prefix the provider's token type is informational and the token is sent with the prefix.
    pub fn to_access_token(
        &self,
        header_prefix: Option<&str>,
        requested_scopes: &[String],
    ) -> Result<AccessToken, AuthError> {
        if header_prefix.is_none() && self.token_type != "Bearer" && self.binding.is_none() {
            return Err(AuthError::new(
                ErrorKind::UnsupportedTokenType,
                format!(
                    "the token endpoint issued {}, and only Bearer tokens are supported",
                    quoted_token_type(&self.token_type)
                ),
            ));
        }
        let mut builder = AccessToken::builder(self.access_token.clone())
            .token_type(self.token_type.clone())
            .scopes(
                self.scopes
                    .as_deref()
                    .unwrap_or(requested_scopes)
                    .iter()
                    .cloned(),
            );
        if let Some(prefix) = header_prefix {
            builder = builder.header_prefix(prefix);
        }
        if let Some(lifetime) = self.expires_in {
            builder = builder.expires_in(lifetime);
        }
        if let Some(refresh) = &self.refresh_token {
            builder = builder.refresh_token(refresh.clone());
        }
        if let Some(grant_type) = &self.grant_type {
            builder = builder.grant_type(grant_type.clone());
        }
        if let Some(binding) = &self.binding {
            builder = builder.binding(binding.clone());
        }
        builder.build().map_err(|e| {
            AuthError::new(
                ErrorKind::MalformedResponse,
                "the access token in the response cannot be sent in a header",
            )
            .with_source(e)
        })
    }
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("scopes", &self.scopes)
            .field("id_token", &self.id_token.as_ref().map(|_| "[redacted]"))
            .field("issued_token_type", &self.issued_token_type)
            .finish()
    }
}

/// Adds the server's `Retry-After` to an error of a 429 or 503 answer, so the cache waits at
/// least that long (capped) before asking again. Only the delta-seconds form is read; an
/// HTTP-date is ignored and the cache's own backoff applies.
pub fn with_retry_after(
    error: AuthError,
    status: StatusCode,
    headers: &http::HeaderMap,
) -> AuthError {
    if !matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        return error;
    }
    let seconds = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match seconds {
        Some(seconds) => error.with_retry_after(std::time::Duration::from_secs(seconds)),
        None => error,
    }
}

/// Turns a token endpoint's answer into a [`TokenResponse`] or a typed error; see the
/// [module docs](self) for every case handled.
pub fn normalize(
    status: StatusCode,
    content_type: Option<&str>,
    body: &[u8],
    key_map: &KeyMap,
) -> Result<TokenResponse, AuthError> {
    normalize_with(status, content_type, body, key_map, &Redactor::new())
}

/// [`normalize`], cutting every secret `redactor` holds (the client secret, the password or
/// refresh token the request sent, …) out of the server's text in errors, by value, before the
/// text is cut to length; the error as a whole is redacted with it too.
pub fn normalize_with(
    status: StatusCode,
    content_type: Option<&str>,
    body: &[u8],
    key_map: &KeyMap,
    redactor: &Redactor,
) -> Result<TokenResponse, AuthError> {
    read(status, content_type, body, key_map, redactor).map_err(|e| e.redact(redactor))
}

fn read(
    status: StatusCode,
    content_type: Option<&str>,
    body: &[u8],
    key_map: &KeyMap,
    redactor: &Redactor,
) -> Result<TokenResponse, AuthError> {
    let excerpt = || scrub::snippet(body, &key_map.secret_names(), redactor);
    let Some(object) = parse_body(content_type, body) else {
        let kind = if status.is_server_error() {
            ErrorKind::TokenEndpoint
        } else {
            ErrorKind::MalformedResponse
        };
        let what = if body.iter().all(u8::is_ascii_whitespace) {
            "the token response has an empty body".to_owned()
        } else if looks_binary(body) {
            // An excerpt of an image or a compressed body would be replacement characters.
            format!(
                "the token response is neither JSON nor a form (content type `{}`, {} bytes of \
                 binary data)",
                content_type.unwrap_or("none"),
                body.len()
            )
        } else {
            format!(
                "the token response is neither JSON nor a form (content type `{}`): {}",
                content_type.unwrap_or("none"),
                excerpt()
            )
        };
        return Err(AuthError::new(kind, what).with_status(status));
    };

    if let Some(error) = provider_error(&object, key_map, status, redactor) {
        return Err(error);
    }
    if !status.is_success() {
        let kind = if status == StatusCode::UNAUTHORIZED {
            ErrorKind::InvalidClient
        } else {
            ErrorKind::TokenEndpoint
        };
        return Err(AuthError::new(
            kind,
            format!(
                "the token endpoint answered without an OAuth `error`: {}",
                excerpt()
            ),
        )
        .with_status(status));
    }

    let malformed = |detail: String| {
        Err(AuthError::new(ErrorKind::MalformedResponse, detail).with_status(status))
    };
    let access_token = match key_map.access_token.find(&object) {
        Some(Value::String(s)) if !s.trim().is_empty() => SecretString::from(s.trim().to_owned()),
        Some(Value::String(_)) => return malformed(format!("`{}` is empty", key_map.access_token)),
        Some(_) => return malformed(format!("`{}` is not a string", key_map.access_token)),
        None => {
            return malformed(format!(
                "no `{}` in the token response (fields present: {})",
                key_map.access_token,
                field_names(&object, redactor)
            ));
        }
    };
    let token_type = match key_map.token_type.find(&object) {
        None | Some(Value::Null) => "Bearer".to_owned(),
        Some(Value::String(s))
            if s.trim().is_empty() || s.trim().eq_ignore_ascii_case("bearer") =>
        {
            "Bearer".to_owned()
        }
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(_) => return malformed(format!("`{}` is not a string", key_map.token_type)),
    };
    let expires_in = match key_map.expires_in.find(&object) {
        None => None,
        Some(value) => match parse_expires_in(value) {
            Ok(lifetime) => lifetime,
            Err(problem) => return malformed(format!("`{}` {problem}", key_map.expires_in)),
        },
    };
    let refresh_token = match key_map.refresh_token.find(&object) {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            Some(SecretString::from(s.trim().to_owned()))
        }
        None | Some(Value::Null) | Some(Value::String(_)) => None,
        Some(_) => return malformed(format!("`{}` is not a string", key_map.refresh_token)),
    };
    let scopes = match key_map.scope.find(&object) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(crate::params::split_scopes(s)),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .flat_map(crate::params::split_scopes)
                .collect(),
        ),
        Some(_) => return malformed(format!("`{}` is not a string or a list", key_map.scope)),
    };
    Ok(TokenResponse {
        access_token,
        token_type,
        expires_in,
        refresh_token,
        scopes,
        grant_type: None,
        id_token: match object.get("id_token") {
            Some(Value::String(s)) if !s.is_empty() => Some(SecretString::from(s.clone())),
            _ => None,
        },
        binding: None,
        issued_token_type: match object.get("issued_token_type") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            _ => None,
        },
    })
}

/// The body as a JSON object, from JSON or a form; `None` when it is neither.
fn parse_body(content_type: Option<&str>, body: &[u8]) -> Option<Map<String, Value>> {
    let essence = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|ct| ct.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let trimmed = body.trim_ascii();
    if essence == "application/x-www-form-urlencoded" {
        return parse_form(trimmed);
    }
    if essence.ends_with("json") || trimmed.first() == Some(&b'{') {
        return match serde_json::from_slice(trimmed) {
            Ok(Value::Object(object)) => Some(object),
            _ => None,
        };
    }
    // An unlabelled form body (GitHub's legacy answers) looks like `a=b&c=d`, one line, no markup.
    let looks_like_form = !trimmed.is_empty()
        && trimmed.contains(&b'=')
        && !trimmed
            .iter()
            .any(|b| b.is_ascii_whitespace() || matches!(b, b'<' | b'>' | b'{' | b'"'));
    if looks_like_form {
        parse_form(trimmed)
    } else {
        None
    }
}

/// Whether `body` starts like binary data: a NUL or a control byte no text format uses.
fn looks_binary(body: &[u8]) -> bool {
    body.iter()
        .take(512)
        .any(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c)) || b == 0x7f)
}

fn parse_form(body: &[u8]) -> Option<Map<String, Value>> {
    let object: Map<String, Value> = form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    (!object.is_empty()).then_some(object)
}

/// The RFC 6749 §5.2 error in `object`, if there is one.
fn provider_error(
    object: &Map<String, Value>,
    key_map: &KeyMap,
    status: StatusCode,
    redactor: &Redactor,
) -> Option<AuthError> {
    let code = match key_map.error.find(object)? {
        Value::String(code) if !code.trim().is_empty() => code.trim(),
        Value::Null => return None,
        Value::String(_) => return None,
        _ => {
            return Some(
                AuthError::new(
                    ErrorKind::TokenEndpoint,
                    format!(
                        "the token response has a non-standard `{}` field",
                        key_map.error
                    ),
                )
                .with_status(status),
            );
        }
    };
    // What the provider wrote is shown to people: scrubbed like an excerpt, since a server may
    // echo a token or a secret in its error.
    let code: String = scrub::provider_text(code, usize::MAX, redactor)
        .chars()
        .take(MAX_CODE_LEN)
        .collect();
    let description = key_map
        .error_description
        .find(object)
        .and_then(Value::as_str)
        .map(|d| scrub::provider_text(d, MAX_DESCRIPTION_LEN, redactor));
    let mut error = AuthError::from_oauth(&code, description.as_deref(), Some(status));
    if let Some(uri) = key_map.error_uri.find(object).and_then(Value::as_str) {
        error = error.with_provider_uri(uri);
    }
    Some(error)
}

/// `expires_in` as a lifetime: `None` for null, empty, zero or negative; an error message for
/// anything that is not a number.
fn parse_expires_in(value: &Value) -> Result<Option<Duration>, &'static str> {
    let seconds = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_f64().ok_or("is not a number")?,
        Value::String(s) if s.trim().is_empty() => return Ok(None),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| "is not a number of seconds")?,
        _ => return Err("is not a number of seconds"),
    };
    if !seconds.is_finite() {
        return Err("is not a finite number of seconds");
    }
    if seconds < 1.0 {
        return Ok(None);
    }
    Ok(Some(Duration::from_secs(
        seconds.trunc().min(MAX_EXPIRES_IN.as_secs_f64()) as u64,
    )))
}

/// The longest token type quoted in a message. Real ones are short (`MAC`, `DPoP`, `N_A`); a
/// long value is not quoted, in case a provider put a token there.
const MAX_TOKEN_TYPE_LEN: usize = 20;

/// "a `MAC` token", escaped onto one line, or a description when the type is too long to quote.
fn quoted_token_type(token_type: &str) -> String {
    if token_type.chars().count() > MAX_TOKEN_TYPE_LEN {
        return "a token of an unrecognized type".to_owned();
    }
    format!("a `{}` token", token_type.escape_debug())
}

/// The top-level field names, for "did you mean to map this?" messages. Names only: values
/// may be secrets.
fn field_names(object: &Map<String, Value>, redactor: &Redactor) -> String {
    if object.is_empty() {
        return "none".to_owned();
    }
    let mut names: Vec<String> = object
        .keys()
        .take(12)
        .map(|k| scrub::field_name(k, redactor))
        .collect();
    if object.len() > 12 {
        names.push("…".to_owned());
    }
    names.join(", ")
}

impl TokenResponse {
    /// Binds the token to a DPoP key: its access token carries the binding.
    pub(crate) fn bound(mut self, binding: Arc<dyn TokenBinding>) -> Self {
        self.binding = Some(binding);
        self
    }

    /// Whether the token is bound to a key (DPoP).
    pub fn is_bound(&self) -> bool {
        self.binding.is_some()
    }

    /// Records the `grant_type` of the request this answers; the access token carries it.
    pub(crate) fn answering(mut self, grant_type: Option<&str>) -> Self {
        self.grant_type = grant_type.map(str::to_owned);
        self
    }

    /// Whether the response carries a refresh token different from `previous`.
    pub(crate) fn rotates(&self, previous: Option<&SecretString>) -> bool {
        match (&self.refresh_token, previous) {
            (Some(new), Some(old)) => new.expose_secret() != old.expose_secret(),
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

#[cfg(test)]
mod tests;
