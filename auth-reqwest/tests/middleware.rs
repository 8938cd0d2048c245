//! The reqwest middlewares against the same in-process servers as the hyper-util tests: the
//! token server, the API server and the login server, on 127.0.0.1.

use auth_core::{AuthError, ErrorKind};
use auth_layers::{ApiKeyLayer, BasicAuthLayer, BearerLayer, NoAuthLayer, Origin, TokenLayer};
use auth_oauth::{OAuth2Layer, custom::CustomTokenRequest};
use auth_reqwest::{CredentialMiddleware, TokenMiddleware, auth_error};
use auth_test_support::{
    ApiServer, Expectation, client as hyper_client,
    login_server::{LoginServer, Reply},
    token_server::{Fault, TokenServer},
};
use base64::Engine as _;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware};
use serde_json::json;
use tower::{ServiceBuilder, ServiceExt};

fn client(middleware: impl Middleware) -> ClientWithMiddleware {
    #[cfg(feature = "rustls")]
    auth_reqwest::install_ring_provider();
    ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build()
}

/// A client-credentials layer on `server`'s token endpoint.
fn client_credentials(server: &TokenServer) -> OAuth2Layer<auth_oauth::ClientCredentials> {
    OAuth2Layer::client_credentials(server.token_url(), "client-id", "client-secret")
        .build()
        .expect("layer")
}

fn origin(api: &ApiServer) -> Origin {
    Origin::parse(&api.base_url()).expect("origin")
}

#[tokio::test]
async fn client_credentials_end_to_end_share_one_cache_with_a_tower_stack() {
    let tokens = TokenServer::builder().start().await;
    let api = ApiServer::start(Expectation::header("Authorization", "Bearer at-1")).await;
    let oauth = client_credentials(&tokens);
    let reqwest = client(TokenMiddleware::new(oauth.source().clone()));
    let tower = ServiceBuilder::new()
        .layer(TokenLayer::new(oauth.source().clone()))
        .service(hyper_client());
    for _ in 0..3 {
        let response = reqwest
            .get(format!("{}/v1/items", api.base_url()))
            .send()
            .await;
        assert_eq!(response.expect("response").status(), StatusCode::OK);
        let request = http::Request::get(api.url("/v1/items"))
            .body(Full::<Bytes>::default())
            .expect("request");
        let response = tower.clone().oneshot(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(tokens.fetches(), 1, "one token for both clients");
    assert_eq!(
        tokens.last_request().field("grant_type"),
        Some("client_credentials")
    );
    assert_eq!(api.request_count(), 6);
    for request in api.requests() {
        assert_eq!(request.header_values("authorization"), ["Bearer at-1"]);
    }
}

/// Records whether the `Authorization` header a request goes out with is marked sensitive.
struct SensitiveCheck(std::sync::Arc<std::sync::Mutex<Vec<bool>>>);

#[async_trait::async_trait]
impl Middleware for SensitiveCheck {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let sensitive = request.headers()["authorization"].is_sensitive();
        self.0.lock().expect("lock").push(sensitive);
        next.run(request, extensions).await
    }
}

#[tokio::test]
async fn header_values_built_from_secrets_are_sensitive() {
    let api = ApiServer::start(Expectation::header("Authorization", "Bearer at-1")).await;
    let tokens = TokenServer::builder().start().await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    #[cfg(feature = "rustls")]
    auth_reqwest::install_ring_provider();
    for middleware in [
        std::sync::Arc::new(CredentialMiddleware::new(
            BearerLayer::new("t").expect("layer"),
        )) as std::sync::Arc<dyn Middleware>,
        std::sync::Arc::new(CredentialMiddleware::new(
            BasicAuthLayer::new("u", "p").expect("layer"),
        )),
        std::sync::Arc::new(TokenMiddleware::new(
            client_credentials(&tokens).source().clone(),
        )),
    ] {
        let reqwest = ClientBuilder::new(reqwest::Client::new())
            .with_arc(middleware)
            .with(SensitiveCheck(seen.clone()))
            .build();
        reqwest.get(api.base_url()).send().await.expect("response");
    }
    assert_eq!(*seen.lock().expect("lock"), [true, true, true]);
}

#[tokio::test]
async fn a_401_invalidates_refetches_and_retries_exactly_once() {
    let tokens = TokenServer::builder().start().await;
    // Rejects the first token, accepts the second.
    let api = ApiServer::start(Expectation::header("Authorization", "Bearer at-2")).await;
    let reqwest = client(TokenMiddleware::from(
        client_credentials(&tokens).into_token_layer(),
    ));
    let response = reqwest
        .post(format!("{}/v1/items", api.base_url()))
        .body("a replayable body")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.extensions().get::<AuthError>().is_none());
    assert_eq!((tokens.fetches(), api.request_count()), (2, 2));
    let sent: Vec<_> = api
        .requests()
        .iter()
        .map(|r| r.header_values("authorization"))
        .collect();
    assert_eq!(sent, [["Bearer at-1"], ["Bearer at-2"]]);

    // The fresh token is cached: no more fetches.
    let response = reqwest.get(api.base_url()).send().await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!((tokens.fetches(), api.request_count()), (2, 3));
}

