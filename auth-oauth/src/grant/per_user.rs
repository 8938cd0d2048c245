//! Tokens per signed-in user: one [`RefreshToken`] grant per [`TokenKey`], each spending the
//! refresh token stored for its user.
//!
//! A server that calls an API on behalf of its users keeps each user's refresh token in a
//! [`TokenStore`] (written by its sign-in, or by `tower-auth login NAME --user ID`, under
//! `NAME#user:ID`). [`per_user`] builds a [`KeyedTokenSource`] whose key `alice` (with the
//! scopes, audience and resource the key asks for) gets its tokens by refreshing alice's
//! refresh token; a rotated refresh token is saved before the new access token is used, and
//! the keys of one user (two resources, say) take turns spending it, so none is spent twice.
//!
//! ```
//! use auth_core::{MemoryTokenStore, TokenKey};
//! use auth_layers::TokenLayer;
//! use auth_oauth::{TokenEndpoint, TokenParams, grant::per_user};
//! use std::{sync::Arc, time::Duration};
//! # fn run() -> Result<(), auth_core::AuthError> {
//! let endpoint = TokenEndpoint::builder("https://login.example.com/token", "crm-app")
//!     .client_secret("s3cr3t")
//!     .build()?;
//! let store = Arc::new(MemoryTokenStore::new());
//! let tokens = per_user(endpoint, store, "crm", TokenParams::new().scopes("contacts.read"))
//!     .max_keys(10_000)
//!     .idle_timeout(Duration::from_secs(3600))
//!     .build();
//! let layer = TokenLayer::keyed(tokens);
//! // per request: request.extensions_mut().insert(TokenKey::new(user_id));
//! # let _ = (layer, TokenKey::new("alice")); Ok(()) }
//! ```

use std::sync::Arc;

use auth_core::{KeyedTokenSource, TokenKey, TokenStore, keyed::KeyedTokenSourceBuilder};

use crate::{RefreshToken, TokenEndpoint, TokenParams};

/// A keyed source of per-user tokens; see the [module docs](self). The refresh token of key
/// `k` is stored under `"{store_prefix}#user:{k.subject()}"`; the key's scopes, audience and
/// resource replace those of `params` when it names them (its extra parameters are kept).
pub fn per_user(
    endpoint: TokenEndpoint,
    store: Arc<dyn TokenStore>,
    store_prefix: &str,
    params: TokenParams,
) -> KeyedTokenSourceBuilder<TokenKey, RefreshToken> {
    let prefix = store_prefix.to_owned();
    KeyedTokenSource::builder(move |key: &TokenKey| {
        let params = params_for(&params, key);
        RefreshToken::new(
            endpoint.clone(),
            store.clone(),
            user_store_key(&prefix, key.subject()),
            params,
        )
    })
}

/// Where the refresh token of `user` is stored: `"{prefix}#user:{user}"`, the key
/// `tower-auth login NAME --user ID` writes.
pub fn user_store_key(prefix: &str, user: &str) -> String {
    format!("{prefix}#user:{user}")
}

/// `params` with what `key` asks for in their place: its scopes, audience and resource.
pub(crate) fn params_for(params: &TokenParams, key: &TokenKey) -> TokenParams {
    let mut params = params.clone();
    if !key.requested_scopes().is_empty() {
        params = params.scopes(key.requested_scopes().to_vec());
    }
    if let Some(audience) = key.requested_audience() {
        params = params.audience(audience);
    }
    if let Some(resource) = key.requested_resource() {
        params = params.clear_resources().resource(resource);
    }
    params
}
