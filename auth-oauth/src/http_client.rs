//! [`TokenHttpClient`]: the HTTP client token requests go through, over any Tower service.
//!
//! It implements the `oauth2` crate's [`AsyncHttpClient`], so it also works with that crate's
//! own flows. Whatever service it wraps, token requests:
//!
//! - never follow redirects: a 3xx is an [`ErrorKind::TokenEndpoint`] error naming the host it
//!   pointed to;
//! - read at most [`DEFAULT_MAX_RESPONSE_SIZE`] bytes of response body (a larger body is an
//!   [`ErrorKind::MalformedResponse`] error);
//! - have their own deadline, [`DEFAULT_TIMEOUT`] ([`ErrorKind::Timeout`]);
//! - refuse plain `http://` unless the host is loopback (`127.0.0.0/8`, `::1`, `localhost`) or
//!   [`TokenHttpClient::allow_insecure_http`] was set.
//!
//! The default client is hyper-util's legacy client over HTTP/1.1, with HTTPS through rustls
//! (the `rustls` feature, on by default) and rustls's process-default `CryptoProvider`: the
//! application's if it installed one, else *ring*. Bring your own stack, e.g. with mTLS or tracing
//! layers, with [`TokenHttpClient::from_service`]:
//!
//! ```
//! use auth_oauth::TokenHttpClient;
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::{client::legacy::Client, rt::TokioExecutor};
//! use std::time::Duration;
//!
//! let hyper_client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
//! let client = TokenHttpClient::from_service(hyper_client)
//!     .timeout(Duration::from_secs(10))
//!     .max_response_size(64 * 1024);
//! ```

use std::{
    error::Error as StdError,
    fmt,
    future::{Future, poll_fn},
    net::IpAddr,
    pin::{Pin, pin},
    sync::Arc,
    time::Duration,
};

use auth_core::{AuthError, ErrorKind};
use bytes::{Buf, Bytes};
use http::{Request, Response, header};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse, url::Url};
use tower_service::Service;

/// Default deadline of one token request, response body included: 30 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on a token response body: 1 MiB.
pub const DEFAULT_MAX_RESPONSE_SIZE: usize = 1024 * 1024;

type BoxError = Box<dyn StdError + Send + Sync>;
type SendFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, AuthError>> + Send>>;

/// Sends token requests; see the [module docs](self). Cheap to clone (clones share the
/// connection pool).
#[derive(Clone)]
pub struct TokenHttpClient {
    service: Arc<dyn ErasedService>,
    timeout: Duration,
    max_response_size: usize,
    allow_insecure_http: bool,
}

impl TokenHttpClient {
    /// The default client: hyper-util's legacy client (HTTP/1.1), with HTTPS through rustls and
    /// the platform's root certificates when the `rustls` feature is on (the default).
    ///
    /// Fails with [`ErrorKind::Config`] when no root certificate can be loaded.
    pub fn new() -> Result<Self, AuthError> {
        default_client::build().map(Self::from_service)
    }

    /// Sends token requests through `service`, e.g. a hyper-util client, or a
    /// `ServiceBuilder` stack around one (mTLS, tracing, proxies).
    ///
    /// The limits of this type (redirects, body cap, timeout, `http://`) apply on top of
    /// whatever the service does.
    pub fn from_service<S, B>(service: S) -> Self
    where
        S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        Self {
            service: Arc::new(Erased(service)),
            timeout: DEFAULT_TIMEOUT,
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
            allow_insecure_http: false,
        }
    }

    /// An HTTPS client (hyper-util's legacy client) presenting `tls`' client certificate and
    /// trusting its roots: for token endpoints that require mTLS or sit behind a private CA,
    /// whatever the client authentication method.
    ///
    /// Fails with [`ErrorKind::Config`] when the TLS configuration cannot be built.
    #[cfg(feature = "mtls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mtls")))]
    pub fn with_client_tls(tls: &auth_layers::tls::ClientTls) -> Result<Self, AuthError> {
        use hyper_util::{client::legacy::Client, rt::TokioExecutor};

        let connector = tls.https_connector()?;
        Ok(Self::from_service(
            Client::builder(TokioExecutor::new()).build(connector),
        ))
    }

    /// The deadline of one token request, response body included. Defaults to 30 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest response body read, in bytes. Defaults to 1 MiB.
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.max_response_size = bytes;
        self
    }

    /// Allows plain `http://` to hosts that are not loopback. Defaults to `false`: tokens and
    /// client secrets would cross the network in clear text.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Whether plain `http://` to non-loopback hosts is allowed.
    pub fn allows_insecure_http(&self) -> bool {
        self.allow_insecure_http
    }

    /// Checks that `url` may be used with this client: `https`, or `http` to a loopback host,
    /// or `http` anywhere when allowed. `what` names the setting in the error.
    pub fn check_url(&self, url: &Url, what: &str) -> Result<(), AuthError> {
        check_url(url, self.allow_insecure_http, what)
    }

    /// Sends `request` (a token request) under this client's limits.
    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse, AuthError> {
        self.send_to(request, Peer::TOKEN_ENDPOINT).await
    }

    /// Sends `request` to `peer` under this client's limits; errors name the peer.
    pub(crate) async fn send_to(
        &self,
        request: HttpRequest,
        peer: Peer,
    ) -> Result<HttpResponse, AuthError> {
        let url = Url::parse(&request.uri().to_string())
            .map_err(|_| AuthError::new(ErrorKind::Request, "the request URI is not a URL"))?;
        self.check_url(&url, peer.url)?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let request = request.map(|body| Full::new(Bytes::from(body)));
        let response = tokio::time::timeout(
            self.timeout,
            self.service.send(request, self.max_response_size),
        )
        .await
        .map_err(|_| {
            AuthError::new(
                ErrorKind::Timeout,
                format!(
                    "the {} `{host}` did not answer within {:?}",
                    peer.name, self.timeout
                ),
            )
        })?
        .map_err(|e| e.with_detail_prefix(peer, &host))?;
        if response.status().is_redirection() {
            return Err(redirect_error(peer, &url, &response));
        }
        Ok(response)
    }
}

