//! End-to-end against an in-process server that requires client certificates.
//!
//! The tests run on tokio's default single-threaded test runtime on purpose: with several
//! worker threads, hyper's connection task can read the server's alert (TLS 1.3 rejects a
//! client certificate after the client's side of the handshake) before the request reaches it,
//! and hyper then reports only "connection was not ready" ([`TlsFailure::ClosedWithoutAnswer`]).
//! One thread makes the order deterministic, so the exact alert can be asserted.

use std::{error::Error as StdError, time::Duration};

use auth_core::{AuthError, ErrorKind};
use auth_test_support::{
    keys::TestKey,
    pki::{Pki, Validity},
    tls::{ClientCerts, TlsApiServer},
};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use rustls::{ClientConfig, RootCertStore, pki_types::pem::PemObject};

use super::{ClientTls, SecretSlice, TlsFailure, classify_transport_error};

type BoxError = Box<dyn StdError + Send + Sync>;

/// GET `url` through `connector`; the body on 200, the client's error otherwise.
async fn get(connector: HttpsConnector<HttpConnector>, url: &str) -> Result<String, BoxError> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let request = client.get(url.parse()?);
    let response = tokio::time::timeout(Duration::from_secs(10), request).await??;
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8(body.to_vec())?)
}

/// GET `/hello` from `server` through a connector built from `tls`.
async fn hello(tls: &ClientTls, server: &TlsApiServer) -> Result<String, BoxError> {
    get(
        tls.https_connector().expect("connector"),
        &server.url("/hello"),
    )
    .await
}

/// The failure a `/hello` request ends with, classified.
async fn failed_hello(tls: &ClientTls, server: &TlsApiServer) -> AuthError {
    let err = hello(tls, server).await.expect_err("the request must fail");
    classify_transport_error(&*err)
}

fn secret(pem: impl Into<String>) -> SecretSlice<u8> {
    SecretSlice::from(pem.into().into_bytes())
}

/// A `client-a` certificate (P-256) issued by `ca`, trusting only `server_ca`.
fn client_tls(ca: &Pki, server_ca: &Pki) -> ClientTls {
    let client = ca.issue_client("client-a");
    ClientTls::from_pem(client.cert_pem.as_bytes(), &client.key_secret())
        .expect("valid identity")
        .add_root_pem(server_ca.ca_pem().as_bytes())
        .expect("valid root")
        .with_native_roots(false)
}

/// An HTTPS server with a certificate of `ca` that requires a client certificate from it and
/// answers `GET /hello` with `hello <client CN>`.
async fn server_requiring_certificates(ca: &Pki) -> TlsApiServer {
    TlsApiServer::start(ca, ClientCerts::Required).await
}

/// A connector from a hand-built rustls config, for what `ClientTls` refuses to build.
fn raw_connector(config: ClientConfig) -> HttpsConnector<HttpConnector> {
    HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .build()
}

fn roots(ca: &Pki) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add(ca.ca_der().clone()).expect("root");
    roots
}

fn raw_config() -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    ClientConfig::builder()
}

#[tokio::test]
async fn presents_the_client_certificate_and_gets_200() {
    let ca = Pki::with_ca_name("Test CA");
    let server = server_requiring_certificates(&ca).await;
    let tls = client_tls(&ca, &ca);

    let body = hello(&tls, &server).await;
    assert_eq!(body.expect("200"), "hello client-a");
}

