//! Sends a fixed API key in a header or a query parameter of every request.
//!
//! In a header, the value (with an optional prefix) is built once and marked sensitive. In the
//! query, the `name=value` pair is percent-encoded once (everything but RFC 3986 unreserved
//! characters, so `+` becomes `%2B` and a space `%20`); per request, every parameter of the same
//! name (compared after percent-decoding) is removed, the other parameters are kept in order and
//! byte for byte, and ours is appended. An existing header or parameter is replaced unless
//! [`ApiKeyLayerBuilder::keep_existing`] is set. With [`ApiKeyLayerBuilder::restrict_to_origin`]
//! the key goes only to the given origins (see [`origin`]).
//!
//! A request whose URI cannot take a query parameter (authority form `host:port`, as used by
//! `CONNECT`, or `*`) fails with an [`AuthError`] of kind
//! [`ErrorKind::Request`], which is why [`ApiKey`]'s error type is
//! [`BoxError`].
//!
//! ```
//! use auth_layers::ApiKeyLayer;
//! use http::{Request, Response};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), auth_layers::BoxError> {
//! let api = ServiceBuilder::new()
//!     .layer(ApiKeyLayer::query("api_key", "k+y/1").build()?)
//!     .service(service_fn(|req: Request<String>| async move {
//!         // stands in for an HTTP client such as hyper-util's
//!         assert_eq!(req.uri(), "https://api.example.com/v1/items?page=2&api_key=k%2By%2F1");
//!         Ok::<_, std::convert::Infallible>(Response::new(String::new()))
//!     }));
//!
//! let request = Request::get("https://api.example.com/v1/items?api_key=stale&page=2")
//!     .body(String::new())?;
//! let response = api.oneshot(request).await?;
//! # assert!(response.status().is_success());
//!
//! // In a header instead: `X-Api-Key: k+y/1`
//! let layer = ApiKeyLayer::header("X-Api-Key", "k+y/1").build()?;
//! # let _ = layer;
//! # Ok(()) }
//! ```

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use auth_core::{AuthError, ErrorKind, ExposeSecret, SecretString, sensitive_header_value};
use http::{Request, Response, Uri};
use percent_encoding::utf8_percent_encode;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::{
    BoxError,
    origin::{self, Origin, OriginFilter},
    query,
    response::{self, Detail, HeaderCredential, describe_prefix},
};

/// Adds a fixed API key to every request, in a header or a query parameter.
///
/// See the [module docs](crate::api_key) for an example.
#[derive(Clone)]
pub struct ApiKeyLayer {
    placement: Placement,
    origins: Option<OriginFilter>,
}

#[derive(Clone)]
enum Placement {
    Header(HeaderCredential),
    Query(Arc<QueryCredential>),
}

impl ApiKeyLayer {
    /// Sends `key` in the header `name`, e.g. `ApiKeyLayer::header("X-Api-Key", key)`.
    pub fn header(name: impl Into<String>, key: impl Into<SecretString>) -> ApiKeyLayerBuilder {
        ApiKeyLayerBuilder::new(Mode::Header, name.into(), key.into())
    }

    /// Sends `key` in the query parameter `name`, e.g. `ApiKeyLayer::query("api_key", key)`.
    /// Give the name unencoded; it is percent-encoded when sent.
    pub fn query(name: impl Into<String>, key: impl Into<SecretString>) -> ApiKeyLayerBuilder {
        ApiKeyLayerBuilder::new(Mode::Query, name.into(), key.into())
    }
}

impl fmt::Debug for ApiKeyLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ApiKeyLayer");
        self.placement.debug_fields(&mut s);
        s.field("origins", &self.origins);
        s.finish_non_exhaustive()
    }
}

