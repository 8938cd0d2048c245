//! Builds the token sources of `type = "oauth2"` and `type = "jwt_bearer"` connections with
//! `OAuth2Layer`'s builders.

use std::sync::Arc;

use auth_core::{
    AuthError, CacheConfig, CachedTokenSource, ErrorKind, ExposeSecret, Redactor, SecretString,
    TokenSource,
};
use auth_oauth::{
    ClientAuth, KeyMap, OAuth2Layer, OAuth2LayerBuilder, TokenHttpClient,
    assertion::Algorithm,
    discovery::{AuthServerMetadata, Discovery},
    dpop::{Dpop, DpopKey},
    layer::LayerGrant,
};

use super::{
    discovered::Discovered,
    error::{ConfigError, Problem},
    secret::SecretRef,
    spec::{ConnectionSpec, DpopSpec, JwtBearerSpec, KeyMapSpec, OAuth2Spec, TlsSpec},
};

mod exchange;
mod fleet_key;
mod jwt_bearer;
pub(crate) mod revocation;
mod sign_in;
mod store;

pub(crate) use jwt_bearer::{jwt_bearer_source, rotating_jwt_bearer};
pub(crate) use sign_in::{authorization_code, device_code};
use sign_in::{authorization_code_builder, device_code_builder};
pub(crate) use store::expand_home;
use store::store;

/// Resolves secrets and names problems under `connections.NAME.auth`.
struct Resolver {
    path: String,
    /// Every secret resolved joins it; the token endpoint and discovery share it.
    redactor: Redactor,
    /// The connection's `timeout`: it bounds each token request too.
    timeout: Option<std::time::Duration>,
}

impl Resolver {
    fn new(spec: &ConnectionSpec) -> Self {
        Self {
            path: format!("connections.{}.auth", spec.name),
            redactor: spec.redactor.clone(),
            timeout: spec.timeout,
        }
    }

    fn problem(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::new(
            "configuration",
            vec![Problem {
                path: format!("{}.{key}", self.path),
                message: message.into(),
            }],
        )
    }

    fn secret(&self, key: &str, secret: &SecretRef) -> Result<SecretString, ConfigError> {
        secret
            .resolve_for(&format!("{}.{key}", self.path), &self.redactor)
            .map_err(ConfigError::secret)
    }

    fn required(
        &self,
        key: &str,
        secret: Option<&SecretRef>,
        why: &str,
    ) -> Result<SecretString, ConfigError> {
        match secret {
            Some(s) => self.secret(key, s),
            None => Err(self.problem(key, format!("missing ({why})"))),
        }
    }

    /// Turns a builder error (which names the setting) into a problem at the auth table.
    fn build_error(&self, error: AuthError) -> ConfigError {
        ConfigError::from_auth(self.path.clone(), &error)
    }
}

/// The endpoints a grant is built with: given in the configuration, or found by discovery.
struct Endpoints {
    token_url: String,
    auth_url: Option<String>,
    device_authorization_url: Option<String>,
    /// The client authentication the issuer's metadata chose for `client_auth = "auto"`.
    client_auth: Option<ClientAuth>,
}

impl Endpoints {
    fn given(token_url: &str, o: &OAuth2Spec) -> Self {
        Self {
            token_url: token_url.to_owned(),
            auth_url: o.auth_url.clone(),
            device_authorization_url: o.device_authorization_url.clone(),
            client_auth: None,
        }
    }

    /// Stand-ins (the issuer URL) that let every other setting be checked before discovery.
    fn placeholder(issuer: &str, o: &OAuth2Spec) -> Self {
        Self {
            token_url: o.token_url.clone().unwrap_or_else(|| issuer.to_owned()),
            auth_url: o.auth_url.clone().or_else(|| Some(issuer.to_owned())),
            device_authorization_url: o
                .device_authorization_url
                .clone()
                .or_else(|| Some(issuer.to_owned())),
            client_auth: None,
        }
    }

    /// The issuer's endpoints, unless the configuration names them; with `client_auth = "auto"`
    /// and a secret, the secret method the issuer lists (Basic first); with `tls`, the issuer's
    /// mTLS endpoint alias when it has one (RFC 8705 §5).
    fn discovered(metadata: &AuthServerMetadata, o: &OAuth2Spec) -> Self {
        let client_auth = match o.client_auth.as_str() {
            "auto" if o.client_secret.is_some() => {
                metadata.pick_auth_method(&[ClientAuth::Basic, ClientAuth::Body])
            }
            _ => None,
        };
        let endpoint_for = match o.client_auth.as_str() {
            "tls" => ClientAuth::TlsClientAuth,
            _ => client_auth.unwrap_or(ClientAuth::Basic),
        };
        Self {
            token_url: o
                .token_url
                .clone()
                .unwrap_or_else(|| metadata.token_endpoint_for(endpoint_for).to_string()),
            auth_url: o
                .auth_url
                .clone()
                .or_else(|| metadata.authorization_endpoint().map(ToString::to_string)),
            device_authorization_url: o.device_authorization_url.clone().or_else(|| {
                metadata
                    .device_authorization_endpoint()
                    .map(ToString::to_string)
            }),
            client_auth,
        }
    }
}

