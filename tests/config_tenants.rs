//! One connection template, one token per tenant (`tenants`), end to end against servers on
//! 127.0.0.1: each tenant's secrets are read on its first request, each request carries its own
//! tenant's token, and a tenant whose secret is missing fails alone.
#![cfg(all(feature = "config", feature = "oauth2"))]

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use auth_test_support::token_server::TokenServer;
use axum::{Router, http::HeaderMap, routing::get};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use tower::{ServiceBuilder, ServiceExt};
use tower_auth::{
    AuthError, ErrorKind, TokenKey,
    config::{Config, Format},
};

/// An API that answers 200 and records the `Authorization` header of every request.
async fn recording_api() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let app = Router::new().route(
        "/items",
        get(move |headers: HeaderMap| {
            let recorded = recorded.clone();
            async move {
                let value = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-")
                    .to_owned();
                recorded.lock().expect("seen").push(value);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen)
}

fn config(api: &str, token_url: &str, secrets: &Path, tenants: &str) -> Config {
    Config::from_str(
        &format!(
            r#"
[connections.crm]
base_url = "{api}"
tenants = {tenants}
[connections.crm.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{token_url}"
client_id = "crm-{{tenant}}"
client_secret = {{ file = "{dir}/{{tenant}}.secret" }}
"#,
            dir = secrets.display()
        ),
        Format::Toml,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn request(api: &str, tenant: Option<&str>) -> Request<Full<Bytes>> {
    let mut request = Request::get(format!("{api}/items"))
        .body(Full::default())
        .expect("request");
    if let Some(tenant) = tenant {
        request.extensions_mut().insert(TokenKey::new(tenant));
    }
    request
}

/// A hyper-util client behind the `crm` connection's (keyed) layer.
fn client_of(
    config: &Config,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = http::Response<hyper::body::Incoming>,
    Error = tower::BoxError,
> + Clone {
    let layer = config
        .connection("crm", None)
        .expect("spec")
        .layer()
        .unwrap_or_else(|e| panic!("{e}"));
    ServiceBuilder::new()
        .layer(layer)
        .service(auth_test_support::client())
}

/// Sends a request for `tenant` and expects a 200.
async fn send_ok<C>(client: &C, api: &str, tenant: &str)
where
    C: tower::Service<Request<Full<Bytes>>, Response = http::Response<hyper::body::Incoming>>
        + Clone,
    C::Error: std::fmt::Debug,
{
    let response = client
        .clone()
        .oneshot(request(api, Some(tenant)))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK, "{tenant}");
}

#[tokio::test]
async fn each_tenant_gets_its_own_token_from_its_own_secret() {
    let tokens = TokenServer::builder()
        .another_client("crm-acme", "acme-secret")
        .another_client("crm-globex", "globex-secret")
        .start()
        .await;
    let (api, seen) = recording_api().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("acme.secret"), "acme-secret\n").expect("write");
    std::fs::write(dir.path().join("globex.secret"), "globex-secret").expect("write");
    let config = config(&api, &tokens.token_url(), dir.path(), "true");
    let spec = config.connection("crm", None).expect("spec");
    assert!(spec.tenants.is_some());
    let layer = spec.layer().unwrap_or_else(|e| panic!("{e}"));
    // Nothing to fetch before a tenant is named.
    layer.prefetch().await.expect("prefetch is a no-op");
    assert_eq!(tokens.fetches(), 0);
    let client = ServiceBuilder::new()
        .layer(layer)
        .service(auth_test_support::client());
    let order = ["acme", "globex", "acme", "globex", "globex", "acme"];
    for tenant in order {
        send_ok(&client, &api, tenant).await;
    }
    let seen = seen.lock().expect("seen").clone();
    assert_eq!(seen.len(), order.len());
    for (tenant, header) in order.iter().zip(&seen) {
        let token = header.strip_prefix("Bearer ").expect("a bearer token");
        assert_eq!(
            tokens.owner_of(token).as_deref(),
            Some(&*format!("crm-{tenant}")),
            "a request of {tenant} carried {header}"
        );
    }
    // One token request per tenant, each with its own client id.
    assert_eq!(tokens.fetches(), 2);
    let mut ids: Vec<String> = tokens
        .requests()
        .iter()
        .map(|r| r.basic.clone().map(|(id, _)| id).unwrap_or_default())
        .collect();
    ids.sort();
    assert_eq!(ids, ["crm-acme", "crm-globex"]);
}

#[tokio::test]
async fn a_tenant_without_its_secret_fails_alone_and_is_tried_again() {
    let tokens = TokenServer::builder()
        .another_client("crm-acme", "acme-secret")
        .another_client("crm-initech", "initech-secret")
        .start()
        .await;
    let (api, seen) = recording_api().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("acme.secret"), "acme-secret").expect("write");
    let config = config(&api, &tokens.token_url(), dir.path(), "{ max_keys = 10 }");
    let client = client_of(&config);
    let error = client
        .clone()
        .oneshot(request(&api, Some("initech")))
        .await
        .expect_err("no secret for initech");
    let error = error.downcast_ref::<AuthError>().expect("an AuthError");
    assert_eq!(error.kind(), ErrorKind::Config);
    let text = error.to_string();
    assert!(
        text.contains("connections.crm.auth.client_secret") && text.contains("initech.secret"),
        "{text}"
    );
    assert!(!text.contains("acme-secret"), "{text}");
    // acme is not affected.
    send_ok(&client, &api, "acme").await;
    // The secret appears: initech's next request reads it.
    std::fs::write(dir.path().join("initech.secret"), "initech-secret").expect("write");
    send_ok(&client, &api, "initech").await;
    assert_eq!(seen.lock().expect("seen").len(), 2);
}

#[tokio::test]
async fn requests_without_a_tenant_or_with_a_bad_id_are_refused_and_never_sent() {
    let tokens = TokenServer::builder().start().await;
    let (api, seen) = recording_api().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(&api, &tokens.token_url(), dir.path(), "true");
    let client = client_of(&config);
    let error = client
        .clone()
        .oneshot(request(&api, None))
        .await
        .expect_err("no tenant");
    let kind = error.downcast_ref::<AuthError>().map(AuthError::kind);
    assert_eq!(kind, Some(ErrorKind::NoTokenKey));
    for bad in ["../../etc/passwd", "a/b", ".hidden", ""] {
        let error = client
            .clone()
            .oneshot(request(&api, Some(bad)))
            .await
            .expect_err(bad);
        let error = error.downcast_ref::<AuthError>().expect("an AuthError");
        assert_eq!(error.kind(), ErrorKind::Config, "{bad}");
        assert!(error.to_string().contains("is not a tenant id"), "{error}");
    }
    assert!(seen.lock().expect("seen").is_empty());
    assert_eq!(tokens.fetches(), 0);
}

#[tokio::test]
async fn the_bound_evicts_tenants_and_an_evicted_one_fetches_again() {
    let tokens = TokenServer::builder()
        .another_client("crm-a", "sa")
        .another_client("crm-b", "sb")
        .another_client("crm-c", "sc")
        .start()
        .await;
    let (api, _seen) = recording_api().await;
    let dir = tempfile::tempdir().expect("tempdir");
    for (t, s) in [("a", "sa"), ("b", "sb"), ("c", "sc")] {
        std::fs::write(dir.path().join(format!("{t}.secret")), s).expect("write");
    }
    let config = config(&api, &tokens.token_url(), dir.path(), "{ max_keys = 2 }");
    let client = client_of(&config);
    for tenant in ["a", "b", "c", "c", "a"] {
        send_ok(&client, &api, tenant).await;
    }
    // a, b, c fetched; c evicted one of a and b (both older), so a fetched again at most once.
    let fetched: Vec<String> = tokens
        .requests()
        .iter()
        .map(|r| r.basic.clone().map(|(id, _)| id).unwrap_or_default())
        .collect();
    assert_eq!(fetched, ["crm-a", "crm-b", "crm-c", "crm-a"]);
}

#[test]
fn misuse_is_a_typed_error_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `{tenant}` outside `auth` is not filled in.
    let error = Config::from_str(
        r#"
[connections.crm]
base_url = "https://{tenant}.crm.example.com"
tenants = true
auth = { type = "oauth2", grant = "client_credentials", token_url = "https://login.example.com/token", client_id = "x", client_secret = { env = "X_{tenant}" } }
"#,
        Format::Toml,
    )
    .expect_err("tenant in base_url");
    let text = error.to_string();
    assert!(
        text.contains("connections.crm.base_url") && text.contains("tenant"),
        "{text}"
    );
    // A fixed credential has no token per tenant.
    let config = Config::from_str(
        r#"
[connections.crm]
base_url = "https://crm.example.com"
tenants = true
auth = { type = "bearer", token = { env = "CRM_TOKEN_{tenant}" } }
"#,
        Format::Toml,
    )
    .expect("loads");
    let error = config
        .connection("crm", None)
        .expect("spec")
        .layer()
        .expect_err("bearer per tenant");
    assert!(
        error.to_string().contains("connections.crm.tenants"),
        "{error}"
    );
    // Bad `tenants` values.
    for (value, expected) in [
        ("0", "expected `true` or a table"),
        ("{ max_keys = 0 }", "connections.crm.tenants.max_keys"),
        ("{ max = 3 }", "connections.crm.tenants.max"),
    ] {
        let error = Config::from_str(
            &format!(
                "[connections.crm]\nbase_url = \"https://crm.example.com\"\ntenants = {value}\nauth = {{ type = \"none\" }}\n"
            ),
            Format::Toml,
        )
        .expect_err(value);
        assert!(error.to_string().contains(expected), "{value}: {error}");
    }
    // `for_tenant` of a connection without `tenants`.
    let config = Config::from_str(
        &format!(
            "[connections.one]\nbase_url = \"https://x.example.com\"\nauth = {{ type = \"bearer\", token = {{ file = \"{}/t\" }} }}\n",
            dir.path().display()
        ),
        Format::Toml,
    )
    .expect("loads");
    let error = config
        .connection("one", None)
        .expect("spec")
        .for_tenant("acme")
        .expect_err("no tenants");
    assert!(
        error.to_string().contains("connections.one.tenants"),
        "{error}"
    );
}
