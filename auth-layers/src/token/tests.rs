//! Tests of [`TokenLayer`]: fast path, retry-on-401, replayability, and error surfacing.

use std::{
    convert::Infallible,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use auth_core::{
    AccessToken, AuthError, CachedTokenSource, ErrorKind, FnTokenSource, StaticTokenSource,
    TokenSource,
};
use bytes::Bytes;
use http::{Request, Response, StatusCode, header::WWW_AUTHENTICATE};
use http_body_util::{BodyExt, Empty, Full, StreamBody, combinators::BoxBody};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

use super::TokenLayer;
use crate::BoxError;

mod bound;
mod clones;
mod keyed;
mod origins;
mod query;
mod view;

/// The `Authorization` header `request` carries (empty when none).
fn authorization<B>(request: &Request<B>) -> String {
    request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A response with `status`.
fn answer(status: StatusCode) -> Response<()> {
    let mut response = Response::new(());
    *response.status_mut() = status;
    response
}

/// A source that hands out `t1`, `t2`, … and counts its fetches.
fn numbered_source() -> (
    CachedTokenSource<impl TokenSource + Clone>,
    Arc<AtomicUsize>,
) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let source = FnTokenSource::new(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            // A little latency so concurrent callers really overlap.
            tokio::time::sleep(Duration::from_millis(20)).await;
            AccessToken::builder(format!("t{n}"))
                .expires_in(Duration::from_secs(3600))
                .build()
        }
    });
    (CachedTokenSource::new(Arc::new(source)), fetches)
}

/// An API that accepts only `Bearer <valid>`, answers `status_for_others` otherwise, records the
/// bodies it saw and counts calls.
#[derive(Clone)]
struct Api {
    valid: &'static str,
    status_for_others: StatusCode,
    challenge: Option<&'static str>,
    calls: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<Bytes>>>,
}

impl Api {
    fn new(valid: &'static str) -> Self {
        Self {
            valid,
            status_for_others: StatusCode::UNAUTHORIZED,
            challenge: Some(r#"Bearer realm="api", error="invalid_token""#),
            calls: Arc::default(),
            bodies: Arc::default(),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn service<B>(
        &self,
    ) -> impl Service<Request<B>, Response = Response<()>, Error = Infallible, Future: Send>
    + Clone
    + use<B>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::fmt::Debug,
    {
        let api = self.clone();
        service_fn(move |req: Request<B>| {
            let api = api.clone();
            async move {
                api.calls.fetch_add(1, Ordering::SeqCst);
                let expected = format!("Bearer {}", api.valid);
                let ok = req
                    .headers()
                    .get("authorization")
                    .is_some_and(|v| v == expected.as_str());
                let body = req.into_body().collect().await.expect("body").to_bytes();
                api.bodies.lock().expect("lock").push(body);
                let mut response = Response::new(());
                if !ok {
                    *response.status_mut() = api.status_for_others;
                    if let Some(c) = api.challenge {
                        response
                            .headers_mut()
                            .insert(WWW_AUTHENTICATE, http::HeaderValue::from_static(c));
                    }
                }
                Ok::<_, Infallible>(response)
            }
        })
    }
}

fn boxed(bytes: &'static [u8]) -> BoxBody<Bytes, Infallible> {
    Full::new(Bytes::from_static(bytes)).boxed()
}

#[tokio::test]
async fn sends_the_cached_token_in_the_authorization_header() {
    let (source, fetches) = numbered_source();
    let api = Api::new("t1");
    let mut client = ServiceBuilder::new()
        .layer(TokenLayer::new(source))
        .service(api.service::<Empty<Bytes>>());
    for _ in 0..3 {
        let response = client
            .ready()
            .await
            .expect("ready")
            .call(Request::new(Empty::new()))
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    assert_eq!(api.calls(), 3);
}

#[tokio::test]
async fn injected_header_is_sensitive_and_replaces_an_existing_one() {
    let source = StaticTokenSource::new(AccessToken::bearer("abc").expect("token"));
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source))
        .service(service_fn(|req: Request<Empty<Bytes>>| async move {
            let values: Vec<_> = req.headers().get_all("authorization").iter().collect();
            assert_eq!(values.len(), 1);
            assert_eq!(values[0], "Bearer abc");
            assert!(values[0].is_sensitive());
            Ok::<_, Infallible>(Response::new(()))
        }));
    let request = Request::builder()
        .header("authorization", "Bearer stale")
        .body(Empty::new())
        .expect("request");
    client.oneshot(request).await.expect("response");
}

#[tokio::test]
async fn keep_existing_leaves_a_caller_supplied_header_alone() {
    let source = StaticTokenSource::new(AccessToken::bearer("abc").expect("token"));
    let api = Api::new("mine");
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source).keep_existing())
        .service(api.service::<Empty<Bytes>>());
    let request = Request::builder()
        .header("authorization", "Bearer mine")
        .body(Empty::new())
        .expect("request");
    let response = client.clone().oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.extensions().get::<AuthError>().is_none());
    // Without a header of its own, the request gets the layer's token (which this API rejects).
    let response = client
        .oneshot(Request::new(Empty::new()))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api.calls(), 2);
}

