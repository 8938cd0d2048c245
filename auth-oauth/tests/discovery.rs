//! `Discovery` against metadata served in-process on 127.0.0.1: both well-known addresses,
//! the issuer check, bad documents, caching, and picking the client-authentication method.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use auth_core::{ErrorKind, TokenSource};
use auth_oauth::{ClientCredentials, Discovery, TokenHttpClient, TokenParams, Url};
use auth_test_support::{client, token_server::TokenServer};
use axum::{
    Router,
    extract::State,
    http::{StatusCode, Uri},
};
use serde_json::{Map, Value, json};
use tokio::{net::TcpListener, task::JoinHandle};

#[path = "discovery/methods.rs"]
mod methods;

#[derive(Default)]
struct Shared {
    /// path → (status, content type, body)
    documents: Mutex<HashMap<String, (u16, &'static str, String)>>,
    /// path → requests received
    hits: Mutex<HashMap<String, usize>>,
    delay: Mutex<Duration>,
}

/// Serves whatever documents a test sets, at any path; 404 elsewhere.
struct MetadataServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MetadataServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let shared = Arc::new(Shared::default());
        let app = Router::new().fallback(serve).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    /// `http://127.0.0.1:<port>` followed by `path` (e.g. `""` or `"/realms/main"`).
    fn issuer(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn set(&self, path: &str, status: u16, content_type: &'static str, body: impl Into<String>) {
        lock(&self.shared.documents).insert(path.to_owned(), (status, content_type, body.into()));
    }

    fn set_json(&self, path: &str, body: Value) {
        self.set(path, 200, "application/json", body.to_string());
    }

    fn hits(&self, path: &str) -> usize {
        lock(&self.shared.hits).get(path).copied().unwrap_or(0)
    }

    fn total_hits(&self) -> usize {
        lock(&self.shared.hits).values().sum()
    }
}

impl Drop for MetadataServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
) -> (StatusCode, [(http::HeaderName, &'static str); 1], String) {
    *lock(&shared.hits).entry(uri.path().to_owned()).or_default() += 1;
    let delay = *lock(&shared.delay);
    tokio::time::sleep(delay).await;
    let document = lock(&shared.documents).get(uri.path()).cloned();
    let (status, content_type, body) =
        document.unwrap_or((404, "text/plain", "not found".to_owned()));
    (
        StatusCode::from_u16(status).expect("status"),
        [(http::header::CONTENT_TYPE, content_type)],
        body,
    )
}

const RFC_8414: &str = "/.well-known/oauth-authorization-server";
const OIDC: &str = "/.well-known/openid-configuration";

fn http() -> TokenHttpClient {
    TokenHttpClient::from_service(client())
}

fn discovery() -> Discovery {
    Discovery::with_http_client(http())
}

/// A metadata document for `issuer` with a token endpoint under it.
fn document(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oauth/token"),
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
        "grant_types_supported": ["client_credentials", "authorization_code"],
        "scopes_supported": ["read", "write"],
        "code_challenge_methods_supported": ["S256"],
        "jwks_uri": format!("{issuer}/jwks"),
    })
}

#[tokio::test]
async fn rfc_8414_metadata_is_read_and_cached_per_issuer() {
    let server = MetadataServer::start().await;
    let issuer = server.issuer("");
    server.set_json(RFC_8414, document(&issuer));
    let discovery = discovery();
    let metadata = discovery.discover(&issuer).await.expect("metadata");
    assert_eq!(metadata.issuer(), issuer);
    assert_eq!(
        metadata.token_endpoint().as_str(),
        format!("{issuer}/oauth/token")
    );
    assert_eq!(
        metadata.authorization_endpoint().map(Url::as_str),
        Some(format!("{issuer}/oauth/authorize").as_str())
    );
    assert_eq!(metadata.source().path(), RFC_8414);
    assert!(metadata.supports_grant("client_credentials"));
    assert!(!metadata.supports_grant("password"));
    assert_eq!(
        metadata.token_endpoint_auth_methods_supported(),
        Some(
            &[
                "client_secret_post".to_owned(),
                "private_key_jwt".to_owned()
            ][..]
        )
    );
    assert_eq!(
        metadata.code_challenge_methods_supported(),
        Some(&["S256".to_owned()][..])
    );
    assert_eq!(
        metadata.get("jwks_uri"),
        Some(&json!(format!("{issuer}/jwks")))
    );

    let again = discovery.discover(&issuer).await.expect("cached metadata");
    assert!(Arc::ptr_eq(&metadata, &again));
    // A clone shares the cache.
    let clone = discovery.clone();
    clone.discover(&issuer).await.expect("cached metadata");
    assert_eq!(server.hits(RFC_8414), 1);
    assert_eq!(server.total_hits(), 1);
}

