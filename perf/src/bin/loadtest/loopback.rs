//! P2–P4, the loopback load scenarios of the load test: a token endpoint (the demo
//! provider from `auth-test-support`) and APIs on 127.0.0.1, hyper-util clients, and
//! `OAuth2Layer` (client credentials) between them. Every wait is bounded: each request has a
//! timeout, each phase a deadline.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use auth_oauth::{ClientCredentials, OAuth2Layer};
use auth_test_support::demo::{self, DemoProvider};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use tokio::{net::TcpListener, sync::Semaphore, task::JoinSet};
use tower::{BoxError, Layer, Service, ServiceExt};
use tower_auth::{CacheConfig, CachedTokenSource, TokenLayer, TokenSource, core::TokenFuture};

pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Deadline for one request, token fetch included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections the P2 burst may open at once: the 10,000 requests all go through the auth
/// layer together, but the client under it sends at most this many (file descriptors are
/// limited; the token endpoint is what is under test).
const SOCKET_BUDGET: usize = 256;
/// Token endpoint latency in P3.
pub(crate) const SLOW_TOKEN_ENDPOINT: Duration = Duration::from_millis(200);
/// A P3 request slower than this is counted as having waited for the token endpoint.
pub(crate) const WAITED_THRESHOLD: Duration = Duration::from_millis(150);
/// Token lifetime in P3: 4 s tokens are usable for 2 s (the skew of short tokens is half their
/// life), and with the default refresh window (last 25%) a 200 ms refresh fits.
pub(crate) const P3_TOKEN_LIFETIME: Duration = Duration::from_secs(4);

/// The layer P2–P4 measure: `OAuth2Layer` with the client-credentials grant against the demo
/// provider's token endpoint.
pub(crate) fn oauth2_layer(
    provider: &DemoProvider,
    config: CacheConfig,
) -> Result<OAuth2Layer<ClientCredentials>, BoxError> {
    Ok(
        OAuth2Layer::client_credentials(provider.token_url(), demo::CLIENT_ID, demo::CLIENT_SECRET)
            .cache_config(config)
            .build()?,
    )
}

/// The same token cache and `TokenLayer` as [`oauth2_layer`], with the source [`Observed`], so
/// P3 can count the requests that had to wait for a token.
pub(crate) fn observed_layer(
    provider: &DemoProvider,
    config: CacheConfig,
) -> Result<TokenLayer<Observed<CachedTokenSource<ClientCredentials>>>, BoxError> {
    let cache = oauth2_layer(provider, config)?.source().clone();
    Ok(TokenLayer::new(Observed::new(cache)))
}

/// A token source that counts how often the layer had to await [`TokenSource::token`], that
/// is, how many requests found no fresh token at hand and waited for one.
#[derive(Clone)]
pub(crate) struct Observed<T> {
    inner: T,
    awaited: Arc<AtomicUsize>,
}

impl<T> Observed<T> {
    pub(crate) fn new(inner: T) -> Self {
        Self {
            inner,
            awaited: Arc::default(),
        }
    }

    pub(crate) fn awaited(&self) -> usize {
        self.awaited.load(Ordering::SeqCst)
    }
}

impl<T: TokenSource> TokenSource for Observed<T> {
    fn token(&self) -> TokenFuture<'_> {
        self.awaited.fetch_add(1, Ordering::SeqCst);
        self.inner.token()
    }

    fn current(&self) -> Option<tower_auth::AccessToken> {
        self.inner.current()
    }

    fn invalidate(&self, token: &tower_auth::AccessToken) {
        self.inner.invalidate(token)
    }
}

/// The hyper-util client, reading each response to the end; optionally capped in concurrent
/// requests by a socket budget (the cap is taken inside the call, not in `poll_ready`, so the
/// layer above sees every request at once).
#[derive(Clone)]
pub(crate) struct ApiClient {
    client: HttpClient,
    budget: Option<Arc<Semaphore>>,
}

impl ApiClient {
    pub(crate) fn new(client: HttpClient, budget: Option<usize>) -> Self {
        Self {
            client,
            budget: budget.map(|n| Arc::new(Semaphore::new(n))),
        }
    }
}

impl Service<Request<Full<Bytes>>> for ApiClient {
    type Response = Response<Bytes>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Bytes>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        let (client, budget) = (self.client.clone(), self.budget.clone());
        Box::pin(async move {
            let _permit = match budget {
                Some(budget) => Some(budget.acquire_owned().await?),
                None => None,
            };
            let (head, body) = client.request(request).await?.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok(Response::from_parts(head, body))
        })
    }
}

