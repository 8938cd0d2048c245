//! Bound tokens (DPoP) on the token layer: a proof on each request, a nonce challenge answered
//! once with the same token (not the 401 retry), bearer tokens untouched.

use std::{
    convert::Infallible,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use auth_core::{
    AccessToken, AuthError, CachedTokenSource, FnTokenSource, StaticTokenSource, TokenBinding,
};
use bytes::Bytes;
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri,
    header::WWW_AUTHENTICATE,
};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

use super::super::TokenLayer;

/// A binding whose proof is `METHOD URI nonce=N#K` (K counts proofs) and which keeps the
/// server's nonce, as DPoP does.
#[derive(Default)]
struct FakeBinding {
    nonce: Mutex<Option<String>>,
    proofs: AtomicUsize,
}

impl TokenBinding for FakeBinding {
    fn proof(&self, method: &Method, uri: &Uri) -> Result<(HeaderName, HeaderValue), AuthError> {
        let n = self.proofs.fetch_add(1, Ordering::SeqCst);
        let nonce = self.nonce.lock().expect("lock").clone().unwrap_or_default();
        let value =
            HeaderValue::try_from(format!("{method} {uri} nonce={nonce}#{n}")).expect("ascii");
        Ok((HeaderName::from_static("dpop"), value))
    }

    fn observe(&self, _uri: Option<&Uri>, status: StatusCode, headers: &HeaderMap) -> bool {
        let Some(nonce) = headers.get("dpop-nonce").and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let mut kept = self.nonce.lock().expect("lock");
        let fresh = kept.as_deref() != Some(nonce);
        *kept = Some(nonce.to_owned());
        fresh
            && status == StatusCode::UNAUTHORIZED
            && headers
                .get(WWW_AUTHENTICATE)
                .is_some_and(|v| v.to_str().unwrap_or_default().contains("use_dpop_nonce"))
    }

    fn scheme(&self) -> &'static str {
        "DPoP"
    }
}

fn bound(secret: &str, binding: &Arc<FakeBinding>) -> AccessToken {
    AccessToken::builder(secret.to_owned())
        .token_type("DPoP")
        .binding(binding.clone())
        .build()
        .expect("token")
}

/// What the API saw of each request: authorization, dpop, body.
type Seen = Arc<Mutex<Vec<(String, String, Bytes)>>>;

/// An API that wants `DPoP <valid>` with a proof carrying `nonce` (rotated by the test).
#[derive(Clone)]
struct DpopApi {
    valid: Arc<Mutex<String>>,
    nonce: Arc<Mutex<String>>,
    seen: Seen,
}

impl DpopApi {
    fn new(valid: &str, nonce: &str) -> Self {
        Self {
            valid: Arc::new(Mutex::new(valid.to_owned())),
            nonce: Arc::new(Mutex::new(nonce.to_owned())),
            seen: Seen::default(),
        }
    }

    fn calls(&self) -> usize {
        self.seen.lock().expect("lock").len()
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
                let (authorization, proof) = {
                    let headers = req.headers().clone();
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .map(|v| v.to_str().expect("ascii").to_owned())
                            .unwrap_or_default()
                    };
                    (header("authorization"), header("dpop"))
                };
                let body = req.into_body().collect().await.expect("body").to_bytes();
                api.seen
                    .lock()
                    .expect("lock")
                    .push((authorization.clone(), proof.clone(), body));
                let nonce = api.nonce.lock().expect("lock").clone();
                let valid = api.valid.lock().expect("lock").clone();
                let mut response = Response::new(());
                if !proof.contains(&format!("nonce={nonce}#")) {
                    *response.status_mut() = StatusCode::UNAUTHORIZED;
                    response.headers_mut().insert(
                        WWW_AUTHENTICATE,
                        HeaderValue::from_static(r#"DPoP error="use_dpop_nonce""#),
                    );
                    response
                        .headers_mut()
                        .insert("dpop-nonce", HeaderValue::try_from(nonce).expect("ascii"));
                } else if authorization != format!("DPoP {valid}") {
                    *response.status_mut() = StatusCode::UNAUTHORIZED;
                    response.headers_mut().insert(
                        WWW_AUTHENTICATE,
                        HeaderValue::from_static(r#"DPoP error="invalid_token""#),
                    );
                }
                Ok::<_, Infallible>(response)
            }
        })
    }
}

fn post(body: &'static [u8]) -> Request<BoxBody<Bytes, Infallible>> {
    Request::post("http://api.example/v1/items?page=2")
        .body(Full::new(Bytes::from_static(body)).boxed())
        .expect("request")
}

