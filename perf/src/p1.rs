//! P1, the per-request cost of each auth layer: the stacks, the request shapes and the driver,
//! shared by the `hot_path` bench (criterion timings), the `hot_path_allocs` bench (allocation
//! counts), the `loadtest` binary (the P1 summary line) and the `p1probe` binary (one stack for
//! profilers), so all of them measure the same code.
//!
//! Every stack is one layer over a trivial inner service that drops the request and answers a
//! ready response, so the layer's own work dominates. A request is sent the way a client sends
//! it: `poll_ready`, `call`, then one poll of the response future (which is always ready here)
//! with a no-op waker: no runtime, no scheduling noise.
//!
//! A harness, not a library for users: a stack that fails or is not ready is a bug in the
//! harness, so the driver panics on it.

use std::{
    convert::Infallible,
    fmt,
    future::{Future, Ready, ready},
    hint::black_box,
    pin::pin,
    sync::OnceLock,
    task::{Context, Poll, Waker},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri, header};
use http_body_util::Empty;
use tower::{
    Layer, Service,
    retry::{Policy, RetryLayer},
    service_fn,
};
use tower_auth::{
    AccessToken, ApiKeyLayer, BasicAuthLayer, BearerLayer, CachedTokenSource, KeyedTokenSource,
    StaticTokenSource, TokenKey, TokenLayer,
};
use tower_http::{auth::AddAuthorizationLayer, set_header::SetRequestHeaderLayer};

/// The request type of every stack.
pub type Req = Request<Empty<Bytes>>;
/// The response type of every stack.
pub type Resp = Response<Empty<Bytes>>;

pub(crate) const TOKEN: &str = "hot-path-token-0123456789abcdef";
const API_KEY: &str = "hot-path-api-key-0123456789";

/// The layers compared; `NoLayer` is the baseline for allocations, `TowerHttp` for time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The inner service alone.
    NoLayer,
    /// tower-http's `AddAuthorization` (bearer, marked sensitive like ours).
    TowerHttp,
    /// tower-http's `SetRequestHeader` with `X-API-Key`: what any custom header costs (a
    /// reference for `ApiKeyLayer` in a header, not a target).
    TowerHttpCustomHeader,
    /// tower's `Retry` around `AddAuthorization`, with a policy that retries a 401 once: a
    /// retry-on-401 built from tower's own parts, which copies every request for the replay as
    /// `TokenLayer` does (a reference for `TokenLayer`, not a target).
    TowerRetry,
    /// `BearerLayer`.
    Bearer,
    /// `ApiKeyLayer` in a header.
    ApiKeyHeader,
    /// `ApiKeyLayer` in the query (rebuilds the URI: not held to the target).
    ApiKeyQuery,
    /// `BasicAuthLayer`.
    Basic,
    /// `TokenLayer` over a `CachedTokenSource` holding a fresh token; default settings
    /// (retry on 401, so a copy of the request head is kept for the replay).
    Token,
    /// `Token` with the token stored outside any runtime, so the cache arms no timer and the
    /// layer reads the clock on every request (a reference for the timer's gain, not a target).
    TokenClockRead,
    /// The same with `retry_on_401(false)`: no replay copy.
    TokenNoRetry,
    /// `TokenLayer` (one token) over requests that carry the same key extension as
    /// `TokenKeyed`'s (ignored by the layer): the P7 baseline, so both sides pay the same for
    /// the extension.
    TokenWithKey,
    /// `TokenLayer::keyed` over 1,000 warm keys (each with a fresh token), requests cycling
    /// through the keys; each request gets its key inserted into its extensions first, as the
    /// application's middleware would (P7, against `Token`).
    TokenKeyed,
    /// `Token` with the fleet tier (auth-redis) configured under the in-process cache. Its
    /// Redis is never contacted: the hot path does not reach it.
    TokenFleet,
}

/// How many warm keys the keyed variant holds.
pub const KEYS: usize = 1_000;

