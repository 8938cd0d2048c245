//! `cache = { redis = …, key_prefix = "…", encryption_key = { env = … }, allow_plaintext = false }`:
//! the fleet tier (Redis) under a token connection's cache, on its `auth` table or at the top
//! level as the default of every oauth2, jwt_bearer and custom connection.

use serde_json::Value;

use super::{
    read::{Reader, Table},
    secret::SecretRef,
    spec::FleetCacheSpec,
};

const CACHE_KEYS: &[&str] = &["redis", "key_prefix", "encryption_key", "allow_plaintext"];
/// The auth types whose tokens the fleet cache shares.
const TOKEN_TYPES: &[&str] = &["oauth2", "jwt_bearer", "custom"];

/// The `cache` table of `t`, if any (problems are recorded under its key path).
pub(crate) fn read(r: &mut Reader<'_>, t: &Table<'_>) -> Option<FleetCacheSpec> {
    t.get("cache")?;
    let c = r.sub_table(t, "cache")?;
    r.known_keys(&c, CACHE_KEYS);
    // A URL without a password is not a secret: no literal-secret warning for it.
    let redis = match c.get("redis") {
        Some(Value::String(url)) if !url.contains('@') => {
            if !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("valkey://")
                || url.starts_with("valkeys://"))
            {
                r.problems.error(
                    &c.key_path("redis"),
                    "expected a redis:// or rediss:// URL, or a secret reference",
                );
                None
            } else {
                Some(SecretRef::Literal(url.clone().into()))
            }
        }
        _ => r.secret(&c, "redis", true),
    };
    let key_prefix = r.string(&c, "key_prefix");
    if let Some(prefix) = &key_prefix
        && (prefix.is_empty() || prefix.contains(char::is_whitespace))
    {
        r.problems.error(
            &c.key_path("key_prefix"),
            "must be non-empty, without spaces",
        );
    }
    let encryption_key = r.secret(&c, "encryption_key", false);
    let allow_plaintext = r.bool(&c, "allow_plaintext", false);
    match (&encryption_key, allow_plaintext) {
        (None, false) => r.problems.error(
            &c.key_path("encryption_key"),
            "missing (32 random bytes, base64: run `tower-auth config gen-key`), or set \
             allow_plaintext = true to store tokens in clear",
        ),
        (None, true) => r.problems.warn(
            &c.key_path("allow_plaintext"),
            "tokens are stored in clear in Redis: anyone who can read it can use them (set an \
             encryption_key)",
        ),
        _ => {}
    }
    if let Some(SecretRef::Literal(key)) = &encryption_key {
        check_key(r, &c.key_path("encryption_key"), key);
    }
    Some(FleetCacheSpec {
        redis: redis?,
        key_prefix,
        encryption_key,
        allow_plaintext,
    })
}

#[cfg(feature = "redis")]
fn check_key(r: &mut Reader<'_>, path: &str, key: &auth_core::SecretString) {
    use auth_core::ExposeSecret;
    if let Err(e) = auth_redis::EncryptionKey::from_base64(key.expose_secret())
        && let auth_redis::FleetError::Config { message, .. } = e
    {
        r.problems.error(path, message);
    }
}

#[cfg(not(feature = "redis"))]
fn check_key(_: &mut Reader<'_>, _: &str, _: &auth_core::SecretString) {}

/// `connection` with the top-level `cache` as its auth table's, when it is a token connection
/// without one of its own.
pub(crate) fn with_default(connection: &Value, default: Option<&Value>) -> Value {
    let mut merged = connection.clone();
    let Some(default) = default else {
        return merged;
    };
    if let Some(Value::Object(auth)) = merged.get_mut("auth")
        && auth
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| TOKEN_TYPES.contains(&t))
        && !auth.contains_key("cache")
    {
        auth.insert("cache".to_owned(), default.clone());
    }
    merged
}

/// Reads the top-level `cache` (checked at its own key path) and returns it for
/// [`with_default`].
pub(crate) fn read_default(r: &mut Reader<'_>, top: &Table<'_>) -> Option<Value> {
    let value = top.get("cache")?.clone();
    read(r, top);
    Some(value)
}

