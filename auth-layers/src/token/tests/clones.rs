//! When `TokenService` clones the inner service: only for work after the call.

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use auth_core::{AccessToken, CachedTokenSource, StaticTokenSource};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use tower::{Layer, Service, ServiceExt};

use crate::{Origin, TokenLayer};

/// An always-OK inner service that counts how often it is cloned.
struct CountsClones(Arc<AtomicUsize>);

impl Clone for CountsClones {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, Ordering::SeqCst);
        Self(self.0.clone())
    }
}

impl Service<Request<Empty<Bytes>>> for CountsClones {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Empty<Bytes>>) -> Self::Future {
        std::future::ready(Ok(Response::new(())))
    }
}

/// Sends three requests for `uri` through `layer` over a [`CountsClones`]; returns the clones.
async fn clones_for(layer: TokenLayer<CachedTokenSource<StaticTokenSource>>, uri: &str) -> usize {
    let clones = Arc::new(AtomicUsize::new(0));
    let mut client = layer.layer(CountsClones(clones.clone()));
    for _ in 0..3 {
        let request = Request::get(uri).body(Empty::new()).expect("request");
        let response = client
            .ready()
            .await
            .expect("ready")
            .call(request)
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK);
    }
    clones.load(Ordering::SeqCst)
}

#[tokio::test]
async fn the_inner_service_is_cloned_only_for_work_after_the_call() {
    // A client such as hyper-util's is several reference counts to clone: a request with a
    // cached token that cannot be retried, or one passed through, needs no clone.
    let token = AccessToken::builder("cached")
        .expires_in(Duration::from_secs(3600))
        .build()
        .expect("token");
    let cached = || {
        let cache = CachedTokenSource::new(StaticTokenSource::new(token.clone()));
        cache.insert(token.clone());
        cache
    };
    let url = "https://api.example.com/v1";
    assert_eq!(clones_for(TokenLayer::new(cached()), url).await, 3, "retry");
    let no_retry = TokenLayer::new(cached()).retry_on_401(false);
    assert_eq!(clones_for(no_retry, url).await, 0, "no retry");
    let elsewhere = TokenLayer::new(cached())
        .restrict_to_origin(Origin::parse("https://other.example.com").expect("origin"));
    assert_eq!(clones_for(elsewhere, url).await, 0, "passed through");
    // Nothing cached: the ready service waits in the future for the token; the layer keeps a
    // clone. Once the token is cached, only the retry copy remains.
    let fetches = TokenLayer::new(CachedTokenSource::new(StaticTokenSource::new(
        token.clone(),
    )))
    .retry_on_401(false);
    assert_eq!(clones_for(fetches, url).await, 1, "first request fetches");
}
