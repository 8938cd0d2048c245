//! Token exchange (RFC 8693): the client trades a token it holds (the *subject token*: a user's
//! access token, a Kubernetes service-account token, …) for a token the token endpoint issues
//! for another audience, resource or scope; optionally on behalf of an *actor* (delegation).
//!
//! The subject (and actor) token comes from a [`SubjectToken`]: any [`TokenSource`] (an
//! upstream user's token, so a service calls the next API as that user), a file read anew for
//! every exchange (a projected service-account token that rotates under the process), or a
//! fixed value. Wrapped in a [`CachedTokenSource`](auth_core::CachedTokenSource) (as
//! [`OAuth2Layer::token_exchange`](crate::OAuth2Layer::token_exchange) does), the issued token
//! is reused until it expires; the next exchange reads the subject token again.
//!
//! ```
//! use auth_core::{CachedTokenSource, TokenSource};
//! use auth_oauth::{TokenEndpoint, TokenParams, grant::{SubjectToken, TokenExchange}};
//! # async fn run() -> Result<(), auth_core::AuthError> {
//! let endpoint = TokenEndpoint::builder("https://sts.example.com/token", "billing")
//!     .client_secret("s3cr3t")
//!     .build()?;
//! let grant = TokenExchange::new(
//!     endpoint,
//!     SubjectToken::file("/var/run/secrets/tokens/sts-token"),
//!     TokenParams::new().audience("https://ledger.example.com"),
//! )?;
//! let tokens = CachedTokenSource::new(grant);
//! let token = tokens.token().await?;
//! # Ok(()) }
//! ```
//!
//! Per user, with each user's own token as the subject: [`per_user_exchange`].

use std::{fmt, path::PathBuf, sync::Arc};

use auth_core::{
    AccessToken, AuthError, ErrorKind, ExposeSecret, KeyedTokenSource, SecretString, TokenFuture,
    TokenKey, TokenSource, keyed::KeyedTokenSourceBuilder,
};

use crate::{TokenEndpoint, TokenParams, TokenResponse};

/// The `grant_type` of token exchange (RFC 8693 §2.1).
pub const TOKEN_EXCHANGE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The token type identifiers of RFC 8693 §3.
pub mod token_type {
    /// An OAuth 2.0 access token: the default `subject_token_type`.
    pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
    /// An OAuth 2.0 refresh token.
    pub const REFRESH_TOKEN: &str = "urn:ietf:params:oauth:token-type:refresh_token";
    /// An OpenID Connect ID token.
    pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
    /// A JWT (e.g. a Kubernetes service-account token).
    pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
    /// A base64url-encoded SAML 1.1 assertion.
    pub const SAML1: &str = "urn:ietf:params:oauth:token-type:saml1";
    /// A base64url-encoded SAML 2.0 assertion.
    pub const SAML2: &str = "urn:ietf:params:oauth:token-type:saml2";
}

/// Form fields the exchange sets itself; extra parameters may not override them.
const EXCHANGE_FIELDS: [&str; 5] = [
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
];

/// Where a subject or actor token comes from; its value never appears in `Debug` or errors.
#[derive(Clone)]
pub enum SubjectToken {
    /// The current token of a source (an upstream user's token, another grant).
    Source(Arc<dyn TokenSource>),
    /// A file, read anew for every exchange (trailing newline trimmed): a regular file of at
    /// most [`MAX_SECRET_FILE_BYTES`](auth_core::secret_file::MAX_SECRET_FILE_BYTES).
    File(PathBuf),
    /// A fixed value.
    Fixed(SecretString),
}

impl SubjectToken {
    /// The current token of `source`.
    pub fn source(source: impl TokenSource) -> Self {
        SubjectToken::Source(Arc::new(source))
    }

    /// The contents of `path`, read for every exchange, so a rotated file is picked up.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        SubjectToken::File(path.into())
    }

    /// A fixed value.
    pub fn fixed(token: impl Into<SecretString>) -> Self {
        SubjectToken::Fixed(token.into())
    }

    /// Reads the token now; `what` (`subject_token`, `actor_token`) names it in errors. With a
    /// source, the token it handed out comes along, so a refused exchange can drop it.
    async fn read(&self, what: &str) -> Result<(SecretString, Option<AccessToken>), AuthError> {
        match self {
            SubjectToken::Fixed(token) => Ok((token.clone(), None)),
            SubjectToken::File(path) => {
                let token = auth_core::secret_file::read_trimmed(path).map_err(|why| {
                    AuthError::config(what, format!("cannot read `{}`: {why}", path.display()))
                })?;
                Ok((token, None))
            }
            SubjectToken::Source(source) => {
                let token = source.token().await.map_err(|e| {
                    let detail = match e.detail() {
                        Some(d) => format!("getting the {what}: {d}"),
                        None => format!("getting the {what} failed"),
                    };
                    e.with_detail(detail)
                })?;
                Ok((token.secret().clone(), Some(token)))
            }
        }
    }
}