#[tokio::test]
async fn a_second_401_is_handed_over_with_the_auth_error() {
    let tokens = TokenServer::builder().start().await;
    let api = ApiServer::start(Expectation::header("Authorization", "Bearer never")).await;
    let reqwest = client(TokenMiddleware::new(
        client_credentials(&tokens).source().clone(),
    ));
    let response = reqwest.get(api.base_url()).send().await.expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        (tokens.fetches(), api.request_count()),
        (2, 2),
        "one retry, no loop"
    );
    let error = response.extensions().get::<AuthError>().expect("error");
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert_eq!(
        error.challenge().and_then(|c| c.error.as_deref()),
        Some("invalid_token")
    );
    let shown = error.to_string();
    assert!(
        shown.contains("a freshly fetched token was rejected too"),
        "{shown}"
    );
    assert!(
        !shown.contains("at-1") && !shown.contains("at-2"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_403_is_never_retried() {
    let server = LoginServer::builder()
        .api_reply(|path| match path {
            "/api/admin" => Reply::status(StatusCode::FORBIDDEN),
            _ => Reply::status(StatusCode::OK),
        })
        .start()
        .await;
    let layer = CustomTokenRequest::post(server.login_url())
        .json_field("user", "alice")
        .build()
        .expect("request")
        .into_layer()
        .expect("layer");
    let reqwest = client(TokenMiddleware::from(layer));
    let response = reqwest.get(server.url("/api/items")).send().await;
    assert_eq!(response.expect("response").status(), StatusCode::OK);
    let response = reqwest
        .get(server.url("/api/admin"))
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!((server.login_count(), server.api_call_count()), (1, 2));
    let error = response.extensions().get::<AuthError>().expect("error");
    assert_eq!(error.kind(), ErrorKind::Forbidden);
    assert!(error.to_string().contains("not retried on 403"), "{error}");
}

#[tokio::test]
async fn a_streaming_body_is_sent_once_and_its_401_handed_over() {
    let tokens = TokenServer::builder().start().await;
    let api = ApiServer::start(Expectation::header("Authorization", "Bearer at-2")).await;
    let reqwest = client(TokenMiddleware::new(
        client_credentials(&tokens).source().clone(),
    ));
    let response = reqwest
        .post(api.base_url())
        .body(reqwest::Body::wrap(String::from(
            "streamed, cannot be cloned",
        )))
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!((tokens.fetches(), api.request_count()), (1, 1));
    let error = response.extensions().get::<AuthError>().expect("error");
    assert!(
        error.to_string().contains("could not be replayed"),
        "{error}"
    );
}

#[tokio::test]
async fn credentials_go_only_to_the_allowed_origin() {
    let tokens = TokenServer::builder().start().await;
    let api = ApiServer::start(Expectation::header("Authorization", "Bearer at-1")).await;
    let elsewhere = ApiServer::start(Expectation::header("Authorization", "Bearer at-1")).await;
    let layer = client_credentials(&tokens)
        .into_token_layer()
        .restrict_to_origin(origin(&api));
    let reqwest = client(TokenMiddleware::from(layer));
    let response = reqwest
        .get(elsewhere.base_url())
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.extensions().get::<AuthError>().is_none(),
        "not ours to judge"
    );
    assert_eq!(tokens.fetches(), 0, "no token fetched for another origin");
    assert_eq!(
        elsewhere.requests()[0].header_values("authorization").len(),
        0
    );
    assert_eq!(elsewhere.request_count(), 1, "and no retry");
    let response = reqwest.get(api.base_url()).send().await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);

    // A fixed credential too.
    let bearer = BearerLayer::new("fixed")
        .expect("layer")
        .restrict_to_origin(origin(&api));
    let reqwest = client(CredentialMiddleware::new(bearer));
    reqwest
        .get(elsewhere.base_url())
        .send()
        .await
        .expect("response");
    let last = elsewhere.last_request().expect("request");
    assert!(last.header_values("authorization").is_empty());
}

