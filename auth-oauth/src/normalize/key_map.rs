//! [`KeyMap`]: where the fields of a token response are, for providers that rename or nest them.

use std::{fmt, str::FromStr};

use auth_core::AuthError;
use serde_json::Value;

/// A field's location in a response: names separated by dots, e.g. `data.token`.
///
/// Lookup first walks the path through nested JSON objects; when that finds nothing, the whole
/// path is tried as one literal key (so `token.value` also matches a flat `"token.value"` field,
/// and form-encoded bodies, which are flat, work with dotted names).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPath {
    path: String,
}

impl KeyPath {
    /// A path; fails with [`ErrorKind::Config`](auth_core::ErrorKind::Config) when it is empty
    /// or has an empty segment (`a..b`, `.a`).
    pub fn new(path: &str) -> Result<Self, AuthError> {
        let path = path.trim();
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err(AuthError::config(
                "key_map",
                format!("`{path}` is not a field path (names separated by single dots)"),
            ));
        }
        Ok(Self {
            path: path.to_owned(),
        })
    }

    fn standard(name: &'static str) -> Self {
        Self {
            path: name.to_owned(),
        }
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// The value at this path in `object`, if any.
    pub(crate) fn find<'a>(&self, object: &'a serde_json::Map<String, Value>) -> Option<&'a Value> {
        let mut segments = self.path.split('.');
        let first = segments.next().and_then(|first| object.get(first));
        let nested = first.and_then(|first| {
            segments.try_fold(first, |value, segment| value.as_object()?.get(segment))
        });
        nested.or_else(|| object.get(&self.path))
    }
}

impl fmt::Debug for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.path, f)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

impl FromStr for KeyPath {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, AuthError> {
        KeyPath::new(s)
    }
}

/// Where each field of a token response is. [`KeyMap::default`] is RFC 6749's names.
///
/// ```
/// use auth_oauth::KeyMap;
///
/// // {"data": {"token": "…", "ttl": 3600}, "kind": "bearer"}
/// let map = KeyMap::default()
///     .access_token("data.token")?
///     .expires_in("data.ttl")?
///     .token_type("kind")?;
/// assert_eq!(map.get("access_token").map(|p| p.as_str()), Some("data.token"));
///
/// // Names can also come from configuration, one field at a time.
/// let map = KeyMap::default().set("expires_in", "expiresIn")?;
/// assert!(KeyMap::default().set("acces_token", "x").is_err()); // typo: a Config error
/// # Ok::<(), auth_core::AuthError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMap {
    pub(crate) access_token: KeyPath,
    pub(crate) token_type: KeyPath,
    pub(crate) expires_in: KeyPath,
    pub(crate) refresh_token: KeyPath,
    pub(crate) scope: KeyPath,
    pub(crate) error: KeyPath,
    pub(crate) error_description: KeyPath,
    pub(crate) error_uri: KeyPath,
}

/// The fields a [`KeyMap`] can relocate, by their RFC 6749 names.
pub const KEY_MAP_FIELDS: [&str; 8] = [
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "scope",
    "error",
    "error_description",
    "error_uri",
];

impl Default for KeyMap {
    fn default() -> Self {
        Self {
            access_token: KeyPath::standard("access_token"),
            token_type: KeyPath::standard("token_type"),
            expires_in: KeyPath::standard("expires_in"),
            refresh_token: KeyPath::standard("refresh_token"),
            scope: KeyPath::standard("scope"),
            error: KeyPath::standard("error"),
            error_description: KeyPath::standard("error_description"),
            error_uri: KeyPath::standard("error_uri"),
        }
    }
}

impl KeyMap {
    /// The camelCase names some APIs use: `accessToken`, `tokenType`, `expiresIn`,
    /// `refreshToken`; `scope` and the error fields keep their standard names.
    pub fn camel_case() -> Self {
        Self {
            access_token: KeyPath::standard("accessToken"),
            token_type: KeyPath::standard("tokenType"),
            expires_in: KeyPath::standard("expiresIn"),
            refresh_token: KeyPath::standard("refreshToken"),
            ..Self::default()
        }
    }

    /// Relocates `field` (one of [`KEY_MAP_FIELDS`]) to `path`. Fails with
    /// [`ErrorKind::Config`](auth_core::ErrorKind::Config) naming an unknown field or a bad path.
    pub fn set(mut self, field: &str, path: &str) -> Result<Self, AuthError> {
        let path = KeyPath::new(path)?;
        let slot = self.slot(field).ok_or_else(|| {
            AuthError::config(
                format!("key_map.{field}"),
                format!(
                    "unknown field (expected one of {})",
                    KEY_MAP_FIELDS.join(", ")
                ),
            )
        })?;
        *slot = path;
        Ok(self)
    }

    /// Where `field` (one of [`KEY_MAP_FIELDS`]) is looked up.
    pub fn get(&self, field: &str) -> Option<&KeyPath> {
        Some(match field {
            "access_token" => &self.access_token,
            "token_type" => &self.token_type,
            "expires_in" => &self.expires_in,
            "refresh_token" => &self.refresh_token,
            "scope" => &self.scope,
            "error" => &self.error,
            "error_description" => &self.error_description,
            "error_uri" => &self.error_uri,
            _ => return None,
        })
    }

    fn slot(&mut self, field: &str) -> Option<&mut KeyPath> {
        Some(match field {
            "access_token" => &mut self.access_token,
            "token_type" => &mut self.token_type,
            "expires_in" => &mut self.expires_in,
            "refresh_token" => &mut self.refresh_token,
            "scope" => &mut self.scope,
            "error" => &mut self.error,
            "error_description" => &mut self.error_description,
            "error_uri" => &mut self.error_uri,
            _ => return None,
        })
    }

    /// Where the access token is (default `access_token`).
    pub fn access_token(self, path: &str) -> Result<Self, AuthError> {
        self.set("access_token", path)
    }

    /// Where the token type is (default `token_type`).
    pub fn token_type(self, path: &str) -> Result<Self, AuthError> {
        self.set("token_type", path)
    }

    /// Where the lifetime in seconds is (default `expires_in`).
    pub fn expires_in(self, path: &str) -> Result<Self, AuthError> {
        self.set("expires_in", path)
    }

    /// Where the refresh token is (default `refresh_token`).
    pub fn refresh_token(self, path: &str) -> Result<Self, AuthError> {
        self.set("refresh_token", path)
    }

    /// Where the granted scopes are (default `scope`).
    pub fn scope(self, path: &str) -> Result<Self, AuthError> {
        self.set("scope", path)
    }

    /// Where the error code is (default `error`).
    pub fn error(self, path: &str) -> Result<Self, AuthError> {
        self.set("error", path)
    }

    /// The last segments of the paths that hold secrets, for scrubbing snippets.
    pub(crate) fn secret_names(&self) -> [&str; 2] {
        [
            self.access_token
                .path
                .rsplit('.')
                .next()
                .unwrap_or_default(),
            self.refresh_token
                .path
                .rsplit('.')
                .next()
                .unwrap_or_default(),
        ]
    }
}
