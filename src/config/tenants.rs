//! `tenants`: one connection template, one token per tenant.
//!
//! ```toml
//! [connections.crm]
//! base_url = "https://api.crm.example.com"
//! tenants = { max_keys = 1000, idle_timeout = "1h" }   # or `tenants = true`
//! [connections.crm.auth]
//! type = "oauth2"
//! grant = "client_credentials"
//! token_url = "https://login.example.com/{tenant}/oauth2/token"
//! client_id = "crm-{tenant}"
//! client_secret = { env = "CRM_SECRET_{tenant}" }      # or { file = "secrets/{tenant}/crm" }
//! ```
//!
//! The connection's layer is keyed: each request names its tenant with a
//! [`TokenKey`](auth_core::TokenKey) in its extensions, and the first request of a tenant reads
//! the `auth` table again with every `{tenant}` replaced by the tenant's id, resolving that
//! tenant's secrets then (lazily: a tenant whose secret is missing fails alone, with the key
//! path of the secret, and is tried again on its next request). Tenant ids are letters, digits,
//! `-`, `_` and `.` (at most 64, not starting with `.`), so a file reference cannot leave its
//! directory. `{tenant}` is filled in only inside `auth`: the API's URL and headers are the
//! same for every tenant, and tokens go only to the origin of `base_url`.

#[cfg(feature = "oauth2")]
use std::sync::Arc;

use auth_core::{AuthError, ErrorKind};
#[cfg(feature = "oauth2")]
use auth_core::{KeyedTokenSource, TokenKey, TokenSource};
use auth_layers::Origin;
#[cfg(feature = "oauth2")]
use auth_layers::TokenLayer;
use serde_json::Value;

#[cfg(feature = "oauth2")]
use super::spec::AuthSpec;
use super::{
    error::{ConfigError, Problem, Problems},
    layer::ConnectionLayer,
    read::{Reader, Table},
    spec::{ConnectionSpec, TenantsSpec},
    variables,
};

/// The placeholder replaced by the tenant's id.
pub const TENANT_PLACEHOLDER: &str = "{tenant}";

/// The connection as written (environment merged), to read again per tenant.
pub(crate) struct Template {
    pub(crate) source_name: String,
    pub(crate) strict_secrets: bool,
    pub(crate) merged: Value,
}

/// Reads `tenants = true` or `tenants = { max_keys, idle_timeout }` of the connection table.
pub(crate) fn read_tenants(r: &mut Reader<'_>, t: &Table<'_>) -> Option<TenantsSpec> {
    match t.get("tenants")? {
        Value::Bool(true) => Some(TenantsSpec::default()),
        Value::Bool(false) => None,
        Value::Object(_) => {
            let table = r.sub_table(t, "tenants")?;
            r.known_keys(&table, &["max_keys", "idle_timeout"]);
            let mut spec = TenantsSpec::default();
            match table.get("max_keys") {
                None => {}
                Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => {
                    spec.max_keys = usize::try_from(n.as_u64().unwrap_or(1)).unwrap_or(usize::MAX);
                }
                Some(_) => r.problems.error(
                    &table.key_path("max_keys"),
                    "expected a whole number above 0",
                ),
            }
            spec.idle_timeout = r.duration(&table, "idle_timeout");
            Some(spec)
        }
        _ => {
            r.problems.error(
                &t.key_path("tenants"),
                "expected `true` or a table `{ max_keys = 1000, idle_timeout = \"1h\" }`",
            );
            None
        }
    }
}

/// Whether `id` can be a tenant id: 1 to 64 letters, digits, `-`, `_`, `.`, not starting
/// with `.` (so it cannot name a parent directory in a file reference).
fn check_tenant(id: &str) -> Result<(), AuthError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        return Ok(());
    }
    let shown: String = id.chars().take(64).flat_map(char::escape_debug).collect();
    Err(AuthError::new(
        ErrorKind::Config,
        format!(
            "`{shown}` is not a tenant id: use 1 to 64 letters, digits, `-`, `_` and `.`, not \
             starting with `.`"
        ),
    ))
}

