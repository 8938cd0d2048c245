//! The test PKI, generated at run time with rcgen: a CA with a server certificate for
//! `127.0.0.1` and `localhost` and a client certificate, and on demand more client
//! certificates (any [`TestKey`] format, valid or expired), intermediate CAs and self-signed
//! certificates. No key is ever written to the repository.
//!
//! Every test and example that needs certificates takes them from here; [`crate::tls`] serves
//! HTTPS with them.
//!
//! ```
//! use auth_test_support::{keys::TestKey, pki::{Pki, Validity}};
//! let pki = Pki::new();
//! let expired = pki.issue_client_for("old-client", &TestKey::es384(), Validity::Expired);
//! assert!(expired.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
//! let files = pki.write_pem_files();
//! assert!(files.ca.exists() && files.client_key.exists());
//! ```

use std::{
    fmt,
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SignatureAlgorithm, date_time_ymd,
};
use rustls::pki_types::CertificateDer;
use secrecy::SecretSlice;

use crate::keys::TestKey;

/// A certificate (PEM and DER) and its private key.
#[derive(Clone)]
pub struct Identity {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// The certificate (DER), e.g. to compare with what a server was presented.
    pub cert_der: CertificateDer<'static>,
    /// The private key, in the format it was generated in (PKCS#8 unless chosen otherwise).
    pub key: TestKey,
}

impl Identity {
    /// A self-signed client certificate with common name `cn`, issued by no CA (RFC 8705
    /// `self_signed_tls_client_auth` registers such certificates by value).
    ///
    /// # Panics
    ///
    /// When rcgen fails (a test-setup failure).
    pub fn self_signed_client(cn: &str) -> Identity {
        let key = TestKey::es256();
        let cert = leaf_params(Vec::new(), cn, ExtendedKeyUsagePurpose::ClientAuth)
            .self_signed(&key_pair(&key))
            .expect("self-signed certificate");
        Identity {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key,
        }
    }

    /// The private key (PEM).
    pub fn key_pem(&self) -> &str {
        &self.key.private_pem
    }

    /// The private key (PEM) as the secret `ClientTls::from_pem` takes.
    pub fn key_secret(&self) -> SecretSlice<u8> {
        SecretSlice::from(self.key.private_pem.clone().into_bytes())
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("cert_pem", &self.cert_pem)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// From now (rcgen's default validity).
    Current,
    /// From 2020-01-01 to 2021-01-01: expired.
    Expired,
}

/// A test CA with a server certificate (`127.0.0.1`, `localhost`) and a client certificate
/// (common name `test-client`), both issued by it.
pub struct Pki {
    ca: Identity,
    issuer: Issuer<'static, KeyPair>,
    server: Identity,
    client: Identity,
    issued: Issued,
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki")
            .field("ca", &self.ca)
            .field("server", &self.server)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
    /// A fresh CA (common name `tower-auth test CA`), server certificate and client
    /// certificate.
    ///
    /// # Panics
    ///
    /// When rcgen cannot generate a key or sign a certificate (a test-setup failure).
    pub fn new() -> Pki {
        Self::with_ca_name("tower-auth test CA")
    }

    /// Like [`new`](Self::new), with the CA's common name `ca_name`: two CAs with different
    /// names play "a CA the server does not know" (with the same name, a verifier reports a
    /// bad signature instead).
    ///
    /// # Panics
    ///
    /// When rcgen cannot generate a key or sign a certificate (a test-setup failure).
    pub fn with_ca_name(ca_name: &str) -> Pki {
        Self::issued_by(None, ca_name, Issued::default())
    }

    /// An intermediate CA `name`, issued by this CA, with its own server and client
    /// certificates. A client presenting one of its certificates sends the chain: the
    /// certificate, then the intermediate's [`ca_pem`](Self::ca_pem).
    ///
    /// # Panics
    ///
    /// When rcgen fails (a test-setup failure).
    pub fn intermediate(&self, name: &str) -> Pki {
        Self::issued_by(Some(&self.issuer), name, self.issued.clone())
    }

    fn issued_by(parent: Option<&Issuer<'static, KeyPair>>, name: &str, issued: Issued) -> Pki {
        let key = TestKey::es256();
        let signing_key = key_pair(&key);
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = match parent {
            Some(parent) => params.signed_by(&signing_key, parent),
            None => params.self_signed(&signing_key),
        }
        .expect("CA certificate");
        let ca = Identity {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key,
        };
        let issuer = Issuer::new(params, signing_key);
        let server = issue(
            &issuer,
            leaf_params(
                vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
                "127.0.0.1",
                ExtendedKeyUsagePurpose::ServerAuth,
            ),
            TestKey::es256(),
        );
        let client = issue_client(
            &issuer,
            &issued,
            "test-client",
            TestKey::es256(),
            Validity::Current,
        );
        Pki {
            ca,
            issuer,
            server,
            client,
            issued,
        }
    }

    /// The CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca.cert_pem
    }

