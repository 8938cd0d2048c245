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

use std::{fmt, marker::PhantomData, sync::Arc, time::Duration};

use auth_core::{
    AccessToken, AuthError, CacheConfig, CachedTokenSource, ErrorKind, SecretString, TokenSource,
    TokenStore,
};
use auth_layers::{TokenLayer, TokenService};
use tower_layer::Layer;

use crate::{
    AuthorizationCode, ClientAuth, ClientCredentials, KeyMap, Password, RefreshToken, Scopes,
    TokenEndpoint, TokenEndpointBuilder, TokenHttpClient, TokenParams, Url, assertion::SigningKey,
};

mod jwt_bearer;

/// Sends a token from a cached grant `G` with every request and retries once on 401; see the
/// [module docs](self).
pub struct OAuth2Layer<G> {
    inner: TokenLayer<CachedTokenSource<G>>,
}

impl<G> Clone for OAuth2Layer<G> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<G: TokenSource> OAuth2Layer<G> {
    /// A layer over an existing cached source.
    pub fn new(source: CachedTokenSource<G>) -> Self {
        Self {
            inner: TokenLayer::new(source),
        }
    }

    /// The token cache (for [`refresh_now`](CachedTokenSource::refresh_now), or
    /// `.source().source()` for the grant itself).
    pub fn source(&self) -> &CachedTokenSource<G> {
        self.inner.source()
    }

    /// Adjusts the underlying [`TokenLayer`] (header name, origin restriction, replay limit).
    pub fn map_token_layer(
        self,
        f: impl FnOnce(TokenLayer<CachedTokenSource<G>>) -> TokenLayer<CachedTokenSource<G>>,
    ) -> Self {
        Self {
            inner: f(self.inner),
        }
    }

    /// The underlying [`TokenLayer`].
    pub fn into_token_layer(self) -> TokenLayer<CachedTokenSource<G>> {
        self.inner
    }
}

