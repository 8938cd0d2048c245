//! Tests of configuration loading: formats, every auth type, environments, errors with paths.

use std::convert::Infallible;

use http::{Request, Response};
use tower::{ServiceBuilder, ServiceExt, service_fn};

use super::*;

mod device;
mod headers;
mod sign_in;
mod tls;

const FULL_TOML: &str = r#"
default_environment = "dev"

[connections.billing]
base_url = "https://api.example.com/v2"
check = { method = "GET", path = "/me", expect_status = [200] }
timeout = "10s"

[connections.billing.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "https://auth.example.com/oauth/token"
client_id = "my-client"
client_secret = { env = "BILLING_CLIENT_SECRET" }
client_auth = "auto"
scopes = "read,write"
audience = "https://api.example.com"
extra_params = { access_type = "offline" }

[connections.billing.environments.dev.auth]
client_id = "dev-client"

[connections.billing.environments.prod.auth]
client_id = "prod-client"
client_secret = { file = "/run/secrets/billing" }
"#;

fn oauth2(spec: &ConnectionSpec) -> &OAuth2Spec {
    match &spec.auth {
        AuthSpec::OAuth2(o) => o,
        other => panic!("expected oauth2, got {}", other.type_name()),
    }
}

#[test]
fn toml_yaml_and_json_describe_the_same_connection() {
    let yaml = r#"
default_environment: dev
connections:
  billing:
    base_url: https://api.example.com/v2
    check: { method: GET, path: /me, expect_status: [200] }
    timeout: 10s
    auth:
      type: oauth2
      grant: client_credentials
      token_url: https://auth.example.com/oauth/token
      client_id: my-client
      client_secret: { env: BILLING_CLIENT_SECRET }
      client_auth: auto
      scopes: [read, write]
      audience: https://api.example.com
      extra_params: { access_type: offline }
    environments:
      dev: { auth: { client_id: dev-client } }
      prod: { auth: { client_id: prod-client, client_secret: { file: /run/secrets/billing } } }
"#;
    let json = r#"{
  "default_environment": "dev",
  "connections": { "billing": {
    "base_url": "https://api.example.com/v2",
    "check": { "method": "GET", "path": "/me", "expect_status": [200] },
    "timeout": 10,
    "auth": { "type": "oauth2", "grant": "client_credentials",
      "token_url": "https://auth.example.com/oauth/token", "client_id": "my-client",
      "client_secret": { "env": "BILLING_CLIENT_SECRET" }, "client_auth": "auto",
      "scopes": "read write", "audience": "https://api.example.com",
      "extra_params": { "access_type": "offline" } },
    "environments": {
      "dev": { "auth": { "client_id": "dev-client" } },
      "prod": { "auth": { "client_id": "prod-client", "client_secret": { "file": "/run/secrets/billing" } } }
    } } } }"#;
    let mut formats = vec![(Format::Toml, FULL_TOML), (Format::Json, json)];
    if cfg!(feature = "yaml") {
        formats.push((Format::Yaml, yaml));
    } else {
        let error = Config::from_str(yaml, Format::Yaml).expect_err("no YAML support");
        assert!(
            error.to_string().contains("needs the `yaml` feature"),
            "{error}"
        );
    }
    for (format, text) in formats {
        let config = Config::from_str(text, format).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        let spec = config.connection("billing", Some("prod")).expect("prod");
        assert_eq!(spec.base_url, "https://api.example.com/v2", "{format:?}");
        assert_eq!(spec.check.path, "/me");
        assert_eq!(spec.check.expect_status, [200]);
        assert_eq!(spec.timeout, Some(std::time::Duration::from_secs(10)));
        let o = oauth2(&spec);
        assert_eq!(o.client_id, "prod-client", "{format:?}");
        assert!(matches!(&o.client_secret, Some(SecretRef::File(p)) if p.ends_with("billing")));
        assert_eq!(o.scopes, ["read", "write"], "{format:?}");
        assert_eq!(o.extra_params["access_type"], "offline");
        assert_eq!(o.grant, "client_credentials");
        assert_eq!(o.client_auth, "auto");
    }
}

