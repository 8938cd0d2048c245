//! The response future of [`AddCredential`](crate::AddCredential): turns a 401/403 into a typed
//! [`AuthError`] that says what the request carried.
//!
//! When the server answers 401 or 403, the future inserts an [`AuthError`] into the response's
//! extensions, built with [`AuthError::from_response`] and a detail such as "the request carried
//! a bearer token in the `Authorization` header with prefix `Bearer`", never the secret. Any
//! other response passes through untouched and without allocation. [`TokenLayer`](crate::TokenLayer)
//! attaches the same error from its own future.
//!
//! ```
//! use auth_core::{AuthError, ErrorKind};
//! use auth_layers::BearerLayer;
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let api = ServiceBuilder::new()
//!     .layer(BearerLayer::new("expired-token")?)
//!     .service(service_fn(|_req: Request<String>| async {
//!         // stands in for a real client talking to a server that rejects the token
//!         let mut response = Response::new(String::new());
//!         *response.status_mut() = StatusCode::UNAUTHORIZED;
//!         Ok::<_, std::convert::Infallible>(response)
//!     }));
//!
//! let response = api.oneshot(Request::new(String::new())).await?;
//! let error = response.extensions().get::<AuthError>().expect("401 carries an AuthError");
//! assert_eq!(error.kind(), ErrorKind::Unauthorized);
//! assert!(error.to_string().contains("a bearer token in the `Authorization` header"));
//! # Ok(()) }
//! ```

use std::{
    collections::BTreeSet,
    fmt,
    future::Future,
    pin::Pin,
    sync::{Mutex, PoisonError},
    task::{Context, Poll},
};

use auth_core::AuthError;
use http::{Response, StatusCode};
use pin_project_lite::pin_project;

use crate::{BoxError, placement::Rejection};

pin_project! {
    /// Response future of [`AddCredential`](crate::AddCredential): the inner service's future,
    /// plus the description of what the request carried, attached as an [`AuthError`] to a 401
    /// or 403; or the error for a request the credential could not be added to (a URI that
    /// takes no query parameter).
    ///
    /// If the response already carries an [`AuthError`] (an inner auth layer put it there), it
    /// is kept: the layer closest to the wire knows best what was sent. A request the layer
    /// passed through without its credential (another [origin](crate::origin)) has no
    /// description, and its response is returned untouched.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F> {
        Called { #[pin] inner: F, detail: Option<Detail> },
        Rejected { rejection: Rejection },
    }
}

impl<F> ResponseFuture<F> {
    /// The call for a request that carries the credential `detail` describes.
    #[inline]
    pub(crate) fn new(inner: F, detail: Detail) -> Self {
        Self {
            state: State::Called {
                inner,
                detail: Some(detail),
            },
        }
    }

    /// The call for a request the layer passed through without its credential.
    #[inline]
    pub(crate) fn passed_through(inner: F) -> Self {
        Self {
            state: State::Called {
                inner,
                detail: None,
            },
        }
    }

    /// A request the credential could not be added to: fails, never sent.
    pub(crate) fn rejected(rejection: Rejection) -> Self {
        Self {
            state: State::Rejected { rejection },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<B>, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (inner, detail) = match self.project().state.project() {
            StateProj::Called { inner, detail } => (inner, detail),
            StateProj::Rejected { rejection } => {
                return Poll::Ready(Err(rejection.into_error().into()));
            }
        };
        // Looked at in place: the response is not moved out and back (it is large).
        let mut poll = inner.poll(cx);
        if let Poll::Ready(Ok(response)) = &mut poll
            && matches!(
                response.status(),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            )
            && let Some(detail) = detail
        {
            attach_error(response, detail.as_str());
        }
        poll.map_err(Into::into)
    }
}

/// The rare path, kept out of line so the common one stays small.
#[cold]
#[inline(never)]
fn attach_error<B>(response: &mut Response<B>, detail: &str) {
    if let Some(error) = AuthError::from_response(response)
        && response.extensions().get::<AuthError>().is_none()
    {
        let error = error.with_detail(detail);
        response.extensions_mut().insert(error);
    }
}

/// What a request carried, in words, for the error attached to a 401/403. Built once when the
/// layer is built; a request copies a `&'static str`, so its future has no drop glue and touches
/// no reference count (measured: an `Arc<str>` here costs 17 instructions per request, about
/// 2% of `AddAuthorization`'s whole request).
///
/// The texts are interned: a process has a handful of distinct ones, one per configuration
/// (layers built per user or tenant share their template's texts). The interner is bounded
/// ([`MAX_INTERNED`] texts, a few hundred bytes each, for the process's lifetime); past the
/// bound a layer's detail falls back to a generic text rather than leaking more.
#[derive(Clone, Copy)]
pub(crate) struct Detail(&'static str);

/// How many distinct texts [`Detail::new`] keeps.
pub(crate) const MAX_INTERNED: usize = 1024;

/// The text of a layer built after the interner filled up.
const GENERIC: &str = "the request carried the layer's credential (its description was not kept: \
     this process built more than 1024 differently configured auth layers)";

impl Detail {
    /// A text built from the layer's configuration, [interned](Detail) (never a secret).
    pub(crate) fn new(text: String) -> Self {
        static INTERNED: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
        let mut interned = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = interned.get(text.as_str()) {
            return Detail(known);
        }
        if interned.len() >= MAX_INTERNED {
            return Detail(GENERIC);
        }
        let text: &'static str = Box::leak(text.into_boxed_str());
        interned.insert(text);
        Detail(text)
    }

    /// A fixed text.
    pub(crate) const fn fixed(text: &'static str) -> Self {
        Detail(text)
    }

    pub(crate) fn as_str(&self) -> &'static str {
        self.0
    }
}

impl fmt::Debug for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use auth_core::ErrorKind;
    use http::StatusCode;

    use super::*;

    async fn respond(status: StatusCode, detail: Detail) -> Response<()> {
        let mut response = Response::new(());
        *response.status_mut() = status;
        let inner = async move { Ok::<_, Infallible>(response) };
        ResponseFuture::new(inner, detail)
            .await
            .expect("infallible")
    }

    #[tokio::test]
    async fn success_passes_without_an_error_extension() {
        let response = respond(StatusCode::OK, Detail::fixed("x")).await;
        assert!(response.extensions().get::<AuthError>().is_none());
    }

    #[tokio::test]
    async fn forbidden_gets_the_error_with_the_detail() {
        let response = respond(StatusCode::FORBIDDEN, Detail::new("sent X".into())).await;
        let error = response.extensions().get::<AuthError>().expect("403 error");
        assert_eq!(error.kind(), ErrorKind::Forbidden);
        assert_eq!(error.detail(), Some("sent X"));
    }

    #[tokio::test]
    async fn an_error_from_an_inner_layer_is_kept() {
        let mut response = Response::new(());
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response
            .extensions_mut()
            .insert(AuthError::of_kind(ErrorKind::Unauthorized).with_detail("inner"));
        let inner = async move { Ok::<_, Infallible>(response) };
        let response = ResponseFuture::new(inner, Detail::fixed("outer"))
            .await
            .expect("infallible");
        let error = response.extensions().get::<AuthError>().expect("error");
        assert_eq!(error.detail(), Some("inner"));
    }

    #[test]
    fn equal_texts_are_kept_once() {
        let one = Detail::new("the request carried X".to_owned());
        let two = Detail::new("the request carried X".to_owned());
        assert_eq!(one.as_str(), "the request carried X");
        assert!(std::ptr::eq(one.as_str(), two.as_str()));
    }
}
