//! The device authorization grant (RFC 8628), for devices and command-line programs that cannot
//! catch a browser redirect.
//!
//! 1. [`DeviceCode::authorize`] POSTs the device authorization request (scopes, audience,
//!    resources, extra parameters) to the device authorization endpoint, authenticated like
//!    every token request, and reads the answer into a [`DeviceAuthorization`]: the secret
//!    `device_code` and the [`DevicePrompt`] (verification URI, user code, complete URI,
//!    expiry) for the user.
//! 2. [`DeviceCode::poll`] asks the token endpoint with
//!    `grant_type=urn:ietf:params:oauth:grant-type:device_code` every `interval` (default
//!    5 s): `authorization_pending` keeps polling, `slow_down` adds 5 s to this and every later
//!    wait, `access_denied` and `expired_token` end with
//!    [`ErrorKind::AccessDenied`] /
//!    [`ErrorKind::ExpiredToken`], and the server's
//!    `expires_in` or the caller's timeout, whichever comes first, ends it with
//!    [`ErrorKind::Timeout`]: no poll is sent after that
//!    deadline. Polls go through [`TokenEndpoint::request`], like every other grant's requests.
//! 3. On success the refresh token is saved to the [`TokenStore`] (as after an authorization
//!    code exchange) and the access token returned; [`DeviceCode::login`] does 1–3, handing the
//!    prompt to a callback.
//! 4. From then on the grant is a [`TokenSource`] that refreshes (rotation-safe, see
//!    [`RefreshToken`](crate::RefreshToken)) from the store, across restarts too.
//!
//! The `device_code` is a secret: never in `Debug`, logs or errors.
//!
//! ```no_run
//! use auth_oauth::{OAuth2Layer, grant::DevicePrompt};
//! use std::time::Duration;
//! # async fn run() -> Result<(), auth_core::AuthError> {
//! let oauth = OAuth2Layer::device_code(
//!     "https://auth.example.com/oauth/token",
//!     "my-cli",
//!     "https://auth.example.com/oauth/device/code",
//! )
//! .scopes("openid offline_access")
//! .build()?;
//! let prompt = |p: &DevicePrompt| {
//!     println!("To sign in, open {} and enter the code {}", p.verification_uri(), p.user_code());
//! };
//! let token = oauth.device_login(prompt, Duration::from_secs(300)).await?;
//! // The layer now sends `token`, and refreshes with the stored refresh token afterwards.
//! # Ok(()) }
//! ```

