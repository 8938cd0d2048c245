//! `tls_client_auth` and `self_signed_tls_client_auth` (RFC 8705) against an in-process rustls
//! token endpoint that requires a client certificate, issues certificate-bound tokens (`cnf`
//! `x5t#S256`) and serves an API that only accepts them over a connection presenting the same
//! certificate. Certificates are generated at test time (test-support's [`Pki`], rcgen).
#![cfg(feature = "mtls")]

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use auth_core::{ErrorKind, TokenSource};
use auth_layers::tls::ClientTls;
use auth_oauth::{ClientAuth, ClientCredentials, OAuth2Layer, TokenEndpoint, TokenParams};
use auth_test_support::pki::{Identity, Pki};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::{client::legacy::Client, rt::TokioExecutor, rt::TokioIo};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
    client::danger::HandshakeSignatureValid,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, UnixTime},
    server::{
        WebPkiClientVerifier,
        danger::{ClientCertVerified, ClientCertVerifier},
    },
};
use serde_json::json;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_rustls::TlsAcceptor;
use tower::{Service, ServiceBuilder, ServiceExt};

const CLIENT_ID: &str = "mtls-client";

/// The client's TLS settings: `identity`'s certificate and key, trusting only `pki`'s CA.
fn client_tls(identity: &Identity, pki: &Pki) -> ClientTls {
    ClientTls::from_pem(identity.cert_pem.as_bytes(), &identity.key_secret())
        .expect("client certificate")
        .add_root_pem(pki.ca_pem().as_bytes())
        .expect("CA")
        .with_native_roots(false)
}

fn x5t_s256(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, der))
}

/// Accepts any client certificate; the handler decides (self-signed certificates are
/// registered by value, RFC 8705 §2.2).
#[derive(Debug)]
struct AnyClientCert(Arc<CryptoProvider>);

impl ClientCertVerifier for AnyClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What the server saw of one token request.
#[derive(Debug, Clone)]
struct Seen {
    form: Vec<(String, String)>,
    authorization: bool,
    thumbprint: String,
}

/// Which certificates the token endpoint accepts.
enum Trust {
    /// `tls_client_auth`: any certificate issued by the test CA.
    Ca,
    /// `self_signed_tls_client_auth`: exactly this certificate (its DER).
    Registered(Vec<u8>),
}

