//! One middleware for every fixed credential: [`AddCredentialLayer`] adds nothing, a header, or a
//! query parameter to each request, and turns a 401/403 into a typed error.
//!
//! It is what [`NoAuthLayer`](crate::NoAuthLayer), [`BearerLayer`](crate::BearerLayer),
//! [`BasicAuthLayer`](crate::BasicAuthLayer) and [`ApiKeyLayer`](crate::ApiKeyLayer) build: a
//! new auth method is a new credential value, not a new service type (tower-http's
//! `AddAuthorization` serves Basic and Bearer the same way). Whatever can be wrong with the
//! credential (an empty token, a bad header name) is refused when it is built; what cannot
//! (keeping a request's own credential, restricting it to origins) is set on the layer.
//!
//! ```
//! use auth_layers::{AddCredentialLayer, BasicAuthLayer, BearerLayer, Origin};
//! use http::{Request, Response, header::AUTHORIZATION};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // Any method, one type: a connection can pick one at run time.
//! let layer: AddCredentialLayer = if std::env::var_os("USE_BASIC").is_some() {
//!     BasicAuthLayer::new("user", "password")?
//! } else {
//!     BearerLayer::new("my-token")?
//! };
//! let api = ServiceBuilder::new()
//!     .layer(layer.restrict_to_origin(Origin::parse("https://api.example.com")?))
//!     .service(service_fn(|req: Request<String>| async move {
//!         // stands in for an HTTP client such as hyper-util's
//!         assert!(req.headers()[AUTHORIZATION].is_sensitive());
//!         Ok::<_, std::convert::Infallible>(Response::new(String::new()))
//!     }));
//! let request = Request::get("https://api.example.com/v1/items").body(String::new())?;
//! api.oneshot(request).await?;
//! # Ok(()) }
//! ```
//!
//! The service's error type is [`BoxError`]: the inner service's error, or an
//! [`AuthError`](auth_core::AuthError) of kind [`Request`](auth_core::ErrorKind::Request) for a
//! request a query-parameter credential cannot be added to (see [`ApiKeyLayer`](crate::ApiKeyLayer)).

use std::{
    fmt,
    task::{Context, Poll},
};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::{
    BoxError,
    credential::Credential,
    origin::{self, Origin, OriginFilter},
    response::ResponseFuture,
};

/// Adds a fixed credential to every request; see the [module docs](crate::add_credential).
///
/// Built by [`NoAuthLayer::new`](crate::NoAuthLayer::new), [`BearerLayer::new`](crate::BearerLayer::new),
/// [`BasicAuthLayer::new`](crate::BasicAuthLayer::new) and [`ApiKeyLayer`](crate::ApiKeyLayer)'s
/// builders. Cheap to clone; `Debug` shows where the credential goes, never the credential.
#[derive(Clone, Debug)]
pub struct AddCredentialLayer {
    pub(crate) credential: Credential,
    pub(crate) origins: Option<OriginFilter>,
}

impl AddCredentialLayer {
    pub(crate) fn new(credential: Credential) -> Self {
        Self {
            credential,
            origins: None,
        }
    }

    /// Leaves requests that already carry the header (or a query parameter of the same name)
    /// alone instead of replacing it. By default the layer's credential replaces it.
    pub fn keep_existing(mut self) -> Self {
        self.credential.keep_existing();
        self
    }

    /// Sends the credential only with requests for `origin`; requests for any other origin (or
    /// with a relative URI) pass through untouched. Can be called more than once to allow
    /// several origins. By default every request gets the credential. See [`origin`].
    pub fn restrict_to_origin(self, origin: Origin) -> Self {
        self.restrict_to_origins([origin])
    }

    /// Like [`restrict_to_origin`](Self::restrict_to_origin), for several origins at once. An
    /// empty list restricts the layer to no origin at all: it then never sends the credential.
    pub fn restrict_to_origins(mut self, origins: impl IntoIterator<Item = Origin>) -> Self {
        self.origins = origin::restrict(self.origins, origins);
        self
    }
}

impl<S> Layer<S> for AddCredentialLayer {
    type Service = AddCredential<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AddCredential {
            inner,
            credential: self.credential.clone(),
            origins: self.origins.clone(),
        }
    }
}

/// Middleware that adds a fixed credential to every request; see [`AddCredentialLayer`].
#[derive(Clone)]
pub struct AddCredential<S> {
    inner: S,
    credential: Credential,
    origins: Option<OriginFilter>,
}

crate::inner_accessors!(AddCredential<S>);

impl<S: fmt::Debug> fmt::Debug for AddCredential<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddCredential")
            .field("inner", &self.inner)
            .field("credential", &self.credential)
            .field("origins", &self.origins)
            .finish()
    }
}

impl<S, B, ResBody> Service<Request<B>> for AddCredential<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if !origin::allows(self.origins.as_ref(), req.uri()) {
            return ResponseFuture::passed_through(self.inner.call(req));
        }
        match self.credential.apply(&mut req) {
            Ok(detail) => ResponseFuture::new(self.inner.call(req), detail),
            Err(error) => ResponseFuture::rejected(error),
        }
    }
}
