//! Refresh timing and the eager start of configured connections: `refresh_before` on every
//! token-based auth table, errors at its key path, and `ConnectionLayer::prefetch`.
#![cfg(all(feature = "config", feature = "oauth2"))]

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use auth_test_support::demo::{self, DemoProvider};
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_auth::{
    ErrorKind,
    config::{AuthSpec, Config, ConnectionSpec, Format},
};

fn oauth2_config(token_url: &str, secret_file: &std::path::Path, extra: &str) -> Config {
    Config::from_str(
        &format!(
            r#"
[connections.billing]
base_url = "http://127.0.0.1:1/api"
[connections.billing.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{token_url}"
client_id = "{id}"
client_secret = {{ file = "{secret}" }}
client_auth = "body"
{extra}
"#,
            id = demo::CLIENT_ID,
            secret = secret_file.display(),
        ),
        Format::Toml,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn billing(config: &Config) -> ConnectionSpec {
    config.connection("billing", None).expect("spec")
}

#[test]
fn refresh_before_is_read_on_every_token_based_auth_table() {
    let config = Config::from_str(
        r#"
[connections.oauth.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "https://auth.example.com/token"
client_id = "id"
client_secret = { env = "SECRET" }
refresh_before = "10s"
[connections.oauth]
base_url = "https://api.example.com"

[connections.jwt]
base_url = "https://api.example.com"
auth = { type = "jwt_bearer", token_url = "https://auth.example.com/token", issuer = "svc", private_key = { file = "/k.pem" }, refresh_before = "1m" }

[connections.custom]
base_url = "https://api.example.com"
auth = { type = "custom", request = { url = "https://auth.example.com/login" }, refresh_before = 30 }

[connections.default]
base_url = "https://api.example.com"
auth = { type = "custom", request = { url = "https://auth.example.com/login" } }
"#,
        Format::Toml,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let lead = |name: &str| match config.connection(name, None).expect(name).auth {
        AuthSpec::OAuth2(o) => o.refresh_before,
        AuthSpec::JwtBearer(j) => j.refresh_before,
        AuthSpec::Custom(c) => c.refresh_before,
        other => panic!("{}", other.type_name()),
    };
    assert_eq!(lead("oauth"), Some(Duration::from_secs(10)));
    assert_eq!(lead("jwt"), Some(Duration::from_secs(60)));
    assert_eq!(lead("custom"), Some(Duration::from_secs(30)));
    assert_eq!(lead("default"), None);
}

#[test]
fn a_bad_refresh_before_is_reported_at_its_key_path() {
    for (value, table) in [
        ("\"soon\"", "oauth2"),
        ("-5", "custom"),
        ("\"0s\"", "jwt_bearer"),
        ("{ env = \"X\" }", "oauth2"),
    ] {
        let auth = match table {
            "oauth2" => {
                "type = \"oauth2\"\ngrant = \"client_credentials\"\ntoken_url = \"https://a.example.com/t\"\nclient_id = \"id\"\nclient_secret = { env = \"S\" }"
            }
            "custom" => "type = \"custom\"\nrequest = { url = \"https://a.example.com/login\" }",
            _ => {
                "type = \"jwt_bearer\"\ntoken_url = \"https://a.example.com/t\"\nissuer = \"svc\"\nprivate_key = { file = \"/k.pem\" }"
            }
        };
        let text = format!(
            "[connections.api]\nbase_url = \"https://api.example.com\"\n[connections.api.auth]\n{auth}\nrefresh_before = {value}\n"
        );
        let error = Config::from_str(&text, Format::Toml).expect_err(value);
        let problems = error.problems();
        assert_eq!(problems.len(), 1, "{error}");
        assert_eq!(
            problems[0].path, "connections.api.auth.refresh_before",
            "{error}"
        );
        assert!(
            problems[0].message.contains("expected a duration"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_configured_refresh_before_starts_the_refresh_that_long_before_expiry() {
    // 4 s tokens, refreshed 3 s before expiry (jitter: up to 0.75 s earlier), so from 1 s at
    // the latest; the default would wait until 1.5 s (the last quarter before a 2 s skew).
    let provider = DemoProvider::start(Duration::from_secs(4))
        .await
        .expect("provider");
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, demo::CLIENT_SECRET).expect("write");
    let config = oauth2_config(&provider.token_url(), &secret, "refresh_before = \"3s\"");
    let layer = billing(&config).layer().expect("layer");
    tokio::time::timeout(Duration::from_secs(10), layer.prefetch())
        .await
        .expect("bounded")
        .expect("first token");
    let source = layer.token_source().expect("token source");
    let first = source.current().expect("cached");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Still served (until 1.5 s before expiry), and this request starts the refresh.
    assert!(source.current().expect("served").same_as(&first));
    tokio::time::timeout(Duration::from_secs(2), async {
        while provider.token_fetches() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("a background refresh after 1.1 s of a 4 s token");
    let second = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match source.current() {
                Some(token) if !token.same_as(&first) => break token,
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
    .await
    .expect("the refreshed token is served");
    assert!(second.expires_at() > first.expires_at());
}

type Pending = Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, tower::BoxError>> + Send>>;

/// An API that answers at once: a request not ready on its first poll waited for its token.
fn instant_api(
    request: Request<Full<Bytes>>,
) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
    let mut response = Response::new(Full::default());
    if request.headers().get(header::AUTHORIZATION).is_none() {
        *response.status_mut() = StatusCode::UNAUTHORIZED;
    }
    std::future::ready(Ok(response))
}

#[tokio::test]
async fn after_prefetch_a_burst_of_requests_never_waits_for_the_token_endpoint() {
    let provider = DemoProvider::start(Duration::from_secs(3600))
        .await
        .expect("provider");
    provider.set_token_delay(Duration::from_millis(200));
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, demo::CLIENT_SECRET).expect("write");
    let config = oauth2_config(&provider.token_url(), &secret, "");
    let layer = billing(&config).layer().expect("layer");
    tokio::time::timeout(Duration::from_secs(10), layer.prefetch())
        .await
        .expect("bounded")
        .expect("first token at startup");
    assert_eq!(provider.token_fetches(), 1);
    let api = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(instant_api));
    let requests: Vec<Pending> = (0..64)
        .map(|_| {
            let request = Request::get("http://127.0.0.1:1/api/me")
                .body(Full::default())
                .expect("request");
            Box::pin(api.clone().oneshot(request)) as _
        })
        .collect();
    let mut waited = 0;
    for mut request in requests {
        let first = request
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        let response = match first {
            Poll::Ready(response) => response,
            Poll::Pending => {
                waited += 1;
                tokio::time::timeout(Duration::from_secs(10), request)
                    .await
                    .expect("bounded")
            }
        };
        assert_eq!(response.expect("response").status(), StatusCode::OK);
    }
    assert_eq!(waited, 0, "no request waited for the token endpoint");
    assert_eq!(provider.token_fetches(), 1);
}

#[tokio::test]
async fn prefetch_fails_fast_on_bad_credentials_with_the_typed_error() {
    let provider = DemoProvider::start(Duration::from_secs(3600))
        .await
        .expect("provider");
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "not-the-secret").expect("write");
    let config = oauth2_config(&provider.token_url(), &secret, "");
    let layer = billing(&config).layer().expect("layer");
    let error = tokio::time::timeout(Duration::from_secs(10), layer.prefetch())
        .await
        .expect("bounded")
        .expect_err("wrong secret");
    assert_eq!(error.kind(), ErrorKind::InvalidClient, "{error}");
    assert!(!error.to_string().contains("not-the-secret"), "{error}");
}

#[tokio::test]
async fn prefetch_of_a_fixed_credential_does_nothing() {
    let config = Config::from_str(
        r#"
[connections.api]
base_url = "https://api.example.com"
auth = { type = "none" }
"#,
        Format::Toml,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let layer = config
        .connection("api", None)
        .expect("spec")
        .layer()
        .expect("layer");
    layer.prefetch().await.expect("nothing to fetch");
    assert!(layer.token_source().is_none());
}