#[tokio::test]
async fn custom_header_name_carries_the_token() {
    let source = StaticTokenSource::new(
        AccessToken::builder("abc")
            .header_prefix("")
            .build()
            .expect("token"),
    );
    let client = ServiceBuilder::new()
        .layer(TokenLayer::header("x-api-token", source).expect("valid name"))
        .service(service_fn(|req: Request<Empty<Bytes>>| async move {
            assert_eq!(req.headers()["x-api-token"], "abc");
            assert!(req.headers().get("authorization").is_none());
            Ok::<_, Infallible>(Response::new(()))
        }));
    client
        .oneshot(Request::new(Empty::new()))
        .await
        .expect("response");
    let err = TokenLayer::header(
        "bad header",
        StaticTokenSource::new(AccessToken::bearer("x").expect("token")),
    )
    .expect_err("invalid");
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn retries_once_on_401_with_a_fresh_token() {
    let (source, fetches) = numbered_source();
    let api = Api::new("t2");
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source))
        .service(api.service::<Full<Bytes>>());
    let request = Request::new(Full::new(Bytes::from_static(b"payload")));
    let response = client.oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    assert_eq!(api.calls(), 2);
    let bodies = api.bodies.lock().expect("lock").clone();
    assert_eq!(bodies, vec![Bytes::from_static(b"payload"); 2]);
}

#[tokio::test]
async fn a_second_401_is_returned_with_the_error_and_no_loop() {
    let (source, fetches) = numbered_source();
    let api = Api::new("never");
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source))
        .service(api.service::<Empty<Bytes>>());
    let response = client
        .oneshot(Request::new(Empty::new()))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api.calls(), 2);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    let error = response
        .extensions()
        .get::<AuthError>()
        .expect("error attached");
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert_eq!(
        error.challenge().and_then(|c| c.error.as_deref()),
        Some("invalid_token")
    );
    let text = error.to_string();
    assert!(
        text.contains("a freshly fetched token was rejected too"),
        "{text}"
    );
    assert!(text.contains("hint:"), "{text}");
    assert!(!text.contains("t1") && !text.contains("t2"), "{text}");
}

#[tokio::test]
async fn never_retries_a_403() {
    let (source, fetches) = numbered_source();
    let mut api = Api::new("never");
    api.status_for_others = StatusCode::FORBIDDEN;
    api.challenge = Some(r#"Bearer error="insufficient_scope", scope="admin""#);
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source))
        .service(api.service::<Empty<Bytes>>());
    let response = client
        .oneshot(Request::new(Empty::new()))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(api.calls(), 1);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    let error = response.extensions().get::<AuthError>().expect("error");
    assert_eq!(error.kind(), ErrorKind::Forbidden);
    assert!(error.hint().contains("scope"));
}

#[tokio::test]
async fn does_not_retry_a_401_that_blames_the_scope() {
    let (source, _) = numbered_source();
    let mut api = Api::new("never");
    api.challenge = Some(r#"Bearer error="insufficient_scope""#);
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source))
        .service(api.service::<Empty<Bytes>>());
    let response = client
        .oneshot(Request::new(Empty::new()))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api.calls(), 1);
}

