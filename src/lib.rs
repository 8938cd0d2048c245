//! Outbound authentication for any Tower-based HTTP client.
//!
//! One `tower::Layer` per auth method, all sharing one [`TokenSource`]
//! trait, so token caching, refresh, retry-on-401 and credential injection plug into any client
//! stack: hyper-util's client, axum apps calling out, anything built with `ServiceBuilder`.
//!
//! ```
//! use tower_auth::prelude::*;
//! use http::{Request, Response};
//! use std::{convert::Infallible, time::Duration};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower::BoxError> {
//! // Any token logic of your own gets caching, single flight, proactive refresh and one
//! // retry on 401 by being wrapped in a CachedTokenSource and a TokenLayer.
//! let tokens = CachedTokenSource::new(FnTokenSource::new(|| async {
//!     AccessToken::builder("fetched-token").expires_in(Duration::from_secs(3600)).build()
//! }));
//! let client = ServiceBuilder::new()
//!     .layer(TokenLayer::new(tokens))
//!     .service(service_fn(|req: Request<String>| async move {
//!         assert_eq!(req.headers()["authorization"], "Bearer fetched-token");
//!         Ok::<_, Infallible>(Response::new(()))
//!     }));
//! client.oneshot(Request::new(String::new())).await?;
//! # Ok(()) }
//! ```
//!
//! # Crates
//!
//! | crate | re-exported as | holds |
//! |---|---|---|
//! | `auth-core` | [`core`] | secrets, [`AccessToken`], [`TokenSource`], [`CachedTokenSource`], [`TokenStore`], [`AuthError`] |
//! | `auth-layers` | [`layers`] | [`AddCredentialLayer`] (built by [`NoAuthLayer`], [`BearerLayer`], [`ApiKeyLayer`], [`BasicAuthLayer`]), [`TokenLayer`], [`DefaultHeadersLayer`] |
//! | `auth-oauth` | `oauth` | OAuth 2.0 grants, client authentication, token-response normalization, `OAuth2Layer` |
//! | `auth-reqwest` | `reqwest` | `reqwest-middleware` middlewares for every auth method (feature `reqwest`) |
//!
//! # Feature flags
//!
//! | feature | default | what it enables |
//! |---|---|---|
//! | `oauth2` | **on** | OAuth 2.0 grants and `OAuth2Layer` (rustls with ring for HTTPS token endpoints) |
//! | `tracing` | off | `tracing` events for token fetches, refreshes, failures and retries (never secrets) |
//! | `config` | off | declarative connections in TOML or JSON ([`config`]) |
//! | `yaml` | off | YAML configuration files too |
//! | `grpc` | off | tonic's request body: unary calls on a tonic `Channel` retried after UNAUTHENTICATED, the `AuthError` behind tonic's `Status` (gRPC statuses are read without it) |
//! | `reqwest` | off | `reqwest-middleware` middlewares (`auth-reqwest`), HTTPS with rustls and ring; with `config`, a connection as a middleware |
//! | `redis` | off | the fleet tier of the token cache on Redis or Valkey ([`redis`], `cache = { redis = … }` in a configuration) |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
pub mod config;

pub use auth_core as core;
pub use auth_layers as layers;
#[cfg(feature = "oauth2")]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth2")))]
pub use auth_oauth as oauth;
#[cfg(feature = "oauth2")]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth2")))]
pub use auth_oauth::{ClientAuth, OAuth2Layer};
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use auth_reqwest as reqwest;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use auth_redis as redis;

pub use auth_core::{
    AccessToken, AuthError, CacheConfig, CachedTokenSource, ErrorKind, ExposeSecret,
    FileTokenStore, FnTokenSource, KeyedTokenSource, MemoryTokenStore, ProviderError, Redactor,
    SecretString, StaticTokenSource, StoredToken, TokenKey, TokenSource, TokenStore, TokenView,
    WwwAuthenticate, redact,
};
pub use auth_layers::{
    AddCredentialLayer, ApiKeyLayer, BasicAuthLayer, BearerLayer, BoxError, DefaultHeadersLayer,
    NoAuthLayer, Origin, ReplayableBody, TokenLayer,
};

/// The names most programs need: `use tower_auth::prelude::*;`.
pub mod prelude {
    pub use auth_core::{
        AccessToken, AuthError, CacheConfig, CachedTokenSource, ErrorKind, FnTokenSource,
        KeyedTokenSource, StaticTokenSource, TokenKey, TokenSource,
    };
    pub use auth_layers::{
        AddCredentialLayer, ApiKeyLayer, BasicAuthLayer, BearerLayer, NoAuthLayer, Origin,
        TokenLayer,
    };
    #[cfg(feature = "oauth2")]
    pub use auth_oauth::{ClientAuth, OAuth2Layer};
}

/// The README's examples, compiled and run as doctests (they use OAuth 2.0, configuration and
/// reqwest).
#[cfg(all(doctest, feature = "oauth2", feature = "config", feature = "reqwest"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
