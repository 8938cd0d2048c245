//! The client credentials grant (RFC 6749 §4.4): the client asks for a token for itself.

use auth_core::{AccessToken, AuthError, TokenFuture, TokenSource};

use crate::{ClientAuth, TokenEndpoint, TokenParams};

/// Fetches a token with `grant_type=client_credentials` on every call.
///
/// ```
/// use auth_oauth::{ClientCredentials, TokenEndpoint, TokenParams};
///
/// let endpoint = TokenEndpoint::builder("https://auth.example.com/token", "my-client")
///     .client_secret("s3cr3t")
///     .build()?;
/// let grant = ClientCredentials::new(endpoint, TokenParams::new().scopes("read write"))?;
/// # Ok::<(), auth_core::AuthError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    endpoint: TokenEndpoint,
    params: TokenParams,
}

impl ClientCredentials {
    /// The grant against `endpoint` with `params`. Fails with a config error when the params
    /// are invalid or the client is public (this grant is for confidential clients only).
    pub fn new(endpoint: TokenEndpoint, params: TokenParams) -> Result<Self, AuthError> {
        params.validate()?;
        if endpoint.client_auth() == ClientAuth::None {
            return Err(AuthError::config(
                "client_secret",
                "is missing: the client credentials grant is for confidential clients",
            ));
        }
        Ok(Self { endpoint, params })
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &TokenEndpoint {
        &self.endpoint
    }

    /// The request parameters.
    pub fn params(&self) -> &TokenParams {
        &self.params
    }

    /// Asks for a new token.
    pub async fn fetch(&self) -> Result<AccessToken, AuthError> {
        let response = self
            .endpoint
            .request(&[("grant_type", "client_credentials")], &self.params)
            .await?;
        response.to_access_token(
            self.endpoint.header_prefix(),
            self.params.requested_scopes(),
        )
    }
}

impl TokenSource for ClientCredentials {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(self.fetch())
    }
}
