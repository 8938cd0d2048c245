//! Sends a token from any [`TokenSource`] with each request, and retries once with a fresh
//! token when the server answers 401.
//!
//! Each service reads its source through its own [`TokenView`] on the fast path (a cached,
//! fresh token: no await, no lock, no allocation; over a [`CachedTokenSource`] one atomic load,
//! and no clock read when the cache runs in a multi-thread runtime) and awaits
//! [`TokenSource::token`] otherwise. On a 401 it calls
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
//! The token goes in the `Authorization` header by default; [`TokenLayer::header`] and
//! [`TokenLayer::query`] put it elsewhere. A request that already carries it gets it replaced by
//! default; with [`TokenLayer::keep_existing`] such a request is sent as it is (and not
//! retried). With [`TokenLayer::restrict_to_origin`], requests for other origins are sent as they
//! are too: no token, no fetch, no retry (see [`origin`]).
//!
//! [`CachedTokenSource`]: auth_core::CachedTokenSource

use std::{
    fmt,
    hash::Hash,
    mem,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
};

use auth_core::{AccessToken, AuthError, KeyedEntry, KeyedTokenSource, TokenSource, TokenView};
use http::{Extensions, Request};
use tower_layer::Layer;
use tower_service::Service;

use crate::{
    BoxError,
    origin::{self, Origin, OriginFilter},
    placement::{HeaderSlot, Placement, QueryParam},
    response::Detail,
};

mod attach;
mod future;
mod later;
mod rejected;
mod replay;
mod retry;

pub use future::ResponseFuture;
// For the adapters (`crate::adapter`): the same retry decision and 401/403 error.
pub(crate) use rejected::{NO_NEWER_TOKEN, give_up_reason, rejection_error};
pub(crate) use retry::{Decision, decide};

/// The counter (feature `metrics`) of requests retried with a fresh token after a 401, labelled
/// `status`.
pub const RETRIES: &str = "tower_auth.request.retries";
pub use replay::ReplayableBody;

/// Default cap on a body buffered for replay: 64 KiB.
pub const DEFAULT_REPLAY_BUFFER_LIMIT: usize = 64 * 1024;

/// Adds a token from a [`TokenSource`] to every request; see the [module docs](self).
pub struct TokenLayer<T> {
    pub(crate) shared: Arc<Shared<T>>,
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
    /// For a keyed layer: picks the source of each request from its extensions (`None`: every
    /// request uses `source`).
    pub(crate) pick: Option<Arc<dyn Picker>>,
}

/// Picks the token source of a request from its extensions (a keyed layer).
pub(crate) trait Picker: Send + Sync {
    /// The token the request's source has at hand (`Ok(None)`: none, or the source is not
    /// built yet), without taking a reference to the source: the hot path.
    fn current(&self, extensions: &Extensions) -> Result<Option<AccessToken>, AuthError>;

    /// The request's source, built if need be: for a fetch, and for the retry after a 401.
    fn pick(&self, extensions: &Extensions) -> Result<Arc<dyn TokenSource>, AuthError>;
}

impl<K, S> Picker for KeyedTokenSource<K, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    S: TokenSource,
{
    fn current(&self, extensions: &Extensions) -> Result<Option<AccessToken>, AuthError> {
        self.current_for_extensions(extensions)
    }

    fn pick(&self, extensions: &Extensions) -> Result<Arc<dyn TokenSource>, AuthError> {
        self.for_extensions(extensions).map(KeyedEntry::into_dyn)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) placement: Placement,
    /// What a request carries, for the `AuthError` of a 401 or 403 (derived from the above).
    pub(crate) carried: Detail,
    pub(crate) replay_limit: usize,
    pub(crate) keep_existing: bool,
    pub(crate) retry_on_401: bool,
    pub(crate) origins: Option<OriginFilter>,
}

impl<T: TokenSource + Clone> TokenLayer<T> {
    /// Sends tokens from `source` in the `Authorization` header; the header value (with its
    /// prefix, usually `Bearer`) is the one the [`AccessToken`] carries.
    pub fn new(source: T) -> Self {
        Self::placed(source, Placement::Header(HeaderSlot::authorization()))
    }

    /// Sends tokens from `source` in the header `name` instead of `Authorization`, with the
    /// prefix the token carries (build tokens with an empty prefix for a bare value).
    ///
    /// Fails with a [`Config`](auth_core::ErrorKind::Config) error when `name` is not a valid
    /// header name.
    pub fn header(name: &str, source: T) -> Result<Self, AuthError> {
        let slot = HeaderSlot::parse(name, "access token header name")?;
        Ok(Self::placed(source, Placement::Header(slot)))
    }

