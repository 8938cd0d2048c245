//! Adds fixed headers (`Accept`, an API version) to every request that does not carry them yet.
//!
//! The headers are checked and built once, when the layer is built; each request then only gets
//! the missing ones inserted. A header the request already has is never replaced and never
//! duplicated: what the caller set wins, whatever its value. Stacked outside a credential layer
//! (as a configured connection applies them), the credential replaces a default of the same
//! name; stacked inside, the credential is already there. Either way the credential wins.
//! Default headers are for what every request of an API needs, not for credentials: those
//! belong in a credential layer, which marks them sensitive, can restrict them to an origin and
//! explains a 401.
//!
//! ```
//! use auth_layers::DefaultHeadersLayer;
//! use http::{Request, Response, header::ACCEPT};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let layer = DefaultHeadersLayer::new()
//!     .header("Accept", "application/vnd.github+json")?
//!     .header("X-GitHub-Api-Version", "2022-11-28")?;
//! let api = ServiceBuilder::new()
//!     .layer(layer)
//!     .service(service_fn(|req: Request<String>| async move {
//!         // stands in for an HTTP client such as hyper-util's
//!         assert_eq!(req.headers()["x-github-api-version"], "2022-11-28");
//!         Ok::<_, std::convert::Infallible>(Response::new(req))
//!     }));
//!
//! // A request that sets `Accept` itself keeps its own, once.
//! let request = Request::get("https://api.github.com/user")
//!     .header(ACCEPT, "text/plain")
//!     .body(String::new())?;
//! let seen = api.oneshot(request).await?.into_body();
//! let accept: Vec<_> = seen.headers().get_all(ACCEPT).iter().collect();
//! assert_eq!(accept, ["text/plain"]);
//! # Ok(()) }
//! ```

use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use auth_core::AuthError;
use http::{HeaderName, HeaderValue, Request, header::Entry};
use tower_layer::Layer;
use tower_service::Service;

/// Adds each of its headers to every request that does not have that header yet; see the
/// [module docs](crate::default_headers).
///
/// Cheap to clone (the headers are shared). `Debug` shows the names and values, except values
/// added with [`sensitive_header`](Self::sensitive_header).
#[derive(Clone, Debug, Default)]
pub struct DefaultHeadersLayer {
    headers: Arc<[(HeaderName, HeaderValue)]>,
}

impl DefaultHeadersLayer {
    /// A layer with no headers yet: it passes requests through unchanged.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `name: value` to the headers this layer sends.
    ///
    /// Fails with [`ErrorKind::Config`](auth_core::ErrorKind::Config), naming the header, when
    /// the name is not a valid header name, the value cannot be sent in a header (line breaks,
    /// control characters), or the name was given before (names are case-insensitive).
    pub fn header(self, name: impl AsRef<str>, value: impl AsRef<str>) -> Result<Self, AuthError> {
        self.push(name.as_ref(), value.as_ref(), false)
    }

    /// Like [`header`](Self::header), with the value marked sensitive: `Debug` (here and in
    /// `http`'s own types) and HTTP/2 header compression leave it out. The value is not shown
    /// in errors either.
    pub fn sensitive_header(
        self,
        name: impl AsRef<str>,
        value: impl AsRef<str>,
    ) -> Result<Self, AuthError> {
        self.push(name.as_ref(), value.as_ref(), true)
    }