impl Variant {
    /// Every variant, in table order.
    pub const ALL: [Variant; 14] = [
        Variant::NoLayer,
        Variant::TowerHttp,
        Variant::TowerHttpCustomHeader,
        Variant::TowerRetry,
        Variant::Bearer,
        Variant::ApiKeyHeader,
        Variant::ApiKeyQuery,
        Variant::Basic,
        Variant::Token,
        Variant::TokenClockRead,
        Variant::TokenNoRetry,
        Variant::TokenWithKey,
        Variant::TokenKeyed,
        Variant::TokenFleet,
    ];

    /// The name shown in tables.
    pub fn name(self) -> &'static str {
        match self {
            Variant::NoLayer => "no layer",
            Variant::TowerHttp => "tower-http AddAuthorization",
            Variant::TowerHttpCustomHeader => "tower-http SetRequestHeader (X-API-Key)",
            Variant::TowerRetry => "tower Retry (401) + AddAuthorization",
            Variant::Bearer => "BearerLayer",
            Variant::ApiKeyHeader => "ApiKeyLayer (header)",
            Variant::ApiKeyQuery => "ApiKeyLayer (query)",
            Variant::Basic => "BasicAuthLayer",
            Variant::Token => "TokenLayer (cached token)",
            Variant::TokenClockRead => "TokenLayer (cached token, a clock read per request)",
            Variant::TokenNoRetry => "TokenLayer (retry_on_401 off)",
            Variant::TokenWithKey => "TokenLayer (request carries a key)",
            Variant::TokenKeyed => "TokenLayer keyed (1,000 keys)",
            Variant::TokenFleet => "TokenLayer (cached token, Redis tier under it)",
        }
    }

    /// A short identifier for benchmark ids and command lines.
    pub fn id(self) -> &'static str {
        match self {
            Variant::NoLayer => "no_layer",
            Variant::TowerHttp => "tower_http_add_authorization",
            Variant::TowerHttpCustomHeader => "tower_http_set_request_header",
            Variant::TowerRetry => "tower_retry_add_authorization",
            Variant::Bearer => "bearer",
            Variant::ApiKeyHeader => "api_key_header",
            Variant::ApiKeyQuery => "api_key_query",
            Variant::Basic => "basic",
            Variant::Token => "token_layer",
            Variant::TokenClockRead => "token_layer_clock_read",
            Variant::TokenNoRetry => "token_layer_no_retry",
            Variant::TokenWithKey => "token_layer_with_key",
            Variant::TokenKeyed => "token_layer_keyed",
            Variant::TokenFleet => "token_layer_fleet",
        }
    }

    /// A baseline, not one of ours.
    pub fn is_reference(self) -> bool {
        matches!(
            self,
            Variant::NoLayer
                | Variant::TowerHttp
                | Variant::TowerHttpCustomHeader
                | Variant::TowerRetry
        )
    }

    /// The tower-built stack doing the same work, when it does more than `AddAuthorization`:
    /// a custom header name for the API key, the request copy for `TokenLayer`'s retry.
    pub fn same_work(self) -> Option<Variant> {
        match self {
            Variant::ApiKeyHeader => Some(Variant::TowerHttpCustomHeader),
            Variant::Token | Variant::TokenClockRead => Some(Variant::TowerRetry),
            Variant::TokenKeyed => Some(Variant::TokenWithKey),
            // The fleet tier must cost nothing on top of the plain cached token.
            Variant::TokenFleet => Some(Variant::Token),
            _ => None,
        }
    }

    /// Whether the P1 target applies (≤ 1.05× tower-http, 0 allocations beyond no layer).
    pub fn has_target(self) -> bool {
        matches!(
            self,
            Variant::Bearer | Variant::ApiKeyHeader | Variant::Token | Variant::TokenFleet
        )
    }
}

/// What the request looks like before the layer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `GET /v1/items?page=2` with no headers (`Request::get(url).body(..)`).
    NoHeaders,
    /// The same with four headers (host, user-agent, accept, x-request-id).
    FourHeaders,
}

