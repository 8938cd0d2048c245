//! [`TokenEndpoint`]: where token requests go, who the client is, and how answers are read.
//!
//! Every grant sends its requests through one of these. It holds the token URL, the client's
//! id, secret and [`ClientAuth`] method, the [`KeyMap`] for the answers, the header prefix of
//! the resulting tokens, and the [`TokenHttpClient`].
//!
//! ```
//! use auth_oauth::{ClientAuth, TokenEndpoint, TokenParams};
//! # async fn run() -> Result<(), auth_core::AuthError> {
//! let endpoint = TokenEndpoint::builder("https://auth.example.com/oauth/token", "my-client")
//!     .client_secret("s3cr3t")
//!     .client_auth(ClientAuth::Auto)
//!     .build()?;
//! // Grants call this; custom grants (token exchange, …) can too.
//! let response = endpoint
//!     .request(&[("grant_type", "client_credentials")], &TokenParams::new().scopes("read"))
//!     .await?;
//! # Ok(()) }
//! ```

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use auth_core::{AuthError, SecretString};
use http::{HeaderValue, Method as HttpMethod, Request, header};
use oauth2::url::Url;

use crate::{
    ClientAuth, KeyMap, TokenHttpClient, TokenParams, TokenResponse,
    assertion::SigningKey,
    client_auth::{
        ClientAssertion, ClientIdentity, DEFAULT_CLIENT_ASSERTION_LIFETIME, Method, rejected_client,
    },
    http_client::HttpLimits,
    normalize::normalize,
};

mod binding;

/// Emits a tracing event when the `tracing` feature is on; nothing otherwise.
macro_rules! event {
    ($level:ident, $($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        tracing::$level!(target: "tower_auth::oauth", $($arg)*);
    };
}
pub(crate) use event;

/// A token endpoint and the client that talks to it; see the [module docs](self). Cheap to
/// clone (clones share everything, including what [`ClientAuth::Auto`] learnt).
#[derive(Clone)]
pub struct TokenEndpoint {
    inner: Arc<Inner>,
}

struct Inner {
    url: Url,
    client: ClientIdentity,
    key_map: KeyMap,
    header_prefix: Option<String>,
    http: TokenHttpClient,
    /// The `x5t#S256` of the client certificate the HTTP client presents, when known.
    certificate_thumbprint: Option<String>,
    /// The `cnf` `x5t#S256` of the latest token that carried one.
    bound_certificate: Mutex<Option<String>>,
}

/// How one request differs from a plain one; grants other than the RFC 6749 ones need this.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestOptions {
    /// Send `scope` as a form parameter (the JWT bearer grant may put it in its assertion).
    pub(crate) scope_in_body: bool,
    /// Leave out `client_id` for a public client (an assertion grant identifies the client
    /// by its assertion).
    pub(crate) public_client_id: bool,
}

impl RequestOptions {
    pub(crate) const STANDARD: RequestOptions = RequestOptions {
        scope_in_body: true,
        public_client_id: true,
    };
}

impl TokenEndpoint {
    /// Starts configuring the endpoint at `token_url` for the client `client_id`.
    pub fn builder(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
    ) -> TokenEndpointBuilder {
        TokenEndpointBuilder {
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: None,
            client_auth: None,
            key_map: KeyMap::default(),
            header_prefix: None,
            http: None,
            limits: HttpLimits::default(),
            client_key: None,
            client_assertion_audience: None,
            client_assertion_lifetime: None,
            #[cfg(feature = "mtls")]
            client_tls: None,
        }
    }

    /// The token URL.
    pub fn token_url(&self) -> &Url {
        &self.inner.url
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.inner.client.id
    }

    /// The configured client-authentication method.
    pub fn client_auth(&self) -> ClientAuth {
        self.inner.client.auth()
    }

    /// The header prefix tokens are sent with, when overridden.
    pub fn header_prefix(&self) -> Option<&str> {
        self.inner.header_prefix.as_deref()
    }

    /// The key map answers are read with.
    pub fn key_map(&self) -> &KeyMap {
        &self.inner.key_map
    }

    /// The HTTP client requests go through.
    pub fn http_client(&self) -> &TokenHttpClient {
        &self.inner.http
    }

    /// The `x5t#S256` thumbprint (base64url SHA-256 of the DER) of the client certificate the
    /// token requests present, when it was given with `TokenEndpointBuilder::tls_client_auth`
    /// (feature `mtls`); `None` otherwise.
    pub fn certificate_thumbprint(&self) -> Option<&str> {
        self.inner.certificate_thumbprint.as_deref()
    }

