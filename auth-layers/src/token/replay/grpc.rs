//! tonic's request body (feature `tonic`): a unary call is replayed, a streaming call is not.
//!
//! tonic sends every call as one body type, boxed, without a size hint, and nothing in the
//! request says whether the call is unary. Its messages are framed (a flag byte, a four-byte
//! length, the bytes). A unary call's one message is encoded as soon as the body is polled, and
//! the body ends right after it; a client-streaming or bidi call's messages come from the
//! caller's stream, which may wait for the server's answer. So the body is read as far as it is
//! ready, never waiting, at most the replay cap: when it ended there as exactly one message (a
//! unary or server-streaming call), it is kept for the retry. Otherwise what was read is sent
//! first, then the rest of the body as it comes, and the call is not retried.

use std::{
    collections::VecDeque,
    mem,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use auth_core::AuthError;
use base64::{
    Engine as _, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::Full;
use tonic::{Code, Status, body::Body, metadata::MetadataMap};

use super::ReplayableBody;
use crate::BoxError;

/// `grpc-status-details-bin` is base64, with or without padding.
const DETAILS_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl ReplayableBody for Body {
    fn try_clone_body(&self) -> Option<Self> {
        None
    }

    fn read_ahead(&mut self, cap: usize) -> Option<Self> {
        // Polled without a task to wake: a body that is not ready registers a waker that does
        // nothing, and registers the real one when the client polls it again.
        let mut cx = Context::from_waker(Waker::noop());
        let mut read = VecDeque::new();
        let mut len = 0usize;
        let mut data_only = true;
        let end = loop {
            if len > cap {
                break End::Open;
            }
            match Pin::new(&mut *self).poll_frame(&mut cx) {
                Poll::Ready(None) => break End::Ended,
                Poll::Ready(Some(Ok(frame))) => {
                    match frame.data_ref() {
                        Some(data) => len += data.len(),
                        None => data_only = false,
                    }
                    read.push_back(frame);
                }
                Poll::Ready(Some(Err(status))) => break End::Failed(status),
                Poll::Pending => break End::Open,
            }
        };
        match end {
            End::Ended if data_only => {
                let mut bytes = BytesMut::with_capacity(len);
                for frame in read {
                    if let Ok(data) = frame.into_data() {
                        bytes.extend_from_slice(&data);
                    }
                }
                let bytes = bytes.freeze();
                let copy = one_message(&bytes).then(|| Body::new(Full::new(bytes.clone())));
                *self = Body::new(Full::new(bytes));
                copy
            }
            // Nothing read: the body is left as it was.
            End::Open if read.is_empty() => None,
            End::Open => {
                let rest = Some(mem::take(self));
                *self = Body::new(ReadAhead {
                    read,
                    failed: None,
                    rest,
                });
                None
            }
            End::Ended | End::Failed(_) => {
                let failed = match end {
                    End::Failed(status) => Some(status),
                    _ => None,
                };
                *self = Body::new(ReadAhead {
                    read,
                    failed,
                    rest: None,
                });
                None
            }
        }
    }

    fn grpc_failure(headers: &HeaderMap, error: &AuthError) -> Option<BoxError> {
        // The status tonic's client would have read from these headers, with the `AuthError`
        // (which has the tokens the request sent cut out of the message) as its source.
        let code = Code::from(i32::try_from(error.grpc_status()?).ok()?);
        let message = error
            .provider()
            .and_then(|p| p.description.clone())
            .unwrap_or_default();
        let mut metadata = headers.clone();
        metadata.remove("grpc-status");
        metadata.remove("grpc-message");
        let details = metadata
            .remove("grpc-status-details-bin")
            .and_then(|v| DETAILS_BASE64.decode(v.as_bytes()).ok())
            .map(Bytes::from)
            .unwrap_or_default();
        let mut status = Status::with_details_and_metadata(
            code,
            message,
            details,
            MetadataMap::from_headers(metadata),
        );
        status.set_source(Arc::new(error.clone()));
        Some(Box::new(status))
    }
}

/// How far reading ahead got.
enum End {
    /// The body ended.
    Ended,
    /// The body is not ready for more, or more than the cap was read.
    Open,
    /// The body failed (it is not polled again).
    Failed(Status),
}

/// Whether `bytes` is exactly one gRPC message, what a unary call sends: a compression flag, the
/// length (big-endian `u32`), then that many bytes.
fn one_message(bytes: &[u8]) -> bool {
    match bytes {
        [_, a, b, c, d, rest @ ..] => {
            usize::try_from(u32::from_be_bytes([*a, *b, *c, *d])).is_ok_and(|n| n == rest.len())
        }
        _ => false,
    }
}

/// A body read ahead without reaching its end: the frames read, then the body's failure or
/// the rest of it.
struct ReadAhead {
    read: VecDeque<Frame<Bytes>>,
    failed: Option<Status>,
    rest: Option<Body>,
}

impl http_body::Body for ReadAhead {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if let Some(frame) = self.read.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        if let Some(status) = self.failed.take() {
            return Poll::Ready(Some(Err(status)));
        }
        match &mut self.rest {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.read.is_empty()
            && self.failed.is_none()
            && self
                .rest
                .as_ref()
                .is_none_or(<Body as http_body::Body>::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let read = self
            .read
            .iter()
            .filter_map(Frame::data_ref)
            .map(|data| data.len() as u64)
            .sum::<u64>();
        let rest = match &self.rest {
            Some(rest) => <Body as http_body::Body>::size_hint(rest),
            None => SizeHint::with_exact(0),
        };
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(read));
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(read));
        }
        hint
    }
}

#[cfg(test)]
mod tests;
