//! A test PKI generated at run time with rcgen, and [`TlsApiServer`]: an HTTPS API on 127.0.0.1
//! whose certificate that PKI issued, optionally requiring a client certificate from it.
//!
//! No key is ever written to the repository: every [`Pki::new`] creates a fresh CA, a server
//! certificate for `127.0.0.1` and `localhost`, and a client certificate, all signed by the CA.
//!
//! ```
//! use auth_test_support::tls::{ClientCerts, Pki, TlsApiServer};
//! # #[tokio::main]
//! # async fn main() {
//! let pki = Pki::new();
//! let server = TlsApiServer::start(&pki, ClientCerts::Required).await;
//! let files = pki.write_pem_files();
//! assert!(files.ca.exists() && files.client_key.exists());
//! assert!(server.url("/whoami").starts_with("https://127.0.0.1:"));
//! # }
//! ```

use std::{
    convert::Infallible,
    fmt,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivatePkcs8KeyDer},
    server::{WebPkiClientVerifier, danger::ClientCertVerifier},
};
use serde_json::json;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_rustls::TlsAcceptor;

/// A certificate and its private key, both PEM, plus the certificate's DER.
#[derive(Clone)]
pub struct Identity {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// The PKCS#8 private key (PEM).
    pub key_pem: String,
    /// The certificate (DER), e.g. to compare with what a server was presented.
    pub cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Identity {
    /// A self-signed client certificate with common name `cn`, issued by no CA (RFC 8705
    /// `self_signed_tls_client_auth` registers such certificates by value).
    ///
    /// # Panics
    ///
    /// When rcgen fails (a test-setup failure).
    pub fn self_signed_client(cn: &str) -> Identity {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.self_signed(&key).expect("self-signed certificate");
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A test CA with a server certificate (`127.0.0.1`, `localhost`) and a client certificate
/// (common name `test-client`), both issued by it.
pub struct Pki {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    server: Identity,
    client: Identity,
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki")
            .field("ca_pem", &self.ca_pem)
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
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, ca_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).expect("CA certificate");
        let issuer = Issuer::new(params, key);
        let server = issue(
            &issuer,
            vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
            "127.0.0.1",
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = issue(
            &issuer,
            Vec::new(),
            "test-client",
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        Pki {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            issuer,
            server,
            client,
        }
    }

    /// The CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate (DER).
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    /// The server certificate, valid for `127.0.0.1` and `localhost`.
    pub fn server(&self) -> &Identity {
        &self.server
    }

    /// The client certificate (common name `test-client`).
    pub fn client(&self) -> &Identity {
        &self.client
    }

    /// Another client certificate issued by this CA, with common name `cn`.
    ///
    /// # Panics
    ///
    /// When rcgen fails (a test-setup failure).
    pub fn issue_client(&self, cn: &str) -> Identity {
        issue(
            &self.issuer,
            Vec::new(),
            cn,
            ExtendedKeyUsagePurpose::ClientAuth,
        )
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
            ca: write("ca.pem", &self.ca_pem),
            server_cert: write("server.pem", &self.server.cert_pem),
            server_key: write("server-key.pem", &self.server.key_pem),
            client_cert: write("client.pem", &self.client.cert_pem),
            client_key: write("client-key.pem", &self.client.key_pem),
            dir,
        }
    }

    /// A rustls server config presenting the server certificate; with
    /// [`ClientCerts::Required`], the handshake fails unless the client presents a certificate
    /// this CA issued.
    ///
    /// # Panics
    ///
    /// When rustls rejects the generated certificates (a test-setup failure).
    pub fn server_config(&self, client_certs: ClientCerts) -> ServerConfig {
        let verifier = match client_certs {
            ClientCerts::None => WebPkiClientVerifier::no_client_auth(),
            ClientCerts::Required => {
                let mut roots = RootCertStore::empty();
                roots.add(self.ca_der.clone()).expect("client CA");
                WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::new(rustls::crypto::ring::default_provider()),
                )
                .build()
                .expect("client certificate verifier")
            }
        };
        self.server_config_with(verifier)
    }

    /// A rustls server config (ring) presenting the server certificate, with your own client
    /// certificate verifier (e.g. one that accepts self-signed certificates).
    ///
    /// # Panics
    ///
    /// When rustls rejects the generated certificates (a test-setup failure).
    pub fn server_config_with(&self, verifier: Arc<dyn ClientCertVerifier>) -> ServerConfig {
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![self.server.cert_der.clone()],
                PrivatePkcs8KeyDer::from(self.server.key_der.clone()).into(),
            )
            .expect("server identity")
    }
}

fn issue(
    issuer: &Issuer<'static, KeyPair>,
    names: Vec<String>,
    cn: &str,
    usage: ExtendedKeyUsagePurpose,
) -> Identity {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(names).expect("certificate params");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer).expect("certificate");
    Identity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().clone(),
        key_der: key.serialize_der(),
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

/// The access token `POST /token` issues to the [`Pki::client`] certificate.
pub const TOKEN: &str = "mtls-issued-access-token";