/// `text` with every `{tenant}` replaced by `tenant`; `{{tenant}}` (a custom request's own
/// template syntax) is left alone.
fn fill(text: &str, tenant: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(TENANT_PLACEHOLDER) {
        let end = at + TENANT_PLACEHOLDER.len();
        let doubled = rest[..at].ends_with('{') && rest[end..].starts_with('}');
        out.push_str(&rest[..at]);
        out.push_str(if doubled { TENANT_PLACEHOLDER } else { tenant });
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn fill_value(value: &mut Value, tenant: &str) {
    match value {
        Value::String(s) => *s = fill(s, tenant),
        Value::Array(items) => items.iter_mut().for_each(|v| fill_value(v, tenant)),
        Value::Object(map) => map.values_mut().for_each(|v| fill_value(v, tenant)),
        _ => {}
    }
}

impl ConnectionSpec {
    /// The connection of one tenant: a template's (`tenants`) `auth` table read again with
    /// every `{tenant}` replaced by `tenant`, its variables and secrets read as for any
    /// connection (errors name the key path: `connections.crm.auth.client_secret: environment
    /// variable `CRM_SECRET_acme` is not set`). Its grant keeps a refresh token under
    /// `NAME#tenant:ID`. Fails for a connection without `tenants` and for an id that is not a
    /// tenant id.
    pub fn for_tenant(&self, tenant: &str) -> Result<ConnectionSpec, ConfigError> {
        let path = format!("connections.{}.tenants", self.name);
        let Some(template) = &self.template else {
            return Err(ConfigError::new(
                "configuration",
                vec![Problem {
                    path,
                    message: "not set: this connection has one token for all, not one per tenant"
                        .to_owned(),
                }],
            ));
        };
        check_tenant(tenant).map_err(|e| ConfigError::from_auth(path.clone(), &e))?;
        let mut merged = template.merged.clone();
        if let Some(auth) = merged.get_mut("auth") {
            fill_value(auth, tenant);
        }
        let mut problems = Problems::default();
        let mut reader = Reader {
            problems: &mut problems,
            strict_secrets: template.strict_secrets,
            vars: variables::Variables::default(),
        };
        reader.vars.mode = variables::Mode::Resolve(self.redactor.clone());
        let name_path = format!("connections.{}", self.name);
        let read = super::connection::read_connection(
            &mut reader,
            &self.name,
            self.environment.as_deref(),
            name_path,
            &merged,
        );
        match read {
            Some(mut spec) if problems.errors.is_empty() => {
                spec.redactor = self.redactor.clone();
                spec.tenants = None;
                spec.store_key = Some(format!("{}#tenant:{tenant}", self.name));
                Ok(spec)
            }
            _ => Err(ConfigError::new(
                template.source_name.clone(),
                problems.errors,
            )),
        }
    }
}

/// The error for a template whose auth type has no token per tenant.
fn not_token_based(spec: &ConnectionSpec) -> ConfigError {
    ConfigError::new(
        "configuration",
        vec![Problem {
            path: format!("connections.{}.tenants", spec.name),
            message: format!(
                "one token per tenant needs a token-based auth type (`oauth2`, `jwt_bearer`{}); \
                 `{}` is not one",
                if cfg!(feature = "oauth2") {
                    ""
                } else {
                    ", with the `oauth2` feature"
                },
                spec.auth.type_name()
            ),
        }],
    )
}

/// The keyed layer of a template: one cached token source per tenant, built on its first
/// request.
#[cfg(feature = "oauth2")]
pub(crate) fn keyed_layer(
    spec: &ConnectionSpec,
    tenants: &TenantsSpec,
    origin: Origin,
) -> Result<ConnectionLayer, ConfigError> {
    let refresh_before = match &spec.auth {
        AuthSpec::OAuth2(o) => o.refresh_before,
        AuthSpec::JwtBearer(j) => j.refresh_before,
        _ => return Err(not_token_based(spec)),
    };
    let template = spec.clone();
    let mut keyed = KeyedTokenSource::builder(move |key: &TokenKey| {
        let tenant = template
            .for_tenant(key.subject())
            .map_err(|e| AuthError::new(ErrorKind::Config, e.to_string()))?;
        uncached_source(&tenant).map_err(|e| AuthError::new(ErrorKind::Config, e.to_string()))
    })
    .cache_config(super::oauth::cache_config(refresh_before).name(spec.name.clone()))
    .max_keys(tenants.max_keys);
    if let Some(idle) = tenants.idle_timeout {
        keyed = keyed.idle_timeout(idle);
    }
    let layer = TokenLayer::keyed(keyed.build())
        .erase()
        .restrict_to_origin(origin);
    Ok(ConnectionLayer::keyed(layer, spec.default_headers_layer()?))
}

/// Without the `oauth2` feature no auth type has a token per tenant.
#[cfg(not(feature = "oauth2"))]
pub(crate) fn keyed_layer(
    spec: &ConnectionSpec,
    _tenants: &TenantsSpec,
    _origin: Origin,
) -> Result<ConnectionLayer, ConfigError> {
    Err(not_token_based(spec))
}

/// A tenant's token source, without the cache (the keyed source caches per tenant).
#[cfg(feature = "oauth2")]
fn uncached_source(spec: &ConnectionSpec) -> Result<Arc<dyn TokenSource>, ConfigError> {
    match &spec.auth {
        AuthSpec::OAuth2(o) => super::oauth::rotating_source(spec, o),
        AuthSpec::JwtBearer(j) => super::oauth::rotating_jwt_bearer(spec, j),
        _ => Err(not_token_based(spec)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_single_braces_only() {
        assert_eq!(fill("CRM_SECRET_{tenant}", "acme"), "CRM_SECRET_acme");
        assert_eq!(fill("{tenant}/{tenant}", "a"), "a/a");
        assert_eq!(fill("{{tenant}}", "a"), "{{tenant}}");
        assert_eq!(fill("no placeholder", "a"), "no placeholder");
    }

    #[test]
    fn tenant_ids_cannot_leave_a_directory() {
        for bad in [
            "",
            "..",
            "../etc",
            "a/b",
            ".hidden",
            "a b",
            "a\u{0}b",
            &"x".repeat(65),
        ] {
            let error = check_tenant(bad).expect_err(bad);
            assert_eq!(error.kind(), ErrorKind::Config);
        }
        for good in ["acme", "tenant-1", "A_b.c", "1"] {
            check_tenant(good).expect(good);
        }
    }
}