/// The connection's OAuth 2.0 token source (cached), as a trait object.
///
/// With `issuer` and no `token_url`, every setting is checked now and the endpoints are
/// discovered on the first token request (the layer is built synchronously; discovery is a
/// request), inside the cache, so a failing discovery backs off like a failing token request.
pub(crate) fn token_source(
    spec: &ConnectionSpec,
    o: &OAuth2Spec,
) -> Result<Arc<dyn TokenSource>, ConfigError> {
    let source = rotating_source(spec, o)?;
    // A DPoP-bound token is bound to this process's key: another process could not use it, so
    // a DPoP connection keeps its tokens in-process (a connection's own `cache` with `dpop` is
    // refused when read; the top-level default is not applied to it).
    let fleet = if o.dpop.is_some() {
        None
    } else {
        o.cache.as_ref()
    };
    let source = super::fleet::shared(spec, fleet, source, || fleet_key::oauth2_key(spec, o))?;
    let cache = cache_config(o.refresh_before).name(spec.name.clone());
    Ok(Arc::new(CachedTokenSource::with_config(source, cache)))
}

/// The grant (or the discovery in front of it), without the cache, built again when one of
/// its secret files changed.
pub(crate) fn rotating_source(
    spec: &ConnectionSpec,
    o: &OAuth2Spec,
) -> Result<Arc<dyn TokenSource>, ConfigError> {
    Ok(super::rotation::rebuilt_on_change(
        spec,
        uncached_source(spec, o)?,
        {
            let (spec, o) = (spec.clone(), o.clone());
            move || uncached_source(&spec, &o)
        },
    ))
}

/// The grant (or the discovery in front of it), without the cache.
fn uncached_source(
    spec: &ConnectionSpec,
    o: &OAuth2Spec,
) -> Result<Arc<dyn TokenSource>, ConfigError> {
    let r = Resolver::new(spec);
    let grant = match (&o.token_url, &o.issuer) {
        (Some(token_url), _) => grant(spec, o, &r, &Endpoints::given(token_url, o))?,
        (None, Some(issuer)) => {
            grant(spec, o, &r, &Endpoints::placeholder(issuer, o))?;
            let discovery = discovery(&r, o)?;
            let (spec, o) = (spec.clone(), o.clone());
            Arc::new(Discovered::new(
                issuer.clone(),
                discovery,
                Box::new(move |metadata| {
                    let r = Resolver::new(&spec);
                    grant(&spec, &o, &r, &Endpoints::discovered(metadata, &o))
                        .map_err(|e| AuthError::new(ErrorKind::Config, e.to_string()))
                }),
            ))
        }
        (None, None) => return Err(missing_token_url(&r)),
    };
    Ok(grant)
}

/// The cache settings of a connection: the defaults, with its `refresh_before`.
pub(crate) fn cache_config(refresh_before: Option<std::time::Duration>) -> CacheConfig {
    match refresh_before {
        Some(lead) => CacheConfig::default().refresh_before(lead),
        None => CacheConfig::default(),
    }
}

fn missing_token_url(r: &Resolver) -> ConfigError {
    r.problem(
        "token_url",
        "missing (give `token_url`, or `issuer` to discover it)",
    )
}

/// The discovery client: through the token endpoint's TLS settings when `auth.tls` is set.
fn discovery(r: &Resolver, o: &OAuth2Spec) -> Result<Discovery, ConfigError> {
    match token_http_client(r, o)? {
        Some(http) => Ok(Discovery::with_http_client(http).redactor(r.redactor.clone())),
        None => Discovery::new()
            .map(|d| d.redactor(r.redactor.clone()))
            .map_err(|e| r.build_error(e)),
    }
}

