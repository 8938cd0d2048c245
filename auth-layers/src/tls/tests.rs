//! End-to-end against an in-process server that requires client certificates.
//!
//! The tests run on tokio's default single-threaded test runtime on purpose: with several
//! worker threads, hyper's connection task can read the server's alert (TLS 1.3 rejects a
//! client certificate after the client's side of the handshake) before the request reaches it,
//! and hyper then reports only "connection was not ready" ([`TlsFailure::ClosedWithoutAnswer`]).
//! One thread makes the order deterministic, so the exact alert can be asserted.

mod pki;

use std::{error::Error as StdError, sync::Arc, time::Duration};

use auth_core::{AuthError, ErrorKind};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519};
use rustls::{ClientConfig, RootCertStore, pki_types::pem::PemObject};

use self::pki::{TestCa, TestServer, Validity, key, pem_encode, sec1_from_pkcs8, secret};
use super::{ClientTls, TlsFailure, classify_transport_error};

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

/// The failure a request ends with, classified.
async fn failed_get(connector: HttpsConnector<HttpConnector>, url: &str) -> AuthError {
    let err = get(connector, url)
        .await
        .expect_err("the request must fail");
    classify_transport_error(&*err)
}

fn client_tls(ca: &TestCa, key: &KeyPair, server_ca: &TestCa) -> ClientTls {
    let cert = ca.client_cert("client-a", key, Validity::Current);
    ClientTls::from_pem(cert.as_bytes(), &secret(key.serialize_pem()))
        .expect("valid identity")
        .add_root_pem(server_ca.pem.as_bytes())
        .expect("valid root")
        .with_native_roots(false)
}

/// A connector from a hand-built rustls config, for what `ClientTls` refuses to build.
fn raw_connector(config: ClientConfig) -> HttpsConnector<HttpConnector> {
    HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .build()
}

fn roots(ca: &TestCa) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let der = rustls::pki_types::CertificateDer::from_pem_slice(ca.pem.as_bytes()).expect("pem");
    roots.add(der).expect("root");
    roots
}

fn raw_config() -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
}

#[tokio::test]
async fn presents_the_client_certificate_and_gets_200() {
    let ca = TestCa::new("Test CA");
    let server = TestServer::start(&ca, &ca).await;
    let tls = client_tls(&ca, &key(&PKCS_ECDSA_P256_SHA256), &ca);

    let body = get(tls.https_connector().expect("connector"), &server.url()).await;
    assert_eq!(body.expect("200"), "hello client-a");
}

#[tokio::test]
async fn accepts_pkcs8_p256_p384_ed25519_and_sec1_keys() {
    let ca = TestCa::new("Test CA");
    let server = TestServer::start(&ca, &ca).await;
    let mut cases = Vec::new();
    for (name, alg) in [
        ("p256", &PKCS_ECDSA_P256_SHA256),
        ("p384", &PKCS_ECDSA_P384_SHA384),
        ("ed25519", &PKCS_ED25519),
    ] {
        let key = key(alg);
        cases.push((
            format!("{name}-pkcs8"),
            ca.client_cert(name, &key, Validity::Current),
            key.serialize_pem(),
        ));
        if alg != &PKCS_ED25519 {
            let sec1 = pem_encode("EC PRIVATE KEY", &sec1_from_pkcs8(&key.serialize_der()));
            cases.push((
                format!("{name}-sec1"),
                ca.client_cert(name, &key, Validity::Current),
                sec1,
            ));
        }
    }
    for (case, cert, key_pem) in cases {
        let tls = ClientTls::from_pem(cert.as_bytes(), &secret(key_pem))
            .unwrap_or_else(|e| panic!("{case}: {e}"))
            .add_root_pem(ca.pem.as_bytes())
            .expect("root")
            .with_native_roots(false);
        let body = get(tls.https_connector().expect("connector"), &server.url()).await;
        assert!(
            body.unwrap_or_else(|e| panic!("{case}: {e}"))
                .starts_with("hello "),
            "{case}"
        );
    }
}

