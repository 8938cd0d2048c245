//! What the static-credential layers share: putting a credential in a header, and turning a
//! 401/403 into a typed [`AuthError`] that says what the request carried.
//!
//! Every layer of this crate returns (or wraps) [`ResponseFuture`]. When the server answers
//! 401 or 403, the future inserts an [`AuthError`] into the response's extensions, built with
//! [`AuthError::from_response`] and a detail such as "the request carried a bearer token in the
//! `Authorization` header with prefix `Bearer`", never the secret. Any other response passes
//! through untouched and without allocation.
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
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
};

use auth_core::AuthError;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header::AUTHORIZATION};
use pin_project_lite::pin_project;

pin_project! {
    /// Response future of the static-credential layers: the inner service's future, plus the
    /// description of what the request carried, attached as an [`AuthError`] to a 401 or 403.
    ///
    /// If the response already carries an [`AuthError`] (an inner auth layer put it there), it
    /// is kept: the layer closest to the wire knows best what was sent. A request the layer
    /// passed through without its credential (another [origin](crate::origin)) has no
    /// description, and its response is returned untouched.
    ///
    /// One struct for both cases rather than an enum of two futures: the credentialed call, the
    /// hot path, then costs no more than the inner future plus one pointer.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        detail: Option<Detail>,
    }
}

impl<F> ResponseFuture<F> {
    /// The call for a request that carries the credential `detail` describes.
    #[inline]
    pub(crate) fn new(inner: F, detail: Detail) -> Self {
        Self {
            inner,
            detail: Some(detail),
        }
    }

    /// The call for a request the layer passed through without its credential.
    #[inline]
    pub(crate) fn passed_through(inner: F) -> Self {
        Self {
            inner,
            detail: None,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // Looked at in place: the response is not moved out and back (it is large).
        let mut poll = this.inner.poll(cx);
        if let Poll::Ready(Ok(response)) = &mut poll
            && matches!(
                response.status(),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            )
            && let Some(detail) = this.detail
        {
            attach_error(response, detail.as_str());
        }
        poll
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

/// Interns a text built from a layer's configuration (a header name, a description; never a
/// secret): a process has a handful of distinct ones, one per configuration, kept for its
/// lifetime. A request then copies a `&'static str` (or clones a static `HeaderName`) instead
/// of touching a reference count twice.
fn intern(text: &str) -> &'static str {
    static INTERNED: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut interned = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = interned.get(text) {
        return known;
    }
    let text: &'static str = Box::leak(Box::from(text));
    interned.insert(text);
    text
}

/// What a request carried, in words, for the error attached to a 401/403. Built once when the
/// layer is built; a request copies a `&'static str` (no allocation, no reference count).
#[derive(Clone, Copy)]
pub(crate) enum Detail {
    /// A fixed text, or one interned by [`Detail::shared`].
    Static(&'static str),
}

impl Detail {
    /// A text built from the layer's configuration; [interned](intern).
    pub(crate) fn shared(text: String) -> Self {
        Detail::Static(intern(&text))
    }

    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Detail::Static(text) => text,
        }
    }
}

impl fmt::Debug for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A credential sent in a header: the pre-built sensitive value and what to say about it.
///
/// Shared by [`BearerLayer`](crate::BearerLayer), [`BasicAuthLayer`](crate::BasicAuthLayer) and
/// the header mode of [`ApiKeyLayer`](crate::ApiKeyLayer).
#[derive(Clone)]
pub(crate) struct HeaderCredential {
    name: HeaderSlot,
    /// The header name as the user spelled it, for messages (`HeaderName` is lower-case).
    display_name: Arc<str>,
    prefix: Arc<str>,
    value: HeaderValue,
    keep_existing: bool,
    sent: Detail,
    kept: Detail,
}

impl HeaderCredential {
    /// `display_name` is the header name as the user spelled it; `sent` says what a request
    /// carries, e.g. "the request carried a bearer token in the `Authorization` header with
    /// prefix `Bearer`". `value` must already be sensitive.
    pub(crate) fn new(
        name: HeaderName,
        display_name: &str,
        prefix: &str,
        value: HeaderValue,
        keep_existing: bool,
        sent: String,
    ) -> Self {
        debug_assert!(value.is_sensitive());
        let kept = format!(
            "the request already carried a `{display_name}` header, which was kept \
             (keep_existing), so the configured credential was not sent"
        );
        Self {
            name: HeaderSlot::new(&name),
            display_name: display_name.into(),
            prefix: prefix.into(),
            value,
            keep_existing,
            sent: Detail::shared(sent),
            kept: Detail::shared(kept),
        }
    }

