//! `ClientTls::without_certificate`: only CA roots, for a server behind a private CA that asks
//! for no client certificate.

use auth_core::ErrorKind;
use auth_test_support::{
    pki::Pki,
    tls::{ClientCerts, TlsApiServer},
};

use super::{get, hello, server_requiring_certificates};
use crate::tls::{ClientTls, TlsFailure, classify_transport_error};

fn trusting(ca: &Pki) -> ClientTls {
    ClientTls::without_certificate()
        .add_root_pem(ca.ca_pem().as_bytes())
        .expect("valid root")
        .with_native_roots(false)
}

#[tokio::test]
async fn connects_to_a_server_whose_ca_was_added() {
    let ca = Pki::with_ca_name("Private CA");
    let server = TlsApiServer::start(&ca, ClientCerts::None).await;

    let body = hello(&trusting(&ca), &server).await;
    // No client certificate, so no CN.
    assert_eq!(body.expect("200"), "hello ");

    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.ca_pem()).expect("write");
    let from_file = ClientTls::without_certificate()
        .add_root_pem_file(&ca_file)
        .expect("root file")
        .with_native_roots(false);
    let body = hello(&from_file, &server).await;
    assert_eq!(body.expect("200"), "hello ");
}

#[tokio::test]
async fn a_server_from_a_ca_not_added_is_untrusted() {
    let ca = Pki::with_ca_name("Private CA");
    let other = Pki::with_ca_name("Other CA");
    let server = TlsApiServer::start(&ca, ClientCerts::None).await;

    let err = hello(&trusting(&other), &server)
        .await
        .expect_err("must fail");
    assert_eq!(
        TlsFailure::find(&*err),
        Some(TlsFailure::ServerCertificateUntrusted)
    );
    let err = classify_transport_error(&*err);
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(
        err.to_string()
            .contains("the server's certificate is not trusted"),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_requiring_a_client_certificate_reports_none_was_sent() {
    let ca = Pki::with_ca_name("Private CA");
    let server = server_requiring_certificates(&ca).await;

    let err = hello(&trusting(&ca), &server).await.expect_err("must fail");
    assert_eq!(
        TlsFailure::find(&*err),
        Some(TlsFailure::ClientCertificateRequired)
    );
}

#[tokio::test]
async fn https_only_by_default_and_plain_http_when_allowed() {
    let ca = Pki::with_ca_name("Private CA");
    let err = get(
        trusting(&ca).https_connector().expect("connector"),
        "http://127.0.0.1:9/",
    )
    .await
    .expect_err("refused");
    assert!(TlsFailure::find(&*err).is_none());
    // Allowed, plain http reaches the (closed) port: a connect error, not a TLS one.
    let err = get(
        trusting(&ca)
            .https_only(false)
            .https_connector()
            .expect("connector"),
        "http://127.0.0.1:9/",
    )
    .await
    .expect_err("nothing listens");
    let client_err = err
        .downcast_ref::<hyper_util::client::legacy::Error>()
        .expect("client error");
    assert!(client_err.is_connect(), "{err:?}");
}

#[test]
fn has_certificate_and_debug_say_whether_one_is_presented() {
    let ca = Pki::with_ca_name("Private CA");
    let roots_only = trusting(&ca);
    assert!(!roots_only.has_certificate());
    let debug = format!("{roots_only:?}");
    assert!(debug.contains("client_certificate: none"), "{debug}");
    assert!(debug.contains("extra_roots: 1"), "{debug}");
    assert!(!debug.contains("private_key"), "{debug}");

    let client = ca.issue_client("client-a");
    let with_cert =
        ClientTls::from_pem(client.cert_pem.as_bytes(), &client.key_secret()).expect("identity");
    assert!(with_cert.has_certificate());
    let debug = format!("{with_cert:?}");
    assert!(debug.contains("certificates: 1"), "{debug}");
    assert!(!debug.contains("client_certificate: none"), "{debug}");
}

#[test]
fn the_rustls_config_offers_no_client_certificate() {
    let config = trusting(&Pki::with_ca_name("Private CA"))
        .build_rustls_config()
        .expect("config");
    assert!(!config.client_auth_cert_resolver.has_certs());
}

#[test]
fn no_root_at_all_is_a_config_error_at_build() {
    let err = ClientTls::without_certificate()
        .with_native_roots(false)
        .https_connector()
        .expect_err("no roots");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("no trusted CA root"), "{err}");
}
