//! Connections built from configuration, end to end against servers on 127.0.0.1.
#![cfg(all(feature = "config", feature = "oauth2"))]

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{
    Json, Router,
    http::HeaderMap,
    routing::{get, post},
};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use tower::{ServiceBuilder, ServiceExt};
use tower_auth::config::{Config, Format};

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_custom_login_from_config_fetches_once_and_sends_the_mapped_token() {
    let logins = Arc::new(AtomicUsize::new(0));
    let counter = logins.clone();
    let login = post(move |Json(body): Json<Value>| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            // The placeholder was filled and the secret read from its file (newline trimmed).
            if body != json!({ "user": "acme-bot", "password": "s3cr3t" }) {
                return (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({ "error": "invalid_client" })),
                );
            }
            (
                StatusCode::OK,
                Json(json!({ "data": { "token": "session-1", "ttl": "3600" } })),
            )
        }
    });
    let api = get(|headers: HeaderMap| async move {
        match headers.get("x-session").and_then(|v| v.to_str().ok()) {
            Some("session-1") => StatusCode::OK,
            _ => StatusCode::UNAUTHORIZED,
        }
    });
    let base = serve(Router::new().route("/login", login).route("/api/me", api)).await;
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
    assert_eq!(
        logins.load(Ordering::SeqCst),
        1,
        "one login for three requests"
    );
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
