//! gRPC with tonic: a `TokenLayer` in front of a tonic `Channel`.
//!
//! Starts a tonic server on 127.0.0.1 (an ephemeral port) that accepts a token for one second
//! only and answers UNAUTHENTICATED (gRPC status 16) after that, and a `Channel` with a
//! `TokenLayer` over a cached token source. Unary calls go on for three seconds: each rejection
//! is healed by one retry with a fresh token, so none fails. Then a call the server refuses with
//! PERMISSION_DENIED (7) shows the `AuthError` behind tonic's `Status`; it is not retried.
//! Messages are raw bytes (a hand-written codec), so there is no protobuf code generation.
//!
//! Run it with `cargo run --example grpc --features grpc`.
#![allow(clippy::print_stdout)]

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
use http::uri::PathAndQuery;
use tonic::{
    Status,
    body::Body,
    client::Grpc,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    server::NamedService,
    transport::{Endpoint, Server, server::TcpIncoming},
};
use tower::{BoxError, ServiceBuilder, service_fn};
use tower_auth::prelude::*;

/// How long the server accepts a token (the token itself says an hour).
const SERVER_VALIDITY: Duration = Duration::from_secs(1);

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let issued: Issued = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        Server::builder()
            .add_service(Greeter(issued.clone()))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    println!("tonic server on {addr}; it accepts a token for {SERVER_VALIDITY:?}");

    // Any TokenSource works here: an OAuth2Layer is a TokenLayer over OAuth 2.0 grants.
    let fetches = Arc::new(AtomicUsize::new(0));
    let source = CachedTokenSource::new(FnTokenSource::new({
        let (issued, fetches) = (issued.clone(), fetches.clone());
        move || {
            let n = fetches.fetch_add(1, Ordering::SeqCst) + 1;
            let value = format!("token-{n}");
            lock(&issued).insert(value.clone(), Instant::now());
            async move {
                AccessToken::builder(value)
                    .expires_in(Duration::from_secs(3600))
                    .build()
            }
        }
    }));

    // The layer goes between tonic's client and the Channel.
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let service = ServiceBuilder::new()
        .layer(TokenLayer::new(source))
        .service(channel);
    let mut client = Grpc::new(service);

    let started = Instant::now();
    let (mut ok, mut failed) = (0, 0);
    while started.elapsed() < Duration::from_secs(3) {
        client.ready().await?;
        let call = client.unary(
            tonic::Request::new(Bytes::from_static(b"world")),
            PathAndQuery::from_static("/demo.Greeter/Hello"),
            RawCodec,
        );
        match call.await {
            Ok(_) => ok += 1,
            Err(status) => {
                failed += 1;
                println!("failed: {status}");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fetched = fetches.load(Ordering::SeqCst);
    println!("{ok} unary calls succeeded, {failed} failed, {fetched} tokens fetched");

    client.ready().await?;
    let denied = client
        .unary(
            tonic::Request::new(Bytes::from_static(b"secrets")),
            PathAndQuery::from_static("/demo.Greeter/Admin"),
            RawCodec,
        )
        .await;
    let Err(status) = denied else {
        return Err("the admin call should have been refused".into());
    };
    let error = std::error::Error::source(&status).and_then(|e| e.downcast_ref::<AuthError>());
    println!("admin call: {:?} ({})", status.code(), status.message());
    match error {
        Some(error) => println!("  AuthError: {error}"),
        None => return Err("the status carries no AuthError".into()),
    }
    if failed > 0 || fetched < 2 {
        return Err("expected every call to succeed across at least one token expiry".into());
    }
    Ok(())
}

/// The tokens the server has seen issued, and when.
type Issued = Arc<Mutex<HashMap<String, Instant>>>;

fn lock(issued: &Issued) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
    issued
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A gRPC service written by hand: `Hello` echoes, `Admin` is refused, and a token is accepted
/// for `SERVER_VALIDITY` after it was issued.
#[derive(Clone)]
struct Greeter(Issued);

impl NamedService for Greeter {
    const NAME: &'static str = "demo.Greeter";
}

impl tower::Service<http::Request<Body>> for Greeter {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let token = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let valid = lock(&self.0)
            .get(token)
            .is_some_and(|at| at.elapsed() < SERVER_VALIDITY);
        if !valid {
            println!("  server: {token} expired -> UNAUTHENTICATED");
        }
        Box::pin(async move {
            Ok(match request.uri().path() {
                _ if !valid => Status::unauthenticated("token expired").into_http(),
                "/demo.Greeter/Admin" => Status::permission_denied("admins only").into_http(),
                "/demo.Greeter/Hello" => {
                    let hello = service_fn(|req: tonic::Request<Bytes>| async move {
                        let reply = [b"hello, ".as_slice(), &req.into_inner()].concat();
                        Ok::<_, Status>(tonic::Response::new(Bytes::from(reply)))
                    });
                    tonic::server::Grpc::new(RawCodec)
                        .unary(hello, request)
                        .await
                }
                path => Status::unimplemented(path.to_owned()).into_http(),
            })
        })
    }
}

/// Messages are raw bytes: no protobuf.
#[derive(Debug, Clone, Copy)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
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
