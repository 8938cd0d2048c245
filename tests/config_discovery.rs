//! `issuer` in a configured OAuth 2.0 connection: the endpoints come from the issuer's metadata
//! (RFC 8414), found on the first token request, against servers on 127.0.0.1.
#![cfg(all(feature = "config", feature = "oauth2"))]

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use auth_core::{AuthError, ErrorKind};
use axum::{
    Form, Json, Router,
    extract::State,
    http::HeaderMap,
    routing::{get, post},
};
use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::Full;
use serde_json::{Value, json};
use tower::{BoxError, ServiceBuilder, ServiceExt};
use tower_auth::config::{Config, ConnectionLayer, Format};

const SECRET: &str = "disc-s3cret";

/// An issuer on 127.0.0.1: metadata (or a 500 when `broken`), a token endpoint that records how
/// the client authenticated, and an API accepting the token it issues.
#[derive(Clone, Default)]
struct Issuer {
    base: Arc<Mutex<String>>,
    broken: bool,
    metadata_hits: Arc<AtomicUsize>,
    token_hits: Arc<AtomicUsize>,
    methods: Arc<Mutex<Vec<&'static str>>>,
    dir: Arc<Option<tempfile::TempDir>>,
}

impl Issuer {
    async fn start(broken: bool) -> Issuer {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("secret"), format!("{SECRET}\n")).expect("write");
        let issuer = Issuer {
            broken,
            dir: Arc::new(Some(dir)),
            ..Issuer::default()
        };
        let app = Router::new()
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/token", post(token))
            .route("/api/whoami", get(whoami))
            .with_state(issuer.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        *issuer.base.lock().expect("lock") = format!("http://{addr}");
        issuer
    }

    fn base(&self) -> String {
        self.base.lock().expect("lock").clone()
    }

    fn layer(&self, client_auth: &str) -> Result<ConnectionLayer, String> {
        let config = Config::from_str(
            &format!(
                r#"
[connections.billing]
base_url = "{base}/api"
[connections.billing.auth]
type = "oauth2"
grant = "client_credentials"
issuer = "{base}"
client_id = "billing"
client_secret = {{ file = "{secret}" }}
client_auth = "{client_auth}"
"#,
                base = self.base(),
                secret = (*self.dir)
                    .as_ref()
                    .expect("dir")
                    .path()
                    .join("secret")
                    .display(),
            ),
            Format::Toml,
        )
        .map_err(|e| e.to_string())?;
        config
            .connection("billing", None)
            .map_err(|e| e.to_string())?
            .layer()
            .map_err(|e| e.to_string())
    }

    async fn call(&self, layer: &ConnectionLayer) -> Result<StatusCode, BoxError> {
        let client = ServiceBuilder::new()
            .layer(layer.clone())
            .service(auth_test_support::client());
        let request = Request::get(format!("{}/api/whoami", self.base()))
            .body(Full::<Bytes>::default())
            .expect("request");
        client.oneshot(request).await.map(|r| r.status())
    }
}

async fn metadata(State(issuer): State<Issuer>) -> (StatusCode, Json<Value>) {
    issuer.metadata_hits.fetch_add(1, Ordering::SeqCst);
    if issuer.broken {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": "down" })),
        );
    }
    let base = issuer.base();
    (
        StatusCode::OK,
        Json(json!({
            "issuer": base,
            "token_endpoint": format!("{base}/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
            "grant_types_supported": ["client_credentials"],
        })),
    )
}

async fn token(
    State(issuer): State<Issuer>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> (StatusCode, Json<Value>) {
    issuer.token_hits.fetch_add(1, Ordering::SeqCst);
    let in_body = form
        .iter()
        .any(|(k, v)| k == "client_secret" && v == SECRET);
    let in_header = headers.contains_key(header::AUTHORIZATION);
    issuer
        .methods
        .lock()
        .expect("lock")
        .push(match (in_header, in_body) {
            (false, true) => "body",
            (true, false) => "basic",
            _ => "other",
        });
    if !in_body {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_client" })),
        );
    }
    (
        StatusCode::OK,
        Json(json!({ "access_token": "disc-at", "token_type": "Bearer", "expires_in": 3600 })),
    )
}

async fn whoami(headers: HeaderMap) -> StatusCode {
    match headers.get(header::AUTHORIZATION) {
        Some(v) if v == "Bearer disc-at" => StatusCode::OK,
        _ => StatusCode::UNAUTHORIZED,
    }
}

#[tokio::test]
async fn the_issuer_is_discovered_on_first_use_and_picks_the_auth_method() {
    let issuer = Issuer::start(false).await;
    let layer = issuer.layer("auto").expect("layer");
    assert_eq!(
        issuer.metadata_hits.load(Ordering::SeqCst),
        0,
        "building the layer sends nothing"
    );
    for _ in 0..3 {
        assert_eq!(issuer.call(&layer).await.expect("response"), StatusCode::OK);
    }
    assert_eq!(issuer.metadata_hits.load(Ordering::SeqCst), 1);
    assert_eq!(issuer.token_hits.load(Ordering::SeqCst), 1);
    // The issuer lists only client_secret_post: `auto` sends the secret in the body at once,
    // without a first Basic attempt.
    assert_eq!(*issuer.methods.lock().expect("lock"), vec!["body"]);
}

#[tokio::test]
async fn a_failing_issuer_is_a_typed_error_and_is_not_asked_again_before_the_backoff() {
    let issuer = Issuer::start(true).await;
    let layer = issuer.layer("auto").expect("layer");
    for _ in 0..3 {
        let error = issuer.call(&layer).await.expect_err("no token");
        let error = error
            .downcast_ref::<AuthError>()
            .unwrap_or_else(|| panic!("an AuthError, got {error}"));
        assert_eq!(error.kind(), ErrorKind::TokenEndpoint, "{error}");
        assert!(!error.to_string().contains(SECRET));
    }
    assert_eq!(
        issuer.metadata_hits.load(Ordering::SeqCst),
        1,
        "asked once, then the cache backs off"
    );
    assert_eq!(issuer.token_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn settings_are_checked_before_discovery() {
    let issuer = Issuer::start(false).await;
    let error = issuer.layer("private_key_jwt").expect_err("no key");
    assert!(
        error.contains("connections.billing.auth.private_key: missing"),
        "{error}"
    );
    let error = issuer.layer("kerberos").expect_err("unknown method");
    assert!(
        error.contains("connections.billing.auth.client_auth"),
        "{error}"
    );
    assert_eq!(issuer.metadata_hits.load(Ordering::SeqCst), 0);
}