impl fmt::Debug for SubjectToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectToken::Source(_) => f.write_str("Source(..)"),
            SubjectToken::File(path) => f.debug_tuple("File").field(path).finish(),
            SubjectToken::Fixed(_) => f.write_str("Fixed([redacted])"),
        }
    }
}

/// Exchanges the subject token for a new token on every call; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct TokenExchange {
    endpoint: TokenEndpoint,
    params: TokenParams,
    subject: SubjectToken,
    subject_token_type: String,
    actor: Option<(SubjectToken, String)>,
    requested_token_type: Option<String>,
    lenient: bool,
}

impl TokenExchange {
    /// The exchange of `subject` (an access token unless
    /// [`subject_token_type`](Self::subject_token_type) says otherwise) at `endpoint`, asking
    /// for `params`' audience, resources and scopes. Fails with a config error for invalid
    /// params or an extra parameter the exchange sets itself.
    pub fn new(
        endpoint: TokenEndpoint,
        subject: SubjectToken,
        params: TokenParams,
    ) -> Result<Self, AuthError> {
        params.validate()?;
        if let Some((name, _)) = params
            .extra_params()
            .iter()
            .find(|(n, _)| EXCHANGE_FIELDS.contains(&n.as_str()))
        {
            return Err(AuthError::config(
                format!("params.{name}"),
                "is set by the token exchange itself; use the dedicated setting",
            ));
        }
        Ok(Self {
            endpoint,
            params,
            subject,
            subject_token_type: token_type::ACCESS_TOKEN.to_owned(),
            actor: None,
            requested_token_type: None,
            lenient: false,
        })
    }

    /// The `subject_token_type`. Defaults to [`token_type::ACCESS_TOKEN`].
    pub fn subject_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.subject_token_type = token_type.into();
        self
    }

    /// An actor token (RFC 8693 §1.1, delegation) of `token_type` (e.g.
    /// [`token_type::ACCESS_TOKEN`]). Unset by default.
    pub fn actor_token(mut self, actor: SubjectToken, token_type: impl Into<String>) -> Self {
        self.actor = Some((actor, token_type.into()));
        self
    }

    /// The `requested_token_type`. Unset by default (the server chooses, usually an access
    /// token).
    pub fn requested_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.requested_token_type = Some(token_type.into());
        self
    }

    /// Accepts answers without `issued_token_type` (which RFC 8693 §2.2.1 requires), taking
    /// them for access tokens. Defaults to `false`: such an answer is a
    /// [`ErrorKind::MalformedResponse`] error.
    pub fn lenient(mut self, lenient: bool) -> Self {
        self.lenient = lenient;
        self
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &TokenEndpoint {
        &self.endpoint
    }

    /// The request parameters.
    pub fn params(&self) -> &TokenParams {
        &self.params
    }

    /// Checks the token types: none is blank.
    fn check(&self) -> Result<(), AuthError> {
        let types = [
            ("subject_token_type", Some(self.subject_token_type.as_str())),
            (
                "actor_token_type",
                self.actor.as_ref().map(|(_, t)| t.as_str()),
            ),
            ("requested_token_type", self.requested_token_type.as_deref()),
        ];
        for (name, value) in types {
            if value.is_some_and(|v| v.trim().is_empty()) {
                return Err(AuthError::config(name, "is empty"));
            }
        }
        Ok(())
    }

    /// Exchanges once (reading the subject and actor tokens anew) and returns the answer as
    /// it came, `issued_token_type` checked.
    pub async fn exchange(&self) -> Result<TokenResponse, AuthError> {
        self.check()?;
        let (subject, upstream) = self.subject.read("subject_token").await?;
        let actor = match &self.actor {
            Some((actor, token_type)) => {
                Some((actor.read("actor_token").await?.0, token_type.as_str()))
            }
            None => None,
        };
        let mut fields = vec![
            ("grant_type", TOKEN_EXCHANGE_GRANT_TYPE),
            ("subject_token", subject.expose_secret()),
            ("subject_token_type", self.subject_token_type.as_str()),
        ];
        if let Some((token, token_type)) = &actor {
            fields.push(("actor_token", token.expose_secret()));
            fields.push(("actor_token_type", *token_type));
        }
        if let Some(requested) = &self.requested_token_type {
            fields.push(("requested_token_type", requested.as_str()));
        }
        let response = match self.endpoint.request(&fields, &self.params).await {
            Ok(response) => response,
            Err(error) => {
                // A refused subject token (revoked, expired early) is not offered again: the
                // source fetches a new one for the next exchange.
                if error.kind() == ErrorKind::InvalidGrant
                    && let (SubjectToken::Source(source), Some(token)) = (&self.subject, &upstream)
                {
                    source.invalidate(token);
                }
                return Err(error);
            }
        };
        if response.issued_token_type().is_none() && !self.lenient {
            return Err(AuthError::new(
                ErrorKind::MalformedResponse,
                "the token exchange answer has no `issued_token_type` (RFC 8693 §2.2.1 requires \
                 it); accept such answers with the exchange's lenient setting",
            ));
        }
        Ok(response)
    }

    /// Exchanges once and builds the token handed to requests. A token the server marks
    /// `token_type` `N_A` (not an access token: an ID token, a JWT for a downstream service) is
    /// accepted when its `issued_token_type` is not an access token, and sent with the
    /// configured header prefix (`Bearer` by default).
    pub async fn fetch(&self) -> Result<AccessToken, AuthError> {
        let response = self.exchange().await?;
        let not_applicable = response.token_type().eq_ignore_ascii_case("N_A")
            && response
                .issued_token_type()
                .is_some_and(|t| t != token_type::ACCESS_TOKEN);
        let prefix = match self.endpoint.header_prefix() {
            Some(prefix) => Some(prefix),
            None if not_applicable => Some("Bearer"),
            None => None,
        };
        response.to_access_token(prefix, self.params.requested_scopes())
    }
}

