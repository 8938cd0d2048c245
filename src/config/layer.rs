//! [`ConnectionLayer`]: the layer a configured connection builds, whatever its auth method.
//!
//! One enum over the concrete layers, so a configuration-built client has the same per-request
//! cost as a hand-built one (no boxed futures). The connection's default headers
//! ([`DefaultHeadersLayer`]) are added by the service itself, before the credential (which
//! replaces a default header of the same name: the credential always wins), so a connection
//! without headers pays one length check and no extra layer.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use auth_core::{AuthError, ExposeSecret, TokenSource};
use auth_layers::{
    AddCredential, AddCredentialLayer, ApiKeyLayer, BasicAuthLayer, BearerLayer, BoxError,
    DefaultHeadersLayer, NoAuthLayer, Origin, ReplayableBody, Token, TokenLayer,
};
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{
    error::{ConfigError, Problem},
    spec::{AuthSpec, ConnectionSpec, Location},
};

/// The layer of one configured connection; see [`ConnectionSpec::layer`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ConnectionLayer {
    inner: Inner,
    /// A fixed credential served from a rotating file (by a token layer), or one token per
    /// tenant (a keyed layer): no one token to show or prefetch.
    fixed: bool,
    /// The default headers sent on every request.
    headers: DefaultHeadersLayer,
}

/// A fixed credential (none, bearer, API key, Basic) or a token source.
#[derive(Clone, Debug)]
enum Inner {
    Static(AddCredentialLayer),
    Token(TokenLayer<Arc<dyn TokenSource>>),
}

impl ConnectionLayer {
    /// A layer that sends tokens from `source` (for auth methods built outside this crate).
    pub fn token(source: Arc<dyn TokenSource>) -> Self {
        Self {
            inner: Inner::Token(TokenLayer::new(source)),
            fixed: false,
            headers: DefaultHeadersLayer::new(),
        }
    }

    /// A keyed layer (one token per tenant) with the connection's default headers.
    #[cfg(feature = "oauth2")]
    pub(crate) fn keyed(
        layer: TokenLayer<Arc<dyn TokenSource>>,
        headers: DefaultHeadersLayer,
    ) -> Self {
        Self {
            inner: Inner::Token(layer),
            fixed: true,
            headers,
        }
    }

    /// Sends `headers` on every request that does not set them itself (the credential wins
    /// over a default header of the same name). Replaces the connection's own `headers`.
    pub fn with_default_headers(mut self, headers: DefaultHeadersLayer) -> Self {
        self.headers = headers;
        self
    }

    /// The default headers sent on every request (empty when the connection has none).
    pub fn default_headers(&self) -> &DefaultHeadersLayer {
        &self.headers
    }

    /// The token source, for auth methods that have one (not for a fixed credential, even one
    /// read from a rotating file).
    pub fn token_source(&self) -> Option<&Arc<dyn TokenSource>> {
        match &self.inner {
            Inner::Token(layer) if !self.fixed => Some(layer.source()),
            _ => None,
        }
    }

    /// Fetches the first token now (with `issuer`, after discovery), so a service starts with
    /// a warm cache and fails fast at startup on bad credentials; the error is the fetch's
    /// ([`ErrorKind::InvalidClient`](auth_core::ErrorKind), …). Nothing to do for fixed
    /// credentials (none, bearer, API key, Basic).
    ///
    /// ```no_run
    /// # async fn run(config: tower_auth::config::Config) -> Result<(), Box<dyn std::error::Error>> {
    /// let layer = config.connection("billing", None)?.layer()?;
    /// layer.prefetch().await?;
    /// # Ok(()) }
    /// ```
    pub async fn prefetch(&self) -> Result<(), AuthError> {
        if let Some(source) = self.token_source() {
            source.token().await?;
        }
        Ok(())
    }

    /// The connection as a `reqwest-middleware` middleware (feature `reqwest`): the same
    /// credential or token source (one cache, shared with this layer), origin restriction and
    /// default headers.
    ///
    /// ```no_run
    /// # async fn run(config: tower_auth::config::Config) -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_auth::reqwest::{reqwest, reqwest_middleware};
    ///
    /// let billing = config.connection("billing", None)?.layer()?;
    /// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
    ///     .with(billing.reqwest_middleware())
    ///     .build();
    /// # let _ = client;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "reqwest")]
    #[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
    pub fn reqwest_middleware(&self) -> auth_reqwest::AuthMiddleware {
        let middleware = match &self.inner {
            Inner::Static(layer) => auth_reqwest::AuthMiddleware::from(layer.clone()),
            Inner::Token(layer) => auth_reqwest::AuthMiddleware::from(layer.clone()),
        };
        middleware.with_default_headers(self.headers.clone())
    }
}

