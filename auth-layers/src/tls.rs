//! Client TLS (mTLS and private CAs): a rustls client config and a hyper-rustls connector built
//! from a PEM certificate chain and private key, or from CA roots alone when the server asks
//! for no client certificate, for the API client and the token endpoint client alike.
//!
//! ```
//! use auth_layers::tls::{ClientTls, SecretSlice};
//! use bytes::Bytes;
//! use http_body_util::Empty;
//! use hyper_util::{client::legacy::Client, rt::TokioExecutor};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let pki = auth_test_support::pki::Pki::new();
//! # let (ca_pem, cert_pem) = (pki.ca_pem(), &pki.client().cert_pem);
//! # let key_pem = pki.client().key_pem().to_owned();
//! // Usually `ClientTls::from_pem_files("client.crt", "client.key")`.
//! let tls = ClientTls::from_pem(cert_pem.as_bytes(), &SecretSlice::from(key_pem.into_bytes()))?
//!     .add_root_pem(ca_pem.as_bytes())? // a private CA that issued the server's certificate
//!     .with_native_roots(false); // trust only that CA
//! let client: Client<_, Empty<Bytes>> =
//!     Client::builder(TokioExecutor::new()).build(tls.https_connector()?);
//! # drop(client);
//! # Ok(()) }
//! ```
//!
//! A server behind a private CA that does not ask for a client certificate needs only the
//! roots: [`ClientTls::without_certificate`].
//!
//! ```
//! use auth_layers::tls::ClientTls;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let pki = auth_test_support::pki::Pki::new();
//! # let ca_pem = pki.ca_pem();
//! // Usually `.add_root_pem_file("private-ca.pem")`.
//! let tls = ClientTls::without_certificate()
//!     .add_root_pem(ca_pem.as_bytes())?
//!     .with_native_roots(false);
//! assert!(!tls.has_certificate());
//! let connector = tls.https_connector()?;
//! # drop(connector);
//! # Ok(()) }
//! ```
//!
//! Everything that can be checked before connecting is checked when the [`ClientTls`] is
//! built, each as an [`ErrorKind::Config`](auth_core::ErrorKind::Config) error naming the file
//! or PEM and the block: no certificate, no key, an encrypted or unsupported key, a key that
//! does not match the certificate, an expired certificate, a bad CA certificate. What only the
//! server can decide (does it trust the certificate?) fails the request; turn that error into a
//! readable [`AuthError`] with [`classify_transport_error`].
//!
//! The crypto provider is rustls' `ring`, chosen explicitly (the process-wide default provider
//! is neither needed nor changed): it builds without cmake or a C++ toolchain and quickly on
//! small CI machines, where aws-lc-rs does neither.

mod failure;
mod x509;

#[cfg(test)]
mod tests;

use std::{fmt, path::Path, sync::Arc, time::SystemTime};

use auth_core::{
    AuthError,
    pem::{self, KeyEncoding, PemSource},
};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::{ClientConfig, RootCertStore, sign::CertifiedKey};
use secrecy::ExposeSecret;

pub use failure::{TlsFailure, classify_transport_error};
/// The secret type [`ClientTls::from_pem`] takes the private key in (zeroed on drop).
pub use secrecy::SecretSlice;

use x509::CertSummary;

/// A client certificate chain and its private key (or none), the CA roots to trust, and
/// whether plain `http://` is allowed: everything needed to build a rustls [`ClientConfig`] or
/// a hyper-rustls connector for mutual TLS, or for plain TLS to a server behind a private CA.
///
/// Cheap to clone. `Debug` shows the leaf certificate's subject, issuer and expiry (or that
/// there is no client certificate), never the key.
#[derive(Clone)]
pub struct ClientTls {
    /// `None` when built with [`ClientTls::without_certificate`].
    identity: Option<Identity>,
    roots: RootCertStore,
    native_roots: bool,
    https_only: bool,
}

/// The client certificate chain, its key, and what `Debug` shows of them.
#[derive(Clone)]
struct Identity {
    certified_key: Arc<CertifiedKey>,
    key_encoding: KeyEncoding,
    leaf: Option<CertSummary>,
}

impl ClientTls {
    /// No client certificate, only the CA roots to trust: for a server behind a private CA
    /// that does not ask for a client certificate. Add the CA with
    /// [`ClientTls::add_root_pem`] or [`ClientTls::add_root_pem_file`]; the platform's roots
    /// are trusted too unless [`ClientTls::with_native_roots`] turns them off.
    ///
    /// The TLS handshake then offers no certificate; a server that requires one rejects it
    /// (see [`TlsFailure::ClientCertificateRequired`]). It cannot authenticate a client to a
    /// token endpoint (`tls_client_auth`).
    pub fn without_certificate() -> Self {
        ClientTls {
            identity: None,
            roots: RootCertStore::empty(),
            native_roots: true,
            https_only: true,
        }
    }

