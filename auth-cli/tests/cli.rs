//! End-to-end tests of the `tower-auth` binary against the in-process demo provider.

use std::{path::PathBuf, process::Command, time::Duration};

use auth_test_support::demo::{self, DemoProvider};

const CANARY: &str = "CANARY-cli-5ecret-91e2";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs the binary with `args` and extra environment variables, off the async runtime.
async fn tower_auth(args: &[&str], envs: &[(&str, &str)]) -> Run {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let envs: Vec<(String, String)> = envs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let output = Command::new(env!("CARGO_BIN_EXE_tower-auth"))
            .args(&args)
            .env_remove("TOWER_AUTH_ENV")
            .env_remove("TOWER_AUTH_CONFIG")
            .envs(envs)
            .output()
            .expect("the binary runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .expect("join")
}

struct Fixture {
    provider: DemoProvider,
    dir: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Self {
        Self {
            provider: DemoProvider::start(Duration::from_secs(3600))
                .await
                .expect("provider"),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Writes `body` (with `{base}` replaced by the provider's URL) as `name`.
    fn config(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, body.replace("{base}", &self.provider.url("/api"))).expect("write");
        path
    }

    fn secret_file(&self, name: &str, value: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("{value}\n")).expect("write");
        path.display().to_string()
    }
}

fn static_config(fixture: &Fixture) -> PathBuf {
    let password_file = fixture.secret_file("password", demo::BASIC_PASSWORD);
    fixture.config(
        "tower-auth.toml",
        &format!(
            r#"
[connections.bearer]
base_url = "{{base}}"
check = {{ path = "/whoami", expect_status = [200] }}
auth = {{ type = "bearer", token = {{ env = "DEMO_BEARER" }} }}

[connections.key_header]
base_url = "{{base}}"
check = {{ path = "/whoami" }}
auth = {{ type = "api_key", key_name = "X-API-Key", key_value = {{ env = "DEMO_KEY" }} }}

[connections.key_query]
base_url = "{{base}}"
check = {{ path = "/whoami?api_key=stale" }}
auth = {{ type = "api_key", key_name = "api_key", key_value = {{ env = "DEMO_KEY" }}, location = "query" }}

[connections.basic]
base_url = "{{base}}"
check = {{ path = "/whoami" }}
auth = {{ type = "basic", username = "{user}", password = {{ file = "{password_file}" }} }}

[connections.open]
base_url = "{{base}}"
check = {{ path = "/whoami", expect_status = [401] }}
auth = {{ type = "none" }}
"#,
            user = demo::BASIC_USER,
        ),
    )
}

const GOOD_ENV: &[(&str, &str)] = &[
    ("DEMO_BEARER", demo::BEARER_TOKEN),
    ("DEMO_KEY", demo::API_KEY),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_for_every_static_method() {
    let fixture = Fixture::new().await;
    let config = static_config(&fixture);
    let run = tower_auth(&["-c", config.to_str().expect("utf8"), "check"], GOOD_ENV).await;
    assert_eq!(run.code, 0, "{}", run.all());
    for line in [
        "✓ bearer      GET /whoami → 200  (bearer token in Authorization)",
        "✓ key_header  GET /whoami → 200  (api key in header X-API-Key)",
        "✓ key_query   GET /whoami?api_key=stale → 200  (api key in query parameter api_key)",
        "✓ basic       GET /whoami → 200  (basic)",
        "✓ open        GET /whoami → 401  (no auth)",
    ] {
        assert!(
            run.stdout.contains(line),
            "missing `{line}` in:\n{}",
            run.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_credential_fails_with_the_placement_and_a_hint() {
    let fixture = Fixture::new().await;
    let config = static_config(&fixture);
    let envs = [("DEMO_BEARER", "wrong-token"), ("DEMO_KEY", demo::API_KEY)];
    let run = tower_auth(
        &["-c", config.to_str().expect("utf8"), "check", "bearer"],
        &envs,
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stdout.starts_with("✗ bearer  check: GET /whoami → 401"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("bearer token in the `Authorization` header"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("\n  hint: the credential was rejected"),
        "{}",
        run.stdout
    );
    assert!(!run.all().contains("wrong-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_has_one_object_per_connection_with_the_stage() {
    let fixture = Fixture::new().await;
    let config = static_config(&fixture);
    // DEMO_KEY is unset: both api-key connections fail at the secret stage.
    let envs = [("DEMO_BEARER", demo::BEARER_TOKEN)];
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
    assert_eq!(run.code, 1, "{}", run.all());
    let results: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON output");
    let results = results.as_array().expect("array");
    assert_eq!(results.len(), 5);
    let by_name = |n: &str| {
        results
            .iter()
            .find(|r| r["connection"] == n)
            .unwrap_or_else(|| panic!("{n} missing"))
    };
    let ok = by_name("bearer");
    assert_eq!(ok["ok"], true);
    assert_eq!(ok["status"], 200);
    assert!(ok["elapsed_ms"].is_u64());
    let failed = by_name("key_header");
    assert_eq!(failed["ok"], false);
    assert_eq!(failed["stage"], "secret");
    assert!(failed["error"].as_str().expect("error text").contains(
        "connections.key_header.auth.key_value: environment variable `DEMO_KEY` is not set"
    ));
    assert!(
        failed["hint"]
            .as_str()
            .expect("hint")
            .contains("environment variable")
    );
    for field in [
        "connection",
        "ok",
        "stage",
        "status",
        "error_kind",
        "error",
        "hint",
        "elapsed_ms",
    ] {
        assert!(failed.get(field).is_some(), "missing field {field}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_config_exits_2_listing_every_problem() {
    let fixture = Fixture::new().await;
    let config = fixture.config(
        "bad.toml",
        r#"
[connections.a]
base_url = "not-a-url"
auth = { type = "bearer", tokn = { env = "X" } }
[connections.b]
base_url = "https://ok.example"
auth = { type = "basic" }
"#,
    );
    let run = tower_auth(&["-c", config.to_str().expect("utf8"), "check"], &[]).await;
    assert_eq!(run.code, 2, "{}", run.all());
    for expected in [
        "connections.a.base_url: not a URL",
        "connections.a.auth.tokn: unknown key (did you mean `token`?)",
        "connections.a.auth.token: missing",
        "connections.b.auth.username: missing",
        "connections.b.auth.password: missing",
    ] {
        assert!(
            run.stderr.contains(expected),
            "missing `{expected}` in:\n{}",
            run.stderr
        );
    }
    let run = tower_auth(&["-c", "/nonexistent/x.toml", "check"], &[]).await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("cannot read the file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environments_select_the_overlay_from_the_flag_or_the_variable() {
    let fixture = Fixture::new().await;
    let config = fixture.config(
        "envs.yaml",
        r#"
connections:
  api:
    base_url: "{base}"
    check: { path: /whoami }
    auth: { type: bearer, token: { env: DEV_TOKEN } }
    environments:
      prod:
        auth: { token: { env: PROD_TOKEN } }
"#,
    );
    let config = config.to_str().expect("utf8");
    let envs = [
        ("DEV_TOKEN", "not-valid"),
        ("PROD_TOKEN", demo::BEARER_TOKEN),
    ];
    assert_eq!(tower_auth(&["-c", config, "check"], &envs).await.code, 1);
    assert_eq!(
        tower_auth(&["-c", config, "--env", "prod", "check"], &envs)
            .await
            .code,
        0
    );
    let mut with_var = envs.to_vec();
    with_var.push(("TOWER_AUTH_ENV", "prod"));
    let run = tower_auth(&["-c", config, "check"], &with_var).await;
    assert_eq!(run.code, 0, "{}", run.all());
    // TOWER_AUTH_CONFIG names the file when -c is absent.
    let mut by_var = with_var.clone();
    by_var.push(("TOWER_AUTH_CONFIG", config));
    assert_eq!(tower_auth(&["check"], &by_var).await.code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_a_request_stage_failure_with_a_hint() {
    let fixture = Fixture::new().await;
    let config = fixture.config(
        "down.toml",
        r#"
[connections.down]
base_url = "http://127.0.0.1:9/api"
auth = { type = "none" }
"#,
    );
    let run = tower_auth(&["-c", config.to_str().expect("utf8"), "check"], &[]).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stdout.contains("✗ down  request:"), "{}", run.stdout);
    assert!(
        run.stdout.contains("hint: nothing is listening there"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_prints_the_body_and_fails_on_non_2xx() {
    let fixture = Fixture::new().await;
    let config = static_config(&fixture);
    let config = config.to_str().expect("utf8");
    let run = tower_auth(
        &[
            "-c",
            config,
            "request",
            "key_query",
            "GET",
            "/whoami?api_key=stale",
        ],
        GOOD_ENV,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains(r#""method":"api-key query""#),
        "{}",
        run.stdout
    );
    let run = tower_auth(
        &[
            "-c",
            config,
            "request",
            "bearer",
            "GET",
            "/whoami",
            "-i",
            "-H",
            "X-Trace: 1",
        ],
        GOOD_ENV,
    )
    .await;
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.starts_with("HTTP/1.1 200 OK\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("content-type: application/json"));
    let run = tower_auth(
        &["-c", config, "request", "open", "GET", "/whoami"],
        GOOD_ENV,
    )
    .await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    let run = tower_auth(
        &[
            "-c",
            config,
            "request",
            "open",
            "GET",
            "https://evil.example/",
        ],
        GOOD_ENV,
    )
    .await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("absolute URL"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_explains_when_a_connection_has_no_token() {
    let fixture = Fixture::new().await;
    let config = static_config(&fixture);
    let run = tower_auth(
        &["-c", config.to_str().expect("utf8"), "token", "basic"],
        GOOD_ENV,
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("uses basic, which has no token"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_validate_warns_about_literals_and_show_redacts_every_secret() {
    let fixture = Fixture::new().await;
    let config = fixture.config(
        "literal.toml",
        &format!(
            r#"
[connections.api]
base_url = "{{base}}"
auth = {{ type = "bearer", token = "{CANARY}" }}

[connections.auth]
base_url = "{{base}}"
[connections.auth.auth]
type = "oauth2"
grant = "password"
token_url = "{{base}}/token"
client_id = "cli"
client_secret = "{CANARY}"
username = "me"
password = {{ env = "PW" }}
"#
        ),
    );
    let config = config.to_str().expect("utf8");
    let run = tower_auth(&["-c", config, "config", "validate"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("valid, 2 connections"));
    assert!(
        run.stdout
            .contains("warning: connections.api.auth.token: literal secret")
    );
    assert!(
        run.stdout
            .contains("warning: connections.auth.auth.client_secret: literal secret")
    );
    let run = tower_auth(&["-c", config, "config", "show"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("token = \"[redacted]\""),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("password = { env = \"PW\" }"),
        "{}",
        run.stdout
    );
    for run in [
        run,
        tower_auth(&["-c", config, "check"], &[]).await,
        tower_auth(&["-c", config, "check", "--format", "json"], &[]).await,
        tower_auth(
            &["-c", config, "request", "api", "GET", "/whoami", "-i"],
            &[],
        )
        .await,
    ] {
        assert!(!run.all().contains(CANARY), "canary leaked:\n{}", run.all());
    }
}

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
    let config = dir.path().join("login.toml");
    std::fs::write(
        &config,
        format!(
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
    )
    .expect("write config");

    let config_arg = config.display().to_string();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tower-auth"))
        .args(["-c", &config_arg, "login", "calendar", "--no-browser"])
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
    let run = tower_auth(&["-c", &config_arg, "token", "calendar"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("refresh:    yes"), "{}", run.stdout);
    assert_eq!(server.fetches(), before + 1, "one refresh-token request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_connections_sign_assertions_from_a_key_file() {
    use auth_test_support::token_server::TestKey;

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
    let config = dir.path().join("diag.toml");
    std::fs::write(
        &config,
        format!(
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
    )
    .expect("write");
    let config = config.display().to_string();
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
    use auth_test_support::token_server::TestKey;

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
