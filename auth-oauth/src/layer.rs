//! [`OAuth2Layer`]: a [`TokenLayer`] over a cached OAuth 2.0 grant, built in one expression.
//!
//! Each grant has a constructor that takes what it cannot do without, and a builder with the
//! rest (scopes, audience, client authentication, cache settings, …). The layer is `Clone` and
//! cheap; all clones share one token cache, so put one in your application state.
//!
//! ```
//! use auth_oauth::OAuth2Layer;
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::{client::legacy::Client, rt::TokioExecutor};
//! use std::time::Duration;
//! use tower::ServiceBuilder;
//! # fn main() -> Result<(), auth_core::AuthError> {
//! # let _rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! # let _guard = _rt.enter();
//! let oauth = OAuth2Layer::client_credentials(
//!     "https://auth.example.com/oauth/token",
//!     "my-client",
//!     "s3cr3t",
//! )
//! .scopes("read write")
//! .audience("https://api.example.com")
//! .build()?;
//!
//! let client = ServiceBuilder::new()
//!     .timeout(Duration::from_secs(10))
//!     .layer(oauth)
//!     .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
//! # Ok(()) }
//! ```
//!
//! To compose by hand, build a grant ([`ClientCredentials`], …), wrap it in a
//! [`CachedTokenSource`] and give that to [`TokenLayer::new`] or [`OAuth2Layer::new`].

use std::{fmt, sync::Arc, time::Duration};

use auth_core::{AccessToken, AuthError, CachedTokenSource, SecretString, TokenSource, TokenStore};
use auth_layers::{Token, TokenLayer};
use tower_layer::Layer;

use crate::{
    AuthorizationCode, ClientCredentials, Password, RefreshToken, TokenEndpoint, Url,
    assertion::SigningKey,
    revocation::{Revocation, RevocationOutcome},
};

mod builder;

use builder::{CodeInputs, PasswordInputs, RefreshInputs};
pub use builder::{LayerGrant, OAuth2LayerBuilder};

/// Sends a token from a cached grant `G` with every request and retries once on 401; see the
/// [module docs](self).
pub struct OAuth2Layer<G> {
    inner: TokenLayer<CachedTokenSource<G>>,
    /// Where [`revoke`](OAuth2Layer::revoke) tells the server; `None`: not configured.
    revocation: Option<Revocation>,
}

impl<G> Clone for OAuth2Layer<G> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            revocation: self.revocation.clone(),
        }
    }
}

impl<G: TokenSource> OAuth2Layer<G> {
    /// A layer over an existing cached source.
    pub fn new(source: CachedTokenSource<G>) -> Self {
        Self {
            inner: TokenLayer::new(source),
            revocation: None,
        }
    }

    /// Tells `revocation` in [`revoke`](Self::revoke); see
    /// [`OAuth2LayerBuilder::revocation_url`].
    pub fn with_revocation(mut self, revocation: Revocation) -> Self {
        self.revocation = Some(revocation);
        self
    }

    /// The revocation endpoint, when one is configured.
    pub fn revocation(&self) -> Option<&Revocation> {
        self.revocation.as_ref()
    }

    /// The token cache (for [`refresh_now`](CachedTokenSource::refresh_now), or
    /// `.source().source()` for the grant itself).
    pub fn source(&self) -> &CachedTokenSource<G> {
        self.inner.source()
    }

    /// Adjusts the underlying [`TokenLayer`] (origin restriction, replay limit, retry).
    pub fn map_token_layer(
        self,
        f: impl FnOnce(TokenLayer<CachedTokenSource<G>>) -> TokenLayer<CachedTokenSource<G>>,
    ) -> Self {
        Self {
            inner: f(self.inner),
            revocation: self.revocation,
        }
    }

    /// The underlying [`TokenLayer`].
    pub fn into_token_layer(self) -> TokenLayer<CachedTokenSource<G>> {
        self.inner
    }
}

impl<G: TokenSource> From<TokenLayer<CachedTokenSource<G>>> for OAuth2Layer<G> {
    /// An `OAuth2Layer` over a [`TokenLayer`] built elsewhere, e.g. with its token in another
    /// header or the query ([`TokenLayer::header`], [`TokenLayer::query`]).
    fn from(inner: TokenLayer<CachedTokenSource<G>>) -> Self {
        Self {
            inner,
            revocation: None,
        }
    }
}

impl<G: LayerGrant> OAuth2Layer<G> {
    /// Signs out (RFC 7009): revokes the stored refresh token (for the refresh token and
    /// authorization code grants) and the cached access token at the
    /// [revocation endpoint](OAuth2LayerBuilder::revocation_url), then removes the refresh
    /// token from the store and drops the cached token. The local copies go even when the
    /// endpoint fails (a 5xx, an error answer, no answer) or none is configured; the outcome
    /// says what was revoked, what failed and what was removed. Afterwards the layer's
    /// requests fail with [`ErrorKind::NotSignedIn`](auth_core::ErrorKind::NotSignedIn) until
    /// the next sign-in (grants that fetch without a stored token just fetch a new one).
    ///
    /// `Err` only when the store cannot be read or written.
    ///
    /// ```
    /// # use auth_core::MemoryTokenStore;
    /// # use auth_oauth::OAuth2Layer;
    /// # use std::sync::Arc;
    /// # async fn run() -> Result<(), auth_core::AuthError> {
    /// # let store = Arc::new(MemoryTokenStore::new());
    /// let oauth = OAuth2Layer::refresh_token("https://auth.example.com/token", "my-cli", store, "my-cli")
    ///     .revocation_url("https://auth.example.com/revoke")
    ///     .build()?;
    /// let outcome = oauth.revoke().await?;
    /// if outcome.has_failures() {
    ///     eprintln!("signed out locally; the provider was not told: {outcome}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn revoke(&self) -> Result<RevocationOutcome, AuthError> {
        let cached = self.source().clear();
        let grant = self.source().source();
        let outcome =
            builder::sealed::Sealed::sign_out(grant, self.revocation.as_ref(), cached).await?;
        // A refresh that finished meanwhile cached a token of the revoked grant.
        self.source().clear();
        Ok(outcome)
    }
}