impl<S: Clone, G> Layer<S> for OAuth2Layer<G> {
    type Service = TokenService<S, CachedTokenSource<G>>;

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
            Inputs::ClientCredentials,
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
            Inputs::Password {
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
            Inputs::Refresh {
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
            Inputs::AuthorizationCode(Box::new(CodeInputs {
                auth_url: auth_url.into(),
                redirect_uri: redirect_uri.into(),
                pkce: true,
                prompt: None,
                offline: false,
                auth_params: Vec::new(),
                store: None,
            })),
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
}

/// Configures an [`OAuth2Layer`] for grant `G`; nothing is checked until `build()`, which
/// names the first bad setting.
pub struct OAuth2LayerBuilder<G> {
    endpoint: TokenEndpointBuilder,
    params: TokenParams,
    cache: CacheConfig,
    inputs: Inputs,
    grant: PhantomData<fn() -> G>,
}

/// What each grant needs besides the endpoint and the parameters.
enum Inputs {
    ClientCredentials,
    Password {
        username: String,
        password: SecretString,
    },
    Refresh {
        store: Arc<dyn TokenStore>,
        key: String,
        initial: Option<SecretString>,
    },
    AuthorizationCode(Box<CodeInputs>),
    JwtBearer(Box<jwt_bearer::JwtInputs>),
}

struct CodeInputs {
    auth_url: String,
    redirect_uri: String,
    pkce: bool,
    prompt: Option<String>,
    offline: bool,
    auth_params: Vec<(String, String)>,
    store: Option<(Arc<dyn TokenStore>, String)>,
}

impl<G> OAuth2LayerBuilder<G> {
    fn new(endpoint: TokenEndpointBuilder, inputs: Inputs) -> Self {
        Self {
            endpoint,
            params: TokenParams::new(),
            cache: CacheConfig::default(),
            inputs,
            grant: PhantomData,
        }
    }

    fn endpoint(mut self, f: impl FnOnce(TokenEndpointBuilder) -> TokenEndpointBuilder) -> Self {
        self.endpoint = f(self.endpoint);
        self
    }

    fn params(mut self, f: impl FnOnce(TokenParams) -> TokenParams) -> Self {
        self.params = f(self.params);
        self
    }

    /// The client secret (for grants whose constructor does not take one).
    pub fn client_secret(self, secret: impl Into<SecretString>) -> Self {
        self.endpoint(|e| e.client_secret(secret))
    }

    /// How the client authenticates; see [`ClientAuth`]. Defaults to `client_secret_basic`
    /// with a secret, `none` without.
    pub fn client_auth(self, auth: ClientAuth) -> Self {
        self.endpoint(|e| e.client_auth(auth))
    }

    /// `private_key_jwt` client authentication (RFC 7523 §2.2) with `key`: each token request
    /// carries a fresh JWT signed with it; see
    /// [`TokenEndpointBuilder::private_key_jwt`].
    pub fn private_key_jwt(self, key: SigningKey) -> Self {
        self.endpoint(|e| e.private_key_jwt(key))
    }

    /// Like [`private_key_jwt`](Self::private_key_jwt) with a PEM private key and its key id
    /// (the `kid` the server knows it by); a bad key is reported by `build()`.
    pub fn private_key_jwt_pem(self, pem: impl AsRef<[u8]>, key_id: Option<&str>) -> Self {
        self.endpoint(|e| e.private_key_jwt_pem(pem, key_id))
    }

    /// The `aud` of `private_key_jwt` assertions. Defaults to the token URL.
    pub fn client_assertion_audience(self, audience: impl Into<String>) -> Self {
        self.endpoint(|e| e.client_assertion_audience(audience))
    }

    /// `tls_client_auth` (RFC 8705): token requests present `tls`' client certificate; see
    /// [`TokenEndpointBuilder::tls_client_auth`].
    #[cfg(feature = "mtls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mtls")))]
    pub fn tls_client_auth(self, tls: auth_layers::tls::ClientTls) -> Self {
        self.endpoint(|e| e.tls_client_auth(tls))
    }

    /// `self_signed_tls_client_auth` (RFC 8705 §2.2); see
    /// [`TokenEndpointBuilder::self_signed_tls_client_auth`].
    #[cfg(feature = "mtls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mtls")))]
    pub fn self_signed_tls_client_auth(self, tls: auth_layers::tls::ClientTls) -> Self {
        self.endpoint(|e| e.self_signed_tls_client_auth(tls))
    }

    /// The scopes, as a list or a space- or comma-separated string.
    pub fn scopes(self, scopes: impl Into<Scopes>) -> Self {
        self.params(|p| p.scopes(scopes))
    }

    /// The separator scopes are sent with. Defaults to a space.
    pub fn scope_separator(self, separator: char) -> Self {
        self.params(|p| p.scope_separator(separator))
    }

    /// The `audience` parameter.
    pub fn audience(self, audience: impl Into<String>) -> Self {
        self.params(|p| p.audience(audience))
    }

    /// Adds a `resource` parameter (RFC 8707); repeatable.
    pub fn resource(self, resource: impl Into<String>) -> Self {
        self.params(|p| p.resource(resource))
    }

    /// Adds an extra token-request parameter.
    pub fn param(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params(|p| p.param(name, value))
    }

    /// Where the fields of token responses are; see [`KeyMap`].
    pub fn key_map(self, key_map: KeyMap) -> Self {
        self.endpoint(|e| e.key_map(key_map))
    }

    /// The header prefix tokens are sent with. Defaults to each token's type (`Bearer`).
    pub fn header_prefix(self, prefix: impl Into<String>) -> Self {
        self.endpoint(|e| e.header_prefix(prefix))
    }

    /// The HTTP client for token requests. Defaults to [`TokenHttpClient::new`].
    pub fn http_client(self, client: TokenHttpClient) -> Self {
        self.endpoint(|e| e.http_client(client))
    }

    /// The deadline of one token request. Defaults to 30 seconds.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.endpoint(|e| e.timeout(timeout))
    }

    /// The largest token response read. Defaults to 1 MiB.
    pub fn max_response_size(self, bytes: usize) -> Self {
        self.endpoint(|e| e.max_response_size(bytes))
    }

    /// Allows plain `http://` token and authorization URLs off loopback. Defaults to `false`.
    pub fn allow_insecure_http(self, allow: bool) -> Self {
        self.endpoint(|e| e.allow_insecure_http(allow))
    }

    /// The cache settings (skew, refresh window, backoff). Defaults to [`CacheConfig::default`].
    pub fn cache_config(mut self, config: CacheConfig) -> Self {
        self.cache = config;
        self
    }

    fn into_parts(self) -> (TokenEndpointBuilder, TokenParams, CacheConfig, Inputs) {
        (self.endpoint, self.params, self.cache, self.inputs)
    }
}

fn cached<T: TokenSource>(grant: T, cache: CacheConfig) -> OAuth2Layer<T> {
    OAuth2Layer::new(CachedTokenSource::with_config(grant, cache))
}

fn wrong_inputs() -> AuthError {
    // Each constructor pairs its grant type with its inputs, so this cannot happen.
    AuthError::new(
        ErrorKind::Config,
        "the layer builder's inputs do not match its grant",
    )
}

impl OAuth2LayerBuilder<ClientCredentials> {
    /// Checks every setting and builds the layer; errors name the bad setting.
    pub fn build(self) -> Result<OAuth2Layer<ClientCredentials>, AuthError> {
        let cache = self.cache.clone();
        Ok(cached(self.build_grant()?, cache))
    }

    /// Like [`build`](Self::build), but returns the grant without the cache around it, for
    /// wrapping it in another source (the configuration's discovery does) before caching it.
    pub fn build_grant(self) -> Result<ClientCredentials, AuthError> {
        let (endpoint, params, _, inputs) = self.into_parts();
        let Inputs::ClientCredentials = inputs else {
            return Err(wrong_inputs());
        };
        ClientCredentials::new(endpoint.build()?, params)
    }
}

impl OAuth2LayerBuilder<Password> {
    /// Checks every setting and builds the layer; errors name the bad setting.
    pub fn build(self) -> Result<OAuth2Layer<Password>, AuthError> {
        let cache = self.cache.clone();
        Ok(cached(self.build_grant()?, cache))
    }

