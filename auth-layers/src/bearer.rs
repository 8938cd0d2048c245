//! Sends a fixed bearer token (or any `prefix token` pair) in a header of every request.
//!
//! The header value is built once, when the layer is built, and marked sensitive. The header
//! name defaults to `Authorization` and the prefix to `Bearer`; both can be changed with
//! [`BearerLayer::builder`], and an empty prefix sends the bare token. The layer is an
//! [`AddCredentialLayer`]: a header of the same name already on the request is replaced unless
//! [`keep_existing`](AddCredentialLayer::keep_existing) is set, and with
//! [`restrict_to_origin`](AddCredentialLayer::restrict_to_origin) the token goes only to the
//! given origins (see [`origin`](crate::origin)).
//!
//! ```
//! use auth_layers::BearerLayer;
//! use http::{Request, Response, header::AUTHORIZATION};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let api = ServiceBuilder::new()
//!     .layer(BearerLayer::new("my-token")?)
//!     .service(service_fn(|req: Request<String>| async move {
//!         // stands in for an HTTP client such as hyper-util's
//!         assert_eq!(req.headers()[AUTHORIZATION], "Bearer my-token");
//!         assert!(req.headers()[AUTHORIZATION].is_sensitive());
//!         Ok::<_, std::convert::Infallible>(Response::new(String::new()))
//!     }));
//!
//! let response = api.oneshot(Request::new(String::new())).await?;
//! # assert!(response.status().is_success());
//!
//! // Another header and prefix, e.g. `X-Auth-Token: Token my-token`:
//! let layer = BearerLayer::builder("my-token")
//!     .header_name("X-Auth-Token")
//!     .prefix("Token")
//!     .build()?;
//! # let _ = layer;
//! # Ok(()) }
//! ```

use std::fmt;

use auth_core::{AuthError, SecretString, sensitive_header_value};

use crate::{
    AddCredentialLayer,
    credential::Credential,
    placement::{HeaderSlot, describe_prefix},
};

const DEFAULT_HEADER_NAME: &str = "Authorization";
const DEFAULT_PREFIX: &str = "Bearer";

/// Named constructors of an [`AddCredentialLayer`] that sends a fixed token:
/// `Authorization: Bearer <token>` by default. This type has no values.
///
/// See the [module docs](crate::bearer) for an example.
#[derive(Debug)]
pub enum BearerLayer {}

impl BearerLayer {
    /// `Authorization: Bearer <token>`.
    ///
    /// Fails with [`ErrorKind::Config`](auth_core::ErrorKind::Config) when the token is empty or
    /// cannot be sent in a header (line breaks, control characters).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(token: impl Into<SecretString>) -> Result<AddCredentialLayer, AuthError> {
        Self::builder(token).build()
    }

    /// Starts building a layer for `token`, to change the header name or the prefix.
    pub fn builder(token: impl Into<SecretString>) -> BearerLayerBuilder {
        BearerLayerBuilder {
            token: token.into(),
            header_name: DEFAULT_HEADER_NAME.to_owned(),
            prefix: DEFAULT_PREFIX.to_owned(),
        }
    }
}

/// Builds a bearer-token [`AddCredentialLayer`]; see [`BearerLayer::builder`].
pub struct BearerLayerBuilder {
    token: SecretString,
    header_name: String,
    prefix: String,
}

impl BearerLayerBuilder {
    /// The header that carries the token. Defaults to `Authorization`.
    pub fn header_name(mut self, name: impl Into<String>) -> Self {
        self.header_name = name.into();
        self
    }

    /// Written before the token, separated by one space; empty sends the bare token.
    /// Defaults to `Bearer`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Builds the layer, and the sensitive header value once.
    ///
    /// Fails with [`ErrorKind::Config`](auth_core::ErrorKind::Config) when the header name is
    /// not valid, or the token is empty or cannot be sent in a header. The error never contains
    /// the token.
    pub fn build(self) -> Result<AddCredentialLayer, AuthError> {
        let slot = HeaderSlot::parse(&self.header_name, "bearer token header name")?;
        let value = sensitive_header_value(&self.prefix, &self.token, "bearer token")?;
        let sent = format!(
            "the request carried a bearer token in the `{}` header {}",
            self.header_name,
            describe_prefix(&self.prefix)
        );
        Ok(AddCredentialLayer::new(Credential::header(
            slot,
            &self.prefix,
            value,
            sent,
        )))
    }
}

