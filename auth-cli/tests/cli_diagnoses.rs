//! End-to-end tests of the `tower-auth` binary's diagnoses: `custom` token requests, a 403
//! from the API, and TLS (untrusted server certificates, extra CA roots, client certificates),
//! against in-process servers on 127.0.0.1.

mod common;

use std::path::Path;

use auth_test_support::login_server::{LoginServer, Reply};
use axum::http::StatusCode;
use common::{CANARY, Run, tower_auth, write_config};
use serde_json::{Value, json};

#[path = "cli_diagnoses/tls.rs"]
mod tls;

/// The password the login endpoint accepts.
const LOGIN_PASSWORD: &str = "login-pa55word";
/// The session token it issues, sent back in `X-Session`.
const SESSION: &str = "session-7f3a";
/// The bearer token the TLS API servers require.
const TLS_TOKEN: &str = "tls-api-token";

/// A login endpoint (JSON `{username, password}` → `{data: {token, ttl}}`) and an API that
/// takes its session in `X-Session`: `/api/whoami` answers 200, `/api/admin` 403.
async fn login_api() -> LoginServer {
    LoginServer::builder()
        .api_header("X-Session", "")
        .accept(|login| {
            let body = login.json();
            login.is_json()
                && body["username"] == "acme/alice"
                && body["password"] == LOGIN_PASSWORD
        })
        // Like some real login APIs, the error echoes what it was sent: the CLI must scrub it.
        .rejection(|login| {
            let body = login.json();
            let description = format!(
                "no user {} with password {}",
                body["username"].as_str().unwrap_or_default(),
                body["password"].as_str().unwrap_or_default()
            );
            Reply::json(
                StatusCode::UNAUTHORIZED,
                json!({ "error": "invalid_client", "error_description": description }),
            )
        })
        .default_answer(|_| {
            Reply::json(
                StatusCode::OK,
                json!({ "data": { "token": SESSION, "ttl": "3600" } }),
            )
        })
        .api_reply(|path| match path {
            "/api/admin" => Reply::json(
                StatusCode::FORBIDDEN,
                json!({ "error": "insufficient_scope" }),
            ),
            _ => Reply::json(StatusCode::OK, json!({ "user": "acme/alice" })),
        })
        .start()
        .await
}

fn custom_config(dir: &Path, api: &LoginServer) -> String {
    let connection = |name: &str, check: &str| {
        format!(
            r#"
[connections.{name}]
base_url = "@BASE@"
check = {{ path = "{check}" }}

[connections.{name}.auth]
type = "custom"
header = "X-Session"
prefix = ""
values = {{ account = "acme" }}
key_map = {{ access_token = "data.token", expires_in = "data.ttl" }}
request = {{ method = "POST", url = "@LOGIN_URL@", json = {{ username = "{{{{account}}}}/alice", password = {{ env = "LOGIN_PASSWORD" }} }} }}
"#
        )
    };
    let body = [
        connection("custom", "/whoami"),
        connection("admin", "/admin"),
    ]
    .concat()
    .replace("@BASE@", &api.api_url())
    .replace("@LOGIN_URL@", &api.login_url());
    write_config(dir, &body)
}

