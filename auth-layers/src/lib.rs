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
//! Two middlewares do the work: [`AddCredentialLayer`] adds a fixed credential (the same service
//! for every static method, as tower-http's `AddAuthorization` is for Basic and Bearer), and
//! [`TokenLayer`] adds a token from a source, awaiting and retrying when it must. The named
//! constructors build them:
//!
//! | constructor | builds | sends |
//! |---|---|---|
//! | [`NoAuthLayer::new`] | [`AddCredentialLayer`] | nothing: an explicit "no authentication" |
//! | [`BearerLayer::new`] | [`AddCredentialLayer`] | a fixed token, `Authorization: Bearer …` (header name and prefix configurable) |
//! | [`ApiKeyLayer::header`], [`ApiKeyLayer::query`] | [`AddCredentialLayer`] | a fixed API key in a header or a query parameter |
//! | [`BasicAuthLayer::new`] | [`AddCredentialLayer`] | HTTP Basic credentials (RFC 7617, UTF-8) |
//! | [`TokenLayer::new`] | [`TokenLayer`] | a token from any [`TokenSource`](auth_core::TokenSource), retrying once on 401 |
//! | `tls::ClientTls` (feature `tls`) | a TLS connector | a client certificate (mTLS): not a layer, it builds the client's TLS connector |
//!
//! Not a credential: [`DefaultHeadersLayer`] adds fixed headers (`Accept`, an API version) to
//! every request that lacks them (see [`default_headers`]).
//!
//! One configuration style throughout: what can be wrong (an empty token, a bad header name) is
//! refused by the constructor or by `build()`; what cannot (keeping a request's own credential,
//! restricting to origins, retry settings) is an infallible setter on the layer.
//!
//! Injected header values are always marked sensitive, and no layer logs a secret. When the
//! server answers 401 or 403, the response carries an [`AuthError`](auth_core::AuthError) in its
//! extensions saying what the request carried (see [`response`]).
//!
//! Every credential layer can be restricted to the [`Origin`]s its credential is meant for
//! (`restrict_to_origin`); requests for any other origin, such as a redirect to another host,
//! then pass through without it (see [`origin`]).
//!
//! Clients that are not Tower services get the same behaviour through an adapter built on
//! [`adapter`] (`auth-reqwest` for `reqwest-middleware`).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod adapter;
pub mod add_credential;
pub mod api_key;
pub mod basic;
pub mod bearer;
mod credential;
pub mod default_headers;
pub mod none;
pub mod origin;
mod placement;
mod query;
pub mod response;
#[cfg(test)]
mod testing;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;
pub mod token;

pub use add_credential::{AddCredential, AddCredentialLayer};
pub use api_key::{ApiKeyLayer, ApiKeyLayerBuilder};
pub use basic::BasicAuthLayer;
pub use bearer::{BearerLayer, BearerLayerBuilder};
pub use default_headers::{DefaultHeaders, DefaultHeadersLayer};
pub use none::NoAuthLayer;
pub use origin::{Origin, OriginFilter};
pub use token::{ReplayableBody, Token, TokenLayer};

/// The boxed error type of layers that can fail on their own (token fetch, request preparation).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `get_ref`, `get_mut` and `into_inner` for a service whose wrapped service is `inner`.
macro_rules! inner_accessors {
    ($service:ident < S $(, $param:ident)* >) => {
        impl<S $(, $param)*> $service<S $(, $param)*> {
            /// The wrapped service.
            pub fn get_ref(&self) -> &S {
                &self.inner
            }

            /// The wrapped service, mutably.
            pub fn get_mut(&mut self) -> &mut S {
                &mut self.inner
            }

            /// Unwraps the inner service.
            pub fn into_inner(self) -> S {
                self.inner
            }
        }
    };
}
pub(crate) use inner_accessors;
