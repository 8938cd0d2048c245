//! `tower-auth check`, `request` and `config` with a connection's default headers and
//! variables, against an API on 127.0.0.1 that records what it receives.

mod common;

use auth_test_support::{ApiServer, Expectation};
use common::{tower_auth, write_config};

const TENANT: &str = "tenant-s3cret-value";

fn config(dir: &std::path::Path) -> String {
    write_config(
        dir,
        r#"
[connections.api]
base_url = "{api}/{prefix}"
check = { path = "/{tenant}/me" }
headers = { Accept = "application/vnd.github+json", X-Tenant = "{tenant}" }
variables = { api = { env = "API_BASE" }, prefix = "v3", tenant = { env = "TENANT" } }
auth = { type = "bearer", token = { env = "TOKEN" } }

[connections.wrong]
base_url = "{api}/v3"
check = { path = "/{tenant}/me", expect_status = [201] }
variables = { api = { env = "API_BASE" }, tenant = { env = "TENANT" } }
auth = { type = "bearer", token = { env = "TOKEN" } }
"#,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_request_send_the_default_headers_once() {
    let server = ApiServer::start(Expectation::header("Authorization", "Bearer t0k3n")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path());
    let base = server.base_url();
    let env = [
        ("API_BASE", base.as_str()),
        ("TENANT", TENANT),
        ("TOKEN", "t0k3n"),
    ];

    let run = tower_auth(&["-c", &config, "check", "api"], &env).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("GET /[redacted]/me → 200"),
        "a variable read from the environment is not shown:\n{}",
        run.stdout
    );
    let run = tower_auth(
        &[
            "-c",
            &config,
            "request",
            "api",
            "GET",
            "/items",
            "-H",
            "Accept: text/plain",
        ],
        &env,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.all());

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let (check, request) = (&requests[0], &requests[1]);
    assert_eq!(check.path, format!("/v3/{TENANT}/me"));
    assert_eq!(
        check.header_values("accept"),
        ["application/vnd.github+json"]
    );
    assert_eq!(check.header_values("x-tenant"), [TENANT]);
    assert_eq!(request.path, "/v3/items");
    assert_eq!(
        request.header_values("accept"),
        ["text/plain"],
        "the -H wins"
    );
    assert_eq!(request.header_values("x-tenant"), [TENANT]);

    let run = tower_auth(&["-c", &config, "check", "wrong"], &env).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stdout.contains("→ 200 OK, expected [201]"),
        "{}",
        run.all()
    );
    assert!(!run.all().contains(TENANT), "{}", run.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_shows_headers_and_variables_as_written_and_warns_about_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path());
    let run = tower_auth(
        &["-c", &config, "config", "show", "api"],
        &[("TENANT", TENANT)],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.all());
    for line in [
        r#"base_url = "{api}/{prefix}""#,
        r#"headers = { "Accept" = "application/vnd.github+json", "X-Tenant" = "{tenant}" }"#,
        r#"variables = { api = { env = "API_BASE" }, prefix = "v3", tenant = { env = "TENANT" } }"#,
    ] {
        assert!(
            run.stdout.contains(line),
            "missing `{line}` in:\n{}",
            run.stdout
        );
    }
    assert!(!run.all().contains(TENANT));

    let config = write_config(
        dir.path(),
        r#"
[connections.api]
base_url = "https://api.example.com"
headers = { Authorization = "Bearer hunter2-hard-coded" }
auth = { type = "none" }
"#,
    );
    let run = tower_auth(&["-c", &config, "config", "validate"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains(
            "warning: connections.api.headers.Authorization: `Authorization` carries a \
             credential: credentials belong in the auth method"
        ),
        "{}",
        run.stdout
    );
    assert!(!run.all().contains("hunter2"), "{}", run.all());
}
