//! Declarative connections in TOML, YAML or JSON, with secrets referenced from the environment
//! or files, and per-environment overlays.
//!
//! ```
//! use tower_auth::config::{Config, Format};
//!
//! let config = Config::from_str(r#"
//!     [connections.billing]
//!     base_url = "https://api.example.com/v2"
//!     check = { method = "GET", path = "/me", expect_status = [200] }
//!
//!     [connections.billing.auth]
//!     type = "bearer"
//!     token = { env = "BILLING_TOKEN" }
//!
//!     [connections.billing.environments.prod.auth]
//!     token = { file = "/run/secrets/billing" }
//! "#, Format::Toml)?;
//! let billing = config.connection("billing", None)?;
//! assert_eq!(billing.base_url, "https://api.example.com/v2");
//! assert_eq!(billing.auth.type_name(), "bearer");
//! # Ok::<(), tower_auth::config::ConfigError>(())
//! ```
//!
//! Every problem is reported at once, each with the key path it is about:
//!
//! ```
//! use tower_auth::config::{Config, Format};
//!
//! let error = Config::from_str(r#"
//!     [connections.billing]
//!     base_url = "api.example.com"
//!     [connections.billing.auth]
//!     type = "oauth2"
//!     grant = "client_credentials"
//!     token_uri = "https://auth.example.com/token"
//!     client_id = "billing"
//!     client_secret = { env = "SECRET" }
//! "#, Format::Toml).unwrap_err();
//! let text = error.to_string();
//! assert!(text.contains("connections.billing.base_url: not a URL"));
//! assert!(text.contains("connections.billing.auth.token_uri: unknown key (did you mean `token_url`?)"));
//! ```
//!
//! The environment is `--env NAME`, else `TOWER_AUTH_ENV`, else `default_environment`, else
//! none ([`Config::environment`]); its overlay under `connections.NAME.environments.ENV` is
//! deep-merged over the connection.

use std::{
    fmt,
    path::{Path, PathBuf},
};

use serde_json::{Map, Value};

mod connection;
#[cfg(feature = "oauth2")]
mod custom;
#[cfg(feature = "oauth2")]
mod discovered;
mod dpop;
mod error;
mod exchange;
mod fleet;
mod headers;
mod layer;
#[cfg(feature = "oauth2")]
mod oauth;
mod profile;
mod read;
mod rotation;
mod secret;
mod sign_in;
mod spec;
mod tenants;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "oauth2")]
mod users;
mod variables;

pub use error::{ConfigError, Problem};
pub use exchange::TokenExchangeSpec;
pub use layer::{ConnectionLayer, ConnectionService};
#[cfg(feature = "oauth2")]
pub use oauth::revocation::SignOut;
pub use rotation::SECRET_FILE_CHECK_INTERVAL;
pub use secret::SecretRef;
pub use spec::{
    AuthSpec, CheckSpec, ConnectionSpec, CustomSpec, DpopSpec, FleetCacheSpec, JwtBearerSpec,
    KeyMapSpec, Location, OAuth2Spec, ProfileSpec, TemplateValue, TenantsSpec, TlsSpec,
};
pub use tenants::TENANT_PLACEHOLDER;
#[cfg(feature = "oauth2")]
pub use users::{signed_in_list, user_key};

use error::{Problems, did_you_mean};
use read::Reader;

/// The default configuration file, relative to the working directory.
pub const DEFAULT_PATH: &str = "tower-auth.toml";
/// The environment variable naming the configuration file.
pub const CONFIG_ENV_VAR: &str = "TOWER_AUTH_CONFIG";
/// The environment variable naming the environment.
pub const ENVIRONMENT_ENV_VAR: &str = "TOWER_AUTH_ENV";

const TOP_LEVEL_KEYS: &[&str] = &[
    "default_environment",
    "strict_secrets",
    "connections",
    "cache",
];

/// A configuration file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TOML (`.toml`).
    Toml,
    /// YAML (`.yaml`, `.yml`); needs the `yaml` feature.
    Yaml,
    /// JSON (`.json`).
    Json,
}

