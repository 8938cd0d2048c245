//! End-to-end tests of the `tower-auth` binary against a real third-party OAuth 2.0 server,
//! the npm package `oauth2-mock-server` (test-support's [`MockServer`]; Node and `npm ci` are
//! required: without them these tests fail with a message saying so, they are never skipped).

mod common;

use std::{
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex, PoisonError},
};

use auth_test_support::oauth2_mock_server::MockServer;
use axum::{Json, Router, extract::State, http::HeaderMap, http::StatusCode, routing::get};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use common::{CANARY, tower_auth};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};

const CLIENT_ID: &str = "interop-cli";
const CLIENT_SECRET: &str = "interop-s3cret";

/// The claims of a JWT, without checking its signature; `None` when it is not a JWT.
fn jwt_claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// An API that accepts a bearer token only when it is a JWT issued by `issuer`, and records
/// the claims of every token it accepted.
struct IssuerApi {
    addr: SocketAddr,
    accepted: Arc<Mutex<Vec<Value>>>,
    task: JoinHandle<()>,
}

impl Drop for IssuerApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct ApiState {
    issuer: String,
    accepted: Arc<Mutex<Vec<Value>>>,
}

impl IssuerApi {
    async fn start(issuer: String) -> IssuerApi {
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let state = ApiState {
            issuer,
            accepted: accepted.clone(),
        };
        let app = Router::new()
            .route("/whoami", get(whoami))
            .with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        IssuerApi {
            addr,
            accepted,
            task,
        }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    fn accepted(&self) -> Vec<Value> {
        self.accepted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn whoami(State(state): State<ApiState>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    let claims = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(jwt_claims)
        .filter(|claims| claims["iss"] == state.issuer.as_str());
    match claims {
        Some(claims) => {
            let sub = claims["sub"].clone();
            state
                .accepted
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(claims);
            (StatusCode::OK, Json(json!({ "sub": sub })))
        }
        None => (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "not a token of the mock server" })),
        ),
    }
}

