//! The authorization code grant (RFC 6749 §4.1) with PKCE (RFC 7636, S256) and `state`.
//!
//! 1. [`AuthorizationCode::authorize`] builds the authorization URL (scopes, `prompt`,
//!    `access_type=offline`, audience, resources, extra parameters, authorization-only
//!    parameters) with a fresh `state` and PKCE challenge, and returns an
//!    [`AuthorizationRequest`] that remembers them. Added parameters may not override or repeat
//!    the grant's own ([`AuthorizationCode::SET_BY_GRANT`]): `build()` refuses them by name.
//! 2. The user signs in; the provider redirects to the redirect URI with `code` and `state`.
//!    A command-line program catches that with a [`LoopbackListener`];
//!    [`AuthorizationCode::login`] does steps 1–3 in one call.
//! 3. [`AuthorizationCode::exchange`] checks `state`, exchanges the code (with the same redirect
//!    URI and the PKCE verifier), saves the refresh token to the store, and returns the first
//!    access token.
//! 4. From then on the grant is a [`TokenSource`] that refreshes (rotation-safe, see
//!    [`RefreshToken`](crate::RefreshToken)) from the store, across restarts too.
//!
//! The `state`, the PKCE verifier and the code are held as secrets and never logged or shown.

use std::{fmt, sync::Arc, time::Duration};

use auth_core::{
    AccessToken, AuthError, ErrorKind, ExposeSecret, MemoryTokenStore, SecretString, TokenFuture,
    TokenSource, TokenStore,
};
use oauth2::{
    AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope, basic::BasicClient,
    url::Url,
};
use tokio::time::Instant;

use super::refresh::Rotation;
use crate::{
    LoopbackListener, TokenEndpoint, TokenParams, endpoint::parse_url, http_client::is_loopback,
};

mod callback;
mod request_params;

pub use callback::{AuthorizationRequest, Callback};

/// The authorization code grant; see the [module docs](self).
///
/// ```
/// use auth_oauth::{AuthorizationCode, TokenEndpoint, TokenParams};
///
/// let endpoint = TokenEndpoint::builder("https://auth.example.com/token", "my-cli").build()?;
/// let grant = AuthorizationCode::builder(
///     endpoint,
///     "https://auth.example.com/authorize",
///     "http://127.0.0.1:8400/callback",
/// )
/// .params(TokenParams::new().scopes("openid profile"))
/// .prompt("consent")
/// .offline_access(true)
/// .build()?;
/// let request = grant.authorize();
/// let url = request.url().as_str();
/// assert!(url.contains("code_challenge_method=S256"));
/// assert!(url.contains("access_type=offline"));
/// # Ok::<(), auth_core::AuthError>(())
/// ```
pub struct AuthorizationCode {
    endpoint: TokenEndpoint,
    params: TokenParams,
    /// Only the extra parameters of `params`: what refresh requests carry.
    refresh_params: TokenParams,
    auth_url: Url,
    redirect_uri: Url,
    pkce: bool,
    prompt: Option<String>,
    offline: bool,
    auth_params: Vec<(String, String)>,
    rotation: Rotation,
    /// The token the code exchange returned, handed out by the next `token()` call.
    first: std::sync::Mutex<Option<AccessToken>>,
    /// The OpenID Connect `id_token` of the last code exchange, if one came.
    id_token: std::sync::Mutex<Option<SecretString>>,
}

