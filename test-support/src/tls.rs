//! [`TlsApiServer`]: an HTTPS API on 127.0.0.1 with a server certificate from the test
//! [`Pki`], optionally requiring a client certificate from it, and the rustls server configs
//! behind it.
//!
//! ```
//! use auth_test_support::{pki::Pki, tls::{ClientCerts, TlsApiServer}};
//! # #[tokio::main]
//! # async fn main() {
//! let pki = Pki::new();
//! let server = TlsApiServer::start(&pki, ClientCerts::Required).await;
//! assert!(server.url("/whoami").starts_with("https://127.0.0.1:"));
//! # }
//! ```

use std::{
    convert::Infallible,
    net::SocketAddr,
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
use rustls::{
    RootCertStore, ServerConfig, SupportedProtocolVersion,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::{WebPkiClientVerifier, danger::ClientCertVerifier},
};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use tokio_rustls::TlsAcceptor;

use crate::pki::{Issued, Pki};

impl Pki {
    /// A rustls server config presenting the server certificate; with
    /// [`ClientCerts::Required`], the handshake fails unless the client presents a certificate
    /// this CA issued.
    ///
    /// # Panics
    ///
    /// When rustls rejects the generated certificates (a test-setup failure).
    pub fn server_config(&self, client_certs: ClientCerts) -> ServerConfig {
        self.server_config_for(rustls::DEFAULT_VERSIONS, self.client_verifier(client_certs))
    }

    /// A rustls server config (ring) presenting the server certificate, with your own client
    /// certificate verifier (e.g. one that accepts self-signed certificates).
    ///
    /// # Panics
    ///
    /// When rustls rejects the generated certificates (a test-setup failure).
    pub fn server_config_with(&self, verifier: Arc<dyn ClientCertVerifier>) -> ServerConfig {
        self.server_config_for(rustls::DEFAULT_VERSIONS, verifier)
    }

    fn client_verifier(&self, client_certs: ClientCerts) -> Arc<dyn ClientCertVerifier> {
        match client_certs {
            ClientCerts::None => WebPkiClientVerifier::no_client_auth(),
            ClientCerts::Required => {
                let mut roots = RootCertStore::empty();
                roots.add(self.ca_der().clone()).expect("client CA");
                WebPkiClientVerifier::builder(Arc::new(roots))
                    .build()
                    .expect("client certificate verifier")
            }
        }
    }

    fn server_config_for(
        &self,
        versions: &[&'static SupportedProtocolVersion],
        verifier: Arc<dyn ClientCertVerifier>,
    ) -> ServerConfig {
        let server = self.server();
        let key = PrivateKeyDer::from_pem_slice(server.key_pem().as_bytes()).expect("server key");
        ServerConfig::builder_with_protocol_versions(versions)
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![server.cert_der.clone()], key)
            .expect("server identity")
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
/// - `GET /whoami`: 200 with `{"path":"/whoami","client_certificate":BOOL}`, where
///   `client_certificate` says whether the client presented the [`Pki::client`] certificate.
/// - `GET /hello`: 200 with `hello CN`, the common name of the client certificate the [`Pki`]
///   (or an intermediate of it) issued, or `hello ` without one.
/// - `POST /token`: a token endpoint with RFC 8705 `tls_client_auth`: it issues [`TOKEN`] (one
///   hour, Bearer) to a client presenting the [`Pki::client`] certificate, `invalid_client`
///   otherwise.
/// - Any other path: 404.
///
/// With [`TlsApiServer::require_header`], requests other than the token request without
/// exactly that header value get 401. A failed handshake is counted, and the connection
/// drained before it is closed, so the client reads the server's alert rather than a reset.
/// The server stops when dropped.
#[derive(Debug)]
pub struct TlsApiServer {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    handshakes_failed: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

struct Settings {
    client_der: CertificateDer<'static>,
    issued: Issued,
    required_header: Option<(String, String)>,
    requests: Arc<AtomicUsize>,
}

/// The client certificate a connection presented.
struct Peer {
    /// It is the [`Pki::client`] certificate.
    known_client: bool,
    /// The common name the [`Pki`] issued it with.
    name: Option<String>,
}

impl TlsApiServer {
    /// Starts the server on an ephemeral port; no credential is required.
    ///
    /// # Panics
    ///
    /// When the listener cannot bind (a test-setup failure).
    pub async fn start(pki: &Pki, client_certs: ClientCerts) -> TlsApiServer {
        Self::start_inner(pki, client_certs, rustls::DEFAULT_VERSIONS, None).await
    }

    /// Like [`start`](Self::start), speaking only the TLS `versions` (e.g. TLS 1.2 alone,
    /// where a rejected client certificate fails the handshake itself).
    ///
    /// # Panics
    ///
    /// When the listener cannot bind (a test-setup failure).
    pub async fn start_with_versions(
        pki: &Pki,
        client_certs: ClientCerts,
        versions: &[&'static SupportedProtocolVersion],
    ) -> TlsApiServer {
        Self::start_inner(pki, client_certs, versions, None).await
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
        let header = Some((name.to_owned(), value.to_owned()));
        Self::start_inner(pki, client_certs, rustls::DEFAULT_VERSIONS, header).await
    }

    async fn start_inner(
        pki: &Pki,
        client_certs: ClientCerts,
        versions: &[&'static SupportedProtocolVersion],
        required_header: Option<(String, String)>,
    ) -> TlsApiServer {
        let config = pki.server_config_for(versions, pki.client_verifier(client_certs));
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let requests = Arc::new(AtomicUsize::new(0));
        let handshakes_failed = Arc::new(AtomicUsize::new(0));
        let settings = Arc::new(Settings {
            client_der: pki.client().cert_der.clone(),
            issued: pki.issued(),
            required_header,
            requests: requests.clone(),
        });
        let failed = handshakes_failed.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, settings, failed) =
                    (acceptor.clone(), settings.clone(), failed.clone());
                tokio::spawn(async move {
                    let tls = match acceptor.accept(tcp).into_fallible().await {
                        Ok(tls) => tls,
                        Err((_, tcp)) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            return drain(tcp).await;
                        }
                    };
                    let presented = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
                    let peer = Arc::new(Peer {
                        known_client: presented.is_some_and(|c| *c == settings.client_der),
                        name: presented.and_then(|c| settings.issued.name_of(c)),
                    });
                    let service = service_fn(move |request| {
                        let (settings, peer) = (settings.clone(), peer.clone());
                        async move { Ok::<_, Infallible>(handle(&request, &peer, &settings)) }
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

/// Closes a connection whose handshake failed. The alert is already sent; closing a socket
/// with unread data (the request a client sends right after its side of a TLS 1.3 handshake)
/// would send a reset that can overtake the alert, so close our side and drain first.
async fn drain(mut tcp: TcpStream) {
    let _ = tcp.shutdown().await;
    let mut buf = [0u8; 1024];
    let drain = async { while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
}

fn handle(request: &Request<Incoming>, peer: &Peer, settings: &Settings) -> Response<Full<Bytes>> {
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
        return if peer.known_client && request.method() == http::Method::POST {
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
            json!({ "path": "/whoami", "client_certificate": peer.known_client }),
        ),
        "/hello" => {
            let name = peer.name.as_deref().unwrap_or_default();
            Response::new(Full::from(format!("hello {name}")))
        }
        _ => respond(StatusCode::NOT_FOUND, json!({ "error": "not found" })),
    }
}