    /// Switches to leaving a header the request already carries.
    pub(crate) fn keep_existing(&mut self) {
        self.keep_existing = true;
    }

    /// Puts the credential into `headers`, replacing any value of the same name unless
    /// `keep_existing` was asked for and one is there; returns what the request now carries.
    #[inline]
    pub(crate) fn apply(&self, headers: &mut HeaderMap) -> Detail {
        if self.keep_existing && headers.contains_key(self.name.name()) {
            return self.kept;
        }
        self.name.insert(headers, self.value.clone());
        self.sent
    }

    pub(crate) fn debug_fields(&self, f: &mut fmt::DebugStruct<'_, '_>) {
        f.field("header_name", &self.display_name)
            .field("prefix", &self.prefix)
            .field("keep_existing", &self.keep_existing);
    }
}

/// A header a credential goes in. `Authorization` is inserted as the constant, whose hash the
/// compiler folds, so the common case costs what tower-http's `AddAuthorization` costs; any
/// other name is interned, so cloning it touches no reference count.
#[derive(Clone)]
pub(crate) struct HeaderSlot {
    name: HeaderName,
    is_authorization: bool,
}

impl HeaderSlot {
    pub(crate) fn new(name: &HeaderName) -> Self {
        Self {
            name: static_name(name),
            is_authorization: name == AUTHORIZATION,
        }
    }

    pub(crate) fn name(&self) -> &HeaderName {
        &self.name
    }

    /// Inserts `value`, replacing any value of this name.
    #[inline]
    pub(crate) fn insert(&self, headers: &mut HeaderMap, value: HeaderValue) {
        if self.is_authorization {
            headers.insert(AUTHORIZATION, value);
        } else {
            insert_named(headers, &self.name, value);
        }
    }
}

impl fmt::Debug for HeaderSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.name, f)
    }
}

/// Out of line, so the `Authorization` insert above is the one the compiler inlines.
#[inline(never)]
fn insert_named(headers: &mut HeaderMap, name: &HeaderName, value: HeaderValue) {
    headers.insert(name.clone(), value);
}

/// Parses a header name, as a configuration error naming it when it is not one.
///
/// A custom name is [interned](intern), so adding it to a request touches no reference count.
pub(crate) fn header_name(name: &str, what: &str) -> Result<HeaderName, AuthError> {
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        AuthError::config(
            format!("{what} `{}`", name.escape_debug()),
            "is not a valid HTTP header name (letters, digits and `-` only, not empty)",
        )
    })?;
    Ok(static_name(&name))
}

/// `name` backed by an interned copy: cloning it then touches no reference count.
fn static_name(name: &HeaderName) -> HeaderName {
    // `as_str` is the lower-case form `from_static` accepts, so this cannot panic.
    HeaderName::from_static(intern(name.as_str()))
}

/// "with prefix `Bearer`" or "with no prefix (the bare value)", for descriptions.
pub(crate) fn describe_prefix(prefix: &str) -> String {
    if prefix.is_empty() {
        "with no prefix (the bare value)".to_owned()
    } else {
        format!("with prefix `{}`", prefix.escape_debug())
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
        match ResponseFuture::new(inner, detail).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    #[tokio::test]
    async fn success_passes_without_an_error_extension() {
        let response = respond(StatusCode::OK, Detail::Static("x")).await;
        assert!(response.extensions().get::<AuthError>().is_none());
    }

    #[tokio::test]
    async fn forbidden_gets_the_error_with_the_detail() {
        let response = respond(StatusCode::FORBIDDEN, Detail::shared("sent X".into())).await;
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
    fn bad_header_names_are_config_errors_naming_the_name() {
        let error = header_name("X Bad", "bearer header name").expect_err("space");
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(error.to_string().contains("`X Bad`"));
        assert!(header_name("", "bearer header name").is_err());
    }
}