impl AuthorizationCode {
    /// The parameters the grant writes into every authorization URL itself; an extra or
    /// authorization parameter of one of these names is refused by `build()` (`scope` comes
    /// from the scopes).
    pub const SET_BY_GRANT: [&'static str; 7] = request_params::SET_BY_GRANT;

    /// Starts configuring the grant: `auth_url` is the provider's authorization endpoint,
    /// `redirect_uri` the exact URI registered for the client.
    pub fn builder(
        endpoint: TokenEndpoint,
        auth_url: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> AuthorizationCodeBuilder {
        AuthorizationCodeBuilder {
            endpoint,
            auth_url: auth_url.into(),
            redirect_uri: redirect_uri.into(),
            params: TokenParams::new(),
            pkce: true,
            prompt: None,
            offline: false,
            auth_params: Vec::new(),
            store: None,
        }
    }

    /// The endpoint token requests go to.
    pub fn endpoint(&self) -> &TokenEndpoint {
        &self.endpoint
    }

    /// The registered redirect URI.
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// The store key of the refresh token.
    pub fn store_key(&self) -> &str {
        self.rotation.key()
    }

    /// The stored refresh token and the rules for spending it.
    pub(crate) fn rotation(&self) -> &Rotation {
        &self.rotation
    }

    /// A new authorization request for the registered redirect URI: the URL to open, with a
    /// fresh `state` and PKCE challenge.
    pub fn authorize(&self) -> AuthorizationRequest {
        self.build_request(self.redirect_uri.clone())
    }

    /// Like [`authorize`](Self::authorize), for `redirect_uri`, which must be the registered
    /// one or, for a loopback redirect URI, differ from it only in the port (RFC 8252 §7.3:
    /// a listener on an ephemeral port).
    pub fn authorize_with_redirect_uri(
        &self,
        redirect_uri: &Url,
    ) -> Result<AuthorizationRequest, AuthError> {
        let same_but_port = {
            let mut a = redirect_uri.clone();
            let _ = a.set_port(self.redirect_uri.port());
            a == self.redirect_uri && is_loopback(redirect_uri)
        };
        if redirect_uri != &self.redirect_uri && !same_but_port {
            return Err(AuthError::config(
                "redirect_uri",
                "differs from the registered redirect URI (only a loopback URI's port may differ)",
            ));
        }
        Ok(self.build_request(redirect_uri.clone()))
    }

    fn build_request(&self, redirect_uri: Url) -> AuthorizationRequest {
        let client = BasicClient::new(ClientId::new(self.endpoint.client_id().to_owned()))
            .set_auth_uri(AuthUrl::from_url(self.auth_url.clone()))
            .set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()));
        let state = CsrfToken::new_random();
        let state_secret = SecretString::from(state.secret().clone());
        let mut request = client.authorize_url(move || state);
        if let Some(scope) = self.params.scope_value() {
            request = request.add_scope(Scope::new(scope));
        }
        let mut verifier = None;
        if self.pkce {
            let (challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
            request = request.set_pkce_challenge(challenge);
            verifier = Some(SecretString::from(pkce_verifier.secret().clone()));
        }
        if let Some(prompt) = &self.prompt {
            request = request.add_extra_param("prompt", prompt.as_str());
        }
        if self.offline {
            request = request.add_extra_param("access_type", "offline");
        }
        if let Some(audience) = self.params.requested_audience() {
            request = request.add_extra_param("audience", audience);
        }
        for resource in self.params.requested_resources() {
            request = request.add_extra_param("resource", resource.as_str());
        }
        // RFC 6749 §3.1 and §3.2: servers ignore what they do not know, so the extra parameters
        // (a `prompt` or `access_type` a provider wants) go to both endpoints.
        for (name, value) in self.params.extra_params() {
            request = request.add_extra_param(name.as_str(), value.as_str());
        }
        for (name, value) in &self.auth_params {
            request = request.add_extra_param(name.as_str(), value.as_str());
        }
        let (url, _) = request.url();
        AuthorizationRequest::new(url, state_secret, verifier, redirect_uri)
    }

    /// Checks the callback's `state` against `request`, exchanges its code for tokens, saves
    /// the refresh token to the store, and returns the access token (also handed out by the
    /// next [`TokenSource::token`] call, so a cache around this grant starts with it).
    pub async fn exchange(
        &self,
        request: AuthorizationRequest,
        callback: &Callback,
    ) -> Result<AccessToken, AuthError> {
        let code = request.verify(callback)?;
        let mut fields = vec![
            ("grant_type", "authorization_code"),
            ("code", code.expose_secret()),
            ("redirect_uri", request.redirect_uri().as_str()),
        ];
        if let Some(verifier) = request.verifier() {
            fields.push(("code_verifier", verifier.expose_secret()));
        }
        let response = self.endpoint.request(&fields, &self.refresh_params).await?;
        // Saved first, as for a rotation: the code is spent whether or not the access token
        // can be used.
        if response.refresh_token().is_some() {
            self.rotation.save_initial(&response).await?;
        } else {
            crate::endpoint::event!(
                warn,
                "the code exchange returned no refresh token; the grant cannot refresh (request \
                 offline access)"
            );
        }
        let token = response.to_access_token(
            self.endpoint.header_prefix(),
            self.params.requested_scopes(),
        )?;
        *self.first_slot() = Some(token.clone());
        *self.id_token.lock().unwrap_or_else(|p| p.into_inner()) = response.id_token().cloned();
        Ok(token)
    }

    /// The OpenID Connect `id_token` the last code exchange returned, if any: its claims name
    /// the user who signed in (see [`profile::from_id_token`](crate::profile::from_id_token)).
    pub fn id_token(&self) -> Option<SecretString> {
        // Only plain assignments happen under this lock; a poisoned one holds a valid value.
        self.id_token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Signs in through the browser: binds a [`LoopbackListener`] on the redirect URI, calls
    /// `open` with the authorization URL (print it, or open a browser), waits up to `timeout`
    /// for the callback, and [exchanges](Self::exchange) the code.
    pub async fn login(
        &self,
        open: impl FnOnce(&Url),
        timeout: Duration,
    ) -> Result<AccessToken, AuthError> {
        let listener = LoopbackListener::bind(&self.redirect_uri).await?;
        let request = self.authorize_with_redirect_uri(listener.redirect_uri())?;
        open(request.url());
        let callback = listener.wait_for_callback(&request, timeout).await?;
        self.exchange(request, &callback).await
    }

    /// A token: the one from the code exchange if it is unused and fresh, else a refresh.
    pub async fn fetch(&self) -> Result<AccessToken, AuthError> {
        let first = self.first_slot().take();
        if let Some(token) = first
            && !token.expires_within(Duration::ZERO, Instant::now())
        {
            return Ok(token);
        }
        self.rotation
            .refresh(&self.endpoint, &self.refresh_params, None)
            .await
    }

    /// Takes the token of the last code exchange if it was not handed out yet.
    pub(crate) fn take_exchanged(&self) -> Option<AccessToken> {
        self.first_slot().take()
    }

    fn first_slot(&self) -> std::sync::MutexGuard<'_, Option<AccessToken>> {
        // Only plain assignments happen under this lock; a poisoned one holds a valid value.
        self.first.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TokenSource for AuthorizationCode {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(self.fetch())
    }
}

impl fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationCode")
            .field("endpoint", &self.endpoint)
            .field("params", &self.params)
            .field("auth_url", &self.auth_url.as_str())
            .field("redirect_uri", &self.redirect_uri.as_str())
            .field("pkce", &self.pkce)
            .field("prompt", &self.prompt)
            .field("offline", &self.offline)
            .field("store_key", &self.rotation.key())
            .finish_non_exhaustive()
    }
}

