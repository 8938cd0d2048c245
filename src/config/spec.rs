//! The typed, validated form of one connection (after the environment overlay is merged).

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use auth_core::Redactor;
use http::Method;

use super::secret::SecretRef;

/// One named connection: where the API is, how to authenticate, how to check it.
///
/// Its `Debug` passes the URL, the check path and header values through the configuration's
/// redactor: a variable read from a file or the environment may be a secret.
#[derive(Clone)]
#[non_exhaustive]
pub struct ConnectionSpec {
    /// The connection's name (the key under `connections`).
    pub name: String,
    /// The environment whose overlay was merged, if any.
    pub environment: Option<String>,
    /// Requests and checks are relative to it.
    pub base_url: String,
    /// The request `tower-auth check` sends.
    pub check: CheckSpec,
    /// How to authenticate.
    pub auth: AuthSpec,
    /// TLS for the API: a client certificate (mTLS), extra CA roots, or both.
    pub tls: Option<TlsSpec>,
    /// Timeout for requests on this connection.
    pub timeout: Option<Duration>,
    /// How often, at most, a secret file's metadata is looked at for a rotation
    /// (`secret_check_interval`); `None` for the default,
    /// [`SECRET_FILE_CHECK_INTERVAL`](super::SECRET_FILE_CHECK_INTERVAL) (10 s).
    pub secret_check_interval: Option<Duration>,
    /// Default headers (`headers = { Accept = "…" }`), variables filled in: sent on every
    /// request of the connection that does not set them itself.
    pub headers: BTreeMap<String, String>,
    /// The variables (`variables = { domain = { env = "JIRA_DOMAIN" } }`) as written: text, or
    /// a reference read when the connection is built. `base_url`, `check.path`, `headers` and a
    /// custom token request hold them filled in.
    pub variables: BTreeMap<String, TemplateValue>,
    /// Default headers filled from a variable read from the environment or a file: sent as
    /// sensitive values.
    pub(crate) sensitive_headers: std::collections::BTreeSet<String>,
    /// Every secret resolved for the configuration, shared by its connections.
    pub(crate) redactor: Redactor,
    /// The token-store key of the grant when not the connection's name: one user's sign-in
    /// (see [`ConnectionSpec::for_user`]).
    pub(crate) store_key: Option<String>,
    /// `tenants = { max_keys = …, idle_timeout = … }`: a template whose `auth` table is filled
    /// in per tenant (`{tenant}`); see [`ConnectionSpec::for_tenant`].
    pub tenants: Option<TenantsSpec>,
    /// The connection as written (environment merged), read again per tenant.
    pub(crate) template: Option<std::sync::Arc<super::tenants::Template>>,
}

/// `tenants = { max_keys = 1000, idle_timeout = "1h" }` (or `tenants = true`): one token per
/// tenant, the `auth` table's `{tenant}` filled in with the tenant's id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TenantsSpec {
    /// At most this many tenants' token sources are kept (least recently used evicted first).
    pub max_keys: usize,
    /// Tenants unused this long are evicted first when room is needed.
    pub idle_timeout: Option<Duration>,
}

impl Default for TenantsSpec {
    fn default() -> Self {
        Self {
            max_keys: auth_core::keyed::DEFAULT_MAX_KEYS,
            idle_timeout: None,
        }
    }
}

impl std::fmt::Debug for ConnectionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |text: &str| self.redactor.redact(text).into_owned();
        let headers: BTreeMap<&String, String> =
            self.headers.iter().map(|(k, v)| (k, shown(v))).collect();
        f.debug_struct("ConnectionSpec")
            .field("name", &self.name)
            .field("environment", &self.environment)
            .field("base_url", &shown(&self.base_url))
            .field("check_method", &self.check.method)
            .field("check_path", &shown(&self.check.path))
            .field("expect_status", &self.check.expect_status)
            .field("auth", &self.auth)
            .field("tls", &self.tls)
            .field("timeout", &self.timeout)
            .field("secret_check_interval", &self.secret_check_interval)
            .field("headers", &headers)
            .field("variables", &self.variables)
            .field("tenants", &self.tenants)
            .field("redactor", &self.redactor)
            .finish()
    }
}

