//! [`AuthServerMetadata`]: what an issuer says about itself (RFC 8414 §2, OIDC Discovery §3).

use auth_core::{AuthError, ErrorKind, SecretString};
use serde_json::{Map, Value};

use crate::{
    ClientAuth, TokenEndpoint, TokenEndpointBuilder, TokenHttpClient, Url, endpoint::parse_url,
};

/// An authorization server's metadata, checked: its `issuer` is exactly the one asked for, and
/// its `token_endpoint` is a URL the [`TokenHttpClient`] may use.
///
/// The fields used by this crate have accessors; every other field is available with
/// [`get`](Self::get).
#[derive(Debug, Clone)]
pub struct AuthServerMetadata {
    issuer: String,
    source: Url,
    token_endpoint: Url,
    authorization_endpoint: Option<Url>,
    mtls_token_endpoint: Option<Url>,
    device_authorization_endpoint: Option<Url>,
    revocation_endpoint: Option<Url>,
    auth_methods: Option<Vec<String>>,
    auth_signing_algs: Option<Vec<String>>,
    grant_types: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
    code_challenge_methods: Option<Vec<String>>,
    fields: Map<String, Value>,
}

impl AuthServerMetadata {
    /// Reads and checks the metadata document `object`, fetched from `source` for `issuer`.
    ///
    /// Errors: [`ErrorKind::Config`] when the `issuer` differs from `issuer` (naming both) or
    /// there is no `token_endpoint`, or an endpoint is not a usable URL; [`ErrorKind::MalformedResponse`]
    /// when a field has the wrong type.
    pub fn from_json(
        object: Map<String, Value>,
        issuer: &str,
        source: Url,
        http: &TokenHttpClient,
    ) -> Result<Self, AuthError> {
        let malformed = |field: &str, expected: &str| {
            AuthError::new(
                ErrorKind::MalformedResponse,
                format!("the metadata at `{source}`: `{field}` is not {expected}"),
            )
        };
        let found = match object.get("issuer") {
            Some(Value::String(found)) => found,
            None => {
                return Err(AuthError::new(
                    ErrorKind::MalformedResponse,
                    format!("the metadata at `{source}` has no `issuer`"),
                ));
            }
            Some(_) => return Err(malformed("issuer", "a string")),
        };
        if found != issuer {
            let shown: String = found.chars().take(200).collect();
            return Err(AuthError::config(
                "issuer",
                format!(
                    "the metadata at `{source}` is for issuer `{}`, not `{issuer}`; they must be \
                     identical (RFC 8414 §3.3, OIDC Discovery §4.3): check the issuer URL, \
                     including any trailing slash",
                    shown.escape_debug()
                ),
            ));
        }
        let endpoint = |field: &str| -> Result<Option<Url>, AuthError> {
            match object.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => {
                    let what = format!("{field} (from the metadata at `{source}`)");
                    let url = parse_url(&what, text)?;
                    http.check_url(&url, &what)?;
                    Ok(Some(url))
                }
                Some(_) => Err(malformed(field, "a string")),
            }
        };
        let token_endpoint = endpoint("token_endpoint")?.ok_or_else(|| {
            AuthError::config(
                "issuer",
                format!(
                    "the metadata at `{source}` has no `token_endpoint` (the server issues no \
                     tokens to clients directly): set the token URL explicitly"
                ),
            )
        })?;
        let authorization_endpoint = endpoint("authorization_endpoint")?;
        let revocation_endpoint = endpoint("revocation_endpoint")?;
        let mtls_token_endpoint = match object.get("mtls_endpoint_aliases") {
            None | Some(Value::Null) => None,
            Some(Value::Object(aliases)) => match aliases.get("token_endpoint") {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) => {
                    let what = format!(
                        "mtls_endpoint_aliases.token_endpoint (from the metadata at `{source}`)"
                    );
                    let url = parse_url(&what, text)?;
                    http.check_url(&url, &what)?;
                    Some(url)
                }
                Some(_) => {
                    return Err(malformed(
                        "mtls_endpoint_aliases.token_endpoint",
                        "a string",
                    ));
                }
            },
            Some(_) => return Err(malformed("mtls_endpoint_aliases", "an object")),
        };
        let device_authorization_endpoint = endpoint("device_authorization_endpoint")?;
        let list = |field: &str| -> Result<Option<Vec<String>>, AuthError> {
            match object.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| match item {
                        Value::String(s) => Ok(s.clone()),
                        _ => Err(malformed(field, "a list of strings")),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
                Some(_) => Err(malformed(field, "a list of strings")),
            }
        };
        Ok(Self {
            issuer: found.clone(),
            token_endpoint,
            authorization_endpoint,
            mtls_token_endpoint,
            device_authorization_endpoint,
            revocation_endpoint,
            auth_methods: list("token_endpoint_auth_methods_supported")?,
            auth_signing_algs: list("token_endpoint_auth_signing_alg_values_supported")?,
            grant_types: list("grant_types_supported")?,
            scopes: list("scopes_supported")?,
            code_challenge_methods: list("code_challenge_methods_supported")?,
            source,
            fields: object,
        })
    }

    /// The issuer identifier (equal to the one asked for).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Where the document was read from.
    pub fn source(&self) -> &Url {
        &self.source
    }

    /// `token_endpoint`.
    pub fn token_endpoint(&self) -> &Url {
        &self.token_endpoint
    }

    /// `authorization_endpoint`, if the server has one.
    pub fn authorization_endpoint(&self) -> Option<&Url> {
        self.authorization_endpoint.as_ref()
    }

    /// `mtls_endpoint_aliases.token_endpoint` (RFC 8705 §5): the token endpoint to use with a
    /// client certificate, when it differs.
    pub fn mtls_token_endpoint(&self) -> Option<&Url> {
        self.mtls_token_endpoint.as_ref()
    }

    /// `device_authorization_endpoint` (RFC 8628 §4), if the server has one: where the device
    /// authorization grant starts.
    pub fn device_authorization_endpoint(&self) -> Option<&Url> {
        self.device_authorization_endpoint.as_ref()
    }

    /// `revocation_endpoint` (RFC 7009, RFC 8414 §2), if the server has one.
    pub fn revocation_endpoint(&self) -> Option<&Url> {
        self.revocation_endpoint.as_ref()
    }

    /// `token_endpoint_auth_methods_supported` as sent (unknown names included), if sent.
    pub fn token_endpoint_auth_methods_supported(&self) -> Option<&[String]> {
        self.auth_methods.as_deref()
    }

    /// `token_endpoint_auth_signing_alg_values_supported` (for `private_key_jwt`), if sent.
    pub fn token_endpoint_auth_signing_alg_values_supported(&self) -> Option<&[String]> {
        self.auth_signing_algs.as_deref()
    }

    /// `grant_types_supported` as sent, if sent.
    pub fn grant_types_supported(&self) -> Option<&[String]> {
        self.grant_types.as_deref()
    }

    /// `scopes_supported`, if sent.
    pub fn scopes_supported(&self) -> Option<&[String]> {
        self.scopes.as_deref()
    }

    /// `code_challenge_methods_supported` (PKCE), if sent.
    pub fn code_challenge_methods_supported(&self) -> Option<&[String]> {
        self.code_challenge_methods.as_deref()
    }

    /// Any field of the document, e.g. `jwks_uri` or `userinfo_endpoint`.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields.get(field)
    }

    /// The token URL to use with `method`: the `mtls_endpoint_aliases` one for
    /// [`ClientAuth::TlsClientAuth`] and [`ClientAuth::SelfSignedTlsClientAuth`] when the
    /// server has one (RFC 8705 §5), `token_endpoint` otherwise.
    pub fn token_endpoint_for(&self, method: ClientAuth) -> &Url {
        match (method, &self.mtls_token_endpoint) {
            (ClientAuth::TlsClientAuth | ClientAuth::SelfSignedTlsClientAuth, Some(alias)) => alias,
            _ => &self.token_endpoint,
        }
    }

    /// Whether the server supports `method`, by `token_endpoint_auth_methods_supported`; when
    /// the server does not send that list, only `client_secret_basic` is (the RFC 8414 §2
    /// default). [`ClientAuth::Auto`] is supported when either secret method is.
    pub fn supports_auth_method(&self, method: ClientAuth) -> bool {
        if method == ClientAuth::Auto {
            return self.supports_auth_method(ClientAuth::Basic)
                || self.supports_auth_method(ClientAuth::Body);
        }
        match &self.auth_methods {
            Some(methods) => methods.iter().any(|m| m == method.as_str()),
            None => method == ClientAuth::Basic,
        }
    }

    /// Whether the server supports the grant `grant_type` (e.g. `client_credentials`).
    /// Without `grant_types_supported`, `authorization_code` and `implicit` are (the RFC 8414
    /// §2 default).
    pub fn supports_grant(&self, grant_type: &str) -> bool {
        match &self.grant_types {
            Some(grants) => grants.iter().any(|g| g == grant_type),
            None => matches!(grant_type, "authorization_code" | "implicit"),
        }
    }

    /// The first of `usable` (the methods the client can do, in its order of preference) that
    /// the server supports.
    pub fn pick_auth_method(&self, usable: &[ClientAuth]) -> Option<ClientAuth> {
        usable
            .iter()
            .copied()
            .find(|m| self.supports_auth_method(*m))
    }

    /// The method to use when the user chose none: the first of
    /// [`PREFERRED_AUTH_METHODS`](super::PREFERRED_AUTH_METHODS) (`client_secret_basic`,
    /// `client_secret_post`, `private_key_jwt`, `tls_client_auth`,
    /// `self_signed_tls_client_auth`) the server supports.
    pub fn preferred_auth_method(&self) -> Option<ClientAuth> {
        self.pick_auth_method(&super::PREFERRED_AUTH_METHODS)
    }

    /// A [`TokenEndpoint`] builder for this server: its token endpoint, the discovery's HTTP
    /// client, the client's id and secret, and, with a secret, a client-authentication method
    /// picked from the metadata: `client_secret_basic` when supported, else
    /// `client_secret_post`. Without a secret the builder's own default applies (`none`), and
    /// [`private_key_jwt`](TokenEndpointBuilder::private_key_jwt) and the TLS methods are set
    /// on the result as usual (for the TLS methods, see [`token_endpoint_for`](Self::token_endpoint_for)).
    /// Call [`client_auth`](TokenEndpointBuilder::client_auth) on the result to choose yourself.
    ///
    /// Fails with [`ErrorKind::Config`] when there is a secret but the server supports neither
    /// secret method (it lists, e.g., only `private_key_jwt`).
    pub fn token_endpoint_builder(
        &self,
        http: &TokenHttpClient,
        client_id: impl Into<String>,
        client_secret: Option<SecretString>,
    ) -> Result<TokenEndpointBuilder, AuthError> {
        let builder = TokenEndpoint::builder(self.token_endpoint.as_str(), client_id)
            .http_client(http.clone());
        let Some(secret) = client_secret else {
            return Ok(builder);
        };
        let method = self
            .pick_auth_method(&[ClientAuth::Basic, ClientAuth::Body])
            .ok_or_else(|| {
                AuthError::config(
                    "client_auth",
                    format!(
                        "issuer `{}` supports neither client_secret_basic nor client_secret_post \
                         (it lists: {}); choose a method it supports",
                        self.issuer,
                        self.auth_methods
                            .as_deref()
                            .map(|m| m.join(", "))
                            .unwrap_or_default()
                    ),
                )
            })?;
        Ok(builder.client_secret(secret).client_auth(method))
    }
}
