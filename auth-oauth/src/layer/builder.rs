//! [`OAuth2LayerBuilder`]: what each grant needs besides the endpoint, checked by `build()`.

use std::{fmt, sync::Arc, time::Duration};

use auth_core::{
    AccessToken, AuthError, CacheConfig, CachedTokenSource, SecretString, TokenSource, TokenStore,
};

use super::OAuth2Layer;
use crate::{
    AuthorizationCode, ClientAuth, ClientCredentials, KeyMap, Password, RefreshToken, Scopes,
    TokenEndpoint, TokenEndpointBuilder, TokenHttpClient, TokenParams,
    assertion::SigningKey,
    revocation::{Revocation, RevocationOutcome},
};

mod device_code;
mod jwt_bearer;
mod token_exchange;

/// Configures an [`OAuth2Layer`] for grant `G`; nothing is checked until `build()`, which
/// names the first bad setting.
pub struct OAuth2LayerBuilder<G: LayerGrant> {
    endpoint: TokenEndpointBuilder,
    params: TokenParams,
    cache: CacheConfig,
    inputs: G::Inputs,
    revocation_url: Option<String>,
}

/// A grant an [`OAuth2LayerBuilder`] builds: [`ClientCredentials`], [`Password`],
/// [`RefreshToken`], [`AuthorizationCode`], [`DeviceCode`](crate::DeviceCode),
/// [`JwtBearer`](crate::JwtBearer) and [`TokenExchange`](crate::TokenExchange). Sealed.
pub trait LayerGrant: sealed::Sealed + TokenSource {}

impl<G: sealed::Sealed + TokenSource> LayerGrant for G {}

pub(super) mod sealed {
    use super::*;

    /// What a grant needs besides the endpoint and the parameters, and how it is built from
    /// them; each grant's own inputs type, so no builder holds another grant's.
    pub trait Sealed: Sized {
        /// The grant's own settings (the password, the store, the key, …).
        type Inputs: fmt::Debug;
        /// The grant's name in `Debug`.
        const NAME: &'static str;
        /// Checks the settings and builds the grant.
        fn build_grant(
            endpoint: TokenEndpointBuilder,
            params: TokenParams,
            inputs: Self::Inputs,
        ) -> Result<Self, AuthError>;
        /// The endpoint the grant's requests go to; revocation authenticates the client as
        /// it does.
        fn token_endpoint(&self) -> &TokenEndpoint;
        /// Signs out: revokes what the grant holds and removes what it stored. By default the
        /// grant stores nothing and only `cached`, the access token in use, is revoked.
        fn sign_out<'a>(
            &'a self,
            revocation: Option<&'a Revocation>,
            cached: Option<AccessToken>,
        ) -> SignOutFuture<'a> {
            Box::pin(crate::revocation::revoke_stored(revocation, None, cached))
        }
    }

    /// The future of [`Sealed::sign_out`].
    pub(crate) type SignOutFuture<'a> = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<RevocationOutcome, AuthError>> + Send + 'a>,
    >;
}

/// The password grant's inputs.
pub struct PasswordInputs {
    pub(super) username: String,
    pub(super) password: SecretString,
}

/// The refresh token grant's inputs.
pub struct RefreshInputs {
    pub(super) store: Arc<dyn TokenStore>,
    pub(super) key: String,
    pub(super) initial: Option<SecretString>,
}

/// The authorization code grant's inputs.
pub struct CodeInputs {
    pub(super) auth_url: String,
    pub(super) redirect_uri: String,
    pub(super) pkce: bool,
    pub(super) prompt: Option<String>,
    pub(super) offline: bool,
    pub(super) auth_params: Vec<(String, String)>,
    pub(super) store: Option<(Arc<dyn TokenStore>, String)>,
}

