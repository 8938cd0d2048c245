//! gRPC through `TokenLayer` on a tonic `Channel`, against tonic's own server on 127.0.0.1 that
//! expires tokens: UNAUTHENTICATED heals with one retry for unary calls, PERMISSION_DENIED and
//! streaming calls are never retried, and every failure carries the `AuthError`.
#![cfg(feature = "grpc")]

use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::{Buf, BufMut, Bytes};
use tokio::sync::oneshot;
use tonic::{
    Code, Status,
    body::Body,
    client::Grpc,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    server::NamedService,
    transport::{Channel, Endpoint, Server, server::TcpIncoming},
};
use tower::{ServiceBuilder, service_fn};
use tower_auth::{AccessToken, AuthError, CachedTokenSource, ErrorKind, FnTokenSource, TokenLayer};

/// How long the server accepts a token; the token says it lives an hour, so the client keeps
/// using it until the server rejects it.
const SERVER_VALIDITY: Duration = Duration::from_millis(250);
const ECHO: &str = "/test.Echo/Echo";
const DENIED: &str = "/test.Echo/Denied";
const ALWAYS_UNAUTHENTICATED: &str = "/test.Echo/Unauthenticated";
const COLLECT: &str = "/test.Echo/Collect";

/// Messages are raw bytes: no protobuf, no code generation.
#[derive(Debug, Clone, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// What the server saw.
#[derive(Default)]
struct Seen {
    /// Issued token → when; filled by the token source.
    issued: Mutex<HashMap<String, Instant>>,
    /// Every call, by path, with the token it carried and whether it was let in.
    calls: Mutex<Vec<(String, String, bool)>>,
    fetches: AtomicUsize,
}

impl Seen {
    fn calls_to(&self, path: &str) -> Vec<(String, bool)> {
        let calls = self.calls.lock().expect("not poisoned");
        calls
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, token, ok)| (token.clone(), *ok))
            .collect()
    }
}

/// The gRPC service, written by hand as tonic's generated code would be.
#[derive(Clone)]
struct EchoServer(Arc<Seen>);

impl NamedService for EchoServer {
    const NAME: &'static str = "test.Echo";
}

impl tower::Service<http::Request<Body>> for EchoServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let seen = self.0.clone();
        Box::pin(async move {
            let path = request.uri().path().to_owned();
            let token = request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default()
                .to_owned();
            let valid = seen
                .issued
                .lock()
                .expect("not poisoned")
                .get(&token)
                .is_some_and(|at| at.elapsed() < SERVER_VALIDITY);
            let admitted = valid && path != ALWAYS_UNAUTHENTICATED && path != DENIED;
            seen.calls
                .lock()
                .expect("not poisoned")
                .push((path.clone(), token.clone(), admitted));
            if !valid || path == ALWAYS_UNAUTHENTICATED {
                let message = format!("token {token} expired");
                return Ok(Status::unauthenticated(message).into_http());
            }
            if path == DENIED {
                return Ok(Status::permission_denied("not for you").into_http());
            }
            let mut grpc = tonic::server::Grpc::new(RawCodec);
            Ok(match path.as_str() {
                ECHO => {
                    let echo = service_fn(|req: tonic::Request<Bytes>| async move {
                        Ok::<_, Status>(tonic::Response::new(req.into_inner()))
                    });
                    grpc.unary(echo, request).await
                }
                COLLECT => {
                    let collect =
                        service_fn(|req: tonic::Request<tonic::Streaming<Bytes>>| async move {
                            let mut stream = req.into_inner();
                            let mut all = Vec::new();
                            while let Some(chunk) = stream.message().await? {
                                all.extend_from_slice(&chunk);
                            }
                            Ok::<_, Status>(tonic::Response::new(Bytes::from(all)))
                        });
                    grpc.client_streaming(collect, request).await
                }
                _ => Status::unimplemented(path).into_http(),
            })
        })
    }
}