impl fmt::Debug for BearerLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerLayerBuilder")
            .field("token", &"[redacted]")
            .field("header_name", &self.header_name)
            .field("prefix", &self.prefix)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use auth_core::ErrorKind;
    use http::{HeaderValue, Request, Response, StatusCode, header::AUTHORIZATION};
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    use super::*;
    use crate::{Origin, testing::received};

    #[tokio::test]
    async fn sends_authorization_bearer_by_default_and_sensitive() {
        let headers = received(BearerLayer::new("t0k").expect("valid"), Request::new(())).await;
        assert_eq!(headers[AUTHORIZATION], "Bearer t0k");
        assert!(headers[AUTHORIZATION].is_sensitive());
        assert_eq!(headers.len(), 1);
    }

    #[tokio::test]
    async fn custom_header_name_and_prefix() {
        let layer = BearerLayer::builder("t0k")
            .header_name("X-Auth-Token")
            .prefix("Token")
            .build()
            .expect("valid");
        let headers = received(layer, Request::new(())).await;
        assert_eq!(headers["x-auth-token"], "Token t0k");
        assert!(headers["x-auth-token"].is_sensitive());
        assert!(headers.get(AUTHORIZATION).is_none());
    }

    #[tokio::test]
    async fn empty_prefix_sends_the_bare_token() {
        let layer = BearerLayer::builder("t0k")
            .prefix("")
            .build()
            .expect("valid");
        let headers = received(layer, Request::new(())).await;
        assert_eq!(headers[AUTHORIZATION], "t0k");
    }

    #[tokio::test]
    async fn replaces_an_existing_header_by_default() {
        let req = Request::builder()
            .header(AUTHORIZATION, "Bearer old")
            .header(AUTHORIZATION, "Bearer older")
            .body(())
            .expect("valid request");
        let headers = received(BearerLayer::new("new").expect("valid"), req).await;
        let values: Vec<&HeaderValue> = headers.get_all(AUTHORIZATION).iter().collect();
        assert_eq!(values, ["Bearer new"]);
    }

    #[tokio::test]
    async fn keep_existing_leaves_an_existing_header_and_fills_in_a_missing_one() {
        let layer = BearerLayer::new("new").expect("valid").keep_existing();
        let req = Request::builder()
            .header(AUTHORIZATION, "Bearer mine")
            .body(())
            .expect("valid request");
        let headers = received(layer.clone(), req).await;
        assert_eq!(headers[AUTHORIZATION], "Bearer mine");
        let headers = received(layer, Request::new(())).await;
        assert_eq!(headers[AUTHORIZATION], "Bearer new");
    }

    #[test]
    fn bad_inputs_are_config_errors_without_the_secret() {
        let cases = [
            BearerLayer::builder("s3cret-a")
                .header_name("X Bad")
                .build(),
            BearerLayer::builder("s3cret-b").header_name("").build(),
            BearerLayer::new("s3cret-c\nx"),
            BearerLayer::builder("s3cret-d").prefix("Bad\r\n").build(),
            BearerLayer::new(""),
            BearerLayer::new("   "),
        ];
        for (i, result) in cases.into_iter().enumerate() {
            let error = result.expect_err("bad input");
            assert_eq!(error.kind(), ErrorKind::Config, "case {i}");
            assert!(!error.to_string().contains("s3cret"), "case {i}: {error}");
        }
    }

    #[test]
    fn debug_shows_the_placement_but_never_the_token() {
        let layer = BearerLayer::builder("s3cret")
            .header_name("X-Auth-Token")
            .prefix("Token")
            .build()
            .expect("valid");
        let text = format!("{layer:?}");
        assert!(
            text.contains("X-Auth-Token") && text.contains("Token"),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
        let text = format!("{:?}", BearerLayer::builder("s3cret"));
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[tokio::test]
    async fn a_401_carries_an_auth_error_saying_what_was_sent() {
        let error =
            crate::testing::error_on_401(BearerLayer::new("t0k").expect("valid"), Request::new(()))
                .await
                .expect("401 error");
        assert_eq!(error.kind(), ErrorKind::Unauthorized);
        assert_eq!(
            error.detail(),
            Some(
                "the request carried a bearer token in the `Authorization` header with prefix `Bearer`"
            )
        );
        assert!(!error.to_string().contains("t0k"));
    }

    #[tokio::test]
    async fn a_401_after_keep_existing_says_the_request_header_was_kept() {
        let layer = BearerLayer::new("t0k").expect("valid").keep_existing();
        let svc =
            ServiceBuilder::new()
                .layer(layer)
                .service(service_fn(|_req: Request<()>| async {
                    let mut response = Response::new(());
                    *response.status_mut() = StatusCode::UNAUTHORIZED;
                    Ok::<_, Infallible>(response)
                }));
        let req = Request::builder()
            .header(AUTHORIZATION, "Bearer mine")
            .body(())
            .expect("valid request");
        let response = svc.oneshot(req).await.expect("infallible");
        let error = response.extensions().get::<AuthError>().expect("401 error");
        assert!(error.detail().expect("detail").contains("already carried"));
    }

    fn restricted() -> AddCredentialLayer {
        BearerLayer::new("t0k")
            .expect("valid")
            .restrict_to_origin(Origin::parse("https://api.example.com").expect("origin"))
            .restrict_to_origin(Origin::parse("http://127.0.0.1:8080").expect("origin"))
    }

    fn get(uri: &str) -> Request<()> {
        Request::get(uri).body(()).expect("valid request")
    }

    #[tokio::test]
    async fn a_restricted_layer_sends_the_token_to_its_origins_only() {
        for ours in [
            "https://api.example.com/v1",
            "https://API.example.com:443/",
            "http://127.0.0.1:8080/x",
        ] {
            let headers = received(restricted(), get(ours)).await;
            assert_eq!(headers[AUTHORIZATION], "Bearer t0k", "{ours}");
        }
        for other in [
            "https://evil.example.com/v1",
            "http://api.example.com/v1",
            "http://127.0.0.1:8081/x",
            "/v1/relative",
        ] {
            let headers = received(restricted(), get(other)).await;
            assert!(headers.is_empty(), "{other}: {headers:?}");
        }
    }

    #[tokio::test]
    async fn another_origin_passes_untouched_and_its_401_gets_no_error() {
        let req = Request::get("https://other.example/x")
            .header(AUTHORIZATION, "Bearer theirs")
            .body(())
            .expect("valid request");
        let headers = received(restricted(), req).await;
        assert_eq!(headers[AUTHORIZATION], "Bearer theirs");

        let svc = ServiceBuilder::new()
            .layer(restricted())
            .service(service_fn(|_req: Request<()>| async {
                let mut response = Response::new(());
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                Ok::<_, Infallible>(response)
            }));
        let response = svc
            .clone()
            .oneshot(get("https://other.example/x"))
            .await
            .expect("infallible");
        assert!(response.extensions().get::<AuthError>().is_none());
        let response = svc
            .oneshot(get("https://api.example.com/x"))
            .await
            .expect("infallible");
        assert!(response.extensions().get::<AuthError>().is_some());
    }

    #[tokio::test]
    async fn restricting_to_no_origin_never_sends_the_token() {
        let layer = BearerLayer::new("t0k")
            .expect("valid")
            .restrict_to_origins([]);
        let headers = received(layer, get("https://api.example.com/")).await;
        assert!(headers.is_empty());
    }

    #[test]
    fn debug_shows_the_origins() {
        let text = format!("{:?}", restricted());
        assert!(
            text.contains("https://api.example.com") && text.contains("http://127.0.0.1:8080"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn success_responses_carry_no_error() {
        let response = ServiceBuilder::new()
            .layer(BearerLayer::new("t0k").expect("valid"))
            .service(service_fn(|_req: Request<()>| async {
                Ok::<_, Infallible>(Response::new(()))
            }))
            .oneshot(Request::new(()))
            .await
            .expect("infallible");
        assert!(response.extensions().get::<AuthError>().is_none());
    }
}
