//! `headers = { Accept = "application/vnd.github+json" }`: a connection's default headers, sent
//! on every request that does not set them itself (see [`DefaultHeadersLayer`]).

use std::collections::{BTreeMap, BTreeSet};

use auth_layers::DefaultHeadersLayer;
use http::{HeaderName, HeaderValue};
use serde_json::{Map, Value};

use super::{
    error::{ConfigError, Problem, Problems},
    read::{Reader, Table, printable_key},
    spec::ConnectionSpec,
};

/// Headers that carry credentials whatever the API.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
];

/// A connection's default headers: name as written → value, variables filled in.
#[derive(Debug, Clone, Default)]
pub(crate) struct Headers {
    pub(crate) values: BTreeMap<String, String>,
    /// Names whose value was filled from a variable read from the environment or a file.
    pub(crate) sensitive: BTreeSet<String>,
}

/// Reads `headers` of the connection table `t`: valid, distinct names (case-insensitive) and
/// values that can be sent (checked once every variable is known).
pub(crate) fn read_headers(r: &mut Reader<'_>, t: &Table<'_>) -> Headers {
    let mut headers = Headers::default();
    let Some(table) = r.sub_table(t, "headers") else {
        return headers;
    };
    let mut seen = std::collections::HashMap::new();
    for name in table.map.keys() {
        let path = table.key_path(name);
        let Ok(parsed) = HeaderName::from_bytes(name.as_bytes()) else {
            r.problems.error(&path, "not a valid header name");
            continue;
        };
        if let Some(first) = seen.insert(parsed, name) {
            r.problems.error(
                &path,
                format!("the same header as `{first}` (header names are case-insensitive)"),
            );
            continue;
        }
        let Some(filled) = r.filled_string(&table, name) else {
            continue;
        };
        if !filled.unresolved && HeaderValue::from_str(&filled.text).is_err() {
            // Not quoted: it may be filled from a secret.
            r.problems.error(
                &path,
                "cannot be sent in a header (line breaks or control characters)",
            );
            continue;
        }
        if filled.from_reference {
            headers.sensitive.insert(name.clone());
        }
        headers.values.insert(name.clone(), filled.text);
    }
    headers
}

/// Warns about each default header of the connection at `path` that carries a credential: a
/// well-known credential header, or one that an auth method of the file sets (`auth_headers`:
/// lower-case name → the auth table's key path). Never shows the value.
pub(crate) fn warn_credentials(
    problems: &mut Problems,
    path: &str,
    headers: &BTreeMap<String, String>,
    auth_headers: &BTreeMap<String, String>,
) {
    for name in headers.keys() {
        let lower = name.to_ascii_lowercase();
        let why = if CREDENTIAL_HEADERS.contains(&lower.as_str()) {
            format!("`{name}` carries a credential")
        } else if let Some(auth) = auth_headers.get(&lower) {
            format!("`{name}` is the header the auth method `{auth}` sets")
        } else {
            continue;
        };
        let warning = Problem {
            path: format!("{path}.headers.{}", printable_key(name)),
            message: format!(
                "{why}: credentials belong in the auth method (`auth`), which keeps them secret, \
                 restricts them to base_url's origin and explains a 401, not in a default header"
            ),
        };
        // A connection is read once per environment: warn once.
        if !problems.warnings.contains(&warning) {
            problems.warn(&warning.path, warning.message);
        }
    }
}

/// The headers the auth methods of the file set (lower-case name → auth key path), in every
/// connection and environment overlay; query-parameter placements set none.
pub(crate) fn auth_headers(connections: &Map<String, Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, connection) in connections {
        let mut tables = vec![(format!("connections.{name}.auth"), connection.get("auth"))];
        if let Some(envs) = connection.get("environments").and_then(Value::as_object) {
            for (env, overlay) in envs {
                let path = format!("connections.{name}.environments.{env}.auth");
                tables.push((path, overlay.get("auth")));
            }
        }
        let base_type = connection
            .get("auth")
            .and_then(|a| a.get("type"))
            .and_then(Value::as_str);
        for (path, auth) in tables {
            let Some(auth) = auth.and_then(Value::as_object) else {
                continue;
            };
            if auth.get("location").and_then(Value::as_str) == Some("query") {
                continue;
            }
            let kind = auth.get("type").and_then(Value::as_str).or(base_type);
            let key = match kind {
                Some("bearer" | "custom") => "header",
                Some("api_key") => "key_name",
                _ => continue,
            };
            if let Some(header) = auth.get(key).and_then(Value::as_str) {
                out.entry(header.to_ascii_lowercase()).or_insert(path);
            }
        }
    }
    out
}

impl ConnectionSpec {
    /// The connection's default headers as a layer (empty when it has none).
    pub(crate) fn default_headers_layer(&self) -> Result<DefaultHeadersLayer, ConfigError> {
        let mut layer = DefaultHeadersLayer::new();
        for (name, value) in &self.headers {
            let added = if self.sensitive_headers.contains(name) {
                layer.sensitive_header(name, value)
            } else {
                layer.header(name, value)
            };
            layer = added.map_err(|e| {
                ConfigError::from_auth(format!("connections.{}.headers.{name}", self.name), &e)
            })?;
        }
        Ok(layer)
    }
}