use std::{
    fmt,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use auth_core::{
    AccessToken, AuthError, ErrorKind, ExposeSecret, MemoryTokenStore, SecretString, TokenFuture,
    TokenSource, TokenStore,
};
use oauth2::url::Url;
use tokio::time::Instant;

use super::refresh::Rotation;
use crate::{TokenEndpoint, TokenParams, endpoint::event, endpoint::parse_url};

mod authorization;

pub use authorization::{
    DEFAULT_INTERVAL, DeviceAuthorization, DevicePrompt, MAX_EXPIRES_IN, MAX_INTERVAL, MIN_INTERVAL,
};

/// The `grant_type` of the token requests (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// What `slow_down` adds to the polling interval, for that poll and every later one (RFC 8628
/// §3.5): 5 seconds.
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// The device authorization grant; see the [module docs](self).
pub struct DeviceCode {
    endpoint: TokenEndpoint,
    device_authorization_url: Url,
    params: TokenParams,
    /// Only the extra parameters of `params`: what the token requests carry.
    token_params: TokenParams,
    rotation: Rotation,
    /// The token of the last sign-in, handed out by the next `token()` call.
    first: Mutex<Option<AccessToken>>,
    /// The OpenID Connect `id_token` of the last sign-in, if one came.
    id_token: Mutex<Option<SecretString>>,
}

impl DeviceCode {
    /// Starts configuring the grant: `device_authorization_url` is the provider's device
    /// authorization endpoint (RFC 8628 §3.1; `device_authorization_endpoint` in its metadata).
    pub fn builder(
        endpoint: TokenEndpoint,
        device_authorization_url: impl Into<String>,
    ) -> DeviceCodeBuilder {
        DeviceCodeBuilder {
            endpoint,
            device_authorization_url: device_authorization_url.into(),
            params: TokenParams::new(),
            store: None,
        }
    }

    /// The endpoint token requests go to.
    pub fn endpoint(&self) -> &TokenEndpoint {
        &self.endpoint
    }

    /// The device authorization endpoint.
    pub fn device_authorization_url(&self) -> &Url {
        &self.device_authorization_url
    }

    /// The refresh token's store and rotation, for signing out.
    pub(crate) fn rotation(&self) -> &Rotation {
        &self.rotation
    }

    /// The store key of the refresh token.
    pub fn store_key(&self) -> &str {
        self.rotation.key()
    }

    /// Step 1: the device authorization request. Errors: the provider's (`invalid_client`,
    /// `invalid_scope`, …), or [`ErrorKind::MalformedResponse`] for an answer without a
    /// usable `device_code`, `user_code` or `verification_uri`.
    pub async fn authorize(&self) -> Result<DeviceAuthorization, AuthError> {
        self.endpoint
            .device_authorization(
                &self.device_authorization_url,
                &self.params,
                authorization::read,
            )
            .await
    }

    /// Step 2 and 3: polls the token endpoint until the user approved (or refused, or the code
    /// or `timeout` ran out), saves the refresh token, and returns the access token (also
    /// handed out by the next [`TokenSource::token`] call).
    pub async fn poll(
        &self,
        authorization: &DeviceAuthorization,
        timeout: Duration,
    ) -> Result<AccessToken, AuthError> {
        let started = Instant::now();
        let prompt = authorization.prompt();
        let (deadline, by_server) = match prompt.expires_in() {
            Some(expires_in) if expires_in < timeout => (started + expires_in, true),
            _ => (started + timeout, false),
        };
        let fields = [
            ("grant_type", DEVICE_CODE_GRANT_TYPE),
            ("device_code", authorization.device_code.expose_secret()),
        ];
        let mut interval = prompt.interval();
        loop {
            let at = Instant::now() + interval;
            if at > deadline {
                return Err(gave_up(started, by_server));
            }
            tokio::time::sleep_until(at).await;
            let error = match self.endpoint.request(&fields, &self.token_params).await {
                Ok(response) => {
                    // Saved first, as for a code exchange: the device code is spent now.
                    self.rotation.save_initial(&response).await?;
                    let token = response.to_access_token(
                        self.endpoint.header_prefix(),
                        self.params.requested_scopes(),
                    )?;
                    *lock(&self.first) = Some(token.clone());
                    *lock(&self.id_token) = response.id_token().cloned();
                    return Ok(token);
                }
                Err(error) => error,
            };
            match error.provider().map(|p| p.code.as_str()) {
                Some("authorization_pending") => {}
                Some("slow_down") => {
                    interval += SLOW_DOWN_STEP;
                    event!(
                        debug,
                        interval_s = interval.as_secs(),
                        "device flow: slow_down"
                    );
                }
                _ => return Err(error),
            }
        }
    }

    /// Signs in: [`authorize`](Self::authorize), hands the [`DevicePrompt`] to `prompt` (print
    /// it, show a QR code), then [`poll`](Self::poll)s for up to `timeout`.
    pub async fn login(
        &self,
        prompt: impl FnOnce(&DevicePrompt),
        timeout: Duration,
    ) -> Result<AccessToken, AuthError> {
        let authorization = self.authorize().await?;
        prompt(authorization.prompt());
        self.poll(&authorization, timeout).await
    }

    /// The OpenID Connect `id_token` of the last sign-in, if the provider sent one.
    pub fn id_token(&self) -> Option<SecretString> {
        lock(&self.id_token).clone()
    }

    /// A token: the one from the sign-in if it is unused and fresh, else a refresh with the
    /// stored refresh token ([`ErrorKind::NotSignedIn`] when there is none).
    pub async fn fetch(&self) -> Result<AccessToken, AuthError> {
        let first = lock(&self.first).take();
        if let Some(token) = first
            && !token.expires_within(Duration::ZERO, Instant::now())
        {
            return Ok(token);
        }
        self.rotation
            .refresh(&self.endpoint, &self.token_params, None)
            .await
    }

    /// Takes the token of the last sign-in if it was not handed out yet.
    pub(crate) fn take_signed_in(&self) -> Option<AccessToken> {
        lock(&self.first).take()
    }
}

/// Only plain assignments happen under these locks; a poisoned one holds a valid value.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The error when the next poll would fall after the deadline.
fn gave_up(started: Instant, by_server: bool) -> AuthError {
    let waited = started.elapsed().as_secs();
    let why = if by_server {
        "the device code expires (the server's `expires_in`)"
    } else {
        "the sign-in's timeout runs out"
    };
    AuthError::new(
        ErrorKind::Timeout,
        format!(
            "the device sign-in was not approved in time: stopped polling after {waited}s, \
             before {why}"
        ),
    )
}

impl TokenSource for DeviceCode {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(self.fetch())
    }
}