#[test]
fn environment_overlays_merge_deeply_and_default_to_the_configured_one() {
    let config = Config::from_str(FULL_TOML, Format::Toml).expect("valid");
    assert_eq!(config.environment(Some("prod")).as_deref(), Some("prod"));
    let dev = config.connection("billing", Some("dev")).expect("dev");
    let o = oauth2(&dev);
    assert_eq!(o.client_id, "dev-client");
    // Untouched keys come from the base.
    assert!(matches!(&o.client_secret, Some(SecretRef::Env(n)) if n == "BILLING_CLIENT_SECRET"));
    assert_eq!(o.audience.as_deref(), Some("https://api.example.com"));
    // No environment: the base alone.
    let base = config.connection("billing", None).expect("base");
    assert_eq!(oauth2(&base).client_id, "my-client");
}

#[test]
fn an_overlay_that_changes_the_auth_type_replaces_the_auth_table() {
    let config = Config::from_str(
        r#"
        [connections.api]
        base_url = "https://api.example.com"
        auth = { type = "api_key", key_name = "X-Key", key_value = { env = "KEY" } }
        [connections.api.environments.local.auth]
        type = "bearer"
        token = { env = "LOCAL_TOKEN" }
        "#,
        Format::Toml,
    )
    .expect("valid");
    let local = config.connection("api", Some("local")).expect("local");
    assert!(matches!(local.auth, AuthSpec::Bearer { .. }));
}

#[test]
fn every_auth_type_parses() {
    let config = Config::from_str(
        r#"
        [connections.none]
        base_url = "http://127.0.0.1:1"
        auth = { type = "none" }
        [connections.bearer]
        base_url = "http://127.0.0.1:1"
        auth = { type = "bearer", token = { env = "T" }, header = "X-Token", prefix = "" }
        [connections.key_header]
        base_url = "http://127.0.0.1:1"
        auth = { type = "api_key", key_name = "X-API-Key", key_value = { env = "K" } }
        [connections.key_query]
        base_url = "http://127.0.0.1:1"
        auth = { type = "api_key", key_name = "api_key", key_value = { env = "K" }, location = "query" }
        [connections.basic]
        base_url = "http://127.0.0.1:1"
        auth = { type = "basic", username = "u", password = { file = "/p" } }
        [connections.password]
        base_url = "http://127.0.0.1:1"
        auth = { type = "oauth2", grant = "password", token_url = "http://127.0.0.1:2/t", client_id = "c", username = "u", password = { env = "P" } }
        [connections.code]
        base_url = "http://127.0.0.1:1"
        auth = { type = "oauth2", grant = "authorization_code", auth_url = "http://127.0.0.1:2/a", token_url = "http://127.0.0.1:2/t", client_id = "c", client_auth = "none", redirect_uri = "http://127.0.0.1:8765/callback", token_store = "/tmp/x.json" }
        [connections.jwt]
        base_url = "http://127.0.0.1:1"
        auth = { type = "jwt_bearer", service_account_file = "/keys/sa.json", scopes = ["a", "b"] }
        [connections.custom]
        base_url = "http://127.0.0.1:1"
        [connections.custom.auth]
        type = "custom"
        location = "query"
        request = { method = "POST", url = "http://127.0.0.1:2/login", json = { user = "{{user}}", password = { env = "PW" } } }
        values = { user = "me" }
        key_map = { access_token = "data.token", expires_in = "data.ttl" }
        "#,
        Format::Toml,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let types: Vec<_> = config
        .connection_names()
        .map(|n| config.connection(n, None).expect(n).auth.type_name())
        .collect();
    assert_eq!(
        types,
        [
            "basic", "bearer", "oauth2", "custom", "jwt", "api_key", "api_key", "none", "oauth2"
        ]
        .map(|t| if t == "jwt" { "jwt_bearer" } else { t })
    );
    let custom = config.connection("custom", None).expect("custom");
    let AuthSpec::Custom(c) = &custom.auth else {
        panic!("custom")
    };
    assert_eq!(c.location, Location::Query);
    assert_eq!(c.header, "access_token");
    assert_eq!(c.key_map.access_token.as_deref(), Some("data.token"));
    assert!(matches!(
        c.json.as_ref().map(|j| &j["password"]),
        Some(TemplateValue::Secret(_))
    ));
}

#[test]
fn every_problem_is_reported_at_once_with_its_path() {
    let error = Config::from_str(
        r#"
        strict_secrets = true
        [connections.billing]
        base_url = "api.example.com"
        check = { method = "G ET", expect_status = [200, 999] }
        [connections.billing.auth]
        type = "oauth2"
        grant = "client_credential"
        token_uri = "https://auth.example.com/token"
        client_secret = "literal-secret-value"
        [connections.other]
        base_url = "https://x.example.com"
        auth = { type = "bearr" }
        "#,
        Format::Toml,
    )
    .expect_err("invalid");
    let text = error.to_string();
    for expected in [
        "connections.billing.base_url: not a URL",
        "connections.billing.check.method: `G ET` is not an HTTP method",
        "connections.billing.auth.grant: unknown value `client_credential` (did you mean `client_credentials`?)",
        "connections.billing.auth.token_uri: unknown key (did you mean `token_url`?)",
        "connections.billing.auth.client_id: missing",
        "connections.billing.auth.client_secret: a literal secret is not allowed",
        "connections.other.auth.type: unknown value `bearr` (did you mean `bearer`?)",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    assert!(error.problems().len() >= 7, "{text}");
    assert!(!text.contains("literal-secret-value"));
}

#[test]
fn literal_secrets_are_warnings_without_strict_secrets() {
    let config = Config::from_str(
        r#"
        [connections.api]
        base_url = "https://api.example.com"
        auth = { type = "bearer", token = "literal-token" }
        "#,
        Format::Toml,
    )
    .expect("valid");
    let warnings: Vec<String> = config.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].starts_with("connections.api.auth.token: literal secret"));
    assert!(!warnings[0].contains("literal-token"));
}

