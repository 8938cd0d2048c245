//! Sends HTTP Basic credentials (RFC 7617) in the `Authorization` header of every request.
//!
//! The header is `Basic base64(username ":" password)` over the UTF-8 bytes, with no form
//! encoding (that is only for OAuth client authentication, RFC 6749 §2.3.1). It is built once,
//! when the layer is built, and marked sensitive. The layer is an [`AddCredentialLayer`]: an
//! `Authorization` header already on the request is replaced unless
//! [`keep_existing`](AddCredentialLayer::keep_existing) is set, and with
//! [`restrict_to_origin`](AddCredentialLayer::restrict_to_origin) the credentials go only to the
//! given origins (see [`origin`](crate::origin)).
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

use auth_core::{AuthError, ExposeSecret, SecretString, sensitive_header_value};
use base64::{Engine as _, engine::general_purpose::STANDARD};

use crate::{AddCredentialLayer, credential::Credential, placement::HeaderSlot};

/// What a 401/403 says.
pub(crate) const SENT: &str =
    "the request carried HTTP Basic credentials in the `Authorization` header";

/// Named constructor of an [`AddCredentialLayer`] that sends `Authorization: Basic …` for a
/// username and password. This type has no values.
///
/// See the [module docs](crate::basic) for an example.
#[derive(Debug)]
pub enum BasicAuthLayer {}

impl BasicAuthLayer {
    /// `Authorization: Basic base64(username ":" password)`.
    ///
    /// Colons in the password are fine, and the password may be empty. Fails with
    /// [`ErrorKind::Config`](auth_core::ErrorKind::Config) when the username is empty or
    /// contains `:` (the server could not tell where it ends), or either contains control
    /// characters (RFC 7617 §2). The error never contains the password.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(
        username: impl AsRef<str>,
        password: impl Into<SecretString>,
    ) -> Result<AddCredentialLayer, AuthError> {
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
        Ok(AddCredentialLayer::new(Credential::header(
            HeaderSlot::authorization(),
            "Basic",
            value,
            SENT.to_owned(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use auth_core::ErrorKind;
    use http::{HeaderMap, Request, Response, StatusCode, header::AUTHORIZATION};
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    use super::*;
    use crate::{Origin, testing::received};

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
        let error = crate::testing::error_on_401(
            BasicAuthLayer::new("user", "pw").expect("valid"),
            Request::new(()),
        )
        .await
        .expect("401 error");
        assert_eq!(error.kind(), ErrorKind::Unauthorized);
        assert_eq!(error.detail(), Some(SENT));
    }
}
