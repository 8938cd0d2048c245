//! Default headers and variables: reading, filling in, problems with their key paths, the
//! credential-in-a-header warning, and the headers the connection's layer sends.

use std::convert::Infallible;

use http::{HeaderMap, Request, Response};
use tower::{ServiceBuilder, ServiceExt, service_fn};

use super::super::*;

/// An environment variable no test sets.
const UNSET: &str = "TOWER_AUTH_TEST_HEADERS_SURELY_UNSET";

fn load(text: &str) -> Config {
    Config::from_str(text, Format::Toml).unwrap_or_else(|e| panic!("{e}"))
}

fn load_error(text: &str) -> String {
    Config::from_str(text, Format::Toml)
        .expect_err("refused")
        .to_string()
}

const JIRA: &str = r#"
[connections.jira]
base_url = "https://{domain}.atlassian.net/rest/api/{version}"
check = { path = "/myself?region={region}" }
headers = { Accept = "application/json", X-Region = "{region}-1", X-Literal = "{{kept}} {not a var}" }
variables = { domain = "acme", version = 3, region = "eu" }
auth = { type = "none" }
[connections.jira.environments.us]
variables = { region = "us" }
"#;

#[test]
fn variables_are_filled_into_base_url_check_path_and_header_values() {
    let config = load(JIRA);
    let spec = config.connection("jira", None).expect("spec");
    assert_eq!(spec.base_url, "https://acme.atlassian.net/rest/api/3");
    assert_eq!(spec.check.path, "/myself?region=eu");
    assert_eq!(spec.headers["Accept"], "application/json");
    assert_eq!(spec.headers["X-Region"], "eu-1");
    assert_eq!(
        spec.headers["X-Literal"], "{{kept}} {not a var}",
        "double braces and non-names are text"
    );
    assert!(matches!(&spec.variables["domain"], TemplateValue::Text(t) if t == "acme"));
}

#[test]
fn an_environment_overlay_overrides_a_variable() {
    let config = load(JIRA);
    let us = config.connection("jira", Some("us")).expect("us");
    assert_eq!(us.check.path, "/myself?region=us");
    assert_eq!(us.headers["X-Region"], "us-1");
    assert_eq!(us.base_url, "https://acme.atlassian.net/rest/api/3");
}

#[test]
fn an_overlay_merges_a_variable_named_env_instead_of_replacing_the_table() {
    let config = load(
        r#"
[connections.api]
base_url = "https://{domain}.example.com/{env}"
variables = { domain = "acme", env = "dev" }
auth = { type = "none" }
[connections.api.environments.prod]
variables = { env = "prod" }
"#,
    );
    let prod = config.connection("api", Some("prod")).expect("prod");
    assert_eq!(prod.base_url, "https://acme.example.com/prod");
}

#[test]
fn as_written_keeps_the_variables_unfilled_and_reads_none() {
    let config = load(&format!(
        r#"
[connections.jira]
base_url = "https://{{domain}}.atlassian.net"
headers = {{ X-Tenant = "{{tenant}}" }}
variables = {{ domain = {{ env = "{UNSET}" }}, tenant = "t1" }}
auth = {{ type = "none" }}
"#
    ));
    let spec = config
        .connection_as_written("jira", None)
        .expect("as written");
    assert_eq!(spec.base_url, "https://{domain}.atlassian.net");
    assert_eq!(spec.headers["X-Tenant"], "{tenant}");
    assert!(
        matches!(&spec.variables["domain"], TemplateValue::Secret(SecretRef::Env(n)) if n == UNSET)
    );
}

