//! Sends HTTP Basic credentials (RFC 7617) in the `Authorization` header of every request.
//!
//! The header is `Basic base64(username ":" password)` over the UTF-8 bytes, with no form
//! encoding (that is only for OAuth client authentication, RFC 6749 §2.3.1). It is built once,
//! when the layer is built, and marked sensitive. An `Authorization` header already on the request
//! is replaced, unless [`BasicAuthLayer::keep_existing`] is set. With
//! [`BasicAuthLayer::restrict_to_origin`] the credentials go only to the given origins (see
//! [`origin`]).
//!
//! ```
//! use auth_layers::BasicAuthLayer;
//! use http::{Request, Response, header::AUTHORIZATION};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let api = ServiceBuilder::new()
//!     .layer(BasicAuthLayer::new("Aladdin", "open sesame")?)
//!     .service(service_fn(|req: Request<String>| async move {
//!         // stands in for an HTTP client such as hyper-util's
//!         assert_eq!(req.headers()[AUTHORIZATION], "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
//!         Ok::<_, std::convert::Infallible>(Response::new(String::new()))
//!     }));
//!
//! let response = api.oneshot(Request::new(String::new())).await?;
//! # assert!(response.status().is_success());
//! # Ok(()) }
//! ```

use std::{
    fmt,
    task::{Context, Poll},
};

use auth_core::{AuthError, ExposeSecret, SecretString, sensitive_header_value};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use http::{Request, Response, header::AUTHORIZATION};
use tower_layer::Layer;
use tower_service::Service;

use crate::{
    origin::{self, Origin, OriginFilter},
    response::{HeaderCredential, ResponseFuture},
};

const SENT: &str = "the request carried HTTP Basic credentials in the `Authorization` header";

/// Adds `Authorization: Basic …` for a username and password to every request.
///
/// See the [module docs](crate::basic) for an example.
#[derive(Clone)]
pub struct BasicAuthLayer {
    credential: HeaderCredential,
    origins: Option<OriginFilter>,
}

impl BasicAuthLayer {
    /// `Authorization: Basic base64(username ":" password)`.
    ///
    /// Colons in the password are fine, and the password may be empty. Fails with
    /// [`ErrorKind::Config`](auth_core::ErrorKind::Config) when the username is empty or
    /// contains `:` (the server could not tell where it ends), or either contains control
    /// characters (RFC 7617 §2). The error never contains the password.
    pub fn new(
        username: impl AsRef<str>,
        password: impl Into<SecretString>,
    ) -> Result<Self, AuthError> {
        let username = username.as_ref();
        let password = password.into();
        if username.is_empty() {
            return Err(AuthError::config("HTTP Basic username", "is empty"));
        }
        if username.contains(':') {
            return Err(AuthError::config(
                "HTTP Basic username",
                "contains `:`, which RFC 7617 does not allow (it separates username and password)",
            ));
        }
        if username.chars().any(char::is_control) {
            return Err(AuthError::config(
                "HTTP Basic username",
                "contains control characters, which RFC 7617 does not allow",
            ));
        }
        if password.expose_secret().chars().any(char::is_control) {
            return Err(AuthError::config(
                "HTTP Basic password",
                "contains control characters, which RFC 7617 does not allow",
            ));
        }
        let user_pass = SecretString::from(format!("{username}:{}", password.expose_secret()));
        let encoded = SecretString::from(STANDARD.encode(user_pass.expose_secret()));
        let value = sensitive_header_value("Basic", &encoded, "HTTP Basic credentials")?;
        Ok(Self {
            credential: HeaderCredential::new(
                AUTHORIZATION,
                "Authorization",
                "Basic",
                value,
                false,
                SENT.to_owned(),
            ),
            origins: None,
        })
    }

    /// Leaves requests that already carry an `Authorization` header alone instead of replacing
    /// the header. By default the layer's value replaces it.
    pub fn keep_existing(mut self) -> Self {
        self.credential.keep_existing();
        self
    }

