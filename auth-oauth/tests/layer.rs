//! `OAuth2Layer` in front of a real hyper-util client, alone and inside tower's timeout and
//! retry layers, against the in-process token endpoint and API.

use std::{sync::Arc, time::Duration};

use auth_core::{AuthError, ErrorKind, MemoryTokenStore, StoredToken, TokenSource, TokenStore};
use auth_oauth::{ClientAuth, OAuth2Layer};
use auth_test_support::token_server::{AcceptAuth, Fault, TokenServer};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use tower::{
    BoxError, ServiceBuilder, ServiceExt,
    retry::{Policy, RetryLayer},
    timeout::TimeoutLayer,
};

fn http_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn get(url: &str) -> Request<Full<Bytes>> {
    Request::get(url).body(Full::default()).expect("request")
}

#[tokio::test]
async fn service_builder_with_the_layer_just_works_and_fetches_once() {
    let server = TokenServer::builder().start().await;
    let oauth = OAuth2Layer::client_credentials(server.token_url(), "client-id", "client-secret")
        .scopes("read write")
        .audience("https://api.example.com")
        .build()
        .expect("layer");
    let api = ServiceBuilder::new().layer(oauth).service(http_client());
    for _ in 0..5 {
        let response = api
            .clone()
            .oneshot(get(&server.api_url()))
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(server.fetches(), 1);
    let request = server.last_request();
    assert_eq!(request.field("scope"), Some("read write"));
    assert_eq!(request.field("audience"), Some("https://api.example.com"));
}

#[tokio::test]
async fn a_401_from_the_api_fetches_a_new_token_and_retries_once() {
    let server = TokenServer::builder().start().await;
    let oauth = OAuth2Layer::client_credentials(server.token_url(), "client-id", "client-secret")
        .build()
        .expect("layer");
    let api = ServiceBuilder::new().layer(oauth).service(http_client());
    let response = api
        .clone()
        .oneshot(get(&server.api_url()))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    server.revoke_access_tokens();
    let response = api
        .clone()
        .oneshot(get(&server.api_url()))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.fetches(), 2);
}

/// Retries transport errors and 503s, not `AuthError`s (they do not heal by retrying).
#[derive(Clone)]
struct RetryFailures(usize);

impl<B> Policy<Request<Full<Bytes>>, Response<B>, BoxError> for RetryFailures {
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        _request: &mut Request<Full<Bytes>>,
        result: &mut Result<Response<B>, BoxError>,
    ) -> Option<Self::Future> {
        let retryable = match result {
            Ok(response) => response.status() == StatusCode::SERVICE_UNAVAILABLE,
            Err(error) => !error.is::<AuthError>(),
        };
        (retryable && self.0 > 0).then(|| {
            self.0 -= 1;
            std::future::ready(())
        })
    }

    fn clone_request(&mut self, request: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
        Some(request.clone())
    }
}

#[tokio::test]
async fn the_layer_composes_with_tower_timeout_and_retry() {
    let server = TokenServer::builder()
        .accept(AcceptAuth::Body)
        .start()
        .await;
    let oauth = OAuth2Layer::client_credentials(server.token_url(), "client-id", "client-secret")
        .client_auth(ClientAuth::Auto)
        .build()
        .expect("layer");
    let api = ServiceBuilder::new()
        .layer(TimeoutLayer::new(Duration::from_secs(10)))
        .layer(RetryLayer::new(RetryFailures(2)))
        .layer(TimeoutLayer::new(Duration::from_secs(2)))
        .layer(oauth.clone())
        .service(http_client());
    let response = api
        .clone()
        .oneshot(get(&server.api_url()))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    // The cache is shared by every clone of the layer.
    assert!(oauth.source().current().is_some());
}