    fn push(self, name: &str, value: &str, sensitive: bool) -> Result<Self, AuthError> {
        let shown = name.escape_debug();
        let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            AuthError::config(
                format_args!("default header `{shown}`"),
                "not a valid header name",
            )
        })?;
        if self.headers.iter().any(|(n, _)| *n == parsed) {
            return Err(AuthError::config(
                format_args!("default header `{shown}`"),
                "given more than once (header names are case-insensitive)",
            ));
        }
        // The value is never quoted: it may come from a variable read from a secret.
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            AuthError::config(
                format_args!("default header `{shown}`"),
                "the value cannot be sent in a header (line breaks or control characters)",
            )
        })?;
        value.set_sensitive(sensitive);
        let mut headers = self.headers.to_vec();
        headers.push((parsed, value));
        Ok(Self {
            headers: headers.into(),
        })
    }

    /// Whether the layer has no headers (and so changes nothing).
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// Adds the headers `request` lacks: what [`DefaultHeaders`] does to each request, for a
    /// service that applies them itself rather than through another layer.
    #[inline]
    pub fn apply_to<B>(&self, request: &mut Request<B>) {
        add_missing(&self.headers, request);
    }

    /// The headers, in the order they were added.
    pub fn headers(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.headers.iter().map(|(name, value)| (name, value))
    }
}

impl<S> Layer<S> for DefaultHeadersLayer {
    type Service = DefaultHeaders<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DefaultHeaders {
            inner,
            headers: self.headers.clone(),
        }
    }
}

/// Middleware that adds its headers to requests that lack them; see [`DefaultHeadersLayer`].
#[derive(Clone)]
pub struct DefaultHeaders<S> {
    inner: S,
    headers: Arc<[(HeaderName, HeaderValue)]>,
}

crate::inner_accessors!(DefaultHeaders<S>);

impl<S: fmt::Debug> fmt::Debug for DefaultHeaders<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultHeaders")
            .field("inner", &self.inner)
            .field("headers", &self.headers)
            .finish()
    }
}

impl<S, B> Service<Request<B>> for DefaultHeaders<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        add_missing(&self.headers, &mut req);
        self.inner.call(req)
    }
}

