//! End-to-end tests of the `tower-auth` binary: static credentials, configuration errors,
//! environments, `request`, `token` and `config`, against the in-process demo provider.

mod common;

use std::path::PathBuf;

use auth_test_support::demo;
use common::{CANARY, Fixture, tower_auth};

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
async fn a_password_in_a_url_is_refused_and_never_shown() {
    let fixture = Fixture::new().await;
    let config = fixture.config(
        "userinfo.toml",
        r#"
[connections.api]
base_url = "http://user:hunter2secret@127.0.0.1:9/v1"
auth = { type = "none" }
[connections.oauth]
base_url = "https://api.example.com"
[connections.oauth.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "https://client:hunter2secret@auth.example.com/token"
client_id = "c"
client_secret = { env = "X" }
"#,
    );
    let config = config.to_str().expect("utf8");
    for args in [
        vec!["check"],
        vec!["check", "--format", "json"],
        vec!["token", "oauth"],
        vec!["request", "api", "GET", "/"],
        vec!["config", "validate"],
        vec!["config", "show"],
    ] {
        let mut all = vec!["-c", config];
        all.extend(&args);
        let run = tower_auth(&all, &[]).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.all());
        assert!(
            !run.all().contains("hunter2secret"),
            "{args:?}: {}",
            run.all()
        );
        for path in [
            "connections.api.base_url",
            "connections.oauth.auth.token_url",
        ] {
            assert!(
                run.all().contains(path),
                "{args:?}: no {path} in {}",
                run.all()
            );
        }
        assert!(
            run.all().contains("user information"),
            "{args:?}: {}",
            run.all()
        );
    }
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
