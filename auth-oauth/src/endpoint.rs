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
};

use auth_core::{AuthError, ErrorKind, ExposeSecret, Redactor, SecretString};
use http::{Method as HttpMethod, Request, header};
use oauth2::url::Url;

use crate::{
    ClientAuth, KeyMap, TokenHttpClient, TokenParams, TokenResponse,
    client_auth::{ClientIdentity, Method, rejected_client},
    dpop::{DPOP, Dpop},
    normalize::normalize_with,
};

mod binding;
mod builder;
mod device;

pub use builder::TokenEndpointBuilder;

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
    /// The client secret and whatever the builder was given to share.
    redactor: Redactor,
    /// DPoP: a proof with every token request; `token_type: DPoP` answers are bound.
    dpop: Option<Dpop>,
}

/// Form fields whose values are never secret: kept in the server's text, since an error that
/// names the scope or redirect URI at fault must show it. Every other field a request sends
/// (password, refresh token, code, verifier, assertion, extras) is redacted where echoed.
const PUBLIC_FIELDS: [&str; 11] = [
    "grant_type",
    "client_id",
    "scope",
    "redirect_uri",
    "audience",
    "resource",
    "client_assertion_type",
    "subject_token_type",
    "actor_token_type",
    "requested_token_type",
    "token_type_hint",
];

/// How one request differs from a plain one; grants other than the RFC 6749 ones need this.
#[derive(Clone, Copy)]
pub(crate) struct RequestOptions<'a> {
    /// Send `scope` as a form parameter (the JWT bearer grant may put it in its assertion).
    pub(crate) scope_in_body: bool,
    /// Leave out `client_id` for a public client (an assertion grant identifies the client
    /// by its assertion).
    pub(crate) public_client_id: bool,
    /// Signs the `assertion` field (RFC 7523 §2.1), anew for every attempt: an assertion is
    /// single-use (`jti`), so `ClientAuth::Auto`'s second attempt must not resend the first.
    pub(crate) assertion: Option<&'a (dyn Fn() -> Result<SecretString, AuthError> + Sync)>,
}

impl RequestOptions<'_> {
    pub(crate) const STANDARD: RequestOptions<'static> = RequestOptions {
        scope_in_body: true,
        public_client_id: true,
        assertion: None,
    };
}

impl TokenEndpoint {
    /// Starts configuring the endpoint at `token_url` for the client `client_id`.
    pub fn builder(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
    ) -> TokenEndpointBuilder {
        TokenEndpointBuilder::new(token_url.into(), client_id.into())
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

    /// The DPoP key and state, when token requests carry proofs.
    pub fn dpop(&self) -> Option<&Dpop> {
        self.inner.dpop.as_ref()
    }

    /// The client's identity and authentication, for the server's other endpoints
    /// (revocation) that authenticate the client as the token endpoint does.
    pub(crate) fn client_identity(&self) -> &ClientIdentity {
        &self.inner.client
    }

    /// The redactor errors are cleaned with; see [`TokenEndpointBuilder::redactor`].
    pub fn redactor(&self) -> &Redactor {
        &self.inner.redactor
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
        options: RequestOptions<'_>,
    ) -> Result<TokenResponse, AuthError> {
        let grant_type = fields
            .iter()
            .find(|(name, _)| *name == "grant_type")
            .map(|(_, value)| *value);
        let (method, may_fall_back) = self.inner.client.method();
        let first = self
            .send(method, fields, params, options)
            .await
            .map(|r| r.answering(grant_type));
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
                        Ok(response.answering(grant_type))
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
        options: RequestOptions<'_>,
    ) -> Result<TokenResponse, AuthError> {
        let assertion = options.assertion.map(|sign| sign()).transpose()?;
        let (request, redactor) =
            self.form_post(&self.inner.url, "token request", |form, headers| {
                for (name, value) in fields {
                    form.append_pair(name, value);
                }
                if let Some(assertion) = &assertion {
                    form.append_pair("assertion", assertion.expose_secret());
                }
                if options.scope_in_body {
                    params.append_to(form);
                } else {
                    params.append_targets(form);
                }
                if options.public_client_id || method != Method::None {
                    self.inner.client.apply(method, headers, form)?;
                }
                Ok(())
            })?;
        event!(
            debug,
            host = self.inner.url.host_str().unwrap_or_default(),
            client_auth = ?method,
            "requesting a token"
        );
        #[cfg(feature = "tracing")]
        {
            // One span per token request: grant, host, client authentication, then outcome and
            // duration. Never a secret: the grant type and host are configuration.
            let grant = fields
                .iter()
                .find(|(name, _)| *name == "grant_type")
                .map_or("", |(_, value)| *value);
            let span = tracing::info_span!(
                target: "tower_auth::oauth",
                "token_request",
                grant,
                host = self.inner.url.host_str().unwrap_or_default(),
                client_auth = ?method,
                outcome = tracing::field::Empty,
                duration_ms = tracing::field::Empty,
            );
            let started = std::time::Instant::now();
            let result =
                tracing::Instrument::instrument(self.attempt(request, &redactor), span.clone())
                    .await;
            let outcome = match &result {
                Ok(_) => "success",
                Err(error) => error.kind().as_str(),
            };
            span.record("outcome", outcome);
            span.record(
                "duration_ms",
                u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            );
            result
        }
        #[cfg(not(feature = "tracing"))]
        self.attempt(request, &redactor).await
    }

    /// Sends the request; with DPoP, with a fresh proof, and once more when the server asks
    /// for a nonce it has just sent (`use_dpop_nonce`, RFC 9449 §8).
    async fn attempt(
        &self,
        mut request: Request<Vec<u8>>,
        redactor: &Redactor,
    ) -> Result<TokenResponse, AuthError> {
        let Some(dpop) = &self.inner.dpop else {
            return self.exchange(request, redactor).await;
        };
        let uri = request.uri().clone();
        let before = dpop.nonce_for(&uri);
        let mut resend = Request::new(request.body().clone());
        *resend.method_mut() = request.method().clone();
        *resend.uri_mut() = uri.clone();
        *resend.headers_mut() = request.headers().clone();
        let proof = dpop.proof_header(request.method(), &uri, None)?;
        request.headers_mut().insert(&DPOP, proof);
        match self.exchange(request, redactor).await {
            Err(error)
                if error.provider().is_some_and(|p| p.code == "use_dpop_nonce")
                    && dpop.nonce_for(&uri) != before =>
            {
                event!(
                    debug,
                    "the token endpoint asked for a DPoP nonce; sending it"
                );
                let proof = dpop.proof_header(resend.method(), &uri, None)?;
                resend.headers_mut().insert(&DPOP, proof);
                self.exchange(resend, redactor).await
            }
            other => other,
        }
    }

    /// A form POST to `url` (JSON expected back) whose fields and headers `fill` writes, with a
    /// child of the endpoint's redactor holding every value it sends outside
    /// [`PUBLIC_FIELDS`], as the server may echo them. `what` names the request in errors.
    pub(crate) fn form_post(
        &self,
        url: &Url,
        what: &str,
        fill: impl FnOnce(
            &mut form_urlencoded::Serializer<'_, String>,
            &mut http::HeaderMap,
        ) -> Result<(), AuthError>,
    ) -> Result<(Request<Vec<u8>>, Redactor), AuthError> {
        let mut request = Request::builder()
            .method(HttpMethod::POST)
            .uri(url.as_str())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| {
                AuthError::new(ErrorKind::Request, format!("building the {what}")).with_source(e)
            })?;
        let mut form = form_urlencoded::Serializer::new(String::new());
        fill(&mut form, request.headers_mut())?;
        let body = form.finish();
        let redactor = self.inner.redactor.child();
        for (name, value) in form_urlencoded::parse(body.as_bytes()) {
            if !PUBLIC_FIELDS.contains(&name.as_ref()) {
                redactor.add(&value);
            }
        }
        *request.body_mut() = body.into_bytes();
        Ok((request, redactor))
    }