#[tokio::test]
async fn the_openid_configuration_is_the_fallback() {
    let server = MetadataServer::start().await;
    let issuer = server.issuer("/realms/main");
    server.set_json(&format!("/realms/main{OIDC}"), document(&issuer));
    let metadata = discovery().discover(&issuer).await.expect("metadata");
    assert_eq!(metadata.source().path(), format!("/realms/main{OIDC}"));
    assert_eq!(
        server.hits(&format!("{RFC_8414}/realms/main")),
        1,
        "RFC 8414 first"
    );
    assert_eq!(server.hits(&format!("/realms/main{OIDC}")), 1);

    // An issuer without a path: the OIDC document at the root.
    let server = MetadataServer::start().await;
    let issuer = server.issuer("");
    server.set_json(OIDC, document(&issuer));
    server.set(RFC_8414, 200, "text/html", "<html>single-page app</html>");
    let metadata = discovery().discover(&issuer).await.expect("metadata");
    assert_eq!(metadata.source().path(), OIDC);
}

#[tokio::test]
async fn rfc_8414_metadata_appended_to_a_path_issuer_is_found_last() {
    let server = MetadataServer::start().await;
    let issuer = server.issuer("/tenant");
    server.set_json(&format!("/tenant{RFC_8414}"), document(&issuer));
    let metadata = discovery().discover(&issuer).await.expect("metadata");
    assert_eq!(metadata.source().path(), format!("/tenant{RFC_8414}"));
    assert_eq!(server.total_hits(), 3);
}

#[tokio::test]
async fn metadata_for_another_issuer_is_rejected_naming_both() {
    let server = MetadataServer::start().await;
    let issuer = server.issuer("");
    let mut doc = document(&issuer);
    doc["issuer"] = json!("https://impostor.example.com");
    server.set_json(RFC_8414, doc);
    let discovery = discovery();
    let err = discovery.discover(&issuer).await.expect_err("mismatch");
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = err.to_string();
    assert!(text.contains("issuer: the metadata at"), "{text}");
    assert!(
        text.contains(&format!(
            "is for issuer `https://impostor.example.com`, not `{issuer}`"
        )),
        "{text}"
    );

    // Identical means identical: a trailing slash is a different issuer.
    server.set_json(RFC_8414, document(&format!("{issuer}/")));
    let err = discovery
        .discover(&issuer)
        .await
        .expect_err("trailing slash");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("trailing slash"), "{err}");
    assert_eq!(server.hits(RFC_8414), 2, "failures are not cached");
}

#[tokio::test]
async fn bad_documents_are_typed_errors() {
    let server = MetadataServer::start().await;
    let issuer = server.issuer("");
    let discovery = discovery();

    let mut doc = document(&issuer);
    doc.as_object_mut()
        .expect("object")
        .remove("token_endpoint");
    server.set_json(RFC_8414, doc);
    let err = discovery
        .discover(&issuer)
        .await
        .expect_err("no token_endpoint");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("has no `token_endpoint`"), "{err}");

    let mut doc = document(&issuer);
    doc["token_endpoint"] = json!("http://auth.example.com/token");
    server.set_json(RFC_8414, doc);
    let err = discovery
        .discover(&issuer)
        .await
        .expect_err("plain http token endpoint");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string()
            .contains("token_endpoint (from the metadata at"),
        "{err}"
    );
    assert!(err.to_string().contains("is not loopback"), "{err}");

    let mut doc = document(&issuer);
    doc["grant_types_supported"] = json!("client_credentials");
    server.set_json(RFC_8414, doc);
    let err = discovery.discover(&issuer).await.expect_err("wrong type");
    assert_eq!(err.kind(), ErrorKind::MalformedResponse);
    assert!(
        err.to_string()
            .contains("`grant_types_supported` is not a list of strings"),
        "{err}"
    );

    server.set(RFC_8414, 200, "text/html", "<html>Sign in</html>");
    server.set(OIDC, 200, "application/json", "[1, 2]");
    let err = discovery.discover(&issuer).await.expect_err("not JSON");
    assert_eq!(err.kind(), ErrorKind::MalformedResponse);
    assert!(
        err.to_string().contains("content type `text/html`"),
        "{err}"
    );
    assert!(err.to_string().contains("<html>Sign in</html>"), "{err}");

    server.set(RFC_8414, 503, "text/plain", "down");
    server.set(OIDC, 404, "text/plain", "nothing here");
    let err = discovery.discover(&issuer).await.expect_err("server error");
    assert_eq!(err.kind(), ErrorKind::TokenEndpoint);
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert!(err.is_transient());
}

