//! Sends a token from any [`TokenSource`] with each request, and retries once with a fresh
//! token when the server answers 401.
//!
//! The layer takes [`TokenSource::current`] on the fast path (a cached, fresh token: no await, no
//! lock, no allocation) and awaits [`TokenSource::token`] otherwise. On a 401 it calls
//! [`TokenSource::invalidate`] and sends the request once more with a new token, when the body
//! can be replayed (see [`ReplayableBody`]); it never retries a 403 and never loops. A final 401
//! or 403 carries an [`AuthError`] in its extensions, with the parsed `WWW-Authenticate`
//! challenge and a hint.
//!
//! ```
//! use auth_core::{AccessToken, CachedTokenSource, FnTokenSource};
//! use auth_layers::TokenLayer;
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Empty;
//! use std::{convert::Infallible, time::Duration};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower::BoxError> {
//! let source = CachedTokenSource::new(FnTokenSource::new(|| async {
//!     AccessToken::builder("s3cr3t").expires_in(Duration::from_secs(3600)).build()
//! }));
//! let api = service_fn(|req: Request<Empty<Bytes>>| async move {
//!     assert_eq!(req.headers()["authorization"], "Bearer s3cr3t");
//!     Ok::<_, Infallible>(Response::new(()))
//! });
//! let client = ServiceBuilder::new().layer(TokenLayer::new(source)).service(api);
//! let response = client.oneshot(Request::new(Empty::new())).await?;
//! assert_eq!(response.status(), 200);
//! # Ok(()) }
//! ```
//!
//! A request that already carries the header gets it replaced by default; with
//! [`TokenLayer::keep_existing`] such a request is sent as it is (and not retried). With
//! [`TokenLayer::restrict_to_origin`], requests for other origins are sent as they are too: no
//! token, no fetch, no retry (see [`origin`]).

use std::{
    fmt, mem,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
};

use auth_core::{AuthError, TokenSource};
use http::{HeaderName, Request, Response, header::AUTHORIZATION};
use percent_encoding::utf8_percent_encode;
use tower_layer::Layer;
use tower_service::Service;

use crate::{
    BoxError,
    origin::{self, Origin, OriginFilter},
    query,
    response::{Detail, HeaderSlot},
};

mod future;
mod replay;
mod retry;

pub use future::ResponseFuture;
pub use replay::ReplayableBody;

/// Default cap on a body buffered for replay: 64 KiB.
pub const DEFAULT_REPLAY_BUFFER_LIMIT: usize = 64 * 1024;

/// Adds a token from a [`TokenSource`] to every request; see the [module docs](self).
pub struct TokenLayer<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for TokenLayer<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

/// What the layer, its services and their response futures share: one `Arc`, so a request
/// touches one reference count for all of it.
pub(crate) struct Shared<T> {
    pub(crate) source: T,
    pub(crate) settings: Settings,
}

#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) header: HeaderSlot,
    /// What a request carries, for the `AuthError` of a 401 or 403 (derived from the above).
    pub(crate) carried: Detail,
    /// Set when the token goes into a query parameter instead of the header.
    pub(crate) query: Option<QueryPlacement>,
    pub(crate) replay_limit: usize,
    pub(crate) keep_existing: bool,
    pub(crate) retry_on_401: bool,
    pub(crate) origins: Option<OriginFilter>,
}

impl<T: TokenSource + Clone> TokenLayer<T> {
    /// Sends tokens from `source` in the `Authorization` header; the header value (with its
    /// prefix, usually `Bearer`) is the one the [`AccessToken`](auth_core::AccessToken) carries.
    pub fn new(source: T) -> Self {
        Self {
            shared: Arc::new(Shared {
                source,
                settings: Settings {
                    header: HeaderSlot::new(&AUTHORIZATION),
                    carried: carried(&AUTHORIZATION, None),
                    query: None,
                    replay_limit: DEFAULT_REPLAY_BUFFER_LIMIT,
                    keep_existing: false,
                    retry_on_401: true,
                    origins: None,
                },
            }),
        }
    }