impl Format {
    /// The format a path's extension names.
    pub fn from_path(path: &Path) -> Result<Format, ConfigError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("toml") => Ok(Format::Toml),
            Some("yaml" | "yml") => Ok(Format::Yaml),
            Some("json") => Ok(Format::Json),
            _ => Err(ConfigError::single(
                path.display().to_string(),
                "",
                "unknown format: the file name must end in .toml, .yaml, .yml or .json",
            )),
        }
    }
}

/// A loaded, validated configuration.
#[derive(Clone)]
pub struct Config {
    source_name: String,
    default_environment: Option<String>,
    strict_secrets: bool,
    connections: Map<String, Value>,
    /// The top-level `cache`: the default of every token connection without its own.
    default_cache: Option<Value>,
    warnings: Vec<Problem>,
    redactor: auth_core::Redactor,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The raw tree may hold literal secrets: show names only.
        f.debug_struct("Config")
            .field("source", &self.source_name)
            .field("default_environment", &self.default_environment)
            .field("strict_secrets", &self.strict_secrets)
            .field("connections", &self.connections.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Config {
    /// The path to load when none is given: `$TOWER_AUTH_CONFIG`, else `./tower-auth.toml`.
    pub fn default_path() -> PathBuf {
        std::env::var_os(CONFIG_ENV_VAR)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
    }

    /// Loads and validates a file; the format follows the extension.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let format = Format::from_path(path)?;
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::single(
                path.display().to_string(),
                "",
                format!("cannot read the file: {e}"),
            )
        })?;
        Self::parse(&text, format, path.display().to_string())
    }

    /// Parses and validates configuration text.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, format: Format) -> Result<Config, ConfigError> {
        Self::parse(text, format, "<string>".to_owned())
    }

    fn parse(text: &str, format: Format, source_name: String) -> Result<Config, ConfigError> {
        let root = parse_tree(text, format)
            .map_err(|message| ConfigError::single(source_name.clone(), "", message))?;
        let mut problems = Problems::default();
        let mut reader = Reader {
            problems: &mut problems,
            strict_secrets: false,
            vars: variables::Variables::default(),
        };
        let Some(top) = reader.table(String::new(), &root) else {
            return Err(ConfigError::new(source_name, problems.errors));
        };
        reader.known_keys(&top, TOP_LEVEL_KEYS);
        let default_environment = reader.string(&top, "default_environment");
        let strict_secrets = reader.bool(&top, "strict_secrets", false);
        reader.strict_secrets = strict_secrets;
        let default_cache = fleet::read_default(&mut reader, &top);
        let connections = match reader.sub_table(&top, "connections") {
            Some(t) => t.map.clone(),
            None => {
                if top.get("connections").is_none() {
                    reader
                        .problems
                        .error("connections", "missing (define at least one connection)");
                }
                Map::new()
            }
        };
        let config = Config {
            source_name: source_name.clone(),
            default_environment,
            strict_secrets,
            connections,
            default_cache,
            warnings: Vec::new(),
            redactor: auth_core::Redactor::new(),
        };
        config.check_all(&mut reader);
        if !problems.errors.is_empty() {
            return Err(ConfigError::new(source_name, problems.errors));
        }
        Ok(Config {
            warnings: problems.warnings,
            ..config
        })
    }

    /// Validates every connection as it will be used: with each of its environments, and on its
    /// own when no default environment is set.
    fn check_all(&self, reader: &mut Reader<'_>) {
        let auth_headers = headers::auth_headers(&self.connections);
        let read = |reader: &mut Reader<'_>, name: &str, env: Option<&str>, value: &Value| {
            let path = format!("connections.{name}");
            let value = &fleet::with_default(value, self.default_cache.as_ref());
            let spec = connection::read_connection(reader, name, env, path.clone(), value);
            if let Some(spec) = spec {
                headers::warn_credentials(reader.problems, &path, &spec.headers, &auth_headers);
            }
        };
        for (name, value) in &self.connections {
            if name.chars().any(char::is_control) || name.trim().is_empty() {
                reader.problems.error(
                    &format!("connections.{}", read::printable_key(name)),
                    "a connection name must be printable and not empty",
                );
                continue;
            }
            let path = format!("connections.{name}");
            let environments = environment_names(value);
            if self.default_environment.is_none() || environments.is_empty() {
                read(reader, name, None, &without_envs(value));
            }
            for env in environments {
                if let Some(merged) = merged_for(value, &env, reader, &path) {
                    let before = reader.problems.errors.len();
                    read(reader, name, Some(&env), &merged);
                    for problem in &mut reader.problems.errors[before..] {
                        problem
                            .message
                            .push_str(&format!(" (with environment `{env}`)"));
                    }
                }
            }
            if let Some(default) = &self.default_environment
                && !environment_names(value).contains(default)
                && !environment_names(value).is_empty()
            {
                reader.problems.warn(
                    &format!("{path}.environments"),
                    format!("no overlay for the default environment `{default}`: the base is used"),
                );
            }
        }
    }

    /// The environment to use: `cli` (`--env`), else `$TOWER_AUTH_ENV`, else
    /// `default_environment`, else none.
    pub fn environment(&self, cli: Option<&str>) -> Option<String> {
        cli.map(str::to_owned)
            .or_else(|| {
                std::env::var(ENVIRONMENT_ENV_VAR)
                    .ok()
                    .filter(|e| !e.is_empty())
            })
            .or_else(|| self.default_environment.clone())
    }

    /// The connection names, sorted.
    pub fn connection_names(&self) -> impl Iterator<Item = &str> {
        self.connections.keys().map(String::as_str)
    }

    /// Warnings found while loading (e.g. literal secrets).
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// The redactor every secret resolved for this configuration's connections joins; see
    /// [`ConnectionSpec::redactor`].
    pub fn redactor(&self) -> &auth_core::Redactor {
        &self.redactor
    }

    /// Where the configuration came from.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// The connection `name` with `environment`'s overlay merged (when it has one).
    ///
    /// Its variables are read here (an unset environment variable is an error naming the key
    /// path that uses it) and filled into `base_url`, `check.path`, `headers` and a custom
    /// token request; secrets are read later, by [`ConnectionSpec::layer`].
    pub fn connection(
        &self,
        name: &str,
        environment: Option<&str>,
    ) -> Result<ConnectionSpec, ConfigError> {
        self.connection_in(
            name,
            environment,
            variables::Mode::Resolve(self.redactor.clone()),
        )
    }

    /// Like [`Config::connection`], but with `{name}` variables left as written and none read:
    /// for showing the connection as configured (`tower-auth config show`), not for use.
    pub fn connection_as_written(
        &self,
        name: &str,
        environment: Option<&str>,
    ) -> Result<ConnectionSpec, ConfigError> {
        self.connection_in(name, environment, variables::Mode::AsWritten)
    }

    fn connection_in(
        &self,
        name: &str,
        environment: Option<&str>,
        mode: variables::Mode,
    ) -> Result<ConnectionSpec, ConfigError> {
        let name_path = format!("connections.{}", read::printable_key(name));
        let Some(value) = self.connections.get(name) else {
            let names: Vec<&str> = self.connection_names().collect();
            let hint = match did_you_mean(name, &names) {
                Some(s) => format!("no such connection (did you mean `{s}`?)"),
                None => format!("no such connection (defined: {})", names.join(", ")),
            };
            return Err(ConfigError::single(
                self.source_name.clone(),
                name_path,
                hint,
            ));
        };
        let mut problems = Problems::default();
        let mut reader = Reader {
            problems: &mut problems,
            strict_secrets: self.strict_secrets,
            vars: variables::Variables::default(),
        };
        reader.vars.mode = mode;
        let path = name_path;
        let env = environment.filter(|e| environment_names(value).iter().any(|n| n == e));
        let merged = match env {
            Some(env) => merged_for(value, env, &mut reader, &path),
            None => Some(without_envs(value)),
        };
        let spec = merged
            .map(|merged| fleet::with_default(&merged, self.default_cache.as_ref()))
            .and_then(|merged| {
                let spec = connection::read_connection(&mut reader, name, env, path, &merged);
                spec.map(|spec| (spec, merged))
            });
        match spec {
            Some((mut spec, merged)) if problems.errors.is_empty() => {
                spec.redactor = self.redactor.clone();
                if spec.tenants.is_some() {
                    spec.template = Some(std::sync::Arc::new(tenants::Template {
                        source_name: self.source_name.clone(),
                        strict_secrets: self.strict_secrets,
                        merged,
                    }));
                }
                Ok(spec)
            }
            _ => Err(ConfigError::new(self.source_name.clone(), problems.errors)),
        }
    }
}