#[tokio::test]
async fn small_boxed_bodies_are_buffered_and_replayed() {
    let (source, _) = numbered_source();
    let api = Api::new("t2");
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source))
        .service(api.service::<BoxBody<Bytes, Infallible>>());
    let response = client
        .oneshot(Request::new(boxed(b"{\"a\":1}")))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let bodies = api.bodies.lock().expect("lock").clone();
    assert_eq!(bodies, vec![Bytes::from_static(b"{\"a\":1}"); 2]);
}

#[tokio::test]
async fn bodies_over_the_replay_limit_are_sent_once_and_the_401_returned() {
    let (source, fetches) = numbered_source();
    let api = Api::new("t2");
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source).replay_buffer_limit(4))
        .service(api.service::<BoxBody<Bytes, Infallible>>());
    let response = client
        .oneshot(Request::new(boxed(b"too large")))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api.calls(), 1);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    let error = response.extensions().get::<AuthError>().expect("error");
    assert!(error.to_string().contains("could not be replayed"));
}

#[tokio::test]
async fn streaming_bodies_are_never_replayed() {
    let (source, _) = numbered_source();
    let api = Api::new("t2");
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source))
        .service(api.service::<BoxBody<Bytes, Infallible>>());
    let chunks = futures_stream(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
    let body = StreamBody::new(chunks).boxed();
    let response = client.oneshot(Request::new(body)).await.expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api.calls(), 1);
}

#[tokio::test]
async fn a_source_with_nothing_newer_returns_the_401_without_a_loop() {
    let source = StaticTokenSource::new(AccessToken::bearer("old").expect("token"));
    let api = Api::new("new");
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source))
        .service(api.service::<Empty<Bytes>>());
    let response = client
        .oneshot(Request::new(Empty::new()))
        .await
        .expect("the 401 itself is returned");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let error = response.extensions().get::<AuthError>().expect("error");
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert!(error.to_string().contains("no other token to offer"));
    assert_eq!(api.calls(), 1);
}

#[tokio::test]
async fn token_fetch_failures_surface_as_auth_errors() {
    let source = CachedTokenSource::new(FnTokenSource::new(|| async {
        Err::<AccessToken, _>(AuthError::from_oauth(
            "invalid_client",
            Some("unknown client"),
            Some(StatusCode::UNAUTHORIZED),
        ))
    }));
    let api = Api::new("t1");
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source))
        .service(api.service::<Empty<Bytes>>());
    let error: BoxError = client
        .oneshot(Request::new(Empty::new()))
        .await
        .expect_err("fetch fails");
    let error = error.downcast::<AuthError>().expect("AuthError");
    assert_eq!(error.kind(), ErrorKind::InvalidClient);
    assert_eq!(api.calls(), 0);
}

#[tokio::test]
async fn many_concurrent_401s_cause_one_refresh() {
    let (source, fetches) = numbered_source();
    let api = Api::new("t2");
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source.clone()))
        .service(api.service::<Empty<Bytes>>());
    // Warm the cache with t1, which the API rejects.
    source.token().await.expect("t1");
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.oneshot(Request::new(Empty::new())).await })
        })
        .collect();
    for task in tasks {
        let response = task.await.expect("join").expect("response");
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "one initial fetch, one refresh"
    );
}

#[tokio::test]
async fn retry_can_be_disabled() {
    let (source, _) = numbered_source();
    let api = Api::new("t2");
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source).retry_on_401(false))
        .service(api.service::<Empty<Bytes>>());
    let response = client
        .oneshot(Request::new(Empty::new()))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api.calls(), 1);
    let error = response.extensions().get::<AuthError>().expect("error");
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert_eq!(
        error.detail(),
        Some(
            "the request carried an access token in the `authorization` header; the request \
             could not be replayed (streaming or large body, or retry disabled), so it was not \
             retried with a fresh token"
        )
    );
}

fn futures_stream(
    chunks: Vec<Bytes>,
) -> impl futures_core::Stream<Item = Result<http_body::Frame<Bytes>, Infallible>> + Send + Sync + 'static
{
    struct Chunks(std::vec::IntoIter<Bytes>);
    impl futures_core::Stream for Chunks {
        type Item = Result<http_body::Frame<Bytes>, Infallible>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next().map(|b| Ok(http_body::Frame::data(b))))
        }
    }
    Chunks(chunks.into_iter())
}
