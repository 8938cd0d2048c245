//! Default headers and variables of configured connections, end to end against servers on
//! 127.0.0.1: every request carries the headers once, variables reach the URL, the check path,
//! a header value and a custom token request.
#![cfg(all(feature = "config", feature = "oauth2"))]

use auth_test_support::{
    ApiServer, Expectation,
    login_server::{LoginServer, Reply},
};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::json;
use tower::{ServiceBuilder, ServiceExt};
use tower_auth::config::{Config, Format};

fn load(text: &str) -> Config {
    Config::from_str(text, Format::Toml).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn every_request_carries_the_default_headers_once_with_variables_filled_in() {
    let server = ApiServer::start(Expectation::header("Authorization", "Bearer t0k3n")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let tenant = dir.path().join("tenant");
    std::fs::write(&tenant, "acme-tenant\n").expect("write");
    let token = dir.path().join("token");
    std::fs::write(&token, "t0k3n").expect("write");
    let config = load(&format!(
        r#"
[connections.github]
base_url = "http://127.0.0.1:{{port}}/{{prefix}}"
check = {{ path = "/{{tenant}}/me" }}
headers = {{ Accept = "application/vnd.github+json", X-GitHub-Api-Version = "{{version}}", X-Tenant = "{{tenant}}" }}
variables = {{ port = "{port}", prefix = "rest", version = "2022-11-28", tenant = {{ file = "{tenant}" }} }}
auth = {{ type = "bearer", token = {{ file = "{token}" }} }}
"#,
        port = server.addr().port(),
        tenant = tenant.display(),
        token = token.display(),
    ));
    let spec = config.connection("github", None).expect("spec");
    assert_eq!(spec.base_url, format!("{}/rest", server.base_url()));
    assert_eq!(spec.check.path, "/acme-tenant/me");
    let client = ServiceBuilder::new()
        .layer(spec.layer().expect("layer"))
        .service(auth_test_support::client());

    let check = format!("{}{}", spec.base_url, spec.check.path);
    for _ in 0..2 {
        let request = Request::get(&check)
            .body(Full::<Bytes>::default())
            .expect("request");
        let response = client.clone().oneshot(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK);
    }
    // The caller's own Accept is kept, and not joined by the default.
    let request = Request::get(&check)
        .header("accept", "text/plain")
        .body(Full::<Bytes>::default())
        .expect("request");
    let response = client.oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for (i, seen) in requests.iter().enumerate() {
        assert_eq!(seen.path, "/rest/acme-tenant/me", "request {i}");
        let accept = if i < 2 {
            "application/vnd.github+json"
        } else {
            "text/plain"
        };
        assert_eq!(seen.header_values("accept"), [accept], "request {i}");
        assert_eq!(
            seen.header_values("x-github-api-version"),
            ["2022-11-28"],
            "request {i}"
        );
        assert_eq!(
            seen.header_values("x-tenant"),
            ["acme-tenant"],
            "request {i}"
        );
        assert_eq!(seen.header_values("authorization"), ["Bearer t0k3n"]);
    }
}

#[tokio::test]
async fn variables_reach_a_custom_token_request_beside_its_own_placeholders() {
    let server = LoginServer::builder()
        .api_header("X-Session", "")
        .accept_json(json!({ "user": "acme-bot", "region": "eu" }))
        .default_answer(|_| Reply::json(StatusCode::OK, json!({ "data": { "token": "s-1" } })))
        .start()
        .await;
    let base = server.base_url();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("key");
    std::fs::write(&key, "vendor-k3y\n").expect("write");
    let config = load(&format!(
        r#"
[connections.vendor]
base_url = "{{base}}/api"
headers = {{ X-Region = "{{region}}" }}
variables = {{ base = "{base}", region = "eu", key = {{ file = "{key}" }} }}
[connections.vendor.auth]
type = "custom"
header = "X-Session"
prefix = ""
values = {{ account = "acme" }}
key_map = {{ access_token = "data.token" }}
request = {{ url = "{{base}}/login?region={{region}}", headers = {{ X-Key = "{{key}}" }}, json = {{ user = "{{{{account}}}}-bot", region = "{{region}}" }} }}
"#,
        key = key.display()
    ));
    let spec = config.connection("vendor", None).expect("spec");
    let client = ServiceBuilder::new()
        .layer(spec.layer().unwrap_or_else(|e| panic!("{e}")))
        .service(auth_test_support::client());
    let request = Request::get(format!("{}/me", spec.base_url))
        .body(Full::<Bytes>::default())
        .expect("request");
    let response = client.oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let logins = server.logins();
    assert_eq!(logins.len(), 1);
    let login = &logins[0];
    assert_eq!(login.uri.query(), Some("region=eu"));
    assert_eq!(login.headers["x-key"], "vendor-k3y");
    assert!(
        login.headers.get("x-region").is_none(),
        "default headers are for the API, not the token endpoint"
    );
    assert_eq!(login.json(), json!({ "user": "acme-bot", "region": "eu" }));
}

#[tokio::test]
async fn a_missing_variable_is_reported_with_its_key_path_before_any_request() {
    let server = ApiServer::start(Expectation::header("Authorization", "Bearer x")).await;
    let config = load(&format!(
        r#"
[connections.jira]
base_url = "{base}/{{domain}}"
variables = {{ domain = {{ env = "TOWER_AUTH_TEST_JIRA_DOMAIN_SURELY_UNSET" }} }}
auth = {{ type = "none" }}
"#,
        base = server.base_url()
    ));
    let error = config.connection("jira", None).expect_err("unset");
    assert_eq!(error.problems().len(), 1, "{error}");
    assert_eq!(error.problems()[0].path, "connections.jira.base_url");
    assert!(
        error.to_string().contains(
            "variable `domain` (connections.jira.variables.domain): environment variable \
             `TOWER_AUTH_TEST_JIRA_DOMAIN_SURELY_UNSET` is not set"
        ),
        "{error}"
    );
    assert_eq!(server.request_count(), 0);

    let error = Config::from_str(
        r#"
[connections.jira]
base_url = "https://{domain}.atlassian.net"
auth = { type = "none" }
"#,
        Format::Toml,
    )
    .expect_err("undefined");
    assert!(
        error
            .to_string()
            .contains("connections.jira.base_url: unknown variable `domain`"),
        "{error}"
    );
}

#[test]
fn validate_warns_about_a_credential_in_a_default_header() {
    let config = load(
        r#"
[connections.api]
base_url = "https://api.example.com"
headers = { X-Auth-Token = "hunter2-in-a-header", Cookie = "session=hunter2" }
auth = { type = "bearer", header = "X-Auth-Token", token = { env = "TOKEN" } }
"#,
    );
    let warnings: Vec<String> = config.warnings().iter().map(|w| w.to_string()).collect();
    let all = warnings.join("\n");
    assert!(
        all.contains("connections.api.headers.X-Auth-Token: `X-Auth-Token` is the header the auth method `connections.api.auth` sets: credentials belong in the auth method"),
        "{all}"
    );
    assert!(
        all.contains("connections.api.headers.Cookie: `Cookie` carries a credential"),
        "{all}"
    );
    assert!(!all.contains("hunter2"), "{all}");
}