/// The grant (without its cache) at `endpoints`.
fn grant(
    spec: &ConnectionSpec,
    o: &OAuth2Spec,
    r: &Resolver,
    endpoints: &Endpoints,
) -> Result<Arc<dyn TokenSource>, ConfigError> {
    let token_url = endpoints.token_url.clone();
    let built: Result<Arc<dyn TokenSource>, AuthError> = match o.grant.as_str() {
        "client_credentials" => {
            // A key or a certificate authenticates the client instead of a secret.
            if !matches!(o.client_auth.as_str(), "private_key_jwt" | "tls") {
                r.required(
                    "client_secret",
                    o.client_secret.as_ref(),
                    "the client credentials grant authenticates the client",
                )?;
            }
            let builder = OAuth2Layer::client_credentials_builder(token_url, o.client_id.clone());
            common(r, o, endpoints, builder)?
                .build_grant()
                .map(|g| Arc::new(g) as _)
        }
        "password" => {
            let username = o
                .username
                .clone()
                .ok_or_else(|| r.problem("username", "missing (the password grant needs it)"))?;
            let password = r.required(
                "password",
                o.password.as_ref(),
                "the password grant needs it",
            )?;
            let builder = OAuth2Layer::password(token_url, o.client_id.clone(), username, password);
            common(r, o, endpoints, builder)?
                .build_grant()
                .map(|g| Arc::new(g) as _)
        }
        "refresh_token" => {
            let store = store(r, &spec.name, o)?;
            let mut builder = OAuth2Layer::refresh_token(
                token_url,
                o.client_id.clone(),
                store,
                spec.name.clone(),
            );
            if let Some(refresh) = &o.refresh_token {
                builder = builder.initial_refresh_token(r.secret("refresh_token", refresh)?);
            }
            common(r, o, endpoints, builder)?
                .build_grant()
                .map(|g| Arc::new(g) as _)
        }
        "authorization_code" => authorization_code_builder(spec, o, r, endpoints)?
            .build_grant()
            .map(|g| Arc::new(g) as _),
        "device_code" => device_code_builder(spec, o, r, endpoints)?
            .build_grant()
            .map(|g| Arc::new(g) as _),
        "token_exchange" => exchange::builder(o, r, token_url)
            .and_then(|builder| common(r, o, endpoints, builder))?
            .build_grant()
            .map(|g| Arc::new(g) as _),
        other => return Err(r.problem("grant", format!("unknown grant `{other}`"))),
    };
    built.map_err(|e| r.build_error(e))
}

/// The token store of an OAuth 2.0 connection (for its users' sign-ins).
pub(crate) fn token_store(
    spec: &ConnectionSpec,
    o: &OAuth2Spec,
) -> Result<Arc<dyn auth_core::TokenStore>, ConfigError> {
    store(&Resolver::new(spec), &spec.name, o)
}

/// The settings every grant shares.
fn common<G: LayerGrant>(
    r: &Resolver,
    o: &OAuth2Spec,
    endpoints: &Endpoints,
    mut builder: OAuth2LayerBuilder<G>,
) -> Result<OAuth2LayerBuilder<G>, ConfigError> {
    builder = builder.redactor(r.redactor.clone());
    if let Some(timeout) = r.timeout {
        builder = builder.timeout(timeout);
    }
    match o.client_auth.as_str() {
        "private_key_jwt" => {
            let pem = r.required(
                "private_key",
                o.private_key.as_ref(),
                "client_auth `private_key_jwt` signs with it",
            )?;
            builder =
                builder.private_key_jwt_pem(pem.expose_secret().as_bytes(), o.key_id.as_deref());
        }
        "tls" => builder = tls_client_auth(r, o, builder)?,
        name => {
            let client_auth = match endpoints.client_auth {
                Some(chosen) => chosen,
                None => name.parse().map_err(|e: AuthError| r.build_error(e))?,
            };
            builder = builder.client_auth(client_auth);
        }
    }
    if o.client_auth != "tls"
        && let Some(http) = token_http_client(r, o)?
    {
        builder = builder.http_client(http);
    }
    if let Some(secret) = &o.client_secret {
        builder = builder.client_secret(r.secret("client_secret", secret)?);
    }
    if !o.scopes.is_empty() {
        builder = builder.scopes(o.scopes.clone());
    }
    if let Some(audience) = &o.audience {
        builder = builder.audience(audience.clone());
    }
    for resource in &o.resource {
        builder = builder.resource(resource.clone());
    }
    for (name, value) in &o.extra_params {
        builder = builder.param(name.clone(), value.clone());
    }
    if let Some(prefix) = &o.header_prefix {
        builder = builder.header_prefix(prefix.clone());
    }
    builder = builder.key_map(key_map(r, &o.key_map)?);
    if let Some(lead) = o.refresh_before {
        builder = builder.refresh_before(lead);
    }
    if let Some(dpop) = &o.dpop {
        builder = builder.dpop(dpop_of(r, dpop)?);
    }
    Ok(builder)
}