impl ConnectionSpec {
    /// The redactor that holds every secret resolved for this configuration (by
    /// [`ConnectionSpec::layer`] and the like, of any of its connections): the layers built
    /// from it cut those secrets out of the server text in their errors, and a program showing
    /// server text (as the CLI does) passes it through [`Redactor::redact`] too.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }
}

/// The check request: `GET base_url` expecting any 2xx by default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CheckSpec {
    /// HTTP method.
    pub method: Method,
    /// Path (and query) relative to `base_url`; empty for `base_url` itself.
    pub path: String,
    /// Accepted statuses; empty means any 2xx.
    pub expect_status: Vec<u16>,
}

impl Default for CheckSpec {
    fn default() -> Self {
        Self {
            method: Method::GET,
            path: String::new(),
            expect_status: Vec::new(),
        }
    }
}

/// `tls = { cert, key, ca }`: a client certificate (mTLS), extra CA roots to trust the server
/// by, or both (PEM files).
///
/// `cert` and `key` are given together or not at all; `ca` alone trusts a server behind a
/// private CA without presenting a client certificate. At least one of them is set.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TlsSpec {
    /// Client certificate chain (leaf first); `None` when no client certificate is presented.
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (a secret reference: a file is usual); set exactly
    /// when `cert` is.
    pub key: Option<SecretRef>,
    /// Extra CA roots that issue the server's certificate, trusted along with the platform's.
    pub ca: Option<PathBuf>,
}

impl TlsSpec {
    /// Whether a client certificate (`cert` and `key`) is configured.
    pub fn has_certificate(&self) -> bool {
        self.cert.is_some() && self.key.is_some()
    }
}

/// Where an API key or custom token goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// In a request header.
    Header,
    /// In a query parameter.
    Query,
}

/// The auth method of a connection and its parameters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AuthSpec {
    /// No credential.
    None,
    /// A fixed token in a header.
    Bearer {
        /// The token.
        token: SecretRef,
        /// Header name; default `Authorization`.
        header: String,
        /// Prefix; default `Bearer`, may be empty.
        prefix: String,
    },
    /// A fixed API key in a header or query parameter.
    ApiKey {
        /// Header or parameter name.
        key_name: String,
        /// The key.
        key_value: SecretRef,
        /// Header (default) or query.
        location: Location,
        /// Optional prefix.
        prefix: Option<String>,
    },
    /// HTTP Basic.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: SecretRef,
    },
    /// OAuth 2.0.
    OAuth2(Box<OAuth2Spec>),
    /// JWT bearer assertion grant (RFC 7523).
    JwtBearer(Box<JwtBearerSpec>),
    /// A custom token request.
    Custom(Box<CustomSpec>),
}

impl AuthSpec {
    /// The `type` name as written in the configuration.
    pub fn type_name(&self) -> &'static str {
        match self {
            AuthSpec::None => "none",
            AuthSpec::Bearer { .. } => "bearer",
            AuthSpec::ApiKey { .. } => "api_key",
            AuthSpec::Basic { .. } => "basic",
            AuthSpec::OAuth2(_) => "oauth2",
            AuthSpec::JwtBearer(_) => "jwt_bearer",
            AuthSpec::Custom(_) => "custom",
        }
    }
}

/// Renamed response fields (`key_map`), as dotted paths.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct KeyMapSpec {
    /// Path of the access token, e.g. `data.token`.
    pub access_token: Option<String>,
    /// Path of the lifetime in seconds.
    pub expires_in: Option<String>,
    /// Path of the token type.
    pub token_type: Option<String>,
    /// Path of the refresh token.
    pub refresh_token: Option<String>,
}