/// Configures an [`AuthorizationCode`] grant; see [`AuthorizationCode::builder`].
pub struct AuthorizationCodeBuilder {
    endpoint: TokenEndpoint,
    auth_url: String,
    redirect_uri: String,
    params: TokenParams,
    pkce: bool,
    prompt: Option<String>,
    offline: bool,
    auth_params: Vec<(String, String)>,
    store: Option<(Arc<dyn TokenStore>, String)>,
}

impl AuthorizationCodeBuilder {
    /// Scopes, audience and resources go into the authorization URL; extra parameters into
    /// the authorization URL and the token requests (code exchange and refreshes). Defaults to
    /// none.
    pub fn params(mut self, params: TokenParams) -> Self {
        self.params = params;
        self
    }

    /// Whether to use PKCE (S256). Defaults to `true`; turn it off only for a provider that
    /// rejects it.
    pub fn pkce(mut self, enabled: bool) -> Self {
        self.pkce = enabled;
        self
    }

    /// The `prompt` parameter (`consent`, `login`, `select_account`, `none`). Unset by default.
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    /// Adds `access_type=offline` (Google's way to ask for a refresh token). Defaults to `false`.
    pub fn offline_access(mut self, enabled: bool) -> Self {
        self.offline = enabled;
        self
    }

