//! [`OAuth2LayerBuilder`]: what each grant needs besides the endpoint, checked by `build()`.

use std::{fmt, marker::PhantomData, sync::Arc, time::Duration};

use auth_core::{
    AuthError, CacheConfig, CachedTokenSource, ErrorKind, SecretString, TokenSource, TokenStore,
};

use super::OAuth2Layer;
use crate::{
    AuthorizationCode, ClientAuth, ClientCredentials, KeyMap, Password, RefreshToken, Scopes,
    TokenEndpointBuilder, TokenHttpClient, TokenParams, assertion::SigningKey,
};

mod jwt_bearer;

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
pub(super) enum Inputs {
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

pub(super) struct CodeInputs {
    pub(super) auth_url: String,
    pub(super) redirect_uri: String,
    pub(super) pkce: bool,
    pub(super) prompt: Option<String>,
    pub(super) offline: bool,
    pub(super) auth_params: Vec<(String, String)>,
    pub(super) store: Option<(Arc<dyn TokenStore>, String)>,
}

impl<G> OAuth2LayerBuilder<G> {
    pub(super) fn new(endpoint: TokenEndpointBuilder, inputs: Inputs) -> Self {
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