impl<G: LayerGrant> OAuth2LayerBuilder<G> {
    pub(super) fn new(endpoint: TokenEndpointBuilder, inputs: G::Inputs) -> Self {
        Self {
            endpoint,
            params: TokenParams::new(),
            cache: CacheConfig::default(),
            inputs,
            revocation_url: None,
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

    /// DPoP (RFC 9449): every token request carries a proof made with the key, and a token
    /// issued as `token_type: DPoP` is sent as `Authorization: DPoP …` with a fresh proof on
    /// each request. See [`dpop`](crate::dpop).
    pub fn dpop(self, dpop: impl Into<crate::dpop::Dpop>) -> Self {
        let dpop = dpop.into();
        self.endpoint(|e| e.dpop(dpop))
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

    /// Adds an extra token-request parameter; for the authorization code grant the
    /// authorization URL carries it too.
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

    /// The [`Redactor`](auth_core::Redactor) to share; see
    /// [`TokenEndpointBuilder::redactor`].
    pub fn redactor(self, redactor: auth_core::Redactor) -> Self {
        self.endpoint(|e| e.redactor(redactor))
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

    /// Starts the background refresh `lead` before each token's expiry (jitter only makes it
    /// earlier, by up to `lead / 4`); the token is served until `min(skew, lead / 2)` before
    /// expiry. Unset by default: the refresh then starts in the last 25% of the token's life
    /// (at most 5 minutes) before the 30-second skew. See [`CacheConfig::refresh_before`],
    /// which this sets on the [`cache_config`](Self::cache_config).
    pub fn refresh_before(mut self, lead: Duration) -> Self {
        self.cache = self.cache.refresh_before(lead);
        self
    }

    /// The revocation endpoint (RFC 7009) [`OAuth2Layer::revoke`] tells; the client
    /// authenticates there as at the token endpoint. Unset by default: `revoke()` then only
    /// removes the local copies.
    pub fn revocation_url(mut self, url: impl Into<String>) -> Self {
        self.revocation_url = Some(url.into());
        self
    }

    /// Checks every setting and builds the layer; errors name the bad setting (for the JWT
    /// bearer grant, the key file and field too, after signing one assertion to prove the key
    /// works).
    pub fn build(mut self) -> Result<OAuth2Layer<G>, AuthError> {
        let cache = self.cache.clone();
        let revocation_url = self.revocation_url.take();
        let grant = self.build_grant()?;
        let revocation = revocation_url
            .map(|url| Revocation::new(url, sealed::Sealed::token_endpoint(&grant).clone()))
            .transpose()?;
        let layer = OAuth2Layer::new(CachedTokenSource::with_config(grant, cache));
        Ok(match revocation {
            Some(revocation) => layer.with_revocation(revocation),
            None => layer,
        })
    }

    /// Like [`build`](Self::build), then fetches the first token before returning, so a
    /// service starts with a warm cache (its first requests do not wait for the token
    /// endpoint) and fails fast at startup on bad credentials: the error is the fetch's
    /// ([`ErrorKind::InvalidClient`](auth_core::ErrorKind), …).
    pub async fn build_and_fetch(self) -> Result<OAuth2Layer<G>, AuthError> {
        let layer = self.build()?;
        layer.source().token().await?;
        Ok(layer)
    }

    /// Like [`build`](Self::build), but returns the grant without the cache around it, for
    /// wrapping it in another source (the configuration's discovery does) before caching it.
    pub fn build_grant(self) -> Result<G, AuthError> {
        G::build_grant(self.endpoint, self.params, self.inputs)
    }
}

impl sealed::Sealed for ClientCredentials {
    type Inputs = ();
    const NAME: &'static str = "client_credentials";

    fn build_grant(
        endpoint: TokenEndpointBuilder,
        params: TokenParams,
        (): (),
    ) -> Result<Self, AuthError> {
        ClientCredentials::new(endpoint.build()?, params)
    }

    fn token_endpoint(&self) -> &TokenEndpoint {
        self.endpoint()
    }
}

impl sealed::Sealed for Password {
    type Inputs = PasswordInputs;
    const NAME: &'static str = "password";

    fn build_grant(
        endpoint: TokenEndpointBuilder,
        params: TokenParams,
        PasswordInputs { username, password }: PasswordInputs,
    ) -> Result<Self, AuthError> {
        Password::new(endpoint.build()?, username, password, params)
    }

    fn token_endpoint(&self) -> &TokenEndpoint {
        self.endpoint()
    }
}

impl sealed::Sealed for RefreshToken {
    type Inputs = RefreshInputs;
    const NAME: &'static str = "refresh_token";

    fn build_grant(
        endpoint: TokenEndpointBuilder,
        params: TokenParams,
        RefreshInputs {
            store,
            key,
            initial,
        }: RefreshInputs,
    ) -> Result<Self, AuthError> {
        let mut grant = RefreshToken::new(endpoint.build()?, store, key, params)?;
        if let Some(initial) = initial {
            grant = grant.initial_refresh_token(initial);
        }
        Ok(grant)
    }

    fn token_endpoint(&self) -> &TokenEndpoint {
        self.endpoint()
    }

    fn sign_out<'a>(
        &'a self,
        revocation: Option<&'a Revocation>,
        cached: Option<AccessToken>,
    ) -> sealed::SignOutFuture<'a> {
        Box::pin(self.rotation().revoke(revocation, cached))
    }
}

impl OAuth2LayerBuilder<RefreshToken> {
    /// The refresh token to use while the store has none for the key (saved on first use).
    pub fn initial_refresh_token(mut self, refresh_token: impl Into<SecretString>) -> Self {
        self.inputs.initial = Some(refresh_token.into());
        self
    }
}

impl sealed::Sealed for AuthorizationCode {
    type Inputs = CodeInputs;
    const NAME: &'static str = "authorization_code";

    fn build_grant(
        endpoint: TokenEndpointBuilder,
        params: TokenParams,
        code: CodeInputs,
    ) -> Result<Self, AuthError> {
        let CodeInputs {
            auth_url,
            redirect_uri,
            pkce,
            prompt,
            offline,
            auth_params,
            store,
        } = code;
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

    fn token_endpoint(&self) -> &TokenEndpoint {
        self.endpoint()
    }

    fn sign_out<'a>(
        &'a self,
        revocation: Option<&'a Revocation>,
        cached: Option<AccessToken>,
    ) -> sealed::SignOutFuture<'a> {
        // A code exchange's token not handed out yet is the one to revoke.
        let cached = cached.or_else(|| self.take_exchanged());
        Box::pin(self.rotation().revoke(revocation, cached))
    }
}

impl OAuth2LayerBuilder<AuthorizationCode> {
    /// Whether to use PKCE (S256). Defaults to `true`.
    pub fn pkce(mut self, enabled: bool) -> Self {
        self.inputs.pkce = enabled;
        self
    }