    fn with(self, f: impl FnOnce(&mut Settings)) -> Self {
        let s = &self.shared.settings;
        let mut settings = Settings {
            header: s.header.clone(),
            carried: s.carried,
            query: s.query.clone(),
            replay_limit: s.replay_limit,
            keep_existing: s.keep_existing,
            retry_on_401: s.retry_on_401,
            origins: s.origins.clone(),
        };
        f(&mut settings);
        settings.carried = carried(settings.header.name(), settings.query.as_ref());
        Self {
            shared: Arc::new(Shared {
                source: self.shared.source.clone(),
                settings,
            }),
        }
    }

    /// Sends the token in this header instead of `Authorization`.
    pub fn header_name(self, name: HeaderName) -> Self {
        self.with(|s| s.header = HeaderSlot::new(&name))
    }

    /// Like [`header_name`](Self::header_name), from a string; fails with a
    /// [`Config`](auth_core::ErrorKind::Config) error when it is not a valid header name.
    pub fn try_header_name(self, name: &str) -> Result<Self, AuthError> {
        let name = HeaderName::try_from(name).map_err(|_| {
            AuthError::config(
                "header_name",
                format!("`{name}` is not a valid header name"),
            )
        })?;
        Ok(self.header_name(name))
    }

    /// Sends the token's bare value in this query parameter instead of a header, for APIs that
    /// want `?access_token=…`. A parameter of the same name is replaced; the rest of the URI is
    /// kept byte for byte. Prefer a header where the API allows it: URIs end up in server and
    /// proxy logs.
    ///
    /// Fails with a [`Config`](auth_core::ErrorKind::Config) error when the name is empty or
    /// contains `&`, `=`, `#`, `+`, `%`, whitespace or control characters.
    pub fn query_parameter(self, name: &str) -> Result<Self, AuthError> {
        query::validate_name(name, "access token query parameter name")?;
        let placement = QueryPlacement {
            name: name.to_owned(),
            encoded: utf8_percent_encode(name, query::COMPONENT).to_string(),
        };
        Ok(self.with(|s| s.query = Some(placement)))
    }

    /// Largest body (in bytes) buffered so it can be replayed after a 401, for body types that
    /// cannot be cloned. Defaults to 64 KiB.
    pub fn replay_buffer_limit(self, bytes: usize) -> Self {
        self.with(|s| s.replay_limit = bytes)
    }

    /// Leaves requests that already carry the header untouched (and never retries them).
    /// By default the header is replaced.
    pub fn keep_existing(self) -> Self {
        self.with(|s| s.keep_existing = true)
    }

    /// Whether a 401 triggers one invalidate-and-retry. Defaults to on; turning it off also
    /// saves the per-request copy of the request head kept for the retry.
    pub fn retry_on_401(self, enabled: bool) -> Self {
        self.with(|s| s.retry_on_401 = enabled)
    }

    /// Sends tokens only with requests for `origin`; requests for any other origin (or with a
    /// relative URI) are sent as they are, without fetching a token and without a retry. Can be
    /// called more than once to allow several origins. By default every request gets a token.
    /// See [`origin`].
    pub fn restrict_to_origin(self, origin: Origin) -> Self {
        self.restrict_to_origins([origin])
    }

    /// Like [`restrict_to_origin`](Self::restrict_to_origin), for several origins at once. An
    /// empty list restricts the layer to no origin at all: it then never sends a token.
    pub fn restrict_to_origins(self, origins: impl IntoIterator<Item = Origin>) -> Self {
        self.with(|s| s.origins = origin::restrict(s.origins.take(), origins))
    }

    /// The token source.
    pub fn source(&self) -> &T {
        &self.shared.source
    }
}

impl<T> fmt::Debug for TokenLayer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.shared.settings;
        f.debug_struct("TokenLayer")
            .field("header", &settings.header)
            .field("query_parameter", &settings.query.as_ref().map(|q| &q.name))
            .field("replay_limit", &settings.replay_limit)
            .field("keep_existing", &settings.keep_existing)
            .field("retry_on_401", &settings.retry_on_401)
            .field("origins", &settings.origins)
            .finish_non_exhaustive()
    }
}