#[inline]
fn add_missing<B>(defaults: &[(HeaderName, HeaderValue)], request: &mut Request<B>) {
    if defaults.is_empty() {
        return;
    }
    let headers = request.headers_mut();
    for (name, value) in defaults {
        // One lookup; cloning a name or value shares its bytes, it does not copy them.
        if let Entry::Vacant(slot) = headers.entry(name) {
            slot.insert(value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use auth_core::ErrorKind;
    use http::{HeaderMap, Response, header::ACCEPT};
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    use super::*;
    use crate::{BearerLayer, testing::received};

    fn github() -> DefaultHeadersLayer {
        DefaultHeadersLayer::new()
            .header("Accept", "application/vnd.github+json")
            .and_then(|l| l.header("X-GitHub-Api-Version", "2022-11-28"))
            .expect("valid headers")
    }

    fn values<'h>(headers: &'h HeaderMap, name: &str) -> Vec<&'h str> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().expect("text"))
            .collect()
    }

    #[tokio::test]
    async fn adds_every_header_to_a_bare_request() {
        let headers = received(github(), Request::new(())).await;
        assert_eq!(values(&headers, "accept"), ["application/vnd.github+json"]);
        assert_eq!(values(&headers, "x-github-api-version"), ["2022-11-28"]);
        assert_eq!(headers.len(), 2);
        assert!(!headers["accept"].is_sensitive());
    }

    #[tokio::test]
    async fn never_replaces_or_duplicates_a_header_the_request_has() {
        let request = Request::builder()
            .header(ACCEPT, "text/plain")
            .header("x-github-api-version", "2021-01-01")
            .header("x-github-api-version", "2020-01-01")
            .body(())
            .expect("valid request");
        let headers = received(github(), request).await;
        assert_eq!(values(&headers, "accept"), ["text/plain"]);
        assert_eq!(
            values(&headers, "x-github-api-version"),
            ["2021-01-01", "2020-01-01"],
            "both of the caller's values, in order, and no default"
        );
    }

    #[tokio::test]
    async fn every_request_through_a_clone_gets_the_headers_once() {
        let svc =
            ServiceBuilder::new().layer(github()).service(service_fn(
                |req: Request<()>| async move {
                    Ok::<_, Infallible>(Response::new(req.headers().clone()))
                },
            ));
        for _ in 0..3 {
            let headers = svc
                .clone()
                .oneshot(Request::new(()))
                .await
                .expect("infallible")
                .into_body();
            assert_eq!(values(&headers, "accept").len(), 1);
            assert_eq!(values(&headers, "x-github-api-version").len(), 1);
        }
    }

    #[tokio::test]
    async fn inside_or_outside_a_credential_layer_the_credential_wins() {
        let defaults = DefaultHeadersLayer::new()
            .header("Authorization", "Bearer hard-coded")
            .and_then(|l| l.header("Accept", "application/json"))
            .expect("valid");
        let echo = || {
            service_fn(|req: Request<()>| async move {
                Ok::<_, Infallible>(Response::new(req.headers().clone()))
            })
        };
        let bearer = || BearerLayer::new("t0k").expect("valid");
        let inside = ServiceBuilder::new()
            .layer(bearer())
            .layer(defaults.clone())
            .service(echo());
        let outside = ServiceBuilder::new()
            .layer(defaults)
            .layer(bearer())
            .service(echo());
        for headers in [
            inside.oneshot(Request::new(())).await.expect("sent"),
            outside.oneshot(Request::new(())).await.expect("sent"),
        ] {
            let headers = headers.into_body();
            assert_eq!(values(&headers, "authorization"), ["Bearer t0k"]);
            assert_eq!(values(&headers, "accept"), ["application/json"]);
        }
    }

    #[test]
    fn apply_to_adds_only_the_missing_headers() {
        let mut request = Request::builder()
            .header(ACCEPT, "text/plain")
            .body(())
            .expect("valid request");
        github().apply_to(&mut request);
        assert_eq!(values(request.headers(), "accept"), ["text/plain"]);
        assert_eq!(
            values(request.headers(), "x-github-api-version"),
            ["2022-11-28"]
        );
    }

    #[tokio::test]
    async fn an_empty_layer_changes_nothing() {
        let layer = DefaultHeadersLayer::new();
        assert!(layer.is_empty());
        assert!(received(layer, Request::new(())).await.is_empty());
    }

    #[test]
    fn bad_names_values_and_repeats_are_config_errors_naming_the_header() {
        let cases = [
            (DefaultHeadersLayer::new().header("X Bad", "v"), "`X Bad`"),
            (DefaultHeadersLayer::new().header("", "v"), "``"),
            (
                DefaultHeadersLayer::new().header("X-Tenant", "s3cret\r\nX-Evil: 1"),
                "`X-Tenant`",
            ),
            (
                github().header("accept", "text/html"),
                "given more than once",
            ),
        ];
        for (result, expected) in cases {
            let error = result.expect_err("refused");
            assert_eq!(error.kind(), ErrorKind::Config);
            let text = error.to_string();
            assert!(text.contains(expected), "{text}");
            assert!(!text.contains("s3cret"), "{text}");
        }
    }

    #[test]
    fn debug_shows_plain_values_but_not_sensitive_ones() {
        let layer = github()
            .sensitive_header("X-Tenant", "t3nant-id")
            .expect("valid");
        let text = format!("{layer:?}");
        assert!(text.contains("x-github-api-version") && text.contains("2022-11-28"));
        assert!(
            text.contains("x-tenant") && !text.contains("t3nant-id"),
            "{text}"
        );
        let names: Vec<&str> = layer.headers().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["accept", "x-github-api-version", "x-tenant"]);
    }

    #[test]
    fn the_accessors_reach_the_inner_service() {
        #[derive(Debug, PartialEq)]
        struct Inner(u8);
        let mut svc = github().layer(Inner(1));
        assert_eq!(svc.get_ref(), &Inner(1));
        svc.get_mut().0 = 2;
        assert_eq!(svc.into_inner(), Inner(2));
    }
}