/// `mock`: client credentials at the mock server; `mock_refresh`: a refresh-token grant with
/// a refresh token the server never issued; `mock_discovered`: client credentials with the
/// token endpoint found through the server's OpenID Connect discovery document.
fn write_config(dir: &Path, server: &MockServer, api: &IssuerApi) -> String {
    let body = format!(
        r#"
[connections.mock]
base_url = "{api}"
check = {{ path = "/whoami" }}

[connections.mock.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{token_url}"
client_id = "{CLIENT_ID}"
client_secret = {{ env = "MOCK_CLIENT_SECRET" }}
scopes = "read write"

[connections.mock_refresh]
base_url = "{api}"
check = {{ path = "/whoami" }}

[connections.mock_refresh.auth]
type = "oauth2"
grant = "refresh_token"
token_url = "{token_url}"
client_id = "{CLIENT_ID}"
client_secret = {{ env = "MOCK_CLIENT_SECRET" }}
refresh_token = {{ env = "MOCK_REFRESH_TOKEN" }}

[connections.mock_discovered]
base_url = "{api}"
check = {{ path = "/whoami" }}

[connections.mock_discovered.auth]
type = "oauth2"
grant = "client_credentials"
issuer = "{issuer}"
client_id = "{CLIENT_ID}"
client_secret = {{ env = "MOCK_CLIENT_SECRET" }}
scopes = "read"
"#,
        api = api.base_url(),
        token_url = server.url("/token"),
        issuer = server.issuer(),
    );
    common::write_config(dir, &body)
}

const ENVS: &[(&str, &str)] = &[
    ("MOCK_CLIENT_SECRET", CLIENT_SECRET),
    ("MOCK_REFRESH_TOKEN", CANARY),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_from_the_mock_server_pass_the_check() {
    let server = MockServer::start().await;
    let api = IssuerApi::start(server.issuer()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &server, &api);

    let run = tower_auth(&["-c", &config, "check", "mock"], ENVS).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.stdout,
        "✓ mock  GET /whoami → 200  (oauth2 client_credentials, token expires in 59m)\n"
    );
    let accepted = api.accepted();
    assert_eq!(
        accepted.len(),
        1,
        "the API got one token of the mock server"
    );
    assert_eq!(accepted[0]["scope"], "read write");

    // What the mock server understood: the grant, the scopes, and Basic client credentials
    // (client_auth `auto` tries Basic first).
    let seen = server.token_requests(1).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["form"]["grant_type"], "client_credentials");
    assert_eq!(seen[0]["form"]["scope"], "read write");
    assert_eq!(seen[0]["basic"]["name"], CLIENT_ID);
    assert_eq!(seen[0]["basic"]["pass"], CLIENT_SECRET);

    let run = tower_auth(&["-c", &config, "check", "mock", "--format", "json"], ENVS).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let results: Value = serde_json::from_str(&run.stdout).expect("JSON output");
    assert_eq!(results[0]["connection"], "mock");
    assert_eq!(results[0]["ok"], true);
    assert_eq!(results[0]["status"], 200);
    assert_eq!(results[0]["stage"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_describes_and_shows_the_mock_servers_jwt() {
    let server = MockServer::start().await;
    let api = IssuerApi::start(server.issuer()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &server, &api);

    let run = tower_auth(&["-c", &config, "token", "mock"], ENVS).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.stdout,
        "connection: mock\n\
         type:       Bearer\n\
         expires in: 59m\n\
         scopes:     read write\n\
         refresh:    no\n"
    );

    let run = tower_auth(&["-c", &config, "token", "mock", "--show"], ENVS).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let token = run.stdout.strip_suffix('\n').expect("one line");
    assert!(!token.contains('\n'), "{}", run.stdout);
    let claims = jwt_claims(token).unwrap_or_else(|| panic!("not a JWT: {token}"));
    assert_eq!(claims["iss"], server.issuer(), "issued by the mock server");
    assert_eq!(claims["scope"], "read write");
    assert_eq!(server.token_requests(2).await.len(), 2);
    assert!(api.accepted().is_empty(), "`token` does not call the API");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_the_mock_server_never_issued_is_invalid_grant() {
    let server = MockServer::start().await;
    let api = IssuerApi::start(server.issuer()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &server, &api);
    let hint = "the refresh token or authorization code may be expired, revoked or already used, \
                the user credentials may be wrong, or the redirect URI may not match the one \
                registered";

    let run = tower_auth(&["-c", &config, "check", "mock_refresh"], ENVS).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(
        run.stdout,
        format!(
            "✗ mock_refresh  token endpoint: invalid_grant (refresh token spent or unknown)\n  \
             hint: {hint}\n"
        )
    );
    let seen = server.token_requests(1).await;
    assert_eq!(seen[0]["form"]["grant_type"], "refresh_token");
    assert_eq!(
        seen[0]["form"]["refresh_token"], CANARY,
        "the server got the configured refresh token"
    );

    let run = tower_auth(
        &["-c", &config, "check", "mock_refresh", "--format", "json"],
        ENVS,
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.all());
    let results: Value = serde_json::from_str(&run.stdout).expect("JSON output");
    assert_eq!(results[0]["ok"], false);
    assert_eq!(results[0]["stage"], "token");
    assert_eq!(results[0]["error_kind"], "InvalidGrant");
    assert_eq!(results[0]["hint"], hint);

    let run = tower_auth(&["-c", &config, "token", "mock_refresh"], ENVS).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(
        run.stderr,
        format!(
            "error: token endpoint: invalid_grant (refresh token spent or unknown)\nhint: {hint}\n"
        )
    );
    assert!(api.accepted().is_empty(), "no request reached the API");
    for run in [
        run,
        tower_auth(&["-c", &config, "check"], ENVS).await,
        tower_auth(&["-c", &config, "config", "show"], ENVS).await,
    ] {
        assert!(!run.all().contains(CANARY), "canary leaked:\n{}", run.all());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_is_discovered_from_the_mock_servers_metadata() {
    let server = MockServer::start().await;
    let api = IssuerApi::start(server.issuer()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &server, &api);

    let run = tower_auth(&["-c", &config, "check", "mock_discovered"], ENVS).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.stdout,
        "✓ mock_discovered  GET /whoami → 200  (oauth2 client_credentials, token expires in 59m)\n"
    );
    let accepted = api.accepted();
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert_eq!(accepted[0]["scope"], "read");
    assert_eq!(accepted[0]["iss"], server.issuer().as_str());
}