impl ConnectionSpec {
    /// Resolves the connection's secrets and builds its layer.
    ///
    /// The credential is restricted to the origin of `base_url`: requests to any other origin
    /// (after a redirect, say) pass through without it. The connection's `headers` are sent on
    /// every request that does not set them itself.
    ///
    /// Errors name the key path (`connections.billing.auth.token: environment variable
    /// `BILLING_TOKEN` is not set`) and never a secret.
    pub fn layer(&self) -> Result<ConnectionLayer, ConfigError> {
        let origin = Origin::of_url(&self.base_url).map_err(|e| {
            ConfigError::new(
                "configuration",
                vec![Problem {
                    path: format!("connections.{}.base_url", self.name),
                    message: e.detail().unwrap_or("not a URL").to_owned(),
                }],
            )
        })?;
        if let (Some(tenants), Some(_)) = (&self.tenants, &self.template) {
            return super::tenants::keyed_layer(self, tenants, origin);
        }
        let path = format!("connections.{}.auth", self.name);
        let fail = |key: &str, message: String| {
            ConfigError::new(
                "configuration",
                vec![Problem {
                    path: format!("{path}.{key}"),
                    message,
                }],
            )
        };
        let resolve = |key: &str, secret: &super::SecretRef| {
            secret
                .resolve_for(&format!("{path}.{key}"), &self.redactor)
                .map_err(ConfigError::secret)
        };
        // A credential in a file rotates: served from the file, re-read when it changes.
        if let Some(layer) = super::rotation::static_layer(self)? {
            return Ok(ConnectionLayer {
                inner: Inner::Token(layer.restrict_to_origin(origin)),
                fixed: true,
                headers: self.default_headers_layer()?,
            });
        }
        let inner = match &self.auth {
            AuthSpec::None => Inner::Static(NoAuthLayer::new()),
            AuthSpec::Bearer {
                token,
                header,
                prefix,
            } => Inner::Static(
                BearerLayer::builder(resolve("token", token)?)
                    .header_name(header.clone())
                    .prefix(prefix.clone())
                    .build()
                    .map_err(|e| fail("token", e.to_string()))?
                    .restrict_to_origin(origin),
            ),
            AuthSpec::ApiKey {
                key_name,
                key_value,
                location,
                prefix,
            } => {
                let key = resolve("key_value", key_value)?;
                let builder = match location {
                    Location::Header => ApiKeyLayer::header(key_name.clone(), key),
                    Location::Query => ApiKeyLayer::query(key_name.clone(), key),
                };
                let builder = match prefix {
                    Some(prefix) => builder.prefix(prefix.clone()),
                    None => builder,
                };
                Inner::Static(
                    builder
                        .build()
                        .map_err(|e| fail("key_name", e.to_string()))?
                        .restrict_to_origin(origin),
                )
            }
            AuthSpec::Basic { username, password } => {
                let password = resolve("password", password)?;
                // As sent: the base64 of `username:password`.
                self.redactor.add_basic(username, password.expose_secret());
                Inner::Static(
                    BasicAuthLayer::new(username, password)
                        .map_err(|e| fail("username", e.to_string()))?
                        .restrict_to_origin(origin),
                )
            }
            #[cfg(feature = "oauth2")]
            AuthSpec::OAuth2(o) => Inner::Token(
                TokenLayer::new(super::oauth::token_source(self, o)?).restrict_to_origin(origin),
            ),
            #[cfg(feature = "oauth2")]
            AuthSpec::JwtBearer(j) => Inner::Token(
                TokenLayer::new(super::oauth::jwt_bearer_source(self, j)?)
                    .restrict_to_origin(origin),
            ),
            #[cfg(feature = "oauth2")]
            AuthSpec::Custom(c) => {
                Inner::Token(super::custom::token_layer(self, c)?.restrict_to_origin(origin))
            }
            // Reached only without the `oauth2` feature.
            #[allow(unreachable_patterns)]
            other => {
                return Err(fail(
                    "type",
                    format!(
                        "auth type `{}` cannot be built by this build of tower-auth{}",
                        other.type_name(),
                        if cfg!(feature = "oauth2") {
                            ""
                        } else {
                            " (enable the `oauth2` feature)"
                        }
                    ),
                ));
            }
        };
        Ok(ConnectionLayer {
            inner,
            fixed: false,
            headers: self.default_headers_layer()?,
        })
    }

