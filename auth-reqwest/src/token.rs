//! [`TokenMiddleware`]: a token from any [`TokenSource`] on every request, with one retry on 401.

use std::fmt;

use auth_core::{AccessToken, TokenSource};
use auth_layers::{
    TokenLayer,
    adapter::{HandedOver, OutgoingRequest, RetryDecision, retry_decision},
};
use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next, Result};

use crate::{attach, middleware_error, request::Outgoing};

/// Adds a token from a [`TokenSource`] to every request and retries once on 401, as the
/// [`TokenLayer`] it is built from does for a Tower client.
///
/// The cached token is taken without awaiting; otherwise the source's fetch is awaited (one
/// fetch for all waiting requests with a [`CachedTokenSource`](auth_core::CachedTokenSource)).
/// On a 401 whose challenge blames the token, the token is invalidated, a fresh one fetched and
/// a copy of the request ([`Request::try_clone`]) sent once more; a request with a streaming
/// body cannot be copied and gets its 401 handed over. A 403 is never retried. A 401 or 403
/// handed over carries an [`AuthError`](auth_core::AuthError) in its extensions; a token that
/// cannot be fetched is a [`reqwest_middleware::Error::Middleware`] holding the `AuthError`
/// (see [`auth_error`](crate::auth_error)).
///
/// ```
/// use auth_layers::{Origin, TokenLayer};
/// use auth_oauth::OAuth2Layer;
/// use auth_reqwest::TokenMiddleware;
/// # fn main() -> Result<(), auth_core::AuthError> {
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// # let _guard = rt.enter();
/// let oauth = OAuth2Layer::client_credentials("https://auth.example.com/token", "id", "secret")
///     .scopes("read")
///     .build()?;
/// // The same cache can serve a Tower stack too: `oauth.source().clone()`.
/// let layer = oauth
///     .into_token_layer()
///     .restrict_to_origin(Origin::parse("https://api.example.com")?);
/// # #[cfg(feature = "rustls")] auth_reqwest::install_ring_provider();
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(TokenMiddleware::from(layer))
///     .build();
/// # let _ = client;
/// # Ok(()) }
/// ```
pub struct TokenMiddleware<T> {
    layer: TokenLayer<T>,
}

impl<T: TokenSource + Clone> TokenMiddleware<T> {
    /// Sends tokens from `source` in the `Authorization` header (the token's own prefix,
    /// usually `Bearer`). For another header, a query parameter, `keep_existing` or an origin
    /// restriction, configure a [`TokenLayer`] and convert it with [`TokenMiddleware::from`].
    pub fn new(source: T) -> Self {
        Self::from(TokenLayer::new(source))
    }
}

impl<T> TokenMiddleware<T> {
    /// The layer it was built from.
    pub fn layer(&self) -> &TokenLayer<T> {
        &self.layer
    }
}

impl<T: TokenSource + Clone> TokenMiddleware<T> {
    /// The token source.
    pub fn source(&self) -> &T {
        self.layer.source()
    }

    /// Adds a token, sends, and on a 401 invalidates it and sends a copy once more.
    pub(crate) async fn send(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        let Some(carried) = self.layer.adds_token_to(&Outgoing(&mut request)) else {
            return next.run(request, extensions).await;
        };
        // A keyed layer: the source of the key the request's extensions carry (set with
        // `RequestBuilder::with_extension(TokenKey::new(..))`); none, and it is not sent.
        let picked = self
            .layer
            .keyed_source(extensions)
            .map_err(middleware_error)?;
        let source: &dyn TokenSource = match &picked {
            Some(picked) => &**picked,
            None => self.layer.source(),
        };
        let token = match source.current() {
            Some(token) => token,
            None => source.token().await.map_err(middleware_error)?,
        };
        self.layer
            .put_token(&mut Outgoing(&mut request), &token)
            .map_err(middleware_error)?;
        // A bound token's request is copied even with retrying off: a DPoP nonce challenge is
        // answered by sending it again with the same token.
        let bound = token.binding().is_some();
        let mut copy = if self.layer.retries_on_401() || bound {
            request.try_clone()
        } else {
            None
        };
        let uri = bound
            .then(|| Outgoing(&mut request).target().map(|(_, uri)| uri))
            .flatten();
        let mut response = next.clone().run(request, extensions).await?;
        // Every bound response is shown to the binding (it keeps the server's nonce); the copy
        // for a resend is made only for a challenge.
        if bound
            && self.layer.nonce_challenge(
                &token,
                uri.as_ref(),
                response.status(),
                response.headers(),
            )
            && let Some(mut again) = copy.as_ref().and_then(Request::try_clone)
        {
            drop(response);
            self.layer
                .put_token(&mut Outgoing(&mut again), &token)
                .map_err(middleware_error)?;
            response = next.clone().run(again, extensions).await?;
            self.layer
                .nonce_challenge(&token, uri.as_ref(), response.status(), response.headers());
        }
        if !self.layer.retries_on_401() {
            copy = None;
        }
        let could_retry = copy.is_some();
        let (status, headers) = (response.status(), response.headers());
        let copy = match (retry_decision(status, headers, could_retry), copy) {
            (RetryDecision::Accept, _) => return Ok(response),
            (RetryDecision::Retry, Some(copy)) => copy,
            _ => {
                let handed_over = HandedOver::FirstAttempt { could_retry };
                let error = carried.token_rejection(status, headers, handed_over, &[&token]);
                return Ok(attach(response, error));
            }
        };
        source.invalidate(&token);
        let fresh = source.token().await.map_err(middleware_error)?;
        if fresh.same_as(&token) {
            // The source has nothing newer: a retry would be rejected the same way.
            let sent = [&token, &fresh];
            let error = carried.token_rejection(
                response.status(),
                response.headers(),
                HandedOver::NoNewerToken,
                &sent,
            );
            return Ok(attach(response, error));
        }
        // The first answer is done with; dropping it frees its connection for the retry.
        drop(response);
        self.retry(copy, &token, fresh, carried, extensions, next)
            .await
    }

    /// Sends `copy` with the `fresh` token; a 401 or 403 to it is handed over.
    async fn retry(
        &self,
        mut copy: Request,
        rejected: &AccessToken,
        fresh: AccessToken,
        carried: auth_layers::adapter::Carried,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        self.layer
            .put_token(&mut Outgoing(&mut copy), &fresh)
            .map_err(middleware_error)?;
        let response = next.run(copy, extensions).await?;
        let error = carried.token_rejection(
            response.status(),
            response.headers(),
            HandedOver::AfterRetry,
            &[rejected, &fresh],
        );
        Ok(attach(response, error))
    }
}

impl<T> Clone for TokenMiddleware<T> {
    fn clone(&self) -> Self {
        Self {
            layer: self.layer.clone(),
        }
    }
}

impl<T> From<TokenLayer<T>> for TokenMiddleware<T> {
    fn from(layer: TokenLayer<T>) -> Self {
        Self { layer }
    }
}

impl<T> fmt::Debug for TokenMiddleware<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenMiddleware")
            .field("layer", &self.layer)
            .finish()
    }
}

#[async_trait::async_trait]
impl<T: TokenSource + Clone> Middleware for TokenMiddleware<T> {
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        self.send(request, extensions, next).await
    }
}
