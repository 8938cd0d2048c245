//! [`ClientAuth`]: how the client proves who it is to the token endpoint.
//!
//! | method | sends | for |
//! |---|---|---|
//! | [`ClientAuth::Basic`] (`client_secret_basic`) | `Authorization: Basic base64(urlencode(id):urlencode(secret))` | confidential clients; every server must support it (RFC 6749 §2.3.1) |
//! | [`ClientAuth::Body`] (`client_secret_post`) | `client_id` and `client_secret` form fields | servers that do not take Basic |
//! | [`ClientAuth::None`] (`none`) | `client_id` form field, no secret | public clients (CLIs, apps with PKCE) |
//! | [`ClientAuth::Auto`] (`auto`) | Basic first; on `invalid_client` or a 401 the same request again with the body method | when you do not know; what worked is remembered for later requests |
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
//! assert!("client_secret_jwt".parse::<ClientAuth>().is_err());
//! # Ok::<(), auth_core::AuthError>(())
//! ```

use std::{
    fmt,
    str::FromStr,
    sync::atomic::{AtomicU8, Ordering},
};

use auth_core::{AuthError, ErrorKind, ExposeSecret, SecretString, sensitive_header_value};
use base64::{Engine, engine::general_purpose::STANDARD};
use http::HeaderValue;

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
}

impl ClientAuth {
    /// The method's name in OAuth metadata (`client_secret_basic`, `client_secret_post`,
    /// `none`) or `auto`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::Basic => "client_secret_basic",
            ClientAuth::Body => "client_secret_post",
            ClientAuth::None => "none",
            ClientAuth::Auto => "auto",
        }
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
            _ => Err(AuthError::config(
                "client_auth",
                format!(
                    "unknown method `{}` (expected client_secret_basic, client_secret_post, none \
                     or auto)",
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
}

/// The client's identity and its authentication method, ready to apply to requests.
pub(crate) struct ClientIdentity {
    pub(crate) id: String,
    secret: Option<SecretString>,
    auth: ClientAuth,
    /// Pre-built `Authorization: Basic …` (sensitive), when a secret is set.
    basic: Option<HeaderValue>,
    /// What `Auto` settled on: `UNDECIDED`, `BASIC` or `BODY`.
    auto_choice: AtomicU8,
}

const UNDECIDED: u8 = 0;
const BASIC: u8 = 1;
const BODY: u8 = 2;

impl ClientIdentity {
    pub(crate) fn new(
        id: String,
        secret: Option<SecretString>,
        auth: ClientAuth,
    ) -> Result<Self, AuthError> {
        if id.trim().is_empty() {
            return Err(AuthError::config("client_id", "is missing"));
        }
        let secret = secret.filter(|s| !s.expose_secret().is_empty());
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
        }
    }

    /// `Auto` remembers `method` for later requests.
    pub(crate) fn remember(&self, method: Method) {
        let choice = match method {
            Method::Basic => BASIC,
            Method::Body => BODY,
            Method::None => return,
        };
        let _ = self.auto_choice.compare_exchange(
            UNDECIDED,
            choice,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Adds `method`'s credentials to a request's headers and form.
    pub(crate) fn apply(
        &self,
        method: Method,
        headers: &mut http::HeaderMap,
        form: &mut form_urlencoded::Serializer<'_, String>,
    ) {
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
            Method::None => {
                form.append_pair("client_id", &self.id);
            }
        }
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
    let secret: String =
        form_urlencoded::byte_serialize(secret.expose_secret().as_bytes()).collect();
    let encoded = SecretString::from(STANDARD.encode(format!("{id}:{secret}")));
    sensitive_header_value("Basic", &encoded, "client credentials")
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("id", &self.id)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("auth", &self.auth)
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
        let err = "private_key_jwt"
            .parse::<ClientAuth>()
            .expect_err("unsupported");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.to_string()
                .contains("client_auth: unknown method `private_key_jwt`")
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
