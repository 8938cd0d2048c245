//! The [`OAuth2Layer`] constructor, builder settings and sign-in of the device authorization
//! grant (RFC 8628).

use std::{fmt, sync::Arc, time::Duration};

use auth_core::{AccessToken, AuthError, SecretString, TokenStore};

use super::{OAuth2LayerBuilder, sealed};
use crate::{
    OAuth2Layer, TokenEndpoint, TokenEndpointBuilder, TokenParams,
    grant::{DeviceCode, DevicePrompt},
    revocation::Revocation,
};

/// What the device authorization grant needs besides the token endpoint.
pub struct DeviceInputs {
    device_authorization_url: String,
    store: Option<(Arc<dyn TokenStore>, String)>,
}

impl OAuth2Layer<DeviceCode> {
    /// The device authorization grant (RFC 8628). The client is public unless a
    /// [`client_secret`](OAuth2LayerBuilder::client_secret) (or another client
    /// authentication) is set. Sign in once with [`device_login`](Self::device_login); the
    /// layer then refreshes from the store, across restarts with a file store.
    pub fn device_code(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        device_authorization_url: impl Into<String>,
    ) -> OAuth2LayerBuilder<DeviceCode> {
        OAuth2LayerBuilder::new(
            TokenEndpoint::builder(token_url, client_id),
            DeviceInputs {
                device_authorization_url: device_authorization_url.into(),
                store: None,
            },
        )
    }

    /// Signs in with the device flow (see [`DeviceCode::login`]): `prompt` gets the
    /// verification URI and user code to show, then the token endpoint is polled for up to
    /// `timeout`. The new token goes into this layer's cache, so requests use it at once.
    pub async fn device_login(
        &self,
        prompt: impl FnOnce(&DevicePrompt),
        timeout: Duration,
    ) -> Result<AccessToken, AuthError> {
        let grant = self.source().source();
        let token = grant.login(prompt, timeout).await?;
        // Straight into the cache, which also clears a failure recorded before the sign-in.
        grant.take_signed_in();
        self.source().insert(token.clone());
        Ok(token)
    }

    /// The OpenID Connect `id_token` of the last sign-in, if the provider sent one.
    pub fn id_token(&self) -> Option<SecretString> {
        self.source().source().id_token()
    }
}

impl OAuth2LayerBuilder<DeviceCode> {
    /// Where the refresh token is kept. Defaults to memory, keyed by the client id.
    pub fn store(mut self, store: Arc<dyn TokenStore>, key: impl Into<String>) -> Self {
        self.inputs.store = Some((store, key.into()));
        self
    }
}

impl sealed::Sealed for DeviceCode {
    type Inputs = DeviceInputs;
    const NAME: &'static str = "device_code";

    fn build_grant(
        endpoint: TokenEndpointBuilder,
        params: TokenParams,
        inputs: DeviceInputs,
    ) -> Result<Self, AuthError> {
        let mut builder =
            DeviceCode::builder(endpoint.build()?, inputs.device_authorization_url).params(params);
        if let Some((store, key)) = inputs.store {
            builder = builder.store(store, key);
        }
        builder.build()
    }

    fn token_endpoint(&self) -> &TokenEndpoint {
        self.endpoint()
    }

    /// Revokes the stored refresh token (and `cached`), then removes it from the store.
    fn sign_out<'a>(
        &'a self,
        revocation: Option<&'a Revocation>,
        cached: Option<AccessToken>,
    ) -> sealed::SignOutFuture<'a> {
        Box::pin(self.rotation().revoke(revocation, cached))
    }
}

impl fmt::Debug for DeviceInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceInputs")
            .field("device_authorization_url", &self.device_authorization_url)
            .field("store_key", &self.store.as_ref().map(|(_, key)| key))
            .finish_non_exhaustive()
    }
}