fn parse_tree(text: &str, format: Format) -> Result<Value, String> {
    match format {
        Format::Toml => toml::from_str::<Value>(text).map_err(|e| {
            // toml's message quotes the offending line, which may hold a secret: keep the
            // position and the reason only.
            let position = e
                .span()
                .map(|span| {
                    let line = text[..span.start].matches('\n').count() + 1;
                    format!(" at line {line}")
                })
                .unwrap_or_default();
            format!("invalid TOML{position}: {}", e.message())
        }),
        Format::Json => serde_json::from_str::<Value>(text).map_err(|e| {
            format!(
                "invalid JSON at line {} column {}: {:?} error",
                e.line(),
                e.column(),
                e.classify()
            )
        }),
        Format::Yaml => parse_yaml(text),
    }
}

#[cfg(feature = "yaml")]
fn parse_yaml(text: &str) -> Result<Value, String> {
    serde_norway::from_str::<Value>(text).map_err(|e| match e.location() {
        Some(at) => format!("invalid YAML at line {} column {}", at.line(), at.column()),
        None => "invalid YAML".to_owned(),
    })
}

#[cfg(not(feature = "yaml"))]
fn parse_yaml(_text: &str) -> Result<Value, String> {
    Err("YAML configuration needs the `yaml` feature of tower-auth".to_owned())
}

