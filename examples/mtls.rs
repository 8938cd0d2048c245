//! Mutual TLS with a client certificate, offline.
//!
//! Takes a CA, a server certificate and client certificates from the test PKI (generated at run
//! time; no key ever touches the disk), starts an HTTPS server on 127.0.0.1 that requires a
//! client certificate issued by that CA, and calls it with hyper-util clients built from
//! `ClientTls`: once with the right certificate (200), once with a certificate from another CA,
//! whose rejection is turned into a readable error. Exits non-zero if either step goes
//! differently.
//!
//! Run it with `cargo run --example mtls --features tls`.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use auth_test_support::{
    pki::Pki,
    tls::{ClientCerts, TlsApiServer},
};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tower::BoxError;
use tower_auth::layers::tls::{ClientTls, classify_transport_error};

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
    // The setup: a CA, and a server with its certificate that requires client certificates.
    let pki = Pki::with_ca_name("Example CA");
    let server = TlsApiServer::start(&pki, ClientCerts::Required).await;
    let url = server.url("/hello");
    println!("server on {url}, requiring a client certificate issued by `Example CA`");

    // In an application: ClientTls::from_pem_files("client.crt", "client.key")?
    let client_cert = pki.issue_client("billing-service");
    let tls = ClientTls::from_pem(client_cert.cert_pem.as_bytes(), &client_cert.key_secret())?
        .add_root_pem(pki.ca_pem().as_bytes())?
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

    let stranger = Pki::with_ca_name("Some Other CA").issue_client("billing-service");
    let tls = ClientTls::from_pem(stranger.cert_pem.as_bytes(), &stranger.key_secret())?
        .add_root_pem(pki.ca_pem().as_bytes())?
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
