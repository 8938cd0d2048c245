//! Test PKI generated at run time with rcgen, and an in-process TLS server on 127.0.0.1 that
//! requires client certificates (or asks for none). No key is ever written to the repository.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SignatureAlgorithm, date_time_ymd,
};
use rustls::{
    RootCertStore, ServerConfig, SupportedProtocolVersion,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    server::WebPkiClientVerifier,
};
use secrecy::SecretSlice;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use tokio_rustls::TlsAcceptor;

use pkcs8::{
    PrivateKeyInfoRef,
    der::{Decode, Encode},
};
use sec1::{EcParameters, EcPrivateKey};

use crate::tls::x509::CertSummary;

/// A certificate authority that issues client and server certificates.
pub(crate) struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub(crate) pem: String,
    der: CertificateDer<'static>,
}

impl TestCa {
    pub(crate) fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("CA certificate");
        TestCa {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// An intermediate CA signed by this one.
    pub(crate) fn intermediate(&self, name: &str) -> TestCa {
        let key = KeyPair::generate().expect("intermediate key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.signed_by(&key, &self.issuer).expect("intermediate");
        TestCa {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A PEM client certificate for `key`, valid now unless `validity` says otherwise.
    pub(crate) fn client_cert(
        &self,
        cn: &str,
        key: &impl PublicKeyData,
        validity: Validity,
    ) -> String {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        if let Validity::Expired = validity {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2021, 1, 1);
        }
        params
            .signed_by(key, &self.issuer)
            .expect("client cert")
            .pem()
    }

    /// A server certificate for `127.0.0.1` and `localhost` with its key.
    fn server_identity(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().expect("server key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("server params");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).expect("server cert");
        let key = PrivatePkcs8KeyDer::from(key.serialize_der()).into();
        (vec![cert.der().clone()], key)
    }
}

/// Whether a test certificate is valid now or expired (2020-01-01 to 2021-01-01).
#[derive(Clone, Copy)]
pub(crate) enum Validity {
    Current,
    Expired,
}

/// A fresh key pair of `alg` (ECDSA P-256/P-384 or Ed25519: what ring can generate).
pub(crate) fn key(alg: &'static SignatureAlgorithm) -> KeyPair {
    KeyPair::generate_for(alg).expect("key pair")
}

pub(crate) fn secret(pem: impl Into<String>) -> SecretSlice<u8> {
    SecretSlice::from(pem.into().into_bytes())
}

pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// The SEC1 `EC PRIVATE KEY` form of an ECDSA PKCS#8 key, with the curve in `[0]` as OpenSSL
/// writes it: PKCS#8 wraps the SEC1 structure, minus the curve, which sits in the algorithm.
pub(crate) fn sec1_from_pkcs8(pkcs8: &[u8]) -> Vec<u8> {
    let info = PrivateKeyInfoRef::from_der(pkcs8).expect("PrivateKeyInfo");
    let curve = info.algorithm.parameters_oid().expect("named curve");
    let mut key = EcPrivateKey::from_der(info.private_key.as_bytes()).expect("ECPrivateKey");
    key.parameters = Some(EcParameters::NamedCurve(curve));
    key.to_der().expect("DER")
}

/// The private scalar of an ECDSA PKCS#8 key, for canaries.
pub(crate) fn ec_private_scalar(pkcs8: &[u8]) -> Vec<u8> {
    let info = PrivateKeyInfoRef::from_der(pkcs8).expect("PrivateKeyInfo");
    let key = EcPrivateKey::from_der(info.private_key.as_bytes()).expect("ECPrivateKey");
    key.private_key.to_vec()
}

/// An HTTP/1.1 server behind TLS that requires a client certificate issued by `client_ca` (or,
/// from [`TestServer::without_client_auth`], asks for none) and answers every request
/// `200 hello <client CN>`.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TestServer {
    pub(crate) async fn start(server_ca: &TestCa, client_ca: &TestCa) -> TestServer {
        Self::start_with(server_ca, client_ca, rustls::DEFAULT_VERSIONS).await
    }

    pub(crate) async fn start_with(
        server_ca: &TestCa,
        client_ca: &TestCa,
        versions: &[&'static SupportedProtocolVersion],
    ) -> TestServer {
        Self::start_inner(server_ca, Some(client_ca), versions).await
    }

    /// A server that asks for no client certificate and answers `200 hello ` (no CN).
    pub(crate) async fn without_client_auth(server_ca: &TestCa) -> TestServer {
        Self::start_inner(server_ca, None, rustls::DEFAULT_VERSIONS).await
    }

    async fn start_inner(
        server_ca: &TestCa,
        client_ca: Option<&TestCa>,
        versions: &[&'static SupportedProtocolVersion],
    ) -> TestServer {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .expect("versions");
        let builder = match client_ca {
            Some(client_ca) => {
                let mut client_roots = RootCertStore::empty();
                client_roots.add(client_ca.der.clone()).expect("client CA");
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(client_roots), provider)
                        .build()
                        .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let (chain, key) = server_ca.server_identity();
        let config = builder.with_single_cert(chain, key).expect("server config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve(acceptor.clone(), tcp));
            }
        });
        TestServer { addr, task }
    }

    pub(crate) fn url(&self) -> String {
        format!("https://{}/", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(acceptor: TlsAcceptor, tcp: TcpStream) {
    match acceptor.accept(tcp).into_fallible().await {
        Ok(mut tls) => {
            let cn = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| CertSummary::parse(certs.first()?))
                .and_then(|leaf| leaf.subject)
                .unwrap_or_default();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let body = format!("hello {cn}");
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.write_all(response.as_bytes()).await;
            let _ = tls.shutdown().await;
        }
        // The alert is already sent. Closing a socket with unread data (the request the client
        // sent right after its side of a TLS 1.3 handshake) would send a reset that can
        // overtake the alert, so close our side and drain before dropping.
        Err((_, mut tcp)) => {
            let _ = tcp.shutdown().await;
            let mut buf = [0u8; 1024];
            let drain = async { while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {} };
            let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
        }
    }
}