fn environment_names(connection: &Value) -> Vec<String> {
    connection
        .get("environments")
        .and_then(Value::as_object)
        .map(|envs| envs.keys().cloned().collect())
        .unwrap_or_default()
}

fn without_envs(connection: &Value) -> Value {
    let mut value = connection.clone();
    if let Some(map) = value.as_object_mut() {
        map.remove("environments");
    }
    value
}

/// The connection with `env`'s overlay deep-merged over it.
fn merged_for(connection: &Value, env: &str, reader: &mut Reader<'_>, path: &str) -> Option<Value> {
    let overlay_path = format!("{path}.environments.{env}");
    let overlay = connection.get("environments")?.get(env)?;
    let overlay = reader.table(overlay_path.clone(), overlay)?;
    if overlay.map.contains_key("environments") {
        reader.problems.error(
            &format!("{overlay_path}.environments"),
            "environments cannot be nested",
        );
    }
    let mut merged = without_envs(connection);
    deep_merge(&mut merged, &Value::Object(overlay.map.clone()));
    Some(merged)
}

/// Merges `overlay` into `base`: tables recursively, anything else replaced. Replaced whole
/// rather than merged: a secret reference (`{ env }` over `{ file }` must not become both), and
/// an `auth` table whose `type` differs from the base's (keys of the old type must not linger).
fn deep_merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                let replaces_auth = key == "auth"
                    && value.get("type").is_some()
                    && base.get("auth").and_then(|a| a.get("type")) != value.get("type");
                // `variables = { env = "prod" }` is a variable named `env`, not a reference.
                let holds_names = key == "variables" || key == "headers";
                let replaces = replaces_auth || (is_secret_ref(value) && !holds_names);
                match base.get_mut(key) {
                    Some(existing) if !replaces => deep_merge(existing, value),
                    _ => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, overlay) => *base = overlay.clone(),
    }
}

fn is_secret_ref(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|m| m.len() == 1 && (m.contains_key("env") || m.contains_key("file")))
}

#[cfg(test)]
mod tests;