impl<S> Layer<S> for ApiKeyLayer {
    type Service = ApiKey<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApiKey {
            inner,
            placement: self.placement.clone(),
            origins: self.origins.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Header,
    Query,
}

/// Builds an [`ApiKeyLayer`]; see [`ApiKeyLayer::header`] and [`ApiKeyLayer::query`].
pub struct ApiKeyLayerBuilder {
    mode: Mode,
    name: String,
    key: SecretString,
    prefix: String,
    keep_existing: bool,
    origins: Option<OriginFilter>,
}

impl ApiKeyLayerBuilder {
    fn new(mode: Mode, name: String, key: SecretString) -> Self {
        Self {
            mode,
            name,
            key,
            prefix: String::new(),
            keep_existing: false,
            origins: None,
        }
    }

    /// Written before the key, separated by one space (`Token abc`). Defaults to none.
    /// In the query the space is encoded as `%20`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Leaves requests that already carry the header (or a query parameter of the same name)
    /// alone instead of replacing it. By default the layer's key replaces it.
    pub fn keep_existing(mut self) -> Self {
        self.keep_existing = true;
        self
    }

    /// Sends the key only with requests for `origin`; requests for any other origin (or with a
    /// relative URI) pass through untouched. Can be called more than once to allow several
    /// origins. By default every request gets the key. See [`origin`].
    pub fn restrict_to_origin(self, origin: Origin) -> Self {
        self.restrict_to_origins([origin])
    }

    /// Like [`restrict_to_origin`](Self::restrict_to_origin), for several origins at once. An
    /// empty list restricts the layer to no origin at all: it then never sends the key.
    pub fn restrict_to_origins(mut self, origins: impl IntoIterator<Item = Origin>) -> Self {
        self.origins = origin::restrict(self.origins, origins);
        self
    }

    /// Builds the layer, pre-building the header value or the encoded query pair once.
    ///
    /// Fails with [`ErrorKind::Config`] when the key is empty, the header name is not valid, the
    /// key cannot be sent in a header, or the query parameter name is empty or contains `&`,
    /// `=`, `#`, `+`, `%`, whitespace or control characters. The error never contains the key.
    pub fn build(mut self) -> Result<ApiKeyLayer, AuthError> {
        let origins = self.origins.take();
        let placement = match self.mode {
            Mode::Header => Placement::Header(self.build_header()?),
            Mode::Query => Placement::Query(Arc::new(self.build_query()?)),
        };
        Ok(ApiKeyLayer { placement, origins })
    }

    fn build_header(self) -> Result<HeaderCredential, AuthError> {
        let name = response::header_name(&self.name, "API key header name")?;
        let value = sensitive_header_value(&self.prefix, &self.key, "API key")?;
        let mut sent = format!(
            "the request carried an API key in the `{}` header",
            self.name
        );
        if !self.prefix.is_empty() {
            sent = format!("{sent} {}", describe_prefix(&self.prefix));
        }
        Ok(HeaderCredential::new(
            name,
            &self.name,
            &self.prefix,
            value,
            self.keep_existing,
            sent,
        ))
    }

    fn build_query(self) -> Result<QueryCredential, AuthError> {
        query::validate_name(&self.name, "API key query parameter name")?;
        let key = self.key.expose_secret();
        if key.trim().is_empty() {
            return Err(AuthError::config("API key", "is empty"));
        }
        let encoded_name = utf8_percent_encode(&self.name, query::COMPONENT).to_string();
        let mut pair = format!("{encoded_name}=");
        if !self.prefix.is_empty() {
            pair.extend(utf8_percent_encode(&self.prefix, query::COMPONENT));
            pair.push_str("%20");
        }
        pair.extend(utf8_percent_encode(key, query::COMPONENT));
        let mut sent = format!(
            "the request carried an API key in the query parameter `{}`",
            self.name
        );
        if !self.prefix.is_empty() {
            sent = format!("{sent} {}", describe_prefix(&self.prefix));
        }
        let kept = format!(
            "the request already carried a query parameter `{}`, which was kept \
             (keep_existing), so the configured API key was not sent",
            self.name
        );
        Ok(QueryCredential {
            name: self.name,
            prefix: self.prefix,
            pair: SecretString::from(pair),
            keep_existing: self.keep_existing,
            sent: Detail::shared(sent),
            kept: Detail::shared(kept),
        })
    }
}

impl fmt::Debug for ApiKeyLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyLayerBuilder")
            .field("mode", &self.mode)
            .field("name", &self.name)
            .field("key", &"[redacted]")
            .field("prefix", &self.prefix)
            .field("keep_existing", &self.keep_existing)
            .field("origins", &self.origins)
            .finish()
    }
}