impl fmt::Debug for DeviceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCode")
            .field("endpoint", &self.endpoint)
            .field(
                "device_authorization_url",
                &self.device_authorization_url.as_str(),
            )
            .field("params", &self.params)
            .field("store_key", &self.rotation.key())
            .finish_non_exhaustive()
    }
}

/// Configures a [`DeviceCode`] grant; see [`DeviceCode::builder`].
pub struct DeviceCodeBuilder {
    endpoint: TokenEndpoint,
    device_authorization_url: String,
    params: TokenParams,
    store: Option<(Arc<dyn TokenStore>, String)>,
}

impl DeviceCodeBuilder {
    /// Scopes, audience, resources and extra parameters go into the device authorization
    /// request; extra parameters into the token requests too. Defaults to none.
    pub fn params(mut self, params: TokenParams) -> Self {
        self.params = params;
        self
    }

    /// Where the refresh token is kept, under `key`. Defaults to an in-memory store keyed by
    /// the client id; use a file store for a CLI that should stay signed in.
    pub fn store(mut self, store: Arc<dyn TokenStore>, key: impl Into<String>) -> Self {
        self.store = Some((store, key.into()));
        self
    }

    /// Checks every setting and builds the grant. Errors name the setting:
    /// `device_authorization_url` not a URL or plain `http://` off loopback, invalid params,
    /// an empty store key.
    pub fn build(self) -> Result<DeviceCode, AuthError> {
        let url = parse_url("device_authorization_url", &self.device_authorization_url)?;
        self.endpoint
            .http_client()
            .check_url(&url, "device_authorization_url")?;
        self.params.validate()?;
        let mut token_params = TokenParams::new();
        for (name, value) in self.params.extra_params() {
            token_params = token_params.param(name.clone(), value.clone());
        }
        let (store, key) = match self.store {
            Some(store) => store,
            None => (
                Arc::new(MemoryTokenStore::new()) as Arc<dyn TokenStore>,
                self.endpoint.client_id().to_owned(),
            ),
        };
        Ok(DeviceCode {
            rotation: Rotation::new(store, key)?,
            endpoint: self.endpoint,
            device_authorization_url: url,
            params: self.params,
            token_params,
            first: Mutex::new(None),
            id_token: Mutex::new(None),
        })
    }
}

impl fmt::Debug for DeviceCodeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCodeBuilder")
            .field("endpoint", &self.endpoint)
            .field("device_authorization_url", &self.device_authorization_url)
            .field("params", &self.params)
            .field("store_key", &self.store.as_ref().map(|(_, key)| key))
            .finish()
    }
}

#[cfg(test)]
mod tests;