#[tokio::test]
async fn accepts_pkcs8_p256_p384_ed25519_and_sec1_keys() {
    let ca = Pki::with_ca_name("Test CA");
    let server = server_requiring_certificates(&ca).await;
    for (case, cn, key) in [
        ("p256-pkcs8", "p256", TestKey::es256()),
        ("p256-sec1", "p256", TestKey::es256_sec1()),
        ("p384-pkcs8", "p384", TestKey::es384()),
        ("p384-sec1", "p384", TestKey::es384_sec1()),
        ("ed25519-pkcs8", "ed25519", TestKey::ed25519()),
    ] {
        let client = ca.issue_client_for(cn, &key, Validity::Current);
        let tls = ClientTls::from_pem(client.cert_pem.as_bytes(), &client.key_secret())
            .unwrap_or_else(|e| panic!("{case}: {e}"))
            .add_root_pem(ca.ca_pem().as_bytes())
            .expect("root")
            .with_native_roots(false);
        let body = hello(&tls, &server).await;
        assert_eq!(
            body.unwrap_or_else(|e| panic!("{case}: {e}")),
            format!("hello {cn}"),
            "{case}"
        );
    }
}

#[tokio::test]
async fn accepts_a_pkcs1_rsa_key_generated_by_openssl() {
    // ring cannot generate RSA keys; OpenSSL writes PKCS#1 with `-traditional`.
    let rsa = TestKey::rsa_pkcs1();
    assert!(rsa.private_pem.contains("BEGIN RSA PRIVATE KEY"));

    let ca = Pki::with_ca_name("Test CA");
    let server = server_requiring_certificates(&ca).await;
    let client = ca.issue_client_for("rsa-client", &rsa, Validity::Current);
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, pkcs1) = (dir.path().join("client.pem"), dir.path().join("rsa.pem"));
    std::fs::write(&cert, &client.cert_pem).expect("write");
    std::fs::write(&pkcs1, client.key_pem()).expect("write");
    let tls = ClientTls::from_pem_files(&cert, &pkcs1)
        .expect("PKCS#1 key")
        .add_root_pem(ca.ca_pem().as_bytes())
        .expect("root")
        .with_native_roots(false);
    let body = hello(&tls, &server).await;
    assert_eq!(body.expect("200"), "hello rsa-client");
}

#[tokio::test]
async fn sends_the_whole_chain_when_issued_by_an_intermediate() {
    let root = Pki::with_ca_name("Root CA");
    let intermediate = root.intermediate("Issuing CA");
    let server = server_requiring_certificates(&root).await;
    let client = intermediate.issue_client("client-b");
    let chain = client.cert_pem.clone() + intermediate.ca_pem();

    let tls = ClientTls::from_pem(chain.as_bytes(), &client.key_secret())
        .expect("identity")
        .add_root_pem(root.ca_pem().as_bytes())
        .expect("root")
        .with_native_roots(false);
    assert!(format!("{tls:?}").contains("certificates: 2"), "{tls:?}");
    let body = hello(&tls, &server).await;
    assert_eq!(body.expect("200"), "hello client-b");
}

#[tokio::test]
async fn no_client_certificate_is_reported_as_required() {
    let ca = Pki::with_ca_name("Test CA");
    let server = server_requiring_certificates(&ca).await;
    let config = raw_config()
        .with_root_certificates(roots(&ca))
        .with_no_client_auth();

    let err = get(raw_connector(config), &server.url("/hello"))
        .await
        .expect_err("must fail");
    assert_eq!(
        TlsFailure::find(&*err),
        Some(TlsFailure::ClientCertificateRequired)
    );
    let err = classify_transport_error(&*err);
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(
        err.to_string()
            .contains("requires a client certificate and none was sent"),
        "{err}"
    );
}

#[tokio::test]
async fn certificate_from_an_untrusted_ca_is_reported_as_rejected() {
    let ca = Pki::with_ca_name("Test CA");
    let other = Pki::with_ca_name("Other CA");
    let server = server_requiring_certificates(&ca).await;
    let tls = client_tls(&other, &ca);

    let err = failed_hello(&tls, &server).await;
    assert_eq!(err.kind(), ErrorKind::Transport);
    let text = err.to_string();
    assert!(
        text.contains("the server did not accept the client certificate"),
        "{text}"
    );
    assert!(text.contains("signed by a CA the server trusts"), "{text}");
}

