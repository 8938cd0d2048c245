//! Interop with a real third-party OAuth 2.0 server: the npm package `oauth2-mock-server`,
//! pinned in the repository's `package.json` + `package-lock.json` (install with `npm ci`).
//!
//! Each test starts its own server with test-support's [`MockServer`], which runs
//! `tests/interop/oauth2-mock-server.mjs` (Node on 127.0.0.1, ephemeral port) and kills it at
//! the end. When the server cannot start (no Node, `npm ci` not run), the tests fail with a
//! message saying so: they are never skipped.

use std::{sync::Arc, time::Duration};

use auth_core::{ErrorKind, ExposeSecret, MemoryTokenStore, StoredToken, TokenStore};
use auth_oauth::{
    AuthorizationCode, ClientAuth, ClientCredentials, OAuth2Layer, Password, RefreshToken,
    TokenEndpoint, TokenParams,
};
use auth_test_support::{browse, oauth2_mock_server::MockServer};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tower::{ServiceBuilder, ServiceExt};

fn endpoint(server: &MockServer, auth: ClientAuth) -> TokenEndpoint {
    TokenEndpoint::builder(server.url("/token"), "interop-client")
        .client_secret("s3cret:with%odd+chars é")
        .client_auth(auth)
        .build()
        .expect("endpoint")
}

fn is_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

#[tokio::test]
async fn client_credentials_with_basic_and_with_the_body() {
    let server = MockServer::start().await;
    let params = TokenParams::new()
        .scopes("read write")
        .param("aud", "interop-api");
    let grant = ClientCredentials::new(endpoint(&server, ClientAuth::Basic), params.clone())
        .expect("grant");
    let token = grant.fetch().await.expect("token from oauth2-mock-server");
    assert!(is_jwt(token.secret().expose_secret()));
    assert_eq!(token.token_type(), "Bearer");
    assert_eq!(token.scopes(), ["read", "write"]);
    assert!(token.expires_at().is_some());

    let grant = ClientCredentials::new(endpoint(&server, ClientAuth::Body), params).expect("grant");
    grant.fetch().await.expect("token with client_secret_post");

    let seen = server.token_requests(2).await;
    assert_eq!(seen[0]["form"]["grant_type"], "client_credentials");
    assert_eq!(seen[0]["form"]["scope"], "read write");
    assert_eq!(seen[0]["basic"]["name"], "interop-client");
    // RFC 6749 §2.3.1: the secret was form-urlencoded before Base64.
    assert_eq!(
        seen[0]["basic"]["pass"],
        "s3cret%3Awith%25odd%2Bchars+%C3%A9"
    );
    assert!(seen[0]["form"].get("client_secret").is_none());
    assert_eq!(seen[1]["form"]["client_secret"], "s3cret:with%odd+chars é");
    assert!(seen[1]["basic"].is_null());
}

#[tokio::test]
async fn password_then_refresh_with_rotation() {
    let server = MockServer::start().await;
    let password = Password::new(
        endpoint(&server, ClientAuth::Basic),
        "alice",
        "wonderland",
        TokenParams::new().scopes("profile"),
    )
    .expect("grant");
    let token = password.fetch().await.expect("token for alice");
    let first_refresh = token.refresh_token().expect("a refresh token").clone();

    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    store
        .save(
            "alice",
            &StoredToken::with_refresh_token(first_refresh.clone()),
        )
        .await
        .expect("seed");
    let refresh = RefreshToken::new(
        endpoint(&server, ClientAuth::Basic),
        store.clone(),
        "alice",
        TokenParams::new(),
    )
    .expect("grant");
    refresh.fetch().await.expect("refreshed");
    refresh
        .fetch()
        .await
        .expect("refreshed with the rotated token");
    let stored = store.load("alice").await.expect("load").expect("record");
    let latest = stored.refresh_token.expect("refresh token");
    assert_ne!(latest.expose_secret(), first_refresh.expose_secret());

    // The first refresh token was spent: the server refuses it.
    let replay = RefreshToken::new(
        endpoint(&server, ClientAuth::Basic),
        Arc::new(MemoryTokenStore::new()),
        "replay",
        TokenParams::new(),
    )
    .expect("grant")
    .initial_refresh_token(first_refresh.clone());
    let err = replay.fetch().await.expect_err("spent refresh token");
    assert_eq!(err.kind(), ErrorKind::InvalidGrant);

    let seen = server.token_requests(4).await;
    assert_eq!(seen[0]["form"]["grant_type"], "password");
    assert_eq!(seen[0]["form"]["username"], "alice");
    assert_eq!(seen[0]["form"]["password"], "wonderland");
    assert_eq!(seen[1]["form"]["grant_type"], "refresh_token");
    assert_eq!(
        seen[1]["form"]["refresh_token"],
        first_refresh.expose_secret()
    );
}

#[tokio::test]
async fn authorization_code_with_pkce_then_refresh() {
    let server = MockServer::start().await;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    let public = TokenEndpoint::builder(server.url("/token"), "interop-cli")
        .build()
        .expect("endpoint");
    let grant =
        AuthorizationCode::builder(public, server.url("/authorize"), "http://127.0.0.1:0/cb")
            .params(TokenParams::new().scopes("openid offline_access"))
            .store(store.clone(), "cli")
            .build()
            .expect("grant");
    let mut browser = None;
    let token = grant
        .login(
            |url| browser = Some(tokio::spawn(browse(url.to_string()))),
            Duration::from_secs(20),
        )
        .await
        .expect("signed in against oauth2-mock-server");
    let (status, page) = browser
        .expect("browser opened")
        .await
        .expect("browser task");
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(is_jwt(token.secret().expose_secret()));

    let seen = server.token_requests(1).await;
    assert_eq!(seen[0]["form"]["grant_type"], "authorization_code");
    assert_eq!(seen[0]["form"]["client_id"], "interop-cli");
    assert!(
        seen[0]["form"]["code_verifier"]
            .as_str()
            .is_some_and(|v| v.len() >= 43)
    );

    let first = store.load("cli").await.expect("load").expect("record");
    let first = first
        .refresh_token
        .expect("refresh token")
        .expose_secret()
        .to_owned();
    assert!(
        grant
            .fetch()
            .await
            .expect("the exchanged token")
            .same_as(&token)
    );
    grant.fetch().await.expect("refreshed");
    let rotated = store.load("cli").await.expect("load").expect("record");
    assert_ne!(rotated.refresh_token.expect("rt").expose_secret(), first);
}

#[tokio::test]
async fn the_layer_sends_the_servers_token() {
    let server = MockServer::start().await;
    let oauth = OAuth2Layer::client_credentials(server.url("/token"), "interop-client", "secret")
        .scopes("read")
        .build()
        .expect("layer");
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let api = ServiceBuilder::new().layer(oauth.clone()).service(client);
    let request = Request::get(server.url("/userinfo"))
        .body(Full::default())
        .expect("request");
    let response = api.oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.token_requests(1).await.len(), 1);
}
