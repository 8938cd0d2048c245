//! OAuth 2.0 for tower-auth: grants that are [`TokenSource`](auth_core::TokenSource)s, and
//! [`OAuth2Layer`], which puts a cached grant in front of any Tower HTTP client.
//!
//! ```
//! use auth_oauth::OAuth2Layer;
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::{client::legacy::Client, rt::TokioExecutor};
//! use tower::ServiceBuilder;
//! # fn main() -> Result<(), auth_core::AuthError> {
//! # let _rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! # let _guard = _rt.enter();
//!
//! let oauth = OAuth2Layer::client_credentials(
//!     "https://auth.example.com/oauth/token",
//!     "my-client",
//!     "s3cr3t",
//! )
//! .scopes("read write")
//! .build()?;
//! let client = ServiceBuilder::new()
//!     .layer(oauth)
//!     .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
//! // Every request now carries `Authorization: Bearer …`; tokens are fetched once, refreshed
//! // before they expire, and a 401 triggers one retry with a fresh token.
//! # Ok(()) }
//! ```
//!
//! # What is where
//!
//! | module | what it holds |
//! |---|---|
//! | [`layer`] | [`OAuth2Layer`] and its builder per grant |
//! | [`grant`] | [`ClientCredentials`], [`Password`], [`RefreshToken`], [`AuthorizationCode`] (+ PKCE), [`DeviceCode`] (RFC 8628, with a [`DevicePrompt`] callback), [`JwtBearer`] |
//! | [`assertion`] | [`SigningKey`](assertion::SigningKey), [`AssertionClaims`](assertion::AssertionClaims), [`ServiceAccountKey`](assertion::ServiceAccountKey): JWT assertions for the JWT bearer grant and `private_key_jwt` |
//! | [`loopback`] | [`LoopbackListener`]: the redirect catcher for command-line sign-in |
//! | [`endpoint`] | [`TokenEndpoint`]: token URL, client identity, key map; sends token requests |
//! | [`client_auth`] | [`ClientAuth`]: `client_secret_basic`, `client_secret_post`, `none`, `auto`, `private_key_jwt`, `tls_client_auth`, `self_signed_tls_client_auth` |
//! | [`params`] | [`TokenParams`], [`Scopes`]: scopes, audience, resources, extra parameters |
//! | [`custom`] | [`CustomTokenRequest`]: a login endpoint of any shape (method, headers, JSON or form body with [`Template`]s and `{{name}}` placeholders) as a token source; [`TokenPlacement`] |
//! | [`discovery`] | [`Discovery`], [`AuthServerMetadata`]: endpoints and client-authentication methods from RFC 8414 / OIDC metadata, cached per issuer |
//! | [`dpop`] | [`Dpop`](dpop::Dpop), [`DpopKey`](dpop::DpopKey): DPoP (RFC 9449) sender-constrained tokens: proofs on token requests and on every request that carries a bound token, server nonces per origin |
//! | [`normalize`](mod@normalize) | [`normalize()`], [`KeyMap`], [`TokenResponse`]: any token response to a token or a typed error |
//! | [`http_client`] | [`TokenHttpClient`]: the `oauth2` crate's async HTTP client over any Tower service |
//! | [`profile`] | [`Profile`](profile::Profile), [`ProfileEndpoint`](profile::ProfileEndpoint): who signed in, from a profile endpoint or an `id_token`'s claims |
//!
//! # How it uses the `oauth2` crate
//!
//! From [`oauth2`] (without its default features, so without reqwest) this crate takes what it
//! does well: the authorization URL, PKCE (S256) and `state` generation, and its
//! [`AsyncHttpClient`](oauth2::AsyncHttpClient) trait, which [`TokenHttpClient`] implements
//! over any Tower service. Token requests are built and their answers parsed here, because
//! real providers need what `oauth2`'s typed responses cannot express: renamed and nested
//! fields, form-encoded bodies, `expires_in` as a string, errors with status 200, and client
//! authentication that falls back from Basic to the body.
//!
//! # Secrets
//!
//! Client secrets, passwords, tokens, codes, PKCE verifiers and `state` values are held as
//! [`SecretString`](auth_core::SecretString)s; every type that holds one has a redacted
//! `Debug`, and error messages never contain one (response excerpts are scrubbed).
//!
//! # Feature flags
//!
//! | feature | default | what it enables |
//! |---|---|---|
//! | `rustls` | on | HTTPS token endpoints with the default client (hyper-rustls, `ring` unless the application installs another rustls provider, platform roots) |
//! | `tracing` | off | events for token requests, Basic→body fallback and refresh-token saves (never secrets) |
//! | `mtls` | off | `tls_client_auth` / `self_signed_tls_client_auth` (RFC 8705) with an `auth_layers::tls::ClientTls` certificate |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod assertion;
pub mod client_auth;
pub mod custom;
pub mod discovery;
pub mod dpop;
pub mod endpoint;
pub mod grant;
pub mod http_client;
pub mod layer;
pub mod loopback;
pub mod normalize;
pub mod params;
pub mod profile;
pub mod revocation;

pub use client_auth::ClientAuth;
pub use custom::{CustomTokenRequest, CustomTokenRequestBuilder, Template, TokenPlacement};
pub use discovery::{AuthServerMetadata, Discovery};
pub use endpoint::{TokenEndpoint, TokenEndpointBuilder};
pub use grant::{
    AuthorizationCode, AuthorizationCodeBuilder, AuthorizationRequest, Callback, ClientCredentials,
    DeviceCode, DevicePrompt, GrantType, JwtBearer, Password, RefreshToken, SubjectToken,
    TokenExchange,
};
pub use http_client::TokenHttpClient;
pub use layer::{OAuth2Layer, OAuth2LayerBuilder};
pub use loopback::LoopbackListener;
pub use normalize::{KeyMap, TokenResponse, normalize, normalize_with};
pub use params::{Scopes, TokenParams};
pub use revocation::{Revocation, RevocationOutcome};

/// The URL type of this API (the `url` crate's, through `oauth2`).
pub use oauth2::url::Url;