    /// Sends the credentials only with requests for `origin`; requests for any other origin
    /// (or with a relative URI) pass through untouched. Can be called more than once to allow
    /// several origins. By default every request gets them. See [`origin`].
    pub fn restrict_to_origin(self, origin: Origin) -> Self {
        self.restrict_to_origins([origin])
    }

    /// Like [`restrict_to_origin`](Self::restrict_to_origin), for several origins at once. An
    /// empty list restricts the layer to no origin at all: it then never sends the credentials.
    pub fn restrict_to_origins(mut self, origins: impl IntoIterator<Item = Origin>) -> Self {
        self.origins = origin::restrict(self.origins, origins);
        self
    }
}

impl fmt::Debug for BasicAuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("BasicAuthLayer");
        self.credential.debug_fields(&mut s);
        s.field("origins", &self.origins);
        s.finish_non_exhaustive()
    }
}

impl<S> Layer<S> for BasicAuthLayer {
    type Service = BasicAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BasicAuth {
            inner,
            credential: self.credential.clone(),
            origins: self.origins.clone(),
        }
    }
}

/// Middleware that adds HTTP Basic credentials to every request; see [`BasicAuthLayer`].
#[derive(Clone)]
pub struct BasicAuth<S> {
    inner: S,
    credential: HeaderCredential,
    origins: Option<OriginFilter>,
}

