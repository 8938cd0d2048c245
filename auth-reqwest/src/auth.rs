//! [`AuthMiddleware`]: either middleware, chosen at run time, with default headers.

use std::sync::Arc;

use auth_core::TokenSource;
use auth_layers::{AddCredentialLayer, DefaultHeadersLayer, TokenLayer};
use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next, Result};

use crate::{CredentialMiddleware, TokenMiddleware};

/// A fixed credential or a token source, chosen at run time, plus headers sent on every request
/// that does not set them itself: what a configured connection builds (the facade's
/// `ConnectionLayer::reqwest_middleware`).
///
/// ```
/// use auth_layers::{BearerLayer, DefaultHeadersLayer};
/// use auth_reqwest::AuthMiddleware;
/// # fn main() -> Result<(), auth_core::AuthError> {
/// let middleware = AuthMiddleware::from(BearerLayer::new("my-token")?)
///     .with_default_headers(DefaultHeadersLayer::new().header("Accept", "application/json")?);
/// # #[cfg(feature = "rustls")] auth_reqwest::install_ring_provider();
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(middleware)
///     .build();
/// # let _ = client;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AuthMiddleware {
    method: Method,
    headers: DefaultHeadersLayer,
}

#[derive(Debug, Clone)]
enum Method {
    Credential(CredentialMiddleware),
    Token(TokenMiddleware<Arc<dyn TokenSource>>),
}

impl AuthMiddleware {
    /// Sends `headers` on every request that does not set them itself (the credential wins
    /// over a default header of the same name). Replaces earlier default headers.
    pub fn with_default_headers(mut self, headers: DefaultHeadersLayer) -> Self {
        self.headers = headers;
        self
    }

    /// The token source, when the middleware sends tokens.
    pub fn token_source(&self) -> Option<&Arc<dyn TokenSource>> {
        match &self.method {
            Method::Token(token) => Some(token.source()),
            Method::Credential(_) => None,
        }
    }

    fn of(method: Method) -> Self {
        Self {
            method,
            headers: DefaultHeadersLayer::new(),
        }
    }
}

impl From<CredentialMiddleware> for AuthMiddleware {
    fn from(middleware: CredentialMiddleware) -> Self {
        Self::of(Method::Credential(middleware))
    }
}

impl From<AddCredentialLayer> for AuthMiddleware {
    fn from(layer: AddCredentialLayer) -> Self {
        Self::of(Method::Credential(CredentialMiddleware::new(layer)))
    }
}

impl From<TokenMiddleware<Arc<dyn TokenSource>>> for AuthMiddleware {
    fn from(middleware: TokenMiddleware<Arc<dyn TokenSource>>) -> Self {
        Self::of(Method::Token(middleware))
    }
}

impl From<TokenLayer<Arc<dyn TokenSource>>> for AuthMiddleware {
    fn from(layer: TokenLayer<Arc<dyn TokenSource>>) -> Self {
        Self::of(Method::Token(TokenMiddleware::from(layer)))
    }
}

#[async_trait::async_trait]
impl Middleware for AuthMiddleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        for (name, value) in self.headers.headers() {
            if !request.headers().contains_key(name) {
                request.headers_mut().insert(name.clone(), value.clone());
            }
        }
        match &self.method {
            Method::Credential(middleware) => middleware.send(request, extensions, next).await,
            Method::Token(middleware) => middleware.send(request, extensions, next).await,
        }
    }
}
