//! [`ClientAuth`]: how the client proves who it is to the token endpoint.
//!
//! | method | sends | for |
//! |---|---|---|
//! | [`ClientAuth::Basic`] (`client_secret_basic`) | `Authorization: Basic base64(urlencode(id):urlencode(secret))` | confidential clients; every server must support it (RFC 6749 §2.3.1) |
//! | [`ClientAuth::Body`] (`client_secret_post`) | `client_id` and `client_secret` form fields | servers that do not take Basic |
//! | [`ClientAuth::None`] (`none`) | `client_id` form field, no secret | public clients (CLIs, apps with PKCE) |
//! | [`ClientAuth::Auto`] (`auto`) | Basic first; on `invalid_client` or a 401 the same request again with the body method | when you do not know; what worked is remembered for later requests |
//! | [`ClientAuth::PrivateKeyJwt`] (`private_key_jwt`) | `client_id`, `client_assertion_type`, and `client_assertion`: a JWT signed with the client's private key, fresh for every request | clients registered with a public key (RFC 7523 §2.2, OIDC Core §9); set the key with [`TokenEndpointBuilder::private_key_jwt`](crate::TokenEndpointBuilder::private_key_jwt) |
//! | [`ClientAuth::TlsClientAuth`] (`tls_client_auth`), [`ClientAuth::SelfSignedTlsClientAuth`] (`self_signed_tls_client_auth`) | `client_id`; the TLS connection presents the client certificate | clients registered with a certificate (RFC 8705 §2) |
//!
//! The id and secret are form-urlencoded *before* Base64 as RFC 6749 §2.3.1 requires, so a
//! secret with `:`, `%`, `+`, spaces or non-ASCII characters reaches the server intact (several
//! clients get this wrong and send them raw).
//!
//! ```
//! use auth_oauth::ClientAuth;
//!
//! assert_eq!("client_secret_post".parse::<ClientAuth>()?, ClientAuth::Body);
//! assert_eq!("auto".parse::<ClientAuth>()?, ClientAuth::Auto);
//! assert_eq!("private_key_jwt".parse::<ClientAuth>()?, ClientAuth::PrivateKeyJwt);
//! assert!("client_secret_jwt".parse::<ClientAuth>().is_err());
//! # Ok::<(), auth_core::AuthError>(())
//! ```

use std::{
    fmt,
    str::FromStr,
    sync::atomic::{AtomicU8, Ordering},
    time::Duration,
};

use auth_core::{AuthError, ErrorKind, ExposeSecret, SecretString, sensitive_header_value};
use base64::{Engine, engine::general_purpose::STANDARD};
use http::HeaderValue;

use crate::assertion::{AssertionClaims, SigningKey};

/// The `client_assertion_type` of `private_key_jwt` (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Default lifetime of a `private_key_jwt` assertion: 5 minutes. Each request signs a new one,
/// so it only has to outlive the request (and clock differences).
pub const DEFAULT_CLIENT_ASSERTION_LIFETIME: Duration = Duration::from_secs(300);
/// Longest lifetime of a `private_key_jwt` assertion: 1 hour.
pub const MAX_CLIENT_ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

/// How the client authenticates to the token endpoint; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the form-urlencoded id and secret. The default.
    #[default]
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the request body.
    Body,
    /// `none`: a public client; `client_id` in the body and no secret.
    None,
    /// Basic first, then the body method on `invalid_client` or 401; remembers what worked.
    /// Without a client secret, this is [`ClientAuth::None`].
    Auto,
    /// `private_key_jwt` (RFC 7523 §2.2): `client_id` and a JWT signed with the client's key,
    /// with `iss` = `sub` = the client id, `aud` = the token URL, a fresh `jti` per request.
    /// Needs a key: [`TokenEndpointBuilder::private_key_jwt`](crate::TokenEndpointBuilder::private_key_jwt).
    PrivateKeyJwt,
    /// `tls_client_auth` (RFC 8705 §2.1): `client_id` in the body, no secret; the token
    /// endpoint's TLS connection presents a CA-issued client certificate.
    TlsClientAuth,
    /// `self_signed_tls_client_auth` (RFC 8705 §2.2): like [`ClientAuth::TlsClientAuth`] with
    /// a self-signed certificate registered with the server.
    SelfSignedTlsClientAuth,
}

