//! Connections built from configuration, end to end against servers on 127.0.0.1.
#![cfg(all(feature = "config", feature = "oauth2"))]

use auth_test_support::login_server::{LoginServer, Reply};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::json;
use tower::{ServiceBuilder, ServiceExt};
use tower_auth::config::{Config, Format};

#[tokio::test]
async fn a_custom_login_from_config_fetches_once_and_sends_the_mapped_token() {
    let server = LoginServer::builder()
        .api_header("X-Session", "")
        // The placeholder was filled and the secret read from its file (newline trimmed).
        .accept_json(json!({ "user": "acme-bot", "password": "s3cr3t" }))
        .default_answer(|_| {
            let body = json!({ "data": { "token": "session-1", "ttl": "3600" } });
            Reply::json(StatusCode::OK, body)
        })
        .start()
        .await;
    let base = server.base_url();
    let dir = tempfile::tempdir().expect("tempdir");
    let password = dir.path().join("password");
    std::fs::write(&password, "s3cr3t\n").expect("write");
    let config = Config::from_str(
        &format!(
            r#"
[connections.vendor]
base_url = "{base}/api"
[connections.vendor.auth]
type = "custom"
header = "X-Session"
prefix = ""
values = {{ account = "acme" }}
key_map = {{ access_token = "data.token", expires_in = "data.ttl" }}
request = {{ method = "POST", url = "{base}/login", json = {{ user = "{{{{account}}}}-bot", password = {{ file = "{password}" }} }} }}
"#,
            password = password.display()
        ),
        Format::Toml,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let layer = config
        .connection("vendor", None)
        .expect("spec")
        .layer()
        .unwrap_or_else(|e| panic!("{e}"));
    let client = ServiceBuilder::new()
        .layer(layer)
        .service(auth_test_support::client());
    for _ in 0..3 {
        let request = Request::get(format!("{base}/api/me"))
            .body(Full::<Bytes>::default())
            .expect("request");
        let response = client.clone().oneshot(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(server.login_count(), 1, "one login for three requests");
}

#[tokio::test]
async fn oauth2_connections_from_config_use_the_token_endpoint() {
    use auth_test_support::demo::{self, DemoProvider};
    let provider = DemoProvider::start(std::time::Duration::from_secs(3600))
        .await
        .expect("provider");
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, demo::CLIENT_SECRET).expect("write");
    let config = Config::from_str(
        &format!(
            r#"
[connections.billing]
base_url = "{api}"
[connections.billing.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{token_url}"
client_id = "{id}"
client_secret = {{ file = "{secret}" }}
client_auth = "body"
scopes = "read,write"
"#,
            api = provider.url("/api"),
            token_url = provider.token_url(),
            id = demo::CLIENT_ID,
            secret = secret.display(),
        ),
        Format::Toml,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let layer = config
        .connection("billing", None)
        .expect("spec")
        .layer()
        .expect("layer");
    let client = ServiceBuilder::new()
        .layer(layer)
        .service(auth_test_support::client());
    let request = Request::get(provider.url("/api/whoami"))
        .body(Full::<Bytes>::default())
        .expect("request");
    let response = client.oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(provider.token_fetches(), 1);
}

/// A connection's `timeout` bounds its token requests too (the token client's own default is
/// 30 s): a token endpoint that never answers fails after it, not after 30 s.
#[tokio::test]
async fn the_connection_timeout_bounds_token_requests() {
    use auth_test_support::token_server::{Fault, TokenServer};
    use std::time::Duration;
    use tower_auth::ErrorKind;

    let server = TokenServer::builder()
        .client("c1", Some("s3cret-value"))
        .start()
        .await;
    server.push_fault(Fault::Hang);
    let config = Config::from_str(
        &format!(
            r#"
[connections.slow]
base_url = "http://127.0.0.1:1"
timeout = "500ms"
[connections.slow.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{token_url}"
client_id = "c1"
client_secret = "s3cret-value"
"#,
            token_url = server.token_url(),
        ),
        Format::Toml,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let layer = config
        .connection("slow", None)
        .expect("spec")
        .layer()
        .expect("layer");
    let source = layer.token_source().expect("a token connection").clone();
    let error = tokio::time::timeout(Duration::from_secs(20), source.token())
        .await
        .expect("the token request ends well before the token client's own 30 s")
        .expect_err("the endpoint never answers");
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
}