    /// The `OAuth2Layer` of an `oauth2` connection with `grant = "authorization_code"`, whose
    /// [`login`](auth_oauth::OAuth2Layer::login) signs in through the browser. With `issuer`,
    /// the endpoints the configuration does not name are discovered first.
    #[cfg(feature = "oauth2")]
    #[cfg_attr(docsrs, doc(cfg(feature = "oauth2")))]
    pub async fn authorization_code_layer(
        &self,
    ) -> Result<auth_oauth::OAuth2Layer<auth_oauth::grant::AuthorizationCode>, ConfigError> {
        match &self.auth {
            AuthSpec::OAuth2(o) if o.grant == "authorization_code" => {
                super::oauth::authorization_code(self, o).await
            }
            _ => Err(ConfigError::new(
                "configuration",
                vec![Problem {
                    path: format!("connections.{}.auth.grant", self.name),
                    message:
                        "sign-in needs `type = \"oauth2\"` with `grant = \"authorization_code\"`"
                            .to_owned(),
                }],
            )),
        }
    }
}

impl ConnectionSpec {
    /// The `OAuth2Layer` of an `oauth2` connection with `grant = "device_code"`, whose
    /// [`device_login`](auth_oauth::OAuth2Layer::device_login) signs in with a code the user
    /// enters on another device. With `issuer`, the endpoints the configuration does not name
    /// (the device authorization endpoint among them) are discovered first.
    #[cfg(feature = "oauth2")]
    #[cfg_attr(docsrs, doc(cfg(feature = "oauth2")))]
    pub async fn device_code_layer(
        &self,
    ) -> Result<auth_oauth::OAuth2Layer<auth_oauth::grant::DeviceCode>, ConfigError> {
        match &self.auth {
            AuthSpec::OAuth2(o) if o.grant == "device_code" => {
                super::oauth::device_code(self, o).await
            }
            _ => Err(ConfigError::new(
                "configuration",
                vec![Problem {
                    path: format!("connections.{}.auth.grant", self.name),
                    message:
                        "device sign-in needs `type = \"oauth2\"` with `grant = \"device_code\"`"
                            .to_owned(),
                }],
            )),
        }
    }
}

impl<S: Clone> Layer<S> for ConnectionLayer {
    type Service = ConnectionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let inner = match &self.inner {
            Inner::Static(l) => ServiceInner::Static(l.layer(inner)),
            Inner::Token(l) => ServiceInner::Token(l.layer(inner)),
        };
        ConnectionService {
            inner,
            headers: self.headers.clone(),
        }
    }
}

/// The service made by [`ConnectionLayer`].
#[derive(Clone, Debug)]
pub struct ConnectionService<S> {
    inner: ServiceInner<S>,
    headers: DefaultHeadersLayer,
}

#[derive(Clone, Debug)]
enum ServiceInner<S> {
    Static(AddCredential<S>),
    Token(Token<S, Arc<dyn TokenSource>>),
}

type Futures<S, B> = ConnectionFuture<
    <AddCredential<S> as Service<Request<B>>>::Future,
    <Token<S, Arc<dyn TokenSource>> as Service<Request<B>>>::Future,
>;

impl<S, B, ResB> Service<Request<B>> for ConnectionService<S>
where
    S: Service<Request<B>, Response = Response<ResB>> + Clone,
    S::Error: Into<BoxError>,
    B: ReplayableBody,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResB>;
    type Error = BoxError;
    type Future = Futures<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match &mut self.inner {
            ServiceInner::Static(s) => s.poll_ready(cx),
            ServiceInner::Token(s) => s.poll_ready(cx),
        }
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if self.headers.is_empty() {
            // Not through `apply_to`: borrowing the request would copy it once more.
            return self.dispatch(request);
        }
        let mut request = request;
        self.headers.apply_to(&mut request);
        self.dispatch(request)
    }
}

impl<S> ConnectionService<S> {
    #[inline]
    fn dispatch<B, ResB>(&mut self, request: Request<B>) -> Futures<S, B>
    where
        S: Service<Request<B>, Response = Response<ResB>> + Clone,
        S::Error: Into<BoxError>,
        B: ReplayableBody,
        B::Error: Into<BoxError>,
    {
        match &mut self.inner {
            ServiceInner::Static(s) => ConnectionFuture::Static { f: s.call(request) },
            ServiceInner::Token(s) => ConnectionFuture::Token { f: s.call(request) },
        }
    }
}

pin_project! {
    /// Response future of [`ConnectionService`].
    #[project = Projection]
    pub enum ConnectionFuture<F0, F1> {
        /// A fixed credential (none, bearer, API key, Basic).
        Static { #[pin] f: F0 },
        /// A token from a source.
        Token { #[pin] f: F1 },
    }
}

impl<T, F0, F1> Future for ConnectionFuture<F0, F1>
where
    F0: Future<Output = Result<T, BoxError>>,
    F1: Future<Output = Result<T, BoxError>>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projection::Static { f } => f.poll(cx),
            Projection::Token { f } => f.poll(cx),
        }
    }
}