/// One GET through `service`, with a deadline; whether it got a 200.
pub(crate) async fn get<S>(service: S, url: &str) -> bool
where
    S: Service<Request<Full<Bytes>>, Response = Response<Bytes>>,
    S::Error: Into<BoxError>,
{
    let Ok(request) = Request::get(url).body(Full::default()) else {
        return false;
    };
    matches!(
        tokio::time::timeout(REQUEST_TIMEOUT, service.oneshot(request)).await,
        Ok(Ok(response)) if response.status() == StatusCode::OK
    )
}

/// The P4 API: answers every request `200 ok`, checking nothing, so bare and authenticated
/// requests cost the server the same. Runs until the runtime shuts down.
pub(crate) async fn plain_api() -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

/// P2: what one burst of concurrent requests arriving as the token expires caused.
#[derive(Debug, Clone)]
pub(crate) struct Burst {
    pub(crate) requests: usize,
    pub(crate) ok: usize,
    pub(crate) token_calls: usize,
    pub(crate) elapsed: Duration,
}

/// P2: primes a cache with a token from `provider`, whose tokens live `lifetime` (under a
/// minute, so they are usable for half of it: the default skew is capped at half the life),
/// lets it go stale, then releases `n` requests at once, with the token endpoint slowed to
/// 100 ms so they all arrive while the one fetch is in flight; counts the token-endpoint calls
/// the server saw meanwhile.
pub(crate) async fn single_flight_burst(
    provider: &DemoProvider,
    lifetime: Duration,
    n: usize,
) -> Result<Burst, BoxError> {
    let client = auth_test_support::client();
    let layer = oauth2_layer(provider, CacheConfig::default())?;
    let api = layer.layer(ApiClient::new(client, Some(SOCKET_BUDGET)));
    let whoami = provider.url("/api/whoami");
    provider.set_token_delay(Duration::ZERO);
    if !get(api.clone(), &whoami).await {
        return Err("the priming request failed".into());
    }
    let stale_at = tokio::time::Instant::now() + lifetime / 2 + Duration::from_millis(50);

    let (gate, opened) = tokio::sync::watch::channel(false);
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        let (api, whoami, mut opened) = (api.clone(), whoami.clone(), opened.clone());
        tasks.spawn(async move {
            if opened.wait_for(|open| *open).await.is_err() {
                return false;
            }
            get(api, &whoami).await
        });
    }
    tokio::time::sleep_until(stale_at).await;
    provider.set_token_delay(Duration::from_millis(100));
    let before = provider.token_fetches();
    let started = Instant::now();
    let _ = gate.send(true);
    let mut ok = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {
        ok += usize::from(joined.unwrap_or(false));
    }
    tasks.abort_all();
    let elapsed = started.elapsed();
    let token_calls = provider.token_fetches() - before;
    provider.set_token_delay(Duration::ZERO);
    Ok(Burst {
        requests: n,
        ok,
        token_calls,
        elapsed,
    })
}

/// P3: latencies of paced requests while tokens come and go.
#[derive(Debug, Clone, Default)]
pub(crate) struct Latencies {
    /// Every request's latency, sorted.
    pub(crate) sorted: Vec<Duration>,
    pub(crate) failed: usize,
    /// Requests that found no fresh token and awaited the token source.
    pub(crate) awaited: usize,
    /// Token-endpoint calls during the phase.
    pub(crate) token_calls: usize,
}

impl Latencies {
    pub(crate) fn quantile(&self, q: f64) -> Duration {
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((self.sorted.len() - 1) as f64 * q).round() as usize;
        self.sorted[rank.min(self.sorted.len() - 1)]
    }

    pub(crate) fn slow(&self) -> usize {
        self.sorted
            .iter()
            .filter(|l| **l > WAITED_THRESHOLD)
            .count()
    }
}

/// How P3 loads the API: `workers` tasks, each sending one request every `interval`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    pub(crate) workers: usize,
    pub(crate) interval: Duration,
}

/// One P3 arm: paced traffic through a token layer whose tokens come from `provider`.
pub(crate) struct Arm<'a> {
    pub(crate) provider: &'a DemoProvider,
    pub(crate) config: CacheConfig,
}

