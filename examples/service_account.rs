//! The JWT bearer grant from a Google-style service-account key file, offline.
//!
//! Generates a key pair at run time (EC P-256 with ring; Google's own files hold RSA keys,
//! which work the same way), writes a service-account JSON file to a temporary directory,
//! registers the public key with the quickstart's embedded provider, and builds the client
//! with one line, `OAuth2Layer::service_account(path)`. Each token request carries a freshly
//! signed assertion (`iss` = the service account, `aud` = the token URL, scopes in the `scope`
//! claim); the provider verifies it with the public key. It then shows what a broken key file
//! reports. Prints a transcript and exits non-zero if any step goes differently.
//!
//! Run it with `cargo run --example service_account`.
#![allow(clippy::print_stdout)]

use std::{process::ExitCode, time::Duration};

use auth_test_support::{demo::DemoProvider, keys::TestKey};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde_json::json;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
use tower_auth::OAuth2Layer;

const EMAIL: &str = "reporting-robot@demo-project.iam.gserviceaccount.com";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => {
            println!("\nall steps behaved as expected");
            ExitCode::SUCCESS
        }
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            println!("FAIL the example stopped early: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<bool, BoxError> {
    let mut ok = true;
    let provider = DemoProvider::start(Duration::from_secs(300)).await?;
    println!("embedded provider on {}", provider.url(""));

    // What a cloud console hands out: a JSON file with the private key. Generated here.
    let key = TestKey::es256();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("service-account.json");
    let file = json!({
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": "5c3d0e2a9b",
        "private_key": key.private_pem,
        "client_email": EMAIL,
        "token_uri": provider.token_url(),
    });
    std::fs::write(&path, serde_json::to_string_pretty(&file)?)?;
    provider.register_jwt_key(EMAIL, key.public.clone());
    println!("key file written to {}", path.display());

    let oauth = OAuth2Layer::service_account(&path)
        .scopes("reports.read")
        .build()?;
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut api = ServiceBuilder::new().layer(oauth).service(client);

    for call in 1..=3 {
        let request = Request::get(provider.url("/api/whoami")).body(Full::default())?;
        let response = api.ready().await?.call(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        let body = String::from_utf8_lossy(&body);
        let good = status == StatusCode::OK && body.contains("oauth2 token");
        ok &= good;
        println!(
            "{} call {call}: GET /api/whoami -> {status} {body}",
            if good { "ok  " } else { "FAIL" }
        );
    }
    let fetches = provider.token_fetches();
    ok &= fetches == 1;
    println!(
        "{} token requests: {fetches} (one signed assertion; the token is cached)",
        if fetches == 1 { "ok  " } else { "FAIL" }
    );

    // A key file without its `client_email`: a config error naming the file and the field.
    let mut broken = file.clone();
    if let Some(fields) = broken.as_object_mut() {
        fields.remove("client_email");
    }
    let broken_path = dir.path().join("broken.json");
    std::fs::write(&broken_path, broken.to_string())?;
    match OAuth2Layer::service_account(&broken_path).build() {
        Err(error) => {
            println!("ok   a broken key file is refused:\n       {error}");
        }
        Ok(_) => {
            ok = false;
            println!("FAIL a key file without client_email was accepted");
        }
    }
    Ok(ok)
}