    /// From a PEM certificate chain (leaf first, then any intermediates) and a PEM private key
    /// (PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`; RSA, ECDSA
    /// P-256/P-384 or Ed25519).
    ///
    /// Fails with a [`Config`](auth_core::ErrorKind::Config) error when either holds no usable
    /// block, the key is encrypted or of an unsupported type, the key does not match the leaf
    /// certificate, or a certificate of the chain has expired.
    pub fn from_pem(
        cert_chain_pem: &[u8],
        private_key_pem: &SecretSlice<u8>,
    ) -> Result<Self, AuthError> {
        Self::new(
            cert_chain_pem,
            &PemSource::inline("client certificate"),
            private_key_pem.expose_secret(),
            &PemSource::inline("client private key"),
        )
    }

    /// Like [`ClientTls::from_pem`], reading both files (they may be the same file). Errors
    /// name the path.
    pub fn from_pem_files(
        cert_chain_path: impl AsRef<Path>,
        private_key_path: impl AsRef<Path>,
    ) -> Result<Self, AuthError> {
        let cert_source = PemSource::file("client certificate", cert_chain_path.as_ref());
        let key_source = PemSource::file("client private key", private_key_path.as_ref());
        let cert_pem = cert_source.read()?;
        let key_pem = key_source.read()?;
        Self::new(
            cert_pem.expose_secret(),
            &cert_source,
            key_pem.expose_secret(),
            &key_source,
        )
    }