impl Shape {
    /// Both shapes.
    pub const ALL: [Shape; 2] = [Shape::NoHeaders, Shape::FourHeaders];

    /// The name shown in tables.
    pub fn name(self) -> &'static str {
        match self {
            Shape::NoHeaders => "no headers",
            Shape::FourHeaders => "4 headers",
        }
    }

    /// A short identifier for benchmark ids and command lines.
    pub fn id(self) -> &'static str {
        match self {
            Shape::NoHeaders => "no_headers",
            Shape::FourHeaders => "four_headers",
        }
    }

    /// A factory for requests of this shape.
    pub fn requests(self) -> Requests {
        let headers = match self {
            Shape::NoHeaders => Vec::new(),
            Shape::FourHeaders => vec![
                (header::HOST, HeaderValue::from_static("api.example.com")),
                (
                    header::USER_AGENT,
                    HeaderValue::from_static("tower-auth-bench/0.1"),
                ),
                (header::ACCEPT, HeaderValue::from_static("application/json")),
                (
                    HeaderName::from_static("x-request-id"),
                    HeaderValue::from_static("5f1c0a7e"),
                ),
            ],
        };
        Requests {
            uri: Uri::from_static("/v1/items?page=2"),
            headers,
        }
    }
}

/// Builds requests of one shape the way `http::request::Builder` does (headers inserted one by
/// one, so the map has the spare room it has in real requests); static values only, so
/// building one costs the same for every variant.
#[derive(Debug, Clone)]
pub struct Requests {
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Requests {
    /// The same requests to `uri` (P6 needs absolute URIs: a DPoP proof names the URL).
    pub fn with_uri(mut self, uri: Uri) -> Self {
        self.uri = uri;
        self
    }

    /// One request.
    pub fn make(&self) -> Req {
        let mut request = Request::new(Empty::new());
        *request.uri_mut() = self.uri.clone();
        for (name, value) in &self.headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        request
    }

    /// `n` requests, built before a timed or counted section.
    pub fn batch(&self, n: usize) -> Vec<Req> {
        (0..n).map(|_| self.make()).collect()
    }
}

/// A service stack under test: sends one request and checks it succeeded.
pub trait Stack {
    /// Sends `request` and polls the response once; panics unless it succeeded at once.
    fn send(&mut self, request: Req);
}

impl<S> Stack for S
where
    S: Service<Req, Response = Resp>,
    S::Error: fmt::Debug,
{
    #[inline]
    fn send(&mut self, request: Req) {
        let mut cx = Context::from_waker(Waker::noop());
        match self.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => {}
            other => panic!("the stack is not ready: {other:?}"),
        }
        let mut future = pin!(self.call(request));
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(response)) => {
                black_box(response);
            }
            Poll::Ready(Err(error)) => panic!("the stack failed: {error:?}"),
            Poll::Pending => panic!("the stack did not answer at once"),
        }
    }
}

/// Receives the stack built for a variant (Rust has no generic closures).
pub trait WithStack {
    /// What [`WithStack::run`] returns.
    type Output;
    /// Does the work with the stack built for a variant.
    fn run<S: Stack + 'static>(self, stack: S) -> Self::Output;
}

pub(crate) type Inner = tower::util::ServiceFn<fn(Req) -> Ready<Result<Resp, Infallible>>>;

pub(crate) fn inner() -> Inner {
    fn answer(request: Req) -> Ready<Result<Resp, Infallible>> {
        // The request is looked at, then dropped here, as a client would after sending it.
        black_box(&request);
        ready(Ok(Response::new(Empty::new())))
    }
    service_fn(answer as fn(Req) -> Ready<Result<Resp, Infallible>>)
}

/// A cache holding a token that stays fresh for the whole run (no refresh is due), stored the
/// way an application's cache stores it: inside a multi-thread runtime, where the cache arms the
/// timer that lets readers skip the clock (see `auth_core::view`). The requests themselves run
/// without a runtime.
pub(crate) fn fresh_token_cache() -> CachedTokenSource<StaticTokenSource> {
    let _entered = app_runtime().enter();
    unwatched_token_cache()
}