/// The DPoP key of `dpop`: loaded from its secret, or generated (ES256, or EdDSA with
/// `alg = "EdDSA"`).
fn dpop_of(r: &Resolver, spec: &DpopSpec) -> Result<Dpop, ConfigError> {
    let path = |key: &str| format!("dpop.{key}");
    let key = match &spec.key {
        Some(secret) => {
            let pem = r.secret(&path("key"), secret)?;
            DpopKey::from_pem(pem.expose_secret().as_bytes())
                .map_err(|e| r.problem(&path("key"), e.message()))?
        }
        None if spec.alg.as_deref() == Some("EdDSA") => {
            DpopKey::generate_ed25519().map_err(|e| r.build_error(e))?
        }
        None => DpopKey::generate_es256().map_err(|e| r.build_error(e))?,
    };
    let key = match &spec.alg {
        Some(alg) if spec.key.is_some() => {
            let alg: Algorithm = alg
                .parse()
                .map_err(|e: AuthError| r.problem(&path("alg"), e.message()))?;
            key.with_algorithm(alg)
                .map_err(|e| r.problem(&path("alg"), e.message()))?
        }
        _ => key,
    };
    Ok(Dpop::new(key).required(spec.required))
}

/// `client_auth = "tls"` (RFC 8705 `tls_client_auth`): the certificate of `auth.tls`.
#[cfg(feature = "tls")]
fn tls_client_auth<G: LayerGrant>(
    r: &Resolver,
    o: &OAuth2Spec,
    builder: OAuth2LayerBuilder<G>,
) -> Result<OAuth2LayerBuilder<G>, ConfigError> {
    if let Some(spec) = &o.tls
        && !spec.has_certificate()
    {
        return Err(r.problem(
            "tls.cert",
            "missing (tls client authentication needs a client certificate: give `cert` and \
             `key` in `auth.tls`; `ca` alone only trusts the server)",
        ));
    }
    match client_tls(r, o.tls.as_ref())? {
        Some(tls) => Ok(builder.tls_client_auth(tls)),
        None => Err(r.problem(
            "tls",
            "missing (client_auth `tls` authenticates with the client certificate of \
             `auth.tls = { cert, key }`)",
        )),
    }
}

#[cfg(not(feature = "tls"))]
fn tls_client_auth<G: LayerGrant>(
    r: &Resolver,
    _: &OAuth2Spec,
    _: OAuth2LayerBuilder<G>,
) -> Result<OAuth2LayerBuilder<G>, ConfigError> {
    Err(r.problem("client_auth", NO_TLS))
}

/// The token endpoint's HTTPS client when `auth.tls` is set (mTLS or a private CA).
fn token_http_client(r: &Resolver, o: &OAuth2Spec) -> Result<Option<TokenHttpClient>, ConfigError> {
    tls_http_client(r, o.tls.as_ref())
}

#[cfg(feature = "tls")]
fn tls_http_client(
    r: &Resolver,
    tls: Option<&TlsSpec>,
) -> Result<Option<TokenHttpClient>, ConfigError> {
    match client_tls(r, tls)? {
        Some(tls) => TokenHttpClient::with_client_tls(&tls)
            .map(Some)
            .map_err(|e| ConfigError::from_auth(format!("{}.tls", r.path), &e)),
        None => Ok(None),
    }
}

#[cfg(not(feature = "tls"))]
fn tls_http_client(
    r: &Resolver,
    tls: Option<&TlsSpec>,
) -> Result<Option<TokenHttpClient>, ConfigError> {
    match tls {
        Some(_) => Err(r.problem("tls", NO_TLS)),
        None => Ok(None),
    }
}

#[cfg(not(feature = "tls"))]
const NO_TLS: &str = "client certificates need the `tls` feature of tower-auth";

#[cfg(feature = "tls")]
fn client_tls(
    r: &Resolver,
    tls: Option<&TlsSpec>,
) -> Result<Option<auth_layers::tls::ClientTls>, ConfigError> {
    tls.map(|tls| super::tls::build(&format!("{}.tls", r.path), tls, &r.redactor))
        .transpose()
}

pub(crate) fn key_map_from(spec: &KeyMapSpec) -> Result<KeyMap, AuthError> {
    let mut map = KeyMap::default();
    for (field, path) in [
        ("access_token", &spec.access_token),
        ("expires_in", &spec.expires_in),
        ("token_type", &spec.token_type),
        ("refresh_token", &spec.refresh_token),
    ] {
        if let Some(path) = path {
            map = map.set(field, path)?;
        }
    }
    Ok(map)
}

fn key_map(r: &Resolver, spec: &KeyMapSpec) -> Result<KeyMap, ConfigError> {
    key_map_from(spec).map_err(|e| r.build_error(e))
}