/// An API key sent as a query parameter.
struct QueryCredential {
    name: String,
    prefix: String,
    /// `name=value`, percent-encoded, ready to append.
    pair: SecretString,
    keep_existing: bool,
    sent: Detail,
    kept: Detail,
}

impl QueryCredential {
    /// Whether the raw `param` (`name=value`, `name`, percent-encoded) has our name.
    fn is_ours(&self, param: &str) -> bool {
        let name = param.split_once('=').map_or(param, |(name, _)| name);
        query::is_named(name, &self.name)
    }

    /// Puts the key into `uri`'s query; returns what the request now carries.
    fn apply(&self, uri: &mut Uri) -> Result<Detail, AuthError> {
        let (_, query) = query::split(uri).map_err(|why| self.unusable_uri(why))?;
        if self.keep_existing && query.split('&').any(|param| self.is_ours(param)) {
            return Ok(self.kept);
        }
        query::set_param(uri, |param| self.is_ours(param), self.pair.expose_secret())
            .map_err(|why| self.unusable_uri(why))?;
        Ok(self.sent)
    }

    fn unusable_uri(&self, why: &str) -> AuthError {
        AuthError::new(
            ErrorKind::Request,
            format!(
                "cannot add the API key query parameter `{}` to the request URI: {why}",
                self.name
            ),
        )
    }
}

impl Placement {
    fn debug_fields(&self, f: &mut fmt::DebugStruct<'_, '_>) {
        match self {
            Placement::Header(credential) => credential.debug_fields(f),
            Placement::Query(query) => {
                f.field("query_name", &query.name)
                    .field("prefix", &query.prefix)
                    .field("keep_existing", &query.keep_existing);
            }
        }
    }
}

/// Middleware that adds a fixed API key to every request; see [`ApiKeyLayer`].
#[derive(Clone)]
pub struct ApiKey<S> {
    inner: S,
    placement: Placement,
    origins: Option<OriginFilter>,
}

impl<S> ApiKey<S> {
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

impl<S: fmt::Debug> fmt::Debug for ApiKey<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ApiKey");
        s.field("inner", &self.inner);
        self.placement.debug_fields(&mut s);
        s.field("origins", &self.origins);
        s.finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for ApiKey<S>
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
            return ResponseFuture {
                state: State::Called {
                    future: response::ResponseFuture::passed_through(self.inner.call(req)),
                },
            };
        }
        let detail = match &self.placement {
            Placement::Header(credential) => credential.apply(req.headers_mut()),
            Placement::Query(query) => match query.apply(req.uri_mut()) {
                Ok(detail) => detail,
                Err(error) => {
                    return ResponseFuture {
                        state: State::Rejected { error },
                    };
                }
            },
        };
        ResponseFuture {
            state: State::Called {
                future: response::ResponseFuture::new(self.inner.call(req), detail),
            },
        }
    }
}

pin_project! {
    /// Response future of [`ApiKey`]: the inner call (with or without the key, see
    /// [`response::ResponseFuture`]), or the error for a request URI the key could not be added
    /// to.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F> {
        Called { #[pin] future: response::ResponseFuture<F> },
        Rejected { error: AuthError },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<B>, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called { future } => future.poll(cx).map_err(Into::into),
            // A clone (one `Arc`) rather than a take, so polling again cannot panic.
            StateProj::Rejected { error } => Poll::Ready(Err(error.clone().into())),
        }
    }
}

#[cfg(test)]
mod tests;