#[cfg(unix)]
#[test]
fn readable_private_key_files_are_warnings_or_with_strict_secrets_errors() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("client.key");
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").expect("write");
    let config = |strict: bool| {
        format!(
            r#"
            strict_secrets = {strict}
            [connections.api]
            base_url = "https://api.example.com"
            auth = {{ type = "none" }}
            tls = {{ cert = "client.pem", key = {{ file = "{}" }} }}
            "#,
            key.display()
        )
    };
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let loose = Config::from_str(&config(false), Format::Toml).expect("a warning only");
    let warnings: Vec<String> = loose.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("connections.api.tls.key: private key file"),
        "{warnings:?}"
    );
    assert!(warnings[0].contains("mode 0644") && warnings[0].contains("chmod 600"));
    let error = Config::from_str(&config(true), Format::Toml).expect_err("strict refuses");
    assert!(
        error
            .to_string()
            .contains("connections.api.tls.key: private key file"),
        "{error}"
    );

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let tight = Config::from_str(&config(true), Format::Toml).expect("owner-only is fine");
    assert!(tight.warnings().is_empty());
}

#[test]
fn parse_errors_give_a_position_but_never_the_line() {
    let error = Config::from_str(
        "[connections.api]\nbase_url = \"https://x\"\nauth = { type = \"bearer\", token = \"s3cr3t-value }\n",
        Format::Toml,
    )
    .expect_err("unterminated string");
    let text = error.to_string();
    assert!(text.contains("invalid TOML at line 3"), "{text}");
    assert!(!text.contains("s3cr3t-value"), "{text}");
    let error = Config::from_str("{\"connections\": {\"a\": \"s3cr3t-value", Format::Json)
        .expect_err("bad json");
    assert!(error.to_string().contains("invalid JSON at line 1"));
    assert!(!error.to_string().contains("s3cr3t-value"));
    let error = Config::from_str("connections: [\n  - s3cr3t-value\n  bad: :", Format::Yaml)
        .expect_err("bad yaml");
    if cfg!(feature = "yaml") {
        assert!(error.to_string().contains("invalid YAML"), "{error}");
    }
    assert!(!error.to_string().contains("s3cr3t-value"));
}