    /// The CA certificate (DER).
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca.cert_der
    }

    /// The server certificate, valid for `127.0.0.1` and `localhost`.
    pub fn server(&self) -> &Identity {
        &self.server
    }

    /// The client certificate (common name `test-client`).
    pub fn client(&self) -> &Identity {
        &self.client
    }

    /// Another client certificate issued by this CA, with common name `cn` and a fresh P-256
    /// key (PKCS#8), valid now.
    ///
    /// # Panics
    ///
    /// When rcgen fails (a test-setup failure).
    pub fn issue_client(&self, cn: &str) -> Identity {
        self.issue_client_for(cn, &TestKey::es256(), Validity::Current)
    }

    /// A client certificate issued by this CA for `key` (any [`TestKey`]: EC, Ed25519 or RSA,
    /// in the PEM format it was generated in), with common name `cn`, valid as `validity`
    /// says.
    ///
    /// # Panics
    ///
    /// When rcgen fails (a test-setup failure).
    pub fn issue_client_for(&self, cn: &str, key: &TestKey, validity: Validity) -> Identity {
        issue_client(&self.issuer, &self.issued, cn, key.clone(), validity)
    }

    /// The client certificates this CA and its intermediates issued.
    pub(crate) fn issued(&self) -> Issued {
        self.issued.clone()
    }

    /// Writes the CA, server and client certificates and keys as PEM files into a new temp
    /// dir, removed when the returned [`PemFiles`] is dropped.
    ///
    /// # Panics
    ///
    /// When the temp dir or a file cannot be written.
    pub fn write_pem_files(&self) -> PemFiles {
        let dir = tempfile::tempdir().expect("temp dir for PEM files");
        let write = |name: &str, pem: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).expect("write PEM file");
            path
        };
        PemFiles {
            ca: write("ca.pem", self.ca_pem()),
            server_cert: write("server.pem", &self.server.cert_pem),
            server_key: write("server-key.pem", self.server.key_pem()),
            client_cert: write("client.pem", &self.client.cert_pem),
            client_key: write("client-key.pem", self.client.key_pem()),
            dir,
        }
    }
}

/// The parameters of an end-entity certificate: `names` as subject alternative names, common
/// name `cn`, extended key usage `usage`.
fn leaf_params(names: Vec<String>, cn: &str, usage: ExtendedKeyUsagePurpose) -> CertificateParams {
    let mut params = CertificateParams::new(names).expect("certificate params");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![usage];
    params
}

/// The client certificates a CA and its intermediates issued, with their common names: how
/// [`TlsApiServer`](crate::tls::TlsApiServer) names a client without parsing its certificate.
#[derive(Clone, Default)]
pub(crate) struct Issued(Arc<Mutex<Vec<(CertificateDer<'static>, String)>>>);

impl Issued {
    fn record(&self, cert: &CertificateDer<'static>, cn: &str) {
        let mut issued = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        issued.push((cert.clone(), cn.to_owned()));
    }

    /// The common name `cert` was issued with, if it was issued here.
    pub(crate) fn name_of(&self, cert: &CertificateDer<'_>) -> Option<String> {
        let issued = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        issued
            .iter()
            .find(|(der, _)| der == cert)
            .map(|(_, cn)| cn.clone())
    }
}

fn issue_client(
    issuer: &Issuer<'static, KeyPair>,
    issued: &Issued,
    cn: &str,
    key: TestKey,
    validity: Validity,
) -> Identity {
    let mut params = leaf_params(Vec::new(), cn, ExtendedKeyUsagePurpose::ClientAuth);
    if validity == Validity::Expired {
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2021, 1, 1);
    }
    let identity = issue(issuer, params, key);
    issued.record(&identity.cert_der, cn);
    identity
}

fn issue(issuer: &Issuer<'static, KeyPair>, params: CertificateParams, key: TestKey) -> Identity {
    let cert = params.signed_by(&key, issuer).expect("certificate");
    Identity {
        cert_pem: cert.pem(),
        cert_der: cert.der().clone(),
        key,
    }
}

/// The signing key rcgen needs for a CA or a self-signed certificate.
fn key_pair(key: &TestKey) -> KeyPair {
    KeyPair::from_pem(&key.private_pem).expect("a PKCS#8 key rcgen can sign with")
}

/// A certificate is issued for a key's public half: `subjectPublicKey` is the key in ring's
/// format, whatever format the private key is in (so PKCS#1 and SEC1 keys need no conversion).
impl PublicKeyData for TestKey {
    fn der_bytes(&self) -> &[u8] {
        self.public.bytes()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self.public.algorithm() {
            "ES256" => &rcgen::PKCS_ECDSA_P256_SHA256,
            "ES384" => &rcgen::PKCS_ECDSA_P384_SHA384,
            "EdDSA" => &rcgen::PKCS_ED25519,
            // RS* and PS*: the key is `rsaEncryption` in the certificate either way.
            _ => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

/// The PEM files [`Pki::write_pem_files`] wrote; the directory is removed on drop.
#[derive(Debug)]
pub struct PemFiles {
    /// The CA certificate.
    pub ca: PathBuf,
    /// The server certificate.
    pub server_cert: PathBuf,
    /// The server's private key.
    pub server_key: PathBuf,
    /// The client certificate.
    pub client_cert: PathBuf,
    /// The client's private key.
    pub client_key: PathBuf,
    dir: tempfile::TempDir,
}

impl PemFiles {
    /// The directory holding the files.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}