/// `check --format json` for `names`, parsed; asserts the output is one JSON array.
async fn check_json(config: &str, names: &[&str], envs: &[(&str, &str)]) -> (Run, Vec<Value>) {
    let mut args = vec!["-c", config, "check", "--format", "json"];
    args.extend_from_slice(names);
    let run = tower_auth(&args, envs).await;
    let results: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.all()));
    let results = results.as_array().expect("a JSON array").clone();
    assert_eq!(results.len(), names.len(), "{}", run.stdout);
    (run, results)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_login_passes_the_check_and_token_describes_the_session() {
    let api = login_api().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = custom_config(dir.path(), &api);
    let envs = [("LOGIN_PASSWORD", LOGIN_PASSWORD)];

    let run = tower_auth(&["-c", &config, "check", "custom"], &envs).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.stdout,
        "✓ custom  GET /whoami → 200  (custom token request, token expires in 59m)\n"
    );
    assert_eq!(api.login_count(), 1);

    let (run, results) = check_json(&config, &["custom"], &envs).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(results[0]["ok"], true);
    assert_eq!(results[0]["stage"], Value::Null);
    assert_eq!(results[0]["status"], 200);
    assert_eq!(results[0]["error_kind"], Value::Null);

    let run = tower_auth(&["-c", &config, "token", "custom"], &envs).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.stdout,
        "connection: custom\n\
         type:       Bearer\n\
         expires in: 59m\n\
         scopes:     (not reported)\n\
         refresh:    no\n"
    );
    let run = tower_auth(&["-c", &config, "token", "custom", "--show"], &envs).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(run.stdout, format!("{SESSION}\n"));

    let run = tower_auth(
        &["-c", &config, "request", "custom", "GET", "/whoami"],
        &envs,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(run.stdout, "{\"user\":\"acme/alice\"}\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_login_with_a_wrong_password_is_diagnosed_without_echoing_it() {
    let api = login_api().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = custom_config(dir.path(), &api);
    let envs = [("LOGIN_PASSWORD", CANARY)];

    let run = tower_auth(&["-c", &config, "check", "custom"], &envs).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(
        run.stdout,
        "✗ custom  token endpoint: invalid_client (no user acme/alice with password [redacted])\n  \
         hint: check the client id and secret, and the client authentication method (Basic header vs \
         request body; try `auto`)\n"
    );
    assert!(!run.all().contains(CANARY), "canary leaked:\n{}", run.all());

    let (run, results) = check_json(&config, &["custom"], &envs).await;
    assert_eq!(run.code, 1, "{}", run.all());
    let failure = &results[0];
    assert_eq!(failure["ok"], false);
    assert_eq!(failure["stage"], "token");
    assert_eq!(failure["error_kind"], "InvalidClient");
    assert_eq!(failure["status"], Value::Null);
    assert_eq!(
        failure["hint"],
        "check the client id and secret, and the client authentication method (Basic header vs \
         request body; try `auto`)"
    );
    assert!(!run.all().contains(CANARY), "canary leaked:\n{}", run.all());

    let run = tower_auth(&["-c", &config, "token", "custom", "--show"], &envs).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: token endpoint: invalid_client (no user acme/alice with password [redacted])\n\
         hint: check the client id and secret, and the client authentication method (Basic header vs \
         request body; try `auto`)\n"
    );
    assert!(!run.all().contains(CANARY), "canary leaked:\n{}", run.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_from_the_api_points_at_scopes_and_permissions() {
    let api = login_api().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = custom_config(dir.path(), &api);
    let envs = [("LOGIN_PASSWORD", LOGIN_PASSWORD)];
    const FORBIDDEN_ERROR: &str = "the server answered 403 Forbidden: the request carried an \
        access token in the `x-session` header; the token was accepted but does not grant \
        access; requests are not retried on 403 [HTTP 403]";
    let hint = "the credential was accepted but lacks permission: check the granted scopes and \
                the account's roles";

    let run = tower_auth(&["-c", &config, "check", "admin"], &envs).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(
        run.stdout,
        format!("✗ admin  check: GET /admin → 403: {FORBIDDEN_ERROR}\n  hint: {hint}\n")
    );

    let (run, results) = check_json(&config, &["admin"], &envs).await;
    assert_eq!(run.code, 1, "{}", run.all());
    let failure = &results[0];
    assert_eq!(failure["stage"], "check");
    assert_eq!(failure["status"], 403);
    assert_eq!(failure["error_kind"], "Forbidden");
    assert_eq!(failure["hint"], hint);

    let run = tower_auth(&["-c", &config, "request", "admin", "GET", "/admin"], &envs).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(run.stdout, "{\"error\":\"insufficient_scope\"}\n");
    assert_eq!(
        run.stderr,
        format!("error: {FORBIDDEN_ERROR}\nhint: {hint}\n")
    );
}
