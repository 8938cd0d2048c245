//! The resource owner password credentials grant (RFC 6749 §4.3), for legacy first-party
//! systems that still use it.

use std::fmt;

use auth_core::{AccessToken, AuthError, ExposeSecret, SecretString, TokenFuture, TokenSource};

use crate::{TokenEndpoint, TokenParams};

/// Fetches a token with `grant_type=password` and the user's credentials on every call.
///
/// ```
/// use auth_oauth::{Password, TokenEndpoint, TokenParams};
///
/// let endpoint = TokenEndpoint::builder("https://auth.example.com/token", "my-client")
///     .client_secret("s3cr3t")
///     .build()?;
/// let grant = Password::new(endpoint, "alice", "correct horse", TokenParams::new())?;
/// assert!(!format!("{grant:?}").contains("correct horse"));
/// # Ok::<(), auth_core::AuthError>(())
/// ```
#[derive(Clone)]
pub struct Password {
    endpoint: TokenEndpoint,
    params: TokenParams,
    username: String,
    password: SecretString,
}

impl Password {
    /// The grant for `username` with `password`. Fails with a config error naming an empty
    /// `username` or `password`, or invalid params.
    pub fn new(
        endpoint: TokenEndpoint,
        username: impl Into<String>,
        password: impl Into<SecretString>,
        params: TokenParams,
    ) -> Result<Self, AuthError> {
        let username = username.into();
        let password = password.into();
        if username.trim().is_empty() {
            return Err(AuthError::config("username", "is missing"));
        }
        if password.expose_secret().is_empty() {
            return Err(AuthError::config("password", "is missing"));
        }
        params.validate()?;
        Ok(Self {
            endpoint,
            params,
            username,
            password,
        })
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &TokenEndpoint {
        &self.endpoint
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Asks for a new token.
    pub async fn fetch(&self) -> Result<AccessToken, AuthError> {
        let fields = [
            ("grant_type", "password"),
            ("username", self.username.as_str()),
            ("password", self.password.expose_secret()),
        ];
        let response = self.endpoint.request(&fields, &self.params).await?;
        response.to_access_token(
            self.endpoint.header_prefix(),
            self.params.requested_scopes(),
        )
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Password")
            .field("endpoint", &self.endpoint)
            .field("params", &self.params)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl TokenSource for Password {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(self.fetch())
    }
}