    /// Like [`build`](Self::build), but returns the grant without the cache around it, for
    /// wrapping it in another source (the configuration's discovery does) before caching it.
    pub fn build_grant(self) -> Result<Password, AuthError> {
        let (endpoint, params, _, inputs) = self.into_parts();
        let Inputs::Password { username, password } = inputs else {
            return Err(wrong_inputs());
        };
        Password::new(endpoint.build()?, username, password, params)
    }
}

impl OAuth2LayerBuilder<RefreshToken> {
    /// The refresh token to use while the store has none for the key (saved on first use).
    pub fn initial_refresh_token(mut self, refresh_token: impl Into<SecretString>) -> Self {
        if let Inputs::Refresh { initial, .. } = &mut self.inputs {
            *initial = Some(refresh_token.into());
        }
        self
    }

    /// Checks every setting and builds the layer; errors name the bad setting.
    pub fn build(self) -> Result<OAuth2Layer<RefreshToken>, AuthError> {
        let cache = self.cache.clone();
        Ok(cached(self.build_grant()?, cache))
    }

    /// Like [`build`](Self::build), but returns the grant without the cache around it, for
    /// wrapping it in another source (the configuration's discovery does) before caching it.
    pub fn build_grant(self) -> Result<RefreshToken, AuthError> {
        let (endpoint, params, _, inputs) = self.into_parts();
        let Inputs::Refresh {
            store,
            key,
            initial,
        } = inputs
        else {
            return Err(wrong_inputs());
        };
        let mut grant = RefreshToken::new(endpoint.build()?, store, key, params)?;
        if let Some(initial) = initial {
            grant = grant.initial_refresh_token(initial);
        }
        Ok(grant)
    }
}

impl OAuth2LayerBuilder<AuthorizationCode> {
    fn code(mut self, f: impl FnOnce(&mut CodeInputs)) -> Self {
        if let Inputs::AuthorizationCode(code) = &mut self.inputs {
            f(code);
        }
        self
    }

    /// Whether to use PKCE (S256). Defaults to `true`.
    pub fn pkce(self, enabled: bool) -> Self {
        self.code(|c| c.pkce = enabled)
    }

    /// The `prompt` parameter of the authorization URL. Unset by default.
    pub fn prompt(self, prompt: impl Into<String>) -> Self {
        let prompt = prompt.into();
        self.code(|c| c.prompt = Some(prompt))
    }

    /// Adds `access_type=offline` to the authorization URL. Defaults to `false`.
    pub fn offline_access(self, enabled: bool) -> Self {
        self.code(|c| c.offline = enabled)
    }

    /// Adds a parameter to the authorization URL only.
    pub fn auth_param(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let pair = (name.into(), value.into());
        self.code(|c| c.auth_params.push(pair))
    }

    /// Where the refresh token is kept. Defaults to memory, keyed by the client id.
    pub fn store(self, store: Arc<dyn TokenStore>, key: impl Into<String>) -> Self {
        let key = key.into();
        self.code(|c| c.store = Some((store, key)))
    }

    /// Checks every setting and builds the layer; errors name the bad setting.
    pub fn build(self) -> Result<OAuth2Layer<AuthorizationCode>, AuthError> {
        let cache = self.cache.clone();
        Ok(cached(self.build_grant()?, cache))
    }

    /// Like [`build`](Self::build), but returns the grant without the cache around it, for
    /// wrapping it in another source (the configuration's discovery does) before caching it.
    pub fn build_grant(self) -> Result<AuthorizationCode, AuthError> {
        let (endpoint, params, _, inputs) = self.into_parts();
        let Inputs::AuthorizationCode(code) = inputs else {
            return Err(wrong_inputs());
        };
        let CodeInputs {
            auth_url,
            redirect_uri,
            pkce,
            prompt,
            offline,
            auth_params,
            store,
        } = *code;
        let mut builder = AuthorizationCode::builder(endpoint.build()?, auth_url, redirect_uri)
            .params(params)
            .pkce(pkce)
            .offline_access(offline);
        if let Some(prompt) = prompt {
            builder = builder.prompt(prompt);
        }
        for (name, value) in auth_params {
            builder = builder.auth_param(name, value);
        }
        if let Some((store, key)) = store {
            builder = builder.store(store, key);
        }
        builder.build()
    }
}

impl<G> fmt::Debug for OAuth2LayerBuilder<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let grant = match &self.inputs {
            Inputs::ClientCredentials => "client_credentials",
            Inputs::Password { .. } => "password",
            Inputs::Refresh { .. } => "refresh_token",
            Inputs::AuthorizationCode(_) => "authorization_code",
            Inputs::JwtBearer(_) => "jwt_bearer",
        };
        f.debug_struct("OAuth2LayerBuilder")
            .field("grant", &grant)
            .field("endpoint", &self.endpoint)
            .field("params", &self.params)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
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
        OAuth2LayerBuilder::new(
            TokenEndpoint::builder(token_url, client_id),
            Inputs::ClientCredentials,
        )
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
            Inputs::ClientCredentials,
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
            Inputs::ClientCredentials,
        )
    }
}
