//! The [`OAuth2Layer`] constructor and builder settings of token exchange (RFC 8693).

use auth_core::AuthError;

use super::{OAuth2LayerBuilder, sealed};
use crate::{
    OAuth2Layer, TokenEndpoint, TokenEndpointBuilder, TokenParams,
    grant::{SubjectToken, TokenExchange},
};

/// What token exchange needs besides the endpoint: the subject token and the token types.
#[derive(Debug)]
pub struct ExchangeInputs {
    subject: SubjectToken,
    subject_token_type: Option<String>,
    actor: Option<(SubjectToken, String)>,
    requested_token_type: Option<String>,
    lenient: bool,
}

impl OAuth2Layer<TokenExchange> {
    /// Token exchange (RFC 8693): each token request trades `subject`'s current token (an
    /// access token unless [`subject_token_type`](OAuth2LayerBuilder::subject_token_type) says
    /// otherwise) for a new one; the issued token is cached, and the next exchange, when it
    /// expires, reads the subject token again. Client authentication as for the other grants
    /// ([`client_secret`](OAuth2LayerBuilder::client_secret), …; a public client without).
    ///
    /// ```
    /// use auth_oauth::{OAuth2Layer, grant::{SubjectToken, token_exchange::token_type}};
    /// # fn main() -> Result<(), auth_core::AuthError> {
    /// # let _rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # let _guard = _rt.enter();
    /// let oauth = OAuth2Layer::token_exchange(
    ///     "https://sts.example.com/token",
    ///     "billing",
    ///     SubjectToken::file("/var/run/secrets/tokens/sts-token"),
    /// )
    /// .client_secret("s3cr3t")
    /// .subject_token_type(token_type::JWT)
    /// .audience("https://ledger.example.com")
    /// .scopes("ledger.read")
    /// .build()?;
    /// # Ok(()) }
    /// ```
    pub fn token_exchange(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        subject: SubjectToken,
    ) -> OAuth2LayerBuilder<TokenExchange> {
        OAuth2LayerBuilder::new(
            TokenEndpoint::builder(token_url, client_id),
            ExchangeInputs {
                subject,
                subject_token_type: None,
                actor: None,
                requested_token_type: None,
                lenient: false,
            },
        )
    }
}

impl OAuth2LayerBuilder<TokenExchange> {
    /// The `subject_token_type`. Defaults to
    /// [`token_type::ACCESS_TOKEN`](crate::grant::token_exchange::token_type::ACCESS_TOKEN).
    pub fn subject_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.inputs.subject_token_type = Some(token_type.into());
        self
    }

    /// An actor token of `token_type` (delegation: who acts for the subject). Unset by default.
    pub fn actor_token(mut self, actor: SubjectToken, token_type: impl Into<String>) -> Self {
        self.inputs.actor = Some((actor, token_type.into()));
        self
    }

    /// The `requested_token_type`. Unset by default.
    pub fn requested_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.inputs.requested_token_type = Some(token_type.into());
        self
    }

    /// Accepts answers without the `issued_token_type` RFC 8693 requires; see
    /// [`TokenExchange::lenient`]. Defaults to `false`.
    pub fn lenient(mut self, lenient: bool) -> Self {
        self.inputs.lenient = lenient;
        self
    }
}

impl sealed::Sealed for TokenExchange {
    type Inputs = ExchangeInputs;
    const NAME: &'static str = "token_exchange";

    fn build_grant(
        endpoint: TokenEndpointBuilder,
        params: TokenParams,
        inputs: ExchangeInputs,
    ) -> Result<Self, AuthError> {
        let mut grant =
            TokenExchange::new(endpoint.build()?, inputs.subject, params)?.lenient(inputs.lenient);
        if let Some(token_type) = inputs.subject_token_type {
            grant = grant.subject_token_type(token_type);
        }
        if let Some((actor, token_type)) = inputs.actor {
            grant = grant.actor_token(actor, token_type);
        }
        if let Some(token_type) = inputs.requested_token_type {
            grant = grant.requested_token_type(token_type);
        }
        Ok(grant)
    }

    fn token_endpoint(&self) -> &TokenEndpoint {
        self.endpoint()
    }
}
