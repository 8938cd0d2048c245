//! Reading tonic's body ahead: one ready message is replayable, a stream is not, and the bytes
//! sent are the same either way.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
};

use http_body_util::{BodyExt, StreamBody};
use tokio::sync::mpsc;

use super::*;

/// `payload` framed as one gRPC message.
fn message(payload: &[u8]) -> Bytes {
    let mut framed = vec![0];
    framed.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    framed.extend_from_slice(payload);
    Bytes::from(framed)
}

/// A body whose frames come from a channel, as a streaming call's messages do.
struct Channel(mpsc::UnboundedReceiver<Bytes>);

impl futures_core::Stream for Channel {
    type Item = Result<Frame<Bytes>, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

fn streamed() -> (mpsc::UnboundedSender<Bytes>, Body) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, Body::new(StreamBody::new(Channel(rx))))
}

async fn bytes_of(body: Body) -> Bytes {
    body.collect().await.expect("a body").to_bytes()
}

#[tokio::test]
async fn one_ready_message_is_kept_for_a_retry() {
    let (tx, mut body) = streamed();
    tx.send(message(b"hello")).expect("open");
    drop(tx);
    let copy = body.read_ahead(1024).expect("a unary call is replayable");
    assert_eq!(bytes_of(body).await, message(b"hello"));
    assert_eq!(bytes_of(copy).await, message(b"hello"));
}

#[tokio::test]
async fn several_messages_are_a_streaming_call_and_are_not_replayed() {
    let (tx, mut body) = streamed();
    tx.send(message(b"one")).expect("open");
    tx.send(message(b"two")).expect("open");
    drop(tx);
    assert!(body.read_ahead(1024).is_none());
    let mut both = message(b"one").to_vec();
    both.extend_from_slice(&message(b"two"));
    assert_eq!(bytes_of(body).await, Bytes::from(both));
}

#[tokio::test]
async fn an_open_stream_is_not_waited_for_and_is_sent_whole() {
    let (tx, mut body) = streamed();
    tx.send(message(b"first")).expect("open");
    // The stream stays open: reading ahead returns at once, without a copy.
    assert!(body.read_ahead(1024).is_none());
    assert!(!body.is_end_stream());
    let later = tokio::spawn(async move {
        tx.send(message(b"second")).expect("open");
    });
    later.await.expect("sent");
    let mut frames = body;
    let first = frames.frame().await.expect("a frame").expect("data");
    assert_eq!(first.into_data().ok(), Some(message(b"first")));
    let second = frames.frame().await.expect("a frame").expect("data");
    assert_eq!(second.into_data().ok(), Some(message(b"second")));
    assert!(frames.frame().await.is_none());
}

#[tokio::test]
async fn a_message_larger_than_the_cap_is_not_replayed() {
    let (tx, mut body) = streamed();
    tx.send(message(&[7; 100])).expect("open");
    drop(tx);
    assert!(body.read_ahead(50).is_none());
    assert_eq!(bytes_of(body).await, message(&[7; 100]));
}

#[tokio::test]
async fn an_empty_body_is_not_a_unary_call() {
    let mut body = Body::empty();
    assert!(body.read_ahead(1024).is_none());
    assert!(body.is_end_stream());
}

#[test]
fn the_failure_is_the_status_tonic_would_read_with_the_auth_error_as_source() {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/grpc".parse().expect("valid"));
    headers.insert("grpc-status", "16".parse().expect("valid"));
    headers.insert("grpc-message", "token%20expired".parse().expect("valid"));
    headers.insert("x-request-id", "r-1".parse().expect("valid"));
    let error = AuthError::from_grpc_status(16, Some("token expired")).expect("an error");
    let failure = Body::grpc_failure(&headers, &error).expect("tonic gets an error");
    let status = failure.downcast::<Status>().expect("a tonic status");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "token expired");
    assert_eq!(
        status
            .metadata()
            .get("x-request-id")
            .map(|v| v.to_str().ok()),
        Some(Some("r-1"))
    );
    assert!(status.metadata().get("grpc-status").is_none());
    let source = std::error::Error::source(&*status).expect("the auth error");
    let auth = source.downcast_ref::<AuthError>().expect("an AuthError");
    assert_eq!(auth.grpc_status(), Some(16));
}
