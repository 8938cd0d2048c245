//! The authorization code grant end to end: authorization URL → the in-process authorization
//! endpoint redirects to the loopback listener (a plain hyper client plays the browser) →
//! code exchange → refresh with rotation → the rotated token is in the store.

use std::{sync::Arc, time::Duration};

use auth_core::{ErrorKind, ExposeSecret, MemoryTokenStore, TokenSource, TokenStore};
use auth_oauth::{
    AuthorizationCode, LoopbackListener, OAuth2Layer, TokenEndpoint, TokenParams, Url,
};
use auth_test_support::token_server::TokenServer;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tokio::task::JoinHandle;
use tower::{ServiceBuilder, ServiceExt};

/// What the browser saw at the end of the round trip.
struct BrowserVisit {
    status: StatusCode,
    page: String,
}

/// Plays the browser: follows the redirects from `url` (authorization endpoint, then the
/// loopback listener) and returns the final page.
async fn browse(url: String) -> BrowserVisit {
    let (status, page) = auth_test_support::browse(url).await;
    BrowserVisit { status, page }
}

fn open_in_browser(slot: &mut Option<JoinHandle<BrowserVisit>>) -> impl FnOnce(&Url) + '_ {
    move |url: &Url| *slot = Some(tokio::spawn(browse(url.to_string())))
}

fn field<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn public_grant(server: &TokenServer, store: Arc<dyn TokenStore>) -> AuthorizationCode {
    let endpoint = TokenEndpoint::builder(server.token_url(), "cli")
        .build()
        .expect("endpoint");
    AuthorizationCode::builder(
        endpoint,
        server.authorize_url(),
        "http://127.0.0.1:0/callback",
    )
    .params(
        TokenParams::new()
            .scopes("openid profile")
            .audience("https://api.example.com"),
    )
    .prompt("consent")
    .offline_access(true)
    .auth_param("login_hint", "alice@example.com")
    .store(store, "cli/alice")
    .build()
    .expect("grant")
}

async fn stored_refresh_token(store: &Arc<dyn TokenStore>) -> String {
    let record = store
        .load("cli/alice")
        .await
        .expect("load")
        .expect("a record");
    record
        .refresh_token
        .expect("a refresh token")
        .expose_secret()
        .to_owned()
}

#[tokio::test]
async fn login_exchange_then_refresh_with_rotation_keeps_the_store_current() {
    let server = TokenServer::builder().client("cli", None).start().await;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    let grant = public_grant(&server, store.clone());

    let mut browser = None;
    let token = grant
        .login(open_in_browser(&mut browser), Duration::from_secs(10))
        .await
        .expect("signed in");
    let visit = browser
        .expect("browser opened")
        .await
        .expect("browser task");
    assert_eq!(visit.status, StatusCode::OK);
    assert!(
        visit.page.contains("You can close this window"),
        "{}",
        visit.page
    );
    assert_eq!(token.header_value(), "Bearer at-2");

    // The authorization request carried everything.
    let authorize = &server.authorizations()[0];
    assert_eq!(field(authorize, "response_type"), Some("code"));
    assert_eq!(field(authorize, "client_id"), Some("cli"));
    assert_eq!(field(authorize, "scope"), Some("openid profile"));
    assert_eq!(field(authorize, "code_challenge_method"), Some("S256"));
    assert_eq!(field(authorize, "prompt"), Some("consent"));
    assert_eq!(field(authorize, "access_type"), Some("offline"));
    assert_eq!(
        field(authorize, "audience"),
        Some("https://api.example.com")
    );
    assert_eq!(field(authorize, "login_hint"), Some("alice@example.com"));
    let redirect_uri = field(authorize, "redirect_uri").expect("redirect_uri");
    assert!(redirect_uri.starts_with("http://127.0.0.1:") && !redirect_uri.contains(":0/"));
    assert!(field(authorize, "state").is_some_and(|s| s.len() >= 16));

    // The exchange repeated the exact redirect URI and sent the verifier, and no secret.
    let exchange = server.last_request();
    assert_eq!(
        exchange.field_names(),
        [
            "grant_type",
            "code",
            "redirect_uri",
            "code_verifier",
            "client_id"
        ]
    );
    assert_eq!(exchange.field("redirect_uri"), Some(redirect_uri));
    assert!(exchange.headers.get("authorization").is_none());

    // The refresh token is in the store; the first token is handed out without a fetch.
    let first_refresh = stored_refresh_token(&store).await;
    assert!(server.refresh_token_is_valid(&first_refresh));
    assert!(grant.fetch().await.expect("first token").same_as(&token));
    assert_eq!(server.fetches(), 1);

    // Then each fetch refreshes, and the rotated refresh token replaces the old one.
    let refreshed = grant.fetch().await.expect("refreshed");
    assert_ne!(refreshed.header_value(), token.header_value());
    assert_eq!(
        server.last_request().field("refresh_token"),
        Some(first_refresh.as_str())
    );
    let rotated = stored_refresh_token(&store).await;
    assert_ne!(rotated, first_refresh);
    assert!(server.refresh_token_is_valid(&rotated));
    assert!(!server.refresh_token_is_valid(&first_refresh));
}

