//! Which request bodies can be sent twice, for the one retry after a 401.

use std::convert::Infallible;

use auth_core::AuthError;
use bytes::Bytes;
use http::{Extensions, HeaderMap, Method, Request, Uri, Version};
use http_body::Body;
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody, combinators::UnsyncBoxBody};

use crate::BoxError;

#[cfg(feature = "tonic")]
mod grpc;

/// A request body that [`TokenLayer`](super::TokenLayer) may be able to replay once.
///
/// Bodies that can be copied cheaply (`Full<Bytes>`, `Empty<Bytes>`, `String`) are cloned before
/// the first attempt. Bodies that cannot be cloned but can be rebuilt from bytes (`BoxBody`,
/// `UnsyncBoxBody`) are buffered first when their size is known and within the layer's cap
/// (default 64 KiB). Bodies that know a replayable request when they see one read ahead
/// ([`read_ahead`](Self::read_ahead)): tonic's body (feature `tonic`) is read as far as it is
/// ready, and kept for a retry when it ended there as one gRPC message (a unary call). Anything
/// else (streaming bodies of unknown or larger size, `hyper::body::Incoming`) is sent once, and
/// a 401 is returned to the caller as it is.
///
/// Implement it for your own body type to make it replayable:
///
/// ```
/// use auth_layers::ReplayableBody;
/// # use bytes::Bytes; use std::{pin::Pin, task::{Context, Poll}}; use http_body::Frame;
/// #[derive(Clone)]
/// struct MyBody(Bytes);
/// # impl http_body::Body for MyBody {
/// #     type Data = Bytes; type Error = std::convert::Infallible;
/// #     fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> { Poll::Ready(None) }
/// # }
/// impl ReplayableBody for MyBody {
///     fn try_clone_body(&self) -> Option<Self> {
///         Some(self.clone())
///     }
/// }
/// ```
pub trait ReplayableBody: Body + Sized {
    /// Whether bodies of this type can be rebuilt with [`from_buffered`](Self::from_buffered).
    const CAN_BUFFER: bool = false;

    /// A copy for one retry, if it can be made without reading the body.
    fn try_clone_body(&self) -> Option<Self>;

    /// Rebuilds a body from its buffered bytes. Only called when [`CAN_BUFFER`](Self::CAN_BUFFER)
    /// is true.
    fn from_buffered(bytes: Bytes) -> Self {
        let _ = bytes;
        unreachable_buffering()
    }

    /// A copy for one retry, made by reading the body without waiting for it, at most `cap`
    /// bytes; called when neither [`try_clone_body`](Self::try_clone_body) nor buffering a body
    /// of known size applies. An implementation reads only what is ready now (it must never
    /// wait for the rest: a streaming call's next message may depend on the response) and
    /// leaves `self` sending the same bytes, read or not. Defaults to `None` without reading.
    fn read_ahead(&mut self, cap: usize) -> Option<Self> {
        let _ = cap;
        None
    }

    /// How a gRPC authentication failure that is not retried (status 16 or 7 in a
    /// trailers-only response) reaches the caller. `None` (the default) hands the response over
    /// with `error` in its extensions, as for HTTP. A client that reads the status from the
    /// response headers and drops the extensions needs an error instead: tonic's body returns
    /// a `tonic::Status` whose `source()` is the [`AuthError`]. `error` has the tokens the
    /// request sent cut out of the server's text already.
    fn grpc_failure(headers: &HeaderMap, error: &AuthError) -> Option<BoxError> {
        let _ = (headers, error);
        None
    }
}

#[cold]
fn unreachable_buffering() -> ! {
    // Proven invariant: TokenLayer checks CAN_BUFFER before calling from_buffered, and every
    // implementation that sets CAN_BUFFER overrides from_buffered.
    panic!("ReplayableBody::from_buffered called on a type with CAN_BUFFER = false")
}

