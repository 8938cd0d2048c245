//! An explicit "no authentication": requests pass through unchanged.
//!
//! Useful where an auth layer is expected (a configured connection, a generic client stack) but
//! the API needs none. Like the other layers, a 401 or 403 response gets an
//! [`AuthError`](auth_core::AuthError) in its extensions, saying that no credential was sent.
//!
//! ```
//! use auth_layers::NoAuthLayer;
//! use http::{Request, Response};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let api = ServiceBuilder::new()
//!     .layer(NoAuthLayer::new())
//!     .service(service_fn(|req: Request<String>| async move {
//!         // stands in for an HTTP client such as hyper-util's
//!         assert!(req.headers().is_empty());
//!         Ok::<_, std::convert::Infallible>(Response::new(String::new()))
//!     }));
//!
//! let response = api.oneshot(Request::new(String::new())).await?;
//! # assert!(response.status().is_success());
//! # Ok(()) }
//! ```

use crate::{AddCredentialLayer, credential::Credential};

/// What a 401/403 says.
pub(crate) const SENT: &str = "the request carried no credential (the auth method is `none`)";

/// Named constructor of an [`AddCredentialLayer`] that adds no credential. This type has no
/// values.
///
/// See the [module docs](crate::none).
#[derive(Debug)]
pub enum NoAuthLayer {}

impl NoAuthLayer {
    /// A layer that adds nothing.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> AddCredentialLayer {
        AddCredentialLayer::new(Credential::none(SENT))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use auth_core::{AuthError, ErrorKind};
    use http::{Request, Response, header::AUTHORIZATION};
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    use super::*;

    #[tokio::test]
    async fn passes_the_request_through_unchanged() {
        let svc = ServiceBuilder::new()
            .layer(NoAuthLayer::new())
            .service(service_fn(|req: Request<&'static str>| async move {
                assert_eq!(req.uri(), "/p?q=1");
                assert_eq!(req.headers()[AUTHORIZATION], "Bearer mine");
                assert_eq!(req.headers().len(), 1);
                assert_eq!(*req.body(), "body");
                Ok::<_, Infallible>(Response::new(()))
            }));
        let req = Request::get("/p?q=1")
            .header(AUTHORIZATION, "Bearer mine")
            .body("body")
            .expect("valid request");
        let response = svc.oneshot(req).await.expect("infallible");
        assert!(response.extensions().get::<AuthError>().is_none());
    }

    #[tokio::test]
    async fn a_401_says_no_credential_was_sent() {
        let error = crate::testing::error_on_401(NoAuthLayer::new(), Request::new(()))
            .await
            .expect("401 error");
        assert_eq!(error.kind(), ErrorKind::Unauthorized);
        assert_eq!(error.detail(), Some(SENT));
    }
}