#[tokio::test]
async fn a_nonce_challenge_is_answered_with_the_same_token_and_a_fresh_proof() {
    let binding = Arc::new(FakeBinding::default());
    let fetches = Arc::new(AtomicUsize::new(0));
    let (counter, b) = (fetches.clone(), binding.clone());
    let source = CachedTokenSource::new(Arc::new(FnTokenSource::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        let token = bound("t1", &b);
        async move { Ok(token) }
    })));
    let api = DpopApi::new("t1", "n1");
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source))
        .service(api.service::<BoxBody<Bytes, Infallible>>());
    let response = client
        .clone()
        .oneshot(post(b"payload"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(api.calls(), 2, "the challenge, then the answer");
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "the token was not invalidated"
    );
    let seen = api.seen.lock().expect("lock").clone();
    for (authorization, proof, body) in &seen {
        assert_eq!(authorization, "DPoP t1");
        assert!(
            proof.starts_with("POST http://api.example/v1/items?page=2"),
            "{proof}"
        );
        assert_eq!(body.as_ref(), b"payload");
    }
    assert!(seen[0].1.contains("nonce=#0"), "{}", seen[0].1);
    assert!(seen[1].1.contains("nonce=n1#1"), "{}", seen[1].1);
    // The nonce is kept: the next request is accepted at once.
    let response = client
        .clone()
        .oneshot(post(b"again"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(api.calls(), 3);
    // The server rotates its nonce: one more challenge, answered.
    *api.nonce.lock().expect("lock") = "n2".to_owned();
    let response = client.oneshot(post(b"third")).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(api.calls(), 5);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn after_a_nonce_challenge_a_401_still_gets_its_retry_with_a_new_token() {
    let binding = Arc::new(FakeBinding::default());
    let fetches = Arc::new(AtomicUsize::new(0));
    let (counter, b) = (fetches.clone(), binding.clone());
    let source = CachedTokenSource::new(Arc::new(FnTokenSource::new(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        let token = bound(&format!("t{n}"), &b);
        async move { Ok(token) }
    })));
    // t1 is revoked: only t2 passes, and only with the nonce.
    let api = DpopApi::new("t2", "n1");
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source))
        .service(api.service::<BoxBody<Bytes, Infallible>>());
    let response = client.oneshot(post(b"payload")).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let seen = api.seen.lock().expect("lock").clone();
    let shown: Vec<(&str, bool)> = seen
        .iter()
        .map(|(a, p, _)| (a.as_str(), p.contains("nonce=n1")))
        .collect();
    assert_eq!(
        shown,
        [("DPoP t1", false), ("DPoP t1", true), ("DPoP t2", true)],
        "challenge, 401 for the revoked token, retry with the new one"
    );
    assert!(seen.iter().all(|(_, _, body)| body.as_ref() == b"payload"));
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_challenge_repeating_the_nonce_sent_is_not_answered_again() {
    let binding = Arc::new(FakeBinding::default());
    let source = StaticTokenSource::new(bound("t1", &binding));
    // A broken server: it challenges every request with the nonce `n1`, whatever it carries.
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source))
        .service(service_fn(
            move |_req: Request<BoxBody<Bytes, Infallible>>| {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut response = Response::new(());
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                response.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"DPoP error="use_dpop_nonce""#),
                );
                response
                    .headers_mut()
                    .insert("dpop-nonce", HeaderValue::from_static("n1"));
                async move { Ok::<_, Infallible>(response) }
            },
        ));
    let response = client.clone().oneshot(post(b"x")).await.expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.extensions().get::<AuthError>().is_some());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one answer to the challenge, no loop"
    );
    // The next request already carries n1: its challenge repeats it, and is not answered.
    let response = client.oneshot(post(b"y")).await.expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_body_that_cannot_be_replayed_learns_the_nonce_for_the_next_request() {
    let binding = Arc::new(FakeBinding::default());
    let source = StaticTokenSource::new(bound("t1", &binding));
    let api = DpopApi::new("t1", "n1");
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source).replay_buffer_limit(0))
        .service(api.service::<BoxBody<Bytes, Infallible>>());
    let stream = || {
        let chunks = super::futures_stream(vec![Bytes::from_static(b"streamed")]);
        Request::post("http://api.example/upload")
            .body(StreamBody::new(chunks).boxed())
            .expect("request")
    };
    let response = client.clone().oneshot(stream()).await.expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "not resent");
    assert!(response.extensions().get::<AuthError>().is_some());
    assert_eq!(api.calls(), 1);
    let response = client.oneshot(stream()).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK, "the nonce was kept");
    assert_eq!(api.calls(), 2);
}

#[tokio::test]
async fn a_bearer_token_gets_no_proof() {
    let source = StaticTokenSource::new(AccessToken::bearer("abc").expect("token"));
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source))
        .service(service_fn(|req: Request<Full<Bytes>>| async move {
            assert!(req.headers().get("dpop").is_none());
            assert_eq!(req.headers()["authorization"], "Bearer abc");
            Ok::<_, Infallible>(Response::new(()))
        }));
    client
        .oneshot(Request::new(Full::default()))
        .await
        .expect("response");
}

#[tokio::test]
async fn with_retrying_off_a_nonce_challenge_is_still_answered_but_a_401_is_not_retried() {
    let binding = Arc::new(FakeBinding::default());
    let fetches = Arc::new(AtomicUsize::new(0));
    let (counter, b) = (fetches.clone(), binding.clone());
    let source = CachedTokenSource::new(Arc::new(FnTokenSource::new(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        let token = bound(&format!("t{n}"), &b);
        async move { Ok(token) }
    })));
    let api = DpopApi::new("t1", "n1");
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source).retry_on_401(false))
        .service(api.service::<BoxBody<Bytes, Infallible>>());
    let response = client.clone().oneshot(post(b"x")).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(api.calls(), 2, "the challenge, then the answer");
    // t1 revoked: a 401 goes to the caller, no retry with a new token.
    *api.valid.lock().expect("lock") = "t2".to_owned();
    let response = client.oneshot(post(b"y")).await.expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api.calls(), 3);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}
