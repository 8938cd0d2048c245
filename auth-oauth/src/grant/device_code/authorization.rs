//! The device authorization response (RFC 8628 §3.2), read and checked: [`DeviceAuthorization`]
//! (with the secret `device_code`) and the [`DevicePrompt`] shown to the user.
//!
//! The server's text reaches a terminal, so every value shown is checked for what a hostile
//! server could abuse: the user code is short and printable, the URIs are http(s) URLs without
//! control characters, and the timings are bounded.

use std::{fmt, time::Duration};

use auth_core::{AuthError, ErrorKind, Redactor, SecretString};
use oauth2::{HttpResponse, url::Url};
use serde_json::{Map, Value};

use crate::normalize::scrub;

/// The polling interval when the server names none (RFC 8628 §3.2): 5 seconds.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// The shortest interval taken from a server: 1 second (`interval = 0` would poll in a loop).
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The longest interval taken from a server: 5 minutes.
pub const MAX_INTERVAL: Duration = Duration::from_secs(300);
/// The longest `expires_in` taken from a server: 1 day.
pub const MAX_EXPIRES_IN: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest user code accepted, in characters (real ones are 8 or 9).
const MAX_USER_CODE_CHARS: usize = 64;
/// The longest verification URI accepted, in bytes.
const MAX_URI_LEN: usize = 2048;
/// The longest error code kept from the server.
const MAX_CODE_CHARS: usize = 64;
/// The longest error description kept from the server.
const MAX_DESCRIPTION_CHARS: usize = 300;

/// What the user is told: where to go and which code to enter. Holds no secret: the user code
/// is meant to be shown (only the `device_code`, kept in [`DeviceAuthorization`], is secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePrompt {
    verification_uri: Url,
    user_code: String,
    verification_uri_complete: Option<Url>,
    expires_in: Option<Duration>,
    interval: Duration,
}

impl DevicePrompt {
    /// `verification_uri` (or Google's `verification_url`): where the user enters the code.
    pub fn verification_uri(&self) -> &Url {
        &self.verification_uri
    }

    /// `user_code`: what the user enters there.
    pub fn user_code(&self) -> &str {
        &self.user_code
    }

    /// `verification_uri_complete`, when the server sent one: the URI with the code in it (for
    /// a QR code or a link).
    pub fn verification_uri_complete(&self) -> Option<&Url> {
        self.verification_uri_complete.as_ref()
    }

    /// `expires_in`: how long the codes are valid, when the server said (at most
    /// [`MAX_EXPIRES_IN`]).
    pub fn expires_in(&self) -> Option<Duration> {
        self.expires_in
    }

    /// The polling interval: the server's `interval` (between [`MIN_INTERVAL`] and
    /// [`MAX_INTERVAL`]), else [`DEFAULT_INTERVAL`].
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

/// A started device authorization: the secret `device_code` the token requests carry, and the
/// [`DevicePrompt`] for the user. Its `Debug` shows the prompt only.
pub struct DeviceAuthorization {
    pub(super) device_code: SecretString,
    prompt: DevicePrompt,
}

impl DeviceAuthorization {
    /// What to show the user.
    pub fn prompt(&self) -> &DevicePrompt {
        &self.prompt
    }
}

impl fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("device_code", &"[redacted]")
            .field("prompt", &self.prompt)
            .finish()
    }
}

/// Reads the device authorization endpoint's answer; `redactor` holds what the request sent.
pub(crate) fn read(
    response: &HttpResponse,
    redactor: &Redactor,
) -> Result<DeviceAuthorization, AuthError> {
    let status = response.status();
    let body = response.body();
    let excerpt = || scrub::snippet(body, &["device_code"], redactor);
    let object = match serde_json::from_slice::<Value>(body.trim_ascii()) {
        Ok(Value::Object(object)) => object,
        _ => {
            let kind = if status.is_server_error() {
                ErrorKind::TokenEndpoint
            } else {
                ErrorKind::MalformedResponse
            };
            let content_type = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none");
            let what = if body.trim_ascii().is_empty() {
                "the device authorization response has an empty body".to_owned()
            } else {
                format!(
                    "the device authorization response is not a JSON object (content type \
                     `{}`): {}",
                    content_type.escape_debug(),
                    excerpt()
                )
            };
            return Err(AuthError::new(kind, what).with_status(status));
        }
    };
    // Whatever else the server wrote may echo the device code: it is cut out too.
    if let Some(Value::String(device_code)) = object.get("device_code") {
        redactor.add(device_code.trim());
    }
    if let Some(Value::String(code)) = object.get("error")
        && !code.trim().is_empty()
    {
        let code: String = scrub::provider_text(code.trim(), MAX_CODE_CHARS, redactor);
        let description = object
            .get("error_description")
            .and_then(Value::as_str)
            .map(|d| scrub::provider_text(d, MAX_DESCRIPTION_CHARS, redactor));
        return Err(AuthError::from_oauth(
            &code,
            description.as_deref(),
            Some(status),
        ));
    }
    if !status.is_success() {
        let kind = if status == http::StatusCode::UNAUTHORIZED {
            ErrorKind::InvalidClient
        } else {
            ErrorKind::TokenEndpoint
        };
        return Err(AuthError::new(
            kind,
            format!(
                "the device authorization endpoint answered without an OAuth `error`: {}",
                excerpt()
            ),
        )
        .with_status(status));
    }
    parse(&object, redactor).map_err(|problem| {
        AuthError::new(
            ErrorKind::MalformedResponse,
            format!("the device authorization response: {problem}"),
        )
        .with_status(status)
    })
}