#[tokio::test]
async fn no_document_at_any_address_is_a_config_error_listing_them() {
    let server = MetadataServer::start().await;
    let issuer = server.issuer("/nowhere");
    let err = discovery()
        .discover(&issuer)
        .await
        .expect_err("404 everywhere");
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = err.to_string();
    assert!(
        text.contains(&format!("no metadata for `{issuer}`")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{RFC_8414}/nowhere`: HTTP 404")),
        "{text}"
    );
    assert!(
        text.contains(&format!("/nowhere{OIDC}`: HTTP 404")),
        "{text}"
    );
    assert_eq!(server.total_hits(), 3);
}

#[tokio::test]
async fn transport_errors_and_redirects_name_the_metadata_endpoint_not_the_token_endpoint() {
    let server = MetadataServer::start().await;
    server.set(RFC_8414, 307, "text/plain", "moved");
    let err = discovery()
        .discover(&server.issuer(""))
        .await
        .expect_err("redirect refused");
    assert_eq!(err.status(), Some(StatusCode::TEMPORARY_REDIRECT));
    let text = err.to_string();
    assert!(
        text.contains(
            "the authorization server metadata endpoint redirected to an unknown location; \
             requests to the authorization server never follow redirects: set the issuer to \
             the final address"
        ),
        "{text}"
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    let err = discovery()
        .discover(&format!("http://{addr}"))
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Transport);
    let text = err.to_string();
    assert!(
        text.contains(
            "sending the request failed (authorization server metadata endpoint `127.0.0.1`)"
        ),
        "{text}"
    );
    assert!(!text.contains("token"), "{text}");
}

#[tokio::test]
async fn bad_issuers_are_config_errors_before_any_request() {
    let discovery = discovery();
    for (issuer, expected) in [
        ("not a url", "issuer: `not a url` is not a URL"),
        (
            "http://auth.example.com",
            "issuer: `http://auth.example.com` is not loopback",
        ),
        ("ftp://auth.example.com", "issuer: unsupported scheme `ftp`"),
        (
            "https://auth.example.com/?tenant=1",
            "issuer: must not contain a query",
        ),
        (
            "https://auth.example.com/#x",
            "issuer: must not contain a fragment",
        ),
    ] {
        let err = discovery.discover(issuer).await.expect_err(issuer);
        assert_eq!(err.kind(), ErrorKind::Config, "{issuer}");
        assert!(err.to_string().contains(expected), "{issuer}: {err}");
    }
}

#[tokio::test]
async fn concurrent_lookups_fetch_once_and_the_ttl_bounds_reuse() {
    let server = MetadataServer::start().await;
    let issuer = server.issuer("");
    server.set_json(RFC_8414, document(&issuer));
    *lock(&server.shared.delay) = Duration::from_millis(100);
    let discovery = discovery();
    let lookups = (0..5).map(|_| discovery.discover(&issuer));
    for result in futures_util::future::join_all(lookups).await {
        result.expect("metadata");
    }
    assert_eq!(server.hits(RFC_8414), 1);

    discovery.forget(&issuer);
    discovery.discover(&issuer).await.expect("metadata");
    assert_eq!(server.hits(RFC_8414), 2, "forget drops the cached document");

    let uncached = discovery.clone().ttl(Duration::ZERO);
    uncached.discover(&issuer).await.expect("metadata");
    uncached.discover(&issuer).await.expect("metadata");
    assert_eq!(server.hits(RFC_8414), 4, "a zero TTL reads every time");
}

#[tokio::test]
async fn a_discovered_endpoint_issues_tokens() {
    let tokens = TokenServer::builder().start().await;
    let server = MetadataServer::start().await;
    let issuer = server.issuer("");
    let mut doc = Map::new();
    doc.insert("issuer".into(), json!(issuer));
    doc.insert("token_endpoint".into(), json!(tokens.token_url()));
    doc.insert(
        "token_endpoint_auth_methods_supported".into(),
        json!(["client_secret_post"]),
    );
    server.set_json(OIDC, Value::Object(doc));
    let discovery = discovery();
    let metadata = discovery.discover(&issuer).await.expect("metadata");
    let endpoint = metadata
        .token_endpoint_builder(
            discovery.http_client(),
            "client-id",
            Some("client-secret".into()),
        )
        .expect("builder")
        .build()
        .expect("endpoint");
    let grant = ClientCredentials::new(endpoint, TokenParams::new()).expect("grant");
    grant.token().await.expect("token");
    let request = tokens.last_request();
    assert_eq!(request.field("client_secret"), Some("client-secret"));
    assert!(
        request.basic.is_none(),
        "client_secret_post, as the metadata says"
    );
}