impl ReplayableBody for Full<Bytes> {
    fn try_clone_body(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl ReplayableBody for Empty<Bytes> {
    fn try_clone_body(&self) -> Option<Self> {
        Some(*self)
    }
}

impl ReplayableBody for String {
    fn try_clone_body(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl<E: Send + Sync + 'static> ReplayableBody for BoxBody<Bytes, E> {
    const CAN_BUFFER: bool = true;

    fn try_clone_body(&self) -> Option<Self> {
        None
    }

    fn from_buffered(bytes: Bytes) -> Self {
        Full::new(bytes)
            .map_err(|never: Infallible| match never {})
            .boxed()
    }
}

impl<E: Send + 'static> ReplayableBody for UnsyncBoxBody<Bytes, E> {
    const CAN_BUFFER: bool = true;

    fn try_clone_body(&self) -> Option<Self> {
        None
    }

    fn from_buffered(bytes: Bytes) -> Self {
        Full::new(bytes)
            .map_err(|never: Infallible| match never {})
            .boxed_unsync()
    }
}

impl ReplayableBody for hyper::body::Incoming {
    fn try_clone_body(&self) -> Option<Self> {
        None
    }
}

/// How the body of one request will be replayed, decided before it is sent.
pub(crate) enum ReplayPlan {
    /// A copy is at hand.
    Copy,
    /// The body must be buffered first (known size within the cap, type can be rebuilt).
    Buffer,
    /// The body is sent once.
    Never,
}

pub(crate) fn plan<B: ReplayableBody>(body: &mut B, cap: usize) -> (ReplayPlan, Option<B>) {
    if let Some(copy) = body.try_clone_body() {
        return (ReplayPlan::Copy, Some(copy));
    }
    if B::CAN_BUFFER {
        let fits = body
            .size_hint()
            .upper()
            .is_some_and(|upper| upper <= cap as u64);
        if fits {
            return (ReplayPlan::Buffer, None);
        }
    }
    if let Some(copy) = body.read_ahead(cap) {
        return (ReplayPlan::Copy, Some(copy));
    }
    (ReplayPlan::Never, None)
}

/// The copy of a request kept for the one retry: its head field by field and a body. Not a
/// `Request`: building one builds a default URI and header map only to overwrite and drop
/// them, on every request that may be retried; the request is put together only when the
/// retry happens.
pub(super) struct Replay<B> {
    method: Method,
    pub(super) uri: Uri,
    version: Version,
    headers: HeaderMap,
    extensions: Extensions,
    body: B,
}

impl<B> Replay<B> {
    /// The head of `request`, with `body`.
    #[inline(always)]
    pub(super) fn copy(request: &Request<B>, body: B) -> Self {
        Self {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: request.headers().clone(),
            extensions: request.extensions().clone(),
            body,
        }
    }

    /// The request's extensions (a keyed layer finds the request's key there).
    pub(super) fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The request to send again.
    pub(super) fn into_request(self) -> Request<B> {
        let mut request = Request::new(self.body);
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers;
        *request.extensions_mut() = self.extensions;
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::StreamBody;

    #[test]
    fn cloneable_bodies_are_copied() {
        assert!(matches!(
            plan(&mut Full::new(Bytes::from_static(b"x")), 10).0,
            ReplayPlan::Copy
        ));
        assert!(matches!(
            plan(&mut Empty::<Bytes>::new(), 0).0,
            ReplayPlan::Copy
        ));
        assert!(matches!(
            plan(&mut String::from("x"), 0).0,
            ReplayPlan::Copy
        ));
    }

    #[test]
    fn boxed_bodies_are_buffered_only_within_the_cap() {
        let mut small: BoxBody<Bytes, Infallible> = Full::new(Bytes::from_static(b"12345")).boxed();
        assert!(matches!(plan(&mut small, 5).0, ReplayPlan::Buffer));
        assert!(matches!(plan(&mut small, 4).0, ReplayPlan::Never));
    }

    #[test]
    fn streaming_bodies_of_unknown_size_are_never_replayed() {
        let stream = futures_stream();
        let mut body: BoxBody<Bytes, Infallible> = StreamBody::new(stream).boxed();
        assert!(matches!(plan(&mut body, 1 << 20).0, ReplayPlan::Never));
    }

    fn futures_stream()
    -> impl futures_core::Stream<Item = Result<http_body::Frame<Bytes>, Infallible>>
    + Send
    + Sync
    + 'static {
        struct Once(Option<Bytes>);
        impl futures_core::Stream for Once {
            type Item = Result<http_body::Frame<Bytes>, Infallible>;
            fn poll_next(
                mut self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<Self::Item>> {
                std::task::Poll::Ready(self.0.take().map(|b| Ok(http_body::Frame::data(b))))
            }
        }
        Once(Some(Bytes::from_static(b"chunk")))
    }
}