struct Harness {
    seen: Arc<Seen>,
    client: Grpc<tower_auth::layers::Token<Channel, CachedTokenSource<Source>>>,
    _stop: oneshot::Sender<()>,
}

type Source = FnTokenSource<Box<dyn Fn() -> TokenFut + Send + Sync>>;
type TokenFut = Pin<Box<dyn Future<Output = Result<AccessToken, AuthError>> + Send>>;

async fn start() -> Harness {
    let seen = Arc::new(Seen::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = Server::builder()
        .add_service(EchoServer(seen.clone()))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
            let _ = stopped.await;
        });
    tokio::spawn(server);

    let issuer = seen.clone();
    let fetch: Box<dyn Fn() -> TokenFut + Send + Sync> = Box::new(move || {
        let issuer = issuer.clone();
        Box::pin(async move {
            let n = issuer.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            let value = format!("tok-{n}");
            issuer
                .issued
                .lock()
                .expect("not poisoned")
                .insert(value.clone(), Instant::now());
            AccessToken::builder(value)
                .expires_in(Duration::from_secs(3600))
                .build()
        })
    });
    let tokens = CachedTokenSource::new(FnTokenSource::new(fetch));
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("a valid URI")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("the server accepts connections");
    let service = ServiceBuilder::new()
        .layer(TokenLayer::new(tokens))
        .service(channel);
    Harness {
        seen,
        client: Grpc::new(service),
        _stop: stop,
    }
}

impl Harness {
    async fn unary(&mut self, path: &'static str, message: &'static [u8]) -> Result<Bytes, Status> {
        self.client
            .ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let response = self
            .client
            .unary(
                tonic::Request::new(Bytes::from_static(message)),
                http::uri::PathAndQuery::from_static(path),
                RawCodec,
            )
            .await?;
        Ok(response.into_inner())
    }
}

/// The `AuthError` a failed call carries, as the source of tonic's `Status`.
fn auth_error(status: &Status) -> &AuthError {
    std::error::Error::source(status)
        .and_then(|s| s.downcast_ref::<AuthError>())
        .unwrap_or_else(|| panic!("no AuthError behind {status:?}"))
}

