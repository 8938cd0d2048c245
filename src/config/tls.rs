//! The client certificate (mTLS) of a connection, from `tls = { cert, key, ca }`.

use auth_core::{AuthError, ExposeSecret};
use auth_layers::tls::{ClientTls, SecretSlice};

use super::{
    error::{ConfigError, Problem},
    spec::{ConnectionSpec, TlsSpec},
};

impl ConnectionSpec {
    /// The connection's client certificate for the API client, when `tls` is configured:
    /// build the client's connector with [`ClientTls::https_connector`].
    ///
    /// Errors name the key path and never the key: an unreadable file, no certificate, a key
    /// that does not match the certificate, an expired certificate.
    pub fn client_tls(&self) -> Result<Option<ClientTls>, ConfigError> {
        match &self.tls {
            Some(tls) => build(&format!("connections.{}.tls", self.name), tls).map(Some),
            None => Ok(None),
        }
    }
}

pub(crate) fn build(path: &str, tls: &TlsSpec) -> Result<ClientTls, ConfigError> {
    let problem =
        |key: &str, error: AuthError| ConfigError::from_auth(format!("{path}.{key}"), &error);
    let cert = std::fs::read(&tls.cert).map_err(|e| {
        ConfigError::new(
            "configuration",
            vec![Problem {
                path: format!("{path}.cert"),
                message: format!("cannot read {}: {e}", tls.cert.display()),
            }],
        )
    })?;
    let key = tls
        .key
        .resolve(&format!("{path}.key"))
        .map_err(ConfigError::secret)?;
    let key = SecretSlice::from(key.expose_secret().as_bytes().to_vec());
    let mut client = ClientTls::from_pem(&cert, &key).map_err(|e| problem("key", e))?;
    if let Some(ca) = &tls.ca {
        client = client.add_root_pem_file(ca).map_err(|e| problem("ca", e))?;
    }
    Ok(client)
}