impl<S: Clone, G> Layer<S> for OAuth2Layer<G> {
    type Service = Token<S, CachedTokenSource<G>>;

    fn layer(&self, inner: S) -> Self::Service {
        self.inner.layer(inner)
    }
}

impl<G> fmt::Debug for OAuth2Layer<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2Layer")
            .field("layer", &self.inner)
            .finish_non_exhaustive()
    }
}

impl OAuth2Layer<ClientCredentials> {
    /// The client credentials grant for a confidential client.
    pub fn client_credentials(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
    ) -> OAuth2LayerBuilder<ClientCredentials> {
        OAuth2LayerBuilder::new(
            TokenEndpoint::builder(token_url, client_id).client_secret(client_secret),
            (),
        )
    }
}

impl OAuth2Layer<Password> {
    /// The resource owner password grant. The client is public unless a
    /// [`client_secret`](OAuth2LayerBuilder::client_secret) is set.
    pub fn password(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<SecretString>,
    ) -> OAuth2LayerBuilder<Password> {
        OAuth2LayerBuilder::new(
            TokenEndpoint::builder(token_url, client_id),
            PasswordInputs {
                username: username.into(),
                password: password.into(),
            },
        )
    }
}

impl OAuth2Layer<RefreshToken> {
    /// The refresh token grant, with the refresh token kept under `key` in `store`.
    pub fn refresh_token(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        store: Arc<dyn TokenStore>,
        key: impl Into<String>,
    ) -> OAuth2LayerBuilder<RefreshToken> {
        OAuth2LayerBuilder::new(
            TokenEndpoint::builder(token_url, client_id),
            RefreshInputs {
                store,
                key: key.into(),
                initial: None,
            },
        )
    }
}

impl OAuth2Layer<AuthorizationCode> {
    /// The authorization code grant with PKCE. Sign in once with [`login`](Self::login) (or
    /// the grant's `authorize` + `exchange`, then [`CachedTokenSource::insert`]); the layer
    /// then refreshes from the store, across restarts with a file store.
    pub fn authorization_code(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        auth_url: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> OAuth2LayerBuilder<AuthorizationCode> {
        OAuth2LayerBuilder::new(
            TokenEndpoint::builder(token_url, client_id),
            CodeInputs {
                auth_url: auth_url.into(),
                redirect_uri: redirect_uri.into(),
                pkce: true,
                prompt: None,
                offline: false,
                auth_params: Vec::new(),
                store: None,
            },
        )
    }
}

impl OAuth2Layer<AuthorizationCode> {
    /// Signs in through the browser (see [`AuthorizationCode::login`]) and puts the new token
    /// in this layer's cache, so requests use it at once, even after a failed attempt.
    pub async fn login(
        &self,
        open: impl FnOnce(&Url),
        timeout: Duration,
    ) -> Result<AccessToken, AuthError> {
        let grant = self.source().source();
        let token = grant.login(open, timeout).await?;
        // The exchanged token goes straight into the cache, which also clears any failure (and
        // its backoff) recorded before the sign-in.
        grant.take_exchanged();
        self.source().insert(token.clone());
        Ok(token)
    }

    /// The OpenID Connect `id_token` of the last sign-in, if the provider sent one; see
    /// [`AuthorizationCode::id_token`].
    pub fn id_token(&self) -> Option<auth_core::SecretString> {
        self.source().source().id_token()
    }
}

impl OAuth2Layer<ClientCredentials> {
    /// The client credentials grant with the client authentication left to the builder
    /// ([`client_secret`](OAuth2LayerBuilder::client_secret),
    /// [`private_key_jwt`](OAuth2LayerBuilder::private_key_jwt), `tls_client_auth`), for
    /// code that decides it at run time, such as a configuration file. `build()` fails naming
    /// `client_secret` when none was given: the grant is for confidential clients only.
    pub fn client_credentials_builder(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
    ) -> OAuth2LayerBuilder<ClientCredentials> {
        OAuth2LayerBuilder::new(TokenEndpoint::builder(token_url, client_id), ())
    }

    /// The client credentials grant for a client that authenticates with `private_key_jwt`
    /// (RFC 7523 §2.2) instead of a secret: each token request carries a fresh assertion
    /// signed with `key`.
    pub fn client_credentials_private_key_jwt(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        key: SigningKey,
    ) -> OAuth2LayerBuilder<ClientCredentials> {
        OAuth2LayerBuilder::new(
            TokenEndpoint::builder(token_url, client_id).private_key_jwt(key),
            (),
        )
    }

    /// The client credentials grant for a client that authenticates with its TLS certificate
    /// (`tls_client_auth`, RFC 8705 §2.1); use
    /// [`self_signed_tls_client_auth`](OAuth2LayerBuilder::self_signed_tls_client_auth) on
    /// the builder for a self-signed one.
    #[cfg(feature = "mtls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mtls")))]
    pub fn client_credentials_tls(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        tls: auth_layers::tls::ClientTls,
    ) -> OAuth2LayerBuilder<ClientCredentials> {
        OAuth2LayerBuilder::new(
            TokenEndpoint::builder(token_url, client_id).tls_client_auth(tls),
            (),
        )
    }
}