/// Whether [`TlsApiServer`] asks for a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCerts {
    /// No client certificate is requested.
    None,
    /// The handshake fails unless the client presents a certificate issued by the [`Pki`].
    Required,
}

/// An HTTPS API on 127.0.0.1 (HTTP/1.1 over rustls) with the [`Pki`]'s server certificate.
///
/// `GET /whoami` answers 200 with `{"path":"/whoami","client_certificate":BOOL}`, where
/// `client_certificate` says whether the client presented the [`Pki::client`] certificate;
/// `POST /token` is a token endpoint with RFC 8705 `tls_client_auth`: it issues [`TOKEN`] (one
/// hour, Bearer) to a client presenting the [`Pki::client`] certificate, `invalid_client`
/// otherwise. Any other path answers 404. With [`TlsApiServer::require_header`], requests
/// other than the token request without exactly that header value get 401. The server stops
/// when dropped.
#[derive(Debug)]
pub struct TlsApiServer {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    handshakes_failed: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

struct Settings {
    client_der: CertificateDer<'static>,
    required_header: Option<(String, String)>,
    requests: Arc<AtomicUsize>,
}

impl TlsApiServer {
    /// Starts the server on an ephemeral port; no credential is required.
    ///
    /// # Panics
    ///
    /// When the listener cannot bind (a test-setup failure).
    pub async fn start(pki: &Pki, client_certs: ClientCerts) -> TlsApiServer {
        Self::start_inner(pki, client_certs, None).await
    }

    /// Like [`start`](Self::start), and every request must carry header `name` with exactly
    /// `value`, or it gets 401.
    ///
    /// # Panics
    ///
    /// When the listener cannot bind (a test-setup failure).
    pub async fn require_header(
        pki: &Pki,
        client_certs: ClientCerts,
        name: &str,
        value: &str,
    ) -> TlsApiServer {
        Self::start_inner(pki, client_certs, Some((name.to_owned(), value.to_owned()))).await
    }

    async fn start_inner(
        pki: &Pki,
        client_certs: ClientCerts,
        required_header: Option<(String, String)>,
    ) -> TlsApiServer {
        let acceptor = TlsAcceptor::from(Arc::new(pki.server_config(client_certs)));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let requests = Arc::new(AtomicUsize::new(0));
        let handshakes_failed = Arc::new(AtomicUsize::new(0));
        let settings = Arc::new(Settings {
            client_der: pki.client.cert_der.clone(),
            required_header,
            requests: requests.clone(),
        });
        let failed = handshakes_failed.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, settings, failed) =
                    (acceptor.clone(), settings.clone(), failed.clone());
                tokio::spawn(async move {
                    let tls = match acceptor.accept(tcp).await {
                        Ok(tls) => tls,
                        Err(_) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    };
                    let known_client = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .is_some_and(|c| *c == settings.client_der);
                    let service = service_fn(move |request| {
                        let settings = settings.clone();
                        async move { Ok::<_, Infallible>(handle(&request, known_client, &settings)) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        TlsApiServer {
            addr,
            requests,
            handshakes_failed,
            task,
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// `https://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// How many HTTP requests the server answered (any status).
    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// How many TLS handshakes failed (untrusted server certificate, missing client
    /// certificate, …) so far.
    pub fn failed_handshakes(&self) -> usize {
        self.handshakes_failed.load(Ordering::SeqCst)
    }

    /// Waits (up to 5 s) until at least `at_least` handshakes have failed, and returns how
    /// many have: the server notices a client's abort after the client reported it.
    pub async fn wait_for_failed_handshakes(&self, at_least: usize) -> usize {
        for _ in 0..250 {
            if self.failed_handshakes() >= at_least {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.failed_handshakes()
    }
}

impl Drop for TlsApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn handle(
    request: &Request<Incoming>,
    known_client: bool,
    settings: &Settings,
) -> Response<Full<Bytes>> {
    settings.requests.fetch_add(1, Ordering::SeqCst);
    let respond = |status: StatusCode, body: serde_json::Value| {
        let mut response = Response::new(Full::from(body.to_string()));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        response
    };
    if request.uri().path() == "/token" {
        // RFC 8705 tls_client_auth: the client certificate is the client's credential.
        return if known_client && request.method() == http::Method::POST {
            respond(
                StatusCode::OK,
                json!({ "access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600 }),
            )
        } else {
            respond(
                StatusCode::UNAUTHORIZED,
                json!({ "error": "invalid_client", "error_description": "no client certificate" }),
            )
        };
    }
    if let Some((name, value)) = &settings.required_header {
        let mut values = request.headers().get_all(name.as_str()).iter();
        let ok = matches!((values.next(), values.next()), (Some(v), None) if v == value.as_str());
        if !ok {
            return respond(
                StatusCode::UNAUTHORIZED,
                json!({ "error": "missing or wrong credential" }),
            );
        }
    }
    match request.uri().path() {
        "/whoami" => respond(
            StatusCode::OK,
            json!({ "path": "/whoami", "client_certificate": known_client }),
        ),
        _ => respond(StatusCode::NOT_FOUND, json!({ "error": "not found" })),
    }
}