#[tokio::test]
async fn a_token_endpoint_failure_is_an_auth_error_of_the_service() {
    let server = TokenServer::builder().start().await;
    server.set_sticky_fault(Some(Fault::json(
        400,
        serde_json::json!({"error": "invalid_scope"}),
    )));
    let oauth = OAuth2Layer::client_credentials(server.token_url(), "client-id", "client-secret")
        .scopes("admin")
        .build()
        .expect("layer");
    let api = ServiceBuilder::new().layer(oauth).service(http_client());
    let error = api
        .oneshot(get(&server.api_url()))
        .await
        .expect_err("no token");
    let auth = error.downcast_ref::<AuthError>().expect("an AuthError");
    assert_eq!(auth.kind(), ErrorKind::InvalidScope);
}

#[tokio::test]
async fn password_and_refresh_layers_build_and_send_tokens() {
    let server = TokenServer::builder().user("alice", "pw").start().await;
    let password = OAuth2Layer::password(server.token_url(), "client-id", "alice", "pw")
        .client_secret("client-secret")
        .build()
        .expect("layer");
    let api = ServiceBuilder::new().layer(password).service(http_client());
    let response = api.oneshot(get(&server.api_url())).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);

    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    store
        .save(
            "k",
            &StoredToken::with_refresh_token(server.issue_refresh_token()),
        )
        .await
        .expect("seed");
    let refresh = OAuth2Layer::refresh_token(server.token_url(), "client-id", store, "k")
        .client_secret("client-secret")
        .build()
        .expect("layer");
    let api = ServiceBuilder::new().layer(refresh).service(http_client());
    let response = api.oneshot(get(&server.api_url())).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_settings_are_config_errors_naming_the_setting() {
    let cases: Vec<(Result<_, AuthError>, &str)> = vec![
        (
            OAuth2Layer::client_credentials("not a url", "id", "s")
                .build()
                .map(drop),
            "token_url: `not a url` is not a URL",
        ),
        (
            OAuth2Layer::client_credentials("https://a.example/t", "", "s")
                .build()
                .map(drop),
            "client_id: is missing",
        ),
        (
            OAuth2Layer::client_credentials("http://a.example/t", "id", "s")
                .build()
                .map(drop),
            "token_url: `http://a.example` is not loopback",
        ),
        (
            OAuth2Layer::client_credentials("https://a.example/t", "id", "s")
                .scopes("")
                .build()
                .map(drop),
            "scopes: the list is empty",
        ),
        (
            OAuth2Layer::client_credentials("https://a.example/t", "id", "s")
                .param("grant_type", "x")
                .build()
                .map(drop),
            "params.grant_type",
        ),
        (
            OAuth2Layer::authorization_code(
                "https://a.example/t",
                "id",
                "https://a.example/authorize",
                "http://127.0.0.1:9/cb#frag",
            )
            .build()
            .map(drop),
            "redirect_uri: must not contain a fragment",
        ),
        (
            OAuth2Layer::authorization_code(
                "https://a.example/t",
                "id",
                "nope",
                "http://127.0.0.1:9/cb",
            )
            .build()
            .map(drop),
            "auth_url: `nope` is not a URL",
        ),
        (
            OAuth2Layer::password("https://a.example/t", "id", "", "pw")
                .build()
                .map(drop),
            "username: is missing",
        ),
    ];
    for (result, expected) in cases {
        let err = result.expect_err(expected);
        assert_eq!(err.kind(), ErrorKind::Config, "{expected}");
        assert!(
            err.to_string().contains(expected),
            "expected {expected:?} in {err}"
        );
    }
}

#[tokio::test]
async fn debug_of_the_layer_and_its_builder_hides_the_secret() {
    let builder = OAuth2Layer::client_credentials("https://a.example/t", "id", "hunter2");
    assert!(!format!("{builder:?}").contains("hunter2"));
    let layer = builder.build().expect("layer");
    assert!(!format!("{layer:?}").contains("hunter2"));
    assert!(!format!("{:?}", layer.source()).contains("hunter2"));
}