impl ClientAuth {
    /// The method's name in OAuth metadata (`client_secret_basic`, `client_secret_post`,
    /// `none`, `private_key_jwt`, `tls_client_auth`, `self_signed_tls_client_auth`) or `auto`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::Basic => "client_secret_basic",
            ClientAuth::Body => "client_secret_post",
            ClientAuth::None => "none",
            ClientAuth::Auto => "auto",
            ClientAuth::PrivateKeyJwt => "private_key_jwt",
            ClientAuth::TlsClientAuth => "tls_client_auth",
            ClientAuth::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
        }
    }

    /// Whether the method sends a client secret.
    fn uses_secret(self) -> bool {
        matches!(
            self,
            ClientAuth::Basic | ClientAuth::Body | ClientAuth::Auto
        )
    }
}

impl fmt::Display for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClientAuth {
    type Err = AuthError;

    /// Accepts the metadata names and the short names `basic`, `body`/`post`, `none`, `auto`
    /// (case-insensitive).
    fn from_str(s: &str) -> Result<Self, AuthError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "client_secret_basic" | "basic" => Ok(ClientAuth::Basic),
            "client_secret_post" | "post" | "body" => Ok(ClientAuth::Body),
            "none" | "public" => Ok(ClientAuth::None),
            "auto" => Ok(ClientAuth::Auto),
            "private_key_jwt" => Ok(ClientAuth::PrivateKeyJwt),
            "tls_client_auth" => Ok(ClientAuth::TlsClientAuth),
            "self_signed_tls_client_auth" => Ok(ClientAuth::SelfSignedTlsClientAuth),
            _ => Err(AuthError::config(
                "client_auth",
                format!(
                    "unknown method `{}` (expected client_secret_basic, client_secret_post, none, \
                     auto, private_key_jwt, tls_client_auth or self_signed_tls_client_auth)",
                    s.escape_debug()
                ),
            )),
        }
    }
}

/// A concrete method for one request (what `Auto` resolves to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Basic,
    Body,
    None,
    PrivateKeyJwt,
    /// Either RFC 8705 method: the certificate is the HTTP client's business.
    Tls,
}

/// The `private_key_jwt` settings: the key, and the audience and lifetime of its assertions.
pub(crate) struct ClientAssertion {
    pub(crate) key: SigningKey,
    pub(crate) audience: Option<String>,
    pub(crate) lifetime: Duration,
}

/// The client's identity and its authentication method, ready to apply to requests.
pub(crate) struct ClientIdentity {
    pub(crate) id: String,
    secret: Option<SecretString>,
    auth: ClientAuth,
    /// Pre-built `Authorization: Basic …` (sensitive), when a secret is set.
    basic: Option<HeaderValue>,
    /// `private_key_jwt`: the key and the claims every assertion repeats.
    assertion: Option<(SigningKey, AssertionClaims)>,
    /// What `Auto` settled on: `UNDECIDED`, `BASIC` or `BODY`.
    auto_choice: AtomicU8,
}

const UNDECIDED: u8 = 0;
const BASIC: u8 = 1;
const BODY: u8 = 2;

impl ClientIdentity {
    #[cfg(test)]
    pub(crate) fn new(
        id: String,
        secret: Option<SecretString>,
        auth: ClientAuth,
    ) -> Result<Self, AuthError> {
        Self::with_assertion(id, secret, auth, None, "")
    }