impl<S: Clone, T> Layer<S> for TokenLayer<T> {
    type Service = TokenService<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        TokenService {
            bound: Arc::new(Bound {
                shared: self.shared.clone(),
                spare: Mutex::new(inner.clone()),
            }),
            inner,
        }
    }
}

/// The service made by [`TokenLayer`].
pub struct TokenService<S, T> {
    inner: S,
    bound: Arc<Bound<S, T>>,
}

/// What a [`TokenService`] and its response futures share: the layer's state, and a spare
/// clone of the inner service, cloned again only when a retry happens. A request that may be
/// retried then costs one reference count rather than a clone of the service (a client such
/// as hyper-util's is several reference counts, contended between cores).
pub(crate) struct Bound<S, T> {
    pub(crate) shared: Arc<Shared<T>>,
    // A mutex so the futures stay `Send` for any `S: Send` (no `S: Sync` needed); it is
    // locked once per retry.
    spare: Mutex<S>,
}

impl<S: Clone, T> Bound<S, T> {
    /// A service for a retry (not yet ready).
    pub(crate) fn service(&self) -> S {
        self.spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl<S: Clone, T> Clone for TokenService<S, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            bound: self.bound.clone(),
        }
    }
}

impl<S, T> TokenService<S, T> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The token source.
    pub fn source(&self) -> &T {
        &self.bound.shared.source
    }
}

impl<S: fmt::Debug, T> fmt::Debug for TokenService<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenService")
            .field("inner", &self.inner)
            .field("settings", &self.bound.shared.settings)
            .finish_non_exhaustive()
    }
}

impl<S, T, B, ResB> Service<Request<B>> for TokenService<S, T>
where
    S: Service<Request<B>, Response = Response<ResB>> + Clone,
    S::Error: Into<BoxError>,
    T: TokenSource + Clone,
    B: ReplayableBody,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResB>;
    type Error = BoxError;
    type Future = ResponseFuture<S, T, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let settings = &self.bound.shared.settings;
        if !origin::allows(settings.origins.as_ref(), request.uri())
            || settings.keep_existing && carries_credential(settings, &request)
        {
            return ResponseFuture::pass_through(self.inner.call(request));
        }
        match self.bound.shared.source.current() {
            // The hot path: the future takes a reference to the shared state only when the
            // request may be retried.
            Some(token) => ResponseFuture::send(&mut self.inner, &self.bound, request, token),
            None => {
                // The ready service goes into the future (it is called once the token comes);
                // `self` keeps a fresh clone (tower's pattern).
                let clone = self.inner.clone();
                let inner = mem::replace(&mut self.inner, clone);
                ResponseFuture::fetch(inner, self.bound.clone(), request)
            }
        }
    }
}

/// A query parameter that carries the token; see [`TokenLayer::query_parameter`].
#[derive(Debug, Clone)]
pub(crate) struct QueryPlacement {
    pub(crate) name: String,
    /// The percent-encoded name, ready for `name=value`.
    pub(crate) encoded: String,
}

/// Whether the request already carries the credential where this layer would put it.
/// "the request carried an access token in the `authorization` header", once per layer.
fn carried(header: &HeaderName, query: Option<&QueryPlacement>) -> Detail {
    let placed = match query {
        Some(query) => format!("the query parameter `{}`", query.name),
        None => format!("the `{header}` header"),
    };
    Detail::shared(format!("the request carried an access token in {placed}"))
}

fn carries_credential<B>(settings: &Settings, request: &Request<B>) -> bool {
    match &settings.query {
        None => request.headers().contains_key(settings.header.name()),
        Some(placement) => query::split(request.uri()).is_ok_and(|(_, q)| {
            q.split('&').any(|param| {
                let name = param.split_once('=').map_or(param, |(name, _)| name);
                query::is_named(name, &placement.name)
            })
        }),
    }
}

#[cfg(test)]
mod tests;
