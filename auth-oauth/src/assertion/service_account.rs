//! [`ServiceAccountKey`]: a Google-style service-account JSON key file.

use std::{fmt, path::Path};

use auth_core::{AuthError, ExposeSecret, SecretString, pem::PemSource};
use serde_json::{Map, Value};

use super::SigningKey;

/// Google's token endpoint, used when a key file has no `token_uri`.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// A service-account key file as Google Cloud issues it (`type: service_account`):
/// `client_email` (the assertion's `iss`), `private_key` (PEM), `private_key_id` (the `kid`)
/// and `token_uri` (the token endpoint and the assertion's `aud`).
///
/// The key is parsed on load, so a bad file fails here with an error naming the file and the
/// field. `Debug` shows the email and key id, never the key.
///
/// ```no_run
/// use auth_oauth::assertion::ServiceAccountKey;
///
/// let key = ServiceAccountKey::from_file("/run/secrets/service-account.json")?;
/// println!("signing as {}", key.client_email());
/// # Ok::<(), auth_core::AuthError>(())
/// ```
#[derive(Clone)]
pub struct ServiceAccountKey {
    client_email: String,
    private_key_id: Option<String>,
    token_uri: String,
    project_id: Option<String>,
    key: SigningKey,
}

impl ServiceAccountKey {
    /// Reads and parses the key file at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, AuthError> {
        let path = path.as_ref();
        let origin = format!("service account file {}", path.display());
        let text = std::fs::read_to_string(path)
            .map(SecretString::from)
            .map_err(|e| AuthError::config(&origin, format_args!("cannot read it: {e}")))?;
        Self::parse(text.expose_secret(), &origin)
    }

    /// Parses a key file's contents (e.g. from a secret manager or an environment variable).
    pub fn from_json(json: &str) -> Result<Self, AuthError> {
        Self::parse(json, "service account JSON")
    }

    fn parse(json: &str, origin: &str) -> Result<Self, AuthError> {
        let problem = |p: String| AuthError::config(origin, p);
        // serde_json's messages hold only a position, never the text, but say so explicitly.
        let value: Value = serde_json::from_str(json).map_err(|e| {
            problem(format!(
                "not valid JSON (line {}, column {}): expected a service-account key file",
                e.line(),
                e.column()
            ))
        })?;
        let Value::Object(fields) = value else {
            return Err(problem(
                "not a JSON object: expected a service-account key file".to_owned(),
            ));
        };
        if let Some(kind) = fields.get("type") {
            let kind = kind.as_str().unwrap_or_default();
            if kind != "service_account" {
                let shown: String = kind.chars().take(40).collect();
                return Err(problem(format!(
                    "`type` is `{}`, not `service_account` (an `authorized_user` file is a \
                     user's refresh token: use the refresh token grant)",
                    shown.escape_debug()
                )));
            }
        }
        let client_email = required(&fields, "client_email").map_err(problem)?;
        let pem = SecretString::from(required(&fields, "private_key").map_err(problem)?);
        let private_key_id = optional(&fields, "private_key_id").map_err(problem)?;
        let token_uri = optional(&fields, "token_uri")
            .map_err(problem)?
            .unwrap_or_else(|| GOOGLE_TOKEN_URI.to_owned());
        let project_id = optional(&fields, "project_id").map_err(problem)?;
        let mut key = SigningKey::parse(
            pem.expose_secret().as_bytes(),
            PemSource::named(format!("{origin}: `private_key`")),
        )?;
        if let Some(kid) = &private_key_id {
            key = key.with_key_id(kid);
        }
        Ok(Self {
            client_email,
            private_key_id,
            token_uri,
            project_id,
            key,
        })
    }

    /// The service account's email: the assertion's issuer.
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// The key's id (the JWS `kid`), if the file has one.
    pub fn private_key_id(&self) -> Option<&str> {
        self.private_key_id.as_deref()
    }

    /// The token endpoint (Google's when the file names none).
    pub fn token_uri(&self) -> &str {
        &self.token_uri
    }

    /// The project id, if the file has one.
    pub fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }

    /// The private key, with the key id set.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }
}

fn required(fields: &Map<String, Value>, name: &str) -> Result<String, String> {
    optional(fields, name)?.ok_or_else(|| format!("`{name}` is missing"))
}

fn optional(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Err(format!("`{name}` is empty")),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{name}` is not a string")),
    }
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .field("project_id", &self.project_id)
            .field("key", &self.key)
            .finish()
    }
}