#[tokio::test]
async fn an_api_key_in_the_query_replaces_an_existing_parameter() {
    let api = ApiServer::start(Expectation::query("api_key", "k3y/ü")).await;
    let layer = ApiKeyLayer::query("api_key", "k3y/ü")
        .build()
        .expect("layer");
    let reqwest = client(CredentialMiddleware::new(layer));
    let url = format!(
        "{}/v1/items?api_key=old&page=2&api_key=older",
        api.base_url()
    );
    let response = reqwest.get(url).send().await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let seen = api.last_request().expect("request");
    assert_eq!(seen.query.as_deref(), Some("page=2&api_key=k3y%2F%C3%BC"));

    // In a header; a request's own key kept with `keep_existing`.
    let api = ApiServer::start(Expectation::header("X-Api-Key", "mine")).await;
    let layer = ApiKeyLayer::header("X-Api-Key", "k3y")
        .build()
        .expect("layer");
    let reqwest = client(CredentialMiddleware::new(layer.keep_existing()));
    let response = reqwest
        .get(api.base_url())
        .header("x-api-key", "mine")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn basic_credentials_are_utf8_and_none_sends_nothing() {
    let encoded = base64::engine::general_purpose::STANDARD.encode("usér:pässword");
    let api = ApiServer::start(Expectation::header(
        "Authorization",
        format!("Basic {encoded}"),
    ))
    .await;
    let basic = BasicAuthLayer::new("usér", "pässword").expect("layer");
    let response = client(CredentialMiddleware::new(basic))
        .get(api.base_url())
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);

    let response = client(CredentialMiddleware::new(NoAuthLayer::new()))
        .get(api.base_url())
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let last = api.last_request().expect("request");
    assert!(last.header_values("authorization").is_empty());
    let error = response.extensions().get::<AuthError>().expect("error");
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
}

#[tokio::test]
async fn a_token_endpoint_failure_downcasts_to_its_auth_error() {
    let tokens = TokenServer::builder().start().await;
    tokens.set_sticky_fault(Some(Fault::json(
        401,
        json!({"error": "invalid_client", "error_description": "unknown client"}),
    )));
    let api = ApiServer::start(Expectation::header("Authorization", "Bearer at-1")).await;
    let reqwest = client(TokenMiddleware::new(
        client_credentials(&tokens).source().clone(),
    ));
    let error = reqwest
        .get(api.base_url())
        .send()
        .await
        .expect_err("no token");
    assert!(error.is_middleware());
    let auth = auth_error(&error).expect("an AuthError in the chain");
    assert_eq!(auth.kind(), ErrorKind::InvalidClient);
    assert!(!error.to_string().contains("client-secret"));
    assert_eq!(api.request_count(), 0, "nothing sent without a token");
}

#[tokio::test]
async fn a_keyed_layer_sends_each_key_its_own_token_and_refuses_a_request_without_one() {
    use auth_core::{AccessToken, KeyedTokenSource, StaticTokenSource, TokenKey};
    let api = ApiServer::start(Expectation::header("Authorization", "Bearer for-alice")).await;
    let keyed = KeyedTokenSource::builder(|key: &TokenKey| {
        Ok(StaticTokenSource::new(AccessToken::bearer(format!(
            "for-{}",
            key.subject()
        ))?))
    })
    .build();
    let reqwest = client(TokenMiddleware::from(TokenLayer::keyed(keyed)));
    let url = format!("{}/v1/items", api.base_url());
    let response = reqwest
        .get(&url)
        .with_extension(TokenKey::new("alice"))
        .send()
        .await
        .expect("alice's request");
    assert_eq!(response.status(), StatusCode::OK);
    // bob's token is bob's: the API (expecting alice's) answers 401, never with alice's token.
    let response = reqwest
        .get(&url)
        .with_extension(TokenKey::new("bob"))
        .send()
        .await
        .expect("bob's request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let error = reqwest.get(&url).send().await.expect_err("no key");
    assert_eq!(
        auth_error(&error).map(AuthError::kind),
        Some(ErrorKind::NoTokenKey)
    );
    let sent: Vec<Vec<String>> = api
        .requests()
        .iter()
        .map(|r| r.header_values("authorization"))
        .collect();
    assert_eq!(
        sent,
        [["Bearer for-alice"], ["Bearer for-bob"]],
        "the request without a key was never sent"
    );
}