    /// The certificate the latest certificate-bound token is bound to: the `x5t#S256` of its
    /// `cnf` claim (RFC 8705 §3), read from the token response or, for a JWT access token,
    /// from the token itself. `None` until such a token arrives.
    ///
    /// A bound token is only accepted from a client that presents the same certificate: the
    /// API client must present the same certificate as the token endpoint client (the same
    /// `auth_layers::tls::ClientTls`; compare with
    /// [`certificate_thumbprint`](Self::certificate_thumbprint)).
    pub fn bound_certificate(&self) -> Option<String> {
        self.inner
            .bound_certificate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends one token request: the grant's `fields` (including `grant_type`), then `params`'
    /// scope, audience, resources and extras, with the client's authentication, and normalizes
    /// the answer. With [`ClientAuth::Auto`], a rejected Basic attempt is retried once with the
    /// body method.
    pub async fn request(
        &self,
        fields: &[(&str, &str)],
        params: &TokenParams,
    ) -> Result<TokenResponse, AuthError> {
        self.request_with(fields, params, RequestOptions::STANDARD)
            .await
    }

    /// [`TokenEndpoint::request`] with `options`.
    pub(crate) async fn request_with(
        &self,
        fields: &[(&str, &str)],
        params: &TokenParams,
        options: RequestOptions,
    ) -> Result<TokenResponse, AuthError> {
        let (method, may_fall_back) = self.inner.client.method();
        let first = self.send(method, fields, params, options).await;
        match first {
            Ok(response) => {
                self.inner.client.remember(method);
                Ok(response)
            }
            Err(error) if may_fall_back && rejected_client(&error) => {
                event!(
                    info,
                    "client_secret_basic was rejected; retrying with client_secret_post"
                );
                match self.send(Method::Body, fields, params, options).await {
                    Ok(response) => {
                        self.inner.client.remember(Method::Body);
                        Ok(response)
                    }
                    Err(second) if rejected_client(&second) => {
                        let detail = match second.detail() {
                            Some(d) => {
                                format!("{d} (tried client_secret_basic, then client_secret_post)")
                            }
                            None => "tried client_secret_basic, then client_secret_post".to_owned(),
                        };
                        Err(second.with_detail(detail))
                    }
                    Err(second) => {
                        // The body method got past client authentication: keep it.
                        self.inner.client.remember(Method::Body);
                        Err(second)
                    }
                }
            }
            Err(error) => Err(error),
        }
    }

    async fn send(
        &self,
        method: Method,
        fields: &[(&str, &str)],
        params: &TokenParams,
        options: RequestOptions,
    ) -> Result<TokenResponse, AuthError> {
        let mut request = Request::builder()
            .method(HttpMethod::POST)
            .uri(self.inner.url.as_str())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| {
                AuthError::new(auth_core::ErrorKind::Request, "building the token request")
                    .with_source(e)
            })?;
        // The serializer is not `Send`; it must be gone before the first await.
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (name, value) in fields {
                form.append_pair(name, value);
            }
            if options.scope_in_body {
                params.append_to(&mut form);
            } else {
                params.append_targets(&mut form);
            }
            if options.public_client_id || method != Method::None {
                self.inner
                    .client
                    .apply(method, request.headers_mut(), &mut form)?;
            }
            form.finish()
        };
        *request.body_mut() = body.into_bytes();
        event!(
            debug,
            host = self.inner.url.host_str().unwrap_or_default(),
            client_auth = ?method,
            "requesting a token"
        );
        let response = self.inner.http.send(request).await?;
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let token = normalize(
            response.status(),
            content_type,
            response.body(),
            &self.inner.key_map,
        )
        .map_err(|e| {
            crate::normalize::with_retry_after(e, response.status(), response.headers())
        })?;
        if let Some(bound) = binding::bound_certificate(response.body(), &token) {
            binding::check(self.inner.certificate_thumbprint.as_deref(), &bound);
            *self
                .inner
                .bound_certificate
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(bound);
        }
        Ok(token)
    }
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("url", &self.inner.url.as_str())
            .field("client", &self.inner.client)
            .field("key_map", &self.inner.key_map)
            .field("header_prefix", &self.inner.header_prefix)
            .field("http", &self.inner.http)
            .field("certificate_thumbprint", &self.inner.certificate_thumbprint)
            .finish()
    }
}

