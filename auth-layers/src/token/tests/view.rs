//! The service's [`TokenView`](auth_core::TokenView) on a multi-thread runtime, where the cache's
//! generations are watched by a timer and the service reads no clock: it still follows every
//! change of the cache (a refresh, a 401's invalidation, an insert) on the next request.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use auth_core::{AccessToken, CacheConfig, CachedTokenSource, FnTokenSource, TokenSource};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{Empty, Full};
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

use super::{Api, authorization, numbered_source};
use crate::TokenLayer;

/// Sends `request` through `client` once it is ready; the response's status.
async fn send<S, B>(client: &mut S, request: Request<B>) -> StatusCode
where
    S: Service<Request<B>, Response = Response<()>>,
    S::Error: std::fmt::Debug,
{
    let ready = client.ready().await.expect("ready");
    ready.call(request).await.expect("response").status()
}

/// Whether the cache's generation is watched by a timer (odd; see `auth_core::view`).
fn watched(source: &impl TokenSource) -> bool {
    source.generation().is_some_and(|g| g % 2 == 1)
}

/// When each request arrived, and the `Authorization` header it carried.
type Seen = Arc<Mutex<Vec<(Instant, String)>>>;

/// An API that accepts every request and records the token each one carried.
fn recording() -> (
    impl Service<Request<Empty<Bytes>>, Response = Response<()>, Error = std::convert::Infallible>
    + Clone,
    Seen,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let api = service_fn(move |req: Request<Empty<Bytes>>| {
        let token = authorization(&req);
        log.lock().expect("lock").push((Instant::now(), token));
        async { Ok::<_, std::convert::Infallible>(Response::new(())) }
    });
    (api, seen)
}

/// Requests every 50 ms through one service, across a token's refresh: the service answers
/// from its watched lease, then (once the timer has ended it) reads the clock, starts the
/// background refresh in the refresh window (not at the timer), and moves to the new token with
/// no request carrying the old one past the point it is no longer handed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_follows_the_cache_through_a_refresh_under_a_watched_generation() {
    let life = Duration::from_secs(3);
    let lead = Duration::from_secs(1);
    let starts = Arc::new(Mutex::new(Vec::new()));
    let recorded = starts.clone();
    let counter = Arc::new(AtomicUsize::new(0));
    let grant = FnTokenSource::new(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        recorded.lock().expect("lock").push(Instant::now());
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            AccessToken::builder(format!("t{n}"))
                .expires_in(life)
                .build()
        }
    });
    let cache = CachedTokenSource::with_config(grant, CacheConfig::default().refresh_before(lead));
    let first = cache.token().await.expect("first token");
    let expiry = first.expires_at().expect("expiry");
    assert!(watched(&cache), "the fetch stored a watched generation");
    let (api, seen) = recording();
    let mut client = ServiceBuilder::new()
        .layer(TokenLayer::new(cache.clone()))
        .service(api);
    let stop = expiry + Duration::from_millis(500);
    while Instant::now() < stop {
        assert_eq!(
            send(&mut client, Request::new(Empty::new())).await,
            StatusCode::OK
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = seen.lock().expect("lock").clone();
    let starts = starts.lock().expect("lock").clone();
    assert_eq!(starts.len(), 2, "one refresh: {starts:?}");
    // The refresh window opens `lead` (jittered earlier by up to a quarter) before expiry; the
    // timer fired a second before that and started nothing.
    assert!(
        starts[1] >= expiry - lead - lead / 4,
        "refresh started {:?} before expiry",
        expiry - starts[1]
    );
    // `skew` is capped at half the lead: the old token is not handed out in the last 500 ms.
    let stale_at = expiry - lead / 2;
    for (at, token) in &seen {
        if token == "Bearer t1" {
            assert!(*at < stale_at, "t1 sent {:?} before expiry", expiry - *at);
        } else {
            assert_eq!(token, "Bearer t2");
        }
    }
    assert!(seen.iter().any(|(_, t)| t == "Bearer t2"), "moved to t2");
}

/// A 401 under a watched lease: the retry carries a new token, and the next requests through
/// the same service carry it too, with no further fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_401_the_same_service_keeps_the_new_token() {
    let (source, fetches) = numbered_source();
    source.token().await.expect("t1");
    assert!(watched(&source));
    let api = Api::new("t2");
    let mut client = ServiceBuilder::new()
        .layer(TokenLayer::new(source.clone()))
        .service(api.service::<Full<Bytes>>());
    for _ in 0..3 {
        let request = Request::new(Full::new(Bytes::from_static(b"x")));
        assert_eq!(send(&mut client, request).await, StatusCode::OK);
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "t1, then t2 for the retry"
    );
    assert_eq!(api.calls(), 4, "one rejected, three accepted");
}

/// A token put into the cache reaches every clone of the service on its next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inserted_token_reaches_every_clone_of_the_service_at_once() {
    let (source, _fetches) = numbered_source();
    source.token().await.expect("t1");
    let (api, seen) = recording();
    let mut first = ServiceBuilder::new()
        .layer(TokenLayer::new(source.clone()))
        .service(api);
    send(&mut first, Request::new(Empty::new())).await;
    let mut second = first.clone();
    source.insert(
        AccessToken::builder("inserted")
            .expires_in(Duration::from_secs(3600))
            .build()
            .expect("token"),
    );
    assert!(watched(&source));
    for client in [&mut first, &mut second] {
        send(client, Request::new(Empty::new())).await;
    }
    let tokens: Vec<String> = seen
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, t)| t.clone())
        .collect();
    assert_eq!(tokens, ["Bearer t1", "Bearer inserted", "Bearer inserted"]);
}