    /// Sends the bare value of tokens from `source` in the query parameter `name` instead of a
    /// header, for APIs that want `?access_token=…`. A parameter of the same name is replaced;
    /// the rest of the URI is kept byte for byte. Prefer a header where the API allows it: URIs
    /// end up in server and proxy logs.
    ///
    /// Fails with a [`Config`](auth_core::ErrorKind::Config) error when the name is empty or
    /// contains `&`, `=`, `#`, `+`, `%`, whitespace or control characters.
    pub fn query(name: &str, source: T) -> Result<Self, AuthError> {
        let param = QueryParam::parse(name, "access token")?;
        Ok(Self::placed(source, Placement::Query(param)))
    }

    fn placed(source: T, placement: Placement) -> Self {
        let carried = carried(&placement, "an access token");
        Self {
            shared: Arc::new(Shared {
                source,
                settings: Settings {
                    placement,
                    carried,
                    replay_limit: DEFAULT_REPLAY_BUFFER_LIMIT,
                    keep_existing: false,
                    retry_on_401: true,
                    origins: None,
                },
                pick: None,
            }),
        }
    }

    fn with(self, f: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.shared.settings.clone();
        f(&mut settings);
        Self {
            shared: Arc::new(Shared {
                source: self.shared.source.clone(),
                settings,
                pick: self.shared.pick.clone(),
            }),
        }
    }

    /// The same layer over a type-erased source (`Arc<dyn TokenSource>`), e.g. to hold layers of
    /// different sources in one collection. A keyed layer stays keyed.
    pub fn erase(self) -> TokenLayer<Arc<dyn TokenSource>> {
        TokenLayer {
            shared: Arc::new(Shared {
                source: Arc::new(self.shared.source.clone()),
                settings: self.shared.settings.clone(),
                pick: self.shared.pick.clone(),
            }),
        }
    }

    /// What the error of a 401 or 403 says the request carried, e.g. `"HTTP Basic credentials"`
    /// or `"an API key"`. Defaults to `"an access token"`. Never put a secret here.
    pub fn credential_description(self, what: &str) -> Self {
        let what = what.chars().filter(|c| !c.is_control()).collect::<String>();
        self.with(|s| s.carried = carried(&s.placement, &what))
    }

    /// Largest body (in bytes) buffered so it can be replayed after a 401, for body types that
    /// cannot be cloned. Defaults to 64 KiB.
    pub fn replay_buffer_limit(self, bytes: usize) -> Self {
        self.with(|s| s.replay_limit = bytes)
    }

    /// Leaves requests that already carry the header (or query parameter) untouched, and never
    /// retries them. By default it is replaced.
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

impl<K, S> TokenLayer<KeyedTokenSource<K, S>>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    S: TokenSource,
{
    /// One token per key (user, tenant): each request gets its token from the source of the key
    /// it carries in its extensions (a `K`, inserted by the application, e.g. by a middleware
    /// that reads the session), in the `Authorization` header. A request without a key fails
    /// with [`ErrorKind::NoTokenKey`](auth_core::ErrorKind::NoTokenKey) and is not sent: it never
    /// gets another key's token. Requests the layer leaves alone (another origin, see
    /// [`restrict_to_origin`](Self::restrict_to_origin)) need no key. A 401 invalidates that
    /// key's token only, and the retry uses that key's next one.
    ///
    /// ```
    /// use auth_core::{AccessToken, KeyedTokenSource, StaticTokenSource, TokenKey};
    /// use auth_layers::TokenLayer;
    /// use http::{Request, Response};
    /// use http_body_util::Empty;
    /// use bytes::Bytes;
    /// use std::convert::Infallible;
    /// use tower::{ServiceBuilder, ServiceExt, service_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower::BoxError> {
    /// let tokens = KeyedTokenSource::builder(|key: &TokenKey| {
    ///     Ok(StaticTokenSource::new(AccessToken::bearer(format!("for-{}", key.subject()))?))
    /// })
    /// .build();
    /// let api = service_fn(|req: Request<Empty<Bytes>>| async move {
    ///     assert_eq!(req.headers()["authorization"], "Bearer for-alice");
    ///     Ok::<_, Infallible>(Response::new(()))
    /// });
    /// let client = ServiceBuilder::new().layer(TokenLayer::keyed(tokens)).service(api);
    /// let mut request = Request::new(Empty::new());
    /// request.extensions_mut().insert(TokenKey::new("alice"));
    /// client.clone().oneshot(request).await?;
    /// // Without a key: refused, never sent.
    /// assert!(client.oneshot(Request::new(Empty::new())).await.is_err());
    /// # Ok(()) }
    /// ```
    pub fn keyed(keyed: KeyedTokenSource<K, S>) -> Self {
        let pick: Arc<dyn Picker> = Arc::new(keyed.clone());
        let layer = Self::new(keyed);
        TokenLayer {
            shared: Arc::new(Shared {
                source: layer.shared.source.clone(),
                settings: layer.shared.settings.clone(),
                pick: Some(pick),
            }),
        }
    }
}

impl<T> fmt::Debug for TokenLayer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.shared.settings;
        f.debug_struct("TokenLayer")
            .field("placement", &settings.placement)
            .field("replay_limit", &settings.replay_limit)
            .field("keep_existing", &settings.keep_existing)
            .field("retry_on_401", &settings.retry_on_401)
            .field("origins", &settings.origins)
            .field("keyed", &self.shared.pick.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: Clone, T> Layer<S> for TokenLayer<T> {
    type Service = Token<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        Token {
            bound: Arc::new(Bound {
                shared: self.shared.clone(),
                spare: Mutex::new(inner.clone()),
            }),
            inner,
            view: TokenView::new(),
        }
    }
}

/// The service made by [`TokenLayer`]: adds a token to each request, awaiting one when none is
/// cached, and retries once on 401.
pub struct Token<S, T> {
    inner: S,
    bound: Arc<Bound<S, T>>,
    /// This service's read of the source's current token: one atomic load (and a clock read,
    /// for an unwatched generation) while the token stays the same (see [`TokenView`]).
    view: TokenView,
}

/// What a [`Token`] service and its response futures share: the layer's state, and a spare
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

impl<S: Clone, T> Clone for Token<S, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            bound: self.bound.clone(),
            view: self.view.clone(),
        }
    }
}