/// Configures a [`TokenEndpoint`]; see [`TokenEndpoint::builder`]. Nothing is checked until
/// [`build`](TokenEndpointBuilder::build), which names the first bad setting.
pub struct TokenEndpointBuilder {
    token_url: String,
    client_id: String,
    client_secret: Option<SecretString>,
    client_auth: Option<ClientAuth>,
    key_map: KeyMap,
    header_prefix: Option<String>,
    http: Option<TokenHttpClient>,
    limits: HttpLimits,
    /// The `private_key_jwt` key, or why it could not be loaded (reported by `build`).
    client_key: Option<Result<SigningKey, AuthError>>,
    client_assertion_audience: Option<String>,
    client_assertion_lifetime: Option<Duration>,
    #[cfg(feature = "mtls")]
    client_tls: Option<auth_layers::tls::ClientTls>,
}

impl TokenEndpointBuilder {
    /// The client secret (confidential clients).
    pub fn client_secret(mut self, secret: impl Into<SecretString>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// How the client authenticates. Defaults to [`ClientAuth::PrivateKeyJwt`] with a
    /// [`private_key_jwt`](Self::private_key_jwt) key, [`ClientAuth::Basic`] with a secret and
    /// [`ClientAuth::None`] without either.
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.client_auth = Some(auth);
        self
    }

    /// `private_key_jwt` client authentication (RFC 7523 §2.2) with `key`: every token
    /// request carries a fresh JWT with `iss` = `sub` = the client id, `aud` = the token URL
    /// (see [`client_assertion_audience`](Self::client_assertion_audience)), a random `jti`,
    /// and the key's `kid`. Sets [`ClientAuth::PrivateKeyJwt`].
    pub fn private_key_jwt(mut self, key: SigningKey) -> Self {
        self.client_key = Some(Ok(key));
        self.client_auth = Some(ClientAuth::PrivateKeyJwt);
        self
    }

    /// Like [`private_key_jwt`](Self::private_key_jwt) with a PEM private key, which is
    /// loaded now; a bad key is reported by [`build`](Self::build).
    pub fn private_key_jwt_pem(mut self, pem: impl AsRef<[u8]>, key_id: Option<&str>) -> Self {
        let key = SigningKey::parse(pem.as_ref(), &"private_key_jwt: private key PEM").map(|key| {
            match key_id {
                Some(kid) => key.with_key_id(kid),
                None => key,
            }
        });
        self.client_key = Some(key);
        self.client_auth = Some(ClientAuth::PrivateKeyJwt);
        self
    }

    /// The `aud` of `private_key_jwt` assertions. Defaults to the token URL; some servers
    /// want their issuer identifier instead (OIDC Core §9 allows either).
    pub fn client_assertion_audience(mut self, audience: impl Into<String>) -> Self {
        self.client_assertion_audience = Some(audience.into());
        self
    }

    /// How long each `private_key_jwt` assertion is valid. Defaults to 5 minutes; at most
    /// 1 hour.
    pub fn client_assertion_lifetime(mut self, lifetime: Duration) -> Self {
        self.client_assertion_lifetime = Some(lifetime);
        self
    }

    /// `tls_client_auth` (RFC 8705 §2.1): token requests go through an HTTPS client that
    /// presents `tls`' certificate, with `client_id` in the body and no secret. Sets
    /// [`ClientAuth::TlsClientAuth`]; replaces the default HTTP client (do not also set
    /// [`http_client`](Self::http_client)).
    ///
    /// `tls` must hold a certificate: one from
    /// [`ClientTls::without_certificate`](auth_layers::tls::ClientTls::without_certificate)
    /// fails [`build`](Self::build). For a token endpoint behind a private CA with another
    /// client authentication, give [`TokenHttpClient::with_client_tls`] to
    /// [`http_client`](Self::http_client) instead.
    #[cfg(feature = "mtls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mtls")))]
    pub fn tls_client_auth(mut self, tls: auth_layers::tls::ClientTls) -> Self {
        self.client_tls = Some(tls);
        self.client_auth = Some(ClientAuth::TlsClientAuth);
        self
    }

    /// Like [`tls_client_auth`](Self::tls_client_auth) for a self-signed certificate
    /// registered with the server (RFC 8705 §2.2). Sets
    /// [`ClientAuth::SelfSignedTlsClientAuth`]. `tls` must hold a certificate.
    #[cfg(feature = "mtls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mtls")))]
    pub fn self_signed_tls_client_auth(mut self, tls: auth_layers::tls::ClientTls) -> Self {
        self.client_tls = Some(tls);
        self.client_auth = Some(ClientAuth::SelfSignedTlsClientAuth);
        self
    }