    /// The `prompt` parameter of the authorization URL. Unset by default.
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.inputs.prompt = Some(prompt.into());
        self
    }

    /// Adds `access_type=offline` to the authorization URL. Defaults to `false`.
    pub fn offline_access(mut self, enabled: bool) -> Self {
        self.inputs.offline = enabled;
        self
    }

    /// Adds a parameter to the authorization URL only (e.g. `login_hint`); one the grant sets
    /// itself or another setting already sends is refused by `build()` (see
    /// [`AuthorizationCodeBuilder::auth_param`](crate::grant::AuthorizationCodeBuilder::auth_param)).
    pub fn auth_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.inputs.auth_params.push((name.into(), value.into()));
        self
    }

    /// Where the refresh token is kept. Defaults to memory, keyed by the client id.
    pub fn store(mut self, store: Arc<dyn TokenStore>, key: impl Into<String>) -> Self {
        self.inputs.store = Some((store, key.into()));
        self
    }
}

impl<G: LayerGrant> fmt::Debug for OAuth2LayerBuilder<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2LayerBuilder")
            .field("grant", &G::NAME)
            .field("inputs", &self.inputs)
            .field("endpoint", &self.endpoint)
            .field("params", &self.params)
            .field("cache", &self.cache)
            .field("revocation_url", &self.revocation_url)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PasswordInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordInputs")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl fmt::Debug for RefreshInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshInputs")
            .field("key", &self.key)
            .field("initial", &self.initial.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for CodeInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeInputs")
            .field("auth_url", &self.auth_url)
            .field("redirect_uri", &self.redirect_uri)
            .field("pkce", &self.pkce)
            .field("prompt", &self.prompt)
            .field("offline", &self.offline)
            .field("auth_params", &self.auth_params)
            .field("store_key", &self.store.as_ref().map(|(_, key)| key))
            .finish_non_exhaustive()
    }
}