    /// Sends a built token request and reads the answer, cutting `redactor`'s secrets out of
    /// its errors.
    async fn exchange(
        &self,
        request: Request<Vec<u8>>,
        redactor: &Redactor,
    ) -> Result<TokenResponse, AuthError> {
        let uri = self.inner.dpop.as_ref().map(|_| request.uri().clone());
        let response = self
            .inner
            .http
            .send(request)
            .await
            .map_err(|e| e.redact(redactor))?;
        if let (Some(dpop), Some(uri)) = (&self.inner.dpop, &uri) {
            dpop.remember_nonce(uri, response.headers());
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let mut token = normalize_with(
            response.status(),
            content_type,
            response.body(),
            &self.inner.key_map,
            redactor,
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
        if let Some(dpop) = &self.inner.dpop {
            token = bind(dpop, token)?;
        }
        Ok(token)
    }
}

/// A DPoP token request's answer: a `DPoP` token is bound to the key; a `Bearer` one is a
/// downgrade, refused when DPoP is required (RFC 9449 §5: the server may ignore the proof).
fn bind(dpop: &Dpop, token: TokenResponse) -> Result<TokenResponse, AuthError> {
    if token.token_type().eq_ignore_ascii_case("dpop") {
        let binding = dpop.bind(token.access_token());
        return Ok(token.bound(binding));
    }
    if dpop.is_required() && token.token_type() == "Bearer" {
        return Err(AuthError::new(
            ErrorKind::UnsupportedTokenType,
            "the token endpoint answered the DPoP token request with a Bearer token, and DPoP \
             is required (`dpop = { required = true }`): a token that is not bound to the key \
             is refused",
        ));
    }
    Ok(token)
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

/// Parses an endpoint URL, naming `what` in errors: a URL without a fragment (RFC 6749 §3.1)
/// and without user information. Errors quote the text only when it has no `@`: what precedes
/// one may be a password.
pub(crate) fn parse_url(what: &str, text: &str) -> Result<Url, AuthError> {
    let shown = if text.contains('@') {
        "the URL (not shown: it contains `@`, which may be user information)".to_owned()
    } else {
        let shown: String = text.chars().take(80).collect();
        format!("`{}`", shown.escape_debug())
    };
    let url = Url::parse(text.trim())
        .map_err(|e| AuthError::config(what, format!("{shown} is not a URL ({e})")))?;
    if url.cannot_be_a_base() || url.host_str().is_none_or(str::is_empty) {
        return Err(AuthError::config(
            what,
            format!("{shown} is not an http(s) URL with a host"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(AuthError::config(
            what,
            "must not contain user information (`user:password@`): a password in a URL is \
             shown wherever the URL is and is not sent as credentials; give them to the client \
             authentication (client_id and client_secret) or to an auth layer",
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
                "token_url: the URL (not shown: it contains `@`, which may be user information) \
                 is not an http(s) URL",
            ),
            (
                "https://client:hunter2secret@auth.example.com/token",
                "token_url: must not contain user information",
            ),
            (
                "https://client:hunter2secret@[auth.example.com/token",
                "token_url: the URL (not shown",
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
            assert!(
                !format!("{err} {err:?}").contains("hunter2"),
                "{url}: {err}"
            );
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