/// What makes a connection's token different, its secrets resolved: the fleet key.
#[cfg(feature = "oauth2")]
#[derive(Default)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) struct KeyParts {
    pub(crate) token_url: String,
    pub(crate) client_id: String,
    pub(crate) grant: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) audience: Option<String>,
    pub(crate) resources: Vec<String>,
    pub(crate) subject: Option<String>,
    pub(crate) extra: std::collections::BTreeMap<String, String>,
    /// Every secret that shapes the token (only their keyed hash reaches Redis).
    pub(crate) secrets: Vec<auth_core::SecretString>,
}

/// `source` with the fleet tier under it when `cache` is set; `key` is called only then.
#[cfg(feature = "oauth2")]
pub(crate) fn shared(
    spec: &super::ConnectionSpec,
    cache: Option<&FleetCacheSpec>,
    source: std::sync::Arc<dyn auth_core::TokenSource>,
    key: impl FnOnce() -> Result<KeyParts, super::ConfigError>,
) -> Result<std::sync::Arc<dyn auth_core::TokenSource>, super::ConfigError> {
    let Some(cache) = cache else {
        return Ok(source);
    };
    let path = format!("connections.{}.auth.cache", spec.name);
    build(spec, &path, cache, source, key()?)
}

#[cfg(all(feature = "oauth2", feature = "redis"))]
fn build(
    spec: &super::ConnectionSpec,
    path: &str,
    cache: &FleetCacheSpec,
    source: std::sync::Arc<dyn auth_core::TokenSource>,
    key: KeyParts,
) -> Result<std::sync::Arc<dyn auth_core::TokenSource>, super::ConfigError> {
    use auth_core::ExposeSecret;
    use auth_redis::{EncryptionKey, FleetKey, RedisTokenCache};

    use super::ConfigError;

    let resolve = |key: &str, secret: &SecretRef| {
        secret
            .resolve_for(&format!("{path}.{key}"), &spec.redactor)
            .map_err(ConfigError::secret)
    };
    let problem = |key: &str, message: String| {
        ConfigError::new(
            "configuration",
            vec![super::Problem {
                path: format!("{path}.{key}"),
                message,
            }],
        )
    };
    let mut builder = RedisTokenCache::builder(resolve("redis", &cache.redis)?)
        .allow_plaintext(cache.allow_plaintext);
    if let Some(prefix) = &cache.key_prefix {
        builder = builder.key_prefix(prefix.clone());
    }
    if let Some(secret) = &cache.encryption_key {
        let text = resolve("encryption_key", secret)?;
        let key = EncryptionKey::from_base64(text.expose_secret()).map_err(|e| match e {
            auth_redis::FleetError::Config { message, .. } => problem("encryption_key", message),
            other => problem("encryption_key", other.to_string()),
        })?;
        builder = builder.encryption_key(key);
    }
    let fleet = builder.build().map_err(|e| match e {
        auth_redis::FleetError::Config { key, message } => problem(&key, message),
        other => problem("redis", other.to_string()),
    })?;
    let mut fleet_key = FleetKey::builder(key.token_url, key.client_id)
        .grant(key.grant)
        .scopes(key.scopes)
        .resources(key.resources);
    if let Some(audience) = key.audience {
        fleet_key = fleet_key.audience(audience);
    }
    if let Some(subject) = key.subject {
        fleet_key = fleet_key.subject(subject);
    }
    for (name, value) in key.extra {
        fleet_key = fleet_key.extra(name, value);
    }
    if !key.secrets.is_empty() {
        let joined: Vec<&str> = key.secrets.iter().map(|s| s.expose_secret()).collect();
        fleet_key = fleet_key.client_secret(joined.join("\u{0}"));
    }
    Ok(std::sync::Arc::new(fleet.wrap(source, &fleet_key.build())))
}

#[cfg(all(feature = "oauth2", not(feature = "redis")))]
fn build(
    _: &super::ConnectionSpec,
    path: &str,
    _: &FleetCacheSpec,
    _: std::sync::Arc<dyn auth_core::TokenSource>,
    _: KeyParts,
) -> Result<std::sync::Arc<dyn auth_core::TokenSource>, super::ConfigError> {
    Err(super::ConfigError::new(
        "configuration",
        vec![super::Problem {
            path: path.to_owned(),
            message: "the fleet cache needs tower-auth's `redis` feature".to_owned(),
        }],
    ))
}