#[test]
fn unknown_connections_and_formats_are_named() {
    let config = Config::from_str(FULL_TOML, Format::Toml).expect("valid");
    let error = config.connection("biling", None).expect_err("typo");
    assert_eq!(
        error.problems()[0].to_string(),
        "connections.biling: no such connection (did you mean `billing`?)"
    );
    let error = Format::from_path(std::path::Path::new("conf.ini")).expect_err("format");
    assert!(error.to_string().contains(".toml, .yaml, .yml or .json"));
    let error = Config::load("/nonexistent/tower-auth.toml").expect_err("missing");
    assert!(
        error
            .to_string()
            .starts_with("/nonexistent/tower-auth.toml: cannot read the file")
    );
}

#[test]
fn overlay_problems_name_the_environment() {
    let error = Config::from_str(
        r#"
        default_environment = "dev"
        [connections.api]
        base_url = "https://api.example.com"
        auth = { type = "bearer", token = { env = "T" } }
        [connections.api.environments.dev]
        auth = { header = "bad header" }
        [connections.api.environments.prod]
        base_url = "nope"
        "#,
        Format::Toml,
    )
    .expect_err("prod overlay is invalid");
    let text = error.to_string();
    assert!(
        text.contains("connections.api.base_url: not a URL")
            && text.contains("(with environment `prod`)"),
        "{text}"
    );
}

#[tokio::test]
async fn a_connection_builds_a_layer_for_any_client() {
    // PATH is set in every test environment; it stands in for a secret from the environment.
    let path_value = std::env::var("PATH").expect("PATH is set");
    let config = Config::from_str(
        r#"
        [connections.api]
        base_url = "https://api.example.com"
        auth = { type = "bearer", token = { env = "PATH" }, header = "X-Token", prefix = "Token" }
        "#,
        Format::Toml,
    )
    .expect("valid");
    let layer = config
        .connection("api", None)
        .expect("api")
        .layer()
        .expect("layer");
    let expected = format!("Token {path_value}");
    let client = ServiceBuilder::new()
        .layer(layer.clone())
        .service(service_fn(move |req: Request<String>| {
            let ok = req.headers()["x-token"] == expected.as_str();
            async move {
                assert!(ok);
                Ok::<_, Infallible>(Response::new(()))
            }
        }));
    let request = Request::get("https://api.example.com/me")
        .body(String::new())
        .expect("request");
    client.oneshot(request).await.expect("response");
}

#[test]
fn unresolvable_secrets_fail_the_build_with_the_path() {
    let config = Config::from_str(
        r#"
        [connections.api]
        base_url = "https://api.example.com"
        auth = { type = "basic", username = "u", password = { env = "TOWER_AUTH_TEST_UNSET_VAR" } }
        "#,
        Format::Toml,
    )
    .expect("valid");
    let error = config
        .connection("api", None)
        .expect("spec")
        .layer()
        .expect_err("unset");
    assert_eq!(
        error.problems()[0].to_string(),
        "connections.api.auth.password: environment variable `TOWER_AUTH_TEST_UNSET_VAR` is not set"
    );
}

#[tokio::test]
async fn connections_send_their_credential_only_to_the_base_url_origin() {
    let config = Config::from_str(
        r#"
        [connections.api]
        base_url = "https://api.example.com/v2"
        auth = { type = "api_key", key_name = "X-Key", key_value = { env = "PATH" } }
        "#,
        Format::Toml,
    )
    .expect("valid");
    let layer = config
        .connection("api", None)
        .expect("api")
        .layer()
        .expect("layer");
    let client =
        ServiceBuilder::new()
            .layer(layer)
            .service(service_fn(|req: Request<String>| async move {
                let sent = req.headers().contains_key("x-key");
                Ok::<_, Infallible>(Response::new(sent))
            }));
    let send = |uri: &'static str| {
        let client = client.clone();
        async move {
            *client
                .oneshot(Request::get(uri).body(String::new()).expect("request"))
                .await
                .expect("response")
                .body()
        }
    };
    assert!(send("https://api.example.com/v2/me").await);
    assert!(
        send("https://API.example.com:443/other").await,
        "same origin, any path"
    );
    assert!(
        !send("https://evil.example.com/v2/me").await,
        "another host"
    );
    assert!(
        !send("http://api.example.com/v2/me").await,
        "another scheme"
    );
    assert!(
        !send("https://api.example.com:8443/v2/me").await,
        "another port"
    );
}