/// Who a request goes to, for the messages of its errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer {
    /// "token endpoint".
    name: &'static str,
    /// The URL, as a setting: "token request URL".
    url: &'static str,
    /// What to correct after a redirect: "the token URL".
    fix: &'static str,
}

impl Peer {
    pub(crate) const TOKEN_ENDPOINT: Peer = Peer {
        name: "token endpoint",
        url: "token request URL",
        fix: "the token URL",
    };
    pub(crate) const PROFILE: Peer = Peer {
        name: "profile endpoint",
        url: "profile.url",
        fix: "the profile URL",
    };
    pub(crate) const DEVICE_AUTHORIZATION: Peer = Peer {
        name: "device authorization endpoint",
        url: "device_authorization_url",
        fix: "the device authorization URL",
    };
    pub(crate) const REVOCATION: Peer = Peer {
        name: "revocation endpoint",
        url: "revocation_url",
        fix: "the revocation URL",
    };
    pub(crate) const METADATA: Peer = Peer {
        name: "authorization server metadata endpoint",
        url: "metadata URL",
        fix: "the issuer",
    };
}

impl fmt::Debug for TokenHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenHttpClient")
            .field("timeout", &self.timeout)
            .field("max_response_size", &self.max_response_size)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish_non_exhaustive()
    }
}

impl<'c> AsyncHttpClient<'c> for TokenHttpClient {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, AuthError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

/// The limits a token-request builder was given, applied on top of its HTTP client: shared by
/// [`TokenEndpointBuilder`](crate::TokenEndpointBuilder) and
/// [`CustomTokenRequestBuilder`](crate::custom::CustomTokenRequestBuilder).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HttpLimits {
    pub(crate) timeout: Option<Duration>,
    pub(crate) max_response_size: Option<usize>,
    pub(crate) allow_insecure_http: bool,
}

impl HttpLimits {
    /// `http` (or the default client) with these limits, after checking that `url` (the setting
    /// `what`) may be used with it.
    pub(crate) fn client(
        self,
        http: Option<TokenHttpClient>,
        url: &Url,
        what: &str,
    ) -> Result<TokenHttpClient, AuthError> {
        let mut http = match http {
            Some(http) => http,
            None => TokenHttpClient::new()?,
        };
        if self.allow_insecure_http {
            http = http.allow_insecure_http(true);
        }
        if let Some(timeout) = self.timeout {
            http = http.timeout(timeout);
        }
        if let Some(bytes) = self.max_response_size {
            http = http.max_response_size(bytes);
        }
        http.check_url(url, what)?;
        Ok(http)
    }
}

/// Whether `url`'s host is loopback: `localhost`, `127.0.0.0/8` or `::1`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(oauth2::url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(oauth2::url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(oauth2::url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

pub(crate) fn check_url(url: &Url, allow_insecure_http: bool, what: &str) -> Result<(), AuthError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http || is_loopback(url) => Ok(()),
        "http" => Err(AuthError::config(
            what,
            format!(
                "`http://{}` is not loopback: use https, or allow plain HTTP explicitly with \
                 `allow_insecure_http(true)`",
                url.host_str().unwrap_or_default()
            ),
        )),
        other => Err(AuthError::config(
            what,
            format!("unsupported scheme `{other}` (expected https)"),
        )),
    }
}

fn redirect_error(peer: Peer, url: &Url, response: &HttpResponse) -> AuthError {
    let target = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|location| url.join(location).ok())
        .map(|to| format!("`{}`", to.host_str().unwrap_or_default()))
        .unwrap_or_else(|| "an unknown location".to_owned());
    AuthError::new(
        ErrorKind::TokenEndpoint,
        format!(
            "the {} redirected to {target}; requests to the authorization server never follow \
             redirects: set {} to the final address",
            peer.name, peer.fix
        ),
    )
    .with_status(response.status())
}

