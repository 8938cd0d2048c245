//! [`TokenEndpointBuilder`]: the settings of a [`TokenEndpoint`], checked by `build`.

use std::{
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use auth_core::{AuthError, ExposeSecret, Redactor, SecretString};
use http::HeaderValue;

#[cfg(feature = "mtls")]
use super::binding;
use super::{Inner, TokenEndpoint, parse_url};
use crate::{
    ClientAuth, KeyMap, TokenHttpClient,
    assertion::SigningKey,
    client_auth::{ClientAssertion, ClientIdentity, DEFAULT_CLIENT_ASSERTION_LIFETIME},
    http_client::HttpLimits,
};

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
    redactor: Option<Redactor>,
    dpop: Option<crate::dpop::Dpop>,
}

impl TokenEndpointBuilder {
    pub(super) fn new(token_url: String, client_id: String) -> Self {
        Self {
            token_url,
            client_id,
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
            redactor: None,
            dpop: None,
        }
    }

    /// Sends a DPoP proof (RFC 9449) with every token request, answering a `use_dpop_nonce`
    /// error once with the nonce it came with; a token issued as `token_type: DPoP` is bound to
    /// the key (see [`dpop`](crate::dpop)). A Bearer answer is used as a bearer token unless
    /// [`Dpop::required`](crate::dpop::Dpop::required).
    pub fn dpop(mut self, dpop: crate::dpop::Dpop) -> Self {
        self.dpop = Some(dpop);
        self
    }

    /// The [`Redactor`] the endpoint shares: it adds its client secret to it (as sent: alone
    /// and as Basic credentials), and cuts everything it holds, plus each request's own secrets
    /// (password, refresh token, code, assertion), out of the server's text in errors. Defaults
    /// to a redactor of its own; give one to share it with your other layers and your logs.
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = Some(redactor);
        self
    }

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
        let source = auth_core::pem::PemSource::named("private_key_jwt: private key PEM");
        let key = SigningKey::parse(pem.as_ref(), source).map(|key| match key_id {
            Some(kid) => key.with_key_id(kid),
            None => key,
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
        let redactor = self.redactor.unwrap_or_default();
        if let Some(secret) = &self.client_secret {
            redactor.add_basic(&self.client_id, secret.expose_secret());
        }
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
                redactor,
                dpop: self.dpop,
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
            .field("dpop", &self.dpop)
            .finish_non_exhaustive()
    }
}