    /// Adds a parameter to the authorization URL only (e.g. `login_hint`). A name the grant
    /// sets itself ([`AuthorizationCode::SET_BY_GRANT`]) or a setting already sends (`prompt`,
    /// `access_type` with offline access, `audience`, `resource`, an extra parameter) is
    /// refused by `build()`.
    pub fn auth_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.auth_params.push((name.into(), value.into()));
        self
    }

    /// Where the refresh token is kept, under `key`. Defaults to an in-memory store keyed by
    /// the client id; use a file store for a CLI that should stay signed in.
    pub fn store(mut self, store: Arc<dyn TokenStore>, key: impl Into<String>) -> Self {
        self.store = Some((store, key.into()));
        self
    }

    /// Checks every setting and builds the grant. Errors name the setting: `auth_url` not a
    /// URL or plain `http://` off loopback, `redirect_uri` not a URL or with a fragment,
    /// invalid params, an authorization parameter that overrides or repeats the grant's own
    /// (`auth_params.state`, `params.response_type`, …).
    pub fn build(self) -> Result<AuthorizationCode, AuthError> {
        let auth_url = parse_url("auth_url", &self.auth_url)?;
        self.endpoint
            .http_client()
            .check_url(&auth_url, "auth_url")?;
        let redirect_uri = Url::parse(self.redirect_uri.trim()).map_err(|e| {
            AuthError::config(
                "redirect_uri",
                format!("`{}` is not a URL ({e})", self.redirect_uri),
            )
        })?;
        if redirect_uri.fragment().is_some() {
            return Err(AuthError::config(
                "redirect_uri",
                "must not contain a fragment (`#…`, RFC 6749 §3.1.2)",
            ));
        }
        self.params.validate()?;
        if self.prompt.as_deref().is_some_and(|p| p.trim().is_empty()) {
            return Err(AuthError::config("prompt", "is empty"));
        }
        request_params::check(
            &self.params,
            self.prompt.is_some(),
            self.offline,
            &self.auth_params,
        )?;
        let mut refresh_params = TokenParams::new();
        for (name, value) in self.params.extra_params() {
            refresh_params = refresh_params.param(name.clone(), value.clone());
        }
        let (store, key) = match self.store {
            Some(store) => store,
            None => (
                Arc::new(MemoryTokenStore::new()) as Arc<dyn TokenStore>,
                self.endpoint.client_id().to_owned(),
            ),
        };
        Ok(AuthorizationCode {
            rotation: Rotation::new(store, key)?,
            endpoint: self.endpoint,
            params: self.params,
            refresh_params,
            auth_url,
            redirect_uri,
            pkce: self.pkce,
            prompt: self.prompt,
            offline: self.offline,
            auth_params: self.auth_params,
            first: std::sync::Mutex::new(None),
            id_token: std::sync::Mutex::new(None),
        })
    }
}

impl fmt::Debug for AuthorizationCodeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationCodeBuilder")
            .field("endpoint", &self.endpoint)
            .field("auth_url", &self.auth_url)
            .field("redirect_uri", &self.redirect_uri)
            .field("pkce", &self.pkce)
            .finish_non_exhaustive()
    }
}

/// The error for a callback whose `state` is not the request's.
pub(crate) fn state_mismatch() -> AuthError {
    AuthError::new(
        ErrorKind::InvalidGrant,
        "the callback's `state` does not match the authorization request (a forged or stale \
         callback); start the sign-in again",
    )
}