    /// Where the fields of the answers are. Defaults to RFC 6749's names.
    pub fn key_map(mut self, key_map: KeyMap) -> Self {
        self.key_map = key_map;
        self
    }

    /// The prefix tokens are sent with (`Authorization: {prefix} {token}`); empty for the bare
    /// token. Defaults to `Bearer`.
    ///
    /// Without it, only Bearer tokens are accepted: an answer with another `token_type` (`MAC`,
    /// `DPoP`, `N_A`, …) fails with
    /// [`ErrorKind::UnsupportedTokenType`](auth_core::ErrorKind::UnsupportedTokenType). With it,
    /// the answer's `token_type` is informational and every token is sent with this prefix (for
    /// providers that label Bearer tokens oddly).
    pub fn header_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.header_prefix = Some(prefix.into());
        self
    }

    /// The HTTP client. Defaults to [`TokenHttpClient::new`].
    pub fn http_client(mut self, client: TokenHttpClient) -> Self {
        self.http = Some(client);
        self
    }

    /// The deadline of one token request. Defaults to 30 seconds (or the HTTP client's).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = Some(timeout);
        self
    }

    /// The largest answer read, in bytes. Defaults to 1 MiB (or the HTTP client's).
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.limits.max_response_size = Some(bytes);
        self
    }

    /// Allows a plain `http://` token URL on a host that is not loopback. Defaults to `false`.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.limits.allow_insecure_http = allow;
        self
    }

    /// Checks every setting and builds the endpoint. Errors are [`ErrorKind::Config`]
    /// (`auth_core::ErrorKind::Config`) naming the setting: `token_url` not a URL or not
    /// https/loopback, `client_id` missing, `client_secret` missing for the method, a bad
    /// `header_prefix`, a `tls_client_auth` certificate missing from its `ClientTls`.
    ///
    /// [`ErrorKind::Config`]: auth_core::ErrorKind::Config
    pub fn build(self) -> Result<TokenEndpoint, AuthError> {
        let client_key = self.client_key.transpose()?;
        let url = parse_url("token_url", &self.token_url)?;
        #[cfg(feature = "mtls")]
        let (tls_http, certificate_thumbprint) = match &self.client_tls {
            Some(tls) => {
                binding::require_certificate(tls, self.client_auth)?;
                if self.http.is_some() {
                    return Err(AuthError::config(
                        "http_client",
                        "is set together with a client certificate for tls_client_auth: \
                         choose one (give your own client the certificate and set \
                         `client_auth(ClientAuth::TlsClientAuth)`)",
                    ));
                }
                let (http, thumbprint) = binding::tls_http_client(tls)?;
                (Some(http), thumbprint)
            }
            None => (None, None),
        };
        #[cfg(not(feature = "mtls"))]
        let (tls_http, certificate_thumbprint): (Option<TokenHttpClient>, Option<String>) =
            (None, None);
        let has_tls = tls_http.is_some();
        let custom_http = self.http.is_some();
        let http = self
            .limits
            .client(self.http.or(tls_http), &url, "token_url")?;
        let auth = self.client_auth.unwrap_or(if client_key.is_some() {
            ClientAuth::PrivateKeyJwt
        } else if self.client_secret.is_some() {
            ClientAuth::Basic
        } else {
            ClientAuth::None
        });
        let tls_auth = matches!(
            auth,
            ClientAuth::TlsClientAuth | ClientAuth::SelfSignedTlsClientAuth
        );
        if tls_auth && !has_tls && !custom_http {
            return Err(AuthError::config(
                "client_auth",
                format!(
                    "`{auth}` needs a client certificate: give it with `tls_client_auth` \
                     (feature `mtls`), or set an `http_client` that presents one"
                ),
            ));
        }
        if client_key.is_none() {
            let setting = if self.client_assertion_audience.is_some() {
                Some("client_assertion_audience")
            } else if self.client_assertion_lifetime.is_some() {
                Some("client_assertion_lifetime")
            } else {
                None
            };
            if let Some(setting) = setting {
                return Err(AuthError::config(
                    setting,
                    "is set, but there is no private_key_jwt key",
                ));
            }
        }
        let assertion = client_key.map(|key| ClientAssertion {
            key,
            audience: self.client_assertion_audience,
            lifetime: self
                .client_assertion_lifetime
                .unwrap_or(DEFAULT_CLIENT_ASSERTION_LIFETIME),
        });
        let client = ClientIdentity::with_assertion(
            self.client_id,
            self.client_secret,
            auth,
            assertion,
            url.as_str(),
        )?;
        if let Some(prefix) = &self.header_prefix
            && (HeaderValue::from_str(prefix).is_err() || prefix.contains(' '))
        {
            return Err(AuthError::config(
                "header_prefix",
                format!("`{}` cannot start a header value", prefix.escape_debug()),
            ));
        }
        Ok(TokenEndpoint {
            inner: Arc::new(Inner {
                url,
                client,
                key_map: self.key_map,
                header_prefix: self.header_prefix,
                http,
                certificate_thumbprint,
                bound_certificate: Mutex::new(None),
            }),
        })
    }
}

