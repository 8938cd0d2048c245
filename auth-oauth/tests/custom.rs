//! `CustomTokenRequest` against an in-process login endpoint and API on 127.0.0.1: the request
//! is sent exactly as configured, odd answers are normalized, the token is placed where asked,
//! and caching, refresh and retry-on-401 work as for every other source.

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use auth_core::{
    AuthError, CacheConfig, CachedTokenSource, ErrorKind, ExposeSecret, SecretString, TokenSource,
};
use auth_layers::TokenLayer;
use auth_oauth::{
    KeyMap, OAuth2Layer, TokenHttpClient,
    custom::{CustomTokenRequest, CustomTokenRequestBuilder, Template, TokenPlacement},
};
use auth_test_support::{client, redirect::RedirectServer};
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    routing::{any, get},
};
use http::Request;
use http_body_util::Full;
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};
use tower::{ServiceBuilder, ServiceExt};

const CANARY: &str = "CANARY-c4n4ry-5ecret-7f3a9c";

/// What the login endpoint answers to login number `n` (from 1): status, content type, body.
type Answer = Box<dyn Fn(usize) -> (u16, &'static str, String) + Send + Sync>;

/// One login request as received.
#[derive(Debug, Clone)]
struct Login {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Login {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

struct Shared {
    answer: Answer,
    logins: Mutex<Vec<Login>>,
    /// Tokens the API accepts.
    valid: Mutex<HashSet<String>>,
    /// The header the API reads, and the prefix it expects before the token.
    api_header: &'static str,
    api_prefix: &'static str,
    api_calls: AtomicUsize,
}

/// A login endpoint (`/login`, any method) and an API (`/api`) that accepts the tokens the
/// login endpoint issued, in one header with one prefix.
struct LoginServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LoginServer {
    /// Issues `tok-{n}` as `{"access_token": …, "expires_in": 3600}`.
    async fn start() -> Self {
        Self::answering(|n| {
            (
                200,
                "application/json",
                json!({"access_token": format!("tok-{n}"), "expires_in": 3600}).to_string(),
            )
        })
        .await
    }

    async fn answering(
        answer: impl Fn(usize) -> (u16, &'static str, String) + Send + Sync + 'static,
    ) -> Self {
        Self::with_api(answer, "authorization", "Bearer").await
    }

    async fn with_api(
        answer: impl Fn(usize) -> (u16, &'static str, String) + Send + Sync + 'static,
        api_header: &'static str,
        api_prefix: &'static str,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let shared = Arc::new(Shared {
            answer: Box::new(answer),
            logins: Mutex::new(Vec::new()),
            valid: Mutex::new(HashSet::new()),
            api_header,
            api_prefix,
            api_calls: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/login", any(login))
            .route("/api", get(api))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn logins(&self) -> Vec<Login> {
        lock(&self.shared.logins).clone()
    }

    fn login_count(&self) -> usize {
        lock(&self.shared.logins).len()
    }

    fn revoke_tokens(&self) {
        lock(&self.shared.valid).clear();
    }
}

impl Drop for LoginServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn login(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(http::HeaderName, &'static str); 1], String) {
    let n = {
        let mut logins = lock(&shared.logins);
        logins.push(Login {
            method,
            uri,
            headers,
            body,
        });
        logins.len()
    };
    let (status, content_type, body) = (shared.answer)(n);
    // Whatever token the answer carries, wherever it is, becomes valid at the API.
    if let Ok(value) = serde_json::from_str::<Value>(&body) {
        for token in [value.pointer("/access_token"), value.pointer("/data/token")]
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            lock(&shared.valid).insert(token.to_owned());
        }
    }
    (
        StatusCode::from_u16(status).expect("status"),
        [(http::header::CONTENT_TYPE, content_type)],
        body,
    )
}

async fn api(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> StatusCode {
    shared.api_calls.fetch_add(1, Ordering::SeqCst);
    let Some(value) = headers.get(shared.api_header).and_then(|v| v.to_str().ok()) else {
        return StatusCode::UNAUTHORIZED;
    };
    let token = if shared.api_prefix.is_empty() {
        Some(value)
    } else {
        value
            .strip_prefix(shared.api_prefix)
            .and_then(|rest| rest.strip_prefix(' '))
    };
    match token {
        Some(token) if lock(&shared.valid).contains(token) => StatusCode::OK,
        _ => StatusCode::UNAUTHORIZED,
    }
}

fn http() -> TokenHttpClient {
    TokenHttpClient::from_service(client())
}

fn post(server: &LoginServer) -> CustomTokenRequestBuilder {
    CustomTokenRequest::post(server.url("/login")).http_client(http())
}

fn get_request(url: &str) -> Request<Full<Bytes>> {
    Request::get(url).body(Full::default()).expect("request")
}

#[tokio::test]
async fn a_json_body_with_placeholders_and_a_secret_is_sent_exactly() {
    let server = LoginServer::start().await;
    let source = post(&server)
        .header("X-Account", "{{account}}")
        .header("X-Api-Key", Template::text("Key {{key}}"))
        .query_param("tenant", "{{account}}")
        .json_field("username", "{{account}}/alice")
        .json_field("password", Template::secret("p@ss \"word\""))
        .json_field("client.id", Template::literal("{{literal}}"))
        .json_field("client.version", 2)
        .json_field("remember", true)
        .value("account", "acme")
        .secret_value("key", "k3y")
        .build()
        .expect("valid request");
    let token = source.token().await.expect("token");
    assert_eq!(token.header_value(), "Bearer tok-1");
    assert_eq!(token.secret().expose_secret(), "tok-1");

    let login = &server.logins()[0];
    assert_eq!(login.method, Method::POST);
    assert_eq!(login.uri.path(), "/login");
    assert_eq!(login.uri.query(), Some("tenant=acme"));
    assert_eq!(login.headers["content-type"], "application/json");
    assert_eq!(login.headers["accept"], "application/json");
    assert_eq!(login.headers["x-account"], "acme");
    assert_eq!(login.headers["x-api-key"], "Key k3y");
    assert_eq!(
        login.json(),
        json!({
            "username": "acme/alice",
            "password": "p@ss \"word\"",
            "client": {"id": "{{literal}}", "version": 2},
            "remember": true,
        })
    );
}

#[tokio::test]
async fn a_form_body_is_form_encoded() {
    let server = LoginServer::start().await;
    let source = CustomTokenRequest::builder(http::Method::PUT, server.url("/login"))
        .http_client(http())
        .form_field("user", "{{user}}")
        .form_field("password", Template::secret("a&b=c d+é"))
        .value("user", "alice@example.com")
        .build()
        .expect("valid request");
    source.token().await.expect("token");
    let login = &server.logins()[0];
    assert_eq!(login.method, Method::PUT);
    assert_eq!(
        login.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        &login.body[..],
        b"user=alice%40example.com&password=a%26b%3Dc+d%2B%C3%A9"
    );
}

#[tokio::test]
async fn a_non_standard_response_is_read_with_the_key_map() {
    let server = LoginServer::answering(|n| {
        (
            200,
            "application/json",
            json!({"data": {"token": format!("nested-{n}"), "ttl": "3600"}, "ok": true})
                .to_string(),
        )
    })
    .await;
    let source = post(&server)
        .json_field("user", "alice")
        .key_map(
            KeyMap::default()
                .access_token("data.token")
                .and_then(|m| m.expires_in("data.ttl"))
                .expect("key map"),
        )
        .build()
        .expect("valid request");
    let token = source.token().await.expect("token");
    assert_eq!(token.header_value(), "Bearer nested-1");
    let lifetime = token
        .expires_at()
        .expect("expires_at from the string ttl")
        .saturating_duration_since(tokio::time::Instant::now());
    assert!(
        lifetime > Duration::from_secs(3590) && lifetime <= Duration::from_secs(3600),
        "{lifetime:?}"
    );
}

#[tokio::test]
async fn a_custom_header_with_an_empty_prefix_reaches_the_api() {
    let server = LoginServer::with_api(
        |n| {
            (
                200,
                "application/json",
                json!({"access_token": format!("sess-{n}")}).to_string(),
            )
        },
        "x-session",
        "",
    )
    .await;
    let source = post(&server)
        .json_field("user", "alice")
        .send_in_header("X-Session", "")
        .build()
        .expect("valid request");
    assert_eq!(
        source.placement(),
        &TokenPlacement::header("x-session", Some("")).expect("placement")
    );
    let api = ServiceBuilder::new()
        .layer(source.into_layer().expect("header placement"))
        .service(client());
    for _ in 0..3 {
        let response = api
            .clone()
            .oneshot(get_request(&server.url("/api")))
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(server.login_count(), 1, "the token is cached");
}

#[tokio::test]
async fn oauth2_layer_wraps_a_custom_request_too() {
    let server = LoginServer::with_api(
        |n| {
            (
                200,
                "application/json",
                json!({"access_token": format!("t-{n}")}).to_string(),
            )
        },
        "x-token",
        "Token",
    )
    .await;
    let source = post(&server)
        .send_in_header("X-Token", "Token")
        .build()
        .expect("valid request");
    let placement = source.placement().clone();
    let layer = OAuth2Layer::new(CachedTokenSource::new(source)).map_token_layer(|layer| {
        placement
            .apply_to(layer)
            .expect("a header placement applies")
    });
    let response = ServiceBuilder::new()
        .layer(layer)
        .service(client())
        .oneshot(get_request(&server.url("/api")))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_expired_token_is_fetched_again() {
    let server = LoginServer::answering(|n| {
        (
            200,
            "application/json",
            json!({"access_token": format!("tok-{n}"), "expires_in": "1"}).to_string(),
        )
    })
    .await;
    let source = post(&server).build().expect("valid request");
    let config = CacheConfig::default()
        .skew(Duration::ZERO)
        .proactive_refresh(false);
    let api = ServiceBuilder::new()
        .layer(TokenLayer::new(CachedTokenSource::with_config(
            source, config,
        )))
        .service(client());
    let call = || async {
        api.clone()
            .oneshot(get_request(&server.url("/api")))
            .await
            .expect("response")
            .status()
    };
    assert_eq!(call().await, StatusCode::OK);
    assert_eq!(call().await, StatusCode::OK);
    assert_eq!(server.login_count(), 1);
    // A real second: the API and the login endpoint run on real sockets, and tokio's paused
    // clock would skip ahead while the runtime waits for them.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(call().await, StatusCode::OK);
    assert_eq!(server.login_count(), 2);
}

#[tokio::test]
async fn a_401_from_the_api_logs_in_again_and_retries_once() {
    let server = LoginServer::start().await;
    let source = post(&server).build().expect("valid request");
    let api = ServiceBuilder::new()
        .layer(TokenLayer::new(CachedTokenSource::new(source)))
        .service(client());
    let call = || async {
        api.clone()
            .oneshot(get_request(&server.url("/api")))
            .await
            .expect("response")
            .status()
    };
    assert_eq!(call().await, StatusCode::OK);
    server.revoke_tokens();
    assert_eq!(call().await, StatusCode::OK);
    assert_eq!(server.login_count(), 2);
    assert_eq!(server.shared.api_calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn errors_in_a_200_body_and_html_answers_are_typed_errors() {
    let server =
        LoginServer::answering(|n| {
            match n {
        1 => (
            200,
            "application/json",
            json!({"error": "invalid_grant", "error_description": "wrong password"}).to_string(),
        ),
        2 => (
            200,
            "application/json",
            json!({"data": null, "err": {"code": "invalid_client", "message": "unknown account"}})
                .to_string(),
        ),
        _ => (200, "text/html", "<html><body>Sign in</body></html>".to_owned()),
    }
        })
        .await;
    let standard = post(&server).build().expect("valid request");
    let err = standard.token().await.expect_err("error with 200");
    assert_eq!(err.kind(), ErrorKind::InvalidGrant);
    assert_eq!(err.status(), Some(StatusCode::OK));
    assert!(err.to_string().contains("wrong password"), "{err}");

    let mapped = post(&server)
        .key_map(
            KeyMap::default()
                .access_token("data.token")
                .and_then(|m| m.error("err.code"))
                .and_then(|m| m.set("error_description", "err.message"))
                .expect("key map"),
        )
        .build()
        .expect("valid request");
    let err = mapped.token().await.expect_err("mapped error with 200");
    assert_eq!(err.kind(), ErrorKind::InvalidClient);
    assert!(err.to_string().contains("unknown account"), "{err}");

    let err = standard.token().await.expect_err("html");
    assert_eq!(err.kind(), ErrorKind::MalformedResponse);
    assert!(err.to_string().contains("text/html"), "{err}");
}

#[tokio::test]
async fn an_unknown_placeholder_is_a_config_error_naming_it_and_where_it_is_used() {
    let server = LoginServer::start().await;
    let err = post(&server)
        .json_field("username", "{{acount}}")
        .value("account", "acme")
        .build()
        .expect_err("unknown placeholder");
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = err.to_string();
    assert!(
        text.contains("JSON field `username`: unknown placeholder `{{acount}}` (values: account;"),
        "{text}"
    );
    assert_eq!(server.login_count(), 0);
}

#[tokio::test]
async fn query_placement_sends_the_bare_token_in_the_parameter() {
    let server = LoginServer::start().await;
    let source = post(&server)
        .send_in_query("api_token")
        .build()
        .expect("valid request");
    assert_eq!(source.placement().query_parameter(), Some("api_token"));
    assert_eq!(source.placement().header_name(), None);
    let layer = source.into_layer().expect("query placement is supported");
    let api = tower::service_fn(|req: http::Request<String>| async move {
        assert!(req.headers().get("authorization").is_none());
        Ok::<_, std::convert::Infallible>(http::Response::new(req.uri().to_string()))
    });
    let uri = tower::ServiceBuilder::new()
        .layer(layer)
        .service(api)
        .oneshot(
            http::Request::get("https://api.example/data?a=1&api_token=old")
                .body(String::new())
                .expect("request"),
        )
        .await
        .expect("response")
        .into_body();
    assert_eq!(uri, "https://api.example/data?a=1&api_token=tok-1");
}

#[tokio::test]
async fn redirects_and_plain_http_are_refused_like_for_any_token_request() {
    let server = LoginServer::answering(|_| (200, "application/json", "{}".to_owned())).await;
    let err = CustomTokenRequest::post("http://auth.example.com/login")
        .http_client(http())
        .build()
        .expect_err("plain http off loopback");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        CustomTokenRequest::post("http://auth.example.com/login")
            .http_client(http())
            .allow_insecure_http(true)
            .build()
            .is_ok()
    );
    let redirecting = RedirectServer::start(server.url("/login")).await;
    let source = CustomTokenRequest::post(redirecting.url("/login").to_string())
        .http_client(http())
        .build()
        .expect("valid request");
    let err = source
        .token()
        .await
        .expect_err("a redirect is not followed");
    assert_eq!(err.kind(), ErrorKind::TokenEndpoint);
    assert_eq!(server.login_count(), 0);
}

#[track_caller]
fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(CANARY),
        "{what} leaks the canary secret: {text}"
    );
}

#[tokio::test]
async fn the_secret_password_never_shows_in_debug_display_or_errors() {
    // The server echoes the request body under a name the generic scrubbing does not know.
    let server = LoginServer::answering(|n| match n {
        1 => (
            400,
            "application/json",
            json!({"error": "invalid_request", "error_description": format!("bad login: pw={CANARY}")})
                .to_string(),
        ),
        2 => (403, "text/plain", format!("denied for p {CANARY}")),
        _ => (200, "application/json", json!({"access_token": CANARY}).to_string()),
    })
    .await;
    let builder = post(&server)
        .json_field("user", "alice")
        .json_field("password", Template::secret(CANARY))
        .header("X-Key", "{{key}}")
        .secret_value("key", CANARY);
    assert_clean("builder Debug", &format!("{builder:?} {builder:#?}"));
    let source = builder.build().expect("valid request");
    assert_clean("request Debug", &format!("{source:?} {source:#?}"));
    for _ in 0..2 {
        let err = source.token().await.expect_err("error answer");
        assert_clean("error Display", &err.to_string());
        assert_clean("error Debug", &format!("{err:?}"));
    }
    let token = source.token().await.expect("token");
    assert_clean("token Debug", &format!("{token:?}"));
    let cached = CachedTokenSource::new(source.clone());
    let layer = source.clone().into_layer().expect("layer");
    assert_clean("layer Debug", &format!("{layer:?} {cached:?}"));

    let err = post(&server)
        .json_field("password", Template::secret(CANARY))
        .header("X-Key", "{{key}}\n")
        .secret_value("key", SecretString::from(CANARY))
        .build()
        .expect_err("a line break in a header");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_clean("config error", &err.to_string());
    let _: &dyn std::error::Error = &err as &AuthError;
}