impl TokenSource for TokenExchange {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(self.fetch())
    }
}

/// One exchange per [`TokenKey`], each trading the token `users` holds for the key's user
/// (`TokenKey::new(user)` there) for one with the key's scopes, audience and resource (they
/// replace those of `params` when the key names them). Each key's issued token is cached and
/// refreshed on its own; the user's token is fetched (and refreshed) by `users`.
///
/// ```
/// use auth_core::{MemoryTokenStore, TokenKey};
/// use auth_layers::TokenLayer;
/// use auth_oauth::{TokenEndpoint, TokenParams, grant::{per_user, per_user_exchange}};
/// use std::sync::Arc;
/// # fn run() -> Result<(), auth_core::AuthError> {
/// let endpoint = TokenEndpoint::builder("https://login.example.com/token", "gateway")
///     .client_secret("s3cr3t")
///     .build()?;
/// // Each user's own token: refreshed from the refresh token their sign-in stored.
/// let store = Arc::new(MemoryTokenStore::new());
/// let users = per_user(endpoint.clone(), store, "gateway", TokenParams::new()).build();
/// // Exchanged for a token for the ledger API, per user.
/// let ledger = per_user_exchange(
///     endpoint,
///     users,
///     TokenParams::new().audience("https://ledger.example.com"),
/// )
/// .build();
/// let layer = TokenLayer::keyed(ledger);
/// // per request: request.extensions_mut().insert(TokenKey::new(user_id));
/// # let _ = (layer, TokenKey::new("alice")); Ok(()) }
/// ```
pub fn per_user_exchange<S: TokenSource>(
    endpoint: TokenEndpoint,
    users: KeyedTokenSource<TokenKey, S>,
    params: TokenParams,
) -> KeyedTokenSourceBuilder<TokenKey, TokenExchange> {
    KeyedTokenSource::builder(move |key: &TokenKey| {
        let params = super::per_user::params_for(&params, key);
        let subject = users.source(&TokenKey::new(key.subject()))?;
        TokenExchange::new(
            endpoint.clone(),
            SubjectToken::Source(subject.into_dyn()),
            params,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> TokenEndpoint {
        TokenEndpoint::builder("https://sts.example.com/token", "id")
            .client_secret("s")
            .build()
            .expect("endpoint")
    }

    #[test]
    fn debug_never_shows_the_subject_or_actor_token() {
        let grant = TokenExchange::new(
            endpoint(),
            SubjectToken::fixed("subject-canary-1"),
            TokenParams::new(),
        )
        .expect("grant")
        .actor_token(SubjectToken::fixed("actor-canary-2"), token_type::JWT);
        let shown = format!("{grant:?}");
        assert!(!shown.contains("canary"), "{shown}");
        assert!(shown.contains("Fixed([redacted])"), "{shown}");
    }

    #[test]
    fn extra_params_cannot_set_the_exchange_fields() {
        let err = TokenExchange::new(
            endpoint(),
            SubjectToken::fixed("t"),
            TokenParams::new().param("actor_token", "x"),
        )
        .expect_err("reserved");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("params.actor_token"), "{err}");
    }

    #[tokio::test]
    async fn an_unreadable_subject_file_names_the_setting_and_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing-token");
        let grant = TokenExchange::new(endpoint(), SubjectToken::file(&path), TokenParams::new())
            .expect("grant");
        let err = grant.fetch().await.expect_err("no file");
        assert_eq!(err.kind(), ErrorKind::Config);
        let text = err.to_string();
        assert!(text.contains("subject_token: cannot read"), "{text}");
        assert!(text.contains("missing-token"), "{text}");
    }

    #[tokio::test]
    async fn a_blank_token_type_is_a_config_error() {
        let grant = TokenExchange::new(endpoint(), SubjectToken::fixed("t"), TokenParams::new())
            .expect("grant")
            .requested_token_type(" ");
        let err = grant.fetch().await.expect_err("blank");
        assert!(
            err.to_string().contains("requested_token_type: is empty"),
            "{err}"
        );
    }
}