#[tokio::test]
async fn the_layer_signs_in_even_after_a_failed_request_then_serves_and_refreshes() {
    let server = TokenServer::builder().start().await;
    let oauth = OAuth2Layer::authorization_code(
        server.token_url(),
        "client-id",
        server.authorize_url(),
        "http://127.0.0.1:0/cb",
    )
    .client_secret("client-secret")
    .scopes("api")
    .build()
    .expect("layer");
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let api = ServiceBuilder::new().layer(oauth.clone()).service(client);
    let call = |api: &_| {
        let api = Clone::clone(api);
        let request = Request::get(server.api_url())
            .body(Full::default())
            .expect("request");
        ServiceExt::oneshot(api, request)
    };

    // Before signing in there is nothing to refresh from: the request fails, saying so.
    let error = call(&api).await.expect_err("not signed in");
    assert!(error.to_string().contains("sign in"), "{error}");

    // Signing in through the layer puts the token in its cache at once (no backoff wait).
    let mut browser = None;
    oauth
        .login(open_in_browser(&mut browser), Duration::from_secs(10))
        .await
        .expect("signed in");
    browser.expect("opened").await.expect("browser task");
    let exchange = server.last_request();
    assert_eq!(
        exchange.basic.as_ref().map(|(id, _)| id.as_str()),
        Some("client-id")
    );
    assert!(exchange.field("client_secret").is_none());
    let response = call(&api).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.fetches(), 1, "the exchanged token served the call");

    // A 401 makes the layer refresh (the exchanged token is not handed out again).
    server.revoke_access_tokens();
    let response = call(&api).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.fetches(), 2);
    assert_eq!(
        server.last_request().field("grant_type"),
        Some("refresh_token")
    );
}

#[tokio::test]
async fn a_wrong_state_is_rejected_and_the_browser_is_told() {
    let server = TokenServer::builder().client("cli", None).start().await;
    let grant = public_grant(&server, Arc::new(MemoryTokenStore::new()));
    let listener = LoopbackListener::bind(grant.redirect_uri())
        .await
        .expect("bind");
    let request = grant
        .authorize_with_redirect_uri(listener.redirect_uri())
        .expect("request");
    let forged = format!("{}?code=stolen&state=forged", listener.redirect_uri());
    let browser = tokio::spawn(browse(forged));
    let err = listener
        .wait_for_callback(&request, Duration::from_secs(10))
        .await
        .expect_err("state mismatch");
    assert_eq!(err.kind(), ErrorKind::InvalidGrant);
    assert!(err.to_string().contains("`state` does not match"), "{err}");
    let visit = browser.await.expect("browser task");
    assert_eq!(visit.status, StatusCode::BAD_REQUEST);
    assert!(visit.page.contains("did not match"), "{}", visit.page);
    assert!(!visit.page.contains("stolen") && !visit.page.contains("forged"));
    assert_eq!(server.fetches(), 0, "no exchange was attempted");
}

#[tokio::test]
async fn an_error_redirect_is_the_providers_error() {
    let server = TokenServer::builder().client("cli", None).start().await;
    let grant = public_grant(&server, Arc::new(MemoryTokenStore::new()));
    let listener = LoopbackListener::bind(grant.redirect_uri())
        .await
        .expect("bind");
    let request = grant
        .authorize_with_redirect_uri(listener.redirect_uri())
        .expect("request");
    let denied = format!(
        "{}?error=access_denied&error_description=User+declined",
        listener.redirect_uri()
    );
    let browser = tokio::spawn(browse(denied));
    let err = listener
        .wait_for_callback(&request, Duration::from_secs(10))
        .await
        .expect_err("denied");
    assert_eq!(
        err.provider().map(|p| p.code.as_str()),
        Some("access_denied")
    );
    let visit = browser.await.expect("browser task");
    assert!(visit.page.contains("access_denied"), "{}", visit.page);
}

