//! The grants: each a [`TokenSource`](auth_core::TokenSource) that asks the token endpoint for a
//! new token on every call. Wrap one in [`CachedTokenSource`](auth_core::CachedTokenSource) to
//! reuse and refresh tokens (the [`OAuth2Layer`](crate::OAuth2Layer) builders do).
//!
//! | grant | type | sends |
//! |---|---|---|
//! | client credentials | [`ClientCredentials`] | `grant_type=client_credentials` |
//! | resource owner password | [`Password`] | `grant_type=password`, `username`, `password` |
//! | refresh token | [`RefreshToken`] | `grant_type=refresh_token`, `refresh_token` (rotation-safe, kept in a [`TokenStore`](auth_core::TokenStore)) |
//! | authorization code + PKCE | [`AuthorizationCode`] | the authorization URL, then `grant_type=authorization_code`, `code`, `redirect_uri`, `code_verifier`; then refreshes |
//! | refresh token, per user | [`per_user()`] | one [`RefreshToken`] per [`TokenKey`](auth_core::TokenKey) (user, scopes, resource), each with its user's stored refresh token |
//! | device authorization (RFC 8628) | [`DeviceCode`] | the device authorization request, then `grant_type=urn:ietf:params:oauth:grant-type:device_code`, `device_code` every `interval` until approved; then refreshes |
//! | JWT bearer (RFC 7523 §2.1) | [`JwtBearer`] | `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`, `assertion` (a fresh signed JWT each time) |
//! | token exchange (RFC 8693) | [`TokenExchange`] | `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`, `subject_token` (read anew each time from a [`SubjectToken`]), `subject_token_type`, optional `actor_token`, `actor_token_type`, `requested_token_type` |
//! | token exchange, per user | [`per_user_exchange()`] | one [`TokenExchange`] per [`TokenKey`](auth_core::TokenKey), each with its user's token as the subject |
//!
//! ```
//! use auth_core::{CachedTokenSource, TokenSource};
//! use auth_oauth::{ClientCredentials, TokenEndpoint, TokenParams};
//! # async fn run() -> Result<(), auth_core::AuthError> {
//! let endpoint = TokenEndpoint::builder("https://auth.example.com/token", "my-client")
//!     .client_secret("s3cr3t")
//!     .build()?;
//! let grant = ClientCredentials::new(endpoint, TokenParams::new().scopes("read"))?;
//! let source = CachedTokenSource::new(grant);
//! let token = source.token().await?;
//! # Ok(()) }
//! ```

use std::{fmt, str::FromStr};

use auth_core::AuthError;

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod jwt_bearer;
pub mod password;
pub mod per_user;
pub mod refresh;
pub mod token_exchange;

pub use authorization_code::{
    AuthorizationCode, AuthorizationCodeBuilder, AuthorizationRequest, Callback,
};
pub use client_credentials::ClientCredentials;
pub use device_code::{
    DEVICE_CODE_GRANT_TYPE, DeviceAuthorization, DeviceCode, DeviceCodeBuilder, DevicePrompt,
};
pub use jwt_bearer::{JWT_BEARER_GRANT_TYPE, JwtBearer};
pub use password::Password;
pub use per_user::per_user;
pub use refresh::RefreshToken;
pub use token_exchange::{
    SubjectToken, TOKEN_EXCHANGE_GRANT_TYPE, TokenExchange, per_user_exchange,
};

/// A grant type by its RFC 6749 name, e.g. from configuration.
///
/// ```
/// use auth_oauth::GrantType;
///
/// assert_eq!("client_credentials".parse::<GrantType>()?, GrantType::ClientCredentials);
/// let err = "implicit".parse::<GrantType>().unwrap_err();
/// assert!(err.to_string().contains("grant_type: unknown grant `implicit`"));
/// # Ok::<(), auth_core::AuthError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GrantType {
    /// `client_credentials`
    ClientCredentials,
    /// `password`
    Password,
    /// `refresh_token`
    RefreshToken,
    /// `authorization_code`
    AuthorizationCode,
}

impl GrantType {
    /// The RFC 6749 name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
            GrantType::RefreshToken => "refresh_token",
            GrantType::AuthorizationCode => "authorization_code",
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GrantType {
    type Err = AuthError;

    /// Accepts the RFC 6749 names, case-insensitively, with `-` for `_`.
    fn from_str(s: &str) -> Result<Self, AuthError> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "client_credentials" => Ok(GrantType::ClientCredentials),
            "password" => Ok(GrantType::Password),
            "refresh_token" => Ok(GrantType::RefreshToken),
            "authorization_code" => Ok(GrantType::AuthorizationCode),
            _ => Err(AuthError::config(
                "grant_type",
                format!(
                    "unknown grant `{}` (expected client_credentials, password, refresh_token or \
                     authorization_code)",
                    s.escape_debug()
                ),
            )),
        }
    }
}