/// [`fresh_token_cache`] stored outside any runtime: readers check the clock on every request.
pub(crate) fn unwatched_token_cache() -> CachedTokenSource<StaticTokenSource> {
    let token = AccessToken::builder(TOKEN)
        .expires_in(Duration::from_secs(24 * 3600))
        .build()
        .expect("a valid token");
    let cache = CachedTokenSource::new(StaticTokenSource::new(token.clone()));
    cache.insert(token);
    cache
}

/// The application's runtime: one worker, idle during the measurements.
fn app_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

/// [`fresh_token_cache`] with the fleet tier under it: a Redis client that never connects
/// (nothing listens on port 9), since a fresh token is served without it.
fn fresh_fleet_cache() -> CachedTokenSource<auth_redis::FleetTokenSource<StaticTokenSource>> {
    let token = AccessToken::builder(TOKEN)
        .expires_in(Duration::from_secs(24 * 3600))
        .build()
        .expect("a valid token");
    let fleet = auth_redis::RedisTokenCache::builder("redis://127.0.0.1:9")
        .encryption_key(auth_redis::EncryptionKey::from_bytes([7; 32]))
        .build()
        .expect("a valid fleet cache");
    let key = auth_redis::FleetKey::builder("https://idp.example/token", "bench").build();
    let cache = CachedTokenSource::new(fleet.wrap(StaticTokenSource::new(token.clone()), &key));
    // Stored like `fresh_token_cache`'s, so the two compare like for like.
    let _entered = app_runtime().enter();
    cache.insert(token);
    cache
}

/// Builds the stack for `variant` and hands it to `with`.
pub fn with_stack<W: WithStack>(variant: Variant, with: W) -> W::Output {
    let inner = inner();
    match variant {
        Variant::NoLayer => with.run(inner),
        Variant::TowerHttp => {
            let layer = AddAuthorizationLayer::bearer(TOKEN).as_sensitive(true);
            with.run(layer.layer(inner))
        }
        Variant::TowerHttpCustomHeader => {
            // Built at run time like every credential (a shared, not a static, value).
            let mut value = HeaderValue::try_from(API_KEY.to_owned()).expect("valid");
            value.set_sensitive(true);
            let name = HeaderName::from_static("x-api-key");
            with.run(SetRequestHeaderLayer::overriding(name, value).layer(inner))
        }
        Variant::TowerRetry => {
            let add = AddAuthorizationLayer::bearer(TOKEN).as_sensitive(true);
            let retry = RetryLayer::new(RetryOnce401 { retried: false });
            with.run(retry.layer(add.layer(inner)))
        }
        Variant::Bearer => with.run(BearerLayer::new(TOKEN).expect("valid").layer(inner)),
        Variant::ApiKeyHeader => {
            let layer = ApiKeyLayer::header("X-API-Key", API_KEY)
                .build()
                .expect("valid");
            with.run(layer.layer(inner))
        }
        Variant::ApiKeyQuery => {
            let layer = ApiKeyLayer::query("api_key", API_KEY)
                .build()
                .expect("valid");
            with.run(layer.layer(inner))
        }
        Variant::Basic => {
            let layer = BasicAuthLayer::new("bench-user", "bench-password").expect("valid");
            with.run(layer.layer(inner))
        }
        Variant::Token => with.run(TokenLayer::new(fresh_token_cache()).layer(inner)),
        Variant::TokenClockRead => with.run(TokenLayer::new(unwatched_token_cache()).layer(inner)),
        Variant::TokenNoRetry => {
            let layer = TokenLayer::new(fresh_token_cache()).retry_on_401(false);
            with.run(layer.layer(inner))
        }
        Variant::TokenFleet => with.run(TokenLayer::new(fresh_fleet_cache()).layer(inner)),
        Variant::TokenWithKey => {
            let (_, keys) = warm_keyed();
            with.run(WithKey {
                inner: TokenLayer::new(fresh_token_cache()).layer(inner),
                keys,
                next: 0,
            })
        }
        Variant::TokenKeyed => {
            let (layer, keys) = warm_keyed();
            with.run(WithKey {
                inner: layer.layer(inner),
                keys,
                next: 0,
            })
        }
    }
}

