//! End-to-end tests of the `tower-auth` binary for token-based methods: OAuth 2.0 grants,
//! `login`, JWT bearer assertions, and their diagnoses.

mod common;

use std::path::PathBuf;

use auth_test_support::demo;
use common::{CANARY, Fixture, tower_auth, write_config};

fn oauth_config(fixture: &Fixture) -> PathBuf {
    fixture.config(
        "oauth.toml",
        &format!(
            r#"
[connections.billing]
base_url = "{{base}}"
check = {{ path = "/whoami" }}

[connections.billing.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{token_url}"
client_id = "{client_id}"
client_secret = {{ env = "DEMO_CLIENT_SECRET" }}
scopes = "read,write"
"#,
            token_url = fixture.provider.token_url(),
            client_id = demo::CLIENT_ID,
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_connections_fetch_a_token_and_pass_the_check() {
    let fixture = Fixture::new().await;
    let config = oauth_config(&fixture);
    let config = config.to_str().expect("utf8");
    let envs = [("DEMO_CLIENT_SECRET", demo::CLIENT_SECRET)];
    let run = tower_auth(&["-c", config, "check"], &envs).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains(
            "✓ billing  GET /whoami → 200  (oauth2 client_credentials, token expires in 59m)"
        ),
        "{}",
        run.stdout
    );
    let run = tower_auth(&["-c", config, "token", "billing"], &envs).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("type:       Bearer"), "{}", run.stdout);
    assert!(run.stdout.contains("expires in: 59m"), "{}", run.stdout);
    assert!(
        run.stdout.contains("scopes:     read write"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("demo-at-"),
        "the token is shown only with --show"
    );
    let run = tower_auth(&["-c", config, "token", "billing", "--show"], &envs).await;
    assert_eq!(run.code, 0);
    assert!(run.stdout.trim().starts_with("demo-at-"), "{}", run.stdout);
    assert_eq!(run.stdout.trim().lines().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_secret_is_diagnosed_as_invalid_client() {
    let fixture = Fixture::new().await;
    let config = oauth_config(&fixture);
    let envs = [("DEMO_CLIENT_SECRET", CANARY)];
    let run = tower_auth(&["-c", config.to_str().expect("utf8"), "check"], &envs).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stdout
            .contains("✗ billing  token endpoint: invalid_client (unknown client or wrong secret)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("hint: check the client id and secret, and the client authentication method"),
        "{}",
        run.stdout
    );
    let run = tower_auth(
        &[
            "-c",
            config.to_str().expect("utf8"),
            "check",
            "--format",
            "json",
        ],
        &envs,
    )
    .await;
    let results: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(results[0]["stage"], "token");
    assert_eq!(results[0]["error_kind"], "InvalidClient");
    assert!(!run.all().contains(CANARY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_follows_the_printed_url_and_later_commands_use_the_stored_refresh_token() {
    use auth_test_support::token_server::{AcceptAuth, TokenServer};
    use std::io::{BufRead, BufReader};

    let server = TokenServer::builder()
        .client("cli", None)
        .accept(AcceptAuth::Public)
        .start()
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let store = dir.path().join("store").join("calendar.json");
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[connections.calendar]
base_url = "{base}"

[connections.calendar.auth]
type = "oauth2"
grant = "authorization_code"
auth_url = "{auth_url}"
token_url = "{token_url}"
client_id = "cli"
client_auth = "none"
redirect_uri = "http://127.0.0.1:{port}/callback"
scopes = ["calendar.read", "offline_access"]
token_store = "{store}"
"#,
            base = server.base_url(),
            auth_url = server.authorize_url(),
            token_url = server.token_url(),
            store = store.display(),
        ),
    );

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tower-auth"))
        .args(["-c", &config, "login", "calendar", "--no-browser"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn login");
    let stdout = child.stdout.take().expect("stdout");
    let (url, rest) = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().expect("a line").expect("utf8");
        let url = first
            .strip_prefix("Open this URL to sign in: ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_owned();
        (url, lines)
    })
    .await
    .expect("join");
    assert!(
        url.contains("code_challenge_method=S256") && url.contains("state="),
        "{url}"
    );

    // Play the browser: the authorization endpoint redirects to the CLI's loopback listener.
    let client = auth_test_support::client();
    let get = |uri: String| {
        let client = client.clone();
        async move {
            let request = http::Request::get(uri)
                .body(http_body_util::Full::<bytes::Bytes>::default())
                .expect("request");
            client.request(request).await.expect("response")
        }
    };
    let redirect = get(url).await;
    assert_eq!(redirect.status(), 302);
    let location = redirect.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        location.starts_with(&format!("http://127.0.0.1:{port}/callback?")),
        "{location}"
    );
    let page = get(location).await;
    assert_eq!(page.status(), 200);

    let (status, rest) = tokio::task::spawn_blocking(move || {
        let rest: Vec<String> = rest.map_while(Result::ok).collect();
        (child.wait().expect("wait"), rest)
    })
    .await
    .expect("join");
    assert!(status.success(), "login failed: {rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.starts_with("✓ calendar  signed in (refresh token stored")),
        "{rest:?}"
    );
    assert!(store.exists(), "the refresh token was stored");

    // A later command refreshes from the stored token: no browser.
    let before = server.fetches();
    let run = tower_auth(&["-c", &config, "token", "calendar"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("refresh:    yes"), "{}", run.stdout);
    assert_eq!(server.fetches(), before + 1, "one refresh-token request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_connections_sign_assertions_from_a_key_file() {
    use auth_test_support::keys::TestKey;

    let fixture = Fixture::new().await;
    let key = TestKey::es256_sec1();
    fixture
        .provider
        .register_jwt_key("svc@example.iam", key.public.clone());
    let key_file = fixture.secret_file("key.pem", &key.private_pem);
    let config = fixture.config(
        "jwt.toml",
        &format!(
            r#"
[connections.partner]
base_url = "{{base}}"
check = {{ path = "/whoami" }}

[connections.partner.auth]
type = "jwt_bearer"
token_url = "{token_url}"
issuer = "svc@example.iam"
private_key = {{ file = "{key_file}" }}
algorithm = "ES256"
key_id = "k1"
"#,
            token_url = fixture.provider.token_url(),
        ),
    );
    let run = tower_auth(&["-c", config.to_str().expect("utf8"), "check"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout
            .contains("✓ partner  GET /whoami → 200  (jwt bearer assertion"),
        "{}",
        run.stdout
    );
    let secret_line = key.private_pem.lines().nth(1).expect("a base64 line");
    let show = tower_auth(
        &["-c", config.to_str().expect("utf8"), "config", "show"],
        &[],
    )
    .await;
    assert!(!show.all().contains(secret_line), "{}", show.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_scope_and_invalid_grant_get_their_own_hints() {
    use auth_test_support::token_server::{Fault, TokenServer};

    let server = TokenServer::builder()
        .client("cli", Some("cli-secret"))
        .user("alice", "right-password")
        .start()
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[connections.scoped]
base_url = "{base}"
[connections.scoped.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{token_url}"
client_id = "cli"
client_secret = {{ env = "CLI_SECRET" }}
scopes = "admin"

[connections.user]
base_url = "{base}"
[connections.user.auth]
type = "oauth2"
grant = "password"
token_url = "{token_url}"
client_id = "cli"
client_secret = {{ env = "CLI_SECRET" }}
username = "alice"
password = {{ env = "USER_PASSWORD" }}
"#,
            base = server.base_url(),
            token_url = server.token_url(),
        ),
    );
    let envs = [
        ("CLI_SECRET", "cli-secret"),
        ("USER_PASSWORD", "wrong-password"),
    ];

    server.push_fault(Fault::json(
        400,
        serde_json::json!({ "error": "invalid_scope", "error_description": "scope admin is not allowed" }),
    ));
    let run = tower_auth(&["-c", &config, "check", "scoped"], &envs).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stdout
            .contains("✗ scoped  token endpoint: invalid_scope (scope admin is not allowed)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("hint: a requested scope is not allowed"),
        "{}",
        run.stdout
    );

    let run = tower_auth(&["-c", &config, "check", "user", "--format", "json"], &envs).await;
    assert_eq!(run.code, 1, "{}", run.all());
    let results: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(results[0]["stage"], "token", "{results}");
    assert_eq!(results[0]["error_kind"], "InvalidGrant", "{results}");
    assert!(
        results[0]["hint"]
            .as_str()
            .expect("hint")
            .contains("user credentials may be wrong"),
        "{results}"
    );
    assert!(!run.all().contains("wrong-password") && !run.all().contains("cli-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_basic_none_and_jwt_connections_are_diagnosed() {
    use auth_test_support::keys::TestKey;

    let fixture = Fixture::new().await;
    let registered = TestKey::es256();
    let other = TestKey::es256();
    fixture
        .provider
        .register_jwt_key("svc@example.iam", registered.public.clone());
    let wrong_password = fixture.secret_file("wrong", "not-the-password");
    let other_key = fixture.secret_file("other.pem", &other.private_pem);
    let config = fixture.config(
        "failing.toml",
        &format!(
            r#"
[connections.basic]
base_url = "{{base}}"
check = {{ path = "/whoami" }}
auth = {{ type = "basic", username = "{user}", password = {{ file = "{wrong_password}" }} }}

[connections.open]
base_url = "{{base}}"
check = {{ path = "/whoami" }}
auth = {{ type = "none" }}

[connections.partner]
base_url = "{{base}}"
check = {{ path = "/whoami" }}
[connections.partner.auth]
type = "jwt_bearer"
token_url = "{token_url}"
issuer = "svc@example.iam"
private_key = {{ file = "{other_key}" }}
"#,
            user = demo::BASIC_USER,
            token_url = fixture.provider.token_url(),
        ),
    );
    let run = tower_auth(
        &[
            "-c",
            config.to_str().expect("utf8"),
            "check",
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.all());
    let results: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let by_name = |n: &str| {
        results
            .as_array()
            .expect("array")
            .iter()
            .find(|r| r["connection"] == n)
            .unwrap_or_else(|| panic!("{n} missing"))
            .clone()
    };
    let basic = by_name("basic");
    assert_eq!(basic["stage"], "check", "{basic}");
    assert_eq!(basic["status"], 401, "{basic}");
    assert!(
        basic["error"].as_str().expect("error").contains("Basic"),
        "{basic}"
    );
    let open = by_name("open");
    assert_eq!(open["stage"], "check", "{open}");
    assert!(
        open["error"]
            .as_str()
            .expect("error")
            .contains("no credential"),
        "{open}"
    );
    let partner = by_name("partner");
    assert_eq!(partner["stage"], "token", "{partner}");
    assert!(
        partner["hint"].as_str().is_some_and(|h| !h.is_empty()),
        "{partner}"
    );
    assert!(!run.all().contains("not-the-password"));
}