    /// Like [`ClientIdentity::new`], with the `private_key_jwt` settings; `token_url` is the
    /// assertions' default audience.
    pub(crate) fn with_assertion(
        id: String,
        secret: Option<SecretString>,
        auth: ClientAuth,
        assertion: Option<ClientAssertion>,
        token_url: &str,
    ) -> Result<Self, AuthError> {
        if id.trim().is_empty() {
            return Err(AuthError::config("client_id", "is missing"));
        }
        let secret = secret.filter(|s| !s.expose_secret().is_empty());
        if secret.is_some() && !auth.uses_secret() && auth != ClientAuth::None {
            return Err(AuthError::config(
                "client_secret",
                format!(
                    "is set, but client authentication `{auth}` sends no secret (remove the \
                     secret or choose client_secret_basic, client_secret_post or auto)"
                ),
            ));
        }
        let assertion = match (auth, assertion) {
            (ClientAuth::PrivateKeyJwt, Some(a)) => {
                let claims = AssertionClaims::new(id.clone())
                    .subject(id.clone())
                    .audience(a.audience.unwrap_or_else(|| token_url.to_owned()))
                    .lifetime(a.lifetime);
                claims
                    .validate(MAX_CLIENT_ASSERTION_LIFETIME)
                    .map_err(|e| prefixed(e, "client assertion"))?;
                Some((a.key, claims))
            }
            (ClientAuth::PrivateKeyJwt, None) => {
                return Err(AuthError::config(
                    "private_key_jwt",
                    "no signing key: set one with `private_key_jwt(key)`",
                ));
            }
            (_, Some(_)) => {
                return Err(AuthError::config(
                    "client_auth",
                    format!(
                        "a private_key_jwt signing key is set, but client authentication is \
                         `{auth}` (use private_key_jwt, or remove the key)"
                    ),
                ));
            }
            (_, None) => None,
        };
        match (auth, &secret) {
            (ClientAuth::Basic | ClientAuth::Body, None) => {
                return Err(AuthError::config(
                    "client_secret",
                    format!(
                        "is missing, and client authentication `{auth}` needs one (public \
                         clients use `none`)"
                    ),
                ));
            }
            (ClientAuth::None, Some(_)) => {
                return Err(AuthError::config(
                    "client_secret",
                    "is set, but client authentication is `none`: a public client sends no \
                     secret (choose client_secret_basic, client_secret_post or auto)",
                ));
            }
            _ => {}
        }
        let basic = match &secret {
            Some(secret) => Some(basic_header(&id, secret)?),
            None => None,
        };
        Ok(Self {
            id,
            secret,
            auth,
            basic,
            assertion,
            auto_choice: AtomicU8::new(UNDECIDED),
        })
    }

    pub(crate) fn auth(&self) -> ClientAuth {
        self.auth
    }

    /// The method for the next request, and whether `Auto` may still fall back from it.
    pub(crate) fn method(&self) -> (Method, bool) {
        match self.auth {
            ClientAuth::Basic => (Method::Basic, false),
            ClientAuth::Body => (Method::Body, false),
            ClientAuth::None => (Method::None, false),
            ClientAuth::Auto if self.secret.is_none() => (Method::None, false),
            ClientAuth::Auto => match self.auto_choice.load(Ordering::Relaxed) {
                BASIC => (Method::Basic, false),
                BODY => (Method::Body, false),
                _ => (Method::Basic, true),
            },
            ClientAuth::PrivateKeyJwt => (Method::PrivateKeyJwt, false),
            ClientAuth::TlsClientAuth | ClientAuth::SelfSignedTlsClientAuth => (Method::Tls, false),
        }
    }

