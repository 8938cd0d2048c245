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
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use auth_core::AuthError;
use http::{Response, StatusCode};
use pin_project_lite::pin_project;

use crate::BoxError;

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
        Rejected { error: AuthError },
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

    /// A request the credential could not be added to: fails with `error`, never sent.
    pub(crate) fn rejected(error: AuthError) -> Self {
        Self {
            state: State::Rejected { error },
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
            // A clone (one `Arc`) rather than a take, so polling again cannot panic.
            StateProj::Rejected { error } => return Poll::Ready(Err(error.clone().into())),
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
/// layer is built. The texts of the default configurations are constants, so their requests
/// copy a pointer; any other text is shared, and a request touches its reference count.
#[derive(Clone)]
pub(crate) enum Detail {
    Static(&'static str),
    Shared(Arc<str>),
}

/// Texts that default configurations produce: [`Detail::new`] turns them into constants.
const KNOWN: &[&str] = &[
    crate::bearer::SENT_DEFAULT,
    crate::basic::SENT,
    crate::none::SENT,
    crate::credential::KEPT_AUTHORIZATION,
    crate::token::CARRIED_DEFAULT,
];

impl Detail {
    /// A text built from the layer's configuration.
    pub(crate) fn new(text: String) -> Self {
        match KNOWN.iter().find(|known| **known == text) {
            Some(known) => Detail::Static(known),
            None => Detail::Shared(text.into()),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            Detail::Static(text) => text,
            Detail::Shared(text) => text,
        }
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
        let response = respond(StatusCode::OK, Detail::Static("x")).await;
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
        let response = ResponseFuture::new(inner, Detail::Static("outer"))
            .await
            .expect("infallible");
        let error = response.extensions().get::<AuthError>().expect("error");
        assert_eq!(error.detail(), Some("inner"));
    }

    #[test]
    fn default_texts_are_constants_and_others_are_shared() {
        assert!(matches!(
            Detail::new(crate::basic::SENT.to_owned()),
            Detail::Static(_)
        ));
        let custom = Detail::new("the request carried X".to_owned());
        assert!(matches!(custom, Detail::Shared(_)));
        assert_eq!(custom.as_str(), "the request carried X");
    }
}