#[tokio::test]
async fn accepts_a_pkcs1_rsa_key_generated_by_openssl() {
    // ring cannot generate RSA keys; OpenSSL writes PKCS#1 with `-traditional`.
    let dir = tempfile::tempdir().expect("tempdir");
    let pkcs1 = dir.path().join("rsa.pem");
    let pkcs8 = dir.path().join("rsa8.pem");
    let openssl = |args: &[&str]| std::process::Command::new("openssl").args(args).output();
    match openssl(&[
        "genrsa",
        "-traditional",
        "-out",
        pkcs1.to_str().expect("utf-8"),
        "2048",
    ]) {
        Ok(out) if out.status.success() => {}
        other => {
            eprintln!(
                "SKIPPED accepts_a_pkcs1_rsa_key_generated_by_openssl: no usable `openssl` ({other:?})"
            );
            return;
        }
    }
    let out = openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        pkcs1.to_str().expect("utf-8"),
        "-out",
        pkcs8.to_str().expect("utf-8"),
    ])
    .expect("openssl pkcs8");
    assert!(out.status.success(), "{out:?}");
    let rsa = KeyPair::from_pkcs8_pem_and_sign_algo(
        &std::fs::read_to_string(&pkcs8).expect("read"),
        &rcgen::PKCS_RSA_SHA256,
    )
    .expect("rsa key");
    assert!(
        std::fs::read_to_string(&pkcs1)
            .expect("read")
            .contains("BEGIN RSA PRIVATE KEY")
    );

    let ca = TestCa::new("Test CA");
    let server = TestServer::start(&ca, &ca).await;
    let cert = dir.path().join("client.pem");
    std::fs::write(&cert, ca.client_cert("rsa-client", &rsa, Validity::Current)).expect("write");
    let tls = ClientTls::from_pem_files(&cert, &pkcs1)
        .expect("PKCS#1 key")
        .add_root_pem(ca.pem.as_bytes())
        .expect("root")
        .with_native_roots(false);
    let body = get(tls.https_connector().expect("connector"), &server.url()).await;
    assert_eq!(body.expect("200"), "hello rsa-client");
}

#[tokio::test]
async fn sends_the_whole_chain_when_issued_by_an_intermediate() {
    let root = TestCa::new("Root CA");
    let intermediate = root.intermediate("Issuing CA");
    let server = TestServer::start(&root, &root).await;
    let key = key(&PKCS_ECDSA_P256_SHA256);
    let chain = intermediate.client_cert("client-b", &key, Validity::Current) + &intermediate.pem;

    let tls = ClientTls::from_pem(chain.as_bytes(), &secret(key.serialize_pem()))
        .expect("identity")
        .add_root_pem(root.pem.as_bytes())
        .expect("root")
        .with_native_roots(false);
    assert!(format!("{tls:?}").contains("certificates: 2"), "{tls:?}");
    let body = get(tls.https_connector().expect("connector"), &server.url()).await;
    assert_eq!(body.expect("200"), "hello client-b");
}

#[tokio::test]
async fn no_client_certificate_is_reported_as_required() {
    let ca = TestCa::new("Test CA");
    let server = TestServer::start(&ca, &ca).await;
    let config = raw_config()
        .with_root_certificates(roots(&ca))
        .with_no_client_auth();

    let err = get(raw_connector(config), &server.url())
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
    let ca = TestCa::new("Test CA");
    let other = TestCa::new("Other CA");
    let server = TestServer::start(&ca, &ca).await;
    let tls = client_tls(&other, &key(&PKCS_ECDSA_P256_SHA256), &ca);

    let err = failed_get(tls.https_connector().expect("connector"), &server.url()).await;
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
    let ca = TestCa::new("Test CA");
    let other = TestCa::new("Other CA");
    let server = TestServer::start_with(&ca, &ca, &[&rustls::version::TLS12]).await;
    let tls = client_tls(&other, &key(&PKCS_ECDSA_P256_SHA256), &ca);

    let err = get(tls.https_connector().expect("connector"), &server.url())
        .await
        .expect_err("must fail");
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
    let ca = TestCa::new("Test CA");
    let key = key(&PKCS_ECDSA_P256_SHA256);
    let cert = ca.client_cert("old-client", &key, Validity::Expired);

    let err =
        ClientTls::from_pem(cert.as_bytes(), &secret(key.serialize_pem())).expect_err("expired");
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
    let ca = TestCa::new("Test CA");
    let server = TestServer::start(&ca, &ca).await;
    let key = key(&PKCS_ECDSA_P256_SHA256);
    let cert = ca.client_cert("old-client", &key, Validity::Expired);
    let chain =
        vec![rustls::pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).expect("pem")];
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes())
        .expect("key");
    let config = raw_config()
        .with_root_certificates(roots(&ca))
        .with_client_auth_cert(chain, key)
        .expect("config");

    let err = get(raw_connector(config), &server.url())
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
    let ca = TestCa::new("Test CA");
    let cert = ca.client_cert("client-a", &key(&PKCS_ECDSA_P256_SHA256), Validity::Current);
    let other_key = key(&PKCS_ECDSA_P256_SHA256);

    let err = ClientTls::from_pem(cert.as_bytes(), &secret(other_key.serialize_pem()))
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
    let ca = TestCa::new("Test CA");
    let other = TestCa::new("Other CA");
    let server = TestServer::start(&ca, &ca).await;
    let tls = client_tls(&ca, &key(&PKCS_ECDSA_P256_SHA256), &other);

    let err = get(tls.https_connector().expect("connector"), &server.url())
        .await
        .expect_err("must fail");
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
    let ca = TestCa::new("Test CA");
    let tls = client_tls(&ca, &key(&PKCS_ECDSA_P256_SHA256), &ca);
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