impl fmt::Debug for TokenEndpointBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpointBuilder")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("client_auth", &self.client_auth)
            .field(
                "client_key",
                &self.client_key.as_ref().map(|k| k.as_ref().ok()),
            )
            .field("key_map", &self.key_map)
            .field("header_prefix", &self.header_prefix)
            .finish_non_exhaustive()
    }
}

/// Parses an endpoint URL, naming `what` in errors: a URL without a fragment (RFC 6749 §3.1).
pub(crate) fn parse_url(what: &str, text: &str) -> Result<Url, AuthError> {
    let shown: String = text.chars().take(80).collect();
    let url = Url::parse(text.trim()).map_err(|e| {
        AuthError::config(
            what,
            format!("`{}` is not a URL ({e})", shown.escape_debug()),
        )
    })?;
    if url.cannot_be_a_base() || url.host_str().is_none_or(str::is_empty) {
        return Err(AuthError::config(
            what,
            format!(
                "`{}` is not an http(s) URL with a host",
                shown.escape_debug()
            ),
        ));
    }
    if url.fragment().is_some() {
        return Err(AuthError::config(
            what,
            "must not contain a fragment (`#…`, RFC 6749 §3.1)",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_core::ErrorKind;

    fn build(url: &str) -> Result<TokenEndpoint, AuthError> {
        TokenEndpoint::builder(url, "id").client_secret("s").build()
    }

    #[test]
    fn bad_token_urls_are_config_errors_naming_token_url() {
        for (url, expected) in [
            ("not a url", "token_url: `not a url` is not a URL"),
            (
                "mailto:a@b.c",
                "token_url: `mailto:a@b.c` is not an http(s) URL",
            ),
            (
                "http://auth.example.com/token",
                "`http://auth.example.com` is not loopback",
            ),
            ("ftp://auth.example.com/token", "unsupported scheme `ftp`"),
            (
                "https://auth.example.com/token#x",
                "token_url: must not contain a fragment",
            ),
        ] {
            let err = build(url).expect_err(url);
            assert_eq!(err.kind(), ErrorKind::Config, "{url}");
            assert!(err.to_string().contains(expected), "{url}: {err}");
        }
        assert!(build("http://127.0.0.1:8080/token").is_ok());
        assert!(build("http://localhost/token").is_ok());
        assert!(build("https://auth.example.com/token").is_ok());
        let allowed = TokenEndpoint::builder("http://auth.internal/token", "id")
            .client_secret("s")
            .allow_insecure_http(true)
            .build();
        assert!(allowed.is_ok());
    }

    #[test]
    fn the_default_method_depends_on_the_secret() {
        let with = build("https://a.example/t").expect("ok");
        assert_eq!(with.client_auth(), ClientAuth::Basic);
        let without = TokenEndpoint::builder("https://a.example/t", "id")
            .build()
            .expect("ok");
        assert_eq!(without.client_auth(), ClientAuth::None);
    }

    #[test]
    fn a_bad_header_prefix_is_named() {
        let err = TokenEndpoint::builder("https://a.example/t", "id")
            .header_prefix("Bearer\n")
            .build()
            .expect_err("bad prefix");
        assert!(err.to_string().contains("header_prefix"), "{err}");
    }

    #[test]
    fn debug_redacts_the_secret() {
        let builder = TokenEndpoint::builder("https://a.example/t", "id").client_secret("hunter2");
        assert!(!format!("{builder:?}").contains("hunter2"));
        let endpoint = builder.build().expect("ok");
        assert!(!format!("{endpoint:?}").contains("hunter2"));
    }
}