/// A keyed layer whose [`KEYS`] keys all hold a fresh token, and the keys.
fn warm_keyed() -> (
    TokenLayer<KeyedTokenSource<TokenKey, StaticTokenSource>>,
    Vec<TokenKey>,
) {
    let token = AccessToken::builder(TOKEN)
        .expires_in(Duration::from_secs(24 * 3600))
        .build()
        .expect("a valid token");
    let source = token.clone();
    let keyed =
        KeyedTokenSource::builder(move |_: &TokenKey| Ok(StaticTokenSource::new(source.clone())))
            .max_keys(KEYS)
            .build();
    let keys: Vec<TokenKey> = (0..KEYS)
        .map(|i| TokenKey::new(format!("user-{i:04}")))
        .collect();
    // Stored like `fresh_token_cache`'s, so the two compare like for like (a keyed source's
    // caches arm no timer, see `CacheConfig::lease_timer`, so its readers read the clock).
    let _entered = app_runtime().enter();
    for key in &keys {
        keyed
            .source(key)
            .expect("a source")
            .cache()
            .insert(token.clone());
    }
    (TokenLayer::keyed(keyed), keys)
}

/// Inserts the next key into each request's extensions, as an application's middleware does
/// before a keyed layer (its cost is part of what a keyed request costs).
struct WithKey<S> {
    inner: S,
    keys: Vec<TokenKey>,
    next: usize,
}

impl<S: Service<Req>> Service<Req> for WithKey<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Req) -> Self::Future {
        let key = self.keys[self.next].clone();
        self.next = (self.next + 1) % self.keys.len();
        request.extensions_mut().insert(key);
        self.inner.call(request)
    }
}

/// tower `Retry` policy: retry a 401 once, copying each request's head (and its empty body)
/// before it is sent, as any retry must.
#[derive(Clone)]
struct RetryOnce401 {
    retried: bool,
}

impl Policy<Req, Resp, Infallible> for RetryOnce401 {
    type Future = Ready<()>;

    fn retry(
        &mut self,
        _request: &mut Req,
        result: &mut Result<Resp, Infallible>,
    ) -> Option<Self::Future> {
        match result {
            Ok(response) if response.status() == StatusCode::UNAUTHORIZED && !self.retried => {
                self.retried = true;
                Some(ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, request: &Req) -> Option<Req> {
        let mut copy = Request::new(*request.body());
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.version_mut() = request.version();
        *copy.headers_mut() = request.headers().clone();
        *copy.extensions_mut() = request.extensions().clone();
        Some(copy)
    }
}

/// Builds and sends `n` requests through `stack`, returning the time per request (building one
/// costs the same for every variant; building them inside the loop keeps them in cache).
pub fn time_requests<S: Stack>(stack: &mut S, requests: &Requests, n: u32) -> Duration {
    let started = std::time::Instant::now();
    for _ in 0..n {
        stack.send(requests.make());
    }
    started.elapsed() / n.max(1)
}

/// Heap allocations per request through `stack`, counted by `count` (which runs its closure and
/// returns the allocations this thread made meanwhile). Requests are built beforehand, after a
/// warm-up, so one-time work such as promoting a shared header value is not counted.
pub fn allocations_per_request<S: Stack>(
    stack: &mut S,
    requests: &Requests,
    count: impl FnOnce(&mut dyn FnMut()) -> u64,
) -> f64 {
    const N: usize = 1_000;
    for request in requests.batch(16) {
        stack.send(request);
    }
    let mut batch = requests.batch(N);
    let allocations = count(&mut || {
        for request in batch.drain(..) {
            stack.send(request);
        }
    });
    allocations as f64 / N as f64
}
