//! Mutual TLS with a client certificate, offline.
//!
//! Generates a CA, a server certificate and two client certificates at run time (rcgen; no key
//! ever touches the disk), starts a rustls server on 127.0.0.1 that requires a client
//! certificate issued by that CA, and calls it with hyper-util clients built from
//! `ClientTls`: once with the right certificate (200), once with a certificate from another CA,
//! whose rejection is turned into a readable error. Exits non-zero if either step goes
//! differently.
//!
//! Run it with `cargo run --example mtls --features tls`.
#![allow(clippy::print_stdout)]

use std::{net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivatePkcs8KeyDer},
    server::WebPkiClientVerifier,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use tokio_rustls::TlsAcceptor;
use tower::BoxError;
use tower_auth::layers::tls::{ClientTls, SecretSlice, classify_transport_error};

// One thread keeps step 2's output stable: on loopback, with several worker threads, hyper's
// connection task can read the server's alert before the request is handed to it, and hyper
// then reports only "connection was not ready" (classified as `ClosedWithoutAnswer`, a likely
// cause rather than a certain one). Across a real network the request is on its way first.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), BoxError> {
    let ca = Ca::new("Example CA")?;
    let addr = start_server(&ca).await?;
    let url = format!("https://{addr}/");
    println!("server on {url}, requiring a client certificate issued by `Example CA`");

    // In an application: ClientTls::from_pem_files("client.crt", "client.key")?
    let (cert_pem, key_pem) = ca.client("billing-service")?;
    let tls = ClientTls::from_pem(cert_pem.as_bytes(), &key_pem)?
        .add_root_pem(ca.pem.as_bytes())?
        .with_native_roots(false);
    println!("\n1. with a certificate from Example CA\n   {tls:?}");
    let client: Client<_, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(tls.https_connector()?);
    let response = client.get(url.parse()?).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    println!("   {status}: {}", String::from_utf8_lossy(&body));
    if status != 200 {
        return Err(format!("expected 200, got {status}").into());
    }

    let other_ca = Ca::new("Some Other CA")?;
    let (cert_pem, key_pem) = other_ca.client("billing-service")?;
    let tls = ClientTls::from_pem(cert_pem.as_bytes(), &key_pem)?
        .add_root_pem(ca.pem.as_bytes())?
        .with_native_roots(false);
    println!("\n2. with a certificate from a CA the server does not trust");
    let client: Client<_, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(tls.https_connector()?);
    match client.get(url.parse()?).await {
        Ok(response) => Err(format!("expected a rejection, got {}", response.status()).into()),
        Err(e) => {
            let err = classify_transport_error(&e);
            println!("   error: {err}");
            Ok(())
        }
    }
}

/// A certificate authority generated for this run.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    der: CertificateDer<'static>,
}

impl Ca {
    fn new(name: &str) -> Result<Ca, BoxError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key)?;
        Ok(Ca {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// A client certificate (PEM) and its private key (PKCS#8 PEM, held as a secret).
    fn client(&self, name: &str) -> Result<(String, SecretSlice<u8>), BoxError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((
            cert.pem(),
            SecretSlice::from(key.serialize_pem().into_bytes()),
        ))
    }
}

/// An HTTP/1.1 server behind TLS on 127.0.0.1 that requires a client certificate issued by
/// `ca` and answers every request with `200`.
async fn start_server(ca: &Ca) -> Result<SocketAddr, BoxError> {
    let mut client_roots = RootCertStore::empty();
    client_roots.add(ca.der.clone())?;
    // rustls's process-default crypto provider: ring, the one its features name here.
    let verifier = WebPkiClientVerifier::builder(Arc::new(client_roots)).build()?;

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca.issuer)?;
    let config = ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![cert.der().clone()],
            PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )?;

    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor.accept(tcp).into_fallible().await {
                    Ok(mut tls) => {
                        let mut buf = [0u8; 4096];
                        let mut head = Vec::new();
                        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                            match tls.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => head.extend_from_slice(&buf[..n]),
                            }
                        }
                        let body = "hello, verified client";
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = tls.write_all(response.as_bytes()).await;
                        let _ = tls.shutdown().await;
                    }
                    // The TLS alert is already sent; drain what the client wrote before closing,
                    // so a reset does not overtake the alert.
                    Err((_, mut tcp)) => {
                        let _ = tcp.shutdown().await;
                        let mut buf = [0u8; 4096];
                        let drain =
                            async { while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {} };
                        let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
                    }
                }
            });
        }
    });
    Ok(addr)
}