impl<S> BasicAuth<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for BasicAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("BasicAuth");
        s.field("inner", &self.inner);
        self.credential.debug_fields(&mut s);
        s.field("origins", &self.origins);
        s.finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for BasicAuth<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if !origin::allows(self.origins.as_ref(), req.uri()) {
            return ResponseFuture::passed_through(self.inner.call(req));
        }
        let detail = self.credential.apply(req.headers_mut());
        ResponseFuture::new(self.inner.call(req), detail)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use auth_core::ErrorKind;
    use http::{HeaderMap, StatusCode};
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    use super::*;

    async fn received(layer: BasicAuthLayer, req: Request<()>) -> HeaderMap {
        let svc =
            ServiceBuilder::new()
                .layer(layer)
                .service(service_fn(|req: Request<()>| async move {
                    Ok::<_, Infallible>(Response::new(req.headers().clone()))
                }));
        svc.oneshot(req).await.expect("infallible").into_body()
    }

    fn decoded(headers: &HeaderMap) -> String {
        let value = headers[AUTHORIZATION].to_str().expect("ascii");
        let encoded = value.strip_prefix("Basic ").expect("Basic scheme");
        String::from_utf8(STANDARD.decode(encoded).expect("base64")).expect("utf-8")
    }

    #[tokio::test]
    async fn rfc_7617_example() {
        let layer = BasicAuthLayer::new("Aladdin", "open sesame").expect("valid");
        let headers = received(layer, Request::new(())).await;
        assert_eq!(headers[AUTHORIZATION], "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(headers[AUTHORIZATION].is_sensitive());
    }

    #[tokio::test]
    async fn non_ascii_is_sent_as_utf_8_without_form_encoding() {
        let layer = BasicAuthLayer::new("Zoë", "pässwörd").expect("valid");
        let headers = received(layer, Request::new(())).await;
        assert_eq!(decoded(&headers), "Zoë:pässwörd");
        // RFC 7617 §2.1's test vector: "test" / "123£" in UTF-8.
        let layer = BasicAuthLayer::new("test", "123\u{A3}").expect("valid");
        let headers = received(layer, Request::new(())).await;
        assert_eq!(headers[AUTHORIZATION], "Basic dGVzdDoxMjPCow==");
    }

    #[tokio::test]
    async fn colons_in_the_password_and_an_empty_password_are_fine() {
        let layer = BasicAuthLayer::new("user", "a:b:c").expect("valid");
        assert_eq!(
            decoded(&received(layer, Request::new(())).await),
            "user:a:b:c"
        );
        let layer = BasicAuthLayer::new("user", "").expect("valid");
        assert_eq!(decoded(&received(layer, Request::new(())).await), "user:");
    }

    #[tokio::test]
    async fn replaces_an_existing_header_unless_keep_existing() {
        let req = || {
            Request::builder()
                .header(AUTHORIZATION, "Bearer other")
                .body(())
                .expect("valid request")
        };
        let layer = BasicAuthLayer::new("user", "pw").expect("valid");
        let headers = received(layer.clone(), req()).await;
        assert_eq!(decoded(&headers), "user:pw");
        assert_eq!(headers.get_all(AUTHORIZATION).iter().count(), 1);
        let headers = received(layer.keep_existing(), req()).await;
        assert_eq!(headers[AUTHORIZATION], "Bearer other");
    }

    #[test]
    fn bad_inputs_are_config_errors_without_the_secret() {
        let cases = [
            BasicAuthLayer::new("", "s3cret-a"),
            BasicAuthLayer::new("us:er", "s3cret-b"),
            BasicAuthLayer::new("us\ner", "s3cret-c"),
            BasicAuthLayer::new("user", "s3cret-d\r\n"),
        ];
        for (i, result) in cases.into_iter().enumerate() {
            let error = result.expect_err("bad input");
            assert_eq!(error.kind(), ErrorKind::Config, "case {i}");
            assert!(!error.to_string().contains("s3cret"), "case {i}: {error}");
        }
        let error = BasicAuthLayer::new("us:er", "pw").expect_err("colon");
        assert!(error.to_string().contains("username"), "{error}");
    }

    #[test]
    fn debug_never_shows_the_credentials() {
        let layer = BasicAuthLayer::new("user", "s3cret").expect("valid");
        let text = format!("{layer:?}");
        assert!(text.contains("Authorization"), "{text}");
        assert!(
            !text.contains("s3cret") && !text.contains("dXNlcjpzM2NyZXQ"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_restricted_layer_sends_credentials_to_its_origins_only() {
        let layer = BasicAuthLayer::new("user", "pw")
            .expect("valid")
            .restrict_to_origins([
                Origin::parse("https://api.example.com").expect("origin"),
                Origin::parse("https://backup.example.com").expect("origin"),
            ]);
        let get = |uri: &str| Request::get(uri).body(()).expect("valid request");
        for ours in ["https://api.example.com/a", "https://backup.example.com/b"] {
            let headers = received(layer.clone(), get(ours)).await;
            assert_eq!(decoded(&headers), "user:pw", "{ours}");
        }
        for other in ["https://evil.example/a", "http://api.example.com/a", "/a"] {
            let headers = received(layer.clone(), get(other)).await;
            assert!(headers.is_empty(), "{other}: {headers:?}");
        }
        assert!(format!("{layer:?}").contains("https://backup.example.com"));
    }

    #[tokio::test]
    async fn a_401_from_another_origin_gets_no_error() {
        let layer = BasicAuthLayer::new("user", "pw")
            .expect("valid")
            .restrict_to_origin(Origin::parse("https://api.example.com").expect("origin"));
        let svc =
            ServiceBuilder::new()
                .layer(layer)
                .service(service_fn(|_req: Request<()>| async {
                    let mut response = Response::new(());
                    *response.status_mut() = StatusCode::UNAUTHORIZED;
                    Ok::<_, Infallible>(response)
                }));
        let request = Request::get("https://other.example/")
            .body(())
            .expect("valid");
        let response = svc.oneshot(request).await.expect("infallible");
        assert!(response.extensions().get::<AuthError>().is_none());
    }

    #[tokio::test]
    async fn a_401_carries_an_auth_error_saying_what_was_sent() {
        let svc = ServiceBuilder::new()
            .layer(BasicAuthLayer::new("user", "pw").expect("valid"))
            .service(service_fn(|_req: Request<()>| async {
                let mut response = Response::new(());
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                Ok::<_, Infallible>(response)
            }));
        let response = svc.oneshot(Request::new(())).await.expect("infallible");
        let error = response.extensions().get::<AuthError>().expect("401 error");
        assert_eq!(error.kind(), ErrorKind::Unauthorized);
        assert_eq!(error.detail(), Some(SENT));
    }
}