#[tokio::test]
async fn other_paths_get_404_and_the_listener_keeps_waiting_until_its_timeout() {
    let server = TokenServer::builder().client("cli", None).start().await;
    let grant = public_grant(&server, Arc::new(MemoryTokenStore::new()));
    let listener = LoopbackListener::bind(grant.redirect_uri())
        .await
        .expect("bind");
    let request = grant
        .authorize_with_redirect_uri(listener.redirect_uri())
        .expect("request");
    let mut favicon = listener.redirect_uri().clone();
    favicon.set_path("/favicon.ico");
    let browser = tokio::spawn(browse(favicon.to_string()));
    let err = listener
        .wait_for_callback(&request, Duration::from_millis(300))
        .await
        .expect_err("timeout");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(
        browser.await.expect("browser").status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn pkce_can_be_turned_off() {
    let server = TokenServer::builder().client("cli", None).start().await;
    let endpoint = TokenEndpoint::builder(server.token_url(), "cli")
        .build()
        .expect("endpoint");
    let grant =
        AuthorizationCode::builder(endpoint, server.authorize_url(), "http://127.0.0.1:0/cb")
            .pkce(false)
            .build()
            .expect("grant");
    let mut browser = None;
    grant
        .login(open_in_browser(&mut browser), Duration::from_secs(10))
        .await
        .expect("signed in");
    assert!(field(&server.authorizations()[0], "code_challenge").is_none());
    assert!(server.last_request().field("code_verifier").is_none());
}

#[tokio::test]
async fn only_the_port_of_a_loopback_redirect_uri_may_change() {
    let server = TokenServer::builder().client("cli", None).start().await;
    let grant = public_grant(&server, Arc::new(MemoryTokenStore::new()));
    let other_port = Url::parse("http://127.0.0.1:5555/callback").expect("url");
    assert!(grant.authorize_with_redirect_uri(&other_port).is_ok());
    for bad in [
        "http://127.0.0.1:5555/other",
        "http://evil.example.com/callback",
    ] {
        let err = grant
            .authorize_with_redirect_uri(&Url::parse(bad).expect("url"))
            .expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::Config);
    }
}

#[tokio::test]
async fn the_listener_refuses_non_loopback_or_https_redirect_uris() {
    for bad in ["http://example.com:8400/cb", "https://127.0.0.1:8400/cb"] {
        let err = LoopbackListener::bind(&Url::parse(bad).expect("url"))
            .await
            .expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("redirect_uri"), "{err}");
    }
}

#[tokio::test]
async fn without_a_sign_in_the_grant_says_so() {
    let server = TokenServer::builder().client("cli", None).start().await;
    let grant = public_grant(&server, Arc::new(MemoryTokenStore::new()));
    let err = grant.token().await.expect_err("not signed in");
    assert_eq!(err.kind(), ErrorKind::NotSignedIn);
    assert!(!err.is_transient());
    assert!(err.to_string().contains("sign in"), "{err}");
}

fn query_of(url: &Url) -> Vec<(String, String)> {
    url.query_pairs()
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect()
}

#[test]
fn extra_parameters_go_to_the_authorization_url_and_the_token_requests() {
    let endpoint = TokenEndpoint::builder("http://127.0.0.1:1/token", "cli")
        .build()
        .expect("endpoint");
    let grant = AuthorizationCode::builder(
        endpoint,
        "http://127.0.0.1:1/authorize",
        "http://127.0.0.1:0/callback",
    )
    .params(TokenParams::new().param("prompt", "consent"))
    .auth_param("login_hint", "alice@example.com")
    .build()
    .expect("grant");
    let request = grant.authorize();
    let query = query_of(request.url());
    assert_eq!(field(&query, "prompt"), Some("consent"));
    assert_eq!(field(&query, "login_hint"), Some("alice@example.com"));
    assert_eq!(query.iter().filter(|(n, _)| n == "prompt").count(), 1);
}

#[test]
fn parameters_that_override_the_grants_own_are_refused_by_name() {
    for name in AuthorizationCode::SET_BY_GRANT {
        let build = |layer: bool| {
            if layer {
                OAuth2Layer::authorization_code(
                    "http://127.0.0.1:1/token",
                    "cli",
                    "http://127.0.0.1:1/authorize",
                    "http://127.0.0.1:0/callback",
                )
                .auth_param(name, "mine")
                .build()
                .map(|_| ())
            } else {
                let endpoint = TokenEndpoint::builder("http://127.0.0.1:1/token", "cli")
                    .build()
                    .expect("endpoint");
                AuthorizationCode::builder(
                    endpoint,
                    "http://127.0.0.1:1/authorize",
                    "http://127.0.0.1:0/callback",
                )
                .auth_param(name, "mine")
                .build()
                .map(|_| ())
            }
        };
        for layer in [false, true] {
            let err = build(layer).expect_err(name);
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(
                err.detail()
                    .is_some_and(|d| d.starts_with(&format!("auth_params.{name}: "))),
                "{err}"
            );
        }
    }
    // An extra parameter lands in the URL too, so the grant's own names are refused there.
    let endpoint = TokenEndpoint::builder("http://127.0.0.1:1/token", "cli")
        .build()
        .expect("endpoint");
    let err = AuthorizationCode::builder(
        endpoint,
        "http://127.0.0.1:1/authorize",
        "http://127.0.0.1:0/callback",
    )
    .params(TokenParams::new().param("state", "fixed"))
    .build()
    .expect_err("state");
    assert!(
        err.detail()
            .is_some_and(|d| d.starts_with("params.state: ")),
        "{err}"
    );
}
