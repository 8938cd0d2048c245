//! When the `Token` service clones the inner service: once when layered (the spare a retry clones),
//! then only for a request that must wait (for its token) or that is retried.

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use auth_core::{AccessToken, CachedTokenSource, StaticTokenSource, TokenSource};
use bytes::Bytes;
use http::{Request, Response, StatusCode, header::WWW_AUTHENTICATE};
use http_body_util::Empty;
use tower::{Layer, Service, ServiceExt};

use super::numbered_source;
use crate::{Origin, TokenLayer};

/// An inner service that counts how often it is cloned; it rejects call number `reject`
/// (from 0), if any, with a 401 for an expired token, and answers 200 otherwise.
struct CountsClones {
    clones: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
    reject: Option<usize>,
}

impl Clone for CountsClones {
    fn clone(&self) -> Self {
        self.clones.fetch_add(1, Ordering::SeqCst);
        Self {
            clones: self.clones.clone(),
            calls: self.calls.clone(),
            reject: self.reject,
        }
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
        let mut response = Response::new(());
        if Some(self.calls.fetch_add(1, Ordering::SeqCst)) == self.reject {
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                http::HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
        }
        std::future::ready(Ok(response))
    }
}

/// Sends three requests for `uri` through `layer` over a [`CountsClones`] that rejects call
/// `reject`; returns the clones made while sending (not the one made by `layer`).
async fn clones_for<T>(layer: TokenLayer<T>, uri: &str, reject: Option<usize>) -> usize
where
    T: TokenSource + Clone + 'static,
{
    let clones = Arc::new(AtomicUsize::new(0));
    let inner = CountsClones {
        clones: clones.clone(),
        calls: Arc::default(),
        reject,
    };
    let mut client = layer.layer(inner);
    assert_eq!(clones.swap(0, Ordering::SeqCst), 1, "the spare");
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
async fn the_inner_service_is_cloned_only_for_a_fetch_or_a_retry() {
    // A client such as hyper-util's is several reference counts to clone, contended between
    // cores: a request with a cached token needs no clone, retry or not.
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
    assert_eq!(
        clones_for(TokenLayer::new(cached()), url, None).await,
        0,
        "retry on"
    );
    let no_retry = TokenLayer::new(cached()).retry_on_401(false);
    assert_eq!(clones_for(no_retry, url, None).await, 0, "retry off");
    let elsewhere = TokenLayer::new(cached())
        .restrict_to_origin(Origin::parse("https://other.example.com").expect("origin"));
    assert_eq!(clones_for(elsewhere, url, None).await, 0, "passed through");
    // Nothing cached: the ready service waits in the future for the token, and the layer
    // keeps a clone (tower's pattern); the next requests find the token cached.
    let empty = CachedTokenSource::new(StaticTokenSource::new(token.clone()));
    assert_eq!(
        clones_for(TokenLayer::new(empty), url, None).await,
        1,
        "fetch"
    );
    // The second request (cached `t1`) gets a 401: its retry clones the spare, after the
    // first request's fetch cloned once.
    let (numbered, fetches) = numbered_source();
    assert_eq!(
        clones_for(TokenLayer::new(numbered), url, Some(1)).await,
        2,
        "retry"
    );
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "t1, then t2 for the retry"
    );
}