    fn new(
        cert_pem: &[u8],
        cert_source: &PemSource,
        key_pem: &[u8],
        key_source: &PemSource,
    ) -> Result<Self, AuthError> {
        let certs = pem::certificates(cert_pem, cert_source)?;
        let key = pem::private_key(key_pem, key_source)?;

        let now = SystemTime::now();
        let mut leaf = None;
        for (i, cert) in certs.iter().enumerate() {
            let Some(summary) = CertSummary::parse(cert.der()) else {
                // Left to rustls: it rejects a leaf it cannot parse just below.
                continue;
            };
            if summary.is_expired_at(now) {
                return Err(cert_source.error(format_args!(
                    "the certificate in block {} ({}, issued by {}) expired on {}: renew it",
                    cert.block(),
                    summary.subject_label(),
                    summary.issuer_label(),
                    summary.not_after
                )));
            }
            if i == 0 {
                leaf = Some(summary);
            }
        }

        let signing_key =
            rustls::crypto::ring::sign::any_supported_type(&key.der()).map_err(|_| {
                key_source.error(format_args!(
                    "the {} private key is invalid or of an unsupported type (supported: RSA, \
                 ECDSA P-256 or P-384, Ed25519)",
                    key.encoding().with_key_type()
                ))
            })?;
        let leaf_block = certs.first().map_or(1, |c| c.block());
        let chain = certs.into_iter().map(|c| c.into_der()).collect();
        let identity = CertifiedKey::new(chain, signing_key);
        match identity.keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(_)) => {
                return Err(key_source.error(format_args!(
                    "the private key does not match the certificate in block {leaf_block} of \
                     the {cert_source} (the first certificate must be the one issued for this \
                     key)"
                )));
            }
            Err(e) => {
                return Err(cert_source.error(format_args!(
                    "block {leaf_block} is not a valid X.509 certificate ({e})"
                )));
            }
        }

        Ok(ClientTls {
            identity: Some(Identity {
                certified_key: Arc::new(identity),
                key_encoding: key.encoding(),
                leaf,
            }),
            ..Self::without_certificate()
        })
    }

    /// Whether a client certificate is presented: `false` when built with
    /// [`ClientTls::without_certificate`].
    pub fn has_certificate(&self) -> bool {
        self.identity.is_some()
    }

    /// Also trusts the CA certificates in `ca_pem` (one or more `CERTIFICATE` blocks) to
    /// issue server certificates. Fails when it holds no certificate or a bad one.
    pub fn add_root_pem(self, ca_pem: &[u8]) -> Result<Self, AuthError> {
        self.add_roots(ca_pem, &PemSource::inline("CA root"))
    }

    /// Like [`ClientTls::add_root_pem`], reading the file at `path`.
    pub fn add_root_pem_file(self, path: impl AsRef<Path>) -> Result<Self, AuthError> {
        let source = PemSource::file("CA root", path.as_ref());
        let pem = source.read()?;
        self.add_roots(pem.expose_secret(), &source)
    }

    fn add_roots(mut self, pem: &[u8], source: &PemSource) -> Result<Self, AuthError> {
        for cert in pem::certificates(pem, source)? {
            let block = cert.block();
            self.roots.add(cert.into_der()).map_err(|e| {
                source.error(format_args!(
                    "block {block} is not a usable CA certificate ({e})"
                ))
            })?;
        }
        Ok(self)
    }

    /// Whether to trust the platform's root certificates as well as the ones added with
    /// [`ClientTls::add_root_pem`]. Defaults to `true`; turn it off to trust only the added
    /// roots (a private PKI, tests).
    pub fn with_native_roots(mut self, enabled: bool) -> Self {
        self.native_roots = enabled;
        self
    }

    /// Whether the connector refuses plain `http://` URIs. Defaults to `true`: a client that
    /// carries a client certificate or private CA roots is meant to talk TLS.
    pub fn https_only(mut self, enabled: bool) -> Self {
        self.https_only = enabled;
        self
    }

    /// A rustls client config presenting this certificate (none without one), trusting the
    /// configured roots, with
    /// rustls' safe default protocol versions (TLS 1.2 and 1.3) and the `ring` provider.
    ///
    /// Fails when no root is trusted at all (native roots off or absent, none added).
    pub fn build_rustls_config(&self) -> Result<Arc<ClientConfig>, AuthError> {
        self.client_config().map(Arc::new)
    }

    /// An HTTP/1.1 connector for hyper-util's client presenting this certificate, if any;
    /// `https://` only unless [`ClientTls::https_only`] is turned off.
    pub fn https_connector(&self) -> Result<HttpsConnector<HttpConnector>, AuthError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        self.wrap_connector(http)
    }

    /// Like [`ClientTls::https_connector`] around a connector of your own (timeouts,
    /// keep-alive, a proxy). An `HttpConnector` must have `enforce_http(false)`.
    pub fn wrap_connector<H>(&self, connector: H) -> Result<HttpsConnector<H>, AuthError> {
        let builder = HttpsConnectorBuilder::new().with_tls_config(self.client_config()?);
        let builder = if self.https_only {
            builder.https_only()
        } else {
            builder.https_or_http()
        };
        Ok(builder.enable_http1().wrap_connector(connector))
    }

    fn client_config(&self) -> Result<ClientConfig, AuthError> {
        // rustls's rule for libraries: the process-default `CryptoProvider` (ring, the one this
        // crate's features enable, unless the application installed another).
        let builder = ClientConfig::builder().with_root_certificates(self.root_store()?);
        let config = match &self.identity {
            Some(identity) => builder.with_client_cert_resolver(Arc::new(
                rustls::sign::SingleCertAndKey::from(identity.certified_key.clone()),
            )),
            None => builder.with_no_client_auth(),
        };
        Ok(config)
    }

    fn root_store(&self) -> Result<RootCertStore, AuthError> {
        let mut roots = self.roots.clone();
        let mut native_problem = None;
        if self.native_roots {
            let native = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                native_problem = Some(match native.errors.first() {
                    Some(e) => format!(" (the platform's store could not be read: {e})"),
                    None => " (the platform's store is empty)".to_owned(),
                });
            }
        }
        if roots.is_empty() {
            let why = match native_problem {
                Some(problem) => problem,
                None => " (native roots are turned off)".to_owned(),
            };
            return Err(AuthError::config(
                "tls roots",
                format_args!(
                    "no trusted CA root{why}: add the CA that issues the server's certificate \
                     with `add_root_pem` or `add_root_pem_file`"
                ),
            ));
        }
        Ok(roots)
    }
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ClientTls");
        match &self.identity {
            Some(identity) => {
                d.field("certificates", &identity.certified_key.cert.len());
                if let Some(leaf) = &identity.leaf {
                    d.field("subject", &leaf.subject)
                        .field("issuer", &leaf.issuer)
                        .field("not_after", &leaf.not_after);
                }
                d.field(
                    "private_key",
                    &format_args!("[redacted {}]", identity.key_encoding.with_key_type()),
                );
            }
            None => {
                d.field("client_certificate", &format_args!("none"));
            }
        }
        d.field("extra_roots", &self.roots.len())
            .field("native_roots", &self.native_roots)
            .field("https_only", &self.https_only)
            .finish()
    }
}
