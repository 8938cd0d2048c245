//! The TLS settings of a connection, from `tls = { cert, key, ca }`: a client certificate
//! (mTLS), extra CA roots, or both.

use auth_core::{AuthError, ExposeSecret};
use auth_layers::tls::{ClientTls, SecretSlice};

use super::{
    error::{ConfigError, Problem},
    spec::{ConnectionSpec, TlsSpec},
};

impl ConnectionSpec {
    /// The connection's TLS settings for the API client, when `tls` is configured: build the
    /// client's connector with [`ClientTls::https_connector`]. With `ca` alone it presents no
    /// client certificate ([`ClientTls::has_certificate`] is `false`).
    ///
    /// Errors name the key path and never the key: an unreadable file, no certificate, a key
    /// that does not match the certificate, an expired certificate, a bad CA file.
    pub fn client_tls(&self) -> Result<Option<ClientTls>, ConfigError> {
        match &self.tls {
            Some(tls) => build(
                &format!("connections.{}.tls", self.name),
                tls,
                &self.redactor,
            )
            .map(Some),
            None => Ok(None),
        }
    }
}

pub(crate) fn build(
    path: &str,
    tls: &TlsSpec,
    redactor: &auth_core::Redactor,
) -> Result<ClientTls, ConfigError> {
    let problem =
        |key: &str, error: AuthError| ConfigError::from_auth(format!("{path}.{key}"), &error);
    let mut client = match (&tls.cert, &tls.key) {
        (Some(cert_path), Some(key)) => {
            let cert = std::fs::read(cert_path).map_err(|e| {
                ConfigError::new(
                    "configuration",
                    vec![Problem {
                        path: format!("{path}.cert"),
                        message: format!("cannot read {}: {e}", cert_path.display()),
                    }],
                )
            })?;
            let key = key
                .resolve_for(&format!("{path}.key"), redactor)
                .map_err(ConfigError::secret)?;
            let key = SecretSlice::from(key.expose_secret().as_bytes().to_vec());
            ClientTls::from_pem(&cert, &key).map_err(|e| problem("key", e))?
        }
        (None, None) => ClientTls::without_certificate(),
        (Some(_), None) => return Err(incomplete(path, "key")),
        (None, Some(_)) => return Err(incomplete(path, "cert")),
    };
    if let Some(ca) = &tls.ca {
        client = client.add_root_pem_file(ca).map_err(|e| problem("ca", e))?;
    }
    Ok(client)
}

/// Half a client certificate (the reader refuses it; a spec edited in code may still have it).
fn incomplete(path: &str, missing: &str) -> ConfigError {
    ConfigError::new(
        "configuration",
        vec![Problem {
            path: format!("{path}.{missing}"),
            message: "missing (cert and key go together)".to_owned(),
        }],
    )
}