/// `type = "oauth2"`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OAuth2Spec {
    /// `client_credentials`, `password`, `refresh_token`, `authorization_code`,
    /// `device_code` or `token_exchange`.
    pub grant: String,
    /// Token endpoint (or found by discovery from `issuer`).
    pub token_url: Option<String>,
    /// Authorization endpoint (authorization code).
    pub auth_url: Option<String>,
    /// Device authorization endpoint (`device_code`; or found by discovery from `issuer`).
    pub device_authorization_url: Option<String>,
    /// Issuer URL for discovery.
    pub issuer: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client secret (confidential clients).
    pub client_secret: Option<SecretRef>,
    /// `basic`, `body`, `auto`, `none`, `private_key_jwt` or `tls`; default `auto`.
    pub client_auth: String,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// `audience` parameter.
    pub audience: Option<String>,
    /// `resource` parameters (RFC 8707).
    pub resource: Vec<String>,
    /// Prefix of the header the token is sent with (default from `token_type`).
    pub header_prefix: Option<String>,
    /// Resource owner (password grant).
    pub username: Option<String>,
    /// Resource owner's password (password grant).
    pub password: Option<SecretRef>,
    /// Refresh token (refresh_token grant).
    pub refresh_token: Option<SecretRef>,
    /// Redirect URI (authorization code).
    pub redirect_uri: Option<String>,
    /// PKCE for the authorization code grant; default on.
    pub pkce: bool,
    /// Extra token-request parameters; an `authorization_code` connection's authorization
    /// request carries them too.
    pub extra_params: BTreeMap<String, String>,
    /// Parameters of the authorization request only (`authorization_code`), e.g. `login_hint`.
    pub auth_params: BTreeMap<String, String>,
    /// The authorization request's `prompt` (`authorization_code`), e.g. `consent`.
    pub prompt: Option<String>,
    /// Adds `access_type=offline` to the authorization request (`authorization_code`; Google's
    /// way to ask for a refresh token). Default `false`.
    pub offline_access: bool,
    /// Renamed response fields.
    pub key_map: KeyMapSpec,
    /// Private key for `private_key_jwt`.
    pub private_key: Option<SecretRef>,
    /// Key id (`kid`) for `private_key_jwt`.
    pub key_id: Option<String>,
    /// Where refresh tokens are stored.
    pub token_store: Option<PathBuf>,
    /// TLS for the token endpoint: a client certificate (required by `client_auth = "tls"`),
    /// extra CA roots, or both.
    pub tls: Option<TlsSpec>,
    /// Start the background refresh this long before each token's expiry
    /// (`refresh_before = "10s"`); see [`CacheConfig::refresh_before`](auth_core::CacheConfig::refresh_before).
    /// Unset: the last 25% of the token's life, at most 5 minutes, before a 30 s skew.
    pub refresh_before: Option<Duration>,
    /// The fleet tier under the token cache (`cache = { redis = … }`), from this table or the
    /// top-level default.
    pub cache: Option<FleetCacheSpec>,
    /// Who signed in (`authorization_code` only): `profile = { url, id_path, email_path }`.
    pub profile: Option<ProfileSpec>,
    /// What `grant = "token_exchange"` exchanges (RFC 8693).
    pub exchange: Option<super::TokenExchangeSpec>,
    /// The revocation endpoint (RFC 7009) `tower-auth logout` tells; found from `issuer` when
    /// unset.
    pub revocation_url: Option<String>,
    /// DPoP sender-constrained tokens (RFC 9449): `dpop = true` or `dpop = { key, alg,
    /// required }`.
    pub dpop: Option<DpopSpec>,
}

/// `dpop = { key = { file = "dpop.pem" }, alg = "ES256", required = true }` (or `dpop = true`):
/// token requests carry DPoP proofs, and `token_type: DPoP` tokens are sent with a proof per
/// request.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DpopSpec {
    /// The private key (PEM, a secret reference), so several processes share one binding;
    /// `None`: a key generated when the connection is built.
    pub key: Option<SecretRef>,
    /// The signing algorithm: `ES256` (default for a generated key), `EdDSA`, or with `key`,
    /// `ES384`, `RS256`, `PS256`, `PS384`; `None`: the key type's default.
    pub alg: Option<String>,
    /// Refuse a token endpoint's Bearer answer (a downgrade); default `false`.
    pub required: bool,
}