/// P3: runs the same paced traffic through every arm at once (so they share the machine's
/// conditions: a steady arm is the baseline of an expiring one) until the last arm's token
/// endpoint has been called `token_calls` more times (one per expiry or refresh), plus a short
/// tail; reports each arm's latencies. Caches are primed first, so cold starts are not counted.
pub(crate) async fn paced_phase(
    arms: &[Arm<'_>],
    pace: Pace,
    token_calls: usize,
    deadline: Duration,
) -> Result<Vec<Latencies>, BoxError> {
    let mut setups = Vec::new();
    for arm in arms {
        let layer = observed_layer(arm.provider, arm.config.clone())?;
        let observed = layer.source().clone();
        let api = layer.layer(ApiClient::new(auth_test_support::client(), None));
        let whoami = arm.provider.url("/api/whoami");
        if !get(api.clone(), &whoami).await {
            return Err("the priming request failed".into());
        }
        let before = (observed.awaited(), arm.provider.token_fetches());
        setups.push((api, whoami, observed, before));
    }
    let Some(last) = arms.last() else {
        return Ok(Vec::new());
    };
    let calls_before = last.provider.token_fetches();
    let started = Instant::now();
    // Set once the phase has what it came for; a short tail follows so the last rotation's
    // effect on latency is measured too.
    let stop_at_ms = Arc::new(AtomicU64::new(u64::MAX));
    let mut workers = JoinSet::new();
    for (a, (api, whoami, _, _)) in setups.iter().enumerate() {
        for w in 0..pace.workers {
            let (api, whoami, stop_at_ms) = (api.clone(), whoami.clone(), stop_at_ms.clone());
            // Spread each arm's workers over the interval, the arms interleaved.
            let slot = (w * arms.len() + a) as f64 / (pace.workers * arms.len()) as f64;
            let first = tokio::time::Instant::now() + pace.interval.mul_f64(slot);
            workers.spawn(async move {
                let mut latencies = Vec::new();
                let mut failed = 0;
                let mut ticks = tokio::time::interval_at(first, pace.interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    let elapsed_ms =
                        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    if elapsed_ms >= stop_at_ms.load(Ordering::SeqCst)
                        || started.elapsed() > deadline
                    {
                        break;
                    }
                    let sent = Instant::now();
                    let ok = get(api.clone(), &whoami).await;
                    latencies.push(sent.elapsed());
                    failed += usize::from(!ok);
                }
                (a, latencies, failed)
            });
        }
    }
    let tail = Duration::from_millis(500);
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let elapsed = started.elapsed();
        if last.provider.token_fetches() - calls_before >= token_calls || elapsed > deadline {
            let stop_ms = u64::try_from((elapsed + tail).as_millis()).unwrap_or(u64::MAX);
            stop_at_ms.store(stop_ms, Ordering::SeqCst);
            break;
        }
    }
    let mut results = vec![Latencies::default(); arms.len()];
    let hard_stop = tokio::time::Instant::now() + tail + REQUEST_TIMEOUT + Duration::from_secs(1);
    while let Ok(Some(joined)) = tokio::time::timeout_at(hard_stop, workers.join_next()).await {
        if let Ok((a, latencies, failed)) = joined {
            results[a].sorted.extend(latencies);
            results[a].failed += failed;
        }
    }
    workers.abort_all();
    for (result, (arm, (_, _, observed, before))) in
        results.iter_mut().zip(arms.iter().zip(&setups))
    {
        result.sorted.sort_unstable();
        result.awaited = observed.awaited() - before.0;
        result.token_calls = arm.provider.token_fetches() - before.1;
    }
    if started.elapsed() > deadline {
        return Err(format!(
            "the phase hit its {deadline:?} deadline after {} of {token_calls} token calls",
            last.provider.token_fetches() - calls_before
        )
        .into());
    }
    Ok(results)
}

/// P4: requests per second through `service` with `concurrency` tasks for `duration` (each
/// task also stops after `max_requests / concurrency` requests, so a run is bounded in count),
/// and how many requests completed.
pub(crate) async fn throughput<S>(
    service: S,
    url: &str,
    concurrency: usize,
    duration: Duration,
    max_requests: usize,
) -> Result<(f64, usize), BoxError>
where
    S: Service<Request<Full<Bytes>>, Response = Response<Bytes>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    let per_task = max_requests.div_ceil(concurrency);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (service, url) = (service.clone(), url.to_owned());
        tasks.spawn(async move {
            let (mut ok, mut failed) = (0usize, 0usize);
            while started.elapsed() < duration && ok + failed < per_task {
                if get(service.clone(), &url).await {
                    ok += 1;
                } else {
                    failed += 1;
                }
            }
            (ok, failed)
        });
    }
    let (mut ok, mut failed) = (0, 0);
    let hard_stop = tokio::time::Instant::now() + duration + REQUEST_TIMEOUT * 2;
    while let Ok(Some(joined)) = tokio::time::timeout_at(hard_stop, tasks.join_next()).await {
        let (o, f) = joined.unwrap_or((0, 1));
        ok += o;
        failed += f;
    }
    tasks.abort_all();
    let elapsed = started.elapsed();
    if failed > 0 {
        return Err(format!("{failed} of {} requests failed", ok + failed).into());
    }
    Ok((ok as f64 / elapsed.as_secs_f64(), ok))
}