#[tokio::test]
async fn rejection_under_tls12_fails_the_connect_and_reads_the_same() {
    let ca = Pki::with_ca_name("Test CA");
    let other = Pki::with_ca_name("Other CA");
    let tls12 = [&rustls::version::TLS12];
    let server = TlsApiServer::start_with_versions(&ca, ClientCerts::Required, &tls12).await;
    let tls = client_tls(&other, &ca);

    let err = hello(&tls, &server).await.expect_err("must fail");
    let client_err = err
        .downcast_ref::<hyper_util::client::legacy::Error>()
        .expect("client error");
    assert!(client_err.is_connect(), "{err:?}");
    assert_eq!(
        TlsFailure::find(&*err),
        Some(TlsFailure::ClientCertificateRejected)
    );
}

#[test]
fn expired_certificate_is_a_config_error_naming_the_date() {
    let ca = Pki::with_ca_name("Test CA");
    let old = ca.issue_client_for("old-client", &TestKey::es256(), Validity::Expired);

    let err = ClientTls::from_pem(old.cert_pem.as_bytes(), &old.key_secret()).expect_err("expired");
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = err.to_string();
    assert!(text.contains("client certificate PEM"), "{text}");
    assert!(
        text.contains(
            "block 1 (CN=old-client, issued by CN=Test CA) expired on 2021-01-01 00:00:00 UTC"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn expired_certificate_sent_anyway_is_reported_as_rejected() {
    let ca = Pki::with_ca_name("Test CA");
    let server = server_requiring_certificates(&ca).await;
    let old = ca.issue_client_for("old-client", &TestKey::es256(), Validity::Expired);
    let chain = vec![old.cert_der.clone()];
    let key =
        rustls::pki_types::PrivateKeyDer::from_pem_slice(old.key_pem().as_bytes()).expect("key");
    let config = raw_config()
        .with_root_certificates(roots(&ca))
        .with_client_auth_cert(chain, key)
        .expect("config");

    let err = get(raw_connector(config), &server.url("/hello"))
        .await
        .expect_err("must fail");
    assert_eq!(
        TlsFailure::find(&*err),
        Some(TlsFailure::ClientCertificateRejected)
    );
    assert!(
        classify_transport_error(&*err)
            .to_string()
            .contains("CertificateExpired")
    );
}

#[test]
fn key_that_does_not_match_the_certificate_is_a_config_error() {
    let ca = Pki::with_ca_name("Test CA");
    let client = ca.issue_client("client-a");
    let other_key = TestKey::es256();

    let err = ClientTls::from_pem(client.cert_pem.as_bytes(), &secret(other_key.private_pem))
        .expect_err("mismatch");
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = err.to_string();
    assert!(
        text.contains(
            "client private key PEM: the private key does not match the certificate in block 1"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn untrusted_server_certificate_says_to_add_its_ca() {
    let ca = Pki::with_ca_name("Test CA");
    let other = Pki::with_ca_name("Other CA");
    let server = server_requiring_certificates(&ca).await;
    let tls = client_tls(&ca, &other);

    let err = hello(&tls, &server).await.expect_err("must fail");
    assert_eq!(
        TlsFailure::find(&*err),
        Some(TlsFailure::ServerCertificateUntrusted)
    );
    let text = classify_transport_error(&*err).to_string();
    assert!(
        text.contains("the server's certificate is not trusted"),
        "{text}"
    );
    assert!(text.contains("add_root_pem"), "{text}");
}

#[tokio::test]
async fn https_only_refuses_plain_http() {
    let ca = Pki::with_ca_name("Test CA");
    let tls = client_tls(&ca, &ca);
    let err = get(
        tls.https_connector().expect("connector"),
        "http://127.0.0.1:9/",
    )
    .await
    .expect_err("refused");
    assert!(TlsFailure::find(&*err).is_none());
    assert_eq!(classify_transport_error(&*err).kind(), ErrorKind::Transport);
}

mod bad_input;
mod classify;
mod without_certificate;