    /// `Auto` remembers `method` for later requests.
    pub(crate) fn remember(&self, method: Method) {
        let choice = match method {
            Method::Basic => BASIC,
            Method::Body => BODY,
            Method::None | Method::PrivateKeyJwt | Method::Tls => return,
        };
        let _ = self.auto_choice.compare_exchange(
            UNDECIDED,
            choice,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Adds `method`'s credentials to a request's headers and form. Fails only when a
    /// `private_key_jwt` assertion cannot be signed.
    pub(crate) fn apply(
        &self,
        method: Method,
        headers: &mut http::HeaderMap,
        form: &mut form_urlencoded::Serializer<'_, String>,
    ) -> Result<(), AuthError> {
        match method {
            Method::Basic => {
                if let Some(basic) = &self.basic {
                    headers.insert(http::header::AUTHORIZATION, basic.clone());
                }
            }
            Method::Body => {
                form.append_pair("client_id", &self.id);
                if let Some(secret) = &self.secret {
                    form.append_pair("client_secret", secret.expose_secret());
                }
            }
            Method::None | Method::Tls => {
                form.append_pair("client_id", &self.id);
            }
            Method::PrivateKeyJwt => {
                let Some((key, claims)) = &self.assertion else {
                    // `with_assertion` refuses private_key_jwt without a key.
                    return Err(AuthError::config("private_key_jwt", "no signing key"));
                };
                let assertion = claims
                    .sign_with(key, None)
                    .map_err(|e| prefixed(e, "client assertion"))?;
                form.append_pair("client_id", &self.id);
                form.append_pair("client_assertion_type", CLIENT_ASSERTION_TYPE);
                form.append_pair("client_assertion", assertion.expose_secret());
            }
        }
        Ok(())
    }
}

/// Whether the server rejected the client's authentication (`Auto` then tries the body).
pub(crate) fn rejected_client(error: &AuthError) -> bool {
    error.kind() == ErrorKind::InvalidClient
        || error.status() == Some(http::StatusCode::UNAUTHORIZED)
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`, RFC 6749 §2.3.1.
fn basic_header(id: &str, secret: &SecretString) -> Result<HeaderValue, AuthError> {
    let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
    // Every copy of the secret is wiped when dropped, not left in freed memory.
    let secret = SecretString::from(
        form_urlencoded::byte_serialize(secret.expose_secret().as_bytes()).collect::<String>(),
    );
    let pair = SecretString::from(format!("{id}:{}", secret.expose_secret()));
    let encoded = SecretString::from(STANDARD.encode(pair.expose_secret()));
    sensitive_header_value("Basic", &encoded, "client credentials")
}

/// `error` with `what` before its detail: "client assertion: audience: is empty".
fn prefixed(error: AuthError, what: &str) -> AuthError {
    let detail = match error.detail() {
        Some(d) => format!("{what}: {d}"),
        None => what.to_owned(),
    };
    error.with_detail(detail)
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("id", &self.id)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("auth", &self.auth)
            .field("assertion", &self.assertion)
            .field("auto_choice", &self.auto_choice.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_basic(value: &HeaderValue) -> String {
        let text = value.to_str().expect("ascii");
        let encoded = text.strip_prefix("Basic ").expect("Basic prefix");
        String::from_utf8(STANDARD.decode(encoded).expect("base64")).expect("utf-8")
    }

    #[test]
    fn basic_urlencodes_id_and_secret_before_base64() {
        let secret = SecretString::from("a:b%c+d e/é");
        let value = basic_header("my client:1", &secret).expect("header");
        assert!(value.is_sensitive());
        assert_eq!(
            decode_basic(&value),
            "my+client%3A1:a%3Ab%25c%2Bd+e%2F%C3%A9"
        );
    }

    #[test]
    fn names_parse_and_unknown_ones_are_config_errors() {
        for (name, auth) in [
            ("client_secret_basic", ClientAuth::Basic),
            ("Basic", ClientAuth::Basic),
            ("client_secret_post", ClientAuth::Body),
            ("body", ClientAuth::Body),
            ("none", ClientAuth::None),
            ("auto", ClientAuth::Auto),
        ] {
            assert_eq!(name.parse::<ClientAuth>().expect(name), auth);
        }
        for auth in [
            ClientAuth::PrivateKeyJwt,
            ClientAuth::TlsClientAuth,
            ClientAuth::SelfSignedTlsClientAuth,
        ] {
            assert_eq!(auth.as_str().parse::<ClientAuth>().expect("name"), auth);
        }
        let err = "client_secret_jwt"
            .parse::<ClientAuth>()
            .expect_err("unsupported");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.to_string()
                .contains("client_auth: unknown method `client_secret_jwt`")
        );
    }

    #[test]
    fn a_missing_id_or_secret_is_named() {
        let err = ClientIdentity::new(" ".into(), None, ClientAuth::None).expect_err("no id");
        assert!(err.to_string().contains("client_id: is missing"), "{err}");
        let err = ClientIdentity::new("id".into(), Some("".into()), ClientAuth::Basic)
            .expect_err("no secret");
        assert!(
            err.to_string().contains("client_secret: is missing"),
            "{err}"
        );
        let err = ClientIdentity::new("id".into(), Some("s".into()), ClientAuth::None)
            .expect_err("public with secret");
        assert!(err.to_string().contains("client_secret: is set"), "{err}");
    }

    #[test]
    fn auto_starts_with_basic_and_remembers_the_first_method_that_worked() {
        let client =
            ClientIdentity::new("id".into(), Some("s".into()), ClientAuth::Auto).expect("ok");
        assert_eq!(client.method(), (Method::Basic, true));
        client.remember(Method::Body);
        assert_eq!(client.method(), (Method::Body, false));
        client.remember(Method::Basic);
        assert_eq!(
            client.method(),
            (Method::Body, false),
            "the first answer sticks"
        );
        let public = ClientIdentity::new("id".into(), None, ClientAuth::Auto).expect("ok");
        assert_eq!(public.method(), (Method::None, false));
    }

    #[test]
    fn debug_redacts_the_secret() {
        let client = ClientIdentity::new("id".into(), Some("hunter2".into()), ClientAuth::Basic)
            .expect("ok");
        assert!(!format!("{client:?}").contains("hunter2"));
    }
}