struct TlsTokenServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Drop for TlsTokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsTokenServer {
    async fn start(pki: &Pki, trust: Trust) -> TlsTokenServer {
        // The process-default provider (ring: the only one rustls's features name here).
        let provider = rustls::ServerConfig::builder().crypto_provider().clone();
        let verifier: Arc<dyn ClientCertVerifier> = match &trust {
            Trust::Ca => {
                let mut roots = RootCertStore::empty();
                roots.add(pki.ca_der().clone()).expect("client CA");
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .expect("verifier")
            }
            Trust::Registered(_) => Arc::new(AnyClientCert(provider)),
        };
        let config = pki.server_config_with(verifier);
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let registered = match trust {
            Trust::Registered(der) => Some(der),
            Trust::Ca => None,
        };
        let state = (seen.clone(), Arc::new(registered));
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let (seen, registered) = state.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let presented = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| c.to_vec())
                        .unwrap_or_default();
                    let service = service_fn(move |request| {
                        let (seen, registered) = (seen.clone(), registered.clone());
                        let presented = presented.clone();
                        async move {
                            Ok::<_, Infallible>(
                                handle(request, &presented, registered.as_deref(), &seen).await,
                            )
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        TlsTokenServer { addr, seen, task }
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

async fn handle(
    request: Request<Incoming>,
    presented: &[u8],
    registered: Option<&[u8]>,
    seen: &Mutex<Vec<Seen>>,
) -> Response<Full<Bytes>> {
    let json = |status: StatusCode, body: serde_json::Value| {
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::from(body.to_string()))
            .expect("response")
    };
    let thumbprint = x5t_s256(presented);
    if request.uri().path() == "/api" {
        // A bound token: `at-<thumbprint>`, accepted only with the same certificate.
        let token = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer at-"));
        return if token == Some(thumbprint.as_str()) {
            json(StatusCode::OK, json!({ "ok": true }))
        } else {
            json(StatusCode::UNAUTHORIZED, json!({ "ok": false }))
        };
    }
    let authorization = request.headers().contains_key(header::AUTHORIZATION);
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let form: Vec<(String, String)> = form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    seen.lock().expect("lock").push(Seen {
        form: form.clone(),
        authorization,
        thumbprint: thumbprint.clone(),
    });
    let field = |name: &str| {
        form.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let client_ok = field("client_id") == Some(CLIENT_ID)
        && field("client_secret").is_none()
        && !authorization
        && registered.is_none_or(|der| der == presented);
    if !client_ok {
        return json(
            StatusCode::UNAUTHORIZED,
            json!({ "error": "invalid_client", "error_description": "certificate not registered" }),
        );
    }
    json(
        StatusCode::OK,
        json!({
            "access_token": format!("at-{thumbprint}"),
            "token_type": "Bearer",
            "expires_in": 3600,
            "cnf": { "x5t#S256": thumbprint },
        }),
    )
}

#[tokio::test]
async fn tls_client_auth_presents_the_certificate_and_gets_a_bound_token() {
    let pki = Pki::new();
    let server = TlsTokenServer::start(&pki, Trust::Ca).await;
    let client_cert = pki.issue_client("mtls-client");
    let layer = OAuth2Layer::client_credentials_tls(
        server.url("/token"),
        CLIENT_ID,
        client_tls(&client_cert, &pki),
    )
    .build()
    .expect("layer");
    let grant = layer.source().source();
    let endpoint = grant.endpoint();
    assert_eq!(endpoint.client_auth(), ClientAuth::TlsClientAuth);
    grant.fetch().await.expect("token");

    let seen = server.seen();
    let expected = x5t_s256(&client_cert.cert_der);
    assert_eq!(
        seen[0].thumbprint, expected,
        "the certificate was presented"
    );
    let names: Vec<&str> = seen[0].form.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["grant_type", "client_id"], "client_id, no secret");
    assert!(!seen[0].authorization);
    assert_eq!(endpoint.certificate_thumbprint(), Some(expected.as_str()));
    assert_eq!(
        endpoint.bound_certificate().as_deref(),
        Some(expected.as_str())
    );

    // The API takes the bound token only over a connection with the same certificate.
    let api_client = |tls: ClientTls| {
        Client::builder(TokioExecutor::new())
            .build::<_, Full<Bytes>>(tls.https_connector().expect("connector"))
    };
    let mut same = ServiceBuilder::new()
        .layer(layer.clone())
        .service(api_client(client_tls(&client_cert, &pki)));
    let mut other = ServiceBuilder::new()
        .layer(layer)
        .service(api_client(client_tls(
            &pki.issue_client("someone-else"),
            &pki,
        )));
    for (client, status) in [
        (&mut same, StatusCode::OK),
        (&mut other, StatusCode::UNAUTHORIZED),
    ] {
        let request = Request::get(server.url("/api"))
            .body(Full::default())
            .expect("request");
        let response = client
            .ready()
            .await
            .expect("ready")
            .call(request)
            .await
            .expect("response");
        assert_eq!(response.status(), status);
    }
}

#[tokio::test]
async fn self_signed_tls_client_auth_is_accepted_only_with_the_registered_certificate() {
    let pki = Pki::new();
    let registered = Identity::self_signed_client("robot");
    let server = TlsTokenServer::start(&pki, Trust::Registered(registered.cert_der.to_vec())).await;
    let endpoint = TokenEndpoint::builder(server.url("/token"), CLIENT_ID)
        .self_signed_tls_client_auth(client_tls(&registered, &pki))
        .build()
        .expect("endpoint");
    assert_eq!(endpoint.client_auth(), ClientAuth::SelfSignedTlsClientAuth);
    let grant = ClientCredentials::new(endpoint, TokenParams::new()).expect("grant");
    grant.token().await.expect("token");

    let stranger = Identity::self_signed_client("robot");
    let endpoint = TokenEndpoint::builder(server.url("/token"), CLIENT_ID)
        .self_signed_tls_client_auth(client_tls(&stranger, &pki))
        .build()
        .expect("endpoint");
    let grant = ClientCredentials::new(endpoint, TokenParams::new()).expect("grant");
    let err = grant.token().await.expect_err("unregistered certificate");
    assert_eq!(err.kind(), ErrorKind::InvalidClient, "{err}");
}

#[test]
fn a_certificate_and_a_custom_http_client_are_one_too_many() {
    let pki = Pki::new();
    let tls = client_tls(&pki.issue_client("c"), &pki);
    let err = TokenEndpoint::builder("https://auth.example/token", CLIENT_ID)
        .tls_client_auth(tls)
        .http_client(auth_oauth::TokenHttpClient::new().expect("client"))
        .build()
        .expect_err("both");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string()
            .contains("http_client: is set together with"),
        "{err}"
    );
    let err = TokenEndpoint::builder("https://auth.example/token", CLIENT_ID)
        .client_secret("s")
        .tls_client_auth(client_tls(&pki.issue_client("c"), &pki))
        .build()
        .expect_err("secret with mTLS");
    assert!(err.to_string().contains("sends no secret"), "{err}");
}