fn parse(object: &Map<String, Value>, redactor: &Redactor) -> Result<DeviceAuthorization, String> {
    let missing = |field: &str| {
        let mut names: Vec<String> = object
            .keys()
            .take(12)
            .map(|k| scrub::field_name(k, redactor))
            .collect();
        if object.len() > 12 {
            names.push("…".to_owned());
        }
        format!(
            "no `{field}` (fields present: {})",
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        )
    };
    let device_code = match object.get("device_code") {
        Some(Value::String(s)) if !s.trim().is_empty() => SecretString::from(s.trim().to_owned()),
        Some(Value::String(_)) => return Err("`device_code` is empty".to_owned()),
        Some(_) => return Err("`device_code` is not a string".to_owned()),
        None => return Err(missing("device_code")),
    };
    let user_code = match object.get("user_code") {
        Some(Value::String(s)) => user_code(s)?,
        Some(_) => return Err("`user_code` is not a string".to_owned()),
        None => return Err(missing("user_code")),
    };
    let verification_uri = match (
        object.get("verification_uri"),
        object.get("verification_url"),
    ) {
        (Some(value), _) => uri("verification_uri", value)?,
        (None, Some(value)) => uri("verification_url", value)?,
        (None, None) => return Err(missing("verification_uri")),
    };
    let verification_uri_complete = match object.get("verification_uri_complete") {
        None | Some(Value::Null) => None,
        Some(value) => Some(uri("verification_uri_complete", value)?),
    };
    let expires_in = match object.get("expires_in") {
        None | Some(Value::Null) => None,
        // Zero is "unknown", as for tokens: the caller's timeout bounds the polling then.
        Some(value) => Some(seconds("expires_in", value)?)
            .filter(|d| !d.is_zero())
            .map(|d| d.min(MAX_EXPIRES_IN)),
    };
    let interval = match object.get("interval") {
        None | Some(Value::Null) => DEFAULT_INTERVAL,
        Some(value) => seconds("interval", value)?.clamp(MIN_INTERVAL, MAX_INTERVAL),
    };
    Ok(DeviceAuthorization {
        device_code,
        prompt: DevicePrompt {
            verification_uri,
            user_code,
            verification_uri_complete,
            expires_in,
            interval,
        },
    })
}

/// The user code, if it is fit for a terminal: not blank, short, no control characters.
fn user_code(text: &str) -> Result<String, String> {
    let code = text.trim();
    if code.is_empty() {
        return Err("`user_code` is empty".to_owned());
    }
    if code.chars().count() > MAX_USER_CODE_CHARS {
        return Err(format!(
            "`user_code` is longer than {MAX_USER_CODE_CHARS} characters"
        ));
    }
    if code.chars().any(char::is_control) {
        return Err("`user_code` contains control characters".to_owned());
    }
    Ok(code.to_owned())
}

/// A verification URI: an http(s) URL with a host, without control characters (the URL
/// parser would silently drop tabs and newlines), of bounded length. Never quoted in errors.
fn uri(field: &str, value: &Value) -> Result<Url, String> {
    let Value::String(text) = value else {
        return Err(format!("`{field}` is not a string"));
    };
    if text.len() > MAX_URI_LEN {
        return Err(format!("`{field}` is longer than {MAX_URI_LEN} bytes"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("`{field}` contains control characters"));
    }
    let url = Url::parse(text.trim()).map_err(|_| format!("`{field}` is not a URL"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{field}` is not an http(s) URL with a host"));
    }
    Ok(url)
}

/// A positive number of seconds, as a number or a numeric string (fractions dropped).
fn seconds(field: &str, value: &Value) -> Result<Duration, String> {
    let seconds = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|s| s.is_finite() && *s >= 0.0)
    .ok_or_else(|| format!("`{field}` is not a number of seconds"))?;
    // Capped before the conversion, so a huge value cannot overflow.
    Ok(Duration::from_secs(
        seconds.min(MAX_EXPIRES_IN.as_secs_f64()) as u64,
    ))
}

/// [`parse`] for the `Debug` tests.
#[cfg(test)]
pub(super) fn parse_for_tests(object: &Map<String, Value>) -> DeviceAuthorization {
    parse(object, &Redactor::new()).unwrap_or_else(|e| panic!("{e}"))
}