#[tokio::test]
async fn unary_calls_never_fail_over_token_expiries_with_one_retry_per_rejection() {
    let mut h = start().await;
    let started = Instant::now();
    let mut calls = 0;
    // Bounded: at most 200 calls or 10 s, and done once the server has expired 4 tokens.
    while calls < 200 && started.elapsed() < Duration::from_secs(10) {
        let answer = h.unary(ECHO, b"ping").await;
        assert_eq!(
            answer.ok(),
            Some(Bytes::from_static(b"ping")),
            "call {calls}"
        );
        calls += 1;
        let rejected = h.seen.calls_to(ECHO).iter().filter(|(_, ok)| !ok).count();
        if rejected >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at_server = h.seen.calls_to(ECHO);
    let rejected: Vec<usize> = (0..at_server.len()).filter(|&i| !at_server[i].1).collect();
    assert!(
        rejected.len() >= 4,
        "the server expired tokens {rejected:?}"
    );
    // Every call arrived once, plus one retry per rejection; every call succeeded.
    assert_eq!(at_server.len(), calls + rejected.len());
    assert_eq!(at_server.iter().filter(|(_, ok)| *ok).count(), calls);
    for i in rejected {
        // The retry came right after the rejection, with a token never sent before.
        let (expired, _) = &at_server[i];
        let (fresh, ok) = at_server.get(i + 1).expect("a retry follows a rejection");
        assert!(ok, "the retry with a fresh token was let in");
        assert_ne!(fresh, expired);
        assert!(!at_server[..=i].iter().any(|(t, _)| t == fresh));
    }
    // One token fetch for the first call and one per rejection.
    let rejections = at_server.len() - calls;
    assert_eq!(h.seen.fetches.load(Ordering::SeqCst), 1 + rejections);
}

#[tokio::test]
async fn permission_denied_is_never_retried_and_carries_the_auth_error() {
    let mut h = start().await;
    let status = h.unary(DENIED, b"x").await.expect_err("denied");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), "not for you");
    let error = auth_error(&status);
    assert_eq!(error.kind(), ErrorKind::Forbidden);
    assert_eq!(error.grpc_status(), Some(7));
    let shown = error.to_string();
    assert!(shown.contains("gRPC status 7"), "{shown}");
    assert!(
        shown.contains("not retried on PERMISSION_DENIED"),
        "{shown}"
    );
    assert_eq!(h.seen.calls_to(DENIED).len(), 1);
    assert_eq!(h.seen.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_unary_call_rejected_twice_returns_unauthenticated_with_the_token_redacted() {
    let mut h = start().await;
    let status = h
        .unary(ALWAYS_UNAUTHENTICATED, b"x")
        .await
        .expect_err("rejected");
    assert_eq!(status.code(), Code::Unauthenticated);
    // One retry with a fresh token, then the failure.
    let calls = h.seen.calls_to(ALWAYS_UNAUTHENTICATED);
    assert_eq!(calls.len(), 2);
    assert_ne!(calls[0].0, calls[1].0);
    let error = auth_error(&status);
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    let shown = error.to_string();
    assert!(
        shown.contains("a freshly fetched token was rejected too"),
        "{shown}"
    );
    // The server echoed the token in its message; the error and the status show it redacted.
    assert!(!shown.contains("tok-"), "{shown}");
    assert!(!status.message().contains("tok-"), "{}", status.message());
}

#[tokio::test]
async fn a_streaming_call_rejected_with_unauthenticated_is_not_retried() {
    let mut h = start().await;
    h.client.ready().await.expect("ready");
    // A client stream that stays open until the call returns: nothing may wait for its end.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    tx.send(Bytes::from_static(b"first")).expect("open");
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let path = http::uri::PathAndQuery::from_static(ALWAYS_UNAUTHENTICATED);
    let call = h
        .client
        .client_streaming(tonic::Request::new(stream), path, RawCodec);
    let status = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the call does not hang")
        .expect_err("rejected");
    drop(tx);
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(h.seen.calls_to(ALWAYS_UNAUTHENTICATED).len(), 1);
    assert_eq!(h.seen.fetches.load(Ordering::SeqCst), 1);
    let shown = auth_error(&status).to_string();
    assert!(shown.contains("could not be replayed"), "{shown}");

    // Several messages, all ready at once, are a streaming call too.
    h.client.ready().await.expect("ready");
    let three = futures_util::stream::iter(vec![
        Bytes::from_static(b"a"),
        Bytes::from_static(b"b"),
        Bytes::from_static(b"c"),
    ]);
    let path = http::uri::PathAndQuery::from_static(ALWAYS_UNAUTHENTICATED);
    let status = h
        .client
        .client_streaming(tonic::Request::new(three), path, RawCodec)
        .await
        .expect_err("rejected");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(h.seen.calls_to(ALWAYS_UNAUTHENTICATED).len(), 2);
}

#[tokio::test]
async fn a_streaming_call_with_a_valid_token_goes_through_whole() {
    let mut h = start().await;
    h.client.ready().await.expect("ready");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    tx.send(Bytes::from_static(b"one,")).expect("open");
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let path = http::uri::PathAndQuery::from_static(COLLECT);
    let call = h
        .client
        .client_streaming(tonic::Request::new(stream), path, RawCodec);
    // The second message is sent while the call is in flight.
    let send_later = async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        tx.send(Bytes::from_static(b"two")).expect("open");
    };
    let (response, ()) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(call, send_later)
    })
    .await
    .expect("the call ends");
    let response = response.expect("collected");
    assert_eq!(response.into_inner(), Bytes::from_static(b"one,two"));
    assert_eq!(h.seen.calls_to(COLLECT).len(), 1);
}