/// `profile = { url = "https://api.example.com/me", id_path = "id", email_path = "email" }`:
/// where an `authorization_code` connection learns who signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProfileSpec {
    /// The profile endpoint, fetched with the new access token; `None`: the claims of the
    /// OpenID Connect `id_token` of the sign-in serve (decoded without verification).
    pub url: Option<String>,
    /// Dotted path of the user's id in the endpoint's JSON answer; default `id`.
    pub id_path: String,
    /// Dotted path of the user's email; default `email`.
    pub email_path: String,
}

/// `type = "jwt_bearer"`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JwtBearerSpec {
    /// Token endpoint (from the key file when omitted with `service_account_file`).
    pub token_url: Option<String>,
    /// `iss` claim.
    pub issuer: Option<String>,
    /// `sub` claim.
    pub subject: Option<String>,
    /// `aud` claim (default: the token URL).
    pub audience: Option<String>,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// PEM private key.
    pub private_key: Option<SecretRef>,
    /// `kid` header.
    pub key_id: Option<String>,
    /// `RS256`, `ES256`, …
    pub algorithm: Option<String>,
    /// Google-style service-account JSON key file.
    pub service_account_file: Option<PathBuf>,
    /// TLS for the token endpoint: a client certificate, extra CA roots, or both.
    pub tls: Option<TlsSpec>,
    /// Start the background refresh this long before each token's expiry
    /// (`refresh_before = "10s"`); see [`CacheConfig::refresh_before`](auth_core::CacheConfig::refresh_before).
    /// Unset: the last 25% of the token's life, at most 5 minutes, before a 30 s skew.
    pub refresh_before: Option<Duration>,
    /// The fleet tier under the token cache (`cache = { redis = … }`), from this table or the
    /// top-level default.
    pub cache: Option<FleetCacheSpec>,
}

/// A value in a custom request body or header: literal, secret, or `{{name}}` template. Also a
/// connection variable's value: text, or a secret reference read when it is used.
#[derive(Debug, Clone)]
pub enum TemplateValue {
    /// Plain text, possibly with `{{name}}` placeholders filled from `values`.
    Text(String),
    /// A secret reference.
    Secret(SecretRef),
}

/// `type = "custom"`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CustomSpec {
    /// HTTP method of the token request.
    pub method: Method,
    /// URL of the token request.
    pub url: String,
    /// Headers of the token request.
    pub headers: BTreeMap<String, TemplateValue>,
    /// JSON body fields (exclusive with `form`).
    pub json: Option<BTreeMap<String, TemplateValue>>,
    /// Form body fields (exclusive with `json`).
    pub form: Option<BTreeMap<String, TemplateValue>>,
    /// Named values for `{{name}}` placeholders.
    pub values: BTreeMap<String, TemplateValue>,
    /// Renamed response fields.
    pub key_map: KeyMapSpec,
    /// Header the token is sent in (default `Authorization`), or the query parameter name.
    pub header: String,
    /// Prefix before the token (default `Bearer`).
    pub prefix: String,
    /// Header (default) or query.
    pub location: Location,
    /// Start the background refresh this long before each token's expiry
    /// (`refresh_before = "10s"`); see [`CacheConfig::refresh_before`](auth_core::CacheConfig::refresh_before).
    /// Unset: the last 25% of the token's life, at most 5 minutes, before a 30 s skew.
    pub refresh_before: Option<Duration>,
    /// The fleet tier under the token cache (`cache = { redis = … }`), from this table or the
    /// top-level default.
    pub cache: Option<FleetCacheSpec>,
}

/// `cache = { redis = …, key_prefix = "…", encryption_key = { env = … }, allow_plaintext = false }`:
/// tokens shared by every process through Redis (feature `redis`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FleetCacheSpec {
    /// The Redis URL, or a secret reference to it (URLs carry passwords).
    pub redis: SecretRef,
    /// The namespace of the keys; `None` for `tower-auth`.
    pub key_prefix: Option<String>,
    /// 32 random bytes, base64 (`tower-auth config gen-key`).
    pub encryption_key: Option<SecretRef>,
    /// Store tokens in clear when no key is set.
    pub allow_plaintext: bool,
}