trait WithPrefix {
    fn with_detail_prefix(self, peer: Peer, host: &str) -> Self;
}

impl WithPrefix for AuthError {
    fn with_detail_prefix(self, peer: Peer, host: &str) -> Self {
        let detail = match self.detail() {
            Some(d) => format!("{d} ({} `{host}`)", peer.name),
            None => format!("{} `{host}`", peer.name),
        };
        self.with_detail(detail)
    }
}

/// A Tower service with its types erased, so grants need no type parameter for their client.
trait ErasedService: Send + Sync {
    fn send(&self, request: Request<Full<Bytes>>, max: usize) -> SendFuture;
}

struct Erased<S>(S);

impl<S, B> ErasedService for Erased<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    fn send(&self, request: Request<Full<Bytes>>, max: usize) -> SendFuture {
        let mut service = self.0.clone();
        Box::pin(async move {
            poll_fn(|cx| service.poll_ready(cx))
                .await
                .map_err(|e| transport_error(e.into()))?;
            let response = service
                .call(request)
                .await
                .map_err(|e| transport_error(e.into()))?;
            let (parts, body) = response.into_parts();
            let body = read_capped(body, parts.headers.get(header::CONTENT_LENGTH), max)
                .await
                .map_err(|e| e.with_status(parts.status))?;
            Ok(Response::from_parts(parts, body))
        })
    }
}

async fn read_capped<B>(
    body: B,
    content_length: Option<&http::HeaderValue>,
    max: usize,
) -> Result<Vec<u8>, AuthError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let too_large = || {
        AuthError::new(
            ErrorKind::MalformedResponse,
            format!("the token response is larger than the {max}-byte limit"),
        )
    };
    let declared = content_length
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(too_large());
    }
    let mut body = pin!(body);
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| transport_error(e.into()))?;
        if let Ok(mut data) = frame.into_data() {
            if out.len() + data.remaining() > max {
                return Err(too_large());
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                out.extend_from_slice(chunk);
                let n = chunk.len();
                data.advance(n);
            }
        }
    }
    Ok(out)
}

/// A failed send: a timeout when the chain says so, a transport error otherwise. The whole
/// chain goes into one message because hyper's top-level errors ("client error (Connect)")
/// say little on their own.
fn transport_error(error: BoxError) -> AuthError {
    let mut chain = error.to_string();
    let mut timed_out = false;
    let mut source: Option<&(dyn StdError + 'static)> = Some(&*error);
    while let Some(e) = source {
        if e.is::<tokio::time::error::Elapsed>()
            || e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            timed_out = true;
        }
        if let Some(next) = e.source() {
            let text = next.to_string();
            if !chain.contains(&text) {
                chain.push_str(": ");
                chain.push_str(&text);
            }
        }
        source = e.source();
    }
    let kind = if timed_out {
        ErrorKind::Timeout
    } else {
        ErrorKind::Transport
    };
    AuthError::new(kind, "sending the request failed").with_source(chain)
}

mod default_client {
    use super::*;
    use hyper_util::{
        client::legacy::{Client, connect::HttpConnector},
        rt::TokioExecutor,
    };

    fn http_connector() -> HttpConnector {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http
    }

    /// The TLS configuration, loaded once per process: reading the platform's roots parses
    /// hundreds of certificates. A `ClientConfig` holds no runtime state, so sharing it is safe
    /// (unlike a connection pool, which is tied to the runtime that spawned its tasks).
    #[cfg(feature = "rustls")]
    fn tls_config() -> Result<rustls::ClientConfig, AuthError> {
        use hyper_rustls::ConfigBuilderExt;
        use std::sync::OnceLock;

        static CONFIG: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();
        let config = CONFIG.get_or_init(|| {
            // rustls's rule for libraries: the process-default `CryptoProvider`, which is the
            // application's if it installed one, else the one rustls's features name (ring, as
            // this crate enables it). Safe default protocol versions.
            rustls::ClientConfig::builder()
                .with_native_roots()
                .map(|b| b.with_no_client_auth())
                .map_err(|e| e.to_string())
        });
        config.clone().map_err(|e| {
            AuthError::new(
                ErrorKind::Config,
                "no root certificates could be loaded for HTTPS token endpoints (install the \
                 system's CA certificates, or pass your own client with `from_service`)",
            )
            .with_source(e)
        })
    }

    #[cfg(feature = "rustls")]
    pub(super) fn build()
    -> Result<Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>, AuthError> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config()?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http_connector());
        Ok(Client::builder(TokioExecutor::new()).build(connector))
    }

    #[cfg(not(feature = "rustls"))]
    pub(super) fn build() -> Result<Client<HttpConnector, Full<Bytes>>, AuthError> {
        Ok(Client::builder(TokioExecutor::new()).build(http_connector()))
    }
}

#[cfg(test)]
mod tests;
