//! Builds the token sources of `type = "oauth2"` and `type = "jwt_bearer"` connections with
//! `OAuth2Layer`'s builders.

use std::{path::Path, sync::Arc};

use auth_core::{
    AuthError, ExposeSecret, FileTokenStore, MemoryTokenStore, SecretString, TokenSource,
    TokenStore,
};
use auth_oauth::{
    ClientAuth, KeyMap, OAuth2Layer, OAuth2LayerBuilder,
    assertion::{Algorithm, SigningKey},
    grant::AuthorizationCode,
};

use super::{
    error::{ConfigError, Problem},
    secret::SecretRef,
    spec::{ConnectionSpec, JwtBearerSpec, KeyMapSpec, OAuth2Spec},
};

/// Resolves secrets and names problems under `connections.NAME.auth`.
struct Resolver {
    path: String,
}

impl Resolver {
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
            .resolve(&format!("{}.{key}", self.path))
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

/// The connection's OAuth 2.0 token source (cached), as a trait object.
pub(crate) fn token_source(
    spec: &ConnectionSpec,
    o: &OAuth2Spec,
) -> Result<Arc<dyn TokenSource>, ConfigError> {
    let r = Resolver {
        path: format!("connections.{}.auth", spec.name),
    };
    let token_url = token_url(&r, o)?;
    let source: Arc<dyn TokenSource> = match o.grant.as_str() {
        "client_credentials" => {
            let secret = r.required(
                "client_secret",
                o.client_secret.as_ref(),
                "the client credentials grant authenticates the client",
            )?;
            let builder = OAuth2Layer::client_credentials(token_url, o.client_id.clone(), secret);
            Arc::new(
                common(&r, o, builder)?
                    .build()
                    .map_err(|e| r.build_error(e))?
                    .source()
                    .clone(),
            )
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
            Arc::new(
                common(&r, o, builder)?
                    .build()
                    .map_err(|e| r.build_error(e))?
                    .source()
                    .clone(),
            )
        }
        "refresh_token" => {
            let store = store(&r, &spec.name, o)?;
            let mut builder = OAuth2Layer::refresh_token(
                token_url,
                o.client_id.clone(),
                store,
                spec.name.clone(),
            );
            if let Some(refresh) = &o.refresh_token {
                builder = builder.initial_refresh_token(r.secret("refresh_token", refresh)?);
            }
            Arc::new(
                common(&r, o, builder)?
                    .build()
                    .map_err(|e| r.build_error(e))?
                    .source()
                    .clone(),
            )
        }
        "authorization_code" => Arc::new(authorization_code(spec, o)?.source().clone()),
        other => return Err(r.problem("grant", format!("unknown grant `{other}`"))),
    };
    Ok(source)
}

/// The token source of a `type = "jwt_bearer"` connection (RFC 7523), cached.
pub(crate) fn jwt_bearer_source(
    spec: &ConnectionSpec,
    j: &JwtBearerSpec,
) -> Result<Arc<dyn TokenSource>, ConfigError> {
    let r = Resolver {
        path: format!("connections.{}.auth", spec.name),
    };
    let mut builder = match &j.service_account_file {
        Some(file) => OAuth2Layer::service_account(expand_home(file)),
        None => {
            let pem = r.required(
                "private_key",
                j.private_key.as_ref(),
                "it signs the assertion",
            )?;
            let mut key = SigningKey::from_pem(pem.expose_secret().as_bytes())
                .map_err(|e| r.build_error(e))?;
            if let Some(algorithm) = &j.algorithm {
                let algorithm: Algorithm =
                    algorithm.parse().map_err(|e: AuthError| r.build_error(e))?;
                key = key
                    .with_algorithm(algorithm)
                    .map_err(|e| r.build_error(e))?;
            }
            if let Some(kid) = &j.key_id {
                key = key.with_key_id(kid.clone());
            }
            let token_url = j
                .token_url
                .clone()
                .ok_or_else(|| r.problem("token_url", "missing"))?;
            let issuer = j
                .issuer
                .clone()
                .ok_or_else(|| r.problem("issuer", "missing"))?;
            OAuth2Layer::jwt_bearer(token_url, issuer, key)
        }
    };
    if let Some(subject) = &j.subject {
        builder = builder.subject(subject.clone());
    }
    if let Some(audience) = &j.audience {
        builder = builder.assertion_audience(audience.clone());
    }
    if !j.scopes.is_empty() {
        builder = builder.scopes(j.scopes.clone());
    }
    let layer = builder.build().map_err(|e| r.build_error(e))?;
    Ok(Arc::new(layer.source().clone()))
}

/// The `OAuth2Layer` of an authorization-code connection, for `tower-auth login`.
pub(crate) fn authorization_code(
    spec: &ConnectionSpec,
    o: &OAuth2Spec,
) -> Result<OAuth2Layer<AuthorizationCode>, ConfigError> {
    let r = Resolver {
        path: format!("connections.{}.auth", spec.name),
    };
    let token_url = token_url(&r, o)?;
    let auth_url = o.auth_url.clone().ok_or_else(|| {
        r.problem(
            "auth_url",
            "missing (discovery from `issuer` is not available yet)",
        )
    })?;
    let redirect_uri = o
        .redirect_uri
        .clone()
        .ok_or_else(|| r.problem("redirect_uri", "missing"))?;
    let builder =
        OAuth2Layer::authorization_code(token_url, o.client_id.clone(), auth_url, redirect_uri)
            .pkce(o.pkce)
            .store(store(&r, &spec.name, o)?, spec.name.clone());
    common(&r, o, builder)?
        .build()
        .map_err(|e| r.build_error(e))
}

fn token_url(r: &Resolver, o: &OAuth2Spec) -> Result<String, ConfigError> {
    o.token_url.clone().ok_or_else(|| {
        r.problem(
            "token_url",
            "missing (discovery from `issuer` is not available in this version: give token_url)",
        )
    })
}

/// Where refresh tokens live: the configured file; for the authorization code grant (whose
/// sign-in must outlive the process) `tower-auth/NAME.json` under the user's configuration
/// directory; else memory.
fn store(r: &Resolver, name: &str, o: &OAuth2Spec) -> Result<Arc<dyn TokenStore>, ConfigError> {
    let path = match &o.token_store {
        Some(path) => expand_home(path),
        None if o.grant == "authorization_code" => match user_config_dir() {
            Some(dir) => dir.join("tower-auth").join(format!("{name}.json")),
            None => {
                return Err(r.problem(
                    "token_store",
                    "missing, and no user configuration directory ($XDG_CONFIG_HOME or $HOME) to default to",
                ));
            }
        },
        None => return Ok(Arc::new(MemoryTokenStore::new())),
    };
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        create_private_dir(dir).map_err(|e| {
            r.problem(
                "token_store",
                format!("cannot create the directory {}: {e}", dir.display()),
            )
        })?;
    }
    Ok(Arc::new(FileTokenStore::new(path)))
}

fn user_config_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))
}

/// Creates `dir` (and parents), owner-only on unix: it will hold refresh tokens.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// `~/x` → `$HOME/x`, so configs can name a per-user store portably.
pub(crate) fn expand_home(path: &Path) -> std::path::PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => Path::new(&home).join(rest),
        _ => path.to_path_buf(),
    }
}

/// The settings every grant shares.
fn common<G>(
    r: &Resolver,
    o: &OAuth2Spec,
    mut builder: OAuth2LayerBuilder<G>,
) -> Result<OAuth2LayerBuilder<G>, ConfigError> {
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
        "tls" => {
            return Err(r.problem(
                "client_auth",
                "`tls` client authentication is configured in code for now \
                 (OAuth2LayerBuilder::tls_client_auth with auth_layers::tls::ClientTls)",
            ));
        }
        name => {
            let client_auth: ClientAuth = name.parse().map_err(|e: AuthError| r.build_error(e))?;
            builder = builder.client_auth(client_auth);
        }
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
    Ok(builder)
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