crate::inner_accessors!(Token<S, T>);

impl<S, T> Token<S, T> {
    /// The token source.
    pub fn source(&self) -> &T {
        &self.bound.shared.source
    }
}

impl<S: fmt::Debug, T> fmt::Debug for Token<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("inner", &self.inner)
            .field("settings", &self.bound.shared.settings)
            .finish_non_exhaustive()
    }
}

impl<S, T, B, ResB> Service<Request<B>> for Token<S, T>
where
    S: Service<Request<B>, Response = http::Response<ResB>> + Clone,
    S::Error: Into<BoxError>,
    T: TokenSource + Clone,
    B: ReplayableBody,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<ResB>;
    type Error = BoxError;
    type Future = ResponseFuture<S, T, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let settings = &self.bound.shared.settings;
        if !origin::allows(settings.origins.as_ref(), request.uri())
            || settings.keep_existing && settings.placement.carried_by(&request)
        {
            return ResponseFuture::pass_through(self.inner.call(request));
        }
        // A keyed layer's own source never has a token at hand (its view would ask it on
        // every request): the request's key is looked up instead.
        if let Some(pick) = self.bound.shared.pick.as_deref() {
            return Self::call_keyed(&mut self.inner, &self.bound, pick, request);
        }
        match self.view.current(&self.bound.shared.source) {
            // The hot path: the future takes a reference to the shared state only when the
            // request may be retried.
            Some(token) => ResponseFuture::send(&mut self.inner, &self.bound, request, token, None),
            None => {
                // The ready service goes into the future (it is called once the token comes);
                // `self` keeps a fresh clone (tower's pattern).
                let clone = self.inner.clone();
                let inner = mem::replace(&mut self.inner, clone);
                ResponseFuture::fetch(inner, self.bound.clone(), request, None)
            }
        }
    }
}

impl<S, T> Token<S, T> {
    /// A keyed layer's call: the token of the request's own key (or the error of a request
    /// without a key, which is not sent). With a token at hand the future takes no reference
    /// to the key's source: a retry after a 401 picks it again from the request's copy.
    #[inline(never)]
    fn call_keyed<B>(
        inner: &mut S,
        bound: &Arc<Bound<S, T>>,
        pick: &dyn Picker,
        request: Request<B>,
    ) -> ResponseFuture<S, T, B>
    where
        S: Service<Request<B>> + Clone,
        T: TokenSource + Clone,
        B: ReplayableBody,
    {
        match pick.current(request.extensions()) {
            Ok(Some(token)) => ResponseFuture::send(inner, bound, request, token, None),
            Ok(None) => match pick.pick(request.extensions()) {
                Ok(source) => {
                    let clone = inner.clone();
                    let inner = mem::replace(inner, clone);
                    ResponseFuture::fetch(inner, bound.clone(), request, Some(source))
                }
                Err(error) => ResponseFuture::failed(error),
            },
            Err(error) => ResponseFuture::failed(error),
        }
    }
}

/// "the request carried an access token in the `authorization` header", once per layer.
fn carried(placement: &Placement, what: &str) -> Detail {
    let placed = match placement {
        Placement::Header(slot) => format!("the `{}` header", slot.name()),
        Placement::Query(param) => format!("the query parameter `{}`", param.name()),
    };
    Detail::new(format!("the request carried {what} in {placed}"))
}

#[cfg(test)]
mod tests;
