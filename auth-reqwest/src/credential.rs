//! [`CredentialMiddleware`]: a fixed credential (none, bearer, Basic, API key) on every request.

use auth_layers::AddCredentialLayer;
use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next, Result};

use crate::request::Outgoing;

/// Adds a fixed credential to every request, as the [`AddCredentialLayer`] it is built from
/// does for a Tower client: the same header (sensitive) or query parameter (replacing one of
/// the same name), `keep_existing` and origin restriction; a 401 or 403 carries an
/// [`AuthError`](auth_core::AuthError) in its extensions.
///
/// ```
/// use auth_layers::{ApiKeyLayer, BasicAuthLayer, BearerLayer, Origin};
/// use auth_reqwest::CredentialMiddleware;
/// # fn main() -> Result<(), auth_core::AuthError> {
/// let bearer = CredentialMiddleware::new(BearerLayer::new("my-token")?);
/// let basic = CredentialMiddleware::new(BasicAuthLayer::new("user", "pässword")?);
/// let api_key = CredentialMiddleware::new(
///     ApiKeyLayer::query("api_key", "k3y")
///         .build()?
///         .restrict_to_origin(Origin::parse("https://api.example.com")?),
/// );
/// # #[cfg(feature = "rustls")] auth_reqwest::install_ring_provider();
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(api_key)
///     .build();
/// # let _ = (bearer, basic, client);
/// # Ok(()) }
/// ```
///
/// `Debug` shows where the credential goes, never the credential.
#[derive(Debug, Clone)]
pub struct CredentialMiddleware {
    layer: AddCredentialLayer,
}

impl CredentialMiddleware {
    /// The middleware of `layer` (built by `NoAuthLayer::new`, `BearerLayer::new`,
    /// `BasicAuthLayer::new` or `ApiKeyLayer`'s builders).
    pub fn new(layer: AddCredentialLayer) -> Self {
        Self { layer }
    }

    /// The layer it was built from.
    pub fn layer(&self) -> &AddCredentialLayer {
        &self.layer
    }

    /// Adds the credential, sends, and describes a 401 or 403.
    pub(crate) async fn send(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        let carried = self
            .layer
            .add_to(&mut Outgoing(&mut request))
            .map_err(crate::middleware_error)?;
        let response = next.run(request, extensions).await?;
        Ok(match carried {
            Some(carried) => {
                let error = carried.rejection(response.status(), response.headers());
                crate::attach(response, error)
            }
            None => response,
        })
    }
}

impl From<AddCredentialLayer> for CredentialMiddleware {
    fn from(layer: AddCredentialLayer) -> Self {
        Self::new(layer)
    }
}

#[async_trait::async_trait]
impl Middleware for CredentialMiddleware {
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        self.send(request, extensions, next).await
    }
}
