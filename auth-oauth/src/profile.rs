//! Who signed in: the user's [`Profile`] from a profile endpoint (`GET /me` with the new access
//! token), or from the claims of an OpenID Connect `id_token`.
//!
//! ```no_run
//! use auth_oauth::profile::ProfileEndpoint;
//! # async fn run(token: auth_core::AccessToken) -> Result<(), auth_core::AuthError> {
//! // `{"data": {"user": {"id": "42", "email": "ada@example.com"}}}`
//! let endpoint = ProfileEndpoint::new("https://api.example.com/me")?
//!     .id_path("data.user.id")?
//!     .email_path("data.user.email")?;
//! let profile = endpoint.fetch(&token).await?;
//! println!("signed in as {profile}");
//! # Ok(()) }
//! ```
//!
//! The `id_token` is decoded **without verifying its signature**: the profile it gives is for
//! display (which account signed in), never for an authorization decision.

use std::fmt;

use auth_core::{AccessToken, AuthError, ErrorKind, ExposeSecret, Redactor, SecretString};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http::{Method, Request, header};
use serde_json::{Map, Value};

use crate::{
    TokenHttpClient, Url,
    http_client::Peer,
    normalize::{KeyPath, scrub},
};

/// The user who signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Profile {
    /// The user's stable id (`sub` of an `id_token`).
    pub id: String,
    /// The user's email address, when the provider gave one.
    pub email: Option<String>,
}

impl Profile {
    /// A profile with this id and email.
    pub fn new(id: impl Into<String>, email: Option<String>) -> Self {
        Self {
            id: id.into(),
            email,
        }
    }
}

/// `email (id)`, or the id alone.
impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.email {
            Some(email) => write!(f, "{email} ({})", self.id),
            None => f.write_str(&self.id),
        }
    }
}

/// A profile endpoint and where the id and email are in its JSON answer; see the
/// [module docs](self).
#[derive(Clone)]
pub struct ProfileEndpoint {
    url: Url,
    id_path: KeyPath,
    email_path: KeyPath,
    http: Option<TokenHttpClient>,
    redactor: Redactor,
}

impl ProfileEndpoint {
    /// The endpoint at `url`, with the id at `id` and the email at `email`. Fails with
    /// [`ErrorKind::Config`] naming `profile.url` when it is not a URL.
    pub fn new(url: &str) -> Result<Self, AuthError> {
        let url = Url::parse(url.trim())
            .map_err(|e| AuthError::config("profile.url", format!("is not a URL ({e})")))?;
        Ok(Self {
            url,
            id_path: KeyPath::new("id")?,
            email_path: KeyPath::new("email")?,
            http: None,
            redactor: Redactor::new(),
        })
    }

    /// The dotted path of the user's id in the answer, e.g. `data.user.id`. Defaults to `id`.
    pub fn id_path(mut self, path: &str) -> Result<Self, AuthError> {
        self.id_path = field_path("profile.id_path", path)?;
        Ok(self)
    }

    /// The dotted path of the user's email in the answer. Defaults to `email`; a missing
    /// email is no error.
    pub fn email_path(mut self, path: &str) -> Result<Self, AuthError> {
        self.email_path = field_path("profile.email_path", path)?;
        Ok(self)
    }

    /// The client the request goes through, with its timeout and `http://` rule. Defaults to
    /// [`TokenHttpClient::new`].
    pub fn http_client(mut self, http: TokenHttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// Secrets cut out of any answer text an error quotes (the access token always is).
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// The endpoint's URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// `GET`s the profile with `token` in the `Authorization` header. Errors say which path is
    /// missing or what status came, never the token, and quote at most a redacted excerpt.
    pub async fn fetch(&self, token: &AccessToken) -> Result<Profile, AuthError> {
        let http = match &self.http {
            Some(http) => http.clone(),
            None => TokenHttpClient::new()?,
        };
        let redactor = self.redactor.child();
        redactor.add_token(token);
        let request = Request::builder()
            .method(Method::GET)
            .uri(self.url.as_str())
            .header(header::AUTHORIZATION, token.header_value().clone())
            .header(header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| AuthError::new(ErrorKind::Config, format!("profile: {e}")))?;
        let response = http.send_to(request, Peer::PROFILE).await?;
        let shown = self.shown_url();
        let status = response.status();
        if !status.is_success() {
            let kind = match status.as_u16() {
                401 => ErrorKind::Unauthorized,
                403 => ErrorKind::Forbidden,
                _ => ErrorKind::Request,
            };
            let excerpt = scrub::snippet(response.body(), &[], &redactor);
            let excerpt = if excerpt.is_empty() {
                String::new()
            } else {
                format!(": {excerpt}")
            };
            return Err(AuthError::new(
                kind,
                format!("profile: {shown} answered {status}{excerpt}"),
            )
            .with_status(status));
        }
        let object: Map<String, Value> = serde_json::from_slice(response.body()).map_err(|_| {
            AuthError::new(
                ErrorKind::MalformedResponse,
                format!("profile: the answer of {shown} is not a JSON object"),
            )
        })?;
        let id = match self.id_path.find(&object).and_then(text) {
            Some(id) => id,
            None => {
                return Err(AuthError::new(
                    ErrorKind::MalformedResponse,
                    format!(
                        "profile: no `{}` in the answer of {shown}",
                        self.id_path.as_str()
                    ),
                ));
            }
        };
        let email = self.email_path.find(&object).and_then(text);
        Ok(Profile { id, email })
    }

    /// The URL without userinfo, through the redactor (a variable in it may be a secret).
    fn shown_url(&self) -> String {
        let mut url = self.url.clone();
        let _ = url.set_username("");
        let _ = url.set_password(None);
        self.redactor.redact(url.as_str()).into_owned()
    }
}

impl fmt::Debug for ProfileEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProfileEndpoint")
            .field("url", &self.shown_url())
            .field("id_path", &self.id_path.as_str())
            .field("email_path", &self.email_path.as_str())
            .finish_non_exhaustive()
    }
}

/// The profile in an OpenID Connect `id_token`'s claims: `sub` as the id, `email` if present.
///
/// The JWT's payload is decoded **without verifying the signature**: display only (say who
/// signed in), never an authorization decision. Errors never quote the token.
pub fn from_id_token(id_token: &SecretString) -> Result<Profile, AuthError> {
    let malformed = |what: &str| {
        AuthError::new(
            ErrorKind::MalformedResponse,
            format!("profile: the id_token {what}"),
        )
    };
    let mut parts = id_token.expose_secret().split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("is not a JWT (three dot-separated parts)"));
    };
    let payload = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| malformed("payload is not base64url"))?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&payload).map_err(|_| malformed("payload is not a JSON object"))?;
    let id = claims
        .get("sub")
        .and_then(text)
        .ok_or_else(|| malformed("has no `sub` claim"))?;
    let email = claims.get("email").and_then(text);
    Ok(Profile { id, email })
}

/// A string, or a number written as one (ids are often numbers); nothing else.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn field_path(key: &str, path: &str) -> Result<KeyPath, AuthError> {
    KeyPath::new(path).map_err(|_| {
        AuthError::config(
            key,
            format!("`{path}` is not a field path (names separated by single dots)"),
        )
    })
}

#[cfg(test)]
mod tests;
