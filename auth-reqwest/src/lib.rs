//! tower-auth for [reqwest](https://docs.rs/reqwest): a [`reqwest_middleware::Middleware`] for
//! every auth method, with the same token sources, retry-on-401, origin restriction and
//! [`AuthError`]s as the Tower layers.
//!
//! ```
//! use auth_core::{AccessToken, CachedTokenSource, FnTokenSource};
//! use auth_reqwest::TokenMiddleware;
//! use auth_test_support::{ApiServer, Expectation};
//! use std::time::Duration;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let api = ApiServer::start(Expectation::header("Authorization", "Bearer s3cr3t")).await;
//! // Any token logic gets caching, single flight, refresh and one retry on 401.
//! let tokens = CachedTokenSource::new(FnTokenSource::new(|| async {
//!     AccessToken::builder("s3cr3t").expires_in(Duration::from_secs(3600)).build()
//! }));
//! # #[cfg(feature = "rustls")] auth_reqwest::install_ring_provider();
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(TokenMiddleware::new(tokens))
//!     .build();
//! let response = client.get(format!("{}/v1/items", api.base_url())).send().await?;
//! assert_eq!(response.status(), 200);
//! # Ok(()) }
//! ```
//!
//! # Which middleware
//!
//! Each middleware is built from the layer of the same method, so it is configured the same way
//! (header name and prefix, query parameter, `keep_existing`, `restrict_to_origin`):
//!
//! | middleware | built from | sends |
//! |---|---|---|
//! | [`CredentialMiddleware`] | an [`AddCredentialLayer`](auth_layers::AddCredentialLayer): [`NoAuthLayer`](auth_layers::NoAuthLayer), [`BearerLayer`](auth_layers::BearerLayer), [`BasicAuthLayer`](auth_layers::BasicAuthLayer), [`ApiKeyLayer`](auth_layers::ApiKeyLayer) (header or query) | a fixed credential |
//! | [`TokenMiddleware`] | a [`TokenLayer`](auth_layers::TokenLayer), or any [`TokenSource`](auth_core::TokenSource) | a token from the source: [`CachedTokenSource`](auth_core::CachedTokenSource), every OAuth 2.0 grant (`OAuth2Layer::into_token_layer`), JWT bearer, custom token requests |
//! | [`AuthMiddleware`] | either of the two (and default headers) | what a configured connection sends (the facade's `ConnectionLayer::reqwest_middleware`) |
//!
//! A token source is shared, not copied: the same [`CachedTokenSource`](auth_core::CachedTokenSource)
//! (cloned) can serve a Tower stack and a reqwest client, with one cache and one fetch at a time.
//!
//! # Retry on 401
//!
//! A request with a token that gets a 401 is sent once more with a fresh token: the token is
//! [invalidated](auth_core::TokenSource::invalidate), a new one fetched, and a copy of the
//! request ([`reqwest::Request::try_clone`]) sent. A request whose body cannot be copied (a
//! stream) is sent once and its 401 handed over. A 403 is never retried, and nothing loops.
//!
//! # Errors
//!
//! A 401 or 403 from the server is a response, not an error: it carries an [`AuthError`] in its
//! [extensions](reqwest::Response::extensions) saying what the request carried (never the
//! secret) and the parsed `WWW-Authenticate` challenge, with the tokens sent cut out. A failure
//! of the middleware itself (a token that could not be fetched) is a
//! [`reqwest_middleware::Error::Middleware`] holding the [`AuthError`]; [`auth_error`] finds it.
//!
//! # TLS
//!
//! The crate adds no TLS of its own. Its `rustls` feature (on with the facade's `reqwest`
//! feature) enables reqwest's `rustls-no-provider`, so HTTPS uses rustls with the `ring`
//! provider the rest of tower-auth already builds, rather than reqwest's default aws-lc-rs;
//! call [`install_ring_provider`] once before building a `reqwest::Client`.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod auth;
mod credential;
mod request;
mod token;

pub use auth::AuthMiddleware;
pub use credential::CredentialMiddleware;
pub use token::TokenMiddleware;

pub use auth_core::AuthError;
// The versions this crate is built against, for applications that want exactly those.
pub use reqwest;
pub use reqwest_middleware;

/// The [`AuthError`] in a [`reqwest_middleware::Error`]'s chain, if the error came from an auth
/// middleware (a token that could not be fetched, say). `None` for a transport error.
///
/// ```
/// use auth_core::{AuthError, ErrorKind};
///
/// let error = reqwest_middleware::Error::middleware(AuthError::of_kind(ErrorKind::InvalidClient));
/// assert_eq!(auth_reqwest::auth_error(&error).map(AuthError::kind), Some(ErrorKind::InvalidClient));
/// ```
pub fn auth_error(error: &reqwest_middleware::Error) -> Option<&AuthError> {
    match error {
        reqwest_middleware::Error::Middleware(error) => error
            .chain()
            .find_map(|cause| cause.downcast_ref::<AuthError>()),
        reqwest_middleware::Error::Reqwest(_) => None,
    }
}

/// Installs rustls' `ring` provider as the process's default, unless one is installed already;
/// returns whether this call installed it. Call it once before building a `reqwest::Client`:
/// with the `rustls` feature reqwest uses the process default and refuses to build a client
/// without one.
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub fn install_ring_provider() -> bool {
    if rustls::crypto::CryptoProvider::get_default().is_some() {
        return false;
    }
    // rustls installs the provider its crate features name (ring: tower-auth enables no other)
    // when a config is first built; `ring::default_provider()` is deprecated since rustls
    // 0.23.48, this is the path rustls keeps.
    let _ = rustls::ClientConfig::builder();
    rustls::crypto::CryptoProvider::get_default().is_some()
}

/// The middleware error for `error`, with the [`AuthError`] downcastable from it.
fn middleware_error(error: AuthError) -> reqwest_middleware::Error {
    reqwest_middleware::Error::middleware(error)
}

/// Attaches `error` to `response` unless an inner middleware already attached one (the one
/// closest to the wire knows best what was sent).
fn attach(mut response: reqwest::Response, error: Option<AuthError>) -> reqwest::Response {
    if let Some(error) = error
        && response.extensions().get::<AuthError>().is_none()
    {
        response.extensions_mut().insert(error);
    }
    response
}