#[test]
fn an_unknown_variable_is_reported_with_its_key_path() {
    let text = load_error(
        r#"
[connections.jira]
base_url = "https://{domain}.atlassian.net"
check = { path = "/{tenant}/me" }
headers = { X-Region = "{regoin}" }
variables = { region = "eu" }
auth = { type = "none" }
"#,
    );
    for expected in [
        "connections.jira.base_url: unknown variable `domain` (defined: region)",
        "connections.jira.check.path: unknown variable `tenant`",
        "connections.jira.headers.X-Region: unknown variable `regoin`",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
    let text = load_error(
        r#"
[connections.api]
base_url = "https://{host}"
auth = { type = "none" }
"#,
    );
    assert!(
        text.contains(
            "connections.api.base_url: unknown variable `host` (none are defined: add it under \
             `variables`)"
        ),
        "{text}"
    );
}

#[test]
fn an_unset_environment_variable_is_reported_where_it_is_used() {
    let config = load(&format!(
        r#"
[connections.jira]
base_url = "https://{{domain}}.atlassian.net"
headers = {{ X-Domain = "{{domain}}" }}
variables = {{ domain = {{ env = "{UNSET}" }} }}
auth = {{ type = "none" }}
"#
    ));
    let text = config
        .connection("jira", None)
        .expect_err("unset")
        .to_string();
    assert!(
        text.contains(&format!(
            "connections.jira.base_url: variable `domain` (connections.jira.variables.domain): \
             environment variable `{UNSET}` is not set"
        )),
        "{text}"
    );
    assert_eq!(text.matches(UNSET).count(), 1, "reported once: {text}");
}

#[test]
fn a_secret_variable_never_appears_in_a_problem_and_its_header_is_sensitive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "s3cret host/x\n").expect("write");
    let tenant = dir.path().join("tenant");
    std::fs::write(&tenant, "t3nant-secret\n").expect("write");
    let config = load(&format!(
        r#"
[connections.api]
base_url = "https://{{host}}"
headers = {{ X-Tenant = "id={{tenant}}" }}
variables = {{ host = {{ file = "{bad}" }}, tenant = {{ file = "{tenant}" }} }}
auth = {{ type = "none" }}

[connections.ok]
base_url = "https://api.example.com"
headers = {{ X-Tenant = "id={{tenant}}" }}
variables = {{ tenant = {{ file = "{tenant}" }} }}
auth = {{ type = "none" }}
"#,
        bad = bad.display(),
        tenant = tenant.display()
    ));
    let text = config.connection("api", None).expect_err("bad").to_string();
    assert!(
        text.contains("connections.api.base_url: not a URL after filling in its variables"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");

    let spec = config.connection("ok", None).expect("spec");
    assert_eq!(spec.headers["X-Tenant"], "id=t3nant-secret");
    assert_eq!(
        config.redactor().redact("echo t3nant-secret"),
        "echo [redacted]"
    );
    let layer = spec.layer().expect("layer");
    let (_, value) = layer
        .default_headers()
        .headers()
        .next()
        .expect("one header");
    assert!(value.is_sensitive());
    let shown = format!("{layer:?}");
    assert!(
        shown.contains("x-tenant") && !shown.contains("t3nant-secret"),
        "{shown}"
    );
}

#[test]
fn bad_names_values_and_repeated_headers_are_refused_with_their_paths() {
    let text = load_error(
        r#"
[connections.api]
base_url = "https://api.example.com"
headers = { "X Bad" = "v", Accept = "a", accept = "b", X-Line = "a\nb" }
variables = { "2fa" = "x", braces = "{{no}}", list = [1] }
auth = { type = "none" }
"#,
    );
    for expected in [
        "connections.api.headers.X Bad: not a valid header name",
        "header names are case-insensitive",
        "connections.api.headers.X-Line: cannot be sent in a header",
        "connections.api.variables.2fa: not a variable name",
        "connections.api.variables.braces: a variable's value cannot contain `{{` or `}}`",
        "connections.api.variables.list: expected a string",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
}

#[test]
fn custom_requests_fill_variables_and_keep_their_own_placeholders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("key");
    std::fs::write(&key, "k3y-value\n").expect("write");
    let config = load(&format!(
        r#"
[connections.vendor]
base_url = "https://{{host}}/api"
variables = {{ host = "vendor.example.com", tenant = "acme", key = {{ file = "{key}" }} }}
[connections.vendor.auth]
type = "custom"
values = {{ user = "bot-{{tenant}}" }}
request = {{ url = "https://{{host}}/login", headers = {{ X-Key = "{{key}}" }}, json = {{ account = "{{{{user}}}}@{{tenant}}" }} }}
"#,
        key = key.display()
    ));
    let spec = config.connection("vendor", None).expect("spec");
    let AuthSpec::Custom(c) = &spec.auth else {
        panic!("custom")
    };
    assert_eq!(c.url, "https://vendor.example.com/login");
    assert!(matches!(&c.values["user"], TemplateValue::Text(t) if t == "bot-acme"));
    assert!(
        matches!(&c.json.as_ref().expect("json")["account"], TemplateValue::Text(t) if t == "{{user}}@acme")
    );
    // Filled from a file: a secret, sent as it is and never shown.
    assert!(matches!(
        &c.headers["X-Key"],
        TemplateValue::Secret(SecretRef::Literal(_))
    ));
    assert!(!format!("{spec:?}").contains("k3y-value"));
}

const CREDENTIALS: &str = r#"
default_environment = "dev"
[connections.github]
base_url = "https://api.github.com"
headers = { Authorization = "token hunter2-value", X-Vendor-Key = "v", Accept = "a" }
auth = { type = "none" }
[connections.github.environments.dev]
[connections.github.environments.prod]
[connections.vendor]
base_url = "https://vendor.example.com"
auth = { type = "api_key", key_name = "X-Vendor-Key", key_value = { env = "K" } }
"#;

#[test]
fn validate_warns_once_about_credentials_in_default_headers_never_their_value() {
    let config = load(CREDENTIALS);
    let warnings: Vec<String> = config.warnings().iter().map(|w| w.to_string()).collect();
    let about = |header: &str| {
        warnings
            .iter()
            .filter(|w| w.starts_with(&format!("connections.github.headers.{header}: ")))
            .count()
    };
    assert_eq!(about("Authorization"), 1, "{warnings:#?}");
    assert_eq!(about("X-Vendor-Key"), 1, "{warnings:#?}");
    assert_eq!(about("Accept"), 0, "{warnings:#?}");
    let all = warnings.join("\n");
    assert!(
        all.contains("credentials belong in the auth method"),
        "{all}"
    );
    assert!(
        all.contains("the header the auth method `connections.vendor.auth` sets"),
        "{all}"
    );
    assert!(!all.contains("hunter2"), "{all}");
}

async fn received(layer: ConnectionLayer, request: Request<String>) -> HeaderMap {
    let svc =
        ServiceBuilder::new()
            .layer(layer)
            .service(service_fn(|req: Request<String>| async move {
                Ok::<_, Infallible>(Response::new(req.headers().clone()))
            }));
    svc.oneshot(request).await.expect("sent").into_body()
}

#[tokio::test]
async fn the_connection_layer_sends_default_headers_and_the_credential_wins() {
    let config = load(
        r#"
[connections.github]
base_url = "https://api.github.com"
headers = { Accept = "application/vnd.github+json", Authorization = "Bearer hard-coded" }
auth = { type = "bearer", token = "t0k3n-value" }
"#,
    );
    let layer = config
        .connection("github", None)
        .expect("spec")
        .layer()
        .expect("layer");
    let request = Request::get("https://api.github.com/user")
        .header("accept", "text/plain")
        .body(String::new())
        .expect("request");
    let headers = received(layer.clone(), request).await;
    let all = |name: &str| -> Vec<_> { headers.get_all(name).iter().cloned().collect() };
    assert_eq!(all("accept"), ["text/plain"], "the caller's own, once");
    assert_eq!(
        all("authorization"),
        ["Bearer t0k3n-value"],
        "the credential wins"
    );

    let request = Request::get("https://api.github.com/user")
        .body(String::new())
        .expect("request");
    let headers = received(layer, request).await;
    assert_eq!(headers["accept"], "application/vnd.github+json");
}
