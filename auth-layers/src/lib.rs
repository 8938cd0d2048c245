//! Tower layers that add outbound credentials to HTTP requests.
//!
//! One `Layer` per auth method, each working for any `Service<http::Request<B>>` (hyper-util's
//! client, tower stacks, axum apps calling out):
//!
//! ```
//! use auth_layers::BearerLayer;
//! use http::{Request, Response};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let api = ServiceBuilder::new()
//!     .layer(BearerLayer::new("my-token")?)
//!     // stands in for an HTTP client such as hyper-util's
//!     .service(service_fn(|req: Request<String>| async move {
//!         assert_eq!(req.headers()["authorization"], "Bearer my-token");
//!         Ok::<_, std::convert::Infallible>(Response::new(String::new()))
//!     }));
//! api.oneshot(Request::new(String::new())).await?;
//! # Ok(()) }
//! ```
//!
//! The layers:
//!
//! | layer | sends |
//! |---|---|
//! | [`NoAuthLayer`] | nothing: an explicit "no authentication" |
//! | [`BearerLayer`] | a fixed token, `Authorization: Bearer …` (header name and prefix configurable) |
//! | [`ApiKeyLayer`] | a fixed API key in a header or a query parameter |
//! | [`BasicAuthLayer`] | HTTP Basic credentials (RFC 7617, UTF-8) |
//! | [`TokenLayer`] | a token from any [`TokenSource`](auth_core::TokenSource), retrying once on 401 |
//! | `tls::ClientTls` (feature `tls`) | a client certificate (mTLS): not a layer, it builds the client's TLS connector |
//!
//! Injected header values are always marked sensitive, and no layer logs a secret. When the
//! server answers 401 or 403, the response carries an [`AuthError`](auth_core::AuthError) in its
//! extensions saying what the request carried (see [`response`]).
//!
//! Every credential layer can be restricted to the [`Origin`]s its credential is meant for
//! (`restrict_to_origin`); requests for any other origin, such as a redirect to another host,
//! then pass through without it (see [`origin`]).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod api_key;
pub mod basic;
pub mod bearer;
pub mod none;
pub mod origin;
mod query;
pub mod response;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;
pub mod token;

pub use api_key::{ApiKey, ApiKeyLayer, ApiKeyLayerBuilder};
pub use basic::{BasicAuth, BasicAuthLayer};
pub use bearer::{Bearer, BearerLayer, BearerLayerBuilder};
pub use none::{NoAuth, NoAuthLayer};
pub use origin::{Origin, OriginFilter};
pub use token::{ReplayableBody, TokenLayer, TokenService};

/// The boxed error type of layers that can fail on their own (token fetch, request preparation).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
